"""The federation's event bodies: what a community's node appends to its own feed to found, run
and trade within federations.

How this works: a federation has no feed and no key of its own. Each founding community appends the
same `Charter` to its own feed; the federation's id is the hash of the charter's canonical bytes
(`federation_id`), so every member derives the same id from its own copy. A federation decides by
`FederationProposal`s and `FederationVote`s that its members append to their own feeds; each member
casts exactly one ballot per federation epoch (its first vote naming that epoch), a yes on one
proposal or an abstention, so with a quorum above half of the members two proposals of one epoch
can never both pass without a member forking its own feed (docs/federation.md, "Federation
protocol", gives the whole argument). federation/state.py folds these bodies, read from the
members' replicated feeds, into the federation's state.

The bodies that move no credit join the community's `Body` union in events.py through
`FederationBody`; the community's ledger (ledger/transition.py) keeps them as records. The cross-community
payment bodies at the end move credit in the appending community's ledger: they join the union
through `PaymentBody`, and ledger/payments.py has their transitions.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from . import limits
from .ids import hash32
from .personal import Committed
from .types import AmountMinor, Decimals, Id32, LimitMinor, Memo, Name, Tagged, Text, Title, UnitCode

# A quorum is always more than half of the members: two quorums then share a member, and that
# member's one ballot per epoch can be a yes for only one of two proposals (the safety argument).
QuorumBasisPoints = Annotated[int, Meta(ge=limits.federation_quorum_bp_min, le=limits.basis_points_max)]
Epoch = Annotated[int, Meta(ge=0, le=limits.int64_max)]
RatePart = Annotated[int, Meta(ge=1, le=limits.amount_minor_max)]


class CharterMember(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """A member of a federation (a community's feed id, or a child federation's id) and how its
    unit converts: one minor unit of the member's unit is `rate_num / rate_den` minor units of the
    federation's unit."""

    member: Id32
    unit_code: UnitCode
    rate_num: RatePart
    rate_den: RatePart


class Charter(Tagged, tag="charter"):
    """A federation's founding charter (System 5: policy). More than half of the members
    (`quorum_bp` of them, rounded up) must vote yes for a federation decision to pass.
    `founded_ms` and `name` make two charters of the same members distinct. The federation is
    founded once every member named has adopted this charter: a community by appending it to its
    own feed, a child federation by a passed `JoinFederation` decision."""

    name: Name
    unit_code: UnitCode
    unit_decimals: Decimals
    members: Annotated[tuple[CharterMember, ...], Meta(min_length=1, max_length=limits.federation_members_max)]
    quorum_bp: QuorumBasisPoints
    founded_ms: Annotated[int, Meta(ge=0, le=limits.int64_max)]


# ---- what a federation decision can change ----------------------------------------------------


class AdmitFederationMember(Tagged, tag="fed_admit"):
    """Admit a community or a child federation, with its unit's conversion rate."""

    member: CharterMember


class ExpelFederationMember(Tagged, tag="fed_expel"):
    """Expel a member. Its ballots from the next epoch on no longer count; its capacity share and
    trade limits go with it."""

    member: Id32


class AmendCharter(Tagged, tag="fed_amend"):
    """Change the charter's name and quorum (membership changes by admit and expel, rates by
    `SetExchangeRate`)."""

    name: Name
    quorum_bp: QuorumBasisPoints


class SetExchangeRate(Tagged, tag="fed_rate"):
    """Change how a member's unit converts into the federation's unit."""

    member: Id32
    unit_code: UnitCode
    rate_num: RatePart
    rate_den: RatePart


