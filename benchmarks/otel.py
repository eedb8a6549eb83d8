"""What observing a send costs: OpenTelemetry's API with no SDK, and the SDK with in-memory
exporting, against the same gateway with telemetry off.

    python benchmarks/otel.py            # about a minute
    python benchmarks/otel.py --quick    # a smoke run

Each figure is the ratio observed / unobserved of the median time per send, over interleaved
A/B blocks (A B, then B A, ...; see ``benchmarks/run.py``), median and range over the runs,
for wall time and for this process's CPU time. "Unobserved" is smsgate as it runs when the
``opentelemetry`` package is not installed (and no ``on_attempt`` hook is given): the
gateway's observer has nothing to look up.

* ``api, no sdk``: the API is installed, no SDK is configured (the global tracer and meter
  providers are the API's proxies): each send checks that nobody listens and runs the bare
  plan. Target: at most 1.02, checked in-process (below), where that check weighs most
  and the figure is not lost in the network's noise.
* ``sdk, batch``: ``Gateway(tracer_provider=..., meter_provider=...)`` with the SDK as
  OpenTelemetry recommends running it, a ``BatchSpanProcessor`` exporting to an
  ``InMemorySpanExporter``, and an ``InMemoryMetricReader``: two spans and two histogram
  updates per send (its process CPU time includes the exporting thread). Target: at most
  1.10, checked against the 10 ms provider (below).
* ``sdk, simple``: the same with a ``SimpleSpanProcessor``, which exports each span in the
  sending thread as it ends (OpenTelemetry's debugging setup): shown, no target.

Three workloads, from the most to the least favourable to the ratio:

* ``10 ms``: GOSMS.GE's adapter against the fake provider of ``benchmarks/fake_provider.py``
  in its own process, answering after 10 ms (a fast provider: the four providers' APIs are
  tens to hundreds of milliseconds away from most senders).
* ``loopback``: the same fake provider answering at once: a real HTTP exchange over
  127.0.0.1 and nothing else, what smsgate plus ``requests`` cost per send.
* ``in-process``: the memory provider (no I/O at all: smsgate's own work only, the worst
  case for any per-send overhead).

The last column is the time per send, unobserved -> observed: the difference is what the
instrumentation adds to each send in absolute terms, whatever the provider's latency.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import TEXT, Clock, FakeProvider, fresh_ge, interleaved, provider_for

import smsgate
from smsgate import _observe
from smsgate.testing import MemoryProvider


def _telemetry(processor: str) -> tuple[Any, Any, Callable[[], None]]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    kind = BatchSpanProcessor if processor == "batch" else SimpleSpanProcessor
    tracer_provider.add_span_processor(kind(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

    def clear() -> None:  # between blocks, untimed: every span exported, memory freed
        tracer_provider.force_flush()
        exporter.clear()

    return tracer_provider, meter_provider, clear


def _installed(flag: bool) -> None:
    """Make smsgate see the OpenTelemetry API as installed or not (its import cache)."""
    _observe._otel = None if flag else False
    _observe._api()


def measure(provider: Any, sends: int, runs: int, blocks: int) -> dict[str, dict[str, Any]]:
    batch_tracer, batch_meter, batch_clear = _telemetry("batch")
    simple_tracer, simple_meter, simple_clear = _telemetry("simple")
    plain = smsgate.Gateway([provider])
    batched = smsgate.Gateway([provider], tracer_provider=batch_tracer,
                              meter_provider=batch_meter)
    simple = smsgate.Gateway([provider], tracer_provider=simple_tracer,
                             meter_provider=simple_meter)

    def clear() -> None:
        batch_clear()
        simple_clear()

    def block(gateway: smsgate.Gateway, api: bool) -> Callable[[], tuple[float, float]]:
        def run_block() -> tuple[float, float]:
            _installed(api)
            clear()
            batch = fresh_ge(sends)
            with Clock() as clock:
                for number in batch:
                    gateway.send(number, TEXT)
            return clock.wall / sends, clock.cpu / sends
        return run_block

    for number in fresh_ge(50):  # warm connections, caches and the SDK's instruments
        for api in (True, False):
            _installed(api)
            for gateway in (plain, batched, simple):
                gateway.send(number, TEXT)
    baseline = block(plain, api=False)
    results = {
        "api, no sdk": interleaved(block(plain, api=True), baseline, runs, blocks),
        "sdk, batch": interleaved(block(batched, api=True), baseline, runs, blocks),
        "sdk, simple": interleaved(block(simple, api=True), baseline, runs, blocks),
    }
    _installed(True)
    for closing in (batch_tracer, batch_meter, simple_tracer, simple_meter):
        closing.shutdown()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    args = parser.parse_args()
    runs, blocks = (3, 4) if args.quick else (3, 10)
    sends = {"10 ms": 10 if args.quick else 30, "loopback": 40 if args.quick else 150,
             "in-process": 200 if args.quick else 1000}
    from opentelemetry import trace
    from opentelemetry.version import __version__ as otel_version

    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider), "no global SDK"
    print(f"smsgate {smsgate.__version__}, opentelemetry {otel_version}, Python "
          f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{runs} runs x {blocks} interleaved blocks; ratio = observed / unobserved "
          "(median per send); [min-max over runs]")
    #: (workload, case) -> the most the wall-time ratio may be.
    targets = {("in-process", "api, no sdk"): 1.02, ("10 ms", "sdk, batch"): 1.10}
    failed = False
    with FakeProvider(latency=0.010) as slow, FakeProvider() as fast:
        workloads = {"10 ms": provider_for("gosms.ge", slow.url),
                     "loopback": provider_for("gosms.ge", fast.url),
                     "in-process": MemoryProvider()}
        for workload, provider in workloads.items():
            for case, out in measure(provider, sends[workload], runs, blocks).items():
                line = (f"{workload:10} {case:15} wall {out['ratio_median']:.3f}x "
                        f"[{out['ratio_min']:.3f}-{out['ratio_max']:.3f}]  "
                        f"cpu {out['cpu_ratio_median']:.3f}x "
                        f"[{out['cpu_ratio_min']:.3f}-{out['cpu_ratio_max']:.3f}]  "
                        f"({out['b_median'] * 1e6:.0f} -> {out['a_median'] * 1e6:.0f} us)")
                target = targets.get((workload, case))
                if target is not None:
                    ok = out["ratio_median"] <= target
                    failed |= not ok
                    line += f"  target <= {target:.2f}: {'met' if ok else 'MISSED'}"
                print(line)
    print(f"load {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
