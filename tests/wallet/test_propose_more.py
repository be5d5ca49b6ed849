"""The rest of Decide and Own from the wallet, on a real node in a real Chromium at a phone's size,
in a community of its own (so that its electorate is exactly three and everyone agreeing closes a
decision at once): Lark, a plain member whose browser device is bound to their account, proposes a
levy (refused first in one line for a bad rate, with nothing signed); everyone agrees and the levy
opens the treasury, which a payment then fills; Lark proposes a treasury payment to Corin (refused
first past what the treasury holds), and the decision stands open with the treasury's class and
least time; a visibility change and a recovery with bad fields are refused before signing. Then
Lark transfers shares of a transferable class to Corin and withdraws savings shares at par, and the
holdings and balance follow; holding shares with a vote, Lark proposes a withdrawal rule to the
enterprise's holders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tallystick.protocol.events import (
    AddKey,
    FounderIssue,
    OpenOfferWithPeriod,
    RegisterEnterprise,
    ShareClass,
    Subscribe,
    TransferShares,
    Vote,
)
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess, init_home

from .conftest import Phone, open_phone

week_ms = 7 * 24 * 3600 * 1000
# The savings offer closes this long after it opens: Lark subscribes from Python at once.
offer_open_ms = 1_500
settle_deadline_seconds = 30.0


@dataclass
class Community:
    node: NodeProcess
    phone: Phone
    lark: KeyPair  # a plain member: the phone's device is a second key of this account
    corin: KeyPair

    @property
    def lark_id(self) -> str:
        return id_to_text("m", self.lark.public)

    @property
    def corin_id(self) -> str:
        return id_to_text("m", self.corin.public)

    def intents_sent_since(self, count: int) -> list[dict[str, Any]]:
        return [request for request in self.phone.requests[count:] if request["url"].endswith("/api/intents")]

    def holding(self, member: str, enterprise: str, share_class: int) -> dict[str, Any] | None:
        holdings = self.node.get(f"/api/members/{member}/holdings")["holdings"]
        return next((row for row in holdings if (row["enterprise"], row["class"]) == (enterprise, share_class)), None)


def bind_device(phone: Phone, node: NodeProcess, member: KeyPair) -> None:
    """Make a device key in the page, keep it as `member`'s device, and bind it with `add_key`."""
    phone.page.goto(node.url + "/wallet/static/icon.svg")
    key = phone.page.evaluate("""async ([member, node]) => {
      const keys = await import("/wallet/static/keys.js");
      const store = await import("/wallet/static/store.js");
      const made = await keys.makeDeviceKey();
      await store.put("device", { pair: made.pair, publicKey: made.publicKey, member, key: made.key, node, joined: true });
      return made.key;
    }""", [id_to_text("m", member.public), node.feed_text])
    node.act(member, AddKey(key=id_from_text("k", key)))


@pytest.fixture(scope="module")
def community(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Community]:
    directory = tmp_path_factory.mktemp("propose-more-node")
    home = directory / "home"
    created = init_home(home, debit_limit="50", credit_ceiling="1000")
    port = json.loads((home / "config.json").read_text())["listen_port"]
    node = NodeProcess(home=home, port=port, log_path=directory / "serve.log", created=created).start()
    opened = open_phone(browser)
    try:
        phone = next(opened)
        lark, corin = node.admit("Lark Fenn"), node.admit("Corin Vale")
        bind_device(phone, node, lark)
        yield Community(node, phone, lark, corin)
    finally:
        next(opened, None)
        status = node.stop()
    assert status == 0, f"the node did not stop cleanly: {status}\n{node.output()}"


def open_propose(community: Community, title: str, effect: str) -> Any:
    page = community.phone.page
    page.goto(community.node.url + "/wallet/propose", wait_until="load")
    wait_until(lambda: page.locator("#propose-heading").count(), what="the propose form")
    page.get_by_label("Title").fill(title)
    page.get_by_label("What it changes if it passes").select_option(effect)
    return page


def refused(page: Any) -> str:
    page.get_by_role("button", name="Propose it").click()
    alert = page.get_by_role("alert")
    wait_until(alert.count, what="the refusal")
    return alert.inner_text()


