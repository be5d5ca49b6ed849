"""Exports for a treasurer and an accountant: a member's statement, the community's journal (every
posting), the treasury's and an enterprise's accounts, for a period, as CSV (and OFX 2 for one
account, where a bank statement is expected).

How this works: a period is two dates, `from` and `to`, both included, read in a time zone (`tz`,
an IANA name; UTC when none is given: the community has no time zone of its own). It becomes a
range of seqs by two binary searches over the log's timestamps, which never go back in time along
the feed (protocol/feed.py refuses an event older than the head), each step one primary-key lookup.
The rows come from the `postings` projection the store writes in the same transaction as the log
(node/store.py), so they agree with the ledger by construction, and are read only up to the head
committed when the export began:

- one account (a statement, the treasury, an enterprise): its opening balance is its balance just
  before the period's first event (node/history.py `balance_before`, at most three bounded
  queries); its rows are its postings in the period, read block by block through `posting_blocks`
  (at most `posting_block_events` rows a query); the closing balance is the opening plus every row.
- the journal: every posting of every account, so it folds the `postings` rows from the first
  event (each row holds the balances after it of the accounts it changed), `journal_page_postings`
  rows a query: the balances before the period are the opening ones, every change in it is a row.
  Its cost grows with the log (about a second a million events here), not with the period.

Each row says why the balance moved (node/history.py `statement_line`: the other party, the memo, a
short kind). CSV is RFC 4180 through Python's csv module: one header row, then an `opening` row, the
`posting` rows, and a `closing` row per account, amounts in major units with a dot decimal and the
unit in a column of its own. Summing a column of `amount` per account from its opening gives its
closing, which is its balance in `tally balance` when the period reaches the head. Who may read
which export is the caller's to decide (node/http/exports.py); this module writes what it is given.
"""

from __future__ import annotations

import csv
import datetime
import io
import zoneinfo
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from xml.etree import ElementTree

from tallystick.ledger.model import State
from tallystick.ledger.money import format_amount
from tallystick.protocol.errors import RemoteError
from tallystick.protocol.ids import id_to_text

from .history import History, statement_line
from .personal import Directory
from .store import Store, balances_decoder, posting_block_events

# Postings rows of the journal read in one query (the store's reads return at most page_size_max).
journal_page_postings = 1000
# Blocks of an account's postings listed in one query.
blocks_page = 1000
# Dates a period may name: a year of four digits; before 1970 nothing was ever logged.
year_min, year_max = 1970, 9999
# A time zone's name, at most: IANA names are short ("America/Argentina/ComodRivadavia" is 32).
time_zone_chars_max = 64
# OFX's NAME field holds at most 32 characters, MEMO 255 (OFX 2.1.1, §11.4.4).
ofx_name_chars_max = 32
ofx_memo_chars_max = 255

csv_columns = ("row", "date", "seq", "account", "account_name", "kind", "counterparty", "counterparty_name", "memo",
               "amount", "balance", "unit")


class BadPeriodError(RemoteError):
    """A period that names no span of days: not a date, the end before the start, an unknown zone."""

    code = "bad_period"


@dataclass(frozen=True)
class Period:
    """[start_ms, end_ms) of the days `first` to `last` included, in `zone`; None: no bound."""

    first: datetime.date | None
    last: datetime.date | None
    zone: datetime.tzinfo
    zone_name: str

    @property
    def start_ms(self) -> int | None:
        return None if self.first is None else _midnight_ms(self.first, self.zone)

    @property
    def end_ms(self) -> int | None:
        return None if self.last is None else _midnight_ms(self.last + datetime.timedelta(days=1), self.zone)

    def describe(self) -> str:
        """'2026-01-01 to 2026-12-31 (UTC)', for a file's name and a report's heading."""
        first = "the beginning" if self.first is None else self.first.isoformat()
        last = "now" if self.last is None else self.last.isoformat()
        return f"{first} to {last} ({self.zone_name})"


