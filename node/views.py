"""Events and projections as JSON for people and scripts.

How this works: 32-byte values are shown in their one text form, chosen by the field's meaning
(member ids `m_`, keys `k_`, feeds `n_`, hashes `h_`); signatures in hex; an `act` shows the member's
intent decoded, so `tally log --json` reads as what members did. Amounts stay integers of minor units.
"""

from __future__ import annotations

from typing import Any

import msgspec
from tallystick.protocol.codec import decode_intent
from tallystick.protocol.events import Act, Event
from tallystick.protocol.ids import id_to_text

_id_kind_by_field = {
    "to": "m",
    "member": "m",
    "account": "m",
    "enterprise": "e",
    "owner": "m",
    "holder": "m",
    "buyer": "m",
    "seller": "m",
    "manager": "m",
    "admin_key": "m",
    "key": "k",
    "signing_key": "k",
    "recovery_key": "k",
    "new_key": "k",
    "feed": "n",
    "prev": "h",
    "hash": "h",
    "state_hash": "h",
    "recovery_key_hash": "h",
    "next_recovery_key_hash": "h",
}


def render(value: Any, field: str | None = None) -> Any:
    """A Struct (or a value inside one) as JSON-ready data, ids in their text form."""
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        tag = value.__struct_config__.tag
        if isinstance(tag, str):
            out["kind"] = tag
        for name in value.__struct_fields__:
            out[name] = render(getattr(value, name), name)
        return out
    if isinstance(value, bytes):
        kind = _id_kind_by_field.get(field or "")
        if kind and len(value) == 32:
            return id_to_text(kind, value)  # type: ignore[arg-type]
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [render(item) for item in value]
    return value


def event_json(event: Event, event_hash: bytes) -> dict[str, Any]:
    rendered = render(event)
    rendered["hash"] = id_to_text("h", event_hash)
    if isinstance(event.body, Act):
        intent = decode_intent(event.body.intent)
        rendered["body"] = {"kind": "act", "intent": render(intent)}
    return rendered
