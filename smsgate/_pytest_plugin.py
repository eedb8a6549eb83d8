"""pytest plugin installed with smsgate: the ``smsgate_memory`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import MemoryProvider


@pytest.fixture
def smsgate_memory() -> Iterator[MemoryProvider]:
    """A fresh :class:`smsgate.testing.MemoryProvider` (home region GE) for one test."""
    provider = MemoryProvider(region="GE")
    yield provider
    provider.close()
