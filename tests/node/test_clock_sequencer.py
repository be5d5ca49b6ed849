"""The sequencer and the clock: a real home, store and running Sequencer in the test's process, on
a wall clock and a boot clock the test sets.

A wall clock far ahead of every time the node has reason to believe (its last event, its peers'
latest, and in a run the clock it last trusted plus the boot clock's elapsed time) is refused with
`clock_ahead` and nothing is appended; a log whose last event is already far ahead (a jump that got
in before) does not block the community: events take the log's time on from the jump, proposals
with a voting period and votes are taken, and the decision falls due on the log's time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tallystick.ledger.decisions import closing_body, due_closures
from tallystick.ledger.digest import state_digest
from tallystick.node.errors import ClockAheadError
from tallystick.node.home import Home, init_home, read_key
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import Store
from tallystick.protocol import limits
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import AdmitMember, Checkpoint, ProposeWithPeriod, Vote
from tallystick.protocol.ids import KeyPair

from helpers.sequencer import directory_of

start_ms = 1_800_000_000_000
day_ms = 24 * 3600 * 1000
year_ms = 365 * day_ms


@dataclass
class Clocks:
    wall_ms: int
    boot_ms: int = 0

    def wall(self) -> int:
        return self.wall_ms

    def boot(self) -> int:
        return self.boot_ms

    def advance(self, elapsed_ms: int) -> None:
        """Real time passes: both clocks move."""
        self.wall_ms += elapsed_ms
        self.boot_ms += elapsed_ms


@dataclass
class Running:
    store: Store
    sequencer: Sequencer
    feed: bytes
    admin: KeyPair
    clocks: Clocks
    nonce: Any

    async def act(self, signer: KeyPair, action: Any) -> int:
        intent = sign_member_intent(signer, feed=self.feed, nonce=next(self.nonce), action=action)
        return (await self.sequencer.submit(intent)).seq


@contextlib.asynccontextmanager
async def running(tmp_path: Path, *, log_ms: int, wall_ms: int) -> AsyncIterator[Running]:
    """A home whose genesis carries `log_ms`, served with the wall clock at `wall_ms`."""
    await init_home(tmp_path / "home", name="Clocks", unit_code="HRS", unit_decimals=2, debit_limit_minor=1000,
                    credit_ceiling_minor=1000, now_ms=log_ms, checkpoint_interval_events=10)
    home = Home(tmp_path / "home")
    store = await Store.open(home.database_path)
    feed = await store.own_feed()
    assert feed is not None
    clocks = Clocks(wall_ms)
    sequencer = Sequencer(store, home.node_key(), await store.load_state(feed), await store.head(feed), directory=directory_of(home), clock_ms=clocks.wall,
                          elapsed_ms=clocks.boot)
    writer = asyncio.create_task(sequencer.run())
    try:
        yield Running(store, sequencer, feed, read_key(home.admin_key_path), clocks, iter(range(1, 10**6)))
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()


def newcomer(index: int) -> AdmitMember:
    return AdmitMember(member=bytes([index]) * 32, name=f"Newcomer {index}")


async def test_a_clock_far_ahead_of_the_last_event_is_refused_and_nothing_is_appended(tmp_path: Path) -> None:
    async with running(tmp_path, log_ms=start_ms, wall_ms=start_ms + 2 * year_ms) as node:
        head = node.sequencer.head
        with pytest.raises(ClockAheadError) as refused:
            await node.act(node.admin, newcomer(1))
        assert refused.value.code == "clock_ahead" and refused.value.http_status == 503
        assert len(refused.value.message.splitlines()) == 1 and "fix it" in refused.value.message
        assert node.sequencer.refusal is not None and node.sequencer.refusal.code == "clock_ahead"
        assert node.sequencer.head == head and await node.store.head(node.feed) == head


async def test_a_clock_within_the_skew_limit_of_the_last_event_appends(tmp_path: Path) -> None:
    wall_ms = start_ms + limits.clock_skew_max_ms
    async with running(tmp_path, log_ms=start_ms, wall_ms=wall_ms) as node:
        seq = await node.act(node.admin, newcomer(1))
        assert node.sequencer.refusal is None and node.sequencer.head.seq == seq
        assert node.sequencer.head.ts == wall_ms


async def test_a_peers_later_event_vouches_for_a_clock_ahead_of_our_own_log(tmp_path: Path) -> None:
    wall_ms = start_ms + 2 * year_ms
    async with running(tmp_path, log_ms=start_ms, wall_ms=wall_ms) as node:
        node.sequencer.peer_times.append(lambda: wall_ms - day_ms)
        await node.act(node.admin, newcomer(1))
        assert node.sequencer.head.ts == wall_ms


async def test_a_node_idle_for_months_in_one_run_still_appends(tmp_path: Path) -> None:
    async with running(tmp_path, log_ms=start_ms, wall_ms=start_ms) as node:
        await node.act(node.admin, newcomer(1))
        node.clocks.advance(3 * limits.clock_skew_max_ms)
        await node.act(node.admin, newcomer(2))
        assert node.sequencer.head.ts == start_ms + 3 * limits.clock_skew_max_ms


async def test_a_clock_that_jumps_ahead_during_a_run_is_refused_until_it_is_set_back(tmp_path: Path) -> None:
    async with running(tmp_path, log_ms=start_ms, wall_ms=start_ms) as node:
        await node.act(node.admin, newcomer(1))
        node.clocks.advance(3 * limits.clock_skew_max_ms)  # months idle: trusted, as above
        await node.act(node.admin, newcomer(2))
        head = node.sequencer.head
        node.clocks.wall_ms += limits.clock_jump_max_ms + limits.clock_skew_max_ms + 1  # the wall clock alone leaps
        with pytest.raises(ClockAheadError):
            await node.act(node.admin, newcomer(3))
        assert node.sequencer.head == head
        node.clocks.wall_ms -= limits.clock_jump_max_ms + limits.clock_skew_max_ms + 1  # the operator fixed it
        await node.act(node.admin, newcomer(3))
        assert node.sequencer.refusal is None


async def test_a_jump_already_in_the_log_does_not_block_proposals_votes_or_closes(tmp_path: Path) -> None:
    jumped_ms = start_ms + 2 * year_ms
    async with running(tmp_path, log_ms=jumped_ms, wall_ms=start_ms) as node:
        bea = KeyPair(b"\x0b" * 32)
        await node.act(node.admin, AdmitMember(member=bea.public, name="Bea"))
        assert node.sequencer.head.ts >= jumped_ms  # never before the last event
        decision = await node.act(bea, ProposeWithPeriod("proposal", "Picnic", "", 0, voting_period_ms=day_ms))
        await node.act(node.admin, Vote(decision=decision, position="agree"))
        opened_ms = node.sequencer.state.decisions[decision].opened_ms
        assert node.sequencer.state.decisions[decision].deadline_ms == opened_ms + day_ms
        node.clocks.advance(day_ms)  # a day of real time: the log's time moves a day on from the jump
        assert node.sequencer.now_ms() >= opened_ms + day_ms
        due = due_closures(node.sequencer.state, node.sequencer.now_ms())
        assert due == [decision]
        await node.sequencer.append_body(lambda state: closing_body(state, decision))
        assert node.sequencer.state.decisions[decision].outcome == "passed"


async def test_a_close_no_longer_due_appends_nothing(tmp_path: Path) -> None:
    async with running(tmp_path, log_ms=start_ms, wall_ms=start_ms) as node:
        decision = await node.act(node.admin, ProposeWithPeriod("proposal", "Later", "", 0, voting_period_ms=day_ms))
        head = node.sequencer.head
        assert await node.sequencer.append_body(lambda state: closing_body(state, decision)) is None
        assert node.sequencer.head == head and node.sequencer.state.decisions[decision].is_open


async def test_a_node_body_asked_while_the_clock_is_ahead_appends_nothing_and_raises_nothing(tmp_path: Path) -> None:
    async with running(tmp_path, log_ms=start_ms, wall_ms=start_ms + 2 * year_ms) as node:
        head = node.sequencer.head
        assert await node.sequencer.append_body(lambda state: Checkpoint(state_hash=state_digest(state))) is None
        assert node.sequencer.head == head and await node.store.head(node.feed) == head
