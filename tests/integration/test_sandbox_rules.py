"""The sandbox's own number and counting rules, checked against the providers' documents.

These rules decide what an emulated provider accepts and bills; they must come from the
documents, not from smsgate's phone parser or segment counter (otherwise a bug there passes
every integration test on both sides at once).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

from smsgate.sandbox import _rules
from smsgate.sandbox._rules import (
    GSM7,
    ISO_8859_1,
    RO_TWO_BYTE,
    UCS2,
    georgian_number,
    ghanaian_number,
    gsm_count,
    romanian_count,
    romanian_number,
)

SANDBOX = pathlib.Path(_rules.__file__).parent
GEORGIAN = "ქართული"  # Georgian script: outside GSM-7


def _imported_modules(source: str) -> set[str]:
    """Every module a sandbox file imports, relative imports resolved against smsgate.sandbox."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ["smsgate", "sandbox"][: max(0, 2 - node.level + 1)] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_sandbox_uses_neither_smsgate_phone_nor_segments_nor_phonenumbers() -> None:
    """"The sandbox must not use smsgate's own phone parser or segment counter to decide what
    a provider would do" (issue 14, item 7)."""
    files = sorted(SANDBOX.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        imported = _imported_modules(path.read_text(encoding="utf-8"))
        forbidden = {name for name in imported
                     if name.startswith(("smsgate.phone", "smsgate.segments", "phonenumbers"))}
        assert not forbidden, f"{path.name} imports {sorted(forbidden)}"


def test_the_import_check_resolves_relative_imports() -> None:
    """The check above would be blind if ``from ..phone import x`` were not resolved."""
    assert {"smsgate.phone", "smsgate.segments", "phonenumbers"} <= _imported_modules(
        "from ..phone import normalize_phone\nfrom .. import segments\nimport phonenumbers\n")
    assert "smsgate.sandbox._rules" in _imported_modules("from ._rules import gsm_count\n")


# -- numbers -------------------------------------------------------------------------------
@pytest.mark.parametrize("number", ["995123456789", "995577123456", "995599123456"])
def test_georgian_numbers_in_the_documented_format(number: str) -> None:
    """GOSMS.GE: "Format: 995123456789"; SMSOffice.ge: "Each number must be in international
    format, without 00 and +. For example: 995577123456,995599123456"."""
    assert georgian_number(number)


@pytest.mark.parametrize("number", ["+995577123456", "00995577123456", "577123456",
                                    "0577123456", "99557712345", "9955771234567", "995 577 12"])
def test_georgian_numbers_in_other_forms_are_refused(number: str) -> None:
    """"without 00 and +": the documents give one form only; no other is accepted."""
    assert not georgian_number(number)


@pytest.mark.parametrize(("number", "e164"), [
    ("0712345678", "+40712345678"),
    ("40712345678", "+40712345678"),
    ("00359888123456", "+359888123456"),
    ("0040712345678", "+40712345678"),
])
def test_romanian_recipient_formats(number: str, e164: str) -> None:
    """GoSMS.ro: "National (Romania): 07PPXXXXXX, 407PPXXXXXX. For international numbers, add
    the 00 prefix: 00359XXXXXXXXX." """
    assert romanian_number(number) == e164


@pytest.mark.parametrize("number", ["+40712345678", "0212345678", "071234567", "07123456789",
                                    "712345678", "000359888123456", "+359888123456"])
def test_romanian_recipients_outside_the_formats_are_refused(number: str) -> None:
    """No ``+`` form is documented, and national numbers are ``07PPXXXXXX``: a ``02`` number
    (not mobile), a short or long one, or ``000...`` is not in any documented format."""
    assert romanian_number(number) is None


@pytest.mark.parametrize(("number", "e164"), [
    ("0245972246", "+233245972246"),
    ("233245972246", "+233245972246"),
    ("+233245972246", "+233245972246"),
    ("233201234567", "+233201234567"),
    ("+233551234567", "+233551234567"),
])
def test_ghanaian_formats_normalise_to_e164(number: str, e164: str) -> None:
    """SMSGist: "Local 0245972246 - 10 digits starting with 0; International 233245972246 - 12
    digits starting with 233; E.164 +233245972246 - With + prefix"; "All formats are
    normalized internally before sending"; the reply shows ``"recipient": "+233245972246"``."""
    assert ghanaian_number(number) == e164


@pytest.mark.parametrize("number", ["245972246", "02459722460", "+2330245972246",
                                    "+995577123456", "00233245972246", "0245-972246"])
def test_ghanaian_numbers_outside_the_formats_are_invalid(number: str) -> None:
    """"If a number is invalid, it will appear in the response with an error.\""""
    assert ghanaian_number(number) is None


# -- GSM 03.38 (GOSMS.GE, SMSGist) ---------------------------------------------------------
@pytest.mark.parametrize(("text", "segments", "encoding"), [
    ("Hello, your order is ready.", 1, GSM7),
    ("Your code is 482916", 1, GSM7),
    ("x" * 200, 2, GSM7),
    ("Welcome! \N{PARTY POPPER}", 1, UCS2),
])
def test_smsgist_cost_examples(text: str, segments: int, encoding: str) -> None:
    """SMSGist's "Cost Examples": "Hello, your order is ready." GSM-7 1 segment; "Your code is
    482916" GSM-7 1; "A 200-character notification GSM-7 200 2"; "Welcome! 🎉 (has emoji)
    Unicode 1"."""
    counted = gsm_count(text)
    assert (counted.segments, counted.encoding) == (segments, encoding)


def test_gsm_single_and_multipart_limits() -> None:
    """"GSM-7 (standard) 160 characters, 153 characters [per segment], 10 [segments]"; "The
    maximum message length is 1,530 characters (10 segments of 153 chars in GSM-7)"."""
    assert gsm_count("a" * 160).segments == 1
    assert gsm_count("a" * 161).segments == 2
    assert gsm_count("a" * 306).segments == 2
    assert gsm_count("a" * 307).segments == 3
    assert gsm_count("a" * 1530).segments == 10


def test_gosms_ge_six_part_limits() -> None:
    """GOSMS.GE: "Latin: 918 chars = 6 SMS; Unicode (Georgian): 402 chars = 6 SMS"."""
    assert gsm_count("a" * 918).segments == 6
    assert gsm_count("a" * 919).segments == 7
    georgian = (GEORGIAN * 60)[:402]
    assert gsm_count(georgian) == _rules.Count(6, UCS2, 402)
    assert gsm_count(georgian + "ა").segments == 7


def test_unicode_limits() -> None:
    """"Unicode (UCS-2) 70 characters, 67 characters [per segment]"."""
    assert gsm_count((GEORGIAN * 10)[:70]).segments == 1
    assert gsm_count((GEORGIAN * 11)[:71]).segments == 2
    assert gsm_count((GEORGIAN * 20)[:134]).segments == 2
    assert gsm_count((GEORGIAN * 20)[:135]).segments == 3


@pytest.mark.parametrize("char", list("^{}[]~|€\\"))
def test_extended_gsm_characters_count_twice(char: str) -> None:
    """"These characters are part of GSM-7 but count as 2 characters each: ^ { } [ ] ~ | €
    \\"."""
    assert gsm_count(char * 80) == _rules.Count(1, GSM7, 160)
    assert gsm_count(char * 81) == _rules.Count(2, GSM7, 162)


def test_one_character_outside_gsm7_switches_the_whole_message() -> None:
    """"If your message contains any character outside the GSM-7 set, the entire message
    switches to Unicode encoding" (emoji, "certain diacritics", non-Latin scripts)."""
    assert gsm_count("a" * 100).segments == 1
    assert gsm_count("a" * 100 + "ș") == _rules.Count(2, UCS2, 101)
    assert gsm_count("a" * 100 + "é").encoding == GSM7  # é is in the GSM 03.38 alphabet


# -- GoSMS.ro ------------------------------------------------------------------------------
def test_romanian_latin1_counting() -> None:
    """GoSMS.ro: "GoSMS uses the Latin ISO-8859-1 character encoding, where each character
    occupies 1 byte"; "Simple SMS - A message containing up to 160 characters"; "each
    153-character segment being charged separately"."""
    assert romanian_count("a" * 160) == _rules.Count(1, ISO_8859_1, 160)
    assert romanian_count("a" * 161).segments == 2
    assert romanian_count("a" * 306).segments == 2
    assert romanian_count("a" * 307).segments == 3
    # ISO-8859-1 letters that GSM-7 lacks stay one byte: GSM would switch these to UCS-2.
    assert romanian_count("â" * 160) == _rules.Count(1, ISO_8859_1, 160)
    assert gsm_count("â" * 160).encoding == UCS2


@pytest.mark.parametrize("char", ["\u201c", "\u2013", "\u02dc", "™", "€", "^", "/", "{", "}",
                                  "\\", "[", "]", "|", "ș", "ț", "ă"])
def test_romanian_extended_set(char: str) -> None:
    """"If your message contains special characters (e.g., diacritics, [left double quote, en
    dash, small tilde], ™, €, ^, /, {, }, \\, [, ], |) that are not part of the standard Latin
    alphabet, the system will switch to the extended character set. Each character is encoded
    using 2 bytes. The maximum length is reduced to 70 characters for a single SMS.
    Concatenated messages are limited to 63 characters per segment." """
    assert romanian_count(char + "a" * 69) == _rules.Count(1, RO_TWO_BYTE, 70)
    assert romanian_count(char + "a" * 70).segments == 2
    assert romanian_count(char + "a" * 125).segments == 2
    assert romanian_count(char + "a" * 126).segments == 3


def test_romanian_counting_differs_from_gsm_where_the_documents_differ() -> None:
    """63 per segment, not GSM's 67; ``/`` is special for GoSMS.ro and plain for GSM-7."""
    text = "ș" * 127
    assert (romanian_count(text).segments, gsm_count(text).segments) == (3, 2)
    slash = "/" + "a" * 70
    assert (romanian_count(slash).segments, gsm_count(slash).segments) == (2, 1)
