"""Balances over time, for the pages: each account's balance and the community's credit in
circulation (the sum of positive balances) and treasury, as the log made them.

How this works: the store writes, in the same transaction as each event, a `postings` row for every
event that changed a balance or opened an account (the balances after it of the accounts it
changed, and the credit in circulation after it) and a `posting_blocks` row the first time an
account has a posting in a block of `posting_block_events` events (node/store.py). So every series
here is a bounded indexed query, the same after a restart as before it, and nothing folds the log:

- the community's totals: up to `community_points_max` events picked evenly by seq (for each of
  that many targets spread over the log, the last `postings` row at or before it: one primary-key
  lookup each, in one SQL statement);
- an account's balance: its blocks from `posting_blocks` (up to `account_blocks_read_max` of them,
  picked evenly, always the newest), each read as one range of `postings` that SQLite filters by the
  account's id in C before anything is decoded; at most `account_points_max` points are kept, evenly;
- an account's postings newest first (the member page's payments): block by block from the newest,
  at most `history_blocks_read_max` blocks a page, with the seq to continue from.

Each point is an exact balance after an exact event. `statement_line` says, for the wallet's
history (GET /api/members/{REF}/history), why one event changed one account's balance: the other
party, the memo and a short kind, from the event's bytes alone (pure).
"""

from __future__ import annotations

from typing import Any

import msgspec
from tallystick.ledger.accounts import member_for_key
from tallystick.ledger.model import State
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event, decode_intent
from tallystick.protocol.events import (
    Act,
    AdmitMember,
    CancelOrder,
    DecisionClosed,
    DeclareDividend,
    EnterprisePay,
    Join,
    OfferClosed,
    PayTree,
    PlaceOrder,
    Subscribe,
    Transfer,
    TreasuryPay,
    TreeReceived,
    TreeReturned,
    WithdrawalDue,
)
from tallystick.protocol.federation import PaymentAccepted, PaymentOut, PaymentReturned
from tallystick.protocol.personal import Committed

from .personal import Directory
from .store import Store, balances_decoder, posting_block_events

# Points of an account's plot: a plot needs no more.
account_points_max = 128
# Points of the community's totals (credit in circulation, treasury).
community_points_max = 256
# Blocks of postings read for an account's plot: each a range scan of `posting_block_events` rows
# filtered in C (~1 ms), so a plot costs tens of milliseconds at most, however long the log.
account_blocks_read_max = 32
# Blocks read for one page of an account's postings, newest first (the member page's payments).
history_blocks_read_max = 16


def _evenly(items: list, count: int) -> list:
    """At most `count` of `items`, evenly spread, always with the last."""
    if len(items) <= count:
        return items
    step = len(items) / count
    picked = [items[int(index * step)] for index in range(count - 1)]
    return [*picked, items[-1]]


# The community's totals: for each of ?2 targets spread over the log up to seq ?3, the last postings
# row at or before it. CROSS JOIN fixes the join order: the picked seqs drive primary-key lookups
# of `postings` and `log`. With a plain JOIN SQLite's planner scanned every postings row of the
# feed and looked each up among the picked (122 ms against 6.5 ms on 1,000,000 events).
community_points_sql = (
    "WITH RECURSIVE target(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM target WHERE i < ?2), "
    "picked AS (SELECT DISTINCT (SELECT p.seq FROM postings p WHERE p.feed = ?1 "
    "AND p.seq <= (target.i * ?3 + ?2 - 1) / ?2 ORDER BY p.seq DESC LIMIT 1) AS seq FROM target) "
    "SELECT p.seq, l.ts, p.positive_minor FROM picked "
    "CROSS JOIN postings p ON p.feed = ?1 AND p.seq = picked.seq "
    "CROSS JOIN log l ON l.feed = ?1 AND l.seq = p.seq ORDER BY p.seq"
)


