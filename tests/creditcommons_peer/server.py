"""The peer's HTTP side: the Credit Commons API as a trunkward node, and the peer's own /admin routes.

Routes of the API (docs/creditcommons.md cites where each comes from):

    GET   /                            the welcome (Komunitin's routes.ts)
    GET   /handshake                   {"data": {}} (cc-php-lib NodeRequester::handshake)
    GET   /absolutepath                {"data": [node names, trunk first]}
    GET   /about?node_path=            {"data": {"rate": 1, "format": ...}}
    POST  /transaction/relay           a transaction from the leaf; 201 {"data": [additional entries]}
    PATCH /transaction/{uuid}/{state}  a state change from the leaf; 201
    GET   /account/summary?acc_path=   {"data": {name: {"pending": stats, "completed": stats}}}
    GET   /account/history?acc_path=   {"data": {"Y-m-d H:i:s": balance, ...}}

Every API request carries `cc-node` (the leaf's name) and `last-hash`; a missing or wrong one is 401
and changes nothing. Errors are {"errors": [{"class": ..., "message": ...}]} (cc-php-lib's CCError
classes), with "error" and "message" beside them.

The peer's own routes (not the API; the tests drive them): POST /admin/pay (pay the leaf: relayed
leafward first, written only if the leaf answered 201), POST /admin/erase/{uuid} (erase a completed
transaction: the leaf first, then here), GET /admin/balances, GET /admin/chain.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
from aiohttp import web

from .ledger import Entry, Ledger

ledger_key = web.AppKey("ledger", Ledger)
config_key = web.AppKey("config", dict)
lock_key = web.AppKey("lock", asyncio.Lock)

body_bytes_max = 64 * 1024
entries_max = 20
quant_max = 10**12
description_chars_max = 1000
uuid_pattern = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
leaf_timeout_seconds = 5.0
# What a transaction's states may become, by cc-node's workflows.json.example '3rdparty' workflow:
# created straight into completed; a completed one may be erased.
transitions = {"completed": {"erased"}}


class CCError(Exception):
    def __init__(self, status: int, class_: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.class_, self.code, self.message = status, class_, code, message


def cc_json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")


def error_response(error: CCError) -> web.Response:
    return cc_json(error.status, {"error": error.code, "message": error.message,
                                  "errors": [{"class": error.class_, "message": error.message}]})


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except CCError as error:
        return error_response(error)
    except web.HTTPNotFound:
        return error_response(CCError(404, "CCOtherViolation", "not_found", "no such route on this node"))
    except web.HTTPMethodNotAllowed:
        return error_response(CCError(405, "CCOtherViolation", "method_not_allowed", "that method is not allowed here"))


# ---- the leaf and its hash ------------------------------------------------------------------------


def authenticate(request: web.Request) -> str:
    """The leaf's name, if its headers match our chain; else 401."""
    ledger = request.app[ledger_key]
    node = request.headers.get("cc-node")
    if not node:
        raise CCError(401, "PermissionViolation", "cc_node_missing", "send the cc-node header: your node's name")
    last = request.headers.get("last-hash")
    if last is None:
        raise CCError(401, "PermissionViolation", "last_hash_missing", "send the last-hash header: the last hash of our chain")
    name = ledger.remote()[0]
    if node != name:
        raise CCError(401, "PermissionViolation", "unknown_node", "this node knows no adjacent node of that name")
    if last != ledger.last_hash():
        raise CCError(401, "HashMismatchFailure", "hash_mismatch",
                      "the last-hash does not match this node's chain: compare the chains before trading again")
    return name


def node_path(request: web.Request) -> str:
    return request.app[config_key]["node_path"]


def resolve(request: web.Request, path: str) -> str:
    """A path as the peer stores it: a local account's name, or 'leaf/account' for one on the leaf."""
    ledger = request.app[ledger_key]
    if not isinstance(path, str) or not path or len(path) > 200 or path.endswith("/"):
        raise CCError(400, "PathViolation", "bad_path", "name an account by its path, such as trunk/bob")
    own = node_path(request) + "/"
    relative = path.removeprefix(own)
    first, _, rest = relative.partition("/")
    leaf = ledger.remote()[0]
    if first == leaf and rest and "/" not in rest:
        return f"{leaf}/{rest}"
    if not rest and ledger.has_account(first):
        return first
    raise CCError(400, "DoesNotExistViolation", "no_such_account", f"no account {path!r} is known here")