def _midnight_ms(day: datetime.date, zone: datetime.tzinfo) -> int:
    return int(datetime.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def _date(text: str | None, name: str) -> datetime.date | None:
    if text is None or text == "":
        return None
    try:
        day = datetime.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not year_min <= day.year <= year_max:
        raise BadPeriodError(f"{name} is a date written YYYY-MM-DD, a year from {year_min} to {year_max}; "
                             "for example 2026-01-31")
    return day


def parse_period(first_text: str | None, last_text: str | None, zone_text: str | None) -> Period:
    """The period of query parameters `from`, `to` (dates YYYY-MM-DD, both included; either may be
    left out: from the first event, up to now) and `tz` (an IANA time zone, UTC by default). The
    messages never repeat what was sent."""
    first, last = _date(first_text, "from"), _date(last_text, "to")
    if first is not None and last is not None and last < first:
        raise BadPeriodError("to is before from; give from as the first day and to as the last day, both included")
    zone_name = zone_text or "UTC"
    if len(zone_name) > time_zone_chars_max or not all(c.isalnum() or c in "/_+-" for c in zone_name) \
            or zone_name.startswith(("/", ".")):
        raise BadPeriodError("tz is a time zone's IANA name, such as Europe/Madrid or UTC")
    try:
        zone: datetime.tzinfo = datetime.UTC if zone_name == "UTC" else zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise BadPeriodError("tz is a time zone's IANA name, such as Europe/Madrid or UTC; this node knows no such zone") from None
    return Period(first, last, zone, zone_name)


# ---- rows -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One posting: `account`'s balance changed by `change_minor` to `balance_minor` at event `seq`."""

    seq: int
    ts_ms: int
    account: bytes
    change_minor: int
    balance_minor: int
    kind: str
    counterparty: bytes | None
    memo: str | None


@dataclass
class Export:
    """What an export holds: the accounts' opening and closing balances and the rows between, in
    seq order; the seqs it covers (`first_seq` to `last_seq`, empty when `last_seq < first_seq`)."""

    period: Period
    first_seq: int
    last_seq: int
    opening: dict[bytes, int] = field(default_factory=dict)
    closing: dict[bytes, int] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)


async def seq_range(store: Store, feed: bytes, period: Period) -> tuple[int, int]:
    """The first seq at or after the period's start and the last before its end, up to the head
    committed now: (head + 1, head) for a period after it, (1, 0) for one before the first event."""
    head = await store.head(feed)
    head_seq = 0 if head is None else head.seq

    async def first_at_or_after(ms: int) -> int:
        low, high = 1, head_seq + 1  # the answer is in [low, high]; high: none is
        while low < high:
            middle = (low + high) // 2
            rows = await store.query("SELECT ts FROM log WHERE feed = ? AND seq = ?", (feed, middle), 1)
            if rows and int(rows[0][0]) >= ms:
                high = middle
            else:
                low = middle + 1
        return low

    first = 1 if period.start_ms is None else await first_at_or_after(period.start_ms)
    last = head_seq if period.end_ms is None else await first_at_or_after(period.end_ms) - 1
    return first, last


