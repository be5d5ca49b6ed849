"""`make demo`: a small live set of communities on loopback, with members trading, until Ctrl-C.

How this works: the demo claims its folder (.demo/, or --directory) with a lock held while it
runs; when another demo holds the default folder, it takes .demo-2/, .demo-3/, ... beside it, so
two demos run side by side. It stops any nodes a demo killed outright left in the folder, empties
it, and starts a fresh cluster there on free ports (the same code as `tally cluster up`, so its
Bakery has an allotted offer, trades and a dividend its holders voted). It prints each
community's URL, the pages worth a look and a few commands to try, then makes a random payment or
order every couple of seconds so the pages and `tally log` keep moving.

Stopping: SIGINT (Ctrl-C) or SIGTERM only sets a flag. The demo looks at it at least every 0.1 s
while it waits (and cluster.up between its steps), and then raises `Stop` from its own code, never
from inside asyncio or aiohttp, where an exception from a signal handler can leave objects
half-built or be dropped. `cluster.stop` ends every node at once (SIGKILL after a short grace) and
reaps them, and the demo prints one line. A failure during start-up stops every node started so
far (cluster.up does) and ends in one line on stderr.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import random
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn
from urllib.parse import quote

# Only the standard library at import: the rest (aiohttp and all Tallystick) takes seconds to
# import on a busy machine, and `main` installs the signal handlers first, so a Ctrl-C that early
# stops the demo like any other (once the import is done).
if TYPE_CHECKING:
    from . import cluster

default_directory = Path(".demo")
demo_nodes = 3
trade_interval_seconds = 2.0
# How often the trading loop looks whether a stop was asked for: the demo stops in under 2 s.
stop_check_seconds = 0.1
# How many demos may run side by side from the default folder (.demo, .demo-2, ...).
demos_beside_max = 9
lock_name = "demo.lock"


class Stop(BaseException):
    """The demo was asked to stop (SIGINT or SIGTERM). A BaseException, like KeyboardInterrupt, so
    that no `except Exception` on the way turns it into an error."""


class DemoError(Exception):
    """A problem the demo reports in one line on stderr; `status` is its exit code."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message, self.status = message, status


class Signals:
    """What the signal handler sets: a stop was asked for."""

    requested = False


def _on_signal(_signal: int, _frame: object) -> None:
    Signals.requested = True


def _stop_requested() -> bool:
    return Signals.requested


def _check_stop() -> None:
    if Signals.requested:
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


def is_demo_folder(directory: Path) -> bool:
    """Whether the demo may empty `directory`: new, empty, or a demo's or a cluster's already."""
    if not directory.exists():
        return True
    if not directory.is_dir():
        return False
    return (directory / lock_name).exists() or (directory / "cluster.json").exists() or not any(directory.iterdir())


def claim(directory: Path, chosen: bool) -> tuple[Path, IO[str]]:
    """The folder this demo runs in, locked until the process ends. The default folder gives way
    to .demo-2, .demo-3, ... when other demos hold it; a folder the user chose does not. A folder
    holding anything else is never used: the demo empties the folder it runs in."""
    candidates = [directory] if chosen else [directory] + [
        directory.with_name(f"{directory.name}-{number}") for number in range(2, demos_beside_max + 1)]
    for candidate in candidates:
        if not is_demo_folder(candidate):
            if chosen:
                raise DemoError(f"{directory} holds files that are not a demo's, and the demo empties its folder: "
                                "give a new or empty folder with --directory", 2)
            continue
        lock = _try_lock(candidate)
        if lock is not None:
            return candidate, lock
    if chosen:
        raise DemoError(f"another demo is running in {directory}/: stop it (Ctrl-C there) or give another --directory", 2)
    raise DemoError(f"{demos_beside_max} demos are running already (in {directory}/ and beside it): stop one (Ctrl-C)", 2)


def empty(directory: Path) -> None:
    """Stop the nodes a demo that was killed outright left running here, and remove its homes."""
    from . import cluster

    if (directory / "cluster.json").exists():
        cluster.down(directory)
    for entry in directory.iterdir():
        if entry.name != lock_name:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def shown(path: Path) -> str:
    """A path as short as it can be written from here: relative under the current folder."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else str(path)


def _tally_command() -> str:
    beside = Path(sys.executable).parent / "tally"
    return shown(beside) if beside.exists() else "tally"


def invite_newcomer(community: cluster.Community) -> str:
    """A one-time invitation link into `community`, made by its admin for the demo's reader."""
    from tallystick.node.home import read_key
    from tallystick.protocol.events import Invite
    from tallystick.protocol.ids import KeyPair

    from .client import Client
    from .common import now_ms
    from .members import invitation_link

    invitation = KeyPair.generate()  # its seed goes only into the printed link
    expires_ms = now_ms() + 86_400_000
    Client(community.url).submit(read_key(community.home / "admin.key"),
                                 Invite(invitation=invitation.public, expires_ms=expires_ms, role="member",
                                        debit_limit_minor=None, credit_ceiling_minor=None))
    return invitation_link(community.url, invitation.seed, "Newcomer")


