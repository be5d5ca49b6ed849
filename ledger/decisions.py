"""Community decisions as part of the pure domain: proposals, polls, consent, votes, delegation,
and the effects a passed decision applies. No I/O, no clock.

How this works: a member's `Propose` opens a decision whose id is the seq of the event carrying it.
Members `Vote` until the deadline (a later vote replaces their earlier one); a member who does not
vote is represented by their delegate for the decision's topic, else their general delegate,
followed transitively (a chain that loops or reaches a departed member casts nothing). Once the
node's clock passes the deadline, the timer appends `DecisionClosed(decision, outcome)`; every
replica recomputes the outcome with `tally` from its own state and refuses a close that is early
or wrong. A passed decision's effect is applied by that closing event. The domain calls in here
from `validate`, `apply` and `audit`; this module reads the state through `domain`'s types only.

Floors: every effect belongs to a class (`decision_class`: membership, limits, key recovery,
treasury, federation acts, an enterprise's holders, and `rules`, the strictest, for the rules
themselves, the floors, the visibility policy, an admin's account and federation membership); the
community's floors give each class a least quorum, threshold and time open. A proposal that asks
for less is refused (`below_floor`); one that names no quorum or threshold gets the community's
default raised to the floor. The floors in force are a fold of the passed `set_floors` decisions
over `default_floors` (`floors_in_force`), so they are a rule in the log that only a decision of
the `rules` class changes, and every replica derives them from the decisions it holds. A close that
passes a decision below the floors in force is refused by `audit_close`; a decision whose floors
rose while it was open closes as `below_floor`. The one way to close before the deadline is
unanimity: a decision with an effect that every member of its electorate agreed to, directly,
closes at once (the time open protects those who have not spoken; here everyone has).

Adding an effect: a struct in protocol/events.py's `Effect` union, one `(check, apply)` pair in
`effects` below, and its class in `decision_class`. `check` raises a DomainError if the effect
cannot apply to the state (it runs when the proposal is made, and again at the close, where a
failure makes the outcome `effect_refused`); `apply` returns the new state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from immutables import Map
from msgspec.structs import replace as _replace
from tallystick.protocol import limits
from tallystick.protocol.events import (
    AdmitMember,
    DecisionClosed,
    DeclareDividend,
    Delegate,
    Effect,
    Event,
    FederationAct,
    Floor,
    Holders,
    Invite,
    Propose,
    ProposeWithPeriod,
    RecoverKey,
    RemoveMember,
    ResumeWithdrawals,
    SetDefaultLimits,
    SetFloors,
    SetInterestCap,
    SetLevy,
    SetLimits,
    SetRules,
    SetVisibility,
    SetWithdrawalRule,
    SuspendWithdrawals,
    TreasuryPay,
    Undelegate,
    Vote,
)
from tallystick.protocol.federation import (
    AdmitFederationMember,
    AmendCharter,
    Charter,
    ExpelFederationMember,
    FederationProposal,
    JoinFederation,
)
from tallystick.protocol.ids import hash32

from . import names as naming
from . import shares as sharing
from .accounts import (
    active_member,
    check_can_receive,
    check_within,
    free_name,
    is_person,
    money,
    move_credit,
    people,
    people_roles,
)
from .errors import (
    BadDecisionError,
    BadDelegationError,
    BadInvitationError,
    BadVoteError,
    BelowFloorError,
    DeadlinePassedError,
    DecisionClosedError,
    DecisionNotDueError,
    DomainError,
    KeyInUseError,
    NotAuthorizedError,
    OutcomeMismatchError,
    SameAccountError,
    TooManyDecisionsError,
    UnknownDecisionError,
)
from .membership import (
    apply_admin_action,
    apply_decided_invite,
    check_admit_rule,
    check_invite_rule,
    check_remove_rule,
    check_set_default_limits_rule,
    check_set_limits_rule,
    key_taken,
    rebind,
)
from .model import Account, Ballot, Decision, Levy, Member, Rules, State, Tally, Visibility
from .money import format_share
from .names import name_key
from .payments import apply_federation_act, check_federation_act_rule

positions = ("agree", "abstain", "disagree", "block")
_no_delegations: Map = Map()


# ---- floors: the least each class of decision must ask for -----------------------------------------

hour_ms = 3600 * 1000

# The floors of a community that never set its own (docs/decisions.md says why each).
default_floors: dict[str, Floor] = {
    floor.decision_class: floor
    for floor in (
        # No effect (a proposal to sound the community out, a poll): nothing changes, nothing to protect.
        Floor("general", quorum_bp=0, threshold_bp=0, period_ms=0),
        # A dividend or withdrawal rule, decided by the enterprise's holders by votes per share: it
        # moves only the enterprise's own account, which its manager pays from anyway.
        Floor("enterprise", quorum_bp=0, threshold_bp=0, period_ms=0),
        Floor("membership", quorum_bp=2500, threshold_bp=5000, period_ms=24 * hour_ms),
        Floor("federation", quorum_bp=2500, threshold_bp=5000, period_ms=24 * hour_ms),
        Floor("limits", quorum_bp=5000, threshold_bp=5000, period_ms=48 * hour_ms),
        Floor("treasury", quorum_bp=5000, threshold_bp=5000, period_ms=48 * hour_ms),
        Floor("key_recovery", quorum_bp=5000, threshold_bp=6667, period_ms=72 * hour_ms),
        Floor("rules", quorum_bp=5000, threshold_bp=6667, period_ms=72 * hour_ms),
    )
}
strictest_class = "rules"

# What a decision of each class does, for the one-line refusals.
class_descriptions = {
    "general": "has no effect",
    "enterprise": "an enterprise's holders decide",
    "membership": "admits, invites or removes a member",
    "federation": "acts in a federation",
    "limits": "changes debit limits or credit ceilings",
    "treasury": "levies for or spends from the treasury",
    "key_recovery": "recovers a member's account to a new key",
    "rules": "changes the rules or floors, who sees what, an admin's account, or federation membership",
}

# Federation acts that change who is in a federation: adopting (or publishing) a charter, and
# proposals to admit, expel, amend the charter or join a parent federation.
_membership_effects = (AdmitFederationMember, ExpelFederationMember, AmendCharter, JoinFederation)


def _is_admin(state: State, member_id: bytes) -> bool:
    member = state.members.get(member_id)
    return member is not None and member.role == "admin"


def decision_class(state: State, effect: Effect | None) -> str:
    """The class whose floors a decision with `effect` must meet, on `state` (checked at the
    proposal and again at the close: a member who became an admin meanwhile makes it `rules`)."""
    return "general" if effect is None else effects[type(effect)].decision_class(state, effect)


def floors_in_force(state: State) -> dict[str, Floor]:
    """`default_floors`, with every passed `set_floors` applied in the order they closed."""
    floors = dict(default_floors)
    changes = sorted(
        (decision for decision in state.decisions.values()
         if decision.outcome == "passed" and isinstance(decision.effect, SetFloors)),
        key=lambda decision: decision.closed_seq or 0,
    )
    for decision in changes:
        for floor in decision.effect.floors:  # type: ignore[union-attr]
            floors[floor.decision_class] = floor
    return floors


def _percent(basis_points: int) -> str:
    return format_share(basis_points)  # 6667 -> "66.67 %", exactly (no float)


def _hours(duration_ms: int) -> str:
    return f"{duration_ms / hour_ms:g} h" if duration_ms >= hour_ms else f"{duration_ms / 1000:g} s"


def floor_shortfall(
    state: State, decision_type: str, quorum_bp: int, threshold_bp: int, period_ms: int, effect: Effect | None
) -> str | None:
    """How a decision falls short of the floors in force for its effect, in words, or None."""
    decision_class_ = decision_class(state, effect)
    floor = floors_in_force(state)[decision_class_]
    what = f"a decision that {class_descriptions[decision_class_]}"
    if quorum_bp < floor.quorum_bp:
        return (f"{what} needs a quorum of at least {_percent(floor.quorum_bp)}, not {_percent(quorum_bp)}: "
                f"ask for at least that (--quorum)")
    if decision_type == "proposal" and threshold_bp < floor.threshold_bp:
        return (f"{what} needs a threshold of at least {_percent(floor.threshold_bp)}, not {_percent(threshold_bp)}: "
                f"ask for at least that (--threshold)")
    if period_ms < floor.period_ms:
        return (f"{what} stays open at least {_hours(floor.period_ms)}, not {_hours(period_ms)}: "
                f"give it a later deadline (--closes-in)")
    return None


def asked_quorum_threshold(state: State, action: Propose) -> tuple[int, int]:
    """The quorum and threshold a proposal gets: what it names, or the community's default raised
    to the floor of its class (a consent or a poll has no threshold: 0)."""
    floor = floors_in_force(state)[decision_class(state, action.effect)]
    rules = state.rules
    quorum = max(rules.quorum_bp, floor.quorum_bp) if action.quorum_bp is None else action.quorum_bp
    if action.decision_type != "proposal":
        return quorum, 0
    threshold = max(rules.threshold_bp, floor.threshold_bp) if action.threshold_bp is None else action.threshold_bp
    return quorum, threshold


def deadline_of(action: Propose, ts_ms: int) -> int:
    """When a proposal closes: its deadline, or its voting period after its event's ts."""
    return ts_ms + action.voting_period_ms if isinstance(action, ProposeWithPeriod) else action.deadline_ms


