"""A small HTTP client for the node's JSON API, used by the `tally` command.

How this works: each call is one request on a short-lived aiohttp session; a JSON error body from
the node becomes a `NodeRefused` carrying the node's stable `error` code and message, so the CLI can
print one line and exit non-zero. Intents are signed here, with the member's own key file: the node
never sees a member's secret key.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from tallystick.protocol.codec import sign_intent
from tallystick.protocol.errors import LocalError
from tallystick.protocol.events import Action
from tallystick.protocol.ids import KeyPair, id_from_text

request_timeout_seconds = 30


class NodeRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class NodeUnreachable(LocalError):
    code = "unreachable"


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        timeout = aiohttp.ClientTimeout(total=request_timeout_seconds)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.request(method, self.base_url + path, **kwargs) as response:
                    try:
                        document = await response.json(content_type=None)
                    except ValueError:
                        document = None
                    if response.status >= 400:
                        if isinstance(document, dict) and "error" in document:
                            raise NodeRefused(response.status, str(document["error"]), str(document.get("message")))
                        raise NodeRefused(response.status, "http_error", f"HTTP {response.status}")
                    return document
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as error:
            raise NodeUnreachable(f"cannot reach the node at {self.base_url}: {error or 'timed out'}") from None

    def get(self, path: str, **params: Any) -> Any:
        query = {k: str(v) for k, v in params.items() if v is not None}
        return asyncio.run(self._request("GET", path, params=query))

    def get_text(self, path: str) -> str:
        """A document that is not JSON (a CSV export); errors still come as JSON."""

        async def fetch() -> str:
            timeout = aiohttp.ClientTimeout(total=request_timeout_seconds)
            try:
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    async with session.get(self.base_url + path) as response:
                        if response.status >= 400:
                            document = await response.json(content_type=None)
                            raise NodeRefused(response.status, str(document["error"]), str(document.get("message")))
                        return await response.text()
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as error:
                raise NodeUnreachable(f"cannot reach the node at {self.base_url}: {error or 'timed out'}") from None

        return asyncio.run(fetch())

    def submit(self, key: KeyPair, action: Action) -> Any:
        community = self.get("/api/community")
        feed = id_from_text("n", community["node"])
        # A nanosecond clock gives nonces that only grow, inside the node's per-member window.
        intent = sign_intent(key, feed=feed, nonce=time.time_ns(), action=action)
        return asyncio.run(
            self._request("POST", "/api/intents", data=intent, headers={"Content-Type": "application/msgpack"})
        )
