"""A Celery app that sends a campaign through smsgate and never sends a message twice.

In production the app runs on workers (``celery -A celery_fleet worker``) with Redis as the
broker and the claim store (set ``SMSGATE_REDIS`` and the providers' URLs). Run as a script
with ``SMSGATE_SANDBOX=1`` it needs neither: Celery's eager mode runs each task in this
process, the sandbox plays the provider, and the claims live in memory. The script then
shows what a fleet does when a provider's reply is lost: the task does not retry, the broker's
second delivery sends nothing, and reconciliation settles the claim from the provider's answer.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/celery_fleet.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from celery import Celery

import smsgate
from smsgate.contrib.celery import (
    RedisOutbox,
    enqueue,
    make_reconcile_task,
    make_send_task,
)
from smsgate.stores import ClaimStore, MemoryClaimStore


# --8<-- [start:app]
def make_app(
    broker: str,
    providers: Callable[[], list[Any]],
    claims: Callable[[], ClaimStore],
    outbox: Callable[[], RedisOutbox] | None = None,
) -> tuple[Celery, Any, Any]:
    """The app, its send task and its reconciliation task."""
    app = Celery("sms", broker=broker)
    app.conf.update(
        broker_transport_options={
            "visibility_timeout": 600,      # >= 2 x the deadline
            # A killed worker's tasks come back within about a minute of the timeout.
            "unacked_restore_interval": 10, "unacked_restore_throttle": 1,
            "unacked_mutex_expire": 60,
        },
        worker_prefetch_multiplier=1,                         # one task in hand at a time
        beat_schedule={"reconcile-sms": {"task": "sms.reconcile", "schedule": 60.0}},
    )

    def build_gateway(claim_store: ClaimStore | None) -> smsgate.Gateway:
        return smsgate.Gateway(providers(), claims=claim_store, deadline=20)

    send_sms = make_send_task(app, name="sms.send", gateway_factory=build_gateway,
                              claims=claims, outbox=outbox)
    reconcile_sms = make_reconcile_task(app, name="sms.reconcile",
                                        gateway_factory=build_gateway, claims=claims,
                                        send_task=send_sms)
    return app, send_sms, reconcile_sms
# --8<-- [end:app]


def production() -> tuple[Celery, Any, Any]:
    """The app the workers load: Redis for everything, providers from SMSGATE_URL."""
    from smsgate.stores import RedisClaimStore

    redis_url = os.environ["SMSGATE_REDIS"]
    return make_app(
        redis_url,
        providers=lambda: [smsgate.from_url(url)
                           for url in os.environ["SMSGATE_URL"].split()],
        claims=lambda: RedisClaimStore(redis_url),
        outbox=lambda: RedisOutbox(redis_url),
    )


if os.environ.get("SMSGATE_REDIS") and __name__ != "__main__":
    app, send_sms, reconcile_sms = production()


def demo() -> None:
    from smsgate.sandbox import Sandbox

    with Sandbox(delivery_delay=0.0) as sandbox:
        claims = MemoryClaimStore()
        app, send_sms, reconcile_sms = make_app(
            "memory://", lambda: [sandbox.provider("smsoffice.ge", sender="MyBrand")],
            lambda: claims)
        app.conf.task_always_eager = True  # tasks run here, as the workers would run them
        numbers = [f"+995577{100001 + 7 * i:06d}" for i in range(1200)]

        # The second bulk call reaches the provider, and its reply is lost on the way back.
        sandbox.fault("smsoffice.ge", "latency", times=1, seconds=0)
        sandbox.fault("smsoffice.ge", "process_then_reset", times=1)
        keys = enqueue(send_sms, [smsgate.Message(n, "Sale ends today") for n in numbers])
        calls = sorted(set(keys), key=keys.index)
        print(f"{len(numbers)} messages in {len(calls)} tasks (one per bulk call)")
        for key in calls:
            claim = claims.get(key)
            print(f"  task {calls.index(key) + 1}: claim {claim.state.value if claim else '-'}")

        # The broker delivers the unknown task again (a worker died, a timeout ran out).
        before = sandbox.requests("smsoffice.ge")
        outcome = send_sms.apply_async(args=[numbers[1000:], "Sale ends today", calls[1],
                                             {}]).get()
        print(f"delivered again: {outcome['state']}, "
              f"{sandbox.requests('smsoffice.ge') - before} requests")

        report = reconcile_sms.apply_async().get()
        for key, state in report["settled"]:
            print(f"reconciled task {calls.index(key) + 1}: {state}")
        received = len(sandbox.messages("smsoffice.ge"))
        print(f"messages in the provider's ledger: {received} of {len(numbers)}")


def main() -> None:
    if os.environ.get("SMSGATE_SANDBOX") != "1":
        raise SystemExit("this example runs against the sandbox: set SMSGATE_SANDBOX=1 (or "
                         "load it in workers with SMSGATE_REDIS and SMSGATE_URL set)")
    demo()


if __name__ == "__main__":
    main()
