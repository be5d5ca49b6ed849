"""The wallet's outbox on a real node in a real Chromium: a payment confirmed with the network off
(Playwright's `set_offline`) is signed and kept on the device, shown as waiting to send on home and
in the history, survives a reload served by the service worker, and is sent once when the network
returns, with two tabs open; a send whose first answer was lost is counted once (the node's
`replayed_nonce`, confirmed by GET /api/members/{id}/intents/{nonce}); a payment the node refuses
when it is finally sent is kept as refused, in one line, until dismissed; a waiting one can be
cancelled, and nothing is paid; past its bound the outbox refuses in one line."""

from __future__ import annotations

import base64
import json
from typing import Any

from tallystick.protocol.events import SetLimits
from tallystick.protocol.ids import id_from_text, id_to_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess

from .conftest import Phone
from .test_wallet_flow import balance_of, invite, join_through


def payments_to(node: NodeProcess, payer: str, payee: str) -> list[dict[str, Any]]:
    rows = node.get(f"/api/members/{payer}/history?limit=200")["rows"]
    return [row for row in rows if row["counterparty"] == payee and row["amount"] < 0]


def controlled(phone: Phone) -> None:
    """Wait for the service worker, and reload so that it serves this page (and its reloads offline)."""
    wait_until(lambda: phone.page.evaluate(
        "async () => Boolean((await navigator.serviceWorker.getRegistration('/wallet'))?.active)"),
        what="the service worker active")
    phone.page.reload(wait_until="load")
    wait_until(lambda: phone.page.evaluate("Boolean(navigator.serviceWorker.controller)"), what="a controlled page")


def outbox_of(phone: Phone) -> list[dict[str, Any]]:
    return phone.page.evaluate("async () => (await import('/wallet/static/store.js')).outboxEntries()")


def pay_offline(phone: Phone, node: NodeProcess, payee: str, amount: str) -> None:
    """Open the pay screen for `payee` online, turn the network off, and pay `amount`."""
    page = phone.page
    page.goto(f"{node.url}/wallet/pay?to={payee}", wait_until="load")
    wait_until(lambda: page.locator("#payee").count(), what="the pay screen")
    phone.context.set_offline(True)
    page.get_by_label("Amount in HRS").fill(amount)
    page.get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Pay now").click()
    wait_until(lambda: page.locator("#queued").count(), what="the payment kept to send")


def waiting_rows(phone: Phone) -> Any:
    return phone.page.locator("#outbox .row")


