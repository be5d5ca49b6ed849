"""Fixtures for replication tests: node registries that always stop what they started, and the
test process's background asyncio loop (for the TCP proxy and the lying peer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.replication import BackgroundLoop, Nodes


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    """Nodes of one test; each still running at the end is stopped with SIGTERM and must exit 0."""
    registry = Nodes(tmp_path)
    yield registry
    failures = registry.stop_all()
    assert not failures, "a node did not stop cleanly on SIGTERM:\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def module_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    """Nodes shared by a module's tests; stopped like `nodes` at the module's end."""
    registry = Nodes(tmp_path_factory.mktemp("nodes"))
    yield registry
    failures = registry.stop_all()
    assert not failures, "a node did not stop cleanly on SIGTERM:\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def background() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()
