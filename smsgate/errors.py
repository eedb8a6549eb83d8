"""The one exception tree of smsgate.

Every error smsgate raises is an :class:`SmsGateError`. The tree::

    SmsGateError
    ├── ConfigurationError              bad or missing settings; raised at build time
    ├── ValidationError (ValueError)    raised before any I/O; nothing was sent
    │   ├── InvalidPhoneNumber
    │   ├── InvalidSender
    │   ├── MessageTooLong
    │   ├── UnsupportedFeature
    │   └── PolicyViolation             the send policy refused (smsgate.SendPolicy)
    │       ├── BudgetExceeded          a spending limit would be passed
    │       └── Suppressed              the number opted out (a suppression list)
    ├── WebhookError                    bad signature, stale timestamp, malformed callback
    └── ProviderError                   .provider .code .http_status .retryable
        │                                   .may_have_sent .retry_after .idempotency_key
        ├── AuthenticationError
        ├── InsufficientFunds
        ├── RecipientRejected           invalid / blocked / stop-listed number at the provider
        ├── SenderRejected
        ├── InvalidRequest              the provider refused the request as malformed
        ├── NotFound
        ├── RateLimited                 .retry_after (seconds) from Retry-After when given
        ├── OtpError → OtpExpired, OtpAlreadyUsed
        ├── ProviderUnavailable         5xx, maintenance
        ├── ConnectError                nothing reached the provider (refused, DNS, connect timeout)
        ├── DeliveryUnknown             it may have been sent: read timeout, reset after sending
        ├── InvalidResponse             a reply that could not be understood
        └── AllProvidersFailed          .errors: one per provider tried, in order

The one question a caller asks before sending again is :attr:`ProviderError.may_have_sent`.
It is ``False`` only when the request provably never reached the provider, or the provider
definitively refused it; everything else is ``True``, because resending then risks a duplicate.

:attr:`ProviderError.retryable` answers a different question: would the *same* request,
tried again later (after :attr:`ProviderError.retry_after` where given), plausibly succeed
without risking a duplicate? Authentication, funds and refusals of the recipient are never
retryable; an unknown outcome is retryable only where the provider deduplicates by an
idempotency key.

When a send may have gone out and the provider deduplicates by key (SMSGist),
:attr:`ProviderError.idempotency_key` is the key that send used, including one smsgate minted
itself: sending again with ``idempotency_key=error.idempotency_key`` cannot send it twice.
It is ``None`` where no key was used (the provider takes none), and on refusals, because a
provider that deduplicates replays its stored answer to a repeated key: after a refusal, a
corrected send needs a new key.

Messages of these exceptions never contain a credential: the HTTP layer raises them outside
of the ``except`` block that caught the transport error, so no chained cause carries a URL
with a key in it, and :class:`ProviderError` scrubs every registered credential from the text
it is given, because part of that text comes from the provider (a gateway that echoes the
key in its error message would otherwise put it in ``str(exc)``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._secrets import scrub

__all__ = [
    "AllProvidersFailed",
    "AuthenticationError",
    "BudgetExceeded",
    "ConfigurationError",
    "ConnectError",
    "DeliveryUnknown",
    "InsufficientFunds",
    "InvalidPhoneNumber",
    "InvalidRequest",
    "InvalidResponse",
    "InvalidSender",
    "MessageTooLong",
    "NotFound",
    "OtpAlreadyUsed",
    "OtpError",
    "OtpExpired",
    "PolicyViolation",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "RecipientRejected",
    "SenderRejected",
    "SmsGateError",
    "Suppressed",
    "UnsupportedFeature",
    "ValidationError",
    "WebhookError",
]


class SmsGateError(Exception):
    """Base class of every error smsgate raises.

    Every smsgate error answers the one question a caller asks before sending again,
    :attr:`may_have_sent`: ``False`` here and for every error raised before any request
    (configuration, validation); a :class:`ProviderError` sets it per request.
    """

    #: Whether the message may have gone out. ``False`` unless an error says otherwise.
    may_have_sent: bool = False


class ConfigurationError(SmsGateError):
    """Bad or missing settings, raised when a provider or gateway is built."""


class ValidationError(SmsGateError, ValueError):
    """The input was refused before any I/O: nothing was sent.

    Also a :class:`ValueError`, so code that already guards against bad values keeps working.
    Its :attr:`~SmsGateError.may_have_sent` is ``False``: nothing was sent.
    """


class InvalidPhoneNumber(ValidationError):
    """A recipient is not a valid phone number, or not one the provider can reach."""


class InvalidSender(ValidationError):
    """The sender name breaks the provider's documented length or character rules."""


class MessageTooLong(ValidationError):
    """The text is empty or over the provider's documented maximum."""


class UnsupportedFeature(ValidationError):
    """An option the provider cannot express; raised before any request is made."""


