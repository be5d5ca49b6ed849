"""The URL members and other nodes use to reach this node, for what the node writes into pages
(the pay-me QR code, the command-line hints).

How this works: the operator's `public_url` in config.json wins; without it, the URL the request
came in on. (Forwarded headers, only from proxies the operator trusts: docs/operator.md.)
"""

from __future__ import annotations

from aiohttp import web


def public_url(request: web.Request) -> str:
    """The node's public base URL, without a trailing slash: 'https://riverside.example'."""
    return f"{request.scheme}://{request.host}"
