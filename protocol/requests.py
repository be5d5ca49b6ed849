"""Signed requests: how a member's client or a peer node says who is asking, with its key.

How this works: the client signs, with an Ed25519 key, one message that names the node addressed
(its feed id), the method, the path with its query, the time, and the hash of the body; it sends
the key, the time and the signature in one header:

    Authorization: Tally k_<public key>.<ts_ms>.<signature, lowercase base32 without padding>

The node rebuilds the message from the request it received, so a signature for one node, path,
body or minute is worth nothing for another. A member's client (the CLI) signs each request with
the member's key; a peer node signs with its node key. A browser signs in once instead, by
signing a challenge (`sign_in_message`) and holding a session cookie (node/http/auth.py).
This module is pure: it reads no clock (the caller passes `now_ms`) and does no I/O.
"""

from __future__ import annotations

import base64

import msgspec

from . import limits
from .errors import BadIdError, BadSignatureError, RemoteError
from .ids import KeyPair, hash32, id_bytes, id_from_text, id_to_text, signature_bytes, verify_signature

request_namespace = b"tallystick/member-request/v1\n"  # not wire.py's node requests
sign_in_namespace = b"tallystick/sign-in/v1\n"
scheme = "Tally"


class BadAuthorizationError(RemoteError):
    """The Authorization header is not a signed request this node can read."""

    code = "bad_authorization"
    http_status = 401


class StaleRequestError(RemoteError):
    code = "stale_request"
    http_status = 401


class SignedRequest(msgspec.Struct, frozen=True):
    key: bytes
    ts_ms: int
    signature: bytes


def request_message(*, node: bytes, method: str, target: str, ts_ms: int, body: bytes) -> bytes:
    """The bytes a signed request's signature covers. `target` is the path and query exactly as
    sent ("/api/members/m_...?limit=5"); `node` is the addressed node's feed id."""
    return b"".join(
        (
            request_namespace,
            node,
            method.upper().encode("ascii"),
            b"\n",
            target.encode("utf-8"),
            b"\n",
            str(ts_ms).encode("ascii"),
            b"\n",
            hash32(body),
        )
    )


def sign_request(key: KeyPair, *, node: bytes, method: str, target: str, ts_ms: int, body: bytes = b"") -> str:
    """The Authorization header's value for this request, signed by `key`."""
    signature = key.sign(request_message(node=node, method=method, target=target, ts_ms=ts_ms, body=body))
    text = base64.b32encode(signature).decode("ascii").rstrip("=").lower()
    return f"{scheme} {id_to_text('k', key.public)}.{ts_ms}.{text}"


def parse_authorization(value: str) -> SignedRequest:
    """The key, time and signature of a `Tally` Authorization header; BadAuthorizationError if it
    is not one."""
    if len(value) > limits.request_authorization_chars_max:
        raise BadAuthorizationError("the Authorization header is too long for a signed request")
    kind, _, credentials = value.strip().partition(" ")
    if kind != scheme:
        raise BadAuthorizationError(f"sign the request with the {scheme} scheme (docs/api.md, signed requests)")
    parts = credentials.strip().split(".")
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 16:
        raise BadAuthorizationError("a signed request's Authorization is Tally KEY.TS_MS.SIGNATURE")
    try:
        key = id_from_text("k", parts[0])
        signature = base64.b32decode(parts[2].upper() + "=" * (-len(parts[2]) % 8))
    except BadIdError as error:
        raise BadAuthorizationError(f"the signed request's key does not decode: {error.message}") from None
    except (ValueError, base64.binascii.Error):
        raise BadAuthorizationError("the signed request's signature is not lowercase base32") from None
    if len(key) != id_bytes or len(signature) != signature_bytes or parts[2] != parts[2].lower():
        raise BadAuthorizationError("the signed request's signature is not 64 bytes in lowercase base32")
    return SignedRequest(key=key, ts_ms=int(parts[1]), signature=signature)


def verify_request(
    authorization: str, *, node: bytes, method: str, target: str, body: bytes, now_ms: int
) -> bytes:
    """The public key that signed this request; a typed error (401) if it is malformed, stale or
    signed by another key or for another request."""
    signed = parse_authorization(authorization)
    if abs(now_ms - signed.ts_ms) > limits.request_skew_max_ms:
        raise StaleRequestError(
            f"the signed request's time is over {limits.request_skew_max_ms // 60_000} minutes from the node's;"
            " check this computer's clock"
        )
    message = request_message(node=node, method=method, target=target, ts_ms=signed.ts_ms, body=body)
    try:
        verify_signature(signed.key, message, signed.signature)
    except BadSignatureError:
        raise BadAuthorizationError(
            "the request's signature does not verify: sign this node, method, path and body"
        ) from None
    return signed.key


def sign_in_message(*, node: bytes, challenge: bytes) -> bytes:
    """What a member signs to open a session: the node addressed and the challenge it issued."""
    return sign_in_namespace + node + challenge
