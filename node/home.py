"""A node's home folder: its keys, configuration and database, and `tally init`.

How this works: a home holds `node.key` (the feed's signing key, mode 0600), `recovery.key` (to be
moved offline by the operator), `admin.key` (the first member's key), `config.json` (typed, below)
and `tally.db`. `init_home` writes the genesis event as seq 1 of the new feed in the same step, so a
home either exists whole or not at all (it is built in a temporary folder and renamed into place).
A running node holds an exclusive lock on `node.lock`; offline commands that write take the same
lock, so they cannot run beside `tally serve`. A home made by `tally backup` (cli/backup.py) also
holds `snapshot.json`, and is not served (`refuse_if_snapshot`) until `tally resume` removes it.
`NodeConfig.__post_init__` checks what msgspec's types cannot (a public URL, proxy networks), so a
bad config.json is refused when it is read. Key files and the config are fsynced when written,
and the folder after each rename, so what a command reported done survives a power cut.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import ipaddress
import os
import re
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta
from tallystick.ledger.model import initial_state
from tallystick.protocol import limits
from tallystick.protocol.codec import sign_event
from tallystick.protocol.errors import LocalError
from tallystick.protocol.events import GenesisSealed
from tallystick.protocol.feed import start_feed
from tallystick.protocol.ids import KeyPair, hash32, id_to_text
from tallystick.protocol.personal import commit, open_text, seal

from .personal import DataKeys
from .store import AppendBatch, Store, acknowledged_path


class HomeError(LocalError):
    code = "home"


class NodeRunningError(LocalError):
    code = "node_running"


class SnapshotHomeError(HomeError):
    """A home made by `tally backup`, not yet resumed: serving it could sign a second event at a
    seq its node already gave out (code "home": the folder is not one to serve as it is)."""


class Snapshot(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`HOME/snapshot.json`, written by `tally backup`: this home is a copy of feed `feed` up to
    `seq` (whose event's hash is `head`), taken at `taken_ms` (ms since the epoch, UTC). Ids in
    their text form, so an operator can read it."""

    feed: str
    seq: Annotated[int, Meta(ge=1)]
    head: str
    taken_ms: Annotated[int, Meta(ge=0)]


snapshot_file_name = "snapshot.json"


# A host as a URL carries it: a DNS name or IPv4 address, or a bracketed IPv6 address, and an
# optional port. Nothing else (no '/', '@', quotes, brackets or spaces) reaches a page or a QR code.
url_host_pattern = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)
# A public URL is a scheme and a host name (at most 253 characters) and a port: 300 is plenty.
public_url_chars_max = 300
# An operator has a few proxies, or a network of them; a list past this is a mistake.
trusted_proxies_max = 64


class SmtpConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The mail server the node sends members' notices through (node/mailer.py, docs/operator.md)."""

    host: Annotated[str, Meta(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")]
    sender: Annotated[str, Meta(min_length=3, max_length=254, pattern=r"^[^\s@]+@[^\s@]+$")] = msgspec.field(name="from")
    port: Annotated[int, Meta(ge=1, le=65535)] = 25
    # STARTTLS before anything else is said (the server's certificate checked against the system's CAs).
    starttls: bool = False
    # A login, where the server asks for one; both or neither.
    username: Annotated[str, Meta(max_length=256)] | None = None
    password: Annotated[str, Meta(max_length=1024)] | None = None

    def __post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise ValueError("smtp needs both username and password, or neither")


class NodeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything an operator may configure, in one typed place (`DIR/config.json`)."""

    listen_host: str = "127.0.0.1"
    listen_port: Annotated[int, Meta(ge=1, le=65535)] = 7600
    peers: Annotated[list[str], Meta(max_length=limits.peers_max)] = []
    # The URL members and other nodes use to reach this node, as pages and QR codes show it
    # (node/public.py): "https://riverside.example". None: the URL each request came in on (or, from
    # a trusted proxy, the one it forwards). An http(s) URL with a host and no path, query or user.
    public_url: Annotated[str, Meta(max_length=public_url_chars_max)] | None = None
    # Addresses or networks ("127.0.0.1", "10.0.0.0/8", "::1") of the operator's reverse proxies, whose
    # Forwarded / X-Forwarded-Proto / X-Forwarded-Host headers say the scheme and host a client used.
    # Empty: such headers are ignored (anyone can send them).
    trusted_proxies: Annotated[list[str], Meta(max_length=trusted_proxies_max)] = []
    # The timer appends a checkpoint when the feed has been idle this long with uncheckpointed events.
    checkpoint_idle_ms: Annotated[int, Meta(ge=1000)] = 60_000
    # Intents waiting for the sequencer before the API answers 503 (limits.pending_intents_max).
    pending_intents_max: Annotated[int, Meta(ge=1, le=limits.pending_intents_max)] = limits.pending_intents_max
    # Processes that check member signatures during a bulk catch-up from a peer; 0 checks them in
    # the node's own process. None: one per core.
    verify_processes: Annotated[int, Meta(ge=0, le=64)] | None = None
    # Feeds (node ids, n_...) this node replicates besides its own; None: every feed its peers hold.
    follow: Annotated[list[str], Meta(max_length=limits.replication_heads_max)] | None = None
    # A federation member at its trade limit (or a member federation at its capacity) this long
    # raises an algedonic alert in the viability report (System 3).
    at_limit_alert_ms: Annotated[int, Meta(ge=0)] = 3_600_000
    # How far the clock may run ahead of the last event and of the configured peers' latest times
    # before the node refuses to append (clock_ahead). Raise it only for a node that was really off
    # that long with no peer up (docs/operator.md §11).
    clock_skew_max_ms: Annotated[int, Meta(ge=0)] = limits.clock_skew_max_ms
    # Bounds on HTTP clients (node/connections.py, docs/operator.md §3.2).
    header_read_timeout_ms: Annotated[int, Meta(ge=100, le=600_000)] = limits.header_read_timeout_ms
    body_read_timeout_ms: Annotated[int, Meta(ge=100, le=600_000)] = limits.body_read_timeout_ms
    keepalive_timeout_ms: Annotated[int, Meta(ge=100, le=600_000)] = limits.keepalive_timeout_ms
    connections_per_address_max: Annotated[int, Meta(ge=1, le=1_000_000)] = limits.connections_per_address_max
    connections_max: Annotated[int, Meta(ge=1, le=1_000_000)] = limits.connections_max
    # The backups' key store (node/personal.py, docs/operator.md §5.5): a second copy of keys.db,
    # an absolute path on another disk, written before any event that needs a new key and erased
    # from with the home's. None: keys.db alone.
    key_backup: Annotated[str, Meta(min_length=2, max_length=4096, pattern="^/")] | None = None
    # The community's default language (docs/operator.md): the wallet's for a reader whose browser
    # asks for none the node ships, and that of the wallet's shell and 404 page. One of the
    # wallet's catalogues (node/wallet/locale/) or "en".
    default_language: Annotated[str, Meta(pattern="^[a-z]{2,3}$")] = "en"
    # The mail server members' notices go through (docs/notifications.md). None: notices stay in
    # the wallet's inbox and no mail is sent.
    smtp: SmtpConfig | None = None
    # How often the node looks for the reminders no event carries: a decision closing within a day,
    # a listing about to expire (node/notifications.py). A day's warning needs no finer grain.
    reminders_interval_ms: Annotated[int, Meta(ge=100, le=3_600_000)] = 60_000
    # The window of the members' digest (new listings, open decisions): one digest per window,
    # windows counted from the epoch (a week: Thursday 00:00 UTC to the next).
    digest_interval_ms: Annotated[int, Meta(ge=1000)] = 7 * 24 * 60 * 60 * 1000

    def __post_init__(self) -> None:
        # msgspec turns a ValueError here into a ValidationError naming the field, so a bad value
        # is refused when config.json is read (Home.config), never when a page first needs it.
        if self.public_url is not None:
            check_public_url(self.public_url)
        trusted_networks(tuple(self.trusted_proxies))
        # Imported here: the wallet package brings aiohttp's server and Babel, which a `tally`
        # command that never reads a config.json should not pay for at every start.
        from .wallet.catalogue import shipped_languages

        if self.default_language not in shipped_languages():
            raise ValueError(f"default_language {self.default_language!r} has no catalogue: "
                             f"write one of {', '.join(shipped_languages())}")


def check_public_url(url: str) -> None:
    """Refuse (ValueError) what cannot be the base of the node's links: not http(s), no host, a path
    beyond '/', a query, a fragment, a user, or a port out of range."""
    remedy = 'write it as the scheme and host members use, e.g. "https://riverside.example"'
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"public_url {url!r} is not a URL; {remedy}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"public_url {url!r} needs http:// or https:// and a host; {remedy}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(f"public_url {url!r} has a path, query or fragment; a node lives at its host's root: {remedy}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"public_url {url!r} carries a user or password; {remedy}")
    if port == 0 or not url_host_pattern.fullmatch(parts.netloc):
        raise ValueError(f"public_url {url!r} has a host that is not a name or an address; {remedy}")


@functools.lru_cache(maxsize=64)
def trusted_networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of `trusted_proxies` (an address is its own /32 or /128); ValueError names a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"trusted_proxies entry {entry!r} is not an address or a network; write e.g. \"127.0.0.1\" or \"10.0.0.0/8\""
            ) from None
    return tuple(networks)


key_file_mode = 0o600


def publish_folder(building: Path, target: Path) -> None:
    """Put the folder `building` (made whole, beside `target`) in `target`'s place in one rename,
    `target` being absent or an empty folder, and make both durable: a crash leaves the old empty
    folder or the whole new one, never half of it."""
    fsync_folder(building)
    if target.exists():
        target.rmdir()
    os.rename(building, target)
    fsync_folder(target.parent)


def fsync_folder(path: Path) -> None:
    """Make the renames and creations in folder `path` durable (a rename is durable only once its
    folder is synced)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_key(path: Path, key: KeyPair) -> None:
    """Write a key file readable by its owner only (created 0600, never widened), and fsync it: a key
    file is written before what depends on it (a rotation's event) is committed."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, key_file_mode)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.to_text() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_key(path: Path) -> KeyPair:
    try:
        text = Path(path).read_text().strip()
    except OSError as error:
        raise HomeError(f"cannot read key file {path}: {error.strerror}") from None
    return KeyPair.from_text(text)


class Home:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def node_key_path(self) -> Path:
        return self.path / "node.key"

    @property
    def recovery_key_path(self) -> Path:
        return self.path / "recovery.key"

    @property
    def admin_key_path(self) -> Path:
        return self.path / "admin.key"

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def database_path(self) -> Path:
        return self.path / "tally.db"

    @property
    def keys_path(self) -> Path:
        """The members' data keys (node/personal.py): not in the log, not in `tally backup`; losing
        it without its backup (`key_backup`) loses every name and memo, never a balance."""
        return self.path / "keys.db"

    @property
    def sessions_path(self) -> Path:
        """Members' sign-in sessions (node/sessions.py): not part of the log; deleting it signs everyone out."""
        return self.path / "sessions.db"

    @property
    def acknowledged_path(self) -> Path:
        """The record of the own feed's last acknowledged head (node/store.py, `tally.db.acknowledged`)."""
        return acknowledged_path(self.database_path)

    @property
    def snapshot_path(self) -> Path:
        """Present while the home is a snapshot `tally backup` made and `tally resume` has not cleared."""
        return self.path / snapshot_file_name

    def snapshot(self) -> Snapshot | None:
        try:
            raw = self.snapshot_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise HomeError(f"cannot read {self.snapshot_path}: {error.strerror}; fix its permissions") from None
        try:
            return msgspec.json.decode(raw, type=Snapshot)
        except (msgspec.ValidationError, msgspec.DecodeError):
            # Damaged, it still says the home is a snapshot: never a reason to serve it.
            raise SnapshotHomeError(
                f"{self.snapshot_path} is damaged, but says {self.path} is a snapshot (`tally backup`); check "
                f"it with `tally resume {self.path} --from PEER_URL` (docs/operator.md §5.4)"
            ) from None

    def refuse_if_snapshot(self) -> None:
        """Refuse (SnapshotHomeError) to write to the own feed of a home that is a snapshot: the node
        it was taken from may have acknowledged events past it, and new ones at those seqs fork the feed."""
        snapshot = self.snapshot()
        if snapshot is None:
            return
        taken = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(snapshot.taken_ms / 1000))
        raise SnapshotHomeError(
            f"{self.path} is a snapshot of feed {snapshot.feed} at seq {snapshot.seq}, taken {taken} by `tally "
            "backup`; its node may have acknowledged later events, and writing here would fork them. Run "
            f"`tally resume {self.path} --from PEER_URL` with a node that replicates this feed (it fetches anything "
            f"newer), or, only if no newer copy exists anywhere, `tally resume {self.path} --no-newer-copy` "
            "(docs/operator.md §5.4)"
        )

    @property
    def staged_node_key_path(self) -> Path:
        """A rotation's new node key, until the rotation renames it over node.key."""
        return self.path / "node.new"

    @property
    def staged_recovery_key_path(self) -> Path:
        """A rotation's new recovery key, until the rotation renames it over recovery.key."""
        return self.path / "recovery.key.new"

    def check(self) -> None:
        if not self.database_path.exists() or not self.config_path.exists():
            raise HomeError(f"{self.path} is not a node home; create one with `tally init {self.path} ...`")

    def config(self) -> NodeConfig:
        self.check()
        try:
            return msgspec.json.decode(self.config_path.read_bytes(), type=NodeConfig)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            raise HomeError(f"{self.config_path} is not valid: {error}; fix it (see docs/operator.md)") from None

    def write_config(self, config: NodeConfig) -> None:
        temporary = self.config_path.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            handle.write(msgspec.json.format(msgspec.json.encode(config)) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.config_path)
        fsync_folder(self.path)

    def node_key(self) -> KeyPair:
        return read_key(self.node_key_path)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the home's exclusive lock, or raise NodeRunningError at once."""
        handle = open(self.path / "node.lock", "w")  # noqa: SIM115 - held for the context
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise NodeRunningError(
                f"a node is running on {self.path} (it holds node.lock); stop it first"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


class Initialized(msgspec.Struct, frozen=True):
    node: str
    admin: str


async def init_home(
    path: Path,
    *,
    name: str,
    unit_code: str,
    unit_decimals: int,
    debit_limit_minor: int,
    credit_ceiling_minor: int,
    now_ms: int,
    admin_name: str = "admin",
    config: NodeConfig | None = None,
    checkpoint_interval_events: int = limits.checkpoint_interval_events_default,
) -> Initialized:
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise HomeError(f"{path} already exists and is not empty; a home is never overwritten")
    node_key, recovery_key, admin_key = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    config = config or NodeConfig()
    path.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".tally-init-", dir=path.parent))
    # The admin's name is committed in the genesis and sealed under their data key (protocol.md §19).
    keys = DataKeys(building / "keys.db", None if config.key_backup is None else Path(config.key_backup))
    try:
        opened = open_text(admin_name)
        box = seal(keys.create_now(admin_key.public), [opened])
    finally:
        keys.close()
    genesis = GenesisSealed(
        name=name,
        unit_code=unit_code,
        unit_decimals=unit_decimals,
        debit_limit_minor=debit_limit_minor,
        credit_ceiling_minor=credit_ceiling_minor,
        signing_key=node_key.public,
        recovery_key_hash=hash32(recovery_key.public),
        admin_key=admin_key.public,
        admin_name=commit(opened),
        checkpoint_interval_events=checkpoint_interval_events,
        subject=admin_key.public,
        box=box,
    )
    raw = sign_event(node_key, feed=None, seq=1, prev=None, ts=now_ms, body=genesis)
    head, event = start_feed(raw)
    state = initial_state(head.feed, genesis)
    try:
        home = Home(building)
        write_key(home.node_key_path, node_key)
        write_key(home.recovery_key_path, recovery_key)
        write_key(home.admin_key_path, admin_key)
        home.write_config(config)
        store = await Store.open(home.database_path)
        try:
            await store.set_meta("own_feed", head.feed)
            await store.append_batch(AppendBatch.genesis(state, head, event.ts, raw))
        finally:
            await store.close()
        publish_folder(building, path)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return Initialized(node=id_to_text("n", head.feed), admin=id_to_text("m", admin_key.public))
