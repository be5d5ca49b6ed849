"""/openapi.json: the JSON API described in OpenAPI 3.1.

How this works: the document is data built here beside the routes it describes; a test walks every
route the app registers and fails if one is missing here or described but absent, so it stays true.
"""

from __future__ import annotations

from typing import Any

from tallystick.protocol import limits

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
        "positions": {"type": "object", "additionalProperties": {"type": "integer"}},
        "option_counts": {"type": "array", "items": {"type": "integer"}},
        "winners": {"type": "array", "items": {"type": "integer"}},
        "quorum_met": {"type": "boolean"},
        "outcome": {"type": "string", "enum": ["passed", "rejected", "blocked", "no_quorum", "effect_refused"]},
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
        "tally": _tally,
        "votes": {"type": "array", "description": "only on /api/decisions/{decision}"},
    },
}


_limit = {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": limits.page_size_max}}
_reference = {"name": "reference", "in": "path", "required": True,
              "schema": {"type": "string", "description": "an id (e_ or m_) or a name"}}
_share_class = {
    "type": "object",
    "properties": {
        "index": {"type": "integer"}, "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["founder", "labour", "user", "investor"]},
        "votes_per_share": {"type": "integer"}, "dividend_weight": {"type": "integer"}, "par": {"type": "integer"},
        "withdrawable": {"type": "boolean"}, "transferable": {"type": "boolean"},
        "holding_cap": {"type": ["integer", "null"]}, "local_only": {"type": "boolean"},
        "issued": {"type": "integer"}, "withdrawn": {"type": "integer"}, "outstanding": {"type": "integer"},
    },
}
_enterprise = {
    "type": "object",
    "properties": {
        "id": _id, "account": _id, "name": {"type": "string"}, "manager": _id, "manager_name": {"type": "string"},
        "registered_seq": {"type": "integer"}, "balance": {"type": "integer"}, "debit_limit": {"type": "integer"},
        "credit_ceiling": {"type": "integer"}, "withdrawal_rule": {"type": "object"},
        "classes": {"type": "array", "items": _share_class},
        "holders": {"type": "array", "description": "the cap table: only on /api/enterprises/{reference}"},
        "offers": {"type": "array"}, "trades": {"type": "array"}, "withdrawals": {"type": "array"},
    },
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


def _shares_paths() -> dict[str, Any]:
    return {
        "/api/enterprises": {"get": {"summary": "The community's enterprises", "parameters": [_limit],
                                     "responses": {"200": _ok({"type": "array", "items": _enterprise})}}},
        "/api/enterprises/{reference}": {"get": {
            "summary": "An enterprise with its classes, cap table (register of members), offers, last trades",
            "parameters": [_reference, _limit], "responses": {"200": _ok(_enterprise), **_errors(400, 404)}}},
        "/api/enterprises/{reference}/captable.csv": {"get": {
            "summary": "The register of members as CSV", "parameters": [_reference],
            "responses": {"200": {"description": "text/csv"}, **_errors(404)}}},
        "/api/enterprises/{reference}/book/{share_class}": {"get": {
            "summary": "A class's order book by price level, best first, and its last trades",
            "parameters": [_reference, {"name": "share_class", "in": "path", "required": True,
                                        "schema": {"type": "integer"}}, _limit],
            "responses": {"200": _ok({"type": "object"}), **_errors(400, 404)}}},
        "/api/offers": {"get": {
            "summary": "Share offers, newest first",
            "parameters": [{"name": "open", "in": "query", "schema": {"type": "string"}}, _limit],
            "responses": {"200": _ok({"type": "array", "items": _offer})}}},
        "/api/offers/{offer}": {"get": {
            "summary": "One offer with its subscriptions",
            "parameters": [{"name": "offer", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": _ok(_offer), **_errors(400, 404)}}},
        "/api/members/{reference}/holdings": {"get": {
            "summary": "A member's shares and resting orders", "parameters": [_reference, _limit],
            "responses": {"200": _ok({"type": "object"}), **_errors(400)}}},
    }


_federation_ref = {"name": "federation", "in": "path", "required": True,
                   "schema": {"type": "string", "description": "an x_ id or a name"}}


def _federation_paths() -> dict[str, Any]:
    """Served when the node runs with its federation layer (`tally serve`)."""
    return {
        "/api/federations": {"get": {
            "summary": "Every federation in this node's view: charter, members, units, capacity, epoch",
            "responses": {"200": _ok({"type": "array"})}}},
        "/api/federations/{federation}": {"get": {
            "summary": "One federation with its decisions (open, passed, failed, superseded) and equivocations",
            "parameters": [_federation_ref], "responses": {"200": _ok({"type": "object"}), **_errors(404)}}},
        "/api/federations/{federation}/report": {"get": {
            "summary": "The viability report: alerts, S1 operations, S2 coordination, S3 control, S3* audit, "
                       "S4 intelligence, S5 policy",
            "parameters": [_federation_ref], "responses": {"200": _ok({"type": "object"}), **_errors(404)}}},
        "/api/payments": {"get": {
            "summary": "Payments across communities this node holds, newest first, with their state (pending, "
                       "accepted, settled, rejected, returned, expired); ?mine=1 for this community's own",
            "parameters": [{"name": "mine", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _ok({"type": "array"})}}},
        "/api/federations/{federation}/decisions/{decision}/certificate": {"get": {
            "summary": "The quorum certificate of a passed decision (base64 of its canonical bytes)",
            "parameters": [_federation_ref, {"name": "decision", "in": "path", "required": True,
                                             "schema": {"type": "string", "description": "h_ id"}}],
            "responses": {"200": _ok({"type": "object"}), **_errors(400, 404)}}},
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tallystick node", "version": str(limits.protocol_version)},
        "components": {"schemas": {"Error": _error}},
        "paths": {
            "/api/community": {
                "get": {
                    "summary": "The community: name, unit, default limits, feed head",
                    "responses": {"200": _ok({"type": "object"})},
                }
            },
            "/api/status": {
                "get": {
                    "summary": "Node status: seq, head, peers, feeds held, forks, alerts",
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "required": ["node", "seq", "head", "peers", "feeds", "forks", "alerts"],
                            }
                        )
                    },
                }
            },
            "/api/balances": {
                "get": {
                    "summary": "Balances and effective limits",
                    "parameters": [
                        {"name": "account", "in": "query", "schema": {"type": "string"}, "description": "id or name"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": limits.page_size_max}},
                    ],
                    "responses": {"200": _ok({"type": "array", "items": _balance}), **_errors(400)},
                }
            },
            "/api/members": {
                "get": {
                    "summary": "Members",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": limits.page_size_max}}
                    ],
                    "responses": {"200": _ok({"type": "array", "items": _member})},
                }
            },
            "/api/members/{reference}": {
                "get": {
                    "summary": "One member, by id or by name",
                    "parameters": [{"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": _ok(_member), **_errors(400)},
                }
            },
            "/api/log": {
                "get": {
                    "summary": "The feed's events, decoded",
                    "parameters": [
                        {"name": "from", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": limits.page_size_max}},
                    ],
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {"events": {"type": "array"}, "next": {"type": ["integer", "null"]}},
                            }
                        ),
                        **_errors(400),
                    },
                }
            },
            "/api/decisions": {
                "get": {
                    "summary": "Decisions, newest first, each with its live or final tally and time left",
                    "parameters": [
                        {"name": "open", "in": "query", "schema": {"type": "string", "enum": ["1", "true", "yes"]}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": limits.page_size_max}},
                    ],
                    "responses": {"200": _ok({"type": "array", "items": _decision}), **_errors(400)},
                }
            },
            "/api/decisions/{decision}": {
                "get": {
                    "summary": "One decision with its tally and every direct vote",
                    "parameters": [{"name": "decision", "in": "path", "required": True, "schema": {"type": "integer"}}],
                    "responses": {"200": _ok(_decision), **_errors(400, 404)},
                }
            },
            "/api/intents": {
                "post": {
                    "summary": "Submit a member's signed intent; answered after the event is committed",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/msgpack": {"schema": {"type": "string", "format": "binary"}},
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["intent"],
                                    "properties": {"intent": {"type": "string", "contentEncoding": "base64"}},
                                }
                            },
                        },
                    },
                    "responses": {
                        "201": _ok(
                            {"type": "object", "properties": {"seq": {"type": "integer"}, "hash": _id}}, "appended"
                        ),
                        **_errors(400, 403, 409, 413, 422, 503),
                    },
                }
            },
            **_shares_paths(),
            **_federation_paths(),
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _ok({"type": "object"})}}},
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
            "/": {"get": {"summary": "The community's page", "responses": {"200": {"description": "HTML"}}}},
            "/members/{reference}": {"get": {"summary": "A member's page", "parameters": [_reference],
                                             "responses": {"200": {"description": "HTML"}, "404": {"description": "HTML"}}}},
            "/node": {"get": {"summary": "The operator's page: peers, lag, forks, alerts",
                              "responses": {"200": {"description": "HTML"}}}},
            "/enterprises/{reference}": {"get": {"summary": "An enterprise's page: classes, register, offers, order books",
                                                 "parameters": [_reference],
                                                 "responses": {"200": {"description": "HTML"}, "404": {"description": "HTML"}}}},
            "/federations/{reference}": {"get": {"summary": "A federation's page: the viability report and its picture",
                                                 "parameters": [_reference],
                                                 "responses": {"200": {"description": "HTML"}, "404": {"description": "HTML"}}}},
            "/payments": {"get": {"summary": "Payments across communities with their states (?status=, ?federation=, ?page=)",
                                  "responses": {"200": {"description": "HTML"}}}},
        },
    }
