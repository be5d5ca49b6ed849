"""Who is asking: every request's reader, from the signature it carries or the session it holds.

How this works: `who_reads` runs inside `errors_as_json` on every request. A request with an
`Authorization: Tally …` header (protocol/requests.py) is verified against this node's feed id, the
method, the raw path with its query, the body and the node's clock; its key becomes the request's
`Reader` through the current state (`reader_for_key`: a member only while active and signing with
one of their current keys, one per device). A header that does not verify is refused (401), never read as a stranger's.

Else a `tally_session` cookie (node/sessions.py, opened by node/http/auth.py) names a session, and
its key becomes the reader the same way, through the state of this moment: a removed member or a
retired key reads as a stranger at once (and that key's sessions end). A cookie that names no live
session is read as a stranger's, and the answer clears it. A request the cookie authenticates that
may change something (any method but GET, HEAD and OPTIONS) must carry the session's CSRF token in
`X-CSRF-Token` and an `Origin` (or, lacking one, a `Referer`) of this node's own, else it is refused
(`csrf_refused`, 403) before its handler runs; a signed request needs neither, as no browser signs
one by itself. The sign-in routes do not read the cookie at all: signing in needs no session.

With neither, the request is a stranger's. Handlers read the reader with `reader_of`, the session
(if the cookie brought one) with `session_of`; what each reader may see is the community's
visibility policy (ledger/visibility.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from tallystick.ledger.visibility import Reader, reader_for_key, stranger
from tallystick.protocol import limits
from tallystick.protocol.errors import TallyError
from tallystick.protocol.requests import scheme, verify_request

from ..app import clock_ms, node_key
from ..connections import read_body
from ..public import public_url
from ..sessions import CsrfError, Session, SessionStore, sessions_key, token_bytes
from .middleware import error_response

reader_key = web.RequestKey("reader", Reader)
# The session a cookie brought, set only when the cookie named a live session of a member.
session_key = web.RequestKey("session", Session)

cookie_name = "tally_session"
csrf_header = "X-CSRF-Token"
safe_methods = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes that read no cookie: a stale one must not stand in the way of signing in again.
session_free_paths = frozenset({"/api/sign-in/challenge", "/api/sign-in", "/api/sign-in/link", "/sign-in"})
_cookie_chars_max = 64  # a token is 43 characters of base64url


# Routes whose signed bodies may be larger than `request_bytes_max` (a listing's picture), by their
# canonical path; each handler bounds its own body again with the same number.
_larger_bodies: dict[str, int] = {}


def allow_larger_body(canonical: str, maximum: int) -> None:
    _larger_bodies[canonical] = maximum


def _body_bytes_max(request: web.Request) -> int:
    resource = request.match_info.route.resource
    return _larger_bodies.get(resource.canonical, limits.request_bytes_max) if resource else limits.request_bytes_max


def reader_of(request: web.Request) -> Reader:
    return request.get(reader_key, stranger)


def session_of(request: web.Request) -> Session | None:
    return request.get(session_key)


def encode_token(token: bytes) -> str:
    return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")


def decode_token(text: str) -> bytes | None:
    """The token of a cookie's or a link's text, or None if it cannot be one."""
    if not text or len(text) > _cookie_chars_max:
        return None
    try:
        token = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return token if len(token) == token_bytes else None


def cookie_is_secure(request: web.Request) -> bool:
    """Whether the browser reached us over TLS: directly, or as the node's public URL says (the
    operator's `public_url`, or the scheme a trusted proxy forwards: node/public.py)."""
    return request.secure or public_url(request).startswith("https://")


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: bytes) -> None:
    response.set_cookie(
        cookie_name, encode_token(token), path="/", max_age=limits.session_max_ms // 1000, httponly=True,
        samesite="Strict", secure=cookie_is_secure(request),
    )


def clear_session_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(cookie_name, path="/", secure=cookie_is_secure(request), httponly=True, samesite="Strict")


def own_origins(request: web.Request) -> set[str]:
    """The origins this node's own pages have: its public URL, and the scheme and host the browser
    addressed (a browser never lets another site's page set our Host)."""
    return {public_url(request), f"{request.scheme}://{request.host}"}


def _origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin.rstrip("/")
    referer = request.headers.get("Referer")
    if referer:
        parts = urlsplit(referer)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def check_csrf(request: web.Request, session: Session) -> None:
    """Refuse (403) a change a cookie authenticates unless it came from this node's own page."""
    sent = request.headers.get(csrf_header, "")
    if not hmac.compare_digest(sent.encode("utf-8", "replace"), session.csrf.encode("ascii")):
        raise CsrfError(f"send the session's CSRF token (GET /api/session) in the {csrf_header} header")
    if _origin(request) not in own_origins(request):
        raise CsrfError("a change made with a session cookie must come from this node's own pages (its Origin)")


async def _session_reader(request: web.Request, store: SessionStore, token_text: str) -> bool:
    """Read the request as its session's member; False if the cookie names no live member's session."""
    node = request.app[node_key]
    token = decode_token(token_text)
    now_ms = clock_ms()
    session = await store.session(token, now_ms) if token is not None else None
    if session is None:
        return False
    reader = reader_for_key(node.sequencer.state, session.key)
    if not reader.is_member:
        await store.end_key(session.key)
        return False
    if request.method not in safe_methods:
        check_csrf(request, session)
    request[reader_key] = reader
    request[session_key] = session
    return True


@web.middleware
async def who_reads(request: web.Request, handler: Any) -> web.StreamResponse:
    authorization = request.headers.get("Authorization", "")
    node = request.app.get(node_key)
    if node is None:
        return await handler(request)
    if authorization.split(" ", 1)[0] == scheme:
        body = await read_body(request, _body_bytes_max(request)) if request.body_exists else b""
        key = verify_request(
            authorization, node=node.feed, method=request.method, target=request.raw_path, body=body,
            now_ms=clock_ms(),
        )
        request[reader_key] = reader_for_key(node.sequencer.state, key)
        return await handler(request)
    token_text = request.cookies.get(cookie_name)
    store = request.app.get(sessions_key)
    if token_text is None or store is None or request.path in session_free_paths:
        return await handler(request)
    if await _session_reader(request, store, token_text):
        return await handler(request)
    # A cookie that opens nothing: read as a stranger's, and the answer clears it.
    try:
        response = await handler(request)
    except TallyError as error:
        response = error_response(error)
    if not response.prepared:
        clear_session_cookie(response, request)
    return response
