"""Issue 18's test: a Tallystick member pays an account of a Credit Commons node that is not
Tallystick, and is paid back, through the Credit Commons API, both processes real; a payment made
while the other side is down is held and settled once it is back; refusals change nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tallystick.federation.creditcommons.paths import member_name
from tallystick.protocol.events import GraftTree, PayTree

from helpers.browsing import wait_until
from helpers.nodes import NodeProcess, init_home
from helpers.support import http, tally

from .conftest import PeerProcess

deadline_seconds = 15.0  # a held payment is relayed within half a second of its event; a restart takes ~1 s


def uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def balance_of(node: NodeProcess, account_text: str) -> int:
    return next(row["balance"] for row in node.get("/api/balances") if row["account"] == account_text)


def peer_balances(peer: PeerProcess) -> dict:
    return http("GET", peer.url + "/admin/balances").json()


def test_a_member_pays_the_tree_and_is_paid_back_through_the_api_with_both_processes_real(tmp_path: Path) -> None:
    home = tmp_path / "riverside"
    created = init_home(home, debit_limit="100", credit_ceiling="200")
    port = json.loads((home / "config.json").read_text())["listen_port"]
    peer = PeerProcess(tmp_path, leaf_url=f"http://127.0.0.1:{port}/creditcommons",
                       accounts=("bob:-100000:100000",), leaf_limits="-100000:100000")
    (home / "creditcommons.json").write_text(json.dumps({"trunkward_url": peer.url, "trunkward_name": "trunk"}))
    node = NodeProcess(home=home, port=port, log_path=tmp_path / "serve.log", created=created).start()
    try:
        node.act(node.admin_key, GraftTree("trunk/riverside", "riverside", "graft", 1, 1, 50_000, 50_000))
        alice = node.admit("Alice")
        alice_text = next(row["account"] for row in node.get("/api/balances") if row["name"] == "Alice")
        peer.start()

        # Alice pays trunk/bob 2.50 HRS: held, relayed, settled; both chains at the same hash.
        node.act(alice, PayTree("trunk/bob", 250))
        wait_until(lambda: peer_balances(peer)["bob"] == 250, deadline_seconds, "the peer credits bob")
        wait_until(lambda: node.log()[-1]["body"].get("last_hash") == http("GET", peer.url + "/admin/chain").json()[
            "last_hash"], deadline_seconds, "the node settles with the peer's hash")
        assert balance_of(node, alice_text) == -250

        # bob pays Alice back 1.00 through the API: the peer relays leafward, the leaf writes it once.
        alice_path = f"trunk/riverside/{member_name(alice.public)}"
        answer = http("POST", peer.url + "/admin/pay", json.dumps(
            {"uuid": uuid(1), "payer": "bob", "payee": alice_path, "quant": 100}).encode(), "application/json")
        assert answer.status == 201, answer.body
        assert balance_of(node, alice_text) == -150 and peer_balances(peer)["bob"] == 150

        # Refused by the leaf's rules (Alice's ceiling is 200.00 HRS): the peer, told so, writes nothing either.
        before = (node.snapshot(), peer_balances(peer), http("GET", peer.url + "/admin/chain").json())
        answer = http("POST", peer.url + "/admin/pay", json.dumps(
            {"uuid": uuid(2), "payer": "bob", "payee": alice_path, "quant": 25_000}).encode(), "application/json")
        assert answer.status == 422 and answer.json()["leaf_answer"]["errors"][0]["class"] == "MaxLimitViolation"
        assert (node.snapshot(), peer_balances(peer), http("GET", peer.url + "/admin/chain").json()) == before

        # A stranger at the leaf's routes: 401 without the chain, and nothing changes.
        for headers in ({}, {"cc-node": "trunk"}, {"cc-node": "trunk", "last-hash": "stale"},
                        {"cc-node": "elsewhere", "last-hash": before[2]["last_hash"]}):
            answer = http("POST", node.url + "/creditcommons/transaction/relay", b"{}", "application/json",
                          headers=headers)
            assert answer.status == 401 and answer.json()["errors"][0]["class"], answer.body
        # The trunkward node itself, with the chain, sending what is not a payment here: 400, typed,
        # nothing written; a received transaction cannot be erased from the tree (422 there, nothing moves).
        chain = {"cc-node": "trunk", "last-hash": before[2]["last_hash"]}
        alice_entry = {"payer": "trunk/bob", "payee": alice_path, "quant": 5, "description": "", "metadata": {}}
        for raw in (b"not json", json.dumps({"uuid": "x", "entries": [alice_entry]}).encode(),
                    json.dumps({"uuid": uuid(3), "entries": [{**alice_entry, "payee": "trunk/riverside/m_nobody"}]}).encode(),
                    json.dumps({"uuid": uuid(3), "entries": [{**alice_entry, "payer": alice_path, "payee": "trunk/bob"}]}).encode(),
                    json.dumps({"uuid": uuid(3), "entries": [{**alice_entry, "quant": 0}]}).encode(),
                    json.dumps({"uuid": uuid(1), "entries": [alice_entry]}).encode()):  # uuid(1) was received
            answer = http("POST", node.url + "/creditcommons/transaction/relay", raw, "application/json", headers=chain)
            assert answer.status == 400 and answer.json()["error"] and answer.json()["errors"][0]["class"], answer.body
        answer = http("POST", peer.url + f"/admin/erase/{uuid(1)}")
        assert answer.status == 422 and answer.json()["leaf_answer"]["errors"][0]["class"] == "WorkflowViolation"
        # What the tree may read of the leaf: its own position, never a member's account.
        answer = http("GET", node.url + "/creditcommons/account/summary", headers=chain)
        assert answer.status == 200 and answer.json()["data"]["riverside"]["completed"]["balance"] == -150
        answer = http("GET", node.url + f"/creditcommons/account/summary?acc_path={alice_path}", headers=chain)
        assert answer.status == 403
        assert node.snapshot() == before[0] and peer_balances(peer) == before[1]
        assert node.http("GET", "/").status == 200 and node.http("GET", "/node").status == 200

        # Every route of the leaf is the trunkward node's alone.
        for method, route in (("GET", "/"), ("GET", "/handshake"), ("GET", "/absolutepath"), ("GET", "/about"),
                              ("PATCH", f"/transaction/{uuid(1)}/erased"), ("GET", "/account/summary"),
                              ("GET", "/account/history")):
            for headers in ({}, {"cc-node": "trunk", "last-hash": "stale"}):
                answer = http(method, node.url + "/creditcommons" + route, headers=headers)
                assert answer.status == 401, (method, route, answer.body)
        assert node.snapshot() == before[0]

        # The peer is down: Alice's payment is held, nothing is lost; once it is back it settles once.
        # Alice pays with `tally pay --tree`, as a member at a terminal would; a path that is none is
        # refused in one line before anything is sent.
        peer.kill()
        key_file = tmp_path / "alice.key"
        key_file.write_text(alice.to_text())
        refused = tally("--node", node.url, "--key", key_file, "pay", "--tree", "trunk//bob", "0.50")
        assert refused.returncode == 2 and refused.stderr.startswith("tally: bad_path: "), refused.stderr
        assert balance_of(node, alice_text) == -150
        sent = tally("--node", node.url, "--key", key_file, "pay", "--tree", "trunk/bob", "0.50")
        assert sent.returncode == 0 and "0.50 HRS to trunk/bob in the Credit Commons tree" in sent.stdout, sent
        assert balance_of(node, alice_text) == -200
        peer.start()
        wait_until(lambda: peer_balances(peer)["bob"] == 200, deadline_seconds, "the held payment reaches bob")
        wait_until(lambda: node.log()[-1]["body"].get("last_hash") == http("GET", peer.url + "/admin/chain").json()[
            "last_hash"], deadline_seconds, "the node settles the held payment")
        assert balance_of(node, alice_text) == -200 and peer_balances(peer)["riverside"] == -200

        # The chains part (the peer wrote a version the leaf never did): the next payment stays held,
        # never returned on a guess, and the node raises an alert for its operator.
        stale = http("GET", peer.url + "/admin/chain").json()["last_hash"]
        forged = {"uuid": uuid(9), "entries": [{"payer": alice_path, "payee": "trunk/bob", "quant": 1}]}
        assert http("POST", peer.url + "/transaction/relay", json.dumps(forged).encode(), "application/json",
                    headers={"cc-node": "riverside", "last-hash": stale}).status == 201
        node.act(alice, PayTree("trunk/bob", 10))
        wait_until(lambda: any(alert.get("kind") == "creditcommons_chain" for alert in node.get("/api/status")["alerts"]),
                   deadline_seconds, "the node's alert that the chains differ")
        assert balance_of(node, alice_text) == -210 and peer_balances(peer)["bob"] == 201
    finally:
        if peer.process is not None:
            peer.stop()
        assert node.stop() == 0
