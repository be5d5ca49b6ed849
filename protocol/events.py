"""The event envelope, member intents, and every body and action type.

How this works: every structure is a frozen msgspec Struct encoded as a msgpack *array* in field
order (``array_like=True``); a tagged union puts its tag (a short string) as the first element.
So an event is ``[v, feed, seq, prev, ts, body, sig]`` and a transfer action is
``["transfer", to, amount_minor, memo]``. Sizes are bounded in the types, so decoding a hostile
message fails at the first oversize field instead of after allocating it. docs/protocol.md gives
the exact bytes; tests/vectors/ holds golden encodings.
"""

from __future__ import annotations

import typing
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from . import limits
from .federation import FederationBody, PaymentBody
from .personal import Committed, Personal
from .types import (
    Admission,
    AmountMinor,
    Audience,
    BasisPoints,
    Decimals,
    DecisionClass,
    DecisionType,
    Id32,
    LimitMinor,
    Memo,
    Name,
    Nonce,
    OptionIndex,
    Outcome,
    Position,
    Role,
    Seq,
    Signature,
    Text,
    TimestampMs,
    Title,
    Topic,
    UnitCode,
)
from .types import (
    Tagged as _Tagged,
)

# ---- member actions: what a member signs inside an intent -------------------------------------


class AdmitMember(_Tagged, tag="admit"):
    """Admit `member` (the key the new member will sign with; it becomes their member id)."""

    member: Id32
    name: Name | Personal
    role: Role = "member"


class RemoveMember(_Tagged, tag="remove"):
    """Close a member's account. Its balance must be zero: debts and credits are settled first."""

    member: Id32


class SetRole(_Tagged, tag="set_role"):
    member: Id32
    role: Role


class Transfer(_Tagged, tag="transfer"):
    """The signer pays `to` (a member id) `amount_minor` minor units of the community's unit."""

    to: Id32
    amount_minor: AmountMinor
    memo: Memo | Personal = ""


class SetLimits(_Tagged, tag="set_limits"):
    """Set one account's limits; None means "the community's default"."""

    account: Id32
    debit_limit_minor: LimitMinor | None
    credit_ceiling_minor: LimitMinor | None


class SetDefaultLimits(_Tagged, tag="set_default_limits"):
    debit_limit_minor: LimitMinor
    credit_ceiling_minor: LimitMinor


class RebindKey(_Tagged, tag="rebind_key"):
    """A member moves their account to a new key, signed with the current one."""

    new_key: Id32


# ---- community shares: enterprises, offers, the exchange (ledger/shares.py, docs/shares.md) --------

ShareUnits = Annotated[int, Meta(ge=1, le=limits.share_units_max)]
ClassIndex = Annotated[int, Meta(ge=0, lt=limits.share_classes_max)]
DurationMs = Annotated[int, Meta(ge=0, le=limits.decision_duration_max_ms)]
ShareKind = Literal["founder", "labour", "user", "investor"]
Side = Literal["buy", "sell"]


