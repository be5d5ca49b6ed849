"""The community's yearly report, `/report?year=YYYY`: members, credit in circulation over the year,
turnover, the treasury, the decisions taken and the offers that raised capital, on one page a
committee can print (its print stylesheet turns it into a PDF with the browser's "Save as PDF").

How this works: the year is the calendar year in UTC (`?year=`, this year by default; a value that is
no year in 1970..9999 is ignored, as every page's number is). Its days become a range of seqs as the
exports' do (node/exports.py `seq_range`), and every figure comes from what the exports read: the
year's postings (`period_changes`: the turnover is the credit that changed hands, counted once on
the side that received it, between people and the community's own accounts alike; a transaction
is an event that moved credit), the treasury's
account for the year (its opening, what came in, what went out, its closing), and the `postings`
rows' credit in circulation at each month's end. Decisions and offers come from the state in memory:
those that closed in the year (titles and outcomes), and those opened in it. Everything shown is an
aggregate or public by every policy (the community's own accounts, decisions' titles and outcomes,
enterprises and offers: docs/privacy.md, "What every reader sees"), so every reader sees the same
page and no member's name, balance or memo is on it. The first report of a year reads the year's
postings, 1,000 a query, and a few bounded queries an account (its balance before its first posting
of the year); the node keeps what they said (`YearSoFar`, per feed and year, `years_kept_max` of
them) and the next report reads only the events since, so a page anyone may ask for costs the new
events, not the year's, however often it is asked (docs/pages.md has what it measured).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from tallystick.ledger.accounts import people_roles
from tallystick.ledger.model import State

from ..app import clock_ms
from ..exports import Period, Span, account_rows, opening_balance, period_changes, seq_range, span_of
from .charts import line_chart
from .language import N_, gettext, language_of
from .shared import frame_for, html_page, money_text, node_of, plain_amount, query_number

# The months of a year, in words (the table of the year's months).
month_words = (N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"), N_("July"),
               N_("August"), N_("September"), N_("October"), N_("November"), N_("December"))
year_min, year_max = 1970, 9999
# Decisions and offers listed, at most (a community decides tens a year, not thousands).
decisions_listed = 200
offers_listed = 200


def _year(request: web.Request, now_ms: int) -> int:
    this_year = datetime.datetime.fromtimestamp(now_ms / 1000, datetime.UTC).year
    asked = query_number(request, "year")
    return asked if asked is not None and year_min <= asked <= year_max else this_year


def _last_day(year: int, month: int) -> datetime.date:
    return datetime.date(year + (month == 12), month % 12 + 1, 1) - datetime.timedelta(days=1)


def _month_end_ms(year: int, month: int) -> int:
    following = datetime.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=datetime.UTC)
    return int(following.timestamp() * 1000)


# A year's figures read from the postings, kept per (feed, year) and brought up to the head on the
# next request by reading only the events since: a page anyone may ask for then costs the new
# events' postings, not the year's. A few years at most (a report of an old year is asked rarely).
years_kept_max = 16


@dataclass
class YearSoFar:
    """What the postings of a year said up to `read_to_seq`: each account's balance after it (the
    accounts seen in the year), the turnover and the events that moved credit by month, and the
    treasury's account in the year."""

    first_seq: int
    read_to_seq: int
    balances: dict[bytes, int] = field(default_factory=dict)
    turnover: list[int] = field(default_factory=lambda: [0] * 12)
    moving: list[int] = field(default_factory=lambda: [0] * 12)
    counted_seq: int = 0
    treasury: bytes | None = None
    treasury_opening: int = 0
    treasury_in: int = 0
    treasury_out: int = 0
    treasury_levies: int = 0
    treasury_closing: int = 0

    def copy(self) -> YearSoFar:
        return dataclasses.replace(self, balances=dict(self.balances), turnover=list(self.turnover),
                                   moving=list(self.moving))


_years: dict[tuple[bytes, int], YearSoFar] = {}


async def _year_so_far(node: Any, state: State, year: int, period: Period, first_seq: int, last_seq: int,
                       month_starts: list[int]) -> YearSoFar:
    """The year's figures up to `last_seq`: those kept, brought up to it, or read afresh. Worked on
    a copy and kept only when no other request moved the kept one meanwhile, so two requests at
    once never count an event twice."""
    key = (node.feed, year)
    kept = original = _years.get(key)
    if kept is None or kept.first_seq != first_seq or kept.read_to_seq > last_seq:
        kept = YearSoFar(first_seq, first_seq - 1)
    figures = kept.copy()
    if last_seq > figures.read_to_seq:
        async for page in period_changes(node.store, node.feed, figures.read_to_seq + 1, last_seq, figures.balances):
            for seq, ts, change in page:
                month = bisect.bisect_right(month_starts, ts) - 1
                if change > 0 and 0 <= month < 12:
                    figures.turnover[month] += change
                    if seq != figures.counted_seq:  # the changes come in seq order: count each event once
                        figures.moving[month] += 1
                        figures.counted_seq = seq
        if state.treasury is not None:
            if figures.treasury != state.treasury:  # opened since (by the first levy): read its year whole
                whole = await span_of(node.store, node.feed, period)
                figures.treasury = state.treasury
                figures.treasury_in = figures.treasury_out = figures.treasury_levies = 0
                figures.treasury_opening = await opening_balance(node.store, node.feed, state.treasury, whole)
                figures.treasury_closing = figures.treasury_opening
                since = whole.first_seq
            else:
                since = figures.read_to_seq + 1
            span = Span(period, since, last_seq, None, None)
            async for rows in account_rows(node.store, state, node.directory, node.feed, state.treasury, span,
                                           figures.treasury_closing):
                figures.treasury_in += sum(row.change_minor for row in rows if row.change_minor > 0)
                figures.treasury_out -= sum(row.change_minor for row in rows if row.change_minor < 0)
                figures.treasury_levies += sum(1 for row in rows if row.kind == "levy")
                figures.treasury_closing = rows[-1].balance_minor
        figures.read_to_seq = last_seq
    if _years.get(key) is original:
        _years.pop(key, None)
        _years[key] = figures
        while len(_years) > years_kept_max:
            _years.pop(next(iter(_years)))
    return figures


