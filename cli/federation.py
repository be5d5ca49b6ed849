"""`tally federation …`: found a federation, adopt its charter, propose and vote in it, and read its
state and viability report. A community acts in a federation through its own ledger: each command
that acts signs a `federation` intent with --key (an admin's), or with `--by-decision` opens a
community decision whose effect is that act, for communities that decide together.

How this works: the federation's state is what the node folds from every federation event it
holds (GET /api/federations…); commands read the current epoch and last decision from there, build
the body from protocol/federation.py, and submit it. docs/federation.md describes the protocol.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import click
import msgspec
from tallystick.ledger.money import (
    format_ceiling,
    format_debit_limit,
    format_duration,
    format_money,
    parse_amount,
)
from tallystick.ledger.names import normalise_name
from tallystick.protocol import limits
from tallystick.protocol.events import FederationAct, ProposeWithPeriod
from tallystick.protocol.federation import (
    AdmitFederationMember,
    AllocateCapacity,
    AmendCharter,
    CapacityShare,
    Charter,
    CharterMember,
    ExpelFederationMember,
    FederationProposal,
    FederationVote,
    JoinFederation,
    SetTradeLimits,
    VoteInParent,
    federation_id,
    proposal_id,
)
from tallystick.protocol.ids import id_from_text, id_to_text

from .client import Client
from .common import (
    Context,
    TallyGroup,
    console,
    count,
    example,
    now_ms,
    parse_duration_ms,
    print_json,
    refusals_exit_cleanly,
)
from .terminal import Table, markup, visible

# How long a federation act waits for its body to be appended (docs/federation.md §16).
act_body_wait_seconds = 10.0

# Table columns holding amounts: never wrapped, so "-100.00 HRS to 100.00 HRS" stays on one line.
money_columns = frozenset({"capacity share", "trade limits", "position"})
_charter_decoder = msgspec.msgpack.Decoder(Charter)


def _member_id(text: str) -> bytes:
    """A federation member: a community (`n_…`) or a federation (`x_…`)."""
    if text.startswith(("n_", "x_")):
        return id_from_text(text[0], text)  # type: ignore[arg-type]
    raise click.BadParameter(f"{text!r}: a member is a community's n_ id or a federation's x_ id")


def _rated(text: str) -> CharterMember:
    """'n_…[=UNIT:NUM/DEN]' (default: the member's unit converts 1:1 as HRS)."""
    member, _, rate = text.partition("=")
    unit, num, den = "HRS", 1, 1
    if rate:
        unit, _, fraction = rate.partition(":")
        numerator, _, denominator = fraction.partition("/")
        if not (unit and numerator.isdigit() and (denominator or "1").isdigit()):
            raise click.BadParameter(f"{text!r}: write ID=UNIT:NUM/DEN, e.g. n_…=HRS:1/1")
        num, den = int(numerator), int(denominator or "1")
    return CharterMember(member=_member_id(member), unit_code=unit, rate_num=num, rate_den=den)


class _Money:
    """Amounts of one unit as people read them: '12.50 HRS'; trade limits as '-100.00 HRS to 100.00 HRS'."""

    def __init__(self, decimals: int, code: str) -> None:
        self.decimals, self.code = decimals, code

    def amount(self, minor: int) -> str:
        return format_money(minor, self.decimals, self.code)

    def trade_limits(self, debit_limit_minor: int, credit_ceiling_minor: int) -> str:
        if debit_limit_minor == 0 and credit_ceiling_minor == 0:
            return "none (no payments across)"
        return (f"{format_debit_limit(debit_limit_minor, self.decimals, self.code)} to "
                f"{format_ceiling(credit_ceiling_minor, self.decimals, self.code)}")


def _money(decimals: int, code: str) -> _Money:
    return _Money(decimals, code)


def _rate(member_unit: str, rate: list[int], federation_unit: str) -> str:
    """'1 HRS = 1 HRS': what one unit of the member's is worth in the federation's unit."""
    numerator, denominator = rate
    worth = str(numerator) if denominator == 1 else f"{numerator}/{denominator}"
    return f"1 {member_unit} = {worth} {federation_unit}"


def _effect_text(effect: Any, document: dict[str, Any]) -> str:
    """What a federation decision would do, in words and major units of the federation's unit."""
    unit = document["unit"]
    money = _money(unit["decimals"], unit["code"])
    names = {m["member"]: m["name"] for m in document["members"]}

    def named(member: bytes) -> str:
        text = id_to_text("x", member) if id_to_text("x", member) in names else id_to_text("n", member)
        return visible(names.get(text) or text)

    if isinstance(effect, SetTradeLimits):
        return (f"trade limits of {named(effect.member)} "
                f"{money.trade_limits(effect.debit_limit_minor, effect.credit_ceiling_minor)}")
    if isinstance(effect, AllocateCapacity):
        return "capacity shares " + ", ".join(f"{named(s.member)} {money.amount(s.capacity_minor)}" for s in effect.shares)
    if isinstance(effect, AdmitFederationMember):
        return f"admit {named(effect.member.member)}"
    if isinstance(effect, ExpelFederationMember):
        return f"expel {named(effect.member)}"
    if isinstance(effect, AmendCharter):
        return f"the charter amended: name {visible(effect.name)}, quorum {effect.quorum_bp / 100:g}%"
    if isinstance(effect, JoinFederation):
        return f"join the federation {id_to_text('x', effect.federation)}"
    if isinstance(effect, VoteInParent):
        return "this federation's ballot in its parent"
    return type(effect).__name__



def act(context: Context, body: Any, by_decision: bool, closes_in: str, title: str) -> dict:
    client = context.client()
    action: Any = FederationAct(body=body)
    if by_decision:
        action = ProposeWithPeriod(decision_type="proposal", title=title[: limits.decision_title_chars_max],
                                   text="", deadline_ms=0, voting_period_ms=parse_duration_ms(closes_in),
                                   effect=action)
    appended = client.submit(context.key(), action)
    if not by_decision:
        wait_for_body(client, appended["seq"], body.__struct_config__.tag)
    return appended


def wait_for_body(client: Client, act_seq: int, kind: str) -> None:
    """Wait (a few seconds at most) until the node has appended the act's federation body, which
    it does from its outbox just after the act: only then do other nodes see it, so a command
    typed next elsewhere (an `adopt` after a `found`) finds it. A node that takes longer still
    appends it; the command just does not wait for that."""
    deadline = time.monotonic() + act_body_wait_seconds
    while time.monotonic() < deadline:
        events = client.get("/api/log", **{"from": act_seq + 1, "limit": 50})["events"]
        if any(event["body"].get("kind") == kind for event in events):
            return
        time.sleep(0.05)


def federation_document(client: Client, reference: str) -> dict:
    return client.get(f"/api/federations/{reference}")


@click.group(cls=TallyGroup, epilog=example("tally federation list", "tally federation show Valley", "tally federation report Valley"))
def federation() -> None:
    """Federations of communities: found, adopt, propose, vote, show, report. An act signs with
    an admin's --key; docs/federation.md describes the protocol."""

decision_options = [
    click.option("--by-decision", is_flag=True, help="Open a community decision whose effect is this act."),
    click.option("--closes-in", default="7d", show_default=True, help="With --by-decision: how long it stays open."),
    click.option("--json", "as_json", is_flag=True, help="Print the act's seq and hash (and ids) as JSON."),
]


def with_decision_options(function: Any) -> Any:
    for option in reversed(decision_options):
        function = option(function)
    return function


@federation.command("found", epilog=example(
    "tally --key riverside/admin.key federation found Valley --member n_<riverside> --member n_<hilltop>"))
@click.argument("name")
@click.option("--member", "members", multiple=True, required=True, metavar="ID[=UNIT:NUM/DEN]",
              help="A founding member (a community's n_ id, this one included), its unit and rate (repeat).")
@click.option("--unit", "unit_code", default="HRS", show_default=True, help="The federation's unit.")
@click.option("--decimals", type=click.IntRange(0, limits.unit_decimals_max), default=2, show_default=True)
@click.option("--quorum", default="60", show_default=True, help="Percent of members whose yes passes a decision (over 50).")
@with_decision_options
@click.pass_obj
@refusals_exit_cleanly
def found(context: Context, name: str, members: tuple[str, ...], unit_code: str, decimals: int, quorum: str,
          by_decision: bool, closes_in: str, as_json: bool) -> None:
    """Write a charter naming the founding members and adopt it here. Each other founding
    community adopts the same charter: `tally federation adopt ID --from THIS_NODE_URL`."""
    name = normalise_name(name, "the federation's name")
    charter = Charter(
        name=name, unit_code=unit_code, unit_decimals=decimals, members=tuple(_rated(m) for m in members),
        quorum_bp=parse_amount(quorum.rstrip("%"), 2), founded_ms=now_ms(),
    )
    appended = act(context, charter, by_decision, closes_in, f"Found the federation {name}")
    identity = id_to_text("x", federation_id(charter))
    if as_json:
        print_json({"id": identity, "charter": base64.b64encode(msgspec.msgpack.encode(charter)).decode(), **appended})
    else:
        click.echo(f"charter of {visible(name)} ({identity}) adopted here at seq {appended['seq']}; "
                   f"each other member runs: tally federation adopt {identity} --from {context.node_url or '<this node URL>'}")


@federation.command("adopt", epilog=example(
    "tally --node http://127.0.0.1:7601 --key hilltop/admin.key federation adopt Valley --from http://127.0.0.1:7600"))
@click.argument("reference")
@click.option("--from", "source", required=True, metavar="URL", help="A node that holds the charter.")
@with_decision_options
@click.pass_obj
@refusals_exit_cleanly
def adopt(context: Context, reference: str, source: str, by_decision: bool, closes_in: str, as_json: bool) -> None:
    """Adopt federation REFERENCE's charter, fetched from another node and checked against its id."""
    document = federation_document(Client(source), reference)
    charter = _charter_decoder.decode(base64.b64decode(document["charter"]))
    if id_to_text("x", federation_id(charter)) != document["id"]:
        raise click.ClickException(f"{source} served a charter whose hash is not {document['id']}; not adopted")
    if reference.startswith("x_") and reference != document["id"]:
        raise click.ClickException(f"{source} answered with federation {document['id']}, not {reference}")
    appended = act(context, charter, by_decision, closes_in, f"Join the federation {charter.name}")
    print_json({"id": document["id"], **appended}) if as_json else click.echo(
        f"adopted the charter of {visible(charter.name)} at seq {appended['seq']}")


@federation.command("list", epilog=example("tally federation list", "tally federation list --json"))
@click.option("--json", "as_json", is_flag=True, help="The federations' documents as JSON.")
@click.pass_obj
@refusals_exit_cleanly
def list_(context: Context, as_json: bool) -> None:
    """Every federation this node knows of."""
    rows = context.client().get("/api/federations")
    if as_json:
        print_json(rows)
        return
    table = Table()
    for column in ("name", "id", "founded", "members", "epoch", "decisions passed"):
        table.add_column(column, no_wrap=column in money_columns)
    for row in rows:
        table.add_row(row["name"], row["id"][:14] + "…", "yes" if row["founded"] else "adopting",
                      str(len(row["members"])), str(row["epoch"]), str(len(row["passed"])))
    console.print(table)


@federation.command("show", epilog=example("tally federation show Valley", "tally federation show Valley --json"))
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Amounts as integers of minor units of the federation's unit.")
@click.pass_obj
@refusals_exit_cleanly
def show(context: Context, reference: str, as_json: bool) -> None:
    """A federation: members, their units, capacity and trade limits (in the federation's
    unit), and its decisions."""
    document = federation_document(context.client(), reference)
    if as_json:
        print_json(document)
        return
    unit = document["unit"]
    money = _money(unit["decimals"], unit["code"])
    state = "founded" if document["founded"] else f"adopted by {len(document['adopted'])} of {len(document['members'])}"
    console.print(f"[bold]{markup(document['name'])}[/]  {document['id']}  ({state}; epoch {document['epoch']}; "
                  f"a decision needs the yes of {document['quorum']} of {len(document['members'])} members; "
                  f"unit {markup(unit['code'])})")
    table = Table(title=f"members (amounts in {unit['code']}, the federation's unit)")
    for column in ("member", "rate", "capacity share", "trade limits"):
        table.add_column(column, no_wrap=column in money_columns)
    for m in document["members"]:
        label = (m["name"] or m["member"][:14] + "…") + (" (a federation)" if m["kind"] == "federation" else "")
        table.add_row(label, _rate(m["unit_code"], m["rate"], unit["code"]), money.amount(m["capacity"]),
                      "" if m["kind"] == "federation" else money.trade_limits(m["debit_limit"], m["credit_ceiling"]))
    console.print(table)
    for m in document["members"]:  # in full, to copy into --trade-limits, --allocate or --expel
        console.print(f"  {markup(m['name'] or m['kind'])}: {m['member']}")
    for d in document["decisions"]:
        console.print(f"  {d['outcome']:<10} epoch {d['epoch']}  {markup(d['title'])}  "
                      f"yes {len(d['yes'])} of {d['needed']} needed  {d['id']}")


@federation.command("report", epilog=example("tally federation report Valley", "tally federation report Valley --json"))
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Amounts as integers of minor units; systems keyed s1_operations … s5_policy.")
@click.pass_obj
@refusals_exit_cleanly
def report(context: Context, reference: str, as_json: bool) -> None:
    """The viability report: alerts first, then policy, the communities, replication, trade
    and capacity, the audit and the trade between communities (after Stafford Beer's Viable
    System Model: S5 policy, S1 operations, S2 coordination, S3 control, S3* audit, S4
    intelligence)."""
    client = context.client()
    document = client.get(f"/api/federations/{reference}/report")
    if as_json:
        print_json(document)
        return
    policy = document["s5_policy"]
    charter = policy["charter"]
    money = _money(charter["decimals"], charter["unit"])
    community = client.community()
    names = {row["community"]: row["name"] for row in document["s1_operations"] if row["held"]}
    units = {row["community"]: (row["unit"], row.get("unit_decimals")) for row in document["s1_operations"] if row["held"]}
    units[community["node"]] = (community["unit"]["code"], community["unit"]["decimals"])

    def named(member: str) -> str:
        return markup(names.get(member) or member[:14] + "…")

    console.print(f"[bold]{markup(document['name'])}[/] — viability report")
    for alert in document["alerts"]:
        console.print(f"  [red]ALERT[/] {markup(str(alert['message']))} ({markup(str(alert['system']))})")
    passed = policy["passed_decisions"]
    console.print(f"Policy (S5): charter {markup(charter['name'])}; a decision needs the yes of "
                  f"{policy['quorum_bp'] / 100:g}% of members; epoch {policy['epoch']}; "
                  f"{passed} decision{'' if passed == 1 else 's'} passed")
    table = Table(title="Communities (S1 operations)")
    for column in ("community", "members", "enterprises", "events", "idle", "open decisions"):
        table.add_column(column, no_wrap=column in money_columns)
    for row in document["s1_operations"]:
        if not row["held"]:
            table.add_row(row["community"][:14] + "…", "not held here", "", "", "", "")
            continue
        table.add_row(row["name"], str(row["members"]), str(row["enterprises"]), str(row["seq"]),
                      format_duration(row["idle_ms"]), str(row["open_decisions"]))
    console.print(table)
    coordination = document["s2_coordination"]
    peers = coordination["peers"]
    in_flight = coordination["payments_pending"]
    console.print("Replication with peers (S2 coordination): " + (", ".join(
        f"{markup(p['url'])} {'up' if p['reachable'] else 'DOWN'}, {p['lag']} events behind" for p in peers)
        or "no peers") + f"; {in_flight} payment{'' if in_flight == 1 else 's'} in flight")
    table = Table(title=f"Trade and capacity (S3 control), in {charter['unit']}")
    for column in ("member", "position", "trade limits", "capacity share"):
        table.add_column(column, no_wrap=column in money_columns)
    for row in document["s3_control"]:
        position = "not held here" if row["position"] is None else money.amount(row["position"])
        if row["at_limit"]:
            position += ", at its limit"
        limits_text = ("" if row["kind"] == "federation"
                       else money.trade_limits(row["trade_debit_limit"], row["trade_credit_ceiling"]))
        table.add_row(markup(row["name"] or row["member"][:14] + "…"), position, limits_text,
                      money.amount(row["capacity_allocated"]))
    console.print(table)
    for parent in document["position_in_parents"]:
        above = federation_document(client, parent["parent"])
        in_parent = _money(above["unit"]["decimals"], above["unit"]["code"])
        position = "not held here" if parent["position"] is None else in_parent.amount(parent["position"])
        console.print(f"  position in {markup(above['name'])}: {position}, of a capacity of "
                      f"{in_parent.amount(parent['capacity'])}")
    audit = document["s3_star_audit"]
    console.print(f"Audit (S3*), checked by {named(audit['verified_by'])}: {count(len(audit['forks']), 'fork')}, "
                  f"{count(len(audit['equivocations']), 'double vote')}, "
                  f"{count(len(audit['refused_federation_events']), 'refused event')}")
    flows = document["s4_intelligence"]["trade_flows"]

    rates = {m["member"]: m["rate"] for m in federation_document(client, document["federation"])["members"]}

    def sent(flow: dict[str, Any]) -> str:
        code, decimals = units.get(flow["from"], (None, None))
        if decimals is not None:  # in the payer's own unit
            return f"{format_money(flow['sent'], decimals, code)} sent"
        if flow["from"] in rates:  # a member's minor units, converted as the federation counts them
            numerator, denominator = rates[flow["from"]]
            return f"{money.amount(flow['sent'] * numerator // denominator)} sent, counted in the federation's unit"
        return f"{flow['sent']} minor units of {code or 'its unit'} sent"

    console.print("Trade between communities (S4 intelligence): " + (", ".join(
        f"{named(f['from'])} → {named(f['to'])}: {f['payments']} payment{'' if f['payments'] == 1 else 's'}, "
        f"{sent(f)}" for f in flows) or "no settled payments yet"))


@federation.command("propose", epilog=example(
    'tally --key riverside/admin.key federation propose Valley "Limits" --trade-limits n_<riverside> '
    '--debit-limit 100 --credit-ceiling 100',
    'tally --key riverside/admin.key federation propose Valley "Capacity" --allocate n_<riverside>=300 '
    '--allocate n_<hilltop>=300'))
@click.argument("reference")
@click.argument("title")
@click.option("--text", default="")
@click.option("--admit", default=None, metavar="ID[=UNIT:NUM/DEN]", help="Admit a community or federation.")
@click.option("--expel", default=None, metavar="ID", help="Expel a member.")
@click.option("--rename", default=None, help="Amend the charter: a new name (keeps the quorum unless --quorum).")
@click.option("--quorum", default=None, help="Amend the charter: the quorum, percent (over 50).")
@click.option("--allocate", "allocations", multiple=True, metavar="ID=AMOUNT",
              help="Divide the capacity: this member's share, major units of the federation (repeat).")
@click.option("--trade-limits", default=None, metavar="ID", help="Set a member's balance-of-trade limits.")
@click.option("--debit-limit", default="0", help="With --trade-limits: major units.")
@click.option("--credit-ceiling", default="0", help="With --trade-limits: major units.")
@click.option("--join", default=None, metavar="PARENT", help="This federation adopts PARENT's charter (x_ id): joins a confederation.")
@click.option("--vote-in-parent", default=None, metavar="PARENT",
              help="This federation's ballot in PARENT's current epoch: yes on --parent-proposal, or abstain.")
@click.option("--parent-proposal", default=None, metavar="h_ID|abstain", help="With --vote-in-parent.")
@click.option("--deadline-in", default="7d", show_default=True, help="How long members may vote yes.")
@with_decision_options
@click.pass_obj
@refusals_exit_cleanly
def propose(context: Context, reference: str, title: str, text: str, admit: str | None, expel: str | None,
            rename: str | None, quorum: str | None, allocations: tuple[str, ...], trade_limits: str | None,
            debit_limit: str, credit_ceiling: str, join: str | None, vote_in_parent: str | None,
            parent_proposal: str | None, deadline_in: str, by_decision: bool, closes_in: str,
            as_json: bool) -> None:
    """Propose a federation decision in the current epoch; `--json` prints its `proposal` id."""
    document = federation_document(context.client(), reference)
    decimals = document["unit"]["decimals"]
    chosen = [admit, expel, rename or quorum, allocations or None, trade_limits, join, vote_in_parent]
    if sum(option is not None for option in chosen) != 1:
        raise click.UsageError("a federation decision has one effect: --admit, --expel, --rename/--quorum, "
                               "--allocate, --trade-limits, --join or --vote-in-parent")
    effect: Any
    if join is not None:
        effect = JoinFederation(federation=_member_id(join))
    elif vote_in_parent is not None:
        parent = federation_document(context.client(), vote_in_parent)
        choice = None if parent_proposal in (None, "abstain") else id_from_text("h", parent_proposal)
        effect = VoteInParent(federation=id_from_text("x", parent["id"]), epoch=parent["epoch"], proposal=choice)
    elif admit is not None:
        effect = AdmitFederationMember(member=_rated(admit))
    elif expel is not None:
        effect = ExpelFederationMember(member=_member_id(expel))
    elif rename is not None or quorum is not None:
        effect = AmendCharter(name=rename or document["name"],
                              quorum_bp=parse_amount(quorum.rstrip("%"), 2) if quorum else document["quorum_bp"])
    elif allocations:
        shares = []
        for item in allocations:
            member, _, amount = item.partition("=")
            shares.append(CapacityShare(member=_member_id(member), capacity_minor=parse_amount(amount, decimals, allow_zero=True)))
        effect = AllocateCapacity(shares=tuple(shares))
    else:
        effect = SetTradeLimits(member=_member_id(trade_limits or ""),
                                debit_limit_minor=parse_amount(debit_limit, decimals, allow_zero=True),
                                credit_ceiling_minor=parse_amount(credit_ceiling, decimals, allow_zero=True))
    body = FederationProposal(
        federation=id_from_text("x", document["id"]), epoch=document["epoch"],
        previous=id_from_text("h", document["last_decision"]) if document["passed"] else id_from_text("x", document["id"]),
        deadline_ms=now_ms() + parse_duration_ms(deadline_in), title=title, text=text, effect=effect,
    )
    appended = act(context, body, by_decision, closes_in, f"Propose in {document['name']}: {title}")
    identity = id_to_text("h", proposal_id(body))
    if as_json:
        print_json({"proposal": identity, "epoch": document["epoch"], **appended})
    else:
        click.echo(f"proposed {identity} in epoch {document['epoch']} of {visible(document['name'])}: "
                   f"{_effect_text(effect, document)}; it passes with the yes of {document['quorum']} of "
                   f"{len(document['members'])} members, each voting with "
                   f"`tally federation vote {document['id']} {identity}`")


@federation.command("vote", epilog=example(
    "tally --key riverside/admin.key federation vote Valley h_<proposal>",
    "tally --key riverside/admin.key federation vote Valley abstain"))
@click.argument("reference")
@click.argument("proposal")
@with_decision_options
@click.pass_obj
@refusals_exit_cleanly
def vote(context: Context, reference: str, proposal: str, by_decision: bool, closes_in: str, as_json: bool) -> None:
    """Cast this community's one ballot of the current epoch: yes on PROPOSAL (its h_ id), or
    `abstain`. A community votes once per epoch; a second ballot is ignored."""
    document = federation_document(context.client(), reference)
    choice = None if proposal == "abstain" else id_from_text("h", proposal)
    body = FederationVote(federation=id_from_text("x", document["id"]), epoch=document["epoch"], proposal=choice)
    appended = act(context, body, by_decision, closes_in, f"Vote in {document['name']}")
    print_json({"epoch": document["epoch"], **appended}) if as_json else click.echo(
        f"voted {'to abstain' if choice is None else 'yes'} in epoch {document['epoch']} of {visible(document['name'])}")


@federation.command("certificate", epilog=example(
    "tally federation certificate Valley h_<decision> --out valley-limits.cert"))
@click.argument("reference")
@click.argument("decision")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None, help="Write the bytes here.")
@click.option("--json", "as_json", is_flag=True, help="The certificate (base64) and its size as JSON.")
@click.pass_obj
@refusals_exit_cleanly
def certificate(context: Context, reference: str, decision: str, out: str | None, as_json: bool) -> None:
    """The quorum certificate of a passed decision: what a parent federation checks it from."""
    document = context.client().get(f"/api/federations/{reference}/decisions/{decision}/certificate")
    if out:
        with open(out, "wb") as handle:
            handle.write(base64.b64decode(document["certificate"]))
    print_json(document) if as_json else click.echo(f"certificate of {decision}: {document['bytes']} bytes"
                                                    + (f", written to {out}" if out else ""))


commands = (federation,)
