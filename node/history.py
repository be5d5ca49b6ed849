"""Balances over time, for the pages: each account's balance and the community's credit in
circulation (the sum of positive balances) and treasury, as the log made them.

How this works: the store keeps balances as they are now, and the log has no index by account, so
a balance at an earlier time can only come from folding the log. A worker process (one per node,
started the first time a page asks) folds the node's own feed from its genesis with the domain's
`apply`, reading the database read-only in batches, exactly as a rebuild would, and notes the
balance of every account an event touched (the ids the store writes projection rows for:
`touched_accounts`, `touched_by_body` and the closings of offers and withdrawals). It keeps a
bounded sample, never every posting: at most `account_points_max` points an account and
`community_points_max` points of the community's totals; when a series is full every other point is
dropped and the series keeps one posting in twice as many from then on, so a series always spans
the whole history evenly by postings, and each point is an exact balance after an exact event.
Pages ask the worker for a series; it first folds at most `request_fold_events_max` new events,
so a page never waits long, and a background task of the node folds the rest in slices. The fold
is in memory and starts again from the genesis when the node restarts (about 40,000 events a second
on this machine, on the other core: 25 s for 1,000,000 events); a `postings (feed, account, seq,
balance)` projection written with the log would make all of this a bounded indexed query
(docs/pages.md says so).
"""

from __future__ import annotations

import array
import asyncio
import concurrent.futures
import concurrent.futures.process
import contextlib
import logging
import multiprocessing
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tallystick.protocol.codec import decode_event, decode_intent
from tallystick.protocol.events import Act, Genesis, OfferClosed, WithdrawalDue
from tallystick.protocol.federation import PaymentOut
from tallystick.protocol.ids import hash32

from .domain import State, apply, initial_state, touched_accounts, touched_by_body
from .shares import touched_by_offer_close, touched_by_withdrawal

log = logging.getLogger("tallystick.pages")
# Points kept per account: a plot needs no more; 10,000 accounts full cost ~30 MB in the worker.
account_points_max = 128
# Points kept of the community's totals (credit in circulation, treasury).
community_points_max = 256
# Events read from the log per batch (one SELECT; bounded memory in the worker).
fold_batch_events = 5_000
# Events a page's request folds before it is answered: ~25 µs each, so ~50 ms at most.
request_fold_events_max = 2_000
# How often the worker checks that the node that started it is still its parent.
orphan_check_seconds = 1.0
# Events per call of the background fold: short, so a page's request queued behind it waits little.
background_fold_events = 2_000


@dataclass
class Samples:
    """Every `stride`-th point of a stream (seq, ts, value), at most `limit` kept, and the last one."""

    limit: int
    stride: int = 1
    seen: int = 0
    points: array.array = field(default_factory=lambda: array.array("q"))
    last: tuple[int, int, int] | None = None

    def add(self, seq: int, ts: int, value: int) -> None:
        self.last = (seq, ts, value)
        if self.seen % self.stride == 0:
            self.points.extend((seq, ts, value))
            if len(self.points) >= 3 * self.limit:  # full: keep every other point, sample half as often
                kept = array.array("q")
                for index in range(0, len(self.points), 6):
                    kept.extend(self.points[index : index + 3])
                self.points = kept
                self.stride *= 2
        self.seen += 1

    def series(self) -> list[tuple[int, int, int]]:
        """The kept points in order, ending with the last value seen."""
        found = [tuple(self.points[i : i + 3]) for i in range(0, len(self.points), 3)]
        if self.last is not None and (not found or found[-1][0] != self.last[0]):
            found.append(self.last)
        return found  # type: ignore[return-value]


@dataclass
class BalanceFold:
    """The fold of one feed: the domain state it reached and the samples taken on the way."""

    feed: bytes
    state: State | None = None
    seq: int = 0
    ts: int = 0
    positive_total: int = 0
    accounts: dict[bytes, Samples] = field(default_factory=dict)
    circulation: Samples = field(default_factory=lambda: Samples(community_points_max))
    treasury: Samples = field(default_factory=lambda: Samples(community_points_max))

    def fold(self, rows: list[tuple[int, int, bytes]]) -> None:
        """Apply the log rows (seq, ts, bytes) that follow `seq`, in order."""
        for seq, ts, raw in rows:
            assert seq == self.seq + 1, f"the history fold expected event {self.seq + 1}, read {seq}"
            event = decode_event(raw)
            if self.state is None:
                assert isinstance(event.body, Genesis)
                self.state = initial_state(hash32(raw), event.body)
                touched: set[bytes] = set(self.state.accounts.keys())
                before: dict[bytes, int] = {}
            else:
                state = self.state
                body = event.body
                intent = decode_intent(body.intent) if isinstance(body, (Act, PaymentOut)) else None
                ids = touched_accounts(state, intent) if intent is not None else touched_by_body(state, body)
                if isinstance(body, OfferClosed):
                    ids = [*ids, *touched_by_offer_close(state, body.offer)]
                elif isinstance(body, WithdrawalDue):
                    ids = [*ids, *touched_by_withdrawal(state, body.withdrawal)]
                touched = {i for i in ids if type(i) is bytes}
                before = {i: state.accounts[i].balance_minor for i in touched if i in state.accounts}
                self.state = apply(state, event, intent)
                if isinstance(body, OfferClosed):  # what the closing paid out, by the state after it too
                    touched.update(i for i in touched_by_offer_close(self.state, body.offer) if type(i) is bytes)
                    before.update({i: state.accounts[i].balance_minor for i in touched if i in state.accounts and i not in before})
            accounts = self.state.accounts
            for account_id in touched:
                if account_id not in accounts:
                    continue
                after = accounts[account_id].balance_minor
                was = before.get(account_id)
                if was == after:
                    continue
                self.positive_total += max(after, 0) - max(was or 0, 0)
                samples = self.accounts.get(account_id)
                if samples is None:
                    samples = self.accounts[account_id] = Samples(account_points_max)
                samples.add(seq, ts, after)
            self.seq, self.ts = seq, ts
            self.circulation.add(seq, ts, self.positive_total)
            treasury = self.state.treasury
            if treasury is not None and treasury in accounts:
                self.treasury.add(seq, ts, accounts[treasury].balance_minor)


