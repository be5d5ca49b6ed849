"""Payments across communities in each community's own ledger (node/payments.py): two ledgers, C1
and C2, written as their sequencers write them; each side's events audited as a replica of that
side alone would audit them."""

from __future__ import annotations

import pytest
from immutables import Map
from msgspec.structs import replace
from tallystick.federation.rounds import answer_for
from tallystick.federation.state import fold
from tallystick.federation.view import Held
from tallystick.ledger import payments
from tallystick.ledger.accounts import held_for
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import (
    CapacityShareError,
    DebitLimitError,
    DomainError,
    NotAuthorizedError,
    NotDueError,
    NotInFederationError,
    PaymentAnsweredError,
    UnknownPaymentError,
)
from tallystick.ledger.transition import audit, intent_body, validate
from tallystick.protocol.codec import decode_event
from tallystick.protocol.events import (
    Act,
    AdmitMember,
    CapacityLimits,
    FederationAct,
    PayAcross,
    SetLimits,
    TradeLimits,
)
from tallystick.protocol.federation import (
    Charter,
    CharterMember,
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
    federation_id,
)
from tallystick.protocol.ids import hash32

from helpers.ledger import ClockedLedger, admin_key, key, refold

ada_key, bea_key = key("ada of c1"), key("bea of c2")
start_ms = 1_000_000


class Side(ClockedLedger):
    """One community; its node bodies go through `audit`."""

    def __init__(self, name: str, member: bytes, member_name: str) -> None:
        super().__init__(now_ms=start_ms, debit_limit_minor=1000, credit_ceiling_minor=1000,
                         admin_name=f"Admin of {name}")
        self.accept(admin_key, AdmitMember(member=member, name=member_name))

    def balance(self, account: bytes) -> int:
        return self.state.accounts[account].balance_minor


def founded() -> tuple[Side, Side, bytes]:
    """C1 (Ada) and C2 (Bea) adopt one charter; the federation lets each go 500 either way."""
    c1, c2 = Side("C1", ada_key.public, "Ada"), Side("C2", bea_key.public, "Bea")
    charter = Charter("Valley", "VAL", 2, (CharterMember(c1.feed, "TST", 1, 1), CharterMember(c2.feed, "TST", 1, 1)),
                      6000, start_ms)
    valley = federation_id(charter)
    for side in (c1, c2):
        side.accept(admin_key, FederationAct(body=charter))
        side.audited(charter)
        side.audited(TradeLimits(valley, valley, 500, 500))
    return c1, c2, valley


def send(c1: Side, c2: Side, valley: bytes, amount: int) -> tuple[bytes, PaymentOut]:
    signed = c1.sign(ada_key, PayAcross(valley, c2.feed, bea_key.public, amount, "cheese"))
    assert validate(c1.state, signed.intent, c1.now_ms) is None
    body = intent_body(c1.state, signed.intent, signed.raw, c1.now_ms)
    assert isinstance(body, PaymentOut)
    c1.audited(body, signed.intent)
    return c1.head, body


def test_a_payment_sent_accepted_and_settled_moves_credit_in_both_ledgers() -> None:
    c1, c2, valley = founded()
    payment, _ = send(c1, c2, valley, 300)
    trade1 = c1.state.payments.trade[valley]
    assert c1.balance(ada_key.public) == -300 and c1.balance(trade1) == 300
    assert payment in c1.state.payments.pending and payments.position(c1.state, valley) == -300
    assert payments.incoming_refusal(c2.state, valley, bea_key.public, 300) is None
    c2.audited(PaymentAccepted(payment, c1.feed, 300, valley, bea_key.public))
    assert c2.balance(bea_key.public) == 300 and payments.position(c2.state, valley) == 300
    c1.audited(PaymentSettled(payment, c2.head))
    assert not c1.state.payments.pending and c1.balance(ada_key.public) == -300
    for side in (c1, c2):
        assert sum(a.balance_minor for a in side.state.accounts.values()) == 0


def test_a_rejected_payment_is_returned_to_the_payer() -> None:
    c1, c2, valley = founded()
    payment, _ = send(c1, c2, valley, 300)
    c2.audited(PaymentRejected(payment, c1.feed, "unknown_member"))
    c1.audited(PaymentReturned(payment, c2.head))
    assert c1.balance(ada_key.public) == 0 and c1.balance(c1.state.payments.trade[valley]) == 0


