"""The default async transport: performs :class:`~smsgate.providers.HttpRequest` on
smsgate's own HTTP/1.1 connections (``smsgate.aio._h1``), or through aiohttp's session
when a proxy applies.

It keeps every guarantee of the ``requests`` transport (``smsgate._http``), and shares its
pure parts rather than copying them: credentials are placed by the same function
(``_apply_auth``), reply bodies are decoded by the same bounded inflater and capped at the
same :data:`~smsgate._http.MAX_REPLY_BYTES`, timeouts shrink under a deadline by the same
rules. The classification answers the same question, "may this have been sent?":

==============================================  ======================  =============
what happened                                   error                   may_have_sent
==============================================  ======================  =============
connection refused, DNS failure                 ConnectError            False
connect timeout (TCP, TLS, a pool slot)         ConnectError            False
TLS handshake failure                           ConnectError (final)    False
the exchange's time ran out before a
connection was open                             ConnectError            False
read timeout                                    DeliveryUnknown         True
server disconnected after the request was
written (or while it was being written)         DeliveryUnknown         True
reply cut off while reading the body            DeliveryUnknown         True
no complete reply within the exchange's bound   DeliveryUnknown         True
an interim 1xx reply came first                 DeliveryUnknown         True
a reply that is not HTTP/1.1                    DeliveryUnknown         True
reply larger than ``MAX_REPLY_BYTES``           InvalidResponse         True
==============================================  ======================  =============

("True" is for a request that may send a message; a lookup's failures are always ``False``.)

Which phase a failure came in is not guessed from the exception's type alone: the direct
path knows when it took a connection for the request (a new one, or a pooled one that
passed its check), and on the session path aiohttp's tracing hooks say when the
connection was open. Before that nothing can have been written; from then on a failure may
follow (part of) the request.

Why two paths: a send is one small request and one small reply, and aiohttp's client
spends most of its time on what such an exchange does not need (see ``_h1``); the direct
path costs about half of aiohttp's whole call. A proxy (``HTTP(S)_PROXY`` for the
provider's URL) needs aiohttp's proxy support, and without httptools every exchange goes
through aiohttp.

Nothing retries a request; the transport follows no redirect (a 3xx is returned as the
reply, which the provider base reads as an error), mounts no retry middleware and decodes
bodies itself (aiohttp's ``auto_decompress`` is off), so that a compressed "bomb" never
inflates past the cap. Credentials are revealed only inside
:meth:`AiohttpTransport._round_trip`; errors are raised outside the ``except`` block that
caught the exchange's exception (no chained cause carries a URL with a key in its query
string) and an exception that passes through (a cancellation) loses the frames below the
transport's before it goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import sys
import time
import zlib
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from .._http import (
    _ACCEPT_ENCODING,
    _CHUNK,
    MAX_REPLY_BYTES,
    _apply_auth,
    _bounded,
    _forget_frames,
    _Inflater,
    _poolable_content,
    _TooLarge,
    exchange_bound,
)
from .._secrets import get_logger, scrub
from .._version import __version__
from .._wire import (
    HttpRequest,
    HttpResponse,
    Timeout,
    _deadline,
    _response,
    _scrubbed_reply,
)
from ..errors import (
    ConfigurationError,
    ConnectError,
    DeliveryUnknown,
    InvalidResponse,
    ProviderError,
)

if TYPE_CHECKING:
    import aiohttp



def _direct_path() -> Any:
    """``smsgate.aio._h1``, or ``None`` without httptools (the ``aio`` extra installs it):
    then aiohttp's session makes every exchange."""
    try:
        from . import _h1
    except ImportError:  # pragma: no cover - the aio extra installs httptools
        return None
    return _h1


_h1: Any = _direct_path()

__all__ = ["AiohttpTransport"]

_log = get_logger("smsgate.http")

#: Connections kept per transport (per provider): the most requests in flight at once to
#: one provider; more wait for a free connection (within the connect timeout).
DEFAULT_MAX_CONNECTIONS: Final = 100


class _Phase(SimpleNamespace):
    """How far one exchange got, set by aiohttp's tracing hooks."""

    connected: bool = False


