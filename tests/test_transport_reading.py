"""Reading a reply in one step and writing a request in one keep every bound (issue 22).

A reply that declares its ``Content-Length`` (within the limit, not compressed) is read in one
step; anything else is read piece by piece. These tests hold the cases where the declared
length is not what bounds the body.
"""

from __future__ import annotations

import socket
import time

import pytest

from smsgate import DeliveryUnknown, InvalidResponse
from smsgate._http import HttpRequest, RequestsTransport

from .servers import endless, script, serve
from .transport_helpers import caught

SEND = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                   sends_message=True)
LOOKUP = HttpRequest(method="GET", path="/balance", operation="balance")
SLACK = 1.5  # seconds past a bound: proves "bounded", not "fast"


def test_a_small_content_length_beside_chunked_does_not_lift_the_size_limit() -> None:
    # http.client follows Transfer-Encoding and ignores Content-Length: the declared 10 bytes
    # must not route this endless body to a read without a limit.
    with serve(endless(headers=b"Content-Length: 10\r\n", limit=50 * 1024 * 1024)) as (url, _):
        t = RequestsTransport(provider="toy", base_url=url, timeout=(2.0, 5.0),
                              max_reply_bytes=100_000)
        error = caught(lambda: t.perform(SEND))
    assert isinstance(error, InvalidResponse), error
    assert "larger than 100000 bytes" in str(error)


def test_a_body_shorter_than_declared_is_a_lost_reply() -> None:
    def short(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + b'{"ok": tr')
        conn.close()

    with serve(short) as (url, _):
        error = caught(lambda: RequestsTransport(provider="toy", base_url=url, timeout=(1.0, 1.0))
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
        error = caught(lambda: RequestsTransport(provider="toy", base_url=url, timeout=(1.0, 1.0))
                       .perform(SEND))
        elapsed = time.monotonic() - started
    assert isinstance(error, DeliveryUnknown) and error.may_have_sent is True
    assert elapsed < 2.0 + SLACK


def test_head_and_body_go_out_in_one_write_and_arrive_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes: list[bytes] = []
    original = socket.socket.sendall
    server: list[tuple[str, int]] = []

    def recording(self: socket.socket, data: bytes, *args: object) -> None:
        if self.getpeername() in server:  # the client's writes to this test's server only
            writes.append(bytes(data))
        original(self, data, *args)  # type: ignore[arg-type]

    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    received: list[bytes] = []
    with serve(script([reply, reply], received), read_first=False) as (url, _):
        server.append(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        monkeypatch.setattr(socket.socket, "sendall", recording)
        t = RequestsTransport(provider="toy", base_url=url, timeout=(1.0, 1.0))
        assert t.perform(SEND).content == b"{}"
        assert t.perform(LOOKUP).content == b"{}"
        monkeypatch.undo()
    post, get = writes
    assert post.startswith(b"POST /send HTTP/1.1\r\n") and post.endswith(b'\r\n\r\n{"a": 1}')
    assert get.startswith(b"GET /balance HTTP/1.1\r\n") and get.endswith(b"\r\n\r\n")
    assert received == [post, get]  # what the server read, request by request
