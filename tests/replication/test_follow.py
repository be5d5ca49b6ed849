"""A node configured with `follow` replicates only those feeds (and its own), and refuses others,
even when a node it holds pushes them signed."""

from __future__ import annotations

import json

from helpers.replication import Nodes, refusal_of, signer_of, start_all, wait_until


def test_a_node_that_follows_one_feed_holds_that_feed_and_no_other(nodes: Nodes) -> None:
    hub, followed, other, follower = nodes.create(4)
    # The hub lists the follower too: a node holds another's feed only with a reason.
    hub.peers = [followed.url, other.url, follower.url]
    followed.peers = [hub.url]
    other.peers = [hub.url]
    follower.peers = [hub.url]
    start_all([hub, followed, other])
    config_path = follower.home / "config.json"
    config = json.loads(config_path.read_text())
    config["follow"] = [followed.feed_text]
    config_path.write_text(json.dumps(config))
    start_all([follower])
    wait_until(lambda: len(hub.feeds()) == 4, "the hub holding every feed")
    wait_until(lambda: followed.feed_text in follower.feeds(), "the follower holding the followed feed")
    assert set(follower.feeds()) == {follower.feed_text, followed.feed_text}
    served = hub.read(f"/replication/feeds/{other.feed_text}?from=1&limit=10")
    assert refusal_of(follower.push(served.body, signer_of(followed))) == (409, "not_followed")
    assert other.feed_text not in follower.feeds()
