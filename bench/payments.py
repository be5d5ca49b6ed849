"""Payments across communities, with two real nodes in one federation on loopback.

How this works: two homes, A and B, each peered with the other, are served by real `tally serve`
processes (bench/served.py). Untimed, each admin admits `members_default` bench members; A's admin
founds a federation of the two (a charter appended to A's feed), B's admin adopts the same charter,
and two federation decisions (proposed by A, voted yes by both) give each community balance-of-trade
limits so generous that nothing is refused. Everything is done as a member or operator would, with
signed intents posted to /api/intents (the `tally` command does the same; a `tally` process would
add about a second of imports to each step). Reads of members, balances and the log are signed as
that node's admin (docs/protocol.md §18, bench/served.py `AdminReads`): an unsigned reader sees no
member's name or key, and no log (docs/privacy.md); status, community and federation reads are open.

Throughput: the same 64 keep-alive clients as the `http` section post, first, plain transfers
between A's members (the limit), then `pay_across` intents from A's members to B's members; a
payment counts once A's own log shows its `payment_settled`, read incrementally from /api/log. The
clock starts at the first post and stops when the last one settled, so the figure includes A
appending `payment_sent`, the push to B, B's federation round answering `payment_accepted`, the push
back, and A's federation round settling. Event timestamps (the nodes' own clocks, same machine) split
that time into its phases, for the record.

Latency: single payments, one at a time, each after a random pause of up to one federation round
(so that submissions fall at every phase of the nodes' round timers), timed from just before the
POST until A's log shows it settled. Each step is polled every few milliseconds, in order: A's 201,
B holding A's event (/api/status), B's `payment_accepted` (B's /api/log), A holding it, A's
`payment_settled`. The replication legs alone (the POST, the push there and the push back) are the
raw figure the median is compared with: what a payment would take if each node answered the moment
it held the other's event. The goal is absolute: under a second on loopback.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from tallystick.federation import federations as federation_layer
from tallystick.node.home import Home, NodeConfig, init_home, read_key
from tallystick.protocol import limits
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import Action, AdmitMember, FederationAct, PayAcross
from tallystick.protocol.federation import (
    Charter,
    CharterMember,
    FederationProposal,
    FederationVote,
    SetTradeLimits,
    federation_id,
    proposal_id,
)
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from .homes import (
    bench_debit_limit_minor,
    clock_ms,
    fresh_nonce_base,
    member_key,
    members_default,
    transfer_plan,
)
from .replication import contextlib_nested
from .served import AdminReads, Clients, ServedNode, _free_port, _tally_command, http_clients

# Payments (and transfers, the limit) per timed round; the best of the rounds is reported.
round_payments_full, round_payments_quick = 2000, 200
# Single payments timed from submission to settlement.
latency_samples_full, latency_samples_quick = 20, 5
# Timed GETs of the federation view right after a payment, each set (the median is reported).
refold_probes = 3
# Each payment moves 1.00: the same amount every time, far inside every limit.
payment_amount_minor = 100
# Balance-of-trade limits of both communities, in the federation's unit: nothing is refused.
trade_limit_minor = 10**12
unit_code = "BEN"
# How often a waiting step asks a node; small beside the federation round it waits for.
poll_interval_seconds = 0.005
round_poll_interval_seconds = 0.02  # the throughput watcher reads whole log pages
setup_timeout_seconds = 60
settle_timeout_seconds = 300
# Setup intents posted at once: fewer than a member's nonce window (ledger/transition.py), so an admin's
# intents cannot arrive further out of order than the window allows.
setup_concurrency = 16
# B's members' keys: derived like A's, from indexes no A member uses.
b_member_index_base = 1_000_000
goal_ratio = 0.30
goal_median_seconds = 1.0
# The federation layer's timer: a round at least this often (and, since 12d5b72, also when woken).
abstain_interval_ms = federation_layer.abstain_interval_ms


@dataclass
class Pair:
    """The two served nodes, their feeds, the federation, and what setup learned."""

    a: ServedNode
    b: ServedNode
    a_home: Home
    b_home: Home
    a_feed: bytes = b""
    b_feed: bytes = b""
    federation: bytes = b""
    b_members: list[bytes] = field(default_factory=list)  # B's member ids, in admission order
    # GETs signed by each node's admin, by URL: members' names and keys, their balances and the log
    # are not a stranger's (docs/privacy.md), so an unsigned reader would not see them.
    admin_reads: dict[str, AdminReads] = field(default_factory=dict)
    # One counter for every intent of the run, whoever signs it: each signer's nonces only grow.
    next_nonce: int = fresh_nonce_base


async def _post(session: aiohttp.ClientSession, url: str, intent: bytes) -> dict[str, Any]:
    async with session.post(url + "/api/intents", data=intent, headers={"Content-Type": "application/msgpack"}) as response:
        if response.status != 201:
            raise RuntimeError(f"{url} refused a bench intent: {response.status} {await response.text()}")
        return await response.json()


async def _get(session: aiohttp.ClientSession, url: str, path: str, reads: AdminReads | None = None) -> Any:
    """GET `path` at `url`, signed by `reads`' admin when given (`path` as sent: already encoded)."""
    async with session.get(url + path) if reads is None else reads.get(session, url, path) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url}{path} answered {response.status}: {await response.text()}")
        return await response.json()


