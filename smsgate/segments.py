"""Exact SMS segment counting (3GPP TS 23.038, "GSM 03.38").

A message that fits the GSM 7-bit default alphabet costs one septet per basic character and two
per extension character (an ESC prefix and the character). One SMS holds 160 septets; a
concatenated message spends 7 septets per part on the user-data header, leaving 153, and an
ESC pair is never split across parts. Any character outside the alphabet switches the whole
message to UCS-2: 70 UTF-16 code units alone, 67 per part, and a surrogate pair (an emoji) is
never split across parts.
"""

from __future__ import annotations

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


def _gsm_cost(char: str) -> int:
    if char in _BASIC:
        return 1
    if char in _EXTENSION:
        return 2
    return 0


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def segments(text: str) -> SegmentInfo:
    """Count the encoding, units and SMS parts of ``text``.

    >>> segments("Hello").segments
    1
    >>> segments("გამარჯობა").encoding
    'UCS-2'
    """
    if not isinstance(text, str):
        raise ValidationError(f"text must be a string, not {type(text).__name__}")
    non_gsm: dict[str, None] = {}
    costs: list[int] = []
    for char in text:
        cost = _gsm_cost(char)
        if cost == 0:
            non_gsm[char] = None
        costs.append(cost)
    if non_gsm:
        encoding, single, multi = UCS2, _UCS2_SINGLE, _UCS2_MULTI
        costs = [_utf16_units(char) for char in text]
    else:
        encoding, single, multi = GSM7, _GSM_SINGLE, _GSM_MULTI
    units = sum(costs)
    if units <= single:
        return SegmentInfo(
            encoding=encoding,
            units=units,
            segments=1 if units else 0,
            per_segment=single,
            remaining=single - units,
            non_gsm_chars=tuple(non_gsm),
        )
    # Fill parts greedily; a unit group (ESC pair, surrogate pair) that does not fit whole
    # starts the next part, leaving a gap at the end of this one.
    parts, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            parts += 1
            used = 0
        used += cost
    return SegmentInfo(
        encoding=encoding,
        units=units,
        segments=parts,
        per_segment=multi,
        remaining=multi - used,
        non_gsm_chars=tuple(non_gsm),
    )
