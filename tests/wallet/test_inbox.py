"""The inbox in the wallet, on a real node in a real Chromium at a phone's size
(docs/notifications.md): a member who is paid sees the unread count on home, opens the inbox and
reads "… paid you 5.00 HRS" marked new, which opening marks read; from More they reach the
notification settings, are told in one line that an address is not one, set a real address, their
mails in Spanish and payments off, after which a payment is not in the inbox; the mails' language
goes back to the community's. More links the community's yearly report. On a node whose digest
window is two seconds, the weekly digest lists the titles it counts under its line. Screenshots `inbox-*` at 360 and
1280 px."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from tallystick.protocol.events import ProposeWithPeriod, Transfer
from tallystick.protocol.ids import id_from_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess, init_home

from .conftest import Phone
from .test_wallet_flow import invite, join_through


def folded_seq(node: NodeProcess) -> int:
    with sqlite3.connect(f"file:{node.home / 'notifications.db'}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT seq FROM fold_cursor").fetchone()[0]


def settings_of(page: Any, member: str) -> dict[str, Any]:
    """The member's settings as the node answers them, read by the page's own session."""
    return page.evaluate("async (path) => (await fetch(path)).json()", f"/api/members/{member}/notifications")


def inbox_of(page: Any, member: str) -> dict[str, Any]:
    return page.evaluate("async (path) => (await fetch(path)).json()", f"/api/members/{member}/inbox")


def pay(node: NodeProcess, member: str, amount_minor: int) -> dict[str, Any]:
    return node.act(node.admin_key, Transfer(to=id_from_text("m", member), amount_minor=amount_minor,
                                             memo="Private-Note-Of-The-Admin"))


def test_a_paid_member_reads_it_in_the_inbox_turns_payments_off_and_sets_an_address(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Wren Hollis", "--expires", "1d"))
    page = phone.page
    paid = pay(wallet_node, member, 500)
    wait_until(lambda: folded_seq(wallet_node) >= paid["seq"], what="the 5.00 payment folded")
    page.reload(wait_until="load")
    inbox_link = page.locator("#inbox-link")
    # At least the payment is new (the package's node may have given a digest meanwhile too).
    wait_until(lambda: re.fullmatch(r"Inbox, [0-9]+ new", inbox_link.inner_text()), what="the unread count on home")
    assert fits_the_screen(page)
    phone.shoot("inbox-home")
    inbox_link.click()
    rows = page.locator('#inbox li[data-kind="payment_received"]')
    wait_until(lambda: rows.count() == 1, what="the inbox")
    line = rows.first.inner_text()
    assert "paid you 5.00 HRS" in line and "New" in line and "Private-Note" not in line
    assert rows.first.get_by_role("link").get_attribute("href") == "/wallet/history"
    assert fits_the_screen(page)
    phone.shoot("inbox")

    # Opened, it is read: home names no new notice.
    page.get_by_role("navigation").get_by_role("link", name="Home").click()
    wait_until(lambda: page.locator("#balance").count(), what="home again")
    assert page.locator("#inbox-link").inner_text() == "Inbox"

    page.get_by_role("navigation").get_by_role("link", name="More").click()
    report = page.get_by_role("link", name="The community's yearly report")
    wait_until(lambda: report.count(), what="More")
    assert report.get_attribute("href") == "/report"
    page.get_by_role("link", name="Notifications: what you are told, and by e-mail").click()
    address = page.get_by_label("E-mail address (optional)")
    wait_until(lambda: address.count(), what="the notification settings")
    address.fill("wren at example")
    page.get_by_role("button", name="Save").click()
    wait_until(lambda: page.get_by_role("alert").count(), what="the refusal")
    assert page.get_by_role("alert").inner_text() == (
        "That is not an e-mail address: write it as name@example.org, or leave it empty.")
    address.fill("wren@example.org")
    language = page.get_by_label("Language of your e-mails")
    assert language.input_value() == ""  # the community's, English
    assert language.locator("option").all_inner_texts() == ["The community's language (English)", "English", "Español"]
    language.select_option("es")
    page.get_by_label("I am paid", exact=True).uncheck()
    page.get_by_role("button", name="Save").click()
    wait_until(lambda: page.locator("#notify-status").inner_text() == "Saved. E-mails go to wren@example.org.",
               what="the settings saved")
    assert settings_of(page, member)["language"] == "es"
    assert fits_the_screen(page)
    phone.shoot("inbox-notifications")

    paid = pay(wallet_node, member, 200)
    wait_until(lambda: folded_seq(wallet_node) >= paid["seq"], what="the 2.00 payment folded")
    page.get_by_role("link", name="Open your inbox").click()
    wait_until(lambda: page.locator("#inbox li").count(), what="the inbox again")
    assert rows.count() == 1 and "2.00 HRS" not in page.locator("#inbox").inner_text()
    page.get_by_role("link", name="Choose what you are told, and by e-mail").click()
    wait_until(lambda: page.get_by_label("Language of your e-mails").input_value() == "es", what="Spanish kept")
    page.get_by_label("Language of your e-mails").select_option("")
    page.get_by_role("button", name="Save").click()
    wait_until(lambda: page.locator("#notify-status").inner_text(), what="saved again")
    assert settings_of(page, member)["language"] == "en"  # the community's default_language again
    page.get_by_role("link", name="Open your inbox").click()
    wait_until(lambda: page.locator("#inbox li").count(), what="the inbox once more")
    page.reload(wait_until="load")
    wait_until(lambda: page.get_by_label("E-mail address (optional)").count() or page.locator("#inbox li").count(),
               what="the inbox reloaded")
    assert not phone.errors, phone.errors


def test_a_digest_in_the_inbox_lists_the_titles_it_counts(phone: Phone, tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = init_home(home, debit_limit="50", credit_ceiling="1000")
    config = json.loads((home / "config.json").read_text())
    # A window of two seconds rather than a week, passed every 200 ms: the digest comes in the next one.
    config.update(reminders_interval_ms=200, digest_interval_ms=2000)
    (home / "config.json").write_text(json.dumps(config))
    node = NodeProcess(home=home, port=config["listen_port"], log_path=tmp_path / "serve.log", created=created).start()
    try:
        member = join_through(phone, invite(node, "--name", "Iris Dale"))
        seller = node.admit("Tom Reed")
        node.act(seller, ProposeWithPeriod(decision_type="poll", title="Harvest <b>Fair</b> Day", text="Which day?",
                                           deadline_ms=0, options=("Friday", "Saturday"),
                                           voting_period_ms=7 * 24 * 3_600_000))
        page = phone.page
        wait_until(lambda: any(n["kind"] == "weekly_digest" and n.get("titles", {}).get("decisions")
                               for n in inbox_of(page, member)["notices"]), 10.0, "a digest naming the decision")
        page.goto(node.url + "/wallet/inbox", wait_until="load")
        digest = page.locator('#inbox li[data-kind="weekly_digest"]').first
        wait_until(digest.count, what="the digest in the inbox")
        assert "Decisions open:" in digest.inner_text()
        assert digest.locator(".titles li").all_inner_texts()[-1] == "Harvest <b>Fair</b> Day"  # as text, never markup
        assert page.locator("#inbox b").count() == 0
        assert fits_the_screen(page)
        phone.shoot("links-inbox-digest")
        assert not phone.errors, phone.errors
    finally:
        assert node.stop() == 0
