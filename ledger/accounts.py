"""The shared primitives of the ledger: members and their accounts as every rule reads them. No
I/O, no clock.

How this works: credit moves only through `move_credit`, so balances sum to zero by construction;
`check_within` refuses a balance outside an account's limits in one line a person reads. What
escrow or a pending payment across holds for a member (`coming_back_to`) counts against their
ceiling. System accounts (escrow, treasury, trade, enterprises) are opened by
`open_system_account` under a name no member holds (`free_name`).
"""

from __future__ import annotations

from collections.abc import Callable

from immutables import Map
from msgspec.structs import replace as _replace
from tallystick.protocol import limits

from . import names as naming
from .errors import (
    AccountClosedError,
    CreditCeilingError,
    DebitLimitError,
    NotAuthorizedError,
    UnknownMemberError,
)
from .model import Account, Member, State
from .money import format_ceiling, format_debit_limit, format_money

people_roles = frozenset({"member", "admin"})


def debit_limit(state: State, account: Account) -> int:
    return state.community.debit_limit_minor if account.debit_limit_minor is None else account.debit_limit_minor


def credit_ceiling(state: State, account: Account) -> int:
    return (
        state.community.credit_ceiling_minor if account.credit_ceiling_minor is None else account.credit_ceiling_minor
    )


def is_person(member: Member | None) -> bool:
    """Whether an account is a person's (role member or admin), not the community's escrow,
    treasury or a trade account, nor an enterprise's."""
    return member is not None and member.role in people_roles


def people(state: State) -> int:
    """How many people the community has: its active members who are persons. What "N members"
    means to a reader; `state.members` also holds the system and enterprise accounts."""
    return sum(1 for member in state.members.values() if member.active and member.role in people_roles)


def member_for_key(state: State, key: bytes) -> bytes | None:
    return state.keys.get(key)


def find_member(state: State, name: str) -> bytes | None:
    """A member id by the name the community gave it (case and spacing insensitive)."""
    return state.names.get(naming.name_key(name))


def active_member(state: State, member_id: bytes, role: str) -> Member:
    member = state.members.get(member_id)
    if member is None:
        raise UnknownMemberError(f"{role} is not a member of this community")
    if not member.active:
        raise AccountClosedError(f"{role} ({shown(member)}) has left the community; their account is closed")
    return member


def require_admin(member: Member) -> None:
    if member.role != "admin":
        raise NotAuthorizedError(f"{shown(member)} is not an admin; only an admin may do this")


def admins(state: State) -> int:
    return sum(1 for member in state.members.values() if member.active and member.role == "admin")


def money(state: State, minor: int) -> str:
    """An amount as a person reads it, in this community's unit: 1250 -> '12.50 HRS'."""
    return format_money(minor, state.community.unit_decimals, state.community.unit_code)


def name_of(state: State, account_id: bytes) -> str:
    """The name an account goes by here (a member's, an enterprise's, a system account's)."""
    member = state.members.get(account_id)
    return "an account unknown here" if member is None else shown(member)


def shown(member: Member) -> str:
    """A member's name for a message, or "this member" when the log holds only its digest
    (protocol/personal.py): the pure ledger never sees a committed name in clear."""
    return member.name if isinstance(member.name, str) else "this member"


def check_within(
    state: State,
    account: Account,
    balance: int,
    who: str,
    *,
    moved: int | None = None,
    most: int | None = None,
    remedy: Callable[[int], str] | None = None,
    counting: int = 0,
) -> None:
    """Refuse a `balance` outside `account`'s limits, in one line a person reads: the limit and the
    balance in major units with the unit, then what to do. `moved` is the credit that would take the
    account there (what it pays, or receives); given it, the refusal says the most that fits
    (`most` where the caller knows better, as with a levy), worded by `remedy` (default "at most
    87.50 HRS fits"). `counting` is credit already counted in `balance` that escrow or a pending
    payment will bring back, said so in the refusal."""
    decimals, unit = state.community.unit_decimals, state.community.unit_code
    counted = f", counting {money(state, counting)} that escrow or a pending payment will return" if counting else ""
    limit = debit_limit(state, account)
    if balance < -limit:
        room = most if most is not None or moved is None else moved - (-limit - balance)
        raise DebitLimitError(
            f"{who} would go below the debit limit of {format_debit_limit(limit, decimals, unit)} "
            f"(the balance would be {money(state, balance)}{counted})"
            + _fits(state, room, remedy, "it must receive credit first, or an admin may let it go further below zero")
        )
    ceiling = credit_ceiling(state, account)
    if balance > ceiling:
        room = most if most is not None or moved is None else moved - (balance - ceiling)
        raise CreditCeilingError(
            f"{who} would go above "
            + (f"the credit ceiling of {format_ceiling(ceiling, decimals, unit)} " if ceiling < limits.amount_minor_max
               else f"the largest balance the protocol carries ({money(state, ceiling)}) ")
            + f"(the balance would be {money(state, balance)}{counted})"
            + _fits(state, room, remedy, "it must pay out first, or an admin may raise the ceiling")
        )


