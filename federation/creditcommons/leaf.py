"""The community as a running leaf of a Credit Commons tree: the API's routes, and the round that
relays held payments. Part of the node's extension (federation/service.py) when the home holds
`creditcommons.json`.

How this works: the graft is the community's rule and lives in its ledger (`graft_tree`: the node
path, the leaf's name, the rate, the chain's first hash); the trunkward node's URL and the name it
calls us with are the operator's, in `HOME/creditcommons.json` (`LeafConfig`). The chain's last hash
is the ledger's (`state.payments.tree.last_hash`), so it survives every restart and rebuild.

- The routes under `/creditcommons/` answer the trunkward node alone: every request must carry
  `cc-node` (its name) and `last-hash` (the chain's last hash), else 401 and nothing changes. A relay
  is checked by the pure rules (rules.incoming, then the ledger's `tree_refusal`), appended as one
  `tree_received` that names the chain's next hash, and answered 201 once; anything else is a 4xx
  with the API's error class and changes nothing.
- The round (`run`, every `round_interval_ms`) takes the payments the ledger holds, oldest first, at
  most `round_payments_max` a pass, and drives each (driver.drive): a settlement or a return is
  appended once, through the sequencer, only if the ledger still holds the payment and the chain is
  still where the pass read it; a payment unanswered stays held and is resolved on the next pass.

One lock orders everything that moves the chain on this side (a relay received, a pass over a held
payment), so two of our own requests never race for the same hash.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import msgspec
from aiohttp import web
from tallystick.ledger import payments as paying
from tallystick.ledger.accounts import people_roles
from tallystick.ledger.model import State, Tree
from tallystick.node.app import Node, node_key
from tallystick.protocol.errors import LocalError
from tallystick.protocol.events import TreeReceived, TreeReturned, TreeSettled

from . import chain, paths, rules, wire
from .client import Trunkward
from .driver import drive

config_file_name = "creditcommons.json"
round_interval_ms = 500  # a held payment waits at most this long for its first relay
round_payments_max = 32  # a pass relays at most this many, one at a time (the chain is one line)
alerts_max = 16
prefix = "/creditcommons"


class LeafConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`HOME/creditcommons.json`: where the trunkward node answers, and the name it calls us with."""

    trunkward_url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]
    trunkward_name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class LeafConfigError(LocalError):
    code = "config"


def load_config(home_path: Path) -> LeafConfig | None:
    path = home_path / config_file_name
    if not path.exists():
        return None
    try:
        config = msgspec.json.decode(path.read_bytes(), type=LeafConfig)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise LeafConfigError(f"{path} is not a Credit Commons configuration ({error}); see docs/creditcommons.md") from None
    if not config.trunkward_url.startswith(("http://", "https://")) or not config.trunkward_name:
        raise LeafConfigError(f"{path}: trunkward_url is an http(s) URL and trunkward_name the trunkward node's name")
    return config


def api_error(status: int, api_class: str, code: str, message: str) -> web.Response:
    body = {"error": code, "message": message, "errors": [{"class": api_class, "message": message}]}
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")


def api_json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")


class Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def member_of(state: State, name: str) -> bytes:
    """The member a tree account name (`paths.member_name`) names; ambiguous or unknown: refused."""
    found = [member for member, record in state.members.items()
             if record.role in people_roles and paths.member_name(member) == name]
    if len(found) != 1:
        raise Refused(api_error(400, "DoesNotExistViolation", "no_such_account",
                                "no member of this community has that account" if not found
                                else "that account name is ambiguous here; ask the member for their full id"))
    return found[0]


