"""`tally verify` catches one flipped byte anywhere in a stored event, and names the event.

The module builds one home through a real node (admissions and payments), stops it, and each test
edits a copy of it the way an attacker with the file would: drop the triggers that keep the log
append-only, then rewrite one event's bytes.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from helpers.support import tally


@pytest.fixture(scope="module")
def stopped_home(make_node: Any) -> Path:
    node = make_node()
    alice, bob = node.admit("alice"), node.admit("bob")
    for amount in (100, 250, 75):
        node.pay(alice, bob, amount, memo="tamper fixture")
    node.pay(bob, alice, 30)
    assert node.stop() == 0
    return node.home


def last_seq(home: Path) -> int:
    with contextlib.closing(sqlite3.connect(home / "tally.db")) as database:  # closed now, not when collected
        return database.execute("SELECT max(seq) FROM log").fetchone()[0]


def copy_home(home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    return copy


def flip_one_byte(home: Path, seq: int, offset: int | None = None) -> None:
    database = sqlite3.connect(home / "tally.db")
    try:
        database.execute("DROP TRIGGER IF EXISTS log_is_append_only_update")
        (stored,) = database.execute("SELECT bytes FROM log WHERE seq = ?", (seq,)).fetchone()
        altered = bytearray(stored)
        altered[len(altered) // 2 if offset is None else offset] ^= 0x01
        changed = database.execute("UPDATE log SET bytes = ? WHERE seq = ?", (bytes(altered), seq)).rowcount
        database.commit()
        assert changed == 1
    finally:
        database.close()


def test_an_untouched_home_verifies(stopped_home: Path, tmp_path: Path) -> None:
    done = tally("verify", copy_home(stopped_home, tmp_path))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("where", ["genesis", "middle", "last"])
def test_one_flipped_byte_in_a_stored_event_fails_verify_naming_its_seq(
    stopped_home: Path, tmp_path: Path, where: str
) -> None:
    home = copy_home(stopped_home, tmp_path)
    seq = {"genesis": 1, "middle": last_seq(home) // 2 + 1, "last": last_seq(home)}[where]
    flip_one_byte(home, seq)
    done = tally("verify", home)
    assert done.returncode != 0, done.stdout
    assert f"event {seq} " in done.stderr, done.stderr


def test_one_flipped_signature_byte_of_the_last_event_fails_verify_naming_its_seq(
    stopped_home: Path, tmp_path: Path
) -> None:
    home = copy_home(stopped_home, tmp_path)
    seq = last_seq(home)
    flip_one_byte(home, seq, offset=-1)
    done = tally("verify", home, "--json")
    assert done.returncode != 0
    assert f"event {seq} " in done.stderr, done.stderr


@pytest.mark.parametrize("where", ["genesis", "middle"])
def test_verify_names_a_tampered_event_in_one_plain_line(
    stopped_home: Path, tmp_path: Path, where: str
) -> None:
    home = copy_home(stopped_home, tmp_path)
    seq = {"genesis": 1, "middle": last_seq(home) // 2 + 1}[where]
    flip_one_byte(home, seq)
    done = tally("verify", home, "--json")  # no progress bar on stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].count("fails verification") == 1, lines[0]
