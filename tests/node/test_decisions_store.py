"""Decisions in the store: projections written with the log, restored by load_state, equal to a
rebuild; the closing event appended through the sequencer as the timer does."""

from __future__ import annotations

from pathlib import Path

import pytest
from tallystick.ledger.decisions import closing_body, due_closures
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import DeadlinePassedError
from tallystick.node.replay import fold_received, rebuild, refold, start_received
from tallystick.node.sequencer import Sequencer
from tallystick.node.store import Store
from tallystick.protocol.events import (
    Delegate,
    Propose,
    ProposeWithPeriod,
    RecoverKey,
    SetLevy,
    SetRules,
    Transfer,
    Undelegate,
    Vote,
)
from tallystick.protocol.ids import KeyPair

from helpers.postings import assert_postings_hold
from helpers.sequencer import Clock, running_node

# Longer than every default floor (72 h at most), shorter than the clock's skew limit.
week_ms = 7 * 24 * 3600 * 1000


@pytest.fixture
async def node(tmp_path: Path):
    async with running_node(tmp_path, debit_limit_minor=1000, credit_ceiling_minor=5000) as running:
        yield running


async def close_due(sequencer: Sequencer, clock: Clock) -> list[int]:
    """What the node's timer does."""
    due = due_closures(sequencer.state, clock.now_ms)
    for decision in due:
        await sequencer.append_body(lambda s, d=decision: closing_body(s, d))
    return due


async def test_decisions_votes_delegations_and_effects_are_projected_like_a_rebuild(node) -> None:
    store, sequencer, feed, members, act, clock = node
    admin, m0, m1, m2, m3 = members
    recovered = KeyPair(b"\x77" * 32)
    await act(m0, Transfer(to=m1.public, amount_minor=250))
    await act(m2, Delegate(to=m1.public))
    await act(m3, Delegate(to=m1.public, topic="garden"))
    await act(m3, Undelegate(topic="garden"))
    deadline = clock.now_ms + week_ms
    recovery = await act(m1, Propose(decision_type="proposal", title="Recover m0", text="lost phone",
                                     deadline_ms=deadline, effect=RecoverKey(member=m0.public, new_key=recovered.public)))
    rules = await act(admin, Propose(decision_type="consent", title="Admit by decision", text="", deadline_ms=deadline,
                                     effect=SetRules(admission="decision", quorum_bp=4000, threshold_bp=5000)))
    poll = await act(admin, Propose(decision_type="poll", title="Picnic?", text="", deadline_ms=deadline,
                                    options=("Sat", "Sun")))
    for voter in (admin, m1, m3):
        await act(voter, Vote(decision=recovery, position="agree"))
        await act(voter, Vote(decision=rules, position="agree"))
    await act(m3, Vote(decision=poll, options=(1,)))
    live_open = await store.load_state(feed)
    assert live_open is not None and live_open.decisions == sequencer.state.decisions
    clock.now_ms = deadline
    assert await close_due(sequencer, clock) == [recovery, rules, poll]
    state = sequencer.state
    assert [state.decisions[d].outcome for d in (recovery, rules, poll)] == ["passed", "passed", "no_quorum"]
    assert state.members[m0.public].key == recovered.public and state.rules.admission == "decision"
    loaded = await store.load_state(feed)
    assert loaded is not None and state_digest(loaded) == state_digest(state)
    assert (loaded.decisions, loaded.delegations, loaded.rules, loaded.members, loaded.accounts) == (
        state.decisions, state.delegations, state.rules, state.members, state.accounts,
    )
    live = await store.projection_snapshot()
    refolded, head = await refold(store, feed, verify=True)
    assert head == sequencer.head and state_digest(refolded) == state_digest(state)
    await assert_postings_hold(store, feed)
    await rebuild(store, feed)
    assert await store.projection_snapshot() == live


async def test_a_vote_the_sequencer_stamps_after_the_deadline_is_refused(node) -> None:
    _store, _sequencer, _feed, members, act, clock = node
    decision = await act(members[0], Propose(decision_type="proposal", title="Soon", text="",
                                             deadline_ms=clock.now_ms + 5))
    clock.now_ms += 10
    with pytest.raises(DeadlinePassedError):
        await act(members[1], Vote(decision=decision, position="agree"))


async def test_a_replica_that_receives_the_feed_projects_the_same_decisions(node, tmp_path: Path) -> None:
    store, sequencer, feed, members, act, clock = node
    admin, m0, m1, _m2, _m3 = members
    await act(m0, Delegate(to=m1.public, topic="garden"))
    decision = await act(admin, ProposeWithPeriod(decision_type="proposal", title="Rules", text="", deadline_ms=0,
                                        voting_period_ms=week_ms,
                                        effect=SetRules(admission="decision", quorum_bp=1, threshold_bp=2)))
    for voter in (admin, m1, _m2):
        await act(voter, Vote(decision=decision, position="agree"))
    clock.now_ms += week_ms + 100
    assert await close_due(sequencer, clock) == [decision]
    raw = [row.bytes for row in await store.read_log(feed, 1, 1000)]
    replica_store = await Store.open(tmp_path / "replica.sqlite")
    try:
        received = start_received(raw[0])
        await replica_store.append_batch(received)
        received = fold_received(received.state, received.head, raw[1:])
        await replica_store.append_batch(received)
        replica_state = await replica_store.load_state(feed)
        assert replica_state is not None and state_digest(replica_state) == state_digest(sequencer.state)
        assert replica_state.rules.admission == "decision"
        ours, theirs = await store.projection_snapshot(), await replica_store.projection_snapshot()
        for table in ("postings", "posting_blocks", "decisions", "delegations", "rules", "members", "accounts"):
            assert theirs[table] == ours[table], table
        await assert_postings_hold(replica_store, feed)
    finally:
        await replica_store.close()


async def test_a_levy_and_its_treasury_are_projected_like_a_rebuild(node) -> None:
    store, sequencer, feed, members, act, clock = node
    admin, m0, m1, m2, _m3 = members
    decision = await act(admin, Propose(decision_type="consent", title="Levy", text="", deadline_ms=clock.now_ms + week_ms,
                                        effect=SetLevy(rate_bp=100, min_minor=2, max_minor=30)))
    for voter in (admin, m0, m1):
        await act(voter, Vote(decision=decision, position="agree"))
    clock.now_ms += week_ms + 100
    await close_due(sequencer, clock)
    for payer, payee, amount in ((m0, m1, 500), (m1, m2, 50), (m2, m0, 10)):
        await act(payer, Transfer(to=payee.public, amount_minor=amount))
    state = sequencer.state
    assert state.decisions[decision].outcome == "passed" and state.treasury is not None
    assert state.accounts[state.treasury].balance_minor == 5 + 2 + 2
    loaded = await store.load_state(feed)
    assert loaded is not None and (loaded.levy, loaded.treasury) == (state.levy, state.treasury)
    assert state_digest(loaded) == state_digest(state)
    live = await store.projection_snapshot()
    await refold(store, feed, verify=True)  # the log verifies
    await assert_postings_hold(store, feed)
    await rebuild(store, feed)
    assert await store.projection_snapshot() == live
