"""GET /api/members?q=TEXT on a real `tally serve`: the wallet's payee search.

Names are committed in the log and opened by the node (node/personal.py): the search matches the
text the node shows, case-insensitively, among the members whose names the reader may see (the
members, by default; a stranger finds no one). `q` is 1 to 64 characters; anything else is a typed
400 that does not repeat it, and never reaches the node's output.
"""

from __future__ import annotations

import urllib.parse

import pytest
from integration.conftest import make_node  # noqa: F401  (the fixture: real `tally serve` processes)
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.nodes import NodeProcess
from helpers.support import Answer

names = {"ana": "Ana Lindqvist", "anders": "Anders Öberg", "bo": "Bo Lind", "cy": "Cyrus Marlow"}


class World:
    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.keys = {who: node.admit(name) for who, name in names.items()}

    def search(self, text: str, key: KeyPair | None | str = "ana", extra: str = "") -> Answer:
        reader = self.keys[key] if isinstance(key, str) else key
        return self.node.get_as(reader, f"/api/members?q={urllib.parse.quote(text)}{extra}")

    def found(self, text: str, key: KeyPair | None | str = "ana", extra: str = "") -> list[str]:
        answer = self.search(text, key, extra)
        assert answer.status == 200, answer.body[:300]
        return [row["name"] for row in answer.json()]


@pytest.fixture(scope="module")
def world(make_node) -> World:  # noqa: F811
    return World(make_node())


def test_a_member_finds_the_names_that_contain_the_text_in_name_order(world: World) -> None:
    assert world.found("lind") == ["Ana Lindqvist", "Bo Lind"]
    assert world.found("LIND") == ["Ana Lindqvist", "Bo Lind"]
    assert world.found("öBERG") == ["Anders Öberg"]
    assert world.found("zzz") == []


def test_each_row_is_shaped_as_the_members_list(world: World) -> None:
    [row] = world.search("Marlow").json()
    assert row == {"id": id_to_text("m", world.keys["cy"].public), "name": "Cyrus Marlow",
                   "key": id_to_text("k", world.keys["cy"].public), "role": "member", "active": True,
                   "admitted_seq": row["admitted_seq"]}


def test_limit_keeps_the_first_in_name_order(world: World) -> None:
    assert world.found("an", extra="&limit=1") == ["Ana Lindqvist"]


def test_the_admin_finds_as_a_member_does(world: World) -> None:
    assert world.found("lind", world.node.admin_key) == ["Ana Lindqvist", "Bo Lind"]


@pytest.mark.parametrize("reader", ["stranger", "outsider"])
def test_a_reader_who_may_not_see_names_finds_no_one(world: World, reader: str) -> None:
    key = None if reader == "stranger" else KeyPair.generate()
    answer = world.search("lind", key)
    assert answer.status == 200 and answer.json() == []
    assert answer.headers["tally-hidden"] == "names"
    assert b"Lind" not in answer.body


@pytest.mark.parametrize("text", ["", "x" * 65, "a\nb", "a\x00b", "\x85"])
def test_a_bad_search_text_is_malformed_and_not_repeated(world: World, text: str) -> None:
    for reader in ("ana", None):
        answer = world.search(text, reader)
        assert (answer.status, answer.json()["error"]) == (400, "malformed"), answer.body[:300]
        if len(text) > 3:
            assert text.encode() not in answer.body


def test_a_search_text_of_64_characters_is_taken(world: World) -> None:
    assert world.found("y" * 64) == []


def test_the_search_text_is_in_no_output_of_the_node(world: World) -> None:
    world.found("needle-in-log-8812")
    assert "needle-in-log-8812" not in world.node.output()
