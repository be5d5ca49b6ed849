"""The state digest a checkpoint carries: BLAKE2b-256 of the canonical encoding of the derived
state. docs/protocol.md gives the layout. No I/O, no clock.
"""

from __future__ import annotations

from msgspec import Struct
from tallystick.protocol.codec import encode
from tallystick.protocol.ids import hash32

from . import decisions as deciding
from . import membership
from . import payments as paying
from . import shares as sharing
from .model import Member, Rules, State, Visibility


class _DigestEntry(Struct, array_like=True):
    member: bytes
    name: str
    key: bytes
    role: str
    active: bool
    balance_minor: int
    debit_limit_minor: int | None
    credit_ceiling_minor: int | None


class _DigestEntryWithDevices(_DigestEntry):
    """A member entry of an account with more than one current key: its further keys (oldest first)
    after the eight fields. Only then, so every entry of an account with one key is as before."""

    devices: list[bytes]


def _entry(state: State, member_id: bytes, member: Member) -> _DigestEntry:
    account = state.accounts[member_id]
    fields = (member_id, member.name, member.key, member.role, member.active, account.balance_minor,
              account.debit_limit_minor, account.credit_ceiling_minor)
    if member.devices:
        return _DigestEntryWithDevices(*fields, list(member.devices))
    return _DigestEntry(*fields)


def state_digest(state: State) -> bytes:
    """BLAKE2b-256 of the canonical encoding of the derived state (`state_preimage`)."""
    return hash32(state_preimage(state))


def state_preimage(state: State) -> bytes:
    """The canonical encoding the digest hashes: the community's settings and every member with
    their account (and their further keys, if any), sorted by member id, then the elements a
    community that uses them has. docs/protocol.md §11 gives the layout."""
    community = state.community
    entries = [_entry(state, member_id, member) for member_id, member in sorted(state.members.items())]
    preimage: list = [
        state.feed,
        state.seq,
        [community.name, community.unit_code, community.unit_decimals, community.debit_limit_minor,
         community.credit_ceiling_minor, community.checkpoint_interval_events],
        entries,
    ]
    if state.decisions or state.delegations or state.rules != Rules():
        # Only once the community has used decisions, so that every earlier digest (and golden
        # vector) is unchanged: the rules, every decision with its votes and outcome, every delegation.
        rules: list = [state.rules.admission, state.rules.quorum_bp, state.rules.threshold_bp,
                       None if state.levy is None else [state.levy.rate_bp, state.levy.min_minor, state.levy.max_minor]]
        if state.visibility != Visibility():
            # Only a passed decision changes it (so this element is present), and only while it
            # differs from the default: every digest from before the policy is unchanged.
            rules.append([getattr(state.visibility, kind) for kind in Visibility.__struct_fields__])
        preimage.append(
            [
                rules,
                [
                    [seq, d.proposer, d.decision_type, d.deadline_ms, d.quorum_bp, d.threshold_bp, d.outcome,
                     sorted((member, ballot.position, list(ballot.options)) for member, ballot in d.votes.items()),
                     *deciding.electorate_digest(d)]
                    for seq, d in sorted(state.decisions.items())
                ],
                sorted((member, sorted(topics.items())) for member, topics in state.delegations.items()),
            ]
        )
    if state.shares.enterprises or state.federation_outbox or state.payments.trade:
        # Only once the community has an enterprise or a federation act waiting, so every earlier
        # digest is unchanged.
        if len(preimage) == 4:
            preimage.append(None)
        preimage.append(sharing.digest_part(state))
        if state.federation_outbox or state.payments.trade:
            preimage.append([encode(body) for body in state.federation_outbox])
        if state.payments.trade:
            preimage.append(paying.digest_part(state))
    if state.invitations:
        # Only while the community holds an invitation, so every earlier digest is unchanged; each
        # element before it that is absent is nil.
        preimage.extend([None] * (8 - len(preimage)))
        preimage.append(membership.invitations_digest_part(state))
    return encode(preimage)
