"""smsgate's benchmarks: prints a report and writes benchmarks/results.json.

    python benchmarks/run.py            # everything (a few minutes)
    python benchmarks/run.py --quick    # smaller counts, for a smoke run

How the figures are made honest (issue 22):

* The provider is ``benchmarks/fake_provider.py`` in its **own process**: it validates nothing,
  answers each provider's minimal success reply, and shares no cache with the client. Both
  sides of every comparison talk to it the same way and get byte-identical replies.
* The baseline is a default ``requests.Session().post`` of the identical request, written by
  hand (the body a user would pass as ``json=`` or ``data=``).
* Cold figures use numbers never seen before in this process: a new one for every send.
* A and B run in interleaved blocks (A B, then B A, ...), so drift and load hit both; each run
  gives the ratio of the two block medians, and the report gives the median and the minimum
  over at least three runs.
* The machine, its load (os.getloadavg at the start and end) and Python are printed.
* The in-process sandbox is used only for the end-to-end failover figure, labelled so;
  send_many is measured against the fake provider in its own process, answering after 50 ms.
* A peer, twilio-python's client, is measured against the same floor when it is installed
  (``pip install twilio``; it is not one of smsgate's dependencies).
"""

from __future__ import annotations

import argparse
import itertools
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/segments_reference.py: the old segment counter

import smsgate  # noqa: E402
from smsgate.phone import clear_caches  # noqa: E402

TEXT = "Hello, benchmark"
API_KEY = "bench-key-0123456789abcdef"


# -- the fake provider in its own process ----------------------------------------------------
class FakeProvider:
    """``benchmarks/fake_provider.py`` as a child process; it stops when we close its stdin."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency

    def __enter__(self) -> FakeProvider:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("fake_provider.py")),
             "--latency", str(self.latency)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        assert line[:1] == ["PORT"], line
        self.url = f"http://127.0.0.1:{line[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


# -- numbers never seen before -----------------------------------------------------------------
_fresh = itertools.count(1_000_000)


def fresh_ge(count: int) -> list[str]:
    """Valid Georgian mobile numbers (+995 55x xxx xxx) that this process has not used yet."""
    return [f"+99555{next(_fresh):07d}" for _ in range(count)]


# -- interleaved A/B ---------------------------------------------------------------------------
Block = Callable[[], "tuple[float, float]"]


class Clock:
    """Wall time and this process's CPU time (the client's own cost) of one block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def interleaved(a: Block, b: Block, runs: int, blocks: int) -> dict[str, Any]:
    """Run ``a`` and ``b`` (each returns wall and CPU seconds per operation for one block) in
    alternating order; per run, the ratio of the block medians; over runs, median and min."""
    out: dict[str, Any] = {"runs": runs, "blocks_per_run": blocks}
    samples: dict[Block, list[list[tuple[float, float]]]] = {a: [], b: []}
    for _ in range(runs):
        for side in (a, b):
            samples[side].append([])
        for block in range(blocks):
            for side in ((a, b) if block % 2 == 0 else (b, a)):
                samples[side][-1].append(side())
    for index, clock in ((0, ""), (1, "cpu_")):
        ratios = []
        medians: dict[str, list[float]] = {"a": [], "b": []}
        for run in range(runs):
            for key, side in (("a", a), ("b", b)):
                medians[key].append(statistics.median(x[index] for x in samples[side][run]))
            ratios.append(medians["a"][-1] / medians["b"][-1] if medians["b"][-1] else 0.0)
        for key, side in (("a", a), ("b", b)):
            out[f"{clock}{key}_median"] = statistics.median(medians[key])
            out[f"{clock}{key}_min"] = min(x[index] for run in samples[side] for x in run)
        out[f"{clock}ratio_median"] = statistics.median(ratios)
        out[f"{clock}ratio_min"] = min(ratios)
        out[f"{clock}ratio_max"] = max(ratios)
    return out


# -- one send ----------------------------------------------------------------------------------
def provider_for(name: str, url: str) -> Any:
    if name == "gosms.ge":
        return smsgate.GoSmsGe(API_KEY, sender="Bench", base_url=url)
    if name == "smsoffice.ge":
        return smsgate.SmsOfficeGe(API_KEY, sender="Bench", base_url=url)
    if name == "gosms.ro":
        return smsgate.GoSmsRo(API_KEY, sender="Bench", base_url=url)
    return smsgate.SmsGist("bench-client", "bench-token", sender="Bench", base_url=url)


