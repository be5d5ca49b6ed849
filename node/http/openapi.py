"""/openapi.json: the JSON API described in OpenAPI 3.1.

How this works: the document is data built here beside the routes it describes; a test walks every
route the app registers and fails if one is missing here or described but absent, so it stays true.
Every operation carries `x-visibility`: who may call it and how its answer depends on the reader
(the community's visibility policy, node/visible.py; a request signed by a member, protocol.md §18,
reads as that member). tests/integration/test_visibility_api.py walks every route as each kind of
reader against these words.
"""

from __future__ import annotations

from typing import Any, get_args

from tallystick.protocol import limits
from tallystick.protocol.events import SuspensionReason

from . import exports, params

_error = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string", "description": "stable code"}, "message": {"type": "string"}},
}
_id = {"type": "string", "description": "prefix_ + base32 (see docs/protocol.md)"}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _ok({"$ref": "#/components/schemas/Error"}, "refused") for status in statuses}


_balance = {
    "type": "object",
    "properties": {
        "account": _id,
        "name": {"type": "string"},
        "balance": {"type": "integer", "description": "minor units"},
        "debit_limit": {"type": "integer"},
        "credit_ceiling": {"type": "integer"},
        "active": {"type": "boolean"},
    },
}
_member = {
    "type": "object",
    "properties": {
        "id": _id,
        "name": {"type": "string"},
        "key": _id,
        "role": {"type": "string", "enum": ["member", "admin", "treasury", "enterprise", "escrow"]},
        "active": {"type": "boolean"},
        "admitted_seq": {"type": "integer"},
    },
}


_tally = {
    "type": "object",
    "description": "live while open (outcome: what a close now would give); as counted at the close once closed",
    "properties": {
        "electorate": {"type": "integer"},
        "participants": {"type": "integer", "description": "members with a vote, their own or a delegate's"},
        "direct": {"type": "integer"},
        "electorate_people": {"type": "integer", "description": "persons who could take part (a holders' vote weighs shares)"},
        "participants_people": {"type": "integer", "description": "persons who took part, directly or through a delegate"},
        "direct_people": {"type": "integer", "description": "persons who voted themselves"},
        "positions": {"type": "object", "additionalProperties": {"type": "integer"}},
        "option_counts": {"type": "array", "items": {"type": "integer"}},
        "winners": {"type": "array", "items": {"type": "integer"}},
        "quorum_met": {"type": "boolean"},
        "outcome": {"type": "string", "enum": ["passed", "rejected", "blocked", "no_quorum", "effect_refused", "below_floor"]},
    },
}
_decision = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "description": "the seq of the event that proposed it"},
        "type": {"type": "string", "enum": ["proposal", "poll", "consent"]},
        "title": {"type": "string"},
        "text": {"type": "string"},
        "topic": {"type": "string"},
        "proposer": _id,
        "options": {"type": "array", "items": {"type": "string"}},
        "multiple": {"type": "boolean"},
        "ranked": {"type": "boolean", "description": "options are ranked; option_counts are Borda scores"},
        "quorum_bp": {"type": "integer"},
        "threshold_bp": {"type": "integer"},
        "opened_ms": {"type": "integer"},
        "deadline_ms": {"type": "integer"},
        "open": {"type": "boolean"},
        "time_left_ms": {"type": "integer"},
        "outcome": {"type": ["string", "null"]},
        "closed_seq": {"type": ["integer", "null"]},
        "effect": {"type": ["object", "null"]},
        "electorate": {"type": "object", "description": "who decides: {kind: members} or {kind: holders, enterprise}"},
        "tally": _tally,
        "votes": {"type": "array", "description": "only on /api/decisions/{decision}"},
    },
}


# ---- parameters: every one with its type and bounds, as http/params.py parses it -----------------


def _limit(default: int = limits.page_size_default) -> dict[str, Any]:
    return {"name": "limit", "in": "query", "description": "how many, at most",
            "schema": {"type": "integer", "minimum": 1, "maximum": limits.page_size_max, "default": default}}


def _flag(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": "string", "enum": [*params.flag_true_words, *params.flag_false_words]}}


def _seq_path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "integer", "minimum": params.seq_min, "maximum": params.seq_max}}


def _text_path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": reference_chars_max}}


# The longest reference a route looks up: an id's text (2 + 52 characters) or a name.
reference_chars_max = 128
_reference = _text_path("reference", "an id (e_ or m_) or a name")
_share_class = {
    "type": "object",
    "properties": {
        "index": {"type": "integer"}, "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["founder", "labour", "user", "investor"]},
        "votes_per_share": {"type": "integer"}, "dividend_weight": {"type": "integer"}, "par": {"type": "integer"},
        "withdrawable": {"type": "boolean"}, "transferable": {"type": "boolean"},
        "holding_cap": {"type": ["integer", "null"]}, "local_only": {"type": "boolean"},
        "member_vote": {"type": "boolean", "description": "a holder of any of its units has its votes_per_share "
                                                          "once, whatever their stake (one member, one vote)"},
        "interest_paid_to_ms": {"type": ["integer", "null"],
                                "description": "a withdrawable class once the holders first set an interest cap: "
                                               "the time interest on it is paid up to; else null"},
        "issued": {"type": "integer"}, "withdrawn": {"type": "integer"}, "outstanding": {"type": "integer"},
    },
    "required": ["index", "name", "kind", "votes_per_share", "dividend_weight", "par", "withdrawable", "transferable",
                 "holding_cap", "local_only", "member_vote", "interest_paid_to_ms", "issued", "withdrawn",
                 "outstanding"],
}
_suspension = {
    "type": ["object", "null"],
    "description": "null while withdrawals are taken; else the holders' decision that suspended them and its reason",
    "properties": {
        "decision": {"type": "integer", "description": "the decision's id"},
        "reason": {"type": "string", "enum": list(get_args(SuspensionReason))},
    },
    "required": ["decision", "reason"],
}
_enterprise = {
    "type": "object",
    "properties": {
        "id": _id, "account": _id, "name": {"type": "string"},
        "manager": {"type": ["string", "null"], "description": "null when the reader may not see members' names"},
        "manager_name": {"type": ["string", "null"]},
        "registered_seq": {"type": "integer"}, "balance": {"type": "integer"}, "debit_limit": {"type": "integer"},
        "credit_ceiling": {"type": "integer"},
        "withdrawal_rule": {"type": "object", "required": ["notice_ms", "yearly_cap"],
                            "properties": {"notice_ms": {"type": "integer"}, "yearly_cap": {"type": "integer"}}},
        "withdrawn_this_year": {"type": "integer"},
        "interest_cap_bp": {"type": ["integer", "null"],
                            "description": "the most interest a year on withdrawable shares its holders allow, in "
                                           "basis points (0: none); null until they first set one"},
        "suspension": _suspension,
        "classes": {"type": "array", "items": _share_class},
        "holders": {"type": "array", "description": "the cap table: only on /api/enterprises/{reference}"},
        "offers": {"type": "array"}, "trades": {"type": "array"}, "withdrawals": {"type": "array"},
    },
    "required": ["id", "account", "name", "manager", "manager_name", "registered_seq", "balance", "debit_limit",
                 "credit_ceiling", "withdrawal_rule", "withdrawn_this_year", "interest_cap_bp", "suspension",
                 "classes"],
}
_offer = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "description": "the seq of the event that opened it"},
        "enterprise": _id, "class": {"type": "integer"}, "price": {"type": "integer"}, "units": {"type": "integer"},
        "min_units": {"type": "integer"}, "member_cap": {"type": "integer"}, "deadline_ms": {"type": "integer"},
        "subscribed_units": {"type": "integer"}, "escrow": {"type": "integer"}, "open": {"type": "boolean"},
        "time_left_ms": {"type": "integer"}, "outcome": {"type": ["string", "null"], "enum": ["allotted", "refunded", None]},
        "subscriptions": {"type": "array", "description": "only on /api/offers/{offer}; `allotted` is live while open"},
    },
}


def _get(summary: str, ok: dict[str, Any], *errors: int, parameters: list[dict[str, Any]] | None = None,
         ok_status: str = "200") -> dict[str, Any]:
    """One GET operation: its answer, and every refusal it can give (each with the JSON error body)."""
    return {"get": {"summary": summary, "parameters": parameters or [],
                    "responses": {ok_status: ok, **_errors(*errors, *always)}}}


