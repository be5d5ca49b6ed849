"""Invitations in the pure ledger (ledger/membership.py, docs/protocol.md §13.2.4): an admin invites
with a one-time key, the person holding its seed joins with a key of their own, once, before the
expiry; everything else is refused with its own code and changes nothing. Every intent is really
signed and every feed is refolded from its bytes as a replica does."""

from __future__ import annotations

import msgspec
import pytest
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import (
    BadInvitationError,
    DomainError,
    InvitationExpiredError,
    InvitationUnknownError,
    InvitationUsedError,
    KeyInUseError,
    KeyRetiredError,
    NameTakenError,
    NotAuthorizedError,
    TooManyInvitationsError,
)
from tallystick.ledger.model import Rules
from tallystick.ledger.transition import validate
from tallystick.protocol import limits
from tallystick.protocol.codec import encode
from tallystick.protocol.events import AdmitMember, Invite, Join, RevokeInvitation, SetRole, Transfer
from tallystick.protocol.ids import KeyPair, hash32
from tallystick.protocol.personal import Committed

from helpers.ledger import ClockedLedger, admin_key, key, refold

day_ms = 24 * 3600 * 1000
invitation, newcomer = key("invitation"), key("newcomer")
member_key = key("plain member")


def community() -> ClockedLedger:
    ledger = ClockedLedger(now_ms=10 * day_ms)
    ledger.accept(admin_key, AdmitMember(member=member_key.public, name="Bea"))
    return ledger


def invite(ledger: ClockedLedger, invitation_key: KeyPair = invitation, **fields: object) -> DomainError | None:
    action = Invite(invitation=invitation_key.public, expires_ms=int(fields.pop("expires_ms", ledger.now_ms + 7 * day_ms)),
                    **fields)  # type: ignore[arg-type]
    return ledger.submit(ledger.sign(admin_key, action))


def join(ledger: ClockedLedger, invitation_key: KeyPair = invitation, member: KeyPair = newcomer,
         name: str | Committed = "Cleo") -> DomainError | None:
    return ledger.submit(ledger.sign(invitation_key, Join(member=member.public, name=name)))


def refused_alike(ledger: ClockedLedger, error: DomainError | None, kind: type[DomainError], before: bytes) -> None:
    assert type(error) is kind, error
    assert state_digest(ledger.state) == before and error.message and "\n" not in error.message


def test_a_join_by_an_open_invitation_admits_the_member_with_its_role_and_limits() -> None:
    ledger = community()
    assert invite(ledger, role="admin", debit_limit_minor=5000, credit_ceiling_minor=50_000) is None
    ledger.now_ms += day_ms
    assert join(ledger) is None
    member = ledger.state.members[newcomer.public]
    account = ledger.state.accounts[newcomer.public]
    assert (member.name, member.key, member.role, member.active) == ("Cleo", newcomer.public, "admin", True)
    assert (account.balance_minor, account.debit_limit_minor, account.credit_ceiling_minor) == (0, 5000, 50_000)
    assert invitation.public not in ledger.state.invitations
    # The new member signs with their own key at once.
    assert ledger.submit(ledger.sign(newcomer, Transfer(to=member_key.public, amount_minor=100))) is None
    state, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state_digest(state) == state_digest(ledger.state)


def test_limits_left_out_of_the_invitation_are_the_communitys_defaults() -> None:
    ledger = community()
    assert invite(ledger) is None and join(ledger) is None
    account = ledger.state.accounts[newcomer.public]
    assert (account.debit_limit_minor, account.credit_ceiling_minor) == (None, None)
    assert ledger.state.members[newcomer.public].role == "member"


def test_a_second_join_with_the_same_invitation_is_invitation_used_and_changes_nothing() -> None:
    ledger = community()
    assert invite(ledger) is None and join(ledger) is None
    before = state_digest(ledger.state)
    refused_alike(ledger, join(ledger, member=key("someone else"), name="Dora"), InvitationUsedError, before)
    # and long after, when every other invitation is gone
    ledger.now_ms += 60 * day_ms
    refused_alike(ledger, join(ledger, member=key("someone else"), name="Dora"), InvitationUsedError, before)


def test_the_used_invitation_key_never_signs_anything_else() -> None:
    ledger = community()
    assert invite(ledger) is None and join(ledger) is None
    before = state_digest(ledger.state)
    error = ledger.submit(ledger.sign(invitation, Transfer(to=member_key.public, amount_minor=1)))
    refused_alike(ledger, error, KeyRetiredError, before)
    error = ledger.submit(ledger.sign(admin_key, AdmitMember(member=invitation.public, name="Eve")))
    refused_alike(ledger, error, KeyInUseError, before)


def test_a_join_after_the_expiry_is_invitation_expired_and_at_the_expiry_is_accepted() -> None:
    ledger = community()
    assert invite(ledger, expires_ms=ledger.now_ms + day_ms) is None
    ledger.now_ms += day_ms + 1
    refused_alike(ledger, join(ledger), InvitationExpiredError, state_digest(ledger.state))
    ledger.now_ms -= 1
    assert join(ledger) is None


