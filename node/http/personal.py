"""A member's own data: everything held about them (GDPR Art. 15 and 20), and its erasure (Art. 17).

Who may call what:
- `GET /api/members/{reference}/export` (JSON) and `/export.csv` (their history): the member
  concerned, or an admin. Anyone else: 403 `not_visible`; a member the reader may not name is
  `bad_id`, as everywhere (node/visible.py).
- `POST /api/members/{reference}/erase`: an admin, signing the request (or by session with its
  CSRF token). The member must have left (`tally member remove`) first: an active member's name is
  how the community knows whom it pays. Erasing destroys the member's data key in keys.db and in
  the backups' key store (node/personal.py): their name, and every memo and text they typed, are
  then boxes no one can open, on this node and in every copy of the log; the log itself, every
  signature and every rule still verify. Idempotent: a second erase answers the same.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from aiohttp import web
from tallystick.ledger.accounts import credit_ceiling, debit_limit
from tallystick.ledger.model import Member, State
from tallystick.ledger.money import format_money
from tallystick.ledger.visibility import Reader
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_intent
from tallystick.protocol.errors import LocalError
from tallystick.protocol.events import Act
from tallystick.protocol.federation import PaymentOut
from tallystick.protocol.ids import id_to_text

from ..app import Node, node_key
from ..history import History
from ..listings import listings_key
from ..notifications import notifications_key
from ..personal import erased_text
from ..sessions import sessions_key
from ..visible import NotVisibleError
from ..visible import resolve_member as resolve_for
from .middleware import json_response
from .readers import reader_of

# Postings read for one export: every change of the member's balance, a page at a time.
export_page_postings = 500


class MemberActiveError(LocalError):
    code = "member_active"
    http_status = 409


class NotAdminError(LocalError):
    code = "not_admin"
    http_status = 403


def _node(request: web.Request) -> Node:
    return request.app[node_key]


def _member_of(request: web.Request) -> tuple[Node, State, bytes, Member]:
    node = _node(request)
    state = node.sequencer.state
    member_id = resolve_for(state, reader_of(request), request.match_info["reference"], node.directory)
    return node, state, member_id, state.members[member_id]


def _require_concerned(request: web.Request, member_id: bytes) -> None:
    reader = reader_of(request)
    if not (reader.admin or reader.member == member_id):
        raise NotVisibleError(
            "a member's export is for that member and admins; give --key (or TALLY_KEY) to read as one of them"
        )


async def _history(node: Node, state: State, member_id: bytes) -> list[dict[str, Any]]:
    """Every change of the member's balance, oldest first, with what it was and its memo."""
    history = History(node.store)
    changes: list[tuple[int, int, int, int]] = []
    before: int | None = None
    while True:
        page, before = await history.changes_newest_first(node.feed, member_id, before, export_page_postings)
        changes += page
        if before is None or not page:
            break
    changes.reverse()
    unit = state.community
    rows = []
    for start in range(0, len(changes), limits.page_size_max):
        chunk = changes[start:start + limits.page_size_max]
        seqs = [seq for seq, _, _, _ in chunk]
        stored = await node.store.query(
            f"SELECT seq, bytes FROM log WHERE feed = ? AND seq IN ({', '.join('?' * len(seqs))}) LIMIT ?",
            (node.feed, *seqs, len(seqs)), len(seqs),
        )
        raw_of = {seq: bytes(raw) for seq, raw in stored}
        for seq, ts, change, balance in chunk:
            kind, memo = "", ""
            raw = raw_of.get(seq)
            if raw is not None:
                event = decode_event(raw)
                kind = event.body.__struct_config__.tag
                if isinstance(event.body, Act | PaymentOut):
                    action = decode_intent(event.body.intent).action
                    kind = action.__struct_config__.tag
                    memo_value = getattr(action, "memo", "")
                    memo = node.directory.shown(memo_value) if memo_value else ""
            rows.append({
                "seq": seq, "ts": ts, "kind": kind, "change_minor": change, "balance_minor": balance,
                "change": format_money(change, unit.unit_decimals, unit.unit_code),
                "balance": format_money(balance, unit.unit_decimals, unit.unit_code), "memo": memo,
            })
    return rows


async def _sessions_of_every_key(request: web.Request, member: Member) -> list[dict[str, Any]]:
    """The live sessions of each of the account's current keys (one per device, at most
    member_keys_max), newest first, each naming the key it was signed in with."""
    store, now_ms = request.app[sessions_key], int(time.time() * 1000)
    found = [(session, key) for key in member.current_keys for session in await store.sessions_of(key, now_ms)]
    found.sort(key=lambda pair: pair[0].created_ms, reverse=True)
    return [{**session.to_json(), "key": id_to_text("k", key)} for session, key in found]


