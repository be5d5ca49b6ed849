"""Refolding a feed from its log: what `tally verify`, `tally rebuild` and replicas share.

How this works: a feed is read from the store in bounded batches. With `verify=True` each batch goes
through the protocol's `verify_batch` (every link and canonical encoding; the author's signature once
per batch) and every member intent's signature is checked; without it (rebuild of our own trusted
log) only the decoding and the domain rules run. Either way every event passes the domain's `audit`,
so a log that breaks a rule of mutual credit or carries a wrong checkpoint is refused, and the error
names the event's seq.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable

from tallystick.ledger.model import State, initial_state
from tallystick.ledger.transition import audit
from tallystick.protocol.codec import decode_event, decode_intent, verify_intent
from tallystick.protocol.errors import RemoteError, TallyError
from tallystick.protocol.events import Act, Genesis, Intent
from tallystick.protocol.federation import PaymentOut
from tallystick.protocol.feed import FeedHead, check_links, start_feed, verify_batch, verify_next
from tallystick.protocol.ids import hash32

from .store import AppendBatch, BatchBuilder, Posting, Store, StoredEvent, opening_postings

# Threads that check member signatures during `tally verify`, beside the fold in the main thread.
verify_threads = 2


class LogCorruptError(RemoteError):
    """An event in the store does not verify: the file was altered, or a bug wrote it."""

    code = "log_corrupt"

    def __init__(self, seq: int, reason: TallyError | str) -> None:
        reason_text = reason.message if isinstance(reason, TallyError) else reason
        code = reason.code if isinstance(reason, TallyError) else "log_corrupt"
        super().__init__(f"event {seq} fails verification: {reason_text} ({code})", seq=seq, reason=code)
        self.seq = seq


def _intent_of(event_body: object, feed: bytes, verify: bool) -> Intent | None:
    """The member intent an event carries (an `act`, or a `payment_sent`), or None."""
    if not isinstance(event_body, (Act, PaymentOut)):
        return None
    return verify_intent(event_body.intent, feed=feed) if verify else decode_intent(event_body.intent)


def start(genesis: StoredEvent) -> tuple[State, FeedHead]:
    if hash32(genesis.bytes) != genesis.hash:
        raise LogCorruptError(1, "its stored hash is not the hash of its bytes")
    try:
        head, event = start_feed(genesis.bytes)
    except TallyError as error:
        raise LogCorruptError(1, error) from None
    assert isinstance(event.body, Genesis)
    return initial_state(head.feed, event.body), head


def fold_batch(
    state: State,
    head: FeedHead,
    batch: list[StoredEvent],
    *,
    verify: bool,
    last_of_feed: bool = True,
    intents_checked: bool = False,
    postings: list[Posting] | None = None,
) -> tuple[State, FeedHead]:
    """Check and apply a contiguous batch after `head`. Raises LogCorruptError naming the event.
    The author's signature is checked on the batch's last event only if it is the feed's last
    (`last_of_feed`): the hash chain carries that one signature back over the whole feed. With a
    `postings` list, each event's balance changes are added to it (what a rebuild stages)."""
    try:
        if last_of_feed:
            new_head, events = verify_batch(head, [stored.bytes for stored in batch])
        else:
            new_head, events, _key = check_links(head, [stored.bytes for stored in batch])
    except TallyError as error:
        raise LogCorruptError(_first_bad_seq(head, batch), error) from None
    built = BatchBuilder(state, postings_only=True) if postings is not None else None
    for stored, event in zip(batch, events, strict=True):
        if stored.seq != event.seq or (verify and hash32(stored.bytes) != stored.hash):
            raise LogCorruptError(stored.seq, "its stored seq or hash does not match its bytes")
        intent = _intent_of(event.body, head.feed, verify and not intents_checked)
        try:
            state = audit(state, event, intent)
        except TallyError as error:
            raise LogCorruptError(event.seq, error) from None
        if built is not None:
            built.add(state, event, stored.bytes, stored.hash, intent)
    if built is not None and postings is not None:
        postings += built.postings
    return state, new_head


def _first_bad_seq(head: FeedHead, batch: list[StoredEvent]) -> int:
    """Which event of a failed batch is at fault: re-check one by one to name it."""
    current = head
    for stored in batch:
        try:
            current, _ = verify_next(current, stored.bytes)
        except TallyError:
            return stored.seq
    return batch[-1].seq


