"""The :class:`SmsProvider` protocol every provider (and the Gateway) satisfies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from .models import Balance, SendResult, StatusResult

__all__ = ["CAPABILITIES", "SmsProvider"]

_P = TypeVar("_P", bound="SmsProvider")

#: Every capability name smsgate knows; providers declare a subset.
CAPABILITIES = frozenset(
    {
        "balance",
        "bulk",
        "flash",
        "idempotency",
        "otp",
        "priority",
        "reference",
        "retry",
        "schedule",
        "sender_registration",
        "status",
        "urgent",
        "validity",
    }
)


@runtime_checkable
class SmsProvider(Protocol):
    """What smsgate users program against: swap the implementation by configuration.

    ``to`` is one number or a sequence of numbers, in E.164, ``00``-international or the
    provider's national form; each is normalised once to E.164. An option the provider cannot
    express raises :class:`~smsgate.UnsupportedFeature`, and bad input a
    :class:`~smsgate.ValidationError` subclass, both before any request.
    """

    @property
    def name(self) -> str:
        """Registry name (``"gosms.ge"``)."""
        ...

    @property
    def capabilities(self) -> frozenset[str]:
        """What this provider can do; see :data:`CAPABILITIES`."""
        ...

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
        """Send ``text``; raise a :class:`~smsgate.ProviderError` when it was not accepted.

        A number given twice (after normalisation: ``555 12 34 56`` and ``+995555123456``
        are one number) is sent once, and the result lists it once, unless
        ``allow_duplicates=True``: a list assembled from several sources must not charge
        anyone twice for one message by accident.
        """
        ...

    def status(self, message_id: str, *, recipient: str | None = None) -> StatusResult:
        """Delivery status of a sent message."""
        ...

    def balance(self) -> Balance:
        """Credit left at the provider."""
        ...

    def close(self) -> None:
        """Release network resources."""
        ...

    def __enter__(self: _P) -> _P: ...

    def __exit__(self, *exc_info: object) -> None: ...
