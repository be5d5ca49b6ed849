"""The node's SQLite store: the append-only log and the projections, in one file.

How this works: `log` holds each event's exact signed bytes under the key (feed, seq); triggers make
it append-only, so a clash or an edit is an IntegrityError, never a silent overwrite. Projections
(members, accounts, the community's settings, feed heads) are rows derived from the log; they are
written in the same transaction as the events that changed them, so a crash can never leave a
projection ahead of or behind its log. Appends are group-committed: every writer (the sequencer, a
peer's batch, a rebuild's postings) adds its events to a `BatchBuilder` as it applies them, which
freezes into one `AppendBatch` (the log rows, the state after them, the typed `Changes` of
ledger/changes.py, the postings); `append_batch` writes it with a few `executemany` calls and one
commit, run whole in the store's own writer thread (a thread hop is ~100 µs, so we pay per batch, not
per row). Reads go through a second, `query_only` connection (aiosqlite). Every read takes a limit.
WAL with synchronous=FULL: a commit that returned survives a kill -9 and a power cut.

The acknowledged head: after each commit that added events to the home's own feed, and before the
commit returns (so before anyone is told), the store records the feed's new head in a small file
beside the database, `tally.db.acknowledged`, synced to disk (two checksummed slots written in turn,
see `acknowledged_slot_bytes`). It is independent of SQLite: a WAL that lost its tail (one flipped
byte makes SQLite drop every frame from it on) or an old copy of the database put back leaves the
database's own head behind the record, and `Store.open` then refuses with `acknowledged_lost` instead
of letting the node sign a second event at a seq it already gave out. The record can only be behind
the database (a crash between a commit and its record), and that is fine: the next open brings it
up. The check reads the record first and the database second, through a read-only connection that
never checkpoints the WAL: a node running beside (`tally verify` may run beside one) writes the
record only after its commit, so the head read second is never behind the record read first, and a
refusal leaves every file as it was.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import heapq
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

import aiosqlite
import msgspec
from immutables import Map
from tallystick.ledger import changes as changeset
from tallystick.ledger.changes import BalanceChange, Changes, ShareRow
from tallystick.ledger.decisions import visibility_in_force
from tallystick.ledger.model import (
    Account,
    Ballot,
    Capacity,
    Community,
    Decision,
    Enterprise,
    Holding,
    Invitation,
    Levy,
    Member,
    Offer,
    Order,
    Payments,
    Pending,
    Rules,
    Shares,
    State,
    Subscription,
    Tally,
    Trade,
    Withdrawal,
)
from tallystick.ledger.names import name_key as _name_key
from tallystick.ledger.shares import rebuilt_indexes, share_record
from tallystick.protocol import limits
from tallystick.protocol.errors import BadIdError, LocalError
from tallystick.protocol.events import Effect, Electorate, Event, Intent
from tallystick.protocol.federation import FederationBody, federation_body_kinds, payment_body_kinds
from tallystick.protocol.feed import FeedHead
from tallystick.protocol.ids import id_from_text, id_to_text
from tallystick.protocol.personal import Committed

# Bumped whenever a table changes shape; a database of another version is refused with a message
# (there is no migration yet: rebuild the home from its feed with `tally restore`, or re-init).
schema_version = 4

_schema = """
CREATE TABLE IF NOT EXISTS log (
    feed BLOB NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (feed, seq)
) WITHOUT ROWID;
-- The events that carry a sealed box (node/personal.py reads them at start): few, so a partial index.
CREATE INDEX IF NOT EXISTS log_sealed ON log (feed, seq)
    WHERE kind IN ('act_sealed', 'genesis_sealed', 'payment_sent_sealed');