class ShareClass(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """One class of an enterprise's shares and the rights of each share (FairShares)."""

    name: Name
    kind: ShareKind
    votes_per_share: Annotated[int, Meta(ge=0, le=1000)]
    dividend_weight: Annotated[int, Meta(ge=0, le=1000)]
    par_minor: AmountMinor
    withdrawable: bool
    transferable: bool
    holding_cap_units: ShareUnits | None
    local_only: bool


class FounderIssue(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    share_class: ClassIndex
    units: ShareUnits


class RegisterEnterprise(_Tagged, tag="register_enterprise"):
    """Register an enterprise; the signer becomes its manager and receives `founder_issue`."""

    name: Name
    classes: Annotated[tuple[ShareClass, ...], Meta(min_length=1, max_length=limits.share_classes_max)]
    founder_issue: Annotated[tuple[FounderIssue, ...], Meta(max_length=limits.share_classes_max)] = ()
    notice_ms: DurationMs = 0
    yearly_cap_minor: LimitMinor = 0


class EnterprisePay(_Tagged, tag="enterprise_pay"):
    """The manager pays from the enterprise's account."""

    enterprise: Id32
    to: Id32
    amount_minor: AmountMinor
    memo: Memo | Personal = ""


class OpenOffer(_Tagged, tag="open_offer"):
    enterprise: Id32
    share_class: ClassIndex
    price_minor: AmountMinor
    units: ShareUnits
    min_units: ShareUnits
    member_cap_units: ShareUnits
    deadline_ms: TimestampMs


class OpenOfferWithPeriod(OpenOffer, tag="open_offer_period"):
    """An `open_offer` that closes `open_for_ms` after the ts of the event carrying it (its
    `deadline_ms` is 0): on the log's own time, like `propose_period`."""

    open_for_ms: DurationMs = 0


class Subscribe(_Tagged, tag="subscribe"):
    offer: Seq
    units: ShareUnits


class PlaceOrder(_Tagged, tag="place_order"):
    enterprise: Id32
    share_class: ClassIndex
    side: Side
    units: ShareUnits
    price_minor: AmountMinor


class CancelOrder(_Tagged, tag="cancel_order"):
    order: Seq


class TransferShares(_Tagged, tag="transfer_shares"):
    enterprise: Id32
    share_class: ClassIndex
    to: Id32
    units: ShareUnits


class WithdrawShares(_Tagged, tag="withdraw_shares"):
    enterprise: Id32
    share_class: ClassIndex
    units: ShareUnits


class DeclareDividend(_Tagged, tag="declare_dividend"):
    """Effect of a holders' decision: pay `amount_minor` pro rata by dividend weight."""

    enterprise: Id32
    amount_minor: AmountMinor


class SetWithdrawalRule(_Tagged, tag="set_withdrawal_rule"):
    """Effect of a holders' decision: the notice and the yearly cap (0 = none) of withdrawals."""

    enterprise: Id32
    notice_ms: DurationMs
    yearly_cap_minor: LimitMinor



# ---- community shares as co-ops run them (docs/shares.md, "Co-operative rules"): appended kinds, so
# no byte of an earlier `register_enterprise`, effect or action changes ------------------------------


class RegisterEnterpriseWithMemberVotes(RegisterEnterprise, tag="register_enterprise_member_votes"):
    """A `register_enterprise` some of whose classes vote one member, one vote (FairShares' members'
    classes; a UK community benefit society): a holder of any units of a class in
    `member_vote_classes` has that class's `votes_per_share` once, whatever their stake. A kind of
    its own, so `ShareClass`'s array keeps its nine elements and every enterprise registered before
    decodes as it did."""

    member_vote_classes: Annotated[tuple[ClassIndex, ...], Meta(max_length=limits.share_classes_max)] = ()


class PayInterest(_Tagged, tag="pay_interest"):
    """The manager (the board) pays interest on withdrawable class `share_class` from the
    enterprise's account: `rate_bp` a year (at most the cap its holders set), for `period_ms` of
    the time not yet paid for, to every holder pro rata units x par."""

    enterprise: Id32
    share_class: ClassIndex
    rate_bp: BasisPoints
    period_ms: DurationMs


class SetInterestCap(_Tagged, tag="set_interest_cap"):
    """Effect of a holders' decision: the most interest the manager may pay on the enterprise's
    withdrawable shares, in basis points a year (0: none)."""

    enterprise: Id32
    rate_bp: BasisPoints


# Why a board suspends withdrawals (the Community Shares Handbook's grounds, docs/shares.md): a code,
# so every replica can name it in a refusal; the suspending decision's own text says more.
SuspensionReason = Literal["solvency", "liquidity", "winding_up", "restructuring", "other"]


class SuspendWithdrawals(_Tagged, tag="suspend_withdrawals"):
    """Effect of a holders' decision: no new withdrawal of the enterprise's shares is taken, and those
    pending wait, until a `resume_withdrawals` passes."""

    enterprise: Id32
    reason: SuspensionReason


class ResumeWithdrawals(_Tagged, tag="resume_withdrawals"):
    """Effect of a holders' decision: lifts a suspension of the enterprise's withdrawals."""

    enterprise: Id32


class Invite(_Tagged, tag="invite"):
    """An admin invites one person; as a passed decision's effect, the community does (docs/protocol.md
    §13.2.4). `invitation` is the public key of a one-time key pair the admin's client made; its
    seed travels in the invitation link and never to the node. Until
    `expires_ms` (the log's time: the ts of the event carrying the join) and once only, an intent
    signed by that key may `join`."""

    invitation: Id32
    expires_ms: TimestampMs
    role: Role = "member"
    debit_limit_minor: LimitMinor | None = None  # None: the community's default
    credit_ceiling_minor: LimitMinor | None = None


# ---- decisions: effects a passed decision applies, and the actions of deciding ----------------


class RecoverKey(_Tagged, tag="recover_key"):
    """Social recovery: re-bind `member`'s account to `new_key` (their old key is lost). Balances
    follow the account; the old key is retired and can never sign again."""

    member: Id32
    new_key: Id32


class SetRules(_Tagged, tag="set_rules"):
    """The community's rules: who admits members (an admin, or only a decision), and the quorum and
    threshold a proposal gets when it names none."""

    admission: Admission
    quorum_bp: BasisPoints
    threshold_bp: BasisPoints


class Floor(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """The least a decision of `decision_class` must ask for: its quorum, its threshold (a
    proposal's; consent has none, since one block stops it), and how long it stays open."""

    decision_class: DecisionClass
    quorum_bp: BasisPoints
    threshold_bp: BasisPoints
    period_ms: DurationMs


class SetFloors(_Tagged, tag="set_floors"):
    """The community's floors for the classes named (each at most once); the others keep theirs.
    Itself a decision of the strictest class, `rules`, which must stay at least as strict as every
    other class (ledger/decisions.py, docs/decisions.md)."""

    floors: Annotated[tuple[Floor, ...], Meta(min_length=1, max_length=limits.decision_classes_max)]


class SetLevy(_Tagged, tag="set_levy"):
    """A levy on every payment between members, paid by the payer into the community's treasury
    account on top of the amount: `rate_bp` of the amount, at least `min_minor` and at most
    `max_minor`. Payments to or from the treasury carry no levy (it never cascades). All zero
    turns the levy off."""

    rate_bp: BasisPoints
    min_minor: Annotated[int, Meta(ge=0, le=limits.amount_minor_max)]
    max_minor: Annotated[int, Meta(ge=0, le=limits.amount_minor_max)]


class SetVisibility(_Tagged, tag="set_visibility"):
    """Who sees what of the community (ledger/visibility.py, docs/privacy.md): one audience for each
    kind of data the policy names, in a fixed order, so one policy has one encoding and no unknown
    kind can be named. A kind given as None keeps the audience it has: a decision changes only the
    kinds it names, so two decisions open at once about different kinds never undo each other. At
    least one kind is named; some audiences are refused for some kinds (ledger/decisions.py)."""

    names: Audience | None = None
    balances: Audience | None = None
    history: Audience | None = None
    votes: Audience | None = None
    decisions: Audience | None = None
    holdings: Audience | None = None
    log: Audience | None = None


class TreasuryPay(_Tagged, tag="treasury_pay"):
    """The community spends from its treasury: pays `to` (a member id) `amount_minor`, no levy."""

    to: Id32
    amount_minor: AmountMinor
    memo: Memo | Personal = ""


class PayAcross(_Tagged, tag="pay_across"):
    """The signer pays `to_member` of community `to_community` (another node's feed) through
    `federation`, whose charter converts the units. The node carries this intent in a
    `payment_sent` event; the other community alone accepts or rejects it."""

    federation: Id32
    to_community: Id32
    to_member: Id32
    amount_minor: AmountMinor
    memo: Memo | Personal = ""


# A Credit Commons tree (docs/creditcommons.md): a path of node names and an account, and the
# last-hash chain's hashes (md5 in hex, or a graft's agreed first text).
# An account's path in a Credit Commons tree: names of up to 64 letters, digits and `_.-`, by `/`.
tree_path_pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,63})*$"
TreePath = Annotated[str, Meta(min_length=1, max_length=limits.tree_path_chars_max, pattern=tree_path_pattern)]
TreeName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
ChainHash = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
TreeRate = Annotated[int, Meta(ge=1, le=limits.tree_rate_max)]


class GraftTree(_Tagged, tag="graft_tree"):
    """The community joins a Credit Commons tree as a leaf: its node is `node_path` (ending with
    `leaf_name`, its name on the trunkward node), the chain starts at `first_hash` (agreed with the
    trunkward node's operator), one minor unit is `rate_num / rate_den` of the tree's quant, and the
    community's tree account may go `debit_limit_minor` below zero and `credit_ceiling_minor` above
    (mirrored, as a trade account's: the community below zero in the tree is the account above
    zero here). An admin's intent. It opens the tree account."""

    node_path: TreePath
    leaf_name: TreeName
    first_hash: ChainHash
    rate_num: TreeRate
    rate_den: TreeRate
    debit_limit_minor: LimitMinor
    credit_ceiling_minor: LimitMinor


class PayTree(_Tagged, tag="pay_tree"):
    """The signer pays the account at `to_path` in the Credit Commons tree `amount_minor`: carried
    in an `act`, held until the trunkward node answers (a `tree_settled` or `tree_returned`)."""

    to_path: TreePath
    amount_minor: AmountMinor
    memo: Memo | Personal = ""


class FederationAct(_Tagged, tag="federation"):
    """The community appends `body` to its own feed: it adopts a federation's charter, proposes in
    a federation, or casts its ballot in one (federation/ folds these from the members' feeds). An
    admin's intent, or the effect of a passed decision when the community admits by decision."""

    body: FederationBody


# What a passed decision may change. Another effect is one struct here plus one entry in
# ledger/decisions.py's `effects` table. `Invite` (defined below with the invitations) is the
# community's own invitation where it admits by decision: the decision makes it, not an admin.
Effect = (
    AdmitMember
    | RemoveMember
    | SetLimits
    | SetDefaultLimits
    | RecoverKey
    | SetRules
    | SetLevy
    | TreasuryPay
    | DeclareDividend
    | SetWithdrawalRule
    | FederationAct
    | SetFloors
    | SetVisibility
    | Invite
    | SetInterestCap
    | SuspendWithdrawals
    | ResumeWithdrawals
)


class AllMembers(_Tagged, tag="members"):
    """Every active member at the close, one vote each."""


class Holders(_Tagged, tag="holders"):
    """The holders of `enterprise`'s shares at the close, each weighted by votes per share."""

    enterprise: Id32


Electorate = AllMembers | Holders


class Propose(_Tagged, tag="propose"):
    """Open a decision. Its id is the seq of the event that carries this intent. `quorum_bp` and
    `threshold_bp` of None take the community's rules (raised to its floors for the effect). Polls
    have options and no effect; a `multiple` poll takes several options, a `ranked` one takes
    options in order of preference (counted by Borda: first of n options scores n, the next n-1,
    and so on). The decision closes at `deadline_ms` (`ProposeWithPeriod`: after a period)."""

    decision_type: DecisionType
    title: Title | Personal
    text: Text | Personal
    deadline_ms: TimestampMs
    topic: Topic = ""
    options: Annotated[tuple[Name | Personal, ...], Meta(max_length=limits.poll_options_max)] = ()
    multiple: bool = False
    ranked: bool = False
    quorum_bp: BasisPoints | None = None
    threshold_bp: BasisPoints | None = None
    electorate: Electorate = AllMembers()
    effect: Effect | None = None


class ProposeWithPeriod(Propose, tag="propose_period"):
    """A `propose` whose decision closes `voting_period_ms` after the ts of the event that carries
    it (its `deadline_ms` is 0): measured on the log's own time, so neither the member's clock nor
    a jump already in the log can make it late. A kind of its own, so no `propose` written before
    changes a byte."""

    voting_period_ms: DurationMs = 0


class Vote(_Tagged, tag="vote"):
    """Vote on decision `decision` (a seq): a position on a proposal or consent, option indexes in
    a poll (an empty poll vote is an abstention). A later vote by the same member replaces it."""

    decision: Seq
    position: Position | None = None
    options: Annotated[tuple[OptionIndex, ...], Meta(max_length=limits.poll_options_max)] = ()


class Delegate(_Tagged, tag="delegate"):
    """Let `to` vote for the signer on decisions of `topic` ("" is general: every topic without
    its own delegation). A direct vote always overrides a delegation."""

    to: Id32
    topic: Topic = ""


class Undelegate(_Tagged, tag="undelegate"):
    topic: Topic = ""


# ---- invitations: an admin invites one person, who joins with a key made on their device ---------




class Join(_Tagged, tag="join"):
    """Signed by an open invitation's key (the intent's `key` is the invitation key, not a
    member's): admit `member`, the key the new member made on their device, under `name`, with
    the invitation's role and limits. The invitation is used up."""

    member: Id32
    name: Name | Personal


class RevokeInvitation(_Tagged, tag="revoke_invitation"):
    """An admin withdraws an open invitation: its key can no longer join."""

    invitation: Id32


# ---- devices: one account, several keys (a wallet's key never leaves the device that made it) -----


class AddKey(_Tagged, tag="add_key"):
    """Signed by any current key of the signer's account: bind `key`, a key made on another of the
    member's devices, as one more current key of that account (the member id does not change)."""

    key: Id32


class RemoveKey(_Tagged, tag="remove_key"):
    """Signed by any current key of the signer's account: retire `key`, one of that account's current
    keys (a lost device's, or the signing one), for good. The account keeps at least one key."""

    key: Id32


Action = (
    AdmitMember
    | RemoveMember
    | SetRole
    | Transfer
    | SetLimits
    | SetDefaultLimits
    | RebindKey
    | Propose
    | ProposeWithPeriod
    | Vote
    | Delegate
    | Undelegate
    | RegisterEnterprise
    | EnterprisePay
    | OpenOffer
    | OpenOfferWithPeriod
    | Subscribe
    | PlaceOrder
    | CancelOrder
    | TransferShares
    | WithdrawShares
    | FederationAct
    | PayAcross
    | Invite
    | Join
    | RevokeInvitation
    | AddKey
    | RemoveKey
    | GraftTree
    | PayTree
    | RegisterEnterpriseWithMemberVotes
    | PayInterest
)


class IntentUnsigned(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    v: int
    feed: Id32
    key: Id32
    nonce: Nonce
    action: Action


class Intent(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """A member's signed request: `feed` is the target community (so it cannot be replayed at
    another), `key` the member's public key, `nonce` unique per member per feed."""

    v: int
    feed: Id32
    key: Id32
    nonce: Nonce
    action: Action
    sig: Signature


# ---- event bodies: what the node appends --------------------------------------------------------


class Genesis(_Tagged, tag="genesis"):
    """Seq 1 of a feed. Its hash is the feed's id, stable across key rotations."""

    name: Name
    unit_code: UnitCode
    unit_decimals: Decimals
    debit_limit_minor: LimitMinor
    credit_ceiling_minor: LimitMinor
    signing_key: Id32
    recovery_key_hash: Id32
    admin_key: Id32
    admin_name: Name | Committed
    checkpoint_interval_events: Annotated[
        int, Meta(ge=limits.checkpoint_interval_events_min, le=limits.checkpoint_interval_events_max)
    ]


class Act(_Tagged, tag="act"):
    """A member's intent, carried verbatim: the exact signed bytes, so anyone can re-check them."""

    intent: Annotated[bytes, Meta(max_length=limits.intent_bytes_max)]


SealedBox = Annotated[bytes, Meta(max_length=limits.sealed_box_bytes_max)]


class GenesisSealed(Genesis, tag="genesis_sealed"):
    """A genesis whose admin's name is committed (protocol/personal.py): `box` holds its opening,
    sealed under the data key the node keeps for `subject` (the admin's key)."""

    subject: Id32
    box: SealedBox


class ActSealed(Act, tag="act_sealed"):
    """An `act` whose intent commits to personal texts: `box` holds their openings in field order,
    sealed under the data key the node keeps for `subject`, the member they are about (the
    admitted member for an admission, direct or as a proposal's effect; the signer otherwise).
    Only the community's own node can open it; a replica folds the committed intent alone."""

    subject: Id32
    box: SealedBox


class Checkpoint(_Tagged, tag="checkpoint"):
    """The hash of the community's derived state after the previous event."""

    state_hash: Id32


class KeyRotated(_Tagged, tag="key_rotated"):
    """Signed by the recovery key (revealed here, matching the hash committed before): moves the
    feed to `signing_key` and commits to the hash of the next recovery key (pre-rotation)."""

    recovery_key: Id32
    signing_key: Id32
    next_recovery_key_hash: Id32


class DecisionClosed(_Tagged, tag="decision_closed"):
    """Appended by the node once its clock passes the decision's deadline (ts >= deadline). The
    outcome is a pure function of the state; a replica recomputes it and refuses a wrong one. A
    passed decision's effect is applied by this event."""

    decision: Seq
    outcome: Outcome


class TradeLimits(_Tagged, tag="trade_limits"):
    """The node applies a passed federation decision (`decision`, a `fed_trade_limits`) to this
    community's balance-of-trade account in `federation`, in the community's unit: how far the
    community may be below zero in the federation (it bought more than it sold) and above it.
    Each community enforces its own limits locally; every node that folds the federation checks
    them against the decision (the viability report's S3*)."""

    federation: Id32
    decision: Id32
    debit_limit_minor: LimitMinor
    credit_ceiling_minor: LimitMinor


class CapacityLimits(_Tagged, tag="capacity_limits"):
    """The node applies its federation's capacity allocation: `federation` is a federation this
    community is a direct member of (it has a trade account there), `above` that federation's
    ancestors, nearest first, and `share_minor` the share of the federation's capacity its members
    allotted this community (`fed_allocate`, converted into the community's unit, rounded down).
    From then on the community's net position through each level (its trade leaving `federation`,
    then leaving `above[0]`, ...) stays within `share_minor` either way, so the shares of all the
    communities under a federation, summed, never breach the capacity its parent gave it."""

    federation: Id32
    decision: Id32
    above: Annotated[tuple[Id32, ...], Meta(max_length=limits.certificate_depth_max)]
    share_minor: LimitMinor


class OfferClosed(_Tagged, tag="offer_closed"):
    """Appended once the node's clock passes an offer's deadline: allots or refunds it whole."""

    offer: Seq
    outcome: Literal["allotted", "refunded"]


class WithdrawalDue(_Tagged, tag="withdrawal_due"):
    """Appended once a withdrawal's notice has run: pays it at par, or refuses it."""

    withdrawal: Seq
    outcome: Literal["paid", "refused"]


class TreeSettled(_Tagged, tag="tree_settled"):
    """The trunkward node wrote the held payment `payment` (the seq of its `act`): it leaves the
    community through its tree account for good; the chain is now at `last_hash`."""

    payment: Seq
    last_hash: ChainHash


class TreeReturned(_Tagged, tag="tree_returned"):
    """The trunkward node refused the held payment `payment` (`reason`: the API's error class):
    the payer gets it back; the chain did not move."""

    payment: Seq
    reason: Annotated[str, Meta(max_length=64, pattern=r"^[A-Za-z]*$")]


class TreeReceived(_Tagged, tag="tree_received"):
    """The trunkward node relayed transaction `uuid` from `from_path`, worth `quant` of the tree's
    unit: `to_member` is credited `amount_minor` (`quant` at the graft's rate, rounded down) from
    the tree account, and the chain is at `last_hash`."""

    uuid: Annotated[str, Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    from_path: TreePath
    to_member: Id32
    amount_minor: AmountMinor
    quant: Annotated[int, Meta(ge=1, le=limits.amount_minor_max)]
    last_hash: ChainHash


Body = (
    Genesis | GenesisSealed | Act | ActSealed | Checkpoint | KeyRotated | DecisionClosed | OfferClosed | WithdrawalDue | TradeLimits
    | CapacityLimits | FederationBody | PaymentBody
    | TreeSettled | TreeReturned | TreeReceived
)

def _tags(union: object) -> frozenset[str]:
    """The tags of a union's members: a kind is known exactly when the union decodes it."""
    return frozenset(member.__struct_config__.tag for member in typing.get_args(union))


body_kinds: frozenset[str] = _tags(Body)
action_kinds: frozenset[str] = _tags(Action)


class EventUnsigned(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    v: int
    feed: Id32 | None
    seq: Seq
    prev: Id32 | None
    ts: TimestampMs
    body: Body


class Event(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """The signed envelope. `feed` and `prev` are None only at seq 1 (the genesis)."""

    v: int
    feed: Id32 | None
    seq: Seq
    prev: Id32 | None
    ts: TimestampMs
    body: Body
    sig: Signature


class ForkProof(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """Two different signed events of one feed at one seq: proof that its key signed both."""

    feed: Id32
    seq: Seq
    first: Annotated[bytes, Meta(max_length=limits.event_bytes_max)]
    second: Annotated[bytes, Meta(max_length=limits.event_bytes_max)]


encoder = msgspec.msgpack.Encoder()
event_decoder = msgspec.msgpack.Decoder(Event)
intent_decoder = msgspec.msgpack.Decoder(Intent)
fork_proof_decoder = msgspec.msgpack.Decoder(ForkProof)
