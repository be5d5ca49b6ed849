"""Community shares from the wallet (the Own screens), on a real node in a real Chromium: the admin
registers an enterprise and opens an offer with signed intents, as the manager's client would; a
member who joined in the wallet sees the offer, subscribes (refused first, in one line and before
anything is signed, past the offer's per-member cap and past their credit), confirms and gets a
receipt; another member's subscription, confirmed after the offer closed, is refused by the node in
one line; once the node allots the offer, the first member sells on the exchange from the wallet,
the second buys from the wallet (a trade at the resting price), places a bid and cancels it; each
member's Own screen shows their holdings with their value at the last price, and their orders with
what each holds back."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from tallystick.protocol.events import (
    DeclareDividend,
    FounderIssue,
    Holders,
    OpenOfferWithPeriod,
    PlaceOrder,
    ProposeWithPeriod,
    RegisterEnterprise,
    ShareClass,
    TransferShares,
    Vote,
)
from tallystick.protocol.ids import id_from_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess

from .conftest import Phone, open_phone
from .test_wallet_flow import balance_of, invite, join_through

phone_of = contextmanager(open_phone)  # a second, third browser context in one test

# Long enough for a member to subscribe in the browser, short enough for a test to wait out.
offer_open_ms = 20_000
close_deadline_seconds = 60.0
dividend_vote_ms = 3_000


def register_with_an_offer(node: NodeProcess, name: str, *, price_minor: int, units: int, member_cap: int) -> tuple[str, int]:
    """The admin registers `name` and offers `units` of its customer shares, open for
    offer_open_ms; returns the enterprise's id and the offer's. Customer shares (class 0) trade and
    carry the dividend; the admin's founder shares (class 1, issued at once) carry the votes, so the
    admin alone decides a dividend for the customers."""
    customer = ShareClass(name="Customer shares", kind="user", votes_per_share=0, dividend_weight=1, par_minor=100,
                          withdrawable=False, transferable=True, holding_cap_units=None, local_only=False)
    founder = ShareClass(name="Founder shares", kind="founder", votes_per_share=1, dividend_weight=0, par_minor=100,
                         withdrawable=False, transferable=False, holding_cap_units=None, local_only=False)
    node.act(node.admin_key, RegisterEnterprise(name=name, classes=(customer, founder),
                                                founder_issue=(FounderIssue(share_class=1, units=10),)))
    enterprise = next(entry["id"] for entry in node.get("/api/enterprises") if entry["name"] == name)
    offer = node.act(node.admin_key, OpenOfferWithPeriod(
        enterprise=id_from_text("e", enterprise), share_class=0, price_minor=price_minor, units=units, min_units=1,
        member_cap_units=member_cap, deadline_ms=0, open_for_ms=offer_open_ms))["seq"]
    return enterprise, offer


def declare_dividend(node: NodeProcess, enterprise: str, amount_minor: int) -> None:
    """The founder holders (the admin) decide a dividend, which the node pays at the close."""
    decision = node.act(node.admin_key, ProposeWithPeriod(
        decision_type="proposal", title="Dividend", text="", deadline_ms=0, electorate=Holders(id_from_text("e", enterprise)),
        effect=DeclareDividend(enterprise=id_from_text("e", enterprise), amount_minor=amount_minor),
        voting_period_ms=dividend_vote_ms))["seq"]
    node.act(node.admin_key, Vote(decision=decision, position="agree"))
    wait_until(lambda: node.get(f"/api/decisions/{decision}")["outcome"], close_deadline_seconds, what="the dividend's close")
    assert node.get(f"/api/decisions/{decision}")["outcome"] == "passed"


def holdings_of(node: NodeProcess, member: str) -> dict[str, Any]:
    return node.get(f"/api/members/{member}/holdings")


def intents_sent(phone: Phone, since: int) -> list[dict[str, Any]]:
    return [request for request in phone.requests[since:] if request["url"].endswith("/api/intents")]


def alert_text(phone: Phone) -> str:
    alert = phone.page.get_by_role("alert")
    wait_until(alert.count, what="a refusal")
    return alert.inner_text()


def test_members_subscribe_trade_and_cancel_from_the_wallet_and_see_what_they_own(
        browser: Any, wallet_node: NodeProcess) -> None:
    enterprise, offer = register_with_an_offer(wallet_node, "Millpond Bakery", price_minor=600, units=20, member_cap=10)
    with phone_of(browser) as ama, phone_of(browser) as bo:
        seller = join_through(ama, invite(wallet_node, "--name", "Ama Reed"))
        buyer = join_through(bo, invite(wallet_node, "--name", "Bo Lark"))
        page = ama.page

        # The offer, on the Own tab: price, what is left, when it closes.
        page.get_by_role("navigation").get_by_role("link", name="Own").click()
        offers = page.locator("#own-offers-list")
        wait_until(offers.count, what="the open offers")
        listed = offers.inner_text()
        assert "Millpond Bakery · Customer shares" in listed
        assert "6.00 HRS a share · 20 of 20 left" in listed and "Closes" in listed
        assert "You hold no shares yet." in page.locator("main").inner_text()
        assert fits_the_screen(page)
        ama.shoot("own-offers")

        # Subscribe: refused before signing past the cap and past the credit, then 5 shares.
        page.get_by_role("link", name="Subscribe to Customer shares of Millpond Bakery").click()
        shares = page.get_by_label("Shares")
        wait_until(shares.count, what="the subscription form")
        assert "20 of 20" in page.locator("#offer-left").inner_text()
        sent_before = len(ama.requests)
        for typed, line in [("11", "One member may subscribe at most 10 more shares of this offer."),
                            ("9", "You do not have the credit for that: at 6.00 HRS a share, at most 8 shares."),
                            ("2.5", "Write the number of shares as a whole number, like 5."),
                            ("0", "The number of shares must be more than zero.")]:
            shares.fill(typed)
            page.get_by_role("button", name="Review").click()
            assert page.get_by_role("alert").inner_text() == line
        ama.shoot("own-subscribe-refused")
        assert intents_sent(ama, sent_before) == []
        shares.fill("5")
        assert page.locator("#subscribe-cost").inner_text() == "They cost 30.00 HRS."
        assert fits_the_screen(page)
        ama.shoot("own-subscribe-form")
        page.get_by_role("button", name="Review").click()
        assert page.locator("#confirm-shares").inner_text() == "5 Customer shares · Millpond Bakery"
        assert page.locator("#confirm-cost").inner_text() == "30.00 HRS"
        ama.shoot("own-subscribe-confirm")
        page.get_by_role("button", name="Subscribe now").click()
        wait_until(lambda: page.locator("#receipt").count(), what="the subscription's receipt")
        assert "5 Customer shares of Millpond Bakery for 30.00 HRS." in page.locator("main").inner_text()
        assert page.locator("#receipt-balance").inner_text() == "Your balance is now -30.00 HRS."
        ama.shoot("own-subscribe-receipt")
        subscribed = wallet_node.get(f"/api/offers/{offer}")
        assert [(row["member"], row["units"]) for row in subscribed["subscriptions"]] == [(seller, 5)]
        assert balance_of(wallet_node, seller) == -3000

        # Own shows the subscription, held until the close.
        page.get_by_role("link", name="Back to Own").click()
        wait_until(lambda: page.locator("#own-subscriptions-list").count(), what="the subscription on Own")
        assert "5 Customer shares" in page.locator("#own-subscriptions-list").inner_text()
        assert "30.00 HRS" in page.locator("#own-subscriptions-list").inner_text()
        assert "14 of 20 left" not in page.locator("#own-offers-list").inner_text()
        assert "15 of 20 left" in page.locator("#own-offers-list").inner_text()

        # Bo reviews a subscription, and confirms only after the offer closed: the node refuses.
        bo.page.goto(f"{wallet_node.url}/wallet/subscribe?offer={offer}", wait_until="load")
        bo.page.get_by_label("Shares").fill("2")
        bo.page.get_by_role("button", name="Review").click()
        wait_until(lambda: not wallet_node.get(f"/api/offers/{offer}")["open"], close_deadline_seconds,
                   what="the offer's close")
        before = wallet_node.snapshot()
        bo.page.get_by_role("button", name="Subscribe now").click()
        assert alert_text(bo) == "This offer has closed: it takes no more subscriptions."
        bo.shoot("own-subscribe-closed")
        assert wallet_node.snapshot() == before
        closed = wallet_node.get(f"/api/offers/{offer}")
        assert closed["outcome"] == "allotted"
        assert [(h["units"], h["locked"]) for h in holdings_of(wallet_node, seller)["holdings"]] == [(5, 0)]

        # Ama sells 3 at 7.00 from the enterprise's page: nothing trades, 3 rest, locked.
        page.goto(f"{wallet_node.url}/wallet/enterprise?e={enterprise}", wait_until="load")
        wait_until(lambda: page.locator("#enterprise-classes").count(), what="the enterprise's page")
        assert page.locator("h1").inner_text() == "Millpond Bakery"
        classes = page.locator("#enterprise-classes").inner_text()
        assert "User class · par 1.00 HRS · 5 issued" in classes and "Traded on the exchange" in classes
        assert "Founder class · par 1.00 HRS · 10 issued" in classes and "Neither traded nor withdrawn" in classes
        assert "5 Customer shares" in page.locator("#enterprise-holdings").inner_text()
        page.get_by_role("link", name="Sell Customer shares").click()
        wait_until(lambda: page.get_by_label("Price a share in HRS").count(), what="the order form")
        assert page.get_by_role("radio", name="Sell").is_checked()
        page.get_by_label("Shares").fill("6")
        page.get_by_label("Price a share in HRS").fill("7")
        page.get_by_role("button", name="Review").click()
        assert page.get_by_role("alert").inner_text() == "You have only 5 shares free to sell."
        page.get_by_label("Shares").fill("3")
        ama.shoot("own-trade-form")
        page.get_by_role("button", name="Review").click()
        assert page.locator("#confirm-total").inner_text() == "21.00 HRS"
        assert page.locator("#confirm-hold").inner_text() == "Until they trade, your 3 Customer shares are held for it."
        ama.shoot("own-trade-confirm")
        page.get_by_role("button", name="Place the sell order").click()
        wait_until(lambda: page.locator("#receipt").count(), what="the order's receipt")
        assert page.locator("#receipt-fills").inner_text() == "Nothing traded yet."
        assert page.locator("#receipt-rests").inner_text() == (
            "3 Customer shares wait on the exchange at 7.00 HRS each; cancel them from Own.")
        ama.shoot("own-trade-resting")
        (resting_sell,) = holdings_of(wallet_node, seller)["orders"]
        assert (resting_sell["side"], resting_sell["units"], resting_sell["price"]) == ("sell", 3, 700)

        # Bo buys 2 at up to 7.50 from the wallet: they trade at the resting 7.00.
        bo.page.goto(f"{wallet_node.url}/wallet/enterprise?e={enterprise}", wait_until="load")
        wait_until(lambda: bo.page.locator("#book-0-asks").count(), what="the book")
        assert "7.00 HRS" in bo.page.locator("#book-0-asks").inner_text()
        assert fits_the_screen(bo.page)
        bo.shoot("own-enterprise")
        bo.page.get_by_role("link", name="Buy Customer shares").click()
        wait_until(lambda: bo.page.get_by_label("Price a share in HRS").count(), what="the order form")
        assert bo.page.get_by_role("radio", name="Buy").is_checked()
        bo.page.get_by_label("Shares").fill("2")
        bo.page.get_by_label("Price a share in HRS").fill("7.50")
        assert bo.page.locator("#trade-hold").inner_text() == (
            "This order holds 15.00 HRS of your credit until it trades or you cancel it.")
        bo.page.get_by_role("button", name="Review").click()
        bo.page.get_by_role("button", name="Place the buy order").click()
        wait_until(lambda: bo.page.locator("#receipt").count(), what="the trade's receipt")
        assert bo.page.locator("#receipt-fills").inner_text() == "Bought 2 Customer shares of Millpond Bakery for 14.00 HRS."
        assert bo.page.locator("#receipt-rests").inner_text() == "Nothing waits on the exchange."
        bo.shoot("own-trade-filled")
        assert balance_of(wallet_node, buyer) == -1400
        assert balance_of(wallet_node, seller) == -3000 + 1400
        assert [(h["units"], h["locked"]) for h in holdings_of(wallet_node, buyer)["holdings"]] == [(2, 0)]
        assert [(h["units"], h["locked"]) for h in holdings_of(wallet_node, seller)["holdings"]] == [(3, 1)]

        # The holders' dividend of 10.00: 6.00 to Ama's 3 customer shares, 4.00 to Bo's 2.
        declare_dividend(wallet_node, enterprise, 1000)
        assert balance_of(wallet_node, buyer) == -1400 + 400

        # Bo bids 1 at 6.50: it rests, its cost held; Own shows it, and Bo cancels it there.
        bo.page.goto(f"{wallet_node.url}/wallet/trade?e={enterprise}&class=0&side=buy", wait_until="load")
        wait_until(lambda: bo.page.get_by_label("Shares").count(), what="the order form")
        bo.page.get_by_label("Shares").fill("1")
        bo.page.get_by_label("Price a share in HRS").fill("6,50")
        bo.page.get_by_role("button", name="Review").click()
        assert bo.page.locator("#confirm-hold").inner_text() == (
            "Until it trades, 6.50 HRS is held for it; if it trades for less, the difference comes back.")
        bo.page.get_by_role("button", name="Place the buy order").click()
        wait_until(lambda: bo.page.locator("#receipt").count(), what="the bid's receipt")
        assert bo.page.locator("#receipt-rests").inner_text().startswith("1 Customer shares wait on the exchange at 6.50 HRS")
        assert balance_of(wallet_node, buyer) == -1000 - 650
        bo.page.get_by_role("link", name="Back to Own").click()
        orders = bo.page.locator("#own-orders-list")
        wait_until(orders.count, what="the orders on Own")
        assert "Buy 1 Customer shares of Millpond Bakery at 6.50 HRS" in orders.inner_text()
        assert "6.50 HRS held for this order" in orders.inner_text()
        holdings = bo.page.locator("#own-holdings-list").inner_text()
        assert "2 Customer shares" in holdings and "14.00 HRS" in holdings and "7.00 HRS each, last traded" in holdings
        assert fits_the_screen(bo.page)
        bo.shoot("own-orders")
        bo.page.get_by_role("button", name="Cancel the order: Buy 1 Customer shares of Millpond Bakery at 6.50 HRS").click()
        status = bo.page.locator("#own-status")
        wait_until(lambda: "Order cancelled: Buy 1 Customer shares" in status.inner_text(), what="the cancel's line")
        assert bo.page.evaluate("document.activeElement.id") == "own-status"
        assert "No open orders." in bo.page.locator("main").inner_text()
        bo.shoot("own-cancelled")
        assert holdings_of(wallet_node, buyer)["orders"] == []
        assert balance_of(wallet_node, buyer) == -1000

        # Ama's Own: 3 shares (1 held for her resting sell) worth 21.00 at the last price, her order.
        page.get_by_role("navigation").get_by_role("link", name="Own").click()
        wait_until(lambda: page.locator("#own-orders-list").count(), what="Ama's orders")
        holdings = page.locator("#own-holdings-list").inner_text()
        assert "3 Customer shares" in holdings and "1 held for an order" in holdings and "21.00 HRS" in holdings
        assert "Sell 1 Customer shares of Millpond Bakery at 7.00 HRS" in page.locator("#own-orders-list").inner_text()
        dividends = page.locator("#own-dividends-list").inner_text()
        assert "Millpond Bakery" in dividends and "+6.00 HRS" in dividends
        ama.shoot("own-holdings")
        assert ama.errors == [] and bo.errors == []


def test_a_subscription_can_be_made_with_the_keyboard_alone_and_no_name_goes_in_a_url(
        browser: Any, wallet_node: NodeProcess) -> None:
    _, offer = register_with_an_offer(wallet_node, "Keyboard Kiln", price_minor=250, units=40, member_cap=4)
    with phone_of(browser) as kit:
        member = join_through(kit, invite(wallet_node, "--name", "Kit Fennel"))
        page = kit.page
        page.goto(f"{wallet_node.url}/wallet/own", wait_until="load")
        wait_until(lambda: page.locator("#own-offers-list").count(), what="the open offers")

        def focused() -> dict[str, str]:
            return page.evaluate("""() => ({ id: document.activeElement.id, label: document.activeElement.getAttribute("aria-label"),
              outline: getComputedStyle(document.activeElement).outlineStyle })""")

        def tab_to(check: Any, what: str) -> dict[str, str]:
            for _ in range(60):
                page.keyboard.press("Tab")
                if check(focused()):
                    return focused()
            raise AssertionError(f"Tab never reached {what}")

        link = tab_to(lambda now: now["label"] == "Subscribe to Customer shares of Keyboard Kiln", "the offer's link")
        assert link["outline"] == "solid"
        page.keyboard.press("Enter")
        wait_until(lambda: page.locator("#subscribe-units").count(), what="the subscription form")
        assert tab_to(lambda now: now["id"] == "subscribe-units", "the shares field")["outline"] == "solid"
        page.keyboard.type("5")
        page.keyboard.press("Enter")
        assert page.get_by_role("alert").inner_text() == "One member may subscribe at most 4 more shares of this offer."
        assert focused()["id"] == "subscribe-units"
        page.keyboard.press("Backspace")
        page.keyboard.type("4")
        page.keyboard.press("Enter")
        wait_until(lambda: page.locator("#confirm-cost").count(), what="the confirmation")
        assert page.locator("#confirm-cost").inner_text() == "10.00 HRS"
        assert focused()["id"] == "subscribe-send"
        page.keyboard.press("Enter")
        wait_until(lambda: page.locator("#receipt").count(), what="the receipt")
        assert [(row["member"], row["units"]) for row in wallet_node.get(f"/api/offers/{offer}")["subscriptions"]] == [
            (member, 4)]
        for request in kit.requests:
            assert "Kit" not in request["url"] and "Fennel" not in request["url"], request["url"]
        assert kit.errors == []


def test_a_link_to_no_offer_enterprise_or_class_says_so_in_one_line(
        phone: Phone, wallet_node: NodeProcess) -> None:
    join_through(phone, invite(wallet_node, "--name", "Lost Linker"))
    for path, line in [("/wallet/subscribe?offer=abc", "This link names no offer of this community."),
                       ("/wallet/subscribe?offer=999999", "This link names no offer of this community."),
                       ("/wallet/enterprise?e=bakery", "This link names no enterprise of this community."),
                       ("/wallet/enterprise?e=e_" + "a" * 52, "This link names no enterprise of this community."),
                       ("/wallet/trade?e=e_" + "a" * 52 + "&class=9", "This link names no share class of this community.")]:
        phone.page.goto(wallet_node.url + path, wait_until="load")
        assert alert_text(phone) == line, path
    assert phone.errors == []


def test_a_sale_that_would_pay_past_the_sellers_ceiling_is_refused_in_one_line_and_changes_nothing(
        phone: Phone, wallet_node: NodeProcess) -> None:
    # Founder shares that trade, issued to the admin, who gives 5 to the member and bids for 2 at 4.00.
    traded = ShareClass(name="Kiln shares", kind="founder", votes_per_share=1, dividend_weight=0, par_minor=100,
                        withdrawable=False, transferable=True, holding_cap_units=None, local_only=False)
    admin = wallet_node.admin_key
    wallet_node.act(admin, RegisterEnterprise(name="Ceiling Kiln", classes=(traded,),
                                              founder_issue=(FounderIssue(share_class=0, units=10),)))
    enterprise = next(entry["id"] for entry in wallet_node.get("/api/enterprises") if entry["name"] == "Ceiling Kiln")
    member = join_through(phone, invite(wallet_node, "--name", "Cleo Marsh", "--ceiling", "5"))
    wallet_node.act(admin, TransferShares(enterprise=id_from_text("e", enterprise), share_class=0,
                                          to=id_from_text("m", member), units=5))
    wallet_node.act(admin, PlaceOrder(enterprise=id_from_text("e", enterprise), share_class=0, side="buy", units=2,
                                      price_minor=400))
    page = phone.page
    page.goto(f"{wallet_node.url}/wallet/trade?e={enterprise}&class=0&side=sell", wait_until="load")
    wait_until(lambda: page.get_by_label("Shares").count(), what="the order form")
    assert "2 at 4.00 HRS" in page.locator("#trade-book").inner_text()
    page.get_by_label("Shares").fill("2")
    page.get_by_label("Price a share in HRS").fill("4")
    page.get_by_role("button", name="Review").click()
    before = wallet_node.snapshot()
    page.get_by_role("button", name="Place the sell order").click()
    assert alert_text(phone) == ("What that sale pays would take you past your credit ceiling: "
                                 "sell fewer shares, or spend some credit first.")
    phone.shoot("own-trade-refused")
    assert wallet_node.snapshot() == before
    assert [(h["units"], h["locked"]) for h in holdings_of(wallet_node, member)["holdings"]] == [(5, 0)]
    assert holdings_of(wallet_node, member)["orders"] == []
    assert phone.errors == []
