"""Cross-community payments in one community's ledger: the pure half of each side. No I/O, no clock.

How this works: a community has one balance-of-trade account per federation it adopted (a system
account, role `trade`), the counterparty of every payment across: when member A of C1 pays member B
of C2, C1's node carries A's signed `pay_across` intent in a `payment_sent` event (A debited, C1's
trade account credited: C1 now owes the federation), and holds the payment pending. C2's node, and
only C2's, answers in its own feed: `payment_accepted` (B credited, C2's trade account debited: the
federation owes C2) or `payment_rejected`. C1 then appends `payment_settled` (the pending payment
ends) or `payment_returned` (A refunded, the trade account back). A payment's id is the hash of its
`payment_sent` event. Each feed alone says everything its ledger does, so a replica audits each
side from that side's feed; that C1 followed C2's answer, and that C2's amount is the charter's
conversion, are checked across feeds by the federation layer (federation/payments.py). The trade
account's limits come from the federation's decision (`trade_limits`), so each community enforces
its own limits locally.

Through a confederation: when C1 and C2 are under different federations, the payment meets at
their lowest common federation (`PaymentOut.federation`), and each side moves the trade account of
its own federation (the one whose ancestors include the meeting federation) and counts the amount
against its share of that federation's capacity at each level it leaves (`Capacity`, set by the
node's `capacity_limits` body from the federation's `fed_allocate` decision). A level's count is
the community's net position through it: what it sold through it minus what it bought, payments
held out counted as if they came back. Each community keeps every level within its share, and a
federation's shares sum to at most its capacity, so no federation's net position in its parent
breaches its capacity at any level, with no central check (docs/federation.md, "Capacity").

With a Credit Commons tree (the last section, docs/creditcommons.md): the same holding, with the
trunkward node's HTTP answer in place of C2's feed.
"""

from __future__ import annotations

from immutables import Map
from msgspec.structs import replace as _replace
from tallystick.protocol import limits
from tallystick.protocol.codec import encode
from tallystick.protocol.events import (
    CapacityLimits,
    Event,
    FederationAct,
    GraftTree,
    Intent,
    PayAcross,
    PayTree,
    TradeLimits,
    TreeReceived,
    TreeReturned,
    TreeSettled,
)
from tallystick.protocol.federation import (
    Charter,
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentOutSealed,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
    federation_id,
)
from tallystick.protocol.ids import hash32

from .accounts import (
    check_can_receive,
    check_within,
    credit_ceiling,
    free_name,
    money,
    move_credit,
    name_of,
    open_system_account,
    people_roles,
    require_admin,
)
from .errors import (
    CapacityShareError,
    CreditCeilingError,
    DomainError,
    NotAuthorizedError,
    NotDueError,
    NotInFederationError,
    PaymentAnsweredError,
    SameAccountError,
    UnknownPaymentError,
)
from .model import Account, Capacity, Member, Payments, Pending, State, Tree, TreeHeld


def trade_account_id(feed: bytes, federation: bytes) -> bytes:
    return hash32(b"tallystick/trade\n" + feed + federation)


def payment_id(event: Event) -> bytes:
    """The hash of the `payment_sent` event: its canonical encoding is its exact bytes."""
    return hash32(encode(event))


def _add_held(held: Map, member: bytes, change: int) -> Map:
    total = held.get(member, 0) + change
    return held.set(member, total) if total else held.delete(member)


# ---- the trade account ----------------------------------------------------------------------------


def open_trade_account(state: State, charter: Charter, seq: int) -> State:
    """When the community appends a charter naming it: its trade account in that federation, with
    no room until the federation decides its limits."""
    federation = federation_id(charter)
    if federation in state.payments.trade or not any(m.member == state.feed for m in charter.members):
        return state
    account = trade_account_id(state.feed, federation)
    name = free_name(state, (f"Trade {charter.name}", f"Trade {charter.name} {seq}"))
    state = open_system_account(state, account, name, "trade", seq, Account(0, 0, 0))
    return _replace(state, payments=_replace(state.payments, trade=state.payments.trade.set(federation, account)))


def check_trade_limits(state: State, body: TradeLimits) -> None:
    if body.federation not in state.payments.trade:
        raise NotInFederationError("this community has no trade account in that federation")


def apply_trade_limits(state: State, body: TradeLimits) -> State:
    account_id = state.payments.trade[body.federation]
    # Mirrored: the community below zero in the federation is its trade account above zero here.
    account = _replace(state.accounts[account_id], debit_limit_minor=body.credit_ceiling_minor,
                       credit_ceiling_minor=body.debit_limit_minor)
    return _replace(state, accounts=state.accounts.set(account_id, account))


