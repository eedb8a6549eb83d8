"""The per-send fast paths give exactly what the general code gives.

Issue 17 cut smsgate's own CPU per send: a result is completed slot by slot instead of
through ``attrs.evolve``, an integer amount skips its text form, a text the gateway already
checked is not checked again by each provider's ``prepare``, a send that sets no option
skips the capability walk, and a send policy that keeps no state gives its verdict without
running a plan. Each test here compares a fast path with the general code on generated
input, and fails when the fast path answers differently.
"""

from __future__ import annotations

import enum
import functools
import inspect
import pickle
from decimal import Decimal
from typing import Any

import attrs
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smsgate
from smsgate import GoSmsGe, GoSmsRo, SendPolicy, SmsOfficeGe
from smsgate import _provider as provider_module
from smsgate._effects import run
from smsgate._options import OPTION_CAPABILITIES, SEND_OPTION_TABLE
from smsgate._plan import _check_common
from smsgate.errors import SmsGateError, UnsupportedFeature
from smsgate.guards import DEFAULT_POLICY, verdict_now
from smsgate.models import (
    Attempt,
    RecipientResult,
    SendResult,
    Status,
    _evolve_result,
    _new_result,
)
from smsgate.providers import HttpResponse, as_money
from smsgate.stores import Rate
from smsgate.testing import MockTransport

from .guards_helpers import example

# -- a SendResult completed slot by slot -------------------------------------------------------
_FIELDS = [field.name for field in attrs.fields(SendResult)]

amounts = st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=3,
                                  min_value=-1000, max_value=1000) | st.integers(-50, 50) \
    | st.sampled_from(["0.05", "12"])
recipients = st.lists(st.builds(
    RecipientResult, phone=st.sampled_from(["+995555123456", "+40722123456"]),
    status=st.sampled_from(list(Status)), message_id=st.none() | st.text(max_size=3),
    error=st.none() | st.text(max_size=3)), max_size=3)
attempts = st.lists(st.builds(
    Attempt, provider=st.sampled_from(["gosms.ge", "smsoffice.ge"]), operation=st.just("send"),
    elapsed=st.floats(0, 5), http_status=st.none() | st.sampled_from([200, 503]),
    error=st.none() | st.just("ConnectError"), rule=st.none() | st.just("retryable")),
    max_size=3)
costs = st.sampled_from([{}, {"GEL": Decimal("0.10")}, {"EUR": Decimal("1"), "": Decimal("2")}])
FIELD_VALUES: dict[str, Any] = {
    "provider": st.sampled_from(["gosms.ge", "gosms.ro,smsgist"]),
    "message_id": st.none() | st.text(max_size=4),
    "recipients": recipients | recipients.map(tuple),
    "segments": st.none() | st.integers(0, 6),
    "encoding": st.none() | st.sampled_from(["GSM-7", "UCS-2"]),
    "cost": amounts,
    "currency": st.none() | st.sampled_from(["GEL", "EUR"]),
    "balance": amounts,
    "idempotency_key": st.none() | st.text(max_size=4),
    "attempts": attempts | attempts.map(tuple),
    "raw": st.none() | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    "costs": costs,
    "estimated_costs": costs,
}
results = st.fixed_dictionaries(
    {"provider": FIELD_VALUES["provider"], "message_id": FIELD_VALUES["message_id"],
     "recipients": FIELD_VALUES["recipients"]},
    optional={name: FIELD_VALUES[name] for name in _FIELDS[3:]},
).map(lambda fields: SendResult(**fields))
changes = st.fixed_dictionaries({}, optional=FIELD_VALUES)


def _same(one: SendResult, other: SendResult) -> None:
    assert type(one) is type(other)
    assert one == other
    for name in _FIELDS:
        mine, theirs = getattr(one, name), getattr(other, name)
        assert type(mine) is type(theirs), name
        assert mine == theirs, name
        if name in ("cost", "balance") and mine is not None:
            assert mine.as_tuple() == theirs.as_tuple(), name


def test_the_fast_evolve_takes_every_field_of_sendresult() -> None:
    # A field added to SendResult and forgotten here would be dropped from every result.
    parameters = list(inspect.signature(_evolve_result).parameters)[1:]
    assert parameters == _FIELDS


