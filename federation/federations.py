"""The federations a node takes part in, as a running node sees them: the pure fold of
federation/state.py over the federation events this node holds, served over HTTP, the viability
report, quorum certificates, and the node's own abstentions that let a stalled epoch end.

How this works: the store keeps every held feed's federation events (charters, proposals, votes) in
`federation_log`, written with the log itself; `view()` folds them (and both halves of every fork
proof the node holds, so a forked feed is frozen in every federation) with `state.fold`, and keeps
the result until the log grows. Nothing here decides anything: a community acts in a federation
only through its own ledger (the `federation` action puts a body in its outbox; node/domain.py), and
every other node reaches the same federation state from the same signed events. The viability
report arranges what the node knows by Stafford Beer's systems: S1 each community's activity, S2
coordination (replication with every peer), S3 capacity allocated, S3* what this replica verified
(forks, equivocations, refused federation events, checkpoints), S4 trade flows between members, S5
the charter; and algedonic alerts at the top.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterable
from typing import Any

import msgspec
from aiohttp import web
from msgspec import Struct
from prometheus_client.core import GaugeMetricFamily, Metric
from tallystick.ledger import payments as paying
from tallystick.node import params
from tallystick.node.runtime import Node, clock_ms
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_fork_proof, encode
from tallystick.protocol.errors import BadIdError, MalformedError, TallyError
from tallystick.protocol.events import CapacityLimits, Event, Intent, PayAcross, TradeLimits
from tallystick.protocol.federation import (
    FederationVote,
    PaymentAccepted,
    PaymentBody,
    PaymentCancel,
    PaymentOut,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
)
from tallystick.protocol.ids import hash32, id_from_text, id_to_text

from . import payments as payment_machine
from .quorum import KeyHistory, build_certificate, encode_certificate
from .state import Decision, Federation, FederationState, FeedEvent, fold

log = logging.getLogger("tallystick.federation")
federations_key = web.AppKey("federations", object)
# Federation events folded at most (charters, proposals and votes of every federation held).
federation_events_max = 200_000
# A payment not settled or returned after this long raises an algedonic alert.
payment_pending_alert_ms = 3600 * 1000
# How often the node looks for stalled epochs it should abstain in.
abstain_interval_ms = 1000
# The least time between two rounds woken by new federation or payment events.
round_spacing_ms = 20


class Held(Struct, frozen=True):
    """A held federation or payment event, with its exact bytes."""

    feed: bytes
    seq: int
    raw: bytes
    event: Event
    hash: bytes  # the event's hash (a payment_sent's is the payment's id)


class FrozenCommunityError(TallyError):
    code = "community_frozen"
    http_status = 409


class UnknownFederationError(BadIdError):
    code = "unknown_federation"
    http_status = 404


class UnknownFederationDecisionError(BadIdError):
    code = "unknown_federation_decision"
    http_status = 404


class Federations:
    """The federation view of one node; plugged into the node beside the replicator."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, object]] = []
        # The view, kept up to date from the rows the store reports as it commits them (see
        # `view_held`): every held federation and payment event, decoded and hashed once.
        self._loaded = False
        self._loading = asyncio.Lock()
        self._arrived: list[tuple[bytes, int, bytes]] = []
        self._places: set[tuple[bytes, int]] = set()
        self._held: list[Held] = []
        self._events: list[FeedEvent] = []  # the federation (not payment) events, fork halves last
        self._fork_count = -1
        self._fork_events: list[FeedEvent] = []
        self._state: FederationState | None = None  # None while the fold is out of date
        self._last_state: FederationState | None = None
        # Payments by what the node's rounds look for, so that a round costs what is new.
        self._incoming: dict[bytes, Held] = {}  # payment id -> a payment_sent to this community, not yet answered
        self._answers: dict[tuple[bytes, bytes], Held] = {}  # (payee feed, payment id) -> its answer to us
        self._cancelled: set[bytes] = set()
        self.abstained_total = 0
        self.replicator: Any = None  # set by federation/service.py: peers, lag and held replicas
        # (federation, member) -> when this node first saw the member at its limit, while it stays there
        self.at_limit_since: dict[tuple[bytes, bytes], int] = {}

    def add_routes(self, app: web.Application) -> None:
        app[federations_key] = self
        app.router.add_get("/api/federations", list_federations)
        app.router.add_get("/api/federations/{federation}", show_federation)
        app.router.add_get("/api/federations/{federation}/report", viability_report)
        app.router.add_get("/api/federations/{federation}/decisions/{decision}/certificate", certificate)
        app.router.add_get("/api/payments", payments_list)

    async def start(self, node: Node) -> None:
        self.node = node
        self.store = node.store
        self.own_feed = node.sequencer.head.feed
        node.sequencer.screens.append(self.screen_intent)
        self._wake = asyncio.Event()
        self.store.federation_listeners.append(self._arrive)

    def screen_intent(self, intent: Intent) -> None:
        """Refuse a payment to a community whose feed is proven forked: it is frozen in every
        federation it belongs to (its answers could not be trusted)."""
        action = intent.action
        state = self._last_state
        if isinstance(action, PayAcross) and state is not None and action.to_community in state.forks:
            raise FrozenCommunityError(
                f"community {id_to_text('n', action.to_community)} is frozen: its feed is proven forked, so no "
                "federation trusts what it signs; payments to it are refused until it recovers as a new feed"
            )

    async def run(self) -> None:
        while True:
            # A round when federation or payment events were stored (a payment to answer or to
            # settle moves on at once), and at least every `abstain_interval_ms` (deadlines pass).
            try:
                async with asyncio.timeout(abstain_interval_ms / 1000):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            await asyncio.sleep(round_spacing_ms / 1000)  # events that land together, one round
            try:
                await self.abstain_where_stalled()
                await self.follow_decisions()
                await self.answer_payments()
                await self.settle_payments()
            except Exception:  # the view must never stop the node; the next round tries again
                log.exception("federation round failed")

    def peer_status(self) -> list[dict[str, object]]:
        return []

    def collect(self) -> Iterable[Metric]:
        known = len(self._last_state.federations) if self._last_state else 0
        yield GaugeMetricFamily("tally_federations_known", "Federations in this node's view", value=known)

    # ---- the fold -------------------------------------------------------------------------------

    async def view(self) -> tuple[FederationState, list[FeedEvent]]:
        state, events, _ = await self.view_held()
        return state, events

    async def view_held(self) -> tuple[FederationState, list[FeedEvent], list[Held]]:
        """The federation state of every federation event held, and every held federation or
        payment event with its exact bytes. The first call reads them all from the store; later
        calls take only the rows the store reported since (`_arrived`, fed by its commit
        listener), so a call costs what is new; the fold reruns only when a federation event or
        a fork proof arrived (payments are not the fold's business)."""
        if not self._loaded:
            async with self._loading:  # concurrent first callers wait for the one load
                if not self._loaded:
                    for row in await self.store.federation_events(federation_events_max):
                        self._absorb(*row)
                    self._loaded = True
        arrived, self._arrived = self._arrived, []
        for row in arrived:
            self._absorb(*row)
        fork_count = await self.store.fork_count()
        if fork_count != self._fork_count:
            self._fork_count = fork_count
            self._fork_events = []
            for feed, seq, proof in await self.store.forks():
                decoded = decode_fork_proof(proof)
                for half in (decoded.first, decoded.second):
                    event = decode_event(half)
                    self._fork_events.append(FeedEvent(feed, seq, event.ts, event.body))
            self._state = None
        events = self._events + self._fork_events
        if self._state is None:
            self._state = self._last_state = fold(events)
        return self._state, events, self._held

    def ledger(self, community: bytes) -> Any:
        """A community's ledger state as this node holds it (its own, or a replica's), or None."""
        if community == self.own_feed:
            return self.node.sequencer.state
        replica = self.replicator.replicas.get(community) if self.replicator is not None else None
        return None if replica is None else replica.state

    def _arrive(self, rows: list[tuple[bytes, int, bytes]]) -> None:
        """The store's commit listener: federation and payment rows just stored, own or replicated."""
        self._arrived.extend(rows)
        self._wake.set()

    def _absorb(self, feed: bytes, seq: int, raw: bytes) -> None:
        if (feed, seq) in self._places:
            return  # read at the first load and reported by the listener too
        self._places.add((feed, seq))
        event = decode_event(raw)
        item = Held(feed, seq, raw, event, hash32(raw))
        self._held.append(item)
        body = event.body
        if isinstance(body, PaymentOut):
            if body.to_community == self.own_feed and feed != self.own_feed:
                self._incoming[item.hash] = item
        elif isinstance(body, (PaymentAccepted, PaymentRejected)):
            if body.from_community == self.own_feed:
                self._answers[(feed, body.payment)] = item
        elif isinstance(body, PaymentCancel):
            self._cancelled.add(body.payment)
        elif not isinstance(body, PaymentBody.__args__):  # type: ignore[attr-defined]
            self._events.append(FeedEvent(feed, seq, event.ts, body))
            self._state = None

    async def abstain_where_stalled(self) -> int:
        """Abstain in every current epoch of a federation this community is a member of, where it
        has cast no ballot and every proposal of the epoch is past its deadline: how a stalled
        epoch ends (docs/federation.md). Returns how many abstentions were appended."""
        if self.node.sequencer.refusal is not None:
            return 0
        state, events = await self.view()
        mine = {(e.body.federation, e.body.epoch) for e in events
                if e.feed == self.own_feed and isinstance(e.body, FederationVote)}
        waiting = {(b.federation, b.epoch) for b in self.node.sequencer.state.federation_outbox
                   if isinstance(b, FederationVote)}
        now = clock_ms()
        appended = 0
        for federation in state.federations.values():
            if not federation.founded or self.own_feed not in federation.members:
                continue
            epoch = federation.epoch
            if (federation.id, epoch) in mine or (federation.id, epoch) in waiting:
                continue
            proposals = [d for d in state.decisions.values() if d.federation == federation.id and d.epoch == epoch]
            if proposals and all(d.proposal.deadline_ms < now for d in proposals):
                body = FederationVote(federation.id, epoch, None)
                await self.node.sequencer.append_body(lambda _state, body=body: body)
                appended += 1
        self.abstained_total += appended
        return appended

    # ---- trade limits and payments ----------------------------------------------------------------

    async def follow_decisions(self) -> int:
        """Apply what each federation this community adopted decided for it, in its unit (rounded
        down): its balance-of-trade limits, as a `trade_limits` event, and, where the federation
        has a parent, the chain above and its share of the federation's capacity, as a
        `capacity_limits` event (the ledger then keeps its position through every level within
        that share, node/payments.py). Only what changed is appended, in one batch."""
        if self.node.sequencer.refusal is not None:
            return 0
        state, _ = await self.view()
        ledger = self.node.sequencer.state
        bodies: list[Any] = []
        for federation_id_, account_id in sorted(ledger.payments.trade.items()):
            federation = state.federations.get(federation_id_)
            member = None if federation is None else federation.members.get(self.own_feed)
            if member is None:
                continue
            debit, ceiling = member.in_own_unit(member.debit_limit_minor), member.in_own_unit(member.credit_ceiling_minor)
            account = ledger.accounts[account_id]
            # Mirrored: the trade account's ceiling is the community's debit limit in the federation.
            if (account.credit_ceiling_minor, account.debit_limit_minor) != (debit, ceiling):
                body: Any = TradeLimits(federation_id_, federation.last_decision, debit, ceiling)
                bodies.append(lambda _state, body=body: body)
            above = state.ancestors(federation_id_)
            current = ledger.payments.capacity.get(federation_id_)
            if not above and current is None:
                continue  # a federation at the top: its members' trade limits are the only bound
            share = member.in_own_unit(member.capacity_minor)
            if current is None or (current.above, current.share_minor) != (above, share):
                body = CapacityLimits(federation_id_, federation.last_decision, above, share)
                bodies.append(lambda _state, body=body: body)
        return await self._append_all(bodies)

    async def answer_payments(self) -> int:
        """Accept or reject every payment sent to this community that it has not answered: the
        rules of its own ledger decide, on the state the answer is appended to. A round's answers
        are queued together, so the sequencer commits them in one batch."""
        if self.node.sequencer.refusal is not None:
            return 0
        state, _, _ = await self.view_held()
        answered = self.node.sequencer.state.payments.answered
        bodies = []
        for payment, item in list(self._incoming.items()):
            if payment in answered:
                del self._incoming[payment]
                continue
            body = item.event.body
            try:
                _, steps = payment_machine.route(state, item.feed, self.own_feed, body.federation)
                amount = payment_machine.convert(body.amount_minor, steps)
            except TallyError:
                amount = 0  # no route through that federation, or less than one minor unit here

            def answer(ledger: Any, item: Held = item, amount: int = amount) -> Any:
                return answer_for(ledger, state, item, amount, item.hash in self._cancelled, clock_ms())

            bodies.append(answer)
        return await self._append_all(bodies)

    async def settle_payments(self) -> int:
        """For every payment this community sent and has pending: settle it once the other
        community accepted it, return it once it rejected it, ask to cancel it once it expired."""
        if self.node.sequencer.refusal is not None:
            return 0
        state, _, _ = await self.view_held()
        bodies: list[Any] = []
        now = clock_ms()
        for payment, pending in list(self.node.sequencer.state.payments.pending.items()):
            item = self._answers.get((pending.to_community, payment))
            frozen_from = None if item is None else state.forks.get(item.feed)
            if item is not None and (frozen_from is None or item.seq < frozen_from):
                # (a forked feed counts nothing it signed from the fork on: such an answer waits)
                answer = item.event.body
                settle: Any = (PaymentSettled(payment, item.hash) if isinstance(answer, PaymentAccepted)
                               else PaymentReturned(payment, item.hash))
                bodies.append(lambda _state, settle=settle: settle)
            elif not pending.cancel_sent and now >= pending.expires_ms:
                cancel = PaymentCancel(payment, pending.to_community)
                bodies.append(lambda _state, cancel=cancel: cancel)
        return await self._append_all(bodies)

    async def _append_all(self, bodies: list[Any]) -> int:
        """Queue every body at once (the sequencer commits what is queued together in one batch)
        and wait for all of them."""
        if bodies:
            await asyncio.gather(*(self.node.sequencer.append_body(body) for body in bodies))
        return len(bodies)

    async def payments(self) -> list[dict[str, Any]]:
        """Every payment this node holds (any community's), with its state as both feeds show it:
        each payment's events run through federation/payments.py's state machine (the mirror
        check of S3*: an answer or a conclusion that does not follow the protocol, or credits other
        than the charters' rates give, is listed under `violation`)."""
        state, _, held = await self.view_held()
        order = {PaymentOut: 0, PaymentCancel: 1, PaymentAccepted: 2, PaymentRejected: 2,
                 PaymentSettled: 3, PaymentReturned: 3}
        by_payment: dict[bytes, list[tuple[int, Held]]] = {}
        for item in held:
            body = item.event.body
            if isinstance(body, PaymentOut):
                by_payment.setdefault(item.hash, []).append((0, item))
            elif type(body) in order:
                by_payment.setdefault(body.payment, []).append((order[type(body)], item))
        rows = []
        now = clock_ms()
        def unit_of(community: bytes) -> dict[str, Any] | None:
            ledger = self.ledger(community)
            return None if ledger is None else {"code": ledger.community.unit_code,
                                                "decimals": ledger.community.unit_decimals}

        def name_of(community: bytes, member: bytes) -> str | None:
            ledger = self.ledger(community)
            found = None if ledger is None else ledger.members.get(member)
            return None if found is None else found.name

        for payment_id, items in by_payment.items():
            items.sort(key=lambda pair: (pair[0], pair[1].event.ts))
            if items[0][0] != 0:
                continue  # an answer or conclusion for a payment whose sending event is not held here
            sent = items[0][1]
            body = sent.event.body
            violation = None
            try:
                payment = payment_machine.send(payment_id, sent.feed, sent.event.ts, body)
                for _, item in items[1:]:
                    converted = None
                    if isinstance(item.event.body, PaymentAccepted):
                        try:
                            _, steps = payment_machine.route(state, sent.feed, body.to_community, body.federation)
                            converted = payment_machine.convert(body.amount_minor, steps)
                        except TallyError:
                            converted = None
                    payment = payment_machine.apply(payment, item.feed, item.event.ts, item.hash,
                                                    item.event.body, converted)
            except TallyError as error:
                violation = f"{error.code}: {error.message}"
            status = payment.status
            if status == "pending" and now > body.expires_ms:
                status = "expired"
            answer = next((i.event.body for _, i in items if isinstance(i.event.body, (PaymentAccepted, PaymentRejected))), None)
            rows.append({
                "id": id_to_text("h", payment_id),
                "status": status,
                "federation": id_to_text("x", body.federation),
                "from_community": id_to_text("n", sent.feed),
                "payer": id_to_text("m", body.payer),
                "to_community": id_to_text("n", body.to_community),
                "to_member": id_to_text("m", body.to_member),
                "amount": body.amount_minor,
                "received": answer.amount_minor if isinstance(answer, PaymentAccepted) else None,
                # For people: each side's unit, and the members' names where this node holds the ledger.
                "from_unit": unit_of(sent.feed),
                "to_unit": unit_of(body.to_community),
                "payer_name": name_of(sent.feed, body.payer),
                "to_member_name": name_of(body.to_community, body.to_member),
                "reason": answer.reason if isinstance(answer, PaymentRejected) else None,
                "memo": body.memo,
                "sent_ms": sent.event.ts,
                "expires_ms": body.expires_ms,
                "violation": violation,
            })
        rows.sort(key=lambda row: -row["sent_ms"])
        return rows

    # ---- certificates ---------------------------------------------------------------------------

    async def certificate_bytes(self, decision: bytes) -> bytes:
        state, events, held = await self.view_held()
        found = state.decisions.get(decision)
        if found is None:
            raise UnknownFederationDecisionError("no federation decision has that id in this node's view")
        raw_by_place = {(item.feed, item.seq): item.raw for item in held}
        histories: dict[bytes, KeyHistory] = {}
        for feed in {e.feed for e in events}:
            genesis = await self.store.event_at(feed, 1)
            if genesis is None:
                continue
            rotations = await self.store.query(
                "SELECT bytes FROM log WHERE feed = ? AND kind = 'key_rotated' ORDER BY seq", (feed,),
                limits.page_size_max,
            )
            histories[feed] = KeyHistory(genesis=genesis, rotations=tuple(bytes(raw) for (raw,) in rotations))
        certificate = build_certificate(
            state, decision, lambda feed, seq: raw_by_place[(feed, seq)], lambda feed: histories[feed]
        )
        return encode_certificate(certificate)