def _check_floors(state: State, effect: SetFloors) -> None:
    classes = [floor.decision_class for floor in effect.floors]
    if len(set(classes)) != len(classes):
        raise BadDecisionError("each class of decision may have one floor in a set_floors; name each once")
    floors = {**floors_in_force(state), **{floor.decision_class: floor for floor in effect.floors}}
    strictest = floors[strictest_class]
    for floor in floors.values():
        if (floor.quorum_bp > strictest.quorum_bp or floor.threshold_bp > strictest.threshold_bp
                or floor.period_ms > strictest.period_ms):
            raise BadDecisionError(
                f"the {strictest_class} class must stay at least as strict as every other; "
                f"{floor.decision_class} would ask for more: raise {strictest_class} too"
            )


def unanimous(
    state: State, decision: Decision, *, floors: dict[str, Floor] | None = None, people: int | None = None
) -> bool:
    """Whether every member of a decision's electorate agreed to it, directly, so that it may close
    before its deadline. Only a decision whose class has a least time open: the early close
    shortens the wait the floors impose, and where they impose none the deadline the proposer chose
    stands (a discussion, a holders' dividend). `floors` and `people` (the active people, for a
    members' decision) may be given by a caller that asks this of many decisions."""
    if decision.effect is None or decision.decision_type == "poll" or not decision.votes:
        return False
    if people is not None and not isinstance(decision.electorate, Holders) and len(decision.votes) < people:
        return False  # cheap: fewer votes than voters
    floors = floors_in_force(state) if floors is None else floors
    if floors[decision_class(state, decision.effect)].period_ms == 0:
        return False
    voters = [member_id for member_id, weight in _voters(state, decision) if weight > 0]
    if not voters or len(decision.votes) < len(voters):
        return False
    return all(
        (ballot := decision.votes.get(member_id)) is not None and ballot.position == "agree" for member_id in voters
    )


