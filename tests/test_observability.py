"""Observability (issue 20): the ``on_attempt`` hook and the OpenTelemetry spans and metrics,
with the SDK's in-memory exporter and metric reader, over the fault matrix and a table of
faults behind a gateway; and what must never show in them: a credential, a phone number,
the text."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode

import smsgate
from smsgate import AttemptInfo, BreakerPolicy, Gateway, RetryPolicy
from smsgate._effects import Call, Now, Perform, Sleep
from smsgate._observe import OUTCOMES, Observer
from smsgate.errors import (
    AuthenticationError,
    ConnectError,
    DeliveryUnknown,
    InvalidResponse,
    ProviderUnavailable,
    RateLimited,
    RecipientRejected,
    SmsGateError,
)
from smsgate.providers import HttpResponse
from smsgate.sandbox import reliability
from smsgate.sandbox._server import DEFAULT_CREDENTIALS
from smsgate.testing import MemoryProvider, MockTransport
from tests.conftest import CANARY, ToyProvider

NUMBER = "+995555123456"
TEXT = "TEXT-7d1e secret appointment details"


class Telemetry:
    """A tracer provider and a meter provider that keep everything in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def options(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.exporter.get_finished_spans())

    def roots(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == "smsgate send"]

    def children(self, root: ReadableSpan) -> list[ReadableSpan]:
        assert root.context is not None
        return [s for s in self.spans()
                if s.parent is not None and s.parent.span_id == root.context.span_id]

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Metric name -> [(attributes, value or histogram count)]."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points = found.setdefault(metric.name, [])
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = point.count  # type: ignore[attr-defined]
                        points.append((dict(point.attributes or {}), value))
        return found

    def texts(self) -> list[str]:
        """Every string a span, an event or a metric point carries (names, attributes,
        status descriptions, event names and attributes, metric attributes)."""
        texts: list[str] = []
        for span in self.spans():
            texts += [span.name, json.dumps(dict(span.attributes or {}), default=str),
                      str(span.status.description)]
            for event in span.events:
                texts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
        for name, points in self.metrics().items():
            texts.append(name)
            texts += [json.dumps(attributes, default=str) for attributes, _ in points]
        return texts


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    seen = Telemetry()
    yield seen
    seen.tracer_provider.shutdown()
    seen.meter_provider.shutdown()


def _forbidden(numbers: list[str], text: str) -> list[str]:
    """The canary, each number in full, its national digits and its last six digits,
    and the text."""
    words = [CANARY, text]
    for number in numbers:
        digits = number.lstrip("+")
        words += [number, digits, digits[3:], digits[-6:]]
    return words


def _assert_clean(texts: list[str], forbidden: list[str]) -> None:
    leaks = [(word, text[:120]) for text in texts for word in forbidden if word in text]
    assert not leaks, leaks[:5]


def _hook_texts(infos: list[AttemptInfo]) -> list[str]:
    """Every text an AttemptInfo holds (its numbers are counts, statuses and seconds,
    whose digits may match a phone's by chance)."""
    return [value for info in infos for value in attrs.astuple(info) if isinstance(value, str)]


def _check_span_matches_hook(span: ReadableSpan, info: AttemptInfo) -> None:
    attributes = dict(span.attributes or {})
    assert attributes["smsgate.provider"] == info.provider
    assert attributes["smsgate.attempt"] == info.attempt
    assert attributes["smsgate.attempt.sequence"] == info.sequence
    assert attributes["smsgate.failover"] == info.failover
    assert attributes["smsgate.outcome"] == info.outcome
    assert attributes["smsgate.rule"] == info.rule
    assert attributes["smsgate.may_have_sent"] == info.may_have_sent
    assert attributes.get("error.type") == info.error
    assert attributes.get("http.response.status_code") == info.http_status
    assert (span.status.status_code is StatusCode.ERROR) == (info.error is not None)
    assert span.kind is trace.SpanKind.CLIENT


# -- the fault matrix --------------------------------------------------------------------


