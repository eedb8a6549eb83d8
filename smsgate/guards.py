"""Send guards: what a send may cost, and which sends are refused before any request.

SMS pumping (bots asking an OTP form to text premium-rate or sequential numbers whose
revenue the fraudster shares) is the commonest way an SMS integration loses money. smsgate
already parses every number with libphonenumber, so it can refuse such sends before a
request is made, count velocity in the same stores a fleet shares, and say what a send will
cost before it happens.

* :class:`SendPolicy` is checked in the send plan before any request, on every path: a
  provider's own ``send``, a :class:`~smsgate.Gateway`, :func:`~smsgate.send_many` (and the
  drivers that run the same plan). Premium-rate and shared-cost numbers are refused **by
  default** (:data:`DEFAULT_POLICY`); a refusal is a :class:`~smsgate.PolicyViolation`
  (a ``ValidationError``: nothing sent, no failover). In a list, refused recipients are
  reported per recipient (``REJECTED``, the reason in ``error``) and the rest still go.
* :class:`PriceTable` and :func:`estimate` give the cost of a send before it is made, with
  each provider's own segment counting.

Everything that touches state (velocity counters, the suppression list, spending) is a
``Call`` effect of the plan (:mod:`smsgate._effects`): the policy itself does no I/O and
reads no clock, so the sync and async drivers share it.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import math
import operator
import os
import re
import sys
import time
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs
from phonenumbers.phonemetadata import PhoneMetadata

from ._effects import Call, Plan, run
from .errors import (
    BudgetExceeded,
    ConfigurationError,
    PolicyViolation,
    SmsGateError,
    Suppressed,
    ValidationError,
)
from .guards_stores import (
    BudgetStore,
    MemoryBudgetStore,
    MemorySuppressionList,
    SqliteBudgetStore,
    SqliteSuppressionList,
    SuppressionList,
)
from .models import RecipientResult, SendResult, Status
from .phone import _CODE_BY_PREFIX, mask_phone, normalize_phone, region_of, remembered_regions
from .segments import GSM7, segments
from .stores._rate import MemoryRateLimiter, Rate, RateLimiter

if TYPE_CHECKING:
    from ._protocol import SmsProvider
    from ._provider import Outgoing, ProviderBase

__all__ = [
    "DEFAULT_DENIED_TYPES",
    "DEFAULT_POLICY",
    "NUMBER_TYPES",
    "BudgetStore",
    "Estimate",
    "MemoryBudgetStore",
    "MemorySuppressionList",
    "Price",
    "PriceTable",
    "QuietHours",
    "RecipientEstimate",
    "SendPolicy",
    "SpendLimit",
    "SqliteBudgetStore",
    "SqliteSuppressionList",
    "SuppressionList",
    "Verdict",
    "count_segments",
    "estimate",
    "number_type",
    "number_type_in",
    "preview",
]

# -- number types ------------------------------------------------------------------------

#: libphonenumber's number types, as the words a policy takes.
NUMBER_TYPES: Final = frozenset({
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line", "mobile", "fixed_line_or_mobile", "unknown",
})
#: Refused unless a policy says otherwise: numbers whose calls and texts are billed to the
#: sender at a rate the number's owner shares (the revenue SMS pumping lives on).
DEFAULT_DENIED_TYPES: Final = frozenset({"premium_rate", "shared_cost"})

# The order of libphonenumber's _number_type_helper: the first description that matches wins.
_ORDERED_TYPES: Final = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                         "pager", "uan", "voicemail")

_Desc = tuple[frozenset[int], Callable[[str], object]] | None
_Match = Callable[[str], "re.Match[str] | None"]


def _desc(desc: Any) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern).fullmatch


def _matches(desc: _Desc, nsn: str) -> bool:
    if desc is None:
        return False
    lengths, match = desc
    return (not lengths or len(nsn) in lengths) and match(nsn) is not None


class _TypeCheck:
    """libphonenumber's ``number_type`` for one region, its patterns compiled once."""

    def __init__(self, metadata: Any) -> None:
        self.general = _desc(metadata.general_desc)
        self.ordered = [(name, _desc(getattr(metadata, name))) for name in _ORDERED_TYPES]
        self.raw = [(name, frozenset(desc.possible_length) if desc is not None else frozenset(),
                     desc.national_number_pattern if desc is not None else None)
                    for name, desc in ((n, getattr(metadata, n)) for n in _ORDERED_TYPES)]
        self._among: dict[tuple[frozenset[str], int], _Match | None] = {}
        self.fixed = _desc(metadata.fixed_line)
        self.mobile = _desc(metadata.mobile)
        self.same = bool(metadata.same_mobile_and_fixed_line_pattern)

    def type_of(self, nsn: str) -> str:
        if not _matches(self.general, nsn):
            return "unknown"
        for name, desc in self.ordered:
            if _matches(desc, nsn):
                return name
        if _matches(self.fixed, nsn):
            if self.same or _matches(self.mobile, nsn):
                return "fixed_line_or_mobile"
            return "fixed_line"
        if not self.same and _matches(self.mobile, nsn):
            return "mobile"
        return "unknown"


    def type_among(self, nsn: str, kinds: frozenset[str]) -> bool:
        """Whether :meth:`type_of` would be one of ``kinds``, for a valid number, testing
        only the descriptions that can decide it: for the default deny list (premium rate,
        shared cost) that is at most three patterns, most often none past a length check."""
        if not kinds <= _ORDERED_SET:
            return self.type_of(nsn) in kinds
        key = (kinds, len(nsn))
        try:
            match = self._among[key]
        except KeyError:
            match = self._among[key] = self._compile_among(kinds, len(nsn))
        if match is None:
            return False
        found = match(nsn)
        return found is not None and found.lastgroup in kinds

    def _compile_among(self, kinds: frozenset[str], length: int) -> _Match | None:
        """One alternation, in libphonenumber's order, of the descriptions (of numbers this
        long) up to the last of ``kinds``: the first alternative that matches the whole
        number is the type :meth:`type_of` gives."""
        last = max(_ORDERED_TYPES.index(kind) for kind in kinds)
        parts = [f"(?P<{name}>{pattern})" for name, lengths, pattern in self.raw[:last + 1]
                 if pattern and (not lengths or length in lengths)]
        return re.compile("|".join(parts)).fullmatch if parts else None


_ORDERED_SET: Final = frozenset(_ORDERED_TYPES)
_TYPE_CHECKS: dict[tuple[int, str], _TypeCheck | None] = {}


