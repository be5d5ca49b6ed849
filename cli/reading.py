"""`tally balance`, `log` and `status`: reading a running node.

How this works: each reads the node's API (`/api/balances`, `/api/log`, `/api/status`) and prints
one JSON document with --json (amounts in minor units, ids), or for people a table or lines with
names for ids and amounts in major units with the unit's code. Every text a member typed passes
through cli/terminal.py before it is printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click
from tallystick.ledger.money import format_ceiling, format_debit_limit, format_money
from tallystick.ledger.visibility import kinds
from tallystick.node.visible import hidden_line
from tallystick.protocol import limits

from .client import Client
from .common import Context, TallyCommand, console, example, print_json, refusals_exit_cleanly
from .terminal import Table, markup


def say_hidden(client: Client) -> None:
    """One line (on stderr, so --json stays one JSON document) for each kind of personal data the
    node left out of what this command read, and what to do: `balances are visible to the member
    concerned and admins; give --key (or TALLY_KEY) to read as one of them`."""
    policy = client.community().get("visibility", {}) if client.hidden else {}
    for kind in kinds:
        if kind in client.hidden:
            click.echo(hidden_line(kind, policy.get(kind, "admins")), err=True)


@click.command(cls=TallyCommand, epilog=example("tally balance", "tally balance Alice", "tally balance --json"))
@click.argument("account", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def balance(context: Context, account: str | None, as_json: bool) -> None:
    """Balances and limits of every account, or of ACCOUNT (id or name)."""
    client = context.client()
    rows = client.get("/api/balances", account=account)
    say_hidden(client)
    if as_json:
        print_json([{k: row[k] for k in ("account", "name", "balance", "debit_limit", "credit_ceiling")} for row in rows])
        return
    community = client.community()
    decimals, unit = community["unit"]["decimals"], community["unit"]["code"]
    table = Table(title=f"{community['name']} ({unit})")
    for column in ("name", "account"):
        table.add_column(column)
    for column in ("balance", "debit limit", "credit ceiling"):
        table.add_column(column, justify="right")
    # In the order of the names (a node before names were committed sorted them itself; the table
    # reads the same either way).
    for row in sorted(rows, key=lambda row: (str(row["name"]).casefold(), row["account"])):
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


def _text(value: Any) -> str:
    """A personal text as the log shows it: in clear, or committed with its `text` opened by the
    node (None where it was erased; docs/protocol.md §19)."""
    if isinstance(value, dict):
        return str(value.get("text") or "(erased)")
    return str(value)


def _describe_action(action: dict[str, Any], names: _Names, money: Callable[[int], str]) -> str:
    """One act of the log as a line a member reads: names for ids, amounts in major units."""
    kind = action["kind"]
    memo = f' "{_text(action["memo"])}"' if action.get("memo") else ""
    if kind == "transfer":
        return f"paid {names.of(action['to'])} {money(action['amount_minor'])}{memo}"
    if kind == "admit":
        return f"admitted {_text(action['name'])} as {action.get('role', 'member')}"
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
        return f"proposed \"{_text(action['title'])}\" ({action['decision_type']})"
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
        if isinstance(value, dict) and value.get("kind") == "committed":  # a memo or name, opened by the node
            fields.append(f"{field.replace('_', ' ')} \"{_text(value)}\"")
            continue
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
    "genesis_sealed": "the community's log begins",
    "payment_sent_sealed": "payment sent",
    "checkpoint": "checkpoint: the state so far, signed",
    "key_rotated": "the node's signing key was rotated",
    "decision_closed": "a decision closed",
    "offer_closed": "a share offer closed",
    "withdrawal_due": "a share withdrawal fell due",
    "trade_limits": "trade limits from a federation decision",
    "capacity_limits": "capacity limits from a federation decision",
}


@click.command(cls=TallyCommand, epilog=example("tally log", "tally log --from 120 --limit 20", "tally log --json"))
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
    community = client.community()
    decimals, unit = community["unit"]["decimals"], community["unit"]["code"]
    names = _Names(client)
    say_hidden(client)
    table = Table()
    for column in ("seq", "time", "who", "what"):
        table.add_column(column)
    for event in page["events"]:
        body = event["body"]
        if body["kind"] in ("act", "act_sealed"):
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


@click.command(cls=TallyCommand, epilog=example("tally status", "tally status --json"))
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


commands = (balance, log, status)
