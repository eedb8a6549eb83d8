"""Test doubles for applications that send SMS.

:class:`MemoryProvider` satisfies :class:`smsgate.SmsProvider` without any network: it
validates input before "sending" (by a real provider's own rules with ``like=``), records
every accepted message in :attr:`MemoryProvider.outbox`, and can be scripted to fail with any
error of the tree.

With pytest, the ``smsgate_memory`` fixture (installed with smsgate) gives a fresh one per test::

    def test_welcome_sms(smsgate_memory):
        signup(phone="+995555123456", sms=smsgate_memory)
        assert smsgate_memory.outbox[0].text.startswith("Welcome")
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import threading
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final, TypeAlias

import attrs
import requests
import requests.adapters

from ._contract import ProviderContract
from ._mock import MockTransport
from ._protocol import CAPABILITIES
from ._provider import Limits, Outgoing, ProviderBase
from .errors import (
    ConfigurationError,
    NotFound,
    ProviderError,
)
from .models import Balance, RecipientStatus, SendResult, Status, StatusResult

__all__ = [
    "MemoryProvider",
    "MockTransport",
    "Outcome",
    "ProviderContract",
    "SentMessage",
    "check_provider",
]

#: A scripted outcome of one ``send`` call: ``None`` (accept), an exception instance or class
#: (raise it), or a callable that receives the validated send and returns either.
Outcome: TypeAlias = "ProviderError | type[ProviderError] | Callable[[Outgoing], Any] | None"


@attrs.frozen
class SentMessage:
    """One accepted send in a :class:`MemoryProvider` outbox."""

    message_id: str
    to: tuple[str, ...]
    text: str
    sender: str | None
    options: Mapping[str, Any] = attrs.field(hash=False)
    segments: int
    sent_at: dt.datetime


#: What a memory provider can do at most (it has no OTP, sender registration or retry calls).
_MEMORY_CAPABILITIES: Final = CAPABILITIES - {"otp", "sender_registration", "retry"}


class MemoryProvider(ProviderBase):
    """An in-memory provider for tests; registered as ``memory``.

    On its own it checks what every provider checks before any request: a valid number, a
    non-empty text, a sender of at most 11 characters, options it supports. With ``like`` it
    takes a real provider's declarations instead, and validates exactly as that provider
    does before sending: its home region for national numbers, the countries it reaches, its
    text and sender limits (and whether it needs a sender) and its capabilities. What no
    declaration can tell (a sender the provider has not approved, a stop-listed number, the
    balance at the provider) is the real provider's to refuse; script those failures.

    Args:
        sender: default sender name.
        region: home region for national numbers (``"GE"``), as a real provider has one.
        balance: starting credit; each recipient costs one unit per segment.
        delivery_status: what :meth:`status` reports for an accepted message.
        capabilities: narrow what it claims to support, to test feature checks.
        like: a registry name (``"gosms.ge"``) whose validation rules to apply.
    """

    name: ClassVar[str] = "memory"
    capabilities: frozenset[str] = _MEMORY_CAPABILITIES
    limits: ClassVar[Limits] = Limits(max_sender_length=11, bulk_size=None)
    #: The registry name whose rules this provider applies, or ``None``.
    like: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        sender: str | None = None,
        region: str | None = None,
        balance: Decimal | int | str = Decimal(1000),
        delivery_status: Status = Status.DELIVERED,
        capabilities: frozenset[str] | None = None,
        like: str | None = None,
    ) -> None:
        if like is not None:
            # A provider "like" another becomes an instance of a subclass carrying that
            # provider's declarations, so the base validates it exactly as the real one.
            self.__class__ = _imitation(like)
        super().__init__(sender=sender)
        model_region = self.home_region
        self.home_region = region.upper() if region else model_region
        if capabilities is not None:
            self.capabilities = frozenset(capabilities)
        self.delivery_status = delivery_status
        self.outbox: list[SentMessage] = []
        #: Every validated send, accepted or failed (scripted), in order.
        self.calls: list[Outgoing] = []
        self._balance = Decimal(balance)
        self._script: deque[Outcome] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.closed = False

    def __repr__(self) -> str:
        like = f", like={self.like!r}" if self.like else ""
        return f"MemoryProvider(sender={self.sender!r}{like}, sent={len(self.outbox)})"

    # -- scripting -------------------------------------------------------------------------
    def script(self, *outcomes: Outcome) -> None:
        """Queue outcomes for the next ``send`` calls, one each; then sends succeed again."""
        with self._lock:
            self._script.extend(outcomes)

    def fail_next(self, error: ProviderError | type[ProviderError], times: int = 1) -> None:
        """Make the next ``times`` sends raise ``error``."""
        self.script(*([error] * times))

    def clear(self) -> None:
        """Forget sent messages, calls and scripted outcomes."""
        with self._lock:
            self.outbox.clear()
            self.calls.clear()
            self._script.clear()

    @property
    def last(self) -> SentMessage:
        """The most recently accepted message."""
        if not self.outbox:
            raise AssertionError("MemoryProvider outbox is empty")
        return self.outbox[-1]

    # -- the SmsProvider protocol ----------------------------------------------------------
    def _deliver(self, outgoing: Outgoing) -> SendResult:
        """Follow the script, or accept: the message was validated like a real provider's."""
        with self._lock:
            self.calls.append(outgoing)
            outcome = self._script.popleft() if self._script else None
        if callable(outcome) and not isinstance(outcome, type):
            outcome = outcome(outgoing)
        if isinstance(outcome, type) and issubclass(outcome, ProviderError):
            outcome = outcome(f"scripted {outcome.__name__}", provider=self.name)
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, SendResult):
            return outcome
        return self._accept(outgoing)

    def _accept(self, outgoing: Outgoing) -> SendResult:
        with self._lock:
            message_id = f"mem-{next(self._ids)}"
            cost = Decimal(outgoing.info.segments * len(outgoing.recipients))
            self._balance -= cost
            balance = self._balance
            options = {
                key: value
                for key, value in attrs.asdict(outgoing, recurse=False).items()
                if key not in {"recipients", "wire_numbers", "text", "info", "sender"}
                and value not in (None, False, {})
            }
            self.outbox.append(
                SentMessage(
                    message_id=message_id,
                    to=outgoing.recipients,
                    text=outgoing.text,
                    sender=outgoing.sender,
                    options=options,
                    segments=outgoing.info.segments,
                    sent_at=dt.datetime.now(dt.timezone.utc),
                )
            )
        return SendResult(
            provider=self.name,
            message_id=message_id,
            recipients=outgoing.queued(message_id),
            segments=outgoing.info.segments,
            encoding=outgoing.info.encoding,
            cost=cost,
            currency="credits",
            balance=balance,
            idempotency_key=outgoing.idempotency_key,
        )

    def status(self, message_id: str, *, recipient: str | None = None) -> StatusResult:
        """The configured ``delivery_status`` for an accepted message; ``NotFound`` otherwise."""
        with self._lock:
            found = next((m for m in self.outbox if m.message_id == message_id), None)
        if found is None:
            raise NotFound(f"no message {message_id!r}", provider=self.name, code="not_found")
        return StatusResult(
            provider=self.name,
            message_id=message_id,
            status=self.delivery_status,
            recipients=[RecipientStatus(phone=n, status=self.delivery_status) for n in found.to],
            raw=found,
        )

    def balance(self) -> Balance:
        """Credit left: the starting balance less one unit per segment and recipient."""
        with self._lock:
            return Balance(provider=self.name, amount=self._balance, unit="credits")

    def close(self) -> None:
        self.closed = True