# ---- effects: the one table of what a passed decision can change --------------------------------


def _check_admit(state: State, effect: AdmitMember) -> None:
    check_admit_rule(state, effect)


def _check_remove(state: State, effect: RemoveMember) -> None:
    check_remove_rule(state, effect)


def _check_set_limits(state: State, effect: SetLimits) -> None:
    check_set_limits_rule(state, effect)


def _check_set_default_limits(state: State, effect: SetDefaultLimits) -> None:
    check_set_default_limits_rule(state, effect)


def _check_recover(state: State, effect: RecoverKey) -> None:
    member = active_member(state, effect.member, "the member to recover")
    if member.role == "treasury":
        raise NotAuthorizedError("the community's treasury has no key to recover; no one may sign for it")
    if key_taken(state, effect.new_key):  # bound now or ever, or a held invitation's key (§13.2.1)
        raise KeyInUseError(
            "that key is or was bound to a member, or is an open invitation's; the member must generate a new key"
        )


def _check_rules(state: State, effect: SetRules) -> None:
    return None  # any rules are valid; the decoder bounds the basis points


def _check_levy(state: State, effect: SetLevy) -> None:
    if effect.min_minor > effect.max_minor:
        raise BadDecisionError("a levy's minimum must not be above its maximum")


def treasury_id(feed: bytes) -> bytes:
    """The treasury's account id: derived from the feed, so no one holds a key that signs for it."""
    return hash32(b"tallystick/treasury\n" + feed)


def _apply_levy(state: State, effect: SetLevy, seq: int) -> State:
    if state.treasury is None:
        treasury = treasury_id(state.feed)
        name = free_name(state, ("Treasury", "Community treasury", f"Treasury {seq}"))
        state = _replace(
            state,
            treasury=treasury,
            members=state.members.set(
                treasury, Member(name=name, key=treasury, role="treasury", active=True, admitted_seq=seq)
            ),
            # The treasury only receives: it never goes below zero, and holds any levies collected.
            accounts=state.accounts.set(treasury, Account(0, 0, limits.amount_minor_max)),
            keys=state.keys.set(treasury, treasury),
            names=state.names.set(name_key(name), treasury),
        )
    off = effect.rate_bp == 0 and effect.min_minor == 0
    levy = None if off else Levy(effect.rate_bp, effect.min_minor, effect.max_minor)
    return _replace(state, levy=levy)


def _check_treasury_pay(state: State, effect: TreasuryPay) -> None:
    if state.treasury is None:
        raise BadDecisionError("the community has no treasury yet: a levy opens it")
    if effect.to == state.treasury:
        raise SameAccountError("the treasury cannot pay itself")
    payee = active_member(state, effect.to, "the payee")
    if payee.role == "escrow":
        raise NotAuthorizedError("nobody pays the escrow directly; propose to pay a member")
    treasury = state.accounts[state.treasury]
    check_within(state, treasury, treasury.balance_minor - effect.amount_minor, "the treasury",
                        moved=effect.amount_minor, remedy=lambda most: f"propose at most {money(state, most)}")
    check_can_receive(state, effect.to, effect.amount_minor, payee.name, verb="propose to pay them")


def _apply_treasury_pay(state: State, effect: TreasuryPay, seq: int) -> State:
    accounts = move_credit(state.accounts, state.treasury, effect.to, effect.amount_minor)  # type: ignore[arg-type]
    return _replace(state, accounts=accounts)


def _apply_member_action(state: State, effect: Effect, seq: int) -> State:
    return apply_admin_action(state, effect, seq)


def _apply_recover(state: State, effect: RecoverKey, seq: int) -> State:
    return rebind(state, effect.member, effect.new_key)


def _apply_rules(state: State, effect: SetRules, seq: int) -> State:
    return _replace(state, rules=Rules(effect.admission, effect.quorum_bp, effect.threshold_bp))


# ---- the visibility policy: who sees what (docs/privacy.md) -----------------------------------------

