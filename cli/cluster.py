"""Local clusters for testers and the demo: N communities on loopback, with members who trade.

How this works: `up` runs `tally init` for each community in DIR/<slug>/, starts each `tally serve`
as its own detached process (its output in DIR/<slug>/serve.log), records the processes in
DIR/cluster.json, waits until every node answers, then admits demo members (their key files in
DIR/<slug>/members/), makes a few payments between them, opens each community's Bakery share offer,
and has every community adopt one charter, so the cluster is one federation (DESIGN's contract for
`tally cluster up`). `down` stops every recorded process
with SIGTERM and waits for it. Nothing here is special to the demo: the nodes are ordinary homes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tallystick.node.home import NodeConfig, init_home, read_key, write_key
from tallystick.node.shares import enterprise_id
from tallystick.protocol.errors import LocalError
from tallystick.protocol.events import (
    AdmitMember,
    OpenOffer,
    PayAcross,
    PlaceOrder,
    RegisterEnterprise,
    ShareClass,
    Subscribe,
    Transfer,
)
from tallystick.protocol.ids import KeyPair, id_from_text

from . import federate
from .client import Client, NodeRefused, NodeUnreachable

community_names = [
    "Riverside", "Hilltop", "Millbrook", "Oakhaven", "Fernwood", "Stonebridge", "Willowmere", "Ashford",
    "Brightwater", "Cedar Hollow", "Elmstead", "Foxley",
]
member_names = ["Ada", "Bruno", "Chiara", "Dev", "Esme", "Farid", "Gwen", "Hugo"]
members_per_community = 4
start_timeout_seconds = 30
# Each community's balance-of-trade limits in its federation, either way; with a confederation, each
# federation's capacity in it (divided equally among its communities).
trade_limit_minor = 200_00
federation_capacity_minor = 300_00


class ClusterError(LocalError):
    code = "cluster"


@dataclass
class Community:
    name: str
    home: Path
    url: str
    node: str
    pid: int


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def _wait_for_node(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    client = Client(url)
    deadline = time.monotonic() + start_timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterError(f"the node at {url} exited at start; see {log_path}")
        try:
            client.get("/api/status")
            return
        except NodeUnreachable:
            time.sleep(0.1)
    raise ClusterError(f"the node at {url} did not answer within {start_timeout_seconds} s; see {log_path}")


def up(directory: Path, nodes: int, base_port: int, host: str = "127.0.0.1", seed: int = 1) -> list[Community]:
    directory = Path(directory)
    if (directory / "cluster.json").exists():
        raise ClusterError(f"a cluster is recorded in {directory}; run `tally cluster down {directory}` first")
    if not 1 <= nodes <= len(community_names):
        raise ClusterError(f"a local cluster has 1 to {len(community_names)} nodes")
    directory.mkdir(parents=True, exist_ok=True)
    urls = [f"http://{host}:{base_port + index}" for index in range(nodes)]
    communities: list[Community] = []
    for index in range(nodes):
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
                now_ms=time.time_ns() // 1_000_000,
                config=NodeConfig(listen_host=host, listen_port=base_port + index, peers=peers),
            )
        )
        log_path = home / "serve.log"
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "tallystick.cli.main", "serve", str(home)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        communities.append(Community(name, home, urls[index], created.node, process.pid))
        _record(directory, communities)
        _wait_for_node(urls[index], process, log_path)
    rng = random.Random(seed)
    for community in communities:
        _populate(community, rng)
    if len(communities) > 1:
        _federate(communities)
    return communities


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


def _populate(community: Community, rng: random.Random) -> None:
    client = Client(community.url)
    admin = read_key(community.home / "admin.key")
    folder = community.home / "members"
    folder.mkdir(exist_ok=True)
    for name in member_names[:members_per_community]:
        pair = KeyPair.generate()
        write_key(folder / f"{name.lower()}.key", pair)
        client.submit(admin, AdmitMember(member=pair.public, name=name))
    for _ in range(6):
        trade(community, rng)
    _open_bakery(community, client, admin, rng)


# The demo's enterprise: customer shares (withdrawable at par, one vote each) and investor shares
# (transferable, so they trade on the local exchange), offered for `bakery_offer_ms` after `up`.
bakery_classes = (
    ShareClass("Customer shares", "user", 1, 1, 100, True, False, 100, True),
    ShareClass("Investor shares", "investor", 1, 2, 500, False, True, None, False),
)
bakery_offer_ms = 20_000


def _open_bakery(community: Community, client: Client, admin: KeyPair, rng: random.Random) -> None:
    registered = client.submit(admin, RegisterEnterprise(name="Bakery", classes=bakery_classes, notice_ms=86_400_000))
    bakery = enterprise_id(id_from_text("n", community.node), registered["seq"])
    deadline = time.time_ns() // 1_000_000 + bakery_offer_ms
    offer = client.submit(admin, OpenOffer(bakery, 1, 500, 40, 10, 20, deadline))["seq"]
    for path in member_keys(community)[:4]:
        try:
            client.submit(read_key(path), Subscribe(offer=offer, units=rng.randrange(1, 6)))
        except NodeRefused:
            pass  # a member already near their debit limit from the demo's payments simply does not subscribe


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
    return f"{community.name}: {trader_path.stem} placed an order to {side} {units} Bakery shares at {price / 100:.2f}"


def load(directory: Path) -> list[Community]:
    path = Path(directory) / "cluster.json"
    if not path.exists():
        raise ClusterError(f"no cluster is recorded in {directory}")
    return [
        Community(c["name"], Path(c["home"]), c["url"], c["node"], int(c["pid"])) for c in json.loads(path.read_text())
    ]


def down(directory: Path, timeout_seconds: float = 15) -> int:
    """SIGTERM every node of the cluster and wait for each to exit; returns how many were running."""
    communities = load(directory)
    running = []
    for community in communities:
        try:
            os.kill(community.pid, signal.SIGTERM)
            running.append(community.pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_seconds
    for pid in running:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
    (Path(directory) / "cluster.json").unlink()
    return len(running)

