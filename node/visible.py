"""What one reader sees of the community: the visibility policy applied to the answers' shapes.

How this works: every read (the JSON API, CSV exports, the pages, the CLI through the API) asks
`can_see` (ledger/visibility.py) through these pure functions, which take the state and the reader
and say whether a row is shown, which fields of a document stay, and how a reference to a member
resolves. What every reader sees is not asked about: the community's name, unit, member count,
circulation, default limits, the policy, enterprises and their open offers, decisions' ids, titles,
status, outcome and closing time. The community's own accounts (treasury, escrow, enterprises) are
no person: their names and figures are public. A member's name hidden from a reader makes the
member unresolvable for them, with the same refusal as an unknown name (no oracle of who is a
member); anything else hidden is refused as `not_visible` (403) with a one-line remedy, or simply
omitted from a list, and the answer's `Tally-Hidden` header names the kinds it left out so a
client can say so in one line. No I/O and no clock: the same functions run in every handler.
"""

from __future__ import annotations

from typing import Any

from tallystick.ledger.accounts import people_roles
from tallystick.ledger.model import State
from tallystick.ledger.visibility import Kind, Reader, can_see
from tallystick.protocol.errors import BadIdError, LocalError
from tallystick.protocol.ids import id_from_text
from tallystick.protocol.types import Audience

from .personal import Directory

# The response header naming the kinds an answer left out for its reader ("balances,names").
hidden_header = "Tally-Hidden"

_what = {
    "names": "members' names are",
    "balances": "balances are",
    "history": "payments and their memos are",
    "votes": "how each member voted is",
    "decisions": "decisions' texts and tallies are",
    "holdings": "who holds which shares is",
    "log": "the log of events is",
}
_who = {
    "public": "everyone",
    "members": "members",
    "concerned": "the member concerned and admins",
    "admins": "admins",
}


class NotVisibleError(LocalError):
    """The reader may not see this by the community's visibility policy."""

    code = "not_visible"
    http_status = 403


def hidden_line(kind: Kind, audience: Audience) -> str:
    """The one line that says what is hidden and what to do: `balances are visible to the member
    concerned and admins; give --key`."""
    return f"{_what[kind]} visible to {_who[audience]}; give --key (or TALLY_KEY) to read as one of them"


def refusal(state: State, kind: Kind) -> NotVisibleError:
    return NotVisibleError(hidden_line(kind, getattr(state.visibility, kind)))


def is_person(state: State, member_id: bytes) -> bool:
    """A person's account (member or admin), not one of the community's own (treasury, escrow,
    enterprise), whose names and figures are public."""
    member = state.members.get(member_id)
    return member is not None and member.role in people_roles


def sees(state: State, reader: Reader, kind: Kind, member_id: bytes) -> bool:
    """Whether `reader` sees `kind` about account `member_id`: always for the community's own
    accounts; for a person, their name must be visible too (a balance without a name is no
    balance a reader can place, and an id with one would be an oracle)."""
    if not is_person(state, member_id):
        return True
    if not can_see(state, reader, "names", member_id):
        return False
    return kind == "names" or can_see(state, reader, kind, member_id)


def name_for(state: State, reader: Reader, member_id: bytes, directory: Directory) -> str | None:
    """The account's name if the reader may see it, else None."""
    member = state.members.get(member_id)
    if member is None or not sees(state, reader, "names", member_id):
        return None
    return directory.name(member)


def resolve_member(state: State, reader: Reader, reference: str, directory: Directory) -> bytes:
    """A member by id (`m_…`) or name, for this reader: one whose name they may not see is as
    unknown as a name no one has (the same error, word for word)."""
    if reference.startswith("m_"):
        member_id = id_from_text("m", reference)
        if member_id not in state.members or not sees(state, reader, "names", member_id):
            raise BadIdError(f"{reference} is not a member of this community")
        return member_id
    found = directory.find(state, reference)
    if found is None or not sees(state, reader, "names", found):
        raise BadIdError(f"no member is named {reference!r}; list them with `tally balance`")
    return found


def require(state: State, reader: Reader, kind: Kind, member_id: bytes | None = None) -> None:
    """Refuse (`not_visible`) unless the reader sees `kind` (about `member_id`)."""
    allowed = can_see(state, reader, kind) if member_id is None else sees(state, reader, kind, member_id)
    if not allowed:
        raise refusal(state, kind)


class Shown:
    """The kinds one answer left out for its reader, for the `Tally-Hidden` header."""

    def __init__(self) -> None:
        self.hidden: set[str] = set()

    def keep(self, state: State, reader: Reader, kind: Kind, member_id: bytes) -> bool:
        """Whether to keep a row about `member_id`; a row dropped is noted under the kind that hid it."""
        if sees(state, reader, kind, member_id):
            return True
        self.hidden.add("names" if not sees(state, reader, "names", member_id) else kind)
        return False

    def note(self, kind: Kind) -> None:
        self.hidden.add(kind)

    def headers(self) -> dict[str, str] | None:
        return {hidden_header: ",".join(sorted(self.hidden))} if self.hidden else None


# ---- documents ----------------------------------------------------------------------------------

# Decisions' fields every reader sees; the rest (text, proposer, options, effect, tally) are the
# `decisions` kind's.
decision_public_fields = frozenset(
    {"id", "type", "title", "opened_ms", "deadline_ms", "open", "time_left_ms", "outcome", "closed_seq"}
)


def shape_decision(state: State, reader: Reader, document: dict[str, Any], shown: Shown,
                   votes: list[tuple[bytes, dict[str, Any]]] | None = None) -> dict[str, Any]:
    """A decision's document as `reader` sees it: only its public fields unless `decisions` is
    visible to them; `votes` (each member's id and vote), if given, as `document["votes"]`, each
    only if the reader may see that member's vote (always their own)."""
    if not can_see(state, reader, "decisions"):
        shown.note("decisions")
        document = {key: value for key, value in document.items() if key in decision_public_fields}
    if votes is not None:
        kept = [vote for member_id, vote in votes if sees(state, reader, "votes", member_id)]
        if len(kept) < len(votes):
            shown.note("votes")
        document = {**document, "votes": kept}
    return document


def payment_across_shown(state: State, reader: Reader, row: dict[str, Any], own_community: str, shown: Shown) -> bool:
    """Whether a payment across (a row of /api/payments: its payer, payee and memo) is shown to
    `reader`: it is the history of this community's member in it (the payer if this community sent
    it, the payee if it received it), so the policy's `history` for that member; a payment between
    two other communities that this node only relays names none of ours: the admins alone (any
    audience a policy can name includes them)."""
    ours = []
    if row["from_community"] == own_community:
        ours.append(id_from_text("m", row["payer"]))
    if row["to_community"] == own_community:
        ours.append(id_from_text("m", row["to_member"]))
    if reader.admin or any(member_id in state.members and sees(state, reader, "history", member_id) for member_id in ours):
        return True
    shown.note("history")
    return False