async def read_json(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > body_bytes_max:
        raise CCError(413, "CCOtherViolation", "body_too_large", f"send at most {body_bytes_max} bytes")
    raw = await request.content.read(body_bytes_max + 1)
    if len(raw) > body_bytes_max:
        raise CCError(413, "CCOtherViolation", "body_too_large", f"send at most {body_bytes_max} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CCError(400, "CCOtherViolation", "malformed", "send the transaction as a JSON object") from None


def parse_entries(request: web.Request, raw: Any) -> list[Entry]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= entries_max:
        raise CCError(400, "CCOtherViolation", "malformed", f"send 1 to {entries_max} entries")
    entries = []
    for item in raw:
        if not isinstance(item, dict):
            raise CCError(400, "CCOtherViolation", "malformed", "each entry is an object")
        quant, description = item.get("quant"), item.get("description", "")
        metadata = item.get("metadata", {}) or {}
        if isinstance(quant, bool) or not isinstance(quant, int) or not 1 <= quant <= quant_max:
            raise CCError(400, "CCOtherViolation", "bad_quant", f"quant is a whole number from 1 to {quant_max}")
        if not isinstance(description, str) or len(description) > description_chars_max:
            raise CCError(400, "CCOtherViolation", "bad_description", "description is text of at most 1000 characters")
        if not isinstance(metadata, dict):
            raise CCError(400, "CCOtherViolation", "malformed", "metadata is an object")
        entries.append(Entry(resolve(request, item.get("payer")), resolve(request, item.get("payee")),
                             quant, description, metadata))
    return entries


def check_limits(ledger: Ledger, entries: list[Entry]) -> None:
    changes: dict[str, int] = {}
    for entry in entries:
        for party, sign in ((entry.payee, 1), (entry.payer, -1)):
            owner = party.split("/", 1)[0]
            changes[owner] = changes.get(owner, 0) + sign * entry.quant
    for owner, change in sorted(changes.items()):
        low, high = ledger.limits(owner)
        projected = ledger.balance(owner) + change
        if change > 0 and projected > high:
            raise CCError(400, "MaxLimitViolation", "max_limit", f"{owner} would pass its maximum balance of {high}")
        if change < 0 and projected < low:
            raise CCError(400, "MinLimitViolation", "min_limit", f"{owner} would pass its minimum balance of {low}")


# ---- the API -----------------------------------------------------------------------------------------


async def welcome(request: web.Request) -> web.Response:
    authenticate(request)
    return cc_json(200, {"message": "Welcome to the Credit Commons federation protocol."})


async def handshake(request: web.Request) -> web.Response:
    authenticate(request)
    return cc_json(200, {"data": {}})


async def absolute_path(request: web.Request) -> web.Response:
    authenticate(request)
    return cc_json(200, {"data": node_path(request).split("/")})


async def about(request: web.Request) -> web.Response:
    authenticate(request)
    return cc_json(200, {"data": {"rate": 1, "format": "0"}})


async def relay(request: web.Request) -> web.Response:
    async with request.app[lock_key]:
        leaf = authenticate(request)
        ledger = request.app[ledger_key]
        body = await read_json(request)
        if not isinstance(body, dict):
            raise CCError(400, "CCOtherViolation", "malformed", "send the transaction as a JSON object")
        uuid = body.get("uuid")
        if not isinstance(uuid, str) or not uuid_pattern.match(uuid):
            raise CCError(400, "CCOtherViolation", "bad_uuid", "uuid is a lower-case UUID")
        entries = parse_entries(request, body.get("entries"))
        if ledger.latest(uuid) is not None:
            raise CCError(400, "DuplicateUuidViolation", "duplicate_uuid", "a transaction with that uuid exists here")
        primary = entries[0]
        # A transaction from the leaf is credited by its payer there (cc-node's 'credit' direction):
        # the leaf cannot bill an account of this node.
        if not primary.payer.startswith(leaf + "/") or primary.payee.startswith(leaf + "/"):
            raise CCError(400, "WorkflowViolation", "wrong_direction",
                          "a transaction from your node pays from one of your accounts to one of ours")
        check_limits(ledger, entries)
        ledger.write(uuid, "completed", str(body.get("type") or "3rdparty")[:16], leaf, entries)
        return cc_json(201, {"data": []})


async def change_state(request: web.Request) -> web.Response:
    async with request.app[lock_key]:
        leaf = authenticate(request)
        ledger = request.app[ledger_key]
        uuid, target = request.match_info["uuid"], request.match_info["state"]
        latest = ledger.latest(uuid) if uuid_pattern.match(uuid) else None
        if latest is None:
            raise CCError(404, "DoesNotExistViolation", "no_such_transaction", "no transaction with that uuid is here")
        if target not in transitions.get(latest[1], set()):
            raise CCError(400, "WorkflowViolation", "workflow",
                          f"a {latest[1]} transaction cannot become {target} here")
        ledger.write(uuid, target, "3rdparty", leaf, None)
        return web.Response(status=201)


def account_of(request: web.Request) -> list[str]:
    path = request.query.get("acc_path", "")
    if not path:
        return request.app[ledger_key].account_names()
    name = resolve(request, path)
    if "/" in name:
        raise CCError(400, "PathViolation", "not_here", "ask the node that holds that account")
    return [name]


async def account_summary(request: web.Request) -> web.Response:
    authenticate(request)
    ledger = request.app[ledger_key]
    data = {}
    for name in account_of(request):
        stats = ledger.summary(name)
        data[name] = {"pending": stats, "completed": stats}
    return cc_json(200, {"data": data})


async def account_history(request: web.Request) -> web.Response:
    authenticate(request)
    names = account_of(request)
    if len(names) != 1:
        raise CCError(400, "PathViolation", "bad_path", "name one account in acc_path")
    return cc_json(200, {"data": request.app[ledger_key].history(names[0])})


# ---- calling the leaf --------------------------------------------------------------------------------


async def call_leaf(request: web.Request, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    ledger = request.app[ledger_key]
    url = ledger.remote()[1].rstrip("/") + "/" + path
    headers = {"cc-node": node_path(request).rsplit("/", 1)[-1], "last-hash": ledger.last_hash()}
    try:
        async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=leaf_timeout_seconds)) as session,
                    session.request(method, url, json=body, headers=headers) as answer):
            text = await answer.read()
            return answer.status, (json.loads(text) if text else None)
    except (TimeoutError, aiohttp.ClientError, ValueError):
        raise CCError(503, "UnavailableNodeFailure", "leaf_unavailable",
                      "the leaf node did not answer; nothing was written, try again") from None


