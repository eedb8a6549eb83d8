"""SMSGist adapter: envelope, bearer token (ready or from a factory), idempotency, retry."""

from __future__ import annotations

import json
import logging
import traceback
from decimal import Decimal

import pytest
import requests
import responses
from urllib3.exceptions import ProtocolError

import smsgate
from smsgate import SmsGist, Status
from smsgate.providers.smsgist import SMSGIST_ERRORS

BASE = "https://api.smsgist.com"
CLIENT = "client-canary-3456"
TOKEN = "token-canary-7890"

# The documented replies (smsgist.com/docs/sms).
SEND_OK = {
    "status": "success", "message": "SMS queued for sending successfully",
    "data": {
        "message_id": "9b1deb4d-3b7d-4b2a-9d1e-4c7f3a2b9d1e", "status": "queued",
        "recipients_count": 2, "segments": 1, "total_cost": 0.06, "cost_per_unit": 0.03,
        "recipients": [{"recipient_id": "a1b2c3d4", "recipient": "+233245972246"},
                       {"recipient_id": "b2c3d4e5", "recipient": "+233201234567"}],
    },
}
STATUS_OK = {
    "status": "success", "message": "Action performed successfully",
    "data": {
        "message_id": "9b1deb4d-3b7d-4b2a-9d1e-4c7f3a2b9d1e", "service": "sms",
        "status": "sent", "total_recipients": 2, "delivered": 1, "pending": 0, "failed": 1,
        "sent_at": "2026-03-21T10:28:00Z",
        "recipients": [
            {"recipient_id": "a1b2c3d4", "recipient": "+233245972246", "send_status": "sent",
             "delivery_status": "DELIVERED", "delivered_at": "2026-03-21T10:30:15Z",
             "error_message": None},
            {"recipient_id": "b2c3d4e5", "recipient": "+233201234567", "send_status": "failed",
             "delivery_status": "FAILED", "delivered_at": None,
             "error_message": "Number not reachable"},
        ],
    },
}
RETRY_OK = {
    "status": "success", "message": "Message re-queued successfully",
    "data": {"message_id": "new-uuid-for-retry",
             "original_message_id": "9b1deb4d-3b7d-4b2a-9d1e-4c7f3a2b9d1e",
             "status": "queued", "recipients_count": 1, "total_cost": 0.03},
}


@pytest.fixture
def api() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def gist() -> SmsGist:
    return SmsGist(CLIENT, TOKEN, sender="MyBrand")


def body(api: responses.RequestsMock, index: int = -1) -> dict:
    return json.loads(api.calls[index].request.body)


def test_send_exact_headers_body_and_result(api: responses.RequestsMock, gist: SmsGist) -> None:
    api.post(f"{BASE}/api/sms/send", status=201, json=SEND_OK)
    result = gist.send(["0245972246", "233201234567"], "Your order #1234 has been confirmed.")
    request = api.calls[0].request
    assert request.headers["X-Client-Id"] == CLIENT
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    key = request.headers["X-Idempotency-Key"]
    assert len(key) == 32
    assert body(api) == {"recipients": ["+233245972246", "+233201234567"],
                         "message": "Your order #1234 has been confirmed.",
                         "route": "regular", "senderId": "MyBrand"}
    assert result.message_id == "9b1deb4d-3b7d-4b2a-9d1e-4c7f3a2b9d1e"
    assert (result.segments, result.cost, result.currency) == (1, Decimal("0.06"), "GHS")
    assert result.idempotency_key == key
    assert [r.phone for r in result.recipients] == ["+233245972246", "+233201234567"]
    assert result.ok


def test_priority_routes_as_otp(api: responses.RequestsMock, gist: SmsGist) -> None:
    api.post(f"{BASE}/api/sms/send", status=201, json=SEND_OK)
    gist.send("+233245972246", "Code 482916", priority=True, extra={"campaign": "x"})
    assert body(api)["route"] == "otp"
    assert body(api)["campaign"] == "x"


def test_sender_goes_in_sender_id_camel_case(api: responses.RequestsMock,
                                             gist: SmsGist) -> None:
    """The only spelling in SMSGist's document: ``client.sms.send({recipients: [...],
    message: '...', senderId: 'MyBrand'})``, whose other keys are the REST field names."""
    api.post(f"{BASE}/api/sms/send", status=201, json=SEND_OK)
    gist.send("+233245972246", "Hi")
    assert body(api)["senderId"] == "MyBrand"
    assert "sender_id" not in body(api)


