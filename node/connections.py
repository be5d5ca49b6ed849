"""Bounds on the node's HTTP connections, so slow and hostile clients cannot hold it.

How this works: aiohttp reads a request's head with no deadline of its own, and accepts every
connection until the process runs out of open files; 1,100 sockets that each drip a header line
every 10 s then hold a node at its 1,024 open files and every other request times out. So `serve`
(node/app.py) puts a `ConnectionGuard` between the listening socket and aiohttp: each new
connection is wrapped in a `GuardedConnection`, which

- refuses it at once (a 503 `too_many_connections` written raw, then closed, before any byte is
  read) past `connections_per_address_max` open connections from the same client address (an IPv6
  client's /64), or past
  the node's total bound (`connections_max`, kept below the process's open-files limit, which
  `raise_open_files_limit` first raises to its hard limit);
- closes it if the request head (request line and headers, up to the blank line) has not fully
  arrived `header_read_timeout_ms` after the connection was made. Later requests on a kept-alive
  connection are aiohttp's: a connection idle, or part-way through a head, `keepalive_timeout_ms`
  after its last answer is closed by aiohttp itself;

and `read_body` bounds the time a handler waits for a body (`body_read_timeout_ms`, 408
`request_timeout`). Everything else about the connection is aiohttp's: the guard forwards every
call to aiohttp's protocol object untouched. Behind a reverse proxy every connection comes from
the proxy's address: docs/operator.md says how to set the proxy's own limits and this one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from aiohttp import web
from msgspec import Meta
from tallystick.protocol import limits
from tallystick.protocol.errors import RemoteError, TooLargeError

# Open files kept for everything but client connections: the database and its WAL, the home lock,
# connections to peers (`peers_max`), the signature-checking processes' pipes, logs.
open_files_reserved = 256
# Connections the kernel queues for the node to accept (aiohttp's TCPSite uses 128 too); past it a
# new client's SYN waits, and everyone already connected is served.
listen_backlog = 128
# IPv6 clients are counted per network of this prefix length: one host is usually given a whole /64,
# so counting single addresses would let it open 2^64 times the bound.
ipv6_client_prefix_bits = 64
# The answer written to a connection refused at once.
refused_retry_after_seconds = limits.retry_after_seconds


class RequestTimeoutError(RemoteError):
    code = "request_timeout"
    http_status = 408


class HttpBounds(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The operator's bounds on client connections (config.json, docs/operator.md)."""

    header_read_timeout_ms: Annotated[int, Meta(ge=100, le=600_000)] = limits.header_read_timeout_ms
    body_read_timeout_ms: Annotated[int, Meta(ge=100, le=600_000)] = limits.body_read_timeout_ms
    keepalive_timeout_ms: Annotated[int, Meta(ge=100, le=600_000)] = limits.keepalive_timeout_ms
    connections_per_address_max: Annotated[int, Meta(ge=1, le=1_000_000)] = limits.connections_per_address_max
    connections_max: Annotated[int, Meta(ge=1, le=1_000_000)] = limits.connections_max

    @classmethod
    def from_config(cls, config: object) -> HttpBounds:
        """The bounds a home's config sets (NodeConfig carries each field, defaulting to limits.py)."""
        return cls(**{name: getattr(config, name) for name in cls.__struct_fields__})


http_bounds_key = web.AppKey("http_bounds", HttpBounds)


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one (a process may); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # some platforms cap it lower; the soft limit we have is then the bound
    return soft


def effective_connections_max(bounds: HttpBounds, open_files_soft_limit: int) -> int:
    return max(1, min(bounds.connections_max, open_files_soft_limit - open_files_reserved))


def client_address(peer: object) -> str:
    """Whom a connection counts against: its IPv4 address, or its IPv6 address's /64 network."""
    if not (isinstance(peer, tuple) and peer):
        return "unknown"  # not a TCP socket (a Unix socket): one shared count
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return str(peer[0])
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{ipv6_client_prefix_bits}", strict=False))
    return str(address)