async def _get_or_none(session: aiohttp.ClientSession, url: str, path: str) -> Any:
    async with session.get(url + path) as response:
        return await response.json() if response.status == 200 else None


async def _wait_for(what: str, check: Any, timeout_seconds: float = setup_timeout_seconds) -> Any:
    """Poll the coroutine function `check` until it returns something truthy (returned)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout_seconds} s")
        await asyncio.sleep(poll_interval_seconds)


def _intent(pair: Pair, key: KeyPair, feed: bytes, action: Action) -> bytes:
    pair.next_nonce += 1
    return sign_member_intent(key, feed=feed, nonce=pair.next_nonce, action=action)


async def _init(path: Path, name: str, port: int, peer: str) -> Home:
    await init_home(
        path, name=name, unit_code=unit_code, unit_decimals=2, debit_limit_minor=bench_debit_limit_minor,
        credit_ceiling_minor=limits.amount_minor_max, now_ms=clock_ms(),
        config=NodeConfig(listen_host="127.0.0.1", listen_port=port, peers=[peer], verify_processes=0),
    )
    return Home(path)


async def _admit(session: aiohttp.ClientSession, pair: Pair, url: str, home: Home, feed: bytes,
                 keys: list[KeyPair]) -> None:
    admin = read_key(home.admin_key_path)
    intents = [_intent(pair, admin, feed, AdmitMember(member=key.public, name=f"member {index}"))
               for index, key in enumerate(keys)]
    for first in range(0, len(intents), setup_concurrency):
        await asyncio.gather(*(_post(session, url, i) for i in intents[first : first + setup_concurrency]))


async def _federation(session: aiohttp.ClientSession, url: str, federation: bytes) -> dict[str, Any] | None:
    return await _get_or_none(session, url, f"/api/federations/{id_to_text('x', federation)}")


async def _decide(session: aiohttp.ClientSession, pair: Pair, effect: SetTradeLimits) -> None:
    """A federation decision proposed by A and passed by both communities' yes."""
    document = await _federation(session, pair.a.url, pair.federation)
    assert document is not None
    epoch = document["epoch"]
    previous = id_from_text("h", document["last_decision"]) if document["passed"] else pair.federation
    proposal = FederationProposal(federation=pair.federation, epoch=epoch, previous=previous,
                                  deadline_ms=clock_ms() + 3600 * 1000, title="Bench trade limits", text="",
                                  effect=effect)
    a_admin, b_admin = read_key(pair.a_home.admin_key_path), read_key(pair.b_home.admin_key_path)
    await _post(session, pair.a.url, _intent(pair, a_admin, pair.a_feed, FederationAct(body=proposal)))
    proposal_text = id_to_text("h", proposal_id(proposal))

    async def b_sees_it() -> bool:
        found = await _federation(session, pair.b.url, pair.federation)
        return found is not None and any(d["id"] == proposal_text for d in found["decisions"])

    await _wait_for("B seeing the trade-limits proposal", b_sees_it)
    vote = FederationVote(federation=pair.federation, epoch=epoch, proposal=proposal_id(proposal))
    await _post(session, pair.a.url, _intent(pair, a_admin, pair.a_feed, FederationAct(body=vote)))
    await _post(session, pair.b.url, _intent(pair, b_admin, pair.b_feed, FederationAct(body=vote)))
    for url in (pair.a.url, pair.b.url):
        async def passed(url: str = url) -> bool:
            found = await _federation(session, url, pair.federation)
            return found is not None and found["epoch"] > epoch

        await _wait_for(f"{url} seeing the trade limits pass", passed)


