"""Sessions of an account with a key per device (node/sessions.py over ledger/visibility.py): each
device's key holds its own sessions; once a key is removed, the node's after-commit hook finds it
among the keys no longer a member's and ends its sessions, and only its own: the other devices stay
signed in. A rebind ends every device's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tallystick.ledger.visibility import reader_for_key
from tallystick.node.sessions import SessionStore
from tallystick.protocol.events import AddKey, AdmitMember, RebindKey, RemoveKey

from helpers.ledger import ClockedLedger, admin_key, key

start_ms = 1_700_000_000_000
phone, laptop, tablet = key("phone"), key("laptop"), key("tablet")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SessionStore]:
    opened = await SessionStore.open(tmp_path / "sessions.db")
    yield opened
    await opened.close()


def community() -> ClockedLedger:
    ledger = ClockedLedger(now_ms=start_ms)
    ledger.accept(admin_key, AdmitMember(member=phone.public, name="Bea"))
    ledger.accept(phone, AddKey(key=laptop.public))
    ledger.accept(phone, AddKey(key=tablet.public))
    return ledger


async def end_former(store: SessionStore, ledger: ClockedLedger) -> None:
    """What the node does after each commit (node/http/auth.py: sessions_lifetime)."""
    for former in store.keys_no_longer_members(ledger.state):
        await store.end_key(former)


async def test_every_devices_key_opens_sessions_that_read_as_the_one_member(store: SessionStore) -> None:
    ledger = community()
    for device in (phone, laptop, tablet):
        token, session = await store.open_session(device.public, "Firefox", start_ms)
        assert reader_for_key(ledger.state, session.key).member == phone.public
        assert await store.session(token, start_ms) is not None
    assert store.keys_no_longer_members(ledger.state) == []


async def test_removing_a_devices_key_ends_its_sessions_and_only_its(store: SessionStore) -> None:
    ledger = community()
    tokens = {device.public: (await store.open_session(device.public, "Firefox", start_ms))[0]
              for device in (phone, laptop, tablet)}
    ledger.accept(tablet, RemoveKey(key=laptop.public))
    assert store.keys_no_longer_members(ledger.state) == [laptop.public]
    await end_former(store, ledger)
    assert await store.session(tokens[laptop.public], start_ms) is None
    assert await store.session(tokens[phone.public], start_ms) is not None
    assert await store.session(tokens[tablet.public], start_ms) is not None


async def test_a_rebind_ends_the_sessions_of_every_device(store: SessionStore) -> None:
    ledger = community()
    tokens = [(await store.open_session(device.public, "Firefox", start_ms))[0] for device in (phone, laptop, tablet)]
    ledger.accept(laptop, RebindKey(new_key=key("new").public))
    await end_former(store, ledger)
    assert [await store.session(token, start_ms) for token in tokens] == [None, None, None]
