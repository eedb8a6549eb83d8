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

import base64
import collections
import contextlib
import functools
import html
import html.entities
import itertools
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
    "scrub_bytes",
]

REDACTED: Final = "***"

#: How many per-request credentials (tokens minted by a ``token_factory``) stay registered for
#: scrubbing once nothing holds them any more. A token stays registered for as long as its
#: :class:`Secret` exists (its request is being made), however many others are minted
#: meanwhile; of the released ones the latest ``TRANSIENT_LIMIT`` are kept, so memory and the
#: cost of each scrub stay bounded by this plus the requests in flight.
TRANSIENT_LIMIT: Final = 64

_lock = threading.Lock()
# Credentials given at build time: kept for the life of the process (a handful per provider),
# with their percent-encodings; and the credentials alone.
_known: frozenset[str] = frozenset()
_known_values: frozenset[str] = frozenset()
# Per-request credentials, oldest first (each with its variants): those still held by a live
# Secret, plus at most TRANSIENT_LIMIT released ones.
_transient: collections.OrderedDict[str, frozenset[str]] = collections.OrderedDict()
# How many live Secret objects hold each transient value.
_live: collections.Counter[str] = collections.Counter()
# Values whose Secret was collected; drained under the lock at the next registration. (A
# finaliser may run inside a locked section of the same thread: it must not take the lock.)
_released: collections.deque[str] = collections.deque()
# The credentials the deep scan looks for, and the base64 pieces that reveal them.
_values: tuple[str, ...] = ()
_lowered: tuple[tuple[str, str], ...] = ()
_b64: tuple[tuple[str, tuple[str, ...]], ...] = ()
# Every value to scrub, longest first, so that a key containing another is removed whole.
_ordered: tuple[str, ...] = ()
# What _clean looks for, built with the above (see _Needles); None while nothing is registered.
_needles: _Needles | None = None
# Credentials shorter than this are not scrubbed from free text: replacing "1" everywhere would
# garble logs without protecting anything worth protecting.
_MIN_SCRUB_LENGTH: Final = 4
# The encoded and case-insensitive forms are looked for only for credentials this long: a
# shorter one (a 4-letter word) would match ordinary text in another case or encoding.
_MIN_DEEP_LENGTH: Final = 8


