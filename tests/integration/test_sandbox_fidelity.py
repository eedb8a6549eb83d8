"""The sandbox against the providers' documents (issue 14), over real sockets.

Each test quotes the document it checks. Most speak the wire directly (``requests``), because
the sandbox must follow the provider's document, not smsgate's adapter; the ``*_adapter`` tests
then check that the adapter and the sandbox agree.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import urllib.parse
import wsgiref.simple_server
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import pytest
import requests

import smsgate
from smsgate import Status
from smsgate.sandbox import LedgerEntry, Sandbox

OFFICE_OK, OFFICE_OK2, OFFICE_STOP = "995577123456", "995599123456", "995577120000"
GE_OK, GE_OK2, GE_BLOCKED = "995555123456", "995555123457", "995555120000"


def new_entries(sandbox: Sandbox, name: str, action: Callable[[], Any]) -> tuple[Any, list[
        LedgerEntry]]:
    """Run ``action``; return its value and the ledger entries it added."""
    before = len(sandbox.messages(name))
    value = action()
    return value, sandbox.messages(name)[before:]


def _age(entries: list[LedgerEntry], seconds: float) -> None:
    """Make the sandbox see ``entries`` as accepted ``seconds`` ago (no sleeping in tests)."""
    for entry in entries:
        entry.created = time.time() - seconds


# -- SMSOffice.ge --------------------------------------------------------------------------
def office_send(sandbox: Sandbox, **fields: str) -> dict[str, Any]:
    reply = requests.post(sandbox.base_url("smsoffice.ge") + "/v2/send/", timeout=5,
                          data={"key": sandbox.credentials("smsoffice.ge")["api_key"],
                                "sender": "smsoffice", "content": "Hi", **fields})
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def test_office_stoplisted_number_is_sent_only_when_urgent(sandbox: Sandbox) -> None:
    """SMSOffice.ge: "If urgent=true, the message will be sent, even if the receiver has
    blocked receiving messages"; "75 All numbers are stoplisted"."""
    refused, entries = new_entries(sandbox, "smsoffice.ge",
                                   lambda: office_send(sandbox, destination=OFFICE_STOP))
    assert (refused["ErrorCode"], refused["Success"], entries) == (75, False, [])
    sent, entries = new_entries(sandbox, "smsoffice.ge", lambda: office_send(
        sandbox, destination=OFFICE_STOP, urgent="true"))
    assert sent["ErrorCode"] == 0
    assert [(e.recipient, e.options["urgent"]) for e in entries] == [("+" + OFFICE_STOP, True)]


def test_office_urgent_through_the_adapter(sandbox: Sandbox) -> None:
    """The adapter's ``urgent=True`` reaches SMSOffice.ge as "urgent=true"."""
    sms = sandbox.provider("smsoffice.ge", sender="Demo")
    with pytest.raises(smsgate.RecipientRejected) as info:
        sms.send("+" + OFFICE_STOP, "Hi")
    assert info.value.code == 75 and info.value.may_have_sent is False
    result, entries = new_entries(sandbox, "smsoffice.ge",
                                  lambda: sms.send("+" + OFFICE_STOP, "Hi", urgent=True))
    assert result.ok and [e.recipient for e in entries] == ["+" + OFFICE_STOP]


@pytest.mark.parametrize(("destination", "code"), [
    (f"{OFFICE_STOP},995599120000", 75),
    ("12345,+995577123456", 76),
    (f"{OFFICE_STOP},12345", 77),
])
def test_office_all_numbers_failing(sandbox: Sandbox, destination: str, code: int) -> None:
    """"75 All numbers are stoplisted; 76 All numbers have invalid format; 77 All numbers are
    stoplisted or have invalid format"; numbers "in international format, without 00 and +"."""
    reply, entries = new_entries(sandbox, "smsoffice.ge",
                                 lambda: office_send(sandbox, destination=destination))
    assert (reply["ErrorCode"], entries) == (code, [])