def test_sender_field_can_be_renamed_without_extra(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/api/sms/send", status=201, json=SEND_OK)
    gist = SmsGist(CLIENT, TOKEN, sender="MyBrand", sender_field="sender_id")
    gist.send("+233245972246", "Hi")
    assert body(api)["sender_id"] == "MyBrand" and "senderId" not in body(api)
    # ...and through a provider URL, whose options are constructor keywords.
    from_url = smsgate.from_url(
        f"smsgist://{CLIENT}:{TOKEN}@?sender=MyBrand&sender_field=from"
    )
    assert isinstance(from_url, SmsGist) and from_url.sender_field == "from"
    from_url.send("+233245972246", "Hi")
    assert body(api)["from"] == "MyBrand"
    # The renamed field is owned: extra cannot set it behind the sender option's back.
    with pytest.raises(smsgate.ValidationError, match="extra may not set"):
        from_url.send("+233245972246", "Hi", extra={"from": "Other"})


@pytest.mark.parametrize("field", ["", " ", "message", "Recipients", "route", " senderId", 3])
def test_sender_field_must_be_a_free_name(field: object) -> None:
    with pytest.raises(smsgate.ConfigurationError, match="sender_field"):
        SmsGist(CLIENT, TOKEN, sender_field=field)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["recipients", "message", "route", "senderId", "SENDERID"])
def test_extra_may_not_replace_owned_fields(api: responses.RequestsMock, gist: SmsGist,
                                            field: str) -> None:
    """``recipients``, ``message``, ``route`` and the sender field are smsgate's to write:
    ``extra`` naming one is refused before any request."""
    with pytest.raises(smsgate.ValidationError, match="extra may not set"):
        gist.send("+233245972246", "Hi", extra={field: ["+233201234567"]})
    assert len(api.calls) == 0


def test_caller_idempotency_key_is_sent_and_reused(api: responses.RequestsMock,
                                                   gist: SmsGist) -> None:
    # What requests raises when the peer resets the connection after the request went out.
    aborted = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    api.post(f"{BASE}/api/sms/send", body=requests.ConnectionError(aborted))
    api.post(f"{BASE}/api/sms/send", status=201, json=SEND_OK)
    with pytest.raises(smsgate.DeliveryUnknown) as info:
        gist.send("+233245972246", "Order #5678 has shipped", idempotency_key="order-5678")
    assert info.value.may_have_sent is True
    assert info.value.retryable is True  # SMSGist dedupes by the key: a retry is safe
    result = gist.send("+233245972246", "Order #5678 has shipped", idempotency_key="order-5678")
    keys = [c.request.headers["X-Idempotency-Key"] for c in api.calls]
    assert keys == ["order-5678", "order-5678"]
    assert result.idempotency_key == "order-5678"


@pytest.mark.parametrize("key", [" 0", "key ", "", "a\nb", "ключ", "x" * 256])
def test_keys_unfit_for_a_header_are_refused_before_sending(
    api: responses.RequestsMock, gist: SmsGist, key: str
) -> None:
    # Found by the input fuzzer: " 0" used to fail in the transport as a ConnectError.
    with pytest.raises(smsgate.ValidationError, match="idempotency_key"):
        gist.send("+233245972246", "Hi", idempotency_key=key)
    assert len(api.calls) == 0


def test_generated_keys_differ_per_send(api: responses.RequestsMock, gist: SmsGist) -> None:
    api.post(f"{BASE}/api/sms/send", status=201, json=SEND_OK)
    gist.send("+233245972246", "a")
    gist.send("+233245972246", "b")
    keys = {c.request.headers["X-Idempotency-Key"] for c in api.calls}
    assert len(keys) == 2


def test_recipient_with_error_is_rejected(api: responses.RequestsMock, gist: SmsGist) -> None:
    reply = json.loads(json.dumps(SEND_OK))
    reply["data"]["recipients"][1]["error"] = "Invalid number"
    api.post(f"{BASE}/api/sms/send", status=201, json=reply)
    result = gist.send(["+233245972246", "+233201234567"], "Hi")
    assert [r.status for r in result.recipients] == [Status.QUEUED, Status.REJECTED]
    assert result.recipients[1].error == "Invalid number"
    assert not result.ok


def test_status_per_recipient(api: responses.RequestsMock, gist: SmsGist) -> None:
    api.get(f"{BASE}/api/message/9b1deb4d-3b7d-4b2a-9d1e-4c7f3a2b9d1e/status", json=STATUS_OK)
    result = gist.status("9b1deb4d-3b7d-4b2a-9d1e-4c7f3a2b9d1e")
    assert result.status is Status.SENT
    first, second = result.recipients
    assert (first.phone, first.status) == ("+233245972246", Status.DELIVERED)
    assert first.time is not None and first.time.isoformat() == "2026-03-21T10:30:15+00:00"
    assert (second.status, second.error) == (Status.FAILED, "Number not reachable")
    only = gist.status("9b1deb4d-3b7d-4b2a-9d1e-4c7f3a2b9d1e", recipient="0201234567")
    assert [r.phone for r in only.recipients] == ["+233201234567"]