def test_the_fault_matrix_gives_one_span_per_send_and_one_per_attempt_and_leaks_nothing(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every adapter under every fault (real sockets, a two-provider gateway), with canary
    credentials: 1 + attempts spans per send, the hook called once per attempt with what the
    attempt span says, the send span's outcome as the cell's, and no canary, phone digits
    or text in any span, event or metric point."""
    hooks: list[list[AttemptInfo]] = []

    def gateway(*args: Any, **kwargs: Any) -> Gateway:
        calls: list[AttemptInfo] = []
        hooks.append(calls)
        return Gateway(*args, on_attempt=calls.append, **telemetry.options(), **kwargs)

    monkeypatch.setattr(reliability, "Gateway", gateway)
    canaries = {name: {field: f"{CANARY}-{field}" for field in fields}
                for name, fields in DEFAULT_CREDENTIALS.items()}
    cells = reliability.run_matrix(credentials=canaries)
    assert cells and all(c.passed for c in cells), [c.problems for c in cells if not c.passed]
    roots = telemetry.roots()
    # One send per cell, each its own trace (no span was current), in the cells' order.
    assert len(roots) == len(cells) == len(hooks)
    roots.sort(key=lambda s: s.start_time or 0)
    assert len({r.context.trace_id for r in roots if r.context}) == len(cells)
    attempts_total = 0
    for cell, root, infos in zip(cells, roots, hooks, strict=True):
        where = f"{cell.adapter} / {cell.scenario}"
        children = sorted(telemetry.children(root), key=lambda s: s.start_time or 0)
        # Attempts counted independently of smsgate's telemetry: requests each server
        # received, calls the memory provider got. A connection refused or timed out reaches
        # no server: then the primary was tried RetryPolicy.attempts times (3), each a
        # retryable ConnectError.
        primary = cell.attempts[cell.adapter] or 3
        expected = primary + cell.attempts["memory"]
        assert len(children) == len(infos) == expected, where
        if not cell.attempts[cell.adapter]:
            assert [i.error for i in infos[:3]] == ["ConnectError"] * 3, where
        attempts_total += expected
        for span, info in zip(children, infos, strict=True):
            _check_span_matches_hook(span, info)
            assert info.failover == (info.provider == "memory"), where
            assert info.recipients == 1
        assert [i.sequence for i in infos] == list(range(1, expected + 1))
        attributes = dict(root.attributes or {})
        assert attributes["smsgate.attempts"] == expected, where
        assert attributes["smsgate.failover"] == (cell.attempts["memory"] > 0), where
        assert root.kind is trace.SpanKind.PRODUCER
        if cell.result is not None:
            assert root.status.status_code is StatusCode.UNSET, where
            assert attributes["smsgate.outcome"] == ("accepted" if cell.result.ok
                                                     else "partial"), where
            assert attributes["smsgate.provider"] == cell.result.provider
            assert infos[-1].outcome in ("accepted", "partial")
        else:
            assert cell.error is not None
            assert root.status.status_code is StatusCode.ERROR, where
            assert root.status.description == type(cell.error).__name__
            assert attributes["error.type"] == type(cell.error).__name__, where
            assert attributes["smsgate.may_have_sent"] == cell.may_have_sent, where
            assert attributes["smsgate.outcome"] == (
                "unknown" if cell.may_have_sent else attributes["smsgate.outcome"])
    # The metrics count the same sends and attempts.
    metrics = telemetry.metrics()
    assert sum(v for _, v in metrics["smsgate.send.duration"]) == len(cells)
    assert sum(v for _, v in metrics["smsgate.attempt.duration"]) == attempts_total
    assert sum(v for _, v in metrics["smsgate.send.failures"]) == sum(
        c.error is not None for c in cells)
    numbers = [n for pair in reliability.ADAPTERS.values() for n in pair]
    forbidden = _forbidden(numbers, "matrix: ")
    texts = telemetry.texts()
    assert any("smsoffice.ge" in text for text in texts)  # the scan reads real attributes
    _assert_clean(texts, forbidden)
    _assert_clean(_hook_texts([info for infos in hooks for info in infos]), forbidden)


# -- a table of faults behind a gateway (MockTransport: every outcome class) ---------------


def _reply(status: int, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"},
                        json.dumps(body).encode())


OK = _reply(200, {"ids": [7]})
#: fault -> (what the toy provider's transport does, one per request; the expected
#: (provider, outcome, rule) of each attempt; the send's outcome)
FAULTS: dict[str, tuple[list[Any], list[tuple[str, str, str]], str]] = {
    "ok": ([OK], [("toy", "accepted", "accepted")], "accepted"),
    "503 then ok": ([_reply(503, {}), OK],
                    [("toy", "unavailable", "retryable"), ("toy", "accepted", "accepted")],
                    "accepted"),
    "rate limited then ok": (
        [_reply(429, {"error": 4, "message": "slow"}), OK],
        [("toy", "unavailable", "retryable"), ("toy", "accepted", "accepted")], "accepted"),
    "connect error x3": ([ConnectError("refused")] * 3,
                         [("toy", "unavailable", "retryable")] * 2
                         + [("toy", "unavailable", "retries-exhausted"),
                            ("memory", "accepted", "accepted")], "accepted"),
    "auth": ([_reply(200, {"error": 1, "message": "bad key"})],
             [("toy", "refused", "refusal"), ("memory", "accepted", "accepted")], "accepted"),
    "recipient rejected": ([_reply(200, {"error": 3, "message": "bad number"})],
                           [("toy", "rejected", "recipient-rejected")], "rejected"),
    "lost reply": ([DeliveryUnknown("reset after sending")],
                   [("toy", "unknown", "unknown")], "unknown"),
    "malformed 2xx": ([HttpResponse(200, {"Content-Type": "application/json"}, b"{oops")],
                      [("toy", "unknown", "unknown")], "unknown"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_gives_its_attempt_spans_hook_calls_and_metrics(
    telemetry: Telemetry, fault: str,
) -> None:
    script, expected, outcome = FAULTS[fault]
    replies = list(script)

    def handler(request: Any) -> HttpResponse:
        reply = replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        assert isinstance(reply, HttpResponse)
        return reply

    toy = ToyProvider(CANARY, sender="Shop", transport=MockTransport(handler))
    infos: list[AttemptInfo] = []
    gateway = Gateway([toy, MemoryProvider()], on_attempt=infos.append,
                      retry=RetryPolicy(attempts=3, backoff=0.0), sleep=lambda s: None,
                      **telemetry.options())
    try:
        result = gateway.send(NUMBER, TEXT)
    except SmsGateError as exc:
        error: SmsGateError | None = exc
    else:
        error = None
        assert result.ok
    assert not replies, "every scripted reply was asked for"
    assert [(i.provider, i.outcome, i.rule) for i in infos] == expected
    (root,) = telemetry.roots()
    children = sorted(telemetry.children(root), key=lambda s: s.start_time or 0)
    assert len(telemetry.spans()) == 1 + len(expected) == 1 + len(children)
    for span, info in zip(children, infos, strict=True):
        _check_span_matches_hook(span, info)
    assert [i.attempt for i in infos if i.provider == "toy"] == list(
        range(1, 1 + sum(i.provider == "toy" for i in infos)))
    attributes = dict(root.attributes or {})
    assert attributes["smsgate.outcome"] == outcome
    assert (root.status.status_code is StatusCode.ERROR) == (error is not None)
    if error is not None:
        assert attributes["smsgate.may_have_sent"] == error.may_have_sent
        assert attributes["error.type"] == type(error).__name__
    metrics = telemetry.metrics()
    # Sends and attempts are counted by the duration histograms.
    assert [(a["smsgate.outcome"], v) for a, v in metrics["smsgate.send.duration"]] == [
        (outcome, 1)]
    assert sum(v for _, v in metrics["smsgate.attempt.duration"]) == len(expected)
    assert sorted(metrics) == sorted(["smsgate.send.duration", "smsgate.attempt.duration"]
                                     + (["smsgate.send.failures"] if error else []))
    assert sum(v for _, v in metrics.get("smsgate.send.failures", [])) == (error is not None)
    # A reply with a body: the toy's HTTP status is on the attempt that got one.
    if fault == "503 then ok":
        assert [i.http_status for i in infos] == [503, 200]
    _assert_clean(telemetry.texts() + _hook_texts(infos), _forbidden([NUMBER], TEXT))


def test_every_outcome_class_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "observability.md").read_text()
    for outcome in OUTCOMES:
        assert f"`{outcome}`" in doc, outcome


# -- what the plan does around attempts ----------------------------------------------------


def test_a_skipped_provider_is_an_event_not_an_attempt(telemetry: Telemetry) -> None:
    down = MemoryProvider()
    down.script(*[ProviderUnavailable("down", provider="memory")] * 3)
    backup = MemoryProvider()
    gateway = Gateway([down, backup], retry=None,
                      breaker=BreakerPolicy(failure_threshold=1, reset_timeout=60),
                      **telemetry.options())
    gateway.send(NUMBER, TEXT)  # opens down's breaker, fails over
    telemetry.exporter.clear()
    gateway.send(NUMBER, TEXT)  # down is skipped: no request, so no attempt span
    (root,) = telemetry.roots()
    (child,) = telemetry.children(root)
    assert child.attributes is not None and child.attributes["smsgate.failover"] is True
    events = [(e.name, dict(e.attributes or {})) for e in root.events]
    assert events == [("smsgate.skip", {"smsgate.provider": "memory",
                                        "smsgate.rule": "breaker-open"})]


def test_a_refusal_before_any_request_is_one_span_and_no_attempt(telemetry: Telemetry) -> None:
    infos: list[AttemptInfo] = []
    gateway = Gateway([MemoryProvider()], on_attempt=infos.append, **telemetry.options())
    with pytest.raises(smsgate.InvalidPhoneNumber):
        gateway.send("+99555512", TEXT)
    (root,) = telemetry.spans()
    assert root.attributes is not None
    assert root.attributes["smsgate.outcome"] == "invalid"
    assert root.attributes["smsgate.attempts"] == 0
    assert root.status.status_code is StatusCode.ERROR
    assert infos == []


def test_route_groups_share_one_send_span(telemetry: Telemetry) -> None:
    ge, ro = MemoryProvider(), MemoryProvider()
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, **telemetry.options())
    result = gateway.send([NUMBER, "+40712345678"], TEXT)
    assert result.ok
    (root,) = telemetry.roots()
    assert len(telemetry.children(root)) == 2
    assert root.attributes is not None and root.attributes["smsgate.recipients"] == 2
    assert root.attributes["messaging.batch.message_count"] == 2


def test_the_send_span_is_a_child_of_the_callers_span(telemetry: Telemetry) -> None:
    tracer = telemetry.tracer_provider.get_tracer("app")
    gateway = Gateway([MemoryProvider()], **telemetry.options())
    with tracer.start_as_current_span("handle request") as outer:
        gateway.send(NUMBER, TEXT)
        # Nothing of smsgate's is left current once the send returns.
        assert trace.get_current_span() is outer
    (root,) = telemetry.roots()
    assert root.parent is not None and root.parent.span_id == outer.get_span_context().span_id


def test_a_hook_that_raises_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    def broken(info: AttemptInfo) -> None:
        raise RuntimeError(f"hook bug {info.provider}")

    provider = MemoryProvider()
    gateway = Gateway([provider], on_attempt=broken)
    with caplog.at_level(logging.WARNING, logger="smsgate"):
        result = gateway.send(NUMBER, TEXT)
    assert result.ok and len(provider.outbox) == 1  # sent once, reported as sent
    assert "on_attempt hook raised RuntimeError" in caplog.text


def test_a_custom_providers_bug_ends_its_attempt_span(telemetry: Telemetry) -> None:
    class Buggy(MemoryProvider):
        def send(self, *args: Any, **kwargs: Any) -> Any:
            raise ZeroDivisionError("bug")

    infos: list[AttemptInfo] = []
    gateway = Gateway([Buggy()], on_attempt=infos.append, **telemetry.options())
    with pytest.raises(ZeroDivisionError):
        gateway.send(NUMBER, TEXT)
    assert [(i.outcome, i.rule, i.error) for i in infos] == [
        ("unexpected", "unexpected", "ZeroDivisionError")]
    assert len(telemetry.spans()) == 2
    (root,) = telemetry.roots()
    assert root.attributes is not None and root.attributes["smsgate.outcome"] == "unexpected"


def test_bad_keywords_are_refused() -> None:
    with pytest.raises(smsgate.ConfigurationError):
        Gateway([MemoryProvider()], on_attempt="print")  # type: ignore[arg-type]
    with pytest.raises(smsgate.ConfigurationError):
        Gateway([MemoryProvider()], tracer_provider=object())


# -- switched on by the global SDK; off (and free) without one ---------------------------


def test_nobody_listening_leaves_the_plan_unwrapped() -> None:
    """The API installed, no SDK installed, no hook: no watch, so the plan is the bare one
    (the overhead is one check per send)."""
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert Observer().watch() is None
    gateway = Gateway([MemoryProvider()])
    plan = gateway._core.send(NUMBER, TEXT, {
        "sender": None, "urgent": False, "schedule_at": None, "validity": None,
        "reference": None, "idempotency_key": None, "flash": False, "priority": False,
        "extra": None})
    assert plan.gi_code.co_name == "_send"  # type: ignore[attr-defined]
    plan.close()


def _fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_a_global_sdk_switches_tracing_on_without_a_keyword() -> None:
    out = _fresh("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from smsgate import Gateway
        from smsgate.testing import MemoryProvider
        gateway = Gateway([MemoryProvider()])  # built before the SDK is installed
        gateway.send("+995555123456", "hi")
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        gateway.send("+995555123456", "hi")
        print(sorted(s.name for s in exporter.get_finished_spans()))
    """)
    assert out == "['smsgate send', 'smsgate send memory']"


