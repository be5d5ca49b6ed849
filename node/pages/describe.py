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
    GraftTree,
    KeyRotated,
    OfferClosed,
    OpenOffer,
    PayTree,
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
from .language import N_, money, outcome_words, reject_reason, word_for
from .language import gettext as _
from .shared import ElsewhereNames

# Kinds of event in words a member reads, for a change the page has no sentence of its own for.
plain_kinds = {
    "admit": N_("joined the community"), "remove": N_("account closed"), "set_role": N_("role changed"),
    "set_limits": N_("limits changed"), "set_default_limits": N_("the community's limits changed"),
    "register_enterprise": N_("enterprise registered"), "open_offer": N_("share offer opened"),
    "open_offer_period": N_("share offer opened"), "transfer_shares": N_("shares given"),
    "withdraw_shares": N_("shares withdrawn"), "federation": N_("a federation act of the community"),
    "decision_closed": N_("a decision closed"), "genesis": N_("the community began"),
    "payment_settled": N_("a payment to another community was settled"),
    "checkpoint": N_("a checkpoint"), "key_rotated": N_("the node's key changed"),
    # The Credit Commons tree (docs/creditcommons.md): the graft, a payment into it and its answer.
    "graft_tree": N_("the community joined a Credit Commons tree"),
    "pay_tree": N_("a payment into the Credit Commons tree"),
    "tree_settled": N_("a payment into the Credit Commons tree was settled"),
    "tree_returned": N_("a payment into the Credit Commons tree came back"),
    "tree_received": N_("a payment from the Credit Commons tree"),
}


def quoted(text: str) -> list[tuple[str, Any]]:
    """A text members typed (a title) between the quotation marks of the request's language:
    “…” in English, «…» in Spanish; the text itself as its own part, never translated."""
    return [("text", _("“")), ("text", text), ("text", _("”"))]


