"""The Gateway's and send_many's promises, as classes of input rather than cases.

- A mixed-country send is refused whole, before any request, whenever one route's first
  capable provider refuses the input, whatever the order of the recipients.
- ``to`` is a string or a sequence of strings, for the gateway as for every provider; a text
  that shows nothing (whitespace and invisible characters only) is refused as empty.
- A BaseException that is not the caller's interrupt never costs the report of what went out;
  ``KeyboardInterrupt`` and ``SystemExit`` still stop the call.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smsgate
from smsgate import Gateway, Message, Status, send_many
from smsgate.testing import MemoryProvider

from .servers import respond, serve

GE, RO = "+995555123456", "+40722123456"
OK = json.dumps({"success": True, "messageId": 1, "Success": True, "ErrorCode": 0}).encode()


class Boom(BaseException):
    """A library's own BaseException (not an interrupt of the caller)."""


# -- m5: every route group's pure checks run before any group goes out ---------------------

_MIXED_CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "extra owned by one route's adapter": ("ge|ro", {"extra": {"sender": "Other"}}, "Hello"),
    "a bool extra for a form adapter": ("ro|office", {"extra": {"flag": True}}, "Hello"),
    "a text over one adapter's limit": ("ge|ro", {}, "x" * 2000),
    "an option one chain cannot express": ("office|ro", {"reference": "r1"}, "Hello"),
    "a sender one adapter refuses": ("ge|ro", {"sender": "ThisIsTooLongForAll"}, "Hello"),
}


@pytest.mark.parametrize("case", sorted(_MIXED_CASES))
def test_a_mixed_country_refusal_does_not_depend_on_recipient_order(case: str) -> None:
    chains, options, text = _MIXED_CASES[case]
    with serve(respond(200, OK), lifetime=10) as (url, received):
        built = {
            "ge": smsgate.GoSmsGe("k-ge", sender="Brand", base_url=url),
            "ro": smsgate.GoSmsRo("k-ro", sender="Brand", base_url=url),
            "office": smsgate.SmsOfficeGe("k-of", sender="Brand", base_url=url),
        }
        first, second = chains.split("|")
        routes = {"GE": [built[first]], "RO": [built[second]]}
        outcomes = []
        for order in ([GE, RO], [RO, GE]):
            gateway = Gateway([], routes=routes, retry=None)
            with pytest.raises(smsgate.ValidationError) as caught:
                gateway.send(order, text, **options)
            outcomes.append(type(caught.value))
        assert outcomes[0] is outcomes[1]
        assert received == [], "refused before any request, in both orders"


def test_prevalidation_skips_a_provider_the_send_would_skip() -> None:
    # RO's chain starts with a Georgia-only provider: the send skips it (InvalidPhoneNumber),
    # so must the early checks, and the message goes out through the next one.
    ge_only = MemoryProvider(like="gosms.ge", sender="Brand")
    ro = MemoryProvider(like="gosms.ro", sender="Brand")
    gateway = Gateway([], routes={"GE": [MemoryProvider()], "RO": [ge_only, ro]}, retry=None)
    result = gateway.send([GE, RO], "Hello")
    assert result.ok and len(ro.outbox) == 1 and ge_only.outbox == []


@settings(max_examples=60, deadline=None)
@given(numbers=st.permutations([GE, "+995555123457", RO, "+40722123457"]),
       text_len=st.sampled_from([5, 400, 1000]))
def test_outcome_of_a_mixed_send_is_the_same_in_every_order(numbers: list[str],
                                                            text_len: int) -> None:
    # gosms.ro-like allows more than gosms.ge-like: a long text is refused by one route only.
    ge = MemoryProvider(like="gosms.ge", sender="Brand")
    ro = MemoryProvider(like="gosms.ro", sender="Brand")
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
    text = "x" * text_len
    try:
        result = gateway.send(numbers, text)
    except smsgate.ValidationError:
        assert ge.outbox == [] and ro.outbox == []
        assert _refused_by_someone(text)
    else:
        assert result.ok
        assert not _refused_by_someone(text)


