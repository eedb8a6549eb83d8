"""The sandbox servers: one per provider (so a refused connection is a real refusal) and one
for control, the ledger as JSON and the inbox page."""

from __future__ import annotations

import contextlib
import html
import http.server
import json
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final

from .._secrets import get_logger
from ..errors import ConfigurationError
from ._callbacks import CALLBACK_PROVIDERS, Dispatcher
from ._providers import EMULATORS, PATH_PREFIX, Reply, Request, headers_of
from ._state import FAULT_KINDS, Fault, LedgerEntry, SandboxState

__all__ = ["DEFAULT_CREDENTIALS", "Sandbox"]

_log = get_logger("smsgate.sandbox")

#: The credentials each emulated provider accepts unless told otherwise.
DEFAULT_CREDENTIALS: Final[Mapping[str, Mapping[str, str]]] = {
    "gosms.ge": {"api_key": "sandbox-gosms-ge-key"},
    "smsoffice.ge": {"api_key": "sandbox-smsoffice-key"},
    "gosms.ro": {"api_key": "sandbox-gosms-ro-key"},
    "smsgist": {"client_id": "sandbox-client", "token": "sandbox-token"},
}
_DEFAULT_BALANCE: Final = Decimal(10_000)


class _Server(http.server.ThreadingHTTPServer):
    """Joins its handler threads on close; :meth:`drop_connections` unblocks idle ones."""

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[Any]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        #: Set when this server closes: wakes handlers sleeping in a hang fault.
        self.closing = threading.Event()

    def process_request(self, request: Any, client_address: Any) -> None:
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK stall every reply by ~40 ms.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Wake every handler blocked on a kept-alive connection or a hang, so close() can
        join it."""
        self.closing.set()
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _ProviderHandler(http.server.BaseHTTPRequestHandler):
    server_version = "smsgate-sandbox"
    protocol_version = "HTTP/1.1"
    sandbox: ClassVar[Sandbox]
    provider: ClassVar[str]

    def log_message(self, format: str, *args: Any) -> None:
        # Method and path only: query strings carry phone numbers (and keys).
        _log.debug("%s: %s %s", self.provider, self.command,
                   urllib.parse.urlsplit(self.path).path)

    def handle_one_request(self) -> None:
        # Wait for the next request's first byte, so that a fault injected meanwhile applies
        # to that request and not to one already read from a kept-alive connection.
        try:
            started = self.rfile.peek(1)  # type: ignore[attr-defined]
        except OSError:
            started = b""
        if not started:
            self.close_connection = True
            return
        fault = self.sandbox.state.take_fault(self.provider)
        if fault is not None and fault.kind == "hang_before_read":
            self._hang(fault.seconds)
            self.close_connection = True
            return
        self._fault = fault
        super().handle_one_request()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _hang(self, seconds: float) -> None:
        """Sleep for a hang fault; wake when this server or the sandbox stops."""
        closing: threading.Event = self.server.closing  # type: ignore[attr-defined]
        deadline = time.monotonic() + seconds
        while not closing.is_set() and not self.sandbox._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            closing.wait(min(left, 0.05))

    def _serve(self) -> None:
        fault: Fault | None = getattr(self, "_fault", None)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.sandbox.state.count_request(self.provider)
        prefix = PATH_PREFIX[self.provider]
        split = urllib.parse.urlsplit(self.path)
        if not split.path.startswith(prefix):
            self._write(Reply(404, b"Not Found", {"Content-Type": "text/plain"}))
            return
        if fault is not None and fault.kind == "latency":
            self._hang(fault.seconds)
        if fault is not None and fault.kind in ("error", "rate_limit", "malformed"):
            self._write(_fault_reply(self.provider, fault))
            return
        request = Request(
            method=self.command,
            path=split.path[len(prefix):] or "/",
            query=dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True)),
            headers=headers_of(dict(self.headers.items())),
            body=body,
        )
        creds = self.sandbox.credentials(self.provider)
        reply = EMULATORS[self.provider](self.sandbox.state, request, creds)
        if fault is not None and fault.kind == "process_then_hang":
            self._hang(fault.seconds)
            self.close_connection = True
            return
        if fault is not None and fault.kind == "process_then_reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


def _fault_reply(provider: str, fault: Fault) -> Reply:
    if fault.kind == "rate_limit":
        headers = {"Content-Type": "application/json", "Retry-After": f"{fault.retry_after:g}"}
        # In each provider's own words where it has some: GOSMS.GE's 109 TOO_MANY_REQUESTS
        # ("Retry-After header = seconds"), SMSGist's envelope ("429 Rate limit exceeded").
        body: dict[str, object] = {"message": "Too many requests"}
        if provider == "gosms.ge":
            body = {"success": False, "errorCode": 109, "message": "Too many requests"}
        elif provider == "smsgist":
            body = {"status": "error", "message": "Rate limit exceeded", "data": None}
        return Reply(429, json.dumps(body).encode(), headers)
    if fault.kind == "malformed":
        return Reply(200, b'{"success": tru', {"Content-Type": "application/json"})
    return Reply(fault.status, b"<html><body><h1>Service Unavailable</h1></body></html>",
                 {"Content-Type": "text/html"})


class _ControlHandler(http.server.BaseHTTPRequestHandler):
    server_version = "smsgate-sandbox"
    protocol_version = "HTTP/1.1"
    sandbox: ClassVar[Sandbox]

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("control: %s %s", self.command, urllib.parse.urlsplit(self.path).path)

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/":
            self._send(200, "text/html; charset=utf-8", _inbox(self.sandbox).encode())
        elif path == "/_sandbox/messages":
            self._json(200, [e.as_json(self.sandbox.state.delivery_delay)
                             for e in self.sandbox.messages()])
        elif path == "/_sandbox/providers":
            self._json(200, {name: self.sandbox.base_url(name) for name in EMULATORS})
        elif path == "/_sandbox/faults":
            self._json(200, {name: [_fault_json(f) for f in self.sandbox.state.faults(name)]
                             for name in EMULATORS})
        else:
            self._send(404, "text/plain", b"Not Found")

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
            if path == "/_sandbox/faults":
                provider = data.pop("provider")
                self.sandbox.fault(provider, **data)
                self._json(201, {"ok": True})
            elif path == "/_sandbox/faults/clear":
                self.sandbox.clear_faults(data.get("provider"))
                self._json(200, {"ok": True})
            else:
                self._send(404, "text/plain", b"Not Found")
        except (ValueError, KeyError, TypeError, ConfigurationError) as exc:
            self._json(400, {"error": str(exc)})

    def _json(self, status: int, payload: object) -> None:
        self._send(status, "application/json", json.dumps(payload, indent=1).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _fault_json(fault: Fault) -> dict[str, Any]:
    return {"kind": fault.kind, "times": fault.times, "seconds": fault.seconds,
            "status": fault.status, "retry_after": fault.retry_after}


class Sandbox:
    """A local emulator of GOSMS.GE, SMSOffice.ge, GoSMS.ro and SMSGist on 127.0.0.1.

    >>> with Sandbox() as sandbox:                           # doctest: +SKIP
    ...     sms = sandbox.provider("gosms.ge", sender="Demo")
    ...     sms.send("+995555123456", "Hello")
    ...     sandbox.messages()[0].text
    'Hello'

    Args:
        host: interface to bind (loopback by default).
        port: the control server's port (0 picks a free one); provider servers always take
            free ports.
        delivery_delay: seconds before an accepted message reports ``delivered``.
        balance: starting balance of every provider (credits, messages or currency units).
        otp_ttl: seconds a GOSMS.GE one-time code stays valid.
        credentials: per-provider overrides of :data:`DEFAULT_CREDENTIALS`.
        callbacks: delivery-callback URLs per provider (``smsoffice.ge``, ``gosms.ro``,
            ``smsgist``): each accepted message is reported there in the provider's own
            format once its delivery delay has passed.
        webhook_secret: signs GoSMS.ro and SMSGist callbacks as those providers do.

    Numbers ending in ``0000`` are refused at send time (stop-listed; GOSMS.GE and
    SMSOffice.ge send them when ``urgent``); numbers ending in ``9999`` are accepted and then
    fail delivery. What each emulated provider accepts follows the provider's document, by
    the sandbox's own rules (see ``docs/sandbox.md``), not smsgate's adapters.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delivery_delay: float = 1.0,
        balance: Decimal | int = _DEFAULT_BALANCE,
        otp_ttl: float = 300.0,
        credentials: Mapping[str, Mapping[str, str]] | None = None,
        callbacks: Mapping[str, str] | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.state = SandboxState(
            delivery_delay=delivery_delay,
            balances={name: Decimal(balance) for name in EMULATORS},
            otp_ttl=otp_ttl,
        )
        self._credentials = {name: dict(creds) for name, creds in DEFAULT_CREDENTIALS.items()}
        for name, creds in (credentials or {}).items():
            self._credentials[self._known(name)].update(creds)
        self._servers: dict[str, _Server] = {}
        self._ports: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._refusing: set[str] = set()
        self._lock = threading.Lock()
        self._control: _Server | None = None
        for name in callbacks or {}:
            if name not in CALLBACK_PROVIDERS:
                raise ConfigurationError(
                    f"{name!r} sends no delivery callbacks; those that do: "
                    f"{', '.join(sorted(CALLBACK_PROVIDERS))}"
                )
        self._callback_urls = dict(callbacks or {})
        self._webhook_secret = webhook_secret
        self._dispatcher: Dispatcher | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Start every server; returns ``self``."""
        if self._control is not None:
            return self
        control_handler = type("Control", (_ControlHandler,), {"sandbox": self})
        self._control = _Server((self.host, self._port), control_handler)
        self._serve(self._control)
        for name in EMULATORS:
            self._start_provider(name, 0)
        if self._callback_urls:
            self._dispatcher = Dispatcher(self._callback_urls, self._webhook_secret,
                                          self.state.delivery_delay, self._stopping)
            self.state.listeners.append(self._dispatcher.schedule)
        _log.info("sandbox listening on %s", self.url)
        return self

    def _start_provider(self, name: str, port: int) -> None:
        handler = type(f"Handler-{name}", (_ProviderHandler,),
                       {"sandbox": self, "provider": name})
        server = _Server((self.host, port), handler)
        self._servers[name] = server
        self._ports[name] = server.server_address[1]
        self._serve(server)

    def _serve(self, server: _Server) -> None:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="smsgate-sandbox", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop every server and wait for their threads. Safe to call twice."""
        self._stopping.set()
        if self._dispatcher is not None:
            self._dispatcher.stop()
            self.state.listeners.remove(self._dispatcher.schedule)
            self._dispatcher = None
        servers = list(self._servers.values()) + ([self._control] if self._control else [])
        for server in servers:
            server.shutdown()
            server.drop_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        self._control = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses and credentials ---------------------------------------------------------
    @property
    def url(self) -> str:
        """The control server: inbox page at ``/``, ledger at ``/_sandbox/messages``."""
        if self._control is None:
            raise ConfigurationError("the sandbox is not running: use start() or `with`")
        return f"http://{self.host}:{self._control.server_address[1]}"

    def base_url(self, name: str) -> str:
        """The base URL to give provider ``name`` (``base_url=...``)."""
        name = self._known(name)
        if name not in self._ports:
            raise ConfigurationError("the sandbox is not running: use start() or `with`")
        return f"http://{self.host}:{self._ports[name]}{PATH_PREFIX[name]}"

    def credentials(self, name: str) -> dict[str, str]:
        """The credentials the emulated provider accepts."""
        return dict(self._credentials[self._known(name)])

    def provider_url(self, name: str, **options: str) -> str:
        """A provider URL (for ``SMSGATE_URL`` or ``smsgate.from_url``) aimed at this sandbox.

        Credentials are percent-encoded; ``options`` become query parameters
        (``sender="Demo"``).
        """
        creds = self.credentials(name)
        credential = ":".join(
            urllib.parse.quote(creds[key], safe="")
            for key in ("client_id", "token", "api_key") if key in creds
        )
        address = self.base_url(name).removeprefix("http://")
        query = urllib.parse.urlencode({"insecure_http": "1", **options})
        return f"{name}://{credential}@{address}?{query}"

    def provider(self, name: str, **options: Any) -> Any:
        """A real smsgate provider pointed at this sandbox."""
        from ..registry import create

        return create(name, **{**self.credentials(name), "base_url": self.base_url(name),
                               **options})

    def _known(self, name: str) -> str:
        if name not in EMULATORS:
            raise ConfigurationError(
                f"the sandbox emulates {', '.join(EMULATORS)}; not {name!r}"
            )
        return name

    # -- ledger and state ------------------------------------------------------------------
    def messages(self, provider: str | None = None) -> list[LedgerEntry]:
        """Every accepted message (one entry per recipient), oldest first."""
        return self.state.messages(self._known(provider) if provider else None)

    def otp_code(self, phone: str) -> str | None:
        """The last GOSMS.GE one-time code sent to ``phone``."""
        return self.state.otp_code(phone)

    def set_balance(self, name: str, amount: Decimal | int) -> None:
        self.state.set_balance(self._known(name), Decimal(amount))

    def balance(self, name: str) -> Decimal:
        return self.state.balance(self._known(name))

    def requests(self, name: str) -> int:
        """How many requests provider ``name`` has received (faulted ones included)."""
        return self.state.requests.get(self._known(name), 0)

    # -- faults ----------------------------------------------------------------------------
    def fault(self, name: str, kind: str, *, times: int | None = None, seconds: float = 30.0,
              status: int = 503, retry_after: float = 1.0) -> None:
        """Inject a fault into provider ``name``.

        Kinds: ``refuse`` (the port stops listening until cleared), ``hang_before_read``,
        ``process_then_hang`` (the ledger has the message, the reply never comes),
        ``process_then_reset``, ``error`` (an HTML page with ``status``), ``rate_limit`` (429
        with ``Retry-After``), ``malformed`` (a broken 200 body) and ``latency`` (``seconds``
        added). ``times=N`` makes the provider recover after N requests.
        """
        name = self._known(name)
        if kind not in FAULT_KINDS:
            raise ConfigurationError(
                f"unknown fault {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}"
            )
        if times is not None and times < 1:
            raise ConfigurationError("times must be at least 1")
        self.state.add_fault(name, Fault(kind=kind, times=times,  # type: ignore[arg-type]
                                         seconds=seconds, status=status,
                                         retry_after=retry_after))
        if kind == "refuse":
            self._refuse(name)

    def clear_faults(self, name: str | None = None) -> None:
        """Remove injected faults (of one provider, or all) and listen again where refused."""
        names = [self._known(name)] if name else list(EMULATORS)
        self.state.clear_faults(name and self._known(name))
        for each in names:
            with self._lock:
                refusing = each in self._refusing
                self._refusing.discard(each)
            if refusing and self._control is not None:
                self._start_provider(each, self._ports[each])

    def _refuse(self, name: str) -> None:
        with self._lock:
            if name in self._refusing or name not in self._servers:
                return
            self._refusing.add(name)
            server = self._servers.pop(name)
        server.shutdown()
        server.drop_connections()
        server.server_close()


