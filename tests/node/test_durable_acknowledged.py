"""The acknowledged-head record beside the database (node/store.py): what `Store.open` makes of it
and how commits keep it. Real homes (`init_home`), a real SQLite file and the real store; the
attacks on a running `tally serve` are in tests/integration/test_durable_start.py and
tests/replication/test_restore_lost_tail.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tallystick.node.home import Home, init_home, read_key
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import (
    AcknowledgedLostError,
    Store,
    acknowledged_slot_bytes,
    read_acknowledged,
    write_acknowledged,
)
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import AdmitMember

from helpers.sequencer import Clock, directory_of, start_ms


async def new_home(tmp_path: Path) -> Home:
    await init_home(tmp_path / "home", name="T", unit_code="HRS", unit_decimals=2, debit_limit_minor=10,
                    credit_ceiling_minor=10, now_ms=start_ms)
    return Home(tmp_path / "home")


async def admit_members(home: Home, count: int) -> tuple[bytes, int, bytes]:
    """Admit `count` members, one commit each, through the real sequencer; the head it reached."""
    store = await Store.open(home.database_path)
    try:
        feed = await store.own_feed()
        assert feed is not None
        sequencer = Sequencer(store, home.node_key(), await store.load_state(feed), await store.head(feed), directory=directory_of(home), clock_ms=Clock())
        admin = read_key(home.admin_key_path)
        writer = asyncio.create_task(sequencer.run())
        try:
            for number in range(count):
                action = AdmitMember(member=bytes([number + 1]) * 32, name=f"member {number}")
                await sequencer.submit(sign_member_intent(admin, feed=feed, nonce=start_ms + number, action=action))
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        return sequencer.head.feed, sequencer.head.seq, sequencer.head.head
    finally:
        await store.close()


async def test_init_writes_the_record_and_each_commit_of_own_events_brings_it_to_the_head(tmp_path: Path) -> None:
    home = await new_home(tmp_path)
    record = read_acknowledged(home.database_path)
    assert record is not None and record[1] == 1
    head = await admit_members(home, 3)
    assert read_acknowledged(home.database_path) == head


async def test_a_torn_slot_leaves_the_other_slot_as_the_record_which_is_behind_and_so_brought_up_at_open(
    tmp_path: Path,
) -> None:
    home = await new_home(tmp_path)
    head = await admit_members(home, 2)
    path = home.acknowledged_path
    raw = bytearray(path.read_bytes())
    newest = 0 if b'"seq":%d' % head[1] in raw[:acknowledged_slot_bytes] else 1
    raw[newest * acknowledged_slot_bytes + 20] ^= 0x01  # the newest slot, torn by a crash
    path.write_bytes(bytes(raw))
    behind = read_acknowledged(home.database_path)
    assert behind is not None and behind[1] == head[1] - 1

    store = await Store.open(home.database_path)
    await store.close()

    assert read_acknowledged(home.database_path) == head


async def test_a_record_with_no_whole_slot_is_refused_as_damaged(tmp_path: Path) -> None:
    home = await new_home(tmp_path)
    home.acknowledged_path.write_bytes(b" " * (2 * acknowledged_slot_bytes))
    with pytest.raises(AcknowledgedLostError, match="damaged"):
        await Store.open(home.database_path)


async def test_a_database_behind_the_record_is_refused_in_check_mode_too_and_check_mode_never_writes(
    tmp_path: Path,
) -> None:
    home = await new_home(tmp_path)
    feed, seq, head = await admit_members(home, 1)
    write_acknowledged(home.database_path, feed, seq + 5, head)
    before = home.acknowledged_path.read_bytes()
    for mode in ("keep", "check"):
        with pytest.raises(AcknowledgedLostError, match=f"acknowledged up to seq {seq + 5}"):
            await Store.open(home.database_path, acknowledged=mode)  # type: ignore[arg-type]
    assert home.acknowledged_path.read_bytes() == before
    home.acknowledged_path.unlink()
    store = await Store.open(home.database_path, acknowledged="check")
    await store.close()
    assert not home.acknowledged_path.exists()
