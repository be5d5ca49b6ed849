"""Offline operations on a stopped node's home: verify, rebuild and key rotation.

How this works: each opens the home's store directly (rebuild and rotation take the home's lock, so
they refuse to run beside `tally serve`; verify only reads). Verify refolds every feed held with full
checks and compares the result with the live projections; rebuild refolds the own feed with the
domain's rules and replaces the projections in one transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import msgspec
from tallystick.protocol.codec import sign_event
from tallystick.protocol.errors import LocalError
from tallystick.protocol.events import KeyRotated
from tallystick.protocol.feed import FeedHead, verify_next
from tallystick.protocol.ids import KeyPair, hash32, id_to_text

from .domain import apply, state_digest
from .home import Home, HomeError, read_key, write_key
from .replay import LogCorruptError, rebuild, refold
from .store import Store


class FeedReport(msgspec.Struct):
    ok: bool
    feed: str
    events: int
    error: str | None = None
    seq: int | None = None


class VerifyReport(msgspec.Struct):
    """The own feed's report first, then every replicated feed held."""

    feeds: list[FeedReport]

    @property
    def ok(self) -> bool:
        return all(feed.ok for feed in self.feeds)


async def _own_feed(store: Store, home: Home) -> bytes:
    feed = await store.own_feed()
    if feed is None:
        raise HomeError(f"{home.path} holds no feed")
    return feed


async def _verify_feed(store: Store, feed: bytes, progress: Callable[[int], None] | None) -> FeedReport:
    feed_text = id_to_text("n", feed)
    try:
        state, head = await refold(store, feed, verify=True, progress=progress)
    except LogCorruptError as error:
        return FeedReport(False, feed_text, error.seq - 1, error.message, error.seq)
    live_state = await store.load_state(feed)
    live_head = await store.head(feed)
    if live_state is None or live_head != head or state_digest(live_state) != state_digest(state):
        return FeedReport(False, feed_text, head.seq, "the projections differ from the log; run `tally rebuild`")
    return FeedReport(True, feed_text, head.seq)


async def verify_home(home: Home, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Refold every feed held with every check; compare each with its live projections."""
    home.check()
    store = await Store.open(home.database_path)
    try:
        async with store.read_snapshot():
            own = await _own_feed(store, home)
            others = [head.feed for head in await store.heads() if head.feed != own]
            return VerifyReport([await _verify_feed(store, feed, progress) for feed in [own, *others]])
    finally:
        await store.close()


async def rebuild_home(home: Home, progress: Callable[[int], None] | None = None) -> int:
    home.check()
    with home.lock():
        store = await Store.open(home.database_path)
        try:
            feed = await _own_feed(store, home)
            _state, head = await rebuild(store, feed, progress)
            return head.seq
        finally:
            await store.close()


class RecoveryKeyError(LocalError):
    code = "wrong_recovery_key"


class Rotated(msgspec.Struct):
    seq: int
    signing_key: str
    recovery_key_file: str


async def rotate_key(home: Home, recovery_key_path: Path, now_ms: int) -> Rotated:
    """Append `KeyRotated` signed by the recovery key; write the new node key and recovery key."""
    home.check()
    recovery = read_key(recovery_key_path)
    new_signing, new_recovery = KeyPair.generate(), KeyPair.generate()
    with home.lock():
        store = await Store.open(home.database_path)
        try:
            feed = await _own_feed(store, home)
            head = await store.head(feed)
            state = await store.load_state(feed)
            assert head is not None and state is not None
            if hash32(recovery.public) != head.recovery_key_hash:
                raise RecoveryKeyError(
                    f"{recovery_key_path} is not this feed's current recovery key; use the one `tally init` "
                    "(or the last rotation) wrote"
                )
            body = KeyRotated(
                recovery_key=recovery.public,
                signing_key=new_signing.public,
                next_recovery_key_hash=hash32(new_recovery.public),
            )
            raw = sign_event(recovery, feed=feed, seq=head.seq + 1, prev=head.head, ts=max(now_ms, head.ts), body=body)
            new_head, event = verify_next(head, raw)
            # Stage the new keys first: a crash after the append leaves them beside the old ones.
            staged_node, staged_recovery = home.node_key_path.with_suffix(".new"), home.path / "recovery.key.new"
            for staged in (staged_node, staged_recovery):
                staged.unlink(missing_ok=True)
            write_key(staged_node, new_signing)
            write_key(staged_recovery, new_recovery)
            await store.append(
                [(feed, new_head.seq, new_head.head, event.ts, "key_rotated", raw)],
                apply(state, event),
                [],
                new_head,
            )
            os.replace(staged_node, home.node_key_path)
            os.replace(staged_recovery, home.recovery_key_path)
            return Rotated(new_head.seq, id_to_text("k", new_signing.public), str(home.recovery_key_path))
        finally:
            await store.close()


def finish_staged_rotation(home: Home, head: FeedHead) -> None:
    """If a rotation crashed between its append and its renames, complete the renames."""
    staged_node = home.node_key_path.with_suffix(".new")
    if staged_node.exists() and read_key(staged_node).public == head.signing_key:
        os.replace(staged_node, home.node_key_path)
        staged_recovery = home.path / "recovery.key.new"
        if staged_recovery.exists():
            os.replace(staged_recovery, home.recovery_key_path)
