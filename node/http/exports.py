"""Downloads for a treasurer and an accountant: a member's statement, the community's journal, the
treasury's and an enterprise's accounts, for a period, as CSV or OFX (node/exports.py writes them).

Who may call what (the community's visibility policy, ledger/visibility.py; docs/api.md §16):
- `GET /api/exports/statement/{reference}`: whoever may see that member's history (by default the
  member concerned and the admins).
- `GET /api/exports/journal` and `/api/exports/treasury`: whoever may see every member's history
  (the policy's `history` about no one member: by default the admins alone), as every posting
  carries a member's payment and its memo.
- `GET /api/exports/enterprises/{reference}`: the same, and the enterprise's manager.
A reader the policy does not admit is refused `not_signed_in` (401) when they read as no member (a
stranger, a key that is no member's), else `not_visible` (403). A member whose name the reader may
not see is `bad_id` (400), as everywhere; an unknown enterprise `unknown_enterprise` (404). A bad
period is `bad_period` (400), a bad format `malformed` (400), whoever sends them. Before the first
levy there is no treasury: its CSV is the header alone, its OFX `no_treasury` (404). In every row a
person's name is shown only where the reader may see it. Nothing here logs what was asked.

Query parameters: `from` and `to` (dates YYYY-MM-DD, both days included; either may be left out),
`tz` (an IANA time zone the dates are read in, UTC by default), and `format` (`csv`, or `ofx` for
one account's statement). The answer is a download (Content-Disposition: attachment) named by ids
and dates, never by names.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from tallystick.ledger.model import State
from tallystick.ledger.visibility import Reader, audience_admits, can_see
from tallystick.protocol.errors import LocalError, MalformedError
from tallystick.protocol.ids import id_to_text

from ..app import Node, node_key
from ..exports import (
    CsvWriter,
    Naming,
    OfxWriter,
    Period,
    account_rows,
    journal_balances,
    journal_rows,
    opening_balance,
    parse_period,
    span_of,
)
from ..sessions import NotSignedInError
from ..visible import name_for, refusal
from ..visible import resolve_member as resolve_for
from .readers import reader_of
from .shares import resolve_enterprise

formats = ("csv", "ofx")
_content_types = {"csv": "text/csv; charset=utf-8", "ofx": "application/x-ofx; charset=utf-8"}


class NoTreasuryError(LocalError):
    code = "no_treasury"
    http_status = 404


def _node(request: web.Request) -> Node:
    return request.app[node_key]


def _period_and_format(request: web.Request, *, ofx: bool) -> tuple[Period, str]:
    """The request's period and format, checked before anything else: a malformed request is
    refused the same whoever sends it."""
    period = parse_period(request.query.get("from"), request.query.get("to"), request.query.get("tz"))
    chosen = request.query.get("format", "csv")
    allowed = formats if ofx else ("csv",)
    if chosen not in allowed:
        raise MalformedError(f"format is {' or '.join(allowed)}")
    return period, chosen


def _refuse(state: State, reader: Reader) -> None:
    """A reader the policy does not admit: 401 when they read as no member, else 403."""
    if not reader.is_member:
        raise NotSignedInError("sign in (POST /api/sign-in) or sign the request with a member key that may read this")
    raise refusal(state, "history")


def _require_every_history(state: State, reader: Reader, manager: bytes | None = None) -> None:
    if (manager is not None and reader.member == manager) or can_see(state, reader, "history"):
        return
    _refuse(state, reader)


def _naming(node: Node, state: State, reader: Reader) -> Naming:
    community = state.community
    return Naming(community.unit_code, community.unit_decimals,
                  lambda account: name_for(state, reader, account, node.directory))


async def _download(request: web.Request, chosen: str, stem: str, period: Period) -> web.StreamResponse:
    """A streamed answer (its rows are written as they are read); everything that can refuse the
    request was checked before it is prepared."""
    days = "-".join(day.isoformat() for day in (period.first, period.last) if day is not None) or "all"
    response = web.StreamResponse(headers={
        "Content-Type": _content_types[chosen],
        "Content-Disposition": f'attachment; filename="{stem}-{days}.{chosen}"'})
    await response.prepare(request)
    return response


async def _write(response: web.StreamResponse, text: str) -> None:
    if text:
        await response.write(text.encode("utf-8"))


async def _account_answer(request: web.Request, node: Node, state: State, reader: Reader, period: Period,
                          account: bytes, chosen: str, stem: str) -> web.StreamResponse:
    span = await span_of(node.store, node.feed, period)
    opening = await opening_balance(node.store, node.feed, account, span)
    naming = _naming(node, state, reader)
    response = await _download(request, chosen, stem, period)
    balance = opening
    if chosen == "ofx":
        ofx = OfxWriter(span, naming, account, id_to_text("n", node.feed), int(time.time() * 1000))
        await _write(response, ofx.head())
        async for rows in account_rows(node.store, state, node.directory, node.feed, account, span, opening):
            await _write(response, ofx.rows(rows))
            balance = rows[-1].balance_minor
        await _write(response, ofx.tail(opening, balance))
    else:
        writer = CsvWriter(span, naming)
        await _write(response, writer.header() + writer.balances("opening", {account: opening}, [account]))
        async for rows in account_rows(node.store, state, node.directory, node.feed, account, span, opening):
            await _write(response, writer.rows(rows))
            balance = rows[-1].balance_minor
        await _write(response, writer.balances("closing", {account: balance}, [account]))
    await response.write_eof()
    return response


async def statement(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    period, chosen = _period_and_format(request, ofx=True)
    state, reader = node.sequencer.state, reader_of(request)
    if not reader.is_member and not audience_admits(state.visibility.history, reader, None):
        _refuse(state, reader)
    member_id = resolve_for(state, reader, request.match_info["reference"], node.directory)
    if not (can_see(state, reader, "history", member_id) and can_see(state, reader, "names", member_id)):
        _refuse(state, reader)
    return await _account_answer(request, node, state, reader, period, member_id, chosen,
                                 f"statement-{id_to_text('m', member_id)}")


async def treasury(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    period, chosen = _period_and_format(request, ofx=True)
    state, reader = node.sequencer.state, reader_of(request)
    _require_every_history(state, reader)
    if state.treasury is None:
        if chosen == "ofx":  # a bank statement names its account, and there is none yet
            raise NoTreasuryError("this community has no treasury yet: it opens with the first levy a decision sets")
        # No account, so no row: the CSV's header alone, as for an account with nothing to show.
        span = await span_of(node.store, node.feed, period)
        response = await _download(request, chosen, "treasury", period)
        await _write(response, CsvWriter(span, _naming(node, state, reader)).header())
        await response.write_eof()
        return response
    return await _account_answer(request, node, state, reader, period, state.treasury, chosen, "treasury")


async def enterprise(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    period, chosen = _period_and_format(request, ofx=True)
    state, reader = node.sequencer.state, reader_of(request)
    if not reader.is_member and not audience_admits(state.visibility.history, reader, None):
        _refuse(state, reader)
    eid = resolve_enterprise(node, request.match_info["reference"])
    _require_every_history(state, reader, state.shares.enterprises[eid].manager)
    return await _account_answer(request, node, state, reader, period, eid, chosen, f"enterprise-{id_to_text('e', eid)}")


async def journal(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    period, chosen = _period_and_format(request, ofx=False)
    state, reader = node.sequencer.state, reader_of(request)
    _require_every_history(state, reader)
    span = await span_of(node.store, node.feed, period)
    opening, closing = await journal_balances(node.store, node.feed, span)
    writer = CsvWriter(span, _naming(node, state, reader))
    accounts = writer.order(closing)
    response = await _download(request, chosen, "journal", period)
    await _write(response, writer.header() + writer.balances("opening", opening, accounts))
    async for rows in journal_rows(node.store, state, node.directory, node.feed, span, opening):
        await _write(response, writer.rows(rows))
    await _write(response, writer.balances("closing", closing, accounts))
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/exports/statement/{reference}", statement)
    app.router.add_get("/api/exports/journal", journal)
    app.router.add_get("/api/exports/treasury", treasury)
    app.router.add_get("/api/exports/enterprises/{reference}", enterprise)


# ---- /openapi.json (node/http/openapi.py adds these) -----------------------------------------------


def openapi_paths(reference_chars_max: int, errors: Any) -> dict[str, Any]:
    period = [
        {"name": "from", "in": "query", "description": "the first day, YYYY-MM-DD, included (default: the first event)",
         "schema": {"type": "string", "format": "date"}},
        {"name": "to", "in": "query", "description": "the last day, YYYY-MM-DD, included (default: now)",
         "schema": {"type": "string", "format": "date"}},
        {"name": "tz", "in": "query", "description": "the IANA time zone the days are read in (default UTC)",
         "schema": {"type": "string", "maxLength": 64}},
    ]

    def chosen(ofx: bool) -> dict[str, Any]:
        return {"name": "format", "in": "query", "description": "csv" + (", or ofx (an OFX 2 bank statement)" if ofx else ""),
                "schema": {"type": "string", "enum": list(formats) if ofx else ["csv"], "default": "csv"}}

    def download(summary: str, ofx: bool, *statuses: int, reference: bool = False) -> dict[str, Any]:
        content = {"text/csv": {"schema": {"type": "string"}}}
        if ofx:
            content["application/x-ofx"] = {"schema": {"type": "string"}}
        parameters = [*period, chosen(ofx)]
        if reference:
            parameters.insert(0, {"name": "reference", "in": "path", "required": True,
                                  "description": "an id (m_, or e_ for an enterprise) or a name",
                                  "schema": {"type": "string", "minLength": 1, "maxLength": reference_chars_max}})
        return {"get": {"summary": summary, "parameters": parameters,
                        "responses": {"200": {"description": "a download", "content": content}, **errors(*statuses)}}}

    return {
        "/api/exports/statement/{reference}": download(
            "A member's statement for a period: opening balance, each posting, closing balance", True, 400, 401, 403,
            reference=True),
        "/api/exports/journal": download("The community's journal for a period: every posting of every account, "
                                         "each account's opening and closing balance", False, 400, 401, 403),
        "/api/exports/treasury": download("The treasury's account for a period", True, 400, 401, 403, 404),
        "/api/exports/enterprises/{reference}": download("An enterprise's account for a period", True,
                                                         400, 401, 403, 404, reference=True),
    }


def route_visibility(policy: str) -> dict[str, str]:
    refused = "anyone else not_visible (403), or not_signed_in (401) when they read as no member"
    return {
        "/api/exports/statement/{reference}": f"whoever may see that member's history {policy} (by default the "
                                              f"member concerned and admins); a hidden name bad_id (400); {refused}",
        "/api/exports/journal": f"whoever may see every member's history {policy} (by default admins); {refused}",
        "/api/exports/treasury": f"whoever may see every member's history {policy} (by default admins); {refused}",
        "/api/exports/enterprises/{reference}": f"the enterprise's manager, and whoever may see every member's "
                                                f"history {policy} (by default admins); {refused}",
    }
