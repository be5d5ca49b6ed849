"""Governance cannot be seized by one member: the attacks of issue 12 against a real `tally serve`.

Mallory is a plain member of a community of four (Ada the admin, Bea, Cal, Mallory). Each test
sends one hostile proposal as Mallory's signed intent, checks that the node refuses it with
`below_floor` (422, a one-line message saying what the floor asks for), and that nothing changed:
the feed's seq and head, every balance and member, and the decisions. The last tests show the
floors do not stop the community: a proposal that meets them is taken (with the floor's quorum
when it names none), and one every member agrees to closes at once, as the timer does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from tallystick.protocol import limits
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import (
    AdmitMember,
    FederationAct,
    Floor,
    Propose,
    ProposeWithPeriod,
    RecoverKey,
    SetFloors,
    SetLimits,
    Vote,
)
from tallystick.protocol.federation import Charter, CharterMember
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.nodes import NodeProcess
from helpers.support import next_nonce

hour_ms = 3600 * 1000
close_wait_seconds = 60.0


@dataclass
class Community:
    node: NodeProcess
    ada: KeyPair
    bea: KeyPair
    cal: KeyPair
    mallory: KeyPair


@pytest.fixture(scope="module")
def community(node: NodeProcess) -> Community:
    return Community(node, node.admin_key, node.admit("Bea"), node.admit("Cal"), node.admit("Mallory"))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def quick_consent(effect: Any, **fields: Any) -> Propose:
    """The attack: consent, quorum 0, a deadline 1.5 s away."""
    return Propose(decision_type="consent", title="Quick one", text="", deadline_ms=now_ms() + 1500, quorum_bp=0,
                   effect=effect, **fields)


def everything(node: NodeProcess) -> dict[str, Any]:
    return {**node.snapshot(), "decisions": node.get("/api/decisions"), "status_seq": node.get("/api/status")["seq"]}


def assert_below_floor(community: Community, action: Propose, *words: str) -> None:
    node = community.node
    before = everything(node)
    answer = node.post_intent(sign_member_intent(community.mallory, feed=node.feed, nonce=next_nonce(), action=action))
    document = answer.json()
    assert (answer.status, document["error"]) == (422, "below_floor"), document
    message = document["message"]
    assert len(message.splitlines()) == 1 and "at least" in message, message
    for word in words:
        assert word in message, message
    assert everything(node) == before


def test_a_members_quick_consent_raising_her_own_debit_limit_is_refused_and_changes_nothing(
    community: Community,
) -> None:
    effect = SetLimits(account=community.mallory.public, debit_limit_minor=limits.amount_minor_max,
                       credit_ceiling_minor=None)
    assert_below_floor(community, quick_consent(effect), "quorum", "50 %")


def test_a_members_quick_consent_recovering_the_admins_account_to_her_key_is_refused_and_changes_nothing(
    community: Community,
) -> None:
    effect = RecoverKey(member=community.ada.public, new_key=KeyPair.generate().public)
    assert_below_floor(community, quick_consent(effect), "admin's account", "quorum")


def test_a_members_quick_consent_adopting_a_charter_she_wrote_is_refused_and_changes_nothing(
    community: Community,
) -> None:
    charter = Charter("Mallory's federation", "MAL", 2, (CharterMember(community.node.feed, "HRS", 1, 1),), 6000,
                      now_ms())
    assert_below_floor(community, quick_consent(FederationAct(body=charter)), "federation membership")


def test_the_quick_attacks_with_the_quorum_raised_are_still_refused_for_their_time_open(
    community: Community,
) -> None:
    effect = SetLimits(account=community.mallory.public, debit_limit_minor=limits.amount_minor_max,
                       credit_ceiling_minor=None)
    attack = ProposeWithPeriod(decision_type="consent", title="Quick one", text="", deadline_ms=0, voting_period_ms=1500,
                     quorum_bp=5000, effect=effect)
    assert_below_floor(community, attack, "stays open", "48 h")
    recovery = Propose(decision_type="proposal", title="Quick one", text="", deadline_ms=now_ms() + 1500,
                       quorum_bp=10_000, threshold_bp=10_000,
                       effect=RecoverKey(member=community.bea.public, new_key=KeyPair.generate().public))
    assert_below_floor(community, recovery, "stays open", "72 h")


def test_a_member_cannot_lower_the_floors_by_a_quick_decision(community: Community) -> None:
    lowered = SetFloors(floors=(Floor("limits", 0, 0, 0),))
    assert_below_floor(community, quick_consent(lowered), "rules or floors")


def test_a_proposal_below_the_threshold_floor_is_refused(community: Community) -> None:
    effect = AdmitMember(member=KeyPair.generate().public, name="Mallory's friend")
    attack = ProposeWithPeriod(decision_type="proposal", title="Admit my friend", text="", deadline_ms=0,
                     voting_period_ms=48 * hour_ms, threshold_bp=1, effect=effect)
    assert_below_floor(community, attack, "threshold", "50 %")


def test_a_proposal_that_meets_the_floors_is_taken_with_the_floors_quorum_and_stays_open(
    community: Community,
) -> None:
    node = community.node
    effect = SetLimits(account=community.mallory.public, debit_limit_minor=200_00, credit_ceiling_minor=None)
    proposal = ProposeWithPeriod(decision_type="consent", title="A bigger limit for me", text="", deadline_ms=0,
                       voting_period_ms=49 * hour_ms, effect=effect)
    seq = node.act(community.mallory, proposal)["seq"]
    node.act(community.mallory, Vote(decision=seq, position="agree"))
    decision = node.get(f"/api/decisions/{seq}")
    assert decision["open"] and decision["quorum_bp"] == 5000  # the default rules' 50 %, at least the floor
    assert decision["deadline_ms"] - decision["opened_ms"] == 49 * hour_ms
    assert node.get(f"/api/decisions/{seq}")["open"]  # one vote of four is not unanimity: it waits


def test_an_admission_every_member_agrees_to_closes_at_once_and_admits(community: Community) -> None:
    node = community.node
    newcomer = KeyPair.generate()
    proposal = ProposeWithPeriod(decision_type="proposal", title="Admit Dan", text="", deadline_ms=0,
                       voting_period_ms=24 * hour_ms, effect=AdmitMember(member=newcomer.public, name="Dan"))
    seq = node.act(community.bea, proposal)["seq"]
    for voter in (community.ada, community.bea, community.cal, community.mallory):
        node.act(voter, Vote(decision=seq, position="agree"))
    deadline = time.monotonic() + close_wait_seconds
    while node.get(f"/api/decisions/{seq}")["open"]:
        assert time.monotonic() < deadline, "a unanimous decision was not closed by the node's timer"
        time.sleep(0.2)
    closed = node.get(f"/api/decisions/{seq}")
    assert closed["outcome"] == "passed"
    assert node.get("/api/members/Dan")["id"] == id_to_text("m", newcomer.public)
