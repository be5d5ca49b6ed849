"""An account with a key per device on a real `tally serve` (docs/protocol.md §13.2.4, §18): a
second device's key, bound with `add_key`, signs in and signs requests as the same member; removing
it ends its sessions at once and leaves the other device's; `tally key add-device` and
`remove-device` do it from the command line; a replica folds the keys' actions with no alert."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tallystick.node.home import write_key
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import AddKey, RemoveKey, Transfer
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.nodes import NodeProcess
from helpers.support import next_nonce, tally

from .test_sign_in import Browser, challenge, post_sign_in, proof, session_rows


def _wait_for_no_sessions(node: NodeProcess, key: KeyPair) -> None:
    deadline = time.monotonic() + 5
    while session_rows(node, key) and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_second_devices_key_signs_in_and_signs_requests_as_the_same_member(node: NodeProcess) -> None:
    phone, laptop = node.admit("Devi Phone"), KeyPair.generate()
    node.act(phone, AddKey(key=laptop.public))
    member = id_to_text("m", phone.public)
    assert Browser(node, laptop).request("GET", "/api/session").json()["member"] == member
    signed = node.signed(laptop, "GET", "/api/sessions")
    assert signed.status == 200, signed.body
    paid = node.act(laptop, Transfer(to=node.admin_key.public, amount_minor=100))
    (balance,) = node.get(f"/api/balances?account={member}")
    assert balance["balance"] == -100 and paid["seq"] >= 1


def test_removing_a_devices_key_ends_its_sessions_at_once_and_keeps_the_others(node: NodeProcess) -> None:
    phone, laptop = node.admit("Lou Laptop"), KeyPair.generate()
    node.act(phone, AddKey(key=laptop.public))
    on_phone, on_laptop = Browser(node, phone), Browser(node, laptop)
    assert session_rows(node, laptop) == 1
    node.act(phone, RemoveKey(key=laptop.public))
    _wait_for_no_sessions(node, laptop)  # ended by the node after the commit
    assert session_rows(node, laptop) == 0
    assert on_laptop.request("GET", "/api/session").status == 401
    assert on_phone.request("GET", "/api/session").status == 200
    refused = post_sign_in(node, proof(node, laptop, challenge(node)))
    assert (refused.status, refused.json()["error"]) == (403, "not_a_member")
    signed = node.signed(laptop, "GET", "/api/sessions")
    assert (signed.status, signed.json()["error"]) == (401, "not_signed_in")  # read as a stranger's key
    again = node.post_intent(sign_member_intent(laptop, feed=node.feed, nonce=next_nonce(),
                                                action=Transfer(to=node.admin_key.public, amount_minor=1)))
    assert (again.status, again.json()["error"]) == (403, "key_retired")


def test_the_command_line_adds_and_removes_a_device(node: NodeProcess, tmp_path: Path) -> None:
    phone_file, laptop_file = tmp_path / "phone.key", tmp_path / "laptop.key"
    phone = node.admit("Cleo Cli")
    write_key(phone_file, phone)
    assert tally("key", "new", laptop_file).returncode == 0
    admin = id_to_text("m", node.admin_key.public)
    added = tally("--node", node.url, "--key", phone_file, "key", "add-device", laptop_file, "--json")
    assert added.returncode == 0, added.stderr
    paid = tally("--node", node.url, "--key", laptop_file, "pay", admin, "0.25")
    assert paid.returncode == 0, paid.stderr
    removed = tally("--node", node.url, "--key", laptop_file, "key", "remove-device", id_to_text("k", phone.public))
    assert removed.returncode == 0 and "retired" in removed.stdout, removed.stderr
    seq = node.get("/api/status")["seq"]
    assert seq >= json.loads(added.stdout)["seq"] + 2
    last = tally("--node", node.url, "--key", laptop_file, "key", "remove-device", laptop_file)
    assert last.returncode == 1 and "last_key" in last.stderr and len(last.stderr.splitlines()) == 1
    retired = tally("--node", node.url, "--key", phone_file, "pay", admin, "0.25")
    assert retired.returncode == 1 and "key_retired" in retired.stderr
    mistake = tally("--node", node.url, "--key", laptop_file, "key", "add-device", "no-such-file")
    assert mistake.returncode == 2 and mistake.stderr.startswith("tally: "), mistake.stderr
    assert node.get("/api/status")["seq"] == seq  # nothing refused was appended


def test_a_replica_folds_add_key_and_remove_key_with_no_alert(tmp_path: Path) -> None:
    from helpers.replication import Nodes, start_all, wait_until

    nodes = Nodes(tmp_path)
    try:
        a, b = nodes.create(2)
        a.peers, b.peers = [b.url], [a.url]
        config = json.loads((a.home / "config.json").read_text())
        (a.home / "config.json").write_text(json.dumps({**config, "checkpoint_idle_ms": 1000}))
        start_all([a, b])
        phone, laptop, tablet = a.admit("Rae Replica"), KeyPair.generate(), KeyPair.generate()
        a.act(phone, AddKey(key=laptop.public))
        a.act(laptop, AddKey(key=tablet.public))
        a.act(tablet, RemoveKey(key=phone.public))
        paid = a.pay(laptop, a.admin_key, 150)

        def held() -> bool:
            feed = b.feeds().get(a.feed_text)
            return feed is not None and feed["seq"] > paid["seq"]

        # Past the payment: the checkpoint A's idle timer appends, whose digest holds Rae's entry with
        # her tablet's key after her laptop's, which B checks against its own fold.
        wait_until(held, "B holding A's key actions, the payment by a second device and a checkpoint",
                   describe=lambda: (b.feeds().get(a.feed_text), b.status()["alerts"]))
        assert b.event_hash_at(a.feed, paid["seq"]) == paid["hash"] and not b.status()["alerts"]
        kinds = [event["body"]["kind"] for event in a.get(f"/api/log?from={paid['seq'] + 1}&limit=10")["events"]]
        assert "checkpoint" in kinds, kinds
    finally:
        failures = nodes.stop_all()
        assert not failures, failures
