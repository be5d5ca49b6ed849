"""Personal data out of the replicated log, and erased by destroying a key (docs/privacy.md,
docs/protocol.md §19): real `tally serve` processes on loopback, real SQLite files, the CLI.

The world: Riverside (R) and a peer community (P) linked both ways, so P holds R's whole feed.
R's operator names a backups' key store (`key_backup` in config.json). The admin admits Alice
and Bob with names no other byte string contains; Alice pays Bob with a memo and proposes a poll.

Then: P verifies R's feed fully and no file of P's home holds a name, memo or text in any form;
neither does R's database (only R's sealed boxes, which R's keys open). Alice's export holds all of
it. Only an admin may erase, only a member who left. After the erasure R's key store and its
backup hold no copy of Alice's key, R shows her name and memos as erased, Bob's stay, and
`tally verify` passes on R and on P.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tallystick.node.home import write_key
from tallystick.protocol.events import AllMembers, ProposeWithPeriod, RemoveMember, Transfer
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.replication import NodeProcess, Nodes, start_all, wait_until
from helpers.support import tally

alice_name = "Alice Quernwick"
bob_name = "Bob Yarrowfell"
memo_paid = "therapy session 7731, flat 3B"
memo_back = "back for the session, with thanks"
poll_title = "Where should the Zephyrine market stand"
poll_text = "Choose the square by the old Quillmore mill"
secrets_typed = (alice_name, bob_name, memo_paid, memo_back, poll_title, poll_text)


def _files_containing(folder: Path, needles: tuple[str, ...]) -> list[str]:
    """Every (file, needle) where a file under `folder` holds the needle's UTF-8 bytes."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {needle!r}" for needle in needles if needle.encode() in data]
    return found


def _wait_for_feed(node: NodeProcess, feed: str, seq: int) -> None:
    wait_until(lambda: node.feeds().get(feed, {}).get("seq", 0) >= seq, f"{node.url} to hold {feed} at seq {seq}")


@pytest.fixture(scope="module")
def world(module_nodes: Nodes, tmp_path_factory: pytest.TempPathFactory) -> dict:
    riverside, peer = module_nodes.create(2)
    backup = tmp_path_factory.mktemp("key-backup") / "riverside-keys.db"
    config_path = riverside.home / "config.json"
    config = json.loads(config_path.read_text())
    config["key_backup"] = str(backup)
    config_path.write_text(json.dumps(config))
    riverside.peers, peer.peers = [f"http://127.0.0.1:{peer.port}"], [f"http://127.0.0.1:{riverside.port}"]
    start_all([riverside, peer])
    alice = riverside.admit(alice_name)
    bob = riverside.admit(bob_name)
    riverside.act(alice, Transfer(to=bob.public, amount_minor=2500, memo=memo_paid))
    riverside.act(alice, ProposeWithPeriod(
        decision_type="poll", title=poll_title, text=poll_text, deadline_ms=0, options=("By the mill", "By the river"),
        electorate=AllMembers(), voting_period_ms=3_600_000))
    head = riverside.status()["seq"]
    _wait_for_feed(peer, riverside.feed_text, head)
    return {"riverside": riverside, "peer": peer, "alice": alice, "bob": bob, "backup": backup}


def test_a_peer_holding_the_feed_verifies_it_and_holds_no_name_memo_or_text(world: dict) -> None:
    riverside, peer = world["riverside"], world["peer"]
    peer.stop()
    try:
        assert _files_containing(peer.home, secrets_typed) == []
        verified = tally("verify", peer.home)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert riverside.feed_text in verified.stdout
    finally:
        peer.start()
    # The community's own database holds what its peers hold: digests, and boxes only its keys open.
    assert _files_containing(riverside.home, secrets_typed) == []


def test_the_community_shows_its_members_what_they_typed(world: dict) -> None:
    riverside, alice = world["riverside"], world["alice"]
    member = riverside.get(f"/api/members/{id_to_text('m', alice.public)}")
    assert member["name"] == alice_name
    log = json.dumps(riverside.get("/api/log?limit=1000"))
    assert memo_paid in log and poll_title in log and poll_text in log
    decisions = riverside.get_as(alice, "/api/decisions").json()
    assert decisions[0]["title"] == poll_title


def test_a_member_exports_everything_held_about_them_as_json_and_csv(world: dict, tmp_path: Path) -> None:
    riverside, alice, bob = world["riverside"], world["alice"], world["bob"]
    key_file = tmp_path / "alice.key"
    write_key(key_file, alice)
    out = tmp_path / "alice-data"
    exported = tally("--node", riverside.url, "--key", key_file, "member", "export", alice_name, "--out", out)
    assert exported.returncode == 0, exported.stderr
    document = json.loads((out / "export.json").read_text())
    assert document["member"]["name"] == alice_name
    assert document["data_key_held"] is True
    assert {memo_paid, poll_title, poll_text, alice_name} <= set(document["texts"])
    assert [row["memo"] for row in document["history"] if row["memo"]] == [memo_paid]
    assert document["decisions_proposed"][0]["title"] == poll_title
    assert memo_paid in (out / "history.csv").read_text()
    # Another member may not read Alice's export.
    refused = riverside.get_as(bob, f"/api/members/{id_to_text('m', alice.public)}/export")
    assert refused.status == 403 and refused.json()["error"] == "not_visible"
    stranger = riverside.get_as(KeyPair.generate(), f"/api/members/{id_to_text('m', alice.public)}/export")
    assert stranger.status == 400 and stranger.json()["error"] == "bad_id"


