"""smsgate.reconcile against the sandbox: settles what the provider can report, never sends,
and lists what it cannot settle with the reason."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import smsgate
from smsgate.sandbox import UNDELIVERABLE_SUFFIX, Sandbox
from smsgate.stores import ClaimState, MemoryClaimStore

GE = "+995555123456"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=0.05) as running:
        yield running


def lost_reply(sandbox: Sandbox, gateway: smsgate.Gateway, name: str, to: str, key: str) -> None:
    """A send whose reply is lost after the provider processed it: claim UNKNOWN."""
    sandbox.fault(name, "process_then_reset", times=1)
    with pytest.raises(smsgate.DeliveryUnknown):
        gateway.send(to, "Your code is 1234", idempotency_key=key)


def test_an_unknown_send_the_provider_received_is_settled_and_never_resent(
    sandbox: Sandbox,
) -> None:
    office = sandbox.provider("smsoffice.ge", sender="Brand")
    store = MemoryClaimStore()
    gateway = smsgate.Gateway([office], claims=store, retry=None)
    before = len(sandbox.messages("smsoffice.ge"))
    lost_reply(sandbox, gateway, "smsoffice.ge", GE, "otp-1")
    assert store.get("otp-1").state is ClaimState.UNKNOWN  # type: ignore[union-attr]
    requests = sandbox.requests("smsoffice.ge")

    report = smsgate.reconcile(gateway, store)
    assert report.ok and [s.key for s in report.settled] == ["otp-1"]
    (settled,) = report.settled
    assert settled.state is ClaimState.ACCEPTED and settled.provider == "smsoffice.ge"
    assert sandbox.requests("smsoffice.ge") - requests == 1  # one status lookup, no send

    result = gateway.send(GE, "Your code is 1234", idempotency_key="otp-1")
    assert result.ok and result.message_id == settled.message_id
    assert sandbox.requests("smsoffice.ge") - requests == 1  # the stored result: no request
    assert len(sandbox.messages("smsoffice.ge")) - before == 1  # sent exactly once


def test_a_received_send_that_failed_is_settled_rejected(sandbox: Sandbox) -> None:
    office = sandbox.provider("smsoffice.ge", sender="Brand")
    store = MemoryClaimStore()
    gateway = smsgate.Gateway([office], claims=store, retry=None)
    dead = "+99555512" + UNDELIVERABLE_SUFFIX
    lost_reply(sandbox, gateway, "smsoffice.ge", dead, "dead-1")
    reference = store.get("dead-1").payload["intent"]["reference"]  # type: ignore[union-attr,index]
    deadline = time.monotonic() + 10
    # The sandbox fails the delivery after its delivery delay.
    while office.status(reference, recipient=dead).status is not smsgate.Status.FAILED:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    report = smsgate.reconcile(office, store, keys=["dead-1"])
    assert [(s.key, s.state) for s in report.settled] == [("dead-1", ClaimState.REJECTED)]
    with pytest.raises(smsgate.RecipientRejected):
        gateway.send("+99555512" + UNDELIVERABLE_SUFFIX, "Your code is 1234",
                     idempotency_key="dead-1")


def test_what_cannot_be_settled_is_listed_with_a_reason(sandbox: Sandbox) -> None:
    gosms = sandbox.provider("gosms.ge", sender="Brand")
    office = sandbox.provider("smsoffice.ge", sender="Brand")
    store = MemoryClaimStore()
    by_id = smsgate.Gateway([gosms], claims=store, retry=None)
    lost_reply(sandbox, by_id, "gosms.ge", GE, "gosms-1")
    by_id.send(GE, "fine", idempotency_key="done-1")
    # A holder that died before its request: the provider never heard of the reference.
    store.begin("never-sent", lease=0.01, payload={"intent": {
        "recipients": [GE], "providers": [["smsoffice.ge", office.state_key]],
        "reference": "sg000000000000000000"}})
    time.sleep(0.05)
    ledger = len(sandbox.messages())
    report = smsgate.reconcile(smsgate.Gateway([gosms, office]), store,
                               keys=["gosms-1", "done-1", "never-sent", "missing"])
    assert report.settled == () and not report.ok
    reasons = {u.key: u.reason for u in report.unsettled}
    assert "message id" in reasons["gosms-1"]
    assert "accepted, not unknown" in reasons["done-1"]
    assert "not proof" in reasons["never-sent"]
    assert reasons["missing"] == "no claim under this key"
    assert store.get("never-sent").state is ClaimState.UNKNOWN  # type: ignore[union-attr]
    assert len(sandbox.messages()) == ledger  # reconciling never sends
    with pytest.raises(smsgate.DeliveryUnknown):
        by_id.send(GE, "Your code is 1234", idempotency_key="gosms-1")
