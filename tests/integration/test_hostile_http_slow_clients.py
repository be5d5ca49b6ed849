"""Slow and greedy clients cannot hold a node: a real `tally serve` with small configured bounds.

The attack from issue 12: many sockets that each drip one header line now and then, so that the
node's open files run out and every other request times out. Here the node runs with a request-head
timeout of `head_timeout_ms`, at most `per_address_max` connections per client address and
`total_max` in all (config.json). The attackers connect from other loopback addresses (127.0.0.2
and up: Linux routes all of 127.0.0.0/8 to lo) than the ordinary client (127.0.0.1), so the
per-address bound can be seen to protect everyone else. Every socket is opened and closed here, on
loopback, a bounded number of them for a bounded time.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from tallystick.protocol.ids import id_from_text

from helpers.nodes import NodeProcess, init_home
from helpers.support import http

head_timeout_ms = 1500
body_timeout_ms = 600
keepalive_ms = 1500
per_address_max = 8
total_max = 40
# Attackers per address in the per-address test: more than the bound.
drippers = per_address_max + 6
# How long the test waits for the node to drop a socket it must drop: far past the timeout, so a
# slow machine does not fail the test; a node that never drops one fails it.
drop_wait_seconds = 20.0
# Between two header lines a dripping client sends.
drip_interval_seconds = 0.1
# Any one read of a socket.
socket_timeout_seconds = 5.0

bounds = {
    "header_read_timeout_ms": head_timeout_ms,
    "body_read_timeout_ms": body_timeout_ms,
    "keepalive_timeout_ms": keepalive_ms,
    "connections_per_address_max": per_address_max,
    "connections_max": total_max,
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    directory = tmp_path_factory.mktemp("guarded")
    home = directory / "home"
    created = init_home(home, config=bounds)
    port = json.loads((home / "config.json").read_text())["listen_port"]
    node = NodeProcess(home=home, port=port, log_path=directory / "serve.log", created=created)
    node.start()
    yield node
    assert node.stop() == 0, node.output()


def connect(node: NodeProcess, source: str) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", node.port), timeout=socket_timeout_seconds,
                                      source_address=(source, 0))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def start_dripping(client: socket.socket) -> None:
    client.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")


def closed_by_node(client: socket.socket) -> bool:
    """True once the node has closed the socket (EOF or reset); False while it is still open."""
    client.setblocking(False)
    try:
        data = client.recv(65536)
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        client.setblocking(True)
    return data == b"" or closed_by_node(client)


def drip_until_dropped(clients: list[socket.socket]) -> list[socket.socket]:
    """Keep every client dripping header lines until the node closes it, for at most
    `drop_wait_seconds`; returns the clients the node never closed."""
    deadline = time.monotonic() + drop_wait_seconds
    alive = list(clients)
    line = 0
    while alive and time.monotonic() < deadline:
        line += 1
        still = []
        for client in alive:
            try:
                client.sendall(f"X-Drip-{line}: 1\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                continue
            if not closed_by_node(client):
                still.append(client)
        alive = still
        time.sleep(drip_interval_seconds)
    return alive


def read_answer(client: socket.socket) -> tuple[int, dict]:
    """One answer the node wrote on `client`: its status and JSON body (read to its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        assert chunk, f"the node closed the connection without a whole answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    while len(body) < length:
        chunk = client.recv(65536)
        assert chunk, "the node closed the connection inside its answer"
        body += chunk
    return int(lines[0].split()[1]), json.loads(body[:length])


def status_answers(node: NodeProcess) -> bool:
    answer = http("GET", node.url + "/api/status", timeout_seconds=socket_timeout_seconds)
    return answer.status == 200 and id_from_text("n", answer.json()["node"]) == node.feed


def test_connections_past_the_per_address_bound_are_refused_at_once_and_others_are_still_answered(
    guarded: NodeProcess,
) -> None:
    clients = [connect(guarded, "127.0.0.2") for _ in range(drippers)]
    try:
        # The node accepts them in order: the first `per_address_max` are held open (dripping); the
        # rest are answered at once and closed (they send nothing, so that their answer cannot be
        # lost to a reset).
        for client in clients[:per_address_max]:
            start_dripping(client)
        for client in clients[per_address_max:]:
            status, document = read_answer(client)
            assert (status, document["error"]) == (503, "too_many_connections"), document
            assert "from your address" in document["message"]
        assert status_answers(guarded), "an ordinary client was not answered beside the attackers"
    finally:
        for client in clients:
            client.close()


def test_a_client_that_drips_its_headers_is_dropped_after_the_head_timeout(guarded: NodeProcess) -> None:
    clients = [connect(guarded, "127.0.0.3") for _ in range(per_address_max)]
    try:
        for client in clients:
            start_dripping(client)
        assert status_answers(guarded)
        assert drip_until_dropped(clients) == [], "the node kept a dripping client past its head timeout"
        # Their places are free again: the same address is served.
        with connect(guarded, "127.0.0.3") as again:
            again.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert read_answer(again)[0] == 200
    finally:
        for client in clients:
            client.close()
    metrics = http("GET", guarded.url + "/metrics").body.decode()
    timeouts = [line for line in metrics.splitlines() if line.startswith("tally_http_head_timeouts_total")]
    assert timeouts and float(timeouts[0].split()[1]) >= per_address_max, timeouts


def test_a_head_sent_in_pieces_within_the_timeout_is_answered(guarded: NodeProcess) -> None:
    """The control: slow, but in time, is served."""
    with connect(guarded, "127.0.0.4") as client:
        client.sendall(b"GET /api/status HTTP/1.1\r\n")
        client.sendall(b"Host: 127.0.0.1\r\n")
        client.sendall(b"Connection: close\r\n\r\n")
        status, document = read_answer(client)
    assert status == 200 and id_from_text("n", document["node"]) == guarded.feed


def test_a_kept_alive_client_that_drips_its_next_request_is_dropped(guarded: NodeProcess) -> None:
    """The head timeout covers a connection's first request; aiohttp's keep-alive timeout (the node
    sets it) covers the next ones: a connection part-way through a head that long after its last
    answer is closed."""
    with connect(guarded, "127.0.0.6") as client:
        client.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_answer(client)[0] == 200
        start_dripping(client)
        assert drip_until_dropped([client]) == [], "the node kept a client dripping its second request"


def test_connections_past_the_total_bound_are_refused_and_freed_places_are_served(guarded: NodeProcess) -> None:
    sources = [f"127.0.1.{index}" for index in range(1, total_max // per_address_max + 1)]
    clients = [connect(guarded, source) for source in sources for _ in range(per_address_max)]
    try:
        for client in clients:
            start_dripping(client)
        # Every place is taken: one more, from yet another address, is refused.
        with connect(guarded, "127.0.2.1") as extra:
            status, document = read_answer(extra)
        assert (status, document["error"]) == (503, "too_many_connections"), document
        assert f"limit of {total_max} open connections" in document["message"]
    finally:
        for client in clients:
            client.close()
    # Once they are gone, their places are free for anyone.
    deadline = time.monotonic() + drop_wait_seconds
    while http("GET", guarded.url + "/api/status").status != 200 and time.monotonic() < deadline:
        time.sleep(drip_interval_seconds)
    assert status_answers(guarded)


def test_a_body_that_does_not_arrive_is_refused_with_request_timeout_and_changes_nothing(guarded: NodeProcess) -> None:
    before = guarded.snapshot()
    with connect(guarded, "127.0.0.5") as client:
        client.sendall(b"POST /api/intents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/msgpack\r\n"
                       b"Content-Length: 200\r\nConnection: close\r\n\r\n\x96\x01")
        status, document = read_answer(client)
    assert (status, document["error"]) == (408, "request_timeout"), document
    assert document["message"]
    assert guarded.snapshot() == before
