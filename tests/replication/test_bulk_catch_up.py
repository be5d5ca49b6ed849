"""Bulk catch-up: a feed longer than two batches is pulled with its member signatures checked in a
process pool ahead of the fold (DESIGN, Replication) - and that path refuses what the batch path does.

A lying peer of this test serves two long feeds built with the protocol's signer (admissions signed
by each feed's admin): one wholly valid, one whose event at `spoiled_seq` is signed by the feed's key
but carries a member intent with a bad signature. The honest node H has both liars as peers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from tallystick.protocol import limits
from tallystick.protocol.events import AdmitMember
from tallystick.protocol.ids import KeyPair, hash32, id_to_text

from helpers.replication import BackgroundLoop, FeedBuilder, LyingPeer, NodeProcess, Nodes, Offer, wait_until
from helpers.support import tally_json

# Long enough for the bulk path (more than two batches), small enough for the test budget.
feed_events = 3 * limits.replication_batch_events_max - 68
spoiled_seq = feed_events - 100


def long_feed(name: str, *, spoiled_at: int | None = None) -> FeedBuilder:
    feed = FeedBuilder(name)
    while len(feed.events) < feed_events:
        action = AdmitMember(member=KeyPair.generate().public, name=f"member {len(feed.events)}")
        if len(feed.events) + 1 == spoiled_at:
            feed.append(feed.act_body_with_bad_member_signature(feed.admin_key, action))
        else:
            feed.append(feed.act_body(feed.admin_key, action))
    return feed


@dataclass
class World:
    node: NodeProcess
    valid: FeedBuilder
    spoiled: FeedBuilder
    spoiled_liar: LyingPeer


@pytest.fixture(scope="module")
def world(module_nodes: Nodes, background: BackgroundLoop) -> Iterator[World]:
    valid, spoiled = long_feed("Long and valid"), long_feed("Long, spoiled deep inside", spoiled_at=spoiled_seq)
    liars = [LyingPeer(background).start(), LyingPeer(background).start()]
    liars[0].offer({valid.feed: Offer(valid.events)})
    liars[1].offer({spoiled.feed: Offer(spoiled.events)})
    (node,) = module_nodes.create(1)
    node.peers = [liar.url for liar in liars]
    try:
        node.start()
        yield World(node, valid, spoiled, liars[1])
    finally:
        failures = module_nodes.stop_all()
        for liar in liars:
            liar.close()
        assert not failures, "\n".join(failures)


def test_a_long_feed_is_caught_up_whole_in_bulk(world: World) -> None:
    expected = {"seq": feed_events, "head": id_to_text("h", hash32(world.valid.events[-1]))}
    wait_until(
        lambda: world.node.feeds().get(world.valid.feed_text) == expected,
        "H holding the whole long feed",
        describe=lambda: world.node.feeds().get(world.valid.feed_text),
    )


def test_a_bad_member_signature_deep_in_a_long_feed_is_refused_in_bulk_catch_up(world: World) -> None:
    wait_until(
        lambda: (world.node.peer(world.spoiled_liar.url)["last_error"] or "").startswith("bad_signature:"),
        "H refusing the spoiled long feed with bad_signature",
        describe=lambda: (world.node.peer(world.spoiled_liar.url), world.node.feeds().get(world.spoiled.feed_text)),
    )
    held = world.node.feeds().get(world.spoiled.feed_text, {}).get("seq", 0)
    assert held < spoiled_seq


def test_a_node_that_caught_up_in_bulk_verifies_offline(world: World) -> None:
    wait_until(lambda: world.node.feeds().get(world.valid.feed_text, {}).get("seq") == feed_events,
               "H holding the whole long feed")
    assert world.node.stop() == 0
    report = tally_json("verify", world.node.home, "--json")
    assert report["ok"] is True
    assert report["feeds"][world.valid.feed_text]["events"] == feed_events
