"""A node serves its feeds only to nodes with standing there (docs/federation.md, "Who may read"):
every GET under /replication/ but /replication/node must be signed (protocol.md §18) by the
current key of a feed the node holds. Unsigned, a stranger's key, a signature for another range,
route or node, a stale one: each is refused with its stable code, counted in
tally_replication_refused_requests, and answers nothing of the feeds.

The world: a real node N that lists a lying peer L (an aiohttp server of this test with a node
identity of its own, whose feed N holds) as its peer; L's node key is the reader with standing.
A stranger is a fresh key with a genesis of its own that N does not hold.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest
from tallystick.protocol.codec import encode
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text
from tallystick.protocol.requests import sign_request
from tallystick.protocol.wire import Events, events_decoder, heads_decoder
from tallystick.replication.reads import read_target

from helpers.replication import (
    BackgroundLoop,
    FeedBuilder,
    LyingPeer,
    NodeProcess,
    Nodes,
    http_with_headers,
    refusal_of,
    signed_headers,
    wait_until,
)
from helpers.support import Answer, http

vector_path = Path(__file__).parents[1] / "vectors" / "replication_read.json"
# Past the signed-request window (limits.request_skew_max_ms, 5 minutes), either way.
far_from_now_ms = 10 * 60 * 1000


@dataclass
class World:
    node: NodeProcess
    liar: LyingPeer


@pytest.fixture(scope="module")
def world(module_nodes: Nodes, background: BackgroundLoop) -> Iterator[World]:
    liar = LyingPeer(background).start()
    (node,) = module_nodes.create(1)
    node.peers = [liar.url]
    try:
        node.start()
        wait_until(lambda: liar.identity.feed_text in node.feeds(), "N holding its peer's own feed")
        yield World(node, liar)
    finally:
        liar.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def routes(world: World) -> list[str]:
    """A target of each signed GET route, with a query where the route takes one."""
    return [
        "/replication/heads?limit=10",
        f"/replication/feeds/{world.node.feed_text}?from=1&limit=2",
        "/replication/forks",
    ]


def read_as(world: World, key: KeyPair, target: str, *, signed_target: str | None = None,
            ts_ms: int | None = None, node: bytes | None = None) -> Answer:
    """GET `target` at N signed by `key` (for `signed_target`, at `ts_ms`, for `node`, if told)."""
    authorization = sign_request(
        key, node=node or world.node.feed, method="GET", target=signed_target or target,
        ts_ms=now_ms() if ts_ms is None else ts_ms,
    )
    return http_with_headers("GET", world.node.url + target, None, {"Authorization": authorization})


def refused_total(world: World) -> float:
    text = http("GET", world.node.url + "/metrics").body.decode()
    match = re.search(r"^tally_replication_refused_requests_total (\S+)$", text, re.MULTILINE)
    assert match, "the node's metrics have no tally_replication_refused_requests_total"
    return float(match.group(1))


def assert_refused(world: World, answer: Answer, status: int, code: str) -> None:
    assert refusal_of(answer) == (status, code), answer.body[:300]
    assert answer.headers.get("content-type", "").startswith("application/json")  # nothing of the feeds


# ---- who may read ---------------------------------------------------------------------------------


def test_a_signed_read_by_the_peer_is_served(world: World) -> None:
    heads = read_as(world, world.liar.signer.key, "/replication/heads?limit=10")
    assert heads.status == 200, heads.body[:300]
    feeds = {head.feed for head in heads_decoder.decode(heads.body).heads}
    assert {world.node.feed, world.liar.identity.feed} <= feeds
    run = read_as(world, world.liar.signer.key, f"/replication/feeds/{world.node.feed_text}?from=1&limit=2")
    assert run.status == 200
    assert events_decoder.decode(run.body).feed == world.node.feed
    assert read_as(world, world.liar.signer.key, "/replication/forks").status == 200


@pytest.mark.parametrize("index", range(3), ids=["heads", "range", "forks"])
def test_an_unsigned_read_is_refused_and_counted(world: World, index: int) -> None:
    before = refused_total(world)
    answer = http("GET", world.node.url + routes(world)[index])
    assert_refused(world, answer, 403, "unsigned_request")
    assert "link the nodes as peers" in json.loads(answer.body)["message"]
    assert refused_total(world) == before + 1


@pytest.mark.parametrize("index", range(3), ids=["heads", "range", "forks"])
def test_a_read_signed_by_a_stranger_node_is_refused_and_counted(world: World, index: int) -> None:
    stranger = FeedBuilder("Stranger")  # a genesis of its own, which N does not hold
    assert stranger.feed_text not in world.node.feeds()
    before = refused_total(world)
    answer = read_as(world, stranger.node_key, routes(world)[index])
    assert_refused(world, answer, 403, "unknown_peer")
    assert "link the nodes as peers" in json.loads(answer.body)["message"]
    assert refused_total(world) == before + 1


def test_the_node_route_stays_open_so_that_peers_can_be_linked(world: World) -> None:
    answer = http("GET", world.node.url + "/replication/node")
    assert answer.status == 200


# ---- what a signature covers ----------------------------------------------------------------------


def test_a_signature_for_one_range_is_refused_for_another_range(world: World) -> None:
    path = f"/replication/feeds/{world.node.feed_text}"
    answer = read_as(world, world.liar.signer.key, f"{path}?from=2&limit=2", signed_target=f"{path}?from=1&limit=2")
    assert_refused(world, answer, 401, "bad_authorization")
    answer = read_as(world, world.liar.signer.key, f"{path}?from=1&limit=200", signed_target=f"{path}?from=1&limit=2")
    assert_refused(world, answer, 401, "bad_authorization")


def test_a_signature_for_one_feed_or_route_is_refused_for_another(world: World) -> None:
    signed = f"/replication/feeds/{world.node.feed_text}?from=1&limit=2"
    other_feed = f"/replication/feeds/{world.liar.identity.feed_text}?from=1&limit=2"
    assert_refused(world, read_as(world, world.liar.signer.key, other_feed, signed_target=signed), 401, "bad_authorization")
    assert_refused(world, read_as(world, world.liar.signer.key, "/replication/forks", signed_target="/replication/heads"),
                   401, "bad_authorization")


def test_a_signature_for_another_node_is_refused(world: World) -> None:
    answer = read_as(world, world.liar.signer.key, "/replication/heads", node=world.liar.identity.feed)
    assert_refused(world, answer, 401, "bad_authorization")


@pytest.mark.parametrize("offset_ms", [-far_from_now_ms, far_from_now_ms], ids=["stale", "future"])
def test_a_read_signed_outside_the_time_window_is_refused(world: World, offset_ms: int) -> None:
    answer = read_as(world, world.liar.signer.key, "/replication/heads", ts_ms=now_ms() + offset_ms)
    assert_refused(world, answer, 401, "stale_request")


def test_a_read_replayed_within_the_window_reads_the_same_again(world: World) -> None:
    # No nonce on reads (docs/federation.md, "Who may read"): a replay re-reads what the signer may read.
    target = f"/replication/feeds/{world.node.feed_text}?from=1&limit=1"
    authorization = sign_request(world.liar.signer.key, node=world.node.feed, method="GET", target=target, ts_ms=now_ms())
    first = http_with_headers("GET", world.node.url + target, None, {"Authorization": authorization})
    again = http_with_headers("GET", world.node.url + target, None, {"Authorization": authorization})
    assert first.status == again.status == 200
    assert first.body == again.body


def test_a_refused_read_changes_nothing(world: World) -> None:
    before = world.node.status()
    for target in routes(world):
        http("GET", world.node.url + target)
        read_as(world, FeedBuilder("Stranger").node_key, target)
    after = world.node.status()
    assert (after["feeds"], after["alerts"], after["forks"]) == (before["feeds"], before["alerts"], before["forks"])


# ---- the message signed, byte for byte ----------------------------------------------------------


def test_the_replication_read_vector_is_what_the_page_describes() -> None:
    """tests/vectors/replication_read.json: a heads read, signed as protocol.md §16 describes (the
    §18 message), recomputed here by hand without the project's signing code."""
    vector = json.loads(vector_path.read_text())
    seed = bytes.fromhex(vector["seed_hex"])
    node = id_from_text("n", vector["node"])
    target = read_target(vector["path"], vector["query"])
    assert target == vector["target"]
    empty_body_hash = hashlib.blake2b(b"", digest_size=32).digest()
    assert empty_body_hash.hex() == vector["body_hash_hex"]
    message = (
        b"tallystick/member-request/v1\n" + node + b"GET\n" + target.encode() + b"\n"
        + str(vector["ts_ms"]).encode() + b"\n" + empty_body_hash
    )
    assert message.hex() == vector["message_hex"]
    signing = nacl.signing.SigningKey(seed)
    assert signing.verify_key.encode().hex() == vector["public_key_hex"]
    signature = signing.sign(message).signature
    text = base64.b32encode(signature).decode().rstrip("=").lower()
    by_hand = f"Tally {id_to_text('k', signing.verify_key.encode())}.{vector['ts_ms']}.{text}"
    assert by_hand == vector["authorization"]
    ours = sign_request(KeyPair(seed), node=node, method="GET", target=target, ts_ms=vector["ts_ms"])
    assert ours == vector["authorization"]


# ---- a pushed feed gives standing; a push still needs its own signature ----------------------------


def test_a_node_whose_feed_was_pushed_by_a_peer_may_read(world: World) -> None:
    vouched = FeedBuilder("Vouched for")
    body = encode(Events(vouched.feed, 1, vouched.events))
    assert world.node.post_signed("/replication/push", body, signed_headers(world.liar.signer, "/replication/push", body)).status == 200
    wait_until(lambda: vouched.feed_text in world.node.feeds(), "N holding the vouched-for feed")
    assert read_as(world, vouched.node_key, "/replication/heads").status == 200


# ---- two real nodes: a peer that does not list us serves us nothing ---------------------------------


def test_a_node_listed_by_only_one_side_reads_nothing_and_says_to_link_the_nodes(nodes: Nodes) -> None:
    lister, listed = nodes.create(2)
    lister.peers = [listed.url]
    listed.start()
    lister.start()
    wait_until(lambda: "link the nodes as peers" in (lister.peer(listed.url)["last_error"] or ""),
               "the lister reporting that the listed node refuses its reads")
    assert listed.feed_text not in lister.feeds()
    assert lister.feed_text not in listed.feeds()
