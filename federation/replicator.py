"""Replication: nodes gossip each other's feeds, verify and audit everything, and prove forks.

How this works (DEV DOCS):
- Every node serves what it holds under /replication/: its heads (feed -> seq, hash, in pages of
  feeds by id, so no held feed is ever left out of the exchange), ranges of any feed as exact
  signed bytes, the fork proofs it keeps, and its own feed id (/replication/node).
- A node holds a feed only with a reason (docs/federation.md, "What a node holds"): its own; an
  anchor (a configured peer's own feed, a followed feed, a member of a federation it belongs to); or
  a feed a configured peer vouches for - one it serves when pulled by URL, or pushes signed - while
  fewer than `feeds_held_max` feeds are held. A push or a fork proof must carry a Tally-Signature
  by the current key of a feed this node holds (or, first contact, an anchor's genesis); anything
  else is refused with 403 before the body is read. Signatures carry a time (within
  `request_clock_skew_max_ms`) and a nonce remembered until it is outside that window, so a
  captured request cannot be replayed.
- `ingest` is the one door for another node's events. It takes a contiguous run of one feed, and:
  refuses feeds that are frozen by a fork proof; compares any overlap with what is stored (a different
  event at a stored seq, signed by the feed's key, is a fork: the proof is kept, spread and the feed
  frozen); verifies the rest with one author signature per batch and every member intent signature;
  audits it with the same pure domain the sequencer uses; and appends it with its projections in one
  transaction. Nothing unverified is stored, so nothing unverified is served. A new feed's replica
  enters memory only after its genesis committed, so a failed append leaves nothing behind.
- One task per peer. It wakes when this node appends or ingests something (push: it posts the new
  events the peer lacks) and every `anti_entropy_interval_ms` (pull: it fetches the peer's heads and
  forks, and pulls every range it lacks). A failing peer is retried with exponential backoff; no
  peer is ever needed for the node to work.
- Fork safety at start: until the peers have been asked for their copy of this node's own feed, the
  sequencer's write gate stays shut; a peer holding a later head of our feed keeps it shut, with a
  message to run `tally restore`.
- Alerts are raised once per feed and cause, for held feeds only, and at most `alerts_max` of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import logging
import multiprocessing
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import aiohttp
import msgspec
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from tallystick.ledger.errors import CheckpointMismatchError
from tallystick.ledger.model import State
from tallystick.node.app import Node
from tallystick.node.connections import read_body
from tallystick.node.errors import BusyError
from tallystick.node.http.params import query_integer
from tallystick.node.replay import Received, fold_received, start_received, verify_intent_signatures
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import Store
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_fork_proof, encode, verify_event_signature
from tallystick.protocol.errors import (
    BadIdError,
    BadSignatureError,
    LocalError,
    MalformedError,
    RemoteError,
    TallyError,
    TooLargeError,
)
from tallystick.protocol.events import ForkProof, KeyRotated
from tallystick.protocol.feed import FeedHead, start_feed, verify_fork_proof, verify_next
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
    heads_decoder,
    identity_decoder,
    parse_request_signature,
    request_nonce_bytes,
    request_signable,
    request_signature_header,
    sign_request,
)

log = logging.getLogger("tallystick.replication")
# Batches whose member signatures the process pool checks ahead of the fold during a catch-up:
# enough to keep every worker busy while the fold and the store run in this process.
bulk_verify_batches_ahead = 8
# Events of one feed folded and committed in one transaction during a catch-up.
ingest_events_max = 2048
msgpack_type = "application/msgpack"

# Feeds held, the own one included, past which a feed that is no anchor (only vouched for by a
# peer) is not taken: each costs about 4 KiB of memory (its replica) plus its rows, and a linked
# node gone bad could otherwise fill this one with junk. Anchors (a peer's own feed, a followed
# feed, a federation member) still enter, up to `feeds_anchor_reserve` more: their number is
# bounded by the config (peers_max, the follow list) and the federations' charters.
feeds_held_max = 20_000
feeds_anchor_reserve = 1_000
# Fork proofs kept: one per held feed at most (a frozen feed takes no second proof).
fork_proofs_kept_max = feeds_held_max + feeds_anchor_reserve
# Alerts listed at once: one per feed and cause, but a bound on the status document whatever happens.
alerts_max = 1_000
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
# How often the anchors from federation membership are refreshed from the federation view.
anchors_refresh_interval_ms = limits.anti_entropy_interval_ms


class StaleHomeError(LocalError):
    code = "stale_home"
    http_status = 409  # retrying cannot help: the operator must act (restore), so no 503


class NotFollowedError(RemoteError):
    code = "not_followed"
    http_status = 409


class FeedFrozenError(RemoteError):
    code = "feed_frozen"
    http_status = 409


# ---- refusals of pushes and fork proofs (403: who sends, or what, has no standing here) ---------


class UnsignedRequestError(RemoteError):
    code = "unsigned_request"
    http_status = 403


class BadRequestSignatureError(RemoteError):
    code = "bad_request_signature"
    http_status = 403


class RequestExpiredError(RemoteError):
    code = "request_expired"
    http_status = 403


class ReplayedRequestError(RemoteError):
    code = "replayed_request"
    http_status = 403


class UnknownPeerError(RemoteError):
    code = "unknown_peer"
    http_status = 403


class NoReasonError(LocalError):
    code = "no_reason"
    http_status = 403


class FeedsLimitError(LocalError):
    code = "feeds_limit"
    http_status = 403


class StoreFailedError(LocalError):
    """The store could not commit (a full disk, say): nothing of the run was kept, here or in memory."""

    code = "store_failed"
    http_status = 503


@dataclass
class PeerState:
    url: str
    reachable: bool = False
    last_seen_ms: int | None = None
    last_error: str | None = None
    known: dict[bytes, int] = field(default_factory=dict)  # feed -> seq the peer holds
    feed: bytes | None = None  # the peer's own feed, as it answers /replication/node
    identity_asked: bool = False
    not_followed: set[bytes] = field(default_factory=set)  # feeds the peer refused as not followed
    wake: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Replica:
    state: State
    head: FeedHead
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Replicator:
    """The node's replication extension (see node.app.Extension)."""

    def __init__(
        self,
        peers: list[str],
        clock_ms: Callable[[], int],
        verify_processes: int = 0,
        follow: list[bytes] | None = None,
        feeds_held_max: int = feeds_held_max,
        heads_page_feeds: int = heads_page_feeds_max,
    ) -> None:
        self.clock_ms = clock_ms
        # None: every feed the peers hold (open replication); else only these (and our own).
        self.follow = None if follow is None else frozenset(follow)
        self.verify_processes = verify_processes
        self.feeds_held_max = feeds_held_max
        self.heads_page_feeds = heads_page_feeds  # feeds asked per page of a peer's heads
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.peers = {url.rstrip("/"): PeerState(url.rstrip("/")) for url in peers}
        self.replicas: dict[bytes, Replica] = {}
        self._new_feeds = asyncio.Lock()  # a new feed's genesis is stored, then its replica made
        self.frozen: set[bytes] = set()
        self.alerts: list[dict[str, object]] = []
        self._alerted: set[tuple[str, bytes | None]] = set()  # (kind, feed): once per feed and cause
        self.alerts_dropped_total = 0
        self.rejected_total = 0
        self.refused_requests_total = 0
        # Members of the federations this node belongs to (set by federation/service.py's Layers,
        # refreshed every `anchors_refresh_interval_ms`): anchors, as a peer's own feed is.
        self.federation_members: Callable[[], Awaitable[frozenset[bytes]]] | None = None
        self._federation_anchors: frozenset[bytes] = frozenset()
        self._nonces: dict[bytes, int] = {}  # nonce -> our clock when accepted, oldest first
        # Bodies of signed requests read at once before their signature is checked: the header names
        # a held feed (public), so without this anyone could make the node hold connections_max
        # bodies of 4 MiB each in memory.
        self._unverified_bodies = asyncio.Semaphore(unverified_bodies_max)
        self._session: aiohttp.ClientSession | None = None

    # ---- start ----------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app[replicator_key] = self
        add_routes(app)

    async def start(self, node: Node) -> None:
        self.store: Store = node.store
        self.sequencer: Sequencer = node.sequencer
        self.own_feed = node.sequencer.head.feed
        self.sequencer.on_append(lambda head: self.wake_peers())
        # The clock check trusts only the configured peers' own feeds: a vouched-for stranger's
        # feed stamped far in the future must not vouch for our clock.
        self.sequencer.peer_times.append(self.peers_latest_ts)
        if self.peers:
            self.sequencer.hold_writes()  # until the peers were asked for our own feed (fork safety)
        for head in await self.store.heads():
            if head.feed == self.own_feed:
                continue
            state = await self.store.load_state(head.feed)
            if state is not None:
                self.replicas[head.feed] = Replica(state, head)
        for feed, seq, _proof in await self.store.forks():
            self._freeze(feed, seq, announce=False)

    def _raise_alert(self, kind: str, feed: bytes | None, message: str, **detail: object) -> None:
        """Algedonic alerts: one per feed and cause, at most `alerts_max` (then counted, not listed)."""
        if (kind, feed) in self._alerted:
            return
        self._alerted.add((kind, feed))
        if len(self.alerts) >= alerts_max:
            self.alerts_dropped_total += 1
            return
        alert: dict[str, object] = {"kind": kind}
        if feed is not None:
            alert["feed"] = id_to_text("n", feed)
        alert.update(detail)
        alert["message"] = message
        self.alerts.append(alert)

    def _alert_checkpoint_mismatch(self, feed: bytes, error: TallyError) -> None:
        """Algedonic: a feed whose author's checkpoint does not match the state this node derives
        (a fault of the author or of this replica). Raised once per feed; the batch is refused."""
        text = id_to_text("n", feed)
        self._raise_alert("checkpoint_mismatch", feed, f"feed {text}: {error.message}; its events from there on are refused")

    def _freeze(self, feed: bytes, seq: int, *, announce: bool = True) -> None:
        if feed in self.frozen:
            return
        self.frozen.add(feed)
        whose = "this node's own feed" if feed == self.own_feed else f"feed {id_to_text('n', feed)}"
        self._raise_alert(
            "fork", feed, f"{whose} is forked at seq {seq}: its key signed two different events; it is frozen", seq=seq
        )
        if feed == self.own_feed:
            self.sequencer.close_gate(
                StaleHomeError(
                    "this node's feed is forked (another copy of this home wrote too); stop every copy, keep one, "
                    "and run `tally restore` on the others"
                )
            )
        if announce:
            log.warning("fork proven on %s at seq %d", id_to_text("n", feed), seq)
            self.wake_peers()

    # ---- what this node has a reason to hold ----------------------------------------------------

    def peer_feeds(self) -> set[bytes]:
        """The own feeds of the configured peers, as far as they have told us (/replication/node)."""
        return {peer.feed for peer in self.peers.values() if peer.feed is not None}

    def peers_latest_ts(self) -> int:
        """The latest event time among the configured peers' own feeds held (0 when none is)."""
        held = (self.replicas.get(feed) for feed in self.peer_feeds())
        return max((replica.head.ts for replica in held if replica is not None), default=0)

    def is_anchor(self, feed: bytes) -> bool:
        """A feed this node holds for its own sake, not because someone vouched for it."""
        return (
            feed == self.own_feed
            or feed in self.peer_feeds()
            or (self.follow is not None and feed in self.follow)
            or feed in self._federation_anchors
        )

    def feeds_held(self) -> int:
        return 1 + len(self.replicas)

    def check_reason(self, feed: bytes, *, vouched: bool) -> None:
        """Raise unless this node may take `feed`, new to it: an anchor (within the reserve above
        the limit), or a feed a configured peer vouches for (`vouched`) below the limit."""
        if not self.follows(feed):
            raise NotFollowedError(f"this node does not follow feed {id_to_text('n', feed)}")
        if self.is_anchor(feed):
            if self.feeds_held() >= self.feeds_held_max + feeds_anchor_reserve:
                self._alert_feeds_limit()
                raise FeedsLimitError(self._feeds_limit_message())
            return
        if not vouched:
            raise NoReasonError(
                f"this node has no reason to hold feed {id_to_text('n', feed)}: it is not a configured peer's, "
                "not followed and not a member of a federation of this node, and only a configured peer vouches "
                "for other feeds; list the sending node as a peer (both ways) if it should"
            )
        if self.feeds_held() >= self.feeds_held_max:
            self._alert_feeds_limit()
            raise FeedsLimitError(self._feeds_limit_message())

    def _feeds_limit_message(self) -> str:
        return (
            f"this node holds {self.feeds_held()} feeds, its limit ({self.feeds_held_max}): feeds its peers vouch "
            "for are no longer taken; check which peer spreads so many feeds (`tally status --json`)"
        )

    def _alert_feeds_limit(self) -> None:
        self._raise_alert("feeds_limit", None, self._feeds_limit_message())

    async def refresh_anchors(self) -> None:
        if self.federation_members is not None:
            self._federation_anchors = await self.federation_members()

    # ---- who sent a push or a fork proof --------------------------------------------------------

    def _current_key(self, feed: bytes) -> bytes | None:
        head = self._head(feed)
        return None if head is None else head.signing_key

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
        key = self._current_key(claim.feed)
        if key is None and not self.is_anchor(claim.feed):
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
                body = await read_body_bounded(request, limits.replication_body_bytes_max)
            if key is None:  # first contact: an anchor pushes its own feed from its genesis
                message = _decode(events_decoder, body)
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

    def follows(self, feed: bytes) -> bool:
        return self.follow is None or feed in self.follow or feed == self.own_feed

    def wake_peers(self) -> None:
        for peer in self.peers.values():
            peer.wake.set()

    def _head(self, feed: bytes) -> FeedHead | None:
        if feed == self.own_feed:
            return self.sequencer.head
        replica = self.replicas.get(feed)
        return None if replica is None else replica.head

    # ---- the one door for other nodes' events ---------------------------------------------------

    async def ingest(self, message: Events, *, intents_verified: bool = False, vouched: bool = False) -> int:
        """Verify, audit and store a run of events; returns the seq now held for that feed.
        `intents_verified`: the member signatures of these very bytes were checked already.
        `vouched`: a configured peer sent it (pulled from its URL, or pushed signed by its key), so a
        feed new to this node may be taken below the limit (`check_reason`)."""
        feed = message.feed
        if feed in self.frozen:
            raise FeedFrozenError(f"feed {id_to_text('n', feed)} is frozen by a fork proof")
        if not self.follows(feed):
            raise NotFollowedError(f"this node does not follow feed {id_to_text('n', feed)}")
        if feed == self.own_feed:
            return await self._compare_own(message)
        replica = self.replicas.get(feed)
        if replica is None:
            if message.start != 1 or not message.events:
                return 0
            self.check_reason(feed, vouched=vouched)
            if hash32(message.events[0]) != feed:
                raise MalformedError("a feed's id is the hash of its genesis; this genesis does not match")
            replica = await self._start_replica(feed, message.events[0], vouched=vouched)
            rest = Events(feed, 2, message.events[1:])
            return await self.ingest(rest, intents_verified=intents_verified) if rest.events else 1
        async with replica.lock:
            events = await self._drop_overlap(replica.head, message)
            if not events:
                return replica.head.seq
            try:
                received = fold_received(replica.state, replica.head, events, intents_verified=intents_verified)
            except CheckpointMismatchError as error:
                self._alert_checkpoint_mismatch(feed, error)
                raise
            await self._append(received)
            replica.state, replica.head = received.state, received.head  # only once the store committed
        self.wake_peers()
        return replica.head.seq

    async def _start_replica(self, feed: bytes, genesis: bytes, *, vouched: bool) -> Replica:
        """The replica of a feed new to this node, from its verified genesis. The replica enters
        memory only after the genesis committed: an append that fails (a full disk) leaves nothing
        behind, so a later run cannot be stored after a genesis that is not there."""
        received = start_received(genesis)
        async with self._new_feeds:
            replica = self.replicas.get(feed)
            if replica is not None:
                return replica
            stored_head = await self.store.head(feed)
            if stored_head is None:
                # Again under the lock: concurrent pushes of distinct new feeds all passed the first
                # check, and only one at a time may count itself against `feeds_held_max`.
                self.check_reason(feed, vouched=vouched)
                await self._append(received)
                replica = Replica(received.state, received.head)
            else:  # held in the store, not in memory (its state did not load at start): take the store's
                state = await self.store.load_state(feed)
                if state is None:
                    raise MalformedError(f"feed {id_to_text('n', feed)} is in the store without its state; run `tally verify`")
                replica = Replica(state, stored_head)
            self.replicas[feed] = replica
        self.wake_peers()
        return replica

    async def _append(self, received: Received) -> None:
        try:
            await self.store.append(received.rows, received.state, received.touched, received.head, received.postings)
        except sqlite3.OperationalError as error:  # "database or disk is full", an I/O error: ours, not the sender's
            log.error("could not store events of %s: %s", id_to_text("n", received.head.feed), error)
            raise StoreFailedError(
                f"this node could not store the events ({error}); nothing of them was kept: its operator must free "
                "disk space (see its log); retry later"
            ) from None

    async def _drop_overlap(self, head: FeedHead, message: Events) -> list[bytes]:
        """The events after `head`; any that overlap what we hold must be the same bytes."""
        if message.start > head.seq + 1:
            return []  # a gap: anti-entropy pulls from head.seq + 1
        for offset, raw in enumerate(message.events):
            seq = message.start + offset
            if seq > head.seq:
                return list(message.events[offset:])
            stored = await self.store.event_at(head.feed, seq)
            if stored is not None and stored != raw:
                await self._prove_fork(head.feed, seq, stored, raw)
                raise FeedFrozenError(f"feed {id_to_text('n', head.feed)} forked at seq {seq}")
        return []

    async def _prove_fork(self, feed: bytes, seq: int, stored: bytes, other: bytes) -> None:
        key = await self.store.signing_key_at(feed, seq)
        proof = ForkProof(feed=feed, seq=seq, first=min(stored, other), second=max(stored, other))
        assert key is not None
        verify_fork_proof(proof, key)  # raises if the other event is not signed by the feed's key
        if await self.store.add_fork(feed, seq, encode(proof)):
            self._freeze(feed, seq)

    async def _compare_own(self, message: Events) -> int:
        """A peer sent our own feed: any difference is a fork; a longer copy means we are stale."""
        head = self.sequencer.head
        for offset, raw in enumerate(message.events):
            seq = message.start + offset
            if seq > head.seq:
                if seq != head.seq + 1:
                    break  # not contiguous with what we hold: nothing can be concluded from it
                # Only an event that links to our head and is signed by our own key proves that this
                # home is behind; anything else is a lying peer's and changes nothing.
                verify_next(head, raw)
                stored = await self.store.event_at(self.own_feed, seq)
                if stored == raw:
                    # Our own event, committed but not yet in the sequencer's head (the commit's
                    # acknowledged record is being synced): a peer pulled it that fast, not stale.
                    break
                if stored is not None:
                    await self._prove_fork(self.own_feed, seq, stored, raw)
                    break
                self.sequencer.close_gate(
                    StaleHomeError(
                        f"a peer holds this node's feed up to seq {seq} or later, but this home has only "
                        f"{head.seq}: it was restored from an old copy. Stop it and run "
                        "`tally restore DIR --from PEER_URL`"
                    )
                )
                break
            stored = await self.store.event_at(self.own_feed, seq)
            if stored is not None and stored != raw:
                await self._prove_fork(self.own_feed, seq, stored, raw)
                break
        return head.seq

    async def ingest_fork_proof(self, raw: bytes) -> None:
        proof = decode_fork_proof(raw)
        if proof.feed in self.frozen:
            return
        key = await self.store.signing_key_at(proof.feed, proof.seq)
        if key is None:
            return  # a feed we do not hold: nothing to freeze here, and nothing kept
        verify_fork_proof(proof, key)
        if await self.store.fork_count() >= fork_proofs_kept_max:
            return  # at most one per held feed: only a bug could get here; keep what is kept
        if await self.store.add_fork(proof.feed, proof.seq, raw):
            self._freeze(proof.feed, proof.seq)

    # ---- serving --------------------------------------------------------------------------------

    def held_heads(self) -> Iterable[FeedHead]:
        yield self.sequencer.head
        for replica in self.replicas.values():
            yield replica.head

    async def heads(self, *, after: bytes | None = None, limit: int = heads_page_feeds_max, key: bytes | None = None) -> Heads:
        """One page of the heads this node holds, by feed id after `after`: the first `limit` (at
        most replication_heads_max). A page shorter than `limit` is the last, so a peer that reads
        pages until then sees every held feed, however many. `key`: only feeds that key signs now."""
        held = (
            head for head in self.held_heads()
            if (after is None or head.feed > after) and (key is None or head.signing_key == key)
        )
        page = heapq.nsmallest(min(limit, limits.replication_heads_max), held, key=lambda head: head.feed)
        forks = min(await self.store.fork_count(), limits.replication_forks_max)
        return Heads([WireHead(h.feed, h.seq, h.head) for h in page], forks)

    async def serve_range(self, feed: bytes, start: int, limit: int) -> Events:
        """A run of `feed` from `start` whose last event verifies on its own, so that whoever
        receives it can authenticate the whole run with that one signature (DESIGN, Replication).
        Events inside a run were authenticated by the chain when we stored them; one whose own
        signature is bad (an author's fault, never an honest node's) is never served as a run's end."""
        rows = await self.store.read_log(feed, start, min(limit, limits.replication_batch_events_max))
        batch: list[bytes] = []
        size = 0
        for row in rows:
            size += len(row.bytes) + 8
            if size > limits.replication_body_bytes_max // 2:
                break
            batch.append(row.bytes)
        while batch:
            seq = start + len(batch) - 1
            key = await self.store.signing_key_at(feed, seq)
            try:
                body = decode_event(batch[-1]).body
                verify_event_signature(batch[-1], body.recovery_key if isinstance(body, KeyRotated) else key)
                break
            except TallyError:
                batch.pop()
        return Events(feed, start, batch)

    # ---- the peer tasks -------------------------------------------------------------------------

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=limits.peer_request_timeout_ms / 1000)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                self._session = session
                await self._check_own_feed_at_start()
                async with asyncio.TaskGroup() as tasks:
                    if self.federation_members is not None:
                        tasks.create_task(self._refresh_anchors_forever(), name="federation anchors")
                    for peer in self.peers.values():
                        tasks.create_task(self._run_peer(peer), name=f"peer {peer.url}")
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    async def _refresh_anchors_forever(self) -> None:
        while True:
            try:
                await self.refresh_anchors()
            except TallyError as error:  # the view refused something it holds: keep the last anchors
                log.warning("federation anchors not refreshed: %s: %s", error.code, error.message)
            await asyncio.sleep(anchors_refresh_interval_ms / 1000)

    async def _check_own_feed_at_start(self) -> None:
        """Fork safety: ask the peers for our own feed before the first append."""
        if not self.peers:
            self.sequencer.open_gate()
            return
        deadline = time.monotonic() + limits.fork_safety_wait_ms / 1000
        pending = {asyncio.ensure_future(self._sync_own(peer)) for peer in self.peers.values()}
        try:
            while pending and time.monotonic() < deadline:
                done, pending = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
                for task in done:
                    if task.exception() is not None:
                        log.info("fork-safety check: %s", task.exception())
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        self.sequencer.open_gate()

    async def _sync_own(self, peer: PeerState) -> None:
        heads, _forks = await self._get_heads(peer)
        for head in heads:
            if head.feed == self.own_feed and head.seq >= self.sequencer.head.seq:
                await self._pull(peer, self.own_feed, max(1, self.sequencer.head.seq), head.seq)

    async def _run_peer(self, peer: PeerState) -> None:
        backoff_ms = 250
        # Anti-entropy runs on its own clock, which wake-ups (pushes) do not reset: a busy node
        # still re-reads every peer's heads, and so still pulls and learns of forks.
        next_heads_at = time.monotonic()
        while True:
            if time.monotonic() >= next_heads_at:
                peer.known.clear()
                next_heads_at = time.monotonic() + limits.anti_entropy_interval_ms / 1000
            peer.wake.clear()  # before the pass: a wake-up during it triggers the next one
            try:
                await self._sync(peer)
                backoff_ms = 250
                peer.reachable, peer.last_seen_ms, peer.last_error = True, self.clock_ms(), None
                wait_ms = max(0.0, (next_heads_at - time.monotonic()) * 1000)
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                peer.reachable, peer.last_error = False, str(error) or type(error).__name__
                wait_ms, backoff_ms = backoff_ms, min(backoff_ms * 2, limits.peer_backoff_max_ms)
            except StoreFailedError as error:  # ours, not the peer's: say so, and retry as for a dead peer
                peer.last_error = f"{error.code}: {error.message}"
                wait_ms, backoff_ms = backoff_ms, min(backoff_ms * 2, limits.peer_backoff_max_ms)
            except TallyError as error:
                self.rejected_total += 1
                peer.last_error = f"{error.code}: {error.message}"
                log.warning("peer %s sent data that does not verify, dropped: %s", peer.url, peer.last_error)
                wait_ms, backoff_ms = backoff_ms, min(backoff_ms * 2, limits.peer_backoff_max_ms)
            # Woken by an append or an ingest: the next pass pushes what the peer lacks. Not
            # `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that lands as the event
            # is set (the task then never stops); `asyncio.timeout` does not.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_ms / 1000):
                    await peer.wake.wait()

    async def _sync(self, peer: PeerState) -> None:
        if not peer.known:
            await self._learn_identity(peer)
            heads, fork_count = await self._get_heads(peer)
            peer.known = {head.feed: head.seq for head in heads}
            refused: TallyError | None = None
            # The peer's own feed first: it is an anchor, and our pushes to it need it to hold ours.
            for head in sorted(heads, key=lambda head: head.feed != peer.feed):
                if head.feed in self.frozen or not self.follows(head.feed):
                    continue
                if self._head(head.feed) is None:
                    try:
                        self.check_reason(head.feed, vouched=True)
                    except (FeedsLimitError, NoReasonError):
                        continue  # alerted once; the feeds already held still replicate
                try:
                    await self._pull_behind(peer, head)
                except TallyError as error:
                    # One feed that does not verify must not hold back the peer's other feeds (nor
                    # its fork proofs): note it, carry on, and report it once the pass is over.
                    refused = refused or error
            if fork_count:
                await self._pull_forks(peer)
            ours = await self.store.forks(limits.replication_forks_max)
            if len(ours) > fork_count:
                await self._post_forks(peer, [proof for _feed, _seq, proof in ours])
            if refused is not None:
                raise refused
        await self._push(peer)

    async def _pull_behind(self, peer: PeerState, head: WireHead) -> None:
        ours = self._head(head.feed)
        if ours is None or head.seq > ours.seq:
            # From our own last event, not the one after: the overlap of one event is how a
            # fork at our head (another copy of a home wrote there) shows itself.
            await self._pull(peer, head.feed, 1 if ours is None else ours.seq, head.seq)
        elif head.seq >= 1:
            stored = await self.store.event_at(head.feed, head.seq)
            if stored is not None and hash32(stored) != head.head:
                await self._pull(peer, head.feed, head.seq, head.seq)

    def _signed_headers(self, path: str, body: bytes) -> dict[str, str]:
        """Content-Type and the Tally-Signature of a POST by this node (its feed's current key)."""
        signature = sign_request(
            self.sequencer.key, feed=self.own_feed, method="POST", path=path, body=body, ts=self.clock_ms(),
            nonce=os.urandom(request_nonce_bytes),
        )
        return {"Content-Type": msgpack_type, request_signature_header: signature}

    async def _post_forks(self, peer: PeerState, proofs: list[bytes]) -> None:
        """Gossip our fork proofs to a peer that holds fewer (DESIGN: a fork is proven and spread)."""
        assert self._session is not None
        body = encode(Forks(proofs))
        path = "/replication/forks"
        async with self._session.post(f"{peer.url}{path}", data=body, headers=self._signed_headers(path, body)) as response:
            await response.read()

    async def _learn_identity(self, peer: PeerState) -> None:
        """Ask a configured peer once which feed is its own (GET /replication/node). A node that does
        not answer it (an older one) stays a peer whose own feed is only vouched for, not an anchor."""
        if peer.identity_asked:
            return
        assert self._session is not None
        async with self._session.get(f"{peer.url}/replication/node") as response:
            if response.status == 404:
                peer.identity_asked = True
                return
            response.raise_for_status()
            identity = _decode(identity_decoder, await _read_bounded(response))
        peer.feed, peer.identity_asked = identity.feed, True

    async def _get_heads(self, peer: PeerState) -> tuple[list[WireHead], int]:
        """Every head the peer holds, page by page (each page's feeds after the last one's), and
        the fork proofs it reports. A bounded number of pages: past that, the rest next pass."""
        assert self._session is not None
        heads: list[WireHead] = []
        forks = 0
        after: bytes | None = None
        pages_max = (self.feeds_held_max + feeds_anchor_reserve) // self.heads_page_feeds + 2
        for _page in range(pages_max):
            params = {"limit": str(self.heads_page_feeds)}
            if after is not None:
                params["after"] = id_to_text("n", after)
            async with self._session.get(f"{peer.url}/replication/heads", params=params) as response:
                response.raise_for_status()
                page = _decode(heads_decoder, await _read_bounded(response))
            forks = max(forks, page.forks)
            if after is not None and page.heads and page.heads[0].feed <= after:
                break  # a server that does not page answers its first page again: that was all
            for before, head in zip(page.heads, page.heads[1:], strict=False):
                if head.feed <= before.feed:
                    raise MalformedError("the peer's heads are not in feed order")
            heads.extend(page.heads)
            if len(page.heads) < self.heads_page_feeds:
                break
            after = page.heads[-1].feed
        return heads, forks

    async def _fetch(self, peer: PeerState, feed: bytes, start: int) -> Events:
        assert self._session is not None
        url = f"{peer.url}/replication/feeds/{id_to_text('n', feed)}"
        params = {"from": str(start), "limit": str(limits.replication_batch_events_max)}
        async with self._session.get(url, params=params) as response:
            response.raise_for_status()
            message = _decode(events_decoder, await _read_bounded(response))
        if message.feed != feed or message.start != start:
            raise MalformedError("the peer answered with another feed or range than asked")
        return message

    async def _pull(self, peer: PeerState, feed: bytes, start: int, end: int) -> None:
        """Pull start..end of a feed. A producer fetches batches ahead into a bounded queue while
        this task folds them, so the wire and the fold overlap; a long catch-up also checks member
        signatures in a process pool, `bulk_verify_batches_ahead` batches ahead of the fold."""
        bulk = self.verify_processes > 0 and end - start + 1 > 2 * limits.replication_batch_events_max
        ahead: asyncio.Queue[tuple[Events, asyncio.Future[int] | None]] = asyncio.Queue(
            maxsize=bulk_verify_batches_ahead if bulk else 2
        )

        async def fetch_ahead() -> None:
            seq = start
            while seq <= end:
                message = await self._fetch(peer, feed, seq)
                if not message.events:
                    return  # the peer holds less than its heads said; the rest comes later
                checked = None
                if bulk:
                    checked = asyncio.get_running_loop().run_in_executor(
                        self._verify_pool(), verify_intent_signatures, feed, list(message.events)
                    )
                await ahead.put((message, checked))
                seq = message.start + len(message.events)

        producer = asyncio.create_task(fetch_ahead())
        taking: asyncio.Task[tuple[Events, asyncio.Future[int] | None]] | None = None
        try:
            while feed not in self.frozen:
                if ahead.empty() and producer.done():
                    producer.result()  # raises the fetch's error, if it failed
                    return
                taking = asyncio.ensure_future(ahead.get())
                await asyncio.wait({taking, producer}, return_when=asyncio.FIRST_COMPLETED)
                if not taking.done():
                    taking.cancel()
                    continue  # the producer ended: drain what is left, then stop
                message, checked = taking.result()
                if checked is not None:
                    await checked
                # Fold every batch already here and checked in one transaction: commits (an fsync
                # each) are the other cost of a catch-up.
                events = list(message.events)
                while not ahead.empty() and len(events) < ingest_events_max:
                    following, following_checked = ahead.get_nowait()
                    if following_checked is not None:
                        await following_checked
                    events.extend(following.events)
                held = await self.ingest(
                    Events(feed, message.start, events), intents_verified=checked is not None, vouched=True
                )
                if held < message.start:
                    return
        finally:
            for task in (producer, taking):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.wait([task for task in (producer, taking) if task is not None])
            while not ahead.empty():
                _message, checked = ahead.get_nowait()
                if checked is not None:
                    checked.cancel()

    def _verify_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the parent has threads (aiosqlite), which fork does not copy safely.
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(self.verify_processes, mp_context=context)
        return self._pool

    async def _pull_forks(self, peer: PeerState) -> None:
        assert self._session is not None
        async with self._session.get(f"{peer.url}/replication/forks") as response:
            response.raise_for_status()
            message = _decode(forks_decoder, await _read_bounded(response))
        for raw in message.proofs:
            await self.ingest_fork_proof(raw)

    async def _push(self, peer: PeerState) -> None:
        """Post every event the peer is known to lack (it is known after a heads exchange)."""
        if not peer.known or self._session is None:
            return
        # Every feed we hold except those the peer said it does not follow: a new feed reaches the
        # peer by this push, without waiting for its next anti-entropy pass.
        feeds = [self.own_feed, *(feed for feed in self.replicas if feed not in peer.not_followed)]
        for feed in feeds:
            head = self._head(feed)
            if head is None or feed in self.frozen:
                continue
            theirs = peer.known.get(feed, 0)
            while theirs < head.seq:
                message = await self.serve_range(feed, theirs + 1, limits.replication_batch_events_max)
                if not message.events:
                    break
                body = encode(message)
                path = "/replication/push"
                try:
                    async with self._session.post(
                        f"{peer.url}{path}", data=body, headers=self._signed_headers(path, body)
                    ) as response:
                        if response.status in (403, 409):
                            refusal = await _error_code(response)
                            if refusal in per_feed_refusals and feed != self.own_feed:
                                peer.not_followed.add(feed)
                            if refusal in per_feed_refusals or refusal == FeedFrozenError.code:
                                break  # not this feed, for this peer; its other feeds still go
                        if response.status >= 400:
                            # Among others, 403 unknown_peer: the peer does not hold our feed yet (it
                            # pulls it, if it lists us as a peer). Re-read its heads before pushing again.
                            peer.known.clear()
                            return
                        answer = _decode(heads_decoder, await _read_bounded(response))
                except (TimeoutError, aiohttp.ClientError, OSError):
                    peer.known.clear()
                    return
                held = answer.heads[0].seq if answer.heads else 0
                if held <= theirs:
                    peer.known.clear()
                    return
                theirs = peer.known[feed] = held

    def collect(self) -> Iterable[Metric]:
        lag = GaugeMetricFamily("tally_peer_lag_events", "Events a peer holds that this node lacks", labels=["peer"])
        reachable = GaugeMetricFamily("tally_peer_reachable", "1 if the last exchange with the peer worked", labels=["peer"])
        for peer in self.peers.values():
            lag.add_metric([peer.url], self.lag(peer))
            reachable.add_metric([peer.url], 1 if peer.reachable else 0)
        yield lag
        yield reachable
        yield GaugeMetricFamily("tally_feeds_held", "Feeds this node holds, its own included", value=1 + len(self.replicas))
        yield GaugeMetricFamily("tally_forks", "Feeds frozen by a fork proof", value=len(self.frozen))
        yield CounterMetricFamily("tally_replication_rejected", "Batches from peers that did not verify", value=self.rejected_total)
        yield CounterMetricFamily(
            "tally_replication_refused_requests", "Pushes and fork proofs refused before their body was used "
            "(unsigned, a bad or replayed signature, an unknown node)", value=self.refused_requests_total,
        )

    def peer_status(self) -> list[dict[str, object]]:
        return [
            {
                "url": peer.url,
                "reachable": peer.reachable,
                "last_seen_ms": peer.last_seen_ms,
                "last_error": peer.last_error,
                "lag": self.lag(peer),
            }
            for peer in self.peers.values()
        ]

    def lag(self, peer: PeerState) -> int:
        """Events the peer holds that we lack, by its last heads (0 when unknown)."""
        total = 0
        for feed, seq in peer.known.items():
            ours = self._head(feed)
            total += max(0, seq - (ours.seq if ours else 0))
        return total


