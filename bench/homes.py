"""Node homes to benchmark on: a small one admitted through the sequencer, and large fast-built ones.

How this works: `admitted_home` runs `init_home` and admits the bench members through a real
Sequencer, as a running node would. `build_feed` makes a home of N events without the sequencer's
queue and futures: a worker process signs the members' transfer intents (they depend on nothing but
the feed id), while this process validates each one against the state, signs its event with
`sign_event`, folds it with the domain's `apply`, appends a checkpoint when due, and writes 10,000
events per `Store.append_batch` transaction. The feed is valid by construction (every intent passes the
domain's `validate`; `verify_home` proves it in the offline section). Member keys are derived from
their index, so a cached home needs no key files. Large homes are cached under bench/results/
keyed by a hash of the source they depend on: a change to the protocol, the domain or the store
builds them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import random
import shutil
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tallystick.ledger.digest import state_digest
from tallystick.ledger.model import State
from tallystick.ledger.transition import apply, checkpoint_due, validate
from tallystick.node.home import Home, NodeConfig, init_home, read_key
from tallystick.node.personal import DataKeys, Directory
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import BatchBuilder, Store
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_intent, sign_event, sign_intent, sign_member_intent
from tallystick.protocol.events import Act, AdmitMember, Body, Checkpoint, Event, Intent, Transfer
from tallystick.protocol.feed import FeedHead
from tallystick.protocol.ids import KeyPair, hash32

# Members of every bench community. 100 is a small town's scheme; the sequencer's cost per event
# does not depend on it (persistent maps), the checkpoint's digest grows with it.
members_default = 100
# So large that no random walk of transfers in a bench reaches it: every built transfer is valid.
bench_debit_limit_minor = 10**12
# A transfer moves 0.01 to 100.00 of the unit.
transfer_amount_minor_max = 10_000
# Nonces of intents signed after a home was built start here, above every nonce the builder used.
fresh_nonce_base = 1 << 40
# Events per `Store.append_batch` transaction in the builder: few thread hops and commits, bounded memory.
builder_batch_events = 10_000
# Transfers one worker call signs, and how many such calls may wait finished in memory.
worker_chunk_transfers = 10_000
worker_chunks_ahead = 3

results_folder = Path(__file__).resolve().parent / "results"
_repository = Path(__file__).resolve().parent.parent
# What a built home depends on: a change to any of these builds cached homes again.
_cache_sources = (
    "protocol/codec.py",
    "protocol/events.py",
    "protocol/feed.py",
    "protocol/ids.py",
    "protocol/limits.py",
    "ledger/transition.py",
    "node/store.py",
    "bench/homes.py",
)


def member_key(index: int) -> KeyPair:
    """The bench's member `index`: a key derived from the index, the same in every process."""
    return KeyPair(hash32(b"tallystick bench member %d" % index))


def member_keys(count: int) -> list[KeyPair]:
    return [member_key(index) for index in range(count)]


def clock_ms() -> int:
    return time.time_ns() // 1_000_000


async def _new_home(path: Path) -> Home:
    await init_home(
        path,
        name="Bench",
        unit_code="BEN",
        unit_decimals=2,
        debit_limit_minor=bench_debit_limit_minor,
        credit_ceiling_minor=limits.amount_minor_max,
        now_ms=clock_ms(),
        config=NodeConfig(),
    )
    return Home(path)


async def open_sequencer(home: Home) -> tuple[Store, Sequencer]:
    """The home's store and a Sequencer on it, as `tally serve` makes them (not yet running)."""
    store = await Store.open(home.database_path)
    feed = await store.own_feed()
    assert feed is not None
    state, head = await store.load_state(feed), await store.head(feed)
    assert state is not None and head is not None
    directory = Directory(DataKeys(home.keys_path, None))
    directory.learn_rows(await store.sealed_events(feed))
    return store, Sequencer(store, home.node_key(), state, head, clock_ms, directory=directory)


async def admitted_home(path: Path, members: int = members_default) -> Home:
    """A new home whose admin admitted `members` bench members through a real Sequencer."""
    home = await _new_home(path)
    admin = read_key(home.admin_key_path)
    store, sequencer = await open_sequencer(home)
    writer = asyncio.create_task(sequencer.run())
    try:
        feed = sequencer.head.feed
        admits = [
            sign_member_intent(admin, feed=feed, nonce=index, action=AdmitMember(member=key.public, name=f"member {index}"))
            for index, key in enumerate(member_keys(members))
        ]
        await asyncio.gather(*(sequencer.submit(intent) for intent in admits))
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()
    return home


def transfer_plan(feed: bytes, members: int, first: int, count: int, nonce_base: int = 0) -> list[bytes]:
    """`count` signed transfers between random members, numbered from `first`. Transfer i carries
    nonce `nonce_base + i`, so each member's nonces only grow. Runs in a worker process."""
    keys = member_keys(members)
    chooser = random.Random(first)
    intents = []
    for number in range(first, first + count):
        payer = chooser.randrange(members)
        payee = chooser.randrange(members - 1)
        payee += payee >= payer
        action = Transfer(to=keys[payee].public, amount_minor=chooser.randint(1, transfer_amount_minor_max))
        intents.append(sign_intent(keys[payer], feed=feed, nonce=nonce_base + number, action=action))
    return intents


