"""Backups of a town with one node: `tally backup` while the node runs, and a snapshot that
`tally serve` refuses until `tally resume` shows nothing newer exists, so starting an old copy can
never fork the feed where a newer copy survives.

The module's fixture is a town: its node (the original) and a replica, a second node run with
`--peer ORIGINAL`, which holds every event of the original's feed within seconds (docs/operator.md
§5.4). The original takes members and payments, is snapshotted while a member keeps paying, takes
more payments, and then its disk is lost (SIGKILL, home deleted). Real processes on loopback.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tallystick.protocol.ids import id_to_text

from helpers.nodes import NodeProcess, init_home
from helpers.support import free_port, key_from_file, tally

replica_catch_up_seconds = 30.0


def tally_json_of(*args: str | Path) -> Any:
    done = tally(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def one_line_mistake(done: subprocess.CompletedProcess[str]) -> str:
    """The one line on stderr of a command that refused what it was given (exit 2, no traceback)."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def hash_at(database: Path, seq: int) -> str:
    """The text id of the hash of the own feed's event at `seq`, read from the log itself."""
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        [[value]] = connection.execute(
            "SELECT hash FROM log WHERE feed = (SELECT value FROM meta WHERE key = 'own_feed') AND seq = ?", (seq,))
    finally:
        connection.close()
    return id_to_text("h", bytes(value))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(predicate: Any, what: str, timeout_seconds: float = replica_catch_up_seconds) -> Any:
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_seconds} s"
        time.sleep(0.1)


def make_process(home: Path, peers: list[str] | None = None) -> NodeProcess:
    port = json.loads((home / "config.json").read_text())["listen_port"]
    return NodeProcess(home=home, port=port, peers=peers or [], log_path=home.parent / f"{home.name}.log")


@dataclass
class Town:
    original: NodeProcess
    replica: NodeProcess
    snapshot_folder: Path
    snapshot: dict[str, Any]
    feed: str
    seq_at_loss: int
    head_at_loss: str
    balances_at_loss: Any
    members: tuple[Any, Any]
    source_folder: Path


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("town")
    init_home(root / "riverside")
    init_home(root / "replica")
    # Linked both ways: a node serves its feed only to nodes whose feed it holds (federation.md §2.2).
    replica_port = json.loads((root / "replica" / "config.json").read_text())["listen_port"]
    original = make_process(root / "riverside", peers=[f"http://127.0.0.1:{replica_port}"]).start()
    replica = make_process(root / "replica", peers=[original.url]).start()
    nodes = [original, replica]
    try:
        alice, bob = original.admit("Alice"), original.admit("Bob")
        original.pay(alice, bob, 5_00)
        # A member keeps paying while the backup runs: the copy is one committed state all the same.
        stop = threading.Event()

        def keep_paying() -> None:
            while not stop.is_set():
                original.pay(bob, alice, 1)

        payer = threading.Thread(target=keep_paying)
        payer.start()
        try:
            snapshot = tally_json_of("backup", original.home, root / "backups" / "riverside-1")
        finally:
            stop.set()
            payer.join()
        for amount in (1_00, 2_00, 3_00):
            original.pay(alice, bob, amount)
        status = original.get("/api/status")
        feed, seq = status["node"], status["seq"]
        wait_for(lambda: replica.get("/api/status")["feeds"].get(feed, {}).get("seq") == seq,
                 "the replica holding the original's last event")
        balances = original.get("/api/balances")
        original.kill()  # the disk is lost with everything on it
        lost = root / "riverside-lost"
        shutil.move(original.home, lost)
        yield Town(original, replica, root / "backups" / "riverside-1", snapshot, feed, seq, status["head"],
                   balances, (alice, bob), lost)
    finally:
        for node in nodes:
            if node.running:
                node.stop()


def fresh_copy(town: Town, name: str) -> Path:
    """The snapshot as an operator puts it on the new machine: the folder, copied whole."""
    target = town.snapshot_folder.parent / name
    shutil.copytree(town.snapshot_folder, target)
    return target


def test_a_backup_of_a_running_node_is_a_verified_copy_marked_as_a_snapshot(town: Town) -> None:
    folder = town.snapshot_folder
    assert sorted(path.name for path in folder.iterdir()) == ["config.json", "node.key", "snapshot.json", "tally.db"]
    marker = json.loads((folder / "snapshot.json").read_text())
    assert (marker["feed"], marker["seq"], marker["head"]) == (town.feed, town.snapshot["seq"], town.snapshot["head"])
    assert 1 < marker["seq"] < town.seq_at_loss
    assert abs(marker["taken_ms"] - time.time() * 1000) < 10 * 60 * 1000
    verified = tally("verify", fresh_copy(town, "verified"))
    assert verified.returncode == 0, verified.stderr
    # The event the marker names is the one the original signed at that seq (its lost disk holds it).
    assert hash_at(town.source_folder / "tally.db", marker["seq"]) == marker["head"]


def test_a_backup_leaves_out_the_admin_and_recovery_keys_and_the_acknowledged_record(town: Town) -> None:
    names = {path.name for path in town.snapshot_folder.iterdir()}
    assert not names & {"admin.key", "recovery.key", "tally.db.acknowledged"}
    assert (town.snapshot_folder / "node.key").stat().st_mode & 0o077 == 0
    assert (town.snapshot_folder / "tally.db").stat().st_mode & 0o077 == 0


def test_serve_refuses_a_snapshot_in_one_line_and_changes_nothing(town: Town) -> None:
    home = fresh_copy(town, "refused")
    before = digest(home / "tally.db")
    done = tally("serve", home, "--listen", f"127.0.0.1:{free_port()}")
    line = one_line_mistake(done)
    assert "snapshot" in line and f"tally resume {home} --from" in line and "--no-newer-copy" in line
    assert digest(home / "tally.db") == before
    assert not (home / "tally.db.acknowledged").exists()
    assert (home / "snapshot.json").exists()


