"""A node holds a feed only with a reason, and takes pushes and fork proofs only from a node it
holds (docs/federation.md, "What a node holds" and "Signed requests").

The world of each test: a real `tally serve` node N, and a lying peer L (an aiohttp server of this
test, with a node identity of its own) that N lists as a peer. L serves feeds made by FeedBuilder
(real signed events): N pulls them as feeds its configured peer vouches for. A stranger is a fresh
key and genesis N has never heard of.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from tallystick.protocol.codec import encode
from tallystick.protocol.events import AdmitMember, ForkProof
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text
from tallystick.protocol.wire import Events, Forks, heads_decoder

from helpers.replication import (
    BackgroundLoop,
    FeedBuilder,
    LyingPeer,
    NodeProcess,
    Nodes,
    Offer,
    refusal_of,
    signed_headers,
    signer_of,
    signer_of_feed,
    wait_until,
)
from helpers.support import clean_environment


@dataclass
class World:
    node: NodeProcess
    liar: LyingPeer
    vouched: FeedBuilder  # a feed L serves: N holds it, vouched for by L


def admit_someone(feed: FeedBuilder, name: str) -> bytes:
    return feed.next_event(feed.act_body(feed.admin_key, AdmitMember(member=KeyPair.generate().public, name=name)))


def snapshot(node: NodeProcess) -> tuple[dict[str, object], list[dict[str, object]], list[dict[str, object]]]:
    """What must not change when a request is refused: the feeds held, the alerts, the fork proofs."""
    status = node.status()
    return status["feeds"], status["alerts"], status["forks"]


@pytest.fixture
def world(nodes: Nodes, background: BackgroundLoop) -> Iterator[World]:
    """A fresh world, for a test that changes what the node holds or alerts."""
    with made_world(nodes, background) as made:
        yield made


@pytest.fixture(scope="module")
def read_world(module_nodes: Nodes, background: BackgroundLoop) -> Iterator[World]:
    """One world for the module's tests that only read (a bad parameter changes nothing)."""
    with made_world(module_nodes, background) as made:
        yield made


@contextlib.contextmanager
def made_world(nodes: Nodes, background: BackgroundLoop) -> Iterator[World]:
    liar = LyingPeer(background).start()
    vouched = FeedBuilder("Vouched for")
    vouched.admit("eve")
    liar.offer({vouched.feed: Offer(list(vouched.events))})
    (node,) = nodes.create(1)
    node.peers = [liar.url]
    try:
        node.start()
        wait_until(lambda: {liar.identity.feed_text, vouched.feed_text} <= set(node.feeds()), "N holding L's feeds")
        yield World(node, liar, vouched)
    finally:
        liar.close()


def test_a_strangers_junk_genesis_pushed_unsigned_is_refused_403_and_changes_nothing(world: World) -> None:
    before = snapshot(world.node)
    junk = FeedBuilder("Junk")
    assert refusal_of(world.node.push(Events(junk.feed, 1, junk.events))) == (403, "unsigned_request")
    assert snapshot(world.node) == before


def test_a_strangers_junk_genesis_signed_by_its_own_key_is_refused_403_and_changes_nothing(world: World) -> None:
    """The attack of the issue: a self-signed genesis, pushed as its own node. N has no reason."""
    before = snapshot(world.node)
    for index in range(20):
        junk = FeedBuilder(f"Junk {index}")
        answer = world.node.push(Events(junk.feed, 1, junk.events), signer_of_feed(junk))
        assert refusal_of(answer) == (403, "unknown_peer")
    assert snapshot(world.node) == before


def test_a_held_node_that_is_no_peer_pushing_a_feed_with_no_reason_is_refused_403(world: World) -> None:
    """The vouched feed's node is held by N, so its requests authenticate; but it is not a peer of
    N, so it cannot vouch for a new feed. Its own feed it may still push."""
    before = snapshot(world.node)
    junk = FeedBuilder("Junk from a held node")
    pusher = signer_of_feed(world.vouched)
    assert refusal_of(world.node.push(Events(junk.feed, 1, junk.events), pusher)) == (403, "no_reason")
    assert snapshot(world.node) == before
    later = admit_someone(world.vouched, "frank")
    assert world.node.push(Events(world.vouched.feed, 3, [later]), pusher).status == 200
    assert world.node.feeds()[world.vouched.feed_text]["seq"] == 3


def test_a_configured_peers_signed_push_of_a_new_feed_is_taken(world: World) -> None:
    fresh = FeedBuilder("Pushed by the peer")
    fresh.admit("gina")
    answer = world.node.push(Events(fresh.feed, 1, fresh.events), world.liar.signer)
    assert answer.status == 200, answer.body[:300]
    assert world.node.feeds()[fresh.feed_text]["seq"] == 2


