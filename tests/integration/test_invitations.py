"""Invitations on a real `tally serve`: `tally member invite` makes the one-time key and prints the
link; the invitee's wallet (here: Python with the link's seed, as the browser wallet signs it) posts
a `join`; the node admits them with the invitation's limits, once, until the expiry. Who may do
what: only an admin invites, lists and withdraws; a member is refused, a stranger asked to sign.
Where admission is by decision, `invite` proposes the invitation and the link joins once it passes."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import unquote

import pytest
from tallystick.node.home import write_key
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import Invite, Join, Vote
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.admission import home_admitting_by_decision
from helpers.browsing import wait_until
from helpers.nodes import NodeProcess
from helpers.support import next_nonce, tally, tally_json

deadline_seconds = 15


def invite(node: NodeProcess, *options: str) -> dict:
    return tally_json("member", "invite", "--node", node.url, "--key", node.home / "admin.key", *options, "--json")


def fragment_of(link: str) -> dict[str, str]:
    _, fragment = link.split("#", 1)
    return {name: unquote(value) for name, value in (part.split("=", 1) for part in fragment.split("&"))}


def seed_of(link: str) -> KeyPair:
    text = fragment_of(link)["i"]
    assert text == text.lower() and "=" not in text
    return KeyPair(base64.b32decode(text.upper() + "=" * (-len(text) % 8)))


def join(node: NodeProcess, invitation: KeyPair, device: KeyPair, name: str):  # type: ignore[no-untyped-def]
    intent = sign_member_intent(invitation, feed=node.feed, nonce=next_nonce(),
                                action=Join(member=device.public, name=name))
    return node.post_intent(intent)


def test_a_member_joins_through_the_link_with_the_invitations_limits_and_only_once(node: NodeProcess) -> None:
    made = invite(node, "--name", "Zoë Quill", "--expires", "2d", "--debit-limit", "50", "--ceiling", "500")
    link = made["link"]
    assert link.startswith(node.url + "/wallet/join#i=") and fragment_of(link)["n"] == "Zoë Quill"
    invitation = seed_of(link)
    assert made["invitation"] == id_to_text("k", invitation.public)
    listed = node.get("/api/invitations")
    mine = next(entry for entry in listed if entry["invitation"] == made["invitation"])
    assert (mine["debit_limit"], mine["credit_ceiling"], mine["role"]) == ("-50.00 HRS", "500.00 HRS", "member")
    assert mine["expires_ms"] == made["expires_ms"] and mine["invited_by"]["name"]

    device = KeyPair.generate()
    answer = join(node, invitation, device, fragment_of(link)["n"])
    assert answer.status == 201, answer.body
    member = node.get(f"/api/members/{id_to_text('m', device.public)}")
    assert member["name"] == "Zoë Quill" and member["active"] and member["role"] == "member"
    (balance,) = node.get(f"/api/balances?account={id_to_text('m', device.public)}")
    assert (balance["debit_limit"], balance["credit_ceiling"]) == (5000, 50_000)
    assert made["invitation"] not in {entry["invitation"] for entry in node.get("/api/invitations")}
    # Every reader of the join answers (no 500): the log, the pages, the new member's own export.
    kinds = [event["body"].get("intent", {}).get("action", {}).get("kind") for event in node.log()]
    assert "join" in kinds
    for path in ("/", f"/members/{id_to_text('m', device.public)}"):
        assert node.signed(node.admin_key, "GET", path).status == 200, path
    export = node.signed(device, "GET", f"/api/members/{id_to_text('m', device.public)}/export")
    assert export.status == 200 and export.json()["texts"] == ["Zoë Quill"]

    seq = node.get("/api/status")["seq"]
    again = join(node, invitation, KeyPair.generate(), "Someone Else")
    assert (again.status, again.json()["error"]) == (409, "invitation_used")
    assert "new invitation" in again.json()["message"] and node.get("/api/status")["seq"] == seq


def test_an_invitation_past_its_expiry_is_invitation_expired(node: NodeProcess) -> None:
    made = invite(node, "--expires", "2s")
    give_up = time.monotonic() + deadline_seconds
    while made["invitation"] in {entry["invitation"] for entry in node.get("/api/invitations")}:
        assert time.monotonic() < give_up, "the invitation never expired"
        time.sleep(0.1)
    answer = join(node, seed_of(made["link"]), KeyPair.generate(), "Late Comer")
    assert (answer.status, answer.json()["error"]) == (409, "invitation_expired")


def test_a_withdrawn_invitation_no_longer_joins(node: NodeProcess) -> None:
    made = invite(node)
    done = tally("member", "uninvite", made["invitation"], "--node", node.url, "--key", node.home / "admin.key")
    assert done.returncode == 0, done.stderr
    answer = join(node, seed_of(made["link"]), KeyPair.generate(), "Withdrawn Guest")
    assert (answer.status, answer.json()["error"]) == (409, "invitation_used")
    listed = tally_json("member", "invitations", "--node", node.url, "--key", node.home / "admin.key", "--json")
    assert made["invitation"] not in {entry["invitation"] for entry in listed}


def test_a_plain_member_cannot_invite_list_or_withdraw(node: NodeProcess, tmp_path: Path) -> None:
    member = node.admit("Plain Pat")
    key_file = tmp_path / "pat.key"
    write_key(key_file, member)
    done = tally("member", "invite", "--node", node.url, "--key", key_file)
    assert done.returncode == 1 and "not_authorized" in done.stderr and "#i=" not in done.stdout, done
    listed = node.signed(member, "GET", "/api/invitations")
    assert (listed.status, listed.json()["error"]) == (403, "not_admin")
    made = invite(node)
    done = tally("member", "uninvite", made["invitation"], "--node", node.url, "--key", key_file)
    assert done.returncode == 1 and "not_authorized" in done.stderr
    assert made["invitation"] in {entry["invitation"] for entry in node.get("/api/invitations")}


@pytest.mark.parametrize("key", [None, "outsider"])
def test_a_stranger_cannot_list_the_invitations(node: NodeProcess, key: str | None) -> None:
    invite(node, "--name", "Hidden Name")
    answer = node.get_as(None if key is None else KeyPair.generate(), "/api/invitations")
    assert (answer.status, answer.json()["error"]) == (401, "not_signed_in")
    assert b"k_" not in answer.body and b"Hidden" not in answer.body


def test_bad_options_are_one_line_and_change_nothing(node: NodeProcess) -> None:
    seq = node.get("/api/status")["seq"]
    for options, code in ((("--expires", "31d"), "bad_invitation"), (("--expires", "soon"), "usage"),
                          (("--debit-limit", "lots"), "bad_amount")):
        done = tally("member", "invite", "--node", node.url, "--key", node.home / "admin.key", *options)
        assert done.returncode in (1, 2) and code in done.stderr and len(done.stderr.splitlines()) == 1, done
    done = tally("member", "uninvite", "k_nonsense", "--node", node.url, "--key", node.home / "admin.key")
    assert done.returncode == 2 and "bad_id" in done.stderr
    assert node.get("/api/status")["seq"] == seq


def test_a_replica_takes_the_invite_the_join_and_the_new_members_payment(tmp_path: Path) -> None:
    from helpers.replication import Nodes, start_all, wait_until

    nodes = Nodes(tmp_path)
    try:
        a, b = nodes.create(2)
        a.peers, b.peers = [b.url], [a.url]
        start_all([a, b])
        invitation, device = KeyPair.generate(), KeyPair.generate()
        a.act(a.admin_key, Invite(invitation=invitation.public, expires_ms=time.time_ns() // 1_000_000 + 3_600_000,
                                  debit_limit_minor=2_000))
        assert join(a, invitation, device, "Replicated Rae").status == 201
        paid = a.pay(device, a.admin_key, 1_500)

        def held() -> bool:
            feed = b.feeds().get(a.feed_text)
            return feed is not None and feed["seq"] >= paid["seq"]

        wait_until(held, "B holding A's join and the new member's payment",
                   describe=lambda: (b.feeds().get(a.feed_text), b.status()["alerts"]))
        assert b.event_hash_at(a.feed, paid["seq"]) == paid["hash"] and not b.status()["alerts"]
    finally:
        failures = nodes.stop_all()
        assert not failures, failures


def test_where_admission_is_by_decision_invite_proposes_and_the_link_joins_once_it_passes(tmp_path: Path) -> None:
    deciding = home_admitting_by_decision(tmp_path)
    try:
        made = invite(deciding, "--name", "Vic Okafor", "--closes-in", "2d", "--expires", "3d")
        decision = made["decision"]
        assert fragment_of(made["link"])["d"] == str(decision)
        proposed = deciding.get(f"/api/decisions/{decision}")
        assert proposed["open"] and proposed["title"] == "Invite a new member"
        invitation, device = seed_of(made["link"]), KeyPair.generate()
        early = join(deciding, invitation, device, "Vic Okafor")
        assert (early.status, early.json()["error"]) == (404, "invitation_unknown"), early.body
        deciding.act(deciding.admin_key, Vote(decision=decision, position="agree"))  # unanimity: it closes at once
        wait_until(lambda: deciding.get(f"/api/decisions/{decision}")["outcome"] == "passed", deadline_seconds=30,
                   what="the invitation's decision passed")
        assert deciding.stop() == 0, deciding.output()
        deciding.start()  # the closing event wrote the invitation's row: it is there after a restart
        (listed,) = deciding.get("/api/invitations")
        assert listed["invitation"] == made["invitation"] and listed["invited_by"]["id"] == "m_" + deciding.feed_text[2:]
        answer = join(deciding, invitation, device, "Vic Okafor")
        assert answer.status == 201, answer.body
        assert deciding.get(f"/api/members/{id_to_text('m', device.public)}")["name"] == "Vic Okafor"
    finally:
        assert deciding.stop() == 0, deciding.output()
