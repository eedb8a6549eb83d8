"""The sync send_many's event-loop path (issue 22): taken when the aio extra is there and
every provider uses smsgate's own transport, never otherwise; and a batch with faults has
the same outcomes, message for message, on the loop as on threads."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

import pytest
import requests

import smsgate
from smsgate import Gateway, Message, SendResult
from smsgate._http import RequestsTransport
from smsgate.aio import _sync_bulk
from smsgate.stores import MemoryClaimStore

from .servers import http_reply, read_request, serve

OK = b'{"success":true,"messageId":%d,"balance":100,"segment":1}'


def _number(request: bytes) -> str:
    body = json.loads(request.partition(b"\r\n\r\n")[2])
    return str(body["to"])


def faulty(conn: socket.socket) -> None:
    """A GOSMS.GE-like server whose answer depends on the number's last digit: 0-4
    accepted, 5 a 503, 6 a 400 with an error code, 7 the connection reset after the request
    was read, 8 no answer (a read timeout); keep-alive otherwise."""
    conn.settimeout(5)
    while True:
        request = read_request(conn)
        if not request:
            return
        digit = int(_number(request)[-1])
        if digit <= 4:
            conn.sendall(http_reply(200, OK % digit))
        elif digit == 5:
            conn.sendall(http_reply(503, b'{"error":"busy"}'))
        elif digit == 6:
            conn.sendall(http_reply(400, b'{"errorCode":101,"message":"bad"}'))
        elif digit == 7:
            import struct

            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        else:
            time.sleep(1.5)
            conn.close()
            return


def numbers(count: int) -> list[str]:
    return [f"+99555510{index:04d}" for index in range(count)]


def _outcome(result: SendResult | smsgate.SmsGateError) -> tuple[Any, ...]:
    if isinstance(result, SendResult):
        return ("sent", result.ok, tuple(r.status for r in result.recipients))
    inner = tuple((type(e).__name__, e.may_have_sent) for e in getattr(result, "errors", ()))
    return (type(result).__name__, result.may_have_sent, result.retryable, inner)


@pytest.fixture
def no_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The requests transport must not be used: the batch goes over the loop's transport."""

    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the requests transport was used")

    monkeypatch.setattr(RequestsTransport, "perform", refuse)


@pytest.mark.usefixtures("no_requests")
def test_a_provider_batch_goes_over_the_loop() -> None:
    seen: list[tuple[int, int, str]] = []
    caller = threading.current_thread().name

    def progress(done: int, total: int) -> None:
        seen.append((done, total, threading.current_thread().name))

    with serve(faulty, read_first=False) as (url, _):
        provider = smsgate.GoSmsGe("key-1234567890", sender="Brand", base_url=url)
        batch = [Message(n, f"hello {i}") for i, n in enumerate(numbers(25)) if
                 int(n[-1]) <= 4]
        report = smsgate.send_many(provider, batch, concurrency=4, progress=progress,
                                   keep_raw=False)
    assert report.sent == len(batch)
    assert [r.recipients[0].phone for r in report.results] == [m.to for m in batch]
    assert all(r.raw is None for r in report.results)
    assert [(d, t) for d, t, _ in seen] == [(i, len(batch)) for i in range(1, len(batch) + 1)]
    assert {name for _, _, name in seen} == {"smsgate-loop"} != {caller}


