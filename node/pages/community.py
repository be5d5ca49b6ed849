"""The community's page, `/`: its members a page at a time, its own accounts, the balance
histogram, the credit in circulation and the treasury over time, recent activity, open decisions
with live tallies, enterprises with their open offers, and the federations this node knows.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from aiohttp import web
from tallystick.ledger.accounts import people, people_roles
from tallystick.ledger.decisions import tally, winners
from tallystick.ledger.model import Decision, Member, State
from tallystick.ledger.shares import vote_weights
from tallystick.protocol import limits
from tallystick.protocol.events import (
    Holders,
)
from tallystick.protocol.ids import id_to_text

from ..app import Node, clock_ms
from ..http.readers import reader_of
from ..personal import Directory
from . import charts
from .describe import describe_event, enterprise_part
from .enterprise import enterprises_with_offers
from .language import N_, ceiling, debit_floor, language_of, number, word_for
from .language import gettext as _
from .shared import (
    ElsewhereNames,
    account_row,
    balances_over_time,
    chart_over_time,
    elsewhere_of,
    folded_at,
    frame_for,
    html_page,
    money_text,
    node_of,
    page_number,
    plain_amount,
    role_words,
    sees,
)

# Rows of the members table on one page of `/`.
members_per_page = limits.page_size_default
# Events of the log's tail shown as recent activity on `/`.
activity_events = 20
# Open decisions shown with live tallies on `/`: each tally counts every member, as /api/decisions
# does (node/decisions.py `tally`: ~10-20 ms for 10,000 members on this machine), so a few.
open_decisions_shown = 5
# Decision types in words.
decision_type_words = {"proposal": N_("proposal"), "poll": N_("poll"), "consent": N_("decision by consent")}
holders_decision_type_words = {"proposal": N_("holders' proposal"), "poll": N_("holders' poll"),
                               "consent": N_("holders' decision by consent")}
# System accounts listed on `/` (one per enterprise, the escrow, the treasury, one per federation).
system_accounts_listed = limits.page_size_default
# The order system accounts are listed in on `/`.
system_role_order = {"treasury": 0, "escrow": 1, "trade": 2, "enterprise": 3}


def _system_account_words(state: State, account: bytes, role: str) -> str:
    """What one of the community's own accounts is for, in words."""
    if role == "enterprise":
        return _("the enterprise's own account: share sales, its payments, dividends")
    if role == "escrow":
        return _("holds the credit of subscriptions and buy orders until they are allotted, filled or come back")
    if role == "treasury":
        return _("the community's treasury: the levy on payments, spent by the members' decisions")
    if role == "trade" and state.payments.tree is not None and account == state.payments.tree.account:
        return _("the other side of every payment between this community and the Credit Commons tree it is grafted onto")
    if role == "trade":
        return _("the other side of every payment between this community and others in a federation")
    return word_for(role_words, role)