def _refused_by_someone(text: str) -> bool:
    for like in ("gosms.ge", "gosms.ro"):
        try:
            model = MemoryProvider(like=like, sender="Brand")
            model.prepare(GE if like == "gosms.ge" else RO, text)
        except smsgate.ValidationError:
            return True
    return False


# -- m9: what `to` and `text` may be -------------------------------------------------------

def _generator() -> Any:
    yield GE


@pytest.mark.parametrize("to", [
    {GE: "x"}, {GE}, frozenset({GE}), _generator(), iter([GE]), b"+995555123456",
    bytearray(b"+995555123456"), 995555123456, None, {GE: 1}.keys(),
])
def test_the_gateway_refuses_what_providers_refuse_for_to(to: Any) -> None:
    provider = MemoryProvider()
    with pytest.raises(smsgate.InvalidPhoneNumber):
        provider.send(to, "Hello")
    with pytest.raises(smsgate.InvalidPhoneNumber):
        Gateway([provider], retry=None).send(to, "Hello")
    assert provider.outbox == []


@pytest.mark.parametrize("to", [GE, [GE], (GE,), [GE, RO]])
def test_strings_and_sequences_of_strings_are_taken(to: Any) -> None:
    provider = MemoryProvider()
    assert Gateway([provider], retry=None).send(to, "Hello").ok


_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\ufeff", "\u2060", "\u202e",
              "\u2066", "\u00ad", "\u034f", "\u115f", "\u3164", "\u2800", "\ufe0f", "\U000e0100",
              "\u180e", " ", "\t", "\n", "\u00a0", "\u3000", "\u2028", "\x00", "\x7f"]


@settings(max_examples=200, deadline=None)
@given(text=st.lists(st.sampled_from(_INVISIBLE), min_size=1, max_size=12).map("".join))
def test_a_text_of_invisible_characters_is_empty(text: str) -> None:
    provider = MemoryProvider()
    with pytest.raises(smsgate.MessageTooLong, match="empty"):
        provider.send(GE, text)
    with pytest.raises(smsgate.MessageTooLong, match="empty"):
        Gateway([provider], retry=None).send(GE, text)
    with pytest.raises(smsgate.MessageTooLong, match="empty"):
        smsgate.GoSmsGe("k", sender="Brand").prepare(GE, text)
    assert provider.outbox == []


@pytest.mark.parametrize("text", ["\u200bhi", "a\u200b", "\u202eolleh", "\ufeffhello", ". ",
                                  "\u05d0", "😀"])
def test_a_text_with_something_visible_is_taken(text: str) -> None:
    provider = MemoryProvider()
    assert Gateway([provider], retry=None).send(GE, text).ok


# -- m4: BaseExceptions that are not interrupts are recorded -------------------------------

class _Bridge(MemoryProvider):
    """A provider whose send raises ``error`` for the text "boom"."""

    error: BaseException = asyncio.CancelledError()

    def send(self, to: Any, text: Any, **options: Any) -> smsgate.SendResult:
        if text == "boom":
            raise self.error
        return super().send(to, text, **options)


@pytest.mark.parametrize("error", [asyncio.CancelledError(), Boom(), GeneratorExit()])
def test_send_many_records_a_non_interrupt_base_exception(error: BaseException) -> None:
    provider = _Bridge()
    provider.error = error
    messages = [Message(to=GE, text="boom" if i == 3 else f"m{i}") for i in range(20)]
    report = send_many(provider, messages, concurrency=4)
    assert report.sent == 19
    (index, recorded), = report.errors
    assert index == 3 and recorded.may_have_sent is True
    assert recorded.__cause__ is error


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_send_many_lets_an_interrupt_through(interrupt: type[BaseException]) -> None:
    provider = _Bridge()
    provider.error = interrupt()
    with pytest.raises(interrupt):
        send_many(provider, [Message(to=GE, text="boom")], concurrency=1)


