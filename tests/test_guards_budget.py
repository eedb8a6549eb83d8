"""A spending limit shared by four processes on one SQLite file (issue 19 acceptance): together
they never spend more than the limit plus one message's price."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from smsgate.guards import MemoryBudgetStore, SqliteBudgetStore

PRICE = Decimal("0.03")
LIMIT = Decimal("1.00")
WORKER = textwrap.dedent("""
    import glob, pathlib, sys, time
    import smsgate
    from smsgate.guards import SqliteBudgetStore
    from smsgate.testing import MemoryProvider

    path, worker = sys.argv[1], int(sys.argv[2])
    store = SqliteBudgetStore(path)
    policy = smsgate.SendPolicy(
        spend_limits=[smsgate.SpendLimit("1.00", "EUR", per="total", name="launch",
                                         store=store)],
        prices=smsgate.PriceTable.from_dict({"memory": {"*": "0.03 EUR"}}))
    gateway = smsgate.Gateway([MemoryProvider(balance=10_000)], policy=policy)
    pathlib.Path(f"{path}.ready{worker}").touch()
    while len(glob.glob(f"{path}.ready*")) < 4:  # every worker starts together
        time.sleep(0.002)
    sent = refused = 0
    for index in range(30):
        try:
            result = gateway.send(f"+995555{worker}{index:05d}", "Launch day: 20% off")
        except smsgate.BudgetExceeded:
            refused += 1
        else:
            sent += result.ok
    print(sent, refused)
""")


def test_four_processes_never_overspend_a_shared_limit(tmp_path: Path) -> None:
    path = tmp_path / "budget.db"
    SqliteBudgetStore(path).close()  # the table exists before the race
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(n)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for n in range(4)]
    outputs = [w.communicate(timeout=120) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    counts = [tuple(map(int, out.split())) for out, _ in outputs]
    sent = sum(s for s, _ in counts)
    refused = sum(r for _, r in counts)
    spent = SqliteBudgetStore(path).spent("launch:total")
    print(f"budget: sent={sent} refused={refused} spent={spent} per worker={counts}")
    assert sent + refused == 120
    assert sent * PRICE <= LIMIT + PRICE  # the acceptance bound
    assert sent * PRICE <= LIMIT  # what an atomic reservation gives: no overspend at all
    assert sent == int(LIMIT / PRICE)  # and the whole budget is used
    assert spent == sent * PRICE
    assert sum(1 for s, _ in counts if s) >= 2  # the processes really raced


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_reservations_are_atomic_across_threads(kind: str, tmp_path: Path) -> None:
    store = MemoryBudgetStore() if kind == "memory" else SqliteBudgetStore(tmp_path / "b.db")
    won: list[bool] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(25):
            ok = store.reserve("k", PRICE, LIMIT)
            with lock:
                won.append(ok)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert won.count(True) == 33 and store.spent("k") == Decimal("0.99")
    store.release("k", PRICE)
    assert store.spent("k") == Decimal("0.96")
    with pytest.raises(ValueError, match="amounts"):
        store.reserve("k", Decimal("-1"), LIMIT)