def test_without_the_api_sends_work_and_the_hook_is_called() -> None:
    out = _fresh("""
        import sys
        sys.modules["opentelemetry"] = None  # as if not installed: importing it fails
        import smsgate
        from smsgate import Gateway
        from smsgate.testing import MemoryProvider
        infos = []
        gateway = Gateway([MemoryProvider()], on_attempt=infos.append)
        result = gateway.send("+995555123456", "hi")
        print(result.ok, [(i.provider, i.outcome) for i in infos])
    """)
    assert out == "True [('memory', 'accepted')]"


def test_import_smsgate_does_not_import_opentelemetry() -> None:
    out = _fresh("""
        import sys
        import smsgate, smsgate.gateway
        from smsgate import Gateway
        from smsgate.testing import MemoryProvider
        Gateway([MemoryProvider()])
        print(any(name.startswith("opentelemetry") for name in sys.modules))
    """)
    assert out == "False"


# -- the plan under another driver ---------------------------------------------------------


async def _arun(plan: Any) -> Any:
    """A small async driver over the same effects (what ``smsgate.aio`` does)."""
    loop = asyncio.get_running_loop()
    value: Any = None
    failure: BaseException | None = None
    while True:
        try:
            effect = plan.send(value) if failure is None else plan.throw(failure)
        except StopIteration as stop:
            return stop.value
        value, failure = None, None
        try:
            if isinstance(effect, Now):
                value = loop.time()
            elif isinstance(effect, Sleep):
                await asyncio.sleep(effect.seconds)
            elif isinstance(effect, Call):
                value = await asyncio.to_thread(effect.function, *effect.args,
                                                **effect.kwargs)
            elif isinstance(effect, Perform):
                value = await asyncio.to_thread(effect.transport.perform, effect.request,
                                                deadline=effect.deadline)
            await asyncio.sleep(0)  # let the other plans run between any two steps
        except BaseException as exc:
            failure = exc


