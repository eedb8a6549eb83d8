"""Personalised messages from a CSV (phone,name), sent concurrently with a progress bar.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/bulk_from_csv.py
    SMSGATE_URL=... .venv/bin/python examples/bulk_from_csv.py customers.csv
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
from collections.abc import Iterator

import smsgate
from smsgate.sandbox import Sandbox

SAMPLE = "phone,name\n" + "".join(f"+99555512{i:04d},Customer {i}\n" for i in range(1, 200))
SAMPLE += "+99555512,Broken Number\n"


@contextlib.contextmanager
def configured() -> Iterator[smsgate.SmsProvider]:
    if os.environ.get("SMSGATE_SANDBOX") == "1":
        with Sandbox() as sandbox:
            yield sandbox.provider("smsoffice.ge", sender="MyShop")
    else:
        with smsgate.from_env() as provider:
            yield provider


def main() -> int:
    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding="utf-8", newline="") as source:
            rows = list(csv.DictReader(source))
    else:
        rows = list(csv.DictReader(io.StringIO(SAMPLE)))
    messages = [smsgate.Message(row["phone"], f"Hi {row['name']}, your order is ready")
                for row in rows]
    with configured() as sms:
        report = smsgate.send_many(sms, messages, concurrency=8, progress=True)
    print(f"sent {report.sent}, failed {report.failed}")
    for index, error in report.errors:
        print(f"  row {index + 2} ({rows[index]['name']}): {type(error).__name__}: {error}")
    return 1 if report.failed else 0  # a script in a pipeline must not hide a failed row


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except smsgate.ConfigurationError as exc:  # no provider configured
        raise SystemExit(f"{exc}, or SMSGATE_SANDBOX=1 to use the sandbox") from None
