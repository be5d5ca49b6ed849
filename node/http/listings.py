"""Listings over HTTP: members offer and want, search, and pay from a listing (docs/market.md).

Who may call what (docs/api.md §13):

- Reading (`GET /api/listings`, `/api/listings/{id}`, `/api/listings/{id}/picture`): whoever may
  see listings, `listings_audience` (the members; a stranger 403 `not_visible`). A listing's
  author's name follows the community's `names` policy. A listing that is not live (expired,
  hidden) is shown to its author and to admins only, else 404 `listing_unknown`, as for none; so is
  a listing of a member who left. `GET /api/listings/categories`: anyone (the fixed list).
- Writing: a member, by a member-signed request or a session with its CSRF token (node/http/
  readers.py); anyone else 401 `not_signed_in`. `POST /api/listings` lists; `PUT`, `DELETE` (withdraw),
  `POST …/renew`, `PUT` and `DELETE …/picture`: the listing's author alone (403
  `not_listing_author`). `POST …/hide`: an admin alone (403 `not_admin`), with a reason kept.

Across the federation (docs/market.md): `GET /api/listings?scope=federation` searches this
community's listings and those other communities of its federations share (held in
`foreign_listings`, pulled by federation/market.py), each foreign one with its community named;
`GET /api/listings/{id}?community=n_…` reads one of them. Whether this community shares its own is
`GET /api/listings/sharing` (a member) and `PUT` (an admin alone, 403 `not_admin`): node-local,
not in the log; not shared until an admin says so.

Every input is checked here, typed, before the store is touched: a body that is not the JSON of
the route, a text too long or with control characters, an unknown category, a price out of range,
an expiry past `listing_expiry_max_days` are 400 `malformed` with one line that says what to send.
Nothing a listing says is ever logged, nor put in a URL by the node.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from typing import Any

import msgspec
from aiohttp import web
from tallystick.ledger.errors import UnknownEnterpriseError
from tallystick.ledger.model import State
from tallystick.ledger.visibility import Reader, audience_admits, can_see
from tallystick.protocol.errors import LocalError, MalformedError
from tallystick.protocol.ids import id_to_text
from tallystick.protocol.limits import amount_minor_max
from tallystick.protocol.types import Audience

from ..app import Node, clock_ms, node_key
from ..connections import read_body
from ..errors import BusyError
from ..listings import (
    Fields,
    ForeignListing,
    Listing,
    ListingStore,
    ListingUnknownError,
    categories,
    category_ids,
    day_ms,
    kinds,
    listing_expiry_default_days,
    listing_expiry_max_days,
    listings_key,
    listings_page_default,
    listings_page_max,
)
from ..pictures import picture_upload_bytes_max, pictures_decoding_max, prepare
from ..sessions import NotSignedInError
from ..visible import NotVisibleError
from . import params
from .middleware import json_response
from .personal import NotAdminError
from .readers import allow_larger_body, reader_of

# Who may read listings. Not yet a kind of the community's policy (`set_visibility`): adding one is
# a protocol change (the policy is in the state digest), so every community's listings are its
# members' until then (docs/market.md, "Not yet").
listings_audience: Audience = "members"

title_chars_max = 80
description_chars_max = 2000
place_chars_max = 64
hide_reason_chars_max = 280
search_chars_max = 64
# Where a search looks: this community's listings, or with those its federations share.
scopes = ("community", "federation")
# A listing's JSON (2,000 characters of up to 4 UTF-8 bytes each, escapes) fits in 16 KiB.
listing_body_bytes_max = 16 * 1024
# Picture uploads waiting for the one decoder at once; past it, 503 busy.
pictures_waiting_max = 4

_listing_id_pattern = re.compile(r"l_[a-z2-7]{16}")
_cursor = re.compile(r"([0-9]{1,16})\.(l_[a-z2-7]{16})")


class NotListingAuthorError(LocalError):
    code = "not_listing_author"
    http_status = 403


class ListingHiddenError(LocalError):
    code = "listing_hidden"
    http_status = 409


class NotManagerError(LocalError):
    code = "not_manager"
    http_status = 403


class NoPictureError(LocalError):
    code = "no_picture"
    http_status = 404


class SharingBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    federations: bool


class ListingBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kind: str
    title: str
    description: str = ""
    category: str
    price: int | None = None  # minor units; null: "ask"
    place: str = ""
    expires_in_days: int | None = None
    enterprise: str | None = None  # e_…: listed for an enterprise by its manager (its account is paid)


class RenewBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    expires_in_days: int | None = None


class HideBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: str


_body_line = ('send JSON {"kind": "offer" or "want", "title", "description", "category", "price": minor units or '
              'null for "ask", "place", "expires_in_days"}')


def _store(request: web.Request) -> ListingStore:
    return request.app[listings_key]


def _text(value: str, what: str, chars_max: int, *, lines: bool = False, required: bool = False) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > chars_max:
        raise MalformedError(f"{what} is at most {chars_max} characters")
    if any((unicodedata.category(c) in ("Cc", "Cf") and not (lines and c == "\n")) for c in text):
        raise MalformedError(f"{what} may not hold control characters")
    if required and not text:
        raise MalformedError(f"{what} may not be empty")
    return text


def _expiry(days: int | None, now_ms: int) -> int:
    days = listing_expiry_default_days if days is None else days
    if not 1 <= days <= listing_expiry_max_days:
        raise MalformedError(f"a listing lasts 1 to {listing_expiry_max_days} days; renew it to keep it longer")
    return now_ms + days * day_ms


async def _decoded(request: web.Request, kind: type[Any], line: str) -> Any:
    return await params.json_body(request, kind, listing_body_bytes_max, line)


def _fields(body: ListingBody) -> Fields:
    if body.kind not in kinds:
        raise MalformedError('a listing\'s kind is "offer" or "want"')
    if body.category not in category_ids:
        raise MalformedError(f"choose a category among {', '.join(category for category, _ in categories)}")
    if body.price is not None and not 1 <= body.price <= amount_minor_max:
        raise MalformedError(f'a price is 1 to {amount_minor_max} minor units, or null for "ask"')
    return Fields(
        kind=body.kind, title=_text(body.title, "a title", title_chars_max, required=True),
        description=_text(body.description, "a description", description_chars_max, lines=True),
        category=body.category, price_minor=body.price, place=_text(body.place, "a place", place_chars_max),
    )


def _member(request: web.Request) -> Reader:
    reader = reader_of(request)
    if not reader.is_member:
        raise NotSignedInError("sign in (or sign the request with a member's key) to list, change or withdraw")
    return reader


def _may_read_listings(request: web.Request) -> Reader:
    reader = reader_of(request)
    if not audience_admits(listings_audience, reader, None):
        raise NotVisibleError("listings are visible to members; sign in (or give --key) to read them")
    return reader


def _listing_id(request: web.Request) -> str:
    text = request.match_info["listing"]
    if not _listing_id_pattern.fullmatch(text):
        raise MalformedError("name a listing by its id, l_ and 16 letters and digits, as GET /api/listings gives it")
    return text


def on_the_market(state: State, listing: Listing) -> bool:
    """Whether whoever a listing is for is still here: an enterprise that exists, else an active member."""
    if listing.enterprise is not None:
        return listing.enterprise in state.shares.enterprises
    member = state.members.get(listing.author)
    return member is not None and member.active


def _may_change(state: State, reader: Reader, listing: Listing) -> bool:
    """An enterprise's listing is its current manager's to change; any other, its author's."""
    if reader.member is None:
        return False
    if listing.enterprise is not None:
        enterprise = state.shares.enterprises.get(listing.enterprise)
        return enterprise is not None and enterprise.manager == reader.member
    return listing.author == reader.member


