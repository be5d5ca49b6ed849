"""`tally backup DIR OUT` and `tally resume DIR`: snapshots of a home that cannot fork its feed.

How this works: a copy of a home is dangerous in one way. Started, it signs events at seqs after
its last one, but the node it was copied from may have given those seqs out already (acknowledged
payments, pushed to peers): two events at one seq, a fork that freezes the feed on every node that
sees both. The acknowledged record (node/store.py) catches an old database put back in a home that
kept its record, but a whole copy carries its own record and passes.

So `tally backup` marks what it makes. It copies the database with SQLite's online backup (one read
transaction of the running node's database, so the copy is consistent while the node writes; the
node is never stopped or locked), plus `node.key` and `config.json`, never `admin.key` or
`recovery.key`, which belong offline, and writes `snapshot.json`: a copy of feed F up to seq N,
taken at T. It leaves out the acknowledged record: a snapshot copied back over a home that kept
its own record is refused by that record as well (`acknowledged_lost`). The copy is built in a
temporary folder beside OUT, synced, and renamed into place, so OUT exists whole or not at all.

`tally serve` refuses a home holding `snapshot.json` (node/home.py, `refuse_if_snapshot`) until
`tally resume` clears it, which it does only:
- `--from URL`: when a node that replicates this feed shows it holds nothing newer. The peer's head
  of the feed is asked for; if the peer holds more, the feed is first restored from it (`tally
  restore`: verified, refusing a fork or a shorter copy); then its head must be at or before the
  home's, with the same event at that seq. A peer that holds no copy of the feed proves nothing and
  is refused.
- `--no-newer-copy`: on the operator's word that no copy newer than this one exists anywhere (the
  node's disk is gone and no node replicated it). If one does, the feed forks (docs/operator.md §5.4).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import click
import msgspec
from tallystick.node.home import Home, HomeError, Snapshot, fsync_folder, publish_folder, write_key
from tallystick.node.store import read_only_connection
from tallystick.protocol import limits
from tallystick.protocol.errors import LocalError
from tallystick.protocol.ids import KeyPair, id_to_text
from tallystick.protocol.wire import heads_decoder

from .client import check_node_url
from .common import mistakes_exit_cleanly, now_ms
from .terminal import visible


class BackupError(LocalError):
    code = "backup"


class ResumeError(LocalError):
    """A peer does not show that it holds nothing newer of this feed (or holds another event)."""

    code = "resume"


def _taken_text(taken_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(taken_ms / 1000))


# ---- the database's own head ----------------------------------------------------------------------


def _own_head(database: Path) -> tuple[bytes, int, bytes]:
    """(own feed, its last seq in the log, that event's hash), read without writing."""
    try:
        connection = read_only_connection(database)
    except sqlite3.Error as error:
        raise HomeError(f"cannot read {database}: {error}") from None
    try:
        return _own_head_of(connection, database)
    finally:
        connection.close()


def _own_head_of(connection: sqlite3.Connection, database: Path) -> tuple[bytes, int, bytes]:
    try:
        feed = connection.execute("SELECT value FROM meta WHERE key = 'own_feed'").fetchone()
        row = None if feed is None else connection.execute(
            "SELECT seq, hash FROM log WHERE feed = ? ORDER BY seq DESC LIMIT 1", (feed[0],)).fetchone()
    except sqlite3.Error as error:
        raise HomeError(f"{database} is not a Tallystick database that can be read: {error}") from None
    if feed is None or row is None:
        raise HomeError(f"{database} holds no feed of its own; create a home with `tally init`")
    return bytes(feed[0]), int(row[0]), bytes(row[1])


def _hash_at(database: Path, feed: bytes, seq: int) -> bytes | None:
    connection = read_only_connection(database)
    try:
        row = connection.execute("SELECT hash FROM log WHERE feed = ? AND seq = ?", (feed, seq)).fetchone()
        return None if row is None else bytes(row[0])
    finally:
        connection.close()


# ---- backup -----------------------------------------------------------------------------------------


def backup_home(source: Path, out: Path, now_ms: int) -> Snapshot:
    """Write a snapshot of the home at `source` into the new folder `out` (see the top)."""
    home = Home(source)
    home.check()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} already exists and is not empty; a backup never writes over another: name a new folder")
    if out.resolve().is_relative_to(home.path.resolve()):
        raise BackupError(f"{out} is inside the home {source}; write the backup outside it, on another disk if you can")
    key = home.node_key()
    config = home.config_path.read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".tally-backup-", dir=out.parent))
    try:
        copy = building / home.database_path.name
        _copy_database(home.database_path, copy)
        feed, seq, head = _own_head(copy)
        write_key(building / home.node_key_path.name, key)
        _write_synced(building / home.config_path.name, config)
        snapshot = Snapshot(id_to_text("n", feed), seq, id_to_text("h", head), now_ms)
        _write_synced(building / home.snapshot_path.name, msgspec.json.format(msgspec.json.encode(snapshot)) + b"\n")
        publish_folder(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return snapshot


def _copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup in one step: one read transaction of `source`, so the copy is one
    committed state however the running node writes meanwhile; then checked and synced."""
    try:
        reader = read_only_connection(source)
    except sqlite3.Error as error:
        raise HomeError(f"cannot read {source}: {error}") from None
    # The copy holds the members' names and balances: readable by its owner only, as the key files.
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    writer = sqlite3.connect(target)
    try:
        reader.backup(writer)
        found = writer.execute("PRAGMA quick_check").fetchone()
        if found is None or found[0] != "ok":
            raise BackupError(f"the copy of {source} fails SQLite's check ({found}); run `tally verify` on the home")
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as error:
        raise BackupError(f"cannot copy {source}: {error}") from None
    finally:
        writer.close()
        reader.close()
    for leftover in (Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    descriptor = os.open(target, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_synced(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


# ---- resume -----------------------------------------------------------------------------------------


class Resumed(msgspec.Struct):
    node: str
    seq: int
    head: str
    # How the operator showed nothing newer exists: the peer's URL and the seq it holds, or None.
    peer: str | None
    peer_seq: int | None
    restored: bool


async def _peer_head(peer_url: str, feed: bytes, key: KeyPair) -> tuple[int, bytes] | None:
    """The peer's head (seq, hash) of `feed`, or None if it holds no copy. Heads are paged by feed
    id, so the page after the id just below `feed` starts with `feed` if the peer holds it. The read
    is signed with the home's node key (replication/reads.py): a peer serves heads only to a node
    whose feed it holds."""
    import aiohttp  # here, not at import: every `tally` command would pay for it
    from tallystick.replication.reads import node_identity, read_target, read_url, signed_read_headers
    from tallystick.replication.restore import read_bounded

    number = int.from_bytes(feed, "big")
    params = {"limit": "1"}
    if number > 0:
        params["after"] = id_to_text("n", (number - 1).to_bytes(len(feed), "big"))
    timeout = aiohttp.ClientTimeout(total=limits.peer_request_timeout_ms / 1000)
    target = read_target("/replication/heads", params)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            peer_feed = await node_identity(session, peer_url)
            headers = signed_read_headers(key, node=peer_feed, target=target, now_ms=now_ms())
            async with session.get(read_url(peer_url, target), headers=headers) as response:
                if response.status == 403:
                    raise ResumeError(
                        f"{peer_url} holds no copy of this home's feed signed by its node key, so it refuses the "
                        "home's reads (403); ask a node that replicates this feed (peers or follow list this node)"
                    )
                if response.status != 200:
                    raise ResumeError(
                        f"{peer_url} answered {response.status} to /replication/heads; is it a Tallystick node?"
                    )
                body = await read_bounded(response)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise ResumeError(f"no node answers at {peer_url} ({error or type(error).__name__}); give a peer that is up") from None
    try:
        heads = heads_decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise ResumeError(f"{peer_url} answered with something that is not a Tallystick node's heads") from None
    for head in heads.heads:
        if head.feed == feed:
            return head.seq, head.head
    return None


async def resume_home(path: Path, peer_url: str | None) -> Resumed:
    """Clear `path`'s snapshot mark once `peer_url` shows it holds nothing newer (restoring from it
    first if it holds more), or, with `peer_url` None, on the operator's word."""
    from tallystick.replication.restore import restore_home

    home = Home(path)
    home.check()
    snapshot = home.snapshot()
    if snapshot is None:
        raise HomeError(f"{path} is not a snapshot (it has no {home.snapshot_path.name}); start it with `tally serve {path}`")
    feed, _, _ = _own_head(home.database_path)
    if id_to_text("n", feed) != snapshot.feed:
        raise ResumeError(f"{home.snapshot_path} names feed {snapshot.feed}, but the database holds "
                          f"{id_to_text('n', feed)}; this folder was mixed from two homes")
    restored = False
    peer_seq: int | None = None
    if peer_url is not None:
        found = await _peer_head(peer_url, feed, home.node_key())
        if found is None:
            raise ResumeError(
                f"{peer_url} holds no copy of feed {snapshot.feed}, so it cannot show nothing newer exists; "
                "ask a node that replicates this feed (peers or follow list this node)")
        if found[0] > _own_head(home.database_path)[1]:
            await restore_home(home.path, peer_url)  # verified; refuses a fork and a shorter copy
            restored = True
    with home.lock():
        if home.snapshot() is None:
            raise HomeError(f"{path} is not a snapshot any more (another `tally resume` cleared it)")
        feed, seq, head = _own_head(home.database_path)
        if peer_url is not None:
            found = await _peer_head(peer_url, feed, home.node_key())  # asked again: it may have learned more meanwhile
            if found is None:
                raise ResumeError(f"{peer_url} no longer holds feed {snapshot.feed}; ask another node that replicates it")
            peer_seq, peer_hash = found
            if peer_seq > seq:
                raise ResumeError(
                    f"{peer_url} now holds feed {snapshot.feed} up to seq {peer_seq}, past this home's {seq}: "
                    "the node this was copied from may be running; stop it, or run this again to fetch the rest")
            if _hash_at(home.database_path, feed, peer_seq) != peer_hash:
                raise ResumeError(
                    f"{peer_url} holds another event at seq {peer_seq} of feed {snapshot.feed} than this home: the "
                    "feed forked; nothing was changed (docs/operator.md §5.3)")
        home.snapshot_path.unlink()
        fsync_folder(home.path)
    return Resumed(id_to_text("n", feed), seq, id_to_text("h", head), peer_url, peer_seq, restored)


