"""The wire as data: what an adapter asks for, what comes back, and who carries it.

An adapter never does I/O: it describes a request (:class:`HttpRequest`) and reads a reply
(:class:`HttpResponse`). A :class:`Transport` performs one request and returns its reply;
the default one (``smsgate._http.RequestsTransport``) goes over ``requests``, a test's
``smsgate.testing.MockTransport`` runs a function instead. This module imports no HTTP
library, so that adapters, plans and test doubles can use these types without loading one.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, Literal, Protocol, TypeAlias, runtime_checkable

import attrs

from ._secrets import Secret, scrub, scrub_bytes

__all__ = [
    "DEFAULT_TIMEOUT",
    "AuthParam",
    "Headers",
    "HttpRequest",
    "HttpResponse",
    "Timeout",
    "Transport",
    "deadline_scope",
    "remaining",
]

Timeout: TypeAlias = "float | tuple[float, float]"

#: Connect within 5 s (a provider that cannot accept a TCP connection by then is down);
#: wait up to 30 s for the reply (gateways can be slow to answer a bulk send).
DEFAULT_TIMEOUT: Final[tuple[float, float]] = (5.0, 30.0)


# The monotonic time by which the current call must end, set by the Gateway's deadline. It
# lives here, with no HTTP library, so that a driver can set it without loading one.
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


def remaining(deadline: float | None = None) -> float | None:
    """Seconds left before the current deadline, or ``None`` when there is none.

    The current deadline is the earlier of ``deadline`` (an instant on
    :func:`time.monotonic`, given to a transport's ``perform``) and that of the enclosing
    :func:`deadline_scope`.
    """
    at = _deadline.get()
    if deadline is not None and (at is None or deadline < at):
        at = deadline
    return None if at is None else at - time.monotonic()


@attrs.frozen
class AuthParam:
    """Where one credential goes on the wire; its value stays redacted until the wire."""

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
            have sent anything, so its errors say ``may_have_sent=False``. The base stamps
            every error of the request from this flag, once.
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


class Headers(Mapping[str, str]):
    """Reply headers, looked up case-insensitively (``Retry-After`` = ``retry-after``).

    A transport builds one; an :class:`HttpResponse` given a plain mapping wraps it in one,
    so an adapter reads ``reply.headers["Retry-After"]`` whatever the spelling on the wire.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, tuple[str, str]] = {
            name.lower(): (name, value) for name, value in pairs
        }

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def get(self, name: str, default: Any = None) -> Any:  # one lookup, no exception
        found = self._items.get(name.lower()) if isinstance(name, str) else None
        return default if found is None else found[1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def _headers(value: Mapping[str, str] | Iterable[tuple[str, str]]) -> Headers:
    return value if isinstance(value, Headers) else Headers(value)


def _scrubbed_reply(
    pairs: Iterable[tuple[str, str]], content: bytes
) -> tuple[Headers, bytes]:
    """A reply's headers and body with every registered credential removed: what every
    transport does to a reply as it reads it, so that a credential a provider echoes never
    reaches ``raw``, a parser or an error. A clean body comes back as the same object."""
    return Headers([(name, scrub(value)) for name, value in pairs]), scrub_bytes(content)


@attrs.frozen
class HttpResponse:
    """A reply, read whole (and scrubbed of every registered credential by the transport).

    Attributes:
        status: the HTTP status.
        headers: the reply's headers, looked up case-insensitively.
        content: the body, decoded from any transfer coding.
        elapsed: seconds the exchange took.
    """

    status: int
    headers: Headers = attrs.field(factory=Headers, converter=_headers, repr=False)
    content: bytes = attrs.field(default=b"", repr=False)
    elapsed: float = 0.0

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (replacing undecodable bytes)."""
        return self.content.decode("utf-8", errors="replace")


_set: Final = object.__setattr__


def _response(status: int, headers: Headers, content: bytes, elapsed: float) -> HttpResponse:
    """``HttpResponse(status=..., headers=..., content=..., elapsed=...)`` for a transport
    that already holds a :class:`Headers` (no conversion to make): the same object, set
    field by field as attrs' own ``__init__`` sets a frozen class's fields."""
    reply = object.__new__(HttpResponse)
    _set(reply, "status", status)
    _set(reply, "headers", headers)
    _set(reply, "content", content)
    _set(reply, "elapsed", elapsed)
    return reply


@runtime_checkable
class Transport(Protocol):
    """What carries an :class:`HttpRequest` to a provider and brings its reply back.

    smsgate's default is the ``requests`` transport (no retries, no redirects, bounded in
    time and size, every failure classified by whether the message may have been sent); a
    provider takes another through ``transport=`` (``smsgate.testing.MockTransport`` in
    tests).

    :meth:`perform` returns the reply whatever its HTTP status, and raises only smsgate
    errors that say what happened: :class:`~smsgate.ConnectError` when nothing can have
    reached the provider, :class:`~smsgate.DeliveryUnknown` when the request may have,
    :class:`~smsgate.InvalidResponse` for a reply it would not read. ``deadline`` is an
    instant on :func:`time.monotonic` by which the exchange must be over (``None``: only the
    transport's own timeouts bound it).
    """

    def perform(self, request: HttpRequest, *, deadline: float | None = None) -> HttpResponse:
        """Make ``request``; return its reply, or raise an smsgate error."""
        ...

    def close(self) -> None:
        """Release what the transport holds (connections). Safe to call twice."""
        ...
