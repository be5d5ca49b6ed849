"""Property: with random electorates, delegations and vote sequences, the outcome the domain closes
a decision with equals a simple reference count written here, separately, with plain dicts and
fractions; and a replica's refold of the same feed agrees.
"""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st
from tallystick.ledger import decisions, money
from tallystick.ledger.digest import state_digest
from tallystick.protocol import limits
from tallystick.protocol.events import AdmitMember, Delegate, RemoveMember, SetLevy, Transfer, Undelegate
from tallystick.protocol.federation import quorum_votes

from helpers.ledger import admin_key, key, refold

from .test_decisions import ClockedLedger, deadline_ms

member_keys = [admin_key] + [key(f"voter {index}") for index in range(1, 8)]


def in_basis_points(share: Fraction) -> int:
    """A share as people write it, rounded to the nearest basis point (a half up): 2/3 -> 6667."""
    return math.floor(share * 10_000 + Fraction(1, 2))


def reaches_by_hand(part: int, whole: int, bar_bp: int) -> bool:
    """The rule as docs/decisions.md states it: the share, rounded to the nearest basis point, is at
    least the bar (a share of nobody reaches every bar)."""
    return whole == 0 or in_basis_points(Fraction(part, whole)) >= bar_bp


def reference_outcome(
    active: set[int],
    delegations: dict[tuple[int, str], int],
    votes: dict[int, object],
    decision_type: str,
    topic: str,
    quorum_bp: int,
    threshold_bp: int,
) -> str:
    """Count by hand: each active member's own vote, else the vote their delegate chain leads to."""
    cast: list[object] = []
    for member in sorted(active):
        path = [member]
        while path[-1] not in votes:
            here = path[-1]
            following = delegations.get((here, topic)) if topic and (here, topic) in delegations else None
            if following is None:
                following = delegations.get((here, ""))
            if following is None or following in path or following not in active:
                path = []
                break
            path.append(following)
        if path:
            cast.append(votes[path[-1]])
    if decision_type != "poll" and "block" in cast:
        return "blocked"
    if not reaches_by_hand(len(cast), len(active), quorum_bp):
        return "no_quorum"
    if decision_type == "proposal":
        agree, disagree = cast.count("agree"), cast.count("disagree")
        if agree == 0 or not reaches_by_hand(agree, agree + disagree, threshold_bp):
            return "rejected"
    return "passed"


positions = st.sampled_from(["agree", "abstain", "disagree", "block"])
scenarios = st.fixed_dictionaries(
    {
        "size": st.integers(2, 8),
        "decision_type": st.sampled_from(["proposal", "consent", "poll"]),
        "topic": st.sampled_from(["", "garden"]),
        # Bars near the shares small electorates make (2/3, 1/2, 3/4 ...) as often as any other.
        "quorum_bp": st.sampled_from([3333, 3334, 5000, 6666, 6667, 7500]) | st.integers(0, 10_000),
        "threshold_bp": st.sampled_from([5000, 5001, 6666, 6667, 6668, 7500]) | st.integers(0, 10_000),
        "delegations": st.lists(
            st.tuples(st.integers(0, 7), st.integers(0, 7), st.sampled_from(["", "garden", "money"]), st.booleans()),
            max_size=12,
        ),
        "votes": st.lists(st.tuples(st.integers(0, 7), positions, st.integers(0, 2)), max_size=16),
        "removed": st.lists(st.integers(1, 7), max_size=3),
    }
)


@settings(max_examples=150, deadline=None)
@given(scenarios)
def test_the_closing_outcome_equals_a_reference_count(scenario: dict) -> None:
    size = scenario["size"]
    decision_type, topic = scenario["decision_type"], scenario["topic"]
    ledger = ClockedLedger()
    for index in range(1, size):
        ledger.accept(admin_key, AdmitMember(member=member_keys[index].public, name=f"Voter {index}"))
    delegations: dict[tuple[int, str], int] = {}
    for source, target, delegation_topic, take_back in scenario["delegations"]:
        if source >= size or target >= size:
            continue
        if take_back:
            if (source, delegation_topic) in delegations:
                ledger.accept(member_keys[source], Undelegate(topic=delegation_topic))
                del delegations[(source, delegation_topic)]
        elif source != target:
            ledger.accept(member_keys[source], Delegate(to=member_keys[target].public, topic=delegation_topic))
            delegations[(source, delegation_topic)] = target
    seq = ledger.propose(
        decision_type=decision_type,
        topic=topic,
        quorum_bp=scenario["quorum_bp"],
        threshold_bp=scenario["threshold_bp"] if decision_type == "proposal" else None,
        options=("A", "B", "C") if decision_type == "poll" else (),
    )
    votes: dict[int, object] = {}
    for voter, position, option in scenario["votes"]:
        if voter >= size:
            continue
        if decision_type == "poll":
            ledger.vote(member_keys[voter], seq, options=(option,))
            votes[voter] = option
        else:
            ledger.vote(member_keys[voter], seq, position)
            votes[voter] = position  # a changed vote replaces the first
    active = set(range(size))
    for leaver in scenario["removed"]:
        if leaver < size and leaver in active:
            ledger.accept(admin_key, RemoveMember(member=member_keys[leaver].public))
            active.discard(leaver)
    expected = reference_outcome(
        active, delegations, votes, decision_type, topic, scenario["quorum_bp"], scenario["threshold_bp"]
    )
    assert ledger.close(seq) == expected
    state, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state_digest(state) == state_digest(ledger.state)
    assert ledger.state.decisions[seq].deadline_ms == deadline_ms


