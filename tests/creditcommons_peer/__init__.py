"""A Credit Commons node that is not Tallystick: the other side of Tallystick's Credit Commons tests.

Written from the Credit Commons API alone, as two public implementations show it (docs/creditcommons.md
cites each route, body and rule): Komunitin's `accounting/src/creditcommons/` and the reference node
cc-node with its library cc-php-lib. It never imports Tallystick (tests/creditcommons/test_peer.py greps
this folder), so what the two sides agree on is the API, not shared code.

How this works: one aiohttp process (`python -m creditcommons_peer --port N ...`) keeps one
ledger in SQLite (`ledger.py`): its own accounts (name, min, max, in integer quant units, as cc-node's
`entries.quant BIGINT`), one leafward node (a remote account with a URL, as cc-node's `Remote`), the
transactions with their versions and states, and the hash chain it shares with the leaf. `server.py`
answers the API as the leaf's trunkward node: every request from the leaf carries the headers
`cc-node` (the leaf's name) and `last-hash` (the last hash of their chain), and each transaction
version written that involves the leaf extends the chain. The `/admin/...` routes are the peer's own,
not the API: the test drives them to make the peer pay the leaf, erase a transaction, or read
balances.
"""
