"""The peer's ledger in SQLite: accounts, one leafward node, transactions in versions, the hash chain.

Modelled on cc-node's install.sql: a transaction is a row per version (uuid, version, state), its
entries written once; the hash_history of the remote account grows by one hash per version written.
Balances count only `completed` versions that are the latest of their transaction (an `erased`
transaction counts for nothing), as cc-node's TradeStats 'completed' does.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .chain import next_hash

schema = """
CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, min INTEGER NOT NULL, max INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS remote (name TEXT PRIMARY KEY, url TEXT NOT NULL, min INTEGER NOT NULL,
                                   max INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hash_history (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (uuid TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL,
                                         type TEXT NOT NULL, scribe TEXT NOT NULL, written TEXT NOT NULL,
                                         PRIMARY KEY (uuid, version));
CREATE TABLE IF NOT EXISTS entries (uuid TEXT NOT NULL, position INTEGER NOT NULL, payer TEXT NOT NULL,
                                    payee TEXT NOT NULL, quant INTEGER NOT NULL, description TEXT NOT NULL,
                                    metadata TEXT NOT NULL, PRIMARY KEY (uuid, position));
"""

history_points_max = 1000  # the peer is a test's other side: a few dozen transactions at most


@dataclass(frozen=True)
class Entry:
    payer: str  # as stored: a local account name, or the remote's name + '/' + its account
    payee: str
    quant: int
    description: str
    metadata: dict


class Ledger:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(schema)

    def close(self) -> None:
        self.db.close()

    # -- set-up ----------------------------------------------------------------------------------

    def configure(self, accounts: dict[str, tuple[int, int]], remote: tuple[str, str, int, int],
                  graft_hash: str) -> None:
        """First start only: later starts keep what the database holds (a restart loses nothing)."""
        with self.db:
            for name, (low, high) in accounts.items():
                self.db.execute("INSERT OR IGNORE INTO accounts VALUES (?, ?, ?)", (name, low, high))
            self.db.execute("INSERT OR IGNORE INTO remote VALUES (?, ?, ?, ?)", remote)
            if self.db.execute("SELECT COUNT(*) FROM hash_history").fetchone()[0] == 0:
                self.db.execute("INSERT INTO hash_history (hash) VALUES (?)", (graft_hash,))

    # -- reads -----------------------------------------------------------------------------------

    def remote(self) -> tuple[str, str, int, int]:
        return self.db.execute("SELECT name, url, min, max FROM remote LIMIT 1").fetchone()

    def last_hash(self) -> str:
        return self.db.execute("SELECT hash FROM hash_history ORDER BY seq DESC LIMIT 1").fetchone()[0]

    def has_account(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM accounts WHERE name = ? LIMIT 1", (name,)).fetchone() is not None

    def account_names(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT name FROM accounts ORDER BY name LIMIT 1000")]

    def limits(self, name: str) -> tuple[int, int]:
        row = self.db.execute("SELECT min, max FROM accounts WHERE name = ? LIMIT 1", (name,)).fetchone()
        if row is None:
            remote = self.remote()
            return remote[2], remote[3]
        return row

    def latest(self, uuid: str) -> tuple[int, str] | None:
        return self.db.execute("SELECT version, state FROM transactions WHERE uuid = ? ORDER BY version DESC LIMIT 1",
                               (uuid,)).fetchone()

    def entries(self, uuid: str) -> list[Entry]:
        rows = self.db.execute("SELECT payer, payee, quant, description, metadata FROM entries WHERE uuid = ? "
                               "ORDER BY position LIMIT 100", (uuid,))
        return [Entry(payer, payee, quant, description, json.loads(metadata))
                for payer, payee, quant, description, metadata in rows]

    def _counted(self) -> list[tuple[str, str, str, int, str]]:
        """(uuid, payer, payee, quant, written) of every entry of a transaction completed now."""
        return self.db.execute("""
            SELECT t.uuid, e.payer, e.payee, e.quant, t.written FROM transactions t
            JOIN entries e ON e.uuid = t.uuid
            WHERE t.state = 'completed'
              AND t.version = (SELECT MAX(version) FROM transactions u WHERE u.uuid = t.uuid)
            ORDER BY t.written, t.uuid LIMIT 10000""").fetchall()

    def balance(self, account: str) -> int:
        """A local account's balance; the remote's account (its name) sums every entry on the remote."""
        total = 0
        for _, payer, payee, quant, _ in self._counted():
            total += quant if _owner(payee) == account else 0
            total -= quant if _owner(payer) == account else 0
        return total

    def summary(self, account: str) -> dict:
        stats = {"balance": 0, "trades": 0, "entries": 0, "volume": 0, "gross_in": 0, "gross_out": 0, "partners": 0}
        partners: set[str] = set()
        for _, payer, payee, quant, _ in self._counted():
            if _owner(payee) == account:
                stats["gross_in"] += quant
                stats["balance"] += quant
                partners.add(payer)
            elif _owner(payer) == account:
                stats["gross_out"] += quant
                stats["balance"] -= quant
                partners.add(payee)
            else:
                continue
            stats["volume"] += quant
            stats["entries"] += 1
            stats["trades"] += 1
        stats["partners"] = len(partners)
        return stats

    def history(self, account: str) -> dict[str, int]:
        points: dict[str, int] = {}
        balance = 0
        for _, payer, payee, quant, written in self._counted():
            change = (quant if _owner(payee) == account else 0) - (quant if _owner(payer) == account else 0)
            if change:
                balance += change
                points[written[:19]] = balance
        return dict(list(points.items())[-history_points_max:])

    # -- writes ----------------------------------------------------------------------------------

    def write(self, uuid: str, state: str, type_: str, scribe: str, entries: list[Entry] | None) -> str:
        """A new version of `uuid` (the first if `entries` is given), and the chain's next hash."""
        latest = self.latest(uuid)
        version = 1 if latest is None else latest[0] + 1
        written = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}"
        with self.db:
            self.db.execute("INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?)",
                            (uuid, version, state, type_, scribe, written))
            if entries is not None:
                for position, entry in enumerate(entries):
                    self.db.execute("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
                                    (uuid, position, entry.payer, entry.payee, entry.quant, entry.description,
                                     json.dumps(entry.metadata)))
            shared = [(e.quant, e.description) for e in (entries or self.entries(uuid))]
            new = next_hash(self.last_hash(), uuid, state, shared, version)
            self.db.execute("INSERT INTO hash_history (hash) VALUES (?)", (new,))
        return new


def _owner(stored: str) -> str:
    """The account of this ledger a stored party moves: itself, or the remote for 'remote/...'."""
    return stored.split("/", 1)[0]
