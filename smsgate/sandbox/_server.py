"""The sandbox servers: one per provider (so a refused connection is a real refusal) and one
for control, the ledger as JSON and the inbox page."""

from __future__ import annotations

import contextlib
import errno
import http.server
import json
import secrets
import socket
import struct
import sys
import threading
import time
import urllib.parse
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Final

from .._secrets import get_logger
from ..errors import ConfigurationError
from ._callbacks import Dispatcher
from ._inbox import Filter, inbox_json, inbox_page, money
from ._providers import (
    EMULATED,
    EMULATORS,
    PATH_PREFIX,
    UNITS,
    Reply,
    Request,
    describe,
    headers_of,
)
from ._state import FAULT_KINDS, Fault, LedgerEntry, Refusal, SandboxState

__all__ = ["DEFAULT_BALANCE", "DEFAULT_CREDENTIALS", "PORT_ORDER", "Sandbox"]

_log = get_logger("smsgate.sandbox")

#: The credentials each emulated provider accepts unless told otherwise.
DEFAULT_CREDENTIALS: Final[Mapping[str, Mapping[str, str]]] = {
    name: emulated.credentials for name, emulated in EMULATED.items()
}
#: Every provider's starting balance, in its own unit (:data:`UNITS`): 10,000 credits on
#: GOSMS.GE, 10,000 messages on SMSOffice.ge, EUR 10,000 on GoSMS.ro, GHS 10,000 on SMSGist.
DEFAULT_BALANCE: Final = Decimal(10_000)
#: With ``port=P`` the providers listen on P+1..P+4, in this order (the registry's).
PORT_ORDER: Final = tuple(EMULATED)
#: The emulated providers that send delivery callbacks (the others are polled).
CALLBACK_PROVIDERS: Final = frozenset(n for n, e in EMULATED.items() if e.callback is not None)
#: The largest request body the sandbox reads (a bulk of 1,000 numbers is a few dozen KB).
_MAX_BODY: Final = 8 * 1024 * 1024
#: The first byte of a TLS handshake record: a client speaking https to a plain-http port.
_TLS_HANDSHAKE: Final = 0x16
_TLS_HINT: Final = ("this smsgate sandbox port speaks plain HTTP, not TLS: use an http:// "
                    "base URL (insecure_http=1 in an SMSGATE_URL)")


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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, never a traceback: a client that went away is routine; anything else
        is a sandbox bug, logged with its details at DEBUG (``smsgate -v sandbox``)."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            _log.debug("%s: connection ended early: %s", self.name, type(error).__name__)
            return
        _log.error("%s: unexpected %s while serving a request (details with -v)",
                   self.name, type(error).__name__)
        _log.debug("%s: details", self.name, exc_info=True)

    @property
    def name(self) -> str:
        return str(getattr(self.RequestHandlerClass, "name", "control"))

    def drop_connections(self) -> None:
        """Wake every handler blocked on a kept-alive connection or a hang, so close() can
        join it."""
        self.closing.set()
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    """What both kinds of server share: quiet logs, a hint for TLS, bodies read safely."""

    server_version = "smsgate-sandbox"
    protocol_version = "HTTP/1.1"
    sandbox: ClassVar[Sandbox]
    name: ClassVar[str] = "control"
    _tls_warned: ClassVar[bool] = False

    def log_message(self, format: str, *args: Any) -> None:
        # Method and path only: query strings carry phone numbers (and keys). A request line
        # too broken to parse has neither (``send_error`` logs before ``path`` exists).
        path = getattr(self, "path", None)
        if path is None:
            _log.debug("%s: unreadable request: %s", self.name, format % args)
            return
        _log.debug("%s: %s %s", self.name, self.command, urllib.parse.urlsplit(path).path)

    def _started(self) -> bytes:
        """Wait for the next request's first bytes (``b""``: the client closed)."""
        try:
            return bytes(self.rfile.peek(1))  # type: ignore[attr-defined]
        except OSError:
            return b""

    def _plain_http_request_waiting(self) -> bool:
        """Wait for the next request; ``False`` when there is none to serve (the client
        closed, or it speaks TLS to this plain-HTTP port and got a hint instead)."""
        started = self._started()
        if not started:
            self.close_connection = True
            return False
        if started[0] == _TLS_HANDSHAKE:
            self._tls_hint()
            return False
        return True

    def _tls_hint(self) -> None:
        """A TLS client on a plain-HTTP port: a one-line answer, a one-line log, no hang.

        The client's TLS layer cannot show the plain-text answer (it reports a wrong
        version or a record-layer error), so the sandbox says it in its own log too.
        """
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.rfile.read1(65536)  # the ClientHello
            body = (_TLS_HINT + "\n").encode()
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                             b"Connection: close\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
            self.wfile.flush()
        cls = type(self)
        if not cls._tls_warned:
            cls._tls_warned = True
            _log.warning("%s: a TLS (https) client connected: %s", self.name, _TLS_HINT)
        else:
            _log.debug("%s: another TLS client connected", self.name)

    def _body(self) -> bytes | None:
        """The request body; ``None`` (after a 400 or 413 reply) when its length is not a
        number or too large to be a send."""
        raw = self.headers.get("Content-Length") or "0"
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY:
            status = 413 if length > _MAX_BODY else 400
            self.close_connection = True
            self._plain(status, "Content-Length must be a number of bytes, at most "
                                f"{_MAX_BODY}")
            return None
        return self.rfile.read(length) if length else b""

    def _plain(self, status: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _ProviderHandler(_Handler):
    provider: ClassVar[str]

    def handle_one_request(self) -> None:
        # Wait for the next request's first byte, so that a fault injected meanwhile applies
        # to that request and not to one already read from a kept-alive connection.
        if not self._plain_http_request_waiting():
            return
        fault = self.sandbox.state.take_fault(self.provider)
        if fault is not None and fault.kind == "hang_before_read":
            self.sandbox.state.refuse(self.provider, [], "", None, "fault hang_before_read: "
                                      "the request was not read, no reply", kind="fault")
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
        self._fault = None
        body = self._body()
        if body is None:
            return
        self.sandbox.state.count_request(self.provider)
        prefix = PATH_PREFIX[self.provider]
        split = urllib.parse.urlsplit(self.path)
        if not split.path.startswith(prefix):
            self._write(Reply(404, b"Not Found", {"Content-Type": "text/plain"}))
            return
        request = Request(
            method=self.command,
            path=split.path[len(prefix):] or "/",
            query=dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True)),
            headers=headers_of(dict(self.headers.items())),
            body=body,
        )
        state = self.sandbox.state
        if fault is not None and fault.kind == "latency":
            self._hang(fault.seconds)
        if fault is not None and fault.kind in ("error", "rate_limit", "malformed"):
            attempt = describe(self.provider, request)
            if attempt is not None:
                state.refuse(self.provider, attempt.numbers, attempt.text, attempt.sender,
                             _FAULT_REASONS[fault.kind].format(fault=fault), kind="fault")
            self._write(_fault_reply(self.provider, fault))
            return
        unknown_outcome = EMULATED[self.provider].unknown_outcome
        if fault is not None and fault.kind == "temporary_delay" and unknown_outcome:
            # Worst case: the send is processed (ledger, balance, status, callback) and only
            # the answer says the outcome is unknown (SMSOffice.ge's -100), so a client that
            # reads it as "nothing sent" is caught.
            if describe(self.provider, request) is not None:
                with state.faulted(fault.kind):
                    EMULATORS[self.provider](state, request, self.sandbox.credentials(
                        self.provider))
            self._write(unknown_outcome())
            return
        creds = self.sandbox.credentials(self.provider)
        try:
            with state.faulted(fault.kind if fault is not None else None):
                reply = EMULATORS[self.provider](state, request, creds)
        except Exception:
            # A sandbox bug: a one-line log and a 500, never a traceback on the terminal.
            _log.error("%s: the emulator failed on %s %s (details with -v)", self.provider,
                       self.command, split.path)
            _log.debug("%s: details", self.provider, exc_info=True)
            self._plain(500, "the smsgate sandbox failed on this request (see its log)")
            return
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


