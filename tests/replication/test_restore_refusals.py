"""`tally restore` never shortens or forks what the home holds, reads every peer answer with a bound,
and keeps the database it replaces whole.

The module's fixture: nodes A and B peered both ways; on A two members are admitted and pay each
other, and B replicates it. The tests run in order on that pair: a peer that holds less than the home
(A paid while B was down), a database whose last events were only in its WAL (A killed), peers whose
answers never end, and last - because it forks A's feed for good - a peer that holds another event at
a seq the home holds.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from tallystick.protocol.codec import encode
from tallystick.protocol.ids import KeyPair
from tallystick.protocol.wire import Heads, WireHead

from helpers.replication import BackgroundLoop, NodeProcess, Nodes, log_rows, start_all, wait_until
from helpers.support import free_port, tally

# An answer this long is past the replication body limit (4 MiB) many times over; a restore that
# read it whole would then fail to decode it, not refuse it as too large.
endless_answer_bytes_max = 64 * 1024 * 1024
endless_chunk_bytes = 64 * 1024


@dataclass
class Pair:
    a: NodeProcess
    b: NodeProcess
    alice: KeyPair
    bob: KeyPair


def b_holds_all_of_a(pair: Pair) -> None:
    def same() -> bool:
        return pair.b.feeds().get(pair.a.feed_text) == pair.a.feeds()[pair.a.feed_text]

    wait_until(same, "B holding A's whole feed", describe=lambda: (pair.b.feeds(), pair.a.status()["seq"]))


def home_files(home: Path) -> dict[str, bytes]:
    """Every file of a home but the lock and SQLite's shared-memory index (which readers rebuild)."""
    return {
        path.name: path.read_bytes()
        for path in sorted(home.iterdir())
        if path.is_file() and path.name not in ("node.lock", "tally.db-shm")
    }


def assert_refused(done, code: str) -> None:  # type: ignore[no-untyped-def]
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"tally: {code}: "), done.stderr


@pytest.fixture(scope="module")
def pair(module_nodes: Nodes) -> Pair:
    a, b = module_nodes.create(2)
    a.peers, b.peers = [b.url], [a.url]
    start_all([a, b])
    alice, bob = a.admit("alice"), a.admit("bob")
    for amount in (10_00, 2_50, 7_25):
        a.pay(alice, bob, amount)
    made = Pair(a, b, alice, bob)
    b_holds_all_of_a(made)
    return made


def test_restore_from_a_peer_that_holds_less_than_the_home_is_refused_and_changes_nothing(pair: Pair) -> None:
    held_by_b = pair.b.feeds()[pair.a.feed_text]["seq"]
    assert pair.b.stop() == 0
    acknowledged = [pair.a.pay(pair.alice, pair.bob, 1_00 + index)["seq"] for index in range(30)]
    assert pair.a.stop() == 0
    pair.b.start()
    assert pair.b.feeds()[pair.a.feed_text]["seq"] == held_by_b < acknowledged[-1]
    before = home_files(pair.a.home)

    done = tally("restore", pair.a.home, "--from", pair.b.url)

    assert_refused(done, "restore_would_lose")
    assert f"up to seq {held_by_b}" in done.stderr and f"seq {acknowledged[-1]}" in done.stderr
    assert home_files(pair.a.home) == before
    assert log_rows(pair.a.home, pair.a.feed)[-1][0] == acknowledged[-1]


def test_the_database_a_restore_moves_aside_holds_every_event_even_those_that_were_only_in_its_wal(
    pair: Pair, tmp_path: Path
) -> None:
    pair.a.start()
    b_holds_all_of_a(pair)
    for amount in (3_00, 4_00, 5_00):
        pair.a.pay(pair.alice, pair.bob, amount)
    b_holds_all_of_a(pair)
    pair.a.kill()  # the last commits stay in tally.db-wal
    held = log_rows(pair.a.home, pair.a.feed)
    alone = tmp_path / "main-file-alone.db"
    shutil.copy(pair.a.home / "tally.db", alone)
    assert len(log_rows_of(alone, pair.a.feed)) < len(held), "the WAL held none of the last events"

    done = tally("restore", pair.a.home, "--from", pair.b.url, "--json")

    assert done.returncode == 0, done.stderr
    aside = pair.a.home / "tally.db.before-restore"
    assert not Path(f"{aside}-wal").exists() or Path(f"{aside}-wal").stat().st_size == 0
    shutil.copy(aside, alone)  # the main file alone, as a backup tool would copy it
    assert log_rows_of(alone, pair.a.feed) == held
    assert log_rows(pair.a.home, pair.a.feed) == held  # B held it all: the restore is the same feed
    pair.a.start()
    b_holds_all_of_a(pair)


