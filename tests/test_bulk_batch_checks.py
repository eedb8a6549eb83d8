"""The list-at-once checks of a bulk send give exactly what the per-number checks give.

Issue 22: a 10,000-number send of one country is checked as a list where that is provably
the same as checking each number: :func:`smsgate.phone.validated_region_of_all` (one
compiled pattern per country code and length, run over the list in C) stands for
:func:`validated_region` on each number, and the send policy's type check
(``SendPolicy._refuses_none``, ``guards._none_among``) stands for ``SendPolicy._static`` on
each. Anything the list check cannot prove goes to the per-number code. Each test compares
the two on generated input, including the 100,000-number corpus of the "+digits" fast path.
"""

from __future__ import annotations

import contextlib
import functools
import random
import re
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from smsgate import GoSmsGe, GoSmsRo, InvalidPhoneNumber, normalize_phone
from smsgate import phone as phone_module
from smsgate._effects import run
from smsgate.guards import DEFAULT_POLICY, SendPolicy, _none_among, number_type_in
from smsgate.phone import (
    _CODE_BY_PREFIX,
    _E164_SHAPE,
    _POSITIONAL,
    _fast_e164_region,
    _whole_matcher,
    remembered_regions,
    validated_region,
    validated_region_of_all,
)

from .test_bulk_fast_paths import _general
from .test_phone_fast_path import _full, corpus

SINGLE_REGION_CODES = sorted(
    code for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
    if len(regions) == 1
)


@functools.cache
def _whole_for(code: int, length: int) -> tuple[Any, str] | None:
    return _whole_matcher(code, length)


def _whole(number: str) -> tuple[Any, str] | None:
    found = _CODE_BY_PREFIX.get(number[1:4])
    return None if found is None else _whole_for(found[0], len(number))


# -- one pattern per code and length = the fast path's checks -----------------------------------
def test_the_whole_number_pattern_agrees_with_the_fast_path_on_the_corpus() -> None:
    checked = accepted = 0
    disagreements: list[tuple[str, object, object]] = []
    for number in corpus():
        if not number.startswith("+") or len(number) < 4:
            continue
        whole = _whole(number)
        if whole is None:
            continue
        checked += 1
        fast = _fast_e164_region(number) if _E164_SHAPE.fullmatch(number) else None
        got = whole[1] if whole[0](number) else None
        if got is not None:
            accepted += 1
            # And libphonenumber's own answer, for a sample (the fast path's own test
            # compares it with libphonenumber on every number).
            if accepted % 5 == 0 and _full(number) != (number, got):
                disagreements.append((number, got, _full(number)))
        if got != fast:
            disagreements.append((number, got, fast))
    assert disagreements == []
    assert checked >= 40_000 and accepted >= 20_000, (checked, accepted)


@given(code=st.sampled_from(SINGLE_REGION_CODES), rest=st.from_regex(r"[0-9]{1,17}",
                                                                       fullmatch=True))
@settings(max_examples=2_000)
def test_the_whole_number_pattern_agrees_for_any_digits_after_any_code(
    code: int, rest: str
) -> None:
    number = f"+{code}{rest}"
    whole = _whole(number)
    if whole is None:
        return
    fast = _fast_e164_region(number) if _E164_SHAPE.fullmatch(number) else None
    assert (whole[1] if whole[0](number) else None) == fast


def test_every_single_region_code_gets_a_pattern_and_a_shared_code_none() -> None:
    taken = 0
    for code in SINGLE_REGION_CODES:
        region = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code][0]
        example = (phonenumbers.example_number_for_non_geo_entity(code) if region == "001"
                   else phonenumbers.example_number(region))
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
        whole = _whole(e164)
        assert whole is not None, e164
        assert bool(whole[0](e164)) == (_fast_e164_region(e164) is not None), e164
        taken += whole[0](e164) is not None
    assert taken >= 150, taken
    assert _whole_matcher(1, 12) is None  # +1: the US, Canada and others share the code
    assert _whole_matcher(44, 13) is None


@pytest.mark.parametrize("pattern", [r"^0", r"\A0", r"\b0", r"\B0", r"(?<=5)0", r"(?<!5)0",
                                     r"(\d)\1", r"(?P<a>\d)(?P=a)", r"(?i)0", r"[^0]"])
