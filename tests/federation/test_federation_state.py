"""The federation fold: founding, ballots, epochs, effects, forks and the hierarchy, on real
signed feeds (helpers.federation.Community)."""

from __future__ import annotations

import random

from tallystick.federation.state import FederationState, fold
from tallystick.protocol.federation import (
    AdmitFederationMember,
    AllocateCapacity,
    AmendCharter,
    CapacityShare,
    CharterMember,
    ExpelFederationMember,
    JoinFederation,
    SetTradeLimits,
    VoteInParent,
    federation_id,
)

from helpers.federation import Community, charter_of, feed_event, found, start_ms

deadline = start_ms + 60_000


def state_of(*communities: Community) -> FederationState:
    return fold(event for community in communities for event in community.feed_events())


def limits_for(member: Community, debit: int = 100) -> SetTradeLimits:
    return SetTradeLimits(member=member.id, debit_limit_minor=debit, credit_ceiling_minor=debit)


def three() -> tuple[Community, Community, Community, bytes]:
    a, b, c = Community("a"), Community("b"), Community("c")
    _, federation = found(a, b, c)
    return a, b, c, federation


def test_a_federation_is_founded_only_once_every_member_adopted_its_charter() -> None:
    a, b = Community("a"), Community("b")
    charter = charter_of(a, b)
    a.adopt(charter)
    founding = state_of(a, b).federations[federation_id(charter)]
    assert not founding.founded and founding.adopted == {a.id}
    b.adopt(charter)
    assert state_of(a, b).federations[federation_id(charter)].founded


def test_every_founder_derives_the_same_id_from_its_own_copy_of_the_charter() -> None:
    a, b = Community("a"), Community("b")
    charter, federation = found(a, b)
    assert set(state_of(a, b).federations) == {federation}


def test_a_proposal_passes_with_the_quorum_and_its_effect_applies_in_the_next_epoch() -> None:
    a, b, c, federation = three()
    proposal, _ = a.propose(federation, 0, federation, limits_for(b), deadline, ts=start_ms + 1)
    a.vote(federation, 0, proposal)
    assert state_of(a, b, c).decisions[proposal].outcome == "open"
    b.vote(federation, 0, proposal)
    state = state_of(a, b, c)
    assert state.decisions[proposal].outcome == "passed"
    assert [ballot.member for ballot in state.decisions[proposal].yes] == sorted([a.id, b.id])
    assert state.federations[federation].epoch == 1
    assert state.federations[federation].last_decision == proposal
    assert state.federations[federation].members[b.id].debit_limit_minor == 100


def test_only_one_proposal_of_an_epoch_passes_and_the_others_are_superseded() -> None:
    a, b, c, federation = three()
    first, _ = a.propose(federation, 0, federation, limits_for(b, 1), deadline, ts=start_ms + 1)
    second, _ = b.propose(federation, 0, federation, limits_for(b, 2), deadline, ts=start_ms + 1)
    a.vote(federation, 0, first)
    b.vote(federation, 0, first)
    c.vote(federation, 0, second)
    state = state_of(a, b, c)
    assert state.decisions[first].outcome == "passed"
    assert state.decisions[second].outcome == "superseded"


def test_a_second_ballot_in_one_epoch_is_ignored_and_kept_as_equivocation_evidence() -> None:
    a, b, c, federation = three()
    first, _ = a.propose(federation, 0, federation, limits_for(b, 1), deadline, ts=start_ms + 1)
    second, _ = a.propose(federation, 0, federation, limits_for(b, 2), deadline, ts=start_ms + 1)
    b.vote(federation, 0, first)
    b.vote(federation, 0, second)
    c.vote(federation, 0, second)
    state = state_of(a, b, c)
    assert state.decisions[second].outcome == "open"
    assert [(e.member, e.epoch) for e in state.equivocations] == [(b.id, 0)]


def test_repeating_the_same_ballot_is_no_equivocation() -> None:
    a, b, c, federation = three()
    first, _ = a.propose(federation, 0, federation, limits_for(b), deadline, ts=start_ms + 1)
    b.vote(federation, 0, first)
    b.vote(federation, 0, first)
    assert state_of(a, b, c).equivocations == ()


def test_a_yes_after_the_deadline_counts_as_an_abstention() -> None:
    a, b, c, federation = three()
    proposal, _ = a.propose(federation, 0, federation, limits_for(b), deadline, ts=start_ms + 1)
    a.vote(federation, 0, proposal)
    b.vote(federation, 0, proposal, ts=deadline + 1)
    state = state_of(a, b, c)
    assert state.decisions[proposal].outcome == "open"  # c may still vote in time
    c.vote(federation, 0, None, ts=deadline + 1)
    state = state_of(a, b, c)
    assert state.decisions[proposal].outcome == "failed"
    assert state.federations[federation].epoch == 1