# ---- capacity: the community's share of its federation's capacity, at every level ------------------


def check_capacity_limits(state: State, body: CapacityLimits) -> None:
    if body.federation not in state.payments.trade:
        raise NotInFederationError("this community has no trade account in that federation")
    if body.federation in body.above or len(set(body.above)) != len(body.above):
        raise NotAuthorizedError("a federation's ancestors name each federation once, and never itself")


def apply_capacity_limits(state: State, body: CapacityLimits) -> State:
    """The new share and chain. A level's count survives while the chain up to it is unchanged; a
    level new to the chain starts at zero (no payment could meet above a federation not yet there)."""
    old = state.payments.capacity.get(body.federation)
    levels = len(body.above)
    used, held = [0] * levels, [0] * levels
    if old is not None:
        for level in range(min(levels, len(old.above))):
            if old.above[:level] != body.above[:level]:
                break
            used[level], held[level] = old.used[level], old.held[level]
    capacity = Capacity(tuple(body.above), body.share_minor, tuple(used), tuple(held))
    return _replace(state, payments=_replace(
        state.payments, capacity=state.payments.capacity.set(body.federation, capacity)))


def through(state: State, federation: bytes) -> tuple[bytes, int] | None:
    """How a payment meeting at `federation` leaves this community: the community's own federation
    whose trade account it moves, and how many capacity levels above it counts in (0 for a
    federation the community is a direct member of). None if the community is not under it."""
    payments = state.payments
    if federation in payments.trade:
        return federation, 0
    for own, capacity in sorted(payments.capacity.items()):
        if federation in capacity.above:
            return own, capacity.above.index(federation) + 1
    return None


def capacity_refusal(state: State, own: bytes, levels: int, change: int) -> str | None:
    """Why moving the community's position by `change` through the first `levels` levels above
    `own` would breach its share, or None. A position held out counts as if it came back; a change
    that brings an out-of-share position nearer zero (after a smaller allocation) is allowed."""
    capacity = state.payments.capacity.get(own)
    if levels == 0:
        return None
    if capacity is None or len(capacity.used) < levels:
        return "the federation has allotted this community no share of its capacity above it yet"
    rooms = []
    for level in range(levels):
        before = capacity.used[level] + (capacity.held[level] if change > 0 else 0)
        rooms.append(capacity.share_minor - before if change > 0 else capacity.share_minor + before)
    for level in range(levels):
        before = capacity.used[level] + (capacity.held[level] if change > 0 else 0)
        after = before + change
        if abs(after) > capacity.share_minor and abs(after) > abs(before):
            room = min(rooms)
            fits = f" (at most {money(state, room)} fits)" if room > 0 else ""
            return (f"its position through the federations above would reach {money(state, after)}, "
                    f"past its share of {money(state, capacity.share_minor)} of the federation's capacity{fits}")
    return None


def _count(payments: Payments, own: bytes, levels: int, used: int, held: int) -> Payments:
    capacity = payments.capacity.get(own)
    if capacity is None or levels == 0:
        return payments
    reach = min(levels, len(capacity.used))
    capacity = _replace(
        capacity,
        used=tuple(u + used if level < reach else u for level, u in enumerate(capacity.used)),
        held=tuple(h + held if level < reach else h for level, h in enumerate(capacity.held)),
    )
    return _replace(payments, capacity=payments.capacity.set(own, capacity))


def position(state: State, federation: bytes) -> int | None:
    """The community's position in `federation`, in its own unit: what it sold minus what it bought."""
    account = state.payments.trade.get(federation)
    return None if account is None else -state.accounts[account].balance_minor


# ---- C1: sending --------------------------------------------------------------------------------


