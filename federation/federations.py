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
from prometheus_client.core import GaugeMetricFamily, Metric
from tallystick.node.runtime import Node, clock_ms
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_fork_proof, encode
from tallystick.protocol.errors import BadIdError, MalformedError
from tallystick.protocol.federation import FederationVote
from tallystick.protocol.ids import id_from_text, id_to_text

from .quorum import KeyHistory, build_certificate, encode_certificate
from .state import Decision, Federation, FederationState, FeedEvent, fold

log = logging.getLogger("tallystick.federation")
federations_key = web.AppKey("federations", object)
# Federation events folded at most (charters, proposals and votes of every federation held).
federation_events_max = 200_000
# How often the node looks for stalled epochs it should abstain in.
abstain_interval_ms = 1000


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
        self._cached: tuple[tuple[int, int], FederationState, list[FeedEvent]] | None = None
        self.abstained_total = 0
        self.replicator: Any = None  # set by federation/service.py: peers, lag and held replicas

    def add_routes(self, app: web.Application) -> None:
        app[federations_key] = self
        app.router.add_get("/api/federations", list_federations)
        app.router.add_get("/api/federations/{federation}", show_federation)
        app.router.add_get("/api/federations/{federation}/report", viability_report)
        app.router.add_get("/api/federations/{federation}/decisions/{decision}/certificate", certificate)

    async def start(self, node: Node) -> None:
        self.node = node
        self.store = node.store
        self.own_feed = node.sequencer.head.feed

    async def run(self) -> None:
        while True:
            await asyncio.sleep(abstain_interval_ms / 1000)
            try:
                await self.abstain_where_stalled()
            except Exception:  # the view must never stop the node; the next round tries again
                log.exception("federation round failed")

    def peer_status(self) -> list[dict[str, object]]:
        return []

    def collect(self) -> Iterable[Metric]:
        cached = self._cached
        known = len(cached[1].federations) if cached else 0
        yield GaugeMetricFamily("tally_federations_known", "Federations in this node's view", value=known)

    # ---- the fold -------------------------------------------------------------------------------

    async def view(self) -> tuple[FederationState, list[FeedEvent]]:
        """The federation state of every federation event held, refolded when the log grew."""
        rows = await self.store.federation_events(federation_events_max)
        forks = await self.store.forks()
        key = (len(rows), len(forks))
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1], self._cached[2]
        events = []
        for feed, seq, raw in rows:
            event = decode_event(raw)
            events.append(FeedEvent(feed, seq, event.ts, event.body))
        for feed, seq, proof in forks:
            decoded = decode_fork_proof(proof)
            for half in (decoded.first, decoded.second):
                event = decode_event(half)
                events.append(FeedEvent(feed, seq, event.ts, event.body))
        state = fold(events)
        self._cached = (key, state, events)
        return state, events

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

    # ---- certificates ---------------------------------------------------------------------------

    async def certificate_bytes(self, decision: bytes) -> bytes:
        state, events = await self.view()
        found = state.decisions.get(decision)
        if found is None:
            raise UnknownFederationDecisionError("no federation decision has that id in this node's view")
        raw_by_place = {(feed, seq): raw for feed, seq, raw in await self.store.federation_events(federation_events_max)}
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
    if member == layer.own_feed:
        return layer.node.sequencer.state.community.name
    replica = layer.replicator.replicas.get(member) if layer.replicator is not None else None
    return None if replica is None else replica.state.community.name


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
        })
    peers = replicator.peer_status() if replicator is not None else []
    status = await node.status()
    control = [
        {"member": _member_text(state, m.member), "capacity_allocated": m.capacity_minor,
         "trade_debit_limit": m.debit_limit_minor, "trade_credit_ceiling": m.credit_ceiling_minor,
         # Cross-community payments are not yet part of the ledger: no trade account moves.
         "position": 0}
        for m in sorted(federation.members.values(), key=lambda m: m.member)
    ]
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
        "s2_coordination": {"peers": peers, "payments_pending": 0},
        "s3_control": control,
        "s3_star_audit": audit,
        "s4_intelligence": {"trade_flows": [], "imbalances": [],
                            "note": "trade flows appear once cross-community payments run"},
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


def _communities_under(state: FederationState, federation: Federation, seen: frozenset[bytes] = frozenset()) -> set[bytes]:
    found: set[bytes] = set()
    for member in federation.members:
        child = state.federations.get(member)
        if child is None:
            found.add(member)
        elif member not in seen:
            found |= _communities_under(state, child, seen | {federation.id})
    return found


async def viability_report(request: web.Request) -> web.Response:
    layer = _layer(request)
    state, _ = await layer.view()
    federation = _resolve(state, request.match_info["federation"])
    return _json(await report_json(layer, state, federation))


def _json(data: Any) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), content_type="application/json")

