"""The fault matrix over real sockets: every adapter, every fault, behind a Gateway."""

from __future__ import annotations

from smsgate.reliability import ADAPTERS, SCENARIOS, render, run_matrix


def test_every_cell_behaves_as_expected() -> None:
    cells = run_matrix()
    assert len(cells) == len(ADAPTERS) * len(SCENARIOS)
    failures = [f"{c.adapter} / {c.scenario}: {'; '.join(c.problems)}"
                for c in cells if not c.passed]
    assert not failures, "\n".join(failures)
    # Duplicates happen only where the caller opted in, and not even there for SMSGist,
    # which deduplicates by idempotency key.
    doubled = {(c.adapter, c.scenario) for c in cells if sum(map(bool, c.ledger.values())) > 1}
    assert doubled == {(name, "unknown, opt-in failover") for name in ADAPTERS
                       if name != "smsgist"}
    table = render(cells)
    assert table.count("\n") == len(cells) + 1