def test_a_payment_is_answered_and_settled_only_once() -> None:
    c1, c2, valley = founded()
    payment, _ = send(c1, c2, valley, 100)
    c2.audited(PaymentAccepted(payment, c1.feed, 100, valley, bea_key.public))
    acceptance = c2.head
    for second in (PaymentAccepted(payment, c1.feed, 100, valley, bea_key.public),
                   PaymentRejected(payment, c1.feed, "refused")):
        _, event = c2.next_event(second)
        with pytest.raises(PaymentAnsweredError):
            audit(c2.state, event, None)
    c1.audited(PaymentSettled(payment, acceptance))
    for again in (PaymentSettled(payment, acceptance), PaymentReturned(payment, acceptance)):
        _, event = c1.next_event(again)
        with pytest.raises(UnknownPaymentError):
            audit(c1.state, event, None)


def test_the_other_community_cannot_accept_what_its_own_rules_refuse() -> None:
    c1, c2, valley = founded()
    payment, _ = send(c1, c2, valley, 300)
    _, over_ceiling = c2.next_event(PaymentAccepted(payment, c1.feed, 1001, valley, bea_key.public))
    with pytest.raises(NotAuthorizedError):
        audit(c2.state, over_ceiling, None)
    assert payments.incoming_refusal(c2.state, valley, bea_key.public, 1001) == "credit_ceiling"
    assert payments.incoming_refusal(c2.state, valley, b"\x09" * 32, 10) == "unknown_member"
    assert payments.incoming_refusal(c2.state, valley, bea_key.public, 501) == "trade_limit"


def test_a_payment_past_the_trade_limit_is_refused_at_the_payers_node() -> None:
    c1, c2, valley = founded()
    send(c1, c2, valley, 400)
    error = validate(c1.state, c1.sign(ada_key, PayAcross(valley, c2.feed, bea_key.public, 101)).intent, c1.now_ms)
    assert isinstance(error, NotAuthorizedError) and "balance-of-trade" in error.message
    assert "pay at most 1.00 TST across now" in error.message


def test_a_payment_across_past_the_payers_debit_limit_says_the_most_in_major_units() -> None:
    c1, c2, valley = founded()
    c1.accept(admin_key, SetLimits(ada_key.public, 300, None))
    error = validate(c1.state, c1.sign(ada_key, PayAcross(valley, c2.feed, bea_key.public, 450)).intent, c1.now_ms)
    assert isinstance(error, DebitLimitError)
    assert error.message == (
        "Ada would go below the debit limit of -3.00 TST (the balance would be -4.50 TST): pay at most 3.00 TST"
    )


def test_a_payment_through_a_federation_not_adopted_or_to_the_same_community_is_refused() -> None:
    c1, c2, valley = founded()
    stranger = c1.sign(ada_key, PayAcross(b"\x07" * 32, c2.feed, bea_key.public, 10))
    assert isinstance(validate(c1.state, stranger.intent, c1.now_ms), NotInFederationError)
    home = c1.sign(ada_key, PayAcross(valley, c1.feed, bea_key.public, 10))
    assert isinstance(validate(c1.state, home.intent, c1.now_ms), DomainError)


def test_a_payment_sent_event_must_match_the_members_intent() -> None:
    c1, c2, valley = founded()
    signed = c1.sign(ada_key, PayAcross(valley, c2.feed, bea_key.public, 100))
    honest = intent_body(c1.state, signed.intent, signed.raw, c1.now_ms)
    assert isinstance(honest, PaymentOut)
    _, forged = c1.next_event(replace(honest, amount_minor=99))
    with pytest.raises(NotAuthorizedError):
        audit(c1.state, forged, signed.intent)
    _, as_act = c1.next_event(Act(intent=signed.raw))
    with pytest.raises(NotAuthorizedError):
        audit(c1.state, as_act, signed.intent)


def test_a_cancel_waits_for_expiry_and_a_pending_payment_counts_against_the_payers_ceiling() -> None:
    c1, c2, valley = founded()
    payment, body = send(c1, c2, valley, 300)
    _, early = c1.next_event(PaymentCancel(payment, c2.feed))
    with pytest.raises(NotDueError):
        audit(c1.state, early, None)
    c1.now_ms = body.expires_ms
    c1.audited(PaymentCancel(payment, c2.feed))
    assert c1.state.payments.pending[payment].cancel_sent
    # Ada is at -300 with 300 on its way back if C2 refuses: she may receive at most 1000 more.
    assert held_for(c1.state, ada_key.public) == 300


