"""`tally key …`: member and node keys.

How this works: `new` and `show` read and write key files (node/home.py, mode 0600); `rebind` signs
a `RebindKey` with the member's current key (every other key of the account retired);
`add-device` and `remove-device` sign an `AddKey` or a `RemoveKey` (one key per device, any of which
signs for the account); `export` and `import` seal and unseal a key under a
passphrase (cli/keyfile.py), the passphrase from TALLY_PASSPHRASE or asked at the terminal; `rotate`
moves a stopped node's feed to a new signing key, signed by the recovery key (node/offline.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click
from tallystick.node.home import Home, read_key, write_key
from tallystick.node.offline import rotate_key
from tallystick.protocol.events import AddKey, RebindKey, RemoveKey
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from .common import Context, Mistake, TallyGroup, console, example, now_ms, print_json, refusals_exit_cleanly
from .keyfile import seal, unseal
from .terminal import visible


@click.group(cls=TallyGroup)
def key() -> None:
    """Member and node keys."""


@key.command("new", epilog=example("tally key new alice.key", "tally key new alice.key --json"))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def key_new(file: Path, as_json: bool) -> None:
    """Create a member key file (mode 0600); prints its member id."""
    if file.exists():
        raise Mistake("exists", f"{file} exists; a key file is never overwritten")
    pair = KeyPair.generate()
    write_key(file, pair)
    member_id = id_to_text("m", pair.public)
    print_json({"id": member_id}) if as_json else click.echo(member_id)


@key.command("show", epilog=example("tally key show alice.key"))
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def key_show(file: Path, as_json: bool) -> None:
    """Print the member id (and public key) of a key file; never the secret."""
    pair = read_key(file)
    document = {"id": id_to_text("m", pair.public), "key": id_to_text("k", pair.public)}
    print_json(document) if as_json else click.echo(document["id"])


@key.command("rebind", epilog=example(
    "tally key new alice-2.key",
    "tally --key alice.key key rebind alice-2.key   # from now on, sign with alice-2.key"))
@click.argument("new_file", metavar="NEW_KEY_FILE", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def key_rebind(context: Context, new_file: Path, as_json: bool) -> None:
    """Move your account to the key in NEW_KEY_FILE, signed with your current key (--key). The old
    key is retired for good. For a lost key, another member proposes --recover instead."""
    new = read_key(new_file)
    client = context.client()
    appended = client.submit(context.key(), RebindKey(new_key=new.public))
    print_json(appended) if as_json else click.echo(
        f"your account now answers to {visible(str(new_file))} (seq {appended['seq']}); the old key is retired")


def _public_key(text: str) -> tuple[bytes, str]:
    """A device's public key from a `k_…` text (as a wallet shows it) or a key file; and how to name it."""
    if text.startswith("k_"):
        return id_from_text("k", text), text
    path = Path(text)
    if not path.is_file():
        raise Mistake("key", f"{visible(text)} is neither a key (k_…) nor a key file; give the device's key")
    return read_key(path).public, visible(text)


@key.command("add-device", epilog=example(
    "tally key new laptop.key",
    "tally --key phone.key key add-device laptop.key   # laptop.key now signs for the same account",
    "tally --key alice.key key add-device k_...        # the key a wallet made on a new phone"))
@click.argument("device", metavar="KEY_OR_FILE")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def key_add_device(context: Context, device: str, as_json: bool) -> None:
    """Bind another device's key (KEY_OR_FILE: its k_… key or its key file) to your account, signed
    with one of your current keys (--key). Both then sign for the account; your member id stays."""
    public, named = _public_key(device)
    appended = context.client().submit(context.key(), AddKey(key=public))
    print_json(appended) if as_json else click.echo(
        f"{named} now signs for your account too (seq {appended['seq']})")


@key.command("remove-device", epilog=example(
    "tally --key laptop.key key remove-device k_...   # the lost phone's key",
    "tally --key laptop.key key remove-device phone.key"))
@click.argument("device", metavar="KEY_OR_FILE")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@refusals_exit_cleanly
def key_remove_device(context: Context, device: str, as_json: bool) -> None:
    """Retire one of your account's keys for good (a lost device's, or the --key one itself), signed
    with one of your current keys (--key). Its sessions end; the last key cannot be removed. With
    every device lost, another member proposes --recover instead."""
    public, named = _public_key(device)
    appended = context.client().submit(context.key(), RemoveKey(key=public))
    print_json(appended) if as_json else click.echo(
        f"{named} no longer signs for your account (seq {appended['seq']}); it is retired")


