"""Community decisions in the pure domain, one behaviour per test.

A `ClockedLedger` is the domain helpers' Ledger with a clock: every event carries `now_ms`, intents
are validated at that time (as the sequencer does), and `close` appends the `DecisionClosed` the
node's timer would, through `audit` as a replica does.
"""

from __future__ import annotations

import pytest
from msgspec.structs import replace
from tallystick.ledger import decisions, money
from tallystick.ledger.accounts import people
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import (
    AccountClosedError,
    BadDecisionError,
    BadDelegationError,
    BadVoteError,
    DeadlinePassedError,
    DebitLimitError,
    DecisionClosedError,
    DecisionNotDueError,
    DomainError,
    KeyRetiredError,
    NotAuthorizedError,
    OutcomeMismatchError,
    UnknownDecisionError,
    UnknownMemberError,
)
from tallystick.ledger.model import State, Tally
from tallystick.ledger.transition import validate
from tallystick.protocol.codec import decode_event
from tallystick.protocol.events import (
    AdmitMember,
    DecisionClosed,
    Delegate,
    Event,
    Propose,
    ProposeWithPeriod,
    RecoverKey,
    RemoveMember,
    SetDefaultLimits,
    SetLevy,
    SetLimits,
    SetRules,
    Transfer,
    TreasuryPay,
    Undelegate,
    Vote,
)

from helpers.ledger import ClockedLedger as BaseClockedLedger
from helpers.ledger import Ledger, admin_key, key, refold

bea_key, cal_key, dee_key, eve_key = key("bea"), key("cal"), key("dee"), key("eve")
stranger_key, newcomer_key, bea_new_key = key("stranger"), key("newcomer"), key("bea new")
ada, bea, cal, dee, eve = admin_key.public, bea_key.public, cal_key.public, dee_key.public, eve_key.public
start_ms = 1_000_000
deadline_ms = start_ms + 4 * 24 * 3600 * 1000  # beyond every default floor (72 h at most)
period_ms = 4 * 24 * 3600 * 1000


class ClockedLedger(BaseClockedLedger):
    """helpers.ledger's ClockedLedger, with the steps of deciding."""

    def accept(self, signer, action, *, nonce=None) -> Event:  # type: ignore[no-untyped-def]
        signed = self.sign(signer, action, nonce=nonce)
        error = self.submit(signed)
        assert error is None, f"setup intent refused: {error!r}"
        return self.events_decoded()[-1]

    def events_decoded(self) -> list[Event]:
        return [decode_event(raw) for raw in self.events]

    def propose(self, signer=admin_key, **fields: object) -> int:  # type: ignore[no-untyped-def]
        fields.setdefault("decision_type", "proposal")
        fields.setdefault("title", "A proposal")
        fields.setdefault("text", "")
        fields.setdefault("deadline_ms", deadline_ms)
        kind = ProposeWithPeriod if "voting_period_ms" in fields else Propose
        return self.accept(signer, kind(**fields)).seq  # type: ignore[arg-type]

    def vote(self, signer, decision: int, position: str | None = None, options: tuple[int, ...] = ()) -> None:  # type: ignore[no-untyped-def]
        self.accept(signer, Vote(decision=decision, position=position, options=options))  # type: ignore[arg-type]

    def close(self, decision: int) -> str:
        """What the node's timer does once its clock passes the deadline."""
        self.now_ms = max(self.now_ms, self.state.decisions[decision].deadline_ms)
        self.audited(decisions.closing_body(self.state, decision))
        return self.state.decisions[decision].outcome  # type: ignore[return-value]


@pytest.fixture
def ledger() -> ClockedLedger:
    """Ada (admin), Bea, Cal and Dee: four members, all at zero."""
    ledger = ClockedLedger()
    for member, name in ((bea, "Bea"), (cal, "Cal"), (dee, "Dee")):
        ledger.accept(admin_key, AdmitMember(member=member, name=name))
    return ledger