def test_office_partial_failure_is_still_accepted(sandbox: Sandbox) -> None:
    """Codes 75-77 say "All numbers"; when only some numbers fail, the others are sent and the
    reply is "0 The request has been successfully received by our system"."""
    before = sandbox.balance("smsoffice.ge")
    reply, entries = new_entries(sandbox, "smsoffice.ge", lambda: office_send(
        sandbox, destination=f"{OFFICE_OK},{OFFICE_STOP},12345,{OFFICE_OK2}"))
    assert reply["ErrorCode"] == 0
    assert sorted(e.recipient for e in entries) == ["+" + OFFICE_OK, "+" + OFFICE_OK2]
    assert sandbox.balance("smsoffice.ge") == before - 2


def test_office_post_must_be_form_encoded(sandbox: Sandbox) -> None:
    """"When using POST request Content-Type must be application/x-www-form-urlencoded";
    "When using POST request, append slash symbol at the end of the path as follows:
    send/". A JSON or multipart body is not read: its key is missing (code 500)."""
    url = sandbox.base_url("smsoffice.ge") + "/v2/send/"
    fields = {"key": sandbox.credentials("smsoffice.ge")["api_key"], "destination": OFFICE_OK,
              "sender": "smsoffice", "content": "Hi"}
    as_json, entries = new_entries(sandbox, "smsoffice.ge",
                                   lambda: requests.post(url, json=fields, timeout=5))
    assert (as_json.json()["ErrorCode"], entries) == (500, [])
    multipart, entries = new_entries(sandbox, "smsoffice.ge", lambda: requests.post(
        url, files={name: (None, value) for name, value in fields.items()}, timeout=5))
    assert (multipart.json()["ErrorCode"], entries) == (500, [])
    no_slash = requests.post(url.rstrip("/"), data=fields, timeout=5)
    assert no_slash.status_code == 404
    assert requests.post(url, data=fields, timeout=5).json()["ErrorCode"] == 0


@pytest.mark.parametrize(("sender", "code"), [
    ("smsoffice", 0), ("Shop-1.ge", 0), ("A" * 11, 0),
    ("A" * 12, 150), ("My Brand", 150), ("My_Brand", 150), ("ბრენდი", 150), ("Shop!", 150),
])
def test_office_sender_rules(sandbox: Sandbox, sender: str, code: int) -> None:
    """"The title can be a word or words, the total length of which does not exceed 11
    characters. The allowed characters are: a-z A-Z 0-9 -(dash) .(dot / period)"; the
    documented sender refusal is "150 Sender not found"."""
    reply, entries = new_entries(sandbox, "smsoffice.ge", lambda: office_send(
        sandbox, destination=OFFICE_OK, sender=sender))
    assert reply["ErrorCode"] == code
    assert len(entries) == (1 if code == 0 else 0)


@pytest.mark.parametrize(("content", "code"), [
    ("a" * 1000, 0), ("ა" * 1000, 0), ("a" * 1001, 40), ("ა" * 1001, 40),
])
def test_office_content_limit(sandbox: Sandbox, content: str, code: int) -> None:
    """"content Text. Any unicode character is allowed. Max. 1000 characters." (characters,
    not bytes: 1000 Georgian letters are 3000 bytes of UTF-8)."""
    reply, entries = new_entries(sandbox, "smsoffice.ge", lambda: office_send(
        sandbox, destination=OFFICE_OK, content=content))
    assert reply["ErrorCode"] == code
    assert len(entries) == (1 if code == 0 else 0)


@pytest.mark.parametrize(("reference", "code"), [
    ("r" * 20, 0), ("ა" * 20, 0), ("r" * 21, 40),
])
def test_office_reference_limit(sandbox: Sandbox, reference: str, code: int) -> None:
    """"Reference must be a UTF-8 string with length of at most 20 characters.\""""
    reply, entries = new_entries(sandbox, "smsoffice.ge", lambda: office_send(
        sandbox, destination=OFFICE_OK, reference=reference))
    assert reply["ErrorCode"] == code
    assert [e.reference for e in entries] == ([reference] if code == 0 else [])