def raw_send(name: str, url: str, session: requests.Session, numbers: list[str], text: str
             ) -> Any:
    """The identical HTTP request, written by hand with requests (reply parsed as JSON)."""
    digits = [n[1:] for n in numbers]
    if name == "gosms.ge":
        if len(numbers) == 1:
            body: dict[str, Any] = {"from": "Bench", "to": digits[0], "text": text,
                                    "urgent": False, "api_key": API_KEY}
            return session.post(url + "/sendsms", json=body, timeout=(5, 30)).json()
        body = {"from": "Bench", "to": digits, "text": text, "urgent": False,
                "api_key": API_KEY}
        return session.post(url + "/sendbulk", json=body, timeout=(5, 120)).json()
    if name == "smsoffice.ge":
        form = {"destination": ",".join(digits), "sender": "Bench", "content": text,
                "reference": uuid.uuid4().hex[:20], "key": API_KEY}
        return session.post(url + "/v2/send/", data=form, timeout=(5, 30)).json()
    if name == "gosms.ro":
        return session.post(url + "/message/send", timeout=(5, 30),
                            headers={"X-Authorization": API_KEY},
                            json={"recipient": digits[0], "message": text, "sender": "Bench"}
                            ).json()
    headers = {"X-Client-Id": "bench-client", "Authorization": "Bearer bench-token",
               "X-Idempotency-Key": uuid.uuid4().hex}
    return session.post(url + "/api/sms/send", headers=headers, timeout=(5, 30), json={
        "recipients": numbers, "message": text, "route": "regular", "senderId": "Bench"}
    ).json()


def gosms_ro_numbers(count: int) -> list[str]:
    return [f"+4072{next(_fresh) % 10_000_000:07d}" for _ in range(count)]


def gist_numbers(count: int) -> list[str]:
    return [f"+23324{next(_fresh) % 10_000_000:07d}" for _ in range(count)]


NUMBERS: dict[str, Callable[[int], list[str]]] = {
    "gosms.ge": fresh_ge, "smsoffice.ge": fresh_ge, "gosms.ro": gosms_ro_numbers,
    "smsgist": gist_numbers,
}


def per_send(runs: int, blocks: int, sends: int) -> dict[str, Any]:
    """One send through smsgate against the identical raw requests call, a new number each."""
    results = {}
    for name, numbers in NUMBERS.items():
        with FakeProvider() as fake:
            provider = provider_for(name, fake.url)
            session = requests.Session()
            for number in numbers(20):  # warm both connection pools and the metadata
                assert provider.send(number, TEXT).ok
                raw_send(name, fake.url, session, [number], TEXT)

            def ours(provider: Any = provider, numbers: Callable[[int], list[str]] = numbers
                     ) -> tuple[float, float]:
                batch = numbers(sends)
                with Clock() as clock:
                    for number in batch:
                        provider.send(number, TEXT)
                return clock.wall / sends, clock.cpu / sends

            def theirs(name: str = name, url: str = fake.url, session: requests.Session = session,
                       numbers: Callable[[int], list[str]] = numbers) -> tuple[float, float]:
                batch = numbers(sends)
                with Clock() as clock:
                    for number in batch:
                        raw_send(name, url, session, [number], TEXT)
                return clock.wall / sends, clock.cpu / sends

            results[name] = interleaved(ours, theirs, runs, blocks)
            provider.close()
            session.close()
    return results


# -- a peer: twilio-python against the same floor ----------------------------------------------
TWILIO_SID = "AC00000000000000000000000000000001"


