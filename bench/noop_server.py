"""An aiohttp server that answers like `POST /api/intents` but does nothing: the HTTP ceiling.

How this works: `python bench/noop_server.py PORT` serves GET /api/community (for readiness) and
POST /api/intents, which reads the body and answers 201 with a JSON body of the node's shape. The
same 64 clients that load `tally serve` load this, in the same run, so the bench can say how much
of the node's HTTP figure is the node and how much is aiohttp and the clients on a two-core machine.
"""

from __future__ import annotations

import sys

from aiohttp import web

_answer = b'{"seq":123456,"hash":"h_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}'


async def community(request: web.Request) -> web.Response:
    return web.Response(body=b'{"node":"noop"}', content_type="application/json")


async def intents(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=_answer, status=201, content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_get("/api/community", community)
    app.router.add_post("/api/intents", intents)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, handle_signals=True)


if __name__ == "__main__":
    main()
