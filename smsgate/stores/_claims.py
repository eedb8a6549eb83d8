"""Claims: the life of one idempotency key, and the in-memory claim store.

A claim answers the question a sender asks before every request that carries an idempotency
key: *may I send this now, or has it been (or may it have been) sent already?* Its life::

    (none) ──begin──▶ SENDING ──finish──▶ ACCEPTED | REJECTED | NOT_SENT | UNKNOWN
                         │                                 │
                         └─ lease runs out ─▶ UNKNOWN ◀────┘
                                                 │
          NOT_SENT ──begin──▶ SENDING            └─settle (reconciliation)─▶ ACCEPTED |
                                                                             REJECTED | NOT_SENT

Why a lease, and why its end means UNKNOWN. A holder (a thread, a process, a Celery worker)
takes the claim for a bounded time. If it dies (SIGKILL, OOM, a lost host) the claim must not
stay SENDING for ever, or the message could never be sent nor reconciled. But the holder may
have died *after* its request reached the provider: nobody can tell from the store whether the
message went out. Turning the claim back into NEW (free) would let the next attempt send it a
second time, which is exactly the accidental duplicate smsgate promises never to make. So an
expired lease turns the claim into UNKNOWN: the caller gets ``DeliveryUnknown`` until someone
asks the provider (:func:`smsgate.reconcile`) and :meth:`ClaimStore.settle` records the answer.

The pure transition functions below are the one definition of the rules; every store (memory,
SQLite, later Redis) applies them inside its own atomic section, so all stores agree.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, runtime_checkable

import attrs

__all__ = [
    "Claim",
    "ClaimConflict",
    "ClaimState",
    "ClaimStore",
    "MemoryClaimStore",
]


class ClaimState(str, enum.Enum):
    """Where an idempotency key is in its life.

    ``NEW`` is never stored: a key with no claim is new (:meth:`ClaimStore.get` returns
    ``None``). It is named so that drivers and logs speak one vocabulary.
    """

    NEW = "new"
    #: A holder has the key and may be sending right now (until its lease runs out).
    SENDING = "sending"
    #: The provider accepted the message; the stored result is returned without a request.
    ACCEPTED = "accepted"
    #: The provider definitively refused it (nothing went out); final, not retried by key.
    REJECTED = "rejected"
    #: Provably nothing went out; the key is free for a later :meth:`ClaimStore.begin`.
    NOT_SENT = "not_sent"
    #: It may have gone out; resending could duplicate. Settled only by reconciliation.
    UNKNOWN = "unknown"


#: States a holder may report with :meth:`ClaimStore.finish`.
FINISH_STATES: Final = frozenset(
    {ClaimState.ACCEPTED, ClaimState.REJECTED, ClaimState.NOT_SENT, ClaimState.UNKNOWN}
)
#: States reconciliation may settle an UNKNOWN claim into.
SETTLE_STATES: Final = frozenset({ClaimState.ACCEPTED, ClaimState.REJECTED, ClaimState.NOT_SENT})
#: States housekeeping may delete: nobody waits on them and nothing is left to learn.
PURGEABLE_STATES: Final = frozenset(
    {ClaimState.ACCEPTED, ClaimState.REJECTED, ClaimState.NOT_SENT}
)


class ClaimConflict(RuntimeError):
    """A claim transition that the rules forbid: a wrong token, or an illegal state change.

    It is deliberately *not* an :class:`~smsgate.SmsGateError` (yet): it never describes a
    provider's answer or the user's input, only a broken agreement between the code that holds
    claims (a second holder finishing a key it does not hold, a reconciler settling a claim that
    is not UNKNOWN). It means a bug or a lost lease in the caller, so it carries no
    ``may_have_sent``; the caller that hits it must treat the key's outcome as whatever
    :meth:`ClaimStore.get` now says, never as "free".

    Attributes:
        key: the idempotency key.
        claim: the claim as stored when the transition was refused (``None`` when missing).
    """

    def __init__(self, message: str, *, key: str, claim: Claim | None) -> None:
        super().__init__(message)
        self.key = key
        self.claim = claim


def _payload_copy(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A private copy of a JSON-able mapping (so no caller can change what a store holds)."""
    if value is None:
        return None
    return json.loads(encode_payload(value))  # type: ignore[no-any-return]


