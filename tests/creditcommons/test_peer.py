"""The other side stands on its own: it never imports Tallystick, and it speaks the Credit Commons API
(last-hash authentication, relay, state change, account reads) to plain HTTP requests."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

from tallystick.federation.creditcommons.chain import next_hash

from helpers.support import http

from .conftest import PeerProcess

peer_folder = Path(__file__).resolve().parent.parent / "creditcommons_peer"
uuid_one = "3d8ebb9f-6a29-42cb-9d39-9ee0a6bf7f1c"


def test_the_peer_never_imports_tallystick() -> None:
    """Only the standard library, aiohttp and its own modules: the two sides share the API, not code."""
    sources = sorted(peer_folder.glob("*.py"))
    assert sources
    for source in sources:
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import)\s+tallystick|import_module|__import__", text, re.MULTILINE), (
            f"{source.name} imports tallystick")
        for node in ast.walk(ast.parse(text)):
            roots = []
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [(node.module or "").split(".")[0]]
            for root in roots:
                assert root in sys.stdlib_module_names or root in ("aiohttp", "__future__"), (
                    f"{source.name}:{node.lineno} imports {root}")


def call(peer: PeerProcess, method: str, path: str, last_hash: str | None, body: object = None,
         node: str | None = "riverside") -> tuple[int, object]:
    headers = {}
    if node is not None:
        headers["cc-node"] = node
    if last_hash is not None:
        headers["last-hash"] = last_hash
    answer = http(method, peer.url + path, None if body is None else json.dumps(body).encode(),
                  "application/json" if body is not None else None, headers=headers)
    return answer.status, (answer.json() if answer.body else None)


def state(peer: PeerProcess) -> tuple[object, object]:
    return call(peer, "GET", "/admin/balances", None)[1], call(peer, "GET", "/admin/chain", None)[1]


def relayed(quant: int, payee: str = "trunk/bob", uuid: str = uuid_one) -> dict:
    return {"uuid": uuid, "type": "3rdparty", "state": "initiated", "workflow": "|P-PC+CX+", "version": 1,
            "entries": [{"payer": "trunk/riverside/m_alice", "payee": payee, "quant": quant,
                         "description": "bread", "metadata": {"foo": "bar"}}]}


def test_the_peer_answers_only_the_chain_and_moves_it_by_each_version(peer: PeerProcess) -> None:
    before = state(peer)
    # Who calls, and with which hash: each refusal is 401 with the API's error class and changes nothing.
    for node, last_hash, error_class in ((None, "graft", "PermissionViolation"), ("riverside", None, "PermissionViolation"),
                                         ("elsewhere", "graft", "PermissionViolation"),
                                         ("riverside", "stale", "HashMismatchFailure")):
        status, body = call(peer, "POST", "/transaction/relay", last_hash, relayed(250), node=node)
        assert status == 401 and body["errors"][0]["class"] == error_class and body["error"], body
        assert state(peer) == before
    # Bad bodies: 400, typed, nothing written.
    for bad in ({"uuid": "not-a-uuid", "entries": relayed(250)["entries"]}, {"uuid": uuid_one, "entries": []},
                relayed(0), relayed(-5), relayed(250, payee="trunk/nobody"), relayed(5000, payee="trunk/carol"),
                [1, 2]):
        status, body = call(peer, "POST", "/transaction/relay", "graft", bad)
        assert status == 400 and body["error"] and body["message"], (bad, body)
        assert state(peer) == before
    # A transaction from the leaf: written completed, the chain's next hash as Tallystick computes it.
    status, body = call(peer, "POST", "/transaction/relay", "graft", relayed(250))
    assert (status, body) == (201, {"data": []})
    first = next_hash("graft", uuid_one, "completed", [(250, "bread")], 1)
    assert state(peer) == ({"bob": 250, "carol": 0, "riverside": -250}, {"last_hash": first})
    assert call(peer, "GET", "/handshake", "graft")[0] == 401  # the old hash no longer opens anything
    assert call(peer, "POST", "/transaction/relay", first, relayed(1))[1]["errors"][0]["class"] == "DuplicateUuidViolation"
    status, body = call(peer, "GET", "/account/summary?acc_path=trunk/bob", first)
    assert status == 200 and body["data"]["bob"]["completed"]["balance"] == 250
    status, body = call(peer, "GET", "/account/history?acc_path=bob", first)
    assert status == 200 and list(body["data"].values()) == [250]
    # A state change from the leaf: version 2, erased, counted for nothing; an erased one stays so.
    assert call(peer, "PATCH", f"/transaction/{uuid_one}/pending", first)[0] == 400
    assert call(peer, "PATCH", "/transaction/00000000-0000-0000-0000-000000000000/erased", first)[0] == 404
    assert call(peer, "PATCH", f"/transaction/{uuid_one}/erased", first)[0] == 201
    second = next_hash(first, uuid_one, "erased", [(250, "bread")], 2)
    assert state(peer) == ({"bob": 0, "carol": 0, "riverside": 0}, {"last_hash": second})
    assert call(peer, "PATCH", f"/transaction/{uuid_one}/erased", second)[0] == 400


def test_a_payment_to_a_leaf_that_is_down_writes_nothing_on_the_peer(peer: PeerProcess) -> None:
    """The peer relays leafward before it writes: with the leaf down, 503 UnavailableNodeFailure and
    its ledger and chain as they were (so the leaf, when it is back, is still in step)."""
    before = state(peer)
    status, body = call(peer, "POST", "/admin/pay", None, {"uuid": uuid_one, "payer": "bob",
                                                           "payee": "trunk/riverside/m_alice", "quant": 10})
    assert status == 503 and body["errors"][0]["class"] == "UnavailableNodeFailure"
    assert state(peer) == before
