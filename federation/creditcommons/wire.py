"""The Credit Commons API's bodies as strict, bounded structs (docs/creditcommons.md, "Bodies"). Pure.

A transaction is a uuid, a workflow type, a state and its entries (cc-php-lib's BaseTransaction and
Entry; Komunitin's CreditCommonsTransaction): each entry moves an integer `quant` from `payer` to
`payee`, both account paths. Fields other nodes send that Tallystick does not use (`workflow`,
`version`, `written`, `transitions`) are read and ignored; any other field is refused, as is every
field out of its bounds.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

entries_max = 20  # the primary entry and the fees each node on the way may add
quant_max = 10**15  # as protocol/limits.py's amount_minor_max
description_chars_max = 1000
metadata_fields_max = 16
metadata_chars_max = 200
body_bytes_max = 64 * 1024  # a transaction of entries_max entries fits many times over
uuid_regex = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
state_regex = r"^[A-Za-z_]{1,16}$"  # Komunitin sends its own codes ("V")

Uuid = Annotated[str, Meta(pattern=uuid_regex)]
Quant = Annotated[int, Meta(ge=1, le=quant_max)]
PathText = Annotated[str, Meta(min_length=1, max_length=255)]
State = Annotated[str, Meta(pattern=state_regex)]
Metadata = Annotated[dict[Annotated[str, Meta(max_length=64)], Annotated[str, Meta(max_length=metadata_chars_max)]],
                     Meta(max_length=metadata_fields_max)]


class Entry(Struct, frozen=True, forbid_unknown_fields=True):
    payer: PathText
    payee: PathText
    quant: Quant
    description: Annotated[str, Meta(max_length=description_chars_max)] = ""
    metadata: Metadata = {}


class Transaction(Struct, frozen=True, forbid_unknown_fields=True):
    uuid: Uuid
    entries: Annotated[tuple[Entry, ...], Meta(min_length=1, max_length=entries_max)]
    type: Annotated[str, Meta(max_length=16)] = "3rdparty"
    state: State = "initiated"
    workflow: Annotated[str, Meta(max_length=64)] = ""
    version: int = 0
    written: Annotated[str, Meta(max_length=64)] = ""
    transitions: Any = None


class RelayAnswer(Struct, frozen=True):
    """201 to a relay: the entries nodes on the way added (fees), which concern the caller."""

    data: Annotated[tuple[Entry, ...], Meta(max_length=entries_max)] = ()


class BodyError(ValueError):
    """A body that does not decode to the struct: the answer is 400 with its message."""


def decode_transaction(raw: bytes) -> Transaction:
    if len(raw) > body_bytes_max:
        raise BodyError(f"send at most {body_bytes_max} bytes")
    try:
        return msgspec.json.decode(raw, type=Transaction)
    except msgspec.ValidationError as error:
        raise BodyError(f"the transaction does not fit the API: {error}") from None
    except msgspec.DecodeError:
        raise BodyError("send the transaction as a JSON object") from None


def decode_relay_answer(raw: bytes) -> RelayAnswer:
    try:
        return msgspec.json.decode(raw or b"{}", type=RelayAnswer)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise BodyError(f"the trunkward node answered a relay with a body that is not the API's: {error}") from None


def encode(value: Struct) -> bytes:
    return msgspec.json.encode(value)


def shared_entries(transaction: Transaction) -> list[tuple[int, str]]:
    """What the chain hashes of a transaction: each entry as (quant, description)."""
    return [(entry.quant, entry.description) for entry in transaction.entries]


def error_of(raw: bytes) -> tuple[str, str]:
    """(class, message) of an error answer: cc-php-lib's {"errors": [{"class": ..}]}, Komunitin's
    {"errors": ["message"]}, or ours ({"error", "message"}); ("", "") if it is none of them."""
    try:
        body = msgspec.json.decode(raw[:body_bytes_max])
    except msgspec.DecodeError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, dict):
            return str(first.get("class", ""))[:64], str(first.get("message", ""))[:300]
        return "", str(first)[:300]
    return str(body.get("error", ""))[:64], str(body.get("message", ""))[:300]
