"""The one HTTP layer: performs request descriptions, classifies every transport failure.

Adapters never do I/O. They describe a request (:class:`HttpRequest`) and parse a reply
(:class:`HttpResponse`), both defined in ``smsgate._wire``; :class:`RequestsTransport`, the
default :class:`smsgate.Transport`, performs it over a ``requests.Session`` with explicit
timeouts, no urllib3 retries and no redirects, and is the only code in smsgate that catches
``requests`` exceptions.

The classification answers the caller's one question, "may this have been sent?":

==============================================  ======================  =============
what happened                                   error                   may_have_sent
==============================================  ======================  =============
connection refused, DNS failure                 ConnectError            False
connect timeout                                 ConnectError            False
name lookup, proxy tunnel or TLS handshake
not done in time (nothing written yet)          ConnectError            False
TLS handshake failure                           ConnectError (final)    False
read timeout                                    DeliveryUnknown         True
connection reset / closed after sending         DeliveryUnknown         True
reply cut off while reading the body            DeliveryUnknown         True
no complete reply within the exchange's bound   DeliveryUnknown         True
an interim 1xx reply (102, 103) came first      DeliveryUnknown         True
reply larger than :data:`MAX_REPLY_BYTES`       InvalidResponse         True
==============================================  ======================  =============

("True" is for a request that may send a message; a lookup's failures are always ``False``.)

``requests.ConnectionError`` covers both "refused" and "aborted after sending", so the cause
chain is inspected: only a failure to *open* the connection proves nothing was sent. On
smsgate's own session the transport also knows whether the request was started on an open
connection; once it was, no failure is reported as "nothing sent".

Two bounds hold for every exchange, whatever the server does:

* **time**: the whole exchange (connect, send, headers, body) ends within the connect timeout
  plus the read timeout, or within what is left of the Gateway's deadline if that is less.
  Socket timeouts alone bound each read, not the exchange: a server trickling one byte per
  second never trips them. A shared watchdog thread shuts the socket of an exchange whose time
  ran out, which ends the blocked read at once.
  The bound starts before the connection exists: host names are looked up in a small
  resolver pool that is given up on in time, and a new socket is watched before any proxy
  tunnel or TLS handshake.
* **size**: a reply body is read in pieces and decoded by smsgate itself (gzip and deflate,
  the only encodings it asks for), and reading stops once the *decoded* body, or the bytes
  read, pass :data:`MAX_REPLY_BYTES`, so a compressed "bomb" never inflates in memory.

A reply is scrubbed of every registered credential as it is read (:func:`scrub_bytes`), and
its connection is pooled only when its end can be trusted (:func:`_poolable`).

Errors are raised outside the ``except`` block that caught them, so that no chained cause
(whose text may hold a URL with SMSOffice.ge's key in its query string) travels with them,
and credentials are revealed only inside :meth:`RequestsTransport._round_trip`, whose frame is gone
before anything is raised: no frame left on a raised error's traceback holds a revealed key
(tools that record local variables in tracebacks would show it).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import heapq
import ipaddress
import itertools
import os
import queue
import socket
import sys
import threading
import time
import zlib
from typing import Any, Final

import requests
import requests.adapters
import urllib3
import urllib3.exceptions
import urllib3.util.connection
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from . import _replyjson
from ._secrets import get_logger, header_problem, scrub
from ._version import __version__
from ._wire import (
    DEFAULT_TIMEOUT,
    AuthParam,
    HttpRequest,
    HttpResponse,
    Timeout,
    _scrubbed_reply,
    deadline_scope,
    remaining,
)
from .errors import (
    ConfigurationError,
    ConnectError,
    DeliveryUnknown,
    InvalidResponse,
    ProviderError,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_REPLY_BYTES",
    "MAX_WAIT",
    "AuthParam",
    "HttpRequest",
    "HttpResponse",
    "RequestsTransport",
    "Timeout",
    "deadline_scope",
    "exchange_bound",
    "remaining",
]
USER_AGENT: Final = f"smsgate/{__version__} python-requests/{requests.__version__}"

#: The largest reply body smsgate reads, counted after decoding (4 MiB). SMS gateways answer
#: in a few hundred bytes; a bulk send's per-recipient list stays far below this.
MAX_REPLY_BYTES: Final = 4 * 1024 * 1024
# Bytes read from the socket (or produced by the decoder) per step.
_CHUNK: Final = 64 * 1024
# Concatenated gzip members accepted in one body. Servers send one; each costs a new decoder,
# so 4 MiB of empty 20-byte members would cost seconds of CPU while decoding to nothing.
_MAX_GZIP_MEMBERS: Final = 64
# smsgate decodes bodies itself (to bound their decoded size), so it asks for no other coding.
_ACCEPT_ENCODING: Final = "gzip, deflate"

_log = get_logger("smsgate.http")

#: The longest any single wait may be (one day). A timeout above it, infinite or NaN is cut to
#: it: sockets and ``threading`` refuse waits they cannot represent (``OverflowError``), and
#: smsgate never waits forever.
MAX_WAIT: Final = min(86_400.0, threading.TIMEOUT_MAX)


def _finite(seconds: float) -> float:
    """``seconds`` as a wait sockets and threads accept: within (0.001 s, :data:`MAX_WAIT`)."""
    if not seconds <= MAX_WAIT:  # also NaN
        return MAX_WAIT
    return max(seconds, 0.001)


def _bounded(
    timeout: float | tuple[float, float], deadline: float | None = None
) -> float | tuple[float, float]:
    left = remaining(deadline)
    left = MAX_WAIT if left is None else _finite(left)
    if isinstance(timeout, tuple):
        return (min(_finite(timeout[0]), left), min(_finite(timeout[1]), left))
    return min(_finite(timeout), left)


def exchange_bound(
    timeout: float | tuple[float, float], deadline: float | None = None
) -> float:
    """Seconds one exchange may take in all: connect timeout plus read timeout.

    A single number is both timeouts (as in ``requests``), so the bound is twice it. Under a
    deadline (``deadline``, or a Gateway's :func:`deadline_scope`: the earlier of the two)
    the bound is also never more than the time left. Each timeout counts at most
    :data:`MAX_WAIT`.
    """
    if isinstance(timeout, tuple):
        total = _finite(timeout[0]) + _finite(timeout[1])
    else:
        total = 2 * _finite(timeout)
    left = remaining(deadline)
    return total if left is None else _finite(min(total, left))


# -- the watchdog: a wall-clock bound per exchange ---------------------------------------------


class _Exchange:
    """The time budget of one request, and the socket to shut when it runs out."""

    __slots__ = ("_lock", "_own", "_sock", "began", "done", "ends_at", "expired", "seen")

    def __init__(self, ends_at: float) -> None:
        self.ends_at = ends_at
        self.began = False  # the request was started on an open connection
        self.seen = False  # one of smsgate's own connections handles it (so `began` is known)
        self.expired = False
        self.done = False
        self._sock: socket.socket | None = None
        # A duplicate of a socket opened for this exchange: it outlives the TLS wrapping (which
        # detaches the original socket object), so a proxy tunnel or a handshake can be cut too.
        self._own: socket.socket | None = None
        self._lock = threading.Lock()

    def opened(self, sock: socket.socket) -> bool:
        """A new connection's socket exists (before any proxy tunnel or TLS handshake): watch
        it from now on. ``False`` when time already ran out."""
        with self._lock:
            self.seen = True
            if self.expired or time.monotonic() >= self.ends_at:
                self.expired = True
                return False
            try:
                self._own = sock.dup()
            except OSError:
                return True  # out of descriptors: the connect timeout still bounds each step
            self._sock = self._own
            return True

    def attach(self, sock: socket.socket | None, *, replied: bool = False) -> bool:
        """Called just before the request is written (or, on a caller's own session, once
        the reply's headers came: ``replied``); ``False`` when time already ran out."""
        with self._lock:
            self.began = self.began or replied
            if self.expired or time.monotonic() >= self.ends_at:
                self.expired = True
                return False
            if self._own is None:
                self._sock = sock
            self.began = True
            return True

    def expire(self) -> bool:
        """Time is up: shut the socket. ``True`` when nothing more needs watching."""
        with self._lock:
            if self.done:
                return True
            self.expired = True
            if self._sock is None:
                return False  # no socket yet (a name lookup gives up by itself): look again
            with contextlib.suppress(OSError):
                # socket.socket.shutdown, not SSLSocket.shutdown: end the blocked read without
                # touching the TLS state another thread is using.
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
            return True

    def finish(self) -> None:
        """The exchange is over; after this the watchdog never touches its socket."""
        with self._lock:
            self.done = True
            self._sock = None
            if self._own is not None:
                self._own.close()
                self._own = None


class _Resolver:
    """A few shared daemon threads that look host names up, so that a lookup can be given up
    when the exchange's time runs out (``socket.getaddrinfo`` itself has no timeout).

    A lookup that is given up on keeps its thread until the system resolver answers; the
    caller is already gone with a :class:`ConnectError`.
    """

    _THREADS: Final = 4

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._queue: queue.SimpleQueue[
            tuple[concurrent.futures.Future[list[Any]], str, int]
        ] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def lookup(self, host: str, port: int, timeout: float) -> list[Any]:
        """``getaddrinfo`` for a TCP connection; ``TimeoutError`` after ``timeout`` seconds."""
        if self._pid != os.getpid():  # a forked child has none of the threads
            self._reset()
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self._THREADS:
                thread = threading.Thread(target=self._run, name="smsgate-resolver", daemon=True)
                thread.start()
                self._threads.append(thread)
        future: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
        self._queue.put((future, host, port))
        try:
            return future.result(timeout=max(timeout, 0.0))
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no address for {host} in time") from None

    def _run(self) -> None:
        while True:
            future, host, port = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up before the lookup started
            try:
                future.set_result(
                    socket.getaddrinfo(
                        host, port, urllib3.util.connection.allowed_gai_family(),
                        socket.SOCK_STREAM,
                    )
                )
            except BaseException as exc:  # handed to the caller, whatever it is
                future.set_exception(exc)
            del future


_RESOLVER: Final = _Resolver()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _Watchdog:
    """One daemon thread for the whole process that expires exchanges on time.

    Registering costs a heap push; an exchange that ends in time is dropped lazily (the heap
    is compacted once finished entries outnumber the live ones), so the cost per request stays
    constant and no timer thread is started per request.
    """

    _RECHECK: Final = 0.05  # seconds between looks at an exchange still connecting

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Exchange]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._compact_at = 1024

    def watch(self, exchange: _Exchange) -> None:
        if self._pid != os.getpid():  # a forked child has no watchdog thread: start anew
            self._reset()
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="smsgate-watchdog", daemon=True
                )
                self._thread.start()
            if len(self._heap) >= self._compact_at:
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
                self._compact_at = max(1024, 2 * len(self._heap))
            heapq.heappush(self._heap, (exchange.ends_at, next(self._order), exchange))
            if self._heap[0][2] is exchange:
                self._cond.notify()

    def pending(self) -> int:
        """Entries held (live or not yet dropped); for tests of the bound."""
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                at, _, exchange = self._heap[0]
                now = time.monotonic()
                if at > now:
                    # Clamped: a wait threading cannot represent would kill this thread.
                    self._cond.wait(min(at - now, threading.TIMEOUT_MAX))
                    continue
                heapq.heappop(self._heap)
                if not exchange.expire():
                    heapq.heappush(
                        self._heap, (now + self._RECHECK, next(self._order), exchange)
                    )


