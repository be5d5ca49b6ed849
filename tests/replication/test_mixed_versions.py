"""A federation of a feed written before personal texts left the log and a feed written after
(docs/protocol.md §17 and §19): real `tally serve` processes on loopback, the CLI.

The world: Old Town's feed was written by an older node: its genesis names the admin in clear,
and its admission of Bea and Ada's payment to her carry their name and memo in clear
(tests/helpers/legacy.py writes exactly such bytes). Today's node serves that home. Riverside is
a new community (its genesis sealed). They peer both ways and found a federation, then members pay
across both ways.

Then: the old feed goes on under today's rules (a new admission on it is sealed), each node holds
and verifies the other's whole feed, both communities read their own names and memos, clear and
sealed alike, and no new name or memo is readable in any file of the other node. What an older
node wrote in clear stays in clear: the log is append-only, so protocol.md §17 says so.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from tallystick.node.home import write_key
from tallystick.protocol.events import AdmitMember, Transfer
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.legacy import write_clear_home
from helpers.replication import NodeProcess, Nodes, start_all, wait_until
from helpers.support import free_port, tally, tally_json

ada_name, bea_name = "Ada Oldfield", "Bea Clearwater"  # written in clear by the older node
old_memo = "bread for the harvest fair"
cyd_name, dee_name = "Cyd Sealwright", "Dee Hushbrook"  # written by today's nodes: sealed
across_memo, back_memo = "apples from the valley orchard", "thanks for the crate of pears"
sealed_texts = (cyd_name, dee_name, across_memo, back_memo)


def _files_containing(folder: Path, needles: tuple[str, ...]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {needle!r}" for needle in needles if needle.encode() in data]
    return found


def _as_admin(node: NodeProcess, *args: str) -> Any:
    return tally_json("--node", node.url, "--key", node.home / "admin.key", *args, "--json")


def _federation(node: NodeProcess, reference: str) -> dict[str, Any]:
    return node.get(f"/api/federations/{reference}")


def _decide(nodes: list[NodeProcess], valley: str, *args: str) -> None:
    """A federation decision proposed by the first node and passed by every node's yes."""
    epoch = _federation(nodes[0], valley)["epoch"]
    proposal = _as_admin(nodes[0], "federation", "propose", valley, *args, "--deadline-in", "1h")["proposal"]
    for node in nodes:
        wait_until(lambda node=node: any(d["id"] == proposal for d in _federation(node, valley)["decisions"]),
                   f"{node.url} seeing the proposal")
        _as_admin(node, "federation", "vote", valley, proposal)
    for node in nodes:
        wait_until(lambda node=node: _federation(node, valley)["epoch"] > epoch, f"{node.url} seeing it pass")


def _payment_status(node: NodeProcess, payment: str) -> str | None:
    rows = tally_json("--node", node.url, "payments", "--json", env=node.operator_environment())
    return next((row["status"] for row in rows if row["id"] == payment), None)


def _wait_for_feed(node: NodeProcess, feed: str, seq: int) -> None:
    wait_until(lambda: node.feeds().get(feed, {}).get("seq", 0) >= seq, f"{node.url} to hold {feed} at seq {seq}")


