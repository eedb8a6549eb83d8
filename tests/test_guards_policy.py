"""smsgate.SendPolicy (issue 19): each rule refuses before any request, on every path; a list
reports its refused recipients and sends the rest; the plan's policy step stays one rule."""

from __future__ import annotations

import datetime as dt
import pickle
import sys
from decimal import Decimal
from typing import Any

import phonenumbers
import pytest

import smsgate
from smsgate import (
    BudgetExceeded,
    Gateway,
    Message,
    PolicyViolation,
    PriceTable,
    QuietHours,
    SendPolicy,
    SpendLimit,
    Status,
    Suppressed,
)
from smsgate._decisions import RULES
from smsgate.guards import (
    DEFAULT_DENIED_TYPES,
    DEFAULT_POLICY,
    MemoryBudgetStore,
    MemorySuppressionList,
    SqliteSuppressionList,
    number_type,
    number_type_in,
)
from smsgate.stores import MemoryRateLimiter, Rate

from .guards_helpers import GOOD, GOOD_2, counted, example

PT = phonenumbers.PhoneNumberType
PREMIUM_GB = example("GB", PT.PREMIUM_RATE)
SHARED_GB = example("DE", PT.SHARED_COST)
TOLL_FREE_GB = example("GB", PT.TOLL_FREE)


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- number types -------------------------------------------------------------------------

KIND_SETS = (DEFAULT_DENIED_TYPES, frozenset({"toll_free"}), frozenset({"uan", "premium_rate"}),
             frozenset({"mobile", "voip"}))


def test_number_type_is_libphonenumbers_for_every_example_number() -> None:
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in PT.values():
            found = phonenumbers.example_number_for_type(region, kind)
            if found is None or not phonenumbers.is_valid_number(found):
                continue
            e164 = phonenumbers.format_number(found, phonenumbers.PhoneNumberFormat.E164)
            expected = PT.to_string(phonenumbers.number_type(found)).lower()
            assert number_type(e164) == expected, (region, e164)
            for kinds in KIND_SETS:
                assert number_type_in(e164, kinds) == (expected in kinds), (e164, kinds)
            checked += 1
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        found = phonenumbers.example_number_for_non_geo_entity(code)
        if found is not None and phonenumbers.is_valid_number(found):
            e164 = phonenumbers.format_number(found, phonenumbers.PhoneNumberFormat.E164)
            assert number_type(e164) == PT.to_string(phonenumbers.number_type(found)).lower()
            checked += 1
    assert checked > 1_300


# -- the default: premium rate and shared cost refused everywhere ---------------------------


@pytest.mark.parametrize("number", [PREMIUM_GB, SHARED_GB, example("DE", PT.PREMIUM_RATE),
                                    example("US", PT.PREMIUM_RATE)])
def test_a_plain_provider_send_refuses_premium_and_shared_cost(number: str) -> None:
    provider, transport = counted()
    with pytest.raises(PolicyViolation) as caught:
        provider.send(number, "Your code is 1234")
    assert caught.value.reason == "number-type"
    assert caught.value.may_have_sent is False
    assert isinstance(caught.value, smsgate.ValidationError)
    assert transport.requests == []
    assert number not in str(caught.value)  # masked


def test_a_gateway_and_send_many_refuse_them_too_with_no_policy_given() -> None:
    provider, transport = counted()
    backup, backup_transport = counted()
    gateway = Gateway([provider, backup])
    with pytest.raises(PolicyViolation):
        gateway.send(PREMIUM_GB, "hi")
    report = smsgate.send_many(gateway, [Message(PREMIUM_GB, "a"), Message(GOOD, "b"),
                                         Message(SHARED_GB, "c")])
    assert [type(r).__name__ for r in report.results] == [
        "PolicyViolation", "SendResult", "PolicyViolation"]
    assert len(transport.requests) == 1 and backup_transport.requests == []  # no failover


def test_allowing_them_is_one_documented_setting() -> None:
    provider, transport = counted()
    provider.policy = SendPolicy(deny_types=())
    assert provider.send(PREMIUM_GB, "hi").ok
    gateway = Gateway([provider], policy=SendPolicy(deny_types=()))
    assert gateway.send(SHARED_GB, "hi").ok
    assert len(transport.requests) == 2
    assert DEFAULT_POLICY.deny_types == {"premium_rate", "shared_cost"}


