"""An exception that is not smsgate's, turned into a report where raising it would lose one.

A bug in a custom provider or adapter (a ``TypeError``, a ``KeyError`` from a token factory)
that escaped in the middle of a send would discard what the call had already obtained: the
chunks or route groups already accepted, the messages of a batch already sent. Where that is
at stake, the exception is recorded like any other failure, as an :class:`UnexpectedError`
whose ``__cause__`` is the original. Where nothing has been obtained yet, it is raised as itself.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from .errors import ProviderError, SmsGateError

__all__ = ["UnexpectedError", "carry_key", "detach_error", "unexpected", "without_locals"]

_E = TypeVar("_E", bound=BaseException)
_P = ParamSpec("_P")
_T = TypeVar("_T")


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


def detach_error(error: _E) -> _E:
    """``error`` without its traceback and chained exceptions, to be raised afresh.

    A configuration error is raised inside frames that hold the raw credential (the URL, the
    ``api_key`` argument, a mapping read from TOML): a tool that records a traceback's frame
    locals would store the key. The message says all there is to say, so the error leaves
    those frames behind (and its ``__context__``, whose traceback holds them too).
    """
    error.__traceback__ = None
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error


def without_locals(function: Callable[_P, _T]) -> Callable[_P, _T]:
    """Run ``function``; an smsgate error it raises leaves none of its frames' locals behind.

    The error is raised again from this wrapper once the arguments (which may hold a
    credential) are deleted, detached from the frames it went through (:func:`detach_error`).
    Other exceptions pass as they are: only smsgate's own refusals are answers to keep.
    """
    if getattr(function, "_smsgate_without_locals", False):
        return function

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        failure: SmsGateError | None = None
        try:
            return function(*args, **kwargs)
        except SmsGateError as exc:
            failure = detach_error(exc)
        del args, kwargs
        raise failure

    wrapper._smsgate_without_locals = True  # type: ignore[attr-defined]
    return wrapper


def carry_key(error: BaseException, key: str | None) -> None:
    """Put the send's idempotency key on an error that leaves its outcome open.

    The key may be one a provider or the gateway minted, which the caller never saw: without
    it on the error, "repeat with the same key" would be impossible. Refusals do not
    carry it: a provider that deduplicates replays its stored refusal to a repeated key.
    """
    if (
        key is not None
        and isinstance(error, ProviderError)
        and error.may_have_sent
        and error.idempotency_key is None
    ):
        error.idempotency_key = key
