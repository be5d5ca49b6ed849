"""Whom a connection counts against for `connections_per_address_max` (node/connections.py)."""

from __future__ import annotations

from tallystick.node.connections import client_address


def test_an_ipv4_client_counts_as_its_address() -> None:
    assert client_address(("203.0.113.7", 50123)) == "203.0.113.7"


def test_ipv6_clients_in_one_64_count_as_one() -> None:
    first = client_address(("2001:db8:1:2::1", 50123, 0, 0))
    other_host_same_network = client_address(("2001:db8:1:2:ffff:ffff:ffff:ffff", 50124, 0, 0))
    next_network = client_address(("2001:db8:1:3::1", 50125, 0, 0))
    assert first == other_host_same_network == "2001:db8:1:2::/64"
    assert next_network != first


def test_an_ipv4_mapped_ipv6_client_counts_as_its_ipv4_address() -> None:
    assert client_address(("::ffff:203.0.113.7", 50123, 0, 0)) == "203.0.113.7"


def test_a_link_local_zone_is_dropped_before_counting() -> None:
    assert client_address(("fe80::1%eth0", 50123, 0, 2)) == "fe80::/64"
