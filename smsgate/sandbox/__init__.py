"""A local emulator of the built-in providers' wire protocols, for tests, demos and development.

>>> from smsgate.sandbox import Sandbox
>>> with Sandbox() as sandbox:                                  # doctest: +SKIP
...     sms = sandbox.provider("gosms.ge", sender="Demo")       # a real GoSmsGe, local URL
...     sms.send("+995555123456", "Hello").ok
True

The inbox page at ``sandbox.url`` lists accepted messages and the requests that sent nothing
(refused, or hit by an injected fault); ``/_sandbox/messages`` gives the ledger as JSON; faults
are injected with :meth:`Sandbox.fault` or ``POST /_sandbox/faults``, balances set with
:meth:`Sandbox.set_balance` or ``POST /_sandbox/balance``.
"""

from ._providers import UNITS
from ._server import DEFAULT_BALANCE, DEFAULT_CREDENTIALS, PORT_ORDER, Sandbox
from ._state import (
    BLOCKED_SUFFIX,
    FAULT_KINDS,
    UNDELIVERABLE_SUFFIX,
    Fault,
    LedgerEntry,
    Refusal,
)

__all__ = [
    "BLOCKED_SUFFIX",
    "DEFAULT_BALANCE",
    "DEFAULT_CREDENTIALS",
    "FAULT_KINDS",
    "PORT_ORDER",
    "UNDELIVERABLE_SUFFIX",
    "UNITS",
    "Fault",
    "LedgerEntry",
    "Refusal",
    "Sandbox",
]
