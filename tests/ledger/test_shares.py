"""Community shares and the exchange in the pure domain, one rule per test (docs/shares.md).

Each test builds a community with real signed intents and events (helpers.ledger), acts, and checks
what the spec says; every refusal is checked to change nothing. The node bodies (`offer_closed`,
`withdrawal_due`, `decision_closed`) are appended through `audit`, as a replica receives them.
"""

from __future__ import annotations

import pytest
from tallystick.ledger import decisions, shares
from tallystick.ledger.accounts import people
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import (
    BadDecisionError,
    BadOfferError,
    BadShareClassError,
    CreditCeilingError,
    DeadlinePassedError,
    DebitLimitError,
    DomainError,
    HoldingCapError,
    InsufficientSharesError,
    LimitBelowBalanceError,
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
    SelfTradeError,
    SharesOutstandingError,
    UnknownEnterpriseError,
    UnknownOfferError,
    UnknownOrderError,
)
from tallystick.ledger.transition import audit
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event
from tallystick.protocol.events import (
    AdmitMember,
    Body,
    CancelOrder,
    DeclareDividend,
    EnterprisePay,
    Event,
    FounderIssue,
    Holders,
    OfferClosed,
    OpenOffer,
    PlaceOrder,
    Propose,
    RegisterEnterprise,
    RemoveMember,
    SetLimits,
    SetWithdrawalRule,
    ShareClass,
    Subscribe,
    Transfer,
    TransferShares,
    Vote,
    WithdrawalDue,
    WithdrawShares,
)

from helpers.ledger import ClockedLedger, admin_key, key, refold

bea_key, cal_key, dee_key = key("bea"), key("cal"), key("dee")
ada, bea, cal, dee = admin_key.public, bea_key.public, cal_key.public, dee_key.public
start_ms = 1_000_000
deadline_ms = start_ms + 60_000

customer = ShareClass("Customer shares", "user", 1, 1, 100, True, False, 50, True)
investor = ShareClass("Investor shares", "investor", 0, 2, 200, False, True, None, False)
founder = ShareClass("Founder shares", "founder", 5, 0, 100, False, False, None, True)


class Community(ClockedLedger):
    """Ada (admin, manager of the Bakery), Bea, Cal and Dee; every step keeps the shares invariants."""

    def __init__(self) -> None:
        super().__init__(now_ms=start_ms, debit_limit_minor=100_000, credit_ceiling_minor=100_000)
        for member, name in ((bea, "Bea"), (cal, "Cal"), (dee, "Dee")):
            self.accept(admin_key, AdmitMember(member=member, name=name))

    def accept(self, signer, action, *, nonce=None) -> Event:  # type: ignore[no-untyped-def]
        error = self.submit(self.sign(signer, action, nonce=nonce))
        assert error is None, f"setup intent refused: {error!r}"
        shares.audit_invariants(self.state)
        return decode_event(self.events[-1])

    def audited(self, body: Body, intent=None) -> Event:  # type: ignore[no-untyped-def]
        event = super().audited(body, intent)
        shares.audit_invariants(self.state)
        return event

    def register(self, *classes: ShareClass, name: str = "Bakery", founder_units: int = 0, **fields: object) -> bytes:
        issue = (FounderIssue(len(classes) - 1, founder_units),) if founder_units else ()
        seq = self.accept(admin_key, RegisterEnterprise(name=name, classes=classes, founder_issue=issue, **fields)).seq  # type: ignore[arg-type]
        return shares.enterprise_id(self.feed, seq)

    def offer(self, enterprise: bytes, share_class: int = 0, *, price: int = 100, units: int = 100,
              min_units: int = 10, member_cap: int = 100) -> int:
        action = OpenOffer(enterprise, share_class, price, units, min_units, member_cap, self.now_ms + 60_000)
        return self.accept(admin_key, action).seq

    def close_offer(self, offer: int) -> str:
        self.now_ms = max(self.now_ms, self.state.shares.offers[offer].deadline_ms)
        self.audited(shares.offer_closing_body(self.state, offer))
        return self.state.shares.offers[offer].outcome  # type: ignore[return-value]

    def order(self, signer, enterprise: bytes, side: str, units: int, price: int, share_class: int = 0) -> int:  # type: ignore[no-untyped-def]
        return self.accept(signer, PlaceOrder(enterprise, share_class, side, units, price)).seq  # type: ignore[arg-type]

    def balance(self, member: bytes) -> int:
        return self.state.accounts[member].balance_minor

    def held(self, enterprise: bytes, member: bytes, share_class: int = 0) -> int:
        found = self.state.shares.holdings.get((enterprise, share_class, member))
        return 0 if found is None else found.units


