"""The market across the federation, in a real federation of `tally serve` processes (`tally cluster
up --nodes 2`: Riverside and Hilltop, peered, one federation, trade limits of 200.00 either way) and
a real Chromium at phone size: Riverside's admin shares its listings with its federations, Ada of
Riverside lists an offer, a new member of Hilltop finds it by searching all the federations from
Hilltop's wallet and pays for it from the listing, across; the payment settles on both ledgers.
Ada withdraws it and it is gone from Hilltop's search. The digest route serves no stranger, no
member and no node outside the federations (docs/market.md, "Across the federation")."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tallystick.node.home import read_key
from tallystick.protocol.ids import id_from_text
from tallystick.protocol.requests import sign_request

from helpers.browsing import Community, cluster_up, fits_the_screen, wait_until
from helpers.support import http, tally, tally_json

from .conftest import Phone


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Community]]:
    directory, started = cluster_up(tmp_path_factory, 2)
    try:
        yield [Community(c["name"], c["url"], c["node"], Path(c["home"])) for c in started]
    finally:
        stopped = tally("cluster", "down", directory)
        assert stopped.returncode == 0, stopped.stderr


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


def test_a_member_finds_another_communitys_listing_pays_for_it_across_and_it_goes_when_withdrawn(
        phone: Phone, cluster: list[Community]) -> None:
    riverside, hilltop = cluster
    page = phone.page

    # Not shared by default; an admin alone shares (a member is refused and changes nothing).
    assert riverside.get("/api/listings/sharing") == {"federations": False}
    stranger = http("GET", riverside.url + "/api/listings/sharing")
    assert (stranger.status, stranger.json()["error"]) == (401, "not_signed_in")
    refused = signed(riverside, riverside.member_key("Ada"), "PUT", "/api/listings/sharing", {"federations": True})
    assert (refused.status, refused.json()["error"]) == (403, "not_admin")
    shared = signed(riverside, riverside.admin_key, "PUT", "/api/listings/sharing", {"federations": True})
    assert shared.status == 200 and riverside.get("/api/listings/sharing") == {"federations": True}

    listed = signed(riverside, riverside.member_key("Ada"), "POST", "/api/listings", {
        "kind": "offer", "title": "Walnut bread across", "description": "Baked on Fridays.", "category": "food",
        "price": 350, "place": "Mill Lane"})
    assert listed.status == 201, listed.body
    listing = listed.json()
    ada = listing["payee"]

    # The digest is for the federation's nodes alone: a stranger, and a member's key, are refused.
    unsigned = http("GET", riverside.url + "/replication/listings")
    assert (unsigned.status, unsigned.json()["error"]) == (403, "unsigned_request")
    by_member = signed(riverside, riverside.member_key("Ada"), "GET", "/replication/listings")
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

    # Withdrawn on Riverside: its tombstone reaches Hilltop, and the listing is gone from its search.
    withdrawn = signed(riverside, riverside.member_key("Ada"), "DELETE", f"/api/listings/{listing['id']}")
    assert withdrawn.status == 200, withdrawn.body
    wait_until(lambda: not [e for e in federation_search(hilltop, "walnut") if e["id"] == listing["id"]],
               deadline_seconds=30, what="the withdrawn listing gone from Hilltop's search")
    # The listing's own page, read across, answers as for none.
    answer = signed(hilltop, hilltop.admin_key, "GET", f"/api/listings/{listing['id']}?community={riverside.node}")
    assert (answer.status, answer.json()["error"]) == (404, "listing_unknown")
    assert phone.errors == []
