"""Quorum certificates: built from a fold over real signed feeds, verified from their bytes alone,
and refused with their own code for every way they can fail to prove a decision."""

from __future__ import annotations

import msgspec
import pytest
from tallystick.federation.quorum import (
    Certificate,
    CertificateChainError,
    CertificateError,
    CertificateKeyError,
    CertificateMemberError,
    CertificateQuorumError,
    CertificateSignatureError,
    CertificateTooLargeError,
    CertificateUnknownDecisionError,
    CertificateVoteError,
    KeyHistory,
    build_certificate,
    decode_certificate,
    encode_certificate,
    key_history_of,
    verify_certificate,
)
from tallystick.federation.state import FederationState, fold
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, sign_event
from tallystick.protocol.events import ForkProof
from tallystick.protocol.federation import (
    AdmitFederationMember,
    CharterMember,
    JoinFederation,
    SetTradeLimits,
    VoteInParent,
    federation_id,
)
from tallystick.protocol.feed import verify_fork_proof

from helpers.federation import Community, charter_of, found, start_ms

deadline = start_ms + 60_000


class World:
    """Communities whose events an observer holds, and the store a certificate is built from."""

    def __init__(self, *communities: Community) -> None:
        self.communities = list(communities)

    def state(self) -> FederationState:
        return fold(event for community in self.communities for event in community.feed_events())

    def raw(self, feed: bytes, seq: int) -> bytes:
        community = next(community for community in self.communities if community.id == feed)
        return community.events[seq - 1]

    def keys(self, feed: bytes) -> KeyHistory:
        community = next(community for community in self.communities if community.id == feed)
        return key_history_of(community.events)

    def certificate(self, decision: bytes) -> Certificate:
        return build_certificate(self.state(), decision, self.raw, self.keys)


def limits_for(member: Community, debit: int = 100) -> SetTradeLimits:
    return SetTradeLimits(member=member.id, debit_limit_minor=debit, credit_ceiling_minor=debit)


def passed_once() -> tuple[World, bytes, bytes, tuple[Community, Community, Community]]:
    a, b, c = Community("a"), Community("b"), Community("c")
    _, federation = found(a, b, c)
    proposal, _ = a.propose(federation, 0, federation, limits_for(b), deadline, ts=start_ms + 1)
    a.vote(federation, 0, proposal)
    b.vote(federation, 0, proposal)
    return World(a, b, c), federation, proposal, (a, b, c)


def with_link(certificate: Certificate, index: int, **changes: object) -> Certificate:
    chain = list(certificate.chain)
    chain[index] = msgspec.structs.replace(chain[index], **changes)
    return msgspec.structs.replace(certificate, chain=tuple(chain))


def test_a_passed_decision_s_certificate_verifies_from_its_bytes_alone() -> None:
    world, federation, proposal, (a, b, _) = passed_once()
    data = encode_certificate(world.certificate(proposal))
    decided = verify_certificate(decode_certificate(data))
    assert (decided.federation, decided.epoch, decided.id) == (federation, 0, proposal)
    assert decided.voters == {a.id, b.id}
    assert decided.proposal.effect == limits_for(b)


def test_a_decision_that_has_not_passed_has_no_certificate() -> None:
    a, b, c = Community("a"), Community("b"), Community("c")
    _, federation = found(a, b, c)
    proposal, _ = a.propose(federation, 0, federation, limits_for(b), deadline)
    a.vote(federation, 0, proposal)
    with pytest.raises(CertificateUnknownDecisionError):
        World(a, b, c).certificate(proposal)


def test_a_certificate_short_of_the_quorum_is_refused() -> None:
    world, _, proposal, _ = passed_once()
    certificate = world.certificate(proposal)
    with pytest.raises(CertificateQuorumError) as raised:
        verify_certificate(with_link(certificate, 0, votes=certificate.chain[0].votes[:1]))
    assert raised.value.code == "certificate_no_quorum"


def test_one_member_s_vote_twice_is_refused() -> None:
    world, _, proposal, _ = passed_once()
    certificate = world.certificate(proposal)
    vote = certificate.chain[0].votes[0]
    with pytest.raises(CertificateMemberError):
        verify_certificate(with_link(certificate, 0, votes=(vote, vote)))


def test_a_vote_by_a_community_outside_the_federation_is_refused() -> None:
    world, federation, proposal, (a, b, c) = passed_once()
    outsider = Community("outsider")
    outsider.vote(federation, 0, proposal)
    world.communities.append(outsider)
    certificate = world.certificate(proposal)
    forged = with_link(certificate, 0, votes=(certificate.chain[0].votes[0], outsider.events[-1]))
    forged = msgspec.structs.replace(forged, keys=(*forged.keys, key_history_of(outsider.events)))
    with pytest.raises(CertificateMemberError):
        verify_certificate(forged)


