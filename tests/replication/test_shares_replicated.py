"""A community's shares market replicated: a peer audits every subscription, allotment and match as
it receives them (re-running the matching from the log) and holds the same feed; `tally verify`
on the peer's home re-checks it all, checkpoints included."""

from __future__ import annotations

import time

from tallystick.ledger.shares import enterprise_id
from tallystick.protocol.events import OpenOffer, PlaceOrder, RegisterEnterprise, ShareClass, Subscribe

from helpers.replication import Nodes, start_all, wait_until
from helpers.support import tally

investor = ShareClass("Investor shares", "investor", 1, 1, 100, False, True, None, False)


def test_a_peer_audits_and_holds_a_shares_market(nodes: Nodes) -> None:
    a, b = nodes.create(2)
    a.peers, b.peers = [b.url], [a.url]
    start_all([a, b])
    alice, bob, cal = a.admit("alice"), a.admit("bob"), a.admit("cal")
    registered = a.act(a.admin_key, RegisterEnterprise("Mill", (investor,)))
    mill = enterprise_id(a.feed, registered["seq"])
    deadline_ms = time.time_ns() // 1_000_000 + 3000
    offer = a.act(a.admin_key, OpenOffer(mill, 0, 100, 30, 1, 30, deadline_ms))["seq"]
    for member, units in ((alice, 15), (bob, 10), (cal, 8)):
        a.act(member, Subscribe(offer, units))
    wait_until(lambda: a.get(f"/api/offers/{offer}")["outcome"] == "allotted", "the node's timer allotting the offer")
    for price in (120, 110, 130):
        a.act(alice, PlaceOrder(mill, 0, "sell", 3, price))
    a.act(bob, PlaceOrder(mill, 0, "sell", 2, 110))
    a.act(cal, PlaceOrder(mill, 0, "buy", 7, 125))
    book = a.get("/api/enterprises/Mill/book/0")
    # Newest first: 3 from alice at 110 (the older order at that price), 2 from bob at 110, 2 at 120.
    assert [(t["units"], t["price"]) for t in book["trades"]] == [(2, 120), (2, 110), (3, 110)]
    head = a.feeds()[a.feed_text]
    wait_until(lambda: b.feeds().get(a.feed_text) == head, "B holding A's feed to its head")
    b.stop()
    assert tally("verify", b.home).returncode == 0