def _type_check(number: str) -> tuple[_TypeCheck | None, str]:
    """The compiled check of a validated E.164 number's region, and its national number."""
    found = _CODE_BY_PREFIX.get(number[1:4])
    region = region_of(number)
    if found is None or region == "ZZ":
        return None, ""
    code, size = found
    key = (code, region)
    check = _TYPE_CHECKS.get(key, False)
    if check is False:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        check = _TYPE_CHECKS[key] = None if metadata is None else _TypeCheck(metadata)
    assert check is None or isinstance(check, _TypeCheck)
    return check, number[1 + size:]


def number_type_in(e164: str, kinds: frozenset[str]) -> bool:
    """``number_type(e164) in kinds``, faster (see :meth:`_TypeCheck.type_among`)."""
    check, nsn = _type_check(normalize_phone(e164))
    if check is None:
        return "unknown" in kinds
    return check.type_among(nsn, kinds)


def _none_among(numbers: list[str], kinds: frozenset[str]) -> bool:
    """``True`` when :func:`number_type_in` is false for every one of ``numbers``, shown for
    the list at once; ``False``: "check each". ``numbers`` are all remembered as validated
    and of one region (``remembered_regions``, as :meth:`SendPolicy._refuses_none` checks),
    so each is its own E.164 form and :func:`region_of` gives that region for each.

    Numbers of one region, one ``+code`` and one length share one compiled check of
    :meth:`_TypeCheck.type_among`: when no national number matches its alternation at all,
    none has a type among ``kinds``. The matching runs in C loops (no Python code per
    number); a list with any match, or of mixed codes or lengths, is checked number by
    number.
    """
    if not kinds <= _ORDERED_SET:
        return False
    first = numbers[0]
    check, nsn = _type_check(normalize_phone(first))
    if check is None or not nsn:
        return False
    head = len(first) - len(nsn)  # "+" and the country code
    if set(map(len, numbers)) != {len(first)}:
        return False
    if set(map(operator.itemgetter(slice(0, head)), numbers)) != {first[:head]}:
        return False
    key = (kinds, len(nsn))
    try:
        match = check._among[key]
    except KeyError:
        match = check._among[key] = check._compile_among(kinds, len(nsn))
    if match is None:
        return True
    return not any(map(match, map(operator.itemgetter(slice(head, None)), numbers)))


def number_type(e164: str) -> str:
    """The type of a valid E.164 number, as libphonenumber's ``number_type`` gives it, in
    the words of :data:`NUMBER_TYPES` (``"mobile"``, ``"premium_rate"``...).

    Exactly libphonenumber's answer (a test compares them) without its general parser: the
    region's type patterns are compiled once, so a bulk send pays one regex match or two a
    number.
    """
    check, nsn = _type_check(normalize_phone(e164))
    return "unknown" if check is None else check.type_of(nsn)


# -- prices and estimates -------------------------------------------------------------------


