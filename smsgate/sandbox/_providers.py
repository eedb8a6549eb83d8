"""Emulations of the four providers' wire protocols, as PROVIDERS.md documents them.

Each emulator is a function from a parsed request to a reply. They check credentials where the
real provider looks for them, answer with the real field names and envelopes (errors inside
HTTP 200 where the provider does that), bill per segment and recipient, and keep a ledger.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

import attrs
import requests.structures

from ..phone import region_of, try_normalize
from ._state import BLOCKED_SUFFIX, LedgerEntry, SandboxState, count

__all__ = ["EMULATORS", "PATH_PREFIX", "Reply", "Request"]


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


# -- GOSMS.GE ------------------------------------------------------------------------------
def gosms_ge(state: SandboxState, request: Request, creds: Mapping[str, str]) -> Reply:
    fields = request.fields()

    def error(code: int, message: str, status: int = 200,
              headers: Mapping[str, str] | None = None) -> Reply:
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
        phone = str(fields.get("phone") or "")
        if try_normalize(phone, "GE") is None or not phone.startswith("995"):
            return error(105, "Invalid phone number")
        if not state.charge("gosms.ge", Decimal(1)):
            return error(102, "Insufficient balance")
        otp = state.new_otp(phone)
        state.record([LedgerEntry("gosms.ge", str(state.next_int_id()), "+" + phone,
                                  f"Your code is {otp.code}", "GOSMS.GE", 1, "GSM-7",
                                  Decimal(1), time.time())])
        return _json(200, {"success": True, "hash": otp.hash,
                           "balance": int(state.balance("gosms.ge")), "to": phone},
                     {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9"})
    if path == "/otp/verify":
        challenge = state.otp(str(fields.get("hash") or ""))
        headers = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4"}
        if challenge is None or challenge.phone != str(fields.get("phone")):
            return _json(200, {"success": True, "verify": False}, headers)
        otp = challenge
        if otp.used:
            return error(112, "OTP already used", 400, headers)
        if time.time() - otp.created > state.otp_ttl:
            return error(111, "OTP expired", 400, headers)
        if str(fields.get("code")) != otp.code:
            return _json(200, {"success": True, "verify": False}, headers)
        otp.used = True
        return _json(200, {"success": True, "verify": True}, headers)
    return Reply(404, b"Not Found", {"Content-Type": "text/plain"})


def _gosms_send(state: SandboxState, fields: dict[str, Any], *, bulk: bool,
                error: Callable[..., Reply]) -> Reply:
    sender, text = fields.get("from"), fields.get("text")
    if not sender:
        return error(101, "Invalid sender")
    if not isinstance(text, str) or not text:
        return error(103, "Invalid parameters")
    parts, encoding = count(text)
    if parts > 6:
        return error(103, "Message too long")
    numbers = fields.get("to")
    if bulk:
        if not isinstance(numbers, list) or not numbers or len(numbers) > 1000:
            return error(103, "Invalid parameters")
    else:
        numbers = [numbers]
    valid = [str(n) for n in numbers
             if str(n).startswith("995") and try_normalize(str(n), "GE") is not None]
    if not bulk and (not valid or valid[0].endswith(BLOCKED_SUFFIX)):
        return error(105, "Invalid phone number")
    billable = [n for n in valid if not n.endswith(BLOCKED_SUFFIX)]
    if not state.charge("gosms.ge", Decimal(parts * len(billable))):
        return error(102, "Insufficient balance")
    now, entries, messages = time.time(), [], []
    for number in numbers:
        number = str(number)
        if number not in billable:
            reason = "Blacklisted" if number in valid else "Invalid phone number"
            messages.append({"messageId": 0, "to": number, "success": False, "error": reason})
            continue
        message_id = str(state.next_int_id())
        entries.append(LedgerEntry("gosms.ge", message_id, "+" + number, text, sender,
                                   parts, encoding, Decimal(parts), now))
        messages.append({"messageId": int(message_id), "to": number, "success": True})
    state.record(entries)
    common = {"success": True, "from": sender, "text": text, "balance":
              int(state.balance("gosms.ge")), "encode": "unicode" if encoding == "UCS-2"
              else "default", "segment": parts, "smsCharacters": len(text)}
    if bulk:
        return _json(200, {**common, "totalCount": len(numbers),
                           "successCount": len(entries),
                           "failedCount": len(numbers) - len(entries), "messages": messages})
    return _json(200, {**common, "messageId": int(entries[0].message_id), "to": numbers[0],
                       "sendAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))})


# -- SMSOffice.ge --------------------------------------------------------------------------
_OFFICE_STATUS: Final = {"queued": "Pending", "delivered": "Delivered", "failed": "Undelivered"}


def smsoffice_ge(state: SandboxState, request: Request, creds: Mapping[str, str]) -> Reply:
    fields = request.fields()

    def envelope(code: int, message: str, output: object = None) -> Reply:
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
        if request.method == "POST" and path != "/v2/send/":
            return Reply(404, b"Not Found", {"Content-Type": "text/html"})
        return _office_send(state, fields, envelope)
    if path in ("/v2/getMessageStatus/", "/v2/getMessageStatus"):
        number = str(fields.get("destination") or "")
        reference = str(fields.get("reference") or "")
        found = state.find("smsoffice.ge",
                           lambda e: e.reference == reference and e.recipient == "+" + number)
        word = "Unknown" if not found else _OFFICE_STATUS[
            found[0].status(state.delivery_delay).value]
        return envelope(0, "", {"Status": word})
    return Reply(404, b"Not Found", {"Content-Type": "text/html"})


def _office_send(state: SandboxState, fields: dict[str, Any],
                 envelope: Callable[..., Reply]) -> Reply:
    if "destination" not in fields:
        return envelope(600, "Destination is missing")
    if "sender" not in fields or not fields["sender"]:
        return envelope(700, "Sender is missing")
    if "content" not in fields:
        return envelope(800, "Content is missing")
    content = str(fields["content"])
    if not content:
        return envelope(60, "Content parameter is missing")
    numbers = [n.strip() for n in str(fields["destination"]).split(",") if n.strip()]
    if not numbers:
        return envelope(70, "Destination parameter is empty")
    valid = [n for n in numbers if n.startswith("995") and try_normalize(n, "GE") is not None]
    if not valid:
        return envelope(76, "All numbers have invalid format")
    allowed = [n for n in valid if not n.endswith(BLOCKED_SUFFIX)]
    if not allowed:
        return envelope(75 if len(valid) == len(numbers) else 77, "All numbers are stoplisted")
    parts, encoding = count(content)
    if not state.charge("smsoffice.ge", Decimal(parts * len(allowed))):
        return envelope(20, "Balance is insufficient")
    now, reference = time.time(), str(fields.get("reference") or "") or None
    state.record([
        LedgerEntry("smsoffice.ge", reference or uuid.uuid4().hex[:20], "+" + n, content,
                    str(fields["sender"]), parts, encoding, Decimal(parts), now,
                    reference=reference)
        for n in allowed
    ])
    return envelope(0, "Success", 0)


# -- GoSMS.ro ------------------------------------------------------------------------------
_RO_PRICE: Final = Decimal("0.03")


def gosms_ro(state: SandboxState, request: Request, creds: Mapping[str, str]) -> Reply:
    def error(status: int, code: str, message: str) -> Reply:
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
    number = str(recipient)
    if number.startswith("00"):
        e164 = try_normalize(number, None)
    elif number.startswith(("07", "407")):
        e164 = try_normalize(number, "RO")
        if e164 is not None and region_of(e164) != "RO":
            e164 = None
    else:
        e164 = None
    if e164 is None:
        return error(400, "INVALID_PHONE", "Phone number has invalid format")
    if e164.endswith(BLOCKED_SUFFIX):
        return error(400, "PHONE_BLACKLISTED", "Phone number is blacklisted")
    parts, encoding = count(str(message))
    cost = _RO_PRICE * parts
    if not state.charge("gosms.ro", cost):
        return error(402, "PAYMENT_REQUIRED", "Payment required")
    message_id = str(uuid.uuid4())
    state.record([LedgerEntry("gosms.ro", message_id, e164, str(message),
                              data.get("sender"), parts, encoding, cost, time.time())])
    return _json(200, {"success": True, "messageId": message_id,
                       "balanceDeduction": f"{cost:.2f}", "currency": "EUR"})


# -- SMSGist -------------------------------------------------------------------------------
_GIST_PRICE: Final = Decimal("0.03")


def smsgist(state: SandboxState, request: Request, creds: Mapping[str, str]) -> Reply:
    def envelope(status: int, message: str, data: object = None) -> Reply:
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
    recipients, message = data.get("recipients"), data.get("message")
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or not recipients:
        return envelope(422, "The recipients field is required")
    if not isinstance(message, str) or not message:
        return envelope(422, "The message field is required")
    parts, encoding = count(message)
    if len(message) > 1530 or parts > 10:
        return envelope(422, "The message may not be greater than 1530 characters")
    normalised = [(str(r), try_normalize(str(r), "GH")) for r in recipients]
    good = [e for _, e in normalised
            if e is not None and region_of(e) == "GH" and not e.endswith(BLOCKED_SUFFIX)]
    cost = _GIST_PRICE * parts * len(good)
    if not state.charge("smsgist", cost):
        return envelope(402, "Insufficient credits")
    message_id, now = str(uuid.uuid4()), time.time()
    entries = [LedgerEntry("smsgist", message_id, e, message,
                           data.get("sender_id") or data.get("senderId"), parts, encoding,
                           _GIST_PRICE * parts, now,
                           idempotency_key=request.headers.get("X-Idempotency-Key"))
               for e in good]
    state.record(entries)
    ids = iter(entries)
    listed: list[dict[str, Any]] = []
    for raw, e164 in normalised:
        if e164 in good:
            listed.append({"recipient_id": next(ids).recipient_id, "recipient": e164})
        else:
            listed.append({"recipient_id": None, "recipient": e164 or raw,
                           "error": "Invalid phone number" if e164 is None
                           or region_of(e164) != "GH" else "Number is blocked"})
    return envelope(201, "SMS queued for sending successfully", {
        "message_id": message_id, "status": "queued", "recipients_count": len(good),
        "segments": parts, "total_cost": float(cost), "cost_per_unit": float(_GIST_PRICE),
        "recipients": listed,
    })


def _gist_status(state: SandboxState, message_id: str,
                 entries: list[LedgerEntry]) -> dict[str, Any]:
    rows, counts = [], {"delivered": 0, "pending": 0, "failed": 0}
    for entry in entries:
        status = entry.status(state.delivery_delay).value
        word = {"queued": "PENDING", "delivered": "DELIVERED", "failed": "FAILED"}[status]
        counts[{"queued": "pending"}.get(status, status)] += 1
        rows.append({
            "recipient_id": entry.recipient_id, "recipient": entry.recipient,
            "send_status": "sent", "delivery_status": word,
            "delivered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                          time.gmtime(entry.created + state.delivery_delay))
            if status == "delivered" else None,
            "error_message": "Number not reachable" if status == "failed" else None,
        })
    overall = "delivered" if counts["delivered"] == len(entries) else "sent"
    return {"message_id": message_id, "service": "sms", "status": overall,
            "total_recipients": len(entries), **counts,
            "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entries[0].created)),
            "recipients": rows}


def _gist_retry(state: SandboxState, message_id: str, entries: list[LedgerEntry],
                envelope: Callable[..., Reply]) -> Reply:
    failed = [e for e in entries if e.status(state.delivery_delay).value == "failed"]
    if not failed:
        return envelope(422, "No failed recipients to retry")
    cost = sum((e.cost for e in failed), Decimal(0))
    if not state.charge("smsgist", cost):
        return envelope(402, "Insufficient credits")
    new_id, now = str(uuid.uuid4()), time.time()
    state.record([attrs.evolve(e, message_id=new_id, created=now, recipient_id=uuid.uuid4().hex)
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
