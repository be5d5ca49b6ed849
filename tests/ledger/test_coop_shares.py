"""Community shares as co-ops run them, in the pure domain, one rule per test (docs/shares.md,
"Co-operative rules"): classes that vote one member, one vote; interest on withdrawable shares
under the cap the holders set; withdrawals suspended by the holders' decision with the reason
recorded, and lifted by another. Every refusal is checked to change nothing; node bodies go
through `audit` as a replica receives them, and each feed refolds from its bytes.
"""

from __future__ import annotations

import pytest
from tallystick.ledger import decisions, shares
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import (
    BadDecisionError,
    BadInterestError,
    BadShareClassError,
    DebitLimitError,
    InterestCapError,
    NotManagerError,
    NotWithdrawableError,
    WithdrawalsSuspendedError,
)
from tallystick.protocol import limits
from tallystick.protocol.events import (
    DeclareDividend,
    Holders,
    PayInterest,
    Propose,
    RegisterEnterpriseWithMemberVotes,
    ResumeWithdrawals,
    SetInterestCap,
    ShareClass,
    Subscribe,
    SuspendWithdrawals,
    Vote,
    WithdrawalDue,
    WithdrawShares,
)

from helpers.ledger import admin_key, refold

from .test_shares import Community, bea, bea_key, cal, cal_key, dee, dee_key

# A community benefit society's members' shares: withdrawable at par 1.00, one member one vote.
members = ShareClass("Member shares", "user", 1, 1, 100, True, False, None, True)
# Investor shares weighted by the share, as before: beside a members' class.
investor = ShareClass("Investor shares", "investor", 1, 1, 100, False, True, None, False)


@pytest.fixture
def town() -> Community:
    return Community()


def register_society(town: Community, *classes: ShareClass, member_votes: tuple[int, ...] = (0,),
                     name: str = "Bakery") -> bytes:
    action = RegisterEnterpriseWithMemberVotes(name=name, classes=classes or (members,),
                                               member_vote_classes=member_votes)
    return shares.enterprise_id(town.feed, town.accept(admin_key, action).seq)


def issue(town: Community, enterprise: bytes, stakes: dict, share_class: int = 0) -> None:
    offer = town.offer(enterprise, share_class, price=100, units=sum(stakes.values()), min_units=1,
                       member_cap=max(stakes.values()))
    for signer, units in stakes.items():
        town.accept(signer, Subscribe(offer, units))
    assert town.close_offer(offer) == "allotted"


def decide(town: Community, enterprise: bytes, effect: object, votes: dict, signer=bea_key) -> str:  # type: ignore[no-untyped-def]
    action = Propose("proposal", "Holders decide", "", town.now_ms + 60_000, electorate=Holders(enterprise),
                     effect=effect)  # type: ignore[arg-type]
    decision = town.accept(signer, action).seq
    for voter, position in votes.items():
        town.accept(voter, Vote(decision, position))
    town.now_ms = town.state.decisions[decision].deadline_ms
    town.audited(decisions.closing_body(town.state, decision))
    return town.state.decisions[decision].outcome  # type: ignore[return-value]


def refused_unchanged(town: Community, signer, action, error_type: type) -> str:  # type: ignore[no-untyped-def]
    before = state_digest(town.state)
    error = town.submit(town.sign(signer, action))
    assert isinstance(error, error_type), error
    assert state_digest(town.state) == before
    return error.message


# ---- one member, one vote -------------------------------------------------------------------------


def test_three_holders_of_very_different_stakes_vote_as_three(town: Community) -> None:
    bakery = register_society(town)
    issue(town, bakery, {bea_key: 1, cal_key: 40, dee_key: 500})
    assert shares.vote_weights(town.state, bakery) == {bea: 1, cal: 1, dee: 1}
    # Bea (1 share) and Cal (40) outvote Dee (500): two against one, where by shares it is 41 to 500.
    outcome = decide(town, bakery, DeclareDividend(bakery, 5410),
                     {bea_key: "agree", cal_key: "agree", dee_key: "disagree"})
    result = town.state.decisions[town.seq - 4].result
    assert outcome == "passed" and (result.electorate, result.positions["agree"], result.positions["disagree"]) == (3, 2, 1)
    # The dividend itself goes by dividend weight x units: 50.00 to Dee, 0.10 to Bea.
    assert (town.balance(dee), town.balance(bea)) == (-50_000 + 5000, -100 + 10)