def test_office_scheduled_message_is_pending_until_its_time(sandbox: Sandbox) -> None:
    """SMSOffice.ge ``scheduledAt``: "the message will be sent at the specified date
    (specified in Unix format as seconds)"; until then its status is "Pending Message is
    being processed/waiting to be sent"."""
    later = str(int(time.time()) + 86400)
    _, scheduled = new_entries(sandbox, "smsoffice.ge", lambda: office_send(
        sandbox, destination=OFFICE_OK, reference="sched-later", scheduledAt=later))
    _, at_once = new_entries(sandbox, "smsoffice.ge", lambda: office_send(
        sandbox, destination=OFFICE_OK, reference="sched-now"))
    _age(scheduled + at_once, 3600)  # both accepted an hour ago

    def status(reference: str) -> str:
        reply = requests.get(sandbox.base_url("smsoffice.ge") + "/v2/getMessageStatus/",
                             timeout=5, params={
                                 "key": sandbox.credentials("smsoffice.ge")["api_key"],
                                 "destination": OFFICE_OK, "reference": reference})
        word: str = reply.json()["Output"]["Status"]
        return word

    assert (status("sched-later"), status("sched-now")) == ("Pending", "Delivered")
    assert scheduled[0].options["scheduledAt"] == later


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_office_callbacks_only_for_messages_with_a_reference() -> None:
    """"reference ... If you are willing to receive callbacks, this parameter is required";
    "If the message was sent without a reference, status checking is not possible"."""
    got: list[dict[str, str]] = []

    def app(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        got.append(dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""))))
        start("200 OK", [("Content-Type", "text/plain")])
        return [b"OK"]  # "Your system's response to our callback must be: OK"

    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        hook = f"http://127.0.0.1:{server.server_port}/hook"
        with Sandbox(delivery_delay=0.1, callbacks={"smsoffice.ge": hook}) as sandbox:
            assert office_send(sandbox, destination=OFFICE_OK)["ErrorCode"] == 0
            assert office_send(sandbox, destination=OFFICE_OK2, reference="with-ref")[
                "ErrorCode"] == 0
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # both were due at the same moment: give the other one time
            status = requests.get(
                sandbox.base_url("smsoffice.ge") + "/v2/getMessageStatus/", timeout=5,
                params={"key": sandbox.credentials("smsoffice.ge")["api_key"],
                        "destination": OFFICE_OK, "reference": ""}).json()
    finally:
        server.shutdown()
        server.server_close()
    assert [(g["reference"], g["destination"], g["status"]) for g in got] == [
        ("with-ref", OFFICE_OK2, "Delivered")]
    assert status["Output"] == {"Status": "Unknown"}


# -- GOSMS.GE ------------------------------------------------------------------------------
def gosms(sandbox: Sandbox, path: str, **fields: Any) -> requests.Response:
    return requests.post(sandbox.base_url("gosms.ge") + path, timeout=5,
                         json={"api_key": sandbox.credentials("gosms.ge")["api_key"], **fields})


def test_gosms_bulk_answers_per_number(sandbox: Sandbox) -> None:
    """GOSMS.GE ``/sendbulk`` in the official SDKs' shape: "success, totalCount, successCount,
    failedCount, ... messages (array of {messageId:int, to:str, success:bool, error?:str};
    failed items carry messageId: 0 and e.g. error: "Blacklisted")"."""
    before = sandbox.balance("gosms.ge")
    reply, entries = new_entries(sandbox, "gosms.ge", lambda: gosms(
        sandbox, "/sendbulk", **{"from": "Demo", "to": [GE_OK, GE_BLOCKED, GE_OK2],
                                 "text": "Hi", "urgent": False}).json())
    assert reply["success"] is False  # not every number was sent
    assert "errorCode" not in reply
    assert (reply["totalCount"], reply["successCount"], reply["failedCount"]) == (3, 2, 1)
    assert reply["messages"][1] == {"messageId": 0, "to": GE_BLOCKED, "success": False,
                                    "error": "Blacklisted"}
    assert [m["success"] for m in reply["messages"]] == [True, False, True]
    assert all(m["messageId"] > 0 for m in reply["messages"] if m["success"])
    assert sorted(e.recipient for e in entries) == ["+" + GE_OK, "+" + GE_OK2]
    assert sandbox.balance("gosms.ge") == before - 2


