"""A bulk send that can be run again after a crash without sending anything twice.

Each message has its own idempotency key, and the gateway takes a claim on it in a SQLite
file before any request. Run the batch again (after a crash, a deploy, a Ctrl-C) and every
message that went out returns its stored result with no request; one whose outcome was lost
raises DeliveryUnknown until smsgate.reconcile has asked the provider.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/crash_safe_bulk.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import smsgate
from smsgate.sandbox import Sandbox
from smsgate.stores import SqliteClaimStore

NUMBERS = [f"+9955551234{i:02d}" for i in range(1, 6)]


# --8<-- [start:run_batch]
def run_batch(gateway: smsgate.Gateway, batch: str) -> tuple[int, int]:
    """Send the batch; (sent or already sent, unknown)."""
    sent = unknown = 0
    for index, number in enumerate(NUMBERS):
        try:
            gateway.send(number, f"Your parcel {index} has shipped",
                         idempotency_key=f"{batch}-{index}")  # one stable key per message
            sent += 1
        except smsgate.DeliveryUnknown:
            unknown += 1  # may have gone out: never resent blindly
    return sent, unknown
# --8<-- [end:run_batch]


def main() -> None:
    if os.environ.get("SMSGATE_SANDBOX") != "1":
        raise SystemExit("this example runs against the sandbox: set SMSGATE_SANDBOX=1")
    with Sandbox() as sandbox, tempfile.TemporaryDirectory() as folder:
        claims = SqliteClaimStore(Path(folder) / "claims.sqlite3")
        gateway = smsgate.Gateway([sandbox.provider("smsoffice.ge", sender="MyBrand")],
                                  claims=claims, retry=None)

        # The first send reaches the provider, but its reply is lost on the way back.
        sandbox.fault("smsoffice.ge", "process_then_reset", times=1)
        requests_at_start = sandbox.requests("smsoffice.ge")
        sent, unknown = run_batch(gateway, "shipping-0525")
        print(f"first run: sent {sent}, unknown {unknown}")

        before = sandbox.requests("smsoffice.ge")
        sent, unknown = run_batch(gateway, "shipping-0525")  # the same batch, run again
        print(f"second run: {sandbox.requests('smsoffice.ge') - before} requests, "
              f"{unknown} unknown")

        report = smsgate.reconcile(gateway, claims)
        for settled in report.settled:
            print(f"reconciled {settled.key}: {settled.state.value}")
        for open_claim in report.unsettled:
            print(f"still unknown {open_claim.key}: {open_claim.reason}")

        before = sandbox.requests("smsoffice.ge")
        sent, unknown = run_batch(gateway, "shipping-0525")
        print(f"after reconcile: {sent} of {len(NUMBERS)} sent, "
              f"{sandbox.requests('smsoffice.ge') - before} requests")
        print(f"messages in the provider's ledger: {len(sandbox.messages('smsoffice.ge'))} "
              f"({sandbox.requests('smsoffice.ge') - requests_at_start} requests in all)")
        claims.close()


if __name__ == "__main__":
    main()
