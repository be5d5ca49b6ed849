"""A cross-community payment as both communities see it: a pure state machine. No I/O, no clock.

How this works: member A of community C1 pays member B of community C2. The payment's id is the
hash of C1's `PaymentOut` event. Each event about it moves it one step, and `apply` refuses every
step that is not allowed from where it stands, with a typed error: the sequencer uses it to refuse
an append, a replica to refuse a feed that did not follow the protocol.

    PaymentOut (C1)        -> pending       A debited; the amount held in C1
    PaymentCancel (C1)     -> pending, or expired if at or after expires_ms (a request: C2 answers)
    PaymentAccepted (C2)   -> accepted      B credited in C2 with the converted amount
    PaymentRejected (C2)   -> rejected      nothing moves in C2
    PaymentSettled (C1)    -> settled       the held amount leaves C1 through its trade account
    PaymentReturned (C1)   -> returned      the held amount goes back to A

Only C2 answers, only once; only C1 concludes, only once, and only as C2 answered (its conclusion
names the hash of C2's answer). So a payment is settled at most once, is never both credited in C2
and returned in C1, and a cancellation can never take back what C2 already credited: C2 answers a
cancellation with a rejection only if it had not accepted.

Units: C1's amount converts up the federation tree from C1 to the lowest federation both are under
and down to C2, one charter rate at a time (`route`, `convert`). Each step multiplies by the
member's rate (`rate_num / rate_den`: one minor unit of the member's unit in the federation's unit)
going up, or divides by it going down, in integers, **rounding down** each time: a conversion never
creates credit; the payee bears a loss of under one of its minor units per step. Both communities'
trade positions move by the same amount in each federation's unit, so positions sum to zero.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct
from msgspec.structs import replace as _replace
from tallystick.protocol import limits
from tallystick.protocol.errors import TallyError
from tallystick.protocol.federation import (
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
)

from .state import FederationState

PaymentStatus = Literal["pending", "expired", "accepted", "rejected", "settled", "returned"]
answered_statuses = frozenset({"accepted", "rejected", "settled", "returned"})


# ---- errors -----------------------------------------------------------------------------------


class PaymentError(TallyError):
    """A step of a cross-community payment that the protocol does not allow."""

    code = "payment_refused"
    http_status = 422


class PaymentStateError(PaymentError):
    code = "payment_state"
    http_status = 409


class PaymentWrongCommunityError(PaymentError):
    code = "payment_wrong_community"
    http_status = 403


class PaymentMismatchError(PaymentError):
    code = "payment_mismatch"


class PaymentConversionError(PaymentError):
    code = "payment_conversion"


class PaymentRouteError(PaymentError):
    code = "payment_no_route"


# ---- the machine ------------------------------------------------------------------------------


class Payment(Struct, frozen=True):
    id: bytes  # the hash of the PaymentOut event
    from_community: bytes
    to_community: bytes
    to_member: bytes
    payer: bytes
    federation: bytes
    amount_minor: int  # in C1's unit
    expires_ms: int
    sent_ms: int
    status: PaymentStatus = "pending"
    cancel_requested: bool = False
    credited_minor: int | None = None  # what C2 credited, in C2's unit, once accepted
    answer: bytes | None = None  # the hash of C2's answer event
    conclusion: Literal["settled", "returned"] | None = None


def send(payment_id: bytes, from_community: bytes, ts: int, body: PaymentOut) -> Payment:
    """C1's PaymentOut: a new pending payment."""
    if body.to_community == from_community:
        raise PaymentWrongCommunityError("a cross-community payment goes to another community; pay members here directly")
    if body.expires_ms <= ts:
        raise PaymentStateError("the payment's expiry must be after the event that sends it")
    return Payment(
        id=payment_id,
        from_community=from_community,
        to_community=body.to_community,
        to_member=body.to_member,
        payer=body.payer,
        federation=body.federation,
        amount_minor=body.amount_minor,
        expires_ms=body.expires_ms,
        sent_ms=ts,
    )


def apply(
    payment: Payment,
    by_community: bytes,
    ts: int,
    event_hash: bytes,
    body: PaymentAccepted | PaymentRejected | PaymentCancel | PaymentSettled | PaymentReturned,
    converted_minor: int | None = None,
) -> Payment:
    """The payment after one more event, by community `by_community` at `ts`; `event_hash` is
    that event's hash (an answer's hash is what C1's conclusion must name). `converted_minor` is
    what C2 must credit for an acceptance: `convert(amount_minor, route(...))`, computed by the
    caller from the federation state it holds."""
    if body.payment != payment.id:
        raise PaymentMismatchError("the event is about another payment")
    if isinstance(body, PaymentAccepted | PaymentRejected):
        return _answer(payment, by_community, event_hash, body, converted_minor)
    if by_community != payment.from_community:
        raise PaymentWrongCommunityError("only the paying community cancels, settles or returns its payment")
    if isinstance(body, PaymentCancel):
        if payment.status not in ("pending", "expired"):
            raise PaymentStateError(f"a {payment.status} payment cannot be cancelled: the payee community answered")
        if body.to_community != payment.to_community:
            raise PaymentMismatchError("a cancellation goes to the payment's payee community")
        expired = payment.status == "expired" or ts >= payment.expires_ms
        return _replace(payment, cancel_requested=True, status="expired" if expired else "pending")
    if isinstance(body, PaymentSettled):
        if payment.status != "accepted":
            raise PaymentStateError(f"a {payment.status} payment cannot be settled: only an accepted one, once")
        if body.acceptance != payment.answer:
            raise PaymentMismatchError("the settlement names another event than the payee community's acceptance")
        return _replace(payment, status="settled", conclusion="settled")
    if isinstance(body, PaymentReturned):
        if payment.status != "rejected":
            raise PaymentStateError(f"a {payment.status} payment cannot be returned: only a rejected one, once")
        if body.rejection != payment.answer:
            raise PaymentMismatchError("the return names another event than the payee community's rejection")
        return _replace(payment, status="returned", conclusion="returned")
    raise AssertionError(f"no transition for {type(body).__name__}")  # pragma: no cover


