"""Claims, breakers and pacing kept in Redis: shared by every process of a worker fleet.

Why these choices:

* **The rules are the shared Python rules**, not a second copy in Lua. Every transition
  reads a record under ``WATCH``, applies the same pure function the memory and SQLite
  stores apply (:mod:`smsgate.stores._claims`, the breaker and pacing rules), and writes the
  result in a ``MULTI``/``EXEC`` transaction. If another client changed the record in
  between, Redis refuses the write (``WatchError``) and the transition runs again on what is
  stored now: two workers can never both read "free" and both write "mine". Contention on
  one key costs a retry, never a wrong answer, and every store agrees by construction.
* **Written once, driven twice.** Each operation is a small generator that does no I/O: it
  yields the Redis commands it needs answered (``GET``, ``TIME``, ``ZRANGE``, ...) and the
  transactions it runs (the keys to ``WATCH`` and a step that reads, decides with the rule
  and returns the writes to queue in ``MULTI``). :meth:`_RedisStore._run` drives it on a
  ``redis.Redis`` client (the blocking methods: ``begin``, ``admit``, ``reserve``, ...) and
  :meth:`_RedisStore._arun` on a ``redis.asyncio.Redis`` client (their async twins:
  ``abegin``, ``aadmit``, ``areserve``, ...), so the WATCH/MULTI/EXEC loop, the retries on
  ``WatchError`` and every decision exist once for both.
* **Redis's clock, not each host's.** Leases, reset windows and pacing windows are compared
  across hosts; their wall clocks drift, the server's ``TIME`` is one clock for all. (A
  ``clock`` can still be injected, for tests.)
* **Claims never expire by TTL.** A claim that Redis evicted would read as NEW and invite a
  duplicate, so claims stay until :meth:`RedisClaimStore.purge` deletes finished ones.
  Run Redis with ``maxmemory-policy noeviction`` (the default) for the claims it holds;
  pacing logs expire by themselves once they no longer matter.
* **Indexes beside the records**: a sorted set per state (for :meth:`~ClaimStore.find`) and
  one of live leases (so that expired SENDING claims are found without a scan), written in
  the same transaction as the record they index.

Which client serves which methods:

=============================  ==================================  ===========================
``client=``                    blocking methods (``begin``, ...)    async twins (``abegin``, ...)
=============================  ==================================  ===========================
a ``redis://`` URL             a ``redis.Redis`` the store builds   a ``redis.asyncio.Redis``
                               on first use                         the store builds per event
                                                                    loop, closed with the loop
a ``redis.Redis``              that client                          that client, in a worker
                                                                    thread
a ``redis.asyncio.Redis``      refused (``ConfigurationError``)     that client
=============================  ==================================  ===========================

A ``redis.asyncio`` connection pool belongs to the event loop it was opened on. A store
built from a URL therefore keeps one async client per loop; when the loop shuts down (the
end of :func:`asyncio.run`, which finalises async generators) that client's connections are
closed on it, so a script or test suite may call ``asyncio.run`` as often as it likes.

The ``redis`` extra installs the client: ``pip install "smsgate[redis]"``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import weakref
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeAlias, TypeVar, cast

from .._secrets import get_logger
from ..errors import ConfigurationError
from ._breakers import (
    _PERMITS,
    BreakerOutcome,
    BreakerPermit,
    BreakerState,
    MemoryBreakerStore,
    _check_permit,
    _Circuit,
    admit_rule,
    check_probe_lease,
    check_record,
    free_probe,
    record_rule,
    state_rule,
)
from ._claims import (
    PURGEABLE_STATES,
    AsyncRuleTransitions,
    Claim,
    ClaimConflict,
    ClaimState,
    Rule,
    RuleTransitions,
    begin_rule,
    check_age,
    check_key,
    check_lease,
    encode_payload,
    expire,
    new_token,
)
from ._rate import MemoryRateLimiter, Rate, _check_cost, _earliest, _trim, book, check_max_wait

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from ..gateway import BreakerPolicy

__all__ = ["RedisBreakerStore", "RedisClaimStore", "RedisRateLimiter"]

_T = TypeVar("_T")
_log = get_logger("smsgate.stores")
#: Transaction attempts before giving up on a key other clients keep changing.
_MAX_RETRIES: Final = 1000
#: Bounded socket waits for the clients a store builds from a URL: a Redis that hangs must
#: not hang a send for ever (a breaker or limiter then falls back; a claim fails closed). A
#: timeout given in the URL wins.
_TIMEOUTS: Final = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
#: Connections of the async client a store builds from a URL, per event loop. A transaction
#: holds one for a few round trips; more operations at once wait for one (at most the
#: socket timeout: then the store treats Redis as unreachable).
_ASYNC_CONNECTIONS: Final = 50


def _redis_module() -> Any:
    try:
        import redis as redis_module
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            'the Redis stores need the redis client: pip install "smsgate[redis]"'
        ) from None
    return redis_module


def _connect(client: redis.Redis | str) -> redis.Redis:
    """A client from a ``redis.Redis`` or a ``redis://`` URL (the ``redis`` extra)."""
    redis_module = _redis_module()
    if isinstance(client, str):
        made: redis.Redis = redis_module.Redis.from_url(client, **_TIMEOUTS)
        return made
    if not isinstance(client, redis_module.Redis):
        raise TypeError("client must be a redis.Redis or a redis:// URL")
    return cast("redis.Redis", client)


