"""`tally restore`: rebuild a lost or stale home's own feed from a peer's copy.

How this works: the home keeps only its node key (and perhaps its config). We ask the peer which
feed that key signs (heads filtered by signing key), pull the whole feed in batches, and verify and
audit every batch exactly as replication does, into a fresh database that replaces the old one only
once it is complete. The signatures prove the feed is ours; the result is byte for byte what the
peer holds. Every read is signed with the home's node key (replication/reads.py): the peer serves
it because it holds the home's feed, whose current key that is.

What it never does:
- Shorten the feed. What the home already holds of its feed - the head of its old database's log
  (read through a read-only connection) and the acknowledged-head record beside it
  (node/store.py) - must be a prefix of the peer's copy: a peer that holds less is refused
  (`restore_would_lose`) before anything is pulled, and a peer that holds another event at a seq
  the home holds is refused as a fork (`restore_fork`) as soon as the pull reaches it. A refusal
  changes nothing in the home.
- Read a peer's answer without a bound: every answer is read in chunks up to
  `limits.replication_body_bytes_max` (as replication reads), and decoded into bounded types.
- Lose the old database. Its WAL is checkpointed into it first, and its files (`tally.db`, `-wal`,
  `-shm`) move aside together as `tally.db.before-restore` (or `-2`, `-3`, ... if an earlier
  restore left one), so it opens on its own with everything it held.
Once the new database is in place, the acknowledged-head record is brought up to its head.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import msgspec
from tallystick.node.home import Home, HomeError, NodeConfig, fsync_folder
from tallystick.node.replay import fold_received, start_received
from tallystick.node.store import (
    AcknowledgedLostError,
    AppendBatch,
    Store,
    read_acknowledged,
    read_only_connection,
    write_acknowledged,
)
from tallystick.protocol import limits
from tallystick.protocol.errors import LocalError, MalformedError, TooLargeError
from tallystick.protocol.ids import KeyPair, id_to_text
from tallystick.protocol.wire import events_decoder, heads_decoder

from .reads import node_identity, read_target, read_url, signed_read_headers

# Databases an earlier restore moved aside are kept; past this many, the operator clears them.
before_restore_copies_max = 100
# Read size of a peer's answer (each chunk is checked against the body limit).
answer_chunk_bytes = 64 * 1024


class RestoreError(LocalError):
    code = "restore"


class RestoreWouldLoseError(LocalError):
    code = "restore_would_lose"


class RestoreForkError(LocalError):
    code = "restore_fork"


class Restored(msgspec.Struct):
    node: str
    seq: int
    head: str


class _Held(msgspec.Struct, frozen=True):
    """A point of the own feed the home is known to hold: its seq and hash, and who says so."""

    feed: bytes
    seq: int
    hash: bytes
    source: str


async def restore_home(path: Path, peer_url: str) -> Restored:
    try:
        return await _restore_home(path, peer_url)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise RestoreError(f"cannot fetch the feed from {peer_url}: {error or type(error).__name__}") from None
    except msgspec.DecodeError as error:
        raise RestoreError(f"{peer_url} answered with something that is not a Tallystick node's: {error}") from None


async def read_bounded(response: aiohttp.ClientResponse, maximum: int = limits.replication_body_bytes_max) -> bytes:
    """A peer's answer, refused (TooLargeError) past `maximum` bytes, declared or read: memory stays
    bounded by the limit whatever the peer sends."""
    if response.content_length is not None and response.content_length > maximum:
        raise TooLargeError(f"the peer's answer of {response.content_length} bytes is over the limit of {maximum}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(answer_chunk_bytes):
        size += len(chunk)
        if size > maximum:
            raise TooLargeError(f"the peer's answer is over the limit of {maximum} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(decoder: msgspec.msgpack.Decoder, data: bytes, peer_url: str):  # type: ignore[no-untyped-def]
    try:
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise MalformedError(f"{peer_url} answered with something that does not decode: {error}") from None


def _old_head(database: Path) -> _Held | None:
    """The head of the own feed in the old database's log (the truth, whatever the projections say),
    read through a read-only connection (which never writes or checkpoints); None if there is no
    database, or none that can be read (a damaged disk: the record beside it still counts)."""
    if not database.exists():
        return None
    try:
        connection = read_only_connection(database)
    except sqlite3.Error:
        return None
    try:
        own = connection.execute("SELECT value FROM meta WHERE key = 'own_feed'").fetchone()
        if own is None:
            return None
        row = connection.execute(
            "SELECT seq, hash FROM log WHERE feed = ? ORDER BY seq DESC LIMIT 1", (own[0],)
        ).fetchone()
        return None if row is None else _Held(bytes(own[0]), int(row[0]), bytes(row[1]), "this home's tally.db")
    except sqlite3.Error:
        return None
    finally:
        connection.close()


def _acknowledged(database: Path) -> _Held | None:
    try:
        record = read_acknowledged(database)
    except AcknowledgedLostError:
        # A damaged record is the very case where the database may have lost its tail too: without
        # it, a peer that is behind could shorten the feed. The operator decides, knowing the peers.
        raise RestoreError(
            f"{database.name}.acknowledged is damaged, so restore cannot tell how far this node acknowledged "
            "its feed; restore from the peer you know holds the most, after moving that file aside "
            "(docs/operator.md §5.3)"
        ) from None
    if record is None:
        return None
    feed, seq, head = record
    return _Held(feed, seq, head, "the head this node acknowledged (tally.db.acknowledged)")


def _check_held_in(held: list[_Held], rows: list[tuple[bytes, int, bytes, int, str, bytes]], peer_url: str) -> None:
    """Refuse a pulled run that holds another event than the home at one of its `held` points."""
    hashes = {row[1]: row[2] for row in rows}
    for point in held:
        if point.seq in hashes and hashes[point.seq] != point.hash:
            raise RestoreForkError(
                f"{peer_url} holds another event at seq {point.seq} of this feed than {point.source}: the feed "
                "forked. Nothing was changed; restore from a peer that holds this home's events "
                "(docs/operator.md §5.3)"
            )


async def _restore_home(path: Path, peer_url: str) -> Restored:
    home = Home(path)
    if not home.node_key_path.exists():
        raise HomeError(f"{home.node_key_path} is missing: restore needs the node's key file (`tally key import`)")
    key = home.node_key()
    peer_url = peer_url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=limits.peer_request_timeout_ms / 1000)
    building = home.path / "tally.db.restoring"
    with home.lock():
        held = [point for point in (_old_head(home.database_path), _acknowledged(home.database_path)) if point]
        async with aiohttp.ClientSession(timeout=timeout) as session:
            peer_feed = await node_identity(session, peer_url)
            target = read_target("/replication/heads", {"key": id_to_text("k", key.public)})
            headers = signed_read_headers(key, node=peer_feed, target=target, now_ms=_now_ms())
            async with session.get(read_url(peer_url, target), headers=headers) as response:
                if response.status == 403:
                    raise RestoreError(
                        f"{peer_url} holds no feed signed by this home's node key, so it refuses the home's reads "
                        f"({await _refusal(response)}); try another peer: one that replicates this home"
                    )
                response.raise_for_status()
                heads = _decode(heads_decoder, await read_bounded(response), peer_url)
            if len(heads.heads) != 1:
                raise RestoreError(f"{peer_url} holds no feed signed by this home's node key; try another peer")
            feed, end = heads.heads[0].feed, heads.heads[0].seq
            for point in held:
                if point.feed != feed:
                    raise RestoreForkError(
                        f"{peer_url}'s feed signed by this node key is {id_to_text('n', feed)}, but {point.source} is "
                        f"of feed {id_to_text('n', point.feed)}. Nothing was changed; check the node key and the peer"
                    )
            furthest = max(held, key=lambda point: point.seq, default=None)
            if furthest is not None and furthest.seq > end:
                raise RestoreWouldLoseError(
                    f"{peer_url} holds this feed up to seq {end}, but {furthest.source} goes to seq {furthest.seq}: "
                    "restoring from it would lose events that were acknowledged. Nothing was changed; restore from "
                    "a peer that holds them all (`tally --node PEER status --json`, key feeds)"
                )
            aside = _free_aside_name(home)
            _remove_database_files(building)
            try:
                reader = _Reader(session, peer_url, peer_feed, key)
                received = await _pull(reader, building, feed, end, held)
                if received.head.signing_key != key.public:
                    raise RestoreError("the feed restored is not signed by this home's current node key")
            except BaseException:
                _remove_database_files(building)
                raise
        _move_old_database_aside(home.database_path, aside)
        os.replace(building, home.database_path)
        fsync_folder(home.path)
        write_acknowledged(home.database_path, received.head.feed, received.head.seq, received.head.head)
        if not home.config_path.exists():
            home.write_config(NodeConfig(peers=[peer_url]))
    return Restored(id_to_text("n", feed), received.head.seq, id_to_text("h", received.head.head))


@dataclass(frozen=True)
class _Reader:
    """Who reads from which peer: the session, the peer's URL and feed id, the home's node key."""

    session: aiohttp.ClientSession
    peer_url: str
    peer_feed: bytes | None
    key: KeyPair


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _refusal(response: aiohttp.ClientResponse) -> str:
    """The `error` code of a refusal, as the peer wrote it (a short bounded read), for the message."""
    try:
        document = msgspec.json.decode(await read_bounded(response, 16 * 1024))
    except (msgspec.DecodeError, TooLargeError):
        return f"HTTP {response.status}"
    code = document.get("error") if isinstance(document, dict) else None
    return code if isinstance(code, str) else f"HTTP {response.status}"


async def _pull(reader: _Reader, building: Path, feed: bytes, end: int, held: list[_Held]) -> AppendBatch:
    """The peer's copy of `feed` up to `end`, verified and audited batch by batch into a new
    database at `building`, each run checked against what the home holds."""
    # The database being built keeps no record of its own: the home's record is written once it is in place.
    store = await Store.open(building, acknowledged="off")
    try:
        received: AppendBatch | None = None
        seq = 1
        while seq <= end:  # every turn moves seq on by at least one event, or raises
            target = read_target(
                f"/replication/feeds/{id_to_text('n', feed)}",
                {"from": str(seq), "limit": str(limits.replication_batch_events_max)},
            )
            headers = signed_read_headers(reader.key, node=reader.peer_feed, target=target, now_ms=_now_ms())
            async with reader.session.get(read_url(reader.peer_url, target), headers=headers) as response:
                response.raise_for_status()
                message = _decode(events_decoder, await read_bounded(response), reader.peer_url)
            if message.feed != feed or message.start != seq or not message.events:
                raise MalformedError(f"{reader.peer_url} answered with another range than asked")
            batch = list(message.events)
            if received is None:
                received = start_received(batch.pop(0))
                _check_held_in(held, received.rows, reader.peer_url)
                await store.set_meta("own_feed", feed)
                await store.append_batch(received)
            if batch:
                received = fold_received(received.state, received.head, batch)
                _check_held_in(held, received.rows, reader.peer_url)
                await store.append_batch(received)
            seq = received.head.seq + 1
        assert received is not None  # end >= 1: the loop ran
        return received
    finally:
        await store.close()


def _database_files(database: Path) -> list[Path]:
    return [Path(f"{database}{suffix}") for suffix in ("", "-wal", "-shm")]


def _remove_database_files(database: Path) -> None:
    for file in _database_files(database):
        file.unlink(missing_ok=True)


def _free_aside_name(home: Home) -> Path:
    """Where the old database will move: the first name no earlier restore took."""
    for number in range(1, before_restore_copies_max + 1):
        aside = home.path / ("tally.db.before-restore" if number == 1 else f"tally.db.before-restore-{number}")
        if not any(file.exists() for file in _database_files(aside)):
            return aside
    raise RestoreError(
        f"{home.path} holds {before_restore_copies_max} databases earlier restores moved aside "
        "(tally.db.before-restore*); delete the ones you no longer need, then restore again"
    )


def _move_old_database_aside(old: Path, aside: Path) -> None:
    """Fold the old database's WAL into it, then move its files aside together."""
    if not any(file.exists() for file in _database_files(old)):
        return
    if old.exists():
        try:
            connection = sqlite3.connect(old)
            try:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                connection.close()
        except sqlite3.Error:
            pass  # a damaged database: moved as it is, all its files together, for whoever examines it
    for source, target in zip(_database_files(old), _database_files(aside), strict=True):
        if source.exists():
            os.replace(source, target)
    fsync_folder(old.parent)
