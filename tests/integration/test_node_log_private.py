"""What a stranger can make a real `tally serve` write to its log: nothing of theirs. A request that
is not well-formed HTTP is answered 400 and leaves no line: aiohttp's own "Error handling request
from <address>" with the request line or header it choked on would put the client's address, a
query (a typed search: `/api/members?q=…`) or a cookie's session token into the operator's journal,
and let anyone fill it (docs/operator.md §14.9: the node logs no request)."""

from __future__ import annotations

import socket
from typing import Any

socket_timeout_seconds = 5.0
secret_query = b"q=Rosalind%20Quennell"
secret_cookie = b"tally_session=SECRETSESSIONTOKENxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
malformed = [
    b"GET /api/status HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET /api/members?" + secret_query + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    b"GET /api/members?" + secret_query + b"\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/session HTTP/1.1\r\nHost: x\r\nCookie: " + secret_cookie + b"\x01\r\n\r\n",
    b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\nGET /api/members?" + secret_query + b" HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
]


def first_answer_line(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=socket_timeout_seconds) as connection:
        connection.sendall(raw)
        received = b""
        while b"\r\n" not in received:
            chunk = connection.recv(4096)
            if not chunk:
                break
            received += chunk
        return received.split(b"\r\n", 1)[0]


def test_malformed_http_is_answered_400_and_leaves_no_address_query_or_cookie_in_the_nodes_log(
        make_node: Any) -> None:
    fresh = make_node()
    before = fresh.output()
    for raw in malformed:
        line = first_answer_line(fresh.port, raw)
        assert line.startswith(b"HTTP/1.") and (b" 400 " in line or b" 200 " in line), (raw, line)
    assert fresh.http("GET", "/api/status").status == 200  # the node still answers
    assert fresh.stop() == 0
    written = fresh.output()[len(before):]
    for text in ("Error handling request", "Traceback", "Rosalind", "Quennell", "q=", "SECRETSESSIONTOKEN",
                 "Content-Length", "127.0.0.1"):
        assert text not in written, (text, written)
