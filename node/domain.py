"""The community's ledger as a pure functional core: `validate` and `apply`, no I/O, no clock.

How this works: `State` is an immutable value (persistent HAMT maps from `immutables`, so `apply` returns a
new State in O(log n) instead of copying every account). The sequencer calls `validate(state,
intent)` before appending and `apply(state, event, intent)` after; every replica and every rebuild
calls the same `apply`, and `audit` (validate, then apply) on what it receives. All the rules of
mutual credit live here and only here: an account's balance stays within
[-debit_limit, +credit_ceiling]; transfers move credit between two open accounts, so balances sum
to zero after every event. Member nonces use a sliding window per member (the highest
`nonce_window_size` seen, and a floor below which every nonce is stale), so replay protection needs
bounded memory and is itself a pure function of the log.
"""

from __future__ import annotations

from collections.abc import Callable

from immutables import Map
from msgspec import Struct
from msgspec.structs import replace as _replace
from tallystick.protocol import limits
from tallystick.protocol.codec import encode
from tallystick.protocol.events import (
    Act,
    Action,
    AdmitMember,
    Body,
    CancelOrder,
    CapacityLimits,
    Checkpoint,
    DecisionClosed,
    Delegate,
    EnterprisePay,
    Event,
    FederationAct,
    Genesis,
    Intent,
    KeyRotated,
    OfferClosed,
    OpenOffer,
    PayAcross,
    PlaceOrder,
    Propose,
    RebindKey,
    RegisterEnterprise,
    RemoveMember,
    SetDefaultLimits,
    SetLimits,
    SetRole,
    Subscribe,
    TradeLimits,
    Transfer,
    TransferShares,
    Undelegate,
    Vote,
    WithdrawalDue,
    WithdrawShares,
)
from tallystick.protocol.federation import (
    Charter,
    FederationVote,
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
    federation_id,
    ledger_neutral_bodies,
)
from tallystick.protocol.ids import hash32

from . import decisions as deciding
from . import names as naming
from . import payments as paying
from . import shares as sharing
from .errors import (
    AccountClosedError,
    BadAmountError,
    BalanceNotZeroError,
    CheckpointMismatchError,
    CreditCeilingError,
    DebitLimitError,
    DomainError,
    KeyInUseError,
    KeyRetiredError,
    LastAdminError,
    LimitBelowBalanceError,
    NameTakenError,
    NotAuthorizedError,
    ReplayedNonceError,
    SameAccountError,
    SharesOutstandingError,
    UnknownMemberError,
)
from .money import format_ceiling, format_debit_limit, format_money

# Nonces above a member's floor that are remembered; an intent's nonce must be above the floor and
# not among these. 32 lets a member have 32 intents in flight in any order, in bounded memory.
nonce_window_size = 32


class Community(Struct, frozen=True):
    name: str
    unit_code: str
    unit_decimals: int
    debit_limit_minor: int
    credit_ceiling_minor: int
    checkpoint_interval_events: int


class Member(Struct, frozen=True):
    name: str
    key: bytes
    role: str
    active: bool
    admitted_seq: int
    nonce_floor: int = -1
    nonces: frozenset[int] = frozenset()
    # Keys this member signed with before rebinding: never bindable again, so that intents signed
    # with them (public in the log) can never be replayed against any account.
    retired_keys: frozenset[bytes] = frozenset()


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


class Levy(Struct, frozen=True, array_like=True):
    rate_bp: int
    min_minor: int
    max_minor: int


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
    decisions: Map = Map()  # decision id (the seq of its Propose) -> deciding.Decision
    open_decisions: Map = Map()  # decision id -> deadline_ms, of those not yet closed
    delegations: Map = Map()  # member id -> Map(topic -> delegate's member id); topic "" is general
    rules: Rules = Rules()
    levy: Levy | None = None  # None: payments carry no levy
    treasury: bytes | None = None  # the treasury's account id, once a levy created it
    shares: sharing.Shares = sharing.Shares()  # enterprises, holdings, offers, books (node/shares.py)
    # Federation bodies (charter, proposal, vote) the community decided to append, oldest first; the
    # node's timer appends them, and a replica accepts such a body only as the first of these.
    federation_outbox: tuple = ()
    payments: paying.Payments = paying.Payments()  # trade accounts, payments across (node/payments.py)


def _name_key(name: str) -> str:
    """The key a name is held under: equal for names that look alike (node/names.py)."""
    return naming.name_key(name)


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
        names=Map({_name_key(genesis.admin_name): admin}),
    )


