"""GOSMS.GE: a bulk send, a status check, the balance and an OTP round trip.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/gosms_ge.py      # against the local sandbox
    GOSMS_API_KEY=... .venv/bin/python examples/gosms_ge.py      # against GOSMS.GE itself
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import smsgate
from smsgate.sandbox import Sandbox


@contextlib.contextmanager
def gosms() -> Iterator[tuple[smsgate.GoSmsGe, Sandbox | None]]:
    if os.environ.get("SMSGATE_SANDBOX") == "1":
        with Sandbox() as sandbox:
            yield sandbox.provider("gosms.ge", sender="MyBrand"), sandbox
    else:
        yield smsgate.GoSmsGe(os.environ["GOSMS_API_KEY"], sender="MyBrand"), None


def main() -> None:
    with gosms() as (sms, sandbox):
        result = sms.send(["+995555123456", "577 12 34 56"], "Your order has shipped")
        for recipient in result.recipients:
            print(f"{recipient.phone}: {recipient.status} (id {recipient.message_id})")
        print("status:", sms.status(result.message_id or "").status)
        print("credits left:", sms.balance().amount)

        challenge = sms.send_otp("+995555123456")
        code = sandbox.otp_code("+995555123456") if sandbox else input("code received: ")
        print("OTP valid:", sms.verify_otp("+995555123456", challenge.hash, code or "").valid)


if __name__ == "__main__":
    try:
        main()
    except KeyError as missing:  # a credential the example reads from the environment
        raise SystemExit(f"set {missing.args[0]}, or SMSGATE_SANDBOX=1 for the sandbox") from None
