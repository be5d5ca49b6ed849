"""The visibility policy changed by a decision (`set_visibility`, docs/privacy.md): its class, what
it may and may not set, what a pass changes (only the kinds it names), the digest, and a replica
and a store restore that agree.

Ada is the admin; Bea, Cal and Dee are members (tests/ledger/test_governance_floors.py's ledger).
"""

from __future__ import annotations

import pytest
from msgspec.structs import replace
from tallystick.ledger import decisions
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import BadDecisionError
from tallystick.ledger.model import Visibility
from tallystick.ledger.visibility import Reader, can_see, policy_json, stranger
from tallystick.protocol.events import AdmitMember, SetVisibility

from helpers.ledger import ClockedLedger, refold

from .test_governance_floors import (
    bea,
    bea_key,
    cal,
    close_at_deadline,
    dee,
    everyone,
    hour_ms,
    proposal,
    propose,
    refused,
    vote,
)


@pytest.fixture
def ledger() -> ClockedLedger:
    ledger = ClockedLedger()
    for member, name in ((bea, "Bea"), (cal, "Cal"), (dee, "Dee")):
        ledger.accept(everyone[0], AdmitMember(member=member, name=name))
    return ledger


def pass_now(ledger: ClockedLedger, effect: SetVisibility) -> int:
    """Propose `effect` (as Bea, a plain member), everyone agrees, and the node closes it at once."""
    seq = propose(ledger, bea_key, proposal(effect, period_ms=72 * hour_ms))
    vote(ledger, seq, "agree", *everyone)
    body = decisions.closing_body(ledger.state, seq)
    assert body is not None
    ledger.audited(body)
    assert ledger.state.decisions[seq].outcome == "passed"
    return seq


def test_a_visibility_change_is_of_the_strictest_class(ledger: ClockedLedger) -> None:
    assert decisions.decision_class(ledger.state, SetVisibility(balances="members")) == "rules"
    error = refused(ledger, bea_key, proposal(SetVisibility(balances="members"), period_ms=48 * hour_ms))
    assert error.code == "below_floor" and "72 h" in error.message


def test_a_passed_change_sets_only_the_kinds_it_names(ledger: ClockedLedger) -> None:
    pass_now(ledger, SetVisibility(balances="members", decisions="public"))
    assert ledger.state.visibility == Visibility(balances="members", decisions="public")
    assert can_see(ledger.state, Reader(member=bea), "balances", everyone[0].public)
    assert not can_see(ledger.state, stranger, "balances", bea)


def test_policy_json_names_every_kind_with_its_audience() -> None:
    assert policy_json(Visibility(balances="members")) == {
        "names": "members", "balances": "members", "history": "concerned", "votes": "members",
        "decisions": "members", "holdings": "members", "log": "admins"}


def test_a_change_naming_no_kind_is_refused_and_changes_nothing(ledger: ClockedLedger) -> None:
    error = refused(ledger, bea_key, proposal(SetVisibility(), period_ms=72 * hour_ms))
    assert isinstance(error, BadDecisionError) and "at least one kind" in error.message


@pytest.mark.parametrize("kind", decisions.never_public)
def test_a_members_own_data_is_never_made_public_and_the_refusal_changes_nothing(ledger: ClockedLedger, kind: str) -> None:
    error = refused(ledger, bea_key, proposal(SetVisibility(**{kind: "public"}), period_ms=72 * hour_ms))
    assert isinstance(error, BadDecisionError) and f"choose members, concerned or admins for {kind}" in error.message


def test_the_log_never_reaches_further_than_the_least_visible_kind(ledger: ClockedLedger) -> None:
    error = refused(ledger, bea_key, proposal(SetVisibility(log="members"), period_ms=72 * hour_ms))
    assert isinstance(error, BadDecisionError) and "the log" in error.message
    refused(ledger, bea_key, proposal(SetVisibility(log="public", names="public", decisions="public",
                                                    balances="members", history="members"), period_ms=72 * hour_ms))
    pass_now(ledger, SetVisibility(balances="members", history="members", log="members"))
    assert ledger.state.visibility.log == "members"


def test_a_change_that_another_decision_made_invalid_meanwhile_closes_effect_refused(ledger: ClockedLedger) -> None:
    opening = pass_now(ledger, SetVisibility(balances="members", history="members"))
    log_to_members = propose(ledger, bea_key, proposal(SetVisibility(log="members"), period_ms=72 * hour_ms))
    pass_now(ledger, SetVisibility(history="concerned"))  # the log would now show more than history
    vote(ledger, log_to_members, "agree", *everyone[:3])  # not all: it waits for its deadline
    policy = ledger.state.visibility
    assert close_at_deadline(ledger, log_to_members) == "effect_refused"
    assert ledger.state.visibility == policy and opening < log_to_members


def test_the_digest_covers_the_policy_only_while_it_differs_from_the_default(ledger: ClockedLedger) -> None:
    pass_now(ledger, SetVisibility(names="public"))
    changed = ledger.state
    assert state_digest(changed) != state_digest(replace(changed, visibility=Visibility()))
    pass_now(ledger, SetVisibility(names="members"))  # back to the default
    back = ledger.state
    assert back.visibility == Visibility()
    assert state_digest(back) == state_digest(replace(back, visibility=Visibility(names="members")))


def test_a_replica_and_a_store_restore_derive_the_same_policy(ledger: ClockedLedger) -> None:
    pass_now(ledger, SetVisibility(balances="members", votes="concerned"))
    pass_now(ledger, SetVisibility(votes="members", holdings="admins"))
    replica, _ = refold(ledger.genesis_bytes, ledger.events)
    assert replica.visibility == ledger.state.visibility == Visibility(balances="members", holdings="admins")
    assert state_digest(replica) == state_digest(ledger.state)
    assert decisions.visibility_in_force(ledger.state.decisions) == ledger.state.visibility
