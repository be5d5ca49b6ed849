"""The page tests' view of the world: a browser page that records what it saw, and a community of
the cluster as a test reaches it.

How this works: a `Browsing` is one browser context (from `browsing_in`) and its page, recording
every dialog a page opens and every page error, so a test can prove that no script a member typed
ever ran. A `Community` is one node of the cluster that tests/pages/conftest.py starts: its API
read with plain HTTP, intents signed and posted without starting a `tally` process, the CLI run as
a member would type it. Waiting is always a poll with a deadline (`wait_until`), never a fixed
sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tallystick.ledger.money import format_money
from tallystick.node.home import read_key
from tallystick.protocol import limits
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import Action
from tallystick.protocol.ids import id_from_text
from tallystick.protocol.requests import sign_request

from helpers.support import clean_environment, http, next_nonce, signed_get, tally, tally_json

# How long a page may take to show what the node already holds (the node appends, then serves).
page_deadline_seconds = 10.0


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


def browsing_in(browser: Any, *, javascript: bool) -> Iterator[Browsing]:
    """A fresh context of `browser` and its page, recording dialogs (dismissed) and page errors;
    closed when the generator is resumed."""
    context = browser.new_context(java_script_enabled=javascript)
    browsing = Browsing(context, context.new_page())

    def on_dialog(dialog: Any) -> None:
        browsing.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    browsing.page.on("dialog", on_dialog)
    browsing.page.on("pageerror", lambda error: browsing.errors.append(str(error)))
    yield browsing
    context.close()


def sign_as(browsing: Browsing, communities: list[Community], key_of: Callable[[Community], Path]) -> None:
    """Sign every request the page makes to one of `communities` with `key_of(community)`'s key (an
    `Authorization: Tally …` header per request, as a member's session would carry it), so the
    pages show what that reader may see; requests elsewhere go as they are."""
    def handle(route: Any) -> None:
        url = route.request.url
        for community in communities:
            if url.startswith(community.url + "/") or url == community.url:
                parts = urllib.parse.urlsplit(url)
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                headers = {**route.request.headers,
                           "authorization": community.authorization(key_of(community), route.request.method, target)}
                route.continue_(headers=headers)
                return
        route.continue_()

    browsing.page.route("**/*", handle)


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
        """GET `path` as the community's admin reads it (the API answers by the visibility policy;
        what a page shows a stranger is the pages' own tests')."""
        answer = signed_get(self.url + path, read_key(self.admin_key))
        assert answer.status == 200, f"GET {path}: {answer.status} {answer.body[:300]!r}"
        return answer.json()

    def act(self, key_file: Path, action: Action) -> dict[str, Any]:
        """Sign `action` with the key in `key_file` and post it, as the CLI does but without starting a
        process (each `tally` process costs most of a second of CPU); must be accepted."""
        intent = sign_member_intent(read_key(key_file), feed=id_from_text("n", self.node), nonce=next_nonce(), action=action)
        answer = http("POST", self.url + "/api/intents", intent, "application/msgpack")
        assert answer.status == 201, f"{type(action).__name__} refused: {answer.status} {answer.body[:300]!r}"
        return answer.json()

    def signed_page(self, key_file: Path, path: str) -> tuple[int, str]:
        """GET `path` signed by the key in `key_file` (protocol/requests.py), as that member's CLI
        or browser reads it: the status and the page's raw HTML."""
        answer = http("GET", self.url + path, headers={"Authorization": self.authorization(key_file, "GET", path)})
        return answer.status, answer.body.decode()

    def authorization(self, key_file: Path, method: str, target: str) -> str:
        return sign_request(read_key(key_file), node=id_from_text("n", self.node), method=method, target=target,
                            ts_ms=time.time_ns() // 1_000_000)

    def money(self, minor: int) -> str:
        """`minor` as the pages write an amount: '12.50 HRS' (node/money.py `format_money`)."""
        unit = self.get("/api/community")["unit"]
        return format_money(minor, unit["decimals"], unit["code"])

    def people(self) -> list[dict[str, Any]]:
        """The community's members who are people (role member or admin), as /api/members lists them."""
        return [m for m in self.get(f"/api/members?limit={limits.page_size_max}") if m["role"] in ("member", "admin")]

    def cli(self, *args: str | Path) -> Any:
        """`tally --node URL ARGS... --json` as a member or operator would type it; must succeed."""
        return tally_json("--node", self.url, *args, "--json",
                          env=clean_environment(TALLY_KEY=str(self.admin_key)))  # a --key in ARGS still signs


def consecutive_free_ports(count: int) -> int:
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


chromium_path = Path(os.environ.get("TALLY_CHROMIUM", "/usr/bin/chromium"))


def browser_unavailable(reason: str, what: str) -> None:
    """Skip the browser tests of `what` on a developer's machine without Chromium; under CI=true,
    where they must run, fail."""
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the {what} tests (`make test` installs Debian's chromium)", pytrace=False)
    pytest.skip(f"{reason}; install it with `apt-get install chromium` (or run `make test`)")


@contextlib.contextmanager
def launched_chromium(what: str) -> Iterator[Any]:
    """Debian's Chromium (or $TALLY_CHROMIUM) through Playwright's sync API with
    `executable_path`: never a downloaded browser build."""
    if not chromium_path.exists():
        browser_unavailable(f"no Chromium at {chromium_path}", what)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("Playwright is not installed (pip install -e '.[dev]')", what)
    # A container's /dev/shm is often 64 MB, too small for Chromium's shared memory: use /tmp.
    arguments = ["--disable-dev-shm-usage", *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path), headless=True, args=arguments)
        try:
            yield launched
        finally:
            launched.close()


# Attempts at finding consecutive free ports and starting a cluster on them (another process may
# take one of them between the probe and `tally cluster up`).
cluster_start_attempts = 3


def cluster_up(tmp_path_factory: Any, nodes: int) -> tuple[Path, list[dict[str, Any]]]:
    """`tally cluster up --nodes N` on free ports, retried on a lost port: its folder and its
    `--json` answer (one entry per community). The caller runs `tally cluster down` on the folder."""
    failures = []
    for _ in range(cluster_start_attempts):
        directory = tmp_path_factory.mktemp("cluster")
        done = tally("cluster", "up", directory, "--nodes", str(nodes),
                     "--base-port", str(consecutive_free_ports(nodes)), "--json")
        if done.returncode == 0:
            return directory, json.loads(done.stdout)
        failures.append(done.stderr)
        if (directory / "cluster.json").exists():
            tally("cluster", "down", directory)
    raise RuntimeError("`tally cluster up` failed:\n" + "\n".join(failures))

