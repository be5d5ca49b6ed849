"""Members' sign-in sessions: the short-lived cookies a browser holds instead of signing each request.

How this works: a member proves their key once, by signing a challenge the node issued
(protocol/requests.py `sign_in_message`; node/http/auth.py), and the node opens a session: a random
token the browser holds in the `tally_session` cookie. This module keeps sessions and challenges in
a small SQLite file of the home's own (`Home.sessions_path`, "sessions.db"), apart from the event
log: a session is no fact of the community, and deleting the file signs everyone out.

- The token is stored only as its BLAKE2b hash, so the file is worth nothing to whoever copies it.
  A session has a public id (to list and end it), the member's key, its CSRF token (the page sends
  it back with every change), a short label ("Firefox on Linux", never the whole User-Agent), and
  its times in ms: created, last seen, and so its expiry, the earlier of `session_idle_ms` after
  last seen and `session_max_ms` after created.
- A challenge is single-use and good for `sign_in_challenge_ms`; so is a one-time sign-in link's
  token (`tally sign-in`), stored as its hash with the key it signs in.
- Everything is bounded: `sessions_per_member_max` per key (signing in past it ends the oldest),
  `sessions_max` and `sign_in_challenges_max` in all (the oldest go), and expired rows are purged
  whenever a row is added.
- Who a session's key is, is never stored: the reader of each request is resolved from the key
  through the current state (node/http/readers.py), so a removed member or a rotated key reads as a
  stranger at once. `keys` is the set of keys holding a session, so the node can end a removed
  member's sessions after each commit (`end_keys_no_longer_members`) by looking only at those.

Every method takes `now_ms`; the clock is the caller's.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
from aiohttp import web
from tallystick.ledger.model import State
from tallystick.ledger.visibility import reader_for_key
from tallystick.protocol import limits
from tallystick.protocol.errors import LocalError, RemoteError

from .local_files import open_local_file

token_bytes = 32  # a session's token, a link's token and a challenge: 256 random bits each
# A session id is hex: it never begins with "-", which `tally session end ID` would read as an option.
session_id_bytes = 12
csrf_token_bytes = 24
label_chars_max = 40
# A session's last-seen time is written at most this often: a page's every request need not be a
# write, and the idle expiry (30 minutes) does not notice a minute.
session_touch_ms = 60 * 1000

_schema = """
CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    key BLOB NOT NULL,
    csrf TEXT NOT NULL,
    label TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_key ON sessions (key, created_ms);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_ms);