def _answer(
    payment: Payment,
    by_community: bytes,
    event_hash: bytes,
    body: PaymentAccepted | PaymentRejected,
    converted_minor: int | None,
) -> Payment:
    if by_community != payment.to_community:
        raise PaymentWrongCommunityError("only the payee's community accepts or rejects a payment")
    if body.from_community != payment.from_community:
        raise PaymentMismatchError("the answer names another paying community")
    if payment.status in answered_statuses:
        raise PaymentStateError("the payee community already answered this payment; it answers once")
    if isinstance(body, PaymentRejected):
        return _replace(payment, status="rejected", answer=event_hash)
    # An acceptance that names its payee and federation must name the payment's.
    for field in ("to_member", "federation"):
        if getattr(body, field, getattr(payment, field)) != getattr(payment, field):
            raise PaymentMismatchError(f"the acceptance names another {field.replace('_', ' ')} than the payment")
    if converted_minor is None or body.amount_minor != converted_minor:
        raise PaymentMismatchError(
            # The payee's decimals are not in the charters (only its unit's code), so these stay in
            # minor units, and say so: the reader is an operator comparing two feeds.
            f"the acceptance credits {body.amount_minor} minor units of the payee's unit; the charters' rates "
            f"give {converted_minor}: the payee community's node converts differently from this one"
        )
    return _replace(payment, status="accepted", answer=event_hash, credited_minor=body.amount_minor)


# ---- units ------------------------------------------------------------------------------------


class RateStep(Struct, frozen=True):
    """One conversion: up (member unit -> federation unit: times num/den) or down (the inverse)."""

    up: bool
    rate_num: int
    rate_den: int


def route(
    state: FederationState, from_community: bytes, to_community: bytes, meeting: bytes | None = None
) -> tuple[bytes, tuple[RateStep, ...]]:
    """The federation the payment meets at (`meeting`, the one its `PaymentOut` names; by default
    the lowest federation both communities are under), and the rates from C1's unit up to it and
    down to C2's unit, each member's rate as the federation above it states it."""
    if meeting is None:
        meeting = state.lowest_common_federation(from_community, to_community)
    if meeting is None:
        raise PaymentRouteError("the two communities share no federation; a payment needs one above both")
    up = rates_up(state, from_community, meeting)
    down = rates_up(state, to_community, meeting)
    steps = [RateStep(True, rate_num, rate_den) for rate_num, rate_den in up]
    steps += [RateStep(False, rate_num, rate_den) for rate_num, rate_den in reversed(down)]
    return meeting, tuple(steps)


def rates_up(state: FederationState, member: bytes, top: bytes) -> list[tuple[int, int]]:
    """Rates (num, den) from `member` up to `top`, nearest first, along the first path (by id) that reaches it."""
    frontier: list[tuple[bytes, list[tuple[int, int]]]] = [(member, [])]
    seen = {member}
    for _ in range(limits.certificate_depth_max + 1):
        following: list[tuple[bytes, list[tuple[int, int]]]] = []
        for current, rates in frontier:
            for parent in sorted(state.parents.get(current, frozenset())):
                entry = state.federations[parent].members[current]
                path = [*rates, (entry.rate_num, entry.rate_den)]
                if parent == top:
                    return path
                if parent not in seen:
                    seen.add(parent)
                    following.append((parent, path))
        frontier = following
    raise PaymentRouteError("no path of federations joins the community to the one above both")


def convert(amount_minor: int, steps: tuple[RateStep, ...]) -> int:
    """`amount_minor` through each step, in integers, rounding down at each step. Refused if the
    result is below one minor unit or above amount_minor_max."""
    value = amount_minor
    for step in steps:
        if step.up:
            value = value * step.rate_num // step.rate_den
        else:
            value = value * step.rate_den // step.rate_num
    if value < 1:
        raise PaymentConversionError("the amount converts to less than one minor unit of the payee's unit; send more")
    if value > limits.amount_minor_max:
        raise PaymentConversionError("the amount converts to more than amount_minor_max of the payee's unit")
    return value
