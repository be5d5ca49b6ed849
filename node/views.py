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
from tallystick.protocol.events import Act, ActSealed, Event
from tallystick.protocol.ids import id_to_text
from tallystick.protocol.personal import Committed

from .personal import Directory

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
    "subject": "m",  # whom a sealed box is about (protocol/personal.py)
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


def render(value: Any, field: str | None = None, directory: Directory | None = None) -> Any:
    """A Struct (or a value inside one) as JSON-ready data, ids in their text form. Given the
    node's directory, a committed text (protocol/personal.py) also shows its `text` in clear, or
    None where it was erased."""
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        tag = value.__struct_config__.tag
        if isinstance(tag, str):
            out["kind"] = tag
        for name in value.__struct_fields__:
            out[name] = render(getattr(value, name), name, directory)
        if directory is not None and isinstance(value, Committed):
            out["text"] = directory.text(value)
        return out
    if isinstance(value, bytes):
        kind = _id_kind_by_field.get(field or "")
        if kind and len(value) == 32:
            return id_to_text(kind, value)  # type: ignore[arg-type]
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [render(item, None, directory) for item in value]
    return value


def _member_names(value: Any, field: str | None, state: State, found: dict[str, str], directory: Directory) -> None:
    """Collect the name of every member id inside `value` (an action, rendered or not) into `found`."""
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            _member_names(getattr(value, name), name, state, found, directory)
    elif isinstance(value, bytes) and _id_kind_by_field.get(field or "") == "m" and len(value) == 32:
        member = state.members.get(value)
        if member is not None:
            found[id_to_text("m", value)] = directory.name(member)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _member_names(item, None, state, found, directory)


def event_json(event: Event, event_hash: bytes, state: State | None = None,
               directory: Directory | None = None) -> dict[str, Any]:
    """An event as JSON. An act shows the member's intent decoded; given the state, also who signed
    it (`signer`, the member id its key is bound to, and `signer_name`) and `names`, the name of
    each member id the action holds, beside the ids (which stay exactly as signed)."""
    rendered = render(event, None, directory)
    rendered["hash"] = id_to_text("h", event_hash)
    if isinstance(event.body, Act):
        intent = decode_intent(event.body.intent)
        body: dict[str, Any] = {"kind": event.body.__struct_config__.tag, "intent": render(intent, None, directory)}
        if isinstance(event.body, ActSealed):
            body["subject"] = id_to_text("m", event.body.subject)
            body["box"] = event.body.box.hex()
        if state is not None and directory is not None:
            # `keys` holds every key ever bound (current, retired, departed), so an old act still
            # names the member who signed it.
            signer = state.keys.get(intent.key)
            member = state.members.get(signer) if signer is not None else None
            if signer is not None and member is not None:
                body["signer"] = id_to_text("m", signer)
                body["signer_name"] = directory.name(member)
            names: dict[str, str] = {}
            _member_names(intent.action, None, state, names, directory)
            body["names"] = names
        rendered["body"] = body
    return rendered
