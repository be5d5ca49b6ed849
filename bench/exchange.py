"""The local exchange under load: limit orders through the Sequencer against a deep book.

How this works: `orders_per_second` makes a home whose admin admitted the bench members, registers
an enterprise with one transferable class, gives half the members (the sellers) shares, and has
them rest `resting` sell orders spread over many price levels (untimed). Then the other half (the
buyers) send `orders` orders, signed before the clock starts: every other one a buy that crosses the
book and fills one unit at the best ask (a fill settles shares and credit in the same event), the
others bids below the book that rest, so the book stays at least `resting` deep. They are
submitted as the transfer benchmark submits its transfers (inprocess.py), and each is answered
after its commit. The figure is compared with the plain transfer rate measured in the same run.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tallystick.ledger import shares
from tallystick.ledger.errors import DomainError
from tallystick.node.home import read_key
from tallystick.node.sequencer import Appended, Sequencer
from tallystick.protocol.codec import sign_intent
from tallystick.protocol.events import (
    FounderIssue,
    PlaceOrder,
    RegisterEnterprise,
    ShareClass,
    TransferShares,
)

from .homes import admitted_home, fresh_nonce_base, member_keys, members_default, open_sequencer
from .inprocess import SequencerResult, gather_chunk_intents

# The resting sells lie on this many price levels (prices 1000, 1001, …).
price_levels = 1000
units_per_resting_order = 10
stock = ShareClass("Bench shares", "founder", 1, 1, 100, False, True, None, False)


async def _submit_all(sequencer: Sequencer, intents: list[bytes]) -> tuple[int, int]:
    appended = refused = 0
    for first in range(0, len(intents), gather_chunk_intents):
        chunk = intents[first : first + gather_chunk_intents]
        for answer in await asyncio.gather(*(sequencer.submit(i) for i in chunk), return_exceptions=True):
            if isinstance(answer, Appended):
                appended += 1
            elif isinstance(answer, DomainError):
                refused += 1
            else:
                raise answer
    return appended, refused


async def orders_per_second(folder: Path, resting: int, orders: int) -> tuple[SequencerResult, int]:
    """The timed orders' result, and the depth of the book when the clock started."""
    home = await admitted_home(folder / "exchange-home", members_default)
    admin = read_key(home.admin_key_path)
    keys = member_keys(members_default)
    sellers, buyers = keys[: members_default // 2], keys[members_default // 2 :]
    store, sequencer = await open_sequencer(home)
    feed = sequencer.head.feed
    writer = asyncio.create_task(sequencer.run())
    nonce = iter(range(fresh_nonce_base, fresh_nonce_base + 10**9))
    try:
        per_seller = -(-resting // len(sellers))
        setup = [sign_intent(admin, feed=feed, nonce=next(nonce), action=RegisterEnterprise(
            "Bench Mill", (stock,), (FounderIssue(0, per_seller * units_per_resting_order * len(sellers)),)))]
        assert await _submit_all(sequencer, setup) == (1, 0)
        mill = shares.enterprise_id(feed, sequencer.head.seq)
        gifts = [sign_intent(admin, feed=feed, nonce=next(nonce), action=TransferShares(
            mill, 0, key.public, per_seller * units_per_resting_order)) for key in sellers]
        assert await _submit_all(sequencer, gifts) == (len(gifts), 0)
        sells = [
            sign_intent(sellers[n % len(sellers)], feed=feed, nonce=next(nonce), action=PlaceOrder(
                mill, 0, "sell", units_per_resting_order, 1000 + n % price_levels))
            for n in range(resting)
        ]
        assert await _submit_all(sequencer, sells) == (resting, 0)
        depth = len(sequencer.state.shares.orders)
        timed = []
        for n in range(orders):
            price = 1000 + price_levels if n % 2 == 0 else 1 + n % 999  # cross, or rest below the book
            units = 1
            timed.append(sign_intent(buyers[n % len(buyers)], feed=feed, nonce=next(nonce),
                                     action=PlaceOrder(mill, 0, "buy", units, price)))
        started, started_cpu = time.perf_counter(), time.process_time()
        batches_before = sequencer.batches_total
        appended, refused = await _submit_all(sequencer, timed)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
        shares.audit_invariants(sequencer.state)
        fills = sum(len(trades) for trades in sequencer.state.shares.trades.values())
        assert fills > 0, "the crossing orders filled"
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()
    return SequencerResult(appended, seconds, cpu_seconds, sequencer.batches_total - batches_before, refused), depth
