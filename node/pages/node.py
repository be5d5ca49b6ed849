"""The operator's page, `/node`: the peers and their lag, the feeds this node holds with each one's
last checkpoint, forks, alerts and the sequencer's queue (from `Node.status()`, which /api/status
serves).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tallystick.protocol import limits
from tallystick.protocol.codec import decode_event
from tallystick.protocol.events import (
    Checkpoint,
)
from tallystick.protocol.ids import id_to_text

from ..app import Node, clock_ms
from .shared import frame_for, html_page, node_of

# Feeds listed on /node (a node may hold up to `replication_heads_max`).
feeds_shown = limits.page_size_default


async def _feeds(node: Node, status: dict[str, Any]) -> list[dict[str, Any]]:
    """The feeds this node holds, with each one's last checkpoint. A checkpoint that is stored was
    verified: the author's own, or recomputed by this replica's audit before it was stored (a
    mismatch is refused, and shows as the peer's last error)."""
    rows = await node.store.query(
        "SELECT feed, name, seq, events_since_checkpoint FROM community ORDER BY feed LIMIT ?",
        (feeds_shown,),
        feeds_shown,
    )
    forked = {fork["feed"] for fork in status["forks"]}
    feeds = []
    for feed, name, seq, since in rows:
        text = id_to_text("n", bytes(feed))
        checkpoint_seq = seq - since
        checkpoint = None
        if since < seq:
            found = await node.store.query(
                "SELECT kind, bytes FROM log WHERE feed = ? AND seq = ?", (bytes(feed), checkpoint_seq), 1
            )
            if found and found[0][0] == "checkpoint":
                body = decode_event(bytes(found[0][1])).body
                assert isinstance(body, Checkpoint)
                checkpoint = {"seq": checkpoint_seq, "state_hash": id_to_text("h", body.state_hash)}
        held = status["feeds"].get(text, {})
        feeds.append({
            "id": text, "name": name, "seq": held.get("seq", seq), "head": held.get("head"),
            "own": bytes(feed) == node.feed, "forked": text in forked, "checkpoint": checkpoint,
            "since_checkpoint": since,
        })
    return feeds


async def node_page(request: web.Request) -> web.Response:
    node = node_of(request)
    frame = await frame_for(request)
    status = frame["node_status"]
    now_ms = clock_ms()
    peers = []
    for peer in status["peers"]:
        last_seen = peer.get("last_seen_ms")
        peers.append({**peer, "seen_ago_ms": None if not last_seen else max(0, now_ms - last_seen)})
    return html_page(
        "node.html",
        **frame,
        peers=peers,
        feeds=await _feeds(node, status),
        feeds_total=len(status["feeds"]),
        forks=status["forks"],
        pending=status["pending"],
        head=status["head"],
    )
