"""What an event changes, for the store's projections: a typed `Changes` (the member and account
rows, decisions, delegations, shares rows and the rules row it touches), and the balances it moved.
No I/O.

How this works: `of_event(before, after, body, intent)` is the one entry. An event that carries a
member's intent (an `act`, a `payment_sent`) answers through `action_changes`, one entry per kind of
action; a node body answers through `body_changes`, one entry per kind of body; a kind absent from
its table changes no row of its own (the signer's nonce is always written: the community row, with
the feed's seq, rides in every batch anyway). The rows are computed from the state before the event
(a `Propose` touches the decision at the seq it will get; an order's fills are matched again here),
and, for the closings (a decision, an offer, a withdrawal), from the state after it too: what a
closing pays out is known only then. `balances_moved` then finds, among the accounts touched, those
whose balance the event changed or opened: the postings. `of_state` is every row of a state, what a
rebuild writes.

The shares ledger's and the payments' own helpers answer plain lists that mix account ids
(bytes) with shares rows ((kind, key) tuples); `_split` sorts them at this boundary once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from tallystick.protocol.events import (
    AddKey,
    AdmitMember,
    CancelOrder,
    DecisionClosed,
    Delegate,
    EnterprisePay,
    GraftTree,
    Intent,
    Invite,
    Join,
    OfferClosed,
    OpenOffer,
    PayAcross,
    PayInterest,
    PayTree,
    PlaceOrder,
    Propose,
    RebindKey,
    RecoverKey,
    RegisterEnterprise,
    RemoveKey,
    RemoveMember,
    RevokeInvitation,
    SetDefaultLimits,
    SetLimits,
    SetRole,
    Subscribe,
    TradeLimits,
    Transfer,
    TransferShares,
    TreeReceived,
    TreeReturned,
    TreeSettled,
    Undelegate,
    Vote,
    WithdrawalDue,
    WithdrawShares,
)
from tallystick.protocol.federation import (
    Charter,
    PaymentAccepted,
    PaymentCancel,
    PaymentReturned,
    PaymentSettled,
    federation_id,
)
from tallystick.protocol.types import with_subclasses

from . import decisions as deciding
from . import payments as paying
from . import shares as sharing
from .model import State

# One row of the shares projection: (kind, key), kind one of node/store.py's `share_kinds`
# (ledger/shares.py's `share_record` reads its value).
ShareRow = tuple[str, object]
# One account's balance change: (account, balance before or None if the event opened it, after).
BalanceChange = tuple[bytes, int | None, int]


class Changes(msgspec.Struct, frozen=True, gc=False):  # gc=False: it holds only ids, never a cycle
    """The projection rows one event changes (or a whole batch: node/store.py's builder merges them)."""

    accounts: tuple[bytes, ...] = ()  # member ids: their `members` row and `accounts` row, as present
    decisions: tuple[int, ...] = ()  # decision ids (the seq of the event that proposed each)
    delegations: tuple[bytes, ...] = ()  # members whose delegations (every topic) are rewritten
    shares: tuple[ShareRow, ...] = ()
    rules: bool = False  # the community's rules row (a passed decision on rules or the levy)
    # Invitation keys whose entry of `State.invitations` an event set, changed or dropped: the
    # store's `invitations` rows to rewrite.
    invitations: tuple[bytes, ...] = ()
    # Members whose further keys (`Member.devices`) an event may have changed: an `add_key`, a
    # `remove_key`, a rebind or a recovery. The store's `member_keys` rows to rewrite.
    devices: tuple[bytes, ...] = ()

    def merged(self, other: Changes) -> Changes:
        """The rows either changes: what two runs of one feed, written as one, change."""
        return Changes(
            tuple(dict.fromkeys((*self.accounts, *other.accounts))),
            tuple(dict.fromkeys((*self.decisions, *other.decisions))),
            tuple(dict.fromkeys((*self.delegations, *other.delegations))),
            tuple(dict.fromkeys((*self.shares, *other.shares))),
            self.rules or other.rules,
            tuple(dict.fromkeys((*self.invitations, *other.invitations))),
            tuple(dict.fromkeys((*self.devices, *other.devices))),
        )


nothing = Changes()


def _split(ids: Iterable[object], *, signer: tuple[bytes, ...] = (), decisions: tuple[int, ...] = (),
           rules: bool = False) -> Changes:
    """Changes from a plain list of the shares' and payments' helpers (account ids, bytes, and
    shares rows, (kind, key) tuples; a None, an account not opened yet, is left out), with the
    signer's row and any decisions and rules row the caller names."""
    accounts: list[bytes] = list(signer)
    shares: list[ShareRow] = []
    for item in ids:
        if type(item) is bytes:
            accounts.append(item)
        elif item is not None:
            shares.append(item)  # type: ignore[arg-type]
    return Changes(accounts=tuple(accounts), decisions=decisions, shares=tuple(shares), rules=rules)


# ---- what a member's intent changes ---------------------------------------------------------------


def _transfer(state: State, signer: bytes, action: Transfer) -> Changes:
    if state.levy is not None and state.treasury is not None:
        return Changes(accounts=(signer, action.to, state.treasury))
    return Changes(accounts=(signer, action.to))


def _pay_across(state: State, signer: bytes, action: PayAcross) -> Changes:
    route = paying.through(state, action.federation)
    trade = None if route is None else state.payments.trade.get(route[0])
    return Changes(accounts=(signer,) if trade is None else (signer, trade))


def _shares_action(state: State, signer: bytes, action: object) -> Changes:
    return _split(sharing.touched_by_action(state, signer, action), signer=(signer,))


# The rows each kind of action changes besides the signer's nonce: (state before, signer id, action).
ActionChanges = Callable[[State, bytes, Any], Changes]
action_changes: dict[type, ActionChanges] = with_subclasses({
    Transfer: _transfer,
    AdmitMember: lambda state, signer, action: Changes(accounts=(signer, action.member)),
    RemoveMember: lambda state, signer, action: Changes(accounts=(signer, action.member)),
    SetRole: lambda state, signer, action: Changes(accounts=(signer, action.member)),
    SetLimits: lambda state, signer, action: Changes(accounts=(signer, action.account)),
    SetDefaultLimits: lambda state, signer, action: Changes(accounts=(signer, *state.accounts.keys())),
    Propose: lambda state, signer, action: Changes(accounts=(signer,), decisions=(state.seq + 1,)),
    Vote: lambda state, signer, action: Changes(accounts=(signer,), decisions=(action.decision,)),
    Delegate: lambda state, signer, action: Changes(accounts=(signer,), delegations=(signer,)),
    Undelegate: lambda state, signer, action: Changes(accounts=(signer,), delegations=(signer,)),
    PayAcross: _pay_across,
    PayTree: lambda state, signer, action: Changes(
        accounts=(signer,) if state.payments.tree is None else (signer, state.payments.tree.account)),
    GraftTree: lambda state, signer, action: Changes(accounts=(signer, paying.tree_account_id(state.feed))),
    # The signer's nonce; `_invitation_changes` adds the invitations rows each one rewrites.
    Invite: lambda state, signer, action: Changes(accounts=(signer,)),
    RevokeInvitation: lambda state, signer, action: Changes(accounts=(signer,)),
    # An account's keys: its member row (the current key and the retired ones) and its further keys.
    AddKey: lambda state, signer, action: Changes(accounts=(signer,), devices=(signer,)),
    RemoveKey: lambda state, signer, action: Changes(accounts=(signer,), devices=(signer,)),
    RebindKey: lambda state, signer, action: Changes(accounts=(signer,), devices=(signer,)),
    # Signed by the invitation's key, no member's (`signer` is that key): the new member's rows.
    Join: lambda state, signer, action: Changes(accounts=(action.member,)),
    **{kind: _shares_action for kind in (RegisterEnterprise, EnterprisePay, OpenOffer, Subscribe, PlaceOrder,
                                         CancelOrder, TransferShares, WithdrawShares, PayInterest)},
})


def of_intent(state: State, intent: Intent) -> Changes:
    """The rows a valid intent changes, from the state before it (the signer's nonce always)."""
    signer = state.keys.get(intent.key)
    if signer is None:
        # A join is signed by an invitation's key, no member's: it opens the new member's rows.
        # Any other unknown signer's intent is refused, never applied.
        return action_changes[Join](state, intent.key, intent.action) if isinstance(intent.action, Join) else nothing
    entry = action_changes.get(type(intent.action))
    return Changes(accounts=(signer,)) if entry is None else entry(state, signer, intent.action)


# ---- what a node body changes ---------------------------------------------------------------------


def _decision_closed(before: State, after: State, body: DecisionClosed) -> Changes:
    """The decision, and if it passed, what its effect touches (before and after the close: a
    dividend's payees, the default limits' accounts) and the rules row for a rules effect."""
    decision = before.decisions.get(body.decision)
    if decision is None or body.outcome != "passed":
        return Changes(decisions=(body.decision,))
    effect = decision.effect
    touched = [*deciding.effect_members(before, effect), *deciding.effect_members(after, effect)]
    found = _split(touched, decisions=(body.decision,), rules=isinstance(effect, deciding.rules_effects))
    if isinstance(effect, RecoverKey):  # the recovered account's devices' keys are retired with the rest
        return msgspec.structs.replace(found, devices=(effect.member,))
    if isinstance(effect, Invite):  # the community's invitation, and those it dropped as expired
        old, new = before.invitations, after.invitations
        touched_invitations = [key for key in old if key not in new] + [key for key in new if key not in old]
        return msgspec.structs.replace(found, invitations=tuple(touched_invitations))
    return found


def _offer_closed(before: State, after: State, body: OfferClosed) -> Changes:
    """The offer, its subscribers' holdings and accounts, escrow and the enterprise: before the
    close and after it (what it refunds and what it issues)."""
    return _split([*sharing.touched_by_offer_close(before, body.offer), *sharing.touched_by_offer_close(after, body.offer)])


def _withdrawal_due(before: State, after: State, body: WithdrawalDue) -> Changes:
    return _split([*sharing.touched_by_withdrawal(before, body.withdrawal),
                   *sharing.touched_by_withdrawal(after, body.withdrawal)])


def _trade_limits(before: State, after: State, body: TradeLimits) -> Changes:
    trade = before.payments.trade.get(body.federation)
    return nothing if trade is None else Changes(accounts=(trade,))


def _payment(before: State, after: State, body: object) -> Changes:
    return _split(paying.touched(before, body))


# The rows each kind of node body changes: (state before, state after, body). The kinds absent
# (checkpoint, key_rotated, capacity_limits, federation proposals and votes, payment_rejected)
# change only what every batch writes (the community row and the feed's head).
BodyChanges = Callable[[State, State, Any], Changes]
body_changes: dict[type, BodyChanges] = with_subclasses({
    DecisionClosed: _decision_closed,
    OfferClosed: _offer_closed,
    WithdrawalDue: _withdrawal_due,
    Charter: lambda before, after, body: Changes(
        accounts=(paying.trade_account_id(before.feed, federation_id(body)),)),
    TradeLimits: _trade_limits,
    PaymentAccepted: _payment,
    PaymentSettled: _payment,
    PaymentReturned: _payment,
    PaymentCancel: _payment,
    TreeSettled: _payment,
    TreeReturned: _payment,
    TreeReceived: _payment,
})


def of_event(before: State, after: State, body: object, intent: Intent | None) -> Changes:
    """The rows one event changes: by its intent if it carries one, else by its body."""
    if intent is not None:  # of_intent, inline: the sequencer and every fold run this per event
        if isinstance(intent.action, (Invite, Join, RevokeInvitation)):  # a tuple: faster than a union
            return _invitation_changes(before, after, intent)
        signer = before.keys.get(intent.key)
        if signer is None:
            return nothing  # an intent never applied
        action_entry = action_changes.get(type(intent.action))
        return Changes((signer,)) if action_entry is None else action_entry(before, signer, intent.action)
    entry = body_changes.get(type(body))
    return nothing if entry is None else entry(before, after, body)


def _invitation_changes(before: State, after: State, intent: Intent) -> Changes:
    """An invitation action's rows: its table entry's, and every invitation it set, changed or
    dropped (an expired one goes at any invitation action: ledger/membership.py)."""
    signer = before.keys.get(intent.key, intent.key)  # a join's signer is the invitation's key
    found = action_changes[type(intent.action)](before, signer, intent.action)
    old, new = before.invitations, after.invitations
    touched = [key for key in old if new.get(key) != old[key]] + [key for key in new if key not in old]
    return msgspec.structs.replace(found, invitations=tuple(touched))


def of_genesis(state: State) -> Changes:
    """The rows a genesis writes: the admin's (every member and account it opens)."""
    return Changes(accounts=tuple(dict.fromkeys([*state.members.keys(), *state.accounts.keys()])))


def of_state(state: State) -> Changes:
    """Every row of `state`: what a rebuild writes whole."""
    shares = state.shares
    share_rows: list[ShareRow] = [
        *(("enterprise", k) for k in shares.enterprises),
        *(("holding", k) for k in shares.holdings),
        *(("offer", k) for k in shares.offers),
        *(("order", k) for k in shares.orders),
        *(("withdrawal", k) for k in shares.withdrawals),
        *(("trades", k) for k in shares.trades),
    ]
    rules_set = any(d.outcome == "passed" and isinstance(d.effect, deciding.rules_effects)
                    for d in state.decisions.values())  # as live: the row exists once rules were set
    return Changes(
        accounts=tuple(state.members.keys()),
        decisions=tuple(state.decisions.keys()),
        delegations=tuple(state.delegations.keys()),
        shares=tuple(share_rows),
        rules=rules_set,
        invitations=tuple(state.invitations.keys()),
        devices=tuple(member_id for member_id, member in state.members.items() if member.devices),
    )


def balances_moved(before: State, after: State, changes: Changes) -> list[BalanceChange]:
    """Of the accounts an event touched, those whose balance it changed or which it opened: a few
    dictionary lookups an event (the sequencer runs it on every append)."""
    old, new = before.accounts, after.accounts
    found: list[BalanceChange] = []
    for account in dict.fromkeys(changes.accounts):
        now = new.get(account)
        if now is None:
            continue
        was = old.get(account)
        if was is None:
            found.append((account, None, now.balance_minor))
        elif was.balance_minor != now.balance_minor:
            found.append((account, was.balance_minor, now.balance_minor))
    return found


