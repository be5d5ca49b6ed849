"""Federation state as a pure fold over the members' replicated feeds. No I/O, no clock.

How this works: the input is events that replication already verified, as `FeedEvent(feed, seq, ts,
body)`, from many feeds in any interleaving. `observe` files each event under its feed and seq and
nothing else, so what it builds is a function of the *set* of events seen, whatever the order; two
different events at one (feed, seq) are a fork, and the feed counts only up to the seq before it
(it is frozen: every federation ignores what it signed from there on, and it abstains in every
epoch it had not voted in before the fork). `derive` then computes
everything from that set, federation by federation and epoch by epoch:

- A federation is known from its `Charter` (its id is the charter's hash) and is founded once every
  member named has adopted it: a community by appending the charter, a child federation by a passed
  `JoinFederation` decision.
- Each member has one ballot per epoch. A community's ballot is its first `FederationVote` naming
  (federation, epoch), lowest seq first; a later one that chooses differently is ignored and kept
  as `Equivocation` evidence. A child federation's ballot is its first passed decision (in its own
  epoch order) whose effect is `VoteInParent` for that epoch. A yes whose time (the vote's ts, or
  the child decision's deadline) is past the proposal's deadline counts as an abstention.
- In epoch e with n members and q = ceil((2 x quorum_bp - 1) x n / 20000) > n/2 (the least
  number whose share, rounded to the nearest basis point, reaches the quorum) yes ballots needed: a valid
  proposal of e with q yes ballots passes, its effect applies, the others of e are superseded, and
  epoch e+1 begins. Two proposals cannot both have q, since that needs more than n ballots. If no
  proposal can reach q any more (the most yes ballots any choice has, plus the ballots not yet
  cast, is below q), the epoch lapses: its proposals fail and epoch e+1 begins. Otherwise e is the
  current epoch; its proposals are open, or failed if they can no longer reach q.
- A proposal is valid in its epoch if a community of the federation (a member, or a community under
  a member federation) made it, it names the federation's last passed decision as `previous`, its
  deadline is after its event's ts and within `federation_decision_duration_max_ms`, and its effect
  applies to the federation as it is at that epoch.

Every rule reads only counts that more events can only move one way (ballots are never withdrawn,
and a member's first ballot stays first), so an outcome, once reached, stays, except when a fork
proof voids what a forked member signed. docs/federation.md ("Federation protocol") gives the
argument in full.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec
from immutables import Map
from msgspec import Struct
from msgspec.structs import replace as _replace
from tallystick.protocol import limits
from tallystick.protocol.federation import (
    AdmitFederationMember,
    AllocateCapacity,
    AmendCharter,
    Charter,
    ExpelFederationMember,
    FederationEffect,
    FederationProposal,
    FederationVote,
    JoinFederation,
    SetExchangeRate,
    SetTradeLimits,
    VoteInParent,
    federation_id,
    proposal_id,
    quorum_votes,
)
from tallystick.protocol.ids import hash32

Outcome = Literal["open", "passed", "failed", "superseded", "refused"]
MemberKind = Literal["community", "federation"]
_encoder = msgspec.msgpack.Encoder()
_empty: Map = Map()


# ---- input ------------------------------------------------------------------------------------


class FeedEvent(Struct, frozen=True):
    """One verified event of a feed, as the fold needs it."""

    feed: bytes
    seq: int
    ts: int
    body: object


class _Held(Struct, frozen=True):
    ts: int
    fingerprint: bytes  # the hash of the body's encoding: two events at one seq differ iff these differ
    body: object | None  # kept only for federation bodies


class Observations(Struct, frozen=True):
    """What an observer holds: each feed's events by seq, and the seq of each proven fork."""

    feeds: Map = _empty  # feed -> Map[seq -> _Held]
    forks: Map = _empty  # feed -> lowest seq where two different events were seen


_federation_bodies = (Charter, FederationProposal, FederationVote)


def observe(observations: Observations, event: FeedEvent) -> Observations:
    """File one event. Idempotent; a second, different event at a held seq records a fork."""
    fingerprint = hash32(_encoder.encode((event.ts, event.body)))
    held = observations.feeds.get(event.feed, _empty)
    earlier = held.get(event.seq)
    if earlier is not None:
        if earlier.fingerprint == fingerprint:
            return observations
        fork_seq = min(event.seq, observations.forks.get(event.feed, event.seq))
        return _replace(observations, forks=observations.forks.set(event.feed, fork_seq))
    body = event.body if isinstance(event.body, _federation_bodies) else None
    held = held.set(event.seq, _Held(event.ts, fingerprint, body))
    return _replace(observations, feeds=observations.feeds.set(event.feed, held))


