"""A claim store in one SQLite file: safe for many threads and processes on one host.

Why these choices:

* **Every transition is one ``BEGIN IMMEDIATE`` transaction** that reads the claim, applies
  the shared rule (:mod:`smsgate.stores._claims`) and writes it back. ``IMMEDIATE`` takes
  SQLite's write lock *before* the read, so two processes can never both read "free" and
  both write "mine": the second waits (up to ``busy_timeout``) and then reads the first's
  claim. A deferred transaction would read first and fail or race at the write.
* **WAL journal**: readers never block the writer and a writer never blocks readers, so a
  ``get`` from a dashboard does not stall senders.
* **``synchronous=FULL``**: a SENDING claim must be on disk *before* the request goes out.
  If a power cut lost it, the rerun would see the key as new and send it again. FULL costs
  an fsync per transition; an SMS request costs far more.
* **One connection per process, used under a lock**: SQLite serialises writers anyway, so
  a connection per thread would buy nothing but connections left open by threads that come
  and go. A connection is never used across ``fork``: a Celery prefork worker that inherits
  the parent's store opens its own on first use.
* **The clock is read inside the transaction**, after the lock is held, so transitions are
  ordered in time as they are in the file.

A store on a network file system is not safe (SQLite's locks are not); one host only. For a
fleet across hosts, use the Redis store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._claims import (
    PURGEABLE_STATES,
    Claim,
    ClaimState,
    RuleTransitions,
    begin_rule,
    check_age,
    check_key,
    check_lease,
    encode_payload,
    expire,
    new_token,
)

__all__ = ["SqliteClaimStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS smsgate_claims (
    key TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    token TEXT,
    lease_until REAL,
    provider TEXT,
    payload TEXT,
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS smsgate_claims_state ON smsgate_claims (state, updated)"
# Whole statements as constants (never built from values: every value is a parameter).
_SELECT_KEY = (
    "SELECT key, state, token, lease_until, provider, payload, error, created, updated "
    "FROM smsgate_claims WHERE key = ?"
)
_SELECT_STATE = (
    "SELECT key, state, token, lease_until, provider, payload, error, created, updated "
    "FROM smsgate_claims WHERE state = ? ORDER BY created, key"
)
_SELECT_LIVE = (
    "SELECT key, state, token, lease_until, provider, payload, error, created, updated "
    "FROM smsgate_claims WHERE state = ? AND lease_until > ? ORDER BY created, key"
)
_UPSERT = (
    "INSERT OR REPLACE INTO smsgate_claims "
    "(key, state, token, lease_until, provider, payload, error, created, updated) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _row_claim(row: tuple[Any, ...]) -> Claim:
    key, state, token, lease_until, provider, payload, error, created, updated = row
    return Claim(
        key=key,
        state=ClaimState(state),
        token=token,
        lease_until=lease_until,
        provider=provider,
        payload=None if payload is None else json.loads(payload),
        error=error,
        created=created,
        updated=updated,
    )


def _claim_row(claim: Claim) -> tuple[Any, ...]:
    return (
        claim.key,
        claim.state.value,
        claim.token,
        claim.lease_until,
        claim.provider,
        None if claim.payload is None else encode_payload(claim.payload),
        claim.error,
        claim.created,
        claim.updated,
    )


class SqliteClaimStore(RuleTransitions):
    """Claims in an SQLite file, shared by every thread and process on this host.

    Args:
        path: the database file (created with its table when missing). ``":memory:"`` is
            refused: each connection would see its own empty database; use
            :class:`~smsgate.stores.MemoryClaimStore` for that.
        clock: wall-clock epoch seconds. Leases are compared across processes, so all of
            them must use the same wall clock (injectable for tests).
        busy_timeout: seconds a transition waits for another process's write lock before
            ``sqlite3.OperationalError`` ("database is locked") is raised.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
    ) -> None:
        path = os.fspath(path)
        if not path or path == ":memory:" or path.startswith("file:"):
            raise ValueError("SqliteClaimStore needs a file path; use MemoryClaimStore for "
                             "claims that live in memory")
        if (
            isinstance(busy_timeout, bool)
            or not isinstance(busy_timeout, (int, float))
            or not math.isfinite(busy_timeout)
            or busy_timeout < 0
        ):
            raise ValueError("busy_timeout must be a finite number of seconds >= 0")
        self._path = path
        self._clock = clock
        self._busy_timeout = float(busy_timeout)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        # Create the file, switch it to WAL and create the table now, so that a bad path
        # fails at construction rather than at the first send.
        with self._use():
            pass

    def __repr__(self) -> str:
        return f"<SqliteClaimStore {os.path.basename(self._path)!r}>"

    @property
    def path(self) -> str:
        return self._path

    # -- the connection ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """This process's connection, held under the store's lock for one operation."""
        if self._pid != os.getpid():
            # Forked (a Celery prefork worker, say): the child starts single-threaded, so it
            # may replace the lock (a parent thread may have held it at the fork) and must
            # not use, nor close, the parent's connection: it opens its own.
            self._lock = threading.Lock()
            self._pid = os.getpid()
            self._conn = None
        with self._lock:
            if self._closed:
                raise RuntimeError("this SqliteClaimStore is closed")
            if self._conn is None:
                self._conn = self._open()
            yield self._conn

    def _open(self) -> sqlite3.Connection:
        # check_same_thread=False: the store's lock, not the thread, guards the connection.
        conn = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise sqlite3.OperationalError(
                    f"SqliteClaimStore could not switch the database to WAL (got {mode!r})"
                )
            conn.execute("PRAGMA synchronous = FULL")
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                  "AND name = 'smsgate_claims'").fetchone()
            if exists is None:  # only the first opener needs the write lock for this
                with _immediate(conn):
                    conn.execute(_SCHEMA)
                    conn.execute(_INDEX)
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        """Close this process's connection; the file (and every claim) stays."""
        if self._pid != os.getpid():
            self._closed = True  # a forked child never closes its parent's connection
            return
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def __enter__(self) -> SqliteClaimStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _read(conn: sqlite3.Connection, key: str) -> Claim | None:
        row = conn.execute(_SELECT_KEY, (key,)).fetchone()
        return None if row is None else _row_claim(row)

    @staticmethod
    def _write(conn: sqlite3.Connection, claim: Claim) -> None:
        conn.execute(_UPSERT, _claim_row(claim))

    def _transition(
        self, key: str, rule: Callable[[Claim | None, float], Claim], *, expire_first: bool
    ) -> Claim:
        # ``expire_first`` needs nothing here: the rules expire a lease themselves, and a
        # rule that refuses rolls the whole transaction back.
        del expire_first
        with self._use() as conn, _immediate(conn):
            current = self._read(conn, key)
            claim = rule(current, self._clock())
            if claim != current:
                self._write(conn, claim)
        return claim

    # -- the ClaimStore protocol -------------------------------------------------------------
    def begin(
        self, key: str, *, lease: float, payload: Mapping[str, Any] | None = None
    ) -> tuple[bool, Claim]:
        key, lease = check_key(key), check_lease(lease)
        if payload is not None:
            encode_payload(payload)  # refuse a bad payload before taking the write lock
        token = new_token()
        with self._use() as conn, _immediate(conn):
            now = self._clock()
            current = self._read(conn, key)
            won, claim = begin_rule(current, key, lease=lease, now=now, token=token,
                                    payload=payload)
            if claim != current:
                self._write(conn, claim)
        return won, claim

    def get(self, key: str) -> Claim | None:
        key = check_key(key)
        with self._use() as conn:
            claim = self._read(conn, key)  # a plain read: no write lock in the common case
            if claim is None or not claim.expired(self._clock()):
                return claim
            # Its lease ran out: store it as UNKNOWN, under the write lock and re-read (the
            # holder, in another process, may have finished in between).
            with _immediate(conn):
                now = self._clock()
                current = self._read(conn, key)
                if current is not None and current.expired(now):
                    current = expire(current, now)
                    self._write(conn, current)
            return current

    def find(self, state: ClaimState) -> list[Claim]:
        state = ClaimState(state)
        with self._use() as conn:
            with _immediate(conn):
                # First store every SENDING claim whose lease has run out as UNKNOWN.
                now = self._clock()
                conn.execute(
                    "UPDATE smsgate_claims SET state = ?, updated = ? "
                    "WHERE state = ? AND lease_until <= ?",
                    (ClaimState.UNKNOWN.value, now, ClaimState.SENDING.value, now),
                )
            if state is ClaimState.SENDING:
                # Re-filter: a lease may have run out since the update.
                rows = conn.execute(_SELECT_LIVE, (state.value, self._clock())).fetchall()
            else:
                rows = conn.execute(_SELECT_STATE, (state.value,)).fetchall()
        return [_row_claim(row) for row in rows]

    def purge(self, older_than: float | dt.timedelta) -> int:
        age = check_age(older_than)
        states = sorted(s.value for s in PURGEABLE_STATES)
        with self._use() as conn, _immediate(conn):
            cutoff = self._clock() - age
            cursor = conn.execute(
                "DELETE FROM smsgate_claims WHERE updated < ? AND state IN (?, ?, ?)",
                (cutoff, *states))
        return cursor.rowcount


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` transaction: the write lock is taken before anything is read."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
