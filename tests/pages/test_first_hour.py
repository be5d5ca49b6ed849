"""The pages in a person's first hour (issue 13), in a real browser against the real cluster: a
member's history adds up to their balance and says what is held for them and why; amounts read in
major units with the unit, never "minor"; people are counted as people; the federation's sections
lead with plain words; recent activity numbers each event once; the pages fit a phone's screen; the
federation picture's labels never meet."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tallystick.federation.charts import federation_picture
from tallystick.ledger.shares import enterprise_id
from tallystick.node.home import write_key
from tallystick.node.pages.shared import environment
from tallystick.protocol.events import (
    AdmitMember,
    FounderIssue,
    Holders,
    OpenOffer,
    PayAcross,
    PlaceOrder,
    Propose,
    RegisterEnterprise,
    ShareClass,
    Subscribe,
    Transfer,
    TransferShares,
    Vote,
)
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from helpers.browsing import Browsing, Community, fits_the_screen, phone_width_px, sign_as, wait_until

desktop_width_px = 1280


@pytest.fixture
def phone(browser: Any, cluster: list[Community]) -> Iterator[Any]:
    """A page in a phone-sized window (360 CSS pixels wide), read as each community's admin."""
    context = browser.new_context(viewport={"width": phone_width_px, "height": 740})
    page = Browsing(context, context.new_page())
    sign_as(page, cluster, lambda community: community.admin_key)
    yield page.page
    context.close()


def pages_of(community: Community) -> list[str]:
    """The pages a member reads: the community, a member, the payments across, the federation and
    the enterprise."""
    federation = community.get("/api/federations")[0]["id"]
    return ["/", "/members/Ada", "/payments", f"/federations/{federation}", "/enterprises/Bakery"]


def history_rows(browsing: Browsing) -> list[dict[str, Any]]:
    return [{"seq": int(row.get_attribute("data-seq")), "change": int(row.get_attribute("data-change")),
             "balance": int(row.get_attribute("data-balance")), "text": row.inner_text()}
            for row in browsing.page.locator("table.history tbody tr[data-seq]").all()]


