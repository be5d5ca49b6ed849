"""Query and path parameters, parsed at the HTTP boundary into typed values.

How this works: every handler takes its parameters through these functions and never calls `int()`
or `str.isdigit()` on what a client sent: both accept more than a number written in ASCII (`"²"`
passes `isdigit()` and then fails `int()`; `int()` takes `"٣"`, `"1_000"` and `" 7 "`), and a
number past 2^63 - 1 overflows SQLite's INTEGER. An integer here is 1 to `integer_digits_max` ASCII
digits inside the route's own range; a flag is one of a few words; a choice is one of a named set.
Anything else is a `MalformedError` (400, code `malformed`) that names the parameter and says what
it takes, so no input reaches the store or the domain in a shape that could crash them.
/openapi.json states the same ranges (node/http/openapi.py reads the constants used here).
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web
from tallystick.protocol import limits
from tallystick.protocol.errors import BadIdError, MalformedError
from tallystick.protocol.ids import id_bytes, id_from_text

from ..connections import read_body

# 2^63 - 1 has 19 digits; a longer run of digits is refused before it is converted.
integer_digits_max = 19
# The words a yes/no query parameter takes (`?open=1`, `?mine=true`); absent is no.
flag_true_words = ("1", "true", "yes")
flag_false_words = ("", "0", "false", "no")
# Seqs (a decision's or an offer's id, `from`, `before`) are positive signed 64-bit integers.
seq_min = 1
seq_max = limits.int64_max


def integer(text: str, name: str, minimum: int, maximum: int) -> int:
    """`text` as an integer in [minimum, maximum], written in ASCII digits only."""
    if not (0 < len(text) <= integer_digits_max and text.isascii() and text.isdigit()):
        raise MalformedError(f"{name} must be a whole number from {minimum} to {maximum}, written in digits 0-9")
    value = int(text)
    if not minimum <= value <= maximum:
        raise MalformedError(f"{name} must be a whole number from {minimum} to {maximum}")
    return value


def query_integer(request: web.Request, name: str, default: int, minimum: int, maximum: int) -> int:
    """Query parameter `name` as an integer in [minimum, maximum]; `default` when absent."""
    text = request.query.get(name)
    return default if text is None else integer(text, f"query parameter {name}", minimum, maximum)


def path_integer(request: web.Request, name: str, minimum: int, maximum: int, what: str) -> int:
    """Path parameter `name` as an integer in [minimum, maximum]; `what` says what it is, for the message."""
    return integer(request.match_info[name], what, minimum, maximum)


def query_flag(request: web.Request, name: str) -> bool:
    """A yes/no query parameter: 1, true or yes; 0, false, no or absent."""
    text = request.query.get(name, "").lower()
    if text in flag_true_words:
        return True
    if text in flag_false_words:
        return False
    raise MalformedError(f"query parameter {name} is 1, true or yes (or 0, false, no)")




def id_of(text: str, prefix: str, line: str) -> bytes:
    """The 32-byte id in `text` (`prefix` + "_" + base32, as the API writes ids), or a
    MalformedError saying `line`: what the parameter names and where the reader finds one."""
    try:
        found = id_from_text(prefix, text) if len(text) <= 64 else b""
    except BadIdError:
        found = b""
    if len(found) != id_bytes:
        raise MalformedError(line)
    return found


async def json_body(request: web.Request, kind: type[Any], bytes_max: int, line: str) -> Any:
    """The request's JSON body as `kind` (an empty body is `{}`), at most `bytes_max` bytes, or a
    MalformedError saying `line`."""
    raw = await read_body(request, bytes_max)
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.DecodeError:
        raise MalformedError(line) from None
