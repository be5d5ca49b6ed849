"""What the `postings` and `circulation` projections must hold, found the slow and sure way.

How this works: the feed's log is folded from its genesis with the domain's `apply`, and after every
event the whole accounts map is compared with the one before it (every account, not the ids the
writers list as touched): each account opened or whose balance changed is in the event's `postings`
row, with the sum of the positive balances after it. Tests compare the store's
tables with this, so a writer that misses an account (a closing offer's refunds, a dividend, a levy)
fails here even when live, rebuilt and replicated agree with each other.
"""

from __future__ import annotations

from tallystick.ledger.model import initial_state
from tallystick.ledger.transition import apply
from tallystick.node.store import Store, balances_decoder, posting_block_events
from tallystick.protocol.codec import decode_event, decode_intent
from tallystick.protocol.events import Act, Genesis
from tallystick.protocol.federation import PaymentOut
from tallystick.protocol.ids import hash32


async def expected_postings(store: Store, feed: bytes) -> tuple[list[tuple], list[tuple]]:
    """(postings rows with their balances decoded, posting_blocks rows) as the tables should hold
    them for `feed`, sorted."""
    postings: list[tuple] = []
    blocks: set[tuple] = set()
    state = None
    async for batch in store.iterate_log(feed):
        for stored in batch:
            event = decode_event(stored.bytes)
            if state is None:
                assert isinstance(event.body, Genesis)
                before: dict = {}
                state = initial_state(hash32(stored.bytes), event.body)
            else:
                before = dict(state.accounts.items())
                body = event.body
                intent = decode_intent(body.intent) if isinstance(body, (Act, PaymentOut)) else None
                state = apply(state, event, intent)
            changed = [
                (account, value.balance_minor) for account, value in state.accounts.items()
                if account not in before or before[account].balance_minor != value.balance_minor
            ]
            assert all(account in state.accounts for account in before), "an account was dropped"
            if changed:
                positive = sum(max(0, value.balance_minor) for value in state.accounts.values())
                postings.append((feed, stored.seq, positive, sorted(changed)))
                blocks.update((feed, account, stored.seq // posting_block_events) for account, _ in changed)
    return postings, sorted(blocks)


async def assert_postings_hold(store: Store, feed: bytes) -> None:
    """The store's postings and circulation of `feed` are exactly what a full refold finds."""
    postings, blocks = await expected_postings(store, feed)
    snapshot = await store.projection_snapshot()
    stored = [(f, seq, positive, sorted(balances_decoder.decode(raw)))
              for f, seq, positive, raw in snapshot["postings"] if f == feed]
    assert stored == postings
    assert [row for row in snapshot["posting_blocks"] if row[0] == feed] == blocks
