"""A node that missed events - killed, or cut off from its peer - catches up once it is back.

Two nodes, A and B, peered both ways. In the first test B dies by SIGKILL while A keeps taking
payments, and is restarted on the same home. In the second each node reaches the other only through
a TCP proxy of this test (`--peer` points at the proxy), which drops every open connection and
refuses new ones while cut.
"""

from __future__ import annotations

from typing import Any

from helpers.replication import (
    BackgroundLoop,
    NodeProcess,
    Nodes,
    TcpProxy,
    start_all,
    stays_false,
    wait_until,
)


def holds(node: NodeProcess, feed: str, seq: int) -> bool:
    held = node.feeds().get(feed)
    return held is not None and held["seq"] >= seq


def wait_for_same_head(reader: NodeProcess, writer: NodeProcess, what: str) -> None:
    def same() -> bool:
        return reader.feeds().get(writer.feed_text) == writer.feeds()[writer.feed_text]

    wait_until(same, what, describe=lambda: (reader.feeds().get(writer.feed_text), writer.status()["seq"]))


def test_a_node_killed_with_sigkill_catches_up_after_restart(nodes: Nodes) -> None:
    a, b = nodes.create(2)
    a.peers, b.peers = [b.url], [a.url]
    start_all([a, b])
    alice, bob = a.admit("alice"), a.admit("bob")
    before = a.pay(alice, bob, 10_00)
    wait_until(lambda: holds(b, a.feed_text, before["seq"]), "B holding A's first payment")

    assert b.kill() == -9
    missed: list[dict[str, Any]] = [a.pay(alice, bob, 1_00 + n, memo=f"while B is down {n}") for n in range(5)]
    b.start()

    wait_for_same_head(b, a, "B, restarted, holding every payment A took while it was down")
    assert b.event_hash_at(a.feed, missed[-1]["seq"]) == missed[-1]["hash"]


def test_a_node_cut_off_by_the_network_catches_up_after_reconnection(
    nodes: Nodes, background: BackgroundLoop
) -> None:
    a, b = nodes.create(2)
    to_a, to_b = TcpProxy(background, a.port).start(), TcpProxy(background, b.port).start()
    try:
        a.peers, b.peers = [to_b.url], [to_a.url]
        start_all([a, b])
        alice, bob = a.admit("alice"), a.admit("bob")
        before = a.pay(alice, bob, 10_00)
        wait_until(lambda: holds(b, a.feed_text, before["seq"]), "B holding A's payment through the proxy")

        to_a.cut()
        to_b.cut()
        during = [a.pay(alice, bob, 2_00 + n, memo=f"while cut {n}") for n in range(3)]
        wait_until(lambda: not b.peer(to_a.url)["reachable"], "B reporting A unreachable while cut")
        assert stays_false(lambda: holds(b, a.feed_text, during[0]["seq"]), seconds=2.5), (
            "a payment crossed a cut link: the test's proxy does not cut"
        )

        to_a.restore()
        to_b.restore()
        wait_for_same_head(b, a, "B holding every payment A took while the link was cut")
        assert b.event_hash_at(a.feed, during[-1]["seq"]) == during[-1]["hash"]
        wait_until(lambda: b.peer(to_a.url)["reachable"], "B reporting A reachable again")
    finally:
        to_a.close()
        to_b.close()
