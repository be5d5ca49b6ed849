"""Property: random members make random proposals (any type, any effect, any quorum, threshold,
deadline or voting period), vote at random, time passes, the timer closes what is due, and a
hostile node tries to close random open decisions as passed whenever it likes: no effect ever
passes below the floors of its class.

The oracle here is written separately from ledger/decisions.py: its own table of default floors, its
own map from effect to class, and its own fold of the `set_floors` that passed. At each close that
passes an effect it checks, against the floors in force just before that close: the decision's
quorum and (a proposal's) threshold, the members who took part, and the time it was open (unless
every member of the electorate agreed, directly, which is the one early close allowed).

The same machine proposes visibility changes (`set_visibility`, docs/privacy.md) with an oracle of
its own: a change its reading of the limits refuses is refused at the proposal and never passes,
and after every step the policy in the state is the oracle's fold of the changes that passed, and
the one a store restores from the decisions (`visibility_in_force`).
"""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from tallystick.ledger import decisions
from tallystick.ledger.errors import DecisionNotDueError, DomainError
from tallystick.protocol.events import (
    AdmitMember,
    DecisionClosed,
    FederationAct,
    Floor,
    Propose,
    ProposeWithPeriod,
    RecoverKey,
    RemoveMember,
    SetDefaultLimits,
    SetFloors,
    SetLevy,
    SetLimits,
    SetRole,
    SetRules,
    SetVisibility,
    Vote,
)
from tallystick.protocol.federation import Charter, CharterMember, FederationVote

from helpers.ledger import ClockedLedger, admin_key, key


def rounded_bp(share: Fraction) -> int:
    """A share in basis points, rounded to the nearest (a half up), as docs/decisions.md reads bars."""
    return math.floor(share * 10_000 + Fraction(1, 2))


hour_ms = 3600 * 1000
member_keys = [admin_key] + [key(f"floor voter {index}") for index in range(1, 6)]
classes = ("general", "enterprise", "membership", "limits", "treasury", "federation", "key_recovery", "rules")

# (quorum_bp, threshold_bp, period_ms) of a community that never set its own: docs/decisions.md.
reference_defaults = {
    "general": (0, 0, 0),
    "enterprise": (0, 0, 0),
    "membership": (2500, 5000, 24 * hour_ms),
    "federation": (2500, 5000, 24 * hour_ms),
    "limits": (5000, 5000, 48 * hour_ms),
    "treasury": (5000, 5000, 48 * hour_ms),
    "key_recovery": (5000, 6667, 72 * hour_ms),
    "rules": (5000, 6667, 72 * hour_ms),
}


def reference_class(admins: set[bytes], effect: object) -> str:
    if effect is None:
        return "general"
    if isinstance(effect, (SetRules, SetFloors, SetVisibility)):
        return "rules"
    if isinstance(effect, SetLimits):
        return "rules" if effect.account in admins else "limits"
    if isinstance(effect, SetDefaultLimits):
        return "limits"
    if isinstance(effect, RecoverKey):
        return "rules" if effect.member in admins else "key_recovery"
    if isinstance(effect, AdmitMember):
        return "rules" if effect.role == "admin" else "membership"
    if isinstance(effect, RemoveMember):
        return "rules" if effect.member in admins else "membership"
    if isinstance(effect, SetLevy):
        return "treasury"
    if isinstance(effect, FederationAct):
        return "rules" if isinstance(effect.body, Charter) else "federation"
    raise AssertionError(effect)


visibility_kinds = ("names", "balances", "history", "votes", "decisions", "holdings", "log")
# A few kinds at a time (none at all is a change the domain refuses), any audience for each.
visibility_changes = st.dictionaries(
    st.sampled_from(visibility_kinds), st.sampled_from(["public", "members", "concerned", "admins"]), max_size=3,
).map(lambda named: SetVisibility(**named))
# The oracle's own reading of docs/privacy.md: how far each audience reaches ("concerned" and
# "admins" alike), and the kinds about one member that are never public.
reach = {"public": 3, "members": 2, "concerned": 1, "admins": 1}
personal_kinds = ("balances", "history", "votes", "holdings")


