"""A feed's hash chain: what a verifier holds about a feed, and how it advances.

How this works: `FeedHead` is everything needed to check the next event of a feed: its id, the last
seq, hash and timestamp, and the keys in force. `verify_next` checks one event fully (links and the
author's signature). `verify_batch` checks a contiguous run a..b: every link, every `KeyRotated`
signature (by the recovery key whose hash was committed), and the author's signature on b alone.
Each event's hash covers its signature and its `prev`, so b's signature authenticates the whole run;
this is what makes bulk catch-up cost one Ed25519 verify per batch instead of one per event.
"""

from __future__ import annotations

from msgspec import Struct

from .codec import decode_event, event_hash, verify_event_signature
from .errors import BadSignatureError, ChainError, MalformedError, WrongFeedError
from .events import Event, ForkProof, Genesis, KeyRotated
from .ids import hash32


class FeedHead(Struct, frozen=True):
    feed: bytes
    seq: int
    head: bytes
    ts: int
    signing_key: bytes
    recovery_key_hash: bytes


def start_feed(genesis_bytes: bytes) -> tuple[FeedHead, Event]:
    """Verify a genesis (seq 1, signed by the key it names) and return the feed's first head."""
    event = decode_event(genesis_bytes)
    if event.seq != 1 or not isinstance(event.body, Genesis):
        raise MalformedError("a feed starts with a genesis at seq 1")
    verify_event_signature(genesis_bytes, event.body.signing_key)
    feed = event_hash(genesis_bytes)
    head = FeedHead(
        feed=feed,
        seq=1,
        head=feed,
        ts=event.ts,
        signing_key=event.body.signing_key,
        recovery_key_hash=event.body.recovery_key_hash,
    )
    return head, event


def _advance(head: FeedHead, event_bytes: bytes) -> tuple[FeedHead, Event]:
    """Every check but the author's signature on an ordinary event."""
    event = decode_event(event_bytes)
    if event.feed != head.feed:
        raise WrongFeedError("event belongs to another feed")
    if event.seq != head.seq + 1:
        raise ChainError(f"expected seq {head.seq + 1}, got {event.seq}")
    if event.prev != head.head:
        raise ChainError(f"event {event.seq} does not link to the hash of event {head.seq}")
    if event.ts < head.ts:
        raise ChainError(f"event {event.seq} goes back in time ({event.ts} < {head.ts})")
    signing_key, recovery_key_hash = head.signing_key, head.recovery_key_hash
    if isinstance(event.body, KeyRotated):
        if hash32(event.body.recovery_key) != head.recovery_key_hash:
            raise BadSignatureError(f"event {event.seq} rotates keys with a recovery key the feed never committed to")
        verify_event_signature(event_bytes, event.body.recovery_key)
        signing_key, recovery_key_hash = event.body.signing_key, event.body.next_recovery_key_hash
    new_head = FeedHead(
        feed=head.feed,
        seq=event.seq,
        head=event_hash(event_bytes),
        ts=event.ts,
        signing_key=signing_key,
        recovery_key_hash=recovery_key_hash,
    )
    return new_head, event


def verify_next(head: FeedHead, event_bytes: bytes) -> tuple[FeedHead, Event]:
    """Check one event fully against the head before it."""
    new_head, event = _advance(head, event_bytes)
    if not isinstance(event.body, KeyRotated):
        verify_event_signature(event_bytes, head.signing_key)
    return new_head, event


def check_links(head: FeedHead, batch: list[bytes]) -> tuple[FeedHead, list[Event], bytes]:
    """Every check of `verify_batch` but the author's signature on the run's last event; returns
    also the key that must have signed that event. For a run that a later signed run extends."""
    events: list[Event] = []
    key_before_last = head.signing_key
    current = head
    for event_bytes in batch:
        key_before_last = current.signing_key
        current, event = _advance(current, event_bytes)
        events.append(event)
    return current, events, key_before_last


def verify_batch(head: FeedHead, batch: list[bytes]) -> tuple[FeedHead, list[Event]]:
    """Check a contiguous run of events after `head`; one author signature for the whole run."""
    current, events, key_before_last = check_links(head, batch)
    if events and not isinstance(events[-1].body, KeyRotated):
        verify_event_signature(batch[-1], key_before_last)
    return current, events


def verify_fork_proof(proof: ForkProof, signing_key: bytes) -> tuple[Event, Event]:
    """Check that `signing_key` signed two different events at one seq of one feed."""
    if proof.first == proof.second:
        raise MalformedError("a fork proof needs two different events")
    if proof.seq == 1:
        # A feed's id is its genesis's hash: two geneses are two feeds, never a fork of one. Without
        # this, any two geneses signed by a feed's key would "prove" a fork of that feed.
        raise MalformedError("a fork proof cannot be at seq 1: two geneses are two different feeds")
    first, second = decode_event(proof.first), decode_event(proof.second)
    for event, raw in ((first, proof.first), (second, proof.second)):
        if event.seq != proof.seq:
            raise MalformedError("fork proof events are not at the proof's seq")
        if event.feed != proof.feed:
            raise WrongFeedError("fork proof events belong to another feed")
        verify_event_signature(raw, signing_key)
    return first, second
