"""`tally propose`, `vote`, `delegate` and `decisions`: the community's decisions.

How this works: `propose` builds one `ProposeWithPeriod` (a voting period that runs from the
event's own time) with at most one effect (`_effect`: an admission, a removal, a key recovery,
limits, the rules, a levy, a treasury payment, the floors of decision classes, who sees what; or with
--holders an enterprise's dividend or withdrawal rule, decided by its holders); `vote` and `delegate`
sign a `Vote`, `Delegate` or `Undelegate`; `decisions` reads the live tallies; `visibility` shows
the community's visibility policy. docs/decisions.md states
the rules the node applies.
"""

from __future__ import annotations

from typing import Any, get_args

import click
from tallystick.ledger.money import parse_amount
from tallystick.ledger.names import normalise_name
from tallystick.protocol import limits
from tallystick.protocol.errors import MalformedError
from tallystick.protocol.events import (
    AdmitMember,
    AllMembers,
    DeclareDividend,
    Delegate,
    Floor,
    Holders,
    ProposeWithPeriod,
    RecoverKey,
    RemoveMember,
    SetDefaultLimits,
    SetFloors,
    SetLevy,
    SetLimits,
    SetRules,
    SetVisibility,
    SetWithdrawalRule,
    TreasuryPay,
    Undelegate,
    Vote,
)
from tallystick.protocol.ids import id_from_text
from tallystick.protocol.types import Audience, DecisionClass

from . import shares
from .client import Client
from .common import (
    Context,
    TallyCommand,
    console,
    example,
    parse_duration_ms,
    parse_percent_bp,
    print_json,
    refusals_exit_cleanly,
    resolve_member,
)
from .reading import say_hidden
from .terminal import Table, visible

_decision_classes: tuple[str, ...] = get_args(DecisionClass)
_visibility_kinds: tuple[str, ...] = SetVisibility.__struct_fields__
_audiences: tuple[str, ...] = get_args(Audience)


def _parse_floor(text: str) -> Floor:
    """'rules:50:2/3:72h' -> the floor of a decision class: its least quorum, threshold and period."""
    parts = text.split(":")
    if len(parts) != 4 or parts[0] not in _decision_classes:
        raise click.BadParameter(
            f"{text!r}: write CLASS:QUORUM:THRESHOLD:PERIOD, e.g. rules:50:2/3:72h, with CLASS one of "
            + ", ".join(_decision_classes))
    period = 0 if parts[3] in ("0", "0s") else parse_duration_ms(parts[3])
    return Floor(decision_class=parts[0], quorum_bp=parse_percent_bp(parts[1]) or 0,  # type: ignore[arg-type]
                 threshold_bp=parse_percent_bp(parts[2]) or 0, period_ms=period)


def _parse_visibility(texts: tuple[str, ...]) -> SetVisibility:
    """('balances=members', 'log=admins') -> the change of those kinds of the policy, the rest kept."""
    named: dict[str, str] = {}
    for text in texts:
        kind, _, audience = text.partition("=")
        if kind not in _visibility_kinds or audience not in _audiences:
            raise click.BadParameter(
                f"{text!r}: write KIND=AUDIENCE, e.g. balances=members, with KIND one of {', '.join(_visibility_kinds)} "
                f"and AUDIENCE one of {', '.join(_audiences)}")
        if kind in named:
            raise click.BadParameter(f"{kind} is named twice: name each kind once")
        named[kind] = audience
    return SetVisibility(**named)  # type: ignore[arg-type]


def _effect(
    client: Client, admit: str | None, name: str | None, remove: str | None, recover: str | None,
    new_key: str | None, set_limits: str | None, default_limits: bool, debit_limit: str | None,
    credit_ceiling: str | None, admission: str | None, default_quorum: str | None, default_threshold: str | None,
    levy: str | None = None, levy_min: str | None = None, levy_max: str | None = None,
    treasury_pay: str | None = None, amount: str | None = None, memo: str = "", floors: tuple[str, ...] = (),
    visibility: tuple[str, ...] = (),
) -> Any:
    chosen = [admit, remove, recover, set_limits, default_limits or None, admission, levy, treasury_pay, floors or None,
              visibility or None]
    if sum(option is not None for option in chosen) > 1:
        raise click.UsageError("a decision has at most one effect")
    if admit is not None:
        if not name:
            raise click.UsageError("--admit needs --name")
        return AdmitMember(member=id_from_text("m", admit), name=normalise_name(name, "the member's name"))
    if remove is not None:
        return RemoveMember(member=resolve_member(client, remove))
    if recover is not None:
        if not new_key:
            raise click.UsageError("--recover needs --new-key (the member's new key id, from `tally key new`)")
        return RecoverKey(member=resolve_member(client, recover), new_key=id_from_text("m", new_key))
    if set_limits is not None or default_limits:
        if debit_limit is None or credit_ceiling is None:
            raise click.UsageError("limits need both --debit-limit and --credit-ceiling")
        decimals = client.community()["unit"]["decimals"]
        debit = parse_amount(debit_limit, decimals, allow_zero=True)
        ceiling = parse_amount(credit_ceiling, decimals, allow_zero=True)
        if default_limits:
            return SetDefaultLimits(debit_limit_minor=debit, credit_ceiling_minor=ceiling)
        return SetLimits(account=resolve_member(client, set_limits or ""), debit_limit_minor=debit, credit_ceiling_minor=ceiling)
    if treasury_pay is not None:
        if amount is None:
            raise click.UsageError("--treasury-pay needs --amount")
        decimals = client.community()["unit"]["decimals"]
        return TreasuryPay(to=resolve_member(client, treasury_pay), amount_minor=parse_amount(amount, decimals), memo=memo)
    if levy is not None:
        decimals = client.community()["unit"]["decimals"]
        return SetLevy(
            rate_bp=parse_percent_bp(levy),  # type: ignore[arg-type]
            min_minor=parse_amount(levy_min or "0", decimals, allow_zero=True),
            max_minor=parse_amount(levy_max, decimals, allow_zero=True) if levy_max else limits.amount_minor_max,
        )
    if floors:
        return SetFloors(floors=tuple(_parse_floor(text) for text in floors))
    if visibility:
        return _parse_visibility(visibility)
    if admission is not None:
        return SetRules(
            admission=admission,  # type: ignore[arg-type]
            quorum_bp=parse_percent_bp(default_quorum) if default_quorum else 5000,  # type: ignore[arg-type]
            threshold_bp=parse_percent_bp(default_threshold) if default_threshold else 6667,  # type: ignore[arg-type]
        )
    return None


