"""The federation's event bodies: what a community's node appends to its own feed to found, run
and trade within federations.

How this works: a federation has no feed and no key of its own. Each founding community appends the
same `Charter` to its own feed; the federation's id is the hash of the charter's canonical bytes, so
every member derives the same id from its own copy. federation/ folds these bodies, read from the
members' replicated feeds, into the federation's state. These bodies join the community's `Body`
union in events.py through `FederationBody`; the community's ledger (node/domain.py) treats those
that move no credit as records.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from . import limits
from .types import BasisPoints, Decimals, Id32, Name, Tagged, UnitCode


class CharterMember(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """A member of a federation (a community's feed id, or a child federation's id) and how its
    unit converts: one minor unit of the member's unit is `rate_num / rate_den` minor units of the
    federation's unit."""

    member: Id32
    unit_code: UnitCode
    rate_num: Annotated[int, Meta(ge=1, le=limits.amount_minor_max)]
    rate_den: Annotated[int, Meta(ge=1, le=limits.amount_minor_max)]


class Charter(Tagged, tag="charter"):
    """A federation's founding charter (System 5: policy). `quorum_bp` of the members must vote yes
    for a federation decision to pass. `founded_ms` and `name` make two charters of the same
    members distinct."""

    name: Name
    unit_code: UnitCode
    unit_decimals: Decimals
    members: Annotated[tuple[CharterMember, ...], Meta(min_length=1, max_length=limits.federation_members_max)]
    quorum_bp: BasisPoints
    founded_ms: Annotated[int, Meta(ge=0, le=limits.int64_max)]


FederationBody = Charter

# The federation bodies that move no credit in the appending community's ledger: node/domain.py
# keeps them as records. A body that moves credit (a payment) needs its transition in the domain.
ledger_neutral_bodies: tuple[type, ...] = (Charter,)

federation_body_kinds: frozenset[str] = frozenset({"charter"})
