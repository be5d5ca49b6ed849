"""The history screen on a real node in a real Chromium: every row shows the balance after it, so
the rows add up to the balance shown; a search of notes and names (the statement's `q`) keeps only
the rows that match, and never puts what was typed in the page's URL."""

from __future__ import annotations

from urllib.parse import unquote

from tallystick.protocol.events import Transfer
from tallystick.protocol.ids import id_from_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess

from .conftest import Phone
from .test_wallet_flow import invite, join_through


def test_the_history_adds_up_to_the_balance_and_finds_a_note_by_search(phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Searching Sam"))
    to_member = id_from_text("m", member)
    for name, amount, memo in [("Lark Apples", 1200, "apples for the fair"), ("Moss Bread", 350, "rye loaf"),
                               ("Lark Pears", 75, "pears")]:
        payer = wallet_node.admit(name)
        wallet_node.act(payer, Transfer(to=to_member, amount_minor=amount, memo=memo))
    page = phone.page
    page.goto(wallet_node.url + "/wallet/history", wait_until="load")
    rows = page.locator("#history-rows .row")
    wait_until(lambda: rows.count() == 4, what="the history's rows")  # three payments and the join
    assert page.locator("#balance-now").inner_text() == "Balance now: 16.25 HRS"
    afters = [row.locator(".after").inner_text() for row in rows.all()]
    assert afters == ["Balance after: 16.25 HRS", "Balance after: 15.50 HRS", "Balance after: 12.00 HRS",
                      "Balance after: 0.00 HRS"]
    assert fits_the_screen(page)
    phone.shoot("payments-history")

    sent_before = len(phone.requests)
    page.get_by_label("Search your history").fill("apples")
    wait_until(lambda: rows.count() == 1, what="the rows that match")
    assert "apples for the fair" in rows.first.inner_text() and "+12.00 HRS" in rows.first.inner_text()
    assert "Balance after: 12.00 HRS" in rows.first.inner_text()
    phone.shoot("payments-history-search")
    page.get_by_label("Search your history").fill("Lark")  # the other party's name matches too
    wait_until(lambda: rows.count() == 2, what="the rows of Lark's payments")
    page.get_by_label("Search your history").fill("zebra")
    empty = page.locator("#history-empty")
    wait_until(lambda: rows.count() == 0 and empty.is_visible(), what="no row matching")
    assert empty.inner_text() == "Nothing in your history matches that."
    assert "?" not in page.url  # what was typed is in no URL of the page's own
    searched = [r["url"] for r in phone.requests[sent_before:] if "/history?" in r["url"]]
    assert searched and all("/api/members/" in url for url in searched)
    assert not any("zebra" in unquote(r["url"]) for r in phone.requests if "/history" not in r["url"])
    assert phone.errors == []
