"""Delivery callbacks: parsing, verification, fuzzing, and the WSGI app over real sockets."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
import urllib.parse
import wsgiref.simple_server
from collections.abc import Iterator

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

import smsgate
from smsgate import DeliveryReport, Status, WebhookError, webhooks

SECRET = "whsec-canary-2468"
NOW = 1_700_000_000.0


def sign_ro(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def sign_gist(body: bytes, stamp: float = NOW, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(stamp))
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-SMSGist-Signature": f"sha256={digest}", "X-SMSGist-Timestamp": ts}


GIST_BODY = json.dumps({
    "event": "message.delivered", "message_id": "msg_123", "recipient_id": "rcpt_1",
    "recipient": "+233245972246", "status": "delivered",
    "timestamp": "2026-03-21T10:30:15Z", "metadata": {"order": 1},
}).encode()
RO_BODY = json.dumps({"id": "dea3535d-2b1e", "status": "delivered",
                      "timestamp": "2026-03-21 10:30:15", "network": "22601"}).encode()


# -- SMSOffice.ge ------------------------------------------------------------------------------
def test_smsoffice_documented_example() -> None:
    (report,) = webhooks.parse("smsoffice.ge", query=(
        "reference=12345678&status=delivered&reason=&destination=995577123456"
        "&timestamp=20130501120202&operator=28202"))
    assert report == DeliveryReport(
        provider="smsoffice.ge", message_id="12345678", recipient="+995577123456",
        status=Status.DELIVERED,
        timestamp=dt.datetime(2013, 5, 1, 8, 2, 2, tzinfo=dt.timezone.utc), error=None)
    assert report.raw["operator"] == "28202"


def test_smsoffice_multi_recipient_send_gives_one_report_per_destination() -> None:
    reports = [
        r for n in ("995577123456", "995599123456")
        for r in webhooks.parse("smsoffice.ge", query={
            "reference": "ref-9", "status": "Undelivered", "reason": "Absent subscriber",
            "destination": n, "timestamp": "20260301101010"})
    ]
    assert [r.recipient for r in reports] == ["+995577123456", "+995599123456"]
    assert {r.message_id for r in reports} == {"ref-9"}
    assert all(r.status is Status.FAILED and r.error == "Absent subscriber" for r in reports)


@pytest.mark.parametrize(("word", "status"), [
    ("Delivered", Status.DELIVERED), ("Undelivered", Status.FAILED),
    ("Expired", Status.EXPIRED), ("Pending", Status.QUEUED), ("Unknown", Status.UNKNOWN),
    ("Teleported", Status.UNKNOWN)])
def test_smsoffice_statuses(word: str, status: Status) -> None:
    (report,) = webhooks.parse("smsoffice.ge", query={"reference": "r", "status": word})
    assert report.status is status
    assert report.raw["status"] == word


def test_smsoffice_secret_token_and_odd_timestamp() -> None:
    query = {"reference": "r", "status": "Delivered", "timestamp": "yesterday",
             "token": SECRET}
    (report,) = webhooks.parse("smsoffice.ge", query=query, secret=SECRET)
    assert report.timestamp is None and report.raw["timestamp"] == "yesterday"
    assert "token" not in report.raw
    with pytest.raises(WebhookError, match="token"):
        webhooks.parse("smsoffice.ge", query={**query, "token": "guess"}, secret=SECRET)
    with pytest.raises(WebhookError, match="missing token"):
        webhooks.parse("smsoffice.ge", query={"reference": "r", "status": "x"}, secret=SECRET)
    with pytest.raises(WebhookError, match="reference and status"):
        webhooks.parse("smsoffice.ge", query={"status": "Delivered"})


# -- GoSMS.ro ---------------------------------------------------------------------------------
def test_gosms_ro_signed_report() -> None:
    (report,) = webhooks.parse("gosms.ro", body=RO_BODY, headers=sign_ro(RO_BODY),
                               secret=SECRET)
    assert (report.message_id, report.status) == ("dea3535d-2b1e", Status.DELIVERED)
    assert report.timestamp == dt.datetime(2026, 3, 21, 10, 30, 15, tzinfo=dt.timezone.utc)
    assert report.raw["network"] == "22601"


def test_gosms_ro_header_names_match_case_insensitively() -> None:
    headers = {"x-signature": sign_ro(RO_BODY)["X-Signature"].upper()}
    assert webhooks.parse("gosms.ro", body=RO_BODY, headers=headers, secret=SECRET)


@pytest.mark.parametrize("headers", [{}, {"X-Signature": "00" * 32},
                                     sign_ro(RO_BODY, secret="other")])
def test_gosms_ro_bad_signatures(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookError):
        webhooks.parse("gosms.ro", body=RO_BODY, headers=headers, secret=SECRET)


def test_gosms_ro_tampered_body_fails() -> None:
    tampered = RO_BODY.replace(b"delivered", b"failed")
    with pytest.raises(WebhookError, match="bad X-Signature"):
        webhooks.parse("gosms.ro", body=tampered, headers=sign_ro(RO_BODY), secret=SECRET)


def test_gosms_ro_malformed() -> None:
    for body in (b"", b"not json", b'{"status": "delivered"}', b"[1, 2]"):
        with pytest.raises(WebhookError):
            webhooks.parse("gosms.ro", body=body)


# -- SMSGist ----------------------------------------------------------------------------------
def test_smsgist_signed_report() -> None:
    (report,) = webhooks.parse("smsgist", body=GIST_BODY, headers=sign_gist(GIST_BODY),
                               secret=SECRET, clock=lambda: NOW + 10)
    assert (report.message_id, report.recipient, report.status) == (
        "msg_123", "+233245972246", Status.DELIVERED)
    assert report.timestamp == dt.datetime(2026, 3, 21, 10, 30, 15, tzinfo=dt.timezone.utc)
    assert report.raw["metadata"] == {"order": 1}


@pytest.mark.parametrize(("event", "status"), [("message.queued", Status.QUEUED),
                                               ("message.sent", Status.SENT),
                                               ("message.failed", Status.FAILED)])
def test_smsgist_events_without_status(event: str, status: Status) -> None:
    body = json.dumps({"event": event, "message_id": "m"}).encode()
    (report,) = webhooks.parse("smsgist", body=body)
    assert report.status is status


def test_smsgist_email_events_carry_no_sms_report() -> None:
    body = json.dumps({"event": "message.opened", "message_id": "m"}).encode()
    assert webhooks.parse("smsgist", body=body) == []


@pytest.mark.parametrize("offset", [-301, 301])
def test_smsgist_stale_or_future_timestamp(offset: float) -> None:
    with pytest.raises(WebhookError, match="stale"):
        webhooks.parse("smsgist", body=GIST_BODY, headers=sign_gist(GIST_BODY), secret=SECRET,
                       clock=lambda: NOW - offset)


def test_smsgist_window_edge_is_accepted() -> None:
    assert webhooks.parse("smsgist", body=GIST_BODY, headers=sign_gist(GIST_BODY),
                          secret=SECRET, clock=lambda: NOW + 300)


@pytest.mark.parametrize("mutate", [
    lambda h: {k: v for k, v in h.items() if k != "X-SMSGist-Signature"},
    lambda h: {k: v for k, v in h.items() if k != "X-SMSGist-Timestamp"},
    lambda h: {**h, "X-SMSGist-Signature": h["X-SMSGist-Signature"][7:]},
    lambda h: {**h, "X-SMSGist-Timestamp": str(int(NOW) + 1)},
    lambda h: {**h, "X-SMSGist-Timestamp": "soon"},
])
def test_smsgist_bad_signatures(mutate: object) -> None:
    headers = mutate(sign_gist(GIST_BODY))  # type: ignore[operator]
    with pytest.raises(WebhookError):
        webhooks.parse("smsgist", body=GIST_BODY, headers=headers, secret=SECRET,
                       clock=lambda: NOW)


def test_unknown_provider_and_bad_arguments() -> None:
    with pytest.raises(WebhookError, match=r"gosms\.ge"):
        webhooks.parse("gosms.ge", body=b"{}")
    with pytest.raises(WebhookError):
        webhooks.parse("smsgist", body=12)  # type: ignore[arg-type]
    with pytest.raises(WebhookError):
        webhooks.parse("smsgist", body=GIST_BODY, secret="")


# -- fuzzing ----------------------------------------------------------------------------------
text = st.text(max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    provider=st.sampled_from([*sorted(webhooks.PROVIDERS), "nope"]),
    body=st.one_of(st.binary(max_size=200), text.map(str.encode),
                   st.text(st.characters(codec=None, exclude_categories=()), max_size=20),
                   st.sampled_from(["\udc80", '{"id": "\ud800"}']),
                   st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * (n % 3)),
                   st.dictionaries(text, st.one_of(text, st.integers(), st.none(),
                                                   st.booleans()), max_size=6)
                   .map(lambda d: json.dumps(d).encode()),
                   st.dictionaries(st.sampled_from(["reference", "status", "token",
                                                    "timestamp"]) | text, text, max_size=4)
                   .map(lambda d: urllib.parse.urlencode(d).encode())),
    headers=st.dictionaries(st.sampled_from(["X-Signature", "X-SMSGist-Signature",
                                             "X-SMSGist-Timestamp", "Content-Type"]) | text,
                            text | st.just("application/x-www-form-urlencoded"), max_size=4),
    query=st.one_of(text, st.dictionaries(st.sampled_from(
        ["reference", "status", "destination", "timestamp", "token", "reason"]) | text,
        text, max_size=6), st.none()),
    secret=st.one_of(st.none(), st.just(SECRET), st.sampled_from(["\ud800", "k\udfffey"]),
                     st.text(st.characters(codec=None, exclude_categories=()), min_size=1,
                             max_size=4)),
)
def test_anything_yields_reports_or_webhook_error(provider: str, body: bytes,
                                                  headers: dict[str, str], query: object,
                                                  secret: str | None) -> None:
    try:
        reports = webhooks.parse(provider, body=body, headers=headers,
                                 query=query, secret=secret)  # type: ignore[arg-type]
    except WebhookError:
        return
    assert all(isinstance(r, DeliveryReport) for r in reports)


# -- the WSGI app, served for real ------------------------------------------------------------
class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve_app() -> Iterator[object]:
    servers: list[wsgiref.simple_server.WSGIServer] = []

    def start(app: object) -> str:
        server = wsgiref.simple_server.make_server("127.0.0.1", 0, app,  # type: ignore[arg-type]
                                                   handler_class=_Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_wsgi_app_over_real_sockets(serve_app: object) -> None:
    received: list[DeliveryReport] = []
    gist = serve_app(webhooks.wsgi_app("smsgist", received.append, SECRET,  # type: ignore[operator]
                                       clock=lambda: NOW))
    ok = requests.post(gist + "/sms/hook", data=GIST_BODY, timeout=5,
                       headers={**sign_gist(GIST_BODY), "Content-Type": "application/json"})
    assert (ok.status_code, ok.text) == (200, "OK")
    bad = requests.post(gist + "/sms/hook", data=GIST_BODY, timeout=5,
                        headers=sign_gist(GIST_BODY, secret="wrong"))
    assert bad.status_code == 401
    junk = requests.post(gist + "/sms/hook", data=b"[]", timeout=5,
                         headers=sign_gist(b"[]"))
    assert junk.status_code == 400
    assert [r.message_id for r in received] == ["msg_123"]

    office: list[DeliveryReport] = []
    url = serve_app(webhooks.wsgi_app("smsoffice.ge", office.append, SECRET))  # type: ignore[operator]
    reply = requests.get(url + "/cb", timeout=5, params={
        "reference": "r1", "status": "Delivered", "destination": "995577123456",
        "timestamp": "20260101120000", "token": SECRET})
    assert (reply.status_code, reply.text) == (200, "OK")  # SMSOffice wants exactly OK
    assert office[0].recipient == "+995577123456"

    ro: list[DeliveryReport] = []
    url = serve_app(webhooks.wsgi_app("gosms.ro", ro.append, SECRET))  # type: ignore[operator]
    assert requests.post(url, data=RO_BODY, headers=sign_ro(RO_BODY), timeout=5).ok
    assert ro[0].message_id == "dea3535d-2b1e"


def test_wsgi_app_handler_failure_is_500(serve_app: object) -> None:
    def broken(report: DeliveryReport) -> None:
        raise RuntimeError("database down")

    url = serve_app(webhooks.wsgi_app("gosms.ro", broken))  # type: ignore[operator]
    assert requests.post(url, data=RO_BODY, timeout=5).status_code == 500


def test_wsgi_app_unknown_provider() -> None:
    with pytest.raises(WebhookError):
        webhooks.wsgi_app("gosms.ge", print)


def test_webhooks_reachable_from_the_package() -> None:
    assert smsgate.webhooks.parse is webhooks.parse


# -- SMSOffice.ge timestamp: the assumption, as visible constants ------------------------------
def test_smsoffice_timestamp_is_read_as_24_hour_georgian_time() -> None:
    """The document: "timestamp Delivery date in format yyyyMMddhhmmss", example
    "timestamp=20130501120202". No zone is given, and ``hh`` is a 12-hour clock in .NET
    notation with no AM/PM marker: smsgate reads 24-hour Georgian time (UTC+4), the only
    reading that can represent an afternoon, and keeps the raw value."""
    assert webhooks.SMSOFFICE_TIMESTAMP_FORMAT == "%Y%m%d%H%M%S"
    assert webhooks.SMSOFFICE_TIMEZONE.utcoffset(None) == dt.timedelta(hours=4)
    assert webhooks.GEORGIA is webhooks.SMSOFFICE_TIMEZONE  # the former name still works
    (example,) = webhooks.parse("smsoffice.ge", query="reference=12345678&status=delivered"
                                "&reason=&destination=995577123456&timestamp=20130501120202")
    assert example.timestamp == dt.datetime(2013, 5, 1, 12, 2, 2,
                                            tzinfo=webhooks.SMSOFFICE_TIMEZONE)
    (afternoon,) = webhooks.parse("smsoffice.ge", query={
        "reference": "r", "status": "Delivered", "timestamp": "20260301154500"})
    assert afternoon.timestamp == dt.datetime(2026, 3, 1, 11, 45, tzinfo=dt.timezone.utc)
    assert afternoon.raw["timestamp"] == "20260301154500"  # the raw value is kept


# -- SMSOffice.ge token: exact, constant time; form bodies -------------------------------------
MIXED_SECRET = "Tok-EN_s3cret"


@pytest.mark.parametrize("given", [MIXED_SECRET.lower(), MIXED_SECRET.upper(),
                                   f" {MIXED_SECRET}", f"{MIXED_SECRET} ", f"{MIXED_SECRET}\n",
                                   MIXED_SECRET[:-1], MIXED_SECRET + "x", ""])
def test_smsoffice_token_is_compared_exactly(given: str) -> None:
    query = {"reference": "r", "status": "Delivered", "token": given}
    with pytest.raises(WebhookError, match="token"):
        webhooks.parse("smsoffice.ge", query=query, secret=MIXED_SECRET)
    (report,) = webhooks.parse("smsoffice.ge", query={**query, "token": MIXED_SECRET},
                               secret=MIXED_SECRET)
    assert report.message_id == "r"


def test_smsoffice_token_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)
    webhooks.parse("smsoffice.ge", query={"reference": "r", "status": "Delivered",
                                          "token": MIXED_SECRET}, secret=MIXED_SECRET)
    assert compared == [(MIXED_SECRET.encode(), MIXED_SECRET.encode())]


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_smsoffice_form_body_posted_to_a_token_url_is_read() -> None:
    body = "reference=ref-7&status=Undelivered&reason=Absent&destination=995577123456"
    (report,) = webhooks.parse("smsoffice.ge", query=f"token={SECRET}", body=body,
                               headers=FORM, secret=SECRET)
    assert (report.message_id, report.status, report.recipient, report.error) == (
        "ref-7", Status.FAILED, "+995577123456", "Absent")
    with pytest.raises(WebhookError, match="twice"):  # query and form disagree
        webhooks.parse("smsoffice.ge", query=f"token={SECRET}&reference=other", body=body,
                       headers=FORM, secret=SECRET)
    with pytest.raises(WebhookError, match="reference and status"):  # JSON is not a form
        webhooks.parse("smsoffice.ge", query=f"token={SECRET}", body=body,
                       headers={"Content-Type": "application/json"}, secret=SECRET)
    with pytest.raises(WebhookError, match="form"):
        webhooks.parse("smsoffice.ge", query=f"token={SECRET}", body=b"reference=\xff",
                       headers=FORM, secret=SECRET)


# -- hostile bodies: deep JSON -----------------------------------------------------------------
def nest(levels: int) -> object:
    """A list ``levels`` deep."""
    nested: object = 1
    for _ in range(levels):
        nested = [nested]
    return nested


@pytest.mark.parametrize("provider", ["gosms.ro", "smsgist"])
@pytest.mark.parametrize("body", [
    b"[" * 200_000,
    b"[" * 5_000 + b"]" * 5_000,
    json.dumps({"id": "1", "status": "delivered", "event": "message.delivered",
                "message_id": "m", "nested": nest(webhooks.MAX_DEPTH)}).encode(),
], ids=["unclosed", "balanced", "just-over-the-limit"])
def test_deeply_nested_json_is_a_webhook_error(provider: str, body: bytes) -> None:
    with pytest.raises(WebhookError, match="nested deeper"):
        webhooks.parse(provider, body=body)


def test_json_at_the_depth_limit_is_read() -> None:
    body = json.dumps({"id": "1", "status": "delivered",
                       "extra": nest(webhooks.MAX_DEPTH - 1)}).encode()
    (report,) = webhooks.parse("gosms.ro", body=body)
    assert report.message_id == "1"


# -- the WSGI app against hostile requests, over real sockets ---------------------------------
def raw_request(base: str, head: str, body: bytes = b"") -> int:
    """Send a hand-written HTTP/1.0 request; the status code of the reply (bounded wait)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST /hook?x=1 HTTP/1.0\r\nHost: hooks\r\n{head}\r\n".encode() + body)
        reply = b""
        while chunk := sock.recv(65536):  # HTTP/1.0: the server closes when it is done
            reply += chunk
    return int(reply.split(b" ", 2)[1])