def log_rows_of(database: Path, feed: bytes) -> list[tuple[int, bytes, int, str, bytes]]:
    """`log_rows` of a database file that is not a home's tally.db."""
    home = database.parent / f"{database.stem}-home"
    home.mkdir(exist_ok=True)
    for file in home.iterdir():
        file.unlink()
    shutil.copy(database, home / "tally.db")
    return log_rows(home, feed)


class EndlessPeer:
    """A server that answers one /replication/ route with a body that never ends (up to
    `endless_answer_bytes_max`), and the other with the honest node's answer."""

    def __init__(self, background: BackgroundLoop, honest: NodeProcess, endless_route: str) -> None:
        self.background, self.endless_route = background, endless_route
        self.port = free_port()
        self.sent_bytes = 0
        last = log_rows(honest.home, honest.feed)[-1]  # read now: reading the home later could touch it
        self.honest_head = WireHead(honest.feed, last[0], last[1])
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/msgpack"})
        await response.prepare(request)
        chunk = b"\x00" * endless_chunk_bytes
        try:
            while self.sent_bytes < endless_answer_bytes_max:
                await response.write(chunk)
                self.sent_bytes += len(chunk)
        except ConnectionError:
            pass  # the client hung up: what the test waits for
        return response

    async def _honest_heads(self, request: web.Request) -> web.Response:
        return web.Response(body=encode(Heads([self.honest_head], 0)), content_type="application/msgpack")

    async def _start(self) -> None:
        app = web.Application()
        heads = self._endless if self.endless_route == "heads" else self._honest_heads
        app.router.add_get("/replication/heads", heads)
        app.router.add_get("/replication/feeds/{feed}", self._endless)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> EndlessPeer:
        self.background.run(self._start())
        return self

    def close(self) -> None:
        if self._runner is not None:
            self.background.run(self._runner.cleanup())


@pytest.mark.parametrize("endless_route", ["heads", "range"])
def test_restore_from_a_peer_whose_answer_never_ends_is_refused_as_too_large_and_changes_nothing(
    pair: Pair, background: BackgroundLoop, endless_route: str
) -> None:
    if pair.a.running:
        assert pair.a.stop() == 0
    peer = EndlessPeer(background, pair.a, endless_route).start()
    before = home_files(pair.a.home)
    try:

        done = tally("restore", pair.a.home, "--from", peer.url)

        assert_refused(done, "too_large")
        assert home_files(pair.a.home) == before
        assert not (pair.a.home / "tally.db.restoring").exists()
    finally:
        peer.close()
    assert peer.sent_bytes < endless_answer_bytes_max  # the restore hung up, long before the end


def test_restore_from_a_peer_that_holds_another_event_at_a_seq_the_home_holds_is_refused_as_a_fork(
    pair: Pair, module_nodes: Nodes
) -> None:
    if not pair.a.running:
        pair.a.start()
    b_holds_all_of_a(pair)
    assert pair.a.stop() == 0
    # A copy of A's home, peered with B, writes seq N+1; then A, alone, writes another seq N+1.
    copy = module_nodes.adopt(NodeProcess(home=pair.a.home.parent / "copy", port=free_port(), peers=[pair.b.url]))
    shutil.copytree(pair.a.home, copy.home)
    copy.start()
    forked_seq = copy.pay(pair.alice, pair.bob, 1_11)["seq"]
    wait_until(lambda: pair.b.feeds()[pair.a.feed_text]["seq"] == forked_seq, "B holding the copy's event")
    assert copy.stop() == 0
    peers, pair.a.peers = pair.a.peers, []
    pair.a.start()
    assert pair.a.pay(pair.alice, pair.bob, 2_22)["seq"] == forked_seq
    assert pair.a.stop() == 0
    pair.a.peers = peers
    before = home_files(pair.a.home)

    done = tally("restore", pair.a.home, "--from", pair.b.url)

    assert_refused(done, "restore_fork")
    assert f"seq {forked_seq}" in done.stderr
    assert home_files(pair.a.home) == before



def test_restore_over_a_damaged_acknowledged_record_is_refused_and_changes_nothing(pair: Pair) -> None:
    # A damaged record may come with a database that lost its tail: restore cannot tell how far the
    # home acknowledged, so it refuses rather than take a peer's shorter copy.
    if pair.a.running:
        assert pair.a.stop() == 0
    if not pair.b.running:
        pair.b.start()
    path = pair.a.home / "tally.db.acknowledged"
    whole = path.read_bytes()
    path.write_bytes(whole[:-9])  # cut short, as a disk could leave it
    before = home_files(pair.a.home)
    try:
        done = tally("restore", pair.a.home, "--from", pair.b.url)

        assert_refused(done, "restore")
        assert "damaged" in done.stderr and "moving that file aside" in done.stderr
        assert home_files(pair.a.home) == before
    finally:
        path.write_bytes(whole)