# ---- JSON -----------------------------------------------------------------------------------------


def answer_for(ledger: Any, state: FederationState, item: Held, amount: int, cancelled: bool,
               now_ms: int) -> PaymentAccepted | PaymentRejected:
    """The payee community's answer to the `payment_sent` in `item`, worth `amount` in its unit
    (0 if it does not convert), on its ledger as it stands when the answer is appended."""
    body = item.event.body
    assert isinstance(body, PaymentOut)
    if item.seq >= state.forks.get(item.feed, item.seq + 1):
        # A forked feed counts nothing it signed from its fork on (frozen everywhere); a payment it
        # sent before the fork is an ordinary one: the fork proof does not dispute it.
        reason: str | None = "refused"
    elif cancelled:
        reason = "cancelled"
    elif now_ms > body.expires_ms:
        reason = "expired"
    elif amount <= 0:
        reason = "refused"
    else:
        reason = paying.incoming_refusal(ledger, body.federation, body.to_member, amount)
    if reason is None:
        return PaymentAccepted(item.hash, item.feed, amount, body.federation, body.to_member)
    return PaymentRejected(item.hash, item.feed, reason)  # type: ignore[arg-type]


def _layer(request: web.Request) -> Federations:
    return request.app[federations_key]  # type: ignore[return-value]