# How far an audience reaches, for comparing them: "concerned" and "admins" are one rank, since a
# member always sees their own whatever the policy (ledger/visibility.py: can_see), and for data
# about no one member "concerned" is the admins alone.
_audience_reach = {"public": 3, "members": 2, "concerned": 1, "admins": 1}

# What one member has, pays and how they voted is theirs: a majority may share it among the members,
# never publish it to the world (personal data, docs/privacy.md).
never_public = ("balances", "history", "votes", "holdings")


def visibility_after(visibility: Visibility, effect: SetVisibility) -> Visibility:
    """The policy once `effect` applies to `visibility`: the kinds it names changed, the rest kept."""
    changes = {kind: getattr(effect, kind) for kind in Visibility.__struct_fields__ if getattr(effect, kind) is not None}
    return _replace(visibility, **changes)


def _check_visibility(state: State, effect: SetVisibility) -> None:
    if all(getattr(effect, kind) is None for kind in Visibility.__struct_fields__):
        raise BadDecisionError("a set_visibility names at least one kind and its audience, e.g. balances=members")
    policy = visibility_after(state.visibility, effect)
    for kind in never_public:
        if getattr(policy, kind) == "public":
            raise BadDecisionError(
                f"{kind} is personal data about each member and is never public: "
                f"choose members, concerned or admins for {kind}")
    # The decoded log carries every kind (names, payments with their memos, votes): it reaches no
    # further than the least visible of them, or it would show what the policy hides.
    widest = min(_audience_reach[getattr(policy, kind)] for kind in Visibility.__struct_fields__ if kind != "log")
    if _audience_reach[policy.log] > widest:
        *others, last = [audience for audience, reach in _audience_reach.items() if reach <= widest]
        allowed = f"{', '.join(others)} or {last}" if others else last
        widen = "" if policy.log == "public" else f", or open every other kind to {policy.log} first"
        raise BadDecisionError(
            f"the log shows every kind of data, so it reaches no further than the least visible one: "
            f"choose {allowed} for the log{widen}")


def _apply_visibility(state: State, effect: SetVisibility, seq: int) -> State:
    return _replace(state, visibility=visibility_after(state.visibility, effect))


def visibility_in_force(decisions: Any) -> Visibility:
    """The default policy with every passed `set_visibility` applied in the order they closed: the
    same policy `apply` kept in the state (a store restores it from its decisions this way)."""
    changes = sorted(
        (decision for decision in decisions.values()
         if decision.outcome == "passed" and isinstance(decision.effect, SetVisibility)),
        key=lambda decision: decision.closed_seq or 0,
    )
    visibility = Visibility()
    for decision in changes:
        visibility = visibility_after(visibility, decision.effect)
    return visibility


EffectCheck = Callable[["State", Effect], None]
EffectApply = Callable[["State", Effect, int], "State"]


class EffectRules(NamedTuple):
    """What the ledger does with one kind of effect: `check` it (at the proposal and at the close),
    `apply` it (by the closing event), the `decision_class` whose floors a decision carrying it must
    meet, and the rows it may change (`touched`, for the store's projections)."""

    check: EffectCheck
    apply: EffectApply
    decision_class: Callable[[State, Any], str]
    touched: Callable[[State, Any], list]


def _strictest_if_admin(member: Callable[[Any], bytes], otherwise: str) -> Callable[[State, Any], str]:
    """A class that is `rules` when the effect concerns an admin's account (a member who became an
    admin meanwhile makes it so at the close), else `otherwise`."""
    return lambda state, effect: strictest_class if _is_admin(state, member(effect)) else otherwise


def _federation_class(state: State, effect: FederationAct) -> str:
    body = effect.body
    membership = isinstance(body, Charter) or (
        isinstance(body, FederationProposal) and isinstance(body.effect, _membership_effects)
    )
    return strictest_class if membership else "federation"


def _the_member(state: State, effect: Any) -> list:
    return [effect.member]


def _nothing(state: State, effect: Any) -> list:
    return []


