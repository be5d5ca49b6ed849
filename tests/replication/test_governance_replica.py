"""Replicas refuse governance that breaks the floors: a real `tally serve` (H1) is pushed feeds,
signed by their own node keys with intents signed by members they admitted, by a configured peer
(a lying peer of this test with a node identity H1 holds), each spoiled in one governance way:

- a proposal below the floors (the issue's attack: a consent, quorum 0, 1.5 s, raising the
  proposer's own debit limit) that the feed's node appended without checking;
- a close that passes a decision before its deadline, with no unanimity;
- a close that passes a decision whose floors rose while it was open.

Each is refused as `replica_breaks_rule` (the pusher only relays the feed), with the rule's own
stable code in `rule`, and nothing of it is stored; the same feed up to the event before the bad
one is taken, so what is refused is the one bad event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from tallystick.protocol.events import (
    DecisionClosed,
    Floor,
    Propose,
    ProposeWithPeriod,
    SetFloors,
    SetLimits,
    Vote,
)
from tallystick.protocol.wire import Events

from helpers.replication import (
    BackgroundLoop,
    FeedBuilder,
    LyingPeer,
    NodeProcess,
    Nodes,
    refusal_of,
    start_all,
    wait_until,
)

hour_ms = 3600 * 1000


@dataclass
class World:
    h1: NodeProcess
    peer: LyingPeer


@pytest.fixture(scope="module")
def world(module_nodes: Nodes, background: BackgroundLoop) -> Iterator[World]:
    peer = LyingPeer(background).start()
    (h1,) = module_nodes.create(1)
    h1.peers = [peer.url]
    try:
        start_all([h1])
        wait_until(lambda: peer.identity.feed_text in h1.feeds(), f"H1 holding {peer.url}'s own feed")
        yield World(h1, peer)
    finally:
        failures = module_nodes.stop_all()
        peer.close()
        assert not failures, "\n".join(failures)


def held_seq(node: NodeProcess, feed: FeedBuilder) -> int:
    return node.feeds().get(feed.feed_text, {}).get("seq", 0)


def assert_refused_from(world: World, feed: FeedBuilder, bad: bytes, code: str) -> None:
    """Pushing the feed up to `bad` is refused as a broken rule whose code is `code`; without `bad`
    it is taken whole."""
    good = list(feed.events)
    answer = world.h1.push(Events(feed.feed, 1, [*good, bad]), world.peer.signer)
    assert refusal_of(answer) == (422, "replica_breaks_rule"), answer.body[:300]
    assert answer.json()["rule"] == code, answer.body[:300]
    assert held_seq(world.h1, feed) < len(good) + 1
    assert world.h1.push(Events(feed.feed, 1, good), world.peer.signer).status == 200
    assert held_seq(world.h1, feed) == len(good)


def test_a_proposal_below_the_floors_in_a_pushed_feed_is_refused_below_floor(world: World) -> None:
    feed = FeedBuilder("Quick consent")
    mallory = feed.admit("Mallory")
    feed.admit("Bea")
    attack = Propose("consent", "Quick one", "", feed.ts + 1500, quorum_bp=0,
                     effect=SetLimits(mallory.public, 10**15, None))
    assert_refused_from(world, feed, feed.next_event(feed.act_body(mallory, attack)), "below_floor")


def test_a_close_that_passes_a_decision_before_its_deadline_without_unanimity_is_refused(world: World) -> None:
    feed = FeedBuilder("Early close")
    bea = feed.admit("Bea")
    feed.admit("Cal")
    feed.append(feed.act_body(bea, ProposeWithPeriod("consent", "A bigger limit", "", 0, voting_period_ms=48 * hour_ms,
                                                     effect=SetLimits(bea.public, 500, None))))
    decision = len(feed.events)
    for voter in (feed.admin_key, bea):
        feed.append(feed.act_body(voter, Vote(decision=decision, position="agree")))
    early = feed.next_event(DecisionClosed(decision=decision, outcome="passed"))
    assert_refused_from(world, feed, early, "decision_not_due")


def test_a_close_that_passes_a_decision_below_floors_raised_while_it_was_open_is_refused(world: World) -> None:
    feed = FeedBuilder("Floors rose")
    bea = feed.admit("Bea")
    cal = feed.admit("Cal")
    feed.append(feed.act_body(bea, ProposeWithPeriod("consent", "A bigger limit", "", 0, voting_period_ms=48 * hour_ms,
                                                     effect=SetLimits(bea.public, 500, None))))
    limits_decision = len(feed.events)
    stricter = SetFloors((Floor("limits", 10_000, 5000, 48 * hour_ms), Floor("rules", 10_000, 6667, 72 * hour_ms)))
    feed.append(feed.act_body(feed.admin_key, ProposeWithPeriod("proposal", "Everyone, for limits", "", 0,
                                                                voting_period_ms=72 * hour_ms, effect=stricter)))
    floors_decision = len(feed.events)
    for voter in (feed.admin_key, bea, cal):
        feed.append(feed.act_body(voter, Vote(decision=floors_decision, position="agree")))
    feed.append(DecisionClosed(decision=floors_decision, outcome="passed"))  # unanimous: closes early
    for voter in (feed.admin_key, bea):  # two of three: the old floor (50 %), not the new (100 %)
        feed.append(feed.act_body(voter, Vote(decision=limits_decision, position="agree")))
    feed.ts += 48 * hour_ms  # the deadline has come
    late = feed.next_event(DecisionClosed(decision=limits_decision, outcome="passed"))
    assert_refused_from(world, feed, late, "below_floor")
