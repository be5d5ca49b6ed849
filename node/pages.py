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
import itertools
import math
import urllib.parse
from typing import Any

import jinja2
import segno
from aiohttp import web
from markupsafe import Markup, escape
from tallystick.ledger.accounts import (
    credit_ceiling,
    debit_limit,
    find_member,
    member_for_key,
    people,
    people_roles,
)
from tallystick.ledger.decisions import tally, winners
from tallystick.ledger.model import Decision, State
from tallystick.ledger.money import (
    format_amount,
    format_ceiling,
    format_debit_limit,
    format_duration,
    format_money,
    parse_amount,
)
from tallystick.ledger.payments import payment_id
from tallystick.ledger.shares import vote_weights
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_intent
from tallystick.protocol.errors import MalformedError, TallyError
from tallystick.protocol.events import (
    Act,
    AdmitMember,
    CancelOrder,
    CapacityLimits,
    Checkpoint,
    DecisionClosed,
    DeclareDividend,
    Delegate,
    EnterprisePay,
    FederationAct,
    Genesis,
    Holders,
    KeyRotated,
    OfferClosed,
    OpenOffer,
    PlaceOrder,
    Propose,
    RegisterEnterprise,
    RemoveMember,
    SetLimits,
    Subscribe,
    TradeLimits,
    Transfer,
    TransferShares,
    TreasuryPay,
    Undelegate,
    Vote,
    WithdrawalDue,
    WithdrawShares,
)
from tallystick.protocol.federation import (
    Charter,
    FederationProposal,
    FederationVote,
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
)
from tallystick.protocol.ids import id_from_text, id_to_text

from . import params
from .history import History
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
# Pending payments across read for a member's page, to find theirs (a community rarely has more
# than a few waiting: each is answered within seconds, or expires in a day).
payments_pending_read_max = limits.page_size_max * 10
# QR codes kept drawn (by URI): segno takes ~50 ms of pure Python to choose a code's mask, so a
# member's page is drawn once and served from here after; a few hundred kilobytes at most.
qr_codes_cached = 256
# What each role of account is, in words (system accounts are not people: docs/pages.md).
role_words = {
    "member": "member", "admin": "member and admin",
    "enterprise": "an enterprise's account", "escrow": "the community's escrow account",
    "treasury": "the community's treasury", "trade": "the community's account of trade with a federation",
}
# Decision types in words.
decision_type_words = {"proposal": "proposal", "poll": "poll", "consent": "decision by consent"}
# System accounts listed on `/` (one per enterprise, the escrow, the treasury, one per federation).
system_accounts_listed = limits.page_size_default
# The order system accounts are listed in on `/`.
system_role_order = {"treasury": 0, "escrow": 1, "trade": 2, "enterprise": 3}
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


def trade_chart(settled: list[dict[str, Any]], end_ms: int, names: dict[str, str | None],
                money: Any = None) -> dict[str, Any] | None:
    """Settled payments between communities per time bucket (by the time they were sent), stacked
    by pair of communities (from, to): a bar's height is the number of payments; each part's title
    says the pair, the count and the amount sent (in the sender's unit, so amounts of different
    units are never added; `money(community, minor)` writes it in that community's unit). The oldest
    buckets are dropped past `trade_buckets_max`."""
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
                          "sent_text": money(pair[0], cell["sent"]) if money is not None else str(cell["sent"]),
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
    """A bare number in the community's unit ('12.50'), for a plot's axis or a form's field, where
    the unit is written once beside it."""
    return format_amount(minor, node.sequencer.state.community.unit_decimals)


def _money(node: Node, minor: int) -> str:
    """An amount as a person reads it: '12.50 HRS' (node/money.py `format_money`)."""
    community = node.sequencer.state.community
    return format_money(minor, community.unit_decimals, community.unit_code)


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
        "balance": _money(node, account.balance_minor),
        "debit_limit": _money(node, debit),
        # The lowest balance allowed: "-50.00 HRS", and "0.00 HRS", not "-0.00"; "no ceiling" for none.
        "debit_floor": format_debit_limit(debit, state.community.unit_decimals, state.community.unit_code),
        "credit_ceiling": format_ceiling(ceiling, state.community.unit_decimals, state.community.unit_code),
        "bar": _bar(account.balance_minor, debit, ceiling),
    }


def _system_account_words(state: State, account: bytes, role: str) -> str:
    """What one of the community's own accounts is for, in words."""
    if role == "enterprise":
        return "the enterprise's own account: share sales, its payments, dividends"
    if role == "escrow":
        return "holds the credit of subscriptions and buy orders until they are allotted, filled or come back"
    if role == "treasury":
        return "the community's treasury: the levy on payments, spent by the members' decisions"
    if role == "trade":
        return "the other side of every payment between this community and others in a federation"
    return role_words.get(role, role)


def _name(state: State, member_id: bytes) -> dict[str, str]:
    member = state.members.get(member_id)
    text = id_to_text("m", member_id)
    return {"id": text, "name": member.name if member is not None else text[:12] + "…"}


