"""The alerts at the top of a page, in the page's language: the node's algedonic alerts (of
/api/status: a fork, a checkpoint that does not match, the feeds limit, this node refusing writes
and why) and a federation's (its report's), each as what kind of alert it is and one sentence.

How this works: an alert is a JSON object with a `kind` and an English `message` (the API's,
written by replication/ingest.py, node/sequencer.py and federation/report.py), and some of them
with their values apart (a fork's `feed` and `seq`). Each kind known here has its words, and its
message a sentence of the catalogue whose values are read from the alert's fields or, where the
writer keeps them only in the message, from the message by the pattern that writer uses. A message
no pattern reads (a new kind, or a writer whose words changed) keeps the kind's translated words
and the English message as the API gives it, marked `lang="en"`: an operator still reads what to
do. The API keeps its English; only the pages translate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .language import N_, current_language, gettext_in, number

# Each kind of alert in words (a node's, then a federation's report's).
kind_words = {
    "fork": N_("A feed told two stories"),
    "checkpoint_mismatch": N_("A checkpoint does not match"),
    "feeds_limit": N_("Too many feeds"),
    "stale_home": N_("This node refuses writes"),
    "clock_ahead": N_("This node's clock is ahead"),
    "equivocation": N_("A community voted twice"),
    "at_limit": N_("At a limit of trade"),
    "payment_violation": N_("A payment broke the rules"),
    "payment_pending": N_("A payment is waiting"),
    "unreachable": N_("A node cannot be reached"),
    "not_held": N_("A community is not copied here"),
}

# (kind, the writer's message as a pattern, the sentence in the catalogue). The first that matches
# a kind's message gives its sentence; the groups are its values.
_sentences: list[tuple[str, re.Pattern[str], str]] = [
    ("fork", re.compile(r"this node's own feed is forked at seq (?P<seq>\d+): .*"),
     N_("This node's own feed is forked at event #%(seq)s: its key signed two different events; it is frozen.")),
    ("fork", re.compile(r"feed (?P<feed>n_\w+) is forked at seq (?P<seq>\d+)[:;] .*"),
     N_("Feed %(feed)s is forked at event #%(seq)s: its key signed two different events; it is frozen.")),
    ("checkpoint_mismatch", re.compile(r"feed (?P<feed>n_\w+): .*"),
     N_("Feed %(feed)s: its author's checkpoint does not match the state this node computes; its events from there "
        "on are refused (the details are in /api/status).")),
    ("feeds_limit", re.compile(r"this node holds (?P<held>\d+) feeds, its limit \((?P<limit>\d+)\): .*"),
     N_("This node holds %(held)s feeds, its limit (%(limit)s): feeds its peers vouch for are no longer taken; check "
        "which peer spreads so many feeds (tally status --json).")),
    ("stale_home", re.compile(r"this node's feed is forked .*"),
     N_("This node's feed is forked (another copy of this home wrote too): stop every copy, keep one, and run "
        "tally restore on the others.")),
    ("stale_home", re.compile(r"a peer holds this node's feed up to seq (?P<seq>\d+) or later, but this home has only "
                              r"(?P<held>\d+): .*"),
     N_("A peer holds this node's feed up to event #%(seq)s or later, but this home has only %(held)s: it was "
        "restored from an old copy. Stop it and run tally restore (docs/operator.md).")),
    ("clock_ahead", re.compile(r"this node's clock \((?P<clock>[^)]*)\) is (?P<days>[\d.]+) days ahead .*"),
     N_("This node's clock (%(clock)s) is %(days)s days ahead of its last event and its peers': it appends nothing "
        "until the clock is right. Fix it (NTP); if it is right, see clock_ahead in docs/operator.md.")),
    ("equivocation", re.compile(r"(?P<member>n_\w+) voted twice in epoch (?P<epoch>\d+); the first counts"),
     N_("%(member)s voted twice in round %(epoch)s; the first vote counts.")),
    ("at_limit", re.compile(r"(?P<member>[nx]_\w+) has been at its capacity in the federation for (?P<minutes>\d+) min: .*"),
     N_("%(member)s has been at its room for trade in the federation for %(minutes)s min: it can only trade the "
        "other way.")),
    ("at_limit", re.compile(r"(?P<member>[nx]_\w+) has been at its balance-of-trade limit in the federation for "
                            r"(?P<minutes>\d+) min: .*"),
     N_("%(member)s has been at its limit of trade in the federation for %(minutes)s min: it can only trade the "
        "other way.")),
    ("payment_pending", re.compile(r"payment (?P<payment>\S+) has been (?P<status>pending|accepted) for over an hour"),
     N_("Payment %(payment)s has waited for an answer for over an hour.")),
    ("unreachable", re.compile(r"peer (?P<url>\S+) is unreachable"),
     N_("The peer %(url)s cannot be reached.")),
    ("not_held", re.compile(r"this node holds no copy of (?P<community>n_\w+): peer with it"),
     N_("This node holds no copy of %(community)s: make it a peer.")),
]


def alert_line(alert: Mapping[str, Any], language: str | None = None) -> dict[str, str | None]:
    """An alert as a page shows it: its kind in words and its sentence in `language` (the
    request's by default), or, where no sentence reads its message, that message in English with
    `lang` 'en' (else None: the sentence is the page's language)."""
    language = language or current_language()
    kind = str(alert.get("kind", ""))
    message = str(alert.get("message", ""))
    words = kind_words.get(kind)
    shown_kind = gettext_in(language, words) if words is not None else kind.replace("_", " ")
    for sentence_kind, pattern, sentence in _sentences:
        if sentence_kind != kind:
            continue
        found = pattern.fullmatch(message)
        if found is not None:
            values = {name: value for name, value in found.groupdict().items() if value is not None}
            if "days" in values:  # '29.0' as the language writes it ('29,0')
                values["days"] = number(Decimal(values["days"]), language)
            return {"kind": shown_kind, "message": gettext_in(language, sentence, **values), "lang": None}
    return {"kind": shown_kind, "message": message, "lang": None if language == "en" else "en"}
