"""The node's rounds in its federations: what a community does there on its own, by its node's
clock, through its own ledger (each round appends bodies through the sequencer, and decides nothing
another node could not check).

How this works: each round reads the federation view (view.py) and the community's own ledger, and
queues the bodies that are due together, so the sequencer commits them in one batch: abstentions
in stalled epochs, `trade_limits` and `capacity_limits` from the federations' decisions, answers
to payments sent to this community (its own ledger's rules decide, `answer_for`) and settlements
of the payments it sent. federations.py runs them when federation or payment rows arrive, and at
least every `abstain_interval_ms`. A node whose writes are refused runs none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tallystick.ledger import payments as paying
from tallystick.ledger.model import State
from tallystick.node.app import clock_ms
from tallystick.protocol.errors import TallyError
from tallystick.protocol.events import Body, CapacityLimits, TradeLimits
from tallystick.protocol.federation import (
    FederationVote,
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
)

from . import payments as payment_machine
from .state import FederationState
from .view import FederationView, Held

# A body to append, made from the ledger it is appended to (node/sequencer.py `append_body`).
BodyMaker = Callable[[State], Body | None]


async def abstain_where_stalled(view: FederationView) -> int:
    """Abstain in every current epoch of a federation this community is a member of, where it
    has cast no ballot and every proposal of the epoch is past its deadline: how a stalled
    epoch ends (docs/federation.md). Returns how many abstentions were appended."""
    if view.node.sequencer.refusal is not None:
        return 0
    state, events = await view.view()
    mine = {(e.body.federation, e.body.epoch) for e in events
            if e.feed == view.own_feed and isinstance(e.body, FederationVote)}
    waiting = {(b.federation, b.epoch) for b in view.node.sequencer.state.federation_outbox
               if isinstance(b, FederationVote)}
    now = clock_ms()
    appended = 0
    for federation in state.federations.values():
        if not federation.founded or view.own_feed not in federation.members:
            continue
        epoch = federation.epoch
        if (federation.id, epoch) in mine or (federation.id, epoch) in waiting:
            continue
        proposals = [d for d in state.decisions.values() if d.federation == federation.id and d.epoch == epoch]
        if proposals and all(d.proposal.deadline_ms < now for d in proposals):
            body = FederationVote(federation.id, epoch, None)
            await view.node.sequencer.append_body(lambda _state, body=body: body)
            appended += 1
    view.abstained_total += appended
    return appended


async def follow_decisions(view: FederationView) -> int:
    """Apply what each federation this community adopted decided for it, in its unit (rounded
    down): its balance-of-trade limits, as a `trade_limits` event, and, where the federation
    has a parent, the chain above and its share of the federation's capacity, as a
    `capacity_limits` event (the ledger then keeps its position through every level within
    that share, node/payments.py). Only what changed is appended, in one batch."""
    if view.node.sequencer.refusal is not None:
        return 0
    state, _ = await view.view()
    ledger = view.node.sequencer.state
    bodies: list[BodyMaker] = []
    for federation_id_, account_id in sorted(ledger.payments.trade.items()):
        federation = state.federations.get(federation_id_)
        member = None if federation is None else federation.members.get(view.own_feed)
        if member is None:
            continue
        debit, ceiling = member.in_own_unit(member.debit_limit_minor), member.in_own_unit(member.credit_ceiling_minor)
        account = ledger.accounts[account_id]
        # Mirrored: the trade account's ceiling is the community's debit limit in the federation.
        if (account.credit_ceiling_minor, account.debit_limit_minor) != (debit, ceiling):
            body: Body = TradeLimits(federation_id_, federation.last_decision, debit, ceiling)
            bodies.append(lambda _state, body=body: body)
        above = state.ancestors(federation_id_)
        current = ledger.payments.capacity.get(federation_id_)
        if not above and current is None:
            continue  # a federation at the top: its members' trade limits are the only bound
        share = member.in_own_unit(member.capacity_minor)
        if current is None or (current.above, current.share_minor) != (above, share):
            body = CapacityLimits(federation_id_, federation.last_decision, above, share)
            bodies.append(lambda _state, body=body: body)
    return await _append_all(view, bodies)


async def answer_payments(view: FederationView) -> int:
    """Accept or reject every payment sent to this community that it has not answered: the
    rules of its own ledger decide, on the state the answer is appended to. A round's answers
    are queued together, so the sequencer commits them in one batch."""
    if view.node.sequencer.refusal is not None:
        return 0
    state, _, _ = await view.view_held()
    answered = view.node.sequencer.state.payments.answered
    bodies: list[BodyMaker] = []
    for payment, item in list(view.incoming.items()):
        if payment in answered:
            del view.incoming[payment]
            continue
        body = item.event.body
        try:
            _, steps = payment_machine.route(state, item.feed, view.own_feed, body.federation)
            amount = payment_machine.convert(body.amount_minor, steps)
        except TallyError:
            amount = 0  # no route through that federation, or less than one minor unit here

        def answer(ledger: State, item: Held = item, amount: int = amount) -> PaymentAccepted | PaymentRejected:
            return answer_for(ledger, state, item, amount, item.hash in view.cancelled, clock_ms())

        bodies.append(answer)
    return await _append_all(view, bodies)


async def settle_payments(view: FederationView) -> int:
    """For every payment this community sent and has pending: settle it once the other
    community accepted it, return it once it rejected it, ask to cancel it once it expired."""
    if view.node.sequencer.refusal is not None:
        return 0
    state, _, _ = await view.view_held()
    bodies: list[BodyMaker] = []
    now = clock_ms()
    for payment, pending in list(view.node.sequencer.state.payments.pending.items()):
        item = view.answers.get((pending.to_community, payment))
        frozen_from = None if item is None else state.forks.get(item.feed)
        if item is not None and (frozen_from is None or item.seq < frozen_from):
            # (a forked feed counts nothing it signed from the fork on: such an answer waits)
            answer = item.event.body
            settle: Body = (PaymentSettled(payment, item.hash) if isinstance(answer, PaymentAccepted)
                           else PaymentReturned(payment, item.hash))
            bodies.append(lambda _state, settle=settle: settle)
        elif not pending.cancel_sent and now >= pending.expires_ms:
            cancel = PaymentCancel(payment, pending.to_community)
            bodies.append(lambda _state, cancel=cancel: cancel)
    return await _append_all(view, bodies)


async def _append_all(view: FederationView, bodies: list[BodyMaker]) -> int:
    """Queue every body at once (the sequencer commits what is queued together in one batch)
    and wait for all of them."""
    if bodies:
        await asyncio.gather(*(view.node.sequencer.append_body(body) for body in bodies))
    return len(bodies)


def answer_for(ledger: State, state: FederationState, item: Held, amount: int, cancelled: bool,
               now_ms: int) -> PaymentAccepted | PaymentRejected:
    """The payee community's answer to the `payment_sent` in `item`, worth `amount` in its unit
    (0 if it does not convert), on its ledger as it stands when the answer is appended."""
    body = item.event.body
    assert isinstance(body, PaymentOut)
    if item.seq >= state.forks.get(item.feed, item.seq + 1):
        # A forked feed counts nothing it signed from its fork on (frozen everywhere); a payment it
        # sent before the fork is an ordinary one: the fork proof does not dispute it.
        reason: str | None = "refused"
    elif cancelled:
        reason = "cancelled"
    elif now_ms > body.expires_ms:
        reason = "expired"
    elif amount <= 0:
        reason = "refused"
    else:
        reason = paying.incoming_refusal(ledger, body.federation, body.to_member, amount)
    if reason is None:
        return PaymentAccepted(item.hash, item.feed, amount, body.federation, body.to_member)
    return PaymentRejected(item.hash, item.feed, reason)  # type: ignore[arg-type]

