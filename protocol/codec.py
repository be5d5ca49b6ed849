"""Canonical bytes, signatures and the hash chain.

How this works: one event has one encoding. A receiver decodes the bytes into typed Structs, encodes
them again, and rejects the input unless the two byte strings are equal; so an event's hash (BLAKE2b-
256 of its signed bytes) is a function of its meaning. Signatures are Ed25519 over a namespace
followed by the canonical encoding of the unsigned fields, so an intent signature can never be
replayed as an event signature. The signed encoding of an event is the unsigned one with the array
header 0x96 turned into 0x97 and the 64-byte signature (``c4 40 <sig>``) appended; `signable_event`
recovers what was signed from the stored bytes by slicing, so a verifier checks the exact bytes it
holds without re-encoding. Cheap checks (sizes, version, seq, prev) run before Ed25519.
"""

from __future__ import annotations

import msgspec

from . import limits
from .errors import (
    MalformedError,
    NonCanonicalError,
    TooLargeError,
    UnknownKindError,
    UnsupportedVersionError,
    WrongFeedError,
)
from .events import (
    Action,
    Body,
    Event,
    EventUnsigned,
    ForkProof,
    Genesis,
    Intent,
    IntentUnsigned,
    action_kinds,
    body_kinds,
    encoder,
    event_decoder,
    fork_proof_decoder,
    intent_decoder,
)
from .ids import KeyPair, hash32, verify_signature
from .personal import Committed, Opened, clear_action, committed_action, opened_action, personal_values

event_namespace = b"tallystick/event/v1\n"
intent_namespace = b"tallystick/intent/v1\n"
_signature_suffix_bytes = 2 + 64  # bin8 header c4 40, then the signature
_event_header = 0x97  # fixarray of 7: [v, feed, seq, prev, ts, body, sig]
_intent_header = 0x96  # fixarray of 6: [v, feed, key, nonce, action, sig]


def encode(value: object) -> bytes:
    return encoder.encode(value)


def _classify_failure(data: bytes, error: msgspec.ValidationError, where: str, body_index: int) -> Exception:
    """Turn msgspec's message into our typed error: another protocol version, and an unknown tag,
    are their own errors (a newer peer's new kinds must read as "upgrade", not as garbage)."""
    try:
        generic = msgspec.msgpack.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        # msgspec's untyped decoder recurses once per nesting level: thousands of nested arrays
        # (which the typed decoder refuses at the first level) would otherwise escape as RecursionError.
        return MalformedError(f"{where} is not valid msgpack")
    if isinstance(generic, list) and generic:
        version = generic[0]
        if type(version) is int and version != limits.protocol_version:
            return _version_error(version, where)
    if isinstance(generic, list) and len(generic) > body_index:
        inner = generic[body_index]
        if isinstance(inner, list) and inner and isinstance(inner[0], str):
            known = body_kinds if where == "event" else action_kinds
            if inner[0] not in known:
                return UnknownKindError(
                    f"{where} has unknown kind {inner[0][:40]!r}; this node knows {sorted(known)}"
                )
    return MalformedError(f"{where} does not match the protocol: {error}")


def _version_error(v: int, where: str) -> UnsupportedVersionError:
    return UnsupportedVersionError(
        f"{where} is protocol version {v}; this node speaks version {limits.protocol_version}"
        + (": upgrade this node" if v > limits.protocol_version else ": the sender must upgrade")
    )


def _check_version(v: int, where: str) -> None:
    if v != limits.protocol_version:
        raise _version_error(v, where)


def decode_event(data: bytes) -> Event:
    """Bytes to Event, or a typed RemoteError. Checks size, shape, version and canonical form;
    does not check the signature (the caller knows which key should have signed)."""
    if len(data) > limits.event_bytes_max:
        raise TooLargeError(f"event is {len(data)} bytes; the limit is {limits.event_bytes_max}")
    try:
        event = event_decoder.decode(data)
    except msgspec.ValidationError as error:
        raise _classify_failure(data, error, "event", 5) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise MalformedError("event is not valid msgpack") from None
    if encoder.encode(event) != data:
        raise NonCanonicalError("event bytes are not in canonical form; re-encode it with the protocol's rules")
    _check_version(event.v, "event")
    if event.seq == 1:
        if event.feed is not None or event.prev is not None or not isinstance(event.body, Genesis):
            raise MalformedError("seq 1 must be a genesis with no feed and no prev")
    elif event.feed is None or event.prev is None or isinstance(event.body, Genesis):
        raise MalformedError("an event after seq 1 must name its feed and prev, and cannot be a genesis")
    return event


def decode_intent(data: bytes) -> Intent:
    if len(data) > limits.intent_bytes_max:
        raise TooLargeError(f"intent is {len(data)} bytes; the limit is {limits.intent_bytes_max}")
    try:
        intent = intent_decoder.decode(data)
    except msgspec.ValidationError as error:
        raise _classify_failure(data, error, "intent", 4) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise MalformedError("intent is not valid msgpack") from None
    if encoder.encode(intent) != data:
        raise NonCanonicalError("intent bytes are not in canonical form; re-encode it with the protocol's rules")
    _check_version(intent.v, "intent")
    return intent


def decode_fork_proof(data: bytes) -> ForkProof:
    try:
        proof = fork_proof_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise MalformedError(f"fork proof does not decode: {error}") from None
    if encoder.encode(proof) != data:
        raise NonCanonicalError("fork proof bytes are not canonical")
    return proof


