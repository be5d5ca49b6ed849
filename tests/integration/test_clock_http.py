"""Clocks against a real `tally serve`, without faking its clock: the home's log is built in the test
process with its events' times where the test wants them, and the node runs on the machine's clock.

- A log whose last event is 60 days old, with no peer to vouch for later times, is what a node sees
  whose clock jumped 60 days ahead: it refuses every append with 503 `clock_ahead` (one line saying
  what to do), raises the same as an alert in /api/status, says it once in its output, and changes
  nothing.
- A log that already holds an event two years ahead (a run with the clock wrong, since corrected)
  does not block the community: members are admitted, a proposal with a voting period and votes
  are taken, and a decision every member agreed to closes and applies.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from tallystick.node.home import NodeConfig, init_home
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import AdmitMember, Propose, ProposeWithPeriod, Vote
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.nodes import NodeProcess
from helpers.support import free_port, next_nonce

day_ms = 24 * 3600 * 1000
close_wait_seconds = 60.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def serve_home_at(tmp_path: Path, log_ms: int, *, name: str = "home", peers: tuple[str, ...] = (),
                  port: int | None = None) -> NodeProcess:
    """A home whose genesis carries `log_ms`, served by `tally serve` on the machine's clock."""
    home = tmp_path / name
    port = port or free_port()
    created = asyncio.run(init_home(
        home, name=f"Clocks {name}", unit_code="HRS", unit_decimals=2, debit_limit_minor=100_00,
        credit_ceiling_minor=200_00, now_ms=log_ms,
        config=NodeConfig(listen_host="127.0.0.1", listen_port=port, checkpoint_idle_ms=10**9, peers=list(peers)),
    ))
    node = NodeProcess(home=home, port=port, log_path=tmp_path / f"{name}.log",
                       created={"node": created.node, "admin": created.admin})
    return node.start()


@pytest.fixture
def nodes() -> Any:
    started: list[NodeProcess] = []
    yield started
    for node in started:
        if node.running:
            assert node.stop() == 0, node.output()


def test_a_clock_far_ahead_of_the_log_is_refused_with_clock_ahead_an_alert_and_no_change(
    tmp_path: Path, nodes: list[NodeProcess]
) -> None:
    node = serve_home_at(tmp_path, now_ms() - 60 * day_ms)
    nodes.append(node)
    before = node.snapshot()
    intent = sign_member_intent(node.admin_key, feed=node.feed, nonce=next_nonce(),
                         action=AdmitMember(member=KeyPair.generate().public, name="Bea"))
    answer = node.post_intent(intent)
    document = answer.json()
    assert (answer.status, document["error"]) == (503, "clock_ahead"), document
    assert len(document["message"].splitlines()) == 1 and "fix it (NTP)" in document["message"]
    alerts = node.get("/api/status")["alerts"]
    assert [alert["kind"] for alert in alerts] == ["clock_ahead"], alerts
    assert node.snapshot() == before
    assert node.output().count("clock_ahead:") == 1  # one line in the node's output, not one per request


def test_a_configured_peers_recent_feed_vouches_for_a_clock_far_ahead_of_the_own_log(
    tmp_path: Path, nodes: list[NodeProcess]
) -> None:
    # A node switched off for 60 days, whose configured peer wrote today: its clock is believed.
    # Linked both ways: a node serves its feed only to nodes it chose (federation.md §2.2).
    port = free_port()
    peer = serve_home_at(tmp_path, now_ms(), name="peer", peers=(f"http://127.0.0.1:{port}",))
    nodes.append(peer)
    node = serve_home_at(tmp_path, now_ms() - 60 * day_ms, name="asleep", peers=(peer.url,), port=port)
    nodes.append(node)
    deadline = time.monotonic() + close_wait_seconds
    while peer.feed_text not in node.get("/api/status")["feeds"]:
        assert time.monotonic() < deadline, "the node never pulled its peer's feed"
        time.sleep(0.2)
    bea = node.admit("Bea")
    assert node.get("/api/members/Bea")["id"] == id_to_text("m", bea.public)
    assert [alert["kind"] for alert in node.get("/api/status")["alerts"]] == []


def test_a_log_holding_an_event_two_years_ahead_does_not_block_proposals_votes_or_decisions(
    tmp_path: Path, nodes: list[NodeProcess]
) -> None:
    node = serve_home_at(tmp_path, now_ms() + 2 * 365 * day_ms)
    nodes.append(node)
    bea = node.admit("Bea")
    assert node.get("/api/status")["alerts"] == []
    picnic = node.act(bea, ProposeWithPeriod("proposal", "Picnic", "", 0, voting_period_ms=7 * day_ms))["seq"]
    node.act(node.admin_key, Vote(decision=picnic, position="agree"))
    node.act(bea, Vote(decision=picnic, position="disagree"))
    shown = node.get(f"/api/decisions/{picnic}")
    assert shown["open"] and shown["deadline_ms"] - shown["opened_ms"] == 7 * day_ms
    # A deadline by the member's (right) clock is in the past of this log: why proposals carry periods.
    absolute = node.post_intent(sign_member_intent(bea, feed=node.feed, nonce=next_nonce(),
                                            action=Propose("proposal", "Absolute", "", now_ms() + 7 * day_ms)))
    assert (absolute.status, absolute.json()["error"]) == (409, "deadline_passed")
    cal = KeyPair.generate()
    admission = node.act(bea, ProposeWithPeriod("proposal", "Admit Cal", "", 0, voting_period_ms=2 * day_ms,
                                      effect=AdmitMember(member=cal.public, name="Cal")))["seq"]
    for voter in (node.admin_key, bea):
        node.act(voter, Vote(decision=admission, position="agree"))
    deadline = time.monotonic() + close_wait_seconds
    while node.get(f"/api/decisions/{admission}")["open"]:
        assert time.monotonic() < deadline, "the unanimous admission was not closed"
        time.sleep(0.2)
    assert node.get(f"/api/decisions/{admission}")["outcome"] == "passed"
    assert node.get("/api/members/Cal")["id"] == id_to_text("m", cal.public)


def test_after_a_jump_in_the_log_a_decision_closes_when_its_voting_period_has_run_in_real_time(
    tmp_path: Path, nodes: list[NodeProcess]
) -> None:
    node = serve_home_at(tmp_path, now_ms() + 2 * 365 * day_ms)
    nodes.append(node)
    quick = node.act(node.admin_key, ProposeWithPeriod("proposal", "Quick", "", 0, voting_period_ms=2000))["seq"]
    deadline = time.monotonic() + 20.0  # ten times the voting period
    while node.get(f"/api/decisions/{quick}")["open"]:
        assert time.monotonic() < deadline, "the decision was not closed after its voting period"
        time.sleep(0.2)