def test_a_member_vote_class_beside_a_weighted_one_adds_one_vote_to_the_weighted(town: Community) -> None:
    bakery = register_society(town, members, investor)
    issue(town, bakery, {bea_key: 3, cal_key: 10})
    issue(town, bakery, {cal_key: 5}, share_class=1)
    assert shares.vote_weights(town.state, bakery) == {bea: 1, cal: 1 + 5}


def test_member_vote_classes_must_exist_carry_a_vote_and_be_named_once(town: Community) -> None:
    silent = ShareClass("Silent shares", "user", 0, 0, 100, True, False, None, True)
    for classes, chosen, said in (((members,), (), "at least one"), ((members,), (0, 0), "named once"),
                                  ((members,), (1,), "no class 1"), ((silent,), (0,), "votes=1")):
        message = refused_unchanged(town, admin_key, RegisterEnterpriseWithMemberVotes(
            name="Bakery", classes=classes, member_vote_classes=chosen), BadShareClassError)
        assert said in message


# ---- interest on withdrawable shares ---------------------------------------------------------------


def funded_society(town: Community) -> bytes:
    """The Bakery with Bea 100 and Cal 300 member shares (par 1.00), 400.00 in its account."""
    bakery = register_society(town)
    issue(town, bakery, {bea_key: 100, cal_key: 300})
    return bakery


def test_no_interest_is_paid_before_the_holders_set_a_cap(town: Community) -> None:
    bakery = funded_society(town)
    town.now_ms += limits.year_ms // 2
    message = refused_unchanged(town, admin_key, PayInterest(bakery, 0, 100, 1000), InterestCapError)
    assert "allow no interest yet" in message


def test_interest_is_paid_pro_rata_under_the_cap_for_time_passed_and_never_twice(town: Community) -> None:
    bakery = funded_society(town)
    assert decide(town, bakery, SetInterestCap(bakery, 500), {bea_key: "agree"}) == "passed"
    started = town.state.shares.enterprises[bakery].interest_from_ms[0]
    assert started == town.now_ms  # the close's ts starts the clock
    town.now_ms += limits.year_ms
    refused_unchanged(town, admin_key, PayInterest(bakery, 0, 501, limits.year_ms), InterestCapError)
    refused_unchanged(town, admin_key, PayInterest(bakery, 0, 500, limits.year_ms + 1), BadInterestError)
    refused_unchanged(town, bea_key, PayInterest(bakery, 0, 500, limits.year_ms), NotManagerError)
    before = {who: town.balance(who) for who in (bea, cal, bakery)}
    town.accept(admin_key, PayInterest(bakery, 0, 500, limits.year_ms))  # 5 % of 100.00 and 300.00
    assert town.balance(bea) - before[bea] == 500 and town.balance(cal) - before[cal] == 1500
    assert before[bakery] - town.balance(bakery) == 2000
    assert town.state.shares.enterprises[bakery].interest_from_ms[0] == started + limits.year_ms
    message = refused_unchanged(town, admin_key, PayInterest(bakery, 0, 500, 1000), BadInterestError)
    assert "never twice" in message


def test_interest_beyond_the_enterprises_debit_limit_is_refused(town: Community) -> None:
    bakery = funded_society(town)
    decide(town, bakery, SetInterestCap(bakery, 10_000), {bea_key: "agree"})
    # 100 % a year on 400.00: three payments of 366 days take the Bakery to -803.29; its debit
    # limit is -1000.00, so a fourth (401.09) does not fit.
    town.now_ms += 4 * limits.decision_duration_max_ms
    for _ in range(3):
        town.accept(admin_key, PayInterest(bakery, 0, 10_000, limits.decision_duration_max_ms))
    message = refused_unchanged(town, admin_key, PayInterest(bakery, 0, 10_000, limits.decision_duration_max_ms),
                                DebitLimitError)
    assert "of interest now" in message