def check_pay_across(state: State, signer_id: bytes, action: PayAcross) -> None:
    route = through(state, action.federation)
    if route is None:
        raise NotInFederationError(
            "this community is not under that federation (it adopted no charter of it or of a federation "
            "below it that the node knows joined it); it cannot pay through it")
    account_id = state.payments.trade[route[0]]
    if action.to_community == state.feed:
        raise SameAccountError("that member is in this community: pay them with `tally pay NAME AMOUNT`")
    payer = state.accounts[signer_id]
    check_within(state, payer, payer.balance_minor - action.amount_minor, name_of(state, signer_id),
                        moved=action.amount_minor, remedy=lambda most: f"pay at most {money(state, most)}")
    trade = state.accounts[account_id]
    try:
        check_within(state, trade, trade.balance_minor + action.amount_minor, "the trade account")
    except DomainError as error:
        room = credit_ceiling(state, trade) - trade.balance_minor
        most = f"pay at most {money(state, room)} across now, or " if isinstance(error, CreditCeilingError) and room > 0 else ""
        raise NotAuthorizedError(
            "this payment would take the community past its balance-of-trade limit in the federation: "
            f"{most}trade the other way first, or ask the federation to raise it"
        ) from None
    refusal = capacity_refusal(state, route[0], route[1], -action.amount_minor)
    if refusal is not None:
        raise CapacityShareError(
            f"this payment would take the community past its share of its federation's capacity: {refusal}; "
            "trade the other way first, or ask the federation to allocate this community more"
        )


def payment_body(state: State, intent: Intent, intent_bytes: bytes, ts_ms: int,
                 sealed: tuple[bytes, bytes] | None = None) -> PaymentOut:
    """The event the node appends for a `pay_across` intent (the intent carried verbatim; with a
    committed memo, its sealed box beside it: `sealed` is (subject, box))."""
    action = intent.action
    assert isinstance(action, PayAcross)
    fields = {
        "federation": action.federation, "to_community": action.to_community, "to_member": action.to_member,
        "payer": state.keys[intent.key], "amount_minor": action.amount_minor,
        "expires_ms": ts_ms + limits.payment_expiry_ms, "memo": action.memo, "intent": intent_bytes,
    }
    if sealed is not None:
        return PaymentOutSealed(**fields, subject=sealed[0], box=sealed[1])
    return PaymentOut(**fields)


def audit_payment_out(state: State, event: Event, intent: Intent) -> None:
    body = event.body
    assert isinstance(body, PaymentOut)
    action = intent.action
    if not isinstance(action, PayAcross):
        raise NotAuthorizedError(f"seq {event.seq} sends a payment that its intent does not ask for")
    sealed = (body.subject, body.box) if isinstance(body, PaymentOutSealed) else None
    expected = payment_body(state, intent, body.intent, event.ts, sealed)
    if body != expected:
        raise NotAuthorizedError(f"seq {event.seq} sends a payment that differs from its member's intent")


def apply_payment_out(state: State, event: Event, signer_id: bytes) -> State:
    body = event.body
    assert isinstance(body, PaymentOut)
    own, levels = through(state, body.federation)  # type: ignore[misc]  # validated before
    trade = state.payments.trade[own]
    pending = Pending(event.seq, signer_id, body.federation, body.to_community, body.to_member, body.amount_minor,
                      body.expires_ms, via=b"" if own == body.federation else own, levels=levels)
    payments = _count(state.payments, own, levels, -body.amount_minor, body.amount_minor)
    payments = _replace(
        payments,
        pending=payments.pending.set(payment_id(event), pending),
        held=_add_held(payments.held, signer_id, body.amount_minor),
    )
    return _replace(state, accounts=move_credit(state.accounts, signer_id, trade, body.amount_minor), payments=payments)


def _pending(state: State, payment: bytes, what: str) -> Pending:
    found = state.payments.pending.get(payment)
    if found is None:
        raise UnknownPaymentError(f"{what} names a payment this community has not pending")
    return found


def audit_settled(state: State, event: Event) -> None:
    body = event.body
    assert isinstance(body, (PaymentSettled, PaymentReturned))
    _pending(state, body.payment, f"seq {event.seq}")


def own_federation(pending: Pending) -> bytes:
    """The community's own federation whose trade account a pending payment moved."""
    return pending.via or pending.federation


def apply_settled(state: State, body: PaymentSettled) -> State:
    pending = state.payments.pending[body.payment]
    payments = _count(state.payments, own_federation(pending), pending.levels, 0, -pending.amount_minor)
    return _replace(state, payments=_replace(
        payments, pending=payments.pending.delete(body.payment),
        held=_add_held(payments.held, pending.payer, -pending.amount_minor)))


def apply_returned(state: State, body: PaymentReturned) -> State:
    pending = state.payments.pending[body.payment]
    trade = state.payments.trade[own_federation(pending)]
    payments = _count(state.payments, own_federation(pending), pending.levels, pending.amount_minor,
                      -pending.amount_minor)
    payments = _replace(payments, pending=payments.pending.delete(body.payment),
                        held=_add_held(payments.held, pending.payer, -pending.amount_minor))
    return _replace(state, accounts=move_credit(state.accounts, trade, pending.payer, pending.amount_minor), payments=payments)


