"""The community's floors in the pure domain: what each class of effect must ask for, refused at the
proposal (`below_floor`) and, on a replica, in the proposal event and in a close that breaks them.

Ada is the admin; Bea, Cal and Dee are members. Events carry the ledger's clock (`now_ms`), as the
sequencer stamps them; a hostile node's events are appended without `validate` and then refolded
as a replica does, which must refuse them.
"""

from __future__ import annotations

import msgspec
import pytest
from tallystick.ledger import decisions
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import BadDecisionError, BelowFloorError, DecisionNotDueError, DomainError
from tallystick.protocol.codec import encode
from tallystick.protocol.events import (
    Act,
    AdmitMember,
    DecisionClosed,
    FederationAct,
    Floor,
    Propose,
    ProposeWithPeriod,
    RecoverKey,
    RemoveMember,
    SetFloors,
    SetLimits,
    SetRules,
    Vote,
)
from tallystick.protocol.federation import Charter, CharterMember, FederationVote
from tallystick.protocol.ids import KeyPair

from helpers.ledger import ClockedLedger, admin_key, key, refold

bea_key, cal_key, dee_key = key("bea"), key("cal"), key("dee")
ada, bea, cal, dee = admin_key.public, bea_key.public, cal_key.public, dee_key.public
everyone = (admin_key, bea_key, cal_key, dee_key)
hour_ms = 3600 * 1000


@pytest.fixture
def ledger() -> ClockedLedger:
    ledger = ClockedLedger()
    for member, name in ((bea, "Bea"), (cal, "Cal"), (dee, "Dee")):
        ledger.accept(admin_key, AdmitMember(member=member, name=name))
    return ledger


def proposal(effect: object = None, *, period_ms: int, **fields: object) -> Propose:
    fields.setdefault("decision_type", "proposal")
    return ProposeWithPeriod(title="A change", text="", deadline_ms=0, voting_period_ms=period_ms, effect=effect,  # type: ignore[arg-type]
                   **fields)  # type: ignore[arg-type]


def refused(ledger: ClockedLedger, signer: KeyPair, action: Propose) -> DomainError:
    before, digest = ledger.state, state_digest(ledger.state)
    error = ledger.submit(ledger.sign(signer, action))
    assert error is not None and ledger.state is before and state_digest(ledger.state) == digest
    assert error.message and len(error.message.splitlines()) == 1
    return error


def propose(ledger: ClockedLedger, signer: KeyPair, action: Propose) -> int:
    error = ledger.submit(ledger.sign(signer, action))
    assert error is None, repr(error)
    return ledger.seq


def vote(ledger: ClockedLedger, seq: int, position: str, *signers: KeyPair) -> None:
    for signer in signers:
        assert ledger.submit(ledger.sign(signer, Vote(decision=seq, position=position))) is None  # type: ignore[arg-type]


def close_at_deadline(ledger: ClockedLedger, seq: int) -> str:
    ledger.now_ms = max(ledger.now_ms, ledger.state.decisions[seq].deadline_ms)
    body = decisions.closing_body(ledger.state, seq)
    assert body is not None
    ledger.audited(body)
    return ledger.state.decisions[seq].outcome  # type: ignore[return-value]


def test_each_effect_has_the_class_the_floors_are_set_for(ledger: ClockedLedger) -> None:
    state = ledger.state
    charter = Charter("Valley", "VAL", 2, (CharterMember(ledger.feed, "TST", 1, 1),), 6000, 0)
    assert decisions.decision_class(state, None) == "general"
    assert decisions.decision_class(state, AdmitMember(member=b"\x09" * 32, name="Eve")) == "membership"
    assert decisions.decision_class(state, AdmitMember(member=b"\x09" * 32, name="Eve", role="admin")) == "rules"
    assert decisions.decision_class(state, RemoveMember(member=bea)) == "membership"
    assert decisions.decision_class(state, RemoveMember(member=ada)) == "rules"
    assert decisions.decision_class(state, SetLimits(bea, 5, 5)) == "limits"
    assert decisions.decision_class(state, SetLimits(ada, 5, 5)) == "rules"
    assert decisions.decision_class(state, RecoverKey(member=bea, new_key=b"\x08" * 32)) == "key_recovery"
    assert decisions.decision_class(state, RecoverKey(member=ada, new_key=b"\x08" * 32)) == "rules"
    assert decisions.decision_class(state, SetRules("decision", 5000, 5000)) == "rules"
    assert decisions.decision_class(state, SetFloors((Floor("general", 0, 0, 0),))) == "rules"
    assert decisions.decision_class(state, FederationAct(body=charter)) == "rules"
    assert decisions.decision_class(state, FederationAct(body=FederationVote(b"\x07" * 32, 0, None))) == "federation"


