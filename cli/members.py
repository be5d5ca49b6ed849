"""`tally member add/remove/role/export/erase/invite/invitations/uninvite` and `tally limits`: who is
a member, and their limits.

How this works: each builds one action from protocol/events.py (`AdmitMember`, `RemoveMember`,
`SetRole`, `SetLimits`, `SetDefaultLimits`, `Invite`, `RevokeInvitation`), resolves a member's name
to its id through the node's API, and submits it signed with --key (an admin's: the node refuses
anyone else's). A name is put in its normal form before it is signed, as the rules require.
`limits` reads the limits in force first, so an option left out keeps its value.

`invite` makes a one-time key pair here, submits an `invite` naming its public key, and prints the
link `<node>/wallet/join#i=<seed>&n=<name>`: the seed (lowercase base32, no padding) and the name
are in the fragment, which a browser never sends to a server, so only the invitee's phone sees
them; the wallet signs a `join` with that seed (docs/api.md, "Invitations"). Where the community
admits by decision (the rules GET /api/join-requests returns), `invite` proposes the invitation
instead (`propose_period` with the `invite` as its effect, open `--closes-in`; the link's time runs
from the deadline) and the link also names the decision (`&d=<seq>`), so the invitee's wallet shows
it until it passes.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import segno
from tallystick.ledger.money import format_ceiling, format_debit_limit, parse_amount
from tallystick.ledger.names import normalise_name
from tallystick.protocol import limits
from tallystick.protocol.events import (
    AdmitMember,
    Invite,
    ProposeWithPeriod,
    RemoveMember,
    RevokeInvitation,
    SetDefaultLimits,
    SetLimits,
    SetRole,
)
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from .client import NodeRefused
from .common import (
    Context,
    TallyCommand,
    TallyGroup,
    example,
    now_ms,
    parse_duration_ms,
    print_json,
    refusals_exit_cleanly,
    resolve_member,
)
from .terminal import visible


@click.group(cls=TallyGroup)
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
    appended = client.submit(context.key(), RemoveMember(member=resolve_member(client, member_ref)))
    print_json(appended) if as_json else click.echo(f"removed {visible(member_ref)} at seq {appended['seq']}")


@member.command("export", epilog=example(
    "tally --key alice.key member export Alice --out alice-data",
    "tally --key riverside/admin.key member export m_... --out m-data"))
@click.argument("member_ref", metavar="MEMBER")
@click.option("--out", "out", type=click.Path(file_okay=False, writable=True), required=True,
              help="A folder to write export.json and history.csv into (made if missing).")
@click.pass_obj
@refusals_exit_cleanly
def member_export(context: Context, member_ref: str, out: str) -> None:
    """Everything the node holds about MEMBER, as JSON and CSV (the member concerned, or an admin)."""
    client = context.client()
    path = f"/api/members/{quote(member_ref, safe='')}/export"
    document = client.get(path)
    history = client.get_text(path + ".csv")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "export.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "history.csv").write_text(history, encoding="utf-8")
    click.echo(f"wrote {folder / 'export.json'} and {folder / 'history.csv'}: "
               f"{len(document['history'])} changes of the balance, {len(document['texts'])} texts")


@member.command("erase", epilog=example(
    "tally --key riverside/admin.key member remove Alice",
    "tally --key riverside/admin.key member erase m_..."))
@click.argument("member_ref", metavar="MEMBER")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def member_erase(context: Context, member_ref: str, as_json: bool) -> None:
    """Erase a former member's name and texts for good, by m_ id (admin; remove them first)."""
    client = context.client()
    answer = client.post_json(f"/api/members/{quote(member_ref, safe='')}/erase", {})
    if as_json:
        print_json(answer)
    else:
        click.echo(f"erased the personal data of {answer['member']}: their data key is destroyed here and in "
                   "the backups' key store; the log still verifies (docs/privacy.md)")


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
    appended = client.submit(context.key(), SetRole(member=resolve_member(client, member_ref), role=role))  # type: ignore[arg-type]
    print_json(appended) if as_json else click.echo(f"{visible(member_ref)} is now {role} (seq {appended['seq']})")


