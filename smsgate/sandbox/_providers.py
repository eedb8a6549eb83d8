"""Emulations of the four providers' wire protocols, as the providers' documents describe them.

Each emulator is a function from a parsed request to a reply. They check credentials where the
real provider looks for them, answer with the real field names and envelopes (errors inside
HTTP 200 where the provider does that), bill per segment and recipient, and keep a ledger.
What a provider accepts (number formats, lengths, character counting) is decided by the
sandbox's own rules in :mod:`._rules`, written from the documents, never by smsgate's
adapters, phone parser or segment counter: the sandbox is the other side of every integration
test, and must not share their mistakes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
import urllib.parse
import uuid
import zoneinfo
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

import attrs
import requests.structures

from ._rules import (
    UCS2,
    georgian_number,
    ghanaian_number,
    gsm_count,
    romanian_count,
    romanian_number,
)
from ._state import (
    BLOCKED_SUFFIX,
    OTP_SEND_LIMIT,
    OTP_VERIFY_LIMIT,
    LedgerEntry,
    SandboxState,
)

__all__ = ["EMULATORS", "PATH_PREFIX", "UNITS", "Reply", "Request", "SendAttempt", "describe",
           "temporary_delay"]


@attrs.frozen
class Request:
    method: str
    path: str  # below the provider's base path
    query: Mapping[str, str]
    headers: Mapping[str, str]  # case-insensitive
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace"),
                                           keep_blank_values=True))

    def fields(self) -> dict[str, Any]:
        """JSON object, form or query: wherever the provider accepts its fields."""
        data = self.json()
        if isinstance(data, dict):
            return {**self.query, **data}
        if self.body and "form" in self.headers.get("Content-Type", ""):
            return {**self.query, **self.form()}
        return dict(self.query)


@attrs.frozen
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str] = attrs.field(factory=dict)


def _json(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(),
                 {"Content-Type": "application/json", **(headers or {})})


#: Where each provider's paths live on its sandbox server (its base URL's path).
PATH_PREFIX: Final[Mapping[str, str]] = {
    "gosms.ge": "/api",
    "smsoffice.ge": "/api",
    "gosms.ro": "/v1",
    "smsgist": "",
}


#: What each provider's balance and costs count: GOSMS.GE and SMSOffice.ge bill in messages
#: (one per segment and recipient; their balance replies are whole numbers), GoSMS.ro
#: ("balanceDeduction", "currency": "EUR") and SMSGist ("total_cost", in Ghana cedis) in money.
UNITS: Final[Mapping[str, str]] = {
    "gosms.ge": "credits",
    "smsoffice.ge": "messages",
    "gosms.ro": "EUR",
    "smsgist": "GHS",
}


@attrs.frozen
class SendAttempt:
    """What a send request asked for, as written (for the inbox's refused and faulted rows)."""

    numbers: list[str]
    text: str
    sender: str | None


def _text(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


def _numbers(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [_text(item) for item in value]
    return [_text(value)]


def describe(provider: str, request: Request) -> SendAttempt | None:
    """The numbers, text and sender of a send request; ``None`` for any other request."""
    path = request.path.rstrip("/")
    if provider == "gosms.ge":
        fields = request.fields()
        if path in ("/sendsms", "/sendbulk"):
            return SendAttempt(_numbers(fields.get("to")), _text(fields.get("text")),
                               _text(fields.get("from")) or None)
        if path == "/otp/send":
            return SendAttempt(_numbers(fields.get("phone")), "(one-time code)", None)
        return None
    if provider == "smsoffice.ge":
        if path != "/v2/send":
            return None
        fields = _office_fields(request)
        return SendAttempt([n.strip() for n in fields.get("destination", "").split(",")
                            if n.strip()], fields.get("content", ""),
                           fields.get("sender") or None)
    data = request.json() if request.method == "POST" else None
    data = data if isinstance(data, dict) else {}
    if provider == "gosms.ro" and path == "/message/send":
        return SendAttempt(_numbers(data.get("recipient")), _text(data.get("message")),
                           _text(data.get("sender")) or None)
    if provider == "smsgist" and path == "/api/sms/send":
        return SendAttempt(_numbers(data.get("recipients")), _text(data.get("message")),
                           _text(data.get("senderId")) or None)
    return None


def _refused(state: SandboxState, provider: str, attempt: SendAttempt | None, reason: str,
             numbers: list[str] | None = None) -> None:
    """Remember a send that sent nothing (to ``numbers``, or to all it named)."""
    if numbers is not None and not numbers:
        return
    if attempt is not None:
        state.refuse(provider, attempt.numbers if numbers is None else numbers, attempt.text,
                     attempt.sender, reason)


def temporary_delay() -> Reply:
    """SMSOffice.ge's "-100 Temporary delay" envelope (the ``temporary_delay`` fault)."""
    return _json(200, {"Success": False, "Message": "Temporary delay", "Output": None,
                       "ErrorCode": -100})


# -- shared --------------------------------------------------------------------------------
def _flag(value: object) -> bool:
    """``urgent`` as JSON ``true`` or as the query/form word ``true`` ("urgent=true")."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# -- GOSMS.GE ------------------------------------------------------------------------------
def gosms_ge(state: SandboxState, request: Request, creds: Mapping[str, str]) -> Reply:
    fields = request.fields()
    attempt = describe("gosms.ge", request)

    def error(code: int, message: str, status: int = 200,
              headers: Mapping[str, str] | None = None) -> Reply:
        _refused(state, "gosms.ge", attempt, f"errorCode {code}: {message}")
        # The real API sometimes answers errors with HTTP 200 ("API returns 200 with error
        # body"): the sandbox does so for business errors.
        return _json(status, {"success": False, "errorCode": code, "message": message}, headers)

    if fields.get("api_key") != creds["api_key"]:
        return error(100, "Invalid API key", 401)
    path = request.path.rstrip("/")
    if path in ("/sendsms", "/sendbulk"):
        return _gosms_send(state, fields, bulk=path == "/sendbulk", error=error)
    if path == "/checksms":
        wanted = str(fields.get("messageId", ""))
        found = state.find("gosms.ge", lambda e: e.message_id == wanted)
        if not found:
            return error(104, "Message not found")
        entry = found[0]
        word = {"queued": "pending"}.get(entry.status(state.delivery_delay).value,
                                          entry.status(state.delivery_delay).value)
        return _json(200, {"success": True, "messageId": int(entry.message_id),
                           "from": entry.sender, "to": entry.recipient.lstrip("+"),
                           "text": entry.text, "status": word, "segment": entry.segments})
    if path == "/sms-balance":
        return _json(200, {"success": True, "balance": int(state.balance("gosms.ge"))})
    if path == "/sender":
        name = str(fields.get("name") or "")
        if not name:
            return error(103, "Invalid parameters")
        if not state.add_sender(name):
            return error(107, "Sender already exists", 400)
        return _json(200, {"success": True})
    if path == "/otp/send":
        return _gosms_otp_send(state, str(fields.get("phone") or ""), error)
    if path == "/otp/verify":
        return _gosms_otp_verify(state, fields, error)
    return Reply(404, b"Not Found", {"Content-Type": "text/plain"})


def _gosms_otp_send(state: SandboxState, phone: str, error: Callable[..., Reply]) -> Reply:
    if not georgian_number(phone):
        return error(105, "Invalid phone number")
    remaining, retry_after = state.take_otp_send(phone, time.time())
    headers = {"X-RateLimit-Limit": str(OTP_SEND_LIMIT), "X-RateLimit-Remaining": str(remaining)}
    if retry_after is not None:
        # 109 TOO_MANY_REQUESTS, "Retry-After" in seconds (the SDKs copy the header onto
        # the error; nothing suggests the body carries it).
        return error(109, "Too many requests", 429,
                     {**headers, "Retry-After": str(math.ceil(retry_after))})
    if not state.charge("gosms.ge", Decimal(1)):
        return error(102, "Insufficient balance")
    otp = state.new_otp(phone)
    text = f"Your code is {otp.code}"
    counted = gsm_count(text)
    state.record([LedgerEntry("gosms.ge", str(state.next_int_id()), "+" + phone, text,
                              "GOSMS.GE", counted.segments, counted.encoding, Decimal(1),
                              time.time())])
    return _json(200, {"success": True, "hash": otp.hash,
                       "balance": int(state.balance("gosms.ge")), "to": phone}, headers)


def _gosms_otp_verify(state: SandboxState, fields: Mapping[str, Any],
                      error: Callable[..., Reply]) -> Reply:
    phone, now = str(fields.get("phone") or ""), time.time()
    locked = state.otp_lock(phone, now)
    if locked is not None:
        # 110 ACCOUNT_LOCKED: "account temporarily locked" after OTP brute force;
        # "Retry-After = seconds until unlock".
        return error(110, "Account is locked", 429, {
            "X-RateLimit-Limit": str(OTP_VERIFY_LIMIT), "X-RateLimit-Remaining": "0",
            "Retry-After": str(math.ceil(locked))})
    challenge = state.otp(str(fields.get("hash") or ""))
    if challenge is not None and challenge.phone == phone:
        if challenge.used:
            return error(112, "OTP already used", 400)
        if now - challenge.created > state.otp_ttl:
            return error(111, "OTP expired", 400)
    right = (challenge is not None and challenge.phone == phone
             and str(fields.get("code")) == challenge.code)
    left = state.otp_attempt(phone, right=right, now=now)
    if right and challenge is not None:
        challenge.used = True
    # "A wrong OTP code returns Verify = false without throwing an exception."
    return _json(200, {"success": True, "verify": right},
                 {"X-RateLimit-Limit": str(OTP_VERIFY_LIMIT), "X-RateLimit-Remaining": str(left)})


def _gosms_send(state: SandboxState, fields: dict[str, Any], *, bulk: bool,
                error: Callable[..., Reply]) -> Reply:
    sender, text = fields.get("from"), fields.get("text")
    if not sender:
        return error(101, "Invalid sender")
    if not isinstance(text, str) or not text:
        return error(103, "Invalid parameters")
    counted = gsm_count(text)
    if counted.segments > 6:  # "Latin: 918 chars = 6 SMS; Unicode (Georgian): 402 chars = 6 SMS"
        return error(103, "Message too long")
    # "urgent=true": delivered "even if the recipient has blocked messages".
    urgent = _flag(fields.get("urgent"))
    options: dict[str, Any] = {"urgent": urgent}
    numbers = fields.get("to")
    if bulk:
        if not isinstance(numbers, list) or not numbers or len(numbers) > 1000:
            return error(103, "Invalid parameters")
        if "noSmsNumber" in fields:  # the SDKs omit the field entirely when it is not used
            no_sms = fields["noSmsNumber"]
            if not isinstance(no_sms, str) or not georgian_number(no_sms):
                return error(113, "Invalid NoSMS number")
            options["noSmsNumber"] = no_sms
    else:
        numbers = [numbers]
    wanted = [str(n) for n in numbers]

    def refusal(number: str) -> str | None:
        if not georgian_number(number):  # "Format: 995123456789"
            return "Invalid phone number"
        if number.endswith(BLOCKED_SUFFIX) and not urgent:
            return "Blacklisted"
        return None

    reasons = [refusal(n) for n in wanted]
    if not bulk and reasons[0] is not None:
        return error(105, reasons[0])
    billable = sum(reason is None for reason in reasons)
    if not state.charge("gosms.ge", Decimal(counted.segments * billable)):
        return error(102, "Insufficient balance")
    now = time.time()
    entries: list[LedgerEntry] = []
    messages: list[dict[str, Any]] = []
    for number, reason in zip(wanted, reasons, strict=True):
        if reason is not None:
            state.refuse("gosms.ge", [number], text, str(sender), f"not sent: {reason}")
            # The official SDKs' shape: "failed items carry messageId: 0 and error".
            messages.append({"messageId": 0, "to": number, "success": False, "error": reason})
            continue
        message_id = str(state.next_int_id())
        entries.append(LedgerEntry("gosms.ge", message_id, "+" + number, text, str(sender),
                                   counted.segments, counted.encoding,
                                   Decimal(counted.segments), now, options=dict(options)))
        messages.append({"messageId": int(message_id), "to": number, "success": True})
    state.record(entries)
    failed = len(wanted) - len(entries)
    common = {"success": failed == 0, "from": sender, "text": text,
              "balance": int(state.balance("gosms.ge")),
              "encode": "unicode" if counted.encoding == UCS2 else "default",
              "segment": counted.segments, "smsCharacters": len(text)}
    if bulk:
        # A bulk with refused numbers is not one error: it answers per number, and its
        # top-level "success" ("whether the bulk send succeeded") is false.
        return _json(200, {**common, "totalCount": len(wanted), "successCount": len(entries),
                           "failedCount": failed, "messages": messages})
    return _json(200, {**common, "messageId": int(entries[0].message_id), "to": wanted[0],
                       "sendAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))})


# -- SMSOffice.ge --------------------------------------------------------------------------
_OFFICE_STATUS: Final = {"queued": "Pending", "delivered": "Delivered", "failed": "Undelivered"}
# "the total length of which does not exceed 11 characters. The allowed characters are: a-z
# A-Z 0-9 -(dash) .(dot / period)". The space is not in that list, so the sandbox refuses it.
_OFFICE_SENDER: Final = re.compile(r"[A-Za-z0-9.\-]{1,11}")
_OFFICE_MAX_CONTENT: Final = 1000  # "Max. 1000 characters"
_OFFICE_MAX_REFERENCE: Final = 20  # "length of at most 20 characters"


def _office_fields(request: Request) -> dict[str, str]:
    """The query string, and for a POST its form body.

    "When using POST request Content-Type must be application/x-www-form-urlencoded": a body
    of any other type is not read, so its fields are missing (``key`` first: code 500).
    """
    fields = dict(request.query)
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if request.method == "POST" and content_type == "application/x-www-form-urlencoded":
        fields.update(request.form())
    return fields


def smsoffice_ge(state: SandboxState, request: Request, creds: Mapping[str, str]) -> Reply:
    fields = _office_fields(request)
    attempt = describe("smsoffice.ge", request)

    def envelope(code: int, message: str, output: object = None) -> Reply:
        if code != 0:
            _refused(state, "smsoffice.ge", attempt, f"ErrorCode {code}: {message}")
        return _json(200, {"Success": code == 0, "Message": message, "Output": output,
                           "ErrorCode": code})

    key = fields.get("key")
    if not key:
        return envelope(500, "API key is missing")
    if key != creds["api_key"]:
        return envelope(80, "API key is incorrect")
    path = request.path
    if path == "/getBalance" or path == "/getBalance/":
        return Reply(200, str(int(state.balance("smsoffice.ge"))).encode(),
                     {"Content-Type": "text/plain"})
    if path in ("/v2/send/", "/v2/send"):
        # "When using POST request, append slash symbol at the end of the path".
        if request.method == "POST" and path != "/v2/send/":
            _refused(state, "smsoffice.ge", attempt,
                     "HTTP 404: a POST to send needs the trailing slash (/v2/send/)")
            return Reply(404, b"Not Found", {"Content-Type": "text/html"})
        return _office_send(state, fields, envelope, attempt)
    if path in ("/v2/getMessageStatus/", "/v2/getMessageStatus"):
        number = str(fields.get("destination") or "")
        reference = str(fields.get("reference") or "")
        # "If the message was sent without a reference, status checking is not possible".
        found = state.find("smsoffice.ge",
                           lambda e: e.reference == reference and e.recipient == "+" + number)
        word = "Unknown" if not found else _OFFICE_STATUS[
            found[0].status(state.delivery_delay).value]
        return envelope(0, "", {"Status": word})
    return Reply(404, b"Not Found", {"Content-Type": "text/html"})


def _office_send(state: SandboxState, fields: dict[str, str],
                 envelope: Callable[..., Reply], attempt: SendAttempt | None) -> Reply:
    if "destination" not in fields:
        return envelope(600, "Destination is missing")
    if not fields.get("sender"):
        return envelope(700, "Sender is missing")
    if "content" not in fields:
        return envelope(800, "Content is missing")
    content, sender = fields["content"], fields["sender"]
    if not content:
        return envelope(60, "Content parameter is missing")
    if not _OFFICE_SENDER.fullmatch(sender):
        # No code is documented for a malformed sender; a name outside the rules cannot be a
        # registered one, so the documented "Sender not found".
        return envelope(150, "Sender not found")
    if len(content) > _OFFICE_MAX_CONTENT:
        # No documented code either; 40 "Text size limit exceeded" is the one any client
        # knows (a third-party one).
        return envelope(40, "Text size limit exceeded")
    reference = fields.get("reference") or None
    if reference is not None and len(reference) > _OFFICE_MAX_REFERENCE:
        return envelope(40, "Reference is longer than 20 characters")
    numbers = [n.strip() for n in fields["destination"].split(",") if n.strip()]
    if not numbers:
        return envelope(70, "Destination parameter is empty")
    # "If urgent=true, the message will be sent, even if the receiver has blocked receiving
    # messages."
    urgent = _flag(fields.get("urgent"))
    invalid = [n for n in numbers if not georgian_number(n)]
    stoplisted = [n for n in numbers
                  if n not in invalid and n.endswith(BLOCKED_SUFFIX) and not urgent]
    allowed = [n for n in numbers if n not in invalid and n not in stoplisted]
    # 75/76/77 only when ALL numbers fail; a partial failure is still 0 for the others.
    if not allowed:
        if not stoplisted:
            return envelope(76, "All numbers have invalid format")
        if not invalid:
            return envelope(75, "All numbers are stoplisted")
        return envelope(77, "All numbers are stoplisted or have invalid format")
    counted = gsm_count(content)
    if not state.charge("smsoffice.ge", Decimal(counted.segments * len(allowed))):
        return envelope(20, "Balance is insufficient")
    # The reply is 0 for the whole request: the numbers left out are said nowhere but here.
    _refused(state, "smsoffice.ge", attempt, "not sent: invalid format (the reply was 0 for "
             "the other numbers)", invalid)
    _refused(state, "smsoffice.ge", attempt, "not sent: stop-listed (the reply was 0 for the "
             "other numbers)", stoplisted)
    options: dict[str, Any] = {"urgent": urgent}
    for name in ("contentType", "scheduledAt"):
        if fields.get(name):
            options[name] = fields[name]
    # "scheduledAt: the message will be sent at the specified date (specified in Unix format
    # as seconds)". No error is documented for a bad value; the sandbox then sends at once.
    scheduled_at = fields.get("scheduledAt", "")
    scheduled = float(scheduled_at) if scheduled_at.isdigit() else None
    now = time.time()
    state.record([
        LedgerEntry("smsoffice.ge", reference or uuid.uuid4().hex[:20], "+" + n, content,
                    sender, counted.segments, counted.encoding, Decimal(counted.segments), now,
                    reference=reference, options=dict(options), scheduled=scheduled)
        for n in allowed
    ])
    return envelope(0, "Success", 0)


# -- GoSMS.ro ------------------------------------------------------------------------------
_RO_PRICE: Final = Decimal("0.03")
_RO_ISO_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_RO_PLAIN_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def _romanian_zone() -> dt.tzinfo:
    """The zone of a ``YYYY-MM-DD HH:MM:SS`` schedule: not documented; Romania's (the
    provider's own country), or UTC+2 where no zone database is installed."""
    try:
        return zoneinfo.ZoneInfo("Europe/Bucharest")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.timezone(dt.timedelta(hours=2))


def _ro_schedule(value: object) -> float | None:
    """``scheduleDatetime`` as a POSIX time; ``None`` for a format GoSMS.ro does not accept.

    "Accepted formats: YYYY-MM-DDTHH:MM:SS.mmmZ or YYYY-MM-DD HH:MM:SS."
    """
    if not isinstance(value, str):
        return None
    try:
        if _RO_ISO_TIME.fullmatch(value):
            when = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
            return when.replace(tzinfo=dt.timezone.utc).timestamp()
        if _RO_PLAIN_TIME.fullmatch(value):
            when = dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
            return when.replace(tzinfo=_romanian_zone()).timestamp()
    except ValueError:  # 2026-02-30 and the like
        return None
    return None


def gosms_ro(state: SandboxState, request: Request, creds: Mapping[str, str]) -> Reply:
    attempt = describe("gosms.ro", request)

    def error(status: int, code: str, message: str) -> Reply:
        _refused(state, "gosms.ro", attempt, f"HTTP {status} {code}: {message}")
        return _json(status, {"success": False, "error": code, "message": message})

    if request.headers.get("X-Authorization") != creds["api_key"]:
        return error(401, "UNAUTHORIZED", "Invalid API key")
    if request.path.rstrip("/") != "/message/send" or request.method != "POST":
        return Reply(404, b"Not Found", {"Content-Type": "text/plain"})
    data = request.json()
    if not isinstance(data, dict):
        return error(400, "INVALID_DATA", "Request contains invalid data")
    recipient, message = data.get("recipient"), data.get("message")
    if not recipient:
        return error(400, "RECIPIENT_MISSING", "Recipient field missing")
    if not message:
        return error(400, "MESSAGE_MISSING", "Message field missing")
    e164 = romanian_number(str(recipient))
    if e164 is None:
        return error(400, "INVALID_PHONE", "Phone number has invalid format")
    if e164.endswith(BLOCKED_SUFFIX):
        return error(400, "PHONE_BLACKLISTED", "Phone number is blacklisted")
    options: dict[str, Any] = {}
    schedule, when = data.get("scheduleDatetime"), None
    if schedule not in (None, ""):
        when = _ro_schedule(schedule)
        if when is None:
            return error(400, "DATE_ERROR", "Date has invalid format")
        if when <= time.time():
            return error(400, "SCHEDULE_ERROR", "Schedule date is not in the future")
        options["scheduleDatetime"] = schedule
    validity = data.get("validity")
    if validity is not None:
        # "Validity period in minutes": a whole number. The errors page lists no code for a
        # bad one; DATE_ERROR ("date has invalid format") is its time-field error.
        if isinstance(validity, bool) or not isinstance(validity, int):
            return error(400, "DATE_ERROR", "Validity must be a whole number of minutes")
        options["validity"] = validity
    # Billed per segment by GoSMS.ro's own counting (ISO-8859-1 160/153, 2-byte 70/63).
    counted = romanian_count(str(message))
    cost = _RO_PRICE * counted.segments
    if not state.charge("gosms.ro", cost):
        return error(402, "PAYMENT_REQUIRED", "Payment required")
    message_id = str(uuid.uuid4())
    sender = data.get("sender")
    state.record([LedgerEntry("gosms.ro", message_id, e164, str(message),
                              str(sender) if sender else None, counted.segments,
                              counted.encoding, cost, time.time(), options=options,
                              scheduled=when)])
    return _json(200, {"success": True, "messageId": message_id,
                       "balanceDeduction": f"{cost:.2f}", "currency": "EUR"})


# -- SMSGist -------------------------------------------------------------------------------
_GIST_PRICE: Final = Decimal("0.03")
#: The send fields. The sender's REST name is not shown in the REST examples; the only spelling
#: in SMSGist's document is ``senderId`` (an SDK object whose other keys are exactly the REST
#: names), and that is the one smsgate uses. Any other key is refused, so a wrong spelling of
#: the sender (``sender_id``, ``from``) is caught instead of silently dropped.
_GIST_FIELDS: Final = ("message", "recipients", "route", "senderId")
# "up to 11 alphanumeric characters (e.g. MyBrand, ACME Corp)".
_GIST_SENDER: Final = re.compile(r"[A-Za-z0-9 ]{1,11}")


def smsgist(state: SandboxState, request: Request, creds: Mapping[str, str]) -> Reply:
    attempt = describe("smsgist", request)

    def envelope(status: int, message: str, data: object = None) -> Reply:
        if status >= 400:
            _refused(state, "smsgist", attempt, f"HTTP {status}: {message}")
        return _json(status, {"status": "success" if status < 400 else "error",
                              "message": message, "data": data})

    if (request.headers.get("X-Client-Id") != creds["client_id"]
            or request.headers.get("Authorization") != f"Bearer {creds['token']}"):
        return envelope(401, "Authentication failed")
    path = request.path.rstrip("/")
    if path == "/api/sms/send" and request.method == "POST":
        key = request.headers.get("X-Idempotency-Key")
        if key:
            replay = state.replay("smsgist", key)
            if replay is not None:  # "the original response is returned without re-sending"
                return Reply(replay[0], replay[2], replay[1])
        reply = _gist_send(state, request, envelope)
        if key and reply.status < 500:
            state.remember("smsgist", key, (reply.status, dict(reply.headers), reply.body))
        return reply
    parts = path.split("/")
    if len(parts) == 5 and parts[1:3] == ["api", "message"]:
        message_id, action = parts[3], parts[4]
        found = state.find("smsgist", lambda e: e.message_id == message_id)
        if not found:
            return envelope(404, "Message not found")
        if action == "status" and request.method == "GET":
            return envelope(200, "Action performed successfully",
                            _gist_status(state, message_id, found))
        if action == "retry" and request.method == "POST":
            return _gist_retry(state, message_id, found, envelope)
    return envelope(404, "Not found")


def _gist_send(state: SandboxState, request: Request, envelope: Callable[..., Reply]) -> Reply:
    data = request.json()
    if not isinstance(data, dict):
        return envelope(400, "Bad request")
    unknown = sorted(str(name) for name in data if name not in _GIST_FIELDS)
    if unknown:
        return envelope(422, f"The {unknown[0]} field is not recognised; the send fields are "
                             f"{', '.join(_GIST_FIELDS)}")
    recipients, message = data.get("recipients"), data.get("message")
    if isinstance(recipients, str):  # "string or string array"
        recipients = [recipients]
    if not isinstance(recipients, list) or not recipients:
        return envelope(422, "The recipients field is required")
    if not isinstance(message, str) or not message:
        return envelope(422, "The message field is required")
    sender = data.get("senderId")
    if sender is not None and (not isinstance(sender, str)
                               or not _GIST_SENDER.fullmatch(sender)):
        return envelope(422, "The senderId may have up to 11 alphanumeric characters")
    route = data.get("route", "regular")
    if route not in ("regular", "otp"):
        return envelope(422, "The selected route is invalid")
    counted = gsm_count(message)
    if len(message) > 1530 or counted.segments > 10:
        return envelope(422, "The message may not be greater than 1530 characters")
    listed_numbers = [(str(raw), ghanaian_number(str(raw))) for raw in recipients]
    good = [e164 for _, e164 in listed_numbers
            if e164 is not None and not e164.endswith(BLOCKED_SUFFIX)]
    cost = _GIST_PRICE * counted.segments * len(good)
    if not state.charge("smsgist", cost):
        return envelope(402, "Insufficient credits")
    message_id, now = str(uuid.uuid4()), time.time()
    entries = [LedgerEntry("smsgist", message_id, e164, message, sender, counted.segments,
                           counted.encoding, _GIST_PRICE * counted.segments, now,
                           idempotency_key=request.headers.get("X-Idempotency-Key"),
                           options={"route": route})
               for e164 in good]
    state.record(entries)
    ids = iter(entries)
    listed: list[dict[str, Any]] = []
    for raw, e164 in listed_numbers:
        if e164 is not None and e164 in good:
            listed.append({"recipient_id": next(ids).recipient_id, "recipient": e164})
        else:
            # "If a number is invalid, it will appear in the response with an error."
            state.refuse("smsgist", [raw], message, sender,
                         "not sent: " + ("Invalid phone number" if e164 is None
                                         else "Number is blocked"))
            listed.append({"recipient_id": None, "recipient": e164 or raw,
                           "error": "Invalid phone number" if e164 is None
                           else "Number is blocked"})
    return envelope(201, "SMS queued for sending successfully", {
        "message_id": message_id, "status": "queued", "recipients_count": len(good),
        "segments": counted.segments, "total_cost": float(cost),
        "cost_per_unit": float(_GIST_PRICE), "recipients": listed,
    })


def _gist_row(entry: LedgerEntry, delay: float, now: float) -> tuple[str, dict[str, Any]]:
    """One recipient row of the status reply and its state, in SMSGist's documented words.

    The sandbox's message is queued for the first half of the delivery delay (SMSGist's
    "queued - the message is being processed": nothing sent, no delivery status yet), then at
    the carrier ("PENDING: Message sent to carrier, waiting for delivery confirmation"), then
    DELIVERED, or FAILED with ``send_status: "failed"`` as in the document's example.
    """
    final = entry.status(delay, now).value
    if final == "queued":
        state = "queued" if now - entry.created < delay / 2 else "pending"
    else:
        state = final
    send_status, delivery_status = {
        "queued": ("queued", None), "pending": ("sent", "PENDING"),
        "delivered": ("sent", "DELIVERED"), "failed": ("failed", "FAILED"),
    }[state]
    return state, {
        "recipient_id": entry.recipient_id, "recipient": entry.recipient,
        "send_status": send_status, "delivery_status": delivery_status,
        "delivered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                      time.gmtime(entry.created + delay))
        if state == "delivered" else None,
        "error_message": "Number not reachable" if state == "failed" else None,
    }


def _gist_status(state: SandboxState, message_id: str,
                 entries: list[LedgerEntry]) -> dict[str, Any]:
    now = time.time()
    rows = [_gist_row(entry, state.delivery_delay, now) for entry in entries]
    states = [row_state for row_state, _ in rows]
    counts = {"delivered": states.count("delivered"), "failed": states.count("failed"),
              "pending": states.count("queued") + states.count("pending")}
    if "queued" in states:
        overall = "queued"
    elif counts["delivered"] == len(states):
        overall = "delivered"
    elif counts["failed"] == len(states):
        overall = "failed"
    else:
        overall = "sent"
    return {"message_id": message_id, "service": "sms", "status": overall,
            "total_recipients": len(entries), **counts,
            "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entries[0].created)),
            "recipients": [row for _, row in rows]}


def _gist_retry(state: SandboxState, message_id: str, entries: list[LedgerEntry],
                envelope: Callable[..., Reply]) -> Reply:
    failed = [e for e in entries if e.status(state.delivery_delay).value == "failed"]
    if not failed:
        return envelope(422, "No failed recipients to retry")
    cost = sum((e.cost for e in failed), Decimal(0))
    if not state.charge("smsgist", cost):
        return envelope(402, "Insufficient credits")
    new_id, now = str(uuid.uuid4()), time.time()
    # A new send: it keeps nothing of a fault the original request met.
    state.record([attrs.evolve(e, message_id=new_id, created=now, recipient_id=uuid.uuid4().hex,
                               fault=None)
                  for e in failed])
    return envelope(200, "Message re-queued successfully", {
        "message_id": new_id, "original_message_id": message_id, "status": "queued",
        "recipients_count": len(failed), "total_cost": float(cost),
    })


Emulator = Callable[[SandboxState, Request, Mapping[str, str]], Reply]

EMULATORS: Final[Mapping[str, Emulator]] = {
    "gosms.ge": gosms_ge,
    "smsoffice.ge": smsoffice_ge,
    "gosms.ro": gosms_ro,
    "smsgist": smsgist,
}


def headers_of(raw: Mapping[str, str]) -> Mapping[str, str]:
    """Case-insensitive request headers."""
    return requests.structures.CaseInsensitiveDict(raw)
