"""Whom a member may pay across: `GET /api/payees/{m_…}[?amount=N]`, the wallet's look-up of a
member of another community of this node's federations (docs/api.md §10, docs/wallet.md "Paying
across").

How this works: a pay link names a member by id (`/wallet/pay?to=m_…`), and an id is a key, not a
community. So the wallet asks its own node which communities of its federations hold an active
member with that id: every community under a federation this node holds, whose ledger it holds
(its own or a replica), that shares a federation with this one. Each is answered with its name and
unit, the federation the payment would meet at (its `pay_across` names it), and, given `amount`
(minor units of this community's unit), what the payee would receive as the charters' rates
convert it (federation/payments.py `convert`, rounding down at each step; null when it converts to
under one minor unit). Names of another community's members are committed in its log (protocol.md
§19), so none is given: the wallet shows the community's name and the id.

Who may call it: an active member of this community (signed in, or signing the request): it is a
payer's look-up. Anyone else is 401 `not_signed_in`. The id asked about is in no log or message.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tallystick.node.http import params
from tallystick.node.http.middleware import json_response
from tallystick.node.http.readers import reader_of
from tallystick.node.sessions import NotSignedInError
from tallystick.protocol import limits
from tallystick.protocol.errors import TallyError
from tallystick.protocol.ids import id_from_text, id_to_text

from . import payments as payment_machine
from .view import federations_key

# Communities one look-up answers: a member's key in more communities than this is no pay link's.
payee_communities_max = 20


async def payees(request: web.Request) -> web.Response:
    member = id_from_text("m", request.match_info["member"])
    amount = params.query_integer(request, "amount", 0, 1, limits.amount_minor_max) or None
    if not reader_of(request).is_member:
        raise NotSignedInError("paying across is for members: sign in, or sign the request with a member's key")
    layer = request.app[federations_key]
    state, _ = await layer.view()
    own = layer.own_feed
    communities = sorted({entry.member for federation in state.federations.values()
                          for entry in federation.members.values() if entry.kind == "community"} - {own})
    found: list[dict[str, Any]] = []
    for community in communities:
        ledger = layer.ledger(community)
        held = None if ledger is None else ledger.members.get(member)
        if held is None or not held.active or member not in ledger.accounts:
            continue
        try:
            meeting, steps = payment_machine.route(state, own, community)
        except TallyError:
            continue  # no federation above both: not payable from here
        received = None
        if amount is not None:
            try:
                received = payment_machine.convert(amount, steps)
            except TallyError:
                received = None
        found.append({
            "member": id_to_text("m", member),
            "community": id_to_text("n", community),
            "community_name": ledger.community.name,
            "unit": {"code": ledger.community.unit_code, "decimals": ledger.community.unit_decimals},
            "federation": id_to_text("x", meeting),
            "federation_name": state.federations[meeting].name,
            "amount": amount,
            "received": received,
        })
        if len(found) == payee_communities_max:
            break
    return json_response(found)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/payees/{member}", payees)
