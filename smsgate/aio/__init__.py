"""smsgate for asyncio: the same providers, the same send plan, awaited.

>>> from smsgate.aio import AsyncGateway                         # doctest: +SKIP
>>> async with AsyncGateway([GoSmsGe(key), SmsOfficeGe(key2)]) as sms:
...     result = await sms.send("+995555123456", "Hello")

:class:`AsyncGateway` takes the provider objects a :class:`~smsgate.Gateway` takes and runs
the very same plan (every retry, failover, breaker and claim decision is made once, in
``smsgate._plan``); only the driver (:func:`arun`) and the transport
(:class:`AiohttpTransport`, on the ``aio`` extra: ``pip install smsgate[aio]``) are async.
aiohttp is imported when the first request is made, not by ``import smsgate.aio``. The
Redis stores of :mod:`smsgate.stores` are awaited natively (their async twins, on
``redis.asyncio``); the in-memory stores are called on the loop; other stores run in a
worker thread.
See ``docs/async.md``.
"""

from ._aiohttp import AiohttpTransport
from ._driver import AsyncTransport, arun
from ._gateway import AsyncGateway, send_many

__all__ = [
    "AiohttpTransport",
    "AsyncGateway",
    "AsyncTransport",
    "arun",
    "send_many",
]
