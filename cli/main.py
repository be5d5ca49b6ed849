"""The `tally` command: operators and members.

How this works: click commands (docs/operator.md §12 lists them).
Commands that talk to a running node use `--node URL` (or TALLY_NODE) and sign with `--key FILE`
(or TALLY_KEY); offline commands take the home folder. `--node`, `--key` and `--json` may stand
before the command or after it: `TallyGroup` gives every command of the tree those options once,
lifting their values to the one `Context`. Every reading command takes `--json` and then prints
exactly one JSON document on stdout (amounts as integers of minor units, ids); people get tables
and lines with amounts in major units and the unit's code ("12.50 HRS").

Every failure is one line on stderr, `tally: <code>: <message>`, and changes nothing. Exit status 2
is a mistake in what was typed or named (an option, a URL, an amount, a key file, a folder that is
no home, a member or decision that is not there, a node that does not answer), and the message
says what to type instead; exit status 1 is a refusal: the node judged a signed action by the
community's rules and refused it, or an offline check found the log damaged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, get_args
from urllib.parse import quote

import click
from rich.console import Console
from tallystick.node.home import Home, NodeConfig, init_home, read_key, write_key
from tallystick.node.money import (
    format_ceiling,
    format_debit_limit,
    format_money,
    parse_amount,
    parse_share,
)
from tallystick.node.names import normalise_name
from tallystick.node.offline import rebuild_home, rotate_key, verify_home
from tallystick.protocol import limits
from tallystick.protocol.errors import MalformedError, TallyError
from tallystick.protocol.events import (
    AdmitMember,
    AllMembers,
    DeclareDividend,
    Delegate,
    Floor,
    Holders,
    PayAcross,
    ProposeWithPeriod,
    RebindKey,
    RecoverKey,
    RemoveMember,
    SetDefaultLimits,
    SetFloors,
    SetLevy,
    SetLimits,
    SetRole,
    SetRules,
    SetWithdrawalRule,
    Transfer,
    TreasuryPay,
    Undelegate,
    Vote,
)
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text
from tallystick.protocol.types import DecisionClass

from . import backup as backup_commands
from . import cluster as cluster_module
from . import federate
from . import federation as federation_commands
from . import shares as shares_commands
from .client import BadUrlError, Client, NodeRefused, check_node_url
from .keyfile import seal, unseal
from .terminal import Table, markup, visible

Function = TypeVar("Function", bound=Callable[..., Any])
console = Console()

# Exit statuses: a mistake in what was typed (what click itself uses for usage errors), and a refusal.
exit_mistake = 2
exit_refused = 1

# Errors raised in this process (before anything was signed or sent) that are the user's mistake:
# an amount, a name, an id, a URL, a key file, a home folder, a node that does not answer.
mistake_codes = frozenset(
    {"bad_amount", "malformed", "bad_id", "bad_name", "bad_url", "home", "key_file", "unreachable",
     "node_running", "wrong_recovery_key", "port_taken", "cluster_recorded", "no_cluster"}
)


class Mistake(click.ClickException):
    """A mistake in what was typed or pointed at, caught here before anything was sent: one line
    `tally: CODE: message` saying what to type instead, exit status 2."""

    exit_code = exit_mistake

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _one_line(code: str, message: str) -> str:
    return f"tally: {visible(code)}: {visible(' '.join(message.split()))}"


def refusals_exit_cleanly(function: Function) -> Function:
    """A typed error becomes one line on stderr: exit 2 for a mistake in what was typed or named,
    1 for a refusal by the node's rules (or a failed offline check)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except NodeRefused as error:
            # A read the node answers 4xx named something that is not there (a member, a decision,
            # an enterprise): a mistake. A signed intent it refuses was judged by the rules.
            mistake = not error.signed and 400 <= error.status < 500 and error.status != 429
            click.echo(_one_line(error.code, error.message), err=True)
            sys.exit(exit_mistake if mistake else exit_refused)
        except TallyError as error:
            click.echo(_one_line(error.code, error.message), err=True)
            sys.exit(exit_mistake if error.code in mistake_codes else exit_refused)

    return wrapper  # type: ignore[return-value]


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=None if not sys.stdout.isatty() else 2))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def example(*lines: str) -> str:
    """A command's help epilog: its examples, one a line, kept as written (click's \\b)."""
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


class Context:
    def __init__(self, node_url: str | None, key_path: str | None, as_json: bool = False) -> None:
        self.node_url = node_url
        self.key_path = key_path
        self.as_json = as_json

    def client(self) -> Client:
        if not self.node_url:
            raise click.UsageError("say which node: --node http://HOST:PORT (or set TALLY_NODE)")
        return Client(self.node_url)

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
            click.echo(_one_line(getattr(error, "code", "error"), error.format_message()), err=True)
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


def _version() -> str:
    # Imported here: importlib.metadata costs every other command a few hundredths of a second.
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("tallystick")
    except PackageNotFoundError:  # run from a tree that was never installed
        return "unknown"


top_help = """Tallystick: a community's mutual credit, as a signed, replicated log.

\b
Commands that talk to a running node need its URL and, to sign, a key file:
  --node URL   or TALLY_NODE=URL   e.g. http://127.0.0.1:7600
  --key FILE   or TALLY_KEY=FILE   a key file from `tally key new` (or a home's admin.key)
Both, and --json, may stand before the command or after it.

\b
--json: reading commands print one JSON document on stdout instead of a table: amounts are
integers of minor units (1250 for 12.50 in a unit of 2 decimals), ids in their text form.

\b
Every failure is one line on stderr, `tally: CODE: what to do`. Exit status 2: a mistake in what
was typed (an option, a URL, an amount, a file, a name that is not there); 1: the node refused
the action by the community's rules, or a check found damage; 0: done.
"""


@click.group(
    cls=TallyGroup, help=top_help, context_settings={"help_option_names": ["-h", "--help"]},
    epilog=example("tally init riverside --name Riverside --unit HRS --decimals 2 --debit-limit 100",
                   "tally serve riverside",
                   "tally --node http://127.0.0.1:7600 --key alice.key pay Bob 12.50",
                   "tally balance --node http://127.0.0.1:7600 --json"),
)
@click.option("--node", "node_url", envvar="TALLY_NODE", metavar="URL", help="The node's URL, e.g. http://127.0.0.1:7600 (TALLY_NODE).")
@click.option("--key", "key_path", envvar="TALLY_KEY", metavar="FILE", help="The key file that signs (TALLY_KEY).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout (commands that have --json).")
@click.version_option(_version(), "--version", prog_name="tally", message="%(prog)s %(version)s")
@click.pass_context
def main(context: click.Context, node_url: str | None, key_path: str | None, as_json: bool) -> None:
    context.obj = Context(node_url, key_path, as_json)


def _parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("write it as HOST:PORT, e.g. 127.0.0.1:7600")
    return host, int(port)


# ---- init and serve -----------------------------------------------------------------------------


@main.command(epilog=example(
    'tally init riverside --name "Riverside" --unit HRS --decimals 2 --debit-limit 100',
    'tally init hilltop --name "Hilltop" --unit HRS --decimals 2 --listen 127.0.0.1:7601 --json'))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The community's name.")