def test_interleaved_plans_under_an_async_driver_keep_their_spans_apart(
    telemetry: Telemetry,
) -> None:
    """The same plan under an async driver, eight sends interleaved step by step in one
    thread: each send span has its own attempts, and the hook sees them all."""
    flaky = MemoryProvider()
    flaky.script(*[ProviderUnavailable("down", provider="memory")] * 4)
    infos: list[AttemptInfo] = []
    gateway = Gateway([flaky], on_attempt=infos.append, retry=RetryPolicy(backoff=0.0),
                      **telemetry.options())
    options = {"sender": None, "urgent": False, "schedule_at": None, "validity": None,
               "reference": None, "idempotency_key": None, "flash": False, "priority": False,
               "extra": None}

    async def main() -> list[Any]:
        return await asyncio.gather(*[_arun(gateway._core.send(NUMBER, TEXT, dict(options)))
                                      for _ in range(8)])

    results = asyncio.run(main())
    assert all(r.ok for r in results)
    roots = telemetry.roots()
    assert len(roots) == 8
    per_send = sorted(len(telemetry.children(r)) for r in roots)
    assert sum(per_send) == len(infos) == 8 + 4  # four sends retried once each
    for root in roots:
        children = telemetry.children(root)
        assert root.attributes is not None
        assert root.attributes["smsgate.attempts"] == len(children)
        assert all(c.context is not None and root.context is not None
                   and c.context.trace_id == root.context.trace_id for c in children)
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_errors_name_their_class_only(telemetry: Telemetry) -> None:
    """No exception message (which may quote a masked number or a reference) in a span."""
    provider = MemoryProvider()
    provider.script(AuthenticationError(f"key {CANARY} refused for {NUMBER}",
                                        provider="memory"))
    gateway = Gateway([provider], **telemetry.options())
    with pytest.raises(smsgate.AllProvidersFailed):
        gateway.send(NUMBER, TEXT)
    _assert_clean(telemetry.texts(), [*_forbidden([NUMBER], TEXT), "refused for"])
    assert not any(span.events for span in telemetry.spans())


