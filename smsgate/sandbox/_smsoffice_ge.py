"""The SMSOffice.ge emulator: query or form fields, the key as a parameter, "-100 Temporary
delay", delivery callbacks as a GET with query parameters (unsigned)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from ._emulator import (
    CallbackRequest,
    EmulatedProvider,
    Reply,
    Request,
    SendAttempt,
    is_true,
    json_reply,
    note_refused,
    with_query,
)
from ._rules import (
    georgian_number,
    gsm_count,
)
from ._state import (
    BLOCKED_SUFFIX,
    LedgerEntry,
    SandboxState,
)

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
    attempt = describe(request)

    def envelope(code: int, message: str, output: object = None) -> Reply:
        if code != 0:
            note_refused(state, "smsoffice.ge", attempt, f"ErrorCode {code}: {message}")
        return json_reply(200, {"Success": code == 0, "Message": message, "Output": output,
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
            note_refused(state, "smsoffice.ge", attempt,
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
    urgent = is_true(fields.get("urgent"))
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
    note_refused(state, "smsoffice.ge", attempt, "not sent: invalid format (the reply was 0 for "
                 "the other numbers)", invalid)
    note_refused(state, "smsoffice.ge", attempt, "not sent: stop-listed (the reply was 0 for the "
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


def describe(request: Request) -> SendAttempt | None:
    """The numbers, text and sender of a send request."""
    if request.path.rstrip("/") != "/v2/send":
        return None
    fields = _office_fields(request)
    return SendAttempt([n.strip() for n in fields.get("destination", "").split(",")
                        if n.strip()], fields.get("content", ""),
                       fields.get("sender") or None)


def temporary_delay() -> Reply:
    """SMSOffice.ge's "-100 Temporary delay" envelope (the ``temporary_delay`` fault)."""
    return json_reply(200, {"Success": False, "Message": "Temporary delay", "Output": None,
                            "ErrorCode": -100})


_CALLBACK_WORDS: Final = {"delivered": "Delivered", "failed": "Undelivered", "queued": "Pending"}


def callback(entry: LedgerEntry, url: str, secret: str | None,
             when: float) -> CallbackRequest | None:
    """A GET with query parameters, unsigned.

    "If you are willing to receive callbacks, this parameter [reference] is required": no
    reference, no callback.
    """
    if entry.reference is None:
        return None
    status = entry.final_status().value
    params = {
        "reference": entry.reference,
        "status": _CALLBACK_WORDS[status],
        "reason": "" if status == "delivered" else "Absent subscriber",
        "destination": entry.recipient.lstrip("+"),
        # yyyyMMddhhmmss in Georgian time (UTC+4), as smsgate.webhooks reads it.
        "timestamp": time.strftime("%Y%m%d%H%M%S", time.gmtime(when + 4 * 3600)),
        "operator": "28202",
    }
    return CallbackRequest("GET", with_query(url, params))


EMULATOR = EmulatedProvider(
    name="smsoffice.ge",
    handle=smsoffice_ge,
    describe=describe,
    path_prefix="/api",
    # SMSOffice.ge bills in messages (one per segment and recipient; a whole number).
    unit="messages",
    credentials={"api_key": "sandbox-smsoffice-key"},
    number="+995577123456",
    callback=callback,
    unknown_outcome=temporary_delay,
)
