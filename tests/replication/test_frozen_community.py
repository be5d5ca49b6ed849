"""A community whose feed forks is frozen in every federation it belongs to, and the alert reaches
every level: with real `tally serve` processes, F1 = {A, B, D} and F2 = {C} found a confederation P
(through cli/federate.py, as `tally cluster up` does); A's home is copied and both copies write,
which forks A's feed. Then the fork alert is in the viability report of F1 and of P, at a node of
each federation; a payment to A is refused at the payer's node (`community_frozen`), within F1 and
across P; and a payment A sent before the fork, which the fork does not dispute, is still answered
by its payee by its own rules.

How this works: A first sends Cy, a member of C, a payment through P while C's node is stopped.
Then A's stopped home is copied to A2 (as tests/replication/test_copied_home.py does), both copies
start peered with B only and each takes a different transfer at the same seq: B, which sees both
halves, proves the fork. C is restarted cut off from B (its only peer is a `TcpProxy`, closed), and
the test pushes it, as a peer would, A's feed up to the first half's event and then the second
half's event at the same seq: C stores the payment and proves the fork. Only then is C's link to B
restored. (A payment signed on a forked feed from the fork on is rejected, reason "refused"; a node
holds such an event only if it stored it before it saw the other half, which a test cannot order
against the node's federation round, so that case is left to the code's one line.)

F1 has three communities: with two, a frozen member leaves a quorum no epoch can reach (the fold
once looped for ever on it; tests/federation/test_federation_state.py now covers that case).
"""

from __future__ import annotations

import shutil
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tallystick.cli import federate
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import PayAcross
from tallystick.protocol.ids import KeyPair, hash32, id_to_text
from tallystick.protocol.wire import Events, events_decoder

from helpers.replication import (
    BackgroundLoop,
    NodeProcess,
    Nodes,
    Signer,
    TcpProxy,
    refusal_of,
    signer_of,
    start_all,
    wait_until,
)
from helpers.support import free_port, next_nonce

trade_limit_minor = 200_00
federation_capacity_minor = 300_00
community_share_minor = 100_00
# How long C's port may take to open after its process starts (it then gets A's events at once).
port_open_timeout_seconds = 20.0
f1_communities = 3


@dataclass
class World:
    a: NodeProcess
    a2: NodeProcess
    b: NodeProcess
    c: NodeProcess  # the only community of F2
    f1: federate.Federation
    f2: federate.Federation
    top: federate.Federation
    members: dict[str, KeyPair]
    payment_from_a: str  # the id of A's payment to Cy, sent before the fork


def pay_across(payer: NodeProcess, key: KeyPair, payee: NodeProcess, to_member: KeyPair, amount_minor: int,
               federation: federate.Federation) -> Any:
    action = PayAcross(federation=federation.id, to_community=payee.feed, to_member=to_member.public,
                       amount_minor=amount_minor, memo="frozen test")
    return payer.post_intent(sign_member_intent(key, feed=payer.feed, nonce=next_nonce(), action=action))


def holds_shares(node: NodeProcess) -> bool:
    kinds = {event["body"]["kind"]: event["body"] for event in node.get("/api/log?limit=1000")["events"]}
    return kinds.get("capacity_limits", {}).get("share_minor") == community_share_minor and "trade_limits" in kinds


def feed_events(node: NodeProcess, feed: bytes, start: int, limit: int) -> list[bytes]:
    answer = node.read(f"/replication/feeds/{id_to_text('n', feed)}?from={start}&limit={limit}")
    assert answer.status == 200, answer.body[:300]
    return list(events_decoder.decode(answer.body).events)


def push_as_soon_as_listening(node: NodeProcess, message: Events, signer: Signer) -> Any:
    """POST /replication/push the moment the (just launched) node's port opens."""
    deadline = time.monotonic() + port_open_timeout_seconds
    while True:
        try:
            return node.push(message, signer)
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline or not node.running:
                raise
            time.sleep(0.01)


def fork_alerted(node: NodeProcess, federation: federate.Federation, feed: str) -> bool:
    report = node.get(f"/api/federations/{federation.text}/report")
    return any(alert["kind"] == "fork" and feed in alert["message"] for alert in report["alerts"])


