"""Periodic pulls happen on a busy node too: what pushes do not carry still arrives.

DESIGN, Replication: "New events are pushed to peers as they are appended; periodic pulls repair
whatever a push missed." Two things only a pull brings: the events of a peer that does not push to
this node (it does not list this node as its peer), and fork proofs (they are never pushed). In a
federation a node appends and ingests all the time, so the periodic pull must not depend on the
node being idle. Here A has no peers and B has `--peer A`; B's members pay each other several
times a second while the test watches what B learns from A. A follows B's feed, which gives B
standing to read A (a node serves its feeds only to nodes whose feed it holds, federation.md §2.2)
without making A push to B.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from tallystick.protocol import limits
from tallystick.protocol.events import AdmitMember
from tallystick.protocol.wire import Events

from helpers.replication import (
    FeedBuilder,
    NodeProcess,
    Nodes,
    home_feed_text,
    refusal_of,
    signer_of_feed,
    start_all,
    wait_until,
)

# A feed made by hand, which A follows: A has no peers, so following it is A's reason to take it.
forked_elsewhere = FeedBuilder("Forked elsewhere")

# How often B writes while busy, and how long "periodic" may take: three anti-entropy intervals. (With
# B writing every 3 s instead, both tests pass well inside this deadline.)
busy_interval_seconds = 0.25
periodic_deadline_seconds = 3 * limits.anti_entropy_interval_ms / 1000


@dataclass
class Pair:
    a: NodeProcess
    b: NodeProcess


@pytest.fixture(scope="module")
def pair(module_nodes: Nodes) -> Pair:
    a, b = module_nodes.create(2)
    b.peers = [a.url]
    config_path = a.home / "config.json"
    config = json.loads(config_path.read_text())
    config["follow"] = [forked_elsewhere.feed_text, home_feed_text(b.home)]
    config_path.write_text(json.dumps(config))
    start_all([a, b])
    return Pair(a, b)


@contextmanager
def busy(node: NodeProcess) -> Iterator[None]:
    """`node`'s members pay each other every `busy_interval_seconds` until the block ends."""
    alice, bob = node.admit(f"busy alice {node.status()['seq']}"), node.admit(f"busy bob {node.status()['seq']}")
    stop = threading.Event()
    failures: list[str] = []

    def pay_back_and_forth() -> None:
        turn = 0
        while not stop.wait(busy_interval_seconds):
            payer, payee = (alice, bob) if turn % 2 == 0 else (bob, alice)
            try:
                node.pay(payer, payee, 1)
            except AssertionError as error:
                failures.append(str(error))
                return
            turn += 1

    worker = threading.Thread(target=pay_back_and_forth, name="busy payments", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(10)
    assert not failures, failures


def seq_held(node: NodeProcess, feed_text: str) -> int:
    return node.feeds().get(feed_text, {}).get("seq", 0)


def test_a_busy_node_still_pulls_from_a_peer_that_does_not_push_to_it(pair: Pair) -> None:
    wait_until(lambda: seq_held(pair.b, pair.a.feed_text) >= 1, "B pulling A's feed at start")
    with busy(pair.b):
        written = pair.a.act(pair.a.admin_key, AdmitMember(member=FeedBuilder("key").node_key.public, name="zoe"))
        wait_until(
            lambda: seq_held(pair.b, pair.a.feed_text) >= written["seq"],
            "busy B pulling A's new event",
            timeout_seconds=periodic_deadline_seconds,
            describe=lambda: (seq_held(pair.b, pair.a.feed_text), written["seq"]),
        )


def test_a_fork_proof_reaches_a_busy_node(pair: Pair) -> None:
    feed = forked_elsewhere
    first = feed.next_event(feed.act_body(feed.admin_key, AdmitMember(member=FeedBuilder("k").node_key.public, name="x")))
    second = feed.next_event(feed.act_body(feed.admin_key, AdmitMember(member=FeedBuilder("k").node_key.public, name="y")))
    assert pair.a.push(Events(feed.feed, 1, [*feed.events, first]), signer_of_feed(feed)).status == 200
    wait_until(lambda: seq_held(pair.b, feed.feed_text) == 2, "B pulling the feed from A")
    with busy(pair.b):
        assert refusal_of(pair.a.push(Events(feed.feed, 2, [second]), signer_of_feed(feed))) == (409, "feed_frozen")
        wait_until(
            lambda: any(fork["feed"] == feed.feed_text for fork in pair.b.status()["forks"]),
            "busy B receiving A's fork proof",
            timeout_seconds=periodic_deadline_seconds,
            describe=lambda: pair.b.status()["alerts"],
        )
