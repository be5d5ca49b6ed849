"""The reads the wallet's payments make, on a real `tally serve`, each read by every kind of reader:
a stranger (unsigned), a key that is no member's, another member, the member concerned and an
admin. `GET /api/members/{id}/intents/{nonce}` (was that signed intent applied?) and `GET
/api/members/{id}/held` (what of their credit is held, and why) are the member's and the admins';
`GET /api/payees/{m_}` (whom in another community a member may pay) is any member's. Every bad
input is a typed 400, and no read changes the feed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tallystick.ledger.shares import enterprise_id
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import OpenOffer, RegisterEnterprise, ShareClass, Subscribe, Transfer
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.nodes import NodeProcess
from helpers.support import Answer, next_nonce

week_ms = 7 * 24 * 3600 * 1000


@pytest.fixture(scope="module")
def people(wallet_node: NodeProcess) -> dict[str, Any]:
    """Payer pays Payee with a known nonce; Payee subscribes 2 shares at 1.00 to an open offer."""
    node = wallet_node
    keys = {who: node.admit(f"Reads {who.title()}") for who in ("payer", "payee", "other")}
    nonce = next_nonce()
    answer = node.post_intent(sign_member_intent(keys["payer"], feed=node.feed, nonce=nonce,
                                                 action=Transfer(to=keys["payee"].public, amount_minor=125, memo="tea")))
    assert answer.status == 201, answer.body
    customer = ShareClass("Customer shares", "user", 1, 1, 100, True, False, 500, True)
    registered = node.act(keys["other"], RegisterEnterprise("Reads Bakery", (customer,), ()))["seq"]
    bakery = enterprise_id(node.feed, registered)
    offer = node.act(keys["other"], OpenOffer(bakery, 0, 100, 100, 20, 50,
                                              time.time_ns() // 1_000_000 + week_ms))["seq"]
    node.act(keys["payee"], Subscribe(offer=offer, units=2))
    return {"keys": keys, "nonce": nonce, "paid": answer.json(), "offer": offer}


def reader_key(node: NodeProcess, people: dict[str, Any], reader: str) -> KeyPair | None:
    keys = people["keys"]
    return {"stranger": None, "outsider": KeyPair.generate(), "member": keys["other"], "concerned": keys["payer"],
            "admin": node.admin_key}[reader]


def refused(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.json()["error"]) == (status, code), answer.body[:300]


@pytest.mark.parametrize("reader", ["stranger", "outsider", "member", "concerned", "admin"])
def test_whether_an_intent_was_applied_is_told_only_to_the_member_concerned_and_the_admins(
        wallet_node: NodeProcess, people: dict[str, Any], reader: str) -> None:
    payer = id_to_text("m", people["keys"]["payer"].public)
    answer = wallet_node.get_as(reader_key(wallet_node, people, reader), f"/api/members/{payer}/intents/{people['nonce']}")
    if reader in ("stranger", "outsider"):
        refused(answer, 400, "bad_id")  # as for no one: a stranger may not name members
    elif reader == "member":
        refused(answer, 403, "not_visible")
    else:
        assert answer.status == 200, answer.body
        assert answer.json() == {"member": payer, "nonce": people["nonce"], "status": "applied",
                                 "seq": people["paid"]["seq"], "hash": people["paid"]["hash"]}


def test_a_nonce_the_member_never_used_is_not_applied(wallet_node: NodeProcess, people: dict[str, Any]) -> None:
    payer = people["keys"]["payer"]
    answer = wallet_node.get_as(payer, f"/api/members/{id_to_text('m', payer.public)}/intents/{next_nonce()}")
    assert answer.status == 200
    assert answer.json()["status"] == "not_applied" and answer.json()["seq"] is None


@pytest.mark.parametrize("nonce", ["abc", "-1", "1.5", str(2**63), "%EF%BC%91%EF%BC%92"])
def test_a_nonce_that_is_no_int64_is_malformed_and_changes_nothing(
        wallet_node: NodeProcess, people: dict[str, Any], nonce: str) -> None:
    payer = people["keys"]["payer"]
    before = wallet_node.get("/api/status")["seq"]
    answer = wallet_node.get_as(payer, f"/api/members/{id_to_text('m', payer.public)}/intents/{nonce}")
    refused(answer, 400, "malformed")
    assert wallet_node.get("/api/status")["seq"] == before


@pytest.mark.parametrize("reader", ["stranger", "outsider", "member", "concerned", "admin"])
def test_what_is_held_is_shown_only_to_the_member_concerned_and_the_admins(
        wallet_node: NodeProcess, people: dict[str, Any], reader: str) -> None:
    keys = people["keys"]
    key = {"concerned": keys["payee"], "member": keys["payer"]}.get(reader, reader_key(wallet_node, people, reader))
    payee = id_to_text("m", keys["payee"].public)
    answer = wallet_node.get_as(key, f"/api/members/{payee}/held")
    if reader in ("stranger", "outsider"):
        refused(answer, 400, "bad_id")
    elif reader == "member":
        refused(answer, 403, "not_visible")
    else:
        assert answer.status == 200, answer.body
        document = answer.json()
        assert document["total"] == 200
        [held] = document["items"]
        assert (held["kind"], held["seq"], held["amount"], held["units"], held["enterprise_name"]) == (
            "subscription", people["offer"], 200, 2, "Reads Bakery")


@pytest.mark.parametrize("reader", ["stranger", "outsider"])
def test_whom_one_may_pay_across_is_refused_to_anyone_but_a_member(
        wallet_node: NodeProcess, people: dict[str, Any], reader: str) -> None:
    someone = id_to_text("m", KeyPair.generate().public)
    refused(wallet_node.get_as(reader_key(wallet_node, people, reader), f"/api/payees/{someone}"), 401, "not_signed_in")


def test_a_member_of_a_community_in_no_federation_finds_no_one_to_pay_across(
        wallet_node: NodeProcess, people: dict[str, Any]) -> None:
    someone = id_to_text("m", KeyPair.generate().public)
    answer = wallet_node.get_as(people["keys"]["payer"], f"/api/payees/{someone}?amount=100")
    assert answer.status == 200 and answer.json() == []


@pytest.mark.parametrize(("path", "code"), [("/api/payees/m_nope", "bad_id"), ("/api/payees/n_x", "bad_id"),
                                            ("/api/payees/{someone}?amount=0", "malformed"),
                                            ("/api/payees/{someone}?amount=1000000000000001", "malformed"),
                                            ("/api/payees/{someone}?amount=x", "malformed")])
def test_a_bad_payee_look_up_is_a_typed_400_whoever_asks(
        wallet_node: NodeProcess, people: dict[str, Any], path: str, code: str) -> None:
    someone = id_to_text("m", KeyPair.generate().public)
    for key in (None, people["keys"]["payer"]):
        refused(wallet_node.get_as(key, path.format(someone=someone)), 400, code)
