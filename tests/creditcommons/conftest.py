"""The Credit Commons tests' other side: tests/creditcommons_peer/ run as its own process.

How this works: `PeerProcess` starts `python -m creditcommons_peer` on a free loopback port with its
SQLite file in the test's folder, waits until it answers, and stops it with SIGTERM (or kills it with
SIGKILL, to show that nothing is lost when the other side goes down); `start` again on the same file
brings the same ledger and chain back. Nothing is mocked: both sides are real processes over HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers.support import free_port

tests_folder = Path(__file__).resolve().parent.parent
peer_start_timeout_seconds = 10.0
peer_stop_timeout_seconds = 10.0


@dataclass
class PeerProcess:
    folder: Path
    leaf_url: str
    accounts: tuple[str, ...] = ("bob:-1000:1000", "carol:-1000:300")
    leaf_limits: str = "-5000:5000"
    node_path: str = "trunk"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PeerProcess:
        command = [sys.executable, "-m", "creditcommons_peer", "--port", str(self.port),
                   "--db", str(self.folder / "peer.db"), "--node-path", self.node_path,
                   "--leaf", f"riverside={self.leaf_url}", f"--leaf-limits={self.leaf_limits}"]
        command += [f"--account={account}" for account in self.accounts]
        environment = {**os.environ, "PYTHONPATH": str(tests_folder)}
        log = open(self.folder / f"peer-{self.port}.log", "ab")  # noqa: SIM115 - the child holds it
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=environment, cwd=tests_folder)
        log.close()
        deadline = time.monotonic() + peer_start_timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the peer exited with {self.process.returncode} at start")
            try:
                with urllib.request.urlopen(self.url + "/admin/chain", timeout=1):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the peer did not answer within {peer_start_timeout_seconds} s")

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=peer_stop_timeout_seconds)
        return self.process.returncode

    def kill(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=peer_stop_timeout_seconds)


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[PeerProcess]:
    """A peer whose leaf (riverside) is not listening: its tests call the peer, not the other way."""
    started = PeerProcess(tmp_path, leaf_url=f"http://127.0.0.1:{free_port()}/creditcommons").start()
    yield started
    started.stop()
