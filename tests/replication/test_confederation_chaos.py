"""Two federations of three communities each, in one confederation, with real `tally serve`
processes: members pay each other at random, within and across federations, from several threads
at once, while nodes are killed with SIGKILL and restarted and links between nodes are cut and
restored. Afterwards every invariant of cross-community payments holds (DESIGN, invariants 2, 5,
6 and 7): every settled payment has exactly one matching acceptance and the other way round, none
is settled twice or lost, every community's balances sum to zero after every event of its feed, the
positions in each federation add up once payments settle, and no community's position through
its federation's parent ever went past its share of the capacity, at any event, while the shares
add up to no more than the federation's capacity - so no federation's position ever breached it.

How this works:

- Six homes (tests' `Nodes`), peered along a ring with three chords (0-1-2-3-4-5-0, 0-3, 1-4,
  2-5): every feed reaches every node over more than one path. Each node reaches each of its peers
  through its own `TcpProxy` (helpers.py), one per direction of each link, so the test cuts a link
  for real - open connections dropped, new ones refused - and restores it on the same port,
  without restarting anything. Restarting a node with another peers list would also cut a link,
  but it would mix two faults (a restart and a partition) that this test wants to place apart.
- The communities are federated exactly as `tally cluster up --nodes 6` does (cli/cluster.py
  `_federate`, through cli/federate.py): East = nodes 0-2, West = nodes 3-5, each giving its
  communities trade limits; a confederation of both allocates each federation a capacity, which
  each divides equally among its communities. East's and West's steps run in two threads.
- Payers: `payer_threads` threads, each with its own seeded `random.Random`, sign `pay_across`
  intents (the meeting federation chosen as cli/federate.py `meeting` does) and post them to the
  payer's node. Each answer is recorded: sent (201, with the payment's id, the hash of its
  `payment_sent`), refused (with its stable code: limits, capacity, ...), unreachable (connection
  refused: nothing appended) or unknown (the connection broke mid-request: a node was killed).
- Meanwhile the main thread follows a fixed schedule of faults (`chaos`): two links cut, a West
  node killed and restarted, an East node cut off from all its peers, East's proposer killed and
  restarted; then every link is restored.
- Afterwards the test waits until every node holds every feed at the same head and no payment is
  pending anywhere, reads each community's whole feed from its own node (/replication/feeds, the
  exact signed bytes), and replays it with the domain's own `audit` (as a replica does), checking
  after every event. Then it compares with what the nodes themselves report (/api/balances,
  /api/payments, /api/federations/{id}/report), and after a clean stop runs `tally verify` on the
  homes of the killed nodes.
"""

from __future__ import annotations

import http.client
import json
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tallystick.cli import federate
from tallystick.ledger.model import State, initial_state
from tallystick.ledger.transition import audit
from tallystick.node.home import write_key
from tallystick.protocol.codec import sign_member_intent, verify_intent
from tallystick.protocol.events import Act, Genesis, PayAcross
from tallystick.protocol.federation import (
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
)
from tallystick.protocol.feed import start_feed, verify_next
from tallystick.protocol.ids import KeyPair, hash32, id_from_text, id_to_text
from tallystick.protocol.wire import events_decoder

from helpers.replication import BackgroundLoop, NodeProcess, Nodes, TcpProxy, start_all, wait_until
from helpers.support import next_nonce, tally, tally_executable

# The ring 0-1-2-3-4-5-0 and its three diameters: every node has three peers.
links = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3), (1, 4), (2, 5)]
east_nodes, west_nodes = (0, 1, 2), (3, 4, 5)
members_per_community = 3
# As `tally cluster up`: trade limits either way in each federation; each federation's capacity in
# the confederation, divided equally among its three communities.
trade_limit_minor = 200_00
federation_capacity_minor = 300_00
community_share_minor = federation_capacity_minor // 3
# Payments of 1.00 to 40.00: large enough against a share of 100.00 that shares and limits are hit.
amount_choices_minor = range(100, 40_01, 100)
payer_threads = 4
seed = 20_240_601
# The payments run this long; the faults below happen inside it (seconds from its start).
run_seconds = 16.0
pause_between_payments_max_seconds = 0.08
# After the run, how long every node may take to hold every feed and settle every payment: far
# more than it needs (a few seconds), so that a slow CI machine does not fail it.
settle_timeout_seconds = 120.0
replication_page_events = 256


