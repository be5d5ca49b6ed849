"""Messages nodes exchange under /replication/, as msgpack arrays.

How this works: the same rules as events: frozen Structs, array-encoded, every list and byte string
bounded in the type so a hostile peer cannot make us allocate past a limit. Events travel as their
exact signed bytes (the receiver verifies those bytes, never a re-encoding). A push or a fork
proof sent to a node carries a `Tally-Signature` header: the sender's own feed id and its current
key's Ed25519 signature over `request_signable(...)` (docs/federation.md, "Signed requests").
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from . import limits
from .events import Id32, Seq
from .ids import KeyPair, hash32, id_from_text, id_to_text

EventBytes = Annotated[bytes, Meta(max_length=limits.event_bytes_max)]


class WireHead(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    feed: Id32
    seq: Seq
    head: Id32


class Heads(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """What a node holds: each feed's latest seq and hash, and how many fork proofs it keeps."""

    heads: Annotated[list[WireHead], Meta(max_length=limits.replication_heads_max)]
    forks: int


class Events(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """A contiguous run of one feed's events starting at `start` (a pull answer or a push)."""

    feed: Id32
    start: Seq
    events: Annotated[list[EventBytes], Meta(max_length=limits.replication_batch_events_max)]


class Forks(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    proofs: Annotated[list[Annotated[bytes, Meta(max_length=3 * limits.event_bytes_max)]], Meta(max_length=limits.replication_forks_max)]


heads_decoder = msgspec.msgpack.Decoder(Heads)
events_decoder = msgspec.msgpack.Decoder(Events)
forks_decoder = msgspec.msgpack.Decoder(Forks)


class NodeIdentity(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """GET /replication/node: the feed a node writes (its own). A configured peer's claim, trusted
    as far as its URL is (docs/federation.md, "Who may push")."""

    feed: Id32


identity_decoder = msgspec.msgpack.Decoder(NodeIdentity)

# ---- signed requests between nodes (docs/federation.md, "Signed requests") ----------------------

# The domain separator of a request signature: no event, intent or other signature of the protocol
# starts with these bytes, so a signed request can never be replayed as any of them, nor they as it.
request_namespace = b"tallystick/request/v1\n"
request_signature_header = "Tally-Signature"
request_nonce_bytes = 16


class RequestSigned(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """What a node signs for one request: the method, the route's path (from /replication/ on,
    without query or any prefix a reverse proxy adds), the BLAKE2b-256 of the exact body bytes, the
    signer's clock in ms, a fresh random nonce, and the signer's own feed (whose current key signs)."""

    method: Annotated[str, Meta(max_length=16)]
    path: Annotated[str, Meta(max_length=256)]
    body_hash: Id32
    ts: Annotated[int, Meta(ge=0, le=limits.int64_max)]
    nonce: Annotated[bytes, Meta(min_length=request_nonce_bytes, max_length=request_nonce_bytes)]
    feed: Id32


class RequestSignature(Struct, frozen=True):
    """A parsed Tally-Signature header."""

    feed: bytes
    ts: int
    nonce: bytes
    signature: bytes


def request_signable(signed: RequestSigned) -> bytes:
    """namespace || msgpack array [method, path, body_hash, ts, nonce, feed] (msgspec's encoding:
    the shortest form of every integer and length, as every other signed array of the protocol)."""
    return request_namespace + msgspec.msgpack.encode(signed)


def format_request_signature(feed_text: str, ts: int, nonce: bytes, signature: bytes) -> str:
    """The header's value: `v=1;feed=n_...;ts=MS;nonce=HEX32;sig=HEX128`."""
    return f"v=1;feed={feed_text};ts={ts};nonce={nonce.hex()};sig={signature.hex()}"


def sign_request(key: KeyPair, *, feed: bytes, method: str, path: str, body: bytes, ts: int, nonce: bytes) -> str:
    """The Tally-Signature header's value for one request (the caller gives the time and a fresh
    random nonce: this module reads no clock and draws no randomness)."""
    signed = RequestSigned(method.upper(), path, hash32(body), ts, nonce, feed)
    return format_request_signature(id_to_text("n", feed), ts, nonce, key.sign(request_signable(signed)))


class BadRequestSignatureHeaderError(ValueError):
    """The header is not of the documented form (the caller turns it into a typed refusal)."""


# The header's longest honest value (its five fields at their maxima), so a parse bounds its input.
request_signature_header_chars_max = 320


def parse_request_signature(value: str) -> RequestSignature:
    """The header's fields; BadRequestSignatureHeaderError (or BadIdError for the feed) if it is not
    of the documented form. Pure: the caller checks the time window, the nonce and the signature."""
    if len(value) > request_signature_header_chars_max:
        raise BadRequestSignatureHeaderError("the header is too long")
    fields: dict[str, str] = {}
    for part in value.split(";"):
        name, equals, text = part.strip().partition("=")
        if not equals or name in fields:
            raise BadRequestSignatureHeaderError(f"field {name!r} is not name=value, or is repeated")
        fields[name] = text
    if set(fields) != {"v", "feed", "ts", "nonce", "sig"} or fields["v"] != "1":
        raise BadRequestSignatureHeaderError("it needs exactly v=1, feed, ts, nonce and sig")
    ts_text, nonce_text, signature_text = fields["ts"], fields["nonce"], fields["sig"]
    # ASCII digits and hex only: `int` and `bytes.fromhex` would take other Unicode digits and spaces.
    if not (ts_text.isascii() and ts_text.isdigit() and len(ts_text) <= 19):
        raise BadRequestSignatureHeaderError("ts is not a decimal count of milliseconds")
    hex_digits = set("0123456789abcdef")
    if len(nonce_text) != 2 * request_nonce_bytes or not set(nonce_text) <= hex_digits:
        raise BadRequestSignatureHeaderError(f"nonce is not {2 * request_nonce_bytes} lowercase hex digits")
    if len(signature_text) != 128 or not set(signature_text) <= hex_digits:
        raise BadRequestSignatureHeaderError("sig is not 128 lowercase hex digits")
    ts = int(ts_text)
    if ts > limits.int64_max:
        raise BadRequestSignatureHeaderError("ts is past 2^63")
    return RequestSignature(id_from_text("n", fields["feed"]), ts, bytes.fromhex(nonce_text), bytes.fromhex(signature_text))
