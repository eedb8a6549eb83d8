"""The fault matrix: every adapter behind a two-provider Gateway, every fault, over real sockets.

    python -m smsgate.sandbox.reliability

For each emulated adapter (the primary, served by the local sandbox, or by a local stub for a
reply the sandbox does not give) and each fault that exists for it, one message goes
through ``Gateway([primary, secondary])`` where the secondary is an in-memory provider. Each
cell records the outcome, ``may_have_sent``, the attempts per provider, the messages in each
provider's ledger, whether the gateway failed over, and the time taken against the deadline,
and checks the expected behaviour and the invariants:

- a message is in two ledgers only when ``failover_on_unknown=True`` was chosen;
- a success always has a ledger entry;
- an error never says ``may_have_sent=False`` while a ledger holds the message.

The adapters come from the registry (the built-in providers with a sandbox emulator) and what
each cell expects comes from the adapter's declarations, never from its name: a provider
that declares the ``idempotency`` capability repeats a send whose outcome is unknown under the
same key (so the primary accepts it, once); an error-table row whose ``outcome`` is
``"unknown"`` adds the "provider says: outcome unknown" cell; a provider without a
recipient-rejected row reports a refused recipient in its result instead of raising.
"""

from __future__ import annotations

import http.server
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Final

import attrs

from ..errors import ProviderUnavailable, RecipientRejected, SmsGateError
from ..gateway import Gateway, RetryPolicy
from ..models import SendResult
from ..registry import create, provider_class
from ..testing import MemoryProvider
from ._providers import EMULATED
from ._server import Sandbox
from ._state import BLOCKED_SUFFIX

__all__ = [
    "ADAPTERS", "SCENARIOS", "UNKNOWN_OUTCOME_REPLIES", "Cell", "blackhole", "main", "run_matrix",
]

#: A number each emulated adapter reaches (its emulator's), and one its sandbox refuses (the
#: same number, stop-listed).
ADAPTERS: Final[dict[str, tuple[str, str]]] = {
    name: (emulated.number, emulated.number[: -len(BLOCKED_SUFFIX)] + BLOCKED_SUFFIX)
    for name, emulated in EMULATED.items()
}
DEADLINE: Final = 5.0
READ_TIMEOUT: Final = 0.3


@attrs.frozen
class Cell:
    """One adapter under one fault."""

    adapter: str
    scenario: str
    outcome: str
    may_have_sent: bool | None
    attempts: dict[str, int]
    ledger: dict[str, int]
    failover: bool
    elapsed: float
    expected: str
    problems: tuple[str, ...]
    #: What the send returned or raised, for inspection (left out of repr and equality).
    result: SendResult | None = attrs.field(default=None, repr=False, eq=False)
    error: SmsGateError | None = attrs.field(default=None, repr=False, eq=False)

    @property
    def passed(self) -> bool:
        return not self.problems


@attrs.frozen
class Scenario:
    """A fault and what a correct gateway does about it.

    ``expect`` maps an adapter to the expected outcome: ``"primary"`` or ``"secondary"`` (the
    provider that must accept), or an error class name.
    """

    name: str
    prepare: Callable[[Sandbox, str, MemoryProvider], dict[str, Any]]
    expect: Callable[[str], str]
    blocked_number: bool = False
    duplicates_allowed: bool = False
    #: Whether the fault exists for an adapter, by its declarations (``None``: for all).
    exists_for: Callable[[str], bool] | None = None

    def applies_to(self, adapter: str) -> bool:
        return self.exists_for is None or self.exists_for(adapter)


