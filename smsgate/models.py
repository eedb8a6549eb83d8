"""Normalised results: what every provider returns, whatever its wire looks like.

All result types are frozen attrs classes. ``raw`` keeps the provider's parsed reply for the
cases smsgate does not model, but is left out of ``repr`` and equality so that reprs stay short
and deterministic and two results compare by meaning.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs

from ._options import SEND_OPTIONS
from .errors import SmsGateError, ValidationError

__all__ = [
    "Attempt",
    "Balance",
    "DeliveryReport",
    "Message",
    "OtpChallenge",
    "OtpVerification",
    "RateLimit",
    "RecipientResult",
    "RecipientStatus",
    "SendResult",
    "Status",
    "StatusResult",
]


class Status(str, enum.Enum):
    """Where a message is, in one vocabulary for every provider."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Status.{self.name}"

    @property
    def accepted(self) -> bool:
        """The provider took the message (it may still fail later)."""
        return self in _ACCEPTED

    @property
    def final(self) -> bool:
        """No further change is expected."""
        return self in _FINAL

    @classmethod
    def from_word(cls, word: object, table: Mapping[str, Status] | None = None) -> Status:
        """Map a provider's status word onto :class:`Status`, case-insensitively.

        ``table`` (lower-case keys) is consulted first, then smsgate's common vocabulary;
        anything unrecognised is :attr:`UNKNOWN` (keep the word in ``raw``).
        """
        if not isinstance(word, str):
            return cls.UNKNOWN
        key = " ".join(word.strip().lower().replace("_", " ").replace("-", " ").split())
        if table and key in table:
            return table[key]
        return _COMMON_WORDS.get(key, cls.UNKNOWN)


_ACCEPTED: Final = frozenset({Status.QUEUED, Status.SENT, Status.DELIVERED})
_FINAL: Final = frozenset({Status.DELIVERED, Status.FAILED, Status.EXPIRED, Status.REJECTED})
_COMMON_WORDS: Final[Mapping[str, Status]] = {
    "queued": Status.QUEUED,
    "accepted": Status.QUEUED,
    "pending": Status.QUEUED,
    "scheduled": Status.QUEUED,
    "processing": Status.QUEUED,
    "in progress": Status.QUEUED,
    "enroute": Status.SENT,
    "sent": Status.SENT,
    "submitted": Status.SENT,
    "delivered": Status.DELIVERED,
    "failed": Status.FAILED,
    "undelivered": Status.FAILED,
    "undeliverable": Status.FAILED,
    "expired": Status.EXPIRED,
    "rejected": Status.REJECTED,
    "refused": Status.REJECTED,
    "blacklisted": Status.REJECTED,
    "unknown": Status.UNKNOWN,
}


def _to_decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def _recipients(items: Iterable[RecipientResult]) -> tuple[RecipientResult, ...]:
    return tuple(items)


def _recipient_statuses(items: Iterable[RecipientStatus]) -> tuple[RecipientStatus, ...]:
    return tuple(items)


def _attempts(items: Iterable[Attempt]) -> tuple[Attempt, ...]:
    return tuple(items)


def _hidden() -> Any:
    return attrs.field(default=None, repr=False, eq=False)


@attrs.frozen
class Attempt:
    """One HTTP exchange made on the caller's behalf (for logs, metrics and audits).

    Attributes:
        provider: registry name.
        operation: ``"send"``, ``"status"``, ``"balance"``...
        elapsed: seconds the exchange took.
        http_status: the reply's status, or ``None`` when none came back.
        error: the error class name when the exchange failed.
        rule: for a failed send, the id of the gateway's decision rule that fired
            (``"retryable"``, ``"unknown"``...: the table in ``docs/failover.md``), else ``None``.
    """

    provider: str
    operation: str
    elapsed: float = attrs.field(repr=lambda v: f"{v:.3f}")
    http_status: int | None = None
    error: str | None = None
    rule: str | None = None