def _fits(state: State, room: int | None, remedy: Callable[[int], str] | None, no_room: str) -> str:
    """The end of a limit refusal: the most that fits (`room`, minor units), or what frees room."""
    if room is None:
        return ""
    if room <= 0:
        return f": nothing fits; {no_room}"
    return ": " + (remedy(room) if remedy is not None else f"at most {money(state, room)} fits")


def pay_at_most(state: State) -> Callable[[int], str]:
    return lambda most: f"pay at most {money(state, most)}"


def most_payable(state: State, payer: bytes, payee: bytes, room: int) -> int:
    """The largest amount `payer` can pay `payee` when `room` (minor units) is what its debit limit
    leaves, counting the levy (the amount plus its levy grows with the amount, so bisect)."""
    low, high = 0, max(0, min(room, limits.amount_minor_max))
    while low < high:
        middle = (low + high + 1) // 2
        if middle + levy_minor(state, payer, payee, middle) <= room:
            low = middle
        else:
            high = middle - 1
    return low


def levy_minor(state: State, payer: bytes, payee: bytes, amount_minor: int) -> int:
    """The levy a payment of `amount_minor` carries: the rate, within [min, max]; none to or from
    the treasury (a levy never cascades)."""
    levy = state.levy
    if levy is None or payer == state.treasury or payee == state.treasury:
        return 0
    return max(levy.min_minor, min(levy.max_minor, amount_minor * levy.rate_bp // limits.basis_points_max))


def record_nonce(member: Member, nonce: int) -> Member:
    nonces = member.nonces | {nonce}
    floor = member.nonce_floor
    if len(nonces) > limits.nonce_window_size:
        floor = min(nonces)
        nonces = nonces - {floor}
    return _replace(member, nonce_floor=floor, nonces=nonces)


def move_credit(accounts: Map, payer: bytes, payee: bytes, amount: int) -> Map:
    """`accounts` with `amount` moved from `payer` to `payee`: the one way credit moves, so
    balances sum to zero by construction (limits are checked before, by the rules)."""
    if amount == 0:
        return accounts
    source = accounts[payer]
    accounts = accounts.set(payer, _replace(source, balance_minor=source.balance_minor - amount))
    target = accounts[payee]
    return accounts.set(payee, _replace(target, balance_minor=target.balance_minor + amount))


def escrowed_for(state: State, member: bytes) -> int:
    """Credit the escrow holds for `member`, which will come back to them."""
    return state.shares.escrowed.get(member, 0)


def check_can_receive(state: State, payee: bytes, amount: int, who: str, *, verb: str = "") -> None:
    """`payee` can take `amount` without passing their ceiling, counting what escrow will give back.
    With `verb` ("pay them"), the refusal says the most that fits ("pay them at most 20.00 HRS")."""
    account = state.accounts[payee]
    back = coming_back_to(state, payee)
    remedy = (lambda most: f"{verb} at most {money(state, most)}") if verb else None
    check_within(state, account, account.balance_minor + back + amount, who, moved=amount,
                        remedy=remedy, counting=back)


def coming_back_to(state: State, member: bytes) -> int:
    """Credit that escrow or a pending payment across will give back to `member`."""
    return escrowed_for(state, member) + held_for(state, member)


def free_name(state: State, candidates: tuple[str, ...]) -> str:
    """The first candidate no one holds (by look-alike key), else the last one numbered: members
    choose enterprise names, so they could take every candidate; among len(names) + 1 numbers one
    is free, so this always ends."""
    for name in candidates:
        if naming.name_key(name) not in state.names:
            return name
    numbered = (f"{candidates[-1]} ({number})" for number in range(2, len(state.names) + 3))
    return next(name for name in numbered if naming.name_key(name) not in state.names)


def open_system_account(state: State, account_id: bytes, name: str, role: str, seq: int, account: Account) -> State:
    return _replace(
        state,
        members=state.members.set(account_id, Member(name=name, key=account_id, role=role, active=True, admitted_seq=seq)),
        accounts=state.accounts.set(account_id, account),
        keys=state.keys.set(account_id, account_id),
        names=state.names.set(naming.name_key(name), account_id),
    )


def held_for(state: State, member: bytes) -> int:
    return state.payments.held.get(member, 0)
