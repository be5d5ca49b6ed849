"""`tally enterprise …`: register an enterprise, offer its shares, subscribe, trade, withdraw, and
read its cap table. Every change is an intent signed with --key; every read takes --json.

How this works: each command builds one action from protocol/events.py, resolves names to ids
through the node's API, and submits it; amounts are typed in major units and sent in minor units,
and printed for people in major units with the unit's code ("12.50 HRS"); `--json` keeps the
node's integers of minor units. After an order is placed the command reads back what its event
did (the trades the book records at the event's seq, and whether the order rests), so it says what
filled and what rests. The co-operative rules (docs/shares.md, "Co-operative rules") are here too:
a class registered with `:member-vote` votes one member, one vote; `interest-cap`,
`suspend-withdrawals` and `resume-withdrawals` propose a holders' decision; `pay-interest` is the
manager's, and `show` says which of them are in force (from the enterprise's document:
`member_vote`, `interest_cap_bp`, `interest_paid_to_ms`, `suspension`). docs/shares.md states the
rules the node applies.
"""

from __future__ import annotations

import time
from typing import Any, get_args
from urllib.parse import quote

import click
from tallystick.ledger.money import format_duration, format_share, parse_amount
from tallystick.ledger.names import normalise_name
from tallystick.ledger.shares import suspension_reasons as suspension_reasons_said
from tallystick.protocol import limits
from tallystick.protocol.errors import MalformedError
from tallystick.protocol.events import (
    CancelOrder,
    EnterprisePay,
    FounderIssue,
    Holders,
    OpenOfferWithPeriod,
    PayInterest,
    PlaceOrder,
    ProposeWithPeriod,
    RegisterEnterprise,
    RegisterEnterpriseWithMemberVotes,
    ResumeWithdrawals,
    SetInterestCap,
    ShareClass,
    Subscribe,
    SuspendWithdrawals,
    SuspensionReason,
    TransferShares,
    WithdrawShares,
)
from tallystick.protocol.ids import id_from_text, id_to_text

from .client import Client
from .common import (
    Context,
    Money,
    TallyGroup,
    account_id,
    console,
    count,
    example,
    money_of,
    parse_duration_ms,
    parse_percent_bp,
    print_json,
    refusals_exit_cleanly,
)
from .reading import say_hidden
from .terminal import Table, markup, visible

# Table columns holding amounts: never wrapped, so "12.50 HRS" stays on one line.
money_columns = frozenset({"balance", "par", "cost", "price", "bid", "ask"})
share_kinds = ("founder", "labour", "user", "investor")


def enterprise_document(client: Client, reference: str) -> dict[str, Any]:
    """An enterprise's document (its classes, without the cap table's rows)."""
    return client.get(f"/api/enterprises/{quote(reference, safe='')}", limit=1)


def enterprise_id(client: Client, reference: str) -> bytes:
    return id_from_text("e", enterprise_document(client, reference)["id"])


def _class_name(document: dict[str, Any], index: int) -> str:
    classes = document["classes"]
    return classes[index]["name"] if index < len(classes) else f"class {index}"


def dividend_refusal(client: Client, reference: str) -> str | None:
    """Why a dividend of enterprise REFERENCE could not be paid to anyone, said plainly, or None.
    A dividend goes to the holders of classes with a dividend weight, by weight x units held."""
    document = enterprise_document(client, reference)
    name = visible(document["name"])
    classes = document["classes"]
    if not any(c["outstanding"] for c in classes):
        return (f"{name} has issued no shares yet, so a dividend has no one to go to; shares are issued when an "
                f"offer closes with its minimum subscribed (`tally enterprise offers` shows {name}'s offers)")
    if not any(c["outstanding"] and c["dividend_weight"] for c in classes):
        weighted = [visible(c["name"]) for c in classes if c["dividend_weight"]]
        carried = (f"only {', '.join(weighted)} {'carries' if len(weighted) == 1 else 'carry'} one, and none is held"
                   if weighted else "no class of it carries one (dividend=0)")
        return f"no share of {name} that is held carries a dividend: {carried}"
    return None


member_vote_option = "member-vote"


def votes_by_member(spec: str) -> bool:
    """Whether a --class SPEC asks for one member, one vote (`:member-vote`)."""
    return member_vote_option in spec.split(":")[2:]


