"""Async twins: how a store offers a native ``async`` version of an operation.

A store's operations are blocking methods (``begin``, ``admit``, ``reserve``, ...): that is
what the sync gateway calls, and what every store must offer. A store that can also do its
I/O on an event loop (the Redis stores on ``redis.asyncio``) offers, beside each operation, a
coroutine method of the same name with an ``a`` in front (``abegin``, ``aadmit``,
``areserve``: Django's convention for async twins). The async driver of ``smsgate.aio``
awaits the twin instead of running the blocking method in a worker thread.

Only the names below are looked up, so that a method of some other object that happens to
start with ``a`` (a custom provider's) is never mistaken for a twin.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Final

__all__ = ["STORE_OPERATIONS", "async_twin"]

#: The store operations that may have an async twin (``"a" + name``): those of the claim,
#: breaker and rate-limiter protocols, and of the send policy's budget and suppression
#: stores.
STORE_OPERATIONS: Final = frozenset({
    "begin", "finish", "renew", "settle", "get", "find", "purge",  # ClaimStore
    "admit", "record", "release", "state",  # BreakerStore (and BudgetStore.release)
    "reserve", "peek", "reset",  # RateLimiter (and BudgetStore.reserve)
    "spent", "suppressed",  # BudgetStore, SuppressionList
})


def async_twin(function: Callable[..., Any]) -> Callable[..., Awaitable[Any]] | None:
    """The coroutine method twin of the store operation ``function`` (a bound method), or
    ``None`` when its store offers none."""
    name = getattr(function, "__name__", None)
    if name not in STORE_OPERATIONS:
        return None
    twin = getattr(getattr(function, "__self__", None), "a" + name, None)
    if twin is None or not inspect.iscoroutinefunction(twin):
        return None
    return twin  # type: ignore[no-any-return]


def async_only(**stores: Any) -> str | None:
    """Why a blocking driver (the sync :class:`~smsgate.Gateway`) cannot use these stores,
    or ``None`` when it can: a store whose ``sync_capable`` is ``False`` (a Redis store given
    a ``redis.asyncio`` client) serves async code only. A send policy's own stores count."""
    policy = stores.pop("policy", None)
    if policy is not None:
        stores["policy.limiter"] = getattr(policy, "limiter", None)
        stores["policy.suppression"] = getattr(policy, "suppression", None)
    names = [name for name, store in stores.items()
             if store is not None and getattr(store, "sync_capable", True) is False]
    if not names:
        return None
    return (f"{', '.join(names)}: a store on a redis.asyncio client serves async code only; "
            "use smsgate.aio.AsyncGateway, or build the store from a redis:// URL (it then "
            "serves both)")
