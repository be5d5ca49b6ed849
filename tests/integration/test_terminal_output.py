"""What members typed reaches the terminal made visible, never as raw control characters.

How this works: a real `tally serve` holds a log with hostile free text (a payment memo and a
decision's title carrying an ANSI clear-screen, a window-title command, a bell, a carriage return
and a bidi override) and a member whose name is rich markup. Each test runs `tally` against it as a
user would, once with its output on a pipe and once on a pseudo-terminal (where click and rich
believe a person is watching), and checks the output bytes: no control or format character but the
newlines of the output itself (and, on the terminal, rich's own colour codes), the hostile
characters shown as their escapes, and the markup printed as text. `--json` stays exact.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from tallystick.protocol.events import AdmitMember, Propose, Transfer
from tallystick.protocol.ids import KeyPair

from helpers.nodes import NodeProcess
from helpers.support import clean_environment, command_timeout_seconds, tally, tally_executable

# Cursor to the top and clear the screen, retitle the window (ended by a bell), return to the line's
# start, then reverse what follows: short, so that it survives the CLI's truncation of long cells.
hostile = "\x1b[2J\x1b]0;x\x07\r\u202eevil"
hostile_escaped = ("\\x1b[2J", "\\x1b]0;x\\x07", "\\r", "\\u202e")
markup_name = "[bold red]Eve[/]"
# Wide enough that rich never wraps or cuts a cell in the middle of an escape.
columns = "400"
# SGR colour and style codes, the only escape sequences rich itself writes to a terminal.
rich_styles = re.compile(r"\x1b\[[0-9;]*m")
# The decision stays open through the module (a month: above any floor on a voting period).
open_for_ms = 30 * 86_400_000


@pytest.fixture(scope="module")
def hostile_node(make_node: Any) -> NodeProcess:
    node = make_node()
    admin = node.admin_key
    eve = KeyPair.generate()
    bob = KeyPair.generate()
    node.act(admin, AdmitMember(member=eve.public, name=markup_name))
    node.act(admin, AdmitMember(member=bob.public, name="Bob"))
    node.act(eve, Transfer(to=bob.public, amount_minor=300, memo=hostile))
    node.act(eve, Propose(decision_type="proposal", title=hostile, text=hostile + "\nsecond line",
                          deadline_ms=time.time_ns() // 1_000_000 + open_for_ms))
    return node


def raw_characters(text: str) -> list[str]:
    """Every character of `text` a terminal would act on, other than a newline."""
    return [
        f"U+{ord(character):04X}"
        for character in text
        if character != "\n" and unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cn")
    ]


def on_a_pipe(*args: str | Path) -> str:
    done = tally(*args, env=clean_environment(COLUMNS=columns))
    assert done.returncode == 0, done.stderr
    return done.stdout


def on_a_terminal(*args: str | Path) -> str:
    """Run `tally ARGS` with its stdout on a pseudo-terminal; what it wrote, decoded."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [tally_executable(), *map(str, args)], stdin=subprocess.DEVNULL, stdout=terminal,
            stderr=subprocess.PIPE, env=clean_environment(COLUMNS=columns, TERM="xterm-256color"),
        )
        os.close(terminal)
        terminal = -1
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the program exited and closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=command_timeout_seconds)
        assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    # The terminal turns each newline into CR LF; rich adds its own styles.
    return rich_styles.sub("", b"".join(chunks).decode("utf-8").replace("\r\n", "\n"))


@pytest.mark.parametrize("run", [on_a_pipe, on_a_terminal], ids=["pipe", "terminal"])
def test_a_hostile_memo_is_shown_escaped_in_the_log(hostile_node: NodeProcess, run: Any) -> None:
    output = run("--node", hostile_node.url, "--key", hostile_node.home / "admin.key", "log")  # the admins' log
    assert raw_characters(output) == []
    assert all(escaped in output for escaped in hostile_escaped)


@pytest.mark.parametrize("run", [on_a_pipe, on_a_terminal], ids=["pipe", "terminal"])
def test_a_hostile_decision_title_is_shown_escaped(hostile_node: NodeProcess, run: Any) -> None:
    output = run("--node", hostile_node.url, "decisions")
    assert raw_characters(output) == []
    assert all(escaped in output for escaped in hostile_escaped)


@pytest.mark.parametrize("run", [on_a_pipe, on_a_terminal], ids=["pipe", "terminal"])
def test_a_name_written_as_markup_is_printed_as_text(hostile_node: NodeProcess, run: Any) -> None:
    output = run("--node", hostile_node.url, "--key", hostile_node.home / "admin.key", "balance")  # every balance
    assert markup_name in output
    assert raw_characters(output) == []


def test_json_output_keeps_the_exact_text(hostile_node: NodeProcess) -> None:
    done = tally("--node", hostile_node.url, "log", "--json", env=hostile_node.operator_environment(COLUMNS=columns))
    assert done.returncode == 0
    assert raw_characters(done.stdout) == []  # JSON escapes them itself
    # A memo in the log is committed; the node shows its text beside the digest (docs/protocol.md §19).
    memos = [(event["body"]["intent"]["action"].get("memo") or {}).get("text") for event in json.loads(done.stdout)
             if event["body"]["kind"] == "act_sealed"]
    assert hostile in memos


def test_a_refusal_quoting_typed_text_is_one_visible_line(hostile_node: NodeProcess) -> None:
    done = tally("--node", hostile_node.url, "balance", "Mallory\x1b[2J\u202e", env=clean_environment(COLUMNS=columns))
    assert done.returncode == 2  # a name that is not there: a mistake in what was typed
    assert done.stderr.startswith("tally: ") and done.stderr.count("\n") == 1
    assert raw_characters(done.stderr) == []


def test_a_mistake_quoting_typed_text_is_one_visible_line(hostile_node: NodeProcess, tmp_path: Path) -> None:
    key_file = tmp_path / "someone.key"
    assert tally("key", "new", key_file).returncode == 0
    done = tally("--node", hostile_node.url, "--key", key_file, "pay", "Carol@hill\x1b[2Jtop\u202e", "1.00",
                 env=clean_environment(COLUMNS=columns))
    assert done.returncode == 2
    assert done.stderr.startswith("tally: ") and done.stderr.count("\n") == 1
    assert raw_characters(done.stderr) == [] and "\\x1b[2J" in done.stderr
