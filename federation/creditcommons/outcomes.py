"""How a call to the trunkward node ended (client.py makes them, rules.py decides on them). Pure.

Only `Accepted` means the other side wrote a version, and so only it moves the chain.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

from . import wire


class Accepted(Struct, frozen=True):
    """201: written there; `last_hash` is the chain's hash after it."""

    last_hash: str
    additional: tuple[wire.Entry, ...] = ()


class Refused(Struct, frozen=True):
    """A 4xx with the API's error class: nothing was written there."""

    status: int
    error_class: str
    message: str


class Diverged(Struct, frozen=True):
    """401 HashMismatchFailure: the two chains differ (an answer lost earlier)."""

    message: str


class Unanswered(Struct, frozen=True):
    """No answer, a 5xx, or a body that is not the API's: unknown."""

    reason: str


Outcome = Accepted | Refused | Diverged | Unanswered
Resolution = Literal["written", "not_written", "diverged", "unanswered"]
