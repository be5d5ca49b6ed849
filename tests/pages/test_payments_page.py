"""Payments between communities in a real browser, against the cluster (whose communities the
federation gave trade limits): /payments lists what /api/payments lists, with each state; the
federation's page plots the settled ones over time and lists the pending ones; whatever members
typed (a memo, a name) is text; everything reads without JavaScript."""

from __future__ import annotations

from typing import Any

import pytest
from tallystick.node.pages.language import reject_reason_words, translations
from tallystick.protocol.events import AdmitMember, PayAcross, SetLimits
from tallystick.protocol.ids import KeyPair, id_from_text

from helpers.browsing import Browsing, Community, wait_until

hostile_memo = '<script>window.__tallyInjected = "payment"; alert("payment")</script>'
hostile_name = '<img src=x onerror="window.__tallyInjected=1;alert(1)">Faraway'


def payments_of(community: Community) -> list[dict[str, Any]]:
    return community.get("/api/payments")


@pytest.fixture(scope="module")
def across(cluster: list[Community]) -> dict[str, Any]:
    """Two payments from the first community to the second: one settled (to Bruno, with a hostile
    memo), one its payee's community rejects (a new member, named with markup, whose credit ceiling
    leaves no room) and the payer's returns. Waits until the payer's node shows both concluded."""
    payer, payee = cluster[0], cluster[1]
    federation = payer.get("/api/federations")[0]["id"]
    faraway = KeyPair.generate().public
    payee.act(payee.admin_key, AdmitMember(member=faraway, name=hostile_name))
    payee.act(payee.admin_key, SetLimits(account=faraway, debit_limit_minor=None, credit_ceiling_minor=1))
    bruno = id_from_text("m", payee.get("/api/members/Bruno")["id"])
    to_community = id_from_text("n", payee.node)
    settled = payer.act(payer.member_key("Chiara"), PayAcross(id_from_text("x", federation), to_community, bruno, 125,
                                                               hostile_memo))
    returned = payer.act(payer.member_key("Chiara"), PayAcross(id_from_text("x", federation), to_community, faraway, 200,
                                                                "too much"))
    ids = {"settled": settled["hash"], "returned": returned["hash"]}

    def concluded() -> bool:
        statuses = {row["id"]: row["status"] for row in payments_of(payer)}
        return all(statuses.get(payment) == status for status, payment in ids.items())

    wait_until(concluded, deadline_seconds=30, what=f"the payments {ids} settled and returned")
    return {"federation": federation, **ids}


def test_payments_page_lists_every_payment_of_the_api_with_its_state(
    cluster: list[Community], across: dict[str, Any], browsing: Browsing
) -> None:
    community = cluster[0]
    browsing.open(community.url + "/")
    browsing.page.locator("#federations a.payments-link").click()
    assert browsing.page.url == community.url + "/payments"
    rows = payments_of(community)
    on_page = [(row.get_attribute("data-payment"), row.get_attribute("data-status"))
               for row in browsing.page.locator("table.payments-across tbody tr").all()]
    assert on_page == [(row["id"], row["status"]) for row in rows][:100]
    for status in ("settled", "returned"):
        assert browsing.text(f".statuses .count-{status}") == str(sum(1 for row in rows if row["status"] == status))
    settled = browsing.page.locator(f'tr[data-payment="{across["settled"]}"]')
    assert settled.locator(".memo").inner_text() == hostile_memo
    # The payer is this community's member, by name; the payee another community's, whose node
    # committed his name (docs/protocol.md §19): this node cannot open it, so it shows his id, shortened.
    by_id = {row["id"]: row for row in rows}
    assert settled.locator(".payer").inner_text() == "Chiara"
    assert settled.locator(".payee").inner_text() == by_id[across["settled"]]["to_member"][:12] + "…"
    assert settled.locator(".amount-sent").get_attribute("data-minor") == "125"
    returned = browsing.page.locator(f'tr[data-payment="{across["returned"]}"]')
    assert returned.locator(".payee").inner_text() == by_id[across["returned"]]["to_member"][:12] + "…"
    reason = next(r["reason"] for r in rows if r["id"] == across["returned"])
    assert returned.locator(".reason").inner_text() == f"({reject_reason_words(translations['en'])[reason]})"  # in words
    # One state at a time: the filter shows exactly the API's rows of that state.
    browsing.page.locator('.statuses a[data-status="returned"]').click()
    shown = [row.get_attribute("data-payment") for row in browsing.page.locator("table.payments-across tbody tr").all()]
    assert shown == [row["id"] for row in rows if row["status"] == "returned"][:100]
    assert browsing.page.locator("main img").count() == 0
    assert browsing.page.evaluate("typeof window.__tallyInjected") == "undefined"
    assert browsing.dialogs == [] and browsing.errors == []