def observe_all(events: Iterable[FeedEvent], observations: Observations | None = None) -> Observations:
    current = observations if observations is not None else Observations()
    for event in events:
        current = observe(current, event)
    return current


def fold(events: Iterable[FeedEvent]) -> FederationState:
    """The federation state that `events` (any interleaving of verified feeds) imply."""
    return derive(observe_all(events))


# ---- output -----------------------------------------------------------------------------------


class Ballot(Struct, frozen=True):
    """A member's one ballot in one epoch. `feed`/`seq` locate a community's vote event; a child
    federation's ballot is its passed decision `decision` instead. `time_ms` is what is compared
    with a proposal's deadline."""

    member: bytes
    choice: bytes | None
    time_ms: int
    feed: bytes | None = None
    seq: int | None = None
    decision: bytes | None = None
    frozen: bool = False  # the abstention a frozen (forked) member counts as, not a ballot it cast


class Decision(Struct, frozen=True):
    id: bytes
    federation: bytes
    epoch: int
    proposer: bytes  # the proposing community's feed
    seq: int  # the proposal event's seq in that feed
    ts: int
    proposal: FederationProposal
    outcome: Outcome
    reason: str = ""
    yes: tuple[Ballot, ...] = ()  # the yes ballots counted in its epoch, by member id


class FederationMember(Struct, frozen=True):
    member: bytes
    kind: MemberKind
    unit_code: str
    rate_num: int
    rate_den: int
    admitted_epoch: int
    capacity_minor: int = 0  # its share of the federation's capacity, as allocated
    debit_limit_minor: int = 0  # its balance-of-trade limits in the federation; none until decided
    credit_ceiling_minor: int = 0

    def in_own_unit(self, amount_minor: int) -> int:
        """An amount of the federation's unit in this member's unit, rounded down."""
        return amount_minor * self.rate_den // self.rate_num

    def in_federation_unit(self, amount_minor: int) -> int:
        """An amount of this member's unit in the federation's unit, rounded down."""
        return amount_minor * self.rate_num // self.rate_den


class Federation(Struct, frozen=True):
    id: bytes
    charter: Charter  # the founding charter
    name: str
    quorum_bp: int
    founded: bool
    adopted: frozenset[bytes]  # founding members that adopted the charter
    members: Map  # member id -> FederationMember
    epoch: int  # the current epoch: the first that has not ended
    passed: tuple[bytes, ...]  # passed decisions, in epoch order
    last_decision: bytes  # the last passed decision's id, or the federation id
    joined: frozenset[bytes]  # federations whose charter this one adopted by decision
    allocation_effective: bool = True  # False while its members' shares exceed its own capacity

    @property
    def quorum(self) -> int:
        return quorum_votes(len(self.members), self.quorum_bp)


class Equivocation(Struct, frozen=True):
    """A community voted twice, differently, in one epoch of one federation, in its own feed: the
    first counts; the second is evidence that its node is broken or dishonest."""

    federation: bytes
    epoch: int
    member: bytes
    counted_seq: int
    ignored_seq: int


class Refusal(Struct, frozen=True):
    """A federation event the fold does not count, and why."""

    feed: bytes
    seq: int
    reason: str


class FederationState(Struct, frozen=True):
    federations: Map  # federation id -> Federation
    decisions: Map  # proposal id -> Decision
    equivocations: tuple[Equivocation, ...]
    forks: Map  # feed -> seq from which it is frozen
    refusals: tuple[Refusal, ...]
    parents: Map  # member id (community or federation) -> frozenset of federations it is a member of

    def ancestors(self, member: bytes) -> tuple[bytes, ...]:
        """Every federation above `member`, nearest first (breadth-first), each once."""
        found: list[bytes] = []
        frontier = sorted(self.parents.get(member, frozenset()))
        while frontier:
            following: list[bytes] = []
            for federation in frontier:
                if federation not in found and federation != member:
                    found.append(federation)
                    following.extend(sorted(self.parents.get(federation, frozenset())))
            frontier = following
        return tuple(found)

    def lowest_common_federation(self, first: bytes, second: bytes) -> bytes | None:
        """The nearest federation both are under (the route of a payment between them), or None."""
        above_second = set(self.ancestors(second))
        return next((federation for federation in self.ancestors(first) if federation in above_second), None)