class Leaf:
    def __init__(self, config: LeafConfig) -> None:
        self.config = config
        self.alerts: list[dict[str, object]] = []
        self.node: Node | None = None
        self.lock = asyncio.Lock()
        self.unanswered: set[int] = set()
        self.resolved_once = False  # after a start, every held payment is resolved before a relay

    # ---- the extension -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(f"{prefix}/", self.welcome)
        app.router.add_get(f"{prefix}/handshake", self.handshake)
        app.router.add_get(f"{prefix}/absolutepath", self.absolute_path)
        app.router.add_get(f"{prefix}/about", self.about)
        app.router.add_post(f"{prefix}/transaction/relay", self.relay)
        app.router.add_patch(f"{prefix}/transaction/{{uuid}}/{{state}}", self.change_state)
        app.router.add_get(f"{prefix}/account/summary", self.account_summary)
        app.router.add_get(f"{prefix}/account/history", self.account_history)

    async def start(self, node: Node) -> None:
        self.node = node

    async def run(self) -> None:
        assert self.node is not None
        async with aiohttp.ClientSession() as session:
            trunk = Trunkward(session, self.config.trunkward_url, "")
            while True:
                tree = self.node.sequencer.state.payments.tree
                if tree is not None and tree.held and self.node.sequencer.refusal is None:
                    trunk.leaf_name = tree.leaf_name
                    await self.pass_over_held(trunk)
                await asyncio.sleep(round_interval_ms / 1000)

    # ---- the round -----------------------------------------------------------------------------

    async def pass_over_held(self, trunk: Trunkward) -> None:
        assert self.node is not None
        tree = self.node.sequencer.state.payments.tree
        assert tree is not None
        for seq in sorted(tree.held)[:round_payments_max]:
            async with self.lock:
                state = self.node.sequencer.state
                tree = state.payments.tree
                if tree is None or seq not in tree.held:
                    continue
                held = tree.held[seq]
                transaction = rules.outgoing(tree.node_path, paying.tree_uuid(state.feed, seq), held.payer,
                                             held.to_path, held.quant, "")
                before = tree.last_hash
                step = await drive(trunk, before, transaction, seq in self.unanswered or not self.resolved_once)
                if isinstance(step, rules.Hold):
                    self.unanswered.add(seq)
                    continue
                if isinstance(step, rules.Alert):
                    self.unanswered.add(seq)
                    self.alert("creditcommons_chain", step.reason)
                    continue
                body = (TreeSettled(seq, step.last_hash) if isinstance(step, rules.Settle)
                        else TreeReturned(seq, "".join(c for c in step.api_class if c.isalpha())[:64]))
                await self.node.sequencer.append_body(self._concluding(seq, before, body))
                self.unanswered.discard(seq)
        self.resolved_once = True

    @staticmethod
    def _concluding(seq: int, before: str, body: TreeSettled | TreeReturned) -> Any:
        def make(state: State) -> TreeSettled | TreeReturned | None:
            tree = state.payments.tree
            if tree is None or seq not in tree.held or tree.last_hash != before:
                return None
            return body
        return make

    def alert(self, code: str, message: str) -> None:
        self.alerts[:] = [a for a in self.alerts if a.get("kind") != code][-(alerts_max - 1):]
        self.alerts.append({"kind": code, "message": message})

    # ---- the routes ----------------------------------------------------------------------------

    def _authenticated(self, request: web.Request) -> tuple[State, Tree]:
        state = request.app[node_key].sequencer.state
        tree = state.payments.tree
        if tree is None:
            raise Refused(api_error(401, "PermissionViolation", "not_grafted",
                                    "this community is not grafted onto a Credit Commons tree"))
        node = request.headers.get("cc-node")
        if not node:
            raise Refused(api_error(401, "PermissionViolation", "cc_node_missing", "send the cc-node header: your node's name"))
        last = request.headers.get("last-hash")
        if last is None:
            raise Refused(api_error(401, "PermissionViolation", "last_hash_missing",
                                    "send the last-hash header: the last hash of our chain"))
        if node != self.config.trunkward_name:
            raise Refused(api_error(401, "PermissionViolation", "unknown_node", "this leaf answers its trunkward node only"))
        if last != tree.last_hash:
            raise Refused(api_error(401, "HashMismatchFailure", "hash_mismatch",
                                    "the last-hash does not match this node's chain: compare the chains before trading again"))
        return state, tree

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as refused:
            return refused.response

    async def welcome(self, request: web.Request) -> web.StreamResponse:
        async def handle(request: web.Request) -> web.Response:
            self._authenticated(request)
            return api_json(200, {"message": "Welcome to the Credit Commons federation protocol."})
        return await self._answer(request, handle)

    async def handshake(self, request: web.Request) -> web.StreamResponse:
        async def handle(request: web.Request) -> web.Response:
            self._authenticated(request)
            return api_json(200, {"data": {}})
        return await self._answer(request, handle)

    async def absolute_path(self, request: web.Request) -> web.StreamResponse:
        async def handle(request: web.Request) -> web.Response:
            _, tree = self._authenticated(request)
            return api_json(200, {"data": tree.node_path.split("/")})
        return await self._answer(request, handle)

    async def about(self, request: web.Request) -> web.StreamResponse:
        async def handle(request: web.Request) -> web.Response:
            _, tree = self._authenticated(request)
            return api_json(200, {"data": {"rate": tree.rate_num / tree.rate_den, "format": "0"}})
        return await self._answer(request, handle)

    async def relay(self, request: web.Request) -> web.StreamResponse:
        async def handle(request: web.Request) -> web.Response:
            async with self.lock:
                state, tree = self._authenticated(request)
                raw = await request.content.read(wire.body_bytes_max + 1)
                try:
                    transaction = wire.decode_transaction(raw)
                except wire.BodyError as error:
                    return api_error(400, "CCOtherViolation", "malformed", str(error))
                try:
                    incoming = rules.incoming(tree.node_path, transaction)
                except rules.TreeRefusal as refusal:
                    return api_error(400, refusal.api_class, refusal.code, refusal.message)
                member = member_of(state, incoming.account)
                amount = paying.tree_amount(tree, incoming.quant)
                refusal = paying.tree_refusal(state, transaction.uuid, member, amount)
                if refusal is not None:
                    return api_error(400, refusal[0], "creditcommons_refused", refusal[1])
                primary = transaction.entries[0]
                from_path = primary.payer if paths.local_account(tree.node_path, primary.payer) is None else primary.payee
                after = chain.next_hash(tree.last_hash, transaction.uuid, "completed",
                                        wire.shared_entries(transaction), 1)
                body = TreeReceived(transaction.uuid, from_path, member, amount, incoming.quant, after)
                before = tree.last_hash

                def make(state: State) -> TreeReceived | None:
                    now = state.payments.tree
                    if now is None or now.last_hash != before or paying.tree_refusal(
                            state, transaction.uuid, member, amount) is not None:
                        return None
                    return body
                if await request.app[node_key].sequencer.append_body(make) is None:
                    return api_error(503, "CCFailure", "not_written", "the leaf could not write it now; try again")
                return api_json(201, {"data": []})
        return await self._answer(request, handle)

    async def change_state(self, request: web.Request) -> web.StreamResponse:
        async def handle(request: web.Request) -> web.Response:
            _, tree = self._authenticated(request)
            if request.match_info["uuid"] not in tree.received:
                return api_error(404, "DoesNotExistViolation", "no_such_transaction", "no transaction with that uuid is here")
            return api_error(400, "WorkflowViolation", "final",
                             "completed transactions are final here; pay it back with a new transaction")
        return await self._answer(request, handle)

    async def account_summary(self, request: web.Request) -> web.StreamResponse:
        async def handle(request: web.Request) -> web.Response:
            state, tree = self._authenticated(request)
            path = request.query.get("acc_path", "")
            if path and path != tree.node_path and path != tree.leaf_name:
                # cc-node's node.ini lets a node keep its accounts' summaries from the tree
                # (`priv[acc_summaries]`); a member's balance here follows the visibility policy,
                # which the tree is not a reader of.
                return api_error(403, "PermissionViolation", "private",
                                 "this community shares only its own position with the tree")
            balance = -state.accounts[tree.account].balance_minor
            held = sum(h.amount_minor for h in tree.held.values())
            completed = {"balance": balance, "trades": 0, "entries": 0, "volume": 0, "gross_in": 0, "gross_out": 0,
                         "partners": 0}
            return api_json(200, {"data": {tree.leaf_name: {"completed": completed,
                                                            "pending": {**completed, "balance": balance + held}}}})
        return await self._answer(request, handle)

    async def account_history(self, request: web.Request) -> web.StreamResponse:
        async def handle(request: web.Request) -> web.Response:
            self._authenticated(request)
            return api_error(403, "PermissionViolation", "private", "this community shares no account history with the tree")
        return await self._answer(request, handle)