def test_a_pattern_that_depends_on_where_it_starts_is_not_joined(
    pattern: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _POSITIONAL.search(pattern)
    plan = phone_module._plan(995)
    monkeypatch.setattr(plan, "prefix_literal", None)
    monkeypatch.setattr(plan, "national_prefix", re.compile(pattern).match)
    assert _whole_matcher(995, 13) is None


def test_libphonenumber_patterns_of_the_common_codes_are_joined() -> None:
    for code in (995, 40, 33, 49, 380):
        lengths = [n for n in range(4, 22) if _whole_matcher(code, n) is not None]
        assert lengths, code


# -- a list at once ----------------------------------------------------------------------------
def _ge(rng: random.Random, count: int) -> list[str]:
    return [f"+99555{rng.randrange(10**7):07d}" for _ in range(count)]


ODD = ["+995800123456", "+9955551234567", "+99555512345", "+40722123456", "+12025550123",
       "995555123456", "+995 555 12 34 56", "+995555123456\n", "+99555512345\u0660", "",
       "+0995555123456", "+995055123456", "\ud800", None, 995555123456]


class _Str(str):
    pass


@st.composite
def lists(draw: st.DrawFn) -> list[Any]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    numbers: list[Any] = _ge(rng, draw(st.integers(14, 40)))
    for _ in range(draw(st.integers(0, 2))):
        odd = draw(st.sampled_from([*ODD, "subclass"]))
        if odd == "subclass":
            odd = _Str(numbers[0])
        numbers.insert(draw(st.integers(0, len(numbers))), odd)
    return numbers


@given(numbers=lists())
@settings(max_examples=500)
def test_a_list_at_once_gives_each_numbers_region_or_declines(numbers: list[Any]) -> None:
    phone_module.clear_caches()
    region = validated_region_of_all(numbers)
    if region is not None:
        assert all(type(n) is str for n in numbers)
        phone_module.clear_caches()
        assert {validated_region(n) for n in numbers} == {region}
        assert remembered_regions(numbers) == {region}
    elif len(numbers) >= 16 and all(type(n) is str and len(n) == 13 for n in numbers):
        # Valid GE numbers, one length: the usual list is taken at once.
        assert {validated_region(n) for n in numbers} != {"GE"}


@pytest.mark.parametrize("provider", [GoSmsGe("k", sender="S"), GoSmsRo("k", sender="S")],
                         ids=["gosms.ge (GE only)", "gosms.ro"])
@given(numbers=lists())
@settings(max_examples=300)
def test_normalising_a_long_list_gives_the_same_numbers_or_the_same_first_error(
    provider: Any, numbers: list[Any]
) -> None:
    phone_module.clear_caches()
    try:
        got: tuple[str, ...] | tuple[type, str] = provider._normalize_recipients(numbers)
    except InvalidPhoneNumber as exc:
        got = (type(exc), str(exc))
    phone_module.clear_caches()
    assert got == _general(provider, numbers)


def test_a_list_longer_than_the_cache_is_not_remembered() -> None:
    phone_module.clear_caches()
    numbers = [f"+99555{i:07d}" for i in range(phone_module._VALIDATED_MAX + 1)]
    assert validated_region_of_all(numbers) == "GE"
    assert len(phone_module._VALIDATED) == 0
    assert validated_region_of_all(numbers[:1000]) == "GE"
    assert len(phone_module._VALIDATED) == 1000
    phone_module.clear_caches()


# -- the send policy's per-number check, for a list at once --------------------------------------
def _pool(region: str, rng: random.Random) -> dict[str, list[str]]:
    """Valid numbers of ``region`` by type: each type's example, its last digits random."""
    pool: dict[str, list[str]] = {}
    for kind in ("MOBILE", "PREMIUM_RATE", "SHARED_COST", "TOLL_FREE", "VOIP", "FIXED_LINE"):
        example = phonenumbers.example_number_for_type(region, getattr(PhoneNumberType, kind))
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
        found = set()
        for _ in range(200):
            candidate = e164[:-3] + f"{rng.randrange(1000):03d}"
            with contextlib.suppress(InvalidPhoneNumber):
                found.add(normalize_phone(candidate))
        pool[kind] = sorted(found)
    return pool


POOLS = {region: _pool(region, random.Random(22)) for region in ("GE", "FR", "RO", "GB")}
POLICIES = [
    DEFAULT_POLICY,
    SendPolicy(deny_types=["toll_free"]),
    SendPolicy(deny_types=["premium_rate", "shared_cost", "voip"]),
    SendPolicy(deny_types=["mobile"]),  # not among the ordered types: checked one by one
    SendPolicy(deny_types=[]),
    SendPolicy(allow_types=["mobile"]),
    SendPolicy(allow_countries=["GE"]),
    SendPolicy(deny_countries=["FR"]),
]


@st.composite
def policy_lists(draw: st.DrawFn) -> tuple[SendPolicy, list[str]]:
    region = draw(st.sampled_from(sorted(POOLS)))
    pool = POOLS[region]
    numbers = draw(st.lists(st.sampled_from(pool["MOBILE"]), min_size=14, max_size=40))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(sorted(pool)))
        numbers.insert(draw(st.integers(0, len(numbers))), draw(st.sampled_from(pool[kind])))
    if draw(st.integers(0, 9)) == 0:
        other = draw(st.sampled_from(sorted(set(POOLS) - {region})))
        numbers.append(draw(st.sampled_from(POOLS[other]["MOBILE"])))
    return draw(st.sampled_from(POLICIES)), numbers