async def _raw_events(store: Store, feed: bytes, seqs: list[int]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for start in range(0, len(seqs), journal_page_postings):
        chunk = seqs[start:start + journal_page_postings]
        rows = await store.query(
            f"SELECT seq, bytes FROM log WHERE feed = ? AND seq IN ({', '.join('?' * len(chunk))}) LIMIT ?",
            (feed, *chunk, len(chunk)), len(chunk))
        found.update((int(seq), bytes(raw)) for seq, raw in rows)
    return found


def _row(state: State, directory: Directory, account: bytes, seq: int, ts: int, change: int, balance: int,
         raw: bytes | None) -> Row:
    line = statement_line(state, directory, account, raw, change) if raw is not None else None
    return Row(seq, ts, account, change, balance, "other" if line is None else line.description,
               None if line is None else line.counterparty, None if line is None else line.memo)


async def account_export(store: Store, state: State, directory: Directory, feed: bytes, account: bytes,
                         period: Period) -> Export:
    """One account's statement for `period`: its opening balance, its postings, its closing balance."""
    first, last = await seq_range(store, feed, period)
    history = History(store)
    opening = await history.balance_before(feed, account, first) if first > 1 else 0
    export = Export(period, first, last, {account: opening})
    balance = opening
    if last >= first:
        block = first // posting_block_events
        last_block = last // posting_block_events
        while block <= last_block:
            rows = await store.query(
                "SELECT block FROM posting_blocks WHERE feed = ? AND account = ? AND block BETWEEN ? AND ? "
                "ORDER BY block LIMIT ?", (feed, account, block, last_block, blocks_page), blocks_page)
            if not rows:
                break
            for (found_block,) in rows:
                points = [(seq, ts, after) for seq, ts, after in await history._in_block(feed, account, int(found_block))
                          if first <= seq <= last]
                raw_of = await _raw_events(store, feed, [seq for seq, _, _ in points])
                for seq, ts, after in points:
                    if after != balance:  # an account opened at zero moved nothing: no row, as in the journal
                        export.rows.append(_row(state, directory, account, seq, ts, after - balance, after,
                                                raw_of.get(seq)))
                    balance = after
            block = int(rows[-1][0]) + 1
    export.closing[account] = balance
    return export


async def journal_export(store: Store, state: State, directory: Directory, feed: bytes, period: Period) -> Export:
    """Every posting of every account in `period`, with each account's opening and closing balance
    (an account opened in the period opens at zero)."""
    first, last = await seq_range(store, feed, period)
    export = Export(period, first, last)
    balances: dict[bytes, int] = {}
    seq = 0
    while seq < last:
        rows = await store.query(
            "SELECT p.seq, l.ts, p.balances FROM postings p JOIN log l ON l.feed = p.feed AND l.seq = p.seq "
            "WHERE p.feed = ? AND p.seq > ? AND p.seq <= ? ORDER BY p.seq LIMIT ?",
            (feed, seq, last, journal_page_postings), journal_page_postings)
        if not rows:
            break
        in_period = [int(row[0]) for row in rows if int(row[0]) >= first]
        raw_of = await _raw_events(store, feed, in_period) if in_period else {}
        for found_seq, ts, raw_balances in rows:
            found_seq = int(found_seq)
            if found_seq < first:
                balances.update(balances_decoder.decode(raw_balances))
                continue
            for account, after in balances_decoder.decode(raw_balances):
                before = balances.get(account, 0)
                export.opening.setdefault(account, before)
                balances[account] = after
                if after != before:
                    export.rows.append(_row(state, directory, account, found_seq, int(ts), after - before, after,
                                            raw_of.get(found_seq)))
        seq = int(rows[-1][0])
    for account, balance in balances.items():
        export.opening.setdefault(account, balance)
    export.closing = dict(balances)
    return export


async def period_changes(store: Store, feed: bytes, first: int, last: int) -> AsyncIterator[list[tuple[int, int, int]]]:
    """Every posting from seq `first` to `last`, a page of `journal_page_postings` events at a
    time, each as (seq, ts, change) of one account, for figures that need no account's opening
    balance (the yearly report's turnover): the balance before an account's first posting in the
    range is its `balance_before` (at most three bounded queries, once an account), so the cost is
    the range's events, not the log's."""
    history = History(store)
    balances: dict[bytes, int] = {}
    seq = first - 1
    while seq < last:
        rows = await store.query(
            "SELECT p.seq, l.ts, p.balances FROM postings p JOIN log l ON l.feed = p.feed AND l.seq = p.seq "
            "WHERE p.feed = ? AND p.seq > ? AND p.seq <= ? ORDER BY p.seq LIMIT ?",
            (feed, seq, last, journal_page_postings), journal_page_postings)
        if not rows:
            return
        page: list[tuple[int, int, int]] = []
        for found_seq, ts, raw_balances in rows:
            for account, after in balances_decoder.decode(raw_balances):
                before = balances.get(account)
                if before is None:
                    before = await history.balance_before(feed, account, int(found_seq)) if found_seq > 1 else 0
                balances[account] = after
                if after != before:
                    page.append((int(found_seq), int(ts), after - before))
        yield page
        seq = int(rows[-1][0])


# ---- writing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Naming:
    """How an export writes ids and names: `name(account)` is the name the reader may see, or None."""

    unit_code: str
    decimals: int
    name: Callable[[bytes], str | None]


def _when(ms: int, zone: datetime.tzinfo) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="seconds")


def _bound_ms(export: Export, rows_ms: Iterable[int], opening: bool) -> int | None:
    bound = export.period.start_ms if opening else export.period.end_ms
    if bound is not None:
        return bound if opening else bound - 1
    found = list(rows_ms)
    return (min(found) if opening else max(found)) if found else None


