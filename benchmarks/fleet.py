"""A chaos benchmark of smsgate's Celery fleet: kills, a Redis restart, and a ledger count.

    python benchmarks/fleet.py --messages 3000 --workers 3 --kill-every 2
    python benchmarks/fleet.py --messages 600 --workers 3 --kill-every 2 --no-claims

What runs, all on 127.0.0.1 and started (and stopped) by this script:

* a real ``redis-server`` with AOF on (``appendfsync always``): Celery's broker and the claim
  store;
* the sandbox (``smsgate.sandbox.Sandbox``) as the four providers, in this process: GOSMS.GE,
  SMSOffice.ge (Georgian numbers, one task each), GoSMS.ro (Romanian) and SMSGist (Ghanaian);
* W Celery workers, each its own ``celery worker --pool solo`` process (so a SIGKILL kills
  the task it runs), loading this file as their app;
* a chaos thread that SIGKILLs a random worker every S seconds and starts a new one,
  restarts Redis once, mid-run, and kills the whole fleet at the worst moment once: when
  SMSOffice.ge has taken a bulk request whose reply is lost (an injected
  ``process_then_hang`` fault), before its worker could acknowledge the task.

Every message is one recipient of a campaign; ``smsgate.contrib.celery.enqueue`` gathers them
into bulk calls and mints one idempotency key per call. At the end the script waits until the
queue is empty, lets the leases of killed sends run out, reconciles the UNKNOWN claims and
counts the sandbox's ledger against the messages: ``duplicates`` (a recipient that received
the campaign more than once), ``losses`` (a recipient that received nothing while smsgate
holds no UNKNOWN claim for it: a silent loss), ``unknown`` (messages whose claim was UNKNOWN
before reconciliation, on a provider that can be asked about a send whose reply was lost)
and ``reconciled`` (those of them that reconciliation settled). The last line printed is
exactly::

    fleet: messages=N duplicates=D losses=L unknown=U reconciled=R seconds=T

UNKNOWN claims on providers that cannot be asked are not in ``unknown``; they are printed on
stderr (``excluded from unknown``) with the reason: GoSMS.ro has no status lookups, and
GOSMS.GE and SMSGist can be asked only by the message id that a killed worker never
received. SMSOffice.ge is looked up by the reference smsgate derives from the key.
``--no-claims`` runs the same fleet with claims disabled: redelivered tasks then send
again, and ``duplicates`` shows it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: (task, provider, number pattern): where each share of the campaign goes.
LANES = (
    ("fleet.gosms_ge", "gosms.ge", "+995555{:06d}"),
    ("fleet.smsoffice_ge", "smsoffice.ge", "+995577{:06d}"),
    ("fleet.gosms_ro", "gosms.ro", "+40722{:06d}"),
    ("fleet.smsgist", "smsgist", "+233244{:06d}"),
)
#: The share of the messages each lane gets (GoSMS.ro sends one recipient per request).
SHARES = (0.3, 0.3, 0.1, 0.3)
QUEUE = "sms"
#: Why reconciliation cannot settle a claim whose provider offers no way to ask about a
#: send whose reply was lost: such claims are counted apart, not in ``unknown``.
UNASKABLE = ("has no status lookups", "can be asked only by the message id")


# -- the Celery app the workers load (configured by environment variables) ---------------------


def build_app() -> tuple[Any, dict[str, Any]]:
    """The fleet's Celery app and its send tasks, from ``SMSGATE_FLEET_*`` variables."""
    from celery import Celery

    import smsgate
    from smsgate.contrib.celery import RedisOutbox, make_send_task
    from smsgate.stores import RedisBreakerStore, RedisClaimStore

    redis_url = os.environ["SMSGATE_FLEET_REDIS"]
    providers: dict[str, str] = json.loads(os.environ["SMSGATE_FLEET_PROVIDERS"])
    use_claims = os.environ.get("SMSGATE_FLEET_CLAIMS", "1") == "1"
    deadline = float(os.environ.get("SMSGATE_FLEET_DEADLINE", "3"))
    app = Celery("fleet", broker=redis_url)
    app.conf.update(
        broker_transport_options={
            "visibility_timeout": 4 * deadline + 4,
            # Kombu gives the tasks of a killed worker back once the visibility timeout has
            # passed, in a sweep every interval x throttle seconds (100 s by default) under a
            # mutex that a worker killed mid-sweep holds for unacked_mutex_expire (300 s by
            # default). A fleet whose workers get killed wants both short.
            "unacked_restore_interval": 2, "unacked_restore_throttle": 1,
            "unacked_mutex_expire": 10,
        },
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        worker_hijack_root_logger=False,
    )

    def factory_for(name: str) -> Any:
        def build(claims: Any) -> smsgate.Gateway:
            return smsgate.Gateway(
                [smsgate.from_url(providers[name])], claims=claims, deadline=deadline,
                claim_lease=2 * deadline + 2, retry=smsgate.RetryPolicy(attempts=2),
                breaker_store=RedisBreakerStore(redis_url, prefix="fleet:breakers:"))
        return build

    tasks = {}
    for task_name, provider, _numbers in LANES:
        tasks[task_name] = make_send_task(
            app, name=task_name, gateway_factory=factory_for(provider),
            claims=(lambda: RedisClaimStore(redis_url, prefix="fleet:claims:"))
            if use_claims else None,
            grace=deadline, backoff=0.5, max_retries=100,
            outbox=(lambda lane=task_name: RedisOutbox(redis_url,
                                                       prefix=f"fleet:outbox:{lane}:"))
            if use_claims else None)
    return app, tasks