def _shown_to(node: Node, reader: Reader, listing: Listing, now_ms: int) -> bool:
    """Whether `reader` may read this one listing: a live one still on the market, any member; any
    other, its author, whoever may change it, and the admins."""
    state = node.sequencer.state
    if reader.admin or reader.member == listing.author or _may_change(state, reader, listing):
        return True
    return listing.live(now_ms) and on_the_market(state, listing)


async def _readable(request: web.Request) -> tuple[Node, Reader, Listing]:
    listing_id = _listing_id(request)  # parameters first: a malformed request is malformed whoever sends it
    reader = _may_read_listings(request)
    node = request.app[node_key]
    listing = await _store(request).get(listing_id)
    if listing is None or not _shown_to(node, reader, listing, clock_ms()):
        raise ListingUnknownError("no such listing (withdrawn, expired or hidden); search the market again")
    return node, reader, listing


async def _own(request: web.Request) -> tuple[Node, Reader, Listing]:
    listing_id = _listing_id(request)
    reader = _member(request)
    node = request.app[node_key]
    listing = await _store(request).get(listing_id)
    if listing is None or not _shown_to(node, reader, listing, clock_ms()):
        raise ListingUnknownError("no such listing (withdrawn, or expired long ago); list it again")
    if not _may_change(node.sequencer.state, reader, listing):
        raise NotListingAuthorError(
            "only the member who listed it (for an enterprise, its manager) may change it; an admin may hide it")
    return node, reader, listing


