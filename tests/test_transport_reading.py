"""The one-read path for a body of declared length keeps the size and time bounds (issue 22).

A reply that declares its ``Content-Length`` (within the limit, not compressed) is read in one
step; anything else is read piece by piece. These tests hold the cases where the declared
length is not what bounds the body.
"""

from __future__ import annotations

import socket
import time

from smsgate import DeliveryUnknown, InvalidResponse
from smsgate._http import HttpRequest, Transport

from .servers import endless, serve
from .transport_helpers import caught

SEND = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                   sends_message=True)
SLACK = 1.5  # seconds past a bound: proves "bounded", not "fast"


def test_a_small_content_length_beside_chunked_does_not_lift_the_size_limit() -> None:
    # http.client follows Transfer-Encoding and ignores Content-Length: the declared 10 bytes
    # must not route this endless body to a read without a limit.
    with serve(endless(headers=b"Content-Length: 10\r\n", limit=50 * 1024 * 1024)) as (url, _):
        t = Transport(provider="toy", base_url=url, timeout=(2.0, 5.0), max_reply_bytes=100_000)
        error = caught(lambda: t.perform(SEND))
    assert isinstance(error, InvalidResponse), error
    assert "larger than 100000 bytes" in str(error)


def test_a_body_shorter_than_declared_is_a_lost_reply() -> None:
    def short(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + b'{"ok": tr')
        conn.close()

    with serve(short) as (url, _):
        error = caught(lambda: Transport(provider="toy", base_url=url, timeout=(1.0, 1.0))
                       .perform(SEND))
    assert isinstance(error, DeliveryUnknown) and error.may_have_sent is True


def test_a_declared_body_that_never_comes_is_bounded_in_time() -> None:
    def stall(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{")
        for _ in range(100):  # a byte every 0.05 s: each read is in time, the exchange is not
            time.sleep(0.05)
            conn.sendall(b" ")

    with serve(stall) as (url, _):
        started = time.monotonic()
        error = caught(lambda: Transport(provider="toy", base_url=url, timeout=(1.0, 1.0))
                       .perform(SEND))
        elapsed = time.monotonic() - started
    assert isinstance(error, DeliveryUnknown) and error.may_have_sent is True
    assert elapsed < 2.0 + SLACK
