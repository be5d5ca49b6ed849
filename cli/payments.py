"""`tally pay` and `tally payments`: paying a member, here or in another community, and the
payments across communities.

How this works: `pay` reads the community's document once (`Client.community`: the unit's decimals
for the amount, the node id the intent is signed for), parses the amount into minor units, and
signs one action with --key: a `Transfer` to a member here (by m_ id or name), or for
`MEMBER@NODE_URL` (or `m_ID@n_COMMUNITY` while that node is down) a `PayAcross` naming the
federation where the two communities meet (`federate.meeting`: the lowest founded federation above
both, or the one `--federation` names). docs/architecture.md follows one payment through the code.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import click
from tallystick.ledger.money import format_money, parse_amount
from tallystick.protocol import limits
from tallystick.protocol.errors import MalformedError
from tallystick.protocol.events import PayAcross, PayTree, Transfer, tree_path_pattern
from tallystick.protocol.ids import id_from_text

from . import federate
from .client import BadUrlError, Client
from .common import (
    Context,
    Mistake,
    TallyCommand,
    console,
    example,
    print_json,
    refusals_exit_cleanly,
    resolve_member,
)
from .reading import say_hidden
from .terminal import Table, visible


@click.command(cls=TallyCommand, epilog=example(
    "tally --key alice.key pay Bob 12.50 --memo apples",
    "tally pay Bob 12.50 --node http://127.0.0.1:7600 --key alice.key --json",
    "tally --key alice.key pay Carol@http://127.0.0.1:7601 5.00    # a member of another community",
    "tally --key alice.key pay --tree trunk/market/bob 5.00        # an account in the Credit Commons tree"))
@click.argument("to")
@click.argument("amount")
@click.option("--memo", default="", help=f"Up to {limits.memo_chars_max} characters.")
@click.option("--federation", default=None, help="For ID@NODE_URL: the federation to pay through (default: the lowest above both communities).")
@click.option("--tree", is_flag=True, help="TO is an account's path in the Credit Commons tree this community is grafted onto "
              "(docs/creditcommons.md); the memo stays here, the tree is sent none.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def pay(context: Context, to: str, amount: str, memo: str, federation: str | None, tree: bool, as_json: bool) -> None:
    """Pay TO (a member id or name; or MEMBER@NODE_URL, or m_ID@n_COMMUNITY while that node is
    down, for a member of another community in a shared federation; or, with --tree, an account's
    path in the Credit Commons tree) AMOUNT in major units, signed with --key."""
    if tree and (len(to) > limits.tree_path_chars_max or re.fullmatch(tree_path_pattern, to) is None):
        raise Mistake("bad_path", f"{visible(to[:80])!r} is not an account's path in a Credit Commons tree: write names "
                      "of letters, digits and _.- joined by /, like trunk/market/bob")
    client = context.client()
    unit = client.community()["unit"]
    minor = parse_amount(amount, unit["decimals"])
    if len(memo) > limits.memo_chars_max:
        raise MalformedError(f"a memo has at most {limits.memo_chars_max} characters; this one has {len(memo)}")
    shown = visible(format_money(minor, unit["decimals"], unit["code"]))
    if tree:
        appended = client.submit(context.key(), PayTree(to_path=to, amount_minor=minor, memo=memo))
        if as_json:
            print_json(appended)
        else:
            click.echo(f"sent {shown} to {visible(to)} in the Credit Commons tree (seq {appended['seq']}); it is held "
                       "until the trunkward node answers: `tally log` shows tree_settled or tree_returned")
        return
    if "@" in to:
        _pay_across(context, client, to, minor, memo, federation, shown, as_json)
        return
    appended = client.submit(context.key(), Transfer(to=resolve_member(client, to), amount_minor=minor, memo=memo))
    if as_json:
        print_json(appended)
    else:
        click.echo(f"paid {shown} to {visible(to)} (seq {appended['seq']})")


def _pay_across(context: Context, client: Client, to: str, minor: int, memo: str, federation: str | None,
                shown: str, as_json: bool) -> None:
    """`pay MEMBER@NODE_URL` or `pay m_ID@n_COMMUNITY`: a `PayAcross` through the federation where
    the two communities meet."""
    member_reference, _, where = to.partition("@")
    if where.startswith("n_"):
        # The other community by its id: works while its node is down (the payment waits).
        if not member_reference.startswith("m_"):
            raise click.UsageError("with a community's n_ id, name the member by their m_ id: m_…@n_…")
        to_community, to_member = where, member_reference
    else:
        try:
            other = Client(where)
        except BadUrlError:
            raise click.UsageError(
                f"{where!r} after @ is not a node's URL: pay {member_reference}@http://HOST:PORT (the other community's "
                f"node), or m_ID@n_COMMUNITY while it is down; a member here is paid by name: pay {member_reference}"
            ) from None
        to_community = other.community()["node"]
        # An m_ id needs no look-up; a name does, and another community shows its members' names
        # only to those its policy lets see them (by default its own members).
        to_member = member_reference if member_reference.startswith("m_") else other.get(
            f"/api/members/{quote(member_reference, safe='')}")["id"]
    meeting = federate.meeting(client.get("/api/federations"), client.community()["node"], to_community, federation)
    if meeting is None:
        raise Mistake("no_federation",
            f"this community and {where} are under no common federation"
            + (f" named {federation}" if federation else "") + "; a payment across needs one above both")
    action = PayAcross(federation=id_from_text("x", meeting["id"]), to_community=id_from_text("n", to_community),
                       to_member=id_from_text("m", to_member), amount_minor=minor, memo=memo)
    appended = client.submit(context.key(), action)
    if as_json:
        print_json({"payment": appended["hash"], **appended})
    else:
        click.echo(f"sent {shown} to {visible(to)} through {visible(meeting['name'])} (payment {appended['hash']}); "
                   "`tally payments` shows when it settles")


@click.command(cls=TallyCommand, epilog=example("tally payments", "tally payments --all --json"))
@click.option("--all", "everything", is_flag=True, help="Every payment this node holds, not only this community's.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def payments(context: Context, everything: bool, as_json: bool) -> None:
    """Payments across communities: pending, accepted, settled, rejected, returned or expired."""
    client = context.client()
    rows = client.get("/api/payments", mine=None if everything else "1")
    if as_json:
        say_hidden(client)
        print_json(rows)
        return
    community = client.community()
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
                      # None: another community's memo, which its node committed and keeps.
                      "(not shown here)" if row["memo"] is None else row["memo"][:30])
    console.print(table)
    say_hidden(client)


commands = (pay, payments)
