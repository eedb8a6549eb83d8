"""The fault matrix under both drivers: for every adapter and every fault of
``smsgate.reliability``, ``Gateway`` (sync driver, requests) and ``AsyncGateway`` (async
driver, aiohttp) reach the same outcome class, the same ``may_have_sent``, the same number of
requests per provider and the same ledgers, and both pass the matrix's own invariants. The
sandbox runs with the leak suite's canary credentials: no canary may appear in any log line
(every logger at DEBUG, aiohttp's included), error, chained cause or result, under either."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from smsgate import Gateway, RetryPolicy, SendResult, SmsGateError
from smsgate.aio import AsyncGateway
from smsgate.sandbox import Sandbox
from smsgate.testing import MemoryProvider

from .reliability.test_leak_suite import CANARIES, SECRETS, everything_about

try:  # the fault matrix's module (moved under smsgate.sandbox by the registry work)
    from smsgate.sandbox import reliability as matrix
except ImportError:
    from smsgate import reliability as matrix  # type: ignore[no-redef]

ADAPTERS, DEADLINE, SCENARIOS = matrix.ADAPTERS, matrix.DEADLINE, matrix.SCENARIOS
Scenario = matrix.Scenario

CELLS = [(name, scenario) for name in ADAPTERS for scenario in SCENARIOS
         if scenario.applies_to(name)]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=60, credentials=CANARIES) as running:
        yield running


def _send(driver: str, providers: list[Any], to: str, text: str, **keywords: Any
          ) -> SendResult:
    if driver == "sync":
        return Gateway(providers, **keywords).send(to, text)

    async def go() -> SendResult:
        async with AsyncGateway(providers, **keywords) as gateway:
            return await gateway.send(to, text)

    return asyncio.run(go())


def run_cell(sandbox: Sandbox, name: str, scenario: Scenario, driver: str) -> dict[str, Any]:
    """One cell of the matrix (as ``smsgate.reliability._run_cell``), under ``driver``."""
    number, blocked = ADAPTERS[name]
    to = blocked if scenario.blocked_number else number
    secondary = MemoryProvider()
    sandbox.clear_faults()
    sandbox.set_balance(name, Decimal(1_000_000))
    setup = scenario.prepare(sandbox, name, secondary)
    credentials = setup.get("credentials") or sandbox.credentials(name)
    before = {"primary": len(sandbox.messages(name)), "requests": sandbox.requests(name)}
    result: SendResult | None = None
    failure: SmsGateError | None = None
    outcome, may_have_sent = "?", None
    with matrix.blackhole() as hole, matrix._stubbed(setup.get("reply")) as stub:
        base_url = (hole if setup.get("blackhole") else stub.url if stub is not None
                    else sandbox.base_url(name))
        primary = matrix._build(name, credentials, base_url)
        try:
            result = _send(driver, [primary, secondary], to, f"parity {driver}: {scenario.name}",
                           deadline=DEADLINE, rng=random.Random(7),
                           retry=RetryPolicy(attempts=3, backoff=0.02, max_retry_after=1.0),
                           failover_on_unknown=bool(setup.get("failover_on_unknown")))
            outcome = result.provider
        except SmsGateError as error:
            outcome, may_have_sent = type(error).__name__, error.may_have_sent
            failure = error
        primary.close()
        stubbed = stub.requests if stub is not None else 0
    ledger = {name: len(sandbox.messages(name)) - before["primary"],
              "memory": len(secondary.outbox)}
    requests = {name: sandbox.requests(name) - before["requests"] + stubbed,
                "memory": len(secondary.calls)}
    label = matrix._label(name, outcome, result)
    problems = matrix._check(scenario, name, scenario.expect(name), label, result, may_have_sent,
                      ledger, 0.0)
    sandbox.clear_faults()
    shown = [repr(result), repr(getattr(result, "raw", None))]
    if failure is not None:
        shown += everything_about(failure)
    return {"outcome": label, "may_have_sent": may_have_sent, "requests": requests,
            "ledger": ledger, "problems": problems, "shown": shown}


@pytest.mark.parametrize(("name", "scenario"), CELLS,
                         ids=[f"{n}: {s.name}" for n, s in CELLS])
def test_both_drivers_agree_on_every_cell(
    sandbox: Sandbox, name: str, scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records
    assert sandbox.credentials(name) == CANARIES[name]  # the canaries go on the wire
    sync = run_cell(sandbox, name, scenario, "sync")
    async_ = run_cell(sandbox, name, scenario, "async")
    texts = [caplog.text, *sync.pop("shown"), *async_.pop("shown")]
    assert sync["problems"] == [] and async_["problems"] == [], (sync, async_)
    assert async_ == sync
    leaks = [(secret, text[:200]) for text in texts for secret in SECRETS if secret in text]
    assert leaks == []
