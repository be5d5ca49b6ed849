"""The /replication/ routes: what this node serves to other nodes, and who may push to it.

How this works:
- Every node serves what it holds under /replication/ (protocol.md §16.2): its heads (feed -> seq,
  hash, in pages of feeds by id, so no held feed is ever left out of the exchange), ranges of any
  feed as exact signed bytes (`serve_range`: a run always ends in an event that verifies on its
  own, §16.3), the fork proofs it keeps, and its own feed id (/replication/node).
- Every GET but /replication/node is served only to a node with standing here: the request carries
  an `Authorization: Tally …` signature (protocol/requests.py, protocol.md §18, verified by the
  node's middleware over this node's feed id, the method, the raw path with its query and the time),
  and its key must be the current key of a feed this node holds (`Server.authenticate_read`).
  Reads carry no nonce: a replay within the time window re-reads only what that signer may read.
- A push or a fork proof must carry a Tally-Signature by the current key of a feed this node holds
  (or, first contact, an anchor's genesis); anything else is refused with 403 before the body is
  read (`Server.authenticated_body`). Signatures carry a time (within `request_clock_skew_max_ms`)
  and a nonce remembered until it is outside that window, so a captured request cannot be replayed.
- What a push carries goes through the one door, `Holdings.ingest` (replication/ingest.py).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import TypeVar

import msgspec
from aiohttp import web
from tallystick.node.connections import read_body
from tallystick.node.errors import BusyError
from tallystick.node.http.params import query_integer
from tallystick.node.http.readers import reader_of
from tallystick.node.store import Store
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, encode, verify_event_signature
from tallystick.protocol.errors import BadIdError, BadSignatureError, MalformedError, TallyError
from tallystick.protocol.events import KeyRotated
from tallystick.protocol.feed import start_feed
from tallystick.protocol.ids import hash32, id_from_text, id_to_text, verify_signature
from tallystick.protocol.wire import (
    BadRequestSignatureHeaderError,
    Events,
    Forks,
    Heads,
    NodeIdentity,
    RequestSignature,
    RequestSigned,
    WireHead,
    events_decoder,
    forks_decoder,
    parse_request_signature,
    request_signable,
    request_signature_header,
)

from .errors import (
    BadRequestSignatureError,
    ReplayedRequestError,
    RequestExpiredError,
    UnknownPeerError,
    UnsignedRequestError,
)
from .ingest import Holdings

msgpack_type = "application/msgpack"
# A signed request's time may be this far from this node's clock, either way: wide enough for
# clocks an NTP daemon keeps, narrow enough that the nonces of one window fit `request_nonces_max`.
request_clock_skew_max_ms = 60_000
# Nonces of accepted signed requests remembered (each until it is older than the skew window): at
# 64 peers that is over 25 signed requests a second each. Past it, signed requests answer 503.
request_nonces_max = 100_000
# Feeds in one page of the heads exchange (the server caps `limit` at replication_heads_max). A
# peer's heads are read in at most (feeds_held_max + feeds_anchor_reserve) / page + 2 pages a pass:
# enough for every feed this node could take; the rest, if a peer holds more, next pass.
heads_page_feeds_max = limits.replication_heads_max
# Signed request bodies (pushes, fork posts) read at once before their signature is checked: 16
# of replication_body_bytes_max is 64 MiB at most; a peer pushes one run at a time per peer task.
unverified_bodies_max = 16

Message = TypeVar("Message")


def decode_message(decoder: msgspec.msgpack.Decoder[Message], data: bytes) -> Message:
    """A replication message (protocol.md §16.1) from a peer's body or answer: `malformed` if it
    does not decode to its bounded type."""
    try:
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise MalformedError(f"replication message does not decode: {error}") from None


async def serve_range(store: Store, feed: bytes, start: int, limit: int) -> Events:
    """A run of `feed` from `start` whose last event verifies on its own, so that whoever
    receives it can authenticate the whole run with that one signature (DESIGN, Replication).
    Events inside a run were authenticated by the chain when we stored them; one whose own
    signature is bad (an author's fault, never an honest node's) is never served as a run's end.
    A push sends the same runs (replication/peers.py)."""
    rows = await store.read_log(feed, start, min(limit, limits.replication_batch_events_max))
    batch: list[bytes] = []
    size = 0
    for row in rows:
        size += len(row.bytes) + 8
        if size > limits.replication_body_bytes_max // 2:
            break
        batch.append(row.bytes)
    while batch:
        seq = start + len(batch) - 1
        key = await store.signing_key_at(feed, seq)
        try:
            body = decode_event(batch[-1]).body
            verify_event_signature(batch[-1], body.recovery_key if isinstance(body, KeyRotated) else key)
            break
        except TallyError:
            batch.pop()
    return Events(feed, start, batch)


class Server:
    """What the /replication/ handlers need: the holdings, and the guard on signed requests."""

    def __init__(self, holdings: Holdings, clock_ms: Callable[[], int], vouchers: Callable[[], set[bytes]]) -> None:
        self.holdings = holdings
        self.clock_ms = clock_ms
        self.vouchers = vouchers  # the feeds whose signed pushes vouch for new feeds: the peers' own
        self.rejected_total = 0  # pushes whose run did not verify
        self.refused_requests_total = 0  # signed requests refused before their body was used
        self._nonces: dict[bytes, int] = {}  # nonce -> our clock when accepted, oldest first
        # Bodies of signed requests read at once before their signature is checked: the header names
        # a held feed (public), so without this anyone could make the node hold connections_max
        # bodies of 4 MiB each in memory.
        self._unverified_bodies = asyncio.Semaphore(unverified_bodies_max)

    async def heads(self, *, after: bytes | None = None, limit: int = heads_page_feeds_max, key: bytes | None = None) -> Heads:
        """One page of the heads this node holds, by feed id after `after`: the first `limit` (at
        most replication_heads_max). A page shorter than `limit` is the last, so a peer that reads
        pages until then sees every held feed, however many. `key`: only feeds that key signs now."""
        held = (
            head for head in self.holdings.held_heads()
            if (after is None or head.feed > after) and (key is None or head.signing_key == key)
        )
        page = heapq.nsmallest(min(limit, limits.replication_heads_max), held, key=lambda head: head.feed)
        forks = min(await self.holdings.store.fork_count(), limits.replication_forks_max)
        return Heads([WireHead(h.feed, h.seq, h.head) for h in page], forks)

    # ---- who reads ----------------------------------------------------------------------------

    def authenticate_read(self, request: web.Request) -> bytes:
        """The held feed whose current key signed this GET (the node middleware has verified the
        signature, its time, this node's feed id, the method and the raw path with its query);
        UnsignedRequestError or UnknownPeerError (403, counted) for anyone else."""
        key = reader_of(request).key
        try:
            if key is None:
                raise UnsignedRequestError(
                    "this route serves only nodes this node replicates: sign the request with your node key "
                    "(Authorization: Tally, docs/protocol.md §16.2); link the nodes as peers"
                )
            feed = self.holdings.feed_signed_by(key)
            if feed is None:
                raise UnknownPeerError(
                    f"no feed this node holds is signed now by key {id_to_text('k', key)}: only its peers, the feeds "
                    "it follows and its federations' members may read; link the nodes as peers (a peer that lists "
                    "this node is read once this node holds its feed: it pushes it on first contact)"
                )
        except TallyError:
            self.refused_requests_total += 1
            raise
        return feed

    # ---- who sent a push or a fork proof --------------------------------------------------------

    def authenticate_header(self, request: web.Request) -> tuple[RequestSignature, bytes | None]:
        """The cheap checks, before the body is read: a well-formed Tally-Signature, in the time
        window, by a feed this node holds (its current key returned) or an anchor it does not hold
        yet (None: first contact, whose genesis the body must carry)."""
        value = request.headers.get(request_signature_header)
        if value is None:
            raise UnsignedRequestError(
                "this route takes only requests signed by a node this node replicates (a Tally-Signature "
                "header, docs/federation.md); link the nodes as peers"
            )
        try:
            claim = parse_request_signature(value)
        except BadRequestSignatureHeaderError as error:
            raise BadRequestSignatureError(f"the Tally-Signature header is not valid: {error}") from None
        except BadIdError as error:
            raise BadRequestSignatureError(f"the Tally-Signature header's feed is not valid: {error.message}") from None
        now = self.clock_ms()
        if abs(claim.ts - now) > request_clock_skew_max_ms:
            raise RequestExpiredError(
                f"the request was signed at {claim.ts} ms, more than {request_clock_skew_max_ms} ms from this "
                f"node's clock ({now} ms); sign each request afresh and check the sender's clock"
            )
        key = self.holdings.current_key(claim.feed)
        if key is None and not self.holdings.is_anchor(claim.feed):
            raise UnknownPeerError(
                f"this node holds no feed {id_to_text('n', claim.feed)} and has no reason to: only its peers, the "
                "feeds it follows and its federations' members may push; list the sending node as a peer"
            )
        return claim, key

    def authenticate_body(self, request: web.Request, claim: RequestSignature, key: bytes, body: bytes) -> None:
        """The signature over the route, the body's hash, the time and the nonce; then the nonce
        is remembered, so the same request is refused if it comes again."""
        route = request.match_info.route.resource
        path = route.canonical if route is not None else request.path
        signed = RequestSigned(request.method, path, hash32(body), claim.ts, claim.nonce, claim.feed)
        try:
            verify_signature(key, request_signable(signed), claim.signature)
        except BadSignatureError:
            raise BadRequestSignatureError(
                f"the Tally-Signature does not verify by the current key of {id_to_text('n', claim.feed)}: the "
                "request was altered, or signed by another key (after a key rotation, a node's pushes are "
                "taken once this node holds the rotation)"
            ) from None
        now = self.clock_ms()
        while self._nonces:
            oldest, seen_ms = next(iter(self._nonces.items()))
            if now - seen_ms <= 2 * request_clock_skew_max_ms:
                break
            del self._nonces[oldest]
        if claim.nonce in self._nonces:
            raise ReplayedRequestError("this signed request was received before; sign each request with a fresh nonce")
        if len(self._nonces) >= request_nonces_max:
            raise BusyError("too many signed requests in the last minutes; retry later")
        self._nonces[claim.nonce] = now

    async def authenticated_body(self, request: web.Request) -> tuple[bytes, bytes]:
        """The body of a signed request from a node with standing here, and the signer's feed.
        Refused (403) before the body is read unless the header names a node this node knows."""
        try:
            claim, key = self.authenticate_header(request)
            if self._unverified_bodies.locked():
                raise BusyError("this node is reading as many signed requests as it takes at once; retry later")
            async with self._unverified_bodies:
                body = await read_body(request, limits.replication_body_bytes_max)
            if key is None:  # first contact: an anchor pushes its own feed from its genesis
                message = decode_message(events_decoder, body)
                if message.feed != claim.feed or message.start != 1 or not message.events:
                    raise UnknownPeerError(
                        f"this node holds no feed {id_to_text('n', claim.feed)} yet: its first push must be that "
                        "feed from its genesis"
                    )
                genesis_head, _ = start_feed(message.events[0])
                if genesis_head.feed != claim.feed:
                    raise MalformedError("a feed's id is the hash of its genesis; this genesis does not match")
                key = genesis_head.signing_key
            self.authenticate_body(request, claim, key, body)
        except TallyError:
            self.refused_requests_total += 1
            raise
        return body, claim.feed


# ---- HTTP handlers under /replication/ ---------------------------------------------------------

server_key = web.AppKey("replication_server", Server)


def _msgpack(value: object, status: int = 200) -> web.Response:
    return web.Response(body=encode(value), status=status, content_type=msgpack_type)


async def handle_heads(request: web.Request) -> web.Response:
    """GET /replication/heads[?after=n_…][&limit=N][&key=k_…]: one page of the held heads by feed id
    (a full page means: ask again after its last feed). `key`: which feed does this key sign now?
    (`tally restore` asks.) Only for a node with standing here (`Server.authenticate_read`)."""
    server = request.config_dict[server_key]
    server.authenticate_read(request)
    after = request.query.get("after")
    key = request.query.get("key")
    limit = query_integer(request, "limit", heads_page_feeds_max, 1, limits.replication_heads_max)
    heads = await server.heads(
        after=None if after is None else id_from_text("n", after),
        limit=limit,
        key=None if key is None else id_from_text("k", key),
    )
    return _msgpack(heads)


async def handle_node(request: web.Request) -> web.Response:
    """GET /replication/node: this node's own feed, so that a node that lists it as a peer by URL
    knows which of the feeds it serves is its own (an anchor, and whose key signs its pushes), and
    which feed id its signed reads name. Open to anyone: it says only who this node is."""
    return _msgpack(NodeIdentity(request.config_dict[server_key].holdings.own_feed))


async def handle_range(request: web.Request) -> web.Response:
    """GET /replication/feeds/{feed}?from=S&limit=N: a run of a held feed, for a node with standing."""
    server = request.config_dict[server_key]
    server.authenticate_read(request)
    feed = id_from_text("n", request.match_info["feed"])
    # ASCII digits within int64 (a seq past 2^63 would overflow SQLite), and at most one run.
    start = query_integer(request, "from", 1, 1, limits.int64_max)
    limit = query_integer(request, "limit", limits.replication_batch_events_max, 1, limits.replication_batch_events_max)
    return _msgpack(await serve_range(server.holdings.store, feed, start, limit))


async def handle_push(request: web.Request) -> web.Response:
    """POST /replication/push: a run of one feed, signed by a node this node holds (403 before the
    body is read otherwise); a feed new to this node is taken only with a reason (`check_reason`)."""
    server = request.config_dict[server_key]
    body, signer = await server.authenticated_body(request)
    message = decode_message(events_decoder, body)
    try:
        seq = await server.holdings.ingest(message, vouched=signer in server.vouchers())
    except TallyError:
        server.rejected_total += 1
        raise
    head = server.holdings.head(message.feed)
    return _msgpack(Heads([WireHead(message.feed, max(seq, 1), head.head)] if head and seq else [], 0))


async def handle_forks(request: web.Request) -> web.Response:
    """GET /replication/forks: the fork proofs this node keeps, for a node with standing."""
    server = request.config_dict[server_key]
    server.authenticate_read(request)
    proofs = [proof for _feed, _seq, proof in await server.holdings.store.forks(limits.replication_forks_max)]
    return _msgpack(Forks(proofs))


async def handle_fork_post(request: web.Request) -> web.Response:
    """POST /replication/forks: fork proofs, signed by a node this node holds; a proof is kept only
    for a held feed (and freezes it, with one alert)."""
    server = request.config_dict[server_key]
    body, _signer = await server.authenticated_body(request)
    message = decode_message(forks_decoder, body)
    for raw in message.proofs:
        await server.holdings.ingest_fork_proof(raw)
    return _msgpack(Forks([]))


def add_routes(app: web.Application, server: Server) -> None:
    app[server_key] = server
    app.router.add_get("/replication/heads", handle_heads)
    app.router.add_get("/replication/node", handle_node)
    app.router.add_get("/replication/feeds/{feed}", handle_range)
    app.router.add_post("/replication/push", handle_push)
    app.router.add_get("/replication/forks", handle_forks)
    app.router.add_post("/replication/forks", handle_fork_post)