def test_a_members_history_adds_up_to_the_balance_and_says_what_is_held(
    cluster: list[Community], browsing: Browsing, tmp_path: Path
) -> None:
    """A new member is paid, pays locally (into debt, as mutual credit allows), subscribes to an offer, places a buy order that rests and
    pays a member of another community: every one of those is a line of their history, the lines'
    changes sum to the balance the API gives, and what is held (the subscription and the order, in
    escrow) is listed with its reason."""
    community, elsewhere = cluster[0], cluster[1]
    key = KeyPair.generate()
    key_file = tmp_path / "newcomer.key"
    write_key(key_file, key)
    member = id_to_text("m", key.public)
    community.act(community.admin_key, AdmitMember(member=key.public, name="Newcomer"))
    ada = id_from_text("m", community.get("/api/members/Ada")["id"])
    received = community.act(community.member_key("Ada"), Transfer(to=key.public, amount_minor=200, memo="welcome"))
    paid = community.act(key_file, Transfer(to=ada, amount_minor=500, memo="eggs"))
    # Dev's kiln offers shares for an hour; the newcomer subscribes to 3 at 2.00 (6.00 held).
    kiln_class = ShareClass("Kiln shares", "investor", 1, 1, 100, False, True, None, False)
    registered = community.act(community.member_key("Dev"), RegisterEnterprise(f"Kiln {time.time_ns()}", (kiln_class,)))
    kiln = enterprise_id(id_from_text("n", community.node), registered["seq"])
    offer = community.act(community.member_key("Dev"), OpenOffer(kiln, 0, 200, 50, 10, 20, int(time.time() * 1000) + 3600_000))
    subscribed = community.act(key_file, Subscribe(offer=offer["seq"], units=3))
    # A buy order on the Bakery far below every seller rests, its price held in escrow: 5 at 0.10.
    bakery = community.get("/api/enterprises/Bakery")
    traded = next(c for c in bakery["classes"] if c["transferable"])
    ordered = community.act(key_file, PlaceOrder(id_from_text("e", bakery["id"]), traded["index"], "buy", 5, 10))
    federation = community.get("/api/federations")[0]["id"]
    bruno_there = id_from_text("m", elsewhere.get("/api/members/Bruno")["id"])
    across = community.act(key_file, PayAcross(id_from_text("x", federation), id_from_text("n", elsewhere.node),
                                               bruno_there, 100, "across"))

    [account] = community.get(f"/api/balances?account={member}")
    assert account["balance"] == 200 - 500 - 600 - 50 - 100
    assert browsing.open(f"{community.url}/members/{member}").status == 200
    rows = history_rows(browsing)
    assert sum(row["change"] for row in rows) == account["balance"]
    assert rows[0]["balance"] == account["balance"]
    assert browsing.page.locator("#account .balance").get_attribute("data-minor") == str(account["balance"])
    text = {row["seq"]: row["text"] for row in rows}
    assert "From Ada" in text[received["seq"]] and "+2.00 HRS" in text[received["seq"]]
    assert "Paid Ada" in text[paid["seq"]] and "-5.00 HRS" in text[paid["seq"]]
    assert "Held in escrow for your subscription to 3 Kiln shares" in text[subscribed["seq"]]
    assert f"Your buy order #{ordered['seq']}" in text[ordered["seq"]] and "held in escrow" in text[ordered["seq"]]
    # Bruno's name is committed in his own community's log (docs/protocol.md §19): this node cannot
    # open it, so it names him by his id, shortened.
    bruno_shown = id_to_text("m", bruno_there)[:12] + "…"
    assert f"Paid {bruno_shown} of " in text[across["seq"]] and "-1.00 HRS" in text[across["seq"]]
    # What is held now, and why: the subscription and the resting order (and the payment across while
    # the other community has not answered it).
    held = {item.inner_text(): int(item.get_attribute("data-minor"))
            for item in browsing.page.locator("#held li").all()}
    assert any("6.00 HRS held for your subscription to 3 Kiln shares" in line for line in held)
    assert any(f"0.50 HRS held for your buy order #{ordered['seq']} on Bakery" in line for line in held)
    assert sum(held.values()) in (650, 750)
    assert "minor" not in browsing.text("main").casefold()
    assert browsing.dialogs == [] and browsing.errors == []


def test_no_page_shows_minor_units_and_every_page_fits_a_phone(
    cluster: list[Community], browsing: Browsing, phone: Any
) -> None:
    community = cluster[0]
    for path in pages_of(community):
        for page, width in ((browsing.page, desktop_width_px), (phone, phone_width_px)):
            assert page.goto(community.url + path, wait_until="load").status == 200, path
            assert "minor" not in page.locator("body").inner_text().casefold(), f"{path} at {width} px"
        assert fits_the_screen(phone), (
            f"{path} is {phone.evaluate('document.documentElement.scrollWidth')} px wide on a {phone_width_px} px phone")
    # Limits read as amounts: a zero debit limit as 0.00 HRS, never -0.00.
    phone.goto(community.url + "/", wait_until="load")
    assert "-0.00" not in phone.locator("body").inner_text()


def test_people_are_counted_as_people_and_the_communitys_own_accounts_apart(
    cluster: list[Community], browsing: Browsing
) -> None:
    community = cluster[0]

    def counts() -> tuple[str, set[str], set[str]]:
        browsing.open(community.url + "/")
        return (browsing.text(".active-members"),
                {row.get_attribute("data-member") for row in browsing.page.locator("table.members tbody tr").all()},
                {row.get_attribute("data-member") for row in browsing.page.locator("table.system-accounts tbody tr").all()})

    def expected() -> tuple[str, set[str], set[str]]:
        members = community.get("/api/members")
        people = [m for m in members if m["role"] in ("member", "admin")]
        return (str(sum(1 for m in people if m["active"])), {m["id"] for m in people},
                {m["id"] for m in members if m["role"] not in ("member", "admin")})

    wait_until(lambda: counts() == expected(), what="the people and the community's own accounts apart")
    roles = {row.get_attribute("data-role") for row in browsing.page.locator("table.system-accounts tbody tr").all()}
    assert {"escrow", "enterprise"} <= roles, "the cluster's Bakery and its escrow are not people"