async def _opened(session: Any, context: Any, params: Any) -> None:
    phase = context.trace_request_ctx
    if isinstance(phase, _Phase):
        phase.connected = True


def _tracing() -> aiohttp.TraceConfig:
    import aiohttp

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(_opened)
    trace.on_connection_reuseconn.append(_opened)
    return trace


class AiohttpTransport:
    """smsgate's default :class:`~smsgate.aio.AsyncTransport`, for one provider: its own
    HTTP/1.1 connections, or aiohttp's session through a proxy (the module docstring says
    why; the name stays, as the class ``AsyncGateway`` has always built).

    Args:
        provider: registry name, carried by every error.
        base_url: the provider's base URL.
        timeout: seconds, or ``(connect, read)``, as the provider's (``provider.timeout``).
            The whole exchange is also bounded by their sum, and by the deadline.
        max_reply_bytes: the largest decoded reply body read.
        max_connections: requests in flight at once (connections kept open).

    The connections (or the aiohttp session) are opened on the first request, on the
    running event loop, and serve that loop only; :meth:`aclose` closes them. The proxy
    the environment names for
    ``base_url`` applies, as it does for the ``requests`` transport (read once, when the
    transport is made); a ``.netrc`` file is not read (the providers authenticate every
    request with their own credentials).
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        timeout: Timeout,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) \
                or max_connections < 1:
            raise ConfigurationError("max_connections must be a whole number >= 1")
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes
        self.max_connections = max_connections
        self._client: aiohttp.ClientSession | None = None  # through a proxy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._user_agent = ""
        self._proxy: str | None = _environment_proxy(self.base_url)
        # The direct path (no proxy; see _direct): smsgate's own connections, the Host
        # header and the prefix of every request's URL.
        self._pool: Any = None  # an _h1.Pool
        self._host = ""
        self._origin = ""
        # The head's lines after the request line (Host and the headers), encoded and
        # checked once per set of headers (see _wire); never one with a credential.
        self._heads: dict[tuple[tuple[str, str], ...], bytes] = {}
        # The timeouts and bound without a deadline, for the timeout they were worked
        # out from (see _limits).
        self._fixed: tuple[Timeout, tuple[float, float, float]] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, base_url={self.base_url!r})"

    @property
    def _session(self) -> Any:
        """What carries the exchanges once the transport is open: smsgate's connections
        (no proxy) or aiohttp's session (a proxy); ``None`` before the first request and
        after :meth:`aclose`."""
        return self._pool if self._pool is not None else self._client

    def widen(self, connections: int) -> bool:
        """Make room for ``connections`` at once; ``False`` when it cannot (aiohttp's
        session, through a proxy, keeps the limit it was opened with)."""
        if connections <= self.max_connections:
            return True
        if self._client is not None:
            return False
        self.max_connections = connections
        if self._pool is not None:
            self._pool.widen(connections)
        return True

    async def aclose(self) -> None:
        """Close the connections. Safe to call twice."""
        session, self._client = self._client, None
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        if session is not None:
            await session.close()

    def _open(self) -> None:
        """Bind the transport to the running loop (the first time: make its connections'
        home there), or refuse another loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not None:
            if self._loop is not loop:
                raise ConfigurationError(
                    f"{self.provider}: this async transport serves the event loop it first "
                    "ran on; make one AsyncGateway per event loop"
                )
            return
        self._loop = loop
        if self._proxy is None and _h1 is not None:
            # aiohttp is not imported for this path (its import builds TLS contexts: tens
            # of milliseconds a program need not pay).
            from yarl import URL

            self._user_agent = f"smsgate/{__version__} httptools/{_h1.httptools.__version__}"

            base = URL(self.base_url)
            self._host = str(getattr(base, "host_port_subcomponent", None) or (
                base.raw_host if base.is_default_port() else f"{base.raw_host}:{base.port}"))
            scheme, _, rest = self.base_url.partition("://")
            self._origin = f"{scheme}://{rest.split('/', 1)[0]}"
            self._pool = _h1.Pool(loop, scheme=base.scheme, host=base.raw_host or "",
                                  port=base.port or 0, limit=self.max_connections)
            return
        import aiohttp

        self._user_agent = f"smsgate/{__version__} aiohttp/{aiohttp.__version__}"
        self._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_connections),
            # smsgate decodes bodies itself, under the size cap.
            auto_decompress=False,
            # No cookies are kept or sent: every request carries its credentials.
            cookie_jar=aiohttp.DummyCookieJar(),
            trace_configs=[_tracing()],
            # The environment's proxy is resolved once, in __init__ (trust_env would read the
            # environment and the .netrc file in a worker thread on every request).
            trust_env=False,
        )

    async def perform(
        self, request: HttpRequest, *, deadline: float | None = None
    ) -> HttpResponse:
        """Make the request; return the reply whatever its status, or raise a transport error.

        Raises:
            ConnectError: the request cannot have reached the provider.
            DeliveryUnknown: it may have; no reply could be read in time.
            InvalidResponse: the reply was larger than the limit.
            ConfigurationError: a credential cannot be sent; nothing was sent.
        """
        self._open()
        if self._pool is None:
            # Through a proxy, aiohttp's session makes the exchange and picks the pooled
            # connection itself. One the provider has closed meanwhile (its FIN already
            # arrived, but the loop has not run since: a burst of work, a blocking call)
            # would be reused and fail as "disconnected after sending", an unknown outcome,
            # for a request that never left. Two turns of the loop let it read the FIN first
            # (the first turn polls the sockets and queues their callbacks after this task;
            # the second runs this task after them), so the connection is dropped and a new
            # one opened. (The direct path checks the socket itself: see _connection.)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        url = self.base_url + request.path
        started = time.monotonic()
        debug = _log.isEnabledFor(logging.DEBUG)  # asked once: the lines below are per send
        if debug:
            _log.debug("%s %s (%s) ->", request.method, url, request.operation)
        outer = sys.exc_info()[1]
        try:
            outcome = await self._round_trip(request, url, deadline, started)
        except BaseException as exc:
            # A cancellation (or a bug) goes on as itself, without the frames below this
            # one: those of the exchange hold the revealed credentials.
            _forget_frames(exc, outer)
            raise exc.with_traceback(None)  # noqa: B904 (the same exception, not a new one)
        if isinstance(outcome, (ProviderError, ConfigurationError)):
            if debug:
                _log.debug("%s %s failed after %.0f ms: %s", request.method, url,
                           (time.monotonic() - started) * 1000, type(outcome).__name__)
            raise outcome
        if debug:
            _log.debug("%s %s -> %s in %.0f ms", request.method, url, outcome.status,
                       outcome.elapsed * 1000)
        return outcome

    async def _round_trip(
        self, request: HttpRequest, url: str, deadline: float | None, started: float,
    ) -> HttpResponse | ProviderError | ConfigurationError:
        """The exchange itself; returns its error instead of raising it (see the module
        docstring: credentials are revealed in this frame only)."""
        import aiohttp

        built = _apply_auth(request)
        if isinstance(built, str):
            return ConfigurationError(f"{self.provider}: {built}; nothing was sent")
        params, json_body, form, headers = built
        headers.setdefault("User-Agent", self._user_agent)
        headers.setdefault("Accept", "application/json, text/plain;q=0.9, */*;q=0.1")
        headers["Accept-Encoding"] = _ACCEPT_ENCODING
        try:
            target, body = _encode(url, params, json_body, form, headers)
            wire = None if self._pool is None else self._wire(
                request.method, target, body, headers,
                keep=not any(auth.location == "header" for auth in request.auth))
        except (ValueError, TypeError, UnicodeError):
            return ConnectError(
                f"request could not be encoded: {request.method} {scrub(url)}",
                provider=self.provider, retryable=False, may_have_sent=False,
            )
        connect, read, bound = self._limits(deadline)
        phase = _Phase()
        what: str | None = None
        final: type[ProviderError] | None = None
        retryable: bool | None = None
        try:
            if wire is not None:
                return await self._direct(wire, connect, read, bound, started, phase)
            return await self._via_session(request.method, target, body, headers,
                                           connect, read, bound, started, phase)
        except _interims() as interim:
            what = str(interim)
        except _TooLarge:
            return InvalidResponse(
                f"reply larger than {self.max_reply_bytes} bytes: {request.method} "
                f"{scrub(url)}", provider=self.provider, may_have_sent=request.sends_message,
                retryable=False,
            )
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientConnectorSSLError):
            # A certificate or protocol mismatch will not fix itself on a retry.
            final, what, retryable = ConnectError, "TLS handshake failed", False
        except aiohttp.ClientConnectorError as exc:
            final, what = ConnectError, f"could not connect ({_reason(exc)})"
        except aiohttp.ClientProxyConnectionError:
            final, what = ConnectError, "proxy refused the connection"
        except aiohttp.InvalidURL:
            final, what, retryable = ConnectError, "invalid request URL", False
        except _read_timeout(aiohttp):
            what = "no reply within the read timeout"
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            what = (f"no complete reply within {bound:.3g} s" if phase.connected
                    else f"could not connect within {bound:.3g} s")
        except aiohttp.ServerDisconnectedError:
            what = "connection closed by the provider"
        except aiohttp.ClientPayloadError:
            what = "reply cut off while reading the body"
        except aiohttp.ClientResponseError as exc:
            what = f"reply could not be read (HTTP {exc.status})"
        except _direct_errors() as exc:  # smsgate's own connections (the direct path)
            what = _direct_reason(exc, bound)
        except ssl.SSLError as exc:  # the direct path: a handshake, or TLS mid-exchange
            if phase.connected:
                what = f"connection failed ({_reason(exc)})"
            else:  # a certificate or protocol mismatch will not fix itself on a retry
                final, what, retryable = ConnectError, "TLS handshake failed", False
        except (aiohttp.ClientError, OSError) as exc:
            what = (f"connection failed ({_reason(exc)})" if phase.connected
                    else f"could not connect ({_reason(exc)})")
        except (zlib.error, EOFError) as exc:
            what = f"reply could not be decoded ({type(exc).__name__})"
        if final is None:
            # Before a connection was open nothing can have been written; after, a
            # failure may follow (part of) the request.
            final = DeliveryUnknown if phase.connected else ConnectError
        elif final is ConnectError and phase.connected:  # pragma: no cover - defensive
            final = DeliveryUnknown
        if final is DeliveryUnknown:
            return DeliveryUnknown(
                scrub(f"{what}: {request.method} {url}"), provider=self.provider,
                retryable=request.idempotent or not request.sends_message,
                may_have_sent=request.sends_message,
            )
        return ConnectError(scrub(f"{what}: {request.method} {url}"), provider=self.provider,
                            retryable=retryable, may_have_sent=False)


    def _limits(self, deadline: float | None) -> tuple[float, float, float]:
        """The connect and read timeouts and the exchange's bound, shrunk under a deadline
        (``deadline``, or a :func:`~smsgate.deadline_scope`); without one they depend on
        the timeout alone, and are worked out once per timeout."""
        timeout = self.timeout
        if deadline is None and _deadline.get() is None:
            known = self._fixed
            if known is not None and known[0] == timeout:
                return known[1]
        bounded = _bounded(timeout, deadline)
        connect, read = bounded if isinstance(bounded, tuple) else (bounded, bounded)
        limits = (connect, read, exchange_bound(timeout, deadline))
        if deadline is None and _deadline.get() is None:
            self._fixed = (timeout, limits)
        return limits

    def _wire(self, method: str, target: str, body: bytes | None,
              headers: dict[str, str], *, keep: bool = False) -> bytes:
        """The request's head and body, as one write (the direct path): the request line,
        ``Host``, the headers in their order, ``Content-Length`` (as aiohttp and requests
        send it), then the body. A header that could split the head (CR, LF, NUL) is
        refused with ``ValueError``: nothing is sent.

        The ``Host`` and header lines are the same for every send of a provider (its
        user agent, accept headers and content type): they are checked and encoded once
        and kept (``keep``: no header carries a credential, which is never kept; at most
        :data:`_HEADS_KEPT` sets)."""
        path = target[len(self._origin):] or "/"
        if not target.startswith(self._origin) or not path.startswith("/") \
                or not _plain_target(path):
            from yarl import URL

            path = URL(target).raw_path_qs  # percent-encoded as aiohttp would send it
        key = tuple(headers.items())
        lines = self._heads.get(key)
        if lines is None:
            if not all(map(_TOKEN.fullmatch, headers)) \
                    or _BREAKERS.search("".join(headers.values())):
                raise ValueError("a header cannot be sent as it is")
            lines = "".join([f"Host: {self._host}\r\n",
                             *[f"{name}: {value}\r\n" for name, value in key]]
                            ).encode("utf-8")
            if keep and len(self._heads) < _HEADS_KEPT:
                self._heads[key] = lines
        length = (f"Content-Length: {0 if body is None else len(body)}\r\n\r\n"
                  if body is not None or method in ("POST", "PUT", "PATCH") else "\r\n")
        return b"".join((f"{method} {path} HTTP/1.1\r\n".encode(), lines,
                         length.encode("ascii"), body or b""))

    async def _direct(
        self, wire: bytes, connect: float, read: float, bound: float, started: float,
        phase: Any,
    ) -> HttpResponse:
        """The exchange on smsgate's own HTTP/1.1 connection (no proxy; see
        ``smsgate.aio._h1``): the whole bounded by ``bound`` (waiting for a connection and
        opening it by ``connect`` too), a silence of ``read`` seconds ends it."""
        pool = self._pool
        assert pool is not None  # made by _open with the endpoint
        loop = self._loop
        assert loop is not None
        ends = loop.time() + bound
        connection = await pool.take(min(connect, bound), phase)
        keep = False
        try:
            reply = await connection.exchange(wire, limit=self.max_reply_bytes, read=read,
                                              ends=ends)
            keep = reply.reusable and _poolable_content(reply.status, reply.content_type,
                                                        reply.body)
        finally:
            pool.give_back(connection, keep=keep)
        headers, content = _scrubbed_reply(reply.headers, reply.body)
        return _response(reply.status, headers, content, time.monotonic() - started)

    async def _via_session(
        self, method: str, target: str, body: bytes | None,
        headers: dict[str, str], connect: float | None, read: float | None,
        bound: float | None, started: float, phase: _Phase,
    ) -> HttpResponse:
        """The exchange through aiohttp's session (a proxy): its tracing hooks set
        ``phase.connected``."""
        import aiohttp
        from yarl import URL

        session = self._client
        assert session is not None  # made by _open when the direct path is not taken
        async with session.request(
            method, URL(target, encoded=True) if target.isascii() else URL(target),
            data=body, headers=headers, allow_redirects=False, proxy=self._proxy,
            timeout=aiohttp.ClientTimeout(total=bound, connect=connect,
                                          sock_connect=connect, sock_read=read),
            trace_request_ctx=phase,
        ) as reply:
            if reply.status < 200:
                reply.close()
                raise _Interim(reply.status)
            content = await _read_body(reply, self.max_reply_bytes)
            reply_headers, content = _scrubbed_reply(reply.headers.items(), content)
            result = HttpResponse(status=reply.status, headers=reply_headers, content=content,
                                  elapsed=time.monotonic() - started)
            if not _poolable_content(reply.status, reply.headers.get("Content-Type", ""),
                                     result.content):
                reply.close()  # what is left on it would answer the next request
            return result


