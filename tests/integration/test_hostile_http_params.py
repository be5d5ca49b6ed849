"""Hostile parameters and bodies are refused at the boundary with a typed 400, never a 500.

Each input here answered 500 before node/http/params.py (issue 12): a Unicode digit passes
`str.isdigit()` and then fails `int()` (`/api/decisions/²`, `?limit=²`), a number past 2^63 - 1
overflows SQLite (`?from=`, `?before=`), and `json.loads` recurses into deeply nested JSON until
RecursionError (`POST /api/intents`). The JSON API refuses each with 400 `malformed` and a message
naming the parameter and what it takes, and nothing changes; the HTML pages, which people reach by
editing URLs, ignore a bad page number and still answer their page.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass

import pytest
from tallystick.protocol import limits
from tallystick.protocol.ids import id_to_text

from helpers.nodes import NodeProcess
from helpers.support import Answer, http, key_from_file, tally_json

int64_past = str(limits.int64_max + 1)
superscript_two = "²"  # "²".isdigit() is True; int("²") raises ValueError
arabic_three = "٣"  # int("٣") == 3: not ASCII, so not a number here either
long_number = "9" * 5000  # past Python's int-from-text digit limit


@dataclass
class Populated:
    node: NodeProcess
    alice: str  # m_ id
    decision: int
    offer: int


def populate(node: NodeProcess) -> Populated:
    """Members, a payment, an open poll, an enterprise (Bakery) and an open offer, made as a user would."""
    alice = node.admit("Alice")
    bob = node.admit("Bob")
    node.pay(alice, bob, 150, "bread")
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    decision = tally_json(*admin, "propose", "Where to meet", "--type", "poll", "--option", "hall",
                          "--option", "park", "--closes-in", "7d", "--json")["id"]
    tally_json(*admin, "enterprise", "register", "Bakery",
               "--class", "Customer shares:user:par=1.00:votes=1:dividend=0:withdrawable:cap=60:local",
               "--class", "Investor shares:investor:par=2.00:transferable:votes=1:dividend=2", "--json")
    offer = tally_json(*admin, "enterprise", "offer", "Bakery", "--class", "0", "--price", "1.00", "--units", "100",
                       "--min", "20", "--member-cap", "50", "--closes-in", "7d", "--json")["id"]
    return Populated(node, id_to_text("m", alice.public), decision, offer)


@pytest.fixture(scope="module")
def populated(node: NodeProcess) -> Populated:
    return populate(node)


def get(node: NodeProcess, path: str) -> Answer:
    return http("GET", node.url + path)


def get_as_admin(node: NodeProcess, path: str) -> Answer:
    """A page as the admin reads it: member data on the pages is by the community's visibility policy."""
    return node.signed(node.admin_key, "GET", path)


def assert_malformed(answer: Answer, *words: str) -> None:
    assert answer.status == 400, (answer.status, answer.body[:300])
    assert answer.headers["content-type"].startswith("application/json")
    document = answer.json()
    assert document["error"] == "malformed", document
    message = document["message"]
    assert message and "\n" not in message
    for word in words:
        assert word in message, message


def q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


@pytest.mark.parametrize("text", [superscript_two, arabic_three, "-1", "0", "1.0", " 7", "1_0", int64_past, long_number])
@pytest.mark.parametrize("route", ["/api/decisions/", "/api/offers/"])
def test_an_id_that_is_not_a_seq_in_ascii_digits_is_400_malformed(populated: Populated, route: str, text: str) -> None:
    before = populated.node.snapshot()
    assert_malformed(get(populated.node, route + q(text)), "whole number", str(limits.int64_max))
    assert populated.node.snapshot() == before


def test_the_same_ids_in_ascii_digits_are_found(populated: Populated) -> None:
    """The control: the parsing refuses only what is no seq."""
    assert get(populated.node, f"/api/decisions/{populated.decision}").json()["id"] == populated.decision
    assert get(populated.node, f"/api/offers/{populated.offer}").json()["id"] == populated.offer


@pytest.mark.parametrize("text", [superscript_two, arabic_three, "0", str(limits.page_size_max + 1), int64_past, "", "ten"])
@pytest.mark.parametrize("route", ["/api/log", "/api/members", "/api/balances", "/api/decisions", "/api/offers",
                                   "/api/enterprises", "/api/enterprises/Bakery", "/api/enterprises/Bakery/book/1",
                                   "/api/members/Alice/holdings"])
def test_a_limit_that_is_not_a_page_size_is_400_malformed(populated: Populated, route: str, text: str) -> None:
    assert_malformed(get(populated.node, f"{route}?limit={q(text)}"), "limit", str(limits.page_size_max))


