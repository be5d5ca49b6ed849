"""Signing in against a real node (node/http/auth.py, docs/api.md "Signing in"): a member's signed
challenge opens a session cookie; only an active member's current key opens one; a removed member's
sessions end at once; every change a cookie makes needs the CSRF token and the node's own Origin."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from http.client import HTTPConnection
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import pytest
from tallystick.protocol.events import RebindKey
from tallystick.protocol.ids import KeyPair, id_to_text
from tallystick.protocol.requests import sign_in_message

from helpers.nodes import NodeProcess
from helpers.support import Answer, http, tally


def b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def challenge(node: NodeProcess) -> str:
    answer = http("POST", node.url + "/api/sign-in/challenge")
    assert answer.status == 200, answer.body
    return answer.json()["challenge"]


def proof(node: NodeProcess, key: KeyPair, value: str, *, signed_by: KeyPair | None = None) -> bytes:
    raw = base64.b32decode(value.upper() + "=" * (-len(value) % 8))
    signature = (signed_by or key).sign(sign_in_message(node=node.feed, challenge=raw))
    return json.dumps({"key": id_to_text("k", key.public), "challenge": value, "signature": b32(signature)}).encode()


def post_sign_in(node: NodeProcess, body: bytes) -> Answer:
    return http("POST", node.url + "/api/sign-in", body, "application/json")


def cookie_of(answer: Answer) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(answer.headers.get("set-cookie", ""))
    return cookie


class Browser:
    """What a browser holds once signed in: the cookie and the session's CSRF token."""

    def __init__(self, node: NodeProcess, key: KeyPair) -> None:
        answer = post_sign_in(node, proof(node, key, challenge(node)))
        assert answer.status == 200, answer.body
        self.node, self.session = node, answer.json()
        self.token = cookie_of(answer)["tally_session"].value

    def request(self, method: str, path: str, *, csrf: str | None = "", origin: str | None = "") -> Answer:
        headers = {"Cookie": f"tally_session={self.token}"}
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf or self.session["csrf_token"]
        if origin is not None:
            headers["Origin"] = origin or self.node.url
        return http(method, self.node.url + path, b"" if method != "GET" else None, headers=headers)


def session_rows(node: NodeProcess, key: KeyPair) -> int:
    """The rows of `key` in the home's sessions file, as the operator would count them."""
    with sqlite3.connect(f"file:{node.home / 'sessions.db'}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT COUNT(*) FROM sessions WHERE key = ?", (key.public,)).fetchone()[0]


def get_without_redirect(url: str) -> tuple[int, dict[str, str]]:
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


@pytest.fixture(scope="module")
def alice(node: NodeProcess) -> KeyPair:
    return node.admit("Alice")


def test_a_signed_challenge_opens_a_session_cookie_that_reads_as_the_member(node: NodeProcess, alice: KeyPair) -> None:
    answer = post_sign_in(node, proof(node, alice, challenge(node)))
    assert answer.status == 200, answer.body
    morsel = cookie_of(answer)["tally_session"]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert not morsel["secure"]  # plain HTTP on loopback: a Secure cookie would never come back
    assert 0 < int(morsel["max-age"]) <= 12 * 3600
    browser = Browser(node, alice)
    session = browser.request("GET", "/api/session").json()
    assert session["member"] == id_to_text("m", alice.public) and session["admin"] is False
    assert session["csrf_token"] == browser.session["csrf_token"]
    assert session["expires_ms"] <= time.time_ns() // 1_000_000 + 30 * 60 * 1000 + 60_000
    listed = browser.request("GET", "/api/sessions").json()
    assert [row["current"] for row in listed if row["id"] == browser.session["id"]] == [True]
    assert "csrf_token" not in json.dumps(listed)  # the list names sessions; it opens none


def test_a_wrong_signature_a_used_challenge_and_a_non_member_key_open_nothing(node: NodeProcess, alice: KeyPair) -> None:
    stranger = KeyPair.generate()
    used, forged = challenge(node), challenge(node)
    assert post_sign_in(node, proof(node, alice, used)).status == 200
    answers = {
        "wrong signature": post_sign_in(node, proof(node, alice, forged, signed_by=stranger)),
        "after a wrong signature": post_sign_in(node, proof(node, alice, forged)),
        "used challenge": post_sign_in(node, proof(node, alice, used)),
        "unknown challenge": post_sign_in(node, proof(node, alice, b32(bytes(32)))),
        "not a member": post_sign_in(node, proof(node, stranger, challenge(node))),
        "not JSON": post_sign_in(node, b"key=k_x"),
        "short challenge": post_sign_in(node, proof(node, alice, b32(bytes(8)))),
    }
    assert {what: (a.status, a.json()["error"]) for what, a in answers.items()} == {
        "wrong signature": (401, "bad_sign_in"),
        "after a wrong signature": (401, "stale_challenge"),  # a challenge is good for one try
        "used challenge": (401, "stale_challenge"),
        "unknown challenge": (401, "stale_challenge"),
        "not a member": (403, "not_a_member"),
        "not JSON": (400, "malformed"),
        "short challenge": (400, "malformed"),
    }
    assert not any("set-cookie" in a.headers for a in answers.values())


def test_a_cookie_that_names_no_session_reads_as_a_stranger_and_is_cleared(node: NodeProcess) -> None:
    for token in ("A" * 43, "not base64 at all!", "x" * 500):
        answer = http("GET", node.url + "/api/session", headers={"Cookie": f"tally_session={token}"})
        assert (answer.status, answer.json()["error"]) == (401, "not_signed_in"), token
        assert 'tally_session=""' in answer.headers.get("set-cookie", ""), token
    answer = http("GET", node.url + "/api/status", headers={"Cookie": "tally_session=" + "A" * 43})
    assert answer.status == 200 and "tally_session" in answer.headers.get("set-cookie", "")