CREATE TABLE IF NOT EXISTS challenges (
    value BLOB PRIMARY KEY,
    key BLOB,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS challenges_by_expiry ON challenges (expires_ms);
"""


class NotSignedInError(RemoteError):
    code = "not_signed_in"
    http_status = 401


class StaleChallengeError(RemoteError):
    code = "stale_challenge"
    http_status = 401


class BadSignInError(RemoteError):
    code = "bad_sign_in"
    http_status = 401


class NotAMemberError(LocalError):
    code = "not_a_member"
    http_status = 403


class CsrfError(RemoteError):
    code = "csrf_refused"
    http_status = 403


class NoSessionError(LocalError):
    code = "no_session"
    http_status = 404


class StaleLinkError(RemoteError):
    code = "stale_sign_in_link"
    http_status = 400


def token_hash(token: bytes) -> bytes:
    return hashlib.blake2b(token, digest_size=32, person=b"tally-session").digest()


@dataclass(frozen=True)
class Session:
    id: str
    key: bytes
    csrf: str
    label: str
    created_ms: int
    last_seen_ms: int
    expires_ms: int

    def to_json(self, *, current: bool = False) -> dict[str, object]:
        return {
            "id": self.id, "label": self.label, "created_ms": self.created_ms,
            "last_seen_ms": self.last_seen_ms, "expires_ms": self.expires_ms, "current": current,
        }


def expiry_ms(created_ms: int, last_seen_ms: int) -> int:
    return min(last_seen_ms + limits.session_idle_ms, created_ms + limits.session_max_ms)


def label_of(user_agent: str) -> str:
    """A browser's family and system, for a member to tell their sessions apart; nothing more of
    the User-Agent is kept (it would single a person out)."""
    text = user_agent[:512]
    family = next(
        (name for marker, name in (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
                                   ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"),
                                   ("Python", "Python")) if marker in text),
        "a browser",
    )
    system = next(
        (name for marker, name in (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"),
                                   ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
                                   ("Linux", "Linux")) if marker in text),
        None,
    )
    return (family if system is None else f"{family} on {system}")[:label_chars_max]


def _row_session(row: sqlite3.Row | tuple) -> Session:
    return Session(id=row[0], key=row[1], csrf=row[2], label=row[3], created_ms=row[4], last_seen_ms=row[5],
                   expires_ms=row[6])


_columns = "id, key, csrf, label, created_ms, last_seen_ms, expires_ms"


class SessionStore:
    """The sessions file of one home; one connection, used from the event loop's thread only."""

    def __init__(self, connection: aiosqlite.Connection, keys: set[bytes]) -> None:
        self._connection = connection
        self.keys = keys  # every key holding a session (and perhaps a few whose sessions expired)

    @classmethod
    async def open(cls, path: Path) -> SessionStore:
        # A session lost in a power cut is a member signing in again, not a lost payment.
        connection = await open_local_file(path, _schema, personal=False, durable=False)
        try:
            store = cls(connection, set())
            await store._reload_keys()
        except BaseException:
            await connection.close()
            raise
        return store

    async def close(self) -> None:
        await self._connection.close()

    async def _reload_keys(self) -> None:
        async with self._connection.execute(
            "SELECT DISTINCT key FROM sessions LIMIT ?", (limits.sessions_max,)
        ) as cursor:
            self.keys = {row[0] async for row in cursor}

    async def _purge(self, now_ms: int) -> None:
        """Drop expired sessions and challenges (all of them: each is bounded in count)."""
        purged = await self._connection.execute("DELETE FROM sessions WHERE expires_ms <= ?", (now_ms,))
        await self._connection.execute("DELETE FROM challenges WHERE expires_ms <= ?", (now_ms,))
        if purged.rowcount:
            await self._reload_keys()

    async def _count(self, sql: str, parameters: tuple = ()) -> int:
        async with self._connection.execute(sql, parameters) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    # -- challenges and one-time links ----------------------------------------------------------

    async def issue_challenge(self, now_ms: int, *, key: bytes | None = None) -> tuple[bytes, int]:
        """A fresh single-use value and when it expires. With `key`, a one-time sign-in link's token
        for that key (stored as its hash); without, a challenge for anyone to sign."""
        await self._purge(now_ms)
        excess = await self._count("SELECT COUNT(*) FROM challenges") - limits.sign_in_challenges_max + 1
        if excess > 0:
            await self._connection.execute(
                "DELETE FROM challenges WHERE value IN (SELECT value FROM challenges ORDER BY expires_ms LIMIT ?)",
                (excess,),
            )
        value = secrets.token_bytes(token_bytes)
        expires_ms = now_ms + limits.sign_in_challenge_ms
        stored = value if key is None else token_hash(value)
        await self._connection.execute(
            "INSERT INTO challenges (value, key, expires_ms) VALUES (?, ?, ?)", (stored, key, expires_ms)
        )
        return value, expires_ms

    async def take_challenge(self, value: bytes, now_ms: int) -> bool:
        """Whether `value` is a challenge this node issued that is still good; it is used up either way."""
        deleted = await self._connection.execute(
            "DELETE FROM challenges WHERE value = ? AND key IS NULL AND expires_ms > ?", (value, now_ms)
        )
        return deleted.rowcount == 1

    async def take_link(self, token: bytes, now_ms: int) -> bytes | None:
        """The key a one-time sign-in link's token signs in, if it is still good; used up either way."""
        stored = token_hash(token)
        async with self._connection.execute(
            "DELETE FROM challenges WHERE value = ? AND key IS NOT NULL AND expires_ms > ? RETURNING key",
            (stored, now_ms),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]

    # -- sessions -------------------------------------------------------------------------------

    async def open_session(self, key: bytes, label: str, now_ms: int) -> tuple[bytes, Session]:
        """A new session for `key`: its token (for the cookie; only its hash is kept) and the session.
        Past `sessions_per_member_max` for this key, or `sessions_max` in all, the oldest end."""
        await self._purge(now_ms)
        own = await self._count("SELECT COUNT(*) FROM sessions WHERE key = ?", (key,))
        if own >= limits.sessions_per_member_max:
            await self._connection.execute(
                "DELETE FROM sessions WHERE token_hash IN"
                " (SELECT token_hash FROM sessions WHERE key = ? ORDER BY created_ms, rowid LIMIT ?)",
                (key, own - limits.sessions_per_member_max + 1),
            )
        total = await self._count("SELECT COUNT(*) FROM sessions")
        if total >= limits.sessions_max:
            await self._connection.execute(
                "DELETE FROM sessions WHERE token_hash IN"
                " (SELECT token_hash FROM sessions ORDER BY created_ms, rowid LIMIT ?)",
                (total - limits.sessions_max + 1,),
            )
            await self._reload_keys()
        token = secrets.token_bytes(token_bytes)
        session = Session(
            id=secrets.token_bytes(session_id_bytes).hex(), key=key, csrf=secrets.token_urlsafe(csrf_token_bytes),
            label=label[:label_chars_max], created_ms=now_ms, last_seen_ms=now_ms,
            expires_ms=expiry_ms(now_ms, now_ms),
        )
        await self._connection.execute(
            f"INSERT INTO sessions (token_hash, {_columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (token_hash(token), session.id, key, session.csrf, session.label, now_ms, now_ms, session.expires_ms),
        )
        self.keys.add(key)
        return token, session

    async def session(self, token: bytes, now_ms: int) -> Session | None:
        """The live session this token opens, seen now (its idle expiry moves on), or None."""
        if len(token) != token_bytes:
            return None
        stored = token_hash(token)
        async with self._connection.execute(
            f"SELECT {_columns} FROM sessions WHERE token_hash = ? AND expires_ms > ?", (stored, now_ms)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        session = _row_session(row)
        if now_ms - session.last_seen_ms < session_touch_ms:
            return session
        expires_ms = expiry_ms(session.created_ms, now_ms)
        await self._connection.execute(
            "UPDATE sessions SET last_seen_ms = ?, expires_ms = ? WHERE token_hash = ?", (now_ms, expires_ms, stored)
        )
        return Session(session.id, session.key, session.csrf, session.label, session.created_ms, now_ms, expires_ms)

    async def sessions_of(self, key: bytes, now_ms: int) -> list[Session]:
        """The live sessions of `key`, newest first (at most `sessions_per_member_max`)."""
        async with self._connection.execute(
            f"SELECT {_columns} FROM sessions WHERE key = ? AND expires_ms > ? ORDER BY created_ms DESC, rowid DESC"
            " LIMIT ?",
            (key, now_ms, limits.sessions_per_member_max),
        ) as cursor:
            return [_row_session(row) async for row in cursor]

    async def end(self, session_id: str, key: bytes) -> bool:
        """End the session `session_id` if it is one of `key`'s; whether it was."""
        deleted = await self._connection.execute("DELETE FROM sessions WHERE id = ? AND key = ?", (session_id, key))
        return deleted.rowcount == 1

    async def end_key(self, key: bytes) -> int:
        """End every session of `key` (a removed member's, a retired key's); how many ended."""
        deleted = await self._connection.execute("DELETE FROM sessions WHERE key = ?", (key,))
        self.keys.discard(key)
        return deleted.rowcount

    def keys_no_longer_members(self, state: State) -> list[bytes]:
        """The keys holding a session that no longer sign for an active member in `state` (the
        member was removed, their key re-bound or recovered, or that device's key removed). Pure and in memory: the node asks
        after every commit, and ends their sessions with `end_key`."""
        return [key for key in self.keys if not reader_for_key(state, key).is_member]


sessions_key = web.AppKey("sessions", SessionStore)
