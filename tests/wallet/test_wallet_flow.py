"""The wallet end to end, on a real node in a real Chromium at a phone's size: an admin invites with
`tally member invite`, the invitee opens the link, joins with a key made on the device, sees the
admin's payment arrive live, pays another member found by name (confirm, then receipt), and is
refused, in one line, a payment past their limit. What the page sent is recorded throughout: the
invitation's seed and the device's private key never leave the device, and the stored key cannot
be exported."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import unquote

from tallystick.protocol.events import Transfer
from tallystick.protocol.ids import id_from_text, id_to_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess
from helpers.support import tally_json

from .conftest import Phone, open_phone


def invite(node: NodeProcess, *options: str) -> str:
    made = tally_json("member", "invite", "--node", node.url, "--key", node.home / "admin.key", *options, "--json")
    return made["link"]


def seed_text_of(link: str) -> str:
    fragment = link.split("#", 1)[1]
    return dict(part.split("=", 1) for part in fragment.split("&"))["i"]


def device_of(phone: Phone) -> dict[str, Any]:
    return phone.page.evaluate("""async () => {
      const keys = await import("/wallet/static/keys.js");
      const device = await keys.loadDevice();
      return { member: device.member, joined: device.joined };
    }""")


def balance_of(node: NodeProcess, member: str) -> int:
    (account,) = node.get(f"/api/balances?account={member}")
    return account["balance"]


def join_through(phone: Phone, link: str) -> str:
    phone.page.goto(link, wait_until="load")
    phone.page.get_by_role("button", name="Join").click()
    wait_until(lambda: phone.page.locator("#balance").count(), what="the home screen after joining")
    return device_of(phone)["member"]


def test_an_invitee_joins_is_paid_live_pays_by_name_and_is_refused_past_the_limit(
        phone: Phone, wallet_node: NodeProcess) -> None:
    link = invite(wallet_node, "--name", "Zoë Quill", "--expires", "1d")
    payee = wallet_node.admit("Bexley Tarn")
    page = phone.page
    page.goto(link, wait_until="load")
    name_field = page.get_by_label("Your name")
    wait_until(lambda: name_field.count(), what="the join form")
    assert name_field.input_value() == "Zoë Quill"
    assert wallet_node.get("/api/community")["name"] in page.locator("h1").inner_text()
    assert fits_the_screen(page)
    phone.shoot("join")
    page.get_by_role("button", name="Join").click()
    wait_until(lambda: page.locator("#balance").count(), what="the home screen after joining")
    assert "#" not in page.url and page.url.endswith("/wallet")

    device = device_of(phone)
    assert device["joined"]
    member = device["member"]
    listed = {entry["id"]: entry for entry in wallet_node.get("/api/members")}
    assert listed[member]["name"] == "Zoë Quill" and listed[member]["active"] and listed[member]["role"] == "member"
    assert page.locator("h1").inner_text() == "Zoë Quill"
    assert re.fullmatch(r"0\.00 HRS", page.locator("#balance").inner_text())
    assert "-50.00 HRS" in page.locator("#limits").inner_text()

    # The admin pays them: the balance changes on the open screen, by the stream, with no reload.
    wallet_node.act(wallet_node.admin_key, Transfer(to=id_from_text("m", member), amount_minor=2500, memo="welcome"))
    wait_until(lambda: page.locator("#balance").inner_text() == "25.00 HRS", what="the live balance")
    wait_until(lambda: "welcome" in page.locator("#latest").inner_text(), what="the latest payment")
    assert "+25.00 HRS" in page.locator("#latest").inner_text()
    assert fits_the_screen(page)
    phone.shoot("home")

    # Pay Bexley by name: search, choose, amount, confirm, receipt.
    page.get_by_role("navigation").get_by_role("link", name="Pay").click()
    search = page.get_by_label("To")
    search.fill("bex")
    choice = page.get_by_role("button", name="Pay Bexley Tarn")
    wait_until(lambda: choice.count(), what="the payee found by name")
    phone.shoot("pay-search")
    choice.click()
    page.get_by_label("Amount in HRS").fill("7,5")
    page.get_by_label("Note (optional)").fill("paint")
    phone.shoot("pay-form")
    page.get_by_role("button", name="Review").click()
    assert page.locator("#confirm-payee").inner_text() == "Bexley Tarn"
    assert page.locator("#confirm-amount").inner_text() == "7.50 HRS"
    phone.shoot("pay-confirm")
    page.get_by_role("button", name="Pay now").click()
    wait_until(lambda: page.locator("#receipt").count(), what="the receipt")
    assert "7.50 HRS to Bexley Tarn" in page.locator("main").inner_text()
    assert "17.50 HRS" in page.locator("#receipt-balance").inner_text()
    phone.shoot("pay-receipt")
    assert balance_of(wallet_node, member) == 1750
    assert balance_of(wallet_node, id_to_text("m", payee.public)) == 750
    statement = wallet_node.get(f"/api/members/{member}/history?limit=5")
    assert statement["rows"][0]["memo"] == "paint" and statement["rows"][0]["amount"] == -750

    # Past the debit limit (balance 17.50, limit 50.00): one line saying what to do, nothing paid.
    page.get_by_role("link", name="Pay someone else").click()
    page.get_by_label("To").fill("Bexley")
    wait_until(lambda: choice.count(), what="the payee found again")
    choice.click()
    page.get_by_label("Amount in HRS").fill("100")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Pay now").click()
    alert = page.get_by_role("alert")
    wait_until(lambda: alert.count(), what="the refusal")
    assert alert.inner_text() == "That would take you past your debit limit: you can pay at most 67.50 HRS."
    phone.shoot("pay-refused")
    assert balance_of(wallet_node, member) == 1750

    # Receive, history and settings draw too (and fit a phone): Receive from home.
    page.get_by_role("navigation").get_by_role("link", name="Home").click()
    page.get_by_role("main").get_by_role("link", name="Receive").click()
    wait_until(lambda: page.locator("svg.qr").count(), what="the QR code")
    assert page.locator("#pay-link").inner_text() == f"{wallet_node.url}/wallet/pay?to={member}"
    assert fits_the_screen(page)
    phone.shoot("receive")
    page.get_by_role("navigation").get_by_role("link", name="Home").click()
    page.get_by_role("link", name="All history").click()
    wait_until(lambda: page.locator(".row").count() >= 2, what="the history")
    assert "Bexley Tarn" in page.locator("main").inner_text()
    phone.shoot("history")
    page.get_by_role("navigation").get_by_role("link", name="More").click()
    wait_until(lambda: page.locator("#member-id").count(), what="the settings")
    assert page.locator("#member-id").inner_text() == member
    wait_until(lambda: "this device" in page.locator("#sessions").inner_text(), what="the sessions")
    phone.shoot("settings")

    # The keys stayed on the device.
    seed_text = seed_text_of(link)
    seed = base64.b32decode(seed_text.upper() + "=" * (-len(seed_text) % 8))
    forms = {seed_text, seed_text.upper(), seed.hex(), base64.b64encode(seed).decode(),
             base64.urlsafe_b64encode(seed).decode().rstrip("=")}
    assert phone.requests
    for request in phone.requests:
        sent = request["url"] + " " + " ".join(f"{k}: {v}" for k, v in request["headers"].items())
        body = request["body"]
        for form in forms:
            assert form not in sent and form.encode() not in body, request["url"]
        assert "Zo%C3%AB" not in request["url"] and "Quill" not in unquote(request["url"])
    exported = page.evaluate("""async () => {
      const keys = await import("/wallet/static/keys.js");
      const device = await keys.loadDevice();
      const out = { extractable: device.pair.privateKey.extractable, refused: [] };
      for (const format of ["pkcs8", "jwk", "raw"]) {
        try { await crypto.subtle.exportKey(format, device.pair.privateKey); out.refused.push(false); }
        catch (error) { out.refused.push(error.name); }
      }
      return out;
    }""")
    assert exported["extractable"] is False
    assert all(exported["refused"]), exported
    assert phone.errors == []


def test_a_used_invitation_shows_one_line_saying_what_to_do(browser: Any, wallet_node: NodeProcess) -> None:
    link = invite(wallet_node, "--name", "Once Only")
    for first in open_phone(browser):
        join_through(first, link)
    for second in open_phone(browser):
        second.page.goto(link, wait_until="load")
        second.page.get_by_role("button", name="Join").click()
        alert = second.page.get_by_role("alert")
        wait_until(alert.count, what="the refusal")
        assert alert.inner_text() == ("This invitation was already used or withdrawn: "
                                      "ask whoever invited you for a new one.")
        second.shoot("join-used")
        device = second.page.evaluate(
            "async () => (await (await import('/wallet/static/keys.js')).loadDevice()) ?? null")
        assert device is None  # the refused key is not kept


def test_a_pay_link_opens_the_pay_screen_filled_in(phone: Phone, wallet_node: NodeProcess) -> None:
    link = invite(wallet_node, "--name", "Link Payer")
    member = join_through(phone, link)
    wallet_node.act(wallet_node.admin_key, Transfer(to=id_from_text("m", member), amount_minor=1000))
    payee = wallet_node.admit("Corin Vale")
    phone.page.goto(f"{wallet_node.url}/wallet/pay?to={id_to_text('m', payee.public)}#amount=2.25&memo=eggs",
                    wait_until="load")
    wait_until(lambda: phone.page.locator("#payee").count(), what="the payee from the link")
    assert phone.page.locator("#payee").inner_text() == "Corin Vale"
    assert phone.page.get_by_label("Amount in HRS").input_value() == "2.25"
    assert phone.page.get_by_label("Note (optional)").input_value() == "eggs"
    phone.page.get_by_role("button", name="Review").click()
    phone.page.get_by_role("button", name="Pay now").click()
    wait_until(lambda: phone.page.locator("#receipt").count(), what="the receipt")
    assert balance_of(wallet_node, id_to_text("m", payee.public)) == 225


def test_an_amount_with_too_many_decimals_is_refused_before_anything_is_signed(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Careful Counter"))
    payee = wallet_node.admit("Dara Penn")
    phone.page.goto(f"{wallet_node.url}/wallet/pay?to={id_to_text('m', payee.public)}", wait_until="load")
    wait_until(lambda: phone.page.locator("#payee").count(), what="the pay screen")
    sent_before = len(phone.requests)
    for typed, line in [("1.234", "At most 2 digits after the decimal point."), ("0", "The amount must be more than zero."),
                        ("-3", "Write the amount in digits, like 12.50."), ("", "Enter an amount.")]:
        phone.page.get_by_label("Amount in HRS").fill(typed)
        phone.page.get_by_role("button", name="Review").click()
        assert phone.page.get_by_role("alert").inner_text() == line
    assert not [r for r in phone.requests[sent_before:] if r["url"].endswith("/api/intents")]
    assert balance_of(wallet_node, member) == 0


def test_the_wallet_opens_offline_from_its_service_worker(phone: Phone, wallet_node: NodeProcess) -> None:
    join_through(phone, invite(wallet_node, "--name", "Offline Olu"))
    wait_until(lambda: phone.page.evaluate(
        "async () => Boolean((await navigator.serviceWorker.getRegistration('/wallet'))?.active)"),
        what="the service worker active")
    phone.page.reload(wait_until="load")  # now controlled by the worker
    wait_until(lambda: phone.page.evaluate("Boolean(navigator.serviceWorker.controller)"), what="a controlled page")
    phone.context.set_offline(True)
    try:
        phone.page.goto(wallet_node.url + "/wallet/history", wait_until="load")
        alert = phone.page.get_by_role("alert")
        wait_until(lambda: alert.count(), what="the offline line")
        assert alert.inner_text() == "The node cannot be reached: check your connection and try again."
        assert phone.page.locator("#community").inner_text() == wallet_node.get("/api/community")["name"]
        phone.shoot("offline")
    finally:
        phone.context.set_offline(False)



def test_a_payment_can_be_made_with_the_keyboard_alone_with_a_visible_focus(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Keyboard Kit"))
    wallet_node.act(wallet_node.admin_key, Transfer(to=id_from_text("m", member), amount_minor=500))
    payee = wallet_node.admit("Eden Moss")
    page = phone.page
    page.goto(f"{wallet_node.url}/wallet/pay?to={id_to_text('m', payee.public)}", wait_until="load")
    wait_until(lambda: page.locator("#payee").count(), what="the pay screen")

    def focused() -> dict[str, str]:
        return page.evaluate("""() => ({ id: document.activeElement.id, tag: document.activeElement.tagName,
          outline: getComputedStyle(document.activeElement).outlineStyle })""")

    for _ in range(30):
        page.keyboard.press("Tab")
        if focused()["id"] == "pay-amount":
            break
    assert focused() == {"id": "pay-amount", "tag": "INPUT", "outline": "solid"}
    page.keyboard.type("1.25")
    page.keyboard.press("Enter")
    wait_until(lambda: page.locator("#confirm-amount").count(), what="the confirmation")
    assert focused()["id"] == "pay-send"
    page.keyboard.press("Enter")
    wait_until(lambda: page.locator("#receipt").count(), what="the receipt")
    assert balance_of(wallet_node, id_to_text("m", payee.public)) == 125


def test_a_pay_link_opened_where_no_wallet_is_says_how_to_pay_from_another_wallet(
        phone: Phone, wallet_node: NodeProcess) -> None:
    payee = wallet_node.admit("Ilse Marr")
    phone.page.goto(f"{wallet_node.url}/wallet/pay?to={payee}", wait_until="load")
    line = phone.page.locator("#pay-link-elsewhere")
    wait_until(line.count, what="the line for a pay link opened where no wallet is")
    assert "paste it into To" in line.inner_text()
    assert phone.page.get_by_role("link", name="Ask to join").count() == 1
    phone.shoot("no-wallet-pay-link")
    phone.page.goto(f"{wallet_node.url}/wallet", wait_until="load")
    wait_until(lambda: phone.page.locator("h1").count(), what="the no-wallet screen")
    assert phone.page.locator("#pay-link-elsewhere").count() == 0
