"""SMSOffice.ge: send with a reference, check the status by reference, read the balance.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/smsoffice_ge.py
    SMSOFFICE_API_KEY=... .venv/bin/python examples/smsoffice_ge.py
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import smsgate
from smsgate.sandbox import Sandbox


@contextlib.contextmanager
def office() -> Iterator[smsgate.SmsOfficeGe]:
    if os.environ.get("SMSGATE_SANDBOX") == "1":
        with Sandbox(delivery_delay=0.5) as sandbox:
            yield sandbox.provider("smsoffice.ge", sender="MyShop")
    else:
        yield smsgate.SmsOfficeGe(os.environ["SMSOFFICE_API_KEY"], sender="MyShop")


def main() -> None:
    with office() as sms:
        result = sms.send(["+995577123456", "599 12 34 56"], "Your table is ready",
                          urgent=True)
        reference = result.message_id or ""
        print(f"sent to {len(result.recipients)} numbers, reference {reference}")
        time.sleep(1)
        for number in ("+995577123456", "+995599123456"):
            print(number, sms.status(reference, recipient=number).status)
        print("messages left:", sms.balance().amount)


if __name__ == "__main__":
    try:
        main()
    except KeyError as missing:  # a credential the example reads from the environment
        raise SystemExit(f"set {missing.args[0]}, or SMSGATE_SANDBOX=1 for the sandbox") from None
