"""What every emulator shares: the parsed request, the reply, and :class:`EmulatedProvider`,
the declaration by which the sandbox knows one emulated provider.

Each provider's emulator lives in its own module (``_gosms_ge``, ``_smsoffice_ge``, ...) and ends
with one ``EMULATOR = EmulatedProvider(...)``; the registry line of the provider names it, and
every list the sandbox keeps (ports, units, credentials, callbacks, the inbox's providers)
derives from those declarations.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import requests.structures

from ._state import LedgerEntry, SandboxState

__all__ = ["CallbackRequest", "EmulatedProvider", "Emulator", "Reply", "Request",
           "SendAttempt", "as_numbers", "as_text", "headers_of", "hmac_hex", "is_true",
           "json_reply", "note_refused", "with_query"]


@attrs.frozen
class Request:
    method: str
    path: str  # below the provider's base path
    query: Mapping[str, str]
    headers: Mapping[str, str]  # case-insensitive
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace"),
                                           keep_blank_values=True))

    def fields(self) -> dict[str, Any]:
        """JSON object, form or query: wherever the provider accepts its fields."""
        data = self.json()
        if isinstance(data, dict):
            return {**self.query, **data}
        if self.body and "form" in self.headers.get("Content-Type", ""):
            return {**self.query, **self.form()}
        return dict(self.query)


@attrs.frozen
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str] = attrs.field(factory=dict)


def json_reply(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(),
                 {"Content-Type": "application/json", **(headers or {})})


@attrs.frozen
class SendAttempt:
    """What a send request asked for, as written (for the inbox's refused and faulted rows)."""

    numbers: list[str]
    text: str
    sender: str | None


def as_text(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


def as_numbers(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [as_text(item) for item in value]
    return [as_text(value)]


def note_refused(state: SandboxState, provider: str, attempt: SendAttempt | None, reason: str,
                 numbers: list[str] | None = None) -> None:
    """Remember a send that sent nothing (to ``numbers``, or to all it named)."""
    if numbers is not None and not numbers:
        return
    if attempt is not None:
        state.refuse(provider, attempt.numbers if numbers is None else numbers, attempt.text,
                     attempt.sender, reason)


def is_true(value: object) -> bool:
    """``urgent`` as JSON ``true`` or as the query/form word ``true`` ("urgent=true")."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


Emulator = Callable[[SandboxState, Request, Mapping[str, str]], Reply]


@attrs.frozen
class CallbackRequest:
    """One delivery callback as the provider would send it."""

    method: str
    url: str
    body: bytes = b""
    headers: Mapping[str, str] = attrs.field(factory=dict)


#: Builds the delivery callback for one ledger entry: ``(entry, url, secret, when)`` where
#: ``when`` is the delivery time (epoch seconds); ``None``: the provider sends none for it.
CallbackBuilder = Callable[[LedgerEntry, str, "str | None", float], "CallbackRequest | None"]

#: A 429 reply's body where the provider has no words of its own for it.
PLAIN_RATE_LIMIT: Final[Mapping[str, object]] = {"message": "Too many requests"}


@attrs.frozen
class EmulatedProvider:
    """Everything the sandbox knows about one emulated provider, declared in one place.

    Attributes:
        name: the registry name.
        handle: the emulator: a parsed request in, a reply out.
        describe: the numbers, text and sender of a send request (``None`` for any other
            request), for the inbox's refused and faulted rows.
        path_prefix: where the provider's paths live on its server (its base URL's path).
        unit: what its balance and costs count (``credits``/``messages`` are whole).
        credentials: the credentials it accepts unless told otherwise (constructor keywords).
        number: an E.164 number it delivers to (the demo and the fault matrix send to it;
            the same number ending in ``0000`` is refused).
        rate_limit_body: a 429 reply's JSON body, in the provider's own words.
        callback: builds its delivery callbacks (``None``: the provider is polled).
        unknown_outcome: the reply by which the provider itself says a send's outcome is
            unknown (the ``temporary_delay`` fault), or ``None`` if it has none.
    """

    name: str
    handle: Emulator
    describe: Callable[[Request], SendAttempt | None]
    path_prefix: str
    unit: str
    credentials: Mapping[str, str]
    number: str
    rate_limit_body: Mapping[str, object] = PLAIN_RATE_LIMIT
    callback: CallbackBuilder | None = None
    unknown_outcome: Callable[[], Reply] | None = None


def headers_of(raw: Mapping[str, str]) -> Mapping[str, str]:
    """Case-insensitive request headers."""
    return requests.structures.CaseInsensitiveDict(raw)


def hmac_hex(secret: str, message: bytes) -> str:
    """Hex HMAC-SHA256, as the providers that sign their callbacks write it."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def with_query(url: str, params: Mapping[str, str]) -> str:
    separator = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + separator + urllib.parse.urlencode(params)
