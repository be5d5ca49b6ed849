"""The node's pages in the reader's language, against the pages' real cluster over HTTP: each page
(the community, a member, an enterprise, a federation, the node, a 404) in Spanish for
`Accept-Language: es`, in English for `en`, and in the community's default (the cluster's is
English) for a language the node does not ship; each says which (Content-Language, `<html lang>`)
and that the answer varies with Accept-Language. How the language is chosen from the header is
node/pages/language.py's `negotiated`, checked here without a node, default included."""

from __future__ import annotations

import html
import re
import time

import pytest
from tallystick.node.pages.language import money, negotiated, preferred_languages, when
from tallystick.protocol.events import Propose, SetLimits, Transfer
from tallystick.protocol.ids import id_from_text

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


def _between(text: str, start: str, end: str) -> str:
    """What `text` holds between the first `start` and the `end` after it."""
    return text.split(start, 1)[1].split(end, 1)[0]


def test_amounts_times_durations_and_a_typed_amount_are_in_the_readers_language(cluster: list[Community]) -> None:
    """A payment of 1,234.50 reads '1.234,50 HRS' on a Spanish page and '1,234.50 HRS' on an English
    one (Babel's, by the language's CLDR data), its time and an open decision's time left likewise
    ('closes in 3 days', 'cierra dentro de 3 días'); the pay-me form reads an amount typed as the
    reader writes it and refuses one it cannot read in the reader's language, while the link it
    makes keeps the protocol's form."""
    community = cluster[1]
    unit = community.get("/api/community")["unit"]
    people = {member["name"]: member for member in community.people()}
    ada, bruno = (id_from_text("m", people[name]["id"]) for name in ("Ada", "Bruno"))
    limits_before = {name: community.get(f"/api/balances?account={name}")[0] for name in ("Ada", "Bruno")}
    community.act(community.admin_key, SetLimits(account=ada, debit_limit_minor=10**8, credit_ceiling_minor=None))
    community.act(community.admin_key, SetLimits(account=bruno, debit_limit_minor=None, credit_ceiling_minor=10**9))
    paid = community.act(community.member_key("Ada"), Transfer(to=bruno, amount_minor=123450))
    [event] = community.get(f"/api/log?from={paid['seq']}&limit=1")["events"]
    proposed = community.act(community.admin_key, Propose("proposal", "Longer opening hours", "",
                                                          int(time.time() * 1000) + 3 * 86_400_000))
    balance = community.get("/api/balances?account=Bruno")[0]["balance"]
    grouped = {"es": r"\d{1,3}(\.\d{3})+,\d+", "en": r"\d{1,3}(,\d{3})+\.\d+"}
    for language, closes in (("es", "cierra <span class=\"time-left\">dentro de 3 días</span>"),
                             ("en", "closes <span class=\"time-left\">in 3 days</span>")):
        _, _, text = _page(community, f"/members/{people['Bruno']['id']}", language)
        shown = html.unescape(_between(text, f'data-minor="{balance}">', "<"))
        assert shown == money(balance, unit["decimals"], unit["code"], language), language
        assert re.fullmatch(grouped[language] + " " + unit["code"], shown), shown
        row = _between(text, f'<tr data-seq="{paid["seq"]}"', "</tr>")
        assert html.unescape(_between(row, '<td class="when muted">', "<br>")) == when(event["ts"], language)
        assert html.unescape(_between(row, '<td class="amount balance-after">', "<")) == shown
        _, _, front = _page(community, "/", language)
        assert closes in _between(front, f'data-decision="{proposed["seq"]}"', "</div>"), language
    member = f"/members/{people['Bruno']['id']}"
    _, _, typed = _page(community, member + "?amount=1.234%2C5", "es")
    assert 'value="1.234,50"' in typed and "#amount=1234.50" in typed
    _, _, refused = _page(community, member + "?amount=doce", "es")
    assert html.unescape(_between(refused, '<p class="bad">', "<")) == "doce no es un importe; escríbelo así: 12,50"
    _, _, refused = _page(community, member + "?amount=12%2C5", "en")  # a comma groups thousands in English
    assert html.unescape(_between(refused, '<p class="bad">', "<")) == "12,5 is not an amount; write it like 12.50"
    # As it was for the other tests of the cluster: paid back, and each one's limits as before.
    community.act(community.member_key("Bruno"), Transfer(to=ada, amount_minor=123450))
    for name, account in (("Ada", ada), ("Bruno", bruno)):
        before = limits_before[name]
        community.act(community.admin_key, SetLimits(account=account, debit_limit_minor=before["debit_limit"],
                                                      credit_ceiling_minor=before["credit_ceiling"]))