def debit_limit(state: State, account: Account) -> int:
    return state.community.debit_limit_minor if account.debit_limit_minor is None else account.debit_limit_minor


def credit_ceiling(state: State, account: Account) -> int:
    return (
        state.community.credit_ceiling_minor if account.credit_ceiling_minor is None else account.credit_ceiling_minor
    )


def is_person(member: Member | None) -> bool:
    """Whether an account is a person's (role member or admin), not the community's escrow,
    treasury or a trade account, nor an enterprise's."""
    return member is not None and member.role in sharing.people_roles


def people(state: State) -> int:
    """How many people the community has: its active members who are persons. What "N members"
    means to a reader; `state.members` also holds the system and enterprise accounts."""
    return sum(1 for member in state.members.values() if member.active and member.role in sharing.people_roles)


def member_for_key(state: State, key: bytes) -> bytes | None:
    return state.keys.get(key)


def find_member(state: State, name: str) -> bytes | None:
    """A member id by the name the community gave it (case and spacing insensitive)."""
    return state.names.get(_name_key(name))


# ---- validate -----------------------------------------------------------------------------------


def active_member(state: State, member_id: bytes, role: str) -> Member:
    member = state.members.get(member_id)
    if member is None:
        raise UnknownMemberError(f"{role} is not a member of this community")
    if not member.active:
        raise AccountClosedError(f"{role} ({member.name}) has left the community; their account is closed")
    return member


def _require_admin(member: Member) -> None:
    if member.role != "admin":
        raise NotAuthorizedError(f"{member.name} is not an admin; only an admin may do this")


def money(state: State, minor: int) -> str:
    """An amount as a person reads it, in this community's unit: 1250 -> '12.50 HRS'."""
    return format_money(minor, state.community.unit_decimals, state.community.unit_code)


def name_of(state: State, account_id: bytes) -> str:
    """The name an account goes by here (a member's, an enterprise's, a system account's)."""
    member = state.members.get(account_id)
    return "an account unknown here" if member is None else member.name


def check_within(
    state: State,
    account: Account,
    balance: int,
    who: str,
    *,
    moved: int | None = None,
    most: int | None = None,
    remedy: Callable[[int], str] | None = None,
    counting: int = 0,
) -> None:
    """Refuse a `balance` outside `account`'s limits, in one line a person reads: the limit and the
    balance in major units with the unit, then what to do. `moved` is the credit that would take the
    account there (what it pays, or receives); given it, the refusal says the most that fits
    (`most` where the caller knows better, as with a levy), worded by `remedy` (default "at most
    87.50 HRS fits"). `counting` is credit already counted in `balance` that escrow or a pending
    payment will bring back, said so in the refusal."""
    decimals, unit = state.community.unit_decimals, state.community.unit_code
    counted = f", counting {money(state, counting)} that escrow or a pending payment will return" if counting else ""
    limit = debit_limit(state, account)
    if balance < -limit:
        room = most if most is not None or moved is None else moved - (-limit - balance)
        raise DebitLimitError(
            f"{who} would go below the debit limit of {format_debit_limit(limit, decimals, unit)} "
            f"(the balance would be {money(state, balance)}{counted})"
            + _fits(state, room, remedy, "it must receive credit first, or an admin may let it go further below zero")
        )
    ceiling = credit_ceiling(state, account)
    if balance > ceiling:
        room = most if most is not None or moved is None else moved - (balance - ceiling)
        raise CreditCeilingError(
            f"{who} would go above "
            + (f"the credit ceiling of {format_ceiling(ceiling, decimals, unit)} " if ceiling < limits.amount_minor_max
               else f"the largest balance the protocol carries ({money(state, ceiling)}) ")
            + f"(the balance would be {money(state, balance)}{counted})"
            + _fits(state, room, remedy, "it must pay out first, or an admin may raise the ceiling")
        )


def _fits(state: State, room: int | None, remedy: Callable[[int], str] | None, no_room: str) -> str:
    """The end of a limit refusal: the most that fits (`room`, minor units), or what frees room."""
    if room is None:
        return ""
    if room <= 0:
        return f": nothing fits; {no_room}"
    return ": " + (remedy(room) if remedy is not None else f"at most {money(state, room)} fits")


def _pay_at_most(state: State) -> Callable[[int], str]:
    return lambda most: f"pay at most {money(state, most)}"