def _refusals(policy: SendPolicy, numbers: list[str]) -> dict[str, tuple[str, str | None]]:
    verdict = run(policy.plan_check(numbers, "Hello", {}))
    return {n: (str(v), v.reason) for n, v in verdict.refused.items()}


@given(case=policy_lists())
@settings(max_examples=600)
def test_the_policy_refuses_the_same_numbers_for_a_list_at_once(
    case: tuple[SendPolicy, list[str]],
) -> None:
    policy, numbers = case
    for number in numbers:
        normalize_phone(number)  # the send plan hands the policy validated numbers
    expected = {}
    for number in dict.fromkeys(numbers):
        refusal = policy._static(number)
        if refusal is not None:
            expected[number] = (str(refusal), refusal.reason)
    assert _refusals(policy, numbers) == expected


@given(case=policy_lists())
@settings(max_examples=300)
def test_no_deny_type_among_a_list_means_none_for_each_number(
    case: tuple[SendPolicy, list[str]],
) -> None:
    policy, numbers = case
    for number in numbers:
        normalize_phone(number)
    kinds = policy.deny_types or frozenset({"premium_rate"})
    if len(remembered_regions(numbers) or ()) != 1:
        return
    if _none_among(numbers, kinds):
        assert not any(number_type_in(n, kinds) for n in numbers)


def test_the_usual_list_is_checked_at_once_and_a_premium_number_still_refused() -> None:
    numbers = POOLS["FR"]["MOBILE"][:30]
    for number in numbers:
        normalize_phone(number)
    assert DEFAULT_POLICY._refuses_none(numbers)
    premium = POOLS["FR"]["PREMIUM_RATE"][0]
    normalize_phone(premium)
    assert not DEFAULT_POLICY._refuses_none([*numbers, premium])
    assert set(_refusals(DEFAULT_POLICY, [*numbers, premium])) == {premium}


@pytest.mark.parametrize("form", ["literal", "pattern"])
def test_a_number_starting_with_the_national_prefix_is_declined_as_by_the_fast_path(
    form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No valid number of a single-region code starts with its national prefix in today's
    # metadata, so the rule is shown with a prefix that valid numbers do start with.
    plan = phone_module._plan(995)
    if form == "literal":
        monkeypatch.setattr(plan, "prefix_literal", "55")
    else:
        monkeypatch.setattr(plan, "prefix_literal", None)
        monkeypatch.setattr(plan, "national_prefix", re.compile("5[5-9]").match)
    monkeypatch.setitem(phone_module._PLANS, 995, plan)
    whole = _whole_matcher(995, 13)
    assert whole is not None
    for number in ("+995555123456", "+995577123456", "+995514123456", "+995322123456"):
        assert bool(whole[0](number)) == (_fast_e164_region(number) is not None), number
    assert not whole[0]("+995555123456") and whole[0]("+995322123456")
