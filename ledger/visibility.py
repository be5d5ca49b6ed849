"""Who reads: the reader of a page, an answer or an export, as the policy sees them.

How this works: the node resolves each request to a `Reader` (node/http/readers.py): a stranger, a
member (by member id; `admin` when their role is admin at that moment), or only a key that signed
(a peer node's, judged by the layer that holds peers). The community's visibility policy decides,
from the reader, what each of them sees; this module is pure and reads the state it is given.
"""

from __future__ import annotations

from typing import Literal, get_args

from msgspec import Struct
from tallystick.protocol.types import Audience

from .model import State, Visibility


class Reader(Struct, frozen=True):
    """`member`: the reader's member id, if they are an active member signing with one of their
    current keys; `admin`: that member's role is admin; `key`: the public key that signed the request (a
    member's, a peer node's, or a stranger's), None for an unsigned request."""

    member: bytes | None = None
    admin: bool = False
    key: bytes | None = None

    @property
    def is_member(self) -> bool:
        return self.member is not None


stranger = Reader()


def reader_for_key(state: State, key: bytes) -> Reader:
    """The reader a request signed by `key` is: the member one of whose current keys it is (any of
    their devices'), while they are active; else a reader known only by the key (a removed member, a
    retired or removed key, or a peer node)."""
    member_id = state.keys.get(key)
    member = state.members.get(member_id) if member_id is not None else None
    if member is None or not member.active or not member.signs_with(key):
        return Reader(key=key)
    return Reader(member=member_id, admin=member.role == "admin", key=key)


# What a reader may see: one of the kinds the community's policy (`Visibility`) names. Aggregates
# (name, unit, members counted, circulation, enterprises, open offers, decisions' titles and
# outcomes) are not among them: every reader sees those.
Kind = Literal["names", "balances", "history", "votes", "decisions", "holdings", "log"]
kinds: tuple[Kind, ...] = get_args(Kind)


def audience_admits(audience: Audience, reader: Reader, subject: bytes | None) -> bool:
    """Whether `reader` is in `audience` for data about member `subject` (None: about no one
    member, so "concerned" is the admins alone)."""
    if audience == "public":
        return True
    if audience == "members":
        return reader.is_member
    if audience == "concerned":
        return reader.admin or (subject is not None and reader.member == subject)
    return reader.admin


def can_see(state: State, reader: Reader, kind: Kind, subject: bytes | None = None) -> bool:
    """The one question every page, answer, export and CLI read asks: may `reader` see `kind`
    (about member `subject`, where it is one member's) in this community, by its policy?
    A member always sees their own (their balance, history and votes), whatever the policy."""
    if subject is not None and reader.member == subject:
        return True
    return audience_admits(getattr(state.visibility, kind), reader, subject)


def policy_json(visibility: Visibility) -> dict[str, Audience]:
    """The policy as JSON-ready data, kind -> audience, in the policy's order (for /api/community
    and the CLI's `tally visibility`)."""
    return {kind: getattr(visibility, kind) for kind in kinds}
