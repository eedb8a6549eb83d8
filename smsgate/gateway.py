"""The Gateway: failover, country routing, safe retries, circuit breakers and a deadline.

Adapters translate; the gateway decides. For each send it walks an ordered list of providers
and asks every outcome the one question that matters,
:attr:`~smsgate.ProviderError.may_have_sent`. Its rules are one table
(:mod:`smsgate._decisions`), read in order, the first row that holds deciding; each failed
:class:`~smsgate.Attempt` names the row that fired in :attr:`~smsgate.Attempt.rule`:

=========================  ===================================  ====================================
rule                       when                                 what the gateway does
=========================  ===================================  ====================================
``claim-accepted``         the idempotency key's claim is       returns the stored result: zero
                           ACCEPTED                             requests
``claim-rejected``         the idempotency key's claim is       raises ``RecipientRejected`` again:
                           REJECTED                             zero requests
``claim-open``             the key's claim is UNKNOWN (or       raises ``DeliveryUnknown`` until
                           SENDING elsewhere)                   reconciled: zero requests
``policy-refusal``         the send policy refuses the send     raised at once: zero requests, no
                                                                failover
``unexpected``             an exception that is not smsgate's   raised: as itself while nothing was
                           (a bug), or a reply that is not a    obtained, else as a
                           ``SendResult``                       ``ProviderError`` with
                                                                ``may_have_sent=True``; never failed
                                                                over
``validation``             ``ValidationError`` (bad number,     raised at once: another provider
                           text, sender)                        won't help
``recipient-rejected``     ``RecipientRejected``                raised at once: the number is the
                                                                problem
``unknown-retry``          ``may_have_sent=True`` and the       retried on the same provider with
                           provider deduplicates by key         the same key
                           (SMSGist)
``rate-limited-wait``      ``RateLimited`` (or any retryable    waits ``retry_after``, then retries
                           error) with ``retry_after`` ≤ the    the same provider
                           cap
``retryable``              other retryable errors (5xx,         retries with full-jitter backoff
                           connect failures)
``unknown-failover``       ``may_have_sent=True`` with          fails over (the message may go out
                           ``failover_on_unknown=True``         twice: the opt-in's risk)
``unknown``                ``may_have_sent=True``               raised at once: a second send could
                           (``DeliveryUnknown``,                be a duplicate
                           ``InvalidResponse``, 502/504), now
                           or on an earlier try of this
                           provider
``deadline``               the deadline leaves no time to try   skips it: zero requests
                           a provider
``breaker-open``           breaker open for a provider          skips it: zero requests
``not-reached``            ``InvalidPhoneNumber`` from a        fails over to the next provider
                           provider (a country it does not
                           reach)
``unsupported``            ``UnsupportedFeature`` (an option    fails over (zero requests to it)
                           the provider lacks)
``rate-limited-over-cap``  ``RateLimited`` with                 fails over at once, without sleeping
                           ``retry_after`` over the cap
``retries-exhausted``      a retryable error with no retry      fails over
                           left (attempts, budget or deadline)
``refusal``                auth, funds, sender and other        fails over at once
                           refusals
``exhausted``              every provider tried or skipped      raises ``AllProvidersFailed``, one
                                                                error per provider in order
=========================  ===================================  ====================================

Idempotency keys: one key per route group, given to the providers that deduplicate by key
(minted when the caller gave none). A caller's key is used as is for a send with one route
group; with several, group ``n`` (in the order of each group's first recipient) uses
``KEY-n``: two groups reaching the same deduplicating provider under one key would have the
second answered with the first's reply, and never sent. An error of a send that may have gone
out carries the key used (:attr:`~smsgate.ProviderError.idempotency_key`): the same call with
``idempotency_key=`` that key, or the caller's own, repeats it without a duplicate. With a
claim store (``claims=``) every send has a key, and each route group's key (``KEY`` or
``KEY-n``) is the key of its claim.

The send itself is a plan that does no I/O (:mod:`smsgate._plan`); :meth:`Gateway.send` is
the synchronous driver over it, and an async driver runs the very same plan.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import attrs

from ._effects import run
from ._observe import AttemptHook, Observer
from ._plan import SendCore, SendPolicyHook, provider_keys
from ._protocol import SmsProvider
from ._provider import MAX_TIMEOUT
from .errors import ConfigurationError, NotFound, SmsGateError, UnsupportedFeature
from .models import Balance, SendResult, StatusResult
from .stores._breakers import BreakerStore, MemoryBreakerStore
from .stores._claims import ClaimStore
from .stores._rate import RateLimiter
from .stores._twins import async_only

__all__ = ["BreakerPolicy", "CircuitBreaker", "Gateway", "RetryPolicy"]

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

    A standalone breaker for code of your own. The gateway keeps its breakers in a
    :class:`~smsgate.stores.BreakerStore` (``breaker_store=``) under the same rules, so that
    gateways and processes sharing a store share them.

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
        breaker_store: where the circuit breakers live (a
            :class:`~smsgate.stores.BreakerStore`); default: a
            :class:`~smsgate.stores.MemoryBreakerStore` of this gateway's own. Gateways
            (or processes) that share a store share breaker state, keyed by each provider's
            stable key (:attr:`ProviderBase.state_key`), and exactly one of them sends the
            half-open probe.
        claims: a :class:`~smsgate.stores.ClaimStore`: every send takes a claim on its
            idempotency key (minted when you give none) before any request, so a repeated
            key never sends twice, across threads, restarts and processes sharing the store.
            See ``docs/state.md``.
        claim_lease: seconds a send holds its claim (default: the deadline plus a minute,
            or ten minutes without a deadline). A holder that dies leaves the claim UNKNOWN
            once its lease runs out, never free.
        limiter: a :class:`~smsgate.stores.RateLimiter` pacing sends per provider key,
            for providers that declare a ``send_rate`` (a :class:`~smsgate.stores.Rate`);
            providers that declare none are not paced.
        policy: a :class:`~smsgate.SendPolicy` (see ``docs/guards.md``), or any object with
            a pure ``check(recipients, text, options)``, run once per send before any
            request; a refusal (:class:`~smsgate.PolicyViolation`, or any
            :class:`~smsgate.ValidationError` a ``check`` raises) is raised with zero requests
            and no failover, and a ``SendPolicy`` reports refused recipients of a list
            ``REJECTED`` and sends the rest. ``None``: smsgate's default policy, which refuses
            premium-rate and shared-cost numbers.
        on_attempt: called with an :class:`~smsgate.AttemptInfo` after every attempt (one
            call of one provider's send): provider, attempt number, failover, outcome
            class, decision rule, ``may_have_sent``, elapsed, HTTP status; never a number,
            text or credential. It runs in the sending thread (or task), so it must be
            quick and must not block; an exception it raises is logged and ignored.
        tracer_provider: an OpenTelemetry ``TracerProvider`` for this gateway's spans
            (default: the global one, used once an SDK is installed). See
            ``docs/observability.md``.
        meter_provider: an OpenTelemetry ``MeterProvider`` for its metrics (default: the
            global one).
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
        breaker_store: BreakerStore | None = None,
        claims: ClaimStore | None = None,
        claim_lease: float | None = None,
        limiter: RateLimiter | None = None,
        policy: SendPolicyHook | None = None,
        on_attempt: AttemptHook | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
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
        for name, store, protocol in (("breaker_store", breaker_store, BreakerStore),
                                      ("claims", claims, ClaimStore),
                                      ("limiter", limiter, RateLimiter)):
            if store is not None and not isinstance(store, protocol):
                raise ConfigurationError(f"{name} must be a {protocol.__name__}, not {store!r}")
        if policy is not None and not callable(getattr(policy, "check", None)):
            raise ConfigurationError("policy must have a check(recipients, text, options) method")
        if on_attempt is not None and not callable(on_attempt):
            raise ConfigurationError("on_attempt must be a callable taking an AttemptInfo")
        for name, given, method in (("tracer_provider", tracer_provider, "get_tracer"),
                                    ("meter_provider", meter_provider, "get_meter")):
            if given is not None and not callable(getattr(given, method, None)):
                raise ConfigurationError(f"{name} must be an OpenTelemetry {name} "
                                         f"(with {method}()), not {type(given).__name__}")
        if claim_lease is None:
            claim_lease = 600.0 if deadline is None else deadline + 60.0
        elif not _seconds(claim_lease, zero=False, most=MAX_TIMEOUT):
            raise ConfigurationError(
                f"claim_lease must be positive, finite seconds, at most {MAX_TIMEOUT:g}")
        self.breaker = breaker
        self.breaker_store: BreakerStore = (
            breaker_store if breaker_store is not None else MemoryBreakerStore(clock=clock))
        self.claims = claims
        self.limiter = limiter
        self.policy = policy
        self._keys = provider_keys(self._all)
        # Checked at each send, not here: AsyncGateway builds a Gateway too, and drives it.
        self._async_only = async_only(breaker_store=breaker_store, claims=claims,
                                      limiter=limiter, policy=policy)
        self._sent_by: OrderedDict[str, SmsProvider] = OrderedDict()
        self._sent_lock = threading.Lock()
        self._core = SendCore(
            providers=self.providers, routes=self.routes, region=self.region,
            retry=retry or RetryPolicy(attempts=1), breaker=breaker,
            breaker_store=self.breaker_store, keys=self._keys,
            failover_on_unknown=failover_on_unknown, deadline=deadline, claims=claims,
            lease=float(claim_lease), limiter=limiter, policy=policy, rng=self._rng,
            remember=self._remember,
            observer=Observer(on_attempt, tracer_provider=tracer_provider,
                              meter_provider=meter_provider),
        )

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
        key = self._keys.get(id(provider))
        if self.breaker is None or key is None:
            return "closed"
        return self.breaker_store.state(key, self.breaker)

    def provider_key(self, provider: SmsProvider) -> str:
        """The key this gateway keeps ``provider``'s breaker and pace under."""
        return self._keys[id(provider)]

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
            "allow_duplicates": allow_duplicates,
        }
        if self._async_only is not None:
            raise ConfigurationError(f"Gateway.send blocks; {self._async_only}")
        return run(self._core.send(to, text, options), clock=self._clock, sleep=self._sleep)

    def _remember(self, result: SendResult, provider: SmsProvider) -> None:
        recipients = result.recipients
        if len(recipients) == 1 and recipients[0].message_id in (None, result.message_id):
            # One recipient under the result's own id (or none): the set below, made cheaply.
            ids: set[Any] | tuple[Any, ...] = (
                () if result.message_id is None else (result.message_id,))
        else:
            ids = {result.message_id, *(r.message_id for r in recipients)} - {None}
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
