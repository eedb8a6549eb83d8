"""Breaker and reports under exceptions that are not smsgate's (issue 15, items 4 and 5).

- A probe that raises anything (a bug's ``RuntimeError``, a custom provider's ``TypeError``,
  even ``KeyboardInterrupt``) frees the half-open probe slot: the breaker never wedges.
- A send refused before any request (a ``ValidationError``) leaves the breaker as it was.
- No raw exception discards results already obtained: ``send_many`` records every exception
  per message, and a mixed-country gateway send reports a later group's raw failure per
  recipient, as "may have been sent" unless no provider was even called.
"""

from __future__ import annotations

from typing import Any

import pytest

import smsgate
from smsgate import BreakerPolicy, Gateway, Message, RetryPolicy, Status
from smsgate.providers._base import Outgoing
from smsgate.testing import MemoryProvider

GE = "+995555123456"
RO = "+40712345678"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def raising(exc: BaseException) -> Any:
    def outcome(outgoing: Outgoing) -> None:
        raise exc

    return outcome


def opened(provider: MemoryProvider, clock: Clock, **kwargs: Any) -> Gateway:
    """A gateway whose breaker for ``provider`` has just turned half-open."""
    gateway = Gateway([provider], breaker=BreakerPolicy(failure_threshold=1, reset_timeout=10),
                      retry=None, clock=clock, **kwargs)
    provider.fail_next(smsgate.ConnectError("down", provider="memory"))
    with pytest.raises(smsgate.AllProvidersFailed):
        gateway.send(GE, "opens the breaker")
    assert gateway.breaker_state(provider) == "open"
    clock.now += 10
    assert gateway.breaker_state(provider) == "half-open"
    return gateway


# -- item 4: the breaker ----------------------------------------------------------------------
@pytest.mark.parametrize("exc", [RuntimeError("bug"), TypeError("custom provider"),
                                 UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogate"),
                                 KeyboardInterrupt()], ids=lambda e: type(e).__name__)
def test_a_probe_that_raises_anything_frees_the_probe_slot(exc: BaseException) -> None:
    clock = Clock()
    provider = MemoryProvider()
    gateway = opened(provider, clock)
    provider.script(raising(exc))
    with pytest.raises(type(exc)):
        gateway.send(GE, "the probe")
    # Not wedged: the next send is let through as the probe, and its success closes it.
    assert gateway.breaker_state(provider) == "half-open"
    result = gateway.send(GE, "the next probe")
    assert result.ok and gateway.breaker_state(provider) == "closed"
    assert [m.text for m in provider.outbox] == ["the next probe"]


def test_a_probe_refused_by_validation_does_not_close_the_breaker() -> None:
    clock = Clock()
    provider = MemoryProvider()
    gateway = opened(provider, clock)
    provider.script(lambda outgoing: smsgate.MessageTooLong("over this provider's limit"))
    with pytest.raises(smsgate.MessageTooLong):
        gateway.send(GE, "refused before any request")
    # Nothing reached the provider: no evidence that it recovered, so no "closed".
    assert gateway.breaker_state(provider) == "half-open"
    provider.fail_next(smsgate.ConnectError("still down", provider="memory"))
    with pytest.raises(smsgate.AllProvidersFailed):
        gateway.send(GE, "the real probe")  # the slot was freed: this one probes...
    assert gateway.breaker_state(provider) == "open"  # ...and its failure reopens it


def test_validation_errors_do_not_reset_the_failure_count() -> None:
    provider = MemoryProvider()
    gateway = Gateway([provider], breaker=BreakerPolicy(failure_threshold=2), retry=None)
    provider.script(smsgate.ConnectError("down", provider="memory"),
                    lambda outgoing: smsgate.InvalidSender("not this provider's sender"),
                    smsgate.ConnectError("down", provider="memory"))
    for _ in range(3):
        with pytest.raises(smsgate.SmsGateError):
            gateway.send(GE, "Hi")
    # Two system failures in a row, as far as the provider's health goes: open.
    assert gateway.breaker_state(provider) == "open"


def test_release_only_frees_the_probe_it_was_given() -> None:
    from smsgate.gateway import CircuitBreaker

    clock = Clock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=1, reset_timeout=10), clock)
    early = breaker.admit()  # admitted while closed
    assert early == "pass"
    breaker.failure()
    clock.now = 10.0
    probe = breaker.admit()
    assert probe == "probe" and breaker.admit() is None
    breaker.release(early)  # the earlier call ends without news: the probe keeps its slot
    assert breaker.admit() is None
    breaker.release(probe)
    assert breaker.admit() == "probe"


