"""The per-number fast paths of a bulk send give exactly what the general code gives.

Issue 22 made a 10,000-number send cheaper per number: numbers already valid E.164 skip the
general checks (:meth:`ProviderBase._normalize_recipients`), a GOSMS.GE reply that echoes every
number in order is read in one pass, and ``RecipientResult`` values are built through their
slots. Each test here compares a fast path with the general code on generated input.
"""

from __future__ import annotations

import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate import GoSmsGe, GoSmsRo, InvalidPhoneNumber, RecipientResult, Status
from smsgate.models import _recipient_result
from smsgate.phone import normalize_phone, region_of, validated_region
from smsgate.providers._base import Outgoing
from smsgate.providers.gosms_ge import (
    _all_accepted_in_order,
    _bulk_recipients,
    _matched_recipients,
    _paired_in_order,
)
from smsgate.segments import segments

GE = ["+995555123456", "+995555000001", "+995599112233", "+995322123456"]


# -- RecipientResult built through its slots ---------------------------------------------------
@given(
    phone=st.sampled_from(GE),
    status=st.sampled_from(list(Status)),
    message_id=st.none() | st.text(max_size=5),
    error=st.none() | st.text(max_size=5),
)
def test_the_fast_constructor_makes_the_same_value(
    phone: str, status: Status, message_id: str | None, error: str | None
) -> None:
    fast = _recipient_result(phone, status, message_id, error)
    slow = RecipientResult(phone=phone, status=status, message_id=message_id, error=error)
    assert type(fast) is RecipientResult
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert attrs.asdict(fast) == attrs.asdict(slow)
    assert pickle.loads(pickle.dumps(fast)) == slow
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.phone = "+995555999999"  # type: ignore[misc]


# -- numbers ------------------------------------------------------------------------------------
NUMBERS = st.one_of(
    st.sampled_from([*GE, "+40722123456", "+4072212345", "+233245972246", "+800 1234 5678",
                          "00995555123456", "995555123456", "555123456", "+9955551234567",
                          "+0995555123456", "+995 555 12 34 56", "", "+", "\ud800",
                          "+99555512345\u0660"]),
    st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
    st.from_regex(r"\+9955[0-9]{8}", fullmatch=True),
    st.integers(),
    st.none(),
)


@given(number=NUMBERS)
@settings(max_examples=400)
def test_validated_region_agrees_with_the_full_normalisation(number: Any) -> None:
    if not isinstance(number, str):
        return
    found = validated_region(number)
    try:
        e164 = normalize_phone(number)
    except InvalidPhoneNumber:
        assert found is None
        return
    if found is not None:
        assert e164 == number
        assert found == region_of(e164)


def _general(provider: Any, numbers: list[Any]) -> tuple[str, ...] | tuple[type, str]:
    """What the per-number checks alone make of ``numbers`` (the code before the fast path)."""
    try:
        return tuple(provider._normalize_one(n) for n in numbers)
    except InvalidPhoneNumber as exc:
        return (type(exc), str(exc))


@pytest.mark.parametrize("provider", [GoSmsGe("k", sender="S"), GoSmsRo("k", sender="S")],
                         ids=["gosms.ge (GE only)", "gosms.ro"])
@given(numbers=st.lists(NUMBERS, min_size=1, max_size=6))
@settings(max_examples=300)
def test_normalising_a_list_gives_the_same_numbers_or_the_same_first_error(
    provider: Any, numbers: list[Any]
) -> None:
    try:
        got: tuple[str, ...] | tuple[type, str] = provider._normalize_recipients(numbers)
    except InvalidPhoneNumber as exc:
        got = (type(exc), str(exc))
    assert got == _general(provider, numbers)


# -- GOSMS.GE's per-number reply -----------------------------------------------------------------
def _outgoing(numbers: list[str]) -> Outgoing:
    return Outgoing(recipients=tuple(numbers), wire_numbers=tuple(n[1:] for n in numbers),
                    text="Hi", info=segments("Hi"))


ITEM_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 99), st.floats(),
                        st.text(max_size=4), st.sampled_from([" 7 ", "", "x"]))


@st.composite
def replies(draw: st.DrawFn) -> tuple[list[str], list[Any]]:
    numbers = draw(st.lists(st.sampled_from(GE), min_size=1, max_size=5))
    items: list[Any] = []
    for number in numbers:
        item: dict[str, Any] = {
            "to": draw(st.sampled_from([number[1:], number[1:], number, " " + number[1:],
                                        int(number[1:]), "995000000000", None])),
            "success": draw(st.sampled_from([True, True, False, None, "true"])),
            "messageId": draw(st.one_of(st.integers(0, 10**6), ITEM_VALUES)),
        }
        if draw(st.booleans()):
            item["error"] = draw(ITEM_VALUES)
        items.append(draw(st.sampled_from([item, item, item, "not a dict", None])))
    if draw(st.booleans()):
        items = draw(st.permutations(items))
    return numbers, items