# Any route can answer 503 `too_many_connections` (node/connections.py: the connection is refused
# before a request is read, past the per-address or total bound), and 401 (`bad_authorization`,
# `stale_request`) to a request whose `Authorization: Tally …` header does not verify (node/http/
# readers.py): a signature that fails is never read as a stranger's.
always = (401, 503)
_html_page = {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}
_html_not_found = {"description": "HTML: nothing by that name", "content": {"text/html": {"schema": {"type": "string"}}}}
_msgpack = {"description": "msgpack (docs/protocol.md, protocol/wire.py)",
            "content": {"application/msgpack": {"schema": {"type": "string", "format": "binary"}}}}


def _page(summary: str, *parameters: dict[str, Any], not_found: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _html_page, **_errors(*always)}
    if not_found:
        responses["404"] = _html_not_found
    return {"get": {"summary": summary, "parameters": list(parameters), "responses": responses}}


def _page_number(name: str, description: str) -> dict[str, Any]:
    """A page's number: people edit these URLs, so a value out of range is brought into it and one
    that is no number is ignored (node/pages/shared.py), never refused."""
    return {"name": name, "in": "query", "description": description, "schema": {"type": "string", "maxLength": 32}}


def _shares_paths() -> dict[str, Any]:
    share_class = {"name": "share_class", "in": "path", "required": True, "description": "the class's index",
                   "schema": {"type": "integer", "minimum": 0, "maximum": limits.share_classes_max - 1}}
    return {
        "/api/enterprises": _get("The community's enterprises", _ok({"type": "array", "items": _enterprise}), 400,
                                 parameters=[_limit()]),
        "/api/enterprises/{reference}": _get(
            "An enterprise with its classes, cap table (register of members), offers, last trades", _ok(_enterprise),
            400, 404, parameters=[_reference, _limit()]),
        "/api/enterprises/{reference}/captable.csv": _get(
            "The register of members as CSV",
            {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}, 400, 404,
            parameters=[_reference]),
        "/api/enterprises/{reference}/book/{share_class}": _get(
            "A class's order book by price level, best first, and its last trades",
            _ok({"type": "object", "required": ["enterprise", "class", "bids", "asks", "trades"]}), 400, 404,
            parameters=[_reference, share_class, _limit()]),
        "/api/offers": _get("Share offers, newest first", _ok({"type": "array", "items": _offer}), 400,
                            parameters=[_flag("open", "only open offers"), _limit()]),
        "/api/offers/{offer}": _get("One offer with its subscriptions", _ok(_offer), 400, 404,
                                    parameters=[_seq_path("offer", "the seq of the event that opened it")]),
        "/api/members/{reference}/holdings": _get(
            "A member's shares and resting orders",
            _ok({"type": "object", "required": ["member", "holdings", "orders"]}), 400, 403, 404,
            parameters=[_text_path("reference", "an id (m_) or a name"), _limit()]),
    }


_federation_ref = _text_path("federation", "an x_ id or a name")


def _federation_paths() -> dict[str, Any]:
    """Served when the node runs with its federation layer (`tally serve`)."""
    return {
        "/api/federations": _get(
            "Every federation in this node's view: charter, members, units, capacity, epoch",
            _ok({"type": "array", "items": {"type": "object"}})),
        "/api/federations/{federation}": _get(
            "One federation with its decisions (open, passed, failed, superseded) and equivocations",
            _ok({"type": "object"}), 400, 404, parameters=[_federation_ref]),
        "/api/federations/{federation}/report": _get(
            "The viability report: alerts, S1 operations, S2 coordination, S3 control, S3* audit, "
            "S4 intelligence, S5 policy", _ok({"type": "object"}), 400, 404, parameters=[_federation_ref]),
        "/api/payments": _get(
            "Payments across communities this node holds, newest first, with their state (pending, "
            "accepted, settled, rejected, returned, expired); ?mine=1 for this community's own",
            _ok({"type": "array", "items": {"type": "object"}}), 400,
            parameters=[_flag("mine", "only payments this community sent or received")]),
        "/api/federations/{federation}/decisions/{decision}/certificate": _get(
            "The quorum certificate of a passed decision (base64 of its canonical bytes)",
            _ok({"type": "object", "required": ["decision", "federation", "certificate", "bytes"]}), 400, 404,
            parameters=[_federation_ref, _text_path("decision", "h_ id")]),
    }


def _personal_paths() -> dict[str, Any]:
    """A member's own data (node/http/personal.py, docs/privacy.md): the export and the erasure."""
    reference = [_text_path("reference", "an id (m_) or a name")]
    export = {"type": "object", "required": ["member", "history", "texts", "data_key_held"],
              "properties": {"member": {"type": "object"}, "account": {"type": ["object", "null"]},
                             "history": {"type": "array", "items": {"type": "object"}},
                             "texts": {"type": "array", "items": {"type": "string"}},
                             "data_key_held": {"type": "boolean"}}}
    return {
        "/api/members/{reference}/export": _get(
            "Everything this node holds about one member (GDPR Art. 15 and 20)", _ok(export), 400, 401, 403,
            parameters=reference),
        "/api/members/{reference}/export.csv": _get(
            "One member's history as CSV, each change with its memo",
            {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}, 400, 401, 403,
            parameters=reference),
        "/api/members/{reference}/erase": {"post": {
            "summary": "Erase a former member's personal data: destroys their data key (GDPR Art. 17)",
            "parameters": reference,
            "responses": {"200": _ok({"type": "object", "required": ["member", "erased", "key_was_held"],
                                      "properties": {"member": _id, "erased": {"type": "boolean"},
                                                     "key_was_held": {"type": "boolean"}}}),
                          **_errors(400, 401, 403, 409, *always)}}},
    }


def _statement_paths() -> dict[str, Any]:
    """A member's statement for the wallet (node/http/statement.py, docs/api.md §10)."""
    from .statement import history_rows_default, history_rows_max, search_chars_max

    row = {"type": "object",
           "required": ["seq", "ts_ms", "amount", "balance", "counterparty", "counterparty_name", "memo", "description"],
           "additionalProperties": False,
           "properties": {
               "seq": {"type": "integer", "description": "the event that changed the balance"},
               "ts_ms": {"type": "integer"},
               "amount": {"type": "integer", "description": "the change, signed minor units: positive is received"},
               "balance": {"type": "integer", "description": "the member's balance after it, minor units"},
               "counterparty": {"type": ["string", "null"], "description": "m_ id of the other party (of another "
                                                                           "community for a payment across), or null"},
               "counterparty_name": {"type": ["string", "null"], "description": "as the reader may see names"},
               "memo": {"type": ["string", "null"], "description": "the memo opened, (erased) if erased, or null"},
               "description": {"type": "string", "description": "a short kind in English: payment, payment across, "
                                                                "dividend, joined, …"}}}
    return {
        "/api/members/{reference}/history": _get(
            "A member's changes of balance, newest first, each with the balance after it, the other party and "
            "the memo; ?before= pages back, ?q= searches memos and names",
            _ok({"type": "object", "required": ["member", "balance", "rows", "next"], "additionalProperties": False,
                 "properties": {"member": _id_of("m", "the member"), "balance": {"type": "integer"},
                                "rows": {"type": "array", "maxItems": history_rows_max, "items": row},
                                "next": {"type": ["integer", "null"],
                                         "description": "send as ?before= for older rows; null: nothing older"}}}),
            400, 403,
            parameters=[_text_path("reference", "an id (m_) or a name"),
                        {"name": "before", "in": "query", "description": "only rows before this seq",
                         "schema": {"type": "integer", "minimum": params.seq_min, "maximum": params.seq_max}},
                        {"name": "limit", "in": "query", "description": "how many rows, at most",
                         "schema": {"type": "integer", "minimum": 1, "maximum": history_rows_max,
                                    "default": history_rows_default}},
                        _search("rows whose memo or other party's name contains it (case-insensitive)",
                                search_chars_max)]),
    }