def most_payable(state: State, payer: bytes, payee: bytes, room: int) -> int:
    """The largest amount `payer` can pay `payee` when `room` (minor units) is what its debit limit
    leaves, counting the levy (the amount plus its levy grows with the amount, so bisect)."""
    low, high = 0, max(0, min(room, limits.amount_minor_max))
    while low < high:
        middle = (low + high + 1) // 2
        if middle + levy_minor(state, payer, payee, middle) <= room:
            low = middle
        else:
            high = middle - 1
    return low


def _admins(state: State) -> int:
    return sum(1 for member in state.members.values() if member.active and member.role == "admin")


def _check_admit(state: State, signer: Member, action: AdmitMember) -> None:
    _require_admin(signer)
    if state.rules.admission == "decision":
        raise NotAuthorizedError(
            "this community admits members by decision: propose the admission (`tally propose --admit`)"
        )
    check_admit_rule(state, action)


def check_admit_rule(state: State, action: AdmitMember) -> None:
    """The rules of an admission, whoever asks (an admin, or a passed decision)."""
    if action.member in state.members or action.member in state.keys:  # keys holds every key ever bound
        raise KeyInUseError("that key already belongs to a member; each member needs their own key")
    naming.require_normal_name(action.name, "the member's name")
    if _name_key(action.name) in state.names:
        raise NameTakenError(
            "that name looks like the name of a member or an enterprise already here; choose another (add a surname)"
        )


def _check_remove(state: State, signer: Member, action: RemoveMember) -> None:
    _require_admin(signer)
    check_remove_rule(state, action)


def check_remove_rule(state: State, action: RemoveMember) -> None:
    member = active_member(state, action.member, "the member to remove")
    if member.role not in sharing.people_roles:
        raise NotAuthorizedError(f"{member.name} is the community's {member.role} account; it cannot be closed")
    why = sharing.outstanding(state, action.member)
    if why is not None:
        raise SharesOutstandingError(f"{member.name} {why}; sell, cancel or withdraw them first")
    balance = state.accounts[action.member].balance_minor
    if balance != 0:
        raise BalanceNotZeroError(
            f"{member.name} has a balance of {money(state, balance)}; it must be settled to zero first "
            + ("(they pay it to a member)" if balance > 0 else "(a member pays it to them)")
        )
    if member.role == "admin" and _admins(state) == 1:
        raise LastAdminError("that is the last admin; make another member admin first")


def _check_set_role(state: State, signer: Member, action: SetRole) -> None:
    _require_admin(signer)
    member = active_member(state, action.member, "the member")
    if member.role not in sharing.people_roles:
        raise NotAuthorizedError(f"{member.name} is the community's {member.role} account; it has no role to change")
    if member.role == "admin" and action.role != "admin" and _admins(state) == 1:
        raise LastAdminError("that is the last admin; make another member admin first")


def _check_transfer(state: State, signer_id: bytes, action: Transfer) -> None:
    # The decoder already bounds the amount; checked again here because a negative amount would run
    # the payment backwards, and `validate` must hold for an Intent built in code, not only decoded.
    if not 1 <= action.amount_minor <= limits.amount_minor_max:
        raise BadAmountError(
            f"the amount must be between {money(state, 1)} and {money(state, limits.amount_minor_max)}, "
            f"not {money(state, action.amount_minor)}"
        )
    if action.to == signer_id:
        raise SameAccountError("payer and payee are the same account: pay someone else")
    payee = active_member(state, action.to, "the payee")
    if payee.role == "escrow":
        raise NotAuthorizedError("nobody pays the escrow directly; subscribe to an offer or place an order")
    payer = state.accounts[signer_id]
    levy = levy_minor(state, signer_id, action.to, action.amount_minor)
    after = payer.balance_minor - action.amount_minor - levy
    room = payer.balance_minor + debit_limit(state, payer)
    most = None
    if after < -debit_limit(state, payer):
        # The most that fits both the payer's debit limit (with its levy) and the payee's ceiling.
        payee_account = state.accounts[action.to]
        payee_room = credit_ceiling(state, payee_account) - payee_account.balance_minor - sharing.coming_back_to(
            state, action.to)
        most = min(most_payable(state, signer_id, action.to, room), max(0, payee_room))
    who = name_of(state, signer_id) + (f" (paying {money(state, levy)} of levy too)" if levy else "")
    check_within(state, payer, after, who, moved=action.amount_minor, most=most, remedy=_pay_at_most(state))
    sharing.check_can_receive(state, action.to, action.amount_minor, payee.name, verb="pay them")
    if levy:
        treasury = state.accounts[state.treasury]  # type: ignore[index]
        check_within(state, treasury, treasury.balance_minor + levy, "the treasury (which takes the levy)",
                     moved=levy, remedy=lambda _: "pay less, or to an account the levy does not apply to")


