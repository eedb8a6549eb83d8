"""The "+digits" fast path agrees with libphonenumber's full parse on every number it accepts.

The corpus is generated from libphonenumber's own metadata: the example number of every type
for every region and non-geographic code, then variations around each (random digits in the
subscriber part, one digit more or fewer, a leading 0, the national prefix kept after the
code, the same length with random digits), plus random digit strings after every country
code and entirely random "+digits". Over 100,000 numbers, 0 disagreements are allowed; the
fast path must also accept most of the valid ones, or it would be a fast path in name only.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from phonenumbers.phonemetadata import PhoneMetadata

from smsgate import InvalidPhoneNumber, normalize_phone
from smsgate import phone as phone_module
from smsgate.phone import _E164_SHAPE, _fast_e164_region, region_of

CORPUS_SIZE = 100_000
TYPES = [value for name, value in vars(PhoneNumberType).items() if name.isupper()]


def _full(number: str) -> tuple[str, str] | None:
    """What the full parse says: (E.164, region) of a valid number, else None."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    return e164, phonenumbers.region_code_for_number(parsed)


def _examples() -> Iterator[tuple[str, str]]:
    """(E.164 example, its national prefix or "") for every region, type and non-geo code."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        metadata = PhoneMetadata.metadata_for_region(region)
        prefix = (metadata.national_prefix or "") if metadata is not None else ""
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                yield phonenumbers.format_number(example, PhoneNumberFormat.E164), prefix
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            yield phonenumbers.format_number(example, PhoneNumberFormat.E164), ""


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def corpus(size: int = CORPUS_SIZE, seed: int = 22) -> list[str]:
    rng = random.Random(seed)
    examples = sorted(set(_examples()))
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    numbers: list[str] = []
    for e164, national_prefix in examples:
        code = str(phonenumbers.parse(e164).country_code)
        nsn = e164[1 + len(code):]
        numbers.append(e164)
        numbers.append(e164[:-1])  # one digit short
        numbers.append(e164 + rng.choice("0123456789"))  # one digit long
        numbers.append(f"+{code}0{nsn}")  # a leading zero kept after the code
        if national_prefix:
            numbers.append(f"+{code}{national_prefix}{nsn}")  # "+44 (0) 20 ..." written flat
        for keep in (1, 2, 3, 4, 5):  # the operator prefix kept, the subscriber part random
            for _ in range(6):
                head = nsn[: min(keep, len(nsn))]
                numbers.append(f"+{code}{head}{_digits(rng, len(nsn) - len(head))}")
    shaped = sum(_E164_SHAPE.fullmatch(number) is not None for number in numbers)
    while shaped < size:
        kind = rng.random()
        if kind < 0.6:  # random digits after a real country code, realistic lengths
            code = str(rng.choice(codes))
            numbers.append(f"+{code}{_digits(rng, rng.randint(1, 15))}")
        elif kind < 0.8:  # a real example with a few random last digits
            e164, _ = rng.choice(examples)
            cut = rng.randint(1, min(6, len(e164) - 2))
            numbers.append(e164[:-cut] + _digits(rng, cut + rng.choice((-1, 0, 0, 0, 1))))
        else:  # anything "+digits"-shaped, edge lengths included
            numbers.append("+" + rng.choice("123456789") + _digits(rng, rng.randint(0, 20)))
        shaped += _E164_SHAPE.fullmatch(numbers[-1]) is not None
    return numbers


@pytest.fixture(scope="module")
def generated() -> list[str]:
    return corpus()


def test_fast_path_agrees_with_libphonenumber_on_the_corpus(generated: list[str]) -> None:
    assert len(generated) >= CORPUS_SIZE
    checked = accepted = valid = valid_accepted = 0
    disagreements: list[tuple[str, object, object]] = []
    for number in generated:
        if _E164_SHAPE.fullmatch(number) is None:
            continue
        checked += 1
        fast = _fast_e164_region(number)
        full = _full(number)
        if full is not None and full[0] == number:
            valid += 1
            valid_accepted += fast is not None
        if fast is None:
            continue  # declined: the full parse decides, so nothing to disagree about
        accepted += 1
        if full != (number, fast):
            disagreements.append((number, fast, full))
    assert checked >= CORPUS_SIZE
    assert disagreements == []
    # The corpus is rich in valid numbers, and the fast path takes nearly all of them.
    assert valid >= 20_000, valid
    assert valid_accepted >= 0.9 * valid, (valid_accepted, valid)
    assert accepted == valid_accepted


def test_normalize_phone_equals_the_full_parse(generated: list[str]) -> None:
    """End to end: the public function gives the full parse's answer, accepted or refused."""
    phone_module.clear_caches()
    for number in generated[::5]:
        full = _full(number)
        try:
            result = normalize_phone(number)
        except InvalidPhoneNumber:
            assert full is None or full[0] != number.replace(" ", ""), number
            continue
        assert full is not None and result == full[0], number
        assert region_of(result) == full[1]


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    st.text("0123456789", min_size=0, max_size=18),
)
def test_fast_path_agrees_for_any_digits_after_any_code(code: int, rest: str) -> None:
    number = f"+{code}{rest}"
    if _E164_SHAPE.fullmatch(number) is None:
        return
    fast = _fast_e164_region(number)
    if fast is not None:
        assert _full(number) == (number, fast)


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("+995555123456", "GE"),
        ("+40712345678", "RO"),
        ("+233245972246", "GH"),
        ("+12025550123", "US"),
        ("+14165550123", "CA"),  # a shared code: the region comes from the number
        ("+77011234567", "KZ"),
        ("+79001234567", "RU"),
        ("+80012345678", "001"),  # non-geographic (international freephone)
        ("+390612345678", "IT"),  # a national number that starts with 0 keeps it
    ],
)
def test_fast_path_takes_common_valid_numbers(number: str, region: str) -> None:
    assert _fast_e164_region(number) == region
    assert _full(number) == (number, region)


