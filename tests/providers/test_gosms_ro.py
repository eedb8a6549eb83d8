"""GoSMS.ro adapter: one recipient per request, X-Authorization, string error codes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from decimal import Decimal

import pytest
import responses

import smsgate
from smsgate import GoSmsRo, Status
from smsgate.providers.gosms_ro import GOSMS_RO_ERRORS

BASE = "https://api.gosms.ro/v1"
KEY = "gosmsro-canary-key-9012"
# The documented success reply.
OK = {"success": True, "messageId": "dea3535d-2b1e-4c05-b3ea-6879c8d2516c",
      "balanceDeduction": "0.03", "currency": "EUR"}


@pytest.fixture
def api() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def ro() -> GoSmsRo:
    return GoSmsRo(KEY)


def body(api: responses.RequestsMock, index: int = -1) -> dict:
    return json.loads(api.calls[index].request.body)


def test_send_exact_headers_and_body(api: responses.RequestsMock, ro: GoSmsRo) -> None:
    api.post(f"{BASE}/message/send", json=OK)
    result = ro.send("0712345678", "This is a test message.")
    request = api.calls[0].request
    assert request.headers["X-Authorization"] == KEY  # raw key, no "Bearer"
    assert request.headers["Content-Type"] == "application/json"
    assert body(api) == {"recipient": "40712345678", "message": "This is a test message."}
    assert result.message_id == OK["messageId"]
    assert (result.cost, result.currency) == (Decimal("0.03"), "EUR")
    assert result.recipients[0].phone == "+40712345678"
    assert result.ok


def test_foreign_numbers_use_00(api: responses.RequestsMock, ro: GoSmsRo) -> None:
    api.post(f"{BASE}/message/send", json=OK)
    ro.send("+359888123456", "Hi")
    assert body(api)["recipient"] == "00359888123456"


def test_every_option(api: responses.RequestsMock, ro: GoSmsRo) -> None:
    api.post(f"{BASE}/message/send", json=OK)
    when = dt.datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ro.send("+40712345678", "Hi", sender="MyBrand", schedule_at=when,
            validity=dt.timedelta(minutes=90, seconds=1))
    assert body(api) == {"recipient": "40712345678", "message": "Hi", "sender": "MyBrand",
                         "scheduleDatetime": "2030-01-02T01:04:05.678Z", "validity": 91}


def test_a_list_is_one_request_per_number(api: responses.RequestsMock, ro: GoSmsRo) -> None:
    api.post(f"{BASE}/message/send", json={**OK, "messageId": "a"})
    api.post(f"{BASE}/message/send", json={**OK, "messageId": "b"})
    result = ro.send(["+40712345678", "+40722345678"], "Hi")
    assert [body(api, i)["recipient"] for i in range(2)] == ["40712345678", "40722345678"]
    assert [r.message_id for r in result.recipients] == ["a", "b"]
    assert result.cost == Decimal("0.06")
    assert result.ok


@pytest.mark.parametrize("field", ["error", "code", "errorCode", "message"])
@pytest.mark.parametrize("code", sorted(GOSMS_RO_ERRORS))
def test_string_codes_found_in_any_likely_field(api: responses.RequestsMock, ro: GoSmsRo,
                                                field: str, code: str) -> None:
    api.post(f"{BASE}/message/send", status=400, json={"success": False, field: code})
    with pytest.raises(GOSMS_RO_ERRORS[code].error) as info:
        ro.send("+40712345678", "Hi")
    assert type(info.value) is GOSMS_RO_ERRORS[code].error
    assert info.value.code == code
    assert info.value.may_have_sent is False


def test_table_rows() -> None:
    assert set(GOSMS_RO_ERRORS) == {"RECIPIENT_MISSING", "MESSAGE_MISSING", "INVALID_PHONE",
                                    "PHONE_BLACKLISTED", "LIMIT_ERROR", "SCHEDULE_ERROR",
                                    "DATE_ERROR"}
    assert GOSMS_RO_ERRORS["PHONE_BLACKLISTED"].error is smsgate.RecipientRejected
    assert GOSMS_RO_ERRORS["INVALID_PHONE"].error is smsgate.RecipientRejected


@pytest.mark.parametrize(("status", "error"), [(400, smsgate.InvalidRequest),
                                               (401, smsgate.AuthenticationError),
                                               (402, smsgate.InsufficientFunds)])
def test_http_status_fallback(api: responses.RequestsMock, ro: GoSmsRo, status: int,
                              error: type) -> None:
    api.post(f"{BASE}/message/send", status=status, json={"success": False})
    with pytest.raises(error):
        ro.send("+40712345678", "Hi")


def test_status_and_balance_point_to_webhooks(api: responses.RequestsMock,
                                              ro: GoSmsRo) -> None:
    with pytest.raises(smsgate.UnsupportedFeature, match="webhook"):
        ro.status("dea3535d")
    with pytest.raises(smsgate.UnsupportedFeature, match="webhook"):
        ro.balance()
    with pytest.raises(smsgate.UnsupportedFeature):
        ro.send("+40712345678", "Hi", urgent=True)
    with pytest.raises(smsgate.MessageTooLong):
        ro.send("+40712345678", "a" * 39016)
    assert len(api.calls) == 0


def test_key_never_leaks(api: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    ro = GoSmsRo(KEY)
    api.post(f"{BASE}/message/send", status=401, json={"success": False})
    with pytest.raises(smsgate.AuthenticationError) as info:
        ro.send("+40712345678", "Hi")
    texts = [repr(ro), str(info.value), repr(info.value),
             "".join(traceback.format_exception(info.value)), caplog.text]
    assert all(KEY not in t for t in texts)
    assert smsgate.create("gosms.ro", api_key=KEY).name == "gosms.ro"
    assert Status.QUEUED.accepted
