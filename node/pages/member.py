"""A member's page, `/members/{reference}`: their balance between their limits and over time, every
change of it (a page at a time, newest first), what is held for them and why, their votes, shares
and orders, and the "pay me" QR code.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import segno
from aiohttp import web
from markupsafe import Markup
from tallystick.ledger.accounts import people_roles
from tallystick.ledger.model import State
from tallystick.ledger.money import format_amount
from tallystick.protocol import limits
from tallystick.protocol.errors import TallyError
from tallystick.protocol.ids import id_from_text, id_to_text

from ..app import Node
from ..http.readers import reader_of
from ..http.shares import member_holdings
from ..public import public_url
from .describe import describe_change, enterprise_part, shares_of
from .language import amount_typed, language_of, money, word_for
from .language import gettext as _
from .qr import pay_uri, qr_svg
from .shared import (
    ElsewhereNames,
    account_row,
    balances_over_time,
    chart_over_time,
    folded_at,
    frame_for,
    html_page,
    money_text,
    node_of,
    plain_amount,
    query_number,
    role_words,
    sees,
    this_year_query,
)

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


def _resolve(node: Node, reference: str) -> bytes | None:
    """A member by id (`m_…`) or by name (their name in clear, as the node's directory opens it),
    as the API's /api/members/{reference}; None if unknown."""
    state: State = node.sequencer.state
    if reference.startswith("m_"):
        try:
            member_id = id_from_text("m", reference)
        except TallyError:
            return None
        return member_id if member_id in state.members else None
    return node.directory.find(state, reference)


async def _history(request: web.Request, node: Node, member_id: bytes) -> tuple[list[dict[str, Any]], int | None]:
    """Every change of the member's balance, newest first, before the `before` seq of the query (a
    page of older ones), and the seq to continue from (None: nothing older). From the member's
    postings (node/history.py), each with its change and the balance after it, joined with the log
    (every kind of event: payments, payments across, subscriptions and orders held in escrow,
    dividends, refunds), so the changes listed add up to the balance."""
    state: State = node.sequencer.state
    before = query_number(request, "before")
    if before is not None:
        before = max(1, before)
    changes, continue_from = await balances_over_time(request).changes_newest_first(
        node.feed, member_id, before, history_payments_shown)
    seqs = [seq for seq, _, _, _ in changes]
    rows = await node.store.query(
        f"SELECT seq, kind, bytes FROM log WHERE feed = ? AND seq IN ({', '.join('?' * len(seqs))}) LIMIT ?",
        (node.feed, *seqs, len(seqs)),
        len(seqs),
    ) if seqs else []
    raw_of = {seq: bytes(raw) for seq, _, raw in rows}
    elsewhere = ElsewhereNames(request)
    if any(kind == "payment_accepted" for _, kind, _ in rows):  # only then is a payer looked up
        await elsewhere.load()
    unit = state.community
    lines = []
    for seq, ts, change, balance in changes:
        line = {"seq": seq, "ts": ts, "change_minor": change, "balance_minor": balance,
                "change": ("+" if change > 0 else "") + money(change, unit.unit_decimals, unit.unit_code),
                "balance": money(balance, unit.unit_decimals, unit.unit_code),
                "direction": "out" if change < 0 else ("in" if change > 0 else "none")}
        raw = raw_of.get(seq)
        line.update(describe_change(state, node.directory, member_id, seq, raw, change, elsewhere) if raw is not None
                    else {"parts": [("text", _("an event this node no longer holds"))], "memo": None, "held": False})
        lines.append(line)
    return lines, continue_from


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
                ("text", _("for your subscription to ")),
                *shares_of(state, offer.enterprise, offer.share_class, subscription.units),
                ("text", _(" (offer #%(number)s, until it closes)", number=offer.seq))]})
    for order in orders:
        if order["side"] == "buy" and order["reserved"]:
            eid = id_from_text("e", order["enterprise"])
            held.append({"amount_minor": order["reserved"], "parts": [
                ("text", _("for your buy order #%(number)s on ", number=order["id"])), enterprise_part(state, eid),
                ("text", _(" (%(units)s at %(price)s)", units=order["units"],
                           price=money(order["price"], unit.unit_decimals, unit.unit_code)))]})
    elsewhere = ElsewhereNames(request)
    # Payments across not yet answered, of every payer: bounded by what the community may hold out.
    for pending in itertools.islice(state.payments.pending.values(), payments_pending_read_max):
        if pending.payer == member_id:
            community_name, member_name = elsewhere(pending.to_community, pending.to_member)
            held.append({"amount_minor": pending.amount_minor, "parts": [
                ("text", _("for your payment to ")), ("text", member_name or id_to_text("m", pending.to_member)[:12] + "…"),
                ("text", _(" of ")), ("text", community_name or id_to_text("n", pending.to_community)[:12] + "…"),
                ("text", _(", until that community answers"))]})
    for row in held:
        row["amount"] = money(row["amount_minor"], unit.unit_decimals, unit.unit_code)
    return held


