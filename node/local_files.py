"""The node's own SQLite files beside the log (sessions, join requests, listings, ...): how each is
opened, and how what was deleted from one leaves no bytes behind.

How this works: each file has one aiosqlite connection in autocommit mode (`isolation_level=None`:
a statement is its own transaction unless the store writes BEGIN), in WAL mode. A file that holds
personal data opens with `secure_delete` (freed pages are zeroed; it is a per-connection setting,
so it is set at every open), and after a deletion `wipe_deleted` moves what the WAL still holds
into those zeroed pages and empties the WAL (with `vacuum`, the file is rewritten first, so no
free page keeps an old copy either). Nothing here is the log: the log is node/store.py's.
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite


async def open_local_file(
    path: Path, schema: str, *, personal: bool, durable: bool = True, foreign_keys: bool = False
) -> aiosqlite.Connection:
    """A connection to the file at `path` with `schema` (idempotent DDL) applied. `personal`: the
    file holds what people typed, so deleted rows are overwritten. Not `durable`: a row lost in a
    power cut costs a person a retry, never an acknowledged event (synchronous=NORMAL)."""
    connection = await aiosqlite.connect(path, isolation_level=None)
    try:
        if personal:
            await connection.execute("PRAGMA secure_delete=ON")
        if foreign_keys:
            await connection.execute("PRAGMA foreign_keys=ON")
        await connection.execute("PRAGMA journal_mode=WAL")
        if not durable:
            await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.executescript(schema)
    except BaseException:
        await connection.close()
        raise
    return connection


async def wipe_deleted(connection: aiosqlite.Connection, *, vacuum: bool = False) -> None:
    """After rows of personal data were deleted or overwritten: no byte of them stays in the file
    or its WAL."""
    if vacuum:
        await connection.execute("VACUUM")
    await connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
