"""The cross-community payment state machine: every refusal, unit conversion with its rounding
rule, and, under random sequences of attempted steps (retries after restarts, late answers,
cancellations racing acceptances), a payment never settles twice and is never both credited and
returned."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tallystick.federation.payments import (
    Payment,
    PaymentConversionError,
    PaymentError,
    PaymentMismatchError,
    PaymentRouteError,
    PaymentStateError,
    PaymentWrongCommunityError,
    RateStep,
    apply,
    convert,
    route,
    send,
)
from tallystick.federation.state import fold
from tallystick.protocol import limits
from tallystick.protocol.federation import (
    CharterMember,
    JoinFederation,
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
    federation_id,
)
from tallystick.protocol.ids import hash32

from helpers.federation import Community, charter_of, found, start_ms

c1, c2, c3 = hash32(b"c1"), hash32(b"c2"), hash32(b"c3")
payer, payee, federation = hash32(b"alice"), hash32(b"bob"), hash32(b"valley")
payment_id = hash32(b"the PaymentOut event")
expires_ms = start_ms + 60_000


def sent(amount_minor: int = 1000) -> Payment:
    body = PaymentOut(
        federation=federation,
        to_community=c2,
        to_member=payee,
        payer=payer,
        amount_minor=amount_minor,
        expires_ms=expires_ms,
        memo="",
        intent=b"",
    )
    return send(payment_id, c1, start_ms, body)


def accepted_body(amount_minor: int = 1000, **changes: Any) -> PaymentAccepted:
    """An acceptance, naming the payee and federation if this version of the body has them."""
    fields: dict[str, Any] = {"payment": payment_id, "from_community": c1, "amount_minor": amount_minor}
    extra = {"federation": federation, "to_member": payee}
    fields.update({name: value for name, value in extra.items() if name in PaymentAccepted.__struct_fields__})
    fields.update(changes)
    return PaymentAccepted(**fields)


def rejected_body(reason: str = "refused") -> PaymentRejected:
    return PaymentRejected(payment=payment_id, from_community=c1, reason=reason)  # type: ignore[arg-type]


acceptance, rejection = hash32(b"acceptance event"), hash32(b"rejection event")


def test_an_accepted_payment_settles_once() -> None:
    payment = apply(sent(), c2, start_ms + 1, acceptance, accepted_body(), converted_minor=1000)
    assert (payment.status, payment.credited_minor) == ("accepted", 1000)
    payment = apply(payment, c1, start_ms + 2, hash32(b"s"), PaymentSettled(payment=payment_id, acceptance=acceptance))
    assert payment.status == "settled"
    with pytest.raises(PaymentStateError):
        apply(payment, c1, start_ms + 3, hash32(b"s2"), PaymentSettled(payment=payment_id, acceptance=acceptance))


def test_a_rejected_payment_is_returned_once_and_never_settled() -> None:
    payment = apply(sent(), c2, start_ms + 1, rejection, rejected_body())
    with pytest.raises(PaymentStateError):
        apply(payment, c1, start_ms + 2, hash32(b"s"), PaymentSettled(payment=payment_id, acceptance=rejection))
    payment = apply(payment, c1, start_ms + 2, hash32(b"r"), PaymentReturned(payment=payment_id, rejection=rejection))
    assert payment.status == "returned"
    with pytest.raises(PaymentStateError):
        apply(payment, c1, start_ms + 3, hash32(b"r2"), PaymentReturned(payment=payment_id, rejection=rejection))


def test_only_the_payee_community_answers_and_only_once() -> None:
    with pytest.raises(PaymentWrongCommunityError):
        apply(sent(), c1, start_ms + 1, acceptance, accepted_body(), converted_minor=1000)
    with pytest.raises(PaymentWrongCommunityError):
        apply(sent(), c3, start_ms + 1, rejection, rejected_body())
    payment = apply(sent(), c2, start_ms + 1, rejection, rejected_body())
    with pytest.raises(PaymentStateError):
        apply(payment, c2, start_ms + 2, acceptance, accepted_body(), converted_minor=1000)


def test_only_the_paying_community_settles_returns_or_cancels() -> None:
    payment = apply(sent(), c2, start_ms + 1, acceptance, accepted_body(), converted_minor=1000)
    with pytest.raises(PaymentWrongCommunityError):
        apply(payment, c2, start_ms + 2, hash32(b"s"), PaymentSettled(payment=payment_id, acceptance=acceptance))
    with pytest.raises(PaymentWrongCommunityError):
        apply(sent(), c2, start_ms + 2, hash32(b"c"), PaymentCancel(payment=payment_id, to_community=c2))


def test_an_acceptance_must_credit_what_the_rates_give() -> None:
    with pytest.raises(PaymentMismatchError):
        apply(sent(), c2, start_ms + 1, acceptance, accepted_body(999), converted_minor=1000)
    with pytest.raises(PaymentMismatchError):
        apply(sent(), c2, start_ms + 1, acceptance, accepted_body(1000), converted_minor=None)


@pytest.mark.skipif("to_member" not in PaymentAccepted.__struct_fields__, reason="this body names no payee")
def test_an_acceptance_naming_another_payee_is_refused() -> None:
    with pytest.raises(PaymentMismatchError):
        apply(sent(), c2, start_ms + 1, acceptance, accepted_body(to_member=payer), converted_minor=1000)


def test_a_conclusion_must_name_the_payee_community_s_answer() -> None:
    payment = apply(sent(), c2, start_ms + 1, acceptance, accepted_body(), converted_minor=1000)
    with pytest.raises(PaymentMismatchError):
        apply(payment, c1, start_ms + 2, hash32(b"s"), PaymentSettled(payment=payment_id, acceptance=rejection))


def test_an_event_about_another_payment_is_refused() -> None:
    with pytest.raises(PaymentMismatchError):
        apply(sent(), c2, start_ms + 1, rejection, PaymentRejected(payment=c3, from_community=c1, reason="refused"))


def test_a_payment_to_the_own_community_or_already_expired_is_not_sent() -> None:
    body = PaymentOut(
        federation=federation, to_community=c1, to_member=payee, payer=payer, amount_minor=1,
        expires_ms=expires_ms, memo="", intent=b"",
    )
    with pytest.raises(PaymentWrongCommunityError):
        send(payment_id, c1, start_ms, body)
    with pytest.raises(PaymentStateError):
        send(payment_id, c1, expires_ms, PaymentOut(**{**{f: getattr(body, f) for f in body.__struct_fields__}, "to_community": c2}))


def test_a_cancellation_at_the_expiry_marks_the_payment_expired_and_the_payee_still_decides() -> None:
    early = apply(sent(), c1, start_ms + 1, hash32(b"c"), PaymentCancel(payment=payment_id, to_community=c2))
    assert (early.status, early.cancel_requested) == ("pending", True)
    late = apply(sent(), c1, expires_ms, hash32(b"c"), PaymentCancel(payment=payment_id, to_community=c2))
    assert late.status == "expired"
    # The acceptance crossed the cancellation on the wire: the payee's answer stands.
    accepted = apply(late, c2, expires_ms + 1, acceptance, accepted_body(), converted_minor=1000)
    assert accepted.status == "accepted"
    with pytest.raises(PaymentStateError):
        apply(accepted, c1, expires_ms + 2, hash32(b"c2"), PaymentCancel(payment=payment_id, to_community=c2))


def test_conversion_rounds_down_at_each_step() -> None:
    # 1 C1 unit = 3/2 federation units; 1 C2 unit = 7/1 federation units.
    steps = (RateStep(True, 3, 2), RateStep(False, 7, 1))
    assert convert(1000, steps) == (1000 * 3 // 2) // 7  # 1500 // 7 = 214
    with pytest.raises(PaymentConversionError):
        convert(1, steps)  # 1 -> 1 -> 0
    with pytest.raises(PaymentConversionError):
        convert(limits.amount_minor_max, (RateStep(True, 10, 1),))


@given(
    amount=st.integers(1, limits.amount_minor_max),
    rates=st.lists(
        st.tuples(st.booleans(), st.integers(1, 10**6), st.integers(1, 10**6)), min_size=1, max_size=6
    ),
)
def test_conversion_never_creates_credit(amount: int, rates: list[tuple[bool, int, int]]) -> None:
    steps = tuple(RateStep(up, num, den) for up, num, den in rates)
    exact_num, exact_den = amount, 1
    for step in steps:
        factor_num, factor_den = (step.rate_num, step.rate_den) if step.up else (step.rate_den, step.rate_num)
        exact_num, exact_den = exact_num * factor_num, exact_den * factor_den
    try:
        result = convert(amount, steps)
    except PaymentConversionError:
        return
    assert 1 <= result <= limits.amount_minor_max
    assert result * exact_den <= exact_num  # never above the exact rational amount


def test_route_goes_through_the_lowest_common_federation_with_each_charter_s_rate() -> None:
    a, b, c, d = (Community(name) for name in "abcd")
    west_charter, west = found(a, b, name="West")
    east_charter, east = found(c, d, name="East")
    deadline = start_ms + 60_000
    valley_charter = charter_of(west, east, name="Valley", quorum_bp=10_000)
    valley_charter = valley_charter.__class__(
        **{
            **{f: getattr(valley_charter, f) for f in valley_charter.__struct_fields__},
            "members": (
                CharterMember(member=west, unit_code="WST", rate_num=2, rate_den=1),
                CharterMember(member=east, unit_code="EST", rate_num=1, rate_den=4),
            ),
        }
    )
    valley = federation_id(valley_charter)
    a.append(valley_charter)
    for proposer, other, federation_ in ((a, b, west), (c, d, east)):
        join, _ = proposer.propose(federation_, 0, federation_, JoinFederation(federation=valley), deadline)
        proposer.vote(federation_, 0, join)
        other.vote(federation_, 0, join)
    state = fold(event for community in (a, b, c, d) for event in community.feed_events())
    meeting, steps = route(state, a.id, d.id)
    assert meeting == valley
    # a -> West (1/1) -> Valley (2/1) -> East (divide by 1/4) -> d (divide by 1/1)
    assert steps == (RateStep(True, 1, 1), RateStep(True, 2, 1), RateStep(False, 1, 4), RateStep(False, 1, 1))
    assert convert(10, steps) == 80
    assert route(state, a.id, b.id) == (west, (RateStep(True, 1, 1), RateStep(False, 1, 1)))
    with pytest.raises(PaymentRouteError):
        route(state, a.id, Community("stranger").id)


# ---- random attempts: never settled twice ------------------------------------------------------

attempts = st.lists(
    st.sampled_from(["accept", "reject", "settle", "return", "cancel_early", "cancel_late", "accept_wrong_amount"]),
    max_size=30,
)


@settings(max_examples=300)
@given(attempts=attempts)
def test_whatever_is_attempted_a_payment_settles_at_most_once_and_is_never_both_credited_and_returned(
    attempts: list[str],
) -> None:
    """Nodes restart and retry: any step may be attempted any number of times, in any order. The
    machine takes only what the protocol allows, and the ledgers it drives stay consistent."""
    payment = sent()
    payer_balance = -payment.amount_minor  # PaymentOut debited the payer
    payee_credits = settlements = returns = 0
    for step, attempt in enumerate(attempts):
        ts = start_ms + 1 + step * 10_000  # crosses the expiry on the way
        try:
            if attempt == "accept":
                payment = apply(payment, c2, ts, acceptance, accepted_body(), converted_minor=1000)
                payee_credits += 1
            elif attempt == "accept_wrong_amount":
                payment = apply(payment, c2, ts, acceptance, accepted_body(1001), converted_minor=1000)
                payee_credits += 1
            elif attempt == "reject":
                payment = apply(payment, c2, ts, rejection, rejected_body())
            elif attempt == "settle":
                body = PaymentSettled(payment=payment_id, acceptance=payment.answer or acceptance)
                payment = apply(payment, c1, ts, hash32(b"settled"), body)
                settlements += 1
            elif attempt == "return":
                body_returned = PaymentReturned(payment=payment_id, rejection=payment.answer or rejection)
                payment = apply(payment, c1, ts, hash32(b"returned"), body_returned)
                payer_balance += payment.amount_minor
                returns += 1
            else:
                when = ts if attempt == "cancel_early" else max(ts, expires_ms)
                payment = apply(payment, c1, when, hash32(b"cancel"), PaymentCancel(payment=payment_id, to_community=c2))
        except PaymentError:
            pass
        assert settlements <= 1 and returns <= 1 and payee_credits <= 1
        assert not (payee_credits and returns), "credited in C2 and returned in C1"
        assert not (settlements and payment.credited_minor is None)
        assert payer_balance in (-payment.amount_minor, 0)
        assert (payer_balance == 0) == (payment.status == "returned")
    if payment.status == "settled":
        assert payee_credits == 1 and payment.credited_minor == 1000
