"""The Gateway: failover, country routing, safe retries, circuit breakers and a deadline.

Adapters translate; the gateway decides. For each send it walks an ordered list of providers
and asks every error the one question that matters, :attr:`~smsgate.ProviderError.may_have_sent`:

================================================  ===========================================
the error                                         what the gateway does
================================================  ===========================================
``ValidationError`` (bad number, text, sender)    raised at once: another provider won't help
``RecipientRejected``                             raised at once: the number is the problem
``may_have_sent=True`` (``DeliveryUnknown``,      raised at once (a second send could be a
``InvalidResponse``, 502/504)                     duplicate), unless ``failover_on_unknown``;
                                                  retried on the same provider only where it
                                                  deduplicates by idempotency key (SMSGist)
``RateLimited`` with ``retry_after`` ≤ the cap    waits, then retries the same provider
``RateLimited`` over the cap                      fails over at once, without sleeping
other retryable errors (5xx, connect failures)    retries with full-jitter backoff, then
                                                  fails over
auth, funds, sender and other refusals            fails over at once
breaker open for a provider                       skips it: zero requests
================================================  ===========================================

When every provider was tried or skipped, :class:`~smsgate.AllProvidersFailed` carries one
error per provider in order.

Idempotency keys: one key per route group, given to the providers that deduplicate by key
(minted when the caller gave none). A caller's key is used as is for a send with one route
group; with several, group ``n`` (in the order of each group's first recipient) uses
``KEY-n``: two groups reaching the same deduplicating provider under one key would have the
second answered with the first's reply, and never sent. An error of a send that may have gone
out carries the key used (:attr:`~smsgate.ProviderError.idempotency_key`): the same call with
``idempotency_key=`` that key, or the caller's own, repeats it without a duplicate.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from ._http import deadline_scope
from ._merge import merge_results
from ._options import needed_capabilities
from ._protocol import SmsProvider
from ._provider import (
    MAX_TIMEOUT,
    ProviderBase,
    _is_unicode,
    is_blank,
)
from ._secrets import get_logger
from ._unexpected import UnexpectedError, unexpected
from ._unexpected import carry_key as _carry_key
from .errors import (
    AllProvidersFailed,
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    DeliveryUnknown,
    InsufficientFunds,
    InvalidPhoneNumber,
    InvalidResponse,
    InvalidSender,
    MessageTooLong,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RecipientRejected,
    SmsGateError,
    UnsupportedFeature,
    ValidationError,
)
from .models import Attempt, Balance, RecipientResult, SendResult, Status, StatusResult
from .phone import mask_phone, normalize_phone, region_of

__all__ = ["BreakerPolicy", "CircuitBreaker", "Gateway", "RetryPolicy"]

_log = get_logger("smsgate.gateway")

# Errors that say the provider itself is unwell (they count against its circuit breaker).
# Refusals of this message (a bad recipient, a malformed request) mean it is healthy.
_SYSTEM_FAILURES: Final = (
    ConnectError,
    DeliveryUnknown,
    InvalidResponse,
    ProviderUnavailable,
    RateLimited,
    AuthenticationError,
    InsufficientFunds,
)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds(value: object, *, zero: bool, most: float = math.inf) -> bool:
    """A finite, non-negative (or, without ``zero``, positive) number of at most ``most``.

    Read as a plain number first (an int subclass's or float subclass's own comparisons are
    not run), and an int too large for a float is refused rather than raising OverflowError.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        plain = float(int.__int__(value)) if isinstance(value, int) else float.__float__(value)
    except OverflowError:
        return False
    return math.isfinite(plain) and (plain >= 0 if zero else plain > 0) and plain <= most