async def _listings_of(request: web.Request, node: Node, member_id: bytes) -> list[dict[str, Any]]:
    """The member's listings, every state, as their author reads them (the picture by its URL)."""
    from .listings import listing_json

    author = Reader(member=member_id, key=None)
    now_ms = int(time.time() * 1000)
    return [listing_json(node, author, listing, now_ms)
            for listing in await request.app[listings_key].of_member(member_id)]


async def export_document(request: web.Request) -> dict[str, Any]:
    node, state, member_id, member = _member_of(request)
    _require_concerned(request, member_id)
    directory = node.directory
    unit = state.community
    account = state.accounts.get(member_id)
    decisions = []
    votes = []
    for decision in state.decisions.values():
        if decision.proposer == member_id:
            decisions.append({
                "id": decision.seq, "type": decision.decision_type, "title": directory.shown(decision.title),
                "text": directory.shown(decision.text), "options": [directory.shown(o) for o in decision.options],
                "opened_ms": decision.opened_ms, "outcome": decision.outcome,
            })
        ballot = decision.votes.get(member_id)
        if ballot is not None:
            votes.append({"decision": decision.seq, "position": ballot.position, "options": list(ballot.options)})
    delegations = [
        {"topic": topic, "to": id_to_text("m", to)}
        for topic, to in sorted(state.delegations.get(member_id, {}).items())
    ]
    holdings = [
        {"enterprise": id_to_text("e", enterprise), "class": share_class, "units": held.units, "locked": held.locked}
        for (enterprise, share_class, holder), held in state.shares.holdings.items() if holder == member_id
    ]
    sessions = await _sessions_of_every_key(request, member)
    listings = await _listings_of(request, node, member_id)
    notified = await request.app[notifications_key].settings_of(member_id)
    return {
        "exported_ms": int(time.time() * 1000),
        "community": {"node": id_to_text("n", node.feed), "name": unit.name, "unit": unit.unit_code},
        "member": {
            "id": id_to_text("m", member_id), "name": directory.name(member), "name_erased": directory.name(member) == erased_text,
            "key": id_to_text("k", member.key), "keys": [id_to_text("k", k) for k in member.current_keys],
            "retired_keys": [id_to_text("k", k) for k in sorted(member.retired_keys)],
            "role": member.role, "active": member.active, "admitted_seq": member.admitted_seq,
        },
        "account": None if account is None else {
            "balance_minor": account.balance_minor,
            "balance": format_money(account.balance_minor, unit.unit_decimals, unit.unit_code),
            "debit_limit_minor": debit_limit(state, account), "credit_ceiling_minor": credit_ceiling(state, account),
        },
        "history": await _history(node, state, member_id),
        "decisions_proposed": decisions,
        "votes": votes,
        "delegations": delegations,
        "holdings": holdings,
        "sessions": sessions,
        "listings": listings,
        # Their notification settings (docs/notifications.md): the address they gave, the kinds off.
        "notifications": {"address": notified.address, "kinds_off": sorted(notified.off), "language": notified.language},
        # Whether this node still holds the key that opens what the member typed (node/personal.py).
        "data_key_held": directory.keys.get(member_id) is not None,
        "texts": sorted(directory.texts_of(member_id)),
        "how": "docs/privacy.md: what the node holds about a member, and what erasure does",
    }


async def export_json(request: web.Request) -> web.Response:
    return json_response(await export_document(request))


async def export_csv(request: web.Request) -> web.Response:
    document = await export_document(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["seq", "ts", "kind", "change", "balance", "change_minor", "balance_minor", "memo"])
    for row in document["history"]:
        writer.writerow([row["seq"], row["ts"], row["kind"], row["change"], row["balance"], row["change_minor"],
                         row["balance_minor"], row["memo"]])
    return web.Response(text=out.getvalue(), content_type="text/csv")


async def erase(request: web.Request) -> web.Response:
    reader = reader_of(request)
    if not reader.admin:
        raise NotAdminError("only an admin may erase a member's personal data; give an admin's --key")
    node, _state, member_id, member = _member_of(request)
    if member.active:
        raise MemberActiveError(
            "this member is still active; remove them first (`tally member remove`), then erase their data"
        )
    erased = await node.directory.erase(member_id)
    await request.app[listings_key].erase_member(member_id)  # the market's rows and pictures (docs/market.md)
    await request.app[notifications_key].erase_member(member_id)  # their inbox and address (docs/notifications.md)
    return json_response({"member": id_to_text("m", member_id), "erased": True, "key_was_held": erased})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/members/{reference}/export", export_json)
    app.router.add_get("/api/members/{reference}/export.csv", export_csv)
    app.router.add_post("/api/members/{reference}/erase", erase)
