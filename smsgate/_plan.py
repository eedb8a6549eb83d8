"""The gateway's send, written once as a plan: route, policy, claim, then per provider
limiter, breaker, prepare, perform, parse, decide, and wait or fail over.

A plan is a generator of the effects of :mod:`smsgate._effects`: it does no I/O, never
sleeps and never reads a clock. Time comes from ``yield Now()``, waits are
``yield Sleep(seconds)``, every store operation (claims, breakers, the rate limiter) and a
custom provider's ``send`` are ``yield Call(...)``, and a :class:`~smsgate._provider.ProviderBase`
is asked for its own plan with ``yield from provider.plan_send(outgoing, deadline=...)``
(HTTP adapters yield ``Perform`` effects there). What to do with each outcome is not decided
here but looked up in the one table of :mod:`smsgate._decisions`.

:meth:`SendCore.send` returns the plan of one ``Gateway.send`` call, validation included;
``Gateway.send`` is the synchronous driver over it::

    return run(core.send(to, text, options), clock=clock, sleep=sleep)

How the async driver (``smsgate.aio``) is a second small driver and nothing else: it builds
the same plan with the same :class:`SendCore` and runs it with an ``async def arun(plan)``
whose loop is :func:`smsgate._effects.run`'s with each effect awaited instead of called:
``Perform`` through an async transport's ``perform``, ``Sleep`` as ``await asyncio.sleep``,
``Now`` from the loop's monotonic clock, and ``Call`` as ``await call.async_function(...)``
when one is given, else ``await asyncio.to_thread(call.function, ...)``. Exceptions are
thrown into the plan at the ``yield`` that asked, as the sync driver does, so every decision
(retries, breaker accounting, claims, the ``may_have_sent`` bookkeeping) is shared. The only
state a plan touches directly is in-memory and never blocks: the retry budget, the jitter
source, the gateway's message-id memory, and the send's watch (the ``on_attempt`` hook,
OpenTelemetry spans and metrics: :mod:`smsgate._observe`).

A ``GeneratorExit`` ends a plan where it stands: Python's generator protocol turns one
thrown in (a provider that raises it, a plan dropped half-way) into closing every plan it
delegates to, and a closing plan may not yield. So the plan performs no further effect then:
a breaker probe it held is freed by the store's probe lease, and a claim it held turns
UNKNOWN when its lease runs out, never NEW. Every other exception an effect raises (a bug,
a ``CancelledError``, an interrupt) is thrown in at the ``yield`` that asked and handled
there, exactly as under any driver.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import attrs

from ._decisions import Action, Facts, Rule, decide, rule
from ._effects import NOW, Call, Plan, Sleep
from ._merge import merge_results
from ._observe import Observer, SendWatch
from ._options import needed_capabilities
from ._protocol import SmsProvider
from ._provider import ProviderBase, _is_unicode, is_blank, remember_text, text_checked
from ._secrets import get_logger
from ._unexpected import UnexpectedError, unexpected
from ._unexpected import carry_key as _carry_key
from .errors import (
    AllProvidersFailed,
    AuthenticationError,
    ConnectError,
    DeliveryUnknown,
    InsufficientFunds,
    InvalidPhoneNumber,
    InvalidResponse,
    InvalidSender,
    MessageTooLong,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RecipientRejected,
    SmsGateError,
    UnsupportedFeature,
    ValidationError,
)
from .guards import (
    DEFAULT_POLICY,
    PriceTable,
    Verdict,
    first_refusal,
    verdict_now,
    with_estimate,
    with_refusals,
)
from .models import Attempt, RecipientResult, SendResult, Status, _evolve_result
from .phone import mask_phone, normalize_phone, region_of
from .stores._claims import Claim, ClaimConflict, ClaimState, ClaimStore
from .stores._rate import Rate, RateLimiter

if TYPE_CHECKING:
    from .gateway import BreakerPolicy, RetryPolicy
    from .stores._breakers import BreakerPermit, BreakerStore

__all__ = [
    "Budget",
    "claim_reference",
    "SendCore",
    "SendPolicyHook",
    "provider_keys",
    "result_from_payload",
    "result_to_payload",
]

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


@runtime_checkable
class SendPolicyHook(Protocol):
    """What ``Gateway(policy=...)`` takes: one pure check run before any request.

    ``check`` receives the recipients (E.164, after de-duplication), the text and the send
    options (``sender``, ``reference``, ``schedule_at``...), once per ``send`` and before
    the first request, claim or breaker decision. It must not perform I/O. To refuse the
    send it raises a :class:`~smsgate.ValidationError` (``smsgate.SendPolicy`` raises
    ``PolicyViolation``, one): the gateway raises it at once, with zero requests and no
    failover (the ``policy-refusal`` rule). Any other exception is a bug in the policy and
    propagates as itself, also before any request.
    """

    def check(self, recipients: Sequence[str], text: str, options: Mapping[str, Any]) -> None:
        ...


class Budget:
    """The retry budget shared by a gateway's sends (see :class:`~smsgate.RetryPolicy`)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._tokens = policy.budget_initial
        self._lock = threading.Lock()

    def earn(self) -> None:
        if self._tokens == self._policy.budget_max:
            return  # full (the usual state): earning would leave it as it is
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
    """What one :meth:`SendCore.send` has done so far (shared by its route groups)."""

    #: provider sends started (an exception after one may follow a request).
    provider_calls: int = 0
    #: Something the caller must hear about: an acceptance, or an outcome that may have sent.
    obtained: bool = False
    #: What reports this send's attempts (``on_attempt``, OpenTelemetry), if anyone listens.
    watch: SendWatch | None = None


