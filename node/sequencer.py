"""The sequencer: the one writer of this community's feed.

How this works: API handlers verify an intent's signature and target feed (CPU work that needs no
state) and put it on a bounded queue with a future. One writer task takes everything waiting (up to
`sequencer_batch_intents_max`), validates each intent against the current state in order, signs an
event for each valid one and folds it into the state, appends checkpoints when due, and then hands
the whole batch to the store in one transaction. Only after that commit does any caller's future
resolve: an acknowledged event is durable. If the commit fails, the in-memory state goes back to the
value it had before the batch (states are immutable, so that is one assignment) and every caller of
the batch gets the error. Node-originated bodies (checkpoints, and the timer's time-driven events)
go through the same queue, so there is exactly one order of writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from tallystick.protocol import limits
from tallystick.protocol.codec import sign_event, verify_intent
from tallystick.protocol.errors import TallyError
from tallystick.protocol.events import Body, Checkpoint, Event, Intent
from tallystick.protocol.feed import FeedHead
from tallystick.protocol.ids import KeyPair, hash32

from .domain import (
    State,
    apply,
    checkpoint_due,
    intent_body,
    state_digest,
    touched_accounts,
    touched_by_body,
    validate,
)
from .errors import BusyError
from .store import Posting, Store, balance_changes


@dataclass(frozen=True)
class Appended:
    seq: int
    hash: bytes


@dataclass
class _Pending:
    intent_bytes: bytes | None
    intent: Intent | None
    make_body: Callable[[State], Body] | None
    done: asyncio.Future[Appended] = field(repr=False)


class Sequencer:
    def __init__(
        self,
        store: Store,
        key: KeyPair,
        state: State,
        head: FeedHead,
        clock_ms: Callable[[], int],
        *,
        batch_max: int = limits.sequencer_batch_intents_max,
        pending_max: int = limits.pending_intents_max,
    ) -> None:
        self.store = store
        self.key = key
        self.state = state
        self.head = head
        self.clock_ms = clock_ms
        self.batch_max = batch_max
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=pending_max)
        self.appended_total = 0
        self.refused_total = 0
        self.batches_total = 0
        self._listeners: list[Callable[[FeedHead], None]] = []
        # Checks an extension runs on each verified intent before it is queued (e.g. the federation
        # layer refusing a payment to a frozen community); each raises a TallyError to refuse it.
        self.screens: list[Callable[[Intent], None]] = []
        # The write gate: open unless held for the start-up fork-safety check or closed for good
        # (a stale or forked home). `submit` waits for it to open and then checks the refusal.
        self._gate_open = asyncio.Event()
        self._gate_open.set()
        self._refusal: TallyError | None = None

    def hold_writes(self) -> None:
        """Keep intents waiting until `open_gate` (start-up, while peers are asked about our feed)."""
        self._gate_open.clear()

    def open_gate(self) -> None:
        self._gate_open.set()

    def close_gate(self, refusal: TallyError) -> None:
        """Refuse every write from now on with `refusal` (until the node is restarted)."""
        self._refusal = refusal
        self._gate_open.set()

    @property
    def refusal(self) -> TallyError | None:
        return self._refusal

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def on_append(self, listener: Callable[[FeedHead], None]) -> None:
        """Call `listener(head)` after each committed batch (replication pushes from here)."""
        self._listeners.append(listener)

    def _enqueue(self, item: _Pending) -> asyncio.Future[Appended]:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            raise BusyError(
                f"{self._queue.maxsize} intents are waiting; retry in {limits.retry_after_seconds} s"
            ) from None
        return item.done

    async def submit(self, intent_bytes: bytes) -> Appended:
        """Verify a member's signed intent, queue it, and wait until its event is committed.
        Raises a RemoteError for bad bytes or signatures, a DomainError if the rules refuse it."""
        intent = verify_intent(intent_bytes, feed=self.head.feed)
        for screen in self.screens:
            screen(intent)
        await self._gate_open.wait()
        if self._refusal is not None:
            raise self._refusal
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        return await self._enqueue(_Pending(intent_bytes, intent, None, future))

    async def append_body(self, make_body: Callable[[State], Body]) -> Appended:
        """Append a node-originated body (e.g. a time-driven event) in the single write order;
        `make_body` sees the state the body will follow, so it can e.g. hash it."""
        await self._gate_open.wait()
        if self._refusal is not None:
            raise self._refusal
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        return await self._enqueue(_Pending(None, None, make_body, future))

    async def run(self) -> None:
        """The writer loop; runs until cancelled."""
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write_batch(batch)

    def _sign(self, state: State, head: FeedHead, body: Body, ts: int | None = None) -> tuple[bytes, Event, FeedHead]:
        seq = head.seq + 1
        ts = max(self.clock_ms(), head.ts) if ts is None else ts
        raw = sign_event(self.key, feed=head.feed, seq=seq, prev=head.head, ts=ts, body=body)
        event = Event(v=limits.protocol_version, feed=head.feed, seq=seq, prev=head.head, ts=ts, body=body, sig=raw[-64:])
        new_head = FeedHead(head.feed, seq, hash32(raw), ts, head.signing_key, head.recovery_key_hash)
        return raw, event, new_head

    async def _write_batch(self, batch: list[_Pending]) -> None:
        state, head = self.state, self.head
        rows: list[tuple[bytes, int, bytes, int, str, bytes]] = []
        touched: set[bytes] = set()
        postings: list[Posting] = []
        accepted: list[tuple[_Pending, Appended]] = []
        for item in batch:
            if item.done.cancelled():
                continue  # the caller went away before we started; nothing was appended
            # The ts this event will carry: the rules see it as "now" (a vote's deadline).
            ts = max(self.clock_ms(), head.ts)
            if item.intent is not None:
                error = validate(state, item.intent, ts)
                if error is not None:
                    self.refused_total += 1
                    item.done.set_exception(error)
                    continue
                ids = touched_accounts(state, item.intent)
                body: Body = intent_body(state, item.intent, item.intent_bytes or b"", ts)
            else:
                assert item.make_body is not None
                body = item.make_body(state)
                ids = touched_by_body(state, body)
            touched.update(ids)
            raw, event, head = self._sign(state, head, body, ts)
            before, state = state, apply(state, event, item.intent)
            changes = balance_changes(before, state, body, ids)
            if changes:
                postings.append((head.seq, changes))
            rows.append((head.feed, head.seq, head.head, event.ts, event.body.__struct_config__.tag, raw))
            accepted.append((item, Appended(head.seq, head.head)))
            if checkpoint_due(state):
                raw, event, head = self._sign(state, head, Checkpoint(state_hash=state_digest(state)))
                state = apply(state, event)
                rows.append((head.feed, head.seq, head.head, event.ts, "checkpoint", raw))
        if not rows:
            return
        try:
            await self.store.append(rows, state, touched, head, postings)
        except Exception as error:
            # Nothing of this batch is durable: answer every caller with the failure; state stays.
            for item, _ in accepted:
                if not item.done.done():
                    item.done.set_exception(error)
            raise
        self.state, self.head = state, head
        self.appended_total += len(rows)
        self.batches_total += 1
        for item, appended in accepted:
            if not item.done.done():
                item.done.set_result(appended)
        for listener in self._listeners:
            listener(head)
