"""Invitations through a real Sequencer on a real Store (node/sequencer.py, node/personal.py): a
join is signed by the invitation's one-time key, its name is sealed under the new member's data key
and checked by the node's own rules, and a join that names no open invitation is refused before any
data key is made for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import InvitationUnknownError, InvitationUsedError, NameTakenError
from tallystick.ledger.names import BadNameError
from tallystick.node.replay import rebuild
from tallystick.protocol.codec import decode_event, sign_member_intent
from tallystick.protocol.events import ActSealed, Invite, Join, RevokeInvitation
from tallystick.protocol.ids import KeyPair

from helpers.sequencer import running_node, start_ms

week_ms = 7 * 24 * 3600 * 1000


async def _invite(act, admin: KeyPair, invitation: KeyPair, **fields: object) -> int:  # type: ignore[no-untyped-def]
    return await act(admin, Invite(invitation=invitation.public, expires_ms=start_ms + week_ms, **fields))  # type: ignore[arg-type]


def _join(feed: bytes, invitation: KeyPair, member: KeyPair, name: str, nonce: int = 1) -> bytes:
    return sign_member_intent(invitation, feed=feed, nonce=nonce, action=Join(member=member.public, name=name))


async def test_a_join_is_sealed_under_the_new_members_key_and_projected(tmp_path: Path) -> None:
    async with running_node(tmp_path, debit_limit_minor=10_000, credit_ceiling_minor=50_000) as (
            store, sequencer, feed, members, act, _clock):
        invitation, device = KeyPair(b"i" * 32), KeyPair(b"d" * 32)
        await _invite(act, members[0], invitation, debit_limit_minor=2500)
        appended = await sequencer.submit(_join(feed, invitation, device, "Zoë"))
        state = sequencer.state
        assert state.members[device.public].active and state.accounts[device.public].debit_limit_minor == 2500
        assert sequencer.directory is not None and sequencer.directory.name(state.members[device.public]) == "Zoë"
        (raw,) = [bytes(row[0]) for row in await store.query(
            "SELECT bytes FROM log WHERE feed = ? AND seq = ? LIMIT 1", (feed, appended.seq), 1)]
        body = decode_event(raw).body
        assert isinstance(body, ActSealed) and body.subject == device.public and "Zoë".encode() not in raw
        loaded = await store.load_state(feed)
        assert loaded is not None and loaded.members[device.public] == state.members[device.public]
        assert loaded.accounts[device.public] == state.accounts[device.public]
        assert loaded.keys[invitation.public] == device.public  # the used key stays bound after a restart


async def test_a_second_join_and_a_join_with_no_invitation_are_refused_before_a_key_is_made(tmp_path: Path) -> None:
    async with running_node(tmp_path, debit_limit_minor=10_000, credit_ceiling_minor=50_000) as (
            _store, sequencer, feed, members, act, _clock):
        invitation = KeyPair(b"i" * 32)
        await _invite(act, members[0], invitation)
        await sequencer.submit(_join(feed, invitation, KeyPair(b"d" * 32), "Zed"))
        seq, directory = sequencer.head.seq, sequencer.directory
        assert directory is not None
        late = KeyPair(b"l" * 32)
        with pytest.raises(InvitationUsedError):
            await sequencer.submit(_join(feed, invitation, late, "Late", nonce=2))
        with pytest.raises(InvitationUnknownError):
            await sequencer.submit(_join(feed, KeyPair(b"u" * 32), late, "Late"))
        assert directory.keys.get(late.public) is None and sequencer.head.seq == seq


async def test_the_node_checks_a_joining_names_form_and_look_alikes_among_committed_names(tmp_path: Path) -> None:
    async with running_node(tmp_path, debit_limit_minor=10_000, credit_ceiling_minor=50_000) as (
            _store, sequencer, feed, members, act, _clock):
        invitation = KeyPair(b"i" * 32)
        await _invite(act, members[0], invitation)
        seq = sequencer.head.seq
        with pytest.raises(NameTakenError):
            await sequencer.submit(_join(feed, invitation, KeyPair(b"d" * 32), "M0"))  # m0 is a member's
        with pytest.raises(BadNameError):
            await sequencer.submit(_join(feed, invitation, KeyPair(b"d" * 32), "two  spaces", nonce=2))
        assert sequencer.head.seq == seq and invitation.public in sequencer.state.invitations


async def test_open_invitations_survive_a_restart(tmp_path: Path) -> None:
    """The store projects each invitation as it is made, withdrawn and used: the state a restarted
    node loads is the one it had, digest and all, and a rebuild from the log writes the same rows."""
    async with running_node(tmp_path, debit_limit_minor=10_000, credit_ceiling_minor=50_000) as (
            store, sequencer, feed, members, act, _clock):
        kept, withdrawn, used = KeyPair(b"i" * 32), KeyPair(b"w" * 32), KeyPair(b"u" * 32)
        for invitation in (kept, withdrawn, used):
            await _invite(act, members[0], invitation, credit_ceiling_minor=700)
        await act(members[0], RevokeInvitation(invitation=withdrawn.public))
        await sequencer.submit(_join(feed, used, KeyPair(b"d" * 32), "Yara"))
        state = sequencer.state
        assert set(state.invitations) == {kept.public, withdrawn.public} and state.invitations[withdrawn.public].revoked
        loaded = await store.load_state(feed)
        assert loaded is not None and loaded.invitations == state.invitations
        assert state_digest(loaded) == state_digest(state)
        rows = await store.query("SELECT key, record FROM invitations WHERE feed = ? ORDER BY key", (feed,), 10)
        await rebuild(store, feed)
        assert await store.query("SELECT key, record FROM invitations WHERE feed = ? ORDER BY key", (feed,), 10) == rows