class _FeedWriter:
    """The sequencer's inner loop without its queue: validate, sign, apply, checkpoint, batch."""

    def __init__(self, key: KeyPair, state: State, head: FeedHead, ts_base: int) -> None:
        self.key, self.state, self.head, self.ts_base = key, state, head, ts_base
        self.built = BatchBuilder(state)

    def act(self, intent_bytes: bytes) -> None:
        intent = decode_intent(intent_bytes)
        error = validate(self.state, intent)
        if error is not None:
            raise RuntimeError(f"the bench builder made an invalid intent at seq {self.head.seq + 1}: {error}")
        self._append(Act(intent=intent_bytes), intent)
        if checkpoint_due(self.state):
            self._append(Checkpoint(state_hash=state_digest(self.state)), None)

    def _append(self, body: Body, intent: Intent | None) -> None:
        head = self.head
        seq = head.seq + 1
        ts = max(self.ts_base + seq // 1000, head.ts)  # a thousand events a millisecond, never backwards
        raw = sign_event(self.key, feed=head.feed, seq=seq, prev=head.head, ts=ts, body=body)
        event = Event(v=limits.protocol_version, feed=head.feed, seq=seq, prev=head.head, ts=ts, body=body, sig=raw[-64:])
        self.state = apply(self.state, event, intent)
        self.head = FeedHead(head.feed, seq, hash32(raw), ts, head.signing_key, head.recovery_key_hash)
        self.built.add(self.state, event, raw, self.head.head, intent)

    async def flush(self, store: Store) -> None:
        if self.built.rows:
            await store.append_batch(self.built.batch(self.head))
            self.built = BatchBuilder(self.state)


def transfers_for_events(state: State, events: int) -> int:
    """How many transfers bring a feed at `state` to at least `events` events, checkpoints included."""
    seq, since, transfers = state.seq, state.events_since_checkpoint, 0
    interval = state.community.checkpoint_interval_events
    while seq < events:
        transfers, seq, since = transfers + 1, seq + 1, since + 1
        if since >= interval:
            seq, since = seq + 1, 0
    return transfers


@dataclass(frozen=True)
class BuiltHome:
    home: Home
    events: int
    members: int
    build_seconds: float
    cached: bool


async def build_feed(
    path: Path, events: int, members: int = members_default, progress: Callable[[int], None] | None = None
) -> BuiltHome:
    """A new home at `path` whose feed holds `events` events (or one more, if a checkpoint falls
    last): the genesis, `members` admissions, then transfers among them, checkpoints as due."""
    started = time.perf_counter()
    home = await _new_home(path)
    admin = read_key(home.admin_key_path)
    store = await Store.open(home.database_path)
    try:
        feed = await store.own_feed()
        assert feed is not None
        state, head = await store.load_state(feed), await store.head(feed)
        assert state is not None and head is not None
        writer = _FeedWriter(home.node_key(), state, head, head.ts)
        for index, key in enumerate(member_keys(members)):
            action = AdmitMember(member=key.public, name=f"member {index}")
            writer.act(sign_intent(admin, feed=feed, nonce=index, action=action))
        transfers = transfers_for_events(writer.state, events)
        # Spawned, not forked: this process already runs aiosqlite's thread.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            starts = iter(range(0, transfers, worker_chunk_transfers))
            waiting: deque[Future[list[bytes]]] = deque()

            def ask_for_more() -> None:
                while len(waiting) < worker_chunks_ahead:
                    first = next(starts, None)
                    if first is None:
                        return
                    count = min(worker_chunk_transfers, transfers - first)
                    waiting.append(pool.submit(transfer_plan, feed, members, first, count))

            ask_for_more()
            while waiting:
                chunk = await asyncio.wrap_future(waiting.popleft())
                ask_for_more()
                for intent_bytes in chunk:
                    writer.act(intent_bytes)
                    if len(writer.built.rows) >= builder_batch_events:
                        await writer.flush(store)
                        if progress:
                            progress(writer.head.seq)
        await writer.flush(store)
        if progress:
            progress(writer.head.seq)
        built_events = writer.head.seq
    finally:
        await store.close()
    return BuiltHome(home, built_events, members, time.perf_counter() - started, cached=False)


def _cache_key() -> str:
    digest = hashlib.blake2b(digest_size=8)
    for name in _cache_sources:
        digest.update(name.encode() + b"\0" + (_repository / name).read_bytes() + b"\0")
    return digest.hexdigest()


async def cached_feed(
    events: int, members: int = members_default, progress: Callable[[int], None] | None = None
) -> BuiltHome:
    """A built home of `events` events under bench/results/, built once per version of the code it
    depends on. Built in a scratch folder and renamed into place, so a half-built home is never used."""
    results_folder.mkdir(parents=True, exist_ok=True)
    prefix = f"home-{events}-{members}-"
    final = results_folder / f"{prefix}{_cache_key()}"
    description = final / "bench-home.json"
    if description.exists():
        built = json.loads(description.read_text())
        return BuiltHome(Home(final), built["events"], members, built["build_seconds"], cached=True)
    for stale in results_folder.glob(prefix + "*"):
        shutil.rmtree(stale)
    scratch = results_folder / f".building-{prefix}{_cache_key()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    built = await build_feed(scratch / "home", events, members, progress)
    (scratch / "home" / "bench-home.json").write_text(
        json.dumps({"events": built.events, "members": members, "build_seconds": built.build_seconds})
    )
    (scratch / "home").rename(final)
    shutil.rmtree(scratch)
    return BuiltHome(Home(final), built.events, members, built.build_seconds, cached=False)
