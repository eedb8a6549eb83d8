"""Pacing: keep our own sending under a rate, before the provider has to refuse us.

Why the limiter never sleeps. :meth:`RateLimiter.reserve` books a slot and answers how long
to wait for it; the driver waits its own way: ``time.sleep`` in the sync gateway, ``await
asyncio.sleep`` in the async one, a Celery ``countdown`` in a worker (which must not block a
process for minutes). A limiter that slept would fit only one of them, and would hold its
lock while asleep. The same design lets a caller with a deadline pass ``max_wait`` and move on
instead of booking a slot it could not use.

Why a sliding-window log rather than GCRA or a token bucket. The promise a user reads in
``Rate(10, 1.0)`` is "never more than 10 in any second", and providers that count requests
enforce exactly that kind of window. GCRA and token buckets with a burst of ``count`` allow
up to ``2 * count - 1`` in one window (a full burst at its start, then a refill of
``count - 1``), so they either break the promise or, without burst, forbid the bursts a
window allows. The log keeps the start times of the slots booked in the last period (at most
``count`` of them per key, as runs of equal times) and books a new one at the earliest time
at which no window of ``period`` seconds would hold more than ``count``: exact, bursts
allowed, full utilisation over a long run, and O(count) memory per key.

Slots are booked in arrival order (first come, first served): a later caller is never given
an earlier start than one already booked.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

import attrs

from ..errors import ConfigurationError

__all__ = ["MemoryRateLimiter", "Rate", "RateLimiter"]

_UNITS: Final = {
    "s": 1.0, "sec": 1.0, "second": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0,
    "h": 3600.0, "hour": 3600.0,
    "d": 86400.0, "day": 86400.0,
}
#: Reservations between two sweeps of idle keys (amortised: O(keys) once per this many).
_SWEEP_EVERY: Final = 1024
_RATE_TEXT: Final = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*")


def _check_count(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError("Rate.count must be a whole number >= 1")


def _check_period(value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError("Rate.period must be a finite number of seconds > 0")


@attrs.frozen
class Rate:
    """At most ``count`` sends in any ``period`` seconds (a pacing target of ours).

    Not to be confused with :class:`smsgate.RateLimit`, which is what a provider reports
    about its own limits in reply headers.
    """

    count: int = attrs.field(validator=lambda _i, _a, v: _check_count(v))
    period: float = attrs.field(default=1.0, validator=lambda _i, _a, v: _check_period(v))

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"10/s"``, ``"600/min"``, ``"5/2s"``, ``"10000/day"`` (as in configuration)."""
        match = _RATE_TEXT.fullmatch(text.lower()) if isinstance(text, str) else None
        if match is None or match.group(3) not in _UNITS:
            raise ConfigurationError(
                f"a rate looks like 10/s, 600/min, 5/2s or 10000/day, not {text!r}")
        count, multiple, unit = match.groups()
        return cls(int(count), float(multiple or 1) * _UNITS[unit])

    @property
    def interval(self) -> float:
        """The average seconds between sends at full rate."""
        return self.period / self.count


@runtime_checkable
class RateLimiter(Protocol):
    """Books send slots under a :class:`Rate`, per key (a provider key, a sender, ...)."""

    def reserve(
        self, key: str, rate: Rate, *, cost: int = 1, max_wait: float | None = None
    ) -> float:
        """Book ``cost`` slots and return the seconds to wait before using them (``0.0``:
        go now). Never sleeps. With ``max_wait``, a wait longer than it books nothing and
        is returned as is, so the caller can tell (``wait > max_wait``) and go elsewhere.
        A ``cost`` above ``rate.count`` could never be served and raises ``ValueError``."""
        ...

    def peek(self, key: str, rate: Rate, *, cost: int = 1) -> float:
        """The wait :meth:`reserve` would answer now, booking nothing."""
        ...

    def reset(self, key: str) -> None:
        """Forget every slot booked under ``key``."""
        ...


