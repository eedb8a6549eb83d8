"""pytest plugin installed with smsgate: the ``smsgate_memory`` fixture."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from .testing import MemoryProvider


@pytest.fixture
def smsgate_memory() -> Iterator[MemoryProvider]:
    """A fresh :class:`smsgate.testing.MemoryProvider` (home region GE) for one test."""
    provider = MemoryProvider(region="GE")
    yield provider
    provider.close()


@pytest.fixture(autouse=True)
def _smsgate_django_outbox() -> None:
    """Empty ``smsgate.contrib.django.outbox`` before every test, as Django empties
    ``mail.outbox`` (only where the Django integration is in use: Django is never imported
    here)."""
    sending = sys.modules.get("smsgate.contrib.django.sending")
    if sending is not None:
        sending.outbox.clear()