@attrs.frozen
class RetryPolicy:
    """How a gateway retries on the same provider before failing over.

    Attributes:
        attempts: tries per provider, the first included.
        backoff: base delay; the n-th retry waits a random time in ``[0, backoff * 2**n]``
            ("full jitter"), capped at ``max_backoff``.
        max_retry_after: the longest ``Retry-After`` honoured; longer waits fail over at once.
        budget_ratio: each accepted send earns this fraction of a retry.
        budget_initial: retries available before any send succeeded (and the budget's floor
            for a burst); together they keep a failing provider from a retry storm.
        budget_max: the most retries that can be saved up.
    """

    attempts: int = 3
    backoff: float = 0.2
    max_backoff: float = 5.0
    max_retry_after: float = 10.0
    budget_ratio: float = 0.1
    budget_initial: float = 10.0
    budget_max: float = 100.0

    def __attrs_post_init__(self) -> None:
        if not _whole(self.attempts) or self.attempts < 1:
            raise ConfigurationError("RetryPolicy.attempts must be a whole number >= 1")
        for name in ("backoff", "max_backoff", "max_retry_after"):
            # Waits: a value time.sleep() cannot take would fail after a send went out.
            if not _seconds(getattr(self, name), zero=True, most=MAX_TIMEOUT):
                raise ConfigurationError(
                    f"RetryPolicy.{name} must be a finite number of seconds from 0 to "
                    f"{MAX_TIMEOUT:g} (NaN would never compare)"
                )
        for name in ("budget_ratio", "budget_initial", "budget_max"):
            if not _seconds(getattr(self, name), zero=True):
                raise ConfigurationError(
                    f"RetryPolicy.{name} must be a finite number >= 0 (NaN would never compare)"
                )


@attrs.frozen
class BreakerPolicy:
    """When a provider's circuit opens and how long it stays open.

    Attributes:
        failure_threshold: consecutive system failures that open the circuit.
        reset_timeout: seconds it stays open before one probe is let through.
    """

    failure_threshold: int = 5
    reset_timeout: float = 30.0

    def __attrs_post_init__(self) -> None:
        if not _whole(self.failure_threshold) or self.failure_threshold < 1 or not _seconds(
            self.reset_timeout, zero=False
        ):
            raise ConfigurationError(
                "BreakerPolicy needs a whole threshold >= 1 and a finite timeout > 0"
            )


#: How :meth:`CircuitBreaker.admit` let a call through.
Permit = Literal["pass", "probe"]


class CircuitBreaker:
    """One provider's breaker: closed, open (zero requests), half-open (exactly one probe).

    The lock guards only the state change, never a send.
    """

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._clock() - self._opened_at >= self.policy.reset_timeout:
                return "half-open"
            return "open"

    def allow(self) -> bool:
        """Whether a request may go out now; in half-open, only to the one probe."""
        return self.admit() is not None

    def admit(self) -> Permit | None:
        """Admit a call: ``"pass"`` (closed), ``"probe"`` (the one half-open probe) or
        ``None`` (open, or another probe is in flight: make no request).

        Every admitted call must end in :meth:`success`, :meth:`failure` or :meth:`release`,
        whatever happens, or a probe slot stays taken and the breaker never closes again.
        """
        with self._lock:
            if self._opened_at is None:
                return "pass"
            if self._clock() - self._opened_at < self.policy.reset_timeout or self._probing:
                return None
            self._probing = True
            return "probe"

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self.policy.failure_threshold:
                self._opened_at = self._clock()
            self._probing = False

    def release(self, permit: Permit | None) -> None:
        """End an admitted call that said nothing about the provider's health.

        A send refused before any request (a ``ValidationError``: nothing reached the
        provider) or cut short by an exception that is not a provider's answer (a bug, an
        interrupt) leaves the state as it was; only the probe slot it held is freed, so that
        the next call can probe.
        """
        if permit == "probe":
            with self._lock:
                self._probing = False


class _Budget:
    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._tokens = policy.budget_initial
        self._lock = threading.Lock()

    def earn(self) -> None:
        with self._lock:
            self._tokens = min(self._policy.budget_max, self._tokens + self._policy.budget_ratio)

    def spend(self) -> bool:
        with self._lock:
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class _CircuitOpen(ProviderUnavailable):
    """Recorded for a provider skipped because its breaker is open (no request was made)."""


class _DeadlineExceeded(ProviderUnavailable):
    """Recorded when the deadline left no time to try a provider."""


