"""Who is asking: every request's reader, from the signature it carries.

How this works: `who_reads` runs inside `errors_as_json` on every request. A request with an
`Authorization: Tally …` header (protocol/requests.py) is verified against this node's feed id, the
method, the raw path with its query, the body and the node's clock; its key becomes the request's
`Reader` through the current state (`reader_for_key`: a member only while active and signing with
their current key). A request with no such header is a stranger's. A header that does not verify
is refused (401), never read as a stranger's. Handlers read the reader with `reader_of`; what each
reader may see is the community's visibility policy (ledger/visibility.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tallystick.ledger.visibility import Reader, reader_for_key, stranger
from tallystick.protocol.requests import scheme, verify_request

from ..app import clock_ms, node_key
from ..connections import read_body

reader_key = web.RequestKey("reader", Reader)


def reader_of(request: web.Request) -> Reader:
    return request.get(reader_key, stranger)


@web.middleware
async def who_reads(request: web.Request, handler: Any) -> web.StreamResponse:
    authorization = request.headers.get("Authorization", "")
    node = request.app.get(node_key)
    if node is not None and authorization.split(" ", 1)[0] == scheme:
        body = await read_body(request) if request.body_exists else b""
        key = verify_request(
            authorization, node=node.feed, method=request.method, target=request.raw_path, body=body,
            now_ms=clock_ms(),
        )
        request[reader_key] = reader_for_key(node.sequencer.state, key)
    return await handler(request)
