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
- the journal: every posting of every account, in two passes over the `postings` rows, each
  `journal_page_postings` rows a query. The first folds them from the first event to the period's
  end decoding only their balances (`journal_balances`: every account's opening and closing
  balance); the second reads the period's rows again with the events' bytes and writes a row per
  change (`journal_rows`). Its cost grows with the log, not with the period (docs/api.md §16 has
  what it measured).

The rows come a page at a time and are written as they come (`CsvWriter`, `OfxWriter`), so an
export holds one page in memory however long it is; the answer is streamed (node/http/exports.py).
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
from dataclasses import dataclass
from xml.sax.saxutils import escape

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
        """'from 2026-01-01 to 2026-12-31 (UTC)', 'from the first event to now (UTC)'."""
        first = "the first event" if self.first is None else self.first.isoformat()
        last = "now" if self.last is None else self.last.isoformat()
        return f"from {first} to {last} ({self.zone_name})"


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


@dataclass(frozen=True)
class Span:
    """A period as the log holds it: the seqs `first_seq` to `last_seq` (none when `last_seq <
    first_seq`), and the times its opening and closing balances stand at: the period's bounds, or
    where one is left open, the first and last event's (None: no event at all)."""

    period: Period
    first_seq: int
    last_seq: int
    start_ms: int | None
    end_ms: int | None

    @property
    def empty(self) -> bool:
        return self.last_seq < self.first_seq


async def seq_range(store: Store, feed: bytes, period: Period) -> tuple[int, int]:
    """The first seq at or after the period's start and the last before its end, up to the head
    committed now: (head + 1, head) for a period after it, (1, 0) for one before the first event."""
    head = await store.head(feed)
    head_seq = 0 if head is None else head.seq

    async def first_at_or_after(ms: int) -> int:
        low, high = 1, head_seq + 1  # the answer is in [low, high]; high: none is
        while low < high:
            middle = (low + high) // 2
            if await _ts(store, feed, middle) >= ms:
                high = middle
            else:
                low = middle + 1
        return low

    first = 1 if period.start_ms is None else await first_at_or_after(period.start_ms)
    last = head_seq if period.end_ms is None else await first_at_or_after(period.end_ms) - 1
    return first, last


async def _ts(store: Store, feed: bytes, seq: int) -> int:
    rows = await store.query("SELECT ts FROM log WHERE feed = ? AND seq = ?", (feed, seq), 1)
    return int(rows[0][0]) if rows else 0


async def span_of(store: Store, feed: bytes, period: Period) -> Span:
    first, last = await seq_range(store, feed, period)
    start_ms = period.start_ms
    end_ms = None if period.end_ms is None else period.end_ms - 1
    if start_ms is None and last >= first:
        start_ms = await _ts(store, feed, first)
    if end_ms is None and last >= 1:
        end_ms = await _ts(store, feed, last)
    return Span(period, first, last, start_ms, end_ms)


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


async def opening_balance(store: Store, feed: bytes, account: bytes, span: Span) -> int:
    """The account's balance just before the span's first event (0 before its first posting)."""
    return await History(store).balance_before(feed, account, span.first_seq) if span.first_seq > 1 else 0


async def account_rows(store: Store, state: State, directory: Directory, feed: bytes, account: bytes, span: Span,
                       opening: int) -> AsyncIterator[list[Row]]:
    """One account's postings in the span, in seq order, a block of `posting_block_events` events
    at a time (`posting_blocks` says which blocks hold any), from its `opening` balance."""
    if span.empty:
        return
    history = History(store)
    balance = opening
    block = span.first_seq // posting_block_events
    last_block = span.last_seq // posting_block_events
    while block <= last_block:
        found_blocks = await store.query(
            "SELECT block FROM posting_blocks WHERE feed = ? AND account = ? AND block BETWEEN ? AND ? "
            "ORDER BY block LIMIT ?", (feed, account, block, last_block, blocks_page), blocks_page)
        if not found_blocks:
            return
        for (found_block,) in found_blocks:
            points = [(seq, ts, after) for seq, ts, after in await history._in_block(feed, account, int(found_block))
                      if span.first_seq <= seq <= span.last_seq]
            raw_of = await _raw_events(store, feed, [seq for seq, _, _ in points])
            rows = []
            for seq, ts, after in points:
                if after != balance:  # an account opened at zero moved nothing: no row, as in the journal
                    rows.append(_row(state, directory, account, seq, ts, after - balance, after, raw_of.get(seq)))
                balance = after
            if rows:
                yield rows
        block = int(found_blocks[-1][0]) + 1


async def _postings(store: Store, feed: bytes, after_seq: int, last_seq: int) -> list[tuple]:
    return await store.query(
        "SELECT p.seq, l.ts, p.balances FROM postings p JOIN log l ON l.feed = p.feed AND l.seq = p.seq "
        "WHERE p.feed = ? AND p.seq > ? AND p.seq <= ? ORDER BY p.seq LIMIT ?",
        (feed, after_seq, last_seq, journal_page_postings), journal_page_postings)


