"""The store's contract and the sequencer's group commit, in-process with a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import DebitLimitError, ReplayedNonceError
from tallystick.node.errors import BusyError
from tallystick.node.home import Home, init_home, read_key
from tallystick.node.offline import verify_home
from tallystick.node.replay import rebuild, refold
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import Store
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import AdmitMember, Transfer
from tallystick.protocol.ids import KeyPair

from helpers.postings import assert_postings_hold
from helpers.sequencer import directory_of


class Clock:
    def __init__(self) -> None:
        self.now_ms = 1_700_000_000_000

    def __call__(self) -> int:
        self.now_ms += 1
        return self.now_ms


@pytest.fixture
async def node(tmp_path: Path):
    home_path = tmp_path / "home"
    await init_home(
        home_path, name="Test", unit_code="HRS", unit_decimals=2, debit_limit_minor=1000,
        credit_ceiling_minor=5000, now_ms=1_700_000_000_000, checkpoint_interval_events=10,
    )
    home = Home(home_path)
    store = await Store.open(home.database_path)
    feed = await store.own_feed()
    sequencer = Sequencer(store, home.node_key(), await store.load_state(feed), await store.head(feed), directory=directory_of(home), clock_ms=Clock())
    writer = asyncio.create_task(sequencer.run())
    admin = read_key(home.admin_key_path)
    members = [KeyPair(bytes([index + 1]) * 32) for index in range(4)]
    nonce = iter(range(1, 1_000_000))
    for index, member in enumerate(members):
        await sequencer.submit(sign_member_intent(admin, feed=feed, nonce=next(nonce), action=AdmitMember(member=member.public, name=f"m{index}")))
    yield home, store, sequencer, feed, members, nonce
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    await store.close()


def pay(feed: bytes, payer: KeyPair, payee: KeyPair, amount: int, nonce: int) -> bytes:
    return sign_member_intent(payer, feed=feed, nonce=nonce, action=Transfer(to=payee.public, amount_minor=amount))


async def test_concurrent_intents_are_group_committed_in_few_transactions(node) -> None:
    home, store, sequencer, feed, members, nonce = node
    batches_before = sequencer.batches_total
    intents = [pay(feed, members[i % 4], members[(i + 1) % 4], 1, next(nonce)) for i in range(200)]
    results = await asyncio.gather(*(sequencer.submit(intent) for intent in intents))
    assert sorted(result.seq for result in results) == sorted({result.seq for result in results})
    assert sequencer.batches_total - batches_before < 20


async def test_a_refused_intent_in_a_batch_leaves_the_others_applied(node) -> None:
    home, store, sequencer, feed, members, nonce = node
    good = pay(feed, members[0], members[1], 5, next(nonce))
    too_much = pay(feed, members[2], members[3], 1001, next(nonce))
    results = await asyncio.gather(sequencer.submit(good), sequencer.submit(too_much), return_exceptions=True)
    assert isinstance(results[1], DebitLimitError)
    rows = {row[0]: row[2] for row in await store.balances(feed)}
    assert [rows[member.public] for member in members[:4]] == [-5, 5, 0, 0]


async def test_a_replayed_intent_is_refused_and_changes_nothing(node) -> None:
    home, store, sequencer, feed, members, nonce = node
    intent = pay(feed, members[0], members[1], 5, next(nonce))
    await sequencer.submit(intent)
    head = sequencer.head
    with pytest.raises(ReplayedNonceError):
        await sequencer.submit(intent)
    assert sequencer.head == head


async def test_checkpoints_are_appended_at_the_interval_and_verify(node) -> None:
    home, store, sequencer, feed, members, nonce = node
    for _ in range(3):
        await asyncio.gather(*(sequencer.submit(pay(feed, members[0], members[1], 1, next(nonce))) for _ in range(7)))
    log = await store.read_log(feed, 1, 1000)
    kinds = [row.bytes for row in log]
    assert sum(1 for row in log if b"checkpoint" in row.bytes) >= 2, kinds
    state, head = await refold(store, feed, verify=True)
    assert head == sequencer.head and state_digest(state) == state_digest(sequencer.state)


async def test_projections_after_live_appends_equal_a_rebuild(node) -> None:
    home, store, sequencer, feed, members, nonce = node
    await asyncio.gather(*(sequencer.submit(pay(feed, members[i % 4], members[(i + 2) % 4], 3 + i, next(nonce))) for i in range(30)))
    live = await store.projection_snapshot()
    assert live["postings"] and live["posting_blocks"]
    await assert_postings_hold(store, feed)
    await rebuild(store, feed)
    assert await store.projection_snapshot() == live


async def test_the_log_refuses_update_delete_and_a_second_event_at_a_seq(node) -> None:
    home, store, sequencer, feed, members, nonce = node
    await sequencer.submit(pay(feed, members[0], members[1], 1, next(nonce)))
    connection = sqlite3.connect(home.database_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("UPDATE log SET bytes = x'00' WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("DELETE FROM log WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError):
            connection.execute("INSERT INTO log VALUES (?, 2, x'00', 0, 'act', x'00')", (feed,))
    finally:
        connection.close()


async def test_a_full_pending_queue_is_refused_with_busy(tmp_path: Path) -> None:
    home_path = tmp_path / "home"
    await init_home(home_path, name="T", unit_code="HRS", unit_decimals=2, debit_limit_minor=10,
                    credit_ceiling_minor=10, now_ms=Clock().now_ms)
    home = Home(home_path)
    store = await Store.open(home.database_path)
    try:
        feed = await store.own_feed()
        # No writer runs, so the queue fills and stays full.
        sequencer = Sequencer(store, home.node_key(), await store.load_state(feed), await store.head(feed), directory=directory_of(home), clock_ms=Clock(), pending_max=2)
        admin = read_key(home.admin_key_path)
        waiting = [asyncio.create_task(sequencer.submit(sign_member_intent(admin, feed=feed, nonce=n, action=AdmitMember(member=bytes([n]) * 32, name=f"x{n}")))) for n in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(BusyError):
            await sequencer.submit(sign_member_intent(admin, feed=feed, nonce=3, action=AdmitMember(member=b"\x03" * 32, name="x3")))
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        assert await store.log_count(feed) == 1
    finally:
        await store.close()


async def test_a_failed_commit_answers_every_caller_and_keeps_the_state(node) -> None:
    home, store, sequencer, feed, members, nonce = node
    state, head = sequencer.state, sequencer.head
    original_append = store.append_batch

    async def failing_append(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    store.append_batch = failing_append  # type: ignore[method-assign]
    try:
        results = await asyncio.gather(
            sequencer.submit(pay(feed, members[0], members[1], 1, next(nonce))), return_exceptions=True
        )
    finally:
        store.append_batch = original_append  # type: ignore[method-assign]
    assert isinstance(results[0], sqlite3.OperationalError)
    assert sequencer.state is state and sequencer.head == head


async def test_offline_verify_and_rebuild_agree_with_the_live_node(node) -> None:
    home, store, sequencer, feed, members, nonce = node
    await asyncio.gather(*(sequencer.submit(pay(feed, members[0], members[3], 2, next(nonce))) for _ in range(15)))
    report = await verify_home(home)
    assert report.ok and report.feeds[0].events == sequencer.head.seq


@pytest.mark.parametrize("into_the_commit_s", [0, 0.001, 0.004, 0.02])
async def test_a_writer_cancelled_while_it_commits_leaves_the_log_projections_and_record_agreeing(
    tmp_path: Path, into_the_commit_s: float
) -> None:
    """Cancelled before the store's thread started the transaction, or while it ran it (before or
    after its COMMIT, before or after the acknowledged record): all of the batch or none of it."""
    home_path = tmp_path / "home"
    await init_home(home_path, name="T", unit_code="HRS", unit_decimals=2, debit_limit_minor=10,
                    credit_ceiling_minor=10, now_ms=Clock().now_ms)
    home = Home(home_path)
    store = await Store.open(home.database_path)
    feed = await store.own_feed()
    directory = directory_of(home)
    for n in range(1, 60):  # made first, so that no submission waits for its key and all make one batch
        directory.keys.create_now(bytes([n]) * 32)
    sequencer = Sequencer(store, home.node_key(), await store.load_state(feed), await store.head(feed),
                          directory=directory, clock_ms=Clock())
    writer = asyncio.create_task(sequencer.run())
    admin = read_key(home.admin_key_path)
    submitted = [
        asyncio.ensure_future(sequencer.submit(sign_member_intent(
            admin, feed=feed, nonce=n, action=AdmitMember(member=bytes([n]) * 32, name=f"x{n}"))))
        for n in range(1, 60)
    ]
    while not store._write_lock.locked():  # only to time the cancellation inside a commit
        await asyncio.sleep(0)
    await asyncio.sleep(into_the_commit_s)
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    for submission in submitted:
        submission.cancel()
    await asyncio.gather(*submitted, return_exceptions=True)
    await store.close()  # after the transaction the thread was running, whole or not at all
    report = await verify_home(home)  # refused (acknowledged_lost) if the record were ahead of the log
    assert report.ok, report
    assert report.feeds[0].events in (1, 1 + 59)


def test_every_kind_of_action_and_body_names_its_rows_or_is_known_to_change_none_of_its_own() -> None:
    from typing import get_args

    from tallystick.ledger.changes import action_changes, body_changes
    from tallystick.protocol.events import Action, Body

    # Besides the community row and the feed's head, which every batch writes:
    signer_only = {"federation"}  # the signer's own row (its nonce; the outbox)
    carry_an_intent = {"act", "act_sealed", "payment_sent", "payment_sent_sealed"}  # answered by their intent's action
    no_row_of_their_own = {"genesis", "genesis_sealed", "checkpoint", "key_rotated", "capacity_limits", "fed_propose", "fed_vote",
                           "payment_rejected"}
    actions = {kind.__struct_config__.tag: kind for kind in get_args(Action)}
    bodies = {kind.__struct_config__.tag: kind for kind in get_args(Body)}
    assert {tag for tag, kind in actions.items() if kind not in action_changes} == signer_only
    assert {tag for tag, kind in bodies.items() if kind not in body_changes} == carry_an_intent | no_row_of_their_own
