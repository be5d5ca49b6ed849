"""The one transition of a community's ledger: `validate`, `apply` and `audit`, with one dispatch per
kind of action and body. No I/O, no clock.

How this works: the sequencer calls `validate(state, intent)` before appending and `apply(state,
event, intent)` after; every replica and every rebuild calls the same `apply`, and `audit`
(validate, then apply, and check what a node body claims) on what it receives. The rules
themselves live in the modules below this one (membership, transfers, shares, payments,
decisions); the tables here say which rule and which transition own each kind. Member nonces use
a sliding window per member (the `limits.nonce_window_size` highest seen, and a floor below which
every nonce is stale), so replay protection needs bounded memory and is itself a pure function of
the log. The window is the account's, shared by all its current keys (its devices): an intent
names its key and is signed by it, so a nonce used once by any device of the account is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec.structs import replace as _replace
from tallystick.protocol.events import (
    Act,
    ActSealed,
    AddKey,
    AdmitMember,
    Body,
    CancelOrder,
    CapacityLimits,
    Checkpoint,
    DecisionClosed,
    Delegate,
    EnterprisePay,
    Event,
    FederationAct,
    Genesis,
    GraftTree,
    Intent,
    Invite,
    Join,
    KeyRotated,
    OfferClosed,
    OpenOffer,
    PayAcross,
    PayInterest,
    PayTree,
    PlaceOrder,
    Propose,
    RebindKey,
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
    FederationVote,
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentOutSealed,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
    ledger_neutral_bodies,
)
from tallystick.protocol.personal import Committed, Opened, personal_values
from tallystick.protocol.types import with_subclasses

from . import decisions as deciding
from . import membership, transfers
from . import payments as paying
from . import shares as sharing
from .accounts import active_member, record_nonce, require_admin, shown
from .digest import state_digest
from .errors import (
    CheckpointMismatchError,
    DomainError,
    KeyRetiredError,
    NotAuthorizedError,
    ReplayedNonceError,
    UnknownMemberError,
)
from .model import Member, State


def intent_body(state: State, intent: Intent, intent_bytes: bytes, ts_ms: int,
                sealed: tuple[bytes, bytes] | None = None) -> Body:
    """The event body that carries a valid intent: a `payment_sent` for a payment across
    communities (so the other community finds it among few events), an `act` for everything else.
    `sealed` is (subject, box) when the intent commits to personal texts (protocol/personal.py):
    then the `_sealed` kind of the body, which carries the box beside the intent."""
    if isinstance(intent.action, PayAcross):
        return paying.payment_body(state, intent, intent_bytes, ts_ms, sealed)
    if sealed is not None:
        return ActSealed(intent=intent_bytes, subject=sealed[0], box=sealed[1])
    return Act(intent=intent_bytes)


# ---- validate -----------------------------------------------------------------------------------


def _check_federation_act(state: State, signer: Member, action: FederationAct) -> None:
    require_admin(signer)
    if state.rules.admission == "decision":
        raise NotAuthorizedError("this community decides by decision: propose it (`tally federation … --propose`)")
    paying.check_federation_act_rule(state, action)


# The rule each kind of action answers to: (state, signer id, signer, action, the event's ts).
Check = Callable[[State, bytes, Member, Any, int], object]
checks: dict[type, Check] = with_subclasses({
    Transfer: lambda state, signer_id, signer, action, now: transfers.check_transfer(state, signer_id, action),
    AdmitMember: lambda state, signer_id, signer, action, now: membership.check_admit(state, signer, action),
    RemoveMember: lambda state, signer_id, signer, action, now: membership.check_remove(state, signer, action),
    SetRole: lambda state, signer_id, signer, action, now: membership.check_set_role(state, signer, action),
    SetLimits: lambda state, signer_id, signer, action, now: membership.check_set_limits(state, signer, action),
    SetDefaultLimits: lambda state, signer_id, signer, action, now: membership.check_set_default_limits(
        state, signer, action),
    RebindKey: lambda state, signer_id, signer, action, now: membership.check_rebind(state, signer, action),
    Vote: lambda state, signer_id, signer, action, now: deciding.check_vote(state, signer_id, action, now),
    Propose: lambda state, signer_id, signer, action, now: deciding.check_propose(state, signer_id, action, now),
    Delegate: lambda state, signer_id, signer, action, now: deciding.check_delegate(state, signer_id, action),
    Undelegate: lambda state, signer_id, signer, action, now: deciding.check_undelegate(state, signer_id, action),
    PlaceOrder: lambda state, signer_id, signer, action, now: sharing.check_place_order(state, signer_id, action),
    Subscribe: lambda state, signer_id, signer, action, now: sharing.check_subscribe(state, signer_id, action, now),
    CancelOrder: lambda state, signer_id, signer, action, now: sharing.check_cancel_order(state, signer_id, action),
    TransferShares: lambda state, signer_id, signer, action, now: sharing.check_transfer_shares(
        state, signer_id, action),
    RegisterEnterprise: lambda state, signer_id, signer, action, now: sharing.check_register(state, signer_id, action),
    EnterprisePay: lambda state, signer_id, signer, action, now: sharing.check_enterprise_pay(
        state, signer_id, action),
    OpenOffer: lambda state, signer_id, signer, action, now: sharing.check_open_offer(state, signer_id, action, now),
    WithdrawShares: lambda state, signer_id, signer, action, now: sharing.check_withdraw(state, signer_id, action),
    PayInterest: lambda state, signer_id, signer, action, now: sharing.check_pay_interest(state, signer_id, action, now),
    PayAcross: lambda state, signer_id, signer, action, now: paying.check_pay_across(state, signer_id, action),
    FederationAct: lambda state, signer_id, signer, action, now: _check_federation_act(state, signer, action),
    Invite: lambda state, signer_id, signer, action, now: membership.check_invite(state, signer, action, now),
    RevokeInvitation: lambda state, signer_id, signer, action, now: membership.check_revoke_invitation(
        state, signer, action, now),
    AddKey: lambda state, signer_id, signer, action, now: membership.check_add_key(state, signer, action),
    RemoveKey: lambda state, signer_id, signer, action, now: membership.check_remove_key(state, signer, action),
    GraftTree: lambda state, signer_id, signer, action, now: paying.check_graft(state, signer, action),
    PayTree: lambda state, signer_id, signer, action, now: paying.check_pay_tree(state, signer_id, action),
})


def validate(state: State, intent: Intent, ts_ms: int | None = None) -> DomainError | None:
    """Why `intent` cannot be applied to `state`, or None if it can. The signature and target feed
    were checked by the protocol layer; this checks who the signer is and the community's rules.
    `ts_ms` is the ts the event carrying it will have (the sequencer's, or the event's in `audit`):
    deadlines are checked against the event's own time; without it the last event's ts stands for
    "now" (deadlines are then checked less strictly)."""
    now_ms = state.ts_ms if ts_ms is None else ts_ms
    try:
        if isinstance(intent.action, Join):
            # The one action no member signs: an open invitation's key does, and is used up by it
            # (its nonce needs no window: the key can never sign again).
            membership.check_join(state, intent.key, intent.action, now_ms)
            return None
        signer_id = state.keys.get(intent.key)
        if signer_id is None:
            raise UnknownMemberError("the signing key belongs to no member of this community")
        signer = active_member(state, signer_id, "the signer")
        if not signer.signs_with(intent.key):
            raise KeyRetiredError(
                f"that key is retired (removed, replaced by a rebind, or an invitation used to join); sign with "
                f"one of {shown(signer)}'s current keys"
            )
        if intent.nonce in signer.nonces:
            raise ReplayedNonceError(
                "this intent's nonce was already used: if this is a retry, the first one was applied"
            )
        if intent.nonce <= signer.nonce_floor:
            raise ReplayedNonceError(
                f"this intent's nonce is too old (at or below {signer.nonce_floor}, the oldest this member may "
                "still use); sign it again with a new nonce (the CLI uses the clock)"
            )
        checks[type(intent.action)](state, signer_id, signer, intent.action, now_ms)
    except DomainError as error:
        return error
    return None


# ---- apply --------------------------------------------------------------------------------------


# The transition of each kind of action: (state, signer id, action, seq, ts) -> state.
Apply = Callable[[State, bytes, Any, int, int], State]
applies: dict[type, Apply] = with_subclasses({
    Transfer: lambda state, signer_id, action, seq, ts: transfers.apply_transfer(state, signer_id, action),
    AdmitMember: lambda state, signer_id, action, seq, ts: membership.apply_admit(state, action, seq),
    RemoveMember: lambda state, signer_id, action, seq, ts: membership.apply_remove(state, action, seq),
    SetRole: lambda state, signer_id, action, seq, ts: membership.apply_set_role(state, action, seq),
    SetLimits: lambda state, signer_id, action, seq, ts: membership.apply_set_limits(state, action, seq),
    SetDefaultLimits: lambda state, signer_id, action, seq, ts: membership.apply_set_default_limits(
        state, action, seq),
    RebindKey: lambda state, signer_id, action, seq, ts: membership.rebind(state, signer_id, action.new_key),
    Vote: lambda state, signer_id, action, seq, ts: deciding.apply_vote(state, signer_id, action),
    Propose: lambda state, signer_id, action, seq, ts: deciding.apply_propose(state, signer_id, action, seq, ts),
    Delegate: lambda state, signer_id, action, seq, ts: deciding.apply_delegate(state, signer_id, action),
    Undelegate: lambda state, signer_id, action, seq, ts: deciding.apply_undelegate(state, signer_id, action),
    FederationAct: lambda state, signer_id, action, seq, ts: paying.apply_federation_act(state, action),
    PlaceOrder: lambda state, signer_id, action, seq, ts: sharing.apply_place_order(state, signer_id, action, seq),
    Subscribe: lambda state, signer_id, action, seq, ts: sharing.apply_subscribe(state, signer_id, action, seq),
    CancelOrder: lambda state, signer_id, action, seq, ts: sharing.apply_cancel_order(state, action),
    TransferShares: lambda state, signer_id, action, seq, ts: sharing.apply_transfer_shares(
        state, signer_id, action, seq),
    RegisterEnterprise: lambda state, signer_id, action, seq, ts: sharing.apply_register(state, signer_id, action, seq),
    EnterprisePay: lambda state, signer_id, action, seq, ts: sharing.apply_enterprise_pay(state, action),
    OpenOffer: lambda state, signer_id, action, seq, ts: sharing.apply_open_offer(state, action, seq, ts),
    WithdrawShares: lambda state, signer_id, action, seq, ts: sharing.apply_withdraw(state, signer_id, action, seq, ts),
    PayInterest: lambda state, signer_id, action, seq, ts: sharing.apply_pay_interest(state, action),
    Invite: lambda state, signer_id, action, seq, ts: membership.apply_invite(state, signer_id, action, seq, ts),
    RevokeInvitation: lambda state, signer_id, action, seq, ts: membership.apply_revoke_invitation(state, action, ts),
    AddKey: lambda state, signer_id, action, seq, ts: membership.apply_add_key(state, signer_id, action),
    RemoveKey: lambda state, signer_id, action, seq, ts: membership.apply_remove_key(state, signer_id, action),
    GraftTree: lambda state, signer_id, action, seq, ts: paying.apply_graft(state, action, seq),
    PayTree: lambda state, signer_id, action, seq, ts: paying.apply_pay_tree(state, signer_id, action, seq),
})


def _apply_carried(state: State, event: Event, intent: Intent | None) -> State:
    """An event that carries a member's intent (`act`, `payment_sent`): its transition, then the nonce."""
    assert intent is not None, "an event carrying an intent is applied with its decoded intent"
    if isinstance(intent.action, Join):  # signed by an invitation's key, which it uses up: no nonce to keep
        return membership.apply_join(state, intent.key, intent.action, event.seq, event.ts)
    signer_id = state.keys[intent.key]
    if isinstance(event.body, PaymentOut):
        state = paying.apply_payment_out(state, event, signer_id)
    else:
        state = applies[type(intent.action)](state, signer_id, intent.action, event.seq, event.ts)
    return _replace(state, members=state.members.set(signer_id, record_nonce(state.members[signer_id], intent.nonce)))


