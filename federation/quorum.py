"""Quorum certificates: a federation decision, checkable from the certificate alone. No I/O.

How this works: a parent federation sees a child's decisions without replicating the feeds below
it. A `Certificate` carries the federation's charter and the *chain* of its passed decisions from
the charter up to the one certified, each as a `PassedDecision`: the proposal event and the yes
vote events that passed it, as the exact signed bytes stored. Proposals name the previous passed
decision (`previous`), so the chain is a hash chain: none can be left out or reordered, and the
verifier replays the membership and quorum each epoch had (admissions, expulsions, amended quorums)
instead of trusting a claim of them. A member federation's yes ballot is its own passed
`VoteInParent` decision, proven by a nested certificate of that federation in `children`.

Signatures: a feed's signing key can rotate, so a certificate carries, for every feed that signed
an event in it, that feed's `KeyHistory`: its genesis (whose hash is the feed id, signed by the key
it names) and its `key_rotated` events, each signed by the recovery key the one before committed to.
The key that signed an event at seq s is the one in force after the last rotation below s. What a
certificate alone cannot show (the feeds are not in it): that the history is complete up to the
vote (a key leaked before a rotation left out could sign a vote; siblings, who hold the feeds,
see it), and that a vote was its community's first in that epoch (a community that equivocated in
its own feed could have its second ballot certified; siblings hold the evidence). docs/federation.md
says what follows from this.

`verify_certificate(certificate)` raises a `CertificateError` (stable code, message saying what
failed) or returns the `CertifiedDecision`. `build_certificate` assembles one from a fold's state and
the caller's store of raw events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import msgspec
from msgspec import Meta, Struct
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, verify_event_signature
from tallystick.protocol.errors import LocalError, RemoteError, TallyError
from tallystick.protocol.events import Event, KeyRotated
from tallystick.protocol.federation import (
    AdmitFederationMember,
    AmendCharter,
    Charter,
    ExpelFederationMember,
    FederationProposal,
    FederationVote,
    VoteInParent,
    federation_id,
    proposal_id,
    quorum_votes,
)
from tallystick.protocol.feed import start_feed
from tallystick.protocol.ids import hash32

from .state import FederationState

EventBytes = Annotated[bytes, Meta(max_length=limits.event_bytes_max)]


# ---- errors -----------------------------------------------------------------------------------


class CertificateError(RemoteError):
    """A quorum certificate does not prove its decision."""

    code = "bad_certificate"


class CertificateTooLargeError(CertificateError):
    code = "certificate_too_large"
    http_status = 413


class CertificateKeyError(CertificateError):
    code = "certificate_bad_key_history"


class CertificateSignatureError(CertificateError):
    code = "certificate_bad_signature"


class CertificateChainError(CertificateError):
    code = "certificate_chain_broken"


class CertificateVoteError(CertificateError):
    code = "certificate_bad_vote"


class CertificateMemberError(CertificateError):
    code = "certificate_not_member"


class CertificateQuorumError(CertificateError):
    code = "certificate_no_quorum"


class CertificateUnknownDecisionError(LocalError):
    """The caller asked to certify a decision that its own state does not show as passed."""

    code = "certificate_not_passed"
    http_status = 404


# ---- the certificate --------------------------------------------------------------------------


class KeyHistory(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    genesis: EventBytes
    rotations: Annotated[tuple[EventBytes, ...], Meta(max_length=limits.certificate_key_events_max)] = ()


class PassedDecision(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    proposal: EventBytes  # the proposal event, signed by the proposing community
    votes: Annotated[tuple[EventBytes, ...], Meta(max_length=limits.federation_members_max)]
    # Member federations whose yes is their own passed VoteInParent decision: their ids. Their
    # certificates are in the enclosing Certificate's `children`.
    federation_votes: Annotated[tuple[Annotated[bytes, Meta(min_length=32, max_length=32)], ...], Meta(max_length=limits.federation_members_max)] = ()


class Certificate(Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    charter: Charter
    chain: Annotated[tuple[PassedDecision, ...], Meta(min_length=1, max_length=limits.certificate_chain_decisions_max)]
    keys: Annotated[tuple[KeyHistory, ...], Meta(max_length=limits.certificate_chain_decisions_max * 2)] = ()
    children: Annotated[tuple[Certificate, ...], Meta(max_length=limits.federation_members_max)] = ()


class CertifiedDecision(Struct, frozen=True):
    federation: bytes
    epoch: int
    id: bytes
    proposal: FederationProposal
    members: frozenset[bytes]  # the members of its epoch
    voters: frozenset[bytes]  # the members whose yes passed it


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Certificate)


def encode_certificate(certificate: Certificate) -> bytes:
    return _encoder.encode(certificate)


def decode_certificate(data: bytes) -> Certificate:
    """Bytes to a Certificate, size first; then `verify_certificate` it."""
    if len(data) > limits.certificate_bytes_max:
        raise CertificateTooLargeError(
            f"certificate is {len(data)} bytes; the limit is {limits.certificate_bytes_max}"
        )
    try:
        certificate = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise CertificateError(f"certificate does not decode: {error}") from None
    if _encoder.encode(certificate) != data:
        raise CertificateError("certificate bytes are not canonical; re-encode it with the protocol's rules")
    return certificate


# ---- verifying --------------------------------------------------------------------------------


class _Keys:
    """The signing keys of each feed, by seq, from verified key histories."""

    def __init__(self, histories: tuple[KeyHistory, ...]) -> None:
        # feed -> [(first seq the key signs, key)]
        self.keys: dict[bytes, list[tuple[int, bytes]]] = {}
        for history in histories:
            try:
                head, _ = start_feed(history.genesis)
            except TallyError as error:
                raise CertificateKeyError(f"a key history's genesis does not verify: {error.message}") from None
            if head.feed in self.keys:
                raise CertificateKeyError("a certificate carries two key histories of one feed")
            spans = [(2, head.signing_key)]
            recovery_hash, last_seq = head.recovery_key_hash, 1
            for raw in history.rotations:
                event = _decode(raw, CertificateKeyError)
                body = event.body
                if not isinstance(body, KeyRotated) or event.feed != head.feed or event.seq <= last_seq:
                    raise CertificateKeyError("a key history holds an event that is not a later rotation of its feed")
                if hash32(body.recovery_key) != recovery_hash:
                    raise CertificateKeyError(f"the rotation at seq {event.seq} uses a recovery key never committed to")
                _verify(raw, body.recovery_key, "a key rotation")
                spans.append((event.seq + 1, body.signing_key))
                recovery_hash, last_seq = body.next_recovery_key_hash, event.seq
            self.keys[head.feed] = spans

    def verify(self, raw: bytes, what: str) -> Event:
        event = _decode(raw, CertificateSignatureError)
        if event.feed is None or event.feed not in self.keys:
            raise CertificateKeyError(f"{what} is by a feed whose key history the certificate does not carry")
        key = next(key for first, key in reversed(self.keys[event.feed]) if first <= event.seq)
        _verify(raw, key, what)
        return event


def _decode(raw: bytes, error: type[CertificateError]) -> Event:
    try:
        return decode_event(raw)
    except TallyError as failure:
        raise error(f"an event in the certificate does not decode: {failure.message}") from None


def _verify(raw: bytes, key: bytes, what: str) -> None:
    try:
        verify_event_signature(raw, key)
    except TallyError:
        raise CertificateSignatureError(f"{what}'s signature does not verify by the key in force") from None


class _Federation(Struct):
    members: set[bytes]
    quorum_bp: int


def verify_certificate(certificate: Certificate) -> CertifiedDecision:
    """Check the certificate from its own contents; return the decision it proves passed (the last
    of its chain), or raise a CertificateError naming what does not hold."""
    return _verify_chain(certificate, 0)[-1]


def _verify_chain(certificate: Certificate, depth: int) -> list[CertifiedDecision]:
    """Every decision of the certificate's chain, verified, in order."""
    if depth > limits.certificate_depth_max:
        raise CertificateChainError(f"certificates nest deeper than certificate_depth_max ({limits.certificate_depth_max})")
    identity = federation_id(certificate.charter)
    keys = _Keys(certificate.keys)
    children: dict[bytes, list[CertifiedDecision]] = {}
    for child in certificate.children:
        verified = _verify_chain(child, depth + 1)
        children.setdefault(verified[-1].federation, []).extend(verified)
    named = [member.member for member in certificate.charter.members]
    if len(set(named)) != len(named):
        raise CertificateChainError("the charter names a member twice")
    federation = _Federation(set(named), certificate.charter.quorum_bp)
    previous, next_epoch = identity, 0
    results: list[CertifiedDecision] = []
    for link in certificate.chain:
        proposal_event = keys.verify(link.proposal, "the proposal")
        proposal = proposal_event.body
        if not isinstance(proposal, FederationProposal) or proposal.federation != identity:
            raise CertificateChainError("a chain link's proposal is not a proposal of this federation")
        pid = proposal_id(proposal)
        if proposal.previous != previous:
            raise CertificateChainError(
                "a chain link does not follow the decision before it: the chain leaves out a passed decision"
            )
        if proposal.epoch < next_epoch:
            raise CertificateChainError("a chain link's epoch is not after the previous decision's")
        if not proposal_event.ts < proposal.deadline_ms <= proposal_event.ts + limits.federation_decision_duration_max_ms:
            raise CertificateChainError("a proposal's deadline is not after its event, within the maximum duration")
        voters = _count_votes(link, keys, children, federation, identity, proposal, pid)
        needed = quorum_votes(len(federation.members), federation.quorum_bp)
        if len(voters) < needed:
            raise CertificateQuorumError(
                f"{len(voters)} yes ballots of {len(federation.members)} members; the quorum is {needed}"
            )
        results.append(CertifiedDecision(identity, proposal.epoch, pid, proposal, frozenset(federation.members), voters))
        _apply(federation, proposal)
        previous, next_epoch = pid, proposal.epoch + 1
    return results