ODD_LENGTHS = [
    ("-1", 400), ("-99999", 400), ("abc", 400), ("1e3", 400), ("+5", 400), ("1_0", 400),
    ("0x10", 400), ("99999999999999999999999999", 413), (str(webhooks.MAX_BODY + 1), 413),
]


def test_wsgi_app_refuses_odd_content_length_without_reading(serve_app: object) -> None:
    received: list[DeliveryReport] = []
    url = serve_app(webhooks.wsgi_app("gosms.ro", received.append))  # type: ignore[operator]
    # A body follows but the connection stays open: an app that trusted "-1" would read
    # until the client hung up, and the request would time out instead of being answered.
    answers = [(length, raw_request(url, f"Content-Length: {length}\r\n", RO_BODY))
               for length, _ in ODD_LENGTHS]
    assert answers == ODD_LENGTHS
    assert received == []
    assert raw_request(url, f"Content-Length: {len(RO_BODY)}\r\n", RO_BODY) == 200


def test_wsgi_app_answers_deep_json_with_400_not_500(serve_app: object) -> None:
    received: list[DeliveryReport] = []
    url = serve_app(webhooks.wsgi_app("gosms.ro", received.append, SECRET))  # type: ignore[operator]
    deep = b"[" * 500_000  # under MAX_BODY, far over any parser's stack
    reply = requests.post(url, data=deep, headers=sign_ro(deep), timeout=10)
    assert reply.status_code == 400
    assert "nested" in reply.text
    assert received == []


def test_wsgi_app_reads_a_form_posted_to_the_token_url(serve_app: object) -> None:
    office: list[DeliveryReport] = []
    url = serve_app(webhooks.wsgi_app("smsoffice.ge", office.append, SECRET))  # type: ignore[operator]
    form = {"reference": "r9", "status": "Delivered", "destination": "995577123456",
            "timestamp": "20260101153000"}
    reply = requests.post(f"{url}/cb?token={SECRET}", data=form, timeout=5)
    assert (reply.status_code, reply.text) == (200, "OK")
    assert office[0].message_id == "r9"
    assert office[0].timestamp == dt.datetime(2026, 1, 1, 11, 30, tzinfo=dt.timezone.utc)
    wrong = requests.post(f"{url}/cb?token={SECRET.upper()}", data=form, timeout=5)
    assert wrong.status_code == 401 and len(office) == 1
