"""An operator copies a stopped node's home and runs both copies: the moment both write, the feed is
forked, and every node that sees both halves proves it and freezes the feed.

The module's fixture: home A takes two members and a payment alone, and stops. Its folder is copied
to A2. Both copies are started on their own ports, each with `--peer B`, while B is still down (so
neither copy's start-up check finds anything newer, as when the two copies start at once), and
each takes different payments. Then B starts, peered with both copies, and replicates from both.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import pytest
from tallystick.protocol.codec import encode, sign_member_intent
from tallystick.protocol.events import Transfer
from tallystick.protocol.wire import Events, events_decoder

from helpers.replication import NodeProcess, Nodes, refusal_of, signer_of, start_all, wait_until
from helpers.support import free_port, next_nonce, tally_json


@dataclass
class Copies:
    original: NodeProcess
    copy: NodeProcess
    peer: NodeProcess
    payments: dict[str, list[dict[str, Any]]]
    members: tuple[Any, Any]


@pytest.fixture(scope="module")
def copies(module_nodes: Nodes) -> Copies:
    original, peer = module_nodes.create(2)
    original.start()
    alice, bob = original.admit("alice"), original.admit("bob")
    original.pay(alice, bob, 10_00)
    assert original.stop() == 0

    copy_home = original.home.parent.parent / "copy" / "home"
    shutil.copytree(original.home, copy_home)
    copy = module_nodes.adopt(NodeProcess(home=copy_home, port=free_port()))
    original.peers = copy.peers = [peer.url]
    start_all([original, copy])
    payments = {
        "original": [original.pay(alice, bob, 1_00), original.pay(alice, bob, 2_00)],
        "copy": [copy.pay(bob, alice, 3_00)],
    }
    assert payments["original"][0]["seq"] == payments["copy"][0]["seq"]
    assert payments["original"][0]["hash"] != payments["copy"][0]["hash"]
    peer.peers = [original.url, copy.url]
    peer.start()
    return Copies(original, copy, peer, payments, (alice, bob))


def forks_of(node: NodeProcess, feed_text: str) -> list[dict[str, Any]]:
    return [fork for fork in node.status()["forks"] if fork["feed"] == feed_text]


def has_fork_alert(node: NodeProcess, feed_text: str) -> bool:
    return any(alert["kind"] == "fork" and alert.get("feed") == feed_text for alert in node.status()["alerts"])


def test_a_common_peer_proves_the_fork_of_a_home_run_twice(copies: Copies) -> None:
    feed = copies.original.feed_text
    wait_until(lambda: has_fork_alert(copies.peer, feed), "the common peer raising a fork alert",
               describe=copies.peer.status)
    status = tally_json("--node", copies.peer.url, "status", "--json")
    proofs = [fork for fork in status["forks"] if fork["feed"] == feed]
    assert [proof["seq"] for proof in proofs] == [copies.payments["original"][0]["seq"]]


@pytest.mark.parametrize("which", ["original", "copy"])
def test_each_copy_of_a_home_run_twice_learns_its_own_feed_is_forked(copies: Copies, which: str) -> None:
    node = copies.original if which == "original" else copies.copy
    feed = copies.original.feed_text
    wait_until(lambda: has_fork_alert(node, feed), f"the {which} raising a fork alert", describe=node.status)
    assert forks_of(node, feed)


@pytest.mark.parametrize("which", ["original", "copy"])
def test_each_copy_of_a_forked_home_refuses_to_write(copies: Copies, which: str) -> None:
    node = copies.original if which == "original" else copies.copy
    wait_until(lambda: has_fork_alert(node, node.feed_text), f"the {which} raising a fork alert")
    alice, bob = copies.members
    intent = sign_member_intent(alice, feed=node.feed, nonce=next_nonce(), action=Transfer(to=bob.public, amount_minor=1))
    assert refusal_of(node.post_intent(intent)) == (409, "stale_home")


def test_a_common_peer_freezes_the_forked_feed_and_refuses_its_later_events(copies: Copies) -> None:
    feed = copies.original.feed
    wait_until(lambda: has_fork_alert(copies.peer, copies.original.feed_text), "the common peer raising a fork alert")
    held = copies.peer.feeds()[copies.original.feed_text]
    last = copies.payments["original"][-1]["seq"]
    served = copies.original.read(f"/replication/feeds/{copies.original.feed_text}?from={last}&limit=1")
    later = events_decoder.decode(served.body).events[0]
    # Pushed as the original node pushes (signed by its node key): a node it peers with.
    pushed = copies.peer.push(encode(Events(feed, last, [later])), signer_of(copies.original))
    assert refusal_of(pushed) == (409, "feed_frozen")
    assert copies.peer.feeds()[copies.original.feed_text] == held
