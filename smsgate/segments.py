"""Exact SMS segment counting (3GPP TS 23.038, "GSM 03.38").

A message that fits the GSM 7-bit default alphabet costs one septet per basic character and two
per extension character (an ESC prefix and the character). One SMS holds 160 septets; a
concatenated message spends 7 septets per part on the user-data header, leaving 153, and an
ESC pair is never split across parts. Any character outside the alphabet switches the whole
message to UCS-2: 70 UTF-16 code units alone, 67 per part, and a surrogate pair (an emoji) is
never split across parts.
"""

from __future__ import annotations

import re
from typing import Final

import attrs

from .errors import ValidationError

__all__ = ["GSM7", "UCS2", "SegmentInfo", "segments"]

GSM7: Final = "GSM-7"
UCS2: Final = "UCS-2"

# The GSM 03.38 default alphabet (basic character set), in table order.
_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The basic character set extension: each costs an ESC septet plus itself.
_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

_GSM_SINGLE: Final = 160
_GSM_MULTI: Final = 153
_UCS2_SINGLE: Final = 70
_UCS2_MULTI: Final = 67


@attrs.frozen
class SegmentInfo:
    """How a text travels as SMS.

    Attributes:
        encoding: ``"GSM-7"`` or ``"UCS-2"``.
        units: septets (GSM-7) or UTF-16 code units (UCS-2) the text takes.
        segments: SMS parts needed (0 for an empty text).
        per_segment: capacity of one part at this length (160/153 or 70/67).
        remaining: units still free in the last part before another part is needed.
        non_gsm_chars: the distinct characters, in order of appearance, that forced UCS-2.
    """

    encoding: str
    units: int
    segments: int
    per_segment: int
    remaining: int
    non_gsm_chars: tuple[str, ...] = ()

    @property
    def is_unicode(self) -> bool:
        """Whether the text needs UCS-2."""
        return self.encoding == UCS2


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


_GSM_CHARS: Final = _BASIC | _EXTENSION
# The first character outside GSM 03.38, found in one pass of the regex engine.
_NON_GSM: Final = re.compile("[^" + "".join(re.escape(char) for char in sorted(_GSM_CHARS)) + "]")
_EXTENSION_CHAR: Final = re.compile("[" + "".join(re.escape(char) for char in _EXTENSION) + "]")
# ESC (0x1B) is not itself in the alphabet, so in an escaped GSM text it only starts a pair.
_ESC: Final = "\x1b"
_ESCAPED: Final = {ord(char): _ESC + char for char in _EXTENSION}
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")
_WIDE: Final = re.compile("[\ud800-\udfff\U00010000-\U0010ffff]")
# An astral character is two UTF-16 code units: a high surrogate, then a low one. Texts that
# reach this replacement hold no surrogates of their own, so the marker cannot be confused.
_HIGH: Final = "\ud800"
_PAIR: Final = _HIGH + "\udc00"


def segments(text: str) -> SegmentInfo:
    """Count the encoding, units and SMS parts of ``text``.

    >>> segments("Hello").segments
    1
    >>> segments("გამარჯობა").encoding
    'UCS-2'
    """
    if not isinstance(text, str):
        raise ValidationError(f"text must be a string, not {type(text).__name__}")
    # One pass in C finds the first character outside GSM 03.38; most texts have none.
    if _NON_GSM.search(text) is None:
        count = len(text) + len(_EXTENSION_CHAR.findall(text))  # an ESC septet for each
        if count <= _GSM_SINGLE:
            return SegmentInfo(GSM7, count, 1 if count else 0, _GSM_SINGLE, _GSM_SINGLE - count)
        # Each extension character becomes ESC + itself: the septet string's length is the
        # septet count, and an ESC at a part's last septet marks a pair that must move.
        septets = text.translate(_ESCAPED) if count > len(text) else text
        return _fill(GSM7, septets, _GSM_MULTI, _ESC, ())
    non_gsm = tuple(dict.fromkeys(_NON_GSM.findall(text)))
    count = len(text)
    if _WIDE.search(text) is not None:
        if _SURROGATE.search(text) is not None:
            # Lone surrogates in a str are code units of their own, which an encoder would
            # pair up; this rare input keeps the character-by-character count.
            return _segments_by_char(text, non_gsm)
        count += len(_ASTRAL.findall(text))  # a second UTF-16 unit for each
    if count <= _UCS2_SINGLE:
        return SegmentInfo(UCS2, count, 1, _UCS2_SINGLE, _UCS2_SINGLE - count, non_gsm)
    # UTF-16 code units, with each astral character's high surrogate marked so that a part
    # never ends between the two halves of a pair.
    units = _ASTRAL.sub(_PAIR, text) if count > len(text) else text
    return _fill(UCS2, units, _UCS2_MULTI, _HIGH, non_gsm)


def _fill(
    encoding: str, units: str, multi: int, pair_start: str, non_gsm: tuple[str, ...]
) -> SegmentInfo:
    """Fill parts of ``multi`` units greedily over ``units`` (one character per septet or
    UTF-16 code unit), for a text too long for one SMS.

    A unit group (ESC pair, surrogate pair) whose first unit ``pair_start`` would be the last
    unit of a part does not fit whole: it starts the next part, leaving a gap in this one.
    """
    count = len(units)
    parts, start = 1, 0
    while count - start > multi:
        end = start + multi
        if units[end - 1] == pair_start:
            end -= 1
        start = end
        parts += 1
    return SegmentInfo(encoding, count, parts, multi, multi - (count - start), non_gsm)


def _segments_by_char(text: str, non_gsm: tuple[str, ...]) -> SegmentInfo:
    """The character-by-character UCS-2 count, for texts that hold lone surrogates."""
    costs = [_utf16_units(char) for char in text]
    units = sum(costs)
    if units <= _UCS2_SINGLE:
        return SegmentInfo(UCS2, units, 1, _UCS2_SINGLE, _UCS2_SINGLE - units, non_gsm)
    parts, used = 1, 0
    for cost in costs:
        if used + cost > _UCS2_MULTI:
            parts += 1
            used = 0
        used += cost
    return SegmentInfo(UCS2, units, parts, _UCS2_MULTI, _UCS2_MULTI - used, non_gsm)
