"""Opening the connection is bounded and, when it fails, says "nothing sent": real sockets.

The promises: a name lookup, a proxy's CONNECT answer and a TLS handshake all end within the
exchange's wall-clock bound (or the Gateway's deadline), and a failure before the request was
written is a ``ConnectError`` with ``may_have_sent=False``, so the Gateway fails over; a timeout
that threads and sockets cannot represent (infinite, NaN, 1e12 s) neither raises nor kills the
shared watchdog.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import smsgate
from smsgate import ConnectError
from smsgate._http import (
    MAX_WAIT,
    HttpRequest,
    RequestsTransport,
    _Exchange,
    _Watchdog,
    exchange_bound,
)
from smsgate.testing import MemoryProvider

from .servers import read_request, respond, serve
from .transport_helpers import NAMES, NUMBERS, build, caught, sending

SEND = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                   sends_message=True)
SLACK = 1.5  # seconds allowed past a bound: generous, it proves "bounded", not "fast"


def silent(conn: socket.socket) -> None:
    """Accept TCP and say nothing (a TLS endpoint whose backend is gone)."""
    time.sleep(4)
    conn.close()


# --- the TLS handshake ----------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_a_silent_tls_handshake_is_a_connect_error_that_sent_nothing(name: str) -> None:
    with serve(silent, read_first=False) as (url, _):
        provider = build(name, url.replace("http://", "https://"), (0.5, 0.5))
        started = time.monotonic()
        error = caught(sending(name, provider))
        elapsed = time.monotonic() - started
    assert isinstance(error, ConnectError), error
    assert error.may_have_sent is False
    assert elapsed < 1.0 + SLACK


def test_the_gateway_fails_over_past_a_silent_tls_endpoint() -> None:
    with serve(silent, read_first=False) as (url, _):
        first = build("gosms.ge", url.replace("http://", "https://"), (0.5, 0.5))
        backup = MemoryProvider(sender="Brand")
        result = smsgate.Gateway([first, backup], retry=None).send(NUMBERS["gosms.ge"], "Hello")
    assert result.provider == "memory"
    assert len(backup.outbox) == 1


# --- a proxy's CONNECT answer ---------------------------------------------------------------

def _trickling_proxy(stop: threading.Event) -> Any:
    def proxy(conn: socket.socket) -> None:
        conn.settimeout(5)
        conn.recv(65536)  # CONNECT host:port HTTP/1.1
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n")
        while not stop.wait(0.2):  # header lines, each far within any read timeout
            try:
                conn.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
        conn.close()

    return proxy


@pytest.fixture
def trickling_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    stop = threading.Event()
    with serve(_trickling_proxy(stop), read_first=False, lifetime=20) as (url, _):
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", url)
        yield url
        stop.set()


def test_a_trickling_proxy_tunnel_is_cut_at_the_exchange_bound(trickling_proxy: str) -> None:
    # The target is never reached: only the proxy answers, one header line at a time.
    t = RequestsTransport(provider="toy", base_url="https://127.0.0.1:9", timeout=(1.0, 1.0))
    started = time.monotonic()
    error = caught(lambda: t.perform(SEND))
    elapsed = time.monotonic() - started
    assert isinstance(error, ConnectError), error
    assert error.may_have_sent is False
    assert elapsed < 2.0 + SLACK


def test_a_trickling_proxy_tunnel_respects_the_gateway_deadline(trickling_proxy: str) -> None:
    provider = build("gosms.ge", "https://127.0.0.1:9", (5.0, 5.0))
    started = time.monotonic()
    error = caught(lambda: smsgate.Gateway([provider], deadline=2, retry=None).send(
        NUMBERS["gosms.ge"], "Hello"))
    elapsed = time.monotonic() - started
    assert isinstance(error, smsgate.SmsGateError), error
    assert error.may_have_sent is False
    assert elapsed < 2.0 + SLACK


def test_the_gateway_fails_over_past_a_trickling_proxy_tunnel(trickling_proxy: str) -> None:
    provider = build("gosms.ge", "https://127.0.0.1:9", (1.0, 1.0))
    backup = MemoryProvider(sender="Brand")
    result = smsgate.Gateway([provider, backup], deadline=6, retry=None).send(
        NUMBERS["gosms.ge"], "Hello")
    assert result.provider == "memory"  # nothing went through the tunnel: failed over


# --- the name lookup ------------------------------------------------------------------------

SLOW_HOST = "slow-dns.smsgate.invalid"


@pytest.fixture
def slow_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``SLOW_HOST`` takes as long as the test lasts to resolve; every other name is real."""
    real = socket.getaddrinfo
    release = threading.Event()

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == SLOW_HOST:
            release.wait(30)
            raise socket.gaierror(socket.EAI_NONAME, "released")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    release.set()


@pytest.mark.usefixtures("slow_dns")
def test_a_slow_name_lookup_ends_at_the_exchange_bound_with_nothing_sent() -> None:
    t = RequestsTransport(provider="toy", base_url=f"http://{SLOW_HOST}:80", timeout=(1.0, 1.0))
    started = time.monotonic()
    error = caught(lambda: t.perform(SEND))
    elapsed = time.monotonic() - started
    assert isinstance(error, ConnectError), error
    assert error.may_have_sent is False
    assert elapsed < 2.0 + SLACK


