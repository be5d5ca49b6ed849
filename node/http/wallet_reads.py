"""Three reads a wallet needs: whether the node applied one of its member's signed intents (`GET
/api/members/{reference}/intents/{nonce}`), what of their credit is held and why (`GET
/api/members/{reference}/held`), and the community's rules in force (`GET /api/rules`). docs/api.md
§10, §10.1; docs/wallet.md "Outbox" and "The rules in force".

How this works. **An intent by its nonce.** A nonce is unique per member per feed (protocol.md
§13.2.1): the wallet keeps a payment it could not send as its signed bytes and, sent again, may be
answered `replayed_nonce`, which means "applied before" when the nonce is in the member's window
and only "too old" when it is at or below the floor. So the answer is read from what the node
holds: a nonce above the floor and not in the window was never applied (`not_applied`); otherwise
the member's postings are read newest first, at most `intent_search_postings_max`, and the event
that carries an intent of theirs with that nonce gives `applied` with its seq and hash; a nonce in
the window that no posting carries (an intent that moved no credit: a vote) is `applied` without a
seq; one below the floor that no posting read carries is `unknown`. **What is held** is read from
the ledger's state: the credit in escrow for the member's open subscriptions and resting buys, their
resting sells (shares locked, no credit), and the payments across they sent that are not yet
settled or returned (the credit comes back if the payment is returned), each with its amount and
the other community's name where this node holds its ledger (`elsewhere_key`).

**The rules in force** are read from the ledger's state as the ledger itself applies them: the
default limits, the admission rule and the default quorum and threshold (`set_rules`), the floors of
every class of decision (`floors_in_force`: the defaults with every passed `set_floors` over them),
the levy (`set_levy`; null while payments carry none) and who sees what (`set_visibility`). Nothing in
it is personal, but it is the community's own business, so it is for its members.

Who may call them: the rules, any active member (signed in, or signing the request); anyone else
401 `not_signed_in`. The intent, whoever may see the member's history (by default the member
concerned and the admins, like the statement: it tells which payments they made); what is held,
whoever may see the member's balance (by default the same). A member the reader may not name is
`bad_id`, as for no one (a stranger, by default); anyone else who may name them `not_visible`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tallystick.ledger.decisions import floors_in_force
from tallystick.ledger.model import State
from tallystick.ledger.visibility import policy_json
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_intent
from tallystick.protocol.events import Act
from tallystick.protocol.federation import PaymentOut
from tallystick.protocol.ids import hash32, id_to_text

from ..app import Node, elsewhere_key, node_key
from ..history import History
from ..sessions import NotSignedInError
from ..visible import require
from ..visible import resolve_member as resolve_for
from . import params
from .middleware import json_response
from .readers import reader_of

# Postings read to find an intent below the window: a wallet asks about a payment it signed a
# while ago, so its event is among the member's recent postings; a few bounded queries at most.
intent_search_postings_max = 1000
# Postings read from the store at a time while searching.
intent_search_batch_postings = 200
# Items of what is held: the protocol bounds each kind far below this (orders and pending payments
# per member); the answer is one bounded list.
held_items_max = limits.page_size_max


def _node(request: web.Request) -> Node:
    return request.app[node_key]


def _carried_nonce(raw: bytes, keys: set[bytes]) -> int | None:
    """The nonce of the member's intent an event carries (an act, or a payment sent across), if
    the signer's key is one of `keys`."""
    body = decode_event(raw).body
    if not isinstance(body, Act | PaymentOut):
        return None
    intent = decode_intent(body.intent)
    return intent.nonce if intent.key in keys else None


async def intent_by_nonce(request: web.Request) -> web.Response:
    node = _node(request)
    nonce = params.path_integer(request, "nonce", 0, limits.int64_max, "an intent's nonce")
    state, reader = node.sequencer.state, reader_of(request)
    member_id = resolve_for(state, reader, request.match_info["reference"], node.directory)
    require(state, reader, "history", member_id)
    member = state.members[member_id]
    answer: dict[str, Any] = {"member": id_to_text("m", member_id), "nonce": nonce, "status": "not_applied",
                              "seq": None, "hash": None}
    in_window = nonce in member.nonces
    if nonce > member.nonce_floor and not in_window:
        return json_response(answer)
    # Every key this member ever signed with: a retired key's intents are theirs too.
    keys = {key for key, owner in state.keys.items() if owner == member_id}
    reading = History(node.store)
    before: int | None = None
    read = 0
    while read < intent_search_postings_max:
        seqs, before = await reading.postings_newest_first(node.feed, member_id, before, intent_search_batch_postings)
        seqs = seqs[: intent_search_postings_max - read]
        read += len(seqs)
        if seqs:
            stored = await node.store.query(
                f"SELECT seq, bytes FROM log WHERE feed = ? AND seq IN ({', '.join('?' * len(seqs))}) LIMIT ?",
                (node.feed, *seqs, len(seqs)), len(seqs))
            for seq, raw in sorted(stored, reverse=True):
                if _carried_nonce(bytes(raw), keys) == nonce:
                    answer.update(status="applied", seq=seq, hash=id_to_text("h", hash32(bytes(raw))))
                    return json_response(answer)
        if before is None or not seqs:
            break
    answer["status"] = "applied" if in_window else "unknown"
    return json_response(answer)


