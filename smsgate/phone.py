"""Phone numbers: one normal form (E.164) in, each provider's wire form out.

Users write numbers as ``+995555123456``, ``00995555123456``, ``995555123456`` or, for a
provider's home region, nationally (``555 12 34 56``). smsgate checks each number once against
Google's libphonenumber (``phonenumberslite``) metadata, refuses anything that is not a valid
number, and keeps E.164 everywhere; adapters only re-format E.164 for their wire.

Numbers already written ``+digits`` (the common case for bulk sends) take a fast path that
applies libphonenumber's own metadata without its general-purpose parser; it answers only
where its answer is provably the parser's (see :func:`_fast_e164_region`) and otherwise
hands the number to the full parse.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

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
    if _E164_SHAPE.fullmatch(number) is not None:
        found = _fast_e164_region(number)
        if found is not None:
            if len(_VALIDATED) >= _VALIDATED_MAX:  # _remember, inlined for bulk sends
                _VALIDATED.clear()
            _VALIDATED[number] = found
            return number
    return _normalize(number, region.upper() if region else None)



def validated_region(number: str) -> str | None:
    """The region of ``number`` when it is already a valid E.164 number that needs no parse.

    ``None`` means "not known this way", not "invalid": the number may still be valid in
    another form (the caller then goes through :func:`normalize_phone`). A region returned
    here is exactly what ``region_of(normalize_phone(number))`` gives, and ``number`` is then
    its own E.164 form. For per-number loops of bulk sends, which call it once a number.
    """
    known = _VALIDATED.get(number)
    if known is not None:
        return known
    if _E164_SHAPE.fullmatch(number) is None:
        return None
    found = _fast_e164_region(number)
    if found is not None:
        if len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.clear()
        _VALIDATED[number] = found
    return found

def validated_region_of_all(numbers: Sequence[object]) -> str | None:
    """The region of every one of ``numbers`` when all are ``str`` already in valid E.164
    form, of the same country calling code and length, and of a code with one region (the
    usual bulk list: 10,000 numbers of one country); ``None`` means "not known this way",
    not "invalid" (check the numbers one by one).

    A region returned here is exactly what :func:`validated_region` gives for each number
    (one compiled pattern per code and length stands for its checks, see
    :func:`_whole_matcher`), but the numbers are checked by C loops: no Python code runs per
    number. Each is then remembered as validated, as :func:`validated_region` does.
    """
    count = len(numbers)
    if count < _BATCH_MIN or set(map(type, numbers)) != {str}:
        return None
    texts = cast("Sequence[str]", numbers)  # every one a str exactly, checked above
    lengths = set(map(len, texts))
    if len(lengths) != 1:
        return None
    length = lengths.pop()
    found = _CODE_BY_PREFIX.get(texts[0][1:4])
    if found is None:
        return None
    key = (found[0], length)
    if key in _WHOLE:
        whole = _WHOLE[key]
    else:
        whole = _WHOLE[key] = _whole_matcher(*key)
    if whole is None or not all(map(whole[0], texts)):
        return None
    region = whole[1]
    if count <= _VALIDATED_MAX:  # the cache's bound holds: a longer list is not remembered
        if len(_VALIDATED) + count > _VALIDATED_MAX:
            _VALIDATED.clear()
        _VALIDATED.update(dict.fromkeys(texts, region))
    return region


def remembered_regions(numbers: Sequence[str]) -> set[str] | None:
    """The regions of ``numbers`` when every one is remembered as a valid E.164 number (by
    :func:`normalize_phone`, :func:`validated_region` or :func:`validated_region_of_all`),
    else ``None``. A remembered number is its own E.164 form and :func:`region_of` gives
    its region from memory, so for such numbers this is ``{region_of(n) for n in numbers}``,
    read with one dict lookup a number in a C loop (for bulk checks that need only the set).
    """
    regions = set(map(_VALIDATED.get, numbers))
    if None in regions:
        return None
    return cast("set[str]", regions)


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
        if reg is None and _E164_SHAPE.fullmatch(text) is not None:
            found = _fast_e164_region(text)
            if found is not None:
                _remember(text, found)
                return text
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
    if _E164_SHAPE.fullmatch(e164) is not None:
        found = _fast_e164_region(e164)
        if found is not None:
            return found
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "ZZ"
    return str(phonenumbers.region_code_for_number(parsed) or "ZZ")


def clear_caches() -> None:
    """Forget cached parses (for benchmarks that must start cold)."""
    _normalize.cache_clear()
    _VALIDATED.clear()
    _PLANS.clear()
    _WHOLE.clear()


# The fast path for "+digits" input.
#
# For such input, libphonenumber's parse() (phonenumberutil.parse) does this and nothing else:
# it takes the country calling code as the shortest 1-3 digit prefix that is a known code, and
# the rest as the national number; it tries to strip a national prefix from that rest when the
# main region's national_prefix_for_parsing matches at its start; it refuses a national number
# shorter than 2 or longer than 17 digits; and a national number starting with 0 keeps its
# zeros in "italian_leading_zero" (and their count), so that national_significant_number()
# gives back exactly the digits that followed the code. is_valid_number() then picks the
# region (the only one for the code, or the first of a shared code's regions whose
# leading_digits match or, lacking leading_digits, whose number types accept the number) and
# asks whether the number matches the region's general description and at least one number
# type, each description gated by its possible lengths. E.164 formatting writes "+", the code
# and the national significant number back: the input itself.
#
# The fast path accepts a number only when no prefix strip can apply (the pattern does not
# match at all), the national number has 2-17 digits, and the same region choice and the same
# descriptions (compiled once per code, the type patterns of one length joined into one
# alternation) accept it. For such a number parse() builds exactly (code, national number),
# so is_valid_number() sees what the fast path saw. Anything else is declined, never refused:
# the full parse decides. tests/test_phone_fast_path.py checks this against libphonenumber.
_E164_SHAPE: Final = re.compile(r"\+[1-9][0-9]{2,19}", re.ASCII)
_NSN_MIN, _NSN_MAX = 2, 17
# The number types of _number_type_helper, in its order; mobile joins them only when its
# pattern differs from fixed_line's (same_mobile_and_fixed_line_pattern), as there.
_TYPE_FIELDS: Final = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line",
)


_Matcher = Callable[[str], object]


class _RegionCheck:
    """One region's validity test, compiled from its libphonenumber metadata."""

    __slots__ = ("_by_length", "_descs", "_general", "_general_lengths", "leading_digits",
                 "region")

    def __init__(self, region: str, metadata: Any) -> None:
        self.region = region
        leading = metadata.leading_digits
        self.leading_digits: _Matcher | None = (
            re.compile(leading).match if leading is not None else None
        )
        general = metadata.general_desc
        self._general: str | None = general.national_number_pattern if general is not None \
            else None
        self._general_lengths = frozenset(general.possible_length) if general is not None \
            else frozenset()
        fields = list(_TYPE_FIELDS)
        if not metadata.same_mobile_and_fixed_line_pattern:
            fields.append("mobile")
        self._descs = [desc for desc in (getattr(metadata, f) for f in fields)
                       if desc is not None and desc.national_number_pattern]
        self._by_length: dict[int, _Matcher | None] = {}

    def matcher(self, length: int) -> _Matcher | None:
        """A fullmatch that is true exactly when _number_type_helper(nsn) != UNKNOWN for an
        ``nsn`` of this length; None when no number of this length can be valid."""
        if length in self._by_length:
            return self._by_length[length]
        found: _Matcher | None = None
        if self._general and (not self._general_lengths or length in self._general_lengths):
            patterns = [desc.national_number_pattern for desc in self._descs
                        if not desc.possible_length or length in desc.possible_length]
            if patterns:
                # The lookahead is the general description's own full match; the alternation
                # then needs one type's pattern to match the whole number as well.
                types = "|".join(f"(?:{pattern})" for pattern in patterns)
                found = re.compile(f"(?=(?:{self._general})\\Z)(?:{types})").fullmatch
        self._by_length[length] = found  # at most one entry per possible length
        return found

    def accepts(self, nsn: str) -> bool:
        """_number_type_helper(nsn, metadata) != UNKNOWN."""
        matcher = self.matcher(len(nsn))
        return matcher is not None and matcher(nsn) is not None


