"""A state machine that throws random add_key, remove_key, rebind_key and payments, valid and
invalid, at the pure ledger (ledger/membership.py, docs/protocol.md §13.2.4).

How this works: hypothesis drives a `ClockedLedger` (validate, append only if valid) from a small
pool of device keys shared by two members, so an action often names a key bound to the other
member, a retired key, a key of no one, or the account's last key; any key of the pool may sign,
retired ones too. Beside it a reference model in plain dicts (each member's current keys, oldest
first, and the keys ever bound) says which error (or none) each intent calls for, and `validate`
must agree; a refused intent changes nothing. After every step: balances sum to zero, every bound
key maps to exactly one member (and each current key to the member whose current key it is), every
account has between one and `member_keys_max` current keys, and no event after a key's retirement
was signed by it. At the end the log is refolded from its bytes as a replica does and must reach the
same digest.
"""

from __future__ import annotations

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import (
    DomainError,
    KeyInUseError,
    KeyRetiredError,
    LastKeyError,
    TooManyKeysError,
    UnknownKeyError,
    UnknownMemberError,
)
from tallystick.ledger.transition import validate
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, verify_intent
from tallystick.protocol.events import Action, AddKey, AdmitMember, RebindKey, RemoveKey, Transfer
from tallystick.protocol.ids import KeyPair

from helpers.ledger import ClockedLedger, admin_key, key, refold

first_keys = [key("member one"), key("member two")]
pool = [key(f"device {index}") for index in range(limits.member_keys_max + 4)]
every_key = first_keys + pool
by_public = {k.public: k for k in every_key}


class Model:
    def __init__(self) -> None:
        self.current: dict[bytes, list[bytes]] = {k.public: [k.public] for k in first_keys}
        self.bound: dict[bytes, bytes] = {k.public: k.public for k in first_keys}  # key -> member
        self.bound[admin_key.public] = admin_key.public

    def member_of_current(self, signer: bytes) -> bytes | None:
        return next((member for member, keys in self.current.items() if signer in keys), None)

    def expected(self, signer: bytes, action: Action) -> type[DomainError] | None:
        if signer == admin_key.public:
            return None  # the admin pays and takes no key action here
        if signer not in self.bound:
            return UnknownMemberError
        member = self.member_of_current(signer)
        if member is None:
            return KeyRetiredError
        keys = self.current[member]
        if isinstance(action, AddKey):
            if action.key in self.bound:
                return KeyInUseError
            return TooManyKeysError if len(keys) >= limits.member_keys_max else None
        if isinstance(action, RemoveKey):
            if action.key not in keys:
                return KeyRetiredError if self.bound.get(action.key) == member else UnknownKeyError
            return LastKeyError if len(keys) == 1 else None
        if isinstance(action, RebindKey):
            return KeyInUseError if action.new_key in self.bound else None
        return None

    def apply(self, signer: bytes, action: Action) -> None:
        member = self.member_of_current(signer)
        if member is None:
            return
        if isinstance(action, AddKey):
            self.current[member].append(action.key)
            self.bound[action.key] = member
        elif isinstance(action, RemoveKey):
            self.current[member].remove(action.key)
        elif isinstance(action, RebindKey):
            self.current[member] = [action.new_key]
            self.bound[action.new_key] = member


class DevicesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = ClockedLedger(debit_limit_minor=500, credit_ceiling_minor=500)
        for index, first in enumerate(first_keys):
            self.ledger.accept(admin_key, AdmitMember(member=first.public, name=f"Member {index}"))
        self.model = Model()
        self.retired_at: dict[bytes, int] = {}  # key -> the seq of the event that retired it

    def submit(self, signer: KeyPair, action: Action) -> DomainError | None:
        signed = self.ledger.sign(signer, action)
        expected = self.model.expected(signer.public, action)
        before = state_digest(self.ledger.state)
        error = validate(self.ledger.state, signed.intent, self.ledger.now_ms)
        if isinstance(action, Transfer) and error is not None and error.code in ("debit_limit", "credit_ceiling"):
            # The model does not follow balances: a payment past a limit is refused after the signer's checks.
            assert expected is None and state_digest(self.ledger.state) == before
            return error
        assert type(error) is (type(None) if expected is None else expected), (action, expected, error)
        event(f"{type(action).__name__}: {'applied' if error is None else error.code}")
        if error is not None:
            assert state_digest(self.ledger.state) == before
            return error
        member = self.model.member_of_current(signer.public)
        old = list(self.model.current.get(member, [])) if member is not None else []
        assert self.ledger.submit(signed) is None
        self.model.apply(signer.public, action)
        if member is not None:
            for gone in set(old) - set(self.model.current[member]):
                self.retired_at[gone] = self.ledger.seq
        return None

    def pick(self, choice: int) -> KeyPair:
        """Mostly a key that signs for an account now; else any of the pool (retired, the other
        member's, bound to no one)."""
        current = [by_public[k] for keys in self.model.current.values() for k in keys]
        return current[choice % len(current)] if choice < 70 else every_key[choice % len(every_key)]

    @rule(signer=st.integers(0, 99), new=st.sampled_from(every_key))
    def add_key(self, signer: int, new: KeyPair) -> None:
        self.submit(self.pick(signer), AddKey(key=new.public))

    @rule(signer=st.integers(0, 99), gone=st.integers(0, 99))
    def remove_key(self, signer: int, gone: int) -> None:
        """Mostly one of the signer's own account's keys."""
        signing = self.pick(signer)
        member = self.model.member_of_current(signing.public)
        own = self.model.current.get(member, []) if member is not None else []
        target = own[gone % len(own)] if own and gone < 60 else every_key[gone % len(every_key)].public
        self.submit(signing, RemoveKey(key=target))

    @rule(signer=st.integers(0, 99), new=st.sampled_from(every_key))
    def rebind(self, signer: int, new: KeyPair) -> None:
        self.submit(self.pick(signer), RebindKey(new_key=new.public))

    @rule(signer=st.integers(0, 110), to=st.sampled_from(first_keys), amount=st.integers(1, 300))
    def pay(self, signer: int, to: KeyPair, amount: int) -> None:
        signing = admin_key if signer > 99 else self.pick(signer)
        if self.model.member_of_current(signing.public) == to.public:
            return  # paying oneself is same_account, which the model does not follow
        self.submit(signing, Transfer(to=to.public, amount_minor=amount))

    @invariant()
    def balances_sum_to_zero(self) -> None:
        assert sum(account.balance_minor for account in self.ledger.state.accounts.values()) == 0

    @invariant()
    def every_key_maps_to_exactly_one_member(self) -> None:
        state = self.ledger.state
        owners: dict[bytes, bytes] = {}
        for member_id, member in state.members.items():
            for bound in (*member.current_keys, *member.retired_keys):
                assert bound not in owners, "a key bound to two accounts"
                owners[bound] = member_id
        assert owners == dict(state.keys.items())
        assert {k: v for k, v in owners.items() if k in by_public or k == admin_key.public} == self.model.bound

    @invariant()
    def every_account_has_one_to_member_keys_max_current_keys(self) -> None:
        for member_id, keys in self.model.current.items():
            member = self.ledger.state.members[member_id]
            assert 1 <= len(member.current_keys) <= limits.member_keys_max
            assert list(member.current_keys) == keys
            assert not set(member.current_keys) & member.retired_keys

    @invariant()
    def a_retired_key_never_signed_after_its_retirement(self) -> None:
        for raw in self.ledger.events[-1:]:
            decoded = decode_event(raw)
            signer = verify_intent(decoded.body.intent, feed=self.ledger.feed).key  # type: ignore[union-attr]
            retired = self.retired_at.get(signer)
            assert retired is None or decoded.seq <= retired

    def teardown(self) -> None:
        state, _ = refold(self.ledger.genesis_bytes, self.ledger.events)
        assert state_digest(state) == state_digest(self.ledger.state)


DevicesMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_devices_state_machine = DevicesMachine.TestCase