@dataclass
class Community:
    index: int
    node: NodeProcess
    members: list[KeyPair]

    @property
    def text(self) -> str:
        return self.node.feed_text


@dataclass
class Attempt:
    payer: int
    payee: int
    amount_minor: int
    outcome: str  # "sent", "refused", "unreachable" or "unknown"
    code: str | None = None  # the refusal's stable code
    payment: bytes | None = None  # the id of the payment, when sent


@dataclass
class Network:
    """The six communities, the proxies in front of them (keyed by (from node, to node)) and the
    federations they founded."""

    communities: list[Community]
    proxies: dict[tuple[int, int], TcpProxy]
    east: federate.Federation
    west: federate.Federation
    top: federate.Federation
    cut: set[tuple[int, int]] = field(default_factory=set)

    def cut_link(self, a: int, b: int) -> None:
        for pair in ((a, b), (b, a)):
            self.proxies[pair].cut()
        self.cut.add((min(a, b), max(a, b)))

    def restore_link(self, a: int, b: int) -> None:
        for pair in ((a, b), (b, a)):
            self.proxies[pair].restore()
        self.cut.discard((min(a, b), max(a, b)))

    def restore_all(self) -> None:
        for a, b in sorted(self.cut):
            self.restore_link(a, b)


# ---- building the network -------------------------------------------------------------------------


def build(nodes: Nodes, background: BackgroundLoop) -> Network:
    processes = nodes.create(6)
    proxies = {}
    for a, b in links:
        proxies[(a, b)] = TcpProxy(background, processes[b].port).start()
        proxies[(b, a)] = TcpProxy(background, processes[a].port).start()
    for index, node in enumerate(processes):
        node.peers = [proxies[(index, other)].url for other in range(6) if (index, other) in proxies]
    start_all(processes)
    communities = [
        Community(index, node, [node.admit(f"Member {m}") for m in range(members_per_community)])
        for index, node in enumerate(processes)
    ]
    # cli/cluster.py `_federate`, with East's and West's independent steps in two threads.
    seats = [federate.Seat(c.node.url, c.text, c.node.home / "admin.key") for c in communities]

    (east, west), top = federate.link(
        [("East federation", [seats[i] for i in east_nodes]), ("West federation", [seats[i] for i in west_nodes])],
        "Chaos confederation", "HRS", 2, trade_limit_minor=trade_limit_minor,
        capacity_minor=federation_capacity_minor, share_minor=community_share_minor)
    assert top is not None
    network = Network(communities, proxies, east, west, top)
    for community in communities:
        wait_until(lambda community=community: holds_its_share(community), f"{community.text} applying its share",
                   timeout_seconds=60)
    return network


def holds_its_share(community: Community) -> bool:
    """The community's node appended its `capacity_limits` (its share in the confederation) and
    its trade limits."""
    kinds = {event["body"]["kind"]: event["body"] for event in community.node.get("/api/log?limit=1000")["events"]}
    capacity = kinds.get("capacity_limits")
    return capacity is not None and capacity["share_minor"] == community_share_minor and "trade_limits" in kinds


@pytest.fixture
def network(nodes: Nodes, background: BackgroundLoop) -> Iterator[Network]:
    built = build(nodes, background)
    try:
        yield built
    finally:
        for proxy in built.proxies.values():
            proxy.close()


# ---- paying -----------------------------------------------------------------------------------------


