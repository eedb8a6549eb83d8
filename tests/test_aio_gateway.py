"""``AsyncGateway`` and the async ``send_many`` against the sandbox, end to end: send, status,
balance and failover through aiohttp, the same provider objects as ``Gateway``, and the same
bulk report as the sync ``send_many``."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import smsgate
import smsgate.aio
from smsgate import ConfigurationError, Gateway, Message, RetryPolicy
from smsgate._http import RequestsTransport
from smsgate.aio import AsyncGateway, send_many
from smsgate.providers import HttpResponse
from smsgate.sandbox import Sandbox
from smsgate.testing import MemoryProvider, MockTransport

GE = "+995555123456"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=0.2) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.clear_faults()


@pytest.fixture
def no_requests_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any request made through the requests transport fails the test: the async gateway
    must reach HTTP providers through aiohttp."""

    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the requests transport was used under AsyncGateway")

    monkeypatch.setattr(RequestsTransport, "perform", refuse)


def test_public_names_are_sorted_and_exist() -> None:
    names = smsgate.aio.__all__
    assert list(names) == sorted(names)
    for name in names:
        assert getattr(smsgate.aio, name) is not None


@pytest.mark.usefixtures("no_requests_library")
def test_send_status_and_balance_through_aiohttp(sandbox: Sandbox) -> None:
    gosms = sandbox.provider("gosms.ge", sender="Demo")

    async def go() -> tuple[Any, ...]:
        async with AsyncGateway([gosms]) as gateway:
            result = await gateway.send(GE, "async hello")
            assert result.message_id is not None
            status = await gateway.status(result.message_id)
            balance = await gateway.balance()
            opened = gateway._owned[0]._session is not None
            return result, status, balance, opened

    before = sandbox.balance("gosms.ge")
    result, status, balance, opened = asyncio.run(go())
    assert result.ok and result.provider == "gosms.ge" and opened
    assert [m.text for m in sandbox.messages("gosms.ge")][-1] == "async hello"
    assert status.message_id == result.message_id
    assert status.status in (smsgate.Status.QUEUED, smsgate.Status.SENT,
                             smsgate.Status.DELIVERED)
    assert balance.amount == before - 1


@pytest.mark.usefixtures("no_requests_library")
def test_failover_when_the_first_provider_is_down(sandbox: Sandbox) -> None:
    sandbox.fault("gosms.ge", "refuse")
    gosms = sandbox.provider("gosms.ge", sender="Demo")
    office = sandbox.provider("smsoffice.ge", sender="Demo")
    sent_before = len(sandbox.messages("smsoffice.ge"))

    async def go() -> smsgate.SendResult:
        async with AsyncGateway([gosms, office], retry=RetryPolicy(attempts=2, backoff=0.01)
                                ) as gateway:
            return await gateway.send("+995577123456", "failover")

    result = asyncio.run(go())
    assert result.ok and result.provider == "smsoffice.ge"
    assert len(sandbox.messages("smsoffice.ge")) == sent_before + 1
    # The table's rules fired, as under Gateway: two refused connects, then failover.
    assert [a.rule for a in result.attempts if a.rule] == ["retryable", "retries-exhausted"]


def test_the_attempt_hook_hears_every_async_attempt(sandbox: Sandbox) -> None:
    """on_attempt reaches AsyncGateway as it reaches Gateway: one call per attempt."""
    sandbox.fault("gosms.ge", "refuse")
    heard: list[smsgate.AttemptInfo] = []

    async def go() -> smsgate.SendResult:
        async with AsyncGateway(
            [sandbox.provider("gosms.ge", sender="Demo"),
             sandbox.provider("smsoffice.ge", sender="Demo")],
            retry=RetryPolicy(attempts=2, backoff=0.01), on_attempt=heard.append,
        ) as gateway:
            return await gateway.send("+995577123456", "heard")

    assert asyncio.run(go()).provider == "smsoffice.ge"
    assert [(a.provider, a.outcome) for a in heard] == [
        ("gosms.ge", "unavailable"), ("gosms.ge", "unavailable"), ("smsoffice.ge", "accepted")]
    assert [a.may_have_sent for a in heard] == [False, False, True]


def test_the_same_provider_objects_serve_both_gateways(sandbox: Sandbox) -> None:
    office = sandbox.provider("smsoffice.ge", sender="Demo")
    sync = Gateway([office]).send("+995577123456", "sync")

    async def go() -> smsgate.SendResult:
        async with AsyncGateway([office]) as gateway:
            return await gateway.send("+995577123456", "async")

    result = asyncio.run(go())
    assert sync.ok and result.ok
    # The provider's own transport stays usable after the async gateway closed.
    assert Gateway([office]).send("+995577123456", "sync again").ok


