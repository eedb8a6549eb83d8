"""The Redis stores as a fleet uses them, against a real redis-server and the sandbox.

* The acceptance figures of the shared breaker and the shared pace, measured across real
  processes: 8 processes and a provider that is down send it 0 requests while its circuit
  is open and exactly one probe per reset window; 4 processes paced at 50 msg/s never put
  more than 50 sends in any second and use at least 90 % of the rate.
* Redis unreachable: claims fail closed (nothing is sent), breakers and pacing fall back to
  per-process state with a warning, and share again once Redis answers; claims written
  before a restart are read back after it (AOF).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import socket
import time
from collections.abc import Generator, Iterator
from typing import Any

import pytest

import smsgate
from smsgate.gateway import BreakerPolicy
from smsgate.sandbox import Sandbox
from smsgate.stores import (
    ClaimState,
    Rate,
    RedisBreakerStore,
    RedisClaimStore,
    RedisRateLimiter,
)

from .redis_server import (  # noqa: F401 (fixtures)
    RedisServer,
    own_redis_server,
    redis_prefix,
    redis_server,
)
from .test_stores_rate import window_overflow

pytest.importorskip("redis")

RESET = 0.5  # the breaker's reset window in the acceptance test


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=0.0) as running:
        yield running


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return f"redis://127.0.0.1:{port}/0"  # nothing listens there once the probe is closed


# -- the shared breaker: 8 processes, one probe per reset window -------------------------------


def _breaker_worker(url: str, prefix: str, provider_url: str, start: Any, stop: Any,
                    out: Any) -> None:
    provider = smsgate.from_url(provider_url)
    gateway = smsgate.Gateway(
        [provider], retry=None,
        breaker=BreakerPolicy(failure_threshold=1, reset_timeout=RESET),
        breaker_store=RedisBreakerStore(url, prefix=prefix))
    out.put("ready")
    start.wait(120)
    tries = 0
    while not stop.is_set():
        tries += 1
        with contextlib.suppress(smsgate.SmsGateError):
            gateway.send("+995555100001", "breaker probe")
        time.sleep(0.005)
    out.put(tries)


def test_eight_processes_send_a_down_provider_one_probe_per_reset_window(
    sandbox: Sandbox, redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    name = "gosms.ge"
    provider_url = sandbox.provider_url(name, sender="Fleet")
    policy = BreakerPolicy(failure_threshold=1, reset_timeout=RESET)
    probe_gateway = smsgate.Gateway([smsgate.from_url(provider_url)])
    key = probe_gateway.provider_key(probe_gateway.providers[0])  # what every process uses
    sandbox.fault(name, "error", status=503)  # down until cleared
    context = multiprocessing.get_context("spawn")
    start, stop, out = context.Event(), context.Event(), context.Queue()
    workers = [context.Process(target=_breaker_worker,
                               args=(redis_server.url, redis_prefix, provider_url, start, stop,
                                     out))
               for _ in range(8)]
    try:
        for worker in workers:
            worker.start()
        assert [out.get(timeout=120) for _ in workers] == ["ready"] * len(workers)
        with RedisBreakerStore(redis_server.url, prefix=redis_prefix) as store:
            store.record(key, "pass", "failure", policy=policy)  # the provider failed: open
        opened = time.time()
        before = sandbox.requests(name)
        start.set()
        time.sleep(6 * RESET)
        stop.set()
        tries = [out.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
    finally:
        stop.set()
        sandbox.clear_faults()
    assert min(tries) > 0 and sum(tries) > 50  # every process kept trying
    requests = sandbox.requests(name) - before
    probes = sorted(r.created for r in sandbox.refusals(name)
                    if r.kind == "fault" and r.created >= opened)
    assert requests == len(probes)
    # Zero requests while open: the first probe only once the first window ended...
    assert probes and probes[0] >= opened + RESET - 0.05
    # ...and exactly one per window: each probe failed and re-opened the circuit, so the
    # next one is a full window later, never two in one window.
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert all(gap >= RESET - 0.05 for gap in gaps), gaps
    assert len(probes) >= 2, "the probes of several windows were seen"
    print(f"breaker: {sum(tries)} sends tried by 8 processes, {len(probes)} probes, "
          f"gaps {min(gaps):.3f}-{max(gaps):.3f} s")


# -- the shared pace: 4 processes at 50 msg/s ----------------------------------------------------


class _Recording(RedisRateLimiter):
    """Records the start of each slot it books: the server time of the booking plus the
    wait it answered (the sender sleeps that long before its request)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots: list[float] = []
        self._seen = 0.0

    def _now(self) -> Generator[Any, Any, float]:
        self._seen = yield from super()._now()  # the try whose EXEC went through is last
        return self._seen

    def reserve(self, key: str, rate: Rate, *, cost: int = 1,
                max_wait: float | None = None) -> float:
        wait = super().reserve(key, rate, cost=cost, max_wait=max_wait)
        self.slots.append(self._seen + wait)
        return wait


