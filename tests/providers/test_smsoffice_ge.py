"""SMSOffice.ge adapter: form POST send, reference-based status, plain-text balance."""

from __future__ import annotations

import datetime as dt
import logging
import traceback
import urllib.parse

import pytest
import responses

import smsgate
from smsgate import SmsOfficeGe, Status
from smsgate.providers.smsoffice_ge import SMSOFFICE_GE_ERRORS

from ..servers import closed_port, hang, respond, serve

BASE = "https://smsoffice.ge/api"
KEY = "smsoffice-canary-key-5678"
OK = {"Success": True, "Message": "Success", "Output": 0, "ErrorCode": 0}


@pytest.fixture
def api() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def office() -> SmsOfficeGe:
    return SmsOfficeGe(KEY, sender="smsoffice")


def form(api: responses.RequestsMock, index: int = -1) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(api.calls[index].request.body))


def test_send_is_a_form_post_with_trailing_slash(api: responses.RequestsMock,
                                                 office: SmsOfficeGe) -> None:
    api.post(f"{BASE}/v2/send/", json=OK)
    result = office.send("+995577123456", "TestMessage", reference="order-1")
    request = api.calls[0].request
    assert request.url == f"{BASE}/v2/send/"  # no key in the URL
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(api) == {"key": KEY, "destination": "995577123456", "sender": "smsoffice",
                         "content": "TestMessage", "reference": "order-1"}
    assert result.message_id == "order-1"
    assert result.recipients[0].message_id == "order-1"
    assert result.ok


def test_multi_destination_and_every_option(api: responses.RequestsMock,
                                            office: SmsOfficeGe) -> None:
    api.post(f"{BASE}/v2/send/", json=OK)
    when = dt.datetime(2030, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    office.send(["577 12 34 56", "+995599123456"], "Hi", urgent=True, flash=True,
                schedule_at=when, reference="r")
    sent = form(api)
    assert sent["destination"] == "995577123456,995599123456"
    assert sent["urgent"] == "true"
    assert sent["contentType"] == "2"
    assert sent["scheduledAt"] == str(int(when.timestamp())) == "1903867200"
    assert "contentType" not in form_of_plain_send(api, office)


def form_of_plain_send(api: responses.RequestsMock, office: SmsOfficeGe) -> dict[str, str]:
    api.post(f"{BASE}/v2/send/", json=OK)
    office.send("+995577123456", "Hi", reference="r2")
    sent = form(api)
    assert "urgent" not in sent and "scheduledAt" not in sent
    return sent


def test_long_lists_are_chunked_with_one_reference(api: responses.RequestsMock,
                                                   office: SmsOfficeGe) -> None:
    for _ in range(3):
        api.post(f"{BASE}/v2/send/", json=OK)
    numbers = [f"+99557{i:07d}" for i in range(2100)]
    result = office.send(numbers, "Hi")
    sizes = [len(form(api, i)["destination"].split(",")) for i in range(3)]
    assert sizes == [1000, 1000, 100]
    references = {form(api, i)["reference"] for i in range(3)}
    assert references == {result.message_id}
    assert [r.phone for r in result.recipients] == numbers


def test_generated_references_are_unique_and_short(api: responses.RequestsMock,
                                                   office: SmsOfficeGe) -> None:
    from smsgate.providers.smsoffice_ge import new_reference

    references = {new_reference() for _ in range(10_000)}
    assert len(references) == 10_000
    assert max(len(r) for r in references) <= 20
    api.post(f"{BASE}/v2/send/", json=OK)
    result = office.send("+995577123456", "Hi")
    assert result.message_id == form(api)["reference"]
    assert result.message_id is not None and len(result.message_id) <= 20


def test_reference_over_20_characters_is_refused(api: responses.RequestsMock,
                                                 office: SmsOfficeGe) -> None:
    with pytest.raises(smsgate.ValidationError):
        office.send("+995577123456", "Hi", reference="x" * 21)
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    ("word", "status"),
    [("Delivered", Status.DELIVERED), ("delivered", Status.DELIVERED),
     ("Undelivered", Status.FAILED), ("Expired", Status.EXPIRED), ("Pending", Status.QUEUED),
     ("Unknown", Status.UNKNOWN), ("SOMETHING", Status.UNKNOWN)],
)
def test_status_by_reference_and_destination(api: responses.RequestsMock, office: SmsOfficeGe,
                                             word: str, status: Status) -> None:
    api.get(f"{BASE}/v2/getMessageStatus/",
            json={"Success": True, "Message": "", "Output": {"Status": word}, "ErrorCode": 0})
    result = office.status("12345678", recipient="577 12 34 56")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(api.calls[0].request.url).query))
    assert query == {"key": KEY, "destination": "995577123456", "reference": "12345678"}
    assert result.status is status
    assert result.recipients[0].phone == "+995577123456"
    assert result.raw["Output"]["Status"] == word


