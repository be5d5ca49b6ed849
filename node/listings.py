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

Shared with the federations (docs/market.md, "Across the federation"): the community's choice
(`settings`, set by an admin) and what the federation digest reads, `changes` since a cursor: every
listing changed (`changed_ms`, bumped by every change) and a tombstone (`gone`: the BLAKE2b-128 of
the listing's id, `tombstone_id`, and a time; no personal data, and not the id itself, so an erased
listing leaves no byte of it in the file) for every listing withdrawn, erased or purged, kept `listing_tombstone_kept_ms`.
The listings other communities share are kept in `foreign_listings`, one cursor per community in
`foreign_cursors`, bounded per community and in all; the federation layer (federation/market.py)
pulls them, and searches of the federation's scope read them beside this community's own.

Every method takes `now_ms`; the clock is the caller's.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
from aiohttp import web
from tallystick.protocol.errors import LocalError

from .local_files import open_local_file, wipe_deleted

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

# A withdrawn, erased or purged listing's tombstone is kept this long, and at most this many: a
# federation peer that has not pulled for longer re-reads the whole digest (federation/market.py
# does every `digest_full_pull_interval_ms`), which drops what it no longer finds.
listing_tombstone_kept_ms = 30 * day_ms
listing_tombstones_max = listings_max
# Listings held from one other community, and from all of them: as many as one community may hold
# of its own, a bound on the file (no pictures are held, so at most a few KB each).
foreign_listings_per_community_max = 2_000
foreign_listings_max = listings_max
# The description a foreign listing carries: a snippet, not the whole text.
snippet_chars_max = 200

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
    hidden_ms INTEGER,
    changed_ms INTEGER NOT NULL DEFAULT 0
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
CREATE TABLE IF NOT EXISTS gone (
    id TEXT PRIMARY KEY,
    gone_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS gone_by_time ON gone (gone_ms, id);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS foreign_listings (
    community BLOB NOT NULL,
    id TEXT NOT NULL,
    community_name TEXT NOT NULL,
    unit_code TEXT NOT NULL,
    unit_decimals INTEGER NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    snippet TEXT NOT NULL,
    category TEXT NOT NULL,
    price_minor INTEGER,
    place TEXT NOT NULL,
    folded TEXT NOT NULL,
    place_folded TEXT NOT NULL,
    picture_hash TEXT,
    author BLOB NOT NULL,
    author_name TEXT,
    payee BLOB NOT NULL,
    listed_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    tombstone TEXT NOT NULL,
    PRIMARY KEY (community, id)
);
CREATE INDEX IF NOT EXISTS foreign_newest ON foreign_listings (listed_ms DESC, id DESC);
CREATE TABLE IF NOT EXISTS foreign_cursors (
    community BLOB PRIMARY KEY,
    cursor_ms INTEGER NOT NULL,
    cursor_id TEXT NOT NULL
);
"""
# Added after the first files were made: a file without it gains it (every row counts as changed then).
_changed_column = "ALTER TABLE listings ADD COLUMN changed_ms INTEGER NOT NULL DEFAULT 0"
_changed_index = "CREATE INDEX IF NOT EXISTS listings_changed ON listings (changed_ms, id)"


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
    changed_ms: int = 0  # the last change of any kind: the federation digest's order

    def live(self, now_ms: int) -> bool:
        return self.hidden_reason is None and self.expires_ms > now_ms


@dataclass(frozen=True)
class Gone:
    """A tombstone: the listing whose `tombstone_id` is `id` was withdrawn, erased or purged at `gone_ms`."""

    id: str
    gone_ms: int


@dataclass(frozen=True)
class ForeignListing:
    """A listing another community of the federations shares, as its node's digest gave it."""

    community: bytes
    id: str
    community_name: str
    unit_code: str
    unit_decimals: int
    kind: str
    title: str
    snippet: str
    category: str
    price_minor: int | None
    place: str
    picture_hash: str | None
    author: bytes
    author_name: str | None  # only where that community shows names to everyone
    payee: bytes
    listed_ms: int
    expires_ms: int


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
            "p.width, p.height, l.changed_ms")
_from = "listings AS l LEFT JOIN pictures AS p ON p.listing = l.id"


def _listing(row: Iterable[object]) -> Listing:
    values = list(row)
    values[1] = bytes(values[1])  # type: ignore[arg-type]
    for index in (13, 15):  # hidden_by, enterprise
        if values[index] is not None:
            values[index] = bytes(values[index])  # type: ignore[arg-type]
    return Listing(*values)  # type: ignore[arg-type]

_foreign_columns = ("community, id, community_name, unit_code, unit_decimals, kind, title, snippet, category, price_minor,"
                    " place, picture_hash, author, author_name, payee, listed_ms, expires_ms")


