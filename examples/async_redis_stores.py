"""An async service whose claims, breakers and pacing live in Redis: no thread per store call.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/async_redis_stores.py

``RedisClaimStore``, ``RedisBreakerStore`` and ``RedisRateLimiter`` built from a URL serve
``AsyncGateway`` natively: every claim, breaker permit and pacing slot is awaited on
``redis.asyncio`` (the stores' async twins: ``abegin``, ``aadmit``, ``areserve``, ...). The
script sends a small campaign with ``send_many``, then runs it again in a second
``asyncio.run`` (a new event loop: the stores open a new client for it): every message is
answered from its claim, with no request. Uses ``SMSGATE_REDIS`` when set, else a throwaway
``redis-server`` on 127.0.0.1 (stopped at the end); the sandbox plays the provider. Needs the
``aio`` and ``redis`` extras (``pip install "smsgate[aio,redis]"``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import smsgate
from smsgate.aio import AsyncGateway, send_many
from smsgate.sandbox import Sandbox
from smsgate.stores import Rate, RedisBreakerStore, RedisClaimStore, RedisRateLimiter


async def campaign(url: str, prefix: str, provider: Any, numbers: list[str]
                   ) -> smsgate.BulkReport:
    """One run of the campaign: each message keyed, so that a rerun never sends it twice."""
    claims = RedisClaimStore(url, prefix=prefix + "claims:")
    breakers = RedisBreakerStore(url, prefix=prefix + "breakers:")
    limiter = RedisRateLimiter(url, prefix=prefix + "pace:")
    messages = [smsgate.Message(number, "Sale ends today", idempotency_key=f"sale-{number}")
                for number in numbers]
    async with AsyncGateway([provider], claims=claims, breaker_store=breakers,
                            limiter=limiter) as sms:
        report = await send_many(sms, messages, concurrency=8)
    unknown = await claims.afind(smsgate.stores.ClaimState.UNKNOWN)
    print(f"  claims left unknown: {len(unknown)}")
    for store in (claims, breakers, limiter):
        await store.aclose()
    return report


@contextmanager
def redis_url() -> Iterator[str]:
    """``SMSGATE_REDIS``, or a throwaway local redis-server (stopped by its PID)."""
    if os.environ.get("SMSGATE_REDIS"):
        yield os.environ["SMSGATE_REDIS"]
        return
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("this example needs Redis: install redis-server or set "
                         "SMSGATE_REDIS=redis://...; it also needs SMSGATE_SANDBOX=1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    directory = tempfile.mkdtemp(prefix="smsgate-example-redis-")
    server = subprocess.Popen(  # noqa: S603 (redis-server, found on PATH, fixed arguments)
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", directory],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    if os.environ.get("SMSGATE_SANDBOX") != "1":
        raise SystemExit("this example runs against the sandbox: set SMSGATE_SANDBOX=1")
    numbers = [f"+995577{100001 + 7 * i:06d}" for i in range(20)]
    prefix = f"example:{uuid.uuid4().hex}:"
    with Sandbox(delivery_delay=0.0) as sandbox, redis_url() as url:
        provider = sandbox.provider("smsoffice.ge", sender="MyBrand")
        provider.send_rate = Rate(50, 1.0)  # paced across every process sharing this Redis
        report = asyncio.run(campaign(url, prefix, provider, numbers))
        print(f"first run: {report.sent} sent, {sandbox.requests('smsoffice.ge')} requests")
        before = sandbox.requests("smsoffice.ge")
        again = asyncio.run(campaign(url, prefix, provider, numbers))
        made = sandbox.requests("smsoffice.ge") - before
        print(f"second run: {again.sent} answered from their claims, {made} requests")


if __name__ == "__main__":
    main()