@settings(max_examples=100, deadline=None)
@given(
    rate_bp=st.integers(0, 10_000),
    bounds=st.tuples(st.integers(0, 60), st.integers(0, 400)).map(sorted),
    payments=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(1, 700)), max_size=30),
)
def test_after_any_payments_the_treasury_holds_exactly_the_levies_and_balances_sum_to_zero(
    rate_bp: int, bounds: list[int], payments: list[tuple[int, int, int]]
) -> None:
    minimum, maximum = bounds
    ledger = ClockedLedger()
    for index in range(1, 4):
        ledger.accept(admin_key, AdmitMember(member=member_keys[index].public, name=f"Voter {index}"))
    seq = ledger.propose(effect=SetLevy(rate_bp=rate_bp, min_minor=minimum, max_minor=maximum))
    for index in range(4):
        ledger.vote(member_keys[index], seq, "agree")
    assert ledger.close(seq) == "passed"
    treasury = ledger.state.treasury
    assert treasury is not None
    parties = [member_keys[index].public for index in range(4)] + [treasury]  # index 4: a gift to it
    levies = gifts = 0
    for payer, payee, amount in payments:
        if payer == payee:
            continue
        before = ledger.state
        error = ledger.submit(ledger.sign(member_keys[payer], Transfer(to=parties[payee], amount_minor=amount)))
        if error is not None:
            assert ledger.state is before
        elif payee == 4:
            gifts += amount  # a payment to the treasury carries no levy
        elif rate_bp or minimum:
            levies += max(minimum, min(maximum, amount * rate_bp // 10_000))
    assert sum(account.balance_minor for account in ledger.state.accounts.values()) == 0
    assert ledger.state.accounts[treasury].balance_minor == levies + gifts


@settings(max_examples=500, deadline=None)
@given(whole=st.integers(0, 10**6), data=st.data(), bar_bp=st.integers(0, 10_000))
def test_a_share_reaches_a_bar_exactly_when_rounded_to_the_nearest_basis_point_it_is_at_least_the_bar(
    whole: int, data: st.DataObject, bar_bp: int
) -> None:
    part = data.draw(st.integers(0, whole))
    assert decisions.reaches(part, whole, bar_bp) == reaches_by_hand(part, whole, bar_bp)


@settings(max_examples=500, deadline=None)
@given(whole=st.integers(0, 10**6), bar_bp=st.integers(0, 10_000))
def test_the_least_part_reaching_a_bar_reaches_it_and_one_less_does_not(whole: int, bar_bp: int) -> None:
    least = decisions.least_reaching(whole, bar_bp)
    assert 0 <= least <= whole and decisions.reaches(least, whole, bar_bp)
    assert least == 0 or not decisions.reaches(least - 1, whole, bar_bp)


def test_the_shares_people_name_reach_the_bars_they_write() -> None:
    assert decisions.reaches(2, 3, 6667) and decisions.reaches(1, 2, 5000) and decisions.reaches(1, 3, 3333)
    assert not decisions.reaches(6666, 10_000, 6667)  # 66.66 % is not 66.67 %
    assert not decisions.reaches(1, 2, 5001) and not decisions.reaches(3, 5, 6667)
    assert decisions.least_reaching(3, 6667) == 2 and decisions.least_reaching(64, 5001) == 33


@settings(max_examples=500, deadline=None)
@given(denominator=st.integers(1, 10**6), data=st.data())
def test_a_bar_typed_as_a_fraction_is_reached_by_that_share_and_by_no_share_a_basis_point_below(
    denominator: int, data: st.DataObject
) -> None:
    numerator = data.draw(st.integers(0, denominator))
    bar_bp = money.parse_share(f"{numerator}/{denominator}")
    assert bar_bp == in_basis_points(Fraction(numerator, denominator))
    assert decisions.reaches(numerator, denominator, bar_bp)
    assert bar_bp == 0 or not decisions.reaches(bar_bp - 1, 10_000, bar_bp)


@settings(max_examples=300, deadline=None)
@given(bar_bp=st.integers(0, 10_000))
def test_a_bar_read_back_as_a_percent_is_the_same_bar(bar_bp: int) -> None:
    assert money.parse_share(money.format_share(bar_bp)) == bar_bp


def test_a_federations_quorum_is_the_least_number_of_members_whose_share_reaches_it() -> None:
    # Every federation size and quorum the protocol allows (64 x 5000): small enough to try them all.
    for members in range(1, limits.federation_members_max + 1):
        for quorum_bp in range(limits.federation_quorum_bp_min, limits.basis_points_max + 1):
            needed = quorum_votes(members, quorum_bp)
            assert needed == max(1, decisions.least_reaching(members, quorum_bp)), (members, quorum_bp)
            assert 2 * needed > members  # still more than half: two quorums share a member


def test_a_federation_of_three_with_a_two_thirds_quorum_needs_two_yes_ballots_by_the_rule() -> None:
    assert decisions.least_reaching(3, 6667) == 2 and 2 * decisions.least_reaching(3, 6667) > 3
