"""Celery tasks that send through smsgate and never duplicate (the ``celery`` extra).

Queues deliver at least once: a worker killed after the provider accepted a message, or a
visibility timeout shorter than the task, delivers the same task again. A naive task then
sends the same SMS twice or more. The tasks made here cannot, because:

* **keys are minted at enqueue time** (:func:`enqueue`), so every delivery of a task carries
  the same idempotency key, and the gateway takes a claim on it (``claims=``) before any
  request: a second delivery finds the claim and sends nothing;
* **acks are late** and a task whose worker died is rejected back to the queue
  (``acks_late``, ``reject_on_worker_lost``): a message is never acknowledged before it was
  sent, so a kill loses nothing;
* **retries are decided by smsgate's answer**, never by ``autoretry_for``: an outcome with
  ``may_have_sent=False`` is retried with a countdown below the broker's visibility timeout;
  one that may have been sent leaves its claim UNKNOWN for reconciliation
  (:func:`make_reconcile_task`) and ends the task; a refusal of the message itself (a bad
  number or text, a policy refusal, a recipient the provider refused) is final.

A start-up check (:func:`check_settings`) refuses settings under which those promises do not
hold (a visibility timeout shorter than twice the gateway's deadline, acks that are not late).

Typical use::

    app = Celery("sms", broker=REDIS_URL)
    app.conf.broker_transport_options = {"visibility_timeout": 600}
    app.conf.worker_prefetch_multiplier = 1

    def build_gateway(claims):
        return smsgate.Gateway([gosms, office], claims=claims, deadline=30,
                               breaker_store=RedisBreakerStore(REDIS_URL))

    send_sms = make_send_task(app, gateway_factory=build_gateway,
                              claims=lambda: RedisClaimStore(REDIS_URL))
    reconcile_sms = make_reconcile_task(app, gateway_factory=build_gateway,
                                        claims=lambda: RedisClaimStore(REDIS_URL))

    keys = enqueue(send_sms, [smsgate.Message(n, "Sale ends today") for n in numbers])
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._protocol import SmsProvider
from .._reconcile import reconcile
from .._secrets import get_logger
from ..errors import (
    ConfigurationError,
    InvalidPhoneNumber,
    RecipientRejected,
    SmsGateError,
    ValidationError,
)
from ..gateway import Gateway
from ..models import Message
from ..phone import normalize_phone, region_of
from ..stores._claims import ClaimState, ClaimStore

if TYPE_CHECKING:
    from celery import Celery, Task

__all__ = [
    "DEFAULT_VISIBILITY_TIMEOUT",
    "FleetSettings",
    "RedisOutbox",
    "check_settings",
    "enqueue",
    "make_reconcile_task",
    "make_send_task",
    "redeliver",
]

_log = get_logger("smsgate.celery")

#: Celery's visibility timeout on the Redis and SQS brokers when none is configured.
DEFAULT_VISIBILITY_TIMEOUT: Final = 3600.0
#: Brokers that redeliver an unacknowledged message after a visibility timeout.
_VISIBILITY_BROKERS: Final = ("redis", "rediss", "sqs", "sentinel")
#: Recipients per task when no provider of the chain declares a bulk size.
_MAX_BULK: Final = 1000

ClaimsSource = ClaimStore | Callable[[], ClaimStore] | None
GatewayFactory = Callable[[ClaimStore | None], Gateway]


@attrs.frozen
class FleetSettings:
    """The settings a send task runs under, derived from the gateway and the app.

    Attributes:
        deadline: the gateway's deadline (seconds one send may take, retries included).
        claim_lease: how long a send holds its claim.
        soft_time_limit: the task's soft time limit (the deadline plus half the grace).
        time_limit: the task's hard time limit (the deadline plus the grace).
        visibility_timeout: the broker's, or ``None`` for a broker without one (AMQP).
        max_countdown: the longest retry countdown (below the visibility timeout, so that
            a task waiting for its retry is never redelivered meanwhile).
    """

    deadline: float
    claim_lease: float
    soft_time_limit: float
    time_limit: float
    visibility_timeout: float | None
    max_countdown: float


def _scheme(url: object) -> str:
    if isinstance(url, str) and "://" in url:
        return url.split("://", 1)[0].split("+", 1)[0].lower()
    return ""


def _visibility_timeout(app: Celery) -> float | None:
    """The broker's visibility timeout (``None`` when the broker has none)."""
    conf = app.conf
    broker = conf.broker_url or ""
    scheme = _scheme(broker.split(";", 1)[0] if isinstance(broker, str) else "")
    if scheme not in _VISIBILITY_BROKERS:
        return None
    options = conf.broker_transport_options or {}
    value = options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT)
    return float(value)


