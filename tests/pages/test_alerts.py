"""Checkpoints and algedonic alerts on the pages, with two real nodes: A (which checkpoints after a
second idle) and B, which replicates A. A stored checkpoint shows as verified on both operator
pages; a fork of A's feed, proven to B, raises an alert at the top of every one of B's pages and is
listed among the forks, as /api/status reports it.

The fork is made as a node operator who ran two copies of a home would make it: A's own key signs
a second, different event at a seq A already filled; the two signed events are the proof, posted
to B as a peer gossips it (POST /replication/forks)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from tallystick.node.home import read_key
from tallystick.protocol.codec import encode, sign_event
from tallystick.protocol.events import Checkpoint, ForkProof

from helpers.browsing import Browsing, wait_until
from helpers.replication import NodeProcess, Nodes, log_rows, signer_of


@dataclass
class Pair:
    a: NodeProcess
    b: NodeProcess


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    registry = Nodes(tmp_path_factory.mktemp("alerts"))
    # `tally init` processes: the browser's Playwright holds an asyncio loop in this thread.
    a, b = registry.create(2, via_cli=True)
    config_path = a.home / "config.json"
    config = json.loads(config_path.read_text())
    config["checkpoint_idle_ms"] = 1000  # the least allowed: A checkpoints after one idle second
    config_path.write_text(json.dumps(config))
    b.peers = [a.url]
    a.peers = [b.url]  # both ways: a node serves its feed only to nodes it chose (federation.md §2.2)
    try:
        a.start()
        b.start()
        ada, bruno = a.admit("Ada"), a.admit("Bruno")
        a.pay(ada, bruno, 150, "first")
        yield Pair(a, b)
    finally:
        failures = registry.stop_all()
        assert not failures, "\n".join(failures)


def checkpoint_cell(browsing: Browsing, url: str, feed: str) -> str:
    browsing.open(url + "/node")
    row = browsing.page.locator(f'table.feeds tr[data-feed="{feed}"]')
    return row.locator("td").nth(3).inner_text() if row.count() == 1 else ""


def test_a_checkpoint_shows_as_verified_on_the_author_and_the_replica(pair: Pair, browsing: Browsing) -> None:
    a, b = pair.a, pair.b

    def checkpoint_seq() -> int | None:
        events = a.get("/api/log?limit=1000")["events"]
        return next((e["seq"] for e in reversed(events) if e["body"]["kind"] == "checkpoint"), None)

    seq = wait_until(checkpoint_seq, what="A appending a checkpoint after a second idle")
    for url in (a.url, b.url):
        wait_until(lambda url=url: f"verified at #{seq}" in checkpoint_cell(browsing, url, a.feed_text),
                   what=f"{url}/node showing A's checkpoint #{seq} as verified")


def test_a_fork_raises_an_alert_at_the_top_of_every_page(pair: Pair, browsing: Browsing) -> None:
    a, b = pair.a, pair.b
    seq, _hash, ts, _kind, first = log_rows(a.home, a.feed)[1]
    second = sign_event(read_key(a.home / "node.key"), feed=a.feed, seq=seq, prev=a.feed, ts=ts,
                        body=Checkpoint(state_hash=bytes(range(32))))
    proof = encode(ForkProof(feed=a.feed, seq=seq, first=first, second=second))
    answer = b.post_forks([proof], signer_of(a))
    assert answer.status == 200, answer.body[:300]

    alerts = wait_until(lambda: b.get("/api/status")["alerts"], what="B raising an alert for the fork")
    assert any(alert["kind"] == "fork" and alert["feed"] == a.feed_text for alert in alerts)
    for path in ("/", "/members/admin", "/node", "/members/nobody"):
        browsing.open(b.url + path)
        shown = browsing.page.locator("#alerts li")
        assert shown.count() == len(alerts), path
        assert [item.inner_text() for item in shown.all()] == [f"{x['kind']}{x['message']}" for x in alerts], path
        # The alerts come first: before the page's own content.
        assert browsing.page.evaluate(
            "document.querySelector('#alerts').compareDocumentPosition(document.querySelector('main'))"
            " & Node.DOCUMENT_POSITION_FOLLOWING"
        ), path
    browsing.open(b.url + "/node")
    assert a.feed_text in browsing.text("#forks")
    assert "forked" in browsing.page.locator(f'table.feeds tr[data-feed="{a.feed_text}"]').inner_text()