def assert_refused(ledger: Community, signer, action, error_class: type[DomainError]) -> None:  # type: ignore[no-untyped-def]
    state_before, digest_before, events_before = ledger.state, state_digest(ledger.state), len(ledger.events)
    error = ledger.submit(ledger.sign(signer, action))
    assert type(error) is error_class, f"expected {error_class.__name__}, got {error!r}"
    assert error.message and error.code == error_class.code
    assert ledger.state is state_before and state_digest(ledger.state) == digest_before
    assert len(ledger.events) == events_before


@pytest.fixture
def town() -> Community:
    return Community()


@pytest.fixture
def traded(town: Community) -> tuple[Community, bytes]:
    """The Bakery with 100 transferable investor shares: Bea holds 60, Cal 40."""
    bakery = town.register(investor)
    offer = town.offer(bakery, price=200, units=100, min_units=100)
    town.accept(bea_key, Subscribe(offer, 60))
    town.accept(cal_key, Subscribe(offer, 40))
    assert town.close_offer(offer) == "allotted"
    return town, bakery


# ---- registering ------------------------------------------------------------------------------------


def test_an_enterprise_is_an_account_named_like_a_member_that_members_can_pay(town: Community) -> None:
    bakery = town.register(customer, founder, founder_units=10)
    assert town.state.members[bakery].role == "enterprise" and town.state.members[bakery].name == "Bakery"
    assert town.held(bakery, ada, 1) == 10 and town.state.shares.enterprises[bakery].issued == (0, 10)
    town.accept(bea_key, Transfer(to=bakery, amount_minor=250))
    assert town.balance(bakery) == 250 and sum(a.balance_minor for a in town.state.accounts.values()) == 0
    town.accept(admin_key, EnterprisePay(bakery, cal, 50, "flour"))
    assert town.balance(bakery) == 200 and town.balance(cal) == 50


def test_only_the_manager_pays_from_the_enterprise(town: Community) -> None:
    bakery = town.register(customer)
    assert_refused(town, bea_key, EnterprisePay(bakery, bea, 1, ""), NotManagerError)


def test_a_class_both_withdrawable_and_transferable_is_refused(town: Community) -> None:
    both = ShareClass("Both", "user", 1, 1, 100, True, True, None, False)
    assert_refused(town, admin_key, RegisterEnterprise("Bakery", (both,)), BadShareClassError)


def test_founder_shares_are_issued_only_in_founder_classes(town: Community) -> None:
    action = RegisterEnterprise("Bakery", (customer,), (FounderIssue(0, 5),))
    assert_refused(town, admin_key, action, BadShareClassError)


def test_an_enterprise_name_taken_by_a_member_is_refused(town: Community) -> None:
    assert_refused(town, admin_key, RegisterEnterprise("bea", (customer,)), NameTakenError)


def test_an_unknown_enterprise_is_refused(town: Community) -> None:
    assert_refused(town, admin_key, OpenOffer(b"\x01" * 32, 0, 100, 10, 1, 10, deadline_ms), UnknownEnterpriseError)


# ---- offers -----------------------------------------------------------------------------------------