def test_status_needs_the_recipient(api: responses.RequestsMock, office: SmsOfficeGe) -> None:
    with pytest.raises(smsgate.ValidationError, match="recipient"):
        office.status("12345678")
    assert len(api.calls) == 0


def test_balance_is_a_plain_integer(api: responses.RequestsMock, office: SmsOfficeGe) -> None:
    api.get(f"{BASE}/getBalance", body="1234\r\n", content_type="text/plain")
    balance = office.balance()
    assert (balance.amount, balance.unit) == (1234, "messages")
    assert api.calls[0].request.url == f"{BASE}/getBalance?key={KEY}"


def test_garbage_balance_is_invalid_response(api: responses.RequestsMock,
                                             office: SmsOfficeGe) -> None:
    api.get(f"{BASE}/getBalance", body="<html>login</html>", content_type="text/html")
    with pytest.raises(smsgate.InvalidResponse):
        office.balance()


def test_every_documented_code_is_in_the_table() -> None:
    documented = {10, 20, 60, 70, 75, 76, 77, 80, 120, 150, 500, 600, 700, 800, -100}
    assert documented | {40, 110} == set(SMSOFFICE_GE_ERRORS)
    assert {c for c, s in SMSOFFICE_GE_ERRORS.items() if s.source == "third-party"} == {40, 110}
    expected = {
        10: smsgate.RecipientRejected, 75: smsgate.RecipientRejected,
        76: smsgate.RecipientRejected, 77: smsgate.RecipientRejected,
        20: smsgate.InsufficientFunds, 80: smsgate.AuthenticationError,
        120: smsgate.AuthenticationError, 500: smsgate.AuthenticationError,
        150: smsgate.SenderRejected, 700: smsgate.SenderRejected,
        60: smsgate.InvalidRequest, 70: smsgate.InvalidRequest, 600: smsgate.InvalidRequest,
        800: smsgate.InvalidRequest, -100: smsgate.DeliveryUnknown,
    }
    for code, error in expected.items():
        assert SMSOFFICE_GE_ERRORS[code].error is error, code


@pytest.mark.parametrize("code", sorted(SMSOFFICE_GE_ERRORS, key=str))
def test_every_code_inside_http_200(api: responses.RequestsMock, office: SmsOfficeGe,
                                    code: int) -> None:
    api.post(f"{BASE}/v2/send/", status=200,
             json={"Success": False, "Message": f"m{code}", "Output": None, "ErrorCode": code})
    with pytest.raises(SMSOFFICE_GE_ERRORS[code].error) as info:
        office.send("+995577123456", "Hi")
    assert type(info.value) is SMSOFFICE_GE_ERRORS[code].error
    assert (info.value.code, info.value.http_status) == (code, 200)
    # Every code is a refusal (nothing sent) except -100, whose outcome is unknown.
    assert info.value.may_have_sent is (code == -100)


def test_temporary_delay_is_an_unknown_outcome_named_by_reference(
    api: responses.RequestsMock, office: SmsOfficeGe
) -> None:
    """The document's whole entry is "-100 Temporary delay": it does not say the message was
    refused. So the outcome is unknown: may have been sent, no retry, no failover, and the
    error names the reference to settle it with a status lookup."""
    api.post(f"{BASE}/v2/send/", json={"Success": False, "Message": "Temporary delay",
                                       "Output": None, "ErrorCode": -100})
    with pytest.raises(smsgate.DeliveryUnknown) as info:
        office.send("+995577123456", "Hi", reference="order-77")
    assert info.value.code == -100
    assert info.value.may_have_sent is True
    assert info.value.retryable is False
    assert "status('order-77', recipient=...)" in str(info.value)
    assert "Temporary delay" in str(info.value)
    # A generated reference is named as well: it is the only handle the caller can look up.
    api.post(f"{BASE}/v2/send/", json={"Success": False, "Message": "",
                                       "Output": None, "ErrorCode": -100})
    with pytest.raises(smsgate.DeliveryUnknown) as generated:
        office.send("+995577123456", "Hi")
    assert f"status({form(api)['reference']!r}" in str(generated.value)