def listing_json(node: Node, reader: Reader, listing: Listing, now_ms: int) -> dict[str, Any]:
    state = node.sequencer.state
    author = state.members.get(listing.author)
    name = node.directory.name(author) if author is not None and can_see(state, reader, "names", listing.author) else None
    mine = _may_change(state, reader, listing)
    concerned = reader.admin or reader.member == listing.author or mine
    enterprise = None if listing.enterprise is None else state.shares.enterprises.get(listing.enterprise)
    status = "hidden" if listing.hidden_reason is not None else "live" if listing.expires_ms > now_ms else "expired"
    unit = state.community
    return {
        "id": listing.id, "kind": listing.kind, "title": listing.title, "description": listing.description,
        "category": listing.category, "price": listing.price_minor, "place": listing.place,
        "unit": {"code": unit.unit_code, "decimals": unit.unit_decimals},
        "author": {"id": id_to_text("m", listing.author), "name": name},
        "enterprise": None if listing.enterprise is None else {
            "id": id_to_text("e", listing.enterprise), "name": None if enterprise is None else enterprise.name},
        # Whom "pay for this" pays: the enterprise's account, else the member who listed it.
        "payee": id_to_text("m", listing.enterprise if listing.enterprise is not None else listing.author),
        "mine": mine, "status": status,
        "created_ms": listing.created_ms, "listed_ms": listing.listed_ms, "updated_ms": listing.updated_ms,
        "expires_ms": listing.expires_ms,
        "picture": None if listing.picture_etag is None else {
            "url": f"/api/listings/{listing.id}/picture?v={listing.picture_etag}", "etag": listing.picture_etag,
            "width": listing.picture_width, "height": listing.picture_height},
        "hidden": None if listing.hidden_reason is None or not concerned else {
            "reason": listing.hidden_reason, "by": None if listing.hidden_by is None else id_to_text("m", listing.hidden_by),
            "ms": listing.hidden_ms},
    }