def test_a_holders_vote_counts_the_people_who_voted(cluster: list[Community], browsing: Browsing) -> None:
    """Chiara holds 6 of 10 shares and Bruno 4; Chiara votes. The page says 1 of 2 holders voted,
    with 6 of 10 votes: people as people, votes as votes."""
    community = cluster[2]
    shares = ShareClass("Mill shares", "founder", 1, 1, 100, False, True, None, False)
    registered = community.act(community.member_key("Chiara"),
                               RegisterEnterprise(f"Mill {time.time_ns()}", (shares,), (FounderIssue(0, 10),)))
    mill = enterprise_id(id_from_text("n", community.node), registered["seq"])
    bruno = id_from_text("m", community.get("/api/members/Bruno")["id"])
    community.act(community.member_key("Chiara"), TransferShares(mill, 0, bruno, 4))
    proposed = community.act(community.member_key("Chiara"), Propose(
        "proposal", "Open on Sundays", "", int(time.time() * 1000) + 3600_000, electorate=Holders(mill)))
    community.act(community.member_key("Chiara"), Vote(decision=proposed["seq"], position="agree"))
    [expected] = [d for d in community.get("/api/decisions?open=1") if d["id"] == proposed["seq"]]
    assert (expected["tally"]["participants"], expected["tally"]["electorate"]) == (6, 10)

    browsing.open(community.url + "/")
    decision = browsing.page.locator(f'#decisions .decision[data-decision="{proposed["seq"]}"]')
    assert decision.locator(".people-voted").inner_text() == "1"
    assert decision.locator(".people").inner_text() == "2"
    assert decision.locator(".participants").inner_text() == "6"
    assert decision.locator(".electorate").inner_text() == "10"
    assert "1 of 2 holders" in decision.inner_text()
    assert "members took part" not in decision.inner_text()