@click.command("limits", cls=TallyCommand, epilog=example(
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
    community = client.community()
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
        member_id = resolve_member(client, account or "")
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


def invitation_link(node_url: str, seed: bytes, name: str | None, decision: int | None = None) -> str:
    """The link an invitee opens: the seed and the name only in the fragment, never sent to a server;
    with `decision`, the seq of the decision that makes the invitation."""
    link = f"{node_url.rstrip('/')}/wallet/join#i={base64.b32encode(seed).decode('ascii').rstrip('=').lower()}"
    link += f"&d={decision}" if decision is not None else ""
    return link + (f"&n={quote(name, safe='')}" if name else "")


def _admits_by_decision(client: Any) -> bool:
    """Whether the community admits by decision (the rules come with the admins' join requests);
    for anyone else the `invite` itself is refused, as it should be."""
    try:
        return client.get("/api/join-requests")["rules"]["admission"] == "decision"
    except NodeRefused as refused:
        if refused.code in ("not_admin", "not_signed_in"):
            return False
        raise


def _utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


@member.command("invite", epilog=example(
    "tally --key riverside/admin.key member invite --name Alice --expires 3d",
    "tally --key riverside/admin.key member invite --role admin --debit-limit 50 --ceiling 500",
    "tally --key deciders/admin.key member invite --name Vic --closes-in 2d   # by decision: proposes it"))
@click.option("--name", default=None, help="The invitee's name, put in the link (never sent to the node).")
@click.option("--expires", "expires", default="7d", show_default=True,
              help=f"How long the link stays good: 90s, 10m, 2h, 7d (at most "
                   f"{limits.invitation_expiry_max_ms // 86_400_000}d).")
@click.option("--role", type=click.Choice(["member", "admin"]), default="member", show_default=True)
@click.option("--debit-limit", default=None, help="Major units; left out: the community's default.")
@click.option("--ceiling", default=None, help="Major units, or 'none' (no ceiling); left out: the default.")
@click.option("--closes-in", "closes_in", default="7d", show_default=True,
              help="Where admission is by decision: how long the members vote on the invitation "
                   "(at least 24h, 72h for an admin); the link's time runs from then.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def member_invite(context: Context, name: str | None, expires: str, role: str, debit_limit: str | None,
                  ceiling: str | None, closes_in: str, as_json: bool) -> None:
    """Invite one person (admin): prints a one-time link, and its QR code on a terminal. Whoever
    opens the link first makes their key on their phone and joins. Where the community admits by
    decision, this proposes the invitation, and the link admits once the members pass it."""
    if name is not None:
        name = normalise_name(name, "the member's name")
    client = context.client()
    by_decision = _admits_by_decision(client)
    voting_period_ms = parse_duration_ms(closes_in) if by_decision else 0
    expires_ms = now_ms() + voting_period_ms + parse_duration_ms(expires)
    decimals = client.community()["unit"]["decimals"]
    debit = None if debit_limit is None else parse_amount(debit_limit, decimals, allow_zero=True)
    credit = None if ceiling is None else (
        limits.amount_minor_max if ceiling == "none" else parse_amount(ceiling, decimals, allow_zero=True))
    invitation = KeyPair.generate()  # its seed goes only into the link
    action = Invite(invitation=invitation.public, expires_ms=expires_ms, role=role,  # type: ignore[arg-type]
                    debit_limit_minor=debit, credit_ceiling_minor=credit)
    if by_decision:
        title = "Invite a new admin" if role == "admin" else "Invite a new member"
        appended = client.submit(context.key(), ProposeWithPeriod(
            decision_type="proposal", title=title, text="", deadline_ms=0, effect=action,
            voting_period_ms=voting_period_ms))
    else:
        appended = client.submit(context.key(), action)
    decision = appended["seq"] if by_decision else None
    link = invitation_link(client.base_url, invitation.seed, name, decision)
    if as_json:
        print_json({"link": link, "invitation": id_to_text("k", invitation.public), "expires_ms": expires_ms,
                    "decision": decision})
        return
    proposed = (f"proposed to the members as decision {decision}, voting until {_utc(now_ms() + voting_period_ms)}; "
                "once it passes the link admits, ") if by_decision else ""
    click.echo(f"invitation {id_to_text('k', invitation.public)}" + (f" for {visible(name)}" if name else "")
               + f" as {role}, {proposed}open until {_utc(expires_ms)} (seq {appended['seq']}); give this link to "
               "that person alone (whoever opens it first joins):")
    click.echo(visible(link))
    if sys.stdout.isatty():
        try:
            segno.make(link, error="m").terminal(compact=True)
        except segno.DataOverflowError:
            pass  # too long for a QR code: the link stands alone


@member.command("invitations", epilog=example("tally --key riverside/admin.key member invitations"))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def member_invitations(context: Context, as_json: bool) -> None:
    """The invitations open now, oldest first (admin)."""
    invitations = context.client().get("/api/invitations")
    if as_json:
        print_json(invitations)
        return
    if not invitations:
        click.echo("no invitation is open")
        return
    for invitation in invitations:
        inviter = invitation["invited_by"]["name"] or invitation["invited_by"]["id"]
        click.echo(f"{invitation['invitation']}  {invitation['role']}  debit limit {invitation['debit_limit']}, "
                   f"credit ceiling {invitation['credit_ceiling']}, open until {_utc(invitation['expires_ms'])}, "
                   f"by {visible(inviter)} (seq {invitation['seq']})")


@member.command("uninvite", epilog=example("tally --key riverside/admin.key member uninvite k_..."))
@click.argument("invitation")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def member_uninvite(context: Context, invitation: str, as_json: bool) -> None:
    """Withdraw an open invitation by its k_ id (admin): its link no longer joins."""
    appended = context.client().submit(context.key(), RevokeInvitation(invitation=id_from_text("k", invitation)))
    print_json(appended) if as_json else click.echo(
        f"withdrew invitation {visible(invitation)} (seq {appended['seq']}): its link no longer joins")


commands = (member, limits_set)
