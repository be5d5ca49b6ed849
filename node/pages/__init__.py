"""The node's web pages: the community (/), each member (/members/{ref}), the operator (/node) and
each enterprise (/enterprises/{ref}); one module a page, the plots apart (charts.py), the QR code
apart (qr.py), events in words (describe.py) and what every page shares (shared.py). The pages of
federations and of payments between communities are the federation layer's own
(federation/pages.py), registered with its routes; a node without that layer says so at their
addresses.

How this works: each page is rendered on the server from the projections and the tail of the log,
through Jinja2 with autoescaping on, so nothing a member typed (a name, a memo, a proposal) can run
as script in a reader's browser: templates never mark member text `|safe`; the only markup made
here is SVG we draw ourselves (the balance plot, the QR code from segno). No page needs JavaScript
to be read. Every read is bounded: a page of members (`page_size_default`) in the order of their
names in clear from one pass over the members the node holds in memory (the log and the
projections hold a name as its salted digest; the node's `Directory`, node/personal.py, opens
names, memos and proposals' texts for the pages), the last events of the log, a histogram from
the same members in memory,
the newest few open decisions, and a member's payments from the `postings` projection joined with
the log, newest first, a page at a time (node/history.py). docs/pages.md has what each page reads
and what `make bench` measured at 10,000 members and 1,000,000 events. The numbers are the API's:
the same projections, the same `debit_limit`, `credit_ceiling` and decision `tally`, and the
alerts of `Node.status()`, which /api/status serves; an enterprise's from node/http/shares.py's
`enterprise_json`, `offer_json` and `cap_table`. Balances over time (a member's, the community's
credit in circulation and treasury) come from node/history.py, which reads them from the
`postings` projection the store writes with the log. What a page says of other communities (their
names, who paid a payment across, the federations known) comes through the node's `Elsewhere`
layer (node/app.py), never from federation/ itself. What a page shows of members (names,
balances, histories and memos, votes, decisions' texts and tallies, holdings, the log) is what the
community's visibility policy lets the request's reader see (shared.py `sees`, ledger/visibility.py
`can_see`); a member's page hidden from the reader is the same 404 as an unknown one (docs/pages.md,
"Who sees what").
"""

from __future__ import annotations

from aiohttp import web

from ..app import elsewhere_key
from .community import community_page
from .enterprise import enterprise_page
from .language import gettext as _
from .member import member_page
from .node import node_page
from .report import report_page
from .shared import frame_for, html_page


async def no_federation_page(request: web.Request) -> web.Response:
    frame = await frame_for(request)  # chooses the request's language
    reason = _("This node runs without its federation layer (start it with `tally serve`), so it knows no federation")
    return html_page("not_found.html", status=404, **frame, reference=request.match_info["reference"], what="federation",
                     reason=reason)


async def no_payments_page(request: web.Request) -> web.Response:
    return html_page("not_found.html", status=404, **await frame_for(request), reference="/payments",
                     what="payments")


def add_routes(app: web.Application) -> None:
    """The node's pages. Called after the extension's routes: without a layer that holds other
    communities (`elsewhere_key` unset), /payments and /federations/{ref} say there is none."""
    app.router.add_get("/", community_page)
    if elsewhere_key not in app:
        app.router.add_get("/payments", no_payments_page)
    app.router.add_get("/members/{reference}", member_page)
    app.router.add_get("/node", node_page)
    app.router.add_get("/enterprises/{reference}", enterprise_page)
    app.router.add_get("/report", report_page)  # the community's yearly report (node/pages/report.py)
    if elsewhere_key not in app:
        app.router.add_get("/federations/{reference}", no_federation_page)
