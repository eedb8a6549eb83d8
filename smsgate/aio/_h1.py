"""The direct path of the aiohttp transport: HTTP/1.1 over an asyncio protocol, replies
parsed by httptools (llhttp, the parser of Node.js).

A send is one small request and one small reply. aiohttp's client spends most of its time
on what such an exchange does not need (its request and response objects, a stream reader
and a data queue per reply, a new parser per reply, two timers per read); smsgate already
builds the request itself and reads the reply itself. So, when no proxy applies, a
connection here is an :class:`asyncio.Protocol` that writes the request's head and body in
one piece and feeds what arrives to one llhttp parser, kept for the connection's life; one
timer bounds the exchange. Through a proxy (or without httptools), aiohttp's session does
the exchange (``smsgate.aio._aiohttp``).

What it keeps of aiohttp's client: a limit of connections (a request waits for a free one
within the connect timeout), pooled keep-alive connections dropped after
:data:`KEEPALIVE` seconds idle, the system's certificate store and hostname check for
HTTPS, no redirect, no retry, no cookie. What it adds: a pooled connection is asked of the
kernel before reuse (readable while idle: the provider closed it, or sent what no request
asked for), as urllib3 does, and a reply is counted against the size cap while it is
parsed.

Errors are raised as plain exception types of this module (:class:`Broken`,
:class:`ReadTimeout`, :class:`TimeUp`, :class:`Malformed`, :class:`Interim`), or
``smsgate._http._TooLarge`` (over the size cap); the transport classifies them with the
phase the exchange reached (the ``connected`` flag :meth:`Pool.take` sets).
"""

from __future__ import annotations

import asyncio
import os
import select
import ssl
import sys
import threading
from typing import Any, Final

import httptools

from .._http import _Inflater, _TooLarge

if sys.version_info >= (3, 11):
    from asyncio import timeout as _time_limit
else:  # pragma: no cover - aiohttp depends on async-timeout before Python 3.11
    from async_timeout import timeout as _time_limit  # type: ignore[import-not-found,unused-ignore]

__all__ = ["KEEPALIVE", "Broken", "Interim", "Malformed", "Pool", "ReadTimeout",
           "Reply", "TimeUp"]

#: The most bytes read before a reply's head is complete (status line and headers; what
#: http.client allows a line, 64 KiB): past it the reply is unreadable.
MAX_HEAD_BYTES: Final = 64 * 1024

#: Seconds a pooled connection may stay idle before it is closed instead of reused (what
#: aiohttp keeps: a server's own idle timeout is rarely shorter).
KEEPALIVE: Final = 15.0

_NEVER: Final = float("inf")


class Broken(Exception):
    """The connection closed (or was reset) before the reply was complete."""

    def __init__(self, *, mid_body: bool) -> None:
        super().__init__("cut" if mid_body else "closed")
        self.mid_body = mid_body


class ReadTimeout(Exception):
    """Nothing arrived within the read timeout."""


class TimeUp(Exception):
    """The exchange's bound passed before the reply was complete."""


class Malformed(Exception):
    """The reply is not HTTP/1.1 that llhttp accepts."""


class Interim(Exception):
    """An interim 1xx reply came first: it cannot be matched to this request."""

    def __init__(self, status: int) -> None:
        super().__init__(f"an interim HTTP {status} reply came before the final one, "
                         "which could not be matched to this request")


