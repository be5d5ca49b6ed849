"""What a person or a script types into a URL, against a real node: an id in a spelling that is not
its one spelling (docs/protocol.md §2: ids are lowercase) is a typed `bad_id` on every JSON route
that takes one, read by a stranger or by an admin alike; a page's query a person edited by hand is
ignored (node/pages/shared.py `query_number`), never a 500."""

from __future__ import annotations

import pytest
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.nodes import NodeProcess
from helpers.support import http

member = id_to_text("m", bytes(range(32)))
enterprise = id_to_text("m", bytes(range(1, 33)))

# Routes that take a member's or an enterprise's id (decisions and offers are numbered by seq, and
# a number in the wrong form is `malformed`) in their path, with the id spelled in capitals (one letter or all).
routes_with_ids = [
    "/api/members/" + member.upper(),
    "/api/members/m_" + member[2:].upper(),
    "/api/balances?account=" + "m_" + member[2:-1] + member[-1].upper(),
    "/api/enterprises/m_" + enterprise[2:].upper(),
    "/api/enterprises/m_" + enterprise[2:].upper() + "/captable.csv",
    "/api/members/m_" + member[2:].upper() + "/holdings",
]


@pytest.mark.parametrize("path", routes_with_ids)
def test_an_id_in_capitals_is_a_typed_bad_id_for_every_reader(node: NodeProcess, path: str) -> None:
    for answer in (http("GET", node.url + path), node.signed(node.admin_key, "GET", path)):
        assert answer.status == 400, (path, answer.status)
        assert answer.json()["error"] == "bad_id", path


@pytest.mark.parametrize("query", [
    "?page=abc", "?page=-1", "?page=99999999999999999999999", "?before=x", "?page=%00", "?page=1&page=2",
])
@pytest.mark.parametrize("page", ["/", "/node", "/payments"])
def test_a_hand_edited_page_query_is_ignored_never_a_500(node: NodeProcess, page: str, query: str) -> None:
    answer = http("GET", node.url + page + query)
    assert answer.status == 200, (page, query, answer.status)
    assert "text/html" in answer.headers.get("content-type", "")


def test_a_member_page_in_capitals_is_not_found_not_a_500(node: NodeProcess) -> None:
    answer = http("GET", node.url + "/members/" + member.upper())
    assert answer.status in (400, 404)
    answer = node.signed(KeyPair.generate(), "GET", "/members/" + member.upper())
    assert answer.status in (400, 404)
