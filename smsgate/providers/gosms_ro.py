"""GoSMS.ro (Romania): ``https://api.gosms.ro/v1``.

Wire facts (PROVIDERS.md section 2): one documented endpoint, ``POST /message/send``, JSON
with the raw key in ``X-Authorization``; one ``recipient`` per request; Romanian numbers in
national or ``40`` form and other countries as ``00`` + country code; errors as HTTP
400/401/402 plus string codes whose JSON field is not documented.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

from ..errors import (
    InsufficientFunds,
    InvalidPhoneNumber,
    InvalidRequest,
    RecipientRejected,
    UnsupportedFeature,
)
from ..models import Balance, SendResult, StatusResult, _new_result
from ..phone import mask_phone
from ..segments import UCS2
from . import (
    ApiKeyProvider,
    AuthSpec,
    ErrorSpec,
    HttpRequest,
    HttpResponse,
    Limits,
    Outgoing,
    PhoneFormat,
    Plan,
    as_money,
    as_text,
)

__all__ = ["GOSMS_RO_TWO_BYTE_CHARS", "GoSmsRo", "gosms_ro_segments"]

GOSMS_RO_ERRORS: Final[Mapping[int | str, ErrorSpec]] = {
    "RECIPIENT_MISSING": ErrorSpec(InvalidRequest, "recipient field missing"),
    "MESSAGE_MISSING": ErrorSpec(InvalidRequest, "message field missing"),
    "INVALID_PHONE": ErrorSpec(RecipientRejected, "phone number has invalid format"),
    "PHONE_BLACKLISTED": ErrorSpec(RecipientRejected, "number is blacklisted"),
    # A monthly quota, not a short-term rate limit: the account cannot send more until the
    # limit is raised, which is handled like running out of credit (fail over, do not wait).
    "LIMIT_ERROR": ErrorSpec(InsufficientFunds, "monthly sending limit exceeded"),
    "SCHEDULE_ERROR": ErrorSpec(InvalidRequest, "schedule date not in the future"),
    "DATE_ERROR": ErrorSpec(InvalidRequest, "date has invalid format"),
}
# "The JSON field that carries these codes is not documented": look in every likely one.
_CODE_FIELDS: Final = ("error", "code", "errorCode", "error_code", "message")

#: GoSMS.ro's own counting (its messages page): text in "Latin ISO-8859-1, 1 byte/char" takes
#: 160 characters in one SMS and 153 per part; "diacritics and chars like" the ones below
#: switch the message "to 2-byte encoding": 70 alone, 63 per part. These are the characters
#: the document lists; any character outside ISO-8859-1 switches too.
GOSMS_RO_TWO_BYTE_CHARS: Final = frozenset(
    "\u201c"  # “ left double quotation mark
    "\u2013"  # en dash
    "\u02dc"  # small tilde (not the ASCII ~)
    "\u2122"  # ™ trade mark sign
    "\u20ac"  # € euro sign
    "^/{}\\[]|"
)
#: ISO-8859-1 is the first 256 code points.
_LATIN1_MAX: Final = 0xFF
_ONE_BYTE: Final = ("ISO-8859-1", 160, 153)
_TWO_BYTE: Final = (UCS2, 70, 63)

# "National (Romania): 07PPXXXXXX, 407PPXXXXXX": the only Romanian form the document gives is
# a mobile one (07 + 8 digits).
_RO_MOBILE: Final = re.compile(r"\+407[0-9]{8}")


def gosms_ro_segments(text: str) -> tuple[str, int]:
    """``(encoding, parts)`` of ``text`` by GoSMS.ro's documented rules (see above).

    ``encoding`` is ``"ISO-8859-1"`` (one byte a character) or ``"UCS-2"`` (the document's
    "2-byte encoding"); in it a character beyond the Basic Multilingual Plane (an emoji) is
    counted as two, as UTF-16 carries it.
    """
    two_byte = any(ch in GOSMS_RO_TWO_BYTE_CHARS or ord(ch) > _LATIN1_MAX for ch in text)
    encoding, single, per_part = _TWO_BYTE if two_byte else _ONE_BYTE
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text) if two_byte else len(text)
    if units == 0:
        return encoding, 0
    return encoding, 1 if units <= single else math.ceil(units / per_part)


_WEBHOOK_HINT: Final = (
    "gosms.ro documents no {what} endpoint; delivery reports arrive only by webhook, "
    "at the URL configured with GoSMS.ro (read them with smsgate.webhooks)"
)


class GoSmsRo(ApiKeyProvider):
    """GoSMS.ro, registry name ``gosms.ro``. Sending only: status arrives by webhook."""

    name: ClassVar[str] = "gosms.ro"
    default_base_url: ClassVar[str] = "https://api.gosms.ro/v1"
    home_region = "RO"
    phone_format: ClassVar[PhoneFormat] = PhoneFormat.DIGITS_HOME_00_ABROAD
    capabilities = frozenset({"schedule", "validity"})
    # "up to 39,015 characters"; no sender length is documented (an unknown or unapproved
    # sender falls back to the default short number), so none is enforced.
    limits: ClassVar[Limits] = Limits(max_chars=39015, max_sender_length=None, bulk_size=1)
    auth: ClassVar[tuple[AuthSpec, ...]] = (AuthSpec("header", "X-Authorization", "api_key"),)
    error_table: ClassVar[Mapping[int | str, ErrorSpec]] = GOSMS_RO_ERRORS
    # Written by smsgate from to, text, sender, schedule_at and validity; never by ``extra``.
    owned_fields = frozenset({"recipient", "message", "sender", "scheduleDatetime", "validity"})
    url_credentials: ClassVar[Mapping[str, str]] = {"user": "api_key"}

    def _normalize_recipients(self, to: str | Sequence[str]) -> tuple[str, ...]:
        """Numbers as the base reads them; a Romanian one must be a mobile number.

        The document gives Romanian numbers only as "07PPXXXXXX, 407PPXXXXXX" (mobile);
        whether GoSMS.ro delivers to a landline is not said, so smsgate refuses one before
        sending instead of paying for a message that may go nowhere.
        """
        numbers = super()._normalize_recipients(to)
        for number in numbers:
            if number.startswith("+40") and not _RO_MOBILE.fullmatch(number):
                raise InvalidPhoneNumber(
                    f"gosms.ro: {mask_phone(number)} is not a Romanian mobile number; the "
                    "only Romanian format GoSMS.ro documents is 07PPXXXXXX"
                )
        return numbers

    def plan_status(
        self, message_id: str, recipient: str | None = None, *, deadline: float | None = None
    ) -> Plan[StatusResult]:
        """Not available: raises :class:`UnsupportedFeature` (use delivery webhooks)."""
        raise UnsupportedFeature(_WEBHOOK_HINT.format(what="status"))

    def plan_balance(self, *, deadline: float | None = None) -> Plan[Balance]:
        """Not available: raises :class:`UnsupportedFeature`."""
        raise UnsupportedFeature(_WEBHOOK_HINT.format(what="balance"))

    def build_send(self, outgoing: Outgoing) -> HttpRequest:
        body: dict[str, Any] = {"recipient": outgoing.wire_numbers[0], "message": outgoing.text}
        if outgoing.sender:
            body["sender"] = outgoing.sender
        if outgoing.schedule_at is not None:
            # "YYYY-MM-DDTHH:MM:SS.mmmZ"
            when = outgoing.schedule_at.astimezone(dt.timezone.utc)
            body["scheduleDatetime"] = when.strftime("%Y-%m-%dT%H:%M:%S.") + (
                f"{when.microsecond // 1000:03d}Z"
            )
        if outgoing.validity is not None:
            # "Validity period in minutes"; a part of a minute counts as a whole one.
            body["validity"] = max(1, math.ceil(outgoing.validity.total_seconds() / 60))
        body.update(outgoing.extra)
        return self.new_request("POST", "/message/send", "send", json=body, sends_message=True)

    def parse_send(self, reply: HttpResponse, body: Any, outgoing: Outgoing) -> SendResult:
        data = self.json_object(reply, body)
        # "On success, the endpoint returns": success true and a messageId (a UUID string).
        message_id = as_text(data.get("messageId"))
        if data.get("success") is not True or message_id is None:
            raise self.invalid_reply(reply, "send reply does not state success with a messageId")
        encoding, parts = gosms_ro_segments(outgoing.text)
        return _new_result(
            provider=self.name,
            message_id=message_id,
            recipients=outgoing.queued(message_id),
            segments=parts,
            encoding=encoding,
            cost=as_money(data.get("balanceDeduction")),
            currency=as_text(data.get("currency")),
            raw=data,
        )

    def find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        # A documented code refuses the request whatever the status; otherwise HTTP 400, 401
        # and 402 do. A 2xx reply with neither is left to the parser, which accepts only a
        # stated success (a bare success: false says nothing of what happened).
        if not isinstance(body, dict):
            return None
        message = str(body.get("message") or body.get("error") or "")
        for field in _CODE_FIELDS:
            value = body.get(field)
            if isinstance(value, str) and value.strip().upper() in GOSMS_RO_ERRORS:
                return value.strip().upper(), message
        if reply.status >= 400:
            return None, message  # the HTTP status (400/401/402) decides the class
        return None
