"""The market across the federation, in a real federation of `tally serve` processes (`tally cluster
up --nodes 2`: Riverside and Hilltop, peered, one federation, trade limits of 200.00 either way,
each node then served again with a real SMTP server on loopback (aiosmtpd) in its config) and a
real Chromium at phone size: Riverside's admin shares its listings with its federations, Ada of
Riverside (mails in Spanish) lists an offer that expires tomorrow and is reminded of it in her
inbox and by mail; a new member of Hilltop gives an address in the wallet's notification settings,
finds the offer by searching all the federations from Hilltop's wallet and pays for it from the
listing, across; the payment settles on both ledgers, and both are told in the inbox and by mail
(issue 17's done-when). Ada withdraws it and it is gone from Hilltop's search. The digest route
serves no stranger, no member and no node outside the federations, and a digest of more than a
page is read to its end (docs/market.md, "Across the federation"; docs/notifications.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from tallystick.federation.market import digest_page_max
from tallystick.node.home import read_key
from tallystick.protocol.ids import id_from_text
from tallystick.protocol.requests import sign_request

from helpers.browsing import Community, cluster_up, fits_the_screen, wait_until
from helpers.mail import SmtpServer
from helpers.nodes import NodeProcess, init_home
from helpers.support import ServeProcess, free_port, http, tally, tally_json

from .conftest import Phone

mail_deadline_seconds = 30


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def outsider(tmp_path_factory: pytest.TempPathFactory) -> NodeProcess:
    """A community of no federation, peered with Riverside both ways (the cluster starts and stops
    it): Riverside holds its feed and knows its node key, but it is no community of Riverside's
    federations."""
    home = tmp_path_factory.mktemp("outsider") / "home"
    created = init_home(home)
    port = json.loads((home / "config.json").read_text())["listen_port"]
    return NodeProcess(home=home, port=port, created=created)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer, outsider: NodeProcess) -> Iterator[list[Community]]:
    """The cluster's two nodes, each served again with `smtp` and a reminders' pass every 200 ms in
    its config.json (`tally cluster up` configures no mail), Riverside peered with the outsider too:
    stopped by `tally cluster down`, which keeps the homes, and started on the same ports, so the
    peers and the federation stay."""
    directory, started = cluster_up(tmp_path_factory, 2)
    communities = [Community(c["name"], c["url"], c["node"], Path(c["home"])) for c in started]
    stopped = tally("cluster", "down", directory)
    assert stopped.returncode == 0, stopped.stderr
    served: list[ServeProcess] = []
    try:
        for community in communities:
            config_path = community.home / "config.json"
            config = json.loads(config_path.read_text())
            config.update(smtp=smtp.config(f"tally@{community.home.name}.example"), reminders_interval_ms=200,
                          public_url=community.url)
            if community is communities[0]:
                config["peers"] = [*config["peers"], outsider.url]
            config_path.write_text(json.dumps(config, indent=2) + "\n")
            port = urlsplit(community.url).port
            assert port is not None
            process = ServeProcess(community.home, port, log_path=community.home / "serve-mailing.log")
            served.append(process)
            process.start()
        outsider.peers = [communities[0].url]
        served.append(outsider)
        outsider.start()
        yield communities
    finally:
        statuses = [process.stop() for process in served if process.running]
        assert statuses == [0] * len(statuses), "a node of the cluster (or the outsider) did not stop cleanly"


def signed(community: Community, key_file: Path, method: str, path: str, payload: Any = None) -> Any:
    """A request signed by the key in `key_file` (protocol.md §18), its JSON body and answer."""
    body = b"" if payload is None else json.dumps(payload).encode()
    authorization = sign_request(read_key(key_file), node=id_from_text("n", community.node), method=method,
                                 target=path, ts_ms=time.time_ns() // 1_000_000, body=body)
    return http(method, community.url + path, body or None, "application/json" if body else None,
                headers={"Authorization": authorization})


def federation_search(community: Community, words: str) -> list[dict[str, Any]]:
    return community.get(f"/api/listings?scope=federation&q={words}")["listings"]


def balance(community: Community, member: str) -> int:
    (account,) = community.get(f"/api/balances?account={member}")
    return account["balance"]


def inbox(community: Community, key_file: Path, member: str) -> list[dict[str, Any]]:
    """The member's notices as the wallet's inbox screen reads them (api.md §14), newest first."""
    answer = signed(community, key_file, "GET", f"/api/members/{member}/inbox?limit=50")
    assert answer.status == 200, answer.body
    return answer.json()["notices"]


def federation_count(community: Community, words: str) -> int:
    """How many listings a federation search for `words` finds, following its pages to the end."""
    found, after = 0, ""
    for _ in range(20):
        page = community.get(f"/api/listings?scope=federation&q={words}&limit=50{after}")
        found += len(page["listings"])
        if page["next"] is None:
            return found
        after = f"&before={quote(page['next'])}"
    raise AssertionError("more pages than a search of this test has")


def test_a_member_finds_another_communitys_listing_pays_for_it_across_both_are_told_and_it_goes_when_withdrawn(
        phone: Phone, cluster: list[Community], smtp: SmtpServer) -> None:
    riverside, hilltop = cluster
    page = phone.page
    ada_key = riverside.member_key("Ada")

    # Not shared by default; an admin alone shares (a member is refused and changes nothing).
    assert riverside.get("/api/listings/sharing") == {"federations": False}
    stranger = http("GET", riverside.url + "/api/listings/sharing")
    assert (stranger.status, stranger.json()["error"]) == (401, "not_signed_in")
    refused = signed(riverside, riverside.member_key("Ada"), "PUT", "/api/listings/sharing", {"federations": True})
    assert (refused.status, refused.json()["error"]) == (403, "not_admin")
    shared = signed(riverside, riverside.admin_key, "PUT", "/api/listings/sharing", {"federations": True})
    assert shared.status == 200 and riverside.get("/api/listings/sharing") == {"federations": True}

    # Ada gives an address for her mails, in Spanish (her community's default is English).
    (ada_member,) = [m for m in riverside.people() if m["name"] == "Ada"]
    ada = ada_member["id"]
    chosen = signed(riverside, ada_key, "PUT", f"/api/members/{ada}/notifications",
                    {"address": "ada@riverside.example", "language": "es"})
    assert chosen.status == 200 and chosen.json()["language"] == "es", chosen.body

    # An offer that expires tomorrow: within the three days, so Ada is reminded at the next pass.
    listed = signed(riverside, ada_key, "POST", "/api/listings", {
        "kind": "offer", "title": "Walnut bread across", "description": "Baked on Fridays.", "category": "food",
        "price": 350, "place": "Mill Lane", "expires_in_days": 1})
    assert listed.status == 201, listed.body
    listing = listed.json()
    assert listing["payee"] == ada
    reminded = wait_until(lambda: [n for n in inbox(riverside, ada_key, ada) if n["kind"] == "listing_expiring"],
                          deadline_seconds=mail_deadline_seconds, what="Ada's expiry reminder in her inbox")
    assert [n["ref"] for n in reminded] == [listing["id"]]
    wait_until(lambda: [m for m in smtp.inbox.to("ada@riverside.example")
                        if m.startswith(f"{riverside.name}: Un anuncio tuyo caduca en menos de tres días")],
               deadline_seconds=mail_deadline_seconds, what="Ada's expiry reminder by mail, in Spanish")

    # The digest is for the federation's nodes alone: a stranger, and a member's key, are refused.
    unsigned = http("GET", riverside.url + "/replication/listings")
    assert (unsigned.status, unsigned.json()["error"]) == (403, "unsigned_request")
    by_member = signed(riverside, ada_key, "GET", "/replication/listings")
    assert (by_member.status, by_member.json()["error"]) == (403, "unknown_peer")

    # Hilltop's node pulls it: in the federation's scope, with its community named; not in Hilltop's own.
    found = wait_until(lambda: [entry for entry in federation_search(hilltop, "walnut") if entry["id"] == listing["id"]],
                       deadline_seconds=30, what="the listing in Hilltop's federation search")
    assert found[0]["community"] == {"id": riverside.node, "name": riverside.name}
    assert found[0]["price"] == 350 and found[0]["payee"] == ada and found[0]["author"]["name"] is None
    assert hilltop.get("/api/listings?q=walnut")["listings"] == []

    link = tally_json("member", "invite", "--node", hilltop.url, "--key", hilltop.admin_key, "--name", "Market Buyer",
                      "--json")["link"]
    page.goto(link, wait_until="load")
    page.get_by_role("button", name="Join").click()
    wait_until(lambda: page.locator("#balance").count(), what="the home screen after joining")
    buyer = page.evaluate("async () => (await (await import('/wallet/static/keys.js')).loadDevice()).member")
    ada_before = balance(riverside, ada)

    # The buyer gives an address in the wallet's notification settings.
    page.goto(f"{hilltop.url}/wallet/notifications", wait_until="load")
    address = page.get_by_label("E-mail address (optional)")
    wait_until(address.count, what="the notification settings")
    address.fill("buyer@hilltop.example")
    page.get_by_role("button", name="Save").click()
    wait_until(lambda: page.locator("#notify-status").inner_text() == "Saved. E-mails go to buyer@hilltop.example.",
               what="the buyer's address saved")

    page.goto(f"{hilltop.url}/wallet/market", wait_until="load")
    page.get_by_label("Search in").select_option("federation")
    page.get_by_label("Search", exact=True).fill("walnut")
    page.get_by_role("button", name="Search", exact=True).click()
    row = page.locator("#market-results .listing-row", has_text="Walnut bread across")
    wait_until(row.count, what="the listing found across")
    assert f"In {riverside.name}" in row.inner_text() and "3.50 HRS" in row.inner_text()
    assert fits_the_screen(page)
    phone.shoot("market-across-search")
    row.get_by_role("link", name="Walnut bread across").click()
    wait_until(lambda: page.locator("#listing-community").count(), what="the listing of another community")
    assert page.locator("#listing-community").inner_text() == riverside.name
    assert page.locator("#listing-price").inner_text() == "3.50 HRS"
    assert page.locator("#listing-author").inner_text() == f"a member of {riverside.name}"
    assert fits_the_screen(page)
    phone.shoot("market-across-listing")

    page.get_by_role("link", name="Pay for this").click()
    wait_until(lambda: page.locator("#payee").count(), what="the pay screen filled in")
    assert page.locator("#payee").inner_text() == f"A member of {riverside.name}"
    assert page.get_by_label("Amount in HRS").input_value() == "3.50"
    assert page.get_by_label("Note (optional)").input_value() == "Walnut bread across"
    page.get_by_role("button", name="Review").click()
    wait_until(lambda: page.locator("#confirm-payee").count(), what="the confirmation")
    assert page.locator("#confirm-community").inner_text() == riverside.name
    page.get_by_role("button", name="Pay now").click()
    wait_until(lambda: page.locator("#receipt").count(), what="the receipt")

    wait_until(lambda: [p["status"] for p in hilltop.get("/api/payments?mine=1") if p["payer"] == buyer] == ["settled"],
               deadline_seconds=60, what="the payment settled")
    assert balance(hilltop, buyer) == -350
    wait_until(lambda: balance(riverside, ada) == ada_before + 350, deadline_seconds=30,
               what="Ada credited on Riverside's ledger")

    # Both are told. Ada, paid from another community: in her inbox, and by mail in Spanish.
    paid = wait_until(lambda: [n for n in inbox(riverside, ada_key, ada)
                               if n["kind"] == "payment_received" and n["ref"] == "across"],
                      deadline_seconds=mail_deadline_seconds, what="Ada told of the payment in her inbox")
    assert paid[0]["amount"] == 350
    wait_until(lambda: [m for m in smtp.inbox.to("ada@riverside.example")
                        if m.startswith(f"{riverside.name}: Te pagaron 3,50 HRS desde otra comunidad")],
               deadline_seconds=mail_deadline_seconds, what="Ada's mail of the payment, in Spanish")
    # The buyer, whose payment settled: in the wallet's inbox, and by mail (in English, Hilltop's language).
    settled = page.locator('#inbox li[data-kind="payment_across_settled"]')

    def settled_in_the_inbox() -> int:
        """The inbox screen as it is drawn now (it reads the inbox once, as it opens)."""
        page.goto(f"{hilltop.url}/wallet/inbox", wait_until="load")
        wait_until(lambda: page.locator("#inbox-unread").count(), what="the inbox drawn")
        return settled.count()

    wait_until(settled_in_the_inbox, deadline_seconds=mail_deadline_seconds, what="the settled payment in the buyer's inbox")
    assert "Your payment of 3.50 HRS to another community arrived" in settled.first.inner_text()
    assert fits_the_screen(page)
    phone.shoot("market-across-inbox")
    mail = wait_until(lambda: [m for m in smtp.inbox.to("buyer@hilltop.example")
                               if m.startswith(f"{hilltop.name}: Your payment of 3.50 HRS to another community arrived")],
                      deadline_seconds=mail_deadline_seconds, what="the buyer's mail of the payment settled")
    assert "Walnut" not in mail[0] and f"{hilltop.url}/wallet/inbox" in mail[0]  # no memo, no listing's text

    # Withdrawn on Riverside: its tombstone reaches Hilltop, and the listing is gone from its search.
    withdrawn = signed(riverside, ada_key, "DELETE", f"/api/listings/{listing['id']}")
    assert withdrawn.status == 200, withdrawn.body
    wait_until(lambda: not [e for e in federation_search(hilltop, "walnut") if e["id"] == listing["id"]],
               deadline_seconds=30, what="the withdrawn listing gone from Hilltop's search")
    # The listing's own page, read across, answers as for none.
    answer = signed(hilltop, hilltop.admin_key, "GET", f"/api/listings/{listing['id']}?community={riverside.node}")
    assert (answer.status, answer.json()["error"]) == (404, "listing_unknown")
    assert phone.errors == []


def test_the_digest_refuses_a_signed_node_outside_the_federations(cluster: list[Community], outsider: NodeProcess) -> None:
    riverside, _hilltop = cluster
    node_key = outsider.home / "node.key"
    # Once Riverside holds the outsider's feed, its node key signs a read Riverside knows, and is refused still.
    answer = wait_until(lambda: (read := signed(riverside, node_key, "GET", "/replication/listings")).json()["error"]
                        != "unknown_peer" and read, deadline_seconds=30, what="Riverside holding the outsider's feed")
    assert (answer.status, answer.json()["error"]) == (403, "not_federated")
    assert answer.json()["message"] and "\n" not in answer.json()["message"]
    assert "changes" not in answer.json()


def test_a_digest_of_more_than_a_page_is_read_to_its_end(cluster: list[Community]) -> None:
    riverside, hilltop = cluster
    share = signed(riverside, riverside.admin_key, "PUT", "/api/listings/sharing", {"federations": False})
    assert share.status == 200, share.body
    # Listed while not shared, so no pull takes them one by one: once shared, the digest holds them
    # all and Hilltop reads more than one page of it, from its cursor or from the start.
    count = digest_page_max + 5
    makers = ["Bruno", "Chiara", "Dev"]
    for number in range(count):
        made = signed(riverside, riverside.member_key(makers[number % len(makers)]), "POST", "/api/listings", {
            "kind": "offer", "title": f"Batch-{number:03d} jar", "category": "goods", "price": 100 + number})
        assert made.status == 201, made.body
    share = signed(riverside, riverside.admin_key, "PUT", "/api/listings/sharing", {"federations": True})
    assert share.status == 200, share.body
    # More than a page, as Hilltop's node reads it: a full page and `more`.
    first_page = signed(riverside, hilltop.home / "node.key", "GET", "/replication/listings?since=0.").json()
    assert len(first_page["changes"]) == digest_page_max and first_page["more"] is True
    wait_until(lambda: federation_count(hilltop, "batch") == count, deadline_seconds=30,
               what=f"all {count} listings in Hilltop's federation search")
    first, last = federation_search(hilltop, "batch-000"), federation_search(hilltop, f"batch-{count - 1:03d}")
    assert [e["title"] for e in first] == ["Batch-000 jar"] and [e["title"] for e in last] == [f"Batch-{count - 1:03d} jar"]