def test_subscriptions_wait_in_escrow_and_an_offer_meeting_its_target_is_allotted(town: Community) -> None:
    bakery = town.register(customer)
    offer = town.offer(bakery, units=100, min_units=30, member_cap=50)
    town.accept(bea_key, Subscribe(offer, 20))
    town.accept(cal_key, Subscribe(offer, 15))
    escrow = shares.escrow_id(town.feed)
    assert town.balance(escrow) == 3500 and town.balance(bea) == -2000
    assert town.close_offer(offer) == "allotted"
    assert town.held(bakery, bea) == 20 and town.held(bakery, cal) == 15
    assert town.balance(escrow) == 0 and town.balance(bakery) == 3500
    assert town.state.shares.enterprises[bakery].issued == (35,)


def test_enterprises_named_like_every_escrow_candidate_leave_the_escrow_a_numbered_name(town: Community) -> None:
    # Four registrations and an offer, then the subscription whose event opens the escrow.
    opening_seq = town.state.seq + 6
    for name in ("Escrow", "Community escrow", f"Escrow {opening_seq}"):
        town.register(customer, name=name)
    offer = town.offer(town.register(customer))
    assert town.accept(bea_key, Subscribe(offer, 20)).seq == opening_seq
    escrow = town.state.members[shares.escrow_id(town.feed)]
    assert escrow.name == f"Escrow {opening_seq} (2)" and town.balance(shares.escrow_id(town.feed)) == 2000


def test_an_offer_short_of_its_target_refunds_everyone_in_full(town: Community) -> None:
    bakery = town.register(customer)
    offer = town.offer(bakery, units=100, min_units=50)
    town.accept(bea_key, Subscribe(offer, 20))
    assert town.close_offer(offer) == "refunded"
    assert town.balance(bea) == 0 and town.balance(bakery) == 0 and town.held(bakery, bea) == 0
    assert town.state.shares.enterprises[bakery].issued == (0,)


def test_an_oversubscribed_offer_is_allotted_pro_rata_with_the_largest_remainders(town: Community) -> None:
    bakery = town.register(investor)
    offer = town.offer(bakery, share_class=0, price=200, units=10, min_units=1, member_cap=10)
    town.accept(bea_key, Subscribe(offer, 7))  # 7 x 10 / 15 = 4.67 -> 4, remainder 10
    town.accept(cal_key, Subscribe(offer, 5))  # 3.33 -> 3, remainder 5
    town.accept(dee_key, Subscribe(offer, 3))  # 2.00 -> 2, remainder 0
    assert town.close_offer(offer) == "allotted"
    # 9 given by the floors; the one left goes to the largest remainder (Bea).
    assert (town.held(bakery, bea), town.held(bakery, cal), town.held(bakery, dee)) == (5, 3, 2)
    assert town.balance(bea) == -1000 and town.balance(cal) == -600 and town.balance(dee) == -400
    assert town.balance(bakery) == 2000 and town.balance(shares.escrow_id(town.feed)) == 0


def test_equal_remainders_go_to_the_earlier_subscription(town: Community) -> None:
    bakery = town.register(investor)
    offer = town.offer(bakery, price=200, units=1, min_units=1, member_cap=10)
    town.accept(cal_key, Subscribe(offer, 1))
    town.accept(bea_key, Subscribe(offer, 1))
    town.close_offer(offer)
    assert town.held(bakery, cal) == 1 and town.held(bakery, bea) == 0


def test_a_subscription_past_the_per_member_cap_is_refused(town: Community) -> None:
    bakery = town.register(customer)
    offer = town.offer(bakery, member_cap=10)
    town.accept(bea_key, Subscribe(offer, 8))
    assert_refused(town, bea_key, Subscribe(offer, 3), MemberCapError)


def test_a_subscription_past_the_class_holding_cap_is_refused(town: Community) -> None:
    bakery = town.register(customer)  # cap 50
    first = town.offer(bakery, member_cap=100)
    town.accept(bea_key, Subscribe(first, 45))
    assert_refused(town, bea_key, Subscribe(first, 6), HoldingCapError)