class _CodePlan:
    """Everything the fast path needs for one country calling code."""

    __slots__ = ("by_length", "national_prefix", "prefix_literal", "regions", "single")

    def __init__(self, code: int, regions: tuple[str, ...]) -> None:
        main = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
        prefix = main.national_prefix_for_parsing if main is not None else None
        # A prefix pattern of plain digits ("0", "8") matches exactly where startswith does.
        self.prefix_literal: str | None = prefix if prefix and prefix.isdigit() else None
        self.national_prefix: _Matcher | None = (
            re.compile(prefix).match if prefix and self.prefix_literal is None else None
        )
        self.regions: list[_RegionCheck] = []
        for region in regions:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
            # A region whose metadata names another code is never valid for this one
            # (is_valid_number_for_region); the full parse handles such a region.
            if metadata is not None and (region == "001" or metadata.country_code == code):
                self.regions.append(_RegionCheck(region, metadata))
            elif len(regions) > 1 and metadata is None:
                continue  # skipped by _region_code_for_number_from_list too
            else:
                self.regions = []  # declines every number of this code
                break
        # The common case: one region for the code, so no region choice to make.
        self.single = self.regions[0] if len(regions) == 1 and self.regions else None
        self.by_length: dict[int, _Matcher | None] = {}

    def region_of_valid(self, nsn: str) -> str | None:
        """The number's region when libphonenumber deems it valid, else None."""
        single = self.single
        if single is not None:
            length = len(nsn)
            if length in self.by_length:
                matcher = self.by_length[length]
            else:
                matcher = self.by_length[length] = single.matcher(length)
            return single.region if matcher is not None and matcher(nsn) else None
        for check in self.regions:  # _region_code_for_number_from_list
            if check.leading_digits is not None:
                if check.leading_digits(nsn):
                    return check.region if check.accepts(nsn) else None
            elif check.accepts(nsn):
                return check.region
        return None