def _apply_federation_body(state: State, event: Event, intent: Intent | None) -> State:
    """A federation body (charter, proposal, vote): federation/ folds these from the members' feeds;
    the ledger only leaves the outbox, and adopting a charter opens the community's trade account
    in that federation."""
    body = event.body
    if state.federation_outbox and state.federation_outbox[0] == body:
        state = _replace(state, federation_outbox=state.federation_outbox[1:])
    if isinstance(body, Charter):
        state = paying.open_trade_account(state, body, event.seq)
    return state


def _never_applied(state: State, event: Event, intent: Intent | None) -> State:
    raise AssertionError("a genesis starts a state; it is never applied to one")


# The transition of each kind of body: (state, event, its decoded intent or None) -> state.
BodyApply = Callable[[State, Event, "Intent | None"], State]
body_applies: dict[type, BodyApply] = with_subclasses({
    Act: _apply_carried,
    PaymentOut: _apply_carried,
    Checkpoint: lambda state, event, intent: state,
    DecisionClosed: lambda state, event, intent: deciding.apply_close(state, event.body, event.seq, event.ts),
    OfferClosed: lambda state, event, intent: sharing.apply_offer_close(state, event.body, event.seq),
    WithdrawalDue: lambda state, event, intent: sharing.apply_withdrawal(state, event.body, event.seq),
    KeyRotated: lambda state, event, intent: state,  # the feed's keys are the protocol's FeedHead
    **{kind: _apply_federation_body for kind in ledger_neutral_bodies},
    TradeLimits: lambda state, event, intent: paying.apply_trade_limits(state, event.body),
    CapacityLimits: lambda state, event, intent: paying.apply_capacity_limits(state, event.body),
    PaymentAccepted: lambda state, event, intent: paying.apply_accepted(state, event.body),
    PaymentRejected: lambda state, event, intent: paying.apply_rejected(state, event.body),
    PaymentSettled: lambda state, event, intent: paying.apply_settled(state, event.body),
    PaymentReturned: lambda state, event, intent: paying.apply_returned(state, event.body),
    PaymentCancel: lambda state, event, intent: paying.apply_cancel(state, event.body),
    TreeSettled: lambda state, event, intent: paying.apply_tree_settled(state, event.body),
    TreeReturned: lambda state, event, intent: paying.apply_tree_returned(state, event.body),
    TreeReceived: lambda state, event, intent: paying.apply_tree_received(state, event),
    Genesis: _never_applied,
})