def test_temporary_delay_stops_a_gateway(api: responses.RequestsMock,
                                         office: SmsOfficeGe) -> None:
    """"-100 Temporary delay": a gateway neither retries SMSOffice.ge nor fails over to a
    second provider (either could send the message twice)."""
    from smsgate.testing import MemoryProvider

    api.post(f"{BASE}/v2/send/", json={"Success": False, "Message": "Temporary delay",
                                       "Output": None, "ErrorCode": -100})
    backup = MemoryProvider()
    gateway = smsgate.Gateway([office, backup],
                              retry=smsgate.RetryPolicy(attempts=3, backoff=0.0))
    with pytest.raises(smsgate.DeliveryUnknown):
        gateway.send("+995577123456", "Hi", reference="r-1")
    assert len(api.calls) == 1
    assert backup.outbox == [] and backup.calls == []


@pytest.mark.parametrize("reply", [
    {"Success": False, "Message": "", "Output": None, "ErrorCode": 0},
    {"Success": True, "Message": "", "Output": None},
    {"Message": "Success", "Output": 0, "ErrorCode": 0},
    {"Success": "true", "Message": "", "Output": None, "ErrorCode": 0},
])
def test_a_success_must_be_stated(api: responses.RequestsMock, office: SmsOfficeGe,
                                  reply: dict[str, object]) -> None:
    """The envelope is "Success": boolean and "ErrorCode": integer, where "0: The request has
    been successfully received by our system". A reply that does not say both is no success
    (and, for a send, no refusal either: it may have been sent)."""
    api.post(f"{BASE}/v2/send/", json=reply)
    with pytest.raises(smsgate.InvalidResponse) as info:
        office.send("+995577123456", "Hi")
    assert info.value.may_have_sent is True
    assert info.value.retryable is False
    api.get(f"{BASE}/v2/getMessageStatus/", json={**reply, "Output": {"Status": "Delivered"}})
    with pytest.raises(smsgate.InvalidResponse) as lookup:
        office.status("r", recipient="+995577123456")
    assert lookup.value.may_have_sent is False


@pytest.mark.parametrize("output", [{"Status": {"x": 1}}, {"Status": ["Delivered"]}, None])
def test_status_word_must_be_a_string(api: responses.RequestsMock, office: SmsOfficeGe,
                                      output: object) -> None:
    api.get(f"{BASE}/v2/getMessageStatus/",
            json={"Success": True, "Message": "", "Output": output, "ErrorCode": 0})
    with pytest.raises(smsgate.InvalidResponse):
        office.status("r", recipient="+995577123456")


@pytest.mark.parametrize("text", ["NaN", "Infinity", "1e3", "١٢٣", "12.5"])
def test_balance_must_be_a_whole_number(api: responses.RequestsMock, office: SmsOfficeGe,
                                        text: str) -> None:
    """"The response is the number of messages left": a whole, finite number."""
    api.get(f"{BASE}/getBalance", body=text, content_type="text/plain")
    with pytest.raises(smsgate.InvalidResponse):
        office.balance()


@pytest.mark.parametrize("field", ["destination", "Destination", "content", "sender", "key",
                                   "reference", "urgent", "contentType", "scheduledAt"])
def test_extra_may_not_replace_owned_fields(api: responses.RequestsMock, office: SmsOfficeGe,
                                            field: str) -> None:
    """smsgate writes the key, destination, sender, content and reference itself (and the
    fields of its urgent/flash/schedule options): extra naming one is refused before any
    request, in any letter case (form field names are often read case-insensitively)."""
    with pytest.raises(smsgate.ValidationError, match="extra may not set"):
        office.send("+995577123456", "Hi", extra={field: "995599000000"})
    assert len(api.calls) == 0