def _pacing_worker(url: str, prefix: str, provider_url: str, text: str, start: Any,
                   seconds: float, out: Any) -> None:
    provider = smsgate.from_url(provider_url)
    provider.send_rate = Rate(50, 1.0)
    limiter = _Recording(url, prefix=prefix)
    gateway = smsgate.Gateway([provider], retry=None, limiter=limiter)
    out.put("ready")
    start.wait(120)
    until = time.time() + seconds
    sent = 0
    while time.time() < until:
        gateway.send(f"+995577{100001 + sent:06d}", text)
        sent += 1
    out.put((limiter.slots, sent))


def test_four_processes_share_a_pace_of_50_per_second(
    sandbox: Sandbox, redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    name = "smsoffice.ge"
    text = f"paced {redis_prefix}"
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [context.Process(target=_pacing_worker,
                               args=(redis_server.url, redis_prefix,
                                     sandbox.provider_url(name, sender="Fleet"), text, start,
                                     4.0, out))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    assert [out.get(timeout=120) for _ in workers] == ["ready"] * len(workers)
    start.set()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    slots = sorted(s for slot_list, _sent in results for s in slot_list)
    sent = sum(count for _slots, count in results)
    received = [m for m in sandbox.messages(name) if m.text == text]
    assert len(slots) == sent == len(received)  # every slot booked was one request
    assert window_overflow([(s, 1) for s in slots], Rate(50, 1.0)) is None
    whole = int(slots[-1] - slots[0])  # whole seconds from the first slot
    used = sum(1 for s in slots if s < slots[0] + whole)
    assert whole >= 3
    assert used >= 0.9 * 50 * whole, (used, whole)
    print(f"pacing: {len(slots)} sends, {used} in the first {whole} s "
          f"({used / (50 * whole):.0%} of 50/s)")


# -- Redis unreachable -----------------------------------------------------------------------


def test_claims_fail_closed_when_redis_is_unreachable(sandbox: Sandbox) -> None:
    name = "smsoffice.ge"
    claims = RedisClaimStore(dead_url())
    gateway = smsgate.Gateway([sandbox.provider(name, sender="Fleet")], claims=claims)
    requests = sandbox.requests(name)
    import redis

    with pytest.raises(redis.exceptions.ConnectionError):
        gateway.send("+995577100001", "never without a claim", idempotency_key="k1")
    assert sandbox.requests(name) == requests  # nothing was sent without its claim
    claims.close()


def test_breakers_and_pacing_fall_back_to_this_process_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import redis

    policy = BreakerPolicy(failure_threshold=1, reset_timeout=30)
    url = dead_url()
    with caplog.at_level(logging.WARNING, logger="smsgate"), \
            RedisBreakerStore(url) as breakers, RedisRateLimiter(url) as limiter:
        assert breakers.admit("p", policy) == "pass"
        breakers.record("p", "pass", "failure", policy=policy)
        assert breakers.state("p", policy) == "open"  # kept in this process
        assert breakers.admit("p", policy) == "deny"
        assert [limiter.reserve("p", Rate(2, 10.0)) for _ in range(2)] == [0.0, 0.0]
        assert limiter.reserve("p", Rate(2, 10.0)) > 9  # paced here, not shared
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2, warned  # once per store and outage, not per call
    assert all("Redis is unreachable" in w for w in warned)
    with RedisBreakerStore(url, fallback=False) as strict, \
            pytest.raises(redis.exceptions.ConnectionError):
        strict.admit("p", policy)


def test_state_is_shared_again_once_redis_is_back_and_claims_survive_a_restart(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    server = own_redis_server
    policy = BreakerPolicy(failure_threshold=1, reset_timeout=300)
    with RedisBreakerStore(server.url) as breakers, RedisClaimStore(server.url) as claims:
        breakers.record("p", "pass", "failure", policy=policy)  # open, in Redis
        _, claim = claims.begin("sent", lease=600)
        claims.finish("sent", claim.token or "", ClaimState.ACCEPTED, payload={"id": "1"})
        claims.begin("in-flight", lease=600)
        server.stop_process()
        with caplog.at_level(logging.INFO, logger="smsgate"):
            assert breakers.state("p", policy) == "closed"  # this process knows nothing
            server.restart()
            assert breakers.state("p", policy) == "open"  # shared (and persisted) again
        assert any("answers again" in r.getMessage() for r in caplog.records)
        sent = claims.get("sent")
        assert sent is not None and sent.state is ClaimState.ACCEPTED
        assert sent.payload == {"id": "1"}
        held = claims.get("in-flight")
        assert held is not None and held.state is ClaimState.SENDING
