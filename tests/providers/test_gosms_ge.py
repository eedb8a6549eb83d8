"""GOSMS.GE adapter: exact request bodies, replies shaped like the official SDKs' fixtures."""

from __future__ import annotations

import json
import logging
import random
import traceback
from decimal import Decimal

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

import smsgate
from smsgate import GoSmsGe, Status
from smsgate.providers.gosms_ge import GOSMS_GE_ERRORS

BASE = "https://api.gosms.ge/api"
KEY = "gosms-canary-key-1234"

# Replies as the official SDKs' tests record them (PROVIDERS.md 1.3).
SENDSMS_OK = {
    "success": True, "messageId": 12345, "from": "GOSMS.GE", "to": "995555123456",
    "text": "Hello!", "sendAt": "2025-01-15T10:30:00.000Z", "balance": 99,
    "encode": "default", "segment": 1, "smsCharacters": 6,
}


def bulk_ok(numbers: list[str], start: int = 1, failed: dict[str, str] | None = None) -> dict:
    failed = failed or {}
    messages = [
        {"messageId": 0, "to": n, "success": False, "error": failed[n]} if n in failed
        else {"messageId": start + i, "to": n, "success": True}
        for i, n in enumerate(numbers)
    ]
    return {
        "success": True, "totalCount": len(numbers),
        "successCount": len(numbers) - len(failed), "failedCount": len(failed),
        "balance": 500, "from": "GOSMS.GE", "text": "Hi", "encode": "default",
        "segment": 1, "smsCharacters": 2, "messages": messages,
    }


@pytest.fixture
def api() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def gosms() -> GoSmsGe:
    return GoSmsGe(KEY, sender="GOSMS.GE")


def body(api: responses.RequestsMock, index: int = -1) -> dict:
    return json.loads(api.calls[index].request.body)