def assert_refused(ledger: ClockedLedger, signer, action, error_class: type[DomainError]) -> DomainError:  # type: ignore[no-untyped-def]
    state_before, digest_before, events_before = ledger.state, state_digest(ledger.state), len(ledger.events)
    error = ledger.submit(ledger.sign(signer, action))
    assert type(error) is error_class, f"expected {error_class.__name__}, got {error!r}"
    assert error.message and error.code == error_class.code
    assert ledger.state is state_before and state_digest(ledger.state) == digest_before
    assert len(ledger.events) == events_before
    return error


def tally(ledger: ClockedLedger, decision: int) -> Tally:
    return decisions.tally(ledger.state, ledger.state.decisions[decision])


# ---- proposing ----------------------------------------------------------------------------------


def test_a_proposal_is_open_with_the_seq_of_its_event_as_its_id(ledger: ClockedLedger) -> None:
    seq = ledger.propose(bea_key, title="Buy a bench")
    decision = ledger.state.decisions[seq]
    assert decision.is_open and decision.title == "Buy a bench" and decision.proposer == bea
    assert decisions.due_closures(ledger.state, deadline_ms - 1) == []
    assert decisions.due_closures(ledger.state, deadline_ms) == [seq]


def test_a_proposal_without_quorum_or_threshold_takes_the_communitys_rules(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    decision = ledger.state.decisions[seq]
    assert (decision.quorum_bp, decision.threshold_bp) == (5000, 6667)


def test_a_proposal_whose_deadline_is_not_in_the_future_is_refused(ledger: ClockedLedger) -> None:
    action = Propose(decision_type="proposal", title="Late", text="", deadline_ms=start_ms)
    assert_refused(ledger, bea_key, action, DeadlinePassedError)


def test_a_proposal_open_longer_than_the_maximum_is_refused(ledger: ClockedLedger) -> None:
    action = Propose(decision_type="proposal", title="Forever", text="", deadline_ms=start_ms + 10**12)
    assert_refused(ledger, bea_key, action, BadDecisionError)


def test_a_proposal_by_a_non_member_is_refused(ledger: ClockedLedger) -> None:
    action = Propose(decision_type="proposal", title="Hi", text="", deadline_ms=deadline_ms)
    assert_refused(ledger, stranger_key, action, UnknownMemberError)


def test_a_poll_with_fewer_than_two_options_is_refused(ledger: ClockedLedger) -> None:
    action = Propose(decision_type="poll", title="Which?", text="", deadline_ms=deadline_ms, options=("Only",))
    assert_refused(ledger, bea_key, action, BadDecisionError)


def test_a_poll_with_an_effect_is_refused(ledger: ClockedLedger) -> None:
    action = Propose(
        decision_type="poll", title="Which?", text="", deadline_ms=deadline_ms, options=("A", "B"),
        effect=RemoveMember(member=cal),
    )
    assert_refused(ledger, bea_key, action, BadDecisionError)


def test_a_proposal_whose_effect_could_not_apply_now_is_refused(ledger: ClockedLedger) -> None:
    action = Propose(
        decision_type="proposal", title="Admit Bea again", text="", deadline_ms=deadline_ms,
        effect=AdmitMember(member=bea, name="Bea two"),
    )
    assert_refused(ledger, cal_key, action, type(validate(ledger.state, ledger.sign(cal_key, action).intent)))


# ---- voting -------------------------------------------------------------------------------------


def test_a_vote_is_counted_in_the_live_tally(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.vote(bea_key, seq, "agree")
    result = tally(ledger, seq)
    assert (result.electorate, result.participants, result.positions["agree"]) == (4, 1, 1)


def test_a_changed_vote_replaces_the_first(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.vote(bea_key, seq, "agree")
    ledger.vote(bea_key, seq, "disagree")
    result = tally(ledger, seq)
    assert (result.participants, result.positions["agree"], result.positions["disagree"]) == (1, 0, 1)


def test_a_vote_by_a_non_member_is_refused(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    assert_refused(ledger, stranger_key, Vote(decision=seq, position="agree"), UnknownMemberError)


def test_a_vote_by_a_departed_member_is_refused(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.accept(admin_key, RemoveMember(member=dee))
    assert_refused(ledger, dee_key, Vote(decision=seq, position="agree"), AccountClosedError)


def test_a_vote_after_the_deadline_is_refused(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.now_ms = deadline_ms
    assert_refused(ledger, bea_key, Vote(decision=seq, position="agree"), DeadlinePassedError)


def test_a_vote_on_a_closed_decision_is_refused(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.close(seq)
    assert_refused(ledger, bea_key, Vote(decision=seq, position="agree"), DecisionClosedError)


def test_a_vote_on_an_unknown_decision_is_refused(ledger: ClockedLedger) -> None:
    assert_refused(ledger, bea_key, Vote(decision=999, position="agree"), UnknownDecisionError)


def test_a_proposal_vote_without_a_position_is_refused(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    assert_refused(ledger, bea_key, Vote(decision=seq, options=(0,)), BadVoteError)


def test_a_poll_vote_for_an_option_it_does_not_have_is_refused(ledger: ClockedLedger) -> None:
    seq = ledger.propose(decision_type="poll", options=("Tea", "Coffee"))
    assert_refused(ledger, bea_key, Vote(decision=seq, options=(2,)), BadVoteError)


def test_a_single_choice_poll_refuses_two_options(ledger: ClockedLedger) -> None:
    seq = ledger.propose(decision_type="poll", options=("Tea", "Coffee"))
    assert_refused(ledger, bea_key, Vote(decision=seq, options=(0, 1)), BadVoteError)


# ---- outcomes -----------------------------------------------------------------------------------


def test_a_proposal_with_quorum_and_enough_agreement_passes(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    for signer in (admin_key, bea_key, cal_key):
        ledger.vote(signer, seq, "agree")
    ledger.vote(dee_key, seq, "disagree")
    assert ledger.close(seq) == "passed"


def test_a_proposal_below_its_threshold_is_rejected(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.vote(admin_key, seq, "agree")
    ledger.vote(bea_key, seq, "disagree")
    assert ledger.close(seq) == "rejected"


def test_abstentions_count_to_the_quorum_but_not_to_the_threshold(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.vote(admin_key, seq, "agree")
    ledger.vote(bea_key, seq, "abstain")
    ledger.vote(cal_key, seq, "abstain")
    assert ledger.close(seq) == "passed"


def test_a_proposal_below_its_quorum_fails_for_want_of_quorum(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.vote(admin_key, seq, "agree")
    assert ledger.close(seq) == "no_quorum"


def test_one_block_blocks_a_proposal(ledger: ClockedLedger) -> None:
    seq = ledger.propose(effect=RemoveMember(member=dee))
    for signer in (admin_key, bea_key, cal_key):
        ledger.vote(signer, seq, "agree")
    ledger.vote(dee_key, seq, "block")
    assert ledger.close(seq) == "blocked"
    assert ledger.state.members[dee].active


def test_consent_passes_unless_blocked(ledger: ClockedLedger) -> None:
    seq = ledger.propose(decision_type="consent", quorum_bp=0)
    ledger.vote(bea_key, seq, "disagree")
    assert ledger.close(seq) == "passed"


def test_consent_with_a_block_is_blocked(ledger: ClockedLedger) -> None:
    seq = ledger.propose(decision_type="consent", quorum_bp=0)
    ledger.vote(bea_key, seq, "block")
    assert ledger.close(seq) == "blocked"


def test_a_poll_counts_each_option_and_names_the_winner(ledger: ClockedLedger) -> None:
    seq = ledger.propose(decision_type="poll", options=("Tea", "Coffee", "Juice"), multiple=True)
    ledger.vote(admin_key, seq, options=(1,))
    ledger.vote(bea_key, seq, options=(0, 1))
    ledger.vote(cal_key, seq, options=(2,))
    assert ledger.close(seq) == "passed"
    result = ledger.state.decisions[seq].result
    assert result is not None and result.option_counts == (1, 2, 1) and decisions.winners(result) == [1]


# ---- delegation ---------------------------------------------------------------------------------


def test_a_delegates_vote_counts_for_the_member_who_delegated(ledger: ClockedLedger) -> None:
    ledger.accept(bea_key, Delegate(to=cal))
    seq = ledger.propose()
    ledger.vote(cal_key, seq, "agree")
    result = tally(ledger, seq)
    assert (result.participants, result.direct, result.positions["agree"]) == (2, 1, 2)


def test_delegation_is_followed_through_a_chain(ledger: ClockedLedger) -> None:
    ledger.accept(bea_key, Delegate(to=cal))
    ledger.accept(cal_key, Delegate(to=dee))
    seq = ledger.propose()
    ledger.vote(dee_key, seq, "disagree")
    assert tally(ledger, seq).positions["disagree"] == 3


def test_a_delegation_loop_casts_no_vote(ledger: ClockedLedger) -> None:
    ledger.accept(bea_key, Delegate(to=cal))
    ledger.accept(cal_key, Delegate(to=bea))
    seq = ledger.propose()
    assert tally(ledger, seq).participants == 0


def test_a_direct_vote_overrides_a_delegation(ledger: ClockedLedger) -> None:
    ledger.accept(bea_key, Delegate(to=cal))
    seq = ledger.propose()
    ledger.vote(cal_key, seq, "agree")
    ledger.vote(bea_key, seq, "disagree")
    result = tally(ledger, seq)
    assert (result.positions["agree"], result.positions["disagree"]) == (1, 1)


def test_a_topic_delegation_overrides_the_general_one_on_that_topic(ledger: ClockedLedger) -> None:
    ledger.accept(bea_key, Delegate(to=cal))
    ledger.accept(bea_key, Delegate(to=dee, topic="money"))
    money, other = ledger.propose(topic="money"), ledger.propose(topic="garden")
    for seq in (money, other):
        ledger.vote(cal_key, seq, "agree")
        ledger.vote(dee_key, seq, "disagree")
    assert tally(ledger, money).positions["disagree"] == 2
    assert tally(ledger, other).positions["agree"] == 2


def test_an_undelegated_member_no_longer_follows_their_delegate(ledger: ClockedLedger) -> None:
    ledger.accept(bea_key, Delegate(to=cal))
    ledger.accept(bea_key, Undelegate())
    seq = ledger.propose()
    ledger.vote(cal_key, seq, "agree")
    assert tally(ledger, seq).participants == 1


def test_delegating_to_oneself_is_refused(ledger: ClockedLedger) -> None:
    assert_refused(ledger, bea_key, Delegate(to=bea), BadDelegationError)


def test_delegating_to_a_non_member_is_refused(ledger: ClockedLedger) -> None:
    assert_refused(ledger, bea_key, Delegate(to=stranger_key.public), UnknownMemberError)


def test_undelegating_without_a_delegation_is_refused(ledger: ClockedLedger) -> None:
    assert_refused(ledger, bea_key, Undelegate(topic="money"), BadDelegationError)


# ---- closing, as a replica checks it ------------------------------------------------------------


def test_a_close_before_the_deadline_is_refused_by_audit(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.now_ms = deadline_ms - 1
    with pytest.raises(DecisionNotDueError):
        ledger.audited(decisions.closing_body(ledger.state, seq))


def test_a_close_with_the_wrong_outcome_is_refused_by_audit(ledger: ClockedLedger) -> None:
    seq = ledger.propose(effect=RemoveMember(member=dee))
    ledger.now_ms = deadline_ms
    with pytest.raises(OutcomeMismatchError):
        ledger.audited(DecisionClosed(decision=seq, outcome="passed"))


def test_closing_a_decision_twice_is_refused_by_audit(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.close(seq)
    with pytest.raises(DecisionClosedError):
        ledger.audited(DecisionClosed(decision=seq, outcome="no_quorum"))


def test_closing_a_decision_that_does_not_exist_is_refused_by_audit(ledger: ClockedLedger) -> None:
    with pytest.raises(UnknownDecisionError):
        ledger.audited(DecisionClosed(decision=3, outcome="no_quorum"))


def test_a_closed_decision_is_no_longer_due(ledger: ClockedLedger) -> None:
    seq = ledger.propose()
    ledger.close(seq)
    assert decisions.due_closures(ledger.state, deadline_ms * 2) == []


def test_a_refold_of_the_feed_gives_the_same_decisions_and_checkpoints_verify() -> None:
    ledger = ClockedLedger(checkpoint_interval_events=10)
    for member, name in ((bea, "Bea"), (cal, "Cal")):
        ledger.accept(admin_key, AdmitMember(member=member, name=name))
    ledger.accept(bea_key, Delegate(to=cal))
    seq = ledger.propose(effect=AdmitMember(member=dee, name="Dee"))
    ledger.vote(cal_key, seq, "agree")
    ledger.checkpoint()
    ledger.close(seq)
    ledger.checkpoint()
    state, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state_digest(state) == state_digest(ledger.state)
    assert state.decisions == ledger.state.decisions and state.members == ledger.state.members


# ---- effects ------------------------------------------------------------------------------------


def pass_decision(ledger: ClockedLedger, **fields: object) -> int:
    seq = ledger.propose(**fields)
    for signer in (admin_key, bea_key, cal_key):
        ledger.vote(signer, seq, "agree")
    assert ledger.close(seq) == "passed"
    return seq


def test_a_passed_admission_admits_the_member(ledger: ClockedLedger) -> None:
    pass_decision(ledger, effect=AdmitMember(member=eve, name="Eve"))
    assert ledger.state.members[eve].active and ledger.state.accounts[eve].balance_minor == 0


def test_a_rejected_admission_admits_no_one(ledger: ClockedLedger) -> None:
    seq = ledger.propose(effect=AdmitMember(member=eve, name="Eve"))
    ledger.vote(bea_key, seq, "disagree")
    ledger.vote(cal_key, seq, "disagree")
    assert ledger.close(seq) == "rejected"
    assert eve not in ledger.state.members


def test_a_passed_removal_closes_the_account(ledger: ClockedLedger) -> None:
    pass_decision(ledger, effect=RemoveMember(member=dee))
    assert not ledger.state.members[dee].active


def test_passed_limits_apply_to_the_account(ledger: ClockedLedger) -> None:
    pass_decision(ledger, effect=SetLimits(account=bea, debit_limit_minor=50, credit_ceiling_minor=70))
    account = ledger.state.accounts[bea]
    assert (account.debit_limit_minor, account.credit_ceiling_minor) == (50, 70)


def test_passed_default_limits_apply_to_the_community(ledger: ClockedLedger) -> None:
    pass_decision(ledger, effect=SetDefaultLimits(debit_limit_minor=5, credit_ceiling_minor=9))
    assert (ledger.state.community.debit_limit_minor, ledger.state.community.credit_ceiling_minor) == (5, 9)


def test_an_effect_that_became_impossible_before_the_close_is_refused_not_applied(
    ledger: ClockedLedger,
) -> None:
    seq = ledger.propose(effect=AdmitMember(member=eve, name="Eve"))
    for signer in (admin_key, bea_key, cal_key):
        ledger.vote(signer, seq, "agree")
    ledger.accept(admin_key, AdmitMember(member=eve, name="Eve"))  # admitted directly meanwhile
    members_before = ledger.state.members
    assert ledger.close(seq) == "effect_refused"
    assert ledger.state.members == members_before


def test_rules_by_decision_stop_admins_admitting_alone(ledger: ClockedLedger) -> None:
    pass_decision(ledger, effect=SetRules(admission="decision", quorum_bp=2500, threshold_bp=5000))
    assert_refused(ledger, admin_key, AdmitMember(member=eve, name="Eve"), NotAuthorizedError)
    seq = ledger.propose(deadline_ms=0, voting_period_ms=1000)
    assert ledger.state.decisions[seq].quorum_bp == 2500


def test_social_recovery_old_key_cannot_sign_new_key_can_and_the_balance_is_unchanged(
    ledger: ClockedLedger,
) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=300))
    seq = ledger.propose(cal_key, effect=RecoverKey(member=bea, new_key=bea_new_key.public))
    for signer in (admin_key, cal_key, dee_key):
        ledger.vote(signer, seq, "agree")
    assert ledger.close(seq) == "passed"
    assert ledger.state.accounts[bea].balance_minor == -300
    assert_refused(ledger, bea_key, Transfer(to=cal, amount_minor=1), KeyRetiredError)
    ledger.accept(bea_new_key, Transfer(to=cal, amount_minor=100))
    assert ledger.state.accounts[bea].balance_minor == -400
    assert ledger.state.members[bea].name == "Bea"


def test_recovery_to_a_key_already_bound_is_refused(ledger: ClockedLedger) -> None:
    action = Propose(
        decision_type="proposal", title="Recover", text="", deadline_ms=deadline_ms,
        effect=RecoverKey(member=bea, new_key=cal),
    )
    error = validate(ledger.state, ledger.sign(cal_key, action).intent, ledger.now_ms)
    assert error is not None and error.code == "key_in_use"


def test_state_without_decisions_keeps_its_earlier_digest() -> None:
    plain = Ledger()
    assert state_digest(plain.state) == state_digest(replace(plain.state, decisions=plain.state.decisions))
    assert isinstance(plain.state, State)


# ---- the transaction levy -----------------------------------------------------------------------


def with_levy(ledger: ClockedLedger, rate_bp: int, min_minor: int, max_minor: int) -> bytes:
    pass_decision(ledger, effect=SetLevy(rate_bp=rate_bp, min_minor=min_minor, max_minor=max_minor))
    assert ledger.state.treasury is not None
    return ledger.state.treasury


def test_a_passed_levy_opens_the_treasury_account_at_zero(ledger: ClockedLedger) -> None:
    treasury = with_levy(ledger, 200, 5, 50)
    assert ledger.state.members[treasury].role == "treasury" and ledger.state.accounts[treasury].balance_minor == 0
    assert ledger.state.members[treasury].name == "Treasury"


def test_a_payment_pays_the_levy_on_top_into_the_treasury(ledger: ClockedLedger) -> None:
    treasury = with_levy(ledger, 200, 5, 50)
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=500))
    accounts = ledger.state.accounts
    assert (accounts[bea].balance_minor, accounts[cal].balance_minor, accounts[treasury].balance_minor) == (-510, 500, 10)


def test_the_levy_is_at_least_its_minimum_and_at_most_its_maximum(ledger: ClockedLedger) -> None:
    treasury = with_levy(ledger, 200, 5, 12)
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=10))  # 2 % is 0: the minimum, 5
    assert ledger.state.accounts[treasury].balance_minor == 5
    ledger.accept(cal_key, Transfer(to=dee, amount_minor=400))  # 2 % is 8
    assert ledger.state.accounts[treasury].balance_minor == 5 + 8
    ledger.accept(dee_key, Transfer(to=bea, amount_minor=900))  # 2 % is 18: the maximum, 12
    assert ledger.state.accounts[treasury].balance_minor == 5 + 8 + 12


def test_the_levy_caps_at_its_maximum(ledger: ClockedLedger) -> None:
    treasury = with_levy(ledger, 5000, 0, 7)
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=100))
    assert ledger.state.accounts[treasury].balance_minor == 7


def test_a_payment_to_the_treasury_carries_no_levy(ledger: ClockedLedger) -> None:
    treasury = with_levy(ledger, 200, 5, 50)
    ledger.accept(bea_key, Transfer(to=treasury, amount_minor=100))
    assert ledger.state.accounts[bea].balance_minor == -100 and ledger.state.accounts[treasury].balance_minor == 100


def test_a_refusal_for_the_levy_says_the_most_that_can_be_paid_with_its_levy(ledger: ClockedLedger) -> None:
    # 10 %, no minimum: paying 9.09 TST costs 9.09 + 0.90 = 9.99 TST (within -10.00 TST); 9.10 TST costs 10.01.
    with_levy(ledger, 1000, 0, 10**6)
    error = assert_refused(ledger, bea_key, Transfer(to=cal, amount_minor=950), DebitLimitError)
    assert error.message.startswith("Bea (paying 0.95 TST of levy too) would go below the debit limit of -10.00 TST")
    assert error.message.endswith(": pay at most 9.09 TST")
    assert_refused(ledger, bea_key, Transfer(to=cal, amount_minor=910), DebitLimitError)
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=909))


def test_a_payment_whose_levy_would_break_the_payers_debit_limit_is_refused(ledger: ClockedLedger) -> None:
    with_levy(ledger, 200, 5, 50)
    assert_refused(ledger, bea_key, Transfer(to=cal, amount_minor=990), DebitLimitError)


def test_a_levy_with_its_minimum_above_its_maximum_is_refused(ledger: ClockedLedger) -> None:
    action = Propose(decision_type="proposal", title="Levy", text="", deadline_ms=deadline_ms,
                     effect=SetLevy(rate_bp=100, min_minor=10, max_minor=5))
    assert_refused(ledger, bea_key, action, BadDecisionError)


def test_a_levy_of_zero_turns_it_off(ledger: ClockedLedger) -> None:
    treasury = with_levy(ledger, 200, 5, 50)
    ledger.now_ms += 1
    seq = ledger.propose(deadline_ms=0, voting_period_ms=period_ms, effect=SetLevy(rate_bp=0, min_minor=0, max_minor=0))
    for signer in (admin_key, bea_key, cal_key):
        ledger.vote(signer, seq, "agree")
    assert ledger.close(seq) == "passed"
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=100))
    assert ledger.state.accounts[treasury].balance_minor == 0 and ledger.state.levy is None


def test_the_treasury_cannot_be_removed_or_recovered_and_does_not_vote(ledger: ClockedLedger) -> None:
    treasury = with_levy(ledger, 200, 5, 50)
    assert_refused(ledger, admin_key, RemoveMember(member=treasury), NotAuthorizedError)
    action = ProposeWithPeriod(decision_type="proposal", title="Steal", text="", deadline_ms=0, voting_period_ms=period_ms,
                     effect=RecoverKey(member=treasury, new_key=stranger_key.public))
    assert_refused(ledger, bea_key, action, NotAuthorizedError)
    assert tally(ledger, ledger.propose(deadline_ms=0, voting_period_ms=period_ms)).electorate == 4


def test_a_member_holds_a_bounded_number_of_delegations(ledger: ClockedLedger) -> None:
    from tallystick.protocol import limits

    for index in range(limits.delegations_per_member_max):
        ledger.accept(bea_key, Delegate(to=cal, topic=f"topic {index}"))
    assert_refused(ledger, bea_key, Delegate(to=cal, topic="one more"), BadDelegationError)
    ledger.accept(bea_key, Delegate(to=dee, topic="topic 0"))  # replacing one is fine


def test_a_ranked_poll_scores_options_by_borda_count(ledger: ClockedLedger) -> None:
    seq = ledger.propose(decision_type="poll", options=("Tea", "Coffee", "Juice"), ranked=True)
    ledger.vote(admin_key, seq, options=(0, 1, 2))  # Tea 3, Coffee 2, Juice 1
    ledger.vote(bea_key, seq, options=(1, 0))  # Coffee 3, Tea 2
    ledger.vote(cal_key, seq, options=(1,))  # Coffee 3
    result = tally(ledger, seq)
    assert result.option_counts == (5, 8, 1) and decisions.winners(result) == [1]


def test_a_poll_both_multiple_and_ranked_is_refused(ledger: ClockedLedger) -> None:
    action = Propose(decision_type="poll", title="Which?", text="", deadline_ms=deadline_ms,
                     options=("A", "B"), multiple=True, ranked=True)
    assert_refused(ledger, bea_key, action, BadDecisionError)


def test_a_passed_treasury_payment_spends_the_levies_without_a_levy(ledger: ClockedLedger) -> None:
    treasury = with_levy(ledger, 200, 5, 50)
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=500))  # levy 10
    ledger.now_ms += 1
    seq = ledger.propose(deadline_ms=0, voting_period_ms=period_ms, effect=TreasuryPay(to=dee, amount_minor=7, memo="litter picking"))
    for signer in (admin_key, bea_key, cal_key):
        ledger.vote(signer, seq, "agree")
    assert ledger.close(seq) == "passed"
    assert ledger.state.accounts[treasury].balance_minor == 3 and ledger.state.accounts[dee].balance_minor == 7
    assert sum(account.balance_minor for account in ledger.state.accounts.values()) == 0