def meeting_federations(network: Network) -> dict[tuple[int, int], bytes]:
    """For each (payer, payee) community pair, the federation where their payment meets, as the
    payer's node lists its federations (cli/federate.py `meeting`)."""
    found = {}
    for payer in network.communities:
        federations = payer.node.get("/api/federations")
        for payee in network.communities:
            if payee is not payer:
                meeting = federate.meeting(federations, payer.text, payee.text, None)
                assert meeting is not None, f"{payer.text} and {payee.text} share no federation"
                found[(payer.index, payee.index)] = id_from_text("x", meeting["id"])
    return found


def attempt_payment(network: Network, meetings: dict[tuple[int, int], bytes], rng: random.Random) -> Attempt:
    payer, payee = rng.sample(network.communities, 2)
    member, to_member = rng.choice(payer.members), rng.choice(payee.members)
    amount = rng.choice(amount_choices_minor)
    attempt = Attempt(payer.index, payee.index, amount, "unknown")
    action = PayAcross(federation=meetings[(payer.index, payee.index)], to_community=payee.node.feed,
                       to_member=to_member.public, amount_minor=amount, memo="chaos")
    intent = sign_member_intent(member, feed=payer.node.feed, nonce=next_nonce(), action=action)
    try:
        answer = payer.node.post_intent(intent)
    except ConnectionRefusedError:
        attempt.outcome = "unreachable"
        return attempt
    except OSError as error:  # urllib's URLError wraps the refusal
        if isinstance(getattr(error, "reason", None), ConnectionRefusedError):
            attempt.outcome = "unreachable"
        return attempt  # otherwise the connection broke mid-request: the outcome is unknown
    except http.client.HTTPException:
        return attempt
    if answer.status == 201:
        attempt.outcome, attempt.payment = "sent", id_from_text("h", answer.json()["hash"])
    else:
        attempt.outcome, attempt.code = "refused", answer.json()["error"]
    return attempt


def pay_at_random(network: Network, meetings: dict[tuple[int, int], bytes], worker: int, stop: threading.Event,
                  attempts: list[Attempt]) -> None:
    rng = random.Random(seed + worker)
    while not stop.is_set():
        attempts.append(attempt_payment(network, meetings, rng))
        time.sleep(rng.uniform(0, pause_between_payments_max_seconds))


def chaos(network: Network, started: float) -> list[str]:
    """The faults, at fixed times into the run; returns what was done, for the failure messages."""
    done: list[str] = []
    nodes = [c.node for c in network.communities]

    def at(seconds: float) -> None:
        time.sleep(max(0.0, started + seconds - time.monotonic()))

    at(2.0)
    network.cut_link(0, 3)
    network.cut_link(2, 5)
    done.append("cut 0-3 and 2-5")
    at(4.0)
    assert nodes[4].kill() == -9
    done.append("SIGKILL node 4")
    at(6.5)
    nodes[4].start()
    done.append("restarted node 4")
    at(7.5)
    for a, b in links:
        if 1 in (a, b) and (min(a, b), max(a, b)) not in network.cut:
            network.cut_link(a, b)
    done.append("node 1 cut off from all its peers")
    at(10.5)
    network.restore_all()
    done.append("every link restored")
    at(11.5)
    assert nodes[0].kill() == -9
    done.append("SIGKILL node 0 (East's proposer)")
    at(13.5)
    nodes[0].start()
    done.append("restarted node 0")
    return done


# ---- reading and replaying the feeds ----------------------------------------------------------------


def read_feed(node: NodeProcess, feed: bytes) -> list[bytes]:
    """Every event of `feed` that `node` holds, seq 1 first, as the exact signed bytes it serves."""
    events: list[bytes] = []
    while True:
        answer = node.read(f"/replication/feeds/{id_to_text('n', feed)}?from={len(events) + 1}"
                                  f"&limit={replication_page_events}")
        assert answer.status == 200, answer.body[:300]
        page = events_decoder.decode(answer.body).events
        events += page
        if len(page) < replication_page_events:
            return events


@dataclass
class Replayed:
    """One community's feed replayed: the final state, and after each event its ts and its
    counts through the confederation (used, held at level 0 of its own federation's capacity)."""

    state: State
    timeline: list[tuple[int, int, int, int]]  # (ts, seq, used, held)
    bodies: list[tuple[bytes, Any]]  # (event hash, body) of every payment event


