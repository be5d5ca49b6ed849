"""Fixtures for the page tests: a real cluster of nodes and a real headless Chromium.

How this works: `cluster` runs `tally cluster up DIR --nodes 3` (three `tally serve` processes on
loopback, peered in a line, with demo members who traded) once for the whole pages package and
`tally cluster down DIR` after its last test: starting and stopping a cluster costs about 8 s on two cores,
and the pages suite must stay well under a minute. Tests only add to it (members, payments,
decisions) and compare the page with the API at that moment, so they do not depend on each other's
order; a test that must break something (a fork) makes its own nodes. `browser` launches Debian's Chromium (`/usr/bin/chromium`, or $TALLY_CHROMIUM)
through Playwright with `executable_path`: no browser build is ever downloaded. `make test`
installs the `chromium` package when it is missing; if it is still missing, these tests are
skipped on a developer's machine and fail under CI=true, where they must run. Each test gets a
fresh `Browsing` (its own browser context; tests/helpers/browsing.py) that records every dialog a page opens and every page
error, so a test can prove that no script a member typed ever ran. Waiting is always a poll with a
deadline (`wait_until`), never a fixed sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.browsing import (
    Browsing,
    Community,
    browser_unavailable,
    browsing_in,
    chromium_path,
    cluster_up,
    launched_chromium,
    sign_as,
)
from helpers.support import tally

cluster_nodes = 3


def _unavailable(reason: str) -> None:
    browser_unavailable(reason, "page")


@pytest.fixture(scope="package", autouse=True)
def chromium_is_here() -> None:
    """Before anything is started: skip, or under CI fail, at once when there is no browser."""
    if not chromium_path.exists():
        _unavailable(f"no Chromium at {chromium_path}")


# Per package, not per session: Playwright's sync API keeps an asyncio loop running in this thread
# while it is started, and the async tests of other folders, run later in the same session, need
# the thread free (asyncio.run refuses to start inside a running loop). So nothing in tests/pages/
# may call asyncio.run either (the two-node fixture inits its homes with `tally init` processes).
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with launched_chromium("page") as launched:
        yield launched


def _as_admin(request: pytest.FixtureRequest, browsing: Browsing) -> Browsing:
    """In a test of the cluster, the page reads as each community's admin (every request signed
    with its admin key), who sees all the community's policy shows anyone: these tests compare
    member data on the pages with the API. What a stranger or another member sees is
    test_pages_visibility.py's (with `stranger_browsing`)."""
    if "cluster" in request.fixturenames:
        sign_as(browsing, request.getfixturevalue("cluster"), lambda community: community.admin_key)
    return browsing


@pytest.fixture
def browsing(browser: Any, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    """A page with JavaScript on (as most readers have it): so an injected script would run."""
    for found in browsing_in(browser, javascript=True):
        yield _as_admin(request, found)


@pytest.fixture
def browsing_without_javascript(browser: Any, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    for found in browsing_in(browser, javascript=False):
        yield _as_admin(request, found)


@pytest.fixture
def stranger_browsing(browser: Any) -> Iterator[Browsing]:
    """A page as a stranger reads it: no request signed."""
    yield from browsing_in(browser, javascript=True)


# ---- a cluster ------------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Community]]:
    """`tally cluster up` with three communities, shared by the pages suite; `tally cluster down` after."""
    directory, started = cluster_up(tmp_path_factory, cluster_nodes)
    communities = [Community(c["name"], c["url"], c["node"], Path(c["home"])) for c in started]
    try:
        yield communities
    finally:
        stopped = tally("cluster", "down", directory)
        assert stopped.returncode == 0, stopped.stderr
