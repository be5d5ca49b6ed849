"""A home whose feed was written before personal texts left the log (docs/protocol.md §17, §19):
its genesis names the admin in clear, and its admissions and memos are clear strings, as every
feed written by a node older than §19 is.

How this works: `write_clear_home` does what `init_home` does (node/home.py), with a `genesis`
body instead of a `genesis_sealed` one, then appends each action as an `act` whose intent is
signed by `sign_intent` with its texts as given (so in clear), folded by the ledger's `apply` and
written through the store's one `BatchBuilder`, as bench/homes.py builds its homes. The node can
no longer be asked for such an event (it refuses `personal_in_clear`), so this is the only way a
test gets one: exactly the bytes an older node wrote, with no keys.db beside them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tallystick.ledger.model import initial_state
from tallystick.ledger.transition import apply, validate
from tallystick.node.home import Home, NodeConfig, write_key
from tallystick.node.store import AppendBatch, BatchBuilder, Store
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_intent, sign_event, sign_intent
from tallystick.protocol.events import Act, Action, Event, Genesis
from tallystick.protocol.feed import FeedHead, start_feed
from tallystick.protocol.ids import KeyPair, hash32


async def _write(home_path: Path, *, name: str, admin: KeyPair, admin_name: str, node_key: KeyPair,
                 actions: list[tuple[KeyPair, Action]], ts_ms: int) -> None:
    recovery = KeyPair.generate()
    genesis = Genesis(
        name=name, unit_code="OLD", unit_decimals=2, debit_limit_minor=100_00, credit_ceiling_minor=1000_00,
        signing_key=node_key.public, recovery_key_hash=hash32(recovery.public), admin_key=admin.public,
        admin_name=admin_name, checkpoint_interval_events=limits.checkpoint_interval_events_default,
    )
    raw = sign_event(node_key, feed=None, seq=1, prev=None, ts=ts_ms, body=genesis)
    head, event = start_feed(raw)
    state = initial_state(head.feed, genesis)
    home_path.mkdir(parents=True)
    home = Home(home_path)
    write_key(home.node_key_path, node_key)
    write_key(home.recovery_key_path, recovery)
    write_key(home.admin_key_path, admin)
    home.write_config(NodeConfig())
    store = await Store.open(home.database_path)
    try:
        await store.set_meta("own_feed", head.feed)
        await store.append_batch(AppendBatch.genesis(state, head, event.ts, raw))
        built = BatchBuilder(state)
        for nonce, (signer, action) in enumerate(actions, start=1):
            intent_bytes = sign_intent(signer, feed=head.feed, nonce=nonce, action=action)
            intent = decode_intent(intent_bytes)
            error = validate(state, intent)
            assert error is None, f"the clear feed's action {nonce} is refused: {error}"
            seq, ts = head.seq + 1, ts_ms + nonce
            body = Act(intent=intent_bytes)
            raw = sign_event(node_key, feed=head.feed, seq=seq, prev=head.head, ts=ts, body=body)
            event = Event(v=limits.protocol_version, feed=head.feed, seq=seq, prev=head.head, ts=ts, body=body,
                          sig=raw[-64:])
            state = apply(state, event, intent)
            head = FeedHead(head.feed, seq, hash32(raw), ts, head.signing_key, head.recovery_key_hash)
            built.add(state, event, raw, head.head, intent)
        await store.append_batch(built.batch(head))
    finally:
        await store.close()


def write_clear_home(home_path: Path, *, name: str, admin: KeyPair, admin_name: str,
                     actions: list[tuple[KeyPair, Action]], ts_ms: int) -> None:
    """A home at `home_path` (which must not exist) whose feed holds a clear genesis and then one
    clear `act` per action, each signed by its key; the admin's key file is `admin.key` in it."""
    asyncio.run(_write(home_path, name=name, admin=admin, admin_name=admin_name, node_key=KeyPair.generate(),
                       actions=actions, ts_ms=ts_ms))
