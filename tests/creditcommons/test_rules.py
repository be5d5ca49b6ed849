"""The leaf's pure rules: bodies decoded within bounds, paths, which account a transaction from the
tree pays, the next step of a held payment for each outcome, and units rounding down."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tallystick.federation.creditcommons import paths, rules, wire
from tallystick.federation.creditcommons.outcomes import Accepted, Diverged, Refused, Unanswered

uuid = "3d8ebb9f-6a29-42cb-9d39-9ee0a6bf7f1c"


def body(entries: list[dict], **fields: object) -> bytes:
    return json.dumps({"uuid": uuid, "state": "V", "workflow": "|P-PC+CX+", "entries": entries, **fields}).encode()


def entry(payer: str, payee: str, quant: object = 5, **fields: object) -> dict:
    return {"payer": payer, "payee": payee, "quant": quant, "description": "d", "metadata": {}, **fields}


# komunitin accounting/test/creditcommons/api.data.ts (a3de3ea): a payment to trunk/branch2/TEST0002
# from trunk/branch/twig/alice, with three fees the payee pays.
komunitin_with_fees = [entry("trunk/branch/twig/alice", "trunk/branch2/TEST0002", 14),
                       entry("trunk/branch2/TEST0002", "trunk/branch/twig/admin", 2),
                       entry("trunk/branch2/TEST0002", "trunk/branch/admin", 3),
                       entry("trunk/branch2/TEST0002", "trunk/admin", 1)]


def test_a_transaction_from_the_tree_pays_one_local_account_its_net_gain() -> None:
    found = rules.incoming("trunk/branch2", wire.decode_transaction(body(komunitin_with_fees)))
    assert found == rules.Incoming("TEST0002", 14 - 2 - 3 - 1, "d")
    relative = [entry("branch/twig/alice", "branch2/TEST0002", 7)]  # paths may leave out the trunk
    assert rules.incoming("trunk/branch2", wire.decode_transaction(body(relative))).quant == 7


@pytest.mark.parametrize(("entries", "api_class"), [
    ([entry("trunk/branch2/a", "trunk/branch2/b")], "WrongAccountViolation"),  # both here
    ([entry("trunk/x/a", "trunk/y/b")], "WrongAccountViolation"),  # neither here
    ([entry("trunk/x/a", "trunk/branch2/a"), entry("trunk/branch2/b", "trunk/x/c", 1)], "WrongAccountViolation"),
    ([entry("trunk/branch2/a", "trunk/x/b")], "WorkflowViolation"),  # a bill: no gain here
    ([entry("trunk/x/a", "trunk/branch2/a", 3), entry("trunk/branch2/a", "trunk/x/fees", 3)], "WorkflowViolation"),
    ([entry("trunk/x/a", "trunk//a")], "PathViolation"),
])
def test_a_transaction_from_the_tree_that_is_not_a_payment_here_is_refused_with_its_class(
        entries: list[dict], api_class: str) -> None:
    with pytest.raises(rules.TreeRefusal) as refused:
        rules.incoming("trunk/branch2", wire.decode_transaction(body(entries)))
    assert refused.value.api_class == api_class
    assert refused.value.to_json()["errors"][0]["class"] == api_class and refused.value.to_json()["error"]


@pytest.mark.parametrize("raw", [
    b"", b"[]", b"{", "\u00e9".encode("latin-1"), b'{"uuid": "x", "entries": []}',
    body([]), body([entry("a/b", "a/c", 0)]), body([entry("a/b", "a/c", -1)]), body([entry("a/b", "a/c", 0.01)]),
    body([entry("a/b", "a/c", True)]), body([entry("a/b", "a/c", 10**16)]), body([entry("a/b", "a/c")] * 21),
    body([entry("a/b", "a/c", description="x" * 1001)]), body([entry("a/b", "a/c", surprise=1)]),
    body([entry("a/b", "a/c")], surprise=1), body([entry("a/b", "")]), b"{}" + b" " * wire.body_bytes_max,
])
def test_a_body_outside_the_api_or_its_bounds_is_refused_with_a_message(raw: bytes) -> None:
    with pytest.raises(wire.BodyError) as refused:
        wire.decode_transaction(raw)
    assert str(refused.value)


def test_the_relay_of_a_members_payment_names_them_by_their_path_never_their_name() -> None:
    member = bytes(range(32))
    transaction = rules.outgoing("trunk/riverside", uuid, member, "trunk/bob", 250, "bread")
    assert transaction.entries[0].payer == "trunk/riverside/m_aaaqeayeaudaocaj" == paths.member_path("trunk/riverside", member)
    assert len(paths.member_name(member)) == paths.member_name_chars
    assert wire.decode_transaction(wire.encode(transaction)) == transaction
    with pytest.raises(rules.TreeRefusal):
        rules.outgoing("trunk/riverside", uuid, member, "trunk/riverside/m_other", 1, "")


def test_each_outcome_of_a_relay_has_one_next_step_and_only_the_others_write_settles() -> None:
    assert rules.after_relay(Accepted("h1")) == rules.Settle("h1")
    assert isinstance(rules.after_relay(Accepted("h1", (wire.Entry("a/b", "a/c", 1),))), rules.Return)
    assert rules.after_relay(Refused(400, "MaxLimitViolation", "too much")) == rules.Return("MaxLimitViolation", "too much")
    assert rules.after_relay(Refused(400, "DuplicateUuidViolation", "exists")) == rules.Hold("exists", resolve=True)
    assert rules.after_relay(Unanswered("down")) == rules.Hold("down", resolve=True)
    assert rules.after_relay(Diverged("differs")) == rules.Hold("differs", resolve=True)
    assert rules.after_resolution("written", "h2") == rules.Settle("h2")
    assert rules.after_resolution("not_written", "h2") == rules.Relay()
    assert isinstance(rules.after_resolution("unanswered", "h2"), rules.Hold)
    assert isinstance(rules.after_resolution("diverged", "h2"), rules.Alert)


@given(st.integers(1, 10**15), st.integers(1, 10**6), st.integers(1, 10**6))
def test_a_conversion_there_and_back_never_creates_credit(amount: int, rate_num: int, rate_den: int) -> None:
    quant = rules.to_quant(amount, rate_num, rate_den)
    assert quant * rate_den <= amount * rate_num
    assert rules.from_quant(quant, rate_num, rate_den) <= amount
