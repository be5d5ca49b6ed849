"""A node for the integration tests: a `tally serve` process on loopback, and signed intents, even
ones the protocol's types forbid.

How this works: the machinery that runs the program is tests/helpers/support.py (`tally(...)` runs the
command line exactly as a user would; a node process is started, stopped with SIGTERM - checking
that it exits 0 - or killed with SIGKILL). Here, `NodeProcess` adds what these tests need: a start
that moves to a new free port if another program took this one, and a snapshot of everything a
refusal must leave unchanged. The helpers below build signed intents with the protocol's own
signer, and, for hostile inputs the types forbid (an amount of zero, a stale version, a
non-canonical integer), sign hand-made msgpack the same way, so the node sees a correctly signed
intent and has to refuse it for the right reason. Nothing of ours is mocked: what these tests
observe is what a member, an operator or a script would observe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from tallystick.protocol.codec import intent_namespace
from tallystick.protocol.events import RemoveMember
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from helpers.support import ServeProcess, free_port, tally_json

# A free port can be taken by another program between our probe and `tally serve` binding it.
start_attempts = 3


# ---- intents --------------------------------------------------------------------------------------


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


def member_id(key: KeyPair) -> str:
    return id_to_text("m", key.public)


# ---- a running node -------------------------------------------------------------------------------


@dataclass
class NodeProcess(ServeProcess):
    # What `tally init --json` printed when this home was created.
    created: dict[str, str] = field(default_factory=dict)

    def start(self) -> NodeProcess:
        """`tally serve` on this home; if another program took the port meanwhile, on a new free one."""
        assert self.log_path is not None
        for _ in range(start_attempts):
            log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self.launch()
            if self.answered():
                break
            self._close_log()
            if "cannot listen" not in self.output()[log_offset:]:
                assert self.process is not None
                raise RuntimeError(f"`tally serve` exited with {self.process.returncode}:\n{self.output()}")
            self.port = free_port()
        else:
            raise RuntimeError(f"`tally serve` found no free port in {start_attempts} attempts")
        status = self.get("/api/status")
        if self.created:
            assert status["node"] == self.created["node"], "another node answers on this port"
        self.feed = id_from_text("n", status["node"])
        return self

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
