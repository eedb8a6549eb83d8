"""MemoryBreakerStore: the gateway's breaker rules, shared by every caller of one store."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from smsgate.gateway import BreakerPolicy, CircuitBreaker
from smsgate.stores import BreakerOutcome, BreakerPermit, BreakerStore, MemoryBreakerStore

from .conftest import FakeClock

POLICY = BreakerPolicy(failure_threshold=3, reset_timeout=30.0)
KEY = "gosms.ge https://api.gosms.ge"




@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> MemoryBreakerStore:
    return MemoryBreakerStore(clock=clock)


@pytest.fixture
def busy_threads() -> Iterator[None]:
    """Switch threads as often as possible, so that a missing lock shows."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def open_circuit(store: BreakerStore, key: str = KEY) -> None:
    for _ in range(POLICY.failure_threshold):
        permit = store.admit(key, POLICY)
        assert permit == "pass"
        store.record(key, permit, "failure", policy=POLICY)
    assert store.state(key, POLICY) == "open"


def test_memory_store_satisfies_the_protocol() -> None:
    assert isinstance(MemoryBreakerStore(), BreakerStore)


def test_closed_passes_and_counts_only_consecutive_failures(store: MemoryBreakerStore) -> None:
    assert store.state(KEY, POLICY) == "closed"
    for _ in range(3):
        for _ in range(POLICY.failure_threshold - 1):
            store.record(KEY, store.admit(KEY, POLICY), "failure", policy=POLICY)
        store.record(KEY, store.admit(KEY, POLICY), "success", policy=POLICY)
    assert store.state(KEY, POLICY) == "closed"
    assert store.admit(KEY, POLICY) == "pass"


def test_threshold_opens_and_an_open_circuit_denies(
    store: MemoryBreakerStore, clock: FakeClock
) -> None:
    open_circuit(store)
    clock.advance(POLICY.reset_timeout - 0.001)
    assert store.admit(KEY, POLICY) == "deny"
    assert store.state(KEY, POLICY) == "open"
    clock.advance(0.001)
    assert store.state(KEY, POLICY) == "half-open"


def test_the_probe_decides(store: MemoryBreakerStore, clock: FakeClock) -> None:
    open_circuit(store)
    clock.advance(POLICY.reset_timeout)
    assert store.admit(KEY, POLICY) == "probe"
    assert store.admit(KEY, POLICY) == "deny"  # one probe at a time
    store.record(KEY, "probe", "failure", policy=POLICY)
    # A failed probe opens the circuit for a whole new window.
    assert store.state(KEY, POLICY) == "open"
    clock.advance(POLICY.reset_timeout - 0.001)
    assert store.admit(KEY, POLICY) == "deny"
    clock.advance(0.001)
    assert store.admit(KEY, POLICY) == "probe"
    store.record(KEY, "probe", "success", policy=POLICY)
    assert store.state(KEY, POLICY) == "closed"
    assert [store.admit(KEY, POLICY) for _ in range(5)] == ["pass"] * 5
    # ... and the failure count started again from zero.
    for _ in range(POLICY.failure_threshold - 1):
        store.record(KEY, "pass", "failure", policy=POLICY)
    assert store.state(KEY, POLICY) == "closed"


@pytest.mark.parametrize("how", ["neutral", "release"])
def test_a_probe_that_learned_nothing_frees_its_slot_and_changes_nothing(
    store: MemoryBreakerStore, clock: FakeClock, how: str
) -> None:
    open_circuit(store)
    clock.advance(POLICY.reset_timeout)
    assert store.admit(KEY, POLICY) == "probe"
    if how == "neutral":
        store.record(KEY, "probe", "neutral", policy=POLICY)
    else:
        store.release(KEY, "probe")
    assert store.state(KEY, POLICY) == "half-open"  # not closed, not re-opened
    assert store.admit(KEY, POLICY) == "probe"  # the next caller probes at once


def test_neutral_on_a_pass_changes_nothing(store: MemoryBreakerStore) -> None:
    for _ in range(POLICY.failure_threshold - 1):
        store.record(KEY, "pass", "failure", policy=POLICY)
    store.record(KEY, "pass", "neutral", policy=POLICY)
    store.release(KEY, "pass")
    store.release(KEY, "deny")
    assert store.state(KEY, POLICY) == "closed"
    store.record(KEY, "pass", "failure", policy=POLICY)  # the count was kept
    assert store.state(KEY, POLICY) == "open"


def test_a_probe_that_never_reports_is_forgotten_after_its_lease(
    store: MemoryBreakerStore, clock: FakeClock
) -> None:
    open_circuit(store)
    clock.advance(POLICY.reset_timeout)
    assert store.admit(KEY, POLICY) == "probe"  # ... and its caller dies
    clock.advance(POLICY.reset_timeout - 0.001)
    assert store.admit(KEY, POLICY) == "deny"
    clock.advance(0.001)
    assert store.admit(KEY, POLICY) == "probe"
    assert store.admit(KEY, POLICY) == "deny"


