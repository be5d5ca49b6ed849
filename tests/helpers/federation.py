"""Real feeds for the federation tests: communities with real Ed25519 keys that append signed,
chained events, as a node does, so the fold and the certificates are tested on what replication
really delivers. Keys come from fixed seeds (the same bytes every run).

How this works: `Community` holds a feed's signed events and its head; `append` signs the next
event with the key in force, checks it with protocol.feed.verify_next, and returns its bytes.
`branch` copies a community so that the copy and the original can each append at the same seq: a
fork, as a Byzantine node makes one. `feed_event` turns signed bytes into the fold's input.
"""

from __future__ import annotations

import copy

from tallystick.federation.state import FeedEvent
from tallystick.protocol.codec import decode_event, event_hash, sign_event
from tallystick.protocol.events import Body, Genesis, KeyRotated
from tallystick.protocol.federation import (
    Charter,
    CharterMember,
    FederationEffect,
    FederationProposal,
    FederationVote,
    federation_id,
    proposal_id,
)
from tallystick.protocol.feed import FeedHead, start_feed, verify_next
from tallystick.protocol.ids import KeyPair, hash32

start_ms = 1_800_000_000_000


def key_for(name: str) -> KeyPair:
    return KeyPair(hash32(b"tallystick federation test seed: " + name.encode()))


class Community:
    def __init__(self, name: str, ts: int = start_ms) -> None:
        self.name = name
        self.key = key_for(name)
        self.recovery = key_for(name + "/recovery")
        self.rotations = 0
        genesis = sign_event(
            self.key,
            feed=None,
            seq=1,
            prev=None,
            ts=ts,
            body=Genesis(
                name=name,
                unit_code="HRS",
                unit_decimals=2,
                debit_limit_minor=10_000,
                credit_ceiling_minor=10_000,
                signing_key=self.key.public,
                recovery_key_hash=hash32(self.recovery.public),
                admin_key=key_for(name + "/admin").public,
                admin_name="Admin",
                checkpoint_interval_events=1000,
            ),
        )
        self.head: FeedHead
        self.head, _ = start_feed(genesis)
        self.id = self.head.feed
        self.events: list[bytes] = [genesis]

    @property
    def ts(self) -> int:
        return self.head.ts

    def append(self, body: Body, ts: int | None = None) -> bytes:
        when = max(self.head.ts, ts if ts is not None else self.head.ts)
        signer = self.recovery if isinstance(body, KeyRotated) else self.key
        raw = sign_event(signer, feed=self.id, seq=self.head.seq + 1, prev=self.head.head, ts=when, body=body)
        self.head, _ = verify_next(self.head, raw)
        self.events.append(raw)
        return raw

    def rotate_key(self, ts: int | None = None) -> bytes:
        self.rotations += 1
        new_key = key_for(f"{self.name}/rotated/{self.rotations}")
        next_recovery = key_for(f"{self.name}/recovery/{self.rotations}")
        raw = self.append(
            KeyRotated(
                recovery_key=self.recovery.public,
                signing_key=new_key.public,
                next_recovery_key_hash=hash32(next_recovery.public),
            ),
            ts,
        )
        self.key, self.recovery = new_key, next_recovery
        return raw

    def adopt(self, charter: Charter, ts: int | None = None) -> bytes:
        return self.append(charter, ts)

    def propose(
        self,
        federation: bytes,
        epoch: int,
        previous: bytes,
        effect: FederationEffect,
        deadline_ms: int,
        title: str = "a proposal",
        ts: int | None = None,
    ) -> tuple[bytes, bytes]:
        """Append a proposal; returns its id and the event's bytes."""
        body = FederationProposal(
            federation=federation,
            epoch=epoch,
            previous=previous,
            deadline_ms=deadline_ms,
            title=title,
            text="",
            effect=effect,
        )
        return proposal_id(body), self.append(body, ts)

    def vote(self, federation: bytes, epoch: int, proposal: bytes | None, ts: int | None = None) -> bytes:
        return self.append(FederationVote(federation=federation, epoch=epoch, proposal=proposal), ts)

    def branch(self) -> Community:
        """A second copy of this feed with the same keys: what it appends forks the feed."""
        twin = copy.copy(self)
        twin.events = list(self.events)
        return twin

    def feed_events(self) -> list[FeedEvent]:
        return [feed_event(raw) for raw in self.events]


def feed_event(raw: bytes) -> FeedEvent:
    event = decode_event(raw)
    feed = event.feed if event.feed is not None else event_hash(raw)
    return FeedEvent(feed=feed, seq=event.seq, ts=event.ts, body=event.body)


def charter_of(
    *members: Community | bytes, name: str = "Valley", quorum_bp: int = 6_000, founded_ms: int = start_ms
) -> Charter:
    return Charter(
        name=name,
        unit_code="VAL",
        unit_decimals=2,
        members=tuple(
            CharterMember(member=member.id if isinstance(member, Community) else member, unit_code="HRS", rate_num=1, rate_den=1)
            for member in members
        ),
        quorum_bp=quorum_bp,
        founded_ms=founded_ms,
    )


def found(*communities: Community, quorum_bp: int = 6_000, name: str = "Valley") -> tuple[Charter, bytes]:
    """Every community appends one charter naming them all: the federation is founded."""
    charter = charter_of(*communities, quorum_bp=quorum_bp, name=name)
    for community in communities:
        community.adopt(charter)
    return charter, federation_id(charter)
