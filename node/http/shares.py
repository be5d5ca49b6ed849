"""The shares ledger over HTTP: enterprises, their cap tables (JSON and CSV), offers, order books,
trades and a member's holdings. Read-only: every change is a signed intent posted to /api/intents.

How this works: lists come from the `shares` projection through the store's bounded reader (an
index on enterprise keeps a cap table query independent of the rest of the ledger); single small
lookups (an enterprise's classes, a name) come from the sequencer's state. Ids are in their text
form (`e_` enterprises, `m_` members); amounts in minor units.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web
from tallystick.ledger.accounts import credit_ceiling, debit_limit
from tallystick.ledger.errors import UnknownEnterpriseError, UnknownOfferError
from tallystick.ledger.model import Enterprise, Holding, Offer, Order, Trade, Withdrawal
from tallystick.ledger.shares import allotment
from tallystick.ledger.visibility import Reader
from tallystick.protocol import limits
from tallystick.protocol.ids import id_from_text, id_to_text

from ..app import Node, node_key
from ..store import share_key, share_value
from ..visible import Shown, require, sees
from . import params
from .middleware import json_response as _json
from .readers import reader_of


def _node(request: web.Request) -> Node:
    return request.app[node_key]


def resolve_enterprise(node: Node, reference: str) -> bytes:
    """An enterprise by id (`e_…`, or its account's `m_…`) or by name."""
    state = node.sequencer.state
    if reference.startswith(("e_", "m_")):
        found = id_from_text(reference[0], reference)  # type: ignore[arg-type]
    else:
        # An enterprise's name stays in clear (state.names); the directory also knows the members'
        # committed names, so a member's name is no enterprise either way.
        found = node.directory.find(state, reference)
    if found is None or found not in state.shares.enterprises:
        raise UnknownEnterpriseError(f"no enterprise is called {reference!r}; `tally enterprise list` lists them")
    return found


def _name(node: Node, member_id: bytes) -> str | None:
    """A member's name in clear (opened by the node's directory; "(erased)" where it was erased)."""
    member = node.sequencer.state.members.get(member_id)
    return None if member is None else node.directory.name(member)


def _limit(request: web.Request) -> int:
    return params.query_integer(request, "limit", limits.page_size_default, 1, limits.page_size_max)


def interest_paid_to_ms(enterprise: Enterprise, index: int) -> int | None:
    """Up to when interest on class `index` is paid (its interest clock, docs/shares.md): a time for
    a withdrawable class once its holders have first set a cap, else None (no interest is owed)."""
    if not enterprise.interest_from_ms or not enterprise.classes[index].withdrawable:
        return None
    return enterprise.interest_from_ms[index]


def enterprise_json(node: Node, eid: bytes, enterprise: Enterprise, reader: Reader | None = None) -> dict[str, Any]:
    """An enterprise and its account's figures (public); its manager, a person, by the `names`
    policy for `reader` (None: unfiltered, for a caller that applies the policy itself). Its
    co-operative rules (which classes vote one member, one vote; the interest cap and how far
    interest is paid; a suspension of withdrawals, its decision and reason) are facts about the
    enterprise, as public as its classes: no person is in them."""
    state = node.sequencer.state
    account = state.accounts[eid]
    manager_shown = reader is None or sees(state, reader, "names", enterprise.manager)
    return {
        "id": id_to_text("e", eid),
        "account": id_to_text("m", eid),
        "name": enterprise.name,
        "manager": id_to_text("m", enterprise.manager) if manager_shown else None,
        "manager_name": _name(node, enterprise.manager) if manager_shown else None,
        "registered_seq": enterprise.registered_seq,
        "balance": account.balance_minor,
        "debit_limit": debit_limit(state, account),
        "credit_ceiling": credit_ceiling(state, account),
        "withdrawal_rule": {"notice_ms": enterprise.notice_ms, "yearly_cap": enterprise.yearly_cap_minor},
        "withdrawn_this_year": enterprise.withdrawn_in_year_minor,
        # None until the holders first set a cap (no interest may be paid); 0: they allow none.
        "interest_cap_bp": enterprise.interest_cap_bp if enterprise.interest_from_ms else None,
        "suspension": None if not enterprise.suspended_by else {
            "decision": enterprise.suspended_by, "reason": enterprise.suspension_reason},
        "classes": [
            {
                "index": index,
                "name": share_class.name,
                "kind": share_class.kind,
                "votes_per_share": share_class.votes_per_share,
                "dividend_weight": share_class.dividend_weight,
                "par": share_class.par_minor,
                "withdrawable": share_class.withdrawable,
                "transferable": share_class.transferable,
                "holding_cap": share_class.holding_cap_units,
                "local_only": share_class.local_only,
                "member_vote": index in enterprise.member_vote_classes,
                "interest_paid_to_ms": interest_paid_to_ms(enterprise, index),
                "issued": enterprise.issued[index],
                "withdrawn": enterprise.withdrawn[index],
                "outstanding": enterprise.issued[index] - enterprise.withdrawn[index],
            }
            for index, share_class in enumerate(enterprise.classes)
        ],
    }


def offer_json(node: Node, offer: Offer, *, subscriptions: bool = False, reader: Reader | None = None,
               shown: Shown | None = None) -> dict[str, Any]:
    """An offer's terms and how much it raised (public); with `subscriptions`, each subscriber's
    row by the `holdings` policy for `reader` (None: unfiltered)."""
    state = node.sequencer.state
    enterprise = state.shares.enterprises[offer.enterprise]
    document: dict[str, Any] = {
        "id": offer.seq,
        "enterprise": id_to_text("e", offer.enterprise),
        "enterprise_name": enterprise.name,
        "class": offer.share_class,
        "class_name": enterprise.classes[offer.share_class].name,
        "price": offer.price_minor,
        "units": offer.units,
        "min_units": offer.min_units,
        "member_cap": offer.member_cap_units,
        "deadline_ms": offer.deadline_ms,
        "subscribed_units": offer.subscribed_units,
        "subscribers": len(offer.subscriptions),
        "escrow": offer.escrow_minor,
        "open": offer.outcome is None,
        "time_left_ms": max(0, offer.deadline_ms - node.sequencer.now_ms()) if offer.outcome is None else 0,
        "outcome": offer.outcome,
        "closed_seq": offer.closed_seq,
    }
    if subscriptions:
        allotted = allotment(offer) if offer.outcome is None else {}
        document["subscriptions"] = [
            {
                "member": id_to_text("m", member),
                "name": _name(node, member),
                "units": sub.units,
                "first_seq": sub.first_seq,
                # While open: what the member would get if the offer closed allotted now.
                "allotted": sub.allotted if offer.outcome is not None else allotted.get(member, 0),
            }
            for member, sub in sorted(offer.subscriptions.items(), key=lambda item: item[1].first_seq)
            if reader is None or (shown or Shown()).keep(state, reader, "holdings", member)
        ]
    return document


def holding_json(node: Node, key: tuple, held: Holding) -> dict[str, Any]:
    eid, share_class, holder = key
    enterprise = node.sequencer.state.shares.enterprises[eid]
    return {
        "enterprise": id_to_text("e", eid),
        "enterprise_name": enterprise.name,
        "class": share_class,
        "class_name": enterprise.classes[share_class].name,
        "holder": id_to_text("m", holder),
        "name": _name(node, holder),
        "units": held.units,
        "locked": held.locked,
        "since_seq": held.since_seq,
        "cost": held.cost_minor,
    }


def order_json(node: Node, order: Order) -> dict[str, Any]:
    enterprise = node.sequencer.state.shares.enterprises[order.enterprise]
    return {
        "id": order.seq,
        "owner": id_to_text("m", order.owner),
        "name": _name(node, order.owner),
        "enterprise": id_to_text("e", order.enterprise),
        "enterprise_name": enterprise.name,
        "class": order.share_class,
        "class_name": enterprise.classes[order.share_class].name,
        "side": order.side,
        "price": order.price_minor,
        "units": order.units,
        "reserved": order.reserved_minor,
    }


def trade_json(node: Node, trade: Trade, reader: Reader | None = None) -> dict[str, Any]:
    """A trade's price and units (public: the market's); its buyer and seller by the `holdings`
    policy for `reader` (None: unfiltered), each shown only to a reader who may see them."""
    state = node.sequencer.state

    def party(member: bytes) -> str | None:
        return id_to_text("m", member) if reader is None or sees(state, reader, "holdings", member) else None

    return {
        "seq": trade.seq,
        "price": trade.price_minor,
        "units": trade.units,
        "buyer": party(trade.buyer),
        "seller": party(trade.seller),
    }


async def _rows(node: Node, kind: str, enterprise: bytes | None, limit: int, holder: bytes | None = None) -> list:
    query = "SELECT key, record FROM shares WHERE feed = ? AND kind = ? "
    params: list[Any] = [node.feed, kind]
    if enterprise is not None:
        query += "AND enterprise = ? "
        params.append(enterprise)
    if holder is not None:
        query += "AND holder = ? "
        params.append(holder)
    query += "ORDER BY seq, key LIMIT ?"
    params.append(limit)
    rows = await node.store.query(query, tuple(params), limit)
    return [(share_key(key), share_value(kind, record)) for key, record in rows]


async def enterprises(request: web.Request) -> web.Response:
    node = _node(request)
    state = node.sequencer.state
    found = sorted(state.shares.enterprises.items(), key=lambda item: item[1].registered_seq)[: _limit(request)]
    return _json([enterprise_json(node, eid, enterprise, reader_of(request)) for eid, enterprise in found])


async def cap_table(node: Node, eid: bytes, limit: int, reader: Reader | None = None,
                    shown: Shown | None = None) -> list[dict[str, Any]]:
    """The register of members; for `reader`, only the holders the `holdings` policy lets them see
    (always their own rows; None: unfiltered)."""
    state = node.sequencer.state
    shown = shown or Shown()
    return [holding_json(node, key, held) for key, held in await _rows(node, "holding", eid, limit)
            if reader is None or shown.keep(state, reader, "holdings", key[2])]


async def enterprise(request: web.Request) -> web.Response:
    node = _node(request)
    eid = resolve_enterprise(node, request.match_info["reference"])
    state, reader = node.sequencer.state, reader_of(request)
    shown = Shown()
    document = enterprise_json(node, eid, state.shares.enterprises[eid], reader)
    limit = _limit(request)
    document["holders"] = await cap_table(node, eid, limit, reader, shown)
    document["offers"] = [offer_json(node, offer) for _, offer in await _rows(node, "offer", eid, limit)]
    document["trades"] = [
        {"class": index, **trade_json(node, trade, reader)}
        for index in range(len(document["classes"]))
        for trade in state.shares.trades.get((eid, index), ())
    ]
    document["withdrawals"] = [
        {"id": w.seq, "holder": id_to_text("m", w.holder), "class": w.share_class, "units": w.units,
         "due_ms": w.due_ms, "outcome": w.outcome}
        for _, w in await _rows(node, "withdrawal", eid, limit)
        if isinstance(w, Withdrawal) and shown.keep(state, reader, "holdings", w.holder)
    ]
    return _json(document, headers=shown.headers())


async def enterprise_csv(request: web.Request) -> web.Response:
    """The register of members (the cap table) as CSV, for a spreadsheet or the annual return."""
    node = _node(request)
    eid = resolve_enterprise(node, request.match_info["reference"])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["holder", "name", "class", "class_name", "units", "locked", "since_seq", "cost_minor"])
    shown = Shown()
    for row in await cap_table(node, eid, limits.page_size_max, reader_of(request), shown):
        writer.writerow([row["holder"], row["name"], row["class"], row["class_name"], row["units"], row["locked"],
                         row["since_seq"], row["cost"]])
    return web.Response(text=out.getvalue(), content_type="text/csv", headers=shown.headers())


