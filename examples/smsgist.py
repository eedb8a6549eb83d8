"""SMSGist: send with an idempotency key, survive a lost reply, check status, retry failures.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/smsgist.py
    SMSGIST_CLIENT_ID=... SMSGIST_TOKEN=... .venv/bin/python examples/smsgist.py
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import smsgate
from smsgate.sandbox import Sandbox


@contextlib.contextmanager
def gist() -> Iterator[tuple[smsgate.SmsGist, Sandbox | None]]:
    if os.environ.get("SMSGATE_SANDBOX") == "1":
        with Sandbox(delivery_delay=0.5) as sandbox:
            yield sandbox.provider("smsgist", sender="MyBrand", timeout=(2, 1)), sandbox
    else:
        yield smsgate.SmsGist(os.environ["SMSGIST_CLIENT_ID"], os.environ["SMSGIST_TOKEN"],
                              sender="MyBrand"), None


def send_once(sms: smsgate.SmsGist, key: str) -> smsgate.SendResult:
    """Send, and repeat with the same key if the reply is lost: SMSGist sends only once."""
    try:
        return sms.send(["0245972246", "0245979999"], "Order #1234 confirmed",
                        idempotency_key=key)
    except smsgate.DeliveryUnknown as exc:
        print(f"reply lost ({exc.message}); repeating with the same key")
        return sms.send(["0245972246", "0245979999"], "Order #1234 confirmed",
                        idempotency_key=key)


def main() -> None:
    with gist() as (sms, sandbox):
        if sandbox:
            sandbox.fault("smsgist", "process_then_reset", times=1)
        result = send_once(sms, "order-1234")
        print(f"message {result.message_id}: cost {result.cost} {result.currency}")
        time.sleep(1)
        for recipient in sms.status(result.message_id or "").recipients:
            print(recipient.phone, recipient.status, recipient.error or "")
        retried = sms.retry(result.message_id or "")
        print("retried failed recipients as", retried.message_id)


if __name__ == "__main__":
    try:
        main()
    except KeyError as missing:  # a credential the example reads from the environment
        raise SystemExit(f"set {missing.args[0]}, or SMSGATE_SANDBOX=1 for the sandbox") from None