def proposed(page: Any) -> int:
    page.get_by_role("button", name="Propose it").click()
    wait_until(lambda: page.locator("#decision-title").count(), what="the new decision")
    return int(page.url.split("id=")[1])


def test_a_member_proposes_a_levy_and_a_treasury_payment_and_bad_fields_are_refused_before_signing(
        community: Community) -> None:
    node, phone = community.node, community.phone
    page = open_propose(community, "A levy for the commons", "set_levy")
    assert page.locator("#propose-period-hint").inner_text() == "A decision of this kind stays open at least 2 days."
    sent_before, before = len(phone.requests), node.snapshot()
    page.get_by_label("Levy, in % of each payment").fill("150")
    assert refused(page) == "Write a percentage from 0 to 100, like 50 or 66.67."
    assert page.evaluate("document.activeElement.id") == "propose-levy-rate"
    page.get_by_label("Levy, in % of each payment").fill("2")
    assert page.get_by_role("alert").count() == 0  # the line goes once its field is changed
    assert refused(page) == "Give the most levy one payment pays."
    page.get_by_label("Most levy a payment, in HRS").fill("1")
    assert fits_the_screen(page)
    phone.shoot("propose-more-levy")
    assert community.intents_sent_since(sent_before) == [] and node.snapshot() == before

    seq = proposed(page)
    assert page.locator("#decision-effect").inner_text() == (
        "If it passes: Each payment pays a levy of 2 % to the treasury (at least 0.00 HRS, at most 1.00 HRS).")
    levy = node.get(f"/api/decisions/{seq}")
    assert levy["effect"] == {"kind": "set_levy", "rate_bp": 200, "min_minor": 0, "max_minor": 100}
    assert (levy["quorum_bp"], levy["open"]) == (5000, True)
    assert week_ms - 60_000 < levy["time_left_ms"] <= week_ms
    for key in (node.admin_key, community.lark, community.corin):
        node.act(key, Vote(decision=seq, position="agree"))
    wait_until(lambda: node.get(f"/api/decisions/{seq}")["outcome"] == "passed", what="the levy passed by unanimity")
    node.pay(community.corin, node.admin_key, 2500)  # carries a levy of 0.50 into the treasury

    page = open_propose(community, "Seed money for the tool library", "treasury_pay")
    wait_until(lambda: page.locator("#propose-treasury-holds").inner_text() == "The treasury holds 0.50 HRS.",
               what="what the treasury holds")
    assert page.locator("#propose-period-hint").inner_text() == "A decision of this kind stays open at least 2 days."
    page.get_by_label("Which member").fill("corin")
    page.get_by_role("button", name="Choose Corin Vale").click()
    page.get_by_label("Amount, in HRS").fill("0.75")
    page.get_by_label("Note (optional)").fill("Tools")
    sent_before, before = len(phone.requests), node.snapshot()
    assert refused(page) == "The treasury holds 0.50 HRS: propose at most that."
    assert page.evaluate("document.activeElement.id") == "propose-treasury-amount"
    page.get_by_label("Amount, in HRS").fill("0.50")
    assert fits_the_screen(page)
    phone.shoot("propose-more-treasury")
    assert community.intents_sent_since(sent_before) == [] and node.snapshot() == before
    seq = proposed(page)
    assert page.locator("#decision-effect").inner_text() == "If it passes: The treasury pays Corin Vale 0.50 HRS."
    payment = node.get(f"/api/decisions/{seq}")
    assert payment["effect"]["kind"] == "treasury_pay" and payment["effect"]["amount_minor"] == 50
    assert payment["effect"]["to"] == community.corin_id
    # The treasury's floors (50 %, 48 h) raised by the community's default threshold of 66.67 %.
    assert (payment["quorum_bp"], payment["threshold_bp"], payment["open"]) == (5000, 6667, True)
    assert week_ms - 60_000 < payment["time_left_ms"] <= week_ms

    # Who sees what: the current policy shown; a log opened past the least visible kind is refused.
    page = open_propose(community, "Open the log to members", "set_visibility")
    assert page.get_by_label("Balances", exact=True).locator("option").first.inner_text() == (
        "Keep: The member concerned and admins")
    assert page.get_by_label("Balances", exact=True).locator("option[value=public]").count() == 0
    assert page.locator("#propose-period-hint").inner_text() == "A decision of this kind stays open at least 3 days."
    page.get_by_label("The log", exact=True).select_option("members")
    sent_before = len(phone.requests)
    assert refused(page) == ("The log shows every kind of data, so it may reach no further than Balances "
                             "(The member concerned and admins).")
    assert fits_the_screen(page)
    phone.shoot("propose-more-visibility")

    # A recovery: the new key's code is checked before signing; floors have their own rows.
    page.get_by_label("What it changes if it passes").select_option("recover_key")
    page.get_by_label("Which member").fill("corin")
    page.get_by_role("button", name="Choose Corin Vale").click()
    page.get_by_label("The new key's code").fill("abcd efgh")
    assert refused(page) == ("That is not a device's code: copy the groups of letters and digits, or the link, "
                             "from the new device.")
    assert page.locator("#propose-period-hint").inner_text() == "A decision of this kind stays open at least 3 days."
    phone.shoot("propose-more-recovery")
    page.get_by_label("What it changes if it passes").select_option("set_floors")
    page.get_by_label("Least quorum, in %").fill("40")
    page.get_by_role("button", name="Add a kind of decision").click()
    page.locator("#propose-floor-2-class").select_option("limits")
    page.locator("#propose-floor-2-quorum").fill("60")
    assert refused(page) == "The rules kind must ask for at least as much as Limits: raise the rules too."
    assert fits_the_screen(page)
    phone.shoot("propose-more-floors")
    assert community.intents_sent_since(sent_before) == []
    assert phone.errors == []


