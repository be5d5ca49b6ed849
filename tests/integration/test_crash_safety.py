"""A node killed with SIGKILL mid-stream loses no acknowledged event and restarts consistent.

The module's fixture admits 20 members, then runs 20 concurrent clients (one per member, each
paying the next member round a ring, in signed intents over HTTP) and SIGKILLs the node once a few
hundred payments are acknowledged, with requests still in flight, and restarts it on the same home;
three times. The tests then check what the restarted node holds against what the clients were told.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from tallystick.node.home import Home
from tallystick.node.store import Store
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import Transfer
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.nodes import NodeProcess, member_id
from helpers.postings import assert_postings_hold
from helpers.support import next_nonce, tally, tally_json

clients = 20
acknowledgements_before_kill = 300
# Each round streams, kills and restarts; more rounds, more chances to cut a commit in half.
kill_rounds = 3


@dataclass(frozen=True)
class Acknowledged:
    seq: int
    hash: str
    intent: bytes


@dataclass
class Stream:
    sent: list[bytes] = field(default_factory=list)
    acknowledged: list[Acknowledged] = field(default_factory=list)
    refusals: list[tuple[int, bytes]] = field(default_factory=list)


async def pay_until_killed(node: NodeProcess, payers: list[KeyPair]) -> Stream:
    stream = Stream()
    killed = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=30)

    async def client(index: int) -> None:
        payer, payee = payers[index], payers[(index + 1) % len(payers)]
        rng = random.Random(index)
        while True:
            action = Transfer(to=payee.public, amount_minor=rng.randint(1, 500), memo=f"client {index}")
            intent = sign_member_intent(payer, feed=node.feed, nonce=next_nonce(), action=action)
            stream.sent.append(intent)
            try:
                async with session.post(
                    node.url + "/api/intents", data=intent, headers={"Content-Type": "application/msgpack"}
                ) as response:
                    body = await response.read()
                    if response.status != 201:
                        stream.refusals.append((response.status, body))
                        return
                    document = await response.json()
            except (TimeoutError, aiohttp.ClientError):
                if killed.is_set():
                    return  # the node is gone: this intent was in flight, or met a closed port
                raise
            stream.acknowledged.append(Acknowledged(document["seq"], document["hash"], intent))
            if len(stream.acknowledged) >= acknowledgements_before_kill and not killed.is_set():
                node.kill()  # SIGKILL while the other clients' requests are in flight
                killed.set()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        await asyncio.gather(*(client(index) for index in range(len(payers))))
    return stream


@dataclass(frozen=True)
class AfterKill:
    """Right after one kill: the highest seq acknowledged in that round, what the acknowledged-head
    record said, and the database's hash at the record's seq and its head seq."""

    acknowledged_seq: int
    record: dict[str, Any]
    database_hash_at_record: str | None
    database_seq: int


@dataclass
class Crash:
    node: NodeProcess
    members: list[KeyPair]
    stream: Stream
    kill_statuses: list[int]
    after_kills: list[AfterKill] = field(default_factory=list)


def after_kill(node: NodeProcess, stream: Stream) -> AfterKill:
    """Read the record and the database (read-only: nothing is checkpointed) before the restart."""
    # The newest of the record's two slots (each a line of JSON; one a crash tore would not parse).
    slots = []
    for line in (node.home / "tally.db.acknowledged").read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            slots.append(json.loads(line))
    record = max(slots, key=lambda slot: slot["seq"])
    database = sqlite3.connect(f"file:{node.home / 'tally.db'}?mode=ro", uri=True)
    try:
        (seq,) = database.execute("SELECT max(seq) FROM log WHERE feed = ?", (node.feed,)).fetchone()
        found = database.execute("SELECT hash FROM log WHERE feed = ? AND seq = ?", (node.feed, record["seq"])).fetchone()
    finally:
        database.close()
    return AfterKill(max(ack.seq for ack in stream.acknowledged), record,
                     None if found is None else id_to_text("h", bytes(found[0])), seq)


@pytest.fixture(scope="module")
def crash(make_node: Any) -> Crash:
    node = make_node(debit_limit="1000000", credit_ceiling="1000000")
    members = [node.admit(f"member {index:02d}") for index in range(clients)]
    total, kill_statuses, after_kills = Stream(), [], []
    for _ in range(kill_rounds):
        stream = asyncio.run(pay_until_killed(node, members))
        assert node.process is not None
        kill_statuses.append(node.process.returncode)
        after_kills.append(after_kill(node, stream))
        total.sent += stream.sent
        total.acknowledged += stream.acknowledged
        total.refusals += stream.refusals
        node.start()
    return Crash(node, members, total, kill_statuses, after_kills)


@pytest.fixture(scope="module")
def log_after_restart(crash: Crash) -> list[dict[str, Any]]:
    return crash.node.log()


def test_the_stream_was_cut_by_sigkill_with_every_answer_before_it_an_acknowledgement(crash: Crash) -> None:
    assert crash.kill_statuses == [-9] * kill_rounds
    assert crash.stream.refusals == []
    assert len(crash.stream.acknowledged) >= kill_rounds * acknowledgements_before_kill
    assert len(crash.stream.sent) > len(crash.stream.acknowledged)  # some were in flight at the kill


def test_every_acknowledged_payment_is_in_the_log_after_a_kill_9(
    crash: Crash, log_after_restart: list[dict[str, Any]]
) -> None:
    by_seq = {event["seq"]: event for event in log_after_restart}
    for acknowledged in crash.stream.acknowledged:
        event = by_seq.get(acknowledged.seq)
        assert event is not None, f"acknowledged seq {acknowledged.seq} is missing after the restart"
        assert event["hash"] == acknowledged.hash
        intent = event["body"]["intent"]
        assert intent["sig"] == acknowledged.intent[-64:].hex()
        assert intent["key"] == id_to_text("k", acknowledged.intent[38:70])


def test_after_each_kill_9_the_acknowledged_record_covers_every_answer_and_is_never_ahead_of_the_database(
    crash: Crash,
) -> None:
    assert len(crash.after_kills) == kill_rounds
    for after in crash.after_kills:
        assert after.record["feed"] == crash.node.feed_text
        assert after.acknowledged_seq <= after.record["seq"] <= after.database_seq
        assert after.database_hash_at_record == after.record["head"]


def test_log_after_a_kill_9_is_contiguous_and_holds_each_submitted_intent_at_most_once(
    crash: Crash, log_after_restart: list[dict[str, Any]]
) -> None:
    assert [event["seq"] for event in log_after_restart] == list(range(1, len(log_after_restart) + 1))
    for before, after in itertools.pairwise(log_after_restart):
        assert after["prev"] == before["hash"]
    sent = {intent[-64:].hex() for intent in crash.stream.sent}
    payments = [
        event["body"]["intent"]["sig"]
        for event in log_after_restart
        if event["body"]["kind"] in ("act", "act_sealed") and event["body"]["intent"]["action"]["kind"] == "transfer"
    ]
    assert len(payments) == len(set(payments))
    assert set(payments) <= sent
    assert len(payments) >= len(crash.stream.acknowledged)


def test_balances_after_a_kill_9_are_the_sum_of_the_logged_payments(
    crash: Crash, log_after_restart: list[dict[str, Any]]
) -> None:
    keys = {id_to_text("k", member.public): member_id(member) for member in crash.members}
    expected = {member_id(member): 0 for member in crash.members}
    for event in log_after_restart:
        if event["body"]["kind"] in ("act", "act_sealed") and event["body"]["intent"]["action"]["kind"] == "transfer":
            intent = event["body"]["intent"]
            expected[keys[intent["key"]]] -= intent["action"]["amount_minor"]
            expected[intent["action"]["to"]] += intent["action"]["amount_minor"]
    balances = {row["account"]: row["balance"] for row in crash.node.get("/api/balances")}
    assert sum(balances.values()) == 0
    assert {account: balances[account] for account in expected} == expected


def test_an_acknowledged_intent_sent_again_after_a_kill_9_is_refused_as_replayed(crash: Crash) -> None:
    before = crash.node.snapshot()
    answer = crash.node.post_intent(crash.stream.acknowledged[-1].intent)
    assert (answer.status, answer.json()["error"]) == (409, "replayed_nonce")
    assert crash.node.snapshot() == before


@pytest.fixture(scope="module")
def stopped(crash: Crash) -> list[dict[str, Any]]:
    """What `tally balance --json` showed on the restarted node; then the node is stopped cleanly."""
    shown = tally_json("--node", crash.node.url, "balance", "--json")
    assert crash.node.stop() == 0
    return shown


def test_verify_passes_after_a_kill_9(crash: Crash, stopped: list[dict[str, Any]]) -> None:
    done = tally("verify", crash.node.home, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_postings_after_a_kill_9_are_exactly_what_the_log_gives(crash: Crash, stopped: list[dict[str, Any]]) -> None:
    """The balances over time (written with the log, in its transactions) hold every change of the
    logged payments and nothing of what was cut: a refold of the log finds exactly them."""

    async def check() -> None:
        store = await Store.open(Home(crash.node.home).database_path)
        try:
            feed = await store.own_feed()
            assert feed is not None
            await assert_postings_hold(store, feed)
        finally:
            await store.close()

    asyncio.run(check())


@pytest.fixture(scope="module")
def rebuilt(crash: Crash, stopped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`tally rebuild` on the stopped home, then the node started again: what `tally balance` shows."""
    done = tally("rebuild", crash.node.home, "--json")
    assert done.returncode == 0, done.stderr
    crash.node.start()
    return tally_json("--node", crash.node.url, "balance", "--json")


def test_rebuild_after_a_kill_9_leaves_the_balances_the_restarted_node_had(
    stopped: list[dict[str, Any]], rebuilt: list[dict[str, Any]]
) -> None:
    assert sum(row["balance"] for row in stopped) == 0
    assert rebuilt == stopped


def test_an_acknowledged_intent_sent_again_after_a_rebuild_is_refused_as_replayed(
    crash: Crash, rebuilt: list[dict[str, Any]]
) -> None:
    answer = crash.node.post_intent(crash.stream.acknowledged[-1].intent)
    assert (answer.status, answer.json()["error"]) == (409, "replayed_nonce")