def audit_cancel(state: State, event: Event) -> None:
    body = event.body
    assert isinstance(body, PaymentCancel)
    pending = _pending(state, body.payment, f"seq {event.seq}")
    if pending.cancel_sent:
        raise PaymentAnsweredError(f"seq {event.seq} asks again to cancel payment it already asked to cancel")
    if event.ts < pending.expires_ms:
        raise NotDueError(f"seq {event.seq} cancels a payment before it expires at {pending.expires_ms} ms")


def apply_cancel(state: State, body: PaymentCancel) -> State:
    pending = state.payments.pending[body.payment]
    payments = state.payments
    return _replace(state, payments=_replace(
        payments, pending=payments.pending.set(body.payment, _replace(pending, cancel_sent=True))))


# ---- C2: answering ------------------------------------------------------------------------------


def incoming_refusal(state: State, federation: bytes, to_member: bytes, amount_minor: int) -> str | None:
    """Why this community would reject a payment of `amount_minor` (its unit) to `to_member`, as
    one of the protocol's reasons, or None if it accepts."""
    route = through(state, federation)
    member = state.members.get(to_member)
    if route is None:
        return "refused"
    if member is None or member.role not in people_roles:
        return "unknown_member"
    if not member.active:
        return "account_closed"
    try:
        check_can_receive(state, to_member, amount_minor, "the payee")
    except DomainError:
        return "credit_ceiling"
    trade = state.accounts[state.payments.trade[route[0]]]
    try:
        check_within(state, trade, trade.balance_minor - amount_minor, "the trade account")
    except DomainError:
        return "trade_limit"
    if capacity_refusal(state, route[0], route[1], amount_minor) is not None:
        return "capacity"
    return None


def audit_answer(state: State, event: Event) -> None:
    body = event.body
    assert isinstance(body, (PaymentAccepted, PaymentRejected))
    if body.payment in state.payments.answered:
        raise PaymentAnsweredError(f"seq {event.seq} answers payment that this community already answered")
    if isinstance(body, PaymentAccepted):
        refusal = incoming_refusal(state, body.federation, body.to_member, body.amount_minor)
        if refusal is not None:
            raise NotAuthorizedError(f"seq {event.seq} accepts a payment its own rules refuse ({refusal})")


def apply_accepted(state: State, body: PaymentAccepted) -> State:
    own, levels = through(state, body.federation)  # type: ignore[misc]  # audited before
    trade = state.payments.trade[own]
    payments = _count(state.payments, own, levels, body.amount_minor, 0)
    payments = _replace(payments, answered=payments.answered.set(body.payment, "accepted"))
    return _replace(state, accounts=move_credit(state.accounts, trade, body.to_member, body.amount_minor), payments=payments)


def apply_rejected(state: State, body: PaymentRejected) -> State:
    return _replace(state, payments=_replace(state.payments,
                                             answered=state.payments.answered.set(body.payment, "rejected")))


def touched(state: State, body: object) -> list:
    """The projection rows a payment body changes (the accounts; payments ride in the community row)."""
    if isinstance(body, PaymentAccepted):
        route = through(state, body.federation)
        return [None if route is None else state.payments.trade.get(route[0]), body.to_member]
    if isinstance(body, (PaymentSettled, PaymentReturned, PaymentCancel)):
        pending = state.payments.pending.get(body.payment)
        if pending is None:
            return []
        return [pending.payer, state.payments.trade.get(own_federation(pending))]
    tree = state.payments.tree
    if isinstance(body, (TreeSettled, TreeReturned)) and tree is not None:
        held = tree.held.get(body.payment)
        return [] if held is None else [held.payer, tree.account]
    if isinstance(body, TreeReceived) and tree is not None:
        return [body.to_member, tree.account]
    return []


def digest_part(state: State) -> list:
    payments = state.payments
    return [
        sorted([federation, account] for federation, account in payments.trade.items()),
        sorted([payment, p.seq, p.amount_minor, p.cancel_sent] for payment, p in payments.pending.items()),
        sorted([payment, answer] for payment, answer in payments.answered.items()),
    ] + ([sorted([own, list(c.above), c.share_minor, list(c.used), list(c.held)]
                 for own, c in payments.capacity.items())] if payments.capacity else []) + (
        # Only once grafted: a community without a tree keeps the digests it always had.
        [_tree_digest(payments.tree)] if payments.tree is not None else [])


