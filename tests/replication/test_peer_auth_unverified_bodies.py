"""Bodies read before their signature is checked are bounded (replication/server.py,
`unverified_bodies_max`): a stranger who names a feed the node holds (feed ids are public) in a
well-formed Tally-Signature with a signature by some other key, and then drips a large body, holds
at most that many reads; the next such push is refused at once with 503 `busy`, and a real node's
request is read and checked again (403 `bad_request_signature`) once the stranger's connections are gone.
"""

from __future__ import annotations

import json
import socket
import time

from tallystick.protocol.ids import KeyPair
from tallystick.protocol.wire import request_signature_header, sign_request
from tallystick.replication.server import unverified_bodies_max

from helpers.replication import Nodes

socket_timeout_seconds = 5.0


def forged_head(feed: bytes, port: int, content_length: int) -> bytes:
    """A push's request head naming `feed` as signer, signed by a key that is not the feed's."""
    value = sign_request(KeyPair.generate(), feed=feed, method="POST", path="/replication/push", body=b"x",
                         ts=time.time_ns() // 1_000_000, nonce=b"\x01" * 16)
    return (f"POST /replication/push HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/msgpack\r\n{request_signature_header}: {value}\r\n"
            f"Content-Length: {content_length}\r\n\r\n").encode()


def test_a_stranger_holds_at_most_the_bounded_number_of_unverified_bodies(nodes: Nodes) -> None:
    node = nodes.create(1)[0].start()
    held: list[socket.socket] = []
    try:
        for _ in range(unverified_bodies_max):
            client = socket.create_connection(("127.0.0.1", node.port), timeout=socket_timeout_seconds)
            client.sendall(forged_head(node.feed, node.port, 4_000_000) + b"\x00" * 1024)
            held.append(client)
        time.sleep(0.5)  # the node has begun reading each of those bodies
        one_more = socket.create_connection(("127.0.0.1", node.port), timeout=socket_timeout_seconds)
        one_more.sendall(forged_head(node.feed, node.port, 4_000_000))
        answer = one_more.recv(65536).decode(errors="replace")
        one_more.close()
        assert answer.startswith("HTTP/1.1 503"), answer
        assert json.loads(answer.split("\r\n\r\n", 1)[1])["error"] == "busy"
        assert node.get("/api/status")["seq"] >= 1  # everyone else is still answered
    finally:
        for client in held:
            client.close()
    time.sleep(0.5)
    again = socket.create_connection(("127.0.0.1", node.port), timeout=socket_timeout_seconds)
    again.sendall(forged_head(node.feed, node.port, 1) + b"x")
    answer = again.recv(65536).decode(errors="replace")
    again.close()
    assert answer.startswith("HTTP/1.1 403") and "bad_request_signature" in answer, answer