# -- the sans-IO core: what an operation asks Redis, and what it writes ----------------------


class _Command:
    """A Redis command whose reply the operation needs now (``GET``, ``TIME``, ...)."""

    __slots__ = ("args", "name")

    def __init__(self, name: str, *args: Any) -> None:
        self.name = name
        self.args = args


class _Commit(Generic[_T]):
    """What a transaction step decided: the writes to queue in ``MULTI`` and the value to
    return once ``EXEC`` went through (or an error to raise then)."""

    __slots__ = ("error", "value", "writes")

    def __init__(self, writes: _Writes, value: _T, error: BaseException | None = None) -> None:
        self.writes = writes
        self.value = value
        self.error = error


class _Writes:
    """The writes of one transaction, queued as ``(command, args, kwargs)``."""

    __slots__ = ("queued",)

    def __init__(self) -> None:
        self.queued: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.queued.append((name, args, kwargs))


#: One try of a transaction: reads (run at once on the watched connection), then a commit.
_Step: TypeAlias = Generator[_Command, Any, "_Commit[_T]"]


class _Atomic(Generic[_T]):
    """Run ``step`` (a fresh one per try) with ``keys`` watched until its ``EXEC`` goes
    through; a step that raises (a ``ClaimConflict``) ends it with nothing written."""

    __slots__ = ("keys", "step")

    def __init__(self, keys: tuple[str, ...], step: Callable[[], _Step[_T]]) -> None:
        self.keys = keys
        self.step = step


#: A store operation: commands and transactions, then its result.
_Op: TypeAlias = Generator["_Command | _Atomic[Any]", Any, _T]


def _names(members: Any) -> list[str]:
    return [m.decode() if isinstance(m, bytes) else str(m) for m in members]


async def _closer(client: Any) -> AsyncGenerator[None, None]:
    """Suspended for the life of an event loop; closed by the loop's shutdown (the end of
    :func:`asyncio.run` finalises async generators), when it closes ``client`` on it."""
    try:
        yield
    finally:
        await client.aclose()


_S = TypeVar("_S", bound="_RedisStore")


