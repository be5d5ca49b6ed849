"""`tally init`, `serve`, `verify`, `rebuild` and `restore`: the commands that make, run and check a
node's home folder.

How this works: each takes the home folder as its argument, not `--node`. `init` writes a new home
(node/home.py: keys, config, database, the genesis); `serve` runs the node in this process
(federation/service.py, imported only then: the server stack loads only for `serve`); `verify` and
`rebuild` open the database offline (node/offline.py), with a progress bar on stderr counted from
the heads held; `restore` pulls the own feed from a peer (replication/restore.py).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.console import Console
from tallystick.ledger.money import parse_amount
from tallystick.ledger.names import normalise_name
from tallystick.node.home import Home, NodeConfig, init_home
from tallystick.node.offline import rebuild_home, verify_home
from tallystick.protocol import limits

from .client import check_node_url
from .common import Mistake, TallyCommand, console, example, now_ms, print_json, refusals_exit_cleanly
from .terminal import markup


def _parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("write it as HOST:PORT, e.g. 127.0.0.1:7600")
    return host, int(port)


# ---- init and serve -----------------------------------------------------------------------------


@click.command(cls=TallyCommand, epilog=example(
    'tally init riverside --name "Riverside" --unit HRS --decimals 2 --debit-limit 100',
    'tally init hilltop --name "Hilltop" --unit HRS --decimals 2 --listen 127.0.0.1:7601 --json'))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The community's name.")
@click.option("--unit", "unit_code", required=True, help="The unit's code, e.g. HRS.")
@click.option("--decimals", type=click.IntRange(0, limits.unit_decimals_max), required=True)
@click.option("--debit-limit", default="0", show_default=True, help="Default debit limit, in major units.")
@click.option("--credit-ceiling", default=None, help="Default credit ceiling, in major units (default: the largest).")
@click.option("--admin-name", default="admin", show_default=True)
@click.option("--listen", default="127.0.0.1:7600", show_default=True, help="HOST:PORT written to the config.")
@click.option("--peer", "peers", multiple=True, metavar="URL", help="A peer's URL, written to the config.")
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def init(
    directory: Path,
    name: str,
    unit_code: str,
    decimals: int,
    debit_limit: str,
    credit_ceiling: str | None,
    admin_name: str,
    listen: str,
    peers: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create a node home: keys, config, database and the feed's genesis."""
    name = normalise_name(name, "the community's name")
    admin_name = normalise_name(admin_name, "the admin's name")
    host, port = _parse_listen(listen)
    debit = parse_amount(debit_limit, decimals, allow_zero=True)
    ceiling = parse_amount(credit_ceiling, decimals, allow_zero=True) if credit_ceiling else limits.amount_minor_max
    created = asyncio.run(
        init_home(
            directory,
            name=name,
            unit_code=unit_code.upper(),
            unit_decimals=decimals,
            debit_limit_minor=debit,
            credit_ceiling_minor=ceiling,
            now_ms=now_ms(),
            admin_name=admin_name,
            config=NodeConfig(listen_host=host, listen_port=port, peers=list(peers)),
        )
    )
    if as_json:
        print_json({"node": created.node, "admin": created.admin})
        return
    console.print(f"Created [bold]{markup(name)}[/] in {markup(str(directory))}")
    console.print(f"  node   {created.node}")
    console.print(f"  admin  {created.admin}  (key: {markup(str(directory / 'admin.key'))})")
    console.print(f"[yellow]Move {markup(str(directory / 'recovery.key'))} offline now[/]: it is how you rotate a lost node key.")
    console.print(f"Start it with: tally serve {markup(str(directory))}")


@click.command(cls=TallyCommand, epilog=example("tally serve riverside", "tally serve hilltop --peer http://127.0.0.1:7600"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--listen", default=None, help="HOST:PORT to listen on (default: from config.json).")
@click.option("--peer", "peers", multiple=True, metavar="URL", help="A peer's URL (adds to config.json's).")
@refusals_exit_cleanly
def serve(directory: Path, listen: str | None, peers: tuple[str, ...]) -> None:
    """Run the node: API, pages, timers. SIGTERM or Ctrl-C stops it cleanly."""
    home = Home(directory)
    config = home.config()
    changes: dict[str, Any] = {}
    if listen:
        changes["listen_host"], changes["listen_port"] = _parse_listen(listen)
    if peers:
        changes["peers"] = list(dict.fromkeys([*config.peers, *peers]))
    if changes:
        import msgspec

        config = msgspec.structs.replace(config, **changes)
    try:
        from tallystick.federation.service import (
            serve as serve_node,  # the server stack loads only for `serve`
        )

        asyncio.run(serve_node(home, config))
    except OSError as error:
        raise Mistake("listen", f"cannot listen on {config.listen_host}:{config.listen_port}: {error.strerror}; "
                                "choose another with --listen HOST:PORT") from None


# ---- offline ------------------------------------------------------------------------------------


def _progress(description: str) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True)
    )