def check_settings(
    app: Celery, gateway: Gateway, *, grace: float = 30.0, acks_late: bool = True,
    reject_on_worker_lost: bool = True,
) -> FleetSettings:
    """Refuse settings under which a fleet could send a message twice; return the settings.

    Raises :class:`~smsgate.ConfigurationError`, with what to change, when:

    * the gateway has no ``deadline`` (a task's time limit, and the broker's visibility
      timeout, must bound one send);
    * acks are not late, or a task whose worker died would not be returned to the queue
      (an early ack loses the message when the worker dies mid-send);
    * the broker's visibility timeout is shorter than twice the deadline (or than the
      task's hard time limit): the broker would deliver a task again while its first
      delivery is still sending.

    A ``worker_prefetch_multiplier`` other than 1 is only logged: prefetched tasks wait
    unacknowledged behind a long send and count against the visibility timeout.
    """
    deadline = gateway.deadline
    if deadline is None:
        raise ConfigurationError(
            "the fleet's gateway needs a deadline (Gateway(..., deadline=30)): the task's "
            "time limit and the broker's visibility timeout are derived from it")
    if not acks_late or not reject_on_worker_lost:
        raise ConfigurationError(
            "a send task must acknowledge late (acks_late=True) and be returned to the queue "
            "when its worker dies (reject_on_worker_lost=True); otherwise a worker killed "
            "mid-send loses the message")
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not grace > 0:
        raise ConfigurationError("grace must be a positive number of seconds")
    time_limit = deadline + grace
    lease = float(gateway._core.lease)  # the claim_lease the gateway was given or chose
    visibility = _visibility_timeout(app)
    if visibility is not None:
        needed = max(2 * deadline, time_limit)
        if visibility < needed:
            raise ConfigurationError(
                f"the broker's visibility timeout ({visibility:g} s) is shorter than "
                f"{needed:g} s (twice the gateway's deadline of {deadline:g} s, and the "
                f"task's time limit of {time_limit:g} s): the broker would redeliver a task "
                "that is still sending. Raise broker_transport_options['visibility_timeout'] "
                "or lower the deadline")
        max_countdown = max(1.0, min(visibility / 2, 300.0))
    else:
        max_countdown = 300.0
    if app.conf.worker_prefetch_multiplier != 1:
        _log.warning(
            "worker_prefetch_multiplier is %s: set it to 1 for SMS tasks, so that tasks do "
            "not wait unacknowledged behind a long send", app.conf.worker_prefetch_multiplier)
    return FleetSettings(deadline=deadline, claim_lease=lease,
                         soft_time_limit=deadline + grace / 2, time_limit=time_limit,
                         visibility_timeout=visibility, max_countdown=max_countdown)


