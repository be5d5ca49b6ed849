"""Requests between nodes are signed (docs/federation.md, "Signed requests"): the bytes signed are
exactly what the page says (a vector, recomputed here by hand from the page's description, without
the project's encoder), and a real node refuses a forged, re-keyed, re-routed, replayed, stale or
malformed signature with 403 and a stable code, changing nothing.

The world: a real node N that lists a lying peer L (an aiohttp server of this test with a node
identity of its own, whose feed N holds) as its peer. Every push here would be taken if it were
signed right: L is a configured peer, so it may vouch for a new feed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest
from tallystick.protocol.codec import encode
from tallystick.protocol.ids import KeyPair, id_from_text
from tallystick.protocol.wire import Events, request_signature_header, sign_request

from helpers.replication import (
    BackgroundLoop,
    FeedBuilder,
    LyingPeer,
    NodeProcess,
    Nodes,
    Signer,
    refusal_of,
    signed_headers,
    wait_until,
)

vector_path = Path(__file__).with_name("request_signature_vector.json")
# How far from now the stale and the future signatures are: well past the node's skew window (60 s).
far_from_now_ms = 10 * 60 * 1000


# ---- the bytes signed -----------------------------------------------------------------------------


def msgpack_str(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 32
    return bytes((0xA0 | len(raw),)) + raw


def msgpack_bin(raw: bytes) -> bytes:
    assert len(raw) < 256
    return b"\xc4" + bytes((len(raw),)) + raw


def msgpack_uint(value: int) -> bytes:
    assert 2**32 <= value < 2**64  # a time in ms today: msgpack's uint 64
    return b"\xcf" + value.to_bytes(8, "big")


def test_the_request_signature_vector_is_what_the_page_describes() -> None:
    vector = json.loads(vector_path.read_text())
    seed, body, nonce = (bytes.fromhex(vector[name]) for name in ("seed_hex", "body_hex", "nonce_hex"))
    feed = id_from_text("n", vector["feed"])
    body_hash = hashlib.blake2b(body, digest_size=32).digest()
    assert body_hash.hex() == vector["body_hash_hex"]
    signed = (
        b"tallystick/request/v1\n" + b"\x96" + msgpack_str(vector["method"]) + msgpack_str(vector["path"])
        + msgpack_bin(body_hash) + msgpack_uint(vector["ts"]) + msgpack_bin(nonce) + msgpack_bin(feed)
    )
    signature = nacl.signing.SigningKey(seed).sign(signed).signature
    by_hand = f"v=1;feed={vector['feed']};ts={vector['ts']};nonce={nonce.hex()};sig={signature.hex()}"
    assert by_hand == vector["header"]
    ours = sign_request(KeyPair(seed), feed=feed, method=vector["method"], path=vector["path"], body=body,
                        ts=vector["ts"], nonce=nonce)
    assert ours == vector["header"]


# ---- a real node refuses what is not signed right -------------------------------------------------


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


def new_feed_push() -> tuple[FeedBuilder, bytes]:
    feed = FeedBuilder("Pushed")
    return feed, encode(Events(feed.feed, 1, feed.events))


def assert_refused(world: World, feed: FeedBuilder, body: bytes, headers: dict[str, str], code: str) -> None:
    before = world.node.status()
    assert refusal_of(world.node.post_signed("/replication/push", body, headers)) == (403, code)
    after = world.node.status()
    assert feed.feed_text not in after["feeds"]
    assert (after["feeds"], after["alerts"], after["forks"]) == (before["feeds"], before["alerts"], before["forks"])


def test_a_well_signed_push_from_the_peer_is_taken(world: World) -> None:
    feed, body = new_feed_push()
    assert world.node.post_signed("/replication/push", body, signed_headers(world.liar.signer, "/replication/push", body)).status == 200
    assert feed.feed_text in world.node.feeds()


def test_a_body_changed_after_signing_is_refused(world: World) -> None:
    feed, body = new_feed_push()
    _other, other_body = new_feed_push()
    headers = signed_headers(world.liar.signer, "/replication/push", other_body)
    assert_refused(world, feed, body, headers, "bad_request_signature")


def test_a_signature_by_another_key_under_the_peers_name_is_refused(world: World) -> None:
    feed, body = new_feed_push()
    forged = Signer(world.liar.identity.feed, KeyPair.generate())
    assert_refused(world, feed, body, signed_headers(forged, "/replication/push", body), "bad_request_signature")


def test_a_signature_for_another_route_is_refused(world: World) -> None:
    feed, body = new_feed_push()
    assert_refused(world, feed, body, signed_headers(world.liar.signer, "/replication/forks", body), "bad_request_signature")


def test_a_replayed_push_is_refused(world: World) -> None:
    _feed, body = new_feed_push()
    headers = signed_headers(world.liar.signer, "/replication/push", body)
    assert world.node.post_signed("/replication/push", body, headers).status == 200
    before = world.node.status()
    assert refusal_of(world.node.post_signed("/replication/push", body, headers)) == (403, "replayed_request")
    assert world.node.status()["feeds"] == before["feeds"]


@pytest.mark.parametrize("offset_ms", [-far_from_now_ms, far_from_now_ms], ids=["stale", "future"])
def test_a_signature_far_from_the_nodes_clock_is_refused(world: World, offset_ms: int) -> None:
    feed, body = new_feed_push()
    headers = signed_headers(world.liar.signer, "/replication/push", body, ts=now_ms() + offset_ms)
    assert_refused(world, feed, body, headers, "request_expired")


def spoiled(header: str, name: str, value: str) -> str:
    fields = dict(part.split("=", 1) for part in header.split(";"))
    fields[name] = value
    return ";".join(f"{key}={text}" for key, text in fields.items())


@pytest.mark.parametrize(
    ("name", "value"),
    [("v", "2"), ("ts", "1²"), ("ts", "9" * 25), ("nonce", "zz" * 16), ("nonce", "00"), ("sig", "0" * 127),
     ("feed", "n_nope"), ("feed", "m_" + "a" * 52), ("extra", "1")],
)
def test_a_malformed_signature_header_is_refused_never_a_500(world: World, name: str, value: str) -> None:
    _feed, body = new_feed_push()
    headers = signed_headers(world.liar.signer, "/replication/push", body)
    headers[request_signature_header] = spoiled(headers[request_signature_header], name, value)
    before = world.node.status()
    assert refusal_of(world.node.post_signed("/replication/push", body, headers)) == (403, "bad_request_signature")
    assert world.node.status()["feeds"] == before["feeds"]


def test_a_signature_header_longer_than_any_honest_one_is_refused(world: World) -> None:
    feed, body = new_feed_push()
    headers = signed_headers(world.liar.signer, "/replication/push", body)
    headers[request_signature_header] += ";" + "x" * 1000
    assert_refused(world, feed, body, headers, "bad_request_signature")