def describe_event(state: State, seq: int, ts: int, raw: bytes, elsewhere: Any = None) -> dict[str, Any]:
    """One event as a line of activity in plain words: who did what, as parts a template writes out
    (each escaped: ("text", words), ("member", {id, name}), ("enterprise", {id, name})), and the
    memo. `elsewhere(community, member)` names the other side of a payment across when the page
    can (node names only otherwise)."""
    event = decode_event(raw)
    body = event.body
    unit = state.community
    line: dict[str, Any] = {"seq": seq, "ts": ts, "kind": type(body).__name__, "who": None, "whom": None,
                            "amount": None, "memo": None, "text": None, "parts": []}

    def money(minor: int) -> str:
        return format_money(minor, unit.unit_decimals, unit.unit_code)

    def place(community: bytes, member: bytes | None = None) -> list[tuple[str, Any]]:
        community_name, member_name = elsewhere(community, member) if elsewhere is not None else (None, None)
        where = community_name or "another community"
        if member is None:
            return [("text", where)]
        return [("text", member_name or id_to_text("m", member)[:12] + "…"), ("text", " of "), ("text", where)]

    def decision_words(number: int) -> list[tuple[str, Any]]:
        found = state.decisions.get(number)
        return [("text", f"decision #{number}")] + ([("text", " “"), ("text", found.title), ("text", "”")] if found else [])

    parts: list[tuple[str, Any]] = []
    if isinstance(body, Act):
        intent = decode_intent(body.intent)
        action = intent.action
        signer = member_for_key(state, intent.key)
        who = _name(state, signer) if signer is not None else None
        line["who"] = who
        line["kind"] = action.__struct_config__.tag
        subject: list[tuple[str, Any]] = [("member", who)] if who is not None else [("text", "Someone")]
        if isinstance(action, Transfer):
            line["whom"] = _name(state, action.to)
            line["amount"] = money(action.amount_minor)
            line["memo"] = action.memo
            parts = [*subject, ("text", " paid "), ("member", line["whom"]), ("text", " "), ("amount", line["amount"])]
        elif isinstance(action, AdmitMember):
            line["whom"] = _name(state, action.member)
            parts = [*subject, ("text", " admitted "), ("member", line["whom"])]
        elif isinstance(action, RemoveMember):
            line["whom"] = _name(state, action.member)
            parts = [*subject, ("text", " closed the account of "), ("member", line["whom"])]
        elif isinstance(action, SetLimits):
            line["whom"] = _name(state, action.account)
            parts = [*subject, ("text", " set the limits of "), ("member", line["whom"])]
        elif isinstance(action, Propose):
            line["text"] = action.title
            parts = [*subject, ("text", " proposed “"), ("text", action.title), ("text", "”")]
        elif isinstance(action, Vote):
            line["text"] = f"decision {action.decision}"
            parts = [*subject, ("text", " voted on "), *decision_words(action.decision)]
        elif isinstance(action, Delegate):
            line["whom"] = _name(state, action.to)
            line["text"] = action.topic
            parts = [*subject, ("text", " gave their vote to "), ("member", line["whom"])] + (
                [("text", " on "), ("text", action.topic)] if action.topic else [])
        elif isinstance(action, Undelegate):
            line["text"] = action.topic
            parts = [*subject, ("text", " took back their vote")] + ([("text", " on "), ("text", action.topic)]
                                                                        if action.topic else [])
        elif isinstance(action, RegisterEnterprise):
            parts = [*subject, ("text", " registered the enterprise "), ("text", action.name)]
        elif isinstance(action, OpenOffer):  # and its period form
            parts = [*subject, ("text", " offered "), *_shares_of(state, action.enterprise, action.share_class,
                                                                   action.units),
                     ("text", f" at {money(action.price_minor)} each")]
        elif isinstance(action, Subscribe):
            offer = state.shares.offers.get(action.offer)
            parts = [*subject, ("text", " subscribed to ")] + (
                _shares_of(state, offer.enterprise, offer.share_class, action.units) if offer is not None
                else [("text", f"{action.units} shares")]) + [("text", f" (offer #{action.offer})")]
        elif isinstance(action, PlaceOrder):
            parts = [*subject, ("text", f" placed an order to {action.side} "),
                     *_shares_of(state, action.enterprise, action.share_class, action.units),
                     ("text", f" at {money(action.price_minor)} each")]
        elif isinstance(action, CancelOrder):
            parts = [*subject, ("text", f" cancelled their order #{action.order}")]
        elif isinstance(action, TransferShares):
            parts = [*subject, ("text", " gave "), *_shares_of(state, action.enterprise, action.share_class, action.units),
                     ("text", " to "), ("member", _name(state, action.to))]
        elif isinstance(action, WithdrawShares):
            parts = [*subject, ("text", " asked to withdraw "),
                     *_shares_of(state, action.enterprise, action.share_class, action.units), ("text", " at par")]
        elif isinstance(action, EnterprisePay):
            line["whom"] = _name(state, action.to)
            line["amount"] = money(action.amount_minor)
            line["memo"] = action.memo
            parts = [_enterprise_part(state, action.enterprise), ("text", " paid "), ("member", line["whom"]),
                     ("text", " "), ("amount", line["amount"])]
        elif isinstance(action, FederationAct):
            parts = [*subject, ("text", " "), *_federation_words(action.body), ("text", " for the community")]
        else:
            parts = [*subject, ("text", ": " + plain_kinds.get(line["kind"], line["kind"].replace("_", " ")))]
    elif isinstance(body, DecisionClosed):
        line["kind"] = "decision_closed"
        line["text"] = f"decision {body.decision}: {body.outcome}"
        parts = [("text", "Closed "), *decision_words(body.decision), ("text", ": " + body.outcome.replace("_", " "))]
    elif isinstance(body, Checkpoint):
        line["kind"] = "checkpoint"
        parts = [("muted", "The node checked and sealed the community's state (a checkpoint)")]
    elif isinstance(body, Genesis):
        line["kind"] = "genesis"
        line["text"] = body.name
        parts = [("text", "The community "), ("text", body.name), ("text", " began")]
    elif isinstance(body, KeyRotated):
        line["kind"] = "key_rotated"
        parts = [("text", "The node's signing key was replaced (its recovery key signed the change)")]
    elif isinstance(body, PaymentOut):
        line["kind"] = "payment_sent"
        line["who"] = _name(state, body.payer)
        line["amount"] = money(body.amount_minor)
        line["memo"] = body.memo
        parts = [("member", line["who"]), ("text", " paid "), *place(body.to_community, body.to_member),
                 ("text", " "), ("amount", line["amount"])]
    elif isinstance(body, PaymentAccepted):
        line["kind"] = "payment_accepted"
        line["whom"] = _name(state, body.to_member)
        line["amount"] = money(body.amount_minor)
        parts = [("member", line["whom"]), ("text", " received "), ("amount", line["amount"]), ("text", " from "),
                 *place(body.from_community)]
    elif isinstance(body, PaymentRejected):
        line["kind"] = "payment_rejected"
        parts = [("text", "Refused a payment from "), *place(body.from_community),
                 ("text", " (" + body.reason.replace("_", " ") + ")")]
    elif isinstance(body, PaymentSettled):
        line["kind"] = "payment_settled"
        parts = [("text", "A payment to another community arrived there: settled")]
    elif isinstance(body, PaymentReturned):
        line["kind"] = "payment_returned"
        parts = [("text", "A payment to another community was refused there and came back to its payer")]
    elif isinstance(body, PaymentCancel):
        line["kind"] = "payment_cancel"
        parts = [("text", "Asked "), *place(body.to_community), ("text", " to refuse a payment not answered in time")]
    elif isinstance(body, OfferClosed):
        line["kind"] = "offer_closed"
        offer = state.shares.offers.get(body.offer)
        parts = [("text", f"Share offer #{body.offer}")] + (
            [("text", " of "), _enterprise_part(state, offer.enterprise)] if offer is not None else []) + [
            ("text", " closed: " + ("shares allotted" if body.outcome == "allotted" else "target not reached, money back"))]
    elif isinstance(body, WithdrawalDue):
        line["kind"] = "withdrawal_due"
        parts = [("text", f"Withdrawal of shares #{body.withdrawal}: {body.outcome}")]
    elif isinstance(body, TradeLimits):
        line["kind"] = "trade_limits"
        parts = [("text", "The federation's limits on this community's trade with the others took effect")]
    elif isinstance(body, CapacityLimits):
        line["kind"] = "capacity_limits"
        parts = [("text", "The community's share of its federation's room for trade took effect")]
    elif isinstance(body, (Charter, FederationProposal, FederationVote)):
        tag = body.__struct_config__.tag
        line["kind"] = tag if isinstance(tag, str) else type(body).__name__
        parts = [("text", "The community "), *_federation_words(body)]
    else:
        tag = body.__struct_config__.tag
        line["kind"] = tag if isinstance(tag, str) else type(body).__name__
        parts = [("text", plain_kinds.get(line["kind"], line["kind"].replace("_", " ")).capitalize())]
    line["parts"] = parts
    return line


