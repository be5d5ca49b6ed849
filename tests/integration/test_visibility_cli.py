"""The visibility policy changed by a decision, end to end with a real `tally serve`: a plain member
proposes who sees what with the CLI (`tally propose --visibility`), every member agrees, the node's
timer closes it and applies it, `tally visibility` shows the new policy, and the node restarted on
its home still has it; a change the limits refuse (a member's history to the public) is refused
in one line and changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.support import tally, tally_json

from .test_decisions_cli import new_key, wait_for_close


def test_a_community_passes_a_visibility_decision_and_the_cli_shows_the_policy(make_node: Any, tmp_path: Path) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    bea = ("--node", node.url, "--key", bea_path)
    before = tally_json(*bea, "visibility", "--json")
    assert before["balances"] == "concerned" and before["log"] == "admins"

    refused = tally(*bea, "propose", "Publish histories", "--visibility", "history=public", "--closes-in", "72h")
    assert refused.returncode == 1 and "bad_decision" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert node.get("/api/decisions") == []

    decision = tally_json(*bea, "propose", "Open balances", "--text", "so we can see who needs help",
                          "--visibility", "balances=members", "--visibility", "holdings=admins",
                          "--closes-in", "72h", "--json")["id"]
    for signer in (admin, bea):
        tally_json(*signer, "vote", str(decision), "agree", "--json")
    closed = wait_for_close(node, decision)  # everyone agreed: the node closes it at once
    assert closed["outcome"] == "passed"
    assert closed["effect"] == {"kind": "set_visibility", "names": None, "balances": "members", "history": None,
                                "votes": None, "decisions": None, "holdings": "admins", "log": None}

    after = tally_json(*bea, "visibility", "--json")
    assert after == {**before, "balances": "members", "holdings": "admins"}
    shown = tally(*bea, "visibility")
    assert shown.returncode == 0
    balances_line = next(line for line in shown.stdout.splitlines() if "balances" in line)
    assert "members" in balances_line and "the member concerned" not in balances_line

    assert node.stop() == 0
    node.start()  # the policy is restored from the store, not only held in memory
    assert tally_json(*bea, "visibility", "--json") == after
    assert node.stop() == 0
    assert tally("verify", node.home).returncode == 0