def test_resume_from_the_replica_restores_every_acknowledged_event_and_the_feed_goes_on(town: Town) -> None:
    home = fresh_copy(town, "resumed")
    resumed = tally_json_of("resume", home, "--from", town.replica.url)
    assert resumed["restored"] is True
    assert resumed["seq"] == resumed["peer_seq"] == town.seq_at_loss
    assert not (home / "snapshot.json").exists()
    # A snapshot holds no data keys: the operator brings back the key store kept apart from it
    # (operator.md §5.5), or every name reads "(erased)".
    assert not (home / "keys.db").exists()
    shutil.copy(town.source_folder / "keys.db", home / "keys.db")
    node = NodeProcess(home=home, port=free_port(), peers=[town.replica.url], log_path=home.parent / "resumed.log")
    node.start()
    try:
        status = node.get("/api/status")
        assert (status["node"], status["seq"], status["head"]) == (town.feed, town.seq_at_loss, town.head_at_loss)
        # A backup holds no admin key: the community's admin reads every balance with theirs
        admin = key_from_file(town.source_folder / "admin.key")  # the lost disk's key, kept by the admin
        assert node.get_as(admin, "/api/balances").json() == town.balances_at_loss
        alice, bob = town.members
        paid = node.pay(alice, bob, 4_00)
        assert paid["seq"] == town.seq_at_loss + 1
        wait_for(lambda: town.replica.get("/api/status")["feeds"][town.feed]["seq"] == paid["seq"],
                 "the replica taking the resumed node's next event")
        replica_status = town.replica.get("/api/status")
        assert not [fork for fork in replica_status["forks"] if fork["feed"] == town.feed]
        assert not [alert for alert in replica_status["alerts"] if alert["kind"] == "fork"]
    finally:
        assert node.stop() == 0


def test_resume_refuses_a_peer_that_holds_no_copy_of_the_feed(town: Town, tmp_path: Path) -> None:
    stranger_home = tmp_path / "stranger"
    init_home(stranger_home)
    stranger = make_process(stranger_home).start()
    try:
        home = fresh_copy(town, "stranger-asked")
        line = one_line_mistake(tally("resume", home, "--from", stranger.url))
        assert "holds no copy" in line
        assert (home / "snapshot.json").exists()
    finally:
        assert stranger.stop() == 0


def test_resume_refuses_a_peer_that_does_not_answer(town: Town) -> None:
    home = fresh_copy(town, "nobody-asked")
    line = one_line_mistake(tally("resume", home, "--from", f"http://127.0.0.1:{free_port()}"))
    assert "no node answers" in line
    assert (home / "snapshot.json").exists()


def test_resume_needs_a_peer_or_the_operators_word(town: Town) -> None:
    home = fresh_copy(town, "undecided")
    assert "--no-newer-copy" in one_line_mistake(tally("resume", home))
    assert "--from" in one_line_mistake(tally("resume", home, "--from", "127.0.0.1:7600"))
    assert (home / "snapshot.json").exists()


def test_resume_with_no_newer_copy_lets_the_snapshot_serve_from_its_own_last_event(town: Town) -> None:
    home = fresh_copy(town, "on-my-word")
    done = tally("resume", home, "--no-newer-copy")
    assert done.returncode == 0, done.stderr
    assert "fork" in done.stderr  # says what the operator's word risks
    node = NodeProcess(home=home, port=free_port(), log_path=home.parent / "on-my-word.log").start()
    try:
        assert node.get("/api/status")["seq"] == town.snapshot["seq"]
    finally:
        assert node.stop() == 0


def test_a_snapshot_copied_back_over_a_home_that_went_on_is_refused_even_unmarked(town: Town) -> None:
    # The lost disk turns up again: its home went on past the snapshot and kept its acknowledged record.
    home = town.snapshot_folder.parent / "found-again"
    shutil.copytree(town.source_folder, home)
    # As a node that stopped cleanly leaves it: the WAL folded into the database file.
    connection = sqlite3.connect(home / "tally.db")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    assert not (home / "tally.db-wal").exists()
    for path in town.snapshot_folder.iterdir():
        shutil.copy2(path, home / path.name)
    assert "snapshot" in one_line_mistake(tally("serve", home, "--listen", f"127.0.0.1:{free_port()}"))
    (home / "snapshot.json").unlink()  # an operator who removes the mark by hand
    done = tally("serve", home, "--listen", f"127.0.0.1:{free_port()}")
    assert done.returncode != 0 and "acknowledged_lost" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_backup_refuses_a_folder_that_is_not_empty_or_a_home(town: Town, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    assert "not empty" in one_line_mistake(tally("backup", town.snapshot_folder, tmp_path / "taken"))
    assert "not a node home" in one_line_mistake(tally("backup", tmp_path / "nothing", tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_key_rotate_refuses_a_snapshot_in_one_line_and_changes_nothing(town: Town) -> None:
    # A rotation signs the next seq of the feed, which the snapshot's node may already have used.
    home = fresh_copy(town, "rotated")
    recovery = town.source_folder / "recovery.key"
    assert recovery.exists()
    before = digest(home / "tally.db")
    line = one_line_mistake(tally("key", "rotate", home, "--recovery", recovery))
    assert "snapshot" in line and "tally resume" in line
    assert digest(home / "tally.db") == before
    assert (home / "node.key").read_bytes() == (town.snapshot_folder / "node.key").read_bytes()
