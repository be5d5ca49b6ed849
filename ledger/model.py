"""The state model of a community's ledger: every value the rules fold the log into, as frozen
structures (persistent HAMT maps from `immutables`, so a transition returns a new State in O(log n)
instead of copying every account). Data only: the rules that read and change it live in the
modules above this one (accounts, membership, shares, payments, decisions, transition).

How this works: `State` holds the community's settings, its members and accounts (people and the
system accounts: escrow, treasury, trade accounts, enterprises), its decisions, shares and payments
across. `initial_state` is the state a genesis starts.
"""

from __future__ import annotations

from immutables import Map
from msgspec import Struct
from tallystick.protocol.events import AllMembers, Effect, Electorate, Genesis, ShareClass
from tallystick.protocol.personal import Committed
from tallystick.protocol.types import Audience

from . import names as naming


class Community(Struct, frozen=True):
    name: str
    unit_code: str
    unit_decimals: int
    debit_limit_minor: int
    credit_ceiling_minor: int
    checkpoint_interval_events: int


class Member(Struct, frozen=True):
    name: str | Committed  # Committed: the log holds only its digest (protocol/personal.py)
    key: bytes
    role: str
    active: bool
    admitted_seq: int
    nonce_floor: int = -1
    nonces: frozenset[int] = frozenset()
    # Keys this member signed with before rebinding or removing them: never bindable again, so that
    # intents signed with them (public in the log) can never be replayed against any account.
    retired_keys: frozenset[bytes] = frozenset()
    # The account's further current keys, one per device, in the order they were added (`add_key`):
    # each signs for the account as `key` does. `key` is the oldest current key; removing it makes
    # the next one `key`, so the current keys are always `(key, *devices)`, oldest first.
    devices: tuple[bytes, ...] = ()

    @property
    def current_keys(self) -> tuple[bytes, ...]:
        """Every key that signs for this account now, oldest first."""
        return (self.key, *self.devices) if self.devices else (self.key,)

    def signs_with(self, key: bytes) -> bool:
        """Whether `key` is one of this account's current keys."""
        return key == self.key or key in self.devices


class Account(Struct, frozen=True):
    balance_minor: int = 0
    debit_limit_minor: int | None = None  # None: the community's default
    credit_ceiling_minor: int | None = None


class Rules(Struct, frozen=True, array_like=True):
    """The community's rules that decisions set. By default an admin admits members, and a
    proposal needs half the members to take part and two thirds of those taking sides to agree."""

    admission: str = "admin"
    quorum_bp: int = 5000
    threshold_bp: int = 6667


class Visibility(Struct, frozen=True, array_like=True):
    """Who sees what of the community (ledger/visibility.py, docs/privacy.md), set by a decision.
    What every reader sees whatever this says: the community's name and unit, how many members it
    has, the credit in circulation, its enterprises and open offers, and decisions' titles and
    outcomes. The defaults: members see each other's names; balances and histories (with memos)
    only the member concerned and the admins; how each member voted, members; decisions' texts and
    tallies, members; the log of events as the API decodes it, the admins."""

    names: Audience = "members"  # members' names, roles and keys
    balances: Audience = "concerned"  # a member's balance, limits and what is held
    history: Audience = "concerned"  # a member's payments, with their memos
    votes: Audience = "members"  # how each member voted and delegated
    decisions: Audience = "members"  # decisions' texts, proposers and tallies
    holdings: Audience = "members"  # who holds which shares (cap tables, holders' orders)
    log: Audience = "admins"  # the decoded log (/api/log): every event, with every memo


class Levy(Struct, frozen=True, array_like=True):
    rate_bp: int
    min_minor: int
    max_minor: int


class Ballot(Struct, frozen=True, array_like=True):
    position: str | None
    options: tuple[int, ...] = ()


class Tally(Struct, frozen=True, array_like=True):
    """The count of one decision against a state: `electorate` votes that could be cast,
    `participants` of them cast (their own or a delegate's), `direct` cast by voters themselves.
    In a members' decision these are people, one vote each; in a holders' decision they are votes
    per share, so the `_people` fields count the people beside them: the people who could vote,
    who took part, and who voted themselves (for members, the same numbers). Read them for "3 of 8
    people took part"; the weights decide the outcome."""

    electorate: int
    participants: int
    direct: int
    positions: dict[str, int]
    option_counts: tuple[int, ...]
    quorum_met: bool
    outcome: str
    # Last, with defaults: a result stored before these fields decodes (as 0) until a rebuild.
    electorate_people: int = 0
    participants_people: int = 0
    direct_people: int = 0


