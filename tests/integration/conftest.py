"""Integration tests: real `tally serve` processes on loopback, a real SQLite file, real signatures.

How this works: `NodeProcess` runs `tally serve DIR` as a subprocess on a free port, waits until
GET /api/status answers, and stops it with SIGTERM (checking that it exits 0) or kills it with
SIGKILL. `tally(...)` runs the command line exactly as a user would. The helpers below build
signed intents with the protocol's own signer, and, for hostile inputs the types forbid (an amount
of zero, a stale version, a non-canonical integer), sign hand-made msgpack the same way, so the
node sees a correctly signed intent and has to refuse it for the right reason. Nothing of ours is
mocked: what these tests observe is what a member, an operator or a script would observe.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tallystick.protocol.codec import intent_namespace, sign_intent
from tallystick.protocol.events import Action, AdmitMember, RemoveMember, SetLimits, Transfer
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

# How long a node may take to answer /api/status after `tally serve` starts, and to exit after SIGTERM.
node_start_timeout_seconds = 20.0
node_stop_timeout_seconds = 15.0
# A free port can be taken by another program between our probe and `tally serve` binding it.
start_attempts = 3
# Any one command-line invocation; Argon2id at "moderate" is the slowest thing one does.
command_timeout_seconds = 60.0
http_timeout_seconds = 30.0


def tally_executable() -> str:
    beside_python = Path(sys.executable).parent / "tally"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("tally")
    if found is None:
        raise RuntimeError("the `tally` command is not installed beside this Python; run `make test`")
    return found


def clean_environment(**extra: str) -> dict[str, str]:
    """The test process's environment without any TALLY_* setting that could leak into a command."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("TALLY_")}
    environment.update(extra)
    return environment


def tally(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `tally ARGS...` as a user would; never raises on a non-zero exit."""
    return subprocess.run(
        [tally_executable(), *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=command_timeout_seconds,
        env=env or clean_environment(),
        stdin=subprocess.DEVNULL,
    )


def tally_json(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    """Run a command that must succeed and print one JSON document on stdout."""
    done = tally(*args, env=env)
    assert done.returncode == 0, f"`tally {' '.join(map(str, args))}` failed:\n{done.stderr}"
    return json.loads(done.stdout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- HTTP -----------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: bytes | None = None, content_type: str | None = None) -> Answer:
    """One HTTP request; an error status is an Answer too, never an exception."""
    request = urllib.request.Request(url, data=body, method=method)
    if content_type is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=http_timeout_seconds) as response:
            return Answer(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


# ---- intents --------------------------------------------------------------------------------------

_nonces = itertools.count(time.time_ns())


def next_nonce() -> int:
    """Nonces that only grow, so every member's are unique and inside the node's window."""
    return next(_nonces)


def sign_unsigned_intent(key: KeyPair, unsigned: bytes) -> bytes:
    """Sign hand-made bytes of an unsigned intent (a 5-element msgpack array) the way the protocol
    signs: namespace || unsigned bytes; the signed form is the same array with the signature added."""
    assert unsigned[0] == 0x95, "an unsigned intent is a fixarray of 5"
    signature = key.sign(intent_namespace + unsigned)
    return b"\x96" + unsigned[1:] + b"\xc4\x40" + signature


def sign_raw_intent(key: KeyPair, fields: list[Any]) -> bytes:
    """Sign any list of fields [v, feed, key, nonce, action] encoded as msgpack, even one the
    protocol's types forbid (an amount of zero, a stale version, an unknown action kind)."""
    return sign_unsigned_intent(key, msgspec.msgpack.encode(fields))


def key_from_file(path: Path) -> KeyPair:
    return KeyPair.from_text(Path(path).read_text())


def member_id(key: KeyPair) -> str:
    return id_to_text("m", key.public)


# ---- a running node -------------------------------------------------------------------------------


@dataclass
class NodeProcess:
    home: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    feed: bytes = b""
    # What `tally init --json` printed when this home was created.
    created: dict[str, str] = field(default_factory=dict)
    _log_handle: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_key(self) -> KeyPair:
        return key_from_file(self.home / "admin.key")

    def start(self) -> NodeProcess:
        """`tally serve` on this home; if another program took the port meanwhile, on a new free one."""
        assert self.process is None or self.process.poll() is not None, "the node is already running"
        for _ in range(start_attempts):
            log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._log_handle = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop/kill
            self.process = subprocess.Popen(
                [tally_executable(), "serve", str(self.home), "--listen", f"127.0.0.1:{self.port}"],
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=clean_environment(),
            )
            if self.wait_for_status():
                break
            self._close_log()
            if "cannot listen" not in self.output()[log_offset:]:
                raise RuntimeError(f"`tally serve` exited with {self.process.returncode}:\n{self.output()}")
            self.port = free_port()
        else:
            raise RuntimeError(f"`tally serve` found no free port in {start_attempts} attempts")
        status = self.get("/api/status")
        if self.created:
            assert status["node"] == self.created["node"], "another node answers on this port"
        self.feed = id_from_text("n", status["node"])
        return self

    def wait_for_status(self) -> bool:
        """True once our process answers GET /api/status; False if it exited first."""
        deadline = time.monotonic() + node_start_timeout_seconds
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=1) as response:
                    if response.status == 200 and self.process.poll() is None:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.process.kill()
        self.process.wait()
        raise RuntimeError(
            f"`tally serve` did not answer /api/status in {node_start_timeout_seconds} s:\n{self.output()}"
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit status (a clean stop is 0)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=node_stop_timeout_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"the node did not stop within {node_stop_timeout_seconds} s of SIGTERM")
        self._close_log()
        return self.process.returncode

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=node_stop_timeout_seconds)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    # -- the JSON API ---------------------------------------------------------------------------

    def get(self, path: str) -> Any:
        answer = http("GET", self.url + path)
        assert answer.status == 200, f"GET {path}: {answer.status} {answer.body[:300]!r}"
        return answer.json()

    def post_intent(self, intent: bytes) -> Answer:
        return http("POST", self.url + "/api/intents", intent, "application/msgpack")

    def act(self, key: KeyPair, action: Action) -> dict[str, Any]:
        """Sign and submit an action that must be accepted; returns {"seq", "hash"}."""
        answer = self.post_intent(sign_intent(key, feed=self.feed, nonce=next_nonce(), action=action))
        assert answer.status == 201, f"{type(action).__name__} refused: {answer.status} {answer.body[:300]!r}"
        return answer.json()

    def admit(
        self, name: str, *, debit_limit_minor: int | None = None, credit_ceiling_minor: int | None = None
    ) -> KeyPair:
        """Admit a new member with a fresh key (signed by the admin); optionally set its limits."""
        key = KeyPair.generate()
        admin = self.admin_key
        self.act(admin, AdmitMember(member=key.public, name=name))
        if debit_limit_minor is not None or credit_ceiling_minor is not None:
            self.act(admin, SetLimits(key.public, debit_limit_minor, credit_ceiling_minor))
        return key

    def pay(self, payer: KeyPair, payee: KeyPair, amount_minor: int, memo: str = "") -> dict[str, Any]:
        return self.act(payer, Transfer(to=payee.public, amount_minor=amount_minor, memo=memo))

    def remove(self, key: KeyPair) -> dict[str, Any]:
        return self.act(self.admin_key, RemoveMember(member=key.public))

    def snapshot(self) -> dict[str, Any]:
        """Everything a refusal must leave unchanged: the feed's seq and head, balances, members."""
        status = self.get("/api/status")
        return {
            "seq": status["seq"],
            "head": status["head"],
            "feeds": status["feeds"],
            "balances": self.get("/api/balances"),
            "members": self.get("/api/members"),
        }

    def log(self) -> list[dict[str, Any]]:
        """Every event of the feed, decoded, following the API's pages."""
        events: list[dict[str, Any]] = []
        next_seq: int | None = 1
        while next_seq is not None:
            page = self.get(f"/api/log?from={next_seq}&limit=1000")
            events.extend(page["events"])
            next_seq = page["next"]
        return events