# ---- the commands -----------------------------------------------------------------------------------


@click.command("backup")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {node, seq, head, taken_ms} as JSON.")
@mistakes_exit_cleanly
def backup(directory: Path, out: Path, as_json: bool) -> None:
    """Snapshot the home DIRECTORY into the new folder OUT, while its node runs.

    OUT holds a consistent copy of the database, node.key and config.json (not admin.key or
    recovery.key), marked as a snapshot: `tally serve OUT` refuses it until `tally resume` shows
    nothing newer exists. Keep OUT on another disk or machine; it holds the node key (mode 0600).

    Example: tally backup /srv/riverside /backups/riverside-$(date +%F)
    """
    snapshot = backup_home(directory, out, now_ms())
    if as_json:
        click.echo(msgspec.json.encode(msgspec.structs.asdict(snapshot)).decode())
        return
    click.echo(f"{visible(str(out))}: a snapshot of {snapshot.feed} at seq {snapshot.seq}, taken {_taken_text(snapshot.taken_ms)}")
    click.echo(f"To serve it, first: tally resume {visible(str(out))} --from PEER_URL (docs/operator.md §5.4)")


@click.command("resume")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--from", "peer_url", metavar="URL", default=None,
              help="A node that replicates this feed: anything newer it holds is restored first.")