@attrs.frozen
class Claim:
    """One idempotency key's claim, as a store held it at the moment it was read.

    Attributes:
        key: the idempotency key.
        state: where the key is in its life.
        token: the holder's random token (the capability to :meth:`ClaimStore.finish`);
            kept on UNKNOWN so that a late holder can still report, ``None`` once settled.
            Hidden from ``repr``.
        lease_until: wall-clock epoch seconds at which a SENDING holder's lease runs out.
            Wall clock, not monotonic, because several processes compare it.
        provider: registry name (or provider key) of the provider that answered, when known.
        payload: the stored result, a JSON-able mapping (for ACCEPTED, what the caller gets
            back without a request). Each read returns a fresh copy. Hidden from ``repr``
            (it may hold phone numbers).
        error: text of the error that ended the attempt, when there was one.
        created: epoch seconds of the first :meth:`ClaimStore.begin` of this key.
        updated: epoch seconds of the last transition.
    """

    key: str
    state: ClaimState = attrs.field(converter=ClaimState)
    token: str | None = attrs.field(default=None, repr=False)
    lease_until: float | None = None
    provider: str | None = None
    payload: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    error: str | None = None
    created: float = 0.0
    updated: float = 0.0

    def expired(self, now: float) -> bool:
        """Whether this is a SENDING claim whose lease has run out at ``now``."""
        return (
            self.state is ClaimState.SENDING
            and self.lease_until is not None
            and self.lease_until <= now
        )


