"""The "pay me" QR code of a member's page: the URI a wallet scans, and its drawing as inline SVG.
"""

from __future__ import annotations

import functools
import urllib.parse

import segno

# QR codes kept drawn (by URI): segno takes ~50 ms of pure Python to choose a code's mask, so a
# member's page is drawn once and served from here after; a few hundred kilobytes at most.
qr_codes_cached = 256


def pay_uri(node_url: str, feed: str, member: str, name: str, amount: str | None, memo: str) -> str:
    """The "pay me" URI a wallet scans: `tally:pay?node=URL&feed=n_…&to=m_…&name=…[&amount=…][&memo=…]`
    (docs/pages.md). Every value is percent-encoded."""
    fields = [("node", node_url), ("feed", feed), ("to", member), ("name", name)]
    if amount:
        fields.append(("amount", amount))
    if memo:
        fields.append(("memo", memo))
    return "tally:pay?" + urllib.parse.urlencode(fields, quote_via=urllib.parse.quote)


@functools.lru_cache(maxsize=qr_codes_cached)
def qr_svg(uri: str) -> str:
    """The QR code of `uri` as inline SVG (segno draws the modules as one path; no text)."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")
