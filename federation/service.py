"""A federated node: the community node with replication and the federation view plugged in.

How this works: node/ knows nothing of peers or federations; it exposes one extension point
(node.runtime.Extension). This module builds the `Replicator` for a home's configured peers and the
`Federations` view, joins them in `Layers`, and runs the node with them, which is what `tally
serve` does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable

from aiohttp import web
from prometheus_client.core import Metric
from tallystick.node.home import Home, NodeConfig
from tallystick.node.runtime import Node, clock_ms
from tallystick.node.runtime import create_app as create_node_app
from tallystick.node.runtime import serve as serve_node
from tallystick.protocol.ids import id_from_text

from .federations import Federations
from .replicator import Replicator


class Layers:
    """Replication and the federation view as the node's one extension."""

    def __init__(self, replicator: Replicator, federations: Federations) -> None:
        self.replicator, self.federations = replicator, federations
        federations.replicator = replicator

    @property
    def alerts(self) -> list[dict[str, object]]:
        return [*self.replicator.alerts, *self.federations.alerts]

    def add_routes(self, app: web.Application) -> None:
        self.replicator.add_routes(app)
        self.federations.add_routes(app)

    async def start(self, node: Node) -> None:
        await self.replicator.start(node)
        await self.federations.start(node)

    async def run(self) -> None:
        await asyncio.gather(self.replicator.run(), self.federations.run())

    def peer_status(self) -> list[dict[str, object]]:
        return self.replicator.peer_status()

    def collect(self) -> Iterable[Metric]:
        yield from self.replicator.collect()
        yield from self.federations.collect()


def replicator_for(config: NodeConfig) -> Replicator:
    processes = (os.cpu_count() or 1) if config.verify_processes is None else config.verify_processes
    follow = None if config.follow is None else [id_from_text("n", feed) for feed in config.follow]
    return Replicator(config.peers, clock_ms, verify_processes=processes, follow=follow)


def layers_for(config: NodeConfig) -> Layers:
    return Layers(replicator_for(config), Federations())


def create_app(home: Home, config: NodeConfig) -> web.Application:
    return create_node_app(home, config, layers_for(config))


async def serve(home: Home, config: NodeConfig) -> None:
    await serve_node(home, config, layers_for(config))
