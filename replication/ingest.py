"""The feeds this node holds, and the one door for other nodes' events into them.

How this works:
- A node holds a feed only with a reason (docs/federation.md, "What a node holds"): its own; an
  anchor (a configured peer's own feed, a followed feed, a member of a federation it belongs to); or
  a feed a configured peer vouches for - one it serves when pulled by URL, or pushes signed - while
  fewer than `feeds_held_max` feeds are held (`Holdings.check_reason`).
- `Holdings.ingest` takes a contiguous run of one feed, and: refuses feeds that are frozen by a fork
  proof; compares any overlap with what is stored (a different event at a stored seq, signed by the
  feed's key, is a fork: the proof is kept, spread and the feed frozen); verifies the rest with one
  author signature per batch and every member intent signature; audits it with the same pure domain
  the sequencer uses; and appends it with its projections in one transaction. Nothing unverified is
  stored, so nothing unverified is served.
- A run is stored whole or not at all (protocol.md §16.2), a new feed's first run too: it is folded
  from its genesis to its end before anything is written, and its replica enters memory only after
  the commit. A refused run (a bad link, a checkpoint that does not match, a broken rule, a full
  disk) leaves nothing behind, not even the genesis.
- What a peer sends that breaks a community's rules is the peer's fault, or its author's, never the
  receiver's: a `DomainError` of the audit leaves here as `ReplicaBreaksRuleError`, naming the feed.
- Alerts are raised once per feed and cause, for feeds with a reason to be held, and at most
  `alerts_max` of them.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from tallystick.ledger.errors import CheckpointMismatchError, DomainError
from tallystick.ledger.model import State
from tallystick.node.replay import fold_received, start_received
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import AppendBatch, Store
from tallystick.protocol.codec import decode_fork_proof, encode
from tallystick.protocol.errors import MalformedError, TallyError
from tallystick.protocol.events import ForkProof
from tallystick.protocol.feed import FeedHead, verify_fork_proof, verify_next
from tallystick.protocol.ids import hash32, id_to_text
from tallystick.protocol.limits import anti_entropy_interval_ms
from tallystick.protocol.wire import Events

from .errors import (
    FeedFrozenError,
    FeedsLimitError,
    HeldEventsUnreadError,
    NoReasonError,
    NotFollowedError,
    ReplicaBreaksRuleError,
    StaleHomeError,
    StoreFailedError,
)

log = logging.getLogger("tallystick.replication")

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
# How often the anchors from federation membership are refreshed from the federation view.
anchors_refresh_interval_ms = anti_entropy_interval_ms


@dataclass
class Replica:
    state: State
    head: FeedHead
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def joined(first: AppendBatch, then: AppendBatch) -> AppendBatch:
    """Two verified runs of one feed, `then` right after `first`, as one append."""
    return AppendBatch((*first.rows, *then.rows), then.state, then.head, first.changes.merged(then.changes),
                    (*first.postings, *then.postings))


class Holdings:
    """The feeds this node holds (its own, and a replica of each other), why, and which are frozen."""

    def __init__(
        self,
        *,
        follow: list[bytes] | None,
        feeds_held_max: int,
        peer_feeds: Callable[[], set[bytes]],
        wake_peers: Callable[[], None],
    ) -> None:
        # None: every feed the peers hold (open replication); else only these (and our own).
        self.follow = None if follow is None else frozenset(follow)
        self.feeds_held_max = feeds_held_max
        self.peer_feeds = peer_feeds  # the configured peers' own feeds, as far as they told us
        self.wake_peers = wake_peers  # something new to push: every peer task's next pass
        self.replicas: dict[bytes, Replica] = {}
        self._new_feeds = asyncio.Lock()  # a new feed's first run is stored, then its replica made
        self.frozen: set[bytes] = set()
        self.alerts: list[dict[str, object]] = []
        self._alerted: set[tuple[str, bytes | None]] = set()  # (kind, feed): once per feed and cause
        self.alerts_dropped_total = 0
        # Members of the federations this node belongs to (set by federation/service.py's Layers,
        # refreshed every `anchors_refresh_interval_ms`): anchors, as a peer's own feed is.
        self.federation_members: Callable[[], Awaitable[frozenset[bytes]]] | None = None
        self._federation_anchors: frozenset[bytes] = frozenset()
        self._signers: dict[bytes, bytes] = {}  # current key -> held feed, as `feed_signed_by` found it

    async def start(self, store: Store, sequencer: Sequencer) -> None:
        self.store: Store = store
        self.sequencer: Sequencer = sequencer
        self.own_feed: bytes = sequencer.head.feed
        for head in await store.heads():
            if head.feed == self.own_feed:
                continue
            state = await store.load_state(head.feed)
            if state is not None:
                self.replicas[head.feed] = Replica(state, head)
        for feed, seq, _proof in await store.forks():
            self._freeze(feed, seq, announce=False)

    # ---- alerts and freezing --------------------------------------------------------------------

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

    def is_anchor(self, feed: bytes) -> bool:
        """A feed this node holds for its own sake, not because someone vouched for it."""
        return (
            feed == self.own_feed
            or feed in self.peer_feeds()
            or (self.follow is not None and feed in self.follow)
            or feed in self._federation_anchors
        )

    def follows(self, feed: bytes) -> bool:
        return self.follow is None or feed in self.follow or feed == self.own_feed

    def feeds_held(self) -> int:
        return 1 + len(self.replicas)

    def check_reason(self, feed: bytes, *, vouched: bool) -> None:
        """Refuse a feed new to this node unless it has a reason to hold it: an anchor (up to the
        reserve above the limit), or a feed a configured peer vouches for (`vouched`) below the limit."""
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

    async def refresh_anchors_forever(self) -> None:
        while True:
            try:
                await self.refresh_anchors()
            except TallyError as error:  # the view refused something it holds: keep the last anchors
                log.warning("federation anchors not refreshed: %s: %s", error.code, error.message)
            await asyncio.sleep(anchors_refresh_interval_ms / 1000)

    # ---- what is held ---------------------------------------------------------------------------

    def head(self, feed: bytes) -> FeedHead | None:
        if feed == self.own_feed:
            return self.sequencer.head
        replica = self.replicas.get(feed)
        return None if replica is None else replica.head

    def current_key(self, feed: bytes) -> bytes | None:
        head = self.head(feed)
        return None if head is None else head.signing_key

    def feed_signed_by(self, key: bytes) -> bytes | None:
        """The held feed whose current key is `key` (this node's own included), or None: who may
        read this node's feeds (replication/server.py, `authenticate_read`). A hit is remembered,
        so a peer's polls cost a dict look-up; a key no held feed signs with costs one pass over
        the held heads (bounded by feeds_held_max + feeds_anchor_reserve)."""
        feed = self._signers.get(key)
        if feed is not None and self.current_key(feed) == key:
            return feed
        self._signers.pop(key, None)  # rotated away since: its feed now signs with another key
        for head in self.held_heads():
            if head.signing_key == key:
                if len(self._signers) >= self.feeds_held() + feeds_anchor_reserve:
                    self._signers.clear()  # stale entries of rotated keys: start afresh
                self._signers[key] = head.feed
                return head.feed
        return None

    def held_heads(self) -> Iterable[FeedHead]:
        yield self.sequencer.head
        for replica in self.replicas.values():
            yield replica.head

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
            replica = await self._take_new_feed(message, intents_verified=intents_verified, vouched=vouched)
            if replica is None:
                return self.replicas[feed].head.seq
        async with replica.lock:
            events = await self._drop_overlap(replica.head, message)
            if not events:
                return replica.head.seq
            received = self._fold(replica.state, replica.head, events, intents_verified=intents_verified)
            await self._append(received)
            replica.state, replica.head = received.state, received.head  # only once the store committed
        self.wake_peers()
        return replica.head.seq

    async def _take_new_feed(self, message: Events, *, intents_verified: bool, vouched: bool) -> Replica | None:
        """A feed new to this node, from a run that starts at its genesis: verified and folded to its
        end, then stored in one transaction, and only then its replica enters memory. A refusal keeps
        nothing, so a later run from seq 2 finds no feed here (it leaves a gap: ignored).
        Returns None once the run is stored; or the replica to compare the run with, if the feed came
        to be held meanwhile (a concurrent run of it, or the store's copy whose state did not load)."""
        feed = message.feed
        self.check_reason(feed, vouched=vouched)
        if hash32(message.events[0]) != feed:
            raise MalformedError("a feed's id is the hash of its genesis; this genesis does not match")
        received = start_received(message.events[0])
        if len(message.events) > 1:
            rest = self._fold(received.state, received.head, list(message.events[1:]), intents_verified=intents_verified)
            received = joined(received, rest)
        async with self._new_feeds:
            replica = self.replicas.get(feed)
            if replica is not None:
                return replica
            stored_head = await self.store.head(feed)
            if stored_head is not None:  # held in the store, not in memory (its state did not load at start)
                state = await self.store.load_state(feed)
                if state is None:
                    raise MalformedError(f"feed {id_to_text('n', feed)} is in the store without its state; run `tally verify`")
                replica = self.replicas[feed] = Replica(state, stored_head)
            else:
                # Again under the lock: concurrent pushes of distinct new feeds all passed the first
                # check, and only one at a time may count itself against `feeds_held_max`.
                self.check_reason(feed, vouched=vouched)
                await self._append(received)
                self.replicas[feed] = Replica(received.state, received.head)
        self.wake_peers()
        return replica

    def _fold(self, state: State, head: FeedHead, events: list[bytes], *, intents_verified: bool) -> AppendBatch:
        """`fold_received`, with a broken rule turned into the sender's fault, naming the feed."""
        try:
            return fold_received(state, head, events, intents_verified=intents_verified)
        except CheckpointMismatchError as error:
            self._alert_checkpoint_mismatch(head.feed, error)
            raise ReplicaBreaksRuleError(head.feed, head.seq + 1, error) from None
        except DomainError as error:
            raise ReplicaBreaksRuleError(head.feed, head.seq + 1, error) from None

    async def _append(self, received: AppendBatch) -> None:
        try:
            await self.store.append_batch(received)
        except sqlite3.OperationalError as error:  # "database or disk is full", an I/O error: ours, not the sender's
            log.error("could not store events of %s: %s", id_to_text("n", received.head.feed), error)
            raise StoreFailedError(
                f"this node could not store the events ({error}); nothing of them was kept: its operator must free "
                "disk space (see its log); retry later"
            ) from None

    async def _drop_overlap(self, head: FeedHead, message: Events) -> list[bytes]:
        """The events after `head`; any that overlap what we hold must be the same bytes. The held
        ones are read in one query per `store_read_batch_events_max`, not one per event: a run that
        a peer pushes while this node pulls the same feed from it (peers link both ways) often
        overlaps whole, and a read per event held the replica's lock for a thread hop each."""
        if message.start > head.seq + 1:
            return []  # a gap: anti-entropy pulls from head.seq + 1
        overlap = min(len(message.events), head.seq - message.start + 1)
        seq = message.start
        while seq < message.start + overlap:
            stored_run = await self.store.read_log(head.feed, seq, message.start + overlap - seq)
            # Every held event of the overlap is compared, or none is taken: a read that answers
            # fewer than the replica holds (which should never happen) must not pass a fork unseen.
            if not stored_run or stored_run[0].seq != seq:
                raise HeldEventsUnreadError(
                    f"this node could not read back events {seq}..{message.start + overlap - 1} of feed "
                    f"{id_to_text('n', head.feed)} it holds; nothing was taken: retry"
                )
            for stored in stored_run:
                if stored.seq != seq or stored.seq >= message.start + overlap:
                    break
                raw = message.events[stored.seq - message.start]
                if stored.bytes != raw:
                    await self._prove_fork(head.feed, stored.seq, bytes(stored.bytes), raw)
                    raise FeedFrozenError(f"feed {id_to_text('n', head.feed)} forked at seq {stored.seq}")
                seq += 1
        return list(message.events[overlap:])

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