def _tree_digest(tree: Tree) -> list:
    return [tree.node_path, tree.leaf_name, tree.rate_num, tree.rate_den, tree.account, tree.last_hash,
            sorted([seq, h.payer, h.to_path, h.amount_minor, h.quant] for seq, h in tree.held.items()),
            sorted([uuid, seq] for uuid, seq in tree.received.items())]



# ---- the community's federation acts (its outbox) -------------------------------------------

def check_federation_act_rule(state: State, action: FederationAct) -> None:
    """What the community's own ledger can check of a federation act: room in the outbox. A
    charter that names this community is its adoption; one that does not only publishes it (how a
    confederation of federations gets its charter into the feeds: its member federations adopt it
    by decision). The federation's rules are checked by federation/, which folds the feeds."""
    if len(state.federation_outbox) >= limits.federation_outbox_max:
        raise NotAuthorizedError(
            f"{limits.federation_outbox_max} federation acts wait to be appended; try again in a moment"
        )


def apply_federation_act(state: State, action: FederationAct) -> State:
    return _replace(state, federation_outbox=(*state.federation_outbox, action.body))


# ---- the Credit Commons tree (docs/creditcommons.md) ------------------------------------------------
# The community as a leaf: one tree account is the counterparty of every payment with the tree, as
# a trade account is of payments across. A member's `pay_tree` (in an `act`) debits them and credits
# the tree account, held under the act's seq; the node relays it to the trunkward node and appends
# `tree_settled` (written there: it stays out) or `tree_returned` (refused there: back to the
# payer), once. `tree_received` credits a member from the tree account for a transaction the
# trunkward node relayed, once per uuid. The chain's last hash is a fold of these bodies.


def tree_account_id(feed: bytes) -> bytes:
    return hash32(b"tallystick/tree\n" + feed)


