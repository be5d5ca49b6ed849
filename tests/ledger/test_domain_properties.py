"""A state machine that throws random intents, valid and invalid, at the pure domain.

How this works: hypothesis drives a `Ledger` (the sequencer's part: validate, and append an `Act` only
if valid) with intents from a small pool of keys, so signers are often unknown, departed or rebound,
payees often closed or strangers, amounts often past a limit, nonces often reused or stale. Beside
it runs a reference model written separately here in plain dicts; for every intent the model says
which error (or none) the rules call for, and `validate` must agree. After every step the invariants
of mutual credit are checked against the state; at the end the whole log is refolded from its bytes
as a rebuild or replica does (every signature, link and checkpoint through `audit`) and must give the
same state and the same digests at every checkpoint.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from tallystick.ledger.accounts import credit_ceiling, debit_limit
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import (
    AccountClosedError,
    BalanceNotZeroError,
    CreditCeilingError,
    DebitLimitError,
    DomainError,
    KeyInUseError,
    KeyRetiredError,
    LastAdminError,
    LimitBelowBalanceError,
    NameTakenError,
    NotAuthorizedError,
    ReplayedNonceError,
    SameAccountError,
    UnknownMemberError,
)
from tallystick.ledger.names import BadNameError, normalise_name
from tallystick.ledger.names import name_key as node_name_key
from tallystick.ledger.transition import checkpoint_due
from tallystick.ledger.transition import validate as domain_validate
from tallystick.protocol import limits
from tallystick.protocol.events import (
    Act,
    Action,
    AdmitMember,
    RebindKey,
    RemoveMember,
    SetDefaultLimits,
    SetLimits,
    SetRole,
    Transfer,
)
from tallystick.protocol.ids import KeyPair
from tallystick.protocol.limits import nonce_window_size

from helpers.ledger import Ledger, SignedIntent, admin_key, key, refold

debit_default, ceiling_default = 400, 600

# Index 0 is the genesis admin; the rest start as strangers and may be admitted, bound by a rebind,
# or never used. A small pool makes collisions (key in use, payee closed, ...) common.
pool = [admin_key] + [key(f"pool {index}") for index in range(6)]
pool_index = st.integers(0, len(pool) - 1)
# Who signs or is named: below 80 mostly someone open (see `DomainMachine.signer`), else any pool key.
choices = st.integers(0, 99)
# Equal under the community's rule (case and surrounding space do not matter) in several spellings.
names = st.sampled_from(["Ada", " ada", "Ann", "ann", "ANN", "Bo", "bo ", "Cy", "Dot", "dot"])
# None: a fresh nonce from the ledger's counter; small ints often collide with used ones (replays).
nonces = st.one_of(st.none(), st.integers(0, 60), st.integers(0, limits.int64_max))
amounts = st.one_of(st.integers(1, 300), st.integers(1, 2000), st.just(limits.amount_minor_max))
limit_values = st.one_of(st.integers(0, 50), st.integers(0, 1500), st.just(limits.amount_minor_max))
roles = st.sampled_from(["member", "admin"])


class Model:
    """The rules of DESIGN.md in plain dicts, independent of the ledger's data structures."""

    def __init__(self) -> None:
        admin = admin_key.public
        self.members: dict[bytes, dict] = {
            admin: {"name": "Ada", "key": admin, "role": "admin", "active": True}
        }
        self.balances: dict[bytes, int] = {admin: 0}
        self.own_limits: dict[bytes, tuple[int | None, int | None]] = {admin: (None, None)}
        self.defaults: tuple[int, int] = (debit_default, ceiling_default)
        self.used_nonces: dict[bytes, list[int]] = {admin: []}
        # Every key ever bound to a member, current or retired by a rebind, or of a departed member.
        self.ever_bound: dict[bytes, bytes] = {admin: admin}

    # ---- reading -----------------------------------------------------------------------------

    def owner(self, public_key: bytes) -> bytes | None:
        for member_id, member in self.members.items():
            if member["active"] and member["key"] == public_key:
                return member_id
        return None

    @staticmethod
    def name_key(name: str) -> str:
        return node_name_key(name)

    def active_names(self) -> dict[str, bytes]:
        return {self.name_key(m["name"]): i for i, m in self.members.items() if m["active"]}

    def admins(self) -> int:
        return sum(1 for m in self.members.values() if m["active"] and m["role"] == "admin")

    def limits_of(self, member_id: bytes, defaults: tuple[int, int] | None = None) -> tuple[int, int]:
        debit_own, ceiling_own = self.own_limits[member_id]
        debit_base, ceiling_base = defaults or self.defaults
        return (
            debit_base if debit_own is None else debit_own,
            ceiling_base if ceiling_own is None else ceiling_own,
        )

    def nonce_refused(self, member_id: bytes, nonce: int) -> bool:
        # The window remembers the `nonce_window_size` highest nonces used; anything at or below the
        # next highest is stale.
        used = sorted(self.used_nonces[member_id])
        return nonce in used or (len(used) > nonce_window_size and nonce <= used[-nonce_window_size - 1])

    def target_error(self, member_id: bytes) -> type[DomainError] | None:
        if member_id not in self.members:
            return UnknownMemberError
        if not self.members[member_id]["active"]:
            return AccountClosedError
        return None

    # ---- the rules ---------------------------------------------------------------------------

    def expected_error(self, signer_key: bytes, nonce: int, action: Action) -> type[DomainError] | None:
        if signer_key not in self.ever_bound:
            return UnknownMemberError
        signer = self.ever_bound[signer_key]
        if not self.members[signer]["active"]:
            return AccountClosedError
        if self.members[signer]["key"] != signer_key:
            return KeyRetiredError
        if self.nonce_refused(signer, nonce):
            return ReplayedNonceError
        is_admin = self.members[signer]["role"] == "admin"
        if isinstance(action, Transfer):
            if action.to == signer:
                return SameAccountError
            if error := self.target_error(action.to):
                return error
            if self.balances[signer] - action.amount_minor < -self.limits_of(signer)[0]:
                return DebitLimitError
            if self.balances[action.to] + action.amount_minor > self.limits_of(action.to)[1]:
                return CreditCeilingError
            return None
        if isinstance(action, RebindKey):
            return KeyInUseError if action.new_key in self.ever_bound else None
        if not is_admin:
            return NotAuthorizedError
        if isinstance(action, AdmitMember):
            if action.member in self.members or action.member in self.ever_bound:
                return KeyInUseError
            if normalise_name(action.name) != action.name:
                return BadNameError
            return NameTakenError if self.name_key(action.name) in self.active_names() else None
        if isinstance(action, SetDefaultLimits):
            new_defaults = (action.debit_limit_minor, action.credit_ceiling_minor)
            for member_id, balance in self.balances.items():
                debit, ceiling = self.limits_of(member_id, new_defaults)
                if not -debit <= balance <= ceiling:
                    return LimitBelowBalanceError
            return None
        target = action.account if isinstance(action, SetLimits) else action.member
        if error := self.target_error(target):
            return error
        if isinstance(action, RemoveMember):
            if self.balances[target] != 0:
                return BalanceNotZeroError
            if self.members[target]["role"] == "admin" and self.admins() == 1:
                return LastAdminError
            return None
        if isinstance(action, SetRole):
            demoting = self.members[target]["role"] == "admin" and action.role != "admin"
            return LastAdminError if demoting and self.admins() == 1 else None
        assert isinstance(action, SetLimits)
        # None means "the community's default" for that bound.
        debit = self.defaults[0] if action.debit_limit_minor is None else action.debit_limit_minor
        ceiling = self.defaults[1] if action.credit_ceiling_minor is None else action.credit_ceiling_minor
        return None if -debit <= self.balances[target] <= ceiling else LimitBelowBalanceError

    def apply(self, signer_key: bytes, nonce: int, action: Action) -> None:
        signer = self.owner(signer_key)
        assert signer is not None
        if isinstance(action, Transfer):
            self.balances[signer] -= action.amount_minor
            self.balances[action.to] += action.amount_minor
        elif isinstance(action, AdmitMember):
            self.members[action.member] = {
                "name": action.name,
                "key": action.member,
                "role": action.role,
                "active": True,
            }
            self.balances[action.member] = 0
            self.own_limits[action.member] = (None, None)
            self.used_nonces[action.member] = []
            self.ever_bound[action.member] = action.member
        elif isinstance(action, RemoveMember):
            self.members[action.member]["active"] = False
        elif isinstance(action, SetRole):
            self.members[action.member]["role"] = action.role
        elif isinstance(action, SetLimits):
            self.own_limits[action.account] = (action.debit_limit_minor, action.credit_ceiling_minor)
        elif isinstance(action, SetDefaultLimits):
            self.defaults = (action.debit_limit_minor, action.credit_ceiling_minor)
        elif isinstance(action, RebindKey):
            self.members[signer]["key"] = action.new_key
            self.ever_bound[action.new_key] = signer
        self.used_nonces[signer].append(nonce)


class DomainMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger(debit_limit_minor=debit_default, credit_ceiling_minor=ceiling_default)
        self.model = Model()
        self.applied: list[tuple[SignedIntent, bytes]] = []  # with the member id that signed it
        self.digests_at_checkpoints: dict[int, bytes] = {}

    # ---- the one path every intent takes -------------------------------------------------------

    def submit(self, signed: SignedIntent) -> DomainError | None:
        intent = signed.intent
        expected = self.model.expected_error(intent.key, intent.nonce, intent.action)
        state_before, digest_before = self.ledger.state, state_digest(self.ledger.state)
        error = domain_validate(state_before, intent)
        assert type(error) is (type(None) if expected is None else expected), (
            f"{type(intent.action).__name__}: the model expects {expected}, validate said {error!r}"
        )
        if error is not None:
            assert self.ledger.state is state_before and state_digest(state_before) == digest_before
            return error
        signer = self.ledger.state.keys[intent.key]
        self.ledger.append(Act(intent=signed.raw), intent)
        self.model.apply(intent.key, intent.nonce, intent.action)
        self.applied.append((signed, signer))
        if checkpoint_due(self.ledger.state):
            self.checkpoint()
        return None

    # ---- choosing who ---------------------------------------------------------------------------

    def signer(self, choice: int, *, admin_first: bool = False) -> KeyPair:
        """Mostly someone who can sign (an admin, for admin actions), sometimes any key of the pool:
        a stranger, a departed member, a key rebound away from."""
        state = self.ledger.state
        admins = [
            k for k in pool if k.public in state.keys and state.members[state.keys[k.public]].role == "admin"
        ]
        active = [k for k in pool if k.public in state.keys]
        if admin_first and choice < 60 and admins:
            return admins[choice % len(admins)]
        if choice < 80 and active:
            return active[choice % len(active)]
        return pool[choice % len(pool)]

    def member_id(self, choice: int, *, other_than: bytes | None = None) -> bytes:
        """Mostly an open account (other than `other_than`), sometimes a closed one, sometimes any id
        of the pool (never a member, or a key a member rebound to)."""
        members = sorted(self.ledger.state.members.items())
        active = [member_id for member_id, member in members if member.active and member_id != other_than]
        departed = [member_id for member_id, member in members if not member.active]
        if choice < 75 and active:
            return active[choice % len(active)]
        if choice < 88 and departed:
            return departed[choice % len(departed)]
        return pool[choice % len(pool)].public

    def act(self, signer: KeyPair, nonce: int | None, action: Action) -> DomainError | None:
        return self.submit(self.ledger.sign(signer, action, nonce=nonce))

    # ---- rules ---------------------------------------------------------------------------------

    @initialize(how_many=st.integers(0, 3))
    def admit_first_members(self, how_many: int) -> None:
        """Most runs start with a few members so payments can happen from the first step."""
        for index in range(1, how_many + 1):
            action = AdmitMember(member=pool[index].public, name=f"Member {index}")
            assert self.act(admin_key, None, action) is None

    @rule(signer=choices, payee=choices, amount=amounts, nonce=nonces)
    def transfer(self, signer: int, payee: int, amount: int, nonce: int | None) -> None:
        payer = self.signer(signer)
        to = self.member_id(payee, other_than=self.ledger.state.keys.get(payer.public))
        self.act(payer, nonce, Transfer(to=to, amount_minor=amount))

    @rule(signer=choices, member=pool_index, name=names, role=roles, nonce=nonces)
    def admit(self, signer: int, member: int, name: str, role: str, nonce: int | None) -> None:
        action = AdmitMember(member=pool[member].public, name=name, role=role)
        self.act(self.signer(signer, admin_first=True), nonce, action)

    @rule(signer=choices, member=choices, nonce=nonces)
    def remove(self, signer: int, member: int, nonce: int | None) -> None:
        self.act(self.signer(signer, admin_first=True), nonce, RemoveMember(member=self.member_id(member)))

    @rule(signer=choices, member=choices, role=roles, nonce=nonces)
    def set_role(self, signer: int, member: int, role: str, nonce: int | None) -> None:
        self.act(
            self.signer(signer, admin_first=True), nonce, SetRole(member=self.member_id(member), role=role)
        )

    @rule(
        signer=choices,
        account=choices,
        debit=st.none() | limit_values,
        ceiling=st.none() | limit_values,
        nonce=nonces,
    )
    def set_limits(
        self, signer: int, account: int, debit: int | None, ceiling: int | None, nonce: int | None
    ) -> None:
        action = SetLimits(
            account=self.member_id(account), debit_limit_minor=debit, credit_ceiling_minor=ceiling
        )
        self.act(self.signer(signer, admin_first=True), nonce, action)

    @rule(signer=choices, debit=limit_values, ceiling=limit_values, nonce=nonces)
    def set_default_limits(self, signer: int, debit: int, ceiling: int, nonce: int | None) -> None:
        action = SetDefaultLimits(debit_limit_minor=debit, credit_ceiling_minor=ceiling)
        self.act(self.signer(signer, admin_first=True), nonce, action)

    @rule(signer=choices, new_key=pool_index, nonce=nonces)
    def rebind(self, signer: int, new_key: int, nonce: int | None) -> None:
        old_key, new_public = self.signer(signer), pool[new_key].public
        before = self.ledger.state
        signer_id = before.keys.get(old_key.public)
        if self.act(old_key, nonce, RebindKey(new_key=new_public)) is None:
            # The account follows the member, not the key: the old key is gone, the new one signs.
            assert self.ledger.state.keys[new_public] == signer_id
            assert self.ledger.state.members[signer_id].key == new_public
            assert old_key.public in self.ledger.state.members[signer_id].retired_keys
            assert self.ledger.state.accounts[signer_id] == before.accounts[signer_id]

    @precondition(lambda self: self.applied)
    @rule(which=st.integers(0, 10**6))
    def replay(self, which: int) -> None:
        signed, original_signer = self.applied[which % len(self.applied)]
        error = self.submit(signed)
        member = self.ledger.state.members[original_signer]
        if member.active and member.key == signed.intent.key:
            assert isinstance(error, ReplayedNonceError)
        else:
            assert error is not None  # a retired key or a departed member: refused all the same

    @rule(signer=choices, payee=choices, burst=st.lists(st.integers(0, 90), min_size=34, max_size=60))
    def nonce_burst(self, signer: int, payee: int, burst: list[int]) -> None:
        """Many small payments from one member, nonces in any order with repeats: fills the window,
        so later small nonces are stale."""
        payer = self.signer(signer)
        to = self.member_id(payee, other_than=self.ledger.state.keys.get(payer.public))
        for nonce in burst:
            self.act(payer, nonce, Transfer(to=to, amount_minor=1))

    @rule()
    def checkpoint(self) -> None:
        digest = state_digest(self.ledger.state)
        event = self.ledger.checkpoint()
        self.digests_at_checkpoints[event.seq] = digest

    # ---- after every step ----------------------------------------------------------------------

    @invariant()
    def balances_sum_to_zero(self) -> None:
        assert sum(account.balance_minor for account in self.ledger.state.accounts.values()) == 0

    @invariant()
    def every_account_is_within_its_limits(self) -> None:
        state = self.ledger.state
        for account in state.accounts.values():
            assert -debit_limit(state, account) <= account.balance_minor <= credit_ceiling(state, account)

    @invariant()
    def the_model_agrees_on_balances_and_limits(self) -> None:
        state = self.ledger.state
        assert {
            member_id: account.balance_minor for member_id, account in state.accounts.items()
        } == self.model.balances
        for member_id, account in state.accounts.items():
            assert (debit_limit(state, account), credit_ceiling(state, account)) == self.model.limits_of(
                member_id
            )

    @invariant()
    def the_model_agrees_on_membership(self) -> None:
        state = self.ledger.state
        actual = {
            member_id: {"name": member.name, "key": member.key, "role": member.role, "active": member.active}
            for member_id, member in state.members.items()
        }
        assert actual == self.model.members
        assert dict(state.keys) == self.model.ever_bound
        assert set(state.names.values()) == set(self.model.active_names().values())

    def teardown(self) -> None:
        refolded, digests = refold(self.ledger.genesis_bytes, self.ledger.events)
        assert refolded == self.ledger.state
        assert state_digest(refolded) == state_digest(self.ledger.state)
        assert digests == self.digests_at_checkpoints


DomainMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_random_intents_keep_the_ledger_consistent_with_the_model_and_its_refold = DomainMachine.TestCase