def kind_words(kind: str) -> str:
    """A kind of event in words, in the request's language (its tag in words if it has none)."""
    found = plain_kinds.get(kind)
    return _(found) if found is not None else kind.replace("_", " ")


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
    if named_shares:
        return [("text", f"{units} "), ("text", class_name), ("text", _(" of ")), enterprise_part(state, enterprise)]
    noun = _(" share of ") if units == 1 else _(" shares of ")
    return [("text", f"{units} "), ("text", class_name), ("text", noun), enterprise_part(state, enterprise)]


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

    def money_here(minor: int) -> str:
        return money(minor, unit.unit_decimals, unit.unit_code)

    def place(community: bytes, member: bytes | None = None) -> list[tuple[str, Any]]:
        community_name, member_name = elsewhere(community, member) if elsewhere is not None else (None, None)
        where = community_name or _("another community")
        if member is None:
            return [("text", where)]
        return [("text", member_name or id_to_text("m", member)[:12] + "…"), ("text", _(" of ")), ("text", where)]

    def decision_words(number: int) -> list[tuple[str, Any]]:
        found = state.decisions.get(number)
        title = [("text", " "), *quoted(directory.shown(found.title))] if found else []
        return [("text", _("decision #%(number)s", number=number)), *title]

    parts: list[tuple[str, Any]] = []
    if isinstance(body, Act):
        intent = decode_intent(body.intent)
        action = intent.action
        signer = member_for_key(state, intent.key)
        who = member_named(state, directory, signer) if signer is not None else None
        line["who"] = who
        line["kind"] = action.__struct_config__.tag
        subject: list[tuple[str, Any]] = [("member", who)] if who is not None else [("text", _("Someone"))]
        if isinstance(action, Transfer):
            line["whom"] = member_named(state, directory, action.to)
            line["amount"] = money_here(action.amount_minor)
            line["memo"] = memo_text(directory, action.memo)
            parts = [*subject, ("text", _(" paid ")), ("member", line["whom"]), ("text", " "), ("amount", line["amount"])]
        elif isinstance(action, AdmitMember):
            line["whom"] = member_named(state, directory, action.member)
            parts = [*subject, ("text", _(" admitted ")), ("member", line["whom"])]
        elif isinstance(action, RemoveMember):
            line["whom"] = member_named(state, directory, action.member)
            parts = [*subject, ("text", _(" closed the account of ")), ("member", line["whom"])]
        elif isinstance(action, SetLimits):
            line["whom"] = member_named(state, directory, action.account)
            parts = [*subject, ("text", _(" set the limits of ")), ("member", line["whom"])]
        elif isinstance(action, Propose):
            line["text"] = directory.shown(action.title)
            parts = [*subject, ("text", _(" proposed ")), *quoted(line["text"])]
        elif isinstance(action, Vote):
            line["text"] = f"decision {action.decision}"
            parts = [*subject, ("text", _(" voted on ")), *decision_words(action.decision)]
        elif isinstance(action, Delegate):
            line["whom"] = member_named(state, directory, action.to)
            line["text"] = action.topic
            parts = [*subject, ("text", _(" gave their vote to ")), ("member", line["whom"])] + (
                [("text", _(" on ")), ("text", action.topic)] if action.topic else [])
        elif isinstance(action, Undelegate):
            line["text"] = action.topic
            parts = [*subject, ("text", _(" took back their vote"))] + ([("text", _(" on ")), ("text", action.topic)]
                                                                        if action.topic else [])
        elif isinstance(action, RegisterEnterprise):
            parts = [*subject, ("text", _(" registered the enterprise ")), ("text", action.name)]
        elif isinstance(action, OpenOffer):  # and its period form
            parts = [*subject, ("text", _(" offered ")), *shares_of(state, action.enterprise, action.share_class,
                                                                   action.units),
                     ("text", _(" at %(amount)s each", amount=money_here(action.price_minor)))]
        elif isinstance(action, Subscribe):
            offer = state.shares.offers.get(action.offer)
            parts = [*subject, ("text", _(" subscribed to "))] + (
                shares_of(state, offer.enterprise, offer.share_class, action.units) if offer is not None
                else [("text", _("%(units)s shares", units=action.units))]) + [("text", _(" (offer #%(number)s)", number=action.offer))]
        elif isinstance(action, PlaceOrder):
            parts = [*subject, ("text", _(" placed an order to buy ") if action.side == "buy" else _(" placed an order to sell ")),
                     *shares_of(state, action.enterprise, action.share_class, action.units),
                     ("text", _(" at %(amount)s each", amount=money_here(action.price_minor)))]
        elif isinstance(action, CancelOrder):
            parts = [*subject, ("text", _(" cancelled their order #%(number)s", number=action.order))]
        elif isinstance(action, TransferShares):
            parts = [*subject, ("text", _(" gave ")), *shares_of(state, action.enterprise, action.share_class, action.units),
                     ("text", _(" to ")), ("member", member_named(state, directory, action.to))]
        elif isinstance(action, WithdrawShares):
            parts = [*subject, ("text", _(" asked to withdraw ")),
                     *shares_of(state, action.enterprise, action.share_class, action.units), ("text", _(" at par"))]
        elif isinstance(action, EnterprisePay):
            line["whom"] = member_named(state, directory, action.to)
            line["amount"] = money_here(action.amount_minor)
            line["memo"] = memo_text(directory, action.memo)
            parts = [enterprise_part(state, action.enterprise), ("text", _(" paid ")), ("member", line["whom"]),
                     ("text", " "), ("amount", line["amount"])]
        elif isinstance(action, FederationAct):
            parts = [*subject, ("text", " "), *_federation_words(action.body), ("text", _(" for the community"))]
        elif isinstance(action, GraftTree):
            line["text"] = action.node_path
            parts = [*subject, ("text", _(" joined the community to a Credit Commons tree, as ")), ("text", action.node_path)]
        elif isinstance(action, PayTree):
            line["amount"] = money_here(action.amount_minor)
            line["memo"] = memo_text(directory, action.memo)
            # " sent ", not " paid ": the payee is no member here, and " paid " is worded for one ("pagó a").
            parts = [*subject, ("text", _(" sent ")), ("amount", line["amount"]), ("text", _(" to ")),
                     ("text", action.to_path), ("text", _(" in the Credit Commons tree"))]
        else:
            parts = [*subject, ("text", ": " + kind_words(line["kind"]))]
    elif isinstance(body, DecisionClosed):
        line["kind"] = "decision_closed"
        line["text"] = f"decision {body.decision}: {body.outcome}"
        parts = [("text", _("Closed ")), *decision_words(body.decision), ("text", ": " + word_for(outcome_words, body.outcome))]
    elif isinstance(body, Checkpoint):
        line["kind"] = "checkpoint"
        parts = [("muted", _("The node checked and sealed the community's state (a checkpoint)"))]
    elif isinstance(body, Genesis):
        line["kind"] = "genesis"
        line["text"] = body.name
        parts = [("text", _("The community ")), ("text", body.name), ("text", _(" began"))]
    elif isinstance(body, KeyRotated):
        line["kind"] = "key_rotated"
        parts = [("text", _("The node's signing key was replaced (its recovery key signed the change)"))]
    elif isinstance(body, PaymentOut):
        line["kind"] = "payment_sent"
        line["who"] = member_named(state, directory, body.payer)
        line["amount"] = money_here(body.amount_minor)
        line["memo"] = memo_text(directory, body.memo)
        parts = [("member", line["who"]), ("text", _(" paid ")), *place(body.to_community, body.to_member),
                 ("text", " "), ("amount", line["amount"])]
    elif isinstance(body, PaymentAccepted):
        line["kind"] = "payment_accepted"
        line["whom"] = member_named(state, directory, body.to_member)
        line["amount"] = money_here(body.amount_minor)
        parts = [("member", line["whom"]), ("text", _(" received ")), ("amount", line["amount"]), ("text", _(" from ")),
                 *place(body.from_community)]
    elif isinstance(body, PaymentRejected):
        line["kind"] = "payment_rejected"
        parts = [("text", _("Refused a payment from ")), *place(body.from_community),
                 ("text", " (" + reject_reason(body.reason) + ")")]
    elif isinstance(body, PaymentSettled):
        line["kind"] = "payment_settled"
        parts = [("text", _("A payment to another community arrived there: settled"))]
    elif isinstance(body, PaymentReturned):
        line["kind"] = "payment_returned"
        parts = [("text", _("A payment to another community was refused there and came back to its payer"))]
    elif isinstance(body, PaymentCancel):
        line["kind"] = "payment_cancel"
        parts = [("text", _("Asked ")), *place(body.to_community), ("text", _(" to refuse a payment not answered in time"))]
    elif isinstance(body, TreeSettled):
        line["kind"] = "tree_settled"
        parts = [("text", _("The payment of event #%(number)s into the Credit Commons tree arrived there: settled",
                            number=body.payment))]
    elif isinstance(body, TreeReturned):
        line["kind"] = "tree_returned"
        parts = [("text", _("The payment of event #%(number)s into the Credit Commons tree was refused there and "
                            "came back to its payer", number=body.payment))]
    elif isinstance(body, TreeReceived):
        line["kind"] = "tree_received"
        line["whom"] = member_named(state, directory, body.to_member)
        line["amount"] = money_here(body.amount_minor)
        parts = [("member", line["whom"]), ("text", _(" received ")), ("amount", line["amount"]), ("text", _(" from ")),
                 ("text", body.from_path), ("text", _(" in the Credit Commons tree"))]
    elif isinstance(body, OfferClosed):
        line["kind"] = "offer_closed"
        offer = state.shares.offers.get(body.offer)
        parts = [("text", _("Share offer #%(number)s", number=body.offer))] + (
            [("text", _(" of ")), enterprise_part(state, offer.enterprise)] if offer is not None else []) + [
            ("text", _(" closed: shares allotted") if body.outcome == "allotted" else _(" closed: target not reached, money back"))]
    elif isinstance(body, WithdrawalDue):
        line["kind"] = "withdrawal_due"
        parts = [("text", _("Withdrawal of shares #%(number)s: paid", number=body.withdrawal) if body.outcome == "paid"
                  else _("Withdrawal of shares #%(number)s: refused", number=body.withdrawal))]
    elif isinstance(body, TradeLimits):
        line["kind"] = "trade_limits"
        parts = [("text", _("The federation's limits on this community's trade with the others took effect"))]
    elif isinstance(body, CapacityLimits):
        line["kind"] = "capacity_limits"
        parts = [("text", _("The community's share of its federation's room for trade took effect"))]
    elif isinstance(body, (Charter, FederationProposal, FederationVote)):
        tag = body.__struct_config__.tag
        line["kind"] = tag if isinstance(tag, str) else type(body).__name__
        parts = [("text", _("The community ")), *_federation_words(body)]
    else:
        tag = body.__struct_config__.tag
        line["kind"] = tag if isinstance(tag, str) else type(body).__name__
        parts = [("text", kind_words(line["kind"]).capitalize())]
    line["parts"] = parts
    return line


