"""Shares in the store: every shares projection written with the log, restored by load_state (books
rebuilt in price-time order), equal to a rebuild and to what a replica projects from the feed; the
offer closes, withdrawals and a dividend appended through the sequencer as the node's timer does."""

from __future__ import annotations

from pathlib import Path

import pytest
from tallystick.ledger import shares
from tallystick.ledger.decisions import closing_body, due_closures
from tallystick.ledger.digest import state_digest
from tallystick.node.replay import fold_received, rebuild, refold, start_received
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import Store
from tallystick.protocol.events import (
    CancelOrder,
    DeclareDividend,
    FounderIssue,
    Holders,
    OpenOffer,
    PlaceOrder,
    Propose,
    RegisterEnterprise,
    ShareClass,
    Subscribe,
    TransferShares,
    Vote,
    WithdrawShares,
)

from helpers.postings import assert_postings_hold
from helpers.sequencer import Clock, running_node

customer = ShareClass("Customer shares", "user", 1, 1, 100, True, False, 500, True)
investor = ShareClass("Investor shares", "investor", 0, 2, 200, False, True, None, False)
founder = ShareClass("Founder shares", "founder", 3, 0, 100, False, False, None, True)


@pytest.fixture
async def node(tmp_path: Path):
    async with running_node(tmp_path, debit_limit_minor=100_000, credit_ceiling_minor=500_000) as running:
        yield running


async def run_timer(sequencer: Sequencer, clock: Clock) -> int:
    """What the node's timer does: every due decision, offer and withdrawal, closed."""
    appended = 0
    for decision in due_closures(sequencer.state, clock.now_ms):
        await sequencer.append_body(lambda s, d=decision: closing_body(s, d))
        appended += 1
    for offer in shares.due_offer_closes(sequencer.state, clock.now_ms):
        await sequencer.append_body(lambda s, o=offer: shares.offer_closing_body(s, o))
        appended += 1
    for withdrawal in shares.due_withdrawals(sequencer.state, clock.now_ms):
        await sequencer.append_body(lambda s, w=withdrawal: shares.withdrawal_body(s, w))
        appended += 1
    return appended


async def a_market(node) -> bytes:  # type: ignore[no-untyped-def]
    """An enterprise with three classes, three offers (allotted, oversubscribed, refunded), a book
    with fills, partial fills and a cancel, a transfer, a withdrawal and a dividend."""
    store, sequencer, feed, members, act, clock = node
    admin, m0, m1, m2, m3 = members
    seq = await act(admin, RegisterEnterprise("Bakery", (customer, investor, founder), (FounderIssue(2, 10),),
                                              notice_ms=500))
    bakery = shares.enterprise_id(feed, seq)
    deadline = clock.now_ms + 1000
    allotted = await act(admin, OpenOffer(bakery, 0, 100, 100, 10, 60, deadline))
    oversubscribed = await act(admin, OpenOffer(bakery, 1, 200, 10, 1, 10, deadline))
    refunded = await act(admin, OpenOffer(bakery, 1, 200, 50, 50, 50, deadline))
    for member, units in ((m0, 40), (m1, 30)):
        await act(member, Subscribe(allotted, units))
    for member, units in ((m0, 7), (m1, 5), (m2, 3)):
        await act(member, Subscribe(oversubscribed, units))
    await act(m3, Subscribe(refunded, 5))
    clock.now_ms = deadline
    assert await run_timer(sequencer, clock) == 3
    state = sequencer.state
    assert [state.shares.offers[o].outcome for o in (allotted, oversubscribed, refunded)] == [
        "allotted", "allotted", "refunded"]
    await act(m0, PlaceOrder(bakery, 1, "sell", 3, 250))
    await act(m1, PlaceOrder(bakery, 1, "sell", 2, 240))
    await act(m3, PlaceOrder(bakery, 1, "buy", 4, 260))  # fills 2 at 240 and 2 at 250
    cancelled = await act(m3, PlaceOrder(bakery, 1, "buy", 1, 100))
    await act(m2, PlaceOrder(bakery, 1, "buy", 1, 90))
    await act(m3, CancelOrder(cancelled))
    await act(m1, TransferShares(bakery, 1, m2.public, 1))
    await act(m0, WithdrawShares(bakery, 0, 5))
    dividend = await act(admin, Propose("proposal", "Dividend", "", clock.now_ms + 1000, electorate=Holders(bakery),
                                        effect=DeclareDividend(bakery, 1000)))
    for voter in (admin, m0, m1):
        await act(voter, Vote(dividend, "agree"))
    clock.now_ms += 1000
    assert await run_timer(sequencer, clock) == 2
    state = sequencer.state
    assert state.decisions[dividend].outcome == "passed"
    assert any(w.outcome == "paid" for w in state.shares.withdrawals.values())
    assert len(state.shares.orders) == 2 and len(state.shares.trades[(bakery, 1)]) == 2
    shares.audit_invariants(state)
    return bakery


async def test_shares_are_projected_restored_and_rebuilt_as_they_were_live(node) -> None:
    store, sequencer, feed, *_ = node
    await a_market(node)
    state = sequencer.state
    loaded = await store.load_state(feed)
    assert loaded is not None and state_digest(loaded) == state_digest(state)
    assert loaded.shares == state.shares
    assert loaded.members == state.members and loaded.accounts == state.accounts
    live = await store.projection_snapshot()
    assert live["shares"], "the shares table holds the records"
    refolded, head = await refold(store, feed, verify=True)
    assert head == sequencer.head and state_digest(refolded) == state_digest(state)
    assert refolded.shares == state.shares
    await assert_postings_hold(store, feed)
    await rebuild(store, feed)
    assert await store.projection_snapshot() == live


async def test_a_replica_that_receives_the_feed_projects_the_same_shares(node, tmp_path: Path) -> None:
    store, sequencer, feed, *_ = node
    await a_market(node)
    raw = [row.bytes for row in await store.read_log(feed, 1, 1000)]
    replica_store = await Store.open(tmp_path / "replica.sqlite")
    try:
        received = start_received(raw[0])
        await replica_store.append_batch(received)
        # In two batches, so the second starts from a state the replica reloads from its projections.
        middle = len(raw) // 2
        received = fold_received(received.state, received.head, raw[1:middle])
        await replica_store.append_batch(received)
        reloaded = await replica_store.load_state(feed)
        assert reloaded is not None and reloaded.shares == received.state.shares
        received = fold_received(reloaded, received.head, raw[middle:])
        await replica_store.append_batch(received)
        replica_state = await replica_store.load_state(feed)
        assert replica_state is not None and state_digest(replica_state) == state_digest(sequencer.state)
        ours, theirs = await store.projection_snapshot(), await replica_store.projection_snapshot()
        for table in ("postings", "posting_blocks", "shares", "members", "accounts", "decisions"):
            assert theirs[table] == ours[table], table
        await assert_postings_hold(replica_store, feed)
    finally:
        await replica_store.close()
