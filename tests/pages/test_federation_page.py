"""A federation's page (/federations/{ref}) in a real browser, against the federation that
`tally cluster up` founds of all its communities: every member community by name, the viability
report's sections by VSM system, and an SVG picture with one node per member."""

from __future__ import annotations

from helpers.browsing import Browsing, Community, wait_until


def _federation(community: Community) -> dict:
    """The cluster's federation once this node's view holds every community as a member."""
    def found() -> dict | None:
        for federation in community.get("/api/federations"):
            if federation["name"] == "Cluster federation":
                document = community.get("/api/federations/" + federation["id"])
                return document if all(m["name"] for m in document["members"]) else None
        return None

    return wait_until(found, what="the cluster's federation with every member named")


def test_federation_page_shows_every_member_the_report_and_a_picture(
    cluster: list[Community], browsing: Browsing
) -> None:
    community = cluster[0]
    federation = _federation(community)
    assert len(federation["members"]) == len(cluster)
    browsing.open(community.url + "/")
    browsing.page.locator(f'#federations a[href="/federations/{federation["id"]}"]').click()
    assert browsing.text("h1.federation-name") == "Cluster federation"
    page_text = browsing.text("main")
    for member in federation["members"]:
        assert member["name"] in page_text
        assert browsing.page.locator(f'svg.federation-picture g.member-node[data-member="{member["member"]}"]').count() == 1
    assert browsing.page.locator("svg.federation-picture g.member-node").count() == len(federation["members"])
    for heading in ("S5 policy", "S1 operations", "S2 coordination", "S3 control", "S3* audit", "S4 intelligence"):
        assert browsing.page.get_by_role("heading", name=heading).count() == 1, heading
    report = community.get(f"/api/federations/{federation['id']}/report")
    assert browsing.page.locator("#s1 table.communities tbody tr").count() == len(report["s1_operations"])
    assert browsing.dialogs == [] and browsing.errors == []


def test_unknown_federation_gets_a_404_page(cluster: list[Community], browsing: Browsing) -> None:
    assert browsing.open(cluster[0].url + "/federations/No such federation").status == 404


def test_the_picture_weighs_each_edge_by_its_settled_flow() -> None:
    """The edges' weighting, on the drawing function with a report's flows: the largest flow is
    the widest edge, one half as large half as wide, and a flow to a community drawn nowhere is not
    drawn."""
    from tallystick.federation.charts import edge_width_max, federation_picture

    members = [{"member": name, "name": name, "kind": "community"} for name in ("n_a", "n_b", "n_c")]
    flows = [{"from": "n_a", "to": "n_b", "payments": 2, "sent": 1000},
             {"from": "n_b", "to": "n_c", "payments": 1, "sent": 500},
             {"from": "n_a", "to": "n_elsewhere", "payments": 1, "sent": 9000}]
    picture = federation_picture("F", members, flows)
    assert [node["id"] for node in picture["nodes"]] == ["n_a", "n_b", "n_c"]
    assert [(edge["from"], edge["to"], edge["width"]) for edge in picture["edges"]] == [
        ("n_a", "n_b", edge_width_max), ("n_b", "n_c", edge_width_max / 2)]


def test_the_picture_draws_a_member_federations_communities_beyond_it_with_their_flows() -> None:
    """A confederation's page draws the tree: its member federations around it, each one's
    communities beyond it (joined to it, not to the middle), and a flow between communities of
    two member federations as an edge between those communities."""
    from tallystick.federation.charts import federation_picture

    members = [{"member": "x_east", "name": "East", "kind": "federation"},
               {"member": "x_west", "name": "West", "kind": "federation"}]
    children = {"x_east": [{"member": "n_a", "name": "A", "kind": "community"},
                           {"member": "n_b", "name": "B", "kind": "community"}],
                "x_west": [{"member": "n_c", "name": "C", "kind": "community"}]}
    flows = [{"from": "n_a", "to": "n_c", "payments": 3, "sent": 900}]
    picture = federation_picture("Top", members, flows, children)
    by_id = {node["id"]: node for node in picture["nodes"]}
    assert set(by_id) == {"x_east", "x_west", "n_a", "n_b", "n_c"}
    for child, parent in (("n_a", "x_east"), ("n_b", "x_east"), ("n_c", "x_west")):
        assert (by_id[child]["parent_x"], by_id[child]["parent_y"]) == (by_id[parent]["x"], by_id[parent]["y"])
    assert "parent_x" not in by_id["x_east"]
    [edge] = picture["edges"]
    assert (edge["x1"], edge["y1"], edge["x2"], edge["y2"]) == (by_id["n_a"]["x"], by_id["n_a"]["y"],
                                                               by_id["n_c"]["x"], by_id["n_c"]["y"])
