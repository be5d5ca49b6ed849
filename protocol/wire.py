"""Messages nodes exchange under /replication/, as msgpack arrays.

How this works: the same rules as events: frozen Structs, array-encoded, every list and byte string
bounded in the type so a hostile peer cannot make us allocate past a limit. Events travel as their
exact signed bytes (the receiver verifies those bytes, never a re-encoding).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from . import limits
from .events import Id32, Seq

EventBytes = Annotated[bytes, Meta(max_length=limits.event_bytes_max)]


class WireHead(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    feed: Id32
    seq: Seq
    head: Id32


class Heads(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """What a node holds: each feed's latest seq and hash, and how many fork proofs it keeps."""

    heads: Annotated[list[WireHead], Meta(max_length=limits.replication_heads_max)]
    forks: int


class Events(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """A contiguous run of one feed's events starting at `start` (a pull answer or a push)."""

    feed: Id32
    start: Seq
    events: Annotated[list[EventBytes], Meta(max_length=limits.replication_batch_events_max)]


class Forks(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    proofs: Annotated[list[Annotated[bytes, Meta(max_length=3 * limits.event_bytes_max)]], Meta(max_length=limits.replication_forks_max)]


heads_decoder = msgspec.msgpack.Decoder(Heads)
events_decoder = msgspec.msgpack.Decoder(Events)
forks_decoder = msgspec.msgpack.Decoder(Forks)
