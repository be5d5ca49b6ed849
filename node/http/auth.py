"""Signing in: a member proves their key once and holds a short-lived session (docs/api.md, "Signing in").

How this works: a stranger asks for a challenge (`POST /api/sign-in/challenge`), signs
`sign_in_message(node, challenge)` (protocol/requests.py, docs/protocol.md §18) with their key, and
sends key, challenge and signature to `POST /api/sign-in`. The challenge is used up whatever
follows; the signature must verify and the key must be one of an active member's current keys (any
of their devices'); then the
node opens a session (node/sessions.py) and sets the `tally_session` cookie (HttpOnly,
SameSite=Strict, Path=/, Secure over TLS). `POST /api/sign-in/link` takes the same proof and answers
instead a one-time link, `/sign-in?token=…`, which sets the cookie in whichever browser opens it
first, within `sign_in_challenge_ms`, and goes on to the member's page: the way in for a member
who has a key file and the `tally` command (`tally sign-in`) and no wallet in the browser.

A signed-in member reads their session (`GET /api/session`, with its CSRF token for the page to
send back), lists their sessions and ends any of them (`GET /api/sessions`, `DELETE
/api/sessions/{id}`; the CLI, signing each request, may too), and signs out (`POST /api/sign-out`).
Someone else's session id is answered as one that does not exist, so ids tell nothing.
The sessions file opens and closes with the node (`sessions_lifetime`), and after every commit the
node ends the sessions of keys that no longer sign for an active member (a removal, a re-bound or
recovered key, a device's key removed, while the member's other devices stay signed in); each request also resolves its session's key through the state of that moment
(node/http/readers.py), so such a session opens nothing even before that.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator

import msgspec
from aiohttp import web
from tallystick.ledger.visibility import reader_for_key
from tallystick.protocol.errors import BadIdError, BadSignatureError, MalformedError
from tallystick.protocol.ids import id_bytes, id_from_text, id_to_text, signature_bytes, verify_signature
from tallystick.protocol.requests import sign_in_message

from ..app import clock_ms, node_key
from ..connections import read_body
from ..public import public_url
from ..sessions import (
    BadSignInError,
    NoSessionError,
    NotAMemberError,
    NotSignedInError,
    Session,
    SessionStore,
    StaleChallengeError,
    StaleLinkError,
    label_of,
    sessions_key,
    token_bytes,
)
from .middleware import json_response
from .readers import (
    clear_session_cookie,
    decode_token,
    encode_token,
    reader_of,
    session_of,
    set_session_cookie,
)

sign_in_body_bytes_max = 1024  # a key, a challenge and a signature in JSON fit in 300


class SignIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The proof a stranger sends: their key (k_…), the challenge and the signature, both in
    lowercase base32 without padding (as a signed request's signature is)."""

    key: str
    challenge: str
    signature: str


def b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _from_b32(text: str, size: int, what: str) -> bytes:
    try:
        raw = base64.b32decode(text.upper() + "=" * (-len(text) % 8)) if len(text) <= 128 else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size or text != text.lower():
        raise MalformedError(f"the {what} is {size} bytes in lowercase base32 without padding")
    return raw


def _store(request: web.Request) -> SessionStore:
    return request.app[sessions_key]


def session_json(session: Session, member: bytes) -> dict[str, object]:
    return {
        "id": session.id, "member": id_to_text("m", member), "expires_ms": session.expires_ms,
        "csrf_token": session.csrf,
    }


async def _proven_key(request: web.Request) -> bytes:
    """The member key a sign-in body proves; the challenge is used up whether or not it does."""
    try:
        proof = msgspec.json.decode(await read_body(request, sign_in_body_bytes_max), type=SignIn)
    except msgspec.DecodeError as error:
        raise MalformedError(f"send JSON {{key, challenge, signature}}: {error}") from None
    try:
        key = id_from_text("k", proof.key)
    except BadIdError as error:
        raise MalformedError(f"the key is not a key id (k_…): {error.message}") from None
    if len(key) != id_bytes:
        raise MalformedError("the key is not a 32-byte key id (k_…)")
    challenge = _from_b32(proof.challenge, token_bytes, "challenge")
    signature = _from_b32(proof.signature, signature_bytes, "signature")
    if not await _store(request).take_challenge(challenge, clock_ms()):
        raise StaleChallengeError("the challenge is used, expired or not this node's; ask for a new one")
    node = request.app[node_key]
    try:
        verify_signature(key, sign_in_message(node=node.feed, challenge=challenge), signature)
    except BadSignatureError:
        raise BadSignInError(
            "the signature does not verify: sign the sign-in message for this node and challenge with this key"
        ) from None
    if not reader_for_key(node.sequencer.state, key).is_member:
        raise NotAMemberError("this key is not one of an active member's current keys here; sign in with your own key")
    return key