@attrs.frozen
class RecipientResult:
    """The outcome of a send for one recipient."""

    phone: str
    status: Status
    message_id: str | None = None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        """The provider took the message for this recipient."""
        return self.status.accepted

    @classmethod
    def failed(cls, phones: Iterable[str], error: BaseException) -> list[RecipientResult]:
        """The recipients of a part of a send that raised ``error``.

        :attr:`Status.UNKNOWN` when it may have been sent (do not resend blindly),
        :attr:`Status.REJECTED` when it provably was not.
        """
        # An exception that is not smsgate's (a bug) says nothing: it may have followed a
        # request, so it counts as "may have been sent".
        sent = error.may_have_sent if isinstance(error, SmsGateError) else True
        status = Status.UNKNOWN if sent else Status.REJECTED
        return [cls(phone=phone, status=status, error=str(error)) for phone in phones]

    @classmethod
    def not_attempted(cls, phones: Iterable[str], error: BaseException) -> list[RecipientResult]:
        """The recipients of the parts left out after an earlier part raised ``error``."""
        reason = f"not attempted: an earlier part of this send failed ({type(error).__name__})"
        return [cls(phone=phone, status=Status.REJECTED, error=reason) for phone in phones]



# A bulk send builds one RecipientResult per number (10,000 for a large GOSMS.GE send). The
# frozen class's generated __init__ assigns each field through object.__setattr__; setting
# the slots through their descriptors directly makes the same object (same type, same
# fields, equal and hashed alike) in half the time. Only for code that passes the four
# fields already checked, as the adapters' bulk readers do.
_new_object = object.__new__
_SLOT: Final[Mapping[str, Any]] = vars(RecipientResult)  # the slot descriptors, by name
_SET_PHONE: Final = _SLOT["phone"].__set__
_SET_STATUS: Final = _SLOT["status"].__set__
_SET_MESSAGE_ID: Final = _SLOT["message_id"].__set__
_SET_ERROR: Final = _SLOT["error"].__set__


def _recipient_result(
    phone: str, status: Status, message_id: str | None = None, error: str | None = None
) -> RecipientResult:
    """``RecipientResult(phone, status, message_id, error)``, built faster (see above)."""
    result: RecipientResult = _new_object(RecipientResult)
    _SET_PHONE(result, phone)
    _SET_STATUS(result, status)
    _SET_MESSAGE_ID(result, message_id)
    _SET_ERROR(result, error)
    return result

