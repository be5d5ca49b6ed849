"""`tally restore`: a home that lost its database, or was put back from an old copy, gets its own feed
back from a peer - byte for byte - and until then a stale home refuses to write.

The module's fixture: nodes A and B peered both ways; on A two members are admitted and pay each
other, and B replicates it. The first test deletes A's database (its node key stays) and restores
it; the next ones copy A's home, write more, put the old copy back and start it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from tallystick.node.home import write_key
from tallystick.protocol.ids import KeyPair

from helpers.replication import NodeProcess, Nodes, log_rows, start_all, wait_until
from helpers.support import tally, tally_json


@dataclass
class Pair:
    a: NodeProcess
    b: NodeProcess
    alice: KeyPair
    bob: KeyPair
    keys: Path  # alice.key and bob.key, for `tally pay --key`


def wait_for_b_to_hold_a(pair: Pair) -> None:
    def same() -> bool:
        return pair.b.feeds().get(pair.a.feed_text) == pair.a.feeds()[pair.a.feed_text]

    wait_until(same, "B holding A's whole feed", describe=lambda: (pair.b.feeds(), pair.a.status()["seq"]))


@pytest.fixture(scope="module")
def pair(module_nodes: Nodes, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    a, b = module_nodes.create(2)
    a.peers, b.peers = [b.url], [a.url]
    start_all([a, b])
    alice, bob = a.admit("alice"), a.admit("bob")
    for amount in (10_00, 2_50, 7_25):
        a.pay(alice, bob, amount)
    keys = tmp_path_factory.mktemp("member-keys")
    write_key(keys / "alice.key", alice)
    write_key(keys / "bob.key", bob)
    made = Pair(a, b, alice, bob, keys)
    wait_for_b_to_hold_a(made)
    return made


def delete_database(home: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{home / 'tally.db'}{suffix}").unlink(missing_ok=True)


def test_a_home_whose_database_was_deleted_is_restored_byte_for_byte_from_a_peer(pair: Pair) -> None:
    wait_for_b_to_hold_a(pair)
    assert pair.a.stop() == 0
    delete_database(pair.a.home)
    assert (pair.a.home / "node.key").exists()

    restored = tally_json("restore", pair.a.home, "--from", pair.b.url, "--json")

    assert restored["node"] == pair.a.feed_text
    from_peer = log_rows(pair.b.home, pair.a.feed)
    assert restored["seq"] == len(from_peer)
    assert log_rows(pair.a.home, pair.a.feed) == from_peer


def pay_with_cli(node: NodeProcess, key_file: Path, to: str, amount: str) -> tuple[int, str]:
    done = tally("--node", node.url, "--key", key_file, "pay", to, amount, "--json")
    return done.returncode, done.stderr


@pytest.fixture(scope="module")
def stale(pair: Pair) -> Pair:
    """A's home put back from a copy taken before its last payments (which B holds), and started."""
    if pair.a.running:
        assert pair.a.stop() == 0
    old_copy = pair.a.home.parent / "old-copy"
    shutil.copytree(pair.a.home, old_copy)
    pair.a.start()
    for amount in (1_00, 2_00):
        pair.a.pay(pair.alice, pair.bob, amount)
    wait_for_b_to_hold_a(pair)
    assert pair.a.stop() == 0
    shutil.rmtree(pair.a.home)
    shutil.move(old_copy, pair.a.home)
    pair.a.start()
    return pair


def test_a_home_put_back_from_an_old_copy_refuses_to_write_with_stale_home(stale: Pair) -> None:
    head_at_b = stale.b.feeds()[stale.a.feed_text]
    code, stderr = pay_with_cli(stale.a, stale.keys / "alice.key", "bob", "0.50")
    assert code != 0
    assert stderr.startswith("tally: stale_home:"), stderr
    assert "tally restore" in stderr
    assert stale.b.feeds()[stale.a.feed_text] == head_at_b  # nothing new, and no fork, reached the peer
    assert stale.b.status()["forks"] == []


def test_after_tally_restore_a_stale_home_writes_again_without_forking(stale: Pair) -> None:
    assert stale.a.stop() == 0
    restored = tally_json("restore", stale.a.home, "--from", stale.b.url, "--json")
    assert restored["seq"] == stale.b.feeds()[stale.a.feed_text]["seq"]
    stale.a.start()

    code, stderr = pay_with_cli(stale.a, stale.keys / "alice.key", "bob", "0.50")

    assert code == 0, stderr
    wait_for_b_to_hold_a(stale)
    assert stale.b.status()["forks"] == [] and stale.a.status()["forks"] == []
