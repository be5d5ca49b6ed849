"""Helpers for replication tests: real `tally serve` processes, a TCP proxy that can cut a link, and
a lying peer that speaks the /replication/ protocol.

How this works: the machinery that runs the program is tests/helpers/support.py (`tally(...)`, a node
process that runs `tally serve HOME --listen 127.0.0.1:PORT --peer URL...`, waits until GET
/api/status answers, stops with SIGTERM - reporting the exit status - or dies with SIGKILL). Here,
`NodeProcess` adds what these tests ask a node (its feeds, its peers, a push as another node would
send it), and `Nodes` makes homes - with `tally init`, several at once (`init_homes`), or with the
same code in this process - and stops every node it made. Members act through signed intents
posted to /api/intents (the protocol's own signer, as the CLI does). Waiting is always
`wait_until(predicate, deadline)`: a poll, never a fixed sleep.

Pushes and fork proofs must be signed by a node the receiver holds (docs/federation.md, "Signed
requests"): `Signer` is a node's feed and current key (`signer_of(node)` reads a home's node.key),
and `NodeProcess.push(message, signer)` / `post_signed` sign as the replicator does; an unsigned
push is how a stranger knocks.

`BackgroundLoop` runs an asyncio loop in a thread of the test process; on it run `TcpProxy` (an
asyncio forwarder to a node's port that can refuse and drop connections, then come back on the
same port) and `LyingPeer` (an aiohttp server that answers /replication/ with whatever feeds a test
offers it, valid or not, and names its own feed, `identity`, at /replication/node). `FeedBuilder` builds a real feed of the protocol - a genesis and signed
events carrying real member intents - with helpers to spoil one event in one precise way.
Nothing of Tallystick is mocked: the honest nodes are the real program, and the liar's bytes are
made with protocol.codec's signer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from tallystick.node import home as home_module
from tallystick.protocol.codec import encode, event_namespace, sign_event, sign_intent
from tallystick.protocol.events import (
    Act,
    Action,
    AdmitMember,
    Body,
    EventUnsigned,
    Genesis,
)
from tallystick.protocol.ids import KeyPair, hash32, id_from_text, id_to_text
from tallystick.protocol.wire import (
    Events,
    Forks,
    Heads,
    NodeIdentity,
    WireHead,
    events_decoder,
    request_nonce_bytes,
    request_signature_header,
    sign_request,
)

from helpers import support
from helpers.support import (
    Answer,
    ServeProcess,
    clean_environment,
    command_timeout_seconds,
    free_port,
    next_nonce,
    tally_executable,
)

# Any one HTTP request in these tests (less than support's default).
http_timeout_seconds = 15.0
# How long replication may take to bring nodes into agreement in these tests.
agreement_timeout_seconds = 20.0
poll_interval_seconds = 0.1

T = TypeVar("T")


# ---- the command line -----------------------------------------------------------------------------


def tally_json_many(*commands: list[str | Path]) -> list[Any]:
    """Several `tally ... --json` commands at once (each must succeed); their JSON documents in order."""
    processes = [
        subprocess.Popen(
            [tally_executable(), *map(str, command)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=clean_environment(), stdin=subprocess.DEVNULL,
        )
        for command in commands
    ]
    documents = []
    for command, process in zip(commands, processes, strict=True):
        stdout, stderr = process.communicate(timeout=command_timeout_seconds)
        assert process.returncode == 0, f"`tally {' '.join(map(str, command))}` exited {process.returncode}:\n{stderr}"
        documents.append(json.loads(stdout))
    return documents


def init_homes(homes: list[Path], *, debit_limit: str = "100", credit_ceiling: str = "1000") -> list[dict[str, str]]:
    """`tally init HOME --json` for every home at once (each is a separate process)."""
    for home in homes:
        home.parent.mkdir(parents=True, exist_ok=True)
    return tally_json_many(
        *(
            [
                "init", home, "--name", f"Community {index} {home.parent.name}"[:60], "--unit", "HRS",
                "--decimals", "2", "--debit-limit", debit_limit, "--credit-ceiling", credit_ceiling, "--json",
            ]
            for index, home in enumerate(homes)
        )
    )


def init_home_in_process(home: Path, *, debit_limit_minor: int = 100_00, credit_ceiling_minor: int = 1000_00) -> None:
    asyncio.run(
        home_module.init_home(
            home, name=f"Community {home.parent.name}", unit_code="HRS", unit_decimals=2,
            debit_limit_minor=debit_limit_minor, credit_ceiling_minor=credit_ceiling_minor,
            now_ms=time.time_ns() // 1_000_000,
        )
    )


# ---- waiting --------------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], T],
    what: str,
    *,
    timeout_seconds: float = agreement_timeout_seconds,
    describe: Callable[[], object] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy (returned), or fail after the deadline
    saying `what` did not happen and, if given, what `describe()` shows then."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            seen = f"; last seen: {describe()}" if describe is not None else ""
            raise AssertionError(f"{what} did not happen within {timeout_seconds} s{seen}")
        time.sleep(poll_interval_seconds)


def stays_false(predicate: Callable[[], object], seconds: float) -> bool:
    """True if `predicate` stays falsy for `seconds` (a bounded watch for something that must not
    happen, e.g. an event crossing a cut link)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return False
        time.sleep(poll_interval_seconds)
    return not predicate()