class CapacityShare(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    member: Id32
    capacity_minor: LimitMinor


class AllocateCapacity(Tagged, tag="fed_allocate"):
    """Divide the federation's capacity (the limit on its net position in its parent) among its
    members, in the federation's unit. Replaces every earlier allocation; a member not listed gets
    none. For a federation with a parent, the shares must sum to at most its own capacity there."""

    shares: Annotated[tuple[CapacityShare, ...], Meta(max_length=limits.federation_members_max)]


class SetTradeLimits(Tagged, tag="fed_trade_limits"):
    """A member's balance-of-trade limits in the federation, in the federation's unit: how far its
    trade account may go below zero (it imports more than it exports) and above zero."""

    member: Id32
    debit_limit_minor: LimitMinor
    credit_ceiling_minor: LimitMinor


class JoinFederation(Tagged, tag="fed_join"):
    """The deciding federation adopts the charter of `federation` (a parent founding it, or one
    that admitted it): how a federation, which has no feed, does what a community does by
    appending the charter."""

    federation: Id32


class VoteInParent(Tagged, tag="fed_vote_in_parent"):
    """The deciding federation's ballot in parent `federation`'s epoch: a yes on `proposal`, or an
    abstention (None). A federation member votes only by its own decisions."""

    federation: Id32
    epoch: Epoch
    proposal: Id32 | None


FederationEffect = (
    AdmitFederationMember
    | ExpelFederationMember
    | AmendCharter
    | SetExchangeRate
    | AllocateCapacity
    | SetTradeLimits
    | JoinFederation
    | VoteInParent
)


# ---- deciding ---------------------------------------------------------------------------------


class FederationProposal(Tagged, tag="fed_propose"):
    """A proposal in `federation`'s `epoch`, by a community of the federation (a member, or a
    community under a member federation). `previous` is the id of the federation's last passed
    decision before this epoch (the federation id if none): the passed decisions form a hash
    chain, which is what lets a quorum certificate prove the membership it counts. A yes vote
    counts only if its event's ts is at most `deadline_ms`. The proposal's id is the hash of this
    body's canonical bytes (`proposal_id`)."""

    federation: Id32
    epoch: Epoch
    previous: Id32
    deadline_ms: Annotated[int, Meta(ge=0, le=limits.int64_max)]
    title: Title
    text: Text
    effect: FederationEffect


class FederationVote(Tagged, tag="fed_vote"):
    """A community's ballot in `federation`'s `epoch`: yes on `proposal` (an id), or an abstention
    (None) that says "I back nothing in this epoch". A community has one ballot per epoch: its
    first vote naming the epoch. A later one is ignored, and is evidence of equivocation if it
    chooses differently. A node abstains once every proposal of the epoch it knows is past its
    deadline: that is what lets a stalled epoch end."""

    federation: Id32
    epoch: Epoch
    proposal: Id32 | None


FederationBody = Charter | FederationProposal | FederationVote

# The federation bodies that move no credit in the appending community's ledger: ledger/transition.py
# keeps them as records. A body that moves credit (a payment) needs its transition in the domain.
ledger_neutral_bodies: tuple[type, ...] = (Charter, FederationProposal, FederationVote)

federation_body_kinds: frozenset[str] = frozenset({"charter", "fed_propose", "fed_vote"})


# ---- cross-community payments (they move credit: ledger/payments.py has their transitions) ------
#
# Member A of community C1 pays member B of community C2. The payment's id is the hash of the
# `PaymentOut` event (the exact signed bytes). C1 appends `PaymentOut` (A debited, the amount held
# in C1's trade account); C2, and only C2, answers with `PaymentAccepted` (B credited) or
# `PaymentRejected`; C1 then appends `PaymentSettled` or `PaymentReturned` (A refunded). A
# `PaymentOut` not answered by `expires_ms` may be returned by C1 only after C2 has answered a
# `PaymentCancel` with a rejection, so a payment is never both returned and credited.
# federation/payments.py is the pure state machine of one payment as both sides see it.


class PaymentOut(Tagged, tag="payment_sent"):
    """C1 sends a payment: `intent` is the payer's signed intent carried verbatim (so the node
    cannot forge it), `payer` its member id, `amount_minor` in C1's unit, `federation` the lowest
    federation both communities are under (the route, and the rates, come from its charters).
    (The tag is not "payment_out": tests/vectors use that name as an unknown kind.)"""

    federation: Id32
    to_community: Id32
    to_member: Id32
    payer: Id32
    amount_minor: AmountMinor
    expires_ms: Annotated[int, Meta(ge=0, le=limits.int64_max)]
    memo: Memo | Committed
    intent: Annotated[bytes, Meta(max_length=limits.intent_bytes_max)]


class PaymentOutSealed(PaymentOut, tag="payment_sent_sealed"):
    """A `payment_sent` whose memo is committed (protocol/personal.py): `box` holds its opening,
    sealed under the data key the payer's node keeps for `subject` (the payer). The other
    community folds the payment without it: a memo across is read only in the payer's community."""

    subject: Id32
    box: Annotated[bytes, Meta(max_length=limits.sealed_box_bytes_max)]


class PaymentAccepted(Tagged, tag="payment_accepted"):
    """C2 accepts payment `payment` (the hash of the PaymentOut event, from community
    `from_community`): `to_member` credited with `amount_minor` in C2's unit, converted by the
    charters' rates."""

    payment: Id32
    from_community: Id32
    amount_minor: AmountMinor
    # Who is credited and through which federation's trade account, so that C2's own feed says
    # everything its ledger does (a replica of C2 alone can check it).
    federation: Id32
    to_member: Id32


PaymentRejectReason = Literal[
    "unknown_member", "account_closed", "credit_ceiling", "trade_limit", "capacity", "expired", "cancelled", "refused"
]


class PaymentRejected(Tagged, tag="payment_rejected"):
    """C2 refuses payment `payment`; nothing moves in C2. C1 returns the held amount."""

    payment: Id32
    from_community: Id32
    reason: PaymentRejectReason


class PaymentSettled(Tagged, tag="payment_settled"):
    """C1 records that C2 accepted `payment` (`acceptance` is the hash of C2's PaymentAccepted
    event): the held amount leaves C1 for good, through its trade account."""

    payment: Id32
    acceptance: Id32


class PaymentReturned(Tagged, tag="payment_returned"):
    """C1 gives the held amount back to the payer, after C2's rejection (`rejection`, the hash of
    C2's PaymentRejected event)."""

    payment: Id32
    rejection: Id32


class PaymentCancel(Tagged, tag="payment_cancel"):
    """C1 asks C2 to refuse `payment` (the payer asked, or it expired). Only a request: C2 answers
    with PaymentRejected(reason "cancelled"), or PaymentAccepted if it had already accepted."""

    payment: Id32
    to_community: Id32


PaymentBody = PaymentOut | PaymentOutSealed | PaymentAccepted | PaymentRejected | PaymentSettled | PaymentReturned | PaymentCancel

payment_body_kinds: frozenset[str] = frozenset(
    {"payment_sent", "payment_sent_sealed", "payment_accepted", "payment_rejected", "payment_settled", "payment_returned", "payment_cancel"}
)


# ---- ids ---------------------------------------------------------------------------------------

_encoder = msgspec.msgpack.Encoder()


def federation_id(charter: Charter) -> bytes:
    """The federation's id: the hash of its charter's canonical encoding (events.py encodes with
    the same default msgspec msgpack encoder, so these are the bytes inside the charter event)."""
    return hash32(_encoder.encode(charter))


def proposal_id(proposal: FederationProposal) -> bytes:
    """A proposal's id: the hash of its canonical encoding. Content-addressed, so a proposer that
    forks its feed cannot make one id mean two proposals."""
    return hash32(_encoder.encode(proposal))


def quorum_votes(members: int, quorum_bp: int) -> int:
    """Yes ballots needed among `members`: the fewest whose share, rounded to the nearest basis
    point, reaches `quorum_bp` (the rule of every bar, docs/decisions.md), i.e. the least k with
    2 x k x 10000 >= (2 x quorum_bp - 1) x members. With quorum_bp above half, twice this is more
    than `members`: two quorums always share a member."""
    return max(1, -(-(2 * quorum_bp - 1) * members // (2 * limits.basis_points_max)))