def test_gosms_urgent_reaches_a_blocked_number(sandbox: Sandbox) -> None:
    """GOSMS.GE: "urgent=true: delivered even if the recipient has blocked
    messages/advertising"."""
    reply, entries = new_entries(sandbox, "gosms.ge", lambda: gosms(
        sandbox, "/sendbulk", **{"from": "Demo", "to": [GE_OK, GE_BLOCKED], "text": "Hi",
                                 "urgent": True}).json())
    assert (reply["success"], reply["failedCount"]) == (True, 0)
    assert sorted(e.recipient for e in entries) == sorted(["+" + GE_OK, "+" + GE_BLOCKED])


def test_gosms_bulk_refusals_per_number_through_the_adapter(sandbox: Sandbox) -> None:
    """Issue 14 item 2: "A reply with success:false that carries a per-number messages list
    must be read per number (refused numbers rejected with their reason, accepted ones
    accepted)", never one error a gateway could fail over on."""
    sms = sandbox.provider("gosms.ge", sender="Demo")
    result, entries = new_entries(sandbox, "gosms.ge", lambda: sms.send(
        ["+" + GE_OK, "+" + GE_BLOCKED, "+" + GE_OK2], "Hi"))
    assert [r.status for r in result.recipients] == [Status.QUEUED, Status.REJECTED,
                                                     Status.QUEUED]
    assert result.recipients[1].error == "Blacklisted"
    assert len(entries) == 2


@pytest.mark.parametrize("value", ["12345", "+995322000000", "00995322000000", 995322000000,
                                   ""])
def test_gosms_invalid_no_sms_number_is_113(sandbox: Sandbox, value: object) -> None:
    """GOSMS.GE error "113 INVALID_NO_SMS_NUMBER: invalid noSmsNumber"; the SDK example
    passes "995322000000", in the documented number format "995123456789"."""
    reply, entries = new_entries(sandbox, "gosms.ge", lambda: gosms(
        sandbox, "/sendbulk", **{"from": "Demo", "to": [GE_OK], "text": "Hi",
                                 "noSmsNumber": value}).json())
    assert (reply.get("errorCode"), entries) == (113, [])


def test_gosms_no_sms_number_reaches_the_provider(sandbox: Sandbox) -> None:
    """"With noSmsNumber for advertising campaigns ... noSmsNumber: "995322000000"": sent on
    ``/sendbulk`` and remembered with the message; a bad one is refused as 113."""
    sms = smsgate.create("gosms.ge", **sandbox.credentials("gosms.ge"), sender="Demo",
                         base_url=sandbox.base_url("gosms.ge"), no_sms_number="+995322000000")
    result, entries = new_entries(sandbox, "gosms.ge", lambda: sms.send("+" + GE_OK, "Sale"))
    assert result.ok
    assert [e.options.get("noSmsNumber") for e in entries] == ["995322000000"]
    with pytest.raises(smsgate.InvalidRequest) as info:
        sandbox.provider("gosms.ge", sender="Demo").send(
            "+" + GE_OK, "Sale", extra={"noSmsNumber": "not-a-number"})
    assert info.value.code == 113 and info.value.may_have_sent is False


@pytest.mark.parametrize("number", ["+995555123456", "00995555123456", "555123456"])
def test_gosms_numbers_only_in_the_documented_format(sandbox: Sandbox, number: str) -> None:
    """GOSMS.GE: "Format: 995123456789" (12 digits, no +, no 00)."""
    reply, entries = new_entries(sandbox, "gosms.ge", lambda: gosms(
        sandbox, "/sendsms", **{"from": "Demo", "to": number, "text": "Hi"}).json())
    assert (reply.get("errorCode"), entries) == (105, [])