def test_an_expired_invitation_is_dropped_by_the_next_invitation_action() -> None:
    ledger = community()
    assert invite(ledger, expires_ms=ledger.now_ms + day_ms) is None
    ledger.now_ms += 2 * day_ms
    assert invite(ledger, key("second invitation")) is None
    assert set(ledger.state.invitations) == {key("second invitation").public}
    refused_alike(ledger, join(ledger), InvitationUnknownError, state_digest(ledger.state))


def test_a_withdrawn_invitation_is_invitation_used_and_a_second_withdrawal_too() -> None:
    ledger = community()
    assert invite(ledger) is None
    assert ledger.submit(ledger.sign(admin_key, RevokeInvitation(invitation=invitation.public))) is None
    before = state_digest(ledger.state)
    refused_alike(ledger, join(ledger), InvitationUsedError, before)
    again = ledger.submit(ledger.sign(admin_key, RevokeInvitation(invitation=invitation.public)))
    refused_alike(ledger, again, InvitationUsedError, before)


def test_a_key_no_invitation_has_is_invitation_unknown() -> None:
    ledger = community()
    before = state_digest(ledger.state)
    refused_alike(ledger, join(ledger, key("made up")), InvitationUnknownError, before)
    error = ledger.submit(ledger.sign(admin_key, RevokeInvitation(invitation=key("made up").public)))
    refused_alike(ledger, error, InvitationUnknownError, before)


def test_only_an_admin_invites_or_withdraws() -> None:
    ledger = community()
    before = state_digest(ledger.state)
    error = ledger.submit(ledger.sign(member_key, Invite(invitation=invitation.public, expires_ms=ledger.now_ms + 1)))
    refused_alike(ledger, error, NotAuthorizedError, before)
    assert invite(ledger) is None
    before = state_digest(ledger.state)
    error = ledger.submit(ledger.sign(member_key, RevokeInvitation(invitation=invitation.public)))
    refused_alike(ledger, error, NotAuthorizedError, before)


def test_a_community_that_admits_by_decision_refuses_invite_and_join() -> None:
    ledger = community()
    assert invite(ledger) is None
    by_decision = msgspec.structs.replace(ledger.state, rules=Rules(admission="decision"))
    signed = ledger.sign(admin_key, Invite(invitation=key("other").public, expires_ms=ledger.now_ms + day_ms))
    assert type(validate(by_decision, signed.intent, ledger.now_ms)) is NotAuthorizedError
    joined = ledger.sign(invitation, Join(member=newcomer.public, name="Cleo"))
    assert type(validate(by_decision, joined.intent, ledger.now_ms)) is NotAuthorizedError


def test_an_invitation_whose_admin_is_no_longer_one_admits_no_one() -> None:
    ledger = community()
    admin_two = key("second admin")
    ledger.accept(admin_key, AdmitMember(member=admin_two.public, name="Ann", role="admin"))
    assert ledger.submit(ledger.sign(admin_two, Invite(invitation=invitation.public,
                                                       expires_ms=ledger.now_ms + day_ms))) is None
    ledger.accept(admin_key, SetRole(member=admin_two.public, role="member"))
    refused_alike(ledger, join(ledger), NotAuthorizedError, state_digest(ledger.state))


def test_an_expiry_now_or_past_the_maximum_is_bad_invitation() -> None:
    ledger = community()
    before = state_digest(ledger.state)
    refused_alike(ledger, invite(ledger, expires_ms=ledger.now_ms), BadInvitationError, before)
    refused_alike(ledger, invite(ledger, expires_ms=ledger.now_ms + limits.invitation_expiry_max_ms + 1),
                  BadInvitationError, before)
    assert invite(ledger, expires_ms=ledger.now_ms + limits.invitation_expiry_max_ms) is None


def test_keys_in_use_cannot_be_invitations_or_joining_members() -> None:
    ledger = community()
    before = state_digest(ledger.state)
    refused_alike(ledger, invite(ledger, member_key), KeyInUseError, before)
    assert invite(ledger) is None and invite(ledger, key("other invitation")) is None
    before = state_digest(ledger.state)
    refused_alike(ledger, join(ledger, member=member_key), KeyInUseError, before)
    refused_alike(ledger, join(ledger, member=key("other invitation")), KeyInUseError, before)
    refused_alike(ledger, join(ledger, member=invitation), KeyInUseError, before)
    refused_alike(ledger, invite(ledger, invitation), KeyInUseError, before)
    error = ledger.submit(ledger.sign(admin_key, AdmitMember(member=invitation.public, name="Fay")))
    refused_alike(ledger, error, KeyInUseError, before)


