"""`GET /api/stream`: a signed-in member's balance as it changes, as Server-Sent Events.

How this works: a member (by session cookie, or a client signing the request) opens the stream; a
stranger is refused 401 `not_signed_in`, and past `streams_per_member_max` streams of one member or
`streams_max` in all, 429 `too_many_streams`. The answer is `text/event-stream`: first `retry:` (how
long a browser's EventSource waits before it reconnects) and an `event: balance` with the balance
now, then one `event: balance` (data `{"seq", "balance"}`: the balance after event `seq`, the last
committed when it was read) each time the reader's own balance changes, and a comment `: ping` every
`stream_ping_ms` with nothing to say, so that proxies keep the connection and a dead one is found.

The node learns of commits from the sequencer's `on_append` listeners, called after each
committed batch: the hub wakes every stream, and each compares its member's balance in the new
state with the one it sent last. So nothing is polled, and a commit costs each stream a dictionary
lookup. A stream ends, with the answer closed cleanly:
- at once when its member is no longer an active member signing with that key (removed, or the key
  re-bound): checked on every wake, against the state of that moment;
- for a cookie's stream, at once when its session ends: the sign-out and session routes' answers
  wake that member's streams to look (`on_response_prepare`, so node/http/auth.py is not touched),
  and at the session's expiry (the stream wakes then and asks the sessions file; a session used
  meanwhile lives on, and so does its stream);
- when the node shuts down (`on_shutdown`, before aiohttp waits for handlers), or the client goes.
Nothing of the stream is logged.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from aiohttp import web
from tallystick.ledger.visibility import reader_for_key
from tallystick.protocol.errors import LocalError

from ..app import node_key
from ..sessions import NotSignedInError, sessions_key
from .readers import reader_of, session_of

# A comment this often on a stream with nothing to say: under the 30 to 60 s after which common
# proxies and mobile networks drop a connection that carries nothing.
stream_ping_ms = 15_000
# Streams one member may hold open: a phone and a laptop with a tab or two each.
streams_per_member_max = 5
# Streams open in all: each holds a connection (node/connections.py bounds those too) and a task.
streams_max = 1000
# What an EventSource waits before it reconnects, sent as `retry:` (a browser's default is 3 s).
stream_retry_ms = 5000


class TooManyStreamsError(LocalError):
    code = "too_many_streams"
    http_status = 429


class StreamLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ping_ms: int = stream_ping_ms
    per_member_max: int = streams_per_member_max
    total_max: int = streams_max


class _Stream:
    """One open stream: whose, and the event that wakes it."""

    def __init__(self, member: bytes, key: bytes) -> None:
        self.member = member
        self.key = key
        self.wake = asyncio.Event()
        self.check_session = False


class StreamHub:
    """The streams open now, counted per member and in all; wakes them after each commit."""

    def __init__(self, limits: StreamLimits) -> None:
        self.limits = limits
        self.streams: set[_Stream] = set()
        self.per_member: dict[bytes, int] = {}
        self.closing = False

    def open(self, member: bytes, key: bytes) -> _Stream:
        if self.closing:
            raise TooManyStreamsError("the node is shutting down; connect again in a few seconds")
        if self.per_member.get(member, 0) >= self.limits.per_member_max:
            raise TooManyStreamsError(
                f"you have {self.limits.per_member_max} streams open already; close one (another tab or device)"
            )
        if len(self.streams) >= self.limits.total_max:
            raise TooManyStreamsError(f"this node holds {self.limits.total_max} streams; connect again later")
        stream = _Stream(member, key)
        self.streams.add(stream)
        self.per_member[member] = self.per_member.get(member, 0) + 1
        return stream

    def close(self, stream: _Stream) -> None:
        self.streams.discard(stream)
        left = self.per_member.get(stream.member, 0) - 1
        if left > 0:
            self.per_member[stream.member] = left
        else:
            self.per_member.pop(stream.member, None)

    def wake_all(self, _head: object = None) -> None:
        for stream in self.streams:
            stream.wake.set()

    def wake_member_sessions(self, member: bytes) -> None:
        """A session of `member` may have ended: their streams ask the sessions file."""
        for stream in self.streams:
            if stream.member == member:
                stream.check_session = True
                stream.wake.set()

    def shut(self) -> None:
        self.closing = True
        self.wake_all()


stream_hub_key = web.AppKey("stream_hub", StreamHub)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _balance_event(seq: int, balance: int) -> bytes:
    return b"event: balance\ndata: " + msgspec.json.encode({"seq": seq, "balance": balance}) + b"\n\n"


async def stream(request: web.Request) -> web.StreamResponse:
    node = request.app[node_key]
    hub = request.app[stream_hub_key]
    reader = reader_of(request)
    if reader.member is None or reader.key is None:
        raise NotSignedInError("sign in (POST /api/sign-in) or sign the request with your member key")
    member, key = reader.member, reader.key
    session = session_of(request)
    session_id = session.id if session is not None else None
    expires_ms = session.expires_ms if session is not None else None
    handle = hub.open(member, key)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",  # nginx: pass each event on at once
    })
    try:
        await response.prepare(request)
        await response.write(f"retry: {stream_retry_ms}\n\n".encode("ascii"))
        sent: int | None = None
        while not hub.closing:
            handle.wake.clear()
            if handle.check_session or (expires_ms is not None and _now_ms() >= expires_ms):
                handle.check_session = False
                if session_id is not None:
                    live = [s for s in await request.app[sessions_key].sessions_of(key, _now_ms()) if s.id == session_id]
                    if not live:
                        break  # signed out, ended from another device, or expired
                    expires_ms = live[0].expires_ms
            state, head = node.sequencer.state, node.sequencer.head
            if reader_for_key(state, key).member != member:
                break  # removed, or the key no longer theirs: this reader reads nothing more
            account = state.accounts.get(member)
            balance = account.balance_minor if account is not None else 0
            if balance != sent:
                await response.write(_balance_event(head.seq, balance))
                sent = balance
            wait_ms = hub.limits.ping_ms
            if expires_ms is not None:
                wait_ms = max(0, min(wait_ms, expires_ms - _now_ms() + 1))
            try:
                async with asyncio.timeout(wait_ms / 1000):
                    await handle.wake.wait()
            except TimeoutError:
                if expires_ms is None or _now_ms() < expires_ms:
                    await response.write(b": ping\n\n")
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away: nothing to answer, nothing to log
    finally:
        hub.close(handle)
    return response


async def _wake_streams_after_sign_out(request: web.Request, response: web.StreamResponse) -> None:
    """After a session route ended a session, that member's streams ask whether theirs is live."""
    if response.status == 200 and (
        (request.method == "POST" and request.path == "/api/sign-out")
        or (request.method == "DELETE" and request.path.startswith("/api/sessions/"))
    ):
        hub = request.app.get(stream_hub_key)
        member = reader_of(request).member
        if hub is not None and member is not None:
            hub.wake_member_sessions(member)


def add_routes(app: web.Application) -> None:
    """The route, its hub, and its three hooks: every commit (the sequencer's listeners, once the
    node runs), the session routes' answers, and the node's shutdown."""
    hub = StreamHub(StreamLimits())  # a test may give the hub other limits before the node serves
    app[stream_hub_key] = hub

    async def listen_for_commits(app: web.Application) -> None:
        # on_startup runs after every cleanup context's start, so the node is there.
        app[node_key].sequencer.on_append(hub.wake_all)

    async def end_streams(app: web.Application) -> None:
        hub.shut()

    app.on_startup.append(listen_for_commits)
    app.on_shutdown.append(end_streams)
    app.on_response_prepare.append(_wake_streams_after_sign_out)
    # No HEAD: it would hold a stream open that sends nothing.
    app.router.add_get("/api/stream", stream, allow_head=False)