def _stream_paths() -> dict[str, Any]:
    """The reader's balance as it changes (node/http/stream.py, docs/api.md §10)."""
    return {
        "/api/stream": {"get": {
            "summary": "Server-Sent Events: `event: balance` with data {seq, balance} at once and after each commit "
                       "that changes the reader's own balance, `: ping` every stream_ping_ms; ends when the member "
                       "is removed, their session ends, or the node stops",
            "parameters": [],
            "responses": {"200": {"description": "text/event-stream, open until it ends",
                                  "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                          **_errors(429, *always)}}},
    }


# The wallet's routes are served by the wallet package (node/wallet, the browser wallet's front
# end): they are described here with the node's own, marked `x-served-by`, so that one document
# lists every route a client meets.
wallet_served_by = "wallet"


# ---- the Decide screens' reads (node/http/deciding.py, docs/api.md §10) -------------------------


def _delegation_paths() -> dict[str, Any]:
    """A member's delegations, given and received (node/http/deciding.py)."""
    person = {"type": "object", "required": ["id", "name"],
              "properties": {"id": _id_of("m", "the other member"),
                             "name": {"type": ["string", "null"], "description": "as the reader may see names"}}}
    topic = {"type": "string", "description": "the topic; \"\" is every topic without its own delegation"}
    return {
        "/api/members/{reference}/delegations": _get(
            "A member's delegations: whom they let vote for them (given) and who lets them vote for them "
            "(received), per topic",
            _ok({"type": "object", "required": ["member", "given", "received", "received_total"],
                 "additionalProperties": False,
                 "properties": {
                     "member": _id_of("m", "the member"),
                     "given": {"type": "array", "items": {"type": "object", "required": ["topic", "to"],
                                                          "properties": {"topic": topic, "to": person}}},
                     "received": {"type": "array", "items": {"type": "object", "required": ["topic", "from"],
                                                             "properties": {"topic": topic, "from": person}}},
                     "received_total": {"type": "integer", "description": "how many delegations the member received"},
                 }}),
            400, 403, parameters=[_text_path("reference", "an id (m_) or a name")]),
    }


def _wallet_paths() -> dict[str, Any]:
    """The browser wallet's shell, static files, service worker and manifest: no member data (the
    wallet reads the member's data from the JSON API, as the member)."""
    not_found = {"description": "no such screen or file",
                 "content": {"text/html": {"schema": {"type": "string"}},
                             "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    def served(summary: str, content_type: str, *parameters: dict[str, Any], missing: bool = False,
               schema: dict[str, Any] | None = None) -> dict[str, Any]:
        body = schema or {"type": "string"}
        responses: dict[str, Any] = {"200": {"description": summary, "content": {content_type: {"schema": body}}},
                                     **_errors(*always)}
        if missing:
            responses["404"] = not_found
        return {"get": {"summary": summary, "parameters": list(parameters), "responses": responses,
                        "x-served-by": wallet_served_by}}

    return {
        "/wallet": served("The wallet's shell (HTML): the app the member's phone opens", "text/html"),
        "/wallet/{screen}": served(
            "The wallet's shell at one screen (HTML); another screen is 404", "text/html",
            {"name": "screen", "in": "path", "required": True, "description": "a screen of the wallet (one per module static/screens/<name>.js)",
             "schema": {"type": "string", "minLength": 1, "maxLength": reference_chars_max}}, missing=True),
        "/wallet/static/{path}": served(
            "One of the wallet's static files (scripts, styles, icons)", "*/*",
            {"name": "path", "in": "path", "required": True, "description": "the file's path under static/",
             "schema": {"type": "string", "minLength": 1, "maxLength": public_path_chars_max}}, missing=True),
        "/wallet/sw.js": served("The wallet's service worker", "text/javascript"),
        "/wallet/manifest.webmanifest": served("The wallet's web app manifest", "application/manifest+json", schema={
            "type": "object", "required": ["name", "start_url", "scope"]}),
    }


# The longest static file path a wallet URL names.
public_path_chars_max = 256


def _search(description: str, chars_max: int) -> dict[str, Any]:
    return {"name": "q", "in": "query", "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": chars_max, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]+$"}}


# One member as GET /api/members/{reference} gives it (node/http/api.py `member`): `keys` to whoever
# sees the member, `devices` (which key is which device) to the member concerned alone.
_member_with_keys = {
    "type": "object",
    "properties": {
        **_member["properties"],
        "keys": {"type": "array", "items": _id, "description": "the account's current keys, oldest first"},
        "devices": {"type": ["array", "null"], "description": "the member concerned only; null for every other reader",
                    "items": {"type": "object", "required": ["key", "this_device", "sessions"], "properties": {
                        "key": _id, "this_device": {"type": "boolean"},
                        "sessions": {"type": "array", "items": {"type": "object", "properties": {
                            "label": {"type": "string"}, "last_seen_ms": {"type": "integer"}}}}}}},
    },
}


def _members_search() -> dict[str, Any]:
    from .statement import search_chars_max

    return _search("only members whose name, as the node shows it, contains it (case-insensitive)", search_chars_max)


def _invitation_paths() -> dict[str, Any]:
    """The invitations open in the community (node/http/invitations.py, docs/api.md "Invitations")."""
    invitation = {"type": "object", "required": ["invitation", "expires_ms", "role", "debit_limit", "credit_ceiling",
                                                 "invited_by", "seq"],
                  "properties": {"invitation": _id, "expires_ms": {"type": "integer"},
                                 "role": {"type": "string", "enum": ["member", "admin"]},
                                 "debit_limit": {"type": "string", "description": "major units with the unit"},
                                 "debit_limit_minor": {"type": "integer"},
                                 "debit_limit_is_default": {"type": "boolean"},
                                 "credit_ceiling": {"type": "string", "description": "major units with the unit"},
                                 "credit_ceiling_minor": {"type": "integer"},
                                 "credit_ceiling_is_default": {"type": "boolean"},
                                 "invited_by": {"type": "object", "properties": {"id": _id,
                                                                                 "name": {"type": ["string", "null"]}}},
                                 "seq": {"type": "integer", "description": "the seq of the invite"}}}
    return {
        "/api/invitations": _get("The invitations open now (not used, withdrawn or expired), oldest first",
                                 _ok({"type": "array", "maxItems": limits.invitations_open_max, "items": invitation}),
                                 403),
    }


def _join_request_paths() -> dict[str, Any]:
    """Join requests without an invitation (node/http/join_requests.py, docs/api.md §12)."""
    from ..join_requests import join_request_note_chars_max, join_requests_max
    from .join_requests import join_request_body_bytes_max

    states = ["pending", "proposed", "declined", "admitted"]
    asked = {"type": "object", "required": ["state", "decision", "expires_ms"], "properties": {
        "state": {"type": "string", "enum": states},
        "decision": {"type": ["integer", "null"], "description": "the seq of the open proposal to admit this key"},
        "expires_ms": {"type": ["integer", "null"]}}}
    body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["name"], "additionalProperties": False, "maxProperties": 2,
        "description": f"at most {join_request_body_bytes_max} bytes; signed (Authorization: Tally) by the new key",
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": limits.name_chars_max},
                       "note": {"type": "string", "maxLength": join_request_note_chars_max}}}}}}
    listed = {"type": "object", "required": ["admission", "requests", "rules"], "properties": {
        "admission": {"type": "string", "enum": ["admin", "decision"]},
        "rules": {"type": "object", "required": ["admission", "quorum_bp", "threshold_bp"], "properties": {
            "admission": {"type": "string", "enum": ["admin", "decision"]},
            "quorum_bp": {"type": "integer"}, "threshold_bp": {"type": "integer"}}},
        "requests": {"type": "array", "maxItems": join_requests_max, "items": {
            "type": "object", "required": ["key", "member", "name", "note", "created_ms", "expires_ms", "decision",
                                                    "name_taken"],
            "properties": {"key": _id_of("k", "the key asking"), "member": _id_of("m", "its member id once admitted"),
                           "name": {"type": "string"}, "note": {"type": "string"},
                           "created_ms": {"type": "integer"}, "expires_ms": {"type": "integer"},
                           "decision": {"type": ["integer", "null"]},
                           "name_taken": {"type": "boolean", "description": "a member or enterprise has this name now"}}}}}}
    return {
        "/api/join-requests": {
            "post": {"summary": "Ask to join without an invitation, signed by the new key",
                     "requestBody": body,
                     "responses": {"201": _ok(asked, "kept"), **_errors(400, 403, 408, 409, 413, 422, 429, *always)}},
            **_get("The join requests waiting, oldest first, and the community's admission rule", _ok(listed), 403),
        },
        "/api/join-requests/mine": _get("The state of the signing key's own join request", _ok(asked), 403, 404),
        "/api/join-requests/{key}/decline": {"post": {
            "summary": "Decline a waiting join request: its name and note are wiped at once",
            "parameters": [{"name": "key", "in": "path", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 64}}],
            "responses": {"200": _ok({"type": "object", "required": ["key", "state"],
                                      "properties": {"key": {"type": "string"}, "state": {"type": "string"}}}),
                          **_errors(400, 403, 404, *always)}}},
    }


