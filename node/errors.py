"""The node's own refusals, apart from the ledger's rules (ledger/errors.py): a clock it cannot
trust, and a queue that is full."""

from __future__ import annotations

from tallystick.protocol.errors import LocalError


class ClockAheadError(LocalError):
    """This node's clock is far ahead of every time it has reason to believe; it appends nothing
    until the operator fixes the clock (node/sequencer.py)."""

    code = "clock_ahead"
    http_status = 503


class BusyError(LocalError):
    """Too many intents are waiting; the client should retry after `retry_after_seconds`."""

    code = "busy"
    http_status = 503
