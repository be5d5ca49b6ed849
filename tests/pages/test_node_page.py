"""The operator's page (/node) in a real browser, against a real cluster of three nodes peered in a
line: every peer with its reachability and replication lag as /api/status gives them, every feed
held with its seq, and no alert while all is well."""

from __future__ import annotations

from tallystick.node.pages.alerts import alert_line

from helpers.browsing import Browsing, Community, wait_until


def peers_on_page(browsing: Browsing) -> dict[str, tuple[str, str]]:
    """Peer URL -> (reachable, lag) as the peers table shows them."""
    return {
        row.get_attribute("data-peer"): (row.locator(".reachable").inner_text(), row.locator(".lag").inner_text())
        for row in browsing.page.locator("table.peers tbody tr").all()
    }


def feeds_on_page(browsing: Browsing) -> dict[str, int]:
    return {
        row.get_attribute("data-feed"): int(row.locator(".seq").inner_text())
        for row in browsing.page.locator("table.feeds tbody tr").all()
    }


def test_operator_page_lists_every_peer_with_its_lag_as_the_status(cluster: list[Community], browsing: Browsing) -> None:
    middle = cluster[1]
    expected_peers = {cluster[0].url, cluster[2].url}

    def agrees() -> bool:
        status = middle.get("/api/status")
        browsing.open(middle.url + "/node")
        shown = peers_on_page(browsing)
        wanted = {peer["url"]: ("yes" if peer["reachable"] else "no", str(peer["lag"])) for peer in status["peers"]}
        # Replication moves under us: compare once the page and the status agree, and every peer answered.
        return set(shown) == expected_peers and shown == wanted and all(r == "yes" for r, _ in shown.values())

    wait_until(agrees, what="the peers table to match /api/status with every peer reachable")


def test_operator_page_lists_every_feed_the_node_holds(cluster: list[Community], browsing: Browsing) -> None:
    first = cluster[0]

    def agrees() -> bool:
        feeds = first.get("/api/status")["feeds"]
        browsing.open(first.url + "/node")
        return len(feeds) == len(cluster) and feeds_on_page(browsing) == {f: h["seq"] for f, h in feeds.items()}

    wait_until(agrees, what="the feeds table to match /api/status once every community's feed arrived")
    own = browsing.page.locator(f'table.feeds tr[data-feed="{first.node}"]')
    assert "(this node)" in own.inner_text()


def test_operator_page_shows_the_status_alerts_and_no_fork_while_all_is_well(
    cluster: list[Community], browsing: Browsing
) -> None:
    community = cluster[2]

    def agrees() -> tuple[list[dict]] | None:
        """(the status's alerts,) once the page shows exactly them (alerts may come and go)."""
        alerts = community.get("/api/status")["alerts"]
        browsing.open(community.url + "/node")
        shown = [item.inner_text() for item in browsing.page.locator("#alerts li").all()]
        return (alerts,) if shown == ["{kind} {message}".format(**alert_line(alert, "en")) for alert in alerts] else None

    [alerts] = wait_until(agrees, what="the page's alerts to be the status's")
    assert not any(alert["kind"] == "fork" for alert in alerts)
    if not alerts:
        assert browsing.page.locator(".no-alerts").count() == 1
    assert browsing.text("#forks").endswith("No fork proven.")