def test_erasure_destroys_the_key_everywhere_and_every_replica_still_verifies(world: dict) -> None:
    riverside, peer, alice, bob = world["riverside"], world["peer"], world["alice"], world["bob"]
    alice_id = id_to_text("m", alice.public)
    erase_path = f"/api/members/{alice_id}/erase"
    # Only an admin, and only once she has left.
    assert riverside.signed(bob, "POST", erase_path, b"{}", "application/json").json()["error"] == "not_admin"
    active = riverside.signed(riverside.admin_key, "POST", erase_path, b"{}", "application/json")
    assert active.status == 409 and active.json()["error"] == "member_active"
    with sqlite3.connect(riverside.home / "keys.db") as connection:
        (alice_key,) = connection.execute("SELECT key FROM data_keys WHERE subject = ?", (alice.public,)).fetchone()
    assert alice_key in world["backup"].read_bytes()
    riverside.act(bob, Transfer(to=alice.public, amount_minor=2500, memo=memo_back))
    riverside.act(riverside.admin_key, RemoveMember(member=alice.public))
    erased = tally("--node", riverside.url, "--key", riverside.home / "admin.key", "member", "erase", alice_id)
    assert erased.returncode == 0, erased.stderr
    assert "erased" in erased.stdout

    # Her key is nowhere in the home's key store nor in its backup; her texts are erased, Bob's stay.
    for store in (riverside.home / "keys.db", world["backup"]):
        assert alice_key not in store.read_bytes(), store
    member = riverside.get(f"/api/members/{alice_id}")
    assert member["name"] == "(erased)"
    log = json.dumps(riverside.get("/api/log?limit=1000"))
    assert memo_paid not in log and poll_title not in log and alice_name not in log
    assert memo_back in log and bob_name in log
    head = riverside.status()["seq"]
    _wait_for_feed(peer, riverside.feed_text, head)

    # The log did not change a byte: every replica still verifies it end to end, after a restart too.
    riverside.stop()
    peer.stop()
    try:
        for node in (riverside, peer):
            verified = tally("verify", node.home)
            assert verified.returncode == 0, verified.stdout + verified.stderr
        # R's own boxes: Bob's and the admin's open with the keys held; Alice's (admission, payment, poll) are erased.
        assert "sealed boxes of names and memos open with the keys held, 3 erased" in tally("verify", riverside.home).stdout
        assert _files_containing(riverside.home, secrets_typed) == []
        assert _files_containing(peer.home, secrets_typed) == []
    finally:
        start_all([riverside, peer])
    assert riverside.get(f"/api/members/{alice_id}")["name"] == "(erased)"
    assert riverside.get(f"/api/members/{id_to_text('m', bob.public)}")["name"] == bob_name


def test_a_home_that_lost_its_key_store_reads_names_again_from_the_backups_key_store(world: dict) -> None:
    riverside, alice, bob = world["riverside"], world["alice"], world["bob"]
    riverside.stop()
    for leftover in riverside.home.glob("keys.db*"):
        leftover.unlink()  # the disk that held keys.db is gone; config.json still names the backup
    riverside.start()
    assert riverside.get(f"/api/members/{id_to_text('m', bob.public)}")["name"] == bob_name
    assert riverside.get(f"/api/members/{id_to_text('m', alice.public)}")["name"] == "(erased)"
    with sqlite3.connect(riverside.home / "keys.db") as connection:
        subjects = {bytes(subject) for (subject,) in connection.execute("SELECT subject FROM data_keys")}
    assert bob.public in subjects and alice.public not in subjects


def test_verify_reports_a_key_store_that_no_longer_opens_the_boxes(world: dict) -> None:
    riverside, bob = world["riverside"], world["bob"]
    riverside.stop()
    try:
        with sqlite3.connect(riverside.home / "keys.db") as connection:
            (right,) = connection.execute("SELECT key FROM data_keys WHERE subject = ?", (bob.public,)).fetchone()
            connection.execute("UPDATE data_keys SET key = ? WHERE subject = ?", (bytes(32), bob.public))
        verified = tally("verify", riverside.home)
        assert verified.returncode == 1
        assert "texts_unreadable" in verified.stderr and "restore keys.db" in verified.stderr
        with sqlite3.connect(riverside.home / "keys.db") as connection:
            connection.execute("UPDATE data_keys SET key = ? WHERE subject = ?", (right, bob.public))
        assert tally("verify", riverside.home).returncode == 0
    finally:
        riverside.start()