def test_extra_other_fields_still_pass(api: responses.RequestsMock,
                                       office: SmsOfficeGe) -> None:
    api.post(f"{BASE}/v2/send/", json=OK)
    office.send("+995577123456", "Hi", extra={"campaign": "spring"})
    assert form(api)["campaign"] == "spring"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": "a" * 1001}, smsgate.MessageTooLong),
        ({"text": "Hi", "sender": "TwelveLetter"}, smsgate.InvalidSender),
        ({"text": "Hi", "sender": "my shop"}, smsgate.InvalidSender),
        ({"text": "Hi", "sender": "shop!"}, smsgate.InvalidSender),
        ({"text": "Hi", "priority": True}, smsgate.UnsupportedFeature),
        ({"text": "Hi", "idempotency_key": "k"}, smsgate.UnsupportedFeature),
    ],
)
def test_validation_before_any_request(api: responses.RequestsMock, office: SmsOfficeGe,
                                       kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        office.send("+995577123456", **kwargs)  # type: ignore[arg-type]
    assert len(api.calls) == 0


def test_limits_themselves_are_accepted(api: responses.RequestsMock,
                                        office: SmsOfficeGe) -> None:
    api.post(f"{BASE}/v2/send/", json=OK)
    office.send("+995577123456", "ა" * 1000, sender="Shop-1.ge")
    assert form(api)["sender"] == "Shop-1.ge"


def test_no_sender_is_refused_before_sending(api: responses.RequestsMock) -> None:
    with pytest.raises(smsgate.InvalidSender):
        SmsOfficeGe(KEY).send("+995577123456", "Hi")
    assert len(api.calls) == 0


def test_registry_name() -> None:
    provider = smsgate.create("smsoffice.ge", api_key=KEY, sender="S")
    assert isinstance(provider, SmsOfficeGe)
    assert isinstance(provider, smsgate.SmsProvider)


def _all_text(error: BaseException) -> str:
    return "\n".join([str(error), repr(error), "".join(traceback.format_exception(error))])


def test_query_string_key_absent_from_all_output_over_real_sockets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "smsgate"):
        caplog.set_level(logging.DEBUG, logger=name)
    outputs: list[str] = []
    failing = [
        (respond(200, b'{"Success":false,"Message":"bad","Output":null,"ErrorCode":80}'), 2.0),
        (respond(503, b"<h1>down</h1>", "text/html"), 2.0),
        (respond(200, b"not a number", "text/plain"), 2.0),
        (hang(2), 0.2),
    ]
    for handler, read_timeout in failing:
        with serve(handler) as (url, received):
            office = SmsOfficeGe(KEY, sender="S", base_url=url, timeout=(2.0, read_timeout))
            for call in (lambda o=office: o.status("ref1", recipient="+995577123456"),
                         lambda o=office: o.balance()):
                with pytest.raises(smsgate.ProviderError) as info:
                    call()
                outputs.append(_all_text(info.value))
        assert any(f"key={KEY}".encode() in r for r in received)  # the key was on the wire
    office = SmsOfficeGe(KEY, sender="S", base_url=f"http://127.0.0.1:{closed_port()}")
    for call in (lambda: office.status("ref1", recipient="+995577123456"), office.balance):
        with pytest.raises(smsgate.ConnectError) as info:
            call()
        outputs.append(_all_text(info.value))
    assert "getMessageStatus" in caplog.text  # urllib3 did log the request lines
    outputs.append(caplog.text)
    assert all(KEY not in text for text in outputs)
    # The number in the query string is masked in urllib3's request line too.
    assert "destination=9955******56" in caplog.text
    assert "995577123456" not in caplog.text


def test_callback_timestamp_is_24_hour_georgian_time_and_kept_raw() -> None:
    """"timestamp Delivery date in format yyyyMMddhhmmss", no zone given: smsgate reads it as
    a 24-hour clock in Georgian time (UTC+4), the only reading that can represent an
    afternoon (``hh`` has no AM/PM marker), and keeps the raw value."""
    from pathlib import Path

    from smsgate import webhooks

    (report,) = webhooks.parse(
        "smsoffice.ge", query="reference=r1&status=Delivered&reason=&destination=995577123456"
        "&timestamp=20130501150202&operator=28202",
    )
    georgia = dt.timezone(dt.timedelta(hours=4))
    assert report.timestamp == dt.datetime(2013, 5, 1, 15, 2, 2, tzinfo=georgia)
    assert report.timestamp.utcoffset() == dt.timedelta(hours=4)
    assert report.raw["timestamp"] == "20130501150202"
    page = (Path(__file__).parents[2] / "docs" / "providers" / "smsoffice-ge.md").read_text()
    for promise in ("SMSOFFICE_TIMESTAMP_FORMAT", "SMSOFFICE_TIMEZONE", "UTC+4", "24-hour",
                    'raw["timestamp"]'):
        assert promise in page, promise


def test_temporary_delay_in_a_later_chunk_leaves_its_numbers_unknown(
    api: responses.RequestsMock, office: SmsOfficeGe
) -> None:
    """"-100 Temporary delay" on the second chunk of a long list: those numbers may have been
    sent (UNKNOWN, never REJECTED), the first chunk stays accepted."""
    api.post(f"{BASE}/v2/send/", json=OK)
    api.post(f"{BASE}/v2/send/", json={"Success": False, "Message": "Temporary delay",
                                       "Output": None, "ErrorCode": -100})
    numbers = [f"+99557{i:07d}" for i in range(1500)]
    result = office.send(numbers, "Hi", reference="bulk-9")
    assert {r.status for r in result.recipients[:1000]} == {Status.QUEUED}
    assert {r.status for r in result.recipients[1000:]} == {Status.UNKNOWN}
    assert "status('bulk-9'" in (result.recipients[1000].error or "")
    assert not result.ok