def test_both_sides_refold_from_their_bytes_to_the_same_state() -> None:
    c1, c2, valley = founded()
    payment, _ = send(c1, c2, valley, 200)
    c2.audited(PaymentAccepted(payment, c1.feed, 200, valley, bea_key.public))
    c1.audited(PaymentSettled(payment, c2.head))
    for side in (c1, c2):
        refolded, _ = refold(side.genesis_bytes, side.events)
        assert state_digest(refolded) == state_digest(side.state)
        assert refolded.payments == side.state.payments


# ---- through a confederation: each community's share of its federation's capacity ---------------


def confederated(share: int = 200) -> tuple[Side, Side, bytes, bytes, bytes]:
    """C1 (Ada) alone in federation F1, C2 (Bea) alone in F2, both federations members of P; each
    community's node has applied its federation's allocation: `share` either way through P."""
    c1, c2 = Side("C1", ada_key.public, "Ada"), Side("C2", bea_key.public, "Bea")
    f1_charter = Charter("Hills", "HIL", 2, (CharterMember(c1.feed, "TST", 1, 1),), 6000, start_ms)
    f2_charter = Charter("Coast", "CST", 2, (CharterMember(c2.feed, "TST", 1, 1),), 6000, start_ms)
    f1, f2 = federation_id(f1_charter), federation_id(f2_charter)
    top = federation_id(Charter("Island", "ISL", 2, (CharterMember(f1, "HIL", 1, 1), CharterMember(f2, "CST", 1, 1)),
                                6000, start_ms))
    for side, charter, own in ((c1, f1_charter, f1), (c2, f2_charter, f2)):
        side.accept(admin_key, FederationAct(body=charter))
        side.audited(charter)
        side.audited(TradeLimits(own, own, 1000, 1000))
        side.audited(CapacityLimits(own, own, (top,), share))
    return c1, c2, f1, f2, top


def send_through(c1: Side, c2: Side, top: bytes, amount: int) -> bytes:
    signed = c1.sign(ada_key, PayAcross(top, c2.feed, bea_key.public, amount, "wool"))
    error = validate(c1.state, signed.intent, c1.now_ms)
    if error is not None:
        raise error
    body = intent_body(c1.state, signed.intent, signed.raw, c1.now_ms)
    c1.audited(body, signed.intent)
    return c1.head


def test_a_payment_through_a_confederation_moves_each_sides_own_trade_account_and_counts_its_share() -> None:
    c1, c2, f1, f2, top = confederated()
    payment = send_through(c1, c2, top, 150)
    assert payments.position(c1.state, f1) == -150
    assert c1.state.payments.capacity[f1].used == (-150,) and c1.state.payments.capacity[f1].held == (150,)
    assert payments.incoming_refusal(c2.state, top, bea_key.public, 150) is None
    c2.audited(PaymentAccepted(payment, c1.feed, 150, top, bea_key.public))
    assert payments.position(c2.state, f2) == 150 and c2.state.payments.capacity[f2].used == (150,)
    c1.audited(PaymentSettled(payment, c2.head))
    assert c1.state.payments.capacity[f1].held == (0,) and c1.state.payments.capacity[f1].used == (-150,)
    for side in (c1, c2):
        assert sum(a.balance_minor for a in side.state.accounts.values()) == 0
        refolded, _ = refold(side.genesis_bytes, side.events)
        assert state_digest(refolded) == state_digest(side.state) and refolded.payments == side.state.payments


def test_a_community_paying_past_its_share_of_the_capacity_is_refused_locally() -> None:
    c1, c2, f1, _, top = confederated(share=200)
    send_through(c1, c2, top, 150)
    with pytest.raises(CapacityShareError) as refused:
        send_through(c1, c2, top, 51)
    assert "share" in refused.value.message and "2.00 TST" in refused.value.message
    assert "at most 0.50 TST fits" in refused.value.message
    assert c1.state.payments.capacity[f1].used == (-150,)
    send_through(c1, c2, top, 50)  # exactly the share is allowed