async def journal_balances(store: Store, feed: bytes, span: Span) -> tuple[dict[bytes, int], dict[bytes, int]]:
    """Every account's balance before the span and after it (the journal's first pass: the
    `postings` rows up to the span's end, their balances alone decoded). An account opened in the
    span opens at zero; one opened after it is in neither."""
    balances: dict[bytes, int] = {}
    opening: dict[bytes, int] | None = None
    seq = 0
    while seq < span.last_seq:
        rows = await _postings(store, feed, seq, span.last_seq)
        if not rows:
            break
        for found_seq, _ts_ms, raw_balances in rows:
            if opening is None and found_seq >= span.first_seq:
                opening = dict(balances)
            balances.update(balances_decoder.decode(raw_balances))
        seq = int(rows[-1][0])
    if opening is None:
        opening = dict(balances)
    for account in balances:
        opening.setdefault(account, 0)
    return opening, balances


async def journal_rows(store: Store, state: State, directory: Directory, feed: bytes, span: Span,
                       opening: dict[bytes, int]) -> AsyncIterator[list[Row]]:
    """Every posting of every account in the span, in seq order, `journal_page_postings` events at
    a time, from the `opening` balances `journal_balances` gave."""
    if span.empty:
        return
    balances = dict(opening)
    seq = span.first_seq - 1
    while seq < span.last_seq:
        found = await _postings(store, feed, seq, span.last_seq)
        if not found:
            return
        raw_of = await _raw_events(store, feed, [int(row[0]) for row in found])
        rows = []
        for found_seq, ts, raw_balances in found:
            for account, after in balances_decoder.decode(raw_balances):
                before = balances.get(account, 0)
                balances[account] = after
                if after != before:
                    rows.append(_row(state, directory, account, int(found_seq), int(ts), after - before, after,
                                     raw_of.get(int(found_seq))))
        yield rows
        seq = int(found[-1][0])


async def period_changes(store: Store, feed: bytes, first: int, last: int,
                         balances: dict[bytes, int] | None = None) -> AsyncIterator[list[tuple[int, int, int]]]:
    """Every posting from seq `first` to `last`, a page of `journal_page_postings` events at a
    time, each as (seq, ts, change) of one account, for figures that need no account's opening
    balance (the yearly report's turnover): the balance before an account's first posting in the
    range is its `balance_before` (at most three bounded queries, once an account), so the cost is
    the range's events, not the log's. `balances`, if given, holds the balances after `first - 1`
    of accounts already seen (a range read before this one), and is kept up to date here."""
    history = History(store)
    balances = {} if balances is None else balances
    seq = first - 1
    while seq < last:
        rows = await _postings(store, feed, seq, last)
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


# ---- writing: text a chunk at a time, so an export of any length holds one page in memory ----------


@dataclass(frozen=True)
class Naming:
    """How an export writes ids and names: `name(account)` is the name the reader may see, or None."""

    unit_code: str
    decimals: int
    name: Callable[[bytes], str | None]


# A cell a spreadsheet would read as a formula (OWASP, "CSV Injection"): a text a member typed that
# begins so is written after an apostrophe, which spreadsheets show as text and do not evaluate.
formula_starts = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(text: str) -> str:
    return "'" + text if text.startswith(formula_starts) else text


class CsvWriter:
    """The CSV of an export (RFC 4180: CR LF line ends, fields quoted where they must be): one header
    row, then per account an `opening` row, every `posting` row in seq order, and per account a
    `closing` row. Each method returns the text of its rows; names and ids are written once an
    account (a journal names the same few hundred accounts hundreds of thousands of times)."""

    def __init__(self, span: Span, naming: Naming) -> None:
        self.span, self.naming = span, naming
        self._out = io.StringIO()
        self._writer = csv.writer(self._out, lineterminator="\r\n")
        self._accounts: dict[bytes, tuple[str, str]] = {}
        self._when: tuple[int, str] = (-1, "")

    def _flush(self) -> str:
        text = self._out.getvalue()
        self._out.seek(0)
        self._out.truncate()
        return text

    def _account(self, account: bytes) -> tuple[str, str]:
        found = self._accounts.get(account)
        if found is None:
            found = self._accounts[account] = (id_to_text("m", account), _text_cell(self.naming.name(account) or ""))
        return found

    def _date(self, ms: int | None) -> str:
        if ms is None:
            return ""
        if self._when[0] != ms:
            self._when = (ms, datetime.datetime.fromtimestamp(ms / 1000, self.span.period.zone).isoformat(timespec="seconds"))
        return self._when[1]

    def order(self, accounts: Iterable[bytes]) -> list[bytes]:
        """Accounts in the order of their names as the reader sees them, then ids."""
        return sorted(accounts, key=lambda account: (self._account(account)[1].casefold(), account))

    def header(self) -> str:
        self._writer.writerow(csv_columns)
        return self._flush()

    def balances(self, kind: str, balances: dict[bytes, int], accounts: list[bytes]) -> str:
        """The `opening` or `closing` rows of `accounts`."""
        opening = kind == "opening"
        date = self._date(self.span.start_ms if opening else self.span.end_ms)
        seq = self.span.first_seq if opening else self.span.last_seq
        for account in accounts:
            self._writer.writerow([kind, date, seq, *self._account(account), f"{kind} balance", "", "", "", "",
                                   format_amount(balances.get(account, 0), self.naming.decimals), self.naming.unit_code])
        return self._flush()

    def rows(self, rows: list[Row]) -> str:
        decimals, unit = self.naming.decimals, self.naming.unit_code
        for row in rows:
            counterparty, counterparty_name = ("", "") if row.counterparty is None else self._account(row.counterparty)
            self._writer.writerow(["posting", self._date(row.ts_ms), row.seq, *self._account(row.account), row.kind,
                                   counterparty, counterparty_name, _text_cell(row.memo or ""),
                                   format_amount(row.change_minor, decimals),
                                   format_amount(row.balance_minor, decimals), unit])
        return self._flush()


