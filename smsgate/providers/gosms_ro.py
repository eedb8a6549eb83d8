"""GoSMS.ro (Romania): ``https://api.gosms.ro/v1``.

Wire facts (PROVIDERS.md section 2): one documented endpoint, ``POST /message/send``, JSON
with the raw key in ``X-Authorization``; one ``recipient`` per request; Romanian numbers in
national or ``40`` form and other countries as ``00`` + country code; errors as HTTP
400/401/402 plus string codes whose JSON field is not documented.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final

from .._http import HttpRequest, HttpResponse
from ..errors import (
    InsufficientFunds,
    InvalidRequest,
    RecipientRejected,
    UnsupportedFeature,
)
from ..models import Balance, SendResult, StatusResult
from ..phone import PhoneFormat
from ._base import ApiKeyProvider, AuthSpec, ErrorSpec, Limits, Outgoing, as_text

__all__ = ["GoSmsRo"]

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

    def status(self, message_id: str, *, recipient: str | None = None) -> StatusResult:
        """Not available: raises :class:`UnsupportedFeature` (use delivery webhooks)."""
        raise UnsupportedFeature(_WEBHOOK_HINT.format(what="status"))

    def balance(self) -> Balance:
        """Not available: raises :class:`UnsupportedFeature`."""
        raise UnsupportedFeature(_WEBHOOK_HINT.format(what="balance"))

    def _send_request(self, outgoing: Outgoing) -> HttpRequest:
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
        return self._request("POST", "/message/send", "send", json=body, sends_message=True)

    def _parse_send(self, reply: HttpResponse, body: Any, outgoing: Outgoing) -> SendResult:
        data = self._object(reply, body, sends_message=True)
        message_id = as_text(data.get("messageId"))
        if message_id is None:
            raise self._invalid(reply, "send reply without messageId", sends_message=True)
        deduction = data.get("balanceDeduction")
        return SendResult(
            provider=self.name,
            message_id=message_id,
            recipients=outgoing.queued(message_id),
            cost=Decimal(str(deduction)) if deduction is not None else None,
            currency=as_text(data.get("currency")),
            raw=data,
        )

    def _find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        if not isinstance(body, dict):
            return None
        message = str(body.get("message") or body.get("error") or "")
        for field in _CODE_FIELDS:
            value = body.get(field)
            if isinstance(value, str) and value.strip().upper() in GOSMS_RO_ERRORS:
                return value.strip().upper(), message
        if body.get("success") is False or reply.status >= 400:
            return None, message  # the HTTP status (400/401/402) decides the class
        return None