async def admin_pay(request: web.Request) -> web.Response:
    async with request.app[lock_key]:
        ledger = request.app[ledger_key]
        body = await read_json(request)
        if not isinstance(body, dict):
            raise CCError(400, "CCOtherViolation", "malformed", "send a JSON object")
        uuid = body.get("uuid")
        if not isinstance(uuid, str) or not uuid_pattern.match(uuid) or ledger.latest(uuid) is not None:
            raise CCError(400, "CCOtherViolation", "bad_uuid", "give a new lower-case UUID")
        entry = {"payer": body.get("payer"), "payee": body.get("payee"), "quant": body.get("quant"),
                 "description": body.get("description", ""), "metadata": {}}
        entries = parse_entries(request, [entry])
        leaf = ledger.remote()[0]
        if "/" in entries[0].payer or not entries[0].payee.startswith(leaf + "/"):
            raise CCError(400, "CCOtherViolation", "wrong_direction", "pay from an account here to one on the leaf")
        check_limits(ledger, entries)
        own = node_path(request)
        relayed = {"uuid": uuid, "type": "3rdparty", "state": "initiated", "entries": [
            {"payer": f"{own}/{entries[0].payer}", "payee": f"{own}/{entries[0].payee}",
             "quant": entries[0].quant, "description": entries[0].description, "metadata": {}}]}
        status, answer = await call_leaf(request, "POST", "transaction/relay", relayed)
        if status != 201:
            return cc_json(422, {"error": "leaf_refused", "message": "the leaf refused the transaction",
                                 "leaf_status": status, "leaf_answer": answer})
        ledger.write(uuid, "completed", "3rdparty", "admin", entries)
        return cc_json(201, {"data": answer.get("data", []) if isinstance(answer, dict) else []})


async def admin_erase(request: web.Request) -> web.Response:
    async with request.app[lock_key]:
        ledger = request.app[ledger_key]
        uuid = request.match_info["uuid"]
        latest = ledger.latest(uuid) if uuid_pattern.match(uuid) else None
        if latest is None or latest[1] != "completed":
            raise CCError(404, "DoesNotExistViolation", "no_such_transaction", "no completed transaction with that uuid")
        status, answer = await call_leaf(request, "PATCH", f"transaction/{uuid}/erased")
        if status != 201:
            return cc_json(422, {"error": "leaf_refused", "message": "the leaf refused the erasure",
                                 "leaf_status": status, "leaf_answer": answer})
        ledger.write(uuid, "erased", "3rdparty", "admin", None)
        return web.Response(status=201)


async def admin_balances(request: web.Request) -> web.Response:
    ledger = request.app[ledger_key]
    names = [*ledger.account_names(), ledger.remote()[0]]
    return cc_json(200, {name: ledger.balance(name) for name in names})


async def admin_chain(request: web.Request) -> web.Response:
    return cc_json(200, {"last_hash": request.app[ledger_key].last_hash()})


def create_app(ledger: Ledger, node_path_: str) -> web.Application:
    app = web.Application(middlewares=[errors_middleware], client_max_size=body_bytes_max)
    app[ledger_key] = ledger
    app[config_key] = {"node_path": node_path_}
    app[lock_key] = asyncio.Lock()
    app.router.add_get("/", welcome)
    app.router.add_get("/handshake", handshake)
    app.router.add_get("/absolutepath", absolute_path)
    app.router.add_get("/about", about)
    app.router.add_post("/transaction/relay", relay)
    app.router.add_patch("/transaction/{uuid}/{state}", change_state)
    app.router.add_get("/account/summary", account_summary)
    app.router.add_get("/account/history", account_history)
    app.router.add_post("/admin/pay", admin_pay)
    app.router.add_post("/admin/erase/{uuid}", admin_erase)
    app.router.add_get("/admin/balances", admin_balances)
    app.router.add_get("/admin/chain", admin_chain)
    return app
