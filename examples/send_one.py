"""Send one SMS with whatever provider the environment configures.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/send_one.py
    SMSGATE_URL='gosms.ge://KEY@?sender=MyBrand' .venv/bin/python examples/send_one.py +995555123456
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import smsgate
from smsgate.sandbox import Sandbox


@contextlib.contextmanager
def configured() -> Iterator[smsgate.SmsProvider]:
    if os.environ.get("SMSGATE_SANDBOX") == "1":
        with Sandbox() as sandbox:
            yield sandbox.provider("gosms.ge", sender="MyBrand")
    else:
        with smsgate.from_env() as provider:
            yield provider


def main() -> int:
    to = sys.argv[1] if len(sys.argv) > 1 else "+995555123456"
    with configured() as sms:
        try:
            result = sms.send(to, "Your order #1234 has shipped")
        except smsgate.ValidationError as exc:
            print(f"not sent, fix the input: {exc}")
            return 2
        except smsgate.ProviderError as exc:
            print(f"{type(exc).__name__}: {exc}")
            print("it may have been sent" if exc.may_have_sent else "nothing was sent")
            return 1
    print(f"{result.provider} accepted it: id {result.message_id}, "
          f"{result.segments} segment(s)")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except smsgate.ConfigurationError as exc:  # no provider configured
        raise SystemExit(f"{exc}, or SMSGATE_SANDBOX=1 to use the sandbox") from None
