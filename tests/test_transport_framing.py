"""A reply's end and a connection's reuse, over real sockets on 127.0.0.1.

The promises: a connection is reused only after a reply whose length can be trusted, so bytes
a server wrote past its framing (a body after 204/304, a Content-Length that counts characters
rather than bytes) never answer the next request; and the bytes read from the wire are bounded
as well as the decoded body, whatever urllib3 does.
"""

from __future__ import annotations

import gzip
import json
import socket
import time

import pytest

from smsgate import DeliveryUnknown, InvalidResponse
from smsgate._http import HttpRequest, RequestsTransport

from .servers import http_reply, script, serve
from .transport_helpers import caught

SEND = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                   sends_message=True)
READ = HttpRequest(method="GET", path="/status", operation="status")
OK_2 = http_reply(200, b'{"id": 2}')


def _two_exchanges(first: bytes | list[bytes], second: bytes) -> tuple[object, object, int]:
    """A lookup answered by ``first``, then a send answered by ``second``; returns both
    outcomes (reply or error) and how many requests the server got."""
    received: list[bytes] = []
    with serve(script([first, second], received, gap=0.05), read_first=False) as (url, _):
        t = RequestsTransport(provider="toy", base_url=url, timeout=(1.0, 2.0))
        try:
            one: object = t.perform(READ)
        except Exception as exc:  # whatever the lookup gave, the send is what is checked
            one = exc
        try:
            two: object = t.perform(SEND)
        except Exception as exc:
            two = exc
        time.sleep(0.1)
    return one, two, len(received)


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize("stray", [b'{"status": "delivered"}', http_reply(200, b'{"id": 999}')],
                         ids=["stray body", "stray whole reply"])
def test_bytes_after_a_reply_without_body_never_answer_the_next_request(
    status: int, stray: bytes
) -> None:
    head = b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n" % (status, len(stray))
    _, second, requests_seen = _two_exchanges([head, stray], OK_2)
    assert requests_seen == 2
    assert getattr(second, "content", None) == b'{"id": 2}', second


def test_a_content_length_counting_characters_never_shifts_replies() -> None:
    text = json.dumps({"ok": True, "status": "მიწოდებულია"}, ensure_ascii=False)
    raw = text.encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
        len(text)
    )
    _, second, _ = _two_exchanges([head + raw[: len(text)], raw[len(text):]], OK_2)
    assert getattr(second, "content", None) == b'{"id": 2}', second


def test_a_trusted_reply_still_reuses_its_connection() -> None:
    connections: list[int] = []

    def handler(conn: socket.socket) -> None:
        connections.append(1)
        script([http_reply(200, b'{"id": 1}'), OK_2], [], gap=0)(conn)

    with serve(handler, read_first=False) as (url, _):
        t = RequestsTransport(provider="toy", base_url=url, timeout=(1.0, 2.0))
        assert t.perform(READ).content == b'{"id": 1}'
        assert t.perform(SEND).content == b'{"id": 2}'
    assert len(connections) == 1


def _serve_gzip(body: bytes) -> object:
    def handler(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % len(body) + body)
        conn.close()

    return serve(handler)


def test_wire_bytes_are_bounded_even_when_they_decode_to_nothing() -> None:
    # One gzip member whose header comment (FCOMMENT) is 400 kB: it decodes to zero bytes,
    # so only a bound on the bytes read stops it.
    empty = gzip.compress(b"", mtime=0)
    body = empty[:3] + b"\x10" + empty[4:10] + b"c" * 400_000 + b"\0" + empty[10:]
    with _serve_gzip(body) as (url, _):  # type: ignore[attr-defined]
        t = RequestsTransport(provider="toy", base_url=url, timeout=(1.0, 5.0),
                              max_reply_bytes=65536)
        error = caught(lambda: t.perform(SEND))
    assert isinstance(error, InvalidResponse), error
    assert error.may_have_sent is True


def test_a_body_of_many_empty_gzip_members_is_unreadable() -> None:
    # 200 kB of 20-byte members: each costs a new decoder and they decode to nothing.
    body = gzip.compress(b"", mtime=0) * 10_000 + gzip.compress(b'{"ok": 1}', mtime=0)
    with _serve_gzip(body) as (url, _):  # type: ignore[attr-defined]
        error = caught(lambda: RequestsTransport(provider="toy", base_url=url,
                                         timeout=(1.0, 5.0)).perform(SEND))
    assert isinstance(error, DeliveryUnknown), error
    assert error.may_have_sent is True


def test_an_endless_chunk_size_line_is_refused_with_bounded_memory() -> None:
    import tracemalloc

    def handler(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;")
        started = time.monotonic()
        try:
            while time.monotonic() - started < 3:
                conn.sendall(b"x" * 65536)
        except OSError:
            pass
        conn.close()

    with serve(handler) as (url, _):
        t = RequestsTransport(provider="toy", base_url=url, timeout=(1.0, 2.0))
        tracemalloc.start()
        try:
            error = caught(lambda: t.perform(SEND))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert isinstance(error, (DeliveryUnknown, InvalidResponse)), error
    assert error.may_have_sent is True
    assert peak < 32 * 1024 * 1024