def _inbox(sandbox: Sandbox) -> str:
    delay = sandbox.state.delivery_delay
    rows = []
    for entry in reversed(sandbox.messages()):
        status = entry.status(delay).value
        rows.append(
            "<tr>"
            f"<td>{html.escape(entry.provider)}</td>"
            f"<td>{html.escape(entry.recipient)}</td>"
            f"<td>{html.escape(entry.sender or '')}</td>"
            f"<td class=text>{html.escape(entry.text)}</td>"
            f"<td>{entry.segments} ({html.escape(entry.encoding)})</td>"
            f"<td>{entry.cost}</td>"
            f"<td><span class='st {status}'>{status}</span></td>"
            f"<td><code>{html.escape(entry.message_id)}</code></td>"
            f"<td>{time.strftime('%H:%M:%S', time.localtime(entry.created))}</td>"
            "</tr>"
        )
    balances = " · ".join(
        f"{html.escape(name)}: <b>{sandbox.state.balance(name)}</b>" for name in EMULATORS
    )
    empty = "<tr><td colspan=9 class=empty>No messages yet.</td></tr>"
    _log.debug("inbox rendered for %d message(s)", len(rows))
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><meta http-equiv=refresh content=2>
<title>smsgate sandbox inbox</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2330;background:#f7f8fa}}
h1{{font-size:1.3rem;margin:0 0 .3rem}} p{{color:#5b6475;margin:.2rem 0 1rem}}
table{{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 3px #0002}}
th,td{{padding:.45rem .6rem;border-bottom:1px solid #e6e8ee;text-align:left;vertical-align:top}}
th{{background:#eef0f5;font-weight:600}} td.text{{max-width:28rem;white-space:pre-wrap}}
.st{{padding:.1rem .45rem;border-radius:.6rem;font-size:12px}}
.queued{{background:#fff4cc}} .delivered{{background:#d7f5dd}} .failed{{background:#fbd9d9}}
.empty{{text-align:center;color:#8a93a6;padding:2rem}}
</style></head><body>
<h1>smsgate sandbox inbox</h1>
<p>{len(rows)} message(s) · balances: {balances} · refreshes every 2 s</p>
<table><thead><tr><th>provider</th><th>recipient</th><th>sender</th><th>text</th>
<th>segments</th><th>cost</th><th>status</th><th>message id</th><th>time</th></tr></thead>
<tbody>{''.join(rows) or empty}</tbody></table>
</body></html>
"""