class Decision(Struct, frozen=True):
    seq: int
    proposer: bytes
    decision_type: str
    title: str | Committed
    text: str | Committed
    topic: str
    options: tuple[str | Committed, ...]
    multiple: bool
    ranked: bool
    quorum_bp: int
    threshold_bp: int
    deadline_ms: int
    opened_ms: int
    effect: Effect | None
    votes: Map = Map()  # member id -> Ballot
    outcome: str | None = None  # None while open
    closed_seq: int | None = None
    result: Tally | None = None  # the tally at the close
    electorate: Electorate = AllMembers()

    @property
    def is_open(self) -> bool:
        return self.outcome is None


class Enterprise(Struct, frozen=True, array_like=True):
    name: str
    manager: bytes
    classes: tuple[ShareClass, ...]
    registered_seq: int
    notice_ms: int
    yearly_cap_minor: int
    issued: tuple[int, ...]  # per class: units ever issued
    withdrawn: tuple[int, ...]  # per class: units withdrawn at par
    withdrawal_year: int = -1  # the 365-day period (from the epoch) of `withdrawn_in_year_minor`
    withdrawn_in_year_minor: int = 0
    # Co-operative rules (docs/shares.md), appended so an enterprise stored before reads as it was:
    member_vote_classes: tuple[int, ...] = ()  # classes that vote one member, one vote
    interest_cap_bp: int = 0  # the most interest a year its holders allow on withdrawable shares
    interest_from_ms: tuple[int, ...] = ()  # per class: paid for up to here; () until a cap first passes
    suspended_by: int = 0  # the seq of the decision that suspended withdrawals; 0: not suspended
    suspension_reason: str = ""


class Holding(Struct, frozen=True, array_like=True):
    units: int
    locked: int  # in resting sells and pending withdrawals
    since_seq: int  # when this holder first held the class (since they last held none)
    cost_minor: int  # what they paid for the units they hold (0 for founder issues and gifts)


class Subscription(Struct, frozen=True, array_like=True):
    units: int
    first_seq: int
    allotted: int = 0  # set at an allotting close


class Offer(Struct, frozen=True):
    seq: int
    enterprise: bytes
    share_class: int
    price_minor: int
    units: int
    min_units: int
    member_cap_units: int
    deadline_ms: int
    subscriptions: Map = Map()  # member id -> Subscription
    subscribed_units: int = 0
    escrow_minor: int = 0
    outcome: str | None = None
    closed_seq: int | None = None


class Order(Struct, frozen=True, array_like=True):
    seq: int
    owner: bytes
    enterprise: bytes
    share_class: int
    side: str
    price_minor: int
    units: int  # still open
    reserved_minor: int  # a buy's credit still in escrow (price x units)


class Withdrawal(Struct, frozen=True, array_like=True):
    seq: int
    holder: bytes
    enterprise: bytes
    share_class: int
    units: int
    due_ms: int
    outcome: str | None = None


class Trade(Struct, frozen=True, array_like=True):
    seq: int
    price_minor: int
    units: int
    buyer: bytes
    seller: bytes


class Book(Struct, frozen=True):
    """One class's resting orders: the distinct prices of each side, ascending, and per (side,
    price) the order seqs oldest first. Best bid is `bid_prices[-1]`, best ask `ask_prices[0]`."""

    bid_prices: tuple[int, ...] = ()
    ask_prices: tuple[int, ...] = ()
    levels: Map = Map()  # (side, price) -> tuple of order seqs


class Shares(Struct, frozen=True):
    enterprises: Map = Map()  # enterprise id -> Enterprise
    holdings: Map = Map()  # (enterprise, class, holder) -> Holding
    offers: Map = Map()  # seq -> Offer (closed ones stay, with their outcome)
    open_offers: Map = Map()  # seq -> deadline_ms
    orders: Map = Map()  # seq -> Order, resting ones only
    books: Map = Map()  # (enterprise, class) -> Book
    pending: Map = Map()  # (enterprise, class, member) -> units subscribed in open offers or bid for
    withdrawals: Map = Map()  # seq -> Withdrawal (paid and refused ones stay, with their outcome)
    pending_withdrawals: Map = Map()  # seq -> due_ms
    trades: Map = Map()  # (enterprise, class) -> tuple of the last Trades, newest last
    member_orders: Map = Map()  # owner -> number of resting orders
    # member -> credit the escrow holds for them (open subscriptions, resting buys' reservations):
    # it comes back to them, so what others may pay them counts it against their credit ceiling.
    escrowed: Map = Map()


class Pending(Struct, frozen=True, array_like=True):
    """A payment this community sent and has not settled or returned."""

    seq: int
    payer: bytes
    federation: bytes
    to_community: bytes
    to_member: bytes
    amount_minor: int
    expires_ms: int
    cancel_sent: bool = False
    via: bytes = b""  # the community's own federation it left through (its trade account's); "" if `federation`
    levels: int = 0  # how many capacity levels above `via` it was counted in


