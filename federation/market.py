"""The market across the federation: each community's shared listings, as a digest its federation
peers pull (docs/market.md, "Across the federation"; docs/federation.md §17).

How this works:
- A community shares its listings with its federations when an admin says so
  (`PUT /api/listings/sharing`, node-local in `listings.db`; not shared by default).
- `GET /replication/listings?since=MS.ID[&limit=N]` is the digest: what changed in the listings
  after the cursor, oldest first, a page at a time. A live listing on the market is its public
  fields (title, a snippet of the description, category, price, place, its picture's hash, the
  author's `m_` id, the payee's, when it was listed and when it expires); the author's name only
  where the community shows names to everyone (its `names` policy is `public`: the federation is
  not a member). Anything else that changed (hidden, expired, of a member who left) and every
  tombstone (withdrawn, erased, purged) is `{"id", "changed_ms", "gone": true}`, a tombstone's id
  being `g_` and the BLAKE2b-128 of the listing's id (node/listings.py `tombstone_id`). It is served to the
  nodes of the other communities of this node's federations alone, by a read signed with their
  node key as every replication read is (`Server.authenticate_read`), then checked against the
  federations' members (403 `not_federated`). A community that does not share answers
  `"shared": false` and no listing.
- `MarketPuller` (one task of the federation layer) reads the digest of every configured peer
  whose own feed is a community of this node's federations, every `digest_pull_interval_ms`, from
  the cursor it holds (`foreign_cursors`), into `foreign_listings`; every
  `digest_full_pull_interval_ms` it reads the whole digest again from the start and drops what it
  no longer finds (what a tombstone kept too briefly, a clock that stepped back, or a member who
  left would otherwise leave behind). A peer that fails is retried with exponential backoff. A
  community that stops sharing, or leaves the federations, is forgotten at once.
- Digests travel only between peers: a node does not relay another community's digest, which is
  not signed (a relay could forge it). A community's listings reach the communities whose nodes
  peer with its node.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Literal

import aiohttp
import msgspec
from aiohttp import web
from msgspec import Meta
from prometheus_client.core import CounterMetricFamily, Metric
from tallystick.node.app import Node, clock_ms, node_key
from tallystick.node.http.listings import on_the_market, place_chars_max, title_chars_max
from tallystick.node.http.middleware import json_response
from tallystick.node.listings import (
    ForeignListing,
    Gone,
    Listing,
    category_ids,
    change_cursor,
    foreign_listings_per_community_max,
    listings_key,
    snippet_chars_max,
)
from tallystick.protocol import limits
from tallystick.protocol.errors import BadIdError, LocalError, MalformedError
from tallystick.protocol.ids import id_from_text, id_to_text
from tallystick.replication.reads import read_url, signed_read_headers
from tallystick.replication.replicator import replicator_key

from .view import FederationView

# Changes in one page of the digest: each is at most about 1.5 KB of JSON, so a page stays well
# under `digest_bytes_max`; a node of `listings_max` listings is read whole in 200 pages.
digest_page_max = 100
# A digest's answer in bytes, at most: the server stops a page before it, the puller reads no more.
digest_bytes_max = 256 * 1024
# How often a node asks each peer for what changed (an empty page is a few hundred bytes), and how
# often it reads a peer's whole digest again to drop what it no longer finds.
digest_pull_interval_ms = 3_000
digest_full_pull_interval_ms = 10 * 60 * 1000
# Pages read from one peer in one pull: a full pull of as many listings as one community's are held.
digest_pages_per_pull_max = foreign_listings_per_community_max // digest_page_max + 2
# The first wait after a failing pull; it doubles up to limits.peer_backoff_max_ms.
digest_backoff_first_ms = 500
digest_route = "/replication/listings"

_since = re.compile(r"([0-9]{1,16})\.(l_[a-z2-7]{16}|g_[0-9a-f]{32})?")
# A change names a listing by its id, or (a tombstone) by node/listings.py `tombstone_id`.
_change_id = r"^(l_[a-z2-7]{16}|g_[0-9a-f]{32})$"
_member_id_chars_max = 64


class NotFederatedError(LocalError):
    code = "not_federated"
    http_status = 403


class DigestUnit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Annotated[str, Meta(max_length=limits.unit_code_chars_max)]
    decimals: Annotated[int, Meta(ge=0, le=18)]


class DigestChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """One change of the digest: a listing on the market, or `gone`."""

    id: Annotated[str, Meta(pattern=_change_id)]
    changed_ms: Annotated[int, Meta(ge=0, le=limits.int64_max)]
    gone: bool = False
    kind: Literal["offer", "want"] | None = None
    title: Annotated[str, Meta(min_length=1, max_length=title_chars_max)] | None = None
    snippet: Annotated[str, Meta(max_length=snippet_chars_max)] = ""
    category: Annotated[str, Meta(max_length=16)] | None = None
    price: Annotated[int, Meta(ge=1, le=limits.amount_minor_max)] | None = None
    place: Annotated[str, Meta(max_length=place_chars_max)] = ""
    picture: Annotated[str, Meta(max_length=64)] | None = None  # the picture's hash (its ETag)
    author: Annotated[str, Meta(max_length=_member_id_chars_max)] | None = None
    author_name: Annotated[str, Meta(max_length=200)] | None = None
    payee: Annotated[str, Meta(max_length=_member_id_chars_max)] | None = None
    listed_ms: Annotated[int, Meta(ge=0, le=limits.int64_max)] = 0
    expires_ms: Annotated[int, Meta(ge=0, le=limits.int64_max)] = 0


class Digest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    community: Annotated[str, Meta(max_length=64)]
    name: Annotated[str, Meta(max_length=200)]
    shared: bool
    unit: DigestUnit
    changes: Annotated[list[DigestChange], Meta(max_length=digest_page_max)]
    cursor: Annotated[str, Meta(max_length=64)]  # the `since` of the next page
    more: bool  # whether a next page is there now


def _cursor_text(cursor: tuple[int, str]) -> str:
    return f"{cursor[0]}.{cursor[1]}"


def _parse_cursor(text: str) -> tuple[int, str]:
    matched = _since.fullmatch(text)
    if matched is None:
        raise MalformedError("since is the `cursor` of the digest's last page (digits, a dot, an l_ id), or leave it out")
    return int(matched.group(1)), matched.group(2) or ""


def _change(node: Node, change: Listing | Gone, now_ms: int) -> DigestChange:
    if isinstance(change, Gone):
        return DigestChange(id=change.id, changed_ms=change.gone_ms, gone=True)
    state = node.sequencer.state
    listing = change
    if not (listing.live(now_ms) and on_the_market(state, listing)):
        return DigestChange(id=listing.id, changed_ms=listing.changed_ms, gone=True)
    author = state.members.get(listing.author)
    # The federation is no member: a name goes only where the community shows names to everyone.
    name = node.directory.name(author) if author is not None and state.visibility.names == "public" else None
    snippet = listing.description[:snippet_chars_max]
    return DigestChange(
        id=listing.id, changed_ms=listing.changed_ms, kind=listing.kind, title=listing.title,  # type: ignore[arg-type]
        snippet=snippet, category=listing.category, price=listing.price_minor, place=listing.place,
        picture=listing.picture_etag, author=id_to_text("m", listing.author), author_name=name,
        payee=id_to_text("m", listing.enterprise if listing.enterprise is not None else listing.author),
        listed_ms=listing.listed_ms, expires_ms=listing.expires_ms,
    )


class Market:
    """The digest route and the puller, as part of the federation layer (federation/service.py)."""

    def __init__(self, federations: FederationView, pull_interval_ms: int = digest_pull_interval_ms) -> None:
        self.federations = federations
        self.pull_interval_ms = pull_interval_ms
        self.pulled_total = 0  # digest pages taken from peers
        self.failed_total = 0  # digest pulls that failed (a peer down, refusing, or sending a bad page)

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily("tally_listing_digest_pages", "Pages of other communities' listings' digests taken",
                                  value=self.pulled_total)
        yield CounterMetricFamily("tally_listing_digest_failures", "Pulls of a listings' digest that failed (a peer "
                                  "down or refusing, or a page that did not decode)", value=self.failed_total)

    def add_routes(self, app: web.Application) -> None:
        self.app = app
        app[market_key] = self
        app.router.add_get(digest_route, handle_digest)

    async def federation_communities(self) -> frozenset[bytes]:
        from .service import members_of_own_federations

        state, _ = await self.federations.view()
        own = self.federations.own_feed
        return frozenset(member for member in members_of_own_federations(state, own) if member not in state.federations)

    # ---- the puller -----------------------------------------------------------------------------

    async def run(self) -> None:
        node = self.app[node_key]
        replicator = self.app[replicator_key]
        pulls: dict[str, _PeerPull] = {}
        timeout = aiohttp.ClientTimeout(total=limits.peer_request_timeout_ms / 1000)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                await asyncio.sleep(self.pull_interval_ms / 1000)
                store = self.app.get(listings_key)
                if store is None:
                    continue  # the listings' file opens after the node starts its layers
                communities = await self.federation_communities()
                for community in await store.foreign_communities() - communities:
                    await store.foreign_forget(community)  # it left the federations (or we did)
                for peer in replicator.peers.by_url.values():
                    if peer.feed is None or peer.feed not in communities:
                        continue
                    pull = pulls.setdefault(peer.url, _PeerPull())
                    if time.monotonic() < pull.next_try:
                        continue
                    try:
                        await self._pull(session, node, peer.url, peer.feed, pull)
                        pull.backoff_ms = digest_backoff_first_ms
                        pull.next_try = 0.0
                    except (TimeoutError, aiohttp.ClientError, OSError, MalformedError, BadIdError) as error:
                        self.failed_total += 1
                        pull.last_error = str(error) or type(error).__name__
                        pull.next_try = time.monotonic() + pull.backoff_ms / 1000
                        pull.backoff_ms = min(pull.backoff_ms * 2, limits.peer_backoff_max_ms)

    async def _pull(self, session: aiohttp.ClientSession, node: Node, url: str, community: bytes, pull: _PeerPull) -> None:
        store = self.app[listings_key]
        full = time.monotonic() >= pull.full_due
        cursor = (0, "") if full else await store.foreign_cursor(community)
        seen: set[str] = set()
        for _page in range(digest_pages_per_pull_max):
            digest = await self._read(session, node, url, community, cursor)
            if not digest.shared:
                await store.foreign_forget(community)
                pull.full_due = 0.0  # when it shares again, read it all
                return
            ledger = self.federations.ledger(community)
            name = ledger.community.name if ledger is not None else digest.name
            listings, gone = _taken(community, name, digest)
            seen.update(listing.id for listing in listings)
            cursor = _parse_cursor(digest.cursor)
            await store.foreign_apply(community, listings, gone, cursor, clock_ms())
            self.pulled_total += 1
            if not digest.more:
                if full:
                    await store.foreign_forget(community, keep=seen)
                    pull.full_due = time.monotonic() + digest_full_pull_interval_ms / 1000
                return

    async def _read(
        self, session: aiohttp.ClientSession, node: Node, url: str, community: bytes, cursor: tuple[int, str],
    ) -> Digest:
        target = f"{digest_route}?since={_cursor_text(cursor)}&limit={digest_page_max}"
        headers = signed_read_headers(node.sequencer.key, node=community, target=target, now_ms=clock_ms())
        async with session.get(read_url(url, target), headers=headers) as response:
            if response.status != 200:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status,
                    message=f"{url} refused its listings' digest ({response.status})")
            body = await response.content.read(digest_bytes_max + 1)
        if len(body) > digest_bytes_max:
            raise MalformedError(f"{url}'s listings' digest is over {digest_bytes_max} bytes")
        try:
            digest = msgspec.json.decode(body, type=Digest)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            raise MalformedError(f"{url}'s listings' digest does not decode: {error}") from None
        if id_from_text("n", digest.community) != community:
            raise MalformedError(f"{url} answered the listings' digest of another community")
        return digest


@dataclass
class _PeerPull:
    next_try: float = 0.0  # time.monotonic() before which this peer is not asked (its backoff)
    backoff_ms: int = digest_backoff_first_ms
    full_due: float = 0.0  # when the next full pull is due (at once after start)
    last_error: str | None = None


def _taken(community: bytes, name: str, digest: Digest) -> tuple[list[ForeignListing], list[str]]:
    """A page of a digest as rows to keep and ids to drop. A change this node cannot show (a
    category it does not know, one without a title) is dropped as gone."""
    listings: list[ForeignListing] = []
    gone: list[str] = []
    for change in digest.changes:
        if (change.gone or not change.id.startswith("l_") or change.kind is None or change.title is None or change.category not in category_ids
                or change.author is None or change.payee is None):
            gone.append(change.id)
            continue
        listings.append(ForeignListing(
            community=community, id=change.id, community_name=name, unit_code=digest.unit.code,
            unit_decimals=digest.unit.decimals, kind=change.kind, title=change.title, snippet=change.snippet,
            category=change.category, price_minor=change.price, place=change.place, picture_hash=change.picture,
            author=id_from_text("m", change.author), author_name=change.author_name,
            payee=id_from_text("m", change.payee), listed_ms=change.listed_ms, expires_ms=change.expires_ms,
        ))
    return listings, gone


# ---- the route --------------------------------------------------------------------------------------


async def handle_digest(request: web.Request) -> web.Response:
    """GET /replication/listings?since=MS.ID[&limit=N]: this community's shared listings changed
    after `since`, for the node of another community of its federations (signed read)."""
    market = request.app[market_key]
    feed = request.app[replicator_key].server.authenticate_read(request)
    if feed not in await market.federation_communities():
        raise NotFederatedError(
            "the listings' digest is for the communities of this node's federations; federate first")
    since = _parse_cursor(request.query.get("since", "0."))
    text = request.query.get("limit")
    limit = digest_page_max
    if text is not None:
        if not (text.isascii() and text.isdigit() and len(text) <= 3) or not 1 <= int(text) <= digest_page_max:
            raise MalformedError(f"limit is a whole number from 1 to {digest_page_max}")
        limit = int(text)
    node = request.app[node_key]
    store = request.app[listings_key]
    community = node.sequencer.state.community
    unit = DigestUnit(community.unit_code, community.unit_decimals)
    if not await store.shared_with_federations():
        return json_response(msgspec.to_builtins(Digest(
            id_to_text("n", node.feed), community.name, False, unit, [], _cursor_text((0, "")), False)))
    now_ms = clock_ms()
    found = await store.changes(since, limit + 1)
    changes: list[DigestChange] = []
    size = 512  # the envelope
    cursor = since
    for change in found[:limit]:
        entry = _change(node, change, now_ms)
        size += len(msgspec.json.encode(entry)) + 1
        if size > digest_bytes_max - 1024:
            break
        changes.append(entry)
        cursor = change_cursor(change)
    more = len(changes) < len(found)
    return json_response(msgspec.to_builtins(Digest(
        id_to_text("n", node.feed), community.name, True, unit, changes, _cursor_text(cursor), more)))


market_key = web.AppKey("market", Market)
