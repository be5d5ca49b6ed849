"""A federated node: the community node with replication plugged in.

How this works: node/ knows nothing of peers; it exposes an extension point (node.runtime.Extension).
This module builds the `Replicator` for a home's configured peers and runs the node with it, which is
what `tally serve` does.
"""

from __future__ import annotations

import os

from aiohttp import web
from tallystick.node.home import Home, NodeConfig
from tallystick.node.runtime import clock_ms
from tallystick.node.runtime import create_app as create_node_app
from tallystick.node.runtime import serve as serve_node
from tallystick.protocol.ids import id_from_text

from .replicator import Replicator


def replicator_for(config: NodeConfig) -> Replicator:
    processes = (os.cpu_count() or 1) if config.verify_processes is None else config.verify_processes
    follow = None if config.follow is None else [id_from_text("n", feed) for feed in config.follow]
    return Replicator(config.peers, clock_ms, verify_processes=processes, follow=follow)


def create_app(home: Home, config: NodeConfig) -> web.Application:
    return create_node_app(home, config, replicator_for(config))


async def serve(home: Home, config: NodeConfig) -> None:
    await serve_node(home, config, replicator_for(config))
