"""Replication: nodes gossip each other's feeds, verify and audit everything, and prove forks.

How this works (DEV DOCS):
- Every node serves what it holds under /replication/: its heads (feed -> seq, hash), ranges of any
  feed as exact signed bytes, and the fork proofs it keeps.
- `ingest` is the one door for another node's events. It takes a contiguous run of one feed, and:
  refuses feeds that are frozen by a fork proof; compares any overlap with what is stored (a different
  event at a stored seq, signed by the feed's key, is a fork: the proof is kept, spread and the feed
  frozen); verifies the rest with one author signature per batch and every member intent signature;
  audits it with the same pure domain the sequencer uses; and appends it with its projections in one
  transaction. Nothing unverified is stored, so nothing unverified is served.
- One task per peer. It wakes when this node appends or ingests something (push: it posts the new
  events the peer lacks) and every `anti_entropy_interval_ms` (pull: it fetches the peer's heads and
  forks, and pulls every range it lacks). A failing peer is retried with exponential backoff; no
  peer is ever needed for the node to work.
- Fork safety at start: until the peers have been asked for their copy of this node's own feed, the
  sequencer's write gate stays shut; a peer holding a later head of our feed keeps it shut, with a
  message to run `tally restore`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiohttp
import msgspec
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from tallystick.node.domain import State
from tallystick.node.errors import CheckpointMismatchError
from tallystick.node.replay import fold_received, start_received, verify_intent_signatures
from tallystick.node.runtime import Node
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import Store
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_fork_proof, encode, verify_event_signature
from tallystick.protocol.errors import LocalError, MalformedError, RemoteError, TallyError, TooLargeError
from tallystick.protocol.events import ForkProof, KeyRotated
from tallystick.protocol.feed import FeedHead, verify_fork_proof, verify_next
from tallystick.protocol.ids import hash32, id_from_text, id_to_text
from tallystick.protocol.wire import (
    Events,
    Forks,
    Heads,
    WireHead,
    events_decoder,
    forks_decoder,
    heads_decoder,
)

log = logging.getLogger("tallystick.replication")
# Batches whose member signatures the process pool checks ahead of the fold during a catch-up:
# enough to keep every worker busy while the fold and the store run in this process.
bulk_verify_batches_ahead = 8
# Events of one feed folded and committed in one transaction during a catch-up.
ingest_events_max = 2048
msgpack_type = "application/msgpack"


class StaleHomeError(LocalError):
    code = "stale_home"
    http_status = 409  # retrying cannot help: the operator must act (restore), so no 503


class NotFollowedError(RemoteError):
    code = "not_followed"
    http_status = 409


class FeedFrozenError(RemoteError):
    code = "feed_frozen"
    http_status = 409


@dataclass
class PeerState:
    url: str
    reachable: bool = False
    last_seen_ms: int | None = None
    last_error: str | None = None
    known: dict[bytes, int] = field(default_factory=dict)  # feed -> seq the peer holds
    not_followed: set[bytes] = field(default_factory=set)  # feeds the peer refused as not followed
    wake: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Replica:
    state: State
    head: FeedHead
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Replicator:
    """The node's replication extension (see node.runtime.Extension)."""

    def __init__(
        self,
        peers: list[str],
        clock_ms: Callable[[], int],
        verify_processes: int = 0,
        follow: list[bytes] | None = None,
    ) -> None:
        self.clock_ms = clock_ms
        # None: every feed the peers hold (open replication); else only these (and our own).
        self.follow = None if follow is None else frozenset(follow)
        self.verify_processes = verify_processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.peers = {url.rstrip("/"): PeerState(url.rstrip("/")) for url in peers}
        self.replicas: dict[bytes, Replica] = {}
        self.frozen: set[bytes] = set()
        self.alerts: list[dict[str, object]] = []
        self.rejected_total = 0
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

    def _alert_checkpoint_mismatch(self, feed: bytes, error: TallyError) -> None:
        """Algedonic: a feed whose author's checkpoint does not match the state this node derives
        (a fault of the author or of this replica). Raised once per feed; the batch is refused."""
        text = id_to_text("n", feed)
        if any(alert["kind"] == "checkpoint_mismatch" and alert.get("feed") == text for alert in self.alerts):
            return
        self.alerts.append({"kind": "checkpoint_mismatch", "feed": text,
                            "message": f"feed {text}: {error.message}; its events from there on are refused"})

    def _freeze(self, feed: bytes, seq: int, *, announce: bool = True) -> None:
        if feed in self.frozen:
            return
        self.frozen.add(feed)
        whose = "this node's own feed" if feed == self.own_feed else f"feed {id_to_text('n', feed)}"
        self.alerts.append(
            {
                "kind": "fork",
                "feed": id_to_text("n", feed),
                "seq": seq,
                "message": f"{whose} is forked at seq {seq}: its key signed two different events; it is frozen",
            }
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

    async def ingest(self, message: Events, *, intents_verified: bool = False) -> int:
        """Verify, audit and store a run of events; returns the seq now held for that feed.
        `intents_verified`: the member signatures of these very bytes were checked already."""
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
            if hash32(message.events[0]) != feed:
                raise MalformedError("a feed's id is the hash of its genesis; this genesis does not match")
            received = start_received(message.events[0])
            replica = self.replicas.setdefault(feed, Replica(received.state, received.head))
            async with replica.lock:
                if replica.head.seq == 1 and await self.store.event_at(feed, 1) is None:
                    await self.store.append(received.rows, received.state, received.touched, received.head, received.postings)
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
            await self.store.append(received.rows, received.state, received.touched, received.head, received.postings)
            replica.state, replica.head = received.state, received.head
        self.wake_peers()
        return replica.head.seq

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
            return  # a feed we do not hold: nothing to freeze here
        verify_fork_proof(proof, key)
        if await self.store.add_fork(proof.feed, proof.seq, raw):
            self._freeze(proof.feed, proof.seq)

    # ---- serving --------------------------------------------------------------------------------

    async def heads(self) -> Heads:
        held = await self.store.heads()
        forks = await self.store.forks(limits.replication_forks_max)
        return Heads([WireHead(h.feed, h.seq, h.head) for h in held], len(forks))

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
                    for peer in self.peers.values():
                        tasks.create_task(self._run_peer(peer), name=f"peer {peer.url}")
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

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
        heads = await self._get_heads(peer)
        for head in heads.heads:
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
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
                peer.reachable, peer.last_error = False, str(error) or type(error).__name__
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
            heads = await self._get_heads(peer)
            peer.known = {head.feed: head.seq for head in heads.heads}
            refused: TallyError | None = None
            for head in heads.heads:
                if head.feed in self.frozen or not self.follows(head.feed):
                    continue
                try:
                    await self._pull_behind(peer, head)
                except TallyError as error:
                    # One feed that does not verify must not hold back the peer's other feeds (nor
                    # its fork proofs): note it, carry on, and report it once the pass is over.
                    refused = refused or error
            if heads.forks:
                await self._pull_forks(peer)
            ours = await self.store.forks(limits.replication_forks_max)
            if len(ours) > heads.forks:
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

    async def _post_forks(self, peer: PeerState, proofs: list[bytes]) -> None:
        """Gossip our fork proofs to a peer that holds fewer (DESIGN: a fork is proven and spread)."""
        assert self._session is not None
        async with self._session.post(
            f"{peer.url}/replication/forks", data=encode(Forks(proofs)), headers={"Content-Type": msgpack_type}
        ) as response:
            await response.read()

    async def _get_heads(self, peer: PeerState) -> Heads:
        assert self._session is not None
        async with self._session.get(f"{peer.url}/replication/heads") as response:
            response.raise_for_status()
            return _decode(heads_decoder, await _read_bounded(response))

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
                held = await self.ingest(Events(feed, message.start, events), intents_verified=checked is not None)
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
                try:
                    async with self._session.post(
                        f"{peer.url}/replication/push", data=encode(message), headers={"Content-Type": msgpack_type}
                    ) as response:
                        if response.status == 409:
                            refusal = await _error_code(response)
                            if refusal == NotFollowedError.code and feed != self.own_feed:
                                peer.not_followed.add(feed)
                            if refusal in (NotFollowedError.code, FeedFrozenError.code):
                                break  # not this feed, for this peer; its other feeds still go
                        if response.status >= 400:
                            peer.known.clear()  # re-read its heads before pushing again
                            return
                        answer = _decode(heads_decoder, await _read_bounded(response))
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
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
    heads = await request.config_dict[replicator_key].heads()
    if "key" in request.query:  # which feed does this key sign? (`tally restore` asks)
        key = id_from_text("k", request.query["key"])
        held = await request.config_dict[replicator_key].store.heads()
        feeds = {h.feed for h in held if h.signing_key == key}
        heads = Heads([h for h in heads.heads if h.feed in feeds], heads.forks)
    return _msgpack(heads)


async def handle_range(request: web.Request) -> web.Response:
    replicator = request.config_dict[replicator_key]
    feed = id_from_text("n", request.match_info["feed"])
    try:
        start = int(request.query.get("from", "1"))
        limit = int(request.query.get("limit", str(limits.replication_batch_events_max)))
    except ValueError:
        raise MalformedError("from and limit must be integers") from None
    if start < 1 or limit < 1:
        raise MalformedError("from and limit must be at least 1")
    return _msgpack(await replicator.serve_range(feed, start, limit))


async def read_body_bounded(request: web.Request, maximum: int) -> bytes:
    """The request body, refused with 413 past `maximum` bytes before it is read whole."""
    if request.content_length is not None and request.content_length > maximum:
        raise TooLargeError(f"body of {request.content_length} bytes is over the limit of {maximum}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > maximum:
            raise TooLargeError(f"body is over the limit of {maximum} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def handle_push(request: web.Request) -> web.Response:
    replicator = request.config_dict[replicator_key]
    message = _decode(events_decoder, await read_body_bounded(request, limits.replication_body_bytes_max))
    try:
        seq = await replicator.ingest(message)
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
    replicator = request.config_dict[replicator_key]
    message = _decode(forks_decoder, await read_body_bounded(request, limits.replication_body_bytes_max))
    for raw in message.proofs:
        await replicator.ingest_fork_proof(raw)
    return _msgpack(Forks([]))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/replication/heads", handle_heads)
    app.router.add_get("/replication/feeds/{feed}", handle_range)
    app.router.add_post("/replication/push", handle_push)
    app.router.add_get("/replication/forks", handle_forks)
    app.router.add_post("/replication/forks", handle_fork_post)