# ---- derive -----------------------------------------------------------------------------------


class _Proposal(Struct, frozen=True):
    id: bytes
    feed: bytes
    seq: int
    ts: int
    body: FederationProposal


class _FeedFacts(Struct):
    charters: set[bytes]
    ballots: dict[tuple[bytes, int], Ballot]


class _Derivation:
    """One derivation's working memory: built, used and dropped inside `derive`."""

    def __init__(self, observations: Observations) -> None:
        self.charters: dict[bytes, Charter] = {}
        self.facts: dict[bytes, _FeedFacts] = {}
        self.proposals: dict[bytes, list[_Proposal]] = {}  # federation -> proposals naming it
        self.equivocations: list[Equivocation] = []
        self.refusals: list[Refusal] = []
        self.decisions: dict[bytes, Decision] = {}
        self.resolved: dict[bytes, Federation | None] = {}
        self.resolving: set[bytes] = set()
        self.forks = observations.forks
        seen_proposals: dict[bytes, _Proposal] = {}
        for feed in sorted(observations.feeds.keys()):
            held = observations.feeds[feed]
            fork_seq = observations.forks.get(feed)
            facts = _FeedFacts(set(), {})
            self.facts[feed] = facts
            for seq in sorted(held.keys()):
                if fork_seq is not None and seq >= fork_seq:
                    break
                item = held[seq]
                body = item.body
                if isinstance(body, Charter):
                    identity = federation_id(body)
                    self.charters[identity] = body
                    facts.charters.add(identity)
                elif isinstance(body, FederationProposal):
                    candidate = _Proposal(proposal_id(body), feed, seq, item.ts, body)
                    kept = seen_proposals.get(candidate.id)
                    if kept is None or (candidate.feed, candidate.seq) < (kept.feed, kept.seq):
                        seen_proposals[candidate.id] = candidate
                elif isinstance(body, FederationVote):
                    key = (body.federation, body.epoch)
                    counted = facts.ballots.get(key)
                    if counted is None:
                        facts.ballots[key] = Ballot(feed, body.proposal, item.ts, feed=feed, seq=seq)
                    elif counted.choice != body.proposal:
                        assert counted.seq is not None
                        self.equivocations.append(Equivocation(body.federation, body.epoch, feed, counted.seq, seq))
        # A yes for an id no held proposal has may name one still on its way: it counts as a
        # possible yes (the epoch waits for it); a yes for a held proposal of another epoch, or a
        # refused one, can never count.
        self.proposal_ids = frozenset(seen_proposals)
        for proposal in sorted(seen_proposals.values(), key=lambda p: p.id):
            self.proposals.setdefault(proposal.body.federation, []).append(proposal)

    # -- who is who

    def is_federation(self, member: bytes) -> bool:
        return member in self.charters

    def communities_under(self, federation: Federation, depth: int = 0) -> set[bytes]:
        found: set[bytes] = set()
        for member in federation.members.values():
            if member.kind == "community":
                found.add(member.member)
            elif depth < limits.certificate_depth_max:
                child = self.resolve(member.member)
                if child is not None:
                    found |= self.communities_under(child, depth + 1)
        return found

    def ballot(self, member: FederationMember, federation: bytes, epoch: int) -> Ballot | None:
        if member.kind == "community":
            facts = self.facts.get(member.member)
            counted = None if facts is None else facts.ballots.get((federation, epoch))
            if counted is None and member.member in self.forks:
                # A frozen feed casts nothing more: it abstains in every epoch it had not voted in
                # before its fork, so that it cannot hold an epoch open for ever.
                return Ballot(member.member, None, 0, frozen=True)
            return counted
        child = self.resolve(member.member)
        if child is None:
            return None
        for decision_id in child.passed:
            decision = self.decisions[decision_id]
            effect = decision.proposal.effect
            if isinstance(effect, VoteInParent) and effect.federation == federation and effect.epoch == epoch:
                return Ballot(member.member, effect.proposal, decision.proposal.deadline_ms, decision=decision_id)
        return None

    def adopted(self, member: bytes, federation: bytes) -> bool:
        if not self.is_federation(member):
            facts = self.facts.get(member)
            return facts is not None and federation in facts.charters
        child = self.resolve(member)
        return child is not None and federation in child.joined

    # -- one federation

    def resolve(self, identity: bytes) -> Federation | None:
        """The federation's state, or None if it is unknown, invalid, or in a membership cycle
        (a federation that is, through its members, a member of itself casts no ballot there)."""
        if identity in self.resolved:
            return self.resolved[identity]
        if identity in self.resolving or identity not in self.charters:
            return None
        self.resolving.add(identity)
        try:
            result = self._resolve(identity, self.charters[identity])
        finally:
            self.resolving.discard(identity)
        self.resolved[identity] = result
        return result

    def _resolve(self, identity: bytes, charter: Charter) -> Federation | None:
        named = [member.member for member in charter.members]
        if len(set(named)) != len(named) or identity in named:
            self.refusals.extend(
                Refusal(feed, 0, "a charter names a member twice, or itself")
                for feed, facts in sorted(self.facts.items())
                if identity in facts.charters
            )
            return None
        members = Map(
            {
                member.member: FederationMember(
                    member.member,
                    "federation" if self.is_federation(member.member) else "community",
                    member.unit_code,
                    member.rate_num,
                    member.rate_den,
                    admitted_epoch=0,
                )
                for member in charter.members
            }
        )
        adopted = frozenset(member for member in named if self.adopted(member, identity))
        federation = Federation(
            id=identity,
            charter=charter,
            name=charter.name,
            quorum_bp=charter.quorum_bp,
            founded=len(adopted) == len(named),
            adopted=adopted,
            members=members,
            epoch=0,
            passed=(),
            last_decision=identity,
            joined=frozenset(),
        )
        proposals = self.proposals.get(identity, [])
        if not federation.founded:
            for proposal in proposals:
                self._record(proposal, federation.id, "open", "the federation is not founded yet")
            return federation
        by_epoch: dict[int, list[_Proposal]] = {}
        for proposal in proposals:
            by_epoch.setdefault(proposal.body.epoch, []).append(proposal)
        # Each pass of this loop ends one epoch, and an epoch ends only on a ballot cast for it or a
        # proposal made in it (a frozen member's standing abstention alone ends none): the loop is
        # bounded by the ballots and proposals held.
        while True:
            epoch = federation.epoch
            valid = self._valid_proposals(federation, by_epoch.pop(epoch, []))
            size = len(federation.members)
            needed = quorum_votes(size, federation.quorum_bp)
            yes: dict[bytes, list[Ballot]] = {}
            cast = 0
            standing = 0  # frozen members' abstentions
            for member in federation.members.values():
                ballot = self.ballot(member, identity, epoch)
                if ballot is None:
                    continue
                cast += 1
                standing += ballot.frozen
                if ballot.choice is None:
                    continue
                known = valid.get(ballot.choice)
                if known is None and ballot.choice in self.proposal_ids:
                    continue  # a yes for a proposal that can never pass in this epoch: an abstention
                if known is not None and ballot.time_ms > known.body.deadline_ms:
                    continue  # a yes after the deadline is an abstention
                yes.setdefault(ballot.choice, []).append(ballot)
            uncast = size - cast
            winners = [choice for choice in sorted(valid) if len(yes.get(choice, ())) >= needed]
            # More than half of the members' single ballots each: two winners would need more
            # ballots than there are members.
            assert len(winners) <= 1, "two proposals reached the quorum in one epoch"
            if winners:
                winner = valid[winners[0]]
                for choice, proposal in valid.items():
                    if choice == winner.id:
                        self._record(proposal, identity, "passed", yes=_sorted_ballots(yes[choice]))
                    else:
                        self._record(proposal, identity, "superseded", "another proposal passed in its epoch")
                federation = self._apply(federation, winner)
                continue
            most = max((len(ballots) for ballots in yes.values()), default=0)
            if not valid and cast == standing:
                break  # nothing happened in this epoch yet: it stays the current one
            if most + uncast < needed:
                for proposal in valid.values():
                    self._record(proposal, identity, "failed", "the epoch ended without a quorum")
                federation = _replace(federation, epoch=epoch + 1)
                continue
            for choice, proposal in valid.items():
                counted = _sorted_ballots(yes.get(choice, []))
                if len(counted) + uncast < needed:
                    self._record(proposal, identity, "failed", "it can no longer reach the quorum", yes=counted)
                else:
                    self._record(proposal, identity, "open", yes=counted)
            break
        for epoch, waiting in by_epoch.items():
            for proposal in waiting:
                if epoch > federation.epoch:
                    self._record(proposal, identity, "open", "its epoch has not begun")
                else:
                    self._record(proposal, identity, "refused", "its epoch ended before it was counted")
        return federation

    def _valid_proposals(self, federation: Federation, proposals: list[_Proposal]) -> dict[bytes, _Proposal]:
        valid: dict[bytes, _Proposal] = {}
        proposers = self.communities_under(federation)
        for proposal in proposals:
            body = proposal.body
            reason = ""
            if proposal.feed not in proposers:
                reason = "the proposer is not a community of the federation"
            elif body.previous != federation.last_decision:
                reason = "it does not follow the federation's last passed decision"
            elif not proposal.ts < body.deadline_ms <= proposal.ts + limits.federation_decision_duration_max_ms:
                reason = "its deadline is not after its event, within federation_decision_duration_max_ms"
            elif len(valid) >= limits.federation_open_proposals_max:
                reason = "the epoch already has federation_open_proposals_max proposals"
            else:
                reason = _effect_refusal(federation, body.effect)
            if reason:
                self._record(proposal, federation.id, "refused", reason)
                self.refusals.append(Refusal(proposal.feed, proposal.seq, reason))
            else:
                valid[proposal.id] = proposal
        return valid

    def _apply(self, federation: Federation, winner: _Proposal) -> Federation:
        effect = winner.body.effect
        members = federation.members
        epoch = federation.epoch + 1
        if isinstance(effect, AdmitFederationMember):
            new = effect.member
            kind: MemberKind = "federation" if self.is_federation(new.member) else "community"
            members = members.set(
                new.member, FederationMember(new.member, kind, new.unit_code, new.rate_num, new.rate_den, epoch)
            )
        elif isinstance(effect, ExpelFederationMember):
            members = members.delete(effect.member)
        elif isinstance(effect, AmendCharter):
            federation = _replace(federation, name=effect.name, quorum_bp=effect.quorum_bp)
        elif isinstance(effect, SetExchangeRate):
            members = members.set(
                effect.member,
                _replace(
                    members[effect.member], unit_code=effect.unit_code, rate_num=effect.rate_num, rate_den=effect.rate_den
                ),
            )
        elif isinstance(effect, AllocateCapacity):
            shares = {share.member: share.capacity_minor for share in effect.shares}
            for member_id, member in members.items():
                members = members.set(member_id, _replace(member, capacity_minor=shares.get(member_id, 0)))
        elif isinstance(effect, SetTradeLimits):
            members = members.set(
                effect.member,
                _replace(
                    members[effect.member],
                    debit_limit_minor=effect.debit_limit_minor,
                    credit_ceiling_minor=effect.credit_ceiling_minor,
                ),
            )
        elif isinstance(effect, JoinFederation):
            federation = _replace(federation, joined=federation.joined | {effect.federation})
        elif isinstance(effect, VoteInParent):
            pass  # read by the parent as this federation's ballot
        else:  # pragma: no cover - the decoder admits only FederationEffect
            raise AssertionError(f"no transition for {type(effect).__name__}")
        return _replace(
            federation,
            members=members,
            epoch=epoch,
            passed=(*federation.passed, winner.id),
            last_decision=winner.id,
        )

    def _record(
        self, proposal: _Proposal, federation: bytes, outcome: Outcome, reason: str = "", yes: tuple[Ballot, ...] = ()
    ) -> None:
        self.decisions[proposal.id] = Decision(
            id=proposal.id,
            federation=federation,
            epoch=proposal.body.epoch,
            proposer=proposal.feed,
            seq=proposal.seq,
            ts=proposal.ts,
            proposal=proposal.body,
            outcome=outcome,
            reason=reason,
            yes=yes,
        )