def to_csv(export: Export, naming: Naming, accounts_order: list[bytes] | None = None) -> str:
    """The export as CSV (RFC 4180: CR LF line ends, fields quoted where they must be): one header
    row, then per account an `opening` row, every `posting` row in seq order, and per account a
    `closing` row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_columns)
    zone = export.period.zone
    order = accounts_order or sorted(export.closing, key=lambda account: ((naming.name(account) or "").casefold(), account))
    start = _bound_ms(export, (row.ts_ms for row in export.rows), opening=True)
    end = _bound_ms(export, (row.ts_ms for row in export.rows), opening=False)

    def account_cells(account: bytes) -> list[str]:
        return [id_to_text("m", account), naming.name(account) or ""]

    def money(minor: int) -> str:
        return format_amount(minor, naming.decimals)

    for account in order:
        writer.writerow(["opening", "" if start is None else _when(start, zone), export.first_seq, *account_cells(account),
                         "opening balance", "", "", "", "", money(export.opening.get(account, 0)), naming.unit_code])
    for row in export.rows:
        counterparty = "" if row.counterparty is None else id_to_text("m", row.counterparty)
        counterparty_name = "" if row.counterparty is None else naming.name(row.counterparty) or ""
        writer.writerow(["posting", _when(row.ts_ms, zone), row.seq, *account_cells(row.account), row.kind,
                         counterparty, counterparty_name, row.memo or "", money(row.change_minor),
                         money(row.balance_minor), naming.unit_code])
    for account in order:
        writer.writerow(["closing", "" if end is None else _when(end, zone), export.last_seq, *account_cells(account),
                         "closing balance", "", "", "", "", money(export.closing.get(account, 0)), naming.unit_code])
    return out.getvalue()


def _ofx_time(ms: int) -> str:
    """OFX's datetime: YYYYMMDDHHMMSS.XXX[0:GMT] (OFX 2.1.1, §3.2.8.2), in UTC."""
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y%m%d%H%M%S") + f".{ms % 1000:03d}[0:GMT]"


def to_ofx(export: Export, naming: Naming, account: bytes, bank_id: str, now_ms: int) -> str:
    """One account's statement as an OFX 2 bank statement (OFX 2.1.1, BANKMSGSRSV1/STMTTRNRS/STMTRS),
    for accounting software that imports a bank's: each posting a STMTTRN (FITID: the event's seq,
    unique in the feed), the closing balance as LEDGERBAL, the opening one in BALLIST (OFX has no
    field of its own for it). The unit's code stands as CURDEF, as OFX carries no other."""

    def add(parent: ElementTree.Element, tag: str, text: str | None = None) -> ElementTree.Element:
        child = ElementTree.SubElement(parent, tag)
        if text is not None:
            child.text = text
        return child

    def money(minor: int) -> str:
        return format_amount(minor, naming.decimals)

    start = _bound_ms(export, (row.ts_ms for row in export.rows), opening=True) or now_ms
    end = _bound_ms(export, (row.ts_ms for row in export.rows), opening=False) or now_ms
    root = ElementTree.Element("OFX")
    signon = add(add(root, "SIGNONMSGSRSV1"), "SONRS")
    status = add(signon, "STATUS")
    add(status, "CODE", "0")
    add(status, "SEVERITY", "INFO")
    add(signon, "DTSERVER", _ofx_time(now_ms))
    add(signon, "LANGUAGE", "ENG")
    transaction = add(add(root, "BANKMSGSRSV1"), "STMTTRNRS")
    add(transaction, "TRNUID", str(export.last_seq))
    status = add(transaction, "STATUS")
    add(status, "CODE", "0")
    add(status, "SEVERITY", "INFO")
    statement = add(transaction, "STMTRS")
    add(statement, "CURDEF", naming.unit_code)
    from_account = add(statement, "BANKACCTFROM")
    add(from_account, "BANKID", bank_id)
    add(from_account, "ACCTID", id_to_text("m", account))
    add(from_account, "ACCTTYPE", "CHECKING")
    listed = add(statement, "BANKTRANLIST")
    add(listed, "DTSTART", _ofx_time(start))
    add(listed, "DTEND", _ofx_time(end))
    for row in export.rows:
        item = add(listed, "STMTTRN")
        add(item, "TRNTYPE", "CREDIT" if row.change_minor >= 0 else "DEBIT")
        add(item, "DTPOSTED", _ofx_time(row.ts_ms))
        add(item, "TRNAMT", money(row.change_minor))
        add(item, "FITID", str(row.seq))
        other = None if row.counterparty is None else naming.name(row.counterparty)
        add(item, "NAME", (other or row.kind)[:ofx_name_chars_max])
        memo = row.kind if not row.memo else f"{row.kind}: {row.memo}"
        add(item, "MEMO", memo[:ofx_memo_chars_max])
    ledger = add(statement, "LEDGERBAL")
    add(ledger, "BALAMT", money(export.closing.get(account, 0)))
    add(ledger, "DTASOF", _ofx_time(end))
    balances = add(statement, "BALLIST")
    opening = add(balances, "BAL")
    add(opening, "NAME", "Opening balance")
    add(opening, "DESC", f"the balance before the first event of {export.period.describe()}")
    add(opening, "BALTYPE", "DOLLAR")
    add(opening, "VALUE", money(export.opening.get(account, 0)))
    add(opening, "DTASOF", _ofx_time(start))
    header = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
              '<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n')
    ElementTree.indent(root)
    return header + ElementTree.tostring(root, encoding="unicode") + "\n"
