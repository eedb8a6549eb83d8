"""Every input problem is a ValidationError before any request, for every provider.

Issue 15, item 5: a lone surrogate in the text or an ``extra`` value JSON cannot carry used to
surface as a bare ``UnicodeEncodeError``/``TypeError`` from the HTTP library (or, for a NaN,
as a ``DeliveryUnknown`` saying the message may have been sent) in the middle of a send. The
promise checked here, over odd inputs: a send either returns a result (and made its request)
or raises a ``ValidationError`` having made no request at all; never any other exception.

The providers talk to a counting transport adapter that answers each documented success
reply, so that inputs which pass validation really go through ``requests``' own encoders.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

import pytest
import requests
import requests.adapters
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import smsgate
from smsgate.testing import MemoryProvider

NUMBERS = {
    "gosms.ge": "+995555123456",
    "smsoffice.ge": "+995577123456",
    "gosms.ro": "+40712345678",
    "smsgist": "+233245972246",
    "memory": "+995555123456",
}
CREDENTIALS: dict[str, dict[str, str]] = {
    "gosms.ge": {"api_key": "refusal-key-1"},
    "smsoffice.ge": {"api_key": "refusal-key-2"},
    "gosms.ro": {"api_key": "refusal-key-3"},
    "smsgist": {"client_id": "refusal-id", "token": "refusal-token"},
    "memory": {},
}
# Each provider's documented success reply to a one-number send.
REPLIES: dict[str, tuple[int, dict[str, Any]]] = {
    "/sendsms": (200, {"success": True, "messageId": 12345, "from": "Brand",
                       "to": "995555123456", "text": "x", "balance": 99,
                       "encode": "default", "segment": 1, "smsCharacters": 1}),
    "/v2/send/": (200, {"Success": True, "Message": "Success", "Output": 0, "ErrorCode": 0}),
    "/message/send": (200, {"success": True, "messageId": "dea3535d-2b1e",
                            "balanceDeduction": "0.03", "currency": "EUR"}),
    "/api/sms/send": (201, {"status": "success", "message": "queued", "data": {
        "message_id": "9b1deb4d", "status": "queued", "recipients_count": 1, "segments": 1,
        "recipients": [{"recipient_id": "a1", "recipient": "+233245972246"}]}}),
}


class Counting(requests.adapters.BaseAdapter):
    """Answers the documented success reply; counts what reached the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        path = (request.path_url or "").split("?")[0]
        ending = next(p for p in REPLIES if path.endswith(p))
        status, body = REPLIES[ending]
        reply = requests.Response()
        reply.status_code = status
        reply._content = json.dumps(body).encode()
        reply.headers["Content-Type"] = "application/json"
        reply.url = request.url or ""
        reply.request = request
        return reply

    def close(self) -> None:
        pass


def build(name: str) -> tuple[Any, Counting | MemoryProvider]:
    if name == "memory":
        memory = MemoryProvider()
        return memory, memory
    adapter = Counting()
    session = requests.Session()
    session.mount("https://", adapter)
    return smsgate.create(name, **CREDENTIALS[name], session=session), adapter


def requests_made(counter: Counting | MemoryProvider) -> int:
    return counter.requests if isinstance(counter, Counting) else len(counter.calls)


def outcome(name: str, text: Any, **options: Any) -> tuple[object, int]:
    """``(result or ValidationError, requests made)``; any other exception propagates."""
    provider, counter = build(name)
    try:
        return provider.send(NUMBERS[name], text, **options), requests_made(counter)
    except smsgate.ValidationError as error:
        return error, requests_made(counter)


PROVIDERS = sorted(NUMBERS)

# -- the named cases --------------------------------------------------------------------------


class Opaque:
    """An object with no JSON or form form."""


def self_containing() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["again"] = loop
    return loop


