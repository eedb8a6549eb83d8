"""An exception that is not smsgate's, turned into a report where raising it would lose one.

A bug in a custom provider or adapter (a ``TypeError``, a ``KeyError`` from a token factory)
that escaped in the middle of a send would discard what the call had already obtained: the
chunks or route groups already accepted, the messages of a batch already sent. Where that is
at stake, the exception is recorded like any other failure, as an :class:`UnexpectedError`
whose ``__cause__`` is the original. Where nothing has been obtained yet, it is raised as itself.
"""

from __future__ import annotations

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
    error.__cause__ = exc
    return error
