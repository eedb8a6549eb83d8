"""GoSMS.ro adapter: one recipient per request, X-Authorization, string error codes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from decimal import Decimal

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

import smsgate
from smsgate import GoSmsRo, Status
from smsgate.providers.gosms_ro import (
    GOSMS_RO_ERRORS,
    GOSMS_RO_TWO_BYTE_CHARS,
    gosms_ro_segments,
)

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


# -- GoSMS.ro's own segment counting (issue 14, item 6) ------------------------------------
# Latin-1 characters that stay one byte (the listed specials excluded).
ONE_BYTE = st.characters(max_codepoint=0xFF, blacklist_characters=sorted(GOSMS_RO_TWO_BYTE_CHARS))


@given(st.text(ONE_BYTE, min_size=1, max_size=700))
def test_latin1_text_counts_160_then_153(text: str) -> None:
    """"Latin ISO-8859-1, 1 byte/char: 160 single, 153 per segment"."""
    encoding, parts = gosms_ro_segments(text)
    assert encoding == "ISO-8859-1"
    assert parts == (1 if len(text) <= 160 else -(-len(text) // 153))


@given(st.text(ONE_BYTE, max_size=300), st.sampled_from(sorted(GOSMS_RO_TWO_BYTE_CHARS)),
       st.text(ONE_BYTE, max_size=300))
def test_a_listed_character_switches_to_70_then_63(before: str, special: str,
                                                   after: str) -> None:
    """"diacritics and chars like “ – ˜ ™ € ^ / { } \\ [ ] | switch to 2-byte encoding: 70
    single, 63 per segment (not 67)" (the document's own characters, quoted as written)."""  # noqa: RUF002
    text = before + special + after
    encoding, parts = gosms_ro_segments(text)
    assert encoding == "UCS-2"
    assert parts == (1 if len(text) <= 70 else -(-len(text) // 63))


@given(st.text(st.characters(min_codepoint=0x100, max_codepoint=0xFFFF,
                             blacklist_categories=["Cs"]), min_size=1, max_size=200))
def test_characters_outside_latin1_switch_too(text: str) -> None:
    """Romanian ș and ț (U+0219, U+021B) are outside ISO-8859-1: 2-byte."""
    encoding, parts = gosms_ro_segments(text)
    assert encoding == "UCS-2"
    assert parts == (1 if len(text) <= 70 else -(-len(text) // 63))


@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 160, ("ISO-8859-1", 1)), ("a" * 161, ("ISO-8859-1", 2)),
    ("a" * 306, ("ISO-8859-1", 2)), ("a" * 307, ("ISO-8859-1", 3)),
    ("a" * 39015, ("ISO-8859-1", 255)),
    ("€" * 70, ("UCS-2", 1)), ("€" * 71, ("UCS-2", 2)), ("€" * 126, ("UCS-2", 2)),
    ("€" * 127, ("UCS-2", 3)),
    ("a/b", ("UCS-2", 1)),  # the document lists "/" among the 2-byte characters
    ("mâine î", ("ISO-8859-1", 1)),  # â and î are ISO-8859-1 characters
    ("mâine ș", ("UCS-2", 1)),
    ("😀" * 35, ("UCS-2", 1)), ("😀" * 36, ("UCS-2", 2)),  # two UTF-16 units each
])
def test_documented_boundaries(text: str, expected: tuple[str, int]) -> None:
    assert gosms_ro_segments(text) == expected


@pytest.mark.parametrize(("text", "encoding", "parts"), [
    ("Programarea dvs. este mâine la 10:00", "ISO-8859-1", 1),  # GSM-7 would say UCS-2
    ("[" + "a" * 159, "UCS-2", 3),  # GSM-7 would say 2 parts of GSM-7
    ("a" * 200, "ISO-8859-1", 2),
])
def test_send_result_reports_gosms_ro_counting(api: responses.RequestsMock, ro: GoSmsRo,
                                               text: str, encoding: str, parts: int) -> None:
    """``SendResult.segments`` and ``encoding`` follow GoSMS.ro's document, not GSM 03.38."""
    api.post(f"{BASE}/message/send", json=OK)
    result = ro.send("+40712345678", text)
    assert (result.encoding, result.segments) == (encoding, parts)
    api.post(f"{BASE}/message/send", json={**OK, "messageId": "b"})
    both = ro.send(["+40712345678", "+40722345678"], text)
    assert (both.encoding, both.segments) == (encoding, parts)


# -- Romanian numbers: mobile only (issue 14, item 6) --------------------------------------
@pytest.mark.parametrize("number", ["+40212345678", "0212345678", "+40312345678",
                                    "+40800123456", "40264123456"])
def test_non_mobile_romanian_numbers_are_refused_before_sending(
    api: responses.RequestsMock, ro: GoSmsRo, number: str
) -> None:
    """"National (Romania): 07PPXXXXXX, 407PPXXXXXX" is the only Romanian format the
    document gives: a number outside it is refused before any request."""
    with pytest.raises(smsgate.InvalidPhoneNumber, match="mobile"):
        ro.send(number, "Hi")
    with pytest.raises(smsgate.InvalidPhoneNumber):
        ro.send(["+40712345678", number], "Hi")
    assert len(api.calls) == 0


@pytest.mark.parametrize(("number", "wire"), [("0712345678", "40712345678"),
                                              ("+40787654321", "40787654321"),
                                              ("+359888123456", "00359888123456")])
def test_mobile_and_foreign_numbers_still_go(api: responses.RequestsMock, ro: GoSmsRo,
                                             number: str, wire: str) -> None:
    api.post(f"{BASE}/message/send", json=OK)
    ro.send(number, "Hi")
    assert body(api)["recipient"] == wire


# -- replies and extra ----------------------------------------------------------------------
@pytest.mark.parametrize("reply", [
    {"messageId": "dea3535d"},  # success not stated
    {"success": False},
    {"success": True},
    {"success": True, "messageId": {"id": "x"}},
    {"success": True, "messageId": ["x"]},
])
def test_a_success_must_be_stated_with_a_scalar_id(api: responses.RequestsMock, ro: GoSmsRo,
                                                   reply: dict[str, object]) -> None:
    """"On success, the endpoint returns" ``success: true`` and a ``messageId``: a 200 reply
    without both is no acceptance, and not a refusal either (it may have been sent)."""
    api.post(f"{BASE}/message/send", json=reply)
    with pytest.raises(smsgate.InvalidResponse) as info:
        ro.send("+40712345678", "Hi")
    assert info.value.may_have_sent is True


@pytest.mark.parametrize("deduction", ["NaN", "Infinity", "abc", None, {"v": "0.03"}])
def test_cost_must_be_a_finite_amount(api: responses.RequestsMock, ro: GoSmsRo,
                                      deduction: object) -> None:
    api.post(f"{BASE}/message/send", json={**OK, "balanceDeduction": deduction})
    result = ro.send("+40712345678", "Hi")
    assert result.ok and result.cost is None


@pytest.mark.parametrize("field", ["recipient", "message", "sender", "scheduleDatetime",
                                   "validity", "Recipient"])
def test_extra_may_not_replace_owned_fields(api: responses.RequestsMock, ro: GoSmsRo,
                                            field: str) -> None:
    with pytest.raises(smsgate.ValidationError, match="extra may not set"):
        ro.send("+40712345678", "Hi", extra={field: "0722345678"})
    assert len(api.calls) == 0