def test_a_stalled_epoch_ends_once_the_members_abstain_after_the_deadline() -> None:
    a, b, c, federation = three()
    proposal, _ = a.propose(federation, 0, federation, limits_for(b), deadline, ts=start_ms + 1)
    a.vote(federation, 0, proposal)
    b.vote(federation, 0, None, ts=deadline)
    assert state_of(a, b, c).decisions[proposal].outcome == "open"
    c.vote(federation, 0, None, ts=deadline)
    state = state_of(a, b, c)
    assert state.decisions[proposal].outcome == "failed"
    assert state.federations[federation].epoch == 1


def test_a_proposal_that_can_no_longer_reach_the_quorum_fails_before_its_epoch_ends() -> None:
    a, b, c = Community("a"), Community("b"), Community("c")
    d = Community("d")
    _, federation = found(a, b, c, d)  # 4 members, 3 needed
    first, _ = a.propose(federation, 0, federation, limits_for(b, 1), deadline, ts=start_ms + 1)
    second, _ = a.propose(federation, 0, federation, limits_for(b, 2), deadline, ts=start_ms + 1)
    a.vote(federation, 0, first)
    b.vote(federation, 0, second)
    state = state_of(a, b, c, d)
    assert state.decisions[first].outcome == "open"
    c.vote(federation, 0, second)
    state = state_of(a, b, c, d)
    assert state.decisions[first].outcome == "failed"
    assert state.decisions[second].outcome == "open"


def test_a_proposal_not_following_the_last_passed_decision_is_refused() -> None:
    a, b, c, federation = three()
    proposal, _ = a.propose(federation, 0, b.id, limits_for(b), deadline, ts=start_ms + 1)
    a.vote(federation, 0, proposal)
    b.vote(federation, 0, proposal)
    state = state_of(a, b, c)
    assert state.decisions[proposal].outcome == "refused"
    # A yes for a refused proposal is an abstention: two of three abstained, so epoch 0 lapsed.
    assert state.federations[federation].epoch == 1


def test_a_proposal_by_a_community_outside_the_federation_is_refused() -> None:
    a, b, c, federation = three()
    outsider = Community("outsider")
    proposal, _ = outsider.propose(federation, 0, federation, limits_for(b), deadline, ts=start_ms + 1)
    assert state_of(a, b, c, outsider).decisions[proposal].outcome == "refused"


def test_a_proposal_whose_deadline_is_not_after_its_event_is_refused() -> None:
    a, b, c, federation = three()
    proposal, _ = a.propose(federation, 0, federation, limits_for(b), start_ms, ts=start_ms + 1)
    assert state_of(a, b, c).decisions[proposal].outcome == "refused"


def test_a_proposal_whose_effect_cannot_apply_is_refused() -> None:
    a, b, c, federation = three()
    outsider = Community("outsider")
    proposal, _ = a.propose(federation, 0, federation, ExpelFederationMember(member=outsider.id), deadline)
    assert state_of(a, b, c).decisions[proposal].outcome == "refused"


def test_votes_of_a_non_member_do_not_count() -> None:
    a, b, c, federation = three()
    outsider = Community("outsider")
    proposal, _ = a.propose(federation, 0, federation, limits_for(b), deadline, ts=start_ms + 1)
    a.vote(federation, 0, proposal)
    outsider.vote(federation, 0, proposal)
    assert state_of(a, b, c, outsider).decisions[proposal].outcome == "open"


def test_admission_and_expulsion_change_who_counts_from_the_next_epoch() -> None:
    a, b, c, federation = three()
    d = Community("d")
    admit = AdmitFederationMember(member=CharterMember(member=d.id, unit_code="HRS", rate_num=2, rate_den=3))
    admitted, _ = a.propose(federation, 0, federation, admit, deadline, ts=start_ms + 1)
    a.vote(federation, 0, admitted)
    b.vote(federation, 0, admitted)
    state = state_of(a, b, c, d)
    assert set(state.federations[federation].members) == {a.id, b.id, c.id, d.id}
    assert state.federations[federation].quorum == 3
    expel, _ = d.propose(federation, 1, admitted, ExpelFederationMember(member=c.id), deadline)
    for voter in (a, b):
        voter.vote(federation, 1, expel)
    assert state_of(a, b, c, d).decisions[expel].outcome == "open"  # 2 of 4 is not 3
    d.vote(federation, 1, expel)
    state = state_of(a, b, c, d)
    assert state.decisions[expel].outcome == "passed"
    assert set(state.federations[federation].members) == {a.id, b.id, d.id}


