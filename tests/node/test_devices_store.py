"""An account's further keys through a real Sequencer on a real Store (node/store.py): the store
projects them in its `member_keys` table as they are added, removed and replaced, so a restarted
node loads the same keys and digest, a rebuild from the log writes the same rows, and an account
with one key has no row (every home written before devices reads as it did)."""

from __future__ import annotations

from pathlib import Path

from tallystick.ledger.digest import state_digest
from tallystick.node.replay import rebuild
from tallystick.protocol.events import AddKey, RebindKey, RemoveKey, Transfer
from tallystick.protocol.ids import KeyPair

from helpers.sequencer import running_node

rows_query = "SELECT member, keys FROM member_keys WHERE feed = ? ORDER BY member"


async def test_an_accounts_keys_survive_a_restart_and_a_rebuild(tmp_path: Path) -> None:
    async with running_node(tmp_path, debit_limit_minor=10_000, credit_ceiling_minor=50_000) as (
            store, sequencer, feed, members, act, _clock):
        phone, laptop, tablet = members[1], KeyPair(b"l" * 32), KeyPair(b"t" * 32)
        await act(phone, AddKey(key=laptop.public))
        await act(laptop, AddKey(key=tablet.public))
        await act(tablet, RemoveKey(key=phone.public))
        await act(tablet, Transfer(to=members[2].public, amount_minor=100))
        other_old, other_new = members[2], KeyPair(b"n" * 32)
        await act(other_old, AddKey(key=KeyPair(b"o" * 32).public))
        await act(other_old, RebindKey(new_key=other_new.public))  # back to one key: its row goes
        state = sequencer.state
        assert state.members[phone.public].current_keys == (laptop.public, tablet.public)
        loaded = await store.load_state(feed)
        assert loaded is not None
        assert loaded.members == state.members and dict(loaded.keys.items()) == dict(state.keys.items())
        assert state_digest(loaded) == state_digest(state)
        rows = await store.query(rows_query, (feed,), 10)
        assert [member for member, _ in rows] == [phone.public]
        await rebuild(store, feed)
        assert await store.query(rows_query, (feed,), 10) == rows
        rebuilt = await store.load_state(feed)
        assert rebuilt is not None and state_digest(rebuilt) == state_digest(state)


async def test_an_account_with_one_key_writes_no_member_keys_row(tmp_path: Path) -> None:
    async with running_node(tmp_path, debit_limit_minor=10_000, credit_ceiling_minor=50_000) as (
            store, _sequencer, feed, members, act, _clock):
        laptop = KeyPair(b"l" * 32)
        await act(members[1], AddKey(key=laptop.public))
        await act(laptop, RemoveKey(key=laptop.public))
        assert await store.query(rows_query, (feed,), 10) == []
        loaded = await store.load_state(feed)
        assert loaded is not None and loaded.members[members[1].public].devices == ()
        assert loaded.keys[laptop.public] == members[1].public  # retired, and bound for good
