"""One pass over a payment held with the tree: relay it, or find out what became of it. I/O.

How this works: the node's round (to come: docs/creditcommons.md §7) calls `drive` for each held
payment with the chain's last hash and whether an earlier pass went unanswered. A fresh payment is
relayed; one whose relay went unanswered is resolved first (`Trunkward.resolve`), and relayed again
only if the chain shows the trunkward node never wrote it. The answer is the one step the round then
takes (rules.py): settle with the new hash, return with the tree's reason, or keep it held. So a
pass can be repeated any number of times, after any crash on either side, and a payment is settled
or returned once.
"""

from __future__ import annotations

from . import chain, rules, wire
from .client import Trunkward


async def drive(trunk: Trunkward, last_hash: str, transaction: wire.Transaction, unanswered_before: bool) -> rules.Step:
    if unanswered_before:
        candidate = chain.next_hash(last_hash, transaction.uuid, "completed", wire.shared_entries(transaction), 1)
        step = rules.after_resolution(await trunk.resolve(last_hash, candidate), candidate)
        if not isinstance(step, rules.Relay):
            return step
    return rules.after_relay(await trunk.relay(last_hash, transaction))