def test_an_amended_quorum_counts_from_the_next_epoch() -> None:
    a, b, c, federation = three()
    proposal, _ = a.propose(federation, 0, federation, AmendCharter(name="Vale", quorum_bp=10_000), deadline)
    a.vote(federation, 0, proposal)
    b.vote(federation, 0, proposal)
    state = state_of(a, b, c)
    assert (state.federations[federation].name, state.federations[federation].quorum) == ("Vale", 3)


def test_the_fold_does_not_depend_on_how_feeds_are_interleaved() -> None:
    a, b, c, federation = three()
    first, _ = a.propose(federation, 0, federation, limits_for(b), deadline, ts=start_ms + 1)
    for voter in (a, c):
        voter.vote(federation, 0, first)
    second, _ = b.propose(federation, 1, first, limits_for(c), deadline, ts=start_ms + 2)
    for voter in (b, c):
        voter.vote(federation, 1, second)
    expected = state_of(a, b, c)
    streams = [list(a.feed_events()), list(b.feed_events()), list(c.feed_events())]
    chooser = random.Random(7)
    for _ in range(20):
        pending = [list(stream) for stream in streams]
        merged = []
        while any(pending):
            merged.append(chooser.choice([stream for stream in pending if stream]).pop(0))
        assert fold(merged) == expected
    assert expected.decisions[second].outcome == "passed"


def test_a_forked_feed_counts_only_up_to_the_fork() -> None:
    a, b, c, federation = three()
    first, _ = a.propose(federation, 0, federation, limits_for(b, 1), deadline, ts=start_ms + 1)
    second, _ = a.propose(federation, 0, federation, limits_for(b, 2), deadline, ts=start_ms + 1)
    a.vote(federation, 0, first)
    twin = b.branch()
    b.vote(federation, 0, first)
    twin.vote(federation, 0, second)
    one_branch = state_of(a, b, c)
    assert one_branch.decisions[first].outcome == "passed"
    both = fold([*a.feed_events(), *b.feed_events(), *twin.feed_events(), *c.feed_events()])
    assert dict(both.forks) == {b.id: b.head.seq}
    # b's votes from the fork on are void and b abstains: first may still pass with c's vote,
    # second no longer can.
    assert both.decisions[first].outcome == "open"
    assert both.decisions[second].outcome == "failed"
    c.vote(federation, 0, first)
    assert fold([*a.feed_events(), *b.feed_events(), *twin.feed_events(), *c.feed_events()]).decisions[
        first
    ].outcome == "passed"


def test_a_fork_in_a_federation_that_can_no_longer_reach_its_quorum_leaves_it_stalled_not_spinning() -> None:
    """Two members and a quorum of both: once one forks, no epoch can pass. The frozen member's
    standing abstention ends no epoch by itself (it once made the fold loop for ever); an epoch in
    which the other member proposes still fails, and the next one waits."""
    a, b = Community("a"), Community("b")
    _, federation = found(a, b)
    twin = a.branch()
    a.vote(federation, 0, None)
    twin.vote(federation, 0, b"\x01" * 32)
    state = fold([*a.feed_events(), *twin.feed_events(), *b.feed_events()])
    assert a.id in state.forks and state.federations[federation].epoch == 0
    proposal, _ = b.propose(federation, 0, federation, limits_for(b, 1), deadline, ts=start_ms + 1)
    b.vote(federation, 0, proposal)
    state = fold([*a.feed_events(), *twin.feed_events(), *b.feed_events()])
    assert state.decisions[proposal].outcome == "failed" and state.federations[federation].epoch == 1


