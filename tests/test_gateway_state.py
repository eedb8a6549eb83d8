"""The gateway with state stores: shared breakers, claims, pacing and a send policy."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

import smsgate
from smsgate import BreakerPolicy, Gateway, RetryPolicy, Status
from smsgate._plan import claim_reference, provider_keys, result_from_payload, result_to_payload
from smsgate._provider import Outgoing
from smsgate.stores import (
    ClaimState,
    MemoryBreakerStore,
    MemoryClaimStore,
    MemoryRateLimiter,
    Rate,
)
from smsgate.testing import MemoryProvider

GE = "+995555123456"
GE2 = "+995555123457"
RO = "+40712345678"


def err(cls: type[smsgate.ProviderError], **kwargs: Any) -> smsgate.ProviderError:
    return cls(cls.__name__, provider="memory", **kwargs)


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Keyed(MemoryProvider):
    """A memory provider with an explicit state key (as ``key=`` gives a real one)."""

    def __init__(self, key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._state_key = key

    @property
    def state_key(self) -> str:
        return self._state_key


# -- breaker keys and shared breakers --------------------------------------------------------
def test_provider_keys_are_stable_and_distinct_within_a_gateway() -> None:
    a, b = MemoryProvider(), MemoryProvider()

    class Custom:
        name = "custom"
        capabilities = frozenset({"bulk"})

    custom = Custom()
    keys = provider_keys([a, b, custom, a])  # type: ignore[list-item]
    assert keys[id(a)] == "memory" and keys[id(b)] == "memory#2"
    assert keys[id(custom)] == f"custom {__name__}.test_provider_keys_are_stable_and_" \
        "distinct_within_a_gateway.<locals>.Custom"
    # Built alike, another gateway (another process) agrees on every key.
    again = provider_keys([MemoryProvider(), MemoryProvider()])
    assert sorted(again.values()) == ["memory", "memory#2"]
    sandbox_like = smsgate.GoSmsGe("k", sender="Brand", base_url="http://127.0.0.1:1/api")
    assert provider_keys([sandbox_like])[id(sandbox_like)] == "gosms.ge http://127.0.0.1:1/api"


def test_two_gateways_sharing_a_store_share_breaker_state() -> None:
    clock = Clock()
    store = MemoryBreakerStore(clock=clock)
    policy = BreakerPolicy(failure_threshold=2, reset_timeout=10)
    sick_1, sick_2 = Keyed("acct"), Keyed("acct")  # one provider account, two processes
    fallback_1, fallback_2 = MemoryProvider(), MemoryProvider()
    first = Gateway([sick_1, fallback_1], breaker=policy, breaker_store=store, retry=None,
                    clock=clock)
    second = Gateway([sick_2, fallback_2], breaker=policy, breaker_store=store, retry=None,
                     clock=clock)
    sick_1.fail_next(err(smsgate.ConnectError), times=2)
    first.send(GE, "1")
    first.send(GE, "2")
    assert first.breaker_state(sick_1) == "open"
    assert second.breaker_state(sick_2) == "open"  # the other gateway sees it open...
    second.send(GE, "3")
    assert sick_2.calls == [] and len(fallback_2.outbox) == 1  # ...and sends it zero requests
    clock.now = 10.0
    second.send(GE, "4")  # the probe, through the second gateway, succeeds
    assert first.breaker_state(sick_1) == "closed"


def test_separate_stores_keep_breakers_apart() -> None:
    sick = Keyed("acct")
    sick.fail_next(err(smsgate.ConnectError), times=2)
    first = Gateway([sick, MemoryProvider()], breaker=BreakerPolicy(failure_threshold=2),
                    retry=None)
    first.send(GE, "1")
    first.send(GE, "2")
    other = Gateway([sick, MemoryProvider()], breaker=BreakerPolicy(failure_threshold=2))
    assert first.breaker_state(sick) == "open" and other.breaker_state(sick) == "closed"


def test_exactly_one_half_open_probe_among_gateways_sharing_a_store() -> None:
    clock = Clock()
    store = MemoryBreakerStore(clock=clock)
    policy = BreakerPolicy(failure_threshold=1, reset_timeout=10)
    threads_n = 16
    others_done = threading.Semaphore(0)
    probes: list[int] = []
    lock = threading.Lock()

    def slow_probe(outgoing: Outgoing) -> None:
        with lock:
            probes.append(1)
        # Hold the probe until every other sender has been turned away (or a bound).
        for _ in range(threads_n - 1):
            others_done.acquire(timeout=10)

    gateways = []
    sick_ones = []
    fallbacks = []
    for _ in range(4):
        sick, fallback = Keyed("shared account"), MemoryProvider()
        sick.script(*([slow_probe] * threads_n))
        sick_ones.append(sick)
        fallbacks.append(fallback)
        gateways.append(Gateway([sick, fallback], breaker=policy, breaker_store=store,
                                retry=None, clock=clock))
    # Open the shared circuit, then let the reset window pass.
    store.record("shared account", store.admit("shared account", policy), "failure",
                 policy=policy)
    assert gateways[0].breaker_state(sick_ones[0]) == "open"
    clock.now = 10.0
    barrier = threading.Barrier(threads_n)

    def sender(index: int) -> None:
        barrier.wait()
        gateway = gateways[index % 4]
        gateway.send(GE, f"m{index}")
        others_done.release()  # the probe waits for the others to be turned away

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(len(s.calls) for s in sick_ones) == 1  # exactly one probe went out
    assert sum(len(f.outbox) for f in fallbacks) == threads_n - 1  # the rest failed over
    assert gateways[1].breaker_state(sick_ones[1]) == "closed"  # the probe's success


# -- claims ----------------------------------------------------------------------------------
def claimed(*providers: MemoryProvider, **kwargs: Any) -> tuple[Gateway, MemoryClaimStore]:
    store = kwargs.pop("claims", None) or MemoryClaimStore()
    kwargs.setdefault("retry", None)
    return Gateway(list(providers), claims=store, **kwargs), store


def test_an_accepted_key_returns_its_stored_result_with_no_request() -> None:
    sms = MemoryProvider()
    gateway, store = claimed(sms)
    first = gateway.send(GE, "Hi", idempotency_key="order-1")
    again = gateway.send(GE, "Hi", idempotency_key="order-1")
    assert len(sms.calls) == 1
    assert again == first and again.idempotency_key == "order-1"
    assert again.cost == Decimal(1) and again.balance == first.balance
    claim = store.get("order-1")
    assert claim is not None and claim.state is ClaimState.ACCEPTED
    # Another gateway on the same store (another worker) makes no request either.
    other = MemoryProvider()
    assert claimed(other, claims=store)[0].send(GE, "Hi", idempotency_key="order-1") == first
    assert other.calls == []


def test_a_key_is_minted_when_the_caller_gives_none() -> None:
    gateway, store = claimed(MemoryProvider(capabilities=frozenset({"bulk"})))
    result = gateway.send(GE, "Hi")
    assert result.idempotency_key
    claim = store.get(result.idempotency_key)
    assert claim is not None and claim.state is ClaimState.ACCEPTED


def test_an_unknown_outcome_raises_delivery_unknown_until_settled() -> None:
    sms = MemoryProvider(capabilities=frozenset({"bulk", "status"}))
    sms.fail_next(err(smsgate.DeliveryUnknown))
    gateway, store = claimed(sms)
    with pytest.raises(smsgate.DeliveryUnknown) as first:
        gateway.send(GE, "Hi", idempotency_key="k1")
    assert first.value.idempotency_key == "k1"
    claim = store.get("k1")
    assert claim is not None and claim.state is ClaimState.UNKNOWN
    assert claim.payload is not None and claim.payload["intent"]["recipients"] == [GE]
    for _ in range(2):
        with pytest.raises(smsgate.DeliveryUnknown, match="reconcile"):
            gateway.send(GE, "Hi", idempotency_key="k1")
    assert len(sms.calls) == 1  # no resend while unknown
    store.settle("k1", ClaimState.NOT_SENT)  # the provider says it never got it
    assert gateway.send(GE, "Hi", idempotency_key="k1").ok
    assert len(sms.calls) == 2


def test_nothing_sent_frees_the_key_and_a_refused_recipient_stays_refused() -> None:
    sms = MemoryProvider()
    sms.fail_next(err(smsgate.ConnectError))
    gateway, store = claimed(sms)
    with pytest.raises(smsgate.AllProvidersFailed):
        gateway.send(GE, "Hi", idempotency_key="free")
    assert store.get("free").state is ClaimState.NOT_SENT  # type: ignore[union-attr]
    assert gateway.send(GE, "Hi", idempotency_key="free").ok
    sms.fail_next(err(smsgate.RecipientRejected))
    with pytest.raises(smsgate.RecipientRejected):
        gateway.send(GE2, "Hi", idempotency_key="blocked")
    calls = len(sms.calls)
    with pytest.raises(smsgate.RecipientRejected, match="refused before"):
        gateway.send(GE2, "Hi", idempotency_key="blocked")
    assert len(sms.calls) == calls
    assert store.get("blocked").state is ClaimState.REJECTED  # type: ignore[union-attr]


def test_a_live_claim_elsewhere_and_an_expired_lease_both_raise_delivery_unknown() -> None:
    clock = Clock(1_000.0)
    store = MemoryClaimStore(clock=clock)
    sms = MemoryProvider()
    gateway, _ = claimed(sms, claims=store)
    won, _claim = store.begin("busy", lease=30)  # another worker holds it, sending
    assert won
    with pytest.raises(smsgate.DeliveryUnknown, match="in flight"):
        gateway.send(GE, "Hi", idempotency_key="busy")
    clock.now += 31  # the holder died: its lease ran out
    with pytest.raises(smsgate.DeliveryUnknown, match="unknown outcome"):
        gateway.send(GE, "Hi", idempotency_key="busy")
    assert store.get("busy").state is ClaimState.UNKNOWN  # type: ignore[union-attr]
    assert sms.calls == []  # never NEW again: nothing was resent


def test_a_bug_after_the_request_leaves_the_claim_unknown() -> None:
    sms = MemoryProvider()

    def bug(outgoing: Outgoing) -> None:
        raise RuntimeError("custom code failed after sending")

    sms.script(bug)
    gateway, store = claimed(sms)
    with pytest.raises(RuntimeError):
        gateway.send(GE, "Hi", idempotency_key="bug")
    assert store.get("bug").state is ClaimState.UNKNOWN  # type: ignore[union-attr]


def test_validation_before_any_request_takes_no_claim() -> None:
    gateway, store = claimed(MemoryProvider())
    with pytest.raises(smsgate.MessageTooLong):
        gateway.send(GE, "   ", idempotency_key="nothing")
    assert store.get("nothing") is None


def test_route_groups_claim_key_n_and_a_rerun_resends_only_the_missing_group() -> None:
    ge, ro = MemoryProvider(), MemoryProvider()
    ro.fail_next(err(smsgate.InsufficientFunds))
    store = MemoryClaimStore()
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, claims=store, retry=None)
    first = gateway.send([GE, RO], "Hi", idempotency_key="mix")
    assert [r.status for r in first.recipients] == [Status.QUEUED, Status.REJECTED]
    assert store.get("mix-0").state is ClaimState.ACCEPTED  # type: ignore[union-attr]
    assert store.get("mix-1").state is ClaimState.NOT_SENT  # type: ignore[union-attr]
    again = gateway.send([GE, RO], "Hi", idempotency_key="mix")
    assert again.ok and again.idempotency_key == "mix"
    assert len(ge.outbox) == 1 and len(ro.outbox) == 1  # GE not resent, RO sent once


def test_a_multi_route_send_keeps_cost_currency_balance_and_key() -> None:
    ge, ro = MemoryProvider(balance=100), MemoryProvider(balance=50)
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
    result = gateway.send([GE, RO, GE2], "Hi", idempotency_key="merge")
    assert result.cost == Decimal(3) and result.currency == "credits"
    assert result.costs == {"credits": Decimal(3)}
    assert result.balance == Decimal(49)  # the last group's word
    assert result.idempotency_key == "merge"
    assert [r.phone for r in result.recipients] == [GE, RO, GE2]


def test_a_claimed_result_survives_its_payload() -> None:
    sms = MemoryProvider()
    sms.fail_next(err(smsgate.RateLimited, retry_after=0.0))
    result = Gateway([sms], retry=RetryPolicy(attempts=2, backoff=0.0),
                     sleep=lambda s: None).send([GE, GE2], "Hi")
    back = result_from_payload(result_to_payload(result))
    assert back == result
    assert back.attempts[0].rule == "rate-limited-wait"


def test_a_claimed_send_gives_reference_providers_a_key_derived_reference() -> None:
    office = MemoryProvider(like="smsoffice.ge", sender="Brand")
    gateway, _store = claimed(office)
    gateway.send(GE, "Hi", idempotency_key="ref-1")
    assert office.calls[0].reference == claim_reference("ref-1")
    assert len(claim_reference("ref-1")) == 20
    own = claimed(MemoryProvider(like="smsoffice.ge", sender="Brand"))[0]
    assert own.send(GE, "Hi", reference="mine", idempotency_key="ref-2").message_id


# -- pacing ----------------------------------------------------------------------------------
class Paced(MemoryProvider):
    send_rate = Rate(2, 1.0)


def test_a_limiter_paces_providers_that_declare_a_rate() -> None:
    clock = Clock()
    waits: list[float] = []
    paced, plain = Paced(), MemoryProvider()
    limiter = MemoryRateLimiter(clock=clock)
    gateway = Gateway([paced], limiter=limiter, clock=clock, sleep=waits.append)
    for _ in range(3):
        gateway.send(GE, "Hi")
    assert waits == [1.0]  # the third send in one second waits for the window
    Gateway([plain], limiter=limiter, clock=clock, sleep=waits.append).send(GE, "Hi")
    assert waits == [1.0]  # no rate declared: not paced


def test_a_pace_beyond_the_deadline_skips_the_provider() -> None:
    clock = Clock()
    paced, fallback = Paced(), MemoryProvider()
    limiter = MemoryRateLimiter(clock=clock)
    gateway = Gateway([paced, fallback], limiter=limiter, clock=clock, sleep=lambda s: None,
                      deadline=0.5)
    gateway.send(GE, "1")
    gateway.send(GE, "2")
    gateway.send(GE, "3")  # would wait 1 s for paced: over the deadline, so fallback
    assert len(paced.outbox) == 2 and len(fallback.outbox) == 1


# -- a send policy ---------------------------------------------------------------------------
class NoRomania:
    """A tiny policy: refuses Romanian numbers and texts that mention a password."""

    def __init__(self) -> None:
        self.seen: list[tuple[tuple[str, ...], str]] = []

    def check(self, recipients: Sequence[str], text: str, options: Mapping[str, Any]) -> None:
        self.seen.append((tuple(recipients), text))
        if any(n.startswith("+40") for n in recipients):
            raise smsgate.ValidationError("Romania is not allowed by this policy")
        if "password" in text:
            raise smsgate.InvalidSender("no passwords by SMS")


def test_a_policy_refusal_raises_with_zero_requests_and_no_failover() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    policy = NoRomania()
    store = MemoryClaimStore()
    gateway = Gateway([a, b], routes={"RO": [b]}, policy=policy, claims=store)
    with pytest.raises(smsgate.ValidationError, match="Romania"):
        gateway.send([GE, RO], "Hi", idempotency_key="p1")
    with pytest.raises(smsgate.InvalidSender):
        gateway.send(GE, "your password is 1234")
    assert a.calls == [] and b.calls == []
    assert store.get("p1") is None and store.get("p1-0") is None  # refused before claims
    assert gateway.send(GE, "Hi").ok
    assert policy.seen[-1] == ((GE,), "Hi")


def test_a_policy_bug_propagates_before_any_request() -> None:
    class Broken:
        def check(self, recipients: Sequence[str], text: str,
                  options: Mapping[str, Any]) -> None:
            raise KeyError("bug")

    sms = MemoryProvider()
    with pytest.raises(KeyError):
        Gateway([sms], policy=Broken()).send(GE, "Hi")
    assert sms.calls == []


def test_bad_state_arguments_are_refused() -> None:
    with pytest.raises(smsgate.ConfigurationError):
        Gateway([MemoryProvider()], claims=object())  # type: ignore[arg-type]
    with pytest.raises(smsgate.ConfigurationError):
        Gateway([MemoryProvider()], policy=object())  # type: ignore[arg-type]
    with pytest.raises(smsgate.ConfigurationError):
        Gateway([MemoryProvider()], claim_lease=0)