effects: dict[type, EffectRules] = {
    AdmitMember: EffectRules(
        _check_admit, _apply_member_action,  # type: ignore[arg-type]
        lambda state, effect: strictest_class if effect.role == "admin" else "membership", _the_member),
    RemoveMember: EffectRules(
        _check_remove, _apply_member_action,  # type: ignore[arg-type]
        _strictest_if_admin(lambda effect: effect.member, "membership"), _the_member),
    SetLimits: EffectRules(
        _check_set_limits, _apply_member_action,  # type: ignore[arg-type]
        _strictest_if_admin(lambda effect: effect.account, "limits"), lambda state, effect: [effect.account]),
    SetDefaultLimits: EffectRules(
        _check_set_default_limits, _apply_member_action,  # type: ignore[arg-type]
        lambda state, effect: "limits", lambda state, effect: list(state.accounts.keys())),
    RecoverKey: EffectRules(
        _check_recover, _apply_recover,  # type: ignore[arg-type]
        _strictest_if_admin(lambda effect: effect.member, "key_recovery"), _the_member),
    SetRules: EffectRules(
        _check_rules, _apply_rules,  # type: ignore[arg-type]
        lambda state, effect: strictest_class, _nothing),
    SetLevy: EffectRules(
        _check_levy, _apply_levy,  # type: ignore[arg-type]
        lambda state, effect: "treasury", lambda state, effect: [treasury_id(state.feed)]),
    TreasuryPay: EffectRules(
        _check_treasury_pay, _apply_treasury_pay,  # type: ignore[arg-type]
        lambda state, effect: "treasury", lambda state, effect: [treasury_id(state.feed), effect.to]),
    DeclareDividend: EffectRules(
        sharing.check_dividend, sharing.apply_dividend,  # type: ignore[arg-type]
        lambda state, effect: "enterprise",
        lambda state, effect: sharing.dividend_payees(state, effect) if effect.enterprise in state.shares.enterprises
        else []),
    SetWithdrawalRule: EffectRules(
        sharing.check_withdrawal_rule, sharing.apply_withdrawal_rule,  # type: ignore[arg-type]
        lambda state, effect: "enterprise", lambda state, effect: [("enterprise", effect.enterprise)]),
    FederationAct: EffectRules(
        lambda state, effect: check_federation_act_rule(state, effect),
        lambda state, effect, seq: apply_federation_act(state, effect),
        _federation_class, _nothing),  # the outbox is part of the community row, written with every batch
    # The floors are derived from the passed set_floors decisions (floors_in_force): nothing to set.
    SetFloors: EffectRules(
        _check_floors, lambda state, effect, seq: state,  # type: ignore[arg-type]
        lambda state, effect: strictest_class, _nothing),
    # Who sees what: as strict as the rules, since it decides what every member's data is shown to.
    SetVisibility: EffectRules(
        _check_visibility, _apply_visibility,  # type: ignore[arg-type]
        lambda state, effect: strictest_class, _nothing),
    # The community's invitation (where it admits by decision): an admission made in advance, so
    # of the admission's class. Its rules are checked against the last event's ts, the rules' "now";
    # the closing event makes it (ledger/changes.py writes its row).
    Invite: EffectRules(
        lambda state, effect: check_invite_rule(state, effect, state.ts_ms),
        apply_decided_invite,  # type: ignore[arg-type]
        lambda state, effect: strictest_class if effect.role == "admin" else "membership", _nothing),
    # Co-operative rules (docs/shares.md), each decided by the enterprise's holders: the interest cap
    # (applied by `apply_close` with the close's ts, which starts the interest clock), and the
    # suspension of withdrawals (applied by `apply_close` with the decision's id, which it records)
    # and its lifting.
    SetInterestCap: EffectRules(
        sharing.check_interest_cap,  # type: ignore[arg-type]
        lambda state, effect, seq: sharing.apply_interest_cap(state, effect, state.ts_ms),
        lambda state, effect: "enterprise", lambda state, effect: [("enterprise", effect.enterprise)]),
    SuspendWithdrawals: EffectRules(
        sharing.check_suspend, sharing.apply_suspend,  # type: ignore[arg-type]
        lambda state, effect: "enterprise", lambda state, effect: [("enterprise", effect.enterprise)]),
    ResumeWithdrawals: EffectRules(
        sharing.check_resume, sharing.apply_resume,  # type: ignore[arg-type]
        lambda state, effect: "enterprise", lambda state, effect: [("enterprise", effect.enterprise)]),
}

# Effects only an enterprise's holders decide.
holders_effects = (DeclareDividend, SetWithdrawalRule, SetInterestCap, SuspendWithdrawals, ResumeWithdrawals)

# Effects that change the community's rules row (the store rewrites it when one passes).
rules_effects = (SetRules, SetLevy)


def check_effect(state: State, effect: Effect) -> None:
    effects[type(effect)].check(state, effect)


def apply_effect(state: State, effect: Effect, seq: int, ts_ms: int | None = None, decision: int | None = None) -> State:
    """`effect` applied by the closing event `seq` of decision `decision`, whose ts is `ts_ms`: an
    interest cap starts its clock there, and a suspension records the decision that made it (the
    id a person looks up, not the closing event's seq)."""
    if isinstance(effect, SetInterestCap) and ts_ms is not None:
        return sharing.apply_interest_cap(state, effect, ts_ms)
    if isinstance(effect, SuspendWithdrawals) and decision is not None:
        return sharing.apply_suspend(state, effect, decision)
    return effects[type(effect)].apply(state, effect, seq)


def effect_members(state: State, effect: Effect | None) -> list:
    """The rows an effect may change (for the store's projections): member ids, and an
    enterprise's row as ("enterprise", id)."""
    return [] if effect is None else effects[type(effect)].touched(state, effect)


# ---- validate -----------------------------------------------------------------------------------