def test_in_a_list_the_refused_are_reported_and_the_rest_go() -> None:
    provider, transport = counted()
    result = provider.send([PREMIUM_GB, GOOD, SHARED_GB, GOOD_2], "hi")
    assert [r.status for r in result.recipients] == [
        Status.REJECTED, Status.QUEUED, Status.REJECTED, Status.QUEUED]
    assert [r.phone for r in result.recipients] == [PREMIUM_GB, GOOD, SHARED_GB, GOOD_2]
    assert "number-type" in (result.recipients[0].error or "")
    assert not result.ok
    assert len(transport.requests) == 2  # gosms.ro: one request per recipient
    gateway = Gateway([counted()[0]], routes={"GE": [counted()[0]]})
    mixed = gateway.send([GOOD, PREMIUM_GB, GOOD_2], "hi")
    assert [r.status for r in mixed.recipients] == [Status.QUEUED, Status.REJECTED,
                                                     Status.QUEUED]


def test_a_simple_check_hook_still_works_and_fires_the_one_rule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Any] = []

    class Hook:
        def check(self, recipients: Any, text: str, options: Any) -> None:
            seen.append(recipients)
            if "stop" in text:
                raise PolicyViolation("no")

    provider, transport = counted()
    gateway = Gateway([provider], policy=Hook())
    assert gateway.send(PREMIUM_GB, "fine").ok  # the hook replaces the default policy
    with pytest.raises(PolicyViolation), caplog.at_level("INFO", "smsgate.gateway"):
        gateway.send(GOOD, "stop")
    assert len(transport.requests) == 1 and len(seen) == 2
    assert [r.id for r in RULES].count("policy-refusal") == 1
    assert "send refused by the send policy" in caplog.text


# -- countries and types ------------------------------------------------------------------


def test_country_allow_and_deny_lists() -> None:
    provider, transport = counted()
    provider.policy = SendPolicy(allow_countries=["GE", "RO"], deny_countries=["RO"])
    assert provider.send(GOOD, "hi").ok
    for number in (GOOD_2, "+4915123456789"):
        with pytest.raises(PolicyViolation) as caught:
            provider.send(number, "hi")
        assert caught.value.reason == "country"
    assert len(transport.requests) == 1


def test_allow_types_for_otp_traffic() -> None:
    provider, transport = counted()
    provider.policy = SendPolicy(allow_types=["mobile"])
    assert provider.send(GOOD, "1234").ok
    for number in (TOLL_FREE_GB, example("GB", PT.FIXED_LINE)):
        with pytest.raises(PolicyViolation):
            provider.send(number, "1234")
    assert len(transport.requests) == 1
    with pytest.raises(smsgate.ConfigurationError):
        SendPolicy(deny_types=["premium"])


# -- velocity ------------------------------------------------------------------------------


def test_velocity_per_number_prefix_and_country_with_a_refused_send_booking_nothing() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    provider, transport = counted()
    provider.policy = SendPolicy(per_number=Rate(2, 60), per_prefix=Rate(3, 60),
                                 per_country={"GE": Rate(4, 60)}, limiter=limiter)
    base = GOOD[:-4]
    provider.send(GOOD, "1")
    provider.send(GOOD, "2")
    with pytest.raises(PolicyViolation) as caught:
        provider.send(GOOD, "3")  # per number
    assert caught.value.reason == "velocity"
    provider.send(base + "0001", "x")  # third of the 10,000-block
    with pytest.raises(PolicyViolation):
        provider.send(base + "0002", "x")  # per prefix
    provider.send("+995577123456", "x")  # fourth in GE
    with pytest.raises(PolicyViolation):
        provider.send("+995591123456", "x")  # per country
    assert len(transport.requests) == 4
    clock.now += 61  # the windows slide; the refused sends booked nothing
    provider.send(GOOD, "again")
    provider.send(GOOD, "again")
    assert len(transport.requests) == 6


def test_velocity_counters_live_in_a_shared_limiter() -> None:
    limiter = MemoryRateLimiter()
    one, transport_one = counted()
    two, transport_two = counted()
    one.policy = SendPolicy(per_number="1/hour", limiter=limiter)
    two.policy = SendPolicy(per_number="1/hour", limiter=limiter)
    one.send(GOOD, "a")
    with pytest.raises(PolicyViolation):
        two.send(GOOD, "b")
    assert (len(transport_one.requests), len(transport_two.requests)) == (1, 0)


# -- suppression -----------------------------------------------------------------------------


def test_suppressed_numbers_are_refused(tmp_path: Any) -> None:
    for suppression in (MemorySuppressionList(["+995 555 12 34 56"]),
                        SqliteSuppressionList(tmp_path / "optout.db")):
        suppression.add("00995555123456")
        provider, transport = counted()
        provider.policy = SendPolicy(suppression=suppression)
        with pytest.raises(Suppressed) as caught:
            provider.send(GOOD, "promo")
        assert caught.value.reason == "suppressed"
        result = Gateway([provider], policy=provider.policy).send([GOOD, GOOD_2], "promo")
        assert [r.status for r in result.recipients] == [Status.REJECTED, Status.QUEUED]
        suppression.remove(GOOD)
        assert provider.send(GOOD, "promo").ok
        assert len(transport.requests) == 2


