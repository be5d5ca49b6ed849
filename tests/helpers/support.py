"""The real program, run by tests: `tally` commands, `tally serve` processes, plain HTTP requests.

Shared by tests/integration, tests/pages and tests/replication, which import it as `helpers.support`
(as every test folder imports the other modules of tests/helpers/): pyproject.toml's pytest
`pythonpath` puts tests/ on sys.path, the folder above every test package.

How this works: `tally(...)` runs the command line exactly as a user would, without any TALLY_*
setting of the test process. `ServeProcess` runs `tally serve HOME --listen 127.0.0.1:PORT` (with
`--peer URL...`, or another command that starts a node) as a subprocess, waits until GET /api/status
answers, and stops it with SIGTERM (reporting the exit status) or kills it with SIGKILL; each test
folder's `NodeProcess` adds what only its tests need. `http(...)` makes one request and returns an
`Answer` whatever the status. Nothing of Tallystick is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tallystick.protocol.codec import sign_intent, sign_member_intent  # noqa: F401 - sign_intent: re-exported to tests
from tallystick.protocol.events import Action, AdmitMember, SetLimits, Transfer
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text
from tallystick.protocol.requests import sign_request

# How long a node may take to answer /api/status after `tally serve` starts, and to exit after SIGTERM.
node_start_timeout_seconds = 20.0
node_stop_timeout_seconds = 15.0
# Any one command-line invocation; Argon2id at "moderate" is the slowest thing one does.
command_timeout_seconds = 60.0
# Any one HTTP request, unless the caller gives its own limit.
http_timeout_seconds = 30.0


# ---- the command line -----------------------------------------------------------------------------


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
    assert done.returncode == 0, f"`tally {' '.join(map(str, args))}` exited {done.returncode}:\n{done.stderr}"
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


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    content_type: str | None = None,
    *,
    timeout_seconds: float = http_timeout_seconds,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request; an error status is an Answer too, never an exception. Header names are lower case."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if content_type is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            return Answer(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def signed_get(url: str, key: KeyPair, *, timeout_seconds: float = http_timeout_seconds) -> Answer:
    """GET `url` (a node's URL and path) signed by `key`, for the node whose feed /api/community
    names: the reader is whoever holds that key (protocol.md §18)."""
    parts = urllib.parse.urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    feed = id_from_text("n", http("GET", base + "/api/community", timeout_seconds=timeout_seconds).json()["node"])
    authorization = sign_request(key, node=feed, method="GET", target=target, ts_ms=time.time_ns() // 1_000_000, body=b"")
    return http("GET", url, timeout_seconds=timeout_seconds, headers={"Authorization": authorization})


# ---- keys and nonces ------------------------------------------------------------------------------

_last_nonce = 0


def next_nonce() -> int:
    """Nonces that only grow and keep up with the clock, so every member's are unique and inside
    the node's window even where the same member also signs elsewhere with clock-time nonces (a
    browser device, `tally`): a counter from the process's start falls behind those."""
    global _last_nonce
    _last_nonce = max(_last_nonce + 1, time.time_ns())
    return _last_nonce


def key_from_file(path: Path) -> KeyPair:
    return KeyPair.from_text(Path(path).read_text())


# ---- a running node -------------------------------------------------------------------------------