def _interims() -> tuple[type[Exception], ...]:
    return (_Interim,) if _h1 is None else (_Interim, _h1.Interim)


def _direct_errors() -> tuple[type[Exception], ...]:
    if _h1 is None:  # pragma: no cover - without httptools there is no direct path
        return ()
    return (_h1.Broken, _h1.ReadTimeout, _h1.TimeUp, _h1.Malformed)


def _direct_reason(exc: BaseException, bound: float) -> str:
    """What an error of the direct path says (the words the session path uses)."""
    assert _h1 is not None
    if isinstance(exc, _h1.ReadTimeout):
        return "no reply within the read timeout"
    if isinstance(exc, _h1.TimeUp):
        return f"no complete reply within {bound:.3g} s"
    if isinstance(exc, _h1.Broken):
        return ("reply cut off while reading the body" if exc.mid_body
                else "connection closed by the provider")
    return f"reply could not be read ({exc or 'not HTTP/1.1'})"


class _Interim(Exception):
    """An interim 1xx reply came first: it cannot be matched to this request."""

    def __init__(self, status: int) -> None:
        super().__init__(f"an interim HTTP {status} reply came before the final one, "
                         "which could not be matched to this request")


def _plain_target(path: str) -> bool:
    """Whether a request target can be written as it is (printable ASCII, no fragment)."""
    return path.isascii() and path.isprintable() and " " not in path and "#" not in path


