"""The members' data keys (node/personal.py): durable in keys.db and the backups' key store before
use, erased from both for good, and never two keys for one member.

Real SQLite files in a temporary folder; the sequencer tests run a real Sequencer on a real Store.
"""

from __future__ import annotations

import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from tallystick.ledger.errors import NameTakenError
from tallystick.node.personal import DataKeys, KeyStoreError
from tallystick.protocol.events import AdmitMember, RegisterEnterprise, ShareClass

from helpers.sequencer import running_node

alice, bob = b"a" * 32, b"b" * 32


def _keys_in(path: Path) -> dict[bytes, bytes]:
    with sqlite3.connect(path) as connection:
        return {bytes(subject): bytes(key) for subject, key in connection.execute("SELECT subject, key FROM data_keys")}


def test_a_key_is_in_both_copies_before_it_is_used_and_both_files_are_the_owners_alone(tmp_path: Path) -> None:
    keys = DataKeys(tmp_path / "keys.db", tmp_path / "backup.db")
    key = keys.create_now(alice)
    keys.close()
    for copy in (tmp_path / "keys.db", tmp_path / "backup.db"):
        assert _keys_in(copy) == {alice: key}
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600


def test_an_old_copy_put_back_after_an_erasure_does_not_bring_the_key_back(tmp_path: Path) -> None:
    keys = DataKeys(tmp_path / "keys.db", tmp_path / "backup.db")
    erased_key = keys.create_now(alice)
    kept = keys.create_now(bob)
    keys.close()
    shutil.copy(tmp_path / "keys.db", tmp_path / "old-keys.db")  # a copy someone made before the erasure
    keys = DataKeys(tmp_path / "keys.db", tmp_path / "backup.db")
    keys._erase(alice)
    keys.close()
    shutil.copy(tmp_path / "old-keys.db", tmp_path / "keys.db")  # ... and put back as the home's
    keys = DataKeys(tmp_path / "keys.db", tmp_path / "backup.db")
    assert keys.get(alice) is None and keys.get(bob) == kept
    keys.close()
    for copy in (tmp_path / "keys.db", tmp_path / "backup.db"):
        assert erased_key not in copy.read_bytes()


def test_an_erasure_that_fails_in_one_copy_is_refused_and_finished_at_the_next_open(tmp_path: Path) -> None:
    keys = DataKeys(tmp_path / "keys.db", tmp_path / "backup.db")
    key = keys.create_now(alice)
    keys._connections[1].close()  # the backup's disk goes away
    with pytest.raises(KeyStoreError, match="not from every key store"):
        keys._erase(alice)
    keys._connections[1] = sqlite3.connect(tmp_path / "backup.db")  # so that close() closes something
    keys.close()
    assert key in (tmp_path / "backup.db").read_bytes() and key not in (tmp_path / "keys.db").read_bytes()
    DataKeys(tmp_path / "keys.db", tmp_path / "backup.db").close()  # the disk is back: the tombstone wins
    assert key not in (tmp_path / "backup.db").read_bytes()


def test_two_copies_that_disagree_end_with_the_homes_key_in_both(tmp_path: Path) -> None:
    for name, key in (("keys.db", b"h" * 32), ("backup.db", b"x" * 32)):
        one = DataKeys(tmp_path / name, None)
        one._connections[0].execute("INSERT INTO data_keys VALUES (?, ?, 0)", (alice, key))
        one.close()
    keys = DataKeys(tmp_path / "keys.db", tmp_path / "backup.db")
    assert keys.get(alice) == b"h" * 32
    keys.close()
    assert _keys_in(tmp_path / "backup.db") == {alice: b"h" * 32}


def test_a_key_backup_in_a_folder_that_does_not_exist_is_one_typed_line(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="cannot open the key store .*make its folder exist"):
        DataKeys(tmp_path / "keys.db", tmp_path / "no-such-disk" / "backup.db")


async def test_an_enterprise_may_not_take_a_name_that_looks_like_a_members_committed_one(tmp_path: Path) -> None:
    async with running_node(tmp_path, debit_limit_minor=1000, credit_ceiling_minor=1000) as (
        _store, sequencer, _feed, members, act, _clock
    ):
        founder = ShareClass(name="Founders", kind="founder", votes_per_share=1, dividend_weight=1, par_minor=100,
                             withdrawable=False, transferable=True, holding_cap_units=None, local_only=False)
        with pytest.raises(NameTakenError):
            await act(members[1], RegisterEnterprise(name="M1", classes=(founder,)))  # m1 is a member
        await act(members[1], RegisterEnterprise(name="Bakery", classes=(founder,)))
        assert sequencer.directory.find(sequencer.state, "m1") == members[2].public


async def test_a_name_in_capitals_is_taken_by_the_same_name_in_lower_case(tmp_path: Path) -> None:
    """The ledger's look-alike key reads capital I as l before it folds case ("ALICE" -> "allce"); the
    node compares committed names case-folded first as well, so "ALICE" cannot join beside "Alice"."""
    async with running_node(tmp_path, debit_limit_minor=1000, credit_ceiling_minor=1000) as (
        _store, _sequencer, _feed, members, act, _clock
    ):
        await act(members[0], AdmitMember(member=b"\x51" * 32, name="Alice"))
        with pytest.raises(NameTakenError):
            await act(members[0], AdmitMember(member=b"\x52" * 32, name="ALICE"))
        await act(members[0], AdmitMember(member=b"\x53" * 32, name="Alicia"))
