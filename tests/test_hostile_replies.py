"""Hostile inputs and replies, as classes: nothing odd before the request raises anything but a
``ValidationError``/``ConfigurationError``, and nothing odd after it raises anything but an
smsgate error that says whether the message may have gone out.

Replies come from real sockets (127.0.0.1, port 0, servers that stop by themselves).
"""

from __future__ import annotations

import enum
import http
import json
import math
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smsgate
from smsgate.providers import as_money, read_code

from .servers import respond, serve

KEY = "hostile-key-7c1e"

Build = Callable[[str], smsgate.SmsProvider]

ADAPTERS: dict[str, tuple[Build, str]] = {
    "gosms.ge": (lambda url: smsgate.GoSmsGe(KEY, sender="Brand", base_url=url), "+995555123456"),
    "smsoffice.ge": (
        lambda url: smsgate.SmsOfficeGe(KEY, sender="Brand", base_url=url), "+995555123456"
    ),
    "gosms.ro": (lambda url: smsgate.GoSmsRo(KEY, base_url=url), "+40722123456"),
    "smsgist": (
        lambda url: smsgate.SmsGist("client", token=KEY, sender="Brand", base_url=url),
        "+233245972246",
    ),
}

HUGE = "1" * 5000
HOSTILE_REPLIES: dict[str, bytes] = {
    "deep-array": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "deep-in-error": b'{"errorCode": 5, "ErrorCode": 5, "message": ' + b"[" * 3000
    + b"]" * 3000 + b"}",
    "huge-codes": json.dumps({
        "success": False, "Success": False, "errorCode": HUGE, "ErrorCode": HUGE,
        "errorType": HUGE, "status": "error", "message": "x", "Message": "x",
    }).encode(),
    "huge-negative-code": json.dumps({"errorCode": "-" + HUGE, "ErrorCode": "-" + HUGE}).encode(),
    "money-exponent": json.dumps({
        "success": True, "Success": True, "ErrorCode": 0, "errorCode": 0,
        "messageId": "m-1", "message_id": "m-1", "balance": "1E+999999999",
        "balanceDeduction": "1E+999999999", "total_cost": "1E+999999999", "status": "success",
        "data": {"message_id": "m-1", "total_cost": "9E+999999999"},
    }).encode(),
}


@pytest.mark.parametrize("reply", sorted(HOSTILE_REPLIES))
@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
@pytest.mark.parametrize("through", ["provider", "gateway"])
def test_no_raw_exception_after_the_request(adapter: str, reply: str, through: str) -> None:
    build, number = ADAPTERS[adapter]
    with serve(respond(200, HOSTILE_REPLIES[reply]), lifetime=10) as (url, received):
        provider = build(url)
        sender: smsgate.SmsProvider = (
            provider if through == "provider" else smsgate.Gateway([provider], retry=None)
        )
        outcome: object
        try:
            # Two recipients: adapters without bulk calls send twice and sum the costs.
            outcome = sender.send([number, number[:-1] + "7"], "Hello")
        except smsgate.SmsGateError as error:  # anything else fails the test as itself
            outcome = error
        if isinstance(outcome, smsgate.AllProvidersFailed):
            assert all(isinstance(e, smsgate.SmsGateError) for e in outcome.errors)
        elif isinstance(outcome, smsgate.InvalidResponse):
            assert outcome.may_have_sent is True  # an unknown outcome, said as such
        elif isinstance(outcome, smsgate.SendResult):
            assert outcome.cost is None or outcome.cost.is_finite()
            assert outcome.cost is None or abs(outcome.cost) < 10**16
        else:
            assert isinstance(outcome, smsgate.ProviderError)  # a refusal the provider stated
        assert KEY not in str(outcome)
        assert received, "the request went out"


_LOOKUPS = [("gosms.ge", "balance"), ("gosms.ge", "status"), ("smsoffice.ge", "balance"),
            ("smsoffice.ge", "status"), ("smsgist", "status"), ("gosms.ro", "send")]


