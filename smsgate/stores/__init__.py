"""State that outlives one call: idempotency claims, circuit breakers and send pacing.

smsgate promises never a silent loss and never an accidental duplicate. Inside one process the
gateway keeps that promise with what it holds in memory; across threads, restarts and worker
fleets the memory has to be shared. This module holds the three kinds of shared state, each as
a protocol and implementations:

========================  ===============================  ====================================
protocol                  question it answers              implementations
========================  ===============================  ====================================
:class:`ClaimStore`       may this idempotency key be      :class:`MemoryClaimStore`,
                          sent now, or was it (or may it   :class:`SqliteClaimStore` (one host,
                          have been) sent already?         many processes),
                                                           :class:`RedisClaimStore` (a fleet)
:class:`BreakerStore`     may a request go to this         :class:`MemoryBreakerStore`,
                          provider now?                    :class:`RedisBreakerStore`
:class:`RateLimiter`      how long must this send wait     :class:`MemoryRateLimiter`,
                          to keep under our own rate?      :class:`RedisRateLimiter`
========================  ===============================  ====================================

None of them performs a request, sleeps or retries: the gateway's drivers (sync, async, a
Celery task) do, and ask the stores only for atomic decisions, so the same stores serve every
driver.

The Redis stores also offer an async twin of each operation, named with an ``a`` in front
(``abegin``, ``afind``, ``aadmit``, ``areserve``, ...), on ``redis.asyncio``: the same rules
in the same transactions, written once. ``smsgate.aio.AsyncGateway`` awaits a store's twin
when it has one, calls the in-memory stores directly, and runs any other store (SQLite, your
own) in a worker thread.
"""

from __future__ import annotations

from ._breakers import (
    BreakerOutcome,
    BreakerPermit,
    BreakerState,
    BreakerStore,
    MemoryBreakerStore,
)
from ._claims import Claim, ClaimConflict, ClaimState, ClaimStore, MemoryClaimStore
from ._rate import MemoryRateLimiter, Rate, RateLimiter
from ._redis import RedisBreakerStore, RedisClaimStore, RedisRateLimiter  # redis: on first use
from ._sqlite import SqliteClaimStore

__all__ = [
    "BreakerOutcome",
    "BreakerPermit",
    "BreakerState",
    "BreakerStore",
    "Claim",
    "ClaimConflict",
    "ClaimState",
    "ClaimStore",
    "MemoryBreakerStore",
    "MemoryClaimStore",
    "MemoryRateLimiter",
    "Rate",
    "RateLimiter",
    "RedisBreakerStore",
    "RedisClaimStore",
    "RedisRateLimiter",
    "SqliteClaimStore",
]
