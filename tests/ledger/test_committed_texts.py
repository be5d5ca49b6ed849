"""The ledger folds committed texts as it folds texts in clear (docs/protocol.md §19): the same
balances, decisions and validity, but for the rules that read a text, which the committed form
leaves to the community's node (§19.4).

How this works: two communities are written side by side with the pure ledger, as the sequencer
writes them (tests/helpers/ledger.py): one whose members sign their names, memos and poll texts in
clear (the form written before §19), one whose members sign them committed, each intent's openings
sealed beside it in an `act_sealed` and every event through `audit` as a replica receives it. A
random sequence of admissions, transfers with memos, polls, votes and closes goes to both; after
each step they agree on what was valid and on the state, and both feeds refold from their bytes.
Where they may differ (a name taken or not in normal form, a poll's options alike) the committed
form accepts what the clear form refuses, and the step is appended to neither: the node refuses it
by its own rule. Last, `_audit_carried`: a sealed body needs commitments and commitments a box.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tallystick.ledger import decisions
from tallystick.ledger.errors import DomainError, NotAuthorizedError
from tallystick.ledger.model import State
from tallystick.ledger.transition import audit, validate
from tallystick.protocol.events import (
    Act,
    ActSealed,
    AdmitMember,
    DecisionClosed,
    Propose,
    ProposeWithPeriod,
    RegisterEnterprise,
    ShareClass,
    Transfer,
    Vote,
)
from tallystick.protocol.ids import KeyPair, hash32
from tallystick.protocol.personal import (
    Committed,
    commit,
    committed_action,
    committed_texts,
    open_text,
    opened_action,
    openings,
    seal,
)

from helpers.ledger import ClockedLedger, admin_key, key, refold

hour_ms = 3_600_000
members = [admin_key] + [key(f"member {index}") for index in range(7)]
founders = 3  # members 1 to 3 are admitted at the start (as Fay, Gus and Hal); the others may be later
# Names that collide by look-alike key ("Alice", "alice", "Alіce" with a Cyrillic і; "Bob", "B0b"),
# two not in normal form (a name's ë decomposed, surrounding spaces), and plain ones.
name_pool = ["Alice", "alice", "Al\u0456ce", "Bob", "B0b", "Carol", "Zoë", "Zoe\u0308", " Ed ", "Dee"]
memo_pool = ["", "bread", "café ☕ 🍞", "rent for March", "x" * 280]
option_pool = ["Tuesday", "Saturday", "tuesday", "Sunday", "Tues\u200bday", "Monday"]
name_rule_codes = {"bad_name", "name_taken"}


def data_key(subject: bytes) -> bytes:
    return hash32(b"committed texts test: data key " + subject)


def subject_of(state: State, signer: KeyPair, action: Any) -> bytes:
    if isinstance(action, AdmitMember):
        return action.member
    if isinstance(action, Propose) and isinstance(action.effect, AdmitMember):
        return action.effect.member
    return state.keys[signer.public]


class Pair:
    """The same community twice: texts in clear, and committed with their sealed boxes."""

    def __init__(self) -> None:
        self.salts = itertools.count()
        self.clear = ClockedLedger(now_ms=10_000_000)
        ada = open_text("Ada", self._salt())
        self.committed = ClockedLedger(now_ms=10_000_000, admin_name=commit(ada))  # type: ignore[arg-type]
        self.refused_by_the_node_alone = 0

    def _salt(self) -> bytes:
        return next(self.salts).to_bytes(16, "big")

    def tick(self, ms: int) -> None:
        self.clear.now_ms += ms
        self.committed.now_ms += ms

    def submit(self, signer: KeyPair, action: Any) -> DomainError | None:
        """Both ledgers validate the intent in their form; it is appended to both, or to neither."""
        clear = self.clear.sign(signer, action)
        opened = opened_action(action, salt=self._salt)
        committed = self.committed.sign(signer, committed_action(opened))
        assert not openings(committed.intent.action) and len(committed_texts(committed.intent.action)) == len(
            openings(opened))
        clear_error = validate(self.clear.state, clear.intent, self.clear.now_ms)
        committed_error = validate(self.committed.state, committed.intent, self.committed.now_ms)
        if clear_error is None:
            assert committed_error is None, f"valid in clear, refused committed: {committed_error!r}"
        elif committed_error is None or committed_error.code != clear_error.code:
            # Only a rule that reads a text can tell the two forms apart, and the node keeps it.
            assert is_name_rule(clear_error), f"{action!r}: {clear_error!r} in clear, {committed_error!r} committed"
        if clear_error is not None:
            if committed_error is None:
                self.refused_by_the_node_alone += 1
            return clear_error
        self.clear.audited(Act(intent=clear.raw), clear.intent)
        texts = openings(opened)
        if texts:
            subject = subject_of(self.committed.state, signer, action)
            box = seal(data_key(subject), texts, next(self.salts).to_bytes(24, "big"))
            self.committed.audited(ActSealed(intent=committed.raw, subject=subject, box=box), committed.intent)
        else:
            self.committed.audited(Act(intent=committed.raw), committed.intent)
        return None

    def close_due(self) -> None:
        for seq, decision in sorted(self.clear.state.decisions.items()):
            if decision.outcome is None and decision.deadline_ms <= self.clear.now_ms:
                outcome = decisions.outcome(self.clear.state, seq)
                assert decisions.outcome(self.committed.state, seq) == outcome
                self.clear.audited(DecisionClosed(decision=seq, outcome=outcome))
                self.committed.audited(DecisionClosed(decision=seq, outcome=outcome))

    def assert_same(self) -> None:
        clear, committed = self.clear.state, self.committed.state
        assert clear.seq == committed.seq
        assert {a: (x.balance_minor, x.debit_limit_minor, x.credit_ceiling_minor) for a, x in clear.accounts.items()} == {
            a: (x.balance_minor, x.debit_limit_minor, x.credit_ceiling_minor) for a, x in committed.accounts.items()}
        assert set(clear.members) == set(committed.members)
        for member_id, member in clear.members.items():
            other = committed.members[member_id]
            assert (member.key, member.role, member.active, member.nonce_floor, member.nonces) == (
                other.key, other.role, other.active, other.nonce_floor, other.nonces)
            assert isinstance(member.name, str) and isinstance(other.name, Committed)
        assert set(clear.decisions) == set(committed.decisions)
        for seq, decision in clear.decisions.items():
            other = committed.decisions[seq]
            assert (decision.decision_type, decision.deadline_ms, decision.quorum_bp, decision.threshold_bp,
                    decision.outcome, dict(decision.votes), len(decision.options)) == (
                other.decision_type, other.deadline_ms, other.quorum_bp, other.threshold_bp, other.outcome,
                dict(other.votes), len(other.options))
            assert all(isinstance(option, Committed) for option in other.options)
        # The look-alike index holds no committed name: the committed community has none of them.
        assert not committed.names


def is_name_rule(error: DomainError) -> bool:
    return error.code in name_rule_codes or (error.code == "bad_decision" and "differ" in error.message)


operations = st.one_of(
    st.tuples(st.just("admit"), st.integers(founders, len(members) - 1), st.sampled_from(name_pool)),
    st.tuples(st.just("transfer"), st.integers(0, founders + 1), st.integers(0, founders + 1),
              st.integers(1, 1200), st.sampled_from(memo_pool)),
    st.tuples(st.just("poll"), st.integers(0, founders + 1),
              st.lists(st.sampled_from(option_pool), min_size=2, max_size=4), st.sampled_from(["", "Which day?"])),
    st.tuples(st.just("vote"), st.integers(0, founders + 1), st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.just("tick"), st.sampled_from([1, 30 * 60 * 1000, 2 * hour_ms])),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(operations, min_size=1, max_size=30))
def test_random_admissions_transfers_and_polls_fold_alike_in_clear_and_committed(steps: list[tuple]) -> None:
    pair = Pair()
    for index, name in enumerate(("Fay", "Gus", "Hal"), start=1):
        assert pair.submit(admin_key, AdmitMember(member=members[index].public, name=name)) is None
    polls: list[int] = []
    for step in steps:
        pair.tick(1)
        kind = step[0]
        if kind == "admit":
            error = pair.submit(admin_key, AdmitMember(member=members[step[1]].public, name=step[2]))
        elif kind == "transfer":
            error = pair.submit(members[step[1]], Transfer(to=members[step[2]].public, amount_minor=step[3],
                                                           memo=step[4]))
        elif kind == "poll":
            poll = Propose("poll", "Market day", step[3], pair.clear.now_ms + hour_ms, options=tuple(step[2]))
            error = pair.submit(members[step[1]], poll)
            if error is None:
                polls.append(pair.clear.seq)
        elif kind == "vote":
            if not polls:
                continue
            error = pair.submit(members[step[1]], Vote(decision=polls[step[2] % len(polls)], options=(step[3],)))
        else:
            pair.tick(step[1])
            pair.close_due()
            error = None
        del error
        pair.assert_same()
    pair.tick(2 * hour_ms)
    pair.close_due()
    pair.assert_same()
    for ledger in (pair.clear, pair.committed):
        state, _ = refold(ledger.genesis_bytes, ledger.events)
        assert state.accounts == ledger.state.accounts and set(state.decisions) == set(ledger.state.decisions)


def test_the_committed_form_leaves_every_name_rule_to_the_node() -> None:
    """Each rule of §13.2.2 refuses the clear form; the committed form of the same intent is valid
    for the ledger, which cannot read it (the node refuses it, §19.4)."""
    pair = Pair()
    assert pair.submit(admin_key, AdmitMember(member=members[1].public, name="Alice")) is None
    cases = [
        (admin_key, AdmitMember(member=members[2].public, name="Al\u0456ce"), "name_taken"),
        (admin_key, AdmitMember(member=members[2].public, name="Zoe\u0308"), "bad_name"),
        (admin_key, AdmitMember(member=members[2].public, name=" Ed "), "bad_name"),
        (members[1], Propose("poll", "Day", "", pair.clear.now_ms + hour_ms, options=("Tuesday", "tuesday")),
         "bad_decision"),
        (members[1], Propose("poll", "Day", "", pair.clear.now_ms + hour_ms, options=("Tuesday", "Tues\u200bday")),
         "bad_name"),
    ]
    for signer, action, code in cases:
        error = pair.submit(signer, action)
        assert error is not None and error.code == code
    assert pair.refused_by_the_node_alone == len(cases)
    pair.assert_same()


def test_an_admission_decided_after_a_look_alike_was_admitted_passes_only_in_the_committed_form() -> None:
    """A proposal to admit "Zed", then "zed" admitted directly while it is open. At the close the
    clear form's effect is refused (name_taken: `effect_refused`); the committed form's passes, and
    a node that closed it `effect_refused` would be refused by every replica (`outcome_mismatch`).
    So no node can keep the look-alike rule for an admission decided by a proposal (§19.4)."""
    pair = Pair()
    zed, other_zed = key("zed").public, key("other zed").public
    proposal = ProposeWithPeriod("proposal", "Admit Zed", "", 0, effect=AdmitMember(member=zed, name="Zed"),
                                 voting_period_ms=24 * hour_ms)
    assert pair.submit(admin_key, proposal) is None
    decision = pair.clear.seq
    assert pair.submit(admin_key, AdmitMember(member=other_zed, name="zed")) is None
    assert pair.submit(admin_key, Vote(decision=decision, position="agree")) is None
    pair.tick(24 * hour_ms)
    assert decisions.outcome(pair.clear.state, decision) == "effect_refused"
    assert decisions.outcome(pair.committed.state, decision) == "passed"
    refused_close = pair.committed.next_event(DecisionClosed(decision=decision, outcome="effect_refused"))[1]
    with pytest.raises(DomainError) as raised:
        audit(pair.committed.state, refused_close, None)
    assert raised.value.code == "outcome_mismatch"


def test_an_enterprise_named_like_a_committed_member_passes_the_ledger() -> None:
    """The ledger's look-alike index holds no committed name, so `register_enterprise` "alice"
    beside a member committed as "Alice" passes every replica: only the node can refuse it, and
    does (node/sequencer.py `_check_texts`, §19.4)."""
    pair = Pair()
    assert pair.submit(admin_key, AdmitMember(member=members[1].public, name="Alice")) is None
    mill = RegisterEnterprise("alice", (ShareClass("Founder shares", "founder", 1, 1, 100, False, True, None, False),))
    clear = validate(pair.clear.state, pair.clear.sign(members[1], mill).intent, pair.clear.now_ms)
    assert clear is not None and clear.code == "name_taken"
    assert validate(pair.committed.state, pair.committed.sign(members[1], mill).intent, pair.committed.now_ms) is None


# ---- _audit_carried: a box beside commitments, and only there -----------------------------------


def _committed_transfer(ledger: ClockedLedger, memo: str) -> Any:
    action = committed_action(opened_action(Transfer(to=members[1].public, amount_minor=5, memo=memo)))
    return ledger.sign(admin_key, action)


def test_a_replica_refuses_a_sealed_act_whose_intent_commits_to_no_text() -> None:
    ledger = ClockedLedger()
    ledger.accept(admin_key, AdmitMember(member=members[1].public, name="Alice"))
    signed = _committed_transfer(ledger, "")
    assert not committed_texts(signed.intent.action)
    box = seal(data_key(admin_key.public), [], bytes(24))
    _, event = ledger.next_event(ActSealed(intent=signed.raw, subject=admin_key.public, box=box))
    with pytest.raises(NotAuthorizedError, match="commits to no personal text"):
        audit(ledger.state, event, signed.intent)
    _, event = ledger.next_event(Act(intent=signed.raw))
    audit(ledger.state, event, signed.intent)  # as a plain act it is valid


def test_a_replica_refuses_an_act_whose_intent_commits_to_texts_without_their_box() -> None:
    ledger = ClockedLedger()
    ledger.accept(admin_key, AdmitMember(member=members[1].public, name="Alice"))
    signed = _committed_transfer(ledger, "bread")
    assert len(committed_texts(signed.intent.action)) == 1
    _, event = ledger.next_event(Act(intent=signed.raw))
    with pytest.raises(NotAuthorizedError, match="without their sealed box"):
        audit(ledger.state, event, signed.intent)
    # Beside its box it is valid; a replica cannot open the box, so any box will do for it.
    for box in (seal(data_key(admin_key.public), [open_text("bread")], bytes(24)), b"not even a box"):
        _, event = ledger.next_event(ActSealed(intent=signed.raw, subject=admin_key.public, box=box))
        audit(ledger.state, event, signed.intent)


def test_a_committed_admission_needs_its_box_too() -> None:
    ledger = ClockedLedger()
    signed = ledger.sign(admin_key, committed_action(opened_action(AdmitMember(member=members[1].public,
                                                                                name="Alice"))))
    _, event = ledger.next_event(Act(intent=signed.raw))
    with pytest.raises(NotAuthorizedError):
        audit(ledger.state, event, signed.intent)
    box = seal(data_key(members[1].public), [open_text("Alice")], bytes(24))
    _, event = ledger.next_event(ActSealed(intent=signed.raw, subject=members[1].public, box=box))
    state = audit(ledger.state, event, signed.intent)
    assert isinstance(state.members[members[1].public].name, Committed)
    assert set(state.names.values()) == {admin_key.public}  # Ada's, in clear; Alice's is not there
