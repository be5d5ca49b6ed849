"""JSON answers, and the one middleware that turns every refusal into a JSON error.

How this works: a handler raises a typed `TallyError` (or aiohttp an `HTTPException`) and returns
only what succeeded; `errors_as_json` writes each refusal as `{"error": code, "message": text}`
with the error's own status, so the same refusal reads the same over HTTP and at the command line.
A body larger than `request_bytes_max` is refused by aiohttp before it is read whole, and answered
here as `too_large`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web
from tallystick.protocol import limits
from tallystick.protocol.errors import TallyError


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(data), status=status, content_type="application/json", headers=headers
    )


def error_response(error: TallyError) -> web.Response:
    headers = {"Retry-After": str(limits.retry_after_seconds)} if error.http_status == 503 else None
    return json_response(error.to_json(), status=error.http_status, headers=headers)


@web.middleware
async def errors_as_json(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except TallyError as error:
        return error_response(error)
    except web.HTTPRequestEntityTooLarge:
        return json_response(
            {"error": "too_large", "message": f"request body is over the limit of {limits.request_bytes_max} bytes"},
            status=413,
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status, "http_error")
        return json_response({"error": code, "message": error.reason}, status=error.status)