class _RedisStore:
    """What the three stores share: the clients, a key prefix, a clock and the drivers."""

    def __init__(
        self, client: redis.Redis | redis.asyncio.Redis | str, *, prefix: str,
        clock: Callable[[], float] | None,
    ) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("prefix must be a non-empty string")
        redis_module = _redis_module()
        self._url: str | None = None
        self._client: redis.Redis | None = None
        self._aclient: redis.asyncio.Redis | None = None
        if isinstance(client, str):
            self._url = client
        elif isinstance(client, redis_module.Redis):
            self._client = client
        else:
            import redis.asyncio as aioredis  # only here: blocking users never load it

            if not isinstance(client, aioredis.Redis):
                raise TypeError("client must be a redis.Redis, a redis.asyncio.Redis or a "
                                "redis:// URL")
            self._aclient = client
        self._prefix = prefix
        self._clock = clock
        self._lock = threading.Lock()
        #: The async clients this store built from its URL, one per event loop (with the
        #: suspended generator that closes it when the loop shuts down).
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        # The client's repr could show a password from its URL: only the prefix is shown.
        return f"<{type(self).__name__} prefix={self._prefix!r}>"

    @property
    def sync_capable(self) -> bool:
        """Whether the blocking methods work: ``False`` for a store given a
        ``redis.asyncio`` client, which only its async twins (and ``AsyncGateway``) can
        use."""
        return self._aclient is None

    # -- clients ---------------------------------------------------------------------------

    def _sync_client(self) -> redis.Redis:
        if self._client is not None:
            return self._client
        if self._url is None:
            raise ConfigurationError(
                f"{type(self).__name__} was given a redis.asyncio client, so it serves async "
                "code only (AsyncGateway, or await its a-methods: abegin, aadmit, areserve, "
                "...); give it a redis:// URL to use it from blocking code too")
        with self._lock:
            if self._client is None:
                self._client = _connect(self._url)
        return self._client

    async def _async_client(self) -> redis.asyncio.Redis:
        if self._aclient is not None:
            return self._aclient
        loop = asyncio.get_running_loop()
        with self._lock:
            held = self._loops.get(loop)
            if held is not None:
                return held[0]  # type: ignore[no-any-return]
            for old in [old for old in self._loops if old.is_closed()]:
                del self._loops[old]  # its loop is gone; its closer already ran (or never will)
            import redis.asyncio as aioredis

            assert self._url is not None
            # A blocking pool: beyond _ASYNC_CONNECTIONS operations at once, a coroutine
            # waits for a free connection (redis.asyncio's default pool raises instead,
            # which a burst of sends on one loop would hit).
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url, max_connections=_ASYNC_CONNECTIONS,
                timeout=_TIMEOUTS["socket_timeout"],
                socket_timeout=_TIMEOUTS["socket_timeout"],
                socket_connect_timeout=_TIMEOUTS["socket_connect_timeout"])
            client = aioredis.Redis.from_pool(pool)
            closer = _closer(client)
            self._loops[loop] = (client, closer)
        # The first step registers the generator with the loop's shutdown and suspends it.
        await closer.__anext__()
        return client

    # -- the drivers -----------------------------------------------------------------------

    def _now(self) -> Generator[_Command, Any, float]:
        """The time on the server (or the injected clock): an operation's ``yield from``."""
        if self._clock is not None:
            return float(self._clock())
        seconds, micros = yield _Command("time")
        return float(seconds) + float(micros) / 1_000_000

    def _run(self, op: _Op[_T]) -> _T:
        """Drive ``op`` on the blocking client."""
        client = self._sync_client()
        try:
            reply: Any = None
            while True:
                try:
                    effect = op.send(reply)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                if isinstance(effect, _Atomic):
                    reply = self._atomic(client, effect)
                else:
                    reply = getattr(client, effect.name)(*effect.args)
        finally:
            op.close()

    def _atomic(self, client: Any, atomic: _Atomic[_T]) -> _T:
        from redis.exceptions import WatchError

        with client.pipeline() as pipe:
            for _ in range(_MAX_RETRIES):
                try:
                    pipe.watch(*atomic.keys)
                    step = atomic.step()
                    reply: Any = None
                    while True:
                        try:
                            read = step.send(reply)
                        except StopIteration as stop:
                            commit: _Commit[_T] = stop.value
                            break
                        # A watched pipeline runs a command at once and answers it.
                        reply = getattr(pipe, read.name)(*read.args)
                    pipe.multi()
                    for name, args, kwargs in commit.writes.queued:
                        getattr(pipe, name)(*args, **kwargs)
                    pipe.execute()
                except WatchError:
                    continue
                if commit.error is not None:
                    raise commit.error
                return commit.value
        raise RuntimeError(f"{type(self).__name__}: gave up after {_MAX_RETRIES} conflicts")

    async def _arun(self, op: _Op[_T]) -> _T:
        """Drive ``op`` on the async client (a blocking client only: in a worker thread)."""
        if self._client is not None:
            return await asyncio.to_thread(self._run, op)
        client = await self._async_client()
        try:
            reply: Any = None
            while True:
                try:
                    effect = op.send(reply)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                if isinstance(effect, _Atomic):
                    reply = await self._aatomic(client, effect)
                else:
                    reply = await getattr(client, effect.name)(*effect.args)
        finally:
            op.close()

    async def _aatomic(self, client: Any, atomic: _Atomic[_T]) -> _T:
        from redis.exceptions import WatchError

        async with client.pipeline() as pipe:
            for _ in range(_MAX_RETRIES):
                try:
                    await pipe.watch(*atomic.keys)
                    step = atomic.step()
                    reply: Any = None
                    while True:
                        try:
                            read = step.send(reply)
                        except StopIteration as stop:
                            commit: _Commit[_T] = stop.value
                            break
                        reply = await getattr(pipe, read.name)(*read.args)
                    pipe.multi()
                    for name, args, kwargs in commit.writes.queued:
                        getattr(pipe, name)(*args, **kwargs)  # queued, answered by EXEC
                    await pipe.execute()
                except WatchError:
                    continue
                if commit.error is not None:
                    raise commit.error
                return commit.value
        raise RuntimeError(f"{type(self).__name__}: gave up after {_MAX_RETRIES} conflicts")

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the blocking client's pool if this store opened it (from a URL). The async
        clients it opened are closed by :meth:`aclose`, or when their event loop shuts
        down."""
        if self._url is not None and self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        """Close the clients this store opened: the async one of the running loop, and the
        blocking one. A client you gave the store stays open."""
        if self._url is not None:
            with self._lock:
                held = self._loops.pop(asyncio.get_running_loop(), None)
            if held is not None:
                await held[1].aclose()  # the closer closes its client
        self.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self: _S) -> _S:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# -- claims ---------------------------------------------------------------------------------


def _encode_claim(claim: Claim) -> str:
    record = {
        "key": claim.key,
        "state": claim.state.value,
        "token": claim.token,
        "lease_until": claim.lease_until,
        "provider": claim.provider,
        "payload": None if claim.payload is None else json.loads(encode_payload(claim.payload)),
        "error": claim.error,
        "created": claim.created,
        "updated": claim.updated,
    }
    return json.dumps(record, allow_nan=False, separators=(",", ":"))


def _decode_claim(raw: bytes | str | None) -> Claim | None:
    if raw is None:
        return None
    record = json.loads(raw)
    return Claim(
        key=record["key"],
        state=ClaimState(record["state"]),
        token=record["token"],
        lease_until=record["lease_until"],
        provider=record["provider"],
        payload=record["payload"],
        error=record["error"],
        created=record["created"],
        updated=record["updated"],
    )


class RedisClaimStore(_RedisStore, RuleTransitions, AsyncRuleTransitions):
    """Claims in Redis: one record per key, shared by every worker of a fleet.

    Every operation has an async twin (``abegin``, ``afinish``, ``arenew``, ``asettle``,
    ``aget``, ``afind``, ``apurge``) that applies the same rules in the same transactions on
    a ``redis.asyncio`` client; ``AsyncGateway`` awaits them. Redis unreachable: every
    operation raises (claims fail closed: a message is never sent without its claim).

    Args:
        client: a ``redis://`` URL (the store then builds, owns and closes its clients: a
            blocking one and one async one per event loop), a ``redis.Redis`` client, or a
            ``redis.asyncio.Redis`` client (the store then serves async code only).
        prefix: the start of every Redis key this store writes.
        clock: wall-clock epoch seconds; by default the Redis server's ``TIME``.
    """

    def __init__(
        self,
        client: redis.Redis | redis.asyncio.Redis | str,
        *,
        prefix: str = "smsgate:claims:",
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(client, prefix=prefix, clock=clock)

    def _record(self, key: str) -> str:
        return f"{self._prefix}c:{key}"

    def _index(self, state: ClaimState) -> str:
        return f"{self._prefix}s:{state.value}"

    @property
    def _leases(self) -> str:
        return f"{self._prefix}leases"

    def _write(self, writes: _Writes, before: Claim | None, after: Claim) -> _Writes:
        """Queue the record and its index entries (inside MULTI)."""
        writes("set", self._record(after.key), _encode_claim(after))
        if before is not None and before.state is not after.state:
            writes("zrem", self._index(before.state), after.key)
        writes("zadd", self._index(after.state), {after.key: after.created})
        if after.state is ClaimState.SENDING and after.lease_until is not None:
            writes("zadd", self._leases, {after.key: after.lease_until})
        else:
            writes("zrem", self._leases, after.key)
        return writes

    # -- the operations, once -----------------------------------------------------------------

    def _transition_op(self, key: str, rule: Rule, expire_first: bool) -> _Op[Claim]:
        """Apply ``rule`` to the claim as stored, atomically; as the memory store does, an
        expired lease is stored as UNKNOWN first when ``expire_first``, even if the rule
        then refuses."""
        record = self._record(key)

        def step() -> _Step[Claim]:
            stored = _decode_claim((yield _Command("get", record)))
            now = yield from self._now()
            current = expire(stored, now) if expire_first and stored is not None else stored
            try:
                claim = rule(current, now)
            except ClaimConflict as conflict:
                if current is not None and current is not stored:
                    return _Commit(self._write(_Writes(), stored, current), current, conflict)
                raise
            return _Commit(self._write(_Writes(), stored, claim), claim)

        return (yield _Atomic((record,), step))  # type: ignore[no-any-return]

    def _begin_op(
        self, key: str, lease: float, payload: Mapping[str, Any] | None
    ) -> _Op[tuple[bool, Claim]]:
        key, lease = check_key(key), check_lease(lease)
        if payload is not None:
            encode_payload(payload)  # refuse a bad payload before any change
        record = self._record(key)

        def step() -> _Step[tuple[bool, Claim]]:
            stored = _decode_claim((yield _Command("get", record)))
            now = yield from self._now()
            won, claim = begin_rule(stored, key, lease=lease, now=now, token=new_token(),
                                    payload=payload)
            writes = _Writes()
            if claim is not stored:
                self._write(writes, stored, claim)
            return _Commit(writes, (won, claim))

        return (yield _Atomic((record,), step))  # type: ignore[no-any-return]

    def _get_op(self, key: str) -> _Op[Claim | None]:
        key = check_key(key)
        record = self._record(key)

        def step() -> _Step[Claim | None]:
            stored = _decode_claim((yield _Command("get", record)))
            if stored is None:
                return _Commit(_Writes(), None)
            claim = expire(stored, (yield from self._now()))
            writes = _Writes()
            if claim is not stored:
                self._write(writes, stored, claim)
            return _Commit(writes, claim)

        return (yield _Atomic((record,), step))  # type: ignore[no-any-return]

    def _expire_leases_op(self) -> _Op[None]:
        """Store every SENDING claim whose lease ran out as UNKNOWN."""
        now = yield from self._now()
        for key in _names((yield _Command("zrangebyscore", self._leases, "-inf", now))):
            yield from self._get_op(key)

    def _find_op(self, state: ClaimState) -> _Op[list[Claim]]:
        state = ClaimState(state)
        if state is ClaimState.NEW:
            return []
        yield from self._expire_leases_op()
        members = _names((yield _Command("zrange", self._index(state), 0, -1)))
        found: list[Claim] = []
        for start in range(0, len(members), 500):
            chunk = members[start:start + 500]
            for raw in (yield _Command("mget", [self._record(k) for k in chunk])):
                claim = _decode_claim(raw)
                if claim is not None and claim.state is state:
                    found.append(claim)
        found.sort(key=lambda c: (c.created, c.key))
        return found

    def _purge_op(self, older_than: float | dt.timedelta) -> _Op[int]:
        age = check_age(older_than)
        cutoff = (yield from self._now()) - age
        purged = 0
        for state in PURGEABLE_STATES:
            for key in _names((yield _Command("zrange", self._index(state), 0, -1))):
                if (yield from self._purge_one_op(key, cutoff)):
                    purged += 1
        return purged

    def _purge_one_op(self, key: str, cutoff: float) -> _Op[bool]:
        record = self._record(key)

        def step() -> _Step[bool]:
            stored = _decode_claim((yield _Command("get", record)))
            writes = _Writes()
            if stored is None or stored.state not in PURGEABLE_STATES or \
                    stored.updated >= cutoff:
                return _Commit(writes, False)
            writes("delete", record)
            writes("zrem", self._index(stored.state), key)
            return _Commit(writes, True)

        return (yield _Atomic((record,), step))  # type: ignore[no-any-return]

    # -- blocking ------------------------------------------------------------------------------

    def _transition(self, key: str, rule: Rule, *, expire_first: bool) -> Claim:
        return self._run(self._transition_op(key, rule, expire_first))

    def begin(
        self, key: str, *, lease: float, payload: Mapping[str, Any] | None = None
    ) -> tuple[bool, Claim]:
        return self._run(self._begin_op(key, lease, payload))

    def get(self, key: str) -> Claim | None:
        return self._run(self._get_op(key))

    def find(self, state: ClaimState) -> list[Claim]:
        return self._run(self._find_op(state))

    def purge(self, older_than: float | dt.timedelta) -> int:
        return self._run(self._purge_op(older_than))

    # -- async twins ----------------------------------------------------------------------------

    async def _atransition(self, key: str, rule: Rule, *, expire_first: bool) -> Claim:
        return await self._arun(self._transition_op(key, rule, expire_first))

    async def abegin(
        self, key: str, *, lease: float, payload: Mapping[str, Any] | None = None
    ) -> tuple[bool, Claim]:
        """The async twin of :meth:`begin`."""
        return await self._arun(self._begin_op(key, lease, payload))

    async def aget(self, key: str) -> Claim | None:
        """The async twin of :meth:`get`."""
        return await self._arun(self._get_op(key))

    async def afind(self, state: ClaimState) -> list[Claim]:
        """The async twin of :meth:`find`."""
        return await self._arun(self._find_op(state))

    async def apurge(self, older_than: float | dt.timedelta) -> int:
        """The async twin of :meth:`purge`."""
        return await self._arun(self._purge_op(older_than))


# -- falling back when Redis is unreachable --------------------------------------------------


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    """What "Redis cannot be reached" raises: connection and timeout errors (a server
    still loading its AOF is a ``BusyLoadingError``, a ``ConnectionError``). An
    ``asyncio`` timeout is a ``TimeoutError``, an ``OSError``."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError)