@click.option("--no-newer-copy", is_flag=True,
              help="Resume on your word that no newer copy of this feed exists anywhere (else it forks).")
@click.option("--json", "as_json", is_flag=True, help="Print {node, seq, head, peer, peer_seq, restored} as JSON.")
@mistakes_exit_cleanly
def resume(directory: Path, peer_url: str | None, no_newer_copy: bool, as_json: bool) -> None:
    """Let `tally serve` start a home made by `tally backup`.

    With --from URL, a node that replicates this feed must show it holds nothing newer than the
    home; if it holds more, that is restored first (verified, as `tally restore`). With
    --no-newer-copy, you state that no newer copy exists anywhere: if one does, the feed forks.

    Example: tally resume /srv/riverside --from https://replica.riverside.example
    """
    if (peer_url is None) == (not no_newer_copy):
        raise ResumeError("give one of --from URL (a node that replicates this feed) or --no-newer-copy, not both")
    if peer_url is not None:
        peer_url = check_node_url(peer_url, "--from")
    resumed = asyncio.run(resume_home(directory, peer_url))
    if as_json:
        click.echo(msgspec.json.encode(msgspec.structs.asdict(resumed)).decode())
        return
    if resumed.peer is None:
        click.echo(f"resumed {visible(str(directory))} at seq {resumed.seq} on your word that no newer copy of "
                   f"{resumed.node} exists; if one does, the feed forks (docs/operator.md §5.4)", err=True)
    else:
        fetched = " (restored from it first)" if resumed.restored else ""
        click.echo(f"resumed {visible(str(directory))} at seq {resumed.seq}: {visible(resumed.peer)} holds "
                   f"{resumed.node} up to seq {resumed.peer_seq}{fetched}")
    click.echo(f"Start it with: tally serve {visible(str(directory))}")


commands = (backup, resume)