async def challenge(request: web.Request) -> web.Response:
    value, expires_ms = await _store(request).issue_challenge(clock_ms())
    node = request.app[node_key]
    return json_response({"challenge": b32(value), "node": id_to_text("n", node.feed), "expires_ms": expires_ms})


async def _open(request: web.Request, key: bytes) -> tuple[bytes, dict[str, object]]:
    token, session = await _store(request).open_session(key, label_of(request.headers.get("User-Agent", "")),
                                                        clock_ms())
    member = reader_for_key(request.app[node_key].sequencer.state, key).member
    assert member is not None  # _proven_key or take_link checked it on this same state
    return token, session_json(session, member)


async def sign_in(request: web.Request) -> web.Response:
    key = await _proven_key(request)
    token, document = await _open(request, key)
    response = json_response(document)
    set_session_cookie(response, request, token)
    return response


async def sign_in_link(request: web.Request) -> web.Response:
    key = await _proven_key(request)
    token, expires_ms = await _store(request).issue_challenge(clock_ms(), key=key)
    link = f"{public_url(request)}/sign-in?token={encode_token(token)}"
    return json_response({"link": link, "expires_ms": expires_ms})


async def sign_in_page(request: web.Request) -> web.StreamResponse:
    """A one-time link opened in a browser: the cookie, then the member's page."""
    token = decode_token(request.query.get("token", ""))
    key = await _store(request).take_link(token, clock_ms()) if token is not None else None
    if key is None or not reader_for_key(request.app[node_key].sequencer.state, key).is_member:
        raise StaleLinkError("this sign-in link is used or expired; run `tally sign-in` again for a new one")
    cookie, document = await _open(request, key)
    # No Referer: the link's token goes nowhere else.
    response = web.Response(status=303, headers={
        "Location": f"/members/{document['member']}", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    })
    set_session_cookie(response, request, cookie)
    return response


def _signed_in(request: web.Request) -> Session:
    session = session_of(request)
    if session is None:
        raise NotSignedInError("sign in first (POST /api/sign-in)")
    return session


async def current_session(request: web.Request) -> web.Response:
    session = _signed_in(request)
    reader = reader_of(request)
    assert reader.member is not None  # readers.py sets a session only for a member
    document = session_json(session, reader.member)
    return json_response({**document, "admin": reader.admin, "last_seen_ms": session.last_seen_ms})


def _member_key(request: web.Request) -> bytes:
    """The key whose sessions the reader may see and end: their own, by cookie or by signature."""
    reader = reader_of(request)
    if not reader.is_member or reader.key is None:
        raise NotSignedInError("sign in (POST /api/sign-in) or sign the request with your member key")
    return reader.key


async def list_sessions(request: web.Request) -> web.Response:
    key = _member_key(request)
    current = session_of(request)
    sessions = await _store(request).sessions_of(key, clock_ms())
    return json_response(
        [session.to_json(current=current is not None and session.id == current.id) for session in sessions]
    )


async def end_session(request: web.Request) -> web.Response:
    key = _member_key(request)
    session_id = request.match_info["id"]
    if len(session_id) > 64 or not await _store(request).end(session_id, key):
        raise NoSessionError("you have no session with this id; list yours with GET /api/sessions")
    response = json_response({"ended": session_id})
    current = session_of(request)
    if current is not None and current.id == session_id:
        clear_session_cookie(response, request)
    return response


async def sign_out(request: web.Request) -> web.Response:
    session = _signed_in(request)
    await _store(request).end(session.id, session.key)
    response = json_response({"ended": session.id})
    clear_session_cookie(response, request)
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/sign-in/challenge", challenge)
    app.router.add_post("/api/sign-in", sign_in)
    app.router.add_post("/api/sign-in/link", sign_in_link)
    app.router.add_get("/sign-in", sign_in_page)
    app.router.add_get("/api/session", current_session)
    app.router.add_get("/api/sessions", list_sessions)
    app.router.add_delete("/api/sessions/{id}", end_session)
    app.router.add_post("/api/sign-out", sign_out)


async def sessions_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Open the home's sessions file once the node runs (after `node_lifetime`), and end the
    sessions of keys that stop signing for a member, after each commit, in a task held here."""
    node = app[node_key]
    store = await SessionStore.open(node.home.sessions_path)
    app[sessions_key] = store
    due = asyncio.Event()

    def after_commit(_head: object) -> None:
        if store.keys_no_longer_members(node.sequencer.state):
            due.set()

    async def end_sessions_of_former_members() -> None:
        while True:
            await due.wait()
            due.clear()
            for key in store.keys_no_longer_members(node.sequencer.state):
                await store.end_key(key)

    node.sequencer.on_append(after_commit)
    due.set()  # and once at start: a commit just before a crash may not have ended them
    task = asyncio.create_task(end_sessions_of_former_members(), name="sessions")
    task.add_done_callback(node.task_ended)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()
