"""A running node: the app factory, its typed resources, its background tasks, and `tally serve`.

How this works: `create_app(home, config)` returns an aiohttp Application whose one cleanup context
takes the home's lock, opens the store, loads the state from the projections, and runs the
sequencer's writer and the timer in an `asyncio.TaskGroup`; cleanup cancels them and closes the
store, and runs if and only if start-up did. The node's clock lives here (the domain reads none):
the timer asks the pure domain what is due and appends it through the sequencer.

Every resource a handler reads is under a typed `web.AppKey` defined here. A layer above the node
(replication, federations) plugs in as an `Extension`; node/ imports none of it. What the node's
own pages may learn of other communities through such a layer (a community's name, who paid a
payment across, the federations known) is the `Elsewhere` protocol, which the layer provides under
`elsewhere_key`; without one, the pages name nothing elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Protocol

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from tallystick.ledger import shares as sharing
from tallystick.ledger.decisions import closing_body, due_closures
from tallystick.ledger.digest import state_digest
from tallystick.ledger.model import State
from tallystick.protocol import limits
from tallystick.protocol.events import Checkpoint
from tallystick.protocol.ids import id_to_text

from .connections import (
    ConnectionGuard,
    HttpBounds,
    effective_connections_max,
    http_bounds_key,
    listen_backlog,
    raise_open_files_limit,
)
from .home import Home, HomeError, NodeConfig
from .offline import finish_staged_rotation
from .personal import DataKeys, Directory
from .sequencer import Sequencer
from .store import Store

# How often the timer wakes to append time-driven events.
timer_interval_ms = 1000


def clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Node:
    """The resources of one running node."""

    def __init__(
        self, home: Home, config: NodeConfig, store: Store, sequencer: Sequencer, extension: Extension | None
    ) -> None:
        self.home = home
        self.extension = extension
        self.config = config
        self.store = store
        self.sequencer = sequencer
        self.feed = sequencer.head.feed
        assert sequencer.directory is not None, "a served node keeps its members' texts"
        self.directory: Directory = sequencer.directory
        self.failure: BaseException | None = None
        self.stop_requested = asyncio.Event()
        # Set when a federation act waits in the outbox, so the timer appends its body at once
        # rather than at its next tick (a `found` followed at once by an `adopt` elsewhere).
        self.timer_wake = asyncio.Event()

    def task_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.failure = task.exception()
            self.stop_requested.set()

    @contextlib.asynccontextmanager
    async def holding(self, named: Mapping[str, Coroutine[object, object, None]]) -> AsyncIterator[None]:
        """Run each coroutine as a task named by its key while the block runs; a task that fails
        stops the node (`task_ended`); on leaving, every task is cancelled and awaited, so none
        outlives the resource it uses."""
        tasks = [asyncio.create_task(coroutine, name=name) for name, coroutine in named.items()]
        for task in tasks:
            task.add_done_callback(self.task_ended)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def status(self) -> dict[str, object]:
        head = self.sequencer.head
        feeds = {
            id_to_text("n", h.feed): {"seq": h.seq, "head": id_to_text("h", h.head)}
            for h in await self.store.heads(limits.replication_heads_max)
        }
        forks = [
            {"feed": id_to_text("n", feed), "seq": seq, "proof": proof.hex()}
            for feed, seq, proof in await self.store.forks()
        ]
        alerts = list(self.extension.alerts) if self.extension else []
        own = id_to_text("n", self.feed)
        own_fork_alerted = any(alert["kind"] == "fork" and alert.get("feed") == own for alert in alerts)
        if self.sequencer.refusal is not None and not own_fork_alerted:
            # Why this node refuses writes, unless its own fork alert already says it.
            alerts.append({"kind": self.sequencer.refusal.code, "message": self.sequencer.refusal.message})
        return {
            "node": id_to_text("n", self.feed),
            "name": self.sequencer.state.community.name,
            "seq": head.seq,
            "head": id_to_text("h", head.head),
            "peers": self.extension.peer_status() if self.extension else [],
            "feeds": feeds,
            "forks": forks,
            "alerts": alerts,
            "pending": self.sequencer.pending,
        }

    async def run_timer(self) -> None:
        """Time-driven events: decisions, offers and withdrawals whose time came are closed (the
        domain says which and with what outcome), and a checkpoint once the feed has been idle with unhashed events."""
        while True:
            try:
                async with asyncio.timeout(timer_interval_ms / 1000):
                    await self.timer_wake.wait()
            except TimeoutError:
                pass
            self.timer_wake.clear()
            if self.sequencer.refusal is not None:
                continue  # a stale or forked home appends nothing; the alert says why
            for decision in due_closures(self.sequencer.state, self.sequencer.now_ms()):
                # The outcome is computed on the state the closing event follows, inside the
                # sequencer's single write order, so no vote can slip in between.
                await self.sequencer.append_body(lambda s, d=decision: closing_body(s, d))
            for offer in sharing.due_offer_closes(self.sequencer.state, self.sequencer.now_ms()):
                await self.sequencer.append_body(lambda s, o=offer: sharing.offer_closing_body(s, o))
            for withdrawal in sharing.due_withdrawals(self.sequencer.state, self.sequencer.now_ms()):
                await self.sequencer.append_body(lambda s, w=withdrawal: sharing.withdrawal_body(s, w))
            for _ in range(len(self.sequencer.state.federation_outbox)):
                # Only this loop empties the outbox, so its first body is still there.
                await self.sequencer.append_body(lambda s: s.federation_outbox[0])
            state, head = self.sequencer.state, self.sequencer.head
            if state.events_since_checkpoint > 0 and self.sequencer.now_ms() - head.ts >= self.config.checkpoint_idle_ms:
                await self.sequencer.append_body(lambda s: Checkpoint(state_hash=state_digest(s)))


node_key = web.AppKey("node", Node)
# The node's configuration, held from create_app on (before start-up), so what reads it per request
# (node/public.py: the public URL and trusted proxies) needs no running node.
config_key = web.AppKey("config", NodeConfig)
registry_key = web.AppKey("registry", CollectorRegistry)
connection_guard_key = web.AppKey("connection_guard", ConnectionGuard)


class _NodeCollector:
    """Prometheus metrics read from the node at scrape time (no module-level metric globals)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self):  # type: ignore[no-untyped-def]
        node = self.app.get(node_key)
        if node is None:
            return
        sequencer = node.sequencer
        yield GaugeMetricFamily("tally_feed_seq", "Seq of this node's own feed", value=sequencer.head.seq)
        yield GaugeMetricFamily("tally_pending_intents", "Intents waiting for the sequencer", value=sequencer.pending)
        yield CounterMetricFamily("tally_events_appended", "Events appended since start", value=sequencer.appended_total)
        yield CounterMetricFamily("tally_intents_refused", "Intents refused since start", value=sequencer.refused_total)
        yield CounterMetricFamily("tally_batches_committed", "Group commits since start", value=sequencer.batches_total)
        if node.extension is not None:
            yield from node.extension.collect()
        guard = self.app.get(connection_guard_key)
        if guard is not None:
            yield GaugeMetricFamily("tally_http_connections_open", "Client connections open", value=guard.open)
            yield CounterMetricFamily("tally_http_connections_refused", "Connections refused at once (per-address or total bound)",
                                      value=guard.refused_total)
            yield CounterMetricFamily("tally_http_head_timeouts", "Connections dropped for a slow request head",
                                      value=guard.timed_out_total)
        yield GaugeMetricFamily(
            "tally_members", "Active members", value=sum(1 for m in sequencer.state.members.values() if m.active)
        )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[registry_key])
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


