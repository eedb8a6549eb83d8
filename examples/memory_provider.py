"""Send through the in-memory provider and handle every outcome: no network needed.

    .venv/bin/python examples/memory_provider.py
"""

from __future__ import annotations

import smsgate
from smsgate.testing import MemoryProvider


def main() -> None:
    sms = MemoryProvider(region="GE", sender="MyShop")
    result = sms.send(["555 12 34 56", "+995577123456"], "Your order has shipped")
    print(f"accepted={result.ok} id={result.message_id} segments={result.segments}")

    sms.fail_next(smsgate.DeliveryUnknown("reply lost", provider="memory"))
    try:
        sms.send("+995555123456", "Second message")
    except smsgate.ProviderError as exc:
        verdict = "do NOT resend blindly" if exc.may_have_sent else "safe to resend"
        print(f"{type(exc).__name__}: {verdict}")

    try:
        sms.send("+99555512345", "too short a number")
    except smsgate.ValidationError as exc:
        print(f"rejected before sending: {exc}")

    print(f"outbox holds {len(sms.outbox)} message(s); balance {sms.balance().amount}")


if __name__ == "__main__":
    main()
