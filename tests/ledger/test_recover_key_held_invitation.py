"""A recovery by decision (`recover_key`, docs/protocol.md §13.2.4) may not name a key a held
invitation already names, as `add_key`, `rebind_key` and `admit` may not: refused `key_in_use` when
proposed, and, for an invitation made while the decision was open, `effect_refused` at its close,
the invitation still good for its invitee. Everything refused changes nothing."""

from __future__ import annotations

from tallystick.ledger import decisions
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import KeyInUseError
from tallystick.protocol.events import AddKey, AdmitMember, Invite, Join, Propose, RecoverKey, Vote

from helpers.ledger import ClockedLedger, admin_key, key, refold

day_ms = 24 * 3600 * 1000
bea_key, cal_key = key("bea"), key("cal")
bea, cal = bea_key.public, cal_key.public


def community() -> ClockedLedger:
    ledger = ClockedLedger(now_ms=10 * day_ms)
    ledger.accept(admin_key, AdmitMember(member=bea, name="Bea"))
    ledger.accept(admin_key, AdmitMember(member=cal, name="Cal"))
    return ledger


def recovery_of_bea_to(ledger: ClockedLedger, new_key: bytes) -> Propose:
    return Propose(decision_type="proposal", title="Recover Bea", text="", deadline_ms=ledger.now_ms + 4 * day_ms,
                   effect=RecoverKey(member=bea, new_key=new_key))


def test_a_recovery_to_a_held_invitations_key_is_refused_key_in_use_and_changes_nothing() -> None:
    ledger = community()
    invitation = key("held invitation")
    ledger.accept(admin_key, Invite(invitation=invitation.public, expires_ms=ledger.now_ms + day_ms))
    before, digest, events = ledger.state, state_digest(ledger.state), len(ledger.events)
    error = ledger.submit(ledger.sign(cal_key, recovery_of_bea_to(ledger, invitation.public)))
    assert type(error) is KeyInUseError and "invitation" in error.message and "\n" not in error.message
    assert ledger.state is before and state_digest(ledger.state) == digest and len(ledger.events) == events
    assert ledger.submit(ledger.sign(invitation, Join(member=key("dee").public, name="Dee"))) is None


def test_an_invitation_made_while_a_recovery_is_open_makes_it_refused_at_the_close() -> None:
    ledger = community()
    invitation = key("invitation made later")
    proposal = recovery_of_bea_to(ledger, invitation.public)
    seq = ledger.accept(cal_key, proposal).seq
    for signer in (admin_key, cal_key, bea_key):
        ledger.accept(signer, Vote(decision=seq, position="agree"))
    ledger.accept(admin_key, Invite(invitation=invitation.public, expires_ms=proposal.deadline_ms + day_ms))
    ledger.now_ms = proposal.deadline_ms
    ledger.audited(decisions.closing_body(ledger.state, seq))
    assert ledger.state.decisions[seq].outcome == "effect_refused"
    assert ledger.state.members[bea].current_keys == (bea,)
    ledger.accept(bea_key, AddKey(key=key("bea's laptop").public))  # her own keys still sign
    assert ledger.submit(ledger.sign(invitation, Join(member=key("eve").public, name="Eve"))) is None
    state, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state_digest(state) == state_digest(ledger.state)