class Extension(Protocol):
    """What a layer above the node (replication, federation) plugs into a running node."""

    alerts: list[dict[str, object]]

    def add_routes(self, app: web.Application) -> None: ...

    async def start(self, node: Node) -> None:
        """Called once the store and sequencer exist, before the node serves."""

    async def run(self) -> None:
        """The extension's background work; runs until cancelled."""

    def peer_status(self) -> list[dict[str, object]]: ...

    def collect(self) -> Iterable[Metric]: ...


class FederationListed(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A federation as the community's page lists it."""

    id: bytes
    name: str
    members: int


class Elsewhere(Protocol):
    """What the node's pages may learn of other communities and federations, from the layer that
    holds them (federation/view.py provides it under `elsewhere_key`)."""

    def ledger(self, community: bytes) -> State | None:
        """A community's ledger as this node holds it (its own, or a replica's), or None."""

    async def payers_by_payment(self) -> Mapping[bytes, bytes]:
        """The payer (a member id of the paying community) of every payment across held here, by
        the payment's id."""

    async def federations_listed(self) -> list[FederationListed]:
        """The federations in this node's view, by name (at most `page_size_max`)."""


elsewhere_key = web.AppKey("elsewhere", Elsewhere)


async def _api_answers_are_not_stored(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer under /api/ is one reader's view (names, balances, memos, join requests' notes,
    a member's devices): a browser must not keep it in its disk cache, where the next person on a
    shared device, or anything reading the profile, would find it after sign-out. A route that
    says its own (a listing's picture: `private, no-cache`, revalidated by its ETag) keeps it."""
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


def create_app(
    home: Home, config: NodeConfig, extension: Extension | None = None, bounds: HttpBounds | None = None
) -> web.Application:
    from . import pages, wallet
    from .http import api, auth
    from .http import exports as exports_api
    from .http import invitations as invitations_api
    from .http import join_requests as join_requests_api
    from .http import listings as listings_api
    from .http import notifications as notifications_api
    from .http import personal as personal_api
    from .http import shares as shares_api
    from .http.middleware import errors_as_json
    from .http.readers import who_reads
    from .join_requests import join_requests_lifetime
    from .listings import listings_lifetime
    from .notifications import notifications_lifetime

    app = web.Application(client_max_size=limits.request_bytes_max, middlewares=[errors_as_json, who_reads])
    app[config_key] = config
    app[http_bounds_key] = bounds or HttpBounds.from_config(config)
    registry = CollectorRegistry()
    registry.register(_NodeCollector(app))
    app[registry_key] = registry
    api.add_routes(app)
    shares_api.add_routes(app)
    auth.add_routes(app)
    personal_api.add_routes(app)
    invitations_api.add_routes(app)
    join_requests_api.add_routes(app)
    listings_api.add_routes(app)  # the market (docs/market.md)
    notifications_api.add_routes(app)  # members told what concerns them (docs/notifications.md)
    exports_api.add_routes(app)  # a treasurer's and an accountant's downloads (docs/api.md §16)
    if extension is not None:
        extension.add_routes(app)
    wallet.add_routes(app)
    pages.add_routes(app)  # after the extension's: pages it serves itself are not served twice
    app.router.add_get("/metrics", metrics)
    app.on_response_prepare.append(_api_answers_are_not_stored)

    async def node_lifetime(app: web.Application) -> AsyncIterator[None]:
        with home.lock():
            # Before the store opens (which would start an acknowledged record at the copy's head).
            home.refuse_if_snapshot()
            store = await Store.open(home.database_path)
            keys: DataKeys | None = None
            try:
                feed = await store.own_feed()
                state = await store.load_state(feed) if feed else None
                head = await store.head(feed) if feed else None
                if feed is None or state is None or head is None:
                    raise HomeError(f"{home.path} has no feed; create the home with `tally init`")
                finish_staged_rotation(home, head)
                key = home.node_key()
                if key.public != head.signing_key:
                    raise HomeError(
                        f"{home.node_key_path} is not the feed's current signing key; restore the right key "
                        "file (`tally key import`) or rotate with the recovery key (`tally key rotate`)"
                    )
                # Opened once the home is known good: a start refused above changes no file of it.
                keys = DataKeys(home.keys_path, None if config.key_backup is None else Path(config.key_backup))
                directory = Directory(keys)
                directory.learn_rows(await store.sealed_events(feed))
                sequencer = Sequencer(
                    store, key, state, head, clock_ms,
                    pending_max=config.pending_intents_max, clock_skew_max_ms=config.clock_skew_max_ms,
                    directory=directory,
                )
                node = Node(home, config, store, sequencer, extension)
                app[node_key] = node
                if extension is not None:
                    await extension.start(node)
                # Held here and awaited at cleanup; a task that fails stops the whole node loudly.
                async with node.holding({"sequencer": sequencer.run(), "timer": node.run_timer()}):
                    yield
                if node.failure is not None:
                    raise node.failure
            finally:
                await store.close()
                if keys is not None:
                    keys.close()

    app.cleanup_ctx.append(node_lifetime)
    app.cleanup_ctx.append(auth.sessions_lifetime)  # after the node's: it needs the running node
    app.cleanup_ctx.append(join_requests_lifetime)  # after the node's too: the file is the home's
    app.cleanup_ctx.append(listings_lifetime)  # the market's file, the home's too (docs/market.md)
    app.cleanup_ctx.append(notifications_lifetime)  # the inbox and the mailer (docs/notifications.md)

    async def extension_lifetime(app: web.Application) -> AsyncIterator[None]:
        """Replication and federation run last and stop first: they use the node's files
        (the market's puller writes listings.db), which must not close under them."""
        assert extension is not None
        async with app[node_key].holding({"extension": extension.run()}):
            yield

    if extension is not None:
        app.cleanup_ctx.append(extension_lifetime)
    return app


class _NothingOfTheClientInTheLog(logging.Filter):
    """On aiohttp's server logger (`aiohttp.server`), which logs "Error handling request from
    <address>" with the exception. A request that is not well-formed HTTP is the client's fault,
    answered 400 already: its line goes, since the parser's message echoes the request line or the
    header it choked on (a search's query, a cookie's token) and any stranger could fill the
    journal with them. Any other error is our own (a 500): it keeps its traceback, which the
    operator needs, but not the client's address."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is not None and isinstance(record.exc_info[1], HttpProcessingError):
            return False
        record.msg, record.args = "tally: error handling a request (our fault: report it with this traceback)", ()
        return True


async def serve(
    home: Home, config: NodeConfig, extension: Extension | None = None, bounds: HttpBounds | None = None
) -> None:
    """Run the node until SIGTERM or SIGINT, then stop cleanly. Connections reach aiohttp through a
    `ConnectionGuard` (node/connections.py): bounded per client address and in all, and dropped if
    their request head is slow."""
    app = create_app(home, config, extension, bounds)
    bounds = app[http_bounds_key]
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(each, _NothingOfTheClientInTheLog) for each in server_log.filters):
        server_log.addFilter(_NothingOfTheClientInTheLog())
    runner = web.AppRunner(app, handle_signals=False, access_log=None, keepalive_timeout=bounds.keepalive_timeout_ms / 1000)
    total_max = effective_connections_max(bounds, raise_open_files_limit())
    guard = ConnectionGuard(lambda: runner.server(), bounds, total_max)  # type: ignore[misc]
    app[connection_guard_key] = guard
    await runner.setup()
    loop = asyncio.get_running_loop()
    listener: asyncio.Server | None = None
    try:
        listener = await loop.create_server(
            guard, config.listen_host, config.listen_port, reuse_address=True, backlog=listen_backlog
        )
        node = app[node_key]
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, node.stop_requested.set)
        url = f"http://{config.listen_host}:{config.listen_port}/"
        print(f"tally: serving {id_to_text('n', node.feed)} ({node.sequencer.state.community.name}) on {url}", flush=True)
        if total_max < bounds.connections_max:
            print(f"tally: at most {total_max} open connections (the open-files limit); raise `ulimit -n` for more",
                  flush=True)
        await node.stop_requested.wait()
    finally:
        with contextlib.suppress(NotImplementedError):
            for signal_number in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signal_number)
        if listener is not None:
            listener.close()  # no new connections; the runner's cleanup closes the open ones
        await runner.cleanup()


def load(path: Path) -> tuple[Home, NodeConfig]:
    home = Home(path)
    return home, home.config()
