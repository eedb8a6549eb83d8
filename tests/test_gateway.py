"""Gateway decisions: a fault matrix over scripted providers, breaker, budget, deadline."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import smsgate
from smsgate import (
    AllProvidersFailed,
    BreakerPolicy,
    Gateway,
    Message,
    RetryPolicy,
    Status,
)
from smsgate.providers._base import Outgoing
from smsgate.testing import MemoryProvider

GE = "+995555123456"
RO = "+40712345678"
GH = "+233245972246"


def err(cls: type[smsgate.ProviderError], **kwargs: Any) -> smsgate.ProviderError:
    return cls(cls.__name__, provider="memory", **kwargs)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def gateway(*providers: MemoryProvider, **kwargs: Any) -> tuple[Gateway, Sleeps]:
    sleeps = Sleeps()
    kwargs.setdefault("retry", RetryPolicy(attempts=3, backoff=0.01))
    return Gateway(list(providers), sleep=sleeps, **kwargs), sleeps


def sends(*providers: MemoryProvider) -> list[int]:
    return [len(p.calls) for p in providers]


# -- the fault matrix ------------------------------------------------------------------------
def test_refused_fails_over() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(smsgate.ConnectError), times=3)
    gw, _ = gateway(a, b)
    result = gw.send(GE, "Hi")
    assert result.ok
    assert sends(a, b) == [3, 1]  # retried on a (nothing was sent), then b
    assert len(b.outbox) == 1 and len(a.outbox) == 0
    assert [x.error for x in result.attempts][:3] == ["ConnectError"] * 3


def test_read_timeout_stops_the_chain() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(smsgate.DeliveryUnknown))
    gw, _ = gateway(a, b)
    with pytest.raises(smsgate.DeliveryUnknown):
        gw.send(GE, "Hi")
    assert sends(a, b) == [1, 0]  # no retry, no failover: it may have been sent


def test_read_timeout_with_opt_in_fails_over_and_sends_twice() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(smsgate.DeliveryUnknown))
    gw, _ = gateway(a, b, failover_on_unknown=True)
    assert gw.send(GE, "Hi").provider == "memory"
    assert sends(a, b) == [1, 1]  # two sends: the documented duplicate risk


def test_unknown_outcome_retried_only_with_idempotency() -> None:
    a = MemoryProvider()
    a.fail_next(err(smsgate.DeliveryUnknown, retryable=True))
    gw, _ = gateway(a)
    result = gw.send(GE, "Hi")
    keys = [c.idempotency_key for c in a.calls]
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]  # same key reused
    assert result.ok
    plain = MemoryProvider(capabilities=frozenset({"bulk"}))
    plain.fail_next(err(smsgate.DeliveryUnknown, retryable=True))
    with pytest.raises(smsgate.DeliveryUnknown):
        gateway(plain)[0].send(GE, "Hi")
    assert len(plain.calls) == 1


def test_outcome_stays_unknown_when_the_idempotent_retry_fails_otherwise() -> None:
    # Found by the randomised reliability run: the first attempt may have sent the message, so
    # a "nothing sent" error on the retry must not let the gateway fail over (a duplicate).
    a, b = MemoryProvider(), MemoryProvider()
    a.script(err(smsgate.DeliveryUnknown, retryable=True), err(smsgate.ProviderUnavailable))
    gw, _ = gateway(a, b, retry=RetryPolicy(attempts=2, backoff=0.01))
    with pytest.raises(smsgate.DeliveryUnknown) as info:
        gw.send(GE, "Hi")
    assert info.value.may_have_sent is True
    assert sends(a, b) == [2, 0]


def test_short_retry_after_retries_the_same_provider() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(smsgate.RateLimited, retry_after=2.0))
    gw, sleeps = gateway(a, b)
    gw.send(GE, "Hi")
    assert sends(a, b) == [2, 0]
    assert sleeps.waits == [2.0]


def test_long_retry_after_fails_over_without_sleeping() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(smsgate.RateLimited, retry_after=120.0))
    gw, sleeps = gateway(a, b)
    gw.send(GE, "Hi")
    assert sends(a, b) == [1, 1]
    assert sleeps.waits == []


def test_503_twice_then_ok() -> None:
    a = MemoryProvider()
    a.fail_next(err(smsgate.ProviderUnavailable), times=2)
    gw, sleeps = gateway(a)
    result = gw.send(GE, "Hi")
    assert result.ok and len(a.calls) == 3
    assert len(sleeps.waits) == 2
    assert sleeps.waits[0] <= 0.01 and sleeps.waits[1] <= 0.02  # full jitter, capped


@pytest.mark.parametrize("error", [smsgate.AuthenticationError, smsgate.InsufficientFunds,
                                   smsgate.SenderRejected])
def test_refusals_fail_over_at_once(error: type[smsgate.ProviderError]) -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(error))
    gw, _ = gateway(a, b)
    gw.send(GE, "Hi")
    assert sends(a, b) == [1, 1]


def test_invalid_recipient_never_fails_over() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(smsgate.RecipientRejected))
    gw, _ = gateway(a, b)
    with pytest.raises(smsgate.RecipientRejected):
        gw.send(GE, "Hi")
    assert sends(a, b) == [1, 0]
    with pytest.raises(smsgate.InvalidPhoneNumber):
        gw.send("+99555512345", "Hi")  # impossible: refused before any provider
    assert sends(a, b) == [1, 0]


def test_all_down_lists_every_attempt() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(smsgate.ConnectError), times=3)
    b.fail_next(err(smsgate.ProviderUnavailable), times=3)
    gw, _ = gateway(a, b)
    with pytest.raises(AllProvidersFailed) as info:
        gw.send(GE, "Hi")
    assert [type(e) for e in info.value.errors] == [smsgate.ConnectError,
                                                     smsgate.ProviderUnavailable]
    assert info.value.may_have_sent is False
    assert sends(a, b) == [3, 3]


def test_no_duplicates_across_the_matrix() -> None:
    # Every scripted failure except the opt-in case: each message is in at most one outbox.
    for script in ([err(smsgate.ConnectError)], [err(smsgate.ProviderUnavailable)] * 2,
                   [err(smsgate.RateLimited, retry_after=1)], [err(smsgate.InsufficientFunds)]):
        a, b = MemoryProvider(), MemoryProvider()
        a.script(*script)
        gateway(a, b)[0].send(GE, "once")
        assert len(a.outbox) + len(b.outbox) == 1


def test_unsupported_options_skip_providers() -> None:
    plain = MemoryProvider(capabilities=frozenset({"bulk"}))
    full = MemoryProvider()
    gw, _ = gateway(plain, full)
    gw.send(GE, "Hi", urgent=True)
    assert sends(plain, full) == [0, 1]
    with pytest.raises(smsgate.UnsupportedFeature):
        gateway(plain)[0].send(GE, "Hi", urgent=True)


# -- routing ---------------------------------------------------------------------------------
def test_routes_by_country_and_merges_in_input_order() -> None:
    ge, ro, gh = (MemoryProvider() for _ in range(3))
    gw = Gateway([], routes={"GE": [ge], "RO": [ro], "gh": [gh]})
    result = gw.send([RO, GE, GH, "+995577123456"], "Hi")
    assert [r.phone for r in result.recipients] == [RO, GE, GH, "+995577123456"]
    assert ge.last.to == (GE, "+995577123456")
    assert ro.last.to == (RO,) and gh.last.to == (GH,)
    assert result.ok
    with pytest.raises(smsgate.ValidationError, match="no route"):
        gw.send("+359888123456", "Hi")
    assert sends(ge, ro, gh) == [1, 1, 1]


def test_route_group_failure_is_reported_per_recipient() -> None:
    ge, ro = MemoryProvider(), MemoryProvider()
    ro.fail_next(err(smsgate.InsufficientFunds))
    gw = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
    result = gw.send([GE, RO], "Hi")
    assert [r.status for r in result.recipients] == [Status.QUEUED, Status.REJECTED]
    assert not result.ok


def test_a_later_route_group_refusing_the_text_does_not_hide_an_earlier_send() -> None:
    ge = MemoryProvider()
    ro = MemoryProvider()
    ro.fail_next(smsgate.MessageTooLong("too long for this provider"))
    gw = Gateway([], routes={"GE": [ge], "RO": [ro]})
    result = gw.send([GE, RO], "Hi")  # GE goes out first, then RO refuses
    assert [r.status for r in result.recipients] == [Status.QUEUED, Status.REJECTED]
    assert len(ge.outbox) == 1
    assert not result.ok
    first = MemoryProvider()
    first.fail_next(smsgate.MessageTooLong("too long"))
    with pytest.raises(smsgate.MessageTooLong):  # nothing sent yet: raised as is
        Gateway([], routes={"GE": [first], "RO": [MemoryProvider()]}).send([GE, RO], "Hi")


def test_national_numbers_use_the_gateway_region() -> None:
    a = MemoryProvider()
    Gateway([a], region="GE").send("555 12 34 56", "Hi")
    assert a.last.to == (GE,)


def test_provider_that_cannot_reach_the_country_is_skipped() -> None:
    ge_only = MemoryProvider()
    ge_only.fail_next(smsgate.InvalidPhoneNumber("memory delivers only to GE"))
    anywhere = MemoryProvider()
    Gateway([ge_only, anywhere]).send(RO, "Hi")
    assert sends(ge_only, anywhere) == [1, 1]


# -- breaker, budget, deadline ----------------------------------------------------------------
def test_breaker_sends_zero_requests_while_open_and_one_probe_per_window() -> None:
    lock = threading.Lock()
    down_calls: list[float] = []

    def down(outgoing: Outgoing) -> smsgate.ProviderError:
        with lock:
            down_calls.append(time.monotonic())
        time.sleep(0.002)
        return err(smsgate.ConnectError)

    a, b = MemoryProvider(), MemoryProvider()
    a.script(*([down] * 100_000))
    policy = BreakerPolicy(failure_threshold=5, reset_timeout=0.05)
    gw = Gateway([a, b], retry=None, breaker=policy)

    def worker() -> None:
        for _ in range(200):
            gw.send(GE, "Hi")

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert len(b.outbox) == 16 * 200  # every message went out, through b
    windows = elapsed / policy.reset_timeout + 1
    # Up to the threshold (plus the threads already admitted when it opened), then one
    # probe per half-open window: nowhere near one request per send.
    assert len(down_calls) <= policy.failure_threshold + 16 + windows
    assert len(down_calls) < 16 * 200 / 10


def test_half_open_admits_exactly_one_probe_under_many_threads() -> None:
    from smsgate.gateway import CircuitBreaker

    now = [0.0]
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=1, reset_timeout=10),
                             lambda: now[0])
    breaker.failure()
    assert breaker.state == "open"
    assert not breaker.allow()  # open: zero requests
    now[0] = 10.0
    assert breaker.state == "half-open"
    barrier = threading.Barrier(16)
    admitted: list[bool] = []

    def contender() -> None:
        barrier.wait()
        admitted.append(breaker.allow())

    threads = [threading.Thread(target=contender) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert admitted.count(True) == 1
    breaker.failure()  # the probe failed: open again for a new window
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed"
    assert all(breaker.allow() for _ in range(5))


def test_breaker_counts_business_refusals_as_healthy() -> None:
    a = MemoryProvider()
    a.script(*[err(smsgate.RecipientRejected)] * 10)
    gw = Gateway([a], breaker=BreakerPolicy(failure_threshold=2))
    for _ in range(10):
        with pytest.raises(smsgate.RecipientRejected):
            gw.send(GE, "Hi")
    assert gw.breaker_state(a) == "closed"


def test_breaker_recovers_after_a_successful_probe() -> None:
    now = [0.0]
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(smsgate.AuthenticationError), times=2)
    gw = Gateway([a, b], breaker=BreakerPolicy(failure_threshold=2, reset_timeout=10),
                 clock=lambda: now[0], retry=None)
    gw.send(GE, "1")
    gw.send(GE, "2")
    assert gw.breaker_state(a) == "open"
    gw.send(GE, "3")
    assert len(a.calls) == 2  # skipped while open
    now[0] = 11.0
    assert gw.breaker_state(a) == "half-open"
    gw.send(GE, "4")  # the probe succeeds
    assert gw.breaker_state(a) == "closed"
    assert [m.text for m in a.outbox] == ["4"]


def test_retry_budget_stops_a_retry_storm() -> None:
    a = MemoryProvider()
    a.script(*[err(smsgate.ProviderUnavailable)] * 10_000)
    gw, _ = gateway(a, breaker=None)
    for _ in range(1000):
        with pytest.raises(AllProvidersFailed):
            gw.send(GE, "Hi")
    assert len(a.calls) <= 1100


def test_deadline_bounds_the_whole_call() -> None:
    now = [0.0]

    def slow(outgoing: Outgoing) -> smsgate.ProviderError:
        now[0] += 0.6
        return err(smsgate.ConnectError)

    a, b, c = MemoryProvider(), MemoryProvider(), MemoryProvider()
    for p in (a, b, c):
        p.script(*[slow] * 10)
    gw = Gateway([a, b, c], deadline=1.0, clock=lambda: now[0], sleep=lambda s: None,
                 breaker=None)
    with pytest.raises(AllProvidersFailed) as info:
        gw.send(GE, "Hi")
    assert len(a.calls) + len(b.calls) + len(c.calls) == 2
    assert "deadline" in str(info.value.errors[-1])


def test_bad_configuration() -> None:
    with pytest.raises(smsgate.ConfigurationError):
        Gateway([])
    with pytest.raises(smsgate.ConfigurationError):
        Gateway([object()])  # type: ignore[list-item]
    with pytest.raises(smsgate.ConfigurationError):
        Gateway([MemoryProvider()], deadline=0)
    with pytest.raises(smsgate.ConfigurationError):
        RetryPolicy(attempts=0)


def test_gateway_is_a_provider_and_looks_up_status() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(smsgate.ConnectError), times=3)
    gw, _ = gateway(a, b)
    assert isinstance(gw, smsgate.SmsProvider)
    result = gw.send(GE, "Hi")
    assert gw.status(result.message_id or "").status is Status.DELIVERED
    assert gw.balance().provider == "memory"
    assert "memory" in repr(gw)
    with gw:
        pass
    assert a.closed and b.closed


# -- send_many -------------------------------------------------------------------------------
def test_send_many_keeps_order_and_never_stops() -> None:
    sms = MemoryProvider()
    sms.script(None, err(smsgate.ProviderUnavailable), None)
    seen: list[tuple[int, int]] = []
    messages = [Message(GE, f"hello {i}") for i in range(20)]
    messages.append(Message("+99555512345", "bad number"))
    report = smsgate.send_many(sms, messages, concurrency=4,
                               progress=lambda done, total: seen.append((done, total)))
    assert len(report.results) == 21
    assert report.failed == 2 and report.sent == 19
    assert isinstance(report.results[-1], smsgate.InvalidPhoneNumber)
    ok = [r for r in report.results if isinstance(r, smsgate.SendResult)]
    assert sorted(m.text for m in sms.outbox) == sorted(
        f"hello {i}" for i in range(20) if not isinstance(report.results[i], Exception))
    assert seen[-1] == (21, 21) and len(seen) == 21
    assert all(r.ok for r in ok)


def test_send_many_is_concurrent() -> None:
    # Four sends must be in flight together to pass the barrier; one at a time would time out.
    barrier = threading.Barrier(4, timeout=5)

    def together(outgoing: Outgoing) -> None:
        barrier.wait()

    sms = MemoryProvider()
    sms.script(*[together] * 16)
    report = smsgate.send_many(sms, [Message(GE, str(i)) for i in range(16)], concurrency=4)
    assert report.sent == 16
    assert [r.recipients[0].phone for r in report.results
            if isinstance(r, smsgate.SendResult)] == [GE] * 16


def test_send_many_rejects_bad_arguments() -> None:
    with pytest.raises(smsgate.ConfigurationError):
        smsgate.send_many(MemoryProvider(), [], concurrency=0)
    with pytest.raises(smsgate.ConfigurationError):
        smsgate.send_many(MemoryProvider(), [("+995555123456", "x")])  # type: ignore[list-item]