def apply(state: State, event: Event, intent: Intent | None = None) -> State:
    """The state after `event`. `intent` is the decoded intent of an `Act` (decoded and verified
    once by the caller, who also checked `validate`)."""
    since = 0 if isinstance(event.body, Checkpoint) else state.events_since_checkpoint + 1
    state = body_applies[type(event.body)](state, event, intent)
    return _replace(state, seq=event.seq, events_since_checkpoint=since, ts_ms=max(state.ts_ms, event.ts))


# ---- audit --------------------------------------------------------------------------------------


def _audit_carried(state: State, event: Event, intent: Intent | None) -> None:
    assert intent is not None
    opened = committed = False  # one walk for both checks, no generator: every fold runs this per event
    for text in personal_values(intent.action):
        opened = opened or isinstance(text, Opened)
        committed = committed or isinstance(text, Committed)
    if opened:
        raise NotAuthorizedError(
            f"seq {event.seq} carries a member's texts opened in the log; the log holds them committed (protocol.md §19)"
        )
    sealed = isinstance(event.body, ActSealed | PaymentOutSealed)
    if sealed != committed:
        raise NotAuthorizedError(
            f"seq {event.seq} carries a sealed box with an intent that commits to no personal text"
            if sealed else f"seq {event.seq} carries an intent that commits to personal texts without their sealed box"
        )
    error = validate(state, intent, event.ts)
    if error is not None:
        raise error
    if isinstance(event.body, PaymentOut):
        paying.audit_payment_out(state, event, intent)
    elif isinstance(intent.action, PayAcross):
        raise NotAuthorizedError(f"seq {event.seq} carries a payment across in an act; it belongs in payment_sent")