def provider_keys(providers: Sequence[SmsProvider]) -> dict[int, str]:
    """The breaker / pacing key of each provider object, by ``id``.

    A :class:`~smsgate._provider.ProviderBase` (and any provider with a ``state_key``
    string) gives its own: the explicit ``key=``, else registry name and base URL. A custom
    provider without one gets its name and class (``"name module.Class"``): stable across
    processes, shared by every object of that class. Within one gateway two different
    objects never share a key (a failover from one to the other must reach the second):
    the second object whose key is taken gets ``"KEY#2"``, the third ``"KEY#3"``, in the
    order the gateway lists them, so gateways built alike agree on every key.
    """
    keys: dict[int, str] = {}
    taken: dict[str, int] = {}
    for provider in providers:
        if id(provider) in keys:
            continue
        try:
            given = getattr(provider, "state_key", None)
        except Exception:
            given = None
        if not isinstance(given, str) or not given:
            cls = type(provider)
            given = f"{provider.name} {cls.__module__}.{cls.__qualname__}"
        count = taken.get(given, 0) + 1
        taken[given] = count
        keys[id(provider)] = given if count == 1 else f"{given}#{count}"
    return keys


def _declared_rate(provider: SmsProvider) -> Rate | None:
    """The pace a provider declares with a ``send_rate`` attribute (a :class:`Rate`)."""
    try:
        rate = getattr(provider, "send_rate", None)
    except Exception:
        return None
    return rate if isinstance(rate, Rate) else None


def _native(provider: SmsProvider) -> bool:
    """Whether the provider's plan can be run directly (its ``send`` is the base's)."""
    return (
        isinstance(provider, ProviderBase)
        and type(provider).send is ProviderBase.send
        and "send" not in getattr(provider, "__dict__", ())
    )


