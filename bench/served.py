"""Benchmarks against a real `tally serve` process: transfers over HTTP, and its memory.

How this works: `ServedNode` starts `tally serve HOME --listen 127.0.0.1:PORT` (the console script
installed beside this Python), waits until /api/community answers, and stops it with SIGTERM, the
way an operator would. For throughput, the bench members' transfer intents are signed before the
clock starts; then 64 clients, each with its own aiohttp session holding one keep-alive connection,
post them as msgpack to /api/intents, one at a time per client, and only a 201 (sent after the
event's commit) counts. Each round also records the server's and the clients' CPU time per request
(/proc/PID/stat, `time.process_time`) and the node's group commits (/metrics), and the same clients
are run against bench/noop_server.py, an aiohttp server that does nothing: the HTTP ceiling of this
machine. For memory, the peak resident set (VmHWM in /proc/PID/status) is read after start-up and
again after a round of reads (balances, log pages across the whole feed, status, members), with the
served home holding a million events.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiohttp
from tallystick.node.home import Home, read_key
from tallystick.protocol.ids import hash32, id_from_text
from tallystick.protocol.requests import sign_request
from yarl import URL

from .homes import fresh_nonce_base, members_default, transfer_plan

# Concurrent HTTP clients in the throughput bench, each its own session and connection.
http_clients = 64
# Seconds to wait for a served node to answer its first request, and to stop after SIGTERM.
start_timeout_seconds = 120
stop_timeout_seconds = 60
# Clients and rounds of reads (balances, a log page of 1000 events, status, members) in the memory bench.
memory_read_clients = 8
memory_read_rounds = 25
log_page_events = 1000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tally_command() -> list[str]:
    script = Path(sys.executable).with_name("tally")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from tallystick.cli.main import main; main()"]


@dataclass(frozen=True)
class Memory:
    peak_kib: int  # VmHWM
    resident_kib: int  # VmRSS


class ServedNode:
    """A server subprocess on a free loopback port; `async with` starts it, waits until
    /api/community answers, and stops it with SIGTERM. `tally` makes a real `tally serve` (with
    `profile_to`, under cProfile, which writes its profile on exit); `noop` the HTTP ceiling."""

    def __init__(self, command: list[str], port: int, log_path: Path) -> None:
        self.command, self.port, self.log_path = command, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None
        self.start_seconds = 0.0

    @classmethod
    def tally(cls, home: Home, log_path: Path, profile_to: Path | None = None, port: int | None = None) -> ServedNode:
        """`port`: the one a peer of this node was configured with; a free one when None."""
        port = _free_port() if port is None else port
        command = [*_tally_command(), "serve", str(home.path), "--listen", f"127.0.0.1:{port}"]
        if profile_to is not None:
            command = [sys.executable, "-m", "cProfile", "-o", str(profile_to), *command]
        return cls(command, port, log_path)

    @classmethod
    def noop(cls, log_path: Path) -> ServedNode:
        port = _free_port()
        return cls([sys.executable, str(Path(__file__).with_name("noop_server.py")), str(port)], port, log_path)

    async def __aenter__(self) -> Self:
        started = time.perf_counter()
        with open(self.log_path, "wb") as log:  # noqa: ASYNC230 - a local file, opened once
            self.process = await asyncio.create_subprocess_exec(
                *self.command, stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL
            )
        try:
            await self._wait_for_ready()
        except BaseException:
            await self._stop()
            raise
        self.start_seconds = time.perf_counter() - started
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop()

    async def _wait_for_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + start_timeout_seconds
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.command[0]} exited with {self.process.returncode}; see {self.log_path}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.url + "/api/community") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"the server did not answer within {start_timeout_seconds} s; see {self.log_path}")

    async def _stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), stop_timeout_seconds)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError(f"the server did not stop within {stop_timeout_seconds} s of SIGTERM") from None
        if process.returncode != 0:
            raise RuntimeError(f"the server stopped with status {process.returncode}; see {self.log_path}")

    def memory(self) -> Memory:
        assert self.process is not None
        fields: dict[str, int] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0])
        return Memory(peak_kib=fields["VmHWM"], resident_kib=fields["VmRSS"])

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far (all its threads)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class PostResult:
    """One timed round of posting intents from `http_clients` keep-alive clients."""

    transfers: int  # answered 201: for a node, appended and committed
    seconds: float
    statuses: dict[int, int]
    server_cpu_seconds: float
    client_cpu_seconds: float
    latencies_ms: list[float] = field(repr=False)
    commits: float | None = None  # group commits meanwhile, from the node's /metrics (None for noop)

    @property
    def per_second(self) -> float:
        return self.transfers / self.seconds

    def latency_percentile_ms(self, percent: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[percent - 1] if len(self.latencies_ms) > 1 else 0.0

    def summary(self) -> dict[str, object]:
        requests = max(1, sum(self.statuses.values()))
        return {
            "transfers": self.transfers,
            "seconds": self.seconds,
            "per_second": self.per_second,
            "statuses": self.statuses,
            "latency_p50_ms": self.latency_percentile_ms(50),
            "latency_p99_ms": self.latency_percentile_ms(99),
            "server_cpu_us_per_request": self.server_cpu_seconds / requests * 1e6,
            "server_busy_fraction": self.server_cpu_seconds / self.seconds,
            "client_cpu_us_per_request": self.client_cpu_seconds / requests * 1e6,
            "commits": self.commits,
            "events_per_commit": self.transfers / self.commits if self.commits else None,
        }


async def _post_all(session: aiohttp.ClientSession, url: str, intents: list[bytes], statuses: Counter[int],
                    latencies_ms: list[float]) -> None:
    headers = {"Content-Type": "application/msgpack"}
    for intent in intents:
        started = time.perf_counter()
        async with session.post(url, data=intent, headers=headers) as response:
            await response.read()
            statuses[response.status] += 1
        latencies_ms.append((time.perf_counter() - started) * 1000)


class Clients:
    """`http_clients` sessions, each with one keep-alive connection to one server."""

    def __init__(self, node: ServedNode) -> None:
        self.node = node
        self.sessions: list[aiohttp.ClientSession] = []

    async def __aenter__(self) -> Self:
        timeout = aiohttp.ClientTimeout(total=120)
        for _ in range(http_clients):
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout)
            self.sessions.append(session)
            async with session.get(self.node.url + "/api/community") as response:  # opens the connection
                self.community = await response.json()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for session in self.sessions:
            await session.close()

    async def commits(self) -> float | None:
        """The node's count of group commits (tally_batches_committed), or None if it has none."""
        async with self.sessions[0].get(self.node.url + "/metrics") as response:
            if response.status != 200:
                return None
            for line in (await response.text()).splitlines():
                if line.startswith("tally_batches_committed"):
                    return float(line.split()[-1])
        return None

    async def post(self, intents: list[bytes]) -> PostResult:
        """Post `intents` (client i sends every `http_clients`-th, in order) and time it."""
        statuses: Counter[int] = Counter()
        latencies_ms: list[float] = []
        url = self.node.url + "/api/intents"
        commits_before = await self.commits()
        server_cpu, client_cpu = self.node.cpu_seconds(), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(
            *(
                _post_all(session, url, intents[index::http_clients], statuses, latencies_ms)
                for index, session in enumerate(self.sessions)
            )
        )
        seconds = time.perf_counter() - started
        server_cpu, client_cpu = self.node.cpu_seconds() - server_cpu, time.process_time() - client_cpu
        commits_after = await self.commits()
        commits = None if commits_before is None or commits_after is None else commits_after - commits_before
        return PostResult(statuses[201], seconds, dict(statuses), server_cpu, client_cpu, latencies_ms, commits)


