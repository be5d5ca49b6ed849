"""The sessions file (node/sessions.py) on a real SQLite file: its bounds, expiries and single use."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tallystick.node.sessions import SessionStore, label_of, session_touch_ms
from tallystick.protocol import limits

start_ms = 1_700_000_000_000
alice, bob = b"a" * 32, b"b" * 32


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SessionStore]:
    opened = await SessionStore.open(tmp_path / "sessions.db")
    yield opened
    await opened.close()


def rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


async def test_signing_in_past_the_bound_ends_the_members_oldest_session_only(store: SessionStore) -> None:
    bobs_token, _ = await store.open_session(bob, "Firefox", start_ms)
    tokens = [(await store.open_session(alice, "Firefox", start_ms + i))[0]
              for i in range(limits.sessions_per_member_max + 1)]
    now = start_ms + limits.sessions_per_member_max + 1
    assert await store.session(tokens[0], now) is None
    assert all([await store.session(token, now) is not None for token in tokens[1:]])
    assert len(await store.sessions_of(alice, now)) == limits.sessions_per_member_max
    assert await store.session(bobs_token, now) is not None


async def test_a_session_ends_when_idle_and_at_its_absolute_expiry(store: SessionStore) -> None:
    token, session = await store.open_session(alice, "Firefox", start_ms)
    assert session.expires_ms == start_ms + limits.session_idle_ms
    assert await store.session(token, start_ms + limits.session_idle_ms) is None  # idle too long

    token, _ = await store.open_session(alice, "Firefox", start_ms)
    seen = start_ms
    while seen + limits.session_idle_ms - 1 < start_ms + limits.session_max_ms:
        seen += limits.session_idle_ms - 1  # seen just in time, again and again
        session = await store.session(token, seen)
        assert session is not None and session.last_seen_ms == seen
        assert session.expires_ms <= start_ms + limits.session_max_ms
    assert await store.session(token, start_ms + limits.session_max_ms) is None  # however active


async def test_a_request_within_a_minute_of_the_last_writes_nothing(store: SessionStore) -> None:
    token, _ = await store.open_session(alice, "Firefox", start_ms)
    session = await store.session(token, start_ms + session_touch_ms - 1)
    assert session is not None and session.last_seen_ms == start_ms


async def test_a_challenge_is_good_once_and_only_until_it_expires(store: SessionStore) -> None:
    value, expires_ms = await store.issue_challenge(start_ms)
    assert expires_ms == start_ms + limits.sign_in_challenge_ms
    assert await store.take_challenge(value, start_ms + 1)
    assert not await store.take_challenge(value, start_ms + 2)
    late, _ = await store.issue_challenge(start_ms)
    assert not await store.take_challenge(late, start_ms + limits.sign_in_challenge_ms)
    assert not await store.take_challenge(b"x" * 32, start_ms)


async def test_a_link_token_is_good_once_for_its_key_and_is_no_challenge(store: SessionStore) -> None:
    token, _ = await store.issue_challenge(start_ms, key=alice)
    assert not await store.take_challenge(token, start_ms)  # a link is not a challenge to sign
    assert await store.take_link(token, start_ms) == alice
    assert await store.take_link(token, start_ms) is None
    challenge, _ = await store.issue_challenge(start_ms)
    assert await store.take_link(challenge, start_ms) is None  # nor a challenge a link


async def test_challenges_are_bounded_and_the_oldest_go(store: SessionStore, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setattr(limits, "sign_in_challenges_max", 3)
    values = [(await store.issue_challenge(start_ms + i))[0] for i in range(5)]
    assert rows(tmp_path / "sessions.db", "challenges") == 3
    assert not await store.take_challenge(values[0], start_ms + 5)
    assert await store.take_challenge(values[4], start_ms + 5)


async def test_expired_rows_are_purged_when_a_row_is_added(store: SessionStore, tmp_path: Path) -> None:
    await store.open_session(alice, "Firefox", start_ms)
    await store.issue_challenge(start_ms)
    later = start_ms + limits.session_max_ms
    await store.open_session(bob, "Firefox", later)
    assert rows(tmp_path / "sessions.db", "sessions") == 1
    assert rows(tmp_path / "sessions.db", "challenges") == 0
    assert store.keys == {bob}


async def test_the_file_holds_no_token_and_a_session_ends_only_for_its_own_key(
    store: SessionStore, tmp_path: Path
) -> None:
    token, session = await store.open_session(alice, "Firefox", start_ms)
    await store._connection.execute("PRAGMA wal_checkpoint(FULL)")
    assert token not in (tmp_path / "sessions.db").read_bytes()
    assert not await store.end(session.id, bob)
    assert await store.end(session.id, alice)
    assert await store.session(token, start_ms) is None


async def test_ending_a_keys_sessions_ends_them_all(store: SessionStore) -> None:
    for _ in range(3):
        await store.open_session(alice, "Firefox", start_ms)
    assert await store.end_key(alice) == 3
    assert await store.sessions_of(alice, start_ms) == [] and alice not in store.keys


def test_a_label_names_the_browser_and_system_and_nothing_more() -> None:
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")
    iphone = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.5 Mobile/15E148 Safari/604.1")
    assert [label_of(ua) for ua in (firefox, chrome, iphone, "", "x" * 10_000)] == [
        "Firefox on Linux", "Chrome on Windows", "Safari on iOS", "a browser", "a browser"]