class SendCore:
    """Everything a gateway's send plan needs, gathered once per :class:`~smsgate.Gateway`.

    Holds no per-call state: :meth:`send` returns a fresh plan for each call, and several
    plans may run at once (threads, tasks).
    """

    def __init__(
        self,
        *,
        providers: tuple[SmsProvider, ...],
        routes: Mapping[str, tuple[SmsProvider, ...]],
        region: str | None,
        retry: RetryPolicy,
        breaker: BreakerPolicy | None,
        breaker_store: BreakerStore | None,
        keys: Mapping[int, str],
        failover_on_unknown: bool,
        deadline: float | None,
        claims: ClaimStore | None,
        lease: float,
        limiter: RateLimiter | None,
        policy: SendPolicyHook | None,
        rng: random.Random,
        remember: Callable[[SendResult, SmsProvider], None],
        observer: Observer | None = None,
    ) -> None:
        self.providers = providers
        self.routes = routes
        self.region = region
        self.retry = retry
        self.breaker = breaker
        self.breaker_store = breaker_store if breaker is not None else None
        self.keys = keys
        self.failover_on_unknown = failover_on_unknown
        self.deadline = deadline
        self.claims = claims
        self.lease = lease
        self.limiter = limiter
        self.policy = policy
        self.rng = rng
        self.budget = Budget(retry)
        self.remember = remember
        self.observer = observer
        #: The send policy's prices, for each result's ``estimated_costs`` (or ``None``).
        prices = getattr(policy if policy is not None else DEFAULT_POLICY, "prices", None)
        self.prices = prices if isinstance(prices, PriceTable) else None

    # -- the whole send ------------------------------------------------------------------
    def send(self, to: object, text: object, options: dict[str, Any]) -> Plan[SendResult]:
        """The plan of ``Gateway.send(to, text, **options)`` (``options``: every send
        keyword, ``allow_duplicates`` included).

        When someone listens (``on_attempt``, OpenTelemetry: see :mod:`smsgate._observe`)
        the plan is wrapped in :meth:`_observed`; otherwise it is returned as is.
        """
        watch = None if self.observer is None else self.observer.watch()
        if watch is None:
            return self._send(to, text, options, None)
        return self._observed(self._send(to, text, options, watch), watch)

    def _observed(self, plan: Plan[SendResult], watch: SendWatch) -> Plan[SendResult]:
        """``plan`` between the send's start and its end, as ``watch`` reports them."""
        watch.begin((yield NOW))
        try:
            result = yield from plan
        except GeneratorExit:
            watch.abandon()  # a closing plan may not yield (see the module docstring)
            raise
        except BaseException as exc:
            watch.end(exc, (yield NOW))
            raise
        watch.end(result, (yield NOW))
        return result

    def _send(self, to: object, text: object, options: dict[str, Any],
              watch: SendWatch | None) -> Plan[SendResult]:
        allow_duplicates = options.pop("allow_duplicates", False)
        numbers = _read_numbers(to, self.region)
        if not isinstance(allow_duplicates, bool):
            raise ValidationError("allow_duplicates must be True or False")
        if allow_duplicates:
            options["allow_duplicates"] = True  # passed on only when asked for
        else:
            numbers = list(dict.fromkeys(numbers))  # one message per number, in order
        # What no provider can accept is refused here, before a route group goes out: a
        # mixed-country send must not half-happen over a bad text or option.
        _check_common(text, options)
        assert isinstance(text, str)
        if watch is not None:
            watch.recipients = len(numbers)
        groups = self._route(numbers)
        base_key: str | None = options["idempotency_key"]
        if base_key is None and self.claims is not None:
            base_key = uuid.uuid4().hex  # every claimed send has a key
        per_group = _group_options(options, base_key, len(groups))
        if len(groups) > 1:
            # Every group's refusals before any group goes out: whether a mixed-country send
            # is refused whole must not depend on which country's number came first.
            for (chain, members), for_group in zip(groups.items(), per_group, strict=True):
                _prevalidate(chain, [numbers[i] for i in members], text, for_group)
        if self.claims is not None and options["idempotency_key"] is not None \
                and len(groups) == 1:
            # A repeat of a key already accepted is answered from its claim before the
            # policy step: it sends nothing, so it must not count against velocity limits
            # or reserve budget again (a retried OTP request would use them up). The claim
            # is read again, atomically, where the send would take it.
            known = yield Call(self.claims.get, (options["idempotency_key"],))
            if known is not None and known.state is ClaimState.ACCEPTED and \
                    known.payload is not None:
                (chain, _members), = groups.items()
                return self._settled(known, chain)
        verdict = self._policy_now(numbers)
        if verdict is None:
            verdict = yield from self._check_policy(numbers, text, options)
        if verdict is None or (not verdict.refused and not verdict.reserved):
            if len(groups) == 1 and self.claims is None and self.deadline is None:
                # What _dispatch does for one route group with no claim and no deadline,
                # one generator less on the common path.
                (chain, members), = groups.items()
                group = numbers if len(members) == len(numbers) else \
                    [numbers[i] for i in members]
                return (yield from self._chain(chain, group, text, per_group[0], None,
                                               _Call(watch=watch)))
            return (yield from self._dispatch(groups, numbers, text, per_group, base_key,
                                           watch))
        # Some recipients refused (reported REJECTED), or spending reserved (given back if
        # the send provably sends nothing): the others go as a send of their own.
        asked = numbers
        if verdict.refused:
            numbers = [n for n in numbers if n not in verdict.refused]
            groups = self._route(numbers)
            per_group = _group_options(options, base_key, len(groups))
        try:
            result = yield from self._dispatch(groups, numbers, text, per_group, base_key,
                                           watch)
        except SmsGateError as error:
            if not error.may_have_sent and verdict.reserved:
                release = getattr(self.policy, "plan_release", None)
                if release is not None:
                    yield from release(verdict)
            raise
        return with_refusals(result, asked, verdict) if verdict.refused else result

    def _dispatch(
        self, groups: dict[tuple[SmsProvider, ...], list[int]], numbers: list[str], text: str,
        per_group: list[dict[str, Any]], base_key: str | None, watch: SendWatch | None,
    ) -> Plan[SendResult]:
        ends_at: float | None = None
        if self.deadline is not None:
            started: float = yield NOW
            ends_at = started + self.deadline
        call = _Call(watch=watch)
        if len(groups) == 1:
            (chain, members), = groups.items()
            group = [numbers[i] for i in members]
            if self.claims is None:  # one generator less on the common path
                return (yield from self._chain(chain, group, text, per_group[0], ends_at, call))
            return (yield from self._claimed(chain, group, text, per_group[0], ends_at, call))
        return (yield from self._groups(groups, numbers, text, per_group, ends_at, call,
                                        base_key))

    def _check_policy(
        self, numbers: list[str], text: str, options: Mapping[str, Any]
    ) -> Plan[Verdict | None]:
        """The policy step: the gateway's ``policy`` (else smsgate's default, which refuses
        premium-rate and shared-cost numbers) before any request, claim or breaker
        decision. A :class:`~smsgate.SendPolicy` (anything with ``plan_check``) decides per
        recipient, its store operations yielded as effects; a simple hook's ``check``
        refuses the whole send. Every refusal that ends the send is the ``policy-refusal``
        row."""
        policy: Any = self.policy if self.policy is not None else DEFAULT_POLICY
        shown = {k: v for k, v in options.items() if k != "idempotency_key"}
        plan_check = getattr(policy, "plan_check", None)
        if plan_check is None:
            try:
                policy.check(tuple(numbers), text, shown)
            except ValidationError as refusal:
                self._refused(refusal)
                raise
            return None
        verdict: Verdict = yield from plan_check(
            tuple(numbers), text, shown,
            providers=lambda number: self.routes.get(region_of(number), self.providers)
            if self.routes else self.providers)
        every = first_refusal(numbers, verdict)
        if every is not None:
            self._refused(every)
            raise every
        return verdict

    def _policy_now(self, numbers: list[str]) -> Verdict | None:
        """The policy step without a plan when its verdict needs none (the default policy,
        any :class:`~smsgate.SendPolicy` that keeps no state): what :meth:`_check_policy`
        returns or raises, the same. ``None``: run :meth:`_check_policy`."""
        verdict = verdict_now(self.policy if self.policy is not None else DEFAULT_POLICY,
                              numbers)
        if verdict is not None and verdict.refused:
            every = first_refusal(numbers, verdict)
            if every is not None:
                self._refused(every)
                raise every
        return verdict

    @staticmethod
    def _refused(refusal: ValidationError) -> None:
        fired = decide(Facts("policy", refusal))
        assert fired.action is Action.RAISE
        _log.info("send refused by the send policy (%s)", type(refusal).__name__)

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

    def _groups(
        self, groups: dict[tuple[SmsProvider, ...], list[int]], numbers: list[str], text: str,
        per_group: list[dict[str, Any]], ends_at: float | None, call: _Call,
        base_key: str | None,
    ) -> Plan[SendResult]:
        parts: dict[int, RecipientResult] = {}
        results: list[SendResult] = []
        failures: list[SmsGateError] = []
        for index, (chain, members) in enumerate(groups.items()):
            group = [numbers[i] for i in members]
            calls_before = call.provider_calls
            try:
                result = yield from self._claimed(
                    chain, group, text, per_group[index], ends_at, call)
            except (KeyboardInterrupt, SystemExit, GeneratorExit):
                raise  # the caller's own interrupt stops the send, as it should
            except BaseException as exc:
                if not results and not failures and (
                    isinstance(exc, ValidationError) or not isinstance(exc, SmsGateError)
                ):
                    raise  # nothing was attempted yet: refusing the whole send is honest
                # Reported per recipient, like a failed chunk: other groups may have gone
                # out, and an exception would hide that from a caller deciding to resend. An
                # exception that is not smsgate's may have followed a request, unless no
                # provider was even called for this group.
                error = exc if isinstance(exc, SmsGateError) else unexpected(
                    "gateway", exc, may_have_sent=call.provider_calls > calls_before)
                failures.append(error)
                failed = RecipientResult.failed(group, error)
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
        merged = merge_results(results, recipients=[parts[i] for i in range(len(numbers))])
        if base_key is not None:
            # The key to repeat the whole call with (each group used base_key-n).
            merged = attrs.evolve(merged, idempotency_key=base_key)
        return merged

    # -- one route group under its claim -------------------------------------------------
    def _claimed(
        self, chain: Sequence[SmsProvider], numbers: list[str], text: str,
        options: dict[str, Any], ends_at: float | None, call: _Call,
    ) -> Plan[SendResult]:
        claims = self.claims
        if claims is None:
            return (yield from self._chain(chain, numbers, text, options, ends_at, call))
        key: str = options["idempotency_key"]
        reference = options["reference"] or claim_reference(key)
        # What is about to be sent, kept with the claim before any request: if this process
        # dies mid-send, smsgate.reconcile still knows whom to ask about what.
        intent = {"intent": {
            "recipients": list(numbers),
            "providers": [[p.name, self.keys.get(id(p), p.name)] for p in chain],
            "reference": reference,
        }}
        won, claim = yield Call(claims.begin, (key,), {"lease": self.lease, "payload": intent})
        if not won:
            return self._settled(claim, chain)
        calls_before = call.provider_calls
        try:
            result = yield from self._chain(chain, numbers, text, options, ends_at, call,
                                            reference=reference)
        except GeneratorExit:
            raise  # a closing plan may not yield: the lease turns the claim UNKNOWN
        except SmsGateError as exc:
            _carry_key(exc, key)
            if exc.may_have_sent:
                state = ClaimState.UNKNOWN
            elif isinstance(exc, RecipientRejected):
                state = ClaimState.REJECTED
            else:
                state = ClaimState.NOT_SENT
            yield from self._finish(key, claim, state, provider=getattr(exc, "provider", None),
                                    payload=intent, error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        except BaseException as exc:
            # Not an answer (a bug, an interrupt): unknown once a provider was called.
            sent = call.provider_calls > calls_before
            yield from self._finish(
                key, claim, ClaimState.UNKNOWN if sent else ClaimState.NOT_SENT,
                provider=None, payload=intent, error=type(exc).__name__)
            raise
        if result.idempotency_key is None:
            result = _evolve_result(result, idempotency_key=key)
        yield from self._finish(key, claim, ClaimState.ACCEPTED, provider=result.provider,
                                payload=result_to_payload(result))
        return result

    def _finish(
        self, key: str, claim: Claim, state: ClaimState, *, provider: str | None,
        payload: Mapping[str, Any] | None = None, error: str | None = None,
    ) -> Plan[None]:
        assert self.claims is not None
        assert claim.token is not None
        try:
            yield Call(self.claims.finish, (key, claim.token, state),
                       {"provider": provider, "payload": payload, "error": error})
        except ClaimConflict as conflict:
            # Settled by someone else meanwhile (a reconciler after our lease ran out): the
            # store keeps their word; ours is only logged.
            _log.warning("claim %s could not be finished as %s (%s)", key, state.value,
                         conflict)

    def _settled(self, claim: Claim, chain: Sequence[SmsProvider]) -> SendResult:
        """A key someone already holds or held: answer from its claim, with no request."""
        if claim.state is ClaimState.ACCEPTED and claim.payload is not None:
            fired = decide(Facts("claim-accepted"))
            assert fired.action is Action.RETURN
            result = result_from_payload(claim.payload)
            sender = next((p for p in chain if p.name == result.provider), None)
            if sender is not None:
                self.remember(result, sender)
            return result
        if claim.state is ClaimState.REJECTED:
            fired = decide(Facts("claim-rejected"))
            raise RecipientRejected(
                f"idempotency key {claim.key!r} was refused before: {claim.error or ''}".strip(),
                provider=claim.provider, may_have_sent=False)
        fired = decide(Facts("claim-open"))
        assert fired.action is Action.RAISE
        where = ("is in flight elsewhere" if claim.state is ClaimState.SENDING
                 else "has an unknown outcome; reconcile it (smsgate.reconcile)")
        raise DeliveryUnknown(f"idempotency key {claim.key!r} {where}",
                              provider=claim.provider, may_have_sent=True,
                              idempotency_key=claim.key)

    # -- one chain of providers ----------------------------------------------------------
    def _chain(
        self, chain: Sequence[SmsProvider], numbers: list[str], text: str,
        options: dict[str, Any], ends_at: float | None, call: _Call,
        reference: str | None = None,
    ) -> Plan[SendResult]:
        wanted = needed_capabilities(options) - {"idempotency"}
        errors: list[SmsGateError] = []
        attempts: list[Attempt] = []
        key = options["idempotency_key"]
        if key is None and any("idempotency" in p.capabilities for p in chain):
            key = uuid.uuid4().hex
        capable = [p for p in chain if wanted <= p.capabilities]
        if not capable:
            missing = ", ".join(sorted(wanted))
            raise UnsupportedFeature(f"no provider in the chain supports: {missing}")
        for provider in chain:
            if provider not in capable:
                unfit = UnsupportedFeature(f"{provider.name} cannot express the options")
                assert decide(Facts("error", unfit)).action is Action.FAILOVER
                errors.append(unfit)
                continue
            given = dict(options)
            if "idempotency" in provider.capabilities:
                given["idempotency_key"] = key
            else:
                given.pop("idempotency_key")
            if reference is not None and given["reference"] is None and (
                "reference" in provider.capabilities
            ):
                # A claimed send to a provider whose handle is the caller's reference
                # (SMSOffice.ge): one derived from the key, so a reconciler finds it.
                given["reference"] = reference
            if call.watch is not None:
                call.watch.failover = bool(errors)  # an earlier provider was tried or skipped
            outcome, fired = yield from self._provider(
                provider, numbers, text, given, ends_at, attempts, call)
            if isinstance(outcome, SendResult):
                self.remember(outcome, provider)
                outcome = with_estimate(outcome, text, self.prices)
                if not attempts:  # no earlier failure to report: the result as it came
                    return outcome
                return _evolve_result(outcome, attempts=(*attempts, *outcome.attempts))
            _carry_key(outcome, given.get("idempotency_key"))
            errors.append(outcome)
            if fired.action is Action.RAISE:
                raise outcome
        assert decide(Facts("exhausted")).action is Action.RAISE
        raise AllProvidersFailed(
            f"no provider accepted the message ({len(errors)} tried or skipped)", errors
        )

    def _provider(
        self, provider: SmsProvider, numbers: list[str], text: str, options: dict[str, Any],
        ends_at: float | None, attempts: list[Attempt], call: _Call,
    ) -> Plan[tuple[SendResult | SmsGateError, Rule]]:
        """Try one provider, retrying as the table says; its result, or its outcome (the
        error to report) with the rule that ended the tries."""
        store = self.breaker_store
        breaker_key = self.keys.get(id(provider), provider.name)
        policy = self.retry
        dedup = "idempotency" in provider.capabilities
        error: SmsGateError | None = None
        # Once an attempt may have sent the message, the provider's outcome stays unknown,
        # whatever a later retry says ("503" on the retry does not undo the first send).
        unknown: SmsGateError | None = None

        def situation(kind: Any, skipped: SmsGateError) -> tuple[SmsGateError, Rule]:
            fired = decide(Facts(kind, unknown_before=unknown is not None,
                                 failover_on_unknown=self.failover_on_unknown))
            if call.watch is not None:
                call.watch.skipped(provider.name, fired.id)
            return unknown or error or skipped, fired

        rate = _declared_rate(provider) if self.limiter is not None else None
        for attempt in range(policy.attempts):
            now: float = yield NOW
            started = now  # the attempt's start, unless pacing makes it wait below
            if ends_at is not None and now >= ends_at:
                return situation("deadline", _DeadlineExceeded(
                    "deadline reached before trying", provider=provider.name))
            if rate is not None:
                assert self.limiter is not None
                room = None if ends_at is None else ends_at - now
                wait: float = yield Call(self.limiter.reserve, (breaker_key, rate),
                                         {"max_wait": room})
                if room is not None and wait > room:
                    return situation("deadline", _DeadlineExceeded(
                        "deadline reached before the provider's pace allowed a send",
                        provider=provider.name))
                if wait > 0:
                    yield Sleep(wait)
                    started = yield NOW
            permit: BreakerPermit = "pass"
            if store is not None:
                assert self.breaker is not None
                permit = yield Call(store.admit, (breaker_key, self.breaker))
                if permit == "deny":
                    return situation("breaker-open", _CircuitOpen(
                        "circuit open: skipped", provider=provider.name))
            call.provider_calls += 1
            watch = call.watch
            seen = None if watch is None else watch.attempt_begin(provider.name, attempt)
            try:
                # One send through one provider: its own plan where it has one (prepare is
                # pure: it may raise), else a Call of its send.
                if _native(provider):
                    assert isinstance(provider, ProviderBase)
                    outgoing = provider.prepare(numbers, text, **options)
                    result = yield from provider.plan_send(outgoing, deadline=ends_at)
                else:
                    result = yield Call(provider.send, (numbers, text), options,
                                        deadline=ends_at)
            except GeneratorExit:
                if watch is not None and seen is not None:
                    watch.attempt_abandoned(seen)
                raise  # a closing plan may not yield (see the module docstring)
            except SmsGateError as exc:
                error = exc
            except BaseException as exc:
                # Not a provider's answer (a bug, an interrupt): it says nothing about the
                # provider's health, but the probe slot must be freed or the breaker wedges.
                if store is not None:
                    yield Call(store.release, (breaker_key, permit))
                if watch is not None and seen is not None:
                    watch.attempt_end(seen, exc, "unexpected", (yield NOW) - started, None)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)) or not (
                    call.obtained or unknown is not None
                ):
                    # The caller's interrupt, or nothing obtained yet: the exception surfaces
                    # as itself. Otherwise (an asyncio.CancelledError, a bug) it would hide an
                    # outcome that may have been sent, so it is reported as one.
                    raise
                ended: float = yield NOW
                fired = rule("unexpected")
                attempts.append(Attempt(provider=provider.name, operation="send",
                                        elapsed=ended - started, error=type(exc).__name__,
                                        rule=fired.id))
                return unexpected(provider.name, exc, may_have_sent=True), fired
            else:
                returned: object = result  # as returned, not as annotated
                if not isinstance(returned, SendResult):
                    # A custom provider's bug: something may have gone out, and failing over
                    # could send it twice. Reported, never taken for a refusal.
                    if store is not None:
                        yield Call(store.release, (breaker_key, permit))
                    bug = unexpected(provider.name, TypeError(
                        f"send returned {type(returned).__name__}, not a SendResult"),
                        may_have_sent=True)
                    verdict = decide(Facts("error", bug))
                    if watch is not None and seen is not None:
                        watch.attempt_end(seen, bug, verdict.id, (yield NOW) - started, None)
                    return bug, verdict
                if store is not None:
                    assert self.breaker is not None
                    yield Call(store.record, (breaker_key, permit, "success"),
                               {"policy": self.breaker})
                self.budget.earn()
                call.obtained = True
                if watch is not None and seen is not None:
                    watch.attempt_end(seen, result, _ACCEPTED.id, (yield NOW) - started,
                                      result.attempts[-1].http_status if result.attempts
                                      else None)
                return result, _ACCEPTED
            previous_unknown = unknown is not None
            if unknown is None and error.may_have_sent:
                unknown = error
                call.obtained = True
            ended = yield NOW
            if store is not None:
                assert self.breaker is not None
                health = ("neutral" if not isinstance(error, ProviderError)
                          # Refused before any request (a ValidationError, a
                          # ConfigurationError): its health is as unknown as before.
                          else "failure" if isinstance(error, _SYSTEM_FAILURES) else "success")
                yield Call(store.record, (breaker_key, permit, health),
                           {"policy": self.breaker})
            fired, wait = yield from self._decide(error, attempt, dedup, previous_unknown,
                                                  ends_at)
            attempts.append(Attempt(provider=provider.name, operation="send",
                                    elapsed=ended - started,
                                    http_status=getattr(error, "http_status", None),
                                    error=type(error).__name__, rule=fired.id))
            if watch is not None and seen is not None:
                watch.attempt_end(seen, error, fired.id, ended - started,
                                  getattr(error, "http_status", None))
            _log.info("%s: send failed (%s); attempt %d: %s", provider.name,
                      type(error).__name__, attempt + 1, fired.id)
            if fired.action not in (Action.RETRY, Action.WAIT_RETRY):
                if isinstance(error, UnexpectedError) and fired.action is Action.RAISE:
                    return error, fired
                return unknown or error, fired
            if wait > 0:
                yield Sleep(wait)
        raise AssertionError("the last attempt never retries")  # pragma: no cover

    def _decide(
        self, error: SmsGateError, attempt: int, dedup: bool, unknown_before: bool,
        ends_at: float | None,
    ) -> Plan[tuple[Rule, float]]:
        """The table's verdict on a failed attempt, and the wait before a retry."""
        policy = self.retry
        provider_error = error if isinstance(error, ProviderError) else None
        over_cap = bool(provider_error is not None and provider_error.retry_after is not None
                        and provider_error.retry_after > policy.max_retry_after)
        wait: float | None = None
        if (
            provider_error is not None and provider_error.retryable
            and (not provider_error.may_have_sent or dedup)
            and attempt + 1 < policy.attempts and not over_cap
        ):
            if provider_error.retry_after is not None:
                wait = provider_error.retry_after
            else:
                wait = self.rng.uniform(0, min(policy.max_backoff, policy.backoff * 2**attempt))
            if ends_at is not None:
                now: float = yield NOW
                if now + wait >= ends_at:
                    wait = None
        facts = Facts("error", error, unknown_before=unknown_before, dedup=dedup,
                      failover_on_unknown=self.failover_on_unknown,
                      retry_room=wait is not None, over_cap=over_cap)
        fired = decide(facts)
        if fired.action in (Action.RETRY, Action.WAIT_RETRY) and not self.budget.spend():
            fired = decide(attrs.evolve(facts, retry_room=False))
        return fired, wait or 0.0


