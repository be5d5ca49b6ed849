"""The node's HTTP API: JSON under /api/ for people and clients, described by /openapi.json.

How this works: handlers are thin. Reads go to the store's projections (never a log replay);
writes go to the sequencer as signed intents, and the answer comes after the commit. Every error is
a JSON body `{"error": code, "message": text}` produced in one middleware from our typed errors
(http/middleware.py), so the same refusal reads the same over HTTP and at the command line.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from typing import Any

import msgspec
from aiohttp import web
from tallystick.ledger.accounts import credit_ceiling, debit_limit, people
from tallystick.ledger.decisions import tally, winners
from tallystick.ledger.errors import UnknownDecisionError
from tallystick.ledger.model import Decision
from tallystick.ledger.visibility import Reader, policy_json, stranger
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event
from tallystick.protocol.errors import MalformedError
from tallystick.protocol.ids import id_to_text

from ..app import Node, clock_ms, node_key
from ..connections import read_body
from ..sessions import sessions_key
from ..views import event_json, render
from ..visible import Shown, require, sees, shape_decision
from ..visible import resolve_member as resolve_for
from . import deciding, params, statement, stream, wallet_reads
from .middleware import json_response as _json
from .readers import reader_of
from .statement import search_text


def _node(request: web.Request) -> Node:
    return request.app[node_key]


def resolve_member(request: web.Request, reference: str) -> bytes:
    """A member by id (`m_…`) or by the name the community gave it, as this request's reader may
    name them (node/visible.py: a member whose name is hidden from them is as unknown as no one)."""
    node = _node(request)
    return resolve_for(node.sequencer.state, reader_of(request), reference, node.directory)


async def community(request: web.Request) -> web.Response:
    node = _node(request)
    state, head = node.sequencer.state, node.sequencer.head
    c = state.community
    return _json(
        {
            "node": id_to_text("n", head.feed),
            "name": c.name,
            "unit": {"code": c.unit_code, "decimals": c.unit_decimals},
            "debit_limit": c.debit_limit_minor,
            "credit_ceiling": c.credit_ceiling_minor,
            "seq": head.seq,
            "head": id_to_text("h", head.head),
            "members": people(state),  # persons, not escrow, trade or enterprise accounts
            # The policy itself is public: a client can say what it was not shown, and why.
            "visibility": policy_json(state.visibility),  # who sees what (docs/privacy.md)
        }
    )


async def status(request: web.Request) -> web.Response:
    return _json(await _node(request).status())


async def balances(request: web.Request) -> web.Response:
    node = _node(request)
    state, reader = node.sequencer.state, reader_of(request)
    limit = params.query_integer(request, "limit", limits.page_size_max, 1, limits.page_size_max)
    reference = request.query.get("account")
    account = resolve_member(request, reference) if reference else None
    if account is not None:
        require(state, reader, "balances", account)
    rows = await node.store.balances(node.feed, account, limit, name_of=node.directory.stored)
    result = []
    shown = Shown()
    for member_id, name, balance, _debit, _ceiling, active in rows:
        if not shown.keep(state, reader, "balances", member_id):
            continue
        account_state = state.accounts[member_id]
        result.append(
            {
                "account": id_to_text("m", member_id),
                "name": node.directory.stored(name),
                "balance": balance,
                "debit_limit": debit_limit(state, account_state),
                "credit_ceiling": credit_ceiling(state, account_state),
                "active": bool(active),
            }
        )
    return _json(result, headers=shown.headers())


def _member_json(node: Node, member_id: bytes, name: str, found: Any) -> dict[str, Any]:
    return {
        "id": id_to_text("m", member_id),
        "name": name,
        "key": id_to_text("k", found.key),
        "role": found.role,
        "active": found.active,
        "admitted_seq": found.admitted_seq,
    }


async def members(request: web.Request) -> web.Response:
    node = _node(request)
    state, reader = node.sequencer.state, reader_of(request)
    limit = params.query_integer(request, "limit", limits.page_size_max, 1, limits.page_size_max)
    query = search_text(request)
    shown = Shown()
    if query is not None:
        return _json(search_members(node, state, reader, query, limit, shown), headers=shown.headers())
    rows = await node.store.members(node.feed, limit, name_of=node.directory.stored)
    return _json(
        [
            {
                "id": id_to_text("m", member_id),
                "name": node.directory.stored(name),
                "key": id_to_text("k", key),
                "role": role,
                "active": bool(active),
                "admitted_seq": admitted_seq,
            }
            for member_id, name, key, role, active, admitted_seq in rows
            if shown.keep(state, reader, "names", member_id)
        ],
        headers=shown.headers(),
    )


# Members a search looks through, at most: the state holds every member in memory, and a
# community is a few thousand people; the bound keeps one request's work fixed whatever happens.
member_search_scanned_max = 100_000


def search_members(node: Node, state: Any, reader: Reader, query: str, limit: int, shown: Shown) -> list[dict[str, Any]]:
    """The members whose name, as this node shows it, contains `query` (case-folded), among those
    whose names `reader` may see; in name order, at most `limit`. Names are opened here, in memory
    (node/personal.py), never matched in SQL on their digests."""
    found = []
    for member_id, member in itertools.islice(state.members.items(), member_search_scanned_max):
        if not sees(state, reader, "names", member_id):
            shown.note("names")
            continue
        name = node.directory.name(member)
        if query in name.casefold():
            found.append((name.casefold(), member_id, name, member))
    found.sort(key=lambda row: (row[0], row[1]))
    return [_member_json(node, member_id, name, member) for _, member_id, name, member in found[:limit]]


async def member(request: web.Request) -> web.Response:
    """One member, with the account's current keys (`keys`, oldest first) for whoever may see the
    member: they are public ids, in every replica's log. Which key is which device (its sessions'
    browser labels, and which one signed this request) is the member's own business: `devices`,
    to the member concerned alone, and null for every other reader, admins included."""
    node = _node(request)
    reader = reader_of(request)
    member_id = resolve_member(request, request.match_info["reference"])
    found = node.sequencer.state.members[member_id]
    document = _member_json(node, member_id, node.directory.name(found), found)
    document["keys"] = [id_to_text("k", key) for key in found.current_keys]
    document["devices"] = await _devices_json(request, found) if reader.member == member_id else None
    return _json(document)


async def _devices_json(request: web.Request, found: Any) -> list[dict[str, Any]]:
    """Each current key with the live sessions signed in by it (label and last request only) and
    whether it is the key this request came by (`this_device`)."""
    sessions, reader, now_ms = request.app[sessions_key], reader_of(request), clock_ms()
    return [
        {"key": id_to_text("k", key), "this_device": key == reader.key,
         "sessions": [{"label": session.label, "last_seen_ms": session.last_seen_ms}
                      for session in await sessions.sessions_of(key, now_ms)]}
        for key in found.current_keys  # at most member_keys_max (8)
    ]


async def log(request: web.Request) -> web.Response:
    node = _node(request)
    state, reader = node.sequencer.state, reader_of(request)
    start = params.query_integer(request, "from", 1, params.seq_min, params.seq_max)
    limit = params.query_integer(request, "limit", limits.page_size_default, 1, limits.page_size_max)
    require(state, reader, "log")
    stored = await node.store.read_log(node.feed, start, limit)
    # The state names the signer and the members an event mentions beside their ids, to a reader
    # who may see every name (the log is not filtered by member: it is the whole feed or nothing).
    naming = state if all(sees(state, reader, "names", m) for m in state.members) else None
    events = [event_json(decode_event(item.bytes), item.hash, naming, node.directory) for item in stored]
    next_seq = stored[-1].seq + 1 if stored and len(stored) == limit else None
    return _json({"events": events, "next": next_seq})


class IntentEnvelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The JSON form of POST /api/intents: the signed intent's bytes in base64."""

    intent: str