def test_a_subscription_past_the_members_debit_limit_is_refused(town: Community) -> None:
    bakery = town.register(investor)
    offer = town.offer(bakery, price=100_000, units=5, min_units=1, member_cap=5)
    assert_refused(town, bea_key, Subscribe(offer, 2), DebitLimitError)


def test_a_subscription_that_would_take_the_enterprise_over_its_ceiling_is_refused(town: Community) -> None:
    bakery = town.register(customer)
    town.accept(admin_key, SetLimits(account=bakery, debit_limit_minor=0, credit_ceiling_minor=1000))
    offer = town.offer(bakery)
    town.accept(bea_key, Subscribe(offer, 8))
    assert_refused(town, cal_key, Subscribe(offer, 3), CreditCeilingError)


def test_a_subscription_after_the_deadline_or_to_an_unknown_or_closed_offer_is_refused(town: Community) -> None:
    bakery = town.register(customer)
    offer = town.offer(bakery)
    assert_refused(town, bea_key, Subscribe(offer + 100, 1), UnknownOfferError)
    town.now_ms = deadline_ms
    assert_refused(town, bea_key, Subscribe(offer, 1), DeadlinePassedError)
    town.close_offer(offer)
    assert_refused(town, bea_key, Subscribe(offer, 1), OfferClosedError)


def test_a_withdrawable_class_is_offered_at_par_only(town: Community) -> None:
    bakery = town.register(customer)
    assert_refused(town, admin_key, OpenOffer(bakery, 0, 150, 10, 1, 10, deadline_ms), BadOfferError)


def test_only_the_manager_opens_an_offer(town: Community) -> None:
    bakery = town.register(customer)
    assert_refused(town, bea_key, OpenOffer(bakery, 0, 100, 10, 1, 10, deadline_ms), NotManagerError)


def test_a_replica_refuses_an_early_close_and_a_wrong_outcome(town: Community) -> None:
    bakery = town.register(customer)
    offer = town.offer(bakery, min_units=50)
    town.accept(bea_key, Subscribe(offer, 10))
    raw, early = town.next_event(OfferClosed(offer, "refunded"))
    with pytest.raises(NotDueError):
        audit(town.state, early, None)
    town.now_ms = deadline_ms
    raw, wrong = town.next_event(OfferClosed(offer, "allotted"))
    with pytest.raises(OutcomeMismatchError):
        audit(town.state, wrong, None)


# ---- the exchange -----------------------------------------------------------------------------------


