"""Webhook promises, as classes: whatever the headers, query or body hold, ``parse`` answers
reports or a ``WebhookError``; a parameter given twice with different values (a ``token``
given twice at all) is refused; a body sent without a Content-Length on a terminated input
(a chunked request) is read, bounded by the same limit."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import urllib.parse
import wsgiref.simple_server
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate import DeliveryReport, WebhookError, webhooks

SECRET = "whsec-classes-1357"
NOW = 1_700_000_000.0
RO_BODY = json.dumps({"id": "m1", "status": "delivered"}).encode()
GIST_BODY = json.dumps({"event": "message.delivered", "message_id": "g1"}).encode()
OFFICE = "reference=r1&status=Delivered&destination=995577123456"
_SURROGATES = st.sampled_from(["\ud800", "\udc80", "\udfff"])


def _ro_sig(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def _gist_headers(body: bytes) -> dict[str, str]:
    stamp = str(int(NOW))
    digest = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-SMSGist-Signature": f"sha256={digest}", "X-SMSGist-Timestamp": stamp}


@settings(max_examples=150, deadline=None)
@given(provider=st.sampled_from(["gosms.ro", "smsgist"]),
       header=st.sampled_from(["X-Signature", "X-SMSGist-Signature", "X-SMSGist-Timestamp",
                               "Content-Type", "X-Other"]),
       position=st.integers(min_value=0, max_value=80), lone=_SURROGATES)
def test_a_lone_surrogate_in_any_header_is_a_webhook_error(provider: str, header: str,
                                                           position: int, lone: str) -> None:
    headers = ({"X-Signature": _ro_sig(RO_BODY)} if provider == "gosms.ro"
               else _gist_headers(GIST_BODY))
    value = headers.get(header, "x")
    headers[header] = value[:position] + lone + value[position:]
    with pytest.raises(WebhookError):
        webhooks.parse(provider, body=RO_BODY if provider == "gosms.ro" else GIST_BODY,
                       headers=headers, secret=SECRET, clock=lambda: NOW)


def test_a_header_whose_text_cannot_be_read_is_a_webhook_error() -> None:
    class Broken:
        def __str__(self) -> str:
            raise ZeroDivisionError

    with pytest.raises(WebhookError):
        webhooks.parse("gosms.ro", body=RO_BODY, headers={"X-Signature": Broken()},  # type: ignore[dict-item]
                       secret=SECRET)
    with pytest.raises(WebhookError):
        webhooks.parse("smsoffice.ge", query={"reference": Broken(), "status": "x"})  # type: ignore[dict-item]


@settings(max_examples=150, deadline=None)
@given(others=st.lists(st.sampled_from(["token=WRONG", f"token={SECRET}", "token=",
                                         f"token={SECRET.upper()}"]), min_size=1, max_size=3),
       first=st.booleans())
def test_a_duplicated_token_never_passes(others: list[str], first: bool) -> None:
    tokens = [f"token={SECRET}", *others] if first else [*others, f"token={SECRET}"]
    query = "&".join([*tokens, OFFICE])
    with pytest.raises(WebhookError):
        webhooks.parse("smsoffice.ge", query=query, secret=SECRET)


@pytest.mark.parametrize(("query", "body"), [
    (f"token={SECRET}&{OFFICE}&reference=r2", b""),
    (f"token={SECRET}&{OFFICE}&status=Failed", b""),
    (f"token={SECRET}", (OFFICE + "&reference=r2").encode()),
    (f"token={SECRET}", (OFFICE + f"&token={SECRET}").encode()),
    (f"token={SECRET}&{OFFICE}", f"token={SECRET}".encode()),
    (f"token={SECRET}&{OFFICE}", b"reference=r2"),
])
def test_parameters_given_twice_with_different_values_are_refused(query: str,
                                                                   body: bytes) -> None:
    with pytest.raises(WebhookError, match="twice"):
        webhooks.parse("smsoffice.ge", query=query, body=body, secret=SECRET)


def test_a_parameter_repeated_with_the_same_value_is_read() -> None:
    (report,) = webhooks.parse("smsoffice.ge", query=f"token={SECRET}&{OFFICE}&reference=r1",
                               secret=SECRET)
    assert report.message_id == "r1"


# -- chunked requests: a terminated input with no Content-Length -----------------------------

def _environ(body: Any, **extra: Any) -> dict[str, Any]:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/cb", "QUERY_STRING": "",
            "CONTENT_TYPE": "application/json", "HTTP_X_SIGNATURE": _ro_sig(RO_BODY),
            "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True,
            "wsgi.input": body, "wsgi.url_scheme": "http", **extra}


def _call(app: Any, environ: dict[str, Any]) -> str:
    status: list[str] = []
    app(environ, lambda s, headers: status.append(s))
    return status[0]


class _Trickle(io.RawIOBase):
    """A terminated input that hands out a few bytes per read (as a chunked decoder may)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk, self._data = self._data[:7], self._data[7:]
        return chunk