def reference_policy_after(policy: dict[str, str], change: SetVisibility) -> dict[str, str] | None:
    """The policy once `change` applies, or None if docs/privacy.md says it must be refused."""
    named = {kind: getattr(change, kind) for kind in visibility_kinds if getattr(change, kind) is not None}
    after = {**policy, **named}
    if not named or any(after[kind] == "public" for kind in personal_kinds):
        return None
    if reach[after["log"]] > min(reach[after[kind]] for kind in visibility_kinds if kind != "log"):
        return None
    return after


floors = st.builds(
    Floor,
    decision_class=st.sampled_from(classes),
    quorum_bp=st.integers(0, 10_000),
    threshold_bp=st.integers(0, 10_000),
    period_ms=st.sampled_from([0, hour_ms, 24 * hour_ms, 72 * hour_ms, 96 * hour_ms]),
)


class Floors(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = ClockedLedger(now_ms=1_000_000)
        for index in range(1, len(member_keys)):
            self.ledger.accept(admin_key, AdmitMember(member=member_keys[index].public, name=f"Voter {index}"))
        self.ledger.accept(admin_key, SetRole(member=member_keys[1].public, role="admin"))
        self.floors = dict(reference_defaults)
        self.policy = {"names": "members", "balances": "concerned", "history": "concerned", "votes": "members",
                       "decisions": "members", "holdings": "members", "log": "admins"}
        self.fresh = 0
        self.passed_effects = 0

    def _fresh_key(self) -> bytes:
        self.fresh += 1
        return key(f"fresh {self.fresh}").public

    def _admins(self) -> set[bytes]:
        return {member_id for member_id, member in self.ledger.state.members.items()
                if member.active and member.role == "admin"}

    @rule(
        proposer=st.integers(0, len(member_keys) - 1),
        decision_type=st.sampled_from(["proposal", "proposal", "consent", "consent", "poll"]),
        effect_kind=st.sampled_from(["none", "limits", "default_limits", "recover", "admit", "admit_admin", "remove",
                                     "rules", "floors", "levy", "charter", "ballot", "visibility", "visibility"]),
        subject=st.integers(0, len(member_keys) - 1),
        quorum_bp=st.sampled_from([None, None, 0, 2500, 5000, 10_000]) | st.integers(0, 10_000),
        threshold_bp=st.sampled_from([None, None, 0, 5000, 6667, 10_000]) | st.integers(0, 10_000),
        period_ms=st.sampled_from([1500, hour_ms, 24 * hour_ms, 48 * hour_ms, 72 * hour_ms, 100 * hour_ms]),
        absolute=st.booleans(),
        new_floors=st.lists(floors, min_size=1, max_size=3),
        visibility_change=visibility_changes,
    )
    def propose(self, proposer: int, decision_type: str, effect_kind: str, subject: int, quorum_bp: int | None,
                threshold_bp: int | None, period_ms: int, absolute: bool, new_floors: list[Floor],
                visibility_change: SetVisibility) -> None:
        target_id = member_keys[subject].public
        effect = {
            "none": lambda: None,
            "limits": lambda: SetLimits(target_id, 10**15, None),
            "default_limits": lambda: SetDefaultLimits(10**15, 10**15),
            "recover": lambda: RecoverKey(member=target_id, new_key=self._fresh_key()),
            "admit": lambda: AdmitMember(member=self._fresh_key(), name=f"Newcomer {self.fresh}"),
            "admit_admin": lambda: AdmitMember(member=self._fresh_key(), name=f"Newcomer {self.fresh}", role="admin"),
            "remove": lambda: RemoveMember(member=target_id),
            "rules": lambda: SetRules("decision", 0, 0),
            "floors": lambda: SetFloors(tuple({floor.decision_class: floor for floor in new_floors}.values())),
            "levy": lambda: SetLevy(100, 0, 10),
            "charter": lambda: FederationAct(body=Charter("Valley", "VAL", 2, (CharterMember(self.ledger.feed, "TST", 1, 1),),
                                                          6000, self.fresh)),
            "ballot": lambda: FederationAct(body=FederationVote(b"\x07" * 32, self.fresh, None)),
            "visibility": lambda: visibility_change,
        }[effect_kind]()
        timing: dict = {"deadline_ms": self.ledger.now_ms + period_ms} if absolute else \
            {"deadline_ms": 0, "voting_period_ms": period_ms}
        action = (Propose if absolute else ProposeWithPeriod)(
            decision_type=decision_type,  # type: ignore[arg-type]
            title="A proposal", text="",
            **timing,
            options=("A", "B") if decision_type == "poll" else (),
            quorum_bp=quorum_bp,
            threshold_bp=threshold_bp if decision_type == "proposal" else None,
            effect=effect,
        )
        error = self.ledger.submit(self.ledger.sign(member_keys[proposer], action))  # refused or not: both are fine
        if isinstance(effect, SetVisibility) and reference_policy_after(self.policy, effect) is None:
            assert error is not None, effect  # what the policy's limits refuse is refused at the proposal
        event(f"proposal {'taken' if error is None else 'refused: ' + error.code}")

    @rule(proposer=st.integers(0, len(member_keys) - 1), change=visibility_changes,
          agreeing=st.integers(0, len(member_keys)))
    def a_visibility_change_is_proposed_and_voted(self, proposer: int, change: SetVisibility, agreeing: int) -> None:
        """As the rules class asks: open 72 h; then some or all agree, and the timer closes what is due."""
        action = ProposeWithPeriod(decision_type="proposal", title="Who sees what", text="", deadline_ms=0,
                                   voting_period_ms=72 * hour_ms, effect=change)
        error = self.ledger.submit(self.ledger.sign(member_keys[proposer], action))
        if reference_policy_after(self.policy, change) is None:
            assert error is not None, change
        if error is not None:
            event(f"visibility change refused: {error.code}")
            return
        seq = self.ledger.seq
        for voter in range(agreeing):
            self.ledger.submit(self.ledger.sign(member_keys[voter], Vote(decision=seq, position="agree")))
        self.timer_closes_what_is_due()

    @rule(voter=st.integers(0, len(member_keys) - 1), pick=st.integers(0, 50),
          position=st.sampled_from(["agree", "agree", "agree", "abstain", "disagree", "block"]))
    def vote(self, voter: int, pick: int, position: str) -> None:
        open_ = sorted(self.ledger.state.open_decisions.keys())
        if open_:
            decision = self.ledger.state.decisions[open_[pick % len(open_)]]
            vote = Vote(decision=decision.seq, options=(0,)) if decision.decision_type == "poll" else \
                Vote(decision=decision.seq, position=position)  # type: ignore[arg-type]
            self.ledger.submit(self.ledger.sign(member_keys[voter], vote))

    @rule(pick=st.integers(0, 50), position=st.sampled_from(["agree", "agree", "abstain", "disagree"]),
          voters=st.integers(1, len(member_keys)))
    def many_vote(self, pick: int, position: str, voters: int) -> None:
        for voter in range(voters):
            self.vote(voter, pick, position)

    @rule(voters=st.integers(0, len(member_keys)), position=st.sampled_from(["agree", "agree", "disagree"]),
          step_ms=st.sampled_from([0, 24 * hour_ms, 100 * hour_ms]))
    def the_newest_decision_is_voted_and_time_passes(self, voters: int, position: str, step_ms: int) -> None:
        if self.ledger.state.open_decisions:
            newest = max(self.ledger.state.open_decisions.keys())
            for voter in range(voters):
                decision = self.ledger.state.decisions[newest]
                vote = Vote(decision=newest, options=(0,)) if decision.decision_type == "poll" else \
                    Vote(decision=newest, position=position)  # type: ignore[arg-type]
                self.ledger.submit(self.ledger.sign(member_keys[voter], vote))
        self.ledger.now_ms += step_ms
        self.timer_closes_what_is_due()

    @rule(step_ms=st.sampled_from([1000, hour_ms, 24 * hour_ms, 50 * hour_ms]))
    def time_passes(self, step_ms: int) -> None:
        self.ledger.now_ms += step_ms

    @rule()
    def timer_closes_what_is_due(self) -> None:
        for seq in decisions.due_closures(self.ledger.state, self.ledger.now_ms):
            body = decisions.closing_body(self.ledger.state, seq)
            if body is not None:
                try:
                    self._close(body)
                except DecisionNotDueError:
                    # As the sequencer does: a close due early by unanimity when the timer asked is
                    # no longer due once an earlier close in the same tick changed the state (a
                    # floor, a member); nothing is appended and the timer asks again later.
                    event("early close no longer due")

    @rule(pick=st.integers(0, 50))
    def hostile_node_closes_as_passed(self, pick: int) -> None:
        open_ = sorted(self.ledger.state.open_decisions.keys())
        if not open_:
            return
        try:
            self._close(DecisionClosed(decision=open_[pick % len(open_)], outcome="passed"))
        except DomainError as error:
            event(f"hostile close refused: {error.code}")  # refused by audit: nothing was appended

    def _close(self, body: DecisionClosed) -> None:
        ledger = self.ledger
        decision = ledger.state.decisions[body.decision]
        admins, floors_before = self._admins(), dict(self.floors)
        events_before = len(ledger.events)
        try:
            ledger.audited(body)
        except DomainError:
            assert len(ledger.events) == events_before
            raise
        closed = ledger.state.decisions[body.decision]
        if isinstance(decision.effect, SetVisibility):
            expected = reference_policy_after(self.policy, decision.effect)
            # A change the oracle refuses never passes; one it allows passes or fails on its votes.
            assert expected is not None or closed.outcome != "passed", (self.policy, decision.effect)
            if closed.outcome == "passed" and expected is not None:
                self.policy = expected
        if closed.outcome != "passed":
            return
        if isinstance(decision.effect, SetFloors):
            self.floors.update({floor.decision_class: (floor.quorum_bp, floor.threshold_bp, floor.period_ms)
                                for floor in decision.effect.floors})
        if decision.effect is None:
            return
        self.passed_effects += 1
        event(f"passed: {type(decision.effect).__name__}{' early' if ledger.now_ms < decision.deadline_ms else ''}")
        quorum, threshold, period = floors_before[reference_class(admins, decision.effect)]
        result = closed.result
        assert result is not None and decision.decision_type != "poll"
        assert decision.quorum_bp >= quorum, (decision, quorum)
        # A share reaches a floor when, rounded to the nearest basis point, it is at least the floor.
        assert result.electorate == 0 or rounded_bp(Fraction(result.participants, result.electorate)) >= quorum
        if decision.decision_type == "proposal":
            assert decision.threshold_bp >= threshold
            sides = result.positions["agree"] + result.positions["disagree"]
            assert sides > 0 and rounded_bp(Fraction(result.positions["agree"], sides)) >= threshold
        assert result.positions["block"] == 0
        everyone_agreed = result.direct == result.electorate == result.positions["agree"]
        assert decision.deadline_ms - decision.opened_ms >= period
        assert ledger.now_ms >= decision.deadline_ms or everyone_agreed

    @invariant()
    def the_policy_agrees_with_the_oracle_and_is_restored_from_the_decisions(self) -> None:
        state = self.ledger.state
        assert {kind: getattr(state.visibility, kind) for kind in visibility_kinds} == self.policy
        assert decisions.visibility_in_force(state.decisions) == state.visibility

    @invariant()
    def floors_agree_with_the_domain(self) -> None:
        derived = decisions.floors_in_force(self.ledger.state)
        assert {name: (f.quorum_bp, f.threshold_bp, f.period_ms) for name, f in derived.items()} == self.floors


Floors.TestCase.settings = settings(max_examples=250, stateful_step_count=50, deadline=None)
test_no_effect_ever_passes_below_its_floor = Floors.TestCase
