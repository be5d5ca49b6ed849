"""Join requests on a real `tally serve`: a stranger asks to join with a key of their own, signing the
request with it; an admin lists the requests and accepts one by signing an `admit` of its key (or
declines it); the requester's own poll says what happened. Who may do what: only the key's holder
asks and polls, only an admin lists and declines; every bad input is a typed error that changes
nothing, and nothing answers 500."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import AdmitMember, ProposeWithPeriod, Vote
from tallystick.protocol.ids import KeyPair, id_to_text
from tallystick.protocol.requests import sign_request

from helpers.admission import close_decision, home_admitting_by_decision, hour_ms
from helpers.nodes import NodeProcess
from helpers.support import Answer, http, next_nonce


def ask(node: NodeProcess, key: KeyPair, document: Any) -> Answer:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return node.signed(key, "POST", "/api/join-requests", body, "application/json")


def mine(node: NodeProcess, key: KeyPair) -> Answer:
    return node.signed(key, "GET", "/api/join-requests/mine")


def waiting(node: NodeProcess) -> dict[str, Any]:
    return node.get("/api/join-requests")


def refused(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.json()["error"]) == (status, code), answer.body


def test_a_stranger_asks_the_admin_admits_their_key_and_their_poll_says_admitted(node: NodeProcess) -> None:
    stranger = KeyPair.generate()
    answer = ask(node, stranger, {"name": "Ivo Brack", "note": "I run the bike workshop"})
    assert answer.status == 201, answer.body
    assert answer.json()["state"] == "pending" and answer.json()["decision"] is None
    assert mine(node, stranger).json()["state"] == "pending"
    listed = waiting(node)
    assert listed["admission"] == "admin"
    entry = next(item for item in listed["requests"] if item["key"] == id_to_text("k", stranger.public))
    assert (entry["name"], entry["note"], entry["member"]) == ("Ivo Brack", "I run the bike workshop",
                                                               id_to_text("m", stranger.public))

    node.act(node.admin_key, AdmitMember(member=stranger.public, name=entry["name"]))
    assert mine(node, stranger).json()["state"] == "admitted"
    assert all(item["key"] != entry["key"] for item in waiting(node)["requests"])
    assert node.get(f"/api/members/{entry['member']}")["name"] == "Ivo Brack"


def test_a_declined_request_is_no_longer_listed_and_its_poll_says_declined(node: NodeProcess) -> None:
    stranger = KeyPair.generate()
    assert ask(node, stranger, {"name": "Jessa Moll"}).status == 201
    key = id_to_text("k", stranger.public)
    answer = node.signed(node.admin_key, "POST", f"/api/join-requests/{key}/decline", b"{}", "application/json")
    assert answer.status == 200 and answer.json() == {"key": key, "state": "declined"}
    assert all(item["key"] != key for item in waiting(node)["requests"])
    assert mine(node, stranger).json()["state"] == "declined"
    again = node.signed(node.admin_key, "POST", f"/api/join-requests/{key}/decline", b"{}", "application/json")
    refused(again, 404, "join_request_unknown")
    refused(ask(node, stranger, {"name": "Jessa Moll"}), 409, "join_request_exists")


def test_only_the_keys_holder_asks_and_polls_and_only_an_admin_lists_and_declines(node: NodeProcess) -> None:
    member = node.admit("Kit Harrow")
    stranger = KeyPair.generate()
    before = node.snapshot()
    refused(node.http("POST", "/api/join-requests", b'{"name": "Lo Anders"}', "application/json"),
            403, "unsigned_request")
    refused(node.http("GET", "/api/join-requests/mine"), 403, "unsigned_request")
    refused(mine(node, stranger), 404, "join_request_unknown")
    refused(ask(node, member, {"name": "Kit Harrow Again"}), 409, "key_in_use")
    refused(node.http("GET", "/api/join-requests"), 401, "not_signed_in")
    refused(node.signed(stranger, "GET", "/api/join-requests"), 401, "not_signed_in")
    refused(node.signed(member, "GET", "/api/join-requests"), 403, "not_admin")
    target = f"/api/join-requests/{id_to_text('k', stranger.public)}/decline"
    refused(node.http("POST", target, b"{}", "application/json"), 401, "not_signed_in")
    refused(node.signed(member, "POST", target, b"{}", "application/json"), 403, "not_admin")
    # A signature for another body (or another path) is no one's: refused, never read as a stranger's.
    authorization = sign_request(stranger, node=node.feed, method="POST", target="/api/join-requests",
                                 ts_ms=time.time_ns() // 1_000_000, body=b'{"name": "Lo Anders"}')
    forged = http("POST", node.url + "/api/join-requests", b'{"name": "Someone Else"}', "application/json",
                  headers={"Authorization": authorization})
    refused(forged, 401, "bad_authorization")
    refused(mine(node, stranger), 404, "join_request_unknown")
    assert node.snapshot()["seq"] == before["seq"]


def test_bad_inputs_are_typed_refusals_that_keep_nothing(node: NodeProcess) -> None:
    node.admit("Mira Stone")
    key = KeyPair.generate()
    before = node.snapshot()
    cases = [
        (b"not json", 400, "malformed"),
        (b"[]", 400, "malformed"),
        ({"name": "Nell Pike", "extra": 1}, 400, "malformed"),
        ({"note": "no name"}, 400, "malformed"),
        ({"name": 5}, 400, "malformed"),
        ({"name": "N" * 65}, 400, "malformed"),
        ({"name": "Nell Pike", "note": "x" * 281}, 400, "malformed"),
        ({"name": "Nell Pike", "note": "bell\x07"}, 400, "malformed"),
        ({"name": "Nell\u200bPike"}, 422, "bad_name"),
        ({"name": "   "}, 422, "bad_name"),
        (b'{"name": "' + b"x" * 3000 + b'"}', 413, "too_large"),
    ]
    for document, status, code in cases:
        answer = ask(node, key, document)
        assert answer.status < 500
        refused(answer, status, code)
    refused(mine(node, key), 404, "join_request_unknown")
    admin = node.admin_key
    for text, status, code in [("k_nothing", 400, "malformed"), ("m_" + "a" * 52, 400, "malformed"),
                               (id_to_text("k", KeyPair.generate().public), 404, "join_request_unknown")]:
        answer = node.signed(admin, "POST", f"/api/join-requests/{text}/decline", b"{}", "application/json")
        refused(answer, status, code)
    assert all(item["key"] != id_to_text("k", key.public) for item in waiting(node)["requests"])
    assert node.snapshot() == before


def test_one_address_may_keep_only_a_few_requests_an_hour(make_node: Any) -> None:
    fresh = make_node()
    for number in range(5):
        assert ask(fresh, KeyPair.generate(), {"name": f"Asker {chr(65 + number)}"}).status == 201
    refused(ask(fresh, KeyPair.generate(), {"name": "Asker F"}), 429, "too_many_join_requests")
    assert len(waiting(fresh)["requests"]) == 5


def test_where_admission_is_by_decision_accepting_proposes_it_and_the_key_is_a_member_once_it_passes(
        tmp_path: Path) -> None:
    deciding = home_admitting_by_decision(tmp_path)
    try:
        stranger = KeyPair.generate()
        assert ask(deciding, stranger, {"name": "Tova Penn", "note": "from the allotments"}).status == 201
        listed = waiting(deciding)
        assert listed["admission"] == "decision" and listed["rules"]["admission"] == "decision"
        # An admin's own `admit` (and `invite`) is refused: the members decide.
        direct = deciding.post_intent(sign_member_intent(deciding.admin_key, feed=deciding.feed, nonce=next_nonce(),
                                                         action=AdmitMember(member=stranger.public, name="Tova Penn")))
        refused(direct, 403, "not_authorized")
        proposal = ProposeWithPeriod("proposal", "Admit Tova Penn", "", 0, voting_period_ms=25 * hour_ms,
                                     effect=AdmitMember(member=stranger.public, name="Tova Penn"))
        decision = deciding.act(deciding.admin_key, proposal)["seq"]
        polled = mine(deciding, stranger).json()
        assert (polled["state"], polled["decision"]) == ("proposed", decision)
        entry = next(item for item in waiting(deciding)["requests"] if item["key"] == id_to_text("k", stranger.public))
        assert entry["decision"] == decision
        deciding.act(deciding.admin_key, Vote(decision=decision, position="agree"))
        close_decision(deciding, decision, deciding.get(f"/api/decisions/{decision}")["deadline_ms"])
        assert deciding.get(f"/api/decisions/{decision}")["outcome"] == "passed"
        assert mine(deciding, stranger).json()["state"] == "admitted"
        assert deciding.get(f"/api/members/{id_to_text('m', stranger.public)}")["name"] == "Tova Penn"
        assert waiting(deciding)["requests"] == []
    finally:
        assert deciding.stop() == 0, deciding.output()

