"""What a send reports: the on_attempt hook, and OpenTelemetry spans and metrics.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/observability.py

GOSMS.GE is down (the sandbox refuses its connections), so the gateway retries it once and
fails over to SMSOffice.ge. The hook prints one line per attempt. When the OpenTelemetry SDK
is installed (``pip install opentelemetry-sdk``), the example installs it as the global
provider, as an application does at startup, and smsgate's spans and metrics appear with no
keyword at all; they are printed from an in-memory exporter here.
"""

from __future__ import annotations

import os
from typing import Any

import smsgate
from smsgate.sandbox import Sandbox

NUMBER = "+995555123456"


def report(info: smsgate.AttemptInfo) -> None:
    """The on_attempt hook: quick, non-blocking, nothing personal in what it gets."""
    where = ", failover" if info.failover else ""
    print(f"  {info.provider} #{info.attempt} {info.outcome} (rule {info.rule}{where}, "
          f"may_have_sent={info.may_have_sent}, {info.elapsed * 1000:.0f} ms)")


def install_sdk() -> tuple[Any, Any] | None:
    """The application's OpenTelemetry setup, if the SDK is installed."""
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
    except ImportError:
        return None
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # production: Batch..., OTLP
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return exporter, reader


def show(exporter: Any, reader: Any) -> None:
    spans = exporter.get_finished_spans()
    for span in sorted(spans, key=lambda s: (s.parent is not None, s.start_time)):
        attributes = dict(span.attributes)
        indent = "    " if span.parent else "  "
        shown = {k: v for k, v in attributes.items()
                 if k.startswith("smsgate.") or k in ("error.type", "http.response.status_code")}
        print(f"{indent}{span.name}: {span.status.status_code.name} {shown}")
    data = reader.get_metrics_data()
    for metric in data.resource_metrics[0].scope_metrics[0].metrics:
        total = sum(getattr(p, "count", getattr(p, "value", 0))
                    for p in metric.data.data_points)
        print(f"  metric {metric.name}: {total}")
    texts = [str(dict(s.attributes)) + str(s.events) for s in spans]
    print("phone digits in any span:", any(NUMBER[4:] in text for text in texts))


def main() -> None:
    if os.environ.get("SMSGATE_SANDBOX") != "1":
        raise SystemExit("this example runs against the sandbox: set SMSGATE_SANDBOX=1")
    telemetry = install_sdk()
    with Sandbox() as sandbox:
        gateway = smsgate.Gateway(
            [sandbox.provider("gosms.ge", sender="MyBrand"),
             sandbox.provider("smsoffice.ge", sender="MyBrand")],
            retry=smsgate.RetryPolicy(attempts=2, backoff=0.05),
            on_attempt=report,
        )
        sandbox.fault("gosms.ge", "refuse")  # GOSMS.GE goes down
        print("attempts:")
        result = gateway.send(NUMBER, "Your code is 1234")
        print("sent via", result.provider)
    if telemetry is None:
        print("(install opentelemetry-sdk to see the spans and metrics)")
    else:
        print("spans and metrics:")
        show(*telemetry)


if __name__ == "__main__":
    main()
