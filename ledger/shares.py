"""Community shares and the local exchange as part of the pure domain: enterprises, share classes,
offers with escrow, an order book matched by the sequencer, dividends and withdrawals. No I/O, no
clock. docs/shares.md states every rule; this module is those rules.

How this works: an enterprise and the community's escrow are accounts of the ledger (entries of
`State.members` with roles `enterprise` and `escrow`, like the treasury), so every credit move is a
move between accounts and balances still sum to zero. What only shares need lives in `Shares`,
persistent maps inside the State. An order is matched by the very event that carries it: `match`
is a pure function of the state and the order, so the sequencer, every replica and every rebuild
compute the same fills. Offers close and withdrawals fall due by events the node's timer appends
(`offer_closed`, `withdrawal_due`), whose outcome a replica recomputes here.
"""

from __future__ import annotations

from bisect import insort

from immutables import Map
from msgspec import Struct
from msgspec.structs import replace as _replace
from tallystick.protocol import limits
from tallystick.protocol.events import (
    CancelOrder,
    DeclareDividend,
    EnterprisePay,
    Event,
    OfferClosed,
    OpenOffer,
    OpenOfferWithPeriod,
    PayInterest,
    PlaceOrder,
    RegisterEnterprise,
    RegisterEnterpriseWithMemberVotes,
    ResumeWithdrawals,
    SetInterestCap,
    SetWithdrawalRule,
    ShareClass,
    Subscribe,
    SuspendWithdrawals,
    TransferShares,
    WithdrawalDue,
    WithdrawShares,
)
from tallystick.protocol.ids import hash32

from . import names as naming
from .accounts import (
    active_member,
    check_can_receive,
    check_within,
    credit_ceiling,
    escrowed_for,
    free_name,
    money,
    move_credit,
    name_of,
    open_system_account,
    people_roles,
)
from .errors import (
    BadAmountError,
    BadDecisionError,
    BadInterestError,
    BadOfferError,
    BadShareClassError,
    CreditCeilingError,
    DeadlinePassedError,
    DebitLimitError,
    DomainError,
    HoldingCapError,
    InsufficientSharesError,
    InterestCapError,
    LocalOnlyError,
    MemberCapError,
    NameTakenError,
    NotAuthorizedError,
    NotDueError,
    NotManagerError,
    NotTransferableError,
    NotWithdrawableError,
    OfferClosedError,
    OutcomeMismatchError,
    SameAccountError,
    SelfTradeError,
    TooManyOffersError,
    TooManyOrdersError,
    UnknownEnterpriseError,
    UnknownOfferError,
    UnknownOrderError,
    WithdrawalsSuspendedError,
)
from .model import (
    Account,
    Book,
    Enterprise,
    Holding,
    Member,
    Offer,
    Order,
    Shares,
    State,
    Subscription,
    Trade,
    Withdrawal,
)
from .money import format_ceiling, format_duration, format_share
from .names import name_key


def enterprise_id(feed: bytes, seq: int) -> bytes:
    return hash32(b"tallystick/enterprise\n" + feed + seq.to_bytes(8, "big"))


def escrow_id(feed: bytes) -> bytes:
    return hash32(b"tallystick/escrow\n" + feed)


# ---- small helpers over the ledger ----------------------------------------------------------------


def _enterprise(state: State, enterprise: bytes) -> Enterprise:
    found = state.shares.enterprises.get(enterprise)
    if found is None:
        raise UnknownEnterpriseError("there is no such enterprise in this community; `tally enterprise list` lists them")
    return found


def _class(enterprise: Enterprise, index: int) -> ShareClass:
    if index >= len(enterprise.classes):
        raise BadShareClassError(f"{enterprise.name} has share classes 0 to {len(enterprise.classes) - 1}")
    return enterprise.classes[index]


def _require_manager(enterprise: Enterprise, signer_id: bytes) -> None:
    if enterprise.manager != signer_id:
        raise NotManagerError(f"only the manager of {enterprise.name} may do this")


def _require_person(state: State, member_id: bytes, who: str) -> Member:
    member = active_member(state, member_id, who)
    if member.role not in people_roles:
        raise NotAuthorizedError(f"{who} must be a person who is a member, not the account {member.name}")
    return member


def _holding(state: State, enterprise: bytes, share_class: int, holder: bytes) -> Holding | None:
    return state.shares.holdings.get((enterprise, share_class, holder))


def _check_amount(state: State, price_minor: int, units: int) -> int:
    total = price_minor * units
    if not 1 <= total <= limits.amount_minor_max:
        raise BadAmountError(
            f"{units} shares at {money(state, price_minor)} come to {money(state, total)}; "
            f"the total must be between {money(state, 1)} and {money(state, limits.amount_minor_max)}: "
            "ask for fewer shares or a lower price"
        )
    return total


def _check_can_pay(state: State, payer: bytes, amount: int, who: str, *, price_minor: int = 0, verb: str = "buy") -> None:
    """`payer` can pay `amount` within its debit limit. With `price_minor`, the amount is that price
    per share, and the refusal says how many shares fit ("buy at most 3 shares")."""
    account = state.accounts[payer]
    check_within(state, account, account.balance_minor - amount, who, moved=amount,
                        remedy=_shares_that_fit(state, price_minor, verb))


def _shares_that_fit(state: State, price_minor: int, verb: str):  # type: ignore[no-untyped-def]
    if not price_minor:
        return None

    def remedy(room: int) -> str:
        units = room // price_minor
        if units == 0:
            return f"not one share at {money(state, price_minor)} fits (room for {money(state, room)})"
        return f"{verb} at most {units} share{'' if units == 1 else 's'} at {money(state, price_minor)}"

    return remedy


def _add_escrowed(escrowed: Map, member: bytes, change: int) -> Map:
    total = escrowed.get(member, 0) + change
    return escrowed.set(member, total) if total else escrowed.delete(member)


def _check_holder(state: State, share_class: ShareClass, holder: bytes, units_after: int, who: str) -> None:
    """The holding cap (shares held, subscribed and bid for) and the local-only rule for `holder`."""
    member = active_member(state, holder, who)
    if share_class.local_only and member.role not in people_roles:
        raise LocalOnlyError(f"{share_class.name} may be held only by people who are members, not by {member.name}")
    cap = share_class.holding_cap_units
    if cap is not None and units_after > cap:
        raise HoldingCapError(
            f"{who} would hold {units_after} {share_class.name} (counting subscriptions and bids); the cap is {cap}"
        )


def _exposure(state: State, enterprise: bytes, share_class: int, holder: bytes) -> int:
    held = _holding(state, enterprise, share_class, holder)
    return (held.units if held else 0) + state.shares.pending.get((enterprise, share_class, holder), 0)


def _add_units(holdings: Map, key: tuple, units: int, cost: int, seq: int) -> Map:
    held = holdings.get(key)
    if held is None or held.units == 0:
        return holdings.set(key, Holding(units, 0 if held is None else held.locked, seq, cost))
    return holdings.set(key, _replace(held, units=held.units + units, cost_minor=held.cost_minor + cost))


def _remove_units(holdings: Map, key: tuple, units: int, unlock: int) -> Map:
    """Take `units` (of which `unlock` were locked) from a holding, its cost pro rata."""
    held = holdings[key]
    left = held.units - units
    locked = held.locked - unlock
    if left == 0 and locked == 0:
        return holdings.delete(key)
    cost = held.cost_minor * left // held.units
    return holdings.set(key, _replace(held, units=left, locked=locked, cost_minor=cost))


