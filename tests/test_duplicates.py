"""One send to the same number twice sends it once, unless the caller asks (issue 21)."""

from __future__ import annotations

import pytest
import responses

import smsgate
from smsgate.sandbox import Sandbox
from smsgate.testing import MemoryProvider

SAME_NUMBER = ["+995555123456", "555 12 34 56", "00995555123456"]


def test_a_provider_sends_a_repeated_number_once() -> None:
    sms = MemoryProvider(region="GE")
    result = sms.send([*SAME_NUMBER, "+995577123456"], "Hi")
    assert [r.phone for r in result.recipients] == ["+995555123456", "+995577123456"]
    assert sms.last.to == ("+995555123456", "+995577123456")


def test_allow_duplicates_sends_every_entry() -> None:
    sms = MemoryProvider(region="GE")
    result = sms.send(SAME_NUMBER, "Hi", allow_duplicates=True)
    assert [r.phone for r in result.recipients] == ["+995555123456"] * 3


def test_allow_duplicates_must_be_a_bool() -> None:
    with pytest.raises(smsgate.ValidationError):
        MemoryProvider(region="GE").send(SAME_NUMBER, "Hi", allow_duplicates="yes")  # type: ignore[arg-type]
    with pytest.raises(smsgate.ValidationError):
        smsgate.Gateway([MemoryProvider()], region="GE").send(
            SAME_NUMBER, "Hi", allow_duplicates=1)  # type: ignore[arg-type]


def test_the_wire_carries_each_number_once() -> None:
    """GOSMS.GE's /sendbulk body lists a repeated number once (one charge, one SMS)."""
    with responses.RequestsMock() as rsps:
        call = rsps.post("https://api.gosms.ge/api/sendbulk", json={
            "success": True, "totalCount": 2, "successCount": 2, "failedCount": 0,
            "messages": [{"messageId": 1, "to": "995555123456", "success": True},
                         {"messageId": 2, "to": "995577123456", "success": True}]})
        smsgate.GoSmsGe("k", sender="B").send([*SAME_NUMBER, "+995577123456"], "Hi")
    import json

    assert json.loads(call.calls[0].request.body)["to"] == ["995555123456", "995577123456"]


def test_a_gateway_sends_a_repeated_number_once_and_passes_the_choice_on() -> None:
    first = MemoryProvider(region="GE")
    gateway = smsgate.Gateway([first], region="GE")
    assert len(gateway.send(SAME_NUMBER, "Hi").recipients) == 1
    assert len(gateway.send(SAME_NUMBER, "Hi", allow_duplicates=True).recipients) == 3
    assert [len(m.to) for m in first.outbox] == [1, 3]


def test_through_the_sandbox_one_ledger_entry_per_number() -> None:
    with Sandbox(delivery_delay=0.1) as sandbox:
        sms = sandbox.provider("smsgist", sender="Demo")
        sms.send(["0245972246", "+233245972246", "233245972246"], "Hi")
        assert [e.recipient for e in sandbox.messages("smsgist")] == ["+233245972246"]
