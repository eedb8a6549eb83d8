"""The public extension API: everything an adapter is written with.

An adapter declares its wire as data (:class:`AuthSpec`, :class:`ErrorSpec`,
:class:`Limits`, :class:`PhoneFormat`, capabilities) and writes each operation as a pair of
pure functions on :class:`HttpProvider` (or :class:`ApiKeyProvider`): ``build_<operation>``
returns an :class:`HttpRequest`, ``parse_<operation>`` reads an :class:`HttpResponse`, and
``find_error`` reads an error out of any reply. The base performs the requests through a
:class:`Transport`, applies the error table and says whether a failed send may have gone
out. The four built-in adapters (``smsgate.providers.gosms_ge`` and its siblings; use them
through :mod:`smsgate`) are written with these names only.

A provider that is not reached over HTTP subclasses :class:`ProviderBase` and implements
``_deliver(outgoing)``.
"""

from __future__ import annotations

from .._effects import Plan
from .._provider import Limits, Outgoing, ProviderBase
from .._secrets import Secret
from .._wire import DEFAULT_TIMEOUT, HttpRequest, HttpResponse, Transport
from ..phone import PhoneFormat
from ._base import (
    OPERATION_CAPABILITIES,
    ApiKeyProvider,
    AuthSpec,
    ErrorSpec,
    HttpProvider,
    as_money,
    as_text,
    first_present,
    iter_errors,
    parse_rate_limit,
    parse_retry_after,
    read_code,
)

__all__ = [
    "ApiKeyProvider",
    "AuthSpec",
    "DEFAULT_TIMEOUT",
    "ErrorSpec",
    "HttpProvider",
    "HttpRequest",
    "HttpResponse",
    "Limits",
    "OPERATION_CAPABILITIES",
    "Outgoing",
    "PhoneFormat",
    "Plan",
    "ProviderBase",
    "Secret",
    "Transport",
    "as_money",
    "as_text",
    "first_present",
    "iter_errors",
    "parse_rate_limit",
    "parse_retry_after",
    "read_code",
]