# -- quiet hours -----------------------------------------------------------------------------


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def test_quiet_hours_in_the_recipients_local_time() -> None:
    clock = Clock(_epoch("2026-11-25T18:30:00+00:00"))  # 22:30 in Tbilisi, 20:30 in Bucharest
    provider, transport = counted()
    provider.policy = SendPolicy(quiet_hours=QuietHours("21:00", "08:00"), wall_clock=clock)
    with pytest.raises(PolicyViolation) as caught:
        provider.send(GOOD, "promo")
    assert caught.value.reason == "quiet-hours"
    assert provider.send(GOOD_2, "promo").ok
    # Scheduled for the next morning in Tbilisi: judged at that time.
    morning = dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.timezone.utc)  # 10:00 in Tbilisi
    gateway = Gateway([provider], policy=provider.policy)
    with pytest.raises(PolicyViolation):
        gateway.send(GOOD, "promo")
    clock.now = _epoch("2026-11-25T06:00:00+00:00")
    assert gateway.send(GOOD, "promo").ok
    assert len(transport.requests) == 2
    assert morning.tzinfo is not None
    # Several zones: quiet if quiet in any (06:00 UTC is 01:00 in New York, 22:00 in LA).
    assert QuietHours().quiet("US", _epoch("2026-11-25T16:00:00+00:00")) is True
    assert QuietHours(zones={"US": "America/New_York"}).quiet(
        "US", _epoch("2026-11-25T16:00:00+00:00")) is False


def test_schedule_at_is_judged_at_the_scheduled_time() -> None:
    clock = Clock(_epoch("2026-11-25T20:00:00+00:00"))  # midnight in Tbilisi
    provider = smsgate.testing.MemoryProvider()
    policy = SendPolicy(quiet_hours=QuietHours(), wall_clock=clock)
    gateway = Gateway([provider], policy=policy)
    with pytest.raises(PolicyViolation):
        gateway.send(GOOD, "promo")
    later = dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.timezone.utc)  # 10:00 in Tbilisi
    assert gateway.send(GOOD, "promo", schedule_at=later).ok


# -- budget ------------------------------------------------------------------------------------


def test_a_spending_limit_refuses_what_would_pass_it_and_gives_back_what_was_not_sent() -> None:
    store = MemoryBudgetStore()
    limit = SpendLimit("0.10", "EUR", per="day", name="otp", store=store)
    clock = Clock(_epoch("2026-11-25T12:00:00+00:00"))
    prices = PriceTable.from_dict({"gosms.ro": {"*": "0.03 EUR"}})
    provider, transport = counted()
    provider.policy = SendPolicy(spend_limits=[limit], prices=prices, wall_clock=clock)
    for _ in range(3):
        provider.send(GOOD, "hi")
    with pytest.raises(BudgetExceeded) as caught:
        provider.send(GOOD, "hi")
    assert caught.value.reason == "budget" and not caught.value.may_have_sent
    assert store.spent("otp:2026-11-25") == Decimal("0.09")
    # Two segments (GoSMS.ro's counting) cost twice.
    clock.now += 86_400
    provider.send(GOOD, "x" * 161)
    assert store.spent("otp:2026-11-26") == Decimal("0.06")
    # A send that provably sent nothing gives its reservation back.
    transport.handler = lambda request: smsgate.providers.HttpResponse(
        401, {}, b'{"success": false, "error": "unauthorized"}')
    with pytest.raises(smsgate.AuthenticationError):
        provider.send(GOOD, "hi")
    assert store.spent("otp:2026-11-26") == Decimal("0.06")
    assert len(transport.requests) == 5


def test_a_gateway_reserves_the_dearest_provider_of_the_chain() -> None:
    store = MemoryBudgetStore()
    prices = PriceTable.from_dict({"gosms.ro": {"GE": "0.05 EUR"}, "memory": {"*": "0.01 EUR"}})
    policy = SendPolicy(spend_limits=[SpendLimit("1", "EUR", per="total", store=store)],
                        prices=prices)
    gateway = Gateway([smsgate.testing.MemoryProvider(), counted()[0]], policy=policy)
    gateway.send(GOOD, "hi")  # the memory provider sends, but gosms.ro could have
    assert store.spent("default:total") == Decimal("0.05")


def test_a_budget_without_a_price_refuses_rather_than_guesses() -> None:
    with pytest.raises(smsgate.ConfigurationError):
        SendPolicy(spend_limits=[SpendLimit("1", "EUR")])
    provider, transport = counted()
    provider.policy = SendPolicy(spend_limits=[SpendLimit("1", "EUR")],
                                 prices=PriceTable.from_dict({"gosms.ro": {"RO": "1 EUR"}}))
    with pytest.raises(PolicyViolation) as caught:
        provider.send(GOOD, "hi")
    assert caught.value.reason == "price"
    assert transport.requests == []