class _PerProcess:
    """The claim store and gateway of this process: built on first use after a fork (a
    prefork worker's children must not share the parent's connections)."""

    def __init__(self, gateway_factory: GatewayFactory, claims: ClaimsSource) -> None:
        self._factory = gateway_factory
        self._claims = claims
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._gateway: Gateway | None = None
        self._store: ClaimStore | None = None

    def _make_claims(self) -> ClaimStore | None:
        if self._claims is None or isinstance(self._claims, ClaimStore):
            return self._claims
        made = self._claims()
        if not isinstance(made, ClaimStore):
            raise ConfigurationError(f"claims() returned {made!r}, not a ClaimStore")
        return made

    def get(self) -> tuple[Gateway, ClaimStore | None]:
        with self._lock:
            if self._gateway is None or self._pid != os.getpid():
                store = self._make_claims()
                gateway = self._factory(store)
                if not isinstance(gateway, Gateway):
                    raise ConfigurationError(
                        f"gateway_factory returned {gateway!r}, not a smsgate.Gateway")
                if gateway.claims is not store:
                    raise ConfigurationError(
                        "gateway_factory(claims) must build its Gateway with claims=claims "
                        "(the claim store the task was given)")
                self._gateway, self._store, self._pid = gateway, store, os.getpid()
            return self._gateway, self._store


class RedisOutbox:
    """The send tasks enqueued and not yet finished, kept in Redis beside the broker.

    Why. Celery's Redis transport takes a task message off the queue (``BRPOP``) and only
    then records it as delivered-but-unacknowledged: a worker killed in between (or a
    Redis restart, or a dropped connection) loses the message, and no redelivery brings it
    back. A claim cannot help, because the task never ran. The outbox can: :func:`enqueue`
    records each task's arguments here before queueing it, the task removes its entry when
    it ends, and :func:`redeliver` (run by the reconciliation task) enqueues again an entry
    that is old and whose key has **no claim**. No claim means the gateway never began the
    send (the claim is taken before any request), so enqueueing it again cannot duplicate:
    if the first message was only slow, not lost, whichever copy runs second finds the
    claim and sends nothing.

    Args:
        client: a ``redis.Redis`` client, or a ``redis://`` URL.
        prefix: the start of the Redis keys the outbox writes.
    """

    def __init__(self, client: Any, *, prefix: str = "smsgate:outbox:") -> None:
        from ..stores._redis import _connect

        self._client = _connect(client)
        self._owns = isinstance(client, str)
        self._entries = f"{prefix}entries"
        self._due = f"{prefix}due"

    def __repr__(self) -> str:
        return f"<RedisOutbox {self._due!r}>"

    def _now(self) -> float:
        seconds, micros = self._client.time()
        return float(seconds) + float(micros) / 1_000_000

    def add(self, key: str, call: Mapping[str, Any]) -> None:
        """Record a task's call (``{"args": [...]}``) before it is queued."""
        pipe = self._client.pipeline()
        pipe.hset(self._entries, key, json.dumps(call, separators=(",", ":")))
        pipe.zadd(self._due, {key: self._now()})
        pipe.execute()

    def done(self, key: str) -> None:
        """Forget a task that ended (whatever its outcome)."""
        pipe = self._client.pipeline()
        pipe.hdel(self._entries, key)
        pipe.zrem(self._due, key)
        pipe.execute()

    def pending(self, older_than: float = 0.0) -> list[tuple[str, dict[str, Any]]]:
        """``(key, call)`` of entries queued (or last requeued) ``older_than`` seconds ago
        or earlier, oldest first."""
        cutoff = self._now() - older_than
        keys = [k.decode() if isinstance(k, bytes) else str(k)
                for k in self._client.zrangebyscore(self._due, "-inf", cutoff)]
        found: list[tuple[str, dict[str, Any]]] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            for key, raw in zip(chunk, self._client.hmget(self._entries, chunk), strict=True):
                if raw is not None:
                    found.append((key, json.loads(raw)))
        return found

    def touch(self, key: str) -> None:
        """Mark an entry as queued again now."""
        self._client.zadd(self._due, {key: self._now()}, xx=True)

    def __len__(self) -> int:
        return int(self._client.zcard(self._due))

    def close(self) -> None:
        if self._owns:
            self._client.close()


