"""Join requests: a person without an invitation asks to join, and the community's admins answer.

How this works: the person's wallet makes their key on their device and sends their name (and an
optional short note) signed by that key (node/http/join_requests.py). The node keeps the request
here, in a small SQLite file of the home's own (`join-requests.db`), apart from the event log: a
request is no fact of the community, and what it holds is personal data (a name, a note) that only
the node and its admins ever read. An admin answers by signing an `admit` for the request's key
(or, where the community admits by decision, a proposal to admit it); the log then says the key is
a member, and the request is deleted. Declining wipes the name and note at once and keeps only
the key and "declined" until the request's expiry, so the person's wallet can tell them.

Everything is bounded: one request per key, `join_requests_max` waiting in all (a declined one gives
its place back: a flood that admins decline must not shut out the next real asker for two weeks),
`join_requests_declined_max` declined keys kept, each row kept at most `join_request_ms`. Expired
rows are purged when the file opens, every `join_request_purge_ms` while the node runs, and
whenever a request is listed or added. How many requests one client address may make is counted in
memory (`AddressWindow`): it needs no keeping across a restart, and the address itself is never
written down. Checking the bounds and keeping a request happen under one lock: requests sent at
once must not all pass the checks before any is kept.

A name or a note that is wiped (declined), deleted (admitted) or purged (expired) is gone from the
file's bytes, not only from its rows: `secure_delete` zeroes the freed space, and a TRUNCATE
checkpoint right after moves the change into the database file and empties the WAL, where the
page as it was would otherwise stay until SQLite reuses it.

Every method takes `now_ms`; the clock is the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
from aiohttp import web
from tallystick.protocol.errors import LocalError, RemoteError

from .local_files import open_local_file, wipe_deleted

# Requests waiting at once, in all: an admin reads each one, and a flood of strangers must not
# push out the real requests' answers or grow the file without end.
join_requests_max = 200
# How long a request (or its "declined") is kept: two weeks is enough for a small community's
# admins to answer, and a person whose request lapsed asks again.
join_request_ms = 14 * 24 * 60 * 60 * 1000
# A name is the protocol's Name (64 characters), a note at most a memo's 280.
join_request_note_chars_max = 280
# New requests one client address may make per window: a household asks a few times, a script
# that makes keys by the thousand is held back.
join_requests_per_address_max = 5
join_request_window_ms = 60 * 60 * 1000
# Addresses counted at once; past it the oldest window is forgotten (a bound on memory, not a
# door: a client with that many addresses is held back by `join_requests_max`).
join_request_addresses_max = 10_000
# Declined keys kept (with nothing personal: the key, "declined" and two times, about 60 bytes),
# so that each asker's wallet can say "declined"; past it the oldest declined row goes, and that
# asker's poll says their request lapsed instead.
join_requests_declined_max = 5 * join_requests_max
# How often the running node purges expired rows, so that a lapsed request's name is gone within
# the hour even if no one asks or lists.
join_request_purge_ms = 60 * 60 * 1000

_schema = """
CREATE TABLE IF NOT EXISTS join_requests (
    key BLOB PRIMARY KEY,
    name TEXT,
    note TEXT,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS join_requests_by_expiry ON join_requests (expires_ms);
"""


class JoinRequestExistsError(LocalError):
    code = "join_request_exists"
    http_status = 409


class JoinRequestUnknownError(LocalError):
    code = "join_request_unknown"
    http_status = 404


class TooManyJoinRequestsError(LocalError):
    code = "too_many_join_requests"
    http_status = 429


class UnsignedJoinRequestError(RemoteError):
    code = "unsigned_request"
    http_status = 403


@dataclass(frozen=True)
class JoinRequest:
    key: bytes
    name: str | None  # None once declined
    note: str | None
    state: str  # "pending" or "declined"
    created_ms: int
    expires_ms: int


_columns = "key, name, note, state, created_ms, expires_ms"


class AddressWindow:
    """How many requests each client address made in its current window, in memory, bounded."""

    def __init__(self) -> None:
        self._windows: OrderedDict[str, tuple[int, int]] = OrderedDict()  # address -> (start_ms, count)

    def allows(self, address: str, now_ms: int) -> bool:
        """Whether `address` may make one more request now."""
        start_ms, count = self._windows.get(address, (now_ms, 0))
        return now_ms - start_ms >= join_request_window_ms or count < join_requests_per_address_max

    def count(self, address: str, now_ms: int) -> None:
        """Count one request `address` made (only those kept count: a refused one changed nothing)."""
        start_ms, count = self._windows.pop(address, (now_ms, 0))
        if now_ms - start_ms >= join_request_window_ms:
            start_ms, count = now_ms, 0
        self._windows[address] = (start_ms, count + 1)
        while len(self._windows) > join_request_addresses_max:
            self._windows.popitem(last=False)


class JoinRequestStore:
    """The join-requests file of one home; one connection, used from the event loop's thread only."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self.addresses = AddressWindow()
        # Held from the first bound checked to the row kept; every other step is one statement.
        self._adding = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> JoinRequestStore:
        return cls(await open_local_file(path, _schema, personal=True))

    async def close(self) -> None:
        await self._connection.close()

    async def _erased(self) -> None:
        """After a name or note was wiped or deleted: move it out of the WAL into the (zeroed)
        database pages, and empty the WAL."""
        await wipe_deleted(self._connection)

    async def purge(self, now_ms: int) -> None:
        """Delete the rows past their expiry, names and notes gone from the file's bytes."""
        deleted = await self._connection.execute("DELETE FROM join_requests WHERE expires_ms <= ?", (now_ms,))
        if deleted.rowcount > 0:
            await self._erased()

    async def _count(self, state: str) -> int:
        async with self._connection.execute("SELECT COUNT(*) FROM join_requests WHERE state = ?", (state,)) as cursor:
            row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    async def add(self, key: bytes, name: str, note: str, address: str, now_ms: int) -> JoinRequest:
        """Keep a new request from client `address`; `JoinRequestExistsError` if this key has one,
        `TooManyJoinRequestsError` if `address` made its requests of the window or
        `join_requests_max` wait already. Only a request kept counts against its address."""
        async with self._adding:
            if not self.addresses.allows(address, now_ms):
                raise TooManyJoinRequestsError("too many join requests from this address; ask again in an hour")
            await self.purge(now_ms)
            if await self.get(key, now_ms) is not None:
                raise JoinRequestExistsError(
                    "this key has asked already; wait for the admins' answer (the wallet checks it for you)"
                )
            if await self._count("pending") >= join_requests_max:
                raise TooManyJoinRequestsError(
                    "this node holds as many join requests as it keeps; ask again in a few days"
                )
            request = JoinRequest(key, name, note, "pending", now_ms, now_ms + join_request_ms)
            await self._connection.execute(
                f"INSERT INTO join_requests ({_columns}) VALUES (?, ?, ?, ?, ?, ?)",
                (key, name, note, request.state, now_ms, request.expires_ms),
            )
            self.addresses.count(address, now_ms)
            return request

    async def get(self, key: bytes, now_ms: int) -> JoinRequest | None:
        async with self._connection.execute(
            f"SELECT {_columns} FROM join_requests WHERE key = ? AND expires_ms > ?", (key, now_ms)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else JoinRequest(*row)

    async def pending(self, now_ms: int) -> list[JoinRequest]:
        """The requests waiting for an answer, oldest first (at most `join_requests_max`)."""
        await self.purge(now_ms)
        async with self._connection.execute(
            f"SELECT {_columns} FROM join_requests WHERE state = 'pending' ORDER BY created_ms, key LIMIT ?",
            (join_requests_max,),
        ) as cursor:
            return [JoinRequest(*row) async for row in cursor]

    async def decline(self, key: bytes, now_ms: int) -> bool:
        """Decline a waiting request: its name and note are wiped now, from the file's bytes too.
        Whether one was waiting. Past `join_requests_declined_max` the oldest declined row goes."""
        async with self._adding:
            updated = await self._connection.execute(
                "UPDATE join_requests SET state = 'declined', name = NULL, note = NULL"
                " WHERE key = ? AND state = 'pending' AND expires_ms > ?",
                (key, now_ms),
            )
            if updated.rowcount != 1:
                return False
            excess = await self._count("declined") - join_requests_declined_max
            if excess > 0:
                await self._connection.execute(
                    "DELETE FROM join_requests WHERE key IN (SELECT key FROM join_requests WHERE state = 'declined'"
                    " ORDER BY created_ms, key LIMIT ?)",
                    (excess,),
                )
            await self._erased()
            return True

    async def forget(self, key: bytes) -> None:
        """Delete a request whose key the log has admitted (its name is in the log now; its note
        is nowhere else, and is gone from the file's bytes)."""
        deleted = await self._connection.execute("DELETE FROM join_requests WHERE key = ?", (key,))
        if deleted.rowcount > 0:
            await self._erased()


join_requests_key = web.AppKey("join_requests", JoinRequestStore)


async def join_requests_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Open the home's join-requests file once the node runs (after `node_lifetime`), purge what
    expired while it was stopped, and every `join_request_purge_ms` after."""
    from .app import clock_ms, node_key

    store = await JoinRequestStore.open(app[node_key].home.path / "join-requests.db")
    app[join_requests_key] = store

    async def purge_every_hour() -> None:
        while True:
            await asyncio.sleep(join_request_purge_ms / 1000)
            await store.purge(clock_ms())

    try:
        await store.purge(clock_ms())
    except BaseException:
        await store.close()
        raise

    # Held, cancelled and awaited below; if it fails, the node stops loudly, as for its own tasks.
    purging = asyncio.create_task(purge_every_hour(), name="join-requests-purge")
    purging.add_done_callback(app[node_key].task_ended)
    try:
        yield
    finally:
        purging.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purging
        await store.close()
