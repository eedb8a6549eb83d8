"""``send_sms`` and the test ``outbox``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from ..._protocol import SmsProvider
from ...models import SendResult
from ...testing import MemoryProvider, SentMessage

__all__ = ["adopt", "outbox", "send_sms"]

#: What was sent while ``SMSGATE = "memory://"`` (the test setting), like
#: ``django.core.mail.outbox``: a list of :class:`smsgate.testing.SentMessage`. smsgate's
#: pytest plugin empties it before every test; with Django's own test runner, empty it in
#: ``setUp`` (``outbox.clear()``). It is emptied in place, never replaced, so a reference
#: taken with ``from smsgate.contrib.django import outbox`` stays current.
outbox: list[SentMessage] = []


def adopt(target: SmsProvider) -> None:
    """Point every memory provider of ``target`` at :data:`outbox`."""
    chains: list[Sequence[SmsProvider]] = [[target]]
    providers = getattr(target, "providers", None)
    routes = getattr(target, "routes", None)
    if isinstance(providers, Sequence):
        chains.append(providers)
    if isinstance(routes, dict):
        chains.extend(routes.values())
    for chain in chains:
        for provider in chain:
            if isinstance(provider, MemoryProvider):
                provider.outbox = outbox


def send_sms(
    to: str | Sequence[str],
    text: str,
    *,
    on_commit: bool = False,
    using: str | None = None,
    **options: Any,
) -> SendResult | None:
    """Send through the target ``settings.SMSGATE`` describes.

    Args:
        to: one number or several.
        text: the message.
        on_commit: send only once the current database transaction commits (nothing is
            sent if it rolls back); the call then returns ``None``. Outside a transaction
            (autocommit) the message goes out at once, as Django's ``on_commit`` does. A send
            that fails after the commit raises from the commit, so the failure is never
            silent.
        using: the database alias whose transaction ``on_commit`` waits for.
        options: the send options of :meth:`smsgate.SmsProvider.send` (``sender``,
            ``idempotency_key``...).

    Returns:
        The :class:`smsgate.SendResult`, or ``None`` with ``on_commit=True``.
    """
    from .conf import get_target

    if not on_commit:
        return get_target().send(to, text, **options)
    recipients = to if isinstance(to, str) else list(to)

    def deliver() -> None:
        get_target().send(recipients, text, **options)

    transaction.on_commit(deliver, using=using)
    return None
