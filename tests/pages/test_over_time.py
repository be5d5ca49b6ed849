"""Balances over time in a real browser, against a real cluster: a member's page plots their balance
after every change, ending at the API's balance; the community's page plots the credit in
circulation, ending at the sum of positive balances that the API and the viability report give;
both plots are SVG drawn on the server, there with JavaScript off."""

from __future__ import annotations

from pathlib import Path

from tallystick.ledger.money import format_amount
from tallystick.node.home import write_key
from tallystick.protocol.events import AdmitMember, Transfer
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from helpers.browsing import Browsing, Community, wait_until

hostile_name = '<img src=x onerror="window.__tallyInjected=1;alert(1)">Plotted'


def points_of(browsing: Browsing, figure: str) -> list[tuple[int, int]]:
    """(seq, value) of every point drawn in the plot `figure`."""
    return [(int(point.get_attribute("data-seq")), int(point.get_attribute("data-value")))
            for point in browsing.page.locator(f"figure.{figure} circle.point").all()]


def folded(browsing: Browsing, figure: str) -> bool:
    """Whether the plot read the log up to the head the page had."""
    found = browsing.page.locator(f"figure.{figure}")
    return found.count() == 1 and found.get_attribute("data-folded-seq") == found.get_attribute("data-head-seq")


def test_member_page_plots_every_change_of_the_balance_ending_at_the_api_balance(
    cluster: list[Community], browsing: Browsing, tmp_path: Path
) -> None:
    community = cluster[0]
    key = KeyPair.generate()
    key_file = tmp_path / "plotted.key"
    write_key(key_file, key)
    member = id_to_text("m", key.public)
    admitted = community.act(community.admin_key, AdmitMember(member=key.public, name=hostile_name))
    ada = id_from_text("m", community.get("/api/members/Ada")["id"])
    paid = [community.act(key_file, Transfer(to=ada, amount_minor=amount, memo=""))
            for amount in (150, 275)]
    received = community.act(community.member_key("Bruno"), Transfer(to=key.public, amount_minor=1000, memo="back"))
    expected = [(admitted["seq"], 0), (paid[0]["seq"], -150), (paid[1]["seq"], -425), (received["seq"], 575)]

    def plotted() -> bool:
        browsing.open(f"{community.url}/members/{member}")
        return points_of(browsing, "balance-over-time") == expected

    wait_until(plotted, what=f"the plot of {expected} on the member's page")
    [row] = community.get(f"/api/balances?account={member}")
    decimals = community.get("/api/community")["unit"]["decimals"]
    assert row["balance"] == expected[-1][1]
    assert browsing.text("figure.balance-over-time .last-value") == format_amount(row["balance"], decimals)
    # The name is text in the caption and the label, never markup.
    assert hostile_name in browsing.text("figure.balance-over-time figcaption")
    assert browsing.page.locator("main img").count() == 0
    assert browsing.page.evaluate("typeof window.__tallyInjected") == "undefined"
    assert browsing.dialogs == [] and browsing.errors == []


def test_community_page_plots_credit_in_circulation_ending_at_the_sum_of_positive_balances(
    cluster: list[Community], browsing_without_javascript: Browsing
) -> None:
    community = cluster[1]
    browsing = browsing_without_javascript
    federation = community.get("/api/federations")[0]["id"]
    own = community.get("/api/community")["node"]

    def agrees() -> bool:
        browsing.open(community.url + "/")
        if not folded(browsing, "circulation-over-time"):
            return False
        positive = sum(max(0, row["balance"]) for row in community.get("/api/balances"))
        report = community.get(f"/api/federations/{federation}/report")
        issued = next(row["credit_issued"] for row in report["s1_operations"] if row["community"] == own)
        last = points_of(browsing, "circulation-over-time")[-1][1]
        return last == positive == issued

    wait_until(agrees, what="the last point of the circulation plot to equal the API's sum of positive balances")
    points = points_of(browsing, "circulation-over-time")
    assert len(points) >= 2 and all(value >= 0 for _, value in points)
    assert [seq for seq, _ in points] == sorted(seq for seq, _ in points)
    assert browsing.page.locator("script").count() == 0
    assert browsing.page.locator("#circulation svg path").count() == 1


def test_a_plot_is_a_step_line_through_its_points_with_every_text_escaped() -> None:
    """The drawing function: zero always on the axis, a value holding until the next point and the
    last one until the end, and the labels and unit written as escaped text in the SVG."""
    from tallystick.node.pages.charts import chart_height, chart_width, line_chart

    chart = line_chart([(1, 0, 500), (2, 100, -500)], 0, 200, lambda value: f"<i>{value}", "<b>U")
    assert chart is not None
    assert chart["path"] == f"M 0.0 0.0 H {chart_width / 2:.1f} V {chart_height:.1f} H {chart_width:.1f}"
    assert chart["zero_y"] == chart_height / 2
    svg = str(chart["points_svg"])
    assert svg.count("<circle") == 2 and "<i>" not in svg and "<b>" not in svg and "&lt;b&gt;U" in svg
    assert line_chart([], 0, 1, str, "U") is None