#: Sets of headers whose encoded lines a transport keeps (see AiohttpTransport._wire): a
#: provider sends one or two.
_HEADS_KEPT: Final = 8

#: A header name (an HTTP token, RFC 9110 section 5.6.2).
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: What would end a header line early, or the head (a value may hold anything else).
_BREAKERS: Final = re.compile(r"[\r\n\0]")


def _environment_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url`` (``HTTPS_PROXY``, ``ALL_PROXY``,
    ``NO_PROXY``...), found by the function the ``requests`` transport uses, so both
    transports go through the same proxy."""
    import requests.utils

    proxies = requests.utils.get_environ_proxies(base_url, no_proxy=None)
    scheme = base_url.split(":", 1)[0].lower()
    return proxies.get(scheme) or proxies.get("all") or None


def _read_timeout(aiohttp: Any) -> tuple[type[BaseException], ...]:
    """aiohttp's read-timeout class (3.10 and later); before 3.10 a read timeout is a plain
    ``ServerTimeoutError``, classified by the connection's phase like any other timeout."""
    found = getattr(aiohttp, "SocketTimeoutError", None)
    return (found,) if isinstance(found, type) else ()


#: ``json.dumps(..., allow_nan=False)`` made once: ``json.dumps`` with any option builds a
#: new encoder per call (the same settings, the same text).
_JSON: Final = json.JSONEncoder(allow_nan=False)


