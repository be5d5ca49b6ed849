"""Tallystick as a leaf of a Credit Commons tree (docs/creditcommons.md).

How this works: a community grafted onto a Credit Commons tree has one account with its trunkward
node, as every Credit Commons leaf does (cc-node's `Trunkward` remote account; Komunitin's "vostro"
account). The two nodes authenticate each other by the last hash of the chain they share: every
request carries `cc-node` (the caller's node name) and `last-hash`, and every transaction version
both write extends the chain (`chain.py`). `wire.py` holds the API's bodies as strict, bounded
structs, and `paths.py` how a member's account is named in the tree (`trunk/branch/riverside/m_...`).
`client.py` calls the trunkward node: relay a transaction, change its state, read accounts, and, when
an answer was lost, find from the chain alone whether the other side wrote it.

`rules.py` decides what the leaf does with a transaction from the tree and with each outcome of a
call. The pure modules (`chain`, `wire`, `paths`, `outcomes`, `rules`) do no I/O; `client.py` is
the only one that talks.
"""
