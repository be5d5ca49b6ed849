"""A signed request is checked against the sender feed's current key, as the receiver holds that
feed: after `tally key rotate`, a node's pushes are taken signed by its new key once the receiver
holds the rotation, and refused signed by the old one (docs/federation.md, "Signed requests").

Two real nodes A and B, peered both ways. A is rotated offline and restarted; B pulls the rotation.
"""

from __future__ import annotations

from tallystick.protocol.wire import Events

from helpers.replication import FeedBuilder, Nodes, Signer, refusal_of, signer_of, wait_until
from helpers.support import key_from_file, tally


def test_after_a_key_rotation_pushes_verify_by_the_new_key_and_not_the_old(nodes: Nodes) -> None:
    a, b = nodes.create(2)
    a.peers, b.peers = [b.url], [a.url]
    a.start()
    b.start()
    wait_until(lambda: a.feed_text in b.feeds(), "B holding A's feed")
    old = Signer(a.feed, key_from_file(a.home / "node.key"))
    assert a.stop() == 0
    done = tally("key", "rotate", a.home, "--recovery", a.home / "recovery.key", "--json")
    assert done.returncode == 0, done.stderr
    a.start()
    rotated_seq = a.status()["seq"]
    wait_until(lambda: b.feeds()[a.feed_text]["seq"] >= rotated_seq, "B holding A's rotation")

    before = b.feeds()
    by_old = FeedBuilder("Signed by the old key")
    answer = b.push(Events(by_old.feed, 1, by_old.events), old)
    assert refusal_of(answer) == (403, "bad_request_signature")
    assert b.feeds() == before

    new = signer_of(a)
    assert new.key.public != old.key.public
    by_new = FeedBuilder("Signed by the new key")
    assert b.push(Events(by_new.feed, 1, by_new.events), new).status == 200
    assert by_new.feed_text in b.feeds()