def _notification_paths() -> dict[str, Any]:
    """A member's inbox and notification settings (node/http/notifications.py, docs/api.md §14)."""
    from ..mailer import mail_languages
    from ..notifications import address_chars_max, inbox_page_max, kinds, mark_read_ids_max
    from .notifications import notifications_body_bytes_max

    reference = [_text_path("reference", "an id (m_) or a name")]
    notice = {"type": "object", "required": ["id", "kind", "seq", "ref", "detail", "other", "amount", "units",
                                             "created_ms", "read"], "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string", "enum": list(kinds)}, "seq": {"type": "integer"},
        "ref": {"type": "string"}, "detail": {"type": ["string", "null"]},
        "other": {"type": ["object", "null"], "properties": {"id": _id, "name": {"type": ["string", "null"]}}},
        "amount": {"type": ["integer", "null"], "description": "minor units"}, "units": {"type": ["integer", "null"]},
        "created_ms": {"type": "integer"}, "read": {"type": "boolean"},
        "titles": {"type": "object", "description": "a digest's: what it names, read when shown",
                   "required": ["listings", "decisions"], "additionalProperties": False, "properties": {
                       "listings": {"type": "array", "items": {"type": "string"}},
                       "decisions": {"type": "array", "items": {"type": "string"}}}}}}
    page = {"type": "object", "required": ["notices", "unread", "next", "unit"], "properties": {
        "notices": {"type": "array", "maxItems": inbox_page_max, "items": notice},
        "unread": {"type": "integer"}, "next": {"type": ["integer", "null"]},
        "unit": {"type": "object", "properties": {"code": {"type": "string"}, "decimals": {"type": "integer"}}}}}
    settings = {"type": "object", "required": ["address", "kinds"], "properties": {
        "address": {"type": ["string", "null"], "maxLength": address_chars_max},
        "kinds": {"type": "object", "properties": {kind: {"type": "boolean"} for kind in kinds},
                  "additionalProperties": False},
        "language": {"type": "string", "enum": list(mail_languages()),
                     "description": "the mails' language: the member's, else the community's default_language"}}}
    changes = (400, 401, 403, 408, 413, *always)

    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": {
            "description": f"at most {notifications_body_bytes_max} bytes", "additionalProperties": False,
            "type": "object", **schema}}}}

    return {
        "/api/members/{reference}/inbox": _get(
            "The member's own notices, newest first, and how many are unread", _ok(page), 400, 403,
            parameters=[*reference,
                        {"name": "before", "in": "query", "description": "the `next` of the page before",
                         "schema": {"type": "integer", "minimum": 1, "maximum": limits.int64_max}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                     "maximum": inbox_page_max}}]),
        "/api/members/{reference}/inbox/read": {"post": {
            "summary": "Mark some of one's notices read, or all of them", "parameters": reference,
            "requestBody": body({"properties": {
                "ids": {"type": ["array", "null"], "maxItems": mark_read_ids_max,
                        "items": {"type": "integer", "minimum": 1, "maximum": limits.int64_max}},
                "all": {"type": "boolean"}}}),
            "responses": {"200": _ok({"type": "object", "required": ["unread"],
                                      "properties": {"unread": {"type": "integer"}}}), **_errors(*changes)}}},
        "/api/members/{reference}/notifications": {
            **_get("One's notification settings: the e-mail address and a switch per kind", _ok(settings), 400, 403,
                   parameters=reference),
            "put": {"summary": "Change one's address (null: no e-mail) or switch kinds on and off",
                    "parameters": reference, "requestBody": body({"properties": {
                        "address": {"type": ["string", "null"], "maxLength": address_chars_max},
                        "kinds": settings["properties"]["kinds"],
                        "language": {"type": ["string", "null"], "enum": [*mail_languages(), None],
                                     "description": "null: the community's default_language"}}}),
                    "responses": {"200": _ok(settings), **_errors(*changes)}}},
    }