async def member_page(request: web.Request) -> web.Response:
    language_of(request)  # before any text is written
    node = node_of(request)
    state: State = node.sequencer.state
    reference = request.match_info["reference"]
    member_id = _resolve(node, reference)
    member = state.members.get(member_id) if member_id is not None else None
    # A person the reader may not see the names of is answered as one unknown: the same 404, so
    # a page is no oracle of who is a member. The community's own accounts (an enterprise's, the
    # escrow, the treasury, trade) are not people: their pages are everyone's.
    is_person = member is not None and member.role in people_roles
    if member is None or member_id is None or (is_person and not sees(request, "names", member_id)):
        return html_page("not_found.html", status=404, **await frame_for(request), reference=reference,
                         what="member", signed_in=reader_of(request).is_member)
    shown = {kind: not is_person or sees(request, kind, member_id) for kind in ("balances", "votes", "holdings")}
    shown["history"] = sees(request, "history", member_id)
    name = node.directory.name(member)
    account = account_row(node, member_id, name, member.role, member.active)
    history, older = await _history(request, node, member_id) if shown["history"] else ([], None)
    votes = []
    searched = await node.store.decision_rows(node.feed, open_only=False, limit=votes_decisions_searched) \
        if shown["votes"] else []
    for decision in searched:
        live = state.decisions.get(decision.seq, decision)
        ballot = live.votes.get(member_id)
        if ballot is not None:
            votes.append({
                "id": decision.seq, "title": node.directory.shown(decision.title), "open": live.is_open,
                "outcome": live.outcome, "position": ballot.position,
                "options": [node.directory.shown(decision.options[i]) for i in ballot.options
                            if i < len(decision.options)],
            })
    held, orders = await member_holdings(node, member_id, limits.page_size_max) if shown["holdings"] else ([], [])
    for row in held:
        row["cost_text"] = money_text(node, row["cost"])
    for row in orders:
        row["price_text"] = money_text(node, row["price"])
        row["enterprise_name"] = enterprise_part(state, id_from_text("e", row["enterprise"]))[1]["name"]
    # What is held is part of the balance: shown with it (the orders behind it only with the holdings).
    held_now = held_for_member(node, request, member_id, orders if shown["holdings"] else []) if shown["balances"] else []
    # An amount and memo for the QR code, from the page's own GET form (no JavaScript), typed in the
    # protocol's form or the reader's ('12,50' in Spanish); the link and the command carry the
    # protocol's ('12.50'), the form shows it back in the reader's.
    typed = request.query.get("amount", "").strip()[:32]
    memo = request.query.get("memo", "")[: limits.memo_chars_max]
    amount_error, amount_text, amount_field = None, "", ""
    if typed:
        amount_minor, amount_error = amount_typed(typed, state.community.unit_decimals)
        if amount_minor is not None:
            amount_text = format_amount(amount_minor, state.community.unit_decimals)
            amount_field = plain_amount(node, amount_minor)
    origin = public_url(request)
    uri = pay_uri(origin, account["id"], amount_text or None, memo)
    over_time = await balances_over_time(request).account(node.feed, member_id) if shown["balances"] else None
    # In a thread: drawing a new code is CPU work that would otherwise hold every other request.
    svg = ""
    if member.role != "escrow":  # nobody pays an escrow
        try:
            svg = await asyncio.to_thread(qr_svg, uri)
        except segno.DataOverflowError:
            # A long memo (280 characters of 4-byte letters, percent-encoded) is past what a QR code holds.
            amount_error = _("the memo is too long for a QR code; shorten it")
    return html_page(
        "member.html",
        **await frame_for(request),
        balance_chart=chart_over_time(node, over_time, over_time["points"]) if over_time else None,
        balance_sampled=over_time["sampled"] if over_time else False,
        folded=folded_at(node, over_time) if over_time else None,
        shown=shown,
        signed_in=reader_of(request).is_member,
        member=account,
        role_words=word_for(role_words, member.role),
        tree_account=state.payments.tree is not None and member_id == state.payments.tree.account,
        is_person=is_person,
        admitted_seq=member.admitted_seq,
        history=history,
        older_history=older,
        held=held_now,
        held_total=money_text(node, sum(row["amount_minor"] for row in held_now)),
        votes=votes,
        holdings=held,
        orders=orders,
        pay_uri=uri,
        qr_svg=Markup(svg),  # drawn by segno from our URI; nothing a member typed is in it as text
        amount=amount_text,
        amount_field=amount_field,
        memo=memo,
        amount_error=amount_error,
        node_url=origin,
        # The statement as a file, where the reader may read it (the export route asks the same).
        statement_download=f"/api/exports/statement/{account['id']}?{this_year_query()}"
        if is_person and shown["history"] else None,
    )
