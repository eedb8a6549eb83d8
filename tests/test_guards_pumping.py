"""SMS pumping (issue 19 acceptance): the recommended OTP policy refuses an attack with zero
requests and lets ordinary traffic through; premium-rate and shared-cost numbers never cost a
request, whatever the country."""

from __future__ import annotations

import random

import phonenumbers
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from smsgate import Gateway, PolicyViolation, SendPolicy, Status
from smsgate.phone import region_of
from smsgate.stores import MemoryRateLimiter

from .guards_helpers import GOOD, counted, example, random_mobiles

PT = phonenumbers.PhoneNumberType
#: The countries the service of the run serves (and where its users' numbers are).
SERVED = ("GE", "RO", "GB", "DE", "GH", "US")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sequential(start: str, count: int) -> list[str]:
    """``count`` valid numbers counting up from ``start`` (what a pumping bot walks)."""
    out: list[str] = []
    value = int(start[1:])
    while len(out) < count:
        number = f"+{value}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            out.append(number)
        value += 1
    return out


def test_a_pumping_run_is_refused_with_zero_requests_and_ordinary_traffic_goes() -> None:
    rng = random.Random(19)
    # The attack: 7,000 OTP requests to consecutive mobile numbers in 3 prefixes (each run
    # starts part-way into a 10,000-number block, so it spans two), and 3,000 to premium-rate
    # ranges in three countries.
    attack: list[str] = []
    for region in ("GB", "GE", "RO"):
        first = example(region, PT.MOBILE)
        start = first[:-4] + "8000"
        attack += sequential(start, 2_334 if region != "RO" else 2_332)
    for region in ("GB", "DE", "US"):
        attack += sequential(example(region, PT.PREMIUM_RATE), 1_000)
    assert len(attack) == 10_000
    ordinary = random_mobiles(rng, SERVED, 10_000, avoid=frozenset(attack))
    assert not set(ordinary) & set(attack)
    sends = [(n, True) for n in attack] + [(n, False) for n in ordinary]
    rng.shuffle(sends)

    clock = Clock()
    # The documented recommended OTP policy, as is: only the countries served and the
    # limiter's clock (the run is an hour of simulated time) are this deployment's own.
    policy = SendPolicy.recommended_otp(allow_countries=SERVED,
                                        limiter=MemoryRateLimiter(clock=clock))
    provider, transport = counted()
    gateway = Gateway([provider], policy=policy, clock=clock)
    refused = {True: 0, False: 0}
    for index, (number, is_attack) in enumerate(sends):
        clock.now = index * 3_600 / len(sends)
        before = len(transport.requests)
        try:
            result = gateway.send(number, "Your code is 480155")
        except PolicyViolation:
            refused[is_attack] += 1
            assert len(transport.requests) == before  # zero requests for a refused send
        else:
            assert result.recipients[0].status is Status.QUEUED
            assert len(transport.requests) == before + 1
    attack_refused = refused[True] / len(attack)
    ordinary_refused = refused[False] / len(ordinary)
    print(f"pumping: attack refused {attack_refused:.2%}, ordinary refused "
          f"{ordinary_refused:.2%}, requests {len(transport.requests)}")
    assert attack_refused >= 0.99
    assert ordinary_refused <= 0.005
    assert len(transport.requests) == 20_000 - refused[True] - refused[False]


# -- premium rate and shared cost, generated --------------------------------------------------

# Not RO: GoSMS.ro's adapter itself refuses a Romanian number that is not a mobile one
# (InvalidPhoneNumber, also before any request), so the policy would not be what is tested.
REGIONS = ("GB", "DE", "FR", "IT", "ES", "AT", "CH", "BE", "NL", "PL", "US", "CA", "AU", "NZ",
           "CZ", "SE", "GR", "PT", "IE", "IN", "JP", "BR", "ZA", "HU", "DK")
KINDS = (PT.PREMIUM_RATE, PT.SHARED_COST)
#: Each range's example number: the generator keeps its leading digits and draws the rest.
TEMPLATES = [(region, kind, phonenumbers.example_number_for_type(region, kind))
             for region in REGIONS for kind in KINDS
             if phonenumbers.example_number_for_type(region, kind) is not None]
assert len({region for region, _, _ in TEMPLATES}) >= 20


def billed(choice: int, digits: int) -> str:
    """A number of the chosen premium-rate or shared-cost range: its example number with up
    to its last six digits replaced by ``digits``; ``""`` unless libphonenumber (the oracle,
    not smsgate) calls the result valid and of that type."""
    _region, kind, template = TEMPLATES[choice % len(TEMPLATES)]
    assert template is not None
    national = str(template.national_number)
    tail = min(6, len(national) - 2)
    drawn = national[:-tail] + str(digits % 10**tail).zfill(tail)
    parsed = phonenumbers.parse(f"+{template.country_code}{drawn}")
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) != kind:
        return ""
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def test_generated_premium_rate_and_shared_cost_numbers_never_cost_a_request() -> None:
    provider, transport = counted()
    backend, gateway_transport = counted()
    gateway = Gateway([backend])
    batches: list[int] = []
    seen: set[str] = set()
    countries: set[str] = set()

    @settings(max_examples=130, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.randoms(use_true_random=False))
    def one_batch(rng: random.Random) -> None:
        drawn = [billed(rng.randrange(len(TEMPLATES)), rng.randrange(10**6)) for _ in range(100)]
        numbers = [n for n in drawn if n]
        if not numbers:
            return
        batches.append(len(numbers))
        seen.update(numbers)
        countries.update(region_of(n) for n in numbers)
        for target in (provider, gateway):
            try:
                target.send(numbers, "Your code is 480155")
            except PolicyViolation:
                pass
            else:
                raise AssertionError("a premium-rate or shared-cost list was sent")
        # With one ordinary number among them: it goes, alone, and each billed one is
        # reported REJECTED.
        before = len(transport.requests)
        result = provider.send([*numbers, GOOD], "Your code is 480155")
        assert len(transport.requests) == before + 1
        assert [r.status for r in result.recipients[:-1]] == [Status.REJECTED] * len(
            dict.fromkeys(numbers))

    one_batch()
    print(f"billed numbers: {sum(batches)} sent, {len(seen)} distinct, {len(countries)} "
          "countries")
    assert len(seen) >= 10_000
    assert len(countries) >= 15
    assert len(transport.requests) == len(batches)  # one per batch: GOOD's
    assert gateway_transport.requests == []