@given(result=results, change=changes)
@settings(max_examples=400, deadline=None)
def test_the_fast_evolve_is_attrs_evolve(result: SendResult, change: dict[str, Any]) -> None:
    fast = _evolve_result(result, **change)
    _same(fast, attrs.evolve(result, **change))
    _same(pickle.loads(pickle.dumps(fast)), fast)
    assert fast.raw is change.get("raw", result.raw)


def test_the_fast_constructor_takes_every_field_of_sendresult() -> None:
    assert list(inspect.signature(_new_result).parameters) == _FIELDS
    for name in _FIELDS:  # the same defaults
        default = attrs.fields_dict(SendResult)[name].default
        mine = inspect.signature(_new_result).parameters[name].default
        if default is not attrs.NOTHING:
            assert mine is default or mine == default, name


@given(fields=st.fixed_dictionaries(
    {"provider": FIELD_VALUES["provider"], "message_id": FIELD_VALUES["message_id"],
     "recipients": FIELD_VALUES["recipients"]},
    optional={name: FIELD_VALUES[name] for name in _FIELDS[3:]}))
@settings(max_examples=400, deadline=None)
def test_the_fast_constructor_is_sendresults_init(fields: dict[str, Any]) -> None:
    fast = _new_result(**fields)
    _same(fast, SendResult(**fields))
    _same(pickle.loads(pickle.dumps(fast)), fast)
    assert fast.raw is fields.get("raw")


def test_the_fast_evolve_leaves_a_subclass_to_its_own_init() -> None:
    @attrs.frozen
    class Tagged(SendResult):
        tag: str = "t"

    tagged = Tagged(provider="gosms.ge", message_id="1", recipients=[], tag="kept")
    evolved = _evolve_result(tagged, segments=2)
    assert type(evolved) is Tagged and evolved.tag == "kept" and evolved.segments == 2


# -- amounts given as JSON integers --------------------------------------------------------------
class _Code(enum.IntEnum):
    HUNDRED = 100


@given(value=st.integers(-(10**16), 10**16) | st.sampled_from(
    [0, 10**15 - 1, -(10**15) + 1, 10**15, -(10**15), 10**14, 7]))
@settings(max_examples=500, deadline=None)
def test_an_integer_amount_reads_as_its_text_does(value: int) -> None:
    # The text path runs every plausibility check on the same digits.
    fast, general = as_money(value), as_money(str(value))
    assert (fast is None) == (general is None)
    if fast is not None:
        assert general is not None
        assert fast.as_tuple() == general.as_tuple()


def test_an_int_subclass_amount_reads_as_its_number() -> None:
    amount = as_money(_Code.HUNDRED)
    assert amount is not None and amount.as_tuple() == Decimal("100").as_tuple()
    assert as_money(True) is None


# -- a text checked once per send ---------------------------------------------------------------
GOSMS = GoSmsGe("k", sender="Brand", transport=MockTransport(lambda r: HttpResponse(200)))
texts = st.text(max_size=12) | st.sampled_from(
    ["Hi", " ", "\u200b", "\ud800", "a\udc00b", "\u3164", "ok \u200d", "", "\t\n"])


def _outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except SmsGateError as exc:
        return (type(exc), str(exc))


@given(text=texts, before=texts)
@settings(max_examples=500, deadline=None)
def test_a_text_the_gateway_checked_is_read_as_a_fresh_check_reads_it(
    text: str, before: str
) -> None:
    options = {"urgent": False, "flash": False, "priority": False, "sender": None,
               "reference": None, "idempotency_key": None, "extra": None}
    provider_module._checked_text = None
    fresh = _outcome(lambda: GOSMS._check_text(text))
    # What the gateway does first (another text, then this one), then the provider's check.
    _outcome(lambda: _check_common(before, options))
    _outcome(lambda: GOSMS._check_text(before))
    _outcome(lambda: _check_common(text, options))
    assert _outcome(lambda: GOSMS._check_text(text)) == fresh
    assert _outcome(lambda: GOSMS._check_text(text)) == fresh


