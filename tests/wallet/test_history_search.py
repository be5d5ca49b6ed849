"""The history screen on a real node in a real Chromium: every row shows the balance after it, so
the rows add up to the balance shown; a search of notes and names (the statement's `q`) keeps only
the rows that match, and never puts what was typed in the page's URL; "Download statement" saves
this year's statement as CSV and OFX, the bytes the node serves for that period, and refuses a
period that runs backwards in one line without asking the node."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from tallystick.protocol.events import Transfer
from tallystick.protocol.ids import id_from_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess
from helpers.support import signed_get

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


def test_the_statement_downloads_as_csv_and_ofx_for_a_period_and_a_backward_period_is_refused(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Ledger Lou"))
    payer = wallet_node.admit("Fern Ledger")
    wallet_node.act(payer, Transfer(to=id_from_text("m", member), amount_minor=425, memo="plums"))
    page = phone.page
    page.goto(wallet_node.url + "/wallet/history", wait_until="load")
    wait_until(lambda: page.locator("#history-rows .row").count() == 2, what="the history's rows")
    first = page.get_by_label("From", exact=True)
    assert re.fullmatch(r"\d{4}-01-01", first.input_value())  # this year by default
    with page.expect_download() as got:
        page.get_by_role("button", name="Statement (CSV)").click()
    saved = got.value
    assert re.fullmatch(rf"statement-{member}-\d{{4}}-01-01-\d{{4}}-\d{{2}}-\d{{2}}\.csv", saved.suggested_filename)
    text = Path(saved.path()).read_bytes()
    asked = [r["url"] for r in phone.requests if "/api/exports/statement/" in r["url"]]
    assert len(asked) == 1 and "from=" in asked[0] and "format" not in asked[0]
    assert text == signed_get(asked[0], wallet_node.admin_key).body  # what the node serves for that period
    assert b"plums" in text and b"Fern Ledger" in text and b"4.25" in text
    wait_until(lambda: page.locator("#statement-status").inner_text() == "Saved in this device's downloads.",
               what="the status line")
    with page.expect_download() as got:
        page.get_by_role("button", name="Statement (OFX)").click()
    ofx = Path(got.value.path()).read_text()
    assert got.value.suggested_filename.endswith(".ofx") and "<CURDEF>HRS" in ofx and "4.25" in ofx
    assert fits_the_screen(page)
    phone.shoot("links-history-download")

    # A period that runs backwards: one line, focus on its first day, nothing asked of the node.
    sent_before = len(phone.requests)
    first.fill("2026-12-31")
    page.get_by_label("To (included)").fill("2026-01-01")
    page.get_by_role("button", name="Statement (CSV)").click()
    alert = page.locator("#statement-download").get_by_role("alert")
    wait_until(lambda: alert.count(), what="the refusal")
    assert alert.inner_text() == "The first day must be on or before the last: change one of them."
    assert not any("/api/exports/" in r["url"] for r in phone.requests[sent_before:])
    assert phone.errors == []
