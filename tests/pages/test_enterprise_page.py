"""An enterprise's page (/enterprises/{ref}) in a real browser, against a real cluster: the Bakery
that `tally cluster up` registers shows its classes and its offer's subscriptions exactly as
/api/enterprises/Bakery gives them, `/` links to it, and an enterprise name a member typed shows as
text and never runs."""

from __future__ import annotations

import time

from tallystick.ledger.shares import enterprise_id
from tallystick.protocol.events import (
    DeclareDividend,
    FounderIssue,
    Holders,
    Propose,
    RegisterEnterprise,
    ShareClass,
    Transfer,
    Vote,
)
from tallystick.protocol.ids import id_from_text, id_to_text

from helpers.browsing import Browsing, Community, wait_until

hostile_name = "<img src=x onerror=alert(1)>"


def test_enterprise_page_shows_the_classes_and_offer_of_the_api(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[0]
    expected = community.get("/api/enterprises/Bakery")
    assert browsing.open(community.url + "/enterprises/Bakery").status == 200
    assert browsing.text("h1.enterprise-name") == "Bakery"
    rows = browsing.page.locator("table.classes tbody tr")
    assert rows.count() == len(expected["classes"])
    for share_class in expected["classes"]:
        row = browsing.page.locator(f'table.classes tr[data-class="{share_class["index"]}"]')
        assert row.locator(".class-name").inner_text() == share_class["name"]
        assert row.locator(".par").inner_text() == community.money(share_class["par"])
        assert row.locator(".outstanding").inner_text() == str(share_class["outstanding"])
    [offer] = expected["offers"]
    shown = browsing.page.locator(f'.offer[data-offer="{offer["id"]}"]')
    assert shown.locator(".subscribed").inner_text() == str(offer["subscribed_units"])
    assert shown.locator(".units").inner_text() == str(offer["units"])
    assert shown.locator(".min-units").inner_text() == str(offer["min_units"])
    # The register lists every holding of the API's cap table, and the transferable class has a book.
    assert browsing.page.locator("table.holders tbody tr[data-holder]").count() == len(expected["holders"])
    transferable = [c for c in expected["classes"] if c["transferable"]]
    assert browsing.page.locator("section.book").count() == len(transferable)
    # `/` lists the enterprise with its link.
    browsing.open(community.url + "/")
    browsing.page.locator(f'#enterprises a[href="/enterprises/{expected["id"]}"]').click()
    assert browsing.text("h1.enterprise-name") == "Bakery"


def test_unknown_enterprise_gets_a_404_page(cluster: list[Community], browsing: Browsing) -> None:
    assert browsing.open(cluster[0].url + "/enterprises/Nobody-Bakes-Here").status == 404
    assert "Nobody-Bakes-Here" in browsing.text(".not-found")


def test_an_enterprise_name_with_markup_shows_as_text_and_runs_nothing(
    cluster: list[Community], browsing: Browsing
) -> None:
    community = cluster[1]
    classes = (ShareClass("Ordinary <b>shares</b>", "investor", 1, 1, 100, False, True, None, False),)
    registered = community.act(community.admin_key, RegisterEnterprise(name=hostile_name, classes=classes))
    listed = wait_until(
        lambda: [e for e in community.get("/api/enterprises") if e["registered_seq"] == registered["seq"]],
        what="the enterprise in /api/enterprises",
    )
    enterprise_id = listed[0]["id"]
    browsing.open(community.url + "/enterprises/" + enterprise_id)
    assert browsing.text("h1.enterprise-name") == hostile_name
    assert browsing.text("table.classes .class-name") == "Ordinary <b>shares</b>"
    browsing.open(community.url + "/")
    assert browsing.page.locator(f'#enterprises [data-enterprise="{enterprise_id}"] a').inner_text() == hostile_name
    assert browsing.page.locator("#enterprises img").count() == 0
    assert browsing.dialogs == [] and browsing.errors == []


def test_enterprise_page_lists_the_dividends_its_holders_declared(cluster: list[Community], browsing: Browsing) -> None:
    """An enterprise whose founder holds every share (with a dividend weight) declares a dividend by
    a holders' decision; once the decision closes, the page lists it as paid, with the amount and the
    closing event of /api/decisions/{id}; the decision's title is text."""
    community = cluster[2]
    founders = ShareClass("Founders", "founder", 1, 1, 100, False, False, None, False)
    registered = community.act(community.member_key("Chiara"), RegisterEnterprise("Press", (founders,), (FounderIssue(0, 10),)))
    press = enterprise_id(id_from_text("n", community.node), registered["seq"])
    community.act(community.member_key("Ada"), Transfer(to=press, amount_minor=500, memo="cider"))
    title = "<b>Dividend</b> for the year"
    proposed = community.act(community.member_key("Chiara"), Propose(
        "proposal", title, "", int(time.time() * 1000) + 1500, electorate=Holders(press), effect=DeclareDividend(press, 300)))
    community.act(community.member_key("Chiara"), Vote(decision=proposed["seq"], position="agree"))
    decision = wait_until(lambda: (found := community.get(f"/api/decisions/{proposed['seq']}"))["closed_seq"] and found,
                          what="the dividend decision closing")
    assert decision["outcome"] == "passed"
    browsing.open(f"{community.url}/enterprises/{id_to_text('e', press)}")
    row = browsing.page.locator(f'table.dividends tr[data-decision="{proposed["seq"]}"]')
    assert row.count() == 1
    assert row.locator(".dividend-amount").inner_text() == community.money(decision["effect"]["amount_minor"])
    assert f"#{decision['closed_seq']}" in row.inner_text() and "paid" in row.inner_text()
    assert row.locator(".title").inner_text() == title
    assert browsing.page.locator("main b").count() == 0
