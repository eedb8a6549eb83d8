"""The sandbox's own reading of the providers' number formats and message counting.

The sandbox is the other side of every integration test, so it must not decide what a provider
would do with smsgate's own phone parser or segment counter: a bug there would then pass every
test on both sides. These rules are written from the providers' documents alone, as small as
those documents are, and are tested against the documents' words
(``tests/integration/test_sandbox_rules.py``). Nothing here imports ``smsgate.phone``,
``smsgate.segments`` or ``phonenumbers``.
"""

from __future__ import annotations

import math
import re
from typing import Final

import attrs

__all__ = [
    "GSM7",
    "ISO_8859_1",
    "RO_TWO_BYTE",
    "UCS2",
    "Count",
    "georgian_number",
    "ghanaian_number",
    "gsm_count",
    "romanian_count",
    "romanian_number",
]

GSM7: Final = "GSM-7"
UCS2: Final = "UCS-2"
ISO_8859_1: Final = "ISO-8859-1"
#: GoSMS.ro's "extended character set": "Each character is encoded using 2 bytes".
RO_TWO_BYTE: Final = "2-byte"


# -- numbers -------------------------------------------------------------------------------
_GEORGIAN: Final = re.compile(r"995\d{9}")
_RO_NATIONAL: Final = re.compile(r"07\d{8}")
_RO_WITH_40: Final = re.compile(r"407\d{8}")
# "For international numbers, add the 00 prefix: 00359XXXXXXXXX": a country code cannot start
# with 0, and an international number has at most 15 digits.
_RO_ABROAD: Final = re.compile(r"00([1-9]\d{6,14})")
_GH_LOCAL: Final = re.compile(r"0(\d{9})")
_GH_INTERNATIONAL: Final = re.compile(r"\+?233(\d{9})")


def georgian_number(number: str) -> bool:
    """GOSMS.GE and SMSOffice.ge: ``995`` and nine digits, nothing else.

    GOSMS.GE: "Format: 995123456789"; SMSOffice.ge: "Each number must be in international
    format, without 00 and +. For example: 995577123456,995599123456".
    """
    return _GEORGIAN.fullmatch(number) is not None


def romanian_number(number: str) -> str | None:
    """GoSMS.ro's ``recipient``, as ``+`` and digits, or ``None`` when the format is wrong.

    "National (Romania): 07PPXXXXXX, 407PPXXXXXX. For international numbers, add the 00
    prefix: 00359XXXXXXXXX." No ``+`` form is documented, so ``+40...`` is refused.
    """
    if _RO_NATIONAL.fullmatch(number):
        return "+4" + number
    if _RO_WITH_40.fullmatch(number):
        return "+" + number
    abroad = _RO_ABROAD.fullmatch(number)
    if abroad:
        return "+" + abroad.group(1)
    return None


def ghanaian_number(number: str) -> str | None:
    """SMSGist's normalisation to E.164, or ``None`` for a number it cannot read.

    "Local 0245972246 - 10 digits starting with 0; International 233245972246 - 12 digits
    starting with 233; E.164 +233245972246 - With + prefix"; "All formats are normalized
    internally before sending."
    """
    local = _GH_LOCAL.fullmatch(number)
    if local:
        return "+233" + local.group(1)
    international = _GH_INTERNATIONAL.fullmatch(number)
    if international:
        return "+233" + international.group(1)
    return None


# -- counting ------------------------------------------------------------------------------
@attrs.frozen
class Count:
    """How a provider counts one text: ``units`` characters of ``encoding`` in ``segments``."""

    segments: int
    encoding: str
    units: int


# The GSM 03.38 default alphabet (the escape code itself excluded): one septet each.
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# SMSGist: "These characters are part of GSM-7 but count as 2 characters each: ^ { } [ ] ~ | €
# \". GSM 03.38 puts the form feed in the same extension table.
_GSM_EXTENDED: Final = frozenset("^{}[]~|€\\\f")


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _parts(units: int, single: int, per_segment: int) -> int:
    if units <= single:
        return 1
    return math.ceil(units / per_segment)


def gsm_count(text: str) -> Count:
    """GOSMS.GE and SMSGist: GSM-7 160 / 153, UCS-2 70 / 67.

    SMSGist: "If your message contains any character outside the GSM-7 set, the entire message
    switches to Unicode encoding"; "GSM-7 (standard) 160 characters, 153 characters [per
    segment]; Unicode (UCS-2) 70 characters, 67 characters". GOSMS.GE: "Latin: 918 chars = 6
    SMS; Unicode (Georgian): 402 chars = 6 SMS", that is 153 and 67 per segment.
    """
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in text):
        units = sum(2 if char in _GSM_EXTENDED else 1 for char in text)
        return Count(_parts(units, 160, 153), GSM7, units)
    units = _utf16_units(text)
    return Count(_parts(units, 70, 67), UCS2, units)


# GoSMS.ro: "If your message contains special characters (e.g., diacritics, [left double
# quotation mark, en dash, small tilde], ™, €, ^, /, {, }, \, [, ], |) that are not part of the
# standard Latin alphabet, the system will switch to the extended character set." The listed
# ones inside ISO-8859-1 switch by name; everything outside ISO-8859-1 (Romanian ă ș ț, the
# typographic quotes, emoji) cannot be one byte anyway.
_RO_LISTED: Final = frozenset("\u201c\u2013\u02dc™€^/{}\\[]|")


def romanian_count(text: str) -> Count:
    """GoSMS.ro: ISO-8859-1, one byte a character, 160 / 153; the extended set 70 / 63.

    "GoSMS uses the Latin ISO-8859-1 character encoding, where each character occupies 1
    byte"; "Simple SMS - A message containing up to 160 characters", "each 153-character
    segment being charged separately"; in the extended set "Each character is encoded using 2
    bytes", "70 characters for a single SMS", "63 characters per segment".
    """
    if any(char in _RO_LISTED or ord(char) > 0xFF for char in text):
        units = _utf16_units(text)
        return Count(_parts(units, 70, 63), RO_TWO_BYTE, units)
    return Count(_parts(len(text), 160, 153), ISO_8859_1, len(text))
