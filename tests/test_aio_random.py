"""The 2,000 seeded random fault sequences of tests/reliability/test_random_faults.py, run
once through ``Gateway`` and once through ``AsyncGateway`` (fresh gateways, the same seed, the
same sandbox): every sequence must end alike under both drivers (outcome class,
``may_have_sent``, messages in each ledger, requests to the provider, breaker open before it),
and the invariants of that test must hold under the async driver.

Two things differ from that test, so that nothing but the driver can make a sequence end
differently: the two ``hang`` faults are left out (how they end is a timeout racing the
machine's load; the fault matrix compares them cell by cell under both drivers), and the
timeouts are generous (a loaded machine never turns a healthy reply into a timeout in one run
and not in the other). One differing sequence would also change the breaker state of every
later one, so they must all agree."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest

import smsgate
from smsgate import BreakerPolicy, Gateway, RetryPolicy
from smsgate.aio import AsyncGateway
from smsgate.sandbox import Sandbox
from smsgate.testing import MemoryProvider

from .reliability.test_random_faults import FAULTS, SEED, SEQUENCES, WEIGHTS, Clock

try:  # the fault matrix's module (moved under smsgate.sandbox by the registry work)
    from smsgate.sandbox import reliability as matrix
except ImportError:
    from smsgate import reliability as matrix  # type: ignore[no-redef]

ADAPTERS = matrix.ADAPTERS

#: The random test's faults and weights, without those that end by a timeout.
TIMELESS = [(fault, weight) for fault, weight in zip(FAULTS, WEIGHTS, strict=True)
            if fault[0] not in ("process_then_hang", "hang_before_read")]

Record = tuple[Any, ...]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=600, balance=10**9) as running:
        yield running


async def _nap(seconds: float) -> None:
    return None


async def run_sequences(sandbox: Sandbox, driver: str) -> list[Record]:
    rng = random.Random(SEED)
    clock = Clock()
    secondary = MemoryProvider()
    gateways: dict[tuple[str, bool], tuple[Any, Any]] = {}
    for name in ADAPTERS:
        primary = sandbox.provider(name, sender="Fuzz", timeout=(5.0, 5.0))
        for opt_in in (False, True):
            keywords: dict[str, Any] = {
                "clock": clock, "retry": RetryPolicy(attempts=2, max_retry_after=1.0),
                "breaker": BreakerPolicy(failure_threshold=3, reset_timeout=1.0),
                "failover_on_unknown": opt_in, "rng": random.Random(SEED),
            }
            gateway: Any = (Gateway([primary, secondary], sleep=lambda s: None, **keywords)
                            if driver == "sync" else
                            AsyncGateway([primary, secondary], sleep=_nap, **keywords))
            gateways[(name, opt_in)] = (gateway, primary)
    records: list[Record] = []
    try:
        for sequence in range(SEQUENCES):
            name = rng.choice(list(ADAPTERS))
            opt_in = rng.random() < 0.1
            gateway, primary = gateways[(name, opt_in)]
            sandbox.clear_faults()
            for _ in range(rng.randint(1, 3)):
                kind, options = rng.choices([f for f, _ in TIMELESS],
                                            [w for _, w in TIMELESS])[0]
                if kind is not None:
                    sandbox.fault(name, kind, times=1 if kind != "refuse" else None, **options)
            if rng.random() < 0.05:
                secondary.fail_next(smsgate.ProviderUnavailable("down", provider="memory"))
            clock.now += rng.choice([0.0, 0.1, 0.5, 1.5])
            was_open = gateway.breaker_state(primary) == "open"
            requests_before = sandbox.requests(name)
            ledger_before = len(sandbox.messages(name))
            outbox_before = len(secondary.outbox)
            outcome, may_have_sent = "?", None
            text = f"{driver} sequence {sequence}"
            try:
                if driver == "sync":
                    result = gateway.send(ADAPTERS[name][0], text)
                else:
                    result = await gateway.send(ADAPTERS[name][0], text)
                outcome = f"{result.provider} ok={result.ok}"
            except smsgate.SmsGateError as exc:
                outcome, may_have_sent = type(exc).__name__, exc.may_have_sent
            records.append((sequence, name, opt_in, outcome, may_have_sent,
                            len(sandbox.messages(name)) - ledger_before,
                            len(secondary.outbox) - outbox_before,
                            sandbox.requests(name) - requests_before, was_open))
    finally:
        sandbox.clear_faults()
        for gateway, _ in gateways.values():
            if driver == "async":
                await gateway.aclose()
    return records


def _violations(records: list[Record]) -> list[str]:
    found = []
    for sequence, name, opt_in, outcome, may_have_sent, primary, secondary, requests, \
            was_open in records:
        where = f"#{sequence} {name} opt_in={opt_in}"
        if primary > 1 or secondary > 1:
            found.append(f"{where}: one provider sent it twice")
        if primary and secondary and not opt_in:
            found.append(f"{where}: in two ledgers without the opt-in")
        if outcome.endswith("ok=True") and not (primary or secondary):
            found.append(f"{where}: success without a ledger entry")
        if may_have_sent is False and (primary or secondary):
            found.append(f"{where}: may_have_sent=False but a ledger has it")
        if was_open and requests:
            found.append(f"{where}: breaker open, yet the provider got a request")
    return found


def test_every_random_sequence_ends_alike_under_both_drivers(sandbox: Sandbox) -> None:
    sync = asyncio.run(run_sequences(sandbox, "sync"))
    async_ = asyncio.run(run_sequences(sandbox, "async"))
    assert _violations(async_) == []
    assert any(record[-1] for record in async_), "no breaker opened: a rule went untested"
    differing = [(s, a) for s, a in zip(sync, async_, strict=True) if s != a]
    assert differing == [], "\n".join(f"sync {s}\nasync {a}" for s, a in differing[:10])