def _federation_words(body: Any) -> list[tuple[str, Any]]:
    """A federation body (charter, proposal, ballot) as words a member reads."""
    if isinstance(body, Charter):
        return [("text", "adopted the charter of the federation "), ("text", body.name)]
    if isinstance(body, FederationProposal):
        return [("text", "proposed “"), ("text", body.title), ("text", "” in a federation")]
    if isinstance(body, FederationVote):
        return [("text", "voted in a federation" if body.proposal is not None
                 else "abstained in a federation's round of decisions")]
    tag = body.__struct_config__.tag
    return [("text", str(tag).replace("_", " "))]


def _decision_view(node: Node, decision: Decision, now_ms: int) -> dict[str, Any]:
    """A decision with the API's live tally (the same `tally` /api/decisions serves)."""
    state: State = node.sequencer.state
    live = state.decisions.get(decision.seq, decision)
    result = live.result if live.result is not None else tally(state, live)
    counted = sum(result.positions.values()) or 1
    holders = isinstance(live.electorate, Holders)
    enterprise = _enterprise_part(state, live.electorate.enterprise)[1] if holders else None  # type: ignore[union-attr]
    return {
        "id": decision.seq,
        "type": decision.decision_type,
        "type_words": ("holders' " if holders else "") + decision_type_words.get(decision.decision_type,
                                                                                 decision.decision_type),
        "holders": holders,
        "enterprise": enterprise,
        "people": people_in_tally(state, live, result),
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


def people_in_tally(state: State, decision: Decision, result: Any) -> dict[str, int]:
    """How many people a tally counts, however their votes are weighted: for a holders' decision,
    the holders with a vote and how many of them voted (the tally's `electorate` and `participants`
    count votes, one per share); for the members', the tally's own counts, which are people. From
    node/decisions.py's `electorate_people` and `participants_people`; a result stored before
    those fields existed reads them as 0, and then they are counted here from the ballots."""
    electorate = getattr(result, "electorate_people", 0)
    voted = getattr(result, "participants_people", 0)
    if electorate or not result.electorate:
        return {"of": electorate, "voted": voted}
    if not isinstance(decision.electorate, Holders):
        return {"of": result.electorate, "voted": result.participants}
    if decision.electorate.enterprise not in state.shares.enterprises:
        return {"of": 0, "voted": 0}
    weights = vote_weights(state, decision.electorate.enterprise)
    holders = {holder for holder, weight in weights.items() if weight > 0}
    return {"of": len(holders), "voted": sum(1 for voter in decision.votes if voter in holders)}


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
    """The distribution of the balances of the active members who are people (not the community's
    own accounts: an enterprise's or the escrow's balance is not a person's). Read from the state the node holds in
    memory (one pass over the members, ~5 ms for 10,000): two SQL scans with a join cost 5x that."""
    state: State = node.sequencer.state
    accounts = state.accounts
    balances = [accounts[i].balance_minor for i, member in state.members.items()
                if member.active and member.role in people_roles and i in accounts]
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
    # People in name order from the members_by_name index alone (joining accounts here would cost a
    # lookup per skipped row); every member has an account, and its balance is in the state. The
    # community's system accounts (enterprises, escrow, treasury, trade) are not people: they are
    # counted and listed apart, from one pass over the members in memory (~5 ms for 10,000).
    system = [(member_id, member) for member_id, member in state.members.items() if member.role not in people_roles]
    people_total = len(state.members) - len(system)
    pages = max(1, math.ceil(people_total / members_per_page))
    page = _page_number(request, pages)
    rows = await node.store.query(
        "SELECT id, name, role, active FROM members WHERE feed = ? AND role IN ('member', 'admin') "
        "ORDER BY name COLLATE NOCASE, id LIMIT ? OFFSET ?",
        (feed, members_per_page, (page - 1) * members_per_page),
        members_per_page,
    )
    system.sort(key=lambda item: (system_role_order.get(item[1].role, len(system_role_order)), item[1].name.casefold()))
    system_accounts = [
        {**_account_row(node, member_id, member.name, member.role, member.active),
         "what": _system_account_words(state, member_id, member.role)}
        for member_id, member in system[:system_accounts_listed]
        if member_id in state.accounts
    ]
    members = [
        _account_row(node, bytes(member_id), name, role, bool(active))
        for member_id, name, role, active in rows
        if bytes(member_id) in state.accounts
    ]
    tail = await node.store.query(
        "SELECT seq, ts, bytes FROM log WHERE feed = ? ORDER BY seq DESC LIMIT ?", (feed, activity_events), activity_events
    )
    elsewhere = _Elsewhere(request)  # names the other side of payments across, from the ledgers held
    activity = [describe_event(state, seq, ts, bytes(raw), elsewhere) for seq, ts, raw in tail]
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
        members_total=people_total,
        active_members=people(state),
        system_accounts=system_accounts,
        system_total=len(system),
        page=page,
        pages=pages,
        activity=activity,
        decisions=decisions,
        more_decisions=len(open_rows) > open_decisions_shown,
        treasury=treasury,
        levy=None if levy is None else {"rate_percent": levy.rate_bp / 100, "min": _money(node, levy.min_minor),
                                        "max": _money(node, levy.max_minor)},
        histogram=_histogram(node),
        enterprises=await _enterprises_listed(node),
        federations=await _federations_listed(request),
        default_debit_limit=format_debit_limit(state.community.debit_limit_minor, state.community.unit_decimals,
                                               state.community.unit_code),
        default_credit_ceiling=format_ceiling(state.community.credit_ceiling_minor, state.community.unit_decimals,
                                              state.community.unit_code),
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


# ---- a member's history: every change of their balance, and what is held for them ---------------

# Kinds of event in words a member reads, for a change the page has no sentence of its own for.
plain_kinds = {
    "admit": "joined the community", "remove": "account closed", "set_role": "role changed",
    "set_limits": "limits changed", "set_default_limits": "the community's limits changed",
    "register_enterprise": "enterprise registered", "open_offer": "share offer opened",
    "open_offer_period": "share offer opened", "transfer_shares": "shares given",
    "withdraw_shares": "shares withdrawn", "federation": "a federation act of the community",
    "decision_closed": "a decision closed", "genesis": "the community began",
    "payment_settled": "a payment to another community was settled",
    "checkpoint": "a checkpoint", "key_rotated": "the node's key changed",
}


def _person(state: State, account: bytes) -> tuple[str, dict[str, str]]:
    return ("member", _name(state, account))


def _enterprise_part(state: State, enterprise: bytes) -> tuple[str, dict[str, str]]:
    found = state.shares.enterprises.get(enterprise)
    text = id_to_text("e", enterprise)
    return ("enterprise", {"id": text, "name": found.name if found is not None else text[:12] + "…"})


def _shares_of(state: State, enterprise: bytes, share_class: int, units: int) -> list[tuple[str, Any]]:
    """'8 Customer shares of Bakery' as parts (the class and the enterprise are names members typed)."""
    found = state.shares.enterprises.get(enterprise)
    class_name = found.classes[share_class].name if found is not None and share_class < len(found.classes) else "?"
    named_shares = class_name.casefold().endswith(("share", "shares"))  # "Customer shares": not "shares shares"
    noun = "" if named_shares else " share" + ("" if units == 1 else "s")
    return [("text", f"{units} "), ("text", class_name), ("text", noun + " of "), _enterprise_part(state, enterprise)]


def describe_change(state: State, account: bytes, seq: int, raw: bytes, change_minor: int,
                    elsewhere: Any = None) -> dict[str, Any]:
    """Why event `seq` changed `account`'s balance by `change_minor`, as parts a template writes out
    (each escaped): ("text", words), ("member", {id, name}), ("enterprise", {id, name}); and the
    memo, if the event carries one, and whether the change is credit held (in escrow, or a payment
    across waiting for its answer) rather than spent. `elsewhere(community, member)` names the
    other side of a payment across, (community name or None, member name or None)."""
    event = decode_event(raw)
    body = event.body
    parts: list[tuple[str, Any]] = []
    memo = None
    held = False
    unit = state.community
    holder = state.members.get(account)
    is_escrow = holder is not None and holder.role == "escrow"  # it holds others' credit, not its own

    def money(minor: int) -> str:
        return format_money(minor, unit.unit_decimals, unit.unit_code)

    def other_side(community: bytes, member: bytes | None) -> list[tuple[str, Any]]:
        community_name, member_name = elsewhere(community, member) if elsewhere is not None else (None, None)
        place = community_name or id_to_text("n", community)[:12] + "…"
        if member is None:
            return [("text", place)]
        return [("text", member_name or id_to_text("m", member)[:12] + "…"), ("text", " of "), ("text", place)]

    if isinstance(body, Act):
        intent = decode_intent(body.intent)
        action = intent.action
        signer = member_for_key(state, intent.key)
        kind = action.__struct_config__.tag
        if isinstance(action, Transfer):
            memo = action.memo or None
            if signer == account:
                parts = [("text", "Paid "), _person(state, action.to)]
                if -change_minor > action.amount_minor:
                    parts.append(("text", f" (and the levy of {money(-change_minor - action.amount_minor)} to the treasury)"))
            elif action.to == account:
                parts = [("text", "From "), _person(state, signer)] if signer is not None else [("text", "Received")]
            else:
                parts = [("text", "Levy on a payment from ")] + ([_person(state, signer)] if signer else []) + [
                    ("text", " to "), _person(state, action.to)]
        elif isinstance(action, EnterprisePay):
            memo = action.memo or None
            if action.enterprise == account:
                parts = [("text", "Paid "), _person(state, action.to)]
            else:
                parts = [("text", "From "), _enterprise_part(state, action.enterprise)]
        elif isinstance(action, Subscribe):
            offer = state.shares.offers.get(action.offer)
            if offer is None:
                parts = [("text", f"Subscription to offer #{action.offer}")]
            elif signer == account:
                held = offer.outcome is None
                if held:
                    outcome = ", held until it closes)"
                elif offer.outcome == "allotted":
                    outcome = f": shares allotted at event #{offer.closed_seq})"
                else:
                    outcome = f": it did not go ahead, and the money came back at event #{offer.closed_seq})"
                parts = [("text", "Held in escrow for your subscription to " if held else "Subscribed to "),
                         *_shares_of(state, offer.enterprise, offer.share_class, action.units),
                         ("text", f" (offer #{offer.seq}" + outcome)]
            else:
                parts = [("text", "Subscription of "), _person(state, signer) if signer else ("text", "a member"),
                         ("text", f" to offer #{offer.seq} of "), _enterprise_part(state, offer.enterprise)]
        elif isinstance(action, PlaceOrder) and is_escrow:
            parts = [("text", f"Order #{seq} of "), _person(state, signer) if signer else ("text", "a member"),
                     ("text", f" to {action.side} shares of "), _enterprise_part(state, action.enterprise),
                     ("text", ": the price held, or paid to the sellers")]
        elif isinstance(action, PlaceOrder):
            resting = state.shares.orders.get(seq)
            if signer == account and action.side == "buy":
                held = resting is not None
                parts = [("text", f"Your buy order #{seq}: "),
                         *_shares_of(state, action.enterprise, action.share_class, action.units),
                         ("text", f" at up to {money(action.price_minor)} a share")]
                if held:
                    parts.append(("text", f"; {money(resting.reserved_minor)} held in escrow while "
                                          f"{resting.units} rest" + ("s" if resting.units == 1 else "")))
            elif signer == account:
                parts = [("text", f"Sold with your sell order #{seq}: "),
                         *_shares_of(state, action.enterprise, action.share_class, action.units),
                         ("text", f" offered at {money(action.price_minor)} or more")]
            elif change_minor > 0 and action.side == "buy":
                parts = [("text", "Sold shares of "), _enterprise_part(state, action.enterprise), ("text", " to "),
                         _person(state, signer) if signer else ("text", "a buyer")]
            else:
                parts = [("text", "Bought shares of "), _enterprise_part(state, action.enterprise), ("text", " from "),
                         _person(state, signer) if signer else ("text", "a seller")]
        elif isinstance(action, CancelOrder):
            parts = [("text", f"Order #{action.order} cancelled: what was held for it came back")]
        elif isinstance(action, AdmitMember) and action.member == account:
            parts = [("text", "Joined "), ("text", state.community.name)]
        else:
            parts = [("text", plain_kinds.get(kind, kind.replace("_", " ")).capitalize())]
    elif isinstance(body, PaymentOut):
        memo = body.memo or None
        pending = body.payer == account and payment_id(event) in state.payments.pending
        held = pending
        if body.payer == account:
            parts = [("text", "Paid "), *other_side(body.to_community, body.to_member),
                     ("text", " (across communities" + (", held until they answer)" if pending else ")"))]
        else:
            parts = [("text", "A payment to "), *other_side(body.to_community, None), ("text", " by "),
                     _person(state, body.payer)]
    elif isinstance(body, PaymentAccepted):
        if body.to_member == account:
            parts = [("text", "From "), *other_side(body.from_community, elsewhere_payer(elsewhere, body)),
                     ("text", " (across communities)")]
        else:
            parts = [("text", "A payment from "), *other_side(body.from_community, None), ("text", " to "),
                     _person(state, body.to_member)]
    elif isinstance(body, PaymentReturned):
        parts = [("text", "A payment to another community came back: it was refused")]
    elif isinstance(body, OfferClosed):
        offer = state.shares.offers.get(body.offer)
        if offer is None:
            parts = [("text", f"Offer #{body.offer} closed")]
        elif account == offer.enterprise:
            parts = [("text", f"Offer #{offer.seq} allotted: the price of the shares sold")]
        elif is_escrow:
            parts = [("text", f"Offer #{offer.seq} of "), _enterprise_part(state, offer.enterprise),
                     ("text", " closed: the subscriptions' credit went to the enterprise and back to the subscribers"
                      if body.outcome == "allotted" else " closed: the subscriptions' credit went back to the subscribers")]
        elif body.outcome == "refunded":
            parts = [("text", f"Offer #{offer.seq} of "), _enterprise_part(state, offer.enterprise),
                     ("text", " did not reach its target: your subscription came back from escrow")]
        else:
            subscription = offer.subscriptions.get(account)
            allotted = subscription.allotted if subscription is not None else 0
            parts = [("text", f"Offer #{offer.seq} allotted: you got "),
                     *_shares_of(state, offer.enterprise, offer.share_class, allotted),
                     ("text", "; the credit for the rest came back" if change_minor > 0 else "")]
    elif isinstance(body, DecisionClosed):
        decision = state.decisions.get(body.decision)
        effect = decision.effect if decision is not None else None
        if isinstance(effect, DeclareDividend):
            if account == effect.enterprise:
                parts = [("text", f"Dividend paid to the holders (decision #{body.decision})")]
            else:
                parts = [("text", "Dividend from "), _enterprise_part(state, effect.enterprise),
                         ("text", f" (decision #{body.decision})")]
        elif isinstance(effect, TreasuryPay):
            memo = effect.memo or None
            parts = [("text", f"From the treasury (decision #{body.decision}: "), ("text", decision.title), ("text", ")")] \
                if effect.to == account else [("text", f"Paid by the treasury (decision #{body.decision})")]
        else:
            parts = [("text", f"Decision #{body.decision} closed")]
    elif isinstance(body, WithdrawalDue):
        withdrawal = state.shares.withdrawals.get(body.withdrawal)
        if withdrawal is not None and account == withdrawal.holder:
            parts = [("text", "Withdrawn at par: "),
                     *_shares_of(state, withdrawal.enterprise, withdrawal.share_class, withdrawal.units)]
        else:
            parts = [("text", f"Withdrawal #{body.withdrawal} paid")]
    else:
        tag = body.__struct_config__.tag
        kind = tag if isinstance(tag, str) else type(body).__name__
        parts = [("text", plain_kinds.get(kind, kind.replace("_", " ")).capitalize())]
    return {"parts": parts, "memo": memo, "held": held}


def elsewhere_payer(elsewhere: Any, body: PaymentAccepted) -> bytes | None:
    """The payer of a payment across received, when the page's lookup knows it (else None)."""
    finder = getattr(elsewhere, "payer_of", None)
    return finder(body.payment) if finder is not None else None


async def _history(request: web.Request, node: Node, member_id: bytes) -> tuple[list[dict[str, Any]], int | None]:
    """Every change of the member's balance, newest first, before the `before` seq of the query (a
    page of older ones), and the seq to continue from (None: nothing older). From the member's
    postings (node/history.py), each with its change and the balance after it, joined with the log
    (every kind of event: payments, payments across, subscriptions and orders held in escrow,
    dividends, refunds), so the changes listed add up to the balance."""
    state: State = node.sequencer.state
    before = _query_number(request, "before")
    if before is not None:
        before = max(1, before)
    changes, continue_from = await _balances_over_time(request).changes_newest_first(
        node.feed, member_id, before, history_payments_shown)
    seqs = [seq for seq, _, _, _ in changes]
    rows = await node.store.query(
        f"SELECT seq, kind, bytes FROM log WHERE feed = ? AND seq IN ({', '.join('?' * len(seqs))}) LIMIT ?",
        (node.feed, *seqs, len(seqs)),
        len(seqs),
    ) if seqs else []
    raw_of = {seq: bytes(raw) for seq, _, raw in rows}
    elsewhere = _Elsewhere(request)
    if any(kind == "payment_accepted" for _, kind, _ in rows):  # only then is a payer looked up
        await elsewhere.load()
    unit = state.community
    lines = []
    for seq, ts, change, balance in changes:
        line = {"seq": seq, "ts": ts, "change_minor": change, "balance_minor": balance,
                "change": ("+" if change > 0 else "") + format_money(change, unit.unit_decimals, unit.unit_code),
                "balance": format_money(balance, unit.unit_decimals, unit.unit_code),
                "direction": "out" if change < 0 else ("in" if change > 0 else "none")}
        raw = raw_of.get(seq)
        line.update(describe_change(state, member_id, seq, raw, change, elsewhere) if raw is not None
                    else {"parts": [("text", "an event this node no longer holds")], "memo": None, "held": False})
        lines.append(line)
    return lines, continue_from


class _Elsewhere:
    """Names of the other side of payments across, from the ledgers this node holds (its replicas'),
    and who paid a payment received, from the federation layer's payments (/api/payments's rows)."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.layer = _federations_layer(request)
        self.payers: dict[str, bytes] = {}

    async def load(self) -> None:
        if self.layer is None:
            return
        for row in await self.layer.payments():  # as /api/payments: at most `federation_events_max`
            self.payers[row["id"]] = id_from_text("m", row["payer"])

    def payer_of(self, payment: bytes) -> bytes | None:
        return self.payers.get(id_to_text("h", payment)) if self.payers else None

    def __call__(self, community: bytes, member: bytes | None) -> tuple[str | None, str | None]:
        if self.layer is None:
            return None, None
        ledger = _ledger_of(self.request, self.layer, community)
        if ledger is None:
            return None, None
        found = ledger.members.get(member) if member is not None else None
        return ledger.community.name, None if found is None else found.name


def held_for_member(node: Node, request: web.Request, member_id: bytes, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What is held for the member now and why: their subscriptions to open offers and their resting
    buy orders (in the community's escrow), and their payments across waiting for the other
    community's answer. The amounts sum to what the node's rules count as coming back to them
    (node/shares.py `coming_back_to`)."""
    state: State = node.sequencer.state
    unit = state.community
    held = []
    for offer_seq in itertools.islice(state.shares.open_offers.keys(), limits.page_size_max):
        offer = state.shares.offers[offer_seq]
        subscription = offer.subscriptions.get(member_id)
        if subscription is not None:
            held.append({"amount_minor": subscription.units * offer.price_minor, "parts": [
                ("text", "for your subscription to "),
                *_shares_of(state, offer.enterprise, offer.share_class, subscription.units),
                ("text", f" (offer #{offer.seq}, until it closes)")]})
    for order in orders:
        if order["side"] == "buy" and order["reserved"]:
            eid = id_from_text("e", order["enterprise"])
            held.append({"amount_minor": order["reserved"], "parts": [
                ("text", f"for your buy order #{order['id']} on "), _enterprise_part(state, eid),
                ("text", f" ({order['units']} at {format_money(order['price'], unit.unit_decimals, unit.unit_code)})")]})
    layer = _federations_layer(request)
    elsewhere = _Elsewhere(request)
    # Payments across not yet answered, of every payer: bounded by what the community may hold out.
    for pending in itertools.islice(state.payments.pending.values(), payments_pending_read_max):
        if pending.payer == member_id:
            community_name, member_name = elsewhere(pending.to_community, pending.to_member) if layer else (None, None)
            held.append({"amount_minor": pending.amount_minor, "parts": [
                ("text", "for your payment to "), ("text", member_name or id_to_text("m", pending.to_member)[:12] + "…"),
                ("text", " of "), ("text", community_name or id_to_text("n", pending.to_community)[:12] + "…"),
                ("text", ", until that community answers")]})
    for row in held:
        row["amount"] = format_money(row["amount_minor"], unit.unit_decimals, unit.unit_code)
    return held


async def member_page(request: web.Request) -> web.Response:
    node = _node(request)
    state: State = node.sequencer.state
    reference = request.match_info["reference"]
    member_id = _resolve(state, reference)
    if member_id is None:
        return _html("not_found.html", status=404, **await _frame(node), reference=reference)
    member = state.members[member_id]
    account = _account_row(node, member_id, member.name, member.role, member.active)
    history, older = await _history(request, node, member_id)
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
        row["cost_text"] = _money(node, row["cost"])
    for row in orders:
        row["price_text"] = _money(node, row["price"])
        row["enterprise_name"] = _enterprise_part(state, id_from_text("e", row["enterprise"]))[1]["name"]
    held_now = held_for_member(node, request, member_id, orders)
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
        role_words=role_words.get(member.role, member.role),
        is_person=member.role in people_roles,
        admitted_seq=member.admitted_seq,
        history=history,
        older_history=older,
        held=held_now,
        held_total=_money(node, sum(row["amount_minor"] for row in held_now)),
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

# Kinds of share class in words (node/shares.py).
share_class_kind_words = {"user": "customers", "investor": "investors", "founder": "founders", "labour": "workers"}
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
        "price_text": _money(node, offer_document["price"]),
        "subscribed_percent": min(100.0, 100 * offer_document["subscribed_units"] / units),
        "min_percent": min(100.0, 100 * offer_document["min_units"] / units),
    }


