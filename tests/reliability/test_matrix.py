"""The fault matrix over real sockets: every adapter, every fault, behind a Gateway."""

from __future__ import annotations

import attrs
import pytest

from smsgate.registry import provider_class
from smsgate.sandbox.reliability import ADAPTERS, SCENARIOS, render, run_matrix


def test_every_cell_behaves_as_expected() -> None:
    cells = run_matrix()
    assert len(cells) == sum(s.applies_to(a) for a in ADAPTERS for s in SCENARIOS)
    failures = [f"{c.adapter} / {c.scenario}: {'; '.join(c.problems)}"
                for c in cells if not c.passed]
    assert not failures, "\n".join(failures)
    # Duplicates happen only where the caller opted in, and not even there for a provider
    # that deduplicates by idempotency key (SMSGist).
    doubled = {(c.adapter, c.scenario) for c in cells if sum(map(bool, c.ledger.values())) > 1}
    assert doubled == {(name, "unknown, opt-in failover") for name in ADAPTERS
                       if "idempotency" not in provider_class(name).capabilities}
    assert doubled and any("idempotency" in provider_class(n).capabilities for n in ADAPTERS)
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


def _expected(name: str) -> dict[str, str]:
    return {s.name: s.expect(name) for s in SCENARIOS if s.applies_to(name)}


def test_expectations_come_from_declarations_not_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Declaring idempotency, an 'outcome unknown' row or no recipient-rejected row changes
    what the matrix expects of a provider, whatever its name."""
    from smsgate.errors import DeliveryUnknown
    from smsgate.providers.gosms_ro import GoSmsRo

    before = _expected("gosms.ro")
    assert before["processed, then reset"] == "DeliveryUnknown"
    assert before["invalid recipient"] == "RecipientRejected"
    assert "provider says: outcome unknown" not in before
    monkeypatch.setattr(GoSmsRo, "capabilities", GoSmsRo.capabilities | {"idempotency"})
    some_row = next(iter(GoSmsRo.error_table.values()))
    monkeypatch.setattr(GoSmsRo, "error_table", {
        "LATER": attrs.evolve(some_row, error=DeliveryUnknown, outcome="unknown")})
    after = _expected("gosms.ro")
    assert after["processed, then reset"] == after["malformed 2xx"] == "primary"
    assert after["unknown, opt-in failover"] == "primary"
    assert after["invalid recipient"] == "primary (recipient refused)"
    assert after["provider says: outcome unknown"] == "DeliveryUnknown"