@pytest.mark.parametrize("error", [asyncio.CancelledError(), Boom()])
def test_the_gateway_records_a_later_groups_base_exception(error: BaseException) -> None:
    ge, ro = MemoryProvider(), _Bridge()
    ro.error = error
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
    result = gateway.send([GE, RO], "boom")
    assert [r.status for r in result.recipients] == [Status.QUEUED, Status.UNKNOWN]
    assert len(ge.outbox) == 1


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_the_gateway_lets_an_interrupt_through(interrupt: type[BaseException]) -> None:
    ge, ro = MemoryProvider(), _Bridge()
    ro.error = interrupt()
    gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
    with pytest.raises(interrupt):
        gateway.send([GE, RO], "boom")


def test_every_order_of_groups_reports_every_recipient() -> None:
    for order in itertools.permutations([GE, RO]):
        ge, ro = MemoryProvider(), _Bridge()
        gateway = Gateway([], routes={"GE": [ge], "RO": [ro]}, retry=None)
        if order[0] == RO:
            # Nothing obtained before the failing group: raised as itself, nothing lost.
            with pytest.raises(asyncio.CancelledError):
                gateway.send(list(order), "boom")
            assert ge.outbox == []
        else:
            result = gateway.send(list(order), "boom")
            assert len(result.recipients) == 2


def test_a_base_exception_on_a_retry_keeps_the_unknown_outcome() -> None:
    provider = _Bridge()
    provider.script(smsgate.DeliveryUnknown("timeout", provider="memory", retryable=True))
    gateway = Gateway([provider], retry=smsgate.RetryPolicy(attempts=2, backoff=0.0),
                      sleep=lambda s: None)
    provider.capabilities = provider.capabilities | {"idempotency"}
    original = provider.send
    calls = []

    def send(to: Any, text: Any, **options: Any) -> smsgate.SendResult:
        calls.append(text)
        if len(calls) == 2:
            raise asyncio.CancelledError
        return original(to, text, **options)

    provider.send = send  # type: ignore[method-assign]
    with pytest.raises(smsgate.ProviderError) as caught:
        gateway.send(GE, "Hi")
    assert caught.value.may_have_sent is True
    assert isinstance(caught.value.__cause__, asyncio.CancelledError)


def test_a_progress_callback_base_exception_does_not_lose_the_report() -> None:
    def progress(done: int, total: int) -> None:
        raise Boom

    report = send_many(MemoryProvider(), [Message(to=GE, text=f"m{i}") for i in range(5)],
                       concurrency=2, progress=progress)
    assert report.sent == 5


class _Lying(str):
    def __str__(self) -> str:
        return "+40722123456"


def test_a_str_subclass_number_is_read_as_its_content() -> None:
    provider = MemoryProvider()
    result = Gateway([provider], retry=None).send([_Lying(GE)], "Hi")
    assert [r.phone for r in result.recipients] == [GE]


class _Unreadable(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("cannot iterate")


def test_a_sequence_that_cannot_be_read_is_refused() -> None:
    with pytest.raises(smsgate.InvalidPhoneNumber):
        Gateway([MemoryProvider()], retry=None).send(_Unreadable([GE]), "Hi")


def test_a_recorded_exception_keeps_no_key_in_its_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    # An exception escaping from under the transport, where frames hold the built request.
    import requests.adapters

    from .test_transport_secrets import frame_leaks

    key = "frames-key-9f3a1"

    def broken(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise Boom

    with serve(respond(200, OK), lifetime=10) as (url, _received):
        provider = smsgate.GoSmsGe(key, sender="Brand", base_url=url)
        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", broken)
        report = send_many(provider, [Message(to=GE, text="Hello")], concurrency=1)
        (error,) = report.results
        assert isinstance(error, smsgate.ProviderError) and error.may_have_sent is True
        assert isinstance(error.__cause__, Boom)
        assert error.__cause__.__traceback__ is not None  # the lines stay for debugging
        assert frame_leaks(error, (key,)) == []

        first = MemoryProvider()
        gateway = Gateway([], routes={"RO": [first], "GE": [provider]}, retry=None)
        result = gateway.send([RO, GE], "Hello")
        assert [r.status for r in result.recipients] == [Status.QUEUED, Status.UNKNOWN]