#: The verdict on an accepted send (no row of the table: nothing to decide).
_ACCEPTED: Final = Rule("accepted", lambda f: False, Action.RETURN,
                        "the provider accepted", "returns its result")


def claim_reference(key: str) -> str:
    """The reference a claimed send gives a provider that tracks sends by reference, when
    the caller gave none: ``sg`` and 72 bits of the key's SHA-256 in hex (20 characters,
    the shape of the references SMSOffice.ge's adapter mints). Derived, not random, so
    that :func:`smsgate.reconcile` can find a send whose holder died before it heard the
    reply."""
    return "sg" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:18]


# -- validation of the whole call (pure) -------------------------------------------------


def _group_options(
    options: dict[str, Any], base_key: str | None, count: int
) -> list[dict[str, Any]]:
    """Each route group's options: its own idempotency key when there are several."""
    per_group: list[dict[str, Any]] = []
    for index in range(count):
        for_group = options if base_key is None else {**options, "idempotency_key": base_key}
        if count > 1 and base_key is not None:
            # One key per request: a second group under the first's key would be answered
            # with the first's stored reply by a provider that deduplicates (and its
            # claim would say "accepted" without sending).
            for_group = {**options, "idempotency_key": f"{base_key}-{index}"}
        per_group.append(for_group)
    return per_group


