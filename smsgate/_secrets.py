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

import logging
import re
import threading
import urllib.parse
from typing import Final

__all__ = ["REDACTED", "ScrubbingFilter", "Secret", "install_filters", "register", "scrub"]

REDACTED: Final = "***"

_lock = threading.Lock()
_known: frozenset[str] = frozenset()
# The same values, longest first, so that a key containing another is removed whole.
_ordered: tuple[str, ...] = ()
# Credentials shorter than this are not scrubbed from free text: replacing "1" everywhere would
# garble logs without protecting anything worth protecting.
_MIN_SCRUB_LENGTH: Final = 4


class Secret:
    """A credential whose ``repr`` and ``str`` never show its value.

    Call :meth:`reveal` at the one place the value goes on the wire.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

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
        return (Secret, (self._value,))


def register(value: str) -> None:
    """Remember ``value`` so that :func:`scrub` removes it from any text."""
    global _known, _ordered
    if len(value) < _MIN_SCRUB_LENGTH:
        return
    variants = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    with _lock:
        if not variants <= _known:
            _known = _known | variants
            _ordered = tuple(sorted(_known, key=len, reverse=True))


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
