"""Join requests under attack, on a real `tally serve`: a stranger who sends many requests at once,
fills the node's places, replays a signed request, probes members' names by asking with them; an
admin's session cookie without its CSRF token; and what the node keeps of a declined or admitted
request's name and note, in its file's bytes and in its own output. Each claim is one test, each
refusal typed and never 500, and nothing changed by a refusal."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tallystick.protocol.events import AdmitMember, ProposeWithPeriod, SetVisibility, Vote
from tallystick.protocol.ids import KeyPair, id_to_text
from tallystick.protocol.requests import sign_request

from helpers.admission import close_decision, hour_ms
from helpers.nodes import NodeProcess
from helpers.support import Answer, http

from .test_join_requests import ask, mine, refused, waiting
from .test_sign_in import Browser


def ask_from(node: NodeProcess, key: KeyPair, name: str, address: str) -> Answer:
    """A request as a trusted proxy in front of the node forwards it for the client at `address`."""
    body = json.dumps({"name": name}).encode()
    authorization = sign_request(key, node=node.feed, method="POST", target="/api/join-requests",
                                 ts_ms=time.time_ns() // 1_000_000, body=body)
    return http("POST", node.url + "/api/join-requests", body, "application/json",
                headers={"Authorization": authorization, "X-Forwarded-For": address})


def home_files_bytes(node: NodeProcess, stem: str) -> bytes:
    """Every byte of the home's file `stem` and of its WAL and shared-memory files, as `grep` reads them."""
    return b"".join(path.read_bytes() for path in sorted(Path(node.home).glob(stem + "*")))


def decline(node: NodeProcess, key: KeyPair) -> Answer:
    return node.signed(node.admin_key, "POST", f"/api/join-requests/{id_to_text('k', key.public)}/decline",
                       b"{}", "application/json")


def test_requests_sent_at_once_from_one_address_keep_at_most_its_five_and_none_answers_500(make_node: Any) -> None:
    fresh = make_node()
    keys = [KeyPair.generate() for _ in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda pair: ask(fresh, pair[1], {"name": f"Burst Asker {pair[0]:02d}"}),
                                enumerate(keys)))
    assert all(answer.status < 500 for answer in answers), [a.body for a in answers if a.status >= 500]
    assert sum(answer.status == 201 for answer in answers) == 5
    assert {answer.json()["error"] for answer in answers if answer.status != 201} == {"too_many_join_requests"}
    assert len(waiting(fresh)["requests"]) == 5


def test_one_key_asking_many_times_at_once_keeps_one_request_and_none_answers_500(make_node: Any) -> None:
    fresh = make_node()
    key = KeyPair.generate()
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: ask(fresh, key, {"name": "Twin Asker"}), range(10)))
    assert all(answer.status < 500 for answer in answers), [a.body for a in answers if a.status >= 500]
    assert sorted(answer.status for answer in answers) == [201] + [409] * 9
    assert {answer.json()["error"] for answer in answers if answer.status == 409} == {"join_request_exists"}
    assert [item["key"] for item in waiting(fresh)["requests"]] == [id_to_text("k", key.public)]


def test_declined_requests_give_their_places_back_to_new_askers(make_node: Any) -> None:
    fresh = make_node(config={"trusted_proxies": ["127.0.0.1"]})
    flood = [KeyPair.generate() for _ in range(200)]
    for number, key in enumerate(flood):
        answer = ask_from(fresh, key, f"Flood Asker {number:03d}", f"10.1.{number // 250}.{number % 250}")
        assert answer.status == 201, answer.body
    late = KeyPair.generate()
    refused(ask_from(fresh, late, "Real Person", "10.2.0.1"), 429, "too_many_join_requests")
    assert mine(fresh, late).status == 404
    for key in flood[:3]:
        assert decline(fresh, key).status == 200
    assert ask_from(fresh, late, "Real Person", "10.2.0.1").status == 201
    assert mine(fresh, flood[0]).json()["state"] == "declined"


def test_a_declined_requests_name_and_note_are_gone_from_the_files_bytes(node: NodeProcess) -> None:
    stranger = KeyPair.generate()
    assert ask(node, stranger, {"name": "Quillon Vexmoor", "note": "zebracrossing allotment 4471"}).status == 201
    assert b"Quillon Vexmoor" in home_files_bytes(node, "join-requests.db")
    assert decline(node, stranger).status == 200
    kept = home_files_bytes(node, "join-requests.db")
    assert b"Quillon" not in kept and b"Vexmoor" not in kept and b"zebracrossing" not in kept
    assert mine(node, stranger).json()["state"] == "declined"


