"""Who sees a member's keys and devices on a real `tally serve` (docs/api.md §5, §7, §8):
`GET /api/members/{REF}` lists the account's current keys (`keys`, oldest first) to whoever may see
the member (by default the members and the admins; a stranger or a key that is no member's gets
`bad_id`, as for no one), and `devices` (which key is which device: its sessions' labels, and which
key signed this request) to the member concerned alone, null to every other reader, admins too.
The member's export lists the sessions of every one of their keys, not only the first's."""

from __future__ import annotations

import time

import pytest
from tallystick.protocol.events import AddKey, RemoveKey
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.nodes import NodeProcess

from .test_sign_in import Browser


def k(key: KeyPair) -> str:
    return id_to_text("k", key.public)


@pytest.fixture(scope="module")
def household(node: NodeProcess) -> dict[str, KeyPair]:
    """Bea admitted with her phone's key, her laptop's key added; Cal another member."""
    phone, laptop = node.admit("Bea Device"), KeyPair.generate()
    node.act(phone, AddKey(key=laptop.public))
    return {"phone": phone, "laptop": laptop, "cal": node.admit("Cal Other"), "outsider": KeyPair.generate()}


def member_path(household: dict[str, KeyPair]) -> str:
    return f"/api/members/{id_to_text('m', household['phone'].public)}"


def test_a_stranger_and_a_key_that_is_no_members_cannot_name_the_member(
        node: NodeProcess, household: dict[str, KeyPair]) -> None:
    for key in (None, household["outsider"]):
        answer = node.get_as(key, member_path(household))
        assert (answer.status, answer.json()["error"]) == (400, "bad_id")
        assert k(household["laptop"]).encode() not in answer.body and b"Bea" not in answer.body


def test_another_member_and_an_admin_see_the_keys_but_not_which_device_is_which(
        node: NodeProcess, household: dict[str, KeyPair]) -> None:
    Browser(node, household["laptop"])  # a session on the laptop, whose label is Bea's business
    for key in (household["cal"], node.admin_key):
        answer = node.get_as(key, member_path(household))
        assert answer.status == 200, answer.body
        shown = answer.json()
        assert shown["keys"] == [k(household["phone"]), k(household["laptop"])] and shown["key"] == shown["keys"][0]
        assert shown["devices"] is None
        assert b"last_seen_ms" not in answer.body and b"Python" not in answer.body


def test_the_member_concerned_sees_each_key_with_its_sessions_and_which_one_is_asking(
        node: NodeProcess, household: dict[str, KeyPair]) -> None:
    phone, laptop = household["phone"], household["laptop"]
    Browser(node, laptop)
    by_phone = node.get_as(phone, member_path(household)).json()
    assert [(d["key"], d["this_device"]) for d in by_phone["devices"]] == [(k(phone), True), (k(laptop), False)]
    laptop_sessions = by_phone["devices"][1]["sessions"]
    assert laptop_sessions and set(laptop_sessions[0]) == {"label", "last_seen_ms"}
    on_laptop = Browser(node, laptop).request("GET", member_path(household))
    assert [d["this_device"] for d in on_laptop.json()["devices"]] == [False, True]  # by session cookie too


def test_the_export_lists_the_sessions_of_every_key_of_the_account(node: NodeProcess) -> None:
    phone, laptop = node.admit("Exa Port"), KeyPair.generate()
    node.act(phone, AddKey(key=laptop.public))
    Browser(node, phone)
    Browser(node, laptop)
    exported = node.get_as(phone, f"/api/members/{id_to_text('m', phone.public)}/export").json()
    assert {session["key"] for session in exported["sessions"]} == {k(phone), k(laptop)}
    created = [session["created_ms"] for session in exported["sessions"]]
    assert created == sorted(created, reverse=True)
    assert exported["member"]["keys"] == [k(phone), k(laptop)]


def test_a_removed_key_leaves_the_list_and_its_sessions_leave_the_export(node: NodeProcess) -> None:
    phone, laptop = node.admit("Rem Oved"), KeyPair.generate()
    node.act(phone, AddKey(key=laptop.public))
    Browser(node, laptop)
    node.act(phone, RemoveKey(key=laptop.public))
    path = f"/api/members/{id_to_text('m', phone.public)}"
    deadline = time.monotonic() + 5  # the node ends a retired key's sessions just after the commit
    while time.monotonic() < deadline:
        exported = node.get_as(phone, path + "/export").json()
        if not exported["sessions"]:
            break
        time.sleep(0.05)
    assert exported["sessions"] == [] and k(laptop) in exported["member"]["retired_keys"]
    shown = node.get_as(phone, path).json()
    assert shown["keys"] == [k(phone)] and [d["key"] for d in shown["devices"]] == [k(phone)]
    assert node.get_as(laptop, path).json()["error"] == "bad_id"  # the removed key reads as a stranger


def test_a_members_devices_hold_their_own_keys_sessions_and_no_one_elses(
        node: NodeProcess, household: dict[str, KeyPair]) -> None:
    dee = node.admit("Dee Alone")
    for key in (household["cal"], household["phone"], household["laptop"], node.admin_key):
        Browser(node, key)  # everyone else signed in somewhere
    path = f"/api/members/{id_to_text('m', dee.public)}"
    alone = node.get_as(dee, path).json()
    assert alone["devices"] == [{"key": k(dee), "this_device": True, "sessions": []}]
    Browser(node, dee)
    assert len(node.get_as(dee, path).json()["devices"][0]["sessions"]) == 1
    exported = node.get_as(dee, path + "/export").json()
    assert {session["key"] for session in exported["sessions"]} == {k(dee)}
