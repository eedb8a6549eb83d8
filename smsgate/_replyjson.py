"""A reply's body parsed as JSON once, by whichever of two readers comes first.

The transport parses a JSON reply to decide whether its connection may be reused (a body
that does not parse may be cut short by a wrong ``Content-Length``, so what is left on the
connection would answer the next request); the provider then parses the same body to read
it. For a 10,000-number bulk send that is ten 50 KB replies parsed twice, and the second
parse (with the first one's objects freed) cost as much as the rest of the transport.

So the transport hands its parse on: :func:`parse` remembers the value it made, and
:func:`take` gives it to the provider's reader instead of parsing again. It is given only
for the very ``bytes`` object it was parsed from (compared by identity, and kept alive by
the memo, so no other object can take its place), at most once (a reader may change what it
gets; a second reader parses its own), and only in the thread that parsed it (the sync
driver reads a reply in the thread that performed it). Anything else (another reply,
another thread, a reply read twice) finds nothing and parses the bytes itself, with the same
function: the value is the same either way.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Final

__all__ = ["MISSING", "parse", "take"]

#: What :func:`take` returns when it holds no parse of the given bytes.
MISSING: Final[Any] = object()

_memo = threading.local()


def parse(content: bytes) -> Any:
    """``json.loads(content)`` (raising what it raises), remembered for :func:`take`."""
    _memo.entry = None  # a failed parse leaves nothing behind
    value = json.loads(content)
    _memo.entry = (content, value)
    return value


def take(content: bytes) -> Any:
    """The value :func:`parse` made of this very ``content`` in this thread, once; else
    :data:`MISSING`."""
    entry = getattr(_memo, "entry", None)
    if entry is None or entry[0] is not content:
        return MISSING
    _memo.entry = None
    return entry[1]