def _listing_paths() -> dict[str, Any]:
    """The market's listings (node/http/listings.py, docs/api.md §13, docs/market.md)."""
    from ..listings import category_ids, kinds, listing_expiry_max_days, listings_page_max
    from ..pictures import picture_upload_bytes_max
    from .listings import (
        description_chars_max,
        hide_reason_chars_max,
        listing_body_bytes_max,
        place_chars_max,
        scopes,
        search_chars_max,
        title_chars_max,
    )

    listing_path = {"name": "listing", "in": "path", "required": True, "description": "the listing's id",
                    "schema": {"type": "string", "pattern": "^l_[a-z2-7]{16}$"}}
    text = {"type": "string"}
    listing = {"type": "object", "required": ["id", "kind", "title", "description", "category", "price", "place",
                                              "unit", "author", "enterprise", "payee", "mine", "status",
                                              "created_ms", "listed_ms",
                                              "updated_ms", "expires_ms", "picture", "hidden"],
               "properties": {
                   "id": {"type": "string", "pattern": "^l_[a-z2-7]{16}$"}, "kind": {"type": "string", "enum": list(kinds)},
                   "title": text, "description": text, "category": {"type": "string", "enum": sorted(category_ids)},
                   "price": {"type": ["integer", "null"], "description": "minor units; null: ask"},
                   "place": text, "unit": {"type": "object", "properties": {"code": text, "decimals": {"type": "integer"}}},
                   "author": {"type": "object", "required": ["id", "name"],
                              "properties": {"id": _id, "name": {"type": ["string", "null"]}}},
                   "enterprise": {"type": ["object", "null"], "description": "listed for it by its manager",
                                  "properties": {"id": _id, "name": {"type": ["string", "null"]}}},
                   "payee": {**_id, "description": "whom paying for it pays: the enterprise's account, else the author"},
                   "mine": {"type": "boolean"}, "status": {"type": "string", "enum": ["live", "expired", "hidden"]},
                   "created_ms": {"type": "integer"}, "listed_ms": {"type": "integer"},
                   "updated_ms": {"type": "integer"}, "expires_ms": {"type": "integer"},
                   "picture": {"type": ["object", "null"], "properties": {
                       "url": text, "etag": text, "width": {"type": "integer"}, "height": {"type": "integer"}}},
                   "community": {"type": "object", "description": "only on a listing another community of the "
                                 "federations shares: its id (n_) and name", "properties": {"id": text, "name": text}},
                   "hidden": {"type": ["object", "null"], "description": "to its member and admins only",
                              "properties": {"reason": text, "by": {"type": ["string", "null"]},
                                             "ms": {"type": "integer"}}}}}
    fields = {
        "kind": {"type": "string", "enum": list(kinds)},
        "title": {"type": "string", "minLength": 1, "maxLength": title_chars_max},
        "description": {"type": "string", "maxLength": description_chars_max},
        "category": {"type": "string", "enum": sorted(category_ids)},
        "price": {"type": ["integer", "null"], "minimum": 1, "maximum": limits.amount_minor_max},
        "place": {"type": "string", "maxLength": place_chars_max},
    }

    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": {
            "description": f"at most {listing_body_bytes_max} bytes", "additionalProperties": False,
            "type": "object", **schema}}}}

    days = {"type": ["integer", "null"], "minimum": 1, "maximum": listing_expiry_max_days}
    created = body({"required": ["kind", "title", "category"], "properties": {
        **fields, "expires_in_days": days,
        "enterprise": {"type": ["string", "null"], "pattern": "^e_[a-z2-7]{52}$",
                       "description": "list for this enterprise (its manager only)"}}})
    edited = body({"required": ["kind", "title", "category"], "properties": fields})
    one = _ok(listing)
    sharing = {"type": "object", "required": ["federations"], "properties": {"federations": {"type": "boolean"}}}
    changes = (400, 401, 403, 404, 408, 409, 413, *always)
    picture_body = {"required": True, "description": f"the picture's bytes, at most {picture_upload_bytes_max}",
                    "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                                for kind in ("image/jpeg", "image/png", "image/webp")}}
    page = {"type": "object", "required": ["listings", "next"], "properties": {
        "listings": {"type": "array", "maxItems": listings_page_max, "items": listing},
        "next": {"type": ["string", "null"], "description": "send it as `before` for the next page"}}}
    search_parameters = [
        {"name": "q", "in": "query", "description": "words in the title, description or place",
         "schema": {"type": "string", "minLength": 1, "maxLength": search_chars_max}},
        {"name": "category", "in": "query", "schema": {"type": "string", "enum": sorted(category_ids)}},
        {"name": "place", "in": "query", "description": "part of the place's name",
         "schema": {"type": "string", "minLength": 1, "maxLength": place_chars_max}},
        {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(kinds)}},
        _flag("mine", "the reader's own listings, in every state (no paging)"),
        {"name": "before", "in": "query", "description": "the `next` of the page before",
         "schema": {"type": "string", "pattern": "^[0-9]{1,16}[.]l_[a-z2-7]{16}$"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": listings_page_max}},
        {"name": "scope", "in": "query", "description": "community (the default), or federation: with the listings "
         "the other communities of its federations share, each with its `community`",
         "schema": {"type": "string", "enum": list(scopes)}},
    ]
    return {
        "/api/listings/categories": _get("The fixed list of categories, each with its id", _ok({
            "type": "array", "items": {"type": "object", "required": ["id", "label"],
                                       "properties": {"id": text, "label": text}}})),
        "/api/listings": {
            **_get("Live listings of active members, newest first, by words, category, place and kind",
                   _ok(page), 400, 403, parameters=search_parameters),
            "post": {"summary": "List an offer or a want", "requestBody": created,
                     "responses": {"201": _ok(listing, "listed"),
                                   **_errors(400, 401, 403, 404, 408, 409, 413, *always)}},
        },
        "/api/listings/sharing": {
            **_get("Whether this community shares its listings with its federations", _ok(sharing), 401),
            "put": {"summary": "Share the listings with the federations, or stop (an admin; node-local)",
                    "requestBody": body({"required": ["federations"], "properties": {"federations": {"type": "boolean"}}}),
                    "responses": {"200": _ok(sharing), **_errors(400, 401, 403, 408, 413, *always)}},
        },
        "/api/listings/{listing}": {
            **_get("One listing; with `community`, one another community of the federations shares", one, 400, 403,
                   404, parameters=[listing_path, {
                       "name": "community", "in": "query", "description": "n_ id of the community that lists it",
                       "schema": {"type": "string", "pattern": "^n_[a-z2-7]{52}$"}}]),
            "put": {"summary": "Edit one's own listing (its expiry stays)", "parameters": [listing_path],
                    "requestBody": edited, "responses": {"200": one, **_errors(*changes)}},
            "delete": {"summary": "Withdraw one's own listing: deleted with its picture", "parameters": [listing_path],
                       "responses": {"200": _ok({"type": "object", "required": ["id", "withdrawn"],
                                                 "properties": {"id": text, "withdrawn": {"type": "boolean"}}}),
                                     **_errors(400, 401, 403, 404, *always)}},
        },
        "/api/listings/{listing}/renew": {"post": {
            "summary": "Renew one's own listing: listed again from now", "parameters": [listing_path],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False, "properties": {"expires_in_days": days}}}}},
            "responses": {"200": one, **_errors(*changes)}}},
        "/api/listings/{listing}/hide": {"post": {
            "summary": "Hide a listing, with the reason its member reads (an admin)", "parameters": [listing_path],
            "requestBody": body({"required": ["reason"], "properties": {
                "reason": {"type": "string", "minLength": 1, "maxLength": hide_reason_chars_max}}}),
            "responses": {"200": one, **_errors(400, 401, 403, 404, 408, 413, *always)}}},
        "/api/listings/{listing}/picture": {
            "get": {"summary": "A listing's picture: WebP, no metadata, with its ETag",
                    "parameters": [listing_path, {"name": "v", "in": "query", "description": "the picture's etag "
                                                  "(ignored: it changes the URL when the picture changes)",
                                                  "schema": {"type": "string", "maxLength": 64}}],
                    "responses": {"200": {"description": "the picture", "content": {
                        "image/webp": {"schema": {"type": "string", "format": "binary"}}}},
                        "304": {"description": "not modified (If-None-Match)"},
                        **_errors(400, 403, 404, *always)}},
            "put": {"summary": "Set one's own listing's picture: made small, re-encoded, metadata removed",
                    "parameters": [listing_path], "requestBody": picture_body,
                    "responses": {"200": one, **_errors(*changes, 422)}},
            "delete": {"summary": "Remove one's own listing's picture", "parameters": [listing_path],
                       "responses": {"200": one, **_errors(400, 401, 403, 404, *always)}},
        },
    }


def _sign_in_paths() -> dict[str, Any]:
    """Signing in (node/http/auth.py, docs/api.md "Signing in"). 401 not_signed_in: no session (or,
    for the sessions list, no member's signature either); 403 csrf_refused: a change by cookie
    without the session's X-CSRF-Token or from another Origin."""
    b32 = {"type": "string", "pattern": "^[a-z2-7]+$", "maxLength": 128}
    proof = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["key", "challenge", "signature"], "additionalProperties": False,
        "properties": {"key": _id_of("k", "the member's current key"),
                       "challenge": {**b32, "description": "as POST /api/sign-in/challenge gave it"},
                       "signature": {**b32, "description": "Ed25519 over sign_in_message (docs/protocol.md §18)"}}}}}}
    session = {"type": "object", "required": ["id", "member", "expires_ms", "csrf_token"], "properties": {
        "id": {"type": "string"}, "member": _id_of("m", "the signed-in member"), "expires_ms": {"type": "integer"},
        "csrf_token": {"type": "string", "description": "send it back in X-CSRF-Token with every change"},
        "admin": {"type": "boolean"}, "last_seen_ms": {"type": "integer"}}}
    listed = {"type": "array", "maxItems": limits.sessions_per_member_max, "items": {
        "type": "object", "required": ["id", "label", "created_ms", "last_seen_ms", "expires_ms", "current"],
        "properties": {"id": {"type": "string"}, "label": {"type": "string"}, "created_ms": {"type": "integer"},
                       "last_seen_ms": {"type": "integer"}, "expires_ms": {"type": "integer"},
                       "current": {"type": "boolean"}}}}
    ended = _ok({"type": "object", "required": ["ended"], "properties": {"ended": {"type": "string"}}})
    return {
        "/api/sign-in/challenge": {"post": {
            "summary": "A single-use challenge to sign, good for sign_in_challenge_ms",
            "responses": {"200": _ok({"type": "object", "required": ["challenge", "node", "expires_ms"],
                                      "properties": {"challenge": b32, "node": _id_of("n", "the node to name"),
                                                     "expires_ms": {"type": "integer"}}}),
                          **_errors(*always)}}},
        "/api/sign-in": {"post": {
            "summary": "Trade a signed challenge for a session: sets the tally_session cookie",
            "requestBody": proof,
            "responses": {"200": _ok(session), **_errors(400, 401, 403, 408, 413, *always)}}},
        "/api/sign-in/link": {"post": {
            "summary": "Trade a signed challenge for a one-time sign-in link (tally sign-in)",
            "requestBody": proof,
            "responses": {"200": _ok({"type": "object", "required": ["link", "expires_ms"],
                                      "properties": {"link": {"type": "string"}, "expires_ms": {"type": "integer"}}}),
                          **_errors(400, 401, 403, 408, 413, *always)}}},
        "/sign-in": {"get": {
            "summary": "Open a one-time sign-in link: sets the session cookie and goes to the member's page",
            "parameters": [{"name": "token", "in": "query", "required": True, "description": "from the link",
                            "schema": {"type": "string", "maxLength": 64}}],
            "responses": {"303": {"description": "signed in: to the member's page"}, **_errors(400, *always)}}},
        "/api/session": _get("The session this cookie holds: the member, its expiry, its CSRF token", _ok(session), 401),
        "/api/sessions": _get("The reader's own sessions, newest first (by cookie or a member's signature)",
                              _ok(listed), 401),
        "/api/sessions/{id}": {"delete": {
            "summary": "End one of the reader's own sessions (another's id is not found)",
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 64}}],
            "responses": {"200": ended, **_errors(401, 403, 404, *always)}}},
        "/api/sign-out": {"post": {"summary": "End the session this cookie holds, and clear the cookie",
                                   "responses": {"200": ended, **_errors(401, 403, *always)}}},
    }


