"""What every page of the node shares: the Jinja2 environment, the frame (the community, the node
and the alerts every page shows), amounts in the community's unit, a balance between its limits,
a page's number-valued query parameters, balances over time, and the names of the other side of a
payment across.

How this works: templates are rendered with autoescaping on, so nothing a member typed can run as
script in a reader's browser, in the request's language (`frame_for` chooses it, language.py;
`html_page` renders with that language's environment and says which in Content-Language). What a page shows of members is what the community's visibility
policy lets the request's reader see: every page asks `sees(request, kind, subject)`, which is
ledger/visibility.py's `can_see` for the reader node/http/readers.py resolved (docs/pages.md has
what each page shows to whom). The names of other communities come from the layer that holds their
ledgers (node/app.py `Elsewhere`, under `elsewhere_key`); a node without one names nothing elsewhere.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from tallystick.ledger.accounts import credit_ceiling, debit_limit
from tallystick.ledger.model import Member, State
from tallystick.ledger.visibility import Kind, Reader, can_see
from tallystick.protocol import limits
from tallystick.protocol.errors import MalformedError
from tallystick.protocol.ids import id_to_text

from ..app import Elsewhere, Node, clock_ms, elsewhere_key, node_key
from ..history import History
from ..http import params
from ..http.readers import reader_of
from . import charts
from .alerts import alert_line
from .language import N_, environments, language_of, money, plain_money, source_language, use_language
from .language import ceiling as ceiling_text
from .language import debit_floor as debit_floor_text

# What each role of account is, in words (system accounts are not people: docs/pages.md).
role_words = {
    "member": N_("member"), "admin": N_("member and admin"),
    "enterprise": N_("an enterprise's account"), "escrow": N_("the community's escrow account"),
    "treasury": N_("the community's treasury"), "trade": N_("the community's account of trade with a federation"),
}

# The English environment (one per language: language.py), for what renders outside a request.
environment = environments[source_language]
for _language, _environment in environments.items():  # an alert's words, in each environment's language
    _environment.globals["alert_line"] = functools.partial(alert_line, language=_language)


def node_of(request: web.Request) -> Node:
    return request.app[node_key]


def this_year_query() -> str:
    """The query of a download for this year so far (docs/api.md §16: `from` its first day in UTC,
    `to` left out: up to now), by the node's clock."""
    year = datetime.datetime.fromtimestamp(clock_ms() / 1000, datetime.UTC).year
    return f"from={year:04d}-01-01"


def sees(request: web.Request, kind: Kind, subject: bytes | None = None) -> bool:
    """Whether the request's reader may see `kind` (about member `subject`) by the community's policy."""
    return can_see(node_of(request).sequencer.state, reader_of(request), kind, subject)


def html_page(template: str, status: int = 200, **context: Any) -> web.Response:
    """A page rendered in the language `frame_for` chose for the request (its context's `language`),
    saying so (Content-Language), and that another Accept-Language may get another page (Vary)."""
    language = context.setdefault("language", source_language)
    use_language(language)  # the Python text the template calls (an alert's words) in the page's language
    text = environments[language].get_template(template).render(**context)
    response = web.Response(text=text, status=status, content_type="text/html")
    response.headers["Content-Language"] = language
    response.headers["Vary"] = "Accept-Language"
    return response


def balances_over_time(request: web.Request) -> History:
    return History(node_of(request).store)  # holds nothing but the store: one per request costs nothing


async def page_frame(node: Node, reader: Reader | None = None) -> dict[str, Any]:
    """The header of every page: the community, the node, the algedonic alerts (/api/status's), and
    who reads (a member signed in, by name, or a stranger, who is told how to sign in)."""
    status = await node.status()
    state: State = node.sequencer.state
    member = state.members.get(reader.member) if reader is not None and reader.member is not None else None
    return {
        "reader_name": None if member is None else node.directory.name(member),
        "reader_id": None if member is None else id_to_text("m", reader.member),  # type: ignore[union-attr,arg-type]
        "community": state.community,
        "node_id": status["node"],
        "seq": status["seq"],
        "alerts": status["alerts"],
        "node_status": status,
    }


async def frame_for(request: web.Request) -> dict[str, Any]:
    """`page_frame` for the request's node and reader, in the request's language."""
    language = language_of(request)
    return {**await page_frame(node_of(request), reader_of(request)), "language": language}


def plain_amount(node: Node, minor: int) -> str:
    """A bare number in the community's unit, in the request's language ('1,234.50', '1.234,50'),
    for a plot's axis or a form's field, where the unit is written once beside it."""
    return plain_money(minor, node.sequencer.state.community.unit_decimals)


