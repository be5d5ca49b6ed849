"""The "pay me" QR code of a member's page: the link a phone's camera opens in the wallet, and its
drawing as inline SVG.
"""

from __future__ import annotations

import functools
import urllib.parse

import segno

# QR codes kept drawn (by URI): segno takes ~50 ms of pure Python to choose a code's mask, so a
# member's page is drawn once and served from here after; a few hundred kilobytes at most.
qr_codes_cached = 256


def pay_uri(node_url: str, member: str, amount: str | None, memo: str) -> str:
    """The "pay me" link: `<public URL>/wallet/pay?to=m_…[#amount=…&memo=…]` (docs/pages.md). A
    phone's camera opens it in the browser, where the wallet's pay screen reads it. The amount and
    memo go in the fragment, which a browser never sends to a server: a memo is personal data, and
    a proxy's access log keeps query strings. Every value is percent-encoded."""
    link = f"{node_url}/wallet/pay?" + urllib.parse.urlencode([("to", member)])
    fields = [("amount", amount)] if amount else []
    if memo:
        fields.append(("memo", memo))
    return link + ("#" + urllib.parse.urlencode(fields, quote_via=urllib.parse.quote) if fields else "")


@functools.lru_cache(maxsize=qr_codes_cached)
def qr_svg(uri: str) -> str:
    """The QR code of `uri` as inline SVG (segno draws the modules as one path; no text)."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")
