"""`python -m creditcommons_peer --port N --db FILE --node-path trunk --leaf NAME=URL ...`

Accounts are `--account NAME:MIN:MAX` (quant units), repeated; the leaf's account on this node has
`--leaf-limits MIN:MAX`; `--graft-hash` is the first hash of the chain, agreed when the leaf was
grafted (Komunitin's POST /cc/nodes stores such a `lastHash`). A restart on the same --db keeps the
ledger and the chain and ignores the set-up options.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import web

from .ledger import Ledger
from .server import create_app


def limits_of(text: str) -> tuple[int, int]:
    low, high = text.split(":")
    return int(low), int(high)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m creditcommons_peer")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--node-path", default="trunk")
    parser.add_argument("--leaf", required=True, help="NAME=URL of the leafward node")
    parser.add_argument("--leaf-limits", default="-100000:100000")
    parser.add_argument("--account", action="append", default=[], help="NAME:MIN:MAX")
    parser.add_argument("--graft-hash", default="graft")
    options = parser.parse_args()
    name, url = options.leaf.split("=", 1)
    accounts = {}
    for account in options.account:
        account_name, limits = account.split(":", 1)
        accounts[account_name] = limits_of(limits)
    ledger = Ledger(options.db)
    ledger.configure(accounts, (name, url, *limits_of(options.leaf_limits)), options.graft_hash)
    try:
        web.run_app(create_app(ledger, options.node_path), host="127.0.0.1", port=options.port,
                    print=None, handle_signals=True)
    finally:
        ledger.close()


if __name__ == "__main__":
    main()