def test_federation_page_plots_the_settled_trade_and_lists_pending_and_positions_as_the_api(
    cluster: list[Community], across: dict[str, Any], browsing_without_javascript: Browsing
) -> None:
    community = cluster[0]
    browsing = browsing_without_javascript
    federation = across["federation"]

    def matches() -> bool:
        browsing.open(f"{community.url}/federations/{federation}")
        rows = [row for row in payments_of(community) if row["federation"] == federation]
        report = community.get(f"/api/federations/{federation}/report")
        plotted = sum(int(part.get_attribute("data-payments"))
                      for part in browsing.page.locator("figure.trade-over-time rect[data-payments]").all())
        pending = [row.get_attribute("data-payment") for row in browsing.page.locator("#s2 table.pending tbody tr").all()]
        positions = {row.get_attribute("data-member"): row.locator(".position").get_attribute("data-position")
                     for row in browsing.page.locator("#s3 table.positions tbody tr").all()}
        return (plotted == sum(1 for row in rows if row["status"] == "settled") >= 1
                and pending == [row["id"] for row in report["s2_coordination"]["payments"]]
                and positions == {row["member"]: "" if row["position"] is None else str(row["position"])
                                  for row in report["s3_control"]})

    wait_until(matches, what="the federation page's trade plot, pending payments and positions to match the API")
    assert browsing.page.locator("script").count() == 0
    link = browsing.page.locator("#s2 a.payments-link").get_attribute("href")
    assert link == f"/payments?federation={federation}"
    browsing.open(community.url + link)
    rows = [row["id"] for row in payments_of(community) if row["federation"] == federation]
    assert [row.get_attribute("data-payment") for row in browsing.page.locator("table.payments-across tbody tr").all()] == rows


def test_trade_plot_buckets_settled_payments_by_hour_and_stacks_them_by_pair() -> None:
    """The drawing function with a day of payments: hourly buckets, one stacked part per pair of
    communities in a bucket, the counts and amounts summed per part, nothing lost."""
    from tallystick.federation.charts import trade_chart

    hour = 3_600_000
    start = 1_800_000_000_000 - 1_800_000_000_000 % hour
    rows = [{"from_community": "n_a", "to_community": "n_b", "amount": 100, "sent_ms": start + 10},
            {"from_community": "n_a", "to_community": "n_b", "amount": 50, "sent_ms": start + 20},
            {"from_community": "n_b", "to_community": "n_a", "amount": 7, "sent_ms": start + 30},
            {"from_community": "n_a", "to_community": "n_b", "amount": 1, "sent_ms": start + 5 * hour}]
    chart = trade_chart(rows, start + 20 * hour, {"n_a": "A", "n_b": "B"})
    assert chart is not None and chart["unit"] == "hour" and len(chart["bars"]) == 21
    first, fifth = chart["bars"][0], chart["bars"][5]
    assert [(p["from"], p["to"], p["payments"], p["sent"]) for p in first["parts"]] == [
        ("n_a", "n_b", 2, 150), ("n_b", "n_a", 1, 7)]
    assert [(p["payments"], p["sent"]) for p in fifth["parts"]] == [(1, 1)]
    assert chart["payments"] == 4 and chart["tallest"] == 3
    assert trade_chart([], start, {}) is None
