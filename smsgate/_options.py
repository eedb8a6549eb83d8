"""The send vocabulary: every option of ``send``, written once.

The protocol check, the capability check of providers and gateways, the CLI's options, the
contract suite's sample values and :class:`smsgate.Message` all read this table, so that an
option added here reaches them all and an option missing here exists nowhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import attrs

__all__ = [
    "OPTION_CAPABILITIES",
    "SEND_OPTIONS",
    "SEND_OPTION_TABLE",
    "SendOption",
    "needed_capabilities",
]


@attrs.frozen
class SendOption:
    """One keyword option of ``send``.

    Attributes:
        name: the keyword.
        default: its value when not given (an option at its default asks for nothing).
        capability: what a provider must declare to accept a non-default value (``None``:
            every provider takes it).
        help: one line for the command line and the docs.
        sample: a non-default value, for the contract suite's "refused before any request"
            checks.
        cli: whether the CLI's ``send`` command offers it as ``--name``.
    """

    name: str
    default: Any
    capability: str | None
    help: str
    sample: Any
    cli: bool = True


SEND_OPTION_TABLE: Final[tuple[SendOption, ...]] = (
    SendOption("sender", None, None, "Sender name (overrides the configured one).", "Brand"),
    SendOption("urgent", False, "urgent", "Deliver even to opted-out recipients.", True),
    SendOption(
        "schedule_at", None, "schedule", "Send later, e.g. 2030-01-02T09:00+04:00.",
        dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc),
    ),
    SendOption(
        "validity", None, "validity", "Expire undelivered messages after this many minutes.",
        dt.timedelta(hours=1),
    ),
    SendOption("reference", None, "reference", "Your reference for status and callbacks.",
               "ref-1"),
    SendOption(
        "idempotency_key", None, "idempotency",
        "Deduplication key: a repeat with the same key is not sent twice. Errors that may "
        "have sent name the key used.",
        "key-1",
    ),
    SendOption("flash", False, "flash", "Flash message (SMSOffice.ge).", True),
    SendOption("priority", False, "priority", "Priority route (SMSGist).", True),
    SendOption("extra", None, None, "Raw provider fields.", {"field": "value"}, cli=False),
)

#: The keyword options of ``send`` (``allow_duplicates`` is a switch of smsgate's own, not
#: an option a provider expresses).
SEND_OPTIONS: Final = frozenset(option.name for option in SEND_OPTION_TABLE)

#: Which capability each option needs. An option set to a non-default value on a provider
#: without the capability raises ``UnsupportedFeature`` before any request.
OPTION_CAPABILITIES: Final[Mapping[str, str]] = {
    option.name: option.capability for option in SEND_OPTION_TABLE if option.capability
}


def needed_capabilities(options: Mapping[str, Any]) -> set[str]:
    """The capabilities the given send options ask for.

    ``None`` and ``False`` ask for nothing; identity, not equality, decides, so that an
    option of an odd type never runs its own ``__eq__`` here.
    """
    return {
        OPTION_CAPABILITIES[name]
        for name, value in options.items()
        if name in OPTION_CAPABILITIES and value is not None and value is not False
    }