def replay(raw_events: list[bytes], federation: bytes) -> Replayed:
    """Refold a feed as a replica does (links, signatures, every rule through `audit`), checking
    after every event that balances sum to zero and that every capacity level is within its share."""
    head, genesis = start_feed(raw_events[0])
    assert isinstance(genesis.body, Genesis)
    state = initial_state(head.feed, genesis.body)
    timeline, bodies = [], []
    feed_text = id_to_text("n", head.feed)
    for raw in raw_events[1:]:
        head, event = verify_next(head, raw)
        body = event.body
        intent = verify_intent(body.intent, feed=head.feed) if isinstance(body, (Act, PaymentOut)) else None
        state = audit(state, event, intent)
        where = f"{feed_text} after seq {event.seq} ({type(body).__name__})"
        assert sum(account.balance_minor for account in state.accounts.values()) == 0, f"balances of {where}"
        for capacity in state.payments.capacity.values():
            for level, (used, held) in enumerate(zip(capacity.used, capacity.held, strict=True)):
                assert used >= -capacity.share_minor, f"{where}: level {level} bought {-used} past its share"
                assert used + held <= capacity.share_minor, f"{where}: level {level} sold {used + held} past its share"
        capacity = state.payments.capacity.get(federation)
        used, held = (capacity.used[0], capacity.held[0]) if capacity is not None and capacity.used else (0, 0)
        timeline.append((event.ts, event.seq, used, held))
        if isinstance(body, (PaymentOut, PaymentAccepted, PaymentRejected, PaymentSettled, PaymentReturned,
                             PaymentCancel)):
            bodies.append((hash32(raw), body))
    return Replayed(state, timeline, bodies)


# ---- waiting for the end ----------------------------------------------------------------------------


def heads_agree(network: Network) -> bool:
    """Every node holds every community's feed at that community's own head."""
    statuses = [c.node.status() for c in network.communities]
    own = {c.text: statuses[c.index]["seq"] for c in network.communities}
    return all(status["feeds"].get(feed, {}).get("seq") == seq for status in statuses for feed, seq in own.items())


def unfinished_payments(network: Network) -> list[str]:
    """Payments any node still shows other than settled or returned."""
    return [f"{c.index}: {row['id']} {row['status']}" for c in network.communities
            for row in c.node.get("/api/payments") if row["status"] not in ("settled", "returned")]


def all_settled(network: Network) -> bool:
    return not unfinished_payments(network) and heads_agree(network)


# ---- the test -----------------------------------------------------------------------------------------


