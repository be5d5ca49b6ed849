"""A member's inbox and notification settings over HTTP (docs/notifications.md, api.md §14).

Who may call what: every route is the member concerned's alone, by a member-signed request or a
wallet session (a change with its CSRF token, node/http/readers.py). A stranger or a key that is no
member's: 401 `not_signed_in`; another member, an admin too: 403 `not_concerned` (what a member is
told, and their address, are theirs alone; an admin reads what the node holds of a member through
the export). A member the reader may not name is 400 `bad_id`, as everywhere (node/visible.py).

- `GET /api/members/{REF}/inbox[?before=][&limit=]`: notices newest first, and the unread count.
- `POST /api/members/{REF}/inbox/read`: `{"ids": [...]}` or `{"all": true}`.
- `GET` and `PUT /api/members/{REF}/notifications`: `{"address", "kinds": {kind: on}, "language"}`
  (the mails' language: one the node has mails in, or null for the community's default_language).

Every input is checked here before the file is touched; an address is never logged.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web
from tallystick.ledger.model import State
from tallystick.ledger.visibility import Reader
from tallystick.protocol.errors import LocalError, MalformedError
from tallystick.protocol.ids import id_to_text

from ..app import Node, clock_ms, config_key, node_key
from ..mailer import DigestTitles, digest_titles, mail_languages
from ..notifications import (
    Notice,
    NotificationStore,
    inbox_page_default,
    inbox_page_max,
    kinds,
    mark_read_ids_max,
    notifications_key,
    valid_address,
)
from ..sessions import NotSignedInError
from ..visible import name_for, resolve_member
from . import params
from .middleware import json_response
from .readers import reader_of

# A settings or mark-read body: a few hundred bytes; 4 KiB is plenty.
notifications_body_bytes_max = 4 * 1024


class NotConcernedError(LocalError):
    code = "not_concerned"
    http_status = 403


class MarkReadBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ids: list[int] | None = None
    all: bool = False


class SettingsBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Left out: the address stays as it is; null: no e-mail.
    address: str | None | msgspec.UnsetType = msgspec.UNSET
    kinds: dict[str, bool] = {}
    # Left out: as it is; null: the community's default_language.
    language: str | None | msgspec.UnsetType = msgspec.UNSET


def _own(request: web.Request) -> tuple[Node, State, Reader, bytes]:
    reader = reader_of(request)
    if not reader.is_member:
        raise NotSignedInError("sign in (or sign the request with your key) to read your own notices")
    node = request.app[node_key]
    state = node.sequencer.state
    member_id = resolve_member(state, reader, request.match_info["reference"], node.directory)
    if reader.member != member_id:
        raise NotConcernedError("a member's notices and notification settings are theirs alone; sign in as that member")
    return node, state, reader, member_id


def _store(request: web.Request) -> NotificationStore:
    return request.app[notifications_key]


async def _decoded(request: web.Request, kind: type[Any], line: str) -> Any:
    return await params.json_body(request, kind, notifications_body_bytes_max, line)


def notice_json(node: Node, state: State, reader: Reader, notice: Notice,
                titles: DigestTitles | None = None) -> dict[str, Any]:
    other = None
    if notice.other is not None:
        is_enterprise = notice.other in state.shares.enterprises
        name = (state.shares.enterprises[notice.other].name if is_enterprise
                else name_for(state, reader, notice.other, node.directory))
        other = {"id": id_to_text("e" if is_enterprise else "m", notice.other), "name": name}
    shown: dict[str, Any] = {
        "id": notice.id, "kind": notice.kind, "seq": notice.seq, "ref": notice.ref, "detail": notice.detail or None,
        "other": other, "amount": notice.amount_minor, "units": notice.units,
        "created_ms": notice.created_ms, "read": notice.read_ms is not None,
    }
    if titles is not None:  # a digest: what it names, as its mail does
        shown["titles"] = {"listings": list(titles.listings), "decisions": list(titles.decisions)}
    return shown


async def inbox(request: web.Request) -> web.Response:
    limit = params.query_integer(request, "limit", inbox_page_default, 1, inbox_page_max)
    before_text = request.query.get("before")
    before = None if before_text is None else params.integer(before_text, "query parameter before", 1, params.seq_max)
    node, state, reader, member_id = _own(request)
    notices, after, unread = await _store(request).inbox(member_id, before, limit)
    unit = state.community
    return json_response({
        "notices": [notice_json(node, state, reader, notice,
                                await digest_titles(request.app, notice) if notice.kind == "weekly_digest" else None)
                    for notice in notices],
        "unread": unread, "next": after, "unit": {"code": unit.unit_code, "decimals": unit.unit_decimals},
    })


async def mark_read(request: web.Request) -> web.Response:
    _node, _state, _reader, member_id = _own(request)
    line = f'send JSON {{"ids": [notice ids, at most {mark_read_ids_max}]}} or {{"all": true}}'
    body = await _decoded(request, MarkReadBody, line)
    if body.all == (body.ids is not None):
        raise MalformedError(line)
    if body.ids is not None and (len(body.ids) > mark_read_ids_max or
                                 any(not params.seq_min <= each <= params.seq_max for each in body.ids)):
        raise MalformedError(line)
    unread = await _store(request).mark_read(member_id, None if body.all else body.ids, clock_ms())
    return json_response({"unread": unread})


def _settings_json(request: web.Request, address: str | None, off: frozenset[str], language: str | None) -> dict[str, Any]:
    """The settings as the member reads them; `language` the one their mails are in (theirs, else
    the community's default_language)."""
    return {"address": address, "kinds": {kind: kind not in off for kind in kinds},
            "language": language or request.app[config_key].default_language}


async def get_settings(request: web.Request) -> web.Response:
    _node, _state, _reader, member_id = _own(request)
    settings = await _store(request).settings_of(member_id)
    return json_response(_settings_json(request, settings.address, settings.off, settings.language))


async def put_settings(request: web.Request) -> web.Response:
    _node, _state, _reader, member_id = _own(request)
    body = await _decoded(request, SettingsBody,
                          'send JSON {"address": an e-mail address or null, "kinds": {"payment_received": true, …},'
                          ' "language": "en" or null}')
    store = _store(request)
    current = await store.settings_of(member_id)
    if body.address is msgspec.UNSET:
        address = current.address
    else:
        address = None if body.address is None else body.address.strip() or None
    if body.address is not msgspec.UNSET and address is not None and not valid_address(address):
        raise MalformedError("an address is name@example.org: letters, digits and . _ + - only, no spaces; "
                             "or null for no e-mail")
    unknown = sorted(set(body.kinds) - set(kinds))
    if unknown:
        raise MalformedError(f"the kinds are {', '.join(kinds)}; {unknown[0][:40]!r} is not one")
    language = current.language if body.language is msgspec.UNSET else body.language
    if language is not None and language not in mail_languages():
        raise MalformedError(f"language is one the node writes mails in ({', '.join(mail_languages())}), "
                             "or null for the community's")
    off = set(current.off)
    for kind, on in body.kinds.items():
        if on:
            off.discard(kind)
        else:
            off.add(kind)
    await store.set_settings(member_id, address, frozenset(off), language)
    return json_response(_settings_json(request, address, frozenset(off), language))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/members/{reference}/inbox", inbox)
    app.router.add_post("/api/members/{reference}/inbox/read", mark_read)
    app.router.add_get("/api/members/{reference}/notifications", get_settings)
    app.router.add_put("/api/members/{reference}/notifications", put_settings)
