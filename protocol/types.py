"""The field types every protocol structure is built from: bounded ids, amounts, strings, and the
tagged-union base. events.py (the community's bodies and actions) and federation.py (the
federation's bodies) both build on these, so neither imports the other's module to get them.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from msgspec import Meta, Struct

from . import limits

Id32 = Annotated[bytes, Meta(min_length=32, max_length=32)]
Signature = Annotated[bytes, Meta(min_length=64, max_length=64)]
Seq = Annotated[int, Meta(ge=1, le=limits.int64_max)]
TimestampMs = Annotated[int, Meta(ge=0, le=limits.int64_max)]
Nonce = Annotated[int, Meta(ge=0, le=limits.int64_max)]
AmountMinor = Annotated[int, Meta(ge=1, le=limits.amount_minor_max)]
LimitMinor = Annotated[int, Meta(ge=0, le=limits.amount_minor_max)]
Name = Annotated[str, Meta(min_length=1, max_length=limits.name_chars_max)]
Memo = Annotated[str, Meta(max_length=limits.memo_chars_max)]
# msgspec matches patterns with re.search, where "$" also matches before a final newline: the
# lookahead keeps "RVC\n" out (and stays a valid ECMAScript pattern for JSON Schema, unlike \Z).
UnitCode = Annotated[str, Meta(min_length=1, max_length=limits.unit_code_chars_max, pattern=r"^[A-Z0-9]+(?!\n)$")]
Decimals = Annotated[int, Meta(ge=0, le=limits.unit_decimals_max)]
Role = Literal["member", "admin"]
BasisPoints = Annotated[int, Meta(ge=0, le=limits.basis_points_max)]
Title = Annotated[str, Meta(min_length=1, max_length=limits.decision_title_chars_max)]
Text = Annotated[str, Meta(max_length=limits.decision_text_chars_max)]
Topic = Annotated[str, Meta(max_length=limits.topic_chars_max)]
OptionIndex = Annotated[int, Meta(ge=0, lt=limits.poll_options_max)]
DecisionType = Literal["proposal", "poll", "consent"]
Position = Literal["agree", "abstain", "disagree", "block"]
# below_floor: the votes would pass it, but it no longer meets the community's floors for its effect
# (they were raised while it was open); ledger/decisions.py.
Outcome = Literal["passed", "rejected", "blocked", "no_quorum", "effect_refused", "below_floor"]
Admission = Literal["admin", "decision"]
# Who may see a kind of the community's data (ledger/visibility.py): anyone; its members; the
# member it is about and the admins; the admins alone.
Audience = Literal["public", "members", "concerned", "admins"]
# The classes of decision the community's floors are set for, from the lightest to the strictest
# (docs/decisions.md, "Floors"); `rules` is the strictest and always at least as strict as the others.
DecisionClass = Literal[
    "general", "enterprise", "membership", "limits", "treasury", "federation", "key_recovery", "rules"
]


class Tagged(Struct, frozen=True, forbid_unknown_fields=True, array_like=True, tag_field="kind"):
    pass


T = TypeVar("T")


def with_subclasses(table: dict[type, T]) -> dict[type, T]:
    """`table` keyed by every subclass too (`ProposeWithPeriod` is a `Propose`, one wire form of it),
    so that the dispatch is one dictionary lookup by the exact type."""
    full = dict(table)
    pending = list(table.items())
    while pending:
        kind, owner = pending.pop()
        for subclass in kind.__subclasses__():
            if subclass not in full:
                full[subclass] = owner
                pending.append((subclass, owner))
    return full