def _federation_words(body: Any) -> list[tuple[str, Any]]:
    """A federation body (charter, proposal, ballot) as words a member reads."""
    if isinstance(body, Charter):
        return [("text", _("adopted the charter of the federation ")), ("text", body.name)]
    if isinstance(body, FederationProposal):
        return [("text", _("proposed ")), *quoted(body.title), ("text", _(" in a federation"))]
    if isinstance(body, FederationVote):
        return [("text", _("voted in a federation") if body.proposal is not None
                 else _("abstained in a federation's round of decisions"))]
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

    def money_here(minor: int) -> str:
        return money(minor, unit.unit_decimals, unit.unit_code)

    def other_side(community: bytes, member: bytes | None) -> list[tuple[str, Any]]:
        community_name, member_name = elsewhere(community, member) if elsewhere is not None else (None, None)
        place = community_name or id_to_text("n", community)[:12] + "…"
        if member is None:
            return [("text", place)]
        return [("text", member_name or id_to_text("m", member)[:12] + "…"), ("text", _(" of ")), ("text", place)]

    if isinstance(body, Act):
        intent = decode_intent(body.intent)
        action = intent.action
        signer = member_for_key(state, intent.key)
        kind = action.__struct_config__.tag
        if isinstance(action, Transfer):
            memo = memo_text(directory, action.memo)
            if signer == account:
                parts = [("text", _("Paid ")), person_part(state, directory, action.to)]
                if -change_minor > action.amount_minor:
                    parts.append(("text", _(" (and the levy of %(amount)s to the treasury)", amount=money_here(-change_minor - action.amount_minor))))
            elif action.to == account:
                parts = [("text", _("From ")), person_part(state, directory, signer)] if signer is not None else [("text", _("Received"))]
            else:
                parts = [("text", _("Levy on a payment from "))] + ([person_part(state, directory, signer)] if signer else []) + [
                    ("text", _(" to ")), person_part(state, directory, action.to)]
        elif isinstance(action, EnterprisePay):
            memo = memo_text(directory, action.memo)
            if action.enterprise == account:
                parts = [("text", _("Paid ")), person_part(state, directory, action.to)]
            else:
                parts = [("text", _("From ")), enterprise_part(state, action.enterprise)]
        elif isinstance(action, Subscribe):
            offer = state.shares.offers.get(action.offer)
            if offer is None:
                parts = [("text", _("Subscription to offer #%(number)s", number=action.offer))]
            elif signer == account:
                held = offer.outcome is None
                if held:
                    outcome = _(" (offer #%(number)s, held until it closes)", number=offer.seq)
                elif offer.outcome == "allotted":
                    outcome = _(" (offer #%(number)s: shares allotted at event #%(event)s)", number=offer.seq,
                                event=offer.closed_seq)
                else:
                    outcome = _(" (offer #%(number)s: it did not go ahead, and the money came back at event #%(event)s)",
                                number=offer.seq, event=offer.closed_seq)
                parts = [("text", _("Held in escrow for your subscription to ") if held else _("Subscribed to ")),
                         *shares_of(state, offer.enterprise, offer.share_class, action.units),
                         ("text", outcome)]
            else:
                parts = [("text", _("Subscription of ")), person_part(state, directory, signer) if signer else ("text", _("a member")),
                         ("text", _(" to offer #%(number)s of ", number=offer.seq)), enterprise_part(state, offer.enterprise)]
        elif isinstance(action, PlaceOrder) and is_escrow:
            parts = [("text", _("Order #%(number)s of ", number=seq)), person_part(state, directory, signer) if signer else ("text", _("a member")),
                     ("text", _(" to buy shares of ") if action.side == "buy" else _(" to sell shares of ")), enterprise_part(state, action.enterprise),
                     ("text", _(": the price held, or paid to the sellers"))]
        elif isinstance(action, PlaceOrder):
            resting = state.shares.orders.get(seq)
            if signer == account and action.side == "buy":
                held = resting is not None
                parts = [("text", _("Your buy order #%(number)s: ", number=seq)),
                         *shares_of(state, action.enterprise, action.share_class, action.units),
                         ("text", _(" at up to %(amount)s a share", amount=money_here(action.price_minor)))]
                if held:
                    held_text = _("; %(amount)s held in escrow while %(units)s rests") if resting.units == 1 \
                        else _("; %(amount)s held in escrow while %(units)s rest")
                    parts.append(("text", held_text % {"amount": money_here(resting.reserved_minor), "units": resting.units}))
            elif signer == account:
                parts = [("text", _("Sold with your sell order #%(number)s: ", number=seq)),
                         *shares_of(state, action.enterprise, action.share_class, action.units),
                         ("text", _(" offered at %(amount)s or more", amount=money_here(action.price_minor)))]
            elif change_minor > 0 and action.side == "buy":
                parts = [("text", _("Sold shares of ")), enterprise_part(state, action.enterprise), ("text", _(" to ")),
                         person_part(state, directory, signer) if signer else ("text", _("a buyer"))]
            else:
                parts = [("text", _("Bought shares of ")), enterprise_part(state, action.enterprise), ("text", _(" from ")),
                         person_part(state, directory, signer) if signer else ("text", _("a seller"))]
        elif isinstance(action, CancelOrder):
            parts = [("text", _("Order #%(number)s cancelled: what was held for it came back", number=action.order))]
        elif isinstance(action, AdmitMember) and action.member == account:
            parts = [("text", _("Joined ")), ("text", state.community.name)]
        elif isinstance(action, PayTree):
            memo = memo_text(directory, action.memo)
            tree = state.payments.tree
            held = signer == account and tree is not None and seq in tree.held
            if signer == account:
                parts = [("text", _("Paid ")), ("text", action.to_path),
                         ("text", _(" in the Credit Commons tree (held until it answers)") if held
                          else _(" in the Credit Commons tree"))]
            else:
                parts = [("text", _("A payment into the Credit Commons tree by ")),
                         person_part(state, directory, signer) if signer else ("text", _("a member"))]
        else:
            parts = [("text", kind_words(kind).capitalize())]
    elif isinstance(body, PaymentOut):
        memo = memo_text(directory, body.memo)
        pending = body.payer == account and payment_id(event) in state.payments.pending
        held = pending
        if body.payer == account:
            parts = [("text", _("Paid ")), *other_side(body.to_community, body.to_member),
                     ("text", _(" (across communities, held until they answer)") if pending else _(" (across communities)"))]
        else:
            parts = [("text", _("A payment to ")), *other_side(body.to_community, None), ("text", _(" by ")),
                     person_part(state, directory, body.payer)]
    elif isinstance(body, PaymentAccepted):
        if body.to_member == account:
            parts = [("text", _("From ")), *other_side(body.from_community, elsewhere_payer(elsewhere, body)),
                     ("text", _(" (across communities)"))]
        else:
            parts = [("text", _("A payment from ")), *other_side(body.from_community, None), ("text", _(" to ")),
                     person_part(state, directory, body.to_member)]
    elif isinstance(body, PaymentReturned):
        parts = [("text", _("A payment to another community came back: it was refused"))]
    elif isinstance(body, TreeReturned):
        parts = [("text", _("The payment of event #%(number)s into the Credit Commons tree came back: it was refused",
                            number=body.payment))]
    elif isinstance(body, TreeReceived):
        if body.to_member == account:
            parts = [("text", _("From ")), ("text", body.from_path), ("text", _(" in the Credit Commons tree"))]
        else:
            parts = [("text", _("A payment from the Credit Commons tree to ")),
                     person_part(state, directory, body.to_member)]
    elif isinstance(body, OfferClosed):
        offer = state.shares.offers.get(body.offer)
        if offer is None:
            parts = [("text", _("Offer #%(number)s closed", number=body.offer))]
        elif account == offer.enterprise:
            parts = [("text", _("Offer #%(number)s allotted: the price of the shares sold", number=offer.seq))]
        elif is_escrow:
            parts = [("text", _("Offer #%(number)s of ", number=offer.seq)), enterprise_part(state, offer.enterprise),
                     ("text", _(" closed: the subscriptions' credit went to the enterprise and back to the subscribers")
                      if body.outcome == "allotted" else _(" closed: the subscriptions' credit went back to the subscribers"))]
        elif body.outcome == "refunded":
            parts = [("text", _("Offer #%(number)s of ", number=offer.seq)), enterprise_part(state, offer.enterprise),
                     ("text", _(" did not reach its target: your subscription came back from escrow"))]
        else:
            subscription = offer.subscriptions.get(account)
            allotted = subscription.allotted if subscription is not None else 0
            parts = [("text", _("Offer #%(number)s allotted: you got ", number=offer.seq)),
                     *shares_of(state, offer.enterprise, offer.share_class, allotted),
                     ("text", _("; the credit for the rest came back") if change_minor > 0 else "")]
    elif isinstance(body, DecisionClosed):
        decision = state.decisions.get(body.decision)
        effect = decision.effect if decision is not None else None
        if isinstance(effect, DeclareDividend):
            if account == effect.enterprise:
                parts = [("text", _("Dividend paid to the holders (decision #%(number)s)", number=body.decision))]
            else:
                parts = [("text", _("Dividend from ")), enterprise_part(state, effect.enterprise),
                         ("text", _(" (decision #%(number)s)", number=body.decision))]
        elif isinstance(effect, TreasuryPay):
            memo = memo_text(directory, effect.memo)
            parts = [("text", _("From the treasury (decision #%(number)s: ", number=body.decision)), ("text", directory.shown(decision.title)),
                     ("text", ")")] \
                if effect.to == account else [("text", _("Paid by the treasury (decision #%(number)s)", number=body.decision))]
        else:
            parts = [("text", _("Decision #%(number)s closed", number=body.decision))]
    elif isinstance(body, WithdrawalDue):
        withdrawal = state.shares.withdrawals.get(body.withdrawal)
        if withdrawal is not None and account == withdrawal.holder:
            parts = [("text", _("Withdrawn at par: ")),
                     *shares_of(state, withdrawal.enterprise, withdrawal.share_class, withdrawal.units)]
        else:
            parts = [("text", _("Withdrawal #%(number)s paid", number=body.withdrawal))]
    else:
        tag = body.__struct_config__.tag
        kind = tag if isinstance(tag, str) else type(body).__name__
        parts = [("text", kind_words(kind).capitalize())]
    return {"parts": parts, "memo": memo, "held": held}


def elsewhere_payer(elsewhere: ElsewhereNames | None, body: PaymentAccepted) -> bytes | None:
    """The payer of a payment across received, when the page's lookup knows it (else None)."""
    return elsewhere.payer_of(body.payment) if elsewhere is not None else None