def _foreign(row: Iterable[object]) -> ForeignListing:
    values = list(row)
    for index in (0, 12, 14):  # community, author, payee
        values[index] = bytes(values[index])  # type: ignore[arg-type]
    return ForeignListing(*values)  # type: ignore[arg-type]


def tombstone_id(listing_id: str) -> str:
    """What a tombstone names a listing by: `g_` and the BLAKE2b-128 of its id, in hex. Whoever
    holds the listing matches it; the file of the node that deleted it keeps no trace of the id."""
    return "g_" + hashlib.blake2b(listing_id.encode("ascii"), digest_size=16).hexdigest()


def change_cursor(change: Listing | Gone) -> tuple[int, str]:
    """Where a change stands in the digest's order: its time, then its id."""
    return (change.changed_ms, change.id) if isinstance(change, Listing) else (change.gone_ms, change.id)


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
        # Freed pages are overwritten: a withdrawn or erased listing leaves no bytes behind.
        connection = await open_local_file(path, _schema, personal=True, foreign_keys=True)
        try:
            async with connection.execute("PRAGMA table_info(listings)") as cursor:
                columns = {row[1] async for row in cursor}
            if "changed_ms" not in columns:
                await connection.execute(_changed_column)
                await connection.execute("UPDATE listings SET changed_ms = updated_ms")
            await connection.execute(_changed_index)
        except BaseException:
            await connection.close()
            raise
        return cls(connection, path)

    async def close(self) -> None:
        await self._connection.close()

    async def _purge(self, now_ms: int) -> None:
        cutoff = now_ms - listing_kept_after_expiry_ms
        async with self._connection.execute(
            "SELECT id FROM listings WHERE expires_ms <= ? LIMIT ?", (cutoff, listings_max)) as cursor:
            purged = [row[0] async for row in cursor]
        await self._bury(purged, now_ms)
        await self._connection.execute("DELETE FROM listings WHERE expires_ms <= ?", (cutoff,))
        await self._connection.execute("DELETE FROM gone WHERE gone_ms <= ?", (now_ms - listing_tombstone_kept_ms,))
        await self._connection.execute(
            "DELETE FROM gone WHERE id IN (SELECT id FROM gone ORDER BY gone_ms DESC, id DESC LIMIT -1 OFFSET ?)",
            (listing_tombstones_max,))

    async def _bury(self, listing_ids: Iterable[str], now_ms: int) -> None:
        """Tombstones for listings deleted now, so the federations' copies go too."""
        await self._connection.executemany(
            "INSERT OR REPLACE INTO gone (id, gone_ms) VALUES (?, ?)",
            [(tombstone_id(each), now_ms) for each in listing_ids])

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
            " folded, place_folded, created_ms, listed_ms, updated_ms, expires_ms, changed_ms) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (listing_id, author, enterprise, fields.kind, fields.title, fields.description, fields.category, fields.price_minor,
             fields.place, _folded(fields), fold(fields.place), now_ms, now_ms, now_ms, expires_ms, now_ms),
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
            " folded = ?, place_folded = ?, updated_ms = ?, changed_ms = ? WHERE id = ?",
            (fields.kind, fields.title, fields.description, fields.category, fields.price_minor, fields.place,
             _folded(fields), fold(fields.place), now_ms, now_ms, listing_id),
        )

    async def renew(self, listing_id: str, expires_ms: int, now_ms: int) -> None:
        await self._connection.execute(
            "UPDATE listings SET expires_ms = ?, listed_ms = ?, updated_ms = ?, changed_ms = ? WHERE id = ?",
            (expires_ms, now_ms, now_ms, now_ms, listing_id))

    async def hide(self, listing_id: str, reason: str, admin: bytes, now_ms: int) -> None:
        await self._connection.execute(
            "UPDATE listings SET hidden_reason = ?, hidden_by = ?, hidden_ms = ?, changed_ms = ? WHERE id = ?",
            (reason, admin, now_ms, now_ms, listing_id))

    async def withdraw(self, listing_id: str, now_ms: int) -> None:
        """Delete the listing and its picture (secure_delete overwrites their pages); its tombstone
        tells the federations."""
        await self._connection.execute("DELETE FROM listings WHERE id = ?", (listing_id,))
        await self._bury([listing_id], now_ms)

    async def _touch(self, listing_id: str, now_ms: int) -> None:
        await self._connection.execute("UPDATE listings SET changed_ms = ? WHERE id = ?", (now_ms, listing_id))

    async def set_picture(self, listing_id: str, picture: Picture, now_ms: int) -> None:
        await self._connection.execute(
            "INSERT INTO pictures (listing, bytes, content_type, etag, width, height) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (listing) DO UPDATE SET bytes = excluded.bytes, content_type = excluded.content_type,"
            " etag = excluded.etag, width = excluded.width, height = excluded.height",
            (listing_id, picture.bytes, picture.content_type, picture.etag, picture.width, picture.height))
        await self._touch(listing_id, now_ms)

    async def remove_picture(self, listing_id: str, now_ms: int) -> None:
        await self._connection.execute("DELETE FROM pictures WHERE listing = ?", (listing_id,))
        await self._touch(listing_id, now_ms)

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

    async def expiring(self, now_ms: int, within_ms: int, limit: int) -> list[tuple[str, bytes, int]]:
        """(id, author, expires_ms) of the live listings expiring within `within_ms` of `now_ms`,
        soonest first, at most `limit` (by `listings_by_expiry`): the expiry reminders' read."""
        async with self._connection.execute(
            "SELECT id, author, expires_ms FROM listings INDEXED BY listings_by_expiry WHERE expires_ms > ? AND"
            " expires_ms <= ? AND hidden_reason IS NULL ORDER BY expires_ms LIMIT ?",
            (now_ms, now_ms + within_ms, limit),
        ) as cursor:
            return [(str(row[0]), bytes(row[1]), int(row[2])) async for row in cursor]

    async def listed_since(self, since_ms: int, now_ms: int, limit: int) -> int:
        """How many live listings were listed (or renewed) after `since_ms`, at most `limit`: the
        weekly digest's count."""
        return await self._count(
            "WHERE id IN (SELECT id FROM listings WHERE listed_ms > ? AND expires_ms > ? AND hidden_reason IS NULL"
            " LIMIT ?)", (since_ms, now_ms, limit))

    async def erase_member(self, author: bytes, now_ms: int | None = None) -> int:
        """Delete every listing and picture of `author` so that no byte of them stays in the file:
        secure_delete overwrites the freed pages, VACUUM rewrites the file, and the WAL is
        checkpointed and truncated; a tombstone of each id (no personal data) tells the
        federations (at `now_ms`, the node's clock if not given). How many listings there were."""
        if now_ms is None:
            from .app import clock_ms

            now_ms = clock_ms()
        async with self._connection.execute(
            "SELECT id FROM listings WHERE author = ? LIMIT ?", (author, listings_max)) as cursor:
            ids = [row[0] async for row in cursor]
        await self._bury(ids, now_ms)
        deleted = await self._connection.execute("DELETE FROM listings WHERE author = ?", (author,))
        count = deleted.rowcount
        await wipe_deleted(self._connection, vacuum=True)
        return count

    # ---- shared with the federations ------------------------------------------------------------

    async def shared_with_federations(self) -> bool:
        """Whether the community shares its listings with its federations (an admin's choice; not by default)."""
        async with self._connection.execute("SELECT value FROM settings WHERE name = 'shared_with_federations'") as cursor:
            row = await cursor.fetchone()
        return row is not None and row[0] == "yes"

    async def share_with_federations(self, shared: bool) -> None:
        await self._connection.execute(
            "INSERT INTO settings (name, value) VALUES ('shared_with_federations', ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value", ("yes" if shared else "no",))

    async def changes(self, since: tuple[int, str], limit: int) -> list[Listing | Gone]:
        """What changed after the cursor `since` (a time in ms and an id), oldest first, at most
        `limit`: listings in any state (the caller says which are on the market) and tombstones."""
        async with self._connection.execute(
            f"SELECT {_columns} FROM {_from} WHERE (l.changed_ms, l.id) > (?, ?) ORDER BY l.changed_ms, l.id LIMIT ?",
            (*since, limit),
        ) as cursor:
            changed: list[Listing | Gone] = [_listing(row) async for row in cursor]
        async with self._connection.execute(
            "SELECT id, gone_ms FROM gone WHERE (gone_ms, id) > (?, ?) ORDER BY gone_ms, id LIMIT ?", (*since, limit),
        ) as cursor:
            changed += [Gone(row[0], row[1]) async for row in cursor]
        changed.sort(key=change_cursor)
        return changed[:limit]

    # ---- what other communities share --------------------------------------------------------------

    async def foreign_cursor(self, community: bytes) -> tuple[int, str]:
        """How far this node has read `community`'s digest ((0, "") for from the start)."""
        async with self._connection.execute(
            "SELECT cursor_ms, cursor_id FROM foreign_cursors WHERE community = ?", (community,)) as cursor:
            row = await cursor.fetchone()
        return (0, "") if row is None else (int(row[0]), str(row[1]))

    async def foreign_apply(
        self, community: bytes, listings: Iterable[ForeignListing], gone: Iterable[str], cursor: tuple[int, str],
        now_ms: int,
    ) -> None:
        """Take one page of `community`'s digest, and how far it reached: listings added or
        replaced, tombstones applied, expired ones dropped; the cursor is written last, so a page cut
        short is taken again whole (taking one twice changes nothing). No transaction: the one
        connection is shared with the routes, whose writes must not ride on this one. Past
        `foreign_listings_per_community_max` from it, or `foreign_listings_max` in all, a new
        listing is left out (the next full pull finds room once some go)."""
        connection = self._connection
        await connection.execute("DELETE FROM foreign_listings WHERE expires_ms <= ?", (now_ms,))
        await connection.executemany(
            "DELETE FROM foreign_listings WHERE community = ? AND (id = ? OR tombstone = ?)",
            [(community, each, each) for each in gone])
        held = await self._foreign_count("WHERE community = ?", (community,))
        total = await self._foreign_count()
        for listing in listings:
            async with connection.execute(
                "SELECT 1 FROM foreign_listings WHERE community = ? AND id = ?", (community, listing.id)) as found:
                present = await found.fetchone() is not None
            if listing.expires_ms <= now_ms:
                if present:
                    await connection.execute(
                        "DELETE FROM foreign_listings WHERE community = ? AND id = ?", (community, listing.id))
                continue
            if not present and (held >= foreign_listings_per_community_max or total >= foreign_listings_max):
                continue
            held, total = held + (not present), total + (not present)
            await connection.execute(
                "INSERT OR REPLACE INTO foreign_listings (community, id, community_name, unit_code, unit_decimals,"
                " kind, title, snippet, category, price_minor, place, folded, place_folded, picture_hash, author,"
                " author_name, payee, listed_ms, expires_ms, tombstone) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (community, listing.id, listing.community_name, listing.unit_code, listing.unit_decimals,
                 listing.kind, listing.title, listing.snippet, listing.category, listing.price_minor, listing.place,
                 fold(f"{listing.title}\n{listing.snippet}\n{listing.place}"), fold(listing.place),
                 listing.picture_hash, listing.author, listing.author_name, listing.payee, listing.listed_ms,
                 listing.expires_ms, tombstone_id(listing.id)))
        await connection.execute(
            "INSERT INTO foreign_cursors (community, cursor_ms, cursor_id) VALUES (?, ?, ?) ON CONFLICT (community)"
            " DO UPDATE SET cursor_ms = excluded.cursor_ms, cursor_id = excluded.cursor_id", (community, *cursor))

    async def foreign_ids(self, community: bytes) -> set[str]:
        async with self._connection.execute(
            "SELECT id FROM foreign_listings WHERE community = ? LIMIT ?",
            (community, foreign_listings_per_community_max)) as cursor:
            return {row[0] async for row in cursor}

    async def foreign_forget(self, community: bytes, keep: set[str] | None = None) -> None:
        """Drop `community`'s listings but those in `keep` (None: all of them, and its cursor):
        after a full pull, what it no longer lists; when it stops sharing or leaves, everything."""
        if keep is None:
            await self._connection.execute("DELETE FROM foreign_listings WHERE community = ?", (community,))
            await self._connection.execute("DELETE FROM foreign_cursors WHERE community = ?", (community,))
            return
        stale = await self.foreign_ids(community) - keep
        await self._connection.executemany(
            "DELETE FROM foreign_listings WHERE community = ? AND id = ?", [(community, each) for each in stale])

    async def foreign_communities(self) -> set[bytes]:
        async with self._connection.execute("SELECT community FROM foreign_cursors") as cursor:
            return {bytes(row[0]) async for row in cursor}

    async def _foreign_count(self, where: str = "", values: tuple[object, ...] = ()) -> int:
        async with self._connection.execute(f"SELECT COUNT(*) FROM foreign_listings {where}", values) as cursor:
            row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    async def foreign_get(self, community: bytes, listing_id: str, now_ms: int) -> ForeignListing | None:
        async with self._connection.execute(
            f"SELECT {_foreign_columns} FROM foreign_listings WHERE community = ? AND id = ? AND expires_ms > ?",
            (community, listing_id, now_ms)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _foreign(row)

    async def foreign_search(
        self, *, now_ms: int, text: str | None, category: str | None, place: str | None, kind: str | None,
        before: tuple[int, str] | None, limit: int,
    ) -> list[ForeignListing]:
        """Live listings of other communities, newest first, at most `limit`."""
        conditions = ["expires_ms > ?"]
        values: list[object] = [now_ms]
        for column, value in (("folded", text), ("place_folded", place)):
            if value:
                conditions.append(f"instr({column}, ?) > 0")
                values.append(fold(value))
        for column, value in (("category", category), ("kind", kind)):
            if value:
                conditions.append(f"{column} = ?")
                values.append(value)
        if before is not None:
            conditions.append("(listed_ms, id) < (?, ?)")
            values.extend(before)
        async with self._connection.execute(
            f"SELECT {_foreign_columns} FROM foreign_listings WHERE {' AND '.join(conditions)}"
            " ORDER BY listed_ms DESC, id DESC LIMIT ?", (*values, limit),
        ) as cursor:
            return [_foreign(row) async for row in cursor]


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
