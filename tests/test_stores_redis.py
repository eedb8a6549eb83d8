"""The Redis stores against a real redis-server: the same rules as the memory stores.

The claim and breaker suites of ``test_stores_claims`` and ``test_stores_breakers`` run here
again, unchanged, with their ``store`` fixture answering a Redis store (same fake clock), so
every rule the memory and SQLite stores are held to holds for Redis too. Then what only a
shared server can show: several processes racing for one key, one probe, one pacing window.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from smsgate.gateway import BreakerPolicy
from smsgate.stores import (
    BreakerStore,
    ClaimState,
    ClaimStore,
    MemoryRateLimiter,
    Rate,
    RateLimiter,
    RedisBreakerStore,
    RedisClaimStore,
    RedisRateLimiter,
)

from . import test_stores_breakers as breaker_suite
from . import test_stores_claims as claim_suite
from .conftest import FakeClock
from .redis_server import RedisServer, redis_prefix, redis_server  # noqa: F401 (fixtures)
from .test_stores_breakers import busy_threads  # noqa: F401 (a fixture of the suite)
from .test_stores_rate import window_overflow

# The shared suites, collected again in this module (pytest collects what a module holds).
for _suite in (claim_suite, breaker_suite):
    for _name in dir(_suite):
        if _name.startswith("test_") and "memory" not in _name and "sqlite" not in _name:
            globals()[f"{_name}__{_suite.__name__.rsplit('_', 1)[-1]}"] = getattr(_suite, _name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def store(
    request: pytest.FixtureRequest, redis_server: RedisServer, redis_prefix: str,  # noqa: F811
    clock: FakeClock,
) -> Iterator[Any]:
    """A Redis claim store for the claim suite, a Redis breaker store for the breaker one."""
    breakers = request.function.__module__.endswith("breakers")
    made: Any = (RedisBreakerStore if breakers else RedisClaimStore)(
        redis_server.url, prefix=redis_prefix, clock=clock)
    yield made
    made.close()


# -- what only Redis can show ------------------------------------------------------------------


def test_the_redis_stores_satisfy_the_protocols(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    with RedisClaimStore(redis_server.url, prefix=redis_prefix) as claims, \
            RedisBreakerStore(redis_server.url, prefix=redis_prefix) as breakers, \
            RedisRateLimiter(redis_server.url, prefix=redis_prefix) as limiter:
        assert isinstance(claims, ClaimStore)
        assert isinstance(breakers, BreakerStore)
        assert isinstance(limiter, RateLimiter)


def test_a_password_in_the_url_never_shows_in_a_repr(redis_server: RedisServer) -> None:  # noqa: F811
    url = redis_server.url.replace("redis://", "redis://:s3cret-pass@")
    for kind in (RedisClaimStore, RedisBreakerStore, RedisRateLimiter):
        made = kind(url, prefix="x:")
        assert "s3cret" not in repr(made)
        made.close()


def test_the_server_clock_runs_leases_out(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    """No injected clock: Redis's TIME decides, and an expired lease reads UNKNOWN."""
    with RedisClaimStore(redis_server.url, prefix=redis_prefix) as store:
        won, claim = store.begin("k", lease=0.2)
        assert won and claim.state is ClaimState.SENDING
        assert store.begin("k", lease=0.2)[0] is False  # held
        time.sleep(0.4)
        again, seen = store.begin("k", lease=0.2)
        assert not again and seen.state is ClaimState.UNKNOWN
        assert [c.key for c in store.find(ClaimState.UNKNOWN)] == ["k"]


