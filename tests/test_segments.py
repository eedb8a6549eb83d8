from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate import ValidationError, segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts", "remaining"),
    [
        ("", "GSM-7", 0, 0, 160),
        ("a" * 160, "GSM-7", 160, 1, 0),
        ("a" * 161, "GSM-7", 161, 2, 153 * 2 - 161),
        ("a" * 306, "GSM-7", 306, 2, 0),
        ("a" * 307, "GSM-7", 307, 3, 152),
        ("ა" * 70, "UCS-2", 70, 1, 0),
        ("ა" * 71, "UCS-2", 71, 2, 67 * 2 - 71),
        ("ა" * 134, "UCS-2", 134, 2, 0),
        ("ა" * 135, "UCS-2", 135, 3, 66),
        ("€" * 80, "GSM-7", 160, 1, 0),  # extension characters count 2
        ("€" * 81, "GSM-7", 162, 2, 153 - 10),  # 76 pairs fill part one (152), 5 go on
    ],
)
def test_boundaries(text: str, encoding: str, units: int, parts: int, remaining: int) -> None:
    info = segments(text)
    assert (info.encoding, info.units, info.segments, info.remaining) == (
        encoding, units, parts, remaining
    )


def test_extension_pair_never_splits_across_segments() -> None:
    # 152 septets, then an ESC pair that would straddle the 153rd septet: it moves whole.
    info = segments("a" * 152 + "€" + "a" * 153)
    assert info.units == 152 + 2 + 153
    assert info.segments == 3  # [152 + gap] [€ + 151 a] [2 a]
    # Without the straddle the same number of units fits in two parts.
    assert segments("a" * 151 + "€" + "a" * 153).segments == 2


def test_surrogate_pair_never_splits_across_segments() -> None:
    info = segments("я" * 66 + "😀" + "я" * 67)
    assert info.encoding == "UCS-2"
    assert info.units == 66 + 2 + 67
    assert info.segments == 3
    assert segments("я" * 65 + "😀" + "я" * 67).segments == 2


def test_emoji_counts_two_utf16_units() -> None:
    info = segments("😀" * 35)
    assert (info.units, info.segments, info.remaining) == (70, 1, 0)
    assert segments("😀" * 36).segments == 2


def test_non_gsm_chars_are_named_once_in_order() -> None:
    info = segments("Hi ✓ Zoë ✓ 😀")
    assert info.encoding == "UCS-2"
    assert info.non_gsm_chars == ("✓", "ë", "😀")
    assert info.is_unicode


def test_gsm_only_text_has_no_offenders() -> None:
    info = segments("Ça coûte 5€ {ok} [x] ~ | ^ \\")
    assert info.encoding == "UCS-2"  # û is not in GSM 03.38
    assert info.non_gsm_chars == ("û",)
    assert segments("Ça va? 5€ {ok} [x] ~|^\\ ÄÖÑÜ§¿äöñüà").encoding == "GSM-7"


def test_non_text_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        segments(123)  # type: ignore[arg-type]


@given(st.text())
def test_any_text_is_counted_consistently(text: str) -> None:
    info = segments(text)
    assert info.encoding in ("GSM-7", "UCS-2")
    assert 0 <= info.remaining <= info.per_segment
    assert info.segments * info.per_segment >= info.units
    if text:
        assert info.segments >= 1
    assert (info.encoding == "UCS-2") == bool(info.non_gsm_chars)