def _sorted_ballots(ballots: Iterable[Ballot]) -> tuple[Ballot, ...]:
    return tuple(sorted(ballots, key=lambda ballot: ballot.member))


def _effect_refusal(federation: Federation, effect: FederationEffect) -> str:
    """Why `effect` cannot apply to `federation` as it is, or "" if it can."""
    members = federation.members
    if isinstance(effect, AdmitFederationMember):
        if effect.member.member in members:
            return "it admits a member already in the federation"
        if effect.member.member == federation.id:
            return "a federation cannot be its own member"
        if len(members) >= limits.federation_members_max:
            return "the federation already has federation_members_max members"
    elif isinstance(effect, ExpelFederationMember):
        if effect.member not in members:
            return "it expels a member not in the federation"
        if len(members) == 1:
            return "it expels the federation's last member"
    elif isinstance(effect, SetExchangeRate | SetTradeLimits):
        if effect.member not in members:
            return "it names a member not in the federation"
    elif isinstance(effect, AllocateCapacity):
        named = [share.member for share in effect.shares]
        if len(set(named)) != len(named):
            return "it allocates to one member twice"
        if any(member not in members for member in named):
            return "it allocates to a member not in the federation"
        total = sum(share.capacity_minor for share in effect.shares)
        if total > limits.amount_minor_max:
            return "its shares sum past amount_minor_max"
    elif isinstance(effect, VoteInParent | JoinFederation):
        if effect.federation == federation.id:
            return "a federation cannot vote in or join itself"
    return ""


