"""Circuit-breaker state kept in a store, shared by every gateway that shares the store.

The rules are those of :class:`smsgate.gateway.CircuitBreaker`, moved out of the gateway so
that breaker state can outlive one ``Gateway`` object and be shared: two gateways (or, with a
shared store, two processes) that send through the same provider see the same open circuit,
and exactly one half-open probe goes out among all of them.

Breakers are keyed by a stable provider key (a string chosen by the gateway, e.g. the
registry name and base URL), never by ``id(provider)``: an id is reused after garbage
collection and means nothing in another process.

* **closed**: every call passes; consecutive system failures are counted.
* **open** (``failure_threshold`` reached, or the probe failed): calls are denied, so a sick
  provider gets zero requests, until ``reset_timeout`` has passed.
* **half-open**: exactly one caller gets the ``"probe"``; its success closes the circuit, its
  failure opens it for another ``reset_timeout``.

Every admitted call must end in :meth:`BreakerStore.record` or :meth:`BreakerStore.release`,
or its probe slot stays taken. Because a caller can die without doing so (a killed process
holding the probe of a shared store), a probe slot is also a lease: after ``probe_lease``
seconds (by default the policy's ``reset_timeout``) with no word from the probe, the next
caller may probe. That keeps "one probe per reset window" without letting a lost probe
wedge the circuit open for ever. A permit names no holder, so a forgotten probe that reports
after all is taken at its word: its success closes the circuit and its failure re-opens it
(both are real news about the provider); its release frees the slot the newer probe holds, which
at worst lets one more probe through in that window.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:  # the gateway will import this module: no import cycle at run time
    from ..gateway import BreakerPolicy

__all__ = [
    "BreakerOutcome",
    "BreakerPermit",
    "BreakerState",
    "BreakerStore",
    "MemoryBreakerStore",
]

#: What :meth:`BreakerStore.admit` answers: go, go as the one probe, or make no request.
BreakerPermit = Literal["pass", "probe", "deny"]
#: What an admitted call reports: the provider was healthy, unwell, or not reached at all.
BreakerOutcome = Literal["success", "failure", "neutral"]
#: Where a circuit is.
BreakerState = Literal["closed", "open", "half-open"]

_PERMITS: Final = ("pass", "probe", "deny")
_OUTCOMES: Final = ("success", "failure", "neutral")


@runtime_checkable
class BreakerStore(Protocol):
    """Where circuit breakers live; every method is atomic for all callers of the store."""

    def admit(self, key: str, policy: BreakerPolicy) -> BreakerPermit:
        """``"pass"`` (closed), ``"probe"`` (the one half-open probe) or ``"deny"`` (open,
        or another caller holds the probe): make no request on ``"deny"``."""
        ...

    def record(
        self, key: str, permit: BreakerPermit, outcome: BreakerOutcome, *,
        policy: BreakerPolicy,
    ) -> None:
        """End an admitted call. ``"success"`` closes the circuit; ``"failure"`` counts a
        system failure and opens it at the threshold (at once for a probe); ``"neutral"``
        (refused before any request: nothing reached the provider) changes nothing but frees
        the probe slot it held."""
        ...

    def release(self, key: str, permit: BreakerPermit) -> None:
        """End an admitted call that said nothing about the provider's health (an unexpected
        exception): frees its probe slot, if it held one. ``"pass"`` and ``"deny"`` are
        accepted and change nothing, so a driver can call it unconditionally."""
        ...

    def state(self, key: str, policy: BreakerPolicy) -> BreakerState:
        """``"closed"``, ``"open"`` or ``"half-open"`` (for display and tests)."""
        ...


@attrs.define
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    #: When the current probe was admitted (None: no probe in flight).
    probe_at: float | None = None


def _check_permit(permit: object, allowed: tuple[str, ...]) -> None:
    if permit not in allowed:
        raise ValueError(f"permit must be one of {', '.join(allowed)}, not {permit!r}")


class MemoryBreakerStore:
    """Breakers in this process's memory, guarded by one lock (never held during a send).

    Args:
        clock: monotonic seconds (injectable for tests). In-process state needs no wall
            clock, and a monotonic one cannot jump when the system time is set.
        probe_lease: seconds after which a probe that never reported is forgotten and the
            next caller may probe; ``None`` means the policy's ``reset_timeout``.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        probe_lease: float | None = None,
    ) -> None:
        self._clock = clock
        self._probe_lease = check_probe_lease(probe_lease)
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}

    def __repr__(self) -> str:
        return f"<MemoryBreakerStore circuits={len(self._circuits)}>"

    def _lease(self, policy: BreakerPolicy) -> float:
        return policy.reset_timeout if self._probe_lease is None else self._probe_lease

    def admit(self, key: str, policy: BreakerPolicy) -> BreakerPermit:
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is None or circuit.opened_at is None:
                return "pass"
            return admit_rule(circuit, self._clock(), policy, self._lease(policy))

    def record(
        self, key: str, permit: BreakerPermit, outcome: BreakerOutcome, *,
        policy: BreakerPolicy,
    ) -> None:
        check_record(permit, outcome)
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is None:
                if outcome == "neutral":
                    return
                circuit = self._circuits[key] = _Circuit()
            record_rule(circuit, permit, outcome, self._clock, policy)

    def release(self, key: str, permit: BreakerPermit) -> None:
        _check_permit(permit, _PERMITS)
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is not None:
                free_probe(circuit, permit)

    def state(self, key: str, policy: BreakerPolicy) -> BreakerState:
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is None or circuit.opened_at is None:
                return "closed"
            return state_rule(circuit, self._clock(), policy)


