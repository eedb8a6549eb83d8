"""What a send reports about itself: the ``on_attempt`` hook and OpenTelemetry.

One :class:`Observer` per gateway; :meth:`Observer.watch` gives one :class:`SendWatch` per
send (or ``None`` when nobody listens, so an unobserved send pays one check). The send plan
(:mod:`smsgate._plan`) tells its watch when the send starts and ends and when each attempt
(one call of one provider's send) starts and ends; the watch turns that into one
:class:`AttemptInfo` per attempt for the caller's hook, one span per send with one child
span per attempt, and three metric instruments.

Why the plan calls the watch directly rather than through an effect: everything here is
in-memory and non-blocking (a hook is documented as such; spans and metrics only update SDK
objects, and exporting happens in the SDK's own processors and readers), exactly like the
retry budget the plan already updates. An effect would make the async driver run it in a
worker thread for nothing, and both drivers would have to learn a new effect. Called
directly, the same code runs unchanged under :func:`smsgate._effects.run` and the async
driver, in the order the plan decides, with no I/O in the plan.

Why spans are parented explicitly and never made "current": a plan is a generator that a
driver advances step by step; attaching a context across a ``yield`` would leave the span
current for whatever runs in that context between two steps (another plan driven in the
same thread or task) and would have to be detached from wherever the generator is closed.
So the send span's parent is the context that is current when the plan starts (the caller's
span, if any), and each attempt span's parent is the send span, given explicitly.

What never goes into a span, an event, a metric or an :class:`AttemptInfo`: a phone number
(not even masked: counts and regions only), the message text, a sender name, a reference,
an idempotency key, a message body, an exception's message or traceback (which may quote
any of these), and of course any credential. Errors are named by their class
(``error.type``), outcomes by a small fixed vocabulary (:data:`OUTCOMES`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from ._unexpected import UnexpectedError
from ._version import __version__
from .errors import (
    AllProvidersFailed,
    ProviderError,
    RecipientRejected,
    SmsGateError,
    ValidationError,
)

if TYPE_CHECKING:
    from .models import SendResult

__all__ = ["OUTCOMES", "AttemptInfo", "Observer", "Outcome", "SendWatch", "outcome_of"]

_log = logging.getLogger("smsgate.gateway")

#: The class of an attempt's or a send's outcome (low cardinality: fit for metrics).
Outcome = Literal["accepted", "partial", "invalid", "rejected", "refused", "unavailable",
                  "unknown", "unexpected", "interrupted"]
#: Every :data:`Outcome`, with what it means (``docs/observability.md`` shows this table).
OUTCOMES: Final[dict[str, str]] = {
    "accepted": "the provider accepted the message for every recipient",
    "partial": "a result came back, but not every recipient was accepted",
    "invalid": "refused before any request: a bad number, text, option or policy",
    "rejected": "the provider refused the recipient (``RecipientRejected``)",
    "refused": "the provider refused the request: credentials, funds, sender...; not sent",
    "unavailable": "the provider could not be reached or asked to wait; not sent",
    "unknown": "the message may have been sent (``may_have_sent=True``)",
    "unexpected": "an exception that is not smsgate's (a bug), or a reply of the wrong type",
    "interrupted": "the send was cancelled (an asyncio cancellation) or interrupted "
                   "(KeyboardInterrupt) part-way: treat it as possibly sent",
}


def outcome_of(outcome: SendResult | BaseException) -> Outcome:
    """The :data:`Outcome` class of a result or an error."""
    if not isinstance(outcome, BaseException):
        return "accepted" if outcome.ok else "partial"
    if not isinstance(outcome, Exception):  # CancelledError, KeyboardInterrupt, SystemExit
        return "interrupted"
    if isinstance(outcome, UnexpectedError) or not isinstance(outcome, SmsGateError):
        return "unexpected"
    if outcome.may_have_sent:
        return "unknown"
    if isinstance(outcome, ValidationError):
        return "invalid"
    if isinstance(outcome, RecipientRejected):
        return "rejected"
    if isinstance(outcome, AllProvidersFailed):
        return "unavailable" if outcome.errors and all(
            outcome_of(e) == "unavailable" for e in outcome.errors) else "refused"
    if isinstance(outcome, ProviderError) and outcome.retryable:
        return "unavailable"
    return "refused"


@attrs.frozen
class AttemptInfo:
    """One attempt of a send (one call of one provider's send), as ``on_attempt`` gets it.

    It holds what an operator needs and nothing a log must not show: no phone number, no
    text, no sender, no key, no credential.

    Attributes:
        provider: the provider's registry name (``"gosms.ge"``).
        attempt: 1 for the first try of this provider in this send, 2 for its first retry...
        sequence: 1 for the send's first attempt, counting every provider.
        failover: the attempt is on a provider after the first one the send tried or
            skipped (a failover, or the next provider of the chain after a refusal).
        outcome: the outcome's class (:data:`OUTCOMES`): ``"accepted"``, ``"unknown"``...
        error: the error's class name (``"ProviderUnavailable"``), ``None`` on success.
        rule: the gateway's decision rule that fired (``"retryable"``, ``"unknown"``...:
            the table in ``docs/failover.md``); ``"accepted"`` on success.
        may_have_sent: whether this attempt may have sent the message (``True`` once
            accepted).
        elapsed: seconds the attempt took, on the gateway's clock.
        http_status: the status of the attempt's last HTTP reply, ``None`` when none came.
        recipients: how many numbers the attempt was for.
    """

    provider: str
    attempt: int
    sequence: int
    failover: bool
    outcome: Outcome
    error: str | None
    rule: str
    may_have_sent: bool
    elapsed: float
    http_status: int | None
    recipients: int


#: The type of ``Gateway(on_attempt=...)``.
AttemptHook = Callable[[AttemptInfo], None]

# -- OpenTelemetry, imported on first use ---------------------------------------------------

#: ``(trace, metrics internals)`` of the OpenTelemetry API once imported; ``False`` when it
#: is not installed; ``None`` before the first send looked.
_otel: Any = None


def _api() -> Any:
    """``opentelemetry``'s ``trace`` module and the module holding the global meter
    provider, or ``None`` (the API is not installed)."""
    global _otel
    if _otel is None:
        try:
            from opentelemetry import trace
            from opentelemetry.metrics import _internal as metrics
        except ImportError:
            _otel = False
        else:
            global _LAYOUT_KNOWN
            _NAMED_BY_ENVIRONMENT.update(
                name for name in ("_TRACER_PROVIDER", "_METER_PROVIDER")
                if f"OTEL_PYTHON_{name.strip('_')}" in os.environ)
            _LAYOUT_KNOWN = (not _NAMED_BY_ENVIRONMENT and hasattr(trace, "_TRACER_PROVIDER")
                             and hasattr(metrics, "_METER_PROVIDER"))
            _otel = (trace, metrics)
    return _otel or None


#: The global providers the environment names (``OTEL_PYTHON_TRACER_PROVIDER``...).
_NAMED_BY_ENVIRONMENT: set[str] = set()
#: The API keeps its global providers where :meth:`Observer._unheard` reads them, and the
#: environment names none (which the API's getters would install on first use).
_LAYOUT_KNOWN = False


def _global(module: Any, name: str, getter: str) -> Any:
    """The API's global provider, or ``None`` while none was installed.

    The API's own getter reads an environment variable at every call (microseconds a send
    would pay for nothing); the variable it reads is what it stores the installed provider
    in, so that is read first. The getter still runs when the API's layout is not the one
    expected, or when no provider is installed yet but the environment named one when
    smsgate first looked (the getter installs it).
    """
    provider = getattr(module, name, _UNKNOWN)
    if provider is None:
        if name not in _NAMED_BY_ENVIRONMENT:
            return None
        provider = _UNKNOWN
    if provider is _UNKNOWN:
        provider = getattr(module, getter)()
    return provider


_UNKNOWN: Final = object()


def _is_noop_tracer_provider(trace: Any, provider: Any) -> bool:
    return isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def _is_noop_meter_provider(metrics: Any, provider: Any) -> bool:
    # The API's global before an SDK is installed is a private proxy class.
    return isinstance(provider, (metrics.NoOpMeterProvider, metrics._ProxyMeterProvider))


@attrs.define
class _Instruments:
    duration: Any
    failures: Any
    attempt_duration: Any


class Observer:
    """A gateway's listeners: the ``on_attempt`` hook, and OpenTelemetry when it is on.

    OpenTelemetry is on when the API is installed and either a provider was given
    (``tracer_provider=`` / ``meter_provider=``) or the application installed an SDK as
    the global one (``trace.set_tracer_provider``); it is looked up at each send, so an SDK
    configured after the gateway was built is used.
    """

    def __init__(
        self,
        on_attempt: AttemptHook | None = None,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        self.on_attempt = on_attempt
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        # (provider, what it gave): one attribute, so that a thread never pairs one
        # provider with another's tracer or instruments.
        self._tracing: tuple[Any, Any] = (None, None)
        self._metering: tuple[Any, _Instruments | None] = (None, None)

    def watch(self) -> SendWatch | None:
        """The watch of one send, or ``None`` when nobody listens."""
        if self._unheard():
            return None
        tracer, instruments = self._otel()
        if tracer is None and instruments is None and self.on_attempt is None:
            return None
        return SendWatch(self.on_attempt, tracer, instruments)

    def _unheard(self) -> bool:
        """Nobody listens, as far as a few attribute reads can tell (the common case of a
        gateway with no hook in a process with no SDK: what every unobserved send pays)."""
        if (self.on_attempt is not None or self._tracer_provider is not None
                or self._meter_provider is not None):
            return False
        api = _otel
        if api is False:
            return True
        return (api is not None and _LAYOUT_KNOWN and api[0]._TRACER_PROVIDER is None
                and api[1]._METER_PROVIDER is None)

    def _otel(self) -> tuple[Any, _Instruments | None]:
        api = _otel if _otel is not None else _api()
        if not api:
            return None, None
        trace, metrics = api
        tracer_provider = self._tracer_provider or _global(
            trace, "_TRACER_PROVIDER", "get_tracer_provider")
        tracing = self._tracing
        if tracer_provider is not tracing[0]:
            tracing = self._tracing = (tracer_provider, (
                None if tracer_provider is None
                or _is_noop_tracer_provider(trace, tracer_provider)
                else tracer_provider.get_tracer("smsgate", __version__)))
        meter_provider = self._meter_provider or _global(
            metrics, "_METER_PROVIDER", "get_meter_provider")
        metering = self._metering
        if meter_provider is not metering[0]:
            metering = self._metering = (meter_provider, (
                None if meter_provider is None
                or _is_noop_meter_provider(metrics, meter_provider)
                else _instruments(meter_provider)))
        return tracing[1], metering[1]


def _instruments(meter_provider: Any) -> _Instruments:
    """Three instruments. Sends and attempts are counted by the duration histograms (their
    ``_count``), as OpenTelemetry's HTTP conventions count requests: one update per send
    and one per attempt instead of two each."""
    meter = meter_provider.get_meter("smsgate", __version__)
    return _Instruments(
        duration=meter.create_histogram(
            "smsgate.send.duration", unit="s",
            description="Duration of a send, retries and failover included; its count is "
                        "the number of sends, by outcome class and provider"),
        failures=meter.create_counter(
            "smsgate.send.failures", unit="{send}",
            description="Sends that raised, by outcome class and error type"),
        attempt_duration=meter.create_histogram(
            "smsgate.attempt.duration", unit="s",
            description="Duration of one attempt (one call of one provider's send); its "
                        "count is the number of attempts, by provider and outcome class"),
    )


_SYSTEM: Final = {"messaging.system": "smsgate", "messaging.operation.name": "send",
                  "messaging.operation.type": "send"}


class SendWatch:
    """What one send reports, as the plan tells it (see the module docstring)."""

    def __init__(self, hook: AttemptHook | None, tracer: Any,
                 instruments: _Instruments | None) -> None:
        self.hook = hook
        self.tracer = tracer
        self.instruments = instruments
        #: How many numbers the send is for (set by the plan once they are read).
        self.recipients = 0
        self.sequence = 0
        self.failover = False  # set by the plan while it tries a provider after the first
        self.started: float | None = None
        self.span: Any = None
        self.context: Any = None
        self.last_provider: str | None = None
        self.any_failover = False

    # -- the send --------------------------------------------------------------------------
    def begin(self, now: float) -> None:
        self.started = now
        if self.tracer is None:
            return
        trace = _otel[0]
        self.span = self.tracer.start_span("smsgate send", kind=trace.SpanKind.PRODUCER)
        self.context = trace.set_span_in_context(self.span)

    def end(self, outcome: SendResult | BaseException, now: float) -> None:
        """The send returned ``outcome`` (a result) or raised it, at ``now``."""
        kind = outcome_of(outcome)
        failed = isinstance(outcome, BaseException)
        # The provider that accepted, or the one the error names, else the last one tried.
        provider: object = getattr(outcome, "provider", None) or self.last_provider
        attributes: dict[str, Any] = {"smsgate.outcome": kind}
        if isinstance(provider, str):
            attributes["smsgate.provider"] = provider
        if failed:
            attributes["error.type"] = type(outcome).__name__
        elapsed = None if self.started is None else max(0.0, now - self.started)
        span = self.span
        if span is not None:
            shown = {**_SYSTEM, **attributes, "smsgate.recipients": self.recipients,
                     "smsgate.attempts": self.sequence, "smsgate.failover": self.any_failover}
            if self.recipients > 1:
                shown["messaging.batch.message_count"] = self.recipients
            if failed:
                shown["smsgate.may_have_sent"] = bool(getattr(outcome, "may_have_sent", True))
            else:
                assert not isinstance(outcome, BaseException)
                shown["smsgate.may_have_sent"] = True
                if outcome.message_id is not None:
                    shown["messaging.message.id"] = str(outcome.message_id)
                if outcome.segments is not None:
                    shown["smsgate.segments"] = outcome.segments
            span.set_attributes(shown)
            if failed:
                # The class only: an exception's message may quote a masked number, a
                # sender or a reference, and its traceback the frame's values.
                trace = _otel[0]
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(outcome).__name__))
            span.end()
        instruments = self.instruments
        if instruments is not None:
            try:
                if failed:
                    instruments.failures.add(1, attributes)
                if elapsed is not None:
                    instruments.duration.record(elapsed, attributes)
            except Exception:  # an SDK's bug must not change what the send returns
                _log.warning("smsgate: recording send metrics failed", exc_info=True)

    def abandon(self) -> None:
        """The plan is being closed before it ended (it may not ask the clock): the span
        ends, marked ``abandoned``; no metric is recorded for a send with no outcome."""
        if self.span is not None:
            self.span.set_attribute("smsgate.outcome", "abandoned")
            self.span.end()

    def skipped(self, provider: str, rule: str) -> None:
        """A provider of the chain was skipped with no request (an open breaker, no time
        left): an event on the send span, not an attempt."""
        if self.span is not None:
            self.span.add_event("smsgate.skip", {"smsgate.provider": provider,
                                                 "smsgate.rule": rule})

    # -- one attempt -----------------------------------------------------------------------
    def attempt_begin(self, provider: str, attempt: int) -> _AttemptWatch:
        self.sequence += 1
        self.last_provider = provider
        if self.failover:
            self.any_failover = True
        span = None
        if self.tracer is not None:
            # Its attributes are set once, when it ends (one call into the SDK, not two).
            span = self.tracer.start_span(f"smsgate send {provider}", context=self.context,
                                          kind=_otel[0].SpanKind.CLIENT)
        return _AttemptWatch(provider, attempt + 1, self.sequence, self.failover, span)

    def attempt_end(self, watch: _AttemptWatch, outcome: SendResult | BaseException,
                    rule: str, elapsed: float, http_status: int | None) -> None:
        failed = isinstance(outcome, BaseException)
        info = AttemptInfo(
            provider=watch.provider, attempt=watch.attempt, sequence=watch.sequence,
            failover=watch.failover, outcome=outcome_of(outcome),
            error=type(outcome).__name__ if failed else None, rule=rule,
            may_have_sent=bool(getattr(outcome, "may_have_sent", True)) if failed else True,
            elapsed=max(0.0, elapsed), http_status=http_status,
            recipients=self.recipients)
        span = watch.span
        if span is not None:
            shown: dict[str, Any] = {
                "messaging.system": "smsgate", "smsgate.provider": info.provider,
                "smsgate.attempt": info.attempt, "smsgate.attempt.sequence": info.sequence,
                "smsgate.failover": info.failover, "smsgate.outcome": info.outcome,
                "smsgate.rule": info.rule, "smsgate.may_have_sent": info.may_have_sent}
            if http_status is not None:
                shown["http.response.status_code"] = http_status
            if info.error is not None:
                shown["error.type"] = info.error
            span.set_attributes(shown)
            if info.error is not None:
                trace = _otel[0]
                span.set_status(trace.Status(trace.StatusCode.ERROR, info.error))
            span.end()
        instruments = self.instruments
        if instruments is not None:
            attributes: dict[str, Any] = {"smsgate.provider": info.provider,
                                          "smsgate.outcome": info.outcome,
                                          "smsgate.failover": info.failover}
            if info.error is not None:
                attributes["error.type"] = info.error
            try:
                instruments.attempt_duration.record(info.elapsed, attributes)
            except Exception:
                _log.warning("smsgate: recording attempt metrics failed", exc_info=True)
        if self.hook is not None:
            try:
                self.hook(info)
            except Exception as exc:
                # The message's fate is decided; a hook's bug must not turn a sent message
                # into an exception a caller could take for "not sent" and repeat.
                _log.warning("smsgate: the on_attempt hook raised %s; ignored",
                             type(exc).__name__)

    def attempt_abandoned(self, watch: _AttemptWatch) -> None:
        """The plan is being closed mid-attempt: the span ends, marked, with no outcome."""
        if watch.span is not None:
            watch.span.set_attribute("smsgate.outcome", "abandoned")
            watch.span.end()


@attrs.define
class _AttemptWatch:
    provider: str
    attempt: int
    sequence: int
    failover: bool
    span: Any
