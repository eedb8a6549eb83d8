"""Send guards: premium-rate numbers refused by default, the recommended OTP policy against a
bot walking consecutive numbers, and a cost estimate checked against what GoSMS.ro billed.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/send_guards.py
    GOSMS_RO_API_KEY=... .venv/bin/python examples/send_guards.py
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import smsgate
from smsgate.sandbox import Sandbox


@contextlib.contextmanager
def gosms_ro() -> Iterator[smsgate.GoSmsRo]:
    if os.environ.get("SMSGATE_SANDBOX") == "1":
        with Sandbox() as sandbox:
            yield sandbox.provider("gosms.ro")
    else:
        yield smsgate.GoSmsRo(os.environ["GOSMS_RO_API_KEY"])


def main() -> None:
    with gosms_ro() as sms:
        # 1. No configuration: a premium-rate number is refused before any request.
        try:
            sms.send("+449012345678", "Your code is 480155")
        except smsgate.PolicyViolation as refused:
            print(f"refused ({refused.reason}): {refused}")

        # 2. The recommended OTP policy: a bot walking one block of numbers gets 10 codes
        #    an hour, then nothing; every refusal costs no request.
        otp = smsgate.Gateway([sms], policy=smsgate.SendPolicy.recommended_otp(
            allow_countries=["RO"]))
        sent = refused_count = 0
        for n in range(1, 31):
            try:
                otp.send(f"+4072212{n:04d}", "Your code is 480155")
                sent += 1
            except smsgate.PolicyViolation:
                refused_count += 1
        print(f"bot walking consecutive numbers: {sent} sent, {refused_count} refused")

        # 3. What a send will cost, before sending; then what the provider billed.
        prices = smsgate.PriceTable.from_dict({"gosms.ro": {"RO": "0.03 EUR"}})
        text = "Programarea dvs. este mâine la ora 10:00. " * 4  # 172 ISO-8859-1 chars: 2 parts
        quote = smsgate.estimate(sms, "+40722999123", text, prices=prices)
        result = sms.send("+40722999123", text)
        print(f"estimate {quote.cost} {quote.currency} ({quote.segments} parts), "
              f"billed {result.cost} {result.currency}")


if __name__ == "__main__":
    try:
        main()
    except KeyError as missing:  # a credential the example reads from the environment
        raise SystemExit(f"set {missing.args[0]}, or SMSGATE_SANDBOX=1 for the sandbox") from None