def test_find_sees_expired_leases_without_anyone_reading_them(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    clock = FakeClock(1_700_000_000.0)
    with RedisClaimStore(redis_server.url, prefix=redis_prefix, clock=clock) as store:
        for key in ("a", "b", "c"):
            store.begin(key, lease=10 if key != "b" else 100)
        clock.advance(50)
        assert [c.key for c in store.find(ClaimState.UNKNOWN)] == ["a", "c"]
        assert [c.key for c in store.find(ClaimState.SENDING)] == ["b"]


def test_claims_never_expire_by_ttl(redis_server: RedisServer, redis_prefix: str) -> None:  # noqa: F811
    import redis

    client = redis.Redis.from_url(redis_server.url)
    with RedisClaimStore(client, prefix=redis_prefix) as store:
        _, claim = store.begin("k", lease=5)
        store.finish("k", claim.token or "", ClaimState.ACCEPTED, payload={"id": "1"})
        keys = client.keys(f"{redis_prefix}*")
        assert keys and all(client.ttl(k) == -1 for k in keys)
    client.close()


def test_the_limiter_paces_exactly_as_the_memory_one(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    """Random reservations, peeks and waits: the same answers from both limiters."""
    rng = random.Random(7)
    clock = FakeClock(10_000.0)
    memory = MemoryRateLimiter(clock=clock)
    with RedisRateLimiter(redis_server.url, prefix=redis_prefix, clock=clock) as shared:
        rates = {"a": Rate(3, 1.0), "b": Rate(5, 2.5), "c": Rate(1, 0.5)}
        for _ in range(600):
            key = rng.choice("abc")
            rate = rates[key]
            cost = rng.randint(1, rate.count)
            action = rng.random()
            if action < 0.6:
                max_wait = rng.choice([None, 0.0, 0.5, 2.0])
                assert shared.reserve(key, rate, cost=cost, max_wait=max_wait) == \
                    pytest.approx(memory.reserve(key, rate, cost=cost, max_wait=max_wait))
            elif action < 0.8:
                assert shared.peek(key, rate, cost=cost) == \
                    pytest.approx(memory.peek(key, rate, cost=cost))
            elif action < 0.82:
                shared.reset(key)
                memory.reset(key)
            else:
                clock.advance(rng.choice([0.01, 0.1, 0.5, 1.0, 3.0]))


def test_pacing_logs_expire_once_they_cannot_matter(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    with RedisRateLimiter(client, prefix=redis_prefix) as limiter:
        limiter.reserve("k", Rate(2, 0.3))
        assert client.exists(f"{redis_prefix}k")
        time.sleep(0.6)
        assert not client.exists(f"{redis_prefix}k")
    client.close()


# -- several processes on one server -----------------------------------------------------------


def _race_for_claims(url: str, prefix: str, keys: list[str], out: Any) -> None:
    with RedisClaimStore(url, prefix=prefix) as store:
        won = [key for key in keys if store.begin(key, lease=60)[0]]
    out.put(won)


def test_processes_racing_for_keys_win_each_exactly_once(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    keys = [f"k{i}" for i in range(200)]
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [
        context.Process(target=_race_for_claims,
                        args=(redis_server.url, redis_prefix, random.Random(n).sample(keys, 200),
                              out))
        for n in range(4)
    ]
    for worker in workers:
        worker.start()
    wins = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    flat = [key for won in wins for key in won]
    assert sorted(flat) == sorted(keys), "every key won exactly once across the processes"


def _probe_once(url: str, prefix: str, out: Any) -> None:
    policy = BreakerPolicy(failure_threshold=1, reset_timeout=0.5)
    # A probe lease longer than the test: processes that start late on a loaded machine
    # must still find the first probe in flight (it never reports here).
    with RedisBreakerStore(url, prefix=prefix, probe_lease=60) as store:
        permits = [store.admit("provider", policy) for _ in range(20)]
    out.put(permits)


def test_exactly_one_probe_among_processes(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    policy = BreakerPolicy(failure_threshold=1, reset_timeout=0.5)
    with RedisBreakerStore(redis_server.url, prefix=redis_prefix) as store:
        store.record("provider", "pass", "failure", policy=policy)
        assert store.state("provider", policy) == "open"
        time.sleep(0.6)
        assert store.state("provider", policy) == "half-open"
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        workers = [context.Process(target=_probe_once, args=(redis_server.url, redis_prefix, out))
                   for _ in range(4)]
        for worker in workers:
            worker.start()
        permits = [p for _ in workers for p in out.get(timeout=60)]
        for worker in workers:
            worker.join(timeout=60)
        assert permits.count("probe") == 1
        assert set(permits) == {"probe", "deny"}


def _frozen() -> float:
    """One instant for every process: each booking's start is then exactly 1000 + wait."""
    return 1000.0


def _book(url: str, prefix: str, count: int, out: Any) -> None:
    with RedisRateLimiter(url, prefix=prefix, clock=_frozen) as limiter:
        out.put([limiter.reserve("provider", Rate(5, 1.0)) for _ in range(count)])


def test_processes_share_one_pacing_window(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    """4 processes x 10 bookings under 5/s at one instant: whatever the interleaving, the
    slots handed out are 5 per second for 8 seconds, never 6 in any window."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_book, args=(redis_server.url, redis_prefix, 10, out))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    waits = [w for _ in workers for w in out.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(waits) == [float(second) for second in range(8) for _ in range(5)]
    assert window_overflow([(1000.0 + w, 1) for w in waits], Rate(5, 1.0)) is None
