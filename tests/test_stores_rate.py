"""MemoryRateLimiter: never more than ``count`` in any window of ``period``, and no waste."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.errors import ConfigurationError
from smsgate.stores import MemoryRateLimiter, Rate, RateLimiter

from .conftest import FakeClock


def window_overflow(bookings: list[tuple[float, int]], rate: Rate) -> float | None:
    """The start of a half-open window ``[a, a + period)`` holding more than ``count``
    booked slots, or None. The fullest window starts at some booking, so those suffice."""
    starts = sorted(bookings)
    for i, (a, _) in enumerate(starts):
        held = sum(cost for start, cost in starts[i:] if start < a + rate.period)
        if held > rate.count:
            return a
    return None


def test_memory_limiter_satisfies_the_protocol() -> None:
    assert isinstance(MemoryRateLimiter(), RateLimiter)


def test_a_burst_of_count_then_one_slot_per_window() -> None:
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(3, 1.0)
    waits = [limiter.reserve("k", rate) for _ in range(9)]
    assert waits == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]


def test_a_token_bucket_burst_is_not_allowed() -> None:
    """A bucket of 3 would allow 3 at t=0 and one more at t=1/3: 4 in one second."""
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(3, 1.0)
    assert [limiter.reserve("k", rate) for _ in range(3)] == [0.0] * 3
    clock.advance(rate.interval)
    assert limiter.reserve("k", rate) == pytest.approx(1.0 - rate.interval)


def test_slots_free_up_as_the_window_slides() -> None:
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(2, 10.0)
    assert limiter.reserve("k", rate) == 0.0
    clock.advance(4)
    assert limiter.reserve("k", rate) == 0.0
    clock.advance(5)  # t=9: the first slot (t=0) frees at t=10
    assert limiter.reserve("k", rate) == pytest.approx(1.0)
    clock.advance(1)  # t=10
    assert limiter.reserve("k", rate) == pytest.approx(4.0)  # after the t=4 slot


def test_cost_books_several_slots_at_once() -> None:
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(5, 1.0)
    assert limiter.reserve("k", rate, cost=3) == 0.0
    assert limiter.reserve("k", rate, cost=3) == 1.0  # only 2 left in this window
    assert limiter.reserve("k", rate, cost=2) == 1.0  # 3 + 2 = 5 in [1, 2)
    assert limiter.reserve("k", rate, cost=1) == 2.0


@pytest.mark.parametrize("cost", [0, -1, 1.5, True, 4])
def test_cost_is_checked(cost: object) -> None:
    limiter = MemoryRateLimiter()
    with pytest.raises(ValueError, match="cost"):
        limiter.reserve("k", Rate(3, 1.0), cost=cost)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cost"):
        limiter.peek("k", Rate(3, 1.0), cost=cost)  # type: ignore[arg-type]


def test_max_wait_books_nothing_when_the_wait_is_longer() -> None:
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(1, 60.0)
    assert limiter.reserve("k", rate, max_wait=0) == 0.0
    assert limiter.reserve("k", rate, max_wait=5) == 60.0  # too long: not booked
    assert limiter.reserve("k", rate, max_wait=5) == 60.0  # so the wait did not grow
    assert limiter.reserve("k", rate, max_wait=60) == 60.0  # fits: booked
    assert limiter.peek("k", rate) == 120.0
    assert limiter.reserve("fresh", rate, max_wait=0) == 0.0


@pytest.mark.parametrize("max_wait", [-1, float("nan"), "1"])
def test_max_wait_is_checked(max_wait: object) -> None:
    with pytest.raises(ValueError, match="max_wait"):
        MemoryRateLimiter().reserve("k", Rate(1), max_wait=max_wait)  # type: ignore[arg-type]


def test_peek_answers_without_booking_and_reset_forgets() -> None:
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(1, 2.0)
    assert limiter.peek("k", rate) == 0.0
    assert limiter.peek("k", rate) == 0.0
    assert limiter.reserve("k", rate) == 0.0
    assert limiter.peek("k", rate) == 2.0
    assert limiter.peek("k", rate) == 2.0
    limiter.reset("k")
    assert limiter.reserve("k", rate) == 0.0
    limiter.reset("never-seen")


def test_keys_are_paced_independently() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock(500.0))
    rate = Rate(1, 1.0)
    assert limiter.reserve("gosms.ge", rate) == 0.0
    assert limiter.reserve("smsgist", rate) == 0.0
    assert limiter.reserve("gosms.ge", rate) == 1.0


def test_first_come_first_served() -> None:
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(4, 1.0)
    starts = []
    for cost in [4, 1, 3, 1, 4, 2, 2, 1]:
        starts.append(clock.now + limiter.reserve("k", rate, cost=cost))
        clock.advance(0.1)
    assert starts == sorted(starts)


def test_memory_per_key_stays_bounded_by_count() -> None:
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(5, 1.0)
    for _ in range(10_000):
        limiter.reserve("k", rate)
        clock.advance(0.01)
    assert len(limiter._logs["k"]) <= rate.count


def test_idle_keys_are_forgotten() -> None:
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(1, 10.0)
    for n in range(5000):  # one key per recipient, say
        limiter.reserve(f"+99555500{n:04d}", rate)
        clock.advance(0.01)
    assert len(limiter._logs) < 2100  # only keys booked within the last period (+ a sweep)
    assert limiter.peek(f"+99555500{4999:04d}", rate) > 0  # a live key is still paced
    clock.advance(10)
    for _ in range(2000):
        limiter.reserve("busy", Rate(10_000, 1.0))
    assert set(limiter._logs) == {"busy"}


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(1, 8),
    period=st.sampled_from([0.1, 1.0, 2.5, 60.0]),
    steps=st.lists(
        st.tuples(st.floats(0, 2, allow_nan=False), st.integers(1, 8),
                  st.one_of(st.none(), st.floats(0, 3, allow_nan=False))),
        max_size=60,
    ),
)
def test_no_window_ever_holds_more_than_count(
    count: int, period: float, steps: list[tuple[float, int, float | None]]
) -> None:
    rate = Rate(count, period)
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    booked: list[tuple[float, int]] = []
    told_zero: list[tuple[float, int]] = []
    for advance, cost, max_wait in steps:
        clock.advance(advance * period)
        cost = min(cost, count)
        limit = None if max_wait is None else max_wait * period
        wait = limiter.reserve("k", rate, cost=cost, max_wait=limit)
        assert wait >= 0.0
        if limit is not None and wait > limit:
            continue  # refused: nothing booked
        booked.append((clock.now + wait, cost))
        if wait == 0.0:
            told_zero.append((clock.now, cost))
    assert window_overflow(told_zero, rate) is None
    assert window_overflow(booked, rate) is None


@pytest.mark.parametrize(("rate", "cost"), [(Rate(10, 1.0), 1), (Rate(8, 3.0), 2),
                                            (Rate(1, 0.5), 1), (Rate(100, 60.0), 5)])
def test_a_driver_that_waits_as_told_uses_the_whole_rate(rate: Rate, cost: int) -> None:
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    began = clock.now
    horizon = began + 200 * rate.period
    sent = 0
    while True:
        wait = limiter.reserve("k", rate, cost=cost)
        clock.advance(wait)
        if clock.now >= horizon:
            break
        sent += cost
    utilisation = sent / (rate.count * (horizon - began) / rate.period)
    assert 0.9 <= utilisation <= 1.0


def test_many_callers_arriving_at_random_still_fill_the_rate() -> None:
    """Four senders that each wait as told, taking turns in a simulated timeline."""
    clock = FakeClock(500.0)
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(20, 1.0)
    ready = [clock.now] * 4  # when each sender may ask again
    horizon = clock.now + 100.0
    booked: list[tuple[float, int]] = []
    while True:
        who = min(range(4), key=ready.__getitem__)
        clock.now = max(clock.now, ready[who])
        if clock.now >= horizon:
            break
        start = clock.now + limiter.reserve("k", rate)
        booked.append((start, 1))
        ready[who] = start + 0.013 * (who + 1)  # each sender's own send time
    in_horizon = [b for b in booked if b[0] < horizon]
    assert len(in_horizon) >= 0.9 * rate.count * 100
    assert window_overflow(booked, rate) is None


def test_threads_reserving_at_once_never_overbook() -> None:
    clock = FakeClock(500.0)  # frozen: every thread asks at the same instant
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(10, 1.0)
    barrier = threading.Barrier(16)
    waits: list[float] = []
    lock = threading.Lock()

    def sender() -> None:
        barrier.wait(timeout=60)
        mine = [limiter.reserve("k", rate) for _ in range(25)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=sender) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(waits) == 400
    assert waits.count(0.0) == rate.count
    # 400 slots at 10 per second: exactly 10 at each whole second 0..39.
    assert sorted(waits) == [float(second) for second in range(40) for _ in range(10)]


# -- Rate -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("10/s", Rate(10, 1.0)), ("600/min", Rate(600, 60.0)), ("5/2s", Rate(5, 2.0)),
    ("10000/day", Rate(10000, 86400.0)), (" 3 / 1.5 h ", Rate(3, 5400.0)),
    ("1/SECOND", Rate(1, 1.0)),
])
def test_rate_parse(text: str, expected: Rate) -> None:
    assert Rate.parse(text) == expected


@pytest.mark.parametrize("text", ["", "10", "10/", "10/fortnight", "-1/s", "0/s", "1.5/s",
                                  "10/0s"])
def test_rate_parse_refuses_nonsense(text: str) -> None:
    with pytest.raises(ConfigurationError):
        Rate.parse(text)


@pytest.mark.parametrize(("count", "period"), [(0, 1.0), (1.5, 1.0), (True, 1.0), (1, 0),
                                               (1, -1.0), (1, float("inf")),
                                               (1, float("nan"))])
def test_rate_is_checked(count: object, period: object) -> None:
    with pytest.raises(ConfigurationError):
        Rate(count, period)  # type: ignore[arg-type]


def test_rate_interval_and_default_period() -> None:
    assert Rate(4).period == 1.0
    assert Rate(4, 2.0).interval == 0.5