def test_the_default_floors_keep_the_rules_class_the_strictest() -> None:
    strictest = decisions.default_floors["rules"]
    for floor in decisions.default_floors.values():
        assert floor.quorum_bp <= strictest.quorum_bp and floor.threshold_bp <= strictest.threshold_bp
        assert floor.period_ms <= strictest.period_ms
    recovery = decisions.default_floors["key_recovery"]
    assert (recovery.quorum_bp, recovery.period_ms) == (5000, 72 * hour_ms) and strictest.period_ms == 72 * hour_ms


def test_a_quorum_below_the_floor_is_refused_at_the_proposal(ledger: ClockedLedger) -> None:
    error = refused(ledger, bea_key, proposal(SetLimits(bea, 10**15, None), period_ms=72 * hour_ms, quorum_bp=4999))
    assert isinstance(error, BelowFloorError) and "quorum of at least 50 %" in error.message


def test_a_threshold_below_the_floor_is_refused_at_the_proposal(ledger: ClockedLedger) -> None:
    action = proposal(RecoverKey(member=cal, new_key=b"\x08" * 32), period_ms=72 * hour_ms, threshold_bp=5000)
    error = refused(ledger, bea_key, action)
    assert isinstance(error, BelowFloorError) and "threshold of at least 66.67 %" in error.message


def test_a_time_open_below_the_floor_is_refused_at_the_proposal(ledger: ClockedLedger) -> None:
    error = refused(ledger, bea_key, proposal(SetLimits(bea, 10**15, None), period_ms=48 * hour_ms - 1))
    assert isinstance(error, BelowFloorError) and "at least 48 h" in error.message
    propose(ledger, bea_key, proposal(SetLimits(bea, 10**15, None), period_ms=48 * hour_ms))


def test_an_effect_on_an_admins_account_needs_the_strictest_class(ledger: ClockedLedger) -> None:
    error = refused(ledger, bea_key, proposal(SetLimits(ada, 0, 0), period_ms=48 * hour_ms))
    assert isinstance(error, BelowFloorError) and "an admin's account" in error.message and "72 h" in error.message


def test_a_proposal_naming_no_quorum_gets_the_floor_when_the_default_is_lower(ledger: ClockedLedger) -> None:
    rules = propose(ledger, admin_key, proposal(SetRules("admin", 1000, 5000), period_ms=72 * hour_ms))
    vote(ledger, rules, "agree", *everyone)  # unanimous: closes at once
    ledger.audited(decisions.closing_body(ledger.state, rules))  # type: ignore[arg-type]
    assert ledger.state.rules.quorum_bp == 1000
    limits_change = propose(ledger, bea_key, proposal(SetLimits(bea, 500, None), period_ms=48 * hour_ms))
    general = propose(ledger, bea_key, proposal(None, period_ms=hour_ms))
    assert ledger.state.decisions[limits_change].quorum_bp == 5000  # the limits floor
    assert ledger.state.decisions[general].quorum_bp == 1000  # the community's own default


def test_consent_meets_a_threshold_floor_because_one_block_stops_it(ledger: ClockedLedger) -> None:
    action = proposal(RecoverKey(member=cal, new_key=b"\x08" * 32), period_ms=72 * hour_ms, decision_type="consent")
    seq = propose(ledger, bea_key, action)
    vote(ledger, seq, "agree", admin_key, bea_key)
    vote(ledger, seq, "block", cal_key)
    assert close_at_deadline(ledger, seq) == "blocked"
    assert ledger.state.members[cal].key == cal