def test_a_vote_for_another_proposal_is_refused() -> None:
    world, federation, proposal, (a, b, c) = passed_once()
    other, _ = c.propose(federation, 0, federation, limits_for(c), deadline)
    c.vote(federation, 0, other)
    certificate = world.certificate(proposal)
    forged = with_link(certificate, 0, votes=(certificate.chain[0].votes[0], c.events[-1]))
    forged = msgspec.structs.replace(forged, keys=(*forged.keys, key_history_of(c.events)))
    with pytest.raises(CertificateVoteError):
        verify_certificate(forged)


def test_a_vote_after_the_deadline_is_refused() -> None:
    world, federation, proposal, (a, b, c) = passed_once()
    c.vote(federation, 0, proposal, ts=deadline + 1)
    certificate = world.certificate(proposal)
    forged = with_link(certificate, 0, votes=(certificate.chain[0].votes[0], c.events[-1]))
    forged = msgspec.structs.replace(forged, keys=(*forged.keys, key_history_of(c.events)))
    with pytest.raises(CertificateVoteError):
        verify_certificate(forged)


def test_an_altered_vote_is_refused_for_its_signature() -> None:
    world, _, proposal, _ = passed_once()
    certificate = world.certificate(proposal)
    vote = bytearray(certificate.chain[0].votes[0])
    vote[-1] ^= 1
    with pytest.raises(CertificateSignatureError):
        verify_certificate(with_link(certificate, 0, votes=(bytes(vote), certificate.chain[0].votes[1])))


def test_a_vote_signed_by_another_key_is_refused() -> None:
    world, _, proposal, _ = passed_once()
    certificate = world.certificate(proposal)
    original = decode_event(certificate.chain[0].votes[1])
    forged_vote = sign_event(
        Community("mallory").key, feed=original.feed, seq=original.seq, prev=original.prev, ts=original.ts, body=original.body
    )
    with pytest.raises(CertificateSignatureError):
        verify_certificate(with_link(certificate, 0, votes=(certificate.chain[0].votes[0], forged_vote)))


def test_a_certificate_without_a_voter_s_key_history_is_refused() -> None:
    world, _, proposal, (a, b, _) = passed_once()
    certificate = world.certificate(proposal)
    without_b = tuple(history for history in certificate.keys if history.genesis != b.events[0])
    with pytest.raises(CertificateKeyError):
        verify_certificate(msgspec.structs.replace(certificate, keys=without_b))


def test_a_voter_that_rotated_its_key_is_checked_by_the_key_in_force() -> None:
    a, b, c = Community("a"), Community("b"), Community("c")
    _, federation = found(a, b, c)
    b.rotate_key()
    proposal, _ = a.propose(federation, 0, federation, limits_for(b), deadline)
    a.vote(federation, 0, proposal)
    b.vote(federation, 0, proposal)
    world = World(a, b, c)
    certificate = world.certificate(proposal)
    assert verify_certificate(certificate).voters == {a.id, b.id}
    # Left out, the rotation makes b's vote look signed by a key that was not in force.
    stale = tuple(
        KeyHistory(genesis=history.genesis) if history.genesis == b.events[0] else history for history in certificate.keys
    )
    with pytest.raises(CertificateSignatureError):
        verify_certificate(msgspec.structs.replace(certificate, keys=stale))


def test_a_key_rotation_not_signed_by_the_committed_recovery_key_is_refused() -> None:
    world, _, proposal, (a, b, _) = passed_once()
    certificate = world.certificate(proposal)
    stranger = Community("stranger")
    stranger.rotate_key()
    histories = tuple(
        KeyHistory(genesis=history.genesis, rotations=(stranger.events[-1],)) if history.genesis == b.events[0] else history
        for history in certificate.keys
    )
    with pytest.raises(CertificateKeyError):
        verify_certificate(msgspec.structs.replace(certificate, keys=histories))


def test_a_chain_counts_a_member_admitted_by_an_earlier_decision() -> None:
    a, b, c, d = Community("a"), Community("b"), Community("c"), Community("d")
    _, federation = found(a, b, c)
    admit = AdmitFederationMember(member=CharterMember(member=d.id, unit_code="HRS", rate_num=1, rate_den=1))
    first, _ = a.propose(federation, 0, federation, admit, deadline)
    a.vote(federation, 0, first)
    b.vote(federation, 0, first)
    second, _ = d.propose(federation, 1, first, limits_for(d), deadline)
    for voter in (a, b, d):
        voter.vote(federation, 1, second)
    world = World(a, b, c, d)
    decided = verify_certificate(world.certificate(second))
    assert decided.voters == {a.id, b.id, d.id} and decided.members == {a.id, b.id, c.id, d.id}
    assert len(world.certificate(second).chain) == 2