def check_propose(state: State, signer_id: bytes, action: Propose, ts_ms: int) -> None:
    if len(state.open_decisions) >= limits.decisions_open_max:
        raise TooManyDecisionsError(
            f"{limits.decisions_open_max} decisions are open; wait until some close before proposing another"
        )
    if isinstance(action, ProposeWithPeriod) and action.deadline_ms != 0:
        raise BadDecisionError("a decision has a deadline or a voting period, not both: give the deadline as 0")
    deadline_ms = deadline_of(action, ts_ms)
    if deadline_ms <= ts_ms:
        raise DeadlinePassedError(f"the deadline {deadline_ms} ms is not in the future (now {ts_ms} ms)")
    if deadline_ms - ts_ms > limits.decision_duration_max_ms:
        raise BadDecisionError(
            f"a decision may stay open at most {limits.decision_duration_max_ms // 86_400_000} days; choose an earlier deadline"
        )
    if action.decision_type == "poll":
        if len(action.options) < 2:
            raise BadDecisionError("a poll needs at least two options")
        if all(isinstance(option, str) for option in action.options):  # else the node's own check (§19.4)
            if len({option.casefold() for option in action.options}) != len(action.options):
                raise BadDecisionError("a poll's options must differ from each other")
            for index, option in enumerate(action.options):
                naming.require_normal_name(option, f"option {index}")
            naming.require_distinct(action.options, "options")
        if action.effect is not None:
            raise BadDecisionError("a poll has no effect; make it a proposal or consent to change the community")
        if action.threshold_bp is not None:
            raise BadDecisionError("a poll has no threshold: the option with most votes wins")
        if action.multiple and action.ranked:
            raise BadDecisionError("a poll is either multiple choice or ranked, not both")
    else:
        if action.options or action.multiple or action.ranked:
            raise BadDecisionError(f"a {action.decision_type} has no options; members agree, abstain, disagree or block")
        if action.decision_type == "consent" and action.threshold_bp is not None:
            raise BadDecisionError("consent has no threshold: it passes unless someone blocks")
    holders = action.electorate.enterprise if isinstance(action.electorate, Holders) else None
    if holders is not None:
        sharing.check_holders_proposer(state, holders, signer_id)
    if isinstance(action.effect, holders_effects):
        if action.effect.enterprise != holders:
            raise BadDecisionError(
                "a dividend, the withdrawal rule, the interest cap or a suspension of withdrawals is decided by "
                "that enterprise's holders: give the proposal the electorate of its holders"
            )
    elif holders is not None and action.effect is not None:
        raise BadDecisionError(
            "a holders' decision can only declare a dividend, set the withdrawal rule or the interest cap, "
            "or suspend or resume withdrawals")
    quorum_bp, threshold_bp = asked_quorum_threshold(state, action)
    shortfall = floor_shortfall(state, action.decision_type, quorum_bp, threshold_bp, deadline_ms - ts_ms, action.effect)
    if shortfall is not None:
        raise BelowFloorError(shortfall)
    if isinstance(action.effect, Invite):
        if action.effect.expires_ms <= deadline_ms:
            raise BadInvitationError(
                "the invitation would expire before the decision closes; give it an expiry after the deadline"
            )
        check_invite_rule(state, action.effect, ts_ms)  # at the proposal's own time; the close checks again
    elif action.effect is not None:
        check_effect(state, action.effect)


def electorate_digest(decision: Decision) -> list:
    """A holders' decision adds its enterprise to its digest entry (a members' one adds nothing,
    so digests from before shares are unchanged)."""
    return [decision.electorate.enterprise] if isinstance(decision.electorate, Holders) else []


def check_vote(state: State, signer_id: bytes, action: Vote, ts_ms: int) -> None:
    decision = state.decisions.get(action.decision)
    if decision is None:
        raise UnknownDecisionError(f"there is no decision {action.decision}; `tally decisions` lists them")
    if not decision.is_open:
        raise DecisionClosedError(f"decision {action.decision} is closed ({decision.outcome}); votes are no longer taken")
    if ts_ms >= decision.deadline_ms:
        raise DeadlinePassedError(f"the deadline of decision {action.decision} has passed; votes are no longer taken")
    if isinstance(decision.electorate, Holders):
        sharing.check_holders_voter(state, decision.electorate.enterprise, signer_id)
    if decision.decision_type == "poll":
        if action.position not in (None, "abstain"):
            raise BadVoteError("a poll takes option numbers, not agree/disagree/block")
        if action.position == "abstain" and action.options:
            raise BadVoteError("an abstention chooses no options")
        if len(set(action.options)) != len(action.options):
            raise BadVoteError("each option may be chosen once")
        if any(option >= len(decision.options) for option in action.options):
            raise BadVoteError(f"this poll has options 0 to {len(decision.options) - 1}")
        if not (decision.multiple or decision.ranked) and len(action.options) > 1:
            raise BadVoteError("this poll takes one option")
    else:
        if action.position is None or action.options:
            raise BadVoteError(f"a {decision.decision_type} takes one of {', '.join(positions)}, not options")


def check_delegate(state: State, signer_id: bytes, action: Delegate) -> None:
    if action.to == signer_id:
        raise BadDelegationError("a member cannot delegate to themselves")
    active_member(state, action.to, "the delegate")
    mine = state.delegations.get(signer_id, _no_delegations)
    if action.topic not in mine and len(mine) >= limits.delegations_per_member_max:
        raise BadDelegationError(
            f"a member holds at most {limits.delegations_per_member_max} delegations; undo one first (`tally delegate --undo`)"
        )