def test_gosms_otp_send_limit_is_109_with_retry_after() -> None:
    """GOSMS.GE "109 TOO_MANY_REQUESTS: OTP rate limit exceeded; Retry-After header =
    seconds"; rate limits travel in "X-RateLimit-Limit, X-RateLimit-Remaining, Retry-After"
    headers (limit 10 on OTP send in the SDKs' fixtures)."""
    with Sandbox() as sandbox:
        remaining = []
        for _ in range(10):
            reply = gosms(sandbox, "/otp/send", phone=GE_OK)
            assert reply.status_code == 200 and reply.json()["success"] is True
            assert reply.headers["X-RateLimit-Limit"] == "10"
            remaining.append(int(reply.headers["X-RateLimit-Remaining"]))
        assert remaining == list(range(9, -1, -1))
        limited, entries = new_entries(sandbox, "gosms.ge",
                                       lambda: gosms(sandbox, "/otp/send", phone=GE_OK))
        assert limited.status_code == 429
        assert limited.json()["errorCode"] == 109 and entries == []
        assert 0 < int(limited.headers["Retry-After"]) <= 60
        with pytest.raises(smsgate.RateLimited) as info:
            sandbox.provider("gosms.ge", sender="Demo").send_otp("+" + GE_OK)
        assert info.value.code == 109
        assert info.value.retry_after is not None and info.value.retry_after > 0
        assert gosms(sandbox, "/otp/send", phone=GE_OK2).status_code == 200  # per number


def test_gosms_otp_brute_force_locks_with_110() -> None:
    """GOSMS.GE "110 ACCOUNT_LOCKED: account temporarily locked (OTP brute-force);
    Retry-After = seconds until unlock"; "A wrong OTP code returns Verify = false without
    throwing an exception"."""
    with Sandbox() as sandbox:
        sms = sandbox.provider("gosms.ge", sender="Demo")
        challenge = sms.send_otp("+" + GE_OK)
        code = sandbox.otp_code("+" + GE_OK)
        assert code is not None
        wrong = "0000" if code != "0000" else "1111"
        left = []
        for _ in range(5):
            reply = gosms(sandbox, "/otp/verify", phone=GE_OK, hash=challenge.hash, code=wrong)
            assert reply.json() == {"success": True, "verify": False}
            left.append(int(reply.headers["X-RateLimit-Remaining"]))
        assert left == [4, 3, 2, 1, 0]
        locked = gosms(sandbox, "/otp/verify", phone=GE_OK, hash=challenge.hash, code=code)
        assert locked.json()["errorCode"] == 110
        assert int(locked.headers["Retry-After"]) > 0
        with pytest.raises(smsgate.RateLimited) as info:
            sms.verify_otp("+" + GE_OK, challenge.hash, code)
        assert info.value.code == 110 and info.value.retry_after is not None


def test_gosms_rate_limit_fault_speaks_109(sandbox: Sandbox) -> None:
    """A rate-limit fault on GOSMS.GE answers as GOSMS.GE does: "errorCode" 109 with a
    "Retry-After" header (the SDK fixture: HTTP 429, errorCode 109, Retry-After 120)."""
    sandbox.fault("gosms.ge", "rate_limit", times=1, retry_after=120)
    reply = gosms(sandbox, "/sendsms", **{"from": "Demo", "to": GE_OK, "text": "Hi"})
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "120"
    assert reply.json()["errorCode"] == 109
    sandbox.fault("gosms.ge", "rate_limit", times=1, retry_after=7)
    with pytest.raises(smsgate.RateLimited) as info:
        sandbox.provider("gosms.ge", sender="Demo").send("+" + GE_OK, "Hi")
    assert (info.value.code, info.value.retry_after) == (109, 7)


# -- GoSMS.ro ------------------------------------------------------------------------------
def ro_send(sandbox: Sandbox, **fields: Any) -> requests.Response:
    return requests.post(sandbox.base_url("gosms.ro") + "/message/send", timeout=5,
                         headers={"X-Authorization": sandbox.credentials("gosms.ro")["api_key"]},
                         json={"recipient": "0712345678", "message": "Hi", **fields})


def _in(days: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)