CREATE TRIGGER IF NOT EXISTS log_is_append_only_update BEFORE UPDATE ON log
BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS log_is_append_only_delete BEFORE DELETE ON log
BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
CREATE INDEX IF NOT EXISTS log_key_rotations ON log (feed, seq) WHERE kind = 'key_rotated';
CREATE TABLE IF NOT EXISTS federation_log (
    feed BLOB NOT NULL,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (feed, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS forks (
    feed BLOB NOT NULL,
    seq INTEGER NOT NULL,
    proof BLOB NOT NULL,
    PRIMARY KEY (feed, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feeds (
    feed BLOB PRIMARY KEY,
    seq INTEGER NOT NULL,
    head BLOB NOT NULL,
    ts INTEGER NOT NULL,
    signing_key BLOB NOT NULL,
    recovery_key_hash BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS community (
    feed BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    unit_code TEXT NOT NULL,
    unit_decimals INTEGER NOT NULL,
    debit_limit_minor INTEGER NOT NULL,
    credit_ceiling_minor INTEGER NOT NULL,
    checkpoint_interval_events INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    events_since_checkpoint INTEGER NOT NULL,
    federation_outbox BLOB NOT NULL,
    payments BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    feed BLOB NOT NULL,
    id BLOB NOT NULL,
    name TEXT NOT NULL,
    key BLOB NOT NULL,
    role TEXT NOT NULL,
    active INTEGER NOT NULL,
    admitted_seq INTEGER NOT NULL,
    nonce_floor INTEGER NOT NULL,
    nonces BLOB NOT NULL,
    retired_keys BLOB NOT NULL,
    PRIMARY KEY (feed, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_name ON members (feed, name COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS accounts (
    feed BLOB NOT NULL,
    id BLOB NOT NULL,
    balance_minor INTEGER NOT NULL,
    debit_limit_minor INTEGER,
    credit_ceiling_minor INTEGER,
    PRIMARY KEY (feed, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decisions (
    feed BLOB NOT NULL,
    seq INTEGER NOT NULL,
    decision_type TEXT NOT NULL,
    title TEXT NOT NULL,
    deadline_ms INTEGER NOT NULL,
    outcome TEXT,
    record BLOB NOT NULL,
    PRIMARY KEY (feed, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delegations (
    feed BLOB NOT NULL,
    member BLOB NOT NULL,
    topic TEXT NOT NULL,
    delegate BLOB NOT NULL,
    PRIMARY KEY (feed, member, topic)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shares (
    feed BLOB NOT NULL,
    kind TEXT NOT NULL,
    key BLOB NOT NULL,
    enterprise BLOB NOT NULL,
    seq INTEGER NOT NULL,
    holder BLOB,
    record BLOB NOT NULL,
    PRIMARY KEY (feed, kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS shares_by_enterprise ON shares (feed, enterprise, kind, seq);
CREATE TABLE IF NOT EXISTS postings (
    feed BLOB NOT NULL,
    seq INTEGER NOT NULL,
    positive_minor INTEGER NOT NULL,
    balances BLOB NOT NULL,
    PRIMARY KEY (feed, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS posting_blocks (
    feed BLOB NOT NULL,
    account BLOB NOT NULL,
    block INTEGER NOT NULL,
    PRIMARY KEY (feed, account, block)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invitations (
    feed BLOB NOT NULL,
    key BLOB NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (feed, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS member_keys (
    feed BLOB NOT NULL,
    member BLOB NOT NULL,
    keys BLOB NOT NULL,
    PRIMARY KEY (feed, member)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rules (
    feed BLOB PRIMARY KEY,
    admission TEXT NOT NULL,
    quorum_bp INTEGER NOT NULL,
    threshold_bp INTEGER NOT NULL,
    levy_rate_bp INTEGER,
    levy_min_minor INTEGER,
    levy_max_minor INTEGER
) WITHOUT ROWID;
"""

# Tables derived from the log: `tally rebuild` drops and refolds exactly these.
projection_tables = ("feeds", "community", "members", "member_keys", "accounts", "decisions", "delegations",
                     "invitations", "rules", "shares", "postings", "posting_blocks")
# Of those, the ones that hold history, not the state: a rebuild cannot write them from the final
# state, so it stages them while it folds (`stage_postings`).
history_tables = ("postings", "posting_blocks")
# How balances over time are kept. `postings` holds one row per event that changed a balance (or
# opened an account): the balances after it of the accounts it changed, and the credit in
# circulation after it (the sum of positive balances). `posting_blocks` says in which blocks of this
# many events an account has postings: an account's history is read block by block, newest first,
# each block one range of `postings` that SQLite filters by the account's id in C. Why not a row per
# (account, event) keyed by account: measured here (sequencer bench, 100 members), such rows cost
# 13-16 % of the sequencer's throughput, being one B-tree insert each (~2.8 µs on this machine)
# and a page dirtied per account per commit; one row an event in seq order, and a block row per
# account per block, cost ~3 %.
posting_block_events = 1024

_nonce_encoder = msgspec.msgpack.Encoder()
_nonce_decoder = msgspec.msgpack.Decoder(list[int])
_keys_decoder = msgspec.msgpack.Decoder(list[bytes])
# A member's further current keys (`Member.devices`, one per device), oldest first, as a msgpack
# array of ids: a `member_keys` row exists only for an account with more than one current key, so
# the `members` table, and every home written before devices, is unchanged.
_devices_encoder = msgspec.msgpack.Encoder()
_outbox_decoder = msgspec.msgpack.Decoder(list[FederationBody])
# An open invitation's row: its Invitation (ledger/model.py) as a msgpack array.
_invitation_encoder = msgspec.msgpack.Encoder()
_invitation_decoder = msgspec.msgpack.Decoder(Invitation)


# The kinds `federation_log` indexes: what the federation layer folds and answers.
federation_log_kinds = federation_body_kinds | payment_body_kinds


class _PaymentsRecord(msgspec.Struct, frozen=True, array_like=True):
    trade: list[tuple[bytes, bytes]]
    pending: list[tuple[bytes, Pending]]
    answered: list[tuple[bytes, str]]
    capacity: list[tuple[bytes, Capacity]] = []  # absent in rows written before capacity existed


_payments_decoder = msgspec.msgpack.Decoder(_PaymentsRecord)


class _DecisionRecord(msgspec.Struct, frozen=True, array_like=True):
    """A decision as its projection row stores it (its votes as a sorted list)."""

    seq: int
    proposer: bytes
    decision_type: str
    title: str | Committed
    text: str | Committed
    topic: str
    options: tuple[str | Committed, ...]
    multiple: bool
    ranked: bool
    quorum_bp: int
    threshold_bp: int
    deadline_ms: int
    opened_ms: int
    effect: Effect | None
    votes: list[tuple[bytes, Ballot]]
    outcome: str | None
    closed_seq: int | None
    result: Tally | None
    electorate: Electorate


_record_decoder = msgspec.msgpack.Decoder(_DecisionRecord)


def _decision_row(feed: bytes, decision: Decision) -> tuple:
    # The same fields as the domain's Decision (a test of the store round-trips one), votes sorted.
    record = _DecisionRecord(**{**msgspec.structs.asdict(decision), "votes": sorted(decision.votes.items())})
    return (feed, decision.seq, decision.decision_type, _stored_text(decision.title), decision.deadline_ms, decision.outcome,
            _nonce_encoder.encode(record))


def _decision_from_record(raw: bytes) -> Decision:
    record = _record_decoder.decode(raw)
    fields = msgspec.structs.asdict(record)
    fields["votes"] = Map(record.votes)
    return Decision(**fields)


class _OfferRecord(msgspec.Struct, frozen=True, array_like=True):
    """An offer as its projection row stores it (its subscriptions as a sorted list)."""

    seq: int
    enterprise: bytes
    share_class: int
    price_minor: int
    units: int
    min_units: int
    member_cap_units: int
    deadline_ms: int
    subscriptions: list[tuple[bytes, Subscription]]
    subscribed_units: int
    escrow_minor: int
    outcome: str | None
    closed_seq: int | None


share_kinds = ("enterprise", "holding", "offer", "order", "withdrawal", "trades")
_share_decoders = {
    "enterprise": msgspec.msgpack.Decoder(Enterprise),
    "holding": msgspec.msgpack.Decoder(Holding),
    "offer": msgspec.msgpack.Decoder(_OfferRecord),
    "order": msgspec.msgpack.Decoder(Order),
    "withdrawal": msgspec.msgpack.Decoder(Withdrawal),
    "trades": msgspec.msgpack.Decoder(tuple[Trade, ...]),
}
_share_key_decoder = msgspec.msgpack.Decoder()


def _share_row(feed: bytes, kind: str, key: object, value: object) -> tuple:
    """(feed, kind, key, enterprise, seq, holder, record) of one shares projection row."""
    holder = None
    if kind == "enterprise":
        enterprise, seq = key, 0
    elif kind in ("holding", "trades"):
        enterprise, seq = key[0], key[1]  # type: ignore[index]
        holder = key[2] if kind == "holding" else None  # type: ignore[index]
    else:
        enterprise, seq = value.enterprise, key  # type: ignore[attr-defined]
        holder = getattr(value, "holder", None) or getattr(value, "owner", None)
    if isinstance(value, Offer):
        fields = msgspec.structs.asdict(value)
        fields["subscriptions"] = sorted(value.subscriptions.items())
        value = _OfferRecord(**fields)
    return (feed, kind, _nonce_encoder.encode(key), enterprise, seq, holder, _nonce_encoder.encode(value))


def share_value(kind: str, raw: bytes) -> object:
    """A shares projection record back as the domain's value."""
    value = _share_decoders[kind].decode(raw)
    if kind == "offer":
        fields = msgspec.structs.asdict(value)
        fields["subscriptions"] = Map(value.subscriptions)  # type: ignore[attr-defined]
        return Offer(**fields)
    return value


def share_key(raw: bytes) -> object:
    key = _share_key_decoder.decode(raw)
    return tuple(key) if isinstance(key, list) else key


class SchemaVersionError(LocalError):
    code = "schema_version"


class AcknowledgedLostError(LocalError):
    code = "acknowledged_lost"


# ---- the acknowledged head --------------------------------------------------------------------------

# How a store keeps the record of the own feed's last acknowledged head (`Store.open`): "keep" checks
# it at open and writes it after every commit of own events (the node, and every offline command that
# writes); "check" only checks it (`tally verify`, which may run beside a node and must not write);
# "off" neither (a database being built by `tally restore`, which writes the record itself once the
# database is in place).
Acknowledging = Literal["keep", "check", "off"]
acknowledged_suffix = ".acknowledged"
# The record file is two slots of this many bytes, each one line: a JSON document padded with spaces.
# A commit overwrites the older slot in place and fdatasyncs it (one sync, ~2 ms here, where a new
# file renamed into place costs two syncs and a folder sync, ~8 ms, per committed batch); a write a
# crash tears leaves that slot failing its checksum and the other slot whole, and the newest whole
# slot is the record. Every slot ever written is a head that was committed, so whichever survives is
# never ahead of the database. 256 bytes hold the longest record (two 54-character ids, a seq, a
# 32-digit checksum) with room to spare.
acknowledged_slot_bytes = 256
acknowledged_slots = 2


class AcknowledgedHead(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One slot of the record file (ids in their text form, so an operator can read it); `check`
    is the BLAKE2b-128 of the other fields, so a torn slot is told from a whole one."""

    feed: str
    seq: int
    head: str
    check: str


_acknowledged_decoder = msgspec.json.Decoder(AcknowledgedHead)


def _slot_check(feed: str, seq: int, head: str) -> str:
    return hashlib.blake2b(f"{feed} {seq} {head}".encode(), digest_size=16).hexdigest()


def _slot(feed: bytes, seq: int, head: bytes) -> bytes:
    feed_text, head_text = id_to_text("n", feed), id_to_text("h", head)
    document = msgspec.json.encode(AcknowledgedHead(feed_text, seq, head_text, _slot_check(feed_text, seq, head_text)))
    assert len(document) < acknowledged_slot_bytes
    return document.ljust(acknowledged_slot_bytes - 1) + b"\n"


def _read_slot(raw: bytes) -> tuple[bytes, int, bytes] | None:
    try:
        record = _acknowledged_decoder.decode(raw.strip())
        if record.seq < 1 or record.check != _slot_check(record.feed, record.seq, record.head):
            return None
        return id_from_text("n", record.feed), record.seq, id_from_text("h", record.head)
    except (msgspec.DecodeError, msgspec.ValidationError, BadIdError):
        return None


def acknowledged_path(database: Path) -> Path:
    """Where the record of `database`'s acknowledged head lives: beside it, named after it."""
    return database.with_name(database.name + acknowledged_suffix)


def _read_slots(database: Path) -> tuple[tuple[bytes, int, bytes], int] | None:
    """(the newest whole slot's (feed, seq, head hash), its index), or None if there is no record.
    A record with no whole slot is refused: the node cannot know what it acknowledged."""
    path = acknowledged_path(database)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(acknowledged_slot_bytes * acknowledged_slots + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise AcknowledgedLostError(
            f"cannot read {path} ({error.strerror}): fix its permissions; it records what this node acknowledged"
        ) from None
    slots = []
    if len(raw) == acknowledged_slot_bytes * acknowledged_slots:
        for index in range(acknowledged_slots):
            record = _read_slot(raw[index * acknowledged_slot_bytes : (index + 1) * acknowledged_slot_bytes])
            if record is not None:
                slots.append((record, index))
    if not slots:
        raise AcknowledgedLostError(
            f"{path} is damaged, so what this node acknowledged is unknown; restore the home from a peer "
            "with `tally restore` (docs/operator.md §5.3)"
        )
    return max(slots, key=lambda slot: slot[0][1])


def read_acknowledged(database: Path) -> tuple[bytes, int, bytes] | None:
    """(feed, seq, head hash) of the record beside `database`, or None if there is none."""
    found = _read_slots(database)
    return None if found is None else found[0]


def write_acknowledged(database: Path, feed: bytes, seq: int, head: bytes) -> None:
    """Write the record beside `database` whole (both slots), for a command that holds the home's
    lock: a temporary file (named by process), fsync, rename, fsync of the folder. A crash leaves
    the old record or the new one, never a mix."""
    path = acknowledged_path(database)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, _slot(feed, seq, head) * acknowledged_slots)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class AcknowledgedRecord:
    """The record file of a store that keeps it, open for the writes in place after each commit
    (in the store's writer thread, one at a time)."""

    def __init__(self, database: Path, head: FeedHead) -> None:
        """Open the record of `database`, whose own feed's committed head is `head`: written whole if
        there is none, brought up to `head` if it is behind (a crash between a commit and its record)."""
        found = _read_slots(database)
        if found is None:
            write_acknowledged(database, head.feed, head.seq, head.head)
            found = ((head.feed, head.seq, head.head), 0)
        (_, self.seq, _), newest = found
        self._next_slot = (newest + 1) % acknowledged_slots
        self._descriptor = os.open(acknowledged_path(database), os.O_WRONLY)
        if self.seq < head.seq:
            self.write(head)

    def write(self, head: FeedHead) -> None:
        """Overwrite the older slot with `head` and make it durable before returning."""
        os.pwrite(self._descriptor, _slot(head.feed, head.seq, head.head), self._next_slot * acknowledged_slot_bytes)
        os.fdatasync(self._descriptor)
        self._next_slot = (self._next_slot + 1) % acknowledged_slots
        self.seq = head.seq

    def close(self) -> None:
        os.close(self._descriptor)


def check_acknowledged(database: Path, record: tuple[bytes, int, bytes] | None,
                       own: tuple[bytes, int] | None, held: bytes | None) -> None:
    """Refuse (AcknowledgedLostError) a database whose own feed is behind `record` (the file beside
    it, `read_acknowledged`). `own` is the database's own (feed, head seq); `held` the hash of the
    event it holds at the record's seq (None if it holds none there)."""
    if record is None:
        return
    feed, seq, head = record
    remedy = ("writing now could sign a second event at a seq other nodes may hold (a fork). Restore the home "
              f"from a peer: `tally restore {database.parent} --from PEER_URL` (docs/operator.md §5.3)")
    if own is None:
        raise AcknowledgedLostError(
            f"{database} holds no feed, but this node acknowledged its feed up to seq {seq}; " + remedy)
    own_feed, own_seq = own
    if own_feed != feed:
        raise AcknowledgedLostError(
            f"{database} holds feed {id_to_text('n', own_feed)}, but {acknowledged_path(database).name} records "
            f"feed {id_to_text('n', feed)}: the database is another node's; " + remedy)
    if own_seq < seq:
        raise AcknowledgedLostError(
            f"{database} holds this node's feed up to seq {own_seq}, but the node acknowledged up to seq {seq}: "
            "the database lost its last events (a damaged WAL, or an old copy put back); " + remedy)
    if held != head:
        raise AcknowledgedLostError(
            f"{database} holds another event at seq {seq} than the one this node acknowledged (a fork); " + remedy)


def read_only_connection(path: Path) -> sqlite3.Connection:
    """A connection that reads the database at `path` and writes nothing: it never checkpoints the
    WAL, and - when there is no WAL, so the main file is the whole database - creates none either
    (`immutable`; SQLite would otherwise create an empty tally.db-wal beside it)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    if not Path(f"{path}-wal").exists():
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True)


def _own_head_read_only(
    path: Path,
) -> tuple[tuple[bytes, int, bytes] | None, tuple[bytes | None, int, bytes | None, bytes | None] | None]:
    """The acknowledged record beside `path`, then (in that order, see the top) the database's own
    (feed, head seq, head hash, hash held at the record's seq), read through a read-only connection,
    which never checkpoints or writes. The second is None when there is nothing to
    compare: no database file, or one of another schema (which `Store.open` refuses on its own);
    its feed is None for a database that holds no feed."""
    record = read_acknowledged(path)
    if not path.exists():
        return record, None
    connection = read_only_connection(path)
    try:
        try:
            version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None or version[0] != schema_version:
                return record, None
            feed = connection.execute("SELECT value FROM meta WHERE key = 'own_feed'").fetchone()
            if feed is None:
                return record, (None, 0, None, None)
            head = connection.execute("SELECT seq, head FROM feeds WHERE feed = ?", (feed[0],)).fetchone()
            if head is None:
                return record, (bytes(feed[0]), 0, None, None)
            held = None
            if record is not None:
                found = connection.execute(
                    "SELECT hash FROM log WHERE feed = ? AND seq = ?", (feed[0], record[1])).fetchone()
                held = None if found is None else bytes(found[0])
            return record, (bytes(feed[0]), int(head[0]), bytes(head[1]), held)
        except sqlite3.OperationalError:
            return record, None  # not a database of ours (no meta table): the open says so
    finally:
        connection.close()


class StoredEvent(msgspec.Struct, frozen=True):
    seq: int
    hash: bytes
    bytes: bytes


def _stored_text(text: str | Committed) -> str | bytes:
    """A text column's value: the text, or a committed text's 32-byte digest (a BLOB; SQLite keeps
    it as one in a TEXT column), so that the projections hold no more than the log does."""
    return text if isinstance(text, str) else text.digest


def _loaded_text(value: str | bytes) -> str | Committed:
    return value if isinstance(value, str) else Committed(digest=value)


def _member_row(feed: bytes, member_id: bytes, member: Member) -> tuple:
    return (
        feed,
        member_id,
        _stored_text(member.name),
        member.key,
        member.role,
        int(member.active),
        member.admitted_seq,
        member.nonce_floor,
        _nonce_encoder.encode(sorted(member.nonces)),
        _nonce_encoder.encode(sorted(member.retired_keys)),
    )


def _account_row(feed: bytes, member_id: bytes, account: Account) -> tuple:
    return (feed, member_id, account.balance_minor, account.debit_limit_minor, account.credit_ceiling_minor)


def _community_row(state: State) -> tuple:
    c = state.community
    return (
        state.feed,
        c.name,
        c.unit_code,
        c.unit_decimals,
        c.debit_limit_minor,
        c.credit_ceiling_minor,
        c.checkpoint_interval_events,
        state.seq,
        state.events_since_checkpoint,
        _nonce_encoder.encode(list(state.federation_outbox)),
        _nonce_encoder.encode(_PaymentsRecord(
            sorted(state.payments.trade.items()), sorted(state.payments.pending.items()),
            sorted(state.payments.answered.items()), sorted(state.payments.capacity.items()))),
    )


# ---- one transaction's worth: the log rows, what they changed, their postings ---------------------


# A NamedTuple's own constructor is a Python function (~0.2 µs); the writers make one row and one
# posting an event, so they build them as the constructor would, without its frame.
_new_tuple = tuple.__new__


class LogRow(NamedTuple):
    """One row of `log`, in its columns' order (a tuple, so `executemany` takes a list of them)."""

    feed: bytes
    seq: int
    hash: bytes
    ts: int
    kind: str
    bytes: bytes

    @classmethod
    def of(cls, event: Event, raw: bytes, hash_: bytes) -> LogRow:
        return _new_tuple(cls, (event.feed, event.seq, hash_, event.ts, event.body.__struct_config__.tag, raw))


class Posting(NamedTuple):
    """The balance changes of one event: its seq, and per account whose balance it changed or which
    it opened, (account, balance before or None if opened, balance after)."""

    seq: int
    changes: list[BalanceChange]


def opening_postings(state: State, seq: int = 1) -> list[Posting]:
    """The postings of a genesis: every account it opens, at its balance."""
    changes: list[BalanceChange] = [(account, None, value.balance_minor) for account, value in state.accounts.items()]
    return [Posting(seq, changes)] if changes else []


class AppendBatch(msgspec.Struct, frozen=True):
    """Everything one append writes, in one transaction: the events' log rows in seq order, the
    state and head after the last of them, the projection rows they changed, and their postings
    (in seq order). Built by `BatchBuilder` (the sequencer, a refold, a peer's batch) or
    `AppendBatch.genesis`; written by `Store.append_batch`."""

    rows: tuple[LogRow, ...]
    state: State
    head: FeedHead
    changes: Changes
    postings: tuple[Posting, ...] = ()

    @classmethod
    def genesis(cls, state: State, head: FeedHead, ts: int, raw: bytes) -> AppendBatch:
        """A feed's first append: its genesis, the rows and the accounts it opens."""
        from tallystick.protocol.codec import decode_event

        kind = decode_event(raw).body.__struct_config__.tag  # "genesis", or "genesis_sealed"
        return cls((LogRow(head.feed, 1, head.head, ts, kind, raw),), state, head, changeset.of_genesis(state),
                   tuple(opening_postings(state)))


class BatchBuilder:
    """Collects a batch of one feed's events as they are applied, then freezes it into one
    `AppendBatch`: each event's log row, the rows it changed (`ledger.changes.of_event`, merged into
    one set per kind, so a row is written once however many events touched it) and its postings
    (`balances_moved`). The sequencer, the fold of a peer's batch and a key rotation add their
    events here, and so does a rebuild's refold with `postings_only` (it writes the projections
    whole from the final state, and its log is already written): one account of what a
    transaction writes."""

    __slots__ = ("_accounts", "_decisions", "_delegations", "_devices", "_invitations", "_rules", "_shares", "postings",
                 "postings_only", "rows", "state")

    def __init__(self, state: State, *, postings_only: bool = False) -> None:
        """`state`: the state before the first event; `state` stays the state after the last added."""
        self.rows: list[LogRow] = []
        self.postings: list[Posting] = []
        self.state = state
        self.postings_only = postings_only
        self._accounts: set[bytes] = set()
        self._decisions: set[int] = set()
        self._delegations: set[bytes] = set()
        self._invitations: set[bytes] = set()
        self._devices: set[bytes] = set()
        self._shares: set[ShareRow] = set()
        self._rules = False

    def add(self, after: State, event: Event, raw: bytes, hash_: bytes, intent: Intent | None) -> None:
        """Add `event` (its signed bytes `raw`, their hash), which took the state from `self.state`
        to `after`; `intent` is the member intent it carries, decoded, or None."""
        before = self.state
        found = changeset.of_event(before, after, event.body, intent)
        moved = changeset.balances_moved(before, after, found)
        if moved:
            self.postings.append(_new_tuple(Posting, (event.seq, moved)))
        self.state = after
        if self.postings_only:
            return
        self._accounts.update(found.accounts)
        if found.decisions:
            self._decisions.update(found.decisions)
        if found.delegations:
            self._delegations.update(found.delegations)
        if found.invitations:
            self._invitations.update(found.invitations)
        if found.devices:
            self._devices.update(found.devices)
        if found.shares:
            self._shares.update(found.shares)
        if found.rules:
            self._rules = True
        self.rows.append(_new_tuple(LogRow, (event.feed, event.seq, hash_, event.ts, event.body.__struct_config__.tag,
                                             raw)))  # LogRow.of, inline (one an event)

    def batch(self, head: FeedHead) -> AppendBatch:
        """The batch so far, ending at `head` (the head after the last event added)."""
        assert not self.postings_only, "a postings-only builder makes no batch"
        found = Changes(tuple(self._accounts), tuple(self._decisions), tuple(self._delegations), tuple(self._shares),
                        self._rules, tuple(self._invitations), tuple(self._devices))
        return AppendBatch(tuple(self.rows), self.state, head, found, tuple(self.postings))


_Statement = tuple[str, object, bool]  # SQL, its parameters, and whether they are many rows


_balances_encoder = msgspec.msgpack.Encoder()
balances_decoder = msgspec.msgpack.Decoder(list[tuple[bytes, int]])


def _postings_rows(
    feed: bytes, postings: list[Posting], positive_minor: int
) -> tuple[list[tuple], set[tuple[bytes, int]], int]:
    """The `postings` rows of `postings` (in seq order): per event, the credit in circulation after
    it (from `positive_minor` before the first, plus what each change did to the sum of positive
    balances) and its accounts' balances after it; the (account, block) pairs they fall in; and the
    credit in circulation after the last."""
    rows: list[tuple] = []
    blocks: set[tuple[bytes, int]] = set()
    encode = _balances_encoder.encode
    for seq, changes in postings:
        block = seq // posting_block_events
        balances = []
        for account, was, now in changes:
            balances.append((account, now))
            positive_minor += max(0, now) - (max(0, was) if was is not None else 0)
            blocks.add((account, block))
        rows.append((feed, seq, positive_minor, encode(balances)))
    return rows, blocks, positive_minor


_staging_schema = """
CREATE TEMP TABLE IF NOT EXISTS staged_postings (
    feed BLOB NOT NULL, seq INTEGER NOT NULL, positive_minor INTEGER NOT NULL, balances BLOB NOT NULL,
    PRIMARY KEY (feed, seq)
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS staged_posting_blocks (
    feed BLOB NOT NULL, account BLOB NOT NULL, block INTEGER NOT NULL, PRIMARY KEY (feed, account, block)
) WITHOUT ROWID;
"""


def _postings_plan(feed: bytes, rows: list[tuple], blocks: Iterable[tuple[bytes, int]], prefix: str = "") -> list[_Statement]:
    plan: list[_Statement] = []
    if rows:
        plan.append((f"INSERT INTO {prefix}postings (feed, seq, positive_minor, balances) VALUES (?, ?, ?, ?)", rows, True))
    block_rows = [(feed, account, block) for account, block in blocks]
    if block_rows:
        plan.append((f"INSERT OR IGNORE INTO {prefix}posting_blocks (feed, account, block) VALUES (?, ?, ?)",
                     block_rows, True))
    return plan


def _head_row(head: FeedHead) -> tuple:
    return (head.feed, head.seq, head.head, head.ts, head.signing_key, head.recovery_key_hash)


def _run_transaction(connection: sqlite3.Connection, plan: list[_Statement],
                     acknowledge: tuple[AcknowledgedRecord, FeedHead] | None = None) -> None:
    """In the store's thread: every statement of `plan` in one transaction, or none of them; then,
    if `acknowledge` is (the record, own head), the acknowledged-head record, before anyone is told."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        for sql, parameters, many in plan:
            if many:
                connection.executemany(sql, parameters)  # type: ignore[arg-type]
            else:
                connection.execute(sql, parameters)  # type: ignore[arg-type]
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    if acknowledge is not None:
        record, head = acknowledge
        record.write(head)


def _projection_plan(state: State, changes: Changes, head: FeedHead) -> list[_Statement]:
    """The statements that bring the projection rows in `changes` (members and accounts,
    decisions, delegations, shares, the rules) up to `state`, with the community row and the feed's
    head: built here from the immutable state, run in the store's writer thread."""
    feed = state.feed
    plan: list[_Statement] = []
    decisions = state.decisions
    decision_rows = [_decision_row(feed, decisions[i]) for i in changes.decisions if i in decisions]
    if decision_rows:
        plan.append(("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?)", decision_rows, True))
    if changes.shares:
        upserts, deletes = [], []
        for kind, key in changes.shares:
            value = share_record(state, kind, key)
            if value is None:
                deletes.append((feed, kind, _nonce_encoder.encode(key)))
            else:
                upserts.append(_share_row(feed, kind, key, value))
        if deletes:
            plan.append(("DELETE FROM shares WHERE feed = ? AND kind = ? AND key = ?", deletes, True))
        if upserts:
            plan.append(("INSERT OR REPLACE INTO shares VALUES (?, ?, ?, ?, ?, ?, ?)", upserts, True))
    delegators = changes.delegations
    if delegators:
        plan.append(("DELETE FROM delegations WHERE feed = ? AND member = ?", [(feed, m) for m in delegators], True))
        rows = [
            (feed, member, topic, delegate)
            for member in delegators
            for topic, delegate in state.delegations.get(member, Map()).items()
        ]
        plan.append(("INSERT INTO delegations VALUES (?, ?, ?, ?)", rows, True))
    if changes.invitations:
        # An invitation's entry is set, changed (withdrawn) or dropped (used, or expired): each key
        # named is rewritten from the state after the batch.
        plan.append(("DELETE FROM invitations WHERE feed = ? AND key = ?", [(feed, k) for k in changes.invitations], True))
        held = state.invitations
        rows = [(feed, key, _invitation_encoder.encode(held[key])) for key in changes.invitations if key in held]
        if rows:
            plan.append(("INSERT INTO invitations VALUES (?, ?, ?)", rows, True))
    if changes.devices:
        # An account's further keys changed (a key added or removed, a rebind, a recovery): each
        # member named is rewritten from the state after the batch; one key left, no row.
        plan.append(("DELETE FROM member_keys WHERE feed = ? AND member = ?", [(feed, m) for m in changes.devices], True))
        rows = [(feed, member_id, _devices_encoder.encode(list(state.members[member_id].devices)))
                for member_id in changes.devices if state.members[member_id].devices]
        if rows:
            plan.append(("INSERT INTO member_keys VALUES (?, ?, ?)", rows, True))
    rules = state.rules
    if changes.rules:
        plan.append((
            "INSERT OR REPLACE INTO rules VALUES (?, ?, ?, ?, ?, ?, ?)",
            (feed, rules.admission, rules.quorum_bp, rules.threshold_bp,
             *((None, None, None) if state.levy is None else msgspec.structs.astuple(state.levy))),
            False,
        ))
    ids = changes.accounts
    members = [_member_row(feed, i, state.members[i]) for i in ids if i in state.members]  # type: ignore[index]
    accounts = [_account_row(feed, i, state.accounts[i]) for i in ids if i in state.accounts]  # type: ignore[index]
    if members:
        plan.append(("INSERT OR REPLACE INTO members VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", members, True))
    if accounts:
        plan.append(("INSERT OR REPLACE INTO accounts VALUES (?, ?, ?, ?, ?)", accounts, True))
    plan.append(("INSERT OR REPLACE INTO community VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _community_row(state), False))
    plan.append(("INSERT OR REPLACE INTO feeds VALUES (?, ?, ?, ?, ?, ?)", _head_row(head), False))
    return plan


def _open_writer(path: Path) -> sqlite3.Connection:
    """In the writer thread: the writer connection, in WAL with synchronous=FULL, its schema
    checked (SchemaVersionError for another version's) and created if new."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        try:
            row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:
            row = None  # a new database: no meta table yet
        if row is not None and row[0] != schema_version:
            raise SchemaVersionError(
                f"{path} was written by another version of Tallystick (schema {row[0]}, this is "
                f"{schema_version}); restore the home from a peer with `tally restore`, or use the matching version"
            )
        connection.executescript(_schema)
        connection.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (schema_version,))
    except BaseException:
        connection.close()
        raise
    return connection


def _add_fork(connection: sqlite3.Connection, feed: bytes, seq: int, proof: bytes) -> bool:
    known = connection.execute("SELECT 1 FROM forks WHERE feed = ? LIMIT 1", (feed,)).fetchone() is not None
    connection.execute("INSERT OR IGNORE INTO forks (feed, seq, proof) VALUES (?, ?, ?)", (feed, seq, proof))
    return not known


def _fetch_one(connection: sqlite3.Connection, sql: str, parameters: tuple) -> tuple | None:
    return connection.execute(sql, parameters).fetchone()


def _execute(connection: sqlite3.Connection, sql: str, parameters: tuple) -> None:
    connection.execute(sql, parameters)


def _start_staging(connection: sqlite3.Connection) -> None:
    connection.executescript(_staging_schema)
    _run_transaction(connection, [("DELETE FROM staged_postings", (), False),
                                  ("DELETE FROM staged_posting_blocks", (), False)])


Result = TypeVar("Result")


class _Writer:
    """The store's one writer connection and the one thread that owns it: every statement, and
    every whole transaction, runs in that thread. A transaction is one thread hop however many
    rows it writes (~100 µs a hop, so the store pays per batch, not per row: DESIGN.md, Storage),
    and a caller cancelled while it runs can never split it: the thread runs it to COMMIT or
    ROLLBACK either way (one cancelled before it started never runs). Jobs run in the order they
    were handed over."""

    def __init__(self) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tally-store-writer")
        self._connection: sqlite3.Connection | None = None

    async def open(self, path: Path) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._connection = await loop.run_in_executor(self._thread, _open_writer, path)
        except BaseException:
            self._thread.shutdown(wait=False)
            raise

    async def run(self, function: Callable[..., Result], *arguments: object) -> Result:
        """`function(connection, *arguments)` in the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._call, function, arguments)

    def _call(self, function: Callable[..., Result], arguments: tuple) -> Result:
        assert self._connection is not None, "the writer is open"
        return function(self._connection, *arguments)

    async def close(self) -> None:
        if self._connection is not None:
            await self.run(sqlite3.Connection.close)
            self._connection = None
        self._thread.shutdown(wait=False)  # idle now: its thread ends at once


class Store:
    """One node's database. Open with `await Store.open(path)`; close with `await store.close()`."""

    def __init__(self, writer: _Writer, reader: aiosqlite.Connection, path: Path,
                 acknowledging: Acknowledging = "keep") -> None:
        # One connection writes, in its own thread and under `_write_lock` so that transactions never
        # interleave; the other reads, and under WAL it sees only committed data, so no reader ever
        # sees an event that a failing transaction is about to roll back.
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._staging = False  # a rebuild's postings are being staged (`start_staging_postings`)
        # The credit in circulation after each feed's last `postings` row, as committed: the one
        # writer keeps it, so an append adds to it without reading the table (read again after a
        # failed transaction or a rebuild).
        self._positive_minor: dict[bytes, int] = {}
        # Per feed, the newest block of `posting_blocks` and the accounts it holds, as committed.
        self._blocks_written: dict[bytes, tuple[int, frozenset[bytes]]] = {}
        self.path = path
        self._acknowledging = acknowledging
        self._acknowledged: AcknowledgedRecord | None = None  # open once the own feed has a head
        self._own_feed: bytes | None = None  # as in `meta`, kept by `set_meta` and `open`
        # Called after each commit that wrote federation or payment events (own or replicated),
        # with their (feed, seq, bytes): the federation layer keeps its view from them and wakes.
        self.federation_listeners: list[Callable[[list[tuple[bytes, int, bytes]]], None]] = []

    @classmethod
    async def open(cls, path: Path, *, acknowledged: Acknowledging = "keep") -> Store:
        """Open (or create) the database at `path`. With `acknowledged` "keep" or "check", a database
        behind its acknowledged-head record is refused (AcknowledgedLostError) before anything opens
        it for writing, so the refusal leaves its files exactly as they were (see the top)."""
        record = None
        if acknowledged != "off":
            record, own = await asyncio.to_thread(_own_head_read_only, path)
            if own is not None:
                feed, seq, head, held = own
                check_acknowledged(path, record, None if feed is None else (feed, seq), held)
        writer = _Writer()
        await writer.open(path)
        try:
            reader = await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        store = cls(writer, reader, path, acknowledged)
        try:
            await reader.execute("PRAGMA query_only=ON")
            store._own_feed = await store.own_feed()
            head = await store.head(store._own_feed) if store._own_feed is not None else None
            if acknowledged == "keep" and head is not None:
                store._acknowledged = await asyncio.to_thread(AcknowledgedRecord, path, head)
        except BaseException:
            await store.close()
            raise
        return store

    @contextlib.asynccontextmanager
    async def read_snapshot(self) -> AsyncIterator[None]:
        """Every read inside sees one committed state of the database (a WAL read transaction),
        however the writer moves meanwhile: `tally verify` beside a running node needs this."""
        await self._reader.execute("BEGIN")
        try:
            yield
        finally:
            await self._reader.execute("COMMIT")

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()
        if self._acknowledged is not None:
            self._acknowledged.close()
            self._acknowledged = None

    # ---- writing ---------------------------------------------------------------------------------

    async def append_batch(self, batch: AppendBatch) -> None:
        """Append `batch` in one transaction: its rows to the log, the projection rows it changed
        as `batch.state` has them, its postings, and the federation index of its federation and
        payment events; then, for the home's own feed, the acknowledged-head record."""
        async with self._write_lock:
            await self._append(batch)

    async def _append(self, batch: AppendBatch) -> None:
        state, head, events = batch.state, batch.head, batch.rows
        feed = state.feed
        positive_minor = self._positive_minor.get(feed)
        if positive_minor is None:
            positive_minor = await self._last_positive_minor(feed, "postings")
        rows, blocks, positive_after = _postings_rows(feed, batch.postings, positive_minor)
        # Block rows already written need no INSERT OR IGNORE (a lookup each): skip the current
        # block's accounts this store wrote.
        written_block, written = self._blocks_written.get(feed, (-1, frozenset()))
        new_blocks = [(account, block) for account, block in blocks if block != written_block or account not in written]
        plan: list[_Statement] = [
            ("INSERT INTO log (feed, seq, hash, ts, kind, bytes) VALUES (?, ?, ?, ?, ?, ?)", events, True),
            *_projection_plan(state, batch.changes, head),
            *_postings_plan(feed, rows, new_blocks),
        ]
        federation = [(row.feed, row.seq, row.bytes) for row in events if row.kind in federation_log_kinds]
        if federation:
            plan.append(("INSERT INTO federation_log (feed, seq, bytes) VALUES (?, ?, ?)", federation, True))
        keeps_record = self._acknowledging == "keep" and feed == self._own_feed
        acknowledge = (self._acknowledged, head) if keeps_record and self._acknowledged is not None else None
        try:
            await self._writer.run(_run_transaction, plan, acknowledge)
        except BaseException:
            self._positive_minor.pop(feed, None)  # read again from the tables at the next append
            self._blocks_written.pop(feed, None)
            raise
        if keeps_record and self._acknowledged is None:
            # The feed's first events (`tally init`): the record starts with them, after their commit.
            self._acknowledged = await asyncio.to_thread(AcknowledgedRecord, self.path, head)
        self._positive_minor[feed] = positive_after
        if blocks:
            last_block = max(block for _, block in blocks)
            accounts = {account for account, block in blocks if block == last_block}
            if last_block == written_block:
                accounts |= written
            self._blocks_written[feed] = (last_block, frozenset(accounts))
        if federation:
            for listener in self.federation_listeners:
                listener(federation)

    async def _last_positive_minor(self, feed: bytes, table: str) -> int:
        """The sum of positive balances after the feed's last event that changed one (0 before any)."""
        row = await self._writer.run(
            _fetch_one, f"SELECT positive_minor FROM {table} WHERE feed = ? ORDER BY seq DESC LIMIT 1", (feed,)
        )
        return 0 if row is None else int(row[0])

    async def set_meta(self, key: str, value: object) -> None:
        async with self._write_lock:
            await self._writer.run(_execute, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
            if key == "own_feed":
                self._own_feed = bytes(value)  # type: ignore[arg-type]

    async def get_meta(self, key: str) -> object | None:
        async with self._reader.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]

    # ---- reading ---------------------------------------------------------------------------------

    async def read_log(self, feed: bytes, from_seq: int, limit: int) -> list[StoredEvent]:
        limit = min(limit, limits.store_read_batch_events_max)
        async with self._reader.execute(
            "SELECT seq, hash, bytes FROM log WHERE feed = ? AND seq >= ? ORDER BY seq LIMIT ?",
            (feed, from_seq, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [StoredEvent(seq, hash_, raw) for seq, hash_, raw in rows]

    async def iterate_log(self, feed: bytes, from_seq: int = 1) -> AsyncIterator[list[StoredEvent]]:
        """The log of `feed` in batches, for rebuild and verify; memory stays bounded."""
        seq = from_seq
        while True:
            batch = await self.read_log(feed, seq, limits.store_read_batch_events_max)
            if not batch:
                return
            yield batch
            seq = batch[-1].seq + 1

    async def event_at(self, feed: bytes, seq: int) -> bytes | None:
        async with self._reader.execute("SELECT bytes FROM log WHERE feed = ? AND seq = ?", (feed, seq)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else bytes(row[0])

    async def signing_key_at(self, feed: bytes, seq: int) -> bytes | None:
        """The key that signs `feed`'s event at `seq` (by the genesis and the rotations before it)."""
        from tallystick.protocol.codec import decode_event
        from tallystick.protocol.events import Genesis, KeyRotated

        genesis = await self.event_at(feed, 1)
        if genesis is None:
            return None
        body = decode_event(genesis).body
        assert isinstance(body, Genesis)
        key = body.signing_key
        async with self._reader.execute(
            "SELECT bytes FROM log WHERE feed = ? AND kind = 'key_rotated' AND seq < ? ORDER BY seq LIMIT ?",
            (feed, seq, limits.page_size_max),
        ) as cursor:
            for (raw,) in await cursor.fetchall():
                rotated = decode_event(bytes(raw)).body
                assert isinstance(rotated, KeyRotated)
                key = rotated.signing_key
        return key

    async def add_fork(self, feed: bytes, seq: int, proof: bytes) -> bool:
        """Keep a fork proof; True if it is the first one held for this feed."""
        async with self._write_lock:
            return await self._writer.run(_add_fork, feed, seq, proof)

    async def forks(self, limit: int = limits.page_size_max) -> list[tuple[bytes, int, bytes]]:
        async with self._reader.execute("SELECT feed, seq, proof FROM forks ORDER BY feed LIMIT ?", (limit,)) as cursor:
            return [(bytes(f), s, bytes(p)) for f, s, p in await cursor.fetchall()]

    async def log_count(self, feed: bytes) -> int:
        async with self._reader.execute("SELECT count(*) FROM log WHERE feed = ?", (feed,)) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def sealed_events(self, feed: bytes) -> list[bytes]:
        """The signed bytes of `feed`'s events that carry a sealed box (node/personal.py)."""
        async with self._reader.execute(
            "SELECT bytes FROM log WHERE feed = ? AND kind IN ('act_sealed', 'genesis_sealed', 'payment_sent_sealed') "
            "ORDER BY seq", (feed,)
        ) as cursor:
            return [bytes(raw) for (raw,) in await cursor.fetchall()]

    async def own_feed(self) -> bytes | None:
        value = await self.get_meta("own_feed")
        return None if value is None else bytes(value)  # type: ignore[arg-type]

    async def head(self, feed: bytes) -> FeedHead | None:
        async with self._reader.execute(
            "SELECT feed, seq, head, ts, signing_key, recovery_key_hash FROM feeds WHERE feed = ?", (feed,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else FeedHead(*row)

    async def heads(self, limit: int = limits.replication_heads_max) -> list[FeedHead]:
        async with self._reader.execute(
            "SELECT feed, seq, head, ts, signing_key, recovery_key_hash FROM feeds ORDER BY feed LIMIT ?",
            (limit,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [FeedHead(*row) for row in rows]

    async def load_state(self, feed: bytes) -> State | None:
        """The live state, from the projections (not by replaying the log)."""
        async with self._reader.execute("SELECT * FROM community WHERE feed = ?", (feed,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        community = Community(*row[1:7])
        seq, since = row[7], row[8]
        outbox = tuple(_outbox_decoder.decode(row[9]))
        payments_record = _payments_decoder.decode(row[10])
        held: dict[bytes, int] = {}
        for _, pending in payments_record.pending:
            held[pending.payer] = held.get(pending.payer, 0) + pending.amount_minor
        payments = Payments(Map(payments_record.trade), Map(payments_record.pending), Map(payments_record.answered),
                            Map(held), Map(payments_record.capacity))
        members: dict[bytes, Member] = {}
        async with self._reader.execute(
            "SELECT id, name, key, role, active, admitted_seq, nonce_floor, nonces, retired_keys "
            "FROM members WHERE feed = ?",
            (feed,),
        ) as cursor:
            async for member_id, name, key, role, active, admitted, floor, nonces, retired in cursor:
                members[member_id] = Member(
                    _loaded_text(name),
                    key,
                    role,
                    bool(active),
                    admitted,
                    floor,
                    frozenset(_nonce_decoder.decode(nonces)),
                    frozenset(_keys_decoder.decode(retired)),
                )
        async with self._reader.execute("SELECT member, keys FROM member_keys WHERE feed = ?", (feed,)) as cursor:
            async for member_id, devices in cursor:
                members[member_id] = msgspec.structs.replace(
                    members[member_id], devices=tuple(_keys_decoder.decode(devices)))
        accounts: dict[bytes, Account] = {}
        async with self._reader.execute(
            "SELECT id, balance_minor, debit_limit_minor, credit_ceiling_minor FROM accounts WHERE feed = ?", (feed,)
        ) as cursor:
            async for member_id, balance, debit, ceiling in cursor:
                accounts[member_id] = Account(balance, debit, ceiling)
        keys = {
            key: member_id
            for member_id, member in members.items()
            for key in (*member.current_keys, *member.retired_keys)
        }
        names = {_name_key(member.name): member_id for member_id, member in members.items()
                 if member.active and isinstance(member.name, str)}
        decisions: dict[int, Decision] = {}
        async with self._reader.execute("SELECT record FROM decisions WHERE feed = ?", (feed,)) as cursor:
            async for (record,) in cursor:
                decision = _decision_from_record(record)
                decisions[decision.seq] = decision
        delegations: dict[bytes, dict[str, bytes]] = {}
        async with self._reader.execute(
            "SELECT member, topic, delegate FROM delegations WHERE feed = ?", (feed,)
        ) as cursor:
            async for member, topic, delegate in cursor:
                delegations.setdefault(member, {})[topic] = delegate
        async with self._reader.execute(
            "SELECT admission, quorum_bp, threshold_bp, levy_rate_bp, levy_min_minor, levy_max_minor "
            "FROM rules WHERE feed = ?",
            (feed,),
        ) as cursor:
            rules_row = await cursor.fetchone()
        async with self._reader.execute("SELECT ts FROM feeds WHERE feed = ?", (feed,)) as cursor:
            ts_row = await cursor.fetchone()
        invitations: dict[bytes, Invitation] = {}
        async with self._reader.execute("SELECT key, record FROM invitations WHERE feed = ?", (feed,)) as cursor:
            async for key, record in cursor:
                invitations[key] = _invitation_decoder.decode(record)
        tables: dict[str, dict] = {kind: {} for kind in share_kinds}
        async with self._reader.execute("SELECT kind, key, record FROM shares WHERE feed = ?", (feed,)) as cursor:
            async for kind, key, record in cursor:
                tables[kind][share_key(key)] = share_value(kind, record)
        shares = rebuilt_indexes(
            Shares(
                enterprises=Map(tables["enterprise"]),
                holdings=Map(tables["holding"]),
                offers=Map(tables["offer"]),
                orders=Map(tables["order"]),
                withdrawals=Map(tables["withdrawal"]),
                trades=Map(tables["trades"]),
            )
        )
        return State(
            feed,
            seq,
            community,
            Map(members),
            Map(accounts),
            Map(keys),
            Map(names),
            since,
            ts_ms=ts_row[0] if ts_row else 0,
            decisions=Map(decisions),
            open_decisions=Map({s: d.deadline_ms for s, d in decisions.items() if d.is_open}),
            delegations=Map({member: Map(topics) for member, topics in delegations.items()}),
            rules=Rules(*rules_row[:3]) if rules_row else Rules(),
            levy=Levy(*rules_row[3:]) if rules_row and rules_row[3] is not None else None,
            visibility=visibility_in_force(decisions),  # a fold of the passed set_visibility, as in the log
            treasury=next((i for i, m in members.items() if m.role == "treasury"), None),
            shares=shares,
            federation_outbox=outbox,
            payments=payments,
            invitations=Map(invitations),
        )

    async def decision_rows(self, feed: bytes, *, open_only: bool, limit: int = limits.page_size_max) -> list[Decision]:
        """Decisions newest first, from the projection."""
        query = "SELECT record FROM decisions WHERE feed = ? " + ("AND outcome IS NULL " if open_only else "")
        async with self._reader.execute(
            query + "ORDER BY seq DESC LIMIT ?", (feed, min(limit, limits.page_size_max))
        ) as cursor:
            return [_decision_from_record(record) for (record,) in await cursor.fetchall()]

    async def _in_name_order(self, query: str, order: str, params: tuple, limit: int,
                             name_of: Callable[[str | bytes], str] | None) -> list[tuple]:
        """`query`'s rows (the id first, the name column second) in name order, at most `limit`.
        The name column holds a committed name as its digest (`_stored_text`), whose order is not
        the name's: given `name_of` (the node's `Directory.stored`, which opens it), every row of the
        query is read and the first `limit` by the name in clear (case insensitive, then by id) are
        kept in a heap of that size; without it, SQLite's order of the stored values, which is the
        names' only for a log written before names were committed."""
        limit = min(limit, limits.page_size_max)
        if name_of is None:
            async with self._reader.execute(f"{query}ORDER BY {order} COLLATE NOCASE LIMIT ?", (*params, limit)) as cursor:
                return list(await cursor.fetchall())

        def key(row: tuple) -> tuple[str, bytes]:
            return name_of(row[1]).casefold(), bytes(row[0])

        best: list[tuple] = []
        async with self._reader.execute(query, params) as cursor:
            while chunk := await cursor.fetchmany(limits.page_size_max):
                best = heapq.nsmallest(limit, [*best, *chunk], key=key)
        return best

    async def balances(self, feed: bytes, account: bytes | None = None, limit: int = limits.page_size_max,
                       name_of: Callable[[str | bytes], str] | None = None) -> list[tuple]:
        """Each account's balance and limits with its member's name, in name order (`_in_name_order`)."""
        query = (
            "SELECT a.id, m.name, a.balance_minor, a.debit_limit_minor, a.credit_ceiling_minor, m.active "
            "FROM accounts a JOIN members m ON m.feed = a.feed AND m.id = a.id WHERE a.feed = ? "
        )
        params: tuple = (feed,)
        if account is not None:
            query += "AND a.id = ? "
            params = (feed, account)
        return await self._in_name_order(query, "m.name", params, limit, name_of)

    async def fork_count(self) -> int:
        """Fork proofs held (a small table): a reader refolds only when it grew."""
        async with self._reader.execute("SELECT COUNT(*) FROM forks") as cursor:
            row = await cursor.fetchone()
        return row[0] if row else 0

    async def federation_events(self, limit: int) -> list[tuple[bytes, int, bytes]]:
        """(feed, seq, bytes) of every held federation event (charters, proposals, votes, payments)
        of every feed, in (feed, seq) order, at most `limit`: what the federation layer folds. The
        `federation_log` table is an index of the log written in the same transaction, so this
        never scans the whole log."""
        async with self._reader.execute(
            "SELECT feed, seq, bytes FROM federation_log ORDER BY feed, seq LIMIT ?", (limit,)
        ) as cursor:
            return [(feed, seq, bytes(raw)) for feed, seq, raw in await cursor.fetchall()]

    async def query(self, sql: str, params: tuple = (), limit: int = limits.page_size_max) -> list[tuple]:
        """A read-only query on the reader connection (it is `query_only`), at most `limit` rows:
        for views (pages, reports) that need a shape no other method gives."""
        async with self._reader.execute(sql, params) as cursor:
            return list(await cursor.fetchmany(min(limit, limits.page_size_max)))

    async def members(self, feed: bytes, limit: int = limits.page_size_max,
                      name_of: Callable[[str | bytes], str] | None = None) -> list[tuple]:
        """The feed's members in name order (`_in_name_order`)."""
        return await self._in_name_order(
            "SELECT id, name, key, role, active, admitted_seq FROM members WHERE feed = ? ", "name", (feed,), limit,
            name_of)

    # ---- rebuild ---------------------------------------------------------------------------------

    async def start_staging_postings(self) -> None:
        """Empty the staging tables a rebuild fills while it folds (temporary tables of the writer
        connection: nothing of them reaches the database file until `replace_projections`)."""
        async with self._write_lock:
            await self._writer.run(_start_staging)
            self._staging = True

    async def stage_postings(self, feed: bytes, postings: list[Posting]) -> None:
        """Keep a folded batch's postings for `replace_projections`: a rebuild's memory stays bounded
        by a batch, and the live tables stay as they were until its one final transaction."""
        async with self._write_lock:
            assert self._staging, "start_staging_postings first"
            positive_minor = await self._last_positive_minor(feed, "staged_postings")
            rows, blocks, _ = _postings_rows(feed, postings, positive_minor)
            await self._writer.run(_run_transaction, _postings_plan(feed, rows, blocks, "staged_"))

    async def replace_projections(self, state: State, head: FeedHead) -> None:
        """Drop every projection row of this feed and write `state` whole, in one transaction; the
        history tables (postings, posting_blocks) become what was staged since `start_staging_postings`,
        or stay as they are if nothing was started."""
        async with self._write_lock:
            await self._replace_projections(state, head)

    async def _replace_projections(self, state: State, head: FeedHead) -> None:
        staged = self._staging
        plan: list[_Statement] = [
            (f"DELETE FROM {table} WHERE feed = ?", (state.feed,), False)
            for table in projection_tables
            if staged or table not in history_tables
        ]
        if staged:
            plan += [
                ("INSERT INTO postings SELECT * FROM staged_postings WHERE feed = ?", (state.feed,), False),
                ("INSERT INTO posting_blocks SELECT * FROM staged_posting_blocks WHERE feed = ?", (state.feed,), False),
                ("DELETE FROM staged_postings", (), False),
                ("DELETE FROM staged_posting_blocks", (), False),
            ]
        self._positive_minor.pop(state.feed, None)
        self._blocks_written.pop(state.feed, None)
        await self._writer.run(_run_transaction, [*plan, *_projection_plan(state, changeset.of_state(state), head)])
        self._staging = False

    async def projection_snapshot(self) -> dict[str, list[tuple]]:
        """Every projection row, sorted: what a test compares between live and rebuilt."""
        snapshot = {}
        for table in projection_tables:
            async with self._reader.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3") as cursor:
                snapshot[table] = list(await cursor.fetchall())
        return snapshot
