"""The sandbox's shared state: ledger, balances, OTPs, idempotency replays and faults."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import itertools
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from ..models import Status

__all__ = ["FAULT_KINDS", "Fault", "LedgerEntry", "Refusal", "SandboxState"]

FaultKind = Literal[
    "refuse",
    "hang_before_read",
    "process_then_hang",
    "process_then_reset",
    "error",
    "rate_limit",
    "malformed",
    "latency",
    "temporary_delay",
]
FAULT_KINDS: Final = frozenset(FaultKind.__args__)  # type: ignore[attr-defined]

#: Numbers ending in these digits behave specially in every emulated provider, so that tests
#: and demos can provoke refusals without configuration.
BLOCKED_SUFFIX: Final = "0000"  # refused at send time (stop-listed / blacklisted)
UNDELIVERABLE_SUFFIX: Final = "9999"  # accepted, then the delivery fails
#: Why a message to an :data:`UNDELIVERABLE_SUFFIX` number fails (the inbox's reason column).
UNDELIVERABLE_REASON: Final = "not delivered: the sandbox fails numbers ending in 9999"
#: How many refused or faulted requests the sandbox remembers (the oldest are forgotten).
MAX_REFUSALS: Final = 10_000

#: GOSMS.GE OTP limits. The SDKs' fixtures show "X-RateLimit-Limit: 10" on OTP send and 5 on
#: verify, with "Retry-After" on codes 109 (too many requests) and 110 (account locked); the
#: window and lock lengths are not published, so the sandbox picks short ones.
OTP_SEND_LIMIT: Final = 10
OTP_SEND_WINDOW: Final = 60.0
OTP_VERIFY_LIMIT: Final = 5
OTP_LOCK_SECONDS: Final = 120.0


@attrs.frozen
class Fault:
    """A fault injected into one provider's server.

    Attributes:
        kind: what goes wrong (see :data:`FAULT_KINDS`).
        times: how many requests it hits before the provider recovers; ``None``: until cleared.
        seconds: how long ``hang_*`` and ``latency`` wait.
        status: the HTTP status of an ``error`` fault.
        retry_after: the ``Retry-After`` of a ``rate_limit`` fault.
    """

    kind: FaultKind
    times: int | None = None
    seconds: float = 30.0
    status: int = 503
    retry_after: float = 1.0


@attrs.define
class LedgerEntry:
    """One message the sandbox accepted for one recipient."""

    provider: str
    message_id: str
    recipient: str
    text: str
    sender: str | None
    segments: int
    encoding: str
    cost: Decimal
    created: float
    reference: str | None = None
    idempotency_key: str | None = None
    recipient_id: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    #: Provider options the request carried, as sent (``urgent``, ``noSmsNumber``,
    #: ``scheduleDatetime``, ``validity``, ``contentType``, ``scheduledAt``, ``route``).
    options: dict[str, Any] = attrs.field(factory=dict)
    #: When a scheduled message goes out (GoSMS.ro ``scheduleDatetime``, SMSOffice.ge
    #: ``scheduledAt``); ``None``: at once.
    scheduled: float | None = None
    #: The injected fault the request met, if any (``"process_then_reset"``,
    #: ``"temporary_delay"``, ...): the message was taken although the client saw no success.
    fault: str | None = None

    @property
    def goes_out(self) -> float:
        """When the provider sends it: its schedule, or when it was accepted."""
        return self.created if self.scheduled is None else max(self.created, self.scheduled)

    def status(self, delivery_delay: float, now: float | None = None) -> Status:
        """Queued until ``delivery_delay`` has passed since it went out, then delivered (or
        failed)."""
        if (now if now is not None else time.time()) - self.goes_out < delivery_delay:
            return Status.QUEUED
        return self.final_status()

    def final_status(self) -> Status:
        """Where the message ends up: delivered, or failed for an undeliverable number."""
        if self.recipient.endswith(UNDELIVERABLE_SUFFIX):
            return Status.FAILED
        return Status.DELIVERED

    def as_json(self, delivery_delay: float) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "message_id": self.message_id,
            "recipient": self.recipient,
            "text": self.text,
            "sender": self.sender,
            "segments": self.segments,
            "encoding": self.encoding,
            "cost": str(self.cost),
            "status": self.status(delivery_delay).value,
            "reference": self.reference,
            "idempotency_key": self.idempotency_key,
            "options": dict(self.options),
            "scheduled": None if self.scheduled is None else dt.datetime.fromtimestamp(
                self.scheduled, dt.timezone.utc).isoformat(),
            "created": dt.datetime.fromtimestamp(self.created, dt.timezone.utc).isoformat(),
            "fault": self.fault,
        }


@attrs.frozen
class Refusal:
    """A send request (or one recipient of it) that sent nothing: refused by the emulated
    provider, or hit by an injected fault before it was processed.

    Attributes:
        provider: the emulated provider.
        recipient: the number as the request wrote it (``""`` when the request was not read).
        text: the message text as the request carried it (``""`` when unknown).
        sender: the sender the request named, if any.
        kind: ``"refused"`` (the provider's answer) or ``"fault"`` (an injected fault).
        reason: the provider's code and words, or the fault and what the client saw.
        created: when it happened (POSIX time).
    """

    provider: str
    recipient: str
    text: str
    sender: str | None
    kind: Literal["refused", "fault"]
    reason: str
    created: float

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider, "recipient": self.recipient, "text": self.text,
            "sender": self.sender, "kind": self.kind, "reason": self.reason,
            "created": dt.datetime.fromtimestamp(self.created, dt.timezone.utc).isoformat(),
        }


@attrs.define
class _Otp:
    phone: str
    code: str
    hash: str
    created: float
    used: bool = False


class SandboxState:
    """Everything the emulated providers remember; every method is thread-safe."""

    def __init__(self, *, delivery_delay: float, balances: dict[str, Decimal],
                 otp_ttl: float) -> None:
        self.delivery_delay = delivery_delay
        self.otp_ttl = otp_ttl
        self._lock = threading.RLock()
        self._ledger: list[LedgerEntry] = []
        self._balances = dict(balances)
        #: The balances :meth:`reset_balance` goes back to.
        self.starting_balances = dict(balances)
        self._refusals: collections.deque[Refusal] = collections.deque(maxlen=MAX_REFUSALS)
        self._tags = threading.local()
        self._otps: list[_Otp] = []
        self._otp_sends: dict[str, list[float]] = {}
        self._otp_wrong: dict[str, int] = {}
        self._otp_locked: dict[str, float] = {}
        self._replays: dict[tuple[str, str], tuple[int, dict[str, str], bytes]] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._senders: set[str] = set()
        self._ids = itertools.count(1000)
        self.requests: dict[str, int] = {}
        #: Called with every batch of newly accepted entries (the callback dispatcher).
        self.listeners: list[Callable[[list[LedgerEntry]], None]] = []

    # -- ledger ----------------------------------------------------------------------------
    def next_int_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def record(self, entries: list[LedgerEntry]) -> None:
        fault = getattr(self._tags, "fault", None)
        if fault is not None:
            for entry in entries:
                entry.fault = fault
        with self._lock:
            self._ledger.extend(entries)
        for listener in self.listeners:
            listener(entries)

    def messages(self, provider: str | None = None) -> list[LedgerEntry]:
        with self._lock:
            return [e for e in self._ledger if provider is None or e.provider == provider]

    def find(self, provider: str, predicate: Callable[[LedgerEntry], bool]) -> list[LedgerEntry]:
        with self._lock:
            return [e for e in self._ledger if e.provider == provider and predicate(e)]

    @contextlib.contextmanager
    def faulted(self, kind: str | None) -> Iterator[None]:
        """Mark every entry this thread records meanwhile as met by fault ``kind``."""
        self._tags.fault = kind
        try:
            yield
        finally:
            self._tags.fault = None

    def refuse(self, provider: str, recipients: list[str], text: str, sender: str | None,
               reason: str, *, kind: Literal["refused", "fault"] = "refused") -> None:
        """Remember a request that sent nothing, one row per recipient (one row when the
        request named none)."""
        now = time.time()
        with self._lock:
            for recipient in recipients or [""]:
                self._refusals.append(Refusal(provider, recipient, text, sender, kind, reason,
                                              now))

    def refusals(self, provider: str | None = None) -> list[Refusal]:
        with self._lock:
            return [r for r in self._refusals if provider is None or r.provider == provider]

    def count_request(self, provider: str) -> None:
        with self._lock:
            self.requests[provider] = self.requests.get(provider, 0) + 1

    # -- balances --------------------------------------------------------------------------
    def balance(self, provider: str) -> Decimal:
        with self._lock:
            return self._balances[provider]

    def set_balance(self, provider: str, amount: Decimal) -> None:
        with self._lock:
            self._balances[provider] = Decimal(amount)

    def reset_balance(self, provider: str) -> None:
        """Back to the balance the sandbox started with."""
        with self._lock:
            self._balances[provider] = self.starting_balances[provider]

    def charge(self, provider: str, amount: Decimal) -> bool:
        """Take ``amount``; ``False`` (and nothing taken) when the balance is too low."""
        with self._lock:
            if self._balances[provider] < amount:
                return False
            self._balances[provider] -= amount
            return True

    # -- senders ---------------------------------------------------------------------------
    def add_sender(self, name: str) -> bool:
        with self._lock:
            if name in self._senders:
                return False
            self._senders.add(name)
            return True

    # -- OTP -------------------------------------------------------------------------------
    def new_otp(self, phone: str) -> _Otp:
        otp = _Otp(phone=phone, code=f"{secrets.randbelow(10_000):04d}",
                   hash=uuid.uuid4().hex, created=time.time())
        with self._lock:
            self._otps.append(otp)
        return otp

    def otp(self, otp_hash: str) -> _Otp | None:
        with self._lock:
            return next((o for o in self._otps if o.hash == otp_hash), None)

    def otp_code(self, phone: str) -> str | None:
        """The last code sent to ``phone`` (``+995...``, ``995...``, ``00995...`` or the nine
        national digits)."""
        wanted = _georgian_digits(phone)
        with self._lock:
            for otp in reversed(self._otps):
                if otp.phone == wanted:
                    return otp.code
        return None

    def take_otp_send(self, phone: str, now: float) -> tuple[int, float | None]:
        """Count one OTP send to ``phone``: ``(remaining, None)``, or ``(0, retry_after)``
        when :data:`OTP_SEND_LIMIT` sends in :data:`OTP_SEND_WINDOW` seconds are used up."""
        with self._lock:
            recent = [t for t in self._otp_sends.get(phone, []) if now - t < OTP_SEND_WINDOW]
            if len(recent) >= OTP_SEND_LIMIT:
                self._otp_sends[phone] = recent
                return 0, OTP_SEND_WINDOW - (now - recent[0])
            recent.append(now)
            self._otp_sends[phone] = recent
            return OTP_SEND_LIMIT - len(recent), None

    def otp_lock(self, phone: str, now: float) -> float | None:
        """Seconds left of the brute-force lock on ``phone``'s verifications, if locked."""
        with self._lock:
            until = self._otp_locked.get(phone)
            if until is None or until <= now:
                self._otp_locked.pop(phone, None)
                return None
            return until - now

    def otp_attempt(self, phone: str, *, right: bool, now: float) -> int:
        """Record a verification; the attempts left (a right code starts again from the
        limit). The last wrong attempt locks ``phone`` for :data:`OTP_LOCK_SECONDS`."""
        with self._lock:
            if right:
                self._otp_wrong.pop(phone, None)
                return OTP_VERIFY_LIMIT
            wrong = self._otp_wrong.get(phone, 0) + 1
            if wrong >= OTP_VERIFY_LIMIT:
                self._otp_wrong.pop(phone, None)
                self._otp_locked[phone] = now + OTP_LOCK_SECONDS
                return 0
            self._otp_wrong[phone] = wrong
            return OTP_VERIFY_LIMIT - wrong

    # -- idempotency -----------------------------------------------------------------------
    def replay(self, provider: str, key: str) -> tuple[int, dict[str, str], bytes] | None:
        with self._lock:
            return self._replays.get((provider, key))

    def remember(self, provider: str, key: str, reply: tuple[int, dict[str, str], bytes]) -> None:
        with self._lock:
            self._replays.setdefault((provider, key), reply)

    # -- faults ----------------------------------------------------------------------------
    def add_fault(self, provider: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault(provider, []).append(fault)

    def clear_faults(self, provider: str | None = None) -> None:
        with self._lock:
            if provider is None:
                self._faults.clear()
            else:
                self._faults.pop(provider, None)

    def faults(self, provider: str) -> list[Fault]:
        with self._lock:
            return list(self._faults.get(provider, []))

    def take_fault(self, provider: str) -> Fault | None:
        """The fault that hits this request, counting it down (``refuse`` excluded)."""
        with self._lock:
            queue = self._faults.get(provider, [])
            for index, fault in enumerate(queue):
                if fault.kind == "refuse":
                    continue
                if fault.times is not None:
                    if fault.times <= 1:
                        queue.pop(index)
                    else:
                        queue[index] = attrs.evolve(fault, times=fault.times - 1)
                return fault
        return None


def _georgian_digits(phone: str) -> str:
    """``995`` and the national digits of a Georgian number written in a common form.

    A convenience for :meth:`SandboxState.otp_code` (a test helper, not a provider decision),
    so it is lenient; the emulated providers accept only ``995XXXXXXXXX``.
    """
    digits = "".join(char for char in phone if char.isdigit())
    if digits.startswith("00"):
        digits = digits[2:]
    return digits if digits.startswith("995") else "995" + digits