BAD_EXTRAS: list[Any] = [
    {"x": float("nan")},
    {"x": float("inf")},
    {"x": [1, -math.inf]},
    {"x": Opaque()},
    {"x": b"bytes"},
    {"x": {1, 2}},
    {"x": "lone \ud800 surrogate"},
    {"lone\udfff": "key"},
    {1: "int key"},
    {None: "None key"},
    {("a", "b"): "tuple key"},
    {"": "empty key"},
    {"x": {"nested": {2: "int key inside"}}},
    {"x": 10**5000},
    {"x": self_containing()},
    ["not", "a", "mapping"],
    "x=1",
]


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("extra", BAD_EXTRAS, ids=range(len(BAD_EXTRAS)))
def test_unencodable_extra_is_refused_before_any_request(name: str, extra: Any) -> None:
    error, made = outcome(name, "Hi", sender="Brand", extra=extra)
    assert isinstance(error, smsgate.ValidationError), error
    assert made == 0
    assert "extra" in str(error)


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("options", [
    {"text": "Hi \ud83d there"},  # half of an emoji's surrogate pair
    {"text": "\udc80\udc81"},  # what surrogateescape leaves of undecodable bytes
    {"sender": "Br\ud800nd"},
    {"urgent": "yes"},
    {"urgent": 1},
    {"flash": None},
    {"priority": [True]},
    {"reference": 12345},
    {"reference": "ref-\udfff"},
    {"idempotency_key": 7},
    {"sender": 5},
], ids=lambda o: next(iter(o)))
def test_odd_text_and_options_are_refused_before_any_request(
    name: str, options: dict[str, Any]
) -> None:
    options = {"sender": "Brand", **options}
    text = options.pop("text", "Hi")
    error, made = outcome(name, text, **options)
    assert isinstance(error, smsgate.ValidationError), error
    assert made == 0


def test_form_provider_takes_text_and_numbers_only() -> None:
    # SMSOffice.ge posts a form: one text value per field. True would go out as "True" and a
    # dict as its repr, silently; they are refused instead, and numbers still go through.
    for bad in ({"x": True}, {"x": None}, {"x": {"a": 1}}, {"x": [1]}, {"x": Decimal("NaN")}):
        error, made = outcome("smsoffice.ge", "Hi", sender="Brand", extra=bad)
        assert isinstance(error, smsgate.ValidationError) and made == 0, bad
    result, made = outcome("smsoffice.ge", "Hi", sender="Brand",
                           extra={"a": "text", "b": 7, "c": 1.5, "d": Decimal("2.50")})
    assert isinstance(result, smsgate.SendResult) and made == 1


def test_json_providers_still_take_any_json_value() -> None:
    extra = {"meta": {"tags": ["a", "ü", "ა"], "n": 1, "f": 0.5, "ok": True, "none": None}}
    for name in ("gosms.ge", "gosms.ro", "smsgist", "memory"):
        result, made = outcome(name, "Hi", sender="Brand", extra=extra)
        assert isinstance(result, smsgate.SendResult) and made == 1, (name, result)


# -- property: anything at all ----------------------------------------------------------------
any_char = st.characters(codec=None, exclude_categories=())
odd_text = st.one_of(
    st.text(any_char, max_size=40),
    st.tuples(st.text(max_size=10), st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"]),
              st.text(max_size=10)).map("".join),
    st.integers(), st.none(), st.binary(max_size=5),
)
scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.decimals(allow_nan=True),
    st.text(any_char, max_size=8), st.binary(max_size=4), st.builds(Opaque),
    st.sampled_from([frozenset({1, 2}), dt.date(2030, 1, 1)]),
    st.builds(pow, st.just(10), st.just(5000)),  # an int Python will not write as text
)
value = st.recursive(scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.text(any_char, max_size=6), st.integers()), inner, max_size=3),
), max_leaves=8)
extra_key = st.one_of(st.text(any_char, max_size=8), st.integers(), st.none(),
                      st.tuples(st.integers())).filter(lambda k: k != "noSmsNumber")
odd_flag = st.one_of(st.booleans(), st.integers(0, 2), st.none(), st.text(max_size=3))


class RaisingZone(dt.tzinfo):
    """A caller's tzinfo with a bug."""

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
        raise RuntimeError("tzinfo bug")


class WildZone(dt.tzinfo):
    """A tzinfo whose offset Python itself refuses (a day and more)."""

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(hours=30)


offsets = st.timedeltas(min_value=-dt.timedelta(hours=23, minutes=59),
                        max_value=dt.timedelta(hours=23, minutes=59)).map(dt.timezone)
odd_schedule = st.one_of(
    st.none(), st.datetimes(), st.datetimes(timezones=offsets),
    st.sampled_from([dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))),
                     dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(-dt.timedelta(hours=5))),
                     dt.date(2030, 1, 1), "2030-01-01T00:00:00Z", 1_900_000_000]),
    # Built afresh, never compared: hypothesis itself must not call these zones.
    st.builds(dt.datetime, st.just(2030), st.just(1), st.just(1),
              tzinfo=st.sampled_from([RaisingZone, WildZone]).map(lambda zone: zone())),
)
odd_validity = st.one_of(st.none(), st.timedeltas(), st.integers(), st.floats())
# Mostly valid, with something odd here and there: inputs near the valid ones are those that
# could slip past validation and fail inside the HTTP library.
fine_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)),
    max_leaves=6,
)
fine_extra = st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k != "noSmsNumber"),
                             st.one_of(st.text(max_size=8), st.integers(0, 10**6)), max_size=3)
