"""The CLI's refusals are typed, and a payment across meets where the node routes it."""

from __future__ import annotations

from tallystick.cli import federate
from tallystick.cli.client import NodeRefused
from tallystick.cli.common import Mistake, exit_mistake, exit_refused, exit_status
from tallystick.protocol.errors import LocalError, TallyError
from tallystick.protocol.ids import id_to_text


def test_a_node_refusal_is_a_typed_error_with_the_nodes_own_code() -> None:
    refusal = NodeRefused(422, "debit_limit", "Ada would go past her debit limit", signed=True)
    assert isinstance(refusal, LocalError) and isinstance(refusal, TallyError)
    assert (refusal.code, refusal.status, refusal.message) == ("debit_limit", 422, "Ada would go past her debit limit")
    assert exit_status(refusal) == exit_refused


def test_a_read_that_names_nothing_is_a_mistake_and_a_busy_node_is_not() -> None:
    assert exit_status(NodeRefused(404, "not_found", "no member Bob")) == exit_mistake
    assert exit_status(NodeRefused(429, "busy", "try again")) == exit_refused
    assert exit_status(NodeRefused(503, "busy", "try again")) == exit_refused
    assert exit_status(Mistake("exists", "alice.key exists")) == exit_mistake


def test_a_payment_across_meets_at_the_federation_the_node_routes_by_among_two_at_one_level() -> None:
    first, second = id_to_text("n", bytes(32)), id_to_text("n", bytes([1]) * 32)
    low, high = bytes([0]) + bytes([9]) * 31, bytes([0xF8]) + bytes([9]) * 31  # text x_a… and x_7…
    federations = [{"id": id_to_text("x", raw), "name": name, "founded": True,
                    "members": [{"member": first}, {"member": second}]}
                   for raw, name in ((high, "High"), (low, "Low"))]
    assert id_to_text("x", high) < id_to_text("x", low)  # the text order is the other way round
    meeting = federate.meeting(federations, first, second, None)
    assert meeting is not None and meeting["name"] == "Low"
