"""The shared base of every provider: declarations in, one interpretation of them.

An adapter is mostly data: its endpoints' request builders and reply parsers, where the
credential goes, how numbers are written, its limits, its capabilities and its error table.
:class:`ProviderBase` validates input against those declarations before any I/O;
:class:`HttpProvider` adds the HTTP exchange, the reading of error replies and the merging of
chunked sends. Adapters never sleep, retry or fail over: that is the Gateway's job.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import math
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal, TypeVar

import attrs
import requests

from .._http import DEFAULT_TIMEOUT, AuthParam, HttpRequest, HttpResponse, Transport
from .._secrets import Secret, get_logger, header_problem
from .._unexpected import carry_key as _carry_key
from .._unexpected import detach_error, unexpected, without_locals
from .._urls import check_base_url
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    InsufficientFunds,
    InvalidPhoneNumber,
    InvalidRequest,
    InvalidResponse,
    InvalidSender,
    MessageTooLong,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UnsupportedFeature,
    ValidationError,
)
from ..models import Attempt, Balance, RateLimit, RecipientResult, SendResult, Status, StatusResult
from ..phone import (
    PhoneFormat,
    format_phone,
    mask_phone,
    normalize_phone,
    region_of,
    validated_region,
)
from ..segments import SegmentInfo, segments

__all__ = [
    "ApiKeyProvider",
    "AuthSpec",
    "ErrorSpec",
    "HttpProvider",
    "Limits",
    "Outgoing",
    "ProviderBase",
    "as_money",
    "as_text",
    "detach_error",
    "first_present",
    "is_blank",
    "iter_errors",
    "parse_rate_limit",
    "parse_retry_after",
    "read_code",
    "without_locals",
]

_log = get_logger("smsgate.providers")
_T = TypeVar("_T")



#: Which capability each ``send`` option needs. An option set to a non-default value on a
#: provider without the capability raises ``UnsupportedFeature`` before any request.
OPTION_CAPABILITIES: Final[Mapping[str, str]] = {
    "urgent": "urgent",
    "schedule_at": "schedule",
    "validity": "validity",
    "reference": "reference",
    "idempotency_key": "idempotency",
    "flash": "flash",
    "priority": "priority",
}


@attrs.frozen
class ErrorSpec:
    """How one provider error code maps onto the smsgate tree.

    Attributes:
        error: the exception class raised.
        description: the provider's own wording.
        retryable: overrides the class default when set.
        source: ``"documented"`` (the provider's docs or official SDK) or ``"third-party"``.
        outcome: what the code says about the message. ``"refused"`` (the default): the
            provider said no, so nothing was sent. ``"unknown"``: the code does not say
            whether the message went out (SMSOffice.ge's -100, "Temporary delay", and nothing
            more), so the error says ``may_have_sent=True`` for a send and names the send's
            handle, to be settled by a status lookup instead of a blind resend.
    """

    error: type[ProviderError]
    description: str
    retryable: bool | None = None
    source: Literal["documented", "third-party"] = "documented"
    outcome: Literal["refused", "unknown"] = "refused"


@attrs.frozen
class AuthSpec:
    """Where a credential goes: a header, the query string, the JSON body, or ``param``
    (the query string of a GET, the form of a POST)."""

    location: Literal["header", "query", "body", "param"]
    name: str
    credential: str
    prefix: str = ""


@attrs.frozen
class Limits:
    """A provider's documented limits, checked before any request.

    Attributes:
        max_chars: characters of text at most.
        max_segments: SMS parts at most (GSM 03.38 counting).
        max_sender_length: characters of a sender name at most.
        sender_pattern: a regular expression a whole sender name must match.
        sender_required: the provider refuses a send with no sender.
        bulk_size: recipients per request (``None``: no documented limit; ``1``: no bulk call).
    """

    max_chars: int | None = None
    max_segments: int | None = None
    max_sender_length: int | None = 11
    sender_pattern: str | None = None
    sender_required: bool = False
    bulk_size: int | None = None


@attrs.frozen
class Outgoing:
    """A send that passed validation: numbers in E.164 and in wire form, options checked."""

    recipients: tuple[str, ...]
    wire_numbers: tuple[str, ...]
    text: str
    info: SegmentInfo
    sender: str | None = None
    urgent: bool = False
    schedule_at: dt.datetime | None = None
    validity: dt.timedelta | None = None
    reference: str | None = None
    idempotency_key: str | None = None
    flash: bool = False
    priority: bool = False
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    def queued(self, message_id: str | None) -> list[RecipientResult]:
        """Every recipient accepted under one id (providers that answer per request)."""
        return [
            RecipientResult(phone=n, status=Status.QUEUED, message_id=message_id)
            for n in self.recipients
        ]

    def chunks(self, size: int | None) -> list[Outgoing]:
        """Split into sends of at most ``size`` recipients, in order."""
        if size is None or len(self.recipients) <= size:
            return [self]
        return [
            attrs.evolve(
                self,
                recipients=self.recipients[start : start + size],
                wire_numbers=self.wire_numbers[start : start + size],
            )
            for start in range(0, len(self.recipients), size)
        ]


#: The longest timeout smsgate takes, in seconds: a day. Far beyond any provider's answer,
#: and well inside what sockets and ``threading`` waits accept (an infinite or huge value
#: would be accepted here and fail with a raw ``OverflowError`` after the request went out).
MAX_TIMEOUT: Final = min(86_400.0, threading.TIMEOUT_MAX)
#: The shortest: a millisecond. Below it no reply can arrive, and a value that rounds to zero
#: would turn a socket non-blocking instead of bounding it.
MIN_TIMEOUT: Final = 0.001


def _seconds_value(value: object) -> float | None:
    """``value`` as a finite number of seconds in ``[MIN_TIMEOUT, MAX_TIMEOUT]``, else ``None``.

    Compared before any conversion: ``float()`` of a huge int raises, and NaN compares false
    both ways (so it is refused, never taken for "no bound").
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    plain = int.__int__(value) if isinstance(value, int) else float.__float__(value)
    if not MIN_TIMEOUT <= plain <= MAX_TIMEOUT:
        return None
    return float(plain)


def _check_timeout(timeout: object) -> float | tuple[float, float]:
    single = _seconds_value(timeout)
    if single is not None:
        return single
    if isinstance(timeout, tuple) and len(timeout) == 2:
        pair = (_seconds_value(timeout[0]), _seconds_value(timeout[1]))
        if pair[0] is not None and pair[1] is not None:
            return (pair[0], pair[1])
    shown = type(timeout).__name__ if not isinstance(timeout, (int, float, tuple)) else \
        "that value"
    raise ConfigurationError(
        f"timeout must be finite seconds from {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g}, or a "
        f"(connect, read) pair of them, not {shown}; smsgate never waits forever"
    )


class ProviderBase:
    """Declarations and input validation shared by every provider, HTTP or not."""

    #: Registry name (``"gosms.ge"``).
    name: ClassVar[str]
    #: Region whose national numbers are accepted (``"GE"``), or ``None``.
    home_region: str | None = None
    #: Regions the provider can reach; ``None`` means any.
    allowed_regions: ClassVar[frozenset[str] | None] = None
    #: How numbers are written on the wire.
    phone_format: ClassVar[PhoneFormat] = PhoneFormat.E164
    #: What the provider can do (see the SmsProvider protocol).
    capabilities: frozenset[str] = frozenset()
    #: Documented limits.
    limits: ClassVar[Limits] = Limits()
    #: How ``extra`` fields travel: ``"json"`` (any JSON value) or ``"form"`` (one text
    #: value per field). ``prepare`` refuses what this encoding cannot carry, before any I/O.
    extra_encoding: ClassVar[Literal["json", "form"]] = "json"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every constructor takes credentials as plain strings: an error it raises (a bad
        # timeout, a base_url) must not keep them in the frame locals on its traceback.
        if "__init__" in cls.__dict__:
            cls.__init__ = without_locals(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __init__(self, *, sender: str | None = None) -> None:
        if sender is not None:
            self._check_sender(sender)
        self.sender = sender

    # -- context manager -------------------------------------------------------------------
    def close(self) -> None:
        """Release network resources. Safe to call twice."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # getattr: a half-built provider (its constructor raised) is shown too, in a
        # traceback rendered with its frame locals.
        return f"{type(self).__name__}(sender={getattr(self, 'sender', None)!r})"

    # -- validation ------------------------------------------------------------------------
    def _check_sender(self, sender: object) -> str:
        if not isinstance(sender, str) or not sender.strip():
            raise InvalidSender("sender must be a non-empty string")
        if not _is_unicode(sender):
            raise InvalidSender("sender holds a lone surrogate: it is not valid Unicode text")
        limit = self.limits.max_sender_length
        if limit is not None and len(sender) > limit:
            raise InvalidSender(
                f"{self.name}: sender {sender!r} is {len(sender)} characters; at most {limit}"
            )
        pattern = self.limits.sender_pattern
        if pattern is not None and not re.fullmatch(pattern, sender):
            raise InvalidSender(f"{self.name}: sender {sender!r} has characters it does not allow")
        return sender

    def _normalize_recipients(self, to: str | Sequence[str]) -> tuple[str, ...]:
        given: object = to  # as typed by the caller, not as annotated
        if isinstance(given, str):
            numbers: Sequence[object] = [given]
        elif isinstance(given, Sequence) and not isinstance(given, (bytes, bytearray)):
            numbers = given
        else:
            raise InvalidPhoneNumber(
                f"to must be a number or a sequence of numbers, not {type(to).__name__}"
            )
        if not numbers:
            raise InvalidPhoneNumber("no recipients given")
        result: list[str] = []
        allowed = self.allowed_regions
        append = result.append
        for number in numbers:
            # The common case first, in one step per number: a str already in valid E.164
            # form (ASCII digits, so no surrogate) in a region the provider reaches. Anything
            # else takes the checks below, in their order, so the same error is raised.
            if type(number) is str:
                region = validated_region(number)
                if region is not None and (allowed is None or region in allowed):
                    append(number)
                    continue
            append(self._normalize_one(number))
        return tuple(result)

    def _normalize_one(self, number: object) -> str:
        """One number in E.164, checked in full (the per-number path of every input form)."""
        if not isinstance(number, str):
            raise InvalidPhoneNumber(
                f"a phone number must be a string, not {type(number).__name__}"
            )
        if not _is_unicode(number):
            raise InvalidPhoneNumber("a phone number holds a lone surrogate")
        e164 = normalize_phone(number, self.home_region)
        if self.allowed_regions is not None and region_of(e164) not in self.allowed_regions:
            allowed = ", ".join(sorted(self.allowed_regions))
            raise InvalidPhoneNumber(
                f"{self.name} delivers only to {allowed}; {mask_phone(e164)} is in "
                f"{region_of(e164)}"
            )
        return e164

    def _check_text(self, text: object) -> SegmentInfo:
        if not isinstance(text, str):
            raise MessageTooLong(f"text must be a string, not {type(text).__name__}")
        if is_blank(text):
            raise MessageTooLong("text is empty (nothing but spaces or invisible characters)")
        if not _is_unicode(text):
            # Python strings may hold lone surrogates (from a bad decode, or JSON "\ud800");
            # no encoding on the wire can carry them, and the encoder would fail mid-send.
            raise ValidationError(
                f"text holds a lone surrogate at position {_first_surrogate(text)}: it is not "
                "valid Unicode text"
            )
        info = segments(text)
        max_chars = self.limits.max_chars
        if max_chars is not None and len(text) > max_chars:
            raise MessageTooLong(
                f"{self.name}: text is {len(text)} characters; at most {max_chars}"
            )
        max_segments = self.limits.max_segments
        if max_segments is not None and info.segments > max_segments:
            raise MessageTooLong(
                f"{self.name}: text needs {info.segments} {info.encoding} segments; "
                f"at most {max_segments}"
            )
        return info

    def _check_owned_fields(self, extra: Mapping[str, Any]) -> None:
        """Refuse ``extra`` fields the provider writes itself (see ``HttpProvider``)."""

    def _require(self, capability: str, what: str) -> None:
        if capability not in self.capabilities:
            raise UnsupportedFeature(f"{self.name} does not support {what}")

    def prepare(
        self,
        to: str | Sequence[str],
        text: str,
        *,
        sender: str | None = None,
        urgent: bool = False,
        schedule_at: dt.datetime | None = None,
        validity: dt.timedelta | None = None,
        reference: str | None = None,
        idempotency_key: str | None = None,
        flash: bool = False,
        priority: bool = False,
        extra: Mapping[str, Any] | None = None,
        allow_duplicates: bool = False,
    ) -> Outgoing:
        """Validate a send against this provider's declarations; no I/O.

        A number listed twice is kept once unless ``allow_duplicates`` (see
        :class:`smsgate.SmsProvider`).

        Raises:
            ValidationError: a subclass naming exactly what is wrong.
        """
        # Types first: nothing below may run an odd object's own __eq__, __str__ or encoder.
        for flag, given in (("urgent", urgent), ("flash", flash), ("priority", priority),
                            ("allow_duplicates", allow_duplicates)):
            if not isinstance(given, bool):
                raise ValidationError(f"{flag} must be True or False, not {type(given).__name__}")
        options = {
            "urgent": urgent,
            "schedule_at": schedule_at,
            "validity": validity,
            "reference": reference,
            "idempotency_key": idempotency_key,
            "flash": flash,
            "priority": priority,
        }
        for option, value in options.items():
            if value is not None and value is not False:
                self._require(OPTION_CAPABILITIES[option], f"the {option} option")
        if schedule_at is not None:
            _check_schedule(schedule_at)
        if validity is not None and (
            not isinstance(validity, dt.timedelta) or validity <= dt.timedelta(0)
        ):
            raise ValidationError("validity must be a positive timedelta")
        if reference is not None and (not isinstance(reference, str) or not reference):
            raise ValidationError("reference must be a non-empty string")
        if reference is not None and not _is_unicode(reference):
            raise ValidationError("reference holds a lone surrogate: it is not valid Unicode text")
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str)
            or not _HEADER_SAFE.fullmatch(idempotency_key)
        ):
            # It travels as an HTTP header (X-Idempotency-Key): visible ASCII, no padding.
            raise ValidationError(
                "idempotency_key must be 1-255 visible ASCII characters (spaces only inside)"
            )
        fields = _check_extra(extra, self.extra_encoding)
        self._check_owned_fields(fields)
        chosen_sender = sender if sender is not None else self.sender
        if chosen_sender is not None:
            self._check_sender(chosen_sender)
        elif self.limits.sender_required:
            raise InvalidSender(
                f"{self.name} needs a sender name: sender= in Python, ?sender=NAME in a "
                "provider URL, or --sender NAME on the command line"
            )
        info = self._check_text(text)
        recipients = self._normalize_recipients(to)
        if not allow_duplicates and len(recipients) > 1:
            recipients = tuple(dict.fromkeys(recipients))  # one message per number, in order
        if self.phone_format is PhoneFormat.DIGITS:  # format_phone's DIGITS, once a number
            wire = tuple([n.lstrip("+") for n in recipients])
        else:
            wire = tuple([format_phone(n, self.phone_format, self.home_region)
                          for n in recipients])
        return Outgoing(
            recipients=recipients,
            wire_numbers=wire,
            text=text,
            info=info,
            sender=chosen_sender,
            urgent=urgent,
            schedule_at=schedule_at,
            validity=validity,
            reference=reference,
            idempotency_key=idempotency_key,
            flash=flash,
            priority=priority,
            extra=fields,
        )

    def send(
        self,
        to: str | Sequence[str],
        text: str,
        *,
        sender: str | None = None,
        urgent: bool = False,
        schedule_at: dt.datetime | None = None,
        validity: dt.timedelta | None = None,
        reference: str | None = None,
        idempotency_key: str | None = None,
        flash: bool = False,
        priority: bool = False,
        extra: Mapping[str, Any] | None = None,
        allow_duplicates: bool = False,
    ) -> SendResult:
        """Send ``text`` to one number or many; see :class:`smsgate.SmsProvider`.

        Validates everything first (:meth:`prepare`: no I/O, a ``ValidationError`` subclass
        on bad input), then hands the validated message to the implementation.
        """
        outgoing = self.prepare(
            to,
            text,
            sender=sender,
            urgent=urgent,
            schedule_at=schedule_at,
            validity=validity,
            reference=reference,
            idempotency_key=idempotency_key,
            flash=flash,
            priority=priority,
            extra=extra,
            allow_duplicates=allow_duplicates,
        )
        return self._deliver(outgoing)

    def _deliver(self, outgoing: Outgoing) -> SendResult:
        """Send a message :meth:`prepare` has validated."""
        raise NotImplementedError  # pragma: no cover - every provider implements it


def _check_schedule(schedule_at: object) -> None:
    """An aware datetime that can be written as UTC and as Unix seconds (what adapters do)."""
    if not isinstance(schedule_at, dt.datetime):
        raise ValidationError("schedule_at must be a timezone-aware datetime")
    problem = None
    try:
        if schedule_at.utcoffset() is None:
            problem = "schedule_at must be a timezone-aware datetime"
        else:
            schedule_at.astimezone(dt.timezone.utc)
            schedule_at.timestamp()
    except (OverflowError, OSError, ValueError):
        problem = "schedule_at is out of range once converted to UTC"
    except Exception as exc:  # a tzinfo of the caller's that raises
        problem = f"schedule_at's time zone could not be read ({type(exc).__name__})"
    if problem is not None:
        raise ValidationError(problem)


# Characters that show nothing and are not whitespace: fillers rendered blank (Hangul fillers,
# the blank braille pattern), the combining grapheme joiner and the variation selectors. The
# format characters (ZWSP, RLM, BOM, the joiners: category Cf) and control characters (Cc)
# are found by category.
_INVISIBLE: Final = frozenset(
    "\u034f\u115f\u1160\u2800\u3164\uffa0"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
)


def _shows(char: str) -> bool:
    return not (
        char.isspace()
        or char in _INVISIBLE
        or unicodedata.category(char) in ("Cf", "Cc")
        or 0xE0100 <= ord(char) <= 0xE01EF  # variation selectors supplement
    )


def is_blank(text: str) -> bool:
    """Whether ``text`` would show nothing: only whitespace and invisible characters
    (zero-width spaces and joiners, direction marks, a byte-order mark, controls...).

    Such a text is refused like an empty one: a provider would bill an SMS that reads as
    blank. Stops at the first visible character, so an ordinary text costs one step.
    """
    return not any(_shows(char) for char in text)


def _is_unicode(text: str) -> bool:
    """Whether ``text`` can be encoded at all (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _first_surrogate(text: str) -> int:
    return next(i for i, char in enumerate(text) if "\ud800" <= char <= "\udfff")


#: ``extra`` values nested deeper than this are refused (a provider field is rarely two deep;
#: the bound also stops a structure that contains itself).
EXTRA_MAX_DEPTH: Final = 16
# JSON numbers beyond 64 bits lose precision in most parsers (and Python refuses to write
# integers of more than 4,300 digits): no provider field needs one.
_INT_MIN: Final = -(2**63)
_INT_END: Final = 2**64


def _check_extra(extra: object, encoding: Literal["json", "form"]) -> dict[str, Any]:
    """``extra`` as a plain dict, or a ``ValidationError`` naming the field the encoding cannot
    carry: non-string or invalid keys, NaN or infinite numbers, lone surrogates, objects with
    no JSON form, and (for a form) anything but text and numbers.

    Checked before any I/O so that an unencodable field never surfaces as a ``TypeError`` or
    ``UnicodeEncodeError`` from the HTTP library halfway through a send.
    """
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise ValidationError("extra must be a mapping of raw provider fields")
    try:
        fields = dict(extra.items())
    except Exception as exc:  # a custom Mapping that cannot even be read
        raise ValidationError(f"extra could not be read ({type(exc).__name__})") from None
    for key, value in fields.items():
        _check_extra_key(key, "extra")
        where = f"extra[{key!r}]"
        if encoding == "form":
            _check_form_value(value, where)
            if isinstance(value, int) and type(value) is not int:
                # An int subclass (IntEnum, HTTPStatus) goes out as its number, not as the
                # text its own __str__ gives; a str subclass as its content.
                fields[key] = int.__int__(value)
            elif isinstance(value, float) and type(value) is not float:
                fields[key] = float.__float__(value)
            elif isinstance(value, str) and type(value) is not str:
                fields[key] = str.__str__(value)
        else:
            _check_json_value(value, where, 1)
    if encoding == "json":
        # The walk above names the field; this proves the whole of it really encodes.
        try:
            json.dumps(fields, allow_nan=False, ensure_ascii=False).encode("utf-8")
        except (ValueError, TypeError, RecursionError, UnicodeEncodeError) as exc:
            raise ValidationError(f"extra cannot be encoded as JSON ({type(exc).__name__})") \
                from None
    return fields


def _check_extra_key(key: object, where: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValidationError(
            f"{where}: field names must be non-empty strings, not {type(key).__name__}"
        )
    if not _is_unicode(key):
        raise ValidationError(f"{where}: a field name holds a lone surrogate")


def _check_form_value(value: object, where: str) -> None:
    # A form field is one text value: the adapter writes str(value) on the wire, so only
    # values whose text is unambiguous are taken (True would go out as "True").
    if isinstance(value, str):
        if not _is_unicode(value):
            raise ValidationError(f"{where} holds a lone surrogate: it is not valid Unicode text")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValidationError(
            f"{where} is a {type(value).__name__}; a form field takes text or a number "
            "(give the exact text the provider expects)"
        )
    _check_number(value, where)


def _check_json_value(value: object, where: str, depth: int) -> None:
    if depth > EXTRA_MAX_DEPTH:
        raise ValidationError(f"{where} is nested deeper than {EXTRA_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if not _is_unicode(value):
            raise ValidationError(f"{where} holds a lone surrogate: it is not valid Unicode text")
    elif isinstance(value, (int, float)):
        _check_number(value, where)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json_value(item, f"{where}[{index}]", depth + 1)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_extra_key(key, where)
            _check_json_value(item, f"{where}[{key!r}]", depth + 1)
    else:
        raise ValidationError(
            f"{where} is a {type(value).__name__}, which JSON cannot carry; give a string, "
            "number, bool, None, list or dict"
        )


def _check_number(value: int | float | Decimal, where: str) -> None:
    if isinstance(value, int):
        # Compared as a plain int, in constant time: an int subclass (IntEnum, IntFlag,
        # HTTPStatus) is an int, and ``in range(...)`` would walk the range for it.
        if not _INT_MIN <= int.__int__(value) < _INT_END:
            raise ValidationError(f"{where} is an integer beyond 64 bits")
    elif not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
        raise ValidationError(f"{where} is not a finite number ({value})")


# A value fit for an HTTP header: visible ASCII, inner spaces allowed, at most 255 characters.
_HEADER_SAFE: Final = re.compile(r"[!-~](?:[ -~]{0,253}[!-~])?")

# Replies whose status alone says what happened, when the body does not say more.
_HTTP_STATUS_ERRORS: Final[Mapping[int, type[ProviderError]]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    402: InsufficientFunds,
    403: AuthenticationError,
    404: NotFound,
    405: InvalidRequest,
    413: InvalidRequest,
    415: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
}
# Answers of a proxy or CDN in front of the provider after the request went on to it: the
# provider itself may have processed the request, so these 5xx answers leave the outcome open.
#   502 bad gateway, 504 gateway timeout: the proxy's reading of the provider's reply failed;
#   520 (Cloudflare) "the origin returned an empty, unknown or unexpected response";
#   524 (Cloudflare) "connected to the origin, but the origin did not reply in time";
#   527 (Cloudflare Railgun) the link to the origin broke, possibly after the request;
#   530 (Cloudflare, with a 1xxx code) covers several causes, not all before the origin;
#   598 (some proxies) network read timeout, after the request was forwarded.
# Left out on purpose, because the proxy says it never reached the provider: 521 (origin
# refused the connection), 522 (connect to the origin timed out), 523 (origin unreachable),
# 525 (TLS handshake with the origin failed), 526 (invalid origin certificate). Where the
# proxy's wording is silent (530), the reading that cannot duplicate is "may have sent".
_GATEWAY_STATUSES: Final = frozenset({502, 504, 520, 524, 527, 530, 598})


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), or ``None``."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - dt.datetime.now(dt.timezone.utc)).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN guard


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``Retry-After``, if any is there."""

    def integer(name: str) -> int | None:
        try:
            return int(headers[name].strip())
        except (KeyError, ValueError):
            return None

    limit, remaining = integer("X-RateLimit-Limit"), integer("X-RateLimit-Remaining")
    retry_after = parse_retry_after(headers)
    if limit is None and remaining is None and retry_after is None:
        return None
    return RateLimit(limit=limit, remaining=remaining, retry_after=retry_after)


class HttpProvider(ProviderBase):
    """A provider reached over HTTP: adapters subclass this and declare their wire.

    Subclasses declare :attr:`default_base_url`, :attr:`auth` and :attr:`error_table`, and
    implement the request builders and reply parsers (``_send_request``/``_parse_send`` and,
    where supported, ``_status_request``/``_parse_status`` and
    ``_balance_request``/``_parse_balance``), plus :meth:`_find_error`, which reads an error
    out of a reply whatever its HTTP status.
    """

    #: The provider's production base URL.
    default_base_url: ClassVar[str]
    #: Where each credential goes.
    auth: ClassVar[tuple[AuthSpec, ...]] = ()
    #: Provider error code -> smsgate error. Tested as data: every documented code is here.
    error_table: ClassVar[Mapping[int | str, ErrorSpec]] = {}
    #: Provider status words (lower case) -> Status, beyond the common vocabulary.
    status_words: ClassVar[Mapping[str, Status]] = {}
    #: The wire fields smsgate writes itself on a send (credentials, recipients, text,
    #: sender, reference and the fields of its own options). ``extra`` may not name one of
    #: them, compared case-insensitively: a raw field must never silently replace what the
    #: caller asked for through smsgate's own parameters, so such a send is refused with a
    #: ``ValidationError`` before any request.
    owned_fields: frozenset[str] = frozenset()
    #: The request field that carries a send's own handle (SMSOffice.ge's ``reference``),
    #: named in errors whose outcome is unknown so that the caller can look the send up.
    handle_field: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        credentials: Mapping[str, Secret],
        sender: str | None = None,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(sender=sender)
        available = set(credentials) | self._credentials_from_factories()
        for spec in self.auth:
            if spec.credential not in available:
                raise ConfigurationError(f"{self.name}: missing credential {spec.credential!r}")
        for key, secret in credentials.items():
            if not isinstance(secret, Secret) or not secret.reveal().strip():
                raise ConfigurationError(f"{self.name}: {key} must be a non-empty string")
        for spec in self.auth:
            stored = credentials.get(spec.credential)
            if spec.location == "header" and stored is not None:
                # Refused now rather than at the first send, where http.client would raise
                # an error quoting the value. The message names the credential, not its value.
                problem = header_problem(spec.prefix + stored.reveal())
                if problem is not None:
                    raise ConfigurationError(
                        f"{self.name}: {spec.credential} cannot be sent in the {spec.name} "
                        f"header: {problem}"
                    )
        url = check_base_url(base_url if base_url is not None else self.default_base_url,
                             self.name)
        if session is not None and not isinstance(session, requests.Session):
            raise ConfigurationError("session must be a requests.Session")
        self._credentials = dict(credentials)
        self.base_url = url.rstrip("/")
        self.timeout = _check_timeout(timeout)
        self._transport = Transport(
            provider=self.name, base_url=self.base_url, timeout=self.timeout, session=session
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(sender={getattr(self, 'sender', None)!r}, "
            f"base_url={getattr(self, 'base_url', None)!r})"
        )

    def close(self) -> None:
        self._transport.close()

    # -- the SmsProvider protocol ----------------------------------------------------------
    def _deliver(self, outgoing: Outgoing) -> SendResult:
        """Send a validated message over HTTP.

        A list larger than the provider's per-request limit goes out in chunks, merged into
        one result in input order. If a later chunk fails, the result reports its recipients
        as :attr:`Status.UNKNOWN` (the request may have been sent) or :attr:`Status.REJECTED`
        (it was not), the chunks after it as :attr:`Status.REJECTED` (not attempted), and
        ``ok`` is ``False``; an error in the first chunk is raised as is.
        """
        self._check_owned_fields(outgoing.extra)
        outgoing = self._complete(outgoing)
        attempts: list[Attempt] = []
        parts: list[SendResult] = []
        chunks = outgoing.chunks(self.limits.bulk_size)
        for index, chunk in enumerate(chunks):
            requested = False
            try:
                request = self._send_request(chunk)
                requested = True
                reply, body = self._exchange(request, attempts)
                parts.append(self._parsing(request, self._parse_send, reply, body, chunk))
            except Exception as exc:
                if index == 0:
                    _carry_key(exc, chunk.idempotency_key)
                    raise
                # A later chunk's failure must not discard the chunks already accepted. Any
                # other exception (an adapter's or a token factory's bug) may have followed a
                # request, unless the request was never built.
                error = exc if isinstance(exc, (ProviderError, ValidationError)) else unexpected(
                    self.name, exc, may_have_sent=requested)
                parts.append(_failed_part(self.name, chunk, error, chunks[index + 1 :]))
                break
        result = _merge(self.name, parts, attempts, outgoing)
        if _log.isEnabledFor(logging.INFO):  # masking numbers is not free: only when logged
            _log.info(
                "%s: send to %d recipient(s) %s: %d accepted, id %s",
                self.name,
                len(outgoing.recipients),
                ", ".join(mask_phone(n) for n in outgoing.recipients[:3])
                + (", ..." if len(outgoing.recipients) > 3 else ""),
                sum(r.accepted for r in result.recipients),
                result.message_id,
            )
        return result

    def status(self, message_id: str, *, recipient: str | None = None) -> StatusResult:
        """Delivery status of a sent message (``recipient`` where the provider needs it)."""
        self._require("status", "status lookups")
        if not isinstance(message_id, str) or not message_id.strip():
            raise ValidationError("message_id must be a non-empty string")
        e164 = wire_recipient = None
        if recipient is not None:
            (e164,) = self._normalize_recipients(recipient)
            wire_recipient = format_phone(e164, self.phone_format, self.home_region)
        request = self._status_request(message_id, wire_recipient)
        reply, body = self._exchange(request, [])
        return self._parsing(request, self._parse_status, reply, body, message_id, e164)

    def balance(self) -> Balance:
        """Credit left at the provider."""
        self._require("balance", "balance lookups")
        request = self._balance_request()
        reply, body = self._exchange(request, [])
        return self._parsing(request, self._parse_balance, reply, body)

    def _check_owned_fields(self, extra: Mapping[str, Any]) -> None:
        """Refuse ``extra`` fields that would replace a field smsgate writes itself."""
        if any(not isinstance(key, str) for key in extra):
            raise ValidationError("extra field names must be strings")
        owned = {field.casefold(): field for field in self.owned_fields}
        clashes = sorted(owned[key.casefold()] for key in extra if key.casefold() in owned)
        if clashes:
            raise ValidationError(
                f"{self.name}: extra may not set {', '.join(clashes)}: smsgate writes "
                "these fields from its own parameters (to, text, sender, reference, the "
                "credentials and the send options); use those instead"
            )

    # -- hooks for adapters ----------------------------------------------------------------
    def _complete(self, outgoing: Outgoing) -> Outgoing:
        """Fill provider defaults into a validated send (a generated reference or key)."""
        return outgoing

    def _send_request(self, outgoing: Outgoing) -> HttpRequest:
        raise NotImplementedError  # pragma: no cover - every adapter implements it

    def _parse_send(self, reply: HttpResponse, body: Any, outgoing: Outgoing) -> SendResult:
        raise NotImplementedError  # pragma: no cover

    def _status_request(self, message_id: str, recipient: str | None) -> HttpRequest:
        raise NotImplementedError  # pragma: no cover - guarded by the "status" capability

    def _parse_status(
        self, reply: HttpResponse, body: Any, message_id: str, recipient: str | None
    ) -> StatusResult:
        """Read a status reply; ``recipient`` is the E.164 number asked about, if any."""
        raise NotImplementedError  # pragma: no cover

    def _balance_request(self) -> HttpRequest:
        raise NotImplementedError  # pragma: no cover - guarded by the "balance" capability

    def _parse_balance(self, reply: HttpResponse, body: Any) -> Balance:
        raise NotImplementedError  # pragma: no cover

    def _find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        """``(code, message)`` when the reply is an error, whatever its HTTP status.

        The default reads nothing from the body; the HTTP status then decides.
        """
        return None

    # -- the machinery ---------------------------------------------------------------------
    def _request(
        self,
        method: Literal["GET", "POST"],
        path: str,
        operation: str,
        **fields: Any,
    ) -> HttpRequest:
        """An :class:`HttpRequest` with this provider's credentials placed as declared."""
        auth = tuple(
            AuthParam(
                location=spec.location,
                name=spec.name,
                value=self._credential(spec.credential),
                prefix=spec.prefix,
            )
            for spec in self.auth
        )
        return HttpRequest(method=method, path=path, operation=operation, auth=auth, **fields)

    def _credential(self, name: str) -> Secret:
        return self._credentials[name]

    def _credentials_from_factories(self) -> set[str]:
        """Credentials that :meth:`_credential` produces per request instead of storing."""
        return set()

    def _exchange(self, request: HttpRequest, attempts: list[Attempt]) -> tuple[HttpResponse, Any]:
        """Perform ``request`` and return ``(reply, parsed JSON or None)``; raise its error."""
        started = time.monotonic()
        try:
            reply = self._transport.perform(request)
        except ProviderError as failure:
            attempts.append(
                Attempt(
                    provider=self.name,
                    operation=request.operation,
                    elapsed=time.monotonic() - started,
                    error=type(failure).__name__,
                )
            )
            raise
        unreadable: str | None = None
        try:
            body = _json_or_none(reply.content)
            refusal = self._error_from(reply, body, request)
        except Exception as exc:
            # The request went out: whatever the reply does to a reader (an error code too
            # long for int(), nesting too deep to walk), the answer is "unreadable", never a
            # raw exception a caller could take for "nothing happened" and resend.
            unreadable = type(exc).__name__
        if unreadable is not None:
            refusal = self._invalid(
                reply, f"unreadable reply ({unreadable})", sends_message=request.sends_message
            )
            refusal.retryable = request.idempotent or not request.sends_message
            body = None
        attempts.append(
            Attempt(
                provider=self.name,
                operation=request.operation,
                elapsed=reply.elapsed,
                http_status=reply.status,
                error=type(refusal).__name__ if refusal else None,
            )
        )
        if refusal is not None:
            # The reply may echo a credential (its text is scrubbed in the error): keep it out
            # of this frame, which stays on the error's traceback.
            del reply, body
            raise refusal
        return reply, body

    def _error_from(
        self, reply: HttpResponse, body: Any, request: HttpRequest
    ) -> ProviderError | None:
        # Read the body before trusting the status: GOSMS.GE and SMSOffice.ge report errors
        # inside HTTP 200 replies.
        found = self._find_error(reply, body)
        if found is None and reply.status < 300:
            return None
        code, message = found if found is not None else (None, _status_message(reply))
        spec = self.error_table.get(code) if code is not None else None
        retryable = spec.retryable if spec is not None else None
        if spec is not None:
            error_type = spec.error
            if not message:
                message = spec.description
            if spec.outcome == "unknown":
                # The provider's code does not say whether the message went out: neither a
                # refusal (which would invite a failover, so a possible duplicate) nor a
                # success. The caller settles it by looking the send up.
                return error_type(
                    _unknown_outcome_message(message, self._handle_of(request)),
                    provider=self.name,
                    code=code,
                    http_status=reply.status,
                    retryable=retryable,
                    may_have_sent=request.sends_message,
                    retry_after=parse_retry_after(reply.headers),
                )
        elif reply.status >= 500:
            error_type = ProviderUnavailable
        elif 300 <= reply.status < 400:
            error_type = InvalidResponse
            message = f"unexpected redirect (HTTP {reply.status}); check base_url"
        elif reply.status in _HTTP_STATUS_ERRORS:
            error_type = _HTTP_STATUS_ERRORS[reply.status]
        else:
            # An explicit refusal smsgate has no entry for: still a refusal, so not sent.
            error_type = ProviderError
        may_have_sent = (
            request.sends_message
            and (reply.status in _GATEWAY_STATUSES or error_type is InvalidResponse)
        )
        return error_type(
            message or "the provider reported an error",
            provider=self.name,
            code=code,
            http_status=reply.status,
            retryable=retryable,
            may_have_sent=may_have_sent,
            retry_after=parse_retry_after(reply.headers),
        )

    def _handle_of(self, request: HttpRequest) -> str | None:
        """The send's own handle (:attr:`handle_field`) as the request carries it."""
        if self.handle_field is None:
            return None
        for fields in (request.form, request.json, request.params):
            if isinstance(fields, Mapping) and fields.get(self.handle_field):
                return str(fields[self.handle_field])
        return None

    def _parsing(
        self,
        request: HttpRequest,
        parse: Callable[..., _T],
        reply: HttpResponse,
        *args: Any,
    ) -> _T:
        """Run an adapter's parser; a reply it cannot read becomes :class:`InvalidResponse`.

        An unreadable reply is an unknown outcome: repeating the request is safe only where
        the provider deduplicates it (``request.idempotent``) or nothing is sent (a lookup), so
        only there is it retryable (the same rule the transport applies to lost replies).
        """
        safe_to_repeat = request.idempotent or not request.sends_message
        failure: str | None = None
        try:
            return parse(reply, *args)
        except InvalidResponse as exc:
            exc.retryable = safe_to_repeat
            raise
        except ProviderError:
            raise
        except Exception as exc:
            # The request went out: any other exception of a parser (a ValueError, KeyError
            # or TypeError for a reply of an unexpected shape, a RecursionError, even a
            # ValidationError from a helper) means "the reply could not be read", never
            # "nothing happened".
            failure = type(exc).__name__
        error = self._invalid(
            reply, f"unreadable reply ({failure})", sends_message=request.sends_message
        )
        error.retryable = safe_to_repeat
        raise error

    def _invalid(self, reply: HttpResponse, what: str, *, sends_message: bool) -> InvalidResponse:
        """An error for a reply whose success shape could not be read."""
        return InvalidResponse(
            f"{what} (HTTP {reply.status})",
            provider=self.name,
            http_status=reply.status,
            may_have_sent=sends_message,
        )

    def _object(self, reply: HttpResponse, body: Any, *, sends_message: bool) -> dict[str, Any]:
        """``body`` as a JSON object, or :class:`InvalidResponse`."""
        if not isinstance(body, dict):
            raise self._invalid(reply, "expected a JSON object", sends_message=sends_message)
        return body


class ApiKeyProvider(HttpProvider):
    """A provider authenticated by one API key (GOSMS.GE, GoSMS.ro, SMSOffice.ge)."""

    def __init__(
        self,
        api_key: str,
        *,
        sender: str | None = None,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ConfigurationError(f"{self.name}: api_key is required")
        super().__init__(
            credentials={"api_key": Secret(api_key)},
            sender=sender,
            base_url=base_url,
            timeout=timeout,
            session=session,
        )


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        # Not JSON, or nested too deep for the decoder: no JSON body to read. The parsers
        # then refuse the reply as unreadable (InvalidResponse, which says whether a message
        # may have been sent).
        return None


def _unknown_outcome_message(message: str, handle: str | None) -> str:
    lookup = f"status({handle!r}, recipient=...)" if handle else "a status lookup"
    return (
        f"{message}: the provider does not say whether the message was sent, so it may "
        f"have been; settle it with {lookup} before sending again"
    )


def _status_message(reply: HttpResponse) -> str:
    reason = {500: "internal server error", 502: "bad gateway", 503: "service unavailable",
              504: "gateway timeout", 520: "unknown error at the origin (CDN)",
              521: "origin is down (CDN)", 522: "connection to the origin timed out (CDN)",
              523: "origin is unreachable (CDN)", 524: "the origin did not reply in time (CDN)",
              525: "TLS handshake with the origin failed (CDN)",
              526: "invalid origin certificate (CDN)"}.get(reply.status, "error")
    return f"HTTP {reply.status} {reason}"


def _failed_part(
    provider: str, chunk: Outgoing, error: ProviderError | ValidationError,
    rest: Sequence[Outgoing],
) -> SendResult:
    recipients = RecipientResult.failed(chunk.recipients, error)
    recipients += RecipientResult.not_attempted(
        [n for later in rest for n in later.recipients], error
    )
    return SendResult(provider=provider, message_id=None, recipients=recipients, raw=None)


def _merge(
    provider: str, parts: Sequence[SendResult], attempts: Sequence[Attempt], outgoing: Outgoing
) -> SendResult:
    if len(parts) == 1:
        return attrs.evolve(
            parts[0],
            attempts=tuple(attempts),
            segments=parts[0].segments if parts[0].segments is not None
            else outgoing.info.segments,
            encoding=parts[0].encoding or outgoing.info.encoding,
            idempotency_key=parts[0].idempotency_key or outgoing.idempotency_key,
        )
    costs = [p.cost for p in parts if p.cost is not None]
    answered = [p for p in parts if p.message_id is not None]
    return SendResult(
        provider=provider,
        message_id=next((p.message_id for p in answered), None),
        recipients=[r for p in parts for r in p.recipients],
        segments=next((p.segments for p in answered if p.segments is not None),
                      outgoing.info.segments),
        encoding=next((p.encoding for p in answered if p.encoding), outgoing.info.encoding),
        cost=sum(costs, Decimal(0)) if len(costs) == len(parts) else None,
        currency=next((p.currency for p in answered if p.currency), None),
        balance=next((p.balance for p in reversed(answered) if p.balance is not None), None),
        idempotency_key=outgoing.idempotency_key,
        attempts=tuple(attempts),
        raw=[p.raw for p in parts],
    )


def first_present(mapping: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first key present (not ``None``) in ``mapping``."""
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def as_text(value: object) -> str | None:
    """``value`` as a string id (GOSMS.GE ids are ints), or ``None`` when it is not a scalar.

    Only a string or an integer is an id (an integral float is read as its integer): an
    object, a list, a bool or a non-finite number in an id's place is not one, so that a
    reply of an unexpected shape is never taken for an answer.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    if not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text or None


#: The plausible magnitude of an amount: below 10**15 and no finer than 10**-12, with at most
#: 30 significant digits. Anything else is not an amount a provider bills or holds, and
#: taking it could make a later sum of amounts overflow (``Decimal`` signals ``Overflow``
#: beyond its context) after the messages were accepted.
_MONEY_MAX_EXPONENT: Final = 14
_MONEY_MIN_EXPONENT: Final = -12
_MONEY_MAX_DIGITS: Final = 30
_MONEY_MAX_TEXT: Final = 64


def as_money(value: object) -> Decimal | None:
    """A plausible finite amount from a JSON number or a numeric string, else ``None``.

    ``NaN`` and infinities (which JSON parsers accept) are not amounts, and neither is a
    magnitude no provider could mean (``"1E+999999999"``): see ``_MONEY_MAX_EXPONENT``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, int):
        plain = int.__int__(value)
        if not -(10**15) < plain < 10**15:  # compared before str(): no huge conversion
            return None
        text = str(plain)
    elif isinstance(value, float):
        text = repr(float.__float__(value))
    else:
        text = value.strip()
        if len(text) > _MONEY_MAX_TEXT:
            return None
    try:
        amount = Decimal(text)
    except ArithmeticError:
        return None
    if not amount.is_finite():
        return None
    if amount.is_zero():
        return amount
    digits = amount.as_tuple().digits
    if (
        len(digits) > _MONEY_MAX_DIGITS
        or not _MONEY_MIN_EXPONENT <= amount.adjusted() <= _MONEY_MAX_EXPONENT
    ):
        return None
    return amount


#: Significant digits of the longest error code smsgate reads as a number (an int64 has 19).
_CODE_DIGITS: Final = 18
_NUMERIC_CODE: Final = re.compile(r"[-+]?[0-9]+")


def read_code(value: object) -> tuple[bool, int | None]:
    """An error code read from a reply: ``(present, code)``.

    ``present`` says the value is a code at all (an int, or a string of ASCII digits with an
    optional sign); ``code`` is its number, or ``None`` when it has more than 18 significant
    digits. Such a code is still an error code, just not one smsgate knows; it is never given
    to ``int()``, which refuses strings of over 4,300 digits (and takes time on shorter ones).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return True, int.__int__(value)
    if not isinstance(value, str):
        return False, None
    text = value.strip()
    if not text.isascii() or not _NUMERIC_CODE.fullmatch(text):
        return False, None
    sign = "-" if text[0] == "-" else ""
    significant = text.lstrip("+-").lstrip("0") or "0"
    if len(significant) > _CODE_DIGITS:
        return True, None
    return True, int(sign + significant)


def iter_errors(table: Mapping[int | str, ErrorSpec]) -> Iterator[tuple[int | str, ErrorSpec]]:
    """Rows of an error table in a stable order (for docs and tests)."""
    return iter(sorted(table.items(), key=lambda item: (isinstance(item[0], str), str(item[0]))))