class _Fallback:
    """Runs a store operation on Redis, or on a per-process store while Redis is down.

    Used by the breaker store and the limiter, whose state is an optimisation (fewer
    requests to a sick provider, a shared pace): without Redis each process keeps its own,
    which is what one process alone does. Never used for claims, which fail closed: a
    message is never sent without its claim. The first failure of an outage is logged at
    WARNING, the recovery at INFO. The blocking methods and their async twins share one
    outage state (and one per-process store).
    """

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._down = False
        self._errors: tuple[type[BaseException], ...] | None = None

    @property
    def down(self) -> bool:
        """Whether the last operation had to fall back."""
        return self._down

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        if self._errors is None:
            self._errors = _unreachable_errors()
        return self._errors

    def _fell(self, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            _log.warning("%s: Redis is unreachable (%s); falling back to this process's "
                         "own state until it answers again", self._owner, type(exc).__name__)

    def _answered(self) -> None:
        if self._down:
            self._down = False
            _log.info("%s: Redis answers again; state is shared again", self._owner)

    def run(self, shared: Callable[[], _T], local: Callable[[], _T]) -> _T:
        try:
            result = shared()
        except self.errors as exc:
            self._fell(exc)
            return local()
        self._answered()
        return result

    async def arun(self, shared: Callable[[], Awaitable[_T]], local: Callable[[], _T]) -> _T:
        """:meth:`run` with ``shared`` awaited (``local`` is in memory: called directly)."""
        try:
            result = await shared()
        except self.errors as exc:
            self._fell(exc)
            return local()
        self._answered()
        return result


class _Guarded(_RedisStore):
    """A store that may fall back to a per-process one (breakers, the limiter)."""

    _fallback: _Fallback | None

    def _guard(self, shared: Callable[[], _T], local: Callable[[], _T]) -> _T:
        if self._fallback is None:
            return shared()
        return self._fallback.run(shared, local)

    async def _aguard(self, shared: Callable[[], Awaitable[_T]], local: Callable[[], _T]) -> _T:
        if self._fallback is None:
            return await shared()
        return await self._fallback.arun(shared, local)


# -- breakers -------------------------------------------------------------------------------


class RedisBreakerStore(_Guarded):
    """Circuit breakers in Redis: every worker sees one circuit per provider key, and one
    half-open probe goes out among all of them.

    Every operation has an async twin (``aadmit``, ``arecord``, ``arelease``, ``astate``)
    on a ``redis.asyncio`` client, with the same rules and the same fallback.

    Args:
        client: a ``redis://`` URL, a ``redis.Redis`` or a ``redis.asyncio.Redis`` client
            (see :class:`RedisClaimStore`).
        prefix: the start of every Redis key this store writes.
        clock: seconds; by default the Redis server's ``TIME`` (one clock for all hosts).
        probe_lease: seconds after which a probe that never reported (its worker was
            killed) is forgotten; ``None`` means the policy's ``reset_timeout``.
        fallback: while Redis cannot be reached, keep breakers in this process's memory
            (a :class:`MemoryBreakerStore`) with a warning, instead of raising. A send then
            goes on as in a single process; the circuits are shared again once Redis
            answers.
    """

    def __init__(
        self,
        client: redis.Redis | redis.asyncio.Redis | str,
        *,
        prefix: str = "smsgate:breakers:",
        clock: Callable[[], float] | None = None,
        probe_lease: float | None = None,
        fallback: bool = True,
    ) -> None:
        super().__init__(client, prefix=prefix, clock=clock)
        self._probe_lease = check_probe_lease(probe_lease)
        self._fallback = _Fallback(type(self).__name__) if fallback else None
        self._local = MemoryBreakerStore(probe_lease=probe_lease)

    def _record(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def _lease(self, policy: BreakerPolicy) -> float:
        return policy.reset_timeout if self._probe_lease is None else self._probe_lease

    # -- the operations, once -----------------------------------------------------------------

    def _update_op(self, key: str, change: Callable[[_Circuit, float], _T]) -> _Op[_T]:
        record = self._record(key)

        def step() -> _Step[_T]:
            raw = yield _Command("get", record)
            circuit = _Circuit(**json.loads(raw)) if raw is not None else _Circuit()
            before = (circuit.failures, circuit.opened_at, circuit.probe_at)
            result = change(circuit, (yield from self._now()))
            writes = _Writes()
            if (circuit.failures, circuit.opened_at, circuit.probe_at) != before:
                writes("set", record, json.dumps({"failures": circuit.failures,
                                                  "opened_at": circuit.opened_at,
                                                  "probe_at": circuit.probe_at}))
            return _Commit(writes, result)

        return (yield _Atomic((record,), step))  # type: ignore[no-any-return]

    def _admit_op(self, key: str, policy: BreakerPolicy) -> _Op[BreakerPermit]:
        return self._update_op(key, lambda circuit, now: admit_rule(
            circuit, now, policy, self._lease(policy)))

    def _record_op(
        self, key: str, permit: BreakerPermit, outcome: BreakerOutcome, policy: BreakerPolicy
    ) -> _Op[None]:
        return self._update_op(key, lambda circuit, now: record_rule(
            circuit, permit, outcome, lambda: now, policy))

    def _release_op(self, key: str, permit: BreakerPermit) -> _Op[None]:
        return self._update_op(key, lambda circuit, _now: free_probe(circuit, permit))

    def _state_op(self, key: str, policy: BreakerPolicy) -> _Op[BreakerState]:
        raw = yield _Command("get", self._record(key))
        circuit = _Circuit(**json.loads(raw)) if raw is not None else _Circuit()
        return state_rule(circuit, (yield from self._now()), policy)

    # -- blocking ------------------------------------------------------------------------------

    def admit(self, key: str, policy: BreakerPolicy) -> BreakerPermit:
        return self._guard(lambda: self._run(self._admit_op(key, policy)),
                           lambda: self._local.admit(key, policy))

    def record(
        self, key: str, permit: BreakerPermit, outcome: BreakerOutcome, *,
        policy: BreakerPolicy,
    ) -> None:
        check_record(permit, outcome)
        self._guard(lambda: self._run(self._record_op(key, permit, outcome, policy)),
                    lambda: self._local.record(key, permit, outcome, policy=policy))

    def release(self, key: str, permit: BreakerPermit) -> None:
        _check_permit(permit, _PERMITS)
        if permit != "probe":
            return
        self._guard(lambda: self._run(self._release_op(key, permit)),
                    lambda: self._local.release(key, permit))

    def state(self, key: str, policy: BreakerPolicy) -> BreakerState:
        return self._guard(lambda: self._run(self._state_op(key, policy)),
                           lambda: self._local.state(key, policy))

    # -- async twins ----------------------------------------------------------------------------

    async def aadmit(self, key: str, policy: BreakerPolicy) -> BreakerPermit:
        """The async twin of :meth:`admit`."""
        return await self._aguard(lambda: self._arun(self._admit_op(key, policy)),
                                  lambda: self._local.admit(key, policy))

    async def arecord(
        self, key: str, permit: BreakerPermit, outcome: BreakerOutcome, *,
        policy: BreakerPolicy,
    ) -> None:
        """The async twin of :meth:`record`."""
        check_record(permit, outcome)
        await self._aguard(lambda: self._arun(self._record_op(key, permit, outcome, policy)),
                           lambda: self._local.record(key, permit, outcome, policy=policy))

    async def arelease(self, key: str, permit: BreakerPermit) -> None:
        """The async twin of :meth:`release`."""
        _check_permit(permit, _PERMITS)
        if permit != "probe":
            return
        await self._aguard(lambda: self._arun(self._release_op(key, permit)),
                           lambda: self._local.release(key, permit))

    async def astate(self, key: str, policy: BreakerPolicy) -> BreakerState:
        """The async twin of :meth:`state`."""
        return await self._aguard(lambda: self._arun(self._state_op(key, policy)),
                                  lambda: self._local.state(key, policy))


# -- pacing ---------------------------------------------------------------------------------


class RedisRateLimiter(_Guarded):
    """Send pacing in Redis: one sliding-window log per key for the whole fleet.

    Every operation has an async twin (``areserve``, ``apeek``, ``areset``) on a
    ``redis.asyncio`` client, with the same rule and the same fallback.

    Args:
        client: a ``redis://`` URL, a ``redis.Redis`` or a ``redis.asyncio.Redis`` client
            (see :class:`RedisClaimStore`).
        prefix: the start of every Redis key this store writes.
        clock: seconds; by default the Redis server's ``TIME``.
        fallback: while Redis cannot be reached, pace in this process's memory (a
            :class:`MemoryRateLimiter`) with a warning, instead of raising. Each process
            then keeps the whole rate for itself: a fleet of N workers may send up to N
            times the rate until Redis answers again.
    """

    def __init__(
        self,
        client: redis.Redis | redis.asyncio.Redis | str,
        *,
        prefix: str = "smsgate:rate:",
        clock: Callable[[], float] | None = None,
        fallback: bool = True,
    ) -> None:
        super().__init__(client, prefix=prefix, clock=clock)
        self._fallback = _Fallback(type(self).__name__) if fallback else None
        self._local = MemoryRateLimiter()

    def _record(self, key: str) -> str:
        return f"{self._prefix}{key}"

    # -- the operations, once -----------------------------------------------------------------

    def _reserve_op(
        self, key: str, rate: Rate, cost: int, max_wait: float | None
    ) -> _Op[float]:
        record = self._record(key)

        def step() -> _Step[float]:
            raw = yield _Command("get", record)
            log: deque[list[float]] = deque(json.loads(raw)) if raw is not None else deque()
            now = yield from self._now()
            wait, booked = book(log, rate, cost, now, max_wait)
            writes = _Writes()
            if booked:
                # The log matters until its last slot is a full period old: then it expires.
                keep_ms = max(1, int((wait + rate.period) * 1000) + 1)
                writes("set", record, json.dumps(list(log)), px=keep_ms)
            return _Commit(writes, wait)

        return (yield _Atomic((record,), step))  # type: ignore[no-any-return]

    def _peek_op(self, key: str, rate: Rate, cost: int) -> _Op[float]:
        raw = yield _Command("get", self._record(key))
        log: deque[list[float]] = deque(json.loads(raw)) if raw is not None else deque()
        now = yield from self._now()
        _trim(log, rate, now)
        return _earliest(log, rate, cost, now) - now

    def _reset_op(self, key: str) -> _Op[None]:
        yield _Command("delete", self._record(key))

    # -- blocking ------------------------------------------------------------------------------

    def reserve(
        self, key: str, rate: Rate, *, cost: int = 1, max_wait: float | None = None
    ) -> float:
        _check_cost(cost, rate)
        check_max_wait(max_wait)
        return self._guard(lambda: self._run(self._reserve_op(key, rate, cost, max_wait)),
                           lambda: self._local.reserve(key, rate, cost=cost,
                                                       max_wait=max_wait))

    def peek(self, key: str, rate: Rate, *, cost: int = 1) -> float:
        _check_cost(cost, rate)
        return self._guard(lambda: self._run(self._peek_op(key, rate, cost)),
                           lambda: self._local.peek(key, rate, cost=cost))

    def reset(self, key: str) -> None:
        self._local.reset(key)
        self._guard(lambda: self._run(self._reset_op(key)), lambda: None)

    # -- async twins ----------------------------------------------------------------------------

    async def areserve(
        self, key: str, rate: Rate, *, cost: int = 1, max_wait: float | None = None
    ) -> float:
        """The async twin of :meth:`reserve`."""
        _check_cost(cost, rate)
        check_max_wait(max_wait)
        return await self._aguard(
            lambda: self._arun(self._reserve_op(key, rate, cost, max_wait)),
            lambda: self._local.reserve(key, rate, cost=cost, max_wait=max_wait))

    async def apeek(self, key: str, rate: Rate, *, cost: int = 1) -> float:
        """The async twin of :meth:`peek`."""
        _check_cost(cost, rate)
        return await self._aguard(lambda: self._arun(self._peek_op(key, rate, cost)),
                                  lambda: self._local.peek(key, rate, cost=cost))

    async def areset(self, key: str) -> None:
        """The async twin of :meth:`reset`."""
        self._local.reset(key)
        await self._aguard(lambda: self._arun(self._reset_op(key)), lambda: None)
