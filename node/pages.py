"""The community's web page: who is here and where the credit stands.

How this works: one server-rendered page from the projections, through Jinja2 with autoescaping on,
so nothing a member typed (a name, a memo) can run as script in a reader's browser. The full pages
(member views, the federation's picture) grow from here.
"""

from __future__ import annotations

import jinja2
from aiohttp import web
from tallystick.protocol.ids import id_to_text

from .domain import credit_ceiling, debit_limit
from .money import format_amount

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("tallystick.node", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
)


async def index(request: web.Request) -> web.Response:
    from .runtime import node_key

    node = request.app[node_key]
    state, head = node.sequencer.state, node.sequencer.head
    decimals = state.community.unit_decimals
    rows = []
    for member_id, name, balance, _debit, _ceiling, active in await node.store.balances(node.feed):
        account = state.accounts[member_id]
        rows.append(
            {
                "id": id_to_text("m", member_id),
                "name": name,
                "balance": format_amount(balance, decimals),
                "debit_limit": format_amount(debit_limit(state, account), decimals),
                "credit_ceiling": format_amount(credit_ceiling(state, account), decimals),
                "active": bool(active),
            }
        )
    html = _environment.get_template("index.html").render(
        community=state.community, node=id_to_text("n", head.feed), seq=head.seq, rows=rows
    )
    return web.Response(text=html, content_type="text/html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