class _Worker:
    """What the worker process holds: the fold of each database it was asked about, and a read-only
    connection to it. One instance per worker process (set by `_start_worker`), never in the node."""

    def __init__(self) -> None:
        self.folds: dict[str, tuple[sqlite3.Connection, BalanceFold]] = {}

    def advance(self, database: str, feed: bytes, events_max: int) -> BalanceFold:
        if database not in self.folds:
            connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, check_same_thread=False)
            self.folds[database] = (connection, BalanceFold(feed))
        connection, fold = self.folds[database]
        remaining = events_max
        while remaining > 0:
            batch = min(remaining, fold_batch_events)
            rows = connection.execute(
                "SELECT seq, ts, bytes FROM log WHERE feed = ? AND seq > ? ORDER BY seq LIMIT ?", (feed, fold.seq, batch)
            ).fetchall()
            fold.fold([(seq, ts, bytes(raw)) for seq, ts, raw in rows])
            remaining -= batch
            if len(rows) < batch:
                break
        return fold


_worker: _Worker | None = None  # set in the worker process only, by the pool's initializer


def _start_worker() -> None:
    global _worker  # the worker process's one piece of state
    _worker = _Worker()
    # A node killed with SIGKILL never shuts its pool down: the worker notices it was orphaned and
    # exits, rather than outlive the node holding its memory and a reader of its database.
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), name="orphan watch", daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(orphan_check_seconds)
    os._exit(0)


def _advance(database: str, feed: bytes, events_max: int) -> int:
    assert _worker is not None
    return _worker.advance(database, feed, events_max).seq


def _community_series(database: str, feed: bytes, events_max: int) -> dict[str, Any]:
    assert _worker is not None
    fold = _worker.advance(database, feed, events_max)
    return {"seq": fold.seq, "ts": fold.ts, "circulation": fold.circulation.series(),
            "treasury": fold.treasury.series()}


def _account_series(database: str, feed: bytes, account: bytes, events_max: int) -> dict[str, Any]:
    assert _worker is not None
    fold = _worker.advance(database, feed, events_max)
    samples = fold.accounts.get(account)
    return {"seq": fold.seq, "ts": fold.ts, "points": samples.series() if samples is not None else [],
            "stride": samples.stride if samples is not None else 1}


def _log_failure(task: asyncio.Task[None]) -> None:
    """The background fold only gets ahead of the pages, which fold for themselves too: its failure
    is logged, and the next page's request starts it again."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the history fold failed", exc_info=task.exception())


class History:
    """The node's side of the worker: started on first use, stopped with the app."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._background: asyncio.Task[None] | None = None
        self._database = ""
        self._feed = b""

    def _ready(self, database: str, feed: bytes) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the node has threads (aiosqlite's), which a fork would copy mid-step.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker)
            self._database, self._feed = database, feed
        return self._pool

    async def _call(self, database: str, feed: bytes, function: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._ready(database, feed), function, database, feed, *args)
        except concurrent.futures.process.BrokenProcessPool:
            # The worker died (killed, out of memory): a new one folds again from the genesis.
            log.warning("the history worker died; starting another, which reads the log again")
            broken, self._pool = self._pool, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            return await loop.run_in_executor(self._ready(database, feed), function, database, feed, *args)

    def _follow(self, head_seq: int, folded_seq: int) -> None:
        """Fold the rest in the background, in slices, when a page found the fold behind."""
        if folded_seq >= head_seq or (self._background is not None and not self._background.done()):
            return
        self._background = asyncio.create_task(self._fold_until(head_seq), name="history fold")
        self._background.add_done_callback(_log_failure)

    async def _fold_until(self, head_seq: int) -> None:
        seq = 0
        while seq < head_seq:
            reached = await self._call(self._database, self._feed, _advance, background_fold_events)
            if reached == seq:
                return  # the log holds no more than this yet
            seq = reached

    async def community(self, database: str, feed: bytes, head_seq: int) -> dict[str, Any]:
        """Credit in circulation and the treasury's balance after sampled events, up to `seq`."""
        found = await self._call(database, feed, _community_series, request_fold_events_max)
        self._follow(head_seq, found["seq"])
        return found

    async def account(self, database: str, feed: bytes, head_seq: int, account: bytes) -> dict[str, Any]:
        """One account's balance after sampled events that changed it, up to `seq`."""
        found = await self._call(database, feed, _account_series, account, request_fold_events_max)
        self._follow(head_seq, found["seq"])
        return found

    async def wait_for_fold(self, database: str, feed: bytes, head_seq: int) -> int:
        """Fold up to `head_seq` now (for tests and the bench); returns the seq reached."""
        seq = 0
        while seq < head_seq:
            reached = await self._call(database, feed, _advance, background_fold_events)
            if reached == seq:
                break
            seq = reached
        return seq

    async def close(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