async def noop_ceiling(folder: Path, requests: int) -> PostResult:
    """The same clients against a server that does nothing: what aiohttp and the clients cost."""
    intents = transfer_plan(hash32(b"noop feed"), members_default, 0, requests, fresh_nonce_base)
    async with ServedNode.noop(folder / "noop-serve.log") as node, Clients(node) as clients:
        return await clients.post(intents)


@dataclass(frozen=True)
class MemoryResult:
    events: int
    start_seconds: float
    after_start: Memory
    after_reads: Memory
    reads: int


class AdminReads:
    """GETs signed by the home's admin (docs/protocol.md §18), who may read every route: the log
    and members' pages are not a stranger's (docs/privacy.md). Signing costs a few tens of
    microseconds per request, part of what a member's reads cost."""

    def __init__(self, home: Home, feed: bytes) -> None:
        self.key, self.feed = read_key(home.admin_key_path), feed

    @classmethod
    async def of(cls, session: aiohttp.ClientSession, url: str, home: Home) -> AdminReads:
        async with session.get(url + "/api/community") as response:
            return cls(home, id_from_text("n", (await response.json())["node"]))

    def get(self, session: aiohttp.ClientSession, url: str, target: str) -> Any:
        """`session.get` of `url` + `target` (a path and query, already encoded), signed."""
        authorization = sign_request(self.key, node=self.feed, method="GET", target=target,
                                     ts_ms=time.time_ns() // 1_000_000)
        return session.get(URL(url + target, encoded=True), headers={"Authorization": authorization})


async def _read_round(session: aiohttp.ClientSession, url: str, events: int, chooser: random.Random,
                      reads: AdminReads) -> int:
    paths = [
        "/api/balances",
        f"/api/log?from={chooser.randint(1, max(1, events - log_page_events))}&limit={log_page_events}",
        "/api/status",
        "/api/members",
        "/api/community",
    ]
    for path in paths:
        async with reads.get(session, url, path) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")
    return len(paths)


async def serve_memory(home: Home, events: int, log_path: Path) -> MemoryResult:
    async with ServedNode.tally(home, log_path) as node:
        await asyncio.sleep(0.5)  # let start-up settle (the timer's first tick)
        after_start = node.memory()

        async def reader(seed: int) -> int:
            chooser = random.Random(seed)
            async with aiohttp.ClientSession() as session:
                reads = await AdminReads.of(session, node.url, home)
                return sum([await _read_round(session, node.url, events, chooser, reads)
                            for _ in range(memory_read_rounds)])

        reads = sum(await asyncio.gather(*(reader(seed) for seed in range(memory_read_clients))))
        after_reads = node.memory()
    return MemoryResult(events, node.start_seconds, after_start, after_reads, reads)


def process_peak_kib() -> int:
    """This process's own VmHWM, for the record."""
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
