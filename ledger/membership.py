"""Members, their roles, keys and limits: admission, removal, a change of role or limits, a key
rebound. No I/O, no clock. Each rule is checked whoever asks: an admin's intent (`check_*`, which
first requires an admin) or a passed decision (`check_*_rule`, the rule alone).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec.structs import replace as _replace
from tallystick.protocol import limits
from tallystick.protocol.events import (
    Action,
    AdmitMember,
    RebindKey,
    RemoveMember,
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
    BalanceNotZeroError,
    CreditCeilingError,
    DebitLimitError,
    KeyInUseError,
    LastAdminError,
    LimitBelowBalanceError,
    NameTakenError,
    NotAuthorizedError,
    SharesOutstandingError,
)
from .model import Account, Community, Member, State


def check_admit(state: State, signer: Member, action: AdmitMember) -> None:
    require_admin(signer)
    if state.rules.admission == "decision":
        raise NotAuthorizedError(
            "this community admits members by decision: propose the admission (`tally propose --admit`)"
        )
    check_admit_rule(state, action)


def check_admit_rule(state: State, action: AdmitMember) -> None:
    """The rules of an admission, whoever asks (an admin, or a passed decision)."""
    if action.member in state.members or action.member in state.keys:  # keys holds every key ever bound
        raise KeyInUseError("that key already belongs to a member; each member needs their own key")
    if not isinstance(action.name, str):
        return  # committed: the name's rules are the node's own (docs/protocol.md §19.4)
    naming.require_normal_name(action.name, "the member's name")
    if naming.name_key(action.name) in state.names:
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
    if action.new_key in state.keys:
        raise KeyInUseError("that key is or was bound to a member; generate a new key")


def rebind(state: State, member_id: bytes, new_key: bytes) -> State:
    """Move `member_id`'s account to `new_key`; the old key is retired for good."""
    member = state.members[member_id]
    return _replace(
        state,
        keys=state.keys.set(new_key, member_id),
        members=state.members.set(
            member_id, _replace(member, key=new_key, retired_keys=member.retired_keys | {member.key})
        ),
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