def init_home(
    directory: Path,
    *,
    decimals: int = 2,
    debit_limit: str = "100",
    credit_ceiling: str = "200",
    config: dict[str, Any] | None = None,
) -> dict[str, str]:
    """`tally init DIR --json` with a free port; `config` entries are written into DIR/config.json
    before the node first starts (as an operator would edit it)."""
    created = tally_json(
        "init",
        directory,
        "--name",
        "Integration",
        "--unit",
        "HRS",
        "--decimals",
        str(decimals),
        "--debit-limit",
        debit_limit,
        "--credit-ceiling",
        credit_ceiling,
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--json",
    )
    # A checkpoint appended by the idle timer would move the head under a test that compares
    # snapshots; tests that want checkpoints ask for them.
    settings = {"checkpoint_idle_ms": 10**9, **(config or {})}
    config_path = directory / "config.json"
    document = json.loads(config_path.read_text())
    document.update(settings)
    config_path.write_text(json.dumps(document, indent=2) + "\n")
    return created


@pytest.fixture(scope="module")
def make_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A factory: `make_node(**init_options)` creates a home and starts `tally serve` on it. Every
    node still running at the end of the module is stopped with SIGTERM and must exit 0."""
    started: list[NodeProcess] = []

    def make(**options: Any) -> NodeProcess:
        directory = tmp_path_factory.mktemp("node")
        home = directory / "home"
        created = init_home(home, **options)
        port = json.loads((home / "config.json").read_text())["listen_port"]
        node = NodeProcess(home=home, port=port, log_path=directory / "serve.log", created=created)
        started.append(node)
        return node.start()

    yield make
    failures = []
    for node in started:
        if node.running:
            status = node.stop()
            if status != 0:
                failures.append(f"{node.home}: exit status {status}\n{node.output()}")
    assert not failures, "a node did not stop cleanly on SIGTERM:\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def node(make_node: Any) -> NodeProcess:
    """One running node shared by the tests of a module that do not interfere with each other."""
    return make_node()
