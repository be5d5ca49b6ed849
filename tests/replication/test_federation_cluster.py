"""Three communities found a federation and decide in it, with real `tally serve` processes and the
`tally` command line: the charter adopted by each, a proposal passed by a quorum of ballots on the
members' own feeds, the same federation state on every node, a quorum certificate that verifies
from its bytes alone, a stalled epoch ended by the nodes' own abstentions, a community's second
ballot ignored and reported as equivocation, and the viability report with its five systems."""

from __future__ import annotations

import base64
from typing import Any

from tallystick.federation.quorum import decode_certificate, verify_certificate
from tallystick.protocol.ids import id_to_text

from helpers.replication import NodeProcess, Nodes, start_all, wait_until
from helpers.support import tally, tally_json


def as_admin(node: NodeProcess, *args: str) -> Any:
    return tally_json("--node", node.url, "--key", node.home / "admin.key", *args, "--json")


def federation(node: NodeProcess, reference: str) -> dict[str, Any] | None:
    answer = node.http("GET", f"/api/federations/{reference}")
    return answer.json() if answer.status == 200 else None


def test_three_communities_found_a_federation_and_decide_in_it(nodes: Nodes) -> None:
    a, b, c = nodes.create(3)
    for node in (a, b, c):
        node.peers = [other.url for other in (a, b, c) if other is not node]
    start_all([a, b, c])
    members = [id_to_text("n", node.feed) for node in (a, b, c)]
    founded = as_admin(a, "federation", "found", "Valley", *(f"--member={m}" for m in members), "--quorum", "60")
    valley = founded["id"]
    wait_until(lambda: federation(b, valley) is not None, "B seeing A's charter")
    as_admin(b, "federation", "adopt", valley, "--from", a.url)
    as_admin(c, "federation", "adopt", valley, "--from", a.url)
    for node in (a, b, c):
        wait_until(lambda node=node: (federation(node, valley) or {}).get("founded"), f"{node.url} seeing Valley founded")

    # A proposal by B, yes from A and C: 2 of 3 is the quorum (60% rounded up).
    allocate = as_admin(b, "federation", "propose", valley, "Share the capacity",
                        f"--allocate={members[0]}=100.00", f"--allocate={members[1]}=50.00", "--deadline-in", "1h")
    proposal = allocate["proposal"]
    wait_until(lambda: any(d["id"] == proposal for d in federation(a, valley)["decisions"]), "A seeing the proposal")
    wait_until(lambda: any(d["id"] == proposal for d in federation(c, valley)["decisions"]), "C seeing the proposal")
    as_admin(a, "federation", "vote", valley, proposal)
    as_admin(c, "federation", "vote", valley, proposal)
    for node in (a, b, c):
        wait_until(lambda node=node: federation(node, valley)["epoch"] == 1, f"{node.url} seeing the decision pass")
    views = [federation(node, valley) for node in (a, b, c)]
    assert all(view == views[0] for view in views), "every node folds the same federation state"
    passed = next(d for d in views[0]["decisions"] if d["id"] == proposal)
    assert passed["outcome"] == "passed" and sorted(passed["yes"]) == sorted([members[0], members[2]])
    capacity = {m["member"]: m["capacity"] for m in views[0]["members"]}
    assert capacity == {members[0]: 10000, members[1]: 5000, members[2]: 0}

    # The certificate: C's copy, checked from its bytes alone.
    document = tally_json("--node", c.url, "federation", "certificate", valley, proposal, "--json")
    certified = verify_certificate(decode_certificate(base64.b64decode(document["certificate"])))
    assert id_to_text("h", certified.id) == proposal and len(certified.voters) == 2

    # A community's second ballot in one epoch is ignored and reported.
    rename = as_admin(a, "federation", "propose", valley, "Rename", "--rename", "Green Valley", "--deadline-in", "1h")
    wait_until(lambda: any(d["id"] == rename["proposal"] for d in federation(b, valley)["decisions"]), "B seeing it")
    as_admin(b, "federation", "vote", valley, "abstain")
    as_admin(b, "federation", "vote", valley, rename["proposal"])
    wait_until(lambda: federation(a, valley)["equivocations"], "A seeing B's second ballot")
    report = tally_json("--node", a.url, "federation", "report", valley, "--json")
    assert any(alert["kind"] == "equivocation" for alert in report["alerts"])
    assert len(report["s1_operations"]) == 3 and all(row["held"] for row in report["s1_operations"])
    assert report["s5_policy"]["passed_decisions"] == 1 and len(report["s2_coordination"]["peers"]) == 2
    assert report["s3_control"] and report["s3_star_audit"]["verified_by"] == members[0]
    refused = tally("--node", a.url, "federation", "show", "x_" + "a" * 52)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    # As people read it: the capacity shares in major units of the federation's unit.
    shown = tally("--node", c.url, "federation", "show", valley)
    assert shown.returncode == 0 and "100.00 HRS" in shown.stdout and "50.00 HRS" in shown.stdout, shown.stdout
    read = tally("--node", a.url, "federation", "report", valley)
    words = " ".join(read.stdout.split())  # as printed, whatever the terminal's width wrapped
    assert read.returncode == 0 and "1 double vote," in words and "Trade and capacity (S3 control)" in words


def test_a_stalled_epoch_ends_by_the_nodes_own_abstentions(nodes: Nodes) -> None:
    a, b = nodes.create(2)
    a.peers, b.peers = [b.url], [a.url]
    start_all([a, b])
    members = [id_to_text("n", node.feed) for node in (a, b)]
    valley = as_admin(a, "federation", "found", "Pair", *(f"--member={m}" for m in members), "--quorum", "100")["id"]
    wait_until(lambda: federation(b, valley) is not None, "B seeing the charter")
    as_admin(b, "federation", "adopt", valley, "--from", a.url)
    wait_until(lambda: (federation(a, valley) or {}).get("founded"), "A seeing the federation founded")
    stalled = as_admin(a, "federation", "propose", valley, "Nobody votes", "--rename", "Quiet", "--deadline-in", "3s")
    # Nobody votes; once the deadline passes each node abstains on its own, and epoch 0 ends.
    wait_until(lambda: federation(a, valley)["epoch"] == 1, "the stalled epoch ending")
    decided = next(d for d in federation(a, valley)["decisions"] if d["id"] == stalled["proposal"])
    assert decided["outcome"] == "failed"
    wait_until(lambda: federation(b, valley)["epoch"] == 1, "B agreeing")