def foreign_json(listing: ForeignListing) -> dict[str, Any]:
    """A listing another community shares: the fields of a listing its digest carries, with the
    community named; never `mine`, no picture (its bytes stay on its own node), `description` the
    digest's snippet."""
    return {
        "id": listing.id, "kind": listing.kind, "title": listing.title, "description": listing.snippet,
        "category": listing.category, "price": listing.price_minor, "place": listing.place,
        "unit": {"code": listing.unit_code, "decimals": listing.unit_decimals},
        "author": {"id": id_to_text("m", listing.author), "name": listing.author_name},
        "enterprise": None, "payee": id_to_text("m", listing.payee), "mine": False, "status": "live",
        "created_ms": listing.listed_ms, "listed_ms": listing.listed_ms, "updated_ms": listing.listed_ms,
        "expires_ms": listing.expires_ms, "picture": None, "hidden": None,
        "community": {"id": id_to_text("n", listing.community), "name": listing.community_name},
    }


async def _answer(request: web.Request, node: Node, reader: Reader, listing_id: str, status: int = 200) -> web.Response:
    listing = await _store(request).get(listing_id)
    assert listing is not None
    return json_response(listing_json(node, reader, listing, clock_ms()), status=status)


# ---- the routes -------------------------------------------------------------------------------------


async def list_categories(request: web.Request) -> web.Response:
    return json_response([{"id": category, "label": label} for category, label in categories])


def _query_text(request: web.Request, name: str, chars_max: int) -> str | None:
    value = request.query.get(name)
    if value is None:
        return None
    if not 1 <= len(value) <= chars_max or any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise MalformedError(f"{name} is 1 to {chars_max} characters, none a control character (or leave it out)")
    return unicodedata.normalize("NFC", value).strip() or None


async def search(request: web.Request) -> web.Response:
    category = request.query.get("category")
    if category is not None and category not in category_ids:
        raise MalformedError(f"category is one of {', '.join(c for c, _ in categories)}")
    kind = request.query.get("kind")
    if kind is not None and kind not in kinds:
        raise MalformedError('kind is "offer" or "want"')
    text = _query_text(request, "q", search_chars_max)
    place = _query_text(request, "place", place_chars_max)
    mine = params.query_flag(request, "mine")
    scope = request.query.get("scope", "community")
    if scope not in scopes:
        raise MalformedError('scope is "community" (this one\'s listings) or "federation" (with its federations\')')
    limit = params.query_integer(request, "limit", listings_page_default, 1, listings_page_max)
    before_text = request.query.get("before")
    before = None
    if before_text is not None:
        matched = _cursor.fullmatch(before_text)
        if matched is None:
            raise MalformedError("before is the `next` of the page before, as GET /api/listings gave it")
        before = (int(matched.group(1)), matched.group(2))
    reader = _may_read_listings(request)
    node = request.app[node_key]
    now_ms = clock_ms()
    store = _store(request)
    state = node.sequencer.state
    if mine:
        assert reader.member is not None  # listings_audience admits members only
        managed = [eid for eid, enterprise in state.shares.enterprises.items() if enterprise.manager == reader.member]
        by_id = {listing.id: listing for listing in
                 await store.of_member(reader.member) + await store.of_enterprises(managed)}
        found = sorted(by_id.values(), key=lambda listing: (listing.listed_ms, listing.id), reverse=True)
        after = None
    else:
        found, after = await store.search(now_ms=now_ms, active=lambda listing: on_the_market(state, listing),
                                          text=text, category=category,
                                          place=place, kind=kind, before=before, limit=limit)
    own = [listing_json(node, reader, listing, now_ms) for listing in found]
    if mine or scope == "community":
        return json_response({"listings": own, "next": None if after is None else f"{after[0]}.{after[1]}"})
    # The federation's scope: this community's page and the foreign one, merged newest first.
    foreign = await store.foreign_search(now_ms=now_ms, text=text, category=category, place=place, kind=kind,
                                         before=before, limit=limit)
    own_next = None if after is None else after
    merged = sorted([*own, *(foreign_json(listing) for listing in foreign)],
                    key=lambda entry: (entry["listed_ms"], entry["id"]), reverse=True)
    page = merged[:limit]
    # More to come if either side filled its page (or this one was cut): the next page starts
    # after the last one shown, on both sides. An own page cut short by the scan bound goes on too.
    more = len(merged) > limit or len(foreign) == limit or own_next is not None
    last = page[-1] if page else None
    return json_response({
        "listings": page,
        "next": None if not more or last is None else f"{last['listed_ms']}.{last['id']}",
    })


