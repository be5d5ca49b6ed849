"""axe-core finds no serious or critical violation on any screen of the wallet, in English and in
Spanish, at a phone's width and a desktop's: join, the screen of a device with no wallet, home, pay
(the search, the form, a refusal, the confirmation, the receipt), receive, history, settings, and
the 404 page. Each screen is reached as a member reaches it, on a real node, in Debian's Chromium
with the wallet's own Content-Security-Policy in force (tests/helpers/accessibility.py), and each is
photographed at both widths under /tmp/wallet-shots/i18n-<language>-<screen>-<width>.png."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.accessibility import described, serious_violations
from helpers.browsing import wait_until
from helpers.nodes import NodeProcess

from .conftest import Phone, desktop_viewport, phone_viewport
from .speaking import html_language, open_phone_speaking
from .test_wallet_flow import invite

# language -> (the browser's locale, the member's name, the payee's name, the payee's search)
readers = {
    "en": ("en-GB", "Avery Axworth", "Nadia Eskew", "Nadia"),
    "es": ("es-ES", "Lucía Ortega", "Nuria Esteve", "Nuria"),
}


class Walk:
    """One reader going through the wallet, axe run at each screen at both widths."""

    def __init__(self, phone: Phone, language: str) -> None:
        self.phone = phone
        self.language = language
        self.found: list[str] = []
        self.screens: list[str] = []

    def check(self, screen: str, *, language: str | None = None) -> None:
        page = self.phone.page
        assert html_language(self.phone) == (language or self.language), screen
        for viewport in (phone_viewport, desktop_viewport):
            page.set_viewport_size(viewport)
            violations = serious_violations(page)
            if violations:
                self.found.append(f"{screen} at {viewport['width']} px:\n{described(violations)}")
        page.set_viewport_size(phone_viewport)
        self.phone.shoot(f"i18n-{self.language}-{screen}", check=False)  # checked at both sizes above
        self.screens.append(screen)


def shown(page: Any, selector: str, what: str, *, at_least: int = 1) -> Any:
    """Wait until `selector` matches at least `at_least` elements of `page`; the locator."""
    found = page.locator(selector)
    wait_until(lambda: found.count() >= at_least, what=what)
    return found


def walk_the_wallet(phone: Phone, node: NodeProcess, language: str) -> Walk:
    """Every screen, as a member reaches it: a device with no wallet, a 404, join, then a member's."""
    _, name, payee_name, search = readers[language]
    node.admit(payee_name)
    link = invite(node, "--name", name)
    walk = Walk(phone, language)
    page = phone.page
    page.goto(node.url + "/wallet", wait_until="load")
    shown(page, "main h1", "the screen of a device with no wallet")
    walk.check("no-device")
    page.goto(node.url + "/wallet/no-such-screen", wait_until="load")
    walk.check("not-found", language="en")  # no script: in the community's default language

    page.goto(link, wait_until="load")
    shown(page, "#join-name", "the join form")
    walk.check("join")
    page.locator("form button[type=submit]").click()
    shown(page, "#balance", "the home screen after joining")
    # Its first row, the joining; the admin pays no one here (the package's tests share its credit).
    shown(page, "#latest .row", "the latest rows on the home screen")
    walk.check("home")

    page.locator('nav a[href="/wallet/pay"]').click()
    shown(page, "#pay-to", "the pay screen")
    walk.check("pay")
    page.locator("#pay-to").fill(search)
    shown(page, "#pay-results button", "the payee found by name")
    walk.check("pay-search")
    page.locator("#pay-results button").first.click()
    page.locator("#pay-amount").fill("100")
    page.locator("#pay-memo").fill("pan")
    walk.check("pay-form")
    page.locator("form button[type=submit]").click()
    shown(page, "#pay-send", "the confirmation").click()
    shown(page, "[role=alert]", "the refusal past the debit limit")
    walk.check("pay-refused")
    page.locator("main .actions button").nth(1).click()  # change it
    page.locator("#pay-amount").fill("2,5")
    page.locator("form button[type=submit]").click()
    shown(page, "#pay-send", "the confirmation")
    walk.check("pay-confirm")
    page.locator("#pay-send").click()
    shown(page, "#receipt", "the receipt")
    walk.check("pay-receipt")

    page.locator('nav a[href="/wallet"]').click()
    page.locator('main a[href="/wallet/receive"]').click()
    shown(page, "svg.qr", "the QR code")
    walk.check("receive")
    page.locator('nav a[href="/wallet"]').click()
    page.locator('main a[href="/wallet/history"]').click()
    shown(page, "main .row", "the history", at_least=2)
    walk.check("history")
    page.locator('nav a[href="/wallet/settings"]').click()
    shown(page, "#sessions .row", "the settings")
    walk.check("settings")
    return walk


@pytest.mark.parametrize("language", sorted(readers))
def test_no_wallet_screen_has_a_serious_or_critical_accessibility_violation(
        browser: Any, wallet_node: NodeProcess, language: str) -> None:
    for phone in open_phone_speaking(browser, readers[language][0]):
        walk = walk_the_wallet(phone, wallet_node, language)
        assert walk.screens == ["no-device", "not-found", "join", "home", "pay", "pay-search", "pay-form",
                                "pay-refused", "pay-confirm", "pay-receipt", "receive", "history", "settings"]
        assert not walk.found, "\n\n".join(walk.found)
        assert phone.errors == []