_WATCHDOG: Final = _Watchdog()
_current: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar(
    "smsgate_exchange", default=None
)


class _WatchedConnection(HTTPConnection):
    """A urllib3 connection that hands its socket to the current exchange as soon as it
    exists, and looks its host name up within the exchange's time.

    It also writes a request's head and its body in one ``sendall`` instead of two
    (http.client writes the head as soon as it is complete): one system call less per
    request, and one packet instead of two with ``TCP_NODELAY``. Only bytes bodies join the
    head; anything else is written after it, as before.
    """

    _holding = False
    _held: bytes | None = None
    def _new_conn(self) -> socket.socket:
        exchange = _current.get()
        if exchange is None:
            return super()._new_conn()
        exchange.seen = True
        host = self._dns_host
        known = _is_address(host)
        sock = super()._new_conn() if known else self._connect_resolved(host, exchange)
        if not exchange.opened(sock):
            sock.close()
            raise ConnectTimeoutError(self, "the time for this request ran out")
        return sock

    def _connect_resolved(self, host: str, exchange: _Exchange) -> socket.socket:
        """Resolve ``host`` within the exchange's time, then connect to its addresses in turn
        (by address, so urllib3 does not look the name up again without a bound)."""
        try:
            found = _RESOLVER.lookup(host, self.port or 0, exchange.ends_at - time.monotonic())
        except TimeoutError:
            raise ConnectTimeoutError(self, "the host name could not be resolved in time") from None
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        failure: NewConnectionError | None = None
        for address in addresses:
            self._dns_host = address
            try:
                return super()._new_conn()
            except NewConnectionError as exc:
                failure = exc
            finally:
                self._dns_host = host
            if time.monotonic() >= exchange.ends_at:
                break
        if failure is None:
            raise ConnectTimeoutError(self, "the host name has no address")
        raise failure

    def _tunnel(self) -> None:
        super()._tunnel()
        exchange = _current.get()
        if exchange is not None and exchange.expired:
            # http.client takes the end of a cut CONNECT answer for its end: the tunnel
            # "opened" only because the watchdog shut it. Nothing was sent through it.
            raise ConnectTimeoutError(self, "the proxy tunnel was not set up in time")

    def request(self, *args: Any, **kwargs: Any) -> None:
        exchange = _current.get()
        if exchange is not None:
            exchange.seen = True
            if self.sock is None:
                self.connect()
            if not exchange.attach(self.sock):
                # Nothing was written: report it as the connect timeout it effectively is.
                raise ConnectTimeoutError(self, "the time for this request ran out")
        self._holding = True
        try:
            super().request(*args, **kwargs)
            held, self._held = self._held, None
            if held is not None:  # no body came: the head alone
                super().send(held)
        finally:
            self._holding = False
            self._held = None

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        if not self._holding or message_body is not None:
            super()._send_output(message_body, encode_chunked)  # type: ignore[misc]
            return
        # http.client's own head assembly (the buffered lines and the blank line), kept for
        # the first piece of the body instead of written now.
        buffer: list[bytes] = self._buffer  # type: ignore[attr-defined]
        buffer.extend((b"", b""))
        self._held = b"\r\n".join(buffer)
        del buffer[:]

    def send(self, data: Any) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if isinstance(data, bytes):
                data = held + data
            else:
                super().send(held)
        super().send(data)


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS: Final = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _Adapter(requests.adapters.HTTPAdapter):
    """smsgate's adapter: no retries, and connections the watchdog can interrupt."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        self._pool_keys: dict[tuple[Any, ...], tuple[Any, Any]] = {}
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> Any:
        """requests' own answer, kept per origin and TLS settings: requests parses the URL
        and, when ``verify`` names a CA bundle, asks the file system whether it is a
        directory, on every request; the answer depends on the scheme, host and port only.

        The key is the URL's ``scheme://host:port`` part, never its path or query (a key may
        travel in a query string, and this cache outlives the request); an authority with
        user information is not cached at all. Each caller gets its own copy to change.
        """
        url = str(request.url)
        start = url.find("://") + 3
        end = url.find("/", start)  # requests' prepared URLs always have a path
        origin = url[:end] if start > 2 and end != -1 else ""
        if not origin or "@" in origin:
            return super().build_connection_pool_key_attributes(request, verify, cert)
        key = (origin, verify, cert if not isinstance(cert, list) else tuple(cert))
        found: tuple[Any, Any] | None = self._pool_keys.get(key)
        if found is None:
            found = super().build_connection_pool_key_attributes(request, verify, cert)
            if len(self._pool_keys) < 64:
                self._pool_keys[key] = found
        return dict(found[0]), dict(found[1])

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, urllib3.ProxyManager):  # SOCKS managers keep their own pools
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


class _TooLarge(Exception):
    """The decoded body passed the limit."""


class _Interim(Exception):
    """The first reply was an interim 1xx one."""


class _TimeUp(Exception):
    """The exchange's time ran out before its body could be watched."""


