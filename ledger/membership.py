"""Members, their roles, keys and limits: admission, removal, a change of role or limits, a key
rebound, an account's keys (one per device), and invitations. No I/O, no clock. Each rule is
checked whoever asks: an admin's intent (`check_*`, which first requires an admin) or a passed
decision (`check_*_rule`, the rule alone).

Keys: an account has one to `member_keys_max` current keys (`Member.current_keys`, one per device:
a wallet's key never leaves the device that made it), any of which signs for it. `add_key` binds
one more, `remove_key` retires one (never the last); a rebind or a recovery replaces them all by
one. Every key ever bound stays in `State.keys` for good, so it is never bound again, and a retired
one never signs again (`key_retired`).

Invitations: an admin's `invite` names the public key of a one-time key pair their client made
(its seed travels only in the link); the state holds it (`State.invitations`) until a `join`
signed by that key admits the person who holds the link, under the key they made on their device.
The join binds the invitation key to the new member for good, as a retired key (`Member.retired_keys`),
so it can never sign or be bound again and a second join with it is `invitation_used`, on every
replica and after any restart. A withdrawn invitation stays, marked, until it would have expired.
Every invitation action applied at a ts after an invitation's expiry drops it, so the state holds
at most `invitations_open_max`, none older than `invitation_expiry_max_ms`, alike on every replica.

Where the community admits by decision, an admin cannot invite: an `invite` is instead the effect
of a decision (ledger/decisions.py, class membership, or rules for an admin's role). Its closing
event makes the invitation, `invited_by` the community's own feed id (no member's), so the join
depends on the decision alone and not on its proposer staying an admin. Its rules are checked at
the proposal and again at the close against the last event's ts (`State.ts_ms`, the rules' "now").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec.structs import replace as _replace
from tallystick.protocol import limits
from tallystick.protocol.events import (
    Action,
    AddKey,
    AdmitMember,
    Invite,
    Join,
    RebindKey,
    RemoveKey,
    RemoveMember,
    RevokeInvitation,
    SetDefaultLimits,
    SetLimits,
    SetRole,
)

from . import names as naming
from . import shares as sharing
from .accounts import (
    active_member,
    admins,
    check_within,
    coming_back_to,
    money,
    name_of,
    people_roles,
    require_admin,
    shown,
)
from .errors import (
    BadInvitationError,
    BalanceNotZeroError,
    CreditCeilingError,
    DebitLimitError,
    InvitationExpiredError,
    InvitationUnknownError,
    InvitationUsedError,
    KeyInUseError,
    KeyRetiredError,
    LastAdminError,
    LastKeyError,
    LimitBelowBalanceError,
    NameTakenError,
    NotAuthorizedError,
    SharesOutstandingError,
    TooManyInvitationsError,
    TooManyKeysError,
    UnknownKeyError,
)
from .model import Account, Community, Invitation, Member, State


def check_admit(state: State, signer: Member, action: AdmitMember) -> None:
    require_admin(signer)
    if state.rules.admission == "decision":
        raise NotAuthorizedError(
            "this community admits members by decision: propose the admission (`tally propose --admit`)"
        )
    check_admit_rule(state, action)


def check_admit_rule(state: State, action: AdmitMember) -> None:
    """The rules of an admission, whoever asks (an admin, or a passed decision)."""
    if key_taken(state, action.member):
        raise KeyInUseError("that key already belongs to a member; each member needs their own key")
    _check_new_name(state, action.name)


def key_taken(state: State, key: bytes) -> bool:
    """Whether `key` is bound, or was ever (`keys`, which also holds used invitations' keys), or is an
    invitation's key the state still holds."""
    return key in state.members or key in state.keys or key in state.invitations


def _check_new_name(state: State, name: object) -> None:
    if not isinstance(name, str):
        return  # committed: the name's rules are the node's own (docs/protocol.md §19.4)
    naming.require_normal_name(name, "the member's name")
    if naming.name_key(name) in state.names:
        raise NameTakenError(
            "that name looks like the name of a member or an enterprise already here; choose another (add a surname)"
        )


def check_remove(state: State, signer: Member, action: RemoveMember) -> None:
    require_admin(signer)
    check_remove_rule(state, action)


def check_remove_rule(state: State, action: RemoveMember) -> None:
    member = active_member(state, action.member, "the member to remove")
    if member.role not in people_roles:
        raise NotAuthorizedError(f"{shown(member)} is the community's {member.role} account; it cannot be closed")
    why = sharing.outstanding(state, action.member)
    if why is not None:
        raise SharesOutstandingError(f"{shown(member)} {why}; sell, cancel or withdraw them first")
    balance = state.accounts[action.member].balance_minor
    if balance != 0:
        raise BalanceNotZeroError(
            f"{shown(member)} has a balance of {money(state, balance)}; it must be settled to zero first "
            + ("(they pay it to a member)" if balance > 0 else "(a member pays it to them)")
        )
    if member.role == "admin" and admins(state) == 1:
        raise LastAdminError("that is the last admin; make another member admin first")


def check_set_role(state: State, signer: Member, action: SetRole) -> None:
    require_admin(signer)
    member = active_member(state, action.member, "the member")
    if member.role not in people_roles:
        raise NotAuthorizedError(f"{shown(member)} is the community's {member.role} account; it has no role to change")
    if member.role == "admin" and action.role != "admin" and admins(state) == 1:
        raise LastAdminError("that is the last admin; make another member admin first")


def check_set_limits(state: State, signer: Member, action: SetLimits) -> None:
    require_admin(signer)
    check_set_limits_rule(state, action)


def check_set_limits_rule(state: State, action: SetLimits) -> None:
    active_member(state, action.account, "the account")
    account = state.accounts[action.account]
    changed = Account(account.balance_minor, action.debit_limit_minor, action.credit_ceiling_minor)
    # What escrow or a pending payment holds for the account comes back to it: the new ceiling
    # (not the debit limit) must leave room for it.
    coming_back = coming_back_to(state, action.account)
    _check_new_limits(state, state.community, [(action.account, changed)], [coming_back])


def _check_new_limits(
    state: State, community: Community, accounts: list[tuple[bytes, Account]], coming_back: list[int]
) -> None:
    probe = _replace(state, community=community)
    for (account_id, account), back in zip(accounts, coming_back, strict=True):
        try:
            who = f"{name_of(state, account_id)}'s account"
            check_within(probe, account, account.balance_minor, who)
            if back:  # the debit limit is checked on the balance alone, the ceiling on what comes back too
                check_within(probe, _replace(account, debit_limit_minor=limits.amount_minor_max),
                             account.balance_minor + back, who, counting=back)
        except (DebitLimitError, CreditCeilingError) as error:
            raise LimitBelowBalanceError(
                f"the new limits would leave an account outside them: {error.message}; "
                "settle it first, or choose limits that include its balance"
            ) from None


def check_set_default_limits(state: State, signer: Member, action: SetDefaultLimits) -> None:
    require_admin(signer)
    check_set_default_limits_rule(state, action)


def check_set_default_limits_rule(state: State, action: SetDefaultLimits) -> None:
    community = _replace(
        state.community,
        debit_limit_minor=action.debit_limit_minor,
        credit_ceiling_minor=action.credit_ceiling_minor,
    )
    ids = list(state.accounts.keys())
    _check_new_limits(state, community, [(i, state.accounts[i]) for i in ids], [coming_back_to(state, i) for i in ids])


def check_rebind(state: State, signer: Member, action: RebindKey) -> None:
    if action.new_key in state.keys or action.new_key in state.invitations:
        raise KeyInUseError("that key is or was bound to a member; generate a new key")


def rebind(state: State, member_id: bytes, new_key: bytes) -> State:
    """Move `member_id`'s account to `new_key` alone (a rebind, or a recovery by decision): every
    current key, each device's too, is retired for good."""
    member = state.members[member_id]
    return _replace(
        state,
        keys=state.keys.set(new_key, member_id),
        members=state.members.set(
            member_id,
            _replace(member, key=new_key, devices=(), retired_keys=member.retired_keys | set(member.current_keys)),
        ),
    )


# ---- an account's keys, one per device -------------------------------------------------------------
# A wallet makes its key on the device and cannot export it, so a member's second device binds its
# own key to the same account (`add_key`, signed on a device already bound), and a lost device's
# key is retired from another (`remove_key`). The member id stays the first key the account was
# admitted with; a rebind or a recovery replaces all the keys by one.


def check_add_key(state: State, signer: Member, action: AddKey) -> None:
    if key_taken(state, action.key):
        raise KeyInUseError(
            "that key is or was bound to a member, or is an open invitation's; make a new key on the device"
        )
    held = len(signer.current_keys)
    if held >= limits.member_keys_max:
        raise TooManyKeysError(
            f"{shown(signer)}'s account holds {held} keys already, the most one account may (one per device); "
            "remove a device's key first (`tally key remove-device`)"
        )


def check_remove_key(state: State, signer: Member, action: RemoveKey) -> None:
    if not signer.signs_with(action.key):
        if action.key in signer.retired_keys:
            raise KeyRetiredError("that key is retired already (removed, rebound away from, or an invitation's)")
        raise UnknownKeyError(
            f"that key is not one of {shown(signer)}'s current keys; name a key of a device of this account"
        )
    if len(signer.current_keys) == 1:
        raise LastKeyError(
            "that is the account's only key: add another device's key first (`tally key add-device`), "
            "or move the account to a new key (`tally key rebind`)"
        )


def apply_add_key(state: State, member_id: bytes, action: AddKey) -> State:
    member = state.members[member_id]
    return _replace(
        state,
        keys=state.keys.set(action.key, member_id),
        members=state.members.set(member_id, _replace(member, devices=(*member.devices, action.key))),
    )


def apply_remove_key(state: State, member_id: bytes, action: RemoveKey) -> State:
    """Retire `action.key` for good; the oldest key left becomes `key`. It stays in `keys`, bound to
    the member, so it is never bound again and its intents never sign again."""
    member = state.members[member_id]
    left = [key for key in member.current_keys if key != action.key]
    return _replace(
        state,
        members=state.members.set(member_id, _replace(
            member, key=left[0], devices=tuple(left[1:]), retired_keys=member.retired_keys | {action.key})),
    )


def apply_admit(state: State, action: AdmitMember, seq: int) -> State:
    member = Member(name=action.name, key=action.member, role=action.role, active=True, admitted_seq=seq)
    return _replace(
        state,
        members=state.members.set(action.member, member),
        accounts=state.accounts.set(action.member, Account()),
        keys=state.keys.set(action.member, action.member),
        names=state.names.set(naming.name_key(action.name), action.member) if isinstance(action.name, str)
        else state.names,
    )


def apply_remove(state: State, action: RemoveMember, seq: int) -> State:
    member = state.members[action.member]
    return _replace(
        state,
        members=state.members.set(action.member, _replace(member, active=False)),
        names=state.names.delete(naming.name_key(member.name)) if isinstance(member.name, str) else state.names,
    )


def apply_set_role(state: State, action: SetRole, seq: int) -> State:
    return _replace(state, members=state.members.set(action.member, _replace(state.members[action.member], role=action.role)))


def apply_set_limits(state: State, action: SetLimits, seq: int) -> State:
    account = _replace(
        state.accounts[action.account],
        debit_limit_minor=action.debit_limit_minor,
        credit_ceiling_minor=action.credit_ceiling_minor,
    )
    return _replace(state, accounts=state.accounts.set(action.account, account))


def apply_set_default_limits(state: State, action: SetDefaultLimits, seq: int) -> State:
    community = _replace(
        state.community, debit_limit_minor=action.debit_limit_minor, credit_ceiling_minor=action.credit_ceiling_minor
    )
    return _replace(state, community=community)


# ---- invitations ----------------------------------------------------------------------------------


def _ask_again() -> str:
    return "ask whoever invited you for a new invitation"


def check_invite(state: State, signer: Member, action: Invite, now_ms: int) -> None:
    require_admin(signer)
    if state.rules.admission == "decision":
        raise NotAuthorizedError(
            "this community admits members by decision, so an admin cannot invite alone: propose the invitation "
            "(`tally member invite` proposes it there)"
        )
    check_invite_rule(state, action, now_ms)


def check_invite_rule(state: State, action: Invite, now_ms: int) -> None:
    """The rules of an invitation, whoever makes it (an admin, or a passed decision)."""
    if key_taken(state, action.invitation):
        raise KeyInUseError("that invitation key is or was already in use here; make a new invitation")
    if action.expires_ms <= now_ms:
        raise BadInvitationError("the invitation would expire before it is made; give an expiry in the future")
    if action.expires_ms - now_ms > limits.invitation_expiry_max_ms:
        raise BadInvitationError(
            f"an invitation stays open at most {limits.invitation_expiry_max_ms // 86_400_000} days; give a "
            "shorter expiry"
        )
    held = sum(1 for invitation in state.invitations.values() if invitation.expires_ms >= now_ms)
    if held >= limits.invitations_open_max:
        raise TooManyInvitationsError(
            f"{held} invitations are open or withdrawn and not yet expired (the most is "
            f"{limits.invitations_open_max}); wait until invitees join or some expire"
        )


def check_revoke_invitation(state: State, signer: Member, action: RevokeInvitation, now_ms: int) -> None:
    require_admin(signer)
    invitation = state.invitations.get(action.invitation)
    if invitation is None:
        raise InvitationUnknownError(
            "no invitation of this community has that key (used, expired, or never made here); "
            "`tally member invitations` lists the open ones"
        )
    if invitation.revoked:
        raise InvitationUsedError("that invitation was already withdrawn; nothing to do")
    if invitation.expires_ms < now_ms:
        raise InvitationExpiredError("that invitation has expired already; nothing to withdraw")


def check_join(state: State, invitation_key: bytes, action: Join, now_ms: int) -> None:
    """A join, signed by `invitation_key` (no member's key): the invitation is open and unexpired,
    a passed decision made it or whoever made it is still an admin (and admission is not by
    decision), and the new member's key and name are as an admission's."""
    invitation = state.invitations.get(invitation_key)
    if invitation is None:
        bound_to = state.members.get(state.keys.get(invitation_key, b""))
        if bound_to is not None and not bound_to.signs_with(invitation_key):  # a used invitation's key is retired
            raise InvitationUsedError(f"this invitation was already used to join; {_ask_again()}")
        raise InvitationUnknownError(
            f"this community has no invitation with this key (it expired, or it is another community's); {_ask_again()}"
        )
    if invitation.revoked:
        raise InvitationUsedError(f"this invitation was withdrawn; {_ask_again()}")
    if now_ms > invitation.expires_ms:
        raise InvitationExpiredError(f"this invitation has expired; {_ask_again()}")
    if not decided(state, invitation):  # a decision's invitation depends on nobody's role
        if state.rules.admission == "decision":
            raise NotAuthorizedError(
                f"this community now admits members only by decision, so an admin's invitation no longer admits; "
                f"{_ask_again()}"
            )
        inviter = state.members.get(invitation.invited_by)
        if inviter is None or not inviter.active or inviter.role != "admin":
            raise NotAuthorizedError(f"whoever made this invitation is no longer an admin here; {_ask_again()}")
    if key_taken(state, action.member):
        raise KeyInUseError("that key already belongs to a member; make a new key on this device and join again")
    _check_new_name(state, action.name)


def _drop_expired(state: State, ts: int) -> State:
    """`state` without the invitations that expired before `ts`: run by every invitation action
    applied, so every replica drops the same ones at the same event."""
    expired = [key for key, invitation in state.invitations.items() if invitation.expires_ms < ts]
    if not expired:
        return state
    invitations = state.invitations
    for key in expired:
        invitations = invitations.delete(key)
    return _replace(state, invitations=invitations)


def apply_invite(state: State, signer_id: bytes, action: Invite, seq: int, ts: int) -> State:
    state = _drop_expired(state, ts)
    invitation = Invitation(signer_id, seq, action.expires_ms, action.role, action.debit_limit_minor,
                            action.credit_ceiling_minor)
    return _replace(state, invitations=state.invitations.set(action.invitation, invitation))


def decided(state: State, invitation: Invitation) -> bool:
    """Whether a passed decision made `invitation` (its `invited_by` is the community's feed id)."""
    return invitation.invited_by == state.feed


def apply_decided_invite(state: State, action: Invite, seq: int) -> State:
    """A passed decision's invitation, made by its closing event (`seq`): the community invites."""
    return apply_invite(state, state.feed, action, seq, state.ts_ms)


def apply_revoke_invitation(state: State, action: RevokeInvitation, ts: int) -> State:
    state = _drop_expired(state, ts)
    invitation = state.invitations[action.invitation]
    return _replace(state, invitations=state.invitations.set(action.invitation, _replace(invitation, revoked=True)))


def apply_join(state: State, invitation_key: bytes, action: Join, seq: int, ts: int) -> State:
    """Admit the new member with the invitation's role and limits; the invitation key becomes one of
    their retired keys, so it is bound for good and never signs again."""
    invitation: Invitation = state.invitations[invitation_key]
    state = _drop_expired(state, ts)
    member = Member(name=action.name, key=action.member, role=invitation.role, active=True, admitted_seq=seq,
                    retired_keys=frozenset({invitation_key}))
    return _replace(
        state,
        members=state.members.set(action.member, member),
        accounts=state.accounts.set(action.member, Account(0, invitation.debit_limit_minor,
                                                           invitation.credit_ceiling_minor)),
        keys=state.keys.set(action.member, action.member).set(invitation_key, action.member),
        names=state.names.set(naming.name_key(action.name), action.member) if isinstance(action.name, str)
        else state.names,
        invitations=state.invitations.delete(invitation_key) if invitation_key in state.invitations
        else state.invitations,
    )


def invitations_digest_part(state: State) -> list:
    """The digest's invitations element (docs/protocol.md §11.6): every invitation held, by key."""
    return [[key, i.invited_by, i.seq, i.expires_ms, i.role, i.debit_limit_minor, i.credit_ceiling_minor, i.revoked]
            for key, i in sorted(state.invitations.items())]


# The transitions of the actions an admin signs, or a passed decision applies: one per kind.
admin_actions: dict[type, Callable[[State, Any, int], State]] = {
    AdmitMember: apply_admit,
    RemoveMember: apply_remove,
    SetRole: apply_set_role,
    SetLimits: apply_set_limits,
    SetDefaultLimits: apply_set_default_limits,
}


def apply_admin_action(state: State, action: Action, seq: int) -> State:
    """An admission, removal or change of role or limits, by an admin's intent or a passed decision."""
    return admin_actions[type(action)](state, action, seq)
