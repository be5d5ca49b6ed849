"""Signed reads: how a node (or a `tally` command with a home's node key) GETs another node's feeds.

How this works: every GET under /replication/ but /replication/node is served only to a node with
standing there (replication/server.py, `Server.authenticate_read`). The reader signs each GET
with its node key as a member-signed request (protocol/requests.py, protocol.md §18): the
signature covers the addressed node's feed id (read once from its open /replication/node), the
method, the path with its query exactly as sent, and the time. So a captured signature cannot read
another range, another route or another node, and is worth nothing after the time window.

The target is built here, not by aiohttp from `params`: what is signed must be the very bytes that
go on the wire, so the URL is handed over already encoded (`yarl.URL(..., encoded=True)`).
This module does I/O only in `node_identity`; the rest is pure.
"""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
import msgspec
from tallystick.protocol.errors import MalformedError
from tallystick.protocol.ids import KeyPair
from tallystick.protocol.requests import sign_request
from tallystick.protocol.wire import identity_decoder
from yarl import URL

# /replication/node's answer is one feed id in msgpack: a few dozen bytes.
identity_bytes_max = 1024


def read_target(path: str, params: dict[str, str] | None = None) -> str:
    """The path with its query, as sent and as signed ("/replication/heads?limit=10")."""
    return path if not params else f"{path}?{urlencode(params)}"


def read_url(base_url: str, target: str) -> URL:
    """The URL of `target` at a node, already encoded, so that aiohttp sends `target` unchanged."""
    return URL(base_url.rstrip("/") + target, encoded=True)


def signed_read_headers(key: KeyPair, *, node: bytes | None, target: str, now_ms: int) -> dict[str, str]:
    """The Authorization header of a GET of `target` at the node whose feed is `node`, signed by
    `key`; none when `node` is None (an older node that does not answer /replication/node serves
    its reads to anyone, and a signature could name no node)."""
    if node is None:
        return {}
    return {"Authorization": sign_request(key, node=node, method="GET", target=target, ts_ms=now_ms)}


async def node_identity(session: aiohttp.ClientSession, base_url: str) -> bytes | None:
    """The feed id a node says is its own (GET /replication/node, open to anyone), or None if it
    does not answer that route (404: an older node)."""
    async with session.get(read_url(base_url, "/replication/node")) as response:
        if response.status == 404:
            return None
        response.raise_for_status()
        body = await response.content.read(identity_bytes_max + 1)
    if len(body) > identity_bytes_max:
        raise MalformedError("the node's /replication/node answer is over its size limit")
    try:
        return identity_decoder.decode(body).feed
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise MalformedError(f"the node's /replication/node answer does not decode: {error}") from None
