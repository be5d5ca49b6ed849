"""Events in plain words: a line of the community's activity (`describe_event`), and why an event
changed an account's balance (`describe_change`), as parts a template writes out, each escaped:
("text", words), ("member", {id, name}), ("enterprise", {id, name}), ("amount", text).

How this works: both read the event's bytes and the community's state; the names, memos and titles
members typed are in the log as salted digests (protocol/personal.py), so both take the node's
`Directory` (node/personal.py), which opens them ("(erased)" where they were erased). The other side
of a payment across is named by an `ElsewhereNames` (pages/shared.py) when the page has one, by its
id otherwise.
"""

from __future__ import annotations

from typing import Any

from tallystick.ledger.accounts import member_for_key
from tallystick.ledger.model import State
from tallystick.ledger.money import format_money
from tallystick.ledger.payments import payment_id
from tallystick.protocol.codec import decode_event, decode_intent
from tallystick.protocol.events import (
    Act,
    AdmitMember,
    CancelOrder,
    CapacityLimits,
    Checkpoint,
    DecisionClosed,
    DeclareDividend,
    Delegate,
    EnterprisePay,
    FederationAct,
    Genesis,
    KeyRotated,
    OfferClosed,
    OpenOffer,
    PlaceOrder,
    Propose,
    RegisterEnterprise,
    RemoveMember,
    SetLimits,
    Subscribe,
    TradeLimits,
    Transfer,
    TransferShares,
    TreasuryPay,
    Undelegate,
    Vote,
    WithdrawalDue,
    WithdrawShares,
)
from tallystick.protocol.federation import (
    Charter,
    FederationProposal,
    FederationVote,
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
)
from tallystick.protocol.ids import id_to_text
from tallystick.protocol.personal import Committed

from ..personal import Directory
from .shared import ElsewhereNames

# Kinds of event in words a member reads, for a change the page has no sentence of its own for.
# Kinds of event in words a member reads, for a change the page has no sentence of its own for.
plain_kinds = {
    "admit": "joined the community", "remove": "account closed", "set_role": "role changed",
    "set_limits": "limits changed", "set_default_limits": "the community's limits changed",
    "register_enterprise": "enterprise registered", "open_offer": "share offer opened",
    "open_offer_period": "share offer opened", "transfer_shares": "shares given",
    "withdraw_shares": "shares withdrawn", "federation": "a federation act of the community",
    "decision_closed": "a decision closed", "genesis": "the community began",
    "payment_settled": "a payment to another community was settled",
    "checkpoint": "a checkpoint", "key_rotated": "the node's key changed",
}


def member_named(state: State, directory: Directory, member_id: bytes) -> dict[str, str]:
    member = state.members.get(member_id)
    text = id_to_text("m", member_id)
    return {"id": text, "name": directory.name(member) if member is not None else text[:12] + "…"}


def person_part(state: State, directory: Directory, account: bytes) -> tuple[str, dict[str, str]]:
    return ("member", member_named(state, directory, account))


def memo_text(directory: Directory, memo: str | Committed | None) -> str | None:
    """A memo in clear for a page: None for none (an empty one), "(erased)" for one erased."""
    if memo is None or memo == "":
        return None
    return directory.shown(memo)


def enterprise_part(state: State, enterprise: bytes) -> tuple[str, dict[str, str]]:
    found = state.shares.enterprises.get(enterprise)
    text = id_to_text("e", enterprise)
    return ("enterprise", {"id": text, "name": found.name if found is not None else text[:12] + "…"})


def shares_of(state: State, enterprise: bytes, share_class: int, units: int) -> list[tuple[str, Any]]:
    """'8 Customer shares of Bakery' as parts (the class and the enterprise are names members typed)."""
    found = state.shares.enterprises.get(enterprise)
    class_name = found.classes[share_class].name if found is not None and share_class < len(found.classes) else "?"
    named_shares = class_name.casefold().endswith(("share", "shares"))  # "Customer shares": not "shares shares"
    noun = "" if named_shares else " share" + ("" if units == 1 else "s")
    return [("text", f"{units} "), ("text", class_name), ("text", noun + " of "), enterprise_part(state, enterprise)]


