"""The community's page (/) in a real browser, against a real cluster: what a person sees matches
the API, follows new payments within seconds, reads without JavaScript, and shows whatever members
typed (names, memos, proposals) as text, never as markup that runs."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from tallystick.node.pages.language import money
from tallystick.protocol import limits
from tallystick.protocol.events import AdmitMember, Propose, Vote
from tallystick.protocol.ids import KeyPair, id_from_text

from helpers.browsing import Browsing, Community, wait_until
from helpers.support import tally_json

# Hostile text a member can type: each would set window.__tallyInjected and open a dialog if a page
# ever let it through as markup.
script_memo = '<script>window.__tallyInjected = "memo"; alert("memo")</script>'
html_name = '<img src=x onerror="window.__tallyInjected=1;alert(1)">Eve'
script_title = '<script>window.__tallyInjected = "title"</script>Fix <b>the</b> roof'
_memo_numbers = itertools.count(1)


def balances_on_page(browsing: Browsing) -> dict[str, str]:
    """Member id -> the balance text of its row in the members table."""
    return {
        row.get_attribute("data-member"): row.locator("td.balance").inner_text().strip()
        for row in browsing.page.locator("table.members tbody tr").all()
    }


def balances_of_api(community: Community) -> dict[str, str]:
    """The people's balances (the members table lists people; the community's own accounts apart)."""
    people = {member["id"] for member in community.people()}
    unit = community.get("/api/community")["unit"]
    return {row["account"]: money(row["balance"], unit["decimals"], unit["code"], "en")
            for row in community.get("/api/balances") if row["account"] in people}


def wait_for_page_to_match(browsing: Browsing, url: str, on_page: Callable[[], Any], in_api: Callable[[], Any]) -> None:
    """Load `url` until what `on_page` reads equals what `in_api` reads at that moment: the nodes
    append on their own too (federation acts from their outbox, checkpoints), so a page and an API
    answer read a moment apart may differ by an event, and then agree on the next load."""

    def agree() -> bool:
        browsing.open(url)
        return on_page() == in_api()

    wait_until(agree, what=f"{url} to show what the API says")


def assert_no_script_ran(browsing: Browsing) -> None:
    assert browsing.page.evaluate("typeof window.__tallyInjected") == "undefined"
    assert browsing.dialogs == []
    assert browsing.errors == []


def test_community_page_shows_every_balance_of_the_api(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[0]
    response = browsing.open(community.url + "/")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    wait_for_page_to_match(
        browsing, community.url + "/",
        lambda: (balances_on_page(browsing), browsing.text(".active-members")),
        lambda: (balances_of_api(community), str(sum(1 for member in community.people() if member["active"]))),
    )


def test_community_page_reads_without_javascript(cluster: list[Community], browsing_without_javascript: Browsing) -> None:
    community = cluster[1]
    browsing = browsing_without_javascript
    assert browsing.open(community.url + "/").status == 200
    wait_for_page_to_match(browsing, community.url + "/", lambda: balances_on_page(browsing),
                           lambda: balances_of_api(community))
    assert browsing.page.locator("script").count() == 0, "the pages ship no script"


def test_a_payment_made_with_the_cli_appears_on_the_page_within_seconds(
    cluster: list[Community], browsing: Browsing
) -> None:
    community = cluster[0]
    memo = f"bread and honey {next(_memo_numbers)}"
    paid = community.cli("--key", community.member_key("Ada"), "pay", "Bruno", "2.25", "--memo", memo)

    def shown() -> bool:
        browsing.open(community.url + "/")
        line = browsing.page.locator(f'ol.activity li[data-seq="{paid["seq"]}"]')
        return line.count() == 1 and memo in line.inner_text()

    wait_until(shown, what=f"payment #{paid['seq']} in the recent activity")
    line = browsing.text(f'ol.activity li[data-seq="{paid["seq"]}"]')
    assert "Ada paid Bruno 2.25 HRS" in line
    wait_for_page_to_match(browsing, community.url + "/", lambda: balances_on_page(browsing),
                           lambda: balances_of_api(community))


def test_a_memo_of_script_and_a_name_of_html_show_as_text_and_run_nothing(
    cluster: list[Community], browsing: Browsing, tmp_path: Any
) -> None:
    community = cluster[0]
    key_file = tmp_path / "eve.key"
    member = tally_json("key", "new", key_file, "--json")["id"]
    community.act(community.admin_key, AdmitMember(member=id_from_text("m", member), name=html_name))
    paid = community.cli("--key", key_file, "pay", "Ada", "0.50", "--memo", script_memo)

    browsing.open(community.url + "/")
    line = browsing.page.locator(f'ol.activity li[data-seq="{paid["seq"]}"]')
    wait_until(lambda: line.count() == 1, what="the hostile payment in the activity")
    assert script_memo in line.inner_text()
    assert html_name in line.inner_text()
    assert html_name in browsing.text("table.members")
    assert browsing.page.locator("main img").count() == 0
    assert browsing.page.locator("main script").count() == 0
    assert_no_script_ran(browsing)


def test_open_decisions_show_the_api_live_tally_and_time_left(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[2]
    deadline_ms = int(time.time() * 1000) + 2 * 3600 * 1000
    proposed = community.act(community.admin_key, Propose("proposal", script_title, script_memo, deadline_ms))
    for name, position in (("Ada", "agree"), ("Bruno", "agree"), ("Chiara", "disagree")):
        community.act(community.member_key(name), Vote(decision=proposed["seq"], position=position))
    [expected] = [d for d in community.get("/api/decisions?open=1") if d["id"] == proposed["seq"]]

    browsing.open(community.url + "/")
    decision = browsing.page.locator(f'#decisions .decision[data-decision="{proposed["seq"]}"]')
    assert decision.count() == 1
    for position, count in expected["tally"]["positions"].items():
        assert decision.locator(f".count-{position}").inner_text() == str(count)
    assert decision.locator(".participants").inner_text() == str(expected["tally"]["participants"])
    assert decision.locator(".electorate").inner_text() == str(expected["tally"]["electorate"])
    assert decision.locator(".outcome-now").inner_text() == expected["tally"]["outcome"]
    assert decision.locator(".time-left").inner_text() in ("in 1 hour", "in 2 hours")  # Babel's, as people say it
    assert script_title in decision.inner_text() and script_memo in decision.inner_text()
    assert_no_script_ran(browsing)


def test_the_balance_plot_counts_every_active_person(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[1]
    bars = browsing.page.locator("#distribution svg.histogram rect")
    wait_for_page_to_match(
        browsing, community.url + "/",
        lambda: sum(int(bar.get_attribute("data-count")) for bar in bars.all()),
        lambda: sum(1 for member in community.people() if member["active"]),
    )
    assert bars.count() > 0


def test_every_member_is_on_one_of_the_pages_in_the_api_order(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[2]
    for index in range(101):  # with the demo members, more than one page of 100
        community.act(community.admin_key, AdmitMember(member=KeyPair.generate().public, name=f"Neighbour {index:03}"))
    unit = community.get("/api/community")["unit"]

    def in_api() -> list[tuple[str, str]]:
        people = {member["id"] for member in community.people()}
        return [(row["account"], money(row["balance"], unit["decimals"], unit["code"], "en"))
                for row in community.get("/api/balances") if row["account"] in people]

    def every_page() -> list[tuple[str, str]]:
        """What a person reads following "next" from the first page to the last."""
        seen: list[tuple[str, str]] = []
        for _ in range(limits.page_size_max):
            rows = browsing.page.locator("table.members tbody tr").all()
            seen += [(row.get_attribute("data-member"), row.locator("td.balance").inner_text().strip()) for row in rows]
            following = browsing.page.locator("#members a[rel=next]")
            if following.count() == 0:
                break
            following.click()
            browsing.page.wait_for_load_state()
        return seen

    assert len(in_api()) > 100, "more than one page"
    wait_for_page_to_match(browsing, community.url + "/", every_page, in_api)