@pytest.mark.parametrize("when", [
    _in(1).strftime("%Y-%m-%dT%H:%M:%S.") + "250Z",
    _in(2).strftime("%Y-%m-%d %H:%M:%S"),
])
def test_ro_schedule_in_both_documented_formats(sandbox: Sandbox, when: str) -> None:
    """GoSMS.ro ``scheduleDatetime``: "Accepted formats: YYYY-MM-DDTHH:MM:SS.mmmZ or
    YYYY-MM-DD HH:MM:SS"."""
    reply, entries = new_entries(sandbox, "gosms.ro",
                                 lambda: ro_send(sandbox, scheduleDatetime=when))
    assert reply.status_code == 200 and reply.json()["success"] is True
    assert [e.options["scheduleDatetime"] for e in entries] == [when]


def test_ro_scheduled_message_waits_for_its_time(sandbox: Sandbox) -> None:
    """GoSMS.ro ``scheduleDatetime``: "The date and time when the SMS should be sent": the
    sandbox does not deliver (or call back) before then."""
    when = _in(1).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"
    _, scheduled = new_entries(sandbox, "gosms.ro",
                               lambda: ro_send(sandbox, scheduleDatetime=when))
    _, at_once = new_entries(sandbox, "gosms.ro", lambda: ro_send(sandbox))
    _age(scheduled + at_once, 3600)
    delay = sandbox.state.delivery_delay
    assert scheduled[0].status(delay) is Status.QUEUED
    assert at_once[0].status(delay) is Status.DELIVERED


@pytest.mark.parametrize("when", [
    "2030-01-01T10:00:00Z", "2030-01-01T10:00:00.000", "2030-01-01T10:00:00.000+02:00",
    "01/02/2030 10:00:00", "2030-02-30 10:00:00", "2030-01-01 10:00", "tomorrow", 1893456000,
])
def test_ro_schedule_in_another_format_is_date_error(sandbox: Sandbox, when: object) -> None:
    """GoSMS.ro errors: "DATE_ERROR: date has invalid format" (HTTP 400 "request contains
    invalid data")."""
    reply, entries = new_entries(sandbox, "gosms.ro",
                                 lambda: ro_send(sandbox, scheduleDatetime=when))
    assert (reply.status_code, reply.json()["error"], entries) == (400, "DATE_ERROR", [])


@pytest.mark.parametrize("when", ["2020-01-01 10:00:00", "2020-01-01T10:00:00.000Z",
                                  _in(-1 / 24).strftime("%Y-%m-%dT%H:%M:%S.000Z")])
def test_ro_schedule_in_the_past_is_schedule_error(sandbox: Sandbox, when: str) -> None:
    """GoSMS.ro errors: "SCHEDULE_ERROR: schedule date not in the future"."""
    reply, entries = new_entries(sandbox, "gosms.ro",
                                 lambda: ro_send(sandbox, scheduleDatetime=when))
    assert (reply.status_code, reply.json()["error"], entries) == (400, "SCHEDULE_ERROR", [])


def test_ro_schedule_and_validity_through_the_adapter(sandbox: Sandbox) -> None:
    """The adapter sends the "YYYY-MM-DDTHH:MM:SS.mmmZ" form and validity "in minutes"."""
    sms = sandbox.provider("gosms.ro")
    result, entries = new_entries(sandbox, "gosms.ro", lambda: sms.send(
        "+40712345678", "Later", schedule_at=_in(1), validity=dt.timedelta(minutes=90)))
    assert result.ok
    (entry,) = entries
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                        entry.options["scheduleDatetime"])
    assert entry.options["validity"] == 90


@pytest.mark.parametrize(("validity", "accepted"), [
    (30, True), (0, True), (-5, True), ("30", False), (1.5, False), (True, False),
    ("abc", False), ([30], False),
])
def test_ro_validity_is_whole_minutes(sandbox: Sandbox, validity: object,
                                      accepted: bool) -> None:
    """GoSMS.ro ``validity``: "Validity period in minutes. If provided and greater than 0,
    this defines how long the message remains valid" (0 or less: no validity, not an error).
    A value that is not a whole number of minutes is refused with DATE_ERROR (the sandbox's
    choice: the errors page has no code of its own for it)."""
    reply, entries = new_entries(sandbox, "gosms.ro",
                                 lambda: ro_send(sandbox, validity=validity))
    if accepted:
        assert reply.status_code == 200 and [e.options["validity"] for e in entries] == [
            validity]
    else:
        assert (reply.status_code, reply.json()["error"], entries) == (400, "DATE_ERROR", [])