def test_random_payments_across_a_confederation_survive_kills_and_cut_links(
    network: Network, nodes: Nodes, tmp_path: Path
) -> None:
    meetings = meeting_federations(network)
    assert sum(meeting == network.top.id for meeting in meetings.values()) == 18  # 3 x 3 pairs, both ways

    # First, with `tally pay`: community 0 pays West through the confederation up to its share of
    # East's capacity; one more cent is refused by its own node, at once, in one clear line.
    payer, payee = network.communities[0], network.communities[3]
    keys = []
    for index, member in enumerate(payer.members):
        keys.append(tmp_path / f"member{index}.key")
        write_key(keys[-1], member)
    to = f"{id_to_text('m', payee.members[0].public)}@{payee.text}"
    attempts: list[Attempt] = []
    for key, amount in ((keys[0], 60_00), (keys[1], 40_00)):
        paid = tally("--node", payer.node.url, "--key", key, "pay", to, f"{amount / 100:.2f}", "--json")
        assert paid.returncode == 0, paid.stderr
        attempts.append(Attempt(payer.index, payee.index, amount, "sent",
                                payment=id_from_text("h", json.loads(paid.stdout)["payment"])))
    refused = tally("--node", payer.node.url, "--key", keys[2], "pay", to, "0.01")
    assert refused.returncode == 1 and refused.stderr.startswith("tally: capacity_share: ")
    assert "share" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    stop = threading.Event()
    started = time.monotonic()
    with ThreadPoolExecutor(payer_threads) as pool:
        workers = [pool.submit(pay_at_random, network, meetings, worker, stop, attempts)
                   for worker in range(payer_threads)]
        try:
            faults = chaos(network, started)
            time.sleep(max(0.0, started + run_seconds - time.monotonic()))
        finally:
            stop.set()
            network.restore_all()
        for worker in workers:
            worker.result()
    outcomes = Counter(a.outcome for a in attempts)
    refusals = Counter(a.code for a in attempts if a.outcome == "refused")
    summary = f"faults {faults}; outcomes {dict(outcomes)}; refusals {dict(refusals)}"
    print(summary)  # shown with -s, and on a failure
    sent = {a.payment: a for a in attempts if a.outcome == "sent"}
    across = sum(1 for a in sent.values() if meetings[(a.payer, a.payee)] == network.top.id)
    assert len(sent) >= 40 and across >= 10, summary
    assert outcomes["refused"] > 0 and outcomes["unreachable"] + outcomes["unknown"] > 0, summary

    wait_until(lambda: all_settled(network), "every node holding every feed and every payment concluded",
               timeout_seconds=settle_timeout_seconds, describe=lambda: unfinished_payments(network)[:10])

    # ---- every feed, replayed event by event ----
    own_federation = {c.index: (network.east if c.index in east_nodes else network.west).id
                      for c in network.communities}
    replayed = {c.index: replay(read_feed(c.node, c.node.feed), own_federation[c.index]) for c in network.communities}
    for community in network.communities:
        held = community.node.status()["feeds"]
        for other in network.communities:
            assert held[other.text]["seq"] == replayed[other.index].state.seq

    # The shares of each federation's communities sum to at most its capacity in the confederation,
    # and, merging the feeds by time, the federation's position stays within it at every event.
    top_view = network.communities[0].node.get(f"/api/federations/{network.top.text}")
    capacity_of = {id_from_text("x", m["member"]): m["capacity"] for m in top_view["members"]}
    for federation, indexes in ((network.east, east_nodes), (network.west, west_nodes)):
        capacity = capacity_of[federation.id]
        assert capacity == federation_capacity_minor
        shares = [replayed[i].state.payments.capacity[federation.id].share_minor for i in indexes]
        assert sum(shares) <= capacity, (federation.name, shares)
        merged = sorted((ts, i, seq, used, held) for i in indexes for ts, seq, used, held in replayed[i].timeline)
        latest = {i: (0, 0) for i in indexes}
        for ts, i, seq, used, held in merged:
            latest[i] = (used, held)
            bought = sum(u for u, _ in latest.values())
            sold = sum(u + h for u, h in latest.values())
            assert -capacity <= bought and sold <= capacity, f"{federation.name} at ts {ts} (node {i} seq {seq})"

    # ---- every payment: sent once, answered once, concluded once, as answered ----
    sent_events: dict[bytes, tuple[int, PaymentOut]] = {}
    answers: dict[bytes, list[tuple[int, bytes, PaymentAccepted | PaymentRejected]]] = {}
    conclusions: dict[bytes, list[tuple[int, PaymentSettled | PaymentReturned]]] = {}
    feed_index = {c.node.feed: c.index for c in network.communities}
    for index, feed in replayed.items():
        for event_hash, body in feed.bodies:
            if isinstance(body, PaymentOut):
                assert event_hash not in sent_events
                sent_events[event_hash] = (index, body)
            elif isinstance(body, (PaymentAccepted, PaymentRejected)):
                answers.setdefault(body.payment, []).append((index, event_hash, body))
            elif isinstance(body, (PaymentSettled, PaymentReturned)):
                conclusions.setdefault(body.payment, []).append((index, body))
    for payment, (payer, body) in sent_events.items():
        text = id_to_text("h", payment)
        answered, concluded = answers.get(payment, []), conclusions.get(payment, [])
        assert len(answered) == 1, f"payment {text} has {len(answered)} answers"
        assert len(concluded) == 1, f"payment {text} was concluded {len(concluded)} times (settled twice, or lost)"
        answerer, answer_hash, answer = answered[0]
        concluder, conclusion = concluded[0]
        assert answerer == feed_index[body.to_community] and answer.from_community == network.communities[payer].node.feed
        assert concluder == payer
        if isinstance(answer, PaymentAccepted):
            assert isinstance(conclusion, PaymentSettled) and conclusion.acceptance == answer_hash, text
            assert (answer.amount_minor, answer.to_member, answer.federation) == (
                body.amount_minor, body.to_member, body.federation), text
        else:
            assert isinstance(conclusion, PaymentReturned) and conclusion.rejection == answer_hash, text
    assert set(answers) <= set(sent_events) and set(conclusions) <= set(sent_events)
    # No payment lost: every one a node acknowledged is in its payer's feed, as it was asked; and
    # none appeared that nobody asked for (at most one per request whose answer the kill cut off).
    for payment, attempt in sent.items():
        assert payment in sent_events, f"acknowledged payment {id_to_text('h', payment)} is in no feed"
        payer, body = sent_events[payment]
        assert (payer, feed_index[body.to_community], body.amount_minor) == (
            attempt.payer, attempt.payee, attempt.amount_minor)
    assert len(sent_events) - len(sent) <= outcomes["unknown"], summary
    settled = [p for p, c in conclusions.items() if isinstance(c[0][1], PaymentSettled)]
    assert len(settled) >= 30, summary

    # ---- positions: each federation's members' positions add up ----
    position = {i: replayed[i].state for i in replayed}

    def in_federation(index: int, federation: federate.Federation) -> int:
        state = position[index]
        return -state.accounts[state.payments.trade[federation.id]].balance_minor

    def through_top(indexes: tuple[int, ...], federation: federate.Federation) -> int:
        return sum(position[i].payments.capacity[federation.id].used[0] for i in indexes)

    east_in_top, west_in_top = through_top(east_nodes, network.east), through_top(west_nodes, network.west)
    assert east_in_top + west_in_top == 0, summary
    assert sum(in_federation(i, network.east) for i in east_nodes) == east_in_top
    assert sum(in_federation(i, network.west) for i in west_nodes) == west_in_top
    for state in position.values():
        assert all(held == 0 for capacity in state.payments.capacity.values() for held in capacity.held)
        assert not state.payments.pending

    # ---- what the nodes themselves report agrees ----
    for community in network.communities:
        node = community.node
        balances = node.get("/api/balances")
        assert sum(row["balance"] for row in balances) == 0, community.text
        assert {id_from_text("m", row["account"]): row["balance"] for row in balances} == {
            account: held.balance_minor for account, held in position[community.index].accounts.items()}
        rows = node.get("/api/payments")
        assert len(rows) == len(sent_events) and all(row["violation"] is None for row in rows)
        top = node.get(f"/api/federations/{network.top.text}/report")
        positions = {row["member"]: row["position"] for row in top["s3_control"]}
        assert positions == {network.east.text: east_in_top, network.west.text: west_in_top}
        for federation, indexes in ((network.east, east_nodes), (network.west, west_nodes)):
            report = node.get(f"/api/federations/{federation.text}/report")
            assert {row["member"]: row["position"] for row in report["s3_control"]} == {
                network.communities[i].text: in_federation(i, federation) for i in indexes}
            kinds = {alert["kind"] for alert in report["alerts"]}
            assert not kinds & {"fork", "payment_violation", "checkpoint_mismatch", "equivocation"}, report["alerts"]

    # ---- the killed nodes' homes verify offline ----
    killed = [network.communities[0].node, network.communities[4].node]
    for node in killed:
        assert node.stop() == 0
    checks = [subprocess.run([tally_executable(), "verify", str(node.home)], capture_output=True, text=True,
                             timeout=120, check=False) for node in killed]
    assert all(check.returncode == 0 for check in checks), [check.stdout + check.stderr for check in checks]