def test_policy_violation_pickles_with_its_reason() -> None:
    error = BudgetExceeded("over", reason="budget", recipient=GOOD)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.reason, copy.recipient, str(copy)) == (
        BudgetExceeded, "budget", GOOD, "over")


def test_recommended_policies_are_what_the_docs_say() -> None:
    otp = SendPolicy.recommended_otp(allow_countries=["GE"])
    assert otp.allow_types == {"mobile", "fixed_line_or_mobile"}
    assert otp.per_number == (Rate(3, 600.0), Rate(10, 86_400.0))
    assert otp.per_prefix == (Rate(10, 3_600.0), Rate(30, 86_400.0))
    campaign = SendPolicy.recommended_campaign()
    assert campaign.quiet_hours == QuietHours()
    assert {"premium_rate", "shared_cost"} <= campaign.deny_types


def test_preview_changes_nothing() -> None:
    clock = Clock(_epoch("2026-11-25T12:00:00+00:00"))
    store = MemoryBudgetStore()
    limiter = MemoryRateLimiter(clock=clock)
    policy = SendPolicy(per_number=Rate(1, 60), limiter=limiter, wall_clock=clock,
                        spend_limits=[SpendLimit("0.03", "EUR", store=store)],
                        prices=PriceTable.from_dict({"gosms.ro": {"*": "0.03 EUR"}}))
    provider, transport = counted()
    provider.policy = policy
    for _ in range(3):
        verdict = smsgate.guards.preview(provider, [GOOD, PREMIUM_GB], "hi")
        assert set(verdict.refused) == {PREMIUM_GB} and verdict.reserved == ()
    assert store.spent("default:2026-11-25") == 0
    assert provider.send(GOOD, "hi").ok  # the one slot and the whole budget are still free
    verdict = smsgate.guards.preview(provider, [GOOD_2], "hi")
    assert verdict.refused[GOOD_2].reason == "budget"
    assert len(transport.requests) == 1


def test_a_policy_from_a_configuration_table(tmp_path: Any) -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    db = tmp_path / "budget.db"
    text = f"""
        recommended = "otp"
        allow_countries = ["GE"]
        per_number = ["1/hour"]
        quiet_hours = {{ start = "22:00", end = "07:00", countries = ["RO"] }}
        suppression = "{tmp_path / 'optout.db'}"
        spend_limits = [{{ amount = "0.05", currency = "EUR", per = "total", store = "{db}" }}]
        prices = {{ "gosms.ro" = {{ GE = "0.03 EUR" }} }}
    """
    policy = SendPolicy.from_dict(tomllib.loads(text))
    assert policy.allow_types == {"mobile", "fixed_line_or_mobile"}  # from "otp"
    assert policy.per_number == (Rate(1, 3600.0),)  # overridden
    assert policy.quiet_hours == QuietHours("22:00", "07:00", countries=["RO"])
    provider, transport = counted()
    provider.policy = policy
    assert provider.send(GOOD, "1234").ok
    with pytest.raises(PolicyViolation):
        provider.send(GOOD, "1234")  # 1 an hour
    with pytest.raises(PolicyViolation):
        provider.send(GOOD_2, "1234")  # not GE
    assert len(transport.requests) == 1
    for bad in ({"per_numbr": "1/hour"}, {"recommended": "spam"},
                {"quiet_hours": {"begin": "21:00"}}, {"spend_limits": ["50 EUR"]}):
        with pytest.raises(smsgate.ConfigurationError):
            SendPolicy.from_dict(bad)


def test_a_repeat_of_an_accepted_key_is_answered_without_touching_the_policy() -> None:
    """A retried request under a key already accepted sends nothing, so it books no
    velocity slot: a client retrying its OTP request cannot use the number's limit up."""
    from smsgate.stores import MemoryClaimStore

    provider, transport = counted()
    gateway = Gateway([provider], claims=MemoryClaimStore(),
                      policy=SendPolicy(per_number=Rate(1, 3600),
                                        limiter=MemoryRateLimiter(clock=Clock())))
    first = gateway.send(GOOD, "code 1234", idempotency_key="otp-1")
    for _ in range(3):
        again = gateway.send(GOOD, "code 1234", idempotency_key="otp-1")
        assert again.message_id == first.message_id
    assert len(transport.requests) == 1
    with pytest.raises(PolicyViolation) as caught:  # a new send to the number: over the limit
        gateway.send(GOOD, "code 5678", idempotency_key="otp-2")
    assert caught.value.reason == "velocity"
    assert len(transport.requests) == 1