if os.environ.get("SMSGATE_FLEET_REDIS") and __name__ != "__main__":
    app, tasks = build_app()


# -- the pieces the benchmark starts -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Redis:
    """A redis-server with AOF on, restartable on the same port and directory."""

    def __init__(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise SystemExit("redis-server is not installed: apt-get install -y redis-server")
        self.executable = executable
        self.directory = tempfile.mkdtemp(prefix="smsgate-fleet-")
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--dir", self.directory, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def restart(self) -> None:
        """Stop (SIGTERM: Redis writes its AOF and exits) and start again."""
        self.stop_process()
        self.start()

    def stop_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)

    def stop(self) -> None:
        self.stop_process()
        shutil.rmtree(self.directory, ignore_errors=True)


class Workers:
    """W ``celery worker --pool solo`` processes; each can be SIGKILLed and replaced."""

    def __init__(self, count: int, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.lock = threading.Lock()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.started = 0
        for _ in range(count):
            self.processes.append(self._spawn())

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.started += 1
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "fleet", "worker", "--pool", "solo",
                 "--loglevel", "WARNING", "-Q", QUEUE, "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "-n", f"fleet{self.started}@%h"],
                cwd=HERE, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def kill_one(self, rng: random.Random) -> None:
        with self.lock:
            index = rng.randrange(len(self.processes))
            victim = self.processes[index]
            if victim.poll() is None:
                victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=20)
            self.processes[index] = self._spawn()

    def kill_all(self) -> None:
        """A whole-fleet crash (a lost host, a bad deploy): every worker SIGKILLed at once."""
        with self.lock:
            for process in self.processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
            for index, process in enumerate(self.processes):
                process.wait(timeout=20)
                self.processes[index] = self._spawn()

    def stop(self) -> None:
        with self.lock:
            for process in self.processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
            for process in self.processes:
                process.wait(timeout=20)


def _numbers(count: int) -> list[int]:
    """``count`` six-digit subscriber numbers, none ending in 0000 or 9999."""
    found: list[int] = []
    n = 100001
    while len(found) < count:
        if n % 10000 not in (0, 9999):
            found.append(n)
        n += 1
    return found


def _messages(count: int, seed: int) -> list[tuple[str, str]]:
    """``(task name, number)`` for each message, the lanes interleaved at random."""
    rng = random.Random(seed)
    counts = [int(count * share) for share in SHARES]
    counts[0] += count - sum(counts)
    plan: list[tuple[str, str]] = []
    for (task_name, _provider, pattern), lane_count in zip(LANES, counts, strict=True):
        # Numbers never ending in 0000 (refused) or 9999 (undeliverable) in the sandbox.
        plan += [(task_name, pattern.format(n)) for n in _numbers(lane_count)]
    rng.shuffle(plan)
    return plan


