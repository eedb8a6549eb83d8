"""smsgate's benchmarks: prints a table and writes benchmarks/results.json.

    python benchmarks/run.py            # everything (about two minutes)
    python benchmarks/run.py --quick    # smaller counts, for a smoke run

Every figure is a ratio against a baseline measured in the same process on the same machine:
raw ``requests`` to the same local endpoint, concurrency 1, or a direct send.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

import smsgate
from smsgate.phone import clear_caches
from smsgate.sandbox import Sandbox

NUMBERS = {
    "gosms.ge": "+995555123456",
    "smsoffice.ge": "+995577123456",
    "gosms.ro": "+40712345678",
    "smsgist": "+233245972246",
}


def raw_request(sandbox: Sandbox, name: str, numbers: list[str], text: str
                ) -> Callable[[requests.Session], Any]:
    """The identical HTTP request smsgate makes, written by hand with requests."""
    base, creds = sandbox.base_url(name), sandbox.credentials(name)
    digits = [n.lstrip("+") for n in numbers]
    if name == "gosms.ge":
        path = "/sendsms" if len(numbers) == 1 else "/sendbulk"
        to: Any = digits[0] if len(numbers) == 1 else digits
        body = {"api_key": creds["api_key"], "from": "Bench", "to": to, "text": text,
                "urgent": False}
        return lambda s: s.post(base + path, json=body, timeout=(5, 30)).json()
    if name == "smsoffice.ge":
        form = {"key": creds["api_key"], "destination": ",".join(digits), "sender": "Bench",
                "content": text, "reference": "bench-ref"}
        return lambda s: s.post(base + "/v2/send/", data=form, timeout=(5, 30)).json()
    if name == "gosms.ro":
        headers = {"X-Authorization": creds["api_key"]}
        return lambda s: s.post(base + "/message/send", headers=headers, timeout=(5, 30),
                                json={"recipient": digits[0], "message": text}).json()

    def gist(s: requests.Session) -> Any:
        headers = {"X-Client-Id": creds["client_id"],
                   "Authorization": f"Bearer {creds['token']}",
                   "X-Idempotency-Key": uuid.uuid4().hex}
        return s.post(base + "/api/sms/send", headers=headers, timeout=(5, 30), json={
            "recipients": numbers, "message": text, "route": "regular",
            "sender_id": "Bench"}).json()

    return gist


def per_send_overhead(rounds: int, distinct: bool = False) -> dict[str, Any]:
    """Median smsgate send time over median raw-requests time, interleaved.

    With ``distinct``, every send goes to a new number (no parse cache helps smsgate).
    """
    results = {}
    with Sandbox(delivery_delay=3600, balance=10**9) as sandbox:
        for name, number in NUMBERS.items():
            provider = sandbox.provider(name, sender="Bench")
            session = requests.Session()
            ours, theirs = [], []
            for _ in range(20):  # warm both connection pools
                provider.send(number, "Hello, benchmark")
                raw_request(sandbox, name, [number], "Hello, benchmark")(session)
            for i in range(rounds):
                to = f"{number[:-6]}{200_001 + i:06d}" if distinct else number
                raw = raw_request(sandbox, name, [to], "Hello, benchmark")
                started = time.perf_counter()
                raw(session)
                theirs.append(time.perf_counter() - started)
                if distinct:
                    to = f"{number[:-6]}{400_001 + i:06d}"
                started = time.perf_counter()
                provider.send(to, "Hello, benchmark")
                ours.append(time.perf_counter() - started)
            results[name] = {
                "smsgate_ms": statistics.median(ours) * 1000,
                "requests_ms": statistics.median(theirs) * 1000,
                "ratio": statistics.median(ours) / statistics.median(theirs),
            }
            provider.close()
            session.close()
    return results


def bulk(recipients: int) -> dict[str, Any]:
    """A list of distinct numbers through each adapter, against hand-made requests."""
    results = {}
    with Sandbox(delivery_delay=3600, balance=10**9) as sandbox:
        for name, number in NUMBERS.items():
            prefix = number[:-6]
            numbers = [f"{prefix}{i:06d}" for i in range(100_000, 100_000 + recipients)]
            numbers = [n for n in numbers if not n.endswith(("0000", "9999"))][:recipients]
            provider = sandbox.provider(name, sender="Bench", timeout=(5, 120))
            clear_caches()  # the in-process sandbox shares the parse cache: start cold
            before = sandbox.requests(name)
            started = time.perf_counter()
            result = provider.send(numbers, "Bulk benchmark")
            ours = time.perf_counter() - started
            made = sandbox.requests(name) - before
            assert result.ok
            assert len(result.recipients) == len(numbers)
            size = {"gosms.ge": 1000, "smsoffice.ge": 1000, "gosms.ro": 1}.get(name)
            chunks = [numbers[i:i + size] for i in range(0, len(numbers), size)] if size \
                else [numbers]
            session = requests.Session()
            clear_caches()
            started = time.perf_counter()
            for chunk in chunks:
                raw_request(sandbox, name, chunk, "Bulk benchmark")(session)
            theirs = time.perf_counter() - started
            results[name] = {"recipients": len(numbers), "requests": made,
                             "smsgate_s": ours, "requests_s": theirs, "ratio": ours / theirs}
            provider.close()
    return results


def concurrency(messages: int, latency: float) -> dict[str, Any]:
    """send_many against a sandbox answering after ``latency`` seconds."""
    results: dict[str, Any] = {}
    with Sandbox(delivery_delay=3600, balance=10**9) as sandbox:
        sandbox.fault("gosms.ge", "latency", seconds=latency)
        provider = sandbox.provider("gosms.ge", sender="Bench")
        batch = [smsgate.Message("+995555123456", f"message {i}") for i in range(messages)]
        baseline = None
        for workers in (1, 8, 16, 32):
            started = time.perf_counter()
            report = smsgate.send_many(provider, batch, concurrency=workers)
            elapsed = time.perf_counter() - started
            assert report.sent == messages, report.errors[:3]
            baseline = baseline or elapsed
            results[str(workers)] = {"seconds": elapsed, "speedup": baseline / elapsed,
                                     "target_speedup": 0.7 * workers}
    return results


def failover_cost(rounds: int) -> dict[str, Any]:
    """Primary hard down with its breaker open, against sending to the secondary directly."""
    with Sandbox(delivery_delay=3600, balance=10**9) as sandbox:
        primary = sandbox.provider("gosms.ge", sender="Bench")
        secondary = sandbox.provider("smsoffice.ge", sender="Bench")
        sandbox.fault("gosms.ge", "refuse")
        gateway = smsgate.Gateway([primary, secondary])
        for _ in range(10):  # opens the breaker
            gateway.send("+995555123456", "Failover")
        assert gateway.breaker_state(primary) == "open"
        via, direct = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            secondary.send("+995555123456", "Failover")
            direct.append(time.perf_counter() - started)
            started = time.perf_counter()
            gateway.send("+995555123456", "Failover")
            via.append(time.perf_counter() - started)
        sandbox.clear_faults()
    return {"gateway_ms": statistics.median(via) * 1000,
            "direct_ms": statistics.median(direct) * 1000,
            "ratio": statistics.median(via) / statistics.median(direct)}


def segments_throughput(rounds: int) -> dict[str, Any]:
    mix = ["Your code is 482916", "Your order #1234 has shipped and arrives tomorrow. " * 3,
           "გამარჯობა! თქვენი შეკვეთა მზადაა.", "Price: 10€ {promo} [today]",
           "Programarea dvs. este mâine la 10:00", "Welcome! 🎉🎉", "x" * 900]
    started = time.perf_counter()
    for _ in range(rounds):
        for text in mix:
            smsgate.segments(text)
    elapsed = time.perf_counter() - started
    return {"texts_per_second": rounds * len(mix) / elapsed}


def import_time() -> dict[str, Any]:
    def median_ms(code: str) -> float:
        runs = []
        for _ in range(7):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            runs.append(time.perf_counter() - started)
        return statistics.median(runs) * 1000

    bare = median_ms("pass")
    return {"import_smsgate_ms": median_ms("import smsgate") - bare,
            "import_requests_ms": median_ms("import requests") - bare}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--output", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args()
    quick = args.quick
    results = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.machine(), "cpus": os.cpu_count()},
        "smsgate": smsgate.__version__,
        "per_send_overhead": per_send_overhead(100 if quick else 500),
        "per_send_overhead_distinct": per_send_overhead(100 if quick else 500, distinct=True),
        "bulk": bulk(1_000 if quick else 10_000),
        "concurrency": concurrency(100 if quick else 1_000, 0.05),
        "failover_cost": failover_cost(100 if quick else 500),
        "segments": segments_throughput(2_000 if quick else 20_000),
        "import": import_time(),
    }
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


def render(r: dict[str, Any]) -> str:
    lines = ["| benchmark | measured | target |", "|---|---|---|"]
    for name, row in r["per_send_overhead"].items():
        lines.append(f"| per-send overhead, {name} | {row['ratio']:.2f}x raw requests "
                     f"({row['smsgate_ms']:.2f} vs {row['requests_ms']:.2f} ms) | ≤ 1.10x |")
    for name, row in r["per_send_overhead_distinct"].items():
        lines.append(f"| per-send overhead, {name}, a new number each time | "
                     f"{row['ratio']:.2f}x raw requests "
                     f"({row['smsgate_ms']:.2f} vs {row['requests_ms']:.2f} ms) | ≤ 1.10x |")
    for name, row in r["bulk"].items():
        lines.append(f"| bulk {row['recipients']:,} recipients, {name} | "
                     f"{row['smsgate_s']:.2f} s in {row['requests']} requests; "
                     f"{row['ratio']:.2f}x raw requests | - |")
    for workers, row in r["concurrency"].items():
        lines.append(f"| send_many, concurrency {workers} | {row['seconds']:.2f} s, "
                     f"{row['speedup']:.1f}x | ≥ {row['target_speedup']:.1f}x |")
    f = r["failover_cost"]
    lines.append(f"| failover, primary down, breaker open | {f['ratio']:.2f}x direct "
                 f"({f['gateway_ms']:.2f} vs {f['direct_ms']:.2f} ms) | ≤ 1.05x |")
    lines.append(f"| segments() | {r['segments']['texts_per_second']:,.0f} texts/s | - |")
    i = r["import"]
    lines.append(f"| import time | smsgate {i['import_smsgate_ms']:.0f} ms, requests "
                 f"{i['import_requests_ms']:.0f} ms | - |")
    m = r["machine"]
    lines.append(f"\nPython {m['python']} on {m['platform']} ({m['cpus']} CPUs)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