# ---- HTTP -----------------------------------------------------------------------------------------


def http(method: str, url: str, body: bytes | None = None, content_type: str | None = None) -> Answer:
    """One HTTP request with these tests' limit; an error status is an Answer too, never an exception."""
    return support.http(method, url, body, content_type, timeout_seconds=http_timeout_seconds)


def refusal_of(answer: Answer) -> tuple[int, str]:
    """(HTTP status, the JSON body's stable `error` code); an acceptance shows as its body's start."""
    try:
        return answer.status, answer.json()["error"]
    except (ValueError, KeyError, TypeError):
        return answer.status, f"accepted, answered {answer.body[:60]!r}"


def http_with_headers(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Answer:
    """One HTTP request with extra headers (a Tally-Signature); an error status is an Answer too."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=http_timeout_seconds) as response:
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


# ---- signed requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """Who signs a request between nodes: a node's own feed and its current signing key."""

    feed: bytes
    key: KeyPair


def signer_of(node: ServeProcess) -> Signer:
    """The node's own identity, from its home's node.key (the key in force since its last rotation)."""
    assert node.feed, "the node has not answered /api/status yet: its feed is not known"
    return Signer(node.feed, support.key_from_file(node.home / "node.key"))


def home_feed_text(home: Path) -> str:
    """The own feed of a home made but not started yet (its database's meta, as `tally restore` reads it)."""
    connection = sqlite3.connect(home / "tally.db")
    try:
        (feed,) = connection.execute("SELECT value FROM meta WHERE key = 'own_feed'").fetchone()
    finally:
        connection.close()
    return id_to_text("n", bytes(feed))


def signer_of_feed(feed: FeedBuilder) -> Signer:
    return Signer(feed.feed, feed.node_key)


def signed_headers(signer: Signer, path: str, body: bytes, *, ts: int | None = None, nonce: bytes | None = None) -> dict[str, str]:
    """Content-Type and a Tally-Signature for a POST of `body` to `path`, as a node signs it."""
    value = sign_request(
        signer.key, feed=signer.feed, method="POST", path=path, body=body,
        ts=time.time_ns() // 1_000_000 if ts is None else ts,
        nonce=os.urandom(request_nonce_bytes) if nonce is None else nonce,
    )
    return {"Content-Type": "application/msgpack", request_signature_header: value}


# ---- a running node -------------------------------------------------------------------------------


@dataclass
class NodeProcess(ServeProcess):
    # GET, POST and push with these tests' shorter limit, as `http` below.
    http_timeout_seconds: float = http_timeout_seconds

    def status(self) -> dict[str, Any]:
        return self.get("/api/status")

    def feeds(self) -> dict[str, dict[str, Any]]:
        """What `status --json` shows under "feeds": feed id -> {"seq", "head"}."""
        return self.status()["feeds"]

    def push(self, message: Events | bytes, signer: Signer | None = None) -> Answer:
        """POST /replication/push, as another node would: signed by `signer`, or unsigned (a stranger)."""
        body = message if isinstance(message, bytes) else encode(message)
        if signer is None:
            return self.http("POST", "/replication/push", body, "application/msgpack")
        return self.post_signed("/replication/push", body, signed_headers(signer, "/replication/push", body))

    def post_signed(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST with the given headers (made by `signed_headers`; a test may send the same twice)."""
        return http_with_headers("POST", self.url + path, body, headers)

    def post_forks(self, proofs: list[bytes], signer: Signer | None = None) -> Answer:
        """POST /replication/forks, signed by `signer` or unsigned."""
        body = encode(Forks(proofs))
        if signer is None:
            return self.http("POST", "/replication/forks", body, "application/msgpack")
        return self.post_signed("/replication/forks", body, signed_headers(signer, "/replication/forks", body))

    def read(self, path: str, signer: Signer | None = None) -> Answer:
        """GET a /replication/ route as a node with standing here reads it: signed (protocol.md §18)
        by `signer`'s key, this node's own node key unless told (the operator's, whose feed it holds)."""
        return self.signed((signer or signer_of(self)).key, "GET", path)

    def alerts(self) -> list[dict[str, Any]]:
        return self.status()["alerts"]

    def event_hash_at(self, feed: bytes, seq: int) -> str | None:
        """The hash (text form) of `feed`'s event at `seq` as this node serves it, or None."""
        answer = self.read(f"/replication/feeds/{id_to_text('n', feed)}?from={seq}&limit=1")
        assert answer.status == 200, answer.body[:300]
        message = events_decoder.decode(answer.body)
        return id_to_text("h", hash32(message.events[0])) if message.events else None

    def peer(self, url: str) -> dict[str, Any]:
        return next(peer for peer in self.status()["peers"] if peer["url"] == url.rstrip("/"))


class Nodes:
    """Every node a test or a module starts; `stop_all` stops each still running with SIGTERM and
    reports any that did not exit 0."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[NodeProcess] = []

    def create(self, count: int, *, via_cli: bool = False) -> list[NodeProcess]:
        """`count` new homes (not started): made by `tally init` processes when `via_cli`, else by
        the same `init_home` the command calls, in this process (each `tally` process costs about a
        second of CPU in imports, and the test budget is small)."""
        base = len(self.started)
        homes = [self.directory / f"node{base + index}" / "home" for index in range(count)]
        if via_cli:
            init_homes(homes)
        else:
            for home in homes:
                init_home_in_process(home)
        made = [NodeProcess(home=home, port=free_port()) for home in homes]
        self.started += made
        return made

    def adopt(self, node: NodeProcess) -> NodeProcess:
        """Track a node made by hand (e.g. on a copied home), so it is stopped at the end."""
        self.started.append(node)
        return node

    def stop_all(self) -> list[str]:
        failures = []
        for node in self.started:
            if node.running:
                try:
                    status = node.stop()
                except AssertionError as error:
                    failures.append(str(error))
                    continue
                if status != 0:
                    failures.append(f"{node.home}: exit status {status} after SIGTERM\n{node.output()[-3000:]}")
        return failures


def start_all(nodes: list[NodeProcess]) -> None:
    """Launch every node, then wait for each to answer (they start in parallel)."""
    for node in nodes:
        node.launch()
    for node in nodes:
        node.wait_for_status()


def log_rows(home: Path, feed: bytes) -> list[tuple[int, bytes, int, str, bytes]]:
    """The log table's rows of `feed` in a home's SQLite file: (seq, hash, ts, kind, bytes)."""
    database = sqlite3.connect(f"file:{home / 'tally.db'}?mode=ro", uri=True)
    try:
        return [
            (seq, bytes(hash_), ts, kind, bytes(raw))
            for seq, hash_, ts, kind, raw in database.execute(
                "SELECT seq, hash, ts, kind, bytes FROM log WHERE feed = ? ORDER BY seq", (feed,)
            )
        ]
    finally:
        database.close()


# ---- an asyncio loop in a thread of the test process ----------------------------------------------


class BackgroundLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test background loop", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_seconds: float = 30) -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout_seconds)

    def close(self) -> None:
        async def cancel_rest() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class TcpProxy:
    """Forwards 127.0.0.1:port to a node's port. `cut()` drops every open connection and stops
    listening (new connections are refused); `restore()` listens again on the same port."""

    def __init__(self, background: BackgroundLoop, target_port: int) -> None:
        self.background = background
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections_total = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self.background.run(self._listen())
        return self

    def cut(self) -> None:
        self.background.run(self._cut())

    def restore(self) -> None:
        self.background.run(self._listen())

    def close(self) -> None:
        self.background.run(self._cut())

    async def _listen(self) -> None:
        assert self._server is None, "the proxy is already listening"
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections_total += 1
        try:
            node_reader, node_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._open.update((client_writer, node_writer))
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await asyncio.gather(self._pipe(client_reader, node_writer), self._pipe(node_reader, client_writer))
        finally:
            self._tasks.discard(task)
            self._open.discard(client_writer)
            self._open.discard(node_writer)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(64 * 1024):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


# ---- a real feed, built by hand -------------------------------------------------------------------


def sign_unsigned_event(key: KeyPair, unsigned: bytes) -> bytes:
    """Sign hand-made bytes of an unsigned event (a 6-element msgpack array) exactly as the protocol
    signs: namespace || unsigned bytes; the signed form is the same array with the signature added."""
    assert unsigned[0] == 0x96, "an unsigned event is a fixarray of 6"
    return b"\x97" + unsigned[1:] + b"\xc4\x40" + key.sign(event_namespace + unsigned)


class FeedBuilder:
    """A community's feed made outside any node: a genesis signed by its own node key, and events
    carrying intents signed by members it admitted. `events` holds the valid signed bytes, seq 1 first."""

    def __init__(self, name: str, *, debit_limit_minor: int = 0, credit_ceiling_minor: int = 10**9) -> None:
        self.node_key, recovery, self.admin_key = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
        self.ts = time.time_ns() // 1_000_000
        genesis = Genesis(
            name=name, unit_code="HRS", unit_decimals=2, debit_limit_minor=debit_limit_minor,
            credit_ceiling_minor=credit_ceiling_minor, signing_key=self.node_key.public,
            recovery_key_hash=hash32(recovery.public), admin_key=self.admin_key.public, admin_name="admin",
            checkpoint_interval_events=1000,
        )
        self.events = [sign_event(self.node_key, feed=None, seq=1, prev=None, ts=self.ts, body=genesis)]
        self.feed = hash32(self.events[0])

    @property
    def feed_text(self) -> str:
        return id_to_text("n", self.feed)

    def act_body(self, signer: KeyPair, action: Action) -> Act:
        return Act(intent=sign_intent(signer, feed=self.feed, nonce=next_nonce(), action=action))

    def act_body_with_bad_member_signature(self, signer: KeyPair, action: Action) -> Act:
        """An Act whose intent has one bit of its member signature flipped."""
        return Act(intent=with_bad_signature(self.act_body(signer, action).intent))

    def next_event(self, body: Body, *, prev: bytes | None = None, after: list[bytes] | None = None) -> bytes:
        """A validly signed event following `after` (default: the feed so far), not appended."""
        chain = self.events if after is None else after
        self.ts += 1
        return sign_event(
            self.node_key, feed=self.feed, seq=len(chain) + 1, prev=prev or hash32(chain[-1]), ts=self.ts, body=body
        )

    def append(self, body: Body) -> bytes:
        raw = self.next_event(body)
        self.events.append(raw)
        return raw

    def admit(self, name: str) -> KeyPair:
        member = KeyPair.generate()
        self.append(self.act_body(self.admin_key, AdmitMember(member=member.public, name=name)))
        return member

    def non_canonical_next_event(self, body: Body) -> bytes:
        """The next event with its seq written as a msgpack uint8 (0xcc NN) instead of a positive
        fixint: the same values, other bytes, signed over those bytes by the feed's key."""
        seq = len(self.events) + 1
        assert seq < 128
        self.ts += 1
        unsigned = encode(
            EventUnsigned(v=1, feed=self.feed, seq=seq, prev=hash32(self.events[-1]), ts=self.ts, body=body)
        )
        prefix = bytes((0x96, 0x01, 0xC4, 0x20)) + self.feed
        assert unsigned.startswith(prefix) and unsigned[len(prefix)] == seq
        stretched = prefix + bytes((0xCC, seq)) + unsigned[len(prefix) + 1 :]
        return sign_unsigned_event(self.node_key, stretched)


def with_bad_signature(signed: bytes) -> bytes:
    """The same event (or intent) with one bit of its signature - the last 64 bytes - flipped:
    still canonical, no longer signed."""
    return signed[:-1] + bytes((signed[-1] ^ 0x01,))


# ---- a peer that lies -----------------------------------------------------------------------------


@dataclass
class Offer:
    """What the lying peer serves for one feed: `events` from seq 1 (the heads it announces are
    seq len(events) and the hash of the last), or a fixed raw `body` for every range request;
    `ignore_limit` serves all events in one answer whatever `limit` asks."""

    events: list[bytes]
    body: bytes | None = None
    ignore_limit: bool = False


class LyingPeer:
    """An aiohttp server in the test process speaking /replication/ in msgpack (protocol/wire.py).
    It serves whatever `offers` holds - feed -> Offer - and accepts every push. It has a node
    identity of its own, `identity` (a real genesis, served among its feeds and named at
    /replication/node), so a node that lists it as a peer holds its feed and takes its signed pushes."""

    def __init__(self, background: BackgroundLoop) -> None:
        self.background = background
        self.port = free_port()
        self.identity = FeedBuilder("Lying peer")
        self.offers: dict[bytes, Offer] = {self.identity.feed: Offer(list(self.identity.events))}
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def offer(self, offers: dict[bytes, Offer]) -> None:
        # One assignment: the server thread sees the old or the new. Its own feed is always offered.
        self.offers = {self.identity.feed: Offer(list(self.identity.events)), **offers}

    @property
    def signer(self) -> Signer:
        return signer_of_feed(self.identity)

    def start(self) -> LyingPeer:
        self.background.run(self._start())
        return self

    def close(self) -> None:
        if self._runner is not None:
            self.background.run(self._runner.cleanup())

    async def _start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/replication/heads", self._heads)
        app.router.add_get("/replication/node", self._node)
        app.router.add_get("/replication/feeds/{feed}", self._range)
        app.router.add_post("/replication/push", self._push)
        app.router.add_get("/replication/forks", self._forks)
        app.router.add_post("/replication/forks", self._forks)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    @staticmethod
    def _msgpack(value: object) -> web.Response:
        return web.Response(body=encode(value), content_type="application/msgpack")

    async def _heads(self, request: web.Request) -> web.Response:
        """Pages by feed id as a node serves them (`after`, `limit`)."""
        self.requests.append(str(request.rel_url))
        after = id_from_text("n", request.query["after"]) if "after" in request.query else b""
        limit = int(request.query.get("limit", "10000"))
        heads = sorted(
            (
                WireHead(feed, len(offer.events), hash32(offer.events[-1]))
                for feed, offer in self.offers.items()
                if offer.events and feed > after
            ),
            key=lambda head: head.feed,
        )
        return self._msgpack(Heads(heads[:limit], 0))

    async def _node(self, request: web.Request) -> web.Response:
        return self._msgpack(NodeIdentity(self.identity.feed))

    async def _range(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        feed = id_from_text("n", request.match_info["feed"])
        start = int(request.query.get("from", "1"))
        limit = int(request.query.get("limit", "256"))
        offer = self.offers.get(feed)
        if offer is None:
            return self._msgpack(Events(feed, start, []))
        if offer.body is not None:
            return web.Response(body=offer.body, content_type="application/msgpack")
        end = None if offer.ignore_limit else start - 1 + limit
        return self._msgpack(Events(feed, start, offer.events[start - 1 : end]))

    async def _push(self, request: web.Request) -> web.Response:
        message = events_decoder.decode(await request.read())
        if not message.events:
            return self._msgpack(Heads([], 0))
        last = message.start + len(message.events) - 1
        return self._msgpack(Heads([WireHead(message.feed, last, hash32(message.events[-1]))], 0))

    async def _forks(self, request: web.Request) -> web.Response:
        return self._msgpack(Forks([]))
