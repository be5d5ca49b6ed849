"""A node run without its federation layer (node/app.py's `create_app` with no extension, as a test
or an embedding may) serves its own pages and says, at the federation layer's addresses, that it
has none: node/ serves those two pages only when no layer provides them.

How this works: a home made by `tally init`, served in-process by aiohttp's test server.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from tallystick.node.app import create_app
from tallystick.node.home import Home

from helpers.nodes import init_home


async def test_pages_of_the_federation_layer_say_the_node_runs_without_it(tmp_path: Path) -> None:
    init_home(tmp_path / "home")
    home = Home(tmp_path / "home")
    async with TestClient(TestServer(create_app(home, home.config()))) as client:
        community = await client.get("/")
        assert community.status == 200 and "Integration" in await community.text()
        for path in ("/payments", "/federations/anything"):
            answer = await client.get(path)
            assert answer.status == 404 and answer.content_type == "text/html"
            assert "runs without its federation layer" in await answer.text()
        assert (await client.get("/api/federations")).status == 404  # JSON: no such route here
