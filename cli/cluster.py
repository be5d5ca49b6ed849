"""Local clusters for testers and the demo: N communities on loopback, with members who trade.

How this works: `up` picks the ports (free ones, or BASE_PORT.. after checking each is free), runs
`tally init` for each community in DIR/<slug>/, starts every `tally serve` at once as its own
process (its output in DIR/<slug>/serve.log), records the processes in DIR/cluster.json and waits
until every node answers. It then admits demo members (their key files in DIR/<slug>/members/)
and gives each community a living market: its Bakery offers shares, the members subscribe past the
offer's minimum and the offer closes allotted; two members trade on the local exchange (a sell and
a buy that fill, and two orders left resting); and the holders vote a dividend, which the closing
event pays. Members make a few payments, and every community adopts one charter, so the cluster
is one federation (with more than four, two under a confederation; docs/federation.md §12). The waits overlap: the offers' and the dividend
decisions' periods run while the other communities are populated and while they federate.

If anything fails (or the caller asks it to stop) before `up` returns, every node it started is
stopped and reaped before the error goes on: no node outlives a failed start. `stop` ends the
processes this process started (SIGTERM to all at once, one short wait for all together, SIGKILL
for stragglers, every child reaped); `down` does the same for a cluster recorded in DIR by another
process. Nothing here is special to the demo: the nodes are ordinary homes. The commands
`tally cluster up/link/down` are at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
from tallystick.ledger.money import format_money
from tallystick.ledger.shares import enterprise_id
from tallystick.node.home import NodeConfig, init_home, read_key, write_key
from tallystick.protocol.errors import LocalError
from tallystick.protocol.events import (
    AdmitMember,
    DeclareDividend,
    Holders,
    OpenOfferWithPeriod,
    PayAcross,
    PlaceOrder,
    ProposeWithPeriod,
    RegisterEnterprise,
    ShareClass,
    Subscribe,
    Transfer,
    Vote,
)
from tallystick.protocol.ids import KeyPair, id_from_text

from . import federate
from .client import Client, NodeRefused, NodeUnreachable
from .common import TallyGroup, example, now_ms, print_json, refusals_exit_cleanly
from .terminal import visible

community_names = [
    "Riverside", "Hilltop", "Millbrook", "Oakhaven", "Fernwood", "Stonebridge", "Willowmere", "Ashford",
    "Brightwater", "Cedar Hollow", "Elmstead", "Foxley",
]
member_names = ["Ada", "Bruno", "Chiara", "Dev", "Esme", "Farid", "Gwen", "Hugo"]
members_per_community = 4
start_timeout_seconds = 30
# How long a stop waits for every node together after SIGTERM before it SIGKILLs the rest: a node
# shuts down in well under a second; the demo must stop in under 2 s (issue 13).
stop_grace_seconds = 1.5
# `tally cluster down` is run by hand or by a test's teardown: it can give the nodes longer.
down_grace_seconds = 10.0
# Each community's balance-of-trade limits in its federation, either way; with a confederation, each
# federation's capacity in it (divided equally among its communities).
trade_limit_minor = 200_00
federation_capacity_minor = 300_00
port_max = 65535

Result = TypeVar("Result")


class ClusterError(LocalError):
    code = "cluster"


class PortTakenError(ClusterError):
    """A port the cluster was asked to use is taken (the user's mistake: give other ports)."""

    code = "port_taken"


class ClusterRecordedError(ClusterError):
    """DIR already records a cluster (the user's mistake: `tally cluster down DIR` first)."""

    code = "cluster_recorded"


class StartInterrupted(Exception):
    """`up` was asked to stop (its `stop_requested` said so); every node it started is stopped."""


class NoClusterError(ClusterError):
    """DIR records no cluster (the user's mistake: a wrong folder)."""

    code = "no_cluster"


@dataclass
class Community:
    name: str
    home: Path
    url: str
    node: str
    pid: int
    # The `tally serve` process when this process started it (so it can reap it); None when loaded
    # from DIR/cluster.json by another process.
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def _port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now. SO_REUSEADDR as aiohttp's server sets it, so a
    port left in TIME_WAIT by an earlier node counts as free, and one something listens on does not."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _free_ports(host: str, count: int) -> list[int]:
    """`count` distinct ports the system says are free; each probe is held until all are chosen."""
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probes.append(probe)
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _ports(host: str, nodes: int, base_port: int | None) -> list[int]:
    if base_port is None:
        return _free_ports(host, nodes)
    last = base_port + nodes - 1
    if last > port_max:
        raise PortTakenError(f"{nodes} nodes from port {base_port} would pass port {port_max}: give a lower --base-port")
    for port in range(base_port, last + 1):
        if not _port_is_free(host, port):
            raise PortTakenError(
                f"port {port} on {host} is taken (something already listens there); this cluster needs ports "
                f"{base_port} to {last}: give another --base-port, or stop what holds port {port}"
            )
    return list(range(base_port, last + 1))


def _start_node(home: Path) -> subprocess.Popen[bytes]:
    with open(home / "serve.log", "ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "tallystick.cli.main", "serve", str(home)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the caller, which stops the nodes in order
        )


def _wait_for_nodes(communities: list[Community], host: str, check: Callable[[], None]) -> None:
    """Until every node answers /api/status; a node that exits first is an error naming its log."""
    deadline = time.monotonic() + start_timeout_seconds
    waiting = list(communities)
    while waiting:
        check()
        for community in list(waiting):
            assert community.process is not None
            status = community.process.poll()
            if status is not None:
                port = int(community.url.rsplit(":", 1)[1])
                if not _port_is_free(host, port):
                    raise PortTakenError(f"port {port} on {host} was taken by another program while {community.name} "
                                         f"started; start the cluster again")
                how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
                raise ClusterError(f"{community.name}'s node ({community.url}) {how} as it started; "
                                   f"its log: {community.home / 'serve.log'}")
            try:
                Client(community.url).get("/api/status")
                waiting.remove(community)
            except NodeUnreachable:
                pass
        if waiting:
            if time.monotonic() > deadline:
                names = ", ".join(f"{c.name} ({c.home / 'serve.log'})" for c in waiting)
                raise ClusterError(f"no answer within {start_timeout_seconds} s from {names}")
            time.sleep(0.1)


def up(
    directory: Path, nodes: int, base_port: int | None = None, host: str = "127.0.0.1", seed: int = 1,
    stop_requested: Callable[[], bool] = lambda: False,
) -> list[Community]:
    """Start `nodes` communities in `directory` (on free ports if `base_port` is None) and populate
    them; returns them with their processes. On any failure or interruption before it returns,
    every node it started is stopped and reaped, DIR/cluster.json removed, and the error raised.
    `stop_requested` is asked between steps (at least every 0.1 s while waiting): once it says
    True, `up` stops the nodes and raises StartInterrupted. (The demo's signal handler only sets a
    flag: an exception raised from a handler in the middle of asyncio or aiohttp can leave their
    objects half-built, and Python drops one raised inside a weakref callback.)"""

    def check() -> None:
        if stop_requested():
            raise StartInterrupted("asked to stop while the cluster started")

    # Absolute, so the nodes' command lines name their homes whatever the caller's folder (`down`
    # checks a pid against them) and cluster.json works from anywhere.
    directory = Path(directory).absolute()
    if (directory / "cluster.json").exists():
        raise ClusterRecordedError(f"a cluster is recorded in {directory}; run `tally cluster down {directory}` first")
    if not 1 <= nodes <= len(community_names):
        raise ClusterError(f"a local cluster has 1 to {len(community_names)} nodes")
    ports = _ports(host, nodes, base_port)
    directory.mkdir(parents=True, exist_ok=True)
    urls = [f"http://{host}:{port}" for port in ports]
    communities: list[Community] = []
    try:
        for index in range(nodes):
            check()
            name = community_names[index]
            home = directory / _slug(name)
            # Each node peers with its neighbours in a line; replication uses these (see docs/federation.md).
            peers = [urls[j] for j in (index - 1, index + 1) if 0 <= j < nodes]
            created = asyncio.run(
                init_home(
                    home,
                    name=name,
                    unit_code="HRS",
                    unit_decimals=2,
                    debit_limit_minor=50_00,
                    credit_ceiling_minor=500_00,
                    now_ms=now_ms(),
                    config=NodeConfig(listen_host=host, listen_port=ports[index], peers=peers),
                )
            )
            process = _start_node(home)
            communities.append(Community(name, home, urls[index], created.node, process.pid, process))
            _record(directory, communities)
        _wait_for_nodes(communities, host, check)
        _populate_all(communities, random.Random(seed), check)
    except BaseException:
        stop(communities)
        (directory / "cluster.json").unlink(missing_ok=True)
        raise
    return communities


def _populate_all(communities: list[Community], rng: random.Random, check: Callable[[], None]) -> None:
    """Members, the Bakery's market and the federation, in phases across the communities so that
    each wait for the node's timer (an offer's close, a decision's) overlaps the others' work."""
    offers = {}
    for community in communities:
        check()
        _admit_members(community)
        check()
        offers[community.name] = _open_bakery(community)
    dividends = {}
    for community in communities:
        bakery, offer = offers[community.name]
        _wait_for_close(community, f"/api/offers/{offer}", "the Bakery's share offer", check)
        _trade_bakery_shares(community, bakery)
        check()
        dividends[community.name] = _propose_dividend(community, bakery)
        for _ in range(6):
            trade(community, rng)
    if len(communities) > 1:
        _in_thread(lambda: _federate(communities), check)
    for community in communities:
        _wait_for_close(community, f"/api/decisions/{dividends[community.name]}", "the Bakery's dividend decision", check)


def _in_thread(function: Callable[[], Result], check: Callable[[], None]) -> Result:
    """`function()` in a helper thread, waited for in slices of 0.1 s with `check()` between: a
    stop asked for meanwhile is not held up by the threads the function waits on (federate.link's
    pool), so it gets to stopping the nodes at once, and the helper threads then fail fast."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # noqa: BLE001 (not swallowed: handed to the caller's thread, which raises it)
            outcome["error"] = error

    helper = threading.Thread(target=run, name="cluster-link", daemon=True)
    helper.start()
    while helper.is_alive():
        check()
        helper.join(0.1)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# How long `up` waits for a node's timer to close an offer or a decision past its period: the timer
# runs once a second; more means the node is stuck, which is an error.
close_timeout_seconds = 20.0


def _wait_for_close(community: Community, path: str, what: str, check: Callable[[], None]) -> dict[str, Any]:
    client = Client(community.url)
    deadline = time.monotonic() + close_timeout_seconds
    while True:
        check()
        found = client.get(path)
        if found["closed_seq"] is not None:
            return found
        if time.monotonic() > deadline:
            raise ClusterError(f"{community.name}'s node did not close {what} within {close_timeout_seconds:.0f} s; "
                               f"its log: {community.home / 'serve.log'}")
        time.sleep(0.1)


def _federate(communities: list[Community]) -> None:
    link([federate.Seat(c.url, c.node, c.home / "admin.key") for c in communities])


cluster_federation_names = ("Cluster federation", "East federation", "West federation", "Cluster confederation")


def link(seats: list[federate.Seat]) -> bool:
    """Link running communities (docs/federation.md §12): up to four found one federation; more
    are split into two federations, which found a confederation. Every community gets
    balance-of-trade limits in its federation, and with a confederation each federation gets a
    capacity in it, divided among its communities: all by federation decisions, voted by the
    communities' admins (cli/federate.py). Returns False, doing nothing, if the first node already
    knows a federation of these names (linked before: a compose restart runs this again)."""
    known = {f["name"] for f in Client(seats[0].url).get("/api/federations")}
    if known & set(cluster_federation_names):
        return False
    half = (len(seats) + 1) // 2
    groups = ([("Cluster federation", seats)] if len(seats) <= 4
              else [("East federation", seats[:half]), ("West federation", seats[half:])])
    federate.link(groups, "Cluster confederation", "HRS", 2, trade_limit_minor=trade_limit_minor,
                  capacity_minor=federation_capacity_minor)
    return True


def wait_for(urls: list[str], timeout_seconds: float = start_timeout_seconds) -> list[str]:
    """Each node's id (n_…), once every node answers."""
    deadline = time.monotonic() + timeout_seconds
    found = []
    for url in urls:
        while True:
            try:
                found.append(Client(url).get("/api/community")["node"])
                break
            except NodeUnreachable:
                if time.monotonic() > deadline:
                    raise ClusterError(f"{url} did not answer within {timeout_seconds:.0f} s") from None
                time.sleep(0.2)
    return found


def _record(directory: Path, communities: list[Community]) -> None:
    document = [
        {"name": c.name, "home": str(c.home), "url": c.url, "node": c.node, "pid": c.pid} for c in communities
    ]
    temporary = directory / "cluster.json.tmp"
    temporary.write_text(json.dumps(document, indent=1) + "\n")
    os.replace(temporary, directory / "cluster.json")


def member_keys(community: Community) -> list[Path]:
    return sorted((community.home / "members").glob("*.key"))


def _member_key(community: Community, name: str) -> KeyPair:
    return read_key(community.home / "members" / f"{name.lower()}.key")


def _admit_members(community: Community) -> None:
    client = Client(community.url)
    admin = read_key(community.home / "admin.key")
    folder = community.home / "members"
    folder.mkdir(exist_ok=True)
    for name in member_names[:members_per_community]:
        pair = KeyPair.generate()
        write_key(folder / f"{name.lower()}.key", pair)
        client.submit(admin, AdmitMember(member=pair.public, name=name))


# The demo's enterprise: customer shares (withdrawable at par, one vote each) and investor shares
# (transferable, so they trade on the local exchange; one vote and a dividend weight of 2 each).
bakery_classes = (
    ShareClass("Customer shares", "user", 1, 1, 100, True, False, 100, True),
    ShareClass("Investor shares", "investor", 1, 2, 500, False, True, None, False),
)
bakery_investor_class = 1
# The offer of investor shares: 40 at 5.00, at least 10 to be allotted, at most 20 a member, open
# for `bakery_offer_ms` on the log's time. The members subscribe 12 (`bakery_subscriptions`) at
# once, so it closes allotted: every subscriber gets what they asked, the Bakery gets 60.00. The
# period only has to outlast four subscriptions; it runs while the other communities are populated.
bakery_offer_price_minor = 500
bakery_offer_units, bakery_offer_min_units, bakery_offer_member_cap_units = 40, 10, 20
bakery_offer_ms = 3_000
bakery_subscriptions = {"Ada": 4, "Bruno": 3, "Chiara": 3, "Dev": 2}
# On the exchange: Ada sells 2 at 6.00 and Bruno's buy of 2 at up to 6.50 fills at 6.00 (the
# resting order's price); Chiara's sell at 6.50 and Dev's buy at 5.50 stay in the book.
bakery_orders = (
    ("Ada", "sell", 2, 600),
    ("Bruno", "buy", 2, 650),
    ("Chiara", "sell", 1, 650),
    ("Dev", "buy", 1, 550),
)
# The holders' dividend: proposed by the manager, every holder agrees, and the decision closes
# passed `bakery_dividend_vote_ms` after it opened (a holders' decision has no least period; it
# keeps the deadline its proposer chose), paying 12.00 pro rata to the 12 investor shares.
bakery_dividend_minor = 12_00
bakery_dividend_vote_ms = 3_000


def _open_bakery(community: Community) -> tuple[bytes, int]:
    """Register the Bakery, open its offer and subscribe the members; returns (enterprise, offer)."""
    client = Client(community.url)
    admin = read_key(community.home / "admin.key")
    registered = client.submit(admin, RegisterEnterprise(name="Bakery", classes=bakery_classes, notice_ms=86_400_000))
    bakery = enterprise_id(id_from_text("n", community.node), registered["seq"])
    offer = client.submit(admin, OpenOfferWithPeriod(
        bakery, bakery_investor_class, bakery_offer_price_minor, bakery_offer_units, bakery_offer_min_units,
        bakery_offer_member_cap_units, 0, open_for_ms=bakery_offer_ms))["seq"]
    for name, units in bakery_subscriptions.items():
        client.submit(_member_key(community, name), Subscribe(offer=offer, units=units))
    return bakery, offer


def _trade_bakery_shares(community: Community, bakery: bytes) -> None:
    client = Client(community.url)
    for name, side, units, price_minor in bakery_orders:
        client.submit(_member_key(community, name), PlaceOrder(bakery, bakery_investor_class, side, units, price_minor))  # type: ignore[arg-type]


def _propose_dividend(community: Community, bakery: bytes) -> int:
    """The manager proposes the dividend to the holders, who all agree; returns the decision's id."""
    client = Client(community.url)
    proposed = client.submit(read_key(community.home / "admin.key"), ProposeWithPeriod(
        decision_type="proposal", title="First dividend", text="12.00 HRS to the holders of investor shares",
        deadline_ms=0, electorate=Holders(bakery), effect=DeclareDividend(bakery, bakery_dividend_minor),
        voting_period_ms=bakery_dividend_vote_ms))
    for name in bakery_subscriptions:
        client.submit(_member_key(community, name), Vote(decision=proposed["seq"], position="agree"))
    return int(proposed["seq"])


def trade(community: Community, rng: random.Random) -> str | None:
    """One random payment between two demo members, or now and then a limit order for the
    Bakery's investor shares; returns a line saying what happened."""
    keys = member_keys(community)
    if rng.random() < 0.3:
        return _order(community, rng, keys)
    payer_path, payee_path = rng.sample(keys, 2)
    payer, payee = read_key(payer_path), read_key(payee_path)
    amount_minor = rng.randrange(1, 20) * 50
    try:
        Client(community.url).submit(payer, Transfer(to=payee.public, amount_minor=amount_minor, memo="demo trade"))
    except NodeRefused as refusal:
        return f"{community.name}: {payer_path.stem} -> {payee_path.stem} refused ({refusal.code})"
    return f"{community.name}: {payer_path.stem} paid {payee_path.stem} {amount_minor / 100:.2f} HRS"


def trade_across(communities: list[Community], rng: random.Random) -> str | None:
    """One random payment from a member of one community to a member of another, through the
    lowest federation above both; returns a line saying what happened."""
    payer_community, payee_community = rng.sample(communities, 2)
    payer_path, payee_path = rng.choice(member_keys(payer_community)), rng.choice(member_keys(payee_community))
    client = Client(payer_community.url)
    meeting = federate.meeting(client.get("/api/federations"), payer_community.node, payee_community.node, None)
    if meeting is None:
        return f"{payer_community.name} and {payee_community.name} share no federation yet"
    amount_minor = rng.randrange(1, 10) * 50
    action = PayAcross(federation=id_from_text("x", meeting["id"]), to_community=id_from_text("n", payee_community.node),
                       to_member=read_key(payee_path).public, amount_minor=amount_minor, memo="demo trade across")
    where = f"{payer_community.name}'s {payer_path.stem} -> {payee_community.name}'s {payee_path.stem}"
    try:
        client.submit(read_key(payer_path), action)
    except NodeRefused as refusal:
        return f"{where} refused ({refusal.code})"
    return f"{where}: sent {amount_minor / 100:.2f} HRS through {meeting['name']}"


def _order(community: Community, rng: random.Random, keys: list[Path]) -> str:
    trader_path = rng.choice(keys)
    side = rng.choice(("buy", "sell"))
    units, price = rng.randrange(1, 4), rng.randrange(450, 650, 10)
    client = Client(community.url)
    try:
        bakery = id_from_text("e", client.get("/api/enterprises/Bakery", limit=1)["id"])
        client.submit(read_key(trader_path), PlaceOrder(bakery, 1, side, units, price))  # type: ignore[arg-type]
    except NodeRefused as refusal:
        return f"{community.name}: {trader_path.stem}'s order to {side} Bakery shares refused ({refusal.code})"
    # The cluster's communities are all made by `up` in HRS with 2 decimals.
    return f"{community.name}: {trader_path.stem} placed an order to {side} {units} Bakery shares at {format_money(price, 2, 'HRS')}"


def load(directory: Path) -> list[Community]:
    path = Path(directory) / "cluster.json"
    if not path.exists():
        raise NoClusterError(f"no cluster is recorded in {directory}: give the folder you gave `tally cluster up`")
    return [
        Community(c["name"], Path(c["home"]), c["url"], c["node"], int(c["pid"])) for c in json.loads(path.read_text())
    ]


def _running(community: Community) -> bool:
    """Whether the community's node still runs; reaps it if it is this process's child and has exited."""
    if community.process is not None:
        return community.process.poll() is None
    try:
        if os.waitpid(community.pid, os.WNOHANG)[0] == community.pid:
            return False  # our child after all (an earlier `up` in this process), now reaped
    except ChildProcessError:
        pass  # not our child: its parent (or init) reaps it
    try:
        os.kill(community.pid, 0)
    except ProcessLookupError:
        return False
    return _is_node_of(community)


def _is_node_of(community: Community) -> bool:
    """Whether the process `community.pid` is this community's `tally serve` (and not a process that
    got the pid since): its command line names the home. Where /proc is missing, trust the pid."""
    try:
        command = Path(f"/proc/{community.pid}/cmdline").read_bytes()
        state = Path(f"/proc/{community.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    return state != "Z" and str(community.home).encode() in command


def _signal(community: Community, signal_number: int) -> None:
    try:
        if community.process is not None:
            community.process.send_signal(signal_number)
        else:
            os.kill(community.pid, signal_number)
    except ProcessLookupError:
        pass


def stop(communities: list[Community], grace_seconds: float = stop_grace_seconds) -> int:
    """SIGTERM every running node at once, wait for all of them together up to `grace_seconds`,
    SIGKILL the ones left, and reap every child; returns how many were running."""
    running = [community for community in communities if _running(community)]
    for community in running:
        _signal(community, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    left = list(running)
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [community for community in left if _running(community)]
    for community in left:
        _signal(community, signal.SIGKILL)
    for community in running:
        if community.process is not None:
            community.process.wait()  # reaped: no zombie, and its exit is certain
    kill_deadline = time.monotonic() + grace_seconds
    while any(_running(community) for community in left) and time.monotonic() < kill_deadline:
        time.sleep(0.02)  # not our children: their parent reaps them once SIGKILL lands
    return len(running)


def down(directory: Path, grace_seconds: float = down_grace_seconds) -> int:
    """Stop every node recorded in DIR/cluster.json (see `stop`) and forget them; returns how many
    were running."""
    stopped = stop(load(directory), grace_seconds)
    (Path(directory) / "cluster.json").unlink()
    return stopped


# ---- the commands -----------------------------------------------------------------------------------


@click.group(cls=TallyGroup)
def cluster() -> None:
    """Local clusters of communities on loopback, for testers."""


@cluster.command("up", epilog=example("tally cluster up /tmp/c --nodes 6 --base-port 7711"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--nodes", type=click.IntRange(1, len(community_names)), default=3, show_default=True)
@click.option("--base-port", type=click.IntRange(1024, 65000), default=None,
              help="The first of NODES consecutive ports (default: free ports).")
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def cluster_up(directory: Path, nodes: int, base_port: int | None, as_json: bool) -> None:
    """Start NODES communities with demo members trading; prints each URL."""
    communities = up(directory, nodes, base_port)
    if as_json:
        print_json([{"name": c.name, "url": c.url, "node": c.node, "home": str(c.home)} for c in communities])
        return
    for community in communities:
        click.echo(f"{visible(community.name):<14} {community.url}/  {community.node}")
    click.echo(f"stop them with: tally cluster down {directory}")


@cluster.command("link", epilog=example(
    "tally cluster link http://127.0.0.1:7600=riverside/admin.key http://127.0.0.1:7601=hilltop/admin.key"))
@click.argument("nodes", nargs=-1, required=True, metavar="URL=ADMIN_KEY...")
@refusals_exit_cleanly
def cluster_link(nodes: tuple[str, ...]) -> None:
    """Link running communities as `cluster up` does: one federation of up to four, or two
    federations in a confederation, with trade limits and capacity shares, by federation decisions
    signed with each community's ADMIN_KEY file. Does nothing if they are linked already. For
    clusters started another way. (docker/compose.yml links with one `link-NAME` job per community,
    docker/link.py, each holding only its own admin key; this does the same from one machine that
    holds every admin key.)"""
    pairs = [node.partition("=") for node in nodes]
    if any(not key for _, _, key in pairs):
        raise click.UsageError("give each node as URL=ADMIN_KEY_FILE")
    ids = wait_for([url for url, _, _ in pairs])
    seats = [federate.Seat(url, node, Path(key)) for (url, _, key), node in zip(pairs, ids, strict=True)]
    if link(seats):
        click.echo(f"linked {len(seats)} communities: " + ", ".join(
            f"{visible(f['name'])} ({f['id']})" for f in Client(seats[0].url).get("/api/federations")))
    else:
        click.echo("already linked: nothing to do")


@cluster.command("down", epilog=example("tally cluster down /tmp/c"))
@click.argument("directory", type=click.Path(path_type=Path))
@refusals_exit_cleanly
def cluster_down(directory: Path) -> None:
    """Stop every node of the cluster in DIRECTORY."""
    stopped = down(directory)
    click.echo(f"stopped {stopped} nodes")


commands = (cluster,)