def test_the_federation_page_leads_with_plain_words(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[0]
    federation = community.get("/api/federations")[0]["id"]
    browsing.open(f"{community.url}/federations/{federation}")
    headings = [h.inner_text() for h in browsing.page.locator("main h2").all()]
    for plain, system in (("What we agreed", "S5 policy"), ("What we do", "S1 operations"),
                          ("Keeping in step", "S2 coordination"), ("Keeping trade fair", "S3 control"),
                          ("Checking", "S3* audit"), ("Looking ahead", "S4 intelligence")):
        [heading] = [h for h in headings if system in h]
        assert heading.startswith(plain), heading
        # The VSM's name is a second, muted line under the plain words.
        line = browsing.page.locator("main h2 .vsm", has_text=system)
        assert line.count() == 1 and line.evaluate("e => getComputedStyle(e).display") == "block"


def test_recent_activity_numbers_each_event_once_in_plain_words(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[0]
    browsing.open(community.url + "/")
    activity = browsing.page.locator("ol.activity")
    assert activity.evaluate("e => getComputedStyle(e).listStyleType") == "none"
    for line in activity.locator("li").all():
        seq = line.get_attribute("data-seq")
        assert line.inner_text().count(f"#{seq}") == 1
    text = activity.inner_text()
    for jargon in ("fed vote", "fed_vote", "payment sent", "payment_sent", "fed propose"):
        assert jargon not in text, jargon


def label_overlaps(page: Any) -> list[tuple[str, str]]:
    """Pairs of the federation picture's labels that meet each other or another node's circle, by
    their bounding boxes as Chromium lays them out."""
    found = page.evaluate("""() => [...document.querySelectorAll('svg.federation-picture g')].map((g, i) => {
        const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
        return {i, name: g.querySelector('text').textContent, text: box(g.querySelector('text')),
                circle: box(g.querySelector('circle'))}; })""")

    def meet(a: list[float], b: list[float]) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    assert found, "no picture"
    return [(a["name"], b["name"]) for a in found for b in found if a["i"] != b["i"]
            and (meet(a["text"], b["circle"]) or (a["i"] < b["i"] and meet(a["text"], b["text"])))]


def test_the_federation_pictures_labels_do_not_overlap(cluster: list[Community], browsing: Browsing) -> None:
    """On the cluster's federation page, and in confederations of every shape drawn by the page's
    own function and template in the same browser: no label meets another label or another node."""
    community = cluster[0]
    federation = community.get("/api/federations")[0]["id"]
    browsing.open(f"{community.url}/federations/{federation}")
    assert label_overlaps(browsing.page) == []

    shapes = {
        "two of three": [["Riverside", "Hilltop", "Millbrook"], ["Oakhaven", "Fernwood", "Stonebridge"]],
        "uneven": [["Riverside", "Hilltop", "Millbrook", "Ashford"], ["Oakhaven"],
                   ["Stonebridge", "Willowmere", "Brightwater", "Cedar Hollow", "Elmstead"]],
        "long names": [["A community with a very long name indeed", "Hilltop"], ["Oakhaven", "Fernwood", "Foxley"]],
        "twelve": [[f"Community {n}" for n in range(6)], [f"Village {n}" for n in range(6)]],
    }
    template = environment.from_string(
        '{% extends "base.html" %}{% from "_macros.html" import federation_svg %}'
        "{% block content %}{{ federation_svg(picture, {}) }}{% endblock %}")
    frame = {"community": {"name": "Test", "unit_code": "HRS"}, "node_id": "n_test", "seq": 0, "alerts": []}
    for shape, groups in shapes.items():
        members = [{"member": f"x_{index}", "name": f"Federation {index}", "kind": "federation"}
                   for index in range(len(groups))]
        children = {f"x_{index}": [{"member": f"n_{index}_{place}", "name": name, "kind": "community"}
                                   for place, name in enumerate(names)] for index, names in enumerate(groups)}
        picture = federation_picture("The confederation of the valley", members, [], children)
        browsing.page.set_content(template.render(picture=picture, **frame))
        assert browsing.page.locator("svg.federation-picture g.child-node").count() == sum(map(len, groups))
        assert label_overlaps(browsing.page) == [], shape


def test_a_long_history_pages_back_and_every_page_adds_up(
    cluster: list[Community], browsing: Browsing, tmp_path: Path
) -> None:
    """A member with more changes than a page holds (50): following "Older changes" shows each
    change once, each page's changes run from the balance before its oldest line to the balance after
    its newest, and all of them sum to the API's balance."""
    community = cluster[1]
    key = KeyPair.generate()
    key_file = tmp_path / "busy.key"
    write_key(key_file, key)
    member = id_to_text("m", key.public)
    community.act(community.admin_key, AdmitMember(member=key.public, name=f"Busy {time.time_ns()}"))
    ada = id_from_text("m", community.get("/api/members/Ada")["id"])
    for index in range(60):
        community.act(key_file, Transfer(to=ada, amount_minor=1 + index % 7, memo=""))
    [account] = community.get(f"/api/balances?account={member}")

    browsing.open(f"{community.url}/members/{member}")
    assert len(history_rows(browsing)) == 50
    seen: list[dict[str, Any]] = []
    for _ in range(5):
        rows = history_rows(browsing)
        assert rows, "an empty page of history"
        for newer, older in itertools.pairwise(rows):
            assert older["balance"] == newer["balance"] - newer["change"], (newer, older)
        if seen:
            assert rows[0]["balance"] == seen[-1]["balance"] - seen[-1]["change"], "a page starts where the last ended"
        seen += rows
        older_link = browsing.page.locator("a.older-payments")
        if older_link.count() == 0:
            break
        older_link.click()
        browsing.page.wait_for_load_state()
    seqs = [row["seq"] for row in seen]
    assert seqs == sorted(set(seqs), reverse=True), "each change once, newest first"
    assert len(seen) == 61  # joining (the account opens at zero) and the 60 payments
    assert seen[0]["balance"] == account["balance"]
    assert sum(row["change"] for row in seen) == account["balance"]