def _encode(
    url: str, params: dict[str, str], json_body: Any, form: dict[str, str] | None,
    headers: dict[str, str],
) -> tuple[str, bytes | None]:
    """The URL and body exactly as the ``requests`` transport writes them: the query
    form-encoded and appended (after any query the path has), a JSON body as
    ``json.dumps(..., allow_nan=False)`` in UTF-8, a form body form-encoded."""
    if params:
        url += ("&" if "?" in url else "?") + urlencode(list(params.items()), doseq=True)
    body: bytes | None = None
    if form:
        body = urlencode(list(form.items()), doseq=True).encode("ascii")
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif json_body is not None:
        body = _JSON.encode(json_body).encode("utf-8")
        headers.setdefault("Content-Type", "application/json")
    # Already encoded: yarl must not encode it again (it would turn %2B back into '+');
    # the session path makes the URL of it (_via_session), the direct path writes it.
    return url, body


async def _read_body(reply: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, decoded by smsgate under ``limit`` (see ``smsgate._http._read_body``):
    counted as read from the wire and after decoding."""
    coding = reply.headers.get("Content-Encoding", "").strip().lower()
    declared = reply.headers.get("Content-Length", "").strip()
    if coding in ("", "identity") and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    return await _read_stream(reply.content, coding, limit)


async def _read_stream(stream: Any, coding: str, limit: int) -> bytes:
    """Read ``stream`` to its end in pieces, counting the bytes from the wire and after
    decoding against ``limit``."""
    inflater = _Inflater.for_coding(coding)
    body = bytearray()
    wire = 0
    while True:
        piece = await stream.read(_CHUNK)
        if not piece:
            break
        wire += len(piece)
        if wire > limit:
            raise _TooLarge
        if inflater is None:
            body += piece
        else:
            inflater.feed(piece, body, limit)
    if inflater is not None:
        inflater.finish(body, limit)
    return bytes(body)


def _reason(exc: BaseException) -> str:
    """A short, URL-free description: the OS error's text, or the exception's type."""
    error = getattr(exc, "os_error", None) or exc
    strerror = getattr(error, "strerror", None)
    return f"{type(error).__name__}: {strerror}" if strerror else type(error).__name__
