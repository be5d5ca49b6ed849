"""Invitations as a decision's effect (ledger/membership.py, ledger/decisions.py, docs/protocol.md
§13.2.4): where a community admits by decision an admin cannot invite alone, but a passed decision
makes the invitation, held as the community's own (`invited_by` its feed id), so the join depends
on no member's role. Every intent is really signed and every feed refolded from its bytes."""

from __future__ import annotations

from tallystick.ledger import decisions
from tallystick.ledger.changes import of_event
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import (
    BadInvitationError,
    InvitationUnknownError,
    KeyInUseError,
    NotAuthorizedError,
)
from tallystick.ledger.transition import validate
from tallystick.protocol.events import (
    AdmitMember,
    Effect,
    Invite,
    Join,
    ProposeWithPeriod,
    SetRole,
    SetRules,
    Transfer,
    Vote,
)

from helpers.ledger import ClockedLedger, admin_key, key, refold

day_ms = 24 * 3600 * 1000
invitation, newcomer, member_key = key("invitation"), key("newcomer"), key("plain member")


def propose(ledger: ClockedLedger, effect: Effect, period_ms: int = day_ms, signer=admin_key) -> int | object:
    """Propose `effect` for `period_ms`: the decision's seq, or the refusal."""
    error = ledger.submit(ledger.sign(signer, ProposeWithPeriod(
        decision_type="proposal", title="Invite someone", text="", deadline_ms=0, effect=effect,
        voting_period_ms=period_ms)))
    return ledger.seq if error is None else error


def everyone_agrees(ledger: ClockedLedger, seq: int) -> str:
    """Every member agrees, so the decision closes at once (unanimity); its outcome."""
    for signer in (admin_key, member_key):
        assert ledger.submit(ledger.sign(signer, Vote(decision=seq, position="agree"))) is None
    ledger.audited(decisions.closing_body(ledger.state, seq))
    return ledger.state.decisions[seq].outcome


def by_decision() -> ClockedLedger:
    ledger = ClockedLedger(now_ms=10 * day_ms)
    ledger.accept(admin_key, AdmitMember(member=member_key.public, name="Bea"))
    seq = propose(ledger, SetRules(admission="decision", quorum_bp=5000, threshold_bp=6667), 3 * day_ms)
    assert everyone_agrees(ledger, seq) == "passed"
    return ledger


def an_invitation(expires_in_ms: int = 7 * day_ms, **fields: object) -> Invite:
    return Invite(invitation=invitation.public, expires_ms=10 * day_ms + expires_in_ms, **fields)  # type: ignore[arg-type]


def test_a_passed_decision_makes_the_communitys_invitation_and_its_holder_joins() -> None:
    ledger = by_decision()
    refused = ledger.submit(ledger.sign(admin_key, an_invitation()))
    assert type(refused) is NotAuthorizedError and "propose" in refused.message
    seq = propose(ledger, an_invitation(debit_limit_minor=5000))
    # Before the decision passes, the invitation's key admits no one.
    early = validate(ledger.state, ledger.sign(invitation, Join(member=newcomer.public, name="Cleo")).intent)
    assert type(early) is InvitationUnknownError
    assert everyone_agrees(ledger, seq) == "passed"
    held = ledger.state.invitations[invitation.public]
    assert (held.invited_by, held.seq, held.debit_limit_minor) == (ledger.feed, ledger.seq, 5000)
    assert ledger.submit(ledger.sign(invitation, Join(member=newcomer.public, name="Cleo"))) is None
    assert ledger.state.accounts[newcomer.public].debit_limit_minor == 5000
    assert invitation.public not in ledger.state.invitations
    assert ledger.submit(ledger.sign(newcomer, Transfer(to=member_key.public, amount_minor=100))) is None
    state, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state_digest(state) == state_digest(ledger.state)


def test_the_closing_event_names_the_invitation_row_it_writes() -> None:
    ledger = by_decision()
    seq = propose(ledger, an_invitation())
    for signer in (admin_key, member_key):
        ledger.accept(signer, Vote(decision=seq, position="agree"))
    before = ledger.state
    closing = ledger.audited(decisions.closing_body(ledger.state, seq))
    assert invitation.public in of_event(before, ledger.state, closing.body, None).invitations


def test_a_decisions_invitation_survives_its_proposer_losing_the_admin_role() -> None:
    ledger = by_decision()
    seq = propose(ledger, an_invitation(), signer=admin_key)
    assert everyone_agrees(ledger, seq) == "passed"
    second = key("second admin")
    seq = propose(ledger, AdmitMember(member=second.public, name="Ann", role="admin"), 3 * day_ms)
    assert everyone_agrees(ledger, seq) == "passed"
    ledger.accept(second, SetRole(member=admin_key.public, role="member"))
    assert ledger.state.members[admin_key.public].role == "member"
    assert ledger.submit(ledger.sign(invitation, Join(member=newcomer.public, name="Cleo"))) is None


def test_an_invitation_decision_is_refused_where_the_invitation_could_not_be_made() -> None:
    ledger = by_decision()
    before = state_digest(ledger.state)
    expires_first = propose(ledger, an_invitation(expires_in_ms=day_ms // 2))
    assert type(expires_first) is BadInvitationError and "deadline" in expires_first.message
    too_long = propose(ledger, an_invitation(expires_in_ms=40 * day_ms))
    assert type(too_long) is BadInvitationError
    taken = propose(ledger, Invite(invitation=member_key.public, expires_ms=ledger.now_ms + 7 * day_ms))
    assert type(taken) is KeyInUseError
    assert state_digest(ledger.state) == before


def test_an_admin_role_invitation_is_a_decision_of_the_rules_class() -> None:
    ledger = by_decision()
    assert decisions.decision_class(ledger.state, an_invitation(role="admin")) == "rules"
    assert decisions.decision_class(ledger.state, an_invitation()) == "membership"
    short = propose(ledger, an_invitation(role="admin"), day_ms)
    assert short.code == "below_floor"  # type: ignore[union-attr]


def test_an_invitation_expired_by_its_close_is_effect_refused_and_admits_no_one() -> None:
    ledger = by_decision()
    seq = propose(ledger, an_invitation(expires_in_ms=2 * day_ms))
    for signer in (admin_key, member_key):
        ledger.accept(signer, Vote(decision=seq, position="agree"))
    ledger.now_ms += 3 * day_ms  # the timer was late: the invitation expired before the close
    ledger.accept(admin_key, Transfer(to=member_key.public, amount_minor=1))
    ledger.audited(decisions.closing_body(ledger.state, seq))
    assert ledger.state.decisions[seq].outcome == "effect_refused"
    assert invitation.public not in ledger.state.invitations
    state, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state_digest(state) == state_digest(ledger.state)
