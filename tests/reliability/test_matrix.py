"""The fault matrix over real sockets: every adapter, every fault, behind a Gateway."""

from __future__ import annotations

from smsgate.reliability import ADAPTERS, SCENARIOS, render, run_matrix


def test_every_cell_behaves_as_expected() -> None:
    cells = run_matrix()
    assert len(cells) == sum(s.applies_to(a) for a in ADAPTERS for s in SCENARIOS)
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


def test_a_provider_saying_outcome_unknown_is_neither_retried_nor_failed_over() -> None:
    """SMSOffice.ge's "-100 Temporary delay" (the document says no more): over a real socket,
    behind a gateway with retries and a second provider, one request and no failover."""
    (cell,) = [c for c in run_matrix(("smsoffice.ge",))
               if c.scenario == "provider says: outcome unknown"]
    assert cell.passed, cell.problems
    assert (cell.outcome, cell.may_have_sent) == ("DeliveryUnknown", True)
    assert cell.attempts == {"smsoffice.ge": 1, "memory": 0}
    assert not cell.failover
    assert cell.error is not None and cell.error.code == -100
    assert "status(" in str(cell.error)  # names the reference to settle it by
