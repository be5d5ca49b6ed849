"""Paying a member of another community from the wallet, in a real federation of `tally serve`
processes (`tally cluster up --nodes 2`: Riverside and Hilltop, one federation, trade limits of
200.00 either way), in a real Chromium: a Riverside member pastes a Hilltop member's pay link (of
Hilltop's own node) into the pay screen of their wallet on Riverside's node, confirms a payment
that names the other community, sees it held (in flight) while Hilltop's node is paused, and
settled once it runs again; the Hilltop member's balance grew by what the federation converts.
A pay link opened on this node with `&node=n_…` picks the community too."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.browsing import Community, cluster_up, fits_the_screen, wait_until
from helpers.support import tally, tally_json

from .conftest import Phone

cluster_nodes = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """`tally cluster up` with two communities in one federation; `tally cluster down` after."""
    directory, started = cluster_up(tmp_path_factory, cluster_nodes)
    recorded = json.loads((directory / "cluster.json").read_text())
    pids = {entry["node"]: int(entry["pid"]) for entry in recorded}
    communities = [{"community": Community(c["name"], c["url"], c["node"], Path(c["home"])), "pid": pids[c["node"]]}
                   for c in started]
    try:
        yield communities
    finally:
        for entry in communities:
            os.kill(entry["pid"], signal.SIGCONT)  # a test that paused a node lets it stop
        stopped = tally("cluster", "down", directory)
        assert stopped.returncode == 0, stopped.stderr


def join(phone: Phone, community: Community, name: str) -> str:
    link = tally_json("member", "invite", "--node", community.url, "--key", community.admin_key, "--name", name,
                      "--json")["link"]
    phone.page.goto(link, wait_until="load")
    phone.page.get_by_role("button", name="Join").click()
    wait_until(lambda: phone.page.locator("#balance").count(), what="the home screen after joining")
    return phone.page.evaluate("async () => (await (await import('/wallet/static/keys.js')).loadDevice()).member")


def balance(community: Community, member: str) -> int:
    (account,) = community.get(f"/api/balances?account={member}")
    return account["balance"]


def test_a_member_pays_a_member_of_another_community_held_then_settled(
        phone: Phone, cluster: list[dict[str, Any]]) -> None:
    riverside, hilltop = cluster[0]["community"], cluster[1]["community"]
    page = phone.page
    member = join(phone, riverside, "Across Payer")
    bruno = hilltop.get("/api/members/Bruno")["id"]
    bruno_before = balance(hilltop, bruno)

    # Bruno's pay link is of Hilltop's node (his own wallet's receive screen shows it): pasted here.
    page.get_by_role("navigation").get_by_role("link", name="Pay").click()
    page.get_by_label("To").fill(f"{hilltop.url}/wallet/pay?to={bruno}")
    choice = page.get_by_role("button", name="Pay A member of Hilltop")
    wait_until(choice.count, what="the payee found across")
    choice.click()
    assert page.locator("#payee").inner_text() == "A member of Hilltop"
    page.get_by_label("Amount in HRS").fill("5")
    page.get_by_label("Note (optional)").fill("seeds")
    page.get_by_role("button", name="Review").click()
    wait_until(lambda: page.locator("#confirm-payee").count(), what="the confirmation")
    assert page.locator("#confirm-community").inner_text() == "Hilltop"
    assert page.locator("#confirm-amount").inner_text() == "5.00 HRS"
    assert page.locator("#confirm-received").count() == 0  # the same unit: one amount
    assert fits_the_screen(page)
    phone.shoot("payments-across-confirm")

    # Hilltop's node paused: the payment is sent, and held until Hilltop answers.
    os.kill(cluster[1]["pid"], signal.SIGSTOP)
    try:
        page.get_by_role("button", name="Pay now").click()
        wait_until(lambda: page.locator("#receipt").count(), what="the receipt")
        assert page.locator("#receipt").inner_text() == "Sent, in flight"
        assert "5.00 HRS to a member of Hilltop" in page.locator("main").inner_text()
        phone.shoot("payments-across-receipt")
        page.get_by_role("link", name="Back home").click()
        held = page.locator("#held-items")
        wait_until(held.count, what="what is held on home")
        assert "Payment to a member of Hilltop" in held.inner_text()
        assert "In flight" in held.inner_text() and "5.00 HRS" in held.inner_text()
        assert page.locator("#balance").inner_text() == "-5.00 HRS"
        phone.shoot("payments-across-held")
        page.get_by_role("link", name="All history").click()
        wait_until(lambda: page.locator("#history-rows .row").count() >= 2, what="the history")
        first = page.locator("#history-rows .row").first
        assert "Payment to another community" in first.inner_text() and "In flight" in first.inner_text()
        assert "Balance after: -5.00 HRS" in first.inner_text()
        phone.shoot("payments-across-history")
    finally:
        os.kill(cluster[1]["pid"], signal.SIGCONT)

    wait_until(lambda: [p["status"] for p in riverside.get("/api/payments?mine=1") if p["payer"] == member] == ["settled"],
               deadline_seconds=60, what="the payment settled")
    page.get_by_role("navigation").get_by_role("link", name="Home").click()
    wait_until(lambda: page.locator("#held").count() and "Nothing of yours is held." in page.locator("#held").inner_text(),
               deadline_seconds=20, what="nothing held once settled")
    assert balance(hilltop, bruno) == bruno_before + 500
    assert balance(riverside, member) == -500
    page.get_by_role("link", name="All history").click()
    wait_until(lambda: page.locator("#history-rows .row").count() >= 2, what="the history once settled")
    settled = page.locator("#history-rows .row").first.inner_text()
    assert "Payment to another community" in settled and "-5.00 HRS" in settled and "In flight" not in settled

    # A pay link opened on this node, naming the other community: the pay screen picks it.
    page.goto(f"{riverside.url}/wallet/pay?to={bruno}&node={hilltop.node}", wait_until="load")
    wait_until(lambda: page.locator("#payee").count(), what="the payee from the link")
    assert page.locator("#payee").inner_text() == "A member of Hilltop"
    assert phone.errors == []
