"""An enterprise's page, `/enterprises/{reference}`: its classes, its register of members (the cap
table), its offers, its order books and last trades, its dividends; and the enterprises listed on
`/`. The numbers are the API's (node/http/shares.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tallystick.ledger.model import State
from tallystick.protocol import limits
from tallystick.protocol.errors import TallyError
from tallystick.protocol.events import (
    DeclareDividend,
)
from tallystick.protocol.ids import id_from_text, id_to_text

from ..app import Node
from ..http.readers import reader_of
from ..http.shares import book_json, cap_table, enterprise_json, offer_json, resolve_enterprise
from ..store import share_value
from .language import N_, gettext, language_of
from .shared import frame_for, html_page, money_text, node_of, sees, this_year_query

# Kinds of share class in words (node/shares.py).
share_class_kind_words = {"user": N_("customers"), "investor": N_("investors"), "founder": N_("founders"),
                          "labour": N_("workers")}
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
        "price_text": money_text(node, offer_document["price"]),
        "subscribed_percent": min(100.0, 100 * offer_document["subscribed_units"] / units),
        "min_percent": min(100.0, 100 * offer_document["min_units"] / units),
    }


def _book_view(request: web.Request, node: Node, eid: bytes, index: int) -> dict[str, Any]:
    """One class's order book by price level and its last trades, from the API's `book_json`, with
    amounts and names for people. The levels are aggregates, everyone's; who bought and sold is
    the holdings' (by the policy, and each member's own trades theirs)."""
    book = book_json(node, eid, index, book_levels_shown)
    for level in (*book["bids"], *book["asks"]):
        level["price"] = money_text(node, level["price"])
    book["trades"] = book["trades"][:trades_shown]
    for trade in book["trades"]:
        trade["price_text"] = money_text(node, trade["price"])
        for side in ("buyer", "seller"):
            member = id_from_text("m", trade[side])
            if sees(request, "holdings", member) and sees(request, "names", member):
                trade[f"{side}_name"] = _name_of(node, trade[side])
            else:
                trade[side], trade[f"{side}_name"] = None, None
    return book


def _name_of(node: Node, member_text: str) -> str | None:
    """A member's name in clear, as the node's directory opens it."""
    member = node.sequencer.state.members.get(id_from_text("m", member_text))
    return None if member is None else node.directory.name(member)


async def enterprise_page(request: web.Request) -> web.Response:
    language_of(request)  # before any text is written
    node = node_of(request)
    state: State = node.sequencer.state
    reference = request.match_info["reference"]
    try:
        eid = resolve_enterprise(node, reference)
    except TallyError:
        return html_page("not_found.html", status=404, **await frame_for(request), reference=reference, what="enterprise")
    document = enterprise_json(node, eid, state.shares.enterprises[eid])
    for share_class in document["classes"]:
        share_class["par_text"] = money_text(node, share_class["par"])
    # The register by the policy: all of it, or the reader's own holdings alone; a holder's name
    # only where names are shown.
    holdings_shown = sees(request, "holdings")
    holders = [row for row in await cap_table(node, eid, limits.page_size_max)
               if holdings_shown or sees(request, "holdings", id_from_text("m", row["holder"]))]
    for row in holders:
        row["cost_text"] = money_text(node, row["cost"])
        if not sees(request, "names", id_from_text("m", row["holder"])):
            row["name"] = None
    manager = state.shares.enterprises[eid].manager
    if not sees(request, "names", manager):
        document["manager"], document["manager_name"] = None, None
    offer_rows = await node.store.query(
        "SELECT key, record FROM shares WHERE feed = ? AND kind = 'offer' AND enterprise = ? ORDER BY seq DESC LIMIT ?",
        (node.feed, eid, limits.page_size_max),
        limits.page_size_max,
    )
    offers = [_offer_view(node, offer_json(node, share_value("offer", record))) for _, record in offer_rows]
    books = [
        {"class": share_class, **_book_view(request, node, eid, share_class["index"])}
        for share_class in document["classes"]
        if share_class["transferable"]
    ]
    return html_page(
        "enterprise.html",
        class_kind_words={kind: gettext(words) for kind, words in share_class_kind_words.items()},
        dividends=_dividends(node, eid),
        holdings_shown=holdings_shown,
        decisions_shown=sees(request, "decisions"),
        signed_in=reader_of(request).is_member,
        **await frame_for(request),
        enterprise=document,
        balance=money_text(node, document["balance"]),
        holders=holders,
        holders_max=limits.page_size_max,
        offers=offers,
        books=books,
        # Its account as a file, for its manager and whoever may read every history (the route's rule).
        accounts_download=f"/api/exports/enterprises/{document['id']}?{this_year_query()}"
        if reader_of(request).member == manager or sees(request, "history") else None,
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
        {"id": decision.seq, "title": node.directory.shown(decision.title), "amount": decision.effect.amount_minor,  # type: ignore[union-attr]
         "amount_text": money_text(node, decision.effect.amount_minor),  # type: ignore[union-attr]
         "open": decision.is_open, "outcome": decision.outcome, "closed_seq": decision.closed_seq,
         "deadline_ms": decision.deadline_ms}
        for decision in found[:dividends_shown]
    ]


async def enterprises_with_offers(node: Node) -> list[dict[str, Any]]:
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
