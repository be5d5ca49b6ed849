"""The configured peers: one task each, pulling what they hold and pushing what they lack.

How this works:
- One task per peer (`Peers.run`). It wakes when this node appends or ingests something (push: it
  posts the new events the peer lacks, signed by this node's key) and every
  `anti_entropy_interval_ms` (pull: it fetches the peer's heads page by page and its fork proofs,
  and pulls every range it lacks, through `Holdings.ingest`). A failing peer is retried with
  exponential backoff; no peer is ever needed for the node to work.
- A long catch-up overlaps the wire and the fold: a producer fetches batches ahead into a bounded
  queue, and a process pool checks member signatures `bulk_verify_batches_ahead` batches ahead of
  the fold, which commits up to `ingest_events_max` events at a time.
- Fork safety at start: until the peers have been asked for their copy of this node's own feed, the
  sequencer's write gate stays shut; a peer holding a later head of our feed keeps it shut, with a
  message to run `tally restore` (replication/ingest.py, `_compare_own`).
- Every answer is read in chunks up to `replication_body_bytes_max` and decoded into bounded types.
- Every read (heads, ranges, fork proofs) is signed with this node's key for the peer's feed id
  (replication/reads.py); a peer serves them only once it holds our feed. A peer that lists us but
  does not hold our feed yet refuses the heads (403 unknown_peer): we then push it our own feed
  from its genesis (first contact, which it takes from an anchor) and read again (`_introduce`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import msgspec
from prometheus_client.core import GaugeMetricFamily
from tallystick.node.replay import verify_intent_signatures
from tallystick.node.sequencer import Sequencer
from tallystick.protocol import limits
from tallystick.protocol.codec import encode
from tallystick.protocol.errors import MalformedError, TallyError, TooLargeError
from tallystick.protocol.ids import hash32, id_to_text
from tallystick.protocol.wire import (
    Events,
    Forks,
    WireHead,
    events_decoder,
    forks_decoder,
    heads_decoder,
    identity_decoder,
    request_nonce_bytes,
    request_signature_header,
    sign_request,
)

from .errors import (
    FeedFrozenError,
    FeedsLimitError,
    HeldEventsUnreadError,
    NoReasonError,
    StoreFailedError,
    UnknownPeerError,
    per_feed_refusals,
)
from .ingest import Holdings, feeds_anchor_reserve
from .reads import read_target, read_url, signed_read_headers
from .server import decode_message, msgpack_type, serve_range

log = logging.getLogger("tallystick.replication")
# Batches whose member signatures the process pool checks ahead of the fold during a catch-up:
# enough to keep every worker busy while the fold and the store run in this process.
bulk_verify_batches_ahead = 8
# Events of one feed folded and committed in one transaction during a catch-up.
ingest_events_max = 2048
# Read size of a peer's answer (each chunk is checked against the body limit).
answer_chunk_bytes = 64 * 1024


class PeerRefusesReadsError(aiohttp.ClientError):
    """The peer holds no feed signed by this node's key, so it serves us no reads: retried with
    backoff, as an unreachable peer (its message is the peer's `last_error`)."""


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


class Peers:
    """The configured peers of this node, each with its own task, and this node as their client."""

    def __init__(
        self,
        urls: list[str],
        holdings: Holdings,
        clock_ms: Callable[[], int],
        *,
        verify_processes: int,
        heads_page_feeds: int,
    ) -> None:
        self.by_url = {url.rstrip("/"): PeerState(url.rstrip("/")) for url in urls}
        self.holdings = holdings
        self.clock_ms = clock_ms
        self.verify_processes = verify_processes
        self.heads_page_feeds = heads_page_feeds  # feeds asked per page of a peer's heads
        self.rejected_total = 0  # batches pulled from peers that did not verify
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self, sequencer: Sequencer) -> None:
        self.sequencer: Sequencer = sequencer
        self.own_feed: bytes = sequencer.head.feed
        sequencer.on_append(lambda head: self.wake())
        # The clock check trusts only the configured peers' own feeds: a vouched-for stranger's
        # feed stamped far in the future must not vouch for our clock.
        sequencer.peer_times.append(self.latest_ts)
        if self.by_url:
            sequencer.hold_writes()  # until the peers were asked for our own feed (fork safety)

    def own_feeds(self) -> set[bytes]:
        """The own feeds of the configured peers, as far as they have told us (/replication/node)."""
        return {peer.feed for peer in self.by_url.values() if peer.feed is not None}

    def latest_ts(self) -> int:
        """The latest event time among the configured peers' own feeds held (0 when none is)."""
        held = (self.holdings.replicas.get(feed) for feed in self.own_feeds())
        return max((replica.head.ts for replica in held if replica is not None), default=0)

    def wake(self) -> None:
        for peer in self.by_url.values():
            peer.wake.set()

    # ---- the peer tasks -------------------------------------------------------------------------

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=limits.peer_request_timeout_ms / 1000)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                self._session = session
                await self._check_own_feed_at_start()
                async with asyncio.TaskGroup() as tasks:
                    if self.holdings.federation_members is not None:
                        tasks.create_task(self.holdings.refresh_anchors_forever(), name="federation anchors")
                    for peer in self.by_url.values():
                        tasks.create_task(self._run_peer(peer), name=f"peer {peer.url}")
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    async def _check_own_feed_at_start(self) -> None:
        """Fork safety: ask the peers for our own feed before the first append."""
        if not self.by_url:
            self.sequencer.open_gate()
            return
        deadline = time.monotonic() + limits.fork_safety_wait_ms / 1000
        pending = {asyncio.ensure_future(self._sync_own(peer)) for peer in self.by_url.values()}
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
        await self._learn_identity(peer)
        try:
            heads, _forks = await self._get_heads(peer)
        except PeerRefusesReadsError:
            return  # it holds no feed of our key, so no later head of our own feed either
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
            except (StoreFailedError, HeldEventsUnreadError) as error:  # ours, not the peer's: say so, retry
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
        holdings = self.holdings
        if not peer.known:
            await self._learn_identity(peer)
            try:
                heads, fork_count = await self._get_heads(peer)
            except PeerRefusesReadsError:
                await self._introduce(peer)
                heads, fork_count = await self._get_heads(peer)
            peer.known = {head.feed: head.seq for head in heads}
            refused: TallyError | None = None
            # The peer's own feed first: it is an anchor, and our pushes to it need it to hold ours.
            for head in sorted(heads, key=lambda head: head.feed != peer.feed):
                if head.feed in holdings.frozen or not holdings.follows(head.feed):
                    continue
                if holdings.head(head.feed) is None:
                    try:
                        holdings.check_reason(head.feed, vouched=True)
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
            ours = await holdings.store.forks(limits.replication_forks_max)
            if len(ours) > fork_count:
                await self._post_forks(peer, [proof for _feed, _seq, proof in ours])
            if refused is not None:
                raise refused
        await self._push(peer)

    async def _pull_behind(self, peer: PeerState, head: WireHead) -> None:
        ours = self.holdings.head(head.feed)
        if ours is None or head.seq > ours.seq:
            # From our own last event, not the one after: the overlap of one event is how a
            # fork at our head (another copy of a home wrote there) shows itself.
            await self._pull(peer, head.feed, 1 if ours is None else ours.seq, head.seq)
        elif head.seq >= 1:
            stored = await self.holdings.store.event_at(head.feed, head.seq)
            if stored is not None and hash32(stored) != head.head:
                await self._pull(peer, head.feed, head.seq, head.seq)

    def _signed_headers(self, path: str, body: bytes) -> dict[str, str]:
        """Content-Type and the Tally-Signature of a POST by this node (its feed's current key)."""
        signature = sign_request(
            self.sequencer.key, feed=self.own_feed, method="POST", path=path, body=body, ts=self.clock_ms(),
            nonce=os.urandom(request_nonce_bytes),
        )
        return {"Content-Type": msgpack_type, request_signature_header: signature}

    def _read(self, peer: PeerState, path: str, params: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        """GET `path` at the peer, signed by this node's key for the peer's feed (reads.py)."""
        assert self._session is not None
        target = read_target(path, params)
        headers = signed_read_headers(self.sequencer.key, node=peer.feed, target=target, now_ms=self.clock_ms())
        return self._session.get(read_url(peer.url, target), headers=headers)

    async def _introduce(self, peer: PeerState) -> None:
        """Push our own feed from its genesis to a peer that refused our reads: a peer that lists us
        takes it as first contact, and then holds the key our reads are signed with."""
        peer.known = {self.own_feed: 0}
        await self._push_feed(peer, self.own_feed)

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
        async with self._session.get(read_url(peer.url, "/replication/node")) as response:
            if response.status == 404:
                peer.identity_asked = True
                return
            response.raise_for_status()
            identity = decode_message(identity_decoder, await read_bounded(response))
        peer.feed, peer.identity_asked = identity.feed, True

    async def _get_heads(self, peer: PeerState) -> tuple[list[WireHead], int]:
        """Every head the peer holds, page by page (each page's feeds after the last one's), and
        the fork proofs it reports. A bounded number of pages: past that, the rest next pass."""
        assert self._session is not None
        heads: list[WireHead] = []
        forks = 0
        after: bytes | None = None
        pages_max = (self.holdings.feeds_held_max + feeds_anchor_reserve) // self.heads_page_feeds + 2
        for _page in range(pages_max):
            params = {"limit": str(self.heads_page_feeds)}
            if after is not None:
                params["after"] = id_to_text("n", after)
            async with self._read(peer, "/replication/heads", params) as response:
                if response.status == 403 and await _error_code(response) == UnknownPeerError.code:
                    raise PeerRefusesReadsError(
                        f"{peer.url} holds no feed signed by this node's key, so it serves us nothing: list this "
                        "node as a peer there too (link the nodes as peers)"
                    )
                response.raise_for_status()
                page = decode_message(heads_decoder, await read_bounded(response))
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
        path = f"/replication/feeds/{id_to_text('n', feed)}"
        params = {"from": str(start), "limit": str(limits.replication_batch_events_max)}
        async with self._read(peer, path, params) as response:
            response.raise_for_status()
            message = decode_message(events_decoder, await read_bounded(response))
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
            while feed not in self.holdings.frozen:
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
                held = await self.holdings.ingest(
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
        async with self._read(peer, "/replication/forks") as response:
            response.raise_for_status()
            message = decode_message(forks_decoder, await read_bounded(response))
        for raw in message.proofs:
            await self.holdings.ingest_fork_proof(raw)

    async def _push(self, peer: PeerState) -> None:
        """Post every event the peer is known to lack (it is known after a heads exchange)."""
        if not peer.known or self._session is None:
            return
        holdings = self.holdings
        # Every feed we hold except those the peer said it does not follow: a new feed reaches the
        # peer by this push, without waiting for its next anti-entropy pass.
        feeds = [self.own_feed, *(feed for feed in holdings.replicas if feed not in peer.not_followed)]
        for feed in feeds:
            if not await self._push_feed(peer, feed):
                return

    async def _push_feed(self, peer: PeerState, feed: bytes) -> bool:
        """Post the events of `feed` the peer is known to lack; False if the peer's heads must be
        read again before anything more is pushed to it (`peer.known` is then cleared)."""
        assert self._session is not None
        holdings = self.holdings
        head = holdings.head(feed)
        if head is None or feed in holdings.frozen:
            return True
        theirs = peer.known.get(feed, 0)
        while theirs < head.seq:
            message = await serve_range(holdings.store, feed, theirs + 1, limits.replication_batch_events_max)
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
                            return True  # not this feed, for this peer; its other feeds still go
                    if response.status >= 400:
                        # Among others, 403 unknown_peer: the peer does not hold our feed and does
                        # not list us as a peer. Re-read its heads before pushing again.
                        peer.known.clear()
                        return False
                    answer = decode_message(heads_decoder, await read_bounded(response))
            except (TimeoutError, aiohttp.ClientError, OSError):
                peer.known.clear()
                return False
            held = answer.heads[0].seq if answer.heads else 0
            if held <= theirs:
                peer.known.clear()
                return False
            theirs = peer.known[feed] = held
        return True

    # ---- what the node's status and metrics show ------------------------------------------------

    def metrics(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        lag = GaugeMetricFamily("tally_peer_lag_events", "Events a peer holds that this node lacks", labels=["peer"])
        reachable = GaugeMetricFamily("tally_peer_reachable", "1 if the last exchange with the peer worked", labels=["peer"])
        for peer in self.by_url.values():
            lag.add_metric([peer.url], self.lag(peer))
            reachable.add_metric([peer.url], 1 if peer.reachable else 0)
        return lag, reachable

    def status(self) -> list[dict[str, object]]:
        return [
            {
                "url": peer.url,
                "reachable": peer.reachable,
                "last_seen_ms": peer.last_seen_ms,
                "last_error": peer.last_error,
                "lag": self.lag(peer),
            }
            for peer in self.by_url.values()
        ]

    def lag(self, peer: PeerState) -> int:
        """Events the peer holds that we lack, by its last heads (0 when unknown)."""
        total = 0
        for feed, seq in peer.known.items():
            ours = self.holdings.head(feed)
            total += max(0, seq - (ours.seq if ours else 0))
        return total


async def _error_code(response: aiohttp.ClientResponse) -> str | None:
    """The stable `error` code of a peer's JSON error answer, if it has one."""
    try:
        document = msgspec.json.decode(await read_bounded(response))
    except (msgspec.DecodeError, TallyError):
        return None
    return document.get("error") if isinstance(document, dict) else None


async def read_bounded(response: aiohttp.ClientResponse) -> bytes:
    """A peer's answer, refused past `replication_body_bytes_max` bytes: `malformed` if it says so
    up front (Content-Length), `too_large` once that many are read."""
    length = response.content_length
    if length is not None and length > limits.replication_body_bytes_max:
        raise MalformedError(f"peer answer of {length} bytes is over the limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(answer_chunk_bytes):
        size += len(chunk)
        if size > limits.replication_body_bytes_max:
            raise TooLargeError("peer answer is over the size limit")
        chunks.append(chunk)
    return b"".join(chunks)