class PolicyViolation(ValidationError):
    """A send policy (:class:`smsgate.SendPolicy`) refused the send before any request.

    Nothing was sent (:attr:`~SmsGateError.may_have_sent` is ``False``) and no other provider
    was tried: the policy is about the message and its recipient, not about a provider.

    Attributes:
        reason: the rule that refused, a stable word: ``"number-type"``, ``"country"``,
            ``"velocity"``, ``"suppressed"``, ``"quiet-hours"``, ``"budget"``, ``"price"``
            (a budget with no price for the route), or ``"custom"``.
        recipient: the refused number (E.164), when the refusal is about one number. It is
            the caller's own input; the message text masks it.
    """

    def __init__(self, message: str, *, reason: str = "custom",
                 recipient: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.recipient = recipient

    def __reduce__(self) -> tuple[object, ...]:
        # Pickled with its reason (a Celery result, a process pool): the default would
        # rebuild it from the message alone.
        return (type(self), self.args, {"reason": self.reason, "recipient": self.recipient})


class BudgetExceeded(PolicyViolation):
    """Sending would pass a spending limit (:class:`smsgate.SpendLimit`)."""


class Suppressed(PolicyViolation):
    """The recipient is on the suppression list (it opted out); nothing was sent."""


class WebhookError(SmsGateError):
    """A delivery callback failed verification or could not be parsed."""


class ProviderError(SmsGateError):
    """The provider refused the request, or its outcome could not be established.

    Attributes:
        provider: registry name of the provider that raised it (``"gosms.ge"``).
        code: the provider's own error code (an ``int`` or ``str``), or ``None``.
        http_status: the HTTP status of the reply, or ``None`` when there was no reply.
        retryable: whether trying the same request again may succeed without a duplicate.
        may_have_sent: ``False`` only when nothing can have been sent.
        retry_after: seconds the provider asked us to wait, or ``None``.
        idempotency_key: the key a send that may have gone out used (``None`` when the
            provider takes no key): repeat the send with it and the provider will not send
            the message twice.
    """

    #: Class defaults; the constructor may override each per instance.
    default_retryable: bool = False
    default_may_have_sent: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        code: int | str | None = None,
        http_status: int | None = None,
        retryable: bool | None = None,
        may_have_sent: bool | None = None,
        retry_after: float | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        # The one place provider-supplied text enters an error: scrub it here, so that a
        # credential the provider echoes reaches neither str(), repr() nor args.
        message = scrub(str(message))
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = scrub(code) if isinstance(code, str) else code
        self.http_status = http_status
        self.retryable = self.default_retryable if retryable is None else retryable
        self.may_have_sent = self.default_may_have_sent if may_have_sent is None else may_have_sent
        self.retry_after = retry_after
        self.idempotency_key = idempotency_key

    def __str__(self) -> str:
        parts = []
        if self.provider:
            parts.append(self.provider)
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        prefix = f"[{', '.join(parts)}] " if parts else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"code={self.code!r}, http_status={self.http_status!r}, "
            f"retryable={self.retryable!r}, may_have_sent={self.may_have_sent!r}, "
            f"retry_after={self.retry_after!r}, idempotency_key={self.idempotency_key!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments survive pickling (multiprocessing, task queues).
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[ProviderError], message: str, state: dict[str, object]) -> ProviderError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class AuthenticationError(ProviderError):
    """The credential is wrong, missing, or its API access is disabled."""


class InsufficientFunds(ProviderError):
    """The account has no credit left for this message."""


class RecipientRejected(ProviderError):
    """The provider refused the number: invalid, blocked or stop-listed. Never fail over."""


class SenderRejected(ProviderError):
    """The provider refused the sender name (unknown, unapproved, already taken)."""


class InvalidRequest(ProviderError):
    """The provider refused the request as malformed or missing fields."""


class NotFound(ProviderError):
    """The message (or other object) asked about does not exist at the provider."""


class RateLimited(ProviderError):
    """Too many requests; wait :attr:`retry_after` seconds when it is given."""

    default_retryable = True


class OtpError(ProviderError):
    """A one-time-password operation failed."""


class OtpExpired(OtpError):
    """The one-time password has expired."""


class OtpAlreadyUsed(OtpError):
    """The one-time password was already verified."""


class ProviderUnavailable(ProviderError):
    """The provider is down or in maintenance (5xx)."""

    default_retryable = True


class ConnectError(ProviderError):
    """Nothing reached the provider: connection refused, DNS failure, connect timeout, TLS."""

    default_retryable = True


class DeliveryUnknown(ProviderError):
    """The request may have reached the provider, but no usable reply came back.

    A read timeout, or a connection reset after the request was written. The message may or
    may not go out: resending risks a duplicate unless the provider deduplicates by key.
    """

    default_may_have_sent = True


class InvalidResponse(ProviderError):
    """The provider replied with something that could not be understood."""

    default_may_have_sent = True


class AllProvidersFailed(ProviderError):
    """Every provider of a gateway was tried or skipped, and none accepted the message.

    :attr:`errors` holds one error per provider, in the order they were tried;
    :attr:`may_have_sent` is ``True`` when any of them may have sent. :attr:`idempotency_key`
    is the key those that may have sent used, when they all used one and the same (each
    error in :attr:`errors` keeps its own); ``None`` otherwise.
    """

    def __init__(
        self,
        message: str,
        errors: Sequence[SmsGateError],
        *,
        provider: str | None = None,
    ) -> None:
        unsettled = [e for e in errors if e.may_have_sent]
        keys = {getattr(e, "idempotency_key", None) for e in unsettled}
        super().__init__(
            message,
            provider=provider,
            may_have_sent=bool(unsettled),
            retryable=False,
            idempotency_key=keys.pop() if len(keys) == 1 else None,
        )
        self.errors: tuple[SmsGateError, ...] = tuple(errors)
