"""A reference model of docs/shares.md in plain dicts and lists, for tests/ledger/test_shares_model.py.

How this works: the model is written from the spec alone and shares no code with ledger/shares.py
(no import of it, nor of its data structures). Each `expect_*` method returns the set of refusals
the rules call for (empty: the action is valid), computed from the model's own state; each
`apply_*` method carries out a valid action on that state. Balances are one dict over every account
(people, enterprises and the escrow), so credit moves are visible as plain additions. The exchange
is a plain list of resting orders, sorted by price then seq when an incoming order meets them.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from tallystick.ledger.errors import (
    BadOfferError,
    BadShareClassError,
    CreditCeilingError,
    DeadlinePassedError,
    DebitLimitError,
    HoldingCapError,
    InsufficientSharesError,
    LimitBelowBalanceError,
    LocalOnlyError,
    MemberCapError,
    NameTakenError,
    NotAuthorizedError,
    NotManagerError,
    NotTransferableError,
    NotWithdrawableError,
    OfferClosedError,
    SameAccountError,
    SelfTradeError,
    UnknownEnterpriseError,
    UnknownMemberError,
    UnknownOfferError,
    UnknownOrderError,
)
from tallystick.ledger.names import BadNameError, normalise_name
from tallystick.ledger.names import name_key as node_name_key

# The spec's constants, restated here rather than read from the code under test.
fills_per_order_max = 100  # docs/shares.md: an order fills against at most 100 resting orders
offer_open_max_ms = 366 * 24 * 3600 * 1000  # "at most decision_duration_max_ms away"
year_ms = 365 * 24 * 3600 * 1000  # "each 365-day period counted from the Unix epoch"
escrow_ceiling_minor = 10**15  # the escrow never goes below zero; its ceiling is the protocol's


def blake(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def name_key(name: str) -> str:
    """Names are equal when they look alike (ledger/names.py is the community's rule for names)."""
    return node_name_key(name)


def pro_rata(subscriptions: dict[bytes, list[int]], units: int) -> dict[bytes, int]:
    """docs/shares.md: everyone gets what they subscribed if `total <= units`; else
    floor(subscribed x units / total) each, and the units left over one each to the largest
    remainders (subscribed x units) mod total, ties to the earlier first subscription."""
    total = sum(units_and_first[0] for units_and_first in subscriptions.values())
    if total <= units:
        return {member: subscribed for member, (subscribed, _) in subscriptions.items()}
    given = {member: subscribed * units // total for member, (subscribed, _) in subscriptions.items()}
    left = units - sum(given.values())
    ranked = sorted(subscriptions, key=lambda m: (-(subscriptions[m][0] * units % total), subscriptions[m][1]))
    for member in ranked[:left]:
        given[member] += 1
    return given


class Model:
    """One community's shares ledger as the spec states it."""

    def __init__(self, feed: bytes, debit_limit_minor: int, credit_ceiling_minor: int) -> None:
        self.feed = feed
        self.debit_limit_minor = debit_limit_minor
        self.credit_ceiling_minor = credit_ceiling_minor
        self.escrow = blake(b"tallystick/escrow\n" + feed)
        self.balances: dict[bytes, int] = {}  # every account: people, enterprises, the escrow
        self.kinds: dict[bytes, str] = {}  # account id -> "person" | "enterprise" | "escrow"
        self.names: dict[str, bytes] = {}  # name key -> account id (people and enterprises)
        self.enterprises: dict[bytes, dict] = {}
        self.holdings: dict[tuple[bytes, int, bytes], list[int]] = {}  # -> [units, locked]
        self.offers: dict[int, dict] = {}
        self.orders: list[dict] = []  # resting orders only
        self.withdrawals: dict[int, dict] = {}
        self.trades: dict[tuple[bytes, int], list[tuple]] = {}  # every trade, oldest first
        self.paid_in_year: dict[tuple[bytes, int], int] = {}  # (enterprise, year) -> withdrawals paid
        self.stats: Counter = Counter()  # what this run exercised
        self.own_limits: dict[bytes, tuple[int | None, int | None]] = {}  # None: the community's default

    # ---- accounts ---------------------------------------------------------------------------------

    def add_person(self, member: bytes, name: str, *, admin: bool = False) -> None:
        if admin:
            self.admin = member
        self.balances[member] = 0
        self.kinds[member] = "person"
        self.names[name_key(name)] = member

    def limits_of(self, account: bytes) -> tuple[int, int]:
        if self.kinds[account] == "escrow":
            return 0, escrow_ceiling_minor
        debit, ceiling = self.own_limits.get(account, (None, None))
        return (
            self.debit_limit_minor if debit is None else debit,
            self.credit_ceiling_minor if ceiling is None else ceiling,
        )

    def expect_set_limits(self, signer: bytes, account: bytes, debit: int | None, ceiling: int | None) -> set:
        """An admin sets an account's limits (a person's or an enterprise's, `tally limits`); the
        account must be within them, and "a new ceiling must leave room for" what escrow holds for it."""
        refusals = set() if signer == self.admin else {NotAuthorizedError}
        if account not in self.kinds:
            return refusals | {UnknownMemberError}
        debit = self.debit_limit_minor if debit is None else debit
        ceiling = self.credit_ceiling_minor if ceiling is None else ceiling
        if self.balances[account] < -debit or self.balances[account] + self.escrowed_for(account) > ceiling:
            refusals.add(LimitBelowBalanceError)
        return refusals

    def apply_set_limits(self, account: bytes, debit: int | None, ceiling: int | None) -> None:
        self.own_limits[account] = (debit, ceiling)
        self.stats["limits set"] += 1

    def can_pay(self, account: bytes, amount: int) -> bool:
        return self.balances[account] - amount >= -self.limits_of(account)[0]

    def escrowed_for(self, account: bytes) -> int:
        """What the escrow holds for `account`: its subscriptions to open offers and its resting
        buys' reservations. It comes back to them, so it counts against their ceiling."""
        held = sum(
            offer["price"] * offer["subscriptions"].get(account, [0, 0])[0]
            for offer in self.offers.values()
            if offer["outcome"] is None
        )
        return held + sum(o["price"] * o["units"] for o in self.orders if o["side"] == "buy" and o["owner"] == account)

    def can_receive(self, account: bytes, amount: int) -> bool:
        return self.balances[account] + self.escrowed_for(account) + amount <= self.limits_of(account)[1]

    def move(self, payer: bytes, payee: bytes, amount: int) -> None:
        if payer == self.escrow or payee == self.escrow:
            self.open_escrow()
        self.balances[payer] -= amount
        self.balances[payee] += amount

    def open_escrow(self) -> None:
        if self.escrow not in self.balances:
            self.balances[self.escrow] = 0
            self.kinds[self.escrow] = "escrow"

    # ---- shares -----------------------------------------------------------------------------------

    def held(self, enterprise: bytes, share_class: int, holder: bytes) -> tuple[int, int]:
        units, locked = self.holdings.get((enterprise, share_class, holder), [0, 0])
        return units, locked

    def free(self, enterprise: bytes, share_class: int, holder: bytes) -> int:
        units, locked = self.held(enterprise, share_class, holder)
        return units - locked

    def change_holding(self, enterprise: bytes, share_class: int, holder: bytes, units: int, locked: int) -> None:
        key = (enterprise, share_class, holder)
        now = self.holdings.get(key, [0, 0])
        now = [now[0] + units, now[1] + locked]
        assert 0 <= now[1] <= now[0], (key, now)
        if now == [0, 0]:
            self.holdings.pop(key, None)
        else:
            self.holdings[key] = now

    def exposure(self, enterprise: bytes, share_class: int, holder: bytes) -> int:
        """Shares held, subscribed in open offers and bid for in resting buys (the holding cap)."""
        total = self.held(enterprise, share_class, holder)[0]
        for offer in self.offers.values():
            if offer["outcome"] is None and (offer["enterprise"], offer["class"]) == (enterprise, share_class):
                total += offer["subscriptions"].get(holder, [0, 0])[0]
        for order in self.orders:
            if order["side"] == "buy" and (order["enterprise"], order["class"], order["owner"]) == (
                enterprise,
                share_class,
                holder,
            ):
                total += order["units"]
        return total

    def holder_refusals(self, share_class, holder: bytes, units_after: int) -> set:
        refusals = set()
        if share_class.local_only and self.kinds.get(holder) != "person":
            refusals.add(LocalOnlyError)
        if share_class.holding_cap_units is not None and units_after > share_class.holding_cap_units:
            refusals.add(HoldingCapError)
        return refusals

    def class_of(self, enterprise: bytes, share_class: int) -> tuple[set, object]:
        """(refusals, the class) for naming `share_class` of `enterprise`."""
        found = self.enterprises.get(enterprise)
        if found is None:
            return {UnknownEnterpriseError}, None
        if share_class >= len(found["classes"]):
            return {BadShareClassError}, None
        return set(), found["classes"][share_class]

    def escrow_owed(self) -> int:
        owed = sum(offer["price"] * offer["subscribed"] for offer in self.offers.values() if offer["outcome"] is None)
        return owed + sum(order["price"] * order["units"] for order in self.orders if order["side"] == "buy")

    # ---- payments ---------------------------------------------------------------------------------

    def payee_refusals(self, payer: bytes, payee: bytes, amount: int) -> set:
        refusals = set()
        if payee == payer:
            refusals.add(SameAccountError)
        if payee not in self.kinds:
            return refusals | {UnknownMemberError}
        if self.kinds[payee] == "escrow":
            # "It holds subscriptions to open offers and the credit reserved by resting buy orders,
            # and nothing else": nobody pays the escrow directly.
            refusals.add(NotAuthorizedError)
        if not self.can_pay(payer, amount):
            refusals.add(DebitLimitError)
        if not self.can_receive(payee, amount):
            refusals.add(CreditCeilingError)
        return refusals

    def expect_pay(self, signer: bytes, to: bytes, amount: int) -> set:
        return self.payee_refusals(signer, to, amount)

    def apply_pay(self, signer: bytes, to: bytes, amount: int) -> None:
        self.move(signer, to, amount)

    def expect_enterprise_pay(self, signer: bytes, enterprise: bytes, to: bytes, amount: int) -> set:
        found = self.enterprises.get(enterprise)
        if found is None:
            return {UnknownEnterpriseError}
        refusals = self.payee_refusals(enterprise, to, amount)
        if found["manager"] != signer:
            refusals.add(NotManagerError)
        return refusals

    # ---- registering ------------------------------------------------------------------------------

    def expect_register(self, signer: bytes, action) -> set:  # noqa: ANN001 - a RegisterEnterprise
        refusals = set()
        if normalise_name(action.name) != action.name:
            refusals.add(BadNameError)
        if name_key(action.name) in self.names:
            refusals.add(NameTakenError)
        for share_class in action.classes:
            if share_class.withdrawable and share_class.transferable:
                refusals.add(BadShareClassError)
        seen = set()
        for issue in action.founder_issue:
            if issue.share_class >= len(action.classes):
                refusals.add(BadShareClassError)
                continue
            share_class = action.classes[issue.share_class]
            if share_class.kind != "founder" or share_class.withdrawable or issue.share_class in seen:
                refusals.add(BadShareClassError)  # a withdrawable share is paid for at par, in an offer
            seen.add(issue.share_class)
            if share_class.holding_cap_units is not None and issue.units > share_class.holding_cap_units:
                refusals.add(HoldingCapError)
        return refusals

    def apply_register(self, signer: bytes, action, seq: int) -> bytes:  # noqa: ANN001
        enterprise = blake(b"tallystick/enterprise\n" + self.feed + seq.to_bytes(8, "big"))
        self.balances[enterprise] = 0
        self.kinds[enterprise] = "enterprise"
        self.names[name_key(action.name)] = enterprise
        issued = [0] * len(action.classes)
        for issue in action.founder_issue:
            issued[issue.share_class] += issue.units
            self.change_holding(enterprise, issue.share_class, signer, issue.units, 0)
        self.enterprises[enterprise] = {
            "name": action.name,
            "manager": signer,
            "classes": list(action.classes),
            "notice_ms": action.notice_ms,
            "yearly_cap_minor": action.yearly_cap_minor,
            "issued": issued,
            "withdrawn": [0] * len(action.classes),
        }
        self.stats["registered"] += 1
        return enterprise

    # ---- offers -----------------------------------------------------------------------------------

    def expect_open_offer(self, signer: bytes, action, now_ms: int) -> set:  # noqa: ANN001 - an OpenOffer
        refusals, share_class = self.class_of(action.enterprise, action.share_class)
        if action.enterprise in self.enterprises and self.enterprises[action.enterprise]["manager"] != signer:
            refusals.add(NotManagerError)
        if share_class is None:
            return refusals
        if not 1 <= action.min_units <= action.units:
            refusals.add(BadOfferError)
        if share_class.withdrawable and action.price_minor != share_class.par_minor:
            refusals.add(BadOfferError)
        if action.deadline_ms <= now_ms:
            refusals.add(DeadlinePassedError)
        elif action.deadline_ms - now_ms > offer_open_max_ms:
            refusals.add(BadOfferError)
        return refusals

    def apply_open_offer(self, action, seq: int) -> None:  # noqa: ANN001
        self.offers[seq] = {
            "enterprise": action.enterprise,
            "class": action.share_class,
            "price": action.price_minor,
            "units": action.units,
            "min_units": action.min_units,
            "member_cap": action.member_cap_units,
            "deadline_ms": action.deadline_ms,
            "subscriptions": {},  # member -> [units, seq of the first subscription]
            "subscribed": 0,
            "outcome": None,
            "allotted": {},
        }

    def expect_subscribe(self, signer: bytes, offer_seq: int, units: int, now_ms: int) -> set:
        offer = self.offers.get(offer_seq)
        if offer is None:
            return {UnknownOfferError}
        if offer["outcome"] is not None:
            return {OfferClosedError, DeadlinePassedError}
        refusals = set()
        if now_ms >= offer["deadline_ms"]:
            refusals.add(DeadlinePassedError)
        mine = offer["subscriptions"].get(signer, [0, 0])[0]
        if mine + units > offer["member_cap"]:
            refusals.add(MemberCapError)
        enterprise = offer["enterprise"]
        share_class = self.enterprises[enterprise]["classes"][offer["class"]]
        after = self.exposure(enterprise, offer["class"], signer) + units
        refusals |= self.holder_refusals(share_class, signer, after)
        amount = offer["price"] * units
        if not self.can_pay(signer, amount):
            refusals.add(DebitLimitError)
        # "if the enterprise's balance plus everything escrowed for its open offers would pass its
        # credit ceiling"
        escrowed = sum(
            other["price"] * other["subscribed"]
            for other in self.offers.values()
            if other["outcome"] is None and other["enterprise"] == enterprise
        )
        if self.balances[enterprise] + escrowed + amount > self.limits_of(enterprise)[1]:
            refusals.add(CreditCeilingError)
        return refusals

    def apply_subscribe(self, signer: bytes, offer_seq: int, units: int, seq: int) -> None:
        offer = self.offers[offer_seq]
        self.move(signer, self.escrow, offer["price"] * units)
        mine = offer["subscriptions"].setdefault(signer, [0, seq])
        mine[0] += units
        offer["subscribed"] += units
        self.stats["subscribed"] += 1

    def due_offers(self, now_ms: int) -> list[int]:
        """Open offers whose deadline has come, in the order the node's timer closes them."""
        due = [(o["deadline_ms"], seq) for seq, o in self.offers.items() if o["outcome"] is None and o["deadline_ms"] <= now_ms]
        return [seq for _, seq in sorted(due)]

    def offer_outcome(self, offer_seq: int) -> str:
        offer = self.offers[offer_seq]
        if offer["subscribed"] < offer["min_units"]:
            return "refunded"
        paid = offer["price"] * min(offer["subscribed"], offer["units"])
        if self.balances[offer["enterprise"]] + paid > self.limits_of(offer["enterprise"])[1]:
            self.stats["refunded: enterprise ceiling"] += 1
            return "refunded"
        return "allotted"

    def apply_offer_close(self, offer_seq: int, outcome: str) -> None:
        offer = self.offers[offer_seq]
        enterprise, share_class, price = offer["enterprise"], offer["class"], offer["price"]
        allotted = pro_rata(offer["subscriptions"], offer["units"]) if outcome == "allotted" else {}
        for member, (subscribed, _) in offer["subscriptions"].items():
            units = allotted.get(member, 0)
            if subscribed > units:
                self.move(self.escrow, member, price * (subscribed - units))
            if units:
                self.change_holding(enterprise, share_class, member, units, 0)
        total = sum(allotted.values())
        if total:
            self.move(self.escrow, enterprise, price * total)
            self.enterprises[enterprise]["issued"][share_class] += total
        offer["outcome"], offer["allotted"] = outcome, {m: u for m, u in allotted.items() if u}
        self.stats[f"offer {outcome}"] += 1
        if outcome == "allotted" and offer["subscribed"] > offer["units"]:
            self.stats["offer oversubscribed"] += 1
            if len(offer["subscriptions"]) > 1 and any(
                u != s * offer["units"] // offer["subscribed"] for m, u in allotted.items() for s in [offer["subscriptions"][m][0]]
            ):
                self.stats["largest remainders used"] += 1
        if outcome == "refunded" and offer["subscribed"]:
            self.stats["offer refunded with subscriptions"] += 1

    # ---- the exchange -----------------------------------------------------------------------------

    @staticmethod
    def crosses(side: str, limit: int, resting_price: int) -> bool:
        return resting_price <= limit if side == "buy" else resting_price >= limit

    def opposite(self, enterprise: bytes, share_class: int, side: str, limit: int) -> list[dict]:
        """The resting orders an incoming order meets, in price-time priority."""
        other = "sell" if side == "buy" else "buy"
        found = [
            order
            for order in self.orders
            if (order["enterprise"], order["class"], order["side"]) == (enterprise, share_class, other)
            and self.crosses(side, limit, order["price"])
        ]
        if side == "buy":
            return sorted(found, key=lambda order: (order["price"], order["seq"]))
        return sorted(found, key=lambda order: (-order["price"], order["seq"]))

    def match(self, signer: bytes, enterprise: bytes, share_class: int, side: str, units: int, limit: int) -> dict:
        """Fills (order, units, price), resting sells cancelled for their seller's ceiling, what is
        left and whether it rests; `self_trade` if matching reaches one of the signer's own orders."""
        resting = self.opposite(enterprise, share_class, side, limit)
        fills: list[tuple[dict, int, int]] = []
        cancelled: list[dict] = []
        proceeds: dict[bytes, int] = {}
        remaining = units
        index = 0
        while index < len(resting) and remaining and len(fills) < fills_per_order_max:
            order = resting[index]
            if order["owner"] == signer:
                # "An order that would reach one of the signer's own resting orders while matching
                # is refused (self_trade)."
                return {"self_trade": True}
            index += 1
            take = min(remaining, order["units"])
            if order["side"] == "sell":
                seller = order["owner"]
                if not self.can_receive(seller, proceeds.get(seller, 0) + take * order["price"]):
                    cancelled.append(order)
                    continue
                proceeds[seller] = proceeds.get(seller, 0) + take * order["price"]
            fills.append((order, take, order["price"]))
            remaining -= take
        # Past the fill limit, a remainder that still crosses the book is cancelled, not rested.
        rests = not (remaining and index < len(resting))
        return {"fills": fills, "cancelled": cancelled, "remaining": remaining, "rests": rests, "self_trade": False}

    def expect_place_order(self, signer: bytes, enterprise: bytes, share_class: int, side: str, units: int, price: int) -> set:
        refusals, found = self.class_of(enterprise, share_class)
        if found is None:
            return refusals
        if not found.transferable:
            return {NotTransferableError}
        plan = self.match(signer, enterprise, share_class, side, units, price)
        if plan["self_trade"]:
            refusals.add(SelfTradeError)
        if side == "buy":
            refusals |= self.holder_refusals(found, signer, self.exposure(enterprise, share_class, signer) + units)
            if not self.can_pay(signer, price * units):
                refusals.add(DebitLimitError)
            return refusals
        if self.free(enterprise, share_class, signer) < units:
            refusals.add(InsufficientSharesError)
        if not refusals:
            if not self.can_receive(signer, sum(take * at for _, take, at in plan["fills"])):
                refusals.add(CreditCeilingError)
        return refusals

    def drop_resting(self, order: dict) -> None:
        self.orders.remove(order)
        if order["side"] == "buy":
            self.move(self.escrow, order["owner"], order["price"] * order["units"])
        else:
            self.change_holding(order["enterprise"], order["class"], order["owner"], 0, -order["units"])

    def apply_place_order(
        self, signer: bytes, enterprise: bytes, share_class: int, side: str, units: int, price: int, seq: int
    ) -> None:
        plan = self.match(signer, enterprise, share_class, side, units, price)
        for order in plan["cancelled"]:
            self.drop_resting(order)
            self.stats["resting sell cancelled: seller's ceiling"] += 1
        if side == "buy":
            self.move(signer, self.escrow, price * units)
        else:
            self.change_holding(enterprise, share_class, signer, 0, units)
        trades = self.trades.setdefault((enterprise, share_class), [])
        for order, take, at in plan["fills"]:
            buyer, seller = (signer, order["owner"]) if side == "buy" else (order["owner"], signer)
            self.move(self.escrow, seller, take * at)
            if side == "buy" and price > at:
                self.move(self.escrow, buyer, take * (price - at))
                self.stats["buyer's price improvement refunded"] += 1
            self.change_holding(enterprise, share_class, seller, -take, -take)
            self.change_holding(enterprise, share_class, buyer, take, 0)
            order["units"] -= take
            if order["units"] == 0:
                self.orders.remove(order)
            else:
                self.stats["resting order partly filled"] += 1
            trades.append((seq, at, take, buyer, seller))
            self.stats["fill"] += 1
        if len(plan["fills"]) > 1:
            self.stats["one order, several fills"] += 1
        remaining = plan["remaining"]
        if remaining and plan["rests"]:
            self.orders.append(
                {"seq": seq, "owner": signer, "enterprise": enterprise, "class": share_class, "side": side,
                 "price": price, "units": remaining}
            )
            self.stats["order rests"] += 1
        elif remaining:
            self.stats["remainder cancelled: fill limit"] += 1
            if side == "buy":
                self.move(self.escrow, signer, price * remaining)
            else:
                self.change_holding(enterprise, share_class, signer, 0, -remaining)

    def expect_cancel_order(self, signer: bytes, order_seq: int) -> set:
        order = next((order for order in self.orders if order["seq"] == order_seq), None)
        if order is None:
            return {UnknownOrderError}
        return set() if order["owner"] == signer else {NotAuthorizedError}

    def apply_cancel_order(self, order_seq: int) -> None:
        self.drop_resting(next(order for order in self.orders if order["seq"] == order_seq))
        self.stats["order cancelled"] += 1

    # ---- transfers and withdrawals ------------------------------------------------------------------

    def expect_transfer_shares(self, signer: bytes, enterprise: bytes, share_class: int, to: bytes, units: int) -> set:
        refusals, found = self.class_of(enterprise, share_class)
        if found is None:
            return refusals
        if not found.transferable:
            return {NotTransferableError}
        if to == signer:
            refusals.add(SameAccountError)
        if to not in self.kinds:
            return refusals | {UnknownMemberError}
        if self.kinds[to] == "escrow":
            refusals.add(NotAuthorizedError)  # "to a member or an enterprise account"
        if self.free(enterprise, share_class, signer) < units:
            refusals.add(InsufficientSharesError)
        return refusals | self.holder_refusals(found, to, self.exposure(enterprise, share_class, to) + units)

    def apply_transfer_shares(self, signer: bytes, enterprise: bytes, share_class: int, to: bytes, units: int) -> None:
        self.change_holding(enterprise, share_class, signer, -units, 0)
        self.change_holding(enterprise, share_class, to, units, 0)
        self.stats["shares transferred"] += 1

    def expect_withdraw(self, signer: bytes, enterprise: bytes, share_class: int, units: int) -> set:
        refusals, found = self.class_of(enterprise, share_class)
        if found is None:
            return refusals
        if not found.withdrawable:
            return {NotWithdrawableError}
        return {InsufficientSharesError} if self.free(enterprise, share_class, signer) < units else set()

    def apply_withdraw(self, signer: bytes, enterprise: bytes, share_class: int, units: int, seq: int, now_ms: int) -> None:
        self.change_holding(enterprise, share_class, signer, 0, units)
        self.withdrawals[seq] = {
            "holder": signer,
            "enterprise": enterprise,
            "class": share_class,
            "units": units,
            "due_ms": now_ms + self.enterprises[enterprise]["notice_ms"],
            "outcome": None,
        }
        self.stats["withdrawal asked"] += 1

    def due_withdrawals(self, now_ms: int) -> list[int]:
        due = [(w["due_ms"], seq) for seq, w in self.withdrawals.items() if w["outcome"] is None and w["due_ms"] <= now_ms]
        return [seq for _, seq in sorted(due)]

    def withdrawal_year(self, withdrawal: dict, ts_ms: int) -> int:
        # "The withdrawals paid in the current year": ledger/shares.py counts each withdrawal in the
        # year it fell due, not the year of the event that pays it (they differ when the node's
        # timer runs late across a year's end). The spec does not say which; this follows the node,
        # and the report on this file names the case.
        return withdrawal["due_ms"] // year_ms

    def withdrawal_outcome(self, withdrawal_seq: int, ts_ms: int) -> str:
        withdrawal = self.withdrawals[withdrawal_seq]
        enterprise = self.enterprises[withdrawal["enterprise"]]
        amount = enterprise["classes"][withdrawal["class"]].par_minor * withdrawal["units"]
        if not self.can_pay(withdrawal["enterprise"], amount) or not self.can_receive(withdrawal["holder"], amount):
            self.stats["withdrawal refused: limits"] += 1
            return "refused"
        cap = enterprise["yearly_cap_minor"]
        year = self.withdrawal_year(withdrawal, ts_ms)
        if cap and self.paid_in_year.get((withdrawal["enterprise"], year), 0) + amount > cap:
            self.stats["withdrawal refused: yearly cap"] += 1
            return "refused"
        return "paid"

    def apply_withdrawal(self, withdrawal_seq: int, outcome: str, ts_ms: int) -> None:
        withdrawal = self.withdrawals[withdrawal_seq]
        enterprise_id, share_class, units = withdrawal["enterprise"], withdrawal["class"], withdrawal["units"]
        enterprise = self.enterprises[enterprise_id]
        if outcome == "paid":
            amount = enterprise["classes"][share_class].par_minor * units
            self.move(enterprise_id, withdrawal["holder"], amount)
            self.change_holding(enterprise_id, share_class, withdrawal["holder"], -units, -units)
            enterprise["withdrawn"][share_class] += units
            year_key = (enterprise_id, self.withdrawal_year(withdrawal, ts_ms))
            self.paid_in_year[year_key] = self.paid_in_year.get(year_key, 0) + amount
        else:
            self.change_holding(enterprise_id, share_class, withdrawal["holder"], 0, -units)
        withdrawal["outcome"] = outcome
        self.stats[f"withdrawal {outcome}"] += 1

    # ---- dividends, by a holders' decision ----------------------------------------------------------

    def weights(self, enterprise: bytes, field: str) -> dict[bytes, int]:
        """Per holder, sum of `field` (votes_per_share or dividend_weight) x units, locked included."""
        classes = self.enterprises[enterprise]["classes"]
        found: dict[bytes, int] = {}
        for (e, c, holder), (units, _) in self.holdings.items():
            if e == enterprise and getattr(classes[c], field):
                found[holder] = found.get(holder, 0) + getattr(classes[c], field) * units
        return found

    def voters(self, enterprise: bytes) -> list[bytes]:
        """The people among the holders with a vote: all of them agree in these runs."""
        return sorted(h for h, weight in self.weights(enterprise, "votes_per_share").items() if self.kinds[h] == "person")

    def dividend_shares(self, enterprise: bytes, amount: int) -> dict[bytes, int]:
        """floor(amount x weight / total weight) each; the remainder stays with the enterprise."""
        weights = self.weights(enterprise, "dividend_weight")
        total = sum(weights.values())
        return {holder: amount * weight // total for holder, weight in weights.items()}

    def expect_dividend_proposal(self, enterprise: bytes, amount: int) -> set:
        """ledger/decisions.py checks a proposal's effect when it is proposed, too (the spec speaks
        only of the close): a dividend nobody could be paid now is refused at once."""
        paid = self.dividend_shares(enterprise, amount)
        if not paid:
            return {BadOfferError}
        refusals = set()
        if not self.can_pay(enterprise, sum(paid.values())):
            refusals.add(DebitLimitError)
        if not all(self.can_receive(h, a) for h, a in paid.items()):
            refusals.add(CreditCeilingError)
        return refusals

    def dividend_outcome(self, enterprise: bytes, amount: int, quorum_bp: int, threshold_bp: int) -> str:
        """The close of a holders' proposal to pay `amount` that every person with a vote agreed to:
        weights are votes per share x units at the close; enterprise holders cannot vote."""
        electorate = sum(self.weights(enterprise, "votes_per_share").values())
        agree = sum(self.weights(enterprise, "votes_per_share")[h] for h in self.voters(enterprise))
        if 2 * agree * 10_000 < (2 * quorum_bp - 1) * electorate:
            return "no_quorum"
        if agree == 0 or 2 * agree * 10_000 < (2 * threshold_bp - 1) * agree:
            return "rejected"
        paid = self.dividend_shares(enterprise, amount)
        if not paid:
            self.stats["dividend refused: no dividend weight"] += 1
            return "effect_refused"
        if not self.can_pay(enterprise, sum(paid.values())) or not all(self.can_receive(h, a) for h, a in paid.items()):
            self.stats["dividend refused: limits"] += 1
            return "effect_refused"
        return "passed"

    def apply_dividend(self, enterprise: bytes, amount: int) -> None:
        for holder, share in self.dividend_shares(enterprise, amount).items():
            if share:
                self.move(enterprise, holder, share)
        self.stats["dividend paid"] += 1

    # ---- what always holds, in the model ------------------------------------------------------------

    def check_invariants(self) -> None:
        assert sum(self.balances.values()) == 0
        for account, balance in self.balances.items():
            debit, ceiling = self.limits_of(account)
            # What escrow holds for an account counts against its ceiling, so a release never
            # takes it past.
            assert -debit <= balance and balance + self.escrowed_for(account) <= ceiling, account
        for enterprise_id, enterprise in self.enterprises.items():
            for index in range(len(enterprise["classes"])):
                held = sum(u for (e, c, _), (u, _) in self.holdings.items() if (e, c) == (enterprise_id, index))
                assert held == enterprise["issued"][index] - enterprise["withdrawn"][index]
        assert self.balances.get(self.escrow, 0) == self.escrow_owed()
        for key, (_, locked) in self.holdings.items():
            selling = sum(o["units"] for o in self.orders if o["side"] == "sell" and (o["enterprise"], o["class"], o["owner"]) == key)
            withdrawing = sum(
                w["units"] for w in self.withdrawals.values()
                if w["outcome"] is None and (w["enterprise"], w["class"], w["holder"]) == key
            )
            assert locked == selling + withdrawing, key
        classes = {(o["enterprise"], o["class"]) for o in self.orders}
        for enterprise_id, share_class in classes:
            bids = [o["price"] for o in self.orders if (o["enterprise"], o["class"], o["side"]) == (enterprise_id, share_class, "buy")]
            asks = [o["price"] for o in self.orders if (o["enterprise"], o["class"], o["side"]) == (enterprise_id, share_class, "sell")]
            assert not bids or not asks or max(bids) < min(asks), "the model's book is crossed"
