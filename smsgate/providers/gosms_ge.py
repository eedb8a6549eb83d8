"""GOSMS.GE (Georgia): ``https://api.gosms.ge/api``.

Wire facts (PROVIDERS.md section 1): JSON POST bodies carrying ``api_key``; camelCase replies;
errors as ``{"errorCode": int, "message": str}``, sometimes inside HTTP 200 ("API returns 200
with error body", as the official .NET v6 client notes); numbers as ``995XXXXXXXXX``.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from itertools import repeat
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeGuard

from ..errors import (
    AuthenticationError,
    InsufficientFunds,
    InvalidRequest,
    NotFound,
    OtpAlreadyUsed,
    OtpError,
    OtpExpired,
    RateLimited,
    RecipientRejected,
    SenderRejected,
    ValidationError,
)
from ..models import (
    _SET_ERROR,
    _SET_MESSAGE_ID,
    _SET_PHONE,
    _SET_STATUS,
    Balance,
    OtpChallenge,
    OtpVerification,
    RecipientResult,
    RecipientStatus,
    SendResult,
    Status,
    StatusResult,
    _new_object,
    _new_result,
    _recipient_result,
)
from ..segments import GSM7, UCS2
from . import (
    DEFAULT_TIMEOUT,
    ApiKeyProvider,
    AuthSpec,
    ErrorSpec,
    HttpRequest,
    HttpResponse,
    Limits,
    Outgoing,
    PhoneFormat,
    Transport,
    as_money,
    as_text,
    first_present,
    parse_rate_limit,
    read_code,
)

if TYPE_CHECKING:
    import requests

__all__ = ["GoSmsGe"]

#: Error codes 100-113, named as in the official SDKs (GoSmsErrorCode).
GOSMS_GE_ERRORS: Final[Mapping[int | str, ErrorSpec]] = {
    100: ErrorSpec(AuthenticationError, "INVALID_API_KEY: invalid or missing API key"),
    101: ErrorSpec(SenderRejected, "INVALID_SENDER: invalid or unapproved sender name"),
    102: ErrorSpec(InsufficientFunds, "INSUFFICIENT_BALANCE: not enough SMS credits"),
    103: ErrorSpec(InvalidRequest, "INVALID_PARAMETERS: invalid parameters (or text too long)"),
    104: ErrorSpec(NotFound, "MESSAGE_NOT_FOUND: unknown messageId"),
    105: ErrorSpec(RecipientRejected, "INVALID_PHONE: invalid phone number"),
    # SDKs disagree ("OTP send failed" vs "OTP verification failed"); either way an OTP
    # operation the provider refused: nothing more specific can be said.
    106: ErrorSpec(OtpError, "OTP_FAILED: the OTP operation failed"),
    107: ErrorSpec(SenderRejected, "SENDER_EXISTS: the sender name already exists"),
    # "Account/API key not configured": the account cannot use the API until set up, which the
    # caller fixes like a credential problem, not by retrying.
    108: ErrorSpec(AuthenticationError, "NOT_CONFIGURED: account or API key not configured"),
    109: ErrorSpec(RateLimited, "TOO_MANY_REQUESTS: OTP rate limit exceeded"),
    110: ErrorSpec(RateLimited, "ACCOUNT_LOCKED: account temporarily locked (OTP brute force)"),
    111: ErrorSpec(OtpExpired, "OTP_EXPIRED: the OTP code has expired"),
    112: ErrorSpec(OtpAlreadyUsed, "OTP_ALREADY_USED: the OTP code was already used"),
    113: ErrorSpec(InvalidRequest, "INVALID_NO_SMS_NUMBER: invalid noSmsNumber"),
}

# /checksms statuses are not documented as an enum: SDK examples use delivered, pending, failed
# and sent; fixtures use DELIVERED; the pre-v6 .NET SDK knew IN_PROGRESS.
_STATUS_WORDS: Final[Mapping[str, Status]] = {
    "in progress": Status.QUEUED,
    "processing": Status.QUEUED,
}


class GoSmsGe(ApiKeyProvider):
    """GOSMS.GE, registry name ``gosms.ge``.

    Args:
        api_key: the account's API key (sent in the JSON body as ``api_key``).
        sender: the approved brand name sent as ``from`` (required by GOSMS.GE, per call or
            here).
        no_sms_number: the advertising opt-out ("NoSMS") number printed on campaigns; when set,
            sends go through ``/sendbulk``, the endpoint that carries it. A per-call
            ``extra={"noSmsNumber": ...}`` overrides it.
    """

    name: ClassVar[str] = "gosms.ge"
    default_base_url: ClassVar[str] = "https://api.gosms.ge/api"
    home_region = "GE"
    # "Format: 995123456789" is the only documented number format.
    allowed_regions: ClassVar[frozenset[str] | None] = frozenset({"GE"})
    phone_format: ClassVar[PhoneFormat] = PhoneFormat.DIGITS
    capabilities = frozenset(
        {"bulk", "status", "balance", "urgent", "otp", "sender_registration"}
    )
    # "Latin: 918 chars = 6 SMS; Unicode (Georgian): 402 chars = 6 SMS": six parts either way.
    # Sender length rules are not published; 11 is the GSM alphanumeric sender maximum.
    limits: ClassVar[Limits] = Limits(
        max_segments=6, max_sender_length=11, sender_required=True, bulk_size=1000
    )
    auth: ClassVar[tuple[AuthSpec, ...]] = (AuthSpec("body", "api_key", "api_key"),)
    error_table: ClassVar[Mapping[int | str, ErrorSpec]] = GOSMS_GE_ERRORS
    status_words: ClassVar[Mapping[str, Status]] = _STATUS_WORDS
    # The key, the numbers, the text, the sender and the urgent option are smsgate's to
    # write; ``noSmsNumber`` stays open to ``extra`` (documented below).
    owned_fields = frozenset({"api_key", "from", "to", "text", "urgent"})
    url_credentials: ClassVar[Mapping[str, str]] = {"user": "api_key"}

    def __init__(
        self,
        api_key: str,
        *,
        sender: str | None = None,
        no_sms_number: str | None = None,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        transport: Transport | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(
            api_key, sender=sender, base_url=base_url, timeout=timeout, session=session,
            transport=transport, key=key,
        )
        self.no_sms_number = (
            None if no_sms_number is None else self.wire_number(no_sms_number)
        )

    # -- send ------------------------------------------------------------------------------
    def build_send(self, outgoing: Outgoing) -> HttpRequest:
        extra = dict(outgoing.extra)
        no_sms = extra.pop("noSmsNumber", None) or self.no_sms_number
        if len(outgoing.wire_numbers) == 1 and not no_sms:
            body: dict[str, Any] = {
                "from": outgoing.sender,
                "to": outgoing.wire_numbers[0],
                "text": outgoing.text,
                "urgent": outgoing.urgent,
            }
            path = "/sendsms"
        else:
            body = {
                "from": outgoing.sender,
                "to": list(outgoing.wire_numbers),
                "text": outgoing.text,
                "urgent": outgoing.urgent,
            }
            if no_sms:  # the SDKs omit the field entirely when it is not used
                body["noSmsNumber"] = str(no_sms)
            path = "/sendbulk"
        body.update(extra)
        return self.new_request("POST", path, "send", json=body, sends_message=True)

    def parse_send(self, reply: HttpResponse, body: Any, outgoing: Outgoing) -> SendResult:
        """Read a send reply; an error (a non-zero ``errorCode``) never gets here.

        Both official SDKs treat only a non-zero ``errorCode`` as an error; ``success`` says
        whether the message was sent ("Whether the message was sent", SmsSendResponse). So a
        ``/sendbulk`` reply with a ``messages`` list is read number by number whatever its
        top-level ``success``, and a ``/sendsms`` reply with ``success: false`` is a refused
        recipient, not an error a gateway would fail over on (re-sending to a number the
        provider refused, e.g. a blacklisted one, would bypass its opt-out).
        """
        data = self.json_object(reply, body)
        encoding = _encoding(data.get("encode"))
        segments = data.get("segment")
        if isinstance(data.get("messages"), list):
            recipients = _bulk_recipients(data["messages"], outgoing)
        elif data.get("success") is True:
            message_id = as_text(first_present(data, "messageId", "message_id"))
            if message_id is None:
                raise self.invalid_reply(reply, "send reply without messageId")
            recipients = outgoing.queued(message_id)
        elif data.get("success") is False and len(outgoing.recipients) == 1:
            reason = as_text(data.get("message")) or as_text(data.get("error"))
            recipients = [RecipientResult(
                phone=outgoing.recipients[0], status=Status.REJECTED,
                error=reason or "not sent (success: false)",
            )]
        else:
            # Neither "sent" nor "not sent" is stated: the outcome is unknown.
            raise self.invalid_reply(reply, "send reply does not state success")
        return _new_result(
            provider=self.name,
            message_id=next((r.message_id for r in recipients if r.message_id), None),
            recipients=recipients,
            segments=segments if _is_int(segments) else None,
            encoding=encoding,
            balance=as_money(data.get("balance")),
            raw=data,
        )

    # -- status and balance ----------------------------------------------------------------
    def build_status(self, message_id: str, recipient: str | None) -> HttpRequest:
        # The official .NET and Python SDKs send an int, the Node SDK a string.
        # Only a plain ASCII number of a sane length is sent as an int (int() of a Unicode digit
        # string or of thousands of digits would change it or raise).
        plain = message_id.isascii() and message_id.isdigit() and len(message_id) <= 18
        wire_id: int | str = int(message_id) if plain else message_id
        return self.new_request("POST", "/checksms", "status", json={"messageId": wire_id})

    def parse_status(
        self, reply: HttpResponse, body: Any, message_id: str, recipient: str | None
    ) -> StatusResult:
        data = self._stated(reply, body)
        word = data.get("status")
        if not isinstance(word, str):
            raise self.invalid_reply(reply, "status reply without a status word")
        status = Status.from_word(word, self.status_words)
        reported = first_present(data, "messageId", "message_id")
        if reported is not None and as_text(reported) is None:
            raise self.invalid_reply(reply, "status reply with a messageId that is not an id")
        phone = as_text(data.get("to"))
        return StatusResult(
            provider=self.name,
            message_id=as_text(first_present(data, "messageId", "message_id")) or message_id,
            status=status,
            recipients=[RecipientStatus(phone=_e164(phone), status=status)] if phone else [],
            raw=data,
        )

    def build_balance(self) -> HttpRequest:
        return self.new_request("POST", "/sms-balance", "balance", json={})

    def parse_balance(self, reply: HttpResponse, body: Any) -> Balance:
        data = self._stated(reply, body)
        amount = as_money(data.get("balance"))
        if amount is None:
            raise self.invalid_reply(reply, "balance reply without a finite balance")
        return Balance(provider=self.name, amount=amount, unit="credits", raw=data)

    # -- GOSMS.GE only ---------------------------------------------------------------------
    def send_otp(self, phone: str) -> OtpChallenge:
        """Have GOSMS.GE generate and send a one-time code; keep the returned ``hash``.

        Raises:
            RateLimited: codes 109/110, with ``retry_after`` from the ``Retry-After`` header.
        """
        result: OtpChallenge = self.run_operation("send_otp", self.wire_number(phone))
        return result

    def build_send_otp(self, wire: str) -> HttpRequest:
        """``wire``: the number as GOSMS.GE writes it (``995...``)."""
        return self.new_request("POST", "/otp/send", "otp_send", json={"phone": wire},
                                sends_message=True)

    def parse_send_otp(self, reply: HttpResponse, body: Any, wire: str) -> OtpChallenge:
        data = self._stated(reply, body)
        otp_hash = data.get("hash")
        if not isinstance(otp_hash, str) or not otp_hash.strip():
            raise self.invalid_reply(reply, "OTP reply without hash")
        return OtpChallenge(
            hash=otp_hash,
            phone="+" + wire,
            balance=as_money(data.get("balance")),
            rate_limit=parse_rate_limit(reply.headers),
            raw=data,
        )

    def verify_otp(self, phone: str, hash: str, code: str | int) -> OtpVerification:
        """Check a code. A wrong code returns ``valid=False``; it does not raise.

        Raises:
            OtpExpired, OtpAlreadyUsed: codes 111 and 112.
            RateLimited: too many attempts (109) or the account is locked (110).
        """
        if not isinstance(hash, str) or not hash.strip():
            raise ValidationError("hash (from send_otp) must be a non-empty string")
        if isinstance(code, bool) or not isinstance(code, (str, int)):
            raise ValidationError("code must be a non-empty string")
        if isinstance(code, int) and not -(10**18) < code < 10**18:
            raise ValidationError("code is far longer than any OTP code")  # str() could raise
        if not str(code).strip():
            raise ValidationError("code must be a non-empty string")
        result: OtpVerification = self.run_operation(
            "verify_otp", self.wire_number(phone), hash, str(code).strip()
        )
        return result

    def build_verify_otp(self, wire: str, hash: str, code: str) -> HttpRequest:
        return self.new_request("POST", "/otp/verify", "otp_verify",
                                json={"phone": wire, "hash": hash, "code": code})

    def parse_verify_otp(
        self, reply: HttpResponse, body: Any, wire: str, hash: str, code: str
    ) -> OtpVerification:
        data = self._stated(reply, body)
        verify = data.get("verify")
        if not isinstance(verify, bool):
            raise self.invalid_reply(reply, "verify reply without a verify flag")
        return OtpVerification(valid=verify, rate_limit=parse_rate_limit(reply.headers), raw=data)

    def create_sender(self, name: str) -> bool:
        """Register a sender name; GOSMS.GE must approve it before it can be used.

        Returns the provider's ``success`` flag.

        Raises:
            SenderRejected: the name already exists (107) or is not acceptable.
        """
        self._check_sender(name)
        result: bool = self.run_operation("create_sender", name)
        return result

    def build_create_sender(self, name: str) -> HttpRequest:
        return self.new_request("POST", "/sender", "create_sender", json={"name": name})

    def parse_create_sender(self, reply: HttpResponse, body: Any, name: str) -> bool:
        # "Whether the sender was created": the reply must say it, either way.
        success = self.json_object(reply, body).get("success")
        if not isinstance(success, bool):
            raise self.invalid_reply(reply, "sender reply without a success flag")
        return success

    def _stated(self, reply: HttpResponse, body: Any) -> dict[str, Any]:
        """``body`` as an object that says ``success: true``, or :meth:`invalid_reply`."""
        data = self.json_object(reply, body)
        if data.get("success") is not True:
            raise self.invalid_reply(reply, "reply does not state success")
        return data

    # -- errors ----------------------------------------------------------------------------
    def find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        # As both official SDKs: an error is a non-zero errorCode, whatever the HTTP status
        # ("API returns 200 with error body"). success: false alone is not one: a bulk reply
        # says it with a per-number list to read, a /sendsms reply of a number not sent.
        if not isinstance(body, dict):
            return None
        present, code = read_code(body.get("errorCode"))
        if present and code != 0:
            # A code too long to read as a number (code None) is still a non-zero code: an
            # error smsgate does not know, classified by the HTTP status like any other.
            return code, str(body.get("message") or body.get("error") or "")
        return None


def _bulk_recipients(items: list[Any], outgoing: Outgoing) -> list[RecipientResult]:
    """One result per input number, in input order.

    Each ``messages`` item is ``{messageId, to, success, error?}``. Items are matched to the
    numbers sent by their echoed ``to``. When some echoes do not match what was sent but
    there are as many items as numbers, and every echo that does match sits at its number's
    position (the reply keeps the order sent), items are matched by position. Otherwise a
    number without its item is :attr:`Status.UNKNOWN` (it may have been sent), never "not
    sent": a guess could report a refused number accepted, or the reverse.
    """
    if len(items) == len(outgoing.wire_numbers):
        paired = _paired_in_order(items, outgoing)
        if paired is not None:
            return paired
    return _matched_recipients(items, outgoing)


def _matched_recipients(items: list[Any], outgoing: Outgoing) -> list[RecipientResult]:
    """:func:`_bulk_recipients` for any reply: match by echo, else by position, else unknown."""
    echoes = [_echo(item) for item in items]
    by_number: dict[str, list[Any]] = {}
    for item, echoed in zip(items, echoes, strict=True):
        if echoed is not None:
            by_number.setdefault(echoed, []).append(item)
    matched = [
        by_number[wire].pop(0) if by_number.get(wire) else None
        for wire in outgoing.wire_numbers
    ]
    sent = set(outgoing.wire_numbers)
    if (
        None in matched
        and len(items) == len(outgoing.wire_numbers)
        and all(echoed not in sent or echoed == wire
                for echoed, wire in zip(echoes, outgoing.wire_numbers, strict=True))
    ):
        matched = list(items)
    return [_bulk_item(e164, item) for e164, item in zip(outgoing.recipients, matched,
                                                          strict=True)]


def _paired_in_order(items: list[Any], outgoing: Outgoing) -> list[RecipientResult] | None:
    """The usual reply, read in one pass: item i is a dict echoing number i exactly as sent.

    Every rule of :func:`_bulk_recipients` then pairs item i with number i, so the results
    are the same; ``None`` as soon as one item does not fit (the general reading decides).
    A 10,000-number send reads 10,000 items, so the accepted item is built inline, and a
    reply accepting every number is read by C loops (:func:`_all_accepted_in_order`).
    """
    every = _all_accepted_in_order(items, outgoing)
    if every is not None:
        return every
    results: list[RecipientResult] = []
    append = results.append
    queued = Status.QUEUED
    for e164, wire, item in zip(outgoing.recipients, outgoing.wire_numbers, items,
                                strict=True):
        if type(item) is not dict or item.get("to") != wire:
            return None
        if item.get("success") is True:
            message_id = item.get("messageId")
            # as_text(), with its commonest case (an int id, as GOSMS.GE sends) done inline.
            append(_recipient_result(
                e164, queued, str(message_id) if type(message_id) is int else as_text(message_id)
            ))
        else:
            append(_bulk_item(e164, item))
    return results


def _all_accepted_in_order(
    items: list[Any], outgoing: Outgoing
) -> list[RecipientResult] | None:
    """:func:`_paired_in_order` for a reply that accepts every number, with no Python code
    run per item; ``None`` for any other reply (the loop of :func:`_paired_in_order` reads
    it).

    Its loop, for such a reply, gives item i's number :attr:`Status.QUEUED` and the item's
    ``messageId`` as text. The same tests are made here over the whole list, each by a C
    loop: every item a dict (``type`` exactly), every echoed ``to`` equal to its number as
    sent (``==``, as the loop compares), every ``success`` the value ``True`` itself (a
    ``bool`` equal to ``True``), every id an ``int`` (written by ``str``, as the loop does;
    other ids go through :func:`as_text`, as there); and each result is built as
    :func:`_recipient_result` builds it, slot by slot.
    """
    count = len(items)
    if (
        count != len(outgoing.wire_numbers)
        or count == 0
        or set(map(type, items)) != {dict}
        or list(map(dict.get, items, repeat("to", count))) != list(outgoing.wire_numbers)
    ):
        return None
    flags = list(map(dict.get, items, repeat("success", count)))
    if flags.count(True) != count or set(map(type, flags)) != {bool}:
        return None
    ids = list(map(dict.get, items, repeat("messageId", count)))
    texts = list(map(str, ids)) if set(map(type, ids)) == {int} else [
        str(value) if type(value) is int else as_text(value) for value in ids]
    results: list[RecipientResult] = list(map(_new_object, repeat(RecipientResult, count)))
    for setter, values in (
        (_SET_PHONE, outgoing.recipients),
        (_SET_STATUS, repeat(Status.QUEUED, count)),
        (_SET_MESSAGE_ID, texts),
        (_SET_ERROR, repeat(None, count)),
    ):
        collections.deque(map(setter, results, values), maxlen=0)
    return results


def _echo(item: Any) -> str | None:
    echoed = as_text(item.get("to")) if isinstance(item, dict) else None
    return echoed.lstrip("+") if echoed is not None else None


def _bulk_item(e164: str, item: Any) -> RecipientResult:
    if not isinstance(item, dict):
        return _recipient_result(e164, Status.UNKNOWN, None, "not in the provider's reply")
    success = item.get("success")
    if success is True:
        message_id = item.get("messageId")
        # as_text(), with its commonest case (an int id, as GOSMS.GE sends) done inline.
        return _recipient_result(
            e164, Status.QUEUED,
            str(message_id) if type(message_id) is int else as_text(message_id),
        )
    if success is False:
        return _recipient_result(
            e164, Status.REJECTED, None,
            as_text(item.get("error")) or "rejected by the provider",
        )
    return _recipient_result(
        e164, Status.UNKNOWN, None, "the provider's reply does not say whether it was sent"
    )


def _encoding(value: object) -> str | None:
    # "default" is confirmed; the Unicode spelling varies between SDKs: compare loosely.
    if not isinstance(value, str):
        return None
    word = value.strip().lower()
    if word.startswith(("unicode", "ucs")):
        return UCS2
    if word in ("default", "gsm", "gsm7", "gsm-7", "latin"):
        return GSM7
    return None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _e164(digits: str | None) -> str | None:
    if not digits:
        return None
    return digits if digits.startswith("+") else "+" + digits