def test_a_poll_cannot_carry_an_effect_to_dodge_the_floors(ledger: ClockedLedger) -> None:
    action = proposal(SetLimits(bea, 10**15, None), period_ms=72 * hour_ms, decision_type="poll", options=("a", "b"))
    assert isinstance(refused(ledger, bea_key, action), BadDecisionError)


def test_two_agreeing_and_one_disagreeing_pass_the_two_thirds_floor_and_a_replica_agrees(
    ledger: ClockedLedger,
) -> None:
    # The rules class asks for 66.67 %; two of three is 66.666... %, which is 66.67 % to the basis point.
    seq = propose(ledger, admin_key, proposal(SetRules("admin", 5000, 6667), period_ms=72 * hour_ms))
    assert ledger.state.decisions[seq].threshold_bp == 6667
    vote(ledger, seq, "agree", admin_key, bea_key)
    vote(ledger, seq, "disagree", cal_key)
    assert close_at_deadline(ledger, seq) == "passed"
    refolded, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state_digest(refolded) == state_digest(ledger.state)


def test_three_agreeing_and_two_disagreeing_do_not_reach_two_thirds(ledger: ClockedLedger) -> None:
    ledger.accept(admin_key, AdmitMember(member=key("eve").public, name="Eve"))
    seq = propose(ledger, admin_key, proposal(SetRules("admin", 5000, 6667), period_ms=72 * hour_ms))
    vote(ledger, seq, "agree", admin_key, bea_key, cal_key)
    vote(ledger, seq, "disagree", dee_key, key("eve"))
    assert close_at_deadline(ledger, seq) == "rejected"


def test_a_unanimous_decision_closes_before_its_deadline_and_a_replica_accepts_it(ledger: ClockedLedger) -> None:
    seq = propose(ledger, bea_key, proposal(SetLimits(bea, 500, None), period_ms=48 * hour_ms))
    vote(ledger, seq, "agree", *everyone)
    assert decisions.due_closures(ledger.state, ledger.now_ms) == [seq]
    ledger.audited(decisions.closing_body(ledger.state, seq))  # type: ignore[arg-type]
    assert ledger.state.decisions[seq].outcome == "passed" and ledger.state.accounts[bea].debit_limit_minor == 500
    refolded, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state_digest(refolded) == state_digest(ledger.state)


def test_a_close_before_the_deadline_without_unanimity_is_refused_by_a_replica(ledger: ClockedLedger) -> None:
    seq = propose(ledger, bea_key, proposal(SetLimits(bea, 500, None), period_ms=48 * hour_ms))
    vote(ledger, seq, "agree", admin_key, bea_key, cal_key)
    vote(ledger, seq, "abstain", dee_key)
    assert decisions.due_closures(ledger.state, ledger.now_ms) == []
    with pytest.raises(DecisionNotDueError):
        ledger.audited(DecisionClosed(decision=seq, outcome="passed"))


def test_a_replica_refuses_a_proposal_event_below_the_floors(ledger: ClockedLedger) -> None:
    attack = ledger.sign(bea_key, Propose("consent", "Quick one", "", ledger.now_ms + 1500, quorum_bp=0,
                                          effect=SetLimits(bea, 10**15, None)))
    ledger.append(Act(intent=attack.raw), attack.intent)  # a hostile node appends it without validate
    with pytest.raises(BelowFloorError):
        refold(ledger.genesis_bytes, ledger.events)


def raise_limits_floor(ledger: ClockedLedger, quorum_bp: int) -> None:
    floors = SetFloors((Floor("limits", quorum_bp, 5000, 48 * hour_ms), Floor("rules", quorum_bp, 6667, 72 * hour_ms)))
    seq = propose(ledger, admin_key, proposal(floors, period_ms=72 * hour_ms))
    vote(ledger, seq, "agree", *everyone)
    ledger.audited(decisions.closing_body(ledger.state, seq))  # type: ignore[arg-type]
    assert ledger.state.decisions[seq].outcome == "passed"
    assert decisions.floors_in_force(ledger.state)["limits"].quorum_bp == quorum_bp


