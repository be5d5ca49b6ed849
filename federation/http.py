"""The federation layer's JSON routes: /api/federations (each federation, its decisions, its
viability report, a decision's quorum certificate) and /api/payments (every payment across held,
with its state); described in node/http/openapi.py with the rest of the API.

How this works: every handler reads the node's `FederationView` (view.py) under `federations_key`
and answers JSON; a refusal is a typed error the node's middleware writes as a JSON error. A
federation is named by its `x_` id or by its name (case-insensitive, when exactly one has it).
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec
from aiohttp import web
from tallystick.node.app import clock_ms, node_key
from tallystick.node.http import params
from tallystick.node.http.middleware import json_response as _json
from tallystick.node.http.readers import reader_of
from tallystick.node.visible import Shown, payment_across_shown
from tallystick.protocol import limits
from tallystick.protocol.codec import encode
from tallystick.protocol.errors import BadIdError, MalformedError
from tallystick.protocol.ids import id_from_text, id_to_text

from . import wallet
from .report import report_json
from .state import Decision, Federation, FederationState
from .view import FederationView, UnknownFederationDecisionError, federations_key, member_text


class UnknownFederationError(BadIdError):
    code = "unknown_federation"
    http_status = 404



def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/federations", list_federations)
    app.router.add_get("/api/federations/{federation}", show_federation)
    app.router.add_get("/api/federations/{federation}/report", viability_report)
    app.router.add_get("/api/federations/{federation}/decisions/{decision}/certificate", certificate)
    app.router.add_get("/api/payments", payments_list)
    wallet.add_routes(app)  # whom a member may pay across (the wallet's look-up)


def _layer(request: web.Request) -> FederationView:
    return request.app[federations_key]


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
        "yes": [member_text(state, ballot.member) for ballot in decision.yes],
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


def federation_json(layer: FederationView, state: FederationState, federation: Federation) -> dict[str, Any]:
    charter = federation.charter
    return {
        "id": id_to_text("x", federation.id),
        "name": federation.name,
        "unit": {"code": charter.unit_code, "decimals": charter.unit_decimals},
        "quorum_bp": federation.quorum_bp,
        "quorum": federation.quorum,
        "founded": federation.founded,
        "adopted": sorted(member_text(state, member) for member in federation.adopted),
        "epoch": federation.epoch,
        "members": [
            {
                "member": member_text(state, member.member),
                "name": layer.member_name(member.member),
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


async def payments_list(request: web.Request) -> web.Response:
    """Payments across communities this node holds, newest first; `?mine=1` for this
    community's own (sent or received). Each carries members and a memo: a row is shown only to a
    reader who may see the history of this community's member in it (node/visible.py)."""
    layer = _layer(request)
    rows = await layer.payments()
    own = id_to_text("n", layer.own_feed)
    if params.query_flag(request, "mine"):
        rows = [row for row in rows if own in (row["from_community"], row["to_community"])]
    state, reader, shown = request.app[node_key].sequencer.state, reader_of(request), Shown()
    rows = [row for row in rows if payment_across_shown(state, reader, row, own, shown)]
    return _json(rows[: limits.page_size_max], headers=shown.headers())


async def viability_report(request: web.Request) -> web.Response:
    layer = _layer(request)
    state, _ = await layer.view()
    federation = _resolve(state, request.match_info["federation"])
    return _json(await report_json(layer, state, federation))
