"""The Redis stores' async twins (``abegin``, ``aadmit``, ``areserve``, ...) on redis.asyncio,
against a real redis-server.

The claim and breaker suites of ``test_stores_claims`` and ``test_stores_breakers`` run here a
third time (after memory/SQLite and the blocking Redis stores), unchanged: their ``store``
fixture answers a facade whose every method awaits the store's async twin on an event loop,
and the store is given a ``redis.asyncio`` client only, so it has no blocking client to fall
back on. Then: the twins against the blocking methods on one random sequence, WATCH
contention between coroutines, the fallbacks, ``asyncio.run`` twice, and ``AsyncGateway``
end to end (no blocking call on the loop; a cancellation leaves the claim UNKNOWN).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

import smsgate
from smsgate.aio import AsyncGateway
from smsgate.errors import ConfigurationError
from smsgate.gateway import BreakerPolicy
from smsgate.guards import MemorySuppressionList
from smsgate.sandbox import Sandbox
from smsgate.stores import (
    Claim,
    ClaimConflict,
    ClaimState,
    MemoryRateLimiter,
    Rate,
    RedisBreakerStore,
    RedisClaimStore,
    RedisRateLimiter,
)
from smsgate.stores._twins import STORE_OPERATIONS, async_twin

from . import test_stores_breakers as breaker_suite
from . import test_stores_claims as claim_suite
from .conftest import CANARY, FakeClock, ToyProvider
from .redis_server import (  # noqa: F401 (fixtures)
    RedisServer,
    own_redis_server,
    redis_prefix,
    redis_server,
)
from .test_aio_driver import Held
from .test_fleet_stores import dead_url
from .test_stores_breakers import busy_threads  # noqa: F401 (a fixture of the suite)

GE = "+995555123456"

# The shared suites, collected again in this module, as test_stores_redis does.
for _suite in (claim_suite, breaker_suite):
    for _name in dir(_suite):
        if _name.startswith("test_") and "memory" not in _name and "sqlite" not in _name:
            globals()[f"{_name}__async_{_suite.__name__.rsplit('_', 1)[-1]}"] = \
                getattr(_suite, _name)


class LoopThread:
    """An event loop running in a thread of its own, for blocking callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class AwaitingFacade:
    """The blocking protocol of a store, each method awaiting the store's async twin
    (``store.begin(...)`` runs ``await store.abegin(...)``) on ``runner``'s loop. Only twins
    are reachable: a method without one raises ``AttributeError``."""

    def __init__(self, store: Any, runner: LoopThread) -> None:
        self._store = store
        self._runner = runner

    def __getattr__(self, name: str) -> Callable[..., Any]:
        twin = getattr(self._store, "a" + name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(twin(*args, **kwargs))

        return call


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def runner() -> Iterator[LoopThread]:
    made = LoopThread()
    yield made
    made.stop()


def _async_client(url: str) -> Any:
    import redis.asyncio

    return redis.asyncio.Redis.from_url(url)


@pytest.fixture
def store(
    request: pytest.FixtureRequest, redis_server: RedisServer, redis_prefix: str,  # noqa: F811
    clock: FakeClock, runner: LoopThread,
) -> Iterator[Any]:
    """For the claim suite an async-only Redis claim store, for the breaker suite an
    async-only Redis breaker store, each behind an :class:`AwaitingFacade`."""
    breakers = request.function.__module__.endswith("breakers")
    client = _async_client(redis_server.url)
    made: Any = (RedisBreakerStore if breakers else RedisClaimStore)(
        client, prefix=redis_prefix, clock=clock)
    assert made.sync_capable is False
    yield AwaitingFacade(made, runner)
    runner.run(client.aclose())


# -- the twins and the blocking methods agree ---------------------------------------------------


def _comparable(outcome: Any) -> Any:
    """An operation's outcome without what is random by design (the holder's token)."""
    if isinstance(outcome, Claim):
        return attrs.evolve(outcome, token=None)
    if isinstance(outcome, tuple):
        return tuple(_comparable(o) for o in outcome)
    if isinstance(outcome, list):
        return [_comparable(o) for o in outcome]
    if isinstance(outcome, BaseException):
        return type(outcome).__name__
    return outcome


def test_the_claim_twins_agree_with_the_blocking_methods_on_a_random_sequence(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    """The same 400 random operations on a blocking store and on the async twins of another
    (same fake clock, own prefixes): the same outcome each time, tokens aside."""
    rng = random.Random(17)
    clock = FakeClock(1_700_000_000.0)
    blocking = RedisClaimStore(redis_server.url, prefix=redis_prefix + "sync:", clock=clock)
    awaited = RedisClaimStore(redis_server.url, prefix=redis_prefix + "async:", clock=clock)
    tokens: dict[str, dict[str, str]] = {"sync": {}, "async": {}}
    keys = ["a", "b", "c", "d"]

    def step(kind: str, store: Any, action: str, key: str, state: ClaimState,
             age: float, prefix: str) -> Any:
        """One operation, blocking (``prefix=""``) or awaited (``prefix="a"``)."""
        call = getattr(store, prefix + action)
        token = tokens[kind].get(key, "nobody")
        args: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
            "begin": ((key,), {"lease": 10, "payload": {"k": key}}),
            "finish": ((key, token, state), {"provider": "p", "payload": {"id": key}}),
            "renew": ((key, token), {"lease": 20}),
            "settle": ((key, state), {"error": "looked up"}),
            "get": ((key,), {}),
            "find": ((state,), {}),
            "purge": ((age,), {}),
        }
        positional, keywords = args[action]
        return call(*positional, **keywords)

    async def run_awaited(action: str, key: str, state: ClaimState, age: float) -> Any:
        return await step("async", awaited, action, key, state, age, "a")

    async def sequence() -> None:
        for _ in range(400):
            action = rng.choice(["begin", "begin", "finish", "renew", "settle", "get",
                                 "find", "purge"])
            key = rng.choice(keys)
            state = rng.choice(list(ClaimState))
            age = rng.choice([0.0, 5.0, 100.0])
            outcomes = []
            for kind in ("sync", "async"):
                try:
                    if kind == "sync":
                        outcome = step(kind, blocking, action, key, state, age, "")
                    else:
                        outcome = await run_awaited(action, key, state, age)
                except (ClaimConflict, ValueError) as exc:
                    outcome = exc
                if action == "begin" and isinstance(outcome, tuple) and outcome[0]:
                    tokens[kind][key] = outcome[1].token
                outcomes.append(_comparable(outcome))
            assert outcomes[0] == outcomes[1], (action, key, state)
            if rng.random() < 0.3:
                clock.advance(rng.choice([1.0, 6.0, 15.0]))

    try:
        asyncio.run(sequence())
    finally:
        blocking.close()


def test_the_async_limiter_paces_exactly_as_the_memory_one(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    rng = random.Random(7)
    clock = FakeClock(10_000.0)
    memory = MemoryRateLimiter(clock=clock)
    rates = {"a": Rate(3, 1.0), "b": Rate(5, 2.5), "c": Rate(1, 0.5)}

    async def sequence() -> None:
        async with RedisRateLimiter(_async_client(redis_server.url), prefix=redis_prefix,
                                    clock=clock) as shared:
            for _ in range(400):
                key = rng.choice("abc")
                rate = rates[key]
                cost = rng.randint(1, rate.count)
                action = rng.random()
                if action < 0.6:
                    max_wait = rng.choice([None, 0.0, 0.5, 2.0])
                    assert await shared.areserve(key, rate, cost=cost, max_wait=max_wait) == \
                        pytest.approx(memory.reserve(key, rate, cost=cost, max_wait=max_wait))
                elif action < 0.8:
                    assert await shared.apeek(key, rate, cost=cost) == \
                        pytest.approx(memory.peek(key, rate, cost=cost))
                elif action < 0.82:
                    await shared.areset(key)
                    memory.reset(key)
                else:
                    clock.advance(rng.choice([0.01, 0.1, 0.5, 1.0, 3.0]))
            await shared._aclient.aclose()  # given, so not the store's to close

    asyncio.run(sequence())


def test_the_async_breaker_state_is_the_blocking_one(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    """One circuit, written by the twins and read by the blocking methods, and back."""
    policy = BreakerPolicy(failure_threshold=2, reset_timeout=30.0)
    clock = FakeClock(1_000.0)
    with RedisBreakerStore(redis_server.url, prefix=redis_prefix, clock=clock) as store:

        async def open_it() -> list[str]:
            await store.arecord("p", "pass", "failure", policy=policy)
            seen = [await store.astate("p", policy)]
            await store.arecord("p", "pass", "failure", policy=policy)
            seen += [await store.astate("p", policy), await store.aadmit("p", policy)]
            return seen

        assert asyncio.run(open_it()) == ["closed", "open", "deny"]
        assert store.state("p", policy) == "open"
        clock.advance(31)
        assert store.admit("p", policy) == "probe"

        async def after_the_probe() -> list[str]:
            seen = [await store.aadmit("p", policy)]  # the probe is out: deny
            await store.arelease("p", "probe")
            seen.append(await store.aadmit("p", policy))  # freed: a new probe
            await store.arecord("p", "probe", "success", policy=policy)
            return [*seen, await store.astate("p", policy)]

        assert asyncio.run(after_the_probe()) == ["deny", "probe", "closed"]


# -- contention between coroutines ------------------------------------------------------------


def test_two_coroutines_racing_on_one_key_one_wins_and_the_other_retries(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    """A's transaction is held between its reads and its EXEC while B takes the key: A's
    EXEC is refused (WatchError), A runs again on what is stored now and loses."""
    from redis.exceptions import WatchError

    async def race() -> tuple[tuple[bool, Claim], tuple[bool, Claim], list[str]]:
        gate, reached = asyncio.Event(), asyncio.Event()
        executed: list[str] = []
        client_a, client_b = _async_client(redis_server.url), _async_client(redis_server.url)
        real_pipeline = client_a.pipeline

        def held_pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = real_pipeline(*args, **kwargs)
            real_execute = pipe.execute

            async def execute(*e_args: Any, **e_kwargs: Any) -> Any:
                if not gate.is_set():
                    reached.set()
                    await gate.wait()
                try:
                    result = await real_execute(*e_args, **e_kwargs)
                except WatchError:
                    executed.append("refused")
                    raise
                executed.append("ok")
                return result

            pipe.execute = execute
            return pipe

        client_a.pipeline = held_pipeline
        a = RedisClaimStore(client_a, prefix=redis_prefix)
        b = RedisClaimStore(client_b, prefix=redis_prefix)
        first = asyncio.ensure_future(a.abegin("k", lease=60))
        await reached.wait()  # A has read "free" and waits before its EXEC
        second = await b.abegin("k", lease=60)
        gate.set()
        result_a = await first
        await client_a.aclose()
        await client_b.aclose()
        return result_a, second, executed

    result_a, result_b, executed = asyncio.run(race())
    assert result_b[0] is True and result_a[0] is False
    assert result_a[1].token == result_b[1].token  # A saw B's claim, not its own
    assert executed == ["refused", "ok"]


def test_many_coroutines_on_their_own_connections_win_each_key_exactly_once(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    keys = [f"k{i}" for i in range(40)]

    async def race() -> list[str]:
        clients = [_async_client(redis_server.url) for _ in range(8)]
        stores = [RedisClaimStore(c, prefix=redis_prefix) for c in clients]

        async def worker(store: RedisClaimStore, order: list[str]) -> list[str]:
            return [key for key in order if (await store.abegin(key, lease=60))[0]]

        won = await asyncio.gather(*(worker(s, random.Random(n).sample(keys, len(keys)))
                                     for n, s in enumerate(stores)))
        for client in clients:
            await client.aclose()
        return [key for keys_won in won for key in keys_won]

    assert sorted(asyncio.run(race())) == sorted(keys)


def test_a_burst_beyond_the_pool_waits_for_connections_instead_of_failing(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    """300 claims taken at once on one store built from a URL: more than its pool holds, so
    coroutines wait for a connection (redis.asyncio's default pool would raise "Too many
    connections" past 100, and a claim store that raises fails the send closed)."""

    async def burst() -> list[bool]:
        async with RedisClaimStore(redis_server.url, prefix=redis_prefix) as store:
            taken = await asyncio.gather(*(store.abegin(f"k{i}", lease=60)
                                           for i in range(300)))
        return [won for won, _ in taken]

    assert asyncio.run(burst()) == [True] * 300


# -- Redis unreachable ----------------------------------------------------------------------


def test_async_breakers_and_pacing_fall_back_with_a_warning_and_claims_fail_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import redis

    policy = BreakerPolicy(failure_threshold=1, reset_timeout=30)
    url = dead_url()

    async def go() -> None:
        async with RedisBreakerStore(url) as breakers, RedisRateLimiter(url) as limiter, \
                RedisClaimStore(url) as claims:
            assert await breakers.aadmit("p", policy) == "pass"
            await breakers.arecord("p", "pass", "failure", policy=policy)
            assert await breakers.astate("p", policy) == "open"  # kept in this process
            assert await breakers.aadmit("p", policy) == "deny"
            assert [await limiter.areserve("p", Rate(2, 10.0)) for _ in range(2)] == [0.0, 0.0]
            assert await limiter.areserve("p", Rate(2, 10.0)) > 9  # paced here
            with pytest.raises(redis.exceptions.ConnectionError):
                await claims.abegin("k", lease=10)  # never a send without its claim
        async with RedisBreakerStore(url, fallback=False) as strict:
            with pytest.raises(redis.exceptions.ConnectionError):
                await strict.aadmit("p", policy)

    with caplog.at_level(logging.WARNING, logger="smsgate"):
        asyncio.run(go())
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2, warned  # once per store and outage, not per call
    assert all("Redis is unreachable" in w for w in warned)


def test_a_stopped_server_falls_back_in_async_and_sharing_resumes_after_a_restart(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    import redis

    server = own_redis_server
    policy = BreakerPolicy(failure_threshold=1, reset_timeout=300)

    async def go() -> None:
        async with RedisBreakerStore(server.url) as breakers, \
                RedisClaimStore(server.url) as claims:
            await breakers.arecord("p", "pass", "failure", policy=policy)  # open, in Redis
            _, claim = await claims.abegin("sent", lease=600)
            server.stop_process()
            assert await breakers.astate("p", policy) == "closed"  # this process knows nothing
            with pytest.raises(redis.exceptions.ConnectionError):
                await claims.afinish("sent", claim.token or "", ClaimState.ACCEPTED)
            server.restart()
            assert await breakers.astate("p", policy) == "open"  # shared again
            held = await claims.aget("sent")
            assert held is not None and held.state is ClaimState.SENDING

    with caplog.at_level(logging.INFO, logger="smsgate"):
        asyncio.run(go())
    messages = [r.getMessage() for r in caplog.records]
    assert any("Redis is unreachable" in m for m in messages)
    assert any("answers again" in m for m in messages)


# -- clients and event loops ------------------------------------------------------------------


def _connections(url: str) -> int:
    import redis

    with redis.Redis.from_url(url) as probe:
        return len(probe.client_list()) - 1  # the probe's own


def test_a_store_built_from_a_url_serves_asyncio_run_twice_and_closes_with_each_loop(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    """One client per loop, closed when that loop shuts down: a second ``asyncio.run`` gets
    a working client of its own, and no connection (nor ResourceWarning) is left over."""
    before = _connections(redis_server.url)
    store = RedisClaimStore(redis_server.url, prefix=redis_prefix)

    async def once(key: str) -> tuple[bool, int]:
        won, _ = await store.abegin(key, lease=60)
        return won, _connections(redis_server.url)

    for key in ("first", "second", "third"):
        won, during = asyncio.run(once(key))
        assert won and during == before + 1
        gc.collect()  # a client dropped unclosed would warn here (warnings are errors)
        assert _connections(redis_server.url) == before
    assert store._client is None  # the blocking client was never built
    assert [c.key for c in store.find(ClaimState.SENDING)] == ["first", "second", "third"]
    store.close()


def test_aclose_closes_this_loops_client_and_a_given_client_stays_open(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    before = _connections(redis_server.url)

    async def go() -> None:
        store = RedisRateLimiter(redis_server.url, prefix=redis_prefix)
        await store.areserve("k", Rate(5, 1.0))
        await store.aclose()
        assert _connections(redis_server.url) == before
        client = _async_client(redis_server.url)
        async with RedisRateLimiter(client, prefix=redis_prefix) as given:
            await given.areserve("k", Rate(5, 1.0))
        assert await client.ping()  # still the caller's, still open
        await client.aclose()

    asyncio.run(go())


def test_a_store_on_a_blocking_client_runs_its_twins_in_a_worker_thread(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    store = RedisClaimStore(client, prefix=redis_prefix)
    threads: set[int] = set()
    real = client.pipeline

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.add(threading.get_ident())
        return real(*args, **kwargs)

    client.pipeline = watched  # type: ignore[method-assign]

    async def go() -> bool:
        won, _ = await store.abegin("k", lease=60)
        return won

    assert asyncio.run(go()) is True
    assert threads and threading.get_ident() not in threads
    client.close()


def test_a_store_on_an_async_client_refuses_blocking_calls_with_the_remedy(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    client = _async_client(redis_server.url)
    for kind in (RedisClaimStore, RedisBreakerStore, RedisRateLimiter):
        store = kind(client, prefix=redis_prefix)
        assert store.sync_capable is False
    claims = RedisClaimStore(client, prefix=redis_prefix)
    with pytest.raises(ConfigurationError, match=r"redis\.asyncio client.*redis:// URL"):
        claims.begin("k", lease=5)
    limiter = RedisRateLimiter(client, prefix=redis_prefix)
    with pytest.raises(ConfigurationError):  # not taken for "Redis is down"
        limiter.reserve("k", Rate(1, 1.0))
    with pytest.raises(TypeError, match=r"redis\.asyncio\.Redis"):
        RedisClaimStore(object(), prefix=redis_prefix)  # type: ignore[arg-type]
    asyncio.run(client.aclose())


# -- the driver's hook ----------------------------------------------------------------------


def test_the_driver_awaits_a_store_operations_twin_and_nothing_else() -> None:
    class Store:
        def begin(self) -> str:
            return "blocking"

        async def abegin(self) -> str:
            return "awaited"

        def send(self) -> str:
            return "blocking"

        async def asend(self) -> str:  # not a store operation: never taken for a twin
            return "awaited"

        def get(self) -> str:
            return "blocking"

        def aget(self) -> str:  # not a coroutine function: not a twin
            return "plain"

    store = Store()
    assert async_twin(store.begin) == store.abegin
    assert async_twin(store.send) is None
    assert async_twin(store.get) is None
    assert async_twin(len) is None
    assert {"begin", "finish", "admit", "record", "release", "reserve", "peek"} <= \
        STORE_OPERATIONS


# -- AsyncGateway end to end --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def test_async_gateway_sends_with_the_async_redis_stores_and_never_blocks_the_loop(
    sandbox: Sandbox, redis_server: RedisServer, redis_prefix: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Claims, breakers, provider pacing and a policy's velocity counters all in Redis,
    through their twins, and a suppression list in memory: a worker thread, or any blocking
    Redis call, fails the test."""
    import redis

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a blocking call during AsyncGateway.send")

    monkeypatch.setattr(asyncio, "to_thread", refuse)
    monkeypatch.setattr(redis.Redis, "execute_command", refuse)
    monkeypatch.setattr(redis.Redis, "pipeline", refuse)
    url = redis_server.url
    claims = RedisClaimStore(url, prefix=redis_prefix + "c:")
    breakers = RedisBreakerStore(url, prefix=redis_prefix + "b:")
    limiter = RedisRateLimiter(url, prefix=redis_prefix + "r:")
    # The policy's in-memory suppression list is called on the loop, as the memory stores.
    policy = smsgate.SendPolicy(per_number=Rate(5, 60.0), limiter=limiter,
                                suppression=MemorySuppressionList(["+995577100002"]))
    provider = sandbox.provider("smsoffice.ge", sender="Fleet")
    provider.send_rate = Rate(50, 1.0)
    text = f"async stores {redis_prefix}"

    async def go() -> tuple[Any, Any, Any]:
        async with AsyncGateway([provider], claims=claims, breaker_store=breakers,
                                limiter=limiter, policy=policy) as gateway:
            first = await gateway.send("+995577100001", text, idempotency_key="e2e")
            again = await gateway.send("+995577100001", text, idempotency_key="e2e")
            claim = await claims.aget("e2e")
            return first, again, claim

    requests = sandbox.requests("smsoffice.ge")
    first, again, claim = asyncio.run(go())
    monkeypatch.undo()
    assert first.ok and again.message_id == first.message_id
    assert sandbox.requests("smsoffice.ge") == requests + 1  # the repeat made no request
    assert [m.text for m in sandbox.messages("smsoffice.ge")].count(text) == 1
    assert claim is not None and claim.state is ClaimState.ACCEPTED
    for store in (claims, breakers, limiter):
        assert store._client is None  # no blocking client was ever built
        store.close()


def test_the_sync_gateway_refuses_an_async_only_store_before_anything_is_sent(
    sandbox: Sandbox, redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    client = _async_client(redis_server.url)
    provider = sandbox.provider("smsoffice.ge", sender="Fleet")
    for keywords in ({"claims": RedisClaimStore(client, prefix=redis_prefix)},
                     {"breaker_store": RedisBreakerStore(client, prefix=redis_prefix)},
                     {"limiter": RedisRateLimiter(client, prefix=redis_prefix)},
                     {"policy": smsgate.SendPolicy(
                         per_number=Rate(5, 60.0),
                         limiter=RedisRateLimiter(client, prefix=redis_prefix))}):
        gateway = smsgate.Gateway([provider], **keywords)  # type: ignore[arg-type]
        requests = sandbox.requests("smsoffice.ge")
        with pytest.raises(ConfigurationError, match=r"^Gateway\.send blocks; .*AsyncGateway"):
            gateway.send("+995577100001", "never", idempotency_key="sync")
        assert sandbox.requests("smsoffice.ge") == requests
    asyncio.run(client.aclose())


def _redis_stores(url: str, prefix: str, claims_class: type[RedisClaimStore] = RedisClaimStore
                  ) -> tuple[Any, RedisClaimStore, RedisBreakerStore]:
    client = _async_client(url)
    return (client, claims_class(client, prefix=prefix + "c:"),
            RedisBreakerStore(client, prefix=prefix + "b:"))


def test_a_cancellation_mid_send_leaves_the_redis_claim_unknown(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    transport = Held()
    provider = ToyProvider(CANARY, sender="Shop", transport=transport)
    policy = BreakerPolicy(failure_threshold=1, reset_timeout=300)

    async def go() -> tuple[BaseException, Claim | None, str]:
        client, claims, breakers = _redis_stores(redis_server.url, redis_prefix)
        gateway = AsyncGateway([provider], claims=claims, breaker_store=breakers,
                               breaker=policy)
        transport.arrived = asyncio.Event()
        task = asyncio.ensure_future(gateway.send(GE, "Hi", idempotency_key="cut"))
        await transport.arrived.wait()
        task.cancel()
        try:
            await task
        except BaseException as exc:
            error: BaseException = exc
        else:
            raise AssertionError("the send was not cancelled")
        claim = await claims.aget("cut")
        state = await breakers.astate(gateway.provider_key(provider), policy)
        await client.aclose()
        return error, claim, state

    error, claim, state = asyncio.run(go())
    assert isinstance(error, asyncio.CancelledError)
    assert claim is not None and claim.state is ClaimState.UNKNOWN  # never NOT_SENT
    assert len(transport.requests) == 1
    assert state == "closed"  # the permit was released, not counted as a failure


class SlowFinish(RedisClaimStore):
    """Its async ``finish`` announces itself, then takes a while (on the loop)."""

    finishing: asyncio.Event

    async def afinish(self, *args: Any, **kwargs: Any) -> Claim:
        self.finishing.set()
        await asyncio.sleep(0.3)
        return await super().afinish(*args, **kwargs)


def test_a_second_cancellation_never_cuts_the_async_finish_in_half(
    redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    transport = Held()
    provider = ToyProvider(CANARY, sender="Shop", transport=transport)

    async def go() -> tuple[BaseException, Claim | None]:
        client, claims, _ = _redis_stores(redis_server.url, redis_prefix, SlowFinish)
        assert isinstance(claims, SlowFinish)
        claims.finishing = asyncio.Event()
        gateway = AsyncGateway([provider], claims=claims)
        transport.arrived = asyncio.Event()
        task = asyncio.ensure_future(gateway.send(GE, "Hi", idempotency_key="twice"))
        await transport.arrived.wait()
        task.cancel()
        await claims.finishing.wait()
        task.cancel()  # again, while the claim is being finished
        try:
            await task
        except BaseException as exc:
            # Read the moment the task ended: the claim was finished before it did.
            claim = await claims.aget("twice")
            await client.aclose()
            return exc, claim
        raise AssertionError("not cancelled")

    error, claim = asyncio.run(go())
    assert isinstance(error, asyncio.CancelledError)
    assert claim is not None and claim.state is ClaimState.UNKNOWN