@pytest.mark.parametrize(("adapter", "lookup"), _LOOKUPS)
@pytest.mark.parametrize("reply", ["deep-array", "deep-object", "huge-codes"])
def test_hostile_replies_to_lookups_say_nothing_was_sent(adapter: str, lookup: str,
                                                         reply: str) -> None:
    build, number = ADAPTERS[adapter]
    with serve(respond(200, HOSTILE_REPLIES[reply]), lifetime=10) as (url, received):
        provider = build(url)
        assert lookup == "send" or lookup in provider.capabilities
        call: Callable[[], object] = {
            "balance": provider.balance,
            "status": lambda: provider.status("m-1", recipient=number),
            # gosms.ro has no lookups: its send says it may have gone out
            "send": lambda: provider.send(number, "Hello"),
        }[lookup]
        with pytest.raises(smsgate.ProviderError) as caught:
            call()
        expected = lookup == "send" and isinstance(caught.value, smsgate.InvalidResponse)
        assert caught.value.may_have_sent is expected
        assert received


def test_a_huge_numeric_code_is_an_error_not_an_int() -> None:
    assert read_code(HUGE) == (True, None)
    assert read_code("0" * 5000) == (True, 0)
    assert read_code(" -017 ") == (True, -17)
    assert read_code("12a") == (False, None)
    assert read_code(True) == (False, None)
    assert read_code(http.HTTPStatus.OK) == (True, 200)
    assert type(read_code(http.HTTPStatus.OK)[1]) is int


@pytest.mark.parametrize("text", [
    "1E+999999999", "-1E+999999999", "1E-999999999", "9" * 100, "1E+15", "0." + "0" * 40 + "1",
    "nan", "Infinity", "1" + " " * 100 + "0",
])
def test_implausible_amounts_are_not_amounts(text: str) -> None:
    assert as_money(text) is None


@pytest.mark.parametrize(("value", "amount"), [
    ("12.50", Decimal("12.50")), (3, Decimal(3)), (0.25, Decimal("0.25")), ("0E+9999", Decimal(0)),
    ("-4.2", Decimal("-4.2")), (10**14, Decimal(10**14)),
])
def test_plausible_amounts_are_read(value: object, amount: Decimal) -> None:
    assert as_money(value) == amount


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str), st.floats().map(repr), st.text(max_size=30),
), max_size=40))
def test_any_sum_of_amounts_stays_finite(texts: list[str]) -> None:
    amounts = [a for a in map(as_money, texts) if a is not None]
    total = sum(amounts, Decimal(0))  # the merge of chunked sends does exactly this
    assert total.is_finite()


# -- M1: int subclasses in extra are checked in bounded time ------------------------------

class Colour(enum.IntEnum):
    RED = 1
    HUGE = 2**64


class Perm(enum.IntFlag):
    R = 4
    W = 2


class Sly(int):
    """An int subclass whose comparisons and text lie."""

    def __lt__(self, other: object) -> bool:
        return True

    def __le__(self, other: object) -> bool:
        return True

    def __ge__(self, other: object) -> bool:
        return True

    def __str__(self) -> str:
        return "not-a-number"