def _broker_idle(client: Any) -> bool:
    """Nothing waiting in the queue, and nothing delivered but unacknowledged (kombu keeps
    those, retries waiting for their countdown included, in its ``unacked`` hash)."""
    return bool(client.llen(QUEUE) == 0 and client.hlen("unacked") == 0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import redis as redis_client

    import smsgate
    from smsgate.contrib.celery import enqueue, redeliver
    from smsgate.sandbox import Sandbox
    from smsgate.stores import ClaimState, RedisClaimStore

    started = time.monotonic()
    rng = random.Random(args.seed)
    server = Redis()
    # Enough credit for the whole campaign (the default, 10,000, runs out past ~30,000).
    sandbox = Sandbox(delivery_delay=0.5, balance=max(10_000, 100 * args.messages)).start()
    work = Path(server.directory)
    workers: Workers | None = None
    stop_chaos = threading.Event()
    chaos: threading.Thread | None = None
    try:
        providers = {provider: sandbox.provider_url(provider, sender="Fleet")
                     for _task, provider, _numbers in LANES}
        env = {**os.environ, "SMSGATE_FLEET_REDIS": server.url,
               "SMSGATE_FLEET_PROVIDERS": json.dumps(providers),
               "SMSGATE_FLEET_CLAIMS": "0" if args.no_claims else "1",
               "SMSGATE_FLEET_DEADLINE": str(args.deadline),
               "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        os.environ.update({k: env[k] for k in env if k.startswith("SMSGATE_FLEET_")})
        _app, tasks = build_app()
        plan = _messages(args.messages, args.seed)
        text = f"fleet campaign {rng.randrange(10**9)}"

        workers = Workers(args.workers, env, work / "workers.log")
        restarted = threading.Event()
        crashed = threading.Event()
        enqueued = threading.Event()
        # One lost reply: SMSOffice.ge takes its first send request and never answers.
        sandbox.fault("smsoffice.ge", "process_then_hang", times=1, seconds=args.deadline + 2)

        def chaos_loop() -> None:
            assert workers is not None
            last_kill = time.monotonic()
            while not stop_chaos.wait(0.1):
                if time.monotonic() - last_kill >= args.kill_every:
                    workers.kill_one(rng)
                    last_kill = time.monotonic()
                if not crashed.is_set() and any(
                        e.fault for e in sandbox.messages("smsoffice.ge")):
                    # The provider took the request whose reply is lost: the whole fleet
                    # dies before the worker holding it can acknowledge (the worst moment).
                    workers.kill_all()
                    crashed.set()
                if not restarted.is_set() and enqueued.is_set() and \
                        len(sandbox.messages()) >= args.messages // 3:
                    server.restart()
                    restarted.set()

        keys: dict[str, str] = {}
        by_task: dict[str, list[str]] = collections.defaultdict(list)
        for task_name, number in plan:
            by_task[task_name].append(number)
        chaos = threading.Thread(target=chaos_loop, name="chaos", daemon=True)
        chaos.start()
        for task_name, numbers in by_task.items():
            minted = enqueue(tasks[task_name], [smsgate.Message(n, text) for n in numbers],
                             key_prefix=f"{text}:{task_name}:")
            keys.update(zip(numbers, minted, strict=True))
        enqueued.set()

        client = redis_client.Redis.from_url(server.url, socket_timeout=5)
        limit = time.monotonic() + args.timeout

        def drain() -> None:
            idle = 0
            while idle < 3:
                if time.monotonic() > limit:
                    print("fleet: gave up waiting for the queue to drain", file=sys.stderr)
                    return
                time.sleep(0.5)
                try:
                    idle = idle + 1 if _broker_idle(client) else 0
                except redis_client.exceptions.ConnectionError:
                    idle = 0

        drain()
        if not restarted.is_set():  # a run too short to pass a third: restart at the end
            server.restart()
            restarted.set()
            drain()
        stop_chaos.set()
        chaos.join(timeout=60)
        # The queue is empty and nothing is unacknowledged: a task still in an outbox with
        # no claim was lost by the broker (taken off the queue by a worker killed before it
        # recorded the delivery). The reconciliation task would enqueue it again; so does
        # this, with a fleet left in peace.
        redelivered = 0
        if not args.no_claims:
            for task in tasks.values():
                redelivered += len(redeliver(task, older_than=0.0))
            if redelivered:
                drain()
        workers.stop()

        unknown = reconciled = 0
        unsettled: collections.Counter[str] = collections.Counter()
        excluded: collections.Counter[str] = collections.Counter()
        unknown_keys: set[str] = set()
        if not args.no_claims:
            store = RedisClaimStore(server.url, prefix="fleet:claims:")
            # Leases of sends whose worker died run out: their claims become UNKNOWN.
            while store.find(ClaimState.SENDING):
                time.sleep(0.2)
            found = store.find(ClaimState.UNKNOWN)
            weights = collections.Counter(keys.values())
            for lane_task, provider, _numbers in LANES:
                gateway = tasks[lane_task].smsgate_gateway
                lane_keys = [c.key for c in found if c.key in
                             {keys[n] for n in by_task[lane_task]}]
                if not lane_keys:
                    continue
                report = smsgate.reconcile(gateway, store, lane_keys)
                reconciled += sum(weights[s.key] for s in report.settled)
                unknown += sum(weights[s.key] for s in report.settled)
                for left in report.unsettled:
                    reason = f"{provider}: {left.reason.split(' (')[0]}"
                    if any(words in left.reason for words in UNASKABLE):
                        excluded[reason] += weights[left.key]
                    else:
                        unknown += weights[left.key]
                        unsettled[reason] += weights[left.key]
            unknown_keys = {c.key for c in store.find(ClaimState.UNKNOWN)}
            store.close()
            claims_held = len(client.keys("fleet:claims:c:*"))
            memory = client.info("memory")["used_memory"]
            print(f"fleet: redis holds {claims_held} claims (one per bulk call); "
                  f"used_memory={memory / 2**20:.1f} MiB", file=sys.stderr)

        received = collections.Counter(entry.recipient.lstrip("+")
                                       for entry in sandbox.messages())
        duplicates = sum(max(0, received[n.lstrip("+")] - 1) for _t, n in plan)
        losses = sum(1 for _t, n in plan if received[n.lstrip("+")] == 0
                     and keys[n] not in unknown_keys)
        if losses and not args.no_claims:
            store = RedisClaimStore(server.url, prefix="fleet:claims:")
            for _t, number in plan:
                if received[number.lstrip("+")] == 0 and keys[number] not in unknown_keys:
                    claim = store.get(keys[number])
                    print(f"fleet: lost {number}: claim "
                          f"{claim.state.value if claim else 'none'} "
                          f"{claim.error if claim else ''}", file=sys.stderr)
            store.close()
        for reason, count in sorted(excluded.items()):
            print(f"fleet: excluded from unknown: {count} ({reason})", file=sys.stderr)
        for reason, count in sorted(unsettled.items()):
            print(f"fleet: left unknown: {count} ({reason})", file=sys.stderr)
        print(f"fleet: workers started={workers.started} redis restarted="
              f"{restarted.is_set()} fleet crashed={crashed.is_set()} tasks lost by the "
              f"broker and enqueued again={redelivered}", file=sys.stderr)
        return {"messages": args.messages, "duplicates": duplicates, "losses": losses,
                "unknown": unknown, "reconciled": reconciled,
                "seconds": time.monotonic() - started}
    finally:
        stop_chaos.set()
        if workers is not None:
            workers.stop()
        sandbox.stop()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=2.0)
    parser.add_argument("--no-claims", action="store_true")
    parser.add_argument("--deadline", type=float, default=3.0,
                        help="the gateway's deadline in seconds (leases and the visibility "
                             "timeout follow from it)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    figures = run(args)
    print("fleet: messages={messages} duplicates={duplicates} losses={losses} "
          "unknown={unknown} reconciled={reconciled} seconds={seconds:.1f}".format(**figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