def describe_event(state: State, directory: Directory, seq: int, ts: int, raw: bytes,
                   elsewhere: ElsewhereNames | None = None) -> dict[str, Any]:
    """One event as a line of activity in plain words: who did what, as parts a template writes out
    (each escaped: ("text", words), ("member", {id, name}), ("enterprise", {id, name})), and the
    memo. `elsewhere(community, member)` names the other side of a payment across when the page
    can (node names only otherwise)."""
    event = decode_event(raw)
    body = event.body
    unit = state.community
    line: dict[str, Any] = {"seq": seq, "ts": ts, "kind": type(body).__name__, "who": None, "whom": None,
                            "amount": None, "memo": None, "text": None, "parts": []}

    def money(minor: int) -> str:
        return format_money(minor, unit.unit_decimals, unit.unit_code)

    def place(community: bytes, member: bytes | None = None) -> list[tuple[str, Any]]:
        community_name, member_name = elsewhere(community, member) if elsewhere is not None else (None, None)
        where = community_name or "another community"
        if member is None:
            return [("text", where)]
        return [("text", member_name or id_to_text("m", member)[:12] + "…"), ("text", " of "), ("text", where)]

    def decision_words(number: int) -> list[tuple[str, Any]]:
        found = state.decisions.get(number)
        title = [("text", " “"), ("text", directory.shown(found.title)), ("text", "”")] if found else []
        return [("text", f"decision #{number}"), *title]

    parts: list[tuple[str, Any]] = []
    if isinstance(body, Act):
        intent = decode_intent(body.intent)
        action = intent.action
        signer = member_for_key(state, intent.key)
        who = member_named(state, directory, signer) if signer is not None else None
        line["who"] = who
        line["kind"] = action.__struct_config__.tag
        subject: list[tuple[str, Any]] = [("member", who)] if who is not None else [("text", "Someone")]
        if isinstance(action, Transfer):
            line["whom"] = member_named(state, directory, action.to)
            line["amount"] = money(action.amount_minor)
            line["memo"] = memo_text(directory, action.memo)
            parts = [*subject, ("text", " paid "), ("member", line["whom"]), ("text", " "), ("amount", line["amount"])]
        elif isinstance(action, AdmitMember):
            line["whom"] = member_named(state, directory, action.member)
            parts = [*subject, ("text", " admitted "), ("member", line["whom"])]
        elif isinstance(action, RemoveMember):
            line["whom"] = member_named(state, directory, action.member)
            parts = [*subject, ("text", " closed the account of "), ("member", line["whom"])]
        elif isinstance(action, SetLimits):
            line["whom"] = member_named(state, directory, action.account)
            parts = [*subject, ("text", " set the limits of "), ("member", line["whom"])]
        elif isinstance(action, Propose):
            line["text"] = directory.shown(action.title)
            parts = [*subject, ("text", " proposed “"), ("text", line["text"]), ("text", "”")]
        elif isinstance(action, Vote):
            line["text"] = f"decision {action.decision}"
            parts = [*subject, ("text", " voted on "), *decision_words(action.decision)]
        elif isinstance(action, Delegate):
            line["whom"] = member_named(state, directory, action.to)
            line["text"] = action.topic
            parts = [*subject, ("text", " gave their vote to "), ("member", line["whom"])] + (
                [("text", " on "), ("text", action.topic)] if action.topic else [])
        elif isinstance(action, Undelegate):
            line["text"] = action.topic
            parts = [*subject, ("text", " took back their vote")] + ([("text", " on "), ("text", action.topic)]
                                                                        if action.topic else [])
        elif isinstance(action, RegisterEnterprise):
            parts = [*subject, ("text", " registered the enterprise "), ("text", action.name)]
        elif isinstance(action, OpenOffer):  # and its period form
            parts = [*subject, ("text", " offered "), *shares_of(state, action.enterprise, action.share_class,
                                                                   action.units),
                     ("text", f" at {money(action.price_minor)} each")]
        elif isinstance(action, Subscribe):
            offer = state.shares.offers.get(action.offer)
            parts = [*subject, ("text", " subscribed to ")] + (
                shares_of(state, offer.enterprise, offer.share_class, action.units) if offer is not None
                else [("text", f"{action.units} shares")]) + [("text", f" (offer #{action.offer})")]
        elif isinstance(action, PlaceOrder):
            parts = [*subject, ("text", f" placed an order to {action.side} "),
                     *shares_of(state, action.enterprise, action.share_class, action.units),
                     ("text", f" at {money(action.price_minor)} each")]
        elif isinstance(action, CancelOrder):
            parts = [*subject, ("text", f" cancelled their order #{action.order}")]
        elif isinstance(action, TransferShares):
            parts = [*subject, ("text", " gave "), *shares_of(state, action.enterprise, action.share_class, action.units),
                     ("text", " to "), ("member", member_named(state, directory, action.to))]
        elif isinstance(action, WithdrawShares):
            parts = [*subject, ("text", " asked to withdraw "),
                     *shares_of(state, action.enterprise, action.share_class, action.units), ("text", " at par")]
        elif isinstance(action, EnterprisePay):
            line["whom"] = member_named(state, directory, action.to)
            line["amount"] = money(action.amount_minor)
            line["memo"] = memo_text(directory, action.memo)
            parts = [enterprise_part(state, action.enterprise), ("text", " paid "), ("member", line["whom"]),
                     ("text", " "), ("amount", line["amount"])]
        elif isinstance(action, FederationAct):
            parts = [*subject, ("text", " "), *_federation_words(action.body), ("text", " for the community")]
        else:
            parts = [*subject, ("text", ": " + plain_kinds.get(line["kind"], line["kind"].replace("_", " ")))]
    elif isinstance(body, DecisionClosed):
        line["kind"] = "decision_closed"
        line["text"] = f"decision {body.decision}: {body.outcome}"
        parts = [("text", "Closed "), *decision_words(body.decision), ("text", ": " + body.outcome.replace("_", " "))]
    elif isinstance(body, Checkpoint):
        line["kind"] = "checkpoint"
        parts = [("muted", "The node checked and sealed the community's state (a checkpoint)")]
    elif isinstance(body, Genesis):
        line["kind"] = "genesis"
        line["text"] = body.name
        parts = [("text", "The community "), ("text", body.name), ("text", " began")]
    elif isinstance(body, KeyRotated):
        line["kind"] = "key_rotated"
        parts = [("text", "The node's signing key was replaced (its recovery key signed the change)")]
    elif isinstance(body, PaymentOut):
        line["kind"] = "payment_sent"
        line["who"] = member_named(state, directory, body.payer)
        line["amount"] = money(body.amount_minor)
        line["memo"] = memo_text(directory, body.memo)
        parts = [("member", line["who"]), ("text", " paid "), *place(body.to_community, body.to_member),
                 ("text", " "), ("amount", line["amount"])]
    elif isinstance(body, PaymentAccepted):
        line["kind"] = "payment_accepted"
        line["whom"] = member_named(state, directory, body.to_member)
        line["amount"] = money(body.amount_minor)
        parts = [("member", line["whom"]), ("text", " received "), ("amount", line["amount"]), ("text", " from "),
                 *place(body.from_community)]
    elif isinstance(body, PaymentRejected):
        line["kind"] = "payment_rejected"
        parts = [("text", "Refused a payment from "), *place(body.from_community),
                 ("text", " (" + body.reason.replace("_", " ") + ")")]
    elif isinstance(body, PaymentSettled):
        line["kind"] = "payment_settled"
        parts = [("text", "A payment to another community arrived there: settled")]
    elif isinstance(body, PaymentReturned):
        line["kind"] = "payment_returned"
        parts = [("text", "A payment to another community was refused there and came back to its payer")]
    elif isinstance(body, PaymentCancel):
        line["kind"] = "payment_cancel"
        parts = [("text", "Asked "), *place(body.to_community), ("text", " to refuse a payment not answered in time")]
    elif isinstance(body, OfferClosed):
        line["kind"] = "offer_closed"
        offer = state.shares.offers.get(body.offer)
        parts = [("text", f"Share offer #{body.offer}")] + (
            [("text", " of "), enterprise_part(state, offer.enterprise)] if offer is not None else []) + [
            ("text", " closed: " + ("shares allotted" if body.outcome == "allotted" else "target not reached, money back"))]
    elif isinstance(body, WithdrawalDue):
        line["kind"] = "withdrawal_due"
        parts = [("text", f"Withdrawal of shares #{body.withdrawal}: {body.outcome}")]
    elif isinstance(body, TradeLimits):
        line["kind"] = "trade_limits"
        parts = [("text", "The federation's limits on this community's trade with the others took effect")]
    elif isinstance(body, CapacityLimits):
        line["kind"] = "capacity_limits"
        parts = [("text", "The community's share of its federation's room for trade took effect")]
    elif isinstance(body, (Charter, FederationProposal, FederationVote)):
        tag = body.__struct_config__.tag
        line["kind"] = tag if isinstance(tag, str) else type(body).__name__
        parts = [("text", "The community "), *_federation_words(body)]
    else:
        tag = body.__struct_config__.tag
        line["kind"] = tag if isinstance(tag, str) else type(body).__name__
        parts = [("text", plain_kinds.get(line["kind"], line["kind"].replace("_", " ")).capitalize())]
    line["parts"] = parts
    return line


