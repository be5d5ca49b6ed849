"""A member of one community pays a member of another, with real nodes and the `tally` command:
the payment travels by the gossip, the other community alone accepts or rejects it by its own
rules, the payer's node settles or returns it; it survives the other node being down when it is
sent, never settles twice, and the federation's trade limit is enforced by the payer's own node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tallystick.protocol.ids import id_to_text

from helpers.replication import NodeProcess, Nodes, start_all, wait_until
from helpers.support import tally, tally_json


def as_admin(node: NodeProcess, *args: str) -> Any:
    return tally_json("--node", node.url, "--key", node.home / "admin.key", *args, "--json")


def federation(node: NodeProcess, reference: str) -> dict[str, Any]:
    return node.get(f"/api/federations/{reference}")


def balances(node: NodeProcess) -> dict[str, int]:
    return {row["name"]: row["balance"] for row in tally_json("--node", node.url, "balance", "--json",
                                                                      env=node.operator_environment())}


def payment_status(node: NodeProcess, payment: str) -> str | None:
    rows = tally_json("--node", node.url, "payments", "--json", env=node.operator_environment())  # members' and memos: the admin's
    return next((row["status"] for row in rows if row["id"] == payment), None)


def decide(nodes: list[NodeProcess], valley: str, *args: str) -> None:
    """A federation decision proposed by the first node and passed by every node's yes."""
    epoch = federation(nodes[0], valley)["epoch"]
    proposal = as_admin(nodes[0], "federation", "propose", valley, *args, "--deadline-in", "1h")["proposal"]
    for node in nodes:
        wait_until(lambda node=node: any(d["id"] == proposal for d in federation(node, valley)["decisions"]),
                   f"{node.url} seeing the proposal")
        as_admin(node, "federation", "vote", valley, proposal)
    for node in nodes:
        wait_until(lambda node=node: federation(node, valley)["epoch"] > epoch, f"{node.url} seeing it pass")