@pytest.mark.parametrize(("error", "outcome"), [
    (RecipientRejected("x"), "rejected"), (RateLimited("x"), "unavailable"),
    (InvalidResponse("x"), "unknown"), (AuthenticationError("x"), "refused"),
    (ValueError("x"), "unexpected"), (smsgate.MessageTooLong("x"), "invalid"),
    (asyncio.CancelledError(), "interrupted"), (KeyboardInterrupt(), "interrupted"),
])
def test_outcome_classes(error: BaseException, outcome: str) -> None:
    from smsgate._observe import outcome_of

    assert outcome_of(error) == outcome
    assert outcome in OUTCOMES


def test_gateway_keywords_pass_through_functools_partial() -> None:
    """What the matrix test relies on: extra keywords reach the gateway."""
    made = functools.partial(Gateway, on_attempt=lambda info: None)([MemoryProvider()])
    assert made._core.observer is not None and made._core.observer.on_attempt is not None


def test_a_key_already_accepted_is_one_span_and_no_attempt(telemetry: Telemetry) -> None:
    """A claimed key answered from its claim makes no request: the send span says so."""
    from smsgate.stores import MemoryClaimStore

    provider = MemoryProvider()
    infos: list[AttemptInfo] = []
    gateway = Gateway([provider], claims=MemoryClaimStore(), on_attempt=infos.append,
                      **telemetry.options())
    gateway.send(NUMBER, TEXT, idempotency_key="order-1")
    telemetry.exporter.clear()
    again = gateway.send(NUMBER, TEXT, idempotency_key="order-1")
    assert again.ok and len(provider.outbox) == 1
    (root,) = telemetry.spans()
    assert root.attributes is not None
    assert (root.attributes["smsgate.outcome"], root.attributes["smsgate.attempts"]) == (
        "accepted", 0)
    assert len(infos) == 1  # the first send's attempt only
    _assert_clean(telemetry.texts(), [*_forbidden([NUMBER], TEXT), "order-1"])


def test_a_cancelled_send_ends_its_spans_as_interrupted(telemetry: Telemetry) -> None:
    """A cancellation thrown in while a provider is being asked (what the async driver does
    to a cancelled task) ends the attempt span and the send span, both with an outcome."""
    class Slow(MemoryProvider):
        def send(self, *args: Any, **kwargs: Any) -> Any:
            raise asyncio.CancelledError

    infos: list[AttemptInfo] = []
    gateway = Gateway([Slow()], on_attempt=infos.append, **telemetry.options())
    with pytest.raises(asyncio.CancelledError):
        gateway.send(NUMBER, TEXT)
    assert [(i.outcome, i.may_have_sent) for i in infos] == [("interrupted", True)]
    (root,) = telemetry.roots()
    (child,) = telemetry.children(root)
    for span in (root, child):
        assert span.attributes is not None
        assert span.attributes["smsgate.outcome"] == "interrupted"
        assert span.attributes["error.type"] == "CancelledError"
        assert span.status.status_code is StatusCode.ERROR
