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
                         "route": "regular", "sender_id": "MyBrand"}
    assert result.message_id == "9b1deb4d-3b7d-4b2a-9d1e-4c7f3a2b9d1e"
    assert (result.segments, result.cost, result.currency) == (1, Decimal("0.06"), "GHS")
    assert result.idempotency_key == key
    assert [r.phone for r in result.recipients] == ["+233245972246", "+233201234567"]
    assert result.ok


def test_priority_routes_as_otp_and_extra_overrides(api: responses.RequestsMock,
                                                    gist: SmsGist) -> None:
    api.post(f"{BASE}/api/sms/send", status=201, json=SEND_OK)
    gist.send("+233245972246", "Code 482916", priority=True, extra={"senderId": "X"})
    assert body(api)["route"] == "otp"
    assert body(api)["senderId"] == "X"


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
