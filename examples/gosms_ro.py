"""GoSMS.ro: a scheduled send with a validity period; cost and currency from the reply.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/gosms_ro.py
    GOSMS_RO_API_KEY=... .venv/bin/python examples/gosms_ro.py
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
    tomorrow = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    with gosms_ro() as sms:
        result = sms.send(["0712345678", "+359888123456"], "Programarea dvs. este mâine",
                          schedule_at=tomorrow, validity=dt.timedelta(hours=2))
        print(f"ids {[r.message_id for r in result.recipients]}, "
              f"cost {result.cost} {result.currency}")
        try:
            sms.status(result.message_id or "")
        except smsgate.UnsupportedFeature as exc:
            print("status:", exc)


if __name__ == "__main__":
    try:
        main()
    except KeyError as missing:  # a credential the example reads from the environment
        raise SystemExit(f"set {missing.args[0]}, or SMSGATE_SANDBOX=1 for the sandbox") from None
