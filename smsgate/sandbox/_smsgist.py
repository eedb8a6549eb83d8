"""The SMSGist emulator: a JSON envelope, client id and bearer token headers, idempotency keys
replayed for 24 hours, retries, signed JSON delivery callbacks."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

import attrs

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
    ghanaian_number,
    gsm_count,
)
from ._state import (
    BLOCKED_SUFFIX,
    LedgerEntry,
    SandboxState,
)

_GIST_PRICE: Final = Decimal("0.03")
#: The send fields. The sender's REST name is not shown in the REST examples; the only spelling
#: in SMSGist's document is ``senderId`` (an SDK object whose other keys are exactly the REST
#: names), and that is the one smsgate uses. Any other key is refused, so a wrong spelling of
#: the sender (``sender_id``, ``from``) is caught instead of silently dropped.
_GIST_FIELDS: Final = ("message", "recipients", "route", "senderId")
# "up to 11 alphanumeric characters (e.g. MyBrand, ACME Corp)".
_GIST_SENDER: Final = re.compile(r"[A-Za-z0-9 ]{1,11}")


def smsgist(state: SandboxState, request: Request, creds: Mapping[str, str]) -> Reply:
    attempt = describe(request)

    def envelope(status: int, message: str, data: object = None) -> Reply:
        if status >= 400:
            note_refused(state, "smsgist", attempt, f"HTTP {status}: {message}")
        return json_reply(status, {"status": "success" if status < 400 else "error",
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


def describe(request: Request) -> SendAttempt | None:
    """The numbers, text and sender of a send request."""
    data = request.json() if request.method == "POST" else None
    data = data if isinstance(data, dict) else {}
    if request.path.rstrip("/") != "/api/sms/send":
        return None
    return SendAttempt(as_numbers(data.get("recipients")), as_text(data.get("message")),
                       as_text(data.get("senderId")) or None)


def callback(entry: LedgerEntry, url: str, secret: str | None,
             when: float) -> CallbackRequest | None:
    """A POST of JSON, signed as ``X-SMSGist-Signature: sha256=<hex>`` of
    ``timestamp + "." + body`` with ``X-SMSGist-Timestamp``."""
    status = entry.final_status().value
    body = json.dumps({
        "event": f"message.{status}", "message_id": entry.message_id,
        "recipient_id": entry.recipient_id, "recipient": entry.recipient,
        "status": status, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
        "metadata": {},
    }).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        now = str(int(time.time()))
        headers["X-SMSGist-Timestamp"] = now
        headers["X-SMSGist-Signature"] = "sha256=" + hmac_hex(secret, now.encode() + b"." + body)
    return CallbackRequest("POST", url, body, headers)


EMULATOR = EmulatedProvider(
    name="smsgist",
    handle=smsgist,
    describe=describe,
    path_prefix="",
    # "total_cost", in Ghana cedis.
    unit="GHS",
    credentials={"client_id": "sandbox-client", "token": "sandbox-token"},
    number="+233245972246",
    # The envelope: "429 Rate limit exceeded".
    rate_limit_body={"status": "error", "message": "Rate limit exceeded", "data": None},
    callback=callback,
)