async def report_page(request: web.Request) -> web.Response:
    language_of(request)  # before any text is written
    node = node_of(request)
    state: State = node.sequencer.state
    now_ms = clock_ms()
    year = _year(request, now_ms)
    period = Period(datetime.date(year, 1, 1), datetime.date(year, 12, 31), datetime.UTC, "UTC")
    first_seq, last_seq = await seq_range(node.store, node.feed, period)

    month_starts = [int(datetime.datetime(year, month, 1, tzinfo=datetime.UTC).timestamp() * 1000)
                    for month in range(1, 13)]
    figures = await _year_so_far(node, state, year, period, first_seq, last_seq, month_starts)
    turnover_by_month, moving_events = figures.turnover, figures.moving
    months: list[dict[str, Any]] = []
    start_ms = period.start_ms or 0
    circulation_at_start = await _circulation_before(node, first_seq)
    points: list[tuple[int, int, int]] = [(max(0, first_seq - 1), start_ms, circulation_at_start)]
    for month in range(1, 13):
        begin, end = month_starts[month - 1], _month_end_ms(year, month)
        months.append({"name": gettext(month_words[month - 1]), "turnover": money_text(node, turnover_by_month[month - 1]),
                       "turnover_minor": turnover_by_month[month - 1],
                       "turnover_plain": plain_amount(node, turnover_by_month[month - 1]), "payments": moving_events[month - 1],
                       "future": begin > now_ms})
        if begin <= now_ms:
            month_last = (await seq_range(node.store, node.feed, Period(None, _last_day(year, month), datetime.UTC,
                                                                        "UTC")))[1]
            circulation = await _circulation_before(node, month_last + 1)
            months[-1]["circulation_plain"] = plain_amount(node, circulation)
            points.append((month_last, min(end - 1, now_ms), circulation))
    turnover_minor = sum(month["turnover_minor"] for month in months)
    payments_count = sum(month["payments"] for month in months)
    end_ms = min(period.end_ms or now_ms, max(now_ms, start_ms + 1))
    chart = line_chart(points, start_ms, end_ms, lambda value: plain_amount(node, value),
                       state.community.unit_code) if points else None

    treasury = None
    if figures.treasury is not None:
        treasury = {"opening": money_text(node, figures.treasury_opening), "in": money_text(node, figures.treasury_in),
                    "out": money_text(node, figures.treasury_out),
                    "closing": money_text(node, figures.treasury_closing), "levies": figures.treasury_levies}

    joined = sum(1 for member in state.members.values()
                 if member.role in people_roles and first_seq <= member.admitted_seq <= last_seq)
    active_people = sum(1 for member in state.members.values() if member.role in people_roles and member.active)
    decisions = sorted((decision for decision in state.decisions.values()
                        if decision.closed_seq is not None and first_seq <= decision.closed_seq <= last_seq),
                       key=lambda decision: decision.closed_seq or 0)[:decisions_listed]
    decided = [{"id": decision.seq, "title": node.directory.shown(decision.title), "outcome": decision.outcome,
                "type": decision.decision_type} for decision in decisions]
    opened_in_year = sum(1 for decision in state.decisions.values() if first_seq <= decision.seq <= last_seq)
    offers = []
    offer_seqs = sorted(state.shares.offers)
    in_year = offer_seqs[bisect.bisect_left(offer_seqs, first_seq):bisect.bisect_right(offer_seqs, last_seq)]
    for seq in in_year[:offers_listed]:
        offer = state.shares.offers[seq]
        enterprise = state.shares.enterprises.get(offer.enterprise)
        share_class = enterprise.classes[offer.share_class] if enterprise is not None else None
        # Allotted: what the enterprise received; open: what is subscribed so far; refunded: nothing.
        raised = min(offer.subscribed_units, offer.units) * offer.price_minor if offer.outcome in (None, "allotted") else 0
        offers.append({"id": seq, "enterprise": enterprise.name if enterprise else "",
                       "class_name": share_class.name if share_class else "",
                       "units": offer.units, "subscribed": offer.subscribed_units, "outcome": offer.outcome,
                       "raised": money_text(node, raised)})
    return html_page(
        "report.html",
        **await frame_for(request),
        year=year,
        previous_year=year - 1 if year > year_min else None,
        next_year=year + 1 if year < year_max else None,
        first_seq=first_seq,
        last_seq=last_seq,
        events=max(0, last_seq - first_seq + 1),
        active_people=active_people,
        joined=joined,
        circulation_start=money_text(node, circulation_at_start),
        circulation_end=money_text(node, points[-1][2]),
        chart=chart,
        months=months,
        turnover=money_text(node, turnover_minor),
        payments=payments_count,
        treasury=treasury,
        decided=decided,
        decisions_opened=opened_in_year,
        offers=offers,
        generated_ms=now_ms,
    )


async def _circulation_before(node: Any, seq: int) -> int:
    """The credit in circulation (the sum of positive balances) just before event `seq`: after the
    last `postings` row before it, 0 before the first."""
    rows = await node.store.query(
        "SELECT positive_minor FROM postings WHERE feed = ? AND seq < ? ORDER BY seq DESC LIMIT 1", (node.feed, seq), 1)
    return int(rows[0][0]) if rows else 0
