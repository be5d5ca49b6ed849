"""The rules in force as a member reads them, on a real node of its own (so that its electorate is
exactly three and everyone agreeing closes a decision at once), in a real Chromium at a phone's size:
Lark, a plain member whose browser device is bound to their account, opens the rules from Decide and
reads the community's starting rules in plain words and HRS; the members then pass a levy, new
floors, new rules (admission by decision, a higher quorum and threshold) and a visibility change,
and Lark, opening the rules again from More, reads what is in force now; Corin reads the same in
Spanish. `GET /api/rules` is any member's and no one else's: a stranger and a key that is no
member's are refused 401 `not_signed_in` and change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from tallystick.protocol.events import (
    Floor,
    ProposeWithPeriod,
    SetFloors,
    SetLevy,
    SetRules,
    SetVisibility,
    Vote,
)
from tallystick.protocol.ids import KeyPair

from helpers.browsing import fits_the_screen, wait_until

from . import test_propose_more
from .speaking import open_phone_speaking
from .test_propose_more import Community, bind_device

# The fixture: a community of its own (Lark, whose browser device is bound, and Corin), as Propose's
# tests make it; this module gets its own node.
community = test_propose_more.community

hour_ms = 3600 * 1000
# Above every floor in force when they are proposed (the rules class: 72 hours).
period_ms = 73 * hour_ms


def text_of(page: Any, selector: str) -> str:
    return page.locator(selector).inner_text()


def floors_shown(page: Any) -> dict[str, str]:
    rows = page.locator("#rules-floors li")
    return {rows.nth(index).get_attribute("id"): rows.nth(index).locator(".when").inner_text()
            for index in range(rows.count())}


def decide_everything(community: Community) -> None:
    """A levy, stricter floors, admission by decision and who sees decisions, each passed by all three."""
    node = community.node
    effects = [
        SetLevy(rate_bp=150, min_minor=5, max_minor=200),
        SetRules(admission="decision", quorum_bp=5500, threshold_bp=7000),
        SetVisibility(decisions="public"),
        # Last: a decision still open when the floors of its class rise closes below them.
        SetFloors((Floor("limits", 6000, 5000, 96 * hour_ms), Floor("rules", 6000, 7500, 120 * hour_ms))),
    ]
    seqs = [node.act(node.admin_key, ProposeWithPeriod("proposal", f"Rule {number}", "", 0, voting_period_ms=period_ms,
                                                       effect=effect))["seq"]
            for number, effect in enumerate(effects, start=1)]
    for seq in seqs:
        for key in (node.admin_key, community.lark, community.corin):
            node.act(key, Vote(decision=seq, position="agree"))
    for seq in seqs:
        wait_until(lambda seq=seq: node.get(f"/api/decisions/{seq}")["outcome"] == "passed", what="passed by all")


def test_a_member_reads_the_rules_in_force_before_and_after_the_community_changes_them(
        community: Community, browser: Any) -> None:
    node, phone = community.node, community.phone
    page = phone.page
    page.goto(node.url + "/wallet/decide", wait_until="load")
    page.locator("#rules-link").click()
    wait_until(lambda: page.locator("#rules-floors li").count() == 8, what="the rules in force")
    assert page.url.endswith("/wallet/rules")
    assert text_of(page, "#rules-debit").startswith("50.00 HRS\nHow far below zero")
    assert text_of(page, "#rules-ceiling").startswith("1,000.00 HRS\nHow far above zero")
    assert text_of(page, "#rules-levy") == "None: a payment costs nothing more than its amount."
    assert text_of(page, "#rules-admission").startswith("An admin admits new members")
    assert text_of(page, "#rules-defaults").startswith(
        "A proposal that names no quorum or threshold needs 50\xa0% of the members to take part and 66.67\xa0%")
    floors = floors_shown(page)
    assert floors["floor-general"] == "No floor: any time, any quorum"
    assert floors["floor-membership"] == "Open at least 1 day · quorum at least 25\xa0% · threshold at least 50\xa0%"
    assert floors["floor-rules"] == "Open at least 3 days · quorum at least 50\xa0% · threshold at least 66.67\xa0%"
    assert text_of(page, "#rules-sees-balances") == "The member concerned and admins"
    assert text_of(page, "#rules-sees-decisions") == "Members"
    assert fits_the_screen(page)
    phone.shoot("rules-starting")

    decide_everything(community)
    page.goto(node.url + "/wallet/settings", wait_until="load")
    page.locator("#settings-rules-link").click()
    wait_until(lambda: "1.5\xa0%" in page.locator("#rules-levy").inner_text(), what="the rules now in force")
    assert text_of(page, "#rules-levy") == ("1.5\xa0%\nOf each payment between members, at least 0.05 HRS and at "
                                            "most 2.00 HRS, paid by the payer into the treasury.")
    assert text_of(page, "#rules-admission") == "New members are admitted only by a decision of the members."
    assert text_of(page, "#rules-defaults").startswith("A proposal that names no quorum or threshold needs 55\xa0% "
                                                       "of the members to take part and 70\xa0% of those taking sides")
    floors = floors_shown(page)
    assert floors["floor-limits"] == "Open at least 4 days · quorum at least 60\xa0% · threshold at least 50\xa0%"
    assert floors["floor-rules"] == "Open at least 5 days · quorum at least 60\xa0% · threshold at least 75\xa0%"
    assert floors["floor-membership"] == "Open at least 1 day · quorum at least 25\xa0% · threshold at least 50\xa0%"
    assert text_of(page, "#rules-sees-decisions") == "Everyone"
    assert fits_the_screen(page)
    phone.shoot("rules-changed")
    assert phone.errors == []

    # In Spanish, nothing is left in English; amounts in Spain's way.
    opened = open_phone_speaking(browser, "es-ES")
    spanish = next(opened)
    try:
        bind_device(spanish, node, community.corin)
        spanish.page.goto(node.url + "/wallet/rules", wait_until="load")
        wait_until(lambda: spanish.page.locator("#rules-floors li").count() == 8, what="las reglas en vigor")
        assert text_of(spanish.page, "#rules-levy").startswith("1,5\xa0%\nDe cada pago")
        assert "0,05 HRS" in text_of(spanish.page, "#rules-levy")
        assert text_of(spanish.page, "#rules-sees-decisions") == "Todo el mundo"
        assert fits_the_screen(spanish.page)
        spanish.shoot("rules-es")
        assert spanish.errors == []
    finally:
        next(opened, None)


@pytest.mark.parametrize("reader", ["stranger", "outsider", "member", "admin"])
def test_the_rules_are_read_by_members_alone_and_a_refusal_changes_nothing(community: Community, reader: str) -> None:
    node = community.node
    key = {"stranger": None, "outsider": KeyPair.generate(), "member": community.corin, "admin": node.admin_key}[reader]
    before = node.snapshot()
    answer = node.get_as(key, "/api/rules")
    if reader in ("stranger", "outsider"):
        assert (answer.status, answer.json()["error"]) == (401, "not_signed_in"), answer.body[:300]
        assert answer.json()["message"]
        assert node.snapshot() == before
        return
    assert answer.status == 200, answer.body[:300]
    rules = answer.json()
    assert set(rules) == {"unit", "debit_limit", "credit_ceiling", "admission", "quorum_bp", "threshold_bp", "floors",
                          "levy", "visibility"}
    assert (rules["debit_limit"], rules["credit_ceiling"]) == (5000, 100000)
    assert [floor["class"] for floor in rules["floors"]] == [
        "general", "enterprise", "membership", "federation", "limits", "treasury", "key_recovery", "rules"]
    assert rules["visibility"] == node.get("/api/community")["visibility"]