def _member_text(state: FederationState, member: bytes) -> str:
    return id_to_text("x", member) if member in state.federations else id_to_text("n", member)


def _resolve(state: FederationState, reference: str) -> Federation:
    if reference.startswith("x_"):
        found = state.federations.get(id_from_text("x", reference))
    else:
        named = [f for f in state.federations.values() if f.name.casefold() == reference.casefold()]
        found = named[0] if len(named) == 1 else None
    if found is None:
        raise UnknownFederationError(f"no federation {reference!r} in this node's view; `tally federation list` lists them")
    return found


def decision_json(state: FederationState, decision: Decision) -> dict[str, Any]:
    federation = state.federations.get(decision.federation)
    needed = federation.quorum if federation is not None else None
    return {
        "id": id_to_text("h", decision.id),
        "federation": id_to_text("x", decision.federation),
        "epoch": decision.epoch,
        "proposer": id_to_text("n", decision.proposer),
        "seq": decision.seq,
        "title": decision.proposal.title,
        "text": decision.proposal.text,
        "deadline_ms": decision.proposal.deadline_ms,
        "time_left_ms": max(0, decision.proposal.deadline_ms - clock_ms()) if decision.outcome == "open" else 0,
        "effect": _plain(decision.proposal.effect),
        "outcome": decision.outcome,
        "reason": decision.reason,
        "yes": [_member_text(state, ballot.member) for ballot in decision.yes],
        "needed": needed,
    }


