"""Join requests over HTTP: a stranger asks to join with a key made on their device; admins answer.

Who may call what (docs/api.md §12):

- `POST /api/join-requests`: a stranger, signing the request (`Authorization: Tally …`,
  protocol/requests.py) with the new key the request is for. The signature proves they hold it and
  binds the body to this node and minute. A key already bound (a member's, a used invitation's) is
  `key_in_use`; a member signing with their own key too. Unsigned: 403 `unsigned_request`.
- `GET /api/join-requests/mine`: whoever signs with the key of a request: its state
  (`pending`, `proposed` with the decision's seq, `declined`, `admitted`). Nothing personal is in
  the answer; the poll is one signature check and one primary-key read.
- `GET /api/join-requests`: an admin. The waiting requests with their names and notes (personal
  data: shown to admins, never logged), and the community's rules (`set_rules`: admission, quorum,
  threshold), so the admin's wallet knows whether accepting is an `admit` or a proposal to admit,
  and what a proposal to change the rules starts from.
- `POST /api/join-requests/{k_…}/decline`: an admin (signed, or by session with its CSRF token).

Accepting is no route: the admin signs an `admit` of the request's key with its name (or proposes
one, where admission is by decision) and posts it to `POST /api/intents`; once the log admits the
key, the request is deleted here. Names are checked as an admission's (`bad_name`, `name_taken`)
when the request is made (`name_taken` only where strangers may see members' names; elsewhere the
admins' list flags it), so an admin is not asked to accept what the ledger would refuse unawares.
"""

from __future__ import annotations

import ipaddress

import msgspec
from aiohttp import web
from tallystick.ledger.errors import KeyInUseError, NameTakenError
from tallystick.ledger.membership import key_taken
from tallystick.ledger.model import State
from tallystick.ledger.names import name_key, normalise_name
from tallystick.ledger.visibility import can_see, stranger
from tallystick.protocol.errors import MalformedError
from tallystick.protocol.events import AdmitMember
from tallystick.protocol.ids import id_to_text
from tallystick.protocol.limits import name_chars_max

from ..app import Node, clock_ms, config_key, node_key
from ..connections import client_address, read_body
from ..home import trusted_networks
from ..join_requests import (
    JoinRequest,
    JoinRequestUnknownError,
    UnsignedJoinRequestError,
    join_request_note_chars_max,
    join_requests_key,
)
from ..sessions import NotSignedInError
from . import params
from .middleware import json_response
from .personal import NotAdminError
from .readers import reader_of

# A name (64 characters of up to 4 UTF-8 bytes) and a note (280) in JSON fit in 1.5 KiB.
join_request_body_bytes_max = 2048


class AskBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    note: str = ""


def _address_of(request: web.Request) -> str:
    """Whom a request counts against: the client's address, or behind a trusted proxy the address
    that proxy reports (the nearest X-Forwarded-For entry); never stored."""
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    config = request.app[config_key]
    if config.trusted_proxies and request.remote is not None:
        try:
            remote = ipaddress.ip_address(request.remote.split("%", 1)[0])
        except ValueError:
            remote = None
        networks = trusted_networks(tuple(config.trusted_proxies))
        forwarded = request.headers.get("X-Forwarded-For", "").rsplit(",", 1)[-1].strip()
        if remote is not None and forwarded and any(remote in network for network in networks):
            return client_address((forwarded,))
    return client_address(peer)


def _signing_key(request: web.Request) -> bytes:
    key = reader_of(request).key
    if key is None:
        raise UnsignedJoinRequestError(
            "sign the request with the key you ask to join with (Authorization: Tally …, docs/api.md §12)"
        )
    return key


def _admitted(state: State, key: bytes) -> bool:
    member = state.members.get(key)
    return member is not None and member.active


def _proposed(state: State, key: bytes) -> int | None:
    """The seq of an open decision to admit `key`, if one is open."""
    for decision in state.decisions.values():
        if decision.is_open and isinstance(decision.effect, AdmitMember) and decision.effect.member == key:
            return decision.seq
    return None


def _name_taken(node: Node, state: State, name: str, names: dict[str, bytes] | None = None) -> bool:
    names = node.directory.names(state) if names is None else names
    return name_key(name) in names or node.directory.looks_taken(state, name)


