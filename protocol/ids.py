"""Ids and keys, and their one text form.

How this works: every id is 32 bytes (an Ed25519 public key or a BLAKE2b-256 hash). Its text form is a
kind prefix, an underscore, and the bytes in lowercase RFC 4648 base32 without padding, e.g.
``m_4x2…`` for a member. The prefix stops a member id being pasted where a node id belongs; the
decoder checks it and the length, and accepts only that one spelling (lowercase, no padding, the
spare bits zero). Key pairs are PyNaCl Ed25519 keys; their files hold the 32-byte
seed in the same text form with the prefix ``s_`` (secret).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Literal

import nacl.bindings
import nacl.exceptions
import nacl.signing

from .errors import BadIdError, BadSignatureError

id_bytes = 32
signature_bytes = 64

IdKind = Literal["n", "m", "k", "x", "e", "h", "s"]
# n: node (a feed: hash of its genesis); m: member (the key a member was admitted with);
# k: a public key; x: federation; e: enterprise; h: an event or state hash; s: a secret seed.
id_kind_names: dict[str, str] = {
    "n": "node",
    "m": "member",
    "k": "key",
    "x": "federation",
    "e": "enterprise",
    "h": "hash",
    "s": "secret key",
}


# Pages print the same few thousand ids over and over; base32 in pure Python costs ~10 µs each.
_text_cache_size = 65_536


@functools.lru_cache(maxsize=_text_cache_size)
def id_to_text(kind: IdKind, raw: bytes) -> str:
    if len(raw) != id_bytes:
        raise ValueError(f"an id is {id_bytes} bytes, got {len(raw)}")
    return kind + "_" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def id_from_text(kind: IdKind, text: str) -> bytes:
    """Parse the text form of an id of `kind`. Raises BadIdError with what was expected."""
    name = id_kind_names[kind]
    text = text.strip()
    if not text.startswith(kind + "_"):
        raise BadIdError(f"{text[:70]!r} is not a {name} id: {name} ids start with {kind}_")
    body = text[2:]
    # One id, one spelling: lowercase only, so that a link, a signed request's path and a text
    # compared as a string all name an id one way (docs/protocol.md §2).
    if body != body.lower():
        raise BadIdError(f"{text[:70]!r} is not a valid {name} id: ids are written in lowercase")
    try:
        raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except (ValueError, base64.binascii.Error) as error:
        raise BadIdError(f"{text[:70]!r} is not a valid {name} id: {error}") from None
    if len(raw) != id_bytes or id_to_text(kind, raw) != kind + "_" + body:
        raise BadIdError(f"{text[:70]!r} is not a valid {name} id: wrong length")
    return raw


def hash32(data: bytes) -> bytes:
    """BLAKE2b-256, the one hash of the protocol."""
    return hashlib.blake2b(data, digest_size=32).digest()


class KeyPair:
    """An Ed25519 signing key. Only this class touches secret key material."""

    __slots__ = ("_signing_key", "public")

    def __init__(self, seed: bytes) -> None:
        self._signing_key = nacl.signing.SigningKey(seed)
        self.public: bytes = bytes(self._signing_key.verify_key)

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def seed(self) -> bytes:
        return bytes(self._signing_key)

    def sign(self, message: bytes) -> bytes:
        return self._signing_key.sign(message).signature

    def to_text(self) -> str:
        return id_to_text("s", self.seed)

    @classmethod
    def from_text(cls, text: str) -> KeyPair:
        return cls(id_from_text("s", text))


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise BadSignatureError unless `signature` is `public_key`'s over `message`."""
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError):
        raise BadSignatureError("signature does not verify: the data was altered or signed by another key") from None