def test_pending_is_sent_to_the_carrier(api: responses.RequestsMock, gist: SmsGist) -> None:
    """"PENDING: Message sent to carrier, waiting for delivery confirmation": smsgate's
    ``sent``, not ``queued`` (changed by issue 14)."""
    reply = json.loads(json.dumps(STATUS_OK))
    reply["data"]["recipients"][0].update(delivery_status="PENDING", delivered_at=None)
    api.get(f"{BASE}/api/message/m1/status", json=reply)
    result = gist.status("m1")
    assert [r.status for r in result.recipients] == [Status.SENT, Status.FAILED]


def test_failed_send_status_wins_and_unknown_delivery_falls_back(
    api: responses.RequestsMock, gist: SmsGist
) -> None:
    """``send_status`` is sent/failed; a recipient whose send failed is failed whatever its
    delivery word, and one without a delivery word is what its send word says."""
    reply = json.loads(json.dumps(STATUS_OK))
    reply["data"]["recipients"][0].update(send_status="failed", delivery_status="PENDING")
    reply["data"]["recipients"][1].update(send_status="queued", delivery_status=None)
    api.get(f"{BASE}/api/message/m1/status", json=reply)
    assert [r.status for r in gist.status("m1").recipients] == [Status.FAILED, Status.QUEUED]


@pytest.mark.parametrize("message_id", [".", "..", " .. ", chr(0xD800)])
def test_ids_that_would_leave_their_path_segment_are_refused(
    api: responses.RequestsMock, gist: SmsGist, message_id: str
) -> None:
    """``GET /api/message/{id}/status`` and ``POST /api/message/{id}/retry``: ``.`` and
    ``..`` would walk the path (``/api/message/../status``), so they are refused before any
    request, as is an id UTF-8 cannot carry."""
    with pytest.raises(smsgate.ValidationError):
        gist.status(message_id)
    with pytest.raises(smsgate.ValidationError):
        gist.retry(message_id)
    assert len(api.calls) == 0


@pytest.mark.parametrize(("message_id", "segment"), [
    ("a/../../balance", "a%2F..%2F..%2Fbalance"),
    ("x?y#z", "x%3Fy%23z"),
    ("%2e%2e", "%252e%252e"),
    ("...", "..."),
    ("ид", "%D0%B8%D0%B4"),
])
def test_ids_are_quoted_into_one_segment(api: responses.RequestsMock, gist: SmsGist,
                                         message_id: str, segment: str) -> None:
    api.get(f"{BASE}/api/message/{segment}/status", json=STATUS_OK)
    api.post(f"{BASE}/api/message/{segment}/retry", json=RETRY_OK)
    gist.status(message_id)
    gist.retry(message_id)
    paths = [c.request.path_url for c in api.calls]
    assert paths == [f"/api/message/{segment}/status", f"/api/message/{segment}/retry"]


@pytest.mark.parametrize("reply", [
    {"message": "ok", "data": SEND_OK["data"]},  # no status
    {"status": "queued", "message": "ok", "data": SEND_OK["data"]},
    {"status": "success", "message": "ok", "data": None},
    {"status": "success", "message": "ok", "data": {**SEND_OK["data"], "message_id": {"a": 1}}},
    {"status": "success", "message": "ok", "data": {**SEND_OK["data"], "message_id": []}},
])
def test_a_success_must_be_stated_with_a_scalar_id(api: responses.RequestsMock,
                                                   gist: SmsGist,
                                                   reply: dict[str, object]) -> None:
    """"All responses: { "status": "success" | "error", ... }" and ``message_id`` is a UUID
    string: anything else is not an acceptance."""
    api.post(f"{BASE}/api/sms/send", status=201, json=reply)
    with pytest.raises(smsgate.InvalidResponse) as info:
        gist.send("+233245972246", "Hi")
    assert info.value.may_have_sent is True
    api.get(f"{BASE}/api/message/m1/status", json=reply)
    with pytest.raises(smsgate.InvalidResponse):
        gist.status("m1")


@pytest.mark.parametrize("cost", ["NaN", "Infinity", "-Infinity", {"v": 1}, True])
def test_costs_must_be_finite(api: responses.RequestsMock, gist: SmsGist,
                              cost: object) -> None:
    reply = json.loads(json.dumps(SEND_OK))
    reply["data"]["total_cost"] = cost
    api.post(f"{BASE}/api/sms/send", status=201, json=reply)
    result = gist.send(["+233245972246", "+233201234567"], "Hi")
    assert result.ok and result.cost is None  # sent; the cost is unreadable, not NaN


