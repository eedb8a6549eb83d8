"""``smsgate.aio.arun``: the sync driver's loop with each effect awaited, and what a
cancellation leaves behind (never a claim saying "not sent" for a request that may have left,
nothing new sent after it, and the task ends cancelled)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

import smsgate
from smsgate._effects import Call, Now, Perform, Plan, Sleep
from smsgate.aio import AsyncGateway, arun
from smsgate.providers import HttpRequest, HttpResponse
from smsgate.stores import ClaimState, MemoryClaimStore
from smsgate.testing import MockTransport

from .conftest import CANARY, ToyProvider

GE = "+995555123456"
RO = "+40722123456"
GH = "+233245972246"
OK = HttpResponse(200, {"Content-Type": "application/json"}, json.dumps({"ids": [7]}).encode())


class Held:
    """An async transport whose exchanges never end: each request is recorded (its bytes
    have left), then waits until cancelled."""

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self.arrived: asyncio.Event | None = None

    async def perform(self, request: HttpRequest, *, deadline: float | None = None
                      ) -> HttpResponse:
        self.requests.append(request)
        assert self.arrived is not None
        self.arrived.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")

    def close(self) -> None:
        pass


class Answering:
    """An async transport answering every request at once (records the loop thread)."""

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self.threads: list[int] = []

    async def perform(self, request: HttpRequest, *, deadline: float | None = None
                      ) -> HttpResponse:
        self.requests.append(request)
        self.threads.append(threading.get_ident())
        return OK

    def close(self) -> None:
        pass


# -- effects ----------------------------------------------------------------------------------
def test_each_effect_is_awaited_as_the_module_says() -> None:
    seen: dict[str, Any] = {}
    slept: list[float] = []
    store = MemoryClaimStore()
    mock = MockTransport(lambda request: OK)
    answering = Answering()

    async def nap(seconds: float) -> None:
        slept.append(seconds)

    def blocking(value: int) -> tuple[int, int]:
        return value * 2, threading.get_ident()

    async def awaited(value: int) -> int:
        return value + 1

    def plan() -> Plan[str]:
        seen["now"] = yield Now()
        yield Sleep(1.5)
        seen["blocking"] = yield Call(blocking, (21,))
        seen["awaited"] = yield Call(blocking, (5,), async_function=awaited)
        seen["claim"] = yield Call(store.get, ("nobody",))
        seen["mock"] = yield Perform(mock, HttpRequest("GET", "/x", "balance"), None)
        seen["async"] = yield Perform(answering, HttpRequest("GET", "/y", "balance"), None)
        return "done"

    async def go() -> tuple[str, int]:
        result = await arun(plan(), clock=lambda: 42.0, sleep=nap)
        return result, threading.get_ident()

    result, loop_thread = asyncio.run(go())
    assert result == "done"
    assert seen["now"] == 42.0 and slept == [1.5]
    assert seen["blocking"][0] == 42 and seen["blocking"][1] != loop_thread  # a worker thread
    assert seen["awaited"] == 6  # the async function, not the blocking one
    assert seen["claim"] is None
    assert seen["mock"].status == 200 and len(mock.requests) == 1  # sync transport: threaded
    assert answering.threads == [loop_thread]  # async transport: awaited on the loop


def test_an_effects_exception_is_thrown_in_at_the_yield_that_asked() -> None:
    def refuse(request: HttpRequest) -> HttpResponse:
        raise smsgate.ConnectError("refused", provider="toy")

    def plan() -> Plan[str]:
        try:
            yield Perform(MockTransport(refuse), HttpRequest("POST", "/s", "send"), None)
        except smsgate.ConnectError as exc:
            return f"caught {type(exc).__name__}"
        return "not thrown"

    assert asyncio.run(arun(plan())) == "caught ConnectError"


def test_the_deadline_reaches_the_transport_on_the_monotonic_clock() -> None:
    mock = MockTransport(lambda request: OK)

    def plan() -> Plan[None]:
        now = yield Now()
        yield Perform(mock, HttpRequest("GET", "/x", "balance"), now + 5.0)

    asyncio.run(arun(plan(), clock=lambda: 1_000.0))
    (deadline,) = mock.deadlines
    assert deadline is not None and abs(deadline - (time.monotonic() + 5.0)) < 2.0


def test_the_async_gateway_sends_through_the_same_plan_with_an_async_transport() -> None:
    transport = Answering()
    provider = ToyProvider(CANARY, sender="Shop", transport=transport)

    async def go() -> smsgate.SendResult:
        async with AsyncGateway([provider]) as gateway:
            return await gateway.send(GE, "Hi")

    result = asyncio.run(go())
    assert result.ok and result.message_id == "7" and len(transport.requests) == 1


# -- cancellation -----------------------------------------------------------------------------
def _cancel_in_flight(gateway: AsyncGateway, transport: Held, to: Any, **options: Any
                      ) -> BaseException:
    async def go() -> BaseException:
        transport.arrived = asyncio.Event()
        task = asyncio.ensure_future(gateway.send(to, "Hi", **options))
        await transport.arrived.wait()
        task.cancel()
        try:
            await task
        except BaseException as exc:
            return exc
        raise AssertionError("the send was not cancelled")

    return asyncio.run(go())


def test_a_cancellation_after_the_request_left_leaves_the_claim_unknown() -> None:
    transport, claims = Held(), MemoryClaimStore()
    provider = ToyProvider(CANARY, sender="Shop", transport=transport)
    gateway = AsyncGateway([provider], claims=claims)
    error = _cancel_in_flight(gateway, transport, GE, idempotency_key="k-1")
    assert isinstance(error, asyncio.CancelledError)  # the task ends cancelled
    claim = claims.get("k-1")
    assert claim is not None and claim.state is ClaimState.UNKNOWN
    assert len(transport.requests) == 1
    # The breaker's permit was given back: the next send is let through.
    assert gateway.breaker_state(provider) == "closed"


def test_after_a_cancellation_no_further_route_group_goes_out_and_the_task_ends_cancelled(
) -> None:
    # Three route groups: Georgia is accepted, Romania's request is cut by the cancellation,
    # Ghana's (the default chain) must then never be sent, and the task ends cancelled even
    # though the plan, which reports groups one by one, would return a merged result.
    georgia, romania, ghana = Answering(), Held(), Answering()
    ge = ToyProvider(CANARY, sender="Shop", transport=georgia)
    ro = ToyProvider(CANARY, sender="Shop", transport=romania, key="toy-ro")
    rest = ToyProvider(CANARY, sender="Shop", transport=ghana, key="toy-rest")
    claims = MemoryClaimStore()
    gateway = AsyncGateway([rest], routes={"GE": [ge], "RO": [ro]}, claims=claims)
    error = _cancel_in_flight(gateway, romania, [GE, RO, GH], idempotency_key="all")
    assert isinstance(error, asyncio.CancelledError)
    assert len(georgia.requests) == 1 and len(romania.requests) == 1
    assert ghana.requests == []  # nothing new is sent after a cancellation
    states = {key: getattr(claims.get(key), "state", None)
              for key in ("all-0", "all-1", "all-2")}
    assert states["all-0"] is ClaimState.ACCEPTED
    assert states["all-1"] is ClaimState.UNKNOWN  # its request had left
    assert states["all-2"] in (None, ClaimState.NOT_SENT)


def test_a_timeout_around_send_raises_timeout_and_leaves_the_claim_unknown() -> None:
    transport, claims = Held(), MemoryClaimStore()
    provider = ToyProvider(CANARY, sender="Shop", transport=transport)
    gateway = AsyncGateway([provider], claims=claims)

    async def go() -> None:
        transport.arrived = asyncio.Event()
        await asyncio.wait_for(gateway.send(GE, "Hi", idempotency_key="t-1"), 0.3)

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(go())
    claim = claims.get("t-1")
    assert claim is not None and claim.state is ClaimState.UNKNOWN


class SlowClaims:
    """A claim store whose ``finish`` blocks for a while (runs in a worker thread)."""

    def __init__(self) -> None:
        self.inner = MemoryClaimStore()
        self.finishing = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def begin(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.begin(*args, **kwargs)

    def finish(self, *args: Any, **kwargs: Any) -> Any:
        self.finishing.set()
        time.sleep(0.4)
        return self.inner.finish(*args, **kwargs)

    def renew(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.renew(*args, **kwargs)

    def settle(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.settle(*args, **kwargs)

    def get(self, key: str) -> Any:
        return self.inner.get(key)

    def find(self, state: Any) -> Any:
        return self.inner.find(state)

    def purge(self, older_than: Any) -> int:
        return self.inner.purge(older_than)

    def close(self) -> None:
        self.inner.close()


def test_a_second_cancellation_never_cuts_the_claims_bookkeeping_in_half() -> None:
    transport, claims = Held(), SlowClaims()
    provider = ToyProvider(CANARY, sender="Shop", transport=transport)
    gateway = AsyncGateway([provider], claims=claims)  # type: ignore[arg-type]

    async def go() -> BaseException:
        transport.arrived = asyncio.Event()
        task = asyncio.ensure_future(gateway.send(GE, "Hi", idempotency_key="s-1"))
        await transport.arrived.wait()
        task.cancel()
        while not claims.finishing.is_set():
            await asyncio.sleep(0.01)
        task.cancel()  # again, while the claim is being finished
        try:
            await task
        except BaseException as exc:
            # Read the moment the task ended: the claim was finished before it did.
            claim = claims.get("s-1")
            assert claim is not None and claim.state is ClaimState.UNKNOWN
            return exc
        raise AssertionError("not cancelled")

    assert isinstance(asyncio.run(go()), asyncio.CancelledError)


def test_closing_the_driver_closes_the_plan_and_runs_nothing_more() -> None:
    ran: list[str] = []

    def plan() -> Plan[None]:
        try:
            yield Sleep(10)
            ran.append("after the sleep")
        finally:
            ran.append("closed")

    async def go() -> None:
        task = asyncio.ensure_future(arun(plan()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert ran == ["closed"]
