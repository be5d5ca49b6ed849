"""A member's statement for the wallet: `GET /api/members/{reference}/history`.

How this works: the rows are the member's postings (node/history.py `changes_newest_first`, what
the export and the member page read too), newest first, each with the change and the balance after
it, joined with the log's bytes and said in a few words (`statement_line`: the other party, the
memo, a short kind). So the rows add up: the newest row's balance is the member's balance, and each
row's balance minus its amount is the balance of the row below it. `?before=SEQ` pages back
(`next` is the value to send), `?q=TEXT` keeps the rows whose memo or other party's name, as this
reader may see names, contains the text (case-insensitive), reading at most
`history_search_postings_max` postings a request.

Who may call it: whoever may see that member's history by the community's policy (`history`; by
default the member concerned and the admins). A member the reader may not name is `bad_id`, as for
no one (a stranger, by default); anyone else who may name them is refused `not_visible` (403). The
query is personal data: it is in no message and no log.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tallystick.protocol.errors import MalformedError
from tallystick.protocol.ids import id_to_text

from ..app import Node, node_key
from ..history import History, statement_line
from ..visible import name_for, require
from ..visible import resolve_member as resolve_for
from . import params
from .middleware import json_response
from .readers import reader_of

# Rows of one page: the wallet shows a screenful and pages back.
history_rows_default = 50
history_rows_max = 200
# Postings read for one page with `q`: a search pages back through at most so many, then answers
# what it found with `next`, so one request costs a few bounded queries however long the history.
history_search_postings_max = 2000
# A search text: a few words, at most (a memo is longer, but nobody types all of it to find it).
search_chars_max = 64
# Postings read from the store at a time while a search filters them.
search_batch_postings = history_rows_max
# Reads of the store for one search: each reads up to `history_blocks_read_max` blocks, so a
# history sparse in a long log still ends a request after so many.
search_rounds_max = 2 * history_search_postings_max // search_batch_postings


def search_text(request: web.Request, name: str = "q") -> str | None:
    """Query parameter `q`, case-folded for matching: 1 to `search_chars_max` characters; None
    when absent. The message never repeats what was sent (it is personal data)."""
    text = request.query.get(name)
    if text is None:
        return None
    if not 1 <= len(text) <= search_chars_max or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text):
        raise MalformedError(f"query parameter {name} is 1 to {search_chars_max} characters, none a control character")
    return text.casefold()


def _node(request: web.Request) -> Node:
    return request.app[node_key]


async def history(request: web.Request) -> web.Response:
    node = _node(request)
    # Parameters first: a malformed request is `malformed` whoever sends it.
    before = params.query_integer(request, "before", 0, params.seq_min, params.seq_max) or None
    limit = params.query_integer(request, "limit", history_rows_default, 1, history_rows_max)
    query = search_text(request)
    state, reader = node.sequencer.state, reader_of(request)
    member_id = resolve_for(state, reader, request.match_info["reference"], node.directory)
    require(state, reader, "history", member_id)
    reading = History(node.store)
    rows: list[dict[str, Any]] = []
    next_seq = before
    read = 0
    for _round in range(search_rounds_max):
        wanted = limit if query is None else min(search_batch_postings, history_search_postings_max - read)
        changes, next_seq = await reading.changes_newest_first(node.feed, member_id, next_seq, wanted)
        read += len(changes)
        seqs = [seq for seq, _, _, _ in changes]
        stored = await node.store.query(
            f"SELECT seq, bytes FROM log WHERE feed = ? AND seq IN ({', '.join('?' * len(seqs))}) LIMIT ?",
            (node.feed, *seqs, len(seqs)), len(seqs),
        ) if seqs else []
        raw_of = {seq: bytes(raw) for seq, raw in stored}
        for index, (seq, ts, change, balance) in enumerate(changes):
            raw = raw_of.get(seq)
            line = statement_line(state, node.directory, member_id, raw, change) if raw is not None else None
            counterparty = None if line is None else line.counterparty
            name = name_for(state, reader, counterparty, node.directory) if counterparty is not None else None
            row = {
                "seq": seq, "ts_ms": ts, "amount": change, "balance": balance,
                "counterparty": None if counterparty is None else id_to_text("m", counterparty),
                "counterparty_name": name,
                "memo": None if line is None else line.memo,
                "description": "other" if line is None else line.description,
            }
            if query is not None and not any(query in text.casefold() for text in (row["memo"], name) if text):
                continue
            rows.append(row)
            if len(rows) == limit:
                # Full: go on from this row (strictly before it) next time, if anything is older.
                older = index + 1 < len(changes) or next_seq is not None
                next_seq = seq if older else None
                break
        if query is None or len(rows) == limit or next_seq is None or read >= history_search_postings_max:
            break
    account = state.accounts.get(member_id)
    newest, _ = await reading.changes_newest_first(node.feed, member_id, None, 1)
    # The balance after the member's newest posting: the store's, so that it agrees with the rows
    # even while a commit is between the store and the sequencer's state.
    balance = newest[0][3] if newest else (account.balance_minor if account is not None else 0)
    return json_response({"member": id_to_text("m", member_id), "balance": balance, "rows": rows, "next": next_seq})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/members/{reference}/history", history)
