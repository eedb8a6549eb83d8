"""A local emulator of all four providers' wire protocols, for tests, demos and development.

>>> from smsgate.sandbox import Sandbox
>>> with Sandbox() as sandbox:                                  # doctest: +SKIP
...     sms = sandbox.provider("gosms.ge", sender="Demo")       # a real GoSmsGe, local URL
...     sms.send("+995555123456", "Hello").ok
True

The inbox page at ``sandbox.url`` lists accepted messages; ``/_sandbox/messages`` gives the
ledger as JSON; faults are injected with :meth:`Sandbox.fault` or ``POST /_sandbox/faults``.
"""

from ._server import DEFAULT_CREDENTIALS, Sandbox
from ._state import BLOCKED_SUFFIX, FAULT_KINDS, UNDELIVERABLE_SUFFIX, Fault, LedgerEntry

__all__ = [
    "BLOCKED_SUFFIX",
    "DEFAULT_CREDENTIALS",
    "FAULT_KINDS",
    "UNDELIVERABLE_SUFFIX",
    "Fault",
    "LedgerEntry",
    "Sandbox",
]