def test_an_admitted_requests_note_is_gone_from_the_files_bytes(node: NodeProcess) -> None:
    stranger = KeyPair.generate()
    assert ask(node, stranger, {"name": "Orrin Plaskett", "note": "marmalade cooperative 9183"}).status == 201
    node.act(node.admin_key, AdmitMember(member=stranger.public, name="Orrin Plaskett"))
    assert mine(node, stranger).json()["state"] == "admitted"
    kept = home_files_bytes(node, "join-requests.db")
    assert b"marmalade" not in kept and b"Plaskett" not in kept


def test_a_requests_expired_while_the_node_was_stopped_are_gone_from_the_file_once_it_starts(
        make_node: Any) -> None:
    import sqlite3

    fresh = make_node()
    stranger = KeyPair.generate()
    assert ask(fresh, stranger, {"name": "Wendeline Stroud", "note": "lapsing 5521"}).status == 201
    assert fresh.stop() == 0
    # Two weeks pass with the node stopped: the operator's clock cannot be moved, so the row's
    # expiry is moved into the past instead, with the sqlite3 command line's equivalent.
    with sqlite3.connect(Path(fresh.home) / "join-requests.db") as connection:
        connection.execute("UPDATE join_requests SET expires_ms = 1")
    fresh.start()
    kept = home_files_bytes(fresh, "join-requests.db")
    assert b"Wendeline" not in kept and b"lapsing" not in kept
    refused(mine(fresh, stranger), 404, "join_request_unknown")


def test_a_stranger_cannot_learn_that_a_member_has_a_name_by_asking_with_it(make_node: Any) -> None:
    fresh = make_node()  # the default policy: members' names are the members' and admins' to see
    fresh.admit("Persis Hallow")
    prober = KeyPair.generate()
    taken, free = ask(fresh, prober, {"name": "persis  HALLOW"}), ask(fresh, KeyPair.generate(), {"name": "Nobody Here"})
    assert (taken.status, taken.json()) == (free.status, {**free.json(), "expires_ms": taken.json()["expires_ms"]})
    entry = next(item for item in waiting(fresh)["requests"] if item["key"] == id_to_text("k", prober.public))
    assert entry["name_taken"] is True  # the admins are told, so they decline or ask for another name
    assert all(item["name_taken"] is False for item in waiting(fresh)["requests"] if item["key"] != entry["key"])


def test_an_admins_session_cookie_declines_only_with_the_csrf_token_from_the_nodes_own_page(
        node: NodeProcess) -> None:
    stranger = KeyPair.generate()
    assert ask(node, stranger, {"name": "Cressida Lune"}).status == 201
    browser = Browser(node, node.admin_key)
    target = f"/api/join-requests/{id_to_text('k', stranger.public)}/decline"
    for answer in (browser.request("POST", target, csrf=None), browser.request("POST", target, csrf="forged"),
                   browser.request("POST", target, origin="https://evil.example")):
        refused(answer, 403, "csrf_refused")
    assert mine(node, stranger).json()["state"] == "pending"
    assert browser.request("GET", "/api/join-requests").status == 200
    assert browser.request("POST", target).status == 200
    assert mine(node, stranger).json()["state"] == "declined"


def test_a_members_session_cookie_cannot_list_or_decline_join_requests(node: NodeProcess) -> None:
    member = node.admit("Tamsin Arle")
    stranger = KeyPair.generate()
    assert ask(node, stranger, {"name": "Ulla Brenning"}).status == 201
    browser = Browser(node, member)
    refused(browser.request("GET", "/api/join-requests"), 403, "not_admin")
    refused(browser.request("POST", f"/api/join-requests/{id_to_text('k', stranger.public)}/decline"), 403, "not_admin")
    assert mine(node, stranger).json()["state"] == "pending"