def _passphrase(confirm: bool) -> str:
    from_environment = os.environ.get("TALLY_PASSPHRASE")
    if from_environment:
        return from_environment
    if not sys.stdin.isatty():
        raise click.UsageError("no passphrase: set TALLY_PASSPHRASE, or run this in a terminal to be asked for one")
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


@key.command("export", epilog=example(
    "TALLY_PASSPHRASE=... tally key export riverside riverside-node.sealed   # a home: its node.key",
    "tally key export alice.key alice.sealed                               # a member key file"))
@click.argument("key_file", type=click.Path(path_type=Path, exists=True, dir_okay=True))
@click.argument("out", type=click.Path(path_type=Path))
@refusals_exit_cleanly
def key_export(key_file: Path, out: Path) -> None:
    """Write KEY_FILE (or a home's node.key) to OUT encrypted under a passphrase (TALLY_PASSPHRASE or prompt)."""
    if key_file.is_dir():
        Home(key_file).check()
    source = key_file / "node.key" if key_file.is_dir() else key_file
    if out.exists():
        raise Mistake("exists", f"{out} exists; choose a new file")
    sealed = seal(read_key(source), _passphrase(confirm=True))
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(sealed)
    click.echo(f"exported {source} to {out}", err=True)


def _import_target(target: Path) -> Path:
    """Where `key import` writes: a home folder's node.key, or a member key file named FILE.key.
    Anything else is refused before the passphrase is asked, so nothing is written where a
    restore would not find it (a file named `riverside` beside the home)."""
    if target.is_dir():
        home = Home(target)
        if not home.config_path.exists() or not home.database_path.exists():
            raise Mistake("home",
                f"{target} is a folder but no node home (a home holds config.json and tally.db); "
                f"import a node key into its home: tally key import EXPORT HOME_DIR")
        if home.node_key_path.exists():
            raise Mistake("exists", f"{home.node_key_path} exists; move it away first")
        return home.node_key_path
    if target.suffix != ".key":
        raise Mistake("home",
            f"{target} is no home folder; import a node key into its home: tally key import EXPORT HOME_DIR, "
            f"or a member key into a new file: tally key import EXPORT {target.name}.key")
    if target.exists():
        raise Mistake("exists", f"{target} exists; move it away first")
    if not target.parent.is_dir():
        raise Mistake("home", f"there is no folder {target.parent} to hold {target.name}")
    return target


@key.command("import", epilog=example(
    "tally key import riverside-node.sealed riverside   # into the home: writes riverside/node.key",
    "tally key import alice.sealed alice.key            # a member key file"))
@click.argument("exported", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("target", metavar="HOME_DIR|FILE.key", type=click.Path(path_type=Path))
@refusals_exit_cleanly
def key_import(exported: Path, target: Path) -> None:
    """Decrypt EXPORTED (from `tally key export`) into a home folder's node.key, or into a new
    member key file FILE.key. A path that is neither a home folder nor ends in .key is refused."""
    destination = _import_target(target)
    pair = unseal(exported.read_bytes(), _passphrase(confirm=False))
    write_key(destination, pair)
    click.echo(f"imported key {id_to_text('k', pair.public)} into {destination}", err=True)


@key.command("rotate", epilog=example("tally key rotate riverside --recovery /media/usb/recovery.key   # node stopped"))
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--recovery", "recovery_file", required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--json", "as_json", is_flag=True)
@refusals_exit_cleanly
def key_rotate(directory: Path, recovery_file: Path, as_json: bool) -> None:
    """Move the feed to a new signing key (node stopped), signed by the recovery key."""
    rotated = asyncio.run(rotate_key(Home(directory), recovery_file, now_ms()))
    if as_json:
        print_json({"seq": rotated.seq, "signing_key": rotated.signing_key, "recovery_key_file": rotated.recovery_key_file})
        return
    console.print(f"Rotated at seq {rotated.seq}; the node now signs with {rotated.signing_key}.")
    console.print(f"[yellow]Move the new {rotated.recovery_key_file} offline now.[/]")


commands = (key,)
