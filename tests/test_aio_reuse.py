"""What the direct path keeps from one exchange to the next, proven on real sockets on
127.0.0.1: the timer a connection keeps armed across its exchanges still bounds a later one
and never ends an idle connection; the header lines encoded once per provider are the
ones each request carries, and never hold a credential."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from smsgate import DeliveryUnknown
from smsgate._secrets import Secret
from smsgate._wire import AuthParam, HttpRequest, HttpResponse
from smsgate.aio import AiohttpTransport

from .servers import http_reply, read_request, serve

SEND = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                   sends_message=True)


def run(url: str, *steps: Any, timeout: Any) -> tuple[list[Any], AiohttpTransport]:
    """Each request (or a pause, a float) through one transport on one loop."""
    transport = AiohttpTransport(provider="toy", base_url=url, timeout=timeout)

    async def go() -> list[Any]:
        outcomes: list[Any] = []
        try:
            for step in steps:
                if isinstance(step, float):
                    await asyncio.sleep(step)
                    continue
                try:
                    outcomes.append(await transport.perform(step))
                except Exception as exc:
                    outcomes.append(exc)
            return outcomes
        finally:
            await transport.aclose()

    return asyncio.run(go()), transport


def test_a_reused_connection_is_still_bounded_by_its_read_timeout() -> None:
    # The first exchange arms the connection's timer; the second (on the same connection)
    # keeps it and must still end when nothing arrives for the read timeout.
    accepted: list[int] = []

    def handler(conn: socket.socket) -> None:
        accepted.append(1)
        read_request(conn)
        conn.sendall(http_reply(200, b'{"n": 1}'))
        read_request(conn)
        time.sleep(3)  # the second request is never answered

    with serve(handler, read_first=False) as (url, _):
        started = time.monotonic()
        (first, second), _ = run(url, SEND, SEND, timeout=(0.3, 0.3))
        took = time.monotonic() - started
    assert isinstance(first, HttpResponse) and first.content == b'{"n": 1}'
    assert isinstance(second, DeliveryUnknown) and second.may_have_sent is True
    assert "read timeout" in str(second)
    assert len(accepted) == 1 and took < 2.5  # bounded, on the connection it reused


def test_an_idle_connection_outlives_the_timer_of_its_last_exchange() -> None:
    # The timer set for the first exchange fires while the connection sits in the pool: it
    # must find the connection idle and leave it open for the next request.
    accepted: list[int] = []

    def handler(conn: socket.socket) -> None:
        accepted.append(1)
        for number in (1, 2):
            if not read_request(conn):
                return
            conn.sendall(http_reply(200, b'{"n": %d}' % number))
        time.sleep(0.3)

    with serve(handler, read_first=False) as (url, _):
        (first, second), _ = run(url, SEND, 0.6, SEND, timeout=(0.15, 0.15))
    assert isinstance(first, HttpResponse) and isinstance(second, HttpResponse)
    assert (first.content, second.content) == (b'{"n": 1}', b'{"n": 2}')
    assert len(accepted) == 1


def test_each_request_carries_its_own_headers_and_no_credential_is_kept() -> None:
    token = "HDR-TOKEN-5d1c7e"
    secret = AuthParam(location="header", name="Authorization", value=Secret(token),
                       prefix="Bearer ")
    one = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                      headers={"X-Note": "one"}, sends_message=True)
    two = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                      headers={"X-Note": "two"}, sends_message=True)
    signed = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                         auth=(secret,), sends_message=True)
    received: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        while True:
            request = read_request(conn)
            if not request:
                return
            received.append(request)
            conn.sendall(http_reply(200, b"{}"))

    with serve(handler, read_first=False) as (url, _):
        outcomes, transport = run(url, one, two, one, signed, signed, timeout=(2.0, 2.0))
    assert all(isinstance(outcome, HttpResponse) for outcome in outcomes)
    notes = [next((line for line in request.split(b"\r\n") if line.startswith(b"X-Note")),
                  None) for request in received]
    assert notes == [b"X-Note: one", b"X-Note: two", b"X-Note: one", None, None]
    assert all(f"Authorization: Bearer {token}".encode() in request
               for request in received[3:])
    for request in received:
        head = request.split(b"\r\n\r\n", 1)[0]
        assert head.count(b"Content-Length: ") == 1 and head.count(b"Host: ") == 1
    # The lines of the two plain header sets are kept; those with the credential are not.
    assert len(transport._heads) == 2
    assert not any(token in repr(key) or token.encode() in lines
                   for key, lines in transport._heads.items())


def test_the_transports_fast_reply_is_the_reply_httpresponse_makes() -> None:
    import attrs
    import pytest

    from smsgate._wire import Headers, _response

    pairs = [("Content-Type", "application/json"), ("Retry-After", "3")]
    fast = _response(429, Headers(pairs), b"{}", 0.25)
    made = HttpResponse(status=429, headers=pairs, content=b"{}", elapsed=0.25)
    assert fast == made and repr(fast) == repr(made)
    assert attrs.asdict(fast, recurse=False) == attrs.asdict(made, recurse=False)
    assert isinstance(fast.headers, Headers) and fast.headers["retry-after"] == "3"
    assert dict(fast.headers.items()) == dict(pairs)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.status = 200  # type: ignore[misc]
