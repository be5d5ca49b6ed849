"""Fixtures for the integration tests: real `tally serve` processes on loopback, a real SQLite file,
real signatures.

How this works: `make_node` creates a home with `tally init` and starts a node on it
(tests/helpers/nodes.py: `NodeProcess`, `init_home`), and stops every node of the module with
SIGTERM at its end, checking that each exits 0; `node` is one such node shared by a module's tests.
Nothing of ours is mocked: what these tests observe is what a member, an operator or a script would
observe.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from helpers.nodes import NodeProcess, init_home


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
