"""`tally key rotate`: the recovery key moves the feed to a new signing key, and the old one is dead.

The module's node is built, then rotated once with the node stopped (after a first test checks that
a rotation beside the running node is refused), restarted, paid through, and stopped again; the
remaining tests look at the rotated home.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tallystick.node.home import write_key
from tallystick.protocol.codec import event_hash, sign_event
from tallystick.protocol.errors import BadSignatureError
from tallystick.protocol.events import Checkpoint, Transfer
from tallystick.protocol.feed import FeedHead, start_feed, verify_next
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from helpers.nodes import NodeProcess
from helpers.support import key_from_file, tally


def key_files(home: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(home.iterdir()) if "key" in path.name}


def stored_log(home: Path) -> list[tuple[int, bytes]]:
    # Closed at once (sqlite3's own `with` only commits): a connection left to the garbage collector
    # removes the WAL file whenever it is collected, even while a test copies the home.
    with contextlib.closing(sqlite3.connect(home / "tally.db")) as database:
        return database.execute("SELECT seq, bytes FROM log ORDER BY seq").fetchall()


def feed_head(home: Path) -> FeedHead:
    """The head of the stored feed, every event checked with the protocol's own verifier."""
    (_, genesis), *rest = stored_log(home)
    head, _ = start_feed(genesis)
    for _, event_bytes in rest:
        head, _ = verify_next(head, event_bytes)
    return head


def next_event_signed_by(key: KeyPair, head: FeedHead) -> bytes:
    return sign_event(
        key,
        feed=head.feed,
        seq=head.seq + 1,
        prev=head.head,
        ts=head.ts,
        body=Checkpoint(state_hash=bytes(32)),
    )


@dataclass
class Rotation:
    node: NodeProcess
    node_id: str
    seq_before: int
    old_node_key: KeyPair
    old_recovery_key_file: Path
    rotated: dict[str, Any]


@pytest.fixture(scope="module")
def running(make_node: Any) -> NodeProcess:
    node = make_node()
    alice, bob = node.admit("alice"), node.admit("bob")
    node.pay(alice, bob, 500, memo="before the rotation")
    return node


@pytest.fixture(scope="module")
def rotation(running: NodeProcess, tmp_path_factory: pytest.TempPathFactory) -> Rotation:
    node = running
    status = node.get("/api/status")
    old_recovery_key_file = tmp_path_factory.mktemp("offline") / "old-recovery.key"
    shutil.copy(node.home / "recovery.key", old_recovery_key_file)
    old_node_key = key_from_file(node.home / "node.key")
    assert node.stop() == 0
    done = tally("key", "rotate", node.home, "--recovery", node.home / "recovery.key", "--json")
    assert done.returncode == 0, done.stderr
    node.start()
    return Rotation(
        node, status["node"], status["seq"], old_node_key, old_recovery_key_file, json.loads(done.stdout)
    )


def pay_alice(node: NodeProcess, payer: KeyPair, amount_minor: int) -> dict[str, Any]:
    alice = id_from_text("m", node.get("/api/members/alice")["id"])
    return node.act(payer, Transfer(to=alice, amount_minor=amount_minor, memo="after the rotation"))


@pytest.fixture(scope="module")
def stopped(rotation: Rotation) -> Path:
    """The rotated home with events signed by the new key after the rotation; the node stopped cleanly."""
    node = rotation.node
    pay_alice(node, node.admit("dave"), 40)
    assert node.stop() == 0
    return node.home


def test_rotate_while_the_node_runs_is_refused_as_node_running_and_changes_nothing(
    running: NodeProcess,
) -> None:
    before_keys, before_state = key_files(running.home), running.snapshot()
    done = tally("key", "rotate", running.home, "--recovery", running.home / "recovery.key")
    assert done.returncode != 0
    assert len(done.stderr.splitlines()) == 1 and "node_running" in done.stderr, done.stderr
    assert key_files(running.home) == before_keys
    assert running.snapshot() == before_state


def test_node_keeps_its_id_after_a_key_rotation(rotation: Rotation) -> None:
    status = rotation.node.get("/api/status")
    assert status["node"] == rotation.node_id
    assert rotation.rotated["seq"] == rotation.seq_before + 1
    event = rotation.node.get(f"/api/log?from={rotation.rotated['seq']}&limit=1")["events"][0]
    assert event["body"]["kind"] == "key_rotated"
    assert event["body"]["signing_key"] == rotation.rotated["signing_key"]


