"""2,000 seeded random fault sequences over real sockets, checking the invariants that matter:

- no message in two ledgers unless failover_on_unknown was chosen;
- no success without a ledger entry;
- no may_have_sent=False while a ledger holds the message;
- a provider whose breaker is open receives zero requests.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

import smsgate
from smsgate import BreakerPolicy, Gateway, RetryPolicy
from smsgate.sandbox import Sandbox
from smsgate.sandbox.reliability import ADAPTERS
from smsgate.testing import MemoryProvider

SEQUENCES = 2000
SEED = 20261124

FAULTS = [
    (None, {}),
    ("process_then_reset", {}),
    ("error", {"status": 503}),
    ("error", {"status": 500}),
    ("rate_limit", {"retry_after": 0.01}),
    ("rate_limit", {"retry_after": 90}),
    ("malformed", {}),
    ("process_then_hang", {"seconds": 1.0}),
    ("hang_before_read", {"seconds": 1.0}),
    ("refuse", {}),
]
WEIGHTS = [30, 12, 10, 8, 8, 6, 8, 3, 3, 2]


class Clock:
    """Advanced by the test between sends, frozen during one (breaker states hold still)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=600, balance=10**9) as running:
        yield running


def test_invariants_hold_under_random_faults(sandbox: Sandbox) -> None:
    rng = random.Random(SEED)
    clock = Clock()
    secondary = MemoryProvider()
    gateways: dict[tuple[str, bool], tuple[Gateway, object]] = {}
    for name in ADAPTERS:
        primary = sandbox.provider(name, sender="Fuzz", timeout=(0.2, 0.05))
        for opt_in in (False, True):
            gateway = Gateway([primary, secondary], clock=clock, sleep=lambda s: None,
                              retry=RetryPolicy(attempts=2, max_retry_after=1.0),
                              breaker=BreakerPolicy(failure_threshold=3, reset_timeout=1.0),
                              failover_on_unknown=opt_in, rng=random.Random(SEED))
            gateways[(name, opt_in)] = (gateway, primary)
    violations: list[str] = []
    open_skips = 0
    for sequence in range(SEQUENCES):
        name = rng.choice(list(ADAPTERS))
        opt_in = rng.random() < 0.1
        gateway, primary = gateways[(name, opt_in)]
        sandbox.clear_faults()
        for _ in range(rng.randint(1, 3)):
            kind, options = rng.choices(FAULTS, WEIGHTS)[0]
            if kind is not None:
                sandbox.fault(name, kind, times=1 if kind != "refuse" else None, **options)
        if rng.random() < 0.05:
            secondary.fail_next(smsgate.ProviderUnavailable("down", provider="memory"))
        clock.now += rng.choice([0.0, 0.1, 0.5, 1.5])
        was_open = gateway.breaker_state(primary) == "open"  # type: ignore[arg-type]
        requests_before = sandbox.requests(name)
        text = f"sequence {sequence}"
        result = error = None
        try:
            result = gateway.send(ADAPTERS[name][0], text)
        except smsgate.SmsGateError as exc:
            error = exc
        # Counted by text, not as growth of the ledger: on a loaded machine a request an
        # earlier sequence gave up on (read timeout, outcome unknown) may be recorded by the
        # sandbox only now, and must not count as this message sent twice.
        in_primary = sum(1 for entry in sandbox.messages(name) if entry.text == text)
        in_secondary = sum(1 for message in secondary.outbox if message.text == text)
        where = f"#{sequence} {name} opt_in={opt_in}"
        if in_primary > 1 or in_secondary > 1:
            violations.append(f"{where}: one provider sent it twice")
        if in_primary and in_secondary and not opt_in:
            violations.append(f"{where}: in two ledgers without the opt-in")
        if result is not None and result.ok and not (in_primary or in_secondary):
            violations.append(f"{where}: success without a ledger entry")
        if error is not None and getattr(error, "may_have_sent", None) is False and (
                in_primary or in_secondary):
            violations.append(f"{where}: may_have_sent=False but a ledger has it")
        if was_open:
            open_skips += 1
            if sandbox.requests(name) != requests_before:
                violations.append(f"{where}: breaker open, yet the provider got a request")
    sandbox.clear_faults()
    assert not violations, "\n".join(violations[:20])
    assert open_skips > 0, "the run never opened a breaker: the last invariant went untested"