def test_a_chain_that_leaves_out_a_passed_decision_is_refused() -> None:
    a, b, c = Community("a"), Community("b"), Community("c")
    _, federation = found(a, b, c)
    first, _ = a.propose(federation, 0, federation, limits_for(a), deadline)
    second_votes = (a, b)
    for voter in second_votes:
        voter.vote(federation, 0, first)
    second, _ = a.propose(federation, 1, first, limits_for(b), deadline)
    for voter in second_votes:
        voter.vote(federation, 1, second)
    certificate = World(a, b, c).certificate(second)
    with pytest.raises(CertificateChainError):
        verify_certificate(msgspec.structs.replace(certificate, chain=certificate.chain[1:]))


def test_a_confederation_s_certificate_nests_its_member_federations_certificates() -> None:
    a, b, c, d = (Community(name) for name in "abcd")
    _, west = found(a, b, name="West")
    _, east = found(c, d, name="East")
    confederation_charter = charter_of(west, east, name="Valley", quorum_bp=10_000)
    confederation = federation_id(confederation_charter)
    a.append(confederation_charter)
    joins = {}
    for proposer, other, federation in ((a, b, west), (c, d, east)):
        joins[federation], _ = proposer.propose(federation, 0, federation, JoinFederation(federation=confederation), deadline)
        proposer.vote(federation, 0, joins[federation])
        other.vote(federation, 0, joins[federation])
    west_limits = SetTradeLimits(member=west, debit_limit_minor=10, credit_ceiling_minor=10)
    proposal, _ = a.propose(confederation, 0, confederation, west_limits, deadline)
    for proposer, other, federation in ((a, b, west), (c, d, east)):
        ballot, _ = proposer.propose(
            federation, 1, joins[federation], VoteInParent(federation=confederation, epoch=0, proposal=proposal), deadline
        )
        proposer.vote(federation, 1, ballot)
        other.vote(federation, 1, ballot)
    world = World(a, b, c, d)
    assert world.state().decisions[proposal].outcome == "passed"
    certificate = world.certificate(proposal)
    assert len(certificate.children) == 2
    decided = verify_certificate(decode_certificate(encode_certificate(certificate)))
    assert decided.voters == {west, east}
    with pytest.raises(CertificateVoteError):
        verify_certificate(msgspec.structs.replace(certificate, children=certificate.children[:1]))


def test_an_oversize_certificate_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(CertificateTooLargeError):
        decode_certificate(b"\x00" * (limits.certificate_bytes_max + 1))


def test_certificate_bytes_that_do_not_decode_are_refused() -> None:
    with pytest.raises(CertificateError) as raised:
        decode_certificate(b"\x93\x01\x02")
    assert raised.value.code == "bad_certificate"


def test_a_chain_link_whose_proposal_is_of_another_federation_is_refused() -> None:
    world, _, proposal, (a, b, _) = passed_once()
    certificate = world.certificate(proposal)
    with pytest.raises(CertificateChainError):
        verify_certificate(msgspec.structs.replace(certificate, charter=charter_of(a, b, name="Other")))


def test_certificates_from_two_branches_of_a_fork_both_verify_alone_and_together_prove_the_fork() -> None:
    """What a certificate cannot see: a member that forked its feed can sign into two certificates
    for two proposals of one epoch. Each verifies alone; side by side, their two votes by that
    member at one seq are a fork proof (protocol.feed.verify_fork_proof)."""
    honest = [Community(name) for name in "abcd"]
    byzantine = Community("byzantine")
    _, federation = found(*honest, byzantine)
    first, _ = honest[0].propose(federation, 0, federation, limits_for(honest[0], 1), deadline)
    second, _ = honest[1].propose(federation, 0, federation, limits_for(honest[0], 2), deadline)
    for community, choice in zip(honest, (first, second, first, second), strict=True):
        community.vote(federation, 0, choice)
    twin = byzantine.branch()
    byzantine.vote(federation, 0, first)
    twin.vote(federation, 0, second)
    one = verify_certificate(World(*honest, byzantine).certificate(first))
    other = verify_certificate(World(*honest, twin).certificate(second))
    assert (one.epoch, other.epoch) == (0, 0) and one.id != other.id
    proof = ForkProof(
        feed=byzantine.id, seq=byzantine.head.seq, first=byzantine.events[-1], second=twin.events[-1]
    )
    signed_first, signed_second = verify_fork_proof(proof, byzantine.key.public)
    assert decode_event(byzantine.events[-1]) == signed_first and signed_second.body != signed_first.body
