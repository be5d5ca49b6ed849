"""`python -m bench [--quick] [--only SECTIONS] [--profile] [--wait-for-quiet S] [--rebuild-cache]`.

How this works: each section adds measurements, each a figure, the raw limit it is compared with,
the ratio, and its goal. Every timed measurement is bracketed by two fresh snapshots of the raw
limits (bench/raw.py) and compared with their mean, because other processes come and go on these
two cores; the sequencer and HTTP measurements are repeated and the best ratio is reported, and the
machine's total busy cores during each measurement are recorded to show when something else ran.
The table is printed with rich and everything, with the machine's description, is written to
bench/results/latest.json. `--profile` runs the in-process sections and the served node under
cProfile and writes bench/results/profiles/ (figures taken under a profiler are not the
benchmark's, and are marked so). See bench/__init__.py for the sections.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from tallystick.protocol.ids import id_from_text

from . import costs as costs_module
from . import exchange, inprocess, raw, replication, served
from .homes import (
    BuiltHome,
    admitted_home,
    build_feed,
    cached_feed,
    fresh_nonce_base,
    members_default,
    results_folder,
    transfer_plan,
)

sections_all = ("costs", "sequencer", "http", "offline", "memory", "replication", "exchange", "pages",
                "payments")
console = Console(stderr=True)
# Wide enough for the table when stdout is a file or a pipe (CI logs).
output_console = Console(width=None if sys.stdout.isatty() else 160)
Result = TypeVar("Result")


@dataclass(frozen=True)
class Sizes:
    """How much work each section does; `--quick` is a smoke run of every code path."""

    limit_verify_iterations: int  # per timed loop of a limits snapshot (best of raw.repeats)
    limit_append_iterations: int
    cost_sample_intents: int
    repeats: int  # of the sequencer and HTTP measurements; the best ratio is reported
    sequencer_transfers: int
    http_transfers: int
    offline_events: int
    memory_events: int
    cache_homes: bool
    replication_events: int = 100_000
    propagation_payments: int = 7
    exchange_resting: int = 10_000  # orders resting in the book before the clock starts
    exchange_orders: int = 10_000


full_sizes = Sizes(2000, 1500, 2000, 3, 20_000, 10_000, 100_000, 1_000_000, cache_homes=True)
quick_sizes = Sizes(300, 200, 300, 1, 1000, 500, 3000, 10_000, cache_homes=False, replication_events=3000,
                    propagation_payments=2, exchange_resting=500, exchange_orders=500)

megabyte = 1_000_000
# The goals this benchmark checks (docs/performance.md explains each).
goal_sequencer_ratio = 0.50  # of the raw append loop
goal_exchange_ratio = 0.70  # orders through the sequencer with a deep book, of plain transfers
goal_http_ratio = 0.25  # of the raw append loop
goal_rebuild_per_second = 50_000
goal_verify_ratio = 0.60  # of raw Ed25519 verifications
goal_peak_rss_bytes = 200 * megabyte
goal_catch_up_ratio = 0.60  # of raw Ed25519 verifications, one core
goal_catch_up_pool_speedup = 1.6  # two cores over one
goal_propagation_seconds = 1.0  # to all of 10 nodes


@dataclass
class Measurement:
    name: str
    value: float
    unit: str
    against: str  # the limit the ratio is taken to
    limit: float  # its value, measured around this measurement
    ratio: float
    goal: str
    met: bool | None  # None: a limit, or a figure for the record without a goal
    # The same ratio taken by CPU time (the process's, or the server's), which other processes on
    # the machine barely move: what the code costs, as opposed to what the busy machine allowed.
    cpu_ratio: float | None = None


def machine_description() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    versions = {}
    for name in ("aiohttp", "aiosqlite", "msgspec", "PyNaCl", "immutables", "pyrsistent"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(memory_kib / 2**20, 1),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it (other work in progress)."""
    repository = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repository, capture_output=True, text=True,
                                check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repository,
                                 capture_output=True, text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "changed_files": None}
    return {"commit": commit, "changed_files": sorted(line[3:] for line in changed if line.strip())}


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has spent since boot (user, system, irq, steal)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(timeout_seconds: float) -> float:
    """Wait (up to `timeout_seconds`) until other processes leave the machine at least 3/4 idle for
    two seconds; returns the busy fraction last seen. Other engineers' test runs share these cores."""
    deadline = time.monotonic() + timeout_seconds
    cores = len(os.sched_getaffinity(0))
    while True:
        busy = machine_busy_seconds()
        time.sleep(2)
        fraction = (machine_busy_seconds() - busy) / 2 / cores
        if fraction < 0.25 or time.monotonic() >= deadline:
            return fraction
        console.print(f"the machine is {fraction:.0%} busy with other work; waiting for it to quieten")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


