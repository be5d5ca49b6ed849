"""A member's page (/members/{ref}) in a real browser, against a real cluster: the balance and
limits of the API, the member's payments as the log holds them, their votes, a "pay me" QR code as
SVG that encodes the URI shown beside it, and a proper 404 page for a member who does not exist."""

from __future__ import annotations

import time
import urllib.parse

import segno
from tallystick.ledger.shares import enterprise_id
from tallystick.protocol.events import FounderIssue, PlaceOrder, Propose, RegisterEnterprise, ShareClass, Vote
from tallystick.protocol.ids import id_from_text, id_to_text

from helpers.browsing import Browsing, Community, wait_until

hostile_memo = '<script>window.__tallyInjected = "qr"; alert(1)</script>'


def transfers_of(community: Community, member: dict) -> set[int]:
    """Seqs of the log's transfers that `member` made or received, read from the API's log."""
    seqs = set()
    next_seq = 1
    while next_seq is not None:
        page = community.get(f"/api/log?from={next_seq}&limit=1000")
        for event in page["events"]:
            body = event["body"]
            if body["kind"] not in ("act", "act_sealed") or body["intent"]["action"]["kind"] != "transfer":
                continue
            if body["intent"]["key"] == member["key"] or body["intent"]["action"]["to"] == member["id"]:
                seqs.add(event["seq"])
        next_seq = page["next"]
    return seqs


def test_member_page_shows_the_balance_and_limits_of_the_api(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[0]
    [expected] = community.get("/api/balances?account=Ada")
    assert browsing.open(community.url + "/members/Ada").status == 200
    assert browsing.text("h1.member-name") == "Ada"
    assert browsing.text("#account .balance") == community.money(expected["balance"])
    assert browsing.text("#account .debit-limit") == community.money(-expected["debit_limit"])
    assert browsing.text("#account .credit-ceiling") == community.money(expected["credit_ceiling"])
    # The page by id is the same page.
    browsing.open(community.url + "/members/" + expected["account"])
    assert browsing.text("h1.member-name") == "Ada"


def test_member_page_lists_every_payment_the_member_made_or_received(
    cluster: list[Community], browsing: Browsing
) -> None:
    community = cluster[0]
    paid = community.cli("--key", community.member_key("Chiara"), "pay", "Ada", "1.25", "--memo", "soup")
    ada = community.get("/api/members/Ada")
    expected = transfers_of(community, ada)
    assert paid["seq"] in expected

    def rows() -> set[int]:
        browsing.open(community.url + "/members/Ada")
        return {int(row.get_attribute("data-seq")) for row in browsing.page.locator("table.history tbody tr[data-seq]").all()}

    # Her history lists every change of her balance: each of these payments, and the rest.
    wait_until(lambda: expected <= rows(), what=f"Ada's payments {sorted(expected)} on her page")
    line = browsing.text(f'table.history tr[data-seq="{paid["seq"]}"]')
    assert "From Chiara" in line and "+1.25 HRS" in line and "soup" in line


def test_member_page_shows_the_member_votes(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[0]
    deadline_ms = int(time.time() * 1000) + 3600 * 1000
    proposed = community.act(community.admin_key, Propose("proposal", "Plant an orchard", "", deadline_ms))
    community.act(community.member_key("Bruno"), Vote(decision=proposed["seq"], position="disagree"))
    browsing.open(community.url + "/members/Bruno")
    vote = browsing.page.locator(f'#votes li[data-decision="{proposed["seq"]}"]')
    assert vote.count() == 1
    assert "Plant an orchard" in vote.inner_text()
    assert vote.locator(".position").inner_text() == "disagree"


def test_pay_me_is_a_qr_code_in_svg_encoding_the_wallet_link_shown(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[1]
    ada = community.get("/api/members/Ada")
    query = urllib.parse.urlencode({"amount": "3.5", "memo": hostile_memo})
    assert browsing.open(f"{community.url}/members/Ada?{query}").status == 200
    uri = browsing.text("#pay-me .pay-uri")
    # A link a phone's camera opens: the wallet's pay screen on the node's public URL, the payee in
    # the query, the amount and the memo in the fragment (which no browser sends to a server).
    link = urllib.parse.urlsplit(uri)
    assert f"{link.scheme}://{link.netloc}" == community.url and link.path == "/wallet/pay"
    assert dict(urllib.parse.parse_qsl(link.query)) == {"to": ada["id"]}
    assert dict(urllib.parse.parse_qsl(link.fragment)) == {"amount": "3.50", "memo": hostile_memo}
    assert browsing.text("#pay-me .pay-scan").startswith("Scan with your phone's camera to pay in the wallet")
    # The command-line hint names the node by the same public URL (node/public.py `public_url`).
    assert browsing.text("#pay-me .pay-command").startswith(f"tally --node {community.url} --key YOUR.key pay {ada['id']} 3.50")
    path = browsing.page.locator("#pay-me figure.qr svg path.qrline")
    assert path.count() == 1
    # segno is deterministic: the drawn modules are those of this very URI.
    expected = segno.make(uri, error="m").svg_inline(scale=4)
    assert f'd="{path.get_attribute("d")}"' in expected
    assert browsing.page.evaluate("typeof window.__tallyInjected") == "undefined"
    assert browsing.dialogs == [] and browsing.errors == []


def test_pay_me_without_an_amount_is_the_payee_alone(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[1]
    ada = community.get("/api/members/Ada")
    assert browsing.open(f"{community.url}/members/Ada").status == 200
    assert browsing.text("#pay-me .pay-uri") == f"{community.url}/wallet/pay?to={ada['id']}"


def test_an_unknown_member_gets_a_404_page(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[1]
    unknown = ["Nobody", "<b>Nobody</b>", "m_not-an-id", id_to_text("m", bytes(32))]
    for reference in unknown:
        response = browsing.open(community.url + "/members/" + urllib.parse.quote(reference, safe=""))
        assert response.status == 404, reference
        assert response.headers["content-type"].startswith("text/html")
        assert browsing.text("h1") == "Not found"
        assert reference in browsing.text(".not-found")
        assert browsing.page.locator("main b").count() == 0


def test_member_page_shows_the_members_shares_and_orders_as_the_api(cluster: list[Community], browsing: Browsing) -> None:
    community = cluster[0]
    kiln = ShareClass("Founders", "founder", 1, 1, 100, False, True, None, False)
    registered = community.act(community.member_key("Dev"), RegisterEnterprise("Dev's Kiln", (kiln,), (FounderIssue(0, 7),)))
    kiln_id = enterprise_id(id_from_text("n", community.node), registered["seq"])
    enterprise = id_to_text("e", kiln_id)
    kiln_order = community.act(community.member_key("Dev"), PlaceOrder(kiln_id, 0, "sell", 2, 150))
    expected = community.get("/api/members/Dev/holdings")
    kiln_row = next(h for h in expected["holdings"] if h["enterprise"] == enterprise)
    assert kiln_row["units"] == 7 and kiln_row["locked"] == 2
    browsing.open(community.url + "/members/Dev")
    row = f'#holdings tr[data-enterprise="{enterprise}"] .units'
    assert browsing.text(row) == "7"
    orders = browsing.page.locator("#holdings li[data-order]").count()
    assert orders == len(expected["orders"]) >= 1
    sell = browsing.page.locator(f'#holdings li[data-order="{kiln_order["seq"]}"]').inner_text()
    assert sell.startswith(f"Sell order #{kiln_order['seq']}: 2 shares of Dev's Kiln at 1.50 HRS each"), sell
