"""The federation layer of a running node: the federation view (view.py) plugged into the node as
part of its one extension (federation/service.py's `Layers`), with its rounds, its routes and its
pages.

How this works: `add_routes` puts the view under its typed keys (`federations_key` for the
layer's own handlers, the node's `elsewhere_key` for the node's pages, which name other
communities through it without importing federation/) and registers /api/federations…,
/api/payments (http.py) and the pages /federations/{ref} and /payments (pages.py). `start` hooks
the view to the store's commit listener and screens every intent the sequencer takes (a payment
to a community proven forked is refused). `run` is the node's rounds (rounds.py): when federation
or payment rows were stored, and at least every `abstain_interval_ms`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric
from tallystick.node.app import Node, elsewhere_key
from tallystick.protocol.errors import TallyError
from tallystick.protocol.events import Intent, PayAcross
from tallystick.protocol.ids import id_to_text

from . import http, pages, rounds
from .view import FederationView, federations_key

log = logging.getLogger("tallystick.federation")
# How often the node looks for stalled epochs it should abstain in.
abstain_interval_ms = 1000
# The least time between two rounds woken by new federation or payment events.
round_spacing_ms = 20


class FrozenCommunityError(TallyError):
    code = "community_frozen"
    http_status = 409


class Federations(FederationView):
    """The federation view of one node, with its rounds, routes and pages; plugged into the node
    beside the replicator."""

    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[dict[str, object]] = []

    def add_routes(self, app: web.Application) -> None:
        app[federations_key] = self
        app[elsewhere_key] = self
        http.add_routes(app)
        pages.add_routes(app)

    async def start(self, node: Node) -> None:
        await super().start(node)
        node.sequencer.screens.append(self.screen_intent)

    def screen_intent(self, intent: Intent) -> None:
        """Refuse a payment to a community whose feed is proven forked: it is frozen in every
        federation it belongs to (its answers could not be trusted)."""
        action = intent.action
        state = self.last_state
        if isinstance(action, PayAcross) and state is not None and action.to_community in state.forks:
            raise FrozenCommunityError(
                f"community {id_to_text('n', action.to_community)} is frozen: its feed is proven forked, so no "
                "federation trusts what it signs; payments to it are refused until it recovers as a new feed"
            )

    async def run(self) -> None:
        while True:
            # A round when federation or payment events were stored (a payment to answer or to
            # settle moves on at once), and at least every `abstain_interval_ms` (deadlines pass).
            try:
                async with asyncio.timeout(abstain_interval_ms / 1000):
                    await self.wake.wait()
            except TimeoutError:
                pass
            self.wake.clear()
            await asyncio.sleep(round_spacing_ms / 1000)  # events that land together, one round
            try:
                await rounds.abstain_where_stalled(self)
                await rounds.follow_decisions(self)
                await rounds.answer_payments(self)
                await rounds.settle_payments(self)
            except Exception:  # the view must never stop the node; the next round tries again
                log.exception("federation round failed")

    def peer_status(self) -> list[dict[str, object]]:
        return []

    def collect(self) -> Iterable[Metric]:
        known = len(self.last_state.federations) if self.last_state else 0
        yield GaugeMetricFamily("tally_federations_known", "Federations in this node's view", value=known)
