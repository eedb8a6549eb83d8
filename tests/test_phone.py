from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate import InvalidPhoneNumber, mask_phone, normalize_phone
from smsgate.phone import PhoneFormat, format_phone, region_of


@pytest.mark.parametrize(
    ("number", "region", "expected"),
    [
        ("+995555123456", None, "+995555123456"),
        ("00995555123456", None, "+995555123456"),
        ("995555123456", None, "+995555123456"),
        ("555 12 34 56", "GE", "+995555123456"),
        ("555-12-34-56", "ge", "+995555123456"),
        ("(555) 123.456", "GE", "+995555123456"),
        ("0712345678", "RO", "+40712345678"),
        ("40712345678", "RO", "+40712345678"),
        ("0245972246", "GH", "+233245972246"),
        ("233245972246", "GH", "+233245972246"),
        ("+40712345678", "GE", "+40712345678"),  # international wins over the region
        ("  +233 24 597 2246 ", None, "+233245972246"),
    ],
)
def test_accepted_forms(number: str, region: str | None, expected: str) -> None:
    assert normalize_phone(number, region) == expected


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("", None),
        ("hello", None),
        ("555123456", None),  # national without a region
        ("+99555512345", None),  # one digit short
        ("+1234", None),
        ("+995555123456789", None),
        ("12", "GE"),
        ("+99555512345x", None),
        ("1" * 100, None),
    ],
)
def test_invalid_numbers(number: str, region: str | None) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(number, region)


def test_error_message_masks_the_number() -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone("+99555512345")
    assert "+99555512345" not in str(info.value)


def test_non_string_is_invalid() -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(995555123456)  # type: ignore[arg-type]


def test_mask() -> None:
    assert mask_phone("+995555123456") == "+9955******56"
    assert mask_phone("995555123456") == "9955******56"
    assert mask_phone("123") == "***"


def test_wire_formats() -> None:
    assert format_phone("+995555123456", PhoneFormat.E164) == "+995555123456"
    assert format_phone("+995555123456", PhoneFormat.DIGITS) == "995555123456"
    assert format_phone("+40712345678", PhoneFormat.DIGITS_HOME_00_ABROAD, "RO") == "40712345678"
    assert (
        format_phone("+359888123456", PhoneFormat.DIGITS_HOME_00_ABROAD, "RO")
        == "00359888123456"
    )
    assert region_of("+233245972246") == "GH"
    assert region_of("garbage") == "ZZ"


@given(st.text(max_size=80), st.sampled_from([None, "GE", "RO", "GH", "zz", "XX"]))
def test_arbitrary_text_raises_only_invalid_phone_number(text: str, region: str | None) -> None:
    try:
        result = normalize_phone(text, region)
    except InvalidPhoneNumber:
        return
    assert result.startswith("+")
    assert result[1:].isdigit()
    assert normalize_phone(result) == result


def test_try_normalize() -> None:
    from smsgate.phone import try_normalize

    assert try_normalize("0245972246", "GH") == "+233245972246"
    assert try_normalize("+99555512345") is None
    assert try_normalize("") is None
    assert try_normalize(None) is None


def test_validated_numbers_are_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from smsgate import phone

    e164 = normalize_phone("577 65 43 21", "GE")
    calls: list[object] = []
    monkeypatch.setattr(phone.phonenumbers, "parse",
                        lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    assert normalize_phone(e164, "GE") == e164  # the form a gateway hands a provider
    assert normalize_phone(e164) == e164
    assert region_of(e164) == "GE"
    assert calls == []


def test_unvalidated_numbers_do_not_enter_the_validated_cache() -> None:
    from smsgate import phone

    assert region_of("+99555512345") == "GE"  # parsable prefix, but not a valid number
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone("+99555512345")
    assert "+99555512345" not in phone._VALIDATED
