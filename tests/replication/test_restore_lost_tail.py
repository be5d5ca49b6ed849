"""A home whose database lost the tail of its feed - one flipped byte in tally.db-wal, after a kill -
refuses to start and to verify, even with no peer up, and `tally restore` brings back every
acknowledged event; the node then writes on without a fork.

The module's fixture: nodes A and B peered both ways; on A two members are admitted and make 30
payments (each acknowledged), B replicates them, then A is killed with SIGKILL (its last commits are
in tally.db-wal) and B is stopped. One byte of a WAL frame in the middle is flipped: SQLite drops
every frame from that one on, so the database alone says the feed ends well before what A
acknowledged, and `tally verify` of the database alone would pass.
"""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from tallystick.protocol.ids import KeyPair, id_from_text

from helpers.replication import NodeProcess, Nodes, log_rows, start_all, wait_until
from helpers.support import free_port, tally, tally_json

payments = 30
wal_header_bytes = 32
wal_frame_header_bytes = 24


@dataclass
class LostTail:
    a: NodeProcess
    b: NodeProcess
    alice: KeyPair
    bob: KeyPair
    acknowledged: list[dict[str, object]]  # every payment's answer, in order
    rows: list[tuple[int, bytes, int, str, bytes]]  # A's feed as B holds it, after the payments


def wal_frames(wal: bytes) -> tuple[int, int]:
    """(page size, frames of the current WAL generation): frames whose salts match the header's."""
    page_bytes = struct.unpack(">I", wal[8:12])[0]
    salts = wal[16:24]
    frame_bytes = wal_frame_header_bytes + page_bytes
    count = 0
    while wal_header_bytes + (count + 1) * frame_bytes <= len(wal):
        frame = wal_header_bytes + count * frame_bytes
        if wal[frame + 8 : frame + 16] != salts:
            break
        count += 1
    return page_bytes, count


def flip_a_byte_in_the_middle_frame(wal_path: Path) -> None:
    wal = bytearray(wal_path.read_bytes())
    page_bytes, frames = wal_frames(bytes(wal))
    assert frames >= 4, f"the WAL holds {frames} frames: too few to lose a tail"
    offset = wal_header_bytes + (frames // 2) * (wal_frame_header_bytes + page_bytes) + wal_frame_header_bytes + 100
    wal[offset] ^= 0x01
    wal_path.write_bytes(bytes(wal))


def head_seq_of_the_database_alone(home: Path, feed: bytes, scratch: Path) -> int:
    """The seq SQLite itself reads back from a copy of the home's database files."""
    scratch.mkdir()
    for name in ("tally.db", "tally.db-wal"):
        shutil.copy(home / name, scratch / name)
    return log_rows(scratch, feed)[-1][0]


def home_files(home: Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in sorted(home.iterdir())
        if path.is_file() and path.name not in ("node.lock", "tally.db-shm")
    }


@pytest.fixture(scope="module")
def lost(module_nodes: Nodes, tmp_path_factory: pytest.TempPathFactory) -> LostTail:
    a, b = module_nodes.create(2)
    a.peers, b.peers = [b.url], [a.url]
    start_all([a, b])
    alice, bob = a.admit("alice"), a.admit("bob")
    acknowledged = [a.pay(alice, bob, 1_00 + index) for index in range(payments)]
    wait_until(lambda: b.feeds().get(a.feed_text) == a.feeds()[a.feed_text], "B holding A's whole feed")
    a.kill()
    assert b.stop() == 0
    flip_a_byte_in_the_middle_frame(a.home / "tally.db-wal")
    seq_alone = head_seq_of_the_database_alone(a.home, a.feed, tmp_path_factory.mktemp("copy") / "home")
    assert seq_alone < acknowledged[-1]["seq"], "the flipped byte lost nothing: the test proves nothing"
    return LostTail(a, b, alice, bob, acknowledged, log_rows(b.home, a.feed))


def test_a_node_whose_database_lost_acknowledged_events_refuses_to_start_and_changes_nothing(
    lost: LostTail,
) -> None:
    before = home_files(lost.a.home)

    done = tally("serve", lost.a.home, "--listen", f"127.0.0.1:{free_port()}")  # no peer is up

    assert done.returncode == 1, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("tally: acknowledged_lost: "), done.stderr
    assert f"acknowledged up to seq {lost.acknowledged[-1]['seq']}" in done.stderr
    assert "tally restore" in done.stderr
    assert home_files(lost.a.home) == before


def test_tally_verify_of_a_database_that_lost_acknowledged_events_fails_with_acknowledged_lost(
    lost: LostTail,
) -> None:
    before = home_files(lost.a.home)

    done = tally("verify", lost.a.home, "--json")

    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("tally: acknowledged_lost: "), done.stderr
    assert home_files(lost.a.home) == before


def test_restore_brings_back_every_acknowledged_payment_and_the_node_writes_on_without_a_fork(
    lost: LostTail,
) -> None:
    lost.b.start()

    restored = tally_json("restore", lost.a.home, "--from", lost.b.url, "--json")

    assert restored["seq"] == lost.acknowledged[-1]["seq"]
    assert log_rows(lost.a.home, lost.a.feed) == lost.rows
    held = {row[0]: row[1] for row in lost.rows}
    for answer in lost.acknowledged:  # each payment at the seq and with the hash its payer was told
        assert held[int(answer["seq"])] == id_from_text("h", str(answer["hash"]))
    assert tally("verify", lost.a.home, "--json").returncode == 0
    lost.a.start()
    appended = lost.a.pay(lost.alice, lost.bob, 99)
    assert appended["seq"] == lost.acknowledged[-1]["seq"] + 1
    wait_until(lambda: lost.b.feeds()[lost.a.feed_text]["seq"] == appended["seq"], "B holding the new payment")
    assert lost.a.status()["forks"] == [] and lost.b.status()["forks"] == []

