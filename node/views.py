"""Events and projections as JSON for people and scripts.

How this works: 32-byte values are shown in their one text form, chosen by the field's meaning
(member ids `m_`, keys `k_`, feeds `n_`, hashes `h_`); signatures in hex; an `act` shows the member's
intent decoded, so `tally log --json` reads as what members did; given the node's state, an act also
names its signer and the members it mentions, beside their ids. Amounts stay integers of minor units.
"""

from __future__ import annotations

from typing import Any

import msgspec
from tallystick.ledger.model import State
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


def _member_names(value: Any, field: str | None, state: State, found: dict[str, str]) -> None:
    """Collect the name of every member id inside `value` (an action, rendered or not) into `found`."""
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            _member_names(getattr(value, name), name, state, found)
    elif isinstance(value, bytes) and _id_kind_by_field.get(field or "") == "m" and len(value) == 32:
        member = state.members.get(value)
        if member is not None:
            found[id_to_text("m", value)] = member.name
    elif isinstance(value, (list, tuple)):
        for item in value:
            _member_names(item, None, state, found)


def event_json(event: Event, event_hash: bytes, state: State | None = None) -> dict[str, Any]:
    """An event as JSON. An act shows the member's intent decoded; given the state, also who signed
    it (`signer`, the member id its key is bound to, and `signer_name`) and `names`, the name of
    each member id the action holds, beside the ids (which stay exactly as signed)."""
    rendered = render(event)
    rendered["hash"] = id_to_text("h", event_hash)
    if isinstance(event.body, Act):
        intent = decode_intent(event.body.intent)
        body: dict[str, Any] = {"kind": "act", "intent": render(intent)}
        if state is not None:
            # `keys` holds every key ever bound (current, retired, departed), so an old act still
            # names the member who signed it.
            signer = state.keys.get(intent.key)
            member = state.members.get(signer) if signer is not None else None
            if signer is not None and member is not None:
                body["signer"] = id_to_text("m", signer)
                body["signer_name"] = member.name
            names: dict[str, str] = {}
            _member_names(intent.action, None, state, names)
            body["names"] = names
        rendered["body"] = body
    return rendered