def _decision_view(node: Node, decision: Decision, now_ms: int) -> dict[str, Any]:
    """A decision with the API's live tally (the same `tally` /api/decisions serves)."""
    state: State = node.sequencer.state
    live = state.decisions.get(decision.seq, decision)
    result = live.result if live.result is not None else tally(state, live)
    counted = sum(result.positions.values()) or 1
    holders = isinstance(live.electorate, Holders)
    enterprise = enterprise_part(state, live.electorate.enterprise)[1] if holders else None  # type: ignore[union-attr]
    return {
        "id": decision.seq,
        "type": decision.decision_type,
        "type_words": word_for(holders_decision_type_words if holders else decision_type_words, decision.decision_type),
        "holders": holders,
        "enterprise": enterprise,
        "people": people_in_tally(state, live, result),
        "title": node.directory.shown(decision.title),
        "text": node.directory.shown(decision.text),
        "open": live.is_open,
        "time_left_ms": max(0, decision.deadline_ms - now_ms) if live.is_open else 0,
        "deadline_ms": decision.deadline_ms,
        "outcome": live.outcome,
        "tally": result,
        "shares": {position: 100 * count / counted for position, count in result.positions.items()},
        "options": [
            {"name": node.directory.shown(name), "count": count, "winner": index in winners(result)}
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


def _line_members(line: dict[str, Any]) -> set[str]:
    """The ids of the members an activity line names (who acted, to whom, and any named in its words)."""
    named = {part[1]["id"] for part in line.get("parts", ()) if part[0] == "member"}
    for side in ("who", "whom"):
        if line.get(side):
            named.add(line[side]["id"])
    return named


def _histogram(node: Node) -> dict[str, Any] | None:
    """The distribution of the balances of the active members who are people (not the community's
    own accounts: an enterprise's or the escrow's balance is not a person's). Read from the state the node holds in
    memory (one pass over the members, ~5 ms for 10,000): two SQL scans with a join cost 5x that."""
    state: State = node.sequencer.state
    accounts = state.accounts
    balances = [accounts[i].balance_minor for i, member in state.members.items()
                if member.active and member.role in people_roles and i in accounts]
    return charts.histogram(balances, lambda minor: plain_amount(node, minor))


async def _federations_listed(request: web.Request) -> list[dict[str, Any]] | None:
    """The federations this node knows, by name, when it runs with the layer that holds them."""
    elsewhere = elsewhere_of(request)
    if elsewhere is None:
        return None
    return [{"id": id_to_text("x", f.id), "name": f.name, "members": f.members}
            for f in await elsewhere.federations_listed()]


def _people_page(state: State, directory: Directory, page: int) -> list[tuple[str, bytes, Member]]:
    """Page `page` of the people (members and admins), in the order of their names in clear (case
    insensitive, then by id), as (name, id, member), from one pass over the members in memory: the
    first pages through a heap of their size (page 1 of 10,000 people: ~3 ms here), a later one by
    sorting them all (~10 ms), which a heap nearly as large as the list is slower than."""
    people_rows = [(directory.name(member), member_id, member) for member_id, member in state.members.items()
                   if member.role in people_roles]
    wanted = page * members_per_page

    def key(row: tuple[str, bytes, Member]) -> tuple[str, bytes]:
        return row[0].casefold(), row[1]

    first = heapq.nsmallest(wanted, people_rows, key=key) if wanted * 8 < len(people_rows) \
        else sorted(people_rows, key=key)[:wanted]
    return first[(page - 1) * members_per_page:]


async def community_page(request: web.Request) -> web.Response:
    language_of(request)  # before any text is written
    node = node_of(request)
    state: State = node.sequencer.state
    feed = node.feed
    # People and the community's system accounts (enterprises, escrow, treasury, trade), which are
    # not people: counted and listed apart, from one pass over the members in memory (~5 ms for
    # 10,000). The projection's name column holds a committed name's digest (node/store.py), so
    # its order is not the names': people are put in the order of their names in clear, as the
    # node's directory opens them.
    directory = node.directory
    system = [(member_id, member) for member_id, member in state.members.items() if member.role not in people_roles]
    people_total = len(state.members) - len(system)
    pages = max(1, math.ceil(people_total / members_per_page))
    page = page_number(request, pages)
    # Names by the policy: a reader who may not see them gets no person rows (the count stays);
    # each balance by the policy about that member (a member always sees their own).
    names_shown = sees(request, "names")
    rows = _people_page(state, directory, page) if names_shown else []
    system.sort(key=lambda item: (system_role_order.get(item[1].role, len(system_role_order)),
                                  directory.name(item[1]).casefold()))
    system_accounts = [
        {**account_row(node, member_id, directory.name(member), member.role, member.active),
         "what": _system_account_words(state, member_id, member.role)}
        for member_id, member in system[:system_accounts_listed]
        if member_id in state.accounts
    ]
    members = [
        {**account_row(node, member_id, name, member.role, member.active),
         "balance_shown": sees(request, "balances", member_id)}
        for name, member_id, member in rows
        if member_id in state.accounts
    ]
    tail = await node.store.query(
        "SELECT seq, ts, bytes FROM log WHERE feed = ? ORDER BY seq DESC LIMIT ?", (feed, activity_events), activity_events
    )
    elsewhere = ElsewhereNames(request)  # names the other side of payments across, from the ledgers held
    activity = [describe_event(state, directory, seq, ts, bytes(raw), elsewhere) for seq, ts, raw in tail]
    # The log's tail is the log: by the policy; a member who may not see it sees the lines about
    # themselves (their own history), a stranger none.
    log_shown = sees(request, "log")
    reader = reader_of(request)
    if not log_shown:
        own = id_to_text("m", reader.member) if reader.member is not None else None
        activity = [line for line in activity if own is not None and own in _line_members(line)]
    now_ms = clock_ms()
    open_rows = await node.store.decision_rows(feed, open_only=True, limit=open_decisions_shown + 1)
    decisions = [_decision_view(node, decision, now_ms) for decision in open_rows[:open_decisions_shown]]
    decisions_shown = sees(request, "decisions")  # text and tallies; titles and outcomes are everyone's
    treasury = None
    if state.treasury is not None and state.treasury in state.members:
        treasury = account_row(node, state.treasury, directory.name(state.members[state.treasury]), "treasury", True)
    levy = state.levy
    over_time = await balances_over_time(request).community(feed, state.treasury)
    return html_page(
        "index.html",
        circulation=chart_over_time(node, over_time, over_time["circulation"]),
        treasury_chart=chart_over_time(node, over_time, over_time["treasury"]) if treasury else None,
        folded=folded_at(node, over_time),
        **await frame_for(request),
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
        levy=None if levy is None else {"rate_percent": number(levy.rate_bp / 100), "min": money_text(node, levy.min_minor),
                                        "max": money_text(node, levy.max_minor)},
        histogram=_histogram(node) if sees(request, "balances") else None,
        names_shown=names_shown,
        log_shown=log_shown,
        decisions_shown=decisions_shown,
        signed_in=reader.is_member,
        enterprises=await enterprises_with_offers(node),
        federations=await _federations_listed(request),
        default_debit_limit=debit_floor(state.community.debit_limit_minor, state.community.unit_decimals,
                                        state.community.unit_code),
        default_credit_ceiling=ceiling(state.community.credit_ceiling_minor, state.community.unit_decimals,
                                       state.community.unit_code),
        default_no_ceiling=state.community.credit_ceiling_minor >= limits.amount_minor_max,
    )