@pytest.mark.parametrize(("message", "segments", "deduction"), [
    ("a" * 160, 1, "0.03"), ("a" * 161, 2, "0.06"), ("â" * 160, 1, "0.03"),
    ("ș" * 70, 1, "0.03"), ("ș" * 71, 2, "0.06"), ("ș" * 127, 3, "0.09"),
    ("/" + "a" * 70, 2, "0.06"),
])
def test_ro_billing_by_gosms_ro_counting(sandbox: Sandbox, message: str, segments: int,
                                         deduction: str) -> None:
    """GoSMS.ro: "ISO-8859-1 ... each character occupies 1 byte", 160 single / 153 per
    segment; special characters ("diacritics, ... /, {, }, ...") switch to 2 bytes: "70
    characters for a single SMS", "63 characters per segment"; ``balanceDeduction`` is the
    charge (example "0.03")."""
    reply, entries = new_entries(sandbox, "gosms.ro", lambda: ro_send(sandbox, message=message))
    assert reply.json()["balanceDeduction"] == deduction
    assert [e.segments for e in entries] == [segments]


def test_ro_cost_and_segments_agree_with_the_adapter(sandbox: Sandbox) -> None:
    """Issue 14 item 6: the adapter reports GoSMS.ro ``segments`` by GoSMS.ro's rules,
    consistent with what the provider bills (127 Romanian letters: 3 parts of 63, where GSM's
    67 would make 2)."""
    result, entries = new_entries(sandbox, "gosms.ro", lambda: sandbox.provider(
        "gosms.ro").send("+40712345678", "ș" * 127))
    assert result.cost == Decimal("0.09")
    assert result.segments == entries[0].segments == 3


@pytest.mark.parametrize("number", ["+40712345678", "0212345678", "359888123456"])
def test_ro_numbers_only_in_the_documented_formats(sandbox: Sandbox, number: str) -> None:
    """GoSMS.ro ``recipient``: "National (Romania): 07PPXXXXXX, 407PPXXXXXX. For international
    numbers, add the 00 prefix"; "INVALID_PHONE: phone number has invalid format"."""
    reply, entries = new_entries(sandbox, "gosms.ro",
                                 lambda: ro_send(sandbox, recipient=number))
    assert (reply.status_code, reply.json()["error"], entries) == (400, "INVALID_PHONE", [])


# -- SMSGist -------------------------------------------------------------------------------
def gist(sandbox: Sandbox, method: str, path: str, **body: Any) -> requests.Response:
    creds = sandbox.credentials("smsgist")
    return requests.request(method, sandbox.base_url("smsgist") + path, timeout=5,
                            json=body or None,
                            headers={"X-Client-Id": creds["client_id"],
                                     "Authorization": f"Bearer {creds['token']}"})


@pytest.mark.parametrize("sender", ["MyBrand", "ACME Corp"])
def test_gist_sender_field_is_sender_id(sandbox: Sandbox, sender: str) -> None:
    """SMSGist: the only spelling of the sender field in the provider's document is
    ``senderId`` ("recipients: [...], message: '...', senderId: 'MyBrand'"); "It can be up to
    11 alphanumeric characters (e.g. MyBrand, ACME Corp)"."""
    reply, entries = new_entries(sandbox, "smsgist", lambda: gist(
        sandbox, "POST", "/api/sms/send", recipients=["0245972246"], message="Hi",
        senderId=sender))
    assert reply.status_code == 201
    assert [e.sender for e in entries] == [sender]


@pytest.mark.parametrize("field", ["sender_id", "from", "sender"])
def test_gist_other_sender_spellings_are_refused(sandbox: Sandbox, field: str) -> None:
    """A wrong spelling of the sender field is refused with 422 ("Validation error - Check
    the message field for details") naming the field, instead of being dropped silently."""
    before = sandbox.balance("smsgist")
    reply, entries = new_entries(sandbox, "smsgist", lambda: gist(
        sandbox, "POST", "/api/sms/send", recipients=["0245972246"], message="Hi",
        **{field: "MyBrand"}))
    assert reply.status_code == 422 and entries == []
    assert reply.json()["status"] == "error" and reply.json()["data"] is None
    assert f"The {field} field" in reply.json()["message"]
    assert sandbox.balance("smsgist") == before


