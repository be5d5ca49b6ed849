"""The federation layer's pages: each federation this node knows (/federations/{ref}: the viability
report, its picture, the trade between its members, the positions against their bounds) and the
payments between communities (/payments), registered with the layer's routes.

How this works: rendered as the node's own pages are (node/pages/shared.py: the same Jinja2
environment, autoescaped, and the same frame), from the same documents the API serves:
http.py's `federation_json`, report.py's `report_json`, and `FederationView.payments()`, which
/api/payments serves. Amounts are written in the unit of the community whose ledger this node holds
(a community it does not hold has a unit it cannot know the decimals of, so the page says so).
"""

from __future__ import annotations

import math
import urllib.parse
from typing import Any

from aiohttp import web
from tallystick.ledger.model import State
from tallystick.ledger.money import format_ceiling, format_debit_limit, format_money
from tallystick.node.app import clock_ms
from tallystick.node.http.readers import reader_of
from tallystick.node.pages.shared import balance_bar, frame_for, html_page, node_of, page_number, sees
from tallystick.protocol import limits
from tallystick.protocol.errors import TallyError
from tallystick.protocol.ids import id_from_text, id_to_text

from .charts import federation_picture, trade_chart
from .http import federation_json
from .report import report_json
from .state import Federation, FederationState
from .view import FederationView, federations_key


def _layer(request: web.Request) -> FederationView:
    return request.app[federations_key]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/payments", payments_page)
    app.router.add_get("/federations/{reference}", federation_page)


# A federation's alerts by kind, in words (the VSM system each belongs to is shown after, muted).
federation_alert_words = {
    "fork": "A community told two stories", "equivocation": "A community voted twice",
    "at_limit": "At a limit of trade", "payment_violation": "A payment broke the rules",
    "payment_pending": "A payment is waiting", "unreachable": "A node cannot be reached",
    "not_held": "A community is not copied here",
}


def _federation_name(state: FederationState, reference: str) -> str:
    try:
        found = state.federations.get(id_from_text("x", reference))
    except TallyError:
        found = None
    return reference if found is None else found.name


def _resolve_federation(state: FederationState, reference: str) -> Federation | None:
    """A federation by id (`x_…`) or by its name, as /api/federations/{id} resolves it; None if unknown."""
    if reference.startswith("x_"):
        try:
            return state.federations.get(id_from_text("x", reference))
        except TallyError:
            return None
    named = [f for f in state.federations.values() if f.name.casefold() == reference.casefold()]
    return named[0] if len(named) == 1 else None


async def federation_page(request: web.Request) -> web.Response:
    reference = request.match_info["reference"]
    layer = _layer(request)
    state, _ = await layer.view()
    federation = _resolve_federation(state, reference)
    if federation is None:
        return html_page("not_found.html", status=404, **await frame_for(request), reference=reference, what="federation",
                         reason="This node's view holds no federation called")
    document = federation_json(layer, state, federation)
    report = await report_json(layer, state, federation)
    names = {member["member"]: member["name"] for member in document["members"]}
    for row in report["s1_operations"]:
        names.setdefault(row["community"], row.get("name"))
    flows = report["s4_intelligence"]["trade_flows"]
    federation_text = id_to_text("x", federation.id)
    # The same rows report_json read (FederationView.payments() is what /api/payments serves).
    payments = [row for row in await layer.payments() if row["federation"] == federation_text]
    settled = [row for row in payments if row["status"] == "settled"]
    federation_names = {federation_text: federation.name}
    pending = [_payment_view(request, layer, row, federation_names) for row in report["s2_coordination"]["payments"]
               if _payment_visible(request, row)]
    decimals, unit_code = federation.charter.unit_decimals, federation.charter.unit_code
    report["s5_policy"]["parent_names"] = [
        _federation_name(state, parent) for parent in report["s5_policy"].get("parents", [])]
    for row in report["s1_operations"]:
        if row.get("held"):
            row["credit_issued_text"] = _community_money(layer, row["community"], row["credit_issued"])
    for flow in flows:
        flow["sent_text"] = _community_money(layer, flow["from"], flow["sent"])
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
            shown["bar"] = balance_bar(position, debit, ceiling)
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
    return html_page(
        "federation.html",
        alert_words=federation_alert_words,
        **await frame_for(request),
        federation=document,
        report=report,
        names=names,
        picture=federation_picture(federation.name, document["members"], flows, children),
        parents=parents,
        trade=trade_chart(settled, clock_ms(), names,
                          lambda community, minor: _community_money(layer, community, minor)),
        settled_total=len(settled),
        pending=pending,
        positions=positions,
    )


