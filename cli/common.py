"""What every `tally` command shares: the command tree's classes, errors and exit statuses, output,
and the few reads and parsings several command groups make.

How this works: `TallyGroup` is the command tree (cli/main.py makes the root, `main`; each module of
commands defines its commands with `cls=TallyCommand` or its group with `cls=TallyGroup`, and
cli/main.py adds them). A `TallyCommand` also takes `--node` and `--key` after its name, their values
lifted to the one `Context`, and the root's `--json` where it has one of its own.

Every failure is one line on stderr, `tally: <code>: <message>`, and changes nothing. Each is a
typed error (`TallyError`): the node's refusals (`NodeRefused`, cli/client.py, with the node's own
code), a `Mistake` caught here before anything was sent, and the typed errors of the modules the
commands call. `exit_status` says which exit status one gets: 2 for a mistake in what was typed or
named (an option, a URL, an amount, a key file, a folder that is no home, a member or decision
that is not there, a node that does not answer), whose message says what to type instead; 1 for a
refusal: the node judged a signed action by the community's rules and refused it, or an offline
check found the log damaged. click's own usage errors are lines of the same shape (`TallyGroup`).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click
from rich.console import Console
from tallystick.ledger.money import format_money, parse_share
from tallystick.node.home import read_key
from tallystick.protocol.errors import LocalError, TallyError
from tallystick.protocol.ids import KeyPair, id_from_text

from .client import Client, NodeRefused
from .terminal import visible

Function = TypeVar("Function", bound=Callable[..., Any])
Money = Callable[[int], str]
console = Console()

# ---- errors and exit statuses ---------------------------------------------------------------------

# Exit statuses: a mistake in what was typed (what click itself uses for usage errors), and a refusal.
exit_mistake = 2
exit_refused = 1

# Errors raised in this process (before anything was signed or sent) that are the user's mistake:
# an amount, a name, an id, a URL, a key file, a home folder, a node that does not answer.
mistake_codes = frozenset(
    {"bad_amount", "malformed", "bad_id", "bad_name", "bad_url", "home", "key_file", "unreachable",
     "node_running", "wrong_recovery_key", "port_taken", "cluster_recorded", "no_cluster"}
)


class Mistake(LocalError):
    """A mistake in what was typed or pointed at, caught here before anything was sent: one line
    `tally: CODE: message` saying what to type instead, exit status 2, whatever its code."""

    code = "mistake"  # the class's; each mistake names its own (`exists`, `home`, `listen`, …)

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def exit_status(error: TallyError) -> int:
    """2 for a mistake in what was typed or named, 1 for a refusal by the node's rules (or a failed
    offline check)."""
    if isinstance(error, NodeRefused):
        # The node's code says what it refused, not whose mistake it was: that is what was asked.
        return exit_mistake if error.is_mistake else exit_refused
    if isinstance(error, Mistake) or error.code in mistake_codes:
        return exit_mistake
    return exit_refused


def one_line(code: str, message: str) -> str:
    """`tally: CODE: message`, on one line, every character a terminal would act on escaped."""
    return f"tally: {visible(code)}: {visible(' '.join(message.split()))}"


def _exits_cleanly(status_of: Callable[[TallyError], int]) -> Callable[[Function], Function]:
    def decorate(function: Function) -> Function:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except TallyError as error:
                click.echo(one_line(error.code, error.message), err=True)
                sys.exit(status_of(error))

        return wrapper  # type: ignore[return-value]

    return decorate


# A typed error becomes one line on stderr, with the exit status `exit_status` gives it.
refusals_exit_cleanly = _exits_cleanly(exit_status)
# The same, for commands where every refusal is about what the operator named (a folder, a peer),
# so a mistake to correct: exit 2 (`tally backup`, `tally resume`).
mistakes_exit_cleanly = _exits_cleanly(lambda error: exit_mistake)


# ---- output -----------------------------------------------------------------------------------------


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=None if not sys.stdout.isatty() else 2))


def example(*lines: str) -> str:
    """A command's help epilog: its examples, one a line, kept as written (click's \\b)."""
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


def count(number: int, thing: str) -> str:
    """'1 vote', '2 votes'."""
    return f"{number} {thing}{'' if number == 1 else 's'}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---- reads several commands make ----------------------------------------------------------------------


def money_of(client: Client) -> tuple[int, Money]:
    """The community's decimals, and a function writing minor units as people read them ("12.50 HRS")."""
    unit = client.community()["unit"]
    return unit["decimals"], lambda minor: format_money(minor, unit["decimals"], unit["code"])