def _enterprise_for(node: Node, reader: Reader, text: str | None) -> bytes | None:
    """The enterprise a listing is made for, if any: one that exists, whose manager is the reader."""
    if text is None:
        return None
    eid = params.id_of(text, "e", "name the enterprise by its id, e_… as GET /api/enterprises gives it")
    enterprise = node.sequencer.state.shares.enterprises.get(eid)
    if enterprise is None:
        raise UnknownEnterpriseError("no enterprise has that id; GET /api/enterprises lists them")
    if enterprise.manager != reader.member:
        raise NotManagerError("only an enterprise's manager lists for it; list it as yourself instead")
    return eid


async def create(request: web.Request) -> web.Response:
    reader = _member(request)
    body = await _decoded(request, ListingBody, _body_line)
    fields = _fields(body)
    now_ms = clock_ms()
    assert reader.member is not None
    node = request.app[node_key]
    enterprise = _enterprise_for(node, reader, body.enterprise)
    made = await _store(request).add(reader.member, fields, _expiry(body.expires_in_days, now_ms), now_ms,
                                     enterprise)
    return await _answer(request, node, reader, made.id, status=201)


def _community_of(request: web.Request) -> bytes | None:
    text = request.query.get("community")
    if text is None:
        return None
    return params.id_of(text, "n", "community is the n_… id of the community that lists it, as the search gave it")


async def read_one(request: web.Request) -> web.Response:
    community = _community_of(request)
    if community is not None and community != request.app[node_key].feed:
        listing_id = _listing_id(request)
        _may_read_listings(request)
        foreign = await _store(request).foreign_get(community, listing_id, clock_ms())
        if foreign is None:
            raise ListingUnknownError("no such listing shared by that community (withdrawn, expired or hidden); "
                                      "search the federation again")
        return json_response(foreign_json(foreign))
    node, reader, listing = await _readable(request)
    return json_response(listing_json(node, reader, listing, clock_ms()))


async def edit(request: web.Request) -> web.Response:
    node, reader, listing = await _own(request)
    body = await _decoded(request, ListingBody, _body_line)
    if body.expires_in_days is not None:
        raise MalformedError("an edit keeps the expiry; renew the listing to change it (POST …/renew)")
    if body.enterprise is not None:
        raise MalformedError("an edit keeps whom the listing is for; withdraw it and list it again to change that")
    fields = _fields(body)
    if listing.hidden_reason is not None:
        raise ListingHiddenError("an admin hid this listing; withdraw it, or ask the admins why")
    await _store(request).edit(listing.id, fields, clock_ms())
    return await _answer(request, node, reader, listing.id)


async def renew(request: web.Request) -> web.Response:
    node, reader, listing = await _own(request)
    body = await _decoded(request, RenewBody, 'send JSON {"expires_in_days": 1 to 90}, or {}')
    if listing.hidden_reason is not None:
        raise ListingHiddenError("an admin hid this listing; withdraw it, or ask the admins why")
    now_ms = clock_ms()
    await _store(request).renew(listing.id, _expiry(body.expires_in_days, now_ms), now_ms)
    return await _answer(request, node, reader, listing.id)


async def withdraw(request: web.Request) -> web.Response:
    _node, _reader, listing = await _own(request)
    await _store(request).withdraw(listing.id, clock_ms())
    return json_response({"id": listing.id, "withdrawn": True})


