"""The GOSMS.GE emulator: JSON or form fields, the key in the body, errors inside HTTP 200,
one-time codes. Polled for delivery (no callbacks)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ._emulator import (
    EmulatedProvider,
    Reply,
    Request,
    SendAttempt,
    as_numbers,
    as_text,
    is_true,
    json_reply,
    note_refused,
)
from ._rules import (
    UCS2,
    georgian_number,
    gsm_count,
)
from ._state import (
    BLOCKED_SUFFIX,
    OTP_SEND_LIMIT,
    OTP_VERIFY_LIMIT,
    LedgerEntry,
    SandboxState,
)


# -- GOSMS.GE ------------------------------------------------------------------------------
def gosms_ge(state: SandboxState, request: Request, creds: Mapping[str, str]) -> Reply:
    fields = request.fields()
    attempt = describe(request)

    def error(code: int, message: str, status: int = 200,
              headers: Mapping[str, str] | None = None) -> Reply:
        note_refused(state, "gosms.ge", attempt, f"errorCode {code}: {message}")
        # The real API sometimes answers errors with HTTP 200 ("API returns 200 with error
        # body"): the sandbox does so for business errors.
        return json_reply(status, {"success": False, "errorCode": code, "message": message},
                          headers)

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
        return json_reply(200, {"success": True, "messageId": int(entry.message_id),
                                "from": entry.sender, "to": entry.recipient.lstrip("+"),
                                "text": entry.text, "status": word, "segment": entry.segments})
    if path == "/sms-balance":
        return json_reply(200, {"success": True, "balance": int(state.balance("gosms.ge"))})
    if path == "/sender":
        name = str(fields.get("name") or "")
        if not name:
            return error(103, "Invalid parameters")
        if not state.add_sender(name):
            return error(107, "Sender already exists", 400)
        return json_reply(200, {"success": True})
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
    return json_reply(200, {"success": True, "hash": otp.hash,
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
    return json_reply(200, {"success": True, "verify": right},
                      {"X-RateLimit-Limit": str(OTP_VERIFY_LIMIT),
                       "X-RateLimit-Remaining": str(left)})


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
    urgent = is_true(fields.get("urgent"))
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
        return json_reply(200, {**common, "totalCount": len(wanted), "successCount": len(entries),
                                "failedCount": failed, "messages": messages})
    return json_reply(200, {**common, "messageId": int(entries[0].message_id), "to": wanted[0],
                            "sendAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))})


def describe(request: Request) -> SendAttempt | None:
    """The numbers, text and sender of a send (or one-time code) request."""
    path = request.path.rstrip("/")
    fields = request.fields()
    if path in ("/sendsms", "/sendbulk"):
        return SendAttempt(as_numbers(fields.get("to")), as_text(fields.get("text")),
                           as_text(fields.get("from")) or None)
    if path == "/otp/send":
        return SendAttempt(as_numbers(fields.get("phone")), "(one-time code)", None)
    return None


EMULATOR = EmulatedProvider(
    name="gosms.ge",
    handle=gosms_ge,
    describe=describe,
    path_prefix="/api",
    # GOSMS.GE bills in messages (one per segment and recipient; its balance is a whole
    # number): "credits".
    unit="credits",
    credentials={"api_key": "sandbox-gosms-ge-key"},
    number="+995555123456",
    # "109 TOO_MANY_REQUESTS" ("Retry-After header = seconds").
    rate_limit_body={"success": False, "errorCode": 109, "message": "Too many requests"},
)
