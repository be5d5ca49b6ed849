"""The federations a node takes part in, as a running node sees them: the pure fold of
federation/state.py over the federation events this node holds, every payment across it holds
with its state, the quorum certificates, and the ledgers of the communities it holds.

How this works: the store keeps every held feed's federation events (charters, proposals, votes) in
`federation_log`, written with the log itself; `view()` folds them (and both halves of every fork
proof the node holds, so a forked feed is frozen in every federation) with `state.fold`, and keeps
the result until the log grows. Nothing here decides anything: a community acts in a federation
only through its own ledger (the `federation` action puts a body in its outbox; node/domain.py), and
every other node reaches the same federation state from the same signed events. The view is what
the node's rounds (rounds.py), its routes (http.py), its report (report.py) and its pages
(pages.py) read; it is also the node's `Elsewhere` (node/app.py), through which the node's own pages
name other communities without importing federation/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web
from msgspec import Struct
from tallystick.ledger.model import Member, State
from tallystick.node.app import FederationListed, Node, clock_ms
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_fork_proof
from tallystick.protocol.errors import BadIdError, TallyError
from tallystick.protocol.events import Event
from tallystick.protocol.federation import (
    PaymentAccepted,
    PaymentBody,
    PaymentCancel,
    PaymentOut,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
)
from tallystick.protocol.feed import FeedHead
from tallystick.protocol.ids import hash32, id_to_text
from tallystick.protocol.personal import Committed

from . import payments as payment_machine
from .quorum import KeyHistory, build_certificate, encode_certificate
from .state import FederationState, FeedEvent, fold

# Federation events folded at most (charters, proposals and votes of every federation held).
federation_events_max = 200_000


class Held(Struct, frozen=True):
    """A held federation or payment event, with its exact bytes."""

    feed: bytes
    seq: int
    raw: bytes
    event: Event
    hash: bytes  # the event's hash (a payment_sent's is the payment's id)


class UnknownFederationDecisionError(BadIdError):
    code = "unknown_federation_decision"
    http_status = 404



class HeldReplica(Protocol):
    """A replica of another community's feed, as replication holds it."""

    @property
    def state(self) -> State: ...

    @property
    def head(self) -> FeedHead: ...


class Replication(Protocol):
    """What the view reads of replication (its `Replicator`, set by federation/service.py): the
    replicas it holds and its peers."""

    @property
    def replicas(self) -> Mapping[bytes, HeldReplica]: ...

    def peer_status(self) -> list[dict[str, object]]: ...


class FederationView:
    """The federation view of one node: the fold of the federation events it holds, and every
    federation and payment event it holds with its exact bytes."""

    def __init__(self) -> None:
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
        self.incoming: dict[bytes, Held] = {}  # payment id -> a payment_sent to this community, not yet answered
        self.answers: dict[tuple[bytes, bytes], Held] = {}  # (payee feed, payment id) -> its answer to us
        self.cancelled: set[bytes] = set()
        self.abstained_total = 0
        self.replicator: Replication | None = None  # set by federation/service.py: peers, lag and held replicas
        # (federation, member) -> when this node first saw the member at its limit, while it stays there
        self.at_limit_since: dict[tuple[bytes, bytes], int] = {}

    async def start(self, node: Node) -> None:
        self.node = node
        self.store = node.store
        self.own_feed = node.sequencer.head.feed
        self.wake = asyncio.Event()  # set when federation or payment rows arrive: a round is due
        self.store.federation_listeners.append(self._arrive)

    @property
    def last_state(self) -> FederationState | None:
        """The federation state of the last fold, without folding what arrived since (None before
        the first)."""
        return self._last_state

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

    def ledger(self, community: bytes) -> State | None:
        """A community's ledger state as this node holds it (its own, or a replica's), or None."""
        if community == self.own_feed:
            return self.node.sequencer.state
        replica = self.replicator.replicas.get(community) if self.replicator is not None else None
        return None if replica is None else replica.state

    def _arrive(self, rows: list[tuple[bytes, int, bytes]]) -> None:
        """The store's commit listener: federation and payment rows just stored, own or replicated."""
        self._arrived.extend(rows)
        self.wake.set()

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
                self.incoming[item.hash] = item
        elif isinstance(body, (PaymentAccepted, PaymentRejected)):
            if body.from_community == self.own_feed:
                self.answers[(feed, body.payment)] = item
        elif isinstance(body, PaymentCancel):
            self.cancelled.add(body.payment)
        elif not isinstance(body, PaymentBody.__args__):  # type: ignore[attr-defined]
            self._events.append(FeedEvent(feed, seq, event.ts, body))
            self._state = None

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
            return None if found is None else self.member_name_in(community, found)

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
                "memo": self.memo_text(sent.feed, body.memo),
                "sent_ms": sent.event.ts,
                "expires_ms": body.expires_ms,
                "violation": violation,
            })
        rows.sort(key=lambda row: -row["sent_ms"])
        return rows

    async def payers_by_payment(self) -> dict[bytes, bytes]:
        """The payer of every payment across held here (the member of the sending community), by
        the payment's id: the payers of `payments()`'s rows."""
        _, _, held = await self.view_held()
        return {item.hash: item.event.body.payer for item in held if isinstance(item.event.body, PaymentOut)}

    async def federations_listed(self) -> list[FederationListed]:
        state, _ = await self.view()
        found = sorted(state.federations.values(), key=lambda f: (f.name, f.id))[: limits.page_size_max]
        return [FederationListed(f.id, f.name, len(f.members)) for f in found]

    def member_name_in(self, community: bytes, member: Member) -> str | None:
        """A member's name as this node may show it: its own community's opened by the node's
        directory ("(erased)" where erased); another community's only where its log holds the
        name in clear (written before names were committed, docs/protocol.md §19), else None, and
        the reader is shown the id."""
        if community == self.own_feed:
            return self.node.directory.name(member)
        return member.name if isinstance(member.name, str) else None

    def memo_text(self, community: bytes, memo: str | Committed) -> str | None:
        """A payment's memo as `member_name_in` shows a name: this community's own opened, another's
        only in clear (None for a memo its node committed: this node cannot open it)."""
        if isinstance(memo, str):
            return memo
        return self.node.directory.shown(memo) if community == self.own_feed else None

    def member_name(self, member: bytes) -> str | None:
        """A community's name from its ledger, or a federation's (None if neither is held here)."""
        state = self._last_state
        if state is not None and member in state.federations:
            return state.federations[member].name
        ledger = self.ledger(member)
        return None if ledger is None else ledger.community.name

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


federations_key = web.AppKey("federations", FederationView)


def member_text(state: FederationState, member: bytes) -> str:
    """A federation's member in its text form: `x_` for a member federation, `n_` for a community."""
    return id_to_text("x", member) if member in state.federations else id_to_text("n", member)