@functools.cache
def _imitation(like: str) -> type[MemoryProvider]:
    """A :class:`MemoryProvider` subclass carrying the declarations of provider ``like``."""
    from .registry import provider_class

    model = provider_class(like)
    if not isinstance(model, type) or not issubclass(model, ProviderBase):
        raise ConfigurationError(f"like={like!r}: {like} declares no validation rules to copy")
    if issubclass(model, MemoryProvider):
        return model
    declarations: dict[str, Any] = {
        "like": like,
        "home_region": model.home_region,
        "allowed_regions": model.allowed_regions,
        "phone_format": model.phone_format,
        "limits": model.limits,
        "capabilities": model.capabilities & _MEMORY_CAPABILITIES,
        "__module__": __name__,
        "__qualname__": "MemoryProvider",
    }
    return type("MemoryProvider", (MemoryProvider,), declarations)


class _NoNetwork(requests.adapters.BaseAdapter):
    """A transport adapter that refuses to send: proves validation happens before I/O."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.attempts += 1
        raise AssertionError(f"a request was made: {request.method} {request.path_url}")

    def close(self) -> None:
        pass


def check_provider(
    name: str,
    credentials: Mapping[str, str],
    *,
    number: str,
    foreign: str | None = None,
) -> None:
    """The offline rules of :class:`ProviderContract`; raises ``AssertionError`` on a breach.

    Args:
        name: the registry name.
        credentials: constructor keywords with fake credentials (at least 8 characters each,
            so that a leak of them cannot be missed).
        number: a valid E.164 number the provider reaches.
        foreign: a valid number it does not reach; required when its reach is limited
            (``allowed_regions``).

    It checks that the declarations are coherent data, that the provider is built by name and
    satisfies :class:`smsgate.SmsProvider`, that credentials stay out of its ``repr``, that
    missing credentials and bad settings are ``ConfigurationError``, and that bad input and
    unsupported options raise before any request (the transport it gets records every
    request, and must see none). Subclass :class:`ProviderContract` to check the wire too.
    """
    contract: type[ProviderContract] = type(
        "CheckedProvider",
        (ProviderContract,),
        {"provider": name, "credentials": dict(credentials), "number": number,
         "foreign": foreign},
    )
    contract.check(wire=False)
