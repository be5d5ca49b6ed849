"""`tally enterprise …`: register an enterprise, offer its shares, subscribe, trade, withdraw, and
read its cap table. Every change is an intent signed with --key; every read takes --json.

How this works: each command builds one action from protocol/events.py, resolves names to ids
through the node's API, and submits it; amounts are typed in major units and sent in minor units.
docs/shares.md states the rules the node applies.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from tallystick.node.money import format_amount, parse_amount
from tallystick.node.names import normalise_name
from tallystick.protocol import limits
from tallystick.protocol.events import (
    CancelOrder,
    EnterprisePay,
    FounderIssue,
    OpenOfferWithPeriod,
    PlaceOrder,
    RegisterEnterprise,
    ShareClass,
    Subscribe,
    TransferShares,
    WithdrawShares,
)
from tallystick.protocol.ids import id_from_text, id_to_text

from .client import Client
from .terminal import Table, markup, visible

console = Console()
share_kinds = ("founder", "labour", "user", "investor")


def _decimals(client: Client) -> int:
    return client.get("/api/community")["unit"]["decimals"]


def enterprise_id(client: Client, reference: str) -> bytes:
    return id_from_text("e", client.get(f"/api/enterprises/{reference}", limit=1)["id"])


def _account_id(client: Client, reference: str) -> bytes:
    """A member or an enterprise account by id or name."""
    if reference.startswith(("m_", "e_")):
        return id_from_text(reference[0], reference)  # type: ignore[arg-type]
    return id_from_text("m", client.get(f"/api/members/{reference}")["id"])


def parse_class(spec: str, decimals: int) -> ShareClass:
    """'NAME:KIND[:par=1.00][:votes=N][:dividend=N][:cap=N][:withdrawable][:transferable][:local]'."""
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
        if name in flags and not value:
            fields[flags[name]] = True
        elif name == "par" and value:
            fields["par_minor"] = parse_amount(value, decimals)
        elif name in numbers and value.isdigit():
            fields[numbers[name]] = int(value)
        else:
            raise click.BadParameter(f"{spec!r}: unknown option {option!r} (par=, votes=, dividend=, cap=, withdrawable, transferable, local)")
    return ShareClass(**fields)


def _duration_ms(text: str) -> int:
    from .main import _parse_duration_ms

    return _parse_duration_ms(text)


def add_commands(main: click.Group, refusals_exit_cleanly: Any, print_json: Any, now_ms: Any) -> None:
    """Register the `enterprise` group on the `tally` command."""

    def _submitted(context: Any, action: Any, as_json: bool, message: str) -> dict:
        appended = context.client().submit(context.key(), action)
        if as_json:
            print_json(appended)
        else:
            click.echo(message.format(seq=appended["seq"]))
        return appended

    @main.group()
    def enterprise() -> None:
        """Enterprises and their shares: register, offer, subscribe, trade, withdraw, show."""

    @enterprise.command("register")
    @click.argument("name")
    @click.option("--class", "classes", multiple=True, required=True, metavar="SPEC",
                  help="NAME:KIND[:par=1.00][:votes=N][:dividend=N][:cap=N][:withdrawable][:transferable][:local] (repeat)")
    @click.option("--founder", "founder", multiple=True, metavar="CLASS:UNITS", help="Founder shares issued to you now.")
    @click.option("--notice", default=None, help="Withdrawal notice: 90s, 10m, 2h, 30d (default none).")
    @click.option("--yearly-cap", default=None, help="Most paid out in withdrawals per year, major units (default no cap).")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def register(context: Any, name: str, classes: tuple[str, ...], founder: tuple[str, ...], notice: str | None,
                 yearly_cap: str | None, as_json: bool) -> None:
        """Register enterprise NAME, managed by you (--key). `--json` prints its `id` too."""
        name = normalise_name(name, "the enterprise's name")
        client = context.client()
        decimals = _decimals(client)
        issues = []
        for item in founder:
            index, _, units = item.partition(":")
            if not index.isdigit() or not units.isdigit():
                raise click.BadParameter(f"{item!r}: write CLASS:UNITS, e.g. 0:100")
            issues.append(FounderIssue(share_class=int(index), units=int(units)))
        action = RegisterEnterprise(
            name=name,
            classes=tuple(parse_class(spec, decimals) for spec in classes),
            founder_issue=tuple(issues),
            notice_ms=_duration_ms(notice) if notice else 0,
            yearly_cap_minor=parse_amount(yearly_cap, decimals) if yearly_cap else 0,
        )
        appended = client.submit(context.key(), action)
        registered = client.get(f"/api/enterprises/{name}", limit=1)
        if as_json:
            print_json({"id": registered["id"], **appended})
        else:
            click.echo(f"registered {visible(name)} ({registered['id']}) at seq {appended['seq']}")

    @enterprise.command("list")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def list_(context: Any, as_json: bool) -> None:
        """Every enterprise of the community."""
        client = context.client()
        rows = client.get("/api/enterprises", limit=limits.page_size_max)
        if as_json:
            print_json(rows)
            return
        decimals = _decimals(client)
        table = Table()
        for column in ("name", "id", "manager", "balance", "classes"):
            table.add_column(column)
        for row in rows:
            classes = ", ".join(f"{c['index']}:{c['name']} ({c['outstanding']})" for c in row["classes"])
            table.add_row(row["name"], row["id"][:14] + "…", row["manager_name"] or "",
                          format_amount(row["balance"], decimals), classes)
        console.print(table)

    @enterprise.command("show")
    @click.argument("reference")
    @click.option("--csv", "as_csv", is_flag=True, help="The register of members (cap table) as CSV.")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def show(context: Any, reference: str, as_csv: bool, as_json: bool) -> None:
        """An enterprise: its classes, the cap table (who holds what, since when, at what cost),
        its offers and its last trades."""
        client = context.client()
        if as_csv:
            enterprise_id(client, reference)  # a clear refusal for an unknown name
            # CSV rows end in CR LF; a CR inside a field (a name written before names were checked) is shown.
            table = client.get_text(f"/api/enterprises/{reference}/captable.csv").replace("\r\n", "\n")
            click.echo(visible(table, multiline=True), nl=False)
            return
        document = client.get(f"/api/enterprises/{reference}", limit=limits.page_size_max)
        if as_json:
            print_json(document)
            return
        decimals = _decimals(client)
        console.print(f"[bold]{markup(document['name'])}[/]  {document['id']}  managed by {markup(document['manager_name'] or '')}")
        console.print(f"  balance {format_amount(document['balance'], decimals)}")
        classes = Table(title="share classes")
        for column in ("#", "name", "kind", "par", "votes", "dividend", "rights", "cap", "outstanding"):
            classes.add_column(column)
        for c in document["classes"]:
            rights = " ".join(r for r, on in (("withdrawable", c["withdrawable"]), ("transferable", c["transferable"]),
                                              ("local-only", c["local_only"])) if on)
            classes.add_row(str(c["index"]), c["name"], c["kind"], format_amount(c["par"], decimals),
                            str(c["votes_per_share"]), str(c["dividend_weight"]), rights,
                            "" if c["holding_cap"] is None else str(c["holding_cap"]), str(c["outstanding"]))
        console.print(classes)
        holders = Table(title="register of members")
        for column in ("holder", "class", "units", "locked", "since seq", "cost"):
            holders.add_column(column)
        for h in document["holders"]:
            holders.add_row(h["name"] or h["holder"], h["class_name"], str(h["units"]), str(h["locked"]),
                            str(h["since_seq"]), format_amount(h["cost"], decimals))
        console.print(holders)
        for offer in document["offers"]:
            state = "open" if offer["open"] else offer["outcome"]
            console.print(f"  offer {offer['id']}: {offer['units']} {markup(offer['class_name'])} at "
                          f"{format_amount(offer['price'], decimals)}, {offer['subscribed_units']} subscribed ({state})")

    @enterprise.command("pay")
    @click.argument("reference")
    @click.argument("to")
    @click.argument("amount")
    @click.option("--memo", default="")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def pay(context: Any, reference: str, to: str, amount: str, memo: str, as_json: bool) -> None:
        """The manager pays TO from the enterprise's account."""
        client = context.client()
        action = EnterprisePay(enterprise=enterprise_id(client, reference), to=_account_id(client, to),
                               amount_minor=parse_amount(amount, _decimals(client)), memo=memo)
        _submitted(context, action, as_json, f"{visible(reference)} paid {visible(to)} (seq {{seq}})")

    @enterprise.command("offer")
    @click.argument("reference")
    @click.option("--class", "share_class", type=click.IntRange(0, limits.share_classes_max - 1), required=True)
    @click.option("--price", required=True, help="Per share, major units (a withdrawable class: its par).")
    @click.option("--units", type=click.IntRange(1, limits.share_units_max), required=True)
    @click.option("--min", "min_units", type=click.IntRange(1, limits.share_units_max), default=None,
                  help="The minimum target in shares (default: all of --units).")
    @click.option("--member-cap", type=click.IntRange(1, limits.share_units_max), default=None,
                  help="Most shares one member may subscribe (default: all).")
    @click.option("--closes-in", default="14d", show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def offer(context: Any, reference: str, share_class: int, price: str, units: int, min_units: int | None,
              member_cap: int | None, closes_in: str, as_json: bool) -> None:
        """Open a share offer (the manager). `--json` prints its `id`."""
        client = context.client()
        action = OpenOfferWithPeriod(  # open for a period of the log's own time, as a decision
            enterprise=enterprise_id(client, reference), share_class=share_class,
            price_minor=parse_amount(price, _decimals(client)), units=units,
            min_units=units if min_units is None else min_units,
            member_cap_units=units if member_cap is None else member_cap,
            deadline_ms=0, open_for_ms=_duration_ms(closes_in),
        )
        appended = client.submit(context.key(), action)
        if as_json:
            print_json({"id": appended["seq"], **appended})
        else:
            click.echo(f"offer {appended['seq']} is open: subscribe with `tally enterprise subscribe {appended['seq']} UNITS`")

    @enterprise.command("subscribe")
    @click.argument("offer_id", type=click.IntRange(1))
    @click.argument("units", type=click.IntRange(1, limits.share_units_max))
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def subscribe(context: Any, offer_id: int, units: int, as_json: bool) -> None:
        """Subscribe UNITS shares of an offer; the price waits in escrow until it closes."""
        _submitted(context, Subscribe(offer=offer_id, units=units), as_json, f"subscribed {units} (seq {{seq}})")

    @enterprise.command("offers")
    @click.argument("offer_id", type=click.IntRange(1), required=False)
    @click.option("--open", "open_only", is_flag=True)
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def offers(context: Any, offer_id: int | None, open_only: bool, as_json: bool) -> None:
        """Offers, newest first (or one OFFER_ID with its subscriptions)."""
        client = context.client()
        rows = [client.get(f"/api/offers/{offer_id}")] if offer_id else client.get(
            "/api/offers", open="1" if open_only else None, limit=limits.page_size_max)
        if as_json:
            print_json(rows[0] if offer_id else rows)
            return
        decimals = _decimals(client)
        table = Table()
        for column in ("id", "enterprise", "class", "price", "subscribed", "target", "status"):
            table.add_column(column)
        for row in rows:
            table.add_row(str(row["id"]), row["enterprise_name"], row["class_name"], format_amount(row["price"], decimals),
                          f"{row['subscribed_units']}/{row['units']}", str(row["min_units"]),
                          "open" if row["open"] else row["outcome"])
        console.print(table)

    def order(context: Any, side: str, reference: str, share_class: int, units: int, price: str, as_json: bool) -> None:
        client = context.client()
        action = PlaceOrder(enterprise=enterprise_id(client, reference), share_class=share_class, side=side,  # type: ignore[arg-type]
                            units=units, price_minor=parse_amount(price, _decimals(client)))
        appended = client.submit(context.key(), action)
        if as_json:
            print_json({"id": appended["seq"], **appended})
        else:
            click.echo(f"order {appended['seq']} placed ({side} {units} at {price})")

    for side in ("buy", "sell"):
        @enterprise.command(side, help=f"Place a limit order to {side} UNITS of CLASS at PRICE (major units) or better.")
        @click.argument("reference")
        @click.argument("share_class", type=click.IntRange(0, limits.share_classes_max - 1))
        @click.argument("units", type=click.IntRange(1, limits.share_units_max))
        @click.argument("price")
        @click.option("--json", "as_json", is_flag=True)
        @click.pass_obj
        @refusals_exit_cleanly
        def place(context: Any, reference: str, share_class: int, units: int, price: str, as_json: bool,
                  side: str = side) -> None:
            order(context, side, reference, share_class, units, price, as_json)

    @enterprise.command("cancel")
    @click.argument("order_id", type=click.IntRange(1))
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def cancel(context: Any, order_id: int, as_json: bool) -> None:
        """Cancel your resting order."""
        _submitted(context, CancelOrder(order=order_id), as_json, f"cancelled order {order_id} (seq {{seq}})")

    @enterprise.command("book")
    @click.argument("reference")
    @click.argument("share_class", type=click.IntRange(0, limits.share_classes_max - 1))
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def book(context: Any, reference: str, share_class: int, as_json: bool) -> None:
        """The order book of a class: bids and asks by price, and the last trades."""
        client = context.client()
        document = client.get(f"/api/enterprises/{reference}/book/{share_class}")
        if as_json:
            print_json(document)
            return
        decimals = _decimals(client)
        table = Table()
        for column in ("bid units", "bid", "ask", "ask units"):
            table.add_column(column, justify="right")
        bids, asks = document["bids"], document["asks"]
        for i in range(max(len(bids), len(asks))):
            bid = bids[i] if i < len(bids) else None
            ask = asks[i] if i < len(asks) else None
            table.add_row(str(bid["units"]) if bid else "", format_amount(bid["price"], decimals) if bid else "",
                          format_amount(ask["price"], decimals) if ask else "", str(ask["units"]) if ask else "")
        console.print(table)
        for trade in document["trades"]:
            console.print(f"  traded {trade['units']} at {format_amount(trade['price'], decimals)} (seq {trade['seq']})")

    @enterprise.command("transfer")
    @click.argument("reference")
    @click.argument("share_class", type=click.IntRange(0, limits.share_classes_max - 1))
    @click.argument("to")
    @click.argument("units", type=click.IntRange(1, limits.share_units_max))
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def transfer(context: Any, reference: str, share_class: int, to: str, units: int, as_json: bool) -> None:
        """Give UNITS shares of a transferable class to TO (no credit moves)."""
        client = context.client()
        action = TransferShares(enterprise=enterprise_id(client, reference), share_class=share_class,
                                to=_account_id(client, to), units=units)
        _submitted(context, action, as_json, f"transferred {units} to {visible(to)} (seq {{seq}})")

    @enterprise.command("withdraw")
    @click.argument("reference")
    @click.argument("share_class", type=click.IntRange(0, limits.share_classes_max - 1))
    @click.argument("units", type=click.IntRange(1, limits.share_units_max))
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def withdraw(context: Any, reference: str, share_class: int, units: int, as_json: bool) -> None:
        """Ask for UNITS withdrawable shares to be paid back at par after the notice period."""
        client = context.client()
        action = WithdrawShares(enterprise=enterprise_id(client, reference), share_class=share_class, units=units)
        appended = client.submit(context.key(), action)
        if as_json:
            print_json({"id": appended["seq"], **appended})
        else:
            click.echo(f"withdrawal {appended['seq']} asked; the node pays it when the notice has run")

    @enterprise.command("holdings")
    @click.argument("member", required=False)
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @refusals_exit_cleanly
    def holdings(context: Any, member: str | None, as_json: bool) -> None:
        """MEMBER's shares and resting orders (default: yours, by --key)."""
        client = context.client()
        if member is None:
            member = id_to_text("m", context.key().public)
        document = client.get(f"/api/members/{member}/holdings", limit=limits.page_size_max)
        if as_json:
            print_json(document)
            return
        decimals = _decimals(client)
        table = Table()
        for column in ("enterprise", "class", "units", "locked", "since seq", "cost"):
            table.add_column(column)
        for h in document["holdings"]:
            table.add_row(h["enterprise_name"], h["class_name"], str(h["units"]), str(h["locked"]), str(h["since_seq"]),
                          format_amount(h["cost"], decimals))
        console.print(table)
        for o in document["orders"]:
            console.print(f"  order {o['id']}: {o['side']} {o['units']} at {format_amount(o['price'], decimals)}")