def parse_class(spec: str, decimals: int) -> ShareClass:
    """'NAME:KIND[:par=1.00][:votes=N][:dividend=N][:cap=N][:withdrawable][:transferable][:local][:member-vote]'
    (`member-vote` is the registration's, not the class's: `votes_by_member` reads it)."""
    parts = spec.split(":")
    if len(parts) < 2 or parts[1] not in share_kinds:
        raise click.BadParameter(f"{spec!r}: write NAME:KIND[:option…], KIND one of {', '.join(share_kinds)}")
    fields: dict[str, Any] = {
        "name": normalise_name(parts[0], "a share class's name"), "kind": parts[1], "votes_per_share": 1, "dividend_weight": 1,
        "par_minor": parse_amount("1", decimals), "withdrawable": False, "transferable": False,
        "holding_cap_units": None, "local_only": False,
    }
    numbers = {"votes": "votes_per_share", "dividend": "dividend_weight", "cap": "holding_cap_units"}
    flags = {"withdrawable": "withdrawable", "transferable": "transferable", "local": "local_only"}
    for option in parts[2:]:
        name, _, value = option.partition("=")
        if option == member_vote_option:
            continue
        if name in flags and not value:
            fields[flags[name]] = True
        elif name == "par" and value:
            fields["par_minor"] = parse_amount(value, decimals)
        elif name in numbers and value.isdigit():
            fields[numbers[name]] = int(value)
        else:
            raise click.BadParameter(f"{spec!r}: unknown option {option!r} "
                                     "(par=, votes=, dividend=, cap=, withdrawable, transferable, local, member-vote)")
    return ShareClass(**fields)


def _shares(units: int, class_name: str) -> str:
    """'2 Investor shares', '1 Investor share': a class is usually named for its shares, so the
    units come first and the class's name after, in the singular for one."""
    name = visible(class_name)
    if units == 1 and name.endswith(" shares"):
        name = name[: -len("s")]
    return f"{units} {name}"


def offer_status(offer: dict[str, Any]) -> str:
    """'open, closes in 1 min 50 s', 'allotted', or 'refunded: 8 of the 10 needed were subscribed'."""
    if offer["open"]:
        return f"open, closes in {format_duration(offer['time_left_ms'])}"
    if offer["outcome"] == "refunded" and offer["subscribed_units"] < offer["min_units"]:
        return f"refunded: {offer['subscribed_units']} of the {offer['min_units']} needed were subscribed"
    return str(offer["outcome"])


def order_outcome(client: Client, member: str, enterprise: dict[str, Any], share_class: int, seq: int,
                  units: int) -> dict[str, Any]:
    """What the order placed at `seq` did: its fills (the trades the book records at that seq,
    best price first as they matched), and the units that rest on the exchange now (its resting
    order, found among the member's own). `complete` is False when the book keeps fewer of the
    order's trades than it made (it keeps the last `trades_recent_max` of a class)."""
    book = client.get(f"/api/enterprises/{enterprise['id']}/book/{share_class}", limit=1)
    fills = [{"price": t["price"], "units": t["units"]} for t in reversed(book["trades"]) if t["seq"] == seq]
    held = client.get(f"/api/members/{member}/holdings", limit=limits.page_size_max)
    resting = next((o for o in held["orders"] if o["id"] == seq), None)
    filled = sum(f["units"] for f in fills)
    return {
        "fills": fills,
        "filled_units": filled,
        "filled_value": sum(f["units"] * f["price"] for f in fills),
        "resting_units": 0 if resting is None else resting["units"],
        "complete": len(fills) < limits.trades_recent_max or filled + (0 if resting is None else resting["units"]) == units,
    }


def order_message(side: str, units: int, limit_minor: int, enterprise: dict[str, Any], share_class: int, seq: int,
                  outcome: dict[str, Any], money: Money) -> str:
    """'bought 2 Investor shares of Bakery at 6.00 HRS each (12.00 HRS); nothing rests', or
    'sold 1 at 6.00 HRS; 2 rest on the exchange at 6.00 HRS (order 27)'."""
    verb = "bought" if side == "buy" else "sold"
    shares = _shares(outcome["filled_units"], _class_name(enterprise, share_class))
    name = visible(enterprise["name"])
    fills = outcome["fills"]
    prices = {f["price"] for f in fills}
    if not fills:
        done = f"nothing filled: no {'seller asks' if side == 'buy' else 'buyer bids'} {money(limit_minor)} or better"
    elif len(prices) == 1:
        done = f"{verb} {shares} of {name} at {money(fills[0]['price'])} each ({money(outcome['filled_value'])})"
    else:
        parts = ", ".join(f"{f['units']} at {money(f['price'])}" for f in fills)
        done = f"{verb} {shares} of {name}: {parts} ({money(outcome['filled_value'])} in all)"
    if not outcome["complete"]:
        done += " and more (`tally enterprise book` shows the last trades)"
    left = outcome["resting_units"]
    if left:
        rests = (f"{left} {'rests' if left == 1 else 'rest'} on the exchange at {money(limit_minor)} (order {seq}; "
                 f"`tally enterprise cancel {seq}` takes {'it' if left == 1 else 'them'} back)")
    elif outcome["filled_units"] + left < units and outcome["complete"]:
        rests = f"the other {units - outcome['filled_units']} did not rest (past the fills one order may make)"
    else:
        rests = "nothing rests"
    return f"{done}; {rests}"