@contextmanager
def blackhole() -> Iterator[str]:
    """A 127.0.0.1 port whose accept queue is full: connecting to it times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


class _Stub:
    """A 127.0.0.1 server that answers every request with one reply and counts requests."""

    def __init__(self, body: bytes) -> None:
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with stub._lock:
                    stub.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.requests = 0
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def _stubbed(body: bytes | None) -> Iterator[_Stub | None]:
    if body is None:
        yield None
        return
    stub = _Stub(body)
    try:
        yield stub
    finally:
        stub.close()


#: Replies in which a provider itself says the outcome of a send is unknown, as its emulator
#: declares them (SMSOffice.ge's "-100 Temporary delay", which its document explains no
#: further). Served by a local stub that processes nothing, so the cell shows the adapter's
#: reading of the reply alone.
UNKNOWN_OUTCOME_REPLIES: Final[dict[str, bytes]] = {
    name: emulated.unknown_outcome().body
    for name, emulated in EMULATED.items() if emulated.unknown_outcome is not None
}


def _declares(name: str) -> Any:
    return provider_class(name)


def _idempotent(name: str) -> bool:
    """The provider deduplicates by key: the gateway may repeat a send whose outcome is
    unknown under the same key, and the provider answers it without sending again."""
    return "idempotency" in _declares(name).capabilities


def _says_outcome_unknown(name: str) -> bool:
    """An error-table row says the outcome is unknown (``ErrorSpec.outcome``)."""
    table = getattr(_declares(name), "error_table", {})
    return any(spec.outcome == "unknown" for spec in table.values())


def _rejects_recipients(name: str) -> bool:
    """The provider answers a refused recipient with an error (a recipient-rejected row);
    without one it reports the refusal per recipient in an accepted result."""
    table = getattr(_declares(name), "error_table", {})
    return any(issubclass(spec.error, RecipientRejected) for spec in table.values())


def _unknown_outcome_reply(sandbox: Sandbox, name: str,
                           secondary: MemoryProvider) -> dict[str, Any]:
    if name not in UNKNOWN_OUTCOME_REPLIES:
        raise LookupError(f"{name} has an 'outcome unknown' error row but its emulator "
                          "declares no unknown_outcome reply")
    return {"reply": UNKNOWN_OUTCOME_REPLIES[name]}


def _fault(kind: str, **options: Any) -> Callable[[Sandbox, str, MemoryProvider], dict[str, Any]]:
    def prepare(sandbox: Sandbox, name: str, secondary: MemoryProvider) -> dict[str, Any]:
        sandbox.fault(name, kind, **options)
        return {}

    return prepare


def _always(result: str) -> Callable[[str], str]:
    return lambda name: result


def _unless_idempotent(otherwise: str) -> Callable[[str], str]:
    """``"primary"`` for a provider that deduplicates by key (the gateway repeats the send
    and the provider replays its first answer), else ``otherwise``."""
    return lambda name: "primary" if _idempotent(name) else otherwise


def _wrong_credentials(sandbox: Sandbox, name: str, secondary: MemoryProvider) -> dict[str, Any]:
    return {"credentials": {k: "wrong-" + v for k, v in sandbox.credentials(name).items()}}


def _no_funds(sandbox: Sandbox, name: str, secondary: MemoryProvider) -> dict[str, Any]:
    sandbox.set_balance(name, 0)
    return {}


def _connect_timeout(sandbox: Sandbox, name: str, secondary: MemoryProvider) -> dict[str, Any]:
    return {"blackhole": True}


def _all_down(sandbox: Sandbox, name: str, secondary: MemoryProvider) -> dict[str, Any]:
    sandbox.fault(name, "refuse")
    secondary.script(*[ProviderUnavailable("down", provider="memory")] * 10)
    return {}


def _opt_in(sandbox: Sandbox, name: str, secondary: MemoryProvider) -> dict[str, Any]:
    sandbox.fault(name, "process_then_reset", times=1)
    return {"failover_on_unknown": True}


SCENARIOS: Final[tuple[Scenario, ...]] = (
    Scenario("refused", _fault("refuse"), _always("secondary")),
    Scenario("connect timeout", _connect_timeout, _always("secondary")),
    Scenario("processed, then hang", _fault("process_then_hang", times=1, seconds=2.0),
             _unless_idempotent("DeliveryUnknown")),
    Scenario("processed, then reset", _fault("process_then_reset", times=1),
             _unless_idempotent("DeliveryUnknown")),
    Scenario("malformed 2xx", _fault("malformed", times=1),
             _unless_idempotent("InvalidResponse")),
    Scenario("429, short Retry-After", _fault("rate_limit", times=1, retry_after=0.1),
             _always("primary")),
    Scenario("429, long Retry-After", _fault("rate_limit", times=1, retry_after=120),
             _always("secondary")),
    Scenario("503, then OK", _fault("error", status=503, times=1), _always("primary")),
    Scenario("500", _fault("error", status=500), _always("secondary")),
    Scenario("auth", _wrong_credentials, _always("secondary")),
    Scenario("funds", _no_funds, _always("secondary")),
    Scenario("invalid recipient", lambda s, n, m: {}, lambda n: "RecipientRejected"
             if _rejects_recipients(n) else "primary (recipient refused)", blocked_number=True),
    Scenario("all down", _all_down, _always("AllProvidersFailed")),
    Scenario("slow but OK", _fault("latency", times=1, seconds=0.2), _always("primary")),
    Scenario("unknown, opt-in failover", _opt_in, _unless_idempotent("secondary"),
             duplicates_allowed=True),
    # The provider answers, and its answer is "outcome unknown": no retry, no failover.
    Scenario("provider says: outcome unknown", _unknown_outcome_reply,
             _always("DeliveryUnknown"), exists_for=_says_outcome_unknown),
)


def _run_cell(sandbox: Sandbox, name: str, scenario: Scenario) -> Cell:
    number, blocked = ADAPTERS[name]
    to = blocked if scenario.blocked_number else number
    secondary = MemoryProvider()
    sandbox.clear_faults()
    sandbox.set_balance(name, Decimal(1_000_000))
    setup = scenario.prepare(sandbox, name, secondary)
    credentials = setup.get("credentials") or sandbox.credentials(name)
    before = {"primary": len(sandbox.messages(name)), "requests": sandbox.requests(name)}
    outcome, may_have_sent, result, failure = "?", None, None, None
    with blackhole() as hole, _stubbed(setup.get("reply")) as stub:
        base_url = (hole if setup.get("blackhole") else stub.url if stub is not None
                    else sandbox.base_url(name))
        primary = _build(name, credentials, base_url)
        gateway = Gateway([primary, secondary], deadline=DEADLINE,
                          retry=RetryPolicy(attempts=3, backoff=0.02, max_retry_after=1.0),
                          failover_on_unknown=bool(setup.get("failover_on_unknown")))
        started = time.monotonic()
        try:
            result = gateway.send(to, f"matrix: {scenario.name}")
            outcome = result.provider
        except SmsGateError as error:
            outcome = type(error).__name__
            may_have_sent = getattr(error, "may_have_sent", None)
            failure = error
        elapsed = time.monotonic() - started
        primary.close()
        stubbed = stub.requests if stub is not None else 0
    ledger = {name: len(sandbox.messages(name)) - before["primary"],
              "memory": len(secondary.outbox)}
    # Requests each provider received (a connect timeout reaches no server: 0).
    attempts = {name: sandbox.requests(name) - before["requests"] + stubbed,
                "memory": len(secondary.calls)}
    expected = scenario.expect(name)
    label = _label(name, outcome, result)
    problems = _check(scenario, name, expected, label, result, may_have_sent, ledger, elapsed)
    sandbox.clear_faults()
    return Cell(adapter=name, scenario=scenario.name, outcome=label,
                may_have_sent=may_have_sent, attempts=attempts, ledger=ledger,
                failover=ledger["memory"] > 0 or attempts["memory"] > 0, elapsed=elapsed,
                expected=expected, problems=tuple(problems), result=result, error=failure)


def _build(name: str, credentials: dict[str, str], base_url: str) -> Any:
    return create(name, **credentials, base_url=base_url, sender="Matrix",
                  timeout=(0.2, READ_TIMEOUT))


def _label(name: str, outcome: str, result: SendResult | None) -> str:
    if result is None:
        return outcome
    which = "secondary" if outcome == "memory" else "primary"
    if not result.ok:
        return f"{which} (recipient refused)"
    return which


def _check(scenario: Scenario, name: str, expected: str, label: str,
           result: SendResult | None, may_have_sent: bool | None, ledger: dict[str, int],
           elapsed: float) -> list[str]:
    problems = []
    if label != expected:
        problems.append(f"expected {expected}, got {label}")
    in_ledgers = sum(1 for count in ledger.values() if count)
    if in_ledgers > 1 and not scenario.duplicates_allowed:
        problems.append("the message is in two ledgers")
    if any(count > 1 for count in ledger.values()):
        problems.append("the message was sent twice by one provider")
    if result is not None and result.ok and not in_ledgers:
        problems.append("success without a ledger entry")
    if result is None and may_have_sent is False and in_ledgers:
        problems.append("may_have_sent=False, but a ledger holds the message")
    if elapsed > DEADLINE + 0.5:
        problems.append(f"took {elapsed:.2f} s, over the {DEADLINE} s deadline")
    return problems


def run_matrix(
    adapters: tuple[str, ...] = tuple(ADAPTERS), **sandbox_options: Any
) -> list[Cell]:
    """Run every scenario for every adapter; one sandbox per adapter.

    ``sandbox_options`` go to :class:`~smsgate.sandbox.Sandbox` (e.g. canary ``credentials``).
    """
    cells = []
    for name in adapters:
        with Sandbox(delivery_delay=60, **sandbox_options) as sandbox:
            for scenario in SCENARIOS:
                if scenario.applies_to(name):
                    cells.append(_run_cell(sandbox, name, scenario))
    return cells


def render(cells: list[Cell]) -> str:
    """The matrix as a Markdown table."""
    lines = [
        "| adapter | fault | outcome | may_have_sent | requests received (primary/secondary) | "
        "ledgers (primary/secondary) | failover | time | check |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        primary, secondary = c.attempts[c.adapter], c.attempts["memory"]
        lines.append(
            f"| {c.adapter} | {c.scenario} | {c.outcome} | "
            f"{'' if c.may_have_sent is None else c.may_have_sent} | {primary}/{secondary} | "
            f"{c.ledger[c.adapter]}/{c.ledger['memory']} | {'yes' if c.failover else 'no'} | "
            f"{c.elapsed:.2f} s | {'ok' if c.passed else '; '.join(c.problems)} |"
        )
    return "\n".join(lines)


def main() -> int:
    cells = run_matrix()
    print(render(cells))
    failed = [c for c in cells if not c.passed]
    print(f"\n{len(cells) - len(failed)}/{len(cells)} cells as expected; deadline {DEADLINE} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