async def _home_of(events: int, sizes: Sizes, scratch: Path, name: str) -> BuiltHome:
    with _progress() as progress:
        task = progress.add_task(f"building a home of {events:,} events", total=events)

        def advance(seq: int) -> None:
            progress.update(task, completed=seq)

        if sizes.cache_homes:
            return await cached_feed(events, progress=advance)
        return await build_feed(scratch / name, events, progress=advance)


class Run:
    def __init__(self, sizes: Sizes, profile_folder: Path | None, scratch: Path) -> None:
        self.sizes, self.profile_folder, self.scratch = sizes, profile_folder, scratch
        self.measurements: list[Measurement] = []
        self.details: dict[str, Any] = {}
        self.snapshots: list[raw.Limits] = []
        self.busy_cores: list[float] = []  # of the whole machine, during each bracketed measurement

    def limits(self) -> raw.Limits:
        """A fresh snapshot of the raw limits; every one is kept for the record."""
        snapshot = raw.measure_limits(self.sizes.limit_verify_iterations, self.sizes.limit_append_iterations)
        self.snapshots.append(snapshot)
        return snapshot

    async def bracketed(self, work: Callable[[], Awaitable[Result]]) -> tuple[Result, raw.Limits]:
        """Run `work` between two snapshots of the limits; the machine's limit during it is their mean.
        Also records how busy the whole machine was meanwhile (`machine_busy_cores`), which shows
        when other processes shared the two cores."""
        before = self.limits()
        busy, started = machine_busy_seconds(), time.perf_counter()
        result = await work()
        self.busy_cores.append((machine_busy_seconds() - busy) / (time.perf_counter() - started))
        return result, raw.Limits.mean(before, self.limits())

    def add(self, name: str, value: float, unit: str, against: str, limit: float, goal: str,
            met: bool | None, cpu_ratio: float | None = None) -> None:
        ratio = value / limit if limit else 0.0
        self.measurements.append(Measurement(name, value, unit, against, limit, ratio, goal, met, cpu_ratio))

    async def profiled(self, name: str, work: Callable[[], Awaitable[Result]]) -> Result:
        """Run `work` under cProfile when profiling (tottime top 30 beside the .prof file)."""
        if self.profile_folder is None:
            return await work()
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return await work()
        finally:
            profiler.disable()
            profiler.dump_stats(self.profile_folder / f"{name}.prof")
            write_profile_summary(self.profile_folder / f"{name}.prof")

    def raw_limits(self) -> None:
        """The headline limits: the best of every snapshot taken in the run."""
        if not self.snapshots:  # a run of sections that bracket nothing (e.g. --only memory)
            self.limits()
        verify = max(snapshot.verify_per_second for snapshot in self.snapshots)
        append = max(snapshot.append_per_second for snapshot in self.snapshots)
        self.details["raw"] = {
            "verify_per_second_best": verify,
            "append_per_second_best": append,
            "snapshots": [asdict(snapshot) for snapshot in self.snapshots],
        }
        self.measurements[0:0] = [
            Measurement("raw Ed25519 verify, best snapshot", verify, "verify/s", "itself", verify, 1.0, "", None),
            Measurement("raw append (verify+sign+BLAKE2b), best", append, "events/s", "itself",
                        append, 1.0, "", None),
        ]

    async def costs(self) -> None:
        costs = await costs_module.stage_costs(self.scratch, self.sizes.cost_sample_intents)
        snapshot = self.limits()
        self.details["costs_cpu_us_per_event"] = costs
        self.details["costs_limits"] = asdict(snapshot)

    async def sequencer(self) -> None:
        repeats = []
        for repeat in range(self.sizes.repeats):
            folder = self.scratch / f"sequencer-{repeat}"
            folder.mkdir()

            async def one_run(folder: Path = folder, name: str = f"sequencer-{repeat}") -> inprocess.SequencerResult:
                return await self.profiled(
                    name, lambda: inprocess.sequencer_transfers_per_second(folder, self.sizes.sequencer_transfers)
                )

            result, limits = await self.bracketed(one_run)
            repeats.append({**asdict(result), "per_second": result.per_second,
                            "per_cpu_second": result.per_cpu_second,
                            "events_per_commit": result.transfers / max(1, result.batches),
                            "limits": asdict(limits), "ratio": result.per_second / limits.append_per_second,
                            "cpu_ratio": result.per_cpu_second / limits.append_per_cpu_second})
        best = max(repeats, key=lambda item: item["ratio"])
        self.details["sequencer"] = {"best": best, "repeats": repeats}
        self.add("sequencer in-process, durable transfers", best["per_second"], "events/s", "raw append",
                 best["limits"]["append_per_second"], f">= {goal_sequencer_ratio:.0%} of raw append",
                 best["ratio"] >= goal_sequencer_ratio and best["refused"] == 0, best["cpu_ratio"])

    async def http(self) -> None:
        profile_to = self.profile_folder / "serve.prof" if self.profile_folder else None
        home = await admitted_home(self.scratch / "http-home", members_default)
        transfers = self.sizes.http_transfers
        repeats = []
        node = served.ServedNode.tally(home, self.scratch / "http-serve.log", profile_to)
        async with node, served.Clients(node) as clients:
            feed = id_from_text("n", clients.community["node"])
            memory_start = node.memory()
            for repeat in range(self.sizes.repeats):
                intents = transfer_plan(feed, members_default, repeat * transfers, transfers, fresh_nonce_base)
                result, limits = await self.bracketed(lambda intents=intents: clients.post(intents))
                summary = result.summary()
                repeats.append({**summary, "limits": asdict(limits),
                                "ratio": result.per_second / limits.append_per_second,
                                "server_cpu_ratio": 1e6 / summary["server_cpu_us_per_request"]
                                / limits.append_per_cpu_second})
            memory_end = node.memory()
        if profile_to is not None:
            write_profile_summary(profile_to)
        ceiling, ceiling_limits = await self.bracketed(lambda: served.noop_ceiling(self.scratch, transfers))
        best = max(repeats, key=lambda item: item["ratio"])
        self.details["http"] = {
            "clients": served.http_clients,
            "best": best,
            "repeats": repeats,
            "noop_ceiling": {**ceiling.summary(), "limits": asdict(ceiling_limits)},
            "peak_rss_bytes_after_start": memory_start.peak_kib * 1024,
            "peak_rss_bytes_after_posts": memory_end.peak_kib * 1024,
        }
        self.add(f"tally serve, HTTP, {served.http_clients} clients, transfers", best["per_second"],
                 "events/s", "raw append", best["limits"]["append_per_second"],
                 f">= {goal_http_ratio:.0%} of raw append",
                 best["ratio"] >= goal_http_ratio and best["transfers"] == transfers, best["server_cpu_ratio"])
        self.add("  HTTP ceiling: same clients, no-op server", ceiling.per_second, "requests/s",
                 "raw append", ceiling_limits.append_per_second, "(for the record)", None,
                 1e6 / ceiling.summary()["server_cpu_us_per_request"] / ceiling_limits.append_per_cpu_second)

    async def offline(self) -> None:
        built = await _home_of(self.sizes.offline_events, self.sizes, self.scratch, "offline-home")
        rebuilt, rebuild_limits = await self.bracketed(
            lambda: self.profiled("rebuild", lambda: inprocess.rebuild_per_second(built.home)))
        verified, verify_limits = await self.bracketed(
            lambda: self.profiled("verify", lambda: inprocess.verify_per_second(built.home)))
        self.details["offline"] = {
            "home": str(built.home.path),
            "home_cached": built.cached,
            "build_seconds": built.build_seconds,
            "rebuild": {**asdict(rebuilt), "per_second": rebuilt.per_second, "per_cpu_second": rebuilt.per_cpu_second,
                        "limits": asdict(rebuild_limits)},
            "verify": {**asdict(verified), "per_second": verified.per_second, "per_cpu_second": verified.per_cpu_second,
                       "limits": asdict(verify_limits),
                       "cpu_ratio": verified.per_cpu_second / verify_limits.verify_per_cpu_second},
        }
        self.add(f"rebuild_home, {built.events:,} events", rebuilt.per_second, "events/s", "raw append",
                 rebuild_limits.append_per_second, f">= {goal_rebuild_per_second:,}/s",
                 rebuilt.per_second >= goal_rebuild_per_second,
                 rebuilt.per_cpu_second / rebuild_limits.append_per_cpu_second)
        ratio = verified.per_second / verify_limits.verify_per_second
        self.add(f"verify_home, {built.events:,} events", verified.per_second, "events/s", "raw verify",
                 verify_limits.verify_per_second, f">= {goal_verify_ratio:.0%} of raw verify",
                 ratio >= goal_verify_ratio, verified.per_cpu_second / verify_limits.verify_per_cpu_second)

    async def replication(self) -> None:
        built = await _home_of(self.sizes.replication_events, self.sizes, self.scratch, "replication-home")
        one, one_limits = await self.bracketed(
            lambda: replication.catch_up(built.home, built.events, self.scratch, verify_processes=0))
        pool, pool_limits = await self.bracketed(
            lambda: replication.catch_up(built.home, built.events, self.scratch, verify_processes=2))
        ratio = one.per_second / one_limits.verify_per_second
        self.add(f"catch-up of {built.events:,} events, one core", one.per_second, "events/s", "raw verify",
                 one_limits.verify_per_second, f">= {goal_catch_up_ratio:.0%} of raw verify",
                 ratio >= goal_catch_up_ratio)
        speedup = pool.per_second / one.per_second
        self.add("  catch-up with a pool of 2 processes", pool.per_second, "events/s", "one-core catch-up",
                 one.per_second, f">= {goal_catch_up_pool_speedup}x one core", speedup >= goal_catch_up_pool_speedup)
        propagations = []
        for name, graph in (("line", replication.line(replication.propagation_nodes)),
                            ("random graph of degree 3", replication.random_graph(replication.propagation_nodes,
                                                                                   replication.propagation_degree))):
            result = await replication.propagation(self.scratch, name, graph, self.sizes.propagation_payments)
            propagations.append(asdict(result))
            self.add(f"propagation to {result.nodes} nodes, {name} (median; worst {result.worst_seconds:.2f} s)",
                     result.median_seconds, "s", "goal", goal_propagation_seconds,
                     f"< {goal_propagation_seconds:.0f} s", result.worst_seconds < goal_propagation_seconds)
        self.details["replication"] = {
            "events": built.events,
            "one_core": {**asdict(one), "per_second": one.per_second, "limits": asdict(one_limits)},
            "pool": {**asdict(pool), "per_second": pool.per_second, "limits": asdict(pool_limits)},
            "propagation": propagations,
        }

    async def exchange(self) -> None:
        """Limit orders through the sequencer against a book of `exchange_resting` resting orders,
        against plain transfers through the same sequencer in the same run (best of the repeats)."""
        repeats = []
        for repeat in range(self.sizes.repeats):
            folder = self.scratch / f"exchange-{repeat}"
            folder.mkdir()
            transfers, _ = await self.bracketed(
                lambda folder=folder: inprocess.sequencer_transfers_per_second(folder, self.sizes.exchange_orders))
            (orders, depth), limits = await self.bracketed(lambda folder=folder, repeat=repeat: self.profiled(
                f"exchange-{repeat}",
                lambda: exchange.orders_per_second(folder, self.sizes.exchange_resting, self.sizes.exchange_orders)))
            repeats.append({"orders_per_second": orders.per_second, "transfers_per_second": transfers.per_second,
                            "ratio": orders.per_second / transfers.per_second, "book_depth": depth,
                            "refused": orders.refused, "orders_per_commit": orders.transfers / max(1, orders.batches),
                            "limits": asdict(limits)})
        best = max(repeats, key=lambda item: item["ratio"])
        self.details["exchange"] = {"best": best, "repeats": repeats}
        self.add(f"limit orders, book of {best['book_depth']:,} resting", best["orders_per_second"], "orders/s",
                 "plain transfers", best["transfers_per_second"], f">= {goal_exchange_ratio:.0%} of transfers",
                 best["ratio"] >= goal_exchange_ratio and best["refused"] == 0)

    async def pages(self) -> None:
        from . import pages  # bench/pages.py: each page's response time, against /api/status's

        await pages.section(self)

    async def payments(self) -> None:
        from . import payments  # bench/payments.py: payments across two nodes, against transfers in one

        await payments.section(self)

    async def memory(self) -> None:
        built = await _home_of(self.sizes.memory_events, self.sizes, self.scratch, "memory-home")
        result = await served.serve_memory(built.home, built.events, self.scratch / "memory-serve.log")
        small = self.details.get("http", {}).get("peak_rss_bytes_after_start")
        peak = result.after_reads.peak_kib * 1024
        self.details["memory"] = {
            "home": str(built.home.path),
            "home_cached": built.cached,
            "build_seconds": built.build_seconds,
            "build_per_second": built.events / built.build_seconds,
            "events": result.events,
            "database_bytes": built.home.database_path.stat().st_size,
            "start_seconds": result.start_seconds,
            "peak_rss_bytes_after_start": result.after_start.peak_kib * 1024,
            "rss_bytes_after_start": result.after_start.resident_kib * 1024,
            "peak_rss_bytes_after_reads": peak,
            "rss_bytes_after_reads": result.after_reads.resident_kib * 1024,
            "reads": result.reads,
            "small_home_peak_rss_bytes_after_start": small,
        }
        self.add(f"tally serve peak RSS, {result.events:,} events", peak / megabyte, "MB", "200 MB goal",
                 goal_peak_rss_bytes / megabyte, "< 200 MB", peak < goal_peak_rss_bytes)
        if small:
            self.add("  the same, ~100 events, after start", small / megabyte, "MB", "200 MB goal",
                     goal_peak_rss_bytes / megabyte, "(for the record)", None)