def _ofx_time(ms: int) -> str:
    """OFX's datetime: YYYYMMDDHHMMSS.XXX[0:GMT] (OFX 2.1.1, §3.2.8.2), in UTC."""
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y%m%d%H%M%S") + f".{ms % 1000:03d}[0:GMT]"


def _element(tag: str, text: str) -> str:
    return f"<{tag}>{escape(text)}</{tag}>"


class OfxWriter:
    """One account's statement as an OFX 2 bank statement (OFX 2.1.1, BANKMSGSRSV1/STMTTRNRS/STMTRS),
    for accounting software that imports a bank's: each posting a STMTTRN (FITID: the event's seq,
    unique in the feed, so an overlapping import is not doubled), the closing balance as LEDGERBAL,
    the opening one in BALLIST (OFX has no field of its own for it). The unit's code stands as
    CURDEF, as OFX carries no other. Written a part at a time, every text escaped."""

    def __init__(self, span: Span, naming: Naming, account: bytes, bank_id: str, now_ms: int) -> None:
        self.span, self.naming, self.account, self.bank_id = span, naming, account, bank_id
        self.start_ms = span.start_ms if span.start_ms is not None else now_ms
        self.end_ms = span.end_ms if span.end_ms is not None else now_ms
        self.now_ms = now_ms

    def _money(self, minor: int) -> str:
        return format_amount(minor, self.naming.decimals)

    def head(self) -> str:
        status = "<STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>"
        return ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
                '<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n'
                f"<OFX>\n<SIGNONMSGSRSV1><SONRS>{status}{_element('DTSERVER', _ofx_time(self.now_ms))}"
                "<LANGUAGE>ENG</LANGUAGE></SONRS></SIGNONMSGSRSV1>\n"
                f"<BANKMSGSRSV1><STMTTRNRS>{_element('TRNUID', str(self.span.last_seq))}{status}\n<STMTRS>"
                f"{_element('CURDEF', self.naming.unit_code)}\n<BANKACCTFROM>{_element('BANKID', self.bank_id)}"
                f"{_element('ACCTID', id_to_text('m', self.account))}<ACCTTYPE>CHECKING</ACCTTYPE></BANKACCTFROM>\n"
                f"<BANKTRANLIST>{_element('DTSTART', _ofx_time(self.start_ms))}{_element('DTEND', _ofx_time(self.end_ms))}\n")

    def rows(self, rows: list[Row]) -> str:
        parts = []
        for row in rows:
            other = None if row.counterparty is None else self.naming.name(row.counterparty)
            memo = row.kind if not row.memo else f"{row.kind}: {row.memo}"
            parts.append(
                f"<STMTTRN><TRNTYPE>{'CREDIT' if row.change_minor >= 0 else 'DEBIT'}</TRNTYPE>"
                f"{_element('DTPOSTED', _ofx_time(row.ts_ms))}{_element('TRNAMT', self._money(row.change_minor))}"
                f"{_element('FITID', str(row.seq))}{_element('NAME', (other or row.kind)[:ofx_name_chars_max])}"
                f"{_element('MEMO', memo[:ofx_memo_chars_max])}</STMTTRN>\n")
        return "".join(parts)

    def tail(self, opening: int, closing: int) -> str:
        return (f"</BANKTRANLIST>\n<LEDGERBAL>{_element('BALAMT', self._money(closing))}"
                f"{_element('DTASOF', _ofx_time(self.end_ms))}</LEDGERBAL>\n"
                f"<BALLIST><BAL><NAME>Opening balance</NAME>"
                f"{_element('DESC', 'the balance before the period, ' + self.span.period.describe())}"
                f"<BALTYPE>DOLLAR</BALTYPE>{_element('VALUE', self._money(opening))}"
                f"{_element('DTASOF', _ofx_time(self.start_ms))}</BAL></BALLIST>\n"
                "</STMTRS></STMTTRNRS></BANKMSGSRSV1>\n</OFX>\n")