def _lock(holdings: Map, key: tuple, units: int) -> Map:
    held = holdings[key]
    return holdings.set(key, _replace(held, locked=held.locked + units))


def _add_pending(pending: Map, key: tuple, units: int) -> Map:
    total = pending.get(key, 0) + units
    return pending.set(key, total) if total else pending.delete(key)


def _with_escrow(state: State, seq: int) -> tuple[State, bytes]:
    escrow = escrow_id(state.feed)
    if escrow not in state.members:
        name = free_name(state, ("Escrow", "Community escrow", f"Escrow {seq}"))
        # Escrow only holds what it is given: never below zero, no ceiling below the protocol's.
        state = open_system_account(state, escrow, name, "escrow", seq, Account(0, 0, limits.amount_minor_max))
    return state, escrow


def _check_escrow_can_receive(state: State, amount: int) -> None:
    escrow = escrow_id(state.feed)
    if escrow in state.accounts:
        check_can_receive(state, escrow, amount, "the community's escrow")
    elif amount > limits.amount_minor_max:
        raise CreditCeilingError("the community's escrow would pass its ceiling")


# ---- registering and paying -----------------------------------------------------------------------


def check_register(state: State, signer_id: bytes, action: RegisterEnterprise) -> None:
    _require_person(state, signer_id, "the manager")
    naming.require_normal_name(action.name, "the enterprise's name")
    if name_key(action.name) in state.names:
        raise NameTakenError(
            "that name looks like the name of a member or an enterprise already here; choose another"
        )
    names = set()
    for share_class in action.classes:
        if share_class.withdrawable and share_class.transferable:
            raise BadShareClassError(
                f"{share_class.name}: a class is withdrawable at par or transferable, not both"
            )
        if share_class.name.casefold() in names:
            raise BadShareClassError(f"two classes are called {share_class.name!r}")
        names.add(share_class.name.casefold())
        naming.require_normal_name(share_class.name, "a share class's name")
    naming.require_distinct([share_class.name for share_class in action.classes], "share classes")
    if isinstance(action, RegisterEnterpriseWithMemberVotes):
        _check_member_vote_classes(action)
    seen = set()
    for issue in action.founder_issue:
        if issue.share_class >= len(action.classes):
            raise BadShareClassError(f"founder shares of class {issue.share_class}, which does not exist")
        share_class = action.classes[issue.share_class]
        if share_class.kind != "founder":
            raise BadShareClassError(f"{share_class.name} is not a founder class; only founder shares are issued at registration")
        if share_class.withdrawable:
            raise BadShareClassError(
                f"{share_class.name} is withdrawable at par, so it is issued only for its price, in an offer"
            )
        if issue.share_class in seen:
            raise BadShareClassError("each founder class is issued once")
        seen.add(issue.share_class)
        cap = share_class.holding_cap_units
        if cap is not None and issue.units > cap:
            raise HoldingCapError(f"{issue.units} {share_class.name} would pass the class's cap of {cap}")


def _check_member_vote_classes(action: RegisterEnterpriseWithMemberVotes) -> None:
    chosen = action.member_vote_classes
    if not chosen:
        raise BadShareClassError(
            "name at least one class that votes one member, one vote (or register with register_enterprise)")
    if len(set(chosen)) != len(chosen):
        raise BadShareClassError("each class that votes one member, one vote is named once")
    for index in chosen:
        if index >= len(action.classes):
            raise BadShareClassError(f"class {index} votes one member, one vote, but there is no class {index}")
        if action.classes[index].votes_per_share == 0:
            raise BadShareClassError(
                f"{action.classes[index].name} votes one member, one vote, so it carries a vote: give it votes=1")


def apply_register(state: State, signer_id: bytes, action: RegisterEnterprise, seq: int) -> State:
    eid = enterprise_id(state.feed, seq)
    issued = [0] * len(action.classes)
    holdings = state.shares.holdings
    for issue in action.founder_issue:
        issued[issue.share_class] = issue.units
        holdings = _add_units(holdings, (eid, issue.share_class, signer_id), issue.units, 0, seq)
    enterprise = Enterprise(
        name=action.name,
        manager=signer_id,
        classes=tuple(action.classes),
        registered_seq=seq,
        notice_ms=action.notice_ms,
        yearly_cap_minor=action.yearly_cap_minor,
        issued=tuple(issued),
        withdrawn=(0,) * len(action.classes),
        member_vote_classes=tuple(sorted(action.member_vote_classes))
        if isinstance(action, RegisterEnterpriseWithMemberVotes) else (),
    )
    state = open_system_account(state, eid, action.name, "enterprise", seq, Account())
    shares = _replace(state.shares, enterprises=state.shares.enterprises.set(eid, enterprise), holdings=holdings)
    return _replace(state, shares=shares)


def check_enterprise_pay(state: State, signer_id: bytes, action: EnterprisePay) -> None:
    enterprise = _enterprise(state, action.enterprise)
    _require_manager(enterprise, signer_id)
    if action.to == action.enterprise:
        raise SameAccountError("an enterprise cannot pay itself")
    payee = active_member(state, action.to, "the payee")
    if payee.role == "escrow":
        raise NotAuthorizedError("nobody pays the escrow directly; subscribe to an offer or place an order")
    _check_can_pay(state, action.enterprise, action.amount_minor, enterprise.name, verb="")
    check_can_receive(state, action.to, action.amount_minor, payee.name, verb="pay them")


def apply_enterprise_pay(state: State, action: EnterprisePay) -> State:
    return _replace(state, accounts=move_credit(state.accounts, action.enterprise, action.to, action.amount_minor))


# ---- offers ---------------------------------------------------------------------------------------


def check_open_offer(state: State, signer_id: bytes, action: OpenOffer, now_ms: int) -> None:
    enterprise = _enterprise(state, action.enterprise)
    _require_manager(enterprise, signer_id)
    share_class = _class(enterprise, action.share_class)
    if len(state.shares.open_offers) >= limits.offers_open_max:
        raise TooManyOffersError(f"{limits.offers_open_max} offers are open; wait until some close")
    if action.min_units > action.units:
        raise BadOfferError(f"the minimum target ({action.min_units}) is above the shares offered ({action.units})")
    if share_class.withdrawable and action.price_minor != share_class.par_minor:
        raise BadOfferError(
            f"{share_class.name} is withdrawable at par, so it is offered at par: "
            f"give the price {money(state, share_class.par_minor)}"
        )
    _check_amount(state, action.price_minor, action.units)
    if isinstance(action, OpenOfferWithPeriod) and action.deadline_ms != 0:
        raise BadOfferError("an offer has a deadline or a period open, not both: give the deadline as 0")
    deadline_ms = offer_deadline(action, now_ms)
    if deadline_ms <= now_ms:
        raise DeadlinePassedError(f"the deadline {deadline_ms} ms is not in the future (now {now_ms} ms)")
    if deadline_ms - now_ms > limits.decision_duration_max_ms:
        raise BadOfferError("an offer may stay open at most 366 days; choose an earlier deadline")


def offer_deadline(action: OpenOffer, ts_ms: int) -> int:
    """When an offer closes: its deadline, or its period open after its event's ts (the log's time)."""
    return ts_ms + action.open_for_ms if isinstance(action, OpenOfferWithPeriod) else action.deadline_ms


def apply_open_offer(state: State, action: OpenOffer, seq: int, ts_ms: int) -> State:
    deadline_ms = offer_deadline(action, ts_ms)
    offer = Offer(
        seq=seq,
        enterprise=action.enterprise,
        share_class=action.share_class,
        price_minor=action.price_minor,
        units=action.units,
        min_units=action.min_units,
        member_cap_units=action.member_cap_units,
        deadline_ms=deadline_ms,
    )
    shares = state.shares
    shares = _replace(shares, offers=shares.offers.set(seq, offer), open_offers=shares.open_offers.set(seq, deadline_ms))
    return _replace(state, shares=shares)


