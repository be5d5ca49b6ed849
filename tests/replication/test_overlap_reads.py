"""A run that overlaps what a node holds is compared with the held events in one read of the store,
not in one read per event (replication/ingest.py, `Holdings._drop_overlap`).

Peers link both ways, so a node catching up a long feed from a peer is also pushed that feed by the
peer: the pushed runs and the pulled batches overlap, often whole. Before the fix, each overlapping
event cost its own `Store.event_at` (a thread hop to the reader) while the replica's lock was held:
0.1 to 0.35 s for a run of 256 in the bench's catch-up (bench/replication.py), which halved the
catch-up rate. The comparison must still be byte for byte: a different event, signed by the feed's
key, at a held seq is a fork, proven and frozen.

The world of each test: a real home, store and running Sequencer in the test's process
(helpers/sequencer.py), and `Holdings` taking a feed made by FeedBuilder, as a configured peer's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import Store
from tallystick.protocol.events import AdmitMember
from tallystick.protocol.ids import KeyPair
from tallystick.protocol.wire import Events
from tallystick.replication.errors import FeedFrozenError, HeldEventsUnreadError
from tallystick.replication.ingest import Holdings

from helpers.replication import FeedBuilder
from helpers.sequencer import running_node

feed_events = 256  # one run of replication_batch_events_max


def counting(calls: list[str], name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return await method(*args, **kwargs)

    return counted


def count_log_reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of the store's reads of stored events from now on, by name."""
    calls: list[str] = []
    for name in ("event_at", "read_log"):
        monkeypatch.setattr(store, name, counting(calls, name, getattr(store, name)))
    return calls


def peer_feed() -> FeedBuilder:
    feed = FeedBuilder("Peer")
    while len(feed.events) < feed_events:
        feed.admit(f"m{len(feed.events)}")
    return feed


async def holdings_of(store: Store, sequencer: Sequencer, feed: FeedBuilder) -> Holdings:
    holdings = Holdings(follow=None, feeds_held_max=10, peer_feeds=lambda: {feed.feed}, wake_peers=lambda: None)
    await holdings.start(store, sequencer)
    return holdings


async def test_a_run_held_whole_is_compared_in_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = peer_feed()
    async with running_node(tmp_path, debit_limit_minor=0, credit_ceiling_minor=10**9) as (store, sequencer, *_):
        holdings = await holdings_of(store, sequencer, feed)
        assert await holdings.ingest(Events(feed.feed, 1, feed.events), vouched=True) == feed_events
        reads = count_log_reads(store, monkeypatch)
        # The same run again (a push of what a pull already stored): nothing new, every event compared.
        assert await holdings.ingest(Events(feed.feed, 1, feed.events), vouched=True) == feed_events
        assert len(reads) == 1, reads


async def test_a_run_partly_held_is_compared_in_one_read_and_its_rest_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = peer_feed()
    async with running_node(tmp_path, debit_limit_minor=0, credit_ceiling_minor=10**9) as (store, sequencer, *_):
        holdings = await holdings_of(store, sequencer, feed)
        assert await holdings.ingest(Events(feed.feed, 1, feed.events[:200]), vouched=True) == 200
        reads = count_log_reads(store, monkeypatch)
        # 101..256: 100 events held, 56 new.
        assert await holdings.ingest(Events(feed.feed, 101, feed.events[100:]), vouched=True) == feed_events
        assert reads == ["read_log"]
        assert await store.event_at(feed.feed, feed_events) == feed.events[-1]


async def test_another_event_at_a_held_seq_inside_the_overlap_is_a_fork(tmp_path: Path) -> None:
    feed = peer_feed()
    async with running_node(tmp_path, debit_limit_minor=0, credit_ceiling_minor=10**9) as (store, sequencer, *_):
        holdings = await holdings_of(store, sequencer, feed)
        assert await holdings.ingest(Events(feed.feed, 1, feed.events), vouched=True) == feed_events
        # The feed's own key signs another event at seq 200, after the same seq 199.
        other = feed.next_event(
            feed.act_body(feed.admin_key, AdmitMember(member=KeyPair.generate().public, name="mallory")),
            after=feed.events[:199],
        )
        assert other != feed.events[199]
        run = [*feed.events[128:199], other]  # 129..200, the last one forked
        with pytest.raises(FeedFrozenError):
            await holdings.ingest(Events(feed.feed, 129, run), vouched=True)
        assert feed.feed in holdings.frozen
        assert [(fork_feed, seq) for fork_feed, seq, _proof in await store.forks()] == [(feed.feed, 200)]


async def test_a_read_that_misses_held_events_takes_nothing_rather_than_passing_a_fork_unseen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store read that answers fewer of the overlap's events than the replica holds (a fault
    injected here: it should never happen) must not let the run through uncompared: once, a fork
    pushed at seq 2 was answered 200 (tests/replication/test_lying_peer.py)."""
    feed = peer_feed()
    async with running_node(tmp_path, debit_limit_minor=0, credit_ceiling_minor=10**9) as (store, sequencer, *_):
        holdings = await holdings_of(store, sequencer, feed)
        assert await holdings.ingest(Events(feed.feed, 1, feed.events[:2]), vouched=True) == 2
        other = feed.next_event(
            feed.act_body(feed.admin_key, AdmitMember(member=KeyPair.generate().public, name="mallory")),
            after=feed.events[:1],
        )

        async def answers_nothing(*args: Any, **kwargs: Any) -> list[Any]:
            return []

        monkeypatch.setattr(store, "read_log", answers_nothing)
        with pytest.raises(HeldEventsUnreadError):
            await holdings.ingest(Events(feed.feed, 2, [other]), vouched=True)
        monkeypatch.undo()
        assert holdings.replicas[feed.feed].head.seq == 2 and await store.event_at(feed.feed, 2) == feed.events[1]
        with pytest.raises(FeedFrozenError):  # read again, the fork is seen and proven
            await holdings.ingest(Events(feed.feed, 2, [other]), vouched=True)
