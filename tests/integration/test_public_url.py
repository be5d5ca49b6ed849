"""The URL a member page puts into its pay-me QR code and its command-line hint, behind a proxy.

Real `tally serve` processes on loopback; the test plays the reverse proxy, sending the headers an
nginx or Caddy in front of the node would send. Loopback is the only address a test has, so a
trusted proxy is `trusted_proxies: ["127.0.0.1"]` and an untrusted one is the default, an empty
list: the same request, from the same address, must be read differently by the two nodes.
"""

from __future__ import annotations

import html
import re
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
from tallystick.protocol.requests import sign_request

from helpers.nodes import NodeProcess, init_home
from helpers.support import tally

proxy_headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "riverside.example"}


def member_page(node: NodeProcess, name: str, headers: dict[str, str]) -> str:
    """The member's page as the admin reads it (a member's page is the members', by the policy)."""
    path = f"/members/{urllib.parse.quote(name)}"
    authorization = sign_request(node.admin_key, node=node.feed, method="GET", target=path,
                                 ts_ms=time.time_ns() // 1_000_000)
    request = urllib.request.Request(node.url + path, headers={**headers, "Authorization": authorization})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return response.read().decode()


def pay_node_url(page: str) -> str:
    """The node URL of the page's "pay me" link, `<node URL>/wallet/pay?to=…` (the text the QR code
    encodes)."""
    found = re.search(r'<p class="muted pay-uri"><code>([^<]*)</code>', page)
    assert found, "the member page shows no pay link"
    link = urllib.parse.urlsplit(html.unescape(found.group(1)))
    assert link.path == "/wallet/pay", link
    return f"{link.scheme}://{link.netloc}"


def hint_node_url(page: str) -> str:
    """The URL in the page's `tally --node URL ... pay` hint."""
    found = re.search(r"tally --node (\S+) --key YOUR\.key pay", html.unescape(page))
    assert found, "the member page shows no command-line hint"
    return found.group(1)


@pytest.fixture(scope="module")
def behind_trusted_proxy(make_node: Any) -> NodeProcess:
    node = make_node(config={"trusted_proxies": ["127.0.0.1"]})
    node.admit("Alice")
    return node


@pytest.fixture(scope="module")
def trusting_no_proxy(make_node: Any) -> NodeProcess:
    node = make_node()
    node.admit("Alice")
    return node


@pytest.fixture(scope="module")
def with_public_url(make_node: Any) -> NodeProcess:
    node = make_node(config={"public_url": "https://tally.riverside.example/", "trusted_proxies": ["127.0.0.1"]})
    node.admit("Alice")
    return node


def test_forwarded_proto_and_host_from_a_trusted_proxy_make_the_pay_url(behind_trusted_proxy: NodeProcess) -> None:
    page = member_page(behind_trusted_proxy, "Alice", proxy_headers)
    assert pay_node_url(page) == "https://riverside.example"
    assert hint_node_url(page) == "https://riverside.example"


def test_an_rfc_7239_forwarded_header_from_a_trusted_proxy_makes_the_pay_url(behind_trusted_proxy: NodeProcess) -> None:
    page = member_page(behind_trusted_proxy, "Alice", {"Forwarded": 'for=192.0.2.7;proto=https;host="riverside.example"'})
    assert pay_node_url(page) == "https://riverside.example"


def test_the_nearest_proxys_element_counts_not_what_the_client_sent_before_it(behind_trusted_proxy: NodeProcess) -> None:
    # The client forged the first values; the trusted proxy appended its own.
    headers = {"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, riverside.example"}
    assert pay_node_url(member_page(behind_trusted_proxy, "Alice", headers)) == "https://riverside.example"


def test_a_forwarded_host_that_is_no_host_is_ignored(behind_trusted_proxy: NodeProcess) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": 'evil.example/"><script>'}
    page = member_page(behind_trusted_proxy, "Alice", headers)
    assert pay_node_url(page) == behind_trusted_proxy.url
    assert "evil.example" not in page


def test_forwarded_headers_from_an_untrusted_address_are_ignored(trusting_no_proxy: NodeProcess) -> None:
    page = member_page(trusting_no_proxy, "Alice", proxy_headers)
    assert pay_node_url(page) == trusting_no_proxy.url
    assert hint_node_url(page) == trusting_no_proxy.url
    assert "riverside.example" not in page


def test_without_a_proxy_the_pay_url_is_the_url_the_request_came_in_on(trusting_no_proxy: NodeProcess) -> None:
    assert pay_node_url(member_page(trusting_no_proxy, "Alice", {})) == trusting_no_proxy.url


def test_the_configured_public_url_wins_over_a_trusted_proxys_headers(with_public_url: NodeProcess) -> None:
    page = member_page(with_public_url, "Alice", proxy_headers)
    assert pay_node_url(page) == "https://tally.riverside.example"
    assert hint_node_url(page) == "https://tally.riverside.example"
    assert pay_node_url(member_page(with_public_url, "Alice", {})) == "https://tally.riverside.example"


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"public_url": "riverside.example"}, "public_url"),
        ({"public_url": "https://riverside.example/tally"}, "public_url"),
        ({"public_url": "ftp://riverside.example"}, "public_url"),
        ({"trusted_proxies": ["the proxy"]}, "trusted_proxies"),
    ],
)
def test_serve_refuses_a_config_with_a_bad_public_url_or_proxy_in_one_line(
    tmp_path: Any, setting: dict[str, Any], named: str
) -> None:
    home = tmp_path / "home"
    init_home(home, config=setting)
    done = tally("serve", home)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert named in lines[0] and "config.json" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