@click.option("--unit", "unit_code", required=True, help="The unit's code, e.g. HRS.")
@click.option("--decimals", type=click.IntRange(0, limits.unit_decimals_max), required=True)
@click.option("--debit-limit", default="0", show_default=True, help="Default debit limit, in major units.")
@click.option("--credit-ceiling", default=None, help="Default credit ceiling, in major units (default: the largest).")
@click.option("--admin-name", default="admin", show_default=True)
@click.option("--listen", default="127.0.0.1:7600", show_default=True, help="HOST:PORT written to the config.")
@click.option("--peer", "peers", multiple=True, metavar="URL", help="A peer's URL, written to the config.")
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def init(
    directory: Path,
    name: str,
    unit_code: str,
    decimals: int,
    debit_limit: str,
    credit_ceiling: str | None,
    admin_name: str,
    listen: str,
    peers: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create a node home: keys, config, database and the feed's genesis."""
    name = normalise_name(name, "the community's name")
    admin_name = normalise_name(admin_name, "the admin's name")
    host, port = _parse_listen(listen)
    debit = parse_amount(debit_limit, decimals, allow_zero=True)
    ceiling = parse_amount(credit_ceiling, decimals, allow_zero=True) if credit_ceiling else limits.amount_minor_max
    created = asyncio.run(
        init_home(
            directory,
            name=name,
            unit_code=unit_code.upper(),
            unit_decimals=decimals,
            debit_limit_minor=debit,
            credit_ceiling_minor=ceiling,
            now_ms=now_ms(),
            admin_name=admin_name,
            config=NodeConfig(listen_host=host, listen_port=port, peers=list(peers)),
        )
    )
    if as_json:
        print_json({"node": created.node, "admin": created.admin})
        return
    console.print(f"Created [bold]{markup(name)}[/] in {markup(str(directory))}")
    console.print(f"  node   {created.node}")
    console.print(f"  admin  {created.admin}  (key: {markup(str(directory / 'admin.key'))})")
    console.print(f"[yellow]Move {markup(str(directory / 'recovery.key'))} offline now[/]: it is how you rotate a lost node key.")
    console.print(f"Start it with: tally serve {markup(str(directory))}")


@main.command(epilog=example("tally serve riverside", "tally serve hilltop --peer http://127.0.0.1:7600"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--listen", default=None, help="HOST:PORT to listen on (default: from config.json).")
@click.option("--peer", "peers", multiple=True, metavar="URL", help="A peer's URL (adds to config.json's).")
@refusals_exit_cleanly
def serve(directory: Path, listen: str | None, peers: tuple[str, ...]) -> None:
    """Run the node: API, pages, timers. SIGTERM or Ctrl-C stops it cleanly."""
    home = Home(directory)
    config = home.config()
    changes: dict[str, Any] = {}
    if listen:
        changes["listen_host"], changes["listen_port"] = _parse_listen(listen)
    if peers:
        changes["peers"] = list(dict.fromkeys([*config.peers, *peers]))
    if changes:
        import msgspec

        config = msgspec.structs.replace(config, **changes)
    try:
        from tallystick.federation.service import (
            serve as serve_node,  # the server stack loads only for `serve`
        )

        asyncio.run(serve_node(home, config))
    except OSError as error:
        raise Mistake("listen", f"cannot listen on {config.listen_host}:{config.listen_port}: {error.strerror}; "
                                "choose another with --listen HOST:PORT") from None


# ---- keys ---------------------------------------------------------------------------------------


@main.group()
def key() -> None:
    """Member and node keys."""


@key.command("new", epilog=example("tally key new alice.key", "tally key new alice.key --json"))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def key_new(file: Path, as_json: bool) -> None:
    """Create a member key file (mode 0600); prints its member id."""
    if file.exists():
        raise Mistake("exists", f"{file} exists; a key file is never overwritten")
    pair = KeyPair.generate()
    write_key(file, pair)
    member_id = id_to_text("m", pair.public)
    print_json({"id": member_id}) if as_json else click.echo(member_id)


@key.command("show", epilog=example("tally key show alice.key"))
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def key_show(file: Path, as_json: bool) -> None:
    """Print the member id (and public key) of a key file; never the secret."""
    pair = read_key(file)
    document = {"id": id_to_text("m", pair.public), "key": id_to_text("k", pair.public)}
    print_json(document) if as_json else click.echo(document["id"])


@key.command("rebind", epilog=example(
    "tally key new alice-2.key",
    "tally --key alice.key key rebind alice-2.key   # from now on, sign with alice-2.key"))
@click.argument("new_file", metavar="NEW_KEY_FILE", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def key_rebind(context: Context, new_file: Path, as_json: bool) -> None:
    """Move your account to the key in NEW_KEY_FILE, signed with your current key (--key). The old
    key is retired for good. For a lost key, another member proposes --recover instead."""
    new = read_key(new_file)
    client = context.client()
    appended = client.submit(context.key(), RebindKey(new_key=new.public))
    print_json(appended) if as_json else click.echo(
        f"your account now answers to {visible(str(new_file))} (seq {appended['seq']}); the old key is retired")


def _passphrase(confirm: bool) -> str:
    from_environment = os.environ.get("TALLY_PASSPHRASE")
    if from_environment:
        return from_environment
    if not sys.stdin.isatty():
        raise click.UsageError("no passphrase: set TALLY_PASSPHRASE, or run this in a terminal to be asked for one")
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


@key.command("export", epilog=example(
    "TALLY_PASSPHRASE=... tally key export riverside riverside-node.sealed   # a home: its node.key",
    "tally key export alice.key alice.sealed                               # a member key file"))
@click.argument("key_file", type=click.Path(path_type=Path, exists=True, dir_okay=True))
@click.argument("out", type=click.Path(path_type=Path))
@refusals_exit_cleanly
def key_export(key_file: Path, out: Path) -> None:
    """Write KEY_FILE (or a home's node.key) to OUT encrypted under a passphrase (TALLY_PASSPHRASE or prompt)."""
    if key_file.is_dir():
        Home(key_file).check()
    source = key_file / "node.key" if key_file.is_dir() else key_file
    if out.exists():
        raise Mistake("exists", f"{out} exists; choose a new file")
    sealed = seal(read_key(source), _passphrase(confirm=True))
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(sealed)
    click.echo(f"exported {source} to {out}", err=True)


def _import_target(target: Path) -> Path:
    """Where `key import` writes: a home folder's node.key, or a member key file named FILE.key.
    Anything else is refused before the passphrase is asked, so nothing is written where a
    restore would not find it (a file named `riverside` beside the home)."""
    if target.is_dir():
        home = Home(target)
        if not home.config_path.exists() or not home.database_path.exists():
            raise Mistake("home",
                f"{target} is a folder but no node home (a home holds config.json and tally.db); "
                f"import a node key into its home: tally key import EXPORT HOME_DIR")
        if home.node_key_path.exists():
            raise Mistake("exists", f"{home.node_key_path} exists; move it away first")
        return home.node_key_path
    if target.suffix != ".key":
        raise Mistake("home",
            f"{target} is no home folder; import a node key into its home: tally key import EXPORT HOME_DIR, "
            f"or a member key into a new file: tally key import EXPORT {target.name}.key")
    if target.exists():
        raise Mistake("exists", f"{target} exists; move it away first")
    if not target.parent.is_dir():
        raise Mistake("home", f"there is no folder {target.parent} to hold {target.name}")
    return target


@key.command("import", epilog=example(
    "tally key import riverside-node.sealed riverside   # into the home: writes riverside/node.key",
    "tally key import alice.sealed alice.key            # a member key file"))
@click.argument("exported", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("target", metavar="HOME_DIR|FILE.key", type=click.Path(path_type=Path))
@refusals_exit_cleanly
def key_import(exported: Path, target: Path) -> None:
    """Decrypt EXPORTED (from `tally key export`) into a home folder's node.key, or into a new
    member key file FILE.key. A path that is neither a home folder nor ends in .key is refused."""
    destination = _import_target(target)
    pair = unseal(exported.read_bytes(), _passphrase(confirm=False))
    write_key(destination, pair)
    click.echo(f"imported key {id_to_text('k', pair.public)} into {destination}", err=True)


@key.command("rotate", epilog=example("tally key rotate riverside --recovery /media/usb/recovery.key   # node stopped"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--recovery", "recovery_file", required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def key_rotate(directory: Path, recovery_file: Path, as_json: bool) -> None:
    """Move the feed to a new signing key (node stopped), signed by the recovery key."""
    rotated = asyncio.run(rotate_key(Home(directory), recovery_file, now_ms()))
    if as_json:
        print_json({"seq": rotated.seq, "signing_key": rotated.signing_key, "recovery_key_file": rotated.recovery_key_file})
        return
    console.print(f"Rotated at seq {rotated.seq}; the node now signs with {rotated.signing_key}.")
    console.print(f"[yellow]Move the new {rotated.recovery_key_file} offline now.[/]")


# ---- members and payments -----------------------------------------------------------------------


def _member_id(client: Client, reference: str) -> bytes:
    if reference.startswith("m_"):
        return id_from_text("m", reference)
    return id_from_text("m", client.get(f"/api/members/{quote(reference, safe='')}")["id"])


@main.group()
def member() -> None:
    """Admit and remove members, and make them admins."""


@member.command("add", epilog=example(
    "tally key new alice.key        # Alice makes her key and tells you the m_... id it prints",
    "tally --key riverside/admin.key member add m_... --name Alice"))
@click.argument("member_id")
@click.option("--name", required=True)
@click.option("--admin", "make_admin", is_flag=True, help="Admit as an admin.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def member_add(context: Context, member_id: str, name: str, make_admin: bool, as_json: bool) -> None:
    """Admit MEMBER_ID (from `tally key new`) under NAME (admin)."""
    # The rules refuse a name that is not in its normal form: normalise what was typed before signing it.
    name = normalise_name(name, "the member's name")
    action = AdmitMember(member=id_from_text("m", member_id), name=name, role="admin" if make_admin else "member")
    appended = context.client().submit(context.key(), action)
    print_json(appended) if as_json else click.echo(f"admitted {visible(name)} at seq {appended['seq']}")


@member.command("remove", epilog=example("tally --key riverside/admin.key member remove Alice"))
@click.argument("member_ref", metavar="MEMBER")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def member_remove(context: Context, member_ref: str, as_json: bool) -> None:
    """Close MEMBER's account, by name or m_ id (admin; its balance must be zero)."""
    client = context.client()
    appended = client.submit(context.key(), RemoveMember(member=_member_id(client, member_ref)))
    print_json(appended) if as_json else click.echo(f"removed {visible(member_ref)} at seq {appended['seq']}")


@member.command("role", epilog=example(
    "tally --key riverside/admin.key member role Alice admin",
    "tally --key riverside/admin.key member role Alice member"))
@click.argument("member_ref", metavar="MEMBER")
@click.argument("role", type=click.Choice(["admin", "member"]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def member_role(context: Context, member_ref: str, role: str, as_json: bool) -> None:
    """Make MEMBER (name or m_ id) an admin, or a member again (admin; the last admin stays one)."""
    client = context.client()
    appended = client.submit(context.key(), SetRole(member=_member_id(client, member_ref), role=role))  # type: ignore[arg-type]
    print_json(appended) if as_json else click.echo(f"{visible(member_ref)} is now {role} (seq {appended['seq']})")


@main.command("limits", epilog=example(
    "tally --key riverside/admin.key limits Alice --debit-limit 250 --credit-ceiling 1000",
    "tally --key riverside/admin.key limits Alice --debit-limit default",
    "tally --key riverside/admin.key limits --default --debit-limit 100 --credit-ceiling none"))
@click.argument("account", required=False)
@click.option("--default", "community_default", is_flag=True, help="Set the community's default limits instead.")
@click.option("--debit-limit", default=None, help="Major units; for an account also 'default'.")
@click.option("--credit-ceiling", default=None, help="Major units, or 'none' (no ceiling); for an account also 'default'.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def limits_set(
    context: Context, account: str | None, community_default: bool, debit_limit: str | None,
    credit_ceiling: str | None, as_json: bool,
) -> None:
    """Set ACCOUNT's debit limit and credit ceiling, or with --default the community's default limits,
    which every account without its own follows (admin). An option left out keeps its value."""
    if community_default == (account is not None):
        raise click.UsageError("name one ACCOUNT, or give --default for the community's default limits")
    if debit_limit is None and credit_ceiling is None:
        raise click.UsageError("give --debit-limit AMOUNT, --credit-ceiling AMOUNT, or both")
    client = context.client()
    community = client.get("/api/community")
    decimals, unit = community["unit"]["decimals"], community["unit"]["code"]

    def value(text: str | None, current_minor: int | None, allow_default: bool) -> int | None:
        if text is None:
            return current_minor
        if text == "default" and allow_default:
            return None
        if text == "none":
            return limits.amount_minor_max
        return parse_amount(text, decimals, allow_zero=True)

    if community_default:
        debit = value(debit_limit, community["debit_limit"], False)
        ceiling = value(credit_ceiling, community["credit_ceiling"], False)
        assert debit is not None and ceiling is not None  # allow_default=False never gives None
        appended = client.submit(context.key(), SetDefaultLimits(debit_limit_minor=debit, credit_ceiling_minor=ceiling))
        what = "the community's default limits"
    else:
        member_id = _member_id(client, account or "")
        current = client.get("/api/balances", account=id_to_text("m", member_id))[0]
        # An option left out keeps the account's limit as it stands (the API gives the limits in force).
        debit = value(debit_limit, current["debit_limit"], True)
        ceiling = value(credit_ceiling, current["credit_ceiling"], True)
        appended = client.submit(context.key(), SetLimits(account=member_id, debit_limit_minor=debit,
                                                          credit_ceiling_minor=ceiling))
        what = f"{account}'s limits"
    if as_json:
        print_json(appended)
        return
    shown_debit = "the default" if debit is None else format_debit_limit(debit, decimals, unit)
    shown_ceiling = "the default" if ceiling is None else format_ceiling(ceiling, decimals, unit)
    click.echo(f"{visible(what)}: debit limit {shown_debit}, credit ceiling {shown_ceiling} (seq {appended['seq']})")


@main.command(epilog=example(
    "tally --key alice.key pay Bob 12.50 --memo apples",
    "tally pay Bob 12.50 --node http://127.0.0.1:7600 --key alice.key --json",
    "tally --key alice.key pay Carol@http://127.0.0.1:7601 5.00    # a member of another community"))
@click.argument("to")
@click.argument("amount")
@click.option("--memo", default="", help=f"Up to {limits.memo_chars_max} characters.")
@click.option("--federation", default=None, help="For ID@NODE_URL: the federation to pay through (default: the lowest above both communities).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def pay(context: Context, to: str, amount: str, memo: str, federation: str | None, as_json: bool) -> None:
    """Pay TO (a member id or name; or MEMBER@NODE_URL, or m_ID@n_COMMUNITY while that node is
    down, for a member of another community in a shared federation) AMOUNT in major units, signed
    with --key."""
    client = context.client()
    community = client.get("/api/community")
    decimals = community["unit"]["decimals"]
    minor = parse_amount(amount, decimals)
    if len(memo) > limits.memo_chars_max:
        raise MalformedError(f"a memo has at most {limits.memo_chars_max} characters; this one has {len(memo)}")
    if "@" in to:
        member_ref, _, where = to.partition("@")
        if where.startswith("n_"):
            # The other community by its id: works while its node is down (the payment waits).
            if not member_ref.startswith("m_"):
                raise click.UsageError("with a community's n_ id, name the member by their m_ id: m_…@n_…")
            to_community, to_member = where, member_ref
        else:
            try:
                other = Client(where)
            except BadUrlError:
                raise click.UsageError(
                    f"{where!r} after @ is not a node's URL: pay {member_ref}@http://HOST:PORT (the other community's "
                    f"node), or m_ID@n_COMMUNITY while it is down; a member here is paid by name: pay {member_ref}"
                ) from None
            to_community = other.get("/api/community")["node"]
            to_member = other.get(f"/api/members/{quote(member_ref, safe='')}")["id"]
        meeting = federate.meeting(client.get("/api/federations"), community["node"], to_community, federation)
        if meeting is None:
            raise Mistake("no_federation",
                f"this community and {where} are under no common federation"
                + (f" named {federation}" if federation else "") + "; a payment across needs one above both")
        shared = [meeting]
        action = PayAcross(federation=id_from_text("x", shared[0]["id"]), to_community=id_from_text("n", to_community),
                           to_member=id_from_text("m", to_member), amount_minor=minor, memo=memo)
        appended = client.submit(context.key(), action)
        if as_json:
            print_json({"payment": appended["hash"], **appended})
        else:
            click.echo(f"sent {visible(format_money(minor, decimals, community['unit']['code']))} to {visible(to)} through "
                       f"{visible(shared[0]['name'])} (payment {appended['hash']}); `tally payments` shows when it settles")
        return
    appended = client.submit(context.key(), Transfer(to=_member_id(client, to), amount_minor=minor, memo=memo))
    if as_json:
        print_json(appended)
    else:
        click.echo(f"paid {visible(format_money(minor, decimals, community['unit']['code']))} to {visible(to)} (seq {appended['seq']})")


@main.command(epilog=example("tally payments", "tally payments --all --json"))
@click.option("--all", "everything", is_flag=True, help="Every payment this node holds, not only this community's.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def payments(context: Context, everything: bool, as_json: bool) -> None:
    """Payments across communities: pending, accepted, settled, rejected, returned or expired."""
    client = context.client()
    rows = client.get("/api/payments", mine=None if everything else "1")
    if as_json:
        print_json(rows)
        return
    community = client.get("/api/community")
    own, decimals, unit = community["node"], community["unit"]["decimals"], community["unit"]["code"]
    # Names: this community's accounts, and the communities of every federation this node holds.
    member_names = {row["account"]: row["name"] for row in client.get("/api/balances")}
    community_names = {own: community["name"]}
    community_units: dict[str, str] = {}
    for federation in client.get("/api/federations"):
        for seat in federation["members"]:
            community_names.setdefault(seat["member"], seat["name"] or seat["member"][:12] + "…")
            community_units.setdefault(seat["member"], seat.get("unit_code") or "")

    def amount(minor: int | None, where: str, row_unit: Any) -> str:
        if minor is None:
            return ""
        if isinstance(row_unit, dict) and "code" in row_unit and "decimals" in row_unit:
            return format_money(minor, row_unit["decimals"], row_unit["code"])
        if where == own:
            return format_money(minor, decimals, unit)
        # Another community's unit, where the row does not carry its decimals.
        return f"{minor} minor units of {community_units.get(where) or 'its unit'}"

    def party(community_id: str, member: str, known: str | None) -> str:
        name = known or (member_names.get(member) if community_id == own else None)
        return f"{name or member[:12] + '…'} of {community_names.get(community_id, community_id[:12] + '…')}"

    table = Table()
    for column in ("payment", "status", "from", "to", "amount", "received", "memo"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["id"][:14] + "…", row["status"] + (f" ({row['reason']})" if row["reason"] else ""),
                      party(row["from_community"], row["payer"], row.get("payer_name")),
                      party(row["to_community"], row["to_member"], row.get("to_member_name")),
                      amount(row["amount"], row["from_community"], row.get("from_unit")),
                      amount(row["received"], row["to_community"], row.get("to_unit")),
                      row["memo"][:30])
    console.print(table)


# ---- decisions ----------------------------------------------------------------------------------

_duration_units_ms = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _parse_duration_ms(text: str) -> int:
    """'90s', '10m', '2h', '7d' -> milliseconds."""
    number, unit = text[:-1], text[-1:]
    if unit not in _duration_units_ms or not number.isdigit() or int(number) == 0:
        raise click.BadParameter(f"{text!r}: write a duration like 90s, 10m, 2h or 7d")
    return int(number) * _duration_units_ms[unit]


def _parse_percent_bp(text: str | None) -> int | None:
    """'66.67' or '66.67%' (percent), or '2/3' (a fraction) -> 6667 basis points."""
    if text is None:
        return None
    try:
        return parse_share(text)
    except TallyError as error:
        raise click.BadParameter(error.message) from None


_decision_classes: tuple[str, ...] = get_args(DecisionClass)


def _parse_floor(text: str) -> Floor:
    """'rules:50:2/3:72h' -> the floor of a decision class: its least quorum, threshold and period."""
    parts = text.split(":")
    if len(parts) != 4 or parts[0] not in _decision_classes:
        raise click.BadParameter(
            f"{text!r}: write CLASS:QUORUM:THRESHOLD:PERIOD, e.g. rules:50:2/3:72h, with CLASS one of "
            + ", ".join(_decision_classes))
    period = 0 if parts[3] in ("0", "0s") else _parse_duration_ms(parts[3])
    return Floor(decision_class=parts[0], quorum_bp=_parse_percent_bp(parts[1]) or 0,  # type: ignore[arg-type]
                 threshold_bp=_parse_percent_bp(parts[2]) or 0, period_ms=period)


def _effect(
    client: Client, admit: str | None, name: str | None, remove: str | None, recover: str | None,
    new_key: str | None, set_limits: str | None, default_limits: bool, debit_limit: str | None,
    credit_ceiling: str | None, admission: str | None, default_quorum: str | None, default_threshold: str | None,
    levy: str | None = None, levy_min: str | None = None, levy_max: str | None = None,
    treasury_pay: str | None = None, amount: str | None = None, memo: str = "", floors: tuple[str, ...] = (),
) -> Any:
    chosen = [admit, remove, recover, set_limits, default_limits or None, admission, levy, treasury_pay, floors or None]
    if sum(option is not None for option in chosen) > 1:
        raise click.UsageError("a decision has at most one effect")
    if admit is not None:
        if not name:
            raise click.UsageError("--admit needs --name")
        return AdmitMember(member=id_from_text("m", admit), name=normalise_name(name, "the member's name"))
    if remove is not None:
        return RemoveMember(member=_member_id(client, remove))
    if recover is not None:
        if not new_key:
            raise click.UsageError("--recover needs --new-key (the member's new key id, from `tally key new`)")
        return RecoverKey(member=_member_id(client, recover), new_key=id_from_text("m", new_key))
    if set_limits is not None or default_limits:
        if debit_limit is None or credit_ceiling is None:
            raise click.UsageError("limits need both --debit-limit and --credit-ceiling")
        decimals = client.get("/api/community")["unit"]["decimals"]
        debit = parse_amount(debit_limit, decimals, allow_zero=True)
        ceiling = parse_amount(credit_ceiling, decimals, allow_zero=True)
        if default_limits:
            return SetDefaultLimits(debit_limit_minor=debit, credit_ceiling_minor=ceiling)
        return SetLimits(account=_member_id(client, set_limits or ""), debit_limit_minor=debit, credit_ceiling_minor=ceiling)
    if treasury_pay is not None:
        if amount is None:
            raise click.UsageError("--treasury-pay needs --amount")
        decimals = client.get("/api/community")["unit"]["decimals"]
        return TreasuryPay(to=_member_id(client, treasury_pay), amount_minor=parse_amount(amount, decimals), memo=memo)
    if levy is not None:
        decimals = client.get("/api/community")["unit"]["decimals"]
        return SetLevy(
            rate_bp=_parse_percent_bp(levy),  # type: ignore[arg-type]
            min_minor=parse_amount(levy_min or "0", decimals, allow_zero=True),
            max_minor=parse_amount(levy_max, decimals, allow_zero=True) if levy_max else limits.amount_minor_max,
        )
    if floors:
        return SetFloors(floors=tuple(_parse_floor(text) for text in floors))
    if admission is not None:
        return SetRules(
            admission=admission,  # type: ignore[arg-type]
            quorum_bp=_parse_percent_bp(default_quorum) if default_quorum else 5000,  # type: ignore[arg-type]
            threshold_bp=_parse_percent_bp(default_threshold) if default_threshold else 6667,  # type: ignore[arg-type]
        )
    return None


@main.command(epilog=example(
    'tally --key alice.key propose "Admit Carol" --admit m_... --name Carol --closes-in 2d',
    'tally --key alice.key propose "Picnic day" --type poll --option Saturday --option Sunday --closes-in 1h',
    'tally --key alice.key propose "A 1% levy" --type consent --levy 1 --levy-max 1.00'))
@click.argument("title")
@click.option("--text", default="", help=f"What is proposed and why (up to {limits.decision_text_chars_max} characters).")
@click.option("--type", "decision_type", type=click.Choice(["proposal", "poll", "consent"]), default="proposal", show_default=True)
@click.option("--option", "options", multiple=True, help="A poll's option (repeat; at least two).")
@click.option("--multiple", is_flag=True, help="A poll where each member may choose several options.")
@click.option("--ranked", is_flag=True, help="A poll where members rank options, best first (Borda count).")
@click.option("--topic", default="", help="The topic, for delegations per topic.")
@click.option("--closes-in", default="7d", show_default=True, help="How long it stays open: 90s, 10m, 2h, 7d.")
@click.option("--quorum", default=None, help="Share of members who must take part: a percent (50) or a fraction (1/2); default: the community's rule.")
@click.option("--threshold", default=None, help="Share of agree among agree+disagree to pass (proposals): 66.67 or 2/3.")
@click.option("--admit", default=None, metavar="ID", help="Effect: admit this member id (with --name).")
@click.option("--name", default=None, help="The name of the member --admit admits.")
@click.option("--remove", default=None, metavar="MEMBER", help="Effect: close this member's account.")
@click.option("--recover", default=None, metavar="MEMBER", help="Effect: re-bind this member's account to --new-key.")
@click.option("--new-key", default=None, metavar="ID", help="The new key's id for --recover.")
@click.option("--set-limits", default=None, metavar="MEMBER", help="Effect: set this account's limits.")
@click.option("--default-limits", is_flag=True, help="Effect: set the community's default limits.")
@click.option("--debit-limit", default=None, help="Major units, with --set-limits or --default-limits.")
@click.option("--credit-ceiling", default=None, help="Major units, with --set-limits or --default-limits.")
@click.option("--admission", type=click.Choice(["admin", "decision"]), default=None, help="Effect: set the community's rules.")
@click.option("--default-quorum", default=None, help="With --admission: the default quorum, percent.")
@click.option("--default-threshold", default=None, help="With --admission: the default threshold, percent.")
@click.option("--levy", default=None, metavar="PCT", help="Effect: a levy on payments, percent (0 turns it off).")
@click.option("--levy-min", default=None, help="With --levy: the least levy per payment, major units.")
@click.option("--levy-max", default=None, help="With --levy: the most levy per payment, major units.")
@click.option("--holders", default=None, metavar="ENTERPRISE", help="Decided by ENTERPRISE's holders, weighted by votes per share.")
@click.option("--dividend", default=None, metavar="AMOUNT", help="With --holders: declare a dividend of AMOUNT (major units).")
@click.option("--withdrawal-notice", default=None, help="With --holders: set the withdrawal notice (e.g. 30d, or 0s).")
@click.option("--withdrawal-cap", default=None, help="With --holders and --withdrawal-notice: the yearly cap, major units (0: none).")
@click.option("--treasury-pay", default=None, metavar="MEMBER", help="Effect: the treasury pays MEMBER --amount.")
@click.option("--floor", "floors", multiple=True, metavar="CLASS:QUORUM:THRESHOLD:PERIOD",
              help="Effect: set a decision class's floor, e.g. rules:50:2/3:72h (repeat for more classes).")
@click.option("--amount", default=None, help="With --treasury-pay: major units.")
@click.option("--memo", default="", help="With --treasury-pay: what it is for.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def propose(
    context: Context, title: str, text: str, decision_type: str, options: tuple[str, ...], multiple: bool,
    ranked: bool, topic: str,
    closes_in: str, quorum: str | None, threshold: str | None, admit: str | None, name: str | None,
    remove: str | None, recover: str | None, new_key: str | None, set_limits: str | None, default_limits: bool,
    debit_limit: str | None, credit_ceiling: str | None, admission: str | None, default_quorum: str | None,
    default_threshold: str | None, levy: str | None, levy_min: str | None, levy_max: str | None,
    holders: str | None, dividend: str | None, withdrawal_notice: str | None, withdrawal_cap: str | None,
    treasury_pay: str | None, amount: str | None, floors: tuple[str, ...], memo: str, as_json: bool,
) -> None:
    """Open a decision titled TITLE; members vote with `tally vote`, and the node closes it at its
    deadline and applies its effect if it passed. `--json` prints its `id`, `seq` and `hash`."""
    client = context.client()
    if len(title) > limits.decision_title_chars_max or len(text) > limits.decision_text_chars_max:
        raise MalformedError(
            f"a title has at most {limits.decision_title_chars_max} characters and a text {limits.decision_text_chars_max}"
        )
    effect = _effect(client, admit, name, remove, recover, new_key, set_limits, default_limits, debit_limit,
                     credit_ceiling, admission, default_quorum, default_threshold, levy, levy_min, levy_max,
                     treasury_pay, amount, memo, floors)
    electorate: Any = AllMembers()
    if holders is not None:
        enterprise = shares_commands.enterprise_id(client, holders)
        electorate = Holders(enterprise=enterprise)
        if effect is not None:
            raise click.UsageError("a holders' decision can declare a dividend or set the withdrawal rule, nothing else")
        if dividend is not None and withdrawal_notice is not None:
            raise click.UsageError("a decision has at most one effect")
        decimals = client.get("/api/community")["unit"]["decimals"]
        if dividend is not None:
            effect = DeclareDividend(enterprise=enterprise, amount_minor=parse_amount(dividend, decimals))
        elif withdrawal_notice is not None:
            notice = 0 if withdrawal_notice in ("0", "0s") else _parse_duration_ms(withdrawal_notice)
            cap = parse_amount(withdrawal_cap or "0", decimals, allow_zero=True)
            effect = SetWithdrawalRule(enterprise=enterprise, notice_ms=notice, yearly_cap_minor=cap)
    elif dividend is not None or withdrawal_notice is not None:
        raise click.UsageError("--dividend and --withdrawal-notice need --holders ENTERPRISE")
    # A voting period, not a deadline: it runs from the event's own time, so a period of exactly a
    # floor meets it, and neither this machine's clock nor a jump in the log can make it late.
    action = ProposeWithPeriod(
        decision_type=decision_type,  # type: ignore[arg-type]
        title=title,
        text=text,
        deadline_ms=0,
        voting_period_ms=_parse_duration_ms(closes_in),
        topic=topic,
        options=tuple(normalise_name(option, f"option {index}") for index, option in enumerate(options)),
        multiple=multiple,
        ranked=ranked,
        quorum_bp=_parse_percent_bp(quorum),
        threshold_bp=_parse_percent_bp(threshold),
        electorate=electorate,
        effect=effect,
    )
    appended = client.submit(context.key(), action)
    if as_json:
        print_json({"id": appended["seq"], **appended})
    else:
        seq = appended["seq"]
        if decision_type != "poll":
            click.echo(f"decision {seq} is open: vote with `tally vote {seq} agree` (or disagree, abstain, block)")
            return
        how = "rank options, best first" if ranked else "choose one or more options" if multiple else "choose one option"
        click.echo(f"poll {seq} is open; {how} by number:")
        for index, option in enumerate(action.options):
            click.echo(f"  {index}  {visible(option)}")
        several = " ".join(str(index) for index in range(min(2, len(action.options))))
        click.echo(f"vote with `tally vote {seq} {several if ranked or multiple else '0'}` (or abstain)")


@main.command(epilog=example("tally --key alice.key vote 12 agree", "tally --key alice.key vote 13 1      # a poll: option 1",
                             "tally --key alice.key vote 14 2 0    # a ranked poll: option 2, then 0"))
@click.argument("decision", type=click.IntRange(1))
@click.argument("choice", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def vote(context: Context, decision: int, choice: tuple[str, ...], as_json: bool) -> None:
    """Vote on DECISION: agree, abstain, disagree or block; in a poll, option numbers (0, 1, …)
    or abstain. A later vote replaces your earlier one."""
    if len(choice) == 1 and choice[0] in ("agree", "abstain", "disagree", "block"):
        action = Vote(decision=decision, position=choice[0])  # type: ignore[arg-type]
    elif all(item.isdigit() for item in choice):
        action = Vote(decision=decision, options=tuple(int(item) for item in choice))
    else:
        raise click.UsageError("vote agree, abstain, disagree or block; in a poll, option numbers "
                               "(`tally decisions DECISION` lists them)")
    appended = context.client().submit(context.key(), action)
    print_json(appended) if as_json else click.echo(f"voted on decision {decision} (seq {appended['seq']})")


@main.command(epilog=example("tally --key alice.key delegate Bob", "tally --key alice.key delegate Bob --topic garden",
                             "tally --key alice.key delegate --undo"))
@click.argument("to", required=False)
@click.option("--topic", default="", help="Only decisions of this topic (default: every topic without its own).")
@click.option("--undo", is_flag=True, help="Take the delegation for --topic back.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def delegate(context: Context, to: str | None, topic: str, undo: bool, as_json: bool) -> None:
    """Let member TO vote for you when you do not vote yourself; `--undo` takes it back."""
    client = context.client()
    if undo:
        action: Any = Undelegate(topic=topic)
    elif to is None:
        raise click.UsageError("say to whom: tally delegate MEMBER [--topic T], or --undo")
    else:
        action = Delegate(to=_member_id(client, to), topic=topic)
    appended = client.submit(context.key(), action)
    print_json(appended) if as_json else click.echo(f"{'undelegated' if undo else 'delegated'} (seq {appended['seq']})")


def _time_left(ms: int) -> str:
    seconds = ms // 1000
    if seconds >= 86_400:
        return f"{seconds // 86_400}d {seconds % 86_400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 60}m {seconds % 60}s"


@main.command(epilog=example("tally decisions --open", "tally decisions 12", "tally decisions --json"))
@click.argument("decision", type=click.IntRange(1), required=False)
@click.option("--open", "open_only", is_flag=True, help="Only decisions still open.")
@click.option("--limit", type=click.IntRange(1, limits.page_size_max), default=limits.page_size_default, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def decisions(context: Context, decision: int | None, open_only: bool, limit: int, as_json: bool) -> None:
    """Decisions, newest first, with their live tally and time left (or one DECISION with its votes)."""
    client = context.client()
    if decision is not None:
        rows = [client.get(f"/api/decisions/{decision}")]
    else:
        rows = client.get("/api/decisions", open="1" if open_only else None, limit=limit)
    if as_json:
        print_json(rows[0] if decision is not None else rows)
        return
    table = Table()
    for column in ("id", "type", "title", "status", "tally", "time left"):
        table.add_column(column)
    for row in rows:
        counted = row["tally"]
        if row["type"] == "poll":
            summary = ", ".join(f"{index} {option}: {count}" for index, (option, count)
                                in enumerate(zip(row["options"], counted["option_counts"], strict=True)))
        else:
            summary = " ".join(f"{position}:{count}" for position, count in counted["positions"].items() if count)
        summary += f" ({counted['participants']}/{counted['electorate']} voting)"
        status = f"open, now {counted['outcome']}" if row["open"] else row["outcome"]
        table.add_row(str(row["id"]), row["type"], row["title"][:40], status, summary,
                      _time_left(row["time_left_ms"]) if row["open"] else "closed")
    console.print(table)
    if decision is not None and rows[0]["type"] == "poll":
        shown = rows[0]
        for index, (option, count) in enumerate(zip(shown["options"], shown["tally"]["option_counts"], strict=True)):
            click.echo(f"  {index}  {visible(option)}: {count}")
        if shown["open"]:
            click.echo(f"vote with `tally vote {shown['id']} NUMBER`" + (" ..., best first" if shown.get("ranked") else ""))


# ---- reading ------------------------------------------------------------------------------------


@main.command(epilog=example("tally balance", "tally balance Alice", "tally balance --json"))
@click.argument("account", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def balance(context: Context, account: str | None, as_json: bool) -> None:
    """Balances and limits of every account, or of ACCOUNT (id or name)."""
    client = context.client()
    rows = client.get("/api/balances", account=account)
    if as_json:
        print_json([{k: row[k] for k in ("account", "name", "balance", "debit_limit", "credit_ceiling")} for row in rows])
        return
    community = client.get("/api/community")
    decimals, unit = community["unit"]["decimals"], community["unit"]["code"]
    table = Table(title=f"{community['name']} ({unit})")
    for column in ("name", "account"):
        table.add_column(column)
    for column in ("balance", "debit limit", "credit ceiling"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["name"] + ("" if row["active"] else " (left)"),
            row["account"][:14] + "…",
            format_money(row["balance"], decimals, unit),
            format_debit_limit(row["debit_limit"], decimals, unit),
            format_ceiling(row["credit_ceiling"], decimals, unit),
        )
    console.print(table)


class _Names:
    """Who is who in a log, for people: account names by id, and the member a key belongs to."""

    def __init__(self, client: Client) -> None:
        self.accounts = {row["account"]: row["name"] for row in client.get("/api/balances")}
        self.keys = {row["key"]: row["id"] for row in client.get("/api/members")}

    def of(self, member: Any) -> str:
        if not isinstance(member, str):
            return str(member)
        return self.accounts.get(member) or member[:14] + "…"

    def signer(self, body: dict[str, Any]) -> str:
        if body.get("signer_name"):
            return str(body["signer_name"])
        key = body["intent"]["key"]
        # A key never re-bound is the member's own id (the same 32 bytes, another prefix).
        member = self.keys.get(key) or "m_" + key.removeprefix("k_")
        return self.of(member)


def _describe_action(action: dict[str, Any], names: _Names, money: Callable[[int], str]) -> str:
    """One act of the log as a line a member reads: names for ids, amounts in major units."""
    kind = action["kind"]
    memo = f' "{action["memo"]}"' if action.get("memo") else ""
    if kind == "transfer":
        return f"paid {names.of(action['to'])} {money(action['amount_minor'])}{memo}"
    if kind == "admit":
        return f"admitted {action['name']} as {action.get('role', 'member')}"
    if kind == "remove":
        return f"removed {names.of(action['member'])}"
    if kind == "set_role":
        return f"made {names.of(action['member'])} {action['role']}"
    if kind in ("set_limits", "set_default_limits"):
        whose = f"{names.of(action['account'])}'s limits" if kind == "set_limits" else "the default limits"
        debit, ceiling = action["debit_limit_minor"], action["credit_ceiling_minor"]
        shown_debit = "the default" if debit is None else "-" + money(debit) if debit else money(0)
        shown_ceiling = "the default" if ceiling is None else "none" if ceiling >= limits.amount_minor_max else money(ceiling)
        return f"set {whose}: debit limit {shown_debit}, credit ceiling {shown_ceiling}"
    if kind == "vote":
        chosen = action.get("position") or "options " + " ".join(str(option) for option in action.get("options", []))
        return f"voted {chosen} on decision {action['decision']}"
    if kind in ("propose", "propose_period"):
        return f"proposed \"{action['title']}\" ({action['decision_type']})"
    if kind == "delegate":
        return f"delegated their vote to {names.of(action['to'])}" + (f" on {action['topic']}" if action.get("topic") else "")
    if kind == "undelegate":
        return "took their delegation back" + (f" on {action['topic']}" if action.get("topic") else "")
    if kind == "pay_across":
        return f"paid {action['to_member'][:14]}… of {action['to_community'][:14]}… {money(action['amount_minor'])}{memo}"
    if kind == "treasury_pay":
        return f"the treasury paid {names.of(action['to'])} {money(action['amount_minor'])}{memo}"
    # Every other action: its fields, ids as names, amounts in major units.
    fields = []
    for field, value in action.items():
        if field == "kind" or isinstance(value, (dict, list)):
            continue
        if field.endswith("_minor") and isinstance(value, int):
            fields.append(f"{field.removesuffix('_minor').replace('_', ' ')} {money(value)}")
        elif isinstance(value, str) and value.startswith("m_"):
            fields.append(f"{field.replace('_', ' ')} {names.of(value)}")
        else:
            fields.append(f"{field.replace('_', ' ')} {value}")
    return kind.replace("_", " ") + (": " + ", ".join(fields) if fields else "")


_body_lines = {
    "genesis": "the community's log begins",
    "checkpoint": "checkpoint: the state so far, signed",
    "key_rotated": "the node's signing key was rotated",
    "decision_closed": "a decision closed",
    "offer_closed": "a share offer closed",
    "withdrawal_due": "a share withdrawal fell due",
    "trade_limits": "trade limits from a federation decision",
    "capacity_limits": "capacity limits from a federation decision",
}


@main.command(epilog=example("tally log", "tally log --from 120 --limit 20", "tally log --json"))
@click.option("--from", "from_seq", type=click.IntRange(1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, limits.page_size_max), default=limits.page_size_default, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def log(context: Context, from_seq: int, limit: int, as_json: bool) -> None:
    """The node's feed, one line an event: when, who signed it, and what it did."""
    client = context.client()
    page = client.get("/api/log", **{"from": from_seq, "limit": limit})
    if as_json:
        print_json(page["events"])
        return
    community = client.get("/api/community")
    decimals, unit = community["unit"]["decimals"], community["unit"]["code"]
    names = _Names(client)
    table = Table()
    for column in ("seq", "time", "who", "what"):
        table.add_column(column)
    for event in page["events"]:
        body = event["body"]
        if body["kind"] == "act":
            who = names.signer(body)
            what = _describe_action(body["intent"]["action"], names, lambda minor: format_money(minor, decimals, unit))
        else:
            who, what = "the node", _body_lines.get(body["kind"], body["kind"].replace("_", " "))
            if body["kind"] == "decision_closed" and "decision" in body:
                what = f"decision {body['decision']} closed: {body.get('outcome', '')}".rstrip(": ")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event["ts"] / 1000))
        table.add_row(str(event["seq"]), stamp, who, what[:120])
    console.print(table)
    if page["next"]:
        console.print(f"more: tally log --from {page['next']}")


@main.command(epilog=example("tally status", "tally status --json"))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def status(context: Context, as_json: bool) -> None:
    """The node: its feed's head, peers, feeds held, forks and alerts."""
    document = context.client().get("/api/status")
    if as_json:
        print_json(document)
        return
    console.print(f"[bold]{markup(document['name'])}[/]  {document['node']}")
    console.print(f"  seq {document['seq']}  head {document['head']}")
    console.print(f"  peers {len(document['peers'])}  feeds {len(document['feeds'])}  forks {len(document['forks'])}")
    for alert in document["alerts"]:
        about = f" ({alert['feed']})" if alert.get("feed") else ""
        message = str(alert.get("message") or "")
        console.print(f"  [red]alert[/] {markup(str(alert.get('kind', '')))}{markup(about)}: {markup(message)}")


# ---- offline ------------------------------------------------------------------------------------


def _progress(description: str) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True)
    )


def _require_home(directory: Path) -> Home:
    """The home at `directory`, or one line saying that it is none and what a home holds."""
    home = Home(directory)
    if not home.config_path.exists() or not home.database_path.exists():
        what = "does not exist" if not directory.exists() else "is no node home"
        raise Mistake("home",
            f"{directory} {what}: a home is the folder `tally serve` runs, holding config.json, tally.db and "
            f"node.key; give that folder (e.g. tally verify riverside)")
    return home


async def _count_events(directory: Path, own_only: bool) -> int:
    from tallystick.node.store import Store

    home = _require_home(directory)
    # Beside a running node: read only, so the acknowledged record is checked, never written here.
    store = await Store.open(home.database_path, acknowledged="check")
    try:
        own = await store.own_feed()
        heads = await store.heads()
        return sum(head.seq for head in heads if head.feed == own or not own_only)
    finally:
        await store.close()


@main.command(epilog=example("tally verify riverside", "tally verify riverside --json"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def verify(directory: Path, as_json: bool) -> None:
    """Offline: check every signature, link, encoding, member intent and checkpoint held."""
    total = asyncio.run(_count_events(directory, own_only=False))
    if as_json:
        report = asyncio.run(verify_home(Home(directory)))
    else:
        with _progress("verifying") as progress:
            task = progress.add_task("verify", total=total)
            report = asyncio.run(verify_home(Home(directory), lambda n: progress.advance(task, n)))
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "feeds": {
                    feed.feed: {"ok": feed.ok, "events": feed.events, "error": feed.error, "seq": feed.seq}
                    for feed in report.feeds
                },
            }
        )
    else:
        for feed in report.feeds:
            if feed.ok:
                click.echo(f"ok: {feed.events} events of {feed.feed} verify")
    for feed in report.feeds:
        if not feed.ok:
            click.echo(f"tally: log_corrupt: {feed.feed}: {feed.error}", err=True)
    if not report.ok:
        sys.exit(1)


@main.command(epilog=example("tally rebuild riverside      # with the node stopped"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def rebuild(directory: Path, as_json: bool) -> None:
    """Offline: drop the projections and refold them from the log."""
    total = asyncio.run(_count_events(directory, own_only=True))
    if as_json:
        seq = asyncio.run(rebuild_home(Home(directory)))
        print_json({"events": seq})
        return
    with _progress("rebuilding") as progress:
        task = progress.add_task("rebuild", total=total)
        seq = asyncio.run(rebuild_home(Home(directory), lambda n: progress.advance(task, n)))
    click.echo(f"rebuilt the projections from {seq} events")


@main.command(epilog=example("tally restore riverside --from http://127.0.0.1:7601"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--from", "peer_url", required=True, metavar="URL", help="A peer that holds this node's feed.")
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def restore(directory: Path, peer_url: str, as_json: bool) -> None:
    """Rebuild this home's own feed from a peer's verified copy (node.key must be present)."""
    from tallystick.replication.restore import restore_home

    check_node_url(peer_url, "--from")
    restored = asyncio.run(restore_home(directory, peer_url))
    if as_json:
        print_json({"node": restored.node, "seq": restored.seq, "head": restored.head})
    else:
        click.echo(f"restored {restored.node} up to seq {restored.seq} from {peer_url}")


# ---- clusters -----------------------------------------------------------------------------------


@main.group()
def cluster() -> None:
    """Local clusters of communities on loopback, for testers."""


@cluster.command("up", epilog=example("tally cluster up /tmp/c --nodes 6 --base-port 7711"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--nodes", type=click.IntRange(1, len(cluster_module.community_names)), default=3, show_default=True)
@click.option("--base-port", type=click.IntRange(1024, 65000), default=None,
              help="The first of NODES consecutive ports (default: free ports).")
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def cluster_up(directory: Path, nodes: int, base_port: int | None, as_json: bool) -> None:
    """Start NODES communities with demo members trading; prints each URL."""
    communities = cluster_module.up(directory, nodes, base_port)
    if as_json:
        print_json([{"name": c.name, "url": c.url, "node": c.node, "home": str(c.home)} for c in communities])
        return
    for community in communities:
        click.echo(f"{visible(community.name):<14} {community.url}/  {community.node}")
    click.echo(f"stop them with: tally cluster down {directory}")


@cluster.command("link", epilog=example(
    "tally cluster link http://127.0.0.1:7600=riverside/admin.key http://127.0.0.1:7601=hilltop/admin.key"))
@click.argument("nodes", nargs=-1, required=True, metavar="URL=ADMIN_KEY...")
@refusals_exit_cleanly
def cluster_link(nodes: tuple[str, ...]) -> None:
    """Link running communities as `cluster up` does: one federation of up to four, or two
    federations in a confederation, with trade limits and capacity shares, by federation decisions
    signed with each community's ADMIN_KEY file. Does nothing if they are linked already. For
    clusters started another way. (docker/compose.yml links with one `link-NAME` job per community,
    docker/link.py, each holding only its own admin key; this does the same from one machine that
    holds every admin key.)"""
    pairs = [node.partition("=") for node in nodes]
    if any(not key for _, _, key in pairs):
        raise click.UsageError("give each node as URL=ADMIN_KEY_FILE")
    ids = cluster_module.wait_for([url for url, _, _ in pairs])
    seats = [federate.Seat(url, node, Path(key)) for (url, _, key), node in zip(pairs, ids, strict=True)]
    if cluster_module.link(seats):
        click.echo(f"linked {len(seats)} communities: " + ", ".join(
            f"{visible(f['name'])} ({f['id']})" for f in Client(seats[0].url).get("/api/federations")))
    else:
        click.echo("already linked: nothing to do")


@cluster.command("down", epilog=example("tally cluster down /tmp/c"))
@click.argument("directory", type=click.Path(path_type=Path))
@refusals_exit_cleanly
def cluster_down(directory: Path) -> None:
    """Stop every node of the cluster in DIRECTORY."""
    stopped = cluster_module.down(directory)
    click.echo(f"stopped {stopped} nodes")


main.add_command(backup_commands.backup)
main.add_command(backup_commands.resume)
shares_commands.add_commands(main, refusals_exit_cleanly, print_json, now_ms)
federation_commands.add_commands(main, refusals_exit_cleanly, print_json, _parse_duration_ms)


if __name__ == "__main__":
    main()