def check_undelegate(state: State, signer_id: bytes, action: Undelegate) -> None:
    if action.topic not in state.delegations.get(signer_id, _no_delegations):
        topic = f"topic {action.topic!r}" if action.topic else "general decisions"
        raise BadDelegationError(f"you have no delegation for {topic}")


# ---- apply --------------------------------------------------------------------------------------


def apply_propose(state: State, signer_id: bytes, action: Propose, seq: int, ts_ms: int) -> State:
    quorum_bp, threshold_bp = asked_quorum_threshold(state, action)
    deadline_ms = deadline_of(action, ts_ms)
    decision = Decision(
        seq=seq,
        proposer=signer_id,
        decision_type=action.decision_type,
        title=action.title,
        text=action.text,
        topic=action.topic,
        options=tuple(action.options),
        multiple=action.multiple,
        ranked=action.ranked,
        quorum_bp=quorum_bp,
        threshold_bp=threshold_bp,
        deadline_ms=deadline_ms,
        opened_ms=ts_ms,
        effect=action.effect,
        electorate=action.electorate,
    )
    return _replace(
        state,
        decisions=state.decisions.set(seq, decision),
        open_decisions=state.open_decisions.set(seq, deadline_ms),
    )


def apply_vote(state: State, signer_id: bytes, action: Vote) -> State:
    decision = state.decisions[action.decision]
    ballot = Ballot(action.position, tuple(action.options))
    decision = _replace(decision, votes=decision.votes.set(signer_id, ballot))
    return _replace(state, decisions=state.decisions.set(action.decision, decision))


def apply_delegate(state: State, signer_id: bytes, action: Delegate) -> State:
    mine = state.delegations.get(signer_id, _no_delegations).set(action.topic, action.to)
    return _replace(state, delegations=state.delegations.set(signer_id, mine))


def apply_undelegate(state: State, signer_id: bytes, action: Undelegate) -> State:
    mine = state.delegations[signer_id].delete(action.topic)
    delegations = state.delegations.set(signer_id, mine) if mine else state.delegations.delete(signer_id)
    return _replace(state, delegations=delegations)


def apply_close(state: State, body: DecisionClosed, seq: int, ts_ms: int | None = None) -> State:
    decision = state.decisions[body.decision]
    result = tally(state, decision)
    closed = _replace(decision, outcome=body.outcome, closed_seq=seq, result=result)
    state = _replace(
        state,
        decisions=state.decisions.set(body.decision, closed),
        open_decisions=state.open_decisions.delete(body.decision),
    )
    if body.outcome == "passed" and decision.effect is not None:
        state = apply_effect(state, decision.effect, seq, ts_ms, body.decision)
    return state


def decision_shortfall(state: State, decision: Decision) -> str | None:
    """How an open decision falls short of the floors in force now, or None."""
    return floor_shortfall(state, decision.decision_type, decision.quorum_bp, decision.threshold_bp,
                           decision.deadline_ms - decision.opened_ms, decision.effect)


def audit_close(state: State, event: Event) -> None:
    body = event.body
    assert isinstance(body, DecisionClosed)
    decision = state.decisions.get(body.decision)
    if decision is None:
        raise UnknownDecisionError(f"seq {event.seq} closes decision {body.decision}, which does not exist")
    if not decision.is_open:
        raise DecisionClosedError(f"seq {event.seq} closes decision {body.decision}, which is already closed")
    if event.ts < decision.deadline_ms and not unanimous(state, decision):
        raise DecisionNotDueError(
            f"seq {event.seq} closes decision {body.decision} at {event.ts} ms, before its deadline {decision.deadline_ms} ms"
        )
    if body.outcome == "passed":
        shortfall = decision_shortfall(state, decision)
        if shortfall is not None:
            raise BelowFloorError(f"seq {event.seq} passes decision {body.decision}, but {shortfall}")
    expected = outcome(state, body.decision)
    if body.outcome != expected:
        raise OutcomeMismatchError(
            f"seq {event.seq} closes decision {body.decision} as {body.outcome}; the votes give {expected}"
        )


# ---- counting -----------------------------------------------------------------------------------


def _delegate_of(state: State, member_id: bytes, topic: str) -> bytes | None:
    mine = state.delegations.get(member_id)
    if mine is None:
        return None
    if topic:
        chosen = mine.get(topic)
        if chosen is not None:
            return chosen
    return mine.get("")


def effective_ballot(state: State, decision: Decision, member_id: bytes) -> Ballot | None:
    """The member's own vote, else their delegate's (transitively), else None."""
    current = member_id
    seen = {current}
    while True:
        ballot = decision.votes.get(current)
        if ballot is not None:
            return ballot
        current = _delegate_of(state, current, decision.topic)
        if current is None or current in seen:
            return None
        member = state.members.get(current)
        if member is None or not member.active:
            return None
        seen.add(current)