def _open_offer(state: State, offer_seq: int, now_ms: int) -> Offer:
    offer = state.shares.offers.get(offer_seq)
    if offer is None:
        raise UnknownOfferError(f"there is no offer {offer_seq}; `tally enterprise offers` lists them")
    if offer.outcome is not None:
        raise OfferClosedError(f"offer {offer_seq} is closed ({offer.outcome})")
    if now_ms >= offer.deadline_ms:
        raise DeadlinePassedError(f"the deadline of offer {offer_seq} has passed")
    return offer


def check_subscribe(state: State, signer_id: bytes, action: Subscribe, now_ms: int) -> None:
    offer = _open_offer(state, action.offer, now_ms)
    _require_person(state, signer_id, "the subscriber")
    enterprise = state.shares.enterprises[offer.enterprise]
    share_class = enterprise.classes[offer.share_class]
    mine = offer.subscriptions.get(signer_id)
    already = mine.units if mine else 0
    if already + action.units > offer.member_cap_units:
        raise MemberCapError(
            f"a member may subscribe at most {offer.member_cap_units} shares of this offer (you have {already})"
        )
    if offer.subscribed_units + action.units > limits.share_units_max:
        raise BadOfferError("this offer cannot take more subscriptions")
    after = _exposure(state, offer.enterprise, offer.share_class, signer_id) + action.units
    _check_holder(state, share_class, signer_id, after, "the subscriber")
    amount = _check_amount(state, offer.price_minor, action.units)
    _check_can_pay(state, signer_id, amount, name_of(state, signer_id), price_minor=offer.price_minor,
                   verb="subscribe")
    _check_escrow_can_receive(state, amount)
    account = state.accounts[offer.enterprise]
    escrowed = sum(state.shares.offers[s].escrow_minor for s in state.shares.open_offers
                   if state.shares.offers[s].enterprise == offer.enterprise)
    ceiling = credit_ceiling(state, account)
    if account.balance_minor + escrowed + amount > ceiling:
        room = ceiling - account.balance_minor - escrowed
        raise CreditCeilingError(
            f"{enterprise.name} would pass its credit ceiling of "
            f"{format_ceiling(ceiling, state.community.unit_decimals, state.community.unit_code)} if its offers were "
            f"allotted; it cannot take this subscription"
            + (f": subscribe at most {room // offer.price_minor} shares" if room >= offer.price_minor else "")
        )


def apply_subscribe(state: State, signer_id: bytes, action: Subscribe, seq: int) -> State:
    state, escrow = _with_escrow(state, seq)
    offer = state.shares.offers[action.offer]
    amount = offer.price_minor * action.units
    mine = offer.subscriptions.get(signer_id)
    subscription = Subscription(action.units, seq) if mine is None else _replace(mine, units=mine.units + action.units)
    offer = _replace(
        offer,
        subscriptions=offer.subscriptions.set(signer_id, subscription),
        subscribed_units=offer.subscribed_units + action.units,
        escrow_minor=offer.escrow_minor + amount,
    )
    shares = state.shares
    shares = _replace(
        shares,
        offers=shares.offers.set(action.offer, offer),
        pending=_add_pending(shares.pending, (offer.enterprise, offer.share_class, signer_id), action.units),
        escrowed=_add_escrowed(shares.escrowed, signer_id, amount),
    )
    return _replace(state, shares=shares, accounts=move_credit(state.accounts, signer_id, escrow, amount))