def test_a_confederation_decides_by_its_member_federations_decisions() -> None:
    a, b, c, d = (Community(name) for name in "abcd")
    west_charter, west = found(a, b, name="West")
    east_charter, east = found(c, d, name="East")
    confederation_charter = charter_of(west, east, name="Valley", quorum_bp=10_000)
    confederation = federation_id(confederation_charter)
    a.append(confederation_charter)  # a community may hold the charter; only the members' adoption counts
    west_join, _ = a.propose(west, 0, west, JoinFederation(federation=confederation), deadline)
    east_join, _ = c.propose(east, 0, east, JoinFederation(federation=confederation), deadline)
    for voter, federation, proposal in ((a, west, west_join), (b, west, west_join), (c, east, east_join), (d, east, east_join)):
        voter.vote(federation, 0, proposal)
    state = state_of(a, b, c, d)
    assert state.federations[confederation].founded
    assert state.ancestors(a.id) == (west, confederation)
    assert state.lowest_common_federation(a.id, d.id) == confederation
    assert state.lowest_common_federation(a.id, b.id) == west
    allocate, _ = a.propose(
        confederation,
        0,
        confederation,
        AllocateCapacity(shares=(CapacityShare(member=west, capacity_minor=500), CapacityShare(member=east, capacity_minor=300))),
        deadline,
    )
    west_vote, _ = b.propose(west, 1, west_join, VoteInParent(federation=confederation, epoch=0, proposal=allocate), deadline)
    for voter in (a, b):
        voter.vote(west, 1, west_vote)
    assert state_of(a, b, c, d).decisions[allocate].outcome == "open"  # the quorum is every member
    east_vote, _ = d.propose(east, 1, east_join, VoteInParent(federation=confederation, epoch=0, proposal=allocate), deadline)
    for voter in (c, d):
        voter.vote(east, 1, east_vote)
    state = state_of(a, b, c, d)
    assert state.decisions[allocate].outcome == "passed"
    assert [ballot.decision for ballot in state.decisions[allocate].yes] == [
        vote for _, vote in sorted([(west, west_vote), (east, east_vote)])
    ]
    assert state.federations[confederation].members[west].capacity_minor == 500


def test_an_allocation_beyond_the_federation_s_own_capacity_is_void() -> None:
    a, b, c, d = (Community(name) for name in "abcd")
    _, west = found(a, b, name="West")
    _, east = found(c, d, name="East")
    confederation_charter = charter_of(west, east, name="Valley", quorum_bp=10_000)
    confederation = federation_id(confederation_charter)
    c.append(confederation_charter)
    joins = {}
    for proposer, other, federation in ((a, b, west), (c, d, east)):
        joins[federation], _ = proposer.propose(federation, 0, federation, JoinFederation(federation=confederation), deadline)
        proposer.vote(federation, 0, joins[federation])
        other.vote(federation, 0, joins[federation])
    shares = (CapacityShare(member=a.id, capacity_minor=60), CapacityShare(member=b.id, capacity_minor=60))
    allocation, _ = a.propose(west, 1, joins[west], AllocateCapacity(shares=shares), deadline)
    a.vote(west, 1, allocation)
    b.vote(west, 1, allocation)
    state = state_of(a, b, c, d)
    # The confederation gave West no capacity: West's shares of it are void.
    assert not state.federations[west].allocation_effective
    assert state.federations[west].members[a.id].capacity_minor == 0


def test_a_charter_naming_a_member_twice_founds_nothing() -> None:
    a = Community("a")
    charter = charter_of(a, a)
    a.adopt(charter)
    state = state_of(a)
    assert federation_id(charter) not in state.federations
    assert state.refusals and state.refusals[0].feed == a.id


def test_an_unverified_duplicate_event_is_idempotent() -> None:
    a, b, c, federation = three()
    proposal, raw = a.propose(federation, 0, federation, limits_for(b), deadline)
    events = [*a.feed_events(), feed_event(raw), *b.feed_events(), *c.feed_events()]
    assert fold(events) == state_of(a, b, c)


def test_a_fork_can_fool_two_observers_only_until_they_pool_what_they_hold() -> None:
    """The boundary of the safety claim: a member that forks its feed can back one proposal on each
    branch. Observers holding one branch each then pass different decisions; together they hold the
    fork proof, and with it neither passes."""
    honest = [Community(name) for name in "abcd"]
    byzantine = Community("byzantine")
    _, federation = found(*honest, byzantine)  # 5 members, 3 needed
    first, _ = honest[0].propose(federation, 0, federation, limits_for(honest[0], 1), deadline)
    second, _ = honest[1].propose(federation, 0, federation, limits_for(honest[0], 2), deadline)
    for community, choice in zip(honest, (first, second, first, second), strict=True):
        community.vote(federation, 0, choice)
    twin = byzantine.branch()
    byzantine.vote(federation, 0, first)
    twin.vote(federation, 0, second)
    honest_events = [event for community in honest for event in community.feed_events()]
    sees_first = fold([*honest_events, *byzantine.feed_events()])
    sees_second = fold([*honest_events, *twin.feed_events()])
    assert (sees_first.decisions[first].outcome, sees_first.decisions[second].outcome) == ("passed", "superseded")
    assert (sees_second.decisions[first].outcome, sees_second.decisions[second].outcome) == ("superseded", "passed")
    pooled = fold([*honest_events, *byzantine.feed_events(), *twin.feed_events()])
    assert byzantine.id in pooled.forks
    assert [d.outcome for d in (pooled.decisions[first], pooled.decisions[second])] == ["failed", "failed"]
