"""The community's personal data: the data keys, and the texts they open (docs/privacy.md).

How this works: the log holds what members typed only as salted digests, with the texts sealed
beside them under one data key per member (protocol/personal.py). `DataKeys` keeps those keys in
`keys.db` in the home, never in the log and never in `tally backup`'s snapshots, and, when the
operator names one (`key_backup` in config.json), in a second copy on another disk: the backups'
key store. A key is durable in both before any event sealed under it is appended, so nothing
acknowledged is lost. Erasing a member destroys their key in both (SQLite's secure_delete
overwrites the freed bytes; the journal is truncated): their texts stay in the log as boxes no one
can open, and every replica still verifies every byte.

`Directory` is what the node knows in clear: each own-feed digest's text, read from the boxes at
start and learnt from each sealed event it appends. Readers ask it for names, memos and titles
(`text`, `name`) instead of reading the state, which holds only digests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec
from tallystick.ledger.model import Member, State
from tallystick.ledger.names import name_key
from tallystick.protocol.codec import decode_event, decode_intent
from tallystick.protocol.errors import LocalError
from tallystick.protocol.events import (
    Act,
    ActSealed,
    AdmitMember,
    Event,
    GenesisSealed,
    Intent,
    Join,
    Propose,
)
from tallystick.protocol.federation import PaymentOut, PaymentOutSealed
from tallystick.protocol.personal import (
    Committed,
    Opened,
    UnsealError,
    committed_texts,
    digests_of,
    new_data_key,
    text_digest,
    unseal,
)

keys_file = "keys.db"
sealed_kinds = ("act_sealed", "genesis_sealed", "payment_sent_sealed")
# What a reader sees where a text was erased (or its key is missing from this node).
erased_text = "(erased)"

_schema = """
CREATE TABLE IF NOT EXISTS data_keys (
    subject BLOB PRIMARY KEY,
    key BLOB NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
-- The subjects whose key was erased, and when: a copy of a key store put back later (an old disk,
-- an old backup) cannot bring an erased key back, since every open deletes what either copy erased.
CREATE TABLE IF NOT EXISTS erased (
    subject BLOB PRIMARY KEY,
    erased_ms INTEGER NOT NULL
) WITHOUT ROWID;
"""
# Readable by the node's user alone, as the key files are.
key_store_mode = 0o600


class KeyStoreError(LocalError):
    code = "key_store"
    http_status = 503


def _connect(path: Path) -> sqlite3.Connection:
    try:
        if str(path) != ":memory:":  # SQLite's in-memory database (tests): no file to make
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, key_store_mode)
            os.close(descriptor)
            os.chmod(path, key_store_mode)
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # A rollback journal, truncated after each commit, with freed pages overwritten: an erased key
        # leaves no copy in the file, in a -wal beside it, or in a leftover journal.
        connection.execute("PRAGMA secure_delete = ON")
        connection.execute("PRAGMA journal_mode = TRUNCATE")
        connection.execute("PRAGMA synchronous = FULL")
        connection.executescript(_schema)
    except (OSError, sqlite3.Error) as error:
        raise KeyStoreError(
            f"cannot open the key store {path}: {getattr(error, 'strerror', None) or error}; make its folder "
            "exist and be writable by the node (docs/operator.md §5.5)"
        ) from None
    return connection


def _now_ms() -> int:
    return int(time.time() * 1000)


class DataKeys:
    """The members' data keys: `keys.db` in the home, mirrored to the backups' key store."""

    def __init__(self, path: Path, backup: Path | None) -> None:
        self.path = path
        self.backup = backup
        self._connections = [_connect(path)] + ([_connect(backup)] if backup is not None else [])
        self._keys: dict[bytes, bytes] = {}
        try:
            self._reconcile()
        except sqlite3.Error as error:
            self.close()
            raise KeyStoreError(f"cannot read the key store {path} or its backup: {error}; check the disks") from None
        self._lock = asyncio.Lock()

    def _reconcile(self) -> None:
        """Make every copy hold the same keys: what any copy erased is erased from all; a key one
        copy lacks (a restored home, a new backup disk) is copied to it from the other; where the
        two disagree (a write that failed half way, then a retry), the home's copy wins."""
        erased: dict[bytes, int] = {}
        held: dict[bytes, bytes] = {}
        for connection in reversed(self._connections):  # the home's last: its keys win
            for subject, when in connection.execute("SELECT subject, erased_ms FROM erased"):
                erased[bytes(subject)] = when
            for subject, key in connection.execute("SELECT subject, key FROM data_keys"):
                held[bytes(subject)] = bytes(key)
        wanted = {subject: key for subject, key in held.items() if subject not in erased}
        for connection in self._connections:
            has_erased = {bytes(subject) for (subject,) in connection.execute("SELECT subject FROM erased")}
            has = {bytes(subject): bytes(key) for subject, key in connection.execute("SELECT subject, key FROM data_keys")}
            if has == wanted and has_erased == set(erased):
                continue  # nothing to change: the file is not written (a refused start changes nothing)
            connection.execute("BEGIN IMMEDIATE")
            try:
                for subject, when in erased.items():
                    connection.execute("INSERT OR IGNORE INTO erased VALUES (?, ?)", (subject, when))
                    connection.execute("DELETE FROM data_keys WHERE subject = ?", (subject,))
                for subject, key in wanted.items():
                    if has.get(subject) != key:
                        connection.execute("INSERT OR REPLACE INTO data_keys VALUES (?, ?, ?)", (subject, key, _now_ms()))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        self._keys = wanted

    def get(self, subject: bytes) -> bytes | None:
        return self._keys.get(subject)

    def subjects(self) -> frozenset[bytes]:
        return frozenset(self._keys)

    def create_now(self, subject: bytes) -> bytes:
        """The subject's key, made and durable in every copy first if it has none (blocking). A
        write that fails leaves no copy holding a key the others lack."""
        key = self._keys.get(subject)
        if key is not None:
            return key
        key = new_data_key()
        written = []
        try:
            for connection in self._connections:
                connection.execute("INSERT INTO data_keys VALUES (?, ?, ?)", (subject, key, _now_ms()))
                written.append(connection)
        except sqlite3.Error as error:
            for connection in written:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("DELETE FROM data_keys WHERE subject = ?", (subject,))
            raise KeyStoreError(f"cannot write a data key to {self.path} or its backup: {error}; "
                                "nothing was appended (check the disks)") from None
        self._keys[subject] = key
        return key

    async def create(self, subject: bytes) -> bytes:
        if subject in self._keys:
            return self._keys[subject]
        async with self._lock:
            return await asyncio.to_thread(self.create_now, subject)

    async def erase(self, subject: bytes) -> bool:
        """Destroy the subject's key in every copy; False if there was none."""
        async with self._lock:
            return await asyncio.to_thread(self._erase, subject)

    def _erase(self, subject: bytes) -> bool:
        """The tombstone and the deletion in one transaction in each copy, the backup first. A copy
        that fails is named in the error; the next open finishes the erasure from the tombstone."""
        had = self._keys.pop(subject, None) is not None
        failed = []
        for connection in reversed(self._connections):
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("INSERT OR IGNORE INTO erased VALUES (?, ?)", (subject, _now_ms()))
                connection.execute("DELETE FROM data_keys WHERE subject = ?", (subject,))
                connection.execute("COMMIT")
                connection.execute("VACUUM")
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                failed.append(str(error))
        if failed:
            raise KeyStoreError(
                f"the key was erased from memory but not from every key store ({'; '.join(failed)}); fix the disk "
                "and run the erasure again (the node finishes it when it next starts, from the other copy)"
            )
        return had

    def close(self) -> None:
        for connection in self._connections:
            connection.close()


@functools.lru_cache(maxsize=65_536)
def folded_key(name: str) -> str:
    """`name_key` of the name case-folded first: one per member, so cached."""
    return name_key(name.casefold())


def read_data_keys(path: Path) -> dict[bytes, bytes]:
    """The keys a key store holds, read without writing (for `tally verify`); {} if there is none."""
    if not path.exists():
        return {}
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {bytes(subject): bytes(key) for subject, key in connection.execute("SELECT subject, key FROM data_keys")}
    except sqlite3.Error:
        return {}
    finally:
        connection.close()


class TextsReport(msgspec.Struct):
    """The own feed's sealed boxes: how many open, how many are erased (no key held), and the seqs
    of any that do not open under the key held or do not hold every text their event commits to."""

    boxes: int = 0
    opened: int = 0
    erased: int = 0
    broken: list[int] = msgspec.field(default_factory=list)


def check_boxes(keys: dict[bytes, bytes], events: Iterable[bytes]) -> TextsReport:
    report = TextsReport()
    for raw in events:
        event = decode_event(raw)
        body = event.body
        if not isinstance(body, ActSealed | GenesisSealed | PaymentOutSealed):
            continue
        report.boxes += 1
        key = keys.get(body.subject)
        if key is None:
            report.erased += 1
            continue
        try:
            opened = digests_of(unseal(key, body.box))
        except UnsealError:
            report.broken.append(event.seq)
            continue
        if isinstance(body, Act | PaymentOut):
            committed = committed_texts(decode_intent(body.intent).action)
        else:
            committed = [body.admin_name] if isinstance(body.admin_name, Committed) else []
        if all(text.digest in opened for text in committed):
            report.opened += 1
        else:
            report.broken.append(event.seq)
    return report


def subject_of(state: State, intent: Intent) -> bytes:
    """Whom an intent's personal texts are about: the admitted member for an admission (direct,
    or as a proposal's effect) and for a join, the signer otherwise."""
    action = intent.action
    if isinstance(action, Propose) and isinstance(action.effect, AdmitMember):
        return action.effect.member
    if isinstance(action, AdmitMember | Join):  # a join's signer is an invitation, not the member
        return action.member
    return state.keys.get(intent.key, intent.key)


class Directory:
    """The texts this node can open, by digest, and whose they are."""

    def __init__(self, keys: DataKeys) -> None:
        self.keys = keys
        self._texts: dict[bytes, str] = {}
        self._by_subject: dict[bytes, set[bytes]] = {}
        # Active members' opened names by name key, for the members map it was built from.
        self._indexed: object = None
        self._index: dict[str, bytes] = {}

    def learn(self, subject: bytes, texts: Iterable[tuple[bytes, str]]) -> None:
        self._indexed = None
        digests = self._by_subject.setdefault(subject, set())
        for digest, text in texts:
            self._texts[digest] = text
            digests.add(digest)

    def learn_opened(self, subject: bytes, opened: Iterable[Opened]) -> None:
        self.learn(subject, ((text_digest(o.salt, o.text), o.text) for o in opened))

    def learn_event(self, event: Event) -> None:
        """Open the box of one of this node's own sealed events, if its key is still here."""
        body = event.body
        if not isinstance(body, ActSealed | GenesisSealed | PaymentOutSealed):
            return
        key = self.keys.get(body.subject)
        if key is None:
            return  # erased
        try:
            self.learn(body.subject, digests_of(unseal(key, body.box)).items())
        except UnsealError:
            return  # not sealed under this key: shown as erased; `tally verify` reports the log

    def learn_rows(self, rows: Iterable[bytes]) -> None:
        for raw in rows:
            self.learn_event(decode_event(raw))

    def texts_of(self, subject: bytes) -> list[str]:
        """Every text this node can open about `subject` (their export)."""
        return [self._texts[digest] for digest in self._by_subject.get(subject, ()) if digest in self._texts]

    async def erase(self, subject: bytes) -> bool:
        """Destroy the subject's data key everywhere and forget what it opened; whether a key was held."""
        erased = await self.keys.erase(subject)
        self.forget(subject)
        return erased

    def forget(self, subject: bytes) -> None:
        self._indexed = None
        for digest in self._by_subject.pop(subject, set()):
            self._texts.pop(digest, None)

    def text(self, value: str | Committed) -> str | None:
        """A text in clear: as the log had it, or opened here; None if erased or never held."""
        if isinstance(value, str):
            return value
        return self._texts.get(value.digest)

    def shown(self, value: str | Committed) -> str:
        text = self.text(value)
        return erased_text if text is None else text

    def stored(self, value: str | bytes) -> str:
        """A name or title as a projection row holds it (node/store.py: the text, or the committed
        text's digest as a BLOB), in clear."""
        return value if isinstance(value, str) else self.shown(Committed(digest=bytes(value)))

    def name(self, member: Member) -> str:
        return self.shown(member.name)

    def _opened_names(self, state: State) -> dict[str, bytes]:
        if self._indexed is not state.members:
            index = {}
            for member_id, member in state.members.items():
                if member.active and isinstance(member.name, Committed):
                    text = self._texts.get(member.name.digest)
                    if text is not None:
                        index[name_key(text)] = member_id
            self._indexed, self._index = state.members, index
        return self._index

    def names(self, state: State) -> dict[str, bytes]:
        """Every active member's and enterprise's name key, clear or opened here, to its id: the
        node's own check that no two look alike (docs/protocol.md §19.4)."""
        return {**dict(state.names.items()), **self._opened_names(state)}

    def looks_taken(self, state: State, name: str, also: dict[str, bytes] | None = None) -> bool:
        """Whether `name` looks like an active member's or enterprise's name, each compared
        case-folded before its look-alike key (node-local; protocol.md §19.4)."""
        wanted = folded_key(name)
        if also and wanted in also:
            return True
        for member in state.members.values():
            if member.active:
                text = self.text(member.name)
                if text is not None and folded_key(text) == wanted:
                    return True
        return False

    def find(self, state: State, name: str) -> bytes | None:
        """An active member or enterprise by name (case and spacing insensitive), as `find_member`
        finds one, committed names included."""
        key = name_key(name)
        found = state.names.get(key)
        return found if found is not None else self._opened_names(state).get(key)

    def held_bytes(self) -> int:
        return sum(len(text) for text in self._texts.values())