def peer_twilio(runs: int, blocks: int, sends: int) -> dict[str, Any]:
    """twilio-python's ``messages.create`` against the identical raw requests call, so that
    readers can place smsgate's per-send ratio. Optional: ``pip install twilio``."""
    try:
        from twilio.rest import Client  # type: ignore[import-not-found]
    except ImportError:
        return {"skipped": "twilio is not installed (pip install twilio)"}
    import twilio

    with FakeProvider() as fake:
        client = Client(TWILIO_SID, "bench-token")
        client.api.base_url = fake.url  # the Domain all of its URLs are built from
        url = f"{fake.url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        session = requests.Session()

        def raw(number: str) -> Any:
            form = {"To": number, "From": "+15005550006", "Body": TEXT}
            return session.post(url, data=form, auth=(TWILIO_SID, "bench-token"),
                                timeout=(5, 30)).json()

        for number in fresh_ge(20):  # warm both pools
            client.messages.create(to=number, from_="+15005550006", body=TEXT)
            raw(number)

        def theirs_lib() -> tuple[float, float]:
            batch = fresh_ge(sends)
            with Clock() as clock:
                for number in batch:
                    client.messages.create(to=number, from_="+15005550006", body=TEXT)
            return clock.wall / sends, clock.cpu / sends

        def theirs_raw() -> tuple[float, float]:
            batch = fresh_ge(sends)
            with Clock() as clock:
                for number in batch:
                    raw(number)
            return clock.wall / sends, clock.cpu / sends

        result = interleaved(theirs_lib, theirs_raw, runs, blocks)
        session.close()
    result["version"] = twilio.__version__
    return result


