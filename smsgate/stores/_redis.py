"""Claims, breakers and pacing kept in Redis: shared by every process of a worker fleet.

Why these choices:

* **The rules are the shared Python rules**, not a second copy in Lua. Every transition
  reads a record under ``WATCH``, applies the same pure function the memory and SQLite
  stores apply (:mod:`smsgate.stores._claims`, the breaker and pacing rules), and writes the
  result in a ``MULTI``/``EXEC`` transaction. If another client changed the record in
  between, Redis refuses the write (``WatchError``) and the transition runs again on what is
  stored now: two workers can never both read "free" and both write "mine". Contention on
  one key costs a retry, never a wrong answer, and every store agrees by construction.
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

The ``redis`` extra installs the client: ``pip install "smsgate[redis]"``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .._secrets import get_logger
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
    Claim,
    ClaimConflict,
    ClaimState,
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

    from ..gateway import BreakerPolicy

__all__ = ["RedisBreakerStore", "RedisClaimStore", "RedisRateLimiter"]

_T = TypeVar("_T")
_log = get_logger("smsgate.stores")
#: Transaction attempts before giving up on a key other clients keep changing.
_MAX_RETRIES: Final = 1000


def _connect(client: redis.Redis | str) -> redis.Redis:
    """A client from a ``redis.Redis`` or a ``redis://`` URL (the ``redis`` extra)."""
    try:
        import redis as redis_module
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            'the Redis stores need the redis client: pip install "smsgate[redis]"'
        ) from None
    if isinstance(client, str):
        # Bounded socket waits: a Redis that hangs must not hang a send for ever (a
        # breaker or limiter then falls back; a claim fails closed). A timeout given in
        # the URL wins.
        return redis_module.Redis.from_url(client, socket_timeout=5.0,
                                           socket_connect_timeout=5.0)
    if not isinstance(client, redis_module.Redis):
        raise TypeError("client must be a redis.Redis or a redis:// URL")
    return client


_S = TypeVar("_S", bound="_RedisStore")