class _NoCosts(Mapping[str, Decimal]):
    """The ``costs`` of a result that reports none: one shared, read-only, empty mapping, so
    that the 10,000 results of a bulk send do not each carry an empty dict. It equals ``{}``
    and survives ``copy.deepcopy`` and pickling as the same object."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Decimal:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"

    def __reduce__(self) -> str:
        return "_NO_COSTS"


_NO_COSTS: Final[Mapping[str, Decimal]] = _NoCosts()


@attrs.frozen
class SendResult:
    """What a provider said about a send.

    Attributes:
        provider: registry name of the provider that accepted it.
        message_id: the provider's id (or SMSOffice.ge's reference); with several ids (a
            chunked bulk send) the first, each recipient carrying its own.
        recipients: one :class:`RecipientResult` per recipient, in input order.
        segments: SMS parts per recipient, as the provider counted (or smsgate, if it did not;
            for GoSMS.ro by GoSMS.ro's own documented rules).
        encoding: ``"GSM-7"`` or ``"UCS-2"``; GoSMS.ro's one-byte mode is ``"ISO-8859-1"``.
        cost: what the provider charged, in ``currency`` (``None`` when it does not say,
            and for a merged result whose parts were charged in different currencies).
        costs: what was charged per currency (``""`` for a charge in no named currency):
            a send split over providers that bill in different currencies keeps each sum.
        estimated_costs: what the send was expected to cost per currency, priced before
            sending by the send policy's :class:`~smsgate.PriceTable` (empty without one):
            beside ``costs``, what the provider reported, to reconcile prices with bills.
        balance: the balance the provider reported after the send.
        idempotency_key: the key sent with the request, for a safe retry.
        attempts: every HTTP exchange this send made.
    """

    provider: str
    message_id: str | None
    recipients: tuple[RecipientResult, ...] = attrs.field(converter=_recipients)
    segments: int | None = None
    encoding: str | None = None
    cost: Decimal | None = attrs.field(default=None, converter=_to_decimal)
    currency: str | None = None
    balance: Decimal | None = attrs.field(default=None, converter=_to_decimal)
    idempotency_key: str | None = None
    attempts: tuple[Attempt, ...] = attrs.field(default=(), converter=_attempts, repr=False)
    raw: Any = _hidden()
    costs: Mapping[str, Decimal] = attrs.field(default=_NO_COSTS, repr=False)
    estimated_costs: Mapping[str, Decimal] = attrs.field(default=_NO_COSTS, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.costs and self.cost is not None:
            object.__setattr__(self, "costs", {self.currency or "": self.cost})

    @property
    def ok(self) -> bool:
        """Every recipient was accepted.

        A result that lists no recipients (SMSGist's ``retry`` reports only a count) is ok
        when the provider gave it a message id.
        """
        if not self.recipients:
            return self.message_id is not None
        return all(r.accepted for r in self.recipients)

    @property
    def failed(self) -> tuple[RecipientResult, ...]:
        """The recipients the provider did not accept."""
        return tuple(r for r in self.recipients if not r.accepted)


# The base reads every adapter's reply into a result and then completes it (the attempts it
# made, the segments and encoding it counted): that was a second SendResult through
# ``attrs.evolve``, which passes every field through the generated ``__init__`` and its
# converters again. :func:`_evolve_result` makes the same object slot by slot: each field
# copied as it is (already converted), each changed one through its own converter, then the
# same ``__attrs_post_init__``. Equal, hashed and pickled alike; a test compares it with
# ``attrs.evolve`` on generated results, and fails if SendResult gains a field it misses.
_KEEP: Final[Any] = object()
_RESULT: Final[Mapping[str, Any]] = vars(SendResult)  # the slot descriptors, by name
_SET_R_PROVIDER: Final = _RESULT["provider"].__set__
_SET_R_MESSAGE_ID: Final = _RESULT["message_id"].__set__
_SET_R_RECIPIENTS: Final = _RESULT["recipients"].__set__
_SET_R_SEGMENTS: Final = _RESULT["segments"].__set__
_SET_R_ENCODING: Final = _RESULT["encoding"].__set__
_SET_R_COST: Final = _RESULT["cost"].__set__
_SET_R_CURRENCY: Final = _RESULT["currency"].__set__
_SET_R_BALANCE: Final = _RESULT["balance"].__set__
_SET_R_IDEMPOTENCY_KEY: Final = _RESULT["idempotency_key"].__set__
_SET_R_ATTEMPTS: Final = _RESULT["attempts"].__set__
_SET_R_RAW: Final = _RESULT["raw"].__set__
_SET_R_COSTS: Final = _RESULT["costs"].__set__
_SET_R_ESTIMATED_COSTS: Final = _RESULT["estimated_costs"].__set__


def _evolve_result(
    result: SendResult, *, provider: Any = _KEEP, message_id: Any = _KEEP,
    recipients: Any = _KEEP, segments: Any = _KEEP, encoding: Any = _KEEP, cost: Any = _KEEP,
    currency: Any = _KEEP, balance: Any = _KEEP, idempotency_key: Any = _KEEP,
    attempts: Any = _KEEP, raw: Any = _KEEP, costs: Any = _KEEP, estimated_costs: Any = _KEEP,
) -> SendResult:
    """``attrs.evolve(result, **changes)``, built faster (see above)."""
    if type(result) is not SendResult:  # a subclass: its own __init__ decides
        given = {"provider": provider, "message_id": message_id, "recipients": recipients,
                 "segments": segments, "encoding": encoding, "cost": cost,
                 "currency": currency, "balance": balance,
                 "idempotency_key": idempotency_key, "attempts": attempts, "raw": raw,
                 "costs": costs, "estimated_costs": estimated_costs}
        return attrs.evolve(result, **{k: v for k, v in given.items() if v is not _KEEP})
    new: SendResult = _new_object(SendResult)
    _SET_R_PROVIDER(new, result.provider if provider is _KEEP else provider)
    _SET_R_MESSAGE_ID(new, result.message_id if message_id is _KEEP else message_id)
    _SET_R_RECIPIENTS(new, result.recipients if recipients is _KEEP
                      else _recipients(recipients))
    _SET_R_SEGMENTS(new, result.segments if segments is _KEEP else segments)
    _SET_R_ENCODING(new, result.encoding if encoding is _KEEP else encoding)
    _SET_R_COST(new, result.cost if cost is _KEEP else _to_decimal(cost))
    _SET_R_CURRENCY(new, result.currency if currency is _KEEP else currency)
    _SET_R_BALANCE(new, result.balance if balance is _KEEP else _to_decimal(balance))
    _SET_R_IDEMPOTENCY_KEY(new, result.idempotency_key if idempotency_key is _KEEP
                           else idempotency_key)
    _SET_R_ATTEMPTS(new, result.attempts if attempts is _KEEP else _attempts(attempts))
    _SET_R_RAW(new, result.raw if raw is _KEEP else raw)
    _SET_R_COSTS(new, result.costs if costs is _KEEP else costs)
    _SET_R_ESTIMATED_COSTS(new, result.estimated_costs if estimated_costs is _KEEP
                           else estimated_costs)
    new.__attrs_post_init__()
    return new


def _new_result(
    *, provider: str, message_id: str | None, recipients: Iterable[RecipientResult],
    segments: int | None = None, encoding: str | None = None, cost: Any = None,
    currency: str | None = None, balance: Any = None, idempotency_key: str | None = None,
    attempts: Iterable[Attempt] = (), raw: Any = None,
    costs: Mapping[str, Decimal] = _NO_COSTS, estimated_costs: Mapping[str, Decimal] = _NO_COSTS,
) -> SendResult:
    """``SendResult(...)`` of the same keywords, built slot by slot (for the adapters' reply
    readers, which make one per send; a test compares the two on generated fields)."""
    new: SendResult = _new_object(SendResult)
    _SET_R_PROVIDER(new, provider)
    _SET_R_MESSAGE_ID(new, message_id)
    _SET_R_RECIPIENTS(new, _recipients(recipients))
    _SET_R_SEGMENTS(new, segments)
    _SET_R_ENCODING(new, encoding)
    _SET_R_COST(new, _to_decimal(cost))
    _SET_R_CURRENCY(new, currency)
    _SET_R_BALANCE(new, _to_decimal(balance))
    _SET_R_IDEMPOTENCY_KEY(new, idempotency_key)
    _SET_R_ATTEMPTS(new, _attempts(attempts))
    _SET_R_RAW(new, raw)
    _SET_R_COSTS(new, costs)
    _SET_R_ESTIMATED_COSTS(new, estimated_costs)
    new.__attrs_post_init__()
    return new


@attrs.frozen
class RecipientStatus:
    """Delivery state of one recipient."""

    phone: str | None
    status: Status
    error: str | None = None
    time: dt.datetime | None = None


@attrs.frozen
class StatusResult:
    """A delivery-status lookup."""

    provider: str
    message_id: str
    status: Status
    recipients: tuple[RecipientStatus, ...] = attrs.field(
        default=(), converter=_recipient_statuses
    )
    raw: Any = _hidden()


@attrs.frozen
class Balance:
    """Credit left at a provider, in the provider's own unit."""

    provider: str
    amount: Decimal = attrs.field(converter=_to_decimal)
    unit: str
    raw: Any = _hidden()


@attrs.frozen
class DeliveryReport:
    """A delivery callback (webhook), normalised."""

    provider: str
    message_id: str | None
    recipient: str | None
    status: Status
    timestamp: dt.datetime | None = None
    error: str | None = None
    raw: Any = _hidden()


@attrs.frozen
class RateLimit:
    """Rate-limit state a provider reported (GOSMS.GE's OTP endpoints do)."""

    limit: int | None = None
    remaining: int | None = None
    retry_after: float | None = None


@attrs.frozen
class OtpChallenge:
    """A one-time password the provider generated and sent; keep ``hash`` to verify."""

    hash: str
    phone: str
    balance: Decimal | None = attrs.field(default=None, converter=_to_decimal)
    rate_limit: RateLimit | None = None
    raw: Any = _hidden()


@attrs.frozen
class OtpVerification:
    """The answer to a code check. A wrong code is ``valid=False``, not an exception."""

    valid: bool
    rate_limit: RateLimit | None = None
    raw: Any = _hidden()


@attrs.frozen(init=False)
class Message:
    """One message for :func:`smsgate.send_many`: ``Message(to, text, **send_options)``.

    >>> Message("+995555123456", "Your code is 1234", urgent=True).options
    {'urgent': True}
    """

    to: str | tuple[str, ...]
    text: str
    options: Mapping[str, Any] = attrs.field(hash=False)

    def __init__(self, to: str | Sequence[str], text: str, **options: Any) -> None:
        unknown = sorted(set(options) - SEND_OPTIONS)
        if unknown:
            raise ValidationError(
                f"unknown send option(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(sorted(SEND_OPTIONS))}"
            )
        recipients = to if isinstance(to, str) else tuple(to)
        self.__attrs_init__(recipients, text, dict(options))