def reaches(part: int, whole: int, bar_bp: int) -> bool:
    """Whether the share `part / whole` reaches a bar written in basis points: it does when, rounded
    to the nearest basis point (a half rounds up), it is at least the bar. So two of three (66.666…
    %, shown as 66.67 %) reach 66.67 %, one of two reaches 50.00 %, and 66.66 % does not reach
    66.67 %. Exact in integers, the same on every replica: `part / whole >= (bar - 1/2) / 10000`.
    With nothing to count (`whole` 0) every bar is reached, as a share of nobody is vacuous."""
    return 2 * part * limits.basis_points_max >= (2 * bar_bp - 1) * whole


def least_reaching(whole: int, bar_bp: int) -> int:
    """The smallest part of `whole` that `reaches` the bar: ceil(whole x (bar - 1/2) / 10000)."""
    return max(0, -(-(2 * bar_bp - 1) * whole // (2 * limits.basis_points_max)))


def tally(state: State, decision: Decision) -> Tally:
    """Count `decision` against `state`'s electorate: every active person one vote each, or the
    enterprise's holders by votes per share. A quorum is met, and a proposal's agreement reaches
    its threshold, by `reaches` (the share rounded to the nearest basis point)."""
    counts = dict.fromkeys(positions, 0)
    option_counts = [0] * len(decision.options)
    electorate = participants = direct = 0
    electorate_people = participants_people = direct_people = 0
    holders = isinstance(decision.electorate, Holders)
    for member_id, weight in _voters(state, decision):
        person = is_person(state.members.get(member_id))
        electorate += weight
        electorate_people += person
        if member_id in decision.votes:
            direct += weight
            direct_people += person
        ballot = decision.votes.get(member_id) if holders else effective_ballot(state, decision, member_id)
        if ballot is None:
            continue
        participants += weight
        participants_people += person
        if decision.decision_type == "poll":
            if not ballot.options:
                counts["abstain"] += weight
            for rank, option in enumerate(ballot.options):
                # Borda for a ranked poll (first of n scores n); one vote per option otherwise.
                option_counts[option] += weight * (len(decision.options) - rank if decision.ranked else 1)
        else:
            counts[ballot.position or "abstain"] += weight
    quorum_met = reaches(participants, electorate, decision.quorum_bp)
    if decision.decision_type != "poll" and counts["block"] > 0:
        result = "blocked"
    elif not quorum_met:
        result = "no_quorum"
    elif decision.decision_type == "proposal":
        sides = counts["agree"] + counts["disagree"]
        passed = counts["agree"] > 0 and reaches(counts["agree"], sides, decision.threshold_bp)
        result = "passed" if passed else "rejected"
    else:
        result = "passed"
    if result == "passed" and decision.is_open and decision_shortfall(state, decision) is not None:
        result = "below_floor"
    if result == "passed" and decision.effect is not None:
        try:
            check_effect(state, decision.effect)
        except DomainError:
            result = "effect_refused"
    return Tally(electorate, participants, direct, counts, tuple(option_counts), quorum_met, result,
                 electorate_people, participants_people, direct_people)


def _voters(state: State, decision: Decision) -> list[tuple[bytes, int]]:
    """Who counts and with what weight: every active person one vote each, or an enterprise's
    holders by votes per share (direct votes only: community delegations do not apply)."""
    if isinstance(decision.electorate, Holders):
        if decision.electorate.enterprise not in state.shares.enterprises:
            return []
        return sorted(sharing.vote_weights(state, decision.electorate.enterprise).items())
    return [
        (member_id, 1)
        for member_id, member in state.members.items()
        if member.active and member.role in people_roles
    ]


def outcome(state: State, decision_seq: int) -> str:
    """What the closing event of `decision_seq` must say, given the state just before it."""
    return tally(state, state.decisions[decision_seq]).outcome


def winners(result: Tally) -> list[int]:
    """A poll's leading option indexes (several on a tie; none if nobody chose an option)."""
    best = max(result.option_counts, default=0)
    return [index for index, count in enumerate(result.option_counts) if count == best and best > 0]


def due_closures(state: State, now_ms: int) -> list[int]:
    """Open decisions whose deadline is at or before `now_ms`, in the order they fall due, then
    those every voter agreed to (`unanimous`), which close at once."""
    due = [(deadline, seq) for seq, deadline in state.open_decisions.items() if deadline <= now_ms]
    waiting = [seq for seq, deadline in state.open_decisions.items()
               if deadline > now_ms and state.decisions[seq].effect is not None and state.decisions[seq].votes]
    early = []
    if waiting:  # asked every second by the timer: the floors and the count of people once
        floors = floors_in_force(state)
        people_now = people(state)
        early = [(state.open_decisions[seq], seq) for seq in waiting
                 if unanimous(state, state.decisions[seq], floors=floors, people=people_now)]
    return [seq for _, seq in sorted(due)] + [seq for _, seq in sorted(early)]


def closing_body(state: State, decision_seq: int) -> DecisionClosed | None:
    """The event that closes `decision_seq`, computed on the state it follows; None if it is
    closed already. (One due early by unanimity whose vote changed since is no longer due: the
    sequencer audits the body at its own ts and appends nothing then.)"""
    decision = state.decisions.get(decision_seq)
    if decision is None or not decision.is_open:
        return None
    return DecisionClosed(decision=decision_seq, outcome=outcome(state, decision_seq))  # type: ignore[arg-type]