def test_a_crossing_buy_fills_at_the_resting_price_and_gets_the_difference_back(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    bea_before, cal_before = town.balance(bea), town.balance(cal)
    town.order(bea_key, bakery, "sell", 10, 250)
    town.order(cal_key, bakery, "buy", 4, 300)
    assert town.held(bakery, cal) == 44 and town.held(bakery, bea) == 56
    assert town.balance(cal) == cal_before - 4 * 250 and town.balance(bea) == bea_before + 4 * 250
    [resting] = town.state.shares.orders.values()
    assert resting.owner == bea and resting.units == 6
    assert town.state.shares.holdings[(bakery, 0, bea)].locked == 6
    assert [t.units for t in town.state.shares.trades[(bakery, 0)]] == [4]


def test_orders_fill_best_price_first_then_oldest(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    later = town.order(bea_key, bakery, "sell", 5, 210)
    town.order(cal_key, bakery, "sell", 5, 220)
    earlier_cheap = town.order(cal_key, bakery, "sell", 5, 210)
    town.accept(dee_key, Transfer(to=ada, amount_minor=1))  # Dee has credit room, holds nothing
    town.order(dee_key, bakery, "buy", 7, 230)
    fills = [(t.seller, t.price_minor, t.units) for t in town.state.shares.trades[(bakery, 0)]]
    assert fills == [(bea, 210, 5), (cal, 210, 2)]
    assert town.state.shares.orders[earlier_cheap].units == 3 and later not in town.state.shares.orders


def test_a_crossing_sell_fills_resting_bids_at_their_price(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    town.order(dee_key, bakery, "buy", 5, 300)
    town.order(bea_key, bakery, "sell", 5, 100)
    assert town.held(bakery, dee) == 5 and town.balance(bea) == -60 * 200 + 5 * 300


def test_an_order_that_would_cross_your_own_is_refused(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    town.order(bea_key, bakery, "sell", 5, 250)
    assert_refused(town, bea_key, PlaceOrder(bakery, 0, "buy", 1, 260), SelfTradeError)


def test_selling_more_than_you_hold_free_is_refused(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    town.order(bea_key, bakery, "sell", 50, 500)
    assert_refused(town, bea_key, PlaceOrder(bakery, 0, "sell", 11, 500), InsufficientSharesError)


def test_a_class_that_is_not_transferable_is_not_traded(town: Community) -> None:
    bakery = town.register(customer)
    assert_refused(town, bea_key, PlaceOrder(bakery, 0, "buy", 1, 100), NotTransferableError)


def test_a_buy_past_the_debit_limit_is_refused(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    assert_refused(town, dee_key, PlaceOrder(bakery, 0, "buy", 1000, 200), DebitLimitError)


def test_a_resting_seller_who_would_pass_their_ceiling_is_cancelled_and_matching_goes_on(
    traded: tuple[Community, bytes],
) -> None:
    town, bakery = traded
    town.order(bea_key, bakery, "sell", 5, 200)
    town.order(cal_key, bakery, "sell", 5, 210)
    town.accept(admin_key, Transfer(to=bea, amount_minor=-town.balance(bea)))  # Bea at zero
    town.accept(admin_key, SetLimits(account=bea, debit_limit_minor=100_000, credit_ceiling_minor=0))
    town.order(dee_key, bakery, "buy", 5, 300)
    assert town.held(bakery, dee) == 5 and town.held(bakery, cal) == 35
    assert not any(o.owner == bea for o in town.state.shares.orders.values())
    assert town.state.shares.holdings[(bakery, 0, bea)].locked == 0


def test_an_incoming_sell_whose_proceeds_would_pass_the_ceiling_is_refused(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    town.order(dee_key, bakery, "buy", 5, 300)
    town.accept(admin_key, SetLimits(account=bea, debit_limit_minor=100_000, credit_ceiling_minor=0))
    town.accept(admin_key, Transfer(to=bea, amount_minor=60 * 200))  # Bea at zero, ceiling zero
    assert_refused(town, bea_key, PlaceOrder(bakery, 0, "sell", 5, 300), CreditCeilingError)


def test_cancelling_returns_the_reservation_and_only_the_owner_may(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    before = town.balance(dee)
    order = town.order(dee_key, bakery, "buy", 5, 150)
    assert town.balance(dee) == before - 750
    assert_refused(town, bea_key, CancelOrder(order), NotAuthorizedError)
    town.accept(dee_key, CancelOrder(order))
    assert town.balance(dee) == before and not town.state.shares.orders
    assert_refused(town, dee_key, CancelOrder(order), UnknownOrderError)


def test_an_order_fills_against_at_most_the_limit_and_the_crossing_rest_is_cancelled(town: Community) -> None:
    bakery = town.register(investor)
    offer = town.offer(bakery, price=200, units=200, min_units=1, member_cap=200)
    town.accept(bea_key, Subscribe(offer, 200))
    town.close_offer(offer)
    for _ in range(limits.fills_per_order_max + 2):
        town.order(bea_key, bakery, "sell", 1, 200)
    before = town.balance(dee)
    town.order(dee_key, bakery, "buy", limits.fills_per_order_max + 2, 200)
    assert town.held(bakery, dee) == limits.fills_per_order_max
    assert town.balance(dee) == before - limits.fills_per_order_max * 200
    assert not any(o.owner == dee for o in town.state.shares.orders.values())


def test_a_direct_transfer_respects_caps_and_local_only(town: Community) -> None:
    local = ShareClass("Local", "user", 1, 1, 100, False, True, 10, True)
    bakery = town.register(local)
    offer = town.offer(bakery, units=20, min_units=1, member_cap=10)
    town.accept(bea_key, Subscribe(offer, 10))
    town.accept(cal_key, Subscribe(offer, 5))
    town.close_offer(offer)
    assert_refused(town, bea_key, TransferShares(bakery, 0, cal, 6), HoldingCapError)
    other = town.register(investor, name="Mill")
    assert_refused(town, bea_key, TransferShares(bakery, 0, other, 1), LocalOnlyError)
    town.accept(bea_key, TransferShares(bakery, 0, cal, 5))
    assert town.held(bakery, cal) == 10 and town.held(bakery, bea) == 5


# ---- withdrawals ------------------------------------------------------------------------------------


def test_a_withdrawal_is_paid_at_par_when_its_notice_has_run(town: Community) -> None:
    bakery = town.register(customer, notice_ms=5000)
    offer = town.offer(bakery, min_units=1)
    town.accept(bea_key, Subscribe(offer, 30))
    town.close_offer(offer)
    withdrawal = town.accept(bea_key, WithdrawShares(bakery, 0, 10)).seq
    assert town.state.shares.holdings[(bakery, 0, bea)].locked == 10
    assert_refused(town, bea_key, WithdrawShares(bakery, 0, 21), InsufficientSharesError)
    raw, early = town.next_event(WithdrawalDue(withdrawal, "paid"))
    with pytest.raises(NotDueError):
        audit(town.state, early, None)
    town.now_ms += 5000
    town.audited(shares.withdrawal_body(town.state, withdrawal))
    assert town.held(bakery, bea) == 20 and town.balance(bea) == -2000
    assert town.state.shares.enterprises[bakery].withdrawn == (10,)


def test_a_withdrawal_past_the_yearly_cap_is_refused_and_the_shares_unlocked(town: Community) -> None:
    bakery = town.register(customer, yearly_cap_minor=1500)
    offer = town.offer(bakery, min_units=1)
    town.accept(bea_key, Subscribe(offer, 30))
    town.close_offer(offer)
    first = town.accept(bea_key, WithdrawShares(bakery, 0, 10)).seq
    second = town.accept(bea_key, WithdrawShares(bakery, 0, 10)).seq
    town.audited(shares.withdrawal_body(town.state, first))
    town.audited(shares.withdrawal_body(town.state, second))
    assert town.state.shares.withdrawals[second].outcome == "refused"
    assert town.held(bakery, bea) == 20 and town.state.shares.holdings[(bakery, 0, bea)].locked == 0


def test_a_class_that_is_not_withdrawable_cannot_be_withdrawn(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    assert_refused(town, bea_key, WithdrawShares(bakery, 0, 1), NotWithdrawableError)


# ---- holders' decisions and dividends ----------------------------------------------------------------


def holders_decision(town: Community, bakery: bytes, effect: object, signer=admin_key) -> int:  # type: ignore[no-untyped-def]
    action = Propose("proposal", "Holders decide", "", town.now_ms + 60_000, electorate=Holders(bakery), effect=effect)  # type: ignore[arg-type]
    return town.accept(signer, action).seq


def close_decision(town: Community, decision: int) -> str:
    town.now_ms = max(town.now_ms, town.state.decisions[decision].deadline_ms)
    town.audited(decisions.closing_body(town.state, decision))
    return town.state.decisions[decision].outcome  # type: ignore[return-value]


def test_a_dividend_is_paid_pro_rata_by_dividend_weight_and_the_remainder_stays(town: Community) -> None:
    bakery = town.register(customer, investor)
    for share_class, units in ((0, (10, 20)), (1, (1, 0))):
        offer = town.offer(bakery, share_class, price=100 if share_class == 0 else 200, min_units=1)
        for member_key, count in zip((bea_key, cal_key), units, strict=True):
            if count:
                town.accept(member_key, Subscribe(offer, count))
        town.close_offer(offer)
    # weights: Bea 10x1 + 1x2 = 12, Cal 20x1 = 20; total 32; 100 pays 37 (37.5) and 62 (62.5).
    decision = holders_decision(town, bakery, DeclareDividend(bakery, 100))
    town.accept(bea_key, Vote(decision, "agree"))
    town.accept(cal_key, Vote(decision, "agree"))
    bea_before, cal_before, bakery_before = town.balance(bea), town.balance(cal), town.balance(bakery)
    assert close_decision(town, decision) == "passed"
    assert town.balance(bea) - bea_before == 37 and town.balance(cal) - cal_before == 62
    assert bakery_before - town.balance(bakery) == 99


def test_holders_vote_by_votes_per_share_and_non_holders_cannot_vote(town: Community) -> None:
    bakery = town.register(customer, founder, founder_units=2)  # Ada: 2 founder shares x 5 votes = 10
    offer = town.offer(bakery, min_units=1)
    town.accept(bea_key, Subscribe(offer, 11))  # Bea: 11 votes
    town.close_offer(offer)
    decision = holders_decision(town, bakery, SetWithdrawalRule(bakery, 1000, 0))
    assert_refused(town, dee_key, Vote(decision, "agree"), NotAuthorizedError)
    town.accept(bea_key, Vote(decision, "agree"))
    town.accept(admin_key, Vote(decision, "disagree"))
    result = decisions.tally(town.state, town.state.decisions[decision])
    assert result.electorate == 21 and result.positions["agree"] == 11 and result.positions["disagree"] == 10
    assert close_decision(town, decision) == "rejected"  # 11/21 is under the two-thirds threshold


def test_a_holders_tally_counts_the_people_beside_their_votes_per_share(town: Community) -> None:
    bakery = town.register(customer, founder, founder_units=2)  # Ada: 10 votes
    offer = town.offer(bakery, min_units=1)
    town.accept(bea_key, Subscribe(offer, 11))  # Bea: 11 votes
    town.accept(cal_key, Subscribe(offer, 4))  # Cal: 4 votes
    town.close_offer(offer)
    decision = holders_decision(town, bakery, SetWithdrawalRule(bakery, 1000, 0))
    town.accept(bea_key, Vote(decision, "agree"))
    town.accept(admin_key, Vote(decision, "disagree"))
    result = decisions.tally(town.state, town.state.decisions[decision])
    assert (result.electorate, result.participants, result.direct) == (25, 21, 21)
    assert (result.electorate_people, result.participants_people, result.direct_people) == (3, 2, 2)
    # The community's people leave out the escrow and the enterprise's account, which are members too.
    assert people(town.state) == 4 < sum(1 for member in town.state.members.values() if member.active)


def test_a_dividend_proposal_with_no_holders_says_nothing_was_issued(town: Community) -> None:
    bakery = town.register(customer, investor)
    offer = town.offer(bakery, 1, price=200, min_units=5)
    town.accept(bea_key, Subscribe(offer, 1))
    town.close_offer(offer)  # refunded: under its minimum
    action = Propose("proposal", "Dividend", "", town.now_ms + 60_000, effect=DeclareDividend(bakery, 10),
                     electorate=Holders(bakery))
    error = town.submit(town.sign(admin_key, action))
    assert isinstance(error, BadOfferError) and "no one holds a share of Bakery" in error.message


def test_a_subscription_past_the_debit_limit_says_how_many_shares_fit(town: Community) -> None:
    bakery = town.register(customer, investor)
    offer = town.offer(bakery, 1, price=30_000, min_units=1)
    error = town.submit(town.sign(bea_key, Subscribe(offer, 4)))
    assert isinstance(error, DebitLimitError)
    assert error.message == (
        "Bea would go below the debit limit of -1000.00 TST (the balance would be -1200.00 TST): "
        "subscribe at most 3 shares at 300.00 TST"
    )


def test_a_dividend_needs_the_holders_electorate(town: Community) -> None:
    bakery = town.register(customer)
    action = Propose("proposal", "Dividend", "", deadline_ms, effect=DeclareDividend(bakery, 10))
    assert_refused(town, admin_key, action, BadDecisionError)


def test_a_member_with_shares_cannot_be_removed(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    assert_refused(town, admin_key, RemoveMember(member=cal), SharesOutstandingError)


def test_a_replica_refolding_the_feed_gets_the_same_fills_and_state(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    town.order(bea_key, bakery, "sell", 10, 250)
    town.order(cal_key, bakery, "sell", 3, 240)
    town.order(dee_key, bakery, "buy", 8, 260)
    town.accept(cal_key, PlaceOrder(bakery, 0, "buy", 2, 100))
    refolded, _ = refold(town.genesis_bytes, town.events)
    assert state_digest(refolded) == state_digest(town.state)
    assert refolded.shares.trades == town.state.shares.trades


# ---- escrow belongs to its owners -----------------------------------------------------------------


def test_nobody_pays_the_escrow_directly(traded: tuple[Community, bytes]) -> None:
    town, bakery = traded
    town.order(dee_key, bakery, "buy", 1, 100)  # the escrow holds Dee's reservation
    assert_refused(town, bea_key, Transfer(to=shares.escrow_id(town.feed), amount_minor=1), NotAuthorizedError)


def test_what_escrow_holds_for_a_member_counts_against_what_others_may_pay_them(town: Community) -> None:
    bakery = town.register(customer)
    town.accept(admin_key, SetLimits(account=bea, debit_limit_minor=100_000, credit_ceiling_minor=1000))
    offer = town.offer(bakery, min_units=100)
    town.accept(bea_key, Subscribe(offer, 5))  # 500 in escrow, Bea at -500
    town.accept(cal_key, Transfer(to=bea, amount_minor=1000))  # Bea at 500, 500 more coming back
    assert_refused(town, cal_key, Transfer(to=bea, amount_minor=1), CreditCeilingError)
    assert_refused(town, admin_key, SetLimits(account=bea, debit_limit_minor=100_000, credit_ceiling_minor=999),
                   LimitBelowBalanceError)
    assert town.close_offer(offer) == "refunded"
    assert town.balance(bea) == 1000  # at her ceiling, not past it


# ---- an offer's time on the log's own clock (issue 12) ------------------------------------------


def test_an_offer_with_a_period_open_runs_from_its_events_own_time_after_a_jump_in_the_log(town: Community) -> None:
    from tallystick.protocol.events import OpenOfferWithPeriod

    bakery = town.register(customer)
    town.now_ms = 5_000_000_000_000  # the log's time jumped far ahead of any member's clock
    absolute = OpenOffer(bakery, 0, 100, 100, 10, 100, 1_800_000_000_000)  # the manager's clock: "past" here
    assert_refused(town, admin_key, absolute, DeadlinePassedError)
    offer = town.accept(admin_key, OpenOfferWithPeriod(bakery, 0, 100, 100, 10, 100, 0, open_for_ms=60_000)).seq
    assert town.state.shares.offers[offer].deadline_ms == town.now_ms + 60_000
    town.accept(bea_key, Subscribe(offer=offer, units=20))
    assert shares.due_offer_closes(town.state, town.now_ms + 59_999) == []
    assert town.close_offer(offer) == "allotted" and town.held(bakery, bea) == 20


def test_an_offer_with_both_a_deadline_and_a_period_is_refused(town: Community) -> None:
    from tallystick.protocol.events import OpenOfferWithPeriod

    bakery = town.register(customer)
    both = OpenOfferWithPeriod(bakery, 0, 100, 100, 10, 100, town.now_ms + 60_000, open_for_ms=60_000)
    assert_refused(town, admin_key, both, BadOfferError)
