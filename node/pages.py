"""The node's web pages: the community (/), each member (/members/{ref}), the operator (/node), each
enterprise (/enterprises/{ref}), each federation this node knows (/federations/{ref}) and the
payments between communities (/payments).

How this works: each page is rendered on the server from the projections and the tail of the log,
through Jinja2 with autoescaping on, so nothing a member typed (a name, a memo, a proposal) can run
as script in a reader's browser: templates never mark member text `|safe`; the only markup made
here is SVG we draw ourselves (the balance plot, the QR code from segno). No page needs JavaScript
to be read. Every read is bounded: a page of members from the name index (`page_size_default`),
the last events of the log, a histogram from one pass over the members the node holds in memory,
the newest few open decisions, and a member's payments from the `postings` projection joined with
the log, newest first, a page at a time (node/history.py). docs/pages.md has
what each page reads and what `make bench` measured at 10,000 members and 1,000,000 events. The
numbers are the API's: the same projections, the same `debit_limit`,
`credit_ceiling` and decision `tally`, and the alerts of `Node.status()`, which /api/status serves;
an enterprise's from node/shares_api.py's `enterprise_json`, `offer_json` and `cap_table`, and a
federation's from federation/federations.py's `federation_json` and `report_json`, and payments
across from its `Federations.payments()`, which /api/payments serves. Balances over time (a
member's, the community's credit in circulation and treasury) come from node/history.py, which
reads them from the `postings` projection the store writes with the log.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import math
import urllib.parse
from typing import Any

import jinja2
import segno
from aiohttp import web
from markupsafe import Markup, escape
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_intent
from tallystick.protocol.errors import MalformedError, TallyError
from tallystick.protocol.events import (
    Act,
    AdmitMember,
    Checkpoint,
    DecisionClosed,
    DeclareDividend,
    Delegate,
    Genesis,
    KeyRotated,
    Propose,
    RemoveMember,
    SetLimits,
    Transfer,
    Undelegate,
    Vote,
)
from tallystick.protocol.ids import id_from_text, id_to_text

from . import params
from .decisions import Decision, tally, winners
from .domain import State, credit_ceiling, debit_limit, find_member, member_for_key
from .history import History
from .money import format_amount, parse_amount
from .public import public_url
from .runtime import Node, clock_ms, node_key
from .shares_api import (
    book_json,
    cap_table,
    enterprise_json,
    member_holdings,
    offer_json,
    resolve_enterprise,
)
from .store import share_value

# Rows of the members table on one page of `/`.
members_per_page = limits.page_size_default
# Events of the log's tail shown as recent activity on `/`.
activity_events = 20
# Open decisions shown with live tallies on `/`: each tally counts every member, as /api/decisions
# does (node/decisions.py `tally`: ~10-20 ms for 10,000 members on this machine), so a few.
open_decisions_shown = 5
# Buckets of the balance histogram: enough to see a shape, few enough to label.
histogram_buckets = 24
# A member's page shows at most so many payments, newest first, with a link to older ones; it reads
# at most `history_postings_read_max` of the member's postings (events that changed their balance:
# payments, and levies, dividends, subscriptions…) to find them.
history_payments_shown = 50
history_postings_read_max = limits.page_size_max
# Decisions (newest first) searched for a member's votes.
votes_decisions_searched = limits.page_size_default
# QR codes kept drawn (by URI): segno takes ~50 ms of pure Python to choose a code's mask, so a
# member's page is drawn once and served from here after; a few hundred kilobytes at most.
qr_codes_cached = 256
# Feeds listed on /node (a node may hold up to `replication_heads_max`).
feeds_shown = limits.page_size_default

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("tallystick.node", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _node(request: web.Request) -> Node:
    return request.app[node_key]


def _html(template: str, status: int = 200, **context: Any) -> web.Response:
    text = _environment.get_template(template).render(**context)
    return web.Response(text=text, status=status, content_type="text/html")


def format_duration(ms: int) -> str:
    """A duration as people say it, to two units: '2 d 3 h', '5 min 10 s', '0 s'."""
    seconds = max(0, ms) // 1000
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def format_time(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_environment.filters["duration"] = format_duration
_environment.filters["time"] = format_time

# The plots over time: an SVG this wide and high (the histogram's width), and a margin for labels.
chart_width, chart_height = 480, 140
# Buckets of the trade plot: the smallest of these sizes that gives at most `trade_buckets_max`.
trade_bucket_sizes_ms = (("minute", 60_000), ("hour", 3_600_000), ("day", 86_400_000), ("week", 604_800_000))
trade_buckets_max = 48
# Colours of the trade plot's pairs of communities, in turn (the rest share the last one).
pair_colours = ("#3a8a50", "#557", "#c80", "#a33", "#2a7ab0", "#888")


def line_chart(points: list[tuple[int, int, int]], start_ms: int, end_ms: int,
               label: Any, unit: str) -> dict[str, Any] | None:
    """A step line of values over time, drawn from numbers only: `points` are (seq, ts, value) in
    order, each value holding until the next point, the last one until `end_ms`. The y axis always
    includes zero, so a glance says above or below it. `label(value)` writes a value for people."""
    if not points:
        return None
    values = [value for _, _, value in points]
    low, high = min(0, *values), max(0, *values)
    span_value = (high - low) or 1
    span_ms = max(1, end_ms - start_ms)

    def x(ts: int) -> float:
        return chart_width * min(1.0, max(0.0, (ts - start_ms) / span_ms))

    def y(value: int) -> float:
        return chart_height * (high - value) / span_value

    markers = [{"x": f"{x(ts):.1f}", "y": f"{y(value):.1f}", "seq": seq, "value": value, "text": label(value),
                "when": format_time(ts)} for seq, ts, value in points]
    path = f"M {markers[0]['x']} {markers[0]['y']}" + "".join(f" H {m['x']} V {m['y']}" for m in markers[1:])
    path += f" H {chart_width:.1f}"
    # The points as SVG written here, not by a loop in the template: Jinja spends ~50 µs a point on
    # it (10 ms for a full plot). Numbers only, and every text part escaped.
    unit_text = escape(unit)
    points_svg = Markup("".join(
        f'<circle class="point" cx="{m["x"]}" cy="{m["y"]}" r="2" data-seq="{m["seq"]:d}" data-value="{m["value"]:d}">'
        f'<title>{escape(m["text"])} {unit_text} after event #{m["seq"]:d}, {escape(m["when"])}</title></circle>'
        for m in markers))
    return {"width": chart_width, "height": chart_height, "path": path, "points_svg": points_svg, "zero_y": y(0),
            "low": label(low), "high": label(high), "start_ms": start_ms, "end_ms": end_ms,
            "last": markers[-1]}


def trade_buckets(start_ms: int, end_ms: int) -> tuple[str, int, int, int]:
    """(name, size in ms, first bucket's start, count): whole minutes, hours, days or weeks (UTC),
    the smallest size that covers start..end in at most `trade_buckets_max` buckets."""
    for name, size in trade_bucket_sizes_ms:
        first = start_ms - start_ms % size
        count = (end_ms - first) // size + 1
        if count <= trade_buckets_max or size == trade_bucket_sizes_ms[-1][1]:
            return name, size, first, min(count, trade_buckets_max)
    raise AssertionError("unreachable")


def trade_chart(settled: list[dict[str, Any]], end_ms: int, names: dict[str, str | None]) -> dict[str, Any] | None:
    """Settled payments between communities per time bucket (by the time they were sent), stacked
    by pair of communities (from, to): a bar's height is the number of payments; each part's title
    says the pair, the count and the amount sent (in the sender's unit, so amounts of different
    units are never added). The oldest buckets are dropped past `trade_buckets_max`."""
    if not settled:
        return None
    start_ms = min(row["sent_ms"] for row in settled)
    end_ms = max(end_ms, start_ms)
    unit, size, first, count = trade_buckets(start_ms, end_ms)
    first = max(first, end_ms - end_ms % size - (count - 1) * size)  # past 48 weeks, the last 48
    pairs: list[tuple[str, str]] = sorted({(row["from_community"], row["to_community"]) for row in settled})
    colour = {pair: pair_colours[min(index, len(pair_colours) - 1)] for index, pair in enumerate(pairs)}
    cells: dict[tuple[int, tuple[str, str]], dict[str, int]] = {}
    for row in settled:
        bucket = (row["sent_ms"] - first) // size
        if 0 <= bucket < count:
            cell = cells.setdefault((bucket, (row["from_community"], row["to_community"])), {"payments": 0, "sent": 0})
            cell["payments"] += 1
            cell["sent"] += row["amount"]
    totals = [sum(c["payments"] for (b, _), c in cells.items() if b == bucket) for bucket in range(count)]
    tallest = max(totals) or 1
    bar = chart_width / count
    bars = []
    for bucket in range(count):
        bottom = float(chart_height)
        parts = []
        for pair in pairs:
            cell = cells.get((bucket, pair))
            if cell is None:
                continue
            height = chart_height * cell["payments"] / tallest
            bottom -= height
            parts.append({"y": bottom, "height": height, "colour": colour[pair], "from": pair[0], "to": pair[1], **cell,
                          "from_name": names.get(pair[0]) or pair[0], "to_name": names.get(pair[1]) or pair[1]})
        bars.append({"x": bucket * bar, "width": max(1.0, bar - 1), "start_ms": first + bucket * size,
                     "payments": totals[bucket], "parts": parts})
    legend = [{"colour": colour[pair], "from_name": names.get(pair[0]) or pair[0], "to_name": names.get(pair[1]) or pair[1]}
              for pair in pairs]
    return {"width": chart_width, "height": chart_height, "bars": bars, "unit": unit, "tallest": tallest,
            "start_ms": first, "end_ms": first + count * size, "legend": legend,
            "payments": sum(totals)}


def _balances_over_time(request: web.Request) -> History:
    return History(_node(request).store)  # holds nothing but the store: one per request costs nothing


# ---- what every page shows ------------------------------------------------------------------------


async def _frame(node: Node) -> dict[str, Any]:
    """The header of every page: the community, the node, and the algedonic alerts (/api/status's)."""
    status = await node.status()
    state: State = node.sequencer.state
    return {
        "community": state.community,
        "node_id": status["node"],
        "seq": status["seq"],
        "alerts": status["alerts"],
        "node_status": status,
    }


def _amount(node: Node, minor: int) -> str:
    return format_amount(minor, node.sequencer.state.community.unit_decimals)


def _bar(balance: int, debit: int, ceiling: int) -> dict[str, float]:
    """Where a balance sits: the left half of the bar is the debit side (0 to -debit limit), the
    right half the credit side (0 to +ceiling), each scaled by its own limit, so a glance says how
    near an account is to either limit, even when the ceiling is far larger than the debit limit."""
    if balance < 0:
        fraction = min(1.0, -balance / debit) if debit else 1.0
        return {"left": 50 - 50 * fraction, "width": 50 * fraction, "side": -1}
    fraction = min(1.0, balance / ceiling) if ceiling else (1.0 if balance else 0.0)
    return {"left": 50.0, "width": 50 * fraction, "side": 1 if balance else 0}


def _account_row(node: Node, member_id: bytes, name: str, role: str, active: bool) -> dict[str, Any]:
    state: State = node.sequencer.state
    account = state.accounts[member_id]
    debit, ceiling = debit_limit(state, account), credit_ceiling(state, account)
    return {
        "id": id_to_text("m", member_id),
        "name": name,
        "role": role,
        "active": active,
        "balance_minor": account.balance_minor,
        "balance": _amount(node, account.balance_minor),
        "debit_limit": _amount(node, debit),
        "debit_floor": _amount(node, -debit),  # the lowest balance allowed: "-50.00", and "0.00", not "-0.00"
        "credit_ceiling": _amount(node, ceiling),
        "bar": _bar(account.balance_minor, debit, ceiling),
    }


def _name(state: State, member_id: bytes) -> dict[str, str]:
    member = state.members.get(member_id)
    text = id_to_text("m", member_id)
    return {"id": text, "name": member.name if member is not None else text[:12] + "…"}


def describe_event(state: State, seq: int, ts: int, raw: bytes) -> dict[str, Any]:
    """One event as a line of activity: who did what, with the parts a template shows (and escapes)."""
    event = decode_event(raw)
    body = event.body
    line: dict[str, Any] = {"seq": seq, "ts": ts, "kind": type(body).__name__, "who": None, "whom": None,
                            "amount": None, "memo": None, "text": None}
    if isinstance(body, Act):
        intent = decode_intent(body.intent)
        action = intent.action
        signer = member_for_key(state, intent.key)
        line["who"] = _name(state, signer) if signer is not None else None
        line["kind"] = action.__struct_config__.tag
        if isinstance(action, Transfer):
            line["whom"] = _name(state, action.to)
            line["amount"] = format_amount(action.amount_minor, state.community.unit_decimals)
            line["memo"] = action.memo
        elif isinstance(action, (AdmitMember, RemoveMember)):
            line["whom"] = _name(state, action.member)
        elif isinstance(action, SetLimits):
            line["whom"] = _name(state, action.account)
        elif isinstance(action, Propose):
            line["text"] = action.title
        elif isinstance(action, Vote):
            line["text"] = f"decision {action.decision}"
        elif isinstance(action, Delegate):
            line["whom"] = _name(state, action.to)
            line["text"] = action.topic
        elif isinstance(action, Undelegate):
            line["text"] = action.topic
    elif isinstance(body, DecisionClosed):
        line["kind"] = "decision_closed"
        line["text"] = f"decision {body.decision}: {body.outcome}"
    elif isinstance(body, Checkpoint):
        line["kind"] = "checkpoint"
    elif isinstance(body, Genesis):
        line["kind"] = "genesis"
        line["text"] = body.name
    elif isinstance(body, KeyRotated):
        line["kind"] = "key_rotated"
    else:
        tag = body.__struct_config__.tag
        line["kind"] = tag if isinstance(tag, str) else type(body).__name__
    return line


def _decision_view(node: Node, decision: Decision, now_ms: int) -> dict[str, Any]:
    """A decision with the API's live tally (the same `tally` /api/decisions serves)."""
    state: State = node.sequencer.state
    live = state.decisions.get(decision.seq, decision)
    result = live.result if live.result is not None else tally(state, live)
    counted = sum(result.positions.values()) or 1
    return {
        "id": decision.seq,
        "type": decision.decision_type,
        "title": decision.title,
        "text": decision.text,
        "open": live.is_open,
        "time_left_ms": max(0, decision.deadline_ms - now_ms) if live.is_open else 0,
        "deadline_ms": decision.deadline_ms,
        "outcome": live.outcome,
        "tally": result,
        "shares": {position: 100 * count / counted for position, count in result.positions.items()},
        "options": [
            {"name": name, "count": count, "winner": index in winners(result)}
            for index, (name, count) in enumerate(zip(decision.options, result.option_counts, strict=True))
        ],
        "quorum_percent": decision.quorum_bp / 100,
        "participation_percent": 100 * result.participants / result.electorate if result.electorate else 0.0,
    }


# ---- balances over time ---------------------------------------------------------------------------


def _chart_over_time(node: Node, found: dict[str, Any], points: list[tuple[int, int, int]]) -> dict[str, Any] | None:
    """A series from node/history.py as a step line from its first point to the node's last event."""
    if not points:
        return None
    end_ms = max(node.sequencer.state.ts_ms, found["ts"], points[-1][1])
    return line_chart(points, points[0][1], end_ms, lambda value: _amount(node, value),
                      node.sequencer.state.community.unit_code)


def _folded(node: Node, found: dict[str, Any]) -> dict[str, int]:
    """The head the plots were read at (the postings are written with the log, so they are never
    behind what was committed when they were read)."""
    return {"seq": found["seq"], "head": found["seq"]}


# ---- the community: / ----------------------------------------------------------------------------


def _histogram(node: Node) -> dict[str, Any] | None:
    """The distribution of the active members' balances. Read from the state the node holds in
    memory (one pass over the members, ~5 ms for 10,000): two SQL scans with a join cost 5x that."""
    state: State = node.sequencer.state
    accounts = state.accounts
    balances = [accounts[i].balance_minor for i, member in state.members.items() if member.active and i in accounts]
    if not balances:
        return None
    low, high, count = min(balances), max(balances), len(balances)
    span = high - low + 1
    counts = [0] * histogram_buckets
    for balance in balances:
        counts[(balance - low) * histogram_buckets // span] += 1
    tallest = max(counts)
    width, height, bar = 480, 160, 480 / histogram_buckets
    bars = []
    for index, in_bucket in enumerate(counts):
        # Bucket b holds the balances v with (v - low) * buckets // span == b (integers, exact).
        start = low - (-index * span // histogram_buckets)
        end = low - (-(index + 1) * span // histogram_buckets) - 1
        bar_height = height * in_bucket / tallest
        bars.append({
            "x": index * bar, "y": height - bar_height, "width": bar - 1, "height": bar_height, "count": in_bucket,
            "from": _amount(node, start), "to": _amount(node, end), "negative": end < 0,
        })
    zero_x = width * (0 - low) / span if low <= 0 <= high else None
    return {"bars": bars, "width": width, "height": height, "zero_x": zero_x, "count": count,
            "low": _amount(node, low), "high": _amount(node, high)}


def _query_number(request: web.Request, name: str) -> int | None:
    """A page's number-valued query parameter (`page`, `before`) as node/params.py parses it; a page
    is for people, who edit its URL, so a value that is no number is ignored rather than refused."""
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return params.integer(text, name, 0, params.seq_max)
    except MalformedError:
        return None


def _page_number(request: web.Request, pages: int) -> int:
    """`?page=`, kept inside 1..pages (a page past the last shows the last)."""
    number = _query_number(request, "page")
    return 1 if number is None else min(max(1, number), max(1, pages))


async def community_page(request: web.Request) -> web.Response:
    node = _node(request)
    state: State = node.sequencer.state
    feed = node.feed
    # Members in name order from the members_by_name index alone (joining accounts here would cost a
    # lookup per skipped row); every member has an account, and its balance is in the state.
    accounts_total = len(state.members)
    pages = max(1, math.ceil(accounts_total / members_per_page))
    page = _page_number(request, pages)
    rows = await node.store.query(
        "SELECT id, name, role, active FROM members WHERE feed = ? ORDER BY name COLLATE NOCASE, id LIMIT ? OFFSET ?",
        (feed, members_per_page, (page - 1) * members_per_page),
        members_per_page,
    )
    members = [
        _account_row(node, bytes(member_id), name, role, bool(active))
        for member_id, name, role, active in rows
        if bytes(member_id) in state.accounts
    ]
    tail = await node.store.query(
        "SELECT seq, ts, bytes FROM log WHERE feed = ? ORDER BY seq DESC LIMIT ?", (feed, activity_events), activity_events
    )
    activity = [describe_event(state, seq, ts, bytes(raw)) for seq, ts, raw in tail]
    now_ms = clock_ms()
    open_rows = await node.store.decision_rows(feed, open_only=True, limit=open_decisions_shown + 1)
    decisions = [_decision_view(node, decision, now_ms) for decision in open_rows[:open_decisions_shown]]
    treasury = None
    if state.treasury is not None and state.treasury in state.members:
        treasury = _account_row(node, state.treasury, state.members[state.treasury].name, "treasury", True)
    levy = state.levy
    over_time = await _balances_over_time(request).community(feed, state.treasury)
    return _html(
        "index.html",
        circulation=_chart_over_time(node, over_time, over_time["circulation"]),
        treasury_chart=_chart_over_time(node, over_time, over_time["treasury"]) if treasury else None,
        folded=_folded(node, over_time),
        **await _frame(node),
        members=members,
        members_total=accounts_total,
        active_members=sum(1 for m in state.members.values() if m.active),
        page=page,
        pages=pages,
        activity=activity,
        decisions=decisions,
        more_decisions=len(open_rows) > open_decisions_shown,
        treasury=treasury,
        levy=None if levy is None else {"rate_percent": levy.rate_bp / 100, "min": _amount(node, levy.min_minor),
                                        "max": _amount(node, levy.max_minor)},
        histogram=_histogram(node),
        enterprises=await _enterprises_listed(node),
        federations=await _federations_listed(request),
        default_debit_limit=_amount(node, state.community.debit_limit_minor),
        default_credit_ceiling=_amount(node, state.community.credit_ceiling_minor),
    )


# ---- a member: /members/{ref} ---------------------------------------------------------------------


def _resolve(state: State, reference: str) -> bytes | None:
    """A member by id (`m_…`) or by name, as the API's /api/members/{reference}; None if unknown."""
    if reference.startswith("m_"):
        try:
            member_id = id_from_text("m", reference)
        except TallyError:
            return None
        return member_id if member_id in state.members else None
    return find_member(state, reference)


def pay_uri(node_url: str, feed: str, member: str, name: str, amount: str | None, memo: str) -> str:
    """The "pay me" URI a wallet scans: `tally:pay?node=URL&feed=n_…&to=m_…&name=…[&amount=…][&memo=…]`
    (docs/pages.md). Every value is percent-encoded."""
    fields = [("node", node_url), ("feed", feed), ("to", member), ("name", name)]
    if amount:
        fields.append(("amount", amount))
    if memo:
        fields.append(("memo", memo))
    return "tally:pay?" + urllib.parse.urlencode(fields, quote_via=urllib.parse.quote)


@functools.lru_cache(maxsize=qr_codes_cached)
def qr_svg(uri: str) -> str:
    """The QR code of `uri` as inline SVG (segno draws the modules as one path; no text)."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")


async def _history(request: web.Request, node: Node, member_id: bytes) -> tuple[list[dict[str, Any]], int | None]:
    """The member's payments (made or received), newest first, before the `before` seq of the
    query (a page of older ones), and the seq to continue from (None: nothing older). The events
    are the member's postings (node/history.py) joined with the log; each is decoded and kept only
    if it is a payment the member made or received."""
    state: State = node.sequencer.state
    before = _query_number(request, "before")
    if before is not None:
        before = max(1, before)
    seqs, continue_from = await _balances_over_time(request).postings_newest_first(
        node.feed, member_id, before, history_payments_shown)
    if len(seqs) > history_postings_read_max:
        seqs, continue_from = seqs[:history_postings_read_max], seqs[history_postings_read_max - 1]
    rows = await node.store.query(
        f"SELECT seq, ts, bytes FROM log WHERE feed = ? AND kind = 'act' AND seq IN ({', '.join('?' * len(seqs))}) "
        "ORDER BY seq DESC LIMIT ?",
        (node.feed, *seqs, history_postings_read_max),
    ) if seqs else []
    member_text = id_to_text("m", member_id)
    payments = []
    for seq, ts, raw in rows:
        line = describe_event(state, seq, ts, bytes(raw))
        if line["kind"] != "transfer":
            continue
        paid = line["who"] is not None and line["who"]["id"] == member_text
        received = line["whom"]["id"] == member_text
        if not (paid or received):
            continue
        line["direction"] = "out" if paid else "in"
        payments.append(line)
        if len(payments) == history_payments_shown:
            if seq != seqs[-1]:
                continue_from = seq
            break
    return payments, continue_from


async def member_page(request: web.Request) -> web.Response:
    node = _node(request)
    state: State = node.sequencer.state
    reference = request.match_info["reference"]
    member_id = _resolve(state, reference)
    if member_id is None:
        return _html("not_found.html", status=404, **await _frame(node), reference=reference)
    member = state.members[member_id]
    account = _account_row(node, member_id, member.name, member.role, member.active)
    payments, older = await _history(request, node, member_id)
    votes = []
    for decision in await node.store.decision_rows(node.feed, open_only=False, limit=votes_decisions_searched):
        live = state.decisions.get(decision.seq, decision)
        ballot = live.votes.get(member_id)
        if ballot is not None:
            votes.append({
                "id": decision.seq, "title": decision.title, "open": live.is_open, "outcome": live.outcome,
                "position": ballot.position,
                "options": [decision.options[i] for i in ballot.options if i < len(decision.options)],
            })
    held, orders = await member_holdings(node, member_id, limits.page_size_max)
    for row in held:
        row["cost_text"] = _amount(node, row["cost"])
    for row in orders:
        row["price_text"] = _amount(node, row["price"])
    # An amount and memo for the QR code, from the page's own GET form (no JavaScript).
    amount_text = request.query.get("amount", "").strip()[:32]
    memo = request.query.get("memo", "")[: limits.memo_chars_max]
    amount_error = None
    if amount_text:
        try:
            amount_text = format_amount(parse_amount(amount_text, state.community.unit_decimals), state.community.unit_decimals)
        except TallyError as error:
            amount_error, amount_text = str(error), ""
    origin = public_url(request)
    uri = pay_uri(origin, id_to_text("n", node.feed), account["id"], member.name, amount_text or None, memo)
    over_time = await _balances_over_time(request).account(node.feed, member_id)
    # In a thread: drawing a new code is CPU work that would otherwise hold every other request.
    svg = ""
    if member.role != "escrow":  # nobody pays an escrow
        try:
            svg = await asyncio.to_thread(qr_svg, uri)
        except segno.DataOverflowError:
            # A long memo (280 characters of 4-byte letters, percent-encoded) is past what a QR code holds.
            amount_error = "the memo is too long for a QR code; shorten it"
    return _html(
        "member.html",
        **await _frame(node),
        balance_chart=_chart_over_time(node, over_time, over_time["points"]),
        balance_sampled=over_time["sampled"],
        folded=_folded(node, over_time),
        member=account,
        admitted_seq=member.admitted_seq,
        payments=payments,
        older_payments=older,
        votes=votes,
        holdings=held,
        orders=orders,
        pay_uri=uri,
        qr_svg=Markup(svg),  # drawn by segno from our URI; nothing a member typed is in it as text
        amount=amount_text,
        memo=memo,
        amount_error=amount_error,
        node_url=origin,
    )


# ---- the operator: /node --------------------------------------------------------------------------


async def _feeds(node: Node, status: dict[str, Any]) -> list[dict[str, Any]]:
    """The feeds this node holds, with each one's last checkpoint. A checkpoint that is stored was
    verified: the author's own, or recomputed by this replica's audit before it was stored (a
    mismatch is refused, and shows as the peer's last error)."""
    rows = await node.store.query(
        "SELECT feed, name, seq, events_since_checkpoint FROM community ORDER BY feed LIMIT ?",
        (feeds_shown,),
        feeds_shown,
    )
    forked = {fork["feed"] for fork in status["forks"]}
    feeds = []
    for feed, name, seq, since in rows:
        text = id_to_text("n", bytes(feed))
        checkpoint_seq = seq - since
        checkpoint = None
        if since < seq:
            found = await node.store.query(
                "SELECT kind, bytes FROM log WHERE feed = ? AND seq = ?", (bytes(feed), checkpoint_seq), 1
            )
            if found and found[0][0] == "checkpoint":
                body = decode_event(bytes(found[0][1])).body
                assert isinstance(body, Checkpoint)
                checkpoint = {"seq": checkpoint_seq, "state_hash": id_to_text("h", body.state_hash)}
        held = status["feeds"].get(text, {})
        feeds.append({
            "id": text, "name": name, "seq": held.get("seq", seq), "head": held.get("head"),
            "own": bytes(feed) == node.feed, "forked": text in forked, "checkpoint": checkpoint,
            "since_checkpoint": since,
        })
    return feeds


async def node_page(request: web.Request) -> web.Response:
    node = _node(request)
    frame = await _frame(node)
    status = frame["node_status"]
    now_ms = clock_ms()
    peers = []
    for peer in status["peers"]:
        last_seen = peer.get("last_seen_ms")
        peers.append({**peer, "seen_ago_ms": None if not last_seen else max(0, now_ms - last_seen)})
    return _html(
        "node.html",
        **frame,
        peers=peers,
        feeds=await _feeds(node, status),
        feeds_total=len(status["feeds"]),
        forks=status["forks"],
        pending=status["pending"],
        head=status["head"],
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", community_page)
    app.router.add_get("/payments", payments_page)
    app.router.add_get("/members/{reference}", member_page)
    app.router.add_get("/node", node_page)
    app.router.add_get("/enterprises/{reference}", enterprise_page)
    app.router.add_get("/federations/{reference}", federation_page)



# ---- an enterprise: /enterprises/{ref} ------------------------------------------------------------

# Price levels shown per side of each class's order book, and the last trades shown per class.
book_levels_shown = 10
trades_shown = 10
# Open offers listed with each enterprise on `/`, and enterprises listed there.
offers_listed = 5
enterprises_listed = limits.page_size_default
# Dividends (declared, or proposed and open) listed on an enterprise's page, newest first.
dividends_shown = limits.page_size_default


def _offer_view(node: Node, offer_document: dict[str, Any]) -> dict[str, Any]:
    """An offer as /api/offers gives it, with what its progress bar needs (percent of the units)."""
    units = offer_document["units"] or 1
    return {
        **offer_document,
        "price_text": _amount(node, offer_document["price"]),
        "subscribed_percent": min(100.0, 100 * offer_document["subscribed_units"] / units),
        "min_percent": min(100.0, 100 * offer_document["min_units"] / units),
    }


def _book_view(node: Node, eid: bytes, index: int) -> dict[str, Any]:
    """One class's order book by price level and its last trades, from the API's `book_json`, with
    amounts and names for people."""
    book = book_json(node, eid, index, book_levels_shown)
    for level in (*book["bids"], *book["asks"]):
        level["price"] = _amount(node, level["price"])
    book["trades"] = book["trades"][:trades_shown]
    for trade in book["trades"]:
        trade["price_text"] = _amount(node, trade["price"])
        trade["buyer_name"] = _name_of(node, trade["buyer"])
        trade["seller_name"] = _name_of(node, trade["seller"])
    return book


def _name_of(node: Node, member_text: str) -> str | None:
    member = node.sequencer.state.members.get(id_from_text("m", member_text))
    return None if member is None else member.name


async def enterprise_page(request: web.Request) -> web.Response:
    node = _node(request)
    state: State = node.sequencer.state
    reference = request.match_info["reference"]
    try:
        eid = resolve_enterprise(node, reference)
    except TallyError:
        return _html("not_found.html", status=404, **await _frame(node), reference=reference, what="enterprise")
    document = enterprise_json(node, eid, state.shares.enterprises[eid])
    for share_class in document["classes"]:
        share_class["par_text"] = _amount(node, share_class["par"])
    holders = await cap_table(node, eid, limits.page_size_max)
    for row in holders:
        row["cost_text"] = _amount(node, row["cost"])
    offer_rows = await node.store.query(
        "SELECT key, record FROM shares WHERE feed = ? AND kind = 'offer' AND enterprise = ? ORDER BY seq DESC LIMIT ?",
        (node.feed, eid, limits.page_size_max),
        limits.page_size_max,
    )
    offers = [_offer_view(node, offer_json(node, share_value("offer", record))) for _, record in offer_rows]
    books = [
        {"class": share_class, **_book_view(node, eid, share_class["index"])}
        for share_class in document["classes"]
        if share_class["transferable"]
    ]
    return _html(
        "enterprise.html",
        dividends=_dividends(node, eid),
        **await _frame(node),
        enterprise=document,
        balance=_amount(node, document["balance"]),
        holders=holders,
        holders_max=limits.page_size_max,
        offers=offers,
        books=books,
    )


def _dividends(node: Node, eid: bytes) -> list[dict[str, Any]]:
    """The enterprise's dividends: every holders' decision whose effect declares one, newest first,
    with its outcome; a passed one was paid by the event that closed it (node/shares.py
    `apply_dividend`: pro rata by dividend weight, the remainder staying with the enterprise). From
    the decisions in memory (one pass; /api/decisions/{id} gives each one)."""
    state: State = node.sequencer.state
    found = [
        decision for decision in state.decisions.values()
        if isinstance(decision.effect, DeclareDividend) and decision.effect.enterprise == eid
        and decision.outcome in (None, "passed")
    ]
    found.sort(key=lambda decision: -decision.seq)
    return [
        {"id": decision.seq, "title": decision.title, "amount": decision.effect.amount_minor,  # type: ignore[union-attr]
         "amount_text": _amount(node, decision.effect.amount_minor),  # type: ignore[union-attr]
         "open": decision.is_open, "outcome": decision.outcome, "closed_seq": decision.closed_seq,
         "deadline_ms": decision.deadline_ms}
        for decision in found[:dividends_shown]
    ]


async def _enterprises_listed(node: Node) -> list[dict[str, Any]]:
    """The enterprises of `/`, oldest first as /api/enterprises lists them, each with its open offers."""
    shares = node.sequencer.state.shares
    found = sorted(shares.enterprises.items(), key=lambda item: item[1].registered_seq)[:enterprises_listed]
    open_offers: dict[bytes, list[dict[str, Any]]] = {}
    for seq in sorted(shares.open_offers.keys(), reverse=True)[: limits.page_size_max]:
        offer = shares.offers[seq]
        listed = open_offers.setdefault(offer.enterprise, [])
        if len(listed) < offers_listed:
            listed.append(_offer_view(node, offer_json(node, offer)))
    return [
        {"id": id_to_text("e", eid), "name": enterprise.name, "offers": open_offers.get(eid, [])}
        for eid, enterprise in found
    ]


# ---- a federation: /federations/{ref} -------------------------------------------------------------

# The federation picture: a square SVG, the federation at its centre and its members on a circle.
picture_size = 520
picture_radius = 150
child_radius = 70  # a member federation's own members, beyond it
# Widest edge (the largest settled flow), in pixels; every other edge scales by its share of it.
edge_width_max = 12.0


def _federations_layer(request: web.Request) -> Any:
    """The node's federation layer, or None when it runs without one (only `tally serve` adds it)."""
    from tallystick.federation.federations import federations_key

    return request.app.get(federations_key)


async def _federations_listed(request: web.Request) -> list[dict[str, str]] | None:
    layer = _federations_layer(request)
    if layer is None:
        return None
    state, _ = await layer.view()
    found = sorted(state.federations.values(), key=lambda f: (f.name, f.id))[: limits.page_size_max]
    return [{"id": id_to_text("x", f.id), "name": f.name, "members": len(f.members)} for f in found]


def _resolve_federation(state: Any, reference: str) -> Any:
    """A federation by id (`x_…`) or by its name, as /api/federations/{id} resolves it; None if unknown."""
    if reference.startswith("x_"):
        try:
            return state.federations.get(id_from_text("x", reference))
        except TallyError:
            return None
    named = [f for f in state.federations.values() if f.name.casefold() == reference.casefold()]
    return named[0] if len(named) == 1 else None


def federation_picture(name: str, members: list[dict[str, Any]], flows: list[dict[str, Any]],
                       children: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The federation as a node in the middle with its members on a circle around it, each member
    federation's own members (`children`) on a small arc beyond it, and the settled trade flows
    between any two drawn as edges whose width is their share of the largest flow. Numbers only:
    the template writes the names into the SVG as escaped text."""
    centre = picture_size / 2
    nodes = []
    where: dict[str, tuple[float, float]] = {}
    for index, member in enumerate(members):
        angle = 2 * math.pi * index / max(1, len(members)) - math.pi / 2
        x, y = centre + picture_radius * math.cos(angle), centre + picture_radius * math.sin(angle)
        where[member["member"]] = (x, y)
        nodes.append({"id": member["member"], "name": member["name"] or member["member"][:10] + "…", "x": x, "y": y,
                      "kind": member["kind"]})
        below = (children or {}).get(member["member"], [])
        for place, child in enumerate(below):
            # Spread outward from the member, within a quarter turn either side of its own angle.
            spread = 0.0 if len(below) == 1 else (place / (len(below) - 1) - 0.5) * math.pi / 2
            cx = x + child_radius * math.cos(angle + spread)
            cy = y + child_radius * math.sin(angle + spread)
            where[child["member"]] = (cx, cy)
            nodes.append({"id": child["member"], "name": child["name"] or child["member"][:10] + "…", "x": cx,
                          "y": cy, "kind": child["kind"], "parent_x": x, "parent_y": y})
    # A flow between communities drawn nowhere here (deeper than one level below) is not drawn.
    drawn = [flow for flow in flows if flow["from"] in where and flow["to"] in where and flow["from"] != flow["to"]]
    heaviest = max((flow["sent"] for flow in drawn), default=0) or 1
    edges = []
    for flow in drawn:
        (x1, y1), (x2, y2) = where[flow["from"]], where[flow["to"]]
        edges.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "from": flow["from"], "to": flow["to"],
                      "sent": flow["sent"], "payments": flow["payments"],
                      "width": max(1.0, edge_width_max * flow["sent"] / heaviest)})
    return {"size": picture_size, "centre": centre, "name": name, "nodes": nodes, "edges": edges}


async def federation_page(request: web.Request) -> web.Response:
    node = _node(request)
    reference = request.match_info["reference"]
    layer = _federations_layer(request)
    if layer is None:
        return _html("not_found.html", status=404, **await _frame(node), reference=reference, what="federation",
                     reason="This node runs without its federation layer (start it with `tally serve`), so it knows no federation")
    from tallystick.federation.federations import federation_json, report_json

    state, _ = await layer.view()
    federation = _resolve_federation(state, reference)
    if federation is None:
        return _html("not_found.html", status=404, **await _frame(node), reference=reference, what="federation",
                     reason="This node's view holds no federation called")
    document = federation_json(layer, state, federation)
    report = await report_json(layer, state, federation)
    names = {member["member"]: member["name"] for member in document["members"]}
    for row in report["s1_operations"]:
        names.setdefault(row["community"], row.get("name"))
    flows = report["s4_intelligence"]["trade_flows"]
    federation_text = id_to_text("x", federation.id)
    # The same rows report_json read (Federations.payments() is what /api/payments serves).
    payments = [row for row in await layer.payments() if row["federation"] == federation_text]
    settled = [row for row in payments if row["status"] == "settled"]
    federation_names = {federation_text: federation.name}
    pending = [_payment_view(request, layer, row, federation_names) for row in report["s2_coordination"]["payments"]]
    decimals = federation.charter.unit_decimals
    positions = []
    for row in report["s3_control"]:
        position = row["position"]
        # A member federation's bound is its capacity, either way; a community's, its trade limits.
        debit, ceiling = ((row["capacity_allocated"], row["capacity_allocated"]) if row["kind"] == "federation"
                          else (row["trade_debit_limit"], row["trade_credit_ceiling"]))
        shown = {"balance": "unknown", "debit_floor": format_amount(-debit, decimals),
                 "credit_ceiling": format_amount(ceiling, decimals)}
        if position is not None:
            shown["balance"] = format_amount(position, decimals)
            shown["bar"] = _bar(position, debit, ceiling)
        positions.append({**row, "shown": shown, "capacity_text": format_amount(row["capacity_allocated"], decimals)})
    children = {}
    for member in document["members"]:
        child = state.federations.get(id_from_text("x", member["member"])) if member["kind"] == "federation" else None
        if child is not None:
            children[member["member"]] = federation_json(layer, state, child)["members"]
            for grandchild in children[member["member"]]:
                names.setdefault(grandchild["member"], grandchild["name"])
    parents = [{**row, "name": state.federations[id_from_text("x", row["parent"])].name,
                "position_text": "unknown" if row["position"] is None else format_amount(row["position"], decimals),
                "capacity_text": format_amount(row["capacity"], decimals)}
               for row in report["position_in_parents"]]
    return _html(
        "federation.html",
        **await _frame(node),
        federation=document,
        report=report,
        names=names,
        picture=federation_picture(federation.name, document["members"], flows, children),
        parents=parents,
        trade=trade_chart(settled, clock_ms(), names),
        settled_total=len(settled),
        pending=pending,
        positions=positions,
    )


# ---- payments between communities: /payments, and on each federation's page ----------------------

# The states a payment across goes through (federation/payments.py), in the order a person reads them.
payment_statuses = ("pending", "accepted", "settled", "rejected", "returned", "expired")
payments_per_page = limits.page_size_default


def _ledger_of(request: web.Request, layer: Any, feed: bytes) -> State | None:
    """The ledger of community `feed` as this node holds it: its own, or a replica's; None if not held
    (as report_json finds them)."""
    node = _node(request)
    if feed == node.feed:
        return node.sequencer.state
    replicator = layer.replicator
    replica = replicator.replicas.get(feed) if replicator is not None else None
    return None if replica is None else replica.state


def _payment_view(request: web.Request, layer: Any, row: dict[str, Any], federation_names: dict[str, str]) -> dict[str, Any]:
    """A row of /api/payments with names and amounts for people: each side's community and member
    by the name its ledger gives (when this node holds it), the amount in the payer community's unit
    and the amount received in the payee community's."""
    view = {**row, "federation_name": federation_names.get(row["federation"])}
    for side, community_key, member_key, amount_key in (("from", "from_community", "payer", "amount"),
                                                         ("to", "to_community", "to_member", "received")):
        ledger = _ledger_of(request, layer, id_from_text("n", row[community_key]))
        member = None if ledger is None else ledger.members.get(id_from_text("m", row[member_key]))
        view[f"{side}_community_name"] = None if ledger is None else ledger.community.name
        view[f"{side}_member_name"] = None if member is None else member.name
        view[f"{side}_local"] = ledger is not None and ledger.feed == _node(request).feed
        amount = row[amount_key]
        if amount is None:
            view[f"{amount_key}_text"] = None
        elif ledger is None:
            view[f"{amount_key}_text"] = f"{amount} minor units"
        else:
            unit = ledger.community
            view[f"{amount_key}_text"] = f"{format_amount(amount, unit.unit_decimals)} {unit.unit_code}"
    return view


async def _federation_names(layer: Any) -> dict[str, str]:
    state, _ = await layer.view()
    return {id_to_text("x", f.id): f.name for f in state.federations.values()}


async def payments_page(request: web.Request) -> web.Response:
    """Every payment across communities this node holds (as /api/payments lists them, from the same
    `Federations.payments()`), newest first, by state and by federation, 100 to a page."""
    node = _node(request)
    layer = _federations_layer(request)
    if layer is None:
        return _html("not_found.html", status=404, **await _frame(node), reference="/payments", what="payments")
    rows = await layer.payments()
    federation_names = await _federation_names(layer)
    status = request.query.get("status", "")
    status = status if status in payment_statuses else ""
    federation = request.query.get("federation", "")
    federation = federation if federation in federation_names else ""
    in_federation = [row for row in rows if not federation or row["federation"] == federation]
    counts = {name: sum(1 for row in in_federation if row["status"] == name) for name in payment_statuses}
    shown = [row for row in in_federation if not status or row["status"] == status]
    pages = max(1, math.ceil(len(shown) / payments_per_page))
    page = _page_number(request, pages)
    start = (page - 1) * payments_per_page
    query = {key: value for key, value in (("status", status), ("federation", federation)) if value}
    return _html(
        "payments.html",
        **await _frame(node),
        payments=[_payment_view(request, layer, row, federation_names) for row in shown[start : start + payments_per_page]],
        shown_total=len(shown),
        total=len(in_federation),
        counts=counts,
        statuses=payment_statuses,
        status_filter=status,
        federation=federation,
        federation_name=federation_names.get(federation),
        page=page,
        pages=pages,
        query=urllib.parse.urlencode(query),
        status_query={name: urllib.parse.urlencode({**query, "status": name}) for name in payment_statuses},
        all_query=urllib.parse.urlencode({key: value for key, value in query.items() if key != "status"}),
    )
