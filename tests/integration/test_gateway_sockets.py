"""The Gateway over real adapters and real sockets: failover and the deadline."""

from __future__ import annotations

import time

import pytest

import smsgate
from smsgate import Gateway, RetryPolicy
from smsgate.sandbox import Sandbox


def test_fails_over_from_a_refusing_provider() -> None:
    with Sandbox() as sandbox:
        gosms = sandbox.provider("gosms.ge", sender="Demo")
        office = sandbox.provider("smsoffice.ge", sender="Demo")
        sandbox.fault("gosms.ge", "refuse")
        result = Gateway([gosms, office]).send("+995555123456", "Hi")
        assert result.provider == "smsoffice.ge"
        assert [a.error for a in result.attempts if a.provider == "gosms.ge"] == [
            "ConnectError"] * 3
        assert len(sandbox.messages("gosms.ge")) == 0
        assert len(sandbox.messages("smsoffice.ge")) == 1


def test_every_provider_hanging_returns_within_the_deadline() -> None:
    with Sandbox() as sandbox:
        providers = [sandbox.provider(name, sender="Demo") for name in ("gosms.ge",
                                                                        "smsoffice.ge")]
        for name in ("gosms.ge", "smsoffice.ge"):
            sandbox.fault(name, "hang_before_read", seconds=30)
        gateway = Gateway(providers, deadline=1.0, failover_on_unknown=True,
                          retry=RetryPolicy(attempts=2))
        started = time.monotonic()
        with pytest.raises(smsgate.SmsGateError):
            gateway.send("+995555123456", "Hi")
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 1.0  # the default 30 s read timeout shrank to the deadline