def _audit_federation_body(state: State, event: Event, intent: Intent | None) -> None:
    body = event.body
    decided = bool(state.federation_outbox) and state.federation_outbox[0] == body
    abstention = isinstance(body, FederationVote) and body.proposal is None
    if not decided and not abstention:
        raise NotAuthorizedError(
            f"seq {event.seq} appends a federation {body.__struct_config__.tag} the community did not decide"
        )


def _audit_checkpoint(state: State, event: Event, intent: Intent | None) -> None:
    if event.body.state_hash != state_digest(state):
        raise CheckpointMismatchError(f"checkpoint at seq {event.seq} does not match the state derived from the log")


# What a replica checks of each kind of body before its transition (kinds absent need no check).
Audit = Callable[[State, Event, "Intent | None"], None]
audits: dict[type, Audit] = with_subclasses({
    Act: _audit_carried,
    PaymentOut: _audit_carried,
    DecisionClosed: lambda state, event, intent: deciding.audit_close(state, event),
    **{kind: _audit_federation_body for kind in ledger_neutral_bodies},
    TradeLimits: lambda state, event, intent: paying.check_trade_limits(state, event.body),
    CapacityLimits: lambda state, event, intent: paying.check_capacity_limits(state, event.body),
    PaymentAccepted: lambda state, event, intent: paying.audit_answer(state, event),
    PaymentRejected: lambda state, event, intent: paying.audit_answer(state, event),
    PaymentSettled: lambda state, event, intent: paying.audit_settled(state, event),
    PaymentReturned: lambda state, event, intent: paying.audit_settled(state, event),
    PaymentCancel: lambda state, event, intent: paying.audit_cancel(state, event),
    TreeSettled: lambda state, event, intent: paying.audit_tree_concluded(state, event),
    TreeReturned: lambda state, event, intent: paying.audit_tree_concluded(state, event),
    TreeReceived: lambda state, event, intent: paying.audit_tree_received(state, event),
    OfferClosed: lambda state, event, intent: sharing.audit_offer_close(state, event),
    WithdrawalDue: lambda state, event, intent: sharing.audit_withdrawal(state, event),
    Checkpoint: _audit_checkpoint,
})


def audit(state: State, event: Event, intent: Intent | None) -> State:
    """What a replica or a verifier does with each event: the full rules, then the transition."""
    check = audits.get(type(event.body))
    if check is not None:
        check(state, event, intent)
    return apply(state, event, intent)


def checkpoint_due(state: State) -> bool:
    return state.events_since_checkpoint >= state.community.checkpoint_interval_events
