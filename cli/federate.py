"""Found and run federations from a script, as the communities' admins would at the command line:
what `tally cluster up` (and so `make demo` and the tests' clusters) uses to link its communities.

How this works: every step is an ordinary signed intent to one community's node. A community
adopts a charter with `FederationAct(charter)`; a federation decides by a `FederationProposal`
appended by one community under it and `FederationVote`s appended by its members, each with its
admin's key. A member that is itself a federation votes by a decision of its own (`VoteInParent`),
and a federation joins a parent by a decision (`JoinFederation`). After each step the script waits
until the proposer's node, which replicates every feed of the cluster, folds the outcome: the
same protocol a person follows with `tally federation propose` and `vote`, only without typing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tallystick.node.home import read_key
from tallystick.protocol.errors import BadIdError, LocalError
from tallystick.protocol.events import FederationAct
from tallystick.protocol.federation import (
    AllocateCapacity,
    CapacityShare,
    Charter,
    CharterMember,
    FederationEffect,
    FederationProposal,
    FederationVote,
    JoinFederation,
    SetTradeLimits,
    VoteInParent,
    federation_id,
    proposal_id,
)
from tallystick.protocol.ids import id_from_text, id_to_text

from .client import Client, NodeRefused
from .common import now_ms

decision_wait_seconds = 60
# A member federation's ballot is a decision whose deadline is its time as a ballot: it must come
# before the parent's proposal's deadline.
ballot_deadline_ms = 3600 * 1000
proposal_deadline_ms = 2 * ballot_deadline_ms


class FederateError(LocalError):
    code = "federate"


@dataclass
class Seat:
    """A community as the script drives it: its node's URL, its id (n_…) and its admin's key file."""

    url: str
    node: str
    admin_key: Any  # a Path to the key file

    def act(self, body: Any) -> None:
        Client(self.url).submit(read_key(self.admin_key), FederationAct(body=body))


@dataclass
class Federation:
    """A federation and who speaks in it: its member communities (seats), or its member
    federations; `seats` is every community under it."""

    id: bytes
    name: str
    communities: list[Seat] = field(default_factory=list)
    children: list[Federation] = field(default_factory=list)

    @property
    def seats(self) -> list[Seat]:
        return self.communities + [seat for child in self.children for seat in child.seats]

    @property
    def text(self) -> str:
        return id_to_text("x", self.id)


def _wait(what: str, check: Callable[[], bool], seconds: float = decision_wait_seconds) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise FederateError(f"timed out after {seconds:.0f} s waiting for {what}")


def view(seat: Seat, federation: Federation) -> dict[str, Any] | None:
    try:
        return Client(seat.url).get(f"/api/federations/{federation.text}")
    except NodeRefused:
        return None  # not held there yet


def found(name: str, unit_code: str, decimals: int, members: Sequence[Seat | Federation], quorum_bp: int = 6000) -> Federation:
    """A federation of `members`, every rate 1:1. Communities adopt the charter at once; member
    federations adopt it later by `join`."""
    charter = Charter(
        name=name, unit_code=unit_code, unit_decimals=decimals,
        members=tuple(
            CharterMember(id_from_text("n", m.node) if isinstance(m, Seat) else m.id, unit_code, 1, 1) for m in members
        ),
        quorum_bp=quorum_bp, founded_ms=now_ms(),
    )
    federation = Federation(
        federation_id(charter), name,
        communities=[m for m in members if isinstance(m, Seat)],
        children=[m for m in members if isinstance(m, Federation)],
    )
    # The charter is appended by every member community; a federation-only charter is published
    # by one community under it (so that every node folds it).
    for seat in federation.communities or federation.children[0].seats[:1]:
        seat.act(charter)
    return federation


def wait_founded(federation: Federation) -> None:
    seat = federation.seats[0]
    _wait(f"{federation.name} founded", lambda: bool((view(seat, federation) or {}).get("founded")))


def decide(federation: Federation, effect: FederationEffect, title: str) -> str:
    """One decision of `federation`, proposed by its first community and voted yes by every member
    (a member federation by its own decision); returns the proposal id once it passed."""
    proposer = federation.seats[0]
    _wait(f"{federation.name} to be held at {proposer.url}", lambda: bool((view(proposer, federation) or {}).get("founded")))
    document = view(proposer, federation)
    assert document is not None
    body = FederationProposal(
        federation=federation.id, epoch=document["epoch"],
        previous=id_from_text("h", document["last_decision"]) if document["passed"] else federation.id,
        deadline_ms=now_ms() + (ballot_deadline_ms if isinstance(effect, VoteInParent) else proposal_deadline_ms),
        title=title, text="", effect=effect,
    )
    proposer.act(body)
    proposal = id_to_text("h", proposal_id(body))
    for seat in federation.communities:
        _wait(f"the proposal at {seat.url}",
              lambda seat=seat: any(d["id"] == proposal for d in (view(seat, federation) or {}).get("decisions", [])))
        seat.act(FederationVote(federation.id, body.epoch, proposal_id(body)))
    if federation.children:  # each member federation's ballot is a decision of its own, side by side
        with ThreadPoolExecutor(len(federation.children)) as pool:
            list(pool.map(lambda child: decide_ballot(child, federation, body.epoch, proposal), federation.children))

    def passed() -> bool:
        decisions = (view(proposer, federation) or {}).get("decisions", [])
        return any(d["id"] == proposal and d["outcome"] == "passed" for d in decisions)

    _wait(f"{title} to pass in {federation.name}", passed)
    return proposal


def decide_ballot(child: Federation, parent: Federation, epoch: int, proposal: str) -> str:
    """`child`'s yes on `proposal` in `parent`, as a decision of `child` (its deadline, its time as a
    ballot, comes before the parent proposal's)."""
    return decide(child, VoteInParent(parent.id, epoch, id_from_text("h", proposal)),
                  f"Yes in {parent.name}")