def fork_proof_of(feed: FeedBuilder) -> bytes:
    """Two events the feed's key signed at seq len+1: `first` is the one N holds (pushed first)."""
    first, second = admit_someone(feed, "x"), admit_someone(feed, "y")
    seq = len(feed.events) + 1
    return encode(ForkProof(feed=feed.feed, seq=seq, first=min(first, second), second=max(first, second)))


def fork_alerts(node: NodeProcess, feed: FeedBuilder) -> list[dict[str, object]]:
    return [alert for alert in node.alerts() if alert["kind"] == "fork" and alert.get("feed") == feed.feed_text]


def test_a_fork_proof_from_a_stranger_is_refused_403_and_changes_nothing(world: World) -> None:
    proof = fork_proof_of(world.vouched)
    before = snapshot(world.node)
    assert refusal_of(world.node.post_forks([proof])) == (403, "unsigned_request")
    stranger = FeedBuilder("Stranger")
    assert refusal_of(world.node.post_forks([proof], signer_of_feed(stranger))) == (403, "unknown_peer")
    assert snapshot(world.node) == before


def test_the_same_fork_shown_many_times_raises_one_alert(world: World) -> None:
    proof = fork_proof_of(world.vouched)
    other_proof = fork_proof_of(world.vouched)  # another pair of events at the same seq
    for raw in (proof, proof, other_proof):
        assert world.node.post_forks([raw], world.liar.signer).status == 200
    assert len(fork_alerts(world.node, world.vouched)) == 1
    assert [fork["feed"] for fork in world.node.status()["forks"]] == [world.vouched.feed_text]


def test_a_fork_proof_of_a_feed_the_node_does_not_hold_is_not_kept_and_raises_nothing(world: World) -> None:
    elsewhere = FeedBuilder("Forked elsewhere")
    before = snapshot(world.node)
    assert world.node.post_forks([fork_proof_of(elsewhere)], world.liar.signer).status == 200
    assert snapshot(world.node) == before


# ---- the heads exchange pages: no held feed is ever hidden ----------------------------------------


def heads_page(node: NodeProcess, query: str) -> list[bytes]:
    answer = node.read(f"/replication/heads?{query}")
    assert answer.status == 200, answer.body[:300]
    return [head.feed for head in heads_decoder.decode(answer.body).heads]


def test_the_heads_answer_pages_by_feed_id_and_every_held_feed_is_on_a_page(world: World) -> None:
    many = [FeedBuilder(f"Feed {index}") for index in range(12)]
    for feed in many:
        assert world.node.push(Events(feed.feed, 1, feed.events), world.liar.signer).status == 200
    held = sorted(id_from(text) for text in world.node.feeds())
    assert len(held) == 3 + len(many)
    pages, after = [], ""
    while True:
        page = heads_page(world.node, f"limit=4{after}")
        pages.append(page)
        if len(page) < 4:
            break
        after = f"&after={to_text(page[-1])}"
    assert [feed for page in pages for feed in page] == held  # every feed once, in id order
    assert all(len(page) == 4 for page in pages[:-1])


@pytest.mark.parametrize("query", ["limit=0", "limit=10001", "limit=%C2%B2", "limit=-1", "after=n_nope", "key=k_x"])
def test_a_bad_heads_parameter_is_a_400_never_a_500(read_world: World, query: str) -> None:
    answer = read_world.node.read(f"/replication/heads?{query}")
    assert refusal_of(answer)[0] == 400, answer.body[:300]


def id_from(text: str) -> bytes:
    return id_from_text("n", text)


def to_text(feed: bytes) -> str:
    return id_to_text("n", feed)


def test_a_node_pulls_every_feed_of_a_peer_whose_heads_take_several_pages(nodes: Nodes, background: BackgroundLoop) -> None:
    """N reads its peer's heads 3 feeds a page (TALLY_HEADS_PAGE_FEEDS=3): the peer's 11 feeds all
    reach it, the last by id included (a single page would have hidden 8 of them)."""
    liar = LyingPeer(background).start()
    many = [FeedBuilder(f"Paged {index}") for index in range(10)]
    liar.offer({feed.feed: Offer(list(feed.events)) for feed in many})
    try:
        (node,) = nodes.create(1)
        node.peers = [liar.url]
        node.environment = clean_environment(TALLY_HEADS_PAGE_FEEDS="3")
        node.start()
        wanted = {liar.identity.feed_text, *(feed.feed_text for feed in many)}
        wait_until(lambda: wanted <= set(node.feeds()), "N holding every feed of its peer", describe=node.feeds)
        heads_asked = [request for request in liar.requests if request.startswith("/replication/heads")]
        assert any("after=" in request and "limit=3" in request for request in heads_asked)
    finally:
        liar.close()