# ---- payments between communities: /payments, and on each federation's page ----------------------

# The states a payment across goes through (federation/payments.py), in the order a person reads them.
payment_statuses = ("pending", "accepted", "settled", "rejected", "returned", "expired")
payments_per_page = limits.page_size_default


def _payment_visible(request: web.Request, row: dict[str, Any]) -> bool:
    """Whether the reader may see a payment across (who paid whom, how much, the memo): it is the
    history of this community's member on its side, by the policy (their own always); a payment
    between two other communities is in no member's history here, so it is the log's."""
    feed = node_of(request).feed
    for community_key, member_key in (("from_community", "payer"), ("to_community", "to_member")):
        if id_from_text("n", row[community_key]) == feed:
            return sees(request, "history", id_from_text("m", row[member_key]))
    return sees(request, "log")


def _payment_view(request: web.Request, layer: FederationView, row: dict[str, Any],
                  federation_names: dict[str, str]) -> dict[str, Any]:
    """A row of /api/payments with names and amounts for people: each side's community and member
    by the name its ledger gives (when this node holds it), the amount in the payer community's unit
    and the amount received in the payee community's."""
    view = {**row, "federation_name": federation_names.get(row["federation"])}
    for side, community_key, member_key, amount_key in (("from", "from_community", "payer", "amount"),
                                                         ("to", "to_community", "to_member", "received")):
        community = id_from_text("n", row[community_key])
        ledger = layer.ledger(community)
        member = None if ledger is None else ledger.members.get(id_from_text("m", row[member_key]))
        view[f"{side}_community_name"] = None if ledger is None else ledger.community.name
        # This community's members by their names in clear; another's only where its log has them
        # in clear (the template shows the id otherwise).
        view[f"{side}_member_name"] = None if member is None else layer.member_name_in(community, member)
        view[f"{side}_local"] = ledger is not None and ledger.feed == node_of(request).feed
        amount = row[amount_key]
        view[f"{amount_key}_text"] = None if amount is None else _ledger_money(ledger, amount)
    return view


def _ledger_money(ledger: State | None, minor: int) -> str:
    """An amount in the unit of the community whose ledger this is; a community this node does not
    hold has a unit it cannot know the decimals of, so it says so rather than show minor units."""
    if ledger is None:
        return "amount unknown here (that community's ledger is not held by this node)"
    return format_money(minor, ledger.community.unit_decimals, ledger.community.unit_code)


def _community_money(layer: FederationView, community: str, minor: int) -> str:
    """An amount in community `community`'s own unit (`n_…`), as `_ledger_money` writes it."""
    try:
        feed = id_from_text("n", community)
    except TallyError:
        return _ledger_money(None, minor)
    return _ledger_money(layer.ledger(feed), minor)


async def _federation_names(layer: FederationView) -> dict[str, str]:
    state, _ = await layer.view()
    return {id_to_text("x", f.id): f.name for f in state.federations.values()}


async def payments_page(request: web.Request) -> web.Response:
    """Every payment across communities this node holds (as /api/payments lists them, from the same
    `FederationView.payments()`), newest first, by state and by federation, 100 to a page."""
    layer = _layer(request)
    held = await layer.payments()
    # Only the payments the reader may see are listed and counted, so no count tells of the rest.
    rows = [row for row in held if _payment_visible(request, row)]
    federation_names = await _federation_names(layer)
    status = request.query.get("status", "")
    status = status if status in payment_statuses else ""
    federation = request.query.get("federation", "")
    federation = federation if federation in federation_names else ""
    in_federation = [row for row in rows if not federation or row["federation"] == federation]
    counts = {name: sum(1 for row in in_federation if row["status"] == name) for name in payment_statuses}
    shown = [row for row in in_federation if not status or row["status"] == status]
    pages = max(1, math.ceil(len(shown) / payments_per_page))
    page = page_number(request, pages)
    start = (page - 1) * payments_per_page
    query = {key: value for key, value in (("status", status), ("federation", federation)) if value}
    return html_page(
        "payments.html",
        **await frame_for(request),
        payments=[_payment_view(request, layer, row, federation_names) for row in shown[start : start + payments_per_page]],
        shown_total=len(shown),
        hidden_total=len(held) - len(rows),
        signed_in=reader_of(request).is_member,
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