def _plain(value: Any) -> Any:
    """A federation struct as JSON-ready data (ids in hex: their kind depends on the member)."""
    data = msgspec.to_builtins(value, builtin_types=(bytes,))
    return _hexed(data)


def _hexed(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _hexed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_hexed(item) for item in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _member_name(layer: Federations, member: bytes) -> str | None:
    """A community's name from its ledger, or a federation's (None if neither is held here)."""
    state = layer._last_state
    if state is not None and member in state.federations:
        return state.federations[member].name
    ledger = layer.ledger(member)
    return None if ledger is None else ledger.community.name


def federation_json(layer: Federations, state: FederationState, federation: Federation) -> dict[str, Any]:
    charter = federation.charter
    return {
        "id": id_to_text("x", federation.id),
        "name": federation.name,
        "unit": {"code": charter.unit_code, "decimals": charter.unit_decimals},
        "quorum_bp": federation.quorum_bp,
        "quorum": federation.quorum,
        "founded": federation.founded,
        "adopted": sorted(_member_text(state, member) for member in federation.adopted),
        "epoch": federation.epoch,
        "members": [
            {
                "member": _member_text(state, member.member),
                "name": _member_name(layer, member.member),
                "kind": member.kind,
                "unit_code": member.unit_code,
                "rate": [member.rate_num, member.rate_den],
                "capacity": member.capacity_minor,
                "debit_limit": member.debit_limit_minor,
                "credit_ceiling": member.credit_ceiling_minor,
            }
            for member in sorted(federation.members.values(), key=lambda m: m.member)
        ],
        "parents": sorted(id_to_text("x", parent) for parent in state.parents.get(federation.id, frozenset())),
        "passed": [id_to_text("h", decision) for decision in federation.passed],
        "last_decision": id_to_text("h", federation.last_decision),
        # The charter's exact bytes: another community adopts the same charter from these.
        "charter": base64.b64encode(encode(charter)).decode(),
    }


async def list_federations(request: web.Request) -> web.Response:
    layer = _layer(request)
    state, _ = await layer.view()
    federations = sorted(state.federations.values(), key=lambda f: (f.name, f.id))
    return _json([federation_json(layer, state, f) for f in federations[: limits.page_size_max]])


async def show_federation(request: web.Request) -> web.Response:
    layer = _layer(request)
    state, _ = await layer.view()
    federation = _resolve(state, request.match_info["federation"])
    document = federation_json(layer, state, federation)
    decisions = sorted((d for d in state.decisions.values() if d.federation == federation.id),
                       key=lambda d: (-d.epoch, d.id))
    document["decisions"] = [decision_json(state, d) for d in decisions[: limits.page_size_max]]
    document["equivocations"] = [
        {"epoch": e.epoch, "member": id_to_text("n", e.member), "counted_seq": e.counted_seq, "ignored_seq": e.ignored_seq}
        for e in state.equivocations if e.federation == federation.id
    ]
    return _json(document)


async def certificate(request: web.Request) -> web.Response:
    layer = _layer(request)
    state, _ = await layer.view()
    federation = _resolve(state, request.match_info["federation"])
    text = request.match_info["decision"]
    try:
        decision = id_from_text("h", text)
    except BadIdError:
        raise MalformedError("a federation decision's id is its h_ text") from None
    found = state.decisions.get(decision)
    if found is None or found.federation != federation.id:
        raise UnknownFederationDecisionError(f"{federation.name} has no decision {text} in this node's view")
    data = await layer.certificate_bytes(decision)
    return _json({"decision": text, "federation": id_to_text("x", federation.id),
                  "certificate": base64.b64encode(data).decode(), "bytes": len(data)})


# ---- the viability report -------------------------------------------------------------------------


async def report_json(layer: Federations, state: FederationState, federation: Federation) -> dict[str, Any]:
    node = layer.node
    replicator = layer.replicator
    communities = sorted(_communities_under(state, federation))
    operations = []
    for community in communities:
        if community == layer.own_feed:
            ledger, head = node.sequencer.state, node.sequencer.head
        else:
            replica = replicator.replicas.get(community) if replicator is not None else None
            ledger, head = (replica.state, replica.head) if replica is not None else (None, None)
        if ledger is None or head is None:
            operations.append({"community": id_to_text("n", community), "held": False})
            continue
        balances = [account.balance_minor for account in ledger.accounts.values()]
        operations.append({
            "community": id_to_text("n", community),
            "name": ledger.community.name,
            "held": True,
            "seq": head.seq,
            "last_event_ms": head.ts,
            "idle_ms": max(0, clock_ms() - head.ts),
            "members": sum(1 for m in ledger.members.values() if m.active and m.role in ("member", "admin")),
            "enterprises": len(ledger.shares.enterprises),
            "open_decisions": len(ledger.open_decisions),
            "credit_issued": sum(b for b in balances if b > 0),  # the sum of positive balances
            "unit": ledger.community.unit_code,
            "unit_decimals": ledger.community.unit_decimals,
        })
    peers = replicator.peer_status() if replicator is not None else []
    status = await node.status()
    ledger_of = layer.ledger
    control = []
    now = clock_ms()
    for m in sorted(federation.members.values(), key=lambda m: m.member):
        in_federation = member_position(state, ledger_of, federation, m.member)
        if m.kind == "federation":
            # A member federation's bound is its capacity here, either way.
            at_limit = in_federation is not None and m.capacity_minor > 0 and abs(in_federation) >= m.capacity_minor
        else:
            at_limit = in_federation is not None and (
                (m.debit_limit_minor > 0 and -in_federation >= m.debit_limit_minor)
                or (m.credit_ceiling_minor > 0 and in_federation >= m.credit_ceiling_minor))
        since = layer.at_limit_since.setdefault((federation.id, m.member), now) if at_limit else None
        if not at_limit:
            layer.at_limit_since.pop((federation.id, m.member), None)
        control.append({
            "member": _member_text(state, m.member), "name": _member_name(layer, m.member), "kind": m.kind,
            "capacity_allocated": m.capacity_minor,
            "trade_debit_limit": m.debit_limit_minor, "trade_credit_ceiling": m.credit_ceiling_minor,
            "position": in_federation, "at_limit": at_limit,
            "at_limit_ms": None if since is None else now - since,
        })
    payments = [row for row in await layer.payments() if row["federation"] == id_to_text("x", federation.id)]
    flows: dict[tuple[str, str], dict[str, int]] = {}
    for row in payments:
        if row["status"] == "settled":
            flow = flows.setdefault((row["from_community"], row["to_community"]), {"payments": 0, "sent": 0})
            flow["payments"] += 1
            flow["sent"] += row["amount"]
    pending = [row for row in payments if row["status"] in ("pending", "accepted", "rejected")]
    checkpoints = {}
    for community in communities:
        rows = await layer.store.query("SELECT MAX(seq) FROM log WHERE feed = ? AND kind = 'checkpoint'", (community,), 1)
        checkpoints[id_to_text("n", community)] = rows[0][0] if rows else None
    forks = [f for f in status["forks"] if id_from_text("n", f["feed"]) in communities]  # type: ignore[index, arg-type]
    audit = {
        "verified_by": id_to_text("n", layer.own_feed),
        "feeds": {id_to_text("n", c): status["feeds"].get(id_to_text("n", c)) for c in communities},  # type: ignore[union-attr]
        "last_checkpoint_seq": checkpoints,
        "forks": forks,
        "equivocations": [
            {"epoch": e.epoch, "member": id_to_text("n", e.member), "counted_seq": e.counted_seq,
             "ignored_seq": e.ignored_seq}
            for e in state.equivocations if e.federation == federation.id
        ],
        "refused_federation_events": [
            {"feed": id_to_text("n", r.feed), "seq": r.seq, "reason": r.reason}
            for r in state.refusals if r.feed in communities
        ][: limits.page_size_max],
    }
    alerts = []
    for fork in forks:
        alerts.append({"kind": "fork", "system": "S3*", "message": f"feed {fork['feed']} is forked at seq {fork['seq']}; it is frozen"})
    for item in audit["equivocations"]:
        alerts.append({"kind": "equivocation", "system": "S3*",
                       "message": f"{item['member']} voted twice in epoch {item['epoch']}; the first counts"})
    for row in control:
        if row["at_limit"] and row["at_limit_ms"] >= node.config.at_limit_alert_ms:
            bound = "capacity" if row["kind"] == "federation" else "balance-of-trade limit"
            alerts.append({"kind": "at_limit", "system": "S3",
                           "message": f"{row['member']} has been at its {bound} in the federation for "
                                      f"{row['at_limit_ms'] // 60000} min: it can only trade the other way"})
    for row in payments:
        if row["violation"]:
            alerts.append({"kind": "payment_violation", "system": "S3*",
                           "message": f"payment {row['id']} does not follow the protocol: {row['violation']}"})
    for row in pending:
        if clock_ms() - row["sent_ms"] > payment_pending_alert_ms:
            alerts.append({"kind": "payment_pending", "system": "S2",
                           "message": f"payment {row['id']} has been {row['status']} for over an hour"})
    for peer in peers:
        if not peer["reachable"]:
            alerts.append({"kind": "unreachable", "system": "S2", "message": f"peer {peer['url']} is unreachable"})
    for row in operations:
        if not row["held"]:
            alerts.append({"kind": "not_held", "system": "S2",
                           "message": f"this node holds no copy of {row['community']}: peer with it"})
    for alert in status["alerts"]:  # type: ignore[union-attr]
        if alert.get("kind") not in {a["kind"] for a in alerts}:
            alerts.append({**alert, "system": alert.get("system", "node")})
    charter = federation.charter
    return {
        "federation": id_to_text("x", federation.id),
        "name": federation.name,
        "alerts": alerts,
        "s1_operations": operations,
        "s2_coordination": {"peers": peers, "payments_pending": len(pending),
                            "payments": pending[: limits.page_size_max]},
        "s3_control": control,
        # This federation's own net position in each parent, in the parent's unit: with its
        # members' positions here, the sums balance (members' positions sum to it).
        "position_in_parents": [
            {"parent": id_to_text("x", parent),
             "position": member_position(state, ledger_of, state.federations[parent], federation.id),
             "capacity": state.federations[parent].members[federation.id].capacity_minor}
            for parent in sorted(state.parents.get(federation.id, frozenset()))
        ],
        "s3_star_audit": audit,
        "s4_intelligence": {
            "trade_flows": [{"from": source, "to": target, **flow} for (source, target), flow in sorted(flows.items())],
            "imbalances": sorted((row for row in control if row["position"]), key=lambda row: row["position"]),
        },
        "s5_policy": {
            "charter": {"name": charter.name, "unit": charter.unit_code, "decimals": charter.unit_decimals,
                        "quorum_bp": charter.quorum_bp, "founded_ms": charter.founded_ms,
                        "founding_members": [_member_text(state, m.member) for m in charter.members]},
            "current_name": federation.name,
            "quorum_bp": federation.quorum_bp,
            "epoch": federation.epoch,
            "passed_decisions": len(federation.passed),
            "parents": sorted(id_to_text("x", p) for p in state.parents.get(federation.id, frozenset())),
        },
    }


def member_position(state: FederationState, ledger_of: Any, federation: Federation, member: bytes) -> int | None:
    """A member's net position in `federation`, in the federation's unit (None if a ledger it
    needs is not held here). A community's is its trade account there; a member federation's is
    the sum, over the communities under it, of their position through it (their capacity count at
    the level that leaves it), each converted up the tree by the charters' rates, rounded down."""
    child = state.federations.get(member)
    if child is None:
        ledger = ledger_of(member)
        local = None if ledger is None else paying.position(ledger, federation.id)
        return None if local is None else federation.members[member].in_federation_unit(local)
    total = 0
    for community in sorted(_communities_under(state, child)):
        ledger = ledger_of(community)
        if ledger is None:
            return None
        for own, capacity in sorted(ledger.payments.capacity.items()):
            chain = (own, *capacity.above)
            if member not in chain or federation.id not in capacity.above:
                continue
            value = capacity.used[chain.index(member)]
            try:
                rates = payment_machine.rates_up(state, community, federation.id)
            except TallyError:
                return None
            for rate_num, rate_den in rates:  # from the community's unit up to `federation`'s
                value = value * rate_num // rate_den
            total += value
            break
    return total


def _communities_under(state: FederationState, federation: Federation, seen: frozenset[bytes] = frozenset()) -> set[bytes]:
    found: set[bytes] = set()
    for member in federation.members:
        child = state.federations.get(member)
        if child is None:
            found.add(member)
        elif member not in seen:
            found |= _communities_under(state, child, seen | {federation.id})
    return found


async def payments_list(request: web.Request) -> web.Response:
    """Payments across communities this node holds, newest first; `?mine=1` for this
    community's own (sent or received)."""
    layer = _layer(request)
    rows = await layer.payments()
    if params.query_flag(request, "mine"):
        own = id_to_text("n", layer.own_feed)
        rows = [row for row in rows if own in (row["from_community"], row["to_community"])]
    return _json(rows[: limits.page_size_max])


async def viability_report(request: web.Request) -> web.Response:
    layer = _layer(request)
    state, _ = await layer.view()
    federation = _resolve(state, request.match_info["federation"])
    return _json(await report_json(layer, state, federation))


def _json(data: Any) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), content_type="application/json")

