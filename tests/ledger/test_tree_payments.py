"""Payments with a Credit Commons tree in the community's own ledger (ledger/payments.py, "the
tree"; docs/creditcommons.md): held, then settled or returned once; received once per uuid; every
node body audited as a replica would, and the feed refolded from its bytes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tallystick.ledger import payments
from tallystick.ledger.errors import DomainError, NotAuthorizedError, NotInFederationError, SameAccountError
from tallystick.ledger.transition import validate
from tallystick.protocol.events import (
    AdmitMember,
    GraftTree,
    PayTree,
    TreeReceived,
    TreeReturned,
    TreeSettled,
)

from helpers.ledger import ClockedLedger, admin_key, key, refold

ben_key = key("ben of riverside")
graft = GraftTree("trunk/riverside", "riverside", "graft", 1, 1, 500, 500)
uuid_one = "3d8ebb9f-6a29-42cb-9d39-9ee0a6bf7f1c"


def grafted() -> ClockedLedger:
    ledger = ClockedLedger(debit_limit_minor=1000, credit_ceiling_minor=1000)
    ledger.accept(admin_key, AdmitMember(member=ben_key.public, name="Ben"))
    ledger.accept(admin_key, graft)
    return ledger


def balance(ledger: ClockedLedger, account: bytes) -> int:
    return ledger.state.accounts[account].balance_minor


def pay(ledger: ClockedLedger, amount: int, to_path: str = "trunk/bob") -> int:
    assert ledger.submit(ledger.sign(ben_key, PayTree(to_path, amount))) is None
    return ledger.seq


def test_a_payment_to_the_tree_is_held_then_settled_once_and_the_chain_moves() -> None:
    ledger = grafted()
    tree_account = payments.tree_account_id(ledger.feed)
    assert ledger.state.payments.tree.last_hash == "graft"
    held = pay(ledger, 300)
    assert balance(ledger, ben_key.public) == -300 and balance(ledger, tree_account) == 300
    assert ledger.state.payments.tree.held[held].quant == 300
    ledger.audited(TreeSettled(held, "h1"))
    assert not ledger.state.payments.tree.held and ledger.state.payments.tree.last_hash == "h1"
    assert balance(ledger, ben_key.public) == -300
    with pytest.raises(DomainError):
        ledger.audited(TreeSettled(held, "h2"))
    with pytest.raises(DomainError):
        ledger.audited(TreeReturned(held, "MaxLimitViolation"))
    state, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state == ledger.state


def test_a_payment_the_tree_refuses_is_returned_and_the_chain_stays() -> None:
    ledger = grafted()
    held = pay(ledger, 300)
    ledger.audited(TreeReturned(held, "MaxLimitViolation"))
    assert balance(ledger, ben_key.public) == 0 and balance(ledger, payments.tree_account_id(ledger.feed)) == 0
    assert ledger.state.payments.tree.last_hash == "graft" and not ledger.state.payments.held


def test_a_payment_to_the_tree_outside_the_rules_is_refused_and_changes_nothing() -> None:
    ledger = ClockedLedger(debit_limit_minor=1000, credit_ceiling_minor=1000)
    ledger.accept(admin_key, AdmitMember(member=ben_key.public, name="Ben"))
    assert isinstance(validate(ledger.state, ledger.sign(ben_key, PayTree("trunk/bob", 5)).intent), NotInFederationError)
    assert isinstance(validate(ledger.state, ledger.sign(ben_key, graft).intent), NotAuthorizedError)  # not an admin
    ledger.accept(admin_key, graft)
    before = ledger.state
    assert isinstance(ledger.submit(ledger.sign(admin_key, graft)), NotAuthorizedError)  # grafted once
    assert isinstance(ledger.submit(ledger.sign(ben_key, PayTree("trunk/riverside/m_x", 5))), SameAccountError)
    assert isinstance(ledger.submit(ledger.sign(ben_key, PayTree("riverside/m_x", 5))), SameAccountError)
    assert isinstance(ledger.submit(ledger.sign(ben_key, PayTree("trunk/bob", 1001))), DomainError)  # Ben's limit
    assert isinstance(ledger.submit(ledger.sign(ben_key, PayTree("trunk/bob", 600))), NotAuthorizedError)  # the tree's
    assert ledger.state == before
    assert isinstance(validate(ledger.state, ledger.sign(admin_key, GraftTree(
        "trunk/elsewhere", "riverside", "g", 1, 1, 1, 1)).intent), NotAuthorizedError)


def test_a_payment_from_the_tree_is_received_once_by_a_member_at_the_grafts_rate() -> None:
    ledger = ClockedLedger(debit_limit_minor=1000, credit_ceiling_minor=1000)
    ledger.accept(admin_key, AdmitMember(member=ben_key.public, name="Ben"))
    ledger.accept(admin_key, GraftTree("trunk/riverside", "riverside", "graft", 2, 1, 500, 500))  # 1 minor = 2 quant
    received = TreeReceived(uuid_one, "trunk/bob", ben_key.public, 150, 301, "h1")
    assert payments.tree_refusal(ledger.state, uuid_one, ben_key.public, 150) is None
    ledger.audited(received)
    assert balance(ledger, ben_key.public) == 150 and ledger.state.payments.tree.last_hash == "h1"
    for refused in (received,  # a uuid received twice
                    TreeReceived("00000000-0000-4000-8000-000000000001", "trunk/bob", ben_key.public, 151, 301, "h2"),
                    TreeReceived("00000000-0000-4000-8000-000000000002", "trunk/riverside/x", ben_key.public, 1, 2, "h2"),
                    TreeReceived("00000000-0000-4000-8000-000000000003", "trunk/bob", key("nobody").public, 1, 2, "h2"),
                    TreeReceived("00000000-0000-4000-8000-000000000004", "trunk/bob", ben_key.public, 400, 800, "h2")):
        with pytest.raises(DomainError):
            ledger.audited(refused)
    assert payments.tree_refusal(ledger.state, uuid_one, ben_key.public, 1)[0] == "DuplicateUuidViolation"
    state, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state == ledger.state


def test_a_held_payments_uuid_is_the_same_on_every_replica_and_differs_by_payment() -> None:
    feed = bytes(32)
    assert payments.tree_uuid(feed, 7) == payments.tree_uuid(feed, 7) != payments.tree_uuid(feed, 8)
    assert payments.tree_uuid(feed, 7)[14] == "4"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["pay", "settle", "return", "receive", "replay"]), st.integers(1, 400)),
                max_size=25))
def test_any_order_of_steps_keeps_credit_whole_and_concludes_each_payment_once(steps: list[tuple[str, int]]) -> None:
    """Retries, answers for payments not held, a uuid sent twice: every step the rules refuse changes
    nothing, credit always sums to zero, and what is held is exactly what was paid and not concluded."""
    ledger = grafted()
    concluded: set[int] = set()
    received = 0
    for number, (step, amount) in enumerate(steps):
        held = sorted(ledger.state.payments.tree.held)
        before = ledger.state
        try:
            if step == "pay":
                ledger.submit(ledger.sign(ben_key, PayTree("trunk/bob", amount)))
            elif step in ("settle", "return"):
                target = held[amount % len(held)] if held and amount % 3 else amount  # sometimes one not held
                body = TreeSettled(target, f"h{number}") if step == "settle" else TreeReturned(target, "CCFailure")
                ledger.audited(body)
                assert target not in concluded
                concluded.add(target)
            else:
                uuid = f"00000000-0000-4000-8000-{(received if step == 'receive' else 0):012d}"
                ledger.audited(TreeReceived(uuid, "trunk/bob", ben_key.public, amount, amount, f"h{number}"))
                received += 1
        except DomainError:
            assert ledger.state == before
        accounts = ledger.state.accounts.values()
        assert sum(account.balance_minor for account in accounts) == 0
        tree = ledger.state.payments.tree
        assert sum(h.amount_minor for h in tree.held.values()) == ledger.state.payments.held.get(ben_key.public, 0)
        assert not concluded & set(tree.held)