class _Endless(io.RawIOBase):
    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size >= 0, "never an unbounded read"
        self.given += size
        return b"x" * size


@pytest.mark.parametrize("stream", [lambda: io.BytesIO(RO_BODY), lambda: _Trickle(RO_BODY)])
def test_a_chunked_signed_callback_is_read(stream: Any) -> None:
    got: list[DeliveryReport] = []
    app = webhooks.wsgi_app("gosms.ro", got.append, SECRET)
    assert _call(app, _environ(stream())) == "200 OK"
    assert [r.message_id for r in got] == ["m1"]
    # An empty CONTENT_LENGTH (as some servers set for chunked requests) means the same.
    assert _call(app, _environ(stream(), CONTENT_LENGTH="")) == "200 OK"


def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all() -> None:
    endless = _Endless()
    app = webhooks.wsgi_app("gosms.ro", lambda r: None, SECRET)
    assert _call(app, _environ(endless)).startswith("413")
    assert endless.given <= webhooks.MAX_BODY + 1


def test_without_a_terminated_input_no_length_still_means_no_body() -> None:
    endless = _Endless()
    app = webhooks.wsgi_app("gosms.ro", lambda r: None, SECRET)
    environ = _environ(endless)
    del environ["wsgi.input_terminated"], environ["HTTP_TRANSFER_ENCODING"]
    assert _call(app, environ).startswith("401")  # the empty body's signature is not this one
    assert endless.given == 0


# -- over a real socket ------------------------------------------------------------------------
class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def office_url() -> Iterator[tuple[str, list[DeliveryReport]]]:
    got: list[DeliveryReport] = []
    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, webhooks.wsgi_app("smsoffice.ge", got.append, SECRET),
        handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/cb", got
    finally:
        server.shutdown()
        server.server_close()


def test_a_duplicated_token_is_refused_over_a_socket(
    office_url: tuple[str, list[DeliveryReport]],
) -> None:
    url, got = office_url
    for tokens in (["WRONG", SECRET], [SECRET, "WRONG"], [SECRET, SECRET]):
        query = urllib.parse.urlencode([("token", t) for t in tokens]) + "&" + OFFICE
        assert requests.get(f"{url}?{query}", timeout=5).status_code == 400
    assert got == []
    assert requests.get(f"{url}?token={SECRET}&{OFFICE}", timeout=5).text == "OK"
    assert len(got) == 1


@pytest.mark.parametrize("headers", [
    [("X-Signature", "0" * 64), ("X-Signature", _ro_sig(RO_BODY))],
    [("X-Signature", _ro_sig(RO_BODY)), ("x-signature", "0" * 64)],
    {"X-Signature": _ro_sig(RO_BODY), "x-signature": "0" * 64},
])
def test_a_header_given_twice_with_different_values_is_refused(headers: Any) -> None:
    with pytest.raises(WebhookError, match="twice"):
        webhooks.parse("gosms.ro", body=RO_BODY, headers=headers, secret=SECRET)


def test_a_header_repeated_with_the_same_value_is_read() -> None:
    sig = _ro_sig(RO_BODY)
    (report,) = webhooks.parse("gosms.ro", body=RO_BODY, secret=SECRET,
                               headers=[("X-Signature", sig), ("x-signature", sig)])
    assert report.message_id == "m1"


def test_a_chunked_body_the_server_does_not_terminate_is_411_not_401() -> None:
    endless = _Endless()
    app = webhooks.wsgi_app("gosms.ro", lambda r: None, SECRET)
    environ = _environ(endless)
    del environ["wsgi.input_terminated"]
    assert _call(app, environ).startswith("411")
    assert endless.given == 0