def test_a_treasury_payment_beyond_its_balance_is_refused(ledger: ClockedLedger) -> None:
    with_levy(ledger, 200, 5, 50)
    action = ProposeWithPeriod(decision_type="proposal", title="Spend", text="", deadline_ms=0, voting_period_ms=period_ms,
                     effect=TreasuryPay(to=dee, amount_minor=1))
    assert_refused(ledger, bea_key, action, DebitLimitError)


def test_a_treasury_payment_without_a_treasury_is_refused(ledger: ClockedLedger) -> None:
    action = Propose(decision_type="proposal", title="Spend", text="", deadline_ms=deadline_ms,
                     effect=TreasuryPay(to=dee, amount_minor=1))
    assert_refused(ledger, bea_key, action, BadDecisionError)


def test_a_proposal_past_the_most_decisions_open_at_once_is_refused(ledger: ClockedLedger) -> None:
    from tallystick.ledger.errors import TooManyDecisionsError
    from tallystick.protocol import limits

    for _ in range(limits.decisions_open_max):
        ledger.propose(bea_key)
    action = Propose(decision_type="proposal", title="One more", text="", deadline_ms=deadline_ms)
    assert_refused(ledger, bea_key, action, TooManyDecisionsError)


# ---- bars as people type them (ledger/money.py: parse_share) ---------------------------------------