def test_an_explicit_probe_lease(clock: FakeClock) -> None:
    store = MemoryBreakerStore(clock=clock, probe_lease=5)
    open_circuit(store)
    clock.advance(POLICY.reset_timeout)
    assert store.admit(KEY, POLICY) == "probe"
    clock.advance(4.999)
    assert store.admit(KEY, POLICY) == "deny"
    clock.advance(0.001)
    assert store.admit(KEY, POLICY) == "probe"


@pytest.mark.parametrize("lease", [0, -1, float("nan"), float("inf"), True])
def test_probe_lease_is_checked(lease: object) -> None:
    with pytest.raises(ValueError, match="probe_lease"):
        MemoryBreakerStore(probe_lease=lease)  # type: ignore[arg-type]


def test_bad_permits_and_outcomes_are_refused(store: MemoryBreakerStore) -> None:
    with pytest.raises(ValueError, match="permit"):
        store.record(KEY, "deny", "failure", policy=POLICY)
    with pytest.raises(ValueError, match="outcome"):
        store.record(KEY, "pass", "boom", policy=POLICY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="permit"):
        store.release(KEY, "probe!")  # type: ignore[arg-type]
    assert store.state(KEY, POLICY) == "closed"


def test_keys_are_independent_and_shared_by_every_user_of_the_store(
    store: MemoryBreakerStore,
) -> None:
    open_circuit(store, "a")
    assert store.admit("b", POLICY) == "pass"
    # Two gateways holding the same store and naming the same provider key share the circuit.
    first_gateway, second_gateway = store, store
    assert first_gateway.admit("a", POLICY) == second_gateway.admit("a", POLICY) == "deny"


def test_32_threads_get_exactly_one_probe_per_reset_window(
    store: MemoryBreakerStore, clock: FakeClock, busy_threads: None
) -> None:
    threads_count, windows = 32, 6
    open_circuit(store)
    start, asked, done = (threading.Barrier(threads_count + 1) for _ in range(3))
    permits: list[list[BreakerPermit]] = [[] for _ in range(windows + 1)]
    lock = threading.Lock()

    def caller() -> None:
        for window in range(windows + 1):
            start.wait(timeout=60)
            mine = [store.admit(KEY, POLICY) for _ in range(3)]
            with lock:
                permits[window].extend(mine)
            # Every thread asks while the probe is still in flight (its request is slow).
            asked.wait(timeout=60)
            for permit in mine:
                if permit == "probe":
                    # The last window's probe succeeds; the others fail and re-open.
                    outcome: BreakerOutcome = (
                        "success" if window == windows - 1 else "failure")
                    store.record(KEY, permit, outcome, policy=POLICY)
            done.wait(timeout=60)

    workers = [threading.Thread(target=caller) for _ in range(threads_count)]
    for worker in workers:
        worker.start()
    for window in range(windows + 1):
        if window < windows:
            clock.advance(POLICY.reset_timeout)  # a new window opens for exactly one probe
        start.wait(timeout=60)
        asked.wait(timeout=60)
        done.wait(timeout=60)
    for worker in workers:
        worker.join(timeout=60)

    for window in range(windows):
        got = permits[window]
        assert got.count("probe") == 1, (window, got.count("probe"))
        assert got.count("deny") == threads_count * 3 - 1, window
    # After the last probe succeeded, everyone passes.
    assert permits[windows] == ["pass"] * threads_count * 3
    assert store.state(KEY, POLICY) == "closed"


def _drive(
    admit: Callable[[], str | None],
    finish: Callable[[str, str], None],
    state: Callable[[], str],
    clock: FakeClock,
    rng: random.Random,
) -> list[tuple[str | None, str]]:
    trace: list[tuple[str | None, str]] = []
    for _ in range(300):
        clock.advance(rng.choice([0.0, 0.5, 5.0, 15.0, 31.0]))
        permit = admit()
        if permit is not None:
            finish(permit, rng.choice(["success", "failure", "failure", "failure", "neutral"]))
        trace.append((permit, state()))
    return trace


@pytest.mark.parametrize("seed", range(20))
def test_same_decisions_as_the_gateways_circuit_breaker(seed: int) -> None:
    """One caller at a time: the store decides exactly as ``CircuitBreaker`` always did."""
    clock_a, clock_b = FakeClock(), FakeClock()
    breaker = CircuitBreaker(POLICY, clock_a)
    store = MemoryBreakerStore(clock=clock_b)

    def breaker_finish(permit: str, outcome: str) -> None:
        if outcome == "success":
            breaker.success()
        elif outcome == "failure":
            breaker.failure()
        else:
            breaker.release("probe" if permit == "probe" else "pass")

    def store_admit() -> str | None:
        permit = store.admit(KEY, POLICY)
        return None if permit == "deny" else permit

    def store_finish(permit: str, outcome: str) -> None:
        assert permit in ("pass", "probe")
        store.record(KEY, "probe" if permit == "probe" else "pass",
                     outcome, policy=POLICY)  # type: ignore[arg-type]

    expected = _drive(breaker.admit, breaker_finish, lambda: breaker.state, clock_a,
                      random.Random(seed))
    actual = _drive(store_admit, store_finish, lambda: store.state(KEY, POLICY), clock_b,
                    random.Random(seed))
    assert actual == expected
    assert {permit for permit, _ in expected} == {"pass", "probe", None}