def test_a_community_receiving_past_its_share_rejects_and_cannot_accept() -> None:
    c1, c2, _, _, top = confederated(share=200)
    payment = send_through(c1, c2, top, 150)
    c2.audited(PaymentAccepted(payment, c1.feed, 150, top, bea_key.public))
    assert payments.incoming_refusal(c2.state, top, bea_key.public, 51) == "capacity"
    _, over = c2.next_event(PaymentAccepted(b"\x05" * 32, c1.feed, 51, top, bea_key.public))
    with pytest.raises(NotAuthorizedError):
        audit(c2.state, over, None)


def test_a_returned_payment_gives_its_share_back_and_held_payments_count_against_receiving() -> None:
    c1, c2, f1, _, top = confederated(share=200)
    payment = send_through(c1, c2, top, 180)
    # 180 held out may come back: C1 can receive only 200 - (-180 + 180) = 200, not 201.
    assert payments.incoming_refusal(c1.state, top, ada_key.public, 200) is None
    assert payments.incoming_refusal(c1.state, top, ada_key.public, 201) == "capacity"
    c2.audited(PaymentRejected(payment, c1.feed, "refused"))
    c1.audited(PaymentReturned(payment, c2.head))
    assert c1.state.payments.capacity[f1].used == (0,) and c1.state.payments.capacity[f1].held == (0,)


def test_without_a_share_or_a_chain_a_payment_above_is_refused_with_a_clear_error() -> None:
    c1, c2, _, _, top = confederated(share=0)
    with pytest.raises(CapacityShareError):
        send_through(c1, c2, top, 1)
    unknown = c1.sign(ada_key, PayAcross(b"\x08" * 32, c2.feed, bea_key.public, 1))
    assert isinstance(validate(c1.state, unknown.intent, c1.now_ms), NotInFederationError)


def test_a_capacity_body_for_a_federation_not_adopted_or_naming_itself_is_refused() -> None:
    c1, _, f1, _, top = confederated()
    for bad in (CapacityLimits(b"\x06" * 32, f1, (top,), 10), CapacityLimits(f1, f1, (f1,), 10),
                CapacityLimits(f1, f1, (top, top), 10)):
        _, event = c1.next_event(bad)
        with pytest.raises(DomainError):
            audit(c1.state, event, None)


def test_a_new_chain_keeps_the_counts_of_the_levels_it_shares_and_starts_new_ones_at_zero() -> None:
    c1, c2, f1, _, top = confederated(share=200)
    send_through(c1, c2, top, 100)
    higher = b"\x04" * 32
    c1.audited(CapacityLimits(f1, f1, (top, higher), 300))
    capacity = c1.state.payments.capacity[f1]
    assert capacity.used == (-100, 0) and capacity.held == (100, 0) and capacity.share_minor == 300
    c1.audited(CapacityLimits(f1, f1, (higher,), 300))
    assert c1.state.payments.capacity[f1].used == (-100,)  # level 0 is still "trade leaving F1"


def test_the_payee_answers_a_payment_a_forked_feed_sent_before_its_fork_and_refuses_one_from_it_on() -> None:
    c1, c2, valley = founded()
    send(c1, c2, valley, 100)
    raw, seq = c1.events[-1], c1.seq
    item = Held(c1.feed, seq, raw, decode_event(raw), hash32(raw))
    clean = fold([])
    assert isinstance(answer_for(c2.state, clean, item, 100, False, start_ms), PaymentAccepted)
    forked_after = replace(clean, forks=Map({c1.feed: seq + 1}))
    assert isinstance(answer_for(c2.state, forked_after, item, 100, False, start_ms), PaymentAccepted)
    for fork_seq in (seq, seq - 1):
        forked = replace(clean, forks=Map({c1.feed: fork_seq}))
        answer = answer_for(c2.state, forked, item, 100, False, start_ms)
        assert isinstance(answer, PaymentRejected) and answer.reason == "refused"
    cancelled = answer_for(c2.state, clean, item, 100, True, start_ms)
    assert isinstance(cancelled, PaymentRejected) and cancelled.reason == "cancelled"
    late = answer_for(c2.state, clean, item, 100, False, item.event.body.expires_ms + 1)
    assert isinstance(late, PaymentRejected) and late.reason == "expired"
