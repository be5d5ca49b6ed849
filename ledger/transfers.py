"""A payment between two members of the community (`transfer`), with the community's levy. No I/O,
no clock.
"""

from __future__ import annotations

from msgspec.structs import replace as _replace
from tallystick.protocol import limits
from tallystick.protocol.events import Transfer

from .accounts import (
    active_member,
    check_can_receive,
    check_within,
    coming_back_to,
    credit_ceiling,
    debit_limit,
    levy_minor,
    money,
    most_payable,
    move_credit,
    name_of,
    pay_at_most,
)
from .errors import BadAmountError, NotAuthorizedError, SameAccountError
from .model import State


def check_transfer(state: State, signer_id: bytes, action: Transfer) -> None:
    # The decoder already bounds the amount; checked again here because a negative amount would run
    # the payment backwards, and `validate` must hold for an Intent built in code, not only decoded.
    if not 1 <= action.amount_minor <= limits.amount_minor_max:
        raise BadAmountError(
            f"the amount must be between {money(state, 1)} and {money(state, limits.amount_minor_max)}, "
            f"not {money(state, action.amount_minor)}"
        )
    if action.to == signer_id:
        raise SameAccountError("payer and payee are the same account: pay someone else")
    payee = active_member(state, action.to, "the payee")
    if payee.role == "escrow":
        raise NotAuthorizedError("nobody pays the escrow directly; subscribe to an offer or place an order")
    payer = state.accounts[signer_id]
    levy = levy_minor(state, signer_id, action.to, action.amount_minor)
    after = payer.balance_minor - action.amount_minor - levy
    room = payer.balance_minor + debit_limit(state, payer)
    most = None
    if after < -debit_limit(state, payer):
        # The most that fits both the payer's debit limit (with its levy) and the payee's ceiling.
        payee_account = state.accounts[action.to]
        payee_room = credit_ceiling(state, payee_account) - payee_account.balance_minor - coming_back_to(
            state, action.to)
        most = min(most_payable(state, signer_id, action.to, room), max(0, payee_room))
    who = name_of(state, signer_id) + (f" (paying {money(state, levy)} of levy too)" if levy else "")
    check_within(state, payer, after, who, moved=action.amount_minor, most=most, remedy=pay_at_most(state))
    check_can_receive(state, action.to, action.amount_minor, payee.name, verb="pay them")
    if levy:
        treasury = state.accounts[state.treasury]  # type: ignore[index]
        check_within(state, treasury, treasury.balance_minor + levy, "the treasury (which takes the levy)",
                     moved=levy, remedy=lambda _: "pay less, or to an account the levy does not apply to")


def apply_transfer(state: State, signer_id: bytes, action: Transfer) -> State:
    """The payment and its levy, which goes to the treasury."""
    levy = levy_minor(state, signer_id, action.to, action.amount_minor)
    accounts = move_credit(state.accounts, signer_id, action.to, action.amount_minor)
    if levy:
        accounts = move_credit(accounts, signer_id, state.treasury, levy)  # type: ignore[arg-type]
    return _replace(state, accounts=accounts)
