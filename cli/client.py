"""A small HTTP client for the node's JSON API, used by the `tally` command.

How this works: each call is one request on a short-lived aiohttp session; a JSON error body from
the node becomes a `NodeRefused` carrying the node's stable `error` code and message, so the CLI can
print one line and exit non-zero. A refusal of a signed intent (`signed`) is the node judging an
action by the community's rules; a refusal of a read names something that is not there (a member,
a decision), which is the user's mistake. The URL is checked when the client is made, so `--node
127.0.0.1:7600` is one line saying to write `http://127.0.0.1:7600`, not a traceback from aiohttp.
Intents are signed here, with the member's own key file: the node never sees a member's secret key.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from tallystick.protocol.codec import sign_intent
from tallystick.protocol.errors import LocalError
from tallystick.protocol.events import Action
from tallystick.protocol.ids import KeyPair, id_from_text

request_timeout_seconds = 30


class NodeRefused(Exception):
    def __init__(self, status: int, code: str, message: str, *, signed: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.signed = status, code, message, signed


class NodeUnreachable(LocalError):
    code = "unreachable"


class BadUrlError(LocalError):
    code = "bad_url"


def check_node_url(text: str, what: str = "--node") -> str:
    """`text` if it is an http(s) URL with a host; else a BadUrlError saying what to write."""
    parts = urlsplit(text.strip())
    if parts.scheme in ("http", "https") and parts.hostname:
        return text.strip().rstrip("/")
    suggestion = "http://" + text.strip().split("://", 1)[-1] if text.strip() else "http://127.0.0.1:7600"
    raise BadUrlError(f"{text!r} is not a node's URL; write {what} {suggestion}")


def _unreachable(base_url: str, error: BaseException) -> NodeUnreachable:
    if isinstance(error, asyncio.TimeoutError):
        why = f"no answer in {request_timeout_seconds} s"
    elif isinstance(error, aiohttp.ClientConnectorError) and error.os_error.errno:
        why = os.strerror(error.os_error.errno).lower()
    else:
        why = type(error).__name__
    return NodeUnreachable(
        f"no node answers at {base_url} ({why}); start it with `tally serve DIR`, or give the right --node URL"
    )


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = check_node_url(base_url)

    async def _request(self, method: str, path: str, *, signed: bool = False, **kwargs: Any) -> Any:
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
                            raise NodeRefused(
                                response.status, str(document["error"]), str(document.get("message")), signed=signed
                            )
                        if response.status == 404 and document is None:
                            raise NodeUnreachable(
                                f"{self.base_url} answers, but it is not a Tallystick node; give the node's URL with --node"
                            )
                        raise NodeRefused(response.status, "http_error", f"HTTP {response.status}", signed=signed)
                    if document is None:
                        raise NodeUnreachable(
                            f"{self.base_url} answers, but it is not a Tallystick node; give the node's URL with --node"
                        )
                    return document
        except (TimeoutError, aiohttp.ClientError) as error:
            raise _unreachable(self.base_url, error) from None

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
                            try:
                                document = await response.json(content_type=None)
                            except ValueError:
                                document = None
                            if isinstance(document, dict) and "error" in document:
                                raise NodeRefused(response.status, str(document["error"]), str(document.get("message")))
                            raise NodeRefused(response.status, "http_error", f"HTTP {response.status}")
                        return await response.text()
            except (TimeoutError, aiohttp.ClientError) as error:
                raise _unreachable(self.base_url, error) from None

        return asyncio.run(fetch())

    def submit(self, key: KeyPair, action: Action) -> Any:
        community = self.get("/api/community")
        feed = id_from_text("n", community["node"])
        # A nanosecond clock gives nonces that only grow, inside the node's per-member window.
        intent = sign_intent(key, feed=feed, nonce=time.time_ns(), action=action)
        return asyncio.run(
            self._request(
                "POST", "/api/intents", signed=True, data=intent, headers={"Content-Type": "application/msgpack"}
            )
        )
