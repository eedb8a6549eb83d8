"""The state a send policy keeps: spending reserved against a limit, and opted-out numbers.

Why a budget is *reserved*, not counted after the fact. Processes that each read "spent so
far" and then send would all see room for the last message and all send it: the overspend
grows with the number of senders. A reservation is one atomic step (read, compare, add) in
the store, so at most the limit is ever reserved, across threads and processes; a send that
then provably sent nothing gives its reservation back (:meth:`BudgetStore.release`). A
reservation is never given back for a send that may have gone out.

Amounts are :class:`~decimal.Decimal` in memory and decimal strings on disk: money is never a
float here.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Protocol, runtime_checkable

from .phone import normalize_phone

__all__ = [
    "BudgetStore",
    "MemoryBudgetStore",
    "MemorySuppressionList",
    "SqliteBudgetStore",
    "SqliteSuppressionList",
    "SuppressionList",
]


@runtime_checkable
class BudgetStore(Protocol):
    """Spending per budget key (``"default:2026-11-25"``), reserved atomically."""

    def reserve(self, key: str, amount: Decimal, limit: Decimal) -> bool:
        """Add ``amount`` to ``key``'s spending if the total stays within ``limit``, in one
        atomic step; ``False`` (and nothing added) if it would not."""
        ...

    def release(self, key: str, amount: Decimal) -> None:
        """Give back ``amount`` reserved under ``key`` (a send that provably sent nothing)."""
        ...

    def spent(self, key: str) -> Decimal:
        """What is reserved under ``key`` now."""
        ...


@runtime_checkable
class SuppressionList(Protocol):
    """Numbers (E.164) that must never receive a message: opted out, complained, bounced."""

    def suppressed(self, numbers: Iterable[str]) -> frozenset[str]:
        """The ones of ``numbers`` on the list (one look-up for a whole send)."""
        ...

    def add(self, number: str) -> None:
        ...

    def remove(self, number: str) -> None:
        ...


def _check_amount(amount: object) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise ValueError("amounts are finite, non-negative Decimal values")
    return amount


class MemoryBudgetStore:
    """Spending in this process's memory (one process; tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent: dict[str, Decimal] = {}

    def __repr__(self) -> str:
        return f"<MemoryBudgetStore keys={len(self._spent)}>"

    def reserve(self, key: str, amount: Decimal, limit: Decimal) -> bool:
        _check_amount(amount)
        with self._lock:
            total = self._spent.get(key, Decimal(0)) + amount
            if total > limit:
                return False
            self._spent[key] = total
            return True

    def release(self, key: str, amount: Decimal) -> None:
        _check_amount(amount)
        with self._lock:
            self._spent[key] = max(Decimal(0), self._spent.get(key, Decimal(0)) - amount)

    def spent(self, key: str) -> Decimal:
        with self._lock:
            return self._spent.get(key, Decimal(0))


