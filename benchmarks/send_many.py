"""send_many throughput: 200 messages over a provider with 50 ms latency, concurrency 1 vs 16.

    python benchmarks/send_many.py

Prints both timings and the speed-up ratio (target: at least 8x).
"""

from __future__ import annotations

import time

import smsgate
from smsgate.providers._base import Outgoing
from smsgate.testing import MemoryProvider

MESSAGES = 200
LATENCY = 0.05


def run(concurrency: int) -> float:
    def slow(outgoing: Outgoing) -> None:
        time.sleep(LATENCY)

    sms = MemoryProvider()
    sms.script(*[slow] * MESSAGES)
    batch = [smsgate.Message("+995555123456", f"message {i}") for i in range(MESSAGES)]
    started = time.perf_counter()
    report = smsgate.send_many(sms, batch, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    assert report.sent == MESSAGES
    return elapsed


def main() -> None:
    serial, parallel = run(1), run(16)
    print(f"concurrency 1:  {serial:.2f} s")
    print(f"concurrency 16: {parallel:.2f} s")
    print(f"speed-up: {serial / parallel:.1f}x (target >= 8x)")


if __name__ == "__main__":
    main()
