"""The `tally` command: operators and members.

How this works: click commands, one per line of the interface contract in DESIGN.md. Commands that
talk to a running node use `--node URL` (or TALLY_NODE) and sign with `--key FILE` (or TALLY_KEY);
offline commands take the home folder. Every reading command takes `--json` and then prints exactly
one JSON document on stdout; people get rich tables. A refusal prints one line on stderr, `tally:
<code>: <message>`, and exits 1, having changed nothing. Amounts are typed in major units (`12.50`)
and parsed with the community's decimals, never through a float.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from tallystick.node.home import Home, NodeConfig, init_home, read_key, write_key
from tallystick.node.money import format_amount, parse_amount
from tallystick.node.names import normalise_name
from tallystick.node.offline import rebuild_home, rotate_key, verify_home
from tallystick.protocol import limits
from tallystick.protocol.errors import MalformedError, TallyError
from tallystick.protocol.events import (
    AdmitMember,
    AllMembers,
    DeclareDividend,
    Delegate,
    Holders,
    PayAcross,
    ProposeWithPeriod,
    RecoverKey,
    RemoveMember,
    SetDefaultLimits,
    SetLevy,
    SetLimits,
    SetRules,
    SetWithdrawalRule,
    Transfer,
    TreasuryPay,
    Undelegate,
    Vote,
)
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from . import cluster as cluster_module
from . import federate
from . import federation as federation_commands
from . import shares as shares_commands
from .client import Client, NodeRefused
from .keyfile import seal, unseal
from .terminal import Table, markup, visible

Function = TypeVar("Function", bound=Callable[..., Any])
console = Console()


def refusals_exit_cleanly(function: Function) -> Function:
    """Any typed refusal becomes one line on stderr and exit status 1."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except TallyError as error:
            click.echo(f"tally: {visible(error.code)}: {visible(error.message)}", err=True)
            sys.exit(1)
        except NodeRefused as error:
            click.echo(f"tally: {visible(error.code)}: {visible(error.message)}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=None if not sys.stdout.isatty() else 2))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Context:
    def __init__(self, node_url: str | None, key_path: str | None) -> None:
        self.node_url = node_url
        self.key_path = key_path

    def client(self) -> Client:
        if not self.node_url:
            raise click.UsageError("say which node: --node URL (or set TALLY_NODE)")
        return Client(self.node_url)

    def key(self) -> KeyPair:
        if not self.key_path:
            raise click.UsageError("say whose key signs: --key FILE (or set TALLY_KEY)")
        return read_key(Path(self.key_path))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--node", "node_url", envvar="TALLY_NODE", metavar="URL", help="The node's URL, e.g. http://127.0.0.1:7600")
@click.option("--key", "key_path", envvar="TALLY_KEY", metavar="FILE", help="The key file that signs intents.")
@click.pass_context
def main(context: click.Context, node_url: str | None, key_path: str | None) -> None:
    """Tallystick: a community's mutual credit, as a signed, replicated log."""
    context.obj = Context(node_url, key_path)


def _parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("write it as HOST:PORT, e.g. 127.0.0.1:7600")
    return host, int(port)


# ---- init and serve -----------------------------------------------------------------------------


@main.command()
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


@main.command()
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
        raise click.ClickException(f"cannot listen on {config.listen_host}:{config.listen_port}: {error.strerror}") from None


# ---- keys ---------------------------------------------------------------------------------------


@main.group()
def key() -> None:
    """Member and node keys."""


@key.command("new")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def key_new(file: Path, as_json: bool) -> None:
    """Create a member key file (mode 0600); prints its member id."""
    if file.exists():
        raise click.ClickException(f"{file} exists; a key file is never overwritten")
    pair = KeyPair.generate()
    write_key(file, pair)
    member_id = id_to_text("m", pair.public)
    print_json({"id": member_id}) if as_json else click.echo(member_id)


@key.command("show")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def key_show(file: Path, as_json: bool) -> None:
    """Print the member id (and public key) of a key file; never the secret."""
    pair = read_key(file)
    document = {"id": id_to_text("m", pair.public), "key": id_to_text("k", pair.public)}
    print_json(document) if as_json else click.echo(document["id"])


def _passphrase(confirm: bool) -> str:
    from_environment = os.environ.get("TALLY_PASSPHRASE")
    if from_environment:
        return from_environment
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


@key.command("export")
@click.argument("key_file", type=click.Path(path_type=Path, exists=True, dir_okay=True))
@click.argument("out", type=click.Path(path_type=Path))
@refusals_exit_cleanly
def key_export(key_file: Path, out: Path) -> None:
    """Write KEY_FILE (or a home's node.key) to OUT encrypted under a passphrase (TALLY_PASSPHRASE or prompt)."""
    source = key_file / "node.key" if key_file.is_dir() else key_file
    if out.exists():
        raise click.ClickException(f"{out} exists; choose a new file")
    sealed = seal(read_key(source), _passphrase(confirm=True))
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(sealed)
    click.echo(f"exported {source} to {out}", err=True)


@key.command("import")
@click.argument("exported", type=click.Path(path_type=Path, exists=True))
@click.argument("key_file", type=click.Path(path_type=Path))
@refusals_exit_cleanly
def key_import(exported: Path, key_file: Path) -> None:
    """Decrypt EXPORTED into KEY_FILE (or into a home's node.key if KEY_FILE is a home folder)."""
    target = key_file / "node.key" if key_file.is_dir() else key_file
    if target.exists():
        raise click.ClickException(f"{target} exists; move it away first")
    pair = unseal(exported.read_bytes(), _passphrase(confirm=False))
    write_key(target, pair)
    click.echo(f"imported key {id_to_text('k', pair.public)} into {target}", err=True)


@key.command("rotate")
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
    return id_from_text("m", client.get(f"/api/members/{reference}")["id"])


@main.group()
def member() -> None:
    """Admit and remove members."""


@member.command("add")
@click.argument("member_id")
@click.option("--name", required=True)
@click.option("--admin", "make_admin", is_flag=True, help="Admit as an admin.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def member_add(context: Context, member_id: str, name: str, make_admin: bool, as_json: bool) -> None:
    """Admit MEMBER_ID (from `tally key new`) under NAME."""
    # The rules refuse a name that is not in its normal form: normalise what was typed before signing it.
    name = normalise_name(name, "the member's name")
    action = AdmitMember(member=id_from_text("m", member_id), name=name, role="admin" if make_admin else "member")
    appended = context.client().submit(context.key(), action)
    print_json(appended) if as_json else click.echo(f"admitted {visible(name)} at seq {appended['seq']}")


@member.command("remove")
@click.argument("member_ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def member_remove(context: Context, member_ref: str, as_json: bool) -> None:
    """Close a member's account (its balance must be zero)."""
    client = context.client()
    appended = client.submit(context.key(), RemoveMember(member=_member_id(client, member_ref)))
    print_json(appended) if as_json else click.echo(f"removed {visible(member_ref)} at seq {appended['seq']}")


@main.command("limits")
@click.argument("account")
@click.option("--debit-limit", default=None, help="Major units, or 'default'.")
@click.option("--credit-ceiling", default=None, help="Major units, or 'default'.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def limits_set(context: Context, account: str, debit_limit: str | None, credit_ceiling: str | None, as_json: bool) -> None:
    """Set an account's debit limit and credit ceiling (admin)."""
    client = context.client()
    decimals = client.get("/api/community")["unit"]["decimals"]
    member_id = _member_id(client, account)
    current = client.get("/api/balances", account=id_to_text("m", member_id))[0]

    def value(text: str | None, current_minor: int) -> int | None:
        if text is None:
            return current_minor
        return None if text == "default" else parse_amount(text, decimals, allow_zero=True)

    action = SetLimits(
        account=member_id,
        debit_limit_minor=value(debit_limit, current["debit_limit"]),
        credit_ceiling_minor=value(credit_ceiling, current["credit_ceiling"]),
    )
    appended = client.submit(context.key(), action)
    print_json(appended) if as_json else click.echo(f"limits set at seq {appended['seq']}")


@main.command()
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
            other = Client(where)
            to_community = other.get("/api/community")["node"]
            to_member = other.get(f"/api/members/{member_ref}")["id"]
        meeting = federate.meeting(client.get("/api/federations"), community["node"], to_community, federation)
        if meeting is None:
            raise click.ClickException(
                f"this community and {where} are under no common federation"
                + (f" named {federation}" if federation else "") + "; a payment across needs one above both")
        shared = [meeting]
        action = PayAcross(federation=id_from_text("x", shared[0]["id"]), to_community=id_from_text("n", to_community),
                           to_member=id_from_text("m", to_member), amount_minor=minor, memo=memo)
        appended = client.submit(context.key(), action)
        if as_json:
            print_json({"payment": appended["hash"], **appended})
        else:
            click.echo(f"sent {format_amount(minor, decimals)} {visible(community['unit']['code'])} to {visible(to)} through "
                       f"{visible(shared[0]['name'])} (payment {appended['hash']}); `tally payments` shows when it settles")
        return
    appended = client.submit(context.key(), Transfer(to=_member_id(client, to), amount_minor=minor, memo=memo))
    if as_json:
        print_json(appended)
    else:
        click.echo(f"paid {format_amount(minor, decimals)} {visible(community['unit']['code'])} to {visible(to)} (seq {appended['seq']})")


@main.command()
@click.option("--all", "everything", is_flag=True, help="Every payment this node holds, not only this community's.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def payments(context: Context, everything: bool, as_json: bool) -> None:
    """Payments across communities: pending, accepted, settled, rejected, returned or expired."""
    rows = context.client().get("/api/payments", mine=None if everything else "1")
    if as_json:
        print_json(rows)
        return
    table = Table()
    for column in ("payment", "status", "from", "to", "amount", "received", "memo"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["id"][:14] + "…", row["status"] + (f" ({row['reason']})" if row["reason"] else ""),
                      row["from_community"][:12] + "…", row["to_community"][:12] + "…", str(row["amount"]),
                      "" if row["received"] is None else str(row["received"]), row["memo"][:30])
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
    """'66.67' (percent) -> 6667 basis points."""
    if text is None:
        return None
    basis_points = parse_amount(text.rstrip("%"), 2, allow_zero=True)
    if basis_points > limits.basis_points_max:
        raise click.BadParameter(f"{text!r}: a percentage is at most 100")
    return basis_points


def _effect(
    client: Client, admit: str | None, name: str | None, remove: str | None, recover: str | None,
    new_key: str | None, set_limits: str | None, default_limits: bool, debit_limit: str | None,
    credit_ceiling: str | None, admission: str | None, default_quorum: str | None, default_threshold: str | None,
    levy: str | None = None, levy_min: str | None = None, levy_max: str | None = None,
    treasury_pay: str | None = None, amount: str | None = None, memo: str = "",
) -> Any:
    chosen = [admit, remove, recover, set_limits, default_limits or None, admission, levy, treasury_pay]
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
    if admission is not None:
        return SetRules(
            admission=admission,  # type: ignore[arg-type]
            quorum_bp=_parse_percent_bp(default_quorum) if default_quorum else 5000,  # type: ignore[arg-type]
            threshold_bp=_parse_percent_bp(default_threshold) if default_threshold else 6667,  # type: ignore[arg-type]
        )
    return None


@main.command()
@click.argument("title")
@click.option("--text", default="", help=f"What is proposed and why (up to {limits.decision_text_chars_max} characters).")
@click.option("--type", "decision_type", type=click.Choice(["proposal", "poll", "consent"]), default="proposal", show_default=True)
@click.option("--option", "options", multiple=True, help="A poll's option (repeat; at least two).")
@click.option("--multiple", is_flag=True, help="A poll where each member may choose several options.")
@click.option("--ranked", is_flag=True, help="A poll where members rank options, best first (Borda count).")
@click.option("--topic", default="", help="The topic, for delegations per topic.")
@click.option("--closes-in", default="7d", show_default=True, help="How long it stays open: 90s, 10m, 2h, 7d.")
@click.option("--quorum", default=None, help="Percent of members who must take part (default: the community's rule).")
@click.option("--threshold", default=None, help="Percent of agree among agree+disagree to pass (proposals).")
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
    treasury_pay: str | None, amount: str | None, memo: str, as_json: bool,
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
                     treasury_pay, amount, memo)
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
        click.echo(f"decision {appended['seq']} is open: vote with `tally vote {appended['seq']} agree`")


@main.command()
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
        raise click.UsageError("vote agree, abstain, disagree or block; in a poll, option numbers")
    appended = context.client().submit(context.key(), action)
    print_json(appended) if as_json else click.echo(f"voted on decision {decision} (seq {appended['seq']})")


@main.command()
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


@main.command()
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
            summary = " ".join(f"{option}:{count}" for option, count in zip(row["options"], counted["option_counts"], strict=True))
        else:
            summary = " ".join(f"{position}:{count}" for position, count in counted["positions"].items() if count)
        summary += f" ({counted['participants']}/{counted['electorate']} voting)"
        status = f"open, now {counted['outcome']}" if row["open"] else row["outcome"]
        table.add_row(str(row["id"]), row["type"], row["title"][:40], status, summary,
                      _time_left(row["time_left_ms"]) if row["open"] else "closed")
    console.print(table)


# ---- reading ------------------------------------------------------------------------------------


@main.command()
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
    decimals = community["unit"]["decimals"]
    table = Table(title=f"{community['name']} ({community['unit']['code']})")
    for column in ("name", "account"):
        table.add_column(column)
    for column in ("balance", "debit limit", "credit ceiling"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["name"] + ("" if row["active"] else " (left)"),
            row["account"][:14] + "…",
            format_amount(row["balance"], decimals),
            "-" + format_amount(row["debit_limit"], decimals),
            format_amount(row["credit_ceiling"], decimals),
        )
    console.print(table)


@main.command()
@click.option("--from", "from_seq", type=click.IntRange(1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, limits.page_size_max), default=limits.page_size_default, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def log(context: Context, from_seq: int, limit: int, as_json: bool) -> None:
    """The node's feed, decoded."""
    page = context.client().get("/api/log", **{"from": from_seq, "limit": limit})
    if as_json:
        print_json(page["events"])
        return
    table = Table()
    for column in ("seq", "time", "kind", "detail"):
        table.add_column(column)
    for event in page["events"]:
        body = event["body"]
        if body["kind"] == "act":
            action = body["intent"]["action"]
            detail = ", ".join(f"{k}={v}" for k, v in action.items() if k != "kind")
            kind = f"act:{action['kind']}"
        else:
            kind, detail = body["kind"], ""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event["ts"] / 1000))
        table.add_row(str(event["seq"]), stamp, kind, detail[:90])
    console.print(table)
    if page["next"]:
        console.print(f"more: tally log --from {page['next']}")


@main.command()
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
        console.print(f"  [red]alert[/] {markup(str(alert))}")


# ---- offline ------------------------------------------------------------------------------------


def _progress(description: str) -> Progress:
    return Progress(
        TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True)
    )


async def _count_events(directory: Path, own_only: bool) -> int:
    from tallystick.node.store import Store

    home = Home(directory)
    home.check()
    # Beside a running node: read only, so the acknowledged record is checked, never written here.
    store = await Store.open(home.database_path, acknowledged="check")
    try:
        own = await store.own_feed()
        heads = await store.heads()
        return sum(head.seq for head in heads if head.feed == own or not own_only)
    finally:
        await store.close()


@main.command()
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


@main.command()
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


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--from", "peer_url", required=True, metavar="URL", help="A peer that holds this node's feed.")
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def restore(directory: Path, peer_url: str, as_json: bool) -> None:
    """Rebuild this home's own feed from a peer's verified copy (node.key must be present)."""
    from tallystick.federation.restore import restore_home

    restored = asyncio.run(restore_home(directory, peer_url))
    if as_json:
        print_json({"node": restored.node, "seq": restored.seq, "head": restored.head})
    else:
        click.echo(f"restored {restored.node} up to seq {restored.seq} from {peer_url}")


# ---- clusters -----------------------------------------------------------------------------------


@main.group()
def cluster() -> None:
    """Local clusters of communities on loopback, for testers."""


@cluster.command("up")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--nodes", type=click.IntRange(1, len(cluster_module.community_names)), default=3, show_default=True)
@click.option("--base-port", type=click.IntRange(1024, 65000), default=7601, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def cluster_up(directory: Path, nodes: int, base_port: int, as_json: bool) -> None:
    """Start NODES communities with demo members trading; prints each URL."""
    communities = cluster_module.up(directory, nodes, base_port)
    if as_json:
        print_json([{"name": c.name, "url": c.url, "node": c.node, "home": str(c.home)} for c in communities])
        return
    for community in communities:
        click.echo(f"{visible(community.name):<14} {community.url}/  {community.node}")
    click.echo(f"stop them with: tally cluster down {directory}")


@cluster.command("link")
@click.argument("nodes", nargs=-1, required=True, metavar="URL=ADMIN_KEY...")
@refusals_exit_cleanly
def cluster_link(nodes: tuple[str, ...]) -> None:
    """Link running communities as `cluster up` does: one federation of up to four, or two
    federations in a confederation, with trade limits and capacity shares, by federation decisions
    signed with each community's ADMIN_KEY file. Does nothing if they are linked already. For
    clusters started another way (docker/compose.yml runs it as its `federate` service)."""
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


@cluster.command("down")
@click.argument("directory", type=click.Path(path_type=Path))
@refusals_exit_cleanly
def cluster_down(directory: Path) -> None:
    """Stop every node of the cluster in DIRECTORY."""
    stopped = cluster_module.down(directory)
    click.echo(f"stopped {stopped} nodes")


shares_commands.add_commands(main, refusals_exit_cleanly, print_json, now_ms)
federation_commands.add_commands(main, refusals_exit_cleanly, print_json, _parse_duration_ms)


if __name__ == "__main__":
    main()