def test_a_caller_session_keeps_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_loop(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the event-loop path was taken")

    monkeypatch.setattr(_sync_bulk, "send_on_private_loop", no_loop)
    with serve(faulty, read_first=False) as (url, _), requests.Session() as session:
        provider = smsgate.GoSmsGe("key-1234567890", sender="Brand", base_url=url,
                                   session=session)
        report = smsgate.send_many(provider, [Message(n, "hi") for n in numbers(4)],
                                   concurrency=4)
    assert report.sent == 4


def test_which_targets_take_the_loop() -> None:
    from smsgate.testing import MockTransport

    own = smsgate.GoSmsGe("key-1234567890", sender="Brand", base_url="http://127.0.0.1:9")
    mocked = smsgate.GoSmsGe("key-1234567890", sender="Brand",
                             transport=MockTransport(lambda request: None))
    assert _sync_bulk.loop_sender(own) == ("provider", own)
    assert _sync_bulk.loop_sender(Gateway([own])) is not None
    assert _sync_bulk.loop_sender(mocked) is None
    assert _sync_bulk.loop_sender(Gateway([own, mocked])) is None
    assert _sync_bulk.loop_sender(Gateway([own], sleep=lambda seconds: None)) is None


@pytest.mark.parametrize("kind", ["provider", "gateway"])
def test_faults_have_the_same_outcomes_on_the_loop_and_on_threads(
    kind: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = [Message(n, f"hello {i}") for i, n in enumerate(numbers(30))]
    reports = {}
    claims = {}
    for path in ("threads", "loop"):
        store = MemoryClaimStore()
        with serve(faulty, read_first=False) as (url, _):
            provider = smsgate.GoSmsGe("key-1234567890", sender="Brand", base_url=url,
                                       timeout=(1.0, 0.5))
            target: Any = provider if kind == "provider" else Gateway(
                [provider], retry=None, breaker=None, claims=store)
            with monkeypatch.context() as patch:
                if path == "threads":
                    patch.setattr(_sync_bulk, "loop_sender", lambda target: None)
                else:
                    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
                        raise AssertionError("the requests transport was used")

                    patch.setattr(RequestsTransport, "perform", refuse)
                keyed = [Message(m.to, m.text, idempotency_key=f"k{i}")
                         for i, m in enumerate(batch)] if kind == "gateway" else batch
                reports[path] = smsgate.send_many(target, keyed, concurrency=6)
            provider.close()
        claims[path] = sorted((c.key, c.state.value) for c in store._claims.values()) \
            if kind == "gateway" else []
    threads = [_outcome(r) for r in reports["threads"].results]
    loop = [_outcome(r) for r in reports["loop"].results]
    assert loop == threads
    kinds = {outcome[0] for outcome in threads} | {
        name for outcome in threads if outcome[0] != "sent" for name, _ in outcome[3]}
    assert "sent" in kinds and "DeliveryUnknown" in kinds and len(kinds) >= 4, kinds
    assert claims["loop"] == claims["threads"]


def test_a_mocked_requests_keeps_the_threads_so_the_mock_sees_every_request() -> None:
    # responses (or requests-mock) replaces requests' sending: on the loop, the requests
    # would go past the mock to the network, so send_many stays on threads.
    import responses

    with responses.RequestsMock() as api:
        api.post("https://api.gosms.ge/api/sendsms",
                 json={"success": True, "messageId": 1, "balance": 10, "segment": 1})
        provider = smsgate.GoSmsGe("key-1234567890", sender="Brand")
        assert _sync_bulk.loop_sender(provider) is None
        report = smsgate.send_many(provider, [Message(n, "hi") for n in numbers(6)],
                                   concurrency=3)
        assert report.sent == 6 and len(api.calls) == 6
    assert _sync_bulk.loop_sender(provider) == ("provider", provider)


def test_a_send_many_from_the_loops_own_thread_runs_on_threads() -> None:
    # A progress callback runs on the loop's thread: a send_many there must not wait for
    # the loop it blocks.
    inner: list[int] = []

    with serve(faulty, read_first=False) as (url, _):
        provider = smsgate.GoSmsGe("key-1234567890", sender="Brand", base_url=url)

        def progress(done: int, total: int) -> None:
            if done == 1:
                report = smsgate.send_many(provider, [Message(n, "inner") for n in numbers(2)],
                                           concurrency=2)
                inner.append(report.sent)

        outer = smsgate.send_many(provider, [Message(n, "outer") for n in numbers(4)],
                                  concurrency=2, progress=progress)
    assert outer.sent == 4 and inner == [2]


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or sys.platform == "win32",
                    reason="a real SIGINT to this process")
def test_ctrl_c_cancels_the_sends_in_flight_and_settles_their_claims() -> None:
    arrived = threading.Semaphore(0)

    def hold(conn: socket.socket) -> None:
        read_request(conn)
        arrived.release()
        time.sleep(5)
        conn.close()

    with serve(hold, read_first=False) as (url, _):
        store = MemoryClaimStore()
        gateway = Gateway([smsgate.GoSmsGe("key-1234567890", sender="Brand", base_url=url,
                                           timeout=(2.0, 10.0))], retry=None, claims=store)

        def interrupt() -> None:
            for _ in range(4):
                arrived.acquire(timeout=5)
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

        threading.Thread(target=interrupt, daemon=True).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            smsgate.send_many(gateway, [Message(n, "hi", idempotency_key=f"k{i}")
                                        for i, n in enumerate(numbers(4))], concurrency=4)
        took = time.monotonic() - started
    assert took < 4, took  # not the 5 s the server holds each request
    # The requests had left: their claims say UNKNOWN, never NOT_SENT or SENDING.
    assert sorted(c.state.value for c in store._claims.values()) == ["unknown"] * 4
