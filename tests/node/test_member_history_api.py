"""GET /api/members/{REF}/history on a real `tally serve`: a member's statement for the wallet.

One community: the admin, Alice (pays Bob twice, with memos; Bob pays her back once), Bob, Carol (a
member in none of it). Each kind of reader reads Alice's history: she and the admin see it, Carol
is refused `not_visible`, a stranger and a key that is no member's `bad_id` (they may not name her:
names are the members' by default). The rows add up; paging and the search keep them whole; every
bad parameter is a typed 400 and changes nothing.
"""

from __future__ import annotations

import itertools
import urllib.parse

import pytest
from integration.conftest import make_node  # noqa: F401  (the fixture: real `tally serve` processes)
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.nodes import NodeProcess
from helpers.support import Answer

names = {"alice": "Quillon Ashby", "bob": "Bexley Tarn", "carol": "Corvin Pell"}
memos = ("bread for Tuesday", "Zebra crossing paint", "")


class World:
    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.keys = {who: node.admit(name) for who, name in names.items()}
        self.keys["outsider"] = KeyPair.generate()
        node.pay(self.keys["alice"], self.keys["bob"], 150, memos[0])
        node.pay(self.keys["bob"], self.keys["alice"], 40, memos[1])
        node.pay(self.keys["alice"], self.keys["bob"], 25, memos[2])

    def id(self, who: str) -> str:
        return id_to_text("m", self.keys[who].public)

    def read(self, reader: str, path: str) -> Answer:
        key = {"stranger": None, "admin": self.node.admin_key}.get(reader, self.keys.get(reader))
        return self.node.get_as(key, path)

    def history(self, reader: str = "alice", query: str = "") -> Answer:
        return self.read(reader, f"/api/members/{self.id('alice')}/history{query}")


@pytest.fixture(scope="module")
def world(make_node) -> World:  # noqa: F811
    return World(make_node())


def refused(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.json()["error"]) == (status, code), answer.body[:300]


def test_the_member_reads_their_rows_newest_first_and_they_add_up(world: World) -> None:
    answer = world.history()
    assert answer.status == 200, answer.body[:300]
    document = answer.json()
    assert document["member"] == world.id("alice") and document["balance"] == -150 + 40 - 25
    rows = document["rows"]
    assert [row["amount"] for row in rows] == [-25, 40, -150, 0]  # the last: her admission, at zero
    assert rows[0]["balance"] == document["balance"]
    for row, below in itertools.pairwise(rows):
        assert row["balance"] - row["amount"] == below["balance"]
    assert rows[-1]["balance"] - rows[-1]["amount"] == 0  # she was admitted at zero
    assert [row["seq"] for row in rows] == sorted((row["seq"] for row in rows), reverse=True)
    assert document["next"] is None


def test_each_row_names_the_other_party_and_opens_the_memo(world: World) -> None:
    *rows, joined = world.history().json()["rows"]
    assert [row["memo"] for row in rows] == [None, memos[1], memos[0]]
    assert {row["counterparty"] for row in rows} == {world.id("bob")}
    assert {row["counterparty_name"] for row in rows} == {names["bob"]}
    assert {row["description"] for row in rows} == {"payment"}
    assert (joined["description"], joined["counterparty"], joined["memo"]) == ("joined", None, None)
    assert all(isinstance(row["ts_ms"], int) and row["ts_ms"] > 0 for row in rows)
    assert set(rows[0]) == {"seq", "ts_ms", "amount", "balance", "counterparty", "counterparty_name", "memo",
                            "description"}


def test_the_admin_reads_the_same_history(world: World) -> None:
    assert world.history("admin").json() == world.history().json()


def test_another_member_is_refused_not_visible_and_sees_no_memo(world: World) -> None:
    answer = world.history("carol")
    refused(answer, 403, "not_visible")
    assert b"bread" not in answer.body and b"Zebra" not in answer.body


@pytest.mark.parametrize("reader", ["stranger", "outsider"])
def test_a_reader_who_may_not_name_the_member_is_refused_as_for_no_one(world: World, reader: str) -> None:
    hidden = world.history(reader)
    nobody = id_to_text("m", KeyPair.generate().public)
    unknown = world.read(reader, f"/api/members/{nobody}/history")
    refused(hidden, 400, "bad_id")
    refused(unknown, 400, "bad_id")
    assert hidden.json()["message"].replace(world.id("alice"), "X") == unknown.json()["message"].replace(nobody, "X")
    for text in (*memos[:2], *names.values()):
        assert text.encode() not in hidden.body


def test_a_member_is_found_by_name_too(world: World) -> None:
    by_name = world.read("alice", f"/api/members/{urllib.parse.quote(names['alice'])}/history")
    assert by_name.status == 200 and by_name.json() == world.history().json()


def test_pages_go_back_with_next_and_keep_the_rows_whole(world: World) -> None:
    whole = world.history().json()["rows"]
    seen = []
    before = ""
    while True:
        page = world.history(query=f"?limit=1{before}").json()
        assert len(page["rows"]) <= 1
        seen += page["rows"]
        if page["next"] is None:
            break
        before = f"&before={page['next']}"
    assert seen == whole


def test_before_reads_only_older_rows(world: World) -> None:
    whole = world.history().json()["rows"]
    older = world.history(query=f"?before={whole[0]['seq']}").json()
    assert older["rows"] == whole[1:]
    assert older["balance"] == whole[0]["balance"]  # the member's balance now, whatever the page


def test_a_search_keeps_the_rows_whose_memo_or_other_party_contains_it(world: World) -> None:
    assert [row["memo"] for row in world.history(query="?q=zEBRA").json()["rows"]] == [memos[1]]
    assert len(world.history(query="?q=bexley").json()["rows"]) == 3  # Bob's name, every row
    assert world.history(query="?q=nothing-like-this").json() == {
        "member": world.id("alice"), "balance": -135, "rows": [], "next": None}
    assert [row["memo"] for row in world.history(query="?q=e&limit=1").json()["rows"]] == [None]


@pytest.mark.parametrize("query", [
    "?limit=0", "?limit=201", "?limit=-1", "?limit=ten", "?limit=%C2%B2", "?before=0", "?before=x",
    "?before=99999999999999999999", "?q=", "?q=" + "a" * 65, "?q=%0A",
])
def test_a_bad_parameter_is_malformed_whoever_asks_and_changes_nothing(world: World, query: str) -> None:
    before = world.node.snapshot()
    for reader in ("alice", "carol", "stranger"):
        refused(world.history(reader, query), 400, "malformed")
    assert world.node.snapshot() == before


def test_the_refusal_does_not_repeat_the_search_text(world: World) -> None:
    answer = world.history(query="?q=" + "secretword" * 7)
    refused(answer, 400, "malformed")
    assert b"secretword" not in answer.body


def test_a_member_with_no_payments_has_their_admission_alone(world: World) -> None:
    document = world.read("carol", f"/api/members/{world.id('carol')}/history").json()
    assert document["balance"] == 0
    assert [(row["amount"], row["description"]) for row in document["rows"]] == [(0, "joined")]