@attrs.define
class _Call:
    """What one :meth:`Gateway.send` has done so far (shared by its route groups)."""

    #: ``provider.send`` invocations made (an exception after one may follow a request).
    provider_calls: int = 0
    #: Something the caller must hear about: an acceptance, or an outcome that may have sent.
    obtained: bool = False


class Gateway:
    """Several providers behind one :class:`~smsgate.SmsProvider`.

    Args:
        providers: tried in order for countries without a route (may be empty with routes).
        routes: ``{"GE": [gosms, smsoffice], "RO": [gosms_ro]}``: the list for a recipient's
            country (ISO region). A mixed list of numbers is split per route and merged back
            in input order.
        retry: retries on the same provider (``None``: never retry).
        breaker: per-provider circuit breaker settings (``None``: no breaker).
        failover_on_unknown: go on to the next provider after an outcome that may have been
            sent. This risks sending the message twice; it is off unless you opt in.
        deadline: seconds the whole call may take, retries and failover included; every
            HTTP timeout shrinks to what is left.
        region: home region for national numbers (``"GE"``).
        clock: monotonic seconds (injectable for tests).
        sleep: how to wait between retries (injectable for tests).
        rng: the source of backoff jitter (injectable for tests).
    """

    name = "gateway"

    def __init__(
        self,
        providers: Sequence[SmsProvider],
        *,
        routes: Mapping[str, Sequence[SmsProvider]] | None = None,
        retry: RetryPolicy | None = RetryPolicy(),
        breaker: BreakerPolicy | None = BreakerPolicy(),
        failover_on_unknown: bool = False,
        deadline: float | None = None,
        region: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.providers = tuple(providers)
        for key in routes or {}:
            if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z]{2}", key):
                raise ConfigurationError(
                    f"route keys are two-letter ISO country codes (\"GE\"), not {key!r}"
                )
        self.routes = {key.upper(): tuple(chain) for key, chain in (routes or {}).items()}
        if not self.providers and not self.routes:
            raise ConfigurationError("a Gateway needs providers, routes, or both")
        for chain in (self.providers, *self.routes.values()):
            for provider in chain:
                if not isinstance(provider, SmsProvider):
                    raise ConfigurationError(f"{provider!r} is not an SmsProvider")
        if deadline is not None and not _seconds(deadline, zero=False, most=MAX_TIMEOUT):
            # NaN would never compare as reached, infinity never be: both mean no bound.
            raise ConfigurationError(
                f"deadline must be positive, finite seconds, at most {MAX_TIMEOUT:g} (or None)"
            )
        if region is not None and (
            not isinstance(region, str) or not re.fullmatch(r"[A-Za-z]{2}", region)
        ):
            raise ConfigurationError("region must be a two-letter ISO country code (\"GE\")")

        self.retry = retry
        self.failover_on_unknown = failover_on_unknown
        self.deadline = deadline
        self.region = region.upper() if region else None
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        everyone = {id(p): p for chain in (self.providers, *self.routes.values()) for p in chain}
        self._all = tuple(everyone.values())
        self._breakers = {
            id(p): CircuitBreaker(breaker, clock) for p in self._all
        } if breaker is not None else {}
        self._budget = _Budget(retry or RetryPolicy(attempts=1))
        self._sent_by: OrderedDict[str, SmsProvider] = OrderedDict()
        self._sent_lock = threading.Lock()

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.providers)
        routes = ", ".join(f"{k}: [{', '.join(p.name for p in v)}]" for k, v in self.routes.items())
        return f"Gateway([{names}]{', routes={' + routes + '}' if routes else ''})"

    @property
    def capabilities(self) -> frozenset[str]:
        """What at least one provider can do."""
        return frozenset().union(*(p.capabilities for p in self._all))

    def breaker_state(self, provider: SmsProvider) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` (``"closed"`` without breakers)."""
        breaker = self._breakers.get(id(provider))
        return breaker.state if breaker else "closed"

    # -- sending ---------------------------------------------------------------------------
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
        """Send through the first provider that accepts; see the module docstring.

        A number given twice is sent once unless ``allow_duplicates=True``.
        """
        options: dict[str, Any] = {
            "sender": sender, "urgent": urgent, "schedule_at": schedule_at,
            "validity": validity, "reference": reference, "idempotency_key": idempotency_key,
            "flash": flash, "priority": priority, "extra": extra,
        }
        given: object = to  # as typed by the caller, not as annotated
        if isinstance(given, str):
            raw: list[object] = [given]
        elif isinstance(given, (bytes, bytearray)) or not isinstance(given, Sequence):
            # What every provider takes: a string or a sequence of strings. A dict (its keys),
            # a set (no order, so no per-recipient report in input order) or a generator (used
            # up by the first provider tried) is refused, as the providers refuse it.
            raise InvalidPhoneNumber(
                f"to must be a number or a sequence of numbers, not {type(given).__name__}"
            )
        else:
            unreadable = False
            try:
                raw = list(given)
            except Exception:  # a custom sequence that cannot be read
                unreadable = True
            if unreadable:
                raise InvalidPhoneNumber(
                    f"to could not be read as a sequence ({type(given).__name__})"
                )
        if not raw:
            raise InvalidPhoneNumber("no recipients given")
        for number in raw:
            if not isinstance(number, str):
                raise InvalidPhoneNumber(
                    f"a phone number must be a string, not {type(number).__name__}"
                )
            if not _is_unicode(number):
                raise InvalidPhoneNumber("a phone number holds a lone surrogate")
        # Validate every number once, before any I/O: an impossible number never fails over.
        # str.__str__: a str subclass's own __str__ is not run (it could return anything).
        numbers = [_e164(str.__str__(number), self.region) for number in raw]
        if not isinstance(allow_duplicates, bool):
            raise ValidationError("allow_duplicates must be True or False")
        if allow_duplicates:
            options["allow_duplicates"] = True  # passed on only when asked for
        else:
            numbers = list(dict.fromkeys(numbers))  # one message per number, in order
        # What no provider can accept is refused here, before a route group goes out: a
        # mixed-country send must not half-happen over a bad text or option.
        _check_common(text, options)
        groups = self._route(numbers)
        started = self._clock()
        ends_at = None if self.deadline is None else started + self.deadline
        call = _Call()
        if len(groups) == 1:
            (chain, members), = groups.items()
            return self._send_chain(
                chain, [numbers[i] for i in members], text, options, ends_at, call
            )
        per_group: list[dict[str, Any]] = []
        for index in range(len(groups)):
            for_group = options
            if idempotency_key is not None:
                # One key per request: a second group under the first's key would be answered
                # with the first's stored reply by a provider that deduplicates.
                for_group = {**options, "idempotency_key": f"{idempotency_key}-{index}"}
            per_group.append(for_group)
        # Every group's refusals before any group goes out: whether a mixed-country send is
        # refused whole must not depend on which country's number came first.
        for (chain, members), for_group in zip(groups.items(), per_group, strict=True):
            _prevalidate(chain, [numbers[i] for i in members], text, for_group)
        parts: dict[int, RecipientResult] = {}
        results: list[SendResult] = []
        failures: list[SmsGateError] = []
        for index, (chain, members) in enumerate(groups.items()):
            group = [numbers[i] for i in members]
            calls_before = call.provider_calls
            for_group = per_group[index]
            try:
                result = self._send_chain(chain, group, text, for_group, ends_at, call)
            except (KeyboardInterrupt, SystemExit):
                raise  # the caller's own interrupt stops the send, as it should
            except BaseException as exc:
                if not results and not failures and (
                    isinstance(exc, ValidationError) or not isinstance(exc, SmsGateError)
                ):
                    raise  # nothing was attempted yet: refusing the whole send is honest
                # Reported per recipient, like a failed chunk: other groups may have gone out,
                # and an exception would hide that from a caller deciding to resend. An
                # exception that is not smsgate's may have followed a request, unless no
                # provider was even called for this group.
                error = exc if isinstance(exc, SmsGateError) else unexpected(
                    "gateway", exc, may_have_sent=call.provider_calls > calls_before)
                failures.append(error)
                failed = RecipientResult.failed([numbers[i] for i in members], error)
                parts.update(zip(members, failed, strict=True))
                continue
            results.append(result)
            for i, recipient in zip(members, result.recipients, strict=False):
                parts[i] = recipient
            for i in members[len(result.recipients):]:
                # A reply that accounts for fewer recipients than were sent: neither lost
                # from the report nor claimed as accepted.
                parts[i] = RecipientResult(
                    phone=numbers[i], status=Status.UNKNOWN,
                    error=f"{result.provider} did not report on this recipient",
                )
        if not results:
            raise AllProvidersFailed("no route group was accepted", failures)
        return merge_results(results, recipients=[parts[i] for i in range(len(numbers))])

    def _route(self, numbers: list[str]) -> dict[tuple[SmsProvider, ...], list[int]]:
        groups: dict[tuple[SmsProvider, ...], list[int]] = {}
        for index, number in enumerate(numbers):
            if self.routes:
                country = region_of(number)
                chain = self.routes.get(country, self.providers)
                if not chain:
                    routed = ", ".join(sorted(self.routes))
                    raise ValidationError(
                        f"no route for {mask_phone(number)} (country {country}); routes: "
                        f"{routed}"
                    )
            else:
                chain = self.providers
            groups.setdefault(chain, []).append(index)
        return groups

    def _send_chain(
        self, chain: Sequence[SmsProvider], numbers: list[str], text: str,
        options: dict[str, Any], ends_at: float | None, call: _Call,
    ) -> SendResult:
        needed = needed_capabilities(options)
        errors: list[SmsGateError] = []
        attempts: list[Attempt] = []
        key = options["idempotency_key"]
        if key is None and any("idempotency" in p.capabilities for p in chain):
            key = uuid.uuid4().hex
        capable = [p for p in chain if needed - {"idempotency"} <= p.capabilities]
        if not capable:
            missing = ", ".join(sorted(needed - {"idempotency"}))
            raise UnsupportedFeature(f"no provider in the chain supports: {missing}")
        for provider in chain:
            if provider not in capable:
                errors.append(UnsupportedFeature(f"{provider.name} cannot express the options"))
                continue
            given = dict(options)
            if "idempotency" in provider.capabilities:
                given["idempotency_key"] = key
            else:
                given.pop("idempotency_key")
            outcome = self._try_provider(provider, numbers, text, given, ends_at, attempts, call)
            if not isinstance(outcome, SendResult):
                _carry_key(outcome, given.get("idempotency_key"))
            if isinstance(outcome, SendResult):
                self._remember(outcome, provider)
                if not attempts:  # no earlier failure to report: the result as it came
                    return outcome
                return attrs.evolve(outcome, attempts=(*attempts, *outcome.attempts))
            errors.append(outcome)
            if _stops_chain(outcome, self.failover_on_unknown):
                raise outcome
        raise AllProvidersFailed(
            f"no provider accepted the message ({len(errors)} tried or skipped)", errors
        )

    def _try_provider(
        self, provider: SmsProvider, numbers: list[str], text: str, options: dict[str, Any],
        ends_at: float | None, attempts: list[Attempt], call: _Call,
    ) -> SendResult | SmsGateError:
        breaker = self._breakers.get(id(provider))
        policy = self.retry or RetryPolicy(attempts=1)
        error: SmsGateError | None = None
        # Once an attempt may have sent the message, the provider's outcome stays unknown,
        # whatever a later retry says ("503" on the retry does not undo the first send).
        unknown: SmsGateError | None = None
        for attempt in range(policy.attempts):
            if ends_at is not None and self._clock() >= ends_at:
                return unknown or error or _DeadlineExceeded(
                    "deadline reached before trying", provider=provider.name)
            bound = _to_monotonic(ends_at, self._clock)
            permit = breaker.admit() if breaker is not None else "pass"
            if permit is None:
                return unknown or error or _CircuitOpen(
                    "circuit open: skipped", provider=provider.name)
            started = self._clock()
            call.provider_calls += 1
            try:
                with deadline_scope(bound):
                    result = provider.send(numbers, text, **options)
            except SmsGateError as exc:
                error = exc
            except BaseException as exc:
                # Not a provider's answer (a bug, an interrupt): it says nothing about the
                # provider's health, but the probe slot must be freed or the breaker wedges.
                if breaker is not None:
                    breaker.release(permit)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)) or not (
                    call.obtained or unknown is not None
                ):
                    # The caller's interrupt, or nothing obtained yet: the exception surfaces
                    # as itself. Otherwise (an asyncio.CancelledError, a bug) it would hide an
                    # outcome that may have been sent, so it is reported as one.
                    raise
                attempts.append(Attempt(provider=provider.name, operation="send",
                                        elapsed=self._clock() - started,
                                        error=type(exc).__name__))
                return unexpected(provider.name, exc, may_have_sent=True)
            else:
                returned: object = result  # as returned, not as annotated
                if not isinstance(returned, SendResult):
                    # A custom provider's bug: something may have gone out, and failing over
                    # could send it twice. Reported, never taken for a refusal.
                    if breaker is not None:
                        breaker.release(permit)
                    return unexpected(provider.name, TypeError(
                        f"send returned {type(returned).__name__}, not a SendResult"),
                        may_have_sent=True)
                if breaker is not None:
                    breaker.success()
                self._budget.earn()
                call.obtained = True
                return result
            if unknown is None and getattr(error, "may_have_sent", False):
                unknown = error
                call.obtained = True
            elapsed = self._clock() - started
            attempts.append(Attempt(provider=provider.name, operation="send", elapsed=elapsed,
                                    http_status=getattr(error, "http_status", None),
                                    error=type(error).__name__))
            if breaker is not None:
                if not isinstance(error, ProviderError):
                    # Refused before any request (a ValidationError, a ConfigurationError):
                    # nothing reached the provider, so its health is as unknown as before.
                    breaker.release(permit)
                elif isinstance(error, _SYSTEM_FAILURES):
                    breaker.failure()
                else:
                    breaker.success()
            _log.info("%s: send failed (%s); attempt %d", provider.name, type(error).__name__,
                      attempt + 1)
            wait = self._retry_wait(provider, error, attempt, policy, ends_at)
            if wait is None:
                return unknown or error
            if wait > 0:
                self._sleep(wait)
        assert error is not None
        return unknown or error

    def _retry_wait(
        self, provider: SmsProvider, error: SmsGateError, attempt: int, policy: RetryPolicy,
        ends_at: float | None,
    ) -> float | None:
        """Seconds to wait before retrying on the same provider, or ``None`` to move on."""
        if not isinstance(error, ProviderError) or not error.retryable:
            return None
        if error.may_have_sent and "idempotency" not in provider.capabilities:
            return None
        if attempt + 1 >= policy.attempts:
            return None
        if error.retry_after is not None:
            if error.retry_after > policy.max_retry_after:
                return None  # over the cap: fail over now instead of sleeping
            wait = error.retry_after
        else:
            wait = self._rng.uniform(0, min(policy.max_backoff, policy.backoff * 2**attempt))
        if ends_at is not None and self._clock() + wait >= ends_at:
            return None
        if not self._budget.spend():
            return None
        return wait

    def _remember(self, result: SendResult, provider: SmsProvider) -> None:
        ids = {result.message_id, *(r.message_id for r in result.recipients)} - {None}
        with self._sent_lock:
            for message_id in ids:
                self._sent_by[str(message_id)] = provider
                self._sent_by.move_to_end(str(message_id))
            while len(self._sent_by) > 10_000:
                self._sent_by.popitem(last=False)

    # -- lookups ---------------------------------------------------------------------------
    def status(self, message_id: str, *, recipient: str | None = None) -> StatusResult:
        """Ask the provider that sent ``message_id`` (remembered for the last 10,000 sends),
        else each provider with status lookups in turn."""
        with self._sent_lock:
            known = self._sent_by.get(message_id)
        candidates = [known] if known else [p for p in self._all if "status" in p.capabilities]
        last: SmsGateError | None = None
        for provider in candidates:
            try:
                return provider.status(message_id, recipient=recipient)
            except (NotFound, UnsupportedFeature) as exc:
                last = exc
        raise last or UnsupportedFeature("no provider in this gateway offers status lookups")

    def balance(self) -> Balance:
        """The balance of the first provider that reports one."""
        for provider in self._all:
            if "balance" in provider.capabilities:
                return provider.balance()
        raise UnsupportedFeature("no provider in this gateway reports a balance")

    def close(self) -> None:
        for provider in self._all:
            provider.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _prevalidate(
    chain: Sequence[SmsProvider], numbers: list[str], text: str, options: Mapping[str, Any]
) -> None:
    """Raise now what :meth:`Gateway._send_chain` would raise for this group before any of its
    requests: no provider of the chain can express the options, or the first provider that
    would be asked refuses the input outright (a text over its limit, an ``extra`` field it
    owns or cannot encode, a sender it refuses).

    Only pure checks run (:meth:`ProviderBase.prepare`: no I/O). A refusal the chain would
    skip past (``InvalidPhoneNumber``: not a country it reaches; ``UnsupportedFeature``) moves
    on to the next provider, as the send would; a provider that is not a ``ProviderBase``
    (a custom one) has no pure check to run, so the walk stops there.
    """
    needed = needed_capabilities(options) - {"idempotency"}
    try:
        capable = [p for p in chain if needed <= p.capabilities]
    except Exception:
        # A custom provider's bug: nothing to check here; the group's own send meets it
        # again and reports it for that group.
        return
    if not capable:
        raise UnsupportedFeature(f"no provider in the chain supports: {', '.join(sorted(needed))}")
    for provider in capable:
        if not isinstance(provider, ProviderBase):
            return
        given = dict(options)
        if "idempotency" not in provider.capabilities:
            given.pop("idempotency_key")
        try:
            provider.prepare(numbers, text, **given)
        except (InvalidPhoneNumber, UnsupportedFeature):
            continue
        except SmsGateError:
            raise
        except Exception:
            return  # a subclass's bug: left to the group's send, which reports it
        return


def _stops_chain(error: SmsGateError, failover_on_unknown: bool) -> bool:
    if isinstance(error, UnexpectedError):
        return True  # a bug is not an answer: failing over on it could send twice
    # The gateway validated every number already, so a provider's InvalidPhoneNumber means
    # "not a country I reach" and an UnsupportedFeature "not an option I have": skip it.
    if isinstance(error, (InvalidPhoneNumber, UnsupportedFeature)):
        return False
    if isinstance(error, (ValidationError, RecipientRejected)):
        return True
    if getattr(error, "may_have_sent", False):
        return not failover_on_unknown
    return False


def _check_common(text: object, options: Mapping[str, Any]) -> None:
    """The checks every provider makes alike (each makes them again in ``prepare``)."""
    if not isinstance(text, str):
        raise MessageTooLong(f"text must be a string, not {type(text).__name__}")
    if is_blank(text):
        raise MessageTooLong("text is empty (nothing but spaces or invisible characters)")
    if not _is_unicode(text):
        raise ValidationError("text holds a lone surrogate: it is not valid Unicode text")
    for flag in ("urgent", "flash", "priority"):
        if not isinstance(options[flag], bool):
            raise ValidationError(
                f"{flag} must be True or False, not {type(options[flag]).__name__}"
            )
    for name in ("sender", "reference", "idempotency_key"):
        value = options[name]
        if value is None:
            continue
        refusal = InvalidSender if name == "sender" else ValidationError
        if not isinstance(value, str):
            raise refusal(f"{name} must be a string, not {type(value).__name__}")
        if not _is_unicode(value):
            raise refusal(f"{name} holds a lone surrogate: it is not valid Unicode text")
    extra = options["extra"]
    if extra is not None and not isinstance(extra, Mapping):
        raise ValidationError("extra must be a mapping of raw provider fields")


def _e164(number: str, region: str | None) -> str:
    return normalize_phone(number, region)


def _to_monotonic(ends_at: float | None, clock: Callable[[], float]) -> float | None:
    # The transport measures time with time.monotonic; translate from the injected clock.
    if ends_at is None:
        return None
    return time.monotonic() + (ends_at - clock())