@runtime_checkable
class ClaimStore(Protocol):
    """Where claims live: one process (memory), one host (SQLite) or a fleet (Redis).

    Every method is atomic with respect to every other caller sharing the store. Times are
    wall-clock epoch seconds from the store's clock.
    """

    def begin(
        self, key: str, *, lease: float, payload: Mapping[str, Any] | None = None
    ) -> tuple[bool, Claim]:
        """Try to take ``key`` for ``lease`` seconds.

        ``payload`` (a JSON-able mapping) is kept with the SENDING claim: what is about to
        be sent (the gateway stores the recipients, the providers and the reference to look
        the send up by), so that a holder that dies mid-send leaves enough behind for
        :func:`smsgate.reconcile` to ask the provider.

        A missing claim or a NOT_SENT one becomes SENDING with a fresh token and
        ``lease_until = now + lease``: returns ``(True, claim)`` and the caller may send.
        A SENDING claim whose lease ran out becomes UNKNOWN (never free: its holder may have
        sent) and is returned with ``False``; any other claim is returned unchanged with
        ``False``: ACCEPTED means "return the stored result, make no request", UNKNOWN means
        "raise DeliveryUnknown until reconciled", a live SENDING means "in flight elsewhere".
        """
        ...

    def finish(
        self,
        key: str,
        token: str,
        state: ClaimState,
        *,
        provider: str | None = None,
        payload: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> Claim:
        """Record the holder's outcome: ACCEPTED, REJECTED, NOT_SENT or UNKNOWN.

        Only the holder (``token``) may finish, from SENDING, or from UNKNOWN when its lease
        ran out before it could report (a late outcome is still real information). NOT_SENT
        frees the key for a later :meth:`begin`. Raises :class:`ClaimConflict` otherwise.
        """
        ...

    def renew(self, key: str, token: str, *, lease: float) -> Claim:
        """Extend a live lease to ``now + lease`` (a long bulk send's heartbeat).

        Refused with :class:`ClaimConflict` once the lease has run out, even if nobody has
        read the claim since: from then on others may already treat it as UNKNOWN.
        """
        ...

    def settle(
        self,
        key: str,
        state: ClaimState,
        *,
        payload: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> Claim:
        """Reconciliation: move an UNKNOWN claim to ACCEPTED, REJECTED or NOT_SENT.

        Raises :class:`ClaimConflict` for a claim that is not UNKNOWN (a live SENDING claim
        is still its holder's to finish).
        """
        ...

    def get(self, key: str) -> Claim | None:
        """The claim of ``key``, or ``None`` (NEW). An expired SENDING claim reads (and is
        stored) as UNKNOWN."""
        ...

    def find(self, state: ClaimState) -> list[Claim]:
        """Every claim in ``state``, oldest first; expired SENDING claims count (and are
        stored) as UNKNOWN. ``find(ClaimState.UNKNOWN)`` is the reconciler's work list;
        ``find(ClaimState.NEW)`` is always empty (NEW is never stored)."""
        ...

    def purge(self, older_than: float | dt.timedelta) -> int:
        """Delete ACCEPTED, REJECTED and NOT_SENT claims last changed more than
        ``older_than`` (seconds or a timedelta) ago; return how many.

        SENDING and UNKNOWN claims are never purged. A purged ACCEPTED key is NEW again:
        keep claims at least as long as callers may retry with the same key.
        """
        ...

    def close(self) -> None:
        """Release the store's resources (connections); a shared store's data stays."""
        ...


# -- the rules, as pure functions (shared by every store) ------------------------------------


def encode_payload(value: Mapping[str, Any]) -> str:
    """The payload as strict JSON text (no NaN), or ``TypeError`` when it is not JSON-able."""
    if not isinstance(value, Mapping):
        raise TypeError(f"a claim payload must be a mapping, not {type(value).__name__}")
    try:
        return json.dumps(dict(value), allow_nan=False, separators=(",", ":"), sort_keys=True)
    except ValueError as exc:
        raise TypeError(f"a claim payload must be JSON-able: {exc}") from None


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError("an idempotency key must be a non-empty string")
    return key


def check_lease(lease: object) -> float:
    if (
        isinstance(lease, bool)
        or not isinstance(lease, (int, float))
        or not math.isfinite(lease)
        or lease <= 0
    ):
        raise ValueError("a lease must be a finite number of seconds > 0")
    return float(lease)


def check_age(older_than: object) -> float:
    if isinstance(older_than, dt.timedelta):
        older_than = older_than.total_seconds()
    if (
        isinstance(older_than, bool)
        or not isinstance(older_than, (int, float))
        or not math.isfinite(older_than)
        or older_than < 0
    ):
        raise ValueError("older_than must be a finite number of seconds >= 0 or a timedelta")
    return float(older_than)


def new_token() -> str:
    """A random holder token: unguessable, so no other holder can finish by accident."""
    return secrets.token_hex(16)


def expire(claim: Claim, now: float) -> Claim:
    """An expired SENDING claim as UNKNOWN (token kept for a late finish); others unchanged."""
    if claim.expired(now):
        return attrs.evolve(claim, state=ClaimState.UNKNOWN, updated=now)
    return claim


def begin_rule(
    current: Claim | None, key: str, *, lease: float, now: float, token: str,
    payload: Mapping[str, Any] | None = None,
) -> tuple[bool, Claim]:
    """The rule of :meth:`ClaimStore.begin` applied to ``current``."""
    if current is None:
        return True, Claim(key, ClaimState.SENDING, token=token, lease_until=now + lease,
                           payload=_payload_copy(payload), created=now, updated=now)
    if current.state is ClaimState.NOT_SENT:
        return True, Claim(key, ClaimState.SENDING, token=token, lease_until=now + lease,
                           payload=_payload_copy(payload), created=current.created,
                           updated=now)
    return False, expire(current, now)


def finish_rule(
    current: Claim | None,
    key: str,
    token: str,
    state: ClaimState,
    *,
    provider: str | None,
    payload: Mapping[str, Any] | None,
    error: str | None,
    now: float,
) -> Claim:
    """The rule of :meth:`ClaimStore.finish` applied to ``current``."""
    state = ClaimState(state)
    if state not in FINISH_STATES:
        raise ValueError(f"a claim cannot be finished as {state.value!r}")
    if current is None:
        raise ClaimConflict(f"claim {key!r} does not exist: begin it first", key=key,
                            claim=None)
    current = expire(current, now)
    if current.token is None or not secrets.compare_digest(current.token, token):
        raise ClaimConflict(f"claim {key!r} is not held by this token ({current.state.value})",
                            key=key, claim=current)
    if current.state not in (ClaimState.SENDING, ClaimState.UNKNOWN):
        raise ClaimConflict(
            f"claim {key!r} is already {current.state.value}; it cannot become {state.value}",
            key=key, claim=current)
    # A lease means something only while SENDING; an UNKNOWN claim keeps it as the record of
    # when its holder's time ran out.
    lease_until = current.lease_until if state is ClaimState.UNKNOWN else None
    return attrs.evolve(current, state=state, lease_until=lease_until, provider=provider,
                        payload=_payload_copy(payload), error=error, updated=now)


def renew_rule(
    current: Claim | None, key: str, token: str, *, lease: float, now: float
) -> Claim:
    """The rule of :meth:`ClaimStore.renew` applied to ``current``."""
    if current is None:
        raise ClaimConflict(f"claim {key!r} does not exist", key=key, claim=None)
    current = expire(current, now)
    if current.token is None or not secrets.compare_digest(current.token, token):
        raise ClaimConflict(f"claim {key!r} is not held by this token", key=key,
                            claim=current)
    if current.state is not ClaimState.SENDING:
        raise ClaimConflict(f"claim {key!r} is {current.state.value}: its lease cannot be "
                            "renewed", key=key, claim=current)
    return attrs.evolve(current, lease_until=now + lease, updated=now)


def settle_rule(
    current: Claim | None,
    key: str,
    state: ClaimState,
    *,
    payload: Mapping[str, Any] | None,
    error: str | None,
    now: float,
) -> Claim:
    """The rule of :meth:`ClaimStore.settle` applied to ``current``."""
    state = ClaimState(state)
    if state not in SETTLE_STATES:
        raise ValueError(f"an unknown claim settles as accepted, rejected or not_sent, "
                         f"not {state.value!r}")
    if current is None:
        raise ClaimConflict(f"claim {key!r} does not exist", key=key, claim=None)
    current = expire(current, now)
    if current.state is not ClaimState.UNKNOWN:
        raise ClaimConflict(f"only an unknown claim can be settled; {key!r} is "
                            f"{current.state.value}", key=key, claim=current)
    return attrs.evolve(current, state=state, token=None, lease_until=None,
                        payload=_payload_copy(payload), error=error, updated=now)


def _fresh(claim: Claim) -> Claim:
    """A copy whose payload the caller may change without touching the store."""
    if claim.payload is None:
        return claim
    return attrs.evolve(claim, payload=_payload_copy(claim.payload))


#: A rule of one transition: the claim as stored (or ``None``) and the store's now.
Rule = Callable[[Claim | None, float], Claim]


def finish_change(
    key: str, token: str, state: ClaimState, *, provider: str | None,
    payload: Mapping[str, Any] | None, error: str | None,
) -> tuple[str, Rule, bool]:
    """:meth:`ClaimStore.finish` as ``(key, rule, expire_first)``, its arguments checked (a
    payload that is not JSON is refused here, before any store is touched)."""
    key = check_key(key)
    if payload is not None:
        encode_payload(payload)
    return key, lambda current, now: finish_rule(
        current, key, token, state, provider=provider, payload=payload, error=error,
        now=now), False


def renew_change(key: str, token: str, *, lease: float) -> tuple[str, Rule, bool]:
    """:meth:`ClaimStore.renew` as ``(key, rule, expire_first)``."""
    key, lease = check_key(key), check_lease(lease)
    return key, lambda current, now: renew_rule(
        current, key, token, lease=lease, now=now), True


def settle_change(
    key: str, state: ClaimState, *, payload: Mapping[str, Any] | None, error: str | None,
) -> tuple[str, Rule, bool]:
    """:meth:`ClaimStore.settle` as ``(key, rule, expire_first)``."""
    key = check_key(key)
    if payload is not None:
        encode_payload(payload)
    return key, lambda current, now: settle_rule(
        current, key, state, payload=payload, error=error, now=now), True


class RuleTransitions:
    """:meth:`ClaimStore.finish`, :meth:`~ClaimStore.renew` and :meth:`~ClaimStore.settle`
    for a store whose ``_transition(key, rule, *, expire_first)`` applies one of the rules
    above to the stored claim atomically (every store): the three differ only in their rule
    and in whether an expired lease is stored as UNKNOWN first. A payload that is not JSON is
    refused before the store is touched (no lock or transaction is taken for it)."""

    def _transition(self, key: str, rule: Rule, *, expire_first: bool) -> Claim:
        raise NotImplementedError  # pragma: no cover - every store defines it

    def finish(
        self,
        key: str,
        token: str,
        state: ClaimState,
        *,
        provider: str | None = None,
        payload: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> Claim:
        key, rule, first = finish_change(key, token, state, provider=provider,
                                         payload=payload, error=error)
        return self._transition(key, rule, expire_first=first)

    def renew(self, key: str, token: str, *, lease: float) -> Claim:
        key, rule, first = renew_change(key, token, lease=lease)
        return self._transition(key, rule, expire_first=first)

    def settle(
        self,
        key: str,
        state: ClaimState,
        *,
        payload: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> Claim:
        key, rule, first = settle_change(key, state, payload=payload, error=error)
        return self._transition(key, rule, expire_first=first)


class AsyncRuleTransitions:
    """The async twins of :class:`RuleTransitions` (``afinish``, ``arenew``, ``asettle``) for
    a store with an awaitable ``_atransition``: the same checks and the same rules."""

    async def _atransition(self, key: str, rule: Rule, *, expire_first: bool) -> Claim:
        raise NotImplementedError  # pragma: no cover - every async store defines it

    async def afinish(
        self,
        key: str,
        token: str,
        state: ClaimState,
        *,
        provider: str | None = None,
        payload: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> Claim:
        """The async twin of :meth:`ClaimStore.finish`."""
        key, rule, first = finish_change(key, token, state, provider=provider,
                                         payload=payload, error=error)
        return await self._atransition(key, rule, expire_first=first)

    async def arenew(self, key: str, token: str, *, lease: float) -> Claim:
        """The async twin of :meth:`ClaimStore.renew`."""
        key, rule, first = renew_change(key, token, lease=lease)
        return await self._atransition(key, rule, expire_first=first)

    async def asettle(
        self,
        key: str,
        state: ClaimState,
        *,
        payload: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> Claim:
        """The async twin of :meth:`ClaimStore.settle`."""
        key, rule, first = settle_change(key, state, payload=payload, error=error)
        return await self._atransition(key, rule, expire_first=first)


class MemoryClaimStore(RuleTransitions):
    """Claims in this process's memory, guarded by one lock.

    For tests and single-process services; the claims die with the process, so a crash and
    rerun loses them (use :class:`~smsgate.stores.SqliteClaimStore` to survive that).

    Args:
        clock: wall-clock epoch seconds (injectable for tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._claims: dict[str, Claim] = {}

    def __repr__(self) -> str:
        return f"<MemoryClaimStore claims={len(self._claims)}>"

    def _load(self, key: str, now: float) -> Claim | None:
        current = self._claims.get(key)
        if current is not None and current.expired(now):
            current = self._claims[key] = expire(current, now)
        return current

    def _transition(self, key: str, rule: Rule, *, expire_first: bool) -> Claim:
        """Apply ``rule`` to the claim as stored (an expired lease first stored as UNKNOWN
        when ``expire_first``), under the lock, and keep what it returns."""
        with self._lock:
            now = self._clock()
            current = self._load(key, now) if expire_first else self._claims.get(key)
            claim = self._claims[key] = rule(current, now)
            return _fresh(claim)

    def begin(
        self, key: str, *, lease: float, payload: Mapping[str, Any] | None = None
    ) -> tuple[bool, Claim]:
        key, lease = check_key(key), check_lease(lease)
        if payload is not None:
            encode_payload(payload)  # refuse a bad payload before any change
        with self._lock:
            now = self._clock()
            won, claim = begin_rule(self._claims.get(key), key, lease=lease, now=now,
                                    token=new_token(), payload=payload)
            self._claims[key] = claim
            return won, _fresh(claim)

    def get(self, key: str) -> Claim | None:
        key = check_key(key)
        with self._lock:
            claim = self._load(key, self._clock())
            return None if claim is None else _fresh(claim)

    def find(self, state: ClaimState) -> list[Claim]:
        state = ClaimState(state)
        with self._lock:
            now = self._clock()
            found = [c for c in (self._load(k, now) for k in list(self._claims))
                     if c is not None and c.state is state]
        found.sort(key=lambda c: (c.created, c.key))
        return [_fresh(c) for c in found]

    def purge(self, older_than: float | dt.timedelta) -> int:
        age = check_age(older_than)
        with self._lock:
            cutoff = self._clock() - age
            doomed = [k for k, c in self._claims.items()
                      if c.state in PURGEABLE_STATES and c.updated < cutoff]
            for key in doomed:
                del self._claims[key]
            return len(doomed)

    def close(self) -> None:
        """Nothing to release; present so that every store closes the same way."""

    def __enter__(self) -> MemoryClaimStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