class _RedisStore:
    """What the three stores share: a client, a key prefix, a clock and the retry loop."""

    def __init__(
        self, client: redis.Redis | str, *, prefix: str, clock: Callable[[], float] | None
    ) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("prefix must be a non-empty string")
        self._client = _connect(client)
        self._owns_client = isinstance(client, str)
        self._prefix = prefix
        self._clock = clock

    def __repr__(self) -> str:
        # The client's repr could show a password from its URL: only the prefix is shown.
        return f"<{type(self).__name__} prefix={self._prefix!r}>"

    def _now(self, pipe: Any) -> float:
        """The time on the server (in a watched pipeline the command runs at once)."""
        if self._clock is not None:
            return float(self._clock())
        seconds, micros = pipe.time()
        return float(seconds) + float(micros) / 1_000_000

    def _atomic(self, keys: list[str], step: Callable[[Any], _T]) -> _T:
        """Run ``step(pipe)`` with ``keys`` watched until its ``EXEC`` goes through.

        ``step`` reads (the watched pipeline executes reads at once), decides with the
        shared rules, calls ``pipe.multi()`` and queues its writes; an exception it raises
        (a ``ClaimConflict``) ends the transaction with nothing written.
        """
        from redis.exceptions import WatchError

        with self._client.pipeline() as pipe:
            for _ in range(_MAX_RETRIES):
                try:
                    pipe.watch(*keys)  # type: ignore[no-untyped-call]
                    result = step(pipe)
                    pipe.execute()
                    return result
                except WatchError:
                    continue
        raise RuntimeError(f"{type(self).__name__}: gave up after {_MAX_RETRIES} conflicts")

    def close(self) -> None:
        """Close the connection pool if this store opened it (from a URL)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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


class RedisClaimStore(_RedisStore, RuleTransitions):
    """Claims in Redis: one record per key, shared by every worker of a fleet.

    Args:
        client: a ``redis.Redis`` client, or a ``redis://`` URL (the store then owns and
            closes its connection pool).
        prefix: the start of every Redis key this store writes.
        clock: wall-clock epoch seconds; by default the Redis server's ``TIME``.
    """

    def __init__(
        self,
        client: redis.Redis | str,
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

    def _write(self, pipe: Any, before: Claim | None, after: Claim) -> None:
        """Queue the record and its index entries (inside MULTI)."""
        pipe.set(self._record(after.key), _encode_claim(after))
        if before is not None and before.state is not after.state:
            pipe.zrem(self._index(before.state), after.key)
        pipe.zadd(self._index(after.state), {after.key: after.created})
        if after.state is ClaimState.SENDING and after.lease_until is not None:
            pipe.zadd(self._leases, {after.key: after.lease_until})
        else:
            pipe.zrem(self._leases, after.key)

    def _transition(
        self, key: str, rule: Callable[[Claim | None, float], Claim], *, expire_first: bool
    ) -> Claim:
        """Apply ``rule`` to the claim as stored, atomically; as the memory store does, an
        expired lease is stored as UNKNOWN first when ``expire_first``, even if the rule
        then refuses."""
        record = self._record(key)

        def step(pipe: Any) -> Claim:
            stored = _decode_claim(pipe.get(record))
            now = self._now(pipe)
            current = expire(stored, now) if expire_first and stored is not None else stored
            try:
                claim = rule(current, now)
            except ClaimConflict:
                if current is not None and current is not stored:
                    pipe.multi()
                    self._write(pipe, stored, current)
                    pipe.execute()
                raise
            pipe.multi()
            self._write(pipe, stored, claim)
            return claim

        return self._atomic([record], step)

    def begin(
        self, key: str, *, lease: float, payload: Mapping[str, Any] | None = None
    ) -> tuple[bool, Claim]:
        key, lease = check_key(key), check_lease(lease)
        if payload is not None:
            encode_payload(payload)  # refuse a bad payload before any change
        record = self._record(key)

        def step(pipe: Any) -> tuple[bool, Claim]:
            stored = _decode_claim(pipe.get(record))
            won, claim = begin_rule(stored, key, lease=lease, now=self._now(pipe),
                                    token=new_token(), payload=payload)
            pipe.multi()
            if claim is not stored:
                self._write(pipe, stored, claim)
            return won, claim

        return self._atomic([record], step)

    def get(self, key: str) -> Claim | None:
        key = check_key(key)
        record = self._record(key)

        def step(pipe: Any) -> Claim | None:
            stored = _decode_claim(pipe.get(record))
            claim = None if stored is None else expire(stored, self._now(pipe))
            pipe.multi()
            if stored is not None and claim is not None and claim is not stored:
                self._write(pipe, stored, claim)
            return claim

        return self._atomic([record], step)

    def _expire_leases(self) -> None:
        """Store every SENDING claim whose lease ran out as UNKNOWN."""
        now = self._now(self._client)
        for member in self._client.zrangebyscore(self._leases, "-inf", now):
            self.get(member.decode() if isinstance(member, bytes) else str(member))

    def find(self, state: ClaimState) -> list[Claim]:
        state = ClaimState(state)
        if state is ClaimState.NEW:
            return []
        self._expire_leases()
        members = [m.decode() if isinstance(m, bytes) else str(m)
                   for m in self._client.zrange(self._index(state), 0, -1)]
        found: list[Claim] = []
        for start in range(0, len(members), 500):
            chunk = members[start:start + 500]
            raws = self._client.mget([self._record(k) for k in chunk])
            for raw in raws:
                claim = _decode_claim(raw)
                if claim is not None and claim.state is state:
                    found.append(claim)
        found.sort(key=lambda c: (c.created, c.key))
        return found

    def purge(self, older_than: float | dt.timedelta) -> int:
        age = check_age(older_than)
        cutoff = self._now(self._client) - age
        purged = 0
        for state in PURGEABLE_STATES:
            for member in self._client.zrange(self._index(state), 0, -1):
                key = member.decode() if isinstance(member, bytes) else str(member)
                if self._purge_one(key, cutoff):
                    purged += 1
        return purged

    def _purge_one(self, key: str, cutoff: float) -> bool:
        record = self._record(key)

        def step(pipe: Any) -> bool:
            stored = _decode_claim(pipe.get(record))
            pipe.multi()
            if stored is None or stored.state not in PURGEABLE_STATES or \
                    stored.updated >= cutoff:
                return False
            pipe.delete(record)
            pipe.zrem(self._index(stored.state), key)
            return True

        return self._atomic([record], step)


# -- falling back when Redis is unreachable --------------------------------------------------


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    """What "Redis cannot be reached" raises: connection and timeout errors (a server
    still loading its AOF is a ``BusyLoadingError``, a ``ConnectionError``)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError)