def test_a_joining_name_follows_the_admission_rules_and_a_committed_one_is_the_nodes_to_check() -> None:
    ledger = community()
    assert invite(ledger) is None
    before = state_digest(ledger.state)
    refused_alike(ledger, join(ledger, name="bea"), NameTakenError, before)
    assert join(ledger, name=Committed(digest=hash32(b"a committed name"))) is None


def test_the_invitations_held_are_capped() -> None:
    ledger = community()
    for index in range(limits.invitations_open_max):
        assert invite(ledger, key(f"invitation {index}")) is None
    before = state_digest(ledger.state)
    refused_alike(ledger, invite(ledger, key("one too many")), TooManyInvitationsError, before)


def test_the_digest_holds_invitations_only_while_any_are_held() -> None:
    ledger = community()
    plain = state_digest(ledger.state)
    assert invite(ledger, expires_ms=ledger.now_ms + day_ms) is None
    held = msgspec.msgpack.decode(_preimage(ledger))
    assert len(held) == 9 and held[4:8] == [None] * 4
    assert held[8] == [[invitation.public, admin_key.public, ledger.seq, ledger.now_ms + day_ms, "member", None,
                        None, False]]
    assert plain != state_digest(ledger.state)
    ledger.now_ms += 2 * day_ms
    assert invite(ledger, key("later"), expires_ms=ledger.now_ms + day_ms) is None
    assert ledger.submit(ledger.sign(admin_key, RevokeInvitation(invitation=key("later").public))) is None
    ledger.now_ms += 2 * day_ms
    assert invite(ledger, key("last"), expires_ms=ledger.now_ms + day_ms) is None
    assert join(ledger, key("last")) is None
    assert len(msgspec.msgpack.decode(_preimage(ledger))) == 4  # nothing held: the old layout


def _preimage(ledger: ClockedLedger) -> bytes:
    """The digest's preimage as docs/protocol.md §11.1 lays it out, for the state held."""
    from tallystick.ledger import membership

    state = ledger.state
    base = msgspec.msgpack.decode(_base_preimage(state))
    if state.invitations:
        base.extend([None] * (8 - len(base)))
        base.append(membership.invitations_digest_part(state))
    data = encode(base)
    assert hash32(data) == state_digest(state)
    return data


def _base_preimage(state: object) -> bytes:
    """Elements 1–4 (this community uses nothing else): feed, seq, settings, member entries."""
    community_ = state.community  # type: ignore[attr-defined]
    entries = [[member_id, m.name, m.key, m.role, m.active, state.accounts[member_id].balance_minor,  # type: ignore[attr-defined]
                state.accounts[member_id].debit_limit_minor, state.accounts[member_id].credit_ceiling_minor]  # type: ignore[attr-defined]
               for member_id, m in sorted(state.members.items())]  # type: ignore[attr-defined]
    return encode([state.feed, state.seq, [community_.name, community_.unit_code, community_.unit_decimals,  # type: ignore[attr-defined]
                                           community_.debit_limit_minor, community_.credit_ceiling_minor,
                                           community_.checkpoint_interval_events], entries])


@pytest.mark.parametrize("role", ["member", "admin"])
def test_a_replica_refolds_invitations_to_the_same_state(role: str) -> None:
    ledger = community()
    assert invite(ledger, role=role) is None and invite(ledger, key("kept")) is None
    assert join(ledger) is None
    checkpointed = state_digest(ledger.state)
    ledger.checkpoint()  # through audit: the digest with the invitation still held
    state, digests = refold(ledger.genesis_bytes, ledger.events)
    assert state.invitations == ledger.state.invitations and state_digest(state) == state_digest(ledger.state)
    assert list(digests.values()) == [checkpointed]


def test_each_invitation_action_names_the_invitations_it_set_changed_or_dropped() -> None:
    from tallystick.ledger import changes
    from tallystick.protocol.codec import decode_event

    ledger = community()
    steps = []

    def step(signed_by: KeyPair, action: object) -> None:
        before = ledger.state
        signed = ledger.sign(signed_by, action)  # type: ignore[arg-type]
        assert ledger.submit(signed) is None
        body = decode_event(ledger.events[-1]).body
        steps.append(changes.of_event(before, ledger.state, body, signed.intent))

    step(admin_key, Invite(invitation=invitation.public, expires_ms=ledger.now_ms + day_ms))
    step(admin_key, RevokeInvitation(invitation=invitation.public))
    ledger.now_ms += 2 * day_ms
    step(admin_key, Invite(invitation=key("next").public, expires_ms=ledger.now_ms + day_ms))
    step(key("next"), Join(member=newcomer.public, name="Cleo"))
    assert [found.invitations for found in steps] == [
        (invitation.public,), (invitation.public,), (invitation.public, key("next").public), (key("next").public,)]
    assert steps[3].accounts == (newcomer.public,) and steps[0].accounts == (admin_key.public,)
    assert changes.of_state(ledger.state).invitations == ()