#: What the inbox says of a fault that answered without processing the request.
_FAULT_REASONS: Final[Mapping[str, str]] = {
    "error": "fault error: answered an HTML page with HTTP {fault.status}, nothing sent",
    "rate_limit": "fault rate_limit: answered 429 with Retry-After {fault.retry_after:g}, "
                  "nothing sent",
    "malformed": "fault malformed: answered a broken 200 body, nothing sent",
}


def _fault_reply(provider: str, fault: Fault) -> Reply:
    if fault.kind == "rate_limit":
        headers = {"Content-Type": "application/json", "Retry-After": f"{fault.retry_after:g}"}
        # In each provider's own words where it has some (its emulator's rate_limit_body).
        body = EMULATED[provider].rate_limit_body
        return Reply(429, json.dumps(body).encode(), headers)
    if fault.kind == "malformed":
        return Reply(200, b'{"success": tru', {"Content-Type": "application/json"})
    return Reply(fault.status, b"<html><body><h1>Service Unavailable</h1></body></html>",
                 {"Content-Type": "text/html"})


class _ControlHandler(_Handler):
    def handle_one_request(self) -> None:
        if self._plain_http_request_waiting():
            super().handle_one_request()

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/":
            nonce = secrets.token_urlsafe(16)
            page = inbox_page(self.sandbox, Filter.from_url(self.path), nonce)
            self._send(200, "text/html; charset=utf-8", page.encode(), {
                # Every value on the page comes from requests: even if one escaped the
                # escaping, no script but the page's own (its nonce) runs.
                "Content-Security-Policy": f"default-src 'none'; script-src 'nonce-{nonce}'; "
                "style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; "
                "base-uri 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff",
            })
        elif path == "/_sandbox/inbox":
            self._json(200, inbox_json(self.sandbox, Filter.from_url(self.path)), indent=None)
        elif path == "/_sandbox/refusals":
            self._json(200, [r.as_json() for r in self.sandbox.refusals()])
        elif path == "/_sandbox/balance":
            self._json(200, self.sandbox._balances_json())
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
        body = self._body()
        if body is None:
            return
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            if path == "/_sandbox/faults":
                if "provider" not in data:
                    raise ValueError('name the provider: {"provider": "gosms.ge", ...}')
                provider = data.pop("provider")
                self.sandbox.fault(provider, **data)
                self._json(201, {"ok": True})
            elif path == "/_sandbox/faults/clear":
                self.sandbox.clear_faults(data.get("provider"))
                self._json(200, {"ok": True})
            elif path == "/_sandbox/balance":
                self._json(200, self.sandbox._balance_request(data))
            else:
                self._send(404, "text/plain", b"Not Found")
        except (ValueError, KeyError, TypeError, ConfigurationError) as exc:
            self._json(400, {"error": str(exc)})

    def _json(self, status: int, payload: object, indent: int | None = 1) -> None:
        self._send(status, "application/json", json.dumps(payload, indent=indent).encode())

    def _send(self, status: int, content_type: str, body: bytes,
              headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
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
        port: the control server's (inbox page's) port. With a port ``P`` the providers
            listen on fixed ports too, so their URLs survive a restart: ``P+1`` GOSMS.GE,
            ``P+2`` SMSOffice.ge, ``P+3`` GoSMS.ro, ``P+4`` SMSGist (:data:`PORT_ORDER`).
            ``0`` (the default) picks free ports for all five. A port in use is a
            :class:`~smsgate.ConfigurationError` from :meth:`start`.
        delivery_delay: seconds before an accepted message reports ``delivered``.
        balance: the starting balance, in each provider's unit (:data:`UNITS`: GOSMS.GE
            credits, SMSOffice.ge messages, GoSMS.ro euros, SMSGist cedis): one amount for
            all, or a mapping of provider names to amounts (the others keep
            :data:`DEFAULT_BALANCE`, 10,000). :meth:`reset_balance` goes back to it.
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
        balance: Decimal | int | str | Mapping[str, Decimal | int | str] = DEFAULT_BALANCE,
        otp_ttl: float = 300.0,
        credentials: Mapping[str, Mapping[str, str]] | None = None,
        callbacks: Mapping[str, str] | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self.host = host
        if not 0 <= port <= 65535 - len(PORT_ORDER):
            raise ConfigurationError(
                f"port {port}: give 0 (free ports) or 1-{65535 - len(PORT_ORDER)} (the "
                f"providers take the {len(PORT_ORDER)} ports after it)"
            )
        self._port = port
        if isinstance(balance, Mapping):
            starting = {name: DEFAULT_BALANCE for name in EMULATORS}
            for name, amount in balance.items():
                starting[self._known(name)] = _amount(name, amount)
        else:
            starting = {name: _amount(name, balance) for name in EMULATORS}
        self.state = SandboxState(
            delivery_delay=delivery_delay,
            balances=starting,
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
        self._stopping.clear()
        try:
            self._control = self._bind("the inbox page", self._port, control_handler)
            self._serve(self._control)
            for offset, name in enumerate(PORT_ORDER, start=1):
                self._start_provider(name, self._port + offset if self._port else 0)
        except BaseException:
            self.stop()
            raise
        if self._callback_urls:
            builders = {name: EMULATED[name].callback for name in self._callback_urls}
            self._dispatcher = Dispatcher(self._callback_urls, builders, self._webhook_secret,
                                          self.state.delivery_delay, self._stopping)
            self.state.listeners.append(self._dispatcher.schedule)
        _log.info("sandbox listening on %s", self.url)
        return self

    def _start_provider(self, name: str, port: int) -> None:
        handler = type(f"Handler-{name}", (_ProviderHandler,),
                       {"sandbox": self, "provider": name, "name": name})
        server = self._bind(name, port, handler)
        self._servers[name] = server
        self._ports[name] = server.server_address[1]
        self._serve(server)

    def _bind(self, what: str, port: int, handler: type[Any]) -> _Server:
        try:
            return _Server((self.host, port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                ports = (f"{self._port}-{self._port + len(PORT_ORDER)}" if self._port
                         else str(port))
                raise ConfigurationError(
                    f"port {port} ({what}) is in use: stop what listens there, or choose "
                    f"another port (the sandbox takes {ports}), or 0 for free ports"
                ) from None
            raise ConfigurationError(f"cannot listen on {self.host}:{port} ({what}): "
                                     f"{exc.strerror or exc}") from None

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
        from ..registry import provider_class

        # The URL parts the adapter class declares for its credentials (user, password).
        creds = self.credentials(name)
        parts = provider_class(name).url_credentials
        credential = ":".join(
            urllib.parse.quote(creds[parts[part]], safe="")
            for part in ("user", "password") if part in parts and parts[part] in creds
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

    def refusals(self, provider: str | None = None) -> list[Refusal]:
        """Send requests that sent nothing (refused, or hit by a fault first), oldest first:
        one entry per recipient, the last 10,000 kept."""
        return self.state.refusals(self._known(provider) if provider else None)

    def set_balance(self, name: str | None, amount: Decimal | int | str) -> None:
        """Set provider ``name``'s balance (every provider's for ``None``), in its unit."""
        for each in [self._known(name)] if name else list(EMULATORS):
            self.state.set_balance(each, _amount(each, amount))

    def reset_balance(self, name: str | None = None) -> None:
        """Back to the starting balance (of one provider, or all)."""
        for each in [self._known(name)] if name else list(EMULATORS):
            self.state.reset_balance(each)

    def balance(self, name: str) -> Decimal:
        """Provider ``name``'s balance, in its unit (:data:`UNITS`)."""
        return self.state.balance(self._known(name))

    def _balances_json(self) -> dict[str, dict[str, str]]:
        return {name: {"balance": str(self.state.balance(name)), "unit": UNITS[name],
                       "starting": str(self.state.starting_balances[name]),
                       "text": money(name, self.state.balance(name))}
                for name in EMULATORS}

    def _balance_request(self, data: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        """``POST /_sandbox/balance``: set (``balance``) or reset (no ``balance``), for
        ``provider`` or for all."""
        unknown = sorted(set(data) - {"provider", "balance"})
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}: send provider and/or balance")
        provider = data.get("provider")
        if provider is not None and not isinstance(provider, str):
            raise ValueError("provider must be a provider's name")
        if "balance" in data:
            self.set_balance(provider, data["balance"])
        else:
            self.reset_balance(provider)
        return self._balances_json()

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
        with ``Retry-After``), ``malformed`` (a broken 200 body), ``latency`` (``seconds``
        added) and, on SMSOffice.ge only, ``temporary_delay`` (the send is processed, as in
        the worst case, and answered ``ErrorCode: -100`` "Temporary delay"). ``times=N``
        makes the provider recover after N requests.
        """
        name = self._known(name)
        if kind not in FAULT_KINDS:
            raise ConfigurationError(
                f"unknown fault {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}"
            )
        if kind == "temporary_delay" and EMULATED[name].unknown_outcome is None:
            having = [n for n, e in EMULATED.items() if e.unknown_outcome is not None]
            raise ConfigurationError(
                "temporary_delay is a provider's own 'outcome unknown' answer (SMSOffice.ge's "
                f"-100); only {', '.join(having)} has one"
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


def _amount(provider: str, value: object) -> Decimal:
    """A balance for ``provider``: a finite amount, not negative, whole where the provider
    counts messages (GOSMS.GE credits, SMSOffice.ge messages)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ConfigurationError(f"{provider} balance: give a number, not {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigurationError(f"{provider} balance: {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ConfigurationError(f"{provider} balance: {value!r} must be 0 or more")
    if UNITS.get(provider) in ("credits", "messages") and amount != amount.to_integral_value():
        raise ConfigurationError(
            f"{provider} balance: {value!r}: it counts whole {UNITS[provider]}"
        )
    return amount