class MemoryRateLimiter:
    """A sliding-window log per key, in this process's memory, guarded by one lock.

    Use one :class:`Rate` per key; a key used with several rates is paced by each call's
    own rate against the slots kept so far.

    Args:
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        #: per key: runs of [start, cost], start times non-decreasing.
        self._logs: dict[str, deque[list[float]]] = {}
        #: per key: when its last booked slot stops mattering (start + period).
        self._idle_at: dict[str, float] = {}
        self._since_sweep = 0

    def __repr__(self) -> str:
        return f"<MemoryRateLimiter keys={len(self._logs)}>"

    def reserve(
        self, key: str, rate: Rate, *, cost: int = 1, max_wait: float | None = None
    ) -> float:
        _check_cost(cost, rate)
        check_max_wait(max_wait)
        with self._lock:
            now = self._clock()
            log = self._logs.setdefault(key, deque())
            wait, booked = book(log, rate, cost, now, max_wait)
            if not booked:
                if not log:
                    del self._logs[key]
                return wait
            self._idle_at[key] = now + wait + rate.period
            self._sweep(now)
            return wait

    def _sweep(self, now: float) -> None:
        """Now and then, forget keys with nothing left that could delay a booking, so that
        many short-lived keys (one per recipient, say) do not pile up in memory."""
        self._since_sweep += 1
        if self._since_sweep < _SWEEP_EVERY:
            return
        self._since_sweep = 0
        for key in [k for k, idle_at in self._idle_at.items() if idle_at <= now]:
            del self._idle_at[key]
            self._logs.pop(key, None)

    def peek(self, key: str, rate: Rate, *, cost: int = 1) -> float:
        _check_cost(cost, rate)
        with self._lock:
            now = self._clock()
            log = self._logs.get(key)
            if log is None:
                return 0.0
            _trim(log, rate, now)
            return _earliest(log, rate, cost, now) - now

    def reset(self, key: str) -> None:
        with self._lock:
            self._logs.pop(key, None)
            self._idle_at.pop(key, None)


def check_max_wait(max_wait: object) -> None:
    if max_wait is not None and (
        isinstance(max_wait, bool)
        or not isinstance(max_wait, (int, float))
        or math.isnan(max_wait)
        or max_wait < 0
    ):
        raise ValueError("max_wait must be a number of seconds >= 0, or None")


def book(
    log: deque[list[float]], rate: Rate, cost: int, now: float, max_wait: float | None
) -> tuple[float, bool]:
    """:meth:`RateLimiter.reserve` on one key's log: ``(wait, booked)``.

    The rule every limiter applies to its log (runs of ``[start, cost]``), so that the
    memory and the Redis limiters pace alike. Nothing is booked when the wait would exceed
    ``max_wait``.
    """
    _trim(log, rate, now)
    start = _earliest(log, rate, cost, now)
    wait = start - now
    if max_wait is not None and wait > max_wait:
        return wait, False
    if log and log[-1][0] == start:
        log[-1][1] += cost
    else:
        log.append([start, float(cost)])
    _trim(log, rate, now)
    return wait, True


def _check_cost(cost: object, rate: Rate) -> None:
    if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
        raise ValueError("cost must be a whole number >= 1")
    if cost > rate.count:
        raise ValueError(f"cost {cost} can never fit a rate of {rate.count} per "
                         f"{rate.period:g}s")


def _trim(log: deque[list[float]], rate: Rate, now: float) -> None:
    """Drop slots that can no longer share a window with any new booking (they started a
    full period before now), and slots older than the last ``count`` (only the ``count``
    most recent can decide a new booking)."""
    while log and log[0][0] + rate.period <= now:
        log.popleft()
    total = sum(run[1] for run in log)
    while log and total - log[0][1] >= rate.count:
        total -= log.popleft()[1]


def _earliest(log: deque[list[float]], rate: Rate, cost: int, now: float) -> float:
    """The earliest start, not before ``now`` nor before the last booked slot, at which the
    window of ``period`` ending there holds at most ``count - cost`` booked slots."""
    start = now
    if log:
        start = max(start, log[-1][0])
    room = rate.count - cost
    held = 0.0
    for run_start, run_cost in reversed(log):
        held += run_cost
        if held > room:
            # This run (and all before it) must lie a full period before the new slot.
            start = max(start, run_start + rate.period)
            break
    return start