class RequestsTransport:
    """smsgate's default :class:`~smsgate.Transport`: performs :class:`HttpRequest` for one
    provider over ``requests``.

    Args:
        provider: registry name, carried by every error.
        base_url: the provider's base URL (no trailing slash needed).
        timeout: seconds, or ``(connect, read)``. The whole exchange is also bounded by their
            sum (:func:`exchange_bound`).
        session: a ``requests.Session`` to reuse. smsgate mounts no retries on its own
            session; a session you pass is used as it is (keep urllib3 retries off POST).
            The wall-clock bound of an exchange covers the reply body on any session, and
            the whole exchange (headers included) on smsgate's own session, whose
            connections the watchdog can interrupt.
        max_reply_bytes: the largest decoded reply body read (:data:`MAX_REPLY_BYTES`).
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        timeout: float | tuple[float, float],
        session: requests.Session | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        if session is not None and not isinstance(session, requests.Session):
            raise ConfigurationError("session must be a requests.Session")
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes
        self._owns_session = session is None
        self.session = session if session is not None else _new_session()
        # smsgate's own session reads the environment once, here (see _Resolved); a session
        # the caller passes keeps requests' own behaviour, which reads it on every request.
        self._resolved = _Resolved(self.session, self.base_url) if session is None else None

    def close(self) -> None:
        """Close the session if this transport created it."""
        if self._owns_session:
            self.session.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, base_url={self.base_url!r})"

    def perform(self, request: HttpRequest, *, deadline: float | None = None) -> HttpResponse:
        """Make the request; return the reply whatever its status, or raise a transport error.

        The exchange ends within the timeouts, and by ``deadline`` (an instant on
        :func:`time.monotonic`) or the enclosing :func:`deadline_scope`'s, the earlier one.

        Raises:
            ConnectError: the request cannot have reached the provider.
            DeliveryUnknown: it may have; no reply could be read in time.
            InvalidResponse: the reply was larger than the limit.
            ConfigurationError: a credential cannot be sent (a header value a minted token
                made impossible); nothing was sent.
        """
        url = self.base_url + request.path
        started = time.monotonic()
        _log.debug("%s %s (%s) ->", request.method, url, request.operation)
        outer = sys.exc_info()[1]
        try:
            outcome = self._round_trip(request, url, self.timeout, deadline, started)
        except BaseException as exc:
            # Anything not smsgate's own (KeyboardInterrupt, a signal handler's exception, a
            # bug) propagates unchanged, but without the frames below this one: those of the
            # exchange hold the revealed credentials, and tools that record locals would show
            # them. The same object is raised, so ``except`` clauses and interrupts still work.
            _forget_frames(exc, outer)
            raise exc.with_traceback(None)  # noqa: B904 (the same exception, not a new one)
        if isinstance(outcome, _ERRORS):
            elapsed = time.monotonic() - started
            _log.debug(
                "%s %s failed after %.0f ms: %s",
                request.method, url, elapsed * 1000, type(outcome).__name__,
            )
            raise outcome
        _log.debug(
            "%s %s -> %s in %.0f ms", request.method, url, outcome.status, outcome.elapsed * 1000
        )
        return outcome

    def _round_trip(
        self,
        request: HttpRequest,
        url: str,
        timeout: float | tuple[float, float],
        deadline: float | None,
        started: float,
    ) -> HttpResponse | ProviderError | ConfigurationError:
        """The exchange itself; returns its error instead of raising it.

        Credentials are revealed here and nowhere else: when this frame returns, the revealed
        values and the ``requests`` objects that carry them are gone, so the frames left on
        the traceback of the error :meth:`perform` raises hold none of them.
        """
        built = _apply_auth(request)
        if isinstance(built, str):
            return ConfigurationError(f"{self.provider}: {built}; nothing was sent")
        params, json_body, form, headers = built
        headers.setdefault("User-Agent", USER_AGENT)
        headers.setdefault("Accept", "application/json, text/plain;q=0.9, */*;q=0.1")
        headers["Accept-Encoding"] = _ACCEPT_ENCODING
        bound = exchange_bound(timeout, deadline)
        exchange = _Exchange(time.monotonic() + bound)
        reply: requests.Response | None = None
        pool: Any = None
        failure: ProviderError | None = None
        result: HttpResponse | None = None
        token = _current.set(exchange)
        _WATCHDOG.watch(exchange)
        try:
            if self._resolved is not None:
                reply = self._resolved.send(
                    request.method, url, params, json_body, form, headers,
                    _bounded(timeout, deadline),
                )
            else:
                reply = self.session.request(
                    request.method,
                    url,
                    params=params or None,
                    json=json_body,
                    data=form,
                    headers=headers,
                    timeout=_bounded(timeout, deadline),
                    allow_redirects=False,
                    stream=True,
                )
            if reply.status_code < 200:
                raise _Interim
            if not exchange.began and not exchange.attach(_socket_of(reply), replied=True):
                raise _TimeUp  # a caller's session: the headers came, but too late
            pool = _hold_connection(reply)
            content = _read_body(reply, self.max_reply_bytes)
            # A reply never carries a registered credential past this point (a provider that
            # echoes the request would put the key in `raw`, in parser frames, in error text).
            reply_headers, content = _scrubbed_reply(reply.headers.items(), content)
            result = HttpResponse(status=reply.status_code, headers=reply_headers, content=content,
                                  elapsed=time.monotonic() - started)
        except requests.RequestException as exc:
            failure = self._classify(exc, request, url, exchange)
        except _TimeUp:
            pass  # reported below, as every exchange whose time ran out
        except _Interim:
            failure = self._unknown(
                request, url, f"an interim HTTP {_status_of(reply)} reply came before the "
                "final one, which could not be matched to this request",
            )
        except _TooLarge:
            failure = InvalidResponse(
                f"reply larger than {self.max_reply_bytes} bytes: "
                f"{request.method} {url}",
                provider=self.provider,
                http_status=_status_of(reply),
                may_have_sent=request.sends_message,
                retryable=False,
            )
        except urllib3.exceptions.ReadTimeoutError:
            failure = self._unknown(request, url, "no reply within the read timeout")
        except (urllib3.exceptions.HTTPError, OSError):
            # Raised by the body stream itself (requests wraps only what it reads).
            failure = self._unknown(request, url, "reply cut off while reading the body")
        except (zlib.error, EOFError):
            failure = self._unknown(request, url, "reply could not be decoded")
        except UnicodeError:
            # http.client encodes header values as Latin-1 before writing anything.
            failure = ConnectError(
                f"request could not be encoded: {request.method} {url}",
                provider=self.provider, retryable=False, may_have_sent=False,
            )
        except (ValueError, TypeError) as exc:
            # Raised by http.client or urllib3 outside requests' wrapping; its text may quote
            # a header value (a key), so only its type is kept. Conservative: may have sent.
            failure = self._unknown(request, url, f"unexpected {type(exc).__name__}")
        except BaseException:
            # Not the transport's to classify (an interrupt, a signal handler's exception): it
            # goes on as itself (see perform), and its connection is never reused.
            if reply is not None:
                _settle(reply, pool, keep=False)
            raise
        finally:
            exchange.finish()  # from here the watchdog leaves the socket alone
            _current.reset(token)
        if exchange.expired and exchange.began and not isinstance(failure, ConnectError):
            failure = self._unknown(request, url, f"no complete reply within {bound:.3g} s")
        elif exchange.expired and exchange.seen and not exchange.began and failure is not None:
            # Cut while opening the connection (name lookup, proxy tunnel, TLS handshake):
            # no byte of the request was written, so another provider may be tried.
            failure = ConnectError(
                f"could not connect within {bound:.3g} s: {request.method} {url}",
                provider=self.provider, may_have_sent=False,
            )
        if reply is not None:
            # Never pool a connection that was cut, saw an interim reply, holds unread bytes
            # or a reply whose length is doubtful: what is left on it would answer the next
            # request.
            _settle(reply, pool, keep=failure is None and _poolable(reply, result))
        if failure is not None or result is None:
            return failure or self._unknown(request, url, "reply could not be read")
        return result

    def _unknown(self, request: HttpRequest, url: str, what: str) -> DeliveryUnknown:
        return DeliveryUnknown(
            scrub(f"{what}: {request.method} {url}"),
            provider=self.provider,
            retryable=request.idempotent or not request.sends_message,
            may_have_sent=request.sends_message,
        )

    def _classify(
        self,
        exc: requests.RequestException,
        request: HttpRequest,
        url: str,
        exchange: _Exchange | None = None,
    ) -> ProviderError:
        where = f"{request.method} {url}"
        reason = _reason(exc)
        error_type: type[ProviderError]
        retryable: bool | None = None
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            error_type, what = ConnectError, "connect timeout"
        elif isinstance(exc, requests.exceptions.SSLError):
            # A certificate or protocol mismatch will not fix itself on a retry.
            error_type, what, retryable = ConnectError, "TLS handshake failed", False
        elif isinstance(exc, requests.exceptions.ProxyError):
            error_type, what = ConnectError, "proxy refused the connection"
        elif isinstance(
            exc,
            (
                requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
                requests.exceptions.InvalidHeader,
            ),
        ):
            error_type, what, retryable = ConnectError, "invalid request URL or header", False
        elif isinstance(exc, requests.exceptions.ReadTimeout):
            error_type, what = DeliveryUnknown, "no reply within the read timeout"
        elif isinstance(exc, requests.ConnectionError) and _never_connected(exc):
            error_type, what = ConnectError, "could not connect"
        elif isinstance(exc, requests.ConnectionError):
            error_type, what = DeliveryUnknown, "connection lost after the request was sent"
        else:  # ChunkedEncodingError, ContentDecodingError and anything new: be conservative
            error_type, what = DeliveryUnknown, "reply could not be read"
        if error_type is DeliveryUnknown and exchange is not None and exchange.seen \
                and not exchange.began:
            # smsgate's own connection never got as far as writing the request: the timeout
            # or cut came while opening it (TCP, a proxy tunnel, the TLS handshake).
            error_type = ConnectError
            what = (
                "connection not opened in time (TLS handshake or proxy tunnel)"
                if isinstance(exc, requests.exceptions.Timeout)
                else f"{what} while opening the connection"
            )
        elif error_type is ConnectError and exchange is not None and exchange.began:
            # The request was started on an open connection: a TLS error or a cut now comes
            # after (part of) it went out, so it may have been processed.
            error_type, what, retryable = DeliveryUnknown, f"{what} after sending", None
        may_have_sent = error_type is DeliveryUnknown and request.sends_message
        if error_type is DeliveryUnknown and retryable is None:
            retryable = request.idempotent or not request.sends_message
        message = scrub(f"{what}: {where} ({reason})")
        return error_type(
            message, provider=self.provider, retryable=retryable, may_have_sent=may_have_sent
        )


_ERRORS: Final = (ProviderError, ConfigurationError)


def _forget_frames(exc: BaseException, outer: BaseException | None) -> None:
    """Drop the tracebacks of the exceptions chained to ``exc`` during the exchange (those
    chained from before it, ending at ``outer``, the exception the caller was handling, are
    the caller's and stay)."""
    stack: list[BaseException | None] = [exc.__cause__, exc.__context__]
    seen: set[int] = {id(exc)}
    while stack:
        item = stack.pop()
        if item is None or item is outer or id(item) in seen:
            continue
        seen.add(id(item))
        item.__traceback__ = None
        stack += [item.__cause__, item.__context__]


def _status_of(reply: requests.Response | None) -> int | None:
    return None if reply is None else reply.status_code


class _Resolved:
    """What ``requests.Session.request`` works out on every request, worked out once.

    For each request, ``Session.request`` reads the environment again: the proxy variables
    (``HTTP(S)_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), ``REQUESTS_CA_BUNDLE`` and
    ``CURL_CA_BUNDLE``, and the ``.netrc`` file (found through ``NETRC`` or the home
    directory, and parsed again each time). It also merges the session's settings and cookies
    into a new request object. On smsgate's own session, whose settings nobody else changes
    and whose requests all go to one base URL (one host), the answers cannot differ from one
    request to the next except through changes to the environment, so they are resolved here,
    when the provider is created, with requests' own functions (the same precedence, the same
    ``NO_PROXY`` matching), and every request is prepared and handed to the session's adapter
    directly. A change to those variables or to ``.netrc`` takes effect for providers created
    after it.

    What is left out is what smsgate's own session never uses: cookies (none are stored or
    sent: the providers authenticate every request with its credentials), response hooks and
    redirects (never followed).
    """

    __slots__ = ("_auth", "_headers", "_proxies", "_session", "_urls", "_verify")

    def __init__(self, session: requests.Session, base_url: str) -> None:
        import requests.utils

        self._session = session
        # Settings merged as Session.merge_environment_settings does: the environment first
        # (trust_env), then the session's own values.
        # (As there, the environment's proxies win over the session's, and a CA bundle named
        # in the environment over the session's ``verify``.)
        proxies: dict[str, str] = dict(session.proxies)
        verify: str | None = None
        if session.trust_env:
            proxies.update(requests.utils.get_environ_proxies(base_url, no_proxy=None))
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._proxies = proxies
        self._verify: bool | str = verify or (True if session.verify is None else session.verify)
        # Session.prepare_request: the netrc entry for the host, when the session has no auth.
        self._auth = (
            requests.utils.get_netrc_auth(base_url)
            if session.trust_env and not session.auth else session.auth
        )
        self._headers = dict(session.headers)
        self._urls: dict[str, str] = {}

    def send(
        self,
        method: str,
        url: str,
        params: dict[str, str],
        json_body: Any,
        form: dict[str, str] | None,
        headers: dict[str, str],
        timeout: float | tuple[float, float],
    ) -> requests.Response:
        """Prepare the request as ``Session.prepare_request`` would and send it."""
        prepared = requests.PreparedRequest()
        prepared.method = method
        if params:
            prepared.prepare_url(url, params)
        else:
            cached = self._urls.get(url)
            if cached is None:
                prepared.prepare_url(url, None)
                if len(self._urls) < 64:  # one per endpoint path
                    self._urls[url] = str(prepared.url)
            else:
                prepared.url = cached
        prepared.prepare_headers({**self._headers, **headers})
        prepared.prepare_body(form or {}, None, json_body)
        if self._auth is not None:
            prepared.prepare_auth(self._auth)
        adapter = self._session.get_adapter(url=str(prepared.url))
        return adapter.send(
            prepared, stream=True, timeout=timeout, verify=self._verify,
            cert=self._session.cert, proxies=self._proxies,
        )


def _new_session() -> requests.Session:
    session = requests.Session()
    # No urllib3 retries at all: a retried POST is a duplicate SMS. Retrying is the Gateway's job.
    # Up to 64 idle connections per host kept for reuse: send_many at concurrency 64 then
    # opens no new connection per message.
    adapter = _Adapter(max_retries=0, pool_maxsize=64)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Proxies and CA bundles from the environment still apply (trust_env stays True).
    return session


def _apply_auth(
    request: HttpRequest,
) -> tuple[dict[str, str], Any, dict[str, str] | None, dict[str, str]] | str:
    """The request's fields with credentials placed, or why a credential cannot be sent."""
    params = dict(request.params)
    json_body = request.json
    form = dict(request.form) if request.form is not None else None
    headers = dict(request.headers)
    for auth in request.auth:
        value = auth.prefix + auth.value.reveal()
        if auth.location == "header":
            # Checked here too because a token_factory mints a new value per request.
            problem = header_problem(value)
            if problem is not None:
                return f"the credential for the {auth.name} header cannot be sent: {problem}"
            headers[auth.name] = value
        elif auth.location == "query" or (auth.location == "param" and request.method == "GET"):
            params[auth.name] = value
        elif form is not None:
            form[auth.name] = value
        elif isinstance(json_body, dict):
            json_body = {auth.name: value, **json_body}
        elif json_body is None and request.method == "POST":
            json_body = {auth.name: value}
        else:
            params[auth.name] = value
    return params, json_body, form, headers


_NO_BODY_STATUSES: Final = frozenset({204, 304})


def _poolable(reply: requests.Response, result: HttpResponse | None) -> bool:
    """Whether the connection may serve another request after this reply.

    A reply's end is known only from its framing. When a server writes more than it framed
    (a body after ``204``/``304``, which HTTP says has none; a ``Content-Length`` that counts
    characters rather than bytes), the rest stays on the connection and would be read as the
    next request's reply. So a connection is kept only when nothing suggests that: the
    status may carry a body (not 204 or 304), no byte is waiting unread, the body does not
    end inside a UTF-8 character and, when it says it is JSON, it parses. What remains: a
    short length whose prefix is itself complete and whose tail arrives later still; urllib3
    drops a connection that has bytes waiting before it reuses it, which catches such a tail
    unless it arrives between that check and the next reply.
    """
    if result is None or reply.status_code in _NO_BODY_STATUSES:
        return False
    sock = _socket_of(reply)
    if sock is not None:
        try:
            if urllib3.util.wait_for_read(sock, timeout=0):
                return False
        except (OSError, ValueError):
            return False
    return _poolable_content(reply.status_code, reply.headers.get("Content-Type", ""),
                             result.content)


def _poolable_content(status: int, content_type: str, content: bytes) -> bool:
    """The rules of :func:`_poolable` that need only the reply (the async transport's too):
    a status that may carry a body, a body that does not end inside a UTF-8 character and,
    when it says it is JSON, parses."""
    if status in _NO_BODY_STATUSES or _ends_mid_character(content):
        return False
    if "json" in content_type.lower():
        try:
            # Remembered for the provider's reader, which then does not parse it again.
            _replyjson.parse(content)
        except (ValueError, RecursionError):
            return False
    return True


def _hold_connection(reply: requests.Response) -> Any:
    """Keep urllib3 from pooling the reply's connection by itself once the body is read (it
    does so as soon as the framing says the body ended); :func:`_settle` decides. Returns
    the pool to give the connection back to, or ``None``."""
    raw = reply.raw
    pool = getattr(raw, "_pool", None)
    if pool is not None and getattr(raw, "_connection", None) is not None:
        raw._pool = None
        return pool
    return None


def _settle(reply: requests.Response, pool: Any, *, keep: bool) -> None:
    """Give the reply's connection back for reuse (``keep``) or close it."""
    raw = reply.raw
    if keep:
        if pool is not None:
            raw._pool = pool
        # (An adapter on a caller's session may hand back a reply without urllib3 behind it.)
        release = getattr(raw, "release_conn", None)
        if release is not None:
            release()
        return
    with contextlib.suppress(Exception):
        raw.close()  # closes the held connection too
    with contextlib.suppress(Exception):
        reply.close()
    if pool is not None:
        with contextlib.suppress(Exception):
            pool._put_conn(None)  # the pool's slot, not the connection: it opens a new one


def _ends_mid_character(content: bytes) -> bool:
    """Whether ``content`` ends with the first bytes of a longer UTF-8 character."""
    for back in range(1, min(4, len(content)) + 1):
        byte = content[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: a lead byte or ASCII
            needs = 4 if byte >= 0xF0 else 3 if byte >= 0xE0 else 2 if byte >= 0xC0 else 1
            return needs > back
    return False


def _socket_of(reply: requests.Response) -> socket.socket | None:
    connection = getattr(reply.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _read_body(reply: requests.Response, limit: int) -> bytes:
    """The reply body, decoded, read piece by piece; :class:`_TooLarge` past ``limit`` bytes,
    counted both as read from the wire and after decoding.

    urllib3 is asked for the raw bytes and smsgate inflates them itself with a cap on every
    step's output, so a small compressed body that would inflate to gigabytes costs at most
    ``limit`` bytes of memory, whatever the urllib3 version.
    """
    coding = reply.headers.get("Content-Encoding", "").strip().lower()
    declared = reply.headers.get("Content-Length", "").strip()
    if coding in ("", "identity") and declared.isdigit() and int(declared) > limit:
        raise _TooLarge  # no need to read what is already known to be too much
    if not hasattr(reply.raw, "stream"):
        # A transport adapter mounted on a caller's session that hands back a body already
        # read (no urllib3 stream to bound while reading): the limit still applies to it.
        content = reply.content
        if len(content) > limit:
            raise _TooLarge
        return content
    if (
        coding in ("", "identity")
        and declared.isdigit()
        and "Transfer-Encoding" not in reply.headers  # chunked: the length is not the bound
        and isinstance(reply.raw, urllib3.HTTPResponse)
    ):
        # The declared length is within the limit and http.client reads exactly that many
        # bytes (a shorter body is an IncompleteRead, as in the loop below): one read does.
        return bytes(reply.raw.read(decode_content=False))
    inflater = _Inflater.for_coding(coding)
    body = bytearray()
    wire = 0
    for piece in reply.raw.stream(_CHUNK, decode_content=False):
        # The bytes as they came count too: a body of empty gzip members decodes to nothing
        # but costs CPU for every byte, and the bound must not rest on urllib3's own limits.
        wire += len(piece)
        if wire > limit:
            raise _TooLarge
        if inflater is None:
            body += piece
            if len(body) > limit:
                raise _TooLarge
        else:
            inflater.feed(piece, body, limit)
    if inflater is not None:
        inflater.finish(body, limit)
    return bytes(body)


class _Inflater:
    """gzip or deflate decoding whose output never passes the limit by more than one step."""

    def __init__(self, wbits: int, *, gzip: bool) -> None:
        self._wbits = wbits
        self._gzip = gzip
        self._started = False
        self._members = 1
        self._pending = b""  # deflate: the first bytes, kept until the format is known
        self._z = zlib.decompressobj(wbits)

    @classmethod
    def for_coding(cls, coding: str) -> _Inflater | None:
        if coding in ("", "identity"):
            return None
        if coding in ("gzip", "x-gzip"):
            return cls(16 + zlib.MAX_WBITS, gzip=True)
        if coding == "deflate":
            return cls(zlib.MAX_WBITS, gzip=False)
        # Not asked for (smsgate sends "Accept-Encoding: gzip, deflate"): unreadable.
        raise zlib.error(f"unsupported Content-Encoding {coding!r}")

    def feed(self, data: bytes, body: bytearray, limit: int) -> None:
        if not self._gzip and not self._started:
            # "deflate" is zlib-wrapped by the RFC, raw in some servers: tell them apart by
            # the two-byte zlib header, as urllib3 does by trial.
            data = self._pending + data
            if len(data) < 2:
                self._pending = data
                return
            self._pending = b""
            if data[0] & 0x0F != 8 or (data[0] * 256 + data[1]) % 31:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        self._started = True
        while data:
            body += self._z.decompress(data, limit + 1 - len(body))
            if len(body) > limit:
                raise _TooLarge
            data = self._z.unconsumed_tail
            if not data and self._z.eof and self._z.unused_data and self._gzip:
                # Another gzip member follows (concatenated members are one body).
                self._members += 1
                if self._members > _MAX_GZIP_MEMBERS:
                    raise zlib.error("too many gzip members")
                data = self._z.unused_data
                self._z = zlib.decompressobj(self._wbits)

    def finish(self, body: bytearray, limit: int) -> None:
        if self._pending:
            raise zlib.error("truncated deflate body")
        body += self._z.flush()
        if len(body) > limit:
            raise _TooLarge
        if self._started and not self._z.eof:
            raise zlib.error("truncated compressed body")


def _walk(exc: BaseException) -> list[BaseException]:
    """Every exception reachable from ``exc`` through args, ``reason`` and causes."""
    seen: list[BaseException] = []
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        stack.extend(item.args)
        stack.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
    return seen


def _never_connected(exc: BaseException) -> bool:
    """Whether the failure happened while opening the connection (so nothing was sent)."""
    return any(isinstance(e, (NewConnectionError, ConnectTimeoutError)) for e in _walk(exc))


def _reason(exc: BaseException) -> str:
    """A short, URL-free description of the root cause."""
    chain = _walk(exc)
    for item in reversed(chain):
        if isinstance(item, OSError) and item.strerror:
            return f"{type(item).__name__}: {item.strerror}"
    innermost = chain[-1]
    return type(innermost).__name__