def test_a_signed_request_replayed_to_another_node_or_after_a_decline_keeps_nothing(make_node: Any) -> None:
    first, second = make_node(), make_node()
    stranger = KeyPair.generate()
    body = json.dumps({"name": "Replay Person"}).encode()
    authorization = sign_request(stranger, node=first.feed, method="POST", target="/api/join-requests",
                                 ts_ms=time.time_ns() // 1_000_000, body=body)

    def send(node: NodeProcess) -> Answer:
        return http("POST", node.url + "/api/join-requests", body, "application/json",
                    headers={"Authorization": authorization})

    refused(send(second), 401, "bad_authorization")
    refused(mine(second, stranger), 404, "join_request_unknown")
    assert send(first).status == 201
    assert decline(first, stranger).status == 200
    refused(send(first), 409, "join_request_exists")
    assert mine(first, stranger).json()["state"] == "declined"
    assert all(item["key"] != id_to_text("k", stranger.public) for item in waiting(first)["requests"])


def test_the_nodes_output_holds_no_name_note_or_query_of_a_join_and_search_flow(make_node: Any) -> None:
    fresh = make_node()
    member = fresh.admit("Ysolde Marchbank")
    stranger, declined = KeyPair.generate(), KeyPair.generate()
    assert ask(fresh, stranger, {"name": "Fenwick Galloway", "note": "orchard keeper 7312"}).status == 201
    assert ask(fresh, declined, {"name": "Hesketh Ombry", "note": "declined note 6620"}).status == 201
    refused(ask(fresh, KeyPair.generate(), {"name": "Bad\u200bName Probe"}), 422, "bad_name")
    waiting(fresh)
    assert decline(fresh, declined).status == 200
    fresh.act(fresh.admin_key, AdmitMember(member=stranger.public, name="Fenwick Galloway"))
    assert mine(fresh, stranger).json()["state"] == "admitted"
    assert fresh.signed(member, "GET", "/api/members?q=Fenwick%20Gall").status == 200
    assert fresh.signed(member, "GET", "/api/members?q=Marchbank").status == 200
    assert fresh.http("GET", "/api/members?q=Galloway").status < 500
    fresh.signed(member, "GET", f"/api/members/{id_to_text('m', member.public)}/delegations")
    assert fresh.stop() == 0
    output = fresh.output()
    for secret in ("Fenwick", "Galloway", "orchard", "Hesketh", "Ombry", "6620", "Ysolde", "Marchbank",
                   "q=", "Probe", "/api/"):
        assert secret not in output, (secret, output)


def test_api_answers_with_personal_data_tell_the_browser_not_to_store_them(node: NodeProcess) -> None:
    member = node.admit("Saoirse Kettle")
    assert ask(node, KeyPair.generate(), {"name": "Cached Asker", "note": "kept nowhere"}).status == 201
    browser = Browser(node, node.admin_key)
    answers = {
        "join requests": browser.request("GET", "/api/join-requests"),
        "a member's devices": node.signed(member, "GET", f"/api/members/{id_to_text('m', member.public)}"),
        "a search": browser.request("GET", "/api/members?q=Kettle"),
        "a refusal": node.http("GET", "/api/join-requests"),
    }
    assert {what: answer.headers.get("cache-control") for what, answer in answers.items()} == {
        what: "no-store" for what in answers}


def test_past_the_declined_keys_kept_the_oldest_goes_first_and_new_requests_are_still_kept(make_node: Any) -> None:
    fresh = make_node(config={"trusted_proxies": ["127.0.0.1"]})
    declined_max = 1000  # node/join_requests.py: join_requests_declined_max, five times the places

    def ask_and_decline(number: int) -> KeyPair:
        key = KeyPair.generate()
        answer = ask_from(fresh, key, f"Round Asker {number:04d}", f"10.3.{number // 250}.{number % 250}")
        assert answer.status == 201, answer.body
        assert decline(fresh, key).status == 200
        return key

    oldest = ask_and_decline(0)
    time.sleep(0.01)  # so that the oldest is older than every other by its time alone
    with ThreadPoolExecutor(max_workers=4) as pool:
        others = list(pool.map(ask_and_decline, range(1, declined_max + 1)))
    refused(mine(fresh, oldest), 404, "join_request_unknown")  # the one past the bound: lapsed, not a 500
    assert all(mine(fresh, key).json()["state"] == "declined" for key in (*others[:3], *others[-3:]))
    late = KeyPair.generate()
    assert ask_from(fresh, late, "After The Flood", "10.4.0.1").status == 201
    assert [item["key"] for item in waiting(fresh)["requests"]] == [id_to_text("k", late.public)]


def test_where_members_names_are_public_a_taken_name_is_refused_when_asked(make_node: Any) -> None:
    fresh = make_node()
    admin = fresh.admin_key
    name = fresh.get(f"/api/members/{id_to_text('m', admin.public)}")["name"]
    proposal = ProposeWithPeriod("proposal", "Members' names for everyone", "", 0, voting_period_ms=73 * hour_ms,
                                 effect=SetVisibility(names="public"))
    decision = fresh.act(admin, proposal)["seq"]
    fresh.act(admin, Vote(decision=decision, position="agree"))
    close_decision(fresh, decision, fresh.get(f"/api/decisions/{decision}")["deadline_ms"])
    assert fresh.http("GET", "/api/community").json()["visibility"]["names"] == "public"
    asker = KeyPair.generate()
    refused(ask(fresh, asker, {"name": name.upper()}), 409, "name_taken")
    refused(mine(fresh, asker), 404, "join_request_unknown")