def _encode_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Send options as JSON (Celery's default serializer): dates as ISO text, durations
    as seconds."""
    encoded: dict[str, Any] = {}
    for name, value in options.items():
        if name == "schedule_at" and isinstance(value, dt.datetime):
            value = value.isoformat()
        elif name == "validity" and isinstance(value, dt.timedelta):
            value = value.total_seconds()
        encoded[name] = value
    return encoded


def _decode_options(options: Mapping[str, Any]) -> dict[str, Any]:
    decoded = dict(options)
    if isinstance(decoded.get("schedule_at"), str):
        decoded["schedule_at"] = dt.datetime.fromisoformat(decoded["schedule_at"])
    if isinstance(decoded.get("validity"), (int, float)):
        decoded["validity"] = dt.timedelta(seconds=decoded["validity"])
    return decoded


def _outcome(key: str, state: str, **details: Any) -> dict[str, Any]:
    return {"idempotency_key": key, "state": state, **details}


def make_send_task(
    app: Celery,
    *,
    gateway_factory: GatewayFactory,
    claims: ClaimsSource,
    name: str = "smsgate.send",
    grace: float = 30.0,
    max_retries: int = 20,
    backoff: float = 2.0,
    ignore_result: bool = True,
    queue: str | None = None,
    outbox: RedisOutbox | Callable[[], RedisOutbox] | None = None,
) -> Task:
    """A Celery task that sends one bulk call (one text, its recipients) under one key.

    Args:
        app: the Celery application.
        gateway_factory: called once per worker process with the claim store; returns the
            :class:`~smsgate.Gateway` to send with, built with ``claims=`` that store and a
            ``deadline``.
        claims: a :class:`~smsgate.stores.ClaimStore` (say a ``RedisClaimStore``), a
            callable returning one (called once per worker process, after the fork), or
            ``None``, which sends without claims: redeliveries then **do** duplicate (only
            for comparisons such as ``benchmarks/fleet.py --no-claims``).
        name: the task's name.
        grace: seconds added to the gateway's deadline for the task's hard time limit
            (half of it for the soft limit).
        max_retries: retries of an outcome that sent nothing (every provider down, Redis
            unreachable) before the task gives up; the claim is then NOT_SENT and the
            task's result says ``not_sent``.
        backoff: the first retry's countdown in seconds; doubled each retry, with jitter,
            capped below the broker's visibility timeout.
        ignore_result: whether Celery skips storing the task's result.
        queue: the queue the task is routed to by default.
        outbox: a :class:`RedisOutbox` (or a callable returning one, called once per
            process): :func:`enqueue` records each task there and the task forgets it when
            it ends, so that :func:`redeliver` can enqueue again a task message the broker
            lost. Needs ``claims``.

    Returns:
        The task. Call it through :func:`enqueue`, which mints the keys; its result (when
        kept) is a dict with ``idempotency_key`` and ``state`` (``accepted``, ``unknown``,
        ``rejected``, ``refused``, ``not_sent``, or ``gave_up`` when the claim store stayed
        unreachable through every retry: nothing went out unclaimed, and the outbox
        enqueues the task again once its key is found without a claim).
    """
    if claims is not None and not (isinstance(claims, ClaimStore) or callable(claims)):
        raise ConfigurationError("claims must be a ClaimStore, a callable returning one, or "
                                 "None")
    if outbox is not None and claims is None:
        raise ConfigurationError("an outbox needs claims: only a key without a claim may be "
                                 "enqueued again")
    local = _PerProcess(gateway_factory, claims)
    gateway, _ = local.get()
    settings = check_settings(app, gateway, grace=grace)
    if claims is None:
        _log.warning("task %s sends WITHOUT claims: a redelivered task sends its messages "
                     "again", name)
    outboxes: dict[int, RedisOutbox] = {}

    def the_outbox() -> RedisOutbox | None:
        if outbox is None or isinstance(outbox, RedisOutbox):
            return outbox
        pid = os.getpid()
        if pid not in outboxes:
            outboxes.clear()
            outboxes[pid] = outbox()
        return outboxes[pid]

    def ended(key: str, outcome: dict[str, Any]) -> dict[str, Any]:
        box = the_outbox()
        if box is not None:
            try:
                box.done(key)
            except Exception as error:  # the sweeper finds the claim final and forgets it
                _log.warning("outbox: %s not forgotten (%s)", key, type(error).__name__)
        return outcome

    def countdown(retries: int) -> float:
        wait: float = backoff * 2 ** retries * random.uniform(0.5, 1.0)
        return min(settings.max_countdown, wait)

    def send(self: Task, to: list[str], text: str, key: str,
             options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        gateway, store = local.get()
        given = _decode_options(options or {})
        try:
            result = gateway.send(to, text, idempotency_key=key, **given)
        except (ValidationError, RecipientRejected) as refusal:
            # The message itself is refused (a bad number or text, a policy refusal, a
            # recipient the provider refused): sending it again changes nothing.
            _log.warning("send %s refused: %s", key, type(refusal).__name__)
            state = "rejected" if isinstance(refusal, RecipientRejected) else "refused"
            return ended(key, _outcome(key, state, error=type(refusal).__name__))
        except SmsGateError as error:
            if not error.may_have_sent:
                return _retry(self, key, error, countdown(self.request.retries))
            try:
                held = store.get(key) if store is not None else None
            except Exception as unreachable:
                return _retry(self, key, unreachable, countdown(self.request.retries),
                              sent=None)
            if held is not None and held.state is ClaimState.SENDING:
                # In flight elsewhere: an earlier delivery of this task still holds (or
                # held, and died with) the claim. Ask again once its lease has run out:
                # it is then ACCEPTED (its result), or UNKNOWN (for reconciliation).
                wait = max(1.0, (held.lease_until or 0.0) - time.time() + 1.0)
                return _retry(self, key, error, min(wait, settings.max_countdown),
                              limited=False)
            # It may have gone out: never resent. The claim is UNKNOWN (reconciliation
            # settles it); without claims the outcome is simply unknown.
            _log.warning("send %s may have been sent (%s): left to reconciliation", key,
                         type(error).__name__)
            return ended(key, _outcome(key, "unknown", error=type(error).__name__))
        except Exception as error:
            if store is None:
                raise
            # Not smsgate's answer: the claim store unreachable (fail closed: nothing was
            # sent without a claim), or a bug. Retrying is safe: the claim decides whether
            # anything goes out again.
            _log.warning("send %s: %s; retried later", key, type(error).__name__)
            return _retry(self, key, error, countdown(self.request.retries), sent=None)
        return ended(key, _outcome(
            key, "accepted", provider=result.provider, message_id=result.message_id,
            accepted=sum(1 for r in result.recipients if r.status.accepted)))

    def _retry(self: Task, key: str, error: BaseException, wait: float, *,
               limited: bool = True, sent: bool | None = False) -> dict[str, Any]:
        """Retry after ``wait``; once out of retries, end ``not_sent`` when smsgate said
        nothing was sent (``sent=False``), else (``None``: the claim store or a bug
        answered, not smsgate) end ``gave_up`` and keep the task in the outbox, so that
        :func:`redeliver` enqueues it again if its key turns out to have no claim."""
        from celery.exceptions import MaxRetriesExceededError

        try:
            raise self.retry(countdown=wait, max_retries=max_retries if limited else None)
        except MaxRetriesExceededError:
            if sent is False:
                _log.error("send %s given up after %d retries (%s): nothing was sent", key,
                           self.request.retries, type(error).__name__)
                return ended(key, _outcome(key, "not_sent", error=type(error).__name__))
            _log.error("send %s given up after %d retries (%s): its claim says whether "
                       "anything went out", key, self.request.retries, type(error).__name__)
            return _outcome(key, "gave_up", error=type(error).__name__)

    options: dict[str, Any] = {
        "name": name, "bind": True, "acks_late": True, "reject_on_worker_lost": True,
        "soft_time_limit": settings.soft_time_limit, "time_limit": settings.time_limit,
        "ignore_result": ignore_result, "max_retries": max_retries,
        # Never autoretry_for: smsgate's answer decides (see the module docstring).
    }
    if queue is not None:
        options["queue"] = queue
    task: Task = app.task(**options)(send)
    task.smsgate_gateway = gateway  # routes and bulk sizes
    task.smsgate_settings = settings
    task.smsgate_outbox = the_outbox
    task.smsgate_claims = local
    return task


def _bulk_size(chain: Sequence[SmsProvider]) -> int:
    """Recipients one task may carry on this chain: the smallest bulk size of its
    providers (every one of them may have to take the whole call on a failover)."""
    sizes: list[int] = []
    for provider in chain:
        limits = getattr(provider, "limits", None)
        size = getattr(limits, "bulk_size", 1) if limits is not None else 1
        sizes.append(_MAX_BULK if size is None else max(1, int(size)))
    return min([*sizes, _MAX_BULK]) if sizes else 1


def _chain_of(gateway: Gateway, number: str) -> tuple[SmsProvider, ...] | None:
    if not gateway.routes:
        return gateway.providers
    return gateway.routes.get(region_of(number), gateway.providers) or None


def enqueue(
    task: Task,
    messages: Iterable[Message],
    *,
    key_prefix: str | None = None,
    **apply_options: Any,
) -> list[str]:
    """Enqueue ``messages`` on a task of :func:`make_send_task`; return their keys.

    Messages with the same text and options are gathered into bulk calls of each route's
    bulk size (the smallest of its providers'): one task per bulk call, not per message.
    Each task gets an idempotency key minted here, before it is queued, so that every
    delivery of the task carries the same key. A message that gives its own
    ``idempotency_key`` is sent alone, under that key.

    Args:
        task: a task made by :func:`make_send_task`.
        messages: :class:`~smsgate.Message` objects.
        key_prefix: a name for this batch (``"campaign-42:"``): keys are then the prefix
            and the call's number, the same every time the same messages are enqueued, so
            a producer that died half-way can enqueue the whole batch again and nothing
            that went out goes out twice. Default: a random key per call.
        apply_options: given to ``task.apply_async`` (``queue``, ``countdown``...).

    Returns:
        One key per message, in input order: the key of the claim that covers it (messages
        gathered into one bulk call share it).
    """
    gateway: Gateway = task.smsgate_gateway
    prefix = key_prefix or ""
    keys: list[str] = []
    # (chain id, text, options) -> the open bulk being filled: [key, recipients, set]
    open_bulks: dict[tuple[Any, ...], list[Any]] = {}
    calls: list[tuple[list[str], str, str, dict[str, Any]]] = []

    minted = iter(range(1 << 62))

    def mint() -> str:
        if key_prefix:
            # Deterministic: the same messages enqueued again with the same prefix (after
            # the producer crashed half-way) get the same keys, and their claims stop
            # whatever already went out from going out again.
            return f"{prefix}{next(minted)}"
        return uuid.uuid4().hex

    for message in messages:
        if not isinstance(message, Message):
            raise ValidationError(f"enqueue takes smsgate.Message objects, not "
                                  f"{type(message).__name__}")
        options = _encode_options(message.options)
        recipients = [message.to] if isinstance(message.to, str) else list(message.to)
        if options.get("idempotency_key") is not None or len(recipients) != 1:
            key = options.pop("idempotency_key", None) or mint()
            calls.append((recipients, message.text, key, options))
            keys.append(key)
            continue
        number = recipients[0]
        try:
            chain = _chain_of(gateway, normalize_phone(number, gateway.region))
        except InvalidPhoneNumber:
            chain = None
        if chain is None:  # refused by the task, on its own
            key = mint()
            calls.append(([number], message.text, key, options))
            keys.append(key)
            continue
        group = (id(chain), message.text, tuple(sorted(options.items(), key=str)))
        bulk = open_bulks.get(group)
        if bulk is None or len(bulk[1]) >= _bulk_size(chain) or number in bulk[2]:
            # A full bulk, or the same number again (one call sends a number once).
            bulk = [mint(), [], set()]
            open_bulks[group] = bulk
            calls.append((bulk[1], message.text, bulk[0], options))
        bulk[1].append(number)
        bulk[2].add(number)
        keys.append(bulk[0])
    box: RedisOutbox | None = task.smsgate_outbox()
    for recipients, text, key, options in calls:
        args = [recipients, text, key, options]
        if box is not None:
            box.add(key, {"args": args})
        task.apply_async(args=args, **apply_options)
    return keys


def redeliver(task: Task, *, older_than: float | None = None) -> list[str]:
    """Enqueue again the tasks the broker lost; return their keys.

    Looks at the entries of the task's :class:`RedisOutbox` queued at least
    ``older_than`` seconds ago (default: twice the broker's visibility timeout, or ten
    minutes without one, so that a task still waiting in a long queue is left alone):

    * no claim under the key: the send never began (the claim comes before any request),
      so the task message was lost or is still waiting; it is enqueued again, which cannot
      duplicate (the second copy to run finds the first one's claim);
    * a claim ACCEPTED or REJECTED: the task ended and could not say so; forgotten;
    * anything else (SENDING, NOT_SENT awaiting a retry, UNKNOWN): left to the task and to
      reconciliation.
    """
    box: RedisOutbox | None = task.smsgate_outbox()
    if box is None:
        return []
    settings: FleetSettings = task.smsgate_settings
    if older_than is None:
        older_than = (2 * settings.visibility_timeout if settings.visibility_timeout
                      else 600.0)
    _gateway, store = task.smsgate_claims.get()
    assert store is not None
    again: list[str] = []
    for key, call in box.pending(older_than):
        claim = store.get(key)
        if claim is None:
            box.touch(key)
            task.apply_async(args=call["args"])
            again.append(key)
        elif claim.state in (ClaimState.ACCEPTED, ClaimState.REJECTED):
            box.done(key)
    if again:
        _log.warning("outbox: %d task(s) lost by the broker enqueued again", len(again))
    return again


def make_reconcile_task(
    app: Celery,
    *,
    gateway_factory: GatewayFactory,
    claims: ClaimStore | Callable[[], ClaimStore],
    name: str = "smsgate.reconcile",
    send_task: Task | None = None,
) -> Task:
    """A task that settles UNKNOWN claims with :func:`smsgate.reconcile` (never sends).

    Given the ``send_task`` (made with an ``outbox``), it first enqueues again the send
    tasks the broker lost (:func:`redeliver`).

    Schedule it with Celery beat, say every minute::

        app.conf.beat_schedule = {"reconcile-sms": {"task": "smsgate.reconcile",
                                                    "schedule": 60.0}}

    Its result lists how many claims were settled and, for the others, why not (a provider
    without status lookups, such as GoSMS.ro, or one that can be asked only by the message
    id a lost reply never gave, such as GOSMS.GE and SMSGist). Each unsettled claim is
    logged at WARNING: a person decides, or settles it with ``claims.settle``.
    """
    if claims is None:
        raise ConfigurationError("reconciliation needs the claim store the sends used")
    local = _PerProcess(gateway_factory, claims)

    def run(self: Task, keys: list[str] | None = None) -> dict[str, Any]:
        gateway, store = local.get()
        assert store is not None
        again = redeliver(send_task) if send_task is not None and keys is None else []
        report = reconcile(gateway, store, keys)
        for left in report.unsettled:
            _log.warning("claim %s still unknown: %s", left.key, left.reason)
        return {"settled": [[s.key, s.state.value] for s in report.settled],
                "unsettled": [[u.key, u.reason] for u in report.unsettled],
                "redelivered": again}

    task: Task = app.task(name=name, bind=True, acks_late=True)(run)
    return task