def money_text(node: Node, minor: int) -> str:
    """An amount as a person reads it, in the request's language: '1,234.50 HRS', '1.234,50 HRS'
    (language.py `money`)."""
    community = node.sequencer.state.community
    return money(minor, community.unit_decimals, community.unit_code)


def balance_bar(balance: int, debit: int, ceiling: int) -> dict[str, float]:
    """Where a balance sits: the left half of the bar is the debit side (0 to -debit limit), the
    right half the credit side (0 to +ceiling), each scaled by its own limit, so a glance says how
    near an account is to either limit, even when the ceiling is far larger than the debit limit."""
    if balance < 0:
        fraction = min(1.0, -balance / debit) if debit else 1.0
        return {"left": 50 - 50 * fraction, "width": 50 * fraction, "side": -1}
    fraction = min(1.0, balance / ceiling) if ceiling else (1.0 if balance else 0.0)
    return {"left": 50.0, "width": 50 * fraction, "side": 1 if balance else 0}


def account_row(node: Node, member_id: bytes, name: str, role: str, active: bool) -> dict[str, Any]:
    state: State = node.sequencer.state
    account = state.accounts[member_id]
    debit, ceiling = debit_limit(state, account), credit_ceiling(state, account)
    return {
        "id": id_to_text("m", member_id),
        "name": name,
        "role": role,
        "active": active,
        "balance_minor": account.balance_minor,
        "balance": money_text(node, account.balance_minor),
        "debit_limit": money_text(node, debit),
        # The lowest balance allowed: "-50.00 HRS", and "0.00 HRS", not "-0.00"; "no ceiling" for none.
        "debit_floor": debit_floor_text(debit, state.community.unit_decimals, state.community.unit_code),
        "credit_ceiling": ceiling_text(ceiling, state.community.unit_decimals, state.community.unit_code),
        "no_ceiling": ceiling >= limits.amount_minor_max,
        "bar": balance_bar(account.balance_minor, debit, ceiling),
    }


def chart_over_time(node: Node, found: dict[str, Any], points: list[tuple[int, int, int]]) -> dict[str, Any] | None:
    """A series from node/history.py as a step line from its first point to the node's last event."""
    if not points:
        return None
    end_ms = max(node.sequencer.state.ts_ms, found["ts"], points[-1][1])
    return charts.line_chart(points, points[0][1], end_ms, lambda value: plain_amount(node, value),
                      node.sequencer.state.community.unit_code)


def folded_at(node: Node, found: dict[str, Any]) -> dict[str, int]:
    """The head the plots were read at (the postings are written with the log, so they are never
    behind what was committed when they were read)."""
    return {"seq": found["seq"], "head": found["seq"]}


def query_number(request: web.Request, name: str) -> int | None:
    """A page's number-valued query parameter (`page`, `before`) as node/http/params.py parses it; a
    page is for people, who edit its URL, so a value that is no number is ignored rather than refused."""
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return params.integer(text, name, 0, params.seq_max)
    except MalformedError:
        return None


def page_number(request: web.Request, pages: int) -> int:
    """`?page=`, kept inside 1..pages (a page past the last shows the last)."""
    number = query_number(request, "page")
    return 1 if number is None else min(max(1, number), max(1, pages))


def elsewhere_of(request: web.Request) -> Elsewhere | None:
    """The layer that holds other communities' ledgers, or None when the node runs without one
    (only `tally serve` adds it)."""
    return request.app.get(elsewhere_key)


class ElsewhereNames:
    """Names of the other side of payments across, from the ledgers this node holds (its replicas'),
    and who paid a payment received (the payers of the payments across held), through the node's
    `Elsewhere` layer."""

    def __init__(self, request: web.Request) -> None:
        self.elsewhere = elsewhere_of(request)
        self.node = node_of(request)
        self.payers: Mapping[bytes, bytes] = {}

    async def load(self) -> None:
        if self.elsewhere is not None:  # every payment across the layer holds, as /api/payments lists them
            self.payers = await self.elsewhere.payers_by_payment()

    def payer_of(self, payment: bytes) -> bytes | None:
        return self.payers.get(payment) if self.payers else None

    def __call__(self, community: bytes, member: bytes | None) -> tuple[str | None, str | None]:
        if self.elsewhere is None:
            return None, None
        ledger = self.elsewhere.ledger(community)
        if ledger is None:
            return None, None
        found = ledger.members.get(member) if member is not None else None
        return ledger.community.name, None if found is None else elsewhere_member_name(self.node, community, found)


def elsewhere_member_name(node: Node, community: bytes, member: Member) -> str | None:
    """A member's name as this node may show it: opened by its directory for its own community;
    for another community, only a name that community's log holds in clear (one written before
    names were committed, docs/protocol.md §19), else None (the caller shows the id shortened)."""
    if community == node.feed:
        return node.directory.name(member)
    return member.name if isinstance(member.name, str) else None
