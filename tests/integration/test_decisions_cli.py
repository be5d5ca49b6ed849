"""Decisions end to end with a real `tally serve`: propose with a short deadline, vote with the CLI,
watch the node close it by its timer and apply its effect; social recovery through a decision."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from support import tally, tally_json

from .conftest import NodeProcess

close_wait_seconds = 60.0


def new_key(directory: Path, name: str) -> tuple[Path, str]:
    path = directory / f"{name}.key"
    return path, tally_json("key", "new", path, "--json")["id"]


def wait_for_close(node: NodeProcess, decision: int) -> dict[str, Any]:
    deadline = time.monotonic() + close_wait_seconds
    while time.monotonic() < deadline:
        found = node.get(f"/api/decisions/{decision}")
        if not found["open"]:
            return found
        time.sleep(0.2)
    raise AssertionError(f"decision {decision} was not closed by the node's timer within {close_wait_seconds} s")


def test_a_proposal_voted_with_the_cli_closes_at_its_deadline_and_admits_the_member(
    make_node: Any, tmp_path: Path
) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    _, newcomer_id = new_key(tmp_path, "newcomer")
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    proposed = tally_json(
        *admin, "propose", "Admit Newcomer", "--text", "our neighbour", "--admit", newcomer_id,
        "--name", "Newcomer", "--closes-in", "20s", "--json",
    )
    decision = proposed["id"]
    tally_json(*admin, "vote", str(decision), "agree", "--json")
    tally_json("--node", node.url, "--key", bea_path, "vote", str(decision), "disagree", "--json")
    tally_json("--node", node.url, "--key", bea_path, "vote", str(decision), "agree", "--json")  # replaces
    listed = tally_json("--node", node.url, "decisions", "--open", "--json")
    live = next(row for row in listed if row["id"] == decision)
    assert live["open"] and live["time_left_ms"] > 0
    assert live["tally"]["positions"]["agree"] == 2 and live["tally"]["positions"]["disagree"] == 0
    assert live["tally"]["outcome"] == "passed"
    closed = wait_for_close(node, decision)
    assert closed["outcome"] == "passed" and closed["time_left_ms"] == 0
    assert node.get("/api/members/Newcomer")["id"] == newcomer_id
    late = tally("--node", node.url, "--key", bea_path, "vote", str(decision), "block")
    assert late.returncode == 1 and "decision_closed" in late.stderr and len(late.stderr.strip().splitlines()) == 1
    assert tally("verify", node.home).returncode == 0


def test_social_recovery_by_decision_moves_the_account_to_a_new_key(make_node: Any, tmp_path: Path) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    cal_path, cal_id = new_key(tmp_path, "cal")
    bea_new_path, bea_new_id = new_key(tmp_path, "bea-new")
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    tally_json(*admin, "member", "add", cal_id, "--name", "Cal", "--json")
    tally_json("--node", node.url, "--key", bea_path, "pay", "Cal", "3.00", "--json")
    decision = tally_json(
        "--node", node.url, "--key", cal_path, "propose", "Bea lost her phone", "--recover", "Bea",
        "--new-key", bea_new_id, "--closes-in", "12s", "--json",
    )["id"]
    for key_path in (node.home / "admin.key", cal_path):
        tally_json("--node", node.url, "--key", key_path, "vote", str(decision), "agree", "--json")
    assert wait_for_close(node, decision)["outcome"] == "passed"
    old = tally("--node", node.url, "--key", bea_path, "pay", "Cal", "1.00")
    assert old.returncode == 1 and "key_retired" in old.stderr
    tally_json("--node", node.url, "--key", bea_new_path, "pay", "Cal", "1.00", "--json")
    balances = {row["name"]: row["balance"] for row in tally_json("--node", node.url, "balance", "--json")}
    assert balances["Bea"] == -400 and balances["Cal"] == 400


def test_a_poll_shows_its_options_and_a_delegated_vote(make_node: Any, tmp_path: Path) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    admin_id = node.created["admin"]
    tally_json("--node", node.url, "--key", bea_path, "delegate", admin_id, "--json")
    decision = tally_json(
        *admin, "propose", "Picnic day", "--type", "poll", "--option", "Saturday", "--option", "Sunday",
        "--closes-in", "1h", "--json",
    )["id"]
    tally_json(*admin, "vote", str(decision), "1", "--json")
    shown = tally_json("--node", node.url, "decisions", str(decision), "--json")
    assert shown["options"] == ["Saturday", "Sunday"]
    assert shown["tally"]["option_counts"] == [0, 2] and shown["tally"]["winners"] == [1]
    assert shown["tally"]["direct"] == 1 and shown["tally"]["participants"] == 2
    bad = tally(*admin, "vote", str(decision), "agree")
    assert bad.returncode == 1 and "bad_vote" in bad.stderr
    assert tally("--node", node.url, "decisions").returncode == 0


def test_a_levy_by_decision_pays_into_the_treasury_and_balances_still_sum_to_zero(
    make_node: Any, tmp_path: Path
) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    decision = tally_json(
        *admin, "propose", "A 1% levy", "--type", "consent", "--levy", "1", "--levy-min", "0.02",
        "--levy-max", "1.00", "--closes-in", "12s", "--json",
    )["id"]
    tally_json(*admin, "vote", str(decision), "agree", "--json")
    assert wait_for_close(node, decision)["outcome"] == "passed"
    tally_json("--node", node.url, "--key", bea_path, "pay", node.created["admin"], "50.00", "--json")
    tally_json(*admin, "pay", "Bea", "1.00", "--json")
    balances = {row["name"]: row["balance"] for row in tally_json("--node", node.url, "balance", "--json")}
    assert balances["Treasury"] == 50 + 2
    assert balances["Bea"] == -5000 - 50 + 100
    assert sum(balances.values()) == 0
    spend = tally_json(
        *admin, "propose", "Pay Bea for litter picking", "--type", "consent", "--treasury-pay", "Bea",
        "--amount", "0.40", "--memo", "litter", "--closes-in", "12s", "--json",
    )["id"]
    tally_json(*admin, "vote", str(spend), "agree", "--json")
    assert wait_for_close(node, spend)["outcome"] == "passed"
    balances = {row["name"]: row["balance"] for row in tally_json("--node", node.url, "balance", "--json")}
    assert balances["Treasury"] == 52 - 40 and balances["Bea"] == -5000 - 50 + 100 + 40
    assert sum(balances.values()) == 0
