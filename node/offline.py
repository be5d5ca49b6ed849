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
from tallystick.ledger.digest import state_digest
from tallystick.ledger.transition import apply
from tallystick.protocol.codec import sign_event
from tallystick.protocol.errors import BadIdError, LocalError
from tallystick.protocol.events import KeyRotated
from tallystick.protocol.feed import FeedHead, verify_next
from tallystick.protocol.ids import KeyPair, hash32, id_to_text

from .home import Home, HomeError, fsync_folder, read_key, write_key
from .personal import TextsReport, check_boxes, read_data_keys
from .replay import LogCorruptError, rebuild, refold
from .store import BatchBuilder, Store


class FeedReport(msgspec.Struct):
    ok: bool
    feed: str
    events: int
    error: str | None = None
    seq: int | None = None


class VerifyReport(msgspec.Struct):
    """The own feed's report first, then every replicated feed held; and the own feed's sealed
    boxes against the home's key store and its backup (node/personal.py)."""

    feeds: list[FeedReport]
    texts: TextsReport | None = None

    @property
    def ok(self) -> bool:
        return all(feed.ok for feed in self.feeds) and (self.texts is None or not self.texts.broken)


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
    # "check": a database behind what the node acknowledged is refused (acknowledged_lost), and verify,
    # which may run beside a node, never writes the record itself.
    store = await Store.open(home.database_path, acknowledged="check")
    try:
        async with store.read_snapshot():
            own = await _own_feed(store, home)
            others = [head.feed for head in await store.heads() if head.feed != own]
            feeds = [await _verify_feed(store, feed, progress) for feed in [own, *others]]
            if not feeds[0].ok:
                return VerifyReport(feeds)  # the log itself is damaged: its boxes say nothing of the keys
            backup = home.config().key_backup
            keys = {**(read_data_keys(Path(backup)) if backup else {}), **read_data_keys(home.keys_path)}
            return VerifyReport(feeds, check_boxes(keys, await store.sealed_events(own)))
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
    """Append `KeyRotated` signed by the recovery key; write the new node key and recovery key.

    The order makes a crash at any point recoverable: the new keys are staged (node.new,
    recovery.key.new) and fsynced with their folder before the event is committed; after the commit
    they are renamed over the old ones. A crash before the commit leaves the old keys in force (the
    staged files are junk, replaced by the next rotation); a crash after it leaves some renames
    undone, and `finish_staged_rotation` (run by `tally serve` at start, and by the next rotation)
    does them, each staged file checked against the committed head."""
    home.check()
    recovery = read_key(recovery_key_path)
    new_signing, new_recovery = KeyPair.generate(), KeyPair.generate()
    with home.lock():
        home.refuse_if_snapshot()  # a rotation signs the next seq, which the snapshot's node may have used
        store = await Store.open(home.database_path)
        try:
            feed = await _own_feed(store, home)
            head = await store.head(feed)
            state = await store.load_state(feed)
            assert head is not None and state is not None
            finish_staged_rotation(home, head)
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
            staged_node, staged_recovery = home.staged_node_key_path, home.staged_recovery_key_path
            for staged in (staged_node, staged_recovery):
                staged.unlink(missing_ok=True)
            write_key(staged_node, new_signing)  # each fsynced
            write_key(staged_recovery, new_recovery)
            fsync_folder(home.path)  # the staged files exist durably before the rotation does
            rotation = BatchBuilder(state)
            rotation.add(apply(state, event), event, raw, new_head.head, None)
            await store.append_batch(rotation.batch(new_head))
            finish_staged_rotation(home, new_head)
            return Rotated(new_head.seq, id_to_text("k", new_signing.public), str(home.recovery_key_path))
        finally:
            await store.close()


def finish_staged_rotation(home: Home, head: FeedHead) -> None:
    """Complete the renames of a rotation committed in `head` (the feed's committed head): a staged
    node key that is the head's signing key replaces node.key, and a staged recovery key whose hash
    is the head's recovery-key hash replaces recovery.key, each on its own (a crash may fall between
    the two renames). A staged file the head does not name is left as it is: its rotation was never
    committed."""
    renamed = False
    staged_node, staged_recovery = home.staged_node_key_path, home.staged_recovery_key_path
    node_key = _staged_public_key(staged_node)
    if node_key is not None and node_key == head.signing_key:
        os.replace(staged_node, home.node_key_path)
        renamed = True
    recovery_key = _staged_public_key(staged_recovery)
    if recovery_key is not None and hash32(recovery_key) == head.recovery_key_hash:
        os.replace(staged_recovery, home.recovery_key_path)
        renamed = True
    if renamed:
        fsync_folder(home.path)


def _staged_public_key(path: Path) -> bytes | None:
    """The public key of a staged key file, or None if there is none or it is cut short: a file a
    crash cut short was staged by a rotation that was never committed (a committed one fsynced its
    files first), so it is junk, and the next rotation replaces it."""
    if not path.exists():
        return None
    try:
        return read_key(path).public
    except (HomeError, BadIdError):
        return None