class MemorySuppressionList:
    """Opted-out numbers in this process's memory."""

    def __init__(self, numbers: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._numbers = {normalize_phone(n) for n in numbers}

    def __repr__(self) -> str:
        return f"<MemorySuppressionList numbers={len(self._numbers)}>"

    def suppressed(self, numbers: Iterable[str]) -> frozenset[str]:
        with self._lock:
            return frozenset(n for n in numbers if n in self._numbers)

    def add(self, number: str) -> None:
        """Suppress ``number`` (any form :func:`smsgate.normalize_phone` reads)."""
        e164 = normalize_phone(number)
        with self._lock:
            self._numbers.add(e164)

    def remove(self, number: str) -> None:
        e164 = normalize_phone(number)
        with self._lock:
            self._numbers.discard(e164)


class _SqliteFile:
    """One connection per process to one SQLite file, used under a lock (as
    :class:`~smsgate.stores.SqliteClaimStore` does, for the same reasons: WAL, a write lock
    taken before the read, a fresh connection after ``fork``)."""

    def __init__(self, path: str | os.PathLike[str], schema: str, busy_timeout: float) -> None:
        path = os.fspath(path)
        if not path or path == ":memory:" or path.startswith("file:"):
            raise ValueError(f"{type(self).__name__} needs a file path; use the memory store "
                             "for state that lives in memory")
        self._path = path
        self._schema = schema
        self._busy_timeout = float(busy_timeout)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._conn: sqlite3.Connection | None = None
        with self._use():
            pass

    @contextlib.contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        if self._pid != os.getpid():
            self._lock = threading.Lock()
            self._pid = os.getpid()
            self._conn = None
        with self._lock:
            if self._conn is None:
                conn = sqlite3.connect(self._path, timeout=self._busy_timeout,
                                       isolation_level=None, check_same_thread=False)
                try:
                    conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute("PRAGMA synchronous = FULL")
                    with _immediate(conn):
                        conn.execute(self._schema)
                except BaseException:
                    conn.close()
                    raise
                self._conn = conn
            yield self._conn

    def close(self) -> None:
        """Close this process's connection; the file stays."""
        if self._pid != os.getpid():
            return
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteBudgetStore(_SqliteFile):
    """Spending in an SQLite file, shared by every thread and process on this host.

    Each reservation is one ``BEGIN IMMEDIATE`` transaction (read, compare, write under the
    write lock), so processes sharing the file never reserve more than the limit together.

    Args:
        path: the database file (created with its table when missing).
        busy_timeout: seconds to wait for another process's write lock.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        super().__init__(path, "CREATE TABLE IF NOT EXISTS smsgate_budget ("
                         "key TEXT PRIMARY KEY NOT NULL, spent TEXT NOT NULL)", busy_timeout)

    def __repr__(self) -> str:
        return f"<SqliteBudgetStore {os.path.basename(self._path)!r}>"

    def reserve(self, key: str, amount: Decimal, limit: Decimal) -> bool:
        _check_amount(amount)
        with self._use() as conn, _immediate(conn):
            row = conn.execute("SELECT spent FROM smsgate_budget WHERE key = ?",
                               (key,)).fetchone()
            total = (Decimal(row[0]) if row else Decimal(0)) + amount
            if total > limit:
                return False
            conn.execute("INSERT OR REPLACE INTO smsgate_budget (key, spent) VALUES (?, ?)",
                         (key, str(total)))
            return True

    def release(self, key: str, amount: Decimal) -> None:
        _check_amount(amount)
        with self._use() as conn, _immediate(conn):
            row = conn.execute("SELECT spent FROM smsgate_budget WHERE key = ?",
                               (key,)).fetchone()
            total = max(Decimal(0), (Decimal(row[0]) if row else Decimal(0)) - amount)
            conn.execute("INSERT OR REPLACE INTO smsgate_budget (key, spent) VALUES (?, ?)",
                         (key, str(total)))

    def spent(self, key: str) -> Decimal:
        with self._use() as conn:
            row = conn.execute("SELECT spent FROM smsgate_budget WHERE key = ?",
                               (key,)).fetchone()
        return Decimal(row[0]) if row else Decimal(0)


class SqliteSuppressionList(_SqliteFile):
    """Opted-out numbers in an SQLite file, shared by the processes of one host."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        super().__init__(path, "CREATE TABLE IF NOT EXISTS smsgate_suppressed ("
                         "number TEXT PRIMARY KEY NOT NULL)", busy_timeout)

    def __repr__(self) -> str:
        return f"<SqliteSuppressionList {os.path.basename(self._path)!r}>"

    def suppressed(self, numbers: Iterable[str]) -> frozenset[str]:
        found: set[str] = set()
        with self._use() as conn:
            for number in dict.fromkeys(numbers):  # one indexed look-up each, in-process
                if conn.execute("SELECT 1 FROM smsgate_suppressed WHERE number = ?",
                                (number,)).fetchone() is not None:
                    found.add(number)
        return frozenset(found)

    def add(self, number: str) -> None:
        """Suppress ``number`` (any form :func:`smsgate.normalize_phone` reads)."""
        e164 = normalize_phone(number)
        with self._use() as conn, _immediate(conn):
            conn.execute("INSERT OR IGNORE INTO smsgate_suppressed (number) VALUES (?)",
                         (e164,))

    def remove(self, number: str) -> None:
        e164 = normalize_phone(number)
        with self._use() as conn, _immediate(conn):
            conn.execute("DELETE FROM smsgate_suppressed WHERE number = ?", (e164,))
