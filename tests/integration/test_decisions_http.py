"""The decisions API's refusals: an unknown decision is 404 and a malformed id 400, each a JSON
error body with a stable code."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_unknown_decision_is_404_unknown_decision(node: Any) -> None:
    status, body = get(node.url + "/api/decisions/999999")
    assert status == 404 and body["error"] == "unknown_decision" and body["message"]


def test_a_decision_id_that_is_not_a_seq_is_400_malformed(node: Any) -> None:
    status, body = get(node.url + "/api/decisions/abc")
    assert status == 400 and body["error"] == "malformed"


def test_a_community_without_decisions_lists_none(node: Any) -> None:
    assert get(node.url + "/api/decisions?open=1") == (200, [])
