"""The aiohttp transport, proven against real sockets on 127.0.0.1 (as test_http_sockets.py
proves the requests one): the same classification of every failure by whether the message
may have been sent, the same placement of credentials byte for byte, the same size cap, no
redirect followed, and no canary key in logs, errors, reprs or frames."""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest

import smsgate
from smsgate import ConfigurationError, ConnectError, DeliveryUnknown, InvalidResponse
from smsgate._http import RequestsTransport
from smsgate._secrets import Secret
from smsgate._wire import AuthParam, HttpRequest, HttpResponse
from smsgate.aio import AiohttpTransport, AsyncGateway

from .servers import (
    closed_port,
    endless,
    hang,
    http_reply,
    read_request,
    reset,
    respond,
    serve,
    trickle,
)
from .test_transport_secrets import frame_leaks
from .transport_helpers import CANARIES, KEYS, NAMES, NUMBERS, build

try:  # the fault matrix's module (moved under smsgate.sandbox by the registry work)
    from smsgate.sandbox import reliability as matrix
except ImportError:
    from smsgate import reliability as matrix  # type: ignore[no-redef]

SEND = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                   sends_message=True)
READ = HttpRequest(method="GET", path="/balance", operation="balance")


def perform(url: str, request: HttpRequest = SEND,
            timeout: float | tuple[float, float] = (2.0, 0.5),
            deadline: float | None = None) -> HttpResponse:
    """One exchange through a fresh transport on a fresh loop (closed afterwards)."""

    async def go() -> HttpResponse:
        transport = AiohttpTransport(provider="toy", base_url=url, timeout=timeout)
        try:
            return await transport.perform(request, deadline=deadline)
        finally:
            await transport.aclose()

    return asyncio.run(go())


def failure(url: str, request: HttpRequest = SEND, **options: Any) -> BaseException:
    try:
        perform(url, request, **options)
    except BaseException as exc:
        return exc
    raise AssertionError("no exception was raised")


# -- classification --------------------------------------------------------------------------
def test_connection_refused_is_connect_error_never_sent() -> None:
    error = failure(f"http://127.0.0.1:{closed_port()}")
    assert isinstance(error, ConnectError)
    assert error.may_have_sent is False and error.retryable is True
    assert "could not connect" in str(error)


def test_dns_failure_is_connect_error() -> None:
    error = failure("http://smsgate-test.invalid")  # never resolves (RFC 6761)
    assert isinstance(error, ConnectError) and error.may_have_sent is False


def test_connect_timeout_is_connect_error() -> None:
    with matrix.blackhole() as url:
        started = time.monotonic()
        error = failure(url, timeout=(0.3, 2.0))
        assert time.monotonic() - started < 5
    assert isinstance(error, ConnectError) and error.may_have_sent is False


def test_read_timeout_after_the_request_was_written_is_delivery_unknown() -> None:
    with serve(hang(3)) as (url, received):
        started = time.monotonic()
        error = failure(url, timeout=(2.0, 0.3))
        assert time.monotonic() - started < 2.5
    assert received, "the server must have read the request"
    assert isinstance(error, DeliveryUnknown)
    assert error.may_have_sent is True and error.retryable is False
    assert "read timeout" in str(error)


def test_a_lookup_that_times_out_says_nothing_was_sent() -> None:
    with serve(hang(3)) as (url, _):
        error = failure(url, READ, timeout=(2.0, 0.3))
    assert isinstance(error, DeliveryUnknown)
    assert error.may_have_sent is False and error.retryable is True


@pytest.mark.parametrize("handler", [reset, lambda conn: conn.close()],
                         ids=["reset", "clean close"])
def test_disconnect_after_the_request_is_delivery_unknown(
    handler: Callable[[socket.socket], None],
) -> None:
    with serve(handler) as (url, received):
        error = failure(url)
    assert received
    assert isinstance(error, DeliveryUnknown) and error.may_have_sent is True


def test_a_trickling_reply_is_cut_at_the_exchange_bound() -> None:
    with serve(trickle(seconds=5)) as (url, _):
        started = time.monotonic()
        error = failure(url, timeout=(0.3, 0.3))
        took = time.monotonic() - started
    assert isinstance(error, DeliveryUnknown) and error.may_have_sent is True
    assert took < 3, took  # bounded by connect + read (0.6 s), not by the 5 s trickle


def test_a_deadline_shrinks_the_exchange() -> None:
    with serve(hang(3)) as (url, _):
        started = time.monotonic()
        error = failure(url, timeout=(5.0, 5.0), deadline=time.monotonic() + 0.3)
        took = time.monotonic() - started
    assert isinstance(error, DeliveryUnknown)
    assert took < 2.5, took