def test_a_mock_transport_runs_in_a_worker_thread() -> None:
    body = b'{"success": true, "messageId": 5, "from": "Demo", "to": "995555123456"}'
    transport = MockTransport(lambda request: HttpResponse(
        200, {"Content-Type": "application/json"}, body))
    provider = smsgate.GoSmsGe("k" * 20, sender="Demo", transport=transport)

    async def go() -> smsgate.SendResult:
        async with AsyncGateway([provider]) as gateway:
            assert gateway._owned == []  # not replaced: the test's transport is used
            return await gateway.send(GE, "mocked")

    result = asyncio.run(go())
    assert result.ok and result.message_id == "5" and len(transport.requests) == 1


def test_a_custom_provider_sends_through_a_call() -> None:
    memory = MemoryProvider()

    async def go() -> smsgate.SendResult:
        async with AsyncGateway([memory]) as gateway:
            return await gateway.send(GE, "memory")

    assert asyncio.run(go()).ok and memory.outbox[0].text == "memory"


# -- send_many --------------------------------------------------------------------------------
def _batch() -> list[Message]:
    messages = [Message(f"+99555512{n:04d}", f"bulk {n}") for n in range(1, 25)]
    messages.insert(5, Message("+995555120000", "stop-listed"))  # refused by the sandbox
    return messages


def _shape(report: smsgate.BulkReport) -> list[str]:
    return [type(r).__name__ + ("" if isinstance(r, smsgate.SmsGateError) else f" {r.ok}")
            for r in report.results]


@pytest.mark.usefixtures("no_requests_library")
def test_send_many_reports_as_the_sync_one_does(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = sandbox.provider("gosms.ge", sender="Demo")
    seen: list[tuple[int, int]] = []
    in_flight = peak = 0

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    async def go() -> smsgate.BulkReport:
        async with AsyncGateway([provider], retry=None) as gateway:
            send = gateway.send

            async def counted(*args: Any, **kwargs: Any) -> smsgate.SendResult:
                nonlocal in_flight, peak
                in_flight += 1
                peak = max(peak, in_flight)
                try:
                    return await send(*args, **kwargs)
                finally:
                    in_flight -= 1

            monkeypatch.setattr(gateway, "send", counted)
            return await send_many(gateway, _batch(), concurrency=4, progress=progress)

    report = asyncio.run(go())
    monkeypatch.undo()  # the sync run below uses the requests transport
    sync = smsgate.send_many(sandbox.provider("gosms.ge", sender="Demo"), _batch(),
                             concurrency=4)
    assert _shape(report) == _shape(sync)
    assert (report.sent, report.failed) == (sync.sent, sync.failed) == (24, 1)
    assert [i for i, _ in report.errors] == [i for i, _ in sync.errors]
    assert seen == [(n, 25) for n in range(1, 26)]
    assert 1 < peak <= 4


def test_send_many_refuses_what_it_cannot_await() -> None:
    with pytest.raises(ConfigurationError, match="AsyncGateway"):
        asyncio.run(send_many(MemoryProvider(), [Message(GE, "x")]))
    with pytest.raises(ConfigurationError, match="concurrency"):
        asyncio.run(send_many(AsyncGateway([MemoryProvider()]), [], concurrency=0))


def test_a_failing_progress_callback_is_dropped_and_the_batch_goes_on() -> None:
    memory = MemoryProvider()
    calls: list[int] = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        raise RuntimeError("broken bar")

    report = asyncio.run(send_many(AsyncGateway([memory]),
                                   [Message(GE, f"m{n}") for n in range(5)],
                                   concurrency=2, progress=progress))
    assert report.sent == 5 and calls == [1]


def test_the_sandbox_carries_a_thousand_concurrent_sends_from_one_loop() -> None:
    # Its own sandbox: a thousand messages must not crowd the shared one's ledger.
    with Sandbox(delivery_delay=600, balance=10**6) as own:
        provider = own.provider("gosms.ge", sender="Demo")
        numbers = [f"+99555{2_000_001 + i:07d}" for i in range(1000)]

        async def go() -> list[Any]:
            async with AsyncGateway([provider], retry=None, breaker=None,
                                    max_connections=1000) as gateway:
                return await asyncio.gather(*(gateway.send(n, "load") for n in numbers),
                                            return_exceptions=True)

        outcomes = asyncio.run(go())
        refused = [o for o in outcomes if not isinstance(o, smsgate.SendResult)]
        assert refused == []  # no connection refused, reset or timed out
        assert len(own.messages("gosms.ge")) == 1000


def test_importing_smsgate_aio_loads_no_aiohttp() -> None:
    code = "import sys, smsgate.aio; print('aiohttp' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "False"


def test_without_aiohttp_the_gateway_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "aiohttp" else real(name, *a))
    with pytest.raises(ConfigurationError, match=r"smsgate\[aio\]"):
        AsyncGateway([smsgate.GoSmsGe("k" * 20, sender="Demo")])
    # A provider with its own transport needs no aiohttp.
    mocked = smsgate.GoSmsGe("k" * 20, sender="Demo", transport=MockTransport(
        lambda request: HttpResponse(500)))
    assert AsyncGateway([mocked]).providers == (mocked,)