def _book_view(node: Node, eid: bytes, index: int) -> dict[str, Any]:
    """One class's order book by price level and its last trades, from the API's `book_json`, with
    amounts and names for people."""
    book = book_json(node, eid, index, book_levels_shown)
    for level in (*book["bids"], *book["asks"]):
        level["price"] = _money(node, level["price"])
    book["trades"] = book["trades"][:trades_shown]
    for trade in book["trades"]:
        trade["price_text"] = _money(node, trade["price"])
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
        share_class["par_text"] = _money(node, share_class["par"])
    holders = await cap_table(node, eid, limits.page_size_max)
    for row in holders:
        row["cost_text"] = _money(node, row["cost"])
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
        class_kind_words=share_class_kind_words,
        dividends=_dividends(node, eid),
        **await _frame(node),
        enterprise=document,
        balance=_money(node, document["balance"]),
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
         "amount_text": _money(node, decision.effect.amount_minor),  # type: ignore[union-attr]
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

# A federation's alerts by kind, in words (the VSM system each belongs to is shown after, muted).
federation_alert_words = {
    "fork": "A community told two stories", "equivocation": "A community voted twice",
    "at_limit": "At a limit of trade", "payment_violation": "A payment broke the rules",
    "payment_pending": "A payment is waiting", "unreachable": "A node cannot be reached",
    "not_held": "A community is not copied here",
}