def levy_minor(state: State, payer: bytes, payee: bytes, amount_minor: int) -> int:
    """The levy a payment of `amount_minor` carries: the rate, within [min, max]; none to or from
    the treasury (a levy never cascades)."""
    levy = state.levy
    if levy is None or payer == state.treasury or payee == state.treasury:
        return 0
    return max(levy.min_minor, min(levy.max_minor, amount_minor * levy.rate_bp // limits.basis_points_max))


def _check_set_limits(state: State, signer: Member, action: SetLimits) -> None:
    _require_admin(signer)
    check_set_limits_rule(state, action)


def check_set_limits_rule(state: State, action: SetLimits) -> None:
    active_member(state, action.account, "the account")
    account = state.accounts[action.account]
    changed = Account(account.balance_minor, action.debit_limit_minor, action.credit_ceiling_minor)
    # What escrow or a pending payment holds for the account comes back to it: the new ceiling
    # (not the debit limit) must leave room for it.
    coming_back = sharing.coming_back_to(state, action.account)
    _check_new_limits(state, state.community, [(action.account, changed)], [coming_back])


def _check_new_limits(
    state: State, community: Community, accounts: list[tuple[bytes, Account]], coming_back: list[int]
) -> None:
    probe = _replace(state, community=community)
    for (account_id, account), back in zip(accounts, coming_back, strict=True):
        try:
            who = f"{name_of(state, account_id)}'s account"
            check_within(probe, account, account.balance_minor, who)
            if back:  # the debit limit is checked on the balance alone, the ceiling on what comes back too
                check_within(probe, _replace(account, debit_limit_minor=limits.amount_minor_max),
                             account.balance_minor + back, who, counting=back)
        except (DebitLimitError, CreditCeilingError) as error:
            raise LimitBelowBalanceError(
                f"the new limits would leave an account outside them: {error.message}; "
                "settle it first, or choose limits that include its balance"
            ) from None


def _check_set_default_limits(state: State, signer: Member, action: SetDefaultLimits) -> None:
    _require_admin(signer)
    check_set_default_limits_rule(state, action)


def check_set_default_limits_rule(state: State, action: SetDefaultLimits) -> None:
    community = _replace(
        state.community,
        debit_limit_minor=action.debit_limit_minor,
        credit_ceiling_minor=action.credit_ceiling_minor,
    )
    ids = list(state.accounts.keys())
    _check_new_limits(state, community, [(i, state.accounts[i]) for i in ids], [sharing.coming_back_to(state, i) for i in ids])


def check_federation_act_rule(state: State, action: FederationAct) -> None:
    """What the community's own ledger can check of a federation act: room in the outbox. A
    charter that names this community is its adoption; one that does not only publishes it (how a
    confederation of federations gets its charter into the feeds: its member federations adopt it
    by decision). The federation's rules are checked by federation/, which folds the feeds."""
    if len(state.federation_outbox) >= limits.federation_outbox_max:
        raise NotAuthorizedError(
            f"{limits.federation_outbox_max} federation acts wait to be appended; try again in a moment"
        )


def intent_body(state: State, intent: Intent, intent_bytes: bytes, ts_ms: int) -> Body:
    """The event body that carries a valid intent: a `payment_sent` for a payment across
    communities (so the other community finds it among few events), an `act` for everything else."""
    if isinstance(intent.action, PayAcross):
        return paying.payment_body(state, intent, intent_bytes, ts_ms)
    return Act(intent=intent_bytes)


def apply_federation_act(state: State, action: FederationAct) -> State:
    return _replace(state, federation_outbox=(*state.federation_outbox, action.body))


def _check_rebind(state: State, signer: Member, action: RebindKey) -> None:
    if action.new_key in state.keys:
        raise KeyInUseError("that key is or was bound to a member; generate a new key")


def validate(state: State, intent: Intent, ts_ms: int | None = None) -> DomainError | None:
    """Why `intent` cannot be applied to `state`, or None if it can. The signature and target feed
    were checked by the protocol layer; this checks who the signer is and the community's rules.
    `ts_ms` is the ts the event carrying it will have (the sequencer's, or the event's in `audit`):
    deadlines are checked against the event's own time; without it the last event's ts stands for
    "now" (deadlines are then checked less strictly)."""
    now_ms = state.ts_ms if ts_ms is None else ts_ms
    try:
        signer_id = state.keys.get(intent.key)
        if signer_id is None:
            raise UnknownMemberError("the signing key belongs to no member of this community")
        signer = active_member(state, signer_id, "the signer")
        if signer.key != intent.key:
            raise KeyRetiredError(
                f"that key was replaced by {signer.name}'s newer key (a rebind); sign with the current key"
            )
        if intent.nonce in signer.nonces:
            raise ReplayedNonceError(
                "this intent's nonce was already used: if this is a retry, the first one was applied"
            )
        if intent.nonce <= signer.nonce_floor:
            raise ReplayedNonceError(
                f"this intent's nonce is too old (at or below {signer.nonce_floor}, the oldest this member may "
                "still use); sign it again with a new nonce (the CLI uses the clock)"
            )
        action = intent.action
        if isinstance(action, Transfer):
            _check_transfer(state, signer_id, action)
        elif isinstance(action, AdmitMember):
            _check_admit(state, signer, action)
        elif isinstance(action, RemoveMember):
            _check_remove(state, signer, action)
        elif isinstance(action, SetRole):
            _check_set_role(state, signer, action)
        elif isinstance(action, SetLimits):
            _check_set_limits(state, signer, action)
        elif isinstance(action, SetDefaultLimits):
            _check_set_default_limits(state, signer, action)
        elif isinstance(action, RebindKey):
            _check_rebind(state, signer, action)
        elif isinstance(action, Vote):
            deciding.check_vote(state, signer_id, action, now_ms)
        elif isinstance(action, Propose):
            deciding.check_propose(state, signer_id, action, now_ms)
        elif isinstance(action, Delegate):
            deciding.check_delegate(state, signer_id, action)
        elif isinstance(action, Undelegate):
            deciding.check_undelegate(state, signer_id, action)
        elif isinstance(action, PlaceOrder):
            sharing.check_place_order(state, signer_id, action)
        elif isinstance(action, Subscribe):
            sharing.check_subscribe(state, signer_id, action, now_ms)
        elif isinstance(action, CancelOrder):
            sharing.check_cancel_order(state, signer_id, action)
        elif isinstance(action, TransferShares):
            sharing.check_transfer_shares(state, signer_id, action)
        elif isinstance(action, RegisterEnterprise):
            sharing.check_register(state, signer_id, action)
        elif isinstance(action, EnterprisePay):
            sharing.check_enterprise_pay(state, signer_id, action)
        elif isinstance(action, OpenOffer):
            sharing.check_open_offer(state, signer_id, action, now_ms)
        elif isinstance(action, WithdrawShares):
            sharing.check_withdraw(state, signer_id, action)
        elif isinstance(action, PayAcross):
            paying.check_pay_across(state, signer_id, action)
        elif isinstance(action, FederationAct):
            _require_admin(signer)
            if state.rules.admission == "decision":
                raise NotAuthorizedError(
                    "this community decides by decision: propose it (`tally federation … --propose`)"
                )
            check_federation_act_rule(state, action)
        else:  # pragma: no cover - the decoder admits only the Action union
            raise AssertionError(f"no rule for {type(action).__name__}")
    except DomainError as error:
        return error
    return None


# ---- apply --------------------------------------------------------------------------------------


def _record_nonce(member: Member, nonce: int) -> Member:
    nonces = member.nonces | {nonce}
    floor = member.nonce_floor
    if len(nonces) > nonce_window_size:
        floor = min(nonces)
        nonces = nonces - {floor}
    return _replace(member, nonce_floor=floor, nonces=nonces)


def move_credit(accounts: Map, payer: bytes, payee: bytes, amount: int) -> Map:
    """`accounts` with `amount` moved from `payer` to `payee`: the one way credit moves, so
    balances sum to zero by construction (limits are checked before, by the rules)."""
    if amount == 0:
        return accounts
    source = accounts[payer]
    accounts = accounts.set(payer, _replace(source, balance_minor=source.balance_minor - amount))
    target = accounts[payee]
    return accounts.set(payee, _replace(target, balance_minor=target.balance_minor + amount))


def apply_admin_action(state: State, action: Action, seq: int) -> State:
    """An admission, removal or change of limits, by an admin's intent or a passed decision."""
    return _apply_action(state, b"", action, seq, state.ts_ms)


def rebind(state: State, member_id: bytes, new_key: bytes) -> State:
    """Move `member_id`'s account to `new_key`; the old key is retired for good."""
    member = state.members[member_id]
    return _replace(
        state,
        keys=state.keys.set(new_key, member_id),
        members=state.members.set(
            member_id, _replace(member, key=new_key, retired_keys=member.retired_keys | {member.key})
        ),
    )


def _apply_action(state: State, signer_id: bytes, action: Action, seq: int, ts_ms: int) -> State:
    if isinstance(action, Vote):
        return deciding.apply_vote(state, signer_id, action)
    if isinstance(action, Propose):
        return deciding.apply_propose(state, signer_id, action, seq, ts_ms)
    if isinstance(action, Delegate):
        return deciding.apply_delegate(state, signer_id, action)
    if isinstance(action, Undelegate):
        return deciding.apply_undelegate(state, signer_id, action)
    if isinstance(action, RebindKey):
        return rebind(state, signer_id, action.new_key)
    if isinstance(action, FederationAct):
        return apply_federation_act(state, action)
    if isinstance(action, PlaceOrder):
        return sharing.apply_place_order(state, signer_id, action, seq)
    if isinstance(action, Subscribe):
        return sharing.apply_subscribe(state, signer_id, action, seq)
    if isinstance(action, CancelOrder):
        return sharing.apply_cancel_order(state, action)
    if isinstance(action, TransferShares):
        return sharing.apply_transfer_shares(state, signer_id, action, seq)
    if isinstance(action, RegisterEnterprise):
        return sharing.apply_register(state, signer_id, action, seq)
    if isinstance(action, EnterprisePay):
        return sharing.apply_enterprise_pay(state, action)
    if isinstance(action, OpenOffer):
        return sharing.apply_open_offer(state, action, seq, ts_ms)
    if isinstance(action, WithdrawShares):
        return sharing.apply_withdraw(state, signer_id, action, seq, ts_ms)
    members, accounts, keys, names = state.members, state.accounts, state.keys, state.names
    if isinstance(action, Transfer):
        levy = levy_minor(state, signer_id, action.to, action.amount_minor)
        accounts = move_credit(accounts, signer_id, action.to, action.amount_minor)
        if levy:
            accounts = move_credit(accounts, signer_id, state.treasury, levy)  # type: ignore[arg-type]
    elif isinstance(action, AdmitMember):
        members = members.set(
            action.member, Member(name=action.name, key=action.member, role=action.role, active=True, admitted_seq=seq)
        )
        accounts = accounts.set(action.member, Account())
        keys = keys.set(action.member, action.member)
        names = names.set(_name_key(action.name), action.member)
    elif isinstance(action, RemoveMember):
        member = members[action.member]
        members = members.set(action.member, _replace(member, active=False))
        names = names.delete(_name_key(member.name))
    elif isinstance(action, SetRole):
        members = members.set(action.member, _replace(members[action.member], role=action.role))
    elif isinstance(action, SetLimits):
        accounts = accounts.set(
            action.account,
            _replace(
                accounts[action.account],
                debit_limit_minor=action.debit_limit_minor,
                credit_ceiling_minor=action.credit_ceiling_minor,
            ),
        )
    elif isinstance(action, SetDefaultLimits):
        community = _replace(
            state.community,
            debit_limit_minor=action.debit_limit_minor,
            credit_ceiling_minor=action.credit_ceiling_minor,
        )
        state = _replace(state, community=community)
    return _replace(state, members=members, accounts=accounts, keys=keys, names=names)


def apply(state: State, event: Event, intent: Intent | None = None) -> State:
    """The state after `event`. `intent` is the decoded intent of an `Act` (decoded and verified
    once by the caller, who also checked `validate`)."""
    body = event.body
    since = state.events_since_checkpoint + 1
    if isinstance(body, (Act, PaymentOut)):
        assert intent is not None, "an event carrying an intent is applied with its decoded intent"
        signer_id = state.keys[intent.key]
        if isinstance(body, PaymentOut):
            state = paying.apply_payment_out(state, event, signer_id)
        else:
            state = _apply_action(state, signer_id, intent.action, event.seq, event.ts)
        state = _replace(state, members=state.members.set(signer_id, _record_nonce(state.members[signer_id], intent.nonce)))
    elif isinstance(body, Checkpoint):
        since = 0
    elif isinstance(body, DecisionClosed):
        state = deciding.apply_close(state, body, event.seq)
    elif isinstance(body, OfferClosed):
        state = sharing.apply_offer_close(state, body, event.seq)
    elif isinstance(body, WithdrawalDue):
        state = sharing.apply_withdrawal(state, body, event.seq)
    elif isinstance(body, KeyRotated):
        pass  # the keys of the feed are the protocol's FeedHead; the ledger is unchanged
    elif isinstance(body, ledger_neutral_bodies):
        # federation/ folds these from the members' feeds; the ledger only leaves the outbox, and
        # adopting a charter opens the community's trade account in that federation.
        if state.federation_outbox and state.federation_outbox[0] == body:
            state = _replace(state, federation_outbox=state.federation_outbox[1:])
        if isinstance(body, Charter):
            state = paying.open_trade_account(state, body, event.seq)
    elif isinstance(body, TradeLimits):
        state = paying.apply_trade_limits(state, body)
    elif isinstance(body, CapacityLimits):
        state = paying.apply_capacity_limits(state, body)
    elif isinstance(body, PaymentAccepted):
        state = paying.apply_accepted(state, body)
    elif isinstance(body, PaymentRejected):
        state = paying.apply_rejected(state, body)
    elif isinstance(body, PaymentSettled):
        state = paying.apply_settled(state, body)
    elif isinstance(body, PaymentReturned):
        state = paying.apply_returned(state, body)
    elif isinstance(body, PaymentCancel):
        state = paying.apply_cancel(state, body)
    elif isinstance(body, Genesis):
        raise AssertionError("a genesis starts a state; it is never applied to one")
    else:  # pragma: no cover - the decoder admits only the Body union
        raise AssertionError(f"no transition for {type(body).__name__}")
    return _replace(state, seq=event.seq, events_since_checkpoint=since, ts_ms=max(state.ts_ms, event.ts))


def audit(state: State, event: Event, intent: Intent | None) -> State:
    """What a replica or a verifier does with each event: the full rules, then the transition."""
    if isinstance(event.body, (Act, PaymentOut)):
        assert intent is not None
        error = validate(state, intent, event.ts)
        if error is not None:
            raise error
        if isinstance(event.body, PaymentOut):
            paying.audit_payment_out(state, event, intent)
        elif isinstance(intent.action, PayAcross):
            raise NotAuthorizedError(f"seq {event.seq} carries a payment across in an act; it belongs in payment_sent")
    elif isinstance(event.body, DecisionClosed):
        deciding.audit_close(state, event)
    elif isinstance(event.body, ledger_neutral_bodies):
        body = event.body
        decided = bool(state.federation_outbox) and state.federation_outbox[0] == body
        abstention = isinstance(body, FederationVote) and body.proposal is None
        if not decided and not abstention:
            raise NotAuthorizedError(
                f"seq {event.seq} appends a federation {body.__struct_config__.tag} the community did not decide"
            )
    elif isinstance(event.body, TradeLimits):
        paying.check_trade_limits(state, event.body)
    elif isinstance(event.body, CapacityLimits):
        paying.check_capacity_limits(state, event.body)
    elif isinstance(event.body, (PaymentAccepted, PaymentRejected)):
        paying.audit_answer(state, event)
    elif isinstance(event.body, (PaymentSettled, PaymentReturned)):
        paying.audit_settled(state, event)
    elif isinstance(event.body, PaymentCancel):
        paying.audit_cancel(state, event)
    elif isinstance(event.body, OfferClosed):
        sharing.audit_offer_close(state, event)
    elif isinstance(event.body, WithdrawalDue):
        sharing.audit_withdrawal(state, event)
    elif isinstance(event.body, Checkpoint):
        expected = state_digest(state)
        if event.body.state_hash != expected:
            raise CheckpointMismatchError(
                f"checkpoint at seq {event.seq} does not match the state derived from the log"
            )
    return apply(state, event, intent)


def checkpoint_due(state: State) -> bool:
    return state.events_since_checkpoint >= state.community.checkpoint_interval_events


def touched_accounts(state: State, intent: Intent) -> list[bytes]:
    """The member ids whose projection rows an intent changes (the signer's nonce always)."""
    signer_id = state.keys.get(intent.key)
    action = intent.action
    ids = [signer_id] if signer_id is not None else []
    if isinstance(action, Transfer):
        ids.append(action.to)
        if state.levy is not None and state.treasury is not None:
            ids.append(state.treasury)
    elif isinstance(action, (AdmitMember, RemoveMember, SetRole)):
        ids.append(action.member)
    elif isinstance(action, SetLimits):
        ids.append(action.account)
    elif isinstance(action, SetDefaultLimits):
        ids = list(state.accounts.keys())
    elif isinstance(action, Propose):
        ids.append(state.seq + 1)  # type: ignore[arg-type]  # the decision's id: the seq of its event
    elif isinstance(action, Vote):
        ids.append(action.decision)  # type: ignore[arg-type]
    elif isinstance(action, PayAcross):
        route = paying.through(state, action.federation)
        ids.append(None if route is None else state.payments.trade.get(route[0]))
    elif isinstance(action, (Delegate, Undelegate)) and signer_id is not None:
        ids.append(delegations_of(signer_id))  # type: ignore[arg-type]
    elif signer_id is not None:
        ids += sharing.touched_by_action(state, signer_id, action)
    return ids


def delegations_of(member_id: bytes) -> tuple[str, bytes]:
    """The projection key of a member's delegations (touched sets mix member ids, decision ids
    and these)."""
    return ("delegations", member_id)


def touched_by_body(state: State, body: object) -> list:
    """The projection rows a node body (not carrying an intent) changes, from the state before it."""
    if isinstance(body, DecisionClosed):
        return touched_by_close(state, body)
    if isinstance(body, Charter):
        return [paying.trade_account_id(state.feed, federation_id(body))]
    if isinstance(body, TradeLimits):
        return [state.payments.trade.get(body.federation)]
    return paying.touched(state, body)


def touched_by_close(state: State, body: DecisionClosed) -> list:
    """The projection rows a closing event changes: the decision and what its effect touches."""
    decision = state.decisions.get(body.decision)
    effect = decision.effect if decision is not None and body.outcome == "passed" else None
    return [body.decision, *deciding.effect_members(state, effect)]


class _DigestEntry(Struct, array_like=True):
    member: bytes
    name: str
    key: bytes
    role: str
    active: bool
    balance_minor: int
    debit_limit_minor: int | None
    credit_ceiling_minor: int | None


def state_digest(state: State) -> bytes:
    """BLAKE2b-256 of the canonical encoding of the derived state: the community's settings and
    every member with their account, sorted by member id. docs/protocol.md gives the layout."""
    community = state.community
    entries = [
        _DigestEntry(
            member_id,
            member.name,
            member.key,
            member.role,
            member.active,
            state.accounts[member_id].balance_minor,
            state.accounts[member_id].debit_limit_minor,
            state.accounts[member_id].credit_ceiling_minor,
        )
        for member_id, member in sorted(state.members.items())
    ]
    preimage: list = [
        state.feed,
        state.seq,
        [community.name, community.unit_code, community.unit_decimals, community.debit_limit_minor,
         community.credit_ceiling_minor, community.checkpoint_interval_events],
        entries,
    ]
    if state.decisions or state.delegations or state.rules != Rules():
        # Only once the community has used decisions, so that every earlier digest (and golden
        # vector) is unchanged: the rules, every decision with its votes and outcome, every delegation.
        preimage.append(
            [
                [state.rules.admission, state.rules.quorum_bp, state.rules.threshold_bp,
                 None if state.levy is None else [state.levy.rate_bp, state.levy.min_minor, state.levy.max_minor]],
                [
                    [seq, d.proposer, d.decision_type, d.deadline_ms, d.quorum_bp, d.threshold_bp, d.outcome,
                     sorted((member, ballot.position, list(ballot.options)) for member, ballot in d.votes.items()),
                     *deciding.electorate_digest(d)]
                    for seq, d in sorted(state.decisions.items())
                ],
                sorted((member, sorted(topics.items())) for member, topics in state.delegations.items()),
            ]
        )
    if state.shares.enterprises or state.federation_outbox or state.payments.trade:
        # Only once the community has an enterprise or a federation act waiting, so every earlier
        # digest is unchanged.
        if len(preimage) == 4:
            preimage.append(None)
        preimage.append(sharing.digest_part(state))
        if state.federation_outbox or state.payments.trade:
            preimage.append([encode(body) for body in state.federation_outbox])
        if state.payments.trade:
            preimage.append(paying.digest_part(state))
    return hash32(encode(preimage))


Validator = Callable[[State, Intent], DomainError | None]