@pytest.mark.parametrize("text", [int64_past, superscript_two, "0", long_number])
def test_a_log_start_past_int64_or_not_a_seq_is_400_malformed(populated: Populated, text: str) -> None:
    assert_malformed(get(populated.node, f"/api/log?from={q(text)}"), "from")


@pytest.mark.parametrize("text", [int64_past, arabic_three])
def test_a_replication_range_start_past_int64_or_not_ascii_is_400_malformed(populated: Populated, text: str) -> None:
    # Signed by the node's own key: /replication/ reads are for nodes with standing (federation.md §2.2).
    node = populated.node
    path = f"/replication/feeds/{node.feed_text}?from={q(text)}"
    assert_malformed(node.signed(key_from_file(node.home / "node.key"), "GET", path), "from")


def test_the_last_int64_seq_is_a_valid_start_with_nothing_after_it(populated: Populated) -> None:
    # The admin reads the log (the admins' by default): the start is valid, and nothing is after it.
    node = populated.node
    assert node.signed(node.admin_key, "GET", f"/api/log?from={limits.int64_max}").json() == {"events": [], "next": None}


@pytest.mark.parametrize("text", [superscript_two, "2", "-1", int64_past])
def test_a_share_class_that_the_enterprise_does_not_have_is_400_malformed(populated: Populated, text: str) -> None:
    assert_malformed(get(populated.node, f"/api/enterprises/Bakery/book/{q(text)}"), "share class", "0 to 1")


@pytest.mark.parametrize("route", ["/api/decisions?open=", "/api/offers?open=", "/api/payments?mine="])
def test_a_flag_that_is_no_yes_or_no_is_400_malformed(populated: Populated, route: str) -> None:
    assert_malformed(get(populated.node, route + "maybe"), "1, true or yes")
    assert get(populated.node, route + "1").status == 200


@pytest.mark.parametrize("text", [int64_past, superscript_two, long_number, "-5"])
def test_a_member_page_with_a_bad_before_shows_the_newest_payments(populated: Populated, text: str) -> None:
    answer = get_as_admin(populated.node, f"/members/{populated.alice}?before={q(text)}")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/html")
    assert "bread" in answer.body.decode()


@pytest.mark.parametrize("text", [int64_past, superscript_two, long_number, "-5", "0"])
def test_a_bad_page_number_shows_a_page_of_members(populated: Populated, text: str) -> None:
    answer = get_as_admin(populated.node, f"/?page={q(text)}")
    assert answer.status == 200 and "Alice" in answer.body.decode()


def test_a_memo_too_long_for_a_qr_code_is_said_on_the_member_page(populated: Populated) -> None:
    memo = "😀" * limits.memo_chars_max  # 280 four-byte letters: 3,360 bytes percent-encoded
    answer = get_as_admin(populated.node, f"/members/{populated.alice}?memo={q(memo)}")
    assert answer.status == 200
    assert "too long for a QR code" in answer.body.decode()


@pytest.mark.parametrize("body", [
    b"[" * 60_000,
    b'{"intent": ' + b"[" * 60_000,
    b'{"intent": ' + b'{"a": ' * 10_000,
    b'{"intent": "AAAA", "extra": ' + b"[" * 30_000,
], ids=["nested-arrays", "nested-in-intent", "nested-objects", "nested-in-an-extra-field"])
def test_deeply_nested_json_is_400_malformed_and_changes_nothing(populated: Populated, body: bytes) -> None:
    before = populated.node.snapshot()
    assert_malformed(http("POST", populated.node.url + "/api/intents", body, "application/json"))
    assert populated.node.snapshot() == before


def test_a_json_envelope_with_a_field_besides_intent_is_400_malformed(populated: Populated) -> None:
    body = json.dumps({"intent": "AAAA", "note": "hi"}).encode()
    assert_malformed(http("POST", populated.node.url + "/api/intents", body, "application/json"), "intent")


def assert_no_server_error(answer: Answer) -> None:
    assert answer.status < 500, (answer.status, answer.body[:300])


@pytest.mark.parametrize("path", ["/api/members/", "/api/enterprises/", "/members/", "/enterprises/", "/federations/",
                                  "/api/federations/"])
@pytest.mark.parametrize("text", ["m_" + "a" * 52, "e_!!", "x_" + "é" * 52, "\x00", "m_", superscript_two * 200])
def test_a_reference_that_is_no_id_and_no_name_is_refused_not_a_500(populated: Populated, path: str, text: str) -> None:
    answer = get(populated.node, path + q(text))
    assert_no_server_error(answer)
    assert answer.status in (400, 404)
    if path.startswith("/api/"):
        assert answer.json()["error"] in ("bad_id", "unknown_enterprise", "unknown_federation", "not_found")


