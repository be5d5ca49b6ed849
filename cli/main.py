"""The `tally` command: operators and members.

How this works: `main` is the root of the click command tree (docs/operator.md §12 lists the
commands); each command group lives in a module of its own, which defines its commands, and this
module adds them to the root:

    node.py       init, serve, verify, rebuild, restore (a home folder)
    keys.py       key new/show/rebind/export/import/rotate
    members.py    member add/remove/role, limits
    payments.py   pay (here, or across communities), payments
    decisions.py  propose, vote, delegate, decisions
    reading.py    balance, log, status
    shares.py     enterprise …
    federation.py federation …
    cluster.py    cluster up/link/down
    backup.py     backup, resume
    session.py    sign-in, session list/end (a member's browser sessions)
    export.py     export statement/journal/treasury/enterprise (a period's accounts as CSV or OFX)

What every command shares is in common.py: the command tree's classes, the typed errors and exit
statuses, output, and the reads and parsings several groups make. Commands that talk to a running
node use `--node URL` (or TALLY_NODE) and sign with `--key FILE` (or TALLY_KEY); offline commands
take the home folder. `--node`, `--key` and `--json` may stand before the command or after it:
`TallyGroup` gives every command of the tree those options once, lifting their values to the one
`Context`. Every reading command takes `--json` and then prints exactly one JSON document on stdout
(amounts as integers of minor units, ids); people get tables and lines with amounts in major units
and the unit's code ("12.50 HRS").

Every failure is one line on stderr, `tally: <code>: <message>`, and changes nothing. Exit status 2
is a mistake in what was typed or named (an option, a URL, an amount, a key file, a folder that is
no home, a member or decision that is not there, a node that does not answer), and the message
says what to type instead; exit status 1 is a refusal: the node judged a signed action by the
community's rules and refused it, or an offline check found the log damaged.
"""

from __future__ import annotations

import click

from . import (
    backup,
    cluster,
    decisions,
    export,
    federation,
    keys,
    members,
    node,
    payments,
    reading,
    session,
    shares,
)
from .common import Context, TallyGroup, example


def _version() -> str:
    # Imported here: importlib.metadata costs every other command a few hundredths of a second.
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("tallystick")
    except PackageNotFoundError:  # run from a tree that was never installed
        return "unknown"


top_help = """Tallystick: a community's mutual credit, as a signed, replicated log.

\b
Commands that talk to a running node need its URL and, to sign, a key file:
  --node URL   or TALLY_NODE=URL   e.g. http://127.0.0.1:7600
  --key FILE   or TALLY_KEY=FILE   a key file from `tally key new` (or a home's admin.key)
Both, and --json, may stand before the command or after it.

\b
--json: reading commands print one JSON document on stdout instead of a table: amounts are
integers of minor units (1250 for 12.50 in a unit of 2 decimals), ids in their text form.

\b
Every failure is one line on stderr, `tally: CODE: what to do`. Exit status 2: a mistake in what
was typed (an option, a URL, an amount, a file, a name that is not there); 1: the node refused
the action by the community's rules, or a check found damage; 0: done.
"""


@click.group(
    cls=TallyGroup, help=top_help, context_settings={"help_option_names": ["-h", "--help"]},
    epilog=example("tally init riverside --name Riverside --unit HRS --decimals 2 --debit-limit 100",
                   "tally serve riverside",
                   "tally --node http://127.0.0.1:7600 --key alice.key pay Bob 12.50",
                   "tally balance --node http://127.0.0.1:7600 --json"),
)
@click.option("--node", "node_url", envvar="TALLY_NODE", metavar="URL", help="The node's URL, e.g. http://127.0.0.1:7600 (TALLY_NODE).")
@click.option("--key", "key_path", envvar="TALLY_KEY", metavar="FILE", help="The key file that signs (TALLY_KEY).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout (commands that have --json).")
@click.version_option(_version(), "--version", prog_name="tally", message="%(prog)s %(version)s")
@click.pass_context
def main(context: click.Context, node_url: str | None, key_path: str | None, as_json: bool) -> None:
    context.obj = Context(node_url, key_path, as_json)


# Each module of commands lists what it adds to the root in `commands`.
for module in (node, keys, members, payments, decisions, reading, session, shares, federation, cluster, backup, export):
    for command in module.commands:
        main.add_command(command)


if __name__ == "__main__":
    main()