async def book(request: web.Request) -> web.Response:
    node = _node(request)
    eid = resolve_enterprise(node, request.match_info["reference"])
    state = node.sequencer.state
    enterprise_value = state.shares.enterprises[eid]
    last = len(enterprise_value.classes) - 1
    index = params.path_integer(request, "share_class", 0, last, f"{enterprise_value.name}'s share class (0 to {last})")
    book_document = book_json(node, eid, index, _limit(request), reader_of(request))
    return _json({"enterprise": id_to_text("e", eid), "class": index, **book_document})


def book_json(node: Node, eid: bytes, index: int, depth: int, reader: Reader | None = None) -> dict[str, Any]:
    """One class's book: `depth` price levels a side, best first, each with the units and orders
    resting there (no owners: every reader sees them), and the last trades, newest first, their
    parties as `reader` may see them (the API and the enterprise page)."""
    shares = node.sequencer.state.shares
    found = shares.books.get((eid, index))

    def levels(side: str, prices: tuple[int, ...]) -> list[dict[str, Any]]:
        out = []
        for price in prices[:depth]:
            seqs = found.levels[(side, price)]  # type: ignore[union-attr]
            out.append({"price": price, "units": sum(shares.orders[seq].units for seq in seqs), "orders": len(seqs)})
        return out

    return {
        "bids": [] if found is None else levels("buy", tuple(reversed(found.bid_prices))),
        "asks": [] if found is None else levels("sell", found.ask_prices),
        "trades": [trade_json(node, trade, reader) for trade in reversed(shares.trades.get((eid, index), ()))],
    }