async def _error_code(response: aiohttp.ClientResponse) -> str | None:
    """The stable `error` code of a peer's JSON error answer, if it has one."""
    try:
        document = msgspec.json.decode(await _read_bounded(response))
    except (msgspec.DecodeError, TallyError):
        return None
    return document.get("error") if isinstance(document, dict) else None


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    length = response.content_length
    if length is not None and length > limits.replication_body_bytes_max:
        raise MalformedError(f"peer answer of {length} bytes is over the limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limits.replication_body_bytes_max:
            raise TooLargeError("peer answer is over the size limit")
        chunks.append(chunk)
    return b"".join(chunks)


# Refusals that concern one pushed feed, not the pushing node: the pusher stops pushing that feed.
per_feed_refusals = (NotFollowedError.code, NoReasonError.code, FeedsLimitError.code)


def _decode(decoder: msgspec.msgpack.Decoder, data: bytes):  # type: ignore[no-untyped-def]
    try:
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise MalformedError(f"replication message does not decode: {error}") from None


# ---- HTTP handlers under /replication/ ---------------------------------------------------------

replicator_key = web.AppKey("replicator", Replicator)


def _msgpack(value: object, status: int = 200) -> web.Response:
    return web.Response(body=encode(value), status=status, content_type=msgpack_type)


async def handle_heads(request: web.Request) -> web.Response:
    """GET /replication/heads[?after=n_…][&limit=N][&key=k_…]: one page of the held heads by feed id
    (a full page means: ask again after its last feed). `key`: which feed does this key sign now?
    (`tally restore` asks.) Open to anyone, as every GET under /replication/."""
    replicator = request.config_dict[replicator_key]
    after = request.query.get("after")
    key = request.query.get("key")
    limit = query_integer(request, "limit", heads_page_feeds_max, 1, limits.replication_heads_max)
    heads = await replicator.heads(
        after=None if after is None else id_from_text("n", after),
        limit=limit,
        key=None if key is None else id_from_text("k", key),
    )
    return _msgpack(heads)


async def handle_node(request: web.Request) -> web.Response:
    """GET /replication/node: this node's own feed, so that a node that lists it as a peer by URL
    knows which of the feeds it serves is its own (an anchor, and whose key signs its pushes)."""
    return _msgpack(NodeIdentity(request.config_dict[replicator_key].own_feed))


async def handle_range(request: web.Request) -> web.Response:
    replicator = request.config_dict[replicator_key]
    feed = id_from_text("n", request.match_info["feed"])
    # ASCII digits within int64 (a seq past 2^63 would overflow SQLite), and at most one run.
    start = query_integer(request, "from", 1, 1, limits.int64_max)
    limit = query_integer(request, "limit", limits.replication_batch_events_max, 1, limits.replication_batch_events_max)
    return _msgpack(await replicator.serve_range(feed, start, limit))


async def read_body_bounded(request: web.Request, maximum: int) -> bytes:
    """The request body, refused with 413 past `maximum` bytes and 408 if it comes too slowly."""
    return await read_body(request, maximum)


async def handle_push(request: web.Request) -> web.Response:
    """POST /replication/push: a run of one feed, signed by a node this node holds (403 before the
    body is read otherwise); a feed new to this node is taken only with a reason (`check_reason`)."""
    replicator = request.config_dict[replicator_key]
    body, signer = await replicator.authenticated_body(request)
    message = _decode(events_decoder, body)
    try:
        seq = await replicator.ingest(message, vouched=signer in replicator.peer_feeds())
    except TallyError:
        replicator.rejected_total += 1
        raise
    head = replicator._head(message.feed)
    return _msgpack(Heads([WireHead(message.feed, max(seq, 1), head.head)] if head and seq else [], 0))


async def handle_forks(request: web.Request) -> web.Response:
    replicator = request.config_dict[replicator_key]
    proofs = [proof for _feed, _seq, proof in await replicator.store.forks(limits.replication_forks_max)]
    return _msgpack(Forks(proofs))


async def handle_fork_post(request: web.Request) -> web.Response:
    """POST /replication/forks: fork proofs, signed by a node this node holds; a proof is kept only
    for a held feed (and freezes it, with one alert)."""
    replicator = request.config_dict[replicator_key]
    body, _signer = await replicator.authenticated_body(request)
    message = _decode(forks_decoder, body)
    for raw in message.proofs:
        await replicator.ingest_fork_proof(raw)
    return _msgpack(Forks([]))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/replication/heads", handle_heads)
    app.router.add_get("/replication/node", handle_node)
    app.router.add_get("/replication/feeds/{feed}", handle_range)
    app.router.add_post("/replication/push", handle_push)
    app.router.add_get("/replication/forks", handle_forks)
    app.router.add_post("/replication/forks", handle_fork_post)