def _money(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        # A float is refused: 0.1 is not a price anyone wrote down.
        raise ConfigurationError(f"{what}: give an amount as a string or Decimal, not "
                                 f"{type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ConfigurationError(f"{what}: {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise ConfigurationError(f"{what}: an amount is finite and not negative")
    return amount


def _currency(value: object, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3,12}", value):
        raise ConfigurationError(f"{what}: a currency is a code such as EUR, GHS or "
                                 f"credits, not {value!r}")
    return value.upper() if len(value) == 3 else value


@attrs.frozen
class Price:
    """The price of one SMS segment to one recipient."""

    amount: Decimal
    currency: str

    @classmethod
    def parse(cls, value: object, what: str = "price") -> Price:
        """``"0.03 EUR"``, ``{"price": "0.03", "currency": "EUR"}`` or a :class:`Price`."""
        if isinstance(value, Price):
            return value
        if isinstance(value, str):
            parts = value.split()
            if len(parts) != 2:
                raise ConfigurationError(f"{what}: write a price as \"0.03 EUR\", not {value!r}")
            return cls(_money(parts[0], what), _currency(parts[1], what))
        if isinstance(value, Mapping) and set(value) == {"price", "currency"}:
            return cls(_money(value["price"], what), _currency(value["currency"], what))
        raise ConfigurationError(f"{what}: write a price as \"0.03 EUR\" or "
                                 "{price = \"0.03\", currency = \"EUR\"}")


class PriceTable:
    """Prices per segment, by provider (registry name) and recipient country.

    >>> table = PriceTable.from_dict({"gosms.ro": {"RO": "0.035 EUR", "*": "0.09 EUR"}})
    >>> table.price("gosms.ro", "RO")
    Price(amount=Decimal('0.035'), currency='EUR')

    A country key is an ISO code (``"GE"``); ``"*"`` prices every country not listed. In
    TOML (``PriceTable.from_toml``)::

        [prices."gosms.ro"]
        RO = "0.035 EUR"
        "*" = "0.09 EUR"

    smsgate ships no prices: they are per contract, and a wrong built-in price would make a
    budget wrong without anyone noticing.
    """

    def __init__(self, prices: Mapping[str, Mapping[str, Price]]) -> None:
        self._prices = {name: dict(by_country) for name, by_country in prices.items()}

    def __repr__(self) -> str:
        return f"<PriceTable providers={sorted(self._prices)}>"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceTable:
        """From ``{provider: {country: price}}``, or ``{"prices": {...}}`` (a config file)."""
        if not isinstance(data, Mapping):
            raise ConfigurationError("prices: give a table of provider -> country -> price")
        if set(data) == {"prices"}:
            data = data["prices"]
            if not isinstance(data, Mapping):
                raise ConfigurationError("prices: give a table of provider -> country -> price")
        table: dict[str, dict[str, Price]] = {}
        for name, by_country in data.items():
            if not isinstance(name, str) or not isinstance(by_country, Mapping):
                raise ConfigurationError(f"prices.{name}: give a table of country -> price")
            row: dict[str, Price] = {}
            for country, value in by_country.items():
                if not isinstance(country, str) or not (
                    country == "*" or re.fullmatch(r"[A-Za-z]{2}|001", country)
                ):
                    raise ConfigurationError(
                        f"prices.{name}: {country!r} is not an ISO country code or \"*\"")
                row[country.upper()] = Price.parse(value, f"prices.{name}.{country}")
            table[name] = row
        return cls(table)

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> PriceTable:
        """From a TOML file (a path) holding a ``[prices]`` table (see the class doc)."""
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        with open(source, "rb") as handle:
            return cls.from_dict(tomllib.load(handle))

    def price(self, provider: str, country: str) -> Price | None:
        """The price of one segment through ``provider`` to ``country``; ``None`` if unknown."""
        row = self._prices.get(provider)
        if row is None:
            return None
        return row.get(country) or row.get("*")

    @property
    def providers(self) -> frozenset[str]:
        return frozenset(self._prices)


def _documented_count(text: str) -> tuple[str, int]:
    """The parts a provider bills by the arithmetic its document states: GSM-7 septets
    (an extension character counts two) 160 alone / 153 a part, else UTF-16 units 70 / 67,
    each part filled to the last unit (no rule about pairs at a part's end is documented)."""
    info = segments(text)
    if info.units == 0:
        return info.encoding, 0
    single, multi = (160, 153) if info.encoding == GSM7 else (70, 67)
    return info.encoding, 1 if info.units <= single else math.ceil(info.units / multi)


def _gosms_ro(text: str) -> tuple[str, int]:
    from .providers.gosms_ro import gosms_ro_segments

    return gosms_ro_segments(text)


#: Providers that bill by a count of their own. GoSMS.ro: ISO-8859-1 160/153, its "2-byte
#: encoding" 70/63. SMSGist ("GSM-7 160 / 153 per segment; UCS-2 70 / 67; extended
#: characters count as 2") and GOSMS.GE ("918 chars = 6 SMS; 402 chars = 6 SMS"): the
#: documented arithmetic. Everyone else: smsgate's exact GSM 03.38 counter.
_COUNTERS: Final[Mapping[str, Callable[[str], tuple[str, int]]]] = {
    "gosms.ro": _gosms_ro,
    "smsgist": _documented_count,
    "gosms.ge": _documented_count,
}


def count_segments(provider: str, text: str) -> tuple[str, int]:
    """``(encoding, parts)`` of ``text`` as ``provider`` (a registry name) bills it."""
    counter = _COUNTERS.get(provider)
    if counter is not None:
        return counter(text)
    info = segments(text)
    return info.encoding, info.segments


@attrs.frozen
class RecipientEstimate:
    """What one recipient's message will cost through the provider that would send it."""

    phone: str
    provider: str
    encoding: str
    segments: int
    price: Price | None
    #: ``price * segments``; ``None`` when the table has no price for the route.
    cost: Decimal | None


@attrs.frozen
class Estimate:
    """The cost of a send before it is made (:func:`estimate`)."""

    recipients: tuple[RecipientEstimate, ...]

    @property
    def costs(self) -> dict[str, Decimal]:
        """Currency -> total, over the priced recipients."""
        totals: dict[str, Decimal] = {}
        for item in self.recipients:
            if item.price is not None and item.cost is not None:
                totals[item.price.currency] = totals.get(item.price.currency, Decimal(0)) \
                    + item.cost
        return totals

    @property
    def cost(self) -> Decimal | None:
        """The total when every recipient is priced in one currency, else ``None``."""
        costs = self.costs
        if self.unpriced or len(costs) != 1:
            return None
        return next(iter(costs.values()))

    @property
    def currency(self) -> str | None:
        costs = self.costs
        return next(iter(costs)) if len(costs) == 1 else None

    @property
    def segments(self) -> int:
        """SMS parts over all recipients."""
        return sum(item.segments for item in self.recipients)

    @property
    def unpriced(self) -> tuple[str, ...]:
        """Recipients (E.164) the table has no price for."""
        return tuple(item.phone for item in self.recipients if item.price is None)


def _reaches(provider: SmsProvider, region: str) -> bool:
    allowed = getattr(provider, "allowed_regions", None)
    return allowed is None or region in allowed


def _chain_of(target: SmsProvider) -> Callable[[str], Sequence[SmsProvider]]:
    """Who would be asked to send to a number, in order (a gateway's route or the provider)."""
    routes = getattr(target, "routes", None)
    providers = getattr(target, "providers", None)
    if isinstance(routes, Mapping) and isinstance(providers, tuple):
        return lambda number: tuple(routes.get(region_of(number), providers))
    return lambda number: (target,)


def estimate(
    target: SmsProvider, to: str | Sequence[str], text: str, *,
    prices: PriceTable | None = None,
) -> Estimate:
    """What sending ``text`` to ``to`` through ``target`` (a provider or a
    :class:`~smsgate.Gateway`) will cost, before anything is sent.

    Each recipient is priced through the provider that would be asked first (a gateway's
    route for its country, the first provider of the chain that reaches it), with that
    provider's own segment counting (:func:`count_segments`). A failover to another provider
    would cost that provider's price. ``prices`` defaults to the ``prices`` of the target's
    :class:`SendPolicy`.

    Raises:
        ConfigurationError: no price table was given or found.
        InvalidPhoneNumber, ValidationError: a number or the text is not valid.
    """
    if prices is None:
        prices = getattr(getattr(target, "policy", None), "prices", None)
    if not isinstance(prices, PriceTable):
        raise ConfigurationError("estimate needs a PriceTable: prices=, or a SendPolicy with "
                                 "prices= on the target")
    if not isinstance(text, str):
        raise ValidationError(f"text must be a string, not {type(text).__name__}")
    region = getattr(target, "region", None) or getattr(target, "home_region", None)
    numbers = [to] if isinstance(to, str) else list(to)
    chain_of = _chain_of(target)
    items = []
    for number in dict.fromkeys(normalize_phone(n, region) for n in numbers):
        country = region_of(number)
        chain = chain_of(number)
        provider = next((p for p in chain if _reaches(p, country)), chain[0] if chain else None)
        if provider is None:
            raise ValidationError(f"no provider would send to {mask_phone(number)}")
        encoding, parts = count_segments(provider.name, text)
        price = prices.price(provider.name, country)
        items.append(RecipientEstimate(
            phone=number, provider=provider.name, encoding=encoding, segments=parts,
            price=price, cost=None if price is None else price.amount * parts))
    return Estimate(recipients=tuple(items))


def with_estimate(result: SendResult, text: str, prices: PriceTable | None) -> SendResult:
    """``result`` with :attr:`~smsgate.SendResult.estimated_costs`: what its accepted
    recipients were expected to cost through the provider that accepted them, by ``prices``
    and that provider's own segment counting, next to what the provider reported (``costs``).

    Left as it is without prices, or when a recipient's route has no price (an estimate of
    part of a send would read as the whole).
    """
    if prices is None or "," in result.provider:
        return result
    accepted = [r.phone for r in result.recipients if r.accepted]
    if not accepted:
        return result
    _, parts = count_segments(result.provider, text)
    total: dict[str, Decimal] = {}
    for phone in accepted:
        price = prices.price(result.provider, region_of(phone))
        if price is None:
            return result
        total[price.currency] = total.get(price.currency, Decimal(0)) + price.amount * parts
    return attrs.evolve(result, estimated_costs=total)


# -- quiet hours and spending limits ----------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _country_zones() -> Mapping[str, tuple[str, ...]]:
    """Country -> its time zones, from the IANA ``zone.tab`` (the ``tzdata`` package, or
    the system's zoneinfo)."""
    text: str | None = None
    try:
        text = importlib.resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text(
            encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        for folder in zoneinfo.TZPATH:
            path = os.path.join(folder, "zone.tab")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
                break
    zones: dict[str, list[str]] = {}
    for line in (text or "").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) >= 3:
            zones.setdefault(fields[0], []).append(fields[2])
    return {country: tuple(names) for country, names in zones.items()}


def _clock_time(value: object, what: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value):
        hours, minutes = map(int, value.split(":"))
        if hours < 24 and minutes < 60:
            return dt.time(hours, minutes)
    raise ConfigurationError(f"quiet hours: {what} is a time of day such as \"21:00\"")


def _start_time(value: object) -> dt.time:
    return _clock_time(value, "start")


def _end_time(value: object) -> dt.time:
    return _clock_time(value, "end")


def _country_set(value: Iterable[str] | None) -> frozenset[str] | None:
    return _countries(value, "quiet hours countries")


def _zone_map(value: Mapping[str, str]) -> dict[str, str]:
    zones = {str(country).upper(): str(name) for country, name in dict(value).items()}
    for name in zones.values():
        zoneinfo.ZoneInfo(name)  # a bad name fails now, not at the first send
    return zones


@attrs.frozen
class QuietHours:
    """Hours, in the recipient's local time, in which a send is refused.

    ``start`` to ``end`` (``"21:00"`` to ``"08:00"`` spans midnight). The local time is the
    recipient country's (IANA ``zone.tab``); in a country with several zones a send is
    refused when it is quiet time in **any** of them (smsgate knows the country, not the
    town). ``zones`` names a country's zone where you know better (``{"US":
    "America/New_York"}``); a country with no known zone is refused (reason
    ``"quiet-hours"``) rather than guessed. A send with ``schedule_at`` is judged at that
    time. ``countries`` limits the rule to those countries (``None``: every country).
    """

    start: dt.time = attrs.field(default=dt.time(21, 0), converter=_start_time)
    end: dt.time = attrs.field(default=dt.time(8, 0), converter=_end_time)
    countries: frozenset[str] | None = attrs.field(default=None, converter=_country_set)
    zones: Mapping[str, str] = attrs.field(factory=dict, converter=_zone_map)

    def quiet(self, country: str, at: float) -> bool | None:
        """Whether ``at`` (epoch seconds) is quiet for ``country``; ``None``: no zone known."""
        if self.countries is not None and country not in self.countries:
            return False
        names = (self.zones[country],) if country in self.zones else \
            _country_zones().get(country, ())
        if not names:
            return None
        for name in names:
            local = dt.datetime.fromtimestamp(at, zoneinfo.ZoneInfo(name)).time()
            if self.start <= self.end:
                inside = self.start <= local < self.end
            else:
                inside = local >= self.start or local < self.end
            if inside:
                return True
        return False


Period = Literal["day", "month", "total"]


def _spend_amount(value: object) -> Decimal:
    return _money(value, "spend limit")


def _limit_currency(value: object) -> str:
    return _currency(value, "spend limit")


@attrs.frozen
class SpendLimit:
    """At most ``amount`` of ``currency`` reserved per ``per`` (``"day"``, ``"month"`` or
    ``"total"``, the last for a campaign), under ``name`` in ``store``.

    Reservations are atomic in the store (:class:`~smsgate.guards.BudgetStore`): processes
    sharing a :class:`~smsgate.guards.SqliteBudgetStore` (one host) never reserve more than
    ``amount`` together. Each send reserves the highest price of the providers that could
    send it (failover included) times its segments, before any request; a send that
    provably sent nothing gives it back. Days and months are counted in ``timezone``.
    """

    amount: Decimal = attrs.field(converter=_spend_amount)
    currency: str = attrs.field(converter=_limit_currency)
    per: Period = "day"
    name: str = "default"
    timezone: str = "UTC"
    store: BudgetStore = attrs.field(factory=MemoryBudgetStore, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.per not in ("day", "month", "total"):
            raise ConfigurationError("SpendLimit.per is \"day\", \"month\" or \"total\"")
        if not isinstance(self.store, BudgetStore):
            raise ConfigurationError("SpendLimit.store must be a BudgetStore")
        zoneinfo.ZoneInfo(self.timezone)  # a bad name fails now, not at the first send

    def key(self, at: float) -> str:
        """The store key spending at ``at`` (epoch seconds) counts under."""
        if self.per == "total":
            return f"{self.name}:total"
        local = dt.datetime.fromtimestamp(at, zoneinfo.ZoneInfo(self.timezone))
        return f"{self.name}:{local:%Y-%m-%d}" if self.per == "day" else \
            f"{self.name}:{local:%Y-%m}"


# -- the policy -------------------------------------------------------------------------------

RateSpec = Rate | Sequence[Rate]


def _rates(value: object, what: str) -> tuple[Rate, ...]:
    if value is None:
        return ()
    if isinstance(value, Rate):
        return (value,)
    if isinstance(value, str):
        return (Rate.parse(value),)
    if isinstance(value, Sequence) and all(isinstance(r, (Rate, str)) for r in value):
        return tuple(r if isinstance(r, Rate) else Rate.parse(r) for r in value)
    raise ConfigurationError(f"{what}: give a Rate, \"10/hour\", or a list of them")


def _types(value: Iterable[str] | None, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    chosen = frozenset(str(v).lower() for v in value)
    unknown = chosen - NUMBER_TYPES
    if unknown:
        raise ConfigurationError(f"{what}: unknown number types {sorted(unknown)}; the types "
                                 f"are {sorted(NUMBER_TYPES)}")
    return chosen


def _countries(value: Iterable[str] | None, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    chosen = frozenset(str(v).upper() for v in value)
    for country in chosen:
        if not re.fullmatch(r"[A-Z]{2}|001", country):
            raise ConfigurationError(f"{what}: {country!r} is not an ISO country code")
    return chosen


@attrs.frozen
class Verdict:
    """What a policy decided about one send.

    Attributes:
        refused: the refused recipients (E.164) and why; the others may go.
        reserved: spending reserved for the others, as ``(store, key, amount)``, to give
            back (:meth:`SendPolicy.plan_release`) if the send provably sends nothing.
    """

    refused: Mapping[str, PolicyViolation] = attrs.field(factory=dict)
    reserved: tuple[tuple[BudgetStore, str, Decimal], ...] = ()


_NO_REFUSAL: Final = Verdict()


class SendPolicy:
    """What may be sent, checked in the send plan before any request.

    Every rule is per recipient; a refused recipient is reported (``REJECTED``) and the rest
    of a list still goes; a send whose recipients are all refused raises the first refusal
    (a :class:`~smsgate.PolicyViolation`: nothing sent, no failover). Rules run cheapest
    first, and a refused recipient touches no further store: number type, country, quiet
    hours, suppression list, velocity, spending.

    Args:
        deny_types: number types refused (:data:`NUMBER_TYPES`); default premium rate and
            shared cost. ``deny_types=()`` allows them.
        allow_types: when given, only these types are sent (for OTP: ``{"mobile",
            "fixed_line_or_mobile"}``).
        allow_countries: when given, only these countries (ISO codes) are sent to.
        deny_countries: countries never sent to.
        per_number, per_prefix, per_country: velocity limits, a :class:`~smsgate.stores.Rate`
            (``"3/10min"`` is not a rate; write ``Rate(3, 600)`` or ``"3/600s"``) or a list
            of them; ``per_country`` may also map a country to its own. A send that would
            pass one is refused (reason ``"velocity"``); a refused send books nothing.
        prefix_digits: the prefix of ``per_prefix`` is the number without its last
            ``prefix_digits`` digits (4: a block of 10,000 consecutive numbers, the shape of
            the ranges pumping walks through).
        limiter: where the velocity counters live (default: a
            :class:`~smsgate.stores.MemoryRateLimiter` of this policy's own); share one
            (Redis) across a fleet.
        suppression: a :class:`~smsgate.guards.SuppressionList`; a listed number is
            refused with :class:`~smsgate.Suppressed`.
        quiet_hours: a :class:`QuietHours`; a send in them is refused.
        spend_limits: :class:`SpendLimit` values; a send that would pass one is refused
            with :class:`~smsgate.BudgetExceeded`. Needs ``prices``.
        prices: a :class:`PriceTable` (for spending limits and :func:`estimate`).
        wall_clock: epoch seconds (quiet hours, budget days); injectable for tests.
        namespace: prefix of this policy's keys in a shared limiter.
    """

    def __init__(
        self,
        *,
        deny_types: Iterable[str] = DEFAULT_DENIED_TYPES,
        allow_types: Iterable[str] | None = None,
        allow_countries: Iterable[str] | None = None,
        deny_countries: Iterable[str] = (),
        per_number: RateSpec | None = None,
        per_prefix: RateSpec | None = None,
        per_country: RateSpec | Mapping[str, RateSpec] | None = None,
        prefix_digits: int = 4,
        limiter: RateLimiter | None = None,
        suppression: SuppressionList | None = None,
        quiet_hours: QuietHours | None = None,
        spend_limits: Sequence[SpendLimit] = (),
        prices: PriceTable | None = None,
        wall_clock: Callable[[], float] = time.time,
        namespace: str = "smsgate.policy",
    ) -> None:
        self.deny_types = _types(deny_types, "deny_types") or frozenset()
        self.allow_types = _types(allow_types, "allow_types")
        self.allow_countries = _countries(allow_countries, "allow_countries")
        self.deny_countries = _countries(deny_countries, "deny_countries") or frozenset()
        self.per_number = _rates(per_number, "per_number")
        self.per_prefix = _rates(per_prefix, "per_prefix")
        if isinstance(per_country, Mapping):
            self.per_country: tuple[Rate, ...] = ()
            self.country_rates = {str(c).upper(): _rates(r, f"per_country[{c}]")
                                  for c, r in per_country.items()}
        else:
            self.per_country = _rates(per_country, "per_country")
            self.country_rates = {}
        if isinstance(prefix_digits, bool) or not isinstance(prefix_digits, int) or not (
            1 <= prefix_digits <= 8
        ):
            raise ConfigurationError("prefix_digits is a whole number from 1 to 8")
        self.prefix_digits = prefix_digits
        has_rates = bool(self.per_number or self.per_prefix or self.per_country
                         or self.country_rates)
        if limiter is not None and not isinstance(limiter, RateLimiter):
            raise ConfigurationError("limiter must be a RateLimiter")
        self.limiter: RateLimiter | None = limiter if limiter is not None else (
            MemoryRateLimiter() if has_rates else None)
        if suppression is not None and not isinstance(suppression, SuppressionList):
            raise ConfigurationError("suppression must be a SuppressionList")
        self.suppression = suppression
        if quiet_hours is not None and not isinstance(quiet_hours, QuietHours):
            raise ConfigurationError("quiet_hours must be a QuietHours")
        self.quiet_hours = quiet_hours
        self.spend_limits = tuple(spend_limits)
        for limit in self.spend_limits:
            if not isinstance(limit, SpendLimit):
                raise ConfigurationError("spend_limits takes SpendLimit values")
        if prices is not None and not isinstance(prices, PriceTable):
            raise ConfigurationError("prices must be a PriceTable")
        if self.spend_limits and prices is None:
            raise ConfigurationError("a spending limit needs prices= (a PriceTable)")
        self.prices = prices
        self.wall_clock = wall_clock
        self.namespace = namespace
        self._stateless = not (has_rates or suppression or quiet_hours or self.spend_limits)

    def __repr__(self) -> str:
        parts = [f"deny_types={sorted(self.deny_types)}"]
        if self.allow_types is not None:
            parts.append(f"allow_types={sorted(self.allow_types)}")
        if self.allow_countries is not None:
            parts.append(f"allow_countries={sorted(self.allow_countries)}")
        return f"SendPolicy({', '.join(parts)})"

    # -- recommended policies ---------------------------------------------------------------
    @classmethod
    def recommended_otp(
        cls, *, allow_countries: Iterable[str] | None = None, **overrides: Any
    ) -> SendPolicy:
        """The policy ``docs/guards.md`` recommends for one-time codes (user-triggered).

        Mobile numbers only; per number 3 in 10 minutes and 10 a day; per 10,000-number
        block 10 an hour and 30 a day (pumping walks consecutive numbers); premium rate and
        shared cost
        refused (they are not mobile anyway). No quiet hours: the user is waiting for the
        code. Name the countries you serve in ``allow_countries``. Any argument of
        :class:`SendPolicy` overrides (a shared ``limiter=`` for a fleet).
        """
        settings: dict[str, Any] = {
            "allow_types": ("mobile", "fixed_line_or_mobile"),
            "allow_countries": allow_countries,
            "per_number": (Rate(3, 600.0), Rate(10, 86_400.0)),
            "per_prefix": (Rate(10, 3_600.0), Rate(30, 86_400.0)),
            "prefix_digits": 4,
        }
        settings.update(overrides)
        return cls(**settings)

    @classmethod
    def recommended_campaign(
        cls, *, allow_countries: Iterable[str] | None = None, **overrides: Any
    ) -> SendPolicy:
        """The policy ``docs/guards.md`` recommends for campaigns (marketing, notices).

        Premium rate, shared cost, toll-free, UAN and pagers refused; quiet hours 21:00 to
        08:00 in the recipient's country; per number 2 a day (a campaign never texts anyone
        three times a day). Add ``suppression=`` (opt-outs), ``spend_limits=`` and
        ``prices=`` for the campaign's budget, and ``allow_countries``.
        """
        settings: dict[str, Any] = {
            "deny_types": ("premium_rate", "shared_cost", "toll_free", "uan", "pager"),
            "allow_countries": allow_countries,
            "quiet_hours": QuietHours(),
            "per_number": Rate(2, 86_400.0),
        }
        settings.update(overrides)
        return cls(**settings)

    # -- from configuration ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, limiter: RateLimiter | None = None,
                  where: str = "policy") -> SendPolicy:
        """A policy from a configuration table (a ``[policy]`` table of TOML)::

            recommended = "otp"                  # or "campaign": start from that policy
            allow_countries = ["GE", "RO"]
            per_number = ["3/600s", "10/day"]
            per_prefix = "10/hour"
            quiet_hours = { start = "21:00", end = "08:00" }
            suppression = "/var/lib/shop/optout.db"          # an SQLite suppression list
            spend_limits = [{ amount = "50", currency = "EUR", per = "day",
                              store = "/var/lib/shop/budget.db" }]   # SQLite, or "memory"
            prices = { "gosms.ro" = { RO = "0.035 EUR" } }

        Every other key is an argument of :class:`SendPolicy`; an unknown key is refused.
        ``limiter`` is the counters' store (a fleet's shared one).
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{where}: expected a table")
        settings = dict(data)
        base = settings.pop("recommended", None)
        known = {"deny_types", "allow_types", "allow_countries", "deny_countries",
                 "per_number", "per_prefix", "per_country", "prefix_digits", "quiet_hours",
                 "suppression", "spend_limits", "prices", "namespace"}
        unknown = sorted(str(key) for key in set(settings) - known)
        if unknown:
            raise ConfigurationError(f"{where}: unknown key(s) {', '.join(unknown)}; the keys "
                                     f"are recommended, {', '.join(sorted(known))}")
        if limiter is not None:
            settings["limiter"] = limiter
        quiet = settings.get("quiet_hours")
        if isinstance(quiet, Mapping):
            try:
                settings["quiet_hours"] = QuietHours(**quiet)
            except TypeError as exc:
                raise ConfigurationError(f"{where}.quiet_hours: {exc}") from None
        suppression = settings.get("suppression")
        if isinstance(suppression, str):
            settings["suppression"] = SqliteSuppressionList(suppression)
        if "prices" in settings:
            settings["prices"] = PriceTable.from_dict(settings["prices"])
        limits = []
        for index, entry in enumerate(settings.get("spend_limits", ())):
            if not isinstance(entry, Mapping):
                raise ConfigurationError(f"{where}.spend_limits[{index}]: expected a table")
            given = dict(entry)
            store = given.pop("store", "memory")
            given["store"] = MemoryBudgetStore() if store == "memory" else \
                SqliteBudgetStore(store)
            try:
                limits.append(SpendLimit(**given))
            except TypeError as exc:
                raise ConfigurationError(f"{where}.spend_limits[{index}]: {exc}") from None
        if limits:
            settings["spend_limits"] = limits
        if base is None:
            return cls(**settings)
        if base == "otp":
            return cls.recommended_otp(**settings)
        if base == "campaign":
            return cls.recommended_campaign(**settings)
        raise ConfigurationError(f"{where}.recommended: \"otp\" or \"campaign\", not {base!r}")

    # -- the checks ---------------------------------------------------------------------------
    def _static(self, number: str) -> PolicyViolation | None:
        """Type and country: pure."""
        country = region_of(number)
        if self.allow_countries is not None and country not in self.allow_countries:
            return PolicyViolation(
                f"{mask_phone(number)} is in {country}, not a country this policy sends to",
                reason="country", recipient=number)
        if country in self.deny_countries:
            return PolicyViolation(f"{mask_phone(number)} is in {country}, which this policy "
                                   "refuses", reason="country", recipient=number)
        if self.allow_types is not None or (
            self.deny_types and number_type_in(number, self.deny_types)
        ):
            kind = number_type(number)
            if kind in self.deny_types or (
                self.allow_types is not None and kind not in self.allow_types
            ):
                hint = " (allow it with SendPolicy(deny_types=...))" \
                    if kind in DEFAULT_DENIED_TYPES else ""
                return PolicyViolation(
                    f"{mask_phone(number)} is a {kind.replace('_', '-')} number, which the "
                    f"send policy refuses{hint}", reason="number-type", recipient=number)
        return None

    def _refuses_none(self, numbers: list[str]) -> bool:
        """``True`` when :meth:`_static` refuses none of ``numbers``, decided for the whole
        list at once (a bulk send of 10,000 numbers of one country, all validated); ``False``
        means "check each". Decided only where the per-number answer is provably "none":
        every number remembered as validated and of one region that the country rules let
        through, no ``allow_types``, and no number matching the deny types' patterns."""
        if self.allow_types is not None or len(numbers) < 16:
            return False
        regions = remembered_regions(numbers)
        if regions is None or len(regions) != 1:
            return False
        (country,) = regions
        if self.allow_countries is not None and country not in self.allow_countries:
            return False
        if country in self.deny_countries:
            return False
        return not self.deny_types or _none_among(numbers, self.deny_types)

    def _rate_keys(self, number: str) -> list[tuple[str, Rate]]:
        keys: list[tuple[str, Rate]] = []
        space = self.namespace
        for rate in self.per_number:
            keys.append((f"{space}:number:{rate.count}/{rate.period:g}:{number}", rate))
        prefix = number[:-self.prefix_digits]
        for rate in self.per_prefix:
            keys.append((f"{space}:prefix{self.prefix_digits}:{rate.count}/{rate.period:g}:"
                         f"{prefix}", rate))
        country = region_of(number)
        for rate in self.country_rates.get(country, self.per_country):
            keys.append((f"{space}:country:{rate.count}/{rate.period:g}:{country}", rate))
        return keys

    def _price_of(
        self, number: str, text: str, limit: SpendLimit,
        providers: Callable[[str], Sequence[SmsProvider]] | None,
    ) -> Decimal | None:
        """The most this recipient's message can cost in ``limit``'s currency: the highest
        price among the providers that could send it (failover included)."""
        assert self.prices is not None
        country = region_of(number)
        names = [p.name for p in providers(number)] if providers is not None else \
            sorted(self.prices.providers)
        amounts = []
        for name in names:
            price = self.prices.price(name, country)
            if price is not None and price.currency == limit.currency:
                amounts.append(price.amount * count_segments(name, text)[1])
        return max(amounts) if amounts else None

    def _verdict_now(self, recipients: Sequence[str]) -> Verdict | None:
        """:meth:`plan_check`'s verdict, reached without running a plan, for a policy that
        keeps no state (no velocity, suppression, quiet hours or spending: the default
        policy): it only reads the numbers, so the verdict is the number-type and country
        rules' alone, the same object :meth:`plan_check` returns. ``None``: the policy has
        state, run :meth:`plan_check`. One recipient (the usual send) is checked directly,
        as :meth:`plan_check` checks a list of fewer than 16 (a test compares the two)."""
        if not self._stateless:
            return None
        if len(recipients) == 1:
            number = recipients[0]
            refusal = self._static(number)
            return _NO_REFUSAL if refusal is None else Verdict(refused={number: refusal})
        refused: dict[str, PolicyViolation] = {}
        waiting = list(dict.fromkeys(recipients))
        if not self._refuses_none(waiting):
            for number in waiting:
                refusal = self._static(number)
                if refusal is not None:
                    refused[number] = refusal
        return Verdict(refused=refused) if refused else _NO_REFUSAL

    def plan_check(
        self, recipients: Sequence[str], text: str, options: Mapping[str, Any], *,
        providers: Callable[[str], Sequence[SmsProvider]] | None = None,
        dry_run: bool = False,
    ) -> Plan[Verdict]:
        """The policy step of a send plan: refusals per recipient (E.164, validated), and
        the spending reserved for the others. Store operations are ``Call`` effects.

        ``providers`` says who could send to a number (a gateway's chain), for prices.
        ``dry_run`` changes nothing anywhere: velocity is only looked at and spending only
        compared with what is reserved (``smsgate send --dry-run``).
        """
        refused: dict[str, PolicyViolation] = {}
        waiting: list[str] = list(dict.fromkeys(recipients))
        if not self._refuses_none(waiting):  # else: each number, as below, refuses none
            numbers, waiting = waiting, []
            for number in numbers:
                refusal = self._static(number)
                if refusal is None:
                    waiting.append(number)
                else:
                    refused[number] = refusal
        if self._stateless or not waiting:
            return Verdict(refused=refused) if refused else _NO_REFUSAL
        now: float | None = None
        if self.quiet_hours is not None or self.spend_limits:
            now = yield Call(self.wall_clock)
        if self.quiet_hours is not None:
            at = now
            scheduled = options.get("schedule_at")
            if isinstance(scheduled, dt.datetime) and scheduled.utcoffset() is not None:
                at = scheduled.timestamp()
            assert at is not None
            for number in list(waiting):
                country = region_of(number)
                quiet = self.quiet_hours.quiet(country, at)
                if quiet is None or quiet:
                    why = "it is quiet hours there" if quiet else \
                        "its local time is unknown (give QuietHours(zones=...))"
                    refused[number] = PolicyViolation(
                        f"{mask_phone(number)} ({country}): {why}", reason="quiet-hours",
                        recipient=number)
                    waiting.remove(number)
        if self.suppression is not None and waiting:
            listed: frozenset[str] = yield Call(self.suppression.suppressed, (tuple(waiting),))
            for number in [n for n in waiting if n in listed]:
                refused[number] = Suppressed(f"{mask_phone(number)} is on the suppression list",
                                             reason="suppressed", recipient=number)
                waiting.remove(number)
        if self.limiter is not None and waiting:
            limiter = self.limiter
            for number in list(waiting):
                keys = self._rate_keys(number)
                busy = False
                for key, rate in keys:  # look first: a refused send books nothing
                    wait: float = yield Call(limiter.peek, (key, rate))
                    if wait > 0:
                        busy = True
                        break
                if not busy and not dry_run:
                    for key, rate in keys:
                        wait = yield Call(limiter.reserve, (key, rate), {"max_wait": 0.0})
                        if wait > 0:  # another sender took the last slot meanwhile
                            busy = True
                            break
                if busy:
                    refused[number] = PolicyViolation(
                        f"{mask_phone(number)}: over the send policy's velocity limit",
                        reason="velocity", recipient=number)
                    waiting.remove(number)
        reserved: list[tuple[BudgetStore, str, Decimal]] = []
        if self.spend_limits and waiting:
            assert now is not None
            for number in list(waiting):
                mine: list[tuple[BudgetStore, str, Decimal]] = []
                over: PolicyViolation | None = None
                ok: bool
                for limit in self.spend_limits:
                    amount = self._price_of(number, text, limit, providers)
                    if amount is None:
                        over = PolicyViolation(
                            f"{mask_phone(number)}: no price in {limit.currency} for the "
                            f"providers that would send it; a spending limit cannot be kept "
                            "without one", reason="price", recipient=number)
                        break
                    key = limit.key(now)
                    if dry_run:
                        spent: Decimal = yield Call(limit.store.spent, (key,))
                        ok = spent + amount <= limit.amount
                    else:
                        ok = yield Call(limit.store.reserve, (key, amount, limit.amount))
                    if not ok:
                        over = BudgetExceeded(
                            f"{mask_phone(number)}: sending would pass the spending limit "
                            f"{limit.name!r} ({limit.amount} {limit.currency} per {limit.per})",
                            reason="budget", recipient=number)
                        break
                    if not dry_run:
                        mine.append((limit.store, key, amount))
                if over is None:
                    if not dry_run:
                        reserved.extend(mine)
                    continue
                for store, key, amount in mine:
                    yield Call(store.release, (key, amount))
                refused[number] = over
                waiting.remove(number)
        return Verdict(refused=refused, reserved=tuple(reserved))

    def plan_release(self, verdict: Verdict) -> Plan[None]:
        """Give back the spending ``verdict`` reserved (its send provably sent nothing)."""
        for store, key, amount in verdict.reserved:
            yield Call(store.release, (key, amount))

    def check(self, recipients: Sequence[str], text: str, options: Mapping[str, Any]) -> None:
        """The whole policy at once, as a simple hook: raise the first refusal (nothing is
        reserved then), else return with the spending reserved."""
        numbers = [normalize_phone(n) for n in recipients]
        verdict = run(self.plan_check(numbers, text, options))
        if verdict.refused:
            run(self.plan_release(verdict))
            raise next(verdict.refused[n] for n in numbers if n in verdict.refused)


def verdict_now(policy: Any, recipients: Sequence[str]) -> Verdict | None:
    """What ``policy``'s own :meth:`SendPolicy.plan_check` would return for
    ``recipients``, when that is known without running it (a :class:`SendPolicy` whose
    ``plan_check`` is the class's own and which keeps no state); else ``None``."""
    if getattr(type(policy), "plan_check", None) is not SendPolicy.plan_check or \
            "plan_check" in getattr(policy, "__dict__", ()):
        return None
    verdict: Verdict | None = policy._verdict_now(recipients)
    return verdict


#: The policy of every send that names none: premium-rate and shared-cost numbers refused.
#: Allow them for a provider with ``provider.policy = SendPolicy(deny_types=())``, for a
#: gateway with ``Gateway(..., policy=SendPolicy(deny_types=()))``.
DEFAULT_POLICY: Final = SendPolicy()


# -- the policy step of a plan ---------------------------------------------------------------


def preview(
    target: SmsProvider, recipients: Sequence[str], text: str,
    options: Mapping[str, Any] | None = None,
) -> Verdict:
    """What ``target``'s policy (a gateway's ``policy=``, a provider's ``policy``, else
    :data:`DEFAULT_POLICY`) would refuse, changing nothing: no velocity slot booked, no
    spending reserved (``smsgate send --dry-run``). ``recipients`` are E.164."""
    policy: Any = getattr(target, "policy", None)
    policy = DEFAULT_POLICY if policy is None else policy
    plan_check = getattr(policy, "plan_check", None)
    given = dict(options or {})
    if plan_check is None:  # a simple hook is pure by contract: ask it about each number
        refused: dict[str, PolicyViolation] = {}
        for number in recipients:
            try:
                policy.check((number,), text, given)
            except PolicyViolation as refusal:
                refused[number] = refusal
            except ValidationError as refusal:
                refused[number] = PolicyViolation(str(refusal), recipient=number)
        return Verdict(refused=refused)
    verdict: Verdict = run(plan_check(tuple(recipients), text, given,
                                      providers=_chain_of(target), dry_run=True))
    return verdict


def first_refusal(numbers: Sequence[str], verdict: Verdict) -> PolicyViolation | None:
    """The refusal to raise when every one of ``numbers`` is refused, else ``None``."""
    if not verdict.refused or any(n not in verdict.refused for n in numbers):
        return None
    return verdict.refused[numbers[0]]


def with_refusals(result: SendResult, numbers: Sequence[str], verdict: Verdict) -> SendResult:
    """``result`` (of the recipients the policy let through) with each refused recipient
    added as ``REJECTED``, the refusal in ``error``, all in the order of ``numbers``."""
    sent = iter(result.recipients)
    merged: list[RecipientResult] = []
    for number in numbers:
        refusal = verdict.refused.get(number)
        if refusal is not None:
            merged.append(RecipientResult(phone=number, status=Status.REJECTED,
                                          error=f"send policy ({refusal.reason}): {refusal}"))
        else:
            merged.append(next(sent, RecipientResult(
                phone=number, status=Status.UNKNOWN,
                error=f"{result.provider} did not report on this recipient")))
    merged.extend(sent)
    return attrs.evolve(result, recipients=merged)


def _refused(refusal: ValidationError) -> None:
    """The ``policy-refusal`` row of the decision table, which a refusal always fires."""
    from ._decisions import Action, Facts, decide

    fired = decide(Facts("policy", refusal))
    assert fired.action is Action.RAISE


def _options_of(outgoing: Outgoing) -> dict[str, Any]:
    return {"sender": outgoing.sender, "urgent": outgoing.urgent,
            "schedule_at": outgoing.schedule_at, "validity": outgoing.validity,
            "reference": outgoing.reference, "flash": outgoing.flash,
            "priority": outgoing.priority, "extra": outgoing.extra}


def plan_guarded_send(
    provider: ProviderBase, outgoing: Outgoing, policy: Any = None, *,
    deadline: float | None = None,
) -> Plan[SendResult]:
    """A provider's own send under ``policy`` (``None``: :data:`DEFAULT_POLICY`): the
    policy step, then :meth:`~smsgate.providers.HttpProvider.plan_send` for the recipients
    it let through."""
    policy = DEFAULT_POLICY if policy is None else policy
    plan_check = getattr(policy, "plan_check", None)
    if plan_check is None:  # a simple hook: check(recipients, text, options)
        try:
            policy.check(outgoing.recipients, outgoing.text, _options_of(outgoing))
        except ValidationError as refusal:
            _refused(refusal)
            raise
        result: SendResult = yield from provider.plan_send(outgoing, deadline=deadline)
        return result
    prices = getattr(policy, "prices", None)
    verdict = verdict_now(policy, outgoing.recipients)  # the default policy: no plan to run
    if verdict is None:
        verdict = yield from plan_check(
            outgoing.recipients, outgoing.text, _options_of(outgoing),
            providers=lambda number: (provider,))
    if not verdict.refused and not verdict.reserved:
        result = yield from provider.plan_send(outgoing, deadline=deadline)
        return with_estimate(result, outgoing.text, prices)
    every = first_refusal(outgoing.recipients, verdict)
    if every is not None:
        _refused(every)
        raise every
    kept = [i for i, n in enumerate(outgoing.recipients) if n not in verdict.refused]
    going = outgoing if len(kept) == len(outgoing.recipients) else attrs.evolve(
        outgoing, recipients=tuple(outgoing.recipients[i] for i in kept),
        wire_numbers=tuple(outgoing.wire_numbers[i] for i in kept))
    try:
        result = yield from provider.plan_send(going, deadline=deadline)
    except SmsGateError as error:
        if not error.may_have_sent:
            yield from policy.plan_release(verdict)
        raise
    result = with_estimate(result, outgoing.text, prices)
    if verdict.refused:
        result = with_refusals(result, outgoing.recipients, verdict)
    return result
