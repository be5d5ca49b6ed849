"""The sequencer: the one writer of this community's feed.

How this works: API handlers verify an intent's signature and target feed (CPU work that needs no
state) and put it on a bounded queue with a future. One writer task takes everything waiting (up to
`sequencer_batch_intents_max`), validates each intent against the current state in order, signs an
event for each valid one and folds it into the state, appends checkpoints when due, and then hands
the whole batch to the store in one transaction (one `AppendBatch`, which a `BatchBuilder` collects
as the events are applied). Only after that commit does any caller's future resolve: an
acknowledged event is durable. If the commit fails, the in-memory state goes back to the
value it had before the batch (states are immutable, so that is one assignment) and every caller of
the batch gets the error. Node-originated bodies (checkpoints, and the timer's time-driven events)
go through the same queue, so there is exactly one order of writes.

Time. Each event's ts is `now_ms()`: the wall clock plus the lag of the log behind it (zero unless
the log already holds an event stamped ahead of the clock, e.g. from a run with the clock years
ahead), never before the previous event. So a jump already in the log does not stop the log's time:
it runs on from the jump at the clock's pace, and a decision's voting period measured from its event
elapses in real time. A jump must not get into the log in the first place: the sequencer refuses to
append (`clock_ahead`, 503, also the node's alert, through `refusal`) while the wall clock is more
than `clock_skew_max_ms` ahead of every time it has reason to believe (its last event, the latest
event its peers sent, which an extension reports through `peer_times`) and, once it has accepted a
clock in this run, more than `clock_jump_max_ms` ahead of that clock plus the boot clock's elapsed
time since.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from immutables import Map
from tallystick.ledger.decisions import audit_close
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import DecisionNotDueError, DomainError, NameTakenError
from tallystick.ledger.model import State
from tallystick.ledger.names import name_key
from tallystick.ledger.transition import apply, checkpoint_due, intent_body, validate
from tallystick.node.errors import BusyError, ClockAheadError
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_intent, encode, sign_event, verify_submitted_intent
from tallystick.protocol.errors import PersonalInClearError, TallyError
from tallystick.protocol.events import (
    AdmitMember,
    Body,
    Checkpoint,
    DecisionClosed,
    Event,
    Intent,
    Join,
    Propose,
    RegisterEnterprise,
)
from tallystick.protocol.feed import FeedHead
from tallystick.protocol.ids import KeyPair, hash32
from tallystick.protocol.personal import Opened, seal

from .personal import Directory, folded_key, subject_of
from .store import BatchBuilder, Store


@dataclass(frozen=True)
class Appended:
    seq: int
    hash: bytes


@dataclass
class _Pending:
    intent_bytes: bytes | None
    intent: Intent | None
    make_body: Callable[[State], Body | None] | None
    done: asyncio.Future[Appended | None] = field(repr=False)
    # An intent with personal texts: (subject, box) sealed beside it, the intent with its texts
    # in clear (what the node's own checks read), and the openings (learnt once it is durable).
    sealed: tuple[bytes, bytes] | None = None
    clear: Intent | None = None
    opened: tuple[Opened, ...] = ()


def boot_clock_ms() -> int:
    """Milliseconds on a clock that only moves forward and counts time suspended (Linux's
    CLOCK_BOOTTIME; the monotonic clock elsewhere): elapsed time, whatever the wall clock does."""
    clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
    return time.clock_gettime_ns(clock) // 1_000_000


def _date(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


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
        elapsed_ms: Callable[[], int] = boot_clock_ms,
        clock_skew_max_ms: int = limits.clock_skew_max_ms,
        clock_jump_max_ms: int = limits.clock_jump_max_ms,
        directory: Directory | None = None,
    ) -> None:
        self.store = store
        # The data keys and the texts they open (node/personal.py); None: this node takes no
        # intent with personal texts (a tool that only replays or verifies).
        self.directory = directory
        self.key = key
        self.state = state
        self.head = head
        self.clock_ms = clock_ms
        self.elapsed_ms = elapsed_ms
        self.clock_skew_max_ms = clock_skew_max_ms
        self.clock_jump_max_ms = clock_jump_max_ms
        # Each returns the latest ts this node holds from a peer (0 if none): an extension that
        # replicates registers one, so a node whose peers moved on may follow them (node/ knows no peers).
        self.peer_times: list[Callable[[], int]] = []
        # The wall clock last accepted, with the boot clock then: what this run has reason to believe.
        self._trusted: tuple[int, int] | None = None
        # How far the log's last event is ahead of the wall clock (0 unless a jump is in the log).
        self._lag_ms = max(0, head.ts - clock_ms())
        self._clock_alerted = False
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
        """Why this node appends nothing now: a closed gate, or a clock far ahead (the node's status
        shows it as an alert, and its timer appends nothing meanwhile)."""
        return self._refusal if self._refusal is not None else self.clock_refusal()

    def now_ms(self) -> int:
        """The ts the next event gets: the wall clock plus the log's lag (never before the last event)."""
        clock = self.clock_ms()
        self._lag_ms = max(self._lag_ms, self.head.ts - clock)
        return clock + self._lag_ms

    def clock_refusal(self) -> ClockAheadError | None:
        """A `clock_ahead` error if the wall clock is far ahead of every time this node has reason
        to believe (see the module's comment), else None (and this clock is trusted from now on)."""
        clock, elapsed = self.clock_ms(), self.elapsed_ms()
        believed = max([self.head.ts, *(peer_time() for peer_time in self.peer_times)])
        allowed = believed + self.clock_skew_max_ms
        if self._trusted is not None:
            trusted_clock, trusted_elapsed = self._trusted
            allowed = max(allowed, trusted_clock + (elapsed - trusted_elapsed) + self.clock_jump_max_ms)
        if clock <= allowed:
            self._trusted = (clock, elapsed)
            if self._clock_alerted:
                self._clock_alerted = False
                print("tally: the clock is back within bounds; appending again", file=sys.stderr, flush=True)
            return None
        error = ClockAheadError(
            f"this node's clock ({_date(clock)}) is {(clock - believed) / 86_400_000:.1f} days ahead of its last event "
            f"and its peers' ({_date(believed)}); it appends nothing until the clock is right: fix it (NTP); "
            "if it is right, see clock_ahead in docs/operator.md"
        )
        if not self._clock_alerted:
            self._clock_alerted = True
            print(f"tally: clock_ahead: {error.message}", file=sys.stderr, flush=True)
        return error

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def on_append(self, listener: Callable[[FeedHead], None]) -> None:
        """Call `listener(head)` after each committed batch (replication pushes from here)."""
        self._listeners.append(listener)

    def _enqueue(self, item: _Pending) -> asyncio.Future[Appended | None]:
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
        submitted = verify_submitted_intent(intent_bytes, feed=self.head.feed)
        intent = submitted.intent
        if submitted.in_clear:
            raise PersonalInClearError(
                "this intent carries a name, memo or text in clear, which the log would show to every "
                "replica; send it opened (docs/protocol.md §19): upgrade the client"
            )
        for screen in self.screens:
            screen(intent)
        if isinstance(intent.action, Join):
            # Anyone may sign a join: refuse one that names no open invitation (its rules but the
            # name's, which the writer checks) before a data key is made for its new member.
            error = validate(self.state, intent, max(self.now_ms(), self.head.ts))
            if error is not None:
                raise error
        sealed = clear = None
        if submitted.opened:
            if self.directory is None:
                raise PersonalInClearError("this node keeps no personal data; send the intent without texts")
            # Each text within its field's bounds: the clear form decodes as an intent would.
            clear = decode_intent(encode(submitted.clear))
            subject = subject_of(self.state, intent)
            key = await self.directory.keys.create(subject)  # durable before the event can be
            sealed = (subject, seal(key, list(submitted.opened)))
        await self._gate_open.wait()
        if self._refusal is not None:
            raise self._refusal
        # The clock is checked once per batch by the writer (`_write_batch`), which answers
        # `clock_ahead` to every intent of a batch it will not append.
        future: asyncio.Future[Appended | None] = asyncio.get_running_loop().create_future()
        appended = await self._enqueue(_Pending(submitted.intent_bytes, intent, None, future, sealed, clear,
                                                submitted.opened))
        assert appended is not None, "an accepted intent is appended"
        return appended

    async def append_body(self, make_body: Callable[[State], Body | None]) -> Appended | None:
        """Append a node-originated body (e.g. a time-driven event) in the single write order;
        `make_body` sees the state the body will follow, so it can e.g. hash it. None from it, or a
        decision's close that is not due at the event's ts, appends nothing and answers None; so
        does a clock far ahead (`clock_ahead`: the node's own time-driven events wait for the clock,
        without failing the task that asked)."""
        await self._gate_open.wait()
        if self._refusal is not None:
            raise self._refusal
        if self.clock_refusal() is not None:
            return None  # nothing is appended while the clock is ahead; the alert says why
        future: asyncio.Future[Appended | None] = asyncio.get_running_loop().create_future()
        return await self._enqueue(_Pending(None, None, make_body, future))

    async def run(self) -> None:
        """The writer loop; runs until cancelled."""
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write_batch(batch)

    def _check_texts(self, state: State, item: _Pending, ts: int, batch_names: dict[str, bytes]) -> TallyError | None:
        """The rules that read personal texts, which only this node can check (docs/protocol.md
        §19.4): the ledger's own checks run on the intent with its texts in clear, against every
        name this node can open (and those admitted earlier in the batch)."""
        intent = item.clear or item.intent
        action = None if intent is None else intent.action
        if self.directory is None or not isinstance(action, AdmitMember | Join | Propose | RegisterEnterprise):
            return None  # a memo has no rule but its length, which decoding checked
        if not isinstance(action, RegisterEnterprise) and item.clear is None:
            return None  # nothing committed: the ledger's own checks read it all
        # An enterprise's name is in clear, but it must not look like a member's committed one.
        names = self.directory.names(state) | batch_names
        error = validate(msgspec.structs.replace(state, names=Map(names)), intent, ts)  # type: ignore[arg-type]
        named = action.name if isinstance(action, AdmitMember | Join | RegisterEnterprise) else None
        if error is None and isinstance(named, str):
            # Stricter than the ledger's key, which folds case after the look-alike letters, so that
            # "ALICE" (I like l) passes beside "Alice": the node also compares the names case-folded first.
            if self.directory.looks_taken(state, named, batch_names):
                error = NameTakenError(
                    "that name looks like the name of a member or an enterprise already here; choose another "
                    "(add a surname)"
                )
            else:
                batch_names[name_key(named)] = action.member if isinstance(action, AdmitMember | Join) else b""
                batch_names[folded_key(named)] = batch_names[name_key(named)]
        return error

    def _sign(self, state: State, head: FeedHead, body: Body, ts: int | None = None) -> tuple[bytes, Event, FeedHead]:
        seq = head.seq + 1
        ts = max(self.now_ms(), head.ts) if ts is None else ts
        raw = sign_event(self.key, feed=head.feed, seq=seq, prev=head.head, ts=ts, body=body)
        event = Event(v=limits.protocol_version, feed=head.feed, seq=seq, prev=head.head, ts=ts, body=body, sig=raw[-64:])
        new_head = FeedHead(head.feed, seq, hash32(raw), ts, head.signing_key, head.recovery_key_hash)
        return raw, event, new_head

    async def _write_batch(self, batch: list[_Pending]) -> None:
        state, head = self.state, self.head
        built = BatchBuilder(state)
        accepted: list[tuple[_Pending, Appended]] = []
        batch_names: dict[str, bytes] = {}  # names admitted earlier in this batch, by name key
        clock_refusal = self.clock_refusal()
        for item in batch:
            if item.done.cancelled():
                continue  # the caller went away before we started; nothing was appended
            if clock_refusal is not None:
                if item.intent is not None:
                    item.done.set_exception(clock_refusal)
                else:
                    item.done.set_result(None)
                continue
            # The ts this event will carry: the rules see it as "now" (a vote's deadline).
            ts = max(self.now_ms(), head.ts)
            if item.intent is not None:
                error = self._check_texts(state, item, ts, batch_names) or validate(state, item.intent, ts)
                if error is not None:
                    self.refused_total += 1
                    item.done.set_exception(error)
                    continue
                body: Body = intent_body(state, item.intent, item.intent_bytes or b"", ts, item.sealed)
            else:
                assert item.make_body is not None
                made = item.make_body(state)
                if made is None:
                    item.done.set_result(None)
                    continue
                body = made
            raw, event, signed_head = self._sign(state, head, body, ts)
            if isinstance(body, DecisionClosed):
                # Checked as every replica will: a close due early (by unanimity) whose vote
                # changed since, is not due at this ts; the timer asks again later.
                try:
                    audit_close(state, event)
                except DecisionNotDueError:
                    item.done.set_result(None)
                    continue
                except DomainError as error:
                    item.done.set_exception(error)
                    continue
            head = signed_head
            state = apply(state, event, item.intent)
            built.add(state, event, raw, head.head, item.intent)
            accepted.append((item, Appended(head.seq, head.head)))
            if checkpoint_due(state):
                raw, event, head = self._sign(state, head, Checkpoint(state_hash=state_digest(state)))
                state = apply(state, event)
                built.add(state, event, raw, head.head, None)
        if not built.rows:
            return
        appended = built.batch(head)
        try:
            await self.store.append_batch(appended)
        except Exception as error:
            # Nothing of this batch is durable: answer every caller with the failure; state stays.
            for item, _ in accepted:
                if not item.done.done():
                    item.done.set_exception(error)
            raise
        self.state, self.head = state, head
        if self.directory is not None:
            for item, _ in accepted:
                if item.sealed is not None:
                    self.directory.learn_opened(item.sealed[0], item.opened)
        self.appended_total += len(appended.rows)
        self.batches_total += 1
        for item, done in accepted:
            if not item.done.done():
                item.done.set_result(done)
        for listener in self._listeners:
            listener(head)