@pytest.mark.usefixtures("slow_dns")
def test_a_slow_name_lookup_respects_the_deadline() -> None:
    provider = build("gosms.ge", f"https://{SLOW_HOST}", (5.0, 5.0))
    started = time.monotonic()
    error = caught(lambda: smsgate.Gateway([provider], deadline=2, retry=None).send(
        NUMBERS["gosms.ge"], "Hello"))
    assert isinstance(error, smsgate.SmsGateError) and error.may_have_sent is False, error
    assert time.monotonic() - started < 2.0 + SLACK


@pytest.mark.usefixtures("slow_dns")
def test_the_gateway_fails_over_past_a_slow_name_lookup() -> None:
    provider = build("gosms.ge", f"https://{SLOW_HOST}", (1.0, 1.0))
    backup = MemoryProvider(sender="Brand")
    result = smsgate.Gateway([provider, backup], deadline=6, retry=None).send(
        NUMBERS["gosms.ge"], "Hello")
    assert result.provider == "memory"


def test_a_name_is_resolved_and_each_address_tried_in_turn() -> None:
    # "localhost" may resolve to ::1 first; the server listens on 127.0.0.1 only, so the
    # transport must go on to the next address rather than fail.
    with serve(respond(200, b'{"ok": 1}')) as (url, received):
        t = RequestsTransport(provider="toy", base_url=url.replace("127.0.0.1", "localhost"),
                      timeout=(1.0, 1.0))
        reply = t.perform(SEND)
    assert reply.content == b'{"ok": 1}'
    assert len(received) == 1


def test_an_unknown_name_is_a_connect_error() -> None:
    t = RequestsTransport(provider="toy", base_url="http://no-such-host.smsgate.invalid",
                  timeout=(1.0, 1.0))
    error = caught(lambda: t.perform(SEND))
    assert isinstance(error, ConnectError) and error.may_have_sent is False, error


# --- timeouts threads and sockets cannot represent ------------------------------------------

@pytest.mark.parametrize("huge", [math.inf, 1e12, math.nan], ids=["inf", "1e12", "nan"])
def test_an_unrepresentable_timeout_is_clamped_not_raised(huge: float) -> None:
    def slow_ok(conn: socket.socket) -> None:
        time.sleep(0.3)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        conn.close()

    with serve(slow_ok) as (url, _):
        reply = RequestsTransport(provider="toy", base_url=url, timeout=(1.0, huge)).perform(SEND)
    assert reply.content == b"{}"
    assert exchange_bound((1.0, huge)) == 1.0 + MAX_WAIT
    assert exchange_bound(huge) == 2 * MAX_WAIT


@pytest.mark.parametrize("huge", [math.inf, 1e12], ids=["inf", "1e12"])
def test_an_unrepresentable_timeout_under_a_deadline_is_bounded_by_it(huge: float) -> None:
    with serve(silent, read_first=False) as (url, _):
        # Providers refuse such a timeout when they are built (ConfigurationError); the
        # transport's own clamp is the second line, checked here under a Gateway deadline.
        provider = build("gosms.ge", url, (1.0, 1.0))
        provider.transport.timeout = (huge, huge)
        started = time.monotonic()
        error = caught(lambda: smsgate.Gateway([provider], deadline=1, retry=None).send(
            NUMBERS["gosms.ge"], "Hello"))
        elapsed = time.monotonic() - started
    assert isinstance(error, smsgate.SmsGateError), error
    assert elapsed < 1.0 + SLACK


def test_the_watchdog_survives_an_exchange_due_in_a_thousand_years() -> None:
    watchdog = _Watchdog()
    watchdog.watch(_Exchange(time.monotonic() + 3.2e10))
    time.sleep(0.1)  # the thread now waits on that entry: it must not have died
    near = _Exchange(time.monotonic() + 0.2)
    left, right = socket.socketpair()
    try:
        assert near.attach(left)
        watchdog.watch(near)
        right.settimeout(5)
        left.settimeout(5)
        started = time.monotonic()
        assert left.recv(1) == b""  # shut by the watchdog: the read ends at once
        assert time.monotonic() - started < 0.2 + SLACK
    finally:
        left.close()
        right.close()
    assert watchdog._thread is not None and watchdog._thread.is_alive()


def test_a_request_that_reaches_the_server_is_still_may_have_sent() -> None:
    # The connect-phase rule must not swallow a real read timeout after the request went out.
    def read_then_silent(conn: socket.socket) -> None:
        read_request(conn)
        time.sleep(3)
        conn.close()

    with serve(read_then_silent, read_first=False) as (url, _):
        error = caught(lambda: RequestsTransport(provider="toy", base_url=url,
                                         timeout=(1.0, 0.5)).perform(SEND))
    assert isinstance(error, smsgate.DeliveryUnknown) and error.may_have_sent is True, error