def _require_home(directory: Path) -> Home:
    """The home at `directory`, or one line saying that it is none and what a home holds."""
    home = Home(directory)
    if not home.config_path.exists() or not home.database_path.exists():
        what = "does not exist" if not directory.exists() else "is no node home"
        raise Mistake("home",
            f"{directory} {what}: a home is the folder `tally serve` runs, holding config.json, tally.db and "
            f"node.key; give that folder (e.g. tally verify riverside)")
    return home


async def _count_events(directory: Path, own_only: bool) -> int:
    from tallystick.node.store import Store

    home = _require_home(directory)
    # Beside a running node: read only, so the acknowledged record is checked, never written here.
    store = await Store.open(home.database_path, acknowledged="check")
    try:
        own = await store.own_feed()
        heads = await store.heads()
        return sum(head.seq for head in heads if head.feed == own or not own_only)
    finally:
        await store.close()


@click.command(cls=TallyCommand, epilog=example("tally verify riverside", "tally verify riverside --json"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def verify(directory: Path, as_json: bool) -> None:
    """Offline: check every signature, link, encoding, member intent and checkpoint held."""
    total = asyncio.run(_count_events(directory, own_only=False))
    if as_json:
        report = asyncio.run(verify_home(Home(directory)))
    else:
        with _progress("verifying") as progress:
            task = progress.add_task("verify", total=total)
            report = asyncio.run(verify_home(Home(directory), lambda n: progress.advance(task, n)))
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "feeds": {
                    feed.feed: {"ok": feed.ok, "events": feed.events, "error": feed.error, "seq": feed.seq}
                    for feed in report.feeds
                },
                "texts": None if report.texts is None else msgspec.structs.asdict(report.texts),
            }
        )
    else:
        for feed in report.feeds:
            if feed.ok:
                click.echo(f"ok: {feed.events} events of {feed.feed} verify")
        texts = report.texts
        if texts is not None and texts.boxes and not texts.broken:
            click.echo(f"ok: {texts.opened} sealed boxes of names and memos open with the keys held"
                       + (f", {texts.erased} erased" if texts.erased else ""))
    for feed in report.feeds:
        if not feed.ok:
            click.echo(f"tally: log_corrupt: {feed.feed}: {feed.error}", err=True)
    if report.texts is not None and report.texts.broken:
        seqs = ", ".join(str(seq) for seq in report.texts.broken[:10])
        click.echo(f"tally: texts_unreadable: the sealed names and memos at seq {seqs} do not open with the key "
                   "held; restore keys.db from the backups' key store (docs/operator.md §5.5)", err=True)
    if not report.ok:
        sys.exit(1)


@click.command(cls=TallyCommand, epilog=example("tally rebuild riverside      # with the node stopped"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def rebuild(directory: Path, as_json: bool) -> None:
    """Offline: drop the projections and refold them from the log."""
    total = asyncio.run(_count_events(directory, own_only=True))
    if as_json:
        seq = asyncio.run(rebuild_home(Home(directory)))
        print_json({"events": seq})
        return
    with _progress("rebuilding") as progress:
        task = progress.add_task("rebuild", total=total)
        seq = asyncio.run(rebuild_home(Home(directory), lambda n: progress.advance(task, n)))
    click.echo(f"rebuilt the projections from {seq} events")


@click.command(cls=TallyCommand, epilog=example("tally restore riverside --from http://127.0.0.1:7601"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--from", "peer_url", required=True, metavar="URL", help="A peer that holds this node's feed.")
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def restore(directory: Path, peer_url: str, as_json: bool) -> None:
    """Rebuild this home's own feed from a peer's verified copy (node.key must be present)."""
    from tallystick.replication.restore import restore_home

    check_node_url(peer_url, "--from")
    restored = asyncio.run(restore_home(directory, peer_url))
    if as_json:
        print_json({"node": restored.node, "seq": restored.seq, "head": restored.head})
    else:
        click.echo(f"restored {restored.node} up to seq {restored.seq} from {peer_url}")


commands = (init, serve, verify, rebuild, restore)
