"""Country routing: Georgian numbers via GOSMS.GE, Romanian via GoSMS.ro, Ghanaian via SMSGist.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/routing.py
"""

from __future__ import annotations

import os

import smsgate
from smsgate.sandbox import Sandbox


def main() -> None:
    if os.environ.get("SMSGATE_SANDBOX") != "1":
        raise SystemExit("this example runs against the sandbox: set SMSGATE_SANDBOX=1")
    with Sandbox() as sandbox:
        gateway = smsgate.Gateway([], routes={
            "GE": [sandbox.provider("gosms.ge", sender="MyBrand"),
                   sandbox.provider("smsoffice.ge", sender="MyBrand")],
            "RO": [sandbox.provider("gosms.ro")],
            "GH": [sandbox.provider("smsgist")],
        })
        result = gateway.send(["+40712345678", "+995555123456", "+233245972246"],
                              "Your parcel is on its way")
        for recipient in result.recipients:
            print(f"{recipient.phone}: {recipient.status} (id {recipient.message_id})")
        by_provider = {e.provider: e.recipient for e in sandbox.messages()}
        print("ledger:", by_provider)
        try:
            gateway.send("+359888123456", "Bulgaria has no route")
        except smsgate.ValidationError as exc:
            print("refused before sending:", exc)


if __name__ == "__main__":
    main()
