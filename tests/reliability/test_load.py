"""32 threads share one Gateway and send 20,000 messages: each is accounted for exactly once."""

from __future__ import annotations

import collections
import threading

import smsgate
from smsgate.sandbox import Sandbox

MESSAGES = 20_000
THREADS = 32
NUMBERS = ["+995555123456", "+40712345678", "+233245972246"]


def test_20000_messages_from_32_threads_each_exactly_once() -> None:
    with Sandbox(delivery_delay=3600, balance=10**9) as sandbox:
        gateway = smsgate.Gateway([], routes={
            "GE": [sandbox.provider("gosms.ge", sender="Load")],
            "RO": [sandbox.provider("gosms.ro")],
            "GH": [sandbox.provider("smsgist")],
        })
        results: list[smsgate.SendResult | None] = [None] * MESSAGES
        errors: list[BaseException] = []

        def worker(offset: int) -> None:
            try:
                for i in range(offset, MESSAGES, THREADS):
                    results[i] = gateway.send(NUMBERS[i % 3], f"load {i}")
            except BaseException as exc:  # collected, then the test fails
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ledger = sandbox.messages()
    assert not errors, errors[:3]
    assert all(r is not None and r.ok for r in results)
    texts = collections.Counter(entry.text for entry in ledger)
    assert len(ledger) == MESSAGES
    assert set(texts.values()) == {1}
    assert set(texts) == {f"load {i}" for i in range(MESSAGES)}
    ids = [r.message_id for r in results if r is not None]
    assert len(set(ids)) == MESSAGES  # every result names its own message
