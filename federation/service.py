"""A federated node: the community node with replication and the federation view plugged in.

How this works: node/ knows nothing of peers or federations; it exposes one extension point
(node.app.Extension). This module builds the `Replicator` (replication/) for a home's configured
peers and the `Federations` view, joins them in `Layers`, and runs the node with them, which is what
`tally serve` does. It also tells the replicator which feeds are members of the federations this node
belongs to (anchors: feeds it holds for its own sake, docs/federation.md "What a node holds").
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable

from aiohttp import web
from prometheus_client.core import Metric
from tallystick.node.app import Node, clock_ms
from tallystick.node.app import create_app as create_node_app
from tallystick.node.app import serve as serve_node
from tallystick.node.home import Home, NodeConfig
from tallystick.protocol.errors import LocalError
from tallystick.protocol.ids import id_from_text
from tallystick.replication.ingest import feeds_held_max
from tallystick.replication.replicator import Replicator
from tallystick.replication.server import heads_page_feeds_max

from .creditcommons.leaf import Leaf, load_config
from .federations import Federations
from .market import Market
from .state import FederationState

# An operator (or a test) may lower the limit on feeds held below replication/ingest.feeds_held_max,
# and the page of the heads exchange below replication/server.heads_page_feeds_max, never raise them:
# a small node, or a test that fills a node to its limit, or pages its heads, without 20,000 feeds.
feeds_held_max_variable = "TALLY_FEEDS_HELD_MAX"
heads_page_feeds_variable = "TALLY_HEADS_PAGE_FEEDS"


class ReplicationBoundError(LocalError):
    code = "config"


class Layers:
    """Replication and the federation view as the node's one extension."""

    def __init__(self, replicator: Replicator, federations: Federations, leaf: Leaf | None = None) -> None:
        self.replicator, self.federations = replicator, federations
        self.leaf = leaf  # a Credit Commons leaf, when the home has creditcommons.json (docs/creditcommons.md)
        self.market = Market(federations)  # the listings' digest across the federations (federation/market.py)
        federations.replicator = replicator
        replicator.federation_members = self.federation_members

    async def federation_members(self) -> frozenset[bytes]:
        state, _events = await self.federations.view()
        return members_of_own_federations(state, self.replicator.own_feed)

    @property
    def alerts(self) -> list[dict[str, object]]:
        return [*self.replicator.alerts, *self.federations.alerts, *(self.leaf.alerts if self.leaf else [])]

    def add_routes(self, app: web.Application) -> None:
        self.replicator.add_routes(app)
        self.federations.add_routes(app)
        self.market.add_routes(app)
        if self.leaf is not None:
            self.leaf.add_routes(app)

    async def start(self, node: Node) -> None:
        await self.replicator.start(node)
        await self.federations.start(node)
        if self.leaf is not None:
            await self.leaf.start(node)

    async def run(self) -> None:
        await asyncio.gather(self.replicator.run(), self.federations.run(), self.market.run(),
                             *([self.leaf.run()] if self.leaf is not None else []))

    def peer_status(self) -> list[dict[str, object]]:
        return self.replicator.peer_status()

    def collect(self) -> Iterable[Metric]:
        yield from self.replicator.collect()
        yield from self.federations.collect()
        yield from self.market.collect()


def members_of_own_federations(state: FederationState, own_feed: bytes) -> frozenset[bytes]:
    """Every community under every federation above `own_feed` (its federations, and theirs), and
    every member named with it in a charter it holds that is not founded yet: a founding member's
    feed must reach the others for it to adopt the charter at all."""
    found: set[bytes] = set()
    seen: set[bytes] = set()
    named_with = [federation.id for federation in state.federations.values() if own_feed in federation.members]
    frontier = [*state.ancestors(own_feed), *named_with]
    while frontier:
        federation_id = frontier.pop()
        federation = state.federations.get(federation_id)
        if federation_id in seen or federation is None:
            continue
        seen.add(federation_id)
        for member in federation.members:
            if member in state.federations:
                frontier.append(member)
            else:
                found.add(member)
    found.discard(own_feed)
    return frozenset(found)


def lowered_bound(environment: dict[str, str], variable: str, default: int) -> int:
    """`variable`'s value if set (a whole number from 1 to `default`), else `default`."""
    text = environment.get(variable)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 9) or not 1 <= int(text) <= default:
        raise ReplicationBoundError(f"{variable} must be a whole number from 1 to {default}; unset it for the default")
    return int(text)


def replicator_for(config: NodeConfig) -> Replicator:
    processes = (os.cpu_count() or 1) if config.verify_processes is None else config.verify_processes
    follow = None if config.follow is None else [id_from_text("n", feed) for feed in config.follow]
    return Replicator(
        config.peers, clock_ms, verify_processes=processes, follow=follow,
        feeds_held_max=lowered_bound(dict(os.environ), feeds_held_max_variable, feeds_held_max),
        heads_page_feeds=lowered_bound(dict(os.environ), heads_page_feeds_variable, heads_page_feeds_max),
    )


def layers_for(config: NodeConfig, home: Home | None = None) -> Layers:
    config_of_leaf = None if home is None else load_config(home.path)
    return Layers(replicator_for(config), Federations(), None if config_of_leaf is None else Leaf(config_of_leaf))


def create_app(home: Home, config: NodeConfig) -> web.Application:
    return create_node_app(home, config, layers_for(config, home))


async def serve(home: Home, config: NodeConfig) -> None:
    await serve_node(home, config, layers_for(config, home))
