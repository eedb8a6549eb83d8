"""An exception that is not smsgate's, turned into a report where raising it would lose one.

A bug in a custom provider or adapter (a ``TypeError``, a ``KeyError`` from a token factory)
that escaped in the middle of a send would discard what the call had already obtained: the
chunks or route groups already accepted, the messages of a batch already sent. Where that is
at stake, the exception is recorded like any other failure, as an :class:`UnexpectedError`
whose ``__cause__`` is the original. Where nothing has been obtained yet, it is raised as itself.
"""

from __future__ import annotations

import traceback

from .errors import ProviderError, SmsGateError

__all__ = ["UnexpectedError", "unexpected"]


class UnexpectedError(ProviderError):
    """A send raised an exception that is not an smsgate error (a bug, most likely).

    It may have been sent unless it provably happened before any request; never retryable.
    """


def unexpected(where: str, exc: BaseException, *, may_have_sent: bool) -> UnexpectedError:
    """Record ``exc`` (raised by ``where``, a provider name) as an :class:`UnexpectedError`.

    Also used for smsgate errors that carry no ``may_have_sent`` of their own (a
    ``ConfigurationError`` from a token factory), so that the report says it precisely.
    """
    # Only the exception's type goes into the message: its text is a bug's, and could hold
    # anything (the message text, a number); the original stays reachable as __cause__.
    consequence = "it may have been sent" if may_have_sent else "nothing was sent"
    kind = "" if isinstance(exc, SmsGateError) else " (not an smsgate error: a bug?)"
    error = UnexpectedError(
        f"unexpected {type(exc).__name__}{kind}; {consequence}",
        provider=where, retryable=False, may_have_sent=may_have_sent,
    )
    _forget_locals(exc)
    error.__cause__ = exc
    return error


def _forget_locals(exc: BaseException) -> None:
    """Clear the local variables of the finished frames on ``exc``'s traceback and on those
    of the exceptions chained to it.

    The exception escaped from somewhere in a send: its frames may hold the revealed
    credential (a request being built, an HTTP library's arguments). The report keeps it as
    ``__cause__`` for the traceback's file names and lines, which stay; the locals go, so
    that a tool recording frame locals stores no key.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        traceback.clear_frames(item.__traceback__)  # skips frames still running
        pending += [item.__cause__, item.__context__]
