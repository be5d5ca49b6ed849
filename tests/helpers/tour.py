"""The README's tour as commands, and one bash session that runs them as a reader pasting them would.

How this works: `tour_blocks(readme)` cuts the section "## A 5-minute tour" of README.md into its
fenced code blocks, each with the prose just before it (the prose says "Ctrl-C" where the reader
stops the node). `commands(block)` joins lines continued with a trailing backslash and splits off
each line's comment, which carries the README's two marks: "leave it running" (the command starts
in the background and stays up, as in its own terminal) and "refused" (the command must fail with
one line on stderr). `Shell` is one `bash` process fed one command at a time on its stdin, so
shell variables (`ALICE=$(tally key new alice.key)`), exports and functions carry from one command
to the next exactly as in a terminal; each command's stdout, stderr and exit status land in files
of a steps folder, which the test reads. Job control is on (`set -m`), so a command left running
gets the default SIGINT, and Ctrl-C can be sent to it as a reader would press it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

tour_heading = "## A 5-minute tour"
leave_running_mark = "leave it running"
refused_mark = "refused"
# The README's addresses: every port of 127.0.0.1 is replaced by a free one.
loopback_port_pattern = re.compile(r"127\.0\.0\.1:(\d+)")
# How long the shell may take to exit once its stdin is closed.
shell_exit_timeout_seconds = 10.0


@dataclass(frozen=True)
class Block:
    prose: str  # the text between the previous block (or the heading) and this one
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Command:
    text: str  # what bash runs, without the comment
    comment: str

    @property
    def leave_running(self) -> bool:
        return leave_running_mark in self.comment

    @property
    def refused(self) -> bool:
        return self.comment.lstrip().startswith(refused_mark)


def tour_section(readme: str) -> str:
    start = readme.index(tour_heading)
    end = readme.find("\n## ", start + len(tour_heading))
    return readme[start : end if end != -1 else len(readme)]


def tour_blocks(readme: str) -> list[Block]:
    """Every fenced code block of the tour, in order, with the prose before it."""
    blocks: list[Block] = []
    prose: list[str] = []
    inside: list[str] | None = None
    for line in tour_section(readme).splitlines():
        if line.startswith("```"):
            if inside is None:
                inside = []
            else:
                blocks.append(Block(prose="\n".join(prose), lines=tuple(inside)))
                inside, prose = None, []
        elif inside is None:
            prose.append(line)
        else:
            inside.append(line)
    assert inside is None, "a code block of the tour is not closed"
    return blocks


def split_comment(line: str) -> tuple[str, str]:
    """A shell line's command and its comment: a `#` that starts a word outside quotes."""
    quote: str | None = None
    escaped = False
    for index, character in enumerate(line):
        if escaped:
            escaped = False
        elif character == "\\" and quote != "'":
            escaped = True
        elif quote is not None:
            if character == quote:
                quote = None
        elif character in "'\"":
            quote = character
        elif character == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1 :].strip()
    return line.rstrip(), ""


def commands(block: Block) -> list[Command]:
    """The block's commands: continued lines joined, blank lines dropped, comments split off."""
    found: list[Command] = []
    pending = ""
    for line in block.lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text, comment = split_comment(pending + line)
        pending = ""
        if text.strip():
            found.append(Command(text=text.strip(), comment=comment))
    assert not pending, "a command of the tour ends with a backslash"
    return found


def loopback_ports(text: str) -> list[int]:
    """The 127.0.0.1 ports the text names, each once, in order."""
    return list(dict.fromkeys(int(port) for port in loopback_port_pattern.findall(text)))


def replace_ports(text: str, ports: dict[int, int]) -> str:
    return loopback_port_pattern.sub(lambda match: f"127.0.0.1:{ports.get(int(match[1]), int(match[1]))}", text)


def served_url(command: str, directory: Path) -> str:
    """The URL a `tally serve HOME [--listen HOST:PORT]` command answers on: --listen, or the
    port HOME/config.json names."""
    words = shlex.split(command)
    arguments = words[words.index("serve") + 1 :]
    if "--listen" in arguments:
        return "http://" + arguments[arguments.index("--listen") + 1]
    home = next(word for word in arguments if not word.startswith("-"))
    config = json.loads((directory / home / "config.json").read_text())
    return f"http://{config['listen_host']}:{config['listen_port']}"


