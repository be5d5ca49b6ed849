"""Balances over time from the `postings` projection: what the pages read (node/history.py), over a
log long enough to span several blocks of postings, live, after a reopened store and a rebuild, and
on a replica that received the feed in batches."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tallystick.node.history import History
from tallystick.node.replay import fold_received, rebuild, start_received
from tallystick.node.store import Store, posting_block_events
from tallystick.protocol.events import Transfer

from helpers.postings import assert_postings_hold, expected_postings
from helpers.sequencer import running_node

# Enough payments that the log spans three blocks of postings.
payments = 2 * posting_block_events + 300


@pytest.fixture
async def node(tmp_path: Path):
    async with running_node(tmp_path, debit_limit_minor=10_000_000, credit_ceiling_minor=10_000_000) as running:
        _store, _sequencer, _feed, members, act, _clock = running
        _admin, m0, m1, m2, m3 = members
        await act(m3, Transfer(to=m0.public, amount_minor=7))  # m3's only payment: in the first block
        ring = [m0, m1, m2]
        for start in range(0, payments, 500):
            await asyncio.gather(*(
                act(ring[index % 3], Transfer(to=ring[(index + 1) % 3].public, amount_minor=1 + index % 50))
                for index in range(start, min(payments, start + 500))
            ))
        yield running


async def account_series(store: Store, feed: bytes, account: bytes) -> list[tuple[int, int]]:
    """(seq, balance) after every posting of `account`, from a full refold of the log."""
    postings, _ = await expected_postings(store, feed)
    return [(seq, balance) for _, seq, _, changed in postings for member, balance in changed if member == account]


async def test_every_posting_of_an_account_is_read_newest_first_a_page_at_a_time(node) -> None:
    store, _sequencer, feed, members, _act, _clock = node
    history = History(store)
    m0 = members[1].public
    expected = [seq for seq, _ in reversed(await account_series(store, feed, m0))]
    assert len(expected) > posting_block_events, "the account's postings span several blocks"
    read: list[int] = []
    before = None
    for _ in range(100):
        seqs, before = await history.postings_newest_first(feed, m0, before, 50)
        read += seqs
        if before is None:
            break
    assert read == expected


async def test_an_early_payment_is_found_however_much_followed_it(node) -> None:
    store, sequencer, feed, members, _act, _clock = node
    m3 = members[4].public
    seqs, older = await History(store).postings_newest_first(feed, m3, None, 50)
    assert sequencer.head.seq > 2 * posting_block_events
    assert seqs == [seq for seq, _ in reversed(await account_series(store, feed, m3))] and older is None
    assert len(seqs) == 2  # opened, then its one payment


async def test_an_account_plot_is_a_bounded_sample_of_exact_balances_ending_at_the_balance(node) -> None:
    from tallystick.node.history import account_points_max

    store, sequencer, feed, members, _act, _clock = node
    m1 = members[2].public
    found = await History(store).account(feed, m1)
    every = dict(await account_series(store, feed, m1))
    assert 2 <= len(found["points"]) <= account_points_max and found["sampled"]
    assert all(every[seq] == balance for seq, _ts, balance in found["points"])
    assert found["points"][-1][2] == sequencer.state.accounts[m1].balance_minor
    assert found["seq"] == sequencer.head.seq


async def test_the_community_totals_end_at_the_sum_of_positive_balances(node) -> None:
    from tallystick.node.history import community_points_max

    store, sequencer, feed, _members, _act, _clock = node
    found = await History(store).community(feed, None)
    postings, _ = await expected_postings(store, feed)
    exact = {seq: positive for _, seq, positive, _ in postings}
    points = found["circulation"]
    assert 2 <= len(points) <= community_points_max
    assert [seq for seq, _, _ in points] == sorted({seq for seq, _, _ in points})
    assert all(exact[seq] == value for seq, _ts, value in points)
    assert points[-1][2] == sum(max(0, account.balance_minor) for account in sequencer.state.accounts.values())


async def test_the_community_totals_look_postings_up_by_seq_never_scan_them(node) -> None:
    """The plan of the totals' query: every read of `postings` and `log` is a primary-key search on
    (feed, seq), driven by the picked seqs; none walks a feed's postings (on 1,000,000 events that
    walk cost 20 times the query's own work: docs/performance.md)."""
    from tallystick.node.history import community_points_max, community_points_sql

    store, sequencer, feed, _members, _act, _clock = node
    plan = [row[-1] for row in await store.query("EXPLAIN QUERY PLAN " + community_points_sql,
                                                  (feed, community_points_max, sequencer.head.seq), 100)]
    reads = [step for step in plan if step.startswith(("SEARCH p ", "SEARCH l ", "SCAN p ", "SCAN l "))]
    assert "SEARCH p USING PRIMARY KEY (feed=? AND seq=?)" in reads and "SEARCH l USING PRIMARY KEY (feed=? AND seq=?)" in reads
    assert all("(feed=? AND seq" in step for step in reads), "\n".join(plan)


async def test_postings_live_after_a_reopen_and_after_a_rebuild_are_what_the_log_gives(node, tmp_path: Path) -> None:
    store, _sequencer, feed, members, act, _clock = node
    await assert_postings_hold(store, feed)
    live = await store.projection_snapshot()
    await rebuild(store, feed)
    assert await store.projection_snapshot() == live
    # The store keeps the running total and the block it writes in memory: after a rebuild they are
    # read again, and the next payments continue from what the tables hold.
    await act(members[1], Transfer(to=members[2].public, amount_minor=3))
    await assert_postings_hold(store, feed)


async def test_a_replica_receiving_the_feed_in_batches_and_reopened_holds_the_same_postings(node, tmp_path: Path) -> None:
    store, _sequencer, feed, _members, _act, _clock = node
    raw = [row.bytes async for batch in store.iterate_log(feed) for row in batch]
    path = tmp_path / "replica.sqlite"
    replica = await Store.open(path)
    received = start_received(raw[0])
    await replica.append_batch(received)
    cut = len(raw) // 2
    for start in range(1, cut, 300):
        received = fold_received(received.state, received.head, raw[start:min(cut, start + 300)])
        await replica.append_batch(received)
    await replica.close()
    replica = await Store.open(path)  # a restarted node: nothing of the postings is kept in memory
    try:
        state = await replica.load_state(feed)
        head = await replica.head(feed)
        assert state is not None and head is not None
        received = fold_received(state, head, raw[cut:])
        await replica.append_batch(received)
        ours, theirs = await store.projection_snapshot(), await replica.projection_snapshot()
        assert theirs["postings"] == ours["postings"] and theirs["posting_blocks"] == ours["posting_blocks"]
        await assert_postings_hold(replica, feed)
    finally:
        await replica.close()
