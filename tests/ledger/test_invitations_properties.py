"""A state machine that throws random invites, invitations proposed as decisions, joins, withdrawals,
payments and clock moves at the pure ledger, valid and invalid (ledger/membership.py).

How this works: hypothesis drives a `ClockedLedger` (validate at the clock, append only if valid)
from small pools of invitation keys and device keys, so joins often name a used, withdrawn,
expired or unknown invitation, or a key already taken. Beside it a reference model in plain dicts
says which error (or none) each intent calls for, and `validate` must agree; a refused intent
changes nothing. After every step: balances sum to zero, each invitation admitted at most one
member, no join was applied after its invitation's expiry, the state holds at most
`invitations_open_max` invitations and none that expired before the last invitation action, and
the model's invitations are the state's. At the end the log is refolded from its bytes as a
replica does and must reach the same digest.
"""

from __future__ import annotations

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from tallystick.ledger import decisions
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import (
    BadInvitationError,
    DomainError,
    InvitationExpiredError,
    InvitationUnknownError,
    InvitationUsedError,
    KeyInUseError,
    NameTakenError,
    NotAuthorizedError,
)
from tallystick.ledger.names import name_key
from tallystick.ledger.transition import validate
from tallystick.protocol import limits
from tallystick.protocol.events import (
    Action,
    AdmitMember,
    Invite,
    Join,
    ProposeWithPeriod,
    RevokeInvitation,
    Transfer,
    Vote,
)
from tallystick.protocol.ids import KeyPair

from helpers.ledger import ClockedLedger, SignedIntent, admin_key, key, refold

day_ms = 24 * 3600 * 1000
plain_member = key("a plain member")
invitation_keys = [key(f"invitation {index}") for index in range(5)]
device_keys = [key(f"device {index}") for index in range(5)]
# The keys a join may bind to a new member (`join` below): the devices, and an invitation's own key.
joinable_keys = [*device_keys, invitation_keys[0]]
names = st.sampled_from(["Ana", "ana", "Ben", "Cy", "Dee", "Bea"])
expiries = st.one_of(st.integers(-day_ms, 3 * day_ms), st.just(limits.invitation_expiry_max_ms),
                     st.just(limits.invitation_expiry_max_ms + 1))
steps = st.one_of(st.integers(0, 3 * day_ms), st.just(0), st.just(limits.invitation_expiry_max_ms))


class Model:
    def __init__(self, now_ms: int) -> None:
        self.invitations: dict[bytes, dict] = {}  # key -> expires_ms, revoked, role, limits
        self.used: dict[bytes, bytes] = {}  # invitation key -> the member it admitted
        self.bound: set[bytes] = {admin_key.public, plain_member.public}
        self.names = {name_key("Ada"), name_key("Bea")}
        self.admins = {admin_key.public}
        self.by_decision: set[bytes] = set()  # invitations a passed decision made: no admin needed

    def drop_expired(self, ts: int) -> None:
        self.invitations = {k: v for k, v in self.invitations.items() if v["expires_ms"] >= ts}

    def taken(self, public: bytes) -> bool:
        return public in self.bound or public in self.invitations or public in self.used

    def expected(self, signer: bytes, action: Action, now: int) -> type[DomainError] | None:
        if isinstance(action, Join):
            invitation = self.invitations.get(signer)
            if invitation is None:  # a member's own current key is no invitation's
                return InvitationUsedError if signer in self.used else InvitationUnknownError
            if invitation["revoked"]:
                return InvitationUsedError
            if now > invitation["expires_ms"]:
                return InvitationExpiredError
            if self.taken(action.member):
                return KeyInUseError
            if name_key(action.name) in self.names:  # type: ignore[arg-type]
                return NameTakenError
            return None
        if signer not in self.admins:
            return NotAuthorizedError
        if isinstance(action, Invite):
            if self.taken(action.invitation):
                return KeyInUseError
            if not now < action.expires_ms <= now + limits.invitation_expiry_max_ms:
                return BadInvitationError
            return None
        if isinstance(action, RevokeInvitation):
            invitation = self.invitations.get(action.invitation)
            if invitation is None:
                return InvitationUnknownError
            if invitation["revoked"]:
                return InvitationUsedError
            if invitation["expires_ms"] < now:
                return InvitationExpiredError
        return None

    def expected_proposal(self, action: Invite, now: int, period_ms: int) -> type[DomainError] | None:
        """A decision to invite, proposed by any member at `now` for `period_ms`."""
        if not now + period_ms < action.expires_ms:
            return BadInvitationError
        if self.taken(action.invitation):
            return KeyInUseError
        if action.expires_ms > now + limits.invitation_expiry_max_ms:
            return BadInvitationError
        return None

    def apply(self, signer: bytes, action: Action, now: int) -> None:
        self.drop_expired(now)
        if isinstance(action, Invite):
            self.invitations[action.invitation] = {
                "expires_ms": action.expires_ms, "revoked": False, "role": action.role,
                "limits": (action.debit_limit_minor, action.credit_ceiling_minor)}
        elif isinstance(action, RevokeInvitation):
            self.invitations[action.invitation]["revoked"] = True
        elif isinstance(action, Join):
            invitation = self.invitations.pop(signer)
            self.used[signer] = action.member
            self.bound.add(action.member)
            self.names.add(name_key(action.name))  # type: ignore[arg-type]
            if invitation["role"] == "admin":
                self.admins.add(action.member)


class InvitationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = ClockedLedger(now_ms=100 * day_ms, debit_limit_minor=500, credit_ceiling_minor=500)
        self.ledger.accept(admin_key, AdmitMember(member=plain_member.public, name="Bea"))
        self.model = Model(self.ledger.now_ms)
        self.joins: list[tuple[int, int]] = []  # (ts of the join, its invitation's expiry)
        self.last_invitation_action_ms = 0

    def submit(self, signed: SignedIntent) -> DomainError | None:
        intent, now = signed.intent, self.ledger.now_ms
        expected = self.model.expected(intent.key, intent.action, now)
        before = state_digest(self.ledger.state)
        expiry = self.model.invitations.get(intent.key, {}).get("expires_ms")
        error = validate(self.ledger.state, intent, now)
        assert type(error) is (type(None) if expected is None else expected), (intent.action, expected, error)
        event(f"{type(intent.action).__name__}: {'applied' if error is None else error.code}")
        if error is not None:
            assert state_digest(self.ledger.state) == before
            return error
        self.ledger.submit(signed)
        self.model.apply(intent.key, intent.action, now)
        if isinstance(intent.action, Join):
            assert expiry is not None
            self.joins.append((now, expiry))
        if isinstance(intent.action, Invite | Join | RevokeInvitation):
            self.last_invitation_action_ms = now
        return None

    def signer(self, choice: int) -> KeyPair:
        joined = [k for k in joinable_keys if k.public in self.model.bound]
        return ([admin_key] * 3 + [plain_member] + joined)[choice % (4 + len(joined))]

    @rule(signer=st.integers(0, 99), invitation=st.integers(0, 4), expiry=expiries,
          role=st.sampled_from(["member", "admin"]), debit=st.one_of(st.none(), st.integers(0, 1000)))
    def invite(self, signer: int, invitation: int, expiry: int, role: str, debit: int | None) -> None:
        action = Invite(invitation=invitation_keys[invitation].public, expires_ms=self.ledger.now_ms + expiry,
                        role=role, debit_limit_minor=debit)  # type: ignore[arg-type]
        self.submit(self.ledger.sign(self.signer(signer), action))

    @rule(proposer=st.integers(0, 99), invitation=st.integers(0, 4), expiry=expiries,
          role=st.sampled_from(["member", "admin"]), agree=st.booleans())
    def invite_by_decision(self, proposer: int, invitation: int, expiry: int, role: str, agree: bool) -> None:
        """Any member proposes the invitation as a decision; every member agrees (it closes at once,
        passed) or one blocks and it is closed at its deadline, blocked, making nothing."""
        period = 3 * day_ms if role == "admin" else day_ms  # the floors: rules, or membership
        effect = Invite(invitation=invitation_keys[invitation].public, expires_ms=self.ledger.now_ms + expiry,
                        role=role)  # type: ignore[arg-type]
        now = self.ledger.now_ms
        expected = self.model.expected_proposal(effect, now, period)
        before = state_digest(self.ledger.state)
        error = self.ledger.submit(self.ledger.sign(self.signer(proposer), ProposeWithPeriod(
            decision_type="proposal", title="Invite", text="", deadline_ms=0, effect=effect,
            voting_period_ms=period)))
        assert type(error) is (type(None) if expected is None else expected), (effect, expected, error)
        event(f"invite by decision: {'proposed' if error is None else error.code}")
        if error is not None:
            assert state_digest(self.ledger.state) == before
            return
        seq = self.ledger.seq
        voters = [admin_key, plain_member, *(k for k in joinable_keys if k.public in self.model.bound)]
        for index, voter in enumerate(voters):
            position = "agree" if agree or index else "block"
            assert self.ledger.submit(self.ledger.sign(voter, Vote(decision=seq, position=position))) is None
        if not agree:
            self.ledger.now_ms += period
        self.ledger.audited(decisions.closing_body(self.ledger.state, seq))
        outcome = self.ledger.state.decisions[seq].outcome
        event(f"invite by decision: {outcome}")
        if agree:
            assert outcome == "passed"
            self.model.apply(admin_key.public, effect, now)  # the community's: `by_decision`, no admin needed
            self.model.by_decision.add(effect.invitation)
            self.last_invitation_action_ms = now
            assert self.ledger.state.invitations[effect.invitation].invited_by == self.ledger.feed
        else:
            assert outcome == "blocked" and effect.invitation not in self.ledger.state.invitations

    @rule(invitation=st.integers(0, 11), device=st.integers(0, 6), name=names)
    def join(self, invitation: int, device: int, name: str) -> None:
        """Mostly an invitation the state holds, else any of the pool, or a member's key."""
        held = [k for k in invitation_keys if k.public in self.model.invitations]
        if invitation >= 6 and held:
            signer = held[invitation % len(held)]
        else:
            signer = (invitation_keys + [admin_key])[invitation % 6]
        member = (device_keys + [plain_member, invitation_keys[0]])[device]
        self.submit(self.ledger.sign(signer, Join(member=member.public, name=name)))

    @rule(signer=st.integers(0, 99), invitation=st.integers(0, 4))
    def revoke(self, signer: int, invitation: int) -> None:
        action = RevokeInvitation(invitation=invitation_keys[invitation].public)
        self.submit(self.ledger.sign(self.signer(signer), action))

    @rule(payer=st.integers(0, 99), amount=st.integers(1, 400))
    def pay(self, payer: int, amount: int) -> None:
        signer = self.signer(payer)
        if signer is plain_member:
            return
        error = self.ledger.submit(self.ledger.sign(signer, Transfer(to=plain_member.public, amount_minor=amount)))
        assert error is None or error.code in ("debit_limit", "credit_ceiling"), error

    @rule(step=steps)
    def wait(self, step: int) -> None:
        self.ledger.now_ms += step

    @invariant()
    def balances_sum_to_zero(self) -> None:
        assert sum(account.balance_minor for account in self.ledger.state.accounts.values()) == 0

    @invariant()
    def each_invitation_admitted_at_most_one_member(self) -> None:
        state = self.ledger.state
        for invitation in invitation_keys:
            holders = [m for m in state.members.values() if invitation.public in m.retired_keys]
            assert len(holders) <= 1
            if holders:
                assert state.keys[invitation.public] == holders[0].key == self.model.used[invitation.public]

    @invariant()
    def no_join_after_its_expiry(self) -> None:
        assert all(ts <= expires for ts, expires in self.joins)

    @invariant()
    def the_invitations_held_are_bounded_and_the_models(self) -> None:
        held = self.ledger.state.invitations
        assert len(held) <= limits.invitations_open_max
        assert all(invitation.expires_ms >= self.last_invitation_action_ms for invitation in held.values())
        assert set(held) == set(self.model.invitations)
        assert {k: i.revoked for k, i in held.items()} == {k: v["revoked"] for k, v in self.model.invitations.items()}

    def teardown(self) -> None:
        state, _ = refold(self.ledger.genesis_bytes, self.ledger.events)
        assert state_digest(state) == state_digest(self.ledger.state)


InvitationMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_invitations_state_machine = InvitationMachine.TestCase
