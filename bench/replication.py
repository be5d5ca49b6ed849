"""Replication benchmarks: bulk catch-up between two nodes, and propagation across ten.

How this works: catch-up copies a built feed (bench/homes.py) into a scratch home, serves it with
`tally serve`, and starts an empty follower peered with it: once with `verify_processes: 0` (every
member signature checked in the follower's own process: one core) and once with a process pool of
one worker per core. The follower's /api/status is polled every few milliseconds; the rate is the
events it stored between the first one it shows and the last, over that time, so process start-up
is not counted. Each transfer carries one member intent signature; the author's signature is checked
once per run, so the ratio to the raw Ed25519 verify rate of the same run says how close a
replica comes to the cost of the one signature it cannot avoid.

The source lists the follower as a peer too: a node serves its feeds only to nodes whose feed it
holds (docs/federation.md §2.2), so a one-way link would catch up nothing. `read_signing_cost`
times what that door costs a reader and a server per read (a heads poll): signing the request
with the node key, verifying it, and finding the signer's held feed.

Propagation starts ten nodes, in a line and in a random graph of degree three, admits two members
at the first node, and then times single payments from the moment the first node acknowledges one
(201) until every node's status shows it; each figure is the median of several payments.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import msgspec
from tallystick.node.home import Home, NodeConfig, init_home, read_key
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import AdmitMember, Transfer
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text
from tallystick.protocol.requests import sign_request, verify_request

from .served import ServedNode, _free_port, _tally_command

poll_interval_seconds = 0.005
catch_up_timeout_seconds = 600
propagation_nodes = 10
propagation_degree = 3
propagation_payments = 7
propagation_timeout_seconds = 30


@dataclass(frozen=True)
class CatchUp:
    events: int
    seconds: float
    verify_processes: int

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


async def _status(session: aiohttp.ClientSession, url: str) -> dict:
    async with session.get(url + "/api/status") as response:
        return await response.json()


async def _init(path: Path, name: str, port: int, peers: list[str], **config: object) -> Home:
    await init_home(
        path,
        name=name,
        unit_code="HRS",
        unit_decimals=2,
        debit_limit_minor=100_000,
        credit_ceiling_minor=100_000,
        now_ms=time.time_ns() // 1_000_000,
        config=NodeConfig(listen_host="127.0.0.1", listen_port=port, peers=peers, **config),  # type: ignore[arg-type]
    )
    return Home(path)


async def catch_up(source: Home, events: int, scratch: Path, verify_processes: int) -> CatchUp:
    """Time a new follower pulling the whole of `source`'s feed."""
    folder = scratch / f"catch-up-{verify_processes}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # A copy: serving a node can append (an idle checkpoint), and the built feed is a shared cache.
    copied = Home(folder / "source")
    shutil.copytree(source.path, copied.path, ignore=shutil.ignore_patterns("node.lock", "*.log"))
    follower_port = _free_port()
    # Linked both ways: the source serves its feed only to a node whose feed it holds.
    copied.write_config(msgspec.structs.replace(copied.config(), peers=[f"http://127.0.0.1:{follower_port}"]))
    async with ServedNode.tally(copied, folder / "source.log") as served_source:
        follower = await _init(
            folder / "follower", "Follower", follower_port, [served_source.url], verify_processes=verify_processes
        )
        feed = id_from_text("n", (await _community(served_source.url))["node"])
        feed_text = id_to_text("n", feed)
        # On the port the source lists it at: `tally serve --listen` overrides the home's config.
        async with ServedNode.tally(follower, folder / "follower.log", port=follower_port) as served_follower:
            first_seq = first_time = None
            deadline = time.monotonic() + catch_up_timeout_seconds
            async with aiohttp.ClientSession() as session:
                while time.monotonic() < deadline:
                    seq = (await _status(session, served_follower.url))["feeds"].get(feed_text, {}).get("seq", 0)
                    now = time.perf_counter()
                    if seq and first_seq is None:
                        first_seq, first_time = seq, now
                    if seq >= events:
                        assert first_seq is not None and first_time is not None
                        return CatchUp(events - first_seq, max(now - first_time, 1e-6), verify_processes)
                    await asyncio.sleep(poll_interval_seconds)
    raise RuntimeError(f"the follower did not catch up within {catch_up_timeout_seconds} s")


@dataclass(frozen=True)
class ReadSigningCost:
    reads: int
    sign_microseconds: float  # the reader: one Authorization header (Ed25519 sign)
    verify_microseconds: float  # the server: parse, time window, Ed25519 verify, and the held-feed look-up

    @property
    def total_microseconds(self) -> float:
        return self.sign_microseconds + self.verify_microseconds


def read_signing_cost(reads: int = 2000, feeds_held: int = 1000) -> ReadSigningCost:
    """What signing a heads poll costs (replication/reads.py) and checking it costs the server
    (node/http/readers.py, then `Holdings.feed_signed_by`'s remembered look-up, a dict here)."""
    key, node = KeyPair.generate(), KeyPair.generate().public
    held = {KeyPair.generate().public: bytes(32) for _ in range(feeds_held - 1)} | {key.public: bytes(32)}
    target = "/replication/heads?limit=10000"
    started = time.perf_counter()
    headers = [sign_request(key, node=node, method="GET", target=target, ts_ms=1_764_633_600_000 + i) for i in range(reads)]
    signed = time.perf_counter()
    for i, header in enumerate(headers):
        signer = verify_request(header, node=node, method="GET", target=target, body=b"", now_ms=1_764_633_600_000 + i)
        assert held.get(signer) is not None
    verified = time.perf_counter()
    return ReadSigningCost(reads, (signed - started) / reads * 1e6, (verified - signed) / reads * 1e6)


