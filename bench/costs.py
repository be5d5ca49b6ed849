"""What each step of appending and refolding one event costs, in microseconds of CPU.

How this works: each step the sequencer and the refold run per event (decode, verify, validate,
apply, sign, hash, the store's insert) is timed alone over the same few thousand real transfer
intents, by `time.process_time`, best of several runs, so that other processes on a busy machine
barely move it. The sum says what a perfect pipeline of these steps would reach; the gap between it
and a section's figure is the plumbing (asyncio tasks and futures, HTTP, thread hops, waiting on
commits). docs/performance.md uses this table to say which part costs what.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tallystick.ledger.changes import Changes, of_intent
from tallystick.ledger.digest import state_digest
from tallystick.ledger.transition import apply, audit, validate
from tallystick.node.replay import fold_received
from tallystick.node.store import AppendBatch, LogRow
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_intent, sign_event, signable_intent
from tallystick.protocol.events import Act, Event
from tallystick.protocol.feed import FeedHead, verify_batch
from tallystick.protocol.ids import hash32, verify_signature

from .homes import admitted_home, fresh_nonce_base, members_default, open_sequencer, transfer_plan

# Runs of each step over the sample (the fastest is kept).
runs = 5


def _microseconds_each(step: Callable[[], None], count: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.process_time_ns()
        step()
        best = min(best, (time.process_time_ns() - started) / count / 1000)
    return best


async def stage_costs(folder: Path, sample_intents: int) -> dict[str, float]:
    """Microseconds of CPU per event for each step, over `sample_intents` transfers among the
    bench's members."""
    home = await admitted_home(folder / "costs-home", members_default)
    store, sequencer = await open_sequencer(home)
    state, head, key = sequencer.state, sequencer.head, sequencer.key
    intents = transfer_plan(head.feed, members_default, 0, sample_intents, fresh_nonce_base)
    decoded = [decode_intent(intent) for intent in intents]
    # A real chain of events after the current head, as the sequencer would sign them.
    events: list[Event] = []
    raws: list[bytes] = []
    chain = head
    for intent_bytes in intents:
        body = Act(intent=intent_bytes)
        raw = sign_event(key, feed=chain.feed, seq=chain.seq + 1, prev=chain.head, ts=chain.ts, body=body)
        events.append(Event(v=limits.protocol_version, feed=chain.feed, seq=chain.seq + 1, prev=chain.head,
                            ts=chain.ts, body=body, sig=raw[-64:]))
        raws.append(raw)
        chain = FeedHead(chain.feed, chain.seq + 1, hash32(raw), chain.ts, chain.signing_key, chain.recovery_key_hash)
    count = len(intents)

    def each(step: Callable[..., object], *columns: list) -> Callable[[], None]:
        def run() -> None:
            for row in zip(*columns, strict=True):
                step(*row)
        return run

    def fold() -> None:
        folded = state
        for event, intent in zip(events, decoded, strict=True):
            folded = apply(folded, event, intent)

    def audit_fold() -> None:
        folded = state
        for event, intent in zip(events, decoded, strict=True):
            folded = audit(folded, event, intent)

    costs = {
        "decode_intent (decode, re-encode, compare)": _microseconds_each(each(decode_intent, intents), count),
        "verify the member's intent signature": _microseconds_each(
            each(lambda raw, intent: verify_signature(intent.key, signable_intent(raw), intent.sig), intents, decoded),
            count),
        "validate (domain rules)": _microseconds_each(each(lambda intent: validate(state, intent), decoded), count),
        "changes.of_intent (the rows an intent changes)": _microseconds_each(
            each(lambda intent: of_intent(state, intent), decoded), count),
        "sign_event (encode, Ed25519 sign)": _microseconds_each(
            each(lambda event: sign_event(key, feed=event.feed, seq=event.seq, prev=event.prev, ts=event.ts,
                                          body=event.body), events), count),
        "hash32 of the signed event": _microseconds_each(each(hash32, raws), count),
        "apply (domain transition)": _microseconds_each(fold, count),
        "audit (validate + apply, as refold does)": _microseconds_each(audit_fold, count),
        "decode_event (decode, re-encode, compare)": _microseconds_each(each(decode_event, raws), count),
        "verify_batch per event (links; one signature per batch)": _microseconds_each(
            lambda: verify_batch(head, raws), count),
        "state_digest (per checkpoint, 1 in 1000 events)": _microseconds_each(lambda: state_digest(state), 1),
        # What a follower's catch-up does per event besides the signatures: links, audit, the batch.
        "fold_received per event (links, audit, batch; intents verified apart)": _microseconds_each(
            lambda: fold_received(state, head, raws, intents_verified=True), count),
    }
    # The store: one transaction of the whole sample, as the sequencer's group commit writes it.
    rows = tuple(LogRow(event.feed, event.seq, hash32(raw), event.ts, "act", raw)
                 for event, raw in zip(events, raws, strict=True))
    batch = AppendBatch(rows, state, chain, Changes(accounts=tuple(state.members.keys())), ())
    started_cpu, started = time.process_time_ns(), time.perf_counter_ns()
    await store.append_batch(batch)
    costs["Store.append_batch per event (CPU, both threads)"] = (time.process_time_ns() - started_cpu) / count / 1000
    costs["Store.append_batch per event (wall, with the commit)"] = (time.perf_counter_ns() - started) / count / 1000
    await store.close()
    return costs