def test_an_interim_reply_first_is_delivery_unknown() -> None:
    def interim(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\n\r\n")
        time.sleep(0.2)
        conn.sendall(http_reply(200, b"{}", close=True))
        conn.close()

    with serve(interim) as (url, _):
        outcome: Any
        try:
            outcome = perform(url)
        except DeliveryUnknown as exc:
            outcome = exc
    # Either aiohttp reads past the interim reply to the final one, or the transport says
    # the outcome is unknown; never a ConnectError ("nothing sent").
    assert isinstance(outcome, (HttpResponse, DeliveryUnknown))
    if isinstance(outcome, HttpResponse):
        assert outcome.status == 200


def test_an_oversize_reply_is_refused_while_reading() -> None:
    with serve(endless(limit=64 * 1024 * 1024)) as (url, _):
        error = failure(url, timeout=(1.0, 3.0))
    assert isinstance(error, InvalidResponse) and error.may_have_sent is True


def test_a_declared_oversize_length_is_refused_before_reading() -> None:
    huge = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n"

    def handler(conn: socket.socket) -> None:
        conn.sendall(huge)
        time.sleep(1)
        conn.close()

    with serve(handler) as (url, _):
        error = failure(url)
    assert isinstance(error, InvalidResponse)


def test_a_gzip_bomb_never_inflates_past_the_cap() -> None:
    bomb = gzip.compress(b"\0" * (32 * 1024 * 1024))  # 32 MiB of zeros in ~32 kB
    with serve(respond(200, bomb, headers={"Content-Encoding": "gzip"})) as (url, _):
        error = failure(url)
    assert isinstance(error, InvalidResponse)


def test_a_gzip_reply_is_decoded() -> None:
    body = gzip.compress(b'{"ok": true}')
    with serve(respond(200, body, headers={"Content-Encoding": "gzip"})) as (url, received):
        reply = perform(url)
    assert reply.content == b'{"ok": true}'
    assert b"accept-encoding: gzip, deflate" in received[0].lower()


def test_redirects_are_never_followed() -> None:
    with serve(respond(200, b"{}")) as (elsewhere, followed), serve(
        respond(302, b"", headers={"Location": elsewhere + "/x"})
    ) as (url, _):
        reply = perform(url)
        time.sleep(0.1)
    assert reply.status == 302
    assert followed == []


def test_nothing_is_retried_by_the_library() -> None:
    with serve(reset) as (url, received):
        error = failure(url)
    assert isinstance(error, DeliveryUnknown)
    assert len(received) == 1  # one POST, never repeated


def test_a_connection_serves_one_loop() -> None:
    transport = AiohttpTransport(provider="toy", base_url="http://127.0.0.1:9", timeout=1.0)

    async def first() -> None:
        transport._open()

    asyncio.run(first())
    try:
        with pytest.raises(ConfigurationError, match="event loop"):
            asyncio.run(first())
    finally:
        asyncio.run(transport.aclose())  # it holds no connection: closing is bookkeeping


# -- credentials are placed as the requests transport places them ----------------------------
def _auth(location: Any, name: str = "key") -> tuple[AuthParam, ...]:
    return (AuthParam(location=location, name=name, value=Secret("PLACE-ME-3b9f"),
                      prefix="Bearer " if location == "header" else ""),)


PLACEMENTS = {
    "header": HttpRequest(method="POST", path="/a", operation="send", json={"x": 1},
                          auth=_auth("header", "Authorization")),
    "query on POST": HttpRequest(method="POST", path="/a?v=1", operation="send",
                                 json={"x": "é ü"}, auth=_auth("query"),
                                 params={"to": "+995 5", "t": "a&b"}),
    "json body": HttpRequest(method="POST", path="/a", operation="send",
                             json={"to": ["1", "2"], "n": None}, auth=_auth("body")),
    "form body": HttpRequest(method="POST", path="/a", operation="send",
                             form={"text": "hi there+ü", "to": "1"}, auth=_auth("body")),
    "param on GET": HttpRequest(method="GET", path="/b", operation="status",
                                params={"id": "7 8"}, auth=_auth("param")),
    "param on POST form": HttpRequest(method="POST", path="/a", operation="send",
                                      form={"x": "1"}, auth=_auth("param")),
    "body on an empty POST": HttpRequest(method="POST", path="/a", operation="send",
                                         auth=_auth("body")),
}


def _wire(raw: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    line, *lines = head.split(b"\r\n")
    headers = {}
    for item in lines:
        name, _, value = item.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return line, headers, body


@pytest.mark.parametrize("case", PLACEMENTS)
def test_credentials_go_exactly_where_the_requests_transport_puts_them(case: str) -> None:
    request = PLACEMENTS[case]
    with serve(respond(200, b"{}")) as (url, received):
        RequestsTransport(provider="toy", base_url=url, timeout=2.0).perform(request)
        perform(url, request, timeout=2.0)
    assert len(received) == 2
    (sync_line, sync_headers, sync_body), (async_line, async_headers, async_body) = (
        _wire(r) for r in received)
    assert async_line == sync_line
    assert async_body == sync_body
    for header in (b"authorization", b"content-type", b"content-length", b"accept"):
        assert async_headers.get(header) == sync_headers.get(header), header
    assert b"PLACE-ME-3b9f" in received[1]


# -- secrets -------------------------------------------------------------------------------
def _echoing(conn: socket.socket) -> None:
    read_request(conn)
    body = ("invalid key " + " / ".join(CANARIES)).encode()
    conn.sendall(http_reply(401, body, close=True))
    conn.close()


FAULTS: dict[str, tuple[Callable[[socket.socket], None] | None, tuple[float, float]]] = {
    "refused": (None, (1.0, 1.0)),
    "read timeout": (hang(3), (1.0, 0.3)),
    "reset": (reset, (1.0, 1.0)),
    "time bound": (trickle(seconds=3), (0.3, 0.3)),
    "oversize": (endless(limit=64 * 1024 * 1024), (1.0, 3.0)),
    "echoed key": (_echoing, (1.0, 1.0)),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", NAMES)
def test_no_canary_in_logs_errors_reprs_or_frames(
    name: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    handler, timeout = FAULTS[fault]
    caplog.set_level(logging.DEBUG)  # every logger: smsgate's, aiohttp's, asyncio's

    async def send(url: str) -> BaseException:
        provider = build(name, url, timeout)
        async with AsyncGateway([provider], retry=None) as gateway:
            assert repr(gateway._owned[0]).count("CANARY") == 0
            try:
                await gateway.send(NUMBERS[name], "Hello")
            except BaseException as exc:
                return exc
        raise AssertionError("the send should have failed")

    if handler is None:
        error = asyncio.run(send(f"http://127.0.0.1:{closed_port()}"))
    else:
        with serve(handler, read_first=fault != "echoed key") as (url, _):
            error = asyncio.run(send(url))
    assert isinstance(error, smsgate.SmsGateError), repr(error)
    shown = "\n".join([str(error), repr(error), repr(error.args),
                       "".join(traceback.format_exception(error)), caplog.text])
    for canary in CANARIES:
        assert canary not in shown
    assert frame_leaks(error) == []


def test_a_cancelled_exchange_carries_no_key_in_its_frames() -> None:
    arrived = threading.Event()

    def hold(conn: socket.socket) -> None:
        arrived.set()  # the request was read: its bytes have left
        hang(3)(conn)

    with serve(hold) as (url, _):
        provider = build("smsoffice.ge", url, (1.0, 2.0))  # its key goes in the query string

        async def go() -> BaseException:
            async with AsyncGateway([provider], retry=None) as gateway:
                task = asyncio.ensure_future(gateway.send(NUMBERS["smsoffice.ge"], "Hi"))
                while not arrived.is_set():
                    await asyncio.sleep(0.02)
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError as exc:
                    return exc
            raise AssertionError("not cancelled")

        error = asyncio.run(go())
    assert isinstance(error, asyncio.CancelledError)
    assert frame_leaks(error) == []
    assert KEYS["smsoffice.ge"] not in "".join(traceback.format_exception(error))


def test_the_environments_proxy_is_used_as_by_the_requests_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serve(respond(200, b"{}")) as (proxy, received):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        target = "http://smsgate-proxied.invalid"  # resolvable by the proxy only
        RequestsTransport(provider="toy", base_url=target, timeout=2.0).perform(READ)
        reply = perform(target, READ, timeout=2.0)
        monkeypatch.setenv("NO_PROXY", "smsgate-proxied.invalid")
        error = failure(target, READ, timeout=2.0)  # not proxied: the name does not resolve
    assert reply.status == 200
    lines = [raw.split(b"\r\n", 1)[0] for raw in received]
    assert lines == [b"GET http://smsgate-proxied.invalid/balance HTTP/1.1"] * 2
    assert isinstance(error, ConnectError)


def test_a_pooled_connection_the_provider_closed_is_not_reused() -> None:
    connections = []

    def one_and_close(conn: socket.socket) -> None:
        connections.append(conn)
        read_request(conn)
        conn.sendall(http_reply(200, b"{}"))  # keep-alive framing, then FIN
        conn.close()

    async def go(url: str) -> list[int]:
        transport = AiohttpTransport(provider="toy", base_url=url, timeout=(2.0, 2.0))
        try:
            statuses = [(await transport.perform(SEND)).status]
            time.sleep(0.3)  # the loop is busy: the FIN arrives, unread
            statuses.append((await transport.perform(SEND)).status)
            return statuses
        finally:
            await transport.aclose()

    with serve(one_and_close, read_first=False) as (url, _):
        statuses = asyncio.run(go(url))
    # The second request went out on a new connection and was answered, instead of being
    # written into the closed one and reported as an unknown outcome.
    assert statuses == [200, 200]
    assert len(connections) == 2
