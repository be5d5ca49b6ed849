"""The README's tour, run as written: every command of its code blocks, in one bash session, against
real `tally serve` processes on loopback, so the README cannot drift from the program.

What is run: the fenced code blocks of README.md's section "A 5-minute tour", from the first
(`tally init riverside`) through the federation block, in order, each line as a reader pasting it
would run it (tests/tour_helpers.py): in a fresh folder, with `.venv/bin` first on PATH (the
README's `source .venv/bin/activate`) and no TALLY_* setting of the test process; shell variables
and exports carry from one line to the next. The cluster block (`tally cluster up`) is left out:
six nodes and their federation decisions would take the test past its time budget; the cluster has
its own tests in tests/federation.

What is changed, and only this: every 127.0.0.1 port the tour names (7600, 7601, ...) is replaced,
everywhere in the tour, by a free port (`support.free_port`), so the test runs beside other tests
and beside a `make demo`.

The rules it holds the README to: a line whose comment says "leave it running" starts in the
background (as in its own terminal) and the next line runs once its node answers /api/status;
where the prose before a block says "Ctrl-C", those nodes get SIGINT and must exit 0 before the
block runs; every other line must exit 0, except a line whose comment starts with "refused", which
must exit non-zero with exactly one line on stderr; no output, nor any node's log, holds
"Traceback". At the end the tour must have reached what its prose says: the offer allotted, a
trade filled, the dividend passed and paid, the payment across communities settled; and every node
stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from support import clean_environment, command_timeout_seconds, free_port, http
from tour_helpers import Background, Outcome, Shell, commands, loopback_ports, replace_ports, served_url, tour_blocks

readme_path = Path(__file__).resolve().parents[2] / "README.md"
# The tour's waits are plain `sleep`s; a node must answer within this of `tally serve`.
node_start_timeout_seconds = 30.0
node_stop_timeout_seconds = 20.0
# How long a payment across may take to settle after the tour's last command.
settle_timeout_seconds = 30.0


def is_cluster_block(text: str) -> bool:
    return "tally cluster" in text


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


def json_of(shell: Shell, command: str) -> Any:
    outcome = shell.run(command, command_timeout_seconds)
    assert outcome.exit_status == 0, describe(outcome)
    return json.loads(outcome.stdout)


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    readme = readme_path.read_text()
    blocks = [block for block in tour_blocks(readme) if not is_cluster_block(block.text)]
    assert len(blocks) >= 5, "the README's tour has lost its code blocks"
    ports = {port: free_port() for port in loopback_ports("\n".join(block.text for block in blocks))}
    assert len(set(ports.values())) == len(ports), "free_port gave the same port twice; run again"

    folder, steps = tmp_path / "reader", tmp_path / "steps"
    folder.mkdir()
    steps.mkdir()
    venv_bin = str(Path(sys.executable).parent)
    environment = clean_environment(PATH=venv_bin + ":" + clean_environment().get("PATH", ""))
    shell = Shell(folder, steps, environment)
    running: list[Background] = []
    outcomes: list[Outcome] = []
    try:
        for block in blocks:
            if "Ctrl-C" in block.prose:
                for background in running:
                    assert "Traceback" not in background.output(), background.output()
                    status = shell.interrupt(background, node_stop_timeout_seconds)
                    assert status == 0, f"`{background.command}` exited {status} on Ctrl-C:\n{background.output()}"
                running.clear()
            for command in commands(block):
                text = replace_ports(command.text, ports)
                if command.leave_running:
                    background = shell.start(text)
                    running.append(background)
                    wait_for_node(served_url(text, folder), background)
                    continue
                outcome = shell.run(text, command_timeout_seconds)
                outcomes.append(outcome)
                assert "Traceback" not in outcome.stdout + outcome.stderr, describe(outcome)
                if command.refused:
                    assert outcome.exit_status != 0, f"the README says this is refused:\n{describe(outcome)}"
                    assert len(outcome.stderr.splitlines()) == 1, f"a refusal is one line on stderr:\n{describe(outcome)}"
                else:
                    assert outcome.exit_status == 0, describe(outcome)

        # What the prose says the tour did. The nodes are still running, as the tour leaves them.
        riverside = f"--node http://127.0.0.1:{ports[7600]}"
        offers = json_of(shell, f"tally {riverside} enterprise offers --json")
        assert [offer["outcome"] for offer in offers] == ["allotted"], offers
        bakery = json_of(shell, f"tally {riverside} enterprise show Bakery --json")
        assert bakery["trades"], f"no trade filled on the exchange: {bakery}"
        decisions = json_of(shell, f"tally {riverside} decisions --json")
        dividend = [decision for decision in decisions if decision["title"] == "First dividend"]
        assert [decision["outcome"] for decision in dividend] == ["passed"], decisions
        deadline = time.monotonic() + settle_timeout_seconds
        while True:
            payments = json_of(shell, f"tally {riverside} payments --json")
            if payments and all(payment["status"] == "settled" for payment in payments):
                break
            assert time.monotonic() < deadline, f"the payment across did not settle: {payments}"
            time.sleep(0.5)

        for background in running:
            assert "Traceback" not in background.output(), background.output()
            status = shell.interrupt(background, node_stop_timeout_seconds)
            assert status == 0, f"`{background.command}` exited {status} on Ctrl-C:\n{background.output()}"
        running.clear()
    finally:
        for background in running:
            shell.kill(background)
        shell.close()