def test_a_text_subclass_is_never_remembered() -> None:
    class Shown(str):
        pass

    provider_module._checked_text = None
    provider_module.remember_text(Shown("hello"))
    assert provider_module._checked_text is None


# -- the capability walk of prepare, skipped when no option is set ----------------------------
SAMPLES: dict[str, Any] = {option.name: option.sample for option in SEND_OPTION_TABLE
                           if option.capability is not None}


def _walked(provider: Any, given_options: dict[str, Any]) -> str | None:
    """The general walk: the first option set whose capability the provider lacks."""
    for name in ("urgent", "schedule_at", "validity", "reference", "idempotency_key",
                 "flash", "priority"):
        value = given_options.get(name)
        if value is not None and value is not False and \
                OPTION_CAPABILITIES[name] not in provider.capabilities:
            return f"{provider.name} does not support the {name} option"
    return None


@pytest.mark.parametrize("cls", [GoSmsGe, GoSmsRo, SmsOfficeGe])
@given(chosen=st.sets(st.sampled_from(sorted(SAMPLES))))
@settings(max_examples=60, deadline=None)
def test_prepare_asks_each_set_option_for_its_capability(cls: Any, chosen: set[str]) -> None:
    provider = cls("k", sender="Brand", transport=MockTransport(lambda r: HttpResponse(200)))
    options = {name: SAMPLES[name] for name in chosen}
    expected = _walked(provider, options)
    outcome = _outcome(lambda: provider.prepare("+995555123456", "Hello", **options))
    if expected is not None:
        assert outcome == (UnsupportedFeature, expected)
    else:  # accepted, or refused later for another reason (a past schedule...)
        assert outcome[0] is not UnsupportedFeature


# -- the verdict of a policy that keeps no state --------------------------------------------------
KINDS = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
         phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST,
         phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.UAN]
POOL = sorted({example(region, kind) for region in ("GE", "RO", "GB", "FR", "DE", "US")
               for kind in KINDS
               if phonenumbers.example_number_for_type(region, kind) is not None}
              | {f"+99555512{n:04d}" for n in range(20)})
POLICIES = [
    DEFAULT_POLICY,
    SendPolicy(deny_types=()),
    SendPolicy(allow_types=("mobile", "fixed_line_or_mobile")),
    SendPolicy(deny_types=("premium_rate", "toll_free", "uan")),
    SendPolicy(allow_countries=("GE", "RO")),
    SendPolicy(deny_countries=("GB",), deny_types=("shared_cost",)),
]


def _shown(verdict: Any) -> Any:
    return ({number: (type(refusal), str(refusal), refusal.reason, refusal.recipient)
             for number, refusal in verdict.refused.items()}, verdict.reserved)


@pytest.mark.parametrize("policy", POLICIES, ids=repr)
@given(numbers=st.lists(st.sampled_from(POOL), min_size=1, max_size=24))
@settings(max_examples=150, deadline=None)
def test_a_stateless_policy_gives_its_plans_verdict_without_the_plan(
    policy: SendPolicy, numbers: list[str]
) -> None:
    fast = verdict_now(policy, numbers)
    assert fast is not None
    general = run(policy.plan_check(tuple(numbers), "Hello", {}))
    assert _shown(fast) == _shown(general)
    if not general.refused:
        assert fast is general  # the shared empty verdict, as the plan returns it


