"""Credentials that cannot leak, and the log scrubbing that backs them up.

Two layers keep an API key out of every log line, repr and error message:

1. :class:`Secret` holds a credential. Its ``repr``/``str`` are redacted and it is not an attrs
   class, so even a stray ``cattrs.unstructure`` yields the redacted object, never the key.
2. Every credential is registered with :func:`register`; :class:`ScrubbingFilter`, installed on
   the ``smsgate`` and ``urllib3`` loggers, replaces registered values (raw and percent-encoded)
   in every record. This is what protects SMSOffice.ge's key, which its documented API carries
   in the query string that urllib3 logs at DEBUG.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import urllib.parse
from typing import Final

__all__ = [
    "REDACTED",
    "TRANSIENT_LIMIT",
    "ScrubbingFilter",
    "Secret",
    "header_problem",
    "install_filters",
    "register",
    "registered_count",
    "scrub",
]

REDACTED: Final = "***"

#: How many per-request credentials (tokens minted by a ``token_factory``) stay registered for
#: scrubbing. Each one is used for one request, so only the latest few can still turn up in a
#: reply or a log line; keeping every one would grow memory and the cost of each scrub forever.
TRANSIENT_LIMIT: Final = 64

_lock = threading.Lock()
# Credentials given at build time: kept for the life of the process (a handful per provider).
_known: frozenset[str] = frozenset()
# Per-request credentials, oldest first; at most TRANSIENT_LIMIT of them (each with its variants).
_transient: collections.OrderedDict[str, frozenset[str]] = collections.OrderedDict()
# Every value to scrub, longest first, so that a key containing another is removed whole.
_ordered: tuple[str, ...] = ()
# Credentials shorter than this are not scrubbed from free text: replacing "1" everywhere would
# garble logs without protecting anything worth protecting.
_MIN_SCRUB_LENGTH: Final = 4


class Secret:
    """A credential whose ``repr`` and ``str`` never show its value.

    Call :meth:`reveal` at the one place the value goes on the wire.
    """

    __slots__ = ("_transient", "_value")

    def __init__(self, value: str, *, transient: bool = False) -> None:
        self._value = value
        self._transient = transient
        register(value, transient=transient)

    def reveal(self) -> str:
        """The credential itself; only the HTTP layer calls this."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{REDACTED}')"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling keeps the value (a worker process needs it) but never prints it.
        return (_secret, (self._value, self._transient))


def _secret(value: str, transient: bool) -> Secret:
    return Secret(value, transient=transient)


def register(value: str, *, transient: bool = False) -> None:
    """Remember ``value`` so that :func:`scrub` removes it from any text.

    A ``transient`` value (a token minted for one request) joins a bounded set: once
    :data:`TRANSIENT_LIMIT` newer ones are registered, the oldest is forgotten. The work per
    registration and per :func:`scrub` call is therefore bounded, however many sends a
    process makes.
    """
    global _known, _ordered
    if len(value) < _MIN_SCRUB_LENGTH:
        return
    variants = frozenset(
        {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    )
    with _lock:
        if transient:
            if variants <= _known:
                return
            if value in _transient:
                _transient.move_to_end(value)
                return
            _transient[value] = variants
            while len(_transient) > TRANSIENT_LIMIT:
                _transient.popitem(last=False)
        elif variants <= _known:
            return
        else:
            _known = _known | variants
        every = set(_known)
        for more in _transient.values():
            every |= more
        _ordered = tuple(sorted(every, key=len, reverse=True))


def registered_count() -> int:
    """How many values :func:`scrub` looks for (for tests of the bound)."""
    return len(_ordered)


# Control characters (but tab) and DEL end or corrupt an HTTP header line.
_HEADER_BREAKERS: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def header_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as an HTTP header value, or ``None`` when it can.

    The answer never quotes the value: it describes a credential.
    """
    if _HEADER_BREAKERS.search(value):
        return "it contains a line break or another control character"
    if any(ord(c) > 0xFF for c in value):
        return "it contains characters outside Latin-1, which HTTP headers cannot carry"
    if value[:1] in (" ", "\t"):
        return "it starts with whitespace"
    return None


def scrub(text: str) -> str:
    """``text`` with every registered credential replaced by ``***``."""
    for value in _ordered:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


# International numbers as they appear in query strings (SMSOffice.ge's destination=995...).
_PHONE_RUN: Final = re.compile(r"(?<![\w.-])(\+|%2B)?(\d{4})(\d{4,9})(\d{2})(?![\w.-])")


def _mask_numbers(text: str) -> str:
    return _PHONE_RUN.sub(lambda m: (m[1] or "") + m[2] + "*" * len(m[3]) + m[4], text)


class ScrubbingFilter(logging.Filter):
    """Rewrites a log record so that no registered credential survives formatting, and masks
    phone numbers in the request lines third-party libraries (urllib3) log."""

    def filter(self, record: logging.LogRecord) -> bool:
        third_party = not record.name.startswith("smsgate")
        if not _ordered and not third_party:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's problem, not a leak
            return True
        cleaned = scrub(message)
        if third_party:
            cleaned = _mask_numbers(cleaned)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


_FILTER: Final = ScrubbingFilter()
# A logging.Filter attached to a logger sees only records logged on that very logger, not those
# propagated from its children, so each urllib3 module that logs gets the filter.
_FILTERED_LOGGERS: Final = (
    "smsgate",
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
)


def install_filters() -> None:
    """Attach :class:`ScrubbingFilter` to the loggers that may see a credential. Idempotent."""
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def get_logger(name: str) -> logging.Logger:
    """A logger under ``smsgate`` that carries the scrubbing filter itself."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