def _read_numbers(to: object, region: str | None) -> list[str]:
    if isinstance(to, str):
        raw: list[object] = [to]
    elif isinstance(to, (bytes, bytearray)) or not isinstance(to, Sequence):
        # What every provider takes: a string or a sequence of strings. A dict (its keys),
        # a set (no order, so no per-recipient report in input order) or a generator (used
        # up by the first provider tried) is refused, as the providers refuse it.
        raise InvalidPhoneNumber(
            f"to must be a number or a sequence of numbers, not {type(to).__name__}"
        )
    else:
        unreadable = False
        try:
            raw = list(to)
        except Exception:  # a custom sequence that cannot be read
            unreadable = True
        if unreadable:
            raise InvalidPhoneNumber(f"to could not be read as a sequence ({type(to).__name__})")
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
    return [normalize_phone(str.__str__(number), region) for number in raw]


def _prevalidate(
    chain: Sequence[SmsProvider], numbers: list[str], text: str, options: Mapping[str, Any]
) -> None:
    """Raise now what :meth:`SendCore._chain` would raise for this group before any of its
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


def _check_common(text: object, options: Mapping[str, Any]) -> None:
    """The checks every provider makes alike (each makes them again in ``prepare``)."""
    if not isinstance(text, str):
        raise MessageTooLong(f"text must be a string, not {type(text).__name__}")
    if not text_checked(text):
        if is_blank(text):
            raise MessageTooLong("text is empty (nothing but spaces or invisible characters)")
        if not _is_unicode(text):
            raise ValidationError("text holds a lone surrogate: it is not valid Unicode text")
        remember_text(text)  # so that each provider's prepare need not look again
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


# -- a result as a claim's payload (JSON) ------------------------------------------------


def result_to_payload(result: SendResult) -> dict[str, Any]:
    """What a claim stores of an accepted send: every field but ``raw`` (which may hold
    anything a provider sent), as JSON-able values (amounts as decimal strings)."""

    def amount(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "provider": result.provider,
        "message_id": result.message_id,
        "recipients": [[r.phone, r.status.value, r.message_id, r.error]
                       for r in result.recipients],
        "segments": result.segments,
        "encoding": result.encoding,
        "cost": amount(result.cost),
        "currency": result.currency,
        "balance": amount(result.balance),
        "idempotency_key": result.idempotency_key,
        "costs": {currency: str(value) for currency, value in result.costs.items()},
        "estimated_costs": {currency: str(value)
                            for currency, value in result.estimated_costs.items()},
        "attempts": [[a.provider, a.operation, a.elapsed if math.isfinite(a.elapsed) else 0.0,
                      a.http_status, a.error, a.rule] for a in result.attempts],
    }


def result_from_payload(payload: Mapping[str, Any]) -> SendResult:
    """The :class:`SendResult` a claim stored (``raw`` is ``None``)."""
    return SendResult(
        provider=payload["provider"],
        message_id=payload["message_id"],
        recipients=[RecipientResult(phone=p, status=Status(s), message_id=m, error=e)
                    for p, s, m, e in payload["recipients"]],
        segments=payload.get("segments"),
        encoding=payload.get("encoding"),
        cost=payload.get("cost"),
        currency=payload.get("currency"),
        balance=payload.get("balance"),
        idempotency_key=payload.get("idempotency_key"),
        attempts=[Attempt(provider=p, operation=o, elapsed=t, http_status=h, error=e, rule=r)
                  for p, o, t, h, e, r in payload.get("attempts", [])],
        costs={c: Decimal(v) for c, v in payload.get("costs", {}).items()},
        estimated_costs={c: Decimal(v)
                         for c, v in payload.get("estimated_costs", {}).items()},
    )

