"""The README's tour, run as written: every command of its code blocks, in one bash session, against
real `tally serve` processes on loopback, so the README cannot drift from the program.

What is run: the fenced code blocks of README.md's section "A 5-minute tour", from the first
(`tally init riverside`) through the federation block, in order, each line as a reader pasting it
would run it (tests/helpers/tour.py): in a fresh folder, with `.venv/bin` first on PATH (the
README's `source .venv/bin/activate`) and no TALLY_* setting of the test process; shell variables,
functions and exports carry from one line to the next. The cluster block (`tally cluster up`) is
left out: six nodes and their federation decisions would take the test past its time budget; the
cluster has its own tests in tests/federation.

The reader's browser: the tour starts with the wallet. Where a command's comment says "open the
link it prints", Debian's Chromium (tests/helpers/browsing.py) opens the invitation link that
command printed, at a phone's size, and joins as the prose says; where one says "the open wallet
shows it arrive", the balance on that open page must change by itself; after the last block the
reader pays back from the wallet as the prose says. No Chromium: skipped, and under CI=true failed.

What is changed, and only this: every 127.0.0.1 port the tour names (7600, 7601, ...) is replaced,
everywhere in the tour, by a free port (`support.free_port`), so the test runs beside other tests
and beside a `make demo`.

The rules it holds the README to: a line whose comment says "leave it running" starts in the
background (as in its own terminal) and the next line runs once its node answers /api/status;
where the prose before a block says "Ctrl-C", those nodes get SIGINT and must exit 0 before the
block runs; every other line must exit 0, except a line whose comment starts with "refused", which
must exit non-zero with exactly one line on stderr; no output, nor any node's log, holds
"Traceback". At the end the tour must have reached what its prose says: the offer allotted, a
trade filled, the dividend passed, the payment across communities settled; and every node stops
cleanly on Ctrl-C. The small tests after it show that each rule fails a tour that breaks it.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpers.browsing import launched_chromium, wait_until
from helpers.support import (
    clean_environment,
    command_timeout_seconds,
    free_port,
    http,
    key_from_file,
    signed_get,
)
from helpers.tour import (
    Background,
    Block,
    Command,
    Outcome,
    Shell,
    commands,
    is_running,
    loopback_ports,
    replace_ports,
    served_url,
    tour_blocks,
)

readme_path = Path(__file__).resolve().parents[2] / "README.md"
# A node must answer within this of `tally serve`, and exit within this of Ctrl-C.
node_start_timeout_seconds = 30.0
node_stop_timeout_seconds = 20.0
# How long a payment across may take to settle after the tour's last command.
settle_timeout_seconds = 30.0


def is_cluster_block(block: Block) -> bool:
    return "tally cluster" in block.text


def describe(outcome: Outcome) -> str:
    return (f"`{outcome.command}` exited {outcome.exit_status}\n--- stdout\n{outcome.stdout}"
            f"--- stderr\n{outcome.stderr}")


def wait_for_node(url: str, background: Background) -> None:
    deadline = time.monotonic() + node_start_timeout_seconds
    while time.monotonic() < deadline:
        try:
            if http("GET", url + "/api/status", timeout_seconds=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"`{background.command}` did not answer at {url} within "
                         f"{node_start_timeout_seconds} s:\n{background.output()}")


def get_json(url: str) -> Any:
    answer = http("GET", url)
    assert answer.status == 200, f"GET {url}: {answer.status} {answer.body[:300]!r}"
    return answer.json()


@dataclass
class Tour:
    shell: Shell
    ports: dict[int, int]  # the README's port -> the free port used instead
    running: list[Background] = field(default_factory=list)

    def stop_running(self) -> None:
        """Ctrl-C every command left running; each must exit 0, having logged no traceback."""
        while self.running:
            background = self.running[0]  # kept in the list (to be killed) until it has exited
            assert "Traceback" not in background.output(), background.output()
            status = self.shell.interrupt(background, node_stop_timeout_seconds)
            self.running.pop(0)
            assert status == 0, f"`{background.command}` exited {status} on Ctrl-C:\n{background.output()}"


@contextmanager
def tour_run(blocks: list[Block], tmp_path: Path,
             after: Callable[[Command, Outcome], None] | None = None) -> Iterator[Tour]:
    """Run the blocks by the rules above; the body then looks at what they left running, which
    is stopped with Ctrl-C (and must exit 0) when it ends, or killed if anything failed. `after`
    is called with each command that ran to its end and what it did (the reader's browser)."""
    ports: dict[int, int] = {}
    for port in loopback_ports("\n".join(block.text for block in blocks)):
        ports[port] = free_port()
        while ports[port] in [ports[other] for other in ports if other != port]:
            ports[port] = free_port()
    folder, steps = tmp_path / "reader", tmp_path / "steps"
    folder.mkdir()
    steps.mkdir()
    venv_bin = str(Path(sys.executable).parent)
    environment = clean_environment(PATH=venv_bin + ":" + clean_environment().get("PATH", ""))
    tour = Tour(Shell(folder, steps, environment), ports)
    try:
        for block in blocks:
            if "Ctrl-C" in block.prose:
                tour.stop_running()
            for command in commands(block):
                text = replace_ports(command.text, ports)
                if command.leave_running:
                    background = tour.shell.start(text)
                    tour.running.append(background)
                    wait_for_node(served_url(text, folder), background)
                    continue
                outcome = tour.shell.run(text, command_timeout_seconds)
                assert "Traceback" not in outcome.stdout + outcome.stderr, describe(outcome)
                if command.refused:
                    assert outcome.exit_status != 0, f"the README says this is refused:\n{describe(outcome)}"
                    assert len(outcome.stderr.splitlines()) == 1, f"a refusal is one line on stderr:\n{describe(outcome)}"
                else:
                    assert outcome.exit_status == 0, describe(outcome)
                if after is not None:
                    after(command, outcome)
        yield tour
        tour.stop_running()
    finally:
        for background in tour.running:
            tour.shell.kill(background)
        tour.shell.close()


class ReaderBrowser:
    """The tour's reader at a browser: opens the invitation link the tour prints, joins in the
    wallet (the name the link carries), watches the payment the tour makes arrive, and at the end
    pays back from the wallet, as the README's prose says."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 360, "height": 740}, has_touch=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def after(self, command: Command, outcome: Outcome) -> None:
        if "open the link it prints" in command.comment:
            links = [line for line in outcome.stdout.splitlines() if line.startswith("http")]
            assert len(links) == 1, describe(outcome)
            self.page.goto(links[0], wait_until="load")
            self.page.get_by_role("button", name="Join").click()
            wait_until(lambda: self.page.locator("#balance").count(), 15, "the wallet's home after joining")
            assert self.page.locator("#balance").inner_text() == "0.00 HRS"
            assert self.page.locator("h1").inner_text() == "Sam"
        elif "the open wallet shows it arrive" in command.comment:
            wait_until(lambda: self.page.locator("#balance").inner_text() == "5.00 HRS", 15,
                       "the payment to Sam on the open wallet, without a reload")

    def pay_back(self, name_part: str, payee: str, amount: str) -> str:
        page = self.page
        page.get_by_role("navigation").get_by_role("link", name="Pay").click()
        page.get_by_label("To").fill(name_part)
        page.get_by_role("button", name=f"Pay {payee}").click()
        page.get_by_label("Amount in HRS").fill(amount)
        page.get_by_role("button", name="Review").click()
        page.get_by_role("button", name="Pay now").click()
        wait_until(lambda: page.locator("#receipt-balance").count(), 15, "the wallet's receipt")
        return page.locator("#receipt-balance").inner_text()


def test_the_readme_tour_runs_as_written_and_reaches_what_it_says(tmp_path: Path) -> None:
    blocks = [block for block in tour_blocks(readme_path.read_text()) if not is_cluster_block(block)]
    assert len(blocks) >= 7, "the README's tour has lost code blocks"
    with launched_chromium("the README tour's wallet") as browser:
        reader = ReaderBrowser(browser)
        try:
            check_the_tour(blocks, tmp_path, reader)
        finally:
            reader.context.close()
        assert not reader.errors, reader.errors


def check_the_tour(blocks: list[Block], tmp_path: Path, reader: ReaderBrowser) -> None:
    with tour_run(blocks, tmp_path, reader.after) as tour:
        assert reader.pay_back("Al", "Alice", "2.50") == "Your balance is now 2.50 HRS."
        # Read from Riverside's API (a tally command costs a second of start-up; this is the budget).
        riverside = f"http://127.0.0.1:{tour.ports[7600]}"
        bakery = get_json(riverside + "/api/enterprises/Bakery?limit=100")
        assert [offer["outcome"] for offer in bakery["offers"]] == ["allotted"], bakery["offers"]
        assert bakery["trades"], f"no trade filled on the exchange: {bakery}"
        decisions = get_json(riverside + "/api/decisions?limit=100")
        dividend = [decision for decision in decisions if decision["title"] == "First dividend"]
        assert [decision["outcome"] for decision in dividend] == ["passed"], decisions
        deadline = time.monotonic() + settle_timeout_seconds
        # Payments across carry members and memos: Riverside's admin reads them all.
        admin = key_from_file(tmp_path / "reader" / "riverside" / "admin.key")
        while True:
            answer = signed_get(riverside + "/api/payments", admin)
            assert answer.status == 200, answer
            payments = answer.json()
            if payments and all(payment["status"] == "settled" for payment in payments):
                break
            assert time.monotonic() < deadline, f"the payment across did not settle: {payments}"
            time.sleep(0.5)


# ---- the rules fail a tour that breaks them (bash only, no node) ----------------------------------


def tour_of(*lines: str) -> list[Block]:
    return tour_blocks("## A 5-minute tour\n\nText.\n\n```\n" + "\n".join(lines) + "\n```\n")


def test_a_tour_line_that_fails_fails_the_test(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="`false` exited 1"), tour_run(tour_of("true", "false", "true"), tmp_path):
        pass


def test_a_refused_line_that_succeeds_fails_the_test(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="says this is refused"), tour_run(tour_of("true   # refused: no"), tmp_path):
        pass


def test_a_refusal_of_more_than_one_line_fails_the_test(tmp_path: Path) -> None:
    lines = tour_of("{ echo one; echo two; } >&2; false   # refused: two lines")
    with pytest.raises(AssertionError, match="one line on stderr"), tour_run(lines, tmp_path):
        pass


def test_a_traceback_fails_the_test_even_on_a_line_that_exits_0(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="Traceback"), tour_run(tour_of("echo Traceback >&2"), tmp_path):
        pass


def test_shell_variables_carry_from_one_line_to_the_next(tmp_path: Path) -> None:
    lines = tour_of('NAME=$(echo alice)', 'field() { echo "$1"; }', 'test "$(field $NAME)" = alice')
    with tour_run(lines, tmp_path):
        pass


def test_a_command_that_hangs_fails_and_is_killed_with_what_it_started(tmp_path: Path) -> None:
    steps = tmp_path / "steps"
    steps.mkdir()
    shell = Shell(tmp_path, steps, clean_environment())
    try:
        with pytest.raises(AssertionError, match="did not finish within"):
            shell.run("sleep 300 & echo $! > sleeper.pid; wait", timeout_seconds=1)
        sleeper = int((tmp_path / "sleeper.pid").read_text())
    finally:
        shell.close(timeout_seconds=1)
    assert not is_running(sleeper), "the command's child is still running"


def test_the_tour_has_no_placeholder_to_fill_in_and_marks_every_node_it_starts() -> None:
    blocks = [block for block in tour_blocks(readme_path.read_text()) if not is_cluster_block(block)]
    lines = [command for block in blocks for command in commands(block)]
    placeholders = [command.text for command in lines if re.search(r"<[^<>]*>|…|\.\.\.", command.text)]
    assert not placeholders, f"a reader cannot paste these: {placeholders}"
    serving = [command for command in lines if re.match(r"tally serve\b", command.text)]
    assert serving and all(command.leave_running for command in serving), serving
    assert any(command.refused for command in lines), "the tour shows no refusal"


def test_a_hash_inside_quotes_is_not_a_comment() -> None:
    (command,) = commands(tour_of('tally pay Bob 1.00 --memo "#1 apples" --json   # refused: why')[0])
    assert command.text == 'tally pay Bob 1.00 --memo "#1 apples" --json'
    assert command.refused