def test_a_holder_transfers_shares_to_a_member_and_withdraws_savings_at_par(community: Community) -> None:
    node, phone = community.node, community.phone
    member_shares = ShareClass(name="Member shares", kind="founder", votes_per_share=1, dividend_weight=1, par_minor=100,
                               withdrawable=False, transferable=True, holding_cap_units=None, local_only=False)
    savings = ShareClass(name="Savings shares", kind="investor", votes_per_share=0, dividend_weight=0, par_minor=100,
                         withdrawable=True, transferable=False, holding_cap_units=None, local_only=False)
    node.act(node.admin_key, RegisterEnterprise(name="Willow Co-op", classes=(member_shares, savings),
                                                founder_issue=(FounderIssue(share_class=0, units=10),),
                                                yearly_cap_minor=5000))
    enterprise = next(entry["id"] for entry in node.get("/api/enterprises") if entry["name"] == "Willow Co-op")
    node.act(node.admin_key, TransferShares(enterprise=id_from_text("e", enterprise), share_class=0,
                                            to=community.lark.public, units=6))
    offer = node.act(node.admin_key, OpenOfferWithPeriod(
        enterprise=id_from_text("e", enterprise), share_class=1, price_minor=100, units=20, min_units=1,
        member_cap_units=20, deadline_ms=0, open_for_ms=offer_open_ms))["seq"]
    node.act(community.lark, Subscribe(offer=offer, units=8))
    wait_until(lambda: community.holding(community.lark_id, enterprise, 1), settle_deadline_seconds,
               what="the savings allotted")

    page = phone.page
    page.goto(f"{node.url}/wallet/enterprise?e={enterprise}", wait_until="load")
    wait_until(lambda: page.locator("#enterprise-holdings").count(), what="the member's holdings")
    assert page.get_by_role("link", name="Transfer Savings shares to a member").count() == 0
    phone.shoot("propose-more-enterprise")
    page.get_by_role("link", name="Transfer Member shares to a member").click()
    wait_until(lambda: page.locator("#transfer-free").count(), what="the transfer form")
    assert page.locator("#transfer-free").inner_text() == "6 (0 held for orders or withdrawals)"
    page.get_by_label("To", exact=True).fill("corin")
    page.get_by_role("button", name="Transfer to Corin Vale").click()
    sent_before = len(phone.requests)
    page.get_by_label("Shares", exact=True).fill("7")
    page.get_by_role("button", name="Review").click()
    assert page.get_by_role("alert").inner_text() == (
        "You have 6 shares free: ask for at most that, or cancel an order that holds them.")
    assert community.intents_sent_since(sent_before) == []
    page.get_by_label("Shares", exact=True).fill("2")
    assert fits_the_screen(page)
    phone.shoot("propose-more-transfer")
    page.get_by_role("button", name="Review").click()
    assert page.locator("#confirm-shares").inner_text() == "2 Member shares · Willow Co-op"
    assert page.locator("#confirm-to").inner_text() == "Corin Vale"
    phone.shoot("propose-more-transfer-confirm")
    page.get_by_role("button", name="Transfer now").click()
    wait_until(lambda: page.locator("#receipt").count(), what="the transfer's receipt")
    assert page.locator("#receipt-held").inner_text() == "You now hold 4 Member shares."
    phone.shoot("propose-more-transfer-receipt")
    assert community.holding(community.lark_id, enterprise, 0)["units"] == 4
    assert community.holding(community.corin_id, enterprise, 0)["units"] == 2

    (before,) = node.get(f"/api/balances?account={community.lark_id}")
    page.get_by_role("link", name="Back to Willow Co-op").click()
    page.get_by_role("link", name="Withdraw Savings shares at par").click()
    wait_until(lambda: page.locator("#withdraw-facts").count(), what="the withdraw form")
    assert page.locator("#withdraw-notice").inner_text() == "None: paid as soon as you ask"
    assert page.locator("#withdraw-cap").inner_text() == "The enterprise pays out at most 50.00 HRS a year in withdrawals"
    page.get_by_label("Shares", exact=True).fill("3")
    assert page.locator("#withdraw-paid").inner_text() == "You will be paid 3.00 HRS."
    assert fits_the_screen(page)
    phone.shoot("propose-more-withdraw")
    page.get_by_role("button", name="Review").click()
    assert page.locator("#confirm-paid").inner_text() == "3.00 HRS"
    page.get_by_role("button", name="Withdraw now").click()
    wait_until(lambda: page.locator("#receipt").count(), what="the withdrawal's receipt")
    phone.shoot("propose-more-withdraw-receipt")
    wait_until(lambda: community.holding(community.lark_id, enterprise, 1)["units"] == 5, settle_deadline_seconds,
               what="the withdrawal paid")
    (after,) = node.get(f"/api/balances?account={community.lark_id}")
    assert after["balance"] == before["balance"] + 300

    page.goto(f"{node.url}/wallet/enterprise?e={enterprise}", wait_until="load")
    wait_until(lambda: page.locator("#enterprise-holdings").count(), what="the holdings again")
    held = page.locator("#enterprise-holdings").inner_text()
    assert "4 Member shares" in held and "5 Savings shares" in held

    # Lark's member shares carry a vote: Lark may propose the withdrawal rule to the holders.
    page.get_by_role("link", name="Propose a withdrawal rule to the holders").click()
    wait_until(lambda: page.locator("#propose-rule-now").count(), what="the holders' proposal")
    assert page.locator("#propose-rule-now").inner_text() == "Now: 0 days' notice; yearly cap 50.00 HRS."
    assert page.locator("#propose-effect option").all_inner_texts() == ["Nothing: it only asks",
                                                                        "The rule for withdrawing shares"]
    page.get_by_label("Title").fill("A month's notice")
    page.get_by_label("What it changes if it passes").select_option("set_withdrawal_rule")
    page.get_by_label("Notice, in days").fill("30")
    page.get_by_label("Yearly cap, in HRS").fill("40")
    phone.shoot("propose-more-holders")
    seq = proposed(page)
    rule = node.get(f"/api/decisions/{seq}")
    assert rule["electorate"] == {"kind": "holders", "enterprise": enterprise}
    assert rule["effect"] == {"kind": "set_withdrawal_rule", "enterprise": enterprise,
                              "notice_ms": 30 * 24 * 3600 * 1000, "yearly_cap_minor": 4000}
    assert phone.errors == []