# A typed decoder looks at one level at a time: `[[[[...` 64 KiB deep is refused at the first
# bracket, where json.loads would recurse into it and fail with RecursionError (a 500).
_envelope_decoder = msgspec.json.Decoder(IntentEnvelope)


def intent_from_json(body: bytes) -> bytes:
    try:
        envelope = _envelope_decoder.decode(body)
    except msgspec.ValidationError:
        raise MalformedError("body must be a JSON object with an \"intent\" string (base64)") from None
    except msgspec.DecodeError:
        raise MalformedError("body is not valid JSON; send {\"intent\": \"<base64 of the signed intent>\"}") from None
    try:
        return base64.b64decode(envelope.intent, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError("\"intent\" is not valid base64") from None


async def submit_intent(request: web.Request) -> web.Response:
    node = _node(request)
    body = await read_body(request)
    intent_bytes = body if request.content_type == "application/msgpack" else intent_from_json(body)
    appended = await node.sequencer.submit(intent_bytes)
    if node.sequencer.state.federation_outbox:
        node.timer_wake.set()  # a federation act's body is appended next, not at the timer's tick
    return _json({"seq": appended.seq, "hash": id_to_text("h", appended.hash)}, status=201)


def decision_json(node: Node, decision: Decision, *, votes: bool, reader: Reader = stranger,
                  shown: Shown | None = None) -> dict[str, Any]:
    """A decision with its tally: live (against the current state) while open, as counted at the
    close once closed; `time_left_ms` by the node's clock; as `reader` may see it
    (node/visible.py: the text, proposer, effect and tally by the `decisions` policy, each vote by
    the `votes` policy)."""
    state = node.sequencer.state
    live = state.decisions.get(decision.seq, decision)
    result = live.result if live.result is not None else tally(state, live)
    document: dict[str, Any] = {
        "id": decision.seq,
        "type": decision.decision_type,
        "title": node.directory.shown(decision.title),
        "text": node.directory.shown(decision.text),
        "topic": decision.topic,
        "proposer": id_to_text("m", decision.proposer),
        "options": [node.directory.shown(option) for option in decision.options],
        "multiple": decision.multiple,
        "ranked": decision.ranked,
        "quorum_bp": decision.quorum_bp,
        "threshold_bp": decision.threshold_bp,
        "opened_ms": decision.opened_ms,
        "deadline_ms": decision.deadline_ms,
        "open": live.is_open,
        "time_left_ms": max(0, decision.deadline_ms - node.sequencer.now_ms()) if live.is_open else 0,
        "outcome": live.outcome,
        "closed_seq": live.closed_seq,
        "effect": None if decision.effect is None else render(decision.effect, None, node.directory),
        # Who decides: every member (`{"kind": "members"}`) or an enterprise's holders by votes per share.
        "electorate": render(decision.electorate),
        "tally": {
            "electorate": result.electorate,
            "participants": result.participants,
            "direct": result.direct,
            # People, not votes: a holders' vote weighs shares; these count the persons.
            "electorate_people": result.electorate_people,
            "participants_people": result.participants_people,
            "direct_people": result.direct_people,
            "positions": result.positions,
            "option_counts": list(result.option_counts),
            "winners": winners(result) if decision.decision_type == "poll" else [],
            "quorum_met": result.quorum_met,
            # While open: the outcome if the decision closed now.
            "outcome": result.outcome,
        },
    }
    ballots = None
    if votes:
        ballots = [
            (member, {"member": id_to_text("m", member), "position": ballot.position, "options": list(ballot.options)})
            for member, ballot in sorted(live.votes.items())
        ]
    return shape_decision(state, reader, document, shown or Shown(), ballots)


async def decisions(request: web.Request) -> web.Response:
    node = _node(request)
    open_only = params.query_flag(request, "open")
    limit = params.query_integer(request, "limit", limits.page_size_default, 1, limits.page_size_max)
    rows = await node.store.decision_rows(node.feed, open_only=open_only, limit=limit)
    shown = Shown()
    documents = [decision_json(node, decision, votes=False, reader=reader_of(request), shown=shown) for decision in rows]
    return _json(documents, headers=shown.headers())


async def decision(request: web.Request) -> web.Response:
    node = _node(request)
    seq = params.path_integer(request, "decision", params.seq_min, params.seq_max,
                              "a decision's id (the seq of the event that proposed it)")
    found = node.sequencer.state.decisions.get(seq)
    if found is None:
        raise UnknownDecisionError(f"there is no decision {seq}; `tally decisions` lists them")
    shown = Shown()
    return _json(decision_json(node, found, votes=True, reader=reader_of(request), shown=shown), headers=shown.headers())


async def openapi(request: web.Request) -> web.Response:
    from .openapi import document

    return _json(document())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/community", community)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/balances", balances)
    app.router.add_get("/api/members", members)
    app.router.add_get("/api/members/{reference}", member)
    app.router.add_get("/api/log", log)
    app.router.add_get("/api/decisions", decisions)
    app.router.add_get("/api/decisions/{decision}", decision)
    app.router.add_post("/api/intents", submit_intent)
    app.router.add_get("/openapi.json", openapi)
    statement.add_routes(app)
    stream.add_routes(app)
    deciding.add_routes(app)
    wallet_reads.add_routes(app)
