"""The domain of a send, shared by every provider, HTTP or not.

:class:`Outgoing` is a send that passed validation, :class:`Limits` a provider's documented
limits, and :class:`ProviderBase` the validation every provider applies to its declarations
(home region, reach, phone format, limits, capabilities) before any I/O. The gateway, the
testing helpers and the HTTP adapters all stand on this module; nothing here knows HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal, TypeVar, cast

import attrs

from ._effects import Call, Plan, run
from ._options import OPTION_CAPABILITIES
from ._unexpected import without_locals
from .errors import (
    ConfigurationError,
    InvalidPhoneNumber,
    InvalidSender,
    MessageTooLong,
    UnsupportedFeature,
    ValidationError,
)
from .models import (
    Balance,
    RecipientResult,
    SendResult,
    Status,
    StatusResult,
    _recipient_result,
)
from .phone import (
    PhoneFormat,
    format_phone,
    mask_phone,
    normalize_phone,
    region_of,
    validated_region,
    validated_region_of_all,
)
from .segments import SegmentInfo, segments

_T = TypeVar("_T")


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
        return [_recipient_result(n, Status.QUEUED, message_id) for n in self.recipients]

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
    #: Which URL part (``"user"``, ``"password"``) carries which constructor credential.
    url_credentials: ClassVar[Mapping[str, str]] = {}
    #: How ``extra`` fields travel: ``"json"`` (any JSON value) or ``"form"`` (one text
    #: value per field). ``prepare`` refuses what this encoding cannot carry, before any I/O.
    extra_encoding: ClassVar[Literal["json", "form"]] = "json"
    #: The send policy of this provider's own :meth:`send` (``None``: smsgate's default,
    #: :data:`smsgate.guards.DEFAULT_POLICY`, which refuses premium-rate and shared-cost
    #: numbers). Set ``provider.policy = smsgate.SendPolicy(deny_types=())`` to allow them.
    #: A :class:`~smsgate.Gateway` applies its own ``policy=`` instead.
    policy: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every constructor takes credentials as plain strings: an error it raises (a bad
        # timeout, a base_url) must not keep them in the frame locals on its traceback.
        if "__init__" in cls.__dict__:
            cls.__init__ = without_locals(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __init__(self, *, sender: str | None = None, key: str | None = None) -> None:
        if sender is not None:
            self._check_sender(sender)
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise ConfigurationError("key must be a non-empty string (or None)")
        self.sender = sender
        self._key = key

    @property
    def state_key(self) -> str:
        """The name this provider's shared state (its circuit breaker) is kept under.

        Stable across processes and gateways, unlike ``id()``: the ``key`` given to the
        constructor, else the registry name and the base URL (two accounts of one provider
        at one URL share a breaker: they share the provider's health). Give each a ``key``
        to keep them apart.
        """
        given = getattr(self, "_key", None)
        if given:
            return str(given)
        base_url = getattr(self, "base_url", None)
        return f"{self.name} {base_url}" if base_url else self.name

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
        allowed = self.allowed_regions
        # The usual bulk list (one country, valid E.164) in one step; else number by number.
        region = validated_region_of_all(numbers)
        if region is not None and (allowed is None or region in allowed):
            return tuple(cast("Sequence[str]", numbers))  # all str: checked by it
        result: list[str] = []
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
        known = _checked_text
        if known is not None and known[0] is text:
            info = known[1]  # this very text was found shown and encodable already
        else:
            if is_blank(text):
                raise MessageTooLong(
                    "text is empty (nothing but spaces or invisible characters)")
            if not _is_unicode(text):
                # Python strings may hold lone surrogates (from a bad decode, or JSON
                # "\ud800"); no encoding on the wire can carry them, and the encoder would
                # fail mid-send.
                raise ValidationError(
                    f"text holds a lone surrogate at position {_first_surrogate(text)}: it is "
                    "not valid Unicode text"
                )
            info = None
        if info is None:
            info = segments(text)
            remember_text(text, info)
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
        flags: tuple[object, object, object, object] = (urgent, flash, priority,
                                                        allow_duplicates)
        if not (type(flags[0]) is bool and type(flags[1]) is bool  # bool has no subclasses
                and type(flags[2]) is bool and type(flags[3]) is bool):
            for flag, given in zip(("urgent", "flash", "priority", "allow_duplicates"), flags,
                                   strict=True):
                if not isinstance(given, bool):
                    raise ValidationError(
                        f"{flag} must be True or False, not {type(given).__name__}")
        if (urgent or flash or priority or schedule_at is not None or validity is not None
                or reference is not None or idempotency_key is not None):
            # Some option is set (the flags are bools by now): each one set needs its
            # capability, asked in this order. The usual send sets none and skips the walk.
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
            known = self.__dict__.get("_good_sender")
            if known is None or known[0] is not chosen_sender or known[1] is not self.limits:
                self._check_sender(chosen_sender)
                if type(chosen_sender) is str and \
                        type(self)._check_sender is ProviderBase._check_sender:
                    # This very string passed this provider's checks, which read only the
                    # string and the limits: the next send with both the same need not
                    # check it again.
                    self.__dict__["_good_sender"] = (chosen_sender, self.limits)
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
        on bad input), applies :attr:`policy` (a refused recipient raises
        :class:`~smsgate.PolicyViolation`, or is reported ``REJECTED`` in a list), then hands
        the validated message to the implementation.
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
        guarded = _guarded_send or _load_guarded_send()  # the policy step (on first send)
        result: SendResult = run(guarded(self, outgoing, self.policy))
        return result

    def plan_send(self, outgoing: Outgoing, *, deadline: float | None = None) -> Plan[SendResult]:
        """The plan of sending a message :meth:`prepare` has validated (no I/O of its own).

        A driver runs it: :func:`smsgate._effects.run` for :meth:`send`, a gateway's driver
        for a gateway's send. ``deadline`` is the :func:`time.monotonic` instant every
        exchange must end by. The default runs :meth:`_deliver` as one blocking call.
        """
        result: SendResult = yield Call(self._deliver, (outgoing,), deadline=deadline)
        return result

    def plan_status(
        self, message_id: str, recipient: str | None = None, *, deadline: float | None = None
    ) -> Plan[StatusResult]:
        """The plan of a status lookup: the default runs the provider's own ``status`` as
        one blocking call (an HTTP provider plans its request instead)."""
        status = getattr(self, "status", None)
        if status is None:
            self._require("status", "status lookups")
            raise UnsupportedFeature(f"{self.name} does not support status lookups")
        result: StatusResult = yield Call(
            status, (message_id,), {"recipient": recipient}, deadline=deadline
        )
        return result

    def plan_balance(self, *, deadline: float | None = None) -> Plan[Balance]:
        """The plan of a balance lookup: the default runs the provider's own ``balance`` as
        one blocking call (an HTTP provider plans its request instead)."""
        balance = getattr(self, "balance", None)
        if balance is None:
            self._require("balance", "balance lookups")
            raise UnsupportedFeature(f"{self.name} does not support balance lookups")
        result: Balance = yield Call(balance, deadline=deadline)
        return result

    def _deliver(self, outgoing: Outgoing) -> SendResult:
        """Send a message :meth:`prepare` has validated (a provider that is not reached
        over HTTP implements this; :class:`~smsgate.providers.HttpProvider` plans its
        requests in ``plan_send`` instead)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement _deliver(outgoing), or plan_send"
        )


#: :func:`smsgate.guards.plan_guarded_send`, once a provider sent (guards is not imported
#: with this module: it loads the phone-type tables).
_guarded_send: Any = None


def _load_guarded_send() -> Any:
    global _guarded_send
    from .guards import plan_guarded_send

    _guarded_send = plan_guarded_send
    return plan_guarded_send


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


#: The last text found neither blank nor holding a lone surrogate, and its count (``None``
#: until counted): the gateway checks a send's text once before its providers' ``prepare``
#: (which checks it again, and a failover's next provider once more). Only an exact ``str``
#: is kept, with a strong reference (so its identity cannot pass to another object): the
#: answers for it cannot change. One entry, replaced whole (safe across threads).
_checked_text: tuple[str, SegmentInfo | None] | None = None


def remember_text(text: str, info: SegmentInfo | None = None) -> None:
    """Record that ``text`` is neither blank nor holds a lone surrogate (``info``: its
    :func:`~smsgate.segments.segments`, when counted)."""
    global _checked_text
    if type(text) is str:
        _checked_text = (text, info)


def text_checked(text: str) -> bool:
    """Whether ``text`` is the one :func:`remember_text` last recorded."""
    known = _checked_text
    return known is not None and known[0] is text


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
