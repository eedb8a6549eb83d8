"""The GoSMS.ro emulator: JSON, the key in ``X-Authorization``, money billing in EUR, signed
JSON delivery callbacks."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from ._emulator import (
    CallbackRequest,
    EmulatedProvider,
    Reply,
    Request,
    SendAttempt,
    as_numbers,
    as_text,
    hmac_hex,
    json_reply,
    note_refused,
)
from ._rules import (
    romanian_count,
    romanian_number,
)
from ._state import (
    BLOCKED_SUFFIX,
    LedgerEntry,
    SandboxState,
)

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
    attempt = describe(request)

    def error(status: int, code: str, message: str) -> Reply:
        note_refused(state, "gosms.ro", attempt, f"HTTP {status} {code}: {message}")
        return json_reply(status, {"success": False, "error": code, "message": message})

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
    return json_reply(200, {"success": True, "messageId": message_id,
                            "balanceDeduction": f"{cost:.2f}", "currency": "EUR"})


# -- SMSGist -------------------------------------------------------------------------------


def describe(request: Request) -> SendAttempt | None:
    """The numbers, text and sender of a send request."""
    data = request.json() if request.method == "POST" else None
    data = data if isinstance(data, dict) else {}
    if request.path.rstrip("/") != "/message/send":
        return None
    return SendAttempt(as_numbers(data.get("recipient")), as_text(data.get("message")),
                       as_text(data.get("sender")) or None)


def callback(entry: LedgerEntry, url: str, secret: str | None,
             when: float) -> CallbackRequest | None:
    """A POST of JSON, signed in ``X-Signature`` (hex HMAC-SHA256 of the body)."""
    body = json.dumps({"id": entry.message_id, "status": entry.final_status().value,
                       "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when)),
                       "network": "22601"}).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["X-Signature"] = hmac_hex(secret, body)
    return CallbackRequest("POST", url, body, headers)


EMULATOR = EmulatedProvider(
    name="gosms.ro",
    handle=gosms_ro,
    describe=describe,
    path_prefix="/v1",
    # "balanceDeduction", "currency": "EUR".
    unit="EUR",
    credentials={"api_key": "sandbox-gosms-ro-key"},
    number="+40712345678",
    callback=callback,
)
