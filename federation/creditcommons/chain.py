"""The last-hash chain between two adjacent Credit Commons nodes. Pure.

Each node keeps, per adjacent node, the hash of the last transaction version they both wrote. The
next hash is md5 over '|'-joined: the last hash, the transaction's uuid, its state, each entry shared
with the adjacent node as 'quant|description', and the version (cc-php-lib's
TransversalTransactionTrait::makeHashString and makeHash; Komunitin's makeHash in
credit-commons-controller.ts joins the same fields). md5 here is the protocol's choice, not a
security claim: the chain proves two ledgers agree on their shared history, and a node that forgets
or invents a version is caught at the next request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

hash_chars = 32  # md5 in lower-case hex


def next_hash(last_hash: str, uuid: str, state: str, entries: Iterable[tuple[int | str, str]],
              version: int | str) -> str:
    """The chain's hash after this version. A quant or version is written as the sending node
    writes it (Tallystick: integers; Komunitin: its decimal text, and '' for a missing version)."""
    rows = "|".join(f"{quant}|{description}" for quant, description in entries)
    text = "|".join((last_hash, uuid, state, rows, str(version)))
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
