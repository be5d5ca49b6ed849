"""A member's delegations for the wallet's Decide screens: `GET /api/members/{reference}/delegations`.

How this works: the state holds, for each member who delegated, their delegate per topic
(docs/decisions.md, "Who votes, and delegation"; `""` is the general topic). The answer is the
member's own delegations (`given`: whom they let vote for them, per topic) and the delegations made
to them (`received`: who lets them vote for them, per topic), each other member with their name as
the reader may see names. `received` is found by reading every member's delegations, which the
state holds in memory: at most `delegations_per_member_max` (16) per member, so a bounded walk.

Who may call it: the member concerned, or an admin (as the export, which also lists the member's
delegations). A member the reader may not name is `bad_id`, as for no one (a stranger, by
default); any other reader who may name them (another member) is refused `not_visible` (403),
since whom a member follows and who follows them says how their votes are cast.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tallystick.protocol.ids import id_to_text

from ..app import Node, node_key
from ..visible import NotVisibleError, name_for
from ..visible import resolve_member as resolve_for
from .middleware import json_response
from .readers import reader_of

# The delegations made to one member that one answer lists: one per delegating member and topic.
# A community of thousands could delegate to one person; a screen shows this many, and `received_total`
# says how many there are.
received_shown_max = 1000


def _node(request: web.Request) -> Node:
    return request.app[node_key]


async def delegations(request: web.Request) -> web.Response:
    node = _node(request)
    state = node.sequencer.state
    reader = reader_of(request)
    member_id = resolve_for(state, reader, request.match_info["reference"], node.directory)
    if not (reader.admin or reader.member == member_id):
        raise NotVisibleError(
            "a member's delegations are for that member and admins; sign in as that member (or give --key)"
        )

    def person(other: bytes) -> dict[str, Any]:
        return {"id": id_to_text("m", other), "name": name_for(state, reader, other, node.directory)}

    given = [{"topic": topic, "to": person(to)} for topic, to in sorted(state.delegations.get(member_id, {}).items())]
    received = sorted(
        (topic, id_to_text("m", member), member)
        for member, chosen in state.delegations.items()
        for topic, to in chosen.items()
        if to == member_id
    )
    return json_response({
        "member": id_to_text("m", member_id),
        "given": given,
        "received": [{"topic": topic, "from": person(member)} for topic, _, member in received[:received_shown_max]],
        "received_total": len(received),
    })


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/members/{reference}/delegations", delegations)