def test_a_payment_made_offline_waits_survives_a_reload_and_is_sent_once_when_back_online(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Offline Payer"))
    payee_key = wallet_node.admit("Fenna Outbox")
    payee = id_to_text("m", payee_key.public)
    controlled(phone)
    page = phone.page
    try:
        pay_offline(phone, wallet_node, payee, "3.50")
        assert "3.50 HRS to Fenna Outbox" in page.locator("main").inner_text()
        phone.shoot("payments-queued")
        page.get_by_role("link", name="Back home").click()
        wait_until(lambda: waiting_rows(phone).count() == 1, what="the payment waiting on home")
        row = waiting_rows(phone).first
        assert "Fenna Outbox" in row.inner_text() and "-3.50 HRS" in row.inner_text()
        assert "Waiting to send" in row.inner_text()
        # Reloaded offline: the service worker serves the shell, the outbox is on the device.
        page.reload(wait_until="load")
        wait_until(lambda: waiting_rows(phone).count() == 1, what="the payment waiting after a reload offline")
        assert page.get_by_role("alert").inner_text() == ("The node cannot be reached: "
                                                          "check your connection and try again.")
        assert fits_the_screen(page)
        phone.shoot("payments-home-offline")
        page.goto(wallet_node.url + "/wallet/history", wait_until="load")
        wait_until(lambda: waiting_rows(phone).count() == 1, what="the payment waiting in the history")
        phone.shoot("payments-history-offline")
        assert payments_to(wallet_node, member, payee) == []  # nothing reached the node
    finally:
        phone.context.set_offline(False)
    wait_until(lambda: waiting_rows(phone).count() == 0 and outbox_of(phone) == [], what="the payment sent")
    wait_until(lambda: page.locator("#history-rows .row").count() >= 1, what="the payment in the history")
    assert "Fenna Outbox" in page.locator("#history-rows").inner_text()
    [paid] = payments_to(wallet_node, member, payee)
    assert paid["amount"] == -350
    assert balance_of(wallet_node, payee) == 350
    assert phone.errors == []


def test_with_two_tabs_open_a_payment_kept_offline_is_shown_in_both_and_sent_once(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Twotab Payer"))
    payee = id_to_text("m", wallet_node.admit("Gale Twotab").public)
    controlled(phone)
    other = phone.context.new_page()
    other.goto(wallet_node.url + "/wallet", wait_until="load")
    wait_until(lambda: other.locator("#balance").count(), what="home in the second tab")
    try:
        pay_offline(phone, wallet_node, payee, "2")
        # The second tab, open at home, shows it too (the outbox tells every tab).
        wait_until(lambda: other.locator("#outbox .row").count() == 1, what="the payment in the second tab")
        assert "Waiting to send" in other.locator("#outbox").inner_text()
    finally:
        phone.context.set_offline(False)  # both tabs come online at once, and both try to send
    phone.page.goto(wallet_node.url + "/wallet", wait_until="load")
    wait_until(lambda: outbox_of(phone) == [], what="the payment sent")
    wait_until(lambda: other.locator("#outbox .row").count() == 0, 30, what="the second tab told it was sent")
    wait_until(lambda: other.locator("#balance").inner_text() == "-2.00 HRS", what="the second tab's balance")
    assert len(payments_to(wallet_node, member, payee)) == 1
    assert balance_of(wallet_node, payee) == 200
    assert phone.errors == []


def test_a_send_whose_answer_was_lost_is_counted_once(phone: Phone, wallet_node: NodeProcess) -> None:
    """The kept bytes reach the node (here: the test posts them, as a first send whose answer never
    came back); the wallet's own send is then refused as a replay, asks the node, and settles."""
    member = join_through(phone, invite(wallet_node, "--name", "Lost Answer"))
    payee = id_to_text("m", wallet_node.admit("Hale Lostanswer").public)
    controlled(phone)
    try:
        pay_offline(phone, wallet_node, payee, "1.25")
        [kept] = outbox_of(phone)
        signed = base64.b64decode(json.loads(kept["body"])["intent"])
        first = wallet_node.post_intent(signed)
        assert first.status == 201, first.body
        phone.page.get_by_role("link", name="Back home").click()
        wait_until(lambda: waiting_rows(phone).count() == 1, what="the payment waiting")
    finally:
        phone.context.set_offline(False)
    sent: list[int] = []
    phone.page.on("response", lambda answer: sent.append(answer.status) if answer.url.endswith("/api/intents") else None)
    wait_until(lambda: outbox_of(phone) == [], what="the payment settled")
    assert 409 in sent  # its second send was refused as a replay, and counted as sent
    assert len(payments_to(wallet_node, member, payee)) == 1
    assert balance_of(wallet_node, payee) == 125
    assert phone.errors == []


def test_a_payment_refused_when_it_is_sent_stays_refused_in_one_line_until_dismissed(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Refused Later"))
    payee = id_to_text("m", wallet_node.admit("Ivo Refusedlater").public)
    controlled(phone)
    try:
        pay_offline(phone, wallet_node, payee, "30")
        # Meanwhile the admin lowers the member's debit limit: 30.00 no longer fits.
        wallet_node.act(wallet_node.admin_key, SetLimits(account=id_from_text("m", member), debit_limit_minor=1000,
                                                         credit_ceiling_minor=None))
        phone.page.get_by_role("link", name="Back home").click()
        wait_until(lambda: waiting_rows(phone).count() == 1, what="the payment waiting")
    finally:
        phone.context.set_offline(False)
    refusal = phone.page.locator("#outbox .refusal")
    wait_until(lambda: refusal.count() == 1 and "at most 10.00 HRS" in refusal.inner_text(), what="the refusal")
    assert refusal.inner_text() == "That would take you past your debit limit: you can pay at most 10.00 HRS."
    assert "Refused when it was sent" in phone.page.locator("#outbox").inner_text()
    phone.shoot("payments-refused")
    phone.page.get_by_role("button", name="Dismiss the refused payment of 30.00 HRS to Ivo Refusedlater").click()
    wait_until(lambda: outbox_of(phone) == [] and waiting_rows(phone).count() == 0, what="the refusal dismissed")
    assert payments_to(wallet_node, member, payee) == []
    assert balance_of(wallet_node, member) == 0
    assert phone.errors == []


def test_a_waiting_payment_cancelled_offline_is_never_paid(phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Cancel Kit"))
    payee = id_to_text("m", wallet_node.admit("Jory Cancel").public)
    controlled(phone)
    try:
        pay_offline(phone, wallet_node, payee, "4")
        phone.page.get_by_role("link", name="Back home").click()
        cancel = phone.page.get_by_role("button", name="Cancel the payment of 4.00 HRS to Jory Cancel")
        wait_until(cancel.count, what="the cancel button")
        cancel.focus()
        phone.page.keyboard.press("Enter")
        wait_until(lambda: outbox_of(phone) == [] and waiting_rows(phone).count() == 0, what="the payment cancelled")
        assert phone.page.evaluate("document.activeElement.id") == "screen"  # the focus is not lost with the row
    finally:
        phone.context.set_offline(False)
    phone.page.goto(wallet_node.url + "/wallet", wait_until="load")
    wait_until(lambda: phone.page.locator("#balance").count(), what="home online")
    assert payments_to(wallet_node, member, payee) == []
    assert balance_of(wallet_node, payee) == 0


def test_past_its_bound_the_outbox_refuses_in_one_line_and_what_it_holds_is_sent_in_order(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Full Box"))
    payee = id_to_text("m", wallet_node.admit("Kit Fullbox").public)
    controlled(phone)
    page = phone.page
    page.goto(f"{wallet_node.url}/wallet/pay?to={payee}", wait_until="load")
    wait_until(lambda: page.locator("#payee").count(), what="the pay screen")
    page.get_by_label("Amount in HRS").fill("5")
    page.get_by_role("button", name="Review").click()
    try:
        phone.context.set_offline(True)
        # The outbox filled to its bound with payments the device signs as the pay screen does.
        bound = page.evaluate("""async (payee) => {
          const outbox = await import("/wallet/static/outbox.js");
          const intents = await import("/wallet/static/intents.js");
          const keys = await import("/wallet/static/keys.js");
          const { idFromText } = await import("/wallet/static/ids.js");
          const store = await import("/wallet/static/store.js");
          const device = await keys.loadDevice();
          const { node } = await store.get("community");
          for (let index = 1; index <= outbox.outboxEntriesMax; index += 1) {
            const nonce = await intents.nextNonce();
            const signed = await intents.signMemberIntent({ privateKey: device.pair.privateKey, key: device.publicKey,
              feed: idFromText("n", node), nonce, action: intents.transfer(idFromText("m", payee), BigInt(index), "") });
            await outbox.add({ nonce, body: intents.intentJson(signed), kind: "transfer", minor: index, received: null,
              toUnit: null, to: { id: payee, name: "Kit Fullbox", community: null, communityName: null } });
          }
          return outbox.outboxEntriesMax;
        }""", payee)
        page.get_by_role("button", name="Pay now").click()
        alert = page.get_by_role("alert")
        wait_until(alert.count, what="the refusal past the bound")
        assert alert.inner_text() == (f"{bound} payments are already waiting to send: "
                                      "wait until they are sent, or cancel one.")
        phone.shoot("payments-outbox-full")
        assert len(outbox_of(phone)) == bound
    finally:
        phone.context.set_offline(False)
    page.goto(wallet_node.url + "/wallet", wait_until="load")
    wait_until(lambda: outbox_of(phone) == [], deadline_seconds=30, what="every kept payment sent")
    paid = payments_to(wallet_node, member, payee)
    assert [-row["amount"] for row in reversed(paid)] == list(range(1, bound + 1))  # once each, oldest first
    assert balance_of(wallet_node, payee) == bound * (bound + 1) // 2
    assert phone.errors == []


def test_a_page_closed_while_sending_leaves_the_payment_to_the_next_page_which_sends_it_once(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Closed Midsend"))
    payee = id_to_text("m", wallet_node.admit("Lune Midsend").public)
    controlled(phone)
    try:
        pay_offline(phone, wallet_node, payee, "6")
        # The send that follows never gets its answer: the request stalls, and the page is closed.
        phone.context.route("**/api/intents", lambda route: None)
    finally:
        phone.context.set_offline(False)
    wait_until(lambda: [entry["status"] for entry in outbox_of(phone)] == ["sending"], what="the payment on its way")
    phone.page.close()
    phone.context.unroute("**/api/intents")
    phone.page = phone.context.new_page()
    phone.page.goto(wallet_node.url + "/wallet", wait_until="load")
    wait_until(lambda: outbox_of(phone) == [], what="the payment sent by the next page")
    assert len(payments_to(wallet_node, member, payee)) == 1
    assert balance_of(wallet_node, payee) == 600