# -- the rules, applied to one circuit's record (shared by every breaker store) --------------


def check_probe_lease(probe_lease: float | None) -> float | None:
    """``probe_lease`` if it is ``None`` or a finite number of seconds > 0."""
    if probe_lease is not None and (
        isinstance(probe_lease, bool)
        or not isinstance(probe_lease, (int, float))
        or not math.isfinite(probe_lease)
        or probe_lease <= 0
    ):
        raise ValueError("probe_lease must be a finite number of seconds > 0, or None")
    return probe_lease


def check_record(permit: object, outcome: object) -> None:
    """Refuse a permit or outcome :meth:`BreakerStore.record` does not take."""
    _check_permit(permit, ("pass", "probe"))
    if outcome not in _OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(_OUTCOMES)}, not {outcome!r}")


def admit_rule(
    circuit: _Circuit, now: float, policy: BreakerPolicy, probe_lease: float
) -> BreakerPermit:
    """:meth:`BreakerStore.admit` on ``circuit`` at ``now`` (a probe is marked on it)."""
    if circuit.opened_at is None:
        return "pass"
    if now - circuit.opened_at < policy.reset_timeout:
        return "deny"
    if circuit.probe_at is not None and now - circuit.probe_at < probe_lease:
        return "deny"
    circuit.probe_at = now
    return "probe"


def record_rule(
    circuit: _Circuit, permit: BreakerPermit, outcome: BreakerOutcome,
    clock: Callable[[], float], policy: BreakerPolicy,
) -> None:
    """:meth:`BreakerStore.record` on ``circuit`` (``clock`` is read only to open it)."""
    if outcome == "neutral":
        free_probe(circuit, permit)
        return
    if outcome == "success":
        circuit.failures = 0
        circuit.opened_at = None
        circuit.probe_at = None
        return
    circuit.failures += 1
    if permit == "probe" or circuit.failures >= policy.failure_threshold:
        # (Re)open: a new reset window, with a new probe at its end.
        circuit.opened_at = clock()
        circuit.probe_at = None


def free_probe(circuit: _Circuit, permit: BreakerPermit) -> None:
    """Free the probe slot ``permit`` held, if it was the probe."""
    if permit == "probe":
        circuit.probe_at = None


def state_rule(circuit: _Circuit, now: float, policy: BreakerPolicy) -> BreakerState:
    """Where ``circuit`` is at ``now``."""
    if circuit.opened_at is None:
        return "closed"
    if now - circuit.opened_at >= policy.reset_timeout:
        return "half-open"
    return "open"
