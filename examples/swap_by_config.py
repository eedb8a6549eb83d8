"""Swap GOSMS.GE for SMSOffice.ge by changing configuration only: the code stays the same.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/swap_by_config.py
"""

from __future__ import annotations

import os

import smsgate
from smsgate.sandbox import Sandbox


def notify(sms: smsgate.SmsProvider) -> None:
    """Application code: it only knows the SmsProvider interface."""
    result = sms.send("+995577123456", "Your appointment is tomorrow at 10:00")
    print(f"sent via {result.provider}, id {result.message_id}")


def main() -> None:
    if os.environ.get("SMSGATE_SANDBOX") != "1":
        notify(smsgate.from_env())
        return
    with Sandbox() as sandbox:
        for name in ("gosms.ge", "smsoffice.ge"):           # what SMSGATE_URL would say
            os.environ["SMSGATE_URL"] = sandbox.provider_url(name, sender="MyShop")
            with smsgate.from_env() as sms:
                notify(sms)


if __name__ == "__main__":
    try:
        main()
    except smsgate.ConfigurationError as exc:  # no provider configured
        raise SystemExit(f"{exc}, or SMSGATE_SANDBOX=1 to use the sandbox") from None
