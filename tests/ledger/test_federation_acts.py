"""A community's federation acts in its own ledger (ledger/transition.py): an admin's intent, or a passed
decision, puts a charter, proposal or vote in the outbox; the node appends it as its own event; a
replica refuses a federation body the community did not decide, except an abstention."""

from __future__ import annotations

import pytest
from tallystick.ledger import decisions
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import DomainError, NotAuthorizedError
from tallystick.ledger.transition import audit
from tallystick.protocol import limits
from tallystick.protocol.events import (
    AdmitMember,
    FederationAct,
    Propose,
    SetRules,
    Vote,
)
from tallystick.protocol.federation import (
    AmendCharter,
    Charter,
    CharterMember,
    FederationProposal,
    FederationVote,
    federation_id,
)

from helpers.ledger import ClockedLedger, admin_key, key, refold

bea_key = key("bea")
start_ms = 1_000_000


class Community(ClockedLedger):
    def __init__(self) -> None:
        super().__init__(now_ms=start_ms)
        self.accept(admin_key, AdmitMember(member=bea_key.public, name="Bea"))

    def charter(self, *others: bytes) -> Charter:
        members = tuple(CharterMember(member, "TST", 1, 1) for member in (self.feed, *others))
        return Charter("Valley", "VAL", 2, members, 6000, start_ms)


@pytest.fixture
def town() -> Community:
    return Community()


def test_an_admin_adopts_a_charter_and_the_node_appends_it_from_the_outbox(town: Community) -> None:
    charter = town.charter(b"\x02" * 32)
    town.accept(admin_key, FederationAct(body=charter))
    assert town.state.federation_outbox == (charter,)
    town.audited(town.state.federation_outbox[0])
    assert town.state.federation_outbox == ()
    state, _ = refold(town.genesis_bytes, town.events)
    assert state_digest(state) == state_digest(town.state)


def test_a_member_who_is_not_an_admin_cannot_act_for_the_community(town: Community) -> None:
    error = town.submit(town.sign(bea_key, FederationAct(body=town.charter())))
    assert isinstance(error, NotAuthorizedError)


def test_a_charter_that_does_not_name_the_community_is_only_published(town: Community) -> None:
    """How a confederation's charter, whose members are federations, gets into the feeds."""
    stranger = Charter("Elsewhere", "ELS", 2, (CharterMember(b"\x03" * 32, "TST", 1, 1),), 6000, start_ms)
    town.accept(admin_key, FederationAct(body=stranger))
    town.audited(stranger)
    assert not town.state.payments.trade  # no trade account: the community is not a member


def test_a_replica_refuses_a_federation_body_the_community_did_not_decide(town: Community) -> None:
    charter = town.charter()
    _, event = town.next_event(FederationProposal(
        federation_id(charter), 0, federation_id(charter), start_ms + 10_000, "Rename", "", AmendCharter("Vale", 6000)))
    with pytest.raises(NotAuthorizedError):
        audit(town.state, event, None)
    _, another = town.next_event(charter)
    with pytest.raises(NotAuthorizedError):
        audit(town.state, another, None)


def test_a_node_may_abstain_on_its_own_to_end_a_stalled_epoch(town: Community) -> None:
    charter = town.charter()
    town.audited(FederationVote(federation_id(charter), 0, None))
    _, yes = town.next_event(FederationVote(federation_id(charter), 0, b"\x04" * 32))
    with pytest.raises(NotAuthorizedError):
        audit(town.state, yes, None)


def test_a_community_that_decides_by_decision_acts_in_federations_by_a_passed_decision(town: Community) -> None:
    deadline = start_ms + 73 * 3600 * 1000  # past the rules class's 72 h floor
    rules = town.accept(admin_key, Propose("consent", "Decide together", "", deadline,
                                           effect=SetRules("decision", 5000, 5000))).seq
    town.accept(admin_key, Vote(rules, "agree"))
    town.now_ms = deadline
    town.audited(decisions.closing_body(town.state, rules))
    assert town.state.rules.admission == "decision"
    charter = town.charter()
    error = town.submit(town.sign(admin_key, FederationAct(body=charter)))
    assert isinstance(error, NotAuthorizedError)
    deadline = town.now_ms + 73 * 3600 * 1000
    join = town.accept(admin_key, Propose("proposal", "Join the Valley", "", deadline,
                                          effect=FederationAct(body=charter))).seq
    town.accept(admin_key, Vote(join, "agree"))
    town.accept(bea_key, Vote(join, "agree"))
    town.now_ms = deadline
    town.audited(decisions.closing_body(town.state, join))
    assert town.state.decisions[join].outcome == "passed" and town.state.federation_outbox == (charter,)
    town.audited(charter)
    assert town.state.federation_outbox == ()


def test_the_outbox_is_bounded(town: Community) -> None:
    charter = town.charter()
    for epoch in range(limits.federation_outbox_max):
        town.accept(admin_key, FederationAct(body=FederationVote(federation_id(charter), epoch, None)))
    error = town.submit(town.sign(admin_key, FederationAct(body=FederationVote(federation_id(charter), 99, None))))
    assert isinstance(error, DomainError) and error.code == "not_authorized"