class _Fallback:
    """Runs a store operation on Redis, or on a per-process store while Redis is down.

    Used by the breaker store and the limiter, whose state is an optimisation (fewer
    requests to a sick provider, a shared pace): without Redis each process keeps its own,
    which is what one process alone does. Never used for claims, which fail closed: a
    message is never sent without its claim. The first failure of an outage is logged at
    WARNING, the recovery at INFO.
    """

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._down = False
        self._errors: tuple[type[BaseException], ...] | None = None

    @property
    def down(self) -> bool:
        """Whether the last operation had to fall back."""
        return self._down

    def run(self, shared: Callable[[], _T], local: Callable[[], _T]) -> _T:
        if self._errors is None:
            self._errors = _unreachable_errors()
        try:
            result = shared()
        except self._errors as exc:
            if not self._down:
                self._down = True
                _log.warning("%s: Redis is unreachable (%s); falling back to this process's "
                             "own state until it answers again", self._owner,
                             type(exc).__name__)
            return local()
        if self._down:
            self._down = False
            _log.info("%s: Redis answers again; state is shared again", self._owner)
        return result


# -- breakers -------------------------------------------------------------------------------


class RedisBreakerStore(_RedisStore):
    """Circuit breakers in Redis: every worker sees one circuit per provider key, and one
    half-open probe goes out among all of them.

    Args:
        client: a ``redis.Redis`` client, or a ``redis://`` URL.
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
        client: redis.Redis | str,
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

    def _guard(self, shared: Callable[[], _T], local: Callable[[], _T]) -> _T:
        if self._fallback is None:
            return shared()
        return self._fallback.run(shared, local)

    def _record(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def _update(self, key: str, change: Callable[[_Circuit, float, Any], _T]) -> _T:
        record = self._record(key)

        def step(pipe: Any) -> _T:
            raw = pipe.get(record)
            circuit = _Circuit(**json.loads(raw)) if raw is not None else _Circuit()
            before = (circuit.failures, circuit.opened_at, circuit.probe_at)
            result = change(circuit, self._now(pipe), pipe)
            pipe.multi()
            if (circuit.failures, circuit.opened_at, circuit.probe_at) != before:
                pipe.set(record, json.dumps({"failures": circuit.failures,
                                             "opened_at": circuit.opened_at,
                                             "probe_at": circuit.probe_at}))
            return result

        return self._atomic([record], step)

    def _lease(self, policy: BreakerPolicy) -> float:
        return policy.reset_timeout if self._probe_lease is None else self._probe_lease

    def admit(self, key: str, policy: BreakerPolicy) -> BreakerPermit:
        return self._guard(
            lambda: self._update(key, lambda circuit, now, _pipe: admit_rule(
                circuit, now, policy, self._lease(policy))),
            lambda: self._local.admit(key, policy))

    def record(
        self, key: str, permit: BreakerPermit, outcome: BreakerOutcome, *,
        policy: BreakerPolicy,
    ) -> None:
        check_record(permit, outcome)
        self._guard(
            lambda: self._update(key, lambda circuit, now, _pipe: record_rule(
                circuit, permit, outcome, lambda: now, policy)),
            lambda: self._local.record(key, permit, outcome, policy=policy))

    def release(self, key: str, permit: BreakerPermit) -> None:
        _check_permit(permit, _PERMITS)
        if permit != "probe":
            return
        self._guard(
            lambda: self._update(key, lambda circuit, _now, _pipe: free_probe(circuit, permit)),
            lambda: self._local.release(key, permit))

    def state(self, key: str, policy: BreakerPolicy) -> BreakerState:
        def shared() -> BreakerState:
            raw = self._client.get(self._record(key))
            circuit = _Circuit(**json.loads(raw)) if raw is not None else _Circuit()
            return state_rule(circuit, self._now(self._client), policy)

        return self._guard(shared, lambda: self._local.state(key, policy))


# -- pacing ---------------------------------------------------------------------------------


class RedisRateLimiter(_RedisStore):
    """Send pacing in Redis: one sliding-window log per key for the whole fleet.

    Args:
        client: a ``redis.Redis`` client, or a ``redis://`` URL.
        prefix: the start of every Redis key this store writes.
        clock: seconds; by default the Redis server's ``TIME``.
        fallback: while Redis cannot be reached, pace in this process's memory (a
            :class:`MemoryRateLimiter`) with a warning, instead of raising. Each process
            then keeps the whole rate for itself: a fleet of N workers may send up to N
            times the rate until Redis answers again.
    """

    def __init__(
        self,
        client: redis.Redis | str,
        *,
        prefix: str = "smsgate:rate:",
        clock: Callable[[], float] | None = None,
        fallback: bool = True,
    ) -> None:
        super().__init__(client, prefix=prefix, clock=clock)
        self._fallback = _Fallback(type(self).__name__) if fallback else None
        self._local = MemoryRateLimiter()

    def _guard(self, shared: Callable[[], _T], local: Callable[[], _T]) -> _T:
        if self._fallback is None:
            return shared()
        return self._fallback.run(shared, local)

    def _record(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def _load(self, pipe: Any, record: str) -> deque[list[float]]:
        raw = pipe.get(record)
        return deque(json.loads(raw)) if raw is not None else deque()

    def reserve(
        self, key: str, rate: Rate, *, cost: int = 1, max_wait: float | None = None
    ) -> float:
        _check_cost(cost, rate)
        check_max_wait(max_wait)
        return self._guard(lambda: self._reserve(key, rate, cost, max_wait),
                           lambda: self._local.reserve(key, rate, cost=cost,
                                                       max_wait=max_wait))

    def _reserve(self, key: str, rate: Rate, cost: int, max_wait: float | None) -> float:
        record = self._record(key)

        def step(pipe: Any) -> float:
            log = self._load(pipe, record)
            now = self._now(pipe)
            wait, booked = book(log, rate, cost, now, max_wait)
            pipe.multi()
            if booked:
                # The log matters until its last slot is a full period old: then it expires.
                keep_ms = max(1, int((wait + rate.period) * 1000) + 1)
                pipe.set(record, json.dumps(list(log)), px=keep_ms)
            return wait

        return self._atomic([record], step)

    def peek(self, key: str, rate: Rate, *, cost: int = 1) -> float:
        _check_cost(cost, rate)

        def shared() -> float:
            log = self._load(self._client, self._record(key))
            now = self._now(self._client)
            _trim(log, rate, now)
            return _earliest(log, rate, cost, now) - now

        return self._guard(shared, lambda: self._local.peek(key, rate, cost=cost))

    def reset(self, key: str) -> None:
        self._local.reset(key)
        self._guard(lambda: self._client.delete(self._record(key)), lambda: 0)
