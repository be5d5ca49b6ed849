"""A peer that lies: every kind of bad data it serves or pushes is refused, nothing invalid is
stored, a fork it shows is proven and spread, and the honest nodes carry on.

The world of this module: honest nodes H1 and H2 (`tally serve`, real SQLite files), H2 peered only
with H1, and H1 peered with H2 and with one lying peer per lie. Each lying peer is an aiohttp server
of this test speaking /replication/ in msgpack (protocol/wire.py) and serving a real feed - signed
with that feed's own node key, carrying intents of members it admitted - spoiled in one precise way.
One peer per lie, because a node's sync with a peer stops at the first batch that does not verify:
separate peers let H1 meet every lie at once. H2 never hears of any liar; what it knows of them, it
knows from H1. Each liar is a configured peer of H1 with a node identity of its own (a real genesis
H1 holds), so the lies pushed directly are pushed as that peer, signed by its key: what is refused
here is the data, not the sender (a stranger's pushes: test_hold_reasons.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tallystick.protocol import limits
from tallystick.protocol.errors import TallyError
from tallystick.protocol.events import Act, AdmitMember, Checkpoint, Transfer
from tallystick.protocol.feed import start_feed, verify_batch
from tallystick.protocol.ids import KeyPair, hash32, id_to_text
from tallystick.protocol.wire import Events, events_decoder

from helpers.replication import (
    BackgroundLoop,
    FeedBuilder,
    LyingPeer,
    NodeProcess,
    Nodes,
    Offer,
    log_rows,
    refusal_of,
    signer_of,
    start_all,
    tally_json_many,
    wait_until,
    with_bad_signature,
)
from helpers.support import tally_json


@dataclass
class Lie:
    """One spoiled feed: what the liar serves, from which seq it is bad, and how H1 must refuse it
    when pulling it (the peer's `last_error` code) and when it is pushed to /replication/push."""

    feed: FeedBuilder
    offer: Offer
    bad_seq: int
    pull_code: str
    push_body: Events | bytes
    push_status: int
    push_code: str
    liar: LyingPeer | None = None


lie_names = [
    "bad_signature",
    "bad_member_signature",
    "broken_chain",
    "non_canonical_bytes",
    "batch_over_the_event_limit",
    "body_over_the_byte_limit",
    "transfer_past_the_debit_limit",
]


def admit_body(feed: FeedBuilder, name: str) -> Act:
    return feed.act_body(feed.admin_key, AdmitMember(member=KeyPair.generate().public, name=name))


def make_lies() -> dict[str, Lie]:
    lies: dict[str, Lie] = {}

    feed = FeedBuilder("Liar bad signature")
    events = [*feed.events, with_bad_signature(feed.next_event(admit_body(feed, "eve")))]
    lies["bad_signature"] = Lie(feed, Offer(events), 2, "bad_signature", Events(feed.feed, 1, events), 400, "bad_signature")

    # The event is signed by the feed's key; the member intent it carries is not the member's.
    feed = FeedBuilder("Liar bad member signature")
    body = feed.act_body_with_bad_member_signature(feed.admin_key, AdmitMember(member=KeyPair.generate().public, name="eve"))
    events = [*feed.events, feed.next_event(body)]
    lies["bad_member_signature"] = Lie(
        feed, Offer(events), 2, "bad_signature", Events(feed.feed, 1, events), 400, "bad_signature"
    )

    feed = FeedBuilder("Liar broken chain")
    events = [*feed.events, feed.next_event(admit_body(feed, "eve"), prev=hash32(b"not the event before"))]
    lies["broken_chain"] = Lie(feed, Offer(events), 2, "chain_broken", Events(feed.feed, 1, events), 400, "chain_broken")

    feed = FeedBuilder("Liar non-canonical")
    events = [*feed.events, feed.non_canonical_next_event(admit_body(feed, "eve"))]
    lies["non_canonical_bytes"] = Lie(
        feed, Offer(events), 2, "non_canonical", Events(feed.feed, 1, events), 400, "non_canonical"
    )

    # Every event valid; only their number is over the limit, whatever `limit` the puller asks for.
    feed = FeedBuilder("Liar oversize batch")
    for index in range(limits.replication_batch_events_max + 44):
        feed.admit(f"member {index}")
    lies["batch_over_the_event_limit"] = Lie(
        feed, Offer(list(feed.events), ignore_limit=True), 1, "malformed",
        Events(feed.feed, 1, list(feed.events)), 400, "malformed",
    )

    feed = FeedBuilder("Liar oversize body")
    oversize = b"\x00" * (limits.replication_body_bytes_max + 1)
    lies["body_over_the_byte_limit"] = Lie(
        feed, Offer(list(feed.events), body=oversize), 1, "malformed", oversize, 413, "too_large"
    )

    # A transfer past the payer's debit limit (0): signed by the feed's node key, the intent by a
    # member the feed admitted. Only the community's rules can refuse it.
    feed = FeedBuilder("Liar past the limit", debit_limit_minor=0)
    payer = feed.admit("eve")
    events = [*feed.events, feed.next_event(feed.act_body(payer, Transfer(to=feed.admin_key.public, amount_minor=1)))]
    # The pusher only relays the feed: the rule's code (`debit_limit`) is in the answer's `rule`.
    lies["transfer_past_the_debit_limit"] = Lie(
        feed, Offer(events), 3, "replica_breaks_rule", Events(feed.feed, 1, events), 422, "replica_breaks_rule"
    )
    assert list(lies) == lie_names
    return lies


@dataclass
class Fork:
    """A feed whose key signed two events at seq 2: `first` served to H1 before `second`."""

    feed: FeedBuilder
    first: list[bytes]
    second: list[bytes]
    later: bytes  # seq 3, following `first`: an event of the feed after it forked
    liar: LyingPeer | None = None


def make_fork() -> Fork:
    feed = FeedBuilder("Liar fork")
    first = [*feed.events, feed.next_event(admit_body(feed, "eve"))]
    second = [*feed.events, feed.next_event(admit_body(feed, "mallory"))]
    later = feed.next_event(admit_body(feed, "trent"), after=first)
    return Fork(feed, first, second, later)


@dataclass
class World:
    h1: NodeProcess
    h2: NodeProcess
    lies: dict[str, Lie]
    fork: Fork
    liars: list[LyingPeer] = field(default_factory=list)


@pytest.fixture(scope="module")
def world(module_nodes: Nodes, background: BackgroundLoop) -> Iterator[World]:
    lies, fork = make_lies(), make_fork()
    liars = []
    for lie in lies.values():
        lie.liar = LyingPeer(background).start()
        lie.liar.offer({lie.feed.feed: lie.offer})
        liars.append(lie.liar)
    fork.liar = LyingPeer(background).start()
    fork.liar.offer({fork.feed.feed: Offer(fork.first)})
    liars.append(fork.liar)
    h1, h2 = module_nodes.create(2)
    h1.peers = [h2.url, *(liar.url for liar in liars)]
    h2.peers = [h1.url]
    try:
        start_all([h1, h2])
        for liar in liars:  # each liar's own feed: then H1 takes its signed pushes
            wait_until(lambda liar=liar: liar.identity.feed_text in h1.feeds(), f"H1 holding {liar.url}'s own feed")
        yield World(h1, h2, lies, fork, liars)
    finally:
        failures = module_nodes.stop_all()
        for liar in liars:
            liar.close()
        assert not failures, "\n".join(failures)


def held_seq(node: NodeProcess, feed: FeedBuilder) -> int:
    """The seq `status --json` shows for `feed` on `node`: 0 if it does not hold it."""
    return node.feeds().get(feed.feed_text, {}).get("seq", 0)


def wait_for_outcome(world: World, lie: Lie) -> str | None:
    """Wait until H1 has dealt with the liar's data: refused it (returns the peer's `last_error`),
    or stored it up to the bad seq (returns None; the caller's assertion then says what was kept)."""
    assert lie.liar is not None
    liar_url = lie.liar.url

    def outcome() -> tuple[str | None] | None:
        error = world.h1.peer(liar_url)["last_error"]
        if error is not None and error.startswith(lie.pull_code + ":"):
            return (error,)
        return (None,) if held_seq(world.h1, lie.feed) >= lie.bad_seq else None

    (error,) = wait_until(
        outcome, f"H1 refusing the liar's data ({lie.pull_code})", describe=lambda: world.h1.peer(liar_url)
    )
    return error


# ---- what H1 pulls from a liar ----------------------------------------------------------------


@pytest.mark.parametrize("name", lie_names)
def test_bad_data_served_by_a_lying_peer_is_refused_and_never_stored(world: World, name: str) -> None:
    lie = world.lies[name]
    refusal = wait_for_outcome(world, lie)
    held = held_seq(world.h1, lie.feed)
    assert held < lie.bad_seq, f"H1 stored the liar's feed up to seq {held}; event {lie.bad_seq} does not verify"
    assert refusal is not None and refusal.startswith(lie.pull_code + ":")
    assert held_seq(world.h2, lie.feed) < lie.bad_seq


# ---- the same data, pushed -----------------------------------------------------------------------


@pytest.mark.parametrize("name", lie_names)
def test_bad_data_pushed_directly_is_refused_with_a_stable_code_and_never_stored(world: World, name: str) -> None:
    lie = world.lies[name]
    assert lie.liar is not None
    assert refusal_of(world.h1.push(lie.push_body, lie.liar.signer)) == (lie.push_status, lie.push_code)
    assert held_seq(world.h1, lie.feed) < lie.bad_seq


def test_a_checkpoint_that_does_not_match_is_refused_and_raised_as_an_alert(world: World) -> None:
    """A feed whose author hashes a state no replica derives: refused as a broken rule
    (`replica_breaks_rule`, the rule `checkpoint_mismatch`), and an algedonic alert names the feed."""
    feed = FeedBuilder("Wrong checkpoint")
    feed.append(admit_body(feed, "eve"))
    wrong = feed.next_event(Checkpoint(state_hash=hash32(b"not the state")))
    pusher = world.liars[0].signer
    answer = world.h1.push(Events(feed.feed, 1, [*feed.events, wrong]), pusher)
    assert refusal_of(answer) == (422, "replica_breaks_rule")
    assert answer.json()["rule"] == "checkpoint_mismatch"
    alerts = [a for a in world.h1.status()["alerts"] if a["kind"] == "checkpoint_mismatch"]
    assert [a["feed"] for a in alerts] == [feed.feed_text]
    assert held_seq(world.h1, feed) == 0  # the run is refused whole, its genesis too (protocol.md §16.2)


def test_a_fork_pushed_directly_is_refused_as_feed_frozen_and_proven(world: World) -> None:
    feed = FeedBuilder("Pushed fork")
    first = [*feed.events, feed.next_event(admit_body(feed, "eve"))]
    second = feed.next_event(admit_body(feed, "mallory"), after=feed.events)
    pusher = world.liars[0].signer
    assert world.h1.push(Events(feed.feed, 1, first), pusher).status == 200
    assert refusal_of(world.h1.push(Events(feed.feed, 2, [second]), pusher)) == (409, "feed_frozen")
    assert feed.feed_text in {fork["feed"] for fork in world.h1.status()["forks"]}
    assert world.h1.event_hash_at(feed.feed, 2) == id_to_text("h", hash32(first[1]))


# ---- a fork shown at different times -------------------------------------------------------------


@pytest.fixture(scope="module")
def forked(world: World) -> Fork:
    """H1 and H2 hold the first half of the fork; then the liar shows H1 the second half."""
    fork = world.fork
    for node in (world.h1, world.h2):
        wait_until(lambda node=node: held_seq(node, fork.feed) == 2, f"{node.url} holding the liar's feed up to seq 2")
    assert fork.liar is not None
    fork.liar.offer({fork.feed.feed: Offer(fork.second)})
    return fork


def fork_alerts(node: NodeProcess, feed: FeedBuilder) -> list[dict[str, object]]:
    return [alert for alert in node.status()["alerts"] if alert["kind"] == "fork" and alert["feed"] == feed.feed_text]


def test_a_fork_shown_at_different_times_is_proven_and_raised_as_an_alert(world: World, forked: Fork) -> None:
    wait_until(lambda: fork_alerts(world.h1, forked.feed), "H1 raising a fork alert", describe=world.h1.status)
    status = tally_json("--node", world.h1.url, "status", "--json")
    proofs = [fork for fork in status["forks"] if fork["feed"] == forked.feed.feed_text]
    assert len(proofs) == 1 and proofs[0]["seq"] == 2
    proof = bytes.fromhex(proofs[0]["proof"])
    assert forked.first[1] in proof and forked.second[1] in proof  # both signed events are kept
    assert any(alert["kind"] == "fork" and alert["feed"] == forked.feed.feed_text for alert in status["alerts"])


def test_a_fork_proof_spreads_to_an_honest_node_that_never_talked_to_the_liar(world: World, forked: Fork) -> None:
    assert all(peer["url"] == world.h1.url for peer in world.h2.status()["peers"])
    wait_until(lambda: fork_alerts(world.h2, forked.feed), "H2 raising the fork alert", describe=world.h2.status)
    assert forked.feed.feed_text in {fork["feed"] for fork in world.h2.status()["forks"]}


def test_a_forked_feed_is_frozen_and_later_events_of_it_are_refused(world: World, forked: Fork) -> None:
    for node in (world.h1, world.h2):
        wait_until(lambda node=node: fork_alerts(node, forked.feed), f"{node.url} raising the fork alert")
    assert forked.liar is not None
    forked.liar.offer({forked.feed.feed: Offer([*forked.first, forked.later])})
    for node, pusher in ((world.h1, forked.liar.signer), (world.h2, signer_of(world.h1))):
        assert refusal_of(node.push(Events(forked.feed.feed, 3, [forked.later]), pusher)) == (409, "feed_frozen")
    # The liar now announces seq 3; a frozen feed is not pulled either.
    heads_asked = len([r for r in forked.liar.requests if r.startswith("/replication/heads")])
    wait_until(
        lambda: len([r for r in forked.liar.requests if r.startswith("/replication/heads")]) >= heads_asked + 2,
        "H1 reading the liar's heads twice more",
    )
    assert held_seq(world.h1, forked.feed) == 2
    assert held_seq(world.h2, forked.feed) == 2


# ---- the honest nodes carry on -------------------------------------------------------------------


def test_honest_nodes_keep_serving_and_replicating_each_other_among_lies(world: World) -> None:
    alice, bob = world.h2.admit("alice"), world.h2.admit("bob")
    paid_at_h2 = world.h2.pay(alice, bob, 5_00)
    carol, dave = world.h1.admit("carol"), world.h1.admit("dave")
    paid_at_h1 = world.h1.pay(carol, dave, 7_00)
    wait_until(lambda: held_seq_text(world.h1, world.h2.feed_text) >= paid_at_h2["seq"], "H1 holding H2's payment")
    wait_until(lambda: held_seq_text(world.h2, world.h1.feed_text) >= paid_at_h1["seq"], "H2 holding H1's payment")
    assert world.h1.event_hash_at(world.h2.feed, paid_at_h2["seq"]) == paid_at_h2["hash"]
    assert world.h2.event_hash_at(world.h1.feed, paid_at_h1["seq"]) == paid_at_h1["hash"]


def held_seq_text(node: NodeProcess, feed_text: str) -> int:
    return node.feeds().get(feed_text, {}).get("seq", 0)


def test_every_feed_the_honest_nodes_stored_is_authenticated_by_its_author(world: World) -> None:
    """What must hold, 1, as DESIGN.md's Replication section defines it: every stored run links,
    decodes canonically and ends in an event its author's key signed, read straight from the
    SQLite file (the author's signature on the last event covers, by the hash chain, every event
    before it)."""
    for lie in world.lies.values():
        wait_for_outcome(world, lie)
    failures = {node.home.parent.name: unauthenticated_feeds(node.home) for node in (world.h1, world.h2)}
    assert failures == {world.h1.home.parent.name: [], world.h2.home.parent.name: []}, (
        f"stored feeds that do not verify: {failures}"
    )


def unauthenticated_feeds(home: Path) -> list[str]:
    failures = []
    for feed in feeds_in_store(home):
        rows = log_rows(home, feed)
        head, _ = start_feed(rows[0][4])
        try:
            verify_batch(head, [raw for _seq, _hash, _ts, _kind, raw in rows[1:]])
        except TallyError as error:
            failures.append(f"{id_to_text('n', feed)}: {error.code}")
    return failures


def test_a_bad_signature_inside_a_signed_run_is_authenticated_by_the_chain_and_never_served_as_a_runs_end(
    world: World,
) -> None:
    """The author's signature on event 3 covers event 2 (whose own signature is spoiled) through the
    chain, so the run is the author's and is kept, as DESIGN.md's batch rule says; but event 2 is
    never served as the end of a run, where it would have to verify on its own."""
    feed = FeedBuilder("Author with a spoiled signature mid-run")
    spoiled = with_bad_signature(feed.next_event(admit_body(feed, "eve")))
    events = [*feed.events, spoiled]
    events.append(feed.next_event(admit_body(feed, "mallory"), after=events))
    assert world.h1.push(Events(feed.feed, 1, events), world.liars[0].signer).status == 200
    assert world.h1.event_hash_at(feed.feed, 2) is None  # event 2 alone does not verify: not served
    assert world.h1.event_hash_at(feed.feed, 3) == id_to_text("h", hash32(events[2]))
    served = world.h1.read(f"/replication/feeds/{feed.feed_text}?from=1&limit=2")
    assert events_decoder.decode(served.body).events == [events[0]]  # the run is cut before event 2
    wait_until(lambda: held_seq(world.h2, feed) == 3, "H2 holding the whole authenticated run")


def feeds_in_store(home: Path) -> list[bytes]:
    database = sqlite3.connect(f"file:{home / 'tally.db'}?mode=ro", uri=True)
    try:
        return [bytes(feed) for (feed,) in database.execute("SELECT DISTINCT feed FROM log")]
    finally:
        database.close()


def test_the_honest_nodes_verify_offline_after_meeting_every_lie(world: World) -> None:
    for lie in world.lies.values():
        wait_for_outcome(world, lie)
    assert [world.h1.stop(), world.h2.stop()] == [0, 0]
    reports = tally_json_many(["verify", world.h1.home, "--json"], ["verify", world.h2.home, "--json"])
    assert [report["ok"] for report in reports] == [True, True]

