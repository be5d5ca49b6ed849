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
fresh `Browsing` (its own browser context) that records every dialog a page opens and every page
error, so a test can prove that no script a member typed ever ran. Waiting is always a poll with a
deadline (`wait_until`), never a fixed sleep.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import http, next_nonce, tally, tally_json
from tallystick.ledger.money import format_money
from tallystick.node.home import read_key
from tallystick.protocol import limits
from tallystick.protocol.codec import sign_intent
from tallystick.protocol.events import Action
from tallystick.protocol.ids import id_from_text

chromium_path = Path(os.environ.get("TALLY_CHROMIUM", "/usr/bin/chromium"))
cluster_nodes = 3
# Attempts at finding `cluster_nodes` consecutive free ports and starting the cluster on them.
cluster_start_attempts = 3
# How long a page may take to show what the node already holds (the node appends, then serves).
page_deadline_seconds = 10.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the page tests (`make test` installs Debian's chromium)", pytrace=False)
    pytest.skip(f"{reason}; install it with `apt-get install chromium` (or run `make test`)")


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
    if not chromium_path.exists():
        _unavailable(f"no Chromium at {chromium_path}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[dev]')")
    # A container's /dev/shm is often 64 MB, too small for Chromium's shared memory: use /tmp.
    arguments = ["--disable-dev-shm-usage", *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path), headless=True, args=arguments)
        yield launched
        launched.close()


@dataclass
class Browsing:
    """One browser context and its page, with every dialog and page error it saw."""

    context: Any
    page: Any
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, url: str) -> Any:
        """Load `url`; returns the HTTP response (its status is what the person's browser got)."""
        response = self.page.goto(url, wait_until="load")
        assert response is not None, f"no response for {url}"
        return response

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()


def _browsing(browser: Any, *, javascript: bool) -> Iterator[Browsing]:
    context = browser.new_context(java_script_enabled=javascript)
    browsing = Browsing(context, context.new_page())

    def on_dialog(dialog: Any) -> None:
        browsing.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    browsing.page.on("dialog", on_dialog)
    browsing.page.on("pageerror", lambda error: browsing.errors.append(str(error)))
    yield browsing
    context.close()


@pytest.fixture
def browsing(browser: Any) -> Iterator[Browsing]:
    """A page with JavaScript on (as most readers have it): so an injected script would run."""
    yield from _browsing(browser, javascript=True)


@pytest.fixture
def browsing_without_javascript(browser: Any) -> Iterator[Browsing]:
    yield from _browsing(browser, javascript=False)


# The narrowest screen the pages are made for: a phone, in CSS pixels.
phone_width_px = 360


def fits_the_screen(page: Any) -> bool:
    """Whether nothing of the loaded page runs off the side (a wide table may scroll in its own box)."""
    return page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def wait_until(predicate: Callable[[], Any], deadline_seconds: float = page_deadline_seconds, what: str = "") -> Any:
    """Poll `predicate` until it returns something true; fail with `what` at the deadline."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_seconds} s: {what}")
        time.sleep(0.05)


# ---- a cluster ------------------------------------------------------------------------------------


@dataclass
class Community:
    name: str
    url: str
    node: str
    home: Path

    @property
    def admin_key(self) -> Path:
        return self.home / "admin.key"

    def member_key(self, name: str) -> Path:
        return self.home / "members" / f"{name.lower()}.key"

    def get(self, path: str) -> Any:
        answer = http("GET", self.url + path)
        assert answer.status == 200, f"GET {path}: {answer.status} {answer.body[:300]!r}"
        return answer.json()

    def act(self, key_file: Path, action: Action) -> dict[str, Any]:
        """Sign `action` with the key in `key_file` and post it, as the CLI does but without starting a
        process (each `tally` process costs most of a second of CPU); must be accepted."""
        intent = sign_intent(read_key(key_file), feed=id_from_text("n", self.node), nonce=next_nonce(), action=action)
        answer = http("POST", self.url + "/api/intents", intent, "application/msgpack")
        assert answer.status == 201, f"{type(action).__name__} refused: {answer.status} {answer.body[:300]!r}"
        return answer.json()

    def money(self, minor: int) -> str:
        """`minor` as the pages write an amount: '12.50 HRS' (node/money.py `format_money`)."""
        unit = self.get("/api/community")["unit"]
        return format_money(minor, unit["decimals"], unit["code"])

    def people(self) -> list[dict[str, Any]]:
        """The community's members who are people (role member or admin), as /api/members lists them."""
        return [m for m in self.get(f"/api/members?limit={limits.page_size_max}") if m["role"] in ("member", "admin")]

    def cli(self, *args: str | Path) -> Any:
        """`tally --node URL ARGS... --json` as a member or operator would type it; must succeed."""
        return tally_json("--node", self.url, *args, "--json")


def _consecutive_free_ports(count: int) -> int:
    """A port P such that P .. P+count-1 were all free a moment ago."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65000:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                candidate = socket.socket()
                sockets.append(candidate)
                candidate.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for candidate in sockets:
                candidate.close()
    raise RuntimeError(f"found no {count} consecutive free ports")


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Community]]:
    """`tally cluster up` with three communities, shared by the pages suite; `tally cluster down` after."""
    failures = []
    for _ in range(cluster_start_attempts):
        directory = tmp_path_factory.mktemp("cluster")
        done = tally("cluster", "up", directory, "--nodes", str(cluster_nodes),
                     "--base-port", str(_consecutive_free_ports(cluster_nodes)), "--json")
        if done.returncode == 0:
            break
        failures.append(done.stderr)
        if (directory / "cluster.json").exists():
            tally("cluster", "down", directory)
    else:
        raise RuntimeError("`tally cluster up` failed:\n" + "\n".join(failures))
    communities = [Community(c["name"], c["url"], c["node"], Path(c["home"])) for c in json.loads(done.stdout)]
    try:
        yield communities
    finally:
        stopped = tally("cluster", "down", directory)
        assert stopped.returncode == 0, stopped.stderr
