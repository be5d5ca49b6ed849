"""`tally export statement|journal|treasury|enterprise`: a treasurer's and an accountant's files.

How this works: each command downloads one export from the node (`GET /api/exports/...`, docs/api.md
§16), signed with --key, so it holds what the community's visibility policy lets that key's member
see, and writes it to --out FILE or to stdout, byte for byte as the node wrote it (CSV with CR LF
line ends, RFC 4180; OFX 2 as XML). The period is `--from` and `--to`, days written YYYY-MM-DD and
both included, read in `--tz` (an IANA time zone; UTC when not given); without them, from the first
event up to now. A refusal is one line on stderr, as every command's, exit status 2 (a bad period, a name
that is not there, or a read the policy does not allow this key: give another --key).
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import click

from .common import Context, TallyGroup, example, refusals_exit_cleanly

_period_help = {
    "from": "The first day, YYYY-MM-DD, included (default: the first event).",
    "to": "The last day, YYYY-MM-DD, included (default: now).",
    "tz": "The IANA time zone the days are read in, e.g. Europe/Madrid (default UTC).",
}


def _period_options(function: click.decorators.FC) -> click.decorators.FC:
    for name in ("tz", "to", "from"):
        function = click.option(f"--{name}", f"{name}_day" if name != "tz" else "tz", metavar="DAY" if name != "tz" else "ZONE",
                                help=_period_help[name])(function)
    function = click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
                            help="Write the file here (default: stdout).")(function)
    return function


def _download(context: Context, path: str, out: Path | None, **query: str | None) -> None:
    client = context.client()
    wanted = {name: value for name, value in query.items() if value}
    text = client.get_text(path + ("?" + urlencode(wanted) if wanted else ""))
    if out is None:
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()
        return
    out.write_bytes(text.encode("utf-8"))
    click.echo(f"wrote {out}", err=True)


@click.group(cls=TallyGroup, epilog=example(
    "tally --key alice.key export statement Alice --from 2026-01-01 --to 2026-12-31 --out alice-2026.csv",
    "tally --key alice.key export statement Alice --ofx --out alice.ofx",
    "tally --key riverside/admin.key export journal --from 2026-01-01 --to 2026-12-31 --tz Europe/Madrid",
    "tally --key riverside/admin.key export treasury --out treasury.csv",
    "tally --key riverside/admin.key export enterprise Bakery --out bakery.csv"))
def export() -> None:
    """Statements and accounts for a period, as CSV (or OFX): opening balance, each posting,
    closing balance, amounts in major units with the unit in a column. What you may export is
    what the community's visibility policy lets you see (docs/privacy.md)."""


@export.command("statement", epilog=example(
    "tally --key alice.key export statement Alice --from 2026-01-01 --to 2026-12-31 --out alice-2026.csv",
    "tally --key alice.key export statement Alice --ofx --out alice.ofx"))
@click.argument("member")
@click.option("--ofx", "as_ofx", is_flag=True, help="An OFX 2 bank statement instead of CSV.")
@_period_options
@click.pass_obj
@refusals_exit_cleanly
def statement(context: Context, member: str, as_ofx: bool, out: Path | None, from_day: str | None,
              to_day: str | None, tz: str | None) -> None:
    """MEMBER's statement (id or name): the member concerned, or whoever the policy lets see it."""
    _download(context, f"/api/exports/statement/{quote(member, safe='')}", out,
              format="ofx" if as_ofx else None, **{"from": from_day, "to": to_day, "tz": tz})


@export.command("journal", epilog=example(
    "tally --key riverside/admin.key export journal --from 2026-01-01 --to 2026-12-31 --out journal-2026.csv",
    "tally --key riverside/admin.key export journal --from 2026-01-01 --tz Europe/Madrid"))
@_period_options
@click.pass_obj
@refusals_exit_cleanly
def journal(context: Context, out: Path | None, from_day: str | None, to_day: str | None, tz: str | None) -> None:
    """Every posting of every account, with each account's opening and closing balance (CSV)."""
    _download(context, "/api/exports/journal", out, **{"from": from_day, "to": to_day, "tz": tz})


@export.command("treasury", epilog=example(
    "tally --key riverside/admin.key export treasury --from 2026-01-01 --to 2026-12-31 --out treasury-2026.csv",
    "tally --key riverside/admin.key export treasury --ofx --out treasury.ofx"))
@click.option("--ofx", "as_ofx", is_flag=True, help="An OFX 2 bank statement instead of CSV.")
@_period_options
@click.pass_obj
@refusals_exit_cleanly
def treasury(context: Context, as_ofx: bool, out: Path | None, from_day: str | None, to_day: str | None,
             tz: str | None) -> None:
    """The treasury's account: levies in, payments the community decided out."""
    _download(context, "/api/exports/treasury", out, format="ofx" if as_ofx else None,
              **{"from": from_day, "to": to_day, "tz": tz})


@export.command("enterprise", epilog=example(
    "tally --key bea.key export enterprise Bakery --from 2026-01-01 --to 2026-12-31 --out bakery-2026.csv"))
@click.argument("reference")
@click.option("--ofx", "as_ofx", is_flag=True, help="An OFX 2 bank statement instead of CSV.")
@_period_options
@click.pass_obj
@refusals_exit_cleanly
def enterprise(context: Context, reference: str, as_ofx: bool, out: Path | None, from_day: str | None,
               to_day: str | None, tz: str | None) -> None:
    """An enterprise's account (id or name): its manager, or whoever the policy lets see it."""
    _download(context, f"/api/exports/enterprises/{quote(reference, safe='')}", out,
              format="ofx" if as_ofx else None, **{"from": from_day, "to": to_day, "tz": tz})


commands = (export,)