async def refold(
    store: Store,
    feed: bytes,
    *,
    verify: bool,
    progress: Callable[[int], None] | None = None,
    on_postings: Callable[[list[Posting]], Awaitable[None]] | None = None,
) -> tuple[State, FeedHead]:
    """Fold the whole feed from seq 1. `progress(n)` is called after each batch of n events, and
    `on_postings(postings)` (if given) is awaited with each batch's balance changes, in seq order.

    Three things overlap: the store reads the next batch in its thread, a thread pool checks this
    batch's member signatures (PyNaCl releases the GIL, so that runs on the other core), and this
    thread folds the batch. A batch whose signatures fail is folded again with every check in line,
    to name the event at fault."""
    state: State | None = None
    head: FeedHead | None = None
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(verify_threads, thread_name_prefix="verify") as pool:
        batches = aiter(store.iterate_log(feed))
        batch = await anext(batches, None)
        while batch is not None:
            reading = asyncio.ensure_future(anext(batches, None))
            checking = (
                loop.run_in_executor(pool, verify_intent_signatures, feed, [stored.bytes for stored in batch])
                if verify
                else None
            )
            try:
                postings: list[Posting] | None = [] if on_postings is not None else None
                if state is None or head is None:
                    state, head = start(batch[0])
                    batch = batch[1:]
                    if postings is not None:
                        postings += opening_postings(state)
                    if progress:
                        progress(1)
                following_is_last = None
                if batch:
                    if batch[0].seq != head.seq + 1:
                        raise LogCorruptError(head.seq + 1, "an event is missing from the log")
                    # Whether this batch is the feed's last decides whose signature is checked.
                    following = await reading
                    following_is_last = following is None
                    before = (state, head)
                    state, head = fold_batch(
                        state, head, batch, verify=verify, last_of_feed=following_is_last, intents_checked=verify,
                        postings=postings,
                    )
                    if checking is not None:
                        try:
                            await checking
                        except TallyError:
                            fold_batch(*before, batch, verify=True, last_of_feed=following_is_last)
                            raise LogCorruptError(batch[-1].seq, "a member intent signature does not verify") from None
                else:
                    following = await reading
                    if checking is not None:
                        await checking
                if on_postings is not None and postings:
                    await on_postings(postings)
                if progress:
                    progress(len(batch))
                batch = following
            finally:
                reading.cancel()
                if checking is not None:
                    # On an early error the check's own outcome is moot: retrieve it, never leak it.
                    checking.add_done_callback(_retrieve)
    if state is None or head is None:
        raise LogCorruptError(1, "the log has no genesis")
    return state, head


def _retrieve(future: asyncio.Future[int]) -> None:
    if not future.cancelled():
        future.exception()




def verify_intent_signatures(feed: bytes, batch: list[bytes]) -> int:
    """Check every member intent signature in a batch of `feed`'s events; the stateless, costly
    half of receiving, which bulk catch-up runs in a process pool. Returns the intents checked."""
    checked = 0
    for raw in batch:
        body = decode_event(raw).body
        if isinstance(body, (Act, PaymentOut)):
            verify_intent(body.intent, feed=feed)
            checked += 1
    return checked


def fold_received(
    state: State, head: FeedHead, batch: list[bytes], *, intents_verified: bool = False
) -> AppendBatch:
    """Verify a contiguous batch from a peer (links, canonical bytes, the author's signature once,
    every member intent's signature unless `verify_intent_signatures` already ran on these very
    bytes) and audit it with the domain's rules. Raises a TallyError (a RemoteError for bad data, a
    DomainError for a rule broken), and nothing is kept."""
    new_head, events = verify_batch(head, batch)
    # Each event's hash is the next one's `prev` (verify_batch checked every link), the last one's
    # the new head's: no second hash of every event.
    hashes = [event.prev for event in events[1:]] + [new_head.head] if events else []
    built = BatchBuilder(state)
    for raw, event, hash_ in zip(batch, events, hashes, strict=True):
        intent = _intent_of(event.body, head.feed, not intents_verified)
        built.add(audit(built.state, event, intent), event, raw, hash_, intent)
    return built.batch(new_head)


def start_received(genesis_bytes: bytes) -> AppendBatch:
    """A feed's genesis from a peer: verified, and the first state and head it gives."""
    head, event = start_feed(genesis_bytes)
    assert isinstance(event.body, Genesis)
    return AppendBatch.genesis(initial_state(head.feed, event.body), head, event.ts, genesis_bytes)


async def rebuild(
    store: Store, feed: bytes, progress: Callable[[int], None] | None = None
) -> tuple[State, FeedHead]:
    """`tally rebuild`: refold `feed` from its log (trusted: no signature checks) and replace its
    projections with the result in one transaction, the postings staged batch by batch meanwhile."""
    await store.start_staging_postings()

    async def stage(postings: list[Posting]) -> None:
        await store.stage_postings(feed, postings)

    state, head = await refold(store, feed, verify=False, progress=progress, on_postings=stage)
    await store.replace_projections(state, head)
    return state, head
