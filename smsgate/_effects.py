"""What a send plan asks its driver to do, and the synchronous driver.

A *plan* is a generator that does no I/O, no sleeping and no clock reading of its own: it
yields effects (:class:`Perform` an HTTP exchange, :class:`Sleep`, read the clock with
:class:`Now`, :class:`Call` a blocking function such as a custom provider's ``send`` or a
state store) and receives each effect's result, or has the effect's exception thrown into
it. Its return value is the plan's result. The same plan runs under :func:`run` (threads,
scripts) and under the async driver of ``smsgate.aio``: the drivers differ only in how they
perform an effect, never in what a send decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

import attrs

if TYPE_CHECKING:
    from ._wire import HttpRequest

__all__ = [
    "NOW", "Call", "Effect", "Now", "Perform", "Plan", "Sleep", "monotonic_deadline", "run",
]

_T = TypeVar("_T")


@attrs.frozen
class Perform:
    """Make one HTTP exchange through ``transport``; the result is its ``HttpResponse``.

    ``deadline`` is an instant on the driver's clock (what :class:`Now` returns) the
    exchange must end by (``None``: only the transport's own timeouts bound it). The driver
    hands the transport the same instant on :func:`time.monotonic`.
    """

    transport: Any
    request: HttpRequest
    deadline: float | None = None


@attrs.frozen
class Sleep:
    """Wait ``seconds`` (a retry's backoff, a ``Retry-After``); the result is ``None``."""

    seconds: float


@attrs.frozen
class Now:
    """Read the driver's clock (monotonic seconds); the result is a float."""


@attrs.frozen
class Call:
    """Run a blocking callable (a custom provider's ``send``, a state store's operation).

    The async driver runs ``function`` in a worker thread, or awaits ``async_function``
    when one is given. ``deadline`` bounds the HTTP exchanges the call makes, as
    :attr:`Perform.deadline` does.
    """

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    deadline: float | None = None
    async_function: Callable[..., Any] | None = None


#: The one ``Now()`` the plans yield (it has no fields: every ``Now()`` is equal to it).
NOW: Final = Now()

Effect: TypeAlias = Perform | Sleep | Now | Call
#: A plan returning ``_T``: yields effects, receives their results.
Plan: TypeAlias = Generator[Effect, Any, _T]


def run(
    plan: Plan[_T],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """Drive ``plan`` to its end in this thread and return its result.

    An effect's exception (a ``ConnectError`` from the transport, a bug in a custom
    provider, a ``KeyboardInterrupt`` while sleeping) is thrown into the plan at the point
    that asked for it, so the plan decides what it means, exactly as the async driver does.
    """
    send_value: Any = None
    failure: BaseException | None = None
    while True:
        try:
            if failure is None:
                effect = plan.send(send_value)
            else:
                effect, failure = plan.throw(failure), None
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        send_value = None
        try:
            # The most frequent effect, Now, is answered in place.
            send_value = clock() if type(effect) is Now else _perform(effect, clock, sleep)
        except BaseException as exc:  # thrown into the plan, which decides
            failure = exc
            del exc


def monotonic_deadline(deadline: float | None, clock: Callable[[], float]) -> float | None:
    """``deadline`` (an instant on ``clock``) as an instant on :func:`time.monotonic`."""
    if deadline is None or clock is time.monotonic:
        return deadline
    return time.monotonic() + (deadline - clock())


def _perform(
    effect: Effect, clock: Callable[[], float], sleep: Callable[[float], None]
) -> Any:
    if type(effect) is Perform:
        return effect.transport.perform(
            effect.request, deadline=monotonic_deadline(effect.deadline, clock)
        )
    if type(effect) is Now:
        return clock()
    if type(effect) is Sleep:
        sleep(effect.seconds)
        return None
    if type(effect) is Call:
        if effect.deadline is None:
            return effect.function(*effect.args, **effect.kwargs)
        from ._wire import deadline_scope

        with deadline_scope(monotonic_deadline(effect.deadline, clock)):
            return effect.function(*effect.args, **effect.kwargs)
    raise TypeError(f"a plan yielded {type(effect).__name__}, which is not an effect")