def _checked_name(node: Node, text: str) -> str:
    """The name as an admission would hold it. Whether a member has it already is told to the
    asker only where the policy shows members' names to strangers: elsewhere the answer would tell
    anyone with curl which names the community's members have (one probe per request, none of them
    kept), so the request is kept and the admins' list says `name_taken`."""
    if len(text) > name_chars_max * 4:
        raise MalformedError(f"a name is at most {name_chars_max} characters")
    name = normalise_name(text, "your name")
    if len(name) > name_chars_max:
        raise MalformedError(f"a name is at most {name_chars_max} characters")
    state = node.sequencer.state
    if can_see(state, stranger, "names") and _name_taken(node, state, name):
        raise NameTakenError("a member already has that name, or one that looks the same; choose another (add a surname)")
    return name


async def ask(request: web.Request) -> web.Response:
    key = _signing_key(request)
    node: Node = request.app[node_key]
    try:
        body = msgspec.json.decode(await read_body(request, join_request_body_bytes_max), type=AskBody)
    except msgspec.DecodeError:
        raise MalformedError('send JSON {"name": "…", "note": "…"} (the note is optional)') from None
    if len(body.note) > join_request_note_chars_max or any(ord(c) < 0x20 and c != "\n" for c in body.note):
        raise MalformedError(f"a note is at most {join_request_note_chars_max} characters, with no control characters")
    state = node.sequencer.state
    if key_taken(state, key):
        raise KeyInUseError("this key is bound here already; a new wallet makes a new key to ask with")
    name = _checked_name(node, body.name)
    store = request.app[join_requests_key]
    now_ms = clock_ms()
    made = await store.add(key, name, body.note.strip(), _address_of(request), now_ms)
    return json_response(_state_json(made, "pending", None), status=201)


def _state_json(made: JoinRequest | None, state: str, decision: int | None) -> dict[str, object]:
    return {"state": state, "decision": decision, "expires_ms": None if made is None else made.expires_ms}


async def mine(request: web.Request) -> web.Response:
    key = _signing_key(request)
    node: Node = request.app[node_key]
    store = request.app[join_requests_key]
    state = node.sequencer.state
    if _admitted(state, key):
        await store.forget(key)
        return json_response(_state_json(None, "admitted", None))
    made = await store.get(key, clock_ms())
    if made is None:
        raise JoinRequestUnknownError("this node holds no join request of this key (it may have lapsed); ask again")
    if made.state == "declined":
        return json_response(_state_json(made, "declined", None))
    decision = _proposed(state, key)
    return json_response(_state_json(made, "pending" if decision is None else "proposed", decision))


def _require_admin(request: web.Request) -> None:
    reader = reader_of(request)
    if not reader.is_member:
        raise NotSignedInError("the join requests are for admins: sign the request with an admin's key, or sign in")
    if not reader.admin:
        raise NotAdminError("only an admin may read and answer join requests")


async def list_requests(request: web.Request) -> web.Response:
    _require_admin(request)
    node: Node = request.app[node_key]
    store = request.app[join_requests_key]
    state = node.sequencer.state
    shown = []
    names = node.directory.names(state)  # once, not once per request listed
    for made in await store.pending(clock_ms()):
        if key_taken(state, made.key):
            await store.forget(made.key)  # admitted (or its key taken otherwise): the request is done
            continue
        shown.append({
            "key": id_to_text("k", made.key), "member": id_to_text("m", made.key), "name": made.name,
            "note": made.note, "created_ms": made.created_ms, "expires_ms": made.expires_ms,
            "decision": _proposed(state, made.key),
            # A member (or enterprise) has this name, or one that looks the same, now: an `admit`
            # with it is refused `name_taken`; decline, or ask the person for another name.
            "name_taken": _name_taken(node, state, made.name or "", names),
        })
    rules = state.rules
    return json_response({"admission": rules.admission, "requests": shown,
                          "rules": {"admission": rules.admission, "quorum_bp": rules.quorum_bp,
                                    "threshold_bp": rules.threshold_bp}})


async def decline(request: web.Request) -> web.Response:
    _require_admin(request)
    text = request.match_info["key"]
    key = params.id_of(text, "k", "name the request by its key, k_… as GET /api/join-requests lists it")
    if not await request.app[join_requests_key].decline(key, clock_ms()):
        raise JoinRequestUnknownError("no join request of this key is waiting; list them with GET /api/join-requests")
    return json_response({"key": text, "state": "declined"})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/join-requests", ask)
    app.router.add_get("/api/join-requests/mine", mine)
    app.router.add_get("/api/join-requests", list_requests)
    app.router.add_post("/api/join-requests/{key}/decline", decline)