def test_interest_is_paid_only_on_a_withdrawable_class(town: Community) -> None:
    bakery = register_society(town, members, investor)
    issue(town, bakery, {bea_key: 10})
    issue(town, bakery, {bea_key: 10}, share_class=1)
    decide(town, bakery, SetInterestCap(bakery, 500), {bea_key: "agree"})
    town.now_ms += 1000
    refused_unchanged(town, admin_key, PayInterest(bakery, 1, 500, 1000), NotWithdrawableError)


# ---- suspending withdrawals --------------------------------------------------------------------------


def test_a_suspension_refuses_withdrawals_naming_its_reason_holds_pending_ones_and_a_decision_lifts_it(
        town: Community) -> None:
    bakery = funded_society(town)
    town.accept(bea_key, WithdrawShares(bakery, 0, 10))
    pending = town.seq
    assert decide(town, bakery, SuspendWithdrawals(bakery, "solvency"), {bea_key: "agree", cal_key: "agree"}) == "passed"
    suspended_by = town.state.shares.enterprises[bakery].suspended_by
    assert suspended_by == town.seq - 3 and town.state.shares.enterprises[bakery].suspension_reason == "solvency"
    message = refused_unchanged(town, cal_key, WithdrawShares(bakery, 0, 5), WithdrawalsSuspendedError)
    assert f"decision {suspended_by}" in message and "solvency" in message
    assert shares.due_withdrawals(town.state, town.now_ms) == []  # Bea's waits, unpaid and unrefused
    with pytest.raises(WithdrawalsSuspendedError):
        town.audited(WithdrawalDue(pending, "paid"))
    assert decide(town, bakery, ResumeWithdrawals(bakery), {bea_key: "agree", cal_key: "agree"}) == "passed"
    assert shares.due_withdrawals(town.state, town.now_ms) == [pending]
    town.audited(shares.withdrawal_body(town.state, pending))
    assert town.state.shares.withdrawals[pending].outcome == "paid"
    town.accept(cal_key, WithdrawShares(bakery, 0, 5))
    state, _ = refold(town.genesis_bytes, town.events)
    assert state_digest(state) == state_digest(town.state)


def test_suspending_twice_or_lifting_nothing_is_refused_at_the_proposal(town: Community) -> None:
    bakery = funded_society(town)
    refused_unchanged(town, bea_key, Propose("proposal", "Lift", "", town.now_ms + 60_000, electorate=Holders(bakery),
                                             effect=ResumeWithdrawals(bakery)), BadDecisionError)
    decide(town, bakery, SuspendWithdrawals(bakery, "liquidity"), {bea_key: "agree"})
    message = refused_unchanged(town, bea_key, Propose("proposal", "Again", "", town.now_ms + 60_000,
                                                       electorate=Holders(bakery),
                                                       effect=SuspendWithdrawals(bakery, "other")),
                                WithdrawalsSuspendedError)
    assert "already suspended" in message


def test_the_co_op_effects_need_the_holders_electorate(town: Community) -> None:
    bakery = funded_society(town)
    for effect in (SetInterestCap(bakery, 100), SuspendWithdrawals(bakery, "other"), ResumeWithdrawals(bakery)):
        refused_unchanged(town, admin_key, Propose("proposal", "Members decide", "", town.now_ms + 10 ** 9,
                                                   effect=effect), BadDecisionError)


def test_an_enterprise_without_the_co_op_rules_keeps_its_seven_element_digest_entry(town: Community) -> None:
    bakery = town.register(members)
    entry = next(e for e in shares.digest_part(town.state)[0] if e[0] == bakery)
    assert len(entry) == 7
    society = register_society(town, name="Mill")
    assert len(next(e for e in shares.digest_part(town.state)[0] if e[0] == society)) == 12
    assert dee not in shares.vote_weights(town.state, society)