async def _set_up(session: aiohttp.ClientSession, pair: Pair, members: int) -> None:
    """Members on both sides, a federation of the two, and trade limits applied by both."""
    pair.a_feed = id_from_text("n", (await _get(session, pair.a.url, "/api/community"))["node"])
    pair.b_feed = id_from_text("n", (await _get(session, pair.b.url, "/api/community"))["node"])
    pair.admin_reads = {pair.a.url: AdminReads(pair.a_home, pair.a_feed), pair.b.url: AdminReads(pair.b_home, pair.b_feed)}
    await _admit(session, pair, pair.a.url, pair.a_home, pair.a_feed, [member_key(i) for i in range(members)])
    b_keys = [member_key(b_member_index_base + i) for i in range(members)]
    await _admit(session, pair, pair.b.url, pair.b_home, pair.b_feed, b_keys)
    b_rows = await _get(session, pair.b.url, "/api/members?limit=1000", pair.admin_reads[pair.b.url])
    by_key = {row["key"]: id_from_text("m", row["id"]) for row in b_rows}
    pair.b_members = [by_key[id_to_text("k", key.public)] for key in b_keys]
    charter = Charter(name="Bench Valley", unit_code=unit_code, unit_decimals=2,
                      members=(CharterMember(pair.a_feed, unit_code, 1, 1), CharterMember(pair.b_feed, unit_code, 1, 1)),
                      quorum_bp=6000, founded_ms=clock_ms())
    pair.federation = federation_id(charter)
    for home, url, feed in ((pair.a_home, pair.a.url, pair.a_feed), (pair.b_home, pair.b.url, pair.b_feed)):
        await _post(session, url, _intent(pair, read_key(home.admin_key_path), feed, FederationAct(body=charter)))

    async def founded_at_both() -> bool:
        documents = [await _federation(session, url, pair.federation) for url in (pair.a.url, pair.b.url)]
        return all(document is not None and document["founded"] for document in documents)

    await _wait_for("the federation being founded at both nodes", founded_at_both)
    for member in (pair.a_feed, pair.b_feed):
        await _decide(session, pair, SetTradeLimits(member, trade_limit_minor, trade_limit_minor))

    async def limits_applied() -> bool:
        for url in (pair.a.url, pair.b.url):
            rows = await _get(session, url, "/api/balances", pair.admin_reads[url])
            trade = [row for row in rows if row["name"] == "Trade Bench Valley"]
            if not trade or (trade[0]["debit_limit"], trade[0]["credit_ceiling"]) != (trade_limit_minor, trade_limit_minor):
                return False
        return True

    await _wait_for("both communities applying the trade limits", limits_applied)


class LogReader:
    """Reads one node's own log from a seq on, one page per call, keeping what it has read; as the
    node's admin (by default only admins may see the log)."""

    def __init__(self, session: aiohttp.ClientSession, pair: Pair, url: str, start: int) -> None:
        self.session, self.url, self.next = session, url, start
        self.reads = pair.admin_reads[url]
        self.events: list[dict[str, Any]] = []

    async def read(self) -> list[dict[str, Any]]:
        page = await _get(self.session, self.url, f"/api/log?from={self.next}&limit={limits.page_size_max}", self.reads)
        new = page["events"]
        if new:
            self.next = new[-1]["seq"] + 1
            self.events += new
        return new


async def _head_seq(session: aiohttp.ClientSession, url: str) -> int:
    return int((await _get(session, url, "/api/status"))["seq"])