def test_retry_returns_the_new_message(api: responses.RequestsMock, gist: SmsGist) -> None:
    api.post(f"{BASE}/api/message/9b1deb4d/retry", json=RETRY_OK)
    result = gist.retry("9b1deb4d")
    assert result.message_id == "new-uuid-for-retry"
    assert result.cost == Decimal("0.03")
    assert result.ok
    assert len(result.attempts) == 1
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(("status", "error"), sorted(
    ((s, spec.error) for s, spec in SMSGIST_ERRORS.items()), key=lambda row: str(row[0])))
def test_every_error_row(api: responses.RequestsMock, gist: SmsGist, status: int,
                         error: type) -> None:
    api.post(f"{BASE}/api/sms/send", status=status,
             json={"status": "error", "message": "Insufficient credits", "data": None})
    with pytest.raises(error) as info:
        gist.send("+233245972246", "Hi")
    assert type(info.value) is error
    assert info.value.code == status
    assert "Insufficient credits" in str(info.value)


def test_429_honours_retry_after(api: responses.RequestsMock, gist: SmsGist) -> None:
    api.post(f"{BASE}/api/sms/send", status=429, headers={"Retry-After": "30"},
             json={"status": "error", "message": "slow down", "data": None})
    with pytest.raises(smsgate.RateLimited) as info:
        gist.send("+233245972246", "Hi")
    assert info.value.retry_after == 30.0


def test_unreadable_reply_to_a_keyed_send_is_retryable(api: responses.RequestsMock,
                                                       gist: SmsGist) -> None:
    api.post(f"{BASE}/api/sms/send", status=201, body="{broken")
    with pytest.raises(smsgate.InvalidResponse) as info:
        gist.send("+233245972246", "Hi")
    assert info.value.may_have_sent is True
    assert info.value.retryable is True  # the same key makes a repeat safe


def test_error_envelope_in_2xx(api: responses.RequestsMock, gist: SmsGist) -> None:
    api.post(f"{BASE}/api/sms/send", status=200,
             json={"status": "error", "message": "weird", "data": None})
    with pytest.raises(smsgate.ProviderError, match="weird"):
        gist.send("+233245972246", "Hi")


def test_token_factory_is_called_per_request(api: responses.RequestsMock) -> None:
    tokens = iter(["t-one-1111", "t-two-2222"])
    gist = SmsGist(CLIENT, token_factory=lambda: next(tokens))
    api.post(f"{BASE}/api/sms/send", status=201, json=SEND_OK)
    gist.send("+233245972246", "a")
    gist.send("+233245972246", "b")
    assert [c.request.headers["Authorization"] for c in api.calls] == [
        "Bearer t-one-1111", "Bearer t-two-2222"
    ]


@pytest.mark.parametrize("kwargs", [
    {"client_id": "", "token": TOKEN},
    {"client_id": CLIENT},
    {"client_id": CLIENT, "token": TOKEN, "token_factory": lambda: "x"},
    {"client_id": CLIENT, "token": ""},
    {"client_id": CLIENT, "token_factory": "not callable"},
])
def test_credentials_are_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(smsgate.ConfigurationError):
        SmsGist(**kwargs)  # type: ignore[arg-type]


def test_validation_before_any_request(api: responses.RequestsMock, gist: SmsGist) -> None:
    for call, error in [
        (lambda: gist.send("+995555123456", "Hi"), smsgate.InvalidPhoneNumber),  # not Ghana
        (lambda: gist.send("+233245972246", "a" * 1531), smsgate.MessageTooLong),
        (lambda: gist.send("+233245972246", "ა" * 671), smsgate.MessageTooLong),  # 11 parts
        (lambda: gist.send("+233245972246", "Hi", sender="Twelve Chars"), smsgate.InvalidSender),
        (lambda: gist.send("+233245972246", "Hi", urgent=True), smsgate.UnsupportedFeature),
        (lambda: gist.retry(""), smsgate.ValidationError),
    ]:
        with pytest.raises(error):
            call()
    assert len(api.calls) == 0
    api.post(f"{BASE}/api/sms/send", status=201, json=SEND_OK)
    gist.send("+233245972246", "a" * 1530, sender="ACME Corp")


def test_credentials_never_leak(api: responses.RequestsMock,
                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    gist = SmsGist(CLIENT, TOKEN)
    api.post(f"{BASE}/api/sms/send", status=401,
             json={"status": "error", "message": "Authentication failed", "data": None})
    with pytest.raises(smsgate.AuthenticationError) as info:
        gist.send("+233245972246", "Hi")
    texts = [repr(gist), str(info.value), repr(info.value),
             "".join(traceback.format_exception(info.value)), caplog.text]
    assert all(TOKEN not in t and CLIENT not in t for t in texts)
    assert isinstance(smsgate.create("smsgist", client_id=CLIENT, token=TOKEN), SmsGist)