def test_rotation_replaces_the_node_key_and_the_recovery_key_with_private_files(rotation: Rotation) -> None:
    home = rotation.node.home
    new_node_key = key_from_file(home / "node.key")
    assert new_node_key.public != rotation.old_node_key.public
    assert rotation.rotated["signing_key"] == id_to_text("k", new_node_key.public)
    assert (home / "recovery.key").read_bytes() != rotation.old_recovery_key_file.read_bytes()
    for name in ("node.key", "recovery.key"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
    assert not list(home.glob("*.new"))


def test_node_accepts_payments_after_a_key_rotation(rotation: Rotation) -> None:
    node = rotation.node
    carol = node.admit("carol")  # admitted (by the admin) and paying after the rotation
    before = node.get("/api/status")["seq"]
    alice_balance = node.get("/api/balances?account=alice")[0]["balance"]
    appended = pay_alice(node, carol, 25)
    assert appended["seq"] == before + 1
    assert node.get("/api/balances?account=alice")[0]["balance"] == alice_balance + 25


def test_verify_passes_across_a_key_rotation(rotation: Rotation, stopped: Path) -> None:
    done = tally("verify", stopped, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_an_event_signed_with_the_old_node_key_after_the_rotation_does_not_verify(
    rotation: Rotation, stopped: Path
) -> None:
    head = feed_head(stopped)
    assert head.seq > rotation.rotated["seq"]
    with pytest.raises(BadSignatureError):
        verify_next(head, next_event_signed_by(rotation.old_node_key, head))
    new_head, _ = verify_next(head, next_event_signed_by(key_from_file(stopped / "node.key"), head))
    assert new_head.seq == head.seq + 1


def test_a_log_extended_by_the_old_node_key_fails_tally_verify_naming_the_event(
    rotation: Rotation, stopped: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(stopped, home)
    head = feed_head(home)
    forged = next_event_signed_by(rotation.old_node_key, head)
    with contextlib.closing(sqlite3.connect(home / "tally.db")) as database, database:
        database.execute(
            "INSERT INTO log (feed, seq, hash, ts, kind, bytes) VALUES (?, ?, ?, ?, ?, ?)",
            (head.feed, head.seq + 1, event_hash(forged), head.ts, "checkpoint", forged),
        )
    done = tally("verify", home, "--json")
    assert done.returncode != 0
    assert f"event {head.seq + 1} " in done.stderr, done.stderr


def test_rotating_again_with_the_old_recovery_key_is_refused_and_changes_nothing(
    rotation: Rotation, stopped: Path
) -> None:
    before_keys, before_log = key_files(stopped), stored_log(stopped)
    done = tally("key", "rotate", stopped, "--recovery", rotation.old_recovery_key_file)
    assert done.returncode != 0
    assert len(done.stderr.splitlines()) == 1 and "wrong_recovery_key" in done.stderr, done.stderr
    assert key_files(stopped) == before_keys
    assert stored_log(stopped) == before_log


def test_rotating_again_with_the_new_recovery_key_succeeds_and_verifies(
    stopped: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(stopped, home)
    done = tally("key", "rotate", home, "--recovery", home / "recovery.key")
    assert done.returncode == 0, done.stderr
    done = tally("verify", home, "--json")
    assert done.returncode == 0, done.stderr


# ---- a rotation interrupted by a crash ----------------------------------------------------------------


def put_back_as_a_crash_leaves_it(home: Path, old: dict[str, bytes], *, node_key_renamed: bool) -> None:
    """After a real, complete rotation, undo its renames the way a crash after the commit leaves
    them: the new keys back in their staged files (node.new, recovery.key.new), the old ones back
    in place; with `node_key_renamed`, the crash fell between the two renames (node.key is new)."""
    (home / "recovery.key").rename(home / "recovery.key.new")
    (home / "recovery.key").write_bytes(old["recovery.key"])
    (home / "recovery.key").chmod(0o600)
    if not node_key_renamed:
        (home / "node.key").rename(home / "node.new")
        (home / "node.key").write_bytes(old["node.key"])
        (home / "node.key").chmod(0o600)


@pytest.mark.parametrize("node_key_renamed", [True, False], ids=["between-the-renames", "before-the-renames"])
def test_tally_serve_finishes_a_rotation_interrupted_after_its_commit_and_the_node_signs_with_the_new_key(
    make_node: Any, node_key_renamed: bool
) -> None:
    node = make_node()
    alice, bob = node.admit("alice"), node.admit("bob")
    assert node.stop() == 0
    old = key_files(node.home)
    done = tally("key", "rotate", node.home, "--recovery", node.home / "recovery.key", "--json")
    assert done.returncode == 0, done.stderr
    rotated = json.loads(done.stdout)
    new = key_files(node.home)
    put_back_as_a_crash_leaves_it(node.home, old, node_key_renamed=node_key_renamed)
    assert (node.home / "recovery.key").read_bytes() == old["recovery.key"]

    node.start()

    assert key_files(node.home) == new  # both renames done, nothing staged left
    assert node.get("/api/status")["seq"] == rotated["seq"]
    appended = node.pay(alice, bob, 125, memo="after the finished rotation")
    assert appended["seq"] == rotated["seq"] + 1
    assert node.stop() == 0
    head = feed_head(node.home)  # every event checked, the payment's by the new node key
    assert head.seq == appended["seq"]
    assert id_to_text("k", head.signing_key) == rotated["signing_key"]
    # recovery.key is the live recovery key: it rotates again.
    again = tally("key", "rotate", node.home, "--recovery", node.home / "recovery.key")
    assert again.returncode == 0, again.stderr


def test_staged_keys_of_a_rotation_that_never_committed_are_left_alone_and_the_old_keys_stay(
    make_node: Any,
) -> None:
    node = make_node()
    assert node.stop() == 0
    before = key_files(node.home)
    # What a crash before the commit leaves: staged keys the log does not name, one cut short.
    write_key(node.home / "node.new", KeyPair.generate())
    (node.home / "recovery.key.new").write_text("s_cut")
    node.start()
    assert {name: key_files(node.home)[name] for name in before} == before
    alice = node.admit("alice")  # the node signs with the old, still current, key
    assert node.get("/api/members/alice")["id"] == id_to_text("m", alice.public)
    assert node.stop() == 0
    done = tally("key", "rotate", node.home, "--recovery", node.home / "recovery.key")
    assert done.returncode == 0, done.stderr
    assert not list(node.home.glob("*.new"))