def _pay_across_intents(pair: Pair, members: int, first: int, count: int) -> list[bytes]:
    """`count` payments of A's members to B's members, numbered from `first` (member
    `number % members` pays)."""
    intents = []
    for number in range(first, first + count):
        action = PayAcross(federation=pair.federation, to_community=pair.b_feed,
                           to_member=pair.b_members[(number * 7) % len(pair.b_members)],
                           amount_minor=payment_amount_minor, memo="bench")
        intents.append(_intent(pair, member_key(number % members), pair.a_feed, action))
    return intents


@dataclass
class Round:
    transfers_per_second: float
    payments_per_second: float
    payments: int
    settled: int
    returned: int
    post_statuses: dict[int, int]
    seconds: float
    posting_seconds: float
    # From the nodes' event timestamps (ms): the last payment_sent, the first and last
    # payment_accepted at B, the first and last payment_settled at A, from the first payment_sent.
    phases_ms: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.payments_per_second / self.transfers_per_second


async def _round(session: aiohttp.ClientSession, clients: Clients, pair: Pair, members: int, count: int,
                 first_transfer: int, run: Any) -> Round:
    # transfer_plan gives transfer `number` the nonce `nonce_base + number`: these follow the counter.
    transfers = transfer_plan(pair.a_feed, members, first_transfer, count, pair.next_nonce + 1 - first_transfer)
    pair.next_nonce += count
    plain, _ = await run.bracketed(lambda: clients.post(transfers))
    if plain.transfers != count:
        raise RuntimeError(f"A refused in-community transfers: {plain.statuses}")
    intents = _pay_across_intents(pair, members, 0, count)
    a_log = LogReader(session, pair, pair.a.url, await _head_seq(session, pair.a.url) + 1)
    b_log = LogReader(session, pair, pair.b.url, await _head_seq(session, pair.b.url) + 1)

    async def post_and_wait() -> tuple[Any, float]:
        started = time.perf_counter()
        posting = asyncio.ensure_future(clients.post(intents))
        settled = returned = 0
        deadline = time.monotonic() + settle_timeout_seconds
        try:
            while settled + returned < count:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{count - settled - returned} payments not settled in {settle_timeout_seconds} s")
                if posting.done() and posting.result().transfers < count:
                    raise RuntimeError(f"A refused payments across: {posting.result().statuses}")
                for event in await a_log.read():
                    kind = event["body"]["kind"]
                    settled += kind == "payment_settled"
                    returned += kind == "payment_returned"
                await asyncio.sleep(round_poll_interval_seconds)
            seconds = time.perf_counter() - started
            return await posting, seconds
        finally:
            if not posting.done():
                posting.cancel()
                await asyncio.gather(posting, return_exceptions=True)

    (posted, seconds), _ = await run.bracketed(post_and_wait)
    while await b_log.read():  # every answer is in B's log before A could settle on it
        continue

    def times(log: LogReader, *kinds: str) -> list[int]:
        return [event["ts"] for event in log.events if event["body"]["kind"] in kinds]

    # A payment with a memo is logged as payment_sent_sealed (protocol.md §19.3).
    sent = times(a_log, "payment_sent", "payment_sent_sealed")
    accepted, settled_ts = times(b_log, "payment_accepted"), times(a_log, "payment_settled")
    origin = min(sent)
    phases = {"last_sent": max(sent) - origin, "first_accepted": min(accepted) - origin,
              "last_accepted": max(accepted) - origin, "first_settled": min(settled_ts) - origin,
              "last_settled": max(settled_ts) - origin}
    settled_count = len(settled_ts)
    return Round(plain.per_second, count / seconds, count, settled_count, count - settled_count,
                 posted.statuses, seconds, posted.seconds, phases)


@dataclass
class Sample:
    """One payment's steps, seconds from just before its POST."""

    acknowledged: float  # A's 201: payment_sent committed
    held_by_b: float  # B's status shows A's feed at that seq (pushed)
    accepted: float  # B's log shows its payment_accepted
    held_by_a: float  # A's status shows B's feed at the answer's seq (pushed back)
    settled: float  # A's log shows payment_settled

    @property
    def replication_legs(self) -> float:
        """The POST and both pushes: what settling takes if neither node waited for its round."""
        return self.held_by_b + (self.held_by_a - self.accepted)

    def steps(self) -> dict[str, float]:
        return {"acknowledged": self.acknowledged, "push_to_b": self.held_by_b - self.acknowledged,
                "b_round_and_answer": self.accepted - self.held_by_b, "push_to_a": self.held_by_a - self.accepted,
                "a_round_and_settle": self.settled - self.held_by_a}