@dataclass
class ServeProcess:
    """`tally serve` on `home`, listening on 127.0.0.1:`port` with `--peer` for each of `peers`; or,
    if `command` is given, that command (e.g. docker/entrypoint.sh) with its own `environment`.
    Its output goes to `log_path`, by default a file beside the home named by the port."""

    home: Path
    port: int
    peers: list[str] = field(default_factory=list)
    log_path: Path | None = None
    command: list[str] | None = None
    environment: dict[str, str] | None = None
    start_timeout_seconds: float = node_start_timeout_seconds
    http_timeout_seconds: float = http_timeout_seconds
    process: subprocess.Popen[bytes] | None = None
    feed: bytes = b""
    _log_handle: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.log_path is None:
            self.log_path = self.home.parent / f"{self.home.name}-{self.port}.serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_key(self) -> KeyPair:
        return key_from_file(self.home / "admin.key")

    @property
    def feed_text(self) -> str:
        return id_to_text("n", self.feed)

    def launch(self) -> ServeProcess:
        """Start the node without waiting for it to answer."""
        assert not self.running, "the node is already running"
        self._log_handle = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop/kill
        command = self.command or [tally_executable(), "serve", str(self.home), "--listen", f"127.0.0.1:{self.port}"]
        for peer in [] if self.command else self.peers:
            command += ["--peer", peer]
        self.process = subprocess.Popen(
            command, stdout=self._log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.environment or clean_environment(),
        )
        return self

    def start(self) -> ServeProcess:
        self.launch()
        self.wait_for_status()
        return self

    def wait_for_status(self) -> None:
        """Wait until the node answers GET /api/status; fail if it exits first."""
        if not self.answered():
            assert self.process is not None
            raise RuntimeError(f"`tally serve` exited with {self.process.returncode} at start:\n{self.output()}")

    def answered(self) -> bool:
        """True once our process answers GET /api/status (`feed` is then the feed it serves); False if
        it exited first. A node that does neither within `start_timeout_seconds` is killed and fails."""
        deadline = time.monotonic() + self.start_timeout_seconds
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=1) as response:
                    if response.status == 200 and self.process.poll() is None:
                        self.feed = id_from_text("n", json.loads(response.read())["node"])
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(
            f"`tally serve` did not answer /api/status in {self.start_timeout_seconds} s:\n{self.output()}"
        )

    def output(self) -> str:
        assert self.log_path is not None
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
                self._close_log()
                raise AssertionError(f"{self.home} did not stop within {node_stop_timeout_seconds} s of SIGTERM") from None
        self._close_log()
        return self.process.returncode

    def kill(self) -> int:
        """SIGKILL, wait, and return the exit status (-9)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=node_stop_timeout_seconds)
        self._close_log()
        return self.process.returncode

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    # -- the JSON API ---------------------------------------------------------------------------

    def http(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> Answer:
        return http(method, self.url + path, body, content_type, timeout_seconds=self.http_timeout_seconds)

    def signed(
        self, key: KeyPair, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> Answer:
        """A request signed by `key` (protocol/requests.py): the reader is whoever holds that key."""
        authorization = sign_request(
            key, node=self.feed, method=method, target=path, ts_ms=time.time_ns() // 1_000_000, body=body or b""
        )
        return http(
            method, self.url + path, body, content_type, timeout_seconds=self.http_timeout_seconds,
            headers={"Authorization": authorization},
        )

    def get(self, path: str) -> Any:
        """GET `path` as the operator reads it: signed with the home's admin key when it has one
        (an admin sees everything the visibility policy hides from others), else unsigned."""
        admin_file = self.home / "admin.key"
        answer = self.signed(self.admin_key, "GET", path) if self.feed and admin_file.exists() else self.http("GET", path)
        assert answer.status == 200, f"GET {path}: {answer.status} {answer.body[:300]!r}"
        return answer.json()

    def operator_environment(self, **extra: str) -> dict[str, str]:
        """The environment of a `tally` command run by this node's operator: TALLY_KEY is the
        home's admin key, so reads are signed and see what the admins see (a `--key` given on
        the command line still signs instead)."""
        return clean_environment(TALLY_KEY=str(self.home / "admin.key"), **extra)

    def get_as(self, key: KeyPair | None, path: str) -> Answer:
        """GET `path` as the holder of `key` reads it (None: a stranger, unsigned)."""
        return self.http("GET", path) if key is None else self.signed(key, "GET", path)

    def post_intent(self, intent: bytes) -> Answer:
        return self.http("POST", "/api/intents", intent, "application/msgpack")

    def act(self, key: KeyPair, action: Action) -> dict[str, Any]:
        """Sign and submit an action that must be accepted; returns {"seq", "hash"}."""
        answer = self.post_intent(sign_member_intent(key, feed=self.feed, nonce=next_nonce(), action=action))
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