def _replication_paths() -> dict[str, Any]:
    """Node to node (replication/server.py, docs/protocol.md §16): msgpack, not JSON, but for
    refusals, which are the same JSON errors as everywhere."""
    feed = {"name": "feed", "in": "path", "required": True, "description": "n_ id",
            "schema": {"type": "string", "minLength": 1, "maxLength": reference_chars_max}}
    body = {"required": True, "content": {"application/msgpack": {"schema": {"type": "string", "format": "binary"}}}}
    return {
        "/replication/heads": _get(
            "One page of the feeds this node holds (seq and head), by feed id, and how many fork proofs it keeps; "
            "a full page means: ask again after its last feed. ?key=k_… only the feeds that key signs now. Only to a "
            "node with standing, signing the request with its node key (Authorization: Tally, protocol.md §16.2)",
            _msgpack, 400, 401, 403,
            parameters=[{"name": "after", "in": "query", "description": "n_ id: the page after this feed",
                         "schema": {"type": "string", "maxLength": reference_chars_max}},
                        {"name": "limit", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": limits.replication_heads_max}},
                        {"name": "key", "in": "query", "description": "k_ id",
                         "schema": {"type": "string", "maxLength": reference_chars_max}}]),
        "/replication/node": _get("This node's own feed id (NodeIdentity, msgpack)", _msgpack),
        "/replication/listings": _get(
            "This community's shared listings changed after `since`, oldest first (JSON: community, name, shared, "
            "unit, changes, cursor, more; docs/market.md); only to the node of another community of its "
            "federations, signed as /replication/heads is", _ok({"type": "object"}), 400, 401, 403,
            parameters=[{"name": "since", "in": "query", "description": "the `cursor` of the last page",
                         "schema": {"type": "string", "pattern": "^[0-9]{1,16}[.](l_[a-z2-7]{16}|g_[0-9a-f]{32})?$"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}]),
        "/replication/feeds/{feed}": _get(
            "A run of a feed's events from `from`, ending in one whose own signature verifies; only to a node with "
            "standing, signed as /replication/heads is", _msgpack, 400, 401, 403,
            parameters=[feed,
                        {"name": "from", "in": "query",
                         "schema": {"type": "integer", "minimum": params.seq_min, "maximum": params.seq_max}},
                        {"name": "limit", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": limits.replication_batch_events_max}}]),
        "/replication/push": {"post": {
            "summary": "A peer pushes a run of a feed's events (Events, msgpack), signed by its node key in a "
                       "Tally-Signature header (403 without one); answered with the head stored",
            "requestBody": body,
            "responses": {"200": _msgpack, **_errors(400, 403, 408, 409, 413, 422, *always)}}},
        "/replication/forks": {
            **_get("The fork proofs this node keeps (Forks, msgpack); only to a node with standing, signed as "
                   "/replication/heads is", _msgpack, 401, 403),
            "post": {"summary": "A peer sends fork proofs (Forks, msgpack), signed as a push is", "requestBody": body,
                     "responses": {"200": _msgpack, **_errors(400, 403, 408, 409, 413, *always)}},
        },
    }


def _id_of(kind: str, what: str) -> dict[str, Any]:
    """An id of one kind in its one text form: `kind` + "_" + 52 lower-case base32 letters (32 bytes)."""
    return {"type": "string", "pattern": f"^{kind}_[a-z2-7]{{52}}$", "description": what}


_minor_limit = {"type": "integer", "minimum": 0, "maximum": limits.amount_minor_max}
# GET /api/community: node/http/api.py `community` answers exactly these fields.
_community = {
    "type": "object",
    "required": ["node", "name", "unit", "debit_limit", "credit_ceiling", "seq", "head", "members", "visibility"],
    "additionalProperties": False,
    "properties": {
        "node": _id_of("n", "the community's feed id: the node's own feed, the id intents are signed for"),
        "name": {"type": "string", "minLength": 1, "maxLength": limits.name_chars_max},
        "unit": {"type": "object", "required": ["code", "decimals"], "additionalProperties": False,
                 "properties": {
                     "code": {"type": "string", "pattern": "^[A-Z0-9]+$", "minLength": 1,
                              "maxLength": limits.unit_code_chars_max},
                     "decimals": {"type": "integer", "minimum": 0, "maximum": limits.unit_decimals_max,
                                  "description": "minor units per major unit: 10^decimals"}}},
        "debit_limit": {**_minor_limit, "description": "the default debit limit, minor units (a balance may go "
                                                        "this far below zero)"},
        "credit_ceiling": {**_minor_limit, "description": "the default credit ceiling, minor units"},
        "seq": {"type": "integer", "minimum": 1, "maximum": limits.int64_max,
                "description": "the seq of the feed's last event (its genesis is 1)"},
        "head": _id_of("h", "the hash of the feed's last event"),
        "members": {"type": "integer", "minimum": 0,
                    "description": "active members who are people (not the community's own accounts)"},
        "visibility": {
            "type": "object", "additionalProperties": False,
            "required": ["names", "balances", "history", "votes", "decisions", "holdings", "log"],
            "description": "the community's visibility policy: who sees each kind of personal data",
            "properties": {kind: {"type": "string", "enum": ["public", "members", "concerned", "admins"]}
                           for kind in ("names", "balances", "history", "votes", "decisions", "holdings", "log")},
        },
    },
}
_status = {
    "type": "object",
    "required": ["node", "name", "seq", "head", "peers", "feeds", "forks", "alerts", "pending"],
    "properties": {
        "node": _id, "name": {"type": "string"}, "seq": {"type": "integer"}, "head": _id,
        "peers": {"type": "array", "items": {"type": "object"}},
        "feeds": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["seq", "head"], "properties": {"seq": {"type": "integer"}, "head": _id}}},
        "forks": {"type": "array", "items": {"type": "object", "required": ["feed", "seq", "proof"]}},
        "alerts": {"type": "array", "items": {"type": "object", "required": ["kind"]}},
        "pending": {"type": "integer"},
    },
}
_intent_request = {
    "required": True,
    "content": {
        "application/msgpack": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["intent"],
                "additionalProperties": False,
                "properties": {"intent": {"type": "string", "contentEncoding": "base64"}},
            }
        },
    },
}


_policy = "by the community's visibility policy (GET /api/community `visibility`)"
# Who may call each route, and what each reader sees of its answer (docs/api.md has the same table).
_own_notices = ("the member concerned alone (signed, or by session; a change with its CSRF token): another member, "
                "an admin too, 403 not_concerned; anyone not a member 401 not_signed_in")
route_visibility: dict[str, str] = {
    "/api/community": "anyone; the same answer for every reader (nothing personal)",
    "/api/status": "anyone; the same answer for every reader: node ids, seqs, peers' URLs, alerts (nothing personal)",
    "/api/balances": f"anyone; only the accounts whose name and balance the reader may see {_policy} (a member "
                     "always their own; the community's own accounts for all); ?account= someone hidden is "
                     "refused: not_visible (403) for a hidden balance, bad_id (400) for a hidden name, as if unknown",
    "/api/members": f"anyone; only the members whose names the reader may see {_policy} (a member always themself); "
                    "?q= searches among those alone (strangers find none by default)",
    "/api/members/{reference}": "anyone; a member whose name the reader may not see is bad_id (400), as if unknown; "
                                "keys (the account's current keys) to whoever sees the member, devices (each key's "
                                "sessions, and which one signed this request) to the member concerned alone, else null",
    "/api/log": f"whoever may see the log {_policy} (by default admins); others: not_visible (403)",
    "/api/decisions": f"anyone; ids, titles, state, outcome and deadline for all; text, proposer, options, "
                      f"effect and tally only to those who may see decisions {_policy}",
    "/api/decisions/{decision}": "anyone; as /api/decisions, and each vote only to those who may see votes "
                                 f"{_policy} (a member always their own)",
    "/api/intents": "a member, with an intent signed by their key (the intent's signature decides, not the request's)",
    "/api/enterprises": "anyone; the same for all but the manager, shown only to those who may see names",
    "/api/enterprises/{reference}": f"anyone; holders, trades' parties and withdrawals only as the reader may see "
                                    f"holdings {_policy} (a member always their own)",
    "/api/enterprises/{reference}/captable.csv": f"anyone; only the rows the reader may see holdings of {_policy}",
    "/api/enterprises/{reference}/book/{share_class}": "anyone; price levels for all (no owners), trades' parties "
                                                       "only as the reader may see holdings",
    "/api/offers": "anyone; the same answer for every reader (terms and amount raised)",
    "/api/offers/{offer}": f"anyone; subscriptions only as the reader may see holdings {_policy}",
    "/api/members/{reference}/holdings": f"whoever may see that member's holdings {_policy} (always the member); "
                                         "others: not_visible (403), or bad_id (400) if the name is hidden",
    "/api/federations": "anyone; federation documents are public to the federation",
    "/api/federations/{federation}": "anyone; federation documents are public to the federation",
    "/api/federations/{federation}/report": "anyone; federation documents are public to the federation",
    "/api/federations/{federation}/decisions/{decision}/certificate": "anyone; public to the federation",
    "/api/payments": "anyone; a payment across only to those who may see the history of this community's member "
                     f"in it {_policy}; a payment between other communities only to admins",
    "/replication/heads": "a node with standing here (the current key of a feed this node holds), signing "
                          "the request: unsigned 403 unsigned_request, another key 403 unknown_peer",
    "/replication/node": "anyone: this node's own feed id, needed to link peers",
    "/replication/listings": "a node with standing here whose feed is another community of this node's federations, "
                             "signing the request: unsigned 403 unsigned_request, another key 403 unknown_peer, a "
                             "node outside the federations 403 not_federated",
    "/replication/feeds/{feed}": "a node with standing here, signing the request (as /replication/heads)",
    "/replication/push": "a peer node, signed by its node key (Tally-Signature)",
    "/replication/forks": "GET: a node with standing here, signing the request; POST: signed by its node key",
    "/openapi.json": "anyone",
    "/metrics": "anyone (Prometheus cannot sign): aggregates only, nothing personal",
    "/": "anyone; pages apply the same policy (docs/privacy.md)",
    "/members/{reference}": "anyone; pages apply the same policy (docs/privacy.md)",
    "/node": "anyone; node status, nothing personal",
    "/report": "anyone; the same for every reader: aggregates and what every policy shows (nothing personal)",
    "/enterprises/{reference}": "anyone; pages apply the same policy (docs/privacy.md)",
    "/federations/{reference}": "anyone; federation documents are public to the federation",
    "/payments": "anyone; pages apply the same policy (docs/privacy.md)",
    "/api/sign-in/challenge": "anyone: a challenge, good once, nothing personal",
    "/api/sign-in": "anyone holding an active member's current key; answers only that member's own session",
    "/api/sign-in/link": "anyone holding an active member's current key; a one-time link for that member",
    "/sign-in": "whoever opens the one-time link first; it signs that browser in as the member who made it",
    "/api/session": "a signed-in member (by cookie): their own session",
    "/api/sessions": "the member concerned (by cookie or signing): their own sessions only",
    "/api/sessions/{id}": "the member concerned: ends one of their own sessions; another's id is 404 no_session",
    "/api/sign-out": "a signed-in member (by cookie): ends their own session",
    "/api/members/{reference}/export": "the member concerned or an admin; anyone else 403 not_visible, and a "
                                       "member the reader may not name is bad_id (400), as if unknown",
    "/api/members/{reference}/export.csv": "the member concerned or an admin (as the export)",
    "/api/members/{reference}/erase": "an admin (signed, or by session with its CSRF token); a member still "
                                      "active is 409 member_active; anyone else 403 not_admin",
    "/api/members/{reference}/history": f"whoever may see that member's history {_policy} (by default the "
                                        "member concerned and admins); others: not_visible (403), or bad_id (400) "
                                        "if the name is hidden",
    "/api/stream": "a signed-in member (by cookie) or a member signing the request: their own balance alone; "
                   "anyone else 401 not_signed_in; past 5 streams of a member or 1000 in all 429 too_many_streams",
    "/wallet": "anyone: the wallet's shell, the same for every reader (no member data)",
    "/wallet/{screen}": "anyone: the wallet's shell, the same for every reader (no member data)",
    "/wallet/static/{path}": "anyone: the wallet's static files (no member data)",
    "/wallet/sw.js": "anyone: the wallet's service worker (no member data)",
    "/wallet/manifest.webmanifest": "anyone: the wallet's manifest (no member data)",
    "/api/invitations": "an admin (signed, or by session); a member who is not an admin 403 not_admin; anyone "
                        "else 401 not_signed_in",
    "/api/join-requests": "POST: a stranger, signing with the new key it asks for (unsigned 403 unsigned_request, "
                          "a bound key 409 key_in_use); GET: an admin (signed, or by session), a member who is not "
                          "an admin 403 not_admin, anyone else 401 not_signed_in",
    "/api/join-requests/mine": "whoever signs with the key of a request: its state alone (unsigned 403 "
                               "unsigned_request)",
    "/api/join-requests/{key}/decline": "an admin (signed, or by session with its CSRF token); a member who is not "
                                        "an admin 403 not_admin, anyone else 401 not_signed_in",
    # The Decide screens' reads (node/http/deciding.py).
    "/api/members/{reference}/delegations": "the member concerned or an admin (signed, or by session); another "
                                            "member 403 not_visible, and a member the reader may not name is "
                                            "bad_id (400), as if unknown",
    # The market (node/http/listings.py, docs/market.md).
    "/api/listings/categories": "anyone: the fixed list of categories (nothing personal)",
    "/api/listings": "GET: members (listings_audience), a stranger 403 not_visible; the author's name as the "
                     f"reader may see names {_policy}; POST: a member (signed, or by session with its CSRF token), "
                     "anyone else 401 not_signed_in",
    "/api/listings/sharing": "GET: a member (anyone else 401 not_signed_in); PUT: an admin (403 not_admin)",
    "/api/listings/{listing}": "GET: members; a listing not live (expired, hidden) or of a member who left only to "
                               "its member and admins, else 404 listing_unknown; PUT, DELETE: its member alone (403 "
                               "not_listing_author), anyone not a member 401 not_signed_in",
    "/api/listings/{listing}/renew": "its member alone (403 not_listing_author); anyone not a member 401 not_signed_in",
    "/api/listings/{listing}/hide": "an admin (403 not_admin); anyone not a member 401 not_signed_in",
    "/api/listings/{listing}/picture": "GET: whoever may read the listing; PUT, DELETE: its member alone (403 "
                                       "not_listing_author), anyone not a member 401 not_signed_in",
    # A member's inbox and notification settings (node/http/notifications.py, docs/notifications.md).
    "/api/members/{reference}/inbox": _own_notices,
    "/api/members/{reference}/inbox/read": _own_notices,
    "/api/members/{reference}/notifications": _own_notices,
}


def document() -> dict[str, Any]:
    described = _document()
    for path, item in described["paths"].items():
        for operation in item.values():
            operation["x-visibility"] = route_visibility[path]
    return described


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tallystick node", "version": str(limits.protocol_version),
                 "description": "Every refusal is a JSON Error with a stable code. Any route may answer 503 "
                                "too_many_connections when this node holds its limit of connections."},
        "components": {"schemas": {"Error": _error}},
        "paths": {
            "/api/community": _get("The community: name, unit, default limits, feed head", _ok(_community)),
            "/api/status": _get("Node status: seq, head, peers, feeds held, forks, alerts", _ok(_status)),
            "/api/balances": _get(
                "Balances and effective limits", _ok({"type": "array", "items": _balance}), 400, 403,
                parameters=[{"name": "account", "in": "query", "description": "an id (m_) or a name",
                             "schema": {"type": "string", "maxLength": reference_chars_max}},
                            _limit(limits.page_size_max)]),
            "/api/members": _get("Members; ?q= only those whose name contains it", _ok({"type": "array", "items": _member}),
                                 400, parameters=[_limit(limits.page_size_max), _members_search()]),
            "/api/members/{reference}": _get("One member, by id or by name, with the account's current keys",
                                             _ok(_member_with_keys), 400, 404,
                                             parameters=[_text_path("reference", "an id (m_) or a name")]),
            "/api/log": _get(
                "The feed's events, decoded (whole, or refused: it holds every memo)",
                _ok({"type": "object", "required": ["events", "next"],
                     "properties": {"events": {"type": "array", "items": {"type": "object"}},
                                    "next": {"type": ["integer", "null"]}}}),
                400, 403,
                parameters=[{"name": "from", "in": "query", "description": "the first seq",
                             "schema": {"type": "integer", "minimum": params.seq_min, "maximum": params.seq_max}},
                            _limit()]),
            "/api/decisions": _get(
                "Decisions, newest first, each with its live or final tally and time left",
                _ok({"type": "array", "items": _decision}), 400,
                parameters=[_flag("open", "only open decisions"), _limit()]),
            "/api/decisions/{decision}": _get(
                "One decision with its tally and every direct vote", _ok(_decision), 400, 404,
                parameters=[_seq_path("decision", "the seq of the event that proposed it")]),
            "/api/intents": {
                "post": {
                    "summary": "Submit a member's signed intent; answered after the event is committed",
                    "requestBody": _intent_request,
                    "responses": {
                        "201": _ok({"type": "object", "required": ["seq", "hash"],
                                    "properties": {"seq": {"type": "integer"}, "hash": _id}}, "appended"),
                        # 404: a vote, subscription or order naming a decision, offer, order or
                        # enterprise that does not exist; 408: the body did not arrive in time.
                        **_errors(400, 403, 404, 408, 409, 413, 422, *always),
                    },
                }
            },
            **_shares_paths(),
            **_federation_paths(),
            **_replication_paths(),
            **_sign_in_paths(),
            **_personal_paths(),
            **_invitation_paths(),
            **_join_request_paths(),
            **_listing_paths(),
            **_notification_paths(),
            **_statement_paths(),
            **_stream_paths(),
            **_delegation_paths(),
            **_wallet_paths(),
            **_wallet_payment_paths(),
            **exports.openapi_paths(reference_chars_max, _errors),  # node/http/exports.py
            "/openapi.json": _get("This document", _ok({"type": "object", "required": ["openapi", "paths"]})),
            "/metrics": _get("Prometheus metrics", {"description": "Prometheus text exposition format",
                                                    "content": {"text/plain": {"schema": {"type": "string"}}}}),
            "/": _page("The community's page", _page_number("page", "which page of members (1 to the last)")),
            "/members/{reference}": _page(
                "A member's page", _reference,
                _page_number("before", "payments before this seq (older ones)"),
                {"name": "amount", "in": "query", "description": "an amount for the pay-me QR code",
                 "schema": {"type": "string", "maxLength": 32}},
                {"name": "memo", "in": "query", "description": "a memo for the pay-me QR code",
                 "schema": {"type": "string", "maxLength": limits.memo_chars_max}},
                not_found=True),
            "/node": _page("The operator's page: peers, lag, forks, alerts"),
            "/report": _page("The community's yearly report, printable as a PDF",
                             _page_number("year", "the calendar year in UTC (this year by default)")),
            "/enterprises/{reference}": _page("An enterprise's page: classes, register, offers, order books",
                                              _reference, not_found=True),
            "/federations/{reference}": _page("A federation's page: the viability report and its picture",
                                              _text_path("reference", "an x_ id or a name"), not_found=True),
            "/payments": _page(
                "Payments across communities with their states",
                {"name": "status", "in": "query", "description": "one state (another value shows all)",
                 "schema": {"type": "string", "maxLength": 32}},
                {"name": "federation", "in": "query", "description": "one federation's x_ id (another value shows all)",
                 "schema": {"type": "string", "maxLength": reference_chars_max}},
                _page_number("page", "which page (1 to the last)"), not_found=True),
        },
    }


