"""Transport failure classification, proven against real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from smsgate import (
    ConnectError,
    DeliveryUnknown,
    InvalidResponse,
    ProviderUnavailable,
    RecipientRejected,
)
from smsgate._http import HttpRequest, RequestsTransport
from smsgate.reliability import blackhole

from .conftest import CANARY, ToyProvider
from .servers import closed_port, hang, reset, respond, serve

SEND = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                   sends_message=True)
READ = HttpRequest(method="GET", path="/balance", operation="balance")


def transport(url: str, timeout: float | tuple[float, float] = (2.0, 0.5)) -> RequestsTransport:
    return RequestsTransport(provider="toy", base_url=url, timeout=timeout)


def test_connection_refused_is_connect_error_and_never_sent() -> None:
    with pytest.raises(ConnectError) as info:
        transport(f"http://127.0.0.1:{closed_port()}").perform(SEND)
    assert info.value.may_have_sent is False
    assert info.value.retryable is True
    assert "could not connect" in str(info.value)
    assert "refused" in str(info.value).lower()


def test_dns_failure_is_connect_error() -> None:
    # ".invalid" never resolves (RFC 6761); the resolver answers without the network.
    with pytest.raises(ConnectError) as info:
        transport("http://smsgate-test.invalid").perform(SEND)
    assert info.value.may_have_sent is False


def test_read_timeout_after_request_written_is_delivery_unknown() -> None:
    with serve(hang(3)) as (url, received):
        started = time.monotonic()
        with pytest.raises(DeliveryUnknown) as info:
            transport(url, (2.0, 0.3)).perform(SEND)
        assert time.monotonic() - started < 2.5
    assert received, "the server must have read the request"
    assert info.value.may_have_sent is True
    assert info.value.retryable is False  # resending could duplicate
    assert "read timeout" in str(info.value)


def test_reset_after_request_is_delivery_unknown() -> None:
    with serve(reset) as (url, received), pytest.raises(DeliveryUnknown) as info:
        transport(url).perform(SEND)
    assert received
    assert info.value.may_have_sent is True


def test_clean_close_without_reply_is_delivery_unknown() -> None:
    with serve(lambda conn: conn.close()) as (url, _), pytest.raises(DeliveryUnknown) as info:
        transport(url).perform(SEND)
    assert info.value.may_have_sent is True


def test_garbage_instead_of_http_is_delivery_unknown() -> None:
    def garbage(conn: socket.socket) -> None:
        conn.sendall(b"SMTP ready\r\n\r\n")
        conn.close()

    with serve(garbage) as (url, _), pytest.raises(DeliveryUnknown):
        transport(url).perform(SEND)


def test_reply_cut_short_is_delivery_unknown() -> None:
    def truncated(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"succ")
        reset(conn)

    with serve(truncated) as (url, _), pytest.raises(DeliveryUnknown) as info:
        transport(url).perform(SEND)
    assert info.value.may_have_sent is True


def test_read_only_request_failure_never_claims_a_send() -> None:
    with serve(hang(3)) as (url, _), pytest.raises(DeliveryUnknown) as info:
        transport(url, (2.0, 0.3)).perform(READ)
    assert info.value.may_have_sent is False
    assert info.value.retryable is True


def test_idempotent_send_is_retryable_after_unknown_outcome() -> None:
    request = HttpRequest(method="POST", path="/send", operation="send", json={},
                          sends_message=True, idempotent=True)
    with serve(reset) as (url, _), pytest.raises(DeliveryUnknown) as info:
        transport(url).perform(request)
    assert info.value.may_have_sent is True
    assert info.value.retryable is True


def test_tls_failure_is_final_connect_error() -> None:
    # A plain-HTTP server answering a TLS client: the handshake fails before any request.
    with (
        serve(respond(200, b"{}"), read_first=False) as (url, _),
        pytest.raises(ConnectError) as info,
    ):
        transport(url.replace("http://", "https://")).perform(SEND)
    assert info.value.may_have_sent is False
    assert info.value.retryable is False
    assert "TLS" in str(info.value)


def test_connect_timeout_is_connect_error() -> None:
    # A listener that never accepts, with its backlog full: the kernel drops further SYNs.
    with blackhole() as url:
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        except TimeoutError:
            pass
        else:
            pytest.skip("this kernel accepts connections beyond the backlog")
        finally:
            probe.close()
        with pytest.raises(ConnectError) as info:
            transport(url, (0.3, 5.0)).perform(SEND)
    assert info.value.may_have_sent is False
    assert "connect timeout" in str(info.value)


def test_no_urllib3_retries_on_post() -> None:
    with serve(reset) as (url, received), pytest.raises(DeliveryUnknown):
        transport(url).perform(SEND)
    time.sleep(0.1)
    assert len(received) == 1


def test_user_agent_and_timeout_are_explicit() -> None:
    with serve(respond(200, b"{}")) as (url, received):
        reply = transport(url).perform(SEND)
    assert reply.status == 200
    assert b"User-Agent: smsgate/" in received[0]


def test_session_given_by_caller_is_used_and_not_closed() -> None:
    session = requests.Session()
    t = RequestsTransport(provider="toy", base_url="http://127.0.0.1:1", timeout=1.0,
                          session=session)
    assert t.session is session
    t.close()
    assert session.adapters  # still usable: the caller owns it


# --- end to end through an adapter: replies over real sockets --------------------------------

def test_unparseable_success_reply_is_invalid_response() -> None:
    with serve(respond(200, b"<html>hello</html>", "text/html")) as (url, _):
        toy = ToyProvider(CANARY, sender="Shop", base_url=url)
        with pytest.raises(InvalidResponse) as info:
            toy.send("+995555123456", "hi")
    assert info.value.may_have_sent is True  # the provider may have taken it


def test_error_inside_http_200_is_read_from_the_body() -> None:
    body = b'{"error": 3, "message": "number is blocked"}'
    with serve(respond(200, body)) as (url, _):
        toy = ToyProvider(CANARY, sender="Shop", base_url=url)
        with pytest.raises(RecipientRejected) as info:
            toy.send("+995555123456", "hi")
    assert info.value.code == 3
    assert info.value.http_status == 200
    assert info.value.may_have_sent is False


def test_html_503_page_is_provider_unavailable() -> None:
    with serve(respond(503, b"<h1>maintenance</h1>", "text/html")) as (url, _):
        toy = ToyProvider(CANARY, sender="Shop", base_url=url)
        with pytest.raises(ProviderUnavailable) as info:
            toy.send("+995555123456", "hi")
    assert info.value.retryable is True
    assert info.value.may_have_sent is False

