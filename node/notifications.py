"""Members told what concerns them: each member's inbox and notification settings, and the outbox
of mails to send (docs/notifications.md).

How this works: `notifications.db` is a SQLite file of the home's own, beside the log and never in
it (like `listings.db`): what a member is told is derived from the log, and their e-mail address
is personal data the log must never hold. A fold reads the own feed from where it stopped
(`fold_cursor`), turns each event into the notices it means (`notices_of_event`, pure: the event's
bytes and the state), and writes those notices, the mails they call for and the seq it read up to
in ONE transaction: a restart neither repeats a notice nor skips one. A timer pass (every
`reminders_interval_ms` of the config) adds the notices no event carries: a decision closing within a day to
those who have not voted, a listing of theirs about to expire, a weekly digest (both asked of the listings store,
node/listings.py, the one owner of `listings.db`). Each such reminder is recorded in
`reminded` in the same transaction, so it is given once.

What a notice holds: its kind, the seq of the event, a reference (a decision's or an offer's seq,
a listing's id), the other party's member id, an amount in minor units, units of shares: never a
memo or a text a member typed. Names are looked up when a notice is read, as the reader may see
them. Every member has at most `notices_per_member_max` notices (the oldest go first) and a read
one is kept `notices_read_kept_ms`.

A notice of a kind the member turned off is not written at all. A notice to a member with an
address becomes an `outbox` row in the same transaction; node/mailer.py sends it, in the language
of the member's `languages` row if they chose one (else the community's default_language).

Every method takes `now_ms`; the clock is the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
from aiohttp import web
from tallystick.ledger.accounts import is_person, member_for_key
from tallystick.ledger.model import State
from tallystick.protocol.codec import decode_event, decode_intent
from tallystick.protocol.events import (
    Act,
    DecisionClosed,
    DeclareDividend,
    Delegate,
    EnterprisePay,
    Holders,
    OfferClosed,
    PlaceOrder,
    Propose,
    Transfer,
)
from tallystick.protocol.federation import PaymentAccepted, PaymentOut, PaymentReturned, PaymentSettled
from tallystick.protocol.ids import hash32

from .listings import ListingStore, listings_key
from .local_files import open_local_file, wipe_deleted
from .store import balances_decoder

day_ms = 24 * 60 * 60 * 1000

# The kinds of notice, each a switch in the member's settings (on by default).
kinds = (
    "payment_received",
    "payment_across_settled",
    "payment_across_returned",
    "decision_opened",
    "decision_closing",
    "delegated",
    "offer_closed",
    "order_filled",
    "dividend_paid",
    "listing_expiring",
    "weekly_digest",
)

# Notices one member keeps: a phone's inbox of a few months; past it the oldest go.
notices_per_member_max = 200
# A read notice is kept this long, then deleted (an unread one stays until pushed out).
notices_read_kept_ms = 30 * day_ms
# A page of the inbox.
inbox_page_max = 50
inbox_page_default = 20
# Notices marked read by one request, by id.
mark_read_ids_max = 100
# Events the fold reads per transaction: a short write, so the HTTP handlers' writes wait little.
fold_batch_events_max = 1024
# How often the fold looks for new events (the sequencer's head against the cursor).
fold_interval_ms = 500
# A decision is "closing" this long before its deadline.
decision_closing_before_ms = day_ms
# A listing is "about to expire" this long before its expiry.
listing_expiring_before_ms = 3 * day_ms
# Listings counted for a digest, at most (the node holds at most listings_max).
digest_listings_counted_max = 20_000
# Listings looked at per reminders pass (by expiry, soonest first).
listings_reminded_max = 500
# Payments across sent by this community's members and not yet settled or returned, remembered so
# that their settling tells the payer; a payment pending longer than a protocol's expiry is dropped.
across_kept_ms = 30 * day_ms
# Mails waiting or done kept in the outbox: a bound on the file. Past it, new mails are recorded
# as given up (`outbox_full`) and the notice stays in the inbox.
outbox_rows_max = 10_000
# An address: RFC 5321's 254 characters; ASCII letters, digits and the usual signs, one @, a
# domain of at least two labels. Nothing else (no space, no line break: it goes in a mail header).
address_chars_max = 254
_address_pattern = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")

_schema = """
CREATE TABLE IF NOT EXISTS notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    member BLOB NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ref TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    other BLOB,
    amount_minor INTEGER,
    units INTEGER,
    created_ms INTEGER NOT NULL,
    read_ms INTEGER,
    UNIQUE (member, kind, seq, ref)
);
CREATE INDEX IF NOT EXISTS notices_by_member ON notices (member, id DESC);
CREATE TABLE IF NOT EXISTS settings (
    member BLOB PRIMARY KEY,
    address TEXT,
    off TEXT NOT NULL DEFAULT ''
);
-- A member's language for mails, when they chose one (else the community's default_language). A
-- table of its own rather than a column of `settings`: a file made before it gains it as it opens.
CREATE TABLE IF NOT EXISTS languages (
    member BLOB PRIMARY KEY,
    language TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fold_cursor (
    feed BLOB PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reminded (
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    until_ms INTEGER NOT NULL,
    PRIMARY KEY (kind, ref)
);
CREATE TABLE IF NOT EXISTS across (
    payment BLOB PRIMARY KEY,
    payer BLOB NOT NULL,
    amount_minor INTEGER NOT NULL,
    sent_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notice INTEGER NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    member BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ms INTEGER NOT NULL,
    done_ms INTEGER,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_waiting ON outbox (state, next_ms);
"""


@dataclass(frozen=True)
class Draft:
    """A notice the fold means to write. `member` None: the payer of payment `ref` (looked up in
    `across`), or, for a dividend, every account the event paid (read from its postings)."""

    member: bytes | None
    kind: str
    ref: str = ""
    detail: str = ""
    other: bytes | None = None
    amount_minor: int | None = None
    units: int | None = None


@dataclass(frozen=True)
class Notice:
    id: int
    member: bytes
    kind: str
    seq: int
    ref: str
    detail: str
    other: bytes | None
    amount_minor: int | None
    units: int | None
    created_ms: int
    read_ms: int | None


@dataclass(frozen=True)
class Settings:
    address: str | None
    off: frozenset[str]
    # The language the member chose for their mails; None: the community's default_language.
    language: str | None = None


@dataclass(frozen=True)
class Mail:
    """An outbox row waiting to be sent, with its notice."""

    id: int
    attempts: int
    notice: Notice


_insert_notice = (
    "INSERT OR IGNORE INTO notices (member, kind, seq, ref, detail, other, amount_minor, units, created_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
# Members' settings read per query (SQLite's bound on host parameters is 32,766; well under it).
_members_per_query = 500


def _notice_values(member: bytes, seq: int, draft: Draft, now_ms: int) -> tuple[object, ...]:
    return (member, draft.kind, seq, draft.ref, draft.detail, draft.other, draft.amount_minor, draft.units, now_ms)


_notice_columns = "n.id, n.member, n.kind, n.seq, n.ref, n.detail, n.other, n.amount_minor, n.units, n.created_ms, n.read_ms"


def _notice(row: Iterable[object]) -> Notice:
    values = list(row)
    values[1] = bytes(values[1])  # type: ignore[arg-type]
    if values[6] is not None:
        values[6] = bytes(values[6])  # type: ignore[arg-type]
    return Notice(*values)  # type: ignore[arg-type]


def valid_address(text: str) -> bool:
    return len(text) <= address_chars_max and _address_pattern.fullmatch(text) is not None


# ---- what an event means to whom (pure) ------------------------------------------------------------


def _voters(state: State, electorate: object, but: bytes | None = None) -> list[bytes]:
    """The people who may vote on a decision of this electorate (active persons; for a holders'
    decision, those who hold the enterprise's shares), but one."""
    if isinstance(electorate, Holders):
        holders = {holder for (enterprise, _class, holder), holding in state.shares.holdings.items()
                   if enterprise == electorate.enterprise and holding.units > 0}
        found = [m for m in holders if is_person(state.members.get(m)) and state.members[m].active]
    else:
        found = [m for m, member in state.members.items() if member.active and is_person(member)]
    return [m for m in found if m != but]


def notices_of_event(state: State, seq: int, raw: bytes) -> tuple[list[Draft], tuple[bytes, bytes, int] | None]:
    """The notices event `raw` (at `seq`) means, on the state it is folded with, and a payment
    across it sends (its id, payer and amount), if it is one. Pure."""
    body = decode_event(raw).body
    if isinstance(body, Act):
        intent = decode_intent(body.intent)
        action = intent.action
        signer = member_for_key(state, intent.key)
        if isinstance(action, Transfer):
            return [Draft(action.to, "payment_received", other=signer, amount_minor=action.amount_minor)], None
        if isinstance(action, EnterprisePay):
            return [Draft(action.to, "payment_received", other=action.enterprise, amount_minor=action.amount_minor)], None
        if isinstance(action, Propose):
            return [Draft(m, "decision_opened", ref=str(seq), other=signer)
                    for m in _voters(state, action.electorate, but=signer)], None
        if isinstance(action, Delegate):
            return [Draft(action.to, "delegated", ref=action.topic, other=signer)], None
        if isinstance(action, PlaceOrder):
            drafts: list[Draft] = []
            for trade in state.shares.trades.get((action.enterprise, action.share_class), ()):
                if trade.seq != seq:
                    continue
                for party in (trade.buyer, trade.seller):
                    drafts.append(Draft(party, "order_filled", ref=f"{trade.buyer.hex()}:{trade.seller.hex()}:{trade.price_minor}",
                                        detail="bought" if party == trade.buyer else "sold", other=action.enterprise,
                                        amount_minor=trade.price_minor * trade.units, units=trade.units))
            return drafts, None
        return [], None
    if isinstance(body, PaymentOut):
        # A payment's id is the hash of its exact bytes (ledger/payments.py: payment_id).
        return [], (hash32(raw), body.payer, body.amount_minor)
    if isinstance(body, PaymentAccepted):
        return [Draft(body.to_member, "payment_received", ref="across", amount_minor=body.amount_minor)], None
    if isinstance(body, PaymentSettled):
        return [Draft(None, "payment_across_settled", ref=body.payment.hex())], None
    if isinstance(body, PaymentReturned):
        return [Draft(None, "payment_across_returned", ref=body.payment.hex())], None
    if isinstance(body, OfferClosed):
        offer = state.shares.offers.get(body.offer)
        if offer is None:
            return [], None
        return [Draft(m, "offer_closed", ref=str(body.offer), detail=body.outcome, other=offer.enterprise,
                      units=subscription.allotted if body.outcome == "allotted" else subscription.units)
                for m, subscription in offer.subscriptions.items()], None
    if isinstance(body, DecisionClosed) and body.outcome == "passed":
        decision = state.decisions.get(body.decision)
        if decision is not None and isinstance(decision.effect, DeclareDividend):
            return [Draft(None, "dividend_paid", ref=str(body.decision), other=decision.effect.enterprise)], None
    return [], None


# ---- the file ------------------------------------------------------------------------------------


class NotificationStore:
    """The notifications file of one home; one connection, used from the event loop's thread only.
    Every write is one transaction under `_writing`: the fold's and a handler's never interleave."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._connection = connection
        self._writing = asyncio.Lock()
        self.path = path
        # Set when a mail is queued, so the mailer sends it at once rather than at its next tick.
        self.mail_queued = asyncio.Event()

    @classmethod
    async def open(cls, path: Path) -> NotificationStore:
        # Freed pages are overwritten: an erased address or a dropped notice leaves no bytes behind.
        return cls(await open_local_file(path, _schema, personal=True, foreign_keys=True), path)

    async def close(self) -> None:
        await self._connection.close()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._writing:
            await self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                await self._connection.execute("ROLLBACK")
                raise
            await self._connection.execute("COMMIT")

    async def _one(self, sql: str, values: tuple[object, ...] = ()) -> tuple | None:
        async with self._connection.execute(sql, values) as cursor:
            row = await cursor.fetchone()
        return None if row is None else tuple(row)

    # ---- the fold's side ----

    async def cursor(self, feed: bytes) -> int | None:
        row = await self._one("SELECT seq FROM fold_cursor WHERE feed = ?", (feed,))
        return None if row is None else int(row[0])

    async def start_cursor(self, feed: bytes, seq: int) -> None:
        """The first start of a node with this file: notices from now on, not for the log's past."""
        async with self._transaction() as connection:
            await connection.execute("INSERT OR IGNORE INTO fold_cursor (feed, seq) VALUES (?, ?)", (feed, seq))

    async def settings_of(self, member: bytes) -> Settings:
        row = await self._one(
            "SELECT s.address, s.off, l.language FROM (SELECT ? AS member) m LEFT JOIN settings s ON s.member = m.member"
            " LEFT JOIN languages l ON l.member = m.member", (member,))
        assert row is not None  # the one-row select always answers
        return Settings(row[0], frozenset(kind for kind in str(row[1] or "").split(",") if kind), row[2])

    async def _settings_of_many(self, members: Iterable[bytes]) -> dict[bytes, Settings]:
        """The settings of each of `members` (the defaults for one who set none), in few reads."""
        wanted = list(dict.fromkeys(members))
        found = {member: Settings(None, frozenset()) for member in wanted}
        for start in range(0, len(wanted), _members_per_query):
            chunk = wanted[start:start + _members_per_query]
            async with self._connection.execute(
                f"SELECT member, address, off FROM settings WHERE member IN ({','.join('?' * len(chunk))})", chunk,
            ) as cursor:
                async for member, address, off in cursor:
                    found[bytes(member)] = Settings(address, frozenset(kind for kind in str(off).split(",") if kind))
        return found

    async def _write(self, connection: aiosqlite.Connection, member: bytes, seq: int, draft: Draft, now_ms: int,
                     settings: dict[bytes, Settings]) -> bool:
        """One notice, and its mail if the member has an address; nothing for a kind turned off."""
        if member not in settings:
            settings[member] = await self.settings_of(member)
        chosen = settings[member]
        if draft.kind in chosen.off:
            return False
        cursor = await connection.execute(_insert_notice, _notice_values(member, seq, draft, now_ms))
        if cursor.rowcount == 0:
            return False  # written before (a reminder pass over the same thing)
        notice_id = cursor.lastrowid
        if chosen.address is not None:
            waiting = await self._one("SELECT COUNT(*) FROM outbox")
            full = waiting is not None and int(waiting[0]) >= outbox_rows_max
            await connection.execute(
                "INSERT INTO outbox (notice, member, state, next_ms, done_ms, last_error) VALUES (?, ?, ?, ?, ?, ?)",
                (notice_id, member, "failed" if full else "waiting", now_ms, now_ms if full else None,
                 "outbox_full" if full else None))
            if not full:
                self.mail_queued.set()
        return True

    async def _bound(self, connection: aiosqlite.Connection, members: Iterable[bytes], now_ms: int) -> None:
        await connection.executemany(
            "DELETE FROM notices WHERE member = ?1 AND (id NOT IN (SELECT id FROM notices WHERE member = ?1"
            " ORDER BY id DESC LIMIT ?2) OR read_ms <= ?3)",
            [(member, notices_per_member_max, now_ms - notices_read_kept_ms) for member in members])

    async def _dividends(self, store: object, feed: bytes, seq: int) -> list[tuple[bytes, int]]:
        """Who the dividend event at `seq` paid and how much: each account whose balance it raised."""
        from .history import History
        from .store import Store

        assert isinstance(store, Store)
        rows = await store.query("SELECT balances FROM postings WHERE feed = ? AND seq = ?", (feed, seq), 1)
        if not rows:
            return []
        history = History(store)
        paid = []
        for account, balance in balances_decoder.decode(rows[0][0]):
            before = await history.balance_before(feed, account, seq)
            if balance > before:
                paid.append((bytes(account), balance - before))
        return paid

    async def fold(self, state: State, store: object, feed: bytes, events: list[tuple[int, bytes]], now_ms: int) -> int:
        """Write the notices of `events` ((seq, bytes), in order, following the cursor) and
        move the cursor past them, in one transaction. How many notices were written.

        Cheap on a busy node (this runs beside the HTTP handlers): the settings are read in one
        query, the notices of members without an address are inserted in one `executemany`, and
        the transaction commits at synchronous=NORMAL. A commit lost in a power cut takes its cursor
        with it, so those events are folded again: nothing is skipped or told twice. A mail of a
        lost commit cannot have been sent: the mailer's own commits sync the whole WAL before it."""
        if not events:
            return 0
        planned: list[tuple[int, Draft]] = []
        for seq, raw in events:
            drafts, sent = notices_of_event(state, seq, raw)
            if sent is not None:
                planned.append((seq, Draft(sent[1], "_across", ref=sent[0].hex(), amount_minor=sent[2])))
            for draft in drafts:
                if draft.kind == "dividend_paid":
                    for account, amount in await self._dividends(store, feed, seq):
                        if account != draft.other and is_person(state.members.get(account)):
                            planned.append((seq, Draft(account, draft.kind, ref=draft.ref, other=draft.other,
                                                       amount_minor=amount)))
                else:
                    planned.append((seq, draft))
        settings = await self._settings_of_many(draft.member for _seq, draft in planned
                                                if draft.member is not None and draft.kind != "_across")
        written = 0
        touched: set[bytes] = set()
        async with self._writing:
            await self._connection.execute("PRAGMA synchronous=NORMAL")
            try:
                await self._connection.execute("BEGIN IMMEDIATE")
                try:
                    connection = self._connection
                    quiet: list[tuple[object, ...]] = []  # notices of members without an address, in order
                    for seq, draft in planned:
                        if draft.kind == "_across":
                            assert draft.member is not None
                            await connection.execute(
                                "INSERT OR IGNORE INTO across (payment, payer, amount_minor, sent_ms) VALUES (?, ?, ?, ?)",
                                (bytes.fromhex(draft.ref), draft.member, draft.amount_minor, now_ms))
                            continue
                        member = draft.member
                        if member is None:  # a payment across answered: its payer, as remembered when it left
                            async with connection.execute("SELECT payer, amount_minor FROM across WHERE payment = ?",
                                                          (bytes.fromhex(draft.ref),)) as cursor:
                                row = await cursor.fetchone()
                            if row is None:
                                continue
                            await connection.execute("DELETE FROM across WHERE payment = ?", (bytes.fromhex(draft.ref),))
                            member = bytes(row[0])
                            draft = Draft(member, draft.kind, ref=draft.ref, amount_minor=int(row[1]))
                        chosen = settings.get(member)
                        if chosen is not None and chosen.address is None:
                            if draft.kind not in chosen.off:
                                quiet.append(_notice_values(member, seq, draft, now_ms))
                                touched.add(member)
                        elif await self._write(connection, member, seq, draft, now_ms, settings):
                            written += 1
                            touched.add(member)
                    if quiet:
                        cursor = await connection.executemany(_insert_notice, quiet)
                        written += max(cursor.rowcount, 0)
                    await self._bound(connection, touched, now_ms)
                    await connection.execute("DELETE FROM across WHERE sent_ms <= ?", (now_ms - across_kept_ms,))
                    await connection.execute("UPDATE fold_cursor SET seq = ? WHERE feed = ?", (events[-1][0], feed))
                except BaseException:
                    await self._connection.execute("ROLLBACK")
                    raise
                await self._connection.execute("COMMIT")
            finally:
                await self._connection.execute("PRAGMA synchronous=FULL")
        return written

    async def remind(self, state: State, listings: ListingStore, now_ms: int, digest_interval_ms: int) -> int:
        """The timer's pass: decisions closing within a day (to those who may vote and have not),
        listings about to expire (to their members), and once per `digest_interval_ms` window (weeks
        since the epoch by default) a digest to every member: how many listings are new since the
        window before and how many decisions are open, if either is any. Each once. How many
        notices were written."""
        planned: list[tuple[str, str, int, list[Draft]]] = []  # (kind, ref, until_ms, drafts)
        window = now_ms // digest_interval_ms
        new_listings = await listings.listed_since((window - 1) * digest_interval_ms, now_ms, digest_listings_counted_max)
        open_decisions = len(state.open_decisions)
        if new_listings or open_decisions:
            people = [m for m, member in state.members.items() if member.active and is_person(member)]
            planned.append(("digest", str(window), (window + 2) * digest_interval_ms,
                            [Draft(m, "weekly_digest", ref="digest", detail=str(open_decisions), units=new_listings)
                             for m in people]))
        for decision_id, deadline_ms in state.open_decisions.items():
            if now_ms < deadline_ms <= now_ms + decision_closing_before_ms:
                decision = state.decisions.get(decision_id)
                if decision is None:
                    continue
                voted = set(decision.votes.keys())
                drafts = [Draft(m, "decision_closing", ref=str(decision_id), other=decision.proposer)
                          for m in _voters(state, decision.electorate) if m not in voted]
                planned.append(("decision", str(decision_id), deadline_ms, drafts))
        for listing_id, author, expires_ms in await listings.expiring(now_ms, listing_expiring_before_ms,
                                                                      listings_reminded_max):
            member = state.members.get(author)
            if member is None or not member.active:
                continue
            # Keyed by the expiry too: a listing renewed and expiring again is reminded again.
            planned.append(("listing", f"{listing_id}:{expires_ms}", expires_ms,
                            [Draft(author, "listing_expiring", ref=listing_id, units=None)]))
        written = 0
        settings: dict[bytes, Settings] = {}
        touched: set[bytes] = set()
        async with self._transaction() as connection:
            await connection.execute("DELETE FROM reminded WHERE until_ms <= ?", (now_ms,))
            for kind, ref, until_ms, drafts in planned:
                cursor = await connection.execute(
                    "INSERT OR IGNORE INTO reminded (kind, ref, until_ms) VALUES (?, ?, ?)", (kind, ref, until_ms))
                if cursor.rowcount == 0:
                    continue
                for draft in drafts:
                    assert draft.member is not None
                    # A reminder is tied to no event: its seq is the deadline or expiry it warns of
                    # (a digest's: its window's end), which keeps a second reminder of a renewed
                    # listing from clashing with the first.
                    seq = (window + 1) * digest_interval_ms if kind == "digest" else until_ms
                    if await self._write(connection, draft.member, seq, draft, now_ms, settings):
                        written += 1
                        touched.add(draft.member)
            await self._bound(connection, touched, now_ms)
        return written

    # ---- the member's side ----

    async def inbox(self, member: bytes, before: int | None, limit: int) -> tuple[list[Notice], int | None, int]:
        """A page of the member's notices, newest first; the `before` of the next page (None: no
        more); and how many are unread."""
        values: tuple[object, ...] = (member,) if before is None else (member, before)
        async with self._connection.execute(
            f"SELECT {_notice_columns} FROM notices n WHERE n.member = ? {'' if before is None else 'AND n.id < ?'}"
            " ORDER BY n.id DESC LIMIT ?", (*values, limit + 1),
        ) as cursor:
            rows = [_notice(row) async for row in cursor]
        unread = await self._one("SELECT COUNT(*) FROM notices WHERE member = ? AND read_ms IS NULL", (member,))
        more = len(rows) > limit
        page = rows[:limit]
        return page, page[-1].id if more else None, 0 if unread is None else int(unread[0])

    async def mark_read(self, member: bytes, ids: list[int] | None, now_ms: int) -> int:
        """Mark the member's notices `ids` read (None: all of them); how many are unread after."""
        async with self._transaction() as connection:
            if ids is None:
                await connection.execute(
                    "UPDATE notices SET read_ms = ? WHERE member = ? AND read_ms IS NULL", (now_ms, member))
            else:
                for notice_id in ids:
                    await connection.execute(
                        "UPDATE notices SET read_ms = ? WHERE member = ? AND id = ? AND read_ms IS NULL",
                        (now_ms, member, notice_id))
        unread = await self._one("SELECT COUNT(*) FROM notices WHERE member = ? AND read_ms IS NULL", (member,))
        return 0 if unread is None else int(unread[0])

    async def set_settings(self, member: bytes, address: str | None, off: frozenset[str],
                           language: str | None = None) -> None:
        """The member's address, kinds turned off and language (None: the community's default)."""
        async with self._transaction() as connection:
            await connection.execute(
                "INSERT INTO settings (member, address, off) VALUES (?, ?, ?) ON CONFLICT (member) DO UPDATE SET"
                " address = excluded.address, off = excluded.off", (member, address, ",".join(sorted(off))))
            if language is None:
                await connection.execute("DELETE FROM languages WHERE member = ?", (member,))
            else:
                await connection.execute(
                    "INSERT INTO languages (member, language) VALUES (?, ?) ON CONFLICT (member) DO UPDATE SET"
                    " language = excluded.language", (member, language))
            if address is None:
                # No address: nothing waits to be mailed to one.
                await connection.execute(
                    "DELETE FROM outbox WHERE member = ? AND state = 'waiting'", (member,))

    async def erase_member(self, member: bytes) -> None:
        """Delete the member's address, settings, notices and mails so that no byte of them stays
        in the file (secure_delete, VACUUM, a truncating WAL checkpoint), as listings are erased."""
        async with self._transaction() as connection:
            await connection.execute("DELETE FROM settings WHERE member = ?", (member,))
            await connection.execute("DELETE FROM languages WHERE member = ?", (member,))
            await connection.execute("DELETE FROM notices WHERE member = ? OR other = ?", (member, member))
            await connection.execute("DELETE FROM outbox WHERE member = ?", (member,))
            await connection.execute("DELETE FROM across WHERE payer = ?", (member,))
        async with self._writing:
            await wipe_deleted(self._connection, vacuum=True)

    # ---- the mailer's side ----

    async def mails_due(self, now_ms: int, limit: int) -> list[Mail]:
        async with self._connection.execute(
            f"SELECT o.id, o.attempts, {_notice_columns} FROM outbox o JOIN notices n ON n.id = o.notice"
            " WHERE o.state = 'waiting' AND o.next_ms <= ? ORDER BY o.next_ms, o.id LIMIT ?", (now_ms, limit),
        ) as cursor:
            return [Mail(int(row[0]), int(row[1]), _notice(row[2:])) async for row in cursor]

    async def next_mail_ms(self) -> int | None:
        row = await self._one("SELECT MIN(next_ms) FROM outbox WHERE state = 'waiting'")
        return None if row is None or row[0] is None else int(row[0])

    async def mail_sent(self, mail_id: int, now_ms: int) -> None:
        async with self._transaction() as connection:
            await connection.execute(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, done_ms = ?, last_error = NULL"
                " WHERE id = ? AND state = 'waiting'", (now_ms, mail_id))

    async def mail_failed(self, mail_id: int, error: str, next_ms: int | None, now_ms: int) -> None:
        """One attempt failed: try again at `next_ms`, or (None) give up and record why."""
        async with self._transaction() as connection:
            if next_ms is None:
                await connection.execute(
                    "UPDATE outbox SET state = 'failed', attempts = attempts + 1, done_ms = ?, last_error = ?"
                    " WHERE id = ? AND state = 'waiting'", (now_ms, error, mail_id))
            else:
                await connection.execute(
                    "UPDATE outbox SET attempts = attempts + 1, next_ms = ?, last_error = ? WHERE id = ? AND state = 'waiting'",
                    (next_ms, error, mail_id))

    async def mail_dropped(self, mail_id: int, now_ms: int) -> None:
        """The member took their address away (or the kind off) meanwhile: the mail is not sent."""
        async with self._transaction() as connection:
            await connection.execute(
                "UPDATE outbox SET state = 'dropped', done_ms = ? WHERE id = ? AND state = 'waiting'", (now_ms, mail_id))

    async def outbox_counts(self) -> dict[str, int]:
        async with self._connection.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state LIMIT 8") as cursor:
            return {str(state): int(count) async for state, count in cursor}

    async def purge_outbox(self, kept_ms: int, now_ms: int) -> None:
        async with self._transaction() as connection:
            await connection.execute("DELETE FROM outbox WHERE state != 'waiting' AND done_ms <= ?", (now_ms - kept_ms,))


notifications_key = web.AppKey("notifications", NotificationStore)


async def run_fold(app: web.Application) -> None:
    """Fold the own feed into notices as it grows, and give the reminders on their timer."""
    from .app import clock_ms, config_key, node_key

    node = app[node_key]
    reminders_interval_ms = app[config_key].reminders_interval_ms
    store = app[notifications_key]
    listings = app[listings_key]
    if await store.cursor(node.feed) is None:
        await store.start_cursor(node.feed, node.sequencer.head.seq)
    next_reminders_ms = 0
    while True:
        folded = await store.cursor(node.feed)
        assert folded is not None
        if node.sequencer.head.seq > folded:
            rows = await node.store.read_log(node.feed, folded + 1, fold_batch_events_max)
            await store.fold(node.sequencer.state, node.store, node.feed,
                             [(row.seq, row.bytes) for row in rows], clock_ms())
            continue  # more may follow at once
        if clock_ms() >= next_reminders_ms:
            await store.remind(node.sequencer.state, listings, clock_ms(), app[config_key].digest_interval_ms)
            next_reminders_ms = clock_ms() + reminders_interval_ms
        await asyncio.sleep(fold_interval_ms / 1000)


async def notifications_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Open the home's notifications file once the node runs (after `node_lifetime`), and run the
    fold and the mailer in a TaskGroup until cleanup; a task that fails stops the node loudly."""
    from .app import config_key, node_key
    from .mailer import Mailer

    node = app[node_key]
    store = await NotificationStore.open(node.home.path / "notifications.db")
    app[notifications_key] = store
    mailer = Mailer(app, store, app[config_key].smtp)
    try:
        async with node.holding({"notifications-fold": run_fold(app), "mailer": mailer.run()}):
            yield
    finally:
        await store.close()