class History:
    """Reads the series from the store's `postings` and `posting_blocks`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def _head(self, feed: bytes) -> tuple[int, int]:
        head = await self.store.head(feed)
        return (0, 0) if head is None else (head.seq, head.ts)

    async def community(self, feed: bytes, treasury: bytes | None) -> dict[str, Any]:
        """Credit in circulation after up to `community_points_max` events spread over the log, and
        the treasury's balance after its postings (sampled likewise), up to the head read."""
        seq, ts = await self._head(feed)
        rows = await self.store.query(community_points_sql, (feed, community_points_max, seq), community_points_max)
        circulation = [(int(s), int(t), int(value)) for s, t, value in rows]
        treasury_points: list[tuple[int, int, int]] = []
        if treasury is not None:
            treasury_points = (await self._account_series(feed, treasury, community_points_max))[0]
        return {"seq": seq, "ts": ts, "circulation": circulation, "treasury": treasury_points}

    async def account(self, feed: bytes, account: bytes) -> dict[str, Any]:
        """One account's balance after its postings (all of them while they fit, else sampled)."""
        seq, ts = await self._head(feed)
        points, sampled = await self._account_series(feed, account, account_points_max)
        return {"seq": seq, "ts": ts, "points": points, "sampled": sampled}

    async def _blocks(self, feed: bytes, account: bytes, before_block: int | None = None, newest_first: bool = False,
                      limit: int = limits.page_size_max) -> list[int]:
        query = "SELECT block FROM posting_blocks WHERE feed = ? AND account = ? "
        params: tuple = (feed, account)
        if before_block is not None:
            query += "AND block <= ? "
            params = (*params, before_block)
        query += ("ORDER BY block DESC " if newest_first else "ORDER BY block ") + "LIMIT ?"
        rows = await self.store.query(query, (*params, limit), limit)
        return [int(block) for (block,) in rows]

    async def _in_block(self, feed: bytes, account: bytes, block: int, before_seq: int | None = None) -> list[tuple[int, int, int]]:
        """(seq, ts, balance after) of the account's postings in one block, in seq order."""
        first = block * posting_block_events
        last = first + posting_block_events - 1
        if before_seq is not None:
            last = min(last, before_seq - 1)
        rows = await self.store.query(
            "SELECT p.seq, l.ts, p.balances FROM postings p JOIN log l ON l.feed = p.feed AND l.seq = p.seq "
            "WHERE p.feed = ? AND p.seq BETWEEN ? AND ? AND instr(p.balances, ?) > 0 ORDER BY p.seq",
            (feed, first, last, account),
            posting_block_events,
        )
        found = []
        for seq, ts, raw in rows:
            for changed, balance in balances_decoder.decode(raw):
                if changed == account:
                    found.append((int(seq), int(ts), balance))
                    break
        return found

    async def _account_series(self, feed: bytes, account: bytes, points_max: int) -> tuple[list[tuple[int, int, int]], bool]:
        """The points of an account's plot, and whether they are a sample rather than every posting."""
        blocks = await self._blocks(feed, account)
        chosen = _evenly(blocks, account_blocks_read_max)
        points: list[tuple[int, int, int]] = []
        for block in chosen:
            points += await self._in_block(feed, account, block)
        kept = _evenly(points, points_max)
        return kept, len(chosen) < len(blocks) or len(kept) < len(points)

    async def postings_newest_first(
        self, feed: bytes, account: bytes, before_seq: int | None, wanted: int
    ) -> tuple[list[int], int | None]:
        """Seqs of the account's postings before `before_seq` (all if None), newest first, block by
        block until at least `wanted` are found or `history_blocks_read_max` blocks were read; and
        the seq to continue from (the oldest block read's first seq), or None if no older block
        holds any."""
        before_block = None if before_seq is None else (before_seq - 1) // posting_block_events
        blocks = await self._blocks(feed, account, before_block, newest_first=True, limit=history_blocks_read_max + 1)
        found: list[int] = []
        for index, block in enumerate(blocks[:history_blocks_read_max]):
            in_block = await self._in_block(feed, account, block, before_seq)
            found += [seq for seq, _, _ in reversed(in_block)]
            older = index + 1 < len(blocks)
            if len(found) >= wanted or not older or index + 1 == history_blocks_read_max:
                return found, block * posting_block_events if older else None
        return found, None

    async def balance_before(self, feed: bytes, account: bytes, seq: int) -> int:
        """The account's balance just before event `seq`: after its last posting before it, or 0
        when it has none (an account opens at zero). At most three bounded queries: the posting's
        own block, then the newest older block holding any of the account's postings."""
        block = (seq - 1) // posting_block_events
        earlier = await self._in_block(feed, account, block, seq)
        if earlier:
            return earlier[-1][2]
        older = await self._blocks(feed, account, block - 1, newest_first=True, limit=1) if block > 0 else []
        if not older:
            return 0
        found = await self._in_block(feed, account, older[0])
        return found[-1][2] if found else 0

    async def changes_newest_first(
        self, feed: bytes, account: bytes, before_seq: int | None, wanted: int
    ) -> tuple[list[tuple[int, int, int, int]], int | None]:
        """The account's postings before `before_seq` (all if None), newest first, each as (seq, ts,
        change, balance after), where the change is the balance after it minus the balance after the
        posting before it: so the changes of every posting sum to the balance, and the balance after
        the newest one listed is the balance at that point. Read block by block as
        `postings_newest_first` does (at most `history_blocks_read_max` blocks), at most `wanted`
        kept; and the seq to continue from (None: nothing older)."""
        before_block = None if before_seq is None else (before_seq - 1) // posting_block_events
        blocks = await self._blocks(feed, account, before_block, newest_first=True, limit=history_blocks_read_max + 1)
        found: list[tuple[int, int, int]] = []  # (seq, ts, balance after), newest first
        continue_from: int | None = None
        for index, block in enumerate(blocks[:history_blocks_read_max]):
            in_block = await self._in_block(feed, account, block, before_seq)
            found += list(reversed(in_block))
            older = index + 1 < len(blocks)
            if len(found) > wanted:
                # One more than shown: its balance is the one before the oldest shown.
                continue_from = found[wanted - 1][0]
                break
            if not older or index + 1 == history_blocks_read_max:
                continue_from = block * posting_block_events if older else None
                break
        kept = found[:wanted]
        if not kept:
            return [], continue_from
        if len(found) > len(kept):
            before_oldest = found[len(kept)][2]
        else:
            before_oldest = await self.balance_before(feed, account, kept[-1][0])
        changes = []
        for index, (seq, ts, balance) in enumerate(kept):
            previous = kept[index + 1][2] if index + 1 < len(kept) else before_oldest
            changes.append((seq, ts, balance - previous, balance))
        return changes, continue_from