def introduce(communities: list[cluster.Community], directory: Path) -> None:
    from . import cluster

    first, second = communities[0], communities[1] if len(communities) > 1 else communities[0]
    tally = _tally_command()
    member_key = shown(cluster.member_keys(first)[0])
    width = max(len(c.name) for c in communities) + 2
    lines = ["", f"The demo is running: {len(communities)} communities, their homes in {shown(directory)}/", ""]
    lines += [f"  {c.name:<{width}}{c.url}/" for c in communities]
    lines += [
        "",
        f"Join {first.name} as a new member in the wallet (open it in a browser; the key is made there):",
        f"  {invite_newcomer(first)}",
        f"  {first.url}/wallet              the wallet itself (a member's home, pay, receive, history)",
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
        f"  {tally} verify {shown(first.home)}     (after Ctrl-C: an offline check of the whole log)",
        "",
        f"Members keep trading every {trade_interval_seconds:.0f} s. Ctrl-C stops every node.",
    ]
    print("\n".join(lines), flush=True)


def trade_until_stopped(communities: list[cluster.Community]) -> None:
    from . import cluster

    rng = random.Random()
    while True:
        next_trade = time.monotonic() + trade_interval_seconds
        while (left := next_trade - time.monotonic()) > 0:
            _check_stop()
            time.sleep(min(left, stop_check_seconds))
        across = len(communities) > 1 and rng.random() < 0.3
        community = rng.choice(communities)
        outcome: list[str | None] = []
        failure: list[BaseException] = []

        def one_trade(across: bool = across, community: cluster.Community = community,
                      outcome: list[str | None] = outcome, failure: list[BaseException] = failure) -> None:
            try:
                outcome.append(cluster.trade_across(communities, rng) if across else cluster.trade(community, rng))
            except BaseException as error:  # noqa: BLE001 (handed to the loop, which raises it)
                failure.append(error)

        # A trade runs in a thread the loop watches, so a Ctrl-C in the middle of one (a few HTTP
        # requests, slow on a busy machine) stops the demo at once: the thread is a daemon, left to
        # end with the process once the nodes are stopped.
        worker = threading.Thread(target=one_trade, daemon=True)
        worker.start()
        while worker.is_alive():
            _check_stop()
            worker.join(stop_check_seconds)
        if failure:
            raise failure[0]
        print("  " + (outcome[0] or ""), flush=True)


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
    home: Path | None = None  # the folder, once this demo holds its lock
    try:
        from . import cluster

        _check_stop()
        home, _lock = claim(arguments.directory or default_directory, chosen=arguments.directory is not None)
        directory = home
        empty(directory)
        print(f"Starting {demo_nodes} communities in {shown(directory)}/ ...", flush=True)
        try:
            communities = cluster.up(directory, demo_nodes, stop_requested=_stop_requested)
        except cluster.StartInterrupted:
            raise Stop from None  # cluster.up has stopped the nodes it started
        introduce(communities, directory)
        trade_until_stopped(communities)
    except Stop:
        started = time.monotonic()
        stopped = _stop(communities, home)
        if communities:
            print(f"\nstopped the demo's {stopped} nodes in {time.monotonic() - started:.1f} s", flush=True)
        else:  # cluster.up stopped the nodes it had started before it let Stop through
            print("\nstopped the demo during start-up; no node it started is left running", flush=True)
    except DemoError as error:
        _fail(error.message, error.status)
    except BaseException as error:
        # Whatever went wrong, no node the demo started outlives it (cluster.up has stopped those
        # of a failed start; once the demo runs, a node that stops answering ends it). What a
        # user's machine can cause is one line; anything else is our bug, and its traceback follows.
        _stop(communities, home)
        from tallystick.protocol.errors import TallyError

        from .client import NodeUnreachable

        if isinstance(error, NodeUnreachable):  # its own remedy (start the node) is not the demo's
            logs = f"; their logs: {shown(home)}/*/serve.log" if home is not None else ""
            _fail(f"a node stopped answering ({error.message.split(';')[0]}); every node the demo started is "
                  f"stopped{logs}", 1)
        if not isinstance(error, TallyError | OSError):  # a node's refusal is a TallyError too
            raise
        _fail(f"{getattr(error, 'message', None) or error}; every node the demo started is stopped", 1)


def _stop(communities: list[cluster.Community], home: Path | None) -> int:
    """Stop and reap the demo's nodes, and any DIR/cluster.json still names (none, unless a bug
    cut cluster.up's own clean-up short)."""
    from . import cluster

    stopped = cluster.stop(communities)
    if home is not None and (home / "cluster.json").exists():
        stopped += cluster.down(home, cluster.stop_grace_seconds)
    return stopped


if __name__ == "__main__":
    main()