class Capacity(Struct, frozen=True, array_like=True):
    """The community's share of its federation's capacity (from a `capacity_limits` body) and its
    net position through each level above it: level j counts the payments that meet at one of
    `above[j:]` (level 0: all trade leaving the federation; level 1: leaving `above[0]`; ...)."""

    above: tuple[bytes, ...]
    share_minor: int
    used: tuple[int, ...]  # per level: sold minus bought through it, in the community's unit
    held: tuple[int, ...]  # per level: sent through it and pending (comes back if returned)


class Invitation(Struct, frozen=True, array_like=True):
    """An invitation an admin made (ledger/membership.py): held from its `invite` until it is used
    (a `join` drops it and binds its key for good), or until an invitation action applied after
    its expiry drops it. A withdrawn one stays, `revoked`, until then, so its key reads as used."""

    invited_by: bytes  # the admin's member id, or the feed id where a passed decision made it
    seq: int  # the seq of the event that carried the invite
    expires_ms: int
    role: str
    debit_limit_minor: int | None  # None: the community's default
    credit_ceiling_minor: int | None
    revoked: bool = False


class TreeHeld(Struct, frozen=True, array_like=True):
    """A payment into the Credit Commons tree, held until the trunkward node answers."""

    payer: bytes
    to_path: str
    amount_minor: int
    quant: int


class Tree(Struct, frozen=True):
    """The community as a leaf of a Credit Commons tree (docs/creditcommons.md): its graft, its tree
    account, the chain's last hash (a fold of this feed), the payments held, the uuids received."""

    node_path: str
    leaf_name: str
    rate_num: int
    rate_den: int
    account: bytes
    last_hash: str
    held: Map = Map()  # the seq of the payment's act -> TreeHeld
    received: Map = Map()  # uuid -> the seq of its tree_received


class Payments(Struct, frozen=True):
    trade: Map = Map()  # federation id -> this community's trade account id in it
    pending: Map = Map()  # payment id -> Pending (sent, not yet settled or returned)
    answered: Map = Map()  # payment id -> "accepted" / "rejected" (payments to this community)
    held: Map = Map()  # payer -> credit their pending payments would return to them
    capacity: Map = Map()  # own federation id -> Capacity (only where the federation has a parent)
    tree: Tree | None = None  # a Credit Commons graft (ledger/payments.py, "the tree")


class State(Struct, frozen=True):
    feed: bytes
    seq: int
    community: Community
    members: Map  # member id -> Member
    accounts: Map  # member id -> Account
    keys: Map  # every public key ever bound (current, retired, departed) -> member id
    names: Map  # casefolded name of an active member -> member id
    events_since_checkpoint: int = 0
    ts_ms: int = 0  # the ts of the last event applied: "now" for the rules, without a clock
    decisions: Map = Map()  # decision id (the seq of its Propose) -> Decision
    open_decisions: Map = Map()  # decision id -> deadline_ms, of those not yet closed
    delegations: Map = Map()  # member id -> Map(topic -> delegate's member id); topic "" is general
    rules: Rules = Rules()
    levy: Levy | None = None  # None: payments carry no levy
    visibility: Visibility = Visibility()
    treasury: bytes | None = None  # the treasury's account id, once a levy created it
    shares: Shares = Shares()  # enterprises, holdings, offers, books (ledger/shares.py)
    # Federation bodies (charter, proposal, vote) the community decided to append, oldest first; the
    # node's timer appends them, and a replica accepts such a body only as the first of these.
    federation_outbox: tuple = ()
    payments: Payments = Payments()  # trade accounts, payments across (ledger/payments.py)
    invitations: Map = Map()  # invitation key -> Invitation, open or withdrawn and not yet dropped


def initial_state(feed: bytes, genesis: Genesis) -> State:
    admin = genesis.admin_key
    return State(
        feed=feed,
        seq=1,
        community=Community(
            name=genesis.name,
            unit_code=genesis.unit_code,
            unit_decimals=genesis.unit_decimals,
            debit_limit_minor=genesis.debit_limit_minor,
            credit_ceiling_minor=genesis.credit_ceiling_minor,
            checkpoint_interval_events=genesis.checkpoint_interval_events,
        ),
        members=Map({admin: Member(name=genesis.admin_name, key=admin, role="admin", active=True, admitted_seq=1)}),
        accounts=Map({admin: Account()}),
        keys=Map({admin: admin}),
        names=Map({naming.name_key(genesis.admin_name): admin}) if isinstance(genesis.admin_name, str) else Map(),
    )
