"""Failover between two gateways: GOSMS.GE first, SMSOffice.ge when it is down.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/failover.py
"""

from __future__ import annotations

import os

import smsgate
from smsgate.sandbox import Sandbox


def main() -> None:
    if os.environ.get("SMSGATE_SANDBOX") != "1":
        raise SystemExit("this example runs against the sandbox: set SMSGATE_SANDBOX=1")
    with Sandbox() as sandbox:
        gateway = smsgate.Gateway(
            [sandbox.provider("gosms.ge", sender="MyBrand"),
             sandbox.provider("smsoffice.ge", sender="MyBrand")],
            retry=smsgate.RetryPolicy(attempts=2, backoff=0.05),
            deadline=10,
        )
        print("normal:", gateway.send("+995555123456", "Hello").provider)

        sandbox.fault("gosms.ge", "refuse")                    # GOSMS.GE goes down
        result = gateway.send("+995555123456", "Hello again")
        for attempt in result.attempts:
            print(f"  {attempt.provider}: {attempt.error or 'ok'} ({attempt.elapsed:.3f} s)")
        print("with GOSMS.GE down:", result.provider)

        sandbox.clear_faults()
        sandbox.fault("gosms.ge", "process_then_reset", times=1)  # the reply is lost
        try:
            gateway.send("+995555123456", "Important")
        except smsgate.DeliveryUnknown as exc:
            print(f"unknown outcome, no failover (no duplicate): may_have_sent={exc.may_have_sent}")


if __name__ == "__main__":
    main()
