"""SMSOffice.ge's "-100 Temporary delay" end to end: the ``temporary_delay`` fault processes the
send (the worst case: it may have gone out) and answers -100; smsgate reads it as an unknown
outcome, and a gateway neither retries nor fails over."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

import smsgate
from smsgate import Status
from smsgate.sandbox import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=0.2) as running:
        yield running


def test_minus_100_is_an_unknown_outcome_and_the_ledger_has_the_message(
    sandbox: Sandbox,
) -> None:
    office = sandbox.provider("smsoffice.ge", sender="Demo")
    sandbox.fault("smsoffice.ge", "temporary_delay", times=1)
    with pytest.raises(smsgate.DeliveryUnknown) as info:
        office.send("+995577123456", "Your code is 4821", reference="otp-981")
    error = info.value
    assert error.code == -100
    assert error.may_have_sent is True and error.retryable is False
    assert "otp-981" in str(error)  # the reference to settle it by
    [entry] = sandbox.messages("smsoffice.ge")
    assert (entry.reference, entry.recipient, entry.fault) == (
        "otp-981", "+995577123456", "temporary_delay")
    assert sandbox.balance("smsoffice.ge") == 9_999  # charged, as a sent message is
    # Settled as the provider page says: look the send up by its reference.
    time.sleep(0.3)
    assert office.status("otp-981", recipient="+995577123456").status is Status.DELIVERED
    # times=1: the next send is answered normally.
    assert office.send("+995577123456", "again", reference="otp-982").ok
    row = next(r for r in requests.get(f"{sandbox.url}/_sandbox/inbox", timeout=5).json()["rows"]
               if r["message_id"] == "otp-981")
    assert row["reason"] == "fault temporary_delay: sent, but answered -100 Temporary delay"
    assert not row["greyed"]


def test_a_gateway_does_not_fail_over_after_minus_100(sandbox: Sandbox) -> None:
    office = sandbox.provider("smsoffice.ge", sender="Demo")
    backup = sandbox.provider("gosms.ge", sender="Demo")
    gateway = smsgate.Gateway([office, backup])
    requests.post(f"{sandbox.url}/_sandbox/faults", timeout=5,
                  json={"provider": "smsoffice.ge", "kind": "temporary_delay"}).raise_for_status()
    with pytest.raises(smsgate.ProviderError) as info:
        gateway.send("+995577123456", "once only")
    assert info.value.may_have_sent is True
    assert sandbox.requests("smsoffice.ge") == 1  # no retry of an unknown outcome
    assert sandbox.requests("gosms.ge") == 0  # and no failover: it could send twice
    assert len(sandbox.messages("smsoffice.ge")) == 1 and sandbox.messages("gosms.ge") == []


def test_minus_100_on_a_refused_send_still_sends_nothing(sandbox: Sandbox) -> None:
    office = sandbox.provider("smsoffice.ge", sender="Demo")
    sandbox.fault("smsoffice.ge", "temporary_delay", times=1)
    with pytest.raises(smsgate.DeliveryUnknown):
        office.send("+995555120000", "stop-listed")
    assert sandbox.messages() == []
    assert [r.reason for r in sandbox.refusals()] == ["ErrorCode 75: All numbers are stoplisted"]


def test_minus_100_is_smsoffice_only(sandbox: Sandbox) -> None:
    with pytest.raises(smsgate.ConfigurationError, match=r"only smsoffice\.ge"):
        sandbox.fault("gosms.ge", "temporary_delay")
    reply = requests.post(f"{sandbox.url}/_sandbox/faults", timeout=5,
                          json={"provider": "smsgist", "kind": "temporary_delay"})
    assert reply.status_code == 400 and "only smsoffice.ge" in reply.json()["error"]
