"""smsgate.aio's benchmarks (issue 17): prints a report; not a test, no timed assertion.

    python benchmarks/aio.py            # 1,000 in flight; overhead over 3 runs
    python benchmarks/aio.py --quick    # smaller counts, for a smoke run

Made as benchmarks/run.py makes its figures: the provider is benchmarks/fake_provider.py in
its own process (the minimal success reply, byte-identical for both sides), the numbers are
never seen before, A and B run in interleaved blocks and each run gives the ratio of the
block medians.

* **in flight**: N sends started at once through ``AsyncGateway`` (one event loop, no
  threads) against the fake provider answering each request after 50 ms; the wall time for
  all N. Target (issue 17): 1,000 in at most 2.5 s.
* **overhead**: one send at a time, ``AsyncGateway.send`` (validation, the plan, the
  default async transport, parsing) against the identical request made by hand with a
  default ``aiohttp.ClientSession().post`` to the same endpoint (reply parsed as JSON),
  interleaved. Target: at most 1.10x (wall clock). The client process's CPU per send is
  printed beside it (the wall clock also holds the fake provider's own time, the same for
  both sides).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

# benchmarks/run.py: the fake provider in its own process, and numbers never seen before.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run

import smsgate
from smsgate.aio import AsyncGateway

TEXT = "Hello, benchmark"


def provider(url: str) -> smsgate.GoSmsGe:
    return smsgate.GoSmsGe(run.API_KEY, sender="Bench", base_url=url)


async def in_flight(count: int, latency: float) -> dict[str, Any]:
    with run.FakeProvider(latency=latency) as fake:
        async with AsyncGateway([provider(fake.url)], retry=None, breaker=None,
                                max_connections=count) as gateway:
            await asyncio.gather(*(gateway.send(n, TEXT) for n in run.fresh_ge(20)))  # warm
            numbers = run.fresh_ge(count)
            started = time.perf_counter()
            results = await asyncio.gather(*(gateway.send(n, TEXT) for n in numbers))
            took = time.perf_counter() - started
    return {"sends": count, "latency_s": latency, "seconds": round(took, 3),
            "accepted": sum(r.ok for r in results)}


async def overhead(runs: int, blocks: int, per_block: int) -> dict[str, Any]:
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    ours_all: list[float] = []
    theirs_all: list[float] = []
    cpu: dict[str, list[float]] = {"ours": [], "theirs": []}
    with run.FakeProvider() as fake:
        async with AsyncGateway([provider(fake.url)], retry=None, breaker=None) as gateway, \
                aiohttp.ClientSession() as session:

            async def ours() -> float:
                numbers = run.fresh_ge(per_block)
                started, cpu_started = time.perf_counter(), time.process_time()
                for number in numbers:
                    await gateway.send(number, TEXT)
                cpu["ours"].append((time.process_time() - cpu_started) / per_block)
                return (time.perf_counter() - started) / per_block

            async def theirs() -> float:
                numbers = run.fresh_ge(per_block)
                started, cpu_started = time.perf_counter(), time.process_time()
                for number in numbers:
                    body = {"from": "Bench", "to": number[1:], "text": TEXT, "urgent": False,
                            "api_key": run.API_KEY}
                    async with session.post(fake.url + "/sendsms", json=body) as reply:
                        await reply.json()
                cpu["theirs"].append((time.process_time() - cpu_started) / per_block)
                return (time.perf_counter() - started) / per_block

            await ours()
            await theirs()  # warm both (connections, caches)
            cpu["ours"].clear()
            cpu["theirs"].clear()
            for _ in range(runs):
                a: list[float] = []
                b: list[float] = []
                for block in range(blocks):
                    for side in ((ours, theirs) if block % 2 == 0 else (theirs, ours)):
                        (a if side is ours else b).append(await side())
                ratios.append(statistics.median(a) / statistics.median(b))
                cpu_ratios.append(statistics.median(cpu["ours"][-blocks:])
                                  / statistics.median(cpu["theirs"][-blocks:]))
                ours_all += a
                theirs_all += b
    return {"runs": runs, "blocks": blocks, "sends_per_block": per_block,
            "smsgate_us": round(statistics.median(ours_all) * 1e6),
            "raw_aiohttp_us": round(statistics.median(theirs_all) * 1e6),
            "ratio_median": round(statistics.median(ratios), 3),
            "ratio_min": round(min(ratios), 3),
            "smsgate_cpu_us": round(statistics.median(cpu["ours"]) * 1e6),
            "raw_aiohttp_cpu_us": round(statistics.median(cpu["theirs"]) * 1e6),
            "cpu_ratio_median": round(statistics.median(cpu_ratios), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    print(f"python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    flight = asyncio.run(in_flight(100 if quick else 1000, 0.05))
    print(f"in flight: {flight['sends']} sends, provider answering after 50 ms: "
          f"{flight['seconds']} s ({flight['accepted']} accepted; target <= 2.5 s for 1,000)")
    cost = asyncio.run(overhead(runs=1 if quick else 3, blocks=4 if quick else 10,
                                per_block=10 if quick else 50))
    print(f"overhead: AsyncGateway.send {cost['smsgate_us']} us, raw aiohttp "
          f"{cost['raw_aiohttp_us']} us; ratio median {cost['ratio_median']}, "
          f"min {cost['ratio_min']} (target <= 1.10); client CPU {cost['smsgate_cpu_us']} us "
          f"against {cost['raw_aiohttp_cpu_us']} us, ratio median {cost['cpu_ratio_median']}")
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
