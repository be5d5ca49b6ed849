"""A community that admits members only by decision, and decisions closed without waiting for them,
for the tests of join requests and the admin's wallet screen.

How this works: the rules change only by a passed `set_rules` decision, whose floor keeps it open
72 hours, and an admission by decision stays open 24 hours; a test cannot wait that long on a real
clock. So the log is written where its times are the test's to choose, as tests/integration/
test_clock_http.py does: `home_admitting_by_decision` makes a home whose genesis is five days old
and, in this process, runs its Sequencer on a clock the test sets: the admin proposes
`set_rules(admission = "decision")`, agrees, and the close is appended after the voting period.
`close_decision` does the same later for a decision proposed on the running node: stop it, append
the close at a time after its deadline (the log then runs ahead of the machine's clock, which a
node accepts), start it again on the same port. Nothing is faked in the node that serves: it is
`tally serve` on the machine's clock, reading a log of real signed events.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tallystick.ledger.decisions import closing_body
from tallystick.node.home import Home, NodeConfig, init_home
from tallystick.node.personal import DataKeys, Directory
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import Store
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import ProposeWithPeriod, SetRules, Vote
from tallystick.protocol.ids import KeyPair

from helpers.nodes import NodeProcess
from helpers.support import free_port, next_nonce

hour_ms = 3600 * 1000
rules_period_ms = 73 * hour_ms  # above the rules class's floor of 72 hours


class SetClock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        self.now_ms += 1
        return self.now_ms


def _run_value(coroutine):  # type: ignore[no-untyped-def]
    """asyncio.run in a thread of its own: Playwright's sync API keeps a loop running in the test's."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _run(coroutine) -> None:  # type: ignore[no-untyped-def]
    _run_value(coroutine)


async def _with_sequencer(home: Home, clock: SetClock, work) -> None:  # type: ignore[no-untyped-def]
    store = await Store.open(home.database_path)
    keys = DataKeys(home.keys_path, None)
    try:
        feed = await store.own_feed()
        assert feed is not None
        directory = Directory(keys)
        directory.learn_rows(await store.sealed_events(feed))
        sequencer = Sequencer(store, home.node_key(), await store.load_state(feed), await store.head(feed), clock,
                              directory=directory)
        writer = asyncio.create_task(sequencer.run())
        try:
            await work(sequencer, feed)
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
    finally:
        await store.close()
        keys.close()


def home_admitting_by_decision(directory: Path) -> NodeProcess:
    """A community (unit HRS, 2 decimals, default debit limit 50.00) whose passed decision made
    admission `decision`, served by `tally serve`."""
    home_path = directory / "home"
    port = free_port()
    start_ms = time.time_ns() // 1_000_000 - 5 * 24 * hour_ms
    created = _run_value(init_home(
        home_path, name="Deciders", unit_code="HRS", unit_decimals=2, debit_limit_minor=50_00,
        credit_ceiling_minor=1000_00, now_ms=start_ms,
        config=NodeConfig(listen_host="127.0.0.1", listen_port=port, checkpoint_idle_ms=10**9),
    ))
    home = Home(home_path)
    admin = KeyPair.from_text(home.admin_key_path.read_text())
    clock = SetClock(start_ms)

    async def decide(sequencer: Sequencer, feed: bytes) -> None:
        proposed = await sequencer.submit(sign_member_intent(admin, feed=feed, nonce=next_nonce(), action=(
            ProposeWithPeriod("proposal", "Admit by decision", "", 0, voting_period_ms=rules_period_ms,
                              effect=SetRules(admission="decision", quorum_bp=5000, threshold_bp=6667)))))
        await sequencer.submit(sign_member_intent(admin, feed=feed, nonce=next_nonce(),
                                                  action=Vote(decision=proposed.seq, position="agree")))
        clock.now_ms += rules_period_ms + 1000
        await sequencer.append_body(lambda state: closing_body(state, proposed.seq))
        assert sequencer.state.rules.admission == "decision"

    _run(_with_sequencer(home, clock, decide))
    node = NodeProcess(home=home_path, port=port, log_path=directory / "serve.log",
                       created={"node": created.node, "admin": created.admin})
    return node.start()


def close_decision(node: NodeProcess, decision: int, deadline_ms: int) -> None:
    """Stop the node, append the close of `decision` just after `deadline_ms`, and start it again."""
    assert node.stop() == 0, node.output()
    clock = SetClock(deadline_ms + 1000)

    async def close(sequencer: Sequencer, feed: bytes) -> None:
        await sequencer.append_body(lambda state: closing_body(state, decision))
        assert not sequencer.state.decisions[decision].is_open

    _run(_with_sequencer(Home(node.home), clock, close))
    node.start()
