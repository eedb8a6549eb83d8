"""SqliteClaimStore across processes: races, a SIGKILLed holder, a crashed and rerun script.

Real processes (spawned, never forked from the test process) on one database file, because the
promise is about processes: threads share a GIL and would hide a missing transaction.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smsgate.stores import ClaimState, SqliteClaimStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

S = ClaimState
KEYS = [f"race-{i}" for i in range(150)]


def _race_worker(path: str, barrier: Any, results: Any, slot: int) -> None:
    store = SqliteClaimStore(path)
    seen: dict[str, tuple[bool, str | None]] = {}
    barrier.wait(timeout=60)
    for key in KEYS:
        won, claim = store.begin(key, lease=300)
        seen[key] = (won, claim.token)
        if won and slot % 2:
            # Half the winners finish at once, so losers also race finished claims.
            store.finish(key, claim.token or "", S.ACCEPTED, payload={"by": slot})
    store.close()
    results.put((slot, seen))


def _collect(procs: list[Any], results: Any, *, deadline: float) -> dict[int, Any]:
    """Every worker's result; a worker that died fails the test at once, not at a timeout."""
    seen: dict[int, Any] = {}
    ends = time.monotonic() + deadline
    while len(seen) < len(procs):
        try:
            slot, result = results.get(timeout=0.5)
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not dead, f"a worker died: exit codes {dead}"
            assert time.monotonic() < ends, "workers did not finish"
            continue
        seen[slot] = result
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return seen


def test_processes_racing_begin_get_exactly_one_winner_per_key(tmp_path: Path) -> None:
    path = str(tmp_path / "claims.db")
    SqliteClaimStore(path).close()  # create the file once, as a deployment would
    ctx = multiprocessing.get_context("spawn")
    workers = 4
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    procs = [ctx.Process(target=_race_worker, args=(path, barrier, results, slot))
             for slot in range(workers)]
    for proc in procs:
        proc.start()
    seen = _collect(procs, results, deadline=240)
    for key in KEYS:
        winners = [slot for slot in seen if seen[slot][key][0]]
        assert len(winners) == 1, (key, winners)
        token = seen[winners[0]][key][1]
        # Every loser saw the winner's claim, not a claim of its own.
        assert {seen[slot][key][1] for slot in seen} == {token}
    with SqliteClaimStore(path) as store:
        accepted = {c.key for c in store.find(S.ACCEPTED)}
        sending = {c.key for c in store.find(S.SENDING)}
    assert accepted | sending == set(KEYS) and not accepted & sending


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


_HOLDER = """
    import sys, time
    from smsgate.stores import SqliteClaimStore
    store = SqliteClaimStore(sys.argv[1])
    won, claim = store.begin("victim", lease=60)
    print("held" if won else "lost", claim.lease_until, flush=True)
    time.sleep(600)
"""


class SetClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_sigkilled_holder_leaves_sending_then_unknown_never_new(tmp_path: Path) -> None:
    path = str(tmp_path / "claims.db")
    proc = _python(_HOLDER, path)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[0] == "held", proc.stderr.read() if proc.stderr else line
        lease_until = float(line[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    clock = SetClock(lease_until - 1)  # inside the dead holder's lease
    with SqliteClaimStore(path, clock=clock) as store:
        claim = store.get("victim")
        assert claim is not None and claim.state is S.SENDING
        won, claim = store.begin("victim", lease=60)
        assert (won, claim.state) == (False, S.SENDING)  # in flight, as far as anyone knows
        clock.now = lease_until  # the lease runs out
        won, claim = store.begin("victim", lease=60)
        assert (won, claim.state) == (False, S.UNKNOWN)
        clock.now = lease_until + 86_400
        assert [c.key for c in store.find(S.UNKNOWN)] == ["victim"]
        assert store.begin("victim", lease=60)[0] is False
        # Reconciliation settles it; only then is the answer final.
        assert store.settle("victim", S.ACCEPTED).state is S.ACCEPTED


_LOCK_HOLDER = """
    import sqlite3, sys, time
    from smsgate.stores import SqliteClaimStore
    SqliteClaimStore(sys.argv[1]).close()
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO smsgate_claims (key, state, created, updated) "
                 "VALUES ('half', 'accepted', 0, 0)")
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_process_killed_inside_a_transaction_neither_wedges_nor_half_writes(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "claims.db")
    proc = _python(_LOCK_HOLDER, path)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        with SqliteClaimStore(path, busy_timeout=0) as store, \
                pytest.raises(sqlite3.OperationalError, match="locked"):
            store.begin("other", lease=5)  # the lock is really held
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    with SqliteClaimStore(path, busy_timeout=30) as store:
        assert store.begin("other", lease=5)[0]
        assert store.get("half") is None  # the dead transaction was rolled back


_SENDER = """
    import json, os, signal, sys, time
    from smsgate.stores import ClaimState, SqliteClaimStore
    db, outbox, count, die_at, offset = sys.argv[1:6]
    store = SqliteClaimStore(db, clock=lambda: time.time() + float(offset))
    summary = {"sent": [], "skipped": {}}
    for i in range(int(count)):
        key = f"msg-{i}"
        won, claim = store.begin(key, lease=30)
        if not won:
            summary["skipped"][key] = claim.state.value
            continue
        with open(outbox, "a") as f:  # the "provider": what went out
            f.write(key + "\\n")
            f.flush()
            os.fsync(f.fileno())
        if i == int(die_at):
            os.kill(os.getpid(), signal.SIGKILL)  # sent, and dead before recording it
        store.finish(key, claim.token, ClaimState.ACCEPTED, provider="toy",
                     payload={"message_id": f"id-{i}"})
        summary["sent"].append(key)
    print(json.dumps(summary))
"""


def _run_sender(db: Path, outbox: Path, *, die_at: int = -1, offset: float = 0.0,
                count: int = 20) -> tuple[int, dict[str, Any]]:
    proc = _python(_SENDER, str(db), str(outbox), str(count), str(die_at), str(offset))
    out, err = proc.communicate(timeout=120)
    return proc.returncode, (json.loads(out) if out.strip() else {"stderr": err})


def test_a_crashed_script_rerun_with_the_same_keys_resends_nothing(tmp_path: Path) -> None:
    db, outbox = tmp_path / "claims.db", tmp_path / "outbox.txt"
    code, _ = _run_sender(db, outbox, die_at=7)
    assert code == -signal.SIGKILL
    assert outbox.read_text().split() == [f"msg-{i}" for i in range(8)]

    # Rerun at once: the 7 recorded ones are accepted, the 8th is still in its holder's lease.
    code, summary = _run_sender(db, outbox)
    assert code == 0, summary
    assert summary["skipped"] == {
        **{f"msg-{i}": "accepted" for i in range(7)}, "msg-7": "sending"}
    assert summary["sent"] == [f"msg-{i}" for i in range(8, 20)]

    # Rerun after the lease: the dead holder's message is unknown, never sent again.
    code, summary = _run_sender(db, outbox, offset=31)
    assert code == 0, summary
    assert summary["sent"] == []
    assert summary["skipped"]["msg-7"] == "unknown"

    lines = outbox.read_text().split()
    assert sorted(lines) == sorted(f"msg-{i}" for i in range(20))  # each exactly once

    # Reconciliation: the provider says msg-7 arrived; from then on it reads accepted.
    with SqliteClaimStore(db) as store:
        assert [c.key for c in store.find(S.UNKNOWN)] == ["msg-7"]
        store.settle("msg-7", S.ACCEPTED, payload={"message_id": "id-7"})
    code, summary = _run_sender(db, outbox, offset=31)
    assert (code, summary["sent"]) == (0, [])
    assert set(summary["skipped"].values()) == {"accepted"}
    assert len(outbox.read_text().split()) == 20


# -- the file itself --------------------------------------------------------------------------


def test_claims_outlive_the_store_object(tmp_path: Path) -> None:
    path = tmp_path / "claims.db"
    with SqliteClaimStore(path) as first:
        _, held = first.begin("k", lease=60)
        first.finish("k", held.token or "", S.ACCEPTED, payload={"n": 1})
    with SqliteClaimStore(path) as second:
        got = second.get("k")
        assert got is not None and got.state is S.ACCEPTED and got.payload == {"n": 1}
        assert second.begin("k", lease=60)[0] is False


def test_the_database_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    path = tmp_path / "claims.db"
    with SqliteClaimStore(path) as store:
        store.begin("k", lease=1)
        with store._use() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


@pytest.mark.parametrize("path", [":memory:", "", "file::memory:?cache=shared"])
def test_in_memory_databases_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="MemoryClaimStore"):
        SqliteClaimStore(path)


@pytest.mark.parametrize("timeout", [-1, float("nan"), "5"])
def test_busy_timeout_is_checked(tmp_path: Path, timeout: object) -> None:
    with pytest.raises(ValueError, match="busy_timeout"):
        SqliteClaimStore(tmp_path / "c.db", busy_timeout=timeout)  # type: ignore[arg-type]


def test_threads_share_one_connection_and_leave_none_behind(tmp_path: Path) -> None:
    with SqliteClaimStore(tmp_path / "c.db") as store:
        with store._use() as mine:
            pass
        seen: list[sqlite3.Connection] = []

        def short_lived(index: int) -> None:
            store.begin(f"k{index}", lease=5)
            with store._use() as conn:
                seen.append(conn)

        threads = [threading.Thread(target=short_lived, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(seen) == 20 and {id(conn) for conn in seen} == {id(mine)}
        assert len(store.find(S.SENDING)) == 20


def test_a_forked_child_opens_its_own_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteClaimStore(tmp_path / "c.db")
    with store._use() as parent:
        pass
    real_pid = os.getpid()
    fake_pid: Callable[[], int] = lambda: real_pid + 1  # noqa: E731
    monkeypatch.setattr("os.getpid", fake_pid)  # as seen from a forked child
    with store._use() as child:
        assert child is not parent
    assert store.begin("k", lease=5)[0]
    store.close()  # closes the child's connection only
    monkeypatch.setattr("os.getpid", lambda: real_pid)
    assert parent.execute("SELECT count(*) FROM smsgate_claims").fetchone()[0] == 1
    parent.close()


def test_a_forked_child_never_closes_the_parents_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteClaimStore(tmp_path / "c.db")
    with store._use() as parent:
        pass
    real_pid = os.getpid()
    monkeypatch.setattr("os.getpid", lambda: real_pid + 1)
    store.close()
    monkeypatch.setattr("os.getpid", lambda: real_pid)
    assert parent.execute("SELECT count(*) FROM smsgate_claims").fetchone()[0] == 0
    parent.close()


def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteClaimStore(tmp_path / "c.db")
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.begin("k", lease=1)


def test_repr_names_the_file_not_its_folder(tmp_path: Path) -> None:
    store = SqliteClaimStore(tmp_path / "claims.db")
    try:
        assert repr(store) == "<SqliteClaimStore 'claims.db'>"
    finally:
        store.close()