async def _sample(session: aiohttp.ClientSession, pair: Pair, intent: bytes) -> Sample:
    a_log = LogReader(session, pair, pair.a.url, await _head_seq(session, pair.a.url) + 1)
    b_log = LogReader(session, pair, pair.b.url, await _head_seq(session, pair.b.url) + 1)
    a_text, b_text = id_to_text("n", pair.a_feed), id_to_text("n", pair.b_feed)
    started = time.perf_counter()
    appended = await _post(session, pair.a.url, intent)
    acknowledged = time.perf_counter() - started
    payment = id_from_text("h", appended["hash"]).hex()

    async def held(url: str, feed_text: str, seq: int) -> float:
        async def check() -> bool:
            return (await _get(session, url, "/api/status"))["feeds"].get(feed_text, {}).get("seq", 0) >= seq

        await _wait_for(f"{url} holding {feed_text} seq {seq}", check, settle_timeout_seconds)
        return time.perf_counter() - started

    async def logged(log: LogReader, kind: str) -> tuple[float, dict[str, Any]]:
        async def check() -> dict[str, Any] | None:
            await log.read()
            return next((e for e in log.events if e["body"]["kind"] == kind and e["body"]["payment"] == payment), None)

        event = await _wait_for(f"{kind} of {payment}", check, settle_timeout_seconds)
        return time.perf_counter() - started, event

    held_by_b = await held(pair.b.url, a_text, appended["seq"])
    accepted, answer = await logged(b_log, "payment_accepted")
    held_by_a = await held(pair.a.url, b_text, answer["seq"])
    settled, _ = await logged(a_log, "payment_settled")
    return Sample(acknowledged, held_by_b, accepted, held_by_a, settled)


async def _refold_probe_seconds(session: aiohttp.ClientSession, pair: Pair, intent: bytes) -> float:
    """Seconds A takes to answer GET /api/federations/{id} right after appending a payment: the
    payment changes what the federation view folded, so this request (or A's own federation round,
    which it then waits behind) refolds every federation and payment event A holds."""
    await _post(session, pair.a.url, intent)
    started = time.perf_counter()
    await _get(session, pair.a.url, f"/api/federations/{id_to_text('x', pair.federation)}")
    return time.perf_counter() - started


async def _latencies(session: aiohttp.ClientSession, pair: Pair, members: int, count: int, first: int,
                     chooser: random.Random) -> tuple[list[Sample], float]:
    """`count` single payments, each after a random pause of up to one federation round, and then
    the median of a few refold probes (each left to settle before the next)."""
    samples = []
    for number in range(first, first + count):
        await asyncio.sleep(chooser.uniform(0, abstain_interval_ms / 1000))
        samples.append(await _sample(session, pair, _pay_across_intents(pair, members, number, 1)[0]))
    probes = []
    for number in range(first + count, first + count + refold_probes):
        probes.append(await _refold_probe_seconds(session, pair, _pay_across_intents(pair, members, number, 1)[0]))
        await _sample(session, pair, _pay_across_intents(pair, members, number, 1)[0])  # let the rounds catch up
    return samples, statistics.median(probes)


def _percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1] if len(values) > 1 else values[0]


