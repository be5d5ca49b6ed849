"""Five nodes in a line, each peered only with its neighbours: what one end writes reaches the other.

The module's fixture runs `tally init` for five homes and `tally serve HOME --peer <neighbour>...`
for each (0 - 1 - 2 - 3 - 4); at node 0 the admin admits two members and one pays the other. The
payment has to cross three relays to reach node 4, each of which verifies and audits it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from helpers.replication import NodeProcess, Nodes, start_all, tally_json_many, wait_until
from helpers.support import tally


@dataclass
class Line:
    nodes: list[NodeProcess]
    payment: dict[str, Any]  # what node 0 answered for the payment: {"seq", "hash"}

    @property
    def first(self) -> NodeProcess:
        return self.nodes[0]

    @property
    def far_end(self) -> NodeProcess:
        return self.nodes[-1]


@pytest.fixture(scope="module")
def line(module_nodes: Nodes) -> Line:
    nodes = module_nodes.create(5, via_cli=True)
    for index, node in enumerate(nodes):
        node.peers = [nodes[j].url for j in (index - 1, index + 1) if 0 <= j < len(nodes)]
    start_all(nodes)
    first = nodes[0]
    alice, bob = first.admit("alice"), first.admit("bob")
    payment = first.pay(alice, bob, 25_00, memo="across the line")
    return Line(nodes, payment)


def far_end_holds_payment(line: Line) -> bool:
    held = line.far_end.feeds().get(line.first.feed_text)
    return held is not None and held["seq"] >= line.payment["seq"]


def test_a_payment_at_one_end_of_a_line_of_five_is_held_by_the_other_end(line: Line) -> None:
    wait_until(
        lambda: far_end_holds_payment(line),
        "the far end holding node 0's payment",
        describe=lambda: line.far_end.feeds(),
    )
    assert line.far_end.event_hash_at(line.first.feed, line.payment["seq"]) == line.payment["hash"]


def test_all_five_nodes_of_a_line_agree_on_every_feeds_head(line: Line) -> None:
    def agreed() -> bool:
        views = [node.feeds() for node in line.nodes]
        return len(views[0]) == 5 and all(view == views[0] for view in views)

    wait_until(agreed, "all five nodes agreeing on five feeds' heads", describe=lambda: [n.feeds() for n in line.nodes])
    # The same, through the command operators run.
    shown = [status["feeds"] for status in tally_json_many(*(["--node", n.url, "status", "--json"] for n in line.nodes))]
    assert all(view == shown[0] for view in shown)
    assert set(shown[0]) == {node.feed_text for node in line.nodes}
    assert shown[0][line.first.feed_text]["seq"] == line.first.status()["seq"]


def test_the_far_end_of_a_line_verifies_offline_with_the_first_nodes_feed(line: Line) -> None:
    wait_until(lambda: far_end_holds_payment(line), "the far end holding node 0's payment")
    assert line.far_end.stop() == 0
    done = tally("verify", line.far_end.home, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    first_feed = report["feeds"][line.first.feed_text]
    assert first_feed["ok"] is True
    assert first_feed["events"] >= line.payment["seq"]