# ---- a named limit on feeds held ------------------------------------------------------------------


def test_past_its_limit_a_node_takes_no_more_vouched_feeds_but_still_its_anchors(
    nodes: Nodes, background: BackgroundLoop
) -> None:
    """TALLY_FEEDS_HELD_MAX=5: N holds its own feed, its two peers' own feeds (anchors: a real node
    P and the liar L), and two of the ten feeds L vouches for; one `feeds_limit` alert; a signed push
    of one more is refused 403 feeds_limit; P's new events still arrive."""
    liar = LyingPeer(background).start()
    junk = [FeedBuilder(f"Junk {index}") for index in range(10)]
    liar.offer({feed.feed: Offer(list(feed.events)) for feed in junk})
    try:
        node, peer_node = nodes.create(2)
        node.environment = clean_environment(TALLY_FEEDS_HELD_MAX="5")
        node.peers = [peer_node.url, liar.url]
        peer_node.peers = [node.url]
        node.launch()
        peer_node.launch()
        node.wait_for_status()
        peer_node.wait_for_status()
        anchors = {node.feed_text, peer_node.feed_text, liar.identity.feed_text}
        wait_until(lambda: anchors <= set(node.feeds()) and len(node.feeds()) >= 5, "N holding its anchors and more",
                   describe=node.feeds)
        # Vouched feeds stop at 5 held; an anchor learned after that (P's feed, if L's junk came
        # first) still enters, so N holds 2 or 3 of the junk feeds.
        held = set(node.feeds())
        assert 2 <= len(held - anchors) <= 3 and len(held) <= 6, held
        assert [alert["kind"] for alert in node.alerts()] == ["feeds_limit"]
        one_more = FeedBuilder("One more")
        assert refusal_of(node.push(Events(one_more.feed, 1, one_more.events), liar.signer)) == (403, "feeds_limit")
        assert set(node.feeds()) == held
        peer_node.admit("hana")
        written_seq = peer_node.status()["seq"]
        wait_until(lambda: node.feeds()[peer_node.feed_text]["seq"] >= written_seq, "N holding its peer's new event")
        assert [alert["kind"] for alert in node.alerts()] == ["feeds_limit"]  # raised once
    finally:
        liar.close()


def test_a_replayed_fork_post_is_refused(world: World) -> None:
    proof = fork_proof_of(world.vouched)
    body = encode(Forks([proof]))
    headers = signed_headers(world.liar.signer, "/replication/forks", body, ts=time.time_ns() // 1_000_000)
    assert world.node.post_signed("/replication/forks", body, headers).status == 200
    assert refusal_of(world.node.post_signed("/replication/forks", body, headers)) == (403, "replayed_request")
    assert len(fork_alerts(world.node, world.vouched)) == 1


def test_a_configured_peer_pushes_signed_by_its_node_key(nodes: Nodes) -> None:
    """Two real nodes, peered both ways: B takes a new feed pushed by A, signed by A's node key
    (read from A's home as the replicator reads it), and refuses the same push unsigned."""
    a, b = nodes.create(2)
    a.peers, b.peers = [b.url], [a.url]
    a.start()
    b.start()
    wait_until(lambda: a.feed_text in b.feeds() and b.feed_text in a.feeds(), "A and B holding each other")
    fresh = FeedBuilder("Pushed by A")
    assert refusal_of(b.push(Events(fresh.feed, 1, fresh.events))) == (403, "unsigned_request")
    assert fresh.feed_text not in b.feeds()
    assert b.push(Events(fresh.feed, 1, fresh.events), signer_of(a)).status == 200
    assert fresh.feed_text in b.feeds()


@pytest.mark.parametrize(
    "query", ["from=0", "from=%C2%B2", "from=9223372036854775808", "from=99999999999999999999", "limit=0", "limit=%D9%A3", "limit=257"]
)
def test_a_bad_range_parameter_is_a_400_never_a_500(read_world: World, query: str) -> None:
    answer = read_world.node.read(f"/replication/feeds/{read_world.vouched.feed_text}?{query}")
    assert refusal_of(answer) == (400, "malformed"), answer.body[:300]


def test_a_range_from_the_largest_seq_is_an_empty_run(read_world: World) -> None:
    answer = read_world.node.read(f"/replication/feeds/{read_world.vouched.feed_text}?from=9223372036854775807")
    assert answer.status == 200