def tree_uuid(feed: bytes, payment_seq: int) -> str:
    """The Credit Commons uuid of the payment held under `payment_seq`: derived, so every replica
    and every rebuild names it alike (a version-4 layout over hashed bytes)."""
    raw = bytearray(hash32(b"tallystick/tree-uuid\n" + feed + payment_seq.to_bytes(8, "big"))[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def tree_quant(tree: Tree, amount_minor: int) -> int:
    """Minor units in the tree's quant at the graft's rate, rounded down (a conversion never
    creates credit, as payments across)."""
    return amount_minor * tree.rate_num // tree.rate_den


def tree_amount(tree: Tree, quant: int) -> int:
    return quant * tree.rate_den // tree.rate_num


def on_this_node(node_path: str, path: str) -> bool:
    """Whether `path` names an account of this node (with the nodes above it, or some of them, left out)."""
    own, parent = node_path.split("/"), path.split("/")[:-1]
    return any(parent == own[start:] for start in range(len(own)))


def check_graft(state: State, signer: Member, action: GraftTree) -> None:
    require_admin(signer)
    if state.payments.tree is not None:
        raise NotAuthorizedError("this community is already grafted onto a Credit Commons tree")
    if action.node_path.rsplit("/", 1)[-1] != action.leaf_name:
        raise NotAuthorizedError("the node path ends with the community's name on its trunkward node (leaf_name)")


def apply_graft(state: State, action: GraftTree, seq: int) -> State:
    account = tree_account_id(state.feed)
    name = free_name(state, ("Credit Commons", f"Credit Commons {seq}"))
    # Mirrored, as a trade account's limits (apply_trade_limits).
    state = open_system_account(state, account, name, "trade", seq,
                                Account(0, action.credit_ceiling_minor, action.debit_limit_minor))
    tree = Tree(action.node_path, action.leaf_name, action.rate_num, action.rate_den, account, action.first_hash)
    return _replace(state, payments=_replace(state.payments, tree=tree))


def check_pay_tree(state: State, signer_id: bytes, action: PayTree) -> None:
    tree = state.payments.tree
    if tree is None:
        raise NotInFederationError("this community is not grafted onto a Credit Commons tree")
    if on_this_node(tree.node_path, action.to_path):
        raise SameAccountError("that account is in this community: pay the member here directly")
    if tree_quant(tree, action.amount_minor) < 1:
        raise NotAuthorizedError("the amount converts to less than one unit of the tree; send more")
    payer = state.accounts[signer_id]
    check_within(state, payer, payer.balance_minor - action.amount_minor, name_of(state, signer_id),
                 moved=action.amount_minor, remedy=lambda most: f"pay at most {money(state, most)}")
    account = state.accounts[tree.account]
    try:
        check_within(state, account, account.balance_minor + action.amount_minor, "the tree account")
    except DomainError:
        raise NotAuthorizedError(
            "this payment would take the community past its limit in the Credit Commons tree: "
            "trade the other way first, or ask the trunkward node to raise it") from None


def apply_pay_tree(state: State, signer_id: bytes, action: PayTree, seq: int) -> State:
    tree = state.payments.tree
    assert tree is not None  # validated before
    held = TreeHeld(signer_id, action.to_path, action.amount_minor, tree_quant(tree, action.amount_minor))
    payments = _replace(state.payments, tree=_replace(tree, held=tree.held.set(seq, held)),
                        held=_add_held(state.payments.held, signer_id, action.amount_minor))
    return _replace(state, accounts=move_credit(state.accounts, signer_id, tree.account, action.amount_minor),
                    payments=payments)


def audit_tree_concluded(state: State, event: Event) -> None:
    body = event.body
    assert isinstance(body, (TreeSettled, TreeReturned))
    tree = state.payments.tree
    if tree is None or body.payment not in tree.held:
        raise UnknownPaymentError(f"seq {event.seq} concludes a payment to the tree this community does not hold")


def apply_tree_settled(state: State, body: TreeSettled) -> State:
    tree = state.payments.tree
    assert tree is not None
    held = tree.held[body.payment]
    return _replace(state, payments=_replace(
        state.payments, tree=_replace(tree, held=tree.held.delete(body.payment), last_hash=body.last_hash),
        held=_add_held(state.payments.held, held.payer, -held.amount_minor)))


def apply_tree_returned(state: State, body: TreeReturned) -> State:
    tree = state.payments.tree
    assert tree is not None
    held = tree.held[body.payment]
    payments = _replace(state.payments, tree=_replace(tree, held=tree.held.delete(body.payment)),
                        held=_add_held(state.payments.held, held.payer, -held.amount_minor))
    return _replace(state, accounts=move_credit(state.accounts, tree.account, held.payer, held.amount_minor),
                    payments=payments)


def tree_refusal(state: State, uuid: str, to_member: bytes, amount_minor: int) -> tuple[str, str] | None:
    """Why this community refuses a transaction the tree relays, as (the API's error class, one
    line), or None if it takes it."""
    tree = state.payments.tree
    if tree is None:
        return "PermissionViolation", "this community is not grafted onto a Credit Commons tree"
    if uuid in tree.received:
        return "DuplicateUuidViolation", "a transaction with that uuid was received here"
    member = state.members.get(to_member)
    if member is None or member.role not in people_roles or not member.active:
        return "DoesNotExistViolation", "no member of this community has that account"
    if amount_minor < 1:
        return "CCOtherViolation", "the amount converts to less than one minor unit here; send more"
    try:
        check_can_receive(state, to_member, amount_minor, "the payee")
    except DomainError:
        return "MaxLimitViolation", "the payee would pass their credit ceiling"
    account = state.accounts[tree.account]
    try:
        check_within(state, account, account.balance_minor - amount_minor, "the tree account")
    except DomainError:
        return "MinLimitViolation", "this community would pass its limit in the tree"
    return None


def audit_tree_received(state: State, event: Event) -> None:
    body = event.body
    assert isinstance(body, TreeReceived)
    refusal = tree_refusal(state, body.uuid, body.to_member, body.amount_minor)
    if refusal is not None:
        raise NotAuthorizedError(f"seq {event.seq} receives from the tree what its own rules refuse ({refusal[0]})")
    tree = state.payments.tree
    assert tree is not None
    if on_this_node(tree.node_path, body.from_path):
        raise NotAuthorizedError(f"seq {event.seq} receives from the tree a payment from this community")
    if body.amount_minor != tree_amount(tree, body.quant):
        raise NotAuthorizedError(f"seq {event.seq} credits another amount than the graft's rate gives")


def apply_tree_received(state: State, event: Event) -> State:
    body = event.body
    assert isinstance(body, TreeReceived)
    tree = state.payments.tree
    assert tree is not None
    tree = _replace(tree, received=tree.received.set(body.uuid, event.seq), last_hash=body.last_hash)
    return _replace(state, accounts=move_credit(state.accounts, tree.account, body.to_member, body.amount_minor),
                    payments=_replace(state.payments, tree=tree))
