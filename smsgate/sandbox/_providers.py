"""The sandbox's emulated providers, from the registry's built-in providers.

Every list the sandbox keeps is derived here from the :class:`~._emulator.EmulatedProvider`
declarations that the registry names (one per built-in provider that has an emulator): the
order of its ports, the units of its balances, the credentials it accepts, the providers that
call back. Nothing in the sandbox lists providers by hand.

Each emulator (``_gosms_ge``, ``_smsoffice_ge``, ``_gosms_ro``, ``_smsgist``) follows its
provider's document. What a provider accepts (number formats, lengths, character counting) is
decided by the sandbox's own rules in :mod:`._rules`, written from the documents, never by
smsgate's adapters, phone parser or segment counter: the sandbox is the other side of every
integration test, and must not share their mistakes.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Final

from ..registry import _emulator_paths
from ._emulator import EmulatedProvider, Emulator, Reply, Request, SendAttempt, headers_of

__all__ = ["EMULATED", "EMULATORS", "PATH_PREFIX", "UNITS", "Reply", "Request", "SendAttempt",
           "describe", "headers_of"]


def _load() -> dict[str, EmulatedProvider]:
    found: dict[str, EmulatedProvider] = {}
    for name, path in _emulator_paths().items():
        module, _, attribute = path.partition(":")
        emulator = getattr(importlib.import_module(module), attribute)
        if not isinstance(emulator, EmulatedProvider) or emulator.name != name:
            raise TypeError(f"{path} is not the EmulatedProvider of {name!r}")
        found[name] = emulator
    return found


#: Every emulated provider, in the order of their ports (the registry's order).
EMULATED: Final[Mapping[str, EmulatedProvider]] = _load()

#: Each provider's emulator function, looked up per request (a test may replace one).
EMULATORS: Final[dict[str, Emulator]] = {name: e.handle for name, e in EMULATED.items()}

#: Where each provider's paths live on its sandbox server (its base URL's path).
PATH_PREFIX: Final[Mapping[str, str]] = {name: e.path_prefix for name, e in EMULATED.items()}

#: What each provider's balance and costs count: GOSMS.GE and SMSOffice.ge bill in messages
#: (one per segment and recipient; their balance replies are whole numbers), GoSMS.ro
#: ("balanceDeduction", "currency": "EUR") and SMSGist ("total_cost", in Ghana cedis) in money.
UNITS: Final[Mapping[str, str]] = {name: e.unit for name, e in EMULATED.items()}


def describe(provider: str, request: Request) -> SendAttempt | None:
    """The numbers, text and sender of a send request to ``provider``; ``None`` for any
    other request."""
    return EMULATED[provider].describe(request)