def _count_votes(
    link: PassedDecision,
    keys: _Keys,
    children: dict[bytes, list[CertifiedDecision]],
    federation: _Federation,
    identity: bytes,
    proposal: FederationProposal,
    pid: bytes,
) -> frozenset[bytes]:
    voters: set[bytes] = set()
    for raw in link.votes:
        event = keys.verify(raw, "a vote")
        vote = event.body
        if not isinstance(vote, FederationVote):
            raise CertificateVoteError("an event among the votes is not a federation vote")
        if vote.federation != identity or vote.epoch != proposal.epoch or vote.proposal != pid:
            raise CertificateVoteError("a vote is for another federation, epoch or proposal than the one certified")
        if event.ts > proposal.deadline_ms:
            raise CertificateVoteError(f"a vote at seq {event.seq} was cast after the proposal's deadline")
        assert event.feed is not None
        _add_voter(voters, event.feed, federation)
    for member in link.federation_votes:
        ballots = [
            decision
            for decision in children.get(member, [])
            if isinstance(decision.proposal.effect, VoteInParent)
            and decision.proposal.effect.federation == identity
            and decision.proposal.effect.epoch == proposal.epoch
        ]
        if not ballots:
            raise CertificateVoteError("a member federation's vote has no certificate of its decision")
        first = min(ballots, key=lambda decision: decision.epoch)
        effect = first.proposal.effect
        assert isinstance(effect, VoteInParent)
        if effect.proposal != pid:
            raise CertificateVoteError("a member federation's first ballot in this epoch is for another proposal")
        if first.proposal.deadline_ms > proposal.deadline_ms:
            raise CertificateVoteError("a member federation decided its vote after the proposal's deadline")
        _add_voter(voters, member, federation)
    return frozenset(voters)


