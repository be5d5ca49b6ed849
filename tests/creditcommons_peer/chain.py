"""The hash chain between two adjacent Credit Commons nodes.

cc-php-lib's TransversalTransactionTrait::makeHashString joins, with '|': the last hash, the
transaction's uuid, its state, each entry shared with the adjacent node as 'quant|description', and
the version; makeHash is the md5 of that, in hex. cc-node's Remote::storeHash appends it to the
account's hash_history each time a version above 0 is written. The next request from either side
must carry it in `last-hash`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def next_hash(last_hash: str, uuid: str, state: str, entries: Iterable[tuple[int, str]], version: int) -> str:
    rows = "|".join(f"{quant}|{description}" for quant, description in entries)
    text = "|".join([last_hash, uuid, state, rows, str(version)])
    return hashlib.md5(text.encode("utf-8")).hexdigest()