def test_int_subclasses_are_checked_by_value_in_bounded_time() -> None:
    # In a subprocess with a generous timeout: an O(value) check would never return.
    code = textwrap.dedent(f"""
        import enum, http, smsgate
        class Sly(int):
            def __lt__(self, other): return True
            def __le__(self, other): return True
        p = smsgate.GoSmsGe({KEY!r}, sender="Brand", base_url="https://127.0.0.1:9")
        for value in (http.HTTPStatus.OK, enum.IntFlag("F", "A B")(3), Sly(2**63),
                      enum.IntEnum("E", {{"X": 2**62}}).X):
            p.prepare("+995555123456", "Hello", extra={{"n": value, "deep": [{{"x": value}}]}})
        for value in (Sly(2**64), Sly(-(2**63) - 1), enum.IntEnum("E", {{"X": 2**64}}).X):
            try:
                p.prepare("+995555123456", "Hello", extra={{"n": value}})
            except smsgate.ValidationError:
                pass
            else:
                raise SystemExit("accepted an integer beyond 64 bits")
        print("bounded")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "bounded"


@settings(max_examples=150, deadline=None)
@given(value=st.integers(min_value=-(2**70), max_value=2**70),
       kind=st.sampled_from(["int", "sly", "enum", "flag"]))
def test_int_subclass_bounds_follow_the_value(value: int, kind: str) -> None:
    if kind == "sly":
        given_value: int = Sly(value)
    elif kind == "enum":
        given_value = enum.IntEnum("E", {"X": value}).X  # type: ignore[attr-defined]
    elif kind == "flag":
        value = abs(value)
        given_value = Perm(value)  # a pseudo-member: IntFlag keeps unknown bits
    else:
        given_value = value
    provider = smsgate.GoSmsGe(KEY, sender="Brand", base_url="https://127.0.0.1:9")
    fits = -(2**63) <= value < 2**64
    try:
        provider.prepare("+995555123456", "Hello", extra={"n": given_value})
    except smsgate.ValidationError:
        assert not fits
    else:
        assert fits


def test_a_form_field_int_subclass_goes_out_as_its_number() -> None:
    office = smsgate.SmsOfficeGe(KEY, sender="Brand", base_url="https://127.0.0.1:9")
    prepared = office.prepare("+995555123456", "Hello",
                              extra={"a": Sly(7), "b": Colour.RED, "c": Perm.R | Perm.W})
    assert prepared.extra == {"a": 7, "b": 1, "c": 6}
    assert all(type(v) is int for v in prepared.extra.values())


# -- M3: timeouts are finite and within what the waits accept ------------------------------

@pytest.mark.parametrize("timeout", [
    math.inf, -math.inf, math.nan, (1, math.inf), (math.inf, 1), (1, math.nan),
    threading.TIMEOUT_MAX * 2, 10**400, (1, 10**400), 86_401, 0, -1, (0, 1), True, "5", (1, 2, 3),
    1e-300, 0.0009, (1, 5e-324),
])
def test_unbounded_timeouts_are_refused_when_built(timeout: Any) -> None:
    with pytest.raises(smsgate.ConfigurationError) as caught:
        smsgate.GoSmsGe(KEY, timeout=timeout)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("timeout", [0.001, 1, 30, 86_400, (3, 60), (Colour.RED, 2.5)])
def test_bounded_timeouts_are_taken(timeout: Any) -> None:
    provider = smsgate.GoSmsGe(KEY, timeout=timeout)
    assert provider.timeout == (
        (float(timeout[0]), float(timeout[1])) if isinstance(timeout, tuple) else float(timeout)
    )
    assert all(type(v) is float for v in (
        provider.timeout if isinstance(provider.timeout, tuple) else (provider.timeout,)))


@pytest.mark.parametrize("value", [math.inf, math.nan, 10**400, 1e300, 86_401, -1, True])
def test_gateway_waits_and_deadlines_are_bounded(value: Any) -> None:
    # A wait time.sleep() or a watchdog cannot take would fail only after a send went out.
    provider = smsgate.GoSmsGe(KEY, sender="Brand")
    with pytest.raises(smsgate.ConfigurationError):
        smsgate.Gateway([provider], deadline=value)
    for name in ("backoff", "max_backoff", "max_retry_after"):
        with pytest.raises(smsgate.ConfigurationError):
            smsgate.RetryPolicy(**{name: value})
    if value != 86_401 and value != 1e300:
        with pytest.raises(smsgate.ConfigurationError):
            smsgate.BreakerPolicy(reset_timeout=value)


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(st.integers(), st.floats()))
def test_any_number_is_a_timeout_or_a_configuration_error(value: float) -> None:
    try:
        provider = smsgate.GoSmsGe(KEY, timeout=(value, 5))
    except smsgate.ConfigurationError:
        assert not (0.001 <= value <= 86_400)
    else:
        assert provider.timeout == (float(value), 5.0)


class _Shout(str):
    def __str__(self) -> str:
        return "SHOUT"


def test_a_form_field_str_subclass_goes_out_as_its_content() -> None:
    office = smsgate.SmsOfficeGe(KEY, sender="Brand", base_url="https://127.0.0.1:9")
    prepared = office.prepare("+995555123456", "Hello", extra={"a": _Shout("quiet")})
    assert prepared.extra == {"a": "quiet"} and type(prepared.extra["a"]) is str


def test_gosms_lookups_refuse_absurd_ids_and_codes_before_any_request() -> None:
    """A message id or OTP code thousands of digits long is refused or sent as text, never a
    raw ValueError from int()/str() (Python limits those conversions to 4,300 digits)."""
    import responses as _responses

    sms = smsgate.GoSmsGe("k-absurd", sender="B")
    with _responses.RequestsMock() as rsps:
        call = rsps.post("https://api.gosms.ge/api/checksms", json={
            "success": True, "messageId": 1, "status": "delivered"})
        sms.status("9" * 5000)
        sms.status("١٢٣")  # Arabic-Indic digits: not an int on the wire
    import json as _json

    sent = [_json.loads(c.request.body)["messageId"] for c in call.calls]
    assert sent == ["9" * 5000, "١٢٣"]
    with pytest.raises(smsgate.ValidationError):
        sms.verify_otp("+995555123456", "h", 10**5000)
