"""The gateway's send is one plan of effects: no I/O, sleeping or clock of its own, so a
second driver (here a small asyncio one) runs the very same plan."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import smsgate
from smsgate import Gateway, RetryPolicy
from smsgate._effects import Call, Effect, Now, Perform, Plan, Sleep, run
from smsgate.sandbox import Sandbox
from smsgate.testing import MemoryProvider

GE = "+995555123456"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=600) as running:
        yield running


def options(**given: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sender": None, "urgent": False, "schedule_at": None, "validity": None,
        "reference": None, "idempotency_key": None, "flash": False, "priority": False,
        "extra": None, "allow_duplicates": False,
    }
    return {**base, **given}


class Recorder:
    """A sync driver that records every effect it performs (the plan performs none)."""

    def __init__(self) -> None:
        self.effects: list[Effect] = []

    def __call__(self, plan: Plan[Any]) -> Any:
        def clock() -> float:
            return time.monotonic()

        recorded = self._recording(plan)
        return run(recorded, clock=clock, sleep=lambda s: None)

    def _recording(self, plan: Plan[Any]) -> Plan[Any]:
        value: Any = None
        failure: BaseException | None = None
        while True:
            try:
                effect = plan.send(value) if failure is None else plan.throw(failure)
            except StopIteration as stop:
                return stop.value
            self.effects.append(effect)
            value, failure = None, None
            try:
                value = yield effect
            except BaseException as exc:
                failure = exc


def test_the_plan_modules_do_no_io_and_import_no_adapter() -> None:
    for module in ("_plan.py", "_decisions.py", "gateway.py"):
        tree = ast.parse((ROOT / "smsgate" / module).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {f"{'.' * node.level}{node.module}" for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom)}
        assert not imported & {"requests", "socket", "asyncio", "._http", ".providers"}, module
        if module != "gateway.py":  # the sync driver's defaults live in the gateway
            assert "time" not in imported, module
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, smsgate.gateway, smsgate._plan; "
         "print(sorted(m for m in sys.modules if m.startswith('smsgate.providers')))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_a_send_is_a_sequence_of_effects(sandbox: Sandbox) -> None:
    down, http = MemoryProvider(), sandbox.provider("gosms.ge", sender="Brand")
    down.fail_next(smsgate.ProviderUnavailable("down", provider="memory"), times=2)
    gateway = Gateway([down, http], retry=RetryPolicy(attempts=2, backoff=0.5),
                      sleep=lambda s: None)
    recorder = Recorder()
    result = recorder(gateway._core.send(GE, "Hi", options()))
    assert result.ok and result.provider == "gosms.ge"
    kinds = [type(e).__name__ for e in recorder.effects]
    assert kinds.count("Sleep") == 1  # the backoff on the memory provider, as an effect
    # The memory provider's send is a Call of its own delivery; the HTTP adapter's exchange
    # is a Perform the driver makes (the plan never touches the network).
    delivers = [e for e in recorder.effects
                if isinstance(e, Call) and getattr(e.function, "__name__", "") == "_deliver"]
    assert len(delivers) == 2
    performs = [e for e in recorder.effects if isinstance(e, Perform)]
    assert len(performs) == 1 and performs[0].transport is http.transport
    # Breaker decisions are store calls, through the driver too.
    admits = [e for e in recorder.effects if isinstance(e, Call)
              and getattr(e.function, "__name__", "") == "admit"]
    assert len(admits) == 3
    assert any(isinstance(e, Now) for e in recorder.effects)


async def arun(plan: Plan[Any]) -> Any:
    """The async driver in a nutshell: the sync driver's loop, each effect awaited."""
    loop = asyncio.get_running_loop()
    value: Any = None
    failure: BaseException | None = None
    while True:
        try:
            effect = plan.send(value) if failure is None else plan.throw(failure)
        except StopIteration as stop:
            return stop.value
        value, failure = None, None
        try:
            if isinstance(effect, Perform):
                value = await asyncio.to_thread(effect.transport.perform, effect.request,
                                                deadline=effect.deadline)
            elif isinstance(effect, Sleep):
                await asyncio.sleep(effect.seconds)
            elif isinstance(effect, Now):
                value = loop.time()
            else:
                value = await asyncio.to_thread(effect.function, *effect.args,
                                                **effect.kwargs)
        except BaseException as exc:
            failure = exc


def test_an_async_driver_runs_the_same_plan(sandbox: Sandbox) -> None:
    flaky, http = MemoryProvider(), sandbox.provider("smsoffice.ge", sender="Brand")
    flaky.fail_next(smsgate.RateLimited("slow down", provider="memory", retry_after=0.01))
    flaky.fail_next(smsgate.InsufficientFunds("empty", provider="memory"))
    # The loop's clock is time.monotonic, the gateway's default: one time line for both.
    gateway = Gateway([flaky, http], retry=RetryPolicy(attempts=3))

    async def both() -> list[smsgate.SendResult]:
        plans = [gateway._core.send(GE, f"async {i}", options()) for i in range(2)]
        return list(await asyncio.gather(*(arun(p) for p in plans)))

    results = asyncio.run(both())
    assert [r.ok for r in results] == [True, True]
    # Whichever plan met the scripted failures waited, then failed over to the HTTP
    # provider; the rules that fired are the table's, as under the sync driver.
    rules = [a.rule for r in results for a in r.attempts if a.rule]
    assert sorted(rules) == ["rate-limited-wait", "refusal"]
    # One message went out through each provider, each exactly once.
    texts = [m.text for m in sandbox.messages("smsoffice.ge") if m.text.startswith("async")]
    assert len(flaky.outbox) == 1 and len(texts) == 1
    assert sorted([flaky.outbox[0].text, *texts]) == ["async 0", "async 1"]



def test_a_generator_exit_from_a_provider_ends_the_plan_and_the_leases_clean_up() -> None:
    """GeneratorExit closes the plan (it may not yield any more): it surfaces as itself,
    the probe slot is freed by the store's probe lease and the claim turns UNKNOWN when its
    lease runs out, never NEW."""
    from smsgate.stores import ClaimState, MemoryBreakerStore, MemoryClaimStore

    now = [0.0]
    sms, fallback = MemoryProvider(), MemoryProvider()

    def closing(outgoing: Any) -> None:
        raise GeneratorExit

    breakers = MemoryBreakerStore(clock=lambda: now[0])
    claims = MemoryClaimStore(clock=lambda: 1_000 + now[0])
    gateway = Gateway([sms, fallback], retry=None, clock=lambda: now[0], claims=claims,
                      breaker=smsgate.BreakerPolicy(failure_threshold=1, reset_timeout=10),
                      breaker_store=breakers, claim_lease=5)
    sms.fail_next(smsgate.ConnectError("down", provider="memory"))
    gateway.send(GE, "opens the breaker")  # fails over to the fallback
    now[0] = 10.0
    sms.script(closing)
    with pytest.raises(GeneratorExit):
        gateway.send(GE, "the probe", idempotency_key="closed")
    assert breakers.admit(gateway.provider_key(sms), gateway.breaker) == "deny"  # held...
    now[0] = 20.0
    assert claims.get("closed").state is ClaimState.UNKNOWN  # type: ignore[union-attr]
    assert gateway.send(GE, "next").ok  # ...until the probe lease ran out: a new probe
    assert gateway.breaker_state(sms) == "closed"