# -- item 5: send_many ------------------------------------------------------------------------
def test_send_many_records_raw_exceptions_per_message_and_keeps_the_rest() -> None:
    sms = MemoryProvider()
    type_error = TypeError("custom provider bug")
    encode_error = UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")
    sms.script(None, raising(type_error), None, raising(encode_error), None)
    report = smsgate.send_many(sms, [Message(GE, f"m{i}") for i in range(5)], concurrency=1)
    assert len(report.results) == 5
    assert report.sent == 3 and report.failed == 2
    assert sorted(m.text for m in sms.outbox) == ["m0", "m2", "m4"]
    errors = dict(report.errors)
    assert sorted(errors) == [1, 3]
    for index, cause in ((1, type_error), (3, encode_error)):
        error = errors[index]
        assert isinstance(error, smsgate.ProviderError)
        assert error.may_have_sent is True  # a bug mid-send: do not resend blindly
        assert error.__cause__ is cause
        assert type(cause).__name__ in str(error)


def test_send_many_survives_a_progress_callback_that_raises() -> None:
    calls: list[int] = []

    def broken(done: int, total: int) -> None:
        calls.append(done)
        raise RuntimeError("progress bar bug")

    sms = MemoryProvider()
    report = smsgate.send_many(sms, [Message(GE, str(i)) for i in range(6)], concurrency=2,
                               progress=broken)
    assert report.sent == 6 and len(sms.outbox) == 6
    assert len(calls) == 1  # not called again after it raised


# -- item 5: route groups ---------------------------------------------------------------------
def test_a_later_route_group_raising_a_raw_exception_keeps_the_earlier_send() -> None:
    ge, ro = MemoryProvider(), MemoryProvider()
    bug = TypeError("custom provider bug")
    ro.script(raising(bug))
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
    result = gateway.send([GE, RO], "Hi")  # GE goes out first; RO's provider then raises
    assert [r.status for r in result.recipients] == [Status.QUEUED, Status.UNKNOWN]
    assert len(ge.outbox) == 1 and not result.ok
    assert "TypeError" in (result.recipients[1].error or "")


def test_a_raw_exception_after_a_refused_group_is_reported_as_may_have_sent() -> None:
    ge, ro = MemoryProvider(), MemoryProvider()
    ge.fail_next(smsgate.InsufficientFunds("no credit", provider="memory"))
    ro.script(raising(RuntimeError("bug after the request")))
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
    with pytest.raises(smsgate.AllProvidersFailed) as info:
        gateway.send([GE, RO], "Hi")
    assert info.value.may_have_sent is True  # RO's provider was called: it may have sent
    assert isinstance(info.value.errors[1].__cause__, RuntimeError)


def test_a_raw_exception_before_any_provider_is_called_says_nothing_was_sent() -> None:
    class Broken(MemoryProvider):
        armed = False

        @property  # type: ignore[override]
        def capabilities(self) -> frozenset[str]:
            if self.armed:
                raise RuntimeError("capabilities bug")
            return frozenset({"bulk"})

    ge, ro = MemoryProvider(), Broken()
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
    ro.armed = True
    result = gateway.send([GE, RO], "Hi")
    # The gateway's own code raised before calling RO's provider: provably not sent.
    assert [r.status for r in result.recipients] == [Status.QUEUED, Status.REJECTED]
    assert ro.calls == []


def test_a_raw_exception_in_the_first_group_surfaces_as_itself() -> None:
    ge, ro = MemoryProvider(), MemoryProvider()
    ge.script(raising(TypeError("bug")))
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
    with pytest.raises(TypeError):  # nothing obtained yet: nothing to lose by raising it
        gateway.send([GE, RO], "Hi")
    assert ro.calls == []


def test_a_raw_exception_on_a_retry_keeps_the_unknown_outcome() -> None:
    provider = MemoryProvider()
    provider.script(smsgate.DeliveryUnknown("timeout", provider="memory", retryable=True),
                    raising(TypeError("bug on the retry")))
    gateway = Gateway([provider], retry=RetryPolicy(attempts=2, backoff=0.0),
                      sleep=lambda s: None)
    with pytest.raises(smsgate.ProviderError) as info:
        gateway.send(GE, "Hi")
    # The first attempt may have sent it: a bare TypeError would hide that.
    assert info.value.may_have_sent is True
    assert isinstance(info.value.__cause__, TypeError)
    assert len(provider.calls) == 2