def test_a_decision_whose_floors_rose_while_it_was_open_closes_below_floor(ledger: ClockedLedger) -> None:
    seq = propose(ledger, bea_key, proposal(SetLimits(bea, 500, None), period_ms=48 * hour_ms))
    raise_limits_floor(ledger, 7500)
    vote(ledger, seq, "agree", bea_key, cal_key)  # half the members: the old floor, not the new
    assert close_at_deadline(ledger, seq) == "below_floor"
    assert ledger.state.accounts[bea].debit_limit_minor is None


def test_a_replica_refuses_a_close_that_passes_a_decision_below_the_floors(ledger: ClockedLedger) -> None:
    seq = propose(ledger, bea_key, proposal(SetLimits(bea, 500, None), period_ms=48 * hour_ms))
    raise_limits_floor(ledger, 7500)
    vote(ledger, seq, "agree", bea_key, cal_key)
    ledger.now_ms = ledger.state.decisions[seq].deadline_ms
    with pytest.raises(BelowFloorError):
        ledger.audited(DecisionClosed(decision=seq, outcome="passed"))


def test_floors_that_would_make_a_class_stricter_than_the_rules_class_are_refused(ledger: ClockedLedger) -> None:
    floors = SetFloors((Floor("limits", 9000, 5000, 48 * hour_ms),))
    error = refused(ledger, admin_key, proposal(floors, period_ms=72 * hour_ms))
    assert isinstance(error, BadDecisionError) and "strict" in error.message


def test_a_class_named_twice_in_set_floors_is_refused(ledger: ClockedLedger) -> None:
    floors = SetFloors((Floor("general", 0, 0, 0), Floor("general", 100, 0, 0)))
    assert isinstance(refused(ledger, admin_key, proposal(floors, period_ms=72 * hour_ms)), BadDecisionError)


def test_the_community_may_lower_its_floors_by_a_decision_of_the_strictest_class(ledger: ClockedLedger) -> None:
    lowered = SetFloors((Floor("membership", 0, 0, 0),))
    assert isinstance(refused(ledger, admin_key, proposal(lowered, period_ms=hour_ms)), BelowFloorError)
    seq = propose(ledger, admin_key, proposal(lowered, period_ms=72 * hour_ms))
    vote(ledger, seq, "agree", admin_key, bea_key, cal_key)
    assert close_at_deadline(ledger, seq) == "passed"
    propose(ledger, bea_key, proposal(AdmitMember(member=b"\x09" * 32, name="Eve"), period_ms=1000, quorum_bp=0))


def test_a_voting_period_runs_from_the_events_own_time(ledger: ClockedLedger) -> None:
    ledger.now_ms = 5_000_000_000_000  # the log's time jumped far ahead of any member's clock
    seq = propose(ledger, bea_key, proposal(None, period_ms=10_000))
    assert ledger.state.decisions[seq].deadline_ms == ledger.now_ms + 10_000
    vote(ledger, seq, "agree", admin_key)
    absolute = Propose("proposal", "Absolute", "", 1_800_000_000_000)  # a member's clock: already "past" here
    assert refused(ledger, bea_key, absolute).code == "deadline_passed"


def test_a_deadline_and_a_voting_period_together_are_refused(ledger: ClockedLedger) -> None:
    action = ProposeWithPeriod("proposal", "Both", "", ledger.now_ms + hour_ms, voting_period_ms=hour_ms)
    assert isinstance(refused(ledger, bea_key, action), BadDecisionError)


def test_a_propose_with_a_period_is_a_kind_of_its_own_and_a_propose_keeps_its_bytes() -> None:
    # A plain propose is the 13-element array it always was, so no log written before changes.
    plain = msgspec.msgpack.decode(encode(Propose("proposal", "T", "", 5)))
    assert plain[0] == "propose" and len(plain) == 13
    with_period = msgspec.msgpack.decode(encode(ProposeWithPeriod("proposal", "T", "", 0, voting_period_ms=60_000)))
    assert with_period[0] == "propose_period" and with_period[1:13] == [*plain[1:4], 0, *plain[5:13]]
    assert with_period[13] == 60_000