def utc_minute(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def weights_words(share_class: dict[str, Any]) -> str:
    """'a share carries 2 votes and dividend weight 1', or for a class that votes one member, one
    vote, 'one member, one vote; a share carries dividend weight 1' (with the votes a holder has,
    when not 1): there a holder's weight is not their stake."""
    votes, dividend = share_class["votes_per_share"], share_class["dividend_weight"]
    if not share_class["member_vote"]:
        return f"a share carries {count(votes, 'vote')} and dividend weight {dividend}"
    return ("one member, one vote" + ("" if votes == 1 else f" ({count(votes, 'vote')} a holder)")
            + f"; a share carries dividend weight {dividend}")


def interest_words(cap_bp: int | None, paid_to_ms: int) -> str:
    """'interest capped at 3 % a year, paid up to 2026-12-01 09:30 UTC' (under a cap of 0, 'no
    interest allowed by its holders (paid up to …)'): the holders' cap and the class's interest clock."""
    if not cap_bp:
        return f"no interest allowed by its holders (paid up to {utc_minute(paid_to_ms)})"
    return f"interest capped at {format_share(cap_bp)} a year, paid up to {utc_minute(paid_to_ms)}"


def suspension_words(suspension: dict[str, Any]) -> str:
    """'withdrawals suspended by decision 18: solvency (paying them would put its solvency at risk)'."""
    reason = suspension["reason"]
    said = suspension_reasons_said.get(reason)
    return (f"withdrawals suspended by decision {suspension['decision']}: {reason.replace('_', ' ')}"
            + (f" ({said})" if said else ""))


def _submitted(context: Context, action: Any, as_json: bool, message: str) -> dict:
    appended = context.client().submit(context.key(), action)
    if as_json:
        print_json(appended)
    else:
        click.echo(message.format(seq=appended["seq"]))
    return appended


@click.group(cls=TallyGroup, epilog=example("tally enterprise list", "tally enterprise show Bakery",
                            "tally --key alice.key enterprise subscribe 12 8"))
def enterprise() -> None:
    """Enterprises and their shares: register, offer, subscribe, trade, withdraw, show.
    Amounts are typed in major units (5.00); docs/shares.md states every rule."""


@enterprise.command("register", epilog=example(
    'tally --key riverside/admin.key enterprise register Bakery \\',
    '    --class "Customer shares:user:par=1.00:withdrawable:cap=100:local" \\',
    '    --class "Investor shares:investor:par=5.00:transferable:dividend=2" --notice 30d'))
@click.argument("name")
@click.option("--class", "classes", multiple=True, required=True, metavar="SPEC",
              help="NAME:KIND[:par=1.00][:votes=N][:dividend=N][:cap=N][:withdrawable][:transferable][:local]"
                   "[:member-vote] (repeat); KIND is founder, labour, user or investor; classes are numbered 0, 1, … "
                   "in this order. member-vote: a holder of any of its shares has its votes once, whatever their "
                   "stake (one member, one vote, as a co-operative).")
@click.option("--founder", "founder", multiple=True, metavar="CLASS:UNITS", help="Founder shares issued to you now, e.g. 0:100.")
@click.option("--notice", default=None, help="Withdrawal notice: 90s, 10m, 2h, 30d (default none).")
@click.option("--yearly-cap", default=None, help="Most paid out in withdrawals per year, major units (default no cap).")
@click.option("--json", "as_json", is_flag=True, help="Print the enterprise's id, seq and hash as JSON.")
@click.pass_obj
@refusals_exit_cleanly
def register(context: Context, name: str, classes: tuple[str, ...], founder: tuple[str, ...], notice: str | None,
             yearly_cap: str | None, as_json: bool) -> None:
    """Register enterprise NAME, managed by you (--key). `--json` prints its `id` too."""
    name = normalise_name(name, "the enterprise's name")
    client = context.client()
    decimals = client.community()["unit"]["decimals"]
    issues = []
    for item in founder:
        index, _, units = item.partition(":")
        if not index.isdigit() or not units.isdigit():
            raise click.BadParameter(f"{item!r}: write CLASS:UNITS, e.g. 0:100", param_hint="--founder")
        issues.append(FounderIssue(share_class=int(index), units=int(units)))
    fields: dict[str, Any] = {
        "name": name,
        "classes": tuple(parse_class(spec, decimals) for spec in classes),
        "founder_issue": tuple(issues),
        "notice_ms": parse_duration_ms(notice) if notice else 0,
        "yearly_cap_minor": parse_amount(yearly_cap, decimals) if yearly_cap else 0,
    }
    member_votes = tuple(index for index, spec in enumerate(classes) if votes_by_member(spec))
    # Only a registration that asks for one member, one vote takes the newer kind: the others keep
    # the bytes they always had.
    action = (RegisterEnterpriseWithMemberVotes(**fields, member_vote_classes=member_votes) if member_votes
              else RegisterEnterprise(**fields))
    appended = client.submit(context.key(), action)
    registered = enterprise_document(client, name)
    if as_json:
        print_json({"id": registered["id"], **appended})
        return
    numbered = ", ".join(f"{c['index']} {visible(c['name'])}" for c in registered["classes"])
    click.echo(f"registered {visible(name)} ({registered['id']}) with share classes {numbered}; offer shares with "
               f"`tally enterprise offer {visible(name)} --class 0 --price PRICE --units UNITS`")


@enterprise.command("list", epilog=example("tally enterprise list", "tally enterprise list --json"))
@click.option("--json", "as_json", is_flag=True, help="Amounts as integers of minor units.")
@click.pass_obj
@refusals_exit_cleanly
def list_(context: Context, as_json: bool) -> None:
    """Every enterprise of the community, with its balance and its share classes (shares outstanding)."""
    client = context.client()
    rows = client.get("/api/enterprises", limit=limits.page_size_max)
    say_hidden(client)
    if as_json:
        print_json(rows)
        return
    _, money = money_of(client)
    table = Table()
    for column in ("name", "id", "manager", "balance", "classes (shares outstanding)"):
        table.add_column(column, no_wrap=column in money_columns)
    for row in rows:
        classes = ", ".join(f"{c['index']} {c['name']} ({c['outstanding']})" for c in row["classes"])
        table.add_row(row["name"], row["id"][:14] + "…", row["manager_name"] or "", money(row["balance"]), classes)
    console.print(table)


@enterprise.command("show", epilog=example("tally enterprise show Bakery", "tally enterprise show Bakery --csv > bakery.csv"))
@click.argument("reference")
@click.option("--csv", "as_csv", is_flag=True, help="The register of members (cap table) as CSV (costs in minor units).")
@click.option("--json", "as_json", is_flag=True, help="Amounts as integers of minor units.")
@click.pass_obj
@refusals_exit_cleanly
def show(context: Context, reference: str, as_csv: bool, as_json: bool) -> None:
    """An enterprise: its classes and co-operative rules (one member, one vote; the interest cap
    and how far interest is paid; a suspension of withdrawals), the cap table (who holds what,
    since when, at what cost), its offers and its last trades."""
    client = context.client()
    if as_csv:
        enterprise_id(client, reference)  # a clear refusal for an unknown name
        # CSV rows end in CR LF; a CR inside a field (a name written before names were checked) is shown.
        table = client.get_text(f"/api/enterprises/{quote(reference, safe='')}/captable.csv").replace("\r\n", "\n")
        say_hidden(client)
        click.echo(visible(table, multiline=True), nl=False)
        return
    document = client.get(f"/api/enterprises/{quote(reference, safe='')}", limit=limits.page_size_max)
    say_hidden(client)
    if as_json:
        print_json(document)
        return
    _, money = money_of(client)
    manager = f"  managed by {markup(document['manager_name'])}" if document.get("manager_name") else ""
    console.print(f"[bold]{markup(document['name'])}[/]  {document['id']}{manager}")
    console.print(f"  balance {money(document['balance'])}")
    if document["suspension"]:
        console.print(f"  {markup(suspension_words(document['suspension']))}")
    console.print("  share classes:")
    for c in document["classes"]:
        rights = [r for r, on in (("withdrawable at par", c["withdrawable"]), ("transferable", c["transferable"]),
                                  ("members of this community only", c["local_only"])) if on]
        cap = [] if c["holding_cap"] is None else [f"at most {c['holding_cap']} a holder"]
        interest = [] if c["interest_paid_to_ms"] is None else [interest_words(document["interest_cap_bp"],
                                                                               c["interest_paid_to_ms"])]
        console.print(f"    {c['index']} {markup(c['name'])} ({c['kind']}): par {money(c['par'])}; "
                      f"{weights_words(c)}; "
                      + "".join(f"{item}; " for item in (*rights, *cap, *interest))
                      + f"{c['outstanding']} outstanding")
    if document["holders"]:
        holders = Table(title="register of members")
        for column in ("holder", "class", "units", "locked (selling, withdrawing)", "since seq", "cost"):
            holders.add_column(column, no_wrap=column in money_columns)
        for h in document["holders"]:
            holders.add_row(h["name"] or h["holder"], h["class_name"], str(h["units"]), str(h["locked"]),
                            str(h["since_seq"]), money(h["cost"]))
        console.print(holders)
    else:
        console.print("  no shares issued yet: shares are issued when an offer closes with its minimum subscribed")
    for offer in document["offers"]:
        console.print(f"  offer {offer['id']}: {offer['units']} {markup(offer['class_name'])} at "
                      f"{money(offer['price'])} each, {offer['subscribed_units']} subscribed, at least "
                      f"{offer['min_units']} needed ({offer_status(offer)})")
    for trade in document["trades"][-5:]:
        console.print(f"  traded {markup(_shares(trade['units'], _class_name(document, trade['class'])))} at "
                      f"{money(trade['price'])} (seq {trade['seq']})")


@enterprise.command("pay", epilog=example('tally --key bea.key enterprise pay Bakery Alice 20.00 --memo "flour"'))
@click.argument("reference")
@click.argument("to")
@click.argument("amount")
@click.option("--memo", default="", help="What it is for.")
@click.option("--json", "as_json", is_flag=True, help="Print the event's seq and hash as JSON.")
@click.pass_obj
@refusals_exit_cleanly
def pay(context: Context, reference: str, to: str, amount: str, memo: str, as_json: bool) -> None:
    """The manager pays TO (a member or an enterprise) AMOUNT, in major units, from the enterprise's account."""
    client = context.client()
    decimals, money = money_of(client)
    amount_minor = parse_amount(amount, decimals)
    action = EnterprisePay(enterprise=enterprise_id(client, reference), to=account_id(client, to),
                           amount_minor=amount_minor, memo=memo)
    _submitted(context, action, as_json, f"{visible(reference)} paid {visible(to)} {money(amount_minor)} (seq {{seq}})")


@enterprise.command("offer", epilog=example(
    "tally --key riverside/admin.key enterprise offer Bakery --class 1 --price 5.00 --units 40 --min 10 --closes-in 2m"))
@click.argument("reference")
@click.option("--class", "share_class", type=click.IntRange(0, limits.share_classes_max - 1), required=True,
              help="The class's number (0 for the first --class of `register`).")
@click.option("--price", required=True, help="Per share, major units (a withdrawable class: its par).")
@click.option("--units", type=click.IntRange(1, limits.share_units_max), required=True, help="Shares on offer.")
@click.option("--min", "min_units", type=click.IntRange(1, limits.share_units_max), default=None,
              help="The minimum target in shares: fewer subscribed by the close, and everyone is refunded "
                   "(default: all of --units).")
@click.option("--member-cap", type=click.IntRange(1, limits.share_units_max), default=None,
              help="Most shares one member may subscribe (default: all).")
@click.option("--closes-in", default="14d", show_default=True, help="How long it stays open: 90s, 10m, 2h, 7d.")
@click.option("--json", "as_json", is_flag=True, help="Print its id (the seq that opened it), seq and hash.")
@click.pass_obj
@refusals_exit_cleanly
def offer(context: Context, reference: str, share_class: int, price: str, units: int, min_units: int | None,
          member_cap: int | None, closes_in: str, as_json: bool) -> None:
    """Open a share offer (the manager): members subscribe while it is open, their money waits in
    escrow, and at the close the node allots it (at least --min subscribed) or refunds everyone."""
    client = context.client()
    decimals, money = money_of(client)
    document = enterprise_document(client, reference)
    price_minor = parse_amount(price, decimals)
    minimum = units if min_units is None else min_units
    open_for_ms = parse_duration_ms(closes_in)
    action = OpenOfferWithPeriod(  # open for a period of the log's own time, as a decision
        enterprise=id_from_text("e", document["id"]), share_class=share_class,
        price_minor=price_minor, units=units, min_units=minimum,
        member_cap_units=units if member_cap is None else member_cap,
        deadline_ms=0, open_for_ms=open_for_ms,
    )
    appended = client.submit(context.key(), action)
    if as_json:
        print_json({"id": appended["seq"], **appended})
        return
    seq = appended["seq"]
    click.echo(f"offer {seq} is open for {format_duration(open_for_ms)}: {_shares(units, _class_name(document, share_class))} "
               f"of {visible(document['name'])} at {money(price_minor)} each, allotted only if at least {minimum} "
               f"are subscribed; members subscribe with `tally enterprise subscribe {seq} UNITS`")


@enterprise.command("subscribe", epilog=example("tally --key alice.key enterprise subscribe 12 8"))
@click.argument("offer_id", type=click.IntRange(1))
@click.argument("units", type=click.IntRange(1, limits.share_units_max))
@click.option("--json", "as_json", is_flag=True, help="Print the event's seq and hash as JSON.")
@click.pass_obj
@refusals_exit_cleanly
def subscribe(context: Context, offer_id: int, units: int, as_json: bool) -> None:
    """Subscribe UNITS shares of offer OFFER_ID (`tally enterprise offers` lists them); the price
    waits in escrow until it closes, then buys the shares allotted or comes back."""
    client = context.client()
    appended = client.submit(context.key(), Subscribe(offer=offer_id, units=units))
    if as_json:
        print_json(appended)
        return
    _, money = money_of(client)
    found = client.get(f"/api/offers/{offer_id}")
    subscribed, minimum = found["subscribed_units"], found["min_units"]
    target = (f"{subscribed} of the {minimum} it needs are subscribed so far: if fewer are by then, "
              f"everyone is refunded" if subscribed < minimum else f"{subscribed} subscribed, its minimum of {minimum} is met")
    click.echo(f"subscribed {_shares(units, found['class_name'])} of {visible(found['enterprise_name'])} at "
               f"{money(found['price'])} each: {money(units * found['price'])} waits in escrow until offer "
               f"{offer_id} closes in {format_duration(found['time_left_ms'])}; {target}")


@enterprise.command("offers", epilog=example("tally enterprise offers --open", "tally enterprise offers 12"))
@click.argument("offer_id", type=click.IntRange(1), required=False)
@click.option("--open", "open_only", is_flag=True, help="Only the offers still open.")
@click.option("--json", "as_json", is_flag=True, help="Amounts as integers of minor units.")
@click.pass_obj
@refusals_exit_cleanly
def offers(context: Context, offer_id: int | None, open_only: bool, as_json: bool) -> None:
    """Offers, newest first (or one OFFER_ID with its subscriptions)."""
    client = context.client()
    rows = [client.get(f"/api/offers/{offer_id}")] if offer_id else client.get(
        "/api/offers", open="1" if open_only else None, limit=limits.page_size_max)
    say_hidden(client)
    if as_json:
        print_json(rows[0] if offer_id else rows)
        return
    _, money = money_of(client)
    table = Table()
    for column in ("id", "enterprise", "class", "price", "subscribed", "at least", "status"):
        table.add_column(column, no_wrap=column in money_columns)
    for row in rows:
        table.add_row(str(row["id"]), row["enterprise_name"], row["class_name"], money(row["price"]),
                      f"{row['subscribed_units']} of {row['units']}", str(row["min_units"]), offer_status(row))
    console.print(table)
    if offer_id and rows[0].get("subscriptions"):
        subscribers = Table(title="subscriptions")
        for column in ("member", "units", "allotted" if not rows[0]["open"] else "allotted if it closed now"):
            subscribers.add_column(column)
        for sub in rows[0]["subscriptions"]:
            subscribers.add_row(sub["name"] or sub["member"], str(sub["units"]), str(sub["allotted"]))
        console.print(subscribers)


def order(context: Context, side: str, reference: str, share_class: int, units: int, price: str, as_json: bool) -> None:
    client = context.client()
    decimals, money = money_of(client)
    document = enterprise_document(client, reference)
    limit_minor = parse_amount(price, decimals)
    action = PlaceOrder(enterprise=id_from_text("e", document["id"]), share_class=share_class, side=side,  # type: ignore[arg-type]
                        units=units, price_minor=limit_minor)
    key = context.key()
    appended = client.submit(key, action)
    outcome = order_outcome(client, id_to_text("m", key.public), document, share_class, appended["seq"], units)
    if as_json:
        print_json({"id": appended["seq"], **appended, **outcome})
    else:
        click.echo(order_message(side, units, limit_minor, document, share_class, appended["seq"], outcome, money))


for side, verb, usage in (("buy", "buy", "tally --key bob.key enterprise buy Bakery 1 2 6.50"),
                            ("sell", "sell", "tally --key alice.key enterprise sell Bakery 1 3 6.00")):
    @enterprise.command(side, epilog=example(usage), help=(
        f"Place a limit order to {verb} UNITS shares of class SHARE_CLASS of enterprise REFERENCE at PRICE "
        f"(major units, per share) or {'less' if side == 'buy' else 'more'}. What crosses the book fills at once, "
        f"at the resting orders' prices; the rest rests on the exchange until it fills or you cancel it. "
        f"It says what filled, at what price, and what rests; `--json` adds `fills`, `filled_units`, "
        f"`filled_value` and `resting_units` (minor units), and `complete` (false if the book kept fewer "
        f"trades than the order made)."))
    @click.argument("reference")
    @click.argument("share_class", type=click.IntRange(0, limits.share_classes_max - 1))
    @click.argument("units", type=click.IntRange(1, limits.share_units_max))
    @click.argument("price")
    @click.option("--json", "as_json", is_flag=True, help="Print the order's id, seq, hash and what it did as JSON.")
    @click.pass_obj
    @refusals_exit_cleanly
    def place(context: Context, reference: str, share_class: int, units: int, price: str, as_json: bool,
              side: str = side) -> None:
        order(context, side, reference, share_class, units, price, as_json)


@enterprise.command("cancel", epilog=example("tally --key alice.key enterprise cancel 27"))
@click.argument("order_id", type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print the event's seq and hash as JSON.")
@click.pass_obj
@refusals_exit_cleanly
def cancel(context: Context, order_id: int, as_json: bool) -> None:
    """Cancel your resting order ORDER_ID (`tally enterprise holdings` lists yours): a buy's
    reserved credit comes back, a sell's shares are free again."""
    _submitted(context, CancelOrder(order=order_id), as_json, f"cancelled order {order_id} (seq {{seq}})")


@enterprise.command("book", epilog=example("tally enterprise book Bakery 1"))
@click.argument("reference")
@click.argument("share_class", type=click.IntRange(0, limits.share_classes_max - 1))
@click.option("--json", "as_json", is_flag=True, help="Prices as integers of minor units.")
@click.pass_obj
@refusals_exit_cleanly
def book(context: Context, reference: str, share_class: int, as_json: bool) -> None:
    """The order book of a class: bids and asks by price, and the last trades."""
    client = context.client()
    document = client.get(f"/api/enterprises/{quote(reference, safe='')}/book/{share_class}")
    say_hidden(client)
    if as_json:
        print_json(document)
        return
    _, money = money_of(client)
    table = Table()
    for column in ("bid units", "bid", "ask", "ask units"):
        table.add_column(column, justify="right", no_wrap=column in money_columns)
    bids, asks = document["bids"], document["asks"]
    for i in range(max(len(bids), len(asks))):
        bid = bids[i] if i < len(bids) else None
        ask = asks[i] if i < len(asks) else None
        table.add_row(str(bid["units"]) if bid else "", money(bid["price"]) if bid else "",
                      money(ask["price"]) if ask else "", str(ask["units"]) if ask else "")
    if bids or asks:
        console.print(table)
    else:
        console.print("no orders rest in this book")
    for trade in document["trades"]:
        console.print(f"  traded {trade['units']} at {money(trade['price'])} (seq {trade['seq']})")


@enterprise.command("transfer", epilog=example("tally --key alice.key enterprise transfer Bakery 1 Bob 2"))
@click.argument("reference")
@click.argument("share_class", type=click.IntRange(0, limits.share_classes_max - 1))
@click.argument("to")
@click.argument("units", type=click.IntRange(1, limits.share_units_max))
@click.option("--json", "as_json", is_flag=True, help="Print the event's seq and hash as JSON.")
@click.pass_obj
@refusals_exit_cleanly
def transfer(context: Context, reference: str, share_class: int, to: str, units: int, as_json: bool) -> None:
    """Give UNITS shares of a transferable class to TO (no credit moves)."""
    client = context.client()
    action = TransferShares(enterprise=enterprise_id(client, reference), share_class=share_class,
                            to=account_id(client, to), units=units)
    _submitted(context, action, as_json, f"transferred {units} to {visible(to)} (seq {{seq}})")


@enterprise.command("withdraw", epilog=example("tally --key alice.key enterprise withdraw Bakery 0 5"))
@click.argument("reference")
@click.argument("share_class", type=click.IntRange(0, limits.share_classes_max - 1))
@click.argument("units", type=click.IntRange(1, limits.share_units_max))
@click.option("--json", "as_json", is_flag=True, help="Print the withdrawal's id, seq and hash as JSON.")
@click.pass_obj
@refusals_exit_cleanly
def withdraw(context: Context, reference: str, share_class: int, units: int, as_json: bool) -> None:
    """Ask for UNITS withdrawable shares to be paid back at par after the notice period."""
    client = context.client()
    document = enterprise_document(client, reference)
    action = WithdrawShares(enterprise=id_from_text("e", document["id"]), share_class=share_class, units=units)
    appended = client.submit(context.key(), action)
    if as_json:
        print_json({"id": appended["seq"], **appended})
        return
    classes = document["classes"]
    par = f" at {money_of(client)[1](classes[share_class]['par'])} each" if share_class < len(classes) else ""
    click.echo(f"withdrawal {appended['seq']} asked: {_shares(units, _class_name(document, share_class))} of "
               f"{visible(document['name'])} paid back{par} when the notice has run")


@enterprise.command("holdings", epilog=example("tally --key alice.key enterprise holdings", "tally enterprise holdings Bob"))
@click.argument("member", required=False)
@click.option("--json", "as_json", is_flag=True, help="Amounts as integers of minor units.")
@click.pass_obj
@refusals_exit_cleanly
def holdings(context: Context, member: str | None, as_json: bool) -> None:
    """MEMBER's shares and resting orders (default: yours, by --key)."""
    client = context.client()
    if member is None:
        member = id_to_text("m", context.key().public)
    document = client.get(f"/api/members/{member}/holdings", limit=limits.page_size_max)
    if as_json:
        print_json(document)
        return
    _, money = money_of(client)
    table = Table()
    for column in ("enterprise", "class", "units", "locked (selling, withdrawing)", "since seq", "cost"):
        table.add_column(column, no_wrap=column in money_columns)
    for h in document["holdings"]:
        table.add_row(h["enterprise_name"], h["class_name"], str(h["units"]), str(h["locked"]), str(h["since_seq"]),
                      money(h["cost"]))
    if document["holdings"]:
        console.print(table)
    else:
        console.print("no shares held")
    for o in document["orders"]:
        what = _shares(o["units"], o.get("class_name") or f"class {o['class']}")
        console.print(f"  order {o['id']}: {o['side']} {markup(what)} of {markup(o.get('enterprise_name') or o['enterprise'])} "
                      f"at {money(o['price'])} each")


# ---- co-operative rules: holders' decisions and the manager's interest -------------------------------


def _holders_proposal(context: Context, reference: str, effect_of: Any, title: str, text: str, closes_in: str,
                      as_json: bool) -> None:
    """Propose `effect_of(enterprise id)` to REFERENCE's holders, open for CLOSES_IN."""
    if len(title) > limits.decision_title_chars_max or len(text) > limits.decision_text_chars_max:
        raise MalformedError(
            f"a title has at most {limits.decision_title_chars_max} characters and a text {limits.decision_text_chars_max}")
    client = context.client()
    document = enterprise_document(client, reference)
    enterprise_key = id_from_text("e", document["id"])
    action = ProposeWithPeriod(decision_type="proposal", title=title, text=text, deadline_ms=0,
                               voting_period_ms=parse_duration_ms(closes_in), electorate=Holders(enterprise_key),
                               effect=effect_of(enterprise_key))
    appended = client.submit(context.key(), action)
    if as_json:
        print_json({"id": appended["seq"], **appended})
        return
    click.echo(f"decision {appended['seq']} is open to the holders of {visible(document['name'])} for "
               f"{format_duration(parse_duration_ms(closes_in))}: they vote with `tally vote {appended['seq']} agree` "
               "(or disagree, abstain, block)")


proposal_options = (
    click.option("--closes-in", default="7d", show_default=True, help="How long the holders' decision stays open."),
    click.option("--text", default="", help="What the holders should know (kept private to the community's node)."),
    click.option("--json", "as_json", is_flag=True, help="Print the decision's id, seq and hash as JSON."),
)


def _with_proposal_options(command: Any) -> Any:
    for option in reversed(proposal_options):
        command = option(command)
    return command


@enterprise.command("interest-cap", epilog=example("tally --key bea.key enterprise interest-cap Bakery 3% --closes-in 7d"))
@click.argument("reference")
@click.argument("rate")
@_with_proposal_options
@click.pass_obj
@refusals_exit_cleanly
def interest_cap(context: Context, reference: str, rate: str, closes_in: str, text: str, as_json: bool) -> None:
    """Propose to REFERENCE's holders the most interest its manager may pay on withdrawable shares:
    RATE a year, in percent (3, 3% or 2.75%; 0 allows none)."""
    rate_bp = parse_percent_bp(rate)
    assert rate_bp is not None
    _holders_proposal(context, reference, lambda enterprise: SetInterestCap(enterprise, rate_bp),
                      f"Interest on withdrawable shares at most {format_share(rate_bp)} a year", text, closes_in,
                      as_json)


suspension_reasons = get_args(SuspensionReason)


@enterprise.command("suspend-withdrawals", epilog=example(
    'tally --key bea.key enterprise suspend-withdrawals Bakery --reason solvency --text "until the oven is paid for"'))
@click.argument("reference")
@click.option("--reason", type=click.Choice(suspension_reasons), required=True,
              help="Why (recorded, and named in every refusal): solvency, liquidity, winding_up, restructuring, "
                   "or other (say more with --text).")
@_with_proposal_options
@click.pass_obj
@refusals_exit_cleanly
def suspend_withdrawals(context: Context, reference: str, reason: str, closes_in: str, text: str,
                        as_json: bool) -> None:
    """Propose to REFERENCE's holders that its withdrawals be suspended: no new one is taken, and
    those pending wait, until a decision resumes them."""
    _holders_proposal(context, reference, lambda enterprise: SuspendWithdrawals(enterprise, reason),  # type: ignore[arg-type]
                      f"Suspend withdrawals ({reason.replace('_', ' ')})", text, closes_in, as_json)


@enterprise.command("resume-withdrawals", epilog=example("tally --key bea.key enterprise resume-withdrawals Bakery"))
@click.argument("reference")
@_with_proposal_options
@click.pass_obj
@refusals_exit_cleanly
def resume_withdrawals(context: Context, reference: str, closes_in: str, text: str, as_json: bool) -> None:
    """Propose to REFERENCE's holders that the suspension of its withdrawals be lifted."""
    _holders_proposal(context, reference, ResumeWithdrawals, "Resume withdrawals", text, closes_in, as_json)


@enterprise.command("pay-interest", epilog=example("tally --key bea.key enterprise pay-interest Bakery 0 2.5% --for 365d"))
@click.argument("reference")
@click.argument("share_class", type=click.IntRange(0, limits.share_classes_max - 1))
@click.argument("rate")
@click.option("--for", "period", required=True, help="The time it pays for (365d, 90d): at most the time since "
                                                     "interest was last paid, or since the holders first set a cap.")
@click.option("--json", "as_json", is_flag=True, help="Print the event's seq and hash, and `paid` (minor units).")
@click.pass_obj
@refusals_exit_cleanly
def pay_interest(context: Context, reference: str, share_class: int, rate: str, period: str, as_json: bool) -> None:
    """The manager pays interest on withdrawable class SHARE_CLASS at RATE a year (at most the
    holders' cap), from the enterprise's account, to every holder: units x par x RATE x the period."""
    client = context.client()
    rate_bp = parse_percent_bp(rate)
    assert rate_bp is not None
    document = enterprise_document(client, reference)
    period_ms = parse_duration_ms(period)
    action = PayInterest(enterprise=id_from_text("e", document["id"]), share_class=share_class, rate_bp=rate_bp,
                         period_ms=period_ms)
    appended = client.submit(context.key(), action)
    paid = document["balance"] - enterprise_document(client, reference)["balance"]
    if as_json:
        print_json({**appended, "paid": paid})
        return
    _, money = money_of(client)
    click.echo(f"{visible(document['name'])} paid {money(paid)} of interest at {format_share(rate_bp)} a year for "
               f"{format_duration(period_ms)} on {visible(_class_name(document, share_class))} (seq {appended['seq']})")


commands = (enterprise,)
