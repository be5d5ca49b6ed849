"""Checkpoints and algedonic alerts on the pages, with two real nodes: A (which checkpoints after a
second idle) and B, which replicates A. A stored checkpoint shows as verified on both operator
pages; a fork of A's feed, proven to B, raises an alert at the top of every one of B's pages and is
listed among the forks, as /api/status reports it: in words in the reader's language, the feed and
the event from the alert (English, and Spanish for `Accept-Language: es`).

The fork is made as a node operator who ran two copies of a home would make it: A's own key signs
a second, different event at a seq A already filled; the two signed events are the proof, posted
to B as a peer gossips it (POST /replication/forks)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from tallystick.node.home import read_key
from tallystick.node.pages.alerts import alert_line
from tallystick.protocol.codec import encode, sign_event
from tallystick.protocol.events import Checkpoint, ForkProof

from helpers.browsing import Browsing, wait_until
from helpers.replication import NodeProcess, Nodes, log_rows, signer_of
from helpers.support import http


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
        assert [item.inner_text() for item in shown.all()] == [
            "{kind} {message}".format(**alert_line(x, "en")) for x in alerts], path
        # The alerts come first: before the page's own content.
        assert browsing.page.evaluate(
            "document.querySelector('#alerts').compareDocumentPosition(document.querySelector('main'))"
            " & Node.DOCUMENT_POSITION_FOLLOWING"
        ), path
    # In Spanish: the kind and the sentence of the catalogue, with the alert's feed and seq in it.
    spanish = http("GET", b.url + "/node", headers={"Accept-Language": "es"}).body.decode()
    items = [html.unescape(re.sub(r"<[^>]+>", "", item))
             for item in re.findall(r'<ul class="alerts".*?</ul>', spanish, flags=re.DOTALL)[0].split("<li")[1:]]
    fork = next(item for item in items if a.feed_text in item)
    assert "Un registro contó dos historias" in fork
    assert f"El registro {a.feed_text} está bifurcado en el evento n.º {seq}" in fork
    assert 'lang="en"' not in spanish.split('<ul class="alerts"')[1].split("</ul>")[0]
    browsing.open(b.url + "/node")
    assert a.feed_text in browsing.text("#forks")
    assert "forked" in browsing.page.locator(f'table.feeds tr[data-feed="{a.feed_text}"]').inner_text()


# Each alert's message as its writer words it (replication/ingest.py, node/sequencer.py,
# replication's stale-home refusals, federation/report.py), with the values a sentence must carry.
written_alerts = [
    ({"kind": "fork", "feed": "n_abc", "seq": 7,
      "message": "feed n_abc is forked at seq 7: its key signed two different events; it is frozen"}, ["n_abc", "7"]),
    ({"kind": "fork", "message": "this node's own feed is forked at seq 9: its key signed two different events; it is frozen"},
     ["9"]),
    ({"kind": "fork", "system": "S3*", "message": "feed n_abc is forked at seq 7; it is frozen"}, ["n_abc", "7"]),
    ({"kind": "checkpoint_mismatch", "feed": "n_abc",
      "message": "feed n_abc: the state hash differs; its events from there on are refused"}, ["n_abc"]),
    ({"kind": "feeds_limit", "message": "this node holds 300 feeds, its limit (300): feeds its peers vouch for are no "
                                        "longer taken; check which peer spreads so many feeds (`tally status --json`)"},
     ["300"]),
    ({"kind": "stale_home", "message": "this node's feed is forked (another copy of this home wrote too); stop every copy, "
                                       "keep one, and run `tally restore` on the others"}, ["tally restore"]),
    ({"kind": "stale_home", "message": "a peer holds this node's feed up to seq 40 or later, but this home has only 12: it "
                                       "was restored from an old copy. Stop it and run `tally restore`"}, ["40", "12"]),
    ({"kind": "clock_ahead", "message": "this node's clock (2027-01-01 00:00 UTC) is 29.0 days ahead of its last event and "
                                        "its peers' (2026-12-03 00:00 UTC); it appends nothing until the clock is right: fix it "
                                        "(NTP); if it is right, see clock_ahead in docs/operator.md"},
     ["2027-01-01 00:00 UTC", "29"]),  # '29.0' in English, '29,0' in Spanish
    ({"kind": "equivocation", "message": "n_abc voted twice in epoch 3; the first counts"}, ["n_abc", "3"]),
    ({"kind": "at_limit", "message": "n_abc has been at its balance-of-trade limit in the federation for 12 min: it can "
                                     "only trade the other way"}, ["n_abc", "12"]),
    ({"kind": "at_limit", "message": "x_abc has been at its capacity in the federation for 5 min: it can only trade the "
                                     "other way"}, ["x_abc", "5"]),
    ({"kind": "payment_pending", "message": "payment p_1 has been pending for over an hour"}, ["p_1"]),
    ({"kind": "unreachable", "message": "peer http://127.0.0.1:9/ is unreachable"}, ["http://127.0.0.1:9/"]),
    ({"kind": "not_held", "message": "this node holds no copy of n_abc: peer with it"}, ["n_abc"]),
]


@pytest.mark.parametrize(("alert", "values"), written_alerts, ids=lambda x: x["kind"] if isinstance(x, dict) else "")
def test_each_alert_reads_as_a_sentence_of_the_readers_language_with_its_values(alert: dict, values: list[str]) -> None:
    for language in ("en", "es"):
        line = alert_line(alert, language)
        assert line["lang"] is None, (language, alert["message"])  # a sentence of the catalogue, not the API's English
        assert all(value in line["message"] for value in values), (language, line)
    assert alert_line(alert, "es")["message"] != alert_line(alert, "en")["message"]


def test_an_alert_no_sentence_reads_keeps_its_english_marked_as_english() -> None:
    line = alert_line({"kind": "something_new", "message": "a thing happened; do this"}, "es")
    assert line == {"kind": "something new", "message": "a thing happened; do this", "lang": "en"}
    assert alert_line({"kind": "fork", "message": "worded otherwise"}, "es")["kind"] == "Un registro contó dos historias"
