"""Ids, canonical encoding, signing and the decoders' contract.

The decoders face bytes from anyone. Their contract, checked here by fuzzing: decode_event returns an
Event or raises a RemoteError subclass, nothing else (no msgspec error, no UnicodeDecodeError, no
RecursionError escapes); the same for decode_intent and decode_fork_proof. What they accept is
canonical: re-encoding gives back the exact input.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tallystick.protocol import limits
from tallystick.protocol.codec import (
    decode_event,
    decode_fork_proof,
    decode_intent,
    encode,
    sign_event,
    sign_intent,
    signable_event,
    signable_intent,
    verify_event_signature,
    verify_intent,
)
from tallystick.protocol.errors import (
    BadIdError,
    BadSignatureError,
    MalformedError,
    NonCanonicalError,
    RemoteError,
    TooLargeError,
    UnknownKindError,
    UnsupportedVersionError,
    WrongFeedError,
)
from tallystick.protocol.events import (
    Act,
    Checkpoint,
    Event,
    ForkProof,
    Genesis,
    Intent,
    SetLimits,
    Transfer,
    action_kinds,
    body_kinds,
)
from tallystick.protocol.ids import KeyPair, hash32, id_from_text, id_kind_names, id_to_text, verify_signature

vectors_dir = Path(__file__).resolve().parents[1] / "vectors"
feed_vectors = json.loads((vectors_dir / "feed.json").read_text(encoding="utf-8"))
valid_events = [bytes.fromhex(record["bytes_hex"]) for record in feed_vectors["events"]]
valid_intents = [
    bytes.fromhex(record["bytes_hex"])
    for record in json.loads((vectors_dir / "intents.json").read_text(encoding="utf-8"))["intents"]
]
feed = bytes.fromhex(feed_vectors["feed_hex"])
alice = KeyPair(hash32(b"codec test: alice"))
bob = KeyPair(hash32(b"codec test: bob"))
fuzz = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
id_kinds = st.sampled_from(sorted(id_kind_names))


# ---- ids ----------------------------------------------------------------------------------------


@given(kind=id_kinds, raw=st.binary(min_size=32, max_size=32))
def test_an_id_round_trips_through_its_text_form(kind: str, raw: bytes) -> None:
    text = id_to_text(kind, raw)  # type: ignore[arg-type]
    assert text.startswith(kind + "_") and len(text) == 2 + 52
    assert text == text.lower() and "=" not in text
    assert id_from_text(kind, text) == raw  # type: ignore[arg-type]


@given(kind=id_kinds, text=st.text(max_size=80))
@example(kind="m", text="m_" + "a" * 52)
@example(kind="m", text="m_" + "a" * 51 + "b")
@example(kind="m", text="m_" + "é" * 52)
def test_id_from_text_returns_32_bytes_or_raises_bad_id_error(kind: str, text: str) -> None:
    try:
        raw = id_from_text(kind, text)  # type: ignore[arg-type]
    except BadIdError as error:
        assert error.code == "bad_id" and error.message
        return
    assert len(raw) == 32
    assert id_to_text(kind, raw) == kind + "_" + text.strip()[2:].lower()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("n", id_to_text("m", bytes(32))),  # the wrong kind of id
        ("m", "m_" + "a" * 51),  # too short
        ("m", "m_" + "a" * 60),  # too long
        ("m", "m_" + "a" * 51 + "0"),  # not a base32 digit
        ("m", "m_" + "a" * 51 + "b"),  # bits past the 256th set: a second spelling
        ("m", "m_"),
        ("m", ""),
    ],
)
def test_a_bad_id_raises_bad_id_error_with_a_message(kind: str, text: str) -> None:
    with pytest.raises(BadIdError) as raised:
        id_from_text(kind, text)  # type: ignore[arg-type]
    assert raised.value.to_json()["error"] == "bad_id"


@pytest.mark.parametrize("spelling", [str.upper, lambda body: body[:-1] + body[-1].upper(), str.title])
def test_an_id_in_uppercase_is_refused_as_bad_id_so_each_id_has_one_text(spelling) -> None:
    text = id_to_text("m", hash32(b"a member"))
    assert id_from_text("m", text) == hash32(b"a member")
    with pytest.raises(BadIdError) as raised:
        id_from_text("m", "m_" + spelling(text[2:]))
    assert raised.value.code == "bad_id" and "lowercase" in raised.value.message


def test_an_id_with_surrounding_whitespace_is_read_as_the_id() -> None:
    text = id_to_text("n", hash32(b"a feed"))
    assert id_from_text("n", f"  {text}\n") == hash32(b"a feed")


def test_id_to_text_refuses_anything_but_32_bytes() -> None:
    with pytest.raises(ValueError):
        id_to_text("h", bytes(31))


def test_a_key_pair_round_trips_through_its_secret_text_form() -> None:
    assert KeyPair.from_text(alice.to_text()).public == alice.public
    assert alice.to_text().startswith("s_")


# ---- canonical encoding and signing ----------------------------------------------------------------

memos = st.text(max_size=limits.memo_chars_max)
amounts = st.integers(min_value=1, max_value=limits.amount_minor_max)
nonces = st.integers(min_value=0, max_value=limits.int64_max)


@settings(max_examples=100, deadline=None)
@given(amount=amounts, memo=memos, nonce=nonces)
def test_a_signed_intent_decodes_to_what_was_signed_and_verifies(amount: int, memo: str, nonce: int) -> None:
    action = Transfer(to=bob.public, amount_minor=amount, memo=memo)
    data = sign_intent(alice, feed=feed, nonce=nonce, action=action)
    intent = verify_intent(data, feed=feed)
    assert (intent.key, intent.nonce, intent.action) == (alice.public, nonce, action)
    assert encode(intent) == data


@settings(max_examples=100, deadline=None)
@given(
    seq=st.integers(min_value=2, max_value=limits.int64_max),
    ts=st.integers(min_value=0, max_value=limits.int64_max),
    state_hash=st.binary(min_size=32, max_size=32),
)
def test_a_signed_event_decodes_to_what_was_signed_and_verifies(seq: int, ts: int, state_hash: bytes) -> None:
    data = sign_event(
        alice, feed=feed, seq=seq, prev=hash32(b"prev"), ts=ts, body=Checkpoint(state_hash=state_hash)
    )
    event = decode_event(data)
    assert (event.seq, event.ts, event.body) == (seq, ts, Checkpoint(state_hash=state_hash))
    verify_event_signature(data, alice.public)
    with pytest.raises(BadSignatureError):
        verify_event_signature(data, bob.public)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "cc80"),
        (255, "ccff"),
        (256, "cd0100"),
        (65_536, "ce00010000"),
        (2**32, "cf0000000100000000"),
        (-1, "ff"),
        (-32, "e0"),
        (-33, "d0df"),
        (-129, "d1ff7f"),
        (None, "c0"),
        (True, "c3"),
        (False, "c2"),
        ("", "a0"),
        ("é", "a2c3a9"),
        ("x" * 32, "d920" + "78" * 32),
        (b"", "c400"),
        (b"\x01" * 32, "c420" + "01" * 32),
        (b"\x00" * 256, "c50100" + "00" * 256),
    ],
)
def test_the_encoder_writes_the_smallest_msgpack_form(value: object, encoded: str) -> None:
    """docs/protocol.md promises these forms; an implementation in another language relies on them."""
    assert encode(value).hex() == encoded


def test_a_struct_encodes_as_an_array_with_its_tag_first_and_every_field_written() -> None:
    transfer = Transfer(to=bytes(32), amount_minor=5)
    assert encode(transfer) == b"\x94\xa8transfer\xc4\x20" + bytes(32) + b"\x05\xa0"
    limits_action = SetLimits(account=bytes(32), debit_limit_minor=None, credit_ceiling_minor=300)
    assert encode(limits_action) == b"\x94\xaaset_limits\xc4\x20" + bytes(32) + b"\xc0\xcd\x01\x2c"


def test_signed_bytes_are_the_unsigned_array_grown_by_one_element_holding_the_signature() -> None:
    data = sign_intent(alice, feed=feed, nonce=1, action=Transfer(to=bob.public, amount_minor=1))
    assert data[0] == 0x96 and data[-66:-64] == b"\xc4\x40"
    assert signable_intent(data) == b"tallystick/intent/v1\n\x95" + data[1:-66]
    event = sign_event(alice, feed=feed, seq=2, prev=feed, ts=0, body=Act(intent=data))
    assert event[0] == 0x97 and signable_event(event) == b"tallystick/event/v1\n\x96" + event[1:-66]


def test_an_intent_signature_does_not_verify_as_an_event_signature() -> None:
    """The namespaces separate the signing contexts."""
    data = sign_intent(alice, feed=feed, nonce=1, action=Transfer(to=bob.public, amount_minor=1))
    message_as_event = b"tallystick/event/v1\n\x95" + data[1:-66]
    with pytest.raises(BadSignatureError):
        verify_signature(alice.public, message_as_event, data[-64:])


def test_verify_intent_refuses_an_intent_for_another_feed_and_a_bad_signature() -> None:
    data = sign_intent(alice, feed=feed, nonce=1, action=Transfer(to=bob.public, amount_minor=1))
    with pytest.raises(WrongFeedError):
        verify_intent(data, feed=hash32(b"elsewhere"))
    with pytest.raises(BadSignatureError):
        verify_intent(data[:-1] + bytes((data[-1] ^ 1,)), feed=feed)


# ---- the decoders refuse what is not canonical, with the right error ---------------------------------


def test_size_is_checked_before_anything_is_decoded() -> None:
    with pytest.raises(TooLargeError):
        decode_event(b"\xc1" * (limits.event_bytes_max + 1))
    with pytest.raises(TooLargeError):
        decode_intent(b"\xc1" * (limits.intent_bytes_max + 1))


def test_an_event_of_exactly_the_limit_is_not_refused_for_its_size() -> None:
    with pytest.raises(MalformedError):
        decode_event(b"\xc1" * limits.event_bytes_max)


def test_invalid_utf8_in_a_string_is_malformed_not_a_unicode_error() -> None:
    genesis = valid_events[0]
    assert b"\xa9Riverside" in genesis
    with pytest.raises(MalformedError):
        decode_event(genesis.replace(b"\xa9Riverside", b"\xa9Riversid\xff"))


def test_thousands_of_nested_arrays_are_malformed_not_a_recursion_error() -> None:
    for data in (b"\x91" * 5000 + b"\x01", b"\x97" + b"\x91" * 5000 + b"\x01", b"\x96" + b"\x91" * 3000):
        with pytest.raises(MalformedError):
            decode_event(data)
        with pytest.raises(MalformedError):
            decode_intent(data[: limits.intent_bytes_max])
        with pytest.raises(MalformedError):
            decode_fork_proof(data)


def test_a_unit_code_with_a_trailing_newline_is_refused() -> None:
    genesis = valid_events[0]
    assert b"\xa3RVC" in genesis
    with pytest.raises(MalformedError):
        decode_event(genesis.replace(b"\xa3RVC", b"\xa4RVC\n"))


def test_a_newer_version_with_kinds_this_node_does_not_know_reads_as_unsupported_version() -> None:
    data = encode([2, feed, 2, feed, 0, ["payment_out", bytes(32), 1], bytes(64)])
    with pytest.raises(UnsupportedVersionError) as raised:
        decode_event(data)
    assert "upgrade this node" in raised.value.message


def test_an_unknown_kind_in_the_current_version_is_unknown_kind() -> None:
    with pytest.raises(UnknownKindError):
        decode_event(encode([1, feed, 2, feed, 0, ["payment_out", bytes(32), 1], bytes(64)]))
    with pytest.raises(UnknownKindError):
        decode_intent(encode([1, feed, alice.public, 1, ["mint", 5], bytes(64)]))


def test_every_kind_the_unions_decode_is_known_so_a_bad_one_is_malformed_not_unknown() -> None:
    # The known kinds are the unions' own tags: a kind added to a union is known at once.
    assert {"add_key", "remove_key", "pay_tree", "pay_interest"} <= action_kinds
    assert {"tree_received", "payment_sent", "genesis"} <= body_kinds
    with pytest.raises(MalformedError) as raised:
        decode_intent(encode([1, feed, alice.public, 1, ["add_key", "not a key"], bytes(64)]))
    assert not isinstance(raised.value, UnknownKindError)


def test_an_omitted_default_field_is_not_canonical() -> None:
    action = encode(["transfer", bob.public, 5])
    with pytest.raises(NonCanonicalError):
        decode_intent(encode([1, feed, alice.public, 1, msgspec.Raw(action), bytes(64)]))


def test_a_non_minimal_integer_is_not_canonical() -> None:
    data = valid_events[1]
    seq_at = 1 + 1 + 34
    assert data[seq_at] == 0x02
    with pytest.raises(NonCanonicalError):
        decode_event(data[:seq_at] + b"\xcc\x02" + data[seq_at + 1 :])


# ---- the decoder fuzz -------------------------------------------------------------------------------


def _assert_event_contract(data: bytes) -> None:
    try:
        event = decode_event(data)
    except RemoteError:
        return
    assert isinstance(event, Event)
    assert encode(event) == data, "an accepted event must be canonical"


def _assert_intent_contract(data: bytes) -> None:
    try:
        intent = decode_intent(data)
    except RemoteError:
        return
    assert isinstance(intent, Intent)
    assert encode(intent) == data


def _assert_fork_proof_contract(data: bytes) -> None:
    try:
        proof = decode_fork_proof(data)
    except RemoteError:
        return
    assert isinstance(proof, ForkProof)
    assert encode(proof) == data


@st.composite
def mutated(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    """A valid message with a few bytes flipped, inserted, deleted, or cut off."""
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        operation = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "splice"]))
        at = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if operation == "flip" and data:
            data[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif operation == "set" and data:
            data[at] = draw(
                st.sampled_from(
                    [
                        0x00,
                        0x7F,
                        0x80,
                        0x90,
                        0x9F,
                        0xA0,
                        0xC0,
                        0xC1,
                        0xC4,
                        0xCC,
                        0xCF,
                        0xD9,
                        0xDC,
                        0xDD,
                        0xDF,
                        0xFF,
                        draw(st.integers(0, 255)),
                    ]
                )
            )
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete" and data:
            del data[at : at + draw(st.integers(min_value=1, max_value=8))]
        elif operation == "truncate":
            del data[at:]
        elif operation == "splice":
            other = draw(st.sampled_from(originals))
            start = draw(st.integers(min_value=0, max_value=len(other)))
            data[at:at] = other[start : start + draw(st.integers(min_value=1, max_value=40))]
    return bytes(data)


@fuzz
@given(data=st.binary(max_size=600))
@example(data=b"")
@example(data=b"\xc1")
@example(data=b"\x97" + b"\x91" * 4000)
@example(data=b"\x97\x01\xc0\x01\xc0\x00\x81\x91\x01\x01")  # a map with an array as its key
@example(data=b"\x97\xd6\xff\x00\x00\x00\x01")  # a msgpack timestamp extension
@example(data=b"\x97\xdd\xff\xff\xff\xff")  # an array claiming four billion elements
def test_decode_event_returns_an_event_or_raises_a_remote_error_on_random_bytes(data: bytes) -> None:
    _assert_event_contract(data)


@fuzz
@given(data=mutated(valid_events))
def test_decode_event_returns_an_event_or_raises_a_remote_error_on_mutated_events(data: bytes) -> None:
    _assert_event_contract(data)


@fuzz
@given(data=st.one_of(st.binary(max_size=300), mutated(valid_intents)))
def test_decode_intent_returns_an_intent_or_raises_a_remote_error(data: bytes) -> None:
    _assert_intent_contract(data)


@settings(max_examples=100, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=300), mutated([encode(ForkProof(feed, 3, valid_events[2], valid_events[3]))])
    )
)
def test_decode_fork_proof_returns_a_fork_proof_or_raises_a_remote_error(data: bytes) -> None:
    _assert_fork_proof_contract(data)


@settings(max_examples=100, deadline=None)
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**64 - 1)
        | st.text(max_size=20)
        | st.binary(max_size=40)
        | st.sampled_from(["act", "genesis", "checkpoint", "key_rotated", "transfer"]),
        lambda children: st.lists(children, max_size=8),
        max_leaves=30,
    )
)
def test_decode_event_contract_holds_for_well_formed_msgpack_of_any_shape(value: object) -> None:
    """Random bytes are rarely valid msgpack; these are, so the typed decoder's checks get exercised."""
    _assert_event_contract(encode(value))
    _assert_intent_contract(encode(value)[: limits.intent_bytes_max])


@settings(max_examples=200, deadline=None)
@given(
    v=st.integers(min_value=0, max_value=3),
    seq=st.integers(min_value=0, max_value=4),
    with_feed=st.booleans(),
    with_prev=st.booleans(),
    body=st.sampled_from(["genesis", "act", "checkpoint", "key_rotated"]),
)
def test_decode_event_contract_holds_for_envelopes_near_the_valid_ones(
    v: int, seq: int, with_feed: bool, with_prev: bool, body: str
) -> None:
    bodies = {
        "genesis": Genesis("A", "RVC", 2, 0, 0, bytes(32), bytes(32), bytes(32), "B", 10),
        "act": Act(intent=valid_intents[0]),
        "checkpoint": Checkpoint(state_hash=bytes(32)),
        "key_rotated": ["key_rotated", bytes(32), bytes(32), bytes(32)],
    }
    data = encode(
        [v, feed if with_feed else None, seq, feed if with_prev else None, 5, bodies[body], bytes(64)]
    )
    _assert_event_contract(data)
