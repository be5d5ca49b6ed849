"""Decisions end to end with a real `tally serve`: propose, vote with the CLI, watch the node close
it by its timer (at once when every member agreed, the one way before the deadline the floors allow)
and apply its effect; social recovery through a decision, which takes its 72 hours; a poll's options
shown by number, and the vote `propose` suggests, run as printed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from helpers.nodes import NodeProcess
from helpers.support import clean_environment, tally, tally_json

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


def test_a_proposal_voted_with_the_cli_closes_once_every_member_agreed_and_admits_the_member(
    make_node: Any, tmp_path: Path
) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    _, newcomer_id = new_key(tmp_path, "newcomer")
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    proposed = tally_json(
        *admin, "propose", "Admit Newcomer", "--text", "our neighbour", "--admit", newcomer_id,
        "--name", "Newcomer", "--closes-in", "2d", "--json",
    )
    decision = proposed["id"]
    tally_json("--node", node.url, "--key", bea_path, "vote", str(decision), "disagree", "--json")
    tally_json(*admin, "vote", str(decision), "agree", "--json")
    listed = tally_json("--node", node.url, "--key", node.home / "admin.key", "decisions", "--open", "--json")
    live = next(row for row in listed if row["id"] == decision)
    assert live["open"] and live["time_left_ms"] > 0
    assert live["tally"]["positions"]["agree"] == 1 and live["tally"]["positions"]["disagree"] == 1
    assert live["tally"]["outcome"] == "rejected"
    tally_json("--node", node.url, "--key", bea_path, "vote", str(decision), "agree", "--json")  # replaces
    closed = wait_for_close(node, decision)
    assert closed["outcome"] == "passed" and closed["time_left_ms"] == 0
    assert closed["tally"]["positions"]["agree"] == 2 and closed["tally"]["positions"]["disagree"] == 0
    assert node.get("/api/members/Newcomer")["id"] == newcomer_id
    late = tally("--node", node.url, "--key", bea_path, "vote", str(decision), "block")
    assert late.returncode == 1 and "decision_closed" in late.stderr and len(late.stderr.strip().splitlines()) == 1
    assert tally("verify", node.home).returncode == 0


def test_social_recovery_by_decision_stays_open_its_72_hours_and_the_owner_can_block_it(
    make_node: Any, tmp_path: Path
) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    cal_path, cal_id = new_key(tmp_path, "cal")
    _, bea_new_id = new_key(tmp_path, "bea-new")
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    tally_json(*admin, "member", "add", cal_id, "--name", "Cal", "--json")
    cal = ("--node", node.url, "--key", cal_path)
    quick = tally(*cal, "propose", "Bea lost her phone", "--recover", "Bea", "--new-key", bea_new_id,
                  "--closes-in", "12s", "--json")
    assert quick.returncode == 1 and "below_floor" in quick.stderr and "72 h" in quick.stderr
    assert len(quick.stderr.strip().splitlines()) == 1
    decision = tally_json(*cal, "propose", "Bea lost her phone", "--recover", "Bea", "--new-key", bea_new_id,
                          "--closes-in", "72h", "--json")["id"]  # exactly the floor: a period of the log's time
    for key_path in (node.home / "admin.key", cal_path):
        tally_json("--node", node.url, "--key", key_path, "vote", str(decision), "agree", "--json")
    shown = tally_json("--node", node.url, "--key", node.home / "admin.key", "decisions", str(decision), "--json")
    assert shown["open"] and shown["quorum_bp"] == 5000 and shown["threshold_bp"] == 6667
    assert shown["deadline_ms"] - shown["opened_ms"] == 72 * 3600 * 1000
    # Bea still holds her key: it was not lost, and she stops it.
    tally_json("--node", node.url, "--key", bea_path, "vote", str(decision), "block", "--json")
    shown = tally_json("--node", node.url, "--key", node.home / "admin.key", "decisions", str(decision), "--json")
    assert shown["open"] and shown["tally"]["outcome"] == "blocked"
    assert node.get("/api/members/Bea")["id"] == bea_id


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
    shown = tally_json("--node", node.url, "--key", node.home / "admin.key", "decisions", str(decision), "--json")
    assert shown["options"] == ["Saturday", "Sunday"]
    assert shown["tally"]["option_counts"] == [0, 2] and shown["tally"]["winners"] == [1]
    assert shown["tally"]["direct"] == 1 and shown["tally"]["participants"] == 2
    bad = tally(*admin, "vote", str(decision), "agree")
    assert bad.returncode == 1 and "bad_vote" in bad.stderr
    assert tally("--node", node.url, "--key", node.home / "admin.key", "decisions").returncode == 0


def test_a_levy_by_decision_pays_into_the_treasury_and_balances_still_sum_to_zero(
    make_node: Any, tmp_path: Path
) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    decision = tally_json(
        *admin, "propose", "A 1% levy", "--type", "consent", "--levy", "1", "--levy-min", "0.02",
        "--levy-max", "1.00", "--closes-in", "3d", "--json",
    )["id"]
    tally_json(*admin, "vote", str(decision), "agree", "--json")
    tally_json("--node", node.url, "--key", bea_path, "vote", str(decision), "agree", "--json")  # all agree: closes
    assert wait_for_close(node, decision)["outcome"] == "passed"
    tally_json("--node", node.url, "--key", bea_path, "pay", node.created["admin"], "50.00", "--json")
    tally_json(*admin, "pay", "Bea", "1.00", "--json")
    balances = {row["name"]: row["balance"] for row in tally_json("--node", node.url, "--key", node.home / "admin.key", "balance", "--json")}
    assert balances["Treasury"] == 50 + 2
    assert balances["Bea"] == -5000 - 50 + 100
    assert sum(balances.values()) == 0
    spend = tally_json(
        *admin, "propose", "Pay Bea for litter picking", "--type", "consent", "--treasury-pay", "Bea",
        "--amount", "0.40", "--memo", "litter", "--closes-in", "3d", "--json",
    )["id"]
    tally_json(*admin, "vote", str(spend), "agree", "--json")
    tally_json("--node", node.url, "--key", bea_path, "vote", str(spend), "agree", "--json")
    assert wait_for_close(node, spend)["outcome"] == "passed"
    balances = {row["name"]: row["balance"] for row in tally_json("--node", node.url, "--key", node.home / "admin.key", "balance", "--json")}
    assert balances["Treasury"] == 52 - 40 and balances["Bea"] == -5000 - 50 + 100 + 40
    assert sum(balances.values()) == 0


def test_a_polls_propose_lists_its_options_by_number_and_suggests_a_vote_that_works(
    make_node: Any, tmp_path: Path
) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    proposed = tally(*admin, "propose", "Market day", "--type", "poll", "--option", "Friday",
                     "--option", "Saturday", "--closes-in", "1h")
    assert proposed.returncode == 0, proposed.stderr
    lines = proposed.stdout.splitlines()
    assert [line.split() for line in lines[1:3]] == [["0", "Friday"], ["1", "Saturday"]]
    suggested = next(line for line in lines if "tally vote" in line).split("`")[1]
    assert "agree" not in suggested
    decision = suggested.split()[2]
    voted = tally(*admin, *suggested.split()[1:])  # the suggestion, run as typed
    assert voted.returncode == 0, voted.stderr
    shown = tally_json("--node", node.url, "--key", node.home / "admin.key", "decisions", decision, "--json")
    assert shown["tally"]["option_counts"] == [1, 0]
    listed = tally("--node", node.url, "--key", node.home / "admin.key", "decisions", decision, env=clean_environment(COLUMNS="240"))
    assert listed.returncode == 0
    assert "0 Friday: 1" in listed.stdout and "1 Saturday: 0" in listed.stdout
    assert any(line.split() == ["0", "Friday:", "1"] for line in listed.stdout.splitlines())


def test_a_proposals_propose_suggests_a_vote_that_works(make_node: Any) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    proposed = tally(*admin, "propose", "Paint the hall", "--closes-in", "1h")
    assert proposed.returncode == 0, proposed.stderr
    suggested = proposed.stdout.split("`")[1]
    assert suggested.endswith(" agree")
    assert tally(*admin, *suggested.split()[1:]).returncode == 0


def test_a_threshold_typed_as_a_fraction_and_floors_set_by_a_proposal(make_node: Any) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    two_thirds = tally_json(*admin, "propose", "Paint the hall", "--threshold", "2/3", "--closes-in", "1h", "--json")
    assert tally_json("--node", node.url, "--key", node.home / "admin.key", "decisions", str(two_thirds["id"]), "--json")["threshold_bp"] == 6667
    floors = tally_json(*admin, "propose", "Stricter rules", "--floor", "rules:60:3/4:96h",
                        "--floor", "key_recovery:50:70:72h", "--closes-in", "4d", "--json")
    shown = tally_json("--node", node.url, "--key", node.home / "admin.key", "decisions", str(floors["id"]), "--json")
    assert shown["effect"]["kind"] == "set_floors"
    assert [(f["decision_class"], f["quorum_bp"], f["threshold_bp"], f["period_ms"]) for f in shown["effect"]["floors"]] == [
        ("rules", 6000, 7500, 96 * 3_600_000), ("key_recovery", 5000, 7000, 72 * 3_600_000)], shown["effect"]
    before = node.get("/api/status")["seq"]
    for bad in ("rules:60:3/4", "nobody:1:1:1h", "rules:60:4/3:96h", "rules:sixty:1/2:96h"):
        done = tally(*admin, "propose", "Bad floor", "--floor", bad, "--closes-in", "4d")
        assert done.returncode == 2 and "Traceback" not in done.stderr, (bad, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert node.get("/api/status")["seq"] == before
