"""Time and size bounds of every exchange, and interim replies, over real sockets on 127.0.0.1.

The promises: an exchange ends within its wall-clock bound however slowly the server trickles;
a reply body costs at most about the documented limit of memory, however it is encoded; a
connection that carried an interim 1xx reply never answers another request; and each of these
failures says ``may_have_sent`` exactly as the request allows.
"""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
import zlib

import pytest
import requests

import smsgate
from smsgate import DeliveryUnknown, InvalidResponse, ProviderUnavailable
from smsgate._http import MAX_REPLY_BYTES, HttpRequest, RequestsTransport, _Exchange, _Watchdog

from .conftest import CANARY, ToyProvider
from .servers import endless, http_reply, make_certificate, respond, script, serve, trickle
from .transport_helpers import NAMES, build, caught, sending

SEND = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                   sends_message=True)
READ = HttpRequest(method="GET", path="/balance", operation="balance")
SLACK = 1.5  # seconds allowed past a bound: generous, it proves "bounded", not "fast"


def transport(url: str, timeout: float | tuple[float, float] = (1.0, 1.0)) -> RequestsTransport:
    return RequestsTransport(provider="toy", base_url=url, timeout=timeout)


# --- time: the bound is per exchange, not per read ----------------------------------------------

@pytest.mark.parametrize("in_headers", [False, True], ids=["body trickles", "headers trickle"])
def test_trickling_reply_cannot_outlive_connect_plus_read(in_headers: bool) -> None:
    # Each byte comes 0.05 s after the last, far within the 1 s read timeout: only a bound
    # on the whole exchange (1 s + 1 s) ends it.
    with serve(trickle(in_headers=in_headers)) as (url, received):
        started = time.monotonic()
        error = caught(lambda: transport(url, (1.0, 1.0)).perform(SEND))
        elapsed = time.monotonic() - started
    assert received
    assert isinstance(error, DeliveryUnknown)
    assert error.may_have_sent is True
    assert error.retryable is False
    assert "no complete reply within 2 s" in str(error)
    assert elapsed < 2.0 + SLACK


def test_trickling_lookup_is_bounded_and_never_claims_a_send() -> None:
    with serve(trickle()) as (url, _):
        toy = ToyProvider(CANARY, sender="Shop", base_url=url, timeout=(0.5, 1.0))
        started = time.monotonic()
        error = caught(toy.balance)
        elapsed = time.monotonic() - started
    assert isinstance(error, DeliveryUnknown)
    assert error.may_have_sent is False
    assert error.retryable is True
    assert elapsed < 1.5 + SLACK


