"""GET /api/stream on a real `tally serve`, read by a real HTTP client (aiohttp's) as a wallet reads it.

A member opens the stream (signing the request, or with a session cookie) and gets their balance at
once; another member pays them with a signed intent, and the new balance arrives after the commit.
A stranger and a key that is no member's are refused 401; a sixth stream of one member is refused
429; a removal and a sign-out end the stream at once; SIGTERM ends it cleanly, and the node exits 0
with no error in its log. The ping's interval and the cap in all are read in process (the same app
`tally serve` runs, on a loopback socket) with the hub's limits made small.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from integration.conftest import make_node  # noqa: F401  (the fixture: real `tally serve` processes)
from integration.test_sign_in import Browser
from tallystick.node.app import create_app, node_key
from tallystick.node.home import Home
from tallystick.node.http.stream import StreamLimits, stream_hub_key
from tallystick.protocol.ids import KeyPair
from tallystick.protocol.requests import sign_request

from helpers.nodes import NodeProcess, init_home

read_timeout_seconds = 10


def signed_headers(node: NodeProcess, key: KeyPair | None, path: str = "/api/stream") -> dict[str, str]:
    if key is None:
        return {}
    return {"Authorization": sign_request(key, node=node.feed, method="GET", target=path,
                                          ts_ms=time.time_ns() // 1_000_000, body=b"")}


class Events:
    """The events of one open stream, as an EventSource parses them: fields up to a blank line."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout_seconds: float = read_timeout_seconds) -> dict[str, str] | None:
        """The next event or comment as {field: value} (a comment under ""), None at the end."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout_seconds):
            while True:
                line = await self.response.content.readline()
                if not line:
                    return None
                text = line.decode().rstrip("\n")
                if text == "":
                    if fields:
                        return fields
                    continue
                name, _, value = text.partition(":")
                fields[name] = value.removeprefix(" ")

    async def balance(self) -> dict[str, Any]:
        while True:
            found = await self.next()
            assert found is not None, "the stream ended before a balance came"
            if found.get("event") == "balance":
                return json.loads(found["data"])


async def open_stream(client: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
    return await client.get(url + "/api/stream", headers=headers, timeout=aiohttp.ClientTimeout(total=None))


@pytest.fixture(scope="module")
def node(make_node) -> NodeProcess:  # noqa: F811
    return make_node()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_member_sees_their_balance_at_once_and_after_a_payment_to_them(node: NodeProcess, client) -> None:
    alice, bob = node.admit("Alice Stream"), node.admit("Bob Stream")
    async with await open_stream(client, node.url, signed_headers(node, alice)) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-store"
        events = Events(response)
        assert (await events.next()) == {"retry": "5000"}
        first = await events.balance()
        assert first["balance"] == 0 and first["seq"] >= 1
        paid = await asyncio.to_thread(node.pay, bob, alice, 125, "for the stream")
        after = await events.balance()
        assert after["balance"] == 125 and after["seq"] >= paid["seq"]
        # Bob's payment to someone else is no change of Alice's balance: nothing comes for it.
        carol = node.admit("Carol Stream")
        await asyncio.to_thread(node.pay, bob, carol, 5)
        await asyncio.to_thread(node.pay, carol, alice, 5)
        assert (await events.balance())["balance"] == 130


@pytest.mark.parametrize("reader", ["stranger", "outsider"])
async def test_a_reader_who_is_no_member_is_refused_not_signed_in(node: NodeProcess, client, reader: str) -> None:
    key = None if reader == "stranger" else KeyPair.generate()
    async with await open_stream(client, node.url, signed_headers(node, key)) as response:
        assert response.status == 401
        assert (await response.json())["error"] == "not_signed_in"


async def test_a_sixth_stream_of_one_member_is_refused_and_a_closed_one_frees_its_place(node: NodeProcess, client) -> None:
    dana = node.admit("Dana Stream")
    opened = [await open_stream(client, node.url, signed_headers(node, dana)) for _ in range(5)]
    try:
        assert [response.status for response in opened] == [200] * 5
        for response in opened:
            await Events(response).balance()  # each is counted once it answers
        async with await open_stream(client, node.url, signed_headers(node, dana)) as sixth:
            assert sixth.status == 429 and (await sixth.json())["error"] == "too_many_streams"
        other = node.admit("Eli Stream")  # the cap is each member's own
        async with await open_stream(client, node.url, signed_headers(node, other)) as response:
            assert response.status == 200
        opened.pop().close()
        for _ in range(50):  # the node learns of the close when its next write fails, or at once
            async with await open_stream(client, node.url, signed_headers(node, dana)) as again:
                if again.status == 200:
                    break
            await asyncio.to_thread(node.pay, other, dana, 1)  # a change makes every stream of Dana write
            await asyncio.sleep(0.1)
        assert again.status == 200
    finally:
        for response in opened:
            response.close()


async def test_a_removed_member_s_stream_ends_at_once(node: NodeProcess, client) -> None:
    fern = node.admit("Fern Stream")
    async with await open_stream(client, node.url, signed_headers(node, fern)) as response:
        events = Events(response)
        await events.balance()
        await asyncio.to_thread(node.remove, fern)
        assert await events.next(timeout_seconds=5) is None  # the end, well before a ping


async def test_a_session_s_stream_ends_at_once_when_it_signs_out(node: NodeProcess, client) -> None:
    gale = node.admit("Gale Stream")
    browser = await asyncio.to_thread(Browser, node, gale)
    cookie = {"Cookie": f"tally_session={browser.token}"}
    async with await open_stream(client, node.url, cookie) as response:
        assert response.status == 200
        events = Events(response)
        assert (await events.balance())["balance"] == 0
        signed_out = await asyncio.to_thread(browser.request, "POST", "/api/sign-out")
        assert signed_out.status == 200
        assert await events.next(timeout_seconds=5) is None
    async with await open_stream(client, node.url, cookie) as response:
        assert response.status == 401  # the cookie opens nothing now


async def test_a_session_ended_from_another_device_ends_its_stream(node: NodeProcess, client) -> None:
    hale = node.admit("Hale Stream")
    browser = await asyncio.to_thread(Browser, node, hale)
    async with await open_stream(client, node.url, {"Cookie": f"tally_session={browser.token}"}) as response:
        events = Events(response)
        await events.balance()
        ended = await asyncio.to_thread(node.signed, hale, "DELETE", f"/api/sessions/{browser.session['id']}")
        assert ended.status == 200, ended.body
        assert await events.next(timeout_seconds=5) is None


async def test_the_node_stops_on_sigterm_with_streams_open_and_no_error(make_node, client) -> None:  # noqa: F811
    node = make_node()
    ivy = node.admit("Ivy Stream")
    async with await open_stream(client, node.url, signed_headers(node, ivy)) as response:
        events = Events(response)
        await events.balance()
        started = time.monotonic()
        status = await asyncio.to_thread(node.stop)
        assert await events.next(timeout_seconds=5) is None
    assert status == 0 and time.monotonic() - started < 10
    output = node.output()
    assert "Traceback" not in output and "Error" not in output and "error" not in output.lower(), output


# ---- in process: the ping and the cap in all, with small limits ----------------------------------


@pytest.fixture
async def small_server(tmp_path: Path) -> AsyncIterator[tuple[TestServer, KeyPair, bytes]]:
    home_path = tmp_path / "home"
    init_home(home_path)
    home = Home(home_path)
    app = create_app(home, home.config())
    app[stream_hub_key].limits = StreamLimits(ping_ms=200, per_member_max=5, total_max=2)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        admin = KeyPair.from_text((home_path / "admin.key").read_text())
        feed = app[node_key].feed
        yield server, admin, feed
    finally:
        await server.close()


def _signed(key: KeyPair, feed: bytes) -> dict[str, str]:
    return {"Authorization": sign_request(key, node=feed, method="GET", target="/api/stream",
                                          ts_ms=time.time_ns() // 1_000_000, body=b"")}


async def test_a_quiet_stream_carries_a_ping_each_interval(small_server, client) -> None:
    server, admin, feed = small_server
    url = str(server.make_url("")).rstrip("/")
    async with await open_stream(client, url, _signed(admin, feed)) as response:
        events = Events(response)
        await events.balance()
        started = time.monotonic()
        assert await events.next(timeout_seconds=2) == {"": "ping"}
        assert await events.next(timeout_seconds=2) == {"": "ping"}
        assert 0.3 <= time.monotonic() - started < 2


async def test_past_the_cap_in_all_a_stream_is_refused_too_many_streams(small_server, client) -> None:
    server, admin, feed = small_server
    url = str(server.make_url("")).rstrip("/")
    first = await open_stream(client, url, _signed(admin, feed))
    second = await open_stream(client, url, _signed(admin, feed))
    try:
        assert (first.status, second.status) == (200, 200)
        async with await open_stream(client, url, _signed(admin, feed)) as third:
            assert third.status == 429 and (await third.json())["error"] == "too_many_streams"
    finally:
        first.close()
        second.close()

