"""The fast segment counter gives exactly the reference counter's answer, texts at part
boundaries included (extension pairs and surrogate pairs straddling the 153rd septet or the
67th code unit)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smsgate.segments import _BASIC, _EXTENSION, segments

from .segments_reference import reference_segments

BASIC = sorted(_BASIC)
EXTENSION = sorted(_EXTENSION)
UCS2_BMP = ["ა", "я", "ë", "✓", "\u200b", "\x1b", "\ufeff"]
ASTRAL = ["😀", "🎉", "\U0001f1ec", "\U00010000", "\U0010ffff"]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]

# Alphabets weighted so that generated texts sit near the interesting lengths and mixes.
gsm_only = st.text(st.sampled_from(BASIC + EXTENSION), max_size=700)
gsm_heavy_ext = st.text(st.sampled_from(["a", *EXTENSION]), max_size=700)
ucs2 = st.text(st.sampled_from(["a", "€", *UCS2_BMP, *ASTRAL]), max_size=400)
astral_heavy = st.text(st.sampled_from(["я", *ASTRAL]), max_size=400)
with_lone_surrogates = st.text(st.sampled_from(["a", "я", "😀", *SURROGATES]), max_size=300)
anything = st.text(max_size=600)


def _straddle(unit: str, pair: str, fill: int, multi: int) -> st.SearchStrategy[str]:
    """Texts whose pairs land on or next to the end of a part."""
    return st.builds(
        lambda head, tail, parts: unit * (fill * parts + head) + pair + unit * tail,
        st.integers(-3, 3).map(lambda d: multi - 1 + d),
        st.integers(0, 2 * multi),
        st.integers(0, 3),
    )


gsm_straddle = st.one_of([_straddle("a", ext, 0, 153) for ext in EXTENSION[:3]])
ucs2_straddle = st.one_of([_straddle("я", pair, 0, 67) for pair in ASTRAL[:3]])


def _assert_same(text: str) -> None:
    assert segments(text) == reference_segments(text), repr(text)


@settings(max_examples=1500)
@given(st.one_of(gsm_only, gsm_heavy_ext, ucs2, astral_heavy, with_lone_surrogates, anything))
@example("")
@example("a" * 152 + "€" + "a" * 153)
@example("я" * 66 + "😀" + "я" * 67)
@example("€" * 81)
@example("😀" * 36)
@example("\ud83d\ude00" * 40)  # a "pair" written as two lone surrogates may split
def test_fast_count_matches_the_reference(text: str) -> None:
    _assert_same(text)


@settings(max_examples=600)
@given(st.one_of(gsm_straddle, ucs2_straddle))
def test_pairs_at_part_boundaries_match_the_reference(text: str) -> None:
    _assert_same(text)


@pytest.mark.parametrize("length", range(0, 480))
def test_every_length_around_the_boundaries(length: int) -> None:
    for unit, pair in (("a", "€"), ("я", "😀")):
        _assert_same(unit * length)
        _assert_same(pair * (length // 2))
        _assert_same(unit * length + pair)
        _assert_same(pair + unit * length)
        _assert_same(unit * (length // 2) + pair + unit * (length // 2))
