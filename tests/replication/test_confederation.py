"""Federations of federations, with one real node and the `tally` command: a community founds a
federation (Dale) alone, Dale is named in a confederation's charter (Shire) and adopts it by its
own passed decision, a community under Dale proposes in Shire, and Dale's ballot in Shire is a Dale
decision; Shire's decision then passes, and its certificate nests Dale's."""

from __future__ import annotations

import base64
from typing import Any

from tallystick.federation.quorum import decode_certificate, verify_certificate
from tallystick.protocol.ids import id_to_text

from helpers.replication import NodeProcess, Nodes, start_all, wait_until
from helpers.support import tally_json


def as_admin(node: NodeProcess, *args: str) -> Any:
    return tally_json("--node", node.url, "--key", node.home / "admin.key", *args, "--json")


def federation(node: NodeProcess, reference: str) -> dict[str, Any]:
    """The federation as the node folds it; empty until it holds the charter."""
    answer = node.http("GET", f"/api/federations/{reference}")
    return answer.json() if answer.status == 200 else {"founded": False, "decisions": []}


def passed(node: NodeProcess, reference: str, proposal: str) -> bool:
    return any(d["id"] == proposal and d["outcome"] == "passed" for d in federation(node, reference)["decisions"])


def test_a_federation_joins_a_confederation_and_votes_in_it_by_its_own_decisions(nodes: Nodes) -> None:
    [node] = nodes.create(1)
    start_all([node])
    community = id_to_text("n", node.feed)
    dale = as_admin(node, "federation", "found", "Dale", f"--member={community}", "--quorum", "100")["id"]
    wait_until(lambda: federation(node, dale)["founded"], "Dale founded")
    shire = as_admin(node, "federation", "found", "Shire", f"--member={dale}", "--quorum", "100")["id"]
    wait_until(lambda: "epoch" in federation(node, shire), "Shire's charter held")
    assert not federation(node, shire)["founded"]  # Dale has not adopted it yet

    join = as_admin(node, "federation", "propose", dale, "Join the Shire", "--join", shire, "--deadline-in", "1h")
    wait_until(lambda: any(d["id"] == join["proposal"] for d in federation(node, dale)["decisions"]), "the proposal")
    as_admin(node, "federation", "vote", dale, join["proposal"])
    wait_until(lambda: federation(node, shire)["founded"], "Shire founded by Dale's decision")
    assert federation(node, shire)["members"][0]["kind"] == "federation"

    # A community under Dale proposes in the Shire; Dale's yes is a Dale decision, whose deadline
    # (its time as a ballot) must come before the Shire proposal's.
    rename = as_admin(node, "federation", "propose", shire, "Rename", "--rename", "The Shire", "--deadline-in", "2h")
    wait_until(lambda: any(d["id"] == rename["proposal"] for d in federation(node, shire)["decisions"]), "it held")
    ballot = as_admin(node, "federation", "propose", dale, "Yes in the Shire", "--vote-in-parent", shire,
                      "--parent-proposal", rename["proposal"], "--deadline-in", "1h")
    wait_until(lambda: any(d["id"] == ballot["proposal"] for d in federation(node, dale)["decisions"]), "Dale's")
    as_admin(node, "federation", "vote", dale, ballot["proposal"])
    wait_until(lambda: passed(node, shire, rename["proposal"]), "the Shire's decision passing on Dale's ballot")
    assert federation(node, shire)["name"] == "The Shire"
    document = tally_json("--node", node.url, "federation", "certificate", shire, rename["proposal"], "--json")
    certificate = decode_certificate(base64.b64decode(document["certificate"]))
    assert certificate.children, "Dale's decisions are nested in the Shire's certificate"
    certified = verify_certificate(certificate)
    assert id_to_text("h", certified.id) == rename["proposal"]
