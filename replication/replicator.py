"""The Replicator: replication as the running node's extension (node.app.Extension).

How this works: nodes gossip each other's feeds, verify and audit everything, and prove forks. The
work is split by noun, and this class only joins the parts and answers for them to the node:
- `Holdings` (replication/ingest.py): the feeds held, why, which are frozen, the alerts, and
  `ingest`, the one door for other nodes' events;
- `Peers` (replication/peers.py): one task per configured peer, pulling and pushing as a client;
- `Server` (replication/server.py): the /replication/ routes and the guard on signed requests.
`tally restore` (replication/restore.py) runs without a node, and so without this class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from tallystick.node.app import Node

from . import server
from .ingest import Holdings, Replica, feeds_held_max
from .peers import Peers
from .server import Server, heads_page_feeds_max


class Replicator:
    """The node's replication extension (see node.app.Extension)."""

    def __init__(
        self,
        peers: list[str],
        clock_ms: Callable[[], int],
        verify_processes: int = 0,
        follow: list[bytes] | None = None,
        feeds_held_max: int = feeds_held_max,
        heads_page_feeds: int = heads_page_feeds_max,
    ) -> None:
        # The parts call each other only through what they are given here: the holdings ask the
        # peers which feeds are theirs and wake them; the server asks the peers who vouches.
        self.holdings = Holdings(
            follow=follow, feeds_held_max=feeds_held_max, peer_feeds=self.peer_feeds, wake_peers=self.wake_peers
        )
        self.peers = Peers(
            peers, self.holdings, clock_ms, verify_processes=verify_processes, heads_page_feeds=heads_page_feeds
        )
        self.server = Server(self.holdings, clock_ms, vouchers=self.peer_feeds)

    def peer_feeds(self) -> set[bytes]:
        return self.peers.own_feeds()

    def wake_peers(self) -> None:
        self.peers.wake()

    # ---- what the layers above read (federation/) -----------------------------------------------

    @property
    def own_feed(self) -> bytes:
        return self.holdings.own_feed

    @property
    def replicas(self) -> dict[bytes, Replica]:
        """Every feed held but our own, by feed id: its replica's state and head."""
        return self.holdings.replicas

    @property
    def alerts(self) -> list[dict[str, object]]:
        return self.holdings.alerts

    @property
    def federation_members(self) -> Callable[[], Awaitable[frozenset[bytes]]] | None:
        return self.holdings.federation_members

    @federation_members.setter
    def federation_members(self, members: Callable[[], Awaitable[frozenset[bytes]]] | None) -> None:
        """Set by federation/service.py's Layers: the members of the federations this node belongs to."""
        self.holdings.federation_members = members

    # ---- the extension --------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app[replicator_key] = self
        server.add_routes(app, self.server)

    async def start(self, node: Node) -> None:
        self.peers.start(node.sequencer)
        await self.holdings.start(node.store, node.sequencer)

    async def run(self) -> None:
        await self.peers.run()

    def peer_status(self) -> list[dict[str, object]]:
        return self.peers.status()

    def collect(self) -> Iterable[Metric]:
        yield from self.peers.metrics()
        yield GaugeMetricFamily("tally_feeds_held", "Feeds this node holds, its own included", value=self.holdings.feeds_held())
        yield GaugeMetricFamily("tally_forks", "Feeds frozen by a fork proof", value=len(self.holdings.frozen))
        yield CounterMetricFamily(
            "tally_replication_rejected", "Batches from peers that did not verify",
            value=self.peers.rejected_total + self.server.rejected_total,
        )
        yield CounterMetricFamily(
            "tally_replication_refused_requests", "Pushes and fork proofs refused before their body was used "
            "(unsigned, a bad or replayed signature, an unknown node), and reads refused (unsigned, an unknown node)", value=self.server.refused_requests_total,
        )


replicator_key = web.AppKey("replicator", Replicator)
