"""What a running node serves besides intents: /openapi.json, /metrics, and the community's page."""

from __future__ import annotations

import html
from pathlib import Path

from tallystick.federation.service import create_app
from tallystick.node.home import Home, NodeConfig

from helpers.nodes import NodeProcess
from helpers.support import http


def served_routes() -> set[tuple[str, str]]:
    """(path, method) of every route `tally serve`'s app registers (HEAD comes free with GET), the
    node-to-node msgpack routes under /replication/ included."""
    app = create_app(Home(Path("/nonexistent-home-never-opened")), NodeConfig())
    return {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


def test_openapi_describes_every_route_the_node_serves(node: NodeProcess) -> None:
    document = node.get("/openapi.json")
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served_routes() <= described, f"served but not described: {served_routes() - described}"


def test_openapi_describes_no_route_the_node_does_not_serve(node: NodeProcess) -> None:
    document = node.get("/openapi.json")
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert described <= served_routes(), f"described but not served: {described - served_routes()}"


def test_openapi_paths_answer_on_the_running_node(node: NodeProcess) -> None:
    checked = []
    for path, item in node.get("/openapi.json")["paths"].items():
        # As the admin, who may read every route (the log is the admins' by default); not the
        # routes that need a browser's session, a peer node's key or a parameter. (Every route may answer 401, to an
        # Authorization header that does not verify, so 401 does not say which need a session.)
        get = item.get("get", {})
        streams = "text/event-stream" in get.get("responses", {}).get("200", {}).get("content", {})
        needs = streams or get.get("x-visibility", "").startswith(("a signed-in member (by cookie)", "a node with standing", "GET: a node with standing")) or any(
            parameter.get("required") for parameter in get.get("parameters", []))
        if "get" in item and "{" not in path and not needs:
            assert node.signed(node.admin_key, "GET", path).status == 200, path
            checked.append(path)
    assert "/api/log" in checked and "/api/sessions" in checked and len(checked) >= 10, checked


def test_metrics_are_prometheus_text_with_the_feeds_seq(node: NodeProcess) -> None:
    node.admit("counted")
    answer = http("GET", node.url + "/metrics")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.body.decode()
    assert "# TYPE tally_feed_seq gauge" in text
    samples = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples["tally_feed_seq"] == node.get("/api/status")["seq"]


def test_page_escapes_a_member_name_written_as_html(node: NodeProcess) -> None:
    name = "<script>alert(1)</script>"
    node.admit(name)
    answer = node.signed(node.admin_key, "GET", "/")  # names are the members' (the visibility policy)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.body.decode()
    assert name not in page
    assert html.escape(name, quote=False) in page
