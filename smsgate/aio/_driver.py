"""The async driver: :func:`arun` runs a send plan on an event loop.

A plan (:mod:`smsgate._effects`) never does I/O, sleeps or reads a clock; it yields effects
and the driver performs them. :func:`smsgate._effects.run` performs each effect by calling
it; :func:`arun` is the same loop with each effect awaited:

==============  =========================================================================
effect          how :func:`arun` performs it
==============  =========================================================================
``Perform``     through an async transport (``await transport.perform(...)``); a
                transport whose ``perform`` is a plain function (``MockTransport``, a
                ``requests`` transport on the caller's own session) runs in a worker
                thread, never on the loop
``Sleep``       ``await sleep(seconds)`` (:func:`asyncio.sleep` by default)
``Now``         the driver's clock (the loop's monotonic clock by default)
``Call``        ``await call.async_function(...)`` when the effect has one; the
                in-memory stores, which never block, are called directly; a store
                operation with an async twin (``await store.abegin(...)`` for
                ``store.begin``: the Redis stores) is awaited; anything else runs in a
                worker thread (:func:`asyncio.to_thread`)
==============  =========================================================================

An effect's exception is thrown into the plan at the ``yield`` that asked for it, exactly as
the sync driver does, so every decision (retries, breakers, claims, ``may_have_sent``) is
the plan's and exists once.

**Cancellation.** An :class:`asyncio.CancelledError` (a cancelled task, a timeout around
``await gateway.send(...)``) is thrown into the plan like any other exception: the plan
records what it means (a claim whose send was under way becomes UNKNOWN, never NOT_SENT; a
breaker's probe slot is freed). From then on the driver only lets the plan *close* what it
opened: it runs the store calls that finish a claim or release/record a breaker permit
(shielded from a second cancellation, so the bookkeeping is never cut in half) and answers
every other effect (a new request, a sleep, a new claim, a custom provider's send) by
throwing the cancellation in again, so nothing new is sent after a cancellation. When the
plan ends, the driver raises the cancellation, whatever the plan returned: the task ends
cancelled, as asyncio code expects (``asyncio.timeout`` and task groups rely on it).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, TypeVar, runtime_checkable

from .._effects import Call, Now, Perform, Plan, Sleep, monotonic_deadline
from .._wire import HttpRequest, HttpResponse, deadline_scope
from ..guards_stores import MemoryBudgetStore, MemorySuppressionList
from ..stores._breakers import BreakerStore, MemoryBreakerStore
from ..stores._claims import ClaimStore, MemoryClaimStore
from ..stores._rate import MemoryRateLimiter
from ..stores._twins import async_twin

__all__ = ["AsyncTransport", "arun", "is_async_transport"]

_T = TypeVar("_T")

#: Store operations that only close what a plan opened (a claim's outcome, a breaker
#: permit): the driver still runs them after a cancellation.
_CLOSING: Final = frozenset({"finish", "release", "record"})
#: Stores that keep their state in this process's memory behind a lock held for
#: microseconds: called on the loop directly (a worker thread would cost more than the call).
_IN_MEMORY: Final = (MemoryBreakerStore, MemoryClaimStore, MemoryRateLimiter,
                     MemoryBudgetStore, MemorySuppressionList)


@runtime_checkable
class AsyncTransport(Protocol):
    """What carries an :class:`~smsgate.providers.HttpRequest` to a provider, awaited.

    The async twin of :class:`smsgate.Transport`, with the same contract: :meth:`perform`
    returns the reply whatever its HTTP status and raises only smsgate errors that say what
    happened (:class:`~smsgate.ConnectError`: nothing can have reached the provider;
    :class:`~smsgate.DeliveryUnknown`: it may have; :class:`~smsgate.InvalidResponse`: a
    reply it would not read). ``deadline`` is an instant on :func:`time.monotonic`.
    A cancellation (:class:`asyncio.CancelledError`) passes through as itself.
    """

    async def perform(
        self, request: HttpRequest, *, deadline: float | None = None
    ) -> HttpResponse:
        """Make ``request``; return its reply, or raise an smsgate error."""
        ...

    async def aclose(self) -> None:
        """Release what the transport holds (connections). Safe to call twice."""
        ...


def is_async_transport(transport: object) -> bool:
    """Whether ``transport.perform`` is awaited (an :class:`AsyncTransport`) rather than
    called (a :class:`smsgate.Transport`)."""
    if "perform" not in getattr(transport, "__dict__", ()):
        method = getattr(type(transport), "perform", None)
        known = _ASYNC_METHODS.get(method)
        if known is not None:
            return known  # the class's perform, asked once (a patched one is asked anew)
    perform = getattr(transport, "perform", None)
    answer = perform is not None and inspect.iscoroutinefunction(perform)
    if "perform" not in getattr(transport, "__dict__", ()) and len(_ASYNC_METHODS) < 256:
        _ASYNC_METHODS[getattr(type(transport), "perform", None)] = answer
    return answer


#: Whether a transport class's ``perform`` function is a coroutine function, by function.
_ASYNC_METHODS: dict[Any, bool] = {}


async def arun(
    plan: Plan[_T],
    *,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    transport_for: Callable[[Any], Any] | None = None,
) -> _T:
    """Drive ``plan`` to its end on the running event loop and return its result.

    Args:
        plan: a send plan (a generator of effects).
        clock: the clock ``Now`` reads and ``deadline`` instants are on (default: the
            loop's, :meth:`asyncio.AbstractEventLoop.time`, which is monotonic).
        sleep: how ``Sleep`` waits (default :func:`asyncio.sleep`).
        transport_for: maps the transport a ``Perform`` names (the provider's own) to the
            one that carries it here (an :class:`AsyncTransport`, or a sync transport run in
            a worker thread). Default: the transport itself.

    Effects are performed as the module docstring says; exceptions are thrown into the plan.
    """
    now = clock if clock is not None else asyncio.get_running_loop().time
    send_value: Any = None
    failure: BaseException | None = None
    cancelled: asyncio.CancelledError | None = None
    try:
        while True:
            try:
                if failure is None:
                    effect = plan.send(send_value)
                else:
                    effect, failure = plan.throw(failure), None
            except StopIteration as stop:
                if cancelled is not None:
                    raise cancelled from None
                return stop.value  # type: ignore[no-any-return]
            except asyncio.CancelledError:
                raise
            except BaseException:
                if cancelled is not None:
                    # The plan reported the cancellation as an error (an outcome that may
                    # have been sent): that is on its claim; the task still ends cancelled.
                    raise cancelled from None
                raise
            send_value = None
            try:
                if cancelled is not None:
                    send_value = await _closing(effect, now, cancelled)
                elif type(effect) is Now:  # answered in place: no coroutine for a clock read
                    send_value = now()
                elif type(effect) is Perform and transport_for is not None:
                    # The request itself, awaited in place (what _perform does for it).
                    transport = transport_for(effect.transport)
                    deadline = monotonic_deadline(effect.deadline, now)
                    if is_async_transport(transport):
                        send_value = await transport.perform(effect.request, deadline=deadline)
                    else:
                        send_value = await asyncio.to_thread(
                            transport.perform, effect.request, deadline=deadline)
                else:
                    send_value = await _perform(effect, now, sleep, transport_for)
            except asyncio.CancelledError as exc:
                if cancelled is None:
                    cancelled = exc
                failure = exc
                del exc
            except BaseException as exc:  # thrown into the plan, which decides
                failure = exc
                del exc
    finally:
        plan.close()  # a plan left at a yield (this coroutine closed) runs no more effects


async def _perform(
    effect: Any,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[Any]],
    transport_for: Callable[[Any], Any] | None,
) -> Any:
    kind = type(effect)
    if kind is Perform:
        transport = effect.transport if transport_for is None else transport_for(
            effect.transport)
        deadline = monotonic_deadline(effect.deadline, clock)
        if is_async_transport(transport):
            return await transport.perform(effect.request, deadline=deadline)
        return await asyncio.to_thread(transport.perform, effect.request, deadline=deadline)
    if kind is Now:
        return clock()
    if kind is Sleep:
        await sleep(effect.seconds)
        return None
    if kind is Call:
        return await _call(effect, clock)
    raise TypeError(f"a plan yielded {kind.__name__}, which is not an effect")


async def _call(effect: Call, clock: Callable[[], float]) -> Any:
    # In this order: the effect's own coroutine; an in-memory store, called directly; a
    # store operation's async twin (``abegin`` for ``begin``: the Redis stores on
    # redis.asyncio, see smsgate.stores._twins), awaited; else a worker thread.
    function = effect.async_function
    if function is None:
        if isinstance(getattr(effect.function, "__self__", None), _IN_MEMORY):
            return effect.function(*effect.args, **effect.kwargs)
        function = async_twin(effect.function)
    if function is not None:
        if effect.deadline is None:
            return await function(*effect.args, **effect.kwargs)
        return await _in_scope(effect, clock, function)
    if effect.deadline is None:
        return await asyncio.to_thread(effect.function, *effect.args, **effect.kwargs)
    return await _in_scope(effect, clock, None)


async def _in_scope(
    effect: Call, clock: Callable[[], float], function: Callable[..., Any] | None
) -> Any:
    """Run the call with its deadline in force for the HTTP exchanges it makes: the
    transports read it from a context variable, which the worker thread of
    :func:`asyncio.to_thread` inherits (it runs in a copy of this task's context)."""
    with deadline_scope(monotonic_deadline(effect.deadline, clock)):
        if function is not None:
            return await function(*effect.args, **effect.kwargs)
        return await asyncio.to_thread(effect.function, *effect.args, **effect.kwargs)


def _closes(effect: Any) -> bool:
    """Whether ``effect`` is a store call that only closes what the plan opened."""
    if type(effect) is not Call:
        return False
    function = effect.function
    owner = getattr(function, "__self__", None)
    return (getattr(function, "__name__", "") in _CLOSING
            and isinstance(owner, (BreakerStore, ClaimStore)))


async def _closing(
    effect: Any, clock: Callable[[], float], cancelled: asyncio.CancelledError
) -> Any:
    """An effect asked for after a cancellation (see the module docstring)."""
    if type(effect) is Now:
        return clock()
    if not _closes(effect):
        raise cancelled  # nothing new after a cancellation: no request, sleep or claim
    job = asyncio.ensure_future(_call(effect, clock))
    while True:
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            if job.done():
                return job.result()
            # A second cancellation: the claim or permit is settled first (a store call
            # is short), then the task ends cancelled all the same.

