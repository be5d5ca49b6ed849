"""A genesis whose append failed leaves nothing behind (issue 12, durability): the disk is full for
the node while a configured peer pushes a new feed, the push is refused with 503 `store_failed`,
and a later push of that feed's seq 2 alone stores nothing (before, the replica kept in memory took
it, and the store then held seq 2 with no genesis: `tally verify` failed). Once the disk has room,
the whole feed is taken and the home verifies.

"The disk is full" is made real without a small filesystem: the test holds a read transaction on
the node's database (so SQLite cannot restart its WAL, which must then grow to take any commit),
and lowers the running node's soft file-size limit (RLIMIT_FSIZE, `prlimit --pid`) to the WAL's size.
The node's next commit then fails with "database or disk is full", as on a full disk.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tallystick.protocol.events import AdmitMember
from tallystick.protocol.ids import KeyPair
from tallystick.protocol.wire import Events

from helpers.replication import (
    BackgroundLoop,
    FeedBuilder,
    LyingPeer,
    NodeProcess,
    Nodes,
    log_rows,
    refusal_of,
    wait_until,
)
from helpers.support import tally_json

# Feeds pushed at most while the disk is "full" before one must fail: each commit appends frames
# to a WAL that cannot restart, so it reaches the end of the file within a few.
pushes_until_full_max = 50

pytestmark = pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")


@contextmanager
def disk_full_for(node: NodeProcess) -> Iterator[None]:
    assert node.process is not None
    wal = Path(f"{node.home / 'tally.db'}-wal")
    reader = sqlite3.connect(f"file:{node.home / 'tally.db'}?mode=ro", uri=True, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM log").fetchone()  # the read mark that keeps the WAL
        size = wal.stat().st_size
        subprocess.run(["prlimit", f"--pid={node.process.pid}", f"--fsize={size}:unlimited"], check=True)
        yield
    finally:
        subprocess.run(["prlimit", f"--pid={node.process.pid}", "--fsize=unlimited:unlimited"], check=True)
        reader.close()


def test_a_genesis_whose_append_failed_leaves_nothing_behind(nodes: Nodes, background: BackgroundLoop) -> None:
    liar = LyingPeer(background).start()
    try:
        (node,) = nodes.create(1)
        node.peers = [liar.url]
        node.start()
        wait_until(lambda: liar.identity.feed_text in node.feeds(), "N holding its peer's feed")

        failed: FeedBuilder | None = None
        with disk_full_for(node):
            for index in range(pushes_until_full_max):
                feed = FeedBuilder(f"New {index}")
                feed.append(feed.act_body(feed.admin_key, AdmitMember(member=KeyPair.generate().public, name="eve")))
                answer = node.push(Events(feed.feed, 1, feed.events[:1]), liar.signer)
                if answer.status != 200:
                    assert refusal_of(answer) == (503, "store_failed")
                    failed = feed
                    break
        assert failed is not None, f"no commit failed in {pushes_until_full_max} pushes with the disk full"
        assert failed.feed_text not in node.feeds()

        assert node.push(Events(failed.feed, 2, failed.events[1:]), liar.signer).status == 200
        assert log_rows(node.home, failed.feed) == []  # seq 2 alone is a gap: nothing is stored
        assert failed.feed_text not in node.feeds()

        assert node.push(Events(failed.feed, 1, failed.events), liar.signer).status == 200
        assert node.feeds()[failed.feed_text]["seq"] == 2
        assert node.stop() == 0
        assert tally_json("verify", node.home, "--json")["ok"] is True
    finally:
        liar.close()