class Secret:
    """A credential whose ``repr`` and ``str`` never show its value.

    Call :meth:`reveal` at the one place the value goes on the wire.
    """

    __slots__ = ("_transient", "_value")

    def __init__(self, value: str, *, transient: bool = False) -> None:
        self._value = value
        self._transient = False
        register(value, transient=transient)
        if transient and len(value) >= _MIN_SCRUB_LENGTH:
            with _lock:
                _live[value] += 1  # counted down after __del__ (see _released)
            self._transient = True

    def __del__(self) -> None:
        if getattr(self, "_transient", False):
            with contextlib.suppress(Exception):  # the module may be gone at exit
                _released.append(self._value)

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

    A ``transient`` value (a token minted for one request) stays registered while a
    :class:`Secret` holds it, then joins a bounded set: once :data:`TRANSIENT_LIMIT` newer
    released ones are registered, the oldest is forgotten. The work per registration and per
    :func:`scrub` call is therefore bounded, however many sends a process makes.
    """
    global _known, _known_values
    if len(value) < _MIN_SCRUB_LENGTH:
        return
    variants = frozenset(
        {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    )
    with _lock:
        changed = _drain()
        if transient:
            if variants <= _known:
                pass
            elif value in _transient:
                _transient.move_to_end(value)
            else:
                _transient[value] = variants
                changed = True
            changed = _trim() or changed
        elif not variants <= _known or value not in _known_values:
            _known = _known | variants
            _known_values = _known_values | {value}
            changed = True
        if changed:
            _rebuild()


def _drain() -> bool:
    """Count down the Secrets collected since the last call; ``True`` when one was the last."""
    freed = False
    while _released:
        value = _released.popleft()
        _live[value] -= 1
        if _live[value] <= 0:
            del _live[value]
            freed = True
    return freed and _trim()


def _trim() -> bool:
    """Forget the oldest released transient values past the limit; ``True`` if any went."""
    spare = len(_transient) - TRANSIENT_LIMIT
    if spare <= 0:
        return False
    gone = [value for value in _transient if value not in _live][: spare]
    for value in gone:
        del _transient[value]
    return bool(gone)


def _rebuild() -> None:
    global _ordered, _values, _lowered, _b64, _needles
    every = set(_known)
    for more in _transient.values():
        every |= more
    _ordered = tuple(sorted(every, key=len, reverse=True))
    values = sorted(
        (v for v in _known_values | set(_transient) if len(v) >= _MIN_DEEP_LENGTH),
        key=len, reverse=True,
    )
    _values = tuple(values)
    _lowered = tuple((v, v.lower()) for v in values)
    _b64 = tuple((v, cores) for v in values if (cores := _base64_cores(v)))
    _needles = _Needles(_ordered, _lowered, _b64) if _ordered else None


def registered_count() -> int:
    """How many values :func:`scrub` looks for (for tests of the bound), once the tokens of
    Secrets already collected are counted down."""
    with _lock:
        if _drain():
            _rebuild()
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


class _Needles:
    """The ASCII strings whose absence proves that :func:`scrub` gives an ASCII text back
    unchanged (see :func:`_clean`).

    For a text that is ASCII and holds none of ``\\``, ``&`` and ``%``, every step of
    :func:`scrub` comes down to substring searches: the plain replacement looks for each
    value of ``_ordered``; :func:`_decoded` undoes nothing (each of its decodings starts at
    one of those three characters), so :func:`_hits` looks for each lowered credential in
    the text's lower case and for each base64 piece in the text itself. A value, lowered
    credential or piece that is not ASCII cannot occur in an ASCII text. So these searches,
    and nothing else, decide.
    """

    __slots__ = ("lowered", "pieces", "plain", "shortest")

    def __init__(
        self,
        ordered: tuple[str, ...],
        lowered: tuple[tuple[str, str], ...],
        b64: tuple[tuple[str, tuple[str, ...]], ...],
    ) -> None:
        self.lowered = tuple(dict.fromkeys(low for _, low in lowered if low.isascii()))
        # A value whose lower case is searched for in the lowered text is found there when
        # it is in the text (ASCII lower case keeps every position): searched for once.
        searched = frozenset(self.lowered)
        self.plain = tuple(v for v in ordered if v.isascii() and v.lower() not in searched)
        self.pieces = tuple(dict.fromkeys(itertools.chain.from_iterable(c for _, c in b64)))
        # A text shorter than every needle holds none of them.
        self.shortest = min(map(len, (*self.plain, *self.lowered, *self.pieces)),
                            default=_NO_NEEDLE)


_NO_NEEDLE: Final = 1 << 62  # only non-ASCII values: no ASCII text holds one


def _clean(text: str) -> bool:
    """``True`` only when :func:`scrub` would give ``text`` back unchanged, shown by a few
    substring searches of an ASCII text (see :class:`_Needles`); ``False``: "scrub it"."""
    needles = _needles
    if needles is None:
        return True  # nothing registered: nothing to remove
    if not text.isascii() or "\\" in text or "&" in text or "%" in text:
        return False
    if len(text) < needles.shortest:
        return True
    for value in needles.plain:
        if value in text:
            return False
    if needles.lowered:
        lowered = text.lower()
        for low in needles.lowered:
            if low in lowered:
                return False
    for piece in needles.pieces:  # noqa: SIM110 (a loop costs less than any() here)
        if piece in text:
            return False
    return True


def scrub(text: str) -> str:
    """``text`` with every registered credential replaced by ``***``.

    Beyond the credential as it is and percent-encoded, the text is searched for what a
    provider echoing a request may turn a credential into: percent-encoding in either case
    and of any subset of its characters, JSON escapes (``\\/``, ``\\u00xx``), HTML character
    references, a changed letter case, and base64 of any string that contains it (an
    ``Authorization: Basic`` value of ``client:token``), for credentials of 8 characters or
    more. An ASCII text holding none of these and no ``\\``, ``&`` or ``%`` costs a
    substring search per form (:func:`_clean`); any other, one decoding pass more.
    """
    if _clean(text):
        return text
    return _scrub_full(text)


def _scrub_full(text: str) -> str:
    """:func:`scrub` without the shortcut of :func:`_clean` (the tests compare the two)."""
    for value in _ordered:
        if value in text:
            text = text.replace(value, REDACTED)
    if not _values:
        return text
    return _deep_scrub(text)


def scrub_bytes(data: bytes) -> bytes:
    """:func:`scrub` for a reply body: any bytes, UTF-8 or not, come back as they were but
    for the credentials."""
    if not _values or not data:
        return data
    # An ASCII body decodes to the same characters however it is decoded: _clean decides.
    if data.isascii() and _clean(data.decode("ascii")):
        return data
    return _scrub_bytes_full(data)


def _scrub_bytes_full(data: bytes) -> bytes:
    """:func:`scrub_bytes` without the shortcut of :func:`_clean_bytes`."""
    if not _values or not data:
        return data
    text = data.decode("utf-8", "surrogateescape")
    cleaned = _scrub_full(text)
    return data if cleaned == text else cleaned.encode("utf-8", "surrogateescape")


_JSON_ESCAPE: Final = re.compile(r"\\(?:u([0-9a-fA-F]{4})|([\\/\"]))")


def _json_unescape(match: re.Match[str]) -> str:
    if match[1] is not None:
        return chr(int(match[1], 16))
    return match[2]


def _decoded(text: str) -> str:
    """``text`` with JSON escapes, HTML references and percent-encoding undone (nested up to
    three levels)."""
    for _ in range(3):
        before = text
        if "\\" in text:
            text = _JSON_ESCAPE.sub(_json_unescape, text)
        if "&" in text:
            text = html.unescape(text)
        if "%" in text:
            text = urllib.parse.unquote(text, errors="surrogateescape")
        if text == before:
            break
    return text


def _hits(text: str) -> list[str]:
    """The registered credentials that ``text`` reveals in any of the forms :func:`scrub`
    knows."""
    decoded = _decoded(text)
    lowered = decoded.lower()
    found = [value for value, low in _lowered if low in lowered]
    for value, cores in _b64:
        if value not in found and any(core in decoded for core in cores):
            found.append(value)
    return found


def _deep_scrub(text: str) -> str:
    found = _hits(text)
    for _ in range(3):
        if not found:
            return text
        for value in found:
            text = _pattern(value).sub(REDACTED, text)
        found = _hits(text)
    # A form the patterns do not cover (an encoding nested deeper than they follow): give
    # the decoded text, with the credentials removed whatever their case.
    decoded = _decoded(text)
    for value in _values:
        decoded = re.sub(re.escape(value), REDACTED, decoded, flags=re.IGNORECASE)
    return decoded


@functools.lru_cache(maxsize=512)
def _pattern(value: str) -> re.Pattern[str]:
    """A pattern matching ``value`` with each character as it is or in any of its escaped
    forms, in any letter case, or a base64 piece that reveals it."""
    parts = []
    for char in value:
        forms = {re.escape(char)}
        forms.add("".join(f"%{byte:02x}" for byte in char.encode("utf-8", "surrogatepass")))
        code = ord(char)
        if code <= 0xFFFF:
            forms.add(rf"\\u{code:04x}")
        else:
            high, low = divmod(code - 0x10000, 0x400)
            forms.add(rf"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
        if char in '/"\\':
            forms.add(re.escape("\\" + char))
        forms.add(rf"&\#0*{code};")
        forms.add(rf"&\#x0*{code:x};")
        name = html.entities.codepoint2name.get(code)
        if name is not None:
            forms.add(f"&{name};")
        if char == "'":
            forms.add("&apos;")
        if char == " ":
            forms.add(r"\+")
        parts.append("(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")")
    alternatives = ["".join(parts)]
    alternatives += [f"(?-i:{re.escape(core)})" for core in _base64_cores(value)]
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _base64_cores(value: str) -> tuple[str, ...]:
    """The base64 characters that any encoding of a string containing ``value`` shows, for
    each of the three alignments (standard and URL-safe alphabets); short ones are left out
    (they would match by chance)."""
    raw = value.encode("utf-8", "surrogatepass")
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        first = -(-8 * offset // 6)  # the first character made of the value's bits only
        last = (8 * (offset + len(raw)) - 6) // 6
        core = encoded[first : last + 1]
        if len(core) >= 8:
            cores.add(core)
            cores.add(core.translate(_URLSAFE))
    return tuple(sorted(cores))


_URLSAFE: Final = str.maketrans("+/", "-_")


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
