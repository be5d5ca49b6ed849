"""A real home, store and running Sequencer in the test's process, with a clock the test moves:
for tests of what the sequencer appends and the store projects (decisions, shares).

How this works: `running_node` makes a home with `init_home`, opens its store, starts the
sequencer's writer task on a `Clock` that ticks one millisecond per event, admits four members
(keys from fixed seeds) with the admin's signed intents, and yields what the tests use; the writer
is stopped and the store closed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from tallystick.node.home import Home, init_home, read_key
from tallystick.node.personal import DataKeys, Directory
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import Store
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import AdmitMember
from tallystick.protocol.ids import KeyPair

start_ms = 1_700_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        self.now_ms += 1
        return self.now_ms


Act = Callable[[KeyPair, Any], Awaitable[int]]


def directory_of(home: Home) -> Directory:
    """The home's data keys and what they open, as `tally serve` makes them (node/personal.py):
    what a Sequencer needs to take intents with names and memos."""
    return Directory(DataKeys(home.keys_path, None))


@contextlib.asynccontextmanager
async def running_node(
    tmp_path: Path, *, debit_limit_minor: int, credit_ceiling_minor: int
) -> AsyncIterator[tuple[Store, Sequencer, bytes, list[KeyPair], Act, Clock]]:
    """(store, sequencer, feed, [admin, m0 … m3], act, clock); `act(signer, action)` returns the seq."""
    home_path = tmp_path / "home"
    await init_home(
        home_path, name="Test", unit_code="HRS", unit_decimals=2, debit_limit_minor=debit_limit_minor,
        credit_ceiling_minor=credit_ceiling_minor, now_ms=start_ms, checkpoint_interval_events=10,
    )
    home = Home(home_path)
    store = await Store.open(home.database_path)
    feed = await store.own_feed()
    assert feed is not None
    clock = Clock()
    directory = directory_of(home)
    directory.learn_rows(await store.sealed_events(feed))
    sequencer = Sequencer(store, home.node_key(), await store.load_state(feed), await store.head(feed), clock,
                          directory=directory)
    writer = asyncio.create_task(sequencer.run())
    admin = read_key(home.admin_key_path)
    members = [admin] + [KeyPair(bytes([index + 1]) * 32) for index in range(4)]
    nonce = iter(range(1, 1_000_000))

    async def act(signer: KeyPair, action: Any) -> int:
        return (await sequencer.submit(sign_member_intent(signer, feed=feed, nonce=next(nonce), action=action))).seq

    try:
        for index, member in enumerate(members[1:]):
            await act(admin, AdmitMember(member=member.public, name=f"m{index}"))
        yield store, sequencer, feed, members, act, clock
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()