def join(child: Federation, parent: Federation) -> None:
    decide(child, JoinFederation(parent.id), f"Join {parent.name}")


def trade_limits(federation: Federation, debit_minor: int, ceiling_minor: int) -> None:
    """Every member community's balance-of-trade limits in `federation`, one decision each."""
    for seat in federation.communities:
        name = Client(seat.url).get("/api/community")["name"]  # a title people read on the pages
        decide(federation, SetTradeLimits(id_from_text("n", seat.node), debit_minor, ceiling_minor),
               f"Trade limits for {name}")


def allocate(federation: Federation, share_minor: int) -> None:
    """Divide `federation`'s capacity: `share_minor` to each member."""
    members = [id_from_text("n", seat.node) for seat in federation.communities] + [c.id for c in federation.children]
    decide(federation, AllocateCapacity(tuple(CapacityShare(m, share_minor) for m in members)), "Allocate capacity")


def link(
    groups: Sequence[tuple[str, Sequence[Seat]]], top_name: str, unit_code: str, decimals: int, *,
    trade_limit_minor: int, capacity_minor: int, share_minor: int | None = None,
) -> tuple[list[Federation], Federation | None]:
    """Found one federation per (name, communities) group, each giving its communities
    balance-of-trade limits of `trade_limit_minor` either way; with more than one group, found a
    confederation `top_name` of them, which each joins by its own decision, allocate each a
    capacity of `capacity_minor` there, and have each divide it among its communities
    (`share_minor` each; by default equally). The federations decide side by side, one thread
    each. Returns the federations and the confederation (None for a single group)."""
    with ThreadPoolExecutor(len(groups)) as pool:
        def found_one(group: tuple[str, Sequence[Seat]]) -> Federation:
            federation = found(group[0], unit_code, decimals, group[1])
            wait_founded(federation)
            trade_limits(federation, trade_limit_minor, trade_limit_minor)
            return federation

        federations = list(pool.map(found_one, groups))
        if len(federations) == 1:
            return federations, None
        top = found(top_name, unit_code, decimals, federations)
        list(pool.map(lambda federation: join(federation, top), federations))
        wait_founded(top)
        allocate(top, capacity_minor)
        list(pool.map(lambda federation: allocate(
            federation, capacity_minor // len(federation.communities) if share_minor is None else share_minor),
            federations))
    return federations, top


def meeting(
    federations: list[dict[str, Any]], mine: str, theirs: str, wanted: str | None
) -> dict[str, Any] | None:
    """Where a payment between two communities meets: the lowest founded federation above both
    (nearest to this community first), or the one named `wanted` (by id or name) if it is above both.

    `federations` is the node's `/api/federations`. The walk up is the federation fold's own
    (`FederationState.ancestors`, over the parents the founded federations' members give), so the
    federation chosen here is the one the node routes by: nearest first, and among federations at
    one level, in the order of their ids' bytes."""
    # Imported here: only a payment across needs it, and every other command starts without it.
    from immutables import Map
    from tallystick.federation.state import FederationState

    def raw(text: str) -> bytes:
        return id_from_text(text[0], text)  # type: ignore[arg-type]  # an n_ community or an x_ federation

    by_id = {raw(f["id"]): f for f in federations if f["founded"]}
    parents: dict[bytes, set[bytes]] = {}
    for identity, federation in by_id.items():
        for member in federation["members"]:
            parents.setdefault(raw(member["member"]), set()).add(identity)
    state = FederationState(federations=Map(), decisions=Map(), equivocations=(), forks=Map(), refusals=(),
                            parents=Map({member: frozenset(above) for member, above in parents.items()}))
    try:
        theirs_above = set(state.ancestors(raw(theirs)))
    except BadIdError:  # typed after @ as n_…: no community by that id is under any federation here
        return None
    common = [by_id[f] for f in state.ancestors(raw(mine)) if f in theirs_above]
    if wanted is not None:
        common = [f for f in common if wanted in (f["id"], f["name"])]
    return common[0] if common else None
