"""``AsyncGateway`` and the async ``send_many``: the sync gateway's plan, awaited."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .._effects import Call, Plan
from .._observe import AttemptHook
from .._plan import SendPolicyHook
from .._protocol import SmsProvider
from .._secrets import get_logger
from .._unexpected import unexpected
from ..bulk import BulkReport, _text_progress, check_bulk_settings, read_batch
from ..errors import ConfigurationError, NotFound, SmsGateError, UnsupportedFeature
from ..gateway import BreakerPolicy, Gateway, RetryPolicy
from ..models import Balance, Message, SendResult, StatusResult
from ..stores._breakers import BreakerStore
from ..stores._claims import ClaimStore
from ..stores._rate import RateLimiter
from ._aiohttp import DEFAULT_MAX_CONNECTIONS, AiohttpTransport
from ._driver import arun, is_async_transport

__all__ = ["AsyncGateway", "send_many"]

_log = get_logger("smsgate.bulk")

#: ``progress`` for :func:`send_many`: called with ``(done, total)``; may be a coroutine
#: function.
Progress = Callable[[int, int], "Awaitable[None] | None"]


class AsyncGateway:
    """A :class:`~smsgate.Gateway` for asyncio: the same providers, the same plan, awaited.

    ``AsyncGateway(providers, **keywords)`` takes exactly what ``Gateway`` takes (routes,
    retry, breaker, failover_on_unknown, deadline, region, clock, rng, breaker_store,
    claims, claim_lease, limiter, policy, on_attempt, tracer_provider, meter_provider),
    except that ``sleep`` is awaited (default
    :func:`asyncio.sleep`), plus ``max_connections`` (default 100): the connections, so the
    requests in flight, to each provider reached through aiohttp. Every decision of a send
    (validation, routing, retries, failover, breakers, claims, the deadline) is the sync
    gateway's own plan (``smsgate._plan``), run by :func:`~smsgate.aio.arun`; a send through
    ``AsyncGateway`` and one through ``Gateway`` decide alike, request for request.

    How each provider's requests travel:

    * a provider on smsgate's default transport (built by the provider, no ``session=``)
      is reached through an :class:`AiohttpTransport` this gateway builds from the
      provider's ``base_url`` and ``timeout``, owns and closes in :meth:`aclose`;
    * a provider given an async transport (one whose ``perform`` is a coroutine function,
      an :class:`~smsgate.aio.AsyncTransport`) uses it as it is;
    * any other transport (``smsgate.testing.MockTransport``, a ``requests`` transport on
      your own ``session=``, a transport of your own) runs in a worker thread
      (:func:`asyncio.to_thread`), so it never blocks the event loop;
    * a custom provider that is not an HTTP provider (its own blocking ``send``) runs in a
      worker thread too.

    One gateway serves one event loop (its connections belong to it). Use it as
    ``async with AsyncGateway([...]) as sms:``, or call :meth:`aclose` when done.
    """

    name = "gateway"

    def __init__(
        self,
        providers: Sequence[SmsProvider],
        *,
        routes: Mapping[str, Sequence[SmsProvider]] | None = None,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 (frozen: immutable)
        breaker: BreakerPolicy | None = BreakerPolicy(),  # noqa: B008 (frozen: immutable)
        failover_on_unknown: bool = False,
        deadline: float | None = None,
        region: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
        breaker_store: BreakerStore | None = None,
        claims: ClaimStore | None = None,
        claim_lease: float | None = None,
        limiter: RateLimiter | None = None,
        policy: SendPolicyHook | None = None,
        on_attempt: AttemptHook | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if not callable(sleep):
            raise ConfigurationError("sleep must be an async function of seconds")
        # The sync gateway checks the configuration and builds the one plan core; this
        # class only drives it.
        self._gateway = Gateway(
            providers, routes=routes, retry=retry, breaker=breaker,
            failover_on_unknown=failover_on_unknown, deadline=deadline, region=region,
            clock=clock, rng=rng, breaker_store=breaker_store, claims=claims,
            claim_lease=claim_lease, limiter=limiter, policy=policy, on_attempt=on_attempt,
            tracer_provider=tracer_provider, meter_provider=meter_provider,
        )
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) \
                or max_connections < 1:
            raise ConfigurationError("max_connections must be a whole number >= 1")
        self._clock = clock
        self._sleep = sleep
        self._carriers = Carriers(self._gateway._all, max_connections=max_connections)
        self._closes_gateway = True

    @classmethod
    def _sharing(cls, gateway: Gateway, *, carriers: Any) -> AsyncGateway:
        """An async gateway over ``gateway`` itself: its plan core and its state (breakers,
        claims, limiter, pace, remembered sends, observers), its clock; sleeping on the
        loop; requests carried by ``carriers``. What the sync ``send_many`` drives on its
        event loop; :meth:`aclose` never closes ``gateway``."""
        self = cls.__new__(cls)
        self._gateway = gateway
        self._clock = gateway._clock
        self._sleep = asyncio.sleep
        self._carriers = carriers
        self._closes_gateway = False
        return self

    @property
    def _owned(self) -> list[AiohttpTransport]:
        return self._carriers.owned

    async def _run(self, plan: Plan[Any]) -> Any:
        return await arun(plan, clock=self._clock, sleep=self._sleep,
                          transport_for=self._carriers.transport_for)

    def __repr__(self) -> str:
        return "Async" + repr(self._gateway)

    @property
    def providers(self) -> tuple[SmsProvider, ...]:
        """The providers tried in order for countries without a route."""
        return self._gateway.providers

    @property
    def capabilities(self) -> frozenset[str]:
        """What at least one provider can do."""
        return self._gateway.capabilities

    def breaker_state(self, provider: SmsProvider) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` (see :meth:`Gateway.breaker_state`)."""
        return self._gateway.breaker_state(provider)

    def provider_key(self, provider: SmsProvider) -> str:
        """The key this gateway keeps ``provider``'s breaker and pace under."""
        return self._gateway.provider_key(provider)

    # -- sending ---------------------------------------------------------------------------
    async def send(
        self,
        to: str | Sequence[str],
        text: str,
        *,
        sender: str | None = None,
        urgent: bool = False,
        schedule_at: dt.datetime | None = None,
        validity: dt.timedelta | None = None,
        reference: str | None = None,
        idempotency_key: str | None = None,
        flash: bool = False,
        priority: bool = False,
        extra: Mapping[str, Any] | None = None,
        allow_duplicates: bool = False,
    ) -> SendResult:
        """Send through the first provider that accepts, as :meth:`Gateway.send` does.

        Cancelling the call (a timeout around it, a cancelled task) never leaves a claim
        saying "not sent" for a request that may have gone out: it becomes UNKNOWN, and the
        cancellation is raised.
        """
        options: dict[str, Any] = {
            "sender": sender, "urgent": urgent, "schedule_at": schedule_at,
            "validity": validity, "reference": reference, "idempotency_key": idempotency_key,
            "flash": flash, "priority": priority, "extra": extra,
            "allow_duplicates": allow_duplicates,
        }
        result: SendResult = await arun(  # what _run does, one coroutine less
            self._gateway._core.send(to, text, options), clock=self._clock, sleep=self._sleep,
            transport_for=self._carriers.transport_for)
        return result

    # -- lookups (the walk of Gateway.status and Gateway.balance) --------------------------
    async def status(self, message_id: str, *, recipient: str | None = None) -> StatusResult:
        """Ask the provider that sent ``message_id`` (remembered for the last 10,000 sends),
        else each provider with status lookups in turn."""
        gateway = self._gateway
        with gateway._sent_lock:
            known = gateway._sent_by.get(message_id)
        candidates = ([known] if known else
                      [p for p in gateway._all if "status" in p.capabilities])
        last: SmsGateError | None = None
        for provider in candidates:
            try:
                result: StatusResult = await self._run(
                    _status_plan(provider, message_id, recipient))
                return result
            except (NotFound, UnsupportedFeature) as exc:
                last = exc
        raise last or UnsupportedFeature("no provider in this gateway offers status lookups")

    async def balance(self) -> Balance:
        """The balance of the first provider that reports one."""
        for provider in self._gateway._all:
            if "balance" in provider.capabilities:
                result: Balance = await self._run(_balance_plan(provider))
                return result
        raise UnsupportedFeature("no provider in this gateway reports a balance")

    # -- lifetime --------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the connections this gateway opened, then the providers (as
        :meth:`Gateway.close`). Safe to call twice."""
        await self._carriers.aclose()
        if self._closes_gateway:
            self._gateway.close()

    async def __aenter__(self) -> AsyncGateway:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Carriers:
    """How each provider's requests travel on an event loop (see :class:`AsyncGateway`):
    an :class:`AiohttpTransport` for each provider on smsgate's default transport, made
    here and closed by :meth:`aclose`; any other transport as it is."""

    def __init__(self, providers: Iterable[SmsProvider], *, max_connections: int) -> None:
        self._connections = max_connections
        self._by_transport: dict[int, Any] = {}
        self.owned: list[AiohttpTransport] = []
        for provider in providers:
            self._carry(provider)

    def _carry(self, provider: SmsProvider) -> None:
        from .._http import RequestsTransport

        transport = getattr(provider, "transport", None)
        if (
            not isinstance(transport, RequestsTransport)
            or not getattr(provider, "_owns_transport", False)
            or not transport._owns_session
            or id(transport) in self._by_transport
            or is_async_transport(transport)
        ):
            return  # its own transport: awaited, or run in a worker thread by the driver
        if importlib.util.find_spec("aiohttp") is None:
            raise ConfigurationError(
                "AsyncGateway reaches HTTP providers through aiohttp: install smsgate[aio] "
                "(or give each provider a transport of your own)"
            )
        carrier = AiohttpTransport(
            provider=transport.provider, base_url=transport.base_url,
            timeout=transport.timeout, max_reply_bytes=transport.max_reply_bytes,
            max_connections=self._connections,
        )
        self._by_transport[id(transport)] = carrier
        self.owned.append(carrier)

    def transport_for(self, transport: Any) -> Any:
        """The transport that carries a request made for ``transport`` here."""
        return self._by_transport.get(id(transport), transport)

    async def aclose(self) -> None:
        """Close the transports made here. Safe to call twice."""
        owned, self.owned = self.owned, []
        self._by_transport.clear()
        for carrier in owned:
            await carrier.aclose()


def _plans(provider: SmsProvider, method: str) -> bool:
    """Whether ``provider``'s ``method`` is the HTTP base's own (so its plan says all it
    does), not one a subclass wrote (which only calling it can honour)."""
    from ..providers._base import HttpProvider

    return isinstance(provider, HttpProvider) and (
        getattr(type(provider), method) is getattr(HttpProvider, method)
        and method not in getattr(provider, "__dict__", ())
    )


def _status_plan(provider: SmsProvider, message_id: str, recipient: str | None) -> Plan[Any]:
    if _plans(provider, "status"):
        return provider.plan_status(message_id, recipient)  # type: ignore[attr-defined,no-any-return]
    return _blocking(provider.status, message_id, recipient=recipient)


def _balance_plan(provider: SmsProvider) -> Plan[Any]:
    if _plans(provider, "balance"):
        return provider.plan_balance()  # type: ignore[attr-defined,no-any-return]
    return _blocking(provider.balance)


def _blocking(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Plan[Any]:
    """A plan of one blocking call (a custom provider's own lookup)."""
    return (yield Call(function, args, kwargs))


# -- send_many -------------------------------------------------------------------------------


async def send_many(
    target: Any,
    messages: Iterable[Message],
    *,
    concurrency: int = 8,
    progress: bool | Progress = False,
    keep_raw: bool = True,
) -> BulkReport:
    """Send each :class:`~smsgate.Message` through ``target``, ``concurrency`` at a time.

    The async twin of :func:`smsgate.send_many`, with the same report.

    Args:
        target: an :class:`AsyncGateway` (or anything whose ``send`` is a coroutine
            function with the send keywords). A sync provider is wrapped by you, in
            ``AsyncGateway([provider])``.
        messages: the messages; each may carry its own send options.
        concurrency: sends in flight at once (one task each; no task per message).
        progress: ``True`` draws a bar on stderr; a callable (plain or ``async``) receives
            ``(done, total)`` after each message.
        keep_raw: ``False`` drops each result's ``raw`` as soon as its send returns.

    Returns:
        A :class:`~smsgate.BulkReport`: one result or error per message, in input order.
        Every smsgate error is recorded for its message, never raised; any other exception
        (a bug) is recorded as a ``ProviderError`` that says it may have been sent. A
        cancellation of ``send_many`` itself stops every send in flight (each settles its
        claim as :meth:`AsyncGateway.send` does) and is raised.
    """
    check_bulk_settings(concurrency, keep_raw)
    send = getattr(target, "send", None)
    if send is None or not inspect.iscoroutinefunction(send):
        raise ConfigurationError(
            "send_many from smsgate.aio takes an AsyncGateway (or an object with an async "
            f"send), not {type(target).__name__}; wrap a provider as AsyncGateway([provider]) "
            "or use smsgate.send_many"
        )
    batch = read_batch(messages)
    report: Progress | None = _text_progress if progress is True else (progress or None)
    results: list[SendResult | SmsGateError | None] = [None] * len(batch)
    done = 0
    name = getattr(target, "name", "?")

    async def one(index: int) -> None:
        nonlocal done, report
        message = batch[index]
        try:
            outcome: SendResult | SmsGateError = await send(
                message.to, message.text, **message.options)
        except SmsGateError as error:
            outcome = error
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            raise  # the caller's interrupt or cancellation stops the batch
        except BaseException as error:
            outcome = unexpected(name, error, may_have_sent=True)
        returned: object = outcome
        if not isinstance(returned, (SendResult, SmsGateError)):
            outcome = unexpected(name, TypeError(
                f"send returned {type(returned).__name__}, not a SendResult"),
                may_have_sent=True)
        if not keep_raw and isinstance(outcome, SendResult) and outcome.raw is not None:
            outcome = attrs.evolve(outcome, raw=None)
        results[index] = outcome
        done += 1
        if report is not None:
            try:
                shown = report(done, len(batch))
                if inspect.isawaitable(shown):
                    await shown
            except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
                raise
            except BaseException:
                _log.warning("send_many: the progress callback raised; not calling it again",
                             exc_info=True)
                report = None

    indexes = iter(range(len(batch)))

    async def work() -> None:
        for index in indexes:  # shared: each worker takes the next message
            await one(index)

    workers = [asyncio.ensure_future(work()) for _ in range(min(concurrency, len(batch)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return BulkReport(results=tuple(r for r in results if r is not None))