def _signable(namespace: bytes, signed: bytes, signed_header: int) -> bytes:
    """What was signed, recovered from signed bytes: the same array one element shorter."""
    if (
        len(signed) < 1 + _signature_suffix_bytes
        or signed[0] != signed_header
        or signed[-_signature_suffix_bytes:-64] != b"\xc4\x40"
    ):
        raise MalformedError("signed bytes do not end in a 64-byte signature")
    return namespace + bytes((signed_header - 1,)) + signed[1:-_signature_suffix_bytes]


def signable_event(event_bytes: bytes) -> bytes:
    return _signable(event_namespace, event_bytes, _event_header)


def signable_intent(intent_bytes: bytes) -> bytes:
    return _signable(intent_namespace, intent_bytes, _intent_header)


def event_hash(event_bytes: bytes) -> bytes:
    return hash32(event_bytes)


def sign_event(key: KeyPair, *, feed: bytes | None, seq: int, prev: bytes | None, ts: int, body: Body) -> bytes:
    """Build and sign an event; returns its canonical signed bytes."""
    unsigned = encoder.encode(
        EventUnsigned(v=limits.protocol_version, feed=feed, seq=seq, prev=prev, ts=ts, body=body)
    )
    signature = key.sign(event_namespace + unsigned)
    return bytes((_event_header,)) + unsigned[1:] + b"\xc4\x40" + signature


def sign_intent(key: KeyPair, *, feed: bytes, nonce: int, action: Action) -> bytes:
    """Sign an intent. The signature covers the committed form of `action` (each `Opened` text
    replaced by its digest, protocol/personal.py), which is what the log will hold; the bytes
    returned carry `action` as given, so a member's client sends its own node the openings."""
    committed = committed_action(action)
    unsigned = encoder.encode(
        IntentUnsigned(v=limits.protocol_version, feed=feed, key=key.public, nonce=nonce, action=committed)
    )
    signature = key.sign(intent_namespace + unsigned)
    if committed is not action:
        return encoder.encode(
            Intent(v=limits.protocol_version, feed=feed, key=key.public, nonce=nonce, action=action, sig=signature)
        )
    return bytes((_intent_header,)) + unsigned[1:] + b"\xc4\x40" + signature


def sign_member_intent(key: KeyPair, *, feed: bytes, nonce: int, action: Action) -> bytes:
    """What a member's client sends its own node: `sign_intent` with every non-empty name, memo
    and text opened under a fresh random salt (protocol/personal.py, docs/protocol.md §19)."""
    return sign_intent(key, feed=feed, nonce=nonce, action=opened_action(action))


def verify_event_signature(event_bytes: bytes, public_key: bytes) -> None:
    verify_signature(public_key, signable_event(event_bytes), event_bytes[-64:])


def verify_intent(intent_bytes: bytes, *, feed: bytes) -> Intent:
    """Decode an intent, check it targets `feed`, and check its member signature."""
    return _verified(decode_intent(intent_bytes), intent_bytes, feed)


def _verified(intent: Intent, intent_bytes: bytes, feed: bytes) -> Intent:
    """`intent`, decoded from `intent_bytes`, once it targets `feed` and its signature holds."""
    if intent.feed != feed:
        raise WrongFeedError("intent is addressed to another community's feed; sign it for this node's feed")
    verify_signature(intent.key, signable_intent(intent_bytes), intent.sig)
    return intent


class Submitted(msgspec.Struct, frozen=True):
    """An intent as a member's client sent it, checked: the committed intent and its bytes (what
    the log will hold, verifying on every replica), the opened texts in field order, and the intent
    with those texts in clear (what the node's own checks of the texts read; None without any)."""

    intent: Intent
    intent_bytes: bytes
    opened: tuple[Opened, ...]
    clear: Intent | None = None
    # Whether a non-empty text came in clear (the form written before §19), which a node refuses.
    in_clear: bool = False


def verify_submitted_intent(intent_bytes: bytes, *, feed: bytes) -> Submitted:
    """`verify_intent` for what a client sends its node: personal texts may come opened; the
    signature is checked over the committed form, and the committed bytes are returned."""
    intent = decode_intent(intent_bytes)
    texts = personal_values(intent.action)  # one walk: most intents (a payment, a vote) carry none
    opened = tuple(value for value in texts if isinstance(value, Opened))
    if any(isinstance(value, Committed) for value in texts):
        # A digest alone: its node could not seal the text, and every replica would refuse the event.
        raise MalformedError(
            "this intent commits to a text it does not open: send every name, memo and text opened "
            "(docs/protocol.md §19), so that its node can seal it and check its rules"
        )
    in_clear = any(isinstance(value, str) and value for value in texts)
    if not opened:
        return Submitted(_verified(intent, intent_bytes, feed), intent_bytes, (), in_clear=in_clear)
    committed = Intent(v=intent.v, feed=intent.feed, key=intent.key, nonce=intent.nonce,
                       action=committed_action(intent.action), sig=intent.sig)
    committed_bytes = encoder.encode(committed)
    if len(committed_bytes) > limits.intent_bytes_max:  # a digest may be longer than a short text
        raise TooLargeError(f"intent is {len(committed_bytes)} bytes committed; the limit is {limits.intent_bytes_max}")
    clear = msgspec.structs.replace(intent, action=clear_action(intent.action))
    return Submitted(verify_intent(committed_bytes, feed=feed), committed_bytes, opened, clear, in_clear=in_clear)