@pytest.fixture
def world(nodes: Nodes, background: BackgroundLoop) -> Iterator[World]:
    a, b, c, *others = nodes.create(f1_communities + 1)  # F1: A, B and the others; F2: C
    to_c, to_b = TcpProxy(background, c.port).start(), TcpProxy(background, b.port).start()
    a.peers, c.peers = [b.url], [to_b.url]
    b.peers = [a.url, to_c.url, *(other.url for other in others)]
    for other in others:
        other.peers = [b.url]
    start_all([a, b, c, *others])
    try:
        members = {"alice": a.admit("Alice"), "bob": a.admit("Bob"), "bea": b.admit("Bea"), "cy": c.admit("Cy")}
        seat_a, seat_b, seat_c, *seat_others = (federate.Seat(n.url, n.feed_text, n.home / "admin.key")
                                                for n in (a, b, c, *others))

        (f1, f2), top = federate.link(
            [("F1", [seat_a, seat_b, *seat_others]), ("F2", [seat_c])], "P", "HRS", 2,
            trade_limit_minor=trade_limit_minor, capacity_minor=federation_capacity_minor,
            share_minor=community_share_minor)
        assert top is not None
        for node in (a, b, c, *others):
            wait_until(lambda node=node: holds_shares(node), f"{node.url} applying its trade limits and share",
                       describe=lambda node=node: [e["body"] for e in node.get("/api/log?limit=1000")["events"]
                                                   if e["body"]["kind"] in ("capacity_limits", "trade_limits")])

        # C is stopped and cut off; A pays Cy through P; B holds the payment.
        assert c.stop() == 0
        to_c.cut()
        to_b.cut()
        sent = pay_across(a, members["alice"], c, members["cy"], 5_00, top)
        assert sent.status == 201, sent.body[:300]
        payment_seq = sent.json()["seq"]
        wait_until(lambda: b.feeds()[a.feed_text]["seq"] >= payment_seq, "B holding A's payment")

        # A's home is copied while stopped; both copies write at the same seq.
        assert a.stop() == 0
        a2 = nodes.adopt(NodeProcess(home=a.home.parent.parent / "copy" / "home", port=free_port(), peers=[b.url]))
        shutil.copytree(a.home, a2.home)
        start_all([a, a2])
        first, second = a.pay(members["alice"], members["bob"], 1_00), a2.pay(members["bob"], members["alice"], 2_00)
        assert first["seq"] == second["seq"] and first["hash"] != second["hash"]
        wait_until(lambda: any(f["feed"] == a.feed_text for f in b.status()["forks"]), "B proving A's fork",
                   describe=b.status)

        # C restarts alone and is shown both halves at once, as a peer would show them.
        fork_seq = first["seq"]
        first_half = feed_events(a, a.feed, 1, fork_seq)
        [other_event] = feed_events(a2, a.feed, fork_seq, 1)
        c.launch()
        assert push_as_soon_as_listening(c, Events(a.feed, 1, first_half), signer_of(a)).status == 200
        assert refusal_of(c.push(Events(a.feed, fork_seq, [other_event]), signer_of(a))) == (409, "feed_frozen")
        c.wait_for_status()
        to_b.restore()
        to_c.restore()
        # A payment's id is the hash of its `payment_sent` event.
        yield World(a, a2, b, c, f1, f2, top, members, id_to_text("h", hash32(first_half[payment_seq - 1])))
    finally:
        to_b.close()
        to_c.close()


def test_a_forked_community_is_frozen_in_every_federation_and_the_alert_reaches_every_level(world: World) -> None:
    forked = world.a.feed_text
    for node in (world.b, world.c):  # a node of each federation
        for federation in (world.f1, world.top):  # A's federation, and the confederation above it
            wait_until(lambda node=node, federation=federation: fork_alerted(node, federation, forked),
                       f"{node.url} raising the fork alert in {federation.name}'s report")
            report = node.get(f"/api/federations/{federation.text}/report")
            assert [fork["feed"] for fork in report["s3_star_audit"]["forks"]] == [forked]

    # A payment to A is refused at the payer's node: within F1 (from B) and across P (from C).
    bea, cy, alice = world.members["bea"], world.members["cy"], world.members["alice"]
    for payer, key, federation in ((world.b, bea, world.f1), (world.c, cy, world.top)):
        before = payer.status()["seq"]
        assert refusal_of(pay_across(payer, key, world.a, alice, 1_00, federation)) == (409, "community_frozen")
        # Nothing of the refused payment appended (C may meanwhile answer A's payment on its own).
        appended = payer.get(f"/api/log?from={before + 1}")["events"]
        assert [event["body"]["kind"] for event in appended if event["body"]["kind"] == "payment_sent"] == []

    # The payment A sent before its fork is undisputed (both halves share everything before the
    # fork's seq): its payee answers it by its own rules alone, whenever it learned of the fork.
    def answer() -> dict[str, Any] | None:
        return next((row for row in world.c.get("/api/payments") if row["id"] == world.payment_from_a
                     and row["status"] != "pending"), None)

    row = wait_until(answer, "C answering A's payment", describe=lambda: world.c.get("/api/payments"))
    assert row["status"] in ("accepted", "settled") and row["received"] == 5_00
    cy_balance = next(r["balance"] for r in world.c.get("/api/balances") if r["name"] == "Cy")
    assert cy_balance == 5_00