# -- cold bulk ---------------------------------------------------------------------------------
def cold_bulk(recipients: int, runs: int, blocks: int) -> dict[str, Any]:
    """GOSMS.GE, ``recipients`` numbers never seen before, against the same chunks by hand."""
    with FakeProvider() as fake:
        provider = smsgate.GoSmsGe(API_KEY, sender="Bench", base_url=fake.url,
                                   timeout=(5, 120))
        session = requests.Session()
        assert provider.send(fresh_ge(1_000), "warm-up").ok  # metadata, pools: not cold
        raw_send("gosms.ge", fake.url, session, fresh_ge(1_000), "warm-up")

        def ours() -> tuple[float, float]:
            numbers = fresh_ge(recipients)
            with Clock() as clock:
                result = provider.send(numbers, "Bulk benchmark")
            assert result.ok
            assert len(result.recipients) == recipients
            return clock.wall, clock.cpu

        def theirs() -> tuple[float, float]:
            numbers = fresh_ge(recipients)
            with Clock() as clock:
                for i in range(0, recipients, 1000):  # GOSMS.GE takes at most 1,000 a request
                    raw_send("gosms.ge", fake.url, session, numbers[i:i + 1000],
                             "Bulk benchmark")
            return clock.wall, clock.cpu

        result = interleaved(ours, theirs, runs, blocks)
        provider.close()
        session.close()
    result["recipients"] = recipients
    result["requests_per_send"] = -(-recipients // 1000)
    return result


def per_number_costs(count: int) -> dict[str, float]:
    """Client CPU per number (µs) of the steps a bulk send repeats, new numbers each time:
    where the bulk ratio above comes from. Best of five."""
    import phonenumbers

    from smsgate.guards import DEFAULT_POLICY
    from smsgate.models import RecipientResult, Status, _recipient_result
    from smsgate.phone import (
        PhoneFormat,
        format_phone,
        normalize_phone,
        validated_region,
        validated_region_of_all,
    )
    from smsgate.providers._base import Outgoing
    from smsgate.providers.gosms_ge import _paired_in_order
    from smsgate.segments import segments

    def best(step: Callable[[list[str]], object],
             setup: Callable[[list[str]], object] = lambda numbers: None) -> float:
        times = []
        for _ in range(5):
            numbers = fresh_ge(count)
            setup(numbers)  # not timed
            started = time.process_time()
            step(numbers)
            times.append(time.process_time() - started)
        return min(times) / count * 1e6

    def full_parse(numbers: list[str]) -> None:  # what every number cost before the fast path
        for number in numbers:
            parsed = phonenumbers.parse(number, None)
            phonenumbers.is_valid_number(parsed)
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            phonenumbers.region_code_for_number(parsed)

    replies: list[tuple[list[Any], Outgoing]] = []

    def reply_of(numbers: list[str]) -> None:  # GOSMS.GE's parsed reply, 1,000 items a request
        replies.clear()
        for i in range(0, len(numbers), 1000):
            chunk = numbers[i:i + 1000]
            items = json.loads(json.dumps([{"messageId": k + 1, "to": n[1:], "success": True}
                                           for k, n in enumerate(chunk)]))
            replies.append((items, Outgoing(
                recipients=tuple(chunk), wire_numbers=tuple(n[1:] for n in chunk),
                text=TEXT, info=segments(TEXT))))

    def read_replies(numbers: list[str]) -> None:
        for items, outgoing in replies:
            _paired_in_order(items, outgoing)

    def policy_at_once(numbers: list[str]) -> None:
        DEFAULT_POLICY._refuses_none(numbers)

    return {
        "libphonenumber parse + validate + format": best(full_parse),
        "normalize_phone (the +digits fast path)": best(
            lambda numbers: [normalize_phone(n, "GE") for n in numbers]),
        "format_phone (wire form)": best(
            lambda numbers: [format_phone(n, PhoneFormat.DIGITS, "GE") for n in numbers]),
        "validated_region (one number at a time)": best(
            lambda numbers: [validated_region(n) for n in numbers]),
        "validated_region_of_all (a one-country list at once, the bulk check)": best(
            validated_region_of_all),
        "send policy's number-type check, the list at once": best(
            policy_at_once, setup=validated_region_of_all),
        "RecipientResult(...) (public constructor)": best(
            lambda numbers: [RecipientResult(phone=n, status=Status.QUEUED, message_id="1")
                             for n in numbers]),
        "RecipientResult as a bulk reply builds it": best(
            lambda numbers: [_recipient_result(n, Status.QUEUED, "1") for n in numbers]),
        "a bulk reply accepting every number, read into results": best(
            read_replies, setup=reply_of),
    }


# -- import time -------------------------------------------------------------------------------
IMPORT_CODE = ("import time; t, c = time.perf_counter(), time.process_time(); {stmt}; "
               "print(time.perf_counter() - t, time.process_time() - c)")


def _import_seconds(stmt: str) -> tuple[float, float]:
    done = subprocess.run([sys.executable, "-c", IMPORT_CODE.format(stmt=stmt)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


def import_time(runs: int, blocks: int) -> dict[str, Any]:
    """Fresh interpreters, interleaved: the import alone, timed inside the child."""
    baseline = "import requests"
    return {
        "import smsgate": interleaved(lambda: _import_seconds("import smsgate"),
                                      lambda: _import_seconds(baseline), runs, blocks),
        # What a send needs: the adapter, and with it requests, attrs and libphonenumber.
        "import smsgate; smsgate.GoSmsGe": interleaved(
            lambda: _import_seconds("import smsgate; smsgate.GoSmsGe"),
            lambda: _import_seconds(baseline), runs, blocks),
    }


# -- segments ----------------------------------------------------------------------------------
SEGMENT_MIX = [
    "Your code is 482916", "Your order #1234 has shipped and arrives tomorrow. " * 3,
    "გამარჯობა! თქვენი შეკვეთა მზადაა.", "Price: 10€ {promo} [today]",
    "Programarea dvs. este mâine la 10:00", "Welcome! 🎉🎉", "x" * 900,
    "€" * 81, "я" * 66 + "😀" + "я" * 67,
]


def segments_speed(runs: int, blocks: int, rounds: int) -> dict[str, Any]:
    from tests.segments_reference import reference_segments

    for text in SEGMENT_MIX:
        assert smsgate.segments(text) == reference_segments(text)

    def timed(count: Callable[[str], object]) -> Block:
        def block() -> tuple[float, float]:
            with Clock() as clock:
                for _ in range(rounds):
                    for text in SEGMENT_MIX:
                        count(text)
            texts = rounds * len(SEGMENT_MIX)
            return clock.wall / texts, clock.cpu / texts
        return block

    result = interleaved(timed(smsgate.segments), timed(reference_segments), runs, blocks)
    result["texts"] = len(SEGMENT_MIX)
    return result


# -- send_many against a slow provider ---------------------------------------------------------
def send_many_throughput(latency: float, per_worker: int, runs: int) -> dict[str, Any]:
    """send_many through GOSMS.GE against the fake provider answering after ``latency``
    seconds: throughput at 1, 8, 32 and 64 workers (speed-up over one worker, target
    0.9 x workers) and the client process's CPU per message. Median over ``runs``."""
    rows: dict[str, dict[str, list[float]]] = {}
    with FakeProvider(latency) as fake:
        provider = smsgate.GoSmsGe(API_KEY, sender="Bench", base_url=fake.url)
        warm = [smsgate.Message(n, "warm-up") for n in fresh_ge(128)]
        assert smsgate.send_many(provider, warm, concurrency=64).sent == 128  # 64 connections
        for _ in range(runs):
            for workers in (1, 8, 32, 64):
                count = max(workers * per_worker, 20)
                batch = [smsgate.Message(n, f"message {i}") for i, n in enumerate(fresh_ge(count))]
                with Clock() as clock:
                    report = smsgate.send_many(provider, batch, concurrency=workers,
                                               keep_raw=False)
                assert report.sent == count, report.errors[:3]
                row = rows.setdefault(str(workers), {"per_second": [], "cpu_ms": []})
                row["per_second"].append(count / clock.wall)
                row["cpu_ms"].append(clock.cpu / count * 1e3)
        # The floor for the CPU figure: the identical request by hand with raw requests, one
        # at a time against the same slow fake (a send after an idle wait costs more CPU than
        # one in a tight loop, for requests as for smsgate).
        session = requests.Session()
        raw_cpu = []
        for _ in range(runs):
            numbers = fresh_ge(20)
            with Clock() as clock:
                for number in numbers:
                    raw_send("gosms.ge", fake.url, session, [number], TEXT)
            raw_cpu.append(clock.cpu / len(numbers) * 1e3)
        session.close()
        provider.close()
    one = statistics.median(rows["1"]["per_second"])
    result: dict[str, Any] = {
        workers: {"per_second": statistics.median(row["per_second"]),
                  "speedup": statistics.median(row["per_second"]) / one,
                  "cpu_ms_per_message": statistics.median(row["cpu_ms"]),
                  "cpu_ms_max": max(row["cpu_ms"])}
        for workers, row in rows.items()}
    result["raw_requests_cpu_ms_one_at_a_time"] = statistics.median(raw_cpu)
    return result


def _send_many_before(provider: Any, messages: list[Any], concurrency: int) -> list[Any]:
    """send_many as it was before issue 22's second pass, for the memory comparison: one
    task submitted per message at once, every result kept with its raw reply."""
    from concurrent.futures import ThreadPoolExecutor

    results: list[Any] = [None] * len(messages)

    def one(index: int) -> None:
        message = messages[index]
        try:
            results[index] = provider.send(message.to, message.text, **message.options)
        except smsgate.SmsGateError as error:
            results[index] = error

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(one, i) for i in range(len(messages))]:
            future.result()
    return results


def send_many_memory(messages: int, workers: int) -> dict[str, Any]:
    """Peak memory (tracemalloc) per message of a send_many, the batch itself excluded:
    as before (a task per message, raw kept), now, and now with keep_raw=False."""
    import gc
    import tracemalloc

    out: dict[str, Any] = {"messages": messages, "workers": workers}
    with FakeProvider() as fake:
        provider = smsgate.GoSmsGe(API_KEY, sender="Bench", base_url=fake.url)
        smsgate.send_many(provider, [smsgate.Message(n, "warm-up") for n in fresh_ge(128)],
                          concurrency=workers)
        ways: dict[str, Callable[[list[Any]], object]] = {
            "before": lambda batch: _send_many_before(provider, batch, workers),
            "now, keep_raw=True": lambda batch: smsgate.send_many(
                provider, batch, concurrency=workers),
            "now, keep_raw=False": lambda batch: smsgate.send_many(
                provider, batch, concurrency=workers, keep_raw=False),
        }
        for name, way in ways.items():
            peaks = []
            for _ in range(3):
                batch = [smsgate.Message(n, f"message {i}")
                         for i, n in enumerate(fresh_ge(messages))]
                gc.collect()
                tracemalloc.start()
                kept = way(batch)
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
                del kept
            out[name] = statistics.median(peaks) / messages
        provider.close()
    return out


def sandbox_failover(rounds: int) -> dict[str, Any]:
    """END TO END against the in-process sandbox: primary down, breaker open."""
    from smsgate.sandbox import Sandbox

    with Sandbox(delivery_delay=3600, balance=10**9) as sandbox:
        primary = sandbox.provider("gosms.ge", sender="Bench")
        secondary = sandbox.provider("smsoffice.ge", sender="Bench")
        sandbox.fault("gosms.ge", "refuse")
        gateway = smsgate.Gateway([primary, secondary])
        for _ in range(10):  # opens the breaker
            gateway.send("+995555123456", "Failover")
        assert gateway.breaker_state(primary) == "open"

        def via() -> tuple[float, float]:
            with Clock() as clock:
                for _ in range(rounds):
                    gateway.send("+995555123456", "Failover")
            return clock.wall / rounds, clock.cpu / rounds

        def direct() -> tuple[float, float]:
            with Clock() as clock:
                for _ in range(rounds):
                    secondary.send("+995555123456", "Failover")
            return clock.wall / rounds, clock.cpu / rounds

        result = interleaved(via, direct, 3, 6)
        sandbox.clear_faults()
    return result


# -- report ------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "smsgate": smsgate.__version__, "requests": requests.__version__}


def _ratio(row: dict[str, Any], clock: str = "") -> str:
    return (f"{row[clock + 'ratio_median']:.2f}x ({row[clock + 'ratio_min']:.2f}-"
            f"{row[clock + 'ratio_max']:.2f})")


def _pair(row: dict[str, Any], scale: float, unit: str, side: str) -> str:
    median, low = row[side + "_median"] * scale, row[side + "_min"] * scale
    digits = 3 if median < 10 else 1
    return f"{median:.{digits}f} {unit} ({low:.{digits}f})"


def render(r: dict[str, Any]) -> str:
    m = r["machine_start"]
    out = [
        f"Python {m['python']} ({m['implementation']}) on {m['platform']}, {m['cpus']} CPUs; "
        f"smsgate {m['smsgate']}, requests {m['requests']}",
        f"load average (1, 5, 15 min): at start {m['loadavg']}, at end "
        f"{r['machine_end']['loadavg']}",
        "Times: median of per-run medians (minimum block). Ratios: median over runs of "
        "smsgate / baseline (range over runs); wall clock and the client process's CPU.",
        "",
        "| benchmark | smsgate | baseline | wall ratio | client CPU ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in r["per_send"].items():
        out.append(f"| one send, {name}, a new number each; fake provider in its own process | "
                   f"{_pair(row, 1e3, 'ms', 'a')} | {_pair(row, 1e3, 'ms', 'b')} raw requests | "
                   f"{_ratio(row)} | {_ratio(row, 'cpu_')} | ≤ 0.95x |")
    t = r["peer_twilio"]
    if "skipped" in t:
        out.append(f"| peer: twilio-python, one send | {t['skipped']} | | | | - |")
    else:
        out.append(f"| peer: twilio-python {t['version']} `messages.create`, one send; same fake "
                   f"provider | {_pair(t, 1e3, 'ms', 'a')} | {_pair(t, 1e3, 'ms', 'b')} raw "
                   f"requests | {_ratio(t)} | {_ratio(t, 'cpu_')} | - |")
    b = r["cold_bulk"]
    out.append(f"| cold bulk, gosms.ge, {b['recipients']:,} numbers never seen before, "
               f"{b['requests_per_send']} requests; fake provider in its own process | "
               f"{_pair(b, 1e3, 'ms', 'a')} | {_pair(b, 1e3, 'ms', 'b')} raw requests | "
               f"{_ratio(b)} | {_ratio(b, 'cpu_')} | ≤ 2x |")
    costs = ", ".join(f"{step} {us:.2f} µs" for step, us in r["per_number_costs"].items())
    out.append(f"| per number, client CPU, new numbers: {costs} | | | | | - |")
    for stmt, row in r["import"].items():
        target = "≤ 1.3x" if stmt == "import smsgate" else "-"
        out.append(f"| `{stmt}`, fresh interpreter | {_pair(row, 1e3, 'ms', 'a')} | "
                   f"{_pair(row, 1e3, 'ms', 'b')} `import requests` | {_ratio(row)} | "
                   f"{_ratio(row, 'cpu_')} | {target} |")
    g = r["segments"]
    out.append(f"| segments(), {g['texts']}-text mix, new counter vs the old one | "
               f"{_pair(g, 1e6, 'µs/text', 'a')} | {_pair(g, 1e6, 'µs/text', 'b')} old | "
               f"{_ratio(g)} = {1 / g['ratio_median']:.1f}x the throughput | "
               f"{_ratio(g, 'cpu_')} | ≥ 1.8x throughput |")
    f = r["sandbox_failover"]
    out.append(f"| END TO END, in-process sandbox: gateway, primary down and breaker open, vs "
               f"the secondary called directly | {_pair(f, 1e3, 'ms', 'a')} | "
               f"{_pair(f, 1e3, 'ms', 'b')} direct | {_ratio(f)} | - | ≤ 1.05x |")
    raw_cpu = r["send_many"]["raw_requests_cpu_ms_one_at_a_time"]
    for workers, row in r["send_many"].items():
        if not isinstance(row, dict):
            continue
        out.append(f"| send_many, gosms.ge, provider answering after 50 ms (fake in its own "
                   f"process), {workers} worker(s), keep_raw=False | "
                   f"{row['per_second']:.0f} messages/s; client CPU "
                   f"{row['cpu_ms_per_message']:.3f} ms/message (max "
                   f"{row['cpu_ms_max']:.3f}); raw requests, one at a time: {raw_cpu:.3f} ms "
                   f"| 1 worker | {row['speedup']:.1f}x the "
                   f"throughput | - | ≥ {0.9 * int(workers):.1f}x; ≤ 0.5 ms CPU |")
    mem = r["send_many_memory"]
    before = mem["before"]
    for name in ("now, keep_raw=True", "now, keep_raw=False"):
        out.append(f"| send_many peak memory per message (tracemalloc), {mem['messages']:,} "
                   f"messages, {mem['workers']} workers, {name} | {mem[name] / 1024:.2f} KiB | "
                   f"{before / 1024:.2f} KiB before (a task per message, raw kept) | "
                   f"{mem[name] / before:.2f}x | - | ≤ 0.5x |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--output", default=str(Path(__file__).with_name("results.json")))
    parser.add_argument("--only", action="append", metavar="ROW",
                        help="run only these rows (repeatable or comma-separated: bulk, "
                             "per_send, send_many, send_many_memory, sandbox_failover, ...); "
                             "prints their figures as JSON and writes no results file")
    args = parser.parse_args()
    q = args.quick
    clear_caches()
    results: dict[str, Any] = {"machine_start": machine()}
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("per_send", lambda: per_send(3, 4 if q else 8, 50 if q else 200)),
        ("peer_twilio", lambda: peer_twilio(3, 4 if q else 8, 50 if q else 200)),
        ("cold_bulk", lambda: cold_bulk(2_000 if q else 10_000, 3, 2 if q else 4)),
        ("per_number_costs", lambda: per_number_costs(2_000 if q else 10_000)),
        ("import", lambda: import_time(3, 4 if q else 10)),
        ("segments", lambda: segments_speed(3, 4 if q else 8, 200 if q else 1_000)),
        ("sandbox_failover", lambda: sandbox_failover(50 if q else 300)),
        ("send_many", lambda: send_many_throughput(0.05, 4 if q else 8, 1 if q else 3)),
        ("send_many_memory", lambda: send_many_memory(500 if q else 2_000, 64)),
    ]
    aliases = {"bulk": "cold_bulk", "failover": "sandbox_failover"}
    only = {aliases.get(name.strip(), name.strip())
            for value in args.only or () for name in value.split(",") if name.strip()}
    unknown = only - {key for key, _ in steps}
    if unknown:
        parser.error(f"unknown row(s): {', '.join(sorted(unknown))}")
    for key, step in steps:
        if only and key not in only:
            continue
        started = time.perf_counter()
        results[key] = step()
        print(f"{key}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    results["machine_end"] = machine()
    if only:
        print(json.dumps(results, indent=2))
        return
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


if __name__ == "__main__":
    main()