@given(reply=replies())
@settings(max_examples=500)
def test_the_in_order_reading_agrees_with_the_general_one(
    reply: tuple[list[str], list[Any]],
) -> None:
    numbers, items = reply
    outgoing = _outgoing(numbers)
    paired = _paired_in_order(items, outgoing)
    general = _matched_recipients(items, outgoing)
    if paired is not None:
        assert paired == general
    assert _bulk_recipients(items, outgoing) == general


def test_the_in_order_reading_is_taken_for_the_usual_reply() -> None:
    numbers = GE * 3
    items = [{"messageId": i, "to": n[1:], "success": i % 4 != 0, "error": "blocked"}
             for i, n in enumerate(numbers)]
    result = _paired_in_order(items, _outgoing(numbers))
    assert result is not None
    assert [r.message_id for r in result if r.accepted] == [
        str(i) for i in range(len(numbers)) if i % 4 != 0]
    assert {r.error for r in result if not r.accepted} == {"blocked"}
    # One echo out of place and the general reading decides.
    items[1]["to"] = numbers[2][1:]
    assert _paired_in_order(items, _outgoing(numbers)) is None


# -- a reply accepting every number, read by C loops ---------------------------------------------
class _Text(str):
    pass


@st.composite
def accepting_replies(draw: st.DrawFn) -> tuple[list[str], list[Any]]:
    """Replies that accept every number in order, some of them with one thing changed."""
    numbers = draw(st.lists(st.sampled_from(GE), min_size=1, max_size=12))
    ids = draw(st.one_of(
        st.lists(st.integers(0, 10**12), min_size=len(numbers), max_size=len(numbers)),
        st.lists(st.one_of(st.integers(-5, 10**6), ITEM_VALUES, st.just(True)),
                 min_size=len(numbers), max_size=len(numbers)),
    ))
    items: list[Any] = [{"messageId": i, "to": n[1:], "success": True}
                        for i, n in zip(ids, numbers, strict=True)]
    change = draw(st.sampled_from(["none", "none", "to", "success", "item", "key", "extra"]))
    at = draw(st.integers(0, len(items) - 1))
    if change == "to":
        items[at]["to"] = draw(st.sampled_from([numbers[at], int(numbers[at][1:]),
                                                _Text(numbers[at][1:]), None, "995000000000"]))
    elif change == "success":
        items[at]["success"] = draw(st.sampled_from([1, 1.0, "true", False, None]))
    elif change == "item":
        items[at] = draw(st.sampled_from([None, "x", [numbers[at][1:]]]))
    elif change == "key":
        del items[at][draw(st.sampled_from(["to", "success", "messageId"]))]
    elif change == "extra":
        items.append({"messageId": 1, "to": numbers[0][1:], "success": True})
    return numbers, items


@given(reply=accepting_replies())
@settings(max_examples=1_000)
def test_the_all_accepted_reading_agrees_with_the_general_one(
    reply: tuple[list[str], list[Any]],
) -> None:
    numbers, items = reply
    outgoing = _outgoing(numbers)
    try:
        general: list[RecipientResult] | str = _matched_recipients(items, outgoing)
    except Exception as exc:  # the same failure either way (an id as_text refuses)
        general = type(exc).__name__
    try:
        fast: list[RecipientResult] | str | None = _all_accepted_in_order(items, outgoing)
    except Exception as exc:
        fast = type(exc).__name__
    if fast is not None:
        assert fast == general
        if isinstance(fast, list):
            assert all(type(r) is RecipientResult and r.status is Status.QUEUED
                       for r in fast)
            assert [r.phone for r in fast] == numbers
    try:
        whole: list[RecipientResult] | str = _bulk_recipients(items, outgoing)
    except Exception as exc:
        whole = type(exc).__name__
    assert whole == general


def test_the_all_accepted_reading_is_taken_for_the_usual_reply() -> None:
    numbers = GE * 5
    items = [{"messageId": 100 + i, "to": n[1:], "success": True}
             for i, n in enumerate(numbers)]
    fast = _all_accepted_in_order(items, _outgoing(numbers))
    assert fast is not None
    assert fast == [RecipientResult(phone=n, status=Status.QUEUED, message_id=str(100 + i))
                    for i, n in enumerate(numbers)]
    items[3]["success"] = 1  # equal to True, but not True: the per-item reading decides
    assert _all_accepted_in_order(items, _outgoing(numbers)) is None
    assert _paired_in_order(items, _outgoing(numbers)) == _matched_recipients(
        items, _outgoing(numbers))
