"""Bad input to POST /api/intents gets the right status and stable `error` code, and changes nothing.

Each test takes a snapshot of the node (the feed's seq and head, every balance, every member),
sends one bad request, checks the answer, and checks the snapshot is identical afterwards. The node
is shared by the module: every test leaves it as it found it, except for the few accepted intents a
test needs as a precondition (taken before its snapshot).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from tallystick.protocol import limits
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import AdmitMember, Transfer
from tallystick.protocol.ids import KeyPair

from helpers.nodes import NodeProcess, sign_raw_intent, sign_unsigned_intent
from helpers.support import Answer, http, next_nonce

# The node's default limits (tally init --debit-limit 100 --credit-ceiling 200, 2 decimals).
default_debit_limit_minor = 100_00
default_credit_ceiling_minor = 200_00


@dataclass
class Community:
    node: NodeProcess
    admin: KeyPair
    alice: KeyPair
    bob: KeyPair
    big_spender: KeyPair  # a debit limit far above anyone's credit ceiling
    leaver: KeyPair  # admitted, then removed


@pytest.fixture(scope="module")
def community(node: NodeProcess) -> Community:
    alice = node.admit("alice")
    bob = node.admit("bob")
    big_spender = node.admit("big spender", debit_limit_minor=10 * default_credit_ceiling_minor)
    leaver = node.admit("leaver")
    node.remove(leaver)
    return Community(node, node.admin_key, alice, bob, big_spender, leaver)


def assert_refused(answer: Answer, status: int, code: str) -> None:
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    document = answer.json()
    assert (answer.status, document.get("error")) == (status, code), document
    assert isinstance(document.get("message"), str) and document["message"], document


def post_json(node: NodeProcess, body: bytes) -> Answer:
    return http("POST", node.url + "/api/intents", body, "application/json")


def transfer(
    community: Community, payer: KeyPair, payee: KeyPair, amount_minor: int, memo: str = ""
) -> bytes:
    action = Transfer(to=payee.public, amount_minor=amount_minor, memo=memo)
    return sign_member_intent(payer, feed=community.node.feed, nonce=next_nonce(), action=action)


def raw_transfer_fields(
    community: Community, payer: KeyPair, payee: KeyPair, amount: Any, *, v: int = 1
) -> list[Any]:
    return [v, community.node.feed, payer.public, next_nonce(), ["transfer", payee.public, amount, ""]]


def refused_and_unchanged(community: Community, send: Any, status: int, code: str) -> None:
    before = community.node.snapshot()
    assert_refused(send(), status, code)
    assert community.node.snapshot() == before


# ---- bodies that are not an intent ---------------------------------------------------------------


def test_malformed_json_body_is_refused_as_malformed_and_changes_nothing(community: Community) -> None:
    refused_and_unchanged(community, lambda: post_json(community.node, b'{"intent": '), 400, "malformed")


def test_malformed_msgpack_body_is_refused_as_malformed_and_changes_nothing(community: Community) -> None:
    refused_and_unchanged(community, lambda: community.node.post_intent(b"\xc1\x96\x01"), 400, "malformed")


@pytest.mark.parametrize(
    "body",
    [b"[1, 2, 3]", b"42", b'"intent"', b'{"intent": 42}', b'{"intent": "not base64 at all!"}', b"{}"],
    ids=["list", "number", "string", "intent-not-a-string", "intent-not-base64", "no-intent"],
)
def test_json_body_of_the_wrong_shape_is_refused_as_malformed_and_changes_nothing(
    community: Community, body: bytes
) -> None:
    refused_and_unchanged(community, lambda: post_json(community.node, body), 400, "malformed")


def test_valid_intent_in_a_json_body_is_accepted(community: Community) -> None:
    """The control for the JSON cases above: the same envelope, well formed, is accepted."""
    before = community.node.snapshot()
    intent = transfer(community, community.alice, community.bob, 1)
    answer = post_json(community.node, json.dumps({"intent": base64.b64encode(intent).decode()}).encode())
    assert answer.status == 201, answer.body
    assert answer.json()["seq"] == before["seq"] + 1


def test_truncated_intent_is_refused_as_malformed_and_changes_nothing(community: Community) -> None:
    intent = transfer(community, community.alice, community.bob, 1)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent[:-10]), 400, "malformed")


# ---- intents the protocol refuses ----------------------------------------------------------------


def test_unknown_action_kind_is_refused_as_unknown_kind_and_changes_nothing(community: Community) -> None:
    alice = community.alice
    intent = sign_raw_intent(
        alice, [1, community.node.feed, alice.public, next_nonce(), ["mint", alice.public, 10**6]]
    )
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 400, "unknown_kind")


def test_intent_with_a_flipped_signature_byte_is_refused_as_bad_signature_and_changes_nothing(
    community: Community,
) -> None:
    intent = bytearray(transfer(community, community.alice, community.bob, 1))
    intent[-7] ^= 0x01  # inside the 64-byte signature at the end
    refused_and_unchanged(community, lambda: community.node.post_intent(bytes(intent)), 400, "bad_signature")


def test_intent_signed_by_another_key_than_it_names_is_refused_as_bad_signature(community: Community) -> None:
    intent = transfer(community, community.alice, community.bob, 1)
    forged = sign_unsigned_intent(community.bob, b"\x95" + intent[1:-66])  # alice's intent, bob's signature
    refused_and_unchanged(community, lambda: community.node.post_intent(forged), 400, "bad_signature")


def test_intent_for_another_communitys_feed_is_refused_as_wrong_feed_and_changes_nothing(
    community: Community,
) -> None:
    other_feed = KeyPair.generate().public  # any 32 bytes that are not this node's feed id
    action = Transfer(to=community.bob.public, amount_minor=1)
    intent = sign_member_intent(community.alice, feed=other_feed, nonce=next_nonce(), action=action)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 400, "wrong_feed")


@pytest.mark.parametrize("version", [0, 2])
def test_intent_of_another_protocol_version_is_refused_as_unsupported_version_and_changes_nothing(
    community: Community, version: int
) -> None:
    fields = raw_transfer_fields(community, community.alice, community.bob, 1, v=version)
    intent = sign_raw_intent(community.alice, fields)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 400, "unsupported_version")


def test_non_canonical_encoding_is_refused_as_non_canonical_and_changes_nothing(community: Community) -> None:
    alice = community.alice
    nonce = 200  # a positive fixint in canonical form: one byte
    canonical = msgspec.msgpack.encode(
        [1, community.node.feed, alice.public, nonce, ["transfer", community.bob.public, 1, ""]]
    )
    position = 1 + 1 + 34 + 34  # array header, v, feed (c4 20 + 32 bytes), key
    assert canonical[position : position + 2] == b"\xcc\xc8"  # uint8 200
    padded = (
        canonical[:position] + b"\xcf" + nonce.to_bytes(8, "big") + canonical[position + 2 :]
    )  # as uint64
    assert msgspec.msgpack.decode(padded) == msgspec.msgpack.decode(canonical)
    intent = sign_unsigned_intent(alice, padded)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 400, "non_canonical")


@pytest.mark.parametrize(
    "amount", [0, -1, -(10**6), limits.amount_minor_max + 1], ids=["zero", "minus-one", "negative", "too-big"]
)
def test_transfer_amount_outside_the_protocol_range_is_refused_as_malformed_and_changes_nothing(
    community: Community, amount: int
) -> None:
    intent = sign_raw_intent(
        community.alice, raw_transfer_fields(community, community.alice, community.bob, amount)
    )
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 400, "malformed")


def test_memo_past_its_limit_is_refused_as_malformed_and_changes_nothing(community: Community) -> None:
    memo = "m" * (limits.memo_chars_max + 1)
    alice, bob = community.alice, community.bob
    intent = sign_raw_intent(
        alice, [1, community.node.feed, alice.public, next_nonce(), ["transfer", bob.public, 1, memo]]
    )
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 400, "malformed")


def test_memo_at_its_limit_is_accepted(community: Community) -> None:
    answer = community.node.post_intent(
        transfer(community, community.alice, community.bob, 1, "m" * limits.memo_chars_max)
    )
    assert answer.status == 201, answer.body


def test_member_name_past_its_limit_is_refused_as_malformed_and_changes_nothing(community: Community) -> None:
    admin = community.admin
    newcomer = KeyPair.generate()
    name = "n" * (limits.name_chars_max + 1)
    fields = [1, community.node.feed, admin.public, next_nonce(), ["admit", newcomer.public, name, "member"]]
    intent = sign_raw_intent(admin, fields)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 400, "malformed")


def test_request_body_past_the_size_limit_is_refused_as_too_large_and_changes_nothing(
    community: Community,
) -> None:
    body = b"\x00" * (limits.request_bytes_max + 1)
    refused_and_unchanged(community, lambda: community.node.post_intent(body), 413, "too_large")


def test_megabytes_of_body_are_refused_as_too_large_and_change_nothing(community: Community) -> None:
    body = b"\x00" * (32 * limits.request_bytes_max)  # 2 MiB: refused without being held whole
    refused_and_unchanged(community, lambda: community.node.post_intent(body), 413, "too_large")


def test_json_body_past_the_size_limit_is_refused_as_too_large_and_changes_nothing(
    community: Community,
) -> None:
    body = b'{"intent": "' + b"A" * limits.request_bytes_max + b'"}'
    refused_and_unchanged(community, lambda: post_json(community.node, body), 413, "too_large")


def test_intent_past_its_size_limit_is_refused_as_too_large_and_changes_nothing(community: Community) -> None:
    alice, bob = community.alice, community.bob
    memo = "m" * limits.intent_bytes_max  # the body fits in a request, the intent not in an event
    intent = sign_raw_intent(
        alice, [1, community.node.feed, alice.public, next_nonce(), ["transfer", bob.public, 1, memo]]
    )
    assert len(intent) <= limits.request_bytes_max
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 413, "too_large")


# ---- intents the community's rules refuse --------------------------------------------------------


def test_replayed_intent_is_refused_as_replayed_nonce_and_changes_nothing(community: Community) -> None:
    intent = transfer(community, community.alice, community.bob, 3)
    first = community.node.post_intent(intent)
    assert first.status == 201, first.body
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 409, "replayed_nonce")


def test_intent_signed_by_an_unknown_key_is_refused_as_unknown_member_and_changes_nothing(
    community: Community,
) -> None:
    stranger = KeyPair.generate()
    intent = transfer(community, stranger, community.bob, 1)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 422, "unknown_member")


def test_payment_to_an_unknown_member_is_refused_as_unknown_member_and_changes_nothing(
    community: Community,
) -> None:
    intent = transfer(community, community.alice, KeyPair.generate(), 1)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 422, "unknown_member")


def test_payment_by_a_departed_member_is_refused_as_account_closed_and_changes_nothing(
    community: Community,
) -> None:
    intent = transfer(community, community.leaver, community.alice, 1)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 422, "account_closed")


def test_payment_to_a_departed_member_is_refused_as_account_closed_and_changes_nothing(
    community: Community,
) -> None:
    intent = transfer(community, community.alice, community.leaver, 1)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 422, "account_closed")


def test_payment_past_the_payers_debit_limit_is_refused_and_changes_nothing(community: Community) -> None:
    bob = community.node.get("/api/balances?account=bob")[0]
    assert bob["debit_limit"] == default_debit_limit_minor
    amount = bob["balance"] + bob["debit_limit"] + 1  # one minor unit past the limit
    intent = transfer(community, community.bob, community.alice, amount)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 422, "debit_limit")


def test_payment_past_the_payees_credit_ceiling_is_refused_and_changes_nothing(community: Community) -> None:
    alice = community.node.get("/api/balances?account=alice")[0]
    assert alice["credit_ceiling"] == default_credit_ceiling_minor
    amount = alice["credit_ceiling"] - alice["balance"] + 1  # one minor unit past the ceiling
    intent = transfer(community, community.big_spender, community.alice, amount)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 422, "credit_ceiling")


def test_payment_to_oneself_is_refused_as_same_account_and_changes_nothing(community: Community) -> None:
    intent = transfer(community, community.alice, community.alice, 1)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 422, "same_account")


def test_admission_by_a_non_admin_is_refused_as_not_authorized_and_changes_nothing(
    community: Community,
) -> None:
    action = AdmitMember(member=KeyPair.generate().public, name="gatecrasher")
    intent = sign_member_intent(community.alice, feed=community.node.feed, nonce=next_nonce(), action=action)
    refused_and_unchanged(community, lambda: community.node.post_intent(intent), 403, "not_authorized")


# ---- every error is JSON -------------------------------------------------------------------------


def test_unknown_path_is_a_json_404(community: Community) -> None:
    assert_refused(http("GET", community.node.url + "/api/no-such-thing"), 404, "not_found")


def test_wrong_method_is_a_json_405(community: Community) -> None:
    assert_refused(http("GET", community.node.url + "/api/intents"), 405, "method_not_allowed")


def test_bad_query_parameter_is_a_json_400(community: Community) -> None:
    assert_refused(http("GET", community.node.url + "/api/log?from=zero"), 400, "malformed")


def test_unknown_member_reference_is_a_json_error(community: Community) -> None:
    answer = http("GET", community.node.url + "/api/members/nobody-by-this-name")
    assert_refused(answer, 400, "bad_id")