def derive(observations: Observations) -> FederationState:
    """Everything the held events imply: a pure function of the set of events held."""
    derivation = _Derivation(observations)
    federations: dict[bytes, Federation] = {}
    for identity in sorted(derivation.charters):
        federation = derivation.resolve(identity)
        if federation is not None:
            federations[identity] = federation
    for identity, proposals in sorted(derivation.proposals.items()):
        if identity not in federations:
            for proposal in proposals:
                derivation._record(proposal, identity, "refused", "no valid charter of this federation is held")
    parents: dict[bytes, set[bytes]] = {}
    for federation in federations.values():
        if federation.founded:
            for member in federation.members:
                parents.setdefault(member, set()).add(federation.id)
    federations = _check_allocations(federations, parents)
    return FederationState(
        federations=Map(federations),
        decisions=Map(derivation.decisions),
        equivocations=tuple(
            sorted(derivation.equivocations, key=lambda e: (e.federation, e.epoch, e.member, e.ignored_seq))
        ),
        forks=observations.forks,
        refusals=tuple(sorted(set(derivation.refusals), key=lambda r: (r.feed, r.seq, r.reason))),
        parents=Map({member: frozenset(above) for member, above in parents.items()}),
    )


def capacity_in(federations: dict[bytes, Federation], parents: dict[bytes, set[bytes]], member: bytes) -> int | None:
    """A federation's capacity, in its own unit: the smallest share any parent allocated it (each
    in that parent's unit, converted at the member's rate and rounded down), None at the top."""
    shares = []
    for parent in sorted(parents.get(member, ())):
        if federations[parent].allocation_effective:
            entry = federations[parent].members[member]
            shares.append(entry.in_own_unit(entry.capacity_minor))
    return min(shares) if shares else None


def _check_allocations(federations: dict[bytes, Federation], parents: dict[bytes, set[bytes]]) -> dict[bytes, Federation]:
    """A federation's allocation among its members counts only while it sums to at most the
    federation's own capacity in its parents: otherwise every member's share is void (zero) until
    a new allocation fits. A parent's allocation is checked before its children's, so a void share
    above voids the shares below it: the parts never exceed the whole at any level."""
    checked: dict[bytes, Federation] = {}

    def depth(identity: bytes, seen: frozenset[bytes] = frozenset()) -> int:
        above = [p for p in parents.get(identity, ()) if p not in seen]
        return 0 if not above else 1 + max(depth(p, seen | {identity}) for p in above)

    for identity in sorted(federations, key=lambda i: (depth(i), i)):
        federation = federations[identity]
        capacity = capacity_in({**federations, **checked}, parents, identity)
        total = sum(member.capacity_minor for member in federation.members.values())
        effective = capacity is None or total <= capacity
        if not effective:
            members = Map({key: _replace(member, capacity_minor=0) for key, member in federation.members.items()})
            federation = _replace(federation, members=members, allocation_effective=False)
        checked[identity] = federation
    return checked
