"""The co-operative rules in the store (docs/shares.md, "Co-operative rules"): a society whose
member shares vote one member, one vote, an interest cap, interest paid, withdrawals suspended
(one waiting through it) and resumed, appended through the sequencer as the node's timer does;
every shares projection (the enterprise's interest clock and suspension among them) is written
with the log and restored by load_state equal to the live state, to a refold and to a rebuild."""

from __future__ import annotations

from pathlib import Path

import pytest
from tallystick.ledger import shares
from tallystick.ledger.digest import state_digest
from tallystick.node.replay import rebuild, refold
from tallystick.protocol.events import (
    Holders,
    OpenOffer,
    PayInterest,
    Propose,
    RegisterEnterpriseWithMemberVotes,
    ResumeWithdrawals,
    SetInterestCap,
    ShareClass,
    Subscribe,
    SuspendWithdrawals,
    Vote,
    WithdrawShares,
)

from helpers.postings import assert_postings_hold
from helpers.sequencer import running_node

from .test_shares_store import run_timer

members_class = ShareClass("Member shares", "user", 1, 1, 100, True, False, None, True)


@pytest.fixture
async def node(tmp_path: Path):
    async with running_node(tmp_path, debit_limit_minor=100_000, credit_ceiling_minor=500_000) as running:
        yield running


async def test_the_co_op_rules_are_projected_restored_and_rebuilt_as_they_were_live(node) -> None:
    store, sequencer, feed, members, act, clock = node
    admin, m0, m1, m2, _ = members
    bakery = shares.enterprise_id(feed, await act(admin, RegisterEnterpriseWithMemberVotes(
        "Bakery", (members_class,), notice_ms=500, member_vote_classes=(0,))))
    offer = await act(admin, OpenOffer(bakery, 0, 100, 600, 1, 500, clock.now_ms + 1000))
    for member, units in ((m0, 1), (m1, 40), (m2, 500)):
        await act(member, Subscribe(offer, units))
    clock.now_ms += 1000
    await run_timer(sequencer, clock)

    async def decide(effect: object) -> int:
        decision = await act(m0, Propose("proposal", "Holders decide", "", clock.now_ms + 1000,
                                         electorate=Holders(bakery), effect=effect))  # type: ignore[arg-type]
        for voter in (m0, m1):
            await act(voter, Vote(decision, "agree"))
        clock.now_ms += 1000
        await run_timer(sequencer, clock)
        assert sequencer.state.decisions[decision].outcome == "passed"
        return decision

    await decide(SetInterestCap(bakery, 500))
    clock.now_ms += 10 ** 9
    await act(admin, PayInterest(bakery, 0, 500, 10 ** 9))
    waiting = await act(m2, WithdrawShares(bakery, 0, 100))
    suspension = await decide(SuspendWithdrawals(bakery, "liquidity"))
    assert sequencer.state.shares.enterprises[bakery].suspended_by == suspension
    clock.now_ms += 1000
    assert await run_timer(sequencer, clock) == 0  # the withdrawal, due, waits

    async def reloads_as_live() -> None:
        loaded = await store.load_state(feed)
        assert loaded is not None and loaded.shares == sequencer.state.shares
        assert loaded.accounts == sequencer.state.accounts

    await reloads_as_live()
    await decide(ResumeWithdrawals(bakery))
    assert sequencer.state.shares.withdrawals[waiting].outcome == "paid"
    state = sequencer.state
    assert shares.vote_weights(state, bakery) == {m0.public: 1, m1.public: 1, m2.public: 1}
    await reloads_as_live()
    live = await store.projection_snapshot()
    refolded, head = await refold(store, feed, verify=True)
    assert head == sequencer.head and state_digest(refolded) == state_digest(state)
    assert refolded.shares == state.shares
    await assert_postings_hold(store, feed)
    await rebuild(store, feed)
    assert await store.projection_snapshot() == live
