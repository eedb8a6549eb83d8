"""SMSOffice.ge (Georgia): ``https://smsoffice.ge/api``.

Wire facts (PROVIDERS.md section 3): the key travels as the ``key`` parameter; replies are
PascalCase ``{"Success", "Message", "Output", "ErrorCode"}`` with errors inside HTTP 200; no
message id is returned, so the caller's ``reference`` is the handle for status and callbacks;
the balance reply is a plain integer.

Sends use the form-encoded POST ("When using POST request, append slash symbol at the end of the
path as follows: send/"), which keeps the key out of URLs and has no 4096-byte limit. Status and
balance are documented as GET only, so there the key is in the query string; smsgate scrubs it
from every log line and error.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from ..errors import (
    AuthenticationError,
    DeliveryUnknown,
    InsufficientFunds,
    InvalidRequest,
    RecipientRejected,
    SenderRejected,
    ValidationError,
)
from ..models import (
    Balance,
    RecipientStatus,
    SendResult,
    Status,
    StatusResult,
    _new_result,
)
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
    read_code,
)

__all__ = ["SmsOfficeGe"]

#: The documented response codes, plus two seen only in a third-party client.
SMSOFFICE_GE_ERRORS: Final[Mapping[int | str, ErrorSpec]] = {
    10: ErrorSpec(RecipientRejected, "Destination does not contain any valid numbers"),
    20: ErrorSpec(InsufficientFunds, "Balance is insufficient"),
    40: ErrorSpec(InvalidRequest, "Text size limit exceeded", source="third-party"),
    60: ErrorSpec(InvalidRequest, "Content parameter is missing"),
    70: ErrorSpec(InvalidRequest, "Destination parameter is empty"),
    75: ErrorSpec(RecipientRejected, "All numbers are stoplisted"),
    76: ErrorSpec(RecipientRejected, "All numbers have invalid format"),
    77: ErrorSpec(RecipientRejected, "All numbers are stoplisted or have invalid format"),
    80: ErrorSpec(AuthenticationError, "API key is incorrect"),
    110: ErrorSpec(SenderRejected, "Invalid sender parameter", source="third-party"),
    120: ErrorSpec(AuthenticationError, "API access is disabled"),
    150: ErrorSpec(SenderRejected, "Sender not found"),
    500: ErrorSpec(AuthenticationError, "API key is missing"),
    600: ErrorSpec(InvalidRequest, "Destination is missing"),
    700: ErrorSpec(SenderRejected, "Sender is missing"),
    800: ErrorSpec(InvalidRequest, "Content is missing"),
    # "-100 Temporary delay", and the document says no more. Reading it as "server
    # temporarily unavailable, nothing taken" is a third-party client's gloss, not the
    # provider's word: until SMSOffice.ge says otherwise the outcome is unknown, so no retry
    # and no failover (either could send the message twice); settle it with status().
    -100: ErrorSpec(
        DeliveryUnknown,
        "Temporary delay (the document says no more; whether the message was taken is "
        "not stated)",
        retryable=False,
        outcome="unknown",
    ),
}

_INTEGER: Final = re.compile(r"-?[0-9]+")

#: "Reference must be a UTF-8 string with length of at most 20 characters."
MAX_REFERENCE: Final = 20


def new_reference() -> str:
    """A unique reference of 20 characters: ``sg`` and 72 random bits in hex."""
    return "sg" + secrets.token_hex(9)


class SmsOfficeGe(ApiKeyProvider):
    """SMSOffice.ge, registry name ``smsoffice.ge``.

    ``SendResult.message_id`` is the send's ``reference``: the caller's, or one smsgate
    generates so that status checks and callbacks always work. Pass it to :meth:`status`
    with the recipient's number.
    """

    name: ClassVar[str] = "smsoffice.ge"
    default_base_url: ClassVar[str] = "https://smsoffice.ge/api"
    home_region = "GE"
    # Numbers must be "in international format, without 00 and +. For example: 995577123456";
    # a third-party client calls code 10 "Foreign number": Georgia only.
    allowed_regions: ClassVar[frozenset[str] | None] = frozenset({"GE"})
    phone_format: ClassVar[PhoneFormat] = PhoneFormat.DIGITS
    capabilities = frozenset(
        {"bulk", "status", "balance", "urgent", "flash", "schedule", "reference"}
    )
    # content: "Max. 1000 characters"; sender: at most 11 of a-z A-Z 0-9 - and .; the
    # destination list is unlimited over POST, sent in chunks of 1000 to keep requests sane.
    limits: ClassVar[Limits] = Limits(
        max_chars=1000,
        max_sender_length=11,
        sender_pattern=r"[A-Za-z0-9.\-]+",
        sender_required=True,
        bulk_size=1000,
    )
    auth: ClassVar[tuple[AuthSpec, ...]] = (AuthSpec("param", "key", "api_key"),)
    error_table: ClassVar[Mapping[int | str, ErrorSpec]] = SMSOFFICE_GE_ERRORS
    error_code_heading: ClassVar[str] = "ErrorCode"
    # The key, the numbers, the text, the sender, the reference and the fields of smsgate's
    # own options (urgent, flash, schedule_at) are written by smsgate, never by ``extra``.
    owned_fields = frozenset({
        "key", "destination", "sender", "content", "reference", "urgent", "contentType",
        "scheduledAt",
    })
    url_credentials: ClassVar[Mapping[str, str]] = {"user": "api_key"}
    # A reply whose outcome is unknown (-100) names the reference to look the send up by.
    handle_field: ClassVar[str | None] = "reference"
    extra_encoding = "form"  # the send is a form post: extra fields are text values

    def plan_status(
        self, message_id: str, recipient: str | None = None, *, deadline: float | None = None
    ) -> Plan[StatusResult]:
        """Status of the message sent with reference ``message_id`` to ``recipient``.

        "In the case of messages sent to multiple numbers, you must check the status for each
        number individually": the recipient is required.
        """
        if recipient is None:
            raise ValidationError(
                "smsoffice.ge tracks messages by reference and number: pass recipient="
            )
        return super().plan_status(message_id, recipient, deadline=deadline)

    # -- send ------------------------------------------------------------------------------
    def complete_send(self, outgoing: Outgoing) -> Outgoing:
        if outgoing.reference is None:
            return attrs.evolve(outgoing, reference=new_reference())
        if len(outgoing.reference) > MAX_REFERENCE:
            raise ValidationError(
                f"smsoffice.ge references are at most {MAX_REFERENCE} characters"
            )
        return outgoing

    def build_send(self, outgoing: Outgoing) -> HttpRequest:
        form: dict[str, str] = {
            "destination": ",".join(outgoing.wire_numbers),
            "sender": outgoing.sender or "",
            "content": outgoing.text,
            "reference": outgoing.reference or "",
        }
        if outgoing.urgent:
            form["urgent"] = "true"
        if outgoing.flash:
            form["contentType"] = "2"  # "1: Text message, 2: Flash message"
        if outgoing.schedule_at is not None:
            form["scheduledAt"] = str(int(outgoing.schedule_at.timestamp()))  # Unix seconds
        form.update({key: str(value) for key, value in outgoing.extra.items()})
        return self.new_request("POST", "/v2/send/", "send", form=form, sends_message=True)

    def parse_send(self, reply: HttpResponse, body: Any, outgoing: Outgoing) -> SendResult:
        data = self.json_object(reply, body)
        # "0: The request has been successfully received by our system": a success is said,
        # not inferred from a missing error code.
        self._require_success(reply, data)
        return _new_result(
            provider=self.name,
            message_id=outgoing.reference,
            recipients=outgoing.queued(outgoing.reference),
            raw=data,
        )

    # -- status and balance ----------------------------------------------------------------
    def build_status(self, message_id: str, recipient: str | None) -> HttpRequest:
        destination = self.wire_number(recipient) if recipient is not None else ""
        return self.new_request(
            "GET",
            "/v2/getMessageStatus/",
            "status",
            params={"destination": destination, "reference": message_id},
        )

    def parse_status(
        self, reply: HttpResponse, body: Any, message_id: str, recipient: str | None
    ) -> StatusResult:
        data = self.json_object(reply, body)
        self._require_success(reply, data)
        output = data.get("Output")
        word = output.get("Status") if isinstance(output, dict) else None
        if not isinstance(word, str):
            raise self.invalid_reply(reply, "status reply without Output.Status")
        # Delivered, Undelivered, Expired, Pending, Unknown (compared case-insensitively).
        status = Status.from_word(word)
        return StatusResult(
            provider=self.name,
            message_id=message_id,
            status=status,
            recipients=[RecipientStatus(phone=recipient, status=status)],
            raw=data,
        )

    def build_balance(self) -> HttpRequest:
        return self.new_request("GET", "/getBalance", "balance")

    def parse_balance(self, reply: HttpResponse, body: Any) -> Balance:
        # "The response is the number of messages left": a plain integer, not JSON.
        text = reply.text.strip()
        if not _INTEGER.fullmatch(text):
            raise self.invalid_reply(reply, "balance reply is not a whole number")
        return Balance(provider=self.name, amount=int(text), unit="messages", raw=reply.text)

    def _require_success(self, reply: HttpResponse, data: dict[str, Any]) -> None:
        """A reply is a success only when it says so: ``Success: true`` and ``ErrorCode`` 0.

        A reply saying neither (``Success: false`` with code 0, or no code at all) is neither
        a refusal nor an acceptance: :class:`InvalidResponse`, which for a send means "may
        have been sent".
        """
        if data.get("Success") is not True or read_code(data.get("ErrorCode")) != (True, 0):
            raise self.invalid_reply(
                reply, "reply does not state success (Success: true, ErrorCode: 0)"
            )

    # -- errors ----------------------------------------------------------------------------
    def find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        # An error is a non-zero ErrorCode ("Response codes"), in HTTP 200 replies too.
        if not isinstance(body, dict):
            return None
        present, code = read_code(body.get("ErrorCode"))
        if present and code != 0:
            # A code too long to read as a number (code None) is still a non-zero code: an
            # error smsgate does not know, classified by the HTTP status like any other.
            return code, str(body.get("Message") or "")
        return None

