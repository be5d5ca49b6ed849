"""In-process benchmarks: the Sequencer on a real Store, and the offline rebuild and verify.

How this works: `sequencer_transfers_per_second` makes a home whose admin admitted the bench members
through the Sequencer, signs every transfer intent before the clock starts (members sign on their
own devices, not on the node), then submits them with `asyncio.gather` in chunks, so the writer
finds hundreds waiting and group-commits them: each `submit` returns only after its event's
transaction committed (WAL, synchronous=FULL). `rebuild_per_second` and `verify_per_second` time
`node.offline.rebuild_home` and `verify_home`, the code behind `tally rebuild` and `tally verify`,
on a built home.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from tallystick.ledger.errors import DomainError
from tallystick.node.home import Home
from tallystick.node.offline import rebuild_home, verify_home
from tallystick.node.sequencer import Appended

from .homes import admitted_home, fresh_nonce_base, members_default, open_sequencer, transfer_plan

# Intents handed to the sequencer in one `gather`: well under `pending_intents_max` (10,000), and
# several of the writer's batches (`sequencer_batch_intents_max`, 500), so group commit is exercised.
gather_chunk_intents = 2000


@dataclass(frozen=True)
class SequencerResult:
    transfers: int  # appended (acknowledged after commit)
    seconds: float
    cpu_seconds: float  # this process's, every thread (the event loop and aiosqlite's)
    batches: int
    refused: int

    @property
    def per_second(self) -> float:
        return self.transfers / self.seconds

    @property
    def per_cpu_second(self) -> float:
        return self.transfers / self.cpu_seconds


async def sequencer_transfers_per_second(folder: Path, transfers: int) -> SequencerResult:
    home = await admitted_home(folder / "sequencer-home", members_default)
    store, sequencer = await open_sequencer(home)
    intents = transfer_plan(sequencer.head.feed, members_default, 0, transfers, fresh_nonce_base)
    writer = asyncio.create_task(sequencer.run())
    appended = refused = 0
    try:
        started, started_cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(intents), gather_chunk_intents):
            chunk = intents[first : first + gather_chunk_intents]
            answers = await asyncio.gather(*(sequencer.submit(intent) for intent in chunk), return_exceptions=True)
            for answer in answers:
                if isinstance(answer, Appended):
                    appended += 1
                elif isinstance(answer, DomainError):
                    refused += 1
                else:
                    raise answer
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()
    return SequencerResult(appended, seconds, cpu_seconds, sequencer.batches_total, refused)


@dataclass(frozen=True)
class OfflineResult:
    events: int
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds

    @property
    def per_cpu_second(self) -> float:
        return self.events / self.cpu_seconds


async def rebuild_per_second(home: Home) -> OfflineResult:
    started, started_cpu = time.perf_counter(), time.process_time()
    events = await rebuild_home(home)
    return OfflineResult(events, time.perf_counter() - started, time.process_time() - started_cpu)


async def verify_per_second(home: Home) -> OfflineResult:
    started, started_cpu = time.perf_counter(), time.process_time()
    report = await verify_home(home)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    # The own feed's report: the first of `feeds` where the report lists every feed held.
    own = report.feeds[0] if hasattr(report, "feeds") else report
    if not report.ok:
        raise RuntimeError(f"verify_home refused the bench home at seq {own.seq}: {own.error}")
    return OfflineResult(own.events, seconds, cpu_seconds)
