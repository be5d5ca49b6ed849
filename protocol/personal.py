"""Personal data out of the replicated log: what a person typed is committed to, not written.

How this works: every field a person types (a member's name, a memo, a proposal's title, text and
options) has three forms (docs/protocol.md §19):

- `str`: the text in clear. Events written before this section existed carry it, and every
  replica still folds them; a node refuses a new intent that carries one (`personal_in_clear`).
- `Opened(salt, text)`: what a member's client sends to its own node, over its own connection.
  Never in an event: `decode_event` refuses one.
- `Committed(digest)`: what the intent says in the log. `digest` is BLAKE2b-256 keyed by the
  16-byte random salt, personalised "tally/personal", of the UTF-8 text. Without the salt (which
  only the node keeps, sealed) nobody can test a guess of the text against it.

A member signs the *committed* form of their intent (`committed_action`), so the signature in the
log verifies on every replica without the texts. The node seals the openings (salt and text, in
field order) in one box under a key it keeps for the person the data is about (`seal`), and
appends the box beside the committed intent (`ActSealed` and its kin in events.py). Destroying
that key erases the texts (crypto-shredding) and changes no byte of the log.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
import nacl.exceptions
import nacl.secret
from msgspec import Meta, Struct

from . import limits
from .types import Tagged

salt_bytes = 16
digest_bytes = 32
data_key_bytes = nacl.secret.SecretBox.KEY_SIZE  # 32
box_nonce_bytes = nacl.secret.SecretBox.NONCE_SIZE  # 24
_person = b"tally/personal"  # BLAKE2b personalisation (at most 16 bytes)


class Committed(Tagged, tag="committed"):
    """A personal text as the log holds it: its salted digest."""

    digest: Annotated[bytes, Meta(min_length=digest_bytes, max_length=digest_bytes)]


class Opened(Tagged, tag="opened"):
    """A personal text as a member sends it to their own node: the salt and the text."""

    salt: Annotated[bytes, Meta(min_length=salt_bytes, max_length=salt_bytes)]
    text: Annotated[str, Meta(max_length=limits.decision_text_chars_max)]


Personal = Committed | Opened


class Opening(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """One text inside a sealed box."""

    salt: Annotated[bytes, Meta(min_length=salt_bytes, max_length=salt_bytes)]
    text: Annotated[str, Meta(max_length=limits.decision_text_chars_max)]


_openings_decoder = msgspec.msgpack.Decoder(
    Annotated[list[Opening], Meta(max_length=limits.personal_fields_max)]
)
_encoder = msgspec.msgpack.Encoder()


def text_digest(salt: bytes, text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=digest_bytes, key=salt, person=_person).digest()


def commit(opened: Opened) -> Committed:
    return Committed(digest=text_digest(opened.salt, opened.text))


def open_text(text: str, salt: bytes | None = None) -> Opened:
    return Opened(salt=secrets.token_bytes(salt_bytes) if salt is None else salt, text=text)


# ---- walking the personal fields of an action --------------------------------------------------
# Which fields of which structs a person typed. A struct not named here has none. Nested: a
# proposal's effect (a treasury payment's memo, an admission's name) is walked too.

personal_fields: dict[str, tuple[str, ...]] = {
    "admit": ("name",),
    "join": ("name",),
    "transfer": ("memo",),
    "enterprise_pay": ("memo",),
    "treasury_pay": ("memo",),
    "pay_across": ("memo",),
    "pay_tree": ("memo",),
    "propose": ("title", "text", "options", "effect"),
    "propose_period": ("title", "text", "options", "effect"),
}


def _kind(value: object) -> str | None:
    config = getattr(type(value), "__struct_config__", None)
    return None if config is None else config.tag


def _map(value: Any, change: Callable[[Any], Any]) -> Any:
    """`value` with each personal field (and each poll option) passed through `change`."""
    fields = personal_fields.get(_kind(value) or "")
    if not fields:
        return value
    updates: dict[str, Any] = {}
    for field in fields:
        current = getattr(value, field)
        if field == "effect":
            if current is not None:
                updates[field] = _map(current, change)
        elif field == "options":
            updates[field] = tuple(change(option) for option in current)
        else:
            updates[field] = change(current)
    return msgspec.structs.replace(value, **updates)


def personal_values(value: Any) -> list[object]:
    """The values of `value`'s personal fields (each poll option one), in field order, its effect's
    included. A list, not a generator: every fold runs this on every event (an audit's check of
    what an event may carry), where a generator's frames cost more than the walk."""
    fields = personal_fields.get(_kind(value) or "")
    if not fields:
        return []
    found: list[object] = []
    for field in fields:
        current = getattr(value, field)
        if field == "effect":
            if current is not None:
                found += personal_values(current)
        elif field == "options":
            found += current
        else:
            found.append(current)
    return found


def openings(action: object) -> list[Opened]:
    """The opened texts of an action, in field order."""
    return [value for value in personal_values(action) if isinstance(value, Opened)]


def clear_texts(action: object) -> list[str]:
    """The non-empty texts an action carries in clear (the form written before §19)."""
    return [value for value in personal_values(action) if isinstance(value, str) and value]


def committed_texts(action: object) -> list[Committed]:
    return [value for value in personal_values(action) if isinstance(value, Committed)]


def committed_action(action: Any) -> Any:
    """The action as it is signed and logged: each opened text replaced by its digest."""
    return _map(action, lambda value: commit(value) if isinstance(value, Opened) else value)


def clear_action(action: Any) -> Any:
    """The action with each opened text in clear: what the node's own checks of the texts read."""
    return _map(action, lambda value: value.text if isinstance(value, Opened) else value)


def opened_action(action: Any, salt: Callable[[], bytes] | None = None) -> Any:
    """The action as a member's client sends it: each non-empty text in clear opened with a fresh
    random salt (`salt` gives them, for vectors)."""

    def change(value: object) -> object:
        if isinstance(value, str) and value:
            return Opened(salt=secrets.token_bytes(salt_bytes) if salt is None else salt(), text=value)
        return value

    return _map(action, change)


# ---- sealing: the box beside the committed intent -----------------------------------------------


def new_data_key() -> bytes:
    return secrets.token_bytes(data_key_bytes)


def seal(data_key: bytes, texts: list[Opened], nonce: bytes | None = None) -> bytes:
    """One box holding every opening of an event: XSalsa20-Poly1305 (NaCl's secretbox) under the
    data key of the person they are about; the box is the 24-byte nonce, then the ciphertext."""
    plain = _encoder.encode([Opening(salt=text.salt, text=text.text) for text in texts])
    box = nacl.secret.SecretBox(data_key)
    return bytes(box.encrypt(plain, nonce if nonce is not None else secrets.token_bytes(box_nonce_bytes)))


class UnsealError(Exception):
    """The box does not open with this key, or holds no valid openings (a node's own fault)."""


def unseal(data_key: bytes, sealed: bytes) -> list[Opening]:
    try:
        plain = nacl.secret.SecretBox(data_key).decrypt(sealed)
        return _openings_decoder.decode(plain)
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, msgspec.DecodeError,
            msgspec.ValidationError, UnicodeDecodeError) as error:
        raise UnsealError(str(error)) from None


def digests_of(openings_: list[Opening]) -> dict[bytes, str]:
    """Each opening's text by its digest."""
    return {text_digest(opening.salt, opening.text): opening.text for opening in openings_}