def write_profile_summary(path: Path) -> None:
    text = io.StringIO()
    stats = pstats.Stats(str(path), stream=text)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(30)
    path.with_suffix(".txt").write_text(text.getvalue())


def _figure(value: float, unit: str = "") -> str:
    text = f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
    return f"{text} {unit}" if unit else text


def print_table(run: Run, mode: str) -> None:
    table = Table(title=f"Tallystick bench ({mode})", caption="CPU ratio: the same ratio by CPU time "
                  "(this process's, or the server's), which other processes barely move")
    for column, justify in (("measure", "left"), ("figure", "right"), ("ratio", "right"), ("to the limit", "left"),
                            ("goal", "left"), ("met", "center"), ("CPU ratio", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for item in run.measurements:
        met = "" if item.met is None else "[green]yes[/]" if item.met else "[red]NO[/]"
        table.add_row(item.name, _figure(item.value, item.unit), f"{item.ratio:.2f}",
                      f"{item.against} ({_figure(item.limit)})" if item.against != "itself" else "",
                      item.goal, met, "" if item.cpu_ratio is None else f"{item.cpu_ratio:.2f}")
    output_console.print(table)
    costs = run.details.get("costs_cpu_us_per_event")
    if costs:
        steps = Table(title="CPU microseconds per event, by step (best of 5, process time)")
        steps.add_column("step")
        steps.add_column("µs", justify="right")
        for step, microseconds in costs.items():
            steps.add_row(step, f"{microseconds:,.1f}")
        output_console.print(steps)


async def main_async(arguments: argparse.Namespace) -> tuple[dict[str, Any], Run]:
    sizes = quick_sizes if arguments.quick else full_sizes
    sections = sections_all if not arguments.only else tuple(arguments.only.split(","))
    unknown = set(sections) - set(sections_all)
    if unknown:
        raise SystemExit(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(sections_all)}")
    results_folder.mkdir(parents=True, exist_ok=True)
    if arguments.rebuild_cache:
        for stale in results_folder.glob("home-*"):
            shutil.rmtree(stale)
    profile_folder = None
    if arguments.profile:
        profile_folder = results_folder / "profiles"
        profile_folder.mkdir(exist_ok=True)
    # A folder of this run's own (two runs at once must not share one), removed at the end.
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=results_folder))
    run = Run(sizes, profile_folder, scratch)
    busy_at_start = wait_for_quiet(arguments.wait_for_quiet) if arguments.wait_for_quiet else None
    started = time.perf_counter()
    try:
        for section in sections:
            console.print(f"running {section}")
            await getattr(run, section)()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    run.raw_limits()
    return {
        "mode": "quick" if arguments.quick else "full",
        "profiled": bool(arguments.profile),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": time.perf_counter() - started,
        "machine": machine_description(),
        "code": code_version(),
        "machine_busy_fraction_at_start": busy_at_start,
        "machine_busy_cores_during_measurements": run.busy_cores,
        "sizes": asdict(sizes),
        "measurements": [asdict(item) for item in run.measurements],
        "details": run.details,
        "all_goals_met": all(item.met is not False for item in run.measurements),
    }, run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Tallystick's benchmark.")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every section")
    parser.add_argument("--only", metavar="SECTIONS", help=f"comma-separated subset of {','.join(sections_all)}")
    parser.add_argument("--profile", action="store_true", help="write cProfile output to bench/results/profiles/")
    parser.add_argument("--rebuild-cache", action="store_true", help="build the cached large homes again")
    parser.add_argument("--wait-for-quiet", type=float, default=0, metavar="SECONDS",
                        help="first wait up to SECONDS for other processes to leave the machine idle")
    arguments = parser.parse_args()
    document, run = asyncio.run(main_async(arguments))
    print_table(run, document["mode"] + (", profiled: not the benchmark's figures" if arguments.profile else ""))
    snapshots = document["details"]["raw"]["snapshots"]
    spread = [snapshot["append_per_second"] for snapshot in snapshots]
    busy = document["machine_busy_cores_during_measurements"]
    output_console.print(
        f"{len(snapshots)} snapshots of the raw limits, append loop {min(spread):,.0f} to {max(spread):,.0f}/s; "
        f"the whole machine was busy {min(busy, default=0):.1f} to {max(busy, default=0):.1f} cores during the "
        f"measurements (this bench uses one to two); the run took {document['seconds']:.0f} s"
    )
    output = results_folder / "latest.json"
    text = json.dumps(document, indent=2) + "\n"
    output.write_text(text)
    history = results_folder / "history"
    history.mkdir(exist_ok=True)
    (history / f"{document['finished']}-{document['mode']}.json").write_text(text)
    output_console.print(f"wrote {output} (and a copy in {history}/)")


if __name__ == "__main__":
    main()