class Reply:
    """A complete reply: status, headers as received, the decoded body, and whether the
    connection may carry another request."""

    __slots__ = ("body", "content_type", "headers", "reusable", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes,
                 content_type: str, reusable: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.content_type = content_type
        self.reusable = reusable


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection and its parser; at most one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._fd = -1
        self.broken = False
        self.idle_since = 0.0
        # The exchange under way (None while idle).
        self._waiter: asyncio.Future[None] | None = None
        self._limit = 0
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._body = bytearray()
        self._wire = 0
        self._head = 0
        self._inflater: _Inflater | None = None
        self._framed = False  # Content-Length or chunked: not delimited by the close
        self._content_type = ""
        self._headers_done = False
        self._complete = False
        self._keep_alive = False
        self._error: BaseException | None = None
        # The timer: the exchange ends by _ends; nothing may be quiet for _read seconds.
        self._timer: asyncio.TimerHandle | None = None
        self._ends = 0.0
        self._read: float | None = None
        self._last = 0.0

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # The socket's descriptor, asked of the kernel before each reuse (see idle): it is
        # the transport's as long as the transport is open, which idle checks first.
        sock = transport.get_extra_info("socket")
        self._fd = -1 if sock is None else sock.fileno()

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Bytes no request asked for (a stray reply, a late part of the last one):
            # the connection can answer nothing reliably any more.
            self.broken = True
            self._drop()
            return
        if self._read is not None:
            self._last = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            pass  # the callback stored its error (below)
        except httptools.HttpParserUpgrade:
            self._error = self._error or Malformed("an upgrade no request asked for")
        except httptools.HttpParserError as exc:
            self._error = self._error or Malformed(str(exc))
        if not self._headers_done and self._error is None:
            self._head += len(data)
            if self._head > MAX_HEAD_BYTES:  # httptools would buffer an endless head
                self._error = Malformed("a reply head over 64 KiB")
        if self._error is not None:
            self._fail(self._error)

    def eof_received(self) -> bool | None:
        self._closed_by_peer(None)
        return None  # the transport closes itself

    def connection_lost(self, exc: BaseException | None) -> None:
        self.broken = True
        self.transport = None
        self._closed_by_peer(exc)

    # -- httptools callbacks --------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("utf-8", "surrogateescape"),
                              value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._status = status
        self._headers_done = True
        coding = declared = chunked = ""
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == "content-length":
                declared = value.strip()
            elif lowered == "content-encoding":
                coding = value.strip().lower()
            elif lowered == "transfer-encoding":
                chunked = value.lower()
            elif lowered == "content-type":
                self._content_type = value.lower()
        self._framed = bool(declared) or "chunked" in chunked
        try:
            if status < 200:
                raise Interim(status)
            if coding in ("", "identity"):
                if declared.isdigit() and int(declared) > self._limit:
                    raise _TooLarge
            else:
                self._inflater = _Inflater.for_coding(coding)
        except Exception as exc:
            self._error = exc
            raise

    def on_body(self, body: bytes) -> None:
        self._wire += len(body)
        try:
            if self._wire > self._limit:
                raise _TooLarge
            if self._inflater is None:
                self._body += body
            else:
                self._inflater.feed(body, self._body, self._limit)
        except Exception as exc:
            self._error = exc
            raise

    def on_message_complete(self) -> None:
        try:
            if self._inflater is not None:
                self._inflater.finish(self._body, self._limit)
        except Exception as exc:
            self._error = exc
            raise
        self._complete = True
        # Asked here: once feed_data returns, llhttp has moved on to the next message.
        self._keep_alive = self._parser.should_keep_alive()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- one exchange ---------------------------------------------------------------------
    async def exchange(self, wire: bytes, *, limit: int, read: float | None,
                       ends: float | None) -> Reply:
        """Write ``wire`` and read the reply to its end; raise what went wrong."""
        loop = self._loop
        self._limit = limit
        self._headers = []
        self._body = bytearray()
        self._wire = 0
        self._head = 0
        self._inflater = None
        self._content_type = ""
        self._headers_done = self._complete = self._framed = self._keep_alive = False
        self._error = None
        waiter = self._waiter = loop.create_future()
        now = loop.time()
        self._ends = _NEVER if ends is None else ends
        self._read = read
        self._last = now
        self._arm(now)
        try:
            if self.transport is None:  # pragma: no cover - checked when it was taken
                raise Broken(mid_body=False)
            self.transport.write(wire)
            await waiter
        finally:
            # The timer stays armed (see _arm): it finds the connection idle, or on a
            # later exchange, when it fires.
            self._waiter = None
        return Reply(self._status, self._headers, bytes(self._body), self._content_type,
                     reusable=self._keep_alive and not self.broken)

    def _arm(self, now: float) -> None:
        """Have the timer fire by the exchange's next instant (its bound, or the end of a
        silence of ``read`` seconds). One timer serves the connection's exchanges in turn:
        one already set to fire no later is kept (it wakes, finds the exchange's instant
        not come yet, and sets itself again), so most exchanges set none."""
        when = self._ends if self._read is None else min(self._ends, self._last + self._read)
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
            self._timer = None
        if when != _NEVER:
            self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # set for an exchange that is over: the connection is idle
        now = self._loop.time()
        if now >= self._ends:
            self._fail(TimeUp())
        elif self._read is not None and now >= self._last + self._read:
            self._fail(ReadTimeout())
        else:
            self._arm(now)  # data came meanwhile: wait on from the last of it

    def _closed_by_peer(self, exc: BaseException | None) -> None:
        self.broken = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._framed and self._error is None and exc is None:
            # A body delimited by the close (neither Content-Length nor chunked; RFC 9112
            # section 6.3): the close completes it.
            try:
                self.on_message_complete()
            except Exception:
                self._fail(self._error or Malformed("truncated body"))
            return
        self._fail(Broken(mid_body=self._headers_done))

    def _fail(self, error: BaseException) -> None:
        self.broken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self._drop()

    def _drop(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    def close(self) -> None:
        """Close the connection (an unfinished reply must never answer a later request)."""
        self.broken = True
        self._drop()

    def idle(self, now: float) -> bool:
        """Whether this pooled connection can carry a request: open, idle for less than
        :data:`KEEPALIVE`, and nothing to read on its socket (no FIN, no stray bytes), asked
        of the kernel without waiting, as urllib3 does."""
        transport = self.transport
        if self.broken or transport is None or transport.is_closing() \
                or now - self.idle_since > KEEPALIVE:
            return False
        if self._fd < 0:  # pragma: no cover - every asyncio socket transport has one
            return True
        try:
            readable, _, _ = select.select([self._fd], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


def _tls_context() -> ssl.SSLContext:
    """The system's certificate store with hostname checks (what aiohttp's client uses),
    built once per store: loading it costs tens of milliseconds. ``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` (OpenSSL's own variables) choose the store, read when it is built."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _TLS_LOCK:
        context = _TLS_CONTEXTS.get(key)
        if context is None:
            context = _TLS_CONTEXTS[key] = ssl.create_default_context()
        return context


_TLS_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_TLS_LOCK: Final = threading.Lock()


class Pool:
    """The connections to one origin, for one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, scheme: str, host: str,
                 port: int, limit: int) -> None:
        self._loop = loop
        self._host = host
        self._port = port
        self._tls = _tls_context() if scheme == "https" else None
        self._slots = asyncio.Semaphore(limit)
        self._limit = limit
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._closed = False

    async def take(self, connect: float | None, phase: Any) -> _Connection:
        """A connection for one exchange: a pooled one that passes :meth:`_Connection.idle`,
        else a new one; waiting for a free slot and opening count against ``connect``.
        ``phase.connected`` is set once the connection is the request's (from then on a
        failure may follow part of the request)."""
        slots = self._slots
        if slots.locked():
            async with _time_limit(connect):
                await slots.acquire()
        else:
            await slots.acquire()  # free: returns at once
        try:
            now = self._loop.time()
            while self._idle:
                pooled = self._idle.pop()
                if pooled.idle(now):
                    phase.connected = True
                    return pooled
                pooled.close()
                self._open.discard(pooled)
            async with _time_limit(connect):
                _, made = await self._loop.create_connection(
                    self._new, self._host, self._port, ssl=self._tls)
            connection: _Connection = made
            self._open.add(connection)
            if self._closed or connection.broken or connection.transport is None:
                # Closed (or spoken to) before a byte of the request was written: the
                # request cannot have reached the provider.
                connection.close()
                self._open.discard(connection)
                raise ConnectionResetError("the connection closed before the request")
            phase.connected = True
            return connection
        except BaseException:
            slots.release()
            raise

    def widen(self, limit: int) -> None:
        """Allow ``limit`` connections at once (never fewer than now)."""
        for _ in range(limit - self._limit):
            self._slots.release()
        self._limit = max(self._limit, limit)

    def _new(self) -> _Connection:
        return _Connection(self._loop)

    def give_back(self, connection: _Connection, *, keep: bool) -> None:
        """End an exchange: the connection back to the pool when ``keep`` (its reply was
        read to the end and it says keep-alive), else closed."""
        if keep and not connection.broken and not self._closed:
            connection.idle_since = self._loop.time()
            self._idle.append(connection)
        else:
            connection.close()
            self._open.discard(connection)
        self._slots.release()

    def close(self) -> None:
        """Close every connection (an exchange under way fails as cut off)."""
        self._closed = True
        self._idle.clear()
        for connection in list(self._open):
            connection.close()
        self._open.clear()