def test_send_single_exact_body(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sendsms", json=SENDSMS_OK)
    result = gosms.send("+995555123456", "Hello!")
    assert body(api) == {"api_key": KEY, "from": "GOSMS.GE", "to": "995555123456",
                         "text": "Hello!", "urgent": False}
    request = api.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    assert KEY not in request.url
    assert result.message_id == "12345"  # ids are strings in smsgate
    assert result.recipients == (
        smsgate.RecipientResult("+995555123456", Status.QUEUED, "12345"),
    )
    assert (result.segments, result.encoding, result.balance) == (1, "GSM-7", Decimal(99))
    assert result.ok and result.raw["smsCharacters"] == 6


def test_urgent_and_national_number(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sendsms", json=SENDSMS_OK)
    gosms.send("555 12 34 56", "Alert", urgent=True, sender="MyBrand")
    assert body(api)["urgent"] is True
    assert body(api)["from"] == "MyBrand"
    assert body(api)["to"] == "995555123456"


def test_unicode_encoding_is_read_loosely(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sendsms", json={**SENDSMS_OK, "encode": "Unicode", "segment": 2})
    result = gosms.send("+995555123456", "გამარჯობა")
    assert (result.encoding, result.segments) == ("UCS-2", 2)


def test_bulk_uses_sendbulk_with_an_array(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    numbers = ["995555111111", "995555222222", "995555333333"]
    api.post(f"{BASE}/sendbulk",
             json=bulk_ok(numbers, failed={"995555222222": "Blacklisted"}))
    result = gosms.send(["+" + n for n in numbers], "Hi")
    sent = body(api)
    assert sent["to"] == numbers
    assert "noSmsNumber" not in sent  # omitted entirely when unused, as the SDKs do
    assert [r.status for r in result.recipients] == [
        Status.QUEUED, Status.REJECTED, Status.QUEUED
    ]
    assert result.recipients[1].error == "Blacklisted"
    assert result.recipients[1].message_id is None
    assert result.message_id == "1"
    assert not result.ok


def test_no_sms_number_option(api: responses.RequestsMock) -> None:
    gosms = GoSmsGe(KEY, sender="Shop", no_sms_number="+995322000000")
    api.post(f"{BASE}/sendbulk", json=bulk_ok(["995555123456"]))
    gosms.send("+995555123456", "Sale!")  # one number still goes via /sendbulk
    assert body(api)["noSmsNumber"] == "995322000000"
    api.post(f"{BASE}/sendbulk", json=bulk_ok(["995555123456"]))
    gosms.send("+995555123456", "Sale!", extra={"noSmsNumber": "995322111111"})
    assert body(api)["noSmsNumber"] == "995322111111"


def test_2500_numbers_go_in_three_calls(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    numbers = [f"99555{i:07d}" for i in range(2500)]
    for start, size in ((0, 1000), (1000, 1000), (2000, 500)):
        api.post(f"{BASE}/sendbulk", json=bulk_ok(numbers[start:start + size], start + 1))
    result = gosms.send(["+" + n for n in numbers], "Hi")
    assert [len(body(api, i)["to"]) for i in range(3)] == [1000, 1000, 500]
    assert len(result.recipients) == 2500
    assert [r.phone for r in result.recipients] == ["+" + n for n in numbers]
    assert result.recipients[2499].message_id == "2500"
    assert result.ok and len(result.attempts) == 3


def test_status_normalises_case(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    for word, expected in [("DELIVERED", Status.DELIVERED), ("delivered", Status.DELIVERED),
                           ("pending", Status.QUEUED), ("IN_PROGRESS", Status.QUEUED),
                           ("failed", Status.FAILED), ("sent", Status.SENT),
                           ("Martian", Status.UNKNOWN)]:
        api.post(f"{BASE}/checksms", json={"success": True, "messageId": 12345,
                                           "to": "995555123456", "status": word})
        result = gosms.status("12345")
        assert result.status is expected, word
        assert result.raw["status"] == word
    assert body(api) == {"api_key": KEY, "messageId": 12345}
    assert result.message_id == "12345"
    assert result.recipients[0].phone == "+995555123456"


def test_balance(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sms-balance", json={"success": True, "balance": 150.5})
    balance = gosms.balance()
    assert (balance.amount, balance.unit) == (Decimal("150.5"), "credits")
    assert body(api) == {"api_key": KEY}


def test_create_sender(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sender", json={"success": True})
    assert gosms.create_sender("MyCompany") is True
    assert body(api) == {"api_key": KEY, "name": "MyCompany"}
    api.post(f"{BASE}/sender", status=400,
             json={"errorCode": 107, "message": "Sender already exists"})
    with pytest.raises(smsgate.SenderRejected) as info:
        gosms.create_sender("MyCompany")
    assert info.value.code == 107


def test_otp_send_and_verify_with_rate_limits(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/otp/send",
             json={"success": True, "hash": "abc123", "balance": 98, "to": "995555123456"},
             headers={"x-ratelimit-limit": "10", "X-RateLimit-Remaining": "9"})
    challenge = gosms.send_otp("555123456")
    assert body(api) == {"api_key": KEY, "phone": "995555123456"}
    assert (challenge.hash, challenge.phone, challenge.balance) == (
        "abc123", "+995555123456", Decimal(98)
    )
    assert challenge.rate_limit == smsgate.RateLimit(limit=10, remaining=9)

    api.post(f"{BASE}/otp/verify", json={"success": True, "verify": True},
             headers={"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "3"})
    verified = gosms.verify_otp("+995555123456", "abc123", 1234)
    assert body(api) == {"api_key": KEY, "phone": "995555123456", "hash": "abc123",
                         "code": "1234"}
    assert verified.valid is True
    assert verified.rate_limit == smsgate.RateLimit(limit=5, remaining=3)


def test_wrong_otp_code_is_not_an_exception(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/otp/verify", json={"success": True, "verify": False})
    assert gosms.verify_otp("+995555123456", "abc123", "0000").valid is False


@pytest.mark.parametrize(("code", "error"), [(109, smsgate.RateLimited),
                                             (110, smsgate.RateLimited)])
def test_otp_rate_limit_carries_retry_after(
    api: responses.RequestsMock, gosms: GoSmsGe, code: int, error: type
) -> None:
    api.post(f"{BASE}/otp/send", status=429, json={"errorCode": code, "message": "slow"},
             headers={"retry-after": "120"})
    with pytest.raises(error) as info:
        gosms.send_otp("+995555123456")
    assert info.value.retry_after == 120.0
    assert info.value.retryable is True
    assert info.value.may_have_sent is False


def test_otp_bad_input_makes_no_request(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    with pytest.raises(smsgate.InvalidPhoneNumber):
        gosms.send_otp("+40712345678")  # not Georgian
    with pytest.raises(smsgate.ValidationError):
        gosms.verify_otp("+995555123456", "", "1234")
    with pytest.raises(smsgate.ValidationError):
        gosms.verify_otp("+995555123456", "h", "")
    assert len(api.calls) == 0


def test_every_documented_code_is_in_the_table() -> None:
    assert set(GOSMS_GE_ERRORS) == set(range(100, 114))
    expected = {
        100: smsgate.AuthenticationError, 101: smsgate.SenderRejected,
        102: smsgate.InsufficientFunds, 103: smsgate.InvalidRequest, 104: smsgate.NotFound,
        105: smsgate.RecipientRejected, 107: smsgate.SenderRejected,
        109: smsgate.RateLimited, 110: smsgate.RateLimited, 111: smsgate.OtpExpired,
        112: smsgate.OtpAlreadyUsed, 113: smsgate.InvalidRequest,
    }
    for code, error in expected.items():
        assert GOSMS_GE_ERRORS[code].error is error, code


@pytest.mark.parametrize("code", sorted(GOSMS_GE_ERRORS))
@pytest.mark.parametrize("http_status", [200, 400])
def test_every_code_raises_its_error_even_inside_http_200(
    api: responses.RequestsMock, gosms: GoSmsGe, code: int, http_status: int
) -> None:
    api.post(f"{BASE}/sendsms", status=http_status,
             json={"errorCode": code, "message": f"error {code}"})
    with pytest.raises(GOSMS_GE_ERRORS[code].error) as info:
        gosms.send("+995555123456", "Hi")
    assert type(info.value) is GOSMS_GE_ERRORS[code].error
    assert (info.value.code, info.value.http_status) == (code, http_status)
    assert info.value.provider == "gosms.ge"
    assert info.value.may_have_sent is False


def test_unreadable_send_reply_is_not_retryable(api: responses.RequestsMock,
                                               gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sendsms", json={"success": True})  # no messageId
    with pytest.raises(smsgate.InvalidResponse) as info:
        gosms.send("+995555123456", "Hi")
    assert info.value.may_have_sent is True
    assert info.value.retryable is False  # no key: a repeat could send it twice


def test_success_false_without_code_is_a_refused_number(api: responses.RequestsMock,
                                                       gosms: GoSmsGe) -> None:
    """Both official SDKs raise only on a non-zero errorCode; otherwise ``Success`` is
    "Whether the message was sent". So ``success: false`` alone is this number not sent,
    reported on the result, not an error a gateway would fail over on (changed by issue 14:
    it used to be a generic ProviderError)."""
    api.post(f"{BASE}/sendsms", json={"success": False, "message": "nope"})
    result = gosms.send("+995555123456", "Hi")
    assert [(r.status, r.error) for r in result.recipients] == [(Status.REJECTED, "nope")]
    assert not result.ok


@pytest.mark.parametrize("reply", [
    {"messageId": 12345},  # no success stated
    {"success": "true", "messageId": 12345},
    {"success": True, "messageId": {"id": 1}},  # an id must be a scalar
    {"success": True, "messageId": [12345]},
    {"success": True, "messageId": True},
    {"success": True, "messageId": 1.5},
])
def test_a_success_must_be_stated_with_a_scalar_id(api: responses.RequestsMock,
                                                   gosms: GoSmsGe,
                                                   reply: dict[str, object]) -> None:
    """The documented result begins "success, messageId": a reply without ``success: true``
    and an integer ``messageId`` is not an acceptance (nor a refusal: it may have been
    sent)."""
    api.post(f"{BASE}/sendsms", json=reply)
    with pytest.raises(smsgate.InvalidResponse) as info:
        gosms.send("+995555123456", "Hi")
    assert info.value.may_have_sent is True


def test_money_must_be_finite(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sms-balance", body=b'{"success": true, "balance": NaN}',
             content_type="application/json")
    with pytest.raises(smsgate.InvalidResponse):
        gosms.balance()
    api.post(f"{BASE}/sms-balance", body=b'{"success": true, "balance": Infinity}',
             content_type="application/json")
    with pytest.raises(smsgate.InvalidResponse):
        gosms.balance()
    api.post(f"{BASE}/sms-balance", json={"balance": 10})  # success not stated
    with pytest.raises(smsgate.InvalidResponse):
        gosms.balance()
    api.post(f"{BASE}/sendsms", body=json.dumps({**SENDSMS_OK, "balance": "NaN"}),
             content_type="application/json")
    assert gosms.send("+995555123456", "Hi").balance is None  # sent; the balance unreadable


def test_create_sender_reply_must_say_success(api: responses.RequestsMock,
                                              gosms: GoSmsGe) -> None:
    """"Whether the sender was created": no flag is not a yes."""
    api.post(f"{BASE}/sender", json={})
    with pytest.raises(smsgate.InvalidResponse):
        gosms.create_sender("MyCompany")
    api.post(f"{BASE}/sender", json={"success": False})
    assert gosms.create_sender("MyCompany") is False


def test_status_reply_must_say_success(api: responses.RequestsMock, gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/checksms", json={"messageId": 12345, "status": "delivered"})
    with pytest.raises(smsgate.InvalidResponse):
        gosms.status("12345")
    api.post(f"{BASE}/checksms", json={"success": True, "messageId": 1, "status": 5})
    with pytest.raises(smsgate.InvalidResponse):
        gosms.status("12345")


# -- /sendbulk replies: read number by number (issue 14, item 2) ---------------------------
NUMBERS = ["995555111111", "995555222222", "995555333333"]


def bulk_reply(success: bool, messages: list[dict[str, object]]) -> dict[str, object]:
    failed = sum(1 for m in messages if m.get("success") is False)
    return {"success": success, "totalCount": len(messages),
            "successCount": len(messages) - failed, "failedCount": failed, "balance": 10,
            "messages": messages}


def test_bulk_success_false_is_read_per_number(api: responses.RequestsMock,
                                               gosms: GoSmsGe) -> None:
    """Both official SDKs treat only a non-zero errorCode as an error; the .NET README reads
    the rest per number: ``foreach (var msg in result.Messages!) if (!msg.Success)
    Console.WriteLine($"Failed: {msg.To} - {msg.Error}")``. A top-level ``success: false``
    with a ``messages`` list is such a reply."""
    api.post(f"{BASE}/sendbulk", json=bulk_reply(False, [
        {"messageId": 7, "to": NUMBERS[0], "success": True},
        {"messageId": 0, "to": NUMBERS[1], "success": False, "error": "Blacklisted"},
        {"messageId": 0, "to": NUMBERS[2], "success": False, "error": "Blacklisted"},
    ]))
    result = gosms.send(["+" + n for n in NUMBERS], "Hi")
    assert [(r.status, r.message_id, r.error) for r in result.recipients] == [
        (Status.QUEUED, "7", None),
        (Status.REJECTED, None, "Blacklisted"),
        (Status.REJECTED, None, "Blacklisted"),
    ]
    assert result.message_id == "7"
    assert not result.ok


def test_a_gateway_does_not_resend_to_numbers_gosms_refused(api: responses.RequestsMock,
                                                            gosms: GoSmsGe) -> None:
    """"Failed: {msg.To} - {msg.Error}" (e.g. "Blacklisted"): refused numbers must not be
    failed over to another provider, which would deliver to a number that opted out."""
    from smsgate.testing import MemoryProvider

    api.post(f"{BASE}/sendbulk", json=bulk_reply(False, [
        {"messageId": 0, "to": n, "success": False, "error": "Blacklisted"} for n in NUMBERS
    ]))
    backup = MemoryProvider()
    gateway = smsgate.Gateway([gosms, backup],
                              retry=smsgate.RetryPolicy(attempts=3, backoff=0.0))
    result = gateway.send(["+" + n for n in NUMBERS], "Sale!")
    assert result.provider == "gosms.ge"
    assert {r.status for r in result.recipients} == {Status.REJECTED}
    assert backup.outbox == [] and backup.calls == []
    assert len(api.calls) == 1  # and no retry on GOSMS.GE either


def test_bulk_echo_in_another_form_is_matched_by_position(api: responses.RequestsMock,
                                                          gosms: GoSmsGe) -> None:
    """Each item is ``{messageId, to, success, error?}``; when the echoed ``to`` is written
    differently from what was sent but the counts agree, the items follow the order sent."""
    api.post(f"{BASE}/sendbulk", json=bulk_reply(True, [
        {"messageId": 1, "to": "555111111", "success": True},
        {"messageId": 0, "to": "555222222", "success": False, "error": "Blacklisted"},
        {"messageId": 3, "to": "555333333", "success": True},
    ]))
    result = gosms.send(["+" + n for n in NUMBERS], "Hi")
    assert [r.status for r in result.recipients] == [
        Status.QUEUED, Status.REJECTED, Status.QUEUED
    ]
    assert [r.message_id for r in result.recipients] == ["1", None, "3"]


def test_bulk_position_is_not_trusted_when_the_order_differs(api: responses.RequestsMock,
                                                             gosms: GoSmsGe) -> None:
    """Equal counts, but the echoes that do match show the reply is not in the order sent:
    reading the odd item by position would hand one number another's verdict, so the number
    without its own item is UNKNOWN."""
    api.post(f"{BASE}/sendbulk", json=bulk_reply(True, [
        {"messageId": 3, "to": NUMBERS[2], "success": True},
        {"messageId": 0, "to": "555222222", "success": False, "error": "Blacklisted"},
        {"messageId": 1, "to": NUMBERS[0], "success": True},
    ]))
    result = gosms.send(["+" + n for n in NUMBERS], "Hi")
    assert [r.status for r in result.recipients] == [
        Status.QUEUED, Status.UNKNOWN, Status.QUEUED
    ]
    assert [r.message_id for r in result.recipients] == ["1", None, "3"]


def test_bulk_echo_matched_by_number_whatever_the_order(api: responses.RequestsMock,
                                                        gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sendbulk", json=bulk_reply(True, [
        {"messageId": 3, "to": NUMBERS[2], "success": True},
        {"messageId": 0, "to": "+" + NUMBERS[1], "success": False, "error": "Blacklisted"},
        {"messageId": 1, "to": NUMBERS[0], "success": True},
    ]))
    result = gosms.send(["+" + n for n in NUMBERS], "Hi")
    assert [r.message_id for r in result.recipients] == ["1", None, "3"]
    assert result.recipients[1].status is Status.REJECTED


def test_bulk_unmatched_numbers_are_unknown_not_unsent(api: responses.RequestsMock,
                                                       gosms: GoSmsGe) -> None:
    """When neither the echoed numbers nor the counts agree, the numbers without an item may
    have been sent: UNKNOWN (never REJECTED, which would invite a resend)."""
    api.post(f"{BASE}/sendbulk", json=bulk_reply(False, [
        {"messageId": 1, "to": NUMBERS[0], "success": True},
        {"messageId": 0, "to": "995000000000", "success": False, "error": "x"},
    ]))
    result = gosms.send(["+" + n for n in NUMBERS], "Hi")
    assert [r.status for r in result.recipients] == [
        Status.QUEUED, Status.UNKNOWN, Status.UNKNOWN
    ]
    assert all(r.status is not Status.REJECTED for r in result.recipients)


def test_bulk_item_without_a_success_flag_is_unknown(api: responses.RequestsMock,
                                                     gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sendbulk", json=bulk_reply(True, [
        {"messageId": 1, "to": NUMBERS[0], "success": True},
        {"messageId": 2, "to": NUMBERS[1]},
        {"messageId": 3, "to": NUMBERS[2], "success": "yes"},
    ]))
    result = gosms.send(["+" + n for n in NUMBERS], "Hi")
    assert [r.status for r in result.recipients] == [
        Status.QUEUED, Status.UNKNOWN, Status.UNKNOWN
    ]


def test_bulk_error_code_is_still_an_error(api: responses.RequestsMock,
                                           gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sendbulk", json={"success": False, "errorCode": 102,
                                       "message": "Insufficient balance"})
    with pytest.raises(smsgate.InsufficientFunds) as info:
        gosms.send(["+" + n for n in NUMBERS], "Hi")
    assert info.value.may_have_sent is False


def test_bulk_success_false_without_a_list_is_unknown(api: responses.RequestsMock,
                                                      gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sendbulk", json={"success": False, "message": "?"})
    with pytest.raises(smsgate.InvalidResponse) as info:
        gosms.send(["+" + n for n in NUMBERS], "Hi")
    assert info.value.may_have_sent is True


@pytest.mark.parametrize("field", ["api_key", "to", "To", "text", "from", "urgent"])
def test_extra_may_not_replace_owned_fields(api: responses.RequestsMock, gosms: GoSmsGe,
                                            field: str) -> None:
    with pytest.raises(smsgate.ValidationError, match="extra may not set"):
        gosms.send("+995555123456", "Hi", extra={field: "995599000000"})
    assert len(api.calls) == 0


def test_non_json_5xx_is_provider_unavailable(api: responses.RequestsMock,
                                              gosms: GoSmsGe) -> None:
    api.post(f"{BASE}/sendsms", status=500, body="Server Error",
             content_type="text/html")
    with pytest.raises(smsgate.ProviderUnavailable) as info:
        gosms.send("+995555123456", "Hi")
    assert info.value.retryable is True


def test_validation_before_any_request(api: responses.RequestsMock) -> None:
    gosms = GoSmsGe(KEY)
    cases = [
        (lambda: gosms.send("+995555123456", "Hi"), smsgate.InvalidSender),  # sender required
        (lambda: gosms.send("+995555123456", "a" * 919, sender="S"), smsgate.MessageTooLong),
        (lambda: gosms.send("+995555123456", "ა" * 403, sender="S"), smsgate.MessageTooLong),
        (lambda: gosms.send("+40712345678", "Hi", sender="S"), smsgate.InvalidPhoneNumber),
        (lambda: gosms.send("+995555123456", "Hi", sender="S", flash=True),
         smsgate.UnsupportedFeature),
        (lambda: gosms.send("+995555123456", "Hi", sender="S", reference="r"),
         smsgate.UnsupportedFeature),
        (lambda: gosms.send("+995555123456", "Hi", sender="TwelveLetters"),
         smsgate.InvalidSender),
    ]
    for call, error in cases:
        with pytest.raises(error):
            call()
    assert len(api.calls) == 0
    # The documented maxima themselves are accepted.
    api.post(f"{BASE}/sendsms", json=SENDSMS_OK)
    gosms.send("+995555123456", "a" * 918, sender="S")
    gosms.send("+995555123456", "ა" * 402, sender="S")


def test_missing_api_key_is_a_configuration_error() -> None:
    with pytest.raises(smsgate.ConfigurationError):
        GoSmsGe("")
    with pytest.raises(smsgate.ConfigurationError):
        smsgate.create("gosms.ge")


def test_registry_name(api: responses.RequestsMock) -> None:
    provider = smsgate.create("gosms.ge", api_key=KEY, sender="S")
    assert isinstance(provider, GoSmsGe)
    assert isinstance(provider, smsgate.SmsProvider)
    assert "gosms.ge" in smsgate.available_providers()


def test_key_never_leaks(api: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    gosms = GoSmsGe(KEY, sender="S")
    api.post(f"{BASE}/sendsms", status=401, json={"errorCode": 100, "message": "bad key"})
    api.post(f"{BASE}/sms-balance", status=502, body="bad gateway")
    texts = [repr(gosms), str(gosms)]
    for call in (lambda: gosms.send("+995555123456", "Hi"), gosms.balance):
        with pytest.raises(smsgate.ProviderError) as info:
            call()
        texts += [str(info.value), repr(info.value),
                  "".join(traceback.format_exception(info.value))]
    texts.append(caplog.text)
    assert KEY in api.calls[0].request.body.decode()  # it was sent: the check is meaningful
    assert all(KEY not in text for text in texts)


@given(st.lists(st.sampled_from(["ok", "refused", "no flag", "missing", "odd echo"]),
                min_size=2, max_size=8), st.randoms(use_true_random=False))
def test_bulk_reading_never_calls_a_number_refused_without_its_own_item(
    kinds: list[str], rng: random.Random
) -> None:
    """Whatever the reply's order and echoes, a number with its own item has that item's
    status, a number without one is UNKNOWN, and a number whose echo is written differently
    is never REJECTED (here its item says ``success: true``): it is read by position only
    when the reply evidently keeps the order sent."""
    numbers = [f"99555500{i:04d}" for i in range(len(kinds))]
    items: list[dict[str, object]] = []
    for number, kind in zip(numbers, kinds, strict=True):
        if kind == "missing":
            continue
        to = number[3:] if kind == "odd echo" else number
        item: dict[str, object] = {"messageId": int(number[-4:]) + 1, "to": to}
        if kind != "no flag":
            item["success"] = kind != "refused"
        items.append(item)
    rng.shuffle(items)
    gosms = GoSmsGe(KEY, sender="S")
    with responses.RequestsMock() as api:
        api.post(f"{BASE}/sendbulk", json={"success": False, "messages": items})
        result = gosms.send(["+" + n for n in numbers], "Hi")
    own = {"ok": Status.QUEUED, "refused": Status.REJECTED, "no flag": Status.UNKNOWN,
           "missing": Status.UNKNOWN}
    for number, kind, recipient in zip(numbers, kinds, result.recipients, strict=True):
        assert recipient.phone == "+" + number
        if kind == "odd echo":
            assert recipient.status in (Status.QUEUED, Status.UNKNOWN)
        else:
            assert recipient.status is own[kind], (kind, items)