@dataclass(frozen=True)
class Outcome:
    command: str
    exit_status: int
    stdout: str
    stderr: str


@dataclass
class Background:
    command: str
    pid: int
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Shell:
    """One bash session in `directory`; its bookkeeping files go to `steps` (outside it)."""

    def __init__(self, directory: Path, steps: Path, environment: dict[str, str]) -> None:
        self.directory = directory
        self.steps = steps
        self.count = 0
        self._errors = open(steps / "shell.err", "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=self._errors,
            cwd=directory, env=environment, text=True, start_new_session=True,
        )
        self._send("set -m\n")

    def _send(self, script: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(script)
        self.process.stdin.flush()

    def _wait_for_file(self, path: Path, timeout_seconds: float, what: str) -> str:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if path.exists():
                return path.read_text()
            if self.process.poll() is not None:
                raise AssertionError(f"the shell exited ({self.process.returncode}) during: {what}")
            time.sleep(0.05)
        raise AssertionError(f"`{what}` did not finish within {timeout_seconds} s")

    def run(self, command: str, timeout_seconds: float) -> Outcome:
        """Run one command in the session (its variables stay set) and collect what it printed."""
        self.count += 1
        out, err, status = (self.steps / f"{self.count}.{name}" for name in ("out", "err", "status"))
        out_, err_, status_, part_ = (shlex.quote(str(path)) for path in (out, err, status, f"{status}.part"))
        # The status file appears whole (written, then renamed) once the command has finished.
        self._send(f"{{\n{command}\n}} >{out_} 2>{err_} </dev/null\necho $? >{part_}; mv {part_} {status_}\n")
        exit_status = int(self._wait_for_file(status, timeout_seconds, command))
        return Outcome(command, exit_status, out.read_text(errors="replace"), err.read_text(errors="replace"))

    def start(self, command: str) -> Background:
        """Start a command that stays running, as in its own terminal; its output goes to a log."""
        self.count += 1
        log, pid = self.steps / f"{self.count}.log", self.steps / f"{self.count}.pid"
        log_, pid_, part_ = (shlex.quote(str(path)) for path in (log, pid, f"{pid}.part"))
        self._send(f"{command} >{log_} 2>&1 </dev/null &\necho $! >{part_}; mv {part_} {pid_}\n")
        return Background(command, int(self._wait_for_file(pid, 10, command)), log)

    def interrupt(self, background: Background, timeout_seconds: float) -> int:
        """Ctrl-C: SIGINT to the command, then its exit status as the shell saw it."""
        try:
            os.kill(background.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        return self.run(f"wait {background.pid}", timeout_seconds).exit_status

    def close(self, timeout_seconds: float = shell_exit_timeout_seconds) -> None:
        """End the session: stdin closed, bash exits after its current command; one still running
        after `timeout_seconds` (a command that hangs) is killed with all it started."""
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # type: ignore[union-attr]
            except BrokenPipeError:
                pass
            try:
                self.process.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                killed = [*descendants(self.process.pid), self.process.pid]
                for pid in killed:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.process.wait()
                # SIGKILL is delivered, not done: on a busy machine a killed process runs
                # a moment longer before it exits, so wait until none of them is left.
                deadline = time.monotonic() + 10
                while any(is_running(pid) for pid in killed) and time.monotonic() < deadline:
                    time.sleep(0.02)
        self._errors.close()

    def kill(self, background: Background) -> None:
        """SIGKILL a command left running (after a failure); the shell, or init once it is gone, reaps it."""
        try:
            os.kill(background.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc). Job control gives each of the
    shell's commands its own process group, so the shell's group alone would miss them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state, past the name
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    waiting = list(children.get(pid, []))
    while waiting:
        child = waiting.pop()
        found.append(child)
        waiting.extend(children.get(child, []))
    return found


def is_running(pid: int) -> bool:
    """The process exists and is not a zombie (one killed whose parent has not reaped it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