# ---- the wallet's payments (node/http/wallet_reads.py, federation/wallet.py; docs/api.md §10) ----


def _wallet_payment_paths() -> dict[str, Any]:
    """What a wallet reads about its member's payments: an intent by its nonce (was it applied?),
    what of their credit is held and why, and whom they may pay in another community; and the
    community's rules in force, for its members."""
    reference = _text_path("reference", "an id (m_) or a name")
    nonce = {"name": "nonce", "in": "path", "required": True, "description": "the intent's nonce",
             "schema": {"type": "integer", "minimum": 0, "maximum": limits.int64_max}}
    intent = {"type": "object", "required": ["member", "nonce", "status", "seq", "hash"], "additionalProperties": False,
              "properties": {"member": _id_of("m", "the member"), "nonce": {"type": "integer"},
                             "status": {"type": "string", "enum": ["applied", "not_applied", "unknown"]},
                             "seq": {"type": ["integer", "null"], "description": "the event that carries it"},
                             "hash": {"type": ["string", "null"], "description": "that event's h_ id"}}}
    item = {"type": "object", "required": ["kind", "seq", "amount"],
            "properties": {"kind": {"type": "string", "enum": ["subscription", "order", "payment_across"]},
                           "seq": {"type": "integer"},
                           "amount": {"type": "integer", "description": "credit held, minor units"}}}
    held = {"type": "object", "required": ["member", "total", "items"],
            "properties": {"member": _id_of("m", "the member"), "total": {"type": "integer"},
                           "items": {"type": "array", "items": item}}}
    payee = {"type": "object", "required": ["member", "community", "community_name", "unit", "federation",
                                            "federation_name", "amount", "received"],
             "properties": {"member": _id, "community": _id, "community_name": {"type": "string"},
                            "unit": {"type": "object"}, "federation": _id, "federation_name": {"type": "string"},
                            "amount": {"type": ["integer", "null"]}, "received": {"type": ["integer", "null"]}}}
    floor = {"type": "object", "required": ["class", "quorum_bp", "threshold_bp", "period_ms"],
             "properties": {"class": {"type": "string", "enum": ["general", "enterprise", "membership", "limits",
                                                                   "treasury", "federation", "key_recovery", "rules"]},
                            "quorum_bp": {"type": "integer"}, "threshold_bp": {"type": "integer"},
                            "period_ms": {"type": "integer", "description": "the least time open"}}}
    rules = {"type": "object", "additionalProperties": False,
             "required": ["unit", "debit_limit", "credit_ceiling", "admission", "quorum_bp", "threshold_bp", "floors",
                          "levy", "visibility"],
             "properties": {"unit": {"type": "object"},
                            "debit_limit": {"type": "integer", "description": "the default, minor units"},
                            "credit_ceiling": {"type": "integer", "description": "the default, minor units"},
                            "admission": {"type": "string", "enum": ["admin", "decision"]},
                            "quorum_bp": {"type": "integer", "description": "the default quorum, basis points"},
                            "threshold_bp": {"type": "integer", "description": "the default threshold, basis points"},
                            "floors": {"type": "array", "items": floor},
                            "levy": {"type": ["object", "null"], "required": ["rate_bp", "min", "max"],
                                     "properties": {"rate_bp": {"type": "integer"}, "min": {"type": "integer"},
                                                    "max": {"type": "integer"}}},
                            "visibility": {"type": "object", "description": "kind -> audience, as /api/community"}}}
    return {
        "/api/members/{reference}/intents/{nonce}": _get(
            "Whether the node applied the member's intent with this nonce, and the event that carries it",
            _ok(intent), 400, 403, parameters=[reference, nonce]),
        "/api/members/{reference}/held": _get(
            "What of the member's credit is held and why: open subscriptions, resting orders, payments across "
            "in flight", _ok(held), 400, 403, parameters=[reference]),
        "/api/rules": _get(
            "The community's rules in force: default limits, admission, default quorum and threshold, the floors "
            "of each class of decision, the levy, who sees what", _ok(rules), parameters=[]),
        "/api/payees/{member}": _get(
            "The communities of this node's federations with an active member of that id, and what they would "
            "receive of ?amount= (minor units of this community's unit)",
            _ok({"type": "array", "items": payee}), 400,
            parameters=[_text_path("member", "the payee's m_ id"),
                        {"name": "amount", "in": "query", "description": "an amount in this community's minor units",
                         "schema": {"type": "integer", "minimum": 1, "maximum": limits.amount_minor_max}}]),
    }


route_visibility.update({
    "/api/members/{reference}/intents/{nonce}": f"whoever may see that member's history {_policy} (by default the "
                                                "member concerned and admins); others: not_visible (403), or bad_id "
                                                "(400) if the name is hidden",
    "/api/members/{reference}/held": f"whoever may see that member's balance {_policy} (by default the member "
                                     "concerned and admins); others: not_visible (403), or bad_id (400) if the name "
                                     "is hidden",
    "/api/payees/{member}": "an active member of this community (signed in, or signing the request); anyone else "
                            "401 not_signed_in",
    "/api/rules": "an active member of this community (signed in, or signing the request); anyone else 401 "
                  "not_signed_in; the same answer for every member (nothing personal)",
})

route_visibility.update(exports.route_visibility(_policy))  # node/http/exports.py
