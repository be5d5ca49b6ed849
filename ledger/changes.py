"""What an event changes, for the store's projections: the rows (member ids, decision ids,
delegations) an intent or a node body touches, computed from the state before it. No I/O.
"""

from __future__ import annotations

from tallystick.protocol.events import (
    AdmitMember,
    DecisionClosed,
    Delegate,
    Intent,
    PayAcross,
    Propose,
    RemoveMember,
    SetDefaultLimits,
    SetLimits,
    SetRole,
    TradeLimits,
    Transfer,
    Undelegate,
    Vote,
)
from tallystick.protocol.federation import Charter, federation_id

from . import decisions as deciding
from . import payments as paying
from . import shares as sharing
from .model import State


def touched_accounts(state: State, intent: Intent) -> list[bytes]:
    """The member ids whose projection rows an intent changes (the signer's nonce always)."""
    signer_id = state.keys.get(intent.key)
    action = intent.action
    ids = [signer_id] if signer_id is not None else []
    if isinstance(action, Transfer):
        ids.append(action.to)
        if state.levy is not None and state.treasury is not None:
            ids.append(state.treasury)
    elif isinstance(action, (AdmitMember, RemoveMember, SetRole)):
        ids.append(action.member)
    elif isinstance(action, SetLimits):
        ids.append(action.account)
    elif isinstance(action, SetDefaultLimits):
        ids = list(state.accounts.keys())
    elif isinstance(action, Propose):
        ids.append(state.seq + 1)  # type: ignore[arg-type]  # the decision's id: the seq of its event
    elif isinstance(action, Vote):
        ids.append(action.decision)  # type: ignore[arg-type]
    elif isinstance(action, PayAcross):
        route = paying.through(state, action.federation)
        ids.append(None if route is None else state.payments.trade.get(route[0]))
    elif isinstance(action, (Delegate, Undelegate)) and signer_id is not None:
        ids.append(delegations_of(signer_id))  # type: ignore[arg-type]
    elif signer_id is not None:
        ids += sharing.touched_by_action(state, signer_id, action)
    return ids


def delegations_of(member_id: bytes) -> tuple[str, bytes]:
    """The projection key of a member's delegations (touched sets mix member ids, decision ids
    and these)."""
    return ("delegations", member_id)


def touched_by_body(state: State, body: object) -> list:
    """The projection rows a node body (not carrying an intent) changes, from the state before it."""
    if isinstance(body, DecisionClosed):
        return touched_by_close(state, body)
    if isinstance(body, Charter):
        return [paying.trade_account_id(state.feed, federation_id(body))]
    if isinstance(body, TradeLimits):
        return [state.payments.trade.get(body.federation)]
    return paying.touched(state, body)


def touched_by_close(state: State, body: DecisionClosed) -> list:
    """The projection rows a closing event changes: the decision and what its effect touches."""
    decision = state.decisions.get(body.decision)
    effect = decision.effect if decision is not None and body.outcome == "passed" else None
    return [body.decision, *deciding.effect_members(state, effect)]
