"""Listings: what members offer and want, kept by the community's node beside the log, not in it.

How this works: a listing is personal data its member writes, edits, renews and withdraws, so it
lives in a small SQLite file of the home's own (`listings.db`, opened like `join-requests.db`), never
in the signed, replicated log, where nothing can be taken back: withdrawing deletes the row and its
picture, and erasing a former member (`tally member erase`) deletes all of theirs, with SQLite's
`secure_delete` (freed pages are overwritten), a `VACUUM` and a WAL checkpoint, so no byte of it
stays in the file (docs/market.md). The node's HTTP layer (node/http/listings.py) decides who may
do what; this module keeps the rows, bounded, and answers searches newest first.

A listing is live while `expires_ms` is in the future and it is not hidden; a search shows only
live listings of active members (the caller passes who is active). An expired listing stays for
`listing_kept_after_expiry_ms`, so its member can renew it, then is purged whenever a row is added.
Pictures are stored already re-encoded (node/pictures.py) in their own table, one per listing.

Every method takes `now_ms`; the clock is the caller's.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
from aiohttp import web
from tallystick.protocol.errors import LocalError

day_ms = 24 * 60 * 60 * 1000
# A listing lasts a month unless its member says otherwise, and at most three months before it
# must be renewed: a market full of stale offers is the complaint users of every such system make.
listing_expiry_default_days = 30
listing_expiry_max_days = 90
# An expired listing is kept this long for its member to renew, then deleted for good.
listing_kept_after_expiry_ms = 30 * day_ms
# Listings one member holds at once (live, expired or hidden): a market stall, not a catalogue.
listings_per_member_max = 50
# Listings on one node in all: a bound on the file (with pictures, about 20,000 x 200 KB = 4 GB at
# worst; a community of a few thousand members stays far below it).
listings_max = 20_000
# A page of search results: a phone's screen or two; `listings_page_default` when none is asked.
listings_page_max = 50
listings_page_default = 20
# Rows a search looks at, at most, for one page (a text search reads rows until a page is full).
listings_scanned_max = 5_000

# The kinds and the categories, each with a stable id (the wallet's texts are keyed by them). A
# short fixed list, as Komunitin, CES and TimeOverflow have: a member finds more by browsing ten
# categories than by guessing the words of a free-form tag.
kinds = ("offer", "want")
categories: tuple[tuple[str, str], ...] = (
    ("food", "Food and drink"),
    ("goods", "Goods"),
    ("services", "Services"),
    ("repairs", "Repairs and making"),
    ("lessons", "Lessons and skills"),
    ("care", "Care and health"),
    ("transport", "Transport"),
    ("housing", "Housing and spaces"),
    ("garden", "Garden and land"),
    ("other", "Something else"),
)
category_ids = frozenset(category for category, _ in categories)

_schema = """
CREATE TABLE IF NOT EXISTS listings (
    id TEXT PRIMARY KEY,
    author BLOB NOT NULL,
    enterprise BLOB,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    price_minor INTEGER,
    place TEXT NOT NULL,
    folded TEXT NOT NULL,
    place_folded TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    listed_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    hidden_reason TEXT,
    hidden_by BLOB,
    hidden_ms INTEGER
);
CREATE INDEX IF NOT EXISTS listings_newest ON listings (listed_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS listings_by_author ON listings (author);
CREATE INDEX IF NOT EXISTS listings_by_expiry ON listings (expires_ms);
CREATE INDEX IF NOT EXISTS listings_by_enterprise ON listings (enterprise) WHERE enterprise IS NOT NULL;
CREATE TABLE IF NOT EXISTS pictures (
    listing TEXT PRIMARY KEY REFERENCES listings (id) ON DELETE CASCADE,
    bytes BLOB NOT NULL,
    content_type TEXT NOT NULL,
    etag TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
);
"""


class ListingUnknownError(LocalError):
    code = "listing_unknown"
    http_status = 404


class TooManyListingsError(LocalError):
    code = "too_many_listings"
    http_status = 409


@dataclass(frozen=True)
class Picture:
    bytes: bytes
    content_type: str
    etag: str
    width: int
    height: int


@dataclass(frozen=True)
class Listing:
    id: str
    author: bytes
    kind: str
    title: str
    description: str
    category: str
    price_minor: int | None  # None: "ask"
    place: str
    created_ms: int
    listed_ms: int  # when it was listed or last renewed: newest first sorts by it
    updated_ms: int
    expires_ms: int
    hidden_reason: str | None
    hidden_by: bytes | None
    hidden_ms: int | None
    enterprise: bytes | None = None  # listed for this enterprise by its manager: its account is paid
    picture_etag: str | None = None
    picture_width: int | None = None
    picture_height: int | None = None

    def live(self, now_ms: int) -> bool:
        return self.hidden_reason is None and self.expires_ms > now_ms


@dataclass(frozen=True)
class Fields:
    """What a member writes in a listing, checked by the HTTP layer."""

    kind: str
    title: str
    description: str
    category: str
    price_minor: int | None
    place: str


_columns = ("l.id, l.author, l.kind, l.title, l.description, l.category, l.price_minor, l.place, l.created_ms, "
            "l.listed_ms, l.updated_ms, l.expires_ms, l.hidden_reason, l.hidden_by, l.hidden_ms, l.enterprise, p.etag, "
            "p.width, p.height")
_from = "listings AS l LEFT JOIN pictures AS p ON p.listing = l.id"


def _listing(row: Iterable[object]) -> Listing:
    values = list(row)
    values[1] = bytes(values[1])  # type: ignore[arg-type]
    for index in (13, 15):  # hidden_by, enterprise
        if values[index] is not None:
            values[index] = bytes(values[index])  # type: ignore[arg-type]
    return Listing(*values)  # type: ignore[arg-type]


def fold(text: str) -> str:
    return text.casefold()


def new_listing_id() -> str:
    """`l_` and 16 base32 characters (80 random bits): no count of listings shows through an id."""
    return "l_" + base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()


class ListingStore:
    """The listings file of one home; one connection, used from the event loop's thread only."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._connection = connection
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> ListingStore:
        connection = await aiosqlite.connect(path, isolation_level=None)
        try:
            # Freed pages are overwritten: a withdrawn or erased listing leaves no bytes behind.
            await connection.execute("PRAGMA secure_delete = ON")
            await connection.execute("PRAGMA foreign_keys = ON")
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.executescript(_schema)
        except BaseException:
            await connection.close()
            raise
        return cls(connection, path)

    async def close(self) -> None:
        await self._connection.close()

    async def _purge(self, now_ms: int) -> None:
        await self._connection.execute(
            "DELETE FROM listings WHERE expires_ms <= ?", (now_ms - listing_kept_after_expiry_ms,))

    async def _count(self, where: str = "", values: tuple[object, ...] = ()) -> int:
        async with self._connection.execute(f"SELECT COUNT(*) FROM listings {where}", values) as cursor:
            row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    async def add(
        self, author: bytes, fields: Fields, expires_ms: int, now_ms: int, enterprise: bytes | None = None
    ) -> Listing:
        await self._purge(now_ms)
        if await self._count("WHERE author = ?", (author,)) >= listings_per_member_max:
            raise TooManyListingsError(
                f"you hold {listings_per_member_max} listings already; withdraw one you no longer need first")
        if await self._count() >= listings_max:
            raise TooManyListingsError("this node holds as many listings as it keeps; try again in a few days")
        listing_id = new_listing_id()
        await self._connection.execute(
            "INSERT INTO listings (id, author, enterprise, kind, title, description, category, price_minor, place,"
            " folded, place_folded, created_ms, listed_ms, updated_ms, expires_ms) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (listing_id, author, enterprise, fields.kind, fields.title, fields.description, fields.category, fields.price_minor,
             fields.place, _folded(fields), fold(fields.place), now_ms, now_ms, now_ms, expires_ms),
        )
        found = await self.get(listing_id)
        assert found is not None
        return found

    async def get(self, listing_id: str) -> Listing | None:
        async with self._connection.execute(f"SELECT {_columns} FROM {_from} WHERE l.id = ?", (listing_id,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _listing(row)

    async def edit(self, listing_id: str, fields: Fields, now_ms: int) -> None:
        await self._connection.execute(
            "UPDATE listings SET kind = ?, title = ?, description = ?, category = ?, price_minor = ?, place = ?,"
            " folded = ?, place_folded = ?, updated_ms = ? WHERE id = ?",
            (fields.kind, fields.title, fields.description, fields.category, fields.price_minor, fields.place,
             _folded(fields), fold(fields.place), now_ms, listing_id),
        )

    async def renew(self, listing_id: str, expires_ms: int, now_ms: int) -> None:
        await self._connection.execute(
            "UPDATE listings SET expires_ms = ?, listed_ms = ?, updated_ms = ? WHERE id = ?",
            (expires_ms, now_ms, now_ms, listing_id))

    async def hide(self, listing_id: str, reason: str, admin: bytes, now_ms: int) -> None:
        await self._connection.execute(
            "UPDATE listings SET hidden_reason = ?, hidden_by = ?, hidden_ms = ? WHERE id = ?",
            (reason, admin, now_ms, listing_id))

    async def withdraw(self, listing_id: str) -> None:
        """Delete the listing and its picture (secure_delete overwrites their pages)."""
        await self._connection.execute("DELETE FROM listings WHERE id = ?", (listing_id,))

    async def set_picture(self, listing_id: str, picture: Picture) -> None:
        await self._connection.execute(
            "INSERT INTO pictures (listing, bytes, content_type, etag, width, height) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (listing) DO UPDATE SET bytes = excluded.bytes, content_type = excluded.content_type,"
            " etag = excluded.etag, width = excluded.width, height = excluded.height",
            (listing_id, picture.bytes, picture.content_type, picture.etag, picture.width, picture.height))

    async def remove_picture(self, listing_id: str) -> None:
        await self._connection.execute("DELETE FROM pictures WHERE listing = ?", (listing_id,))

    async def picture(self, listing_id: str) -> Picture | None:
        async with self._connection.execute(
            "SELECT bytes, content_type, etag, width, height FROM pictures WHERE listing = ?", (listing_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else Picture(bytes(row[0]), row[1], row[2], row[3], row[4])

    async def search(
        self, *, now_ms: int, active: Callable[[Listing], bool], text: str | None, category: str | None, place: str | None,
        kind: str | None, before: tuple[int, str] | None, limit: int,
    ) -> tuple[list[Listing], tuple[int, str] | None]:
        """Live listings that `active` keeps (of active members, of enterprises that exist), newest
        first, at most `limit`, and the cursor of the next page (None: no more). At most
        `listings_scanned_max` rows are read for one page."""
        conditions = ["l.hidden_reason IS NULL", "l.expires_ms > ?"]
        values: list[object] = [now_ms]
        if text:
            conditions.append("instr(l.folded, ?) > 0")
            values.append(fold(text))
        if category:
            conditions.append("l.category = ?")
            values.append(category)
        if place:
            conditions.append("instr(l.place_folded, ?) > 0")
            values.append(fold(place))
        if kind:
            conditions.append("l.kind = ?")
            values.append(kind)
        if before is not None:
            conditions.append("(l.listed_ms, l.id) < (?, ?)")
            values.extend(before)
        found: list[Listing] = []
        last: tuple[int, str] | None = None
        scanned = 0
        async with self._connection.execute(
            f"SELECT {_columns} FROM {_from} WHERE {' AND '.join(conditions)} ORDER BY l.listed_ms DESC, l.id DESC"
            " LIMIT ?", (*values, listings_scanned_max),
        ) as cursor:
            async for row in cursor:
                scanned += 1
                listing = _listing(row)
                last = (listing.listed_ms, listing.id)
                if not active(listing):
                    continue  # a member who left: their listings are gone from the market
                found.append(listing)
                if len(found) == limit:
                    return found, last
        # Fewer than a page: more may lie past the rows scanned, else this is the end.
        return found, last if scanned == listings_scanned_max else None

    async def of_member(self, author: bytes) -> list[Listing]:
        """Every listing of one member (live, expired or hidden), newest first; at most
        `listings_per_member_max`."""
        async with self._connection.execute(
            f"SELECT {_columns} FROM {_from} WHERE l.author = ? ORDER BY l.listed_ms DESC, l.id DESC LIMIT ?",
            (author, listings_per_member_max),
        ) as cursor:
            return [_listing(row) async for row in cursor]

    async def of_enterprises(self, enterprises: Iterable[bytes]) -> list[Listing]:
        """Every listing made for these enterprises (their manager's to change), newest first; at
        most `listings_per_member_max` each."""
        found: list[Listing] = []
        for enterprise in enterprises:
            async with self._connection.execute(
                f"SELECT {_columns} FROM {_from} WHERE l.enterprise = ? ORDER BY l.listed_ms DESC, l.id DESC LIMIT ?",
                (enterprise, listings_per_member_max),
            ) as cursor:
                found += [_listing(row) async for row in cursor]
        return found

    async def erase_member(self, author: bytes) -> int:
        """Delete every listing and picture of `author` so that no byte of them stays in the file:
        secure_delete overwrites the freed pages, VACUUM rewrites the file, and the WAL is
        checkpointed and truncated. How many listings there were."""
        deleted = await self._connection.execute("DELETE FROM listings WHERE author = ?", (author,))
        count = deleted.rowcount
        await self._connection.execute("VACUUM")
        await self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count


def _folded(fields: Fields) -> str:
    return fold(f"{fields.title}\n{fields.description}\n{fields.place}")


listings_key = web.AppKey("listings", ListingStore)


async def listings_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Open the home's listings file once the node runs (after `node_lifetime`)."""
    from .app import node_key

    store = await ListingStore.open(app[node_key].home.path / "listings.db")
    app[listings_key] = store
    try:
        yield
    finally:
        await store.close()
