"""send_many keeps a bounded number of sends pending and can drop raw replies (issue 22)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any

import pytest

import smsgate
from smsgate import Message, RecipientResult, SendResult, Status

GE = "+995555123456"


class Counting:
    """A provider that records how many sends are in flight at once, and on which threads."""

    name = "counting"

    def __init__(self, pause: float = 0.002) -> None:
        self.pause = pause
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.threads: set[int] = set()
        self.sent: list[str] = []

    def send(self, to: str, text: str, **options: Any) -> SendResult:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.threads.add(threading.get_ident())
        time.sleep(self.pause)
        with self.lock:
            self.in_flight -= 1
            self.sent.append(text)
        return SendResult(
            provider=self.name, message_id=f"id-{text}",
            recipients=[RecipientResult(phone=to, status=Status.QUEUED, message_id=f"id-{text}")],
            segments=1, raw={"reply": text, "large": "x" * 100},
        )


def test_no_more_than_concurrency_sends_or_tasks_are_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submitted: list[object] = []
    original = concurrent.futures.ThreadPoolExecutor.submit

    def counting_submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        submitted.append(fn)
        return original(self, fn, *args, **kwargs)

    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", counting_submit)
    provider = Counting()
    messages = [Message(GE, str(i)) for i in range(200)]
    report = smsgate.send_many(provider, messages, concurrency=4)
    assert report.sent == 200
    assert [r.message_id for r in report.results] == [f"id-{i}" for i in range(200)]  # type: ignore[union-attr]
    assert sorted(provider.sent, key=int) == [str(i) for i in range(200)]
    assert provider.most <= 4
    assert len(provider.threads) <= 4
    # One task per worker, not one per message: what is pending stays bounded by concurrency.
    assert len(submitted) == 4


def test_fewer_messages_than_workers_start_only_what_is_needed() -> None:
    provider = Counting()
    report = smsgate.send_many(provider, [Message(GE, "a"), Message(GE, "b")], concurrency=64)
    assert report.sent == 2
    assert len(provider.threads) <= 2
    assert smsgate.send_many(provider, [], concurrency=8).results == ()


def test_keep_raw_false_drops_only_the_raw_reply() -> None:
    messages = [Message(GE, str(i)) for i in range(20)]
    kept = smsgate.send_many(Counting(0), messages, concurrency=3)
    dropped = smsgate.send_many(Counting(0), messages, concurrency=3, keep_raw=False)
    assert all(isinstance(r, SendResult) and r.raw is not None for r in kept.results)
    assert all(isinstance(r, SendResult) and r.raw is None for r in dropped.results)
    # Everything else is the same (raw is left out of equality, so compare it field by field).
    assert list(dropped.results) == list(kept.results)
    assert [r.recipients for r in dropped.results] == [  # type: ignore[union-attr]
        r.recipients for r in kept.results]  # type: ignore[union-attr]


def test_keep_raw_must_be_a_bool() -> None:
    with pytest.raises(smsgate.ConfigurationError):
        smsgate.send_many(Counting(), [Message(GE, "x")], keep_raw="no")  # type: ignore[arg-type]


def test_errors_are_still_recorded_per_message_with_bounded_workers() -> None:
    class Flaky(Counting):
        def send(self, to: str, text: str, **options: Any) -> SendResult:
            if int(text) % 3 == 0:
                raise smsgate.ProviderUnavailable("down", provider=self.name)
            if int(text) % 5 == 0:
                raise RuntimeError("a bug")
            return super().send(to, text, **options)

    report = smsgate.send_many(Flaky(0), [Message(GE, str(i)) for i in range(30)],
                               concurrency=4, keep_raw=False)
    assert len(report.results) == 30
    for i, result in enumerate(report.results):
        if i % 3 == 0:
            assert isinstance(result, smsgate.ProviderUnavailable)
        elif i % 5 == 0:
            assert isinstance(result, smsgate.ProviderError) and result.may_have_sent is True
        else:
            assert isinstance(result, SendResult) and result.ok and result.raw is None
