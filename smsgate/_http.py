"""The one HTTP layer: performs request descriptions, classifies every transport failure.

Adapters never do I/O. They describe a request (:class:`HttpRequest`) and parse a reply
(:class:`HttpResponse`); :class:`Transport` performs it over a ``requests.Session`` with explicit
timeouts, no urllib3 retries and no redirects, and is the only code in smsgate that catches
``requests`` exceptions.

The classification answers the caller's one question, "may this have been sent?":

========================================  ======================  =============
what happened                             error                   may_have_sent
========================================  ======================  =============
connection refused, DNS failure           ConnectError            False
connect timeout                           ConnectError            False
TLS handshake failure                     ConnectError (final)    False
read timeout                              DeliveryUnknown         True
connection reset / closed after sending   DeliveryUnknown         True
reply cut off while reading the body      DeliveryUnknown         True
========================================  ======================  =============

``requests.ConnectionError`` covers both "refused" and "aborted after sending", so the cause
chain is inspected: only a failure to *open* the connection proves nothing was sent.

Errors are raised outside the ``except`` block so that no chained cause (whose text may hold a
URL with SMSOffice.ge's key in its query string) travels with them.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal, TypeAlias

import attrs
import requests
import requests.adapters
import requests.structures
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ._secrets import Secret, get_logger, scrub
from ._version import __version__
from .errors import ConnectError, DeliveryUnknown, ProviderError

__all__ = [
    "DEFAULT_TIMEOUT",
    "AuthParam",
    "deadline_scope",
    "remaining",
    "HttpRequest",
    "HttpResponse",
    "Timeout",
    "Transport",
]

Timeout: TypeAlias = "float | tuple[float, float]"

#: Connect within 5 s (a provider that cannot accept a TCP connection by then is down);
#: wait up to 30 s for the reply (gateways can be slow to answer a bulk send).
DEFAULT_TIMEOUT: Final[tuple[float, float]] = (5.0, 30.0)
USER_AGENT: Final = f"smsgate/{__version__} python-requests/{requests.__version__}"

_log = get_logger("smsgate.http")

# The monotonic time by which the current call must end, set by the Gateway's deadline.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "smsgate_deadline", default=None
)


@contextlib.contextmanager
def deadline_scope(at: float | None) -> Iterator[None]:
    """Within this block, every request's timeouts shrink to what is left until ``at``."""
    token = _deadline.set(at)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the current deadline, or ``None`` when there is none."""
    at = _deadline.get()
    return None if at is None else at - time.monotonic()


def _bounded(timeout: float | tuple[float, float]) -> float | tuple[float, float]:
    left = remaining()
    if left is None:
        return timeout
    left = max(left, 0.001)
    if isinstance(timeout, tuple):
        return (min(timeout[0], left), min(timeout[1], left))
    return min(timeout, left)


@attrs.frozen
class AuthParam:
    """Where one credential goes on the wire."""

    location: Literal["header", "query", "body", "param"]
    name: str
    value: Secret
    prefix: str = ""


@attrs.frozen
class HttpRequest:
    """A request an adapter wants made; the transport adds credentials and performs it.

    Attributes:
        method: ``"GET"`` or ``"POST"``.
        path: appended to the provider's base URL.
        operation: what it does (``"send"``, ``"status"``...), for logs and attempts.
        params: query-string parameters.
        json: a JSON body (a dict receives ``body`` credentials).
        form: a form-encoded body (receives ``body`` and ``param`` credentials).
        headers: extra headers.
        auth: credentials to place; their values stay redacted until the wire.
        sends_message: performing it may send an SMS. When ``False`` no failure of it can
            have sent anything, so its errors say ``may_have_sent=False``.
        idempotent: the provider deduplicates it (SMSGist's idempotency key) or it only
            reads, so repeating it after an unknown outcome is safe.
    """

    method: Literal["GET", "POST"]
    path: str
    operation: str
    params: Mapping[str, str] = attrs.field(factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    auth: tuple[AuthParam, ...] = ()
    sends_message: bool = False
    idempotent: bool = False


@attrs.frozen
class HttpResponse:
    """A reply, read whole."""

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    content: bytes = attrs.field(repr=False)
    elapsed: float = 0.0

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (replacing undecodable bytes)."""
        return self.content.decode("utf-8", errors="replace")


class Transport:
    """Performs :class:`HttpRequest` for one provider.

    Args:
        provider: registry name, carried by every error.
        base_url: the provider's base URL (no trailing slash needed).
        timeout: seconds, or ``(connect, read)``.
        session: a ``requests.Session`` to reuse. smsgate mounts no retries on its own
            session; a session you pass is used as it is (keep urllib3 retries off POST).
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        timeout: float | tuple[float, float],
        session: requests.Session | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._owns_session = session is None
        self.session = session if session is not None else _new_session()

    def close(self) -> None:
        """Close the session if this transport created it."""
        if self._owns_session:
            self.session.close()

    def perform(
        self, request: HttpRequest, *, timeout: float | tuple[float, float] | None = None
    ) -> HttpResponse:
        """Make the request; return the reply whatever its status, or raise a transport error.

        Raises:
            ConnectError: the request cannot have reached the provider.
            DeliveryUnknown: it may have; no reply could be read.
        """
        url = self.base_url + request.path
        params, json_body, form, headers = _apply_auth(request)
        headers.setdefault("User-Agent", USER_AGENT)
        headers.setdefault("Accept", "application/json, text/plain;q=0.9, */*;q=0.1")
        started = time.monotonic()
        failure: ProviderError | None = None
        _log.debug("%s %s (%s) ->", request.method, url, request.operation)
        try:
            reply = self.session.request(
                request.method,
                url,
                params=params or None,
                json=json_body,
                data=form,
                headers=headers,
                timeout=_bounded(timeout if timeout is not None else self.timeout),
                allow_redirects=False,
            )
            content = reply.content
        except requests.RequestException as exc:
            failure = self._classify(exc, request, url)
        elapsed = time.monotonic() - started
        if failure is not None:
            _log.debug(
                "%s %s failed after %.0f ms: %s",
                request.method, url, elapsed * 1000, type(failure).__name__,
            )
            raise failure
        _log.debug(
            "%s %s -> %s in %.0f ms", request.method, url, reply.status_code, elapsed * 1000
        )
        return HttpResponse(
            status=reply.status_code,
            headers=requests.structures.CaseInsensitiveDict(reply.headers),
            content=content,
            elapsed=elapsed,
        )

    def _classify(
        self, exc: requests.RequestException, request: HttpRequest, url: str
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
        may_have_sent = error_type is DeliveryUnknown and request.sends_message
        if error_type is DeliveryUnknown and retryable is None:
            retryable = request.idempotent or not request.sends_message
        message = scrub(f"{what}: {where} ({reason})")
        return error_type(
            message, provider=self.provider, retryable=retryable, may_have_sent=may_have_sent
        )


def _new_session() -> requests.Session:
    session = requests.Session()
    # No urllib3 retries at all: a retried POST is a duplicate SMS. Retrying is the Gateway's job.
    adapter = requests.adapters.HTTPAdapter(max_retries=0, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Proxies and CA bundles from the environment still apply (trust_env stays True).
    return session


def _apply_auth(
    request: HttpRequest,
) -> tuple[dict[str, str], Any, dict[str, str] | None, dict[str, str]]:
    params = dict(request.params)
    json_body = request.json
    form = dict(request.form) if request.form is not None else None
    headers = dict(request.headers)
    for auth in request.auth:
        value = auth.prefix + auth.value.reveal()
        if auth.location == "header":
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
