"""The node's pages in the reader's language, against the pages' real cluster over HTTP: each page
(the community, a member, an enterprise, a federation, the node, a 404) in Spanish for
`Accept-Language: es`, in English for `en`, and in the community's default (the cluster's is
English) for a language the node does not ship; each says which (Content-Language, `<html lang>`)
and that the answer varies with Accept-Language. How the language is chosen from the header is
node/pages/language.py's `negotiated`, checked here without a node, default included."""

from __future__ import annotations

import re

import pytest
from tallystick.node.pages.language import negotiated, preferred_languages

from helpers.browsing import Community, wait_until
from helpers.support import http

# A heading of each page, in English and in Spanish (node/locale/es/LC_MESSAGES/pages.po).
page_words = {
    "community": ("<h2>Members and balances</h2>", "<h2>Miembros y saldos</h2>"),
    "member": ("<h2>Payments and other changes</h2>", "<h2>Pagos y otros cambios</h2>"),
    "enterprise": ("<h2>Share classes</h2>", "<h2>Clases de participaciones</h2>"),
    "federation": ("What we agreed: the charter", "Lo que acordamos: la carta"),
    "node": ("<h1>This node</h1>", "<h1>Este nodo</h1>"),
    "missing": ("<h1>Not found</h1>", "<h1>No encontrado</h1>"),
}


def _paths(community: Community) -> dict[str, str]:
    member = community.people()[0]["id"]
    federation = wait_until(lambda: [f for f in community.get("/api/federations") if f["name"] == "Cluster federation"],
                            what="the cluster's federation")[0]["id"]
    return {"community": "/", "member": f"/members/{member}", "enterprise": "/enterprises/Bakery",
            "federation": f"/federations/{federation}", "node": "/node", "missing": "/members/Nobody-Is-Called-This"}


def _page(community: Community, path: str, accept_language: str) -> tuple[int, dict[str, str], str]:
    """`path` as the community's admin reads it, asking for `accept_language`."""
    headers = {"Authorization": community.authorization(community.admin_key, "GET", path),
               "Accept-Language": accept_language}
    answer = http("GET", community.url + path, headers=headers)
    return answer.status, answer.headers, answer.body.decode()


def test_every_page_is_in_the_language_the_browser_asks_for_else_the_communitys_default(
    cluster: list[Community],
) -> None:
    community = cluster[0]
    for name, path in _paths(community).items():
        english, spanish = page_words[name]
        for asked, language, shown, not_shown in (
            ("es-ES,es;q=0.9,en;q=0.5", "es", spanish, english),
            ("en", "en", english, spanish),
            ("fr-FR, de;q=0.8", "en", english, spanish),  # none shipped: the community's default
        ):
            status, headers, text = _page(community, path, asked)
            assert status == (404 if name == "missing" else 200), (name, asked)
            assert headers["content-language"] == language, (name, asked)
            assert "accept-language" in headers["vary"].lower(), (name, asked)
            assert re.search(rf'<html lang="{language}">', text), (name, asked)
            assert shown in text and not_shown not in text, (name, asked)


@pytest.mark.parametrize(("header", "default", "chosen"), [
    ("es", "en", "es"),
    ("es-AR", "en", "es"),                       # a territory: its language
    ("es-419", "en", "es"),                      # a region Babel does not alias: its language
    ("fr-FR, es;q=0.8, en;q=0.5", "en", "es"),   # the first shipped, by weight
    ("en;q=0.2, es;q=0.9", "en", "es"),          # weight, not order
    ("es;q=0, en", "es", "en"),                  # q=0: not wanted
    ("fr", "es", "es"),                          # none shipped: the default
    ("", "es", "es"),
    ("*", "es", "es"),
    ("es;q=nonsense, en", "es", "en"),           # an unreadable weight counts as not wanted
])
def test_the_language_is_negotiated_from_the_header_with_the_default_as_fallback(
    header: str, default: str, chosen: str,
) -> None:
    assert negotiated(header, default) == chosen


def test_a_long_header_is_read_only_so_far() -> None:
    assert len(preferred_languages(",".join(["fr"] * 1000))) <= 16