def _federation_name(state: Any, reference: str) -> str:
    try:
        found = state.federations.get(id_from_text("x", reference))
    except TallyError:
        found = None
    return reference if found is None else found.name


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


# The federation picture: a square SVG, the federation at its centre, its members on a circle around
# it and, in a confederation, each member federation's own communities on an outer circle, in the
# member's own sector, so that no two labels meet (each written outward from its node).
picture_radius = 150  # the members' circle, when none has members of its own
inner_radius = 110  # a confederation's member federations
outer_radius_min = 200  # a confederation's communities
# Room along the outer circle for each community's label, in pixels: labels as wide as
# `label_chars_max` characters stay clear of their neighbours at this spacing.
label_spacing_px = 100.0
label_chars_max = 22  # longer names are cut with "…" (the whole name is the node's title)
label_char_px = 7.0  # an upper bound of the 11 px system-ui font's average advance
label_gap_px = 5.0  # between a node's circle and its label
member_node_radius, child_node_radius, centre_node_radius = 18, 11, 30
picture_margin_px = 8.0
# Widest edge (the largest settled flow), in pixels; every other edge scales by its share of it.
edge_width_max = 12.0


def _label(name: str) -> str:
    return name if len(name) <= label_chars_max else name[: label_chars_max - 1] + "…"