def test_a_change_by_cookie_without_the_csrf_token_or_from_another_origin_is_refused(
    node: NodeProcess, alice: KeyPair
) -> None:
    browser = Browser(node, alice)
    other = Browser(node, alice)
    end = f"/api/sessions/{other.session['id']}"
    answers = {
        "no token": browser.request("DELETE", end, csrf=None),
        "wrong token": browser.request("DELETE", end, csrf="forged"),
        "another site": browser.request("DELETE", end, origin="https://evil.example"),
        "no origin": browser.request("DELETE", end, origin=None),
    }
    assert {what: (a.status, a.json()["error"]) for what, a in answers.items()} == {
        what: (403, "csrf_refused") for what in answers
    }
    assert other.request("GET", "/api/session").status == 200  # nothing changed
    assert browser.request("DELETE", end).json() == {"ended": other.session["id"]}
    assert other.request("GET", "/api/session").status == 401


def test_sign_out_ends_the_session_and_clears_the_cookie(node: NodeProcess, alice: KeyPair) -> None:
    browser = Browser(node, alice)
    answer = browser.request("POST", "/api/sign-out")
    assert answer.status == 200 and 'tally_session=""' in answer.headers["set-cookie"]
    assert browser.request("GET", "/api/session").status == 401
    assert browser.request("POST", "/api/sign-out").status == 401


def test_a_member_ends_their_own_sessions_and_anothers_id_is_not_found(node: NodeProcess, alice: KeyPair) -> None:
    bob = node.admit("Bob")
    bobs = Browser(node, bob)
    # Alice, signing her requests as the CLI does, cannot end (or learn of) Bob's session.
    refused = node.signed(alice, "DELETE", f"/api/sessions/{bobs.session['id']}")
    assert (refused.status, refused.json()["error"]) == (404, "no_session")
    assert node.signed(alice, "DELETE", "/api/sessions/nosuchsession").status == 404
    assert bobs.session["id"] not in json.dumps(node.signed(alice, "GET", "/api/sessions").json())
    assert http("GET", node.url + "/api/sessions").status == 401  # a stranger has none
    assert bobs.request("GET", "/api/session").status == 200
    ended = node.signed(bob, "DELETE", f"/api/sessions/{bobs.session['id']}")
    assert ended.status == 200
    assert bobs.request("GET", "/api/session").status == 401


def test_a_removed_members_sessions_end_at_once(node: NodeProcess) -> None:
    carol = node.admit("Carol")
    browsers = [Browser(node, carol), Browser(node, carol)]
    assert session_rows(node, carol) == 2
    node.remove(carol)
    # Ended by the node after the commit, before any of Carol's browsers asks again.
    deadline = time.monotonic() + 5
    while session_rows(node, carol) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert session_rows(node, carol) == 0
    assert [b.request("GET", "/api/session").status for b in browsers] == [401, 401]
    assert post_sign_in(node, proof(node, carol, challenge(node))).status == 403


def test_a_member_who_moves_to_a_new_key_is_signed_out_of_the_old_ones_sessions(node: NodeProcess) -> None:
    dan, new_key = node.admit("Dan"), KeyPair.generate()
    old_browser = Browser(node, dan)
    node.act(dan, RebindKey(new_key=new_key.public))
    assert old_browser.request("GET", "/api/session").status == 401
    assert post_sign_in(node, proof(node, dan, challenge(node))).status == 403
    assert Browser(node, new_key).request("GET", "/api/session").json()["member"] == id_to_text("m", dan.public)


def test_sign_in_from_the_command_line_prints_a_link_that_works_once(node: NodeProcess, alice: KeyPair,
                                                                      tmp_path: Any) -> None:
    key_file = tmp_path / "alice.key"
    key_file.write_text(alice.to_text())
    done = tally("--node", node.url, "--key", key_file, "sign-in")
    assert done.returncode == 0, done.stderr
    link = done.stdout.strip()
    assert link.startswith(node.url + "/sign-in?token=")
    status, headers = get_without_redirect(link)
    assert status == 303 and headers["location"] == f"/members/{id_to_text('m', alice.public)}"
    assert "tally_session=" in headers["set-cookie"] and headers["referrer-policy"] == "no-referrer"
    token = SimpleCookie(headers["set-cookie"])["tally_session"].value
    answer = http("GET", node.url + "/api/session", headers={"Cookie": f"tally_session={token}"})
    assert answer.json()["member"] == id_to_text("m", alice.public)
    again, _ = get_without_redirect(link)
    assert again == 400
    listed = tally("--node", node.url, "--key", key_file, "session", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    newest = json.loads(listed.stdout)[0]["id"]
    table = tally("--node", node.url, "--key", key_file, "session", "list")
    assert table.returncode == 0 and newest in table.stdout, table.stdout
    ended = tally("--node", node.url, "--key", key_file, "session", "end", newest)
    assert ended.returncode == 0, ended.stderr
    assert http("GET", node.url + "/api/session", headers={"Cookie": f"tally_session={token}"}).status == 401


def test_behind_tls_the_cookie_is_secure_and_the_public_origin_is_the_nodes(make_node: Any) -> None:
    node = make_node(config={"public_url": "https://riverside.example"})
    answer = post_sign_in(node, proof(node, node.admin_key, challenge(node)))
    assert cookie_of(answer)["tally_session"]["secure"]
    browser = Browser(node, node.admin_key)
    assert browser.request("GET", "/api/session").json()["admin"] is True
    other = Browser(node, node.admin_key)
    ended = browser.request("DELETE", f"/api/sessions/{other.session['id']}", origin="https://riverside.example")
    assert ended.status == 200