@pytest.fixture(scope="module")
def world(module_nodes: Nodes, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    keys = tmp_path_factory.mktemp("keys")
    admin, bea = KeyPair.generate(), KeyPair.generate()
    old_home = module_nodes.directory / "old-town" / "home"
    write_clear_home(old_home, name="Old Town", admin=admin, admin_name=ada_name, ts_ms=time.time_ns() // 1_000_000,
                     actions=[(admin, AdmitMember(member=bea.public, name=bea_name)),
                              (admin, Transfer(to=bea.public, amount_minor=500, memo=old_memo))])
    old = module_nodes.adopt(NodeProcess(home=old_home, port=free_port()))
    (river,) = module_nodes.create(1)
    old.peers, river.peers = [river.url], [old.url]
    start_all([old, river])
    cyd = old.admit(cyd_name)  # today's node on the old feed: sealed
    dee = river.admit(dee_name)

    members = [id_to_text("n", node.feed) for node in (old, river)]
    valley = _as_admin(old, "federation", "found", "Valley", *(f"--member={m}" for m in members))["id"]
    wait_until(lambda: river.http("GET", f"/api/federations/{valley}").status == 200, "Riverside seeing the charter")
    _as_admin(river, "federation", "adopt", valley, "--from", old.url)
    wait_until(lambda: _federation(old, valley)["founded"] and _federation(river, valley)["founded"], "Valley founded")
    for member in members:
        _decide([old, river], valley, "Trade limits", "--trade-limits", member, "--debit-limit", "50",
                "--credit-ceiling", "50")

    bea_file, dee_file = keys / "bea.key", keys / "dee.key"
    write_key(bea_file, bea)
    write_key(dee_file, dee)
    dee_id, bea_id = id_to_text("m", dee.public), id_to_text("m", bea.public)
    # The limits apply by an event each node appends; a payment refused before it is tried again.
    def pay(node: NodeProcess, key_file: Path, to: str, amount: str, memo: str) -> str:
        sent: list[str] = []

        def accepted() -> bool:
            result = tally("--node", node.url, "--key", key_file, "pay", to, amount, "--memo", memo, "--json")
            if result.returncode == 0:
                sent.append(json.loads(result.stdout)["payment"])
            return bool(sent)
        wait_until(accepted, f"{node.url} taking the payment")
        return sent[0]

    there = pay(old, bea_file, f"{dee_id}@{members[1]}", "12.50", across_memo)
    back = pay(river, dee_file, f"{bea_id}@{members[0]}", "2.50", back_memo)
    wait_until(lambda: _payment_status(old, there) == "settled", "Bea's payment settling")
    wait_until(lambda: _payment_status(river, back) == "settled", "Dee's payment settling")
    for source, holder in ((old, river), (river, old)):
        _wait_for_feed(holder, source.feed_text, source.status()["seq"])
    return {"old": old, "river": river, "admin": admin, "bea": bea, "cyd": cyd, "dee": dee}


def test_the_old_feed_keeps_its_clear_texts_and_goes_on_sealed(world: dict[str, Any]) -> None:
    old = world["old"]
    log = old.get_as(old.admin_key, "/api/log?limit=1000").json()
    kinds = [(event["seq"], event["body"]["kind"]) for event in log["events"]]
    assert kinds[:3] == [(1, "genesis"), (2, "act"), (3, "act")]
    assert "act_sealed" in [kind for _, kind in kinds[3:]]
    names = {row["name"] for row in old.get_as(old.admin_key, "/api/members").json()}
    assert {ada_name, bea_name, cyd_name} <= names
    text = json.dumps(log)
    assert old_memo in text, "the clear memo the older node wrote"
    assert across_memo in text, "Bea's memo across, sealed on her own node and opened there"
    assert back_memo not in text, "a memo from another community is not shown (docs/privacy.md)"


def test_each_node_verifies_both_feeds_and_holds_no_new_text_of_the_other(world: dict[str, Any]) -> None:
    old, river = world["old"], world["river"]
    old.stop()
    river.stop()
    try:
        for node in (old, river):
            verified = tally("verify", node.home)
            assert verified.returncode == 0, verified.stdout + verified.stderr
            assert old.feed_text in verified.stdout and river.feed_text in verified.stdout
        # Riverside holds Old Town's clear texts (written in clear before §19) and none of the sealed ones.
        assert _files_containing(river.home, (bea_name, old_memo)) != []
        assert _files_containing(river.home, (cyd_name, across_memo)) == []
        # Neither home holds today's texts in clear: each keeps its own sealed, the other's committed.
        assert _files_containing(old.home, sealed_texts) == []
        assert _files_containing(river.home, sealed_texts) == []
    finally:
        start_all([old, river])


def test_the_members_read_each_side_as_their_own_node_shows_it(world: dict[str, Any]) -> None:
    old, river, bea, dee = world["old"], world["river"], world["bea"], world["dee"]
    assert old.get_as(bea, f"/api/members/{id_to_text('m', bea.public)}").json()["name"] == bea_name
    assert river.get_as(dee, f"/api/members/{id_to_text('m', dee.public)}").json()["name"] == dee_name
    balances = {row["name"]: row["balance"] for row in old.get_as(old.admin_key, "/api/balances").json()}
    assert balances[bea_name] == 500 - 1250 + 250 and sum(balances.values()) == 0
