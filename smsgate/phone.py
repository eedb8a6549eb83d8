"""Phone numbers: one normal form (E.164) in, each provider's wire form out.

Users write numbers as ``+995555123456``, ``00995555123456``, ``995555123456`` or, for a
provider's home region, nationally (``555 12 34 56``). smsgate parses each number once with
Google's libphonenumber (``phonenumberslite``), refuses anything that is not a valid number,
and keeps E.164 everywhere; adapters only re-format E.164 for their wire.
"""

from __future__ import annotations

import enum
import functools

import phonenumbers

from .errors import InvalidPhoneNumber

__all__ = [
    "PhoneFormat",
    "clear_caches",
    "format_phone",
    "mask_phone",
    "normalize_phone",
    "region_of",
    "try_normalize",
]

# Characters people put in numbers for readability; stripped before parsing.
_PUNCTUATION = str.maketrans("", "", " \t-./()\u00a0")
_MAX_INPUT = 64


def normalize_phone(number: str, region: str | None = None) -> str:
    """Return ``number`` in E.164 (``+995555123456``).

    Args:
        number: ``+``-international, ``00``-international, international digits without a
            prefix (``995555123456``), or national for ``region``.
        region: ISO 3166 region (``"GE"``) used to read national numbers.

    Raises:
        InvalidPhoneNumber: the input is not a valid, dialable number.
    """
    if not isinstance(number, str):
        raise InvalidPhoneNumber(f"a phone number must be a string, not {type(number).__name__}")
    if number in _VALIDATED:  # already E.164 and validated (a gateway hands providers these)
        return number
    return _normalize(number, region.upper() if region else None)


def try_normalize(value: object, region: str | None = None) -> str | None:
    """:func:`normalize_phone`, or ``None`` for anything that is not a valid number.

    For reading numbers out of provider replies and callbacks, where a bad one is data to
    skip, not the caller's mistake.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalize_phone(value, region)
    except InvalidPhoneNumber:
        return None


@functools.lru_cache(maxsize=4096)
def _normalize(number: str, region: str | None) -> str:
    if len(number) > _MAX_INPUT:
        raise InvalidPhoneNumber("a phone number is at most 64 characters long")
    compact = number.strip().translate(_PUNCTUATION)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    candidates: list[tuple[str, str | None]] = []
    if compact.startswith("+"):
        candidates.append((compact, None))
    else:
        if region:
            candidates.append((compact, region))
        # International digits without the "+" (GOSMS.GE and SMSOffice write numbers so).
        candidates.append(("+" + compact, None))
    for text, reg in candidates:
        if not text.lstrip("+").isdigit():
            continue
        try:
            parsed = phonenumbers.parse(text, reg)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            e164 = str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
            _remember(e164, phonenumbers.region_code_for_number(parsed))
            return e164
    hint = "" if region or compact.startswith("+") else " (use +country code, or give a region)"
    raise InvalidPhoneNumber(f"not a valid phone number: {mask_phone(number)}{hint}")


# Regions of numbers normalised recently: adapters ask for the region of every number they
# just normalised, and a second parse would double the cost of a large bulk send.
# Numbers validated recently, E.164 -> region: adapters ask for the region of every number they
# just normalised, and a gateway hands its providers numbers it already validated; a second
# parse would double the cost of a large bulk send. Only validated numbers are kept here.
_VALIDATED: dict[str, str] = {}
_VALIDATED_MAX = 65_536


def _remember(e164: str, region: object) -> None:
    if len(_VALIDATED) >= _VALIDATED_MAX:
        _VALIDATED.clear()
    _VALIDATED[e164] = str(region or "ZZ")


def region_of(e164: str) -> str:
    """ISO region of an E.164 number (``"GE"``), or ``"ZZ"`` when unknown."""
    known = _VALIDATED.get(e164)
    if known is not None:
        return known
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "ZZ"
    return str(phonenumbers.region_code_for_number(parsed) or "ZZ")


def clear_caches() -> None:
    """Forget cached parses (for benchmarks that must start cold)."""
    _normalize.cache_clear()
    _VALIDATED.clear()


def mask_phone(number: str) -> str:
    """A number fit for a log line: country code and last two digits kept.

    ``+995555123456`` becomes ``+9955******56``.
    """
    text = str(number)
    if len(text) <= 6:
        return "*" * len(text)
    head = 5 if text.startswith("+") else 4
    return text[:head] + "*" * (len(text) - head - 2) + text[-2:]


class PhoneFormat(enum.Enum):
    """How a provider wants numbers written on its wire."""

    #: ``+995555123456``
    E164 = "e164"
    #: ``995555123456``: country code and number, no ``+`` or ``00`` (GOSMS.GE, SMSOffice.ge).
    DIGITS = "digits"
    #: Home-region numbers as ``DIGITS``, other countries as ``00`` + digits (GoSMS.ro).
    DIGITS_HOME_00_ABROAD = "digits-home-00-abroad"


def format_phone(e164: str, fmt: PhoneFormat, home_region: str | None = None) -> str:
    """Write an E.164 number in a provider's wire format."""
    digits = e164.lstrip("+")
    if fmt is PhoneFormat.E164:
        return e164
    if fmt is PhoneFormat.DIGITS:
        return digits
    if home_region is not None and region_of(e164) == home_region:
        return digits
    return "00" + digits
