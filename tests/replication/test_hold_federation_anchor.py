"""A member of a federation a node belongs to is a reason to hold its feed: that member's node may
make first contact by pushing its own feed from its genesis, signed by the genesis's key, with no
peering at all; a stranger doing the same is refused (docs/federation.md, "What a node holds").

One real node N founds a federation whose charter names N's community and X, a community made by
hand (FeedBuilder: a real genesis signed by its own node key) that N has never heard from.
"""

from __future__ import annotations

from typing import Any

from tallystick.protocol.wire import Events

from helpers.replication import FeedBuilder, NodeProcess, Nodes, refusal_of, signer_of_feed, wait_until
from helpers.support import tally_json


def as_admin(node: NodeProcess, *args: str) -> Any:
    return tally_json("--node", node.url, "--key", node.home / "admin.key", *args, "--json")


def charter_held(node: NodeProcess, federation: str) -> bool:
    return node.http("GET", f"/api/federations/{federation}").status == 200


def test_a_federation_member_pushes_its_genesis_first_and_a_stranger_cannot(nodes: Nodes) -> None:
    (node,) = nodes.create(1)
    node.start()
    member, stranger = FeedBuilder("Member community"), FeedBuilder("Stranger")
    federation = as_admin(
        node, "federation", "found", "Vale", f"--member={node.feed_text}", f"--member={member.feed_text}",
        "--quorum", "100",
    )["id"]
    wait_until(lambda: charter_held(node, federation), "N holding its federation's charter")

    assert refusal_of(node.push(Events(stranger.feed, 1, stranger.events), signer_of_feed(stranger))) == (
        403, "unknown_peer",
    )

    def member_push() -> tuple[int, str]:
        return refusal_of(node.push(Events(member.feed, 1, member.events), signer_of_feed(member)))

    # The node re-reads its federations' members every anti-entropy interval: poll until it has.
    wait_until(lambda: member_push()[0] == 200, "N taking its federation member's first push",
               describe=member_push)
    assert member.feed_text in node.feeds()
    assert stranger.feed_text not in node.feeds()
