"""`make demo`: a small live set of communities on loopback, with members trading, until Ctrl-C.

How this works: the demo claims its folder (.demo/, or --directory) with a lock held while it
runs; when another demo holds the default folder, it takes .demo-2/, .demo-3/, ... beside it, so
two demos run side by side. It stops any nodes a demo killed outright left in the folder, empties
it, and starts a fresh cluster there on free ports (the same code as `tally cluster up`, so its
Bakery has an allotted offer, trades and a dividend its holders voted). It prints each
community's URL, the pages worth a look and a few commands to try, then makes a random payment or
order every couple of seconds so the pages and `tally log` keep moving.

Stopping: the first SIGINT (Ctrl-C) or SIGTERM raises `Stop` wherever the demo is and later ones
are ignored, so the stop itself cannot be interrupted; `cluster.stop` ends every node at once
(SIGKILL after a short grace) and reaps them, and the demo prints one line. A failure during
start-up stops every node started so far (cluster.up does) and ends in one line on stderr.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import IO, NoReturn
from urllib.parse import quote

from tallystick.protocol.errors import TallyError

from . import cluster
from .client import NodeRefused

default_directory = Path(".demo")
demo_nodes = 3
trade_interval_seconds = 2.0
# How many demos may run side by side from the default folder (.demo, .demo-2, ...).
demos_beside_max = 9
lock_name = "demo.lock"


class Stop(BaseException):
    """The demo was asked to stop (SIGINT or SIGTERM). A BaseException, like KeyboardInterrupt, so
    that no `except Exception` on the way (in aiohttp, in asyncio's tasks) turns it into an error."""


class DemoError(Exception):
    """A problem the demo reports in one line on stderr; `status` is its exit code."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def _on_signal(_signal: int, _frame: object) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stop


def _try_lock(directory: Path) -> IO[str] | None:
    directory.mkdir(parents=True, exist_ok=True)
    lock = open(directory / lock_name, "a")  # noqa: SIM115 (held open for the demo's whole run)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def claim(directory: Path, chosen: bool) -> tuple[Path, IO[str]]:
    """The folder this demo runs in, locked until the process ends. The default folder gives way
    to .demo-2, .demo-3, ... when other demos hold it; a folder the user chose does not."""
    candidates = [directory] if chosen else [directory] + [
        directory.with_name(f"{directory.name}-{number}") for number in range(2, demos_beside_max + 1)]
    for candidate in candidates:
        lock = _try_lock(candidate)
        if lock is not None:
            return candidate, lock
    if chosen:
        raise DemoError(f"another demo is running in {directory}/: stop it (Ctrl-C there) or give another --directory", 2)
    raise DemoError(f"{demos_beside_max} demos are running already (in {directory}/ and beside it): stop one (Ctrl-C)", 2)


def empty(directory: Path) -> None:
    """Stop the nodes a demo that was killed outright left running here, and remove its homes."""
    if (directory / "cluster.json").exists():
        cluster.down(directory)
    for entry in directory.iterdir():
        if entry.name != lock_name:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _tally_command() -> str:
    beside = Path(sys.executable).parent / "tally"
    if not beside.exists():
        return "tally"
    relative = os.path.relpath(beside)
    return relative if not relative.startswith("..") else str(beside)


def introduce(communities: list[cluster.Community], directory: Path) -> None:
    first, second = communities[0], communities[1] if len(communities) > 1 else communities[0]
    tally = _tally_command()
    member_key = cluster.member_keys(first)[0]
    width = max(len(c.name) for c in communities) + 2
    lines = ["", f"The demo is running: {len(communities)} communities, their homes in {directory}/", ""]
    lines += [f"  {c.name:<{width}}{c.url}/" for c in communities]
    lines += [
        "",
        f"What to look at ({first.name}'s pages; every community has the same):",
        f"  {first.url}/                      its members, balances, recent activity and decisions",
        f"  {first.url}/members/Ada           one member: her payments, her Bakery shares, a pay-me QR code",
        f"  {first.url}/enterprises/Bakery    the Bakery: its share offer (allotted), the order book and the",
        "        trades on the local exchange, and the dividend its holders voted and were paid",
    ]
    if len(communities) > 1:
        lines.append(f"  {first.url}/federations/{quote('Cluster federation')}"
                     "    the communities' federation: trade limits, positions, the viability report")
    lines += [
        f"  {first.url}/node                  the node: its peers, replication lag, alerts",
        "",
        "Try, in another terminal:",
        f"  {tally} --node {first.url} balance",
        f"  {tally} --node {first.url} enterprise show Bakery",
        f"  {tally} --node {first.url} --key {member_key} pay {cluster.member_names[1]} 2.50 --memo \"bread\"",
    ]
    if len(communities) > 1:
        lines += [
            f"  {tally} --node {first.url} --key {member_key} pay {cluster.member_names[2]}@{second.url} 3.00",
            f"        (a payment to {second.name}; `{tally} --node {first.url} payments` shows it settle)",
        ]
    lines += [
        f"  {tally} verify {first.home}     (after Ctrl-C: an offline check of the whole log)",
        "",
        f"Members keep trading every {trade_interval_seconds:.0f} s. Ctrl-C stops every node.",
    ]
    print("\n".join(lines), flush=True)


def trade_until_stopped(communities: list[cluster.Community]) -> None:
    rng = random.Random()
    while True:
        time.sleep(trade_interval_seconds)
        line = (cluster.trade_across(communities, rng) if len(communities) > 1 and rng.random() < 0.3
                else cluster.trade(rng.choice(communities), rng))
        print("  " + (line or ""), flush=True)


def _fail(message: str, status: int) -> NoReturn:
    print(f"demo: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tallystick.cli.demo",
        description="Three communities on loopback with members who trade, until Ctrl-C (`make demo`).",
        epilog="example: python -m tallystick.cli.demo --directory /tmp/demo",
    )
    parser.add_argument("--directory", type=Path, default=None, metavar="DIR",
                        help=f"where the communities' homes go (default {default_directory}/, or {default_directory}-2/ "
                             "and on when other demos hold it)")
    arguments = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    communities: list[cluster.Community] = []
    directory = arguments.directory or default_directory
    try:
        directory, _lock = claim(directory, chosen=arguments.directory is not None)
        empty(directory)
        print(f"Starting {demo_nodes} communities in {directory}/ ...", flush=True)
        communities = cluster.up(directory, demo_nodes)
        introduce(communities, directory)
        trade_until_stopped(communities)
    except Stop:
        started = time.monotonic()
        stopped = _stop(communities, directory)
        print(f"\nstopped the demo's {stopped} nodes in {time.monotonic() - started:.1f} s", flush=True)
    except DemoError as error:
        _fail(error.message, error.status)
    except (TallyError, NodeRefused, OSError) as error:
        # cluster.up has stopped the nodes it started; once the demo runs, a node that stops
        # answering ends it, and the others are stopped here.
        _stop(communities, directory)
        _fail(f"{getattr(error, 'message', None) or error}; every node the demo started is stopped", 1)


def _stop(communities: list[cluster.Community], directory: Path) -> int:
    """Stop and reap the demo's nodes; nothing interrupts this (signals are ignored from here on)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stopped = cluster.stop(communities)
    if communities:
        (directory / "cluster.json").unlink(missing_ok=True)
    return stopped

if __name__ == "__main__":
    main()
