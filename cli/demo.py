"""`make demo`: a small live set of communities on loopback, with members trading, until Ctrl-C.

How this works: it stops any demo left running in .demo/, starts a fresh cluster there (the same
code as `tally cluster up`), prints each community's page URL and a few commands to try, then makes
a random payment every couple of seconds so the pages and `tally log` keep moving.
"""

from __future__ import annotations

import random
import shutil
import signal
import time
from pathlib import Path

from . import cluster

demo_directory = Path(".demo")
demo_nodes = 3
demo_base_port = 7601
trade_interval_seconds = 2.0


def main() -> None:
    if (demo_directory / "cluster.json").exists():
        cluster.down(demo_directory)
    shutil.rmtree(demo_directory, ignore_errors=True)
    print(f"Starting {demo_nodes} communities in {demo_directory}/ ...", flush=True)
    communities = cluster.up(demo_directory, demo_nodes, demo_base_port)
    print()
    for community in communities:
        print(f"  {community.name:<12} {community.url}/    (node {community.node})")
    first = communities[0]
    member_key = cluster.member_keys(first)[0]
    print(
        f"""
Try, in another terminal:
  .venv/bin/tally --node {first.url} balance
  .venv/bin/tally --node {first.url} log
  .venv/bin/tally --node {first.url} --key {member_key} pay {cluster.member_names[1]} 2.50 --memo "bread"
  .venv/bin/tally --node {first.url} --key {member_key} pay {cluster.member_names[2]}@{communities[1].url} 3.00
        (a payment to another community; `tally --node {first.url} payments` shows it settle)
  .venv/bin/tally --node {first.url} enterprise show Bakery        (community shares and the local exchange)
  .venv/bin/tally --node {first.url} federation report "Cluster federation"   (the federation, by VSM system)
  .venv/bin/tally verify {first.home}     (after Ctrl-C: offline check of the whole log)

Members keep trading every {trade_interval_seconds:.0f} s. Ctrl-C stops every node.""",
        flush=True,
    )
    stopping = False

    def stop(_signal: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    rng = random.Random()
    try:
        while not stopping:
            time.sleep(trade_interval_seconds)
            if not stopping:
                line = (cluster.trade_across(communities, rng) if len(communities) > 1 and rng.random() < 0.3
                        else cluster.trade(rng.choice(communities), rng))
                print("  " + (line or ""), flush=True)
    finally:
        print("\nstopping the demo's nodes ...", flush=True)
        cluster.down(demo_directory)


if __name__ == "__main__":
    main()