def _refusal(message: str) -> bytes:
    body = msgspec.json.encode({"error": "too_many_connections", "message": message})
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Retry-After: {refused_retry_after_seconds}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionGuard:
    """The protocol factory given to `loop.create_server`: counts open connections per address and
    in all, and wraps each of aiohttp's protocol objects in a `GuardedConnection`."""

    def __init__(self, inner: Callable[[], asyncio.Protocol], bounds: HttpBounds, total_max: int) -> None:
        self.inner = inner
        self.bounds = bounds
        self.total_max = total_max
        self.by_address: dict[str, int] = {}
        self.open = 0
        self.refused_total = 0
        self.timed_out_total = 0

    def __call__(self) -> GuardedConnection:
        return GuardedConnection(self)

    def admit(self, address: str) -> str | None:
        """Count a new connection from `address`, or say why it is refused."""
        if self.open >= self.total_max:
            return f"this node is at its limit of {self.total_max} open connections; retry in a moment"
        if self.by_address.get(address, 0) >= self.bounds.connections_per_address_max:
            return (f"this node holds its limit of {self.bounds.connections_per_address_max} open connections "
                    "from your address; close some and retry")
        self.open += 1
        self.by_address[address] = self.by_address.get(address, 0) + 1
        return None

    def release(self, address: str) -> None:
        self.open -= 1
        left = self.by_address[address] - 1
        if left:
            self.by_address[address] = left
        else:
            del self.by_address[address]


class GuardedConnection(asyncio.Protocol):
    """One client connection: admitted or refused at once, dropped if its request head is slow;
    otherwise every call goes to aiohttp's protocol object as it came."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.inner: Any = None
        self.address: str | None = None
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        # The last bytes of the head so far, to find its end across packets.
        self.head_tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        address = client_address(transport.get_extra_info("peername"))
        refusal = self.guard.admit(address)
        if refusal is not None:
            self.guard.refused_total += 1
            transport.write(_refusal(refusal))  # type: ignore[attr-defined]
            transport.close()
            return
        self.address = address
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.guard.bounds.header_read_timeout_ms / 1000, self._head_too_slow)
        self.inner = self.guard.inner()
        self.inner.connection_made(transport)

    def _head_too_slow(self) -> None:
        self.timer = None
        self.guard.timed_out_total += 1
        if self.transport is not None:
            self.transport.abort()  # nothing was answered, so nothing is lost; frees the socket now

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return  # refused: its answer is written and it is closing
        if self.timer is not None:
            seen = self.head_tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self.timer.cancel()
                self.timer = None
            else:
                self.head_tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self.inner is None else self.inner.eof_received()

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.transport = None
        if self.inner is None:
            return
        assert self.address is not None
        self.guard.release(self.address)
        self.inner.connection_lost(exc)


body_key = web.RequestKey("body", bytes)


async def read_body(request: web.Request, maximum: int = limits.request_bytes_max) -> bytes:
    """The request body: refused with 413 past `maximum` bytes before it is read whole, and with
    408 if it has not all come within the node's `body_read_timeout_ms`. Read once: a second call
    (a handler after the middleware that checked a signed request's body) gets the same bytes."""
    if (read := request.get(body_key)) is not None:
        if len(read) > maximum:
            raise TooLargeError(f"request body is over the limit of {maximum} bytes")
        return read
    if request.content_length is not None and request.content_length > maximum:
        raise TooLargeError(f"request body of {request.content_length} bytes is over the limit of {maximum} bytes")
    bounds = request.app.get(http_bounds_key) or HttpBounds()
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(bounds.body_read_timeout_ms / 1000):
            async for chunk in request.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > maximum:
                    raise TooLargeError(f"request body is over the limit of {maximum} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeoutError(
            f"the request body did not arrive within {bounds.body_read_timeout_ms} ms; send it whole and retry"
        ) from None
    request[body_key] = body = b"".join(chunks)
    return body
