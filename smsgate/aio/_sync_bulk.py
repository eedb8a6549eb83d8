"""The event-loop path of the sync :func:`smsgate.send_many`.

A batch sent on threads costs each message a thread's turn through ``requests`` (about a
millisecond of CPU per message: its session, urllib3's pool, a blocking socket per thread).
The same send plans, driven on one event loop over smsgate's own HTTP/1.1 connections
(:mod:`smsgate.aio`), cost a fraction of that. So, when it can, the sync ``send_many`` runs
:func:`smsgate.aio.send_many` on smsgate's private event loop (a daemon thread started on
first use, whose connections stay open for the next batch) and returns its report:

* the ``aio`` extra is installed (aiohttp and httptools importable);
* the target is a :class:`~smsgate.Gateway` (its own ``send``, its default blocking
  ``sleep``) or an HTTP provider (its own ``send``), and every provider it reaches is an
  HTTP provider whose ``send`` is the base's, on the transport it built itself (no
  ``session=``, no ``transport=``);
* ``requests``' sending is not replaced (``responses``, ``requests-mock``, a monkeypatch):
  a mock must see, and stop, every request, and the loop's transport would go past it to
  the network.

Anything else keeps the threads. The plans are the ones the threads would run: a gateway's
(with its breakers, claims, limiter and remembered sends, the same objects) or a
provider's own send (its policy step and request), so outcomes, errors and
``may_have_sent`` are the same either way (``tests/test_bulk_loop.py`` runs one faulty
batch both ways).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from .._effects import Plan
from .._protocol import SmsProvider
from ..bulk import BulkReport, Progress
from ..guards import plan_guarded_send
from ..models import Message, SendResult
from ._driver import arun

__all__ = ["loop_sender", "send_on_private_loop"]


def _own_http(provider: SmsProvider) -> bool:
    """An HTTP provider whose send plan the loop can run, on smsgate's own transport."""
    from .._http import RequestsTransport
    from .._plan import _native
    from ..providers._base import HttpProvider

    transport = getattr(provider, "transport", None)
    return (
        isinstance(provider, HttpProvider)
        and _native(provider)
        and type(transport) is RequestsTransport
        and bool(getattr(provider, "_owns_transport", False))
        and bool(getattr(transport, "_owns_session", False))
    )


def requests_patched() -> bool:
    """Whether ``requests``' sending is replaced (``responses``, ``requests-mock``, a test's
    monkeypatch): then every request must go through it, so that a mock sees (and stops)
    each one; the loop's transport would bypass it and reach the network."""
    import requests

    send = requests.adapters.HTTPAdapter.send
    get_adapter = requests.Session.get_adapter
    return (getattr(send, "__module__", None) != "requests.adapters"
            or getattr(get_adapter, "__module__", None) != "requests.sessions")


def loop_sender(target: Any) -> Any:
    """What :func:`send_on_private_loop` drives for ``target`` (a description of how to make
    its async sender), or ``None`` when the batch must stay on threads (see the module
    docstring)."""
    if importlib.util.find_spec("aiohttp") is None or \
            importlib.util.find_spec("httptools") is None or requests_patched() \
            or threading.current_thread() is _RUNNER.thread:
        # (On the loop's own thread, a send_many from a progress callback or a store would
        # wait for the loop it blocks.)
        return None
    from ..gateway import Gateway

    if isinstance(target, Gateway):
        if (type(target).send is not Gateway.send or "send" in vars(target)
                or target._sleep is not time.sleep):
            return None
        return ("gateway", target) if all(_own_http(p) for p in target._all) else None
    return ("provider", target) if _own_http(target) else None