def test_a_raw_exception_never_fails_over_after_an_unknown_outcome() -> None:
    a, b, c = MemoryProvider(), MemoryProvider(), MemoryProvider()
    a.fail_next(smsgate.DeliveryUnknown("timeout", provider="memory"))
    b.script(raising(RuntimeError("bug")))
    gateway = Gateway([a, b, c], retry=None, failover_on_unknown=True)
    with pytest.raises(smsgate.ProviderError) as info:
        gateway.send(GE, "Hi")
    assert info.value.may_have_sent is True
    assert c.calls == []  # a bug is not an answer: no third send


# -- item 5: chunks of one bulk send ----------------------------------------------------------
CHUNKED = ["+995555000001", "+995555000002", "+995555000003", "+995555000004",
           "+995555000005"]  # the toy adapter sends two numbers per request


def chunked_toy(fail_at: str, exc: Exception) -> tuple[Any, list[int]]:
    import responses

    from .conftest import CANARY, ToyProvider

    calls: list[int] = []

    class Buggy(ToyProvider):
        def build_send(self, outgoing: Outgoing) -> Any:
            calls.append(len(calls) + 1)
            if fail_at == "build" and len(calls) == 2:
                raise exc
            return super().build_send(outgoing)

        def _exchange(self, request: Any, attempts: Any, deadline: Any) -> Any:
            if fail_at == "exchange" and len(calls) == 2:
                raise exc
            return (yield from super()._exchange(request, attempts, deadline))

    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.start()
    mock.post("https://toy.invalid/api/send", json={"ids": ["m1", "m2"]})
    try:
        result = Buggy(CANARY, sender="Shop").send(CHUNKED, "Hi")
    finally:
        mock.stop()
        mock.reset()
    return result, calls


def test_a_raw_exception_in_a_later_chunk_keeps_the_accepted_chunk() -> None:
    result, calls = chunked_toy("exchange", RuntimeError("adapter bug"))
    assert [r.status for r in result.recipients] == [
        Status.QUEUED, Status.QUEUED,  # the first request, accepted: kept
        Status.UNKNOWN, Status.UNKNOWN,  # built and handed to the transport: may have gone
        Status.REJECTED,  # never attempted
    ]
    assert not result.ok and calls == [1, 2]
    assert "RuntimeError" in (result.recipients[2].error or "")


def test_a_raw_exception_building_a_later_request_says_it_was_not_sent() -> None:
    result, calls = chunked_toy("build", KeyError("token factory bug"))
    assert [r.status for r in result.recipients] == [
        Status.QUEUED, Status.QUEUED, Status.REJECTED, Status.REJECTED, Status.REJECTED]
    assert calls == [1, 2]
    assert "nothing was sent" in (result.recipients[2].error or "")


# -- a custom provider returning something that is not a SendResult ----------------------------
class ReturnsGarbage(MemoryProvider):
    """Sends (the outbox has it), then returns what a buggy custom provider might."""

    def send(self, *args: Any, **kwargs: Any) -> Any:
        super().send(*args, **kwargs)
        return {"status": "ok"}


def test_a_non_result_is_not_taken_for_a_refusal_and_never_fails_over() -> None:
    buggy, backup = ReturnsGarbage(), MemoryProvider()
    gateway = Gateway([buggy, backup], retry=None)
    with pytest.raises(smsgate.ProviderError) as info:
        gateway.send(GE, "Hi")
    assert info.value.may_have_sent is True and "dict" in str(info.value.__cause__)
    assert len(buggy.outbox) == 1 and backup.calls == []  # no second send


def test_send_many_records_a_non_result_as_an_error() -> None:
    report = smsgate.send_many(ReturnsGarbage(), [Message(GE, "a"), Message(GE, "b")])
    assert report.sent == 0 and [i for i, _ in report.errors] == [0, 1]
    assert all(e.may_have_sent for _, e in report.errors)  # type: ignore[attr-defined]


def test_a_group_reply_with_fewer_recipients_does_not_lose_the_report() -> None:
    ge, ro = MemoryProvider(), MemoryProvider()
    ro.script(lambda outgoing: smsgate.SendResult(provider="memory", message_id="x",
                                                  recipients=[]))
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
    result = gateway.send([GE, RO], "Hi")
    assert [r.status for r in result.recipients] == [Status.QUEUED, Status.UNKNOWN]