@click.command(cls=TallyCommand, epilog=example(
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
@click.option("--visibility", "visibility", multiple=True, metavar="KIND=AUDIENCE",
              help="Effect: who sees a kind of data, e.g. balances=members (repeat for more kinds; "
                   "`tally visibility` shows the policy).")
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
    treasury_pay: str | None, amount: str | None, floors: tuple[str, ...], visibility: tuple[str, ...], memo: str,
    as_json: bool,
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
                     treasury_pay, amount, memo, floors, visibility)
    electorate: Any = AllMembers()
    if holders is not None:
        enterprise = shares.enterprise_id(client, holders)
        electorate = Holders(enterprise=enterprise)
        if effect is not None:
            raise click.UsageError("a holders' decision can declare a dividend or set the withdrawal rule, nothing else")
        if dividend is not None and withdrawal_notice is not None:
            raise click.UsageError("a decision has at most one effect")
        decimals = client.community()["unit"]["decimals"]
        if dividend is not None:
            effect = DeclareDividend(enterprise=enterprise, amount_minor=parse_amount(dividend, decimals))
        elif withdrawal_notice is not None:
            notice = 0 if withdrawal_notice in ("0", "0s") else parse_duration_ms(withdrawal_notice)
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
        voting_period_ms=parse_duration_ms(closes_in),
        topic=topic,
        options=tuple(normalise_name(option, f"option {index}") for index, option in enumerate(options)),
        multiple=multiple,
        ranked=ranked,
        quorum_bp=parse_percent_bp(quorum),
        threshold_bp=parse_percent_bp(threshold),
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


@click.command(cls=TallyCommand, epilog=example("tally --key alice.key vote 12 agree", "tally --key alice.key vote 13 1      # a poll: option 1",
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


@click.command(cls=TallyCommand, epilog=example("tally --key alice.key delegate Bob", "tally --key alice.key delegate Bob --topic garden",
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
        action = Delegate(to=resolve_member(client, to), topic=topic)
    appended = client.submit(context.key(), action)
    print_json(appended) if as_json else click.echo(f"{'undelegated' if undo else 'delegated'} (seq {appended['seq']})")


def _time_left(ms: int) -> str:
    seconds = ms // 1000
    if seconds >= 86_400:
        return f"{seconds // 86_400}d {seconds % 86_400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 60}m {seconds % 60}s"


@click.command(cls=TallyCommand, epilog=example("tally decisions --open", "tally decisions 12", "tally decisions --json"))
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
    say_hidden(client)
    if as_json:
        print_json(rows[0] if decision is not None else rows)
        return
    table = Table()
    for column in ("id", "type", "title", "status", "tally", "time left"):
        table.add_column(column)
    for row in rows:
        counted = row.get("tally")
        if counted is None:  # the policy shows this reader titles and outcomes only
            status = "open" if row["open"] else row["outcome"]
            table.add_row(str(row["id"]), row["type"], row["title"][:40], status, "",
                          _time_left(row["time_left_ms"]) if row["open"] else "closed")
            continue
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
    if decision is not None and rows[0]["type"] == "poll" and "tally" in rows[0]:
        shown = rows[0]
        for index, (option, count) in enumerate(zip(shown["options"], shown["tally"]["option_counts"], strict=True)):
            click.echo(f"  {index}  {visible(option)}: {count}")
        if shown["open"]:
            click.echo(f"vote with `tally vote {shown['id']} NUMBER`" + (" ..., best first" if shown.get("ranked") else ""))


# What each kind of the policy is, and who each audience is, in the words `tally visibility` prints.
_kind_descriptions = {
    "names": "members' names, roles and keys",
    "balances": "each member's balance, limits and what they hold",
    "history": "each member's payments, with their memos",
    "votes": "how each member voted and delegated",
    "decisions": "decisions' texts, proposers and tallies",
    "holdings": "who holds which shares",
    "log": "the decoded log: every event, with every memo",
}
_audience_descriptions = {
    "public": "anyone",
    "members": "members",
    "concerned": "the member concerned and admins",
    "admins": "admins",
}


@click.command(cls=TallyCommand, epilog=example("tally visibility", "tally visibility --json"))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def visibility(context: Context, as_json: bool) -> None:
    """Who sees what in the community: its visibility policy, which a decision changes
    (`tally propose ... --visibility KIND=AUDIENCE`). docs/privacy.md explains it."""
    policy = context.client().community()["visibility"]
    if as_json:
        print_json(policy)
        return
    table = Table()
    for column in ("kind", "who sees it", "what it is"):
        table.add_column(column)
    for kind, audience in policy.items():
        table.add_row(kind, _audience_descriptions.get(audience, audience), _kind_descriptions.get(kind, ""))
    console.print(table)
    click.echo("Everyone sees the community's name, unit, members counted, credit in circulation, enterprises, "
               "open offers, and decisions' titles and outcomes; each member always sees their own.")


commands = (propose, vote, delegate, decisions, visibility)