class _Runner:
    """smsgate's private event loop, in a daemon thread of its own, started on first use
    (and anew in a forked child), with the async transports it keeps for the sync
    providers' transports: connections stay open from one ``send_many`` to the next, as
    the providers' own ``requests`` sessions keep theirs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        # Touched on the loop's thread only.
        self._carriers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if self._loop is None or self._pid != os.getpid() or not alive:
                loop = asyncio.new_event_loop()
                # A blocking store's calls (SQLite, a sync Redis client) run in this pool:
                # as many at once as the threads of a threaded batch would make.
                loop.set_default_executor(ThreadPoolExecutor(
                    max_workers=_STORE_THREADS, thread_name_prefix="smsgate-loop-store"))
                thread = threading.Thread(target=loop.run_forever, name="smsgate-loop",
                                          daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                self._carriers = weakref.WeakKeyDictionary()
            return self._loop

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def carrier(self, transport: Any, connections: int) -> Any:
        """The async transport that carries ``transport``'s requests on this loop (made
        once, closed when ``transport`` is collected), with room for ``connections``."""
        from ._aiohttp import DEFAULT_MAX_CONNECTIONS, AiohttpTransport

        carrier = self._carriers.get(transport)
        if carrier is not None and carrier.timeout == transport.timeout \
                and carrier.max_reply_bytes == transport.max_reply_bytes \
                and carrier.base_url == transport.base_url.rstrip("/") \
                and carrier.widen(connections):
            return carrier  # (made for the transport as it is now)
        carrier = AiohttpTransport(
            provider=transport.provider, base_url=transport.base_url,
            timeout=transport.timeout, max_reply_bytes=transport.max_reply_bytes,
            max_connections=max(connections, DEFAULT_MAX_CONNECTIONS))
        # (One that could not widen, a proxied one, is closed with the other when
        # ``transport`` is collected.)
        self._carriers[transport] = carrier
        loop = self._loop
        assert loop is not None
        weakref.finalize(transport, _close_later, loop, carrier)
        return carrier


def _close_later(loop: asyncio.AbstractEventLoop, carrier: Any) -> None:
    """Close ``carrier`` on its loop, from whatever thread collected its sync transport."""
    with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to close
        loop.call_soon_threadsafe(lambda: loop.create_task(carrier.aclose()))


#: Worker threads of the private loop's default executor (blocking store calls).
_STORE_THREADS: Final = 64

_RUNNER: Final = _Runner()


class _SharedCarriers:
    """:class:`~smsgate.aio._gateway.Carriers` for the private loop: the runner's transports
    (kept for the next batch), nothing owned."""

    def __init__(self, providers: Any, connections: int) -> None:
        self.owned: list[Any] = []
        self._by_transport = {
            id(p.transport): _RUNNER.carrier(p.transport, connections) for p in providers}

    def transport_for(self, transport: Any) -> Any:
        return self._by_transport.get(id(transport), transport)

    async def aclose(self) -> None:
        """Nothing to close: the runner keeps the transports for the next batch."""


class _ProviderSender:
    """A provider's own send, awaited: :meth:`ProviderBase.send`'s validation and plan
    (the policy step, then the request), its requests carried by the loop's transports."""

    def __init__(self, provider: Any, carriers: Any) -> None:
        self.name = provider.name
        self._provider = provider
        self._carriers = carriers

    async def send(self, to: Any, text: Any, **options: Any) -> SendResult:
        outgoing = self._provider.prepare(to, text, **options)
        plan: Plan[SendResult] = plan_guarded_send(
            self._provider, outgoing, self._provider.policy)
        result: SendResult = await arun(plan, transport_for=self._carriers.transport_for)
        return result


async def _send_all(how: Any, batch: list[Message], concurrency: int,
                    report: Progress | None, keep_raw: bool) -> BulkReport:
    from ._gateway import AsyncGateway, send_many

    kind, target = how
    providers = target._all if kind == "gateway" else [target]
    carriers = _SharedCarriers(providers, concurrency)
    sender: Any = (AsyncGateway._sharing(target, carriers=carriers) if kind == "gateway"
                   else _ProviderSender(target, carriers))
    return await send_many(sender, batch, concurrency=concurrency,
                           progress=report or False, keep_raw=keep_raw)


def send_on_private_loop(how: Any, batch: list[Message], concurrency: int,
                         report: Progress | None, keep_raw: bool) -> BulkReport:
    """Run the batch on smsgate's private event loop (its own thread: a loop the caller's
    thread runs, or has set, is never touched) and return its report.

    An interrupt of the waiting caller (``KeyboardInterrupt``) cancels the sends in flight,
    which settle their claims as a cancelled async send does, and is raised once they have.
    """
    finished = threading.Event()

    async def main() -> BulkReport:
        try:
            return await _send_all(how, batch, concurrency, report, keep_raw)
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(main(), _RUNNER.loop())
    try:
        return future.result()
    except BaseException:
        if not future.done():
            future.cancel()  # the task is cancelled on the loop: the sends settle
            finished.wait()
        raise