# ---- a member's statement: each change of their balance in words, for the wallet --------------


class StatementLine(msgspec.Struct, frozen=True):
    """Why one event changed an account's balance, in the few words a wallet shows: the other party
    (an account of this community, or a member of another for a payment across), the memo (None
    for none, "(erased)" for one erased), and a short English kind (`statement_words`)."""

    description: str
    counterparty: bytes | None = None
    memo: str | None = None


# The short kinds a statement line says (docs/api.md, GET /api/members/{REF}/history).
statement_words = (
    "payment", "levy", "payment across", "payment across returned", "dividend", "treasury payment",
    "share subscription", "share offer closed", "share order", "order cancelled", "share withdrawal",
    "joined", "payment to the tree", "payment to the tree returned", "payment from the tree", "other",
)


def statement_line(state: State, directory: Directory, account: bytes, raw: bytes, change_minor: int) -> StatementLine:
    """Why the event `raw` changed `account`'s balance by `change_minor` (pure: the event's bytes,
    the state and the node's opened texts). The texts are the node's own; who may read them is the
    caller's to decide (node/visible.py)."""
    body = decode_event(raw).body

    def memo_of(value: str | Committed) -> str | None:
        return None if value == "" else directory.shown(value)

    if isinstance(body, Act):
        intent = decode_intent(body.intent)
        action = intent.action
        signer = member_for_key(state, intent.key)
        if isinstance(action, Transfer):
            if signer == account:
                return StatementLine("payment", action.to, memo_of(action.memo))
            if action.to == account:
                return StatementLine("payment", signer, memo_of(action.memo))
            return StatementLine("levy", signer)  # the treasury's share of a payment between others
        if isinstance(action, EnterprisePay):
            if action.enterprise == account:
                return StatementLine("payment", action.to, memo_of(action.memo))
            return StatementLine("payment", action.enterprise, memo_of(action.memo))
        if isinstance(action, Subscribe):
            return StatementLine("share subscription", None if signer == account else signer)
        if isinstance(action, PlaceOrder):
            return StatementLine("share order", None if signer == account else signer)
        if isinstance(action, CancelOrder):
            return StatementLine("order cancelled")
        if isinstance(action, PayTree):  # into the Credit Commons tree (docs/creditcommons.md §5)
            if signer == account:
                return StatementLine("payment to the tree", None, memo_of(action.memo))
            return StatementLine("payment to the tree", signer)  # the community's tree account
        if isinstance(action, AdmitMember | Join) and action.member == account:
            return StatementLine("joined")
        return StatementLine("other")
    if isinstance(body, PaymentOut):
        if body.payer == account:
            return StatementLine("payment across", body.to_member, memo_of(body.memo))
        return StatementLine("payment across", body.payer)
    if isinstance(body, PaymentAccepted):
        return StatementLine("payment across", None if body.to_member == account else body.to_member)
    if isinstance(body, PaymentReturned):
        return StatementLine("payment across returned")
    if isinstance(body, TreeReturned):
        return StatementLine("payment to the tree returned")
    if isinstance(body, TreeReceived):
        return StatementLine("payment from the tree", None if body.to_member == account else body.to_member)
    if isinstance(body, OfferClosed):
        return StatementLine("share offer closed")
    if isinstance(body, WithdrawalDue):
        return StatementLine("share withdrawal")
    if isinstance(body, DecisionClosed):
        decision = state.decisions.get(body.decision)
        effect = decision.effect if decision is not None else None
        if isinstance(effect, DeclareDividend):
            return StatementLine("dividend", None if effect.enterprise == account else effect.enterprise)
        if isinstance(effect, TreasuryPay):
            if effect.to == account:
                return StatementLine("treasury payment", state.treasury, memo_of(effect.memo))
            return StatementLine("treasury payment", effect.to, memo_of(effect.memo))
    return StatementLine("other")