@pytest.mark.parametrize(
    ("text", "basis_points"),
    [("2/3", 6667), ("66.67", 6667), ("66.67%", 6667), ("66.67 %", 6667), ("50", 5000), ("1/2", 5000),
     ("1/3", 3333), ("0", 0), ("100", 10_000), ("3/4", 7500)],
)
def test_a_bar_is_typed_as_a_percent_or_a_fraction(text: str, basis_points: int) -> None:
    assert money.parse_share(text) == basis_points


@pytest.mark.parametrize(
    ("text", "says"),
    [("66.666", "more than two decimals"), ("101", "more than 100 %"), ("4/3", "more than the whole"),
     ("1/0", "divides by zero"), ("two thirds", "write a percent like 66.67"), ("1e2", "write a percent"),
     ("-5", "write a percent"), ("", "write a percent")],
)
def test_a_bar_that_is_not_a_share_is_refused_saying_what_to_type(text: str, says: str) -> None:
    with pytest.raises(BadDecisionError) as refused:
        money.parse_share(text)
    assert says in refused.value.message and len(refused.value.message.splitlines()) == 1


def test_a_members_tally_counts_people_and_leaves_out_the_treasury(ledger: ClockedLedger) -> None:
    with_levy(ledger, 200, 5, 50)  # opens the treasury: an account in the members table, not a person
    seq = ledger.propose(deadline_ms=0, voting_period_ms=3600_000)
    ledger.vote(admin_key, seq, "agree")
    ledger.vote(bea_key, seq, "disagree")
    result = decisions.tally(ledger.state, ledger.state.decisions[seq])
    assert (result.electorate, result.participants, result.direct) == (4, 2, 2)
    assert (result.electorate_people, result.participants_people, result.direct_people) == (4, 2, 2)
    assert people(ledger.state) == 4 and len(ledger.state.members) == 5