async def measure(run: Any) -> tuple[list[Round], tuple[list[Sample], float], tuple[list[Sample], float]]:
    """The throughput rounds, and the latency samples and refold probe of a fresh pair (only the
    setup's events held) and of the same pair after the rounds (every round's payments held)."""
    quick = not run.sizes.cache_homes
    count = round_payments_quick if quick else round_payments_full
    samples_wanted = latency_samples_quick if quick else latency_samples_full
    members = members_default
    folder = run.scratch / "payments"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    a_port, b_port = _free_port(), _free_port()
    a_url, b_url = f"http://127.0.0.1:{a_port}", f"http://127.0.0.1:{b_port}"
    a_home = await _init(folder / "a", "Bench A", a_port, b_url)
    b_home = await _init(folder / "b", "Bench B", b_port, a_url)
    served = [ServedNode([*_tally_command(), "serve", str(home.path), "--listen", f"127.0.0.1:{port}"], port,
                         folder / f"{name}.log") for name, home, port in (("a", a_home, a_port), ("b", b_home, b_port))]
    chooser = random.Random(7)
    async with contextlib_nested(served), aiohttp.ClientSession() as session:
        pair = Pair(served[0], served[1], a_home, b_home)
        await _set_up(session, pair, members)
        fresh = await _latencies(session, pair, members, samples_wanted, 0, chooser)
        rounds = []
        async with Clients(pair.a) as clients:
            for repeat in range(run.sizes.repeats):
                rounds.append(await _round(session, clients, pair, members, count, repeat * count, run))
        loaded = await _latencies(session, pair, members, samples_wanted, samples_wanted + refold_probes, chooser)
    shutil.rmtree(folder, ignore_errors=True)
    return rounds, fresh, loaded


def _latency_details(samples: list[Sample], refold_seconds: float) -> dict[str, Any]:
    settle = [sample.settled for sample in samples]
    return {
        "samples": [asdict(s) | {"steps": s.steps()} for s in samples],
        "settle_median_seconds": statistics.median(settle),
        "settle_p90_seconds": _percentile(settle, 90),
        "replication_legs_median_seconds": statistics.median(s.replication_legs for s in samples),
        "round_waits_median_seconds": statistics.median(
            s.steps()["b_round_and_answer"] + s.steps()["a_round_and_settle"] for s in samples),
        "median_step_seconds": {name: statistics.median(s.steps()[name] for s in samples) for name in samples[0].steps()},
        "refold_probe_median_seconds": refold_seconds,
    }


async def section(run: Any) -> None:
    """The `payments` section of `python -m bench` (`run` is bench.__main__'s Run)."""
    rounds, fresh_measured, loaded_measured = await measure(run)
    best = asdict(max(rounds, key=lambda item: item.ratio)) | {"ratio": max(r.ratio for r in rounds)}
    fresh, loaded = _latency_details(*fresh_measured), _latency_details(*loaded_measured)
    held = sum(r.payments for r in rounds) + len(fresh["samples"]) + 2 * refold_probes
    run.details["payments"] = {
        "members_each": members_default, "clients": http_clients,
        "federation_round_max_interval_ms": abstain_interval_ms,
        "federation_round_spacing_ms": getattr(federation_layer, "round_spacing_ms", None),  # None: timer only
        "anti_entropy_interval_ms": limits.anti_entropy_interval_ms,
        "rounds": [asdict(r) | {"ratio": r.ratio} for r in rounds], "best": best,
        "latency_fresh": fresh, "latency_after_rounds": loaded, "payments_held_after_rounds": held,
    }
    run.add(f"payments across A->B, {best['payments']:,} to settled, {http_clients} clients",
            best["payments_per_second"], "payments/s", "in-community transfers", best["transfers_per_second"],
            f">= {goal_ratio:.0%} of transfers",
            best["ratio"] >= goal_ratio and best["settled"] == best["payments"])
    median = fresh["settle_median_seconds"]
    run.add(f"payment across, submit to settled (median of {len(fresh['samples'])}; "
            f"p90 {fresh['settle_p90_seconds']:.2f} s)", median, "s", "replication legs",
            fresh["replication_legs_median_seconds"], f"< {goal_median_seconds:.0f} s", median < goal_median_seconds)
    run.add("  of which in B's and A's federation rounds (answer, settle)",
            fresh["round_waits_median_seconds"], "s", "submit to settled", median, "(for the record)", None)
    run.add(f"  the same with {held:,} payments held (median; p90 {loaded['settle_p90_seconds']:.2f} s)",
            loaded["settle_median_seconds"], "s", "fresh median", median, "(for the record)", None)
    run.add(f"  federation view refold after a payment, {held:,} held", loaded["refold_probe_median_seconds"] * 1000,
            "ms", "the same, fresh", fresh["refold_probe_median_seconds"] * 1000, "(for the record)", None)
