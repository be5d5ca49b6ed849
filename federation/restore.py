"""`tally restore`: rebuild a lost or stale home's own feed from a peer's copy.

How this works: the home keeps only its node key (and perhaps its config). We ask the peer which
feed that key signs (heads filtered by signing key), pull the whole feed in batches, and verify and
audit every batch exactly as replication does, into a fresh database that replaces the old one only
once it is complete. The signatures prove the feed is ours; the result is byte for byte what the
peer holds. An old database is kept beside it as tally.db.before-restore.
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import msgspec
from tallystick.node.home import Home, HomeError, NodeConfig
from tallystick.node.replay import fold_received, start_received
from tallystick.node.store import Store
from tallystick.protocol import limits
from tallystick.protocol.errors import LocalError, MalformedError
from tallystick.protocol.ids import id_to_text
from tallystick.protocol.wire import events_decoder, heads_decoder


class RestoreError(LocalError):
    code = "restore"


class Restored(msgspec.Struct):
    node: str
    seq: int
    head: str


async def restore_home(path: Path, peer_url: str) -> Restored:
    try:
        return await _restore_home(path, peer_url)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise RestoreError(f"cannot fetch the feed from {peer_url}: {error or type(error).__name__}") from None
    except msgspec.DecodeError as error:
        raise RestoreError(f"{peer_url} answered with something that is not a Tallystick node's: {error}") from None


async def _restore_home(path: Path, peer_url: str) -> Restored:
    home = Home(path)
    if not home.node_key_path.exists():
        raise HomeError(f"{home.node_key_path} is missing: restore needs the node's key file (`tally key import`)")
    key = home.node_key()
    peer_url = peer_url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=limits.peer_request_timeout_ms / 1000)
    with home.lock():
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"{peer_url}/replication/heads", params={"key": id_to_text("k", key.public)}) as response:
                response.raise_for_status()
                heads = heads_decoder.decode(await response.read())
            if len(heads.heads) != 1:
                raise RestoreError(f"{peer_url} holds no feed signed by this home's node key; try another peer")
            feed, end = heads.heads[0].feed, heads.heads[0].seq
            building = home.path / "tally.db.restoring"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{building}{suffix}").unlink(missing_ok=True)
            store = await Store.open(building)
            try:
                received = None
                seq = 1
                while seq <= end:
                    url = f"{peer_url}/replication/feeds/{id_to_text('n', feed)}"
                    params = {"from": str(seq), "limit": str(limits.replication_batch_events_max)}
                    async with session.get(url, params=params) as response:
                        response.raise_for_status()
                        message = events_decoder.decode(await response.read())
                    if message.feed != feed or message.start != seq or not message.events:
                        raise MalformedError(f"{peer_url} answered with another range than asked")
                    batch = list(message.events)
                    if received is None:
                        received = start_received(batch.pop(0))
                        await store.set_meta("own_feed", feed)
                        await store.append(received.rows, received.state, received.touched, received.head, received.postings)
                    if batch:
                        received = fold_received(received.state, received.head, batch)
                        await store.append(received.rows, received.state, received.touched, received.head, received.postings)
                    seq = message.start + len(message.events)
                assert received is not None
                if received.head.signing_key != key.public:
                    raise RestoreError("the feed restored is not signed by this home's current node key")
            finally:
                await store.close()
    if home.database_path.exists():
        os.replace(home.database_path, home.path / "tally.db.before-restore")
        for suffix in ("-wal", "-shm"):
            Path(f"{home.database_path}{suffix}").unlink(missing_ok=True)
    os.replace(building, home.database_path)
    if not home.config_path.exists():
        home.write_config(NodeConfig(peers=[peer_url]))
    return Restored(id_to_text("n", feed), received.head.seq, id_to_text("h", received.head.head))
