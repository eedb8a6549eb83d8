"""The async transport's direct path (smsgate's own HTTP/1.1 connections, no proxy), proven
against real sockets on 127.0.0.1: keep-alive reuse, framing (chunked, delimited by the
close), what arrives on an idle connection, the connection limit, TLS, cancellation, and
the same classification as the aiohttp session path that proxies use."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smsgate import ConnectError, DeliveryUnknown, InvalidResponse
from smsgate._wire import HttpRequest, HttpResponse
from smsgate.aio import AiohttpTransport
from smsgate.aio import _aiohttp as aio_module

from .servers import (
    closed_port,
    endless,
    hang,
    http_reply,
    make_certificate,
    read_request,
    reset,
    respond,
    script,
    serve,
    trickle,
)

SEND = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                   sends_message=True)


def run(url: str, *requests: HttpRequest, timeout: Any = (2.0, 2.0),
        between: Callable[[], Any] | None = None, **options: Any) -> list[Any]:
    """Each request through one transport on one loop: its reply or its exception."""

    async def go() -> list[Any]:
        transport = AiohttpTransport(provider="toy", base_url=url, timeout=timeout, **options)
        outcomes: list[Any] = []
        try:
            for number, request in enumerate(requests):
                if number and between is not None:
                    waited = between()
                    if asyncio.iscoroutine(waited):
                        await waited
                try:
                    outcomes.append(await transport.perform(request))
                except Exception as exc:
                    outcomes.append(exc)
            return outcomes
        finally:
            await transport.aclose()

    return asyncio.run(go())


def test_the_direct_path_is_taken_without_a_proxy() -> None:
    transport = AiohttpTransport(provider="toy", base_url="http://127.0.0.1:9", timeout=1.0)

    async def go() -> None:
        transport._open()
        assert transport._pool is not None and transport._client is None
        await transport.aclose()

    asyncio.run(go())


def test_two_requests_share_one_kept_alive_connection() -> None:
    received: list[bytes] = []
    accepted: list[int] = []
    handler = script([http_reply(200, b'{"n": 1}'), http_reply(200, b'{"n": 2}')], received)

    def counting(conn: socket.socket) -> None:
        accepted.append(1)
        handler(conn)

    with serve(counting, read_first=False) as (url, _):
        first, second = run(url, SEND, SEND)
    assert (first.content, second.content) == (b'{"n": 1}', b'{"n": 2}')
    assert len(accepted) == 1 and len(received) == 2


def test_a_chunked_reply_is_read() -> None:
    raw = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n4\r\n: 1}\r\n0\r\n\r\n")
    with serve(lambda conn: (conn.sendall(raw), time.sleep(0.3))) as (url, _):
        (reply,) = run(url, SEND)
    assert isinstance(reply, HttpResponse) and reply.content == b'{"a": 1}'


def test_a_reply_delimited_by_the_close_is_read() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nall of it"

    def handler(conn: socket.socket) -> None:
        conn.sendall(raw)
        conn.close()

    with serve(handler) as (url, _):
        (reply,) = run(url, SEND)
    assert isinstance(reply, HttpResponse) and reply.content == b"all of it"


def test_a_reply_cut_before_its_length_is_delivery_unknown() -> None:
    def handler(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"a\":")
        conn.close()

    with serve(handler) as (url, _):
        (error,) = run(url, SEND)
    assert isinstance(error, DeliveryUnknown) and error.may_have_sent is True
    assert "cut off" in str(error)


def test_a_malformed_reply_is_delivery_unknown() -> None:
    with serve(lambda conn: (conn.sendall(b"NOT HTTP AT ALL\r\n\r\n"), conn.close())) as (
            url, _):
        (error,) = run(url, SEND)
    assert isinstance(error, DeliveryUnknown) and error.may_have_sent is True


@pytest.mark.parametrize("loop_runs", [True, False], ids=["loop ran", "loop busy"])
def test_what_arrives_on_an_idle_connection_never_answers_the_next_request(
    loop_runs: bool,
) -> None:
    connections: list[int] = []

    def handler(conn: socket.socket) -> None:
        connections.append(1)
        number = len(connections)
        read_request(conn)
        conn.sendall(http_reply(200, b'{"n": %d}' % number))
        time.sleep(0.05)
        conn.sendall(http_reply(200, b'{"stray": true}'))  # no request asked for it
        time.sleep(1)
        conn.close()

    def pause() -> Any:
        if loop_runs:
            return asyncio.sleep(0.3)  # the loop reads the stray reply while idle
        time.sleep(0.3)  # the loop is busy: the stray reply waits in the kernel
        return None

    with serve(handler, read_first=False) as (url, _):
        first, second = run(url, SEND, SEND, between=pause)
    assert first.content == b'{"n": 1}'
    assert second.content == b'{"n": 2}'  # a new connection, its own reply
    assert len(connections) == 2


def test_an_idle_connection_past_the_keepalive_is_not_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from smsgate.aio import _h1

    monkeypatch.setattr(_h1, "KEEPALIVE", 0.1)
    received: list[bytes] = []
    accepted: list[int] = []
    handler = script([http_reply(200, b"{}"), http_reply(200, b"{}")], received)

    def counting(conn: socket.socket) -> None:
        accepted.append(1)
        handler(conn)

    with serve(counting, read_first=False) as (url, _):
        replies = run(url, SEND, SEND, between=lambda: asyncio.sleep(0.3))
    assert [r.status for r in replies] == [200, 200]
    assert len(accepted) == 2


def test_a_header_that_would_split_the_head_is_refused_before_sending() -> None:
    smuggled = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                           headers={"X-Note": "a\r\nX-Injected: 1"}, sends_message=True)
    bad_name = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                           headers={"X Note": "a"}, sends_message=True)
    with serve(respond(200, b"{}")) as (url, received):
        errors = run(url, smuggled, bad_name)
        time.sleep(0.1)
    for error in errors:
        assert isinstance(error, ConnectError) and error.may_have_sent is False
        assert error.retryable is False
    assert received == []


def test_a_path_with_spaces_or_non_ascii_is_percent_encoded() -> None:
    odd = HttpRequest(method="GET", path="/a b/é", operation="balance")
    with serve(respond(200, b"{}")) as (url, received):
        (reply,) = run(url, odd)
    assert reply.status == 200
    assert received[0].split(b"\r\n", 1)[0] == b"GET /a%20b/%C3%A9 HTTP/1.1"


def test_the_connection_limit_waits_only_within_the_connect_timeout() -> None:
    arrived = threading.Event()

    def hold(conn: socket.socket) -> None:
        arrived.set()
        hang(3)(conn)

    async def go(url: str) -> tuple[BaseException, float]:
        transport = AiohttpTransport(provider="toy", base_url=url, timeout=(0.3, 5.0),
                                     max_connections=1)
        try:
            first = asyncio.ensure_future(transport.perform(SEND))
            while not arrived.is_set():
                await asyncio.sleep(0.02)
            started = time.monotonic()
            try:
                await transport.perform(SEND)
            except ConnectError as exc:
                error: BaseException = exc
            else:
                raise AssertionError("the second request should have waited and given up")
            took = time.monotonic() - started
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            return error, took
        finally:
            await transport.aclose()

    with serve(hold) as (url, received):
        error, took = asyncio.run(go(url))
    assert isinstance(error, ConnectError) and error.may_have_sent is False
    assert took < 3, took
    assert len(received) == 1  # the second request never left


def test_a_cancelled_exchange_leaves_no_reply_for_the_next_request() -> None:
    arrived = threading.Event()
    replies = iter([b'{"n": 1}', b'{"n": 2}'])

    def slow_then_fast(conn: socket.socket) -> None:
        while True:
            if not read_request(conn):
                return
            body = next(replies, b"{}")
            if body == b'{"n": 1}':
                arrived.set()
                time.sleep(0.5)  # answered after the client gave up on it
            conn.sendall(http_reply(200, body))

    async def go(url: str) -> bytes:
        transport = AiohttpTransport(provider="toy", base_url=url, timeout=(2.0, 2.0))
        try:
            task = asyncio.ensure_future(transport.perform(SEND))
            while not arrived.is_set():
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return (await transport.perform(SEND)).content
        finally:
            await transport.aclose()

    with serve(slow_then_fast, read_first=False) as (url, _):
        content = asyncio.run(go(url))
    assert content == b'{"n": 2}'


# -- TLS -------------------------------------------------------------------------------------
@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Callable[[Any], Any]]:
    cert, key = make_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))

    def wrap(handler: Any) -> Any:
        def tls_handler(conn: socket.socket) -> None:
            try:
                wrapped = context.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused the certificate
            try:
                handler(wrapped)
            finally:
                wrapped.close()

        return tls_handler

    return cert, wrap


def test_https_with_a_trusted_certificate(
    tls: tuple[Path, Callable[[Any], Any]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, wrap = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # OpenSSL's default store: this CA
    received: list[bytes] = []
    handler = wrap(script([http_reply(200, b'{"n": 1}'), http_reply(200, b'{"n": 2}')],
                          received))
    with serve(handler, read_first=False) as (url, _):
        first, second = run(url.replace("http://", "https://"), SEND, SEND)
    assert (first.content, second.content) == (b'{"n": 1}', b'{"n": 2}')


def test_https_with_an_untrusted_certificate_is_a_final_connect_error(
    tls: tuple[Path, Callable[[Any], Any]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, wrap = tls
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with serve(wrap(respond(200, b"{}")), read_first=False) as (url, _):
        (error,) = run(url.replace("http://", "https://"), SEND)
    assert isinstance(error, ConnectError)
    assert error.may_have_sent is False and error.retryable is False
    assert "TLS" in str(error)


# -- the same classification on both paths ---------------------------------------------------
def _interim(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 103 Early Hints\r\n\r\n")
    time.sleep(0.2)
    conn.sendall(http_reply(200, b"{}", close=True))
    conn.close()


FAULTS: dict[str, tuple[Any, Any]] = {
    "refused": (None, (1.0, 1.0)),
    "read timeout": (hang(3), (2.0, 0.3)),
    "reset": (reset, (1.0, 1.0)),
    "clean close": (lambda conn: conn.close(), (1.0, 1.0)),
    "time bound": (trickle(seconds=3), (0.3, 0.3)),
    "oversize": (endless(limit=64 * 1024 * 1024), (1.0, 3.0)),
    "declared oversize": (lambda conn: (conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n"), time.sleep(1)), (1.0, 1.0)),
    "503": (respond(503, b'{"error": "busy"}'), (1.0, 1.0)),
    "redirect": (respond(302, b"", headers={"Location": "http://127.0.0.1:9/x"}), (1.0, 1.0)),
}


def _outcome(thing: Any) -> tuple[Any, ...]:
    if isinstance(thing, HttpResponse):
        return ("reply", thing.status, thing.content)
    return (type(thing).__name__, getattr(thing, "may_have_sent", None),
            getattr(thing, "retryable", None))


@pytest.mark.parametrize("fault", FAULTS)
def test_the_direct_and_the_session_path_classify_alike(
    fault: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, timeout = FAULTS[fault]
    outcomes = []
    for direct in (True, False):
        if not direct:
            monkeypatch.setattr(aio_module, "_h1", None)  # as without httptools
        if handler is None:
            (outcome,) = run(f"http://127.0.0.1:{closed_port()}", SEND, timeout=timeout)
        else:
            with serve(handler) as (url, _):
                (outcome,) = run(url, SEND, timeout=timeout)
        outcomes.append(_outcome(outcome))
    assert outcomes[0] == outcomes[1], outcomes
    if fault in ("oversize", "declared oversize"):
        assert outcomes[0][0] == InvalidResponse.__name__


def test_an_interim_reply_is_delivery_unknown_on_the_direct_path() -> None:
    with serve(_interim) as (url, _):
        (outcome,) = run(url, SEND)
    assert isinstance(outcome, DeliveryUnknown) and outcome.may_have_sent is True
    assert "interim" in str(outcome)


def test_an_endless_reply_head_is_refused_not_buffered() -> None:
    def handler(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Long: ")
        for _ in range(40):
            conn.sendall(b"a" * 8192)
            time.sleep(0.01)
        time.sleep(1)
        conn.close()

    with serve(handler) as (url, _):
        (error,) = run(url, SEND, timeout=(2.0, 2.0))
    assert isinstance(error, DeliveryUnknown) and error.may_have_sent is True
    assert "could not be read (a reply head over 64 KiB)" in str(error)


def test_a_large_reply_in_one_piece_is_read() -> None:
    body = b'{"items": "' + b"x" * 200_000 + b'"}'
    with serve(respond(200, body)) as (url, _):
        (reply,) = run(url, SEND)
    assert isinstance(reply, HttpResponse) and reply.content == body