def test_gateway_deadline_bounds_trickling_replies_for_every_adapter() -> None:
    """``Gateway(deadline=2)`` against trickling servers returns in about 2 s, for each adapter
    with the default (5 s, 30 s) timeouts, with the status line or the body trickling; all eight
    run at once, which also puts the one watchdog to work on many exchanges together."""
    outcomes: dict[str, tuple[float, BaseException]] = {}

    def run(name: str, in_headers: bool) -> None:
        with serve(trickle(in_headers=in_headers)) as (url, received):
            provider = build(name, url, timeout=(5.0, 30.0))  # the default timeouts
            gateway = smsgate.Gateway([provider], deadline=2)
            started = time.monotonic()
            error = caught(sending(name, gateway))
            outcomes[f"{name} {'headers' if in_headers else 'body'}"] = (
                time.monotonic() - started, error)
            assert received

    threads = [threading.Thread(target=run, args=(name, in_headers))
               for name in NAMES for in_headers in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 8
    for case, (elapsed, error) in outcomes.items():
        assert elapsed < 2.0 + SLACK, case
        assert isinstance(error, smsgate.SmsGateError), (case, error)
        assert error.may_have_sent is True, (case, error)
        inner = getattr(error, "errors", (error,))
        assert any(isinstance(e, DeliveryUnknown) for e in inner), (case, inner)


def test_a_reply_in_time_is_unaffected_and_its_connection_is_reused() -> None:
    # The watchdog must not cut an exchange that ends in time, nor keep its connection from
    # serving the next request (keep-alive still works).
    received: list[bytes] = []
    connections: list[int] = []
    handler = script([http_reply(200, b'{"n": 1}'), http_reply(200, b'{"n": 2}')], received)

    def counting(conn: socket.socket) -> None:
        connections.append(1)
        handler(conn)

    with serve(counting, read_first=False) as (url, _):
        t = transport(url, (1.0, 1.0))
        first, second = t.perform(SEND), t.perform(SEND)
        time.sleep(1.2)  # past the first exchange's bound: nothing fires on a finished one
        third = t.perform(SEND)  # same connection, after the first exchanges' bounds passed
    assert (first.content, second.content) == (b'{"n": 1}', b'{"n": 2}')
    assert len(connections) == 1
    assert len(received) == 3
    assert third.status == 500  # the script's answer once its list is used up


def test_watchdog_entries_stay_bounded_however_many_exchanges() -> None:
    # Exchanges that end in time are dropped lazily; the heap is compacted so that it never
    # holds more than about twice the live ones (plus a floor), not one entry per request.
    watchdog = _Watchdog()
    for _ in range(20_000):
        exchange = _Exchange(time.monotonic() + 3600)
        watchdog.watch(exchange)
        exchange.finish()
    assert watchdog.pending() <= 2048


# --- size: the body limit counts decoded bytes --------------------------------------------------

def _peak_while(call: object) -> tuple[BaseException, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        error = caught(call)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return error, peak


def _bomb(size: int, wbits: int) -> bytes:
    """``size`` zero bytes compressed (gzip: wbits 31; zlib: 15; raw deflate: -15)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + compressor.flush()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return _bomb(256 << 20, 31)  # 255 kB that inflate to 256 MiB, in one gzip member


def _serve_encoded(body: bytes, coding: str) -> object:
    def handler(conn: socket.socket) -> None:
        conn.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: {coding}"
            f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        )
        try:
            conn.sendall(body)
        finally:
            conn.close()

    return handler


def test_gzip_bomb_stops_at_the_limit_with_bounded_memory(gzip_bomb: bytes) -> None:
    assert len(gzip_bomb) < 1024 * 1024
    with serve(_serve_encoded(gzip_bomb, "gzip")) as (url, received):  # type: ignore[arg-type]
        error, peak = _peak_while(lambda: transport(url, (2.0, 5.0)).perform(SEND))
    assert received
    assert isinstance(error, InvalidResponse), error
    assert error.may_have_sent is True  # the provider got the request
    assert f"larger than {MAX_REPLY_BYTES} bytes" in str(error)
    # 256 MiB decoded, 4 MiB allowed: the peak stays within a few times the limit.
    assert peak < 8 * MAX_REPLY_BYTES, peak


@pytest.mark.parametrize(("wbits", "coding"), [(15, "deflate"), (-15, "deflate"), (31, "x-gzip")])
def test_deflate_bombs_stop_at_the_limit(wbits: int, coding: str) -> None:
    bomb = _bomb(64 << 20, wbits)
    with serve(_serve_encoded(bomb, coding)) as (url, _):  # type: ignore[arg-type]
        error, peak = _peak_while(lambda: transport(url, (2.0, 5.0)).perform(READ))
    assert isinstance(error, InvalidResponse), error
    assert error.may_have_sent is False  # a lookup sends nothing
    assert peak < 8 * MAX_REPLY_BYTES, peak


def test_a_1_gib_gzip_in_concatenated_members_stops_at_the_limit() -> None:
    member = _bomb(1 << 20, 31)
    bomb = member * 1024  # about 1 MB on the wire, 1 GiB decoded, in members of 1 MiB
    assert len(bomb) < 2 * 1024 * 1024
    with serve(_serve_encoded(bomb, "gzip")) as (url, _):  # type: ignore[arg-type]
        error, peak = _peak_while(lambda: transport(url, (2.0, 5.0)).perform(SEND))
    assert isinstance(error, InvalidResponse), error
    assert peak < 8 * MAX_REPLY_BYTES, peak


@pytest.mark.parametrize("wbits", [31, 15, -15])
def test_compressed_replies_within_the_limit_are_decoded(wbits: int) -> None:
    body = b'{"ids": [7], "pad": "' + b"ab" * 200_000 + b'"}'
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    encoded = compressor.compress(body) + compressor.flush()
    coding = "gzip" if wbits == 31 else "deflate"
    with serve(_serve_encoded(encoded, coding)) as (url, received):  # type: ignore[arg-type]
        reply = transport(url).perform(SEND)
    assert reply.content == body
    assert b"Accept-Encoding: gzip, deflate\r\n" in received[0]


def test_endless_plain_body_stops_at_the_limit_with_bounded_memory() -> None:
    # 200 MB announced nowhere (chunked): read piece by piece, stopped past the limit.
    with serve(endless(limit=200 * 1024 * 1024)) as (url, _):
        error, peak = _peak_while(lambda: transport(url, (2.0, 5.0)).perform(SEND))
    assert isinstance(error, InvalidResponse), error
    assert error.may_have_sent is True
    assert peak < 8 * MAX_REPLY_BYTES, peak


def test_announced_oversize_body_is_refused_before_reading() -> None:
    def huge(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200000000\r\n\r\n" + b"x" * 1000)
        time.sleep(1)
        conn.close()

    with serve(huge) as (url, _):
        toy = ToyProvider(CANARY, sender="Shop", base_url=url, timeout=(1.0, 3.0))
        started = time.monotonic()
        send_error = caught(lambda: toy.send("+995555123456", "hi"))
        lookup_error = caught(toy.balance)
        elapsed = time.monotonic() - started
    assert isinstance(send_error, InvalidResponse) and send_error.may_have_sent is True
    assert isinstance(lookup_error, InvalidResponse) and lookup_error.may_have_sent is False
    assert elapsed < 1.0 + SLACK  # neither waited for the 200 MB


def test_reply_at_the_limit_is_read_whole() -> None:
    body = b"x" * MAX_REPLY_BYTES
    with serve(respond(200, body, "text/plain")) as (url, _):
        reply = transport(url, (2.0, 5.0)).perform(READ)
    assert reply.content == body


def test_unrequested_content_encoding_is_an_unknown_outcome() -> None:
    with serve(_serve_encoded(b"\x00" * 100, "br")) as (url, _):  # type: ignore[arg-type]
        error = caught(lambda: transport(url).perform(SEND))
    assert isinstance(error, DeliveryUnknown)
    assert error.may_have_sent is True


# --- interim 1xx replies ------------------------------------------------------------------------

@pytest.mark.parametrize("interim", [b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n",
                                     b"HTTP/1.1 102 Processing\r\n\r\n"])
def test_interim_reply_never_shifts_replies_between_sends(interim: bytes) -> None:
    # Send 1 is refused (400), after an interim reply; send 2 is accepted. Read naively, send 1
    # would be reported accepted (the 1xx taken as final) and send 2 refused (it reads send
    # 1's 400 left on the pooled socket).
    received: list[bytes] = []
    replies: list[bytes | list[bytes]] = [
        [interim, http_reply(400, b'{"error": 3, "message": "refused"}')],
        http_reply(200, b'{"ids": [42]}'),
    ]
    with serve(script(replies, received), read_first=False) as (url, _):
        toy = ToyProvider(CANARY, sender="Shop", base_url=url, timeout=(1.0, 2.0))
        first = caught(lambda: toy.send("+995555123456", "one"))
        second = toy.send("+995555123456", "two")
    assert isinstance(first, DeliveryUnknown)
    assert first.may_have_sent is True
    assert "interim HTTP 10" in str(first)
    assert second.message_id == "42"
    assert len(received) == 2
    assert b'"one"' in received[0] and b'"two"' in received[1]


def test_interim_reply_to_a_lookup_is_unknown_but_not_sent() -> None:
    received: list[bytes] = []
    replies: list[bytes | list[bytes]] = [
        [b"HTTP/1.1 103 Early Hints\r\n\r\n", http_reply(200, b"5")], http_reply(200, b"7")]
    with serve(script(replies, received), read_first=False) as (url, _):
        toy = ToyProvider(CANARY, sender="Shop", base_url=url, timeout=(1.0, 2.0))
        first = caught(toy.balance)
        second = toy.balance()
    assert isinstance(first, DeliveryUnknown) and first.may_have_sent is False
    assert str(second.amount) == "7"


# --- CDN statuses -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "may_have_sent"),
    [(502, True), (504, True), (520, True), (524, True), (527, True), (530, True),
     (521, False), (522, False), (523, False), (525, False), (526, False), (500, False),
     (503, False)],
)
def test_cdn_statuses_say_whether_the_origin_got_the_request(
    status: int, may_have_sent: bool
) -> None:
    page = b"<html>error code: %d</html>" % status
    with serve(respond(status, page, "text/html")) as (url, _):
        toy = ToyProvider(CANARY, sender="Shop", base_url=url)
        send_error = caught(lambda: toy.send("+995555123456", "hi"))
        lookup_error = caught(toy.balance)
    assert isinstance(send_error, ProviderUnavailable)
    assert send_error.may_have_sent is may_have_sent
    assert send_error.http_status == status
    assert isinstance(lookup_error, ProviderUnavailable)
    assert lookup_error.may_have_sent is False


def test_with_a_callers_session_the_body_is_still_bounded() -> None:
    # A session of the caller's is used as it is (its connections are not smsgate's), so the
    # watchdog takes over once the headers are in: a trickling body still ends on time.
    with serve(trickle()) as (url, _):
        t = RequestsTransport(provider="toy", base_url=url, timeout=(1.0, 1.0),
                      session=requests.Session())
        started = time.monotonic()
        error = caught(lambda: t.perform(SEND))
        elapsed = time.monotonic() - started
    assert isinstance(error, DeliveryUnknown) and error.may_have_sent is True
    assert elapsed < 2.0 + SLACK


@pytest.fixture
def tls_server(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> object:
    """A TLS server factory on 127.0.0.1 with a throwaway certificate (made by openssl)."""
    import ssl

    cert, key = make_certificate(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))

    def wrap(handler: object) -> object:
        def tls_handler(conn: socket.socket) -> None:
            tls = context.wrap_socket(conn, server_side=True)
            try:
                handler(tls)  # type: ignore[operator]
            finally:
                tls.close()

        return tls_handler

    return wrap


def test_trickle_over_tls_is_bounded_and_the_next_request_is_answered(tls_server: object) -> None:
    # The watchdog ends a blocked TLS read without breaking the client's TLS state elsewhere.
    received: list[bytes] = []
    slow = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
    replies: list[bytes | list[bytes]] = [[slow] + [b" "] * 200, http_reply(200, b'{"n": 2}')]
    handler = tls_server(script(replies, received, gap=0.05))  # type: ignore[operator]
    with serve(handler, read_first=False) as (url, _):
        t = transport(url.replace("http://", "https://"), (1.0, 1.0))
        started = time.monotonic()
        error = caught(lambda: t.perform(SEND))
        elapsed = time.monotonic() - started
        second = t.perform(SEND)
    assert isinstance(error, DeliveryUnknown) and error.may_have_sent is True, error
    assert elapsed < 2.0 + SLACK
    assert second.content == b'{"n": 2}'
