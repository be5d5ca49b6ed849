"""The web pages' response times on a large home: 10,000 members and 1,000,000 events.

How this works: the home is the cached bench home of that size (bench/homes.py), copied into the
run's scratch folder, because this section adds to it, through the node's API like any member:
ten open decisions, so that the community page counts its live tallies over every member; an
enterprise; and a federation of this one community, so that its page and /payments are served
by the federation layer (the home holds no payment across: /payments's cost grows with the
payment events held, which `federation_events_max` bounds). A real `tally serve` serves the copy
(bench/served.py). The pages' plots and a member's payments are read from the `postings`
projection the store writes with the log (node/history.py): nothing to wait for after a start.
Each path is asked once to warm up, then
`requests_per_path` times in turn, one request at a time, over one keep-alive connection; the
median is the figure. The limit it is compared with is the same node's median for /api/status in
the same run, measured the same way and interleaved with the pages: the cheapest real answer
through the same aiohttp stack and event loop, so the ratio says what a page costs beyond serving
at all on this machine at this moment. The issue's goal is an absolute one: every page under
200 ms.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from tallystick.ledger.shares import enterprise_id
from tallystick.node.home import Home, read_key
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import (
    Action,
    FederationAct,
    FounderIssue,
    Propose,
    RegisterEnterprise,
    ShareClass,
)
from tallystick.protocol.federation import Charter, CharterMember, federation_id
from tallystick.protocol.ids import id_from_text, id_to_text

from .homes import build_feed, cached_feed, member_key
from .served import AdminReads, ServedNode

# The issue's home: a large town's scheme after years of trade.
members_full, events_full = 10_000, 1_000_000
# --quick: every code path, small.
members_quick, events_quick = 1_000, 20_000
# Sequential requests per path after one warm-up; the median is reported.
requests_per_path = 15
# Open decisions: more than the community page shows with live tallies (each counts every member).
open_decisions = 10
goal_page_ms = 200.0
# How long a page set up through the API may take to answer 200 before the timing (the federation
# view picks up the new charter from the log a moment after it is appended).
setup_wait_seconds_max = 30


async def _timed_get(session: aiohttp.ClientSession, url: str, target: str, reads: AdminReads) -> tuple[float, int]:
    """One page read as the admin (who sees every member's page and balance), signing included."""
    started = time.perf_counter()
    async with reads.get(session, url, target) as response:
        await response.read()
        status = response.status
    return (time.perf_counter() - started) * 1000, status


async def _set_up(session: aiohttp.ClientSession, url: str, home: Home) -> tuple[str, str]:
    """Ten open decisions, an enterprise and a federation of this one community, all by the admin's
    signed intents through the API, like any member's; returns the enterprise's and federation's ids."""
    async with session.get(url + "/api/community") as response:
        feed = id_from_text("n", (await response.json())["node"])
    admin = read_key(home.admin_key_path)
    now_ms = time.time_ns() // 1_000_000
    deadline_ms = now_ms + 24 * 3600 * 1000
    nonce_base = time.time_ns()  # above the builder's admin nonces (0 up), and new in every run
    founders = ShareClass("Founders", "founder", 1, 1, 100, False, True, None, False)
    charter = Charter(name="Bench federation", unit_code="BEN", unit_decimals=2,
                      members=(CharterMember(feed, "BEN", 1, 1),), quorum_bp=6000, founded_ms=now_ms)
    actions: list[Action] = [
        *(Propose("proposal", f"Bench decision {index}", "Counted over every member.", deadline_ms)
          for index in range(open_decisions)),
        RegisterEnterprise("Bench Bakery", (founders,), (FounderIssue(0, 100),)),
        FederationAct(body=charter),
    ]
    seqs = []
    for index, action in enumerate(actions):
        intent = sign_member_intent(admin, feed=feed, nonce=nonce_base + index, action=action)
        async with session.post(url + "/api/intents", data=intent,
                                headers={"Content-Type": "application/msgpack"}) as response:
            if response.status != 201:
                raise RuntimeError(f"the bench's {type(action).__name__} was refused: {response.status} {await response.text()}")
            seqs.append((await response.json())["seq"])
    return id_to_text("e", enterprise_id(feed, seqs[open_decisions])), id_to_text("x", federation_id(charter))


async def measure(home: Home, members: int, log_path: Path) -> dict[str, Any]:
    """Median milliseconds per path on a served copy of `home`; `limit` is /api/status's."""
    last_page = (members + 1 + 99) // 100  # members and the admin, 100 to a page

    def member_id(request: int) -> str:
        return id_to_text("m", member_key((members // 2 + request) % members).public)

    def member_name(request: int) -> str:
        return urllib.parse.quote(f"member {(members // 3 + request) % members}")

    # Each request of a member's page asks for another member: a page whose QR code is drawn
    # afresh (the node keeps drawn codes), the worst case, not the cached one.
    paths: dict[str, Callable[[int], str]] = {
        "/api/status": lambda _: "/api/status",
        "/ (community, first page of members)": lambda _: "/",
        f"/?page={last_page} (last page of members)": lambda _: f"/?page={last_page}",
        "/members/{id}": lambda request: f"/members/{member_id(request)}",
        "/members/{name}": lambda request: f"/members/{member_name(request)}",
        "/node (operator)": lambda _: "/node",
        "/enterprises/{id}": lambda _: f"/enterprises/{enterprise}",
        "/federations/{id}": lambda _: f"/federations/{federation}",
        "/payments": lambda _: "/payments",
    }
    async with ServedNode.tally(home, log_path) as node:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            enterprise, federation = await _set_up(session, node.url, home)
            reads = await AdminReads.of(session, node.url, home)
            timings: dict[str, list[float]] = {name: [] for name in paths}
            for path_of in paths.values():  # warm-up, and a check that every page answers
                _, status = await _timed_get(session, node.url, path_of(-1), reads)
                for _ in range(setup_wait_seconds_max):  # the federation layer sees the charter soon after
                    if status == 200:
                        break
                    await asyncio.sleep(1)
                    _, status = await _timed_get(session, node.url, path_of(-1), reads)
                if status != 200:
                    raise RuntimeError(f"GET {path_of(-1)} answered {status}; see {log_path}")
            for request in range(requests_per_path):
                for name, path_of in paths.items():  # interleaved, so the machine's moods hit all alike
                    elapsed_ms, _ = await _timed_get(session, node.url, path_of(request), reads)
                    timings[name].append(elapsed_ms)
    figures: dict[str, Any] = {name: {"median_ms": statistics.median(values), "max_ms": max(values)}
                               for name, values in timings.items()}
    return figures


async def section(run: Any) -> None:
    """The `pages` section of `python -m bench` (`run` is bench.__main__'s Run)."""
    if run.sizes.cache_homes:
        members, events = members_full, events_full
        built = await cached_feed(events, members)
    else:
        members, events = members_quick, events_quick
        built = await build_feed(run.scratch / "pages-built", events, members)
    copy = run.scratch / "pages-home"
    shutil.copytree(built.home.path, copy, ignore=shutil.ignore_patterns("node.lock"))
    figures = await measure(Home(copy), members, run.scratch / "pages-serve.log")
    limit = figures["/api/status"]["median_ms"]
    run.details["pages"] = {"members": members, "events": built.events, "requests_per_path": requests_per_path,
                            "open_decisions": open_decisions, "figures": figures}
    for name, figure in figures.items():
        if name == "/api/status":
            continue
        run.add(f"page {name}, {members:,} members, {built.events:,} events (median)", figure["median_ms"], "ms",
                "/api/status", limit, f"< {goal_page_ms:.0f} ms", figure["median_ms"] < goal_page_ms)
    shutil.rmtree(copy, ignore_errors=True)