def _federation_words(body: Any) -> list[tuple[str, Any]]:
    """A federation body (charter, proposal, ballot) as words a member reads."""
    if isinstance(body, Charter):
        return [("text", "adopted the charter of the federation "), ("text", body.name)]
    if isinstance(body, FederationProposal):
        return [("text", "proposed “"), ("text", body.title), ("text", "” in a federation")]
    if isinstance(body, FederationVote):
        return [("text", "voted in a federation" if body.proposal is not None
                 else "abstained in a federation's round of decisions")]
    tag = body.__struct_config__.tag
    return [("text", str(tag).replace("_", " "))]


def describe_change(state: State, directory: Directory, account: bytes, seq: int, raw: bytes, change_minor: int,
                    elsewhere: ElsewhereNames | None = None) -> dict[str, Any]:
    """Why event `seq` changed `account`'s balance by `change_minor`, as parts a template writes out
    (each escaped): ("text", words), ("member", {id, name}), ("enterprise", {id, name}); and the
    memo, if the event carries one, and whether the change is credit held (in escrow, or a payment
    across waiting for its answer) rather than spent. `elsewhere(community, member)` names the
    other side of a payment across, (community name or None, member name or None)."""
    event = decode_event(raw)
    body = event.body
    parts: list[tuple[str, Any]] = []
    memo = None
    held = False
    unit = state.community
    holder = state.members.get(account)
    is_escrow = holder is not None and holder.role == "escrow"  # it holds others' credit, not its own

    def money(minor: int) -> str:
        return format_money(minor, unit.unit_decimals, unit.unit_code)

    def other_side(community: bytes, member: bytes | None) -> list[tuple[str, Any]]:
        community_name, member_name = elsewhere(community, member) if elsewhere is not None else (None, None)
        place = community_name or id_to_text("n", community)[:12] + "…"
        if member is None:
            return [("text", place)]
        return [("text", member_name or id_to_text("m", member)[:12] + "…"), ("text", " of "), ("text", place)]

    if isinstance(body, Act):
        intent = decode_intent(body.intent)
        action = intent.action
        signer = member_for_key(state, intent.key)
        kind = action.__struct_config__.tag
        if isinstance(action, Transfer):
            memo = memo_text(directory, action.memo)
            if signer == account:
                parts = [("text", "Paid "), person_part(state, directory, action.to)]
                if -change_minor > action.amount_minor:
                    parts.append(("text", f" (and the levy of {money(-change_minor - action.amount_minor)} to the treasury)"))
            elif action.to == account:
                parts = [("text", "From "), person_part(state, directory, signer)] if signer is not None else [("text", "Received")]
            else:
                parts = [("text", "Levy on a payment from ")] + ([person_part(state, directory, signer)] if signer else []) + [
                    ("text", " to "), person_part(state, directory, action.to)]
        elif isinstance(action, EnterprisePay):
            memo = memo_text(directory, action.memo)
            if action.enterprise == account:
                parts = [("text", "Paid "), person_part(state, directory, action.to)]
            else:
                parts = [("text", "From "), enterprise_part(state, action.enterprise)]
        elif isinstance(action, Subscribe):
            offer = state.shares.offers.get(action.offer)
            if offer is None:
                parts = [("text", f"Subscription to offer #{action.offer}")]
            elif signer == account:
                held = offer.outcome is None
                if held:
                    outcome = ", held until it closes)"
                elif offer.outcome == "allotted":
                    outcome = f": shares allotted at event #{offer.closed_seq})"
                else:
                    outcome = f": it did not go ahead, and the money came back at event #{offer.closed_seq})"
                parts = [("text", "Held in escrow for your subscription to " if held else "Subscribed to "),
                         *shares_of(state, offer.enterprise, offer.share_class, action.units),
                         ("text", f" (offer #{offer.seq}" + outcome)]
            else:
                parts = [("text", "Subscription of "), person_part(state, directory, signer) if signer else ("text", "a member"),
                         ("text", f" to offer #{offer.seq} of "), enterprise_part(state, offer.enterprise)]
        elif isinstance(action, PlaceOrder) and is_escrow:
            parts = [("text", f"Order #{seq} of "), person_part(state, directory, signer) if signer else ("text", "a member"),
                     ("text", f" to {action.side} shares of "), enterprise_part(state, action.enterprise),
                     ("text", ": the price held, or paid to the sellers")]
        elif isinstance(action, PlaceOrder):
            resting = state.shares.orders.get(seq)
            if signer == account and action.side == "buy":
                held = resting is not None
                parts = [("text", f"Your buy order #{seq}: "),
                         *shares_of(state, action.enterprise, action.share_class, action.units),
                         ("text", f" at up to {money(action.price_minor)} a share")]
                if held:
                    parts.append(("text", f"; {money(resting.reserved_minor)} held in escrow while "
                                          f"{resting.units} rest" + ("s" if resting.units == 1 else "")))
            elif signer == account:
                parts = [("text", f"Sold with your sell order #{seq}: "),
                         *shares_of(state, action.enterprise, action.share_class, action.units),
                         ("text", f" offered at {money(action.price_minor)} or more")]
            elif change_minor > 0 and action.side == "buy":
                parts = [("text", "Sold shares of "), enterprise_part(state, action.enterprise), ("text", " to "),
                         person_part(state, directory, signer) if signer else ("text", "a buyer")]
            else:
                parts = [("text", "Bought shares of "), enterprise_part(state, action.enterprise), ("text", " from "),
                         person_part(state, directory, signer) if signer else ("text", "a seller")]
        elif isinstance(action, CancelOrder):
            parts = [("text", f"Order #{action.order} cancelled: what was held for it came back")]
        elif isinstance(action, AdmitMember) and action.member == account:
            parts = [("text", "Joined "), ("text", state.community.name)]
        else:
            parts = [("text", plain_kinds.get(kind, kind.replace("_", " ")).capitalize())]
    elif isinstance(body, PaymentOut):
        memo = memo_text(directory, body.memo)
        pending = body.payer == account and payment_id(event) in state.payments.pending
        held = pending
        if body.payer == account:
            parts = [("text", "Paid "), *other_side(body.to_community, body.to_member),
                     ("text", " (across communities" + (", held until they answer)" if pending else ")"))]
        else:
            parts = [("text", "A payment to "), *other_side(body.to_community, None), ("text", " by "),
                     person_part(state, directory, body.payer)]
    elif isinstance(body, PaymentAccepted):
        if body.to_member == account:
            parts = [("text", "From "), *other_side(body.from_community, elsewhere_payer(elsewhere, body)),
                     ("text", " (across communities)")]
        else:
            parts = [("text", "A payment from "), *other_side(body.from_community, None), ("text", " to "),
                     person_part(state, directory, body.to_member)]
    elif isinstance(body, PaymentReturned):
        parts = [("text", "A payment to another community came back: it was refused")]
    elif isinstance(body, OfferClosed):
        offer = state.shares.offers.get(body.offer)
        if offer is None:
            parts = [("text", f"Offer #{body.offer} closed")]
        elif account == offer.enterprise:
            parts = [("text", f"Offer #{offer.seq} allotted: the price of the shares sold")]
        elif is_escrow:
            parts = [("text", f"Offer #{offer.seq} of "), enterprise_part(state, offer.enterprise),
                     ("text", " closed: the subscriptions' credit went to the enterprise and back to the subscribers"
                      if body.outcome == "allotted" else " closed: the subscriptions' credit went back to the subscribers")]
        elif body.outcome == "refunded":
            parts = [("text", f"Offer #{offer.seq} of "), enterprise_part(state, offer.enterprise),
                     ("text", " did not reach its target: your subscription came back from escrow")]
        else:
            subscription = offer.subscriptions.get(account)
            allotted = subscription.allotted if subscription is not None else 0
            parts = [("text", f"Offer #{offer.seq} allotted: you got "),
                     *shares_of(state, offer.enterprise, offer.share_class, allotted),
                     ("text", "; the credit for the rest came back" if change_minor > 0 else "")]
    elif isinstance(body, DecisionClosed):
        decision = state.decisions.get(body.decision)
        effect = decision.effect if decision is not None else None
        if isinstance(effect, DeclareDividend):
            if account == effect.enterprise:
                parts = [("text", f"Dividend paid to the holders (decision #{body.decision})")]
            else:
                parts = [("text", "Dividend from "), enterprise_part(state, effect.enterprise),
                         ("text", f" (decision #{body.decision})")]
        elif isinstance(effect, TreasuryPay):
            memo = memo_text(directory, effect.memo)
            parts = [("text", f"From the treasury (decision #{body.decision}: "), ("text", directory.shown(decision.title)),
                     ("text", ")")] \
                if effect.to == account else [("text", f"Paid by the treasury (decision #{body.decision})")]
        else:
            parts = [("text", f"Decision #{body.decision} closed")]
    elif isinstance(body, WithdrawalDue):
        withdrawal = state.shares.withdrawals.get(body.withdrawal)
        if withdrawal is not None and account == withdrawal.holder:
            parts = [("text", "Withdrawn at par: "),
                     *shares_of(state, withdrawal.enterprise, withdrawal.share_class, withdrawal.units)]
        else:
            parts = [("text", f"Withdrawal #{body.withdrawal} paid")]
    else:
        tag = body.__struct_config__.tag
        kind = tag if isinstance(tag, str) else type(body).__name__
        parts = [("text", plain_kinds.get(kind, kind.replace("_", " ")).capitalize())]
    return {"parts": parts, "memo": memo, "held": held}


def elsewhere_payer(elsewhere: ElsewhereNames | None, body: PaymentAccepted) -> bytes | None:
    """The payer of a payment across received, when the page's lookup knows it (else None)."""
    return elsewhere.payer_of(body.payment) if elsewhere is not None else None