def held_items(node: Node, state: State, member_id: bytes, community_name: Any) -> list[dict[str, Any]]:
    """What of the member's credit is held, and why: open subscriptions, resting orders, payments
    across in flight (oldest first within each kind)."""
    shares = state.shares
    items: list[dict[str, Any]] = []
    for seq in sorted(shares.open_offers.keys()):
        offer = shares.offers[seq]
        subscription = offer.subscriptions.get(member_id)
        if subscription is None or offer.outcome is not None:
            continue
        enterprise = shares.enterprises[offer.enterprise]
        items.append({"kind": "subscription", "seq": seq, "amount": subscription.units * offer.price_minor,
                      "units": subscription.units, "enterprise": id_to_text("e", offer.enterprise),
                      "enterprise_name": enterprise.name, "class_name": enterprise.classes[offer.share_class].name,
                      "until_ms": offer.deadline_ms})
    for seq, order in sorted(shares.orders.items()):
        if order.owner != member_id:
            continue
        enterprise = shares.enterprises[order.enterprise]
        items.append({"kind": "order", "seq": seq, "side": order.side, "amount": order.reserved_minor,
                      "units": order.units, "price": order.price_minor,
                      "enterprise": id_to_text("e", order.enterprise), "enterprise_name": enterprise.name,
                      "class_name": enterprise.classes[order.share_class].name, "until_ms": None})
    for payment, pending in sorted(state.payments.pending.items(), key=lambda item: item[1].seq):
        if pending.payer != member_id:
            continue
        items.append({"kind": "payment_across", "seq": pending.seq, "amount": pending.amount_minor,
                      "payment": id_to_text("h", payment), "to_community": id_to_text("n", pending.to_community),
                      "community_name": community_name(pending.to_community),
                      "to_member": id_to_text("m", pending.to_member), "until_ms": pending.expires_ms})
    return items[:held_items_max]


async def held(request: web.Request) -> web.Response:
    node = _node(request)
    state, reader = node.sequencer.state, reader_of(request)
    member_id = resolve_for(state, reader, request.match_info["reference"], node.directory)
    require(state, reader, "balances", member_id)
    elsewhere = request.app.get(elsewhere_key)

    def community_name(community: bytes) -> str | None:
        ledger = elsewhere.ledger(community) if elsewhere is not None else None
        return None if ledger is None else ledger.community.name

    items = held_items(node, state, member_id, community_name)
    return json_response({"member": id_to_text("m", member_id), "total": sum(item["amount"] for item in items),
                          "items": items})


def rules_json(state: State) -> dict[str, Any]:
    """The community's rules in force: what `GET /api/rules` answers."""
    community, rules, levy = state.community, state.rules, state.levy
    return {
        "unit": {"code": community.unit_code, "decimals": community.unit_decimals},
        "debit_limit": community.debit_limit_minor,
        "credit_ceiling": community.credit_ceiling_minor,
        "admission": rules.admission,
        "quorum_bp": rules.quorum_bp,
        "threshold_bp": rules.threshold_bp,
        # In the order docs/decisions.md lists the classes (default_floors'), the lightest first.
        "floors": [{"class": floor.decision_class, "quorum_bp": floor.quorum_bp, "threshold_bp": floor.threshold_bp,
                    "period_ms": floor.period_ms} for floor in floors_in_force(state).values()],
        "levy": None if levy is None else {"rate_bp": levy.rate_bp, "min": levy.min_minor, "max": levy.max_minor},
        "visibility": policy_json(state.visibility),
    }


async def rules(request: web.Request) -> web.Response:
    if not reader_of(request).is_member:
        raise NotSignedInError("the community's rules are for its members: sign in, or sign the request with your key")
    return json_response(rules_json(_node(request).sequencer.state))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/rules", rules)
    app.router.add_get("/api/members/{reference}/intents/{nonce}", intent_by_nonce)
    app.router.add_get("/api/members/{reference}/held", held)