async def _community(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(url + "/api/community") as response:
        return await response.json()


def line(count: int) -> list[list[int]]:
    return [[j for j in (i - 1, i + 1) if 0 <= j < count] for i in range(count)]


def random_graph(count: int, degree: int, seed: int = 3) -> list[list[int]]:
    """A connected graph where every node has about `degree` neighbours: a ring plus random chords."""
    rng = random.Random(seed)
    neighbours = [{(i - 1) % count, (i + 1) % count} for i in range(count)]
    for i in range(count):
        while len(neighbours[i]) < degree:
            j = rng.randrange(count)
            if j != i and len(neighbours[j]) < degree + 1:
                neighbours[i].add(j)
                neighbours[j].add(i)
    return [sorted(n) for n in neighbours]


@dataclass(frozen=True)
class Propagation:
    topology: str
    nodes: int
    median_seconds: float
    worst_seconds: float


async def propagation(
    scratch: Path, topology: str, graph: list[list[int]], payments: int = propagation_payments
) -> Propagation:
    folder = scratch / f"propagation-{topology.replace(' ', '-')}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ports = [_free_port() for _ in graph]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    homes = [
        await _init(folder / f"node{i}", f"Node {i}", ports[i], [urls[j] for j in graph[i]], verify_processes=0)
        for i in range(len(graph))
    ]
    served = [
        ServedNode([*_tally_command(), "serve", str(home.path), "--listen", f"127.0.0.1:{ports[i]}"], ports[i],
                   folder / f"node{i}.log")
        for i, home in enumerate(homes)
    ]
    async with contextlib_nested(served):
        admin = read_key(homes[0].admin_key_path)
        feed = id_from_text("n", (await _community(urls[0]))["node"])
        payer, payee = KeyPair.generate(), KeyPair.generate()
        nonce = iter(range(1, 10_000))
        async with aiohttp.ClientSession() as session:
            for member, name in ((payer, "payer"), (payee, "payee")):
                await _post(session, urls[0], sign_member_intent(admin, feed=feed, nonce=next(nonce), action=AdmitMember(member=member.public, name=name)))
            times = []
            for _ in range(payments):
                intent = sign_member_intent(payer, feed=feed, nonce=next(nonce), action=Transfer(to=payee.public, amount_minor=1))
                appended = await _post(session, urls[0], intent)
                started = time.perf_counter()
                await _wait_everywhere(session, urls, id_to_text("n", feed), appended["seq"])
                times.append(time.perf_counter() - started)
                await asyncio.sleep(0.2)
    return Propagation(topology, len(graph), statistics.median(times), max(times))


async def _post(session: aiohttp.ClientSession, url: str, intent: bytes) -> dict:
    async with session.post(url + "/api/intents", data=intent, headers={"Content-Type": "application/msgpack"}) as response:
        if response.status != 201:
            raise RuntimeError(f"{url} refused a bench intent: {await response.text()}")
        return await response.json()


async def _wait_everywhere(session: aiohttp.ClientSession, urls: list[str], feed_text: str, seq: int) -> None:
    waiting = set(urls)
    deadline = time.monotonic() + propagation_timeout_seconds
    while waiting:
        if time.monotonic() > deadline:
            raise RuntimeError(f"seq {seq} did not reach {sorted(waiting)} within {propagation_timeout_seconds} s")
        statuses = await asyncio.gather(*(_status(session, url) for url in waiting))
        for url, status in zip(list(waiting), statuses, strict=True):
            if status["feeds"].get(feed_text, {}).get("seq", 0) >= seq:
                waiting.discard(url)
        if waiting:
            await asyncio.sleep(poll_interval_seconds)


class contextlib_nested:
    """Enter several ServedNodes at once (they start in parallel) and stop them all on exit."""

    def __init__(self, nodes: list[ServedNode]) -> None:
        self.nodes = nodes

    async def __aenter__(self) -> list[ServedNode]:
        entered = await asyncio.gather(*(node.__aenter__() for node in self.nodes), return_exceptions=True)
        failures = [result for result in entered if isinstance(result, BaseException)]
        if failures:
            await self.__aexit__(None, None, None)
            raise failures[0]
        return self.nodes

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.gather(*(node.__aexit__(None, None, None) for node in self.nodes), return_exceptions=True)


async def main(events: int) -> None:
    """`python -m bench.replication [EVENTS]`: these benchmarks alone."""
    from .homes import cached_feed
    from .raw import verify_rate

    built = await cached_feed(events)
    scratch = Path("bench/results/scratch-replication")
    raw = verify_rate(3000).per_second
    cost = read_signing_cost()
    print(f"signed read (a heads poll): sign {cost.sign_microseconds:.0f} µs + verify {cost.verify_microseconds:.0f} µs "
          f"= {cost.total_microseconds:.0f} µs per read")
    one = await catch_up(built.home, built.events, scratch, 0)
    two = await catch_up(built.home, built.events, scratch, 2)
    print(f"raw Ed25519 verify: {raw:,.0f}/s")
    print(f"catch-up, one core: {one.per_second:,.0f} events/s = {one.per_second / raw:.0%} of raw verify")
    print(f"catch-up, pool of 2: {two.per_second:,.0f} events/s = {two.per_second / one.per_second:.2f}x one core")
    for name, graph in (("line", line(propagation_nodes)), ("random degree 3", random_graph(propagation_nodes, propagation_degree))):
        result = await propagation(scratch, name, graph)
        print(f"propagation to {result.nodes} nodes, {name}: median {result.median_seconds * 1000:.0f} ms, worst {result.worst_seconds * 1000:.0f} ms")


if __name__ == "__main__":
    import sys

    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