@pytest.mark.parametrize(
    "number",
    [
        "+3900612345678",  # not a valid Italian number
        "+5491123456789",  # Argentina's national-prefix rule can rewrite the number: declined
        "+99555512345",  # one digit short: not valid, so the full parse refuses it
        "+9955551234567",  # one digit long
        "+9990000000",  # no such country code
    ],
)
def test_fast_path_declines_what_it_cannot_prove(number: str) -> None:
    assert _fast_e164_region(number) is None


def test_fast_path_numbers_are_cached_as_validated_only() -> None:
    phone_module.clear_caches()
    assert normalize_phone("+995577123456") == "+995577123456"
    assert phone_module._VALIDATED["+995577123456"] == "GE"
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone("+99557712345")
    assert "+99557712345" not in phone_module._VALIDATED
    assert "+99557712345" not in str(info.value)  # masked in the message


def test_national_input_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    phone_module.clear_caches()
    assert normalize_phone("577 12 34 56", "GE") == "+995577123456"
    monkeypatch.setattr(phone_module.phonenumbers, "parse", _refuse)
    assert normalize_phone("577 12 34 56", "GE") == "+995577123456"
    assert normalize_phone("577 12 34 56", "ge") == "+995577123456"


def test_fast_path_needs_no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    phone_module.clear_caches()
    monkeypatch.setattr(phone_module.phonenumbers, "parse", _refuse)
    assert normalize_phone("+995598765432") == "+995598765432"
    assert normalize_phone("00995598765433") == "+995598765433"
    assert normalize_phone("+995 598 76 54 34") == "+995598765434"
    assert region_of("+12025550123") == "US"


def test_caches_stay_bounded() -> None:
    phone_module.clear_caches()
    for i in range(phone_module._VALIDATED_MAX + 10):
        normalize_phone(f"+99555{i:07d}")
    assert len(phone_module._VALIDATED) <= phone_module._VALIDATED_MAX
    assert len(phone_module._PLANS) <= len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    info = phone_module._normalize.cache_info()
    assert info.maxsize is not None and info.currsize <= info.maxsize


def _refuse(*args: object, **kwargs: object) -> object:
    raise AssertionError("the full parse was called")
