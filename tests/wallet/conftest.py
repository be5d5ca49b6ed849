"""Fixtures for the wallet's tests: a real `tally serve` and Debian's real Chromium.

How this works: `wallet_node` is one node for the whole package (`tally init` and `tally serve`
processes: tests/helpers/nodes.py), stopped with SIGTERM after the last test; tests only add to it
(invitations, members, payments) and read the node at that moment, so they do not depend on each
other's order. The admin funds members in many tests, so the admin's own debit limit is raised to
100000.00 at the start: which files ran before on a worker can never push the admin past it. `browser` launches /usr/bin/chromium (or $TALLY_CHROMIUM) through Playwright's sync
API with `executable_path`, never a downloaded build, as tests/pages does: missing, the tests are
skipped, and fail under CI=true. Playwright's sync API keeps an asyncio loop running in this thread
while it is started, so nothing in tests/wallet/ calls asyncio.run. `phone` is a fresh browser
context at 360x740 CSS pixels (a phone) that records every request the page makes, every page
error (a script that threw) and every console error (a refused fetch logs one). Waiting is a poll with a deadline (helpers.browsing.wait_until).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tallystick.protocol.events import SetLimits

from helpers.accessibility import described, serious_violations
from helpers.browsing import launched_chromium
from helpers.nodes import NodeProcess, init_home

phone_viewport = {"width": 360, "height": 740}
desktop_viewport = {"width": 1280, "height": 800}
screenshots = Path("/tmp/wallet-shots")
screenshots_wanted = os.environ.get("CI") != "true" or os.environ.get("TALLY_SCREENSHOTS") == "1"


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with launched_chromium("wallet") as launched:
        yield launched


@pytest.fixture(scope="package")
def wallet_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A community (unit HRS, 2 decimals, default debit limit 50.00) served by `tally serve`."""
    directory = tmp_path_factory.mktemp("wallet-node")
    home = directory / "home"
    created = init_home(home, debit_limit="50", credit_ceiling="1000")
    port = json.loads((home / "config.json").read_text())["listen_port"]
    node = NodeProcess(home=home, port=port, log_path=directory / "serve.log", created=created).start()
    node.act(node.admin_key, SetLimits(node.admin_key.public, debit_limit_minor=10_000_000, credit_ceiling_minor=None))
    yield node
    status = node.stop()
    assert status == 0, f"the node did not stop cleanly: {status}\n{node.output()}"


@dataclass
class Phone:
    """One browser context and its page, with what it sent and what went wrong in it."""

    context: Any
    page: Any
    requests: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def shoot(self, name: str, *, check: bool = True) -> Path:
        """A PNG of the page now, at this viewport and at a desktop's, under /tmp/wallet-shots/,
        for a person to look at (not under CI=true, where nobody looks and they cost a minute of
        the suite, unless TALLY_SCREENSHOTS=1); and, with `check`, axe-core must find no serious or
        critical violation at this viewport, always (tests/helpers/accessibility.py), so every
        screen a test shoots is checked. test_accessibility.py walks both sizes itself."""
        if check:
            self.assert_accessible(name)
        size = self.page.viewport_size
        path = screenshots / f"{name}-{size['width']}.png"
        if not screenshots_wanted:
            return path
        screenshots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        self.page.set_viewport_size(desktop_viewport)
        self.page.screenshot(path=str(screenshots / f"{name}-{desktop_viewport['width']}.png"), full_page=True)
        self.page.set_viewport_size(size)
        return path

    def assert_accessible(self, name: str) -> None:
        violations = serious_violations(self.page)
        assert not violations, f"{name} at {self.page.viewport_size['width']} px:\n{described(violations)}"


def open_phone(browser: Any) -> Iterator[Phone]:
    context = browser.new_context(viewport=phone_viewport, device_scale_factor=1, is_mobile=False, has_touch=True)
    phone = Phone(context, context.new_page())

    def on_request(request: Any) -> None:
        phone.requests.append({"url": request.url, "method": request.method, "headers": request.headers,
                               "body": request.post_data_buffer or b""})

    phone.page.on("request", on_request)
    phone.page.on("pageerror", lambda error: phone.errors.append(str(error)))
    phone.page.on("console", lambda message: phone.console.append(message.text) if message.type == "error" else None)
    yield phone
    context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Phone]:
    yield from open_phone(browser)