def resolve_member(client: Client, reference: str) -> bytes:
    """A member of this community by its m_ id or its name."""
    if reference.startswith("m_"):
        return id_from_text("m", reference)
    return id_from_text("m", client.get(f"/api/members/{quote(reference, safe='')}")["id"])


def account_id(client: Client, reference: str) -> bytes:
    """A member or an enterprise account by id, or a member by name."""
    if reference.startswith("e_"):
        return id_from_text("e", reference)
    return resolve_member(client, reference)


# ---- parsing what was typed --------------------------------------------------------------------------

_duration_units_ms = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(text: str) -> int:
    """'90s', '10m', '2h', '7d' -> milliseconds."""
    number, unit = text[:-1], text[-1:]
    if unit not in _duration_units_ms or not number.isdigit() or int(number) == 0:
        raise click.BadParameter(f"{text!r}: write a duration like 90s, 10m, 2h or 7d")
    return int(number) * _duration_units_ms[unit]


def parse_percent_bp(text: str | None) -> int | None:
    """'66.67' or '66.67%' (percent), or '2/3' (a fraction) -> 6667 basis points."""
    if text is None:
        return None
    try:
        return parse_share(text)
    except TallyError as error:
        raise click.BadParameter(error.message) from None


# ---- the command tree ------------------------------------------------------------------------------


class Context:
    def __init__(self, node_url: str | None, key_path: str | None, as_json: bool = False) -> None:
        self.node_url = node_url
        self.key_path = key_path
        self.as_json = as_json

    def client(self) -> Client:
        if not self.node_url:
            raise click.UsageError("say which node: --node http://HOST:PORT (or set TALLY_NODE)")
        # With a key (--key or TALLY_KEY) every request is signed and read as that member's.
        return Client(self.node_url, self.key() if self.key_path else None)

    def key(self) -> KeyPair:
        if not self.key_path:
            raise click.UsageError("say whose key signs: --key FILE (or set TALLY_KEY)")
        path = Path(self.key_path)
        if path.is_dir():
            raise click.UsageError(f"{path} is a folder; give the key file: --key {path / 'admin.key'} or your own FILE.key")
        if not path.exists():
            raise click.UsageError(f"there is no key file {path}; make one with `tally key new {path}`, or give --key FILE")
        try:
            return read_key(path)
        except TallyError:
            raise click.UsageError(f"{path} is not a key file; give the file `tally key new` wrote, with --key FILE") from None


def _context_setter(attribute: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def store(context: click.Context, parameter: click.Parameter, value: Any) -> None:
        if value is not None:
            found = context.find_object(Context)
            if found is not None:
                setattr(found, attribute, value)

    return store


class TallyCommand(click.Command):
    """A command that also takes `--node` and `--key` after its name (their value goes to the one
    Context, as if they stood before it), and `--json` before its name where it has one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = {name for parameter in self.params for name in getattr(parameter, "opts", [])}
        for option, attribute, metavar in (("--node", "node_url", "URL"), ("--key", "key_path", "FILE")):
            if option not in names:
                self.params.append(click.Option(
                    [option], metavar=metavar, expose_value=False, hidden=True, is_eager=True,
                    callback=_context_setter(attribute),
                ))

    def invoke(self, context: click.Context) -> Any:
        found = context.find_object(Context)
        if found is not None and found.as_json:
            if "as_json" not in context.params:
                raise click.UsageError(f"`{context.command_path}` has no --json", ctx=context)
            context.params["as_json"] = True
        return super().invoke(context)


class TallyGroup(click.Group):
    """The command tree: every command a TallyCommand, every group a TallyGroup; every error one line."""

    command_class = TallyCommand
    group_class = type  # subgroups are TallyGroups too

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, *rest: Any, **extra: Any) -> Any:
        extra.pop("standalone_mode", None)
        try:
            code = super().main(args, prog_name or "tally", *rest, standalone_mode=False, **extra)
        except click.UsageError as error:
            where = error.ctx.command_path if error.ctx is not None else "tally"
            click.echo(f"tally: usage: {visible(' '.join(error.format_message().split()))} "
                       f"(see `{where} --help`)", err=True)
            sys.exit(exit_mistake)
        except click.ClickException as error:
            click.echo(one_line(getattr(error, "code", "error"), error.format_message()), err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("tally: stopped", err=True)
            sys.exit(exit_refused)
        except BrokenPipeError:
            # The reader went away (`tally log | head`): nothing more to say, and no traceback when
            # the interpreter flushes stdout on its way out.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(exit_refused)
        sys.exit(code if isinstance(code, int) else 0)