def _outward_label(node: dict[str, Any], angle: float, radius: float) -> None:
    """Write `node`'s label beyond its circle in the direction `angle` (from the picture's centre):
    to the right of a node on the right, to the left on the left, above or below at the top and the
    bottom, so labels point away from everything else drawn."""
    cos, sin = math.cos(angle), math.sin(angle)
    distance = radius + label_gap_px
    node["label_x"] = node["x"] + distance * cos
    node["label_y"] = node["y"] + distance * sin + 4  # the baseline sits a third of the font below centre
    if cos > 0.35:
        node["anchor"] = "start"
    elif cos < -0.35:
        node["anchor"] = "end"
    else:
        node["anchor"] = "middle"
        node["label_y"] += 8 if sin > 0 else -4


def federation_picture(name: str, members: list[dict[str, Any]], flows: list[dict[str, Any]],
                       children: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The federation as a node in the middle with its members on a circle around it, each member
    federation's own members (`children`) on an outer circle within its member's sector, and the
    settled trade flows between any two drawn as edges whose width is their share of the largest
    flow. Each label is written outward from its node (`label_x`, `label_y`, `anchor`), cut to
    `label_chars_max` characters; the picture is as large as its labels need. Numbers only: the
    template writes the names into the SVG as escaped text."""
    children = children or {}
    nested = any(children.get(member["member"]) for member in members)
    # Each member's share of the turn: its own members' count (at least one), so every community on
    # the outer circle has the same room.
    weights = [max(1, len(children.get(member["member"], []))) if nested else 1 for member in members]
    slots = max(1, sum(weights))
    outer = max(outer_radius_min if nested else picture_radius, label_spacing_px * slots / (2 * math.pi))
    inner = inner_radius if nested else outer
    label_px = label_char_px * max([len(_label(n["name"] or "")) for n in members]
                                   + [len(_label(c["name"] or "")) for below in children.values() for c in below]
                                   + [12])
    half = outer + member_node_radius + label_gap_px + label_px + picture_margin_px
    size = 2 * half
    centre = half
    nodes = []
    where: dict[str, tuple[float, float]] = {}
    start = -math.pi / 2 - math.pi * weights[0] / slots if members else 0.0  # the first member at the top
    turned = 0
    for index, member in enumerate(members):
        span = 2 * math.pi * weights[index] / slots
        angle = start + 2 * math.pi * turned / slots + span / 2
        turned += weights[index]
        below = children.get(member["member"], [])
        radius = inner if below else outer
        x, y = centre + radius * math.cos(angle), centre + radius * math.sin(angle)
        where[member["member"]] = (x, y)
        shown = member["name"] or member["member"][:10] + "…"
        node = {"id": member["member"], "name": shown, "label": _label(shown), "x": x, "y": y, "kind": member["kind"],
                "angle": angle}
        if below:  # inside the outer circle: its label goes below it, clear of its own members' labels
            node.update(label_x=x, label_y=y + member_node_radius + 14, anchor="middle")
        else:
            _outward_label(node, angle, member_node_radius)
        nodes.append(node)
        for place, child in enumerate(below):
            child_angle = angle - span / 2 + span * (place + 0.5) / len(below)
            cx, cy = centre + outer * math.cos(child_angle), centre + outer * math.sin(child_angle)
            where[child["member"]] = (cx, cy)
            child_shown = child["name"] or child["member"][:10] + "…"
            child_node = {"id": child["member"], "name": child_shown, "label": _label(child_shown), "x": cx, "y": cy,
                          "kind": child["kind"], "parent_x": x, "parent_y": y, "angle": child_angle}
            _outward_label(child_node, child_angle, child_node_radius)
            nodes.append(child_node)
    # A flow between communities drawn nowhere here (deeper than one level below) is not drawn.
    drawn = [flow for flow in flows if flow["from"] in where and flow["to"] in where and flow["from"] != flow["to"]]
    heaviest = max((flow["sent"] for flow in drawn), default=0) or 1
    edges = []
    for flow in drawn:
        (x1, y1), (x2, y2) = where[flow["from"]], where[flow["to"]]
        edges.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "from": flow["from"], "to": flow["to"],
                      "sent": flow["sent"], "sent_text": flow.get("sent_text", str(flow["sent"])),
                      "payments": flow["payments"],
                      "width": max(1.0, edge_width_max * flow["sent"] / heaviest)})
    # The drawing's box: every circle and every label's estimated box, and a margin; the SVG's view
    # is cut to it, so a picture wide for its labels is not as tall.
    boxes = [(centre - centre_node_radius, centre - centre_node_radius, centre + centre_node_radius,
              centre + centre_node_radius + 18)]
    centre_label = label_char_px * len(_label(name)) / 2
    boxes.append((centre - centre_label, centre, centre + centre_label, centre + centre_node_radius + 18))
    for node in nodes:
        radius = child_node_radius if "parent_x" in node else member_node_radius
        boxes.append((node["x"] - radius, node["y"] - radius, node["x"] + radius, node["y"] + radius))
        width = label_char_px * len(node["label"])
        left = {"start": node["label_x"], "end": node["label_x"] - width}.get(node["anchor"], node["label_x"] - width / 2)
        boxes.append((left, node["label_y"] - 12, left + width, node["label_y"] + 4))
    x0 = max(0.0, min(box[0] for box in boxes) - picture_margin_px)
    y0 = max(0.0, min(box[1] for box in boxes) - picture_margin_px)
    x1 = min(size, max(box[2] for box in boxes) + picture_margin_px)
    y1 = min(size, max(box[3] for box in boxes) + picture_margin_px)
    return {"size": size, "view": {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}, "centre": centre,
            "name": name, "label": _label(name), "nodes": nodes, "edges": edges, "centre_radius": centre_node_radius}


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
    decimals, unit_code = federation.charter.unit_decimals, federation.charter.unit_code
    report["s5_policy"]["parent_names"] = [
        _federation_name(state, parent) for parent in report["s5_policy"].get("parents", [])]
    for row in report["s1_operations"]:
        if row.get("held"):
            row["credit_issued_text"] = _community_money(request, layer, row["community"], row["credit_issued"])
    for flow in flows:
        flow["sent_text"] = _community_money(request, layer, flow["from"], flow["sent"])
    positions = []
    for row in report["s3_control"]:
        position = row["position"]
        # A member federation's bound is its capacity, either way; a community's, its trade limits.
        debit, ceiling = ((row["capacity_allocated"], row["capacity_allocated"]) if row["kind"] == "federation"
                          else (row["trade_debit_limit"], row["trade_credit_ceiling"]))
        shown = {"balance": "unknown", "debit_floor": format_debit_limit(debit, decimals, unit_code),
                 "credit_ceiling": format_ceiling(ceiling, decimals, unit_code)}
        if position is not None:
            shown["balance"] = format_money(position, decimals, unit_code)
            shown["bar"] = _bar(position, debit, ceiling)
        positions.append({**row, "shown": shown,
                          "capacity_text": format_money(row["capacity_allocated"], decimals, unit_code)})
    children = {}
    for member in document["members"]:
        child = state.federations.get(id_from_text("x", member["member"])) if member["kind"] == "federation" else None
        if child is not None:
            children[member["member"]] = federation_json(layer, state, child)["members"]
            for grandchild in children[member["member"]]:
                names.setdefault(grandchild["member"], grandchild["name"])
    parents = [{**row, "name": state.federations[id_from_text("x", row["parent"])].name,
                "position_text": "unknown" if row["position"] is None else format_money(row["position"], decimals, unit_code),
                "capacity_text": format_money(row["capacity"], decimals, unit_code)}
               for row in report["position_in_parents"]]
    return _html(
        "federation.html",
        alert_words=federation_alert_words,
        **await _frame(node),
        federation=document,
        report=report,
        names=names,
        picture=federation_picture(federation.name, document["members"], flows, children),
        parents=parents,
        trade=trade_chart(settled, clock_ms(), names,
                          lambda community, minor: _community_money(request, layer, community, minor)),
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
        view[f"{amount_key}_text"] = None if amount is None else _ledger_money(ledger, amount)
    return view


def _ledger_money(ledger: State | None, minor: int) -> str:
    """An amount in the unit of the community whose ledger this is; a community this node does not
    hold has a unit it cannot know the decimals of, so it says so rather than show minor units."""
    if ledger is None:
        return "amount unknown here (that community's ledger is not held by this node)"
    return format_money(minor, ledger.community.unit_decimals, ledger.community.unit_code)


def _community_money(request: web.Request, layer: Any, community: str, minor: int) -> str:
    """An amount in community `community`'s own unit (`n_…`), as `_ledger_money` writes it."""
    try:
        feed = id_from_text("n", community)
    except TallyError:
        return _ledger_money(None, minor)
    return _ledger_money(_ledger_of(request, layer, feed), minor)


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
