"""A bulk script killed with SIGKILL mid-send and run again with the same keys and a
SqliteClaimStore resends nothing that went out (a real subprocess, a real kill, the sandbox).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import smsgate
from smsgate.sandbox import Sandbox
from smsgate.stores import ClaimState, SqliteClaimStore

MESSAGES = 10
CRASH_AT = 5  # sends 0-4 complete; send 5 reaches the provider, then the process dies

# The script under test: one send per line read from stdin ("go"), so the test decides
# when each send starts; each outcome is printed as it happens.
SCRIPT = textwrap.dedent("""
    import sys
    import smsgate
    from smsgate.stores import SqliteClaimStore

    url, db = sys.argv[1], sys.argv[2]
    gateway = smsgate.Gateway([smsgate.from_url(url)], claims=SqliteClaimStore(db),
                              retry=None, claim_lease=1.0)
    for i in range({messages}):
        if sys.stdin.readline().strip() != "go":
            break
        try:
            result = gateway.send(f"+9955551234{{i:02d}}", f"bulk {{i}}",
                                  idempotency_key=f"batch-7-{{i}}")
            print("sent", i, result.message_id, flush=True)
        except smsgate.DeliveryUnknown:
            print("unknown", i, flush=True)
""").format(messages=MESSAGES)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=600) as running:
        yield running


def start(script: Path, url: str, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), url, str(db)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def stop(process: subprocess.Popen[str]) -> None:
    """End a script of this test (by its own process object) and close its pipes."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=20)
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


def step(process: subprocess.Popen[str]) -> str:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    return process.stdout.readline().strip()


def test_a_killed_bulk_script_rerun_with_its_keys_resends_nothing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    name = "smsoffice.ge"
    url = sandbox.provider_url(name, sender="Brand")
    db = tmp_path / "claims.sqlite3"
    script = tmp_path / "bulk.py"
    script.write_text(SCRIPT)

    first = start(script, url, db)
    try:
        lines = [step(first) for _ in range(CRASH_AT)]
        assert [line.split()[:2] for line in lines] == [["sent", str(i)] for i in range(CRASH_AT)]
        # Send CRASH_AT reaches the provider (its ledger has it), the reply never comes...
        sandbox.fault(name, "process_then_hang", times=1, seconds=5)
        assert first.stdin is not None
        first.stdin.write("go\n")
        first.stdin.flush()
        deadline = time.monotonic() + 20
        while len(sandbox.messages(name)) < CRASH_AT + 1:
            assert time.monotonic() < deadline, "the crashing send never reached the sandbox"
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)  # ...and the process dies mid-send
        first.wait(timeout=20)
    finally:
        stop(first)
    assert first.returncode == -signal.SIGKILL
    sandbox.clear_faults()
    requests = sandbox.requests(name)

    second = start(script, url, db)
    try:
        lines = [step(second) for _ in range(MESSAGES)]
        assert second.stdin is not None
        second.stdin.close()
        second.wait(timeout=20)
    finally:
        stop(second)
    outcomes = [line.split()[0] for line in lines]
    # Sends 0-4: their stored results; send 5: unknown (never resent); 6-9: sent now.
    assert outcomes == ["sent"] * CRASH_AT + ["unknown"] + ["sent"] * (MESSAGES - CRASH_AT - 1)
    assert sandbox.requests(name) - requests == MESSAGES - CRASH_AT - 1
    texts = [m.text for m in sandbox.messages(name)]
    assert sorted(texts) == sorted(f"bulk {i}" for i in range(MESSAGES))  # each exactly once

    # The crashed send is settled by asking the provider, and a third run sends nothing.
    store = SqliteClaimStore(db)
    try:
        deadline = time.monotonic() + 10
        while (store.get(f"batch-7-{CRASH_AT}").state  # type: ignore[union-attr]
               is ClaimState.SENDING):
            assert time.monotonic() < deadline
            time.sleep(0.05)  # the dead holder's lease (1 s) runs out: UNKNOWN
        report = smsgate.reconcile(smsgate.from_url(url), store)
        assert [(s.key, s.state) for s in report.settled] == [
            (f"batch-7-{CRASH_AT}", ClaimState.ACCEPTED)]
    finally:
        store.close()
    requests = sandbox.requests(name)
    third = start(script, url, db)
    try:
        lines = [step(third) for _ in range(MESSAGES)]
        assert third.stdin is not None
        third.stdin.close()
        third.wait(timeout=20)
    finally:
        stop(third)
    assert [line.split()[0] for line in lines] == ["sent"] * MESSAGES
    assert sandbox.requests(name) == requests  # every result from the claims
    assert len(sandbox.messages(name)) == MESSAGES
