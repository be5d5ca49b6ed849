"""`tally serve` checks the database against the record of the last head it acknowledged
(`tally.db.acknowledged`) before it writes anything: a database behind it - an old copy of
tally.db put back, another copy's database with a different event at that seq, a damaged record -
is refused in one line with `acknowledged_lost`, and nothing in the home changes; a record that
is merely missing or behind is brought up to the database.

Each test makes its own node (`make_node`): a home with two members and a few payments.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from helpers.nodes import NodeProcess
from helpers.support import free_port, tally


def home_files(home: Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in sorted(home.iterdir())
        if path.is_file() and path.name not in ("node.lock", "tally.db-shm")
    }


def record(home: Path) -> dict[str, Any]:
    """The newest slot of the record file (two lines of JSON, each padded), without its checksum."""
    slots = [json.loads(line) for line in (home / "tally.db.acknowledged").read_text().splitlines()]
    newest = max(slots, key=lambda slot: slot["seq"])
    return {key: newest[key] for key in ("feed", "seq", "head")}


def serve_refused(home: Path) -> str:
    """`tally serve` on `home`, which must refuse at once; its one line of stderr."""
    done = tally("serve", home, "--listen", f"127.0.0.1:{free_port()}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    return done.stderr


def paid_and_stopped(node: NodeProcess, count: int) -> dict[str, Any]:
    alice = node.admit(f"alice{node.port}")
    bob = node.admit(f"bob{node.port}")
    last = {}
    for amount in range(1, count + 1):
        last = node.pay(alice, bob, amount)
    assert node.stop() == 0
    return last


def test_an_old_copy_of_tally_db_put_back_is_refused_as_acknowledged_lost_and_changes_nothing(
    make_node: Any, tmp_path: Path
) -> None:
    node = make_node()
    assert node.stop() == 0
    shutil.copy(node.home / "tally.db", tmp_path / "backup.db")  # a clean stop: the main file is whole
    node.start()
    last = paid_and_stopped(node, 5)
    shutil.copy(tmp_path / "backup.db", node.home / "tally.db")
    before = home_files(node.home)

    stderr = serve_refused(node.home)

    assert stderr.startswith("tally: acknowledged_lost: "), stderr
    assert f"acknowledged up to seq {last['seq']}" in stderr and "tally restore" in stderr
    assert home_files(node.home) == before


def test_another_copys_database_with_a_different_event_at_the_acknowledged_seq_is_refused_as_a_fork(
    make_node: Any, tmp_path: Path
) -> None:
    node = make_node()
    assert node.stop() == 0
    copy = NodeProcess(home=tmp_path / "copy", port=free_port(), log_path=tmp_path / "copy.log")
    shutil.copytree(node.home, copy.home)
    copy.start()
    on_the_copy = paid_and_stopped(copy, 3)
    node.start()
    on_the_node = paid_and_stopped(node, 3)
    assert on_the_copy["seq"] == on_the_node["seq"] and on_the_copy["hash"] != on_the_node["hash"]
    shutil.copy(copy.home / "tally.db", node.home / "tally.db")
    before = home_files(node.home)

    stderr = serve_refused(node.home)

    assert stderr.startswith("tally: acknowledged_lost: "), stderr
    assert f"another event at seq {on_the_node['seq']}" in stderr
    assert home_files(node.home) == before


def test_a_damaged_acknowledged_record_is_refused_and_changes_nothing(make_node: Any) -> None:
    node = make_node()
    paid_and_stopped(node, 2)
    path = node.home / "tally.db.acknowledged"
    path.write_bytes(path.read_bytes()[:-9])  # cut short, as a disk could leave it
    before = home_files(node.home)

    stderr = serve_refused(node.home)

    assert stderr.startswith("tally: acknowledged_lost: "), stderr
    assert "damaged" in stderr
    assert home_files(node.home) == before


def test_a_missing_record_is_written_at_start_and_follows_every_acknowledged_write(make_node: Any) -> None:
    node = make_node()
    assert node.stop() == 0
    (node.home / "tally.db.acknowledged").unlink()  # e.g. a home from before the record existed
    node.start()
    status = node.get("/api/status")
    assert record(node.home) == {"feed": status["node"], "seq": status["seq"], "head": status["head"]}
    last = paid_and_stopped(node, 2)
    assert record(node.home) == {"feed": status["node"], "seq": last["seq"], "head": last["hash"]}