def _code_by_prefix() -> dict[str, tuple[int, int]]:
    """(code, its length) for every 3-digit start of a "+digits" number, as libphonenumber's
    _extract_country_code picks it: the first of 1, 2 and 3 digits that is a known code."""
    known = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    table = {}
    for start in range(100, 1000):
        digits = str(start)
        for size in (1, 2, 3):
            if int(digits[:size]) in known:
                table[digits] = (int(digits[:size]), size)
                break
    return table


_CODE_BY_PREFIX: Final = _code_by_prefix()
# One plan per country calling code, built on first use; a code the fast path cannot handle
# gets a plan without regions, which declines every number.
_PLANS: dict[int, _CodePlan] = {}


def _plan(code: int) -> _CodePlan:
    plan = _PLANS[code] = _CodePlan(code, tuple(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]))
    return plan


def _fast_e164_region(number: str) -> str | None:
    """The region of ``number`` (``+`` and 3-20 ASCII digits) when it is valid; None to
    decline, which means "ask the full parse", not "invalid"."""
    found = _CODE_BY_PREFIX.get(number[1:4])
    if found is None:
        return None
    code, size = found
    nsn = number[1 + size:]
    if not _NSN_MIN <= len(nsn) <= _NSN_MAX:
        return None
    plan = _PLANS.get(code) or _plan(code)
    if plan.prefix_literal is not None:
        if nsn.startswith(plan.prefix_literal):
            return None
    elif plan.national_prefix is not None and plan.national_prefix(nsn):
        return None
    return plan.region_of_valid(nsn)


# validated_region_of_all: lists shorter than this take the per-number path (as fast there).
_BATCH_MIN: Final = 16
# One whole-number pattern per (country code, number length), and the code's region.
_WHOLE: dict[tuple[int, int], tuple[_Matcher, str] | None] = {}
# What would make a pattern mean something else once it no longer starts the string it is
# matched against: start anchors and word boundaries, lookbehinds, backreferences (whose
# group numbers shift when patterns are joined) and inline flags. (End anchors keep their
# meaning: the national number ends the string either way.)
_POSITIONAL: Final = re.compile(r"\^|\\[AbB0-9]|\(\?(?:<[=!]|P=|[aiLmsux])")


def _whole_matcher(code: int, length: int) -> tuple[_Matcher, str] | None:
    """A fullmatch for whole numbers (``+``, the code, the national number) of ``length``
    characters that is true exactly when :func:`_fast_e164_region` gives a region, and that
    region; ``None`` when the code has more than one region or a pattern cannot be joined.

    :func:`_fast_e164_region`'s steps for one code and length, each as part of one pattern:
    the "+digits" shape (``_E164_SHAPE``, as a lookahead); the code, as literal digits (every
    number starting with them gets this code from ``_CODE_BY_PREFIX``, checked here); the
    national number's length bounds (known from ``length``); no national prefix at its start
    (a negative lookahead of the literal or pattern); and the region's matcher for that
    length. The national number is the rest of the string in both, so ``$`` and ``\\Z``
    mean the same; patterns holding what would not (see ``_POSITIONAL``) are not joined.
    """
    digits = str(code)
    size = len(digits)
    starts = {(digits + f"{n:03d}")[:3] for n in range(1000)}
    if any(_CODE_BY_PREFIX.get(start) != (code, size) for start in starts):
        return None
    nsn_length = length - 1 - size
    if not (_NSN_MIN <= nsn_length <= _NSN_MAX and 4 <= length <= 21):
        return None
    plan = _PLANS.get(code) or _plan(code)
    single = plan.single
    if single is None:
        return None
    matcher = single.matcher(nsn_length)
    if matcher is None:
        return None
    body = getattr(matcher, "__self__", None)
    if not isinstance(body, re.Pattern):
        return None
    parts = [body.pattern]
    if plan.prefix_literal is not None:
        guard = f"(?!{re.escape(plan.prefix_literal)})"
    elif plan.national_prefix is not None:
        prefix = getattr(plan.national_prefix, "__self__", None)
        if not isinstance(prefix, re.Pattern):
            return None
        parts.append(prefix.pattern)
        guard = f"(?!(?:{prefix.pattern}))"
    else:
        guard = ""
    if any(_POSITIONAL.search(part) for part in parts):
        return None
    try:
        whole = re.compile(
            f"(?={_E164_SHAPE.pattern}\\Z)\\+{digits}{guard}(?:{body.pattern})"
        )
    except re.error:
        return None
    return whole.fullmatch, single.region


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
    if fmt is PhoneFormat.DIGITS:  # the bulk providers' form, first
        return e164.lstrip("+")
    if fmt is PhoneFormat.E164:
        return e164
    digits = e164.lstrip("+")
    if home_region is not None and region_of(e164) == home_region:
        return digits
    return "00" + digits