def allotment(offer: Offer) -> dict[bytes, int]:
    """Units each subscriber gets when an offer is allotted: all they asked for, or, if
    oversubscribed, pro rata with the leftover units to the largest remainders (ties to the
    earlier first subscription)."""
    total = offer.subscribed_units
    if total <= offer.units:
        return {member: sub.units for member, sub in offer.subscriptions.items()}
    given = {member: sub.units * offer.units // total for member, sub in offer.subscriptions.items()}
    left = offer.units - sum(given.values())
    order = sorted(
        offer.subscriptions.items(), key=lambda item: (-(item[1].units * offer.units % total), item[1].first_seq)
    )
    for member, _ in order[:left]:
        given[member] += 1
    return given


def offer_outcome(state: State, offer_seq: int) -> str:
    """What the close of `offer_seq` must say, given the state just before it."""
    offer = state.shares.offers[offer_seq]
    if offer.subscribed_units < offer.min_units:
        return "refunded"
    allotted = min(offer.subscribed_units, offer.units)
    account = state.accounts[offer.enterprise]
    if account.balance_minor + allotted * offer.price_minor > credit_ceiling(state, account):
        return "refunded"
    return "allotted"


def due_offer_closes(state: State, now_ms: int) -> list[int]:
    due = [(deadline, seq) for seq, deadline in state.shares.open_offers.items() if deadline <= now_ms]
    return [seq for _, seq in sorted(due)]


def offer_closing_body(state: State, offer_seq: int) -> OfferClosed:
    return OfferClosed(offer=offer_seq, outcome=offer_outcome(state, offer_seq))  # type: ignore[arg-type]


def audit_offer_close(state: State, event: Event) -> None:
    body = event.body
    assert isinstance(body, OfferClosed)
    offer = state.shares.offers.get(body.offer)
    if offer is None:
        raise UnknownOfferError(f"seq {event.seq} closes offer {body.offer}, which does not exist")
    if offer.outcome is not None:
        raise OfferClosedError(f"seq {event.seq} closes offer {body.offer}, which is already closed")
    if event.ts < offer.deadline_ms:
        raise NotDueError(f"seq {event.seq} closes offer {body.offer} before its deadline {offer.deadline_ms} ms")
    expected = offer_outcome(state, body.offer)
    if body.outcome != expected:
        raise OutcomeMismatchError(f"seq {event.seq} closes offer {body.offer} as {body.outcome}; the rules give {expected}")


def apply_offer_close(state: State, body: OfferClosed, seq: int) -> State:
    offer = state.shares.offers[body.offer]
    shares = state.shares
    accounts, holdings, pending, escrowed = state.accounts, shares.holdings, shares.pending, shares.escrowed
    escrow = escrow_id(state.feed)
    allotted = allotment(offer) if body.outcome == "allotted" else {}
    subscriptions = offer.subscriptions
    enterprise = shares.enterprises[offer.enterprise]
    allotted_total = 0
    for member, sub in offer.subscriptions.items():
        units = allotted.get(member, 0)
        allotted_total += units
        pending = _add_pending(pending, (offer.enterprise, offer.share_class, member), -sub.units)
        escrowed = _add_escrowed(escrowed, member, -sub.units * offer.price_minor)
        refund = (sub.units - units) * offer.price_minor
        accounts = move_credit(accounts, escrow, member, refund)
        if units:
            holdings = _add_units(holdings, (offer.enterprise, offer.share_class, member), units, units * offer.price_minor, seq)
            subscriptions = subscriptions.set(member, _replace(sub, allotted=units))
    accounts = move_credit(accounts, escrow, offer.enterprise, allotted_total * offer.price_minor)
    if allotted_total:
        issued = list(enterprise.issued)
        issued[offer.share_class] += allotted_total
        enterprise = _replace(enterprise, issued=tuple(issued))
    closed = _replace(offer, outcome=body.outcome, closed_seq=seq, escrow_minor=0, subscriptions=subscriptions)
    shares = _replace(
        shares,
        enterprises=shares.enterprises.set(offer.enterprise, enterprise),
        offers=shares.offers.set(body.offer, closed),
        open_offers=shares.open_offers.delete(body.offer),
        holdings=holdings,
        pending=pending,
        escrowed=escrowed,
    )
    return _replace(state, accounts=accounts, shares=shares)


# ---- the exchange ---------------------------------------------------------------------------------


class Fill(Struct, frozen=True, array_like=True):
    resting: int  # the resting order's seq
    units: int
    price_minor: int


class MatchPlan(Struct, frozen=True):
    fills: tuple[Fill, ...]
    cancelled: tuple[int, ...]  # resting sells cancelled because their seller would pass the ceiling
    remaining: int  # units of the incoming order left after its fills
    rests: bool  # whether what remains rests in the book (else it is cancelled: it would still cross)


def _crosses(side: str, limit_price: int, resting_price: int) -> bool:
    return resting_price <= limit_price if side == "buy" else resting_price >= limit_price


def _resting_in_priority(book: Book, side: str):
    """The resting orders an incoming `side` order meets, best price first, then oldest."""
    if side == "buy":
        for price in book.ask_prices:
            for order_seq in book.levels[("sell", price)]:
                yield price, order_seq
    else:
        for price in reversed(book.bid_prices):
            for order_seq in book.levels[("buy", price)]:
                yield price, order_seq


def match(state: State, owner: bytes, action: PlaceOrder) -> MatchPlan:
    """The fills of an incoming order against the book, price-time, a pure function of the state.
    Raises SelfTradeError if the order would reach one of `owner`'s own resting orders."""
    book = state.shares.books.get((action.enterprise, action.share_class))
    remaining = action.units
    fills: list[Fill] = []
    cancelled: list[int] = []
    if book is None:
        return MatchPlan((), (), remaining, True)
    proceeds: dict[bytes, int] = {}
    for price, order_seq in _resting_in_priority(book, action.side):
        if remaining == 0 or not _crosses(action.side, action.price_minor, price):
            break
        if len(fills) >= limits.fills_per_order_max:
            return MatchPlan(tuple(fills), tuple(cancelled), remaining, False)
        resting = state.shares.orders[order_seq]
        if resting.owner == owner:
            raise SelfTradeError(f"this order would trade with your own resting order {order_seq}; cancel it first")
        units = min(remaining, resting.units)
        if resting.side == "sell":
            seller = resting.owner
            account = state.accounts[seller]
            after = account.balance_minor + escrowed_for(state, seller) + proceeds.get(seller, 0) + units * price
            if after > credit_ceiling(state, account):
                cancelled.append(order_seq)
                continue
            proceeds[seller] = proceeds.get(seller, 0) + units * price
        fills.append(Fill(order_seq, units, price))
        remaining -= units
    return MatchPlan(tuple(fills), tuple(cancelled), remaining, True)


def check_place_order(state: State, signer_id: bytes, action: PlaceOrder) -> MatchPlan:
    _require_person(state, signer_id, "the trader")
    enterprise = _enterprise(state, action.enterprise)
    share_class = _class(enterprise, action.share_class)
    if not share_class.transferable:
        raise NotTransferableError(f"{share_class.name} of {enterprise.name} is not transferable, so it is not traded")
    shares = state.shares
    if len(shares.orders) >= limits.orders_open_max:
        raise TooManyOrdersError(f"{limits.orders_open_max} orders rest in this community's books")
    if shares.member_orders.get(signer_id, 0) >= limits.orders_per_member_max:
        raise TooManyOrdersError(f"a member may have at most {limits.orders_per_member_max} resting orders; cancel some")
    amount = _check_amount(state, action.price_minor, action.units)
    key = (action.enterprise, action.share_class, signer_id)
    if action.side == "buy":
        _check_holder(state, share_class, signer_id, _exposure(state, *key) + action.units, "the buyer")
        _check_can_pay(state, signer_id, amount, name_of(state, signer_id), price_minor=action.price_minor)
        _check_escrow_can_receive(state, amount)
        return match(state, signer_id, action)
    held = shares.holdings.get(key)
    free = 0 if held is None else held.units - held.locked
    if free < action.units:
        raise InsufficientSharesError(
            f"you hold {free} {share_class.name} of {enterprise.name} free to sell "
            f"(the rest, if any, is already offered for sale or being withdrawn); sell at most {free}")
    plan = match(state, signer_id, action)
    gained = sum(fill.units * fill.price_minor for fill in plan.fills)
    check_can_receive(state, signer_id, gained, name_of(state, signer_id))
    return plan


def _book_add(book: Book, order: Order) -> Book:
    key = (order.side, order.price_minor)
    level = book.levels.get(key)
    if level is None:
        prices = list(book.bid_prices if order.side == "buy" else book.ask_prices)
        insort(prices, order.price_minor)
        book = (_replace(book, bid_prices=tuple(prices)) if order.side == "buy"
                else _replace(book, ask_prices=tuple(prices)))
        level = ()
    return _replace(book, levels=book.levels.set(key, (*level, order.seq)))


def _book_remove(book: Book, order: Order) -> Book:
    key = (order.side, order.price_minor)
    level = tuple(seq for seq in book.levels[key] if seq != order.seq)
    if level:
        return _replace(book, levels=book.levels.set(key, level))
    if order.side == "buy":
        book = _replace(book, bid_prices=tuple(p for p in book.bid_prices if p != order.price_minor))
    else:
        book = _replace(book, ask_prices=tuple(p for p in book.ask_prices if p != order.price_minor))
    return _replace(book, levels=book.levels.delete(key))


def _count_orders(member_orders: Map, owner: bytes, change: int) -> Map:
    count = member_orders.get(owner, 0) + change
    return member_orders.set(owner, count) if count else member_orders.delete(owner)


def _drop_resting(state: State, order: Order) -> State:
    """Take a resting order out of the book: its reservation back to the buyer, its lock off."""
    shares = state.shares
    book_key = (order.enterprise, order.share_class)
    holding_key = (order.enterprise, order.share_class, order.owner)
    book = _book_remove(shares.books[book_key], order)
    accounts, holdings, pending, escrowed = state.accounts, shares.holdings, shares.pending, shares.escrowed
    if order.side == "buy":
        accounts = move_credit(accounts, escrow_id(state.feed), order.owner, order.reserved_minor)
        pending = _add_pending(pending, holding_key, -order.units)
        escrowed = _add_escrowed(escrowed, order.owner, -order.reserved_minor)
    else:
        held = holdings[holding_key]
        holdings = holdings.set(holding_key, _replace(held, locked=held.locked - order.units))
    shares = _replace(
        shares,
        orders=shares.orders.delete(order.seq),
        books=shares.books.set(book_key, book) if book.levels else shares.books.delete(book_key),
        holdings=holdings,
        pending=pending,
        escrowed=escrowed,
        member_orders=_count_orders(shares.member_orders, order.owner, -1),
    )
    return _replace(state, accounts=accounts, shares=shares)


def apply_place_order(state: State, signer_id: bytes, action: PlaceOrder, seq: int) -> State:
    plan = match(state, signer_id, action)
    state, escrow = _with_escrow(state, seq)
    key = (action.enterprise, action.share_class)
    for order_seq in plan.cancelled:
        state = _drop_resting(state, state.shares.orders[order_seq])
    shares = state.shares
    accounts, holdings, pending, orders = state.accounts, shares.holdings, shares.pending, shares.orders
    escrowed = shares.escrowed
    books, member_orders = shares.books, shares.member_orders
    trades = list(shares.trades.get(key, ()))
    if action.side == "buy":  # the whole limit amount into escrow first; fills and refunds come out of it
        accounts = move_credit(accounts, signer_id, escrow, action.price_minor * action.units)
    else:
        holdings = _lock(holdings, (*key, signer_id), action.units)
    for fill in plan.fills:
        resting = orders[fill.resting]
        buyer, seller = (signer_id, resting.owner) if action.side == "buy" else (resting.owner, signer_id)
        value = fill.units * fill.price_minor
        accounts = move_credit(accounts, escrow, seller, value)
        if action.side == "buy":  # the incoming buyer reserved at its limit: the difference comes back
            accounts = move_credit(accounts, escrow, buyer, fill.units * (action.price_minor - fill.price_minor))
        holdings = _remove_units(holdings, (*key, seller), fill.units, fill.units)
        holdings = _add_units(holdings, (*key, buyer), fill.units, value, seq)
        if resting.side == "buy":
            pending = _add_pending(pending, (*key, buyer), -fill.units)
            escrowed = _add_escrowed(escrowed, buyer, -value)
        left = resting.units - fill.units
        if left:
            reserved = resting.reserved_minor - value if resting.side == "buy" else 0
            orders = orders.set(fill.resting, _replace(resting, units=left, reserved_minor=reserved))
        else:
            orders = orders.delete(fill.resting)
            books = books.set(key, _book_remove(books[key], resting))
            member_orders = _count_orders(member_orders, resting.owner, -1)
        trades.append(Trade(seq, fill.price_minor, fill.units, buyer, seller))
    remaining = plan.remaining
    if remaining and plan.rests:
        order = Order(seq, signer_id, action.enterprise, action.share_class, action.side, action.price_minor, remaining,
                      action.price_minor * remaining if action.side == "buy" else 0)
        orders = orders.set(seq, order)
        books = books.set(key, _book_add(books.get(key, Book()), order))
        member_orders = _count_orders(member_orders, signer_id, 1)
        if action.side == "buy":
            pending = _add_pending(pending, (*key, signer_id), remaining)
            escrowed = _add_escrowed(escrowed, signer_id, action.price_minor * remaining)
    elif remaining:  # would still cross past the fill limit: cancelled, not rested
        if action.side == "buy":
            accounts = move_credit(accounts, escrow, signer_id, action.price_minor * remaining)
        else:
            held = holdings[(*key, signer_id)]
            holdings = holdings.set((*key, signer_id), _replace(held, locked=held.locked - remaining))
    if key in books and not books[key].levels:
        books = books.delete(key)
    shares = _replace(
        shares,
        holdings=holdings,
        pending=pending,
        orders=orders,
        books=books,
        member_orders=member_orders,
        escrowed=escrowed,
        trades=shares.trades.set(key, tuple(trades[-limits.trades_recent_max:])) if plan.fills else shares.trades,
    )
    return _replace(state, accounts=accounts, shares=shares)


def check_cancel_order(state: State, signer_id: bytes, action: CancelOrder) -> None:
    order = state.shares.orders.get(action.order)
    if order is None:
        raise UnknownOrderError(f"there is no resting order {action.order} (it may have filled or been cancelled)")
    if order.owner != signer_id:
        raise NotAuthorizedError(f"order {action.order} is not yours")


def apply_cancel_order(state: State, action: CancelOrder) -> State:
    return _drop_resting(state, state.shares.orders[action.order])


def check_transfer_shares(state: State, signer_id: bytes, action: TransferShares) -> None:
    enterprise = _enterprise(state, action.enterprise)
    share_class = _class(enterprise, action.share_class)
    if not share_class.transferable:
        raise NotTransferableError(f"{share_class.name} of {enterprise.name} is not transferable")
    if action.to == signer_id:
        raise SameAccountError("you already hold these shares")
    recipient = active_member(state, action.to, "the recipient")
    if recipient.role in ("escrow", "treasury"):
        raise NotAuthorizedError(f"{recipient.name} cannot hold shares")
    held = _holding(state, action.enterprise, action.share_class, signer_id)
    free = 0 if held is None else held.units - held.locked
    if free < action.units:
        raise InsufficientSharesError(f"you have {free} {share_class.name} free to transfer; you asked for {action.units}")
    after = _exposure(state, action.enterprise, action.share_class, action.to) + action.units
    _check_holder(state, share_class, action.to, after, "the recipient")


def apply_transfer_shares(state: State, signer_id: bytes, action: TransferShares, seq: int) -> State:
    holdings = state.shares.holdings
    key = (action.enterprise, action.share_class)
    holdings = _remove_units(holdings, (*key, signer_id), action.units, 0)
    holdings = _add_units(holdings, (*key, action.to), action.units, 0, seq)
    return _replace(state, shares=_replace(state.shares, holdings=holdings))


# ---- withdrawals ----------------------------------------------------------------------------------


def check_withdraw(state: State, signer_id: bytes, action: WithdrawShares) -> None:
    enterprise = _enterprise(state, action.enterprise)
    share_class = _class(enterprise, action.share_class)
    if not share_class.withdrawable:
        raise NotWithdrawableError(f"{share_class.name} of {enterprise.name} is not withdrawable")
    if enterprise.suspended_by:
        raise WithdrawalsSuspendedError(suspension_message(enterprise))
    if len(state.shares.pending_withdrawals) >= limits.withdrawals_pending_max:
        raise TooManyOrdersError(f"{limits.withdrawals_pending_max} withdrawals are pending in this community")
    held = _holding(state, action.enterprise, action.share_class, signer_id)
    free = 0 if held is None else held.units - held.locked
    if free < action.units:
        raise InsufficientSharesError(f"you have {free} {share_class.name} free to withdraw; you asked for {action.units}")
    _check_amount(state, share_class.par_minor, action.units)


def apply_withdraw(state: State, signer_id: bytes, action: WithdrawShares, seq: int, ts_ms: int) -> State:
    enterprise = state.shares.enterprises[action.enterprise]
    withdrawal = Withdrawal(seq, signer_id, action.enterprise, action.share_class, action.units, ts_ms + enterprise.notice_ms)
    shares = state.shares
    shares = _replace(
        shares,
        holdings=_lock(shares.holdings, (action.enterprise, action.share_class, signer_id), action.units),
        withdrawals=shares.withdrawals.set(seq, withdrawal),
        pending_withdrawals=shares.pending_withdrawals.set(seq, withdrawal.due_ms),
    )
    return _replace(state, shares=shares)


def withdrawal_outcome(state: State, withdrawal_seq: int) -> str:
    withdrawal = state.shares.withdrawals[withdrawal_seq]
    enterprise = state.shares.enterprises[withdrawal.enterprise]
    amount = enterprise.classes[withdrawal.share_class].par_minor * withdrawal.units
    try:
        _check_can_pay(state, withdrawal.enterprise, amount, enterprise.name)
        check_can_receive(state, withdrawal.holder, amount, "the holder")
    except (DebitLimitError, CreditCeilingError):
        return "refused"
    if enterprise.yearly_cap_minor:
        year = withdrawal.due_ms // limits.year_ms
        used = enterprise.withdrawn_in_year_minor if enterprise.withdrawal_year == year else 0
        if used + amount > enterprise.yearly_cap_minor:
            return "refused"
    return "paid"


def due_withdrawals(state: State, now_ms: int) -> list[int]:
    """Pending withdrawals whose notice has run, oldest due first; those of an enterprise whose
    withdrawals are suspended wait (they fall due again once a decision lifts the suspension)."""
    shares = state.shares
    due = [(due_ms, seq) for seq, due_ms in shares.pending_withdrawals.items() if due_ms <= now_ms
           and not shares.enterprises[shares.withdrawals[seq].enterprise].suspended_by]
    return [seq for _, seq in sorted(due)]


def withdrawal_body(state: State, withdrawal_seq: int) -> WithdrawalDue:
    return WithdrawalDue(withdrawal=withdrawal_seq, outcome=withdrawal_outcome(state, withdrawal_seq))  # type: ignore[arg-type]


def audit_withdrawal(state: State, event: Event) -> None:
    body = event.body
    assert isinstance(body, WithdrawalDue)
    withdrawal = state.shares.withdrawals.get(body.withdrawal)
    if withdrawal is None or withdrawal.outcome is not None:
        raise UnknownOrderError(f"seq {event.seq} settles withdrawal {body.withdrawal}, which is not pending")
    if event.ts < withdrawal.due_ms:
        raise NotDueError(f"seq {event.seq} settles withdrawal {body.withdrawal} before it is due ({withdrawal.due_ms} ms)")
    enterprise = state.shares.enterprises[withdrawal.enterprise]
    if enterprise.suspended_by:
        raise WithdrawalsSuspendedError(f"seq {event.seq} settles withdrawal {body.withdrawal}, but "
                                        + suspension_message(enterprise))
    expected = withdrawal_outcome(state, body.withdrawal)
    if body.outcome != expected:
        raise OutcomeMismatchError(f"seq {event.seq} settles withdrawal {body.withdrawal} as {body.outcome}; the rules give {expected}")


def apply_withdrawal(state: State, body: WithdrawalDue, seq: int) -> State:
    shares = state.shares
    withdrawal = shares.withdrawals[body.withdrawal]
    key = (withdrawal.enterprise, withdrawal.share_class, withdrawal.holder)
    enterprise = shares.enterprises[withdrawal.enterprise]
    accounts, holdings = state.accounts, shares.holdings
    if body.outcome == "paid":
        amount = enterprise.classes[withdrawal.share_class].par_minor * withdrawal.units
        accounts = move_credit(accounts, withdrawal.enterprise, withdrawal.holder, amount)
        holdings = _remove_units(holdings, key, withdrawal.units, withdrawal.units)
        withdrawn = list(enterprise.withdrawn)
        withdrawn[withdrawal.share_class] += withdrawal.units
        year = withdrawal.due_ms // limits.year_ms
        used = enterprise.withdrawn_in_year_minor if enterprise.withdrawal_year == year else 0
        enterprise = _replace(enterprise, withdrawn=tuple(withdrawn), withdrawal_year=year, withdrawn_in_year_minor=used + amount)
    else:
        holdings = _lock(holdings, key, -withdrawal.units)
    shares = _replace(
        shares,
        enterprises=shares.enterprises.set(withdrawal.enterprise, enterprise),
        holdings=holdings,
        withdrawals=shares.withdrawals.set(body.withdrawal, _replace(withdrawal, outcome=body.outcome)),
        pending_withdrawals=shares.pending_withdrawals.delete(body.withdrawal),
    )
    return _replace(state, accounts=accounts, shares=shares)


# ---- holders' decisions: their electorate and effects ---------------------------------------------


def vote_weights(state: State, enterprise: bytes) -> dict[bytes, int]:
    """Each holder's weight in `enterprise`'s holders' decisions: votes per share x units over the
    classes weighted by shares, plus, if they hold any units of a class that votes one member, one
    vote, the highest `votes_per_share` among those classes they hold, once (so a member of two such
    classes still has one vote, as in a community benefit society)."""
    found = state.shares.enterprises[enterprise]
    classes, by_member = found.classes, found.member_vote_classes
    weights: dict[bytes, int] = {}
    member_votes: dict[bytes, int] = {}
    for (eid, share_class, holder), held in state.shares.holdings.items():
        if eid != enterprise or not classes[share_class].votes_per_share or not held.units:
            continue
        votes = classes[share_class].votes_per_share
        if share_class in by_member:
            member_votes[holder] = max(member_votes.get(holder, 0), votes)
        else:
            weights[holder] = weights.get(holder, 0) + votes * held.units
    for holder, votes in member_votes.items():
        weights[holder] = weights.get(holder, 0) + votes
    return weights


def check_holders_proposer(state: State, enterprise: bytes, signer_id: bytes) -> None:
    found = _enterprise(state, enterprise)
    if signer_id != found.manager and not vote_weights(state, enterprise).get(signer_id):
        raise NotAuthorizedError(f"only {found.name}'s manager or a holder with a vote may propose to its holders")


def check_holders_voter(state: State, enterprise: bytes, signer_id: bytes) -> None:
    if not vote_weights(state, enterprise).get(signer_id):
        raise NotAuthorizedError("only holders of shares with a vote take part in this decision")


def dividend_shares(state: State, effect: DeclareDividend) -> dict[bytes, int]:
    """What each holder gets: floor(amount x weight / total weight); the remainder stays with the
    enterprise."""
    classes = state.shares.enterprises[effect.enterprise].classes
    weights: dict[bytes, int] = {}
    for (eid, share_class, holder), held in state.shares.holdings.items():
        if eid == effect.enterprise and classes[share_class].dividend_weight:
            weights[holder] = weights.get(holder, 0) + classes[share_class].dividend_weight * held.units
    total = sum(weights.values())
    return {holder: effect.amount_minor * weight // total for holder, weight in weights.items()} if total else {}


def check_dividend(state: State, effect: DeclareDividend) -> None:
    enterprise = _enterprise(state, effect.enterprise)
    paid = dividend_shares(state, effect)
    if not paid:
        if not any(share_class.dividend_weight for share_class in enterprise.classes):
            raise BadOfferError(
                f"no share class of {enterprise.name} carries a dividend weight; "
                "register a class with dividend=N for the dividend to have someone to pay"
            )
        raise BadOfferError(
            f"no one holds a share of {enterprise.name} that carries a dividend yet; "
            "issue some first (an offer that allots, or founder shares)"
        )
    total = sum(paid.values())
    account = state.accounts[effect.enterprise]
    check_within(state, account, account.balance_minor - total, enterprise.name, moved=total,
                        remedy=lambda most: f"declare a dividend of at most {money(state, most)}")
    for holder, amount in paid.items():
        check_can_receive(state, holder, amount, f"{name_of(state, holder)}, a holder,")


def apply_dividend(state: State, effect: DeclareDividend, seq: int) -> State:
    accounts = state.accounts
    for holder, amount in sorted(dividend_shares(state, effect).items()):
        accounts = move_credit(accounts, effect.enterprise, holder, amount)
    return _replace(state, accounts=accounts)


def check_withdrawal_rule(state: State, effect: SetWithdrawalRule) -> None:
    _enterprise(state, effect.enterprise)


def apply_withdrawal_rule(state: State, effect: SetWithdrawalRule, seq: int) -> State:
    enterprise = _replace(
        state.shares.enterprises[effect.enterprise], notice_ms=effect.notice_ms, yearly_cap_minor=effect.yearly_cap_minor
    )
    return _replace(state, shares=_replace(state.shares, enterprises=state.shares.enterprises.set(effect.enterprise, enterprise)))


def dividend_payees(state: State, effect: DeclareDividend) -> list[bytes]:
    return [effect.enterprise, *dividend_shares(state, effect)]


# ---- co-operative rules: interest on withdrawable shares, suspending withdrawals -----------------

# What each reason a suspension records says in a refusal (docs/shares.md, "Suspending withdrawals").
suspension_reasons = {
    "solvency": "paying them would put its solvency at risk",
    "liquidity": "it needs its cash to keep trading",
    "winding_up": "it is being wound up",
    "restructuring": "its share capital is being restructured",
    "other": "for the reason its decision gives",
}


def suspension_message(enterprise: Enterprise) -> str:
    return (f"withdrawals from {enterprise.name} are suspended by its holders' decision {enterprise.suspended_by} "
            f"({enterprise.suspension_reason}: {suspension_reasons[enterprise.suspension_reason]}); "
            "ask again once a decision lifts the suspension")


def _withdrawable_classes(enterprise: Enterprise) -> list[int]:
    return [index for index, share_class in enumerate(enterprise.classes) if share_class.withdrawable]


def check_interest_cap(state: State, effect: SetInterestCap) -> None:
    enterprise = _enterprise(state, effect.enterprise)
    if not _withdrawable_classes(enterprise):
        raise BadInterestError(
            f"{enterprise.name} has no withdrawable class; interest is paid only on withdrawable shares")


def apply_interest_cap(state: State, effect: SetInterestCap, ts_ms: int) -> State:
    """The cap, and the interest clock of every class started at the close that first sets one
    (interest is owed only for time after the holders allowed it); a later cap keeps the clock."""
    enterprise = state.shares.enterprises[effect.enterprise]
    clock = enterprise.interest_from_ms or (ts_ms,) * len(enterprise.classes)
    enterprise = _replace(enterprise, interest_cap_bp=effect.rate_bp, interest_from_ms=clock)
    return _replace(state, shares=_replace(state.shares, enterprises=state.shares.enterprises.set(effect.enterprise, enterprise)))


def check_suspend(state: State, effect: SuspendWithdrawals) -> None:
    enterprise = _enterprise(state, effect.enterprise)
    if not _withdrawable_classes(enterprise):
        raise NotWithdrawableError(f"{enterprise.name} has no withdrawable class, so no withdrawals to suspend")
    if enterprise.suspended_by:
        raise WithdrawalsSuspendedError(
            f"withdrawals from {enterprise.name} are already suspended (decision {enterprise.suspended_by}); "
            "lift that suspension first to record another reason")


def apply_suspend(state: State, effect: SuspendWithdrawals, decision: int) -> State:
    """Suspended by `decision` (its id, the seq of its proposal), with the reason recorded."""
    enterprise = _replace(state.shares.enterprises[effect.enterprise], suspended_by=decision,
                          suspension_reason=effect.reason)
    return _replace(state, shares=_replace(state.shares, enterprises=state.shares.enterprises.set(effect.enterprise, enterprise)))


def check_resume(state: State, effect: ResumeWithdrawals) -> None:
    enterprise = _enterprise(state, effect.enterprise)
    if not enterprise.suspended_by:
        raise BadDecisionError(f"withdrawals from {enterprise.name} are not suspended; there is nothing to lift")


def apply_resume(state: State, effect: ResumeWithdrawals, seq: int) -> State:
    enterprise = _replace(state.shares.enterprises[effect.enterprise], suspended_by=0, suspension_reason="")
    return _replace(state, shares=_replace(state.shares, enterprises=state.shares.enterprises.set(effect.enterprise, enterprise)))


def interest_shares(state: State, action: PayInterest) -> dict[bytes, int]:
    """What each holder of the class is paid: floor(units x par x rate x period / (10 000 x a year)),
    on their holding as it stands (locked shares, being withdrawn, included)."""
    par = state.shares.enterprises[action.enterprise].classes[action.share_class].par_minor
    whole = limits.basis_points_max * limits.year_ms
    paid: dict[bytes, int] = {}
    for (eid, share_class, holder), held in state.shares.holdings.items():
        if eid == action.enterprise and share_class == action.share_class and held.units:
            amount = held.units * par * action.rate_bp * action.period_ms // whole
            if amount:
                paid[holder] = amount
    return paid


def check_pay_interest(state: State, signer_id: bytes, action: PayInterest, now_ms: int) -> None:
    enterprise = _enterprise(state, action.enterprise)
    _require_manager(enterprise, signer_id)
    share_class = _class(enterprise, action.share_class)
    if not share_class.withdrawable:
        raise NotWithdrawableError(
            f"{share_class.name} of {enterprise.name} is not withdrawable; interest is paid on withdrawable shares "
            "(the others share profits as dividends)")
    if not enterprise.interest_from_ms or not enterprise.interest_cap_bp:
        raise InterestCapError(
            f"{enterprise.name}'s holders allow no interest yet: propose a cap to them first "
            "(`tally enterprise interest-cap`)")
    if not 1 <= action.rate_bp <= enterprise.interest_cap_bp:
        raise InterestCapError(
            f"{enterprise.name}'s holders capped interest at {format_share(enterprise.interest_cap_bp)} a year; "
            f"pay between 0.01 % and that")
    paid_to = enterprise.interest_from_ms[action.share_class]
    owed_ms = max(0, now_ms - paid_to)
    if not 1 <= action.period_ms <= owed_ms:
        raise BadInterestError(
            f"interest on {share_class.name} is paid for time passed and never twice: "
            + (f"pay for at most {format_duration(owed_ms)} ({owed_ms} ms) now" if owed_ms
               else "it is paid up to now; wait"))
    paid = interest_shares(state, action)
    total = sum(paid.values())
    if not 1 <= total <= limits.amount_minor_max:
        raise BadAmountError(
            f"interest at {format_share(action.rate_bp)} a year for that period comes to {money(state, total)} "
            f"on the {share_class.name} held; the total must be between {money(state, 1)} and "
            f"{money(state, limits.amount_minor_max)}: pay for a longer period, or when more are held")
    account = state.accounts[action.enterprise]
    check_within(state, account, account.balance_minor - total, enterprise.name, moved=total,
                 remedy=lambda most: f"it can pay at most {money(state, most)} of interest now")
    for holder, amount in paid.items():
        check_can_receive(state, holder, amount, f"{name_of(state, holder)}, a holder,")


def apply_pay_interest(state: State, action: PayInterest) -> State:
    accounts = state.accounts
    for holder, amount in sorted(interest_shares(state, action).items()):
        accounts = move_credit(accounts, action.enterprise, holder, amount)
    enterprise = state.shares.enterprises[action.enterprise]
    clock = list(enterprise.interest_from_ms)
    clock[action.share_class] += action.period_ms
    enterprise = _replace(enterprise, interest_from_ms=tuple(clock))
    shares = _replace(state.shares, enterprises=state.shares.enterprises.set(action.enterprise, enterprise))
    return _replace(state, accounts=accounts, shares=shares)


# ---- what a member still has in the shares ledger -------------------------------------------------


def outstanding(state: State, member_id: bytes) -> str | None:
    """Why `member_id` cannot leave yet (shares, orders, subscriptions, withdrawals), or None."""
    shares = state.shares
    if any(holder == member_id for (_, _, holder) in shares.holdings.keys()):
        return "holds shares"
    if shares.member_orders.get(member_id):
        return "has resting orders"
    if any(member == member_id for (_, _, member) in shares.pending.keys()):
        return "has subscriptions in open offers"
    if any(shares.withdrawals[s].holder == member_id for s in shares.pending_withdrawals):
        return "has withdrawals pending"
    return None


# ---- the projection keys an action or body touches (node/store.py writes them) --------------------


def touched_by_action(state: State, signer_id: bytes, action: object) -> list:
    """The projection rows an intent's action changes, from the state before it (matching is
    recomputed here, so the fills' orders and holders are known)."""
    feed = state.feed
    escrow = escrow_id(feed)
    if isinstance(action, RegisterEnterprise):
        eid = enterprise_id(feed, state.seq + 1)
        return [eid, ("enterprise", eid), *(("holding", (eid, i.share_class, signer_id)) for i in action.founder_issue)]
    if isinstance(action, EnterprisePay):
        return [action.enterprise, action.to]
    if isinstance(action, OpenOffer):
        return [("offer", state.seq + 1)]
    if isinstance(action, Subscribe):
        return [escrow, ("offer", action.offer)]
    if isinstance(action, PlaceOrder):
        key = (action.enterprise, action.share_class)
        ids: list = [escrow, ("order", state.seq + 1), ("trades", key), ("holding", (*key, signer_id))]
        try:
            plan = match(state, signer_id, action)
        except (KeyError, DomainError):
            return ids
        for order_seq in (*plan.cancelled, *(fill.resting for fill in plan.fills)):
            owner = state.shares.orders[order_seq].owner
            ids += [owner, ("order", order_seq), ("holding", (*key, owner))]
        return ids
    if isinstance(action, CancelOrder):
        order = state.shares.orders.get(action.order)
        if order is None:
            return []
        return [escrow, ("order", action.order), ("holding", (order.enterprise, order.share_class, order.owner))]
    if isinstance(action, TransferShares):
        key = (action.enterprise, action.share_class)
        return [("holding", (*key, signer_id)), ("holding", (*key, action.to))]
    if isinstance(action, WithdrawShares):
        return [("withdrawal", state.seq + 1), ("holding", (action.enterprise, action.share_class, signer_id))]
    if isinstance(action, PayInterest):
        if action.enterprise not in state.shares.enterprises:
            return []
        return [action.enterprise, ("enterprise", action.enterprise), *interest_shares(state, action)]
    return []


def touched_by_offer_close(state: State, offer_seq: int) -> list:
    """From the state after (or before) the close: the offer, its subscribers, escrow, the enterprise."""
    offer = state.shares.offers.get(offer_seq)
    if offer is None:
        return []
    key = (offer.enterprise, offer.share_class)
    ids: list = [("offer", offer_seq), ("enterprise", offer.enterprise), offer.enterprise, escrow_id(state.feed)]
    for member in offer.subscriptions.keys():
        ids += [member, ("holding", (*key, member))]
    return ids


def touched_by_withdrawal(state: State, withdrawal_seq: int) -> list:
    withdrawal = state.shares.withdrawals.get(withdrawal_seq)
    if withdrawal is None:
        return []
    return [
        ("withdrawal", withdrawal_seq),
        ("enterprise", withdrawal.enterprise),
        withdrawal.enterprise,
        withdrawal.holder,
        ("holding", (withdrawal.enterprise, withdrawal.share_class, withdrawal.holder)),
    ]


def share_record(state: State, kind: str, key: object) -> Struct | None:
    """The current value of one projection row of the shares ledger, or None (a deleted row)."""
    shares = state.shares
    table = {
        "enterprise": shares.enterprises,
        "holding": shares.holdings,
        "offer": shares.offers,
        "order": shares.orders,
        "withdrawal": shares.withdrawals,
        "trades": shares.trades,
    }[kind]
    return table.get(key)


def rebuilt_indexes(shares: Shares) -> Shares:
    """The derived maps (books, open offers, pending, order counts) from the stored records, as a
    store reload needs them: the books in price-time order, the same as they were built live."""
    books: dict = {}
    member_orders: dict = {}
    pending: dict = {}
    escrowed: dict = {}
    for order in sorted(shares.orders.values(), key=lambda order: order.seq):
        key = (order.enterprise, order.share_class)
        books[key] = _book_add(books.get(key, Book()), order)
        member_orders[order.owner] = member_orders.get(order.owner, 0) + 1
        if order.side == "buy":
            holding_key = (*key, order.owner)
            pending[holding_key] = pending.get(holding_key, 0) + order.units
            escrowed[order.owner] = escrowed.get(order.owner, 0) + order.reserved_minor
    open_offers = {}
    for offer in shares.offers.values():
        if offer.outcome is None:
            open_offers[offer.seq] = offer.deadline_ms
            for member, sub in offer.subscriptions.items():
                holding_key = (offer.enterprise, offer.share_class, member)
                pending[holding_key] = pending.get(holding_key, 0) + sub.units
                escrowed[member] = escrowed.get(member, 0) + sub.units * offer.price_minor
    pending_withdrawals = {w.seq: w.due_ms for w in shares.withdrawals.values() if w.outcome is None}
    return _replace(
        shares,
        books=Map(books),
        member_orders=Map(member_orders),
        pending=Map(pending),
        escrowed=Map(escrowed),
        open_offers=Map(open_offers),
        pending_withdrawals=Map(pending_withdrawals),
    )


def digest_part(state: State) -> list:
    """The shares ledger's part of the state digest (docs/shares.md): enterprises, holdings, offers,
    resting orders and withdrawals, each sorted by key."""
    shares = state.shares
    return [
        sorted(_enterprise_digest(eid, e) for eid, e in shares.enterprises.items()),
        sorted([*key, h.units, h.locked] for key, h in shares.holdings.items()),
        sorted([seq, o.subscribed_units, o.escrow_minor, o.outcome] for seq, o in shares.offers.items()),
        sorted([seq, o.owner, o.side, o.price_minor, o.units, o.reserved_minor] for seq, o in shares.orders.items()),
        sorted([seq, w.units, w.due_ms, w.outcome] for seq, w in shares.withdrawals.items()),
    ]


def _enterprise_digest(eid: bytes, e: Enterprise) -> list:
    """An enterprise's digest entry: seven elements, and five more (the co-operative rules: member
    vote classes, the interest cap, the interest clock, the suspending decision and its reason)
    only once one of them is set, so every digest from before them is unchanged."""
    entry = [eid, e.manager, e.issued, e.withdrawn, e.notice_ms, e.yearly_cap_minor, e.withdrawn_in_year_minor]
    if e.member_vote_classes or e.interest_from_ms or e.suspended_by:
        entry += [e.member_vote_classes, e.interest_cap_bp, e.interest_from_ms, e.suspended_by, e.suspension_reason]
    return entry


def audit_invariants(state: State) -> None:
    """The shares ledger's invariants (tests call this after every step): shares conserved per
    class, escrow equal to what it holds for, closed offers empty, books not crossed."""
    shares = state.shares
    for eid, enterprise in shares.enterprises.items():
        for index in range(len(enterprise.classes)):
            held = sum(h.units for (e, c, _), h in shares.holdings.items() if e == eid and c == index)
            assert held == enterprise.issued[index] - enterprise.withdrawn[index], (enterprise.name, index)
    for (_, _, holder), held in shares.holdings.items():
        assert 0 <= held.locked <= held.units or held.units == 0, (held, holder)
    owed = sum(o.escrow_minor for o in shares.offers.values() if o.outcome is None)
    owed += sum(o.reserved_minor for o in shares.orders.values())
    escrow = state.accounts.get(escrow_id(state.feed))
    assert (escrow.balance_minor if escrow else 0) == owed, (escrow, owed)
    assert shares.escrowed == rebuilt_indexes(shares).escrowed, "escrowed per member"
    for offer in shares.offers.values():
        if offer.outcome is not None:
            assert offer.escrow_minor == 0
    for book in shares.books.values():
        if book.bid_prices and book.ask_prices:
            assert book.bid_prices[-1] < book.ask_prices[0], "a crossed book"


