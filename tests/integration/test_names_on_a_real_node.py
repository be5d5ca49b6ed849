"""A member cannot pass for another: a real node refuses every look-alike of a name it holds.

How this works: one `tally serve` holds "Bob" (admitted with `tally member add`). Each attack of
issue 12 is then sent as the admin's own signed intent, straight to POST /api/intents, so that it
reaches the node's rules exactly as a hostile or broken client would send it (`tally` itself
normalises a name before signing it, which the last tests check): the node answers with a typed
refusal (`bad_name` for a name holding a control or format character or not in its normal form,
`name_taken` for a name that looks like Bob's) and the log, balances and members are unchanged.
The same holds for an enterprise's name, its share classes, and a poll's options.

These tests fail on a node whose rules do not call ledger/names.py (every look-alike is admitted),
and pass once the ledger (ledger/membership.py, shares.py and decisions.py) is wired to it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import AdmitMember, Propose, RegisterEnterprise, ShareClass
from tallystick.protocol.ids import KeyPair

from helpers.nodes import NodeProcess
from helpers.support import next_nonce, tally, tally_json

# Each look-alike of "Bob", and the refusal it must get.
attacks = {
    "zero-width space": ("B\u200bob", "bad_name"),
    "Cyrillic o": ("B\u043eb", "name_taken"),
    "Greek capital beta": ("\u0392ob", "name_taken"),
    "right-to-left override": ("\u202ebob", "bad_name"),
    "combining accent": ("Bo\u0301b", "bad_name"),  # not in its normal form (NFKC composes it)
    "precomposed accent": ("B\u00f3b", "name_taken"),
    "ANSI escape": ("\x1b[1mBob", "bad_name"),
    "newline": ("Bob\nadmin", "bad_name"),
    "fullwidth letters": ("\uff22\uff4f\uff42", "bad_name"),  # NFKC makes it Bob: not normal
    "digit zero": ("B0b", "name_taken"),
    "trailing space": ("Bob ", "bad_name"),
}
# A poll stays open for this long (above any floor on a voting period).
poll_open_ms = 30 * 86_400_000


@pytest.fixture(scope="module")
def bob_node(make_node: Any, tmp_path_factory: pytest.TempPathFactory) -> NodeProcess:
    node = make_node()
    key_path = tmp_path_factory.mktemp("bob") / "bob.key"
    bob_id = tally_json("key", "new", key_path, "--json")["id"]
    tally_json("--node", node.url, "--key", node.home / "admin.key", "member", "add", bob_id, "--name", "Bob", "--json")
    return node


def refused(node: NodeProcess, action: Any, key: KeyPair | None = None) -> tuple[int, dict[str, Any]]:
    """Send `action` signed by the admin (or `key`) and return the status and the JSON answer."""
    answer = node.post_intent(sign_member_intent(key or node.admin_key, feed=node.feed, nonce=next_nonce(), action=action))
    return answer.status, answer.json()


def assert_refused_and_nothing_changed(node: NodeProcess, action: Any, code: str) -> None:
    before = node.snapshot()
    status, document = refused(node, action)
    assert (status, document["error"]) == ({"bad_name": 422, "name_taken": 409}[code], code), document
    assert document["message"] and "\n" not in document["message"]
    assert node.snapshot() == before


@pytest.mark.parametrize("attack", sorted(attacks), ids=str)
def test_admitting_a_look_alike_of_bob_is_refused_and_changes_nothing(bob_node: NodeProcess, attack: str) -> None:
    name, code = attacks[attack]
    assert_refused_and_nothing_changed(bob_node, AdmitMember(member=KeyPair.generate().public, name=name), code)


def test_an_enterprise_named_like_a_member_is_refused_and_changes_nothing(bob_node: NodeProcess) -> None:
    shares = ShareClass(name="Shares", kind="user", votes_per_share=1, dividend_weight=1, par_minor=100,
                        withdrawable=False, transferable=False, holding_cap_units=None, local_only=False)
    assert_refused_and_nothing_changed(bob_node, RegisterEnterprise(name="B\u043eb", classes=(shares,)), "name_taken")
    assert_refused_and_nothing_changed(bob_node, RegisterEnterprise(name="Bakery\u202e", classes=(shares,)), "bad_name")


def test_share_classes_that_look_alike_are_refused_and_change_nothing(bob_node: NodeProcess) -> None:
    def share_class(name: str) -> ShareClass:
        return ShareClass(name=name, kind="user", votes_per_share=1, dividend_weight=1, par_minor=100,
                          withdrawable=False, transferable=False, holding_cap_units=None, local_only=False)

    twins = RegisterEnterprise(name="Bakery", classes=(share_class("Class A"), share_class("Class \u0410")))
    assert_refused_and_nothing_changed(bob_node, twins, "bad_name")


def test_poll_options_that_look_alike_or_hide_characters_are_refused_and_change_nothing(bob_node: NodeProcess) -> None:
    def poll(*options: str) -> Propose:
        return Propose(decision_type="poll", title="Lunch", text="", options=options,
                       deadline_ms=time.time_ns() // 1_000_000 + poll_open_ms)

    assert_refused_and_nothing_changed(bob_node, poll("Yes", "Y\u0435s"), "bad_name")
    assert_refused_and_nothing_changed(bob_node, poll("Yes", "No\x1b[2J"), "bad_name")


def test_a_look_alike_finds_the_member_it_imitates(bob_node: NodeProcess) -> None:
    bob = bob_node.get("/api/members/Bob")["id"]
    assert bob_node.get("/api/members/B%D0%BEb")["id"] == bob  # Cyrillic о: pays the Bob everyone sees


def test_tally_member_add_refuses_a_name_with_an_escape_in_one_line_and_changes_nothing(
    bob_node: NodeProcess, tmp_path: Path
) -> None:
    key_path = tmp_path / "mallory.key"
    mallory = tally_json("key", "new", key_path, "--json")["id"]
    before = bob_node.snapshot()
    done = tally("--node", bob_node.url, "--key", bob_node.home / "admin.key", "member", "add", mallory,
                 "--name", "Bob\x1b[2J")
    assert done.returncode == 2  # a bad name is a mistake caught before anything is signed
    assert done.stderr.startswith("tally: bad_name: the member's name: character 4 is U+001B")
    assert done.stderr.count("\n") == 1 and "\x1b" not in done.stderr
    assert bob_node.snapshot() == before


def test_tally_member_add_signs_the_normal_form_so_a_wide_bob_is_refused_as_taken(
    bob_node: NodeProcess, tmp_path: Path
) -> None:
    key_path = tmp_path / "wide.key"
    wide = tally_json("key", "new", key_path, "--json")["id"]
    before = bob_node.snapshot()
    done = tally("--node", bob_node.url, "--key", bob_node.home / "admin.key", "member", "add", wide,
                 "--name", "\uff22\uff4f\uff42")
    assert done.returncode == 1 and done.stderr.startswith("tally: name_taken: ")
    assert bob_node.snapshot() == before


def test_tally_member_add_of_a_normal_new_name_is_admitted_under_that_name(bob_node: NodeProcess, tmp_path: Path) -> None:
    key_path = tmp_path / "ada.key"
    ada = tally_json("key", "new", key_path, "--json")["id"]
    tally_json("--node", bob_node.url, "--key", bob_node.home / "admin.key", "member", "add", ada,
               "--name", "  Ada \u00a0Lovelace ", "--json")
    assert bob_node.get(f"/api/members/{ada}")["name"] == "Ada Lovelace"