async def offers(request: web.Request) -> web.Response:
    node = _node(request)
    open_only = params.query_flag(request, "open")
    state = node.sequencer.state
    seqs = sorted(state.shares.open_offers.keys() if open_only else state.shares.offers.keys(), reverse=True)
    return _json([offer_json(node, state.shares.offers[seq]) for seq in seqs[: _limit(request)]])


async def offer(request: web.Request) -> web.Response:
    node = _node(request)
    seq = params.path_integer(request, "offer", params.seq_min, params.seq_max,
                              "an offer's id (the seq of the event that opened it)")
    found = node.sequencer.state.shares.offers.get(seq)
    if found is None:
        raise UnknownOfferError(f"there is no offer {seq}; `tally enterprise offers` lists them")
    shown = Shown()
    return _json(offer_json(node, found, subscriptions=True, reader=reader_of(request), shown=shown),
                 headers=shown.headers())


async def member_holdings(node: Node, member_id: bytes, limit: int) -> tuple[list[dict], list[dict]]:
    """A member's holdings and resting orders, as the API shows them (pages use this too)."""
    held = [holding_json(node, key, value) for key, value in await _rows(node, "holding", None, limit, member_id)]
    orders = [order_json(node, value) for _, value in await _rows(node, "order", None, limit, member_id)]
    return held, orders


async def holdings(request: web.Request) -> web.Response:
    """A member's holdings and resting orders."""
    from .api import resolve_member

    node = _node(request)
    limit = _limit(request)
    member_id = resolve_member(request, request.match_info["reference"])
    require(node.sequencer.state, reader_of(request), "holdings", member_id)
    held, orders = await member_holdings(node, member_id, limit)
    return _json({"member": id_to_text("m", member_id), "holdings": held, "orders": orders})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/enterprises", enterprises)
    app.router.add_get("/api/enterprises/{reference}", enterprise)
    app.router.add_get("/api/enterprises/{reference}/captable.csv", enterprise_csv)
    app.router.add_get("/api/enterprises/{reference}/book/{share_class}", book)
    app.router.add_get("/api/offers", offers)
    app.router.add_get("/api/offers/{offer}", offer)
    app.router.add_get("/api/members/{reference}/holdings", holdings)

