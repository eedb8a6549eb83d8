"""smsgate.contrib.celery in one process: settings, the start-up check, chunking, and what
the send task does with each of smsgate's answers (Celery's eager mode, the sandbox as the
provider). The same tasks under real workers that are SIGKILLed: test_fleet_workers.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("celery")

from celery import Celery

import smsgate
from smsgate.contrib.celery import (
    RedisOutbox,
    check_settings,
    enqueue,
    make_reconcile_task,
    make_send_task,
    redeliver,
)
from smsgate.sandbox import Sandbox
from smsgate.stores import ClaimState, MemoryClaimStore, RedisClaimStore

from .redis_server import RedisServer, redis_prefix, redis_server  # noqa: F401


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=0.0) as running:
        yield running


def eager_app() -> Celery:
    app = Celery("smsgate-test", broker="memory://")
    app.conf.task_always_eager = True
    app.conf.worker_prefetch_multiplier = 1
    return app


def factory(sandbox: Sandbox, name: str = "smsoffice.ge", **gateway: Any) -> Any:
    def build(claims: Any) -> smsgate.Gateway:
        provider = sandbox.provider(name, sender="Fleet")
        options = {"deadline": 1.0, "retry": None, **gateway}
        return smsgate.Gateway([provider], claims=claims, **options)
    return build


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed on return: nothing listens there


# -- settings and the start-up check ---------------------------------------------------------


def test_the_task_acks_late_is_rejected_when_its_worker_dies_and_never_autoretries(
    sandbox: Sandbox,
) -> None:
    task = make_send_task(eager_app(), gateway_factory=factory(sandbox, deadline=12.0),
                          claims=MemoryClaimStore(), name="t.settings", grace=8.0)
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert task.soft_time_limit == 16.0 and task.time_limit == 20.0  # deadline + grace
    assert not getattr(task, "autoretry_for", ())


def test_a_gateway_without_a_deadline_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(smsgate.ConfigurationError, match="deadline"):
        make_send_task(eager_app(), gateway_factory=factory(sandbox, deadline=None),
                       claims=MemoryClaimStore(), name="t.nodeadline")


def test_a_visibility_timeout_under_twice_the_deadline_is_refused(sandbox: Sandbox) -> None:
    app = Celery("smsgate-test", broker="redis://127.0.0.1:1/0")
    app.conf.broker_transport_options = {"visibility_timeout": 50}
    gateway = factory(sandbox, deadline=30.0)(None)
    with pytest.raises(smsgate.ConfigurationError,
                       match=r"visibility timeout \(50 s\) is shorter than 60 s"):
        check_settings(app, gateway, grace=10)
    app.conf.broker_transport_options = {"visibility_timeout": 60}
    settings = check_settings(app, gateway, grace=10)
    assert settings.max_countdown < 60  # a retry waits less than the visibility timeout
    # Celery's own default (an hour) passes for a 30 s deadline.
    app.conf.broker_transport_options = {}
    assert check_settings(app, gateway).visibility_timeout == 3600


def test_acks_that_are_not_late_are_refused(sandbox: Sandbox) -> None:
    gateway = factory(sandbox)(None)
    with pytest.raises(smsgate.ConfigurationError, match="acks_late"):
        check_settings(eager_app(), gateway, acks_late=False)
    with pytest.raises(smsgate.ConfigurationError, match="reject_on_worker_lost"):
        check_settings(eager_app(), gateway, reject_on_worker_lost=False)


def test_the_factory_must_build_its_gateway_with_the_claims_given(sandbox: Sandbox) -> None:
    def ignores_claims(claims: Any) -> smsgate.Gateway:
        return factory(sandbox)(None)

    with pytest.raises(smsgate.ConfigurationError, match="claims=claims"):
        make_send_task(eager_app(), gateway_factory=ignores_claims, claims=MemoryClaimStore(),
                       name="t.ignores")


# -- enqueue -------------------------------------------------------------------------------


def test_enqueue_mints_keys_and_chunks_to_each_route_bulk_size(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def build(claims: Any) -> smsgate.Gateway:
        return smsgate.Gateway([], routes={"GE": [sandbox.provider("gosms.ge", sender="F")],
                                           "RO": [sandbox.provider("gosms.ro")]},
                               claims=claims, deadline=5.0)

    task = make_send_task(eager_app(), gateway_factory=build, claims=MemoryClaimStore(),
                          name="t.chunks")
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(task, "apply_async", lambda args, **kw: calls.append(tuple(args)))
    georgian = [f"+995555{100001 + i:06d}" for i in range(2500)]
    messages = [smsgate.Message(n, "Sale") for n in georgian]
    messages += [smsgate.Message(f"+40722{100001 + i:06d}", "Sale") for i in range(3)]
    messages.append(smsgate.Message(georgian[-1], "Sale"))  # again, while its call is open
    messages.append(smsgate.Message(georgian[1], "Sale", idempotency_key="mine"))
    keys = enqueue(task, messages)

    assert len(keys) == len(messages)
    sizes = sorted(len(recipients) for recipients, *_ in calls)
    assert sizes == [1, 1, 1, 1, 1, 500, 1000, 1000]  # GOSMS.GE: 1000; GoSMS.ro: 1
    by_key = {key: recipients for recipients, _text, key, _options in calls}
    assert len(by_key) == len(calls)  # one key per task
    for message, key in zip(messages, keys, strict=True):
        assert message.to in by_key[key]  # each message's key is its call's
    assert keys[-1] == "mine" and by_key["mine"] == [georgian[1]]
    assert keys[-2] != keys[2499]  # a number given twice goes in another call


def test_send_options_cross_the_queue_as_json(sandbox: Sandbox) -> None:
    import datetime as dt

    from smsgate.contrib.celery import _decode_options, _encode_options

    options = {"schedule_at": dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.timezone.utc),
               "validity": dt.timedelta(hours=2), "urgent": True}
    import json

    assert _decode_options(json.loads(json.dumps(_encode_options(options)))) == options


# -- what the task does with each answer (eager) ---------------------------------------------


def send_task(sandbox: Sandbox, name: str, claims: Any = None, **kw: Any) -> Any:
    return make_send_task(eager_app(), gateway_factory=factory(sandbox, **kw.pop("gw", {})),
                          claims=claims if claims is not None else MemoryClaimStore(),
                          name=name, backoff=0.01, **kw)


def texts(sandbox: Sandbox, text: str) -> int:
    return sum(1 for m in sandbox.messages() if m.text == text)


def test_an_accepted_send_is_never_sent_again_by_a_redelivery(sandbox: Sandbox) -> None:
    task = send_task(sandbox, "t.accepted")
    args = [["+995577100001", "+995577100004"], "accepted once", "key-a", {}]
    first = task.apply_async(args=args).get()
    assert first["state"] == "accepted" and first["accepted"] == 2
    requests = sandbox.requests("smsoffice.ge")
    again = task.apply_async(args=args).get()  # the broker delivers it again
    assert again["state"] == "accepted"
    assert sandbox.requests("smsoffice.ge") == requests
    assert texts(sandbox, "accepted once") == 2


def test_nothing_sent_is_retried_until_it_goes_out(sandbox: Sandbox) -> None:
    task = send_task(sandbox, "t.retried")
    sandbox.fault("smsoffice.ge", "error", times=2, status=503)  # nothing sent
    try:
        outcome = task.apply_async(args=[["+995577100007"], "retried", "key-r", {}]).get()
    finally:
        sandbox.clear_faults()
    assert outcome["state"] == "accepted"
    assert texts(sandbox, "retried") == 1


def test_what_may_have_been_sent_is_left_unknown_and_reconciled_never_resent(
    sandbox: Sandbox,
) -> None:
    claims = MemoryClaimStore()
    task = send_task(sandbox, "t.unknown", claims=claims)
    sandbox.fault("smsoffice.ge", "process_then_hang", times=1, seconds=5)
    try:
        outcome = task.apply_async(args=[["+995577100010"], "lost reply", "key-u", {}]).get()
    finally:
        sandbox.clear_faults()
    assert outcome["state"] == "unknown"
    assert texts(sandbox, "lost reply") == 1
    assert claims.get("key-u").state is ClaimState.UNKNOWN  # type: ignore[union-attr]
    assert task.apply_async(args=[["+995577100010"], "lost reply", "key-u", {}]).get()[
        "state"] == "unknown"  # a redelivery sends nothing
    assert texts(sandbox, "lost reply") == 1

    reconcile_task = make_reconcile_task(task.app, gateway_factory=factory(sandbox),
                                         claims=claims, name="t.reconcile")
    report = reconcile_task.apply_async().get()
    assert report["settled"] == [["key-u", "accepted"]] and report["unsettled"] == []
    assert task.apply_async(args=[["+995577100010"], "lost reply", "key-u", {}]).get()[
        "state"] == "accepted"
    assert texts(sandbox, "lost reply") == 1


def test_refusals_of_the_message_are_final(sandbox: Sandbox) -> None:
    task = send_task(sandbox, "t.refused")
    requests = sandbox.requests("smsoffice.ge")
    bad = task.apply_async(args=[["+995577"], "bad number", "key-b", {}]).get()
    assert bad == {"idempotency_key": "key-b", "state": "refused",
                   "error": "InvalidPhoneNumber"}
    assert sandbox.requests("smsoffice.ge") == requests


def test_claims_fail_closed_when_redis_is_unreachable(sandbox: Sandbox) -> None:
    pytest.importorskip("redis")
    claims = RedisClaimStore(f"redis://127.0.0.1:{dead_port()}/0")
    task = send_task(sandbox, "t.noredis", claims=lambda: claims, max_retries=2)
    requests = sandbox.requests("smsoffice.ge")
    outcome = task.apply_async(args=[["+995577100013"], "no redis", "key-n", {}]).get()
    assert outcome["state"] == "gave_up"  # retried, then given up: never sent unclaimed
    assert sandbox.requests("smsoffice.ge") == requests
    assert texts(sandbox, "no redis") == 0
    claims.close()


def test_the_outbox_enqueues_again_what_the_broker_lost_and_only_that(
    sandbox: Sandbox, redis_server: RedisServer, redis_prefix: str,  # noqa: F811
) -> None:
    claims = RedisClaimStore(redis_server.url, prefix=redis_prefix + "c:")
    box = RedisOutbox(redis_server.url, prefix=redis_prefix + "o:")
    task = send_task(sandbox, "t.outbox", claims=claims, outbox=box)
    keys = enqueue(task, [smsgate.Message("+995577100016", "through the outbox")])
    assert len(box) == 0  # the task ran (eagerly) and forgot its entry
    # A task message the broker lost: recorded in the outbox, never run.
    box.add("lost-key", {"args": [["+995577100019"], "lost by the broker", "lost-key", {}]})
    # One that ran but could not forget its entry: its claim says it went out.
    box.add(keys[0], {"args": [["+995577100016"], "through the outbox", keys[0], {}]})
    requests = sandbox.requests("smsoffice.ge")
    assert redeliver(task, older_than=0.0) == ["lost-key"]
    assert len(box) == 0
    assert sandbox.requests("smsoffice.ge") == requests + 1
    assert texts(sandbox, "lost by the broker") == 1
    assert texts(sandbox, "through the outbox") == 1
    box.close()
    claims.close()


def test_a_batch_enqueued_again_under_its_prefix_sends_nothing_twice(sandbox: Sandbox) -> None:
    """A producer that died half-way enqueues the whole batch again: same keys, and the
    claims of what went out stop it from going out again."""
    task = send_task(sandbox, "t.prefix")
    messages = [smsgate.Message(f"+995577{200001 + 3 * i:06d}", "batch again")
                for i in range(5)]
    first = enqueue(task, messages, key_prefix="campaign-7:")
    requests = sandbox.requests("smsoffice.ge")
    again = enqueue(task, messages, key_prefix="campaign-7:")
    assert first == again == ["campaign-7:0"] * 5  # one bulk call, one key
    assert sandbox.requests("smsoffice.ge") == requests
    assert texts(sandbox, "batch again") == 5
    assert enqueue(task, messages[:1]) != enqueue(task, messages[:1])  # no prefix: random