def test_members_of_two_communities_pay_each_other_through_their_federation(nodes: Nodes, tmp_path: Path) -> None:
    c1, c2 = nodes.create(2)
    c1.peers, c2.peers = [c2.url], [c1.url]
    # C1 alerts on a member at its limit at once; C2 keeps the default hour.
    config = json.loads((c1.home / "config.json").read_text())
    (c1.home / "config.json").write_text(json.dumps({**config, "at_limit_alert_ms": 0}))
    start_all([c1, c2])
    ada_path, bea_path = tmp_path / "ada.key", tmp_path / "bea.key"
    ada = tally_json("key", "new", ada_path, "--json")["id"]
    bea = tally_json("key", "new", bea_path, "--json")["id"]
    as_admin(c1, "member", "add", ada, "--name", "Ada")
    as_admin(c2, "member", "add", bea, "--name", "Bea")
    members = [id_to_text("n", node.feed) for node in (c1, c2)]
    valley = as_admin(c1, "federation", "found", "Valley", *(f"--member={m}" for m in members))["id"]
    wait_until(lambda: c2.http("GET", f"/api/federations/{valley}").status == 200, "C2 seeing the charter")
    as_admin(c2, "federation", "adopt", valley, "--from", c1.url)
    wait_until(lambda: federation(c1, valley)["founded"] and federation(c2, valley)["founded"], "Valley founded")

    # No trade limits yet: the payer's own node refuses, in one line.
    # Bea by her id: C2 shows its members' names to its own members only.
    ada_pays = ("--node", c1.url, "--key", ada_path, "pay", f"{bea}@{c2.url}")
    refused = tally(*ada_pays, "1.00")
    assert refused.returncode == 1 and "balance-of-trade" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    for member in members:
        decide([c1, c2], valley, "Trade limits", "--trade-limits", member, "--debit-limit", "50", "--credit-ceiling", "50")
    wait_until(lambda: balances(c1).get("Trade Valley") == 0 and c2.get("/api/balances")
               and any(r["name"] == "Trade Valley" and r["credit_ceiling"] == 5000 for r in c1.get("/api/balances")),
               "the trade limits applied by C1")

    sent = tally_json(*ada_pays, "12.50", "--memo", "cheese", "--json")
    payment = sent["payment"]
    wait_until(lambda: payment_status(c1, payment) == "settled", "the payment settling")
    one, two = balances(c1), balances(c2)
    assert one["Ada"] == -1250 and one["Trade Valley"] == 1250 and sum(one.values()) == 0
    assert two["Bea"] == 1250 and two["Trade Valley"] == -1250 and sum(two.values()) == 0
    assert payment_status(c2, payment) == "settled"
    kinds = [event["body"]["kind"] for event in c1.get("/api/log?limit=1000")["events"]]
    # A payment with a memo is sent under the sealed kind (its memo committed, docs/protocol.md §19).
    assert kinds.count("payment_settled") == 1 and kinds.count("payment_sent") + kinds.count("payment_sent_sealed") == 1

    # C2 refuses what its rules refuse: Bea's ceiling leaves no room; C1 returns it to Ada.
    as_admin(c2, "limits", "Bea", "--credit-ceiling", "12.50")
    rejected = tally_json(*ada_pays, "1.00", "--json")["payment"]
    wait_until(lambda: payment_status(c1, rejected) == "returned", "the rejected payment returned")
    assert balances(c1)["Ada"] == -1250
    reason = next(row["reason"] for row in tally_json("--node", c1.url, "payments", "--json", env=c1.operator_environment())
                  if row["id"] == rejected)
    assert reason == "credit_ceiling"
    as_admin(c2, "limits", "Bea", "--credit-ceiling", "200")

    # C2 is down when Ada pays: the payment waits, and settles once C2 is back.
    assert c2.stop() == 0
    later = tally_json("--node", c1.url, "--key", ada_path, "pay", f"{bea}@{members[1]}", "2.00", "--json")["payment"]
    assert payment_status(c1, later) == "pending"
    c2.start()
    wait_until(lambda: payment_status(c1, later) == "settled", "the payment settling after C2 came back")
    assert balances(c2)["Bea"] == 1250 + 200
    for node in (c1, c2):
        rows = tally_json("--node", node.url, "payments", "--json", env=node.operator_environment())
        assert len(rows) == 3 and all(row["violation"] is None for row in rows), rows
    report = tally_json("--node", c1.url, "federation", "report", valley, "--json")
    flows = report["s4_intelligence"]["trade_flows"]
    assert flows == [{"from": members[0], "to": members[1], "payments": 2, "sent": 1450}]
    positions = {row["member"]: row["position"] for row in report["s3_control"]}
    assert positions == {members[0]: -1450, members[1]: 1450}
    assert not [alert for alert in report["alerts"] if alert["kind"] == "at_limit"]

    # C1 reaches its balance-of-trade limit (50.00): the next payment is refused by its own node,
    # and the report raises the "at its limit" alert where the node is told to at once (C1), not
    # where it waits for an hour (C2).
    last = tally_json(*ada_pays, "35.50", "--json")["payment"]
    wait_until(lambda: payment_status(c1, last) == "settled", "the payment to the limit settling")
    beyond = tally(*ada_pays, "0.01")
    assert beyond.returncode == 1 and "balance-of-trade" in beyond.stderr

    def at_limit_alerts(node: NodeProcess) -> list[dict[str, Any]]:
        alerts = tally_json("--node", node.url, "federation", "report", valley, "--json")["alerts"]
        return [alert for alert in alerts if alert["kind"] == "at_limit"]
    # Both are at a limit: C1 bought 50.00 (its debit limit), C2 sold 50.00 (its credit ceiling).
    assert sorted(alert["message"].split()[0] for alert in at_limit_alerts(c1)) == sorted(members)
    assert at_limit_alerts(c2) == []
    for node in (c1, c2):
        node.stop()
        assert tally("verify", node.home).returncode == 0
