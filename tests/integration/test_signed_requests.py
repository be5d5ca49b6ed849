"""A signed request (protocol/requests.py) against a real node: it is read as its signer's, and one
that does not verify is refused with 401, never served as a stranger's."""

from __future__ import annotations

import time

from tallystick.protocol.ids import KeyPair
from tallystick.protocol.requests import sign_request

from helpers.nodes import NodeProcess
from helpers.support import http


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def signed_get(node: NodeProcess, key: KeyPair, path: str, *, signed_path: str | None = None,
               ts_ms: int | None = None, feed: bytes | None = None) -> int:
    authorization = sign_request(
        key, node=feed or node.feed, method="GET", target=signed_path or path, ts_ms=ts_ms or now_ms()
    )
    return http("GET", node.url + path, headers={"Authorization": authorization}).status


def test_a_member_signed_read_is_answered(node: NodeProcess) -> None:
    assert node.signed(node.admin_key, "GET", "/api/community").status == 200
    assert node.signed(KeyPair.generate(), "GET", "/api/status").status == 200  # a key nobody knows: a stranger


def test_a_signature_for_another_path_node_or_time_is_refused(node: NodeProcess) -> None:
    key = node.admin_key
    answers = {
        "path": signed_get(node, key, "/api/members?limit=2", signed_path="/api/members?limit=1"),
        "node": signed_get(node, key, "/api/community", feed=bytes(32)),
        "time": signed_get(node, key, "/api/community", ts_ms=now_ms() - 3_600_000),
    }
    assert answers == {"path": 401, "node": 401, "time": 401}


def test_a_malformed_authorization_is_a_typed_401(node: NodeProcess) -> None:
    for value in ("Tally", "Tally k_x.1.y", "Tally " + "a" * 600, "Tally k_x.notanumber.y"):
        answer = http("GET", node.url + "/api/community", headers={"Authorization": value})
        assert answer.status == 401, value
        assert answer.json()["error"] == "bad_authorization", value
    # Another scheme (a proxy's Basic auth) is not ours: the request is read as a stranger's.
    assert http("GET", node.url + "/api/community", headers={"Authorization": "Basic eDp5"}).status == 200