def _add_voter(voters: set[bytes], member: bytes, federation: _Federation) -> None:
    if member not in federation.members:
        raise CertificateMemberError("a vote is by a feed that is not a member of the federation in that epoch")
    if member in voters:
        raise CertificateMemberError("one member's vote is counted twice")
    voters.add(member)


def _apply(federation: _Federation, proposal: FederationProposal) -> None:
    """What a passed decision changes of who counts: membership and quorum."""
    effect = proposal.effect
    if isinstance(effect, AdmitFederationMember):
        federation.members.add(effect.member.member)
    elif isinstance(effect, ExpelFederationMember):
        federation.members.discard(effect.member)
    elif isinstance(effect, AmendCharter):
        federation.quorum_bp = effect.quorum_bp


# ---- building ---------------------------------------------------------------------------------


def build_certificate(
    state: FederationState,
    decision: bytes,
    raw_event: Callable[[bytes, int], bytes],
    key_history: Callable[[bytes], KeyHistory],
    depth: int = 0,
) -> Certificate:
    """The certificate of passed decision `decision` from a fold's `state`, taking the exact bytes
    of each event from the caller's store (`raw_event(feed, seq)`) and each feed's key history."""
    certified = state.decisions.get(decision)
    if certified is None or certified.outcome != "passed":
        raise CertificateUnknownDecisionError("that decision has not passed in this node's view; nothing to certify")
    federation = state.federations[certified.federation]
    chain_ids = federation.passed[: federation.passed.index(decision) + 1]
    feeds: set[bytes] = set()
    children: dict[bytes, Certificate] = {}
    chain: list[PassedDecision] = []
    for decision_id in chain_ids:
        passed = state.decisions[decision_id]
        feeds.add(passed.proposer)
        votes: list[bytes] = []
        federation_votes: list[bytes] = []
        for ballot in passed.yes:
            if ballot.feed is not None and ballot.seq is not None:
                feeds.add(ballot.feed)
                votes.append(raw_event(ballot.feed, ballot.seq))
            elif ballot.decision is not None:
                federation_votes.append(ballot.member)
                # The child's certificate up to its last ballot decision this certificate needs:
                # a chain proves every earlier one too.
                existing = children.get(ballot.member)
                if existing is None or _chain_length(state, ballot.decision) > len(existing.chain):
                    children[ballot.member] = build_certificate(state, ballot.decision, raw_event, key_history, depth + 1)
        chain.append(PassedDecision(raw_event(passed.proposer, passed.seq), tuple(votes), tuple(federation_votes)))
    return Certificate(
        charter=federation.charter,
        chain=tuple(chain),
        keys=tuple(key_history(feed) for feed in sorted(feeds)),
        children=tuple(children[member] for member in sorted(children)),
    )


def _chain_length(state: FederationState, decision: bytes) -> int:
    federation = state.federations[state.decisions[decision].federation]
    return federation.passed.index(decision) + 1


def key_history_of(events: list[bytes]) -> KeyHistory:
    """A feed's key history from its events in order (the genesis first): for callers that hold the
    whole feed, as siblings do."""
    rotations = tuple(raw for raw in events[1:] if isinstance(decode_event(raw).body, KeyRotated))
    return KeyHistory(genesis=events[0], rotations=rotations)