async def hide(request: web.Request) -> web.Response:
    _listing_id(request)
    reader = _member(request)
    if not reader.admin:
        raise NotAdminError("only an admin may hide a listing; its member may withdraw it")
    body = await _decoded(request, HideBody, 'send JSON {"reason": "…"}: why it is hidden, for its member')
    reason = _text(body.reason, "a reason", hide_reason_chars_max, required=True)
    node, _reader, listing = await _readable(request)
    assert reader.member is not None
    await _store(request).hide(listing.id, reason, reader.member, clock_ms())
    return await _answer(request, node, reader, listing.id)


async def read_sharing(request: web.Request) -> web.Response:
    _member(request)
    return json_response({"federations": await _store(request).shared_with_federations()})


async def set_sharing(request: web.Request) -> web.Response:
    reader = _member(request)
    if not reader.admin:
        raise NotAdminError("only an admin decides whether the community shares its listings with its federations")
    body = await _decoded(request, SharingBody, 'send JSON {"federations": true} or {"federations": false}')
    await _store(request).share_with_federations(body.federations)
    return json_response({"federations": body.federations})


class PictureDecoder:
    """The one decoder of pictures (`pictures_decoding_max` at once) and the uploads waiting for it."""

    def __init__(self) -> None:
        self.decoding = asyncio.Semaphore(pictures_decoding_max)
        self.waiting = 0


picture_decoder_key = web.AppKey("picture_decoder", PictureDecoder)


async def put_picture(request: web.Request) -> web.Response:
    node, reader, listing = await _own(request)
    if listing.hidden_reason is not None:
        raise ListingHiddenError("an admin hid this listing; withdraw it, or ask the admins why")
    data = await read_body(request, picture_upload_bytes_max)
    decoder = request.app[picture_decoder_key]
    if decoder.waiting >= pictures_waiting_max:
        raise BusyError("the node is making other pictures small; send it again in a moment")
    decoder.waiting += 1
    try:
        async with decoder.decoding:
            picture = await asyncio.to_thread(prepare, data)
    finally:
        decoder.waiting -= 1
    store = _store(request)
    if await store.get(listing.id) is None:
        raise ListingUnknownError("the listing was withdrawn meanwhile; list it again")
    await store.set_picture(listing.id, picture, clock_ms())
    return await _answer(request, node, reader, listing.id)


async def delete_picture(request: web.Request) -> web.Response:
    node, reader, listing = await _own(request)
    await _store(request).remove_picture(listing.id, clock_ms())
    return await _answer(request, node, reader, listing.id)


picture_headers = {
    "Cache-Control": "private, no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Disposition": 'inline; filename="listing.webp"',
    "Referrer-Policy": "no-referrer",
}


async def get_picture(request: web.Request) -> web.StreamResponse:
    _node, _reader, listing = await _readable(request)
    picture = await _store(request).picture(listing.id)
    if picture is None:
        raise NoPictureError("this listing has no picture")
    etag = f'"{picture.etag}"'
    headers = {**picture_headers, "ETag": etag}
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    return web.Response(body=picture.bytes, content_type=picture.content_type, headers=headers)


def add_routes(app: web.Application) -> None:
    app[picture_decoder_key] = PictureDecoder()
    app.router.add_get("/api/listings/categories", list_categories)
    app.router.add_get("/api/listings/sharing", read_sharing)
    app.router.add_put("/api/listings/sharing", set_sharing)
    app.router.add_get("/api/listings", search)
    app.router.add_post("/api/listings", create)
    app.router.add_get("/api/listings/{listing}", read_one)
    app.router.add_put("/api/listings/{listing}", edit)
    app.router.add_delete("/api/listings/{listing}", withdraw)
    app.router.add_post("/api/listings/{listing}/renew", renew)
    app.router.add_post("/api/listings/{listing}/hide", hide)
    app.router.add_get("/api/listings/{listing}/picture", get_picture)
    app.router.add_put("/api/listings/{listing}/picture", put_picture)
    app.router.add_delete("/api/listings/{listing}/picture", delete_picture)
    allow_larger_body("/api/listings/{listing}/picture", picture_upload_bytes_max)