options = st.fixed_dictionaries({"sender": st.one_of(st.just("Brand"), st.just("Brand"),
                                                     odd_text)}, optional={
    "urgent": st.one_of(st.just(False), st.booleans(), odd_flag),
    "flash": st.one_of(st.just(False), st.booleans(), odd_flag),
    "priority": st.one_of(st.just(False), st.booleans(), odd_flag),
    "reference": st.one_of(st.none(), st.none(), st.text(min_size=1, max_size=20), odd_text),
    "idempotency_key": st.one_of(st.none(), st.none(),
                                 st.from_regex(r"[!-~]{1,40}", fullmatch=True), odd_text),
    "schedule_at": st.one_of(st.none(), st.none(), odd_schedule),
    "validity": st.one_of(st.none(), st.none(), odd_validity),
    "extra": st.one_of(
        st.none(), fine_extra,
        st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k != "noSmsNumber"),
                        fine_value, max_size=3),
        st.dictionaries(extra_key, value, max_size=4),
        st.lists(st.integers(), max_size=2), st.text(max_size=4)),
})
texts = st.one_of(st.just("Hi"), st.text(min_size=1, max_size=60), odd_text)


@pytest.mark.parametrize("name", PROVIDERS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, opts=options)
def test_odd_input_gives_a_result_or_a_validation_error_with_zero_requests(
    name: str, text: Any, opts: dict[str, Any]
) -> None:
    result, made = outcome(name, text, **opts)
    event(type(result).__name__)
    if isinstance(result, smsgate.ValidationError):
        assert made == 0, f"{name} refused {result!r} after {made} request(s)"
    else:
        assert isinstance(result, smsgate.SendResult)
        assert made == 1


odd_recipients = st.one_of(
    st.just(["+995555123456", "+40712345678"]),
    st.lists(st.one_of(st.sampled_from(["+995555123456", "+40712345678"]), odd_text),
             min_size=1, max_size=3),
    odd_text, st.integers(), st.binary(max_size=8),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(to=odd_recipients, text=texts, opts=options)
def test_a_mixed_country_gateway_refuses_odd_input_before_any_group_goes_out(
    to: Any, text: Any, opts: dict[str, Any]
) -> None:
    ge, ro = MemoryProvider(), MemoryProvider()
    gateway = smsgate.Gateway([], routes={"GE": [ge], "RO": [ro]})
    try:
        result = gateway.send(to, text, **opts)
    except smsgate.ValidationError:
        assert ge.calls == [] and ro.calls == []  # refused whole: no group went out
    else:
        assert result.ok and len(ge.outbox) + len(ro.outbox) >= 1


# One thing odd at a time, everything else valid: most of these should go through, and those
# that do must really go out through the HTTP library's own encoders.
ONE_ODD: dict[str, st.SearchStrategy[Any]] = {
    "text": st.one_of(st.text(any_char, min_size=1, max_size=60), odd_text),
    "sender": st.one_of(st.text(any_char, min_size=1, max_size=11), odd_text),
    "reference": st.one_of(st.text(any_char, min_size=1, max_size=20), odd_text),
    "idempotency_key": st.one_of(st.from_regex(r"[!-~]{1,40}", fullmatch=True), odd_text),
    "urgent": odd_flag,
    "schedule_at": odd_schedule,
    "validity": odd_validity,
    "extra": st.one_of(fine_extra, st.dictionaries(st.text(any_char, min_size=1, max_size=8)
                                                   .filter(lambda k: k != "noSmsNumber"),
                                                   st.one_of(fine_value, value), max_size=2)),
}
CAPABLE = {"memory": set(ONE_ODD), "gosms.ge": {"text", "sender", "urgent", "extra"},
           "smsoffice.ge": {"text", "sender", "reference", "urgent", "schedule_at", "extra"},
           "gosms.ro": {"text", "sender", "schedule_at", "validity", "extra"},
           "smsgist": {"text", "sender", "idempotency_key", "extra"}}


@pytest.mark.parametrize("name", PROVIDERS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_odd_input_among_valid_ones(name: str, data: st.DataObject) -> None:
    option = data.draw(st.sampled_from(sorted(CAPABLE[name])))
    given_value = data.draw(ONE_ODD[option])
    options: dict[str, Any] = {"sender": "Brand"}
    text = "Hi"
    if option == "text":
        text = given_value
    else:
        options[option] = given_value
    result, made = outcome(name, text, **options)
    event(type(result).__name__)
    if isinstance(result, smsgate.ValidationError):
        assert made == 0, f"{name} refused {result!r} after {made} request(s)"
    else:
        assert isinstance(result, smsgate.SendResult) and made == 1
