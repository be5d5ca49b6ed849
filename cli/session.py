"""`tally sign-in` and `tally session list/end`: a member's browser sessions, from the command line.

How this works: the command line signs each request with the member's key (cli/client.py), so it
needs no session of its own. `sign-in` is the way into the node's pages in a browser for a member
who holds a key file and no wallet: it asks the node for a challenge, signs it with --key
(protocol/requests.py `sign_in_message`, docs/protocol.md §18) and trades it for a one-time link
(`POST /api/sign-in/link`), which it prints. Opened in a browser within the link's time, once, it
sets the session cookie there and shows the member's page. `session list` shows the member's
sessions (a browser each) and `session end ID` ends one, e.g. on a computer left behind.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import quote

import click
from tallystick.protocol.ids import id_from_text, id_to_text
from tallystick.protocol.requests import sign_in_message

from .common import Context, TallyCommand, TallyGroup, console, example, print_json, refusals_exit_cleanly
from .terminal import Table, visible


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _from_b32(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


def _when(ms: int) -> str:
    return time.strftime("%d %b %H:%M", time.localtime(ms / 1000))


@click.command("sign-in", cls=TallyCommand, epilog=example(
    "tally --node http://127.0.0.1:7600 --key alice.key sign-in   # then open the link it prints"))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def sign_in(context: Context, as_json: bool) -> None:
    """Print a one-time link that signs you in to the node's pages in a browser (--key: yours)."""
    client = context.client()
    key = context.key()
    issued = client._request("POST", "/api/sign-in/challenge")
    challenge = _from_b32(issued["challenge"])
    node = id_from_text("n", client.community()["node"])
    proof = {
        "key": id_to_text("k", key.public), "challenge": issued["challenge"],
        "signature": _b32(key.sign(sign_in_message(node=node, challenge=challenge))),
    }
    link = client._request(
        "POST", "/api/sign-in/link", body=json.dumps(proof).encode(), headers={"Content-Type": "application/json"}
    )
    if as_json:
        print_json(link)
        return
    minutes = max(1, round((link["expires_ms"] - time.time_ns() // 1_000_000) / 60_000))
    click.echo(link["link"])
    click.echo(f"open it in your browser within {minutes} min; it works once", err=True)


@click.group(cls=TallyGroup)
def session() -> None:
    """Your sessions in browsers: list them, end one."""


@session.command("list", epilog=example("tally --key alice.key session list"))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def session_list(context: Context, as_json: bool) -> None:
    """Your open sessions (--key: yours), newest first."""
    client = context.client()
    context.key()  # a stranger has no sessions: say so before asking
    sessions = client.get("/api/sessions")
    if as_json:
        print_json(sessions)
        return
    if not sessions:
        click.echo("no open sessions; `tally sign-in` opens one in a browser")
        return
    table = Table()
    # The id whole, never wrapped or cut: it is what `tally session end` takes.
    table.add_column("id", no_wrap=True, min_width=max(len(row["id"]) for row in sessions))
    for column in ("browser", "signed in", "last seen", "ends"):
        table.add_column(column)
    for row in sessions:
        table.add_row(
            row["id"], visible(row["label"]), _when(row["created_ms"]), _when(row["last_seen_ms"]),
            _when(row["expires_ms"]),
        )
    console.print(table)


@session.command("end", epilog=example("tally --key alice.key session end 3f9Ka0bQ2x1Lm8Zc"))
@click.argument("session_id")
@click.pass_obj
@refusals_exit_cleanly
def session_end(context: Context, session_id: str) -> None:
    """End your session SESSION_ID (from `tally session list`): that browser is signed out."""
    client = context.client()
    context.key()
    client._request("DELETE", f"/api/sessions/{quote(session_id, safe='')}")
    click.echo(f"ended session {session_id}")


commands = (sign_in, session)
