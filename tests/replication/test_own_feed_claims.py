"""Only the feed's own key can show that a home is stale: a claim that some peer holds a later head of
this node's feed is believed only once the events that prove it verify.

DESIGN, "Keys, recovery and fork safety": a node that a peer shows a later head of its own feed
refuses to write until `tally restore`. That rule protects against a real old backup; it must not
let anyone who can reach /replication/ stop a community's node with bytes its key never signed
(What must hold, 8: bad input gets a clear error and changes nothing). The "later event" in these
tests is well formed, names the node's feed, links to its head, and is signed by another key.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tallystick.protocol.codec import sign_event, sign_member_intent
from tallystick.protocol.events import AdmitMember, Checkpoint, Transfer
from tallystick.protocol.ids import KeyPair, hash32
from tallystick.protocol.wire import Events

from helpers.replication import (
    BackgroundLoop,
    LyingPeer,
    NodeProcess,
    Nodes,
    Offer,
    log_rows,
    refusal_of,
    wait_until,
)
from helpers.support import next_nonce


def own_feed(home: Path) -> bytes:
    database = sqlite3.connect(f"file:{home / 'tally.db'}?mode=ro", uri=True)
    try:
        (value,) = database.execute("SELECT value FROM meta WHERE key = 'own_feed'").fetchone()
        return bytes(value)
    finally:
        database.close()


def impostor_event(feed: bytes, after: bytes, seq: int) -> bytes:
    """The next event of `feed` after the event `after`, signed by a key that is not the feed's."""
    return sign_event(
        KeyPair.generate(), feed=feed, seq=seq, prev=hash32(after), ts=time.time_ns() // 1_000_000,
        body=Checkpoint(state_hash=bytes(32)),
    )


def write_one_transfer(node: NodeProcess) -> tuple[int, str]:
    """Admit two members and have one pay the other: (201, "accepted"), or the first refusal's
    (status, code)."""
    alice, bob = KeyPair.generate(), KeyPair.generate()
    writes = [
        (node.admin_key, AdmitMember(member=alice.public, name="alice")),
        (node.admin_key, AdmitMember(member=bob.public, name="bob")),
        (alice, Transfer(to=bob.public, amount_minor=1)),
    ]
    for key, action in writes:
        answer = node.post_intent(sign_member_intent(key, feed=node.feed, nonce=next_nonce(), action=action))
        if answer.status != 201:
            return refusal_of(answer)
    return 201, "accepted"


def test_an_impostor_event_pushed_as_a_nodes_own_next_event_is_refused_and_the_node_keeps_writing(
    nodes: Nodes, background: BackgroundLoop
) -> None:
    """Pushed by a peer the node holds, signed by that peer: the request is authenticated, the
    event is not (another key signed it)."""
    (node,) = nodes.create(1)
    liar = LyingPeer(background).start()
    try:
        node.peers = [liar.url]
        node.start()
        wait_until(lambda: liar.identity.feed_text in node.feeds(), "the node holding its peer's feed")
        genesis = log_rows(node.home, node.feed)[0][4]

        answer = node.push(Events(node.feed, 2, [impostor_event(node.feed, genesis, 2)]), liar.signer)

        assert refusal_of(answer) == (400, "bad_signature")
        assert node.status()["alerts"] == []
        assert write_one_transfer(node) == (201, "accepted")
    finally:
        liar.close()


def test_an_impostor_event_pushed_by_a_stranger_is_refused_before_it_is_read(nodes: Nodes) -> None:
    (node,) = nodes.create(1)
    node.start()
    genesis = log_rows(node.home, node.feed)[0][4]

    answer = node.push(Events(node.feed, 2, [impostor_event(node.feed, genesis, 2)]))

    assert refusal_of(answer) == (403, "unsigned_request")
    assert node.status()["alerts"] == []
    assert write_one_transfer(node) == (201, "accepted")


def test_a_peer_showing_an_impostor_head_of_a_nodes_own_feed_does_not_stop_it_writing(
    nodes: Nodes, background: BackgroundLoop
) -> None:
    (node,) = nodes.create(1)
    feed = own_feed(node.home)
    genesis = log_rows(node.home, feed)[0][4]
    liar = LyingPeer(background).start()
    try:
        liar.offer({feed: Offer([genesis, impostor_event(feed, genesis, 2)])})
        node.peers = [liar.url]
        node.start()
        assert write_one_transfer(node) == (201, "accepted"), node.status()["alerts"]
    finally:
        liar.close()
