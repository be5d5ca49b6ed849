"""A run is stored whole or not at all (protocol.md §16.2), a feed's first run too; and a run that
breaks a community's rule is refused as the fault of whoever sent it, naming the feed.

The world of this module: one real `tally serve` node N, and a lying peer L (an aiohttp server of
this test with a node identity of its own) that N lists as a peer, so that N takes L's signed pushes
of feeds new to it. Each test pushes a feed N has never seen, made by FeedBuilder (real signed
events), spoiled in one way after its genesis. Before the fix, N kept that genesis when it refused
the run, and then took a run of the same feed from seq 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from tallystick.protocol.events import AdmitMember, Checkpoint, Transfer
from tallystick.protocol.ids import KeyPair, hash32
from tallystick.protocol.wire import Events, heads_decoder

from helpers.replication import (
    BackgroundLoop,
    FeedBuilder,
    LyingPeer,
    NodeProcess,
    Nodes,
    refusal_of,
    wait_until,
)


@dataclass
class World:
    node: NodeProcess
    liar: LyingPeer


@pytest.fixture(scope="module")
def world(module_nodes: Nodes, background: BackgroundLoop) -> Iterator[World]:
    liar = LyingPeer(background).start()
    (node,) = module_nodes.create(1)
    node.peers = [liar.url]
    try:
        node.start()
        wait_until(lambda: liar.identity.feed_text in node.feeds(), "N holding its peer's own feed")
        yield World(node, liar)
    finally:
        liar.close()


def admission(feed: FeedBuilder, name: str) -> bytes:
    """The next event of `feed`: its admin admits a new member (valid, not appended)."""
    return feed.next_event(feed.act_body(feed.admin_key, AdmitMember(member=KeyPair.generate().public, name=name)))


def assert_not_held_and_a_later_run_from_seq_2_is_not_taken(world: World, feed: FeedBuilder, second: bytes) -> None:
    """N holds nothing of `feed`, and a valid run from seq 2 (`second`, linking to the genesis) is
    answered with no head: it leaves a gap after what N holds (nothing), so N ignores it."""
    assert feed.feed_text not in world.node.feeds()
    answer = world.node.push(Events(feed.feed, 2, [second]), world.liar.signer)
    assert answer.status == 200, answer.body[:300]
    assert heads_decoder.decode(answer.body).heads == []
    assert feed.feed_text not in world.node.feeds()


def test_a_new_feed_refused_for_a_broken_link_is_not_kept(world: World) -> None:
    feed = FeedBuilder("Broken link")
    second = admission(feed, "eve")
    body = feed.act_body(feed.admin_key, AdmitMember(member=KeyPair.generate().public, name="mallory"))
    unlinked = feed.next_event(body, prev=hash32(b"not the genesis"))
    answer = world.node.push(Events(feed.feed, 1, [feed.events[0], unlinked]), world.liar.signer)
    assert refusal_of(answer) == (400, "chain_broken")
    assert_not_held_and_a_later_run_from_seq_2_is_not_taken(world, feed, second)


def test_a_new_feed_refused_for_a_checkpoint_that_does_not_match_is_not_kept(world: World) -> None:
    feed = FeedBuilder("Wrong checkpoint, new")
    second = feed.append(feed.act_body(feed.admin_key, AdmitMember(member=KeyPair.generate().public, name="eve")))
    wrong = feed.next_event(Checkpoint(state_hash=hash32(b"not the state")))
    answer = world.node.push(Events(feed.feed, 1, [*feed.events, wrong]), world.liar.signer)
    assert refusal_of(answer) == (422, "replica_breaks_rule")
    assert answer.json()["rule"] == "checkpoint_mismatch"
    assert_not_held_and_a_later_run_from_seq_2_is_not_taken(world, feed, second)


def test_a_new_feed_refused_for_a_broken_rule_is_not_kept(world: World) -> None:
    feed = FeedBuilder("Past the limit, new", debit_limit_minor=0)
    payer = feed.admit("eve")
    second = feed.events[1]
    past_the_limit = feed.next_event(feed.act_body(payer, Transfer(to=feed.admin_key.public, amount_minor=1)))
    answer = world.node.push(Events(feed.feed, 1, [*feed.events, past_the_limit]), world.liar.signer)
    assert refusal_of(answer) == (422, "replica_breaks_rule")
    assert_not_held_and_a_later_run_from_seq_2_is_not_taken(world, feed, second)


def test_a_run_that_breaks_a_rule_is_the_senders_fault_naming_the_feed_and_the_rule(world: World) -> None:
    """The rule's own code (`debit_limit`) would tell the pusher it broke the rule; it only relayed
    the feed. The answer names the feed and keeps the rule's code in `rule`; what N held stays."""
    feed = FeedBuilder("Past the limit, held", debit_limit_minor=0)
    payer = feed.admit("eve")
    assert world.node.push(Events(feed.feed, 1, list(feed.events)), world.liar.signer).status == 200
    assert world.node.feeds()[feed.feed_text]["seq"] == 2
    past_the_limit = feed.next_event(feed.act_body(payer, Transfer(to=feed.admin_key.public, amount_minor=1)))
    answer = world.node.push(Events(feed.feed, 3, [past_the_limit]), world.liar.signer)
    assert refusal_of(answer) == (422, "replica_breaks_rule")
    document = answer.json()
    assert document["feed"] == feed.feed_text and document["rule"] == "debit_limit"
    assert feed.feed_text in document["message"] and "debit_limit" in document["message"]
    assert world.node.feeds()[feed.feed_text]["seq"] == 2
