"""A transport that runs a function in place of the network (``smsgate.testing.MockTransport``).

With it a test reaches an adapter's wire, every error-table row, an error inside HTTP 200, a
refused connection, without a socket: the adapter builds its requests and parses the replies
exactly as it does in production, only the exchange is the handler's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ._unexpected import unexpected
from ._wire import HttpRequest, HttpResponse, _scrubbed_reply, remaining
from .errors import ConnectError, SmsGateError

__all__ = ["MockTransport"]


class MockTransport:
    """A :class:`smsgate.Transport` whose replies come from ``handler``, a function
    ``HttpRequest -> HttpResponse``.

    Give it to any HTTP provider (``GoSmsGe(key, transport=MockTransport(handler))``).
    Every request handed to the handler is kept, in order, in :attr:`requests` (their
    credentials stay redacted ``Secret`` values in ``request.auth``), and the deadline it
    was given in :attr:`deadlines`. As the real transport does, a request whose deadline (or
    the enclosing Gateway deadline) has already passed is not made: ``ConnectError``,
    nothing sent, and the handler is not called.

    The handler speaks for the network:

    * it returns the provider's reply: an :class:`~smsgate.providers.HttpResponse` of any
      status (``HttpResponse(200, {"Content-Type": "application/json"}, b'{...}')``). It is
      scrubbed of registered credentials as a real reply is.
    * it raises an smsgate error to stand for a transport failure, raised as it is:
      ``ConnectError`` for a refused connection (nothing sent), ``DeliveryUnknown`` for a
      reply lost after sending. The provider stamps ``may_have_sent`` from the request, as
      it does for every error of a request.
    * any other exception (a bug in the handler, a failed assertion) reaches the caller as
      an error that says the message may have been sent when the request sends one (never
      "nothing happened"), with the original as its ``__cause__``.
    """

    def __init__(self, handler: Callable[[HttpRequest], HttpResponse]) -> None:
        if not callable(handler):
            raise TypeError("MockTransport takes a function HttpRequest -> HttpResponse")
        self.handler = handler
        #: Every request performed, in order.
        self.requests: list[HttpRequest] = []
        #: The deadline each request was given (an instant on ``time.monotonic()``, or None).
        self.deadlines: list[float | None] = []
        self.closed = False
        self._lock = threading.Lock()

    def perform(self, request: HttpRequest, *, deadline: float | None = None) -> HttpResponse:
        """Run the handler for ``request`` and return its reply (see the class docstring)."""
        left = remaining(deadline)
        if left is not None and left <= 0:
            raise ConnectError(
                "the time for this request ran out before it was sent", may_have_sent=False
            )
        with self._lock:
            self.requests.append(request)
            self.deadlines.append(deadline)
        started = time.monotonic()
        failure: BaseException | None = None
        try:
            reply = self.handler(request)
        except SmsGateError:
            raise
        except Exception as exc:
            failure = unexpected("MockTransport handler", exc,
                                 may_have_sent=request.sends_message)
        if failure is not None:
            raise failure  # outside the except block: the report's own cause only
        if not isinstance(reply, HttpResponse):
            raise unexpected(
                "MockTransport handler",
                TypeError(f"the handler returned {type(reply).__name__}, not an HttpResponse"),
                may_have_sent=request.sends_message,
            )
        headers, content = _scrubbed_reply(reply.headers.items(), reply.content)
        return HttpResponse(status=reply.status, headers=headers, content=content,
                            elapsed=reply.elapsed or time.monotonic() - started)

    def close(self) -> None:
        """Mark the transport closed (it holds nothing)."""
        self.closed = True

    def __repr__(self) -> str:
        # The handler's name and a count only: requests carry credentials (redacted, but a
        # repr has no business showing them) and phone numbers.
        name = getattr(self.handler, "__qualname__", type(self.handler).__name__)
        return f"MockTransport(handler={name}, requests={len(self.requests)})"
