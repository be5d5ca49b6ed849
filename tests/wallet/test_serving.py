"""What the node serves of the wallet: the shell at each screen, its static files, the service
worker and the manifest, each with the strict headers; a 404 page (with the same headers) for an
unknown screen, an unknown file and every spelling of a path out of static/."""

from __future__ import annotations

import http.client
import re

import pytest

from helpers.nodes import NodeProcess
from helpers.support import http as request

expected_policy = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                   "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
wallet_routes = ["/wallet", "/wallet/join", "/wallet/pay", "/wallet/receive", "/wallet/history",
                 "/wallet/settings", "/wallet/static/app.js", "/wallet/static/wallet.css", "/wallet/sw.js",
                 "/wallet/manifest.webmanifest", "/wallet/static/vendor/noble_hashes/LICENSE"]
not_found_routes = ["/wallet/home", "/wallet/JOIN", "/wallet/static/nothing.js", "/wallet/static/",
                    "/wallet/static/../__init__.py", "/wallet/static/%2e%2e/__init__.py",
                    "/wallet/static/%2E%2E%2F__init__.py", "/wallet/static/..%2f..%2fapp.py",
                    "/wallet/static/vendor/../../__init__.py", "/wallet/static/%2fetc%2fpasswd",
                    "/wallet/static/..%5c__init__.py", "/wallet/static/" + "a" * 300,
                    "/wallet/__init__.py", "/wallet/shell.html", "/wallet/static/.%00.js", "/wallet/", "/wallet/pay/extra", "/wallet/static"]


def raw_get(node: NodeProcess, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET `path` exactly as written (no client normalises its dots or escapes)."""
    connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def assert_strict_headers(headers: dict[str, str]) -> None:
    assert headers["content-security-policy"] == expected_policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", wallet_routes)
def test_every_wallet_route_answers_with_the_strict_headers(wallet_node: NodeProcess, path: str) -> None:
    status, headers, body = raw_get(wallet_node, path)
    assert status == 200, body[:300]
    assert_strict_headers(headers)


@pytest.mark.parametrize("path", not_found_routes)
def test_an_unknown_screen_or_file_or_a_way_out_of_static_is_a_404_page(wallet_node: NodeProcess, path: str) -> None:
    status, headers, body = raw_get(wallet_node, path)
    assert status == 404, (path, body[:300])
    assert_strict_headers(headers)
    assert b"__future__" not in body and b"aiohttp" not in body and b"root:" not in body


def test_every_screen_is_the_same_shell_with_no_inline_script_or_style(wallet_node: NodeProcess) -> None:
    shells = {raw_get(wallet_node, path)[2] for path in wallet_routes[:6]}
    (shell,) = shells
    assert b"<script" in shell and not re.search(rb"<script(?![^>]*\bsrc=)", shell)
    assert b"<style" not in shell and not re.search(rb"<[^>]*\s(style|on[a-z]+)=", shell)


def test_a_versioned_static_file_is_cached_for_a_year_and_revalidates_by_etag(wallet_node: NodeProcess) -> None:
    _, _, shell = raw_get(wallet_node, "/wallet")
    (versioned,) = set(re.findall(rb'src="(/wallet/static/app\.js\?v=[0-9a-f]+)"', shell))
    status, headers, _ = raw_get(wallet_node, versioned.decode())
    assert status == 200 and "immutable" in headers["cache-control"] and "max-age=31536000" in headers["cache-control"]
    assert headers["content-type"].startswith("text/javascript")
    status, plain, _ = raw_get(wallet_node, "/wallet/static/app.js")
    assert status == 200 and plain["cache-control"] == "no-cache" and plain["etag"] == headers["etag"]
    again = request("GET", wallet_node.url + "/wallet/static/app.js", headers={"If-None-Match": headers["etag"]})
    assert again.status == 304


def test_the_service_worker_knows_the_version_and_every_file(wallet_node: NodeProcess) -> None:
    _, headers, worker = raw_get(wallet_node, "/wallet/sw.js")
    assert headers["content-type"].startswith("text/javascript")
    assert re.search(rb'const version = "[0-9a-f]{16}";', worker) and b'"{files}"' not in worker
    assert b'"/wallet/static/app.js"' in worker and b'"/wallet"' in worker
    assert headers["service-worker-allowed"] == "/wallet"