@pytest.mark.parametrize("body", [
    {"senderId": "TwelveChars1"}, {"senderId": "My_Brand"}, {"route": "express"},
])
def test_gist_sender_and_route_rules(sandbox: Sandbox, body: dict[str, str]) -> None:
    """Sender "up to 11 alphanumeric characters"; ``route``: "regular" (default) or "otp"."""
    reply = gist(sandbox, "POST", "/api/sms/send", recipients=["0245972246"], message="Hi",
                 **body)
    assert reply.status_code == 422


def test_gist_sender_reaches_the_provider_through_the_adapter(sandbox: Sandbox) -> None:
    """The adapter sends the sender as ``senderId``, so the sender is not lost."""
    result, entries = new_entries(sandbox, "smsgist", lambda: sandbox.provider(
        "smsgist", sender="Demo").send("+233245972246", "Hi"))
    assert result.ok and [e.sender for e in entries] == ["Demo"]


def test_gist_status_words_follow_the_document(sandbox: Sandbox) -> None:
    """SMSGist delivery statuses: "DELIVERED Carrier confirmed the message was delivered to
    the handset; PENDING Message sent to carrier, waiting for delivery confirmation; FAILED
    Delivery failed (see error_message for details)"; the example's failed row has
    ``"send_status": "failed"``. The sandbox's own queued entries are not "PENDING"."""
    reply, entries = new_entries(sandbox, "smsgist", lambda: gist(
        sandbox, "POST", "/api/sms/send", recipients=["0245972246", "0245979999"],
        message="Hi").json())
    message_id = reply["data"]["message_id"]
    delay = sandbox.state.delivery_delay

    def status() -> dict[str, Any]:
        data: dict[str, Any] = gist(sandbox, "GET", f"/api/message/{message_id}/status").json()[
            "data"]
        return data

    _age(entries, -60)  # still queued at SMSGist: "queued - the message is being processed"
    queued = status()
    assert queued["status"] == "queued" and queued["pending"] == 2
    assert [(r["send_status"], r["delivery_status"]) for r in queued["recipients"]] == [
        ("queued", None), ("queued", None)]
    _age(entries, delay * 0.75)  # handed to the carrier
    at_carrier = status()
    assert at_carrier["status"] == "sent" and at_carrier["pending"] == 2
    assert [(r["send_status"], r["delivery_status"]) for r in at_carrier["recipients"]] == [
        ("sent", "PENDING"), ("sent", "PENDING")]
    _age(entries, delay + 1)
    final = status()
    assert (final["status"], final["delivered"], final["pending"], final["failed"]) == (
        "sent", 1, 0, 1)  # as in the document's example: one delivered, one failed, "sent"
    delivered, failed = final["recipients"]
    assert (delivered["send_status"], delivered["delivery_status"]) == ("sent", "DELIVERED")
    assert delivered["delivered_at"] is not None and delivered["error_message"] is None
    assert (failed["send_status"], failed["delivery_status"]) == ("failed", "FAILED")
    assert failed["delivered_at"] is None and failed["error_message"] == "Number not reachable"


def test_gist_pending_is_sent_through_the_adapter(sandbox: Sandbox) -> None:
    """Issue 14 item 3: "PENDING is documented as 'Message sent to carrier, waiting for
    delivery confirmation': map it to sent"."""
    sms = sandbox.provider("smsgist")
    result, entries = new_entries(sandbox, "smsgist", lambda: sms.send(
        ["+233245972246", "+233245979999"], "Hi"))
    assert result.message_id is not None
    _age(entries, sandbox.state.delivery_delay * 0.75)
    assert [r.status for r in sms.status(result.message_id).recipients] == [
        Status.SENT, Status.SENT]
    _age(entries, sandbox.state.delivery_delay + 1)
    assert [r.status for r in sms.status(result.message_id).recipients] == [
        Status.DELIVERED, Status.FAILED]