def test_a_policy_with_state_or_its_own_check_runs_its_plan() -> None:
    assert verdict_now(SendPolicy(per_number=Rate(1, 60)), ["+995555123456"]) \
        is None

    class Mine(SendPolicy):
        def plan_check(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return super().plan_check(*args, **kwargs)

    assert verdict_now(Mine(), ["+995555123456"]) is None

    class Hook:
        def check(self, recipients: Any, text: str, options: Any) -> None:
            return None

    assert verdict_now(Hook(), ["+995555123456"]) is None


def test_the_default_policy_still_refuses_premium_rate_through_a_gateway() -> None:
    premium = example("GB", phonenumbers.PhoneNumberType.PREMIUM_RATE)
    transport = MockTransport(lambda r: HttpResponse(200))
    gateway = smsgate.Gateway([GoSmsRo("k", transport=transport)])
    with pytest.raises(smsgate.PolicyViolation):
        gateway.send(premium, "Hello")
    assert transport.requests == []


# -- one JSON parse per reply on the async transport too ------------------------------------------
def test_an_async_send_over_a_socket_parses_its_reply_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio
    import json

    from smsgate.aio import AsyncGateway

    from .servers import http_reply, script, serve

    body = json.dumps({"success": True, "messageId": 77, "balance": 5}).encode()
    parsed: list[bytes] = []
    real = json.loads

    def counting(text: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(text, bytes) and text == body:
            parsed.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    received: list[bytes] = []

    async def send(url: str) -> SendResult:
        provider = GoSmsGe("parse-once-key-0002", sender="Brand", base_url=url,
                           timeout=(2.0, 5.0))
        async with AsyncGateway([provider], retry=None, breaker=None) as gateway:
            return await gateway.send("+995555123456", "Hello")

    with serve(script([http_reply(200, body)], received), read_first=False) as (url, _):
        result = asyncio.run(send(url))
    assert result.message_id == "77" and result.raw == {"success": True, "messageId": 77,
                                                        "balance": 5}
    assert len(received) == 1
    assert len(parsed) == 1  # the transport's parse, handed to the reader


# -- the retry budget, earned without its lock when full ------------------------------------------
@given(initial=st.sampled_from([0.0, 1.0, 10.0, 100.0, 250.0]),
       most=st.sampled_from([0.0, 1.0, 5.0, 100.0]),
       ratio=st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.0]),
       steps=st.lists(st.booleans(), max_size=60))
@settings(max_examples=300, deadline=None)
def test_the_retry_budget_earns_and_spends_as_its_formula_says(
    initial: float, most: float, ratio: float, steps: list[bool]
) -> None:
    from smsgate._plan import Budget

    budget = Budget(smsgate.RetryPolicy(budget_initial=initial, budget_max=most,
                                        budget_ratio=ratio))
    tokens = initial
    for earn in steps:
        if earn:
            budget.earn()
            tokens = min(most, tokens + ratio)
        else:
            spent = tokens >= 1
            assert budget.spend() is spent
            tokens -= 1 if spent else 0
        assert budget._tokens == tokens


# -- the decision table, remembered for facts without an error ------------------------------------
def test_every_error_free_decision_is_the_tables_first_matching_row() -> None:
    import itertools
    import typing

    from smsgate import _decisions
    from smsgate._decisions import RULES, Facts, decide

    situations = typing.get_args(_decisions.Situation)
    assert len(situations) == 8
    _decisions._DECIDED.clear()
    for situation, *flags in itertools.product(situations, *[(False, True)] * 5):
        facts = Facts(situation, None, *flags)
        walked = next(rule for rule in RULES if rule.condition(facts))
        assert decide(facts) is walked  # looked up in the table
        assert decide(Facts(situation, None, *flags)) is walked  # remembered
    assert len(_decisions._DECIDED) == 8 * 32


# -- a sender checked once per provider ---------------------------------------------------------
senders = st.sampled_from(["Brand", "Bench", "B" * 11, "B" * 12, " ", "", "Br\ud800nd",
                           "Shop-1", "გამარჯობა"]) | st.text(max_size=13)


@given(sequence=st.lists(senders, min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_a_providers_remembered_sender_is_checked_as_a_fresh_provider_checks_it(
    sequence: list[str],
) -> None:
    transport = MockTransport(lambda r: HttpResponse(200))
    kept = GoSmsGe("k", transport=transport)
    for index, sender in enumerate(sequence):
        if index == len(sequence) // 2:
            kept.limits = attrs.evolve(kept.limits, max_sender_length=5)  # on the instance
        fresh = GoSmsGe("k", transport=transport)
        fresh.limits = kept.limits
        expected = _outcome(functools.partial(fresh.prepare, "+995555123456", "Hi",
                                              sender=sender))
        assert _outcome(functools.partial(kept.prepare, "+995555123456", "Hi",
                                          sender=sender)) == expected
