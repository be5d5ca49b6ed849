"""The URL members and other nodes use to reach this node, for what the node writes into pages
(the pay-me QR code, the command-line hints).

How this works, in order:
1. The operator's `public_url` in config.json (checked when the config is read: node/home.py).
2. Else, when the request came from an address in the config's `trusted_proxies` (the operator's
   own reverse proxy), the scheme and host that proxy says the client used: RFC 7239 `Forwarded`
   (`proto=`, `host=`), else `X-Forwarded-Proto` / `X-Forwarded-Host`. The element nearest to us
   (the last) is the trusted proxy's own; a header from anyone else is ignored, since any client can
   send one, and a forged host would put an attacker's URL into a member's QR code.
3. Else the URL the request came in on.
A forwarded value that is not a plain `http`/`https` and a host (a name or an address, with an
optional port) is ignored, and so is a Host header that is not one: the next rule applies.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from .app import config_key
from .home import NodeConfig, trusted_networks
from .home import url_host_pattern as _host

_schemes = ("http", "https")


def public_url(request: web.Request) -> str:
    """The node's public base URL, without a trailing slash: 'https://riverside.example'."""
    config = request.app.get(config_key)
    if config is not None and config.public_url:
        return config.public_url.rstrip("/")
    if config is not None and _from_trusted_proxy(request, config):
        forwarded = _forwarded(request)
        if forwarded is not None:
            return forwarded
    host = request.host
    if not _host.fullmatch(host):
        host = _listen_host(config)
    return f"{request.scheme}://{host}"


def _listen_host(config: NodeConfig | None) -> str:
    if config is None:
        return "127.0.0.1"
    host = config.listen_host
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{config.listen_port}"


def _from_trusted_proxy(request: web.Request, config: NodeConfig) -> bool:
    if not config.trusted_proxies or request.remote is None:
        return False
    try:
        address = ipaddress.ip_address(request.remote.split("%", 1)[0])
    except ValueError:
        return False  # a Unix socket, or nothing we can place
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted_networks(tuple(config.trusted_proxies)))


def _forwarded(request: web.Request) -> str | None:
    """'scheme://host' as the trusted proxy reports it, or None if it reports nothing usable."""
    proto = host = None
    if request.headers.get("Forwarded"):
        nearest = request.forwarded[-1] if request.forwarded else {}
        proto, host = nearest.get("proto"), nearest.get("host")
    else:
        proto = _last(request.headers.get("X-Forwarded-Proto"))
        host = _last(request.headers.get("X-Forwarded-Host"))
    scheme = (proto or request.scheme).lower()
    host = host or request.host
    if scheme not in _schemes or not _host.fullmatch(host):
        return None
    return f"{scheme}://{host}"


def _last(header: str | None) -> str | None:
    """The value the nearest proxy added to a comma-separated X-Forwarded-* header."""
    if not header:
        return None
    return header.rsplit(",", 1)[-1].strip() or None
