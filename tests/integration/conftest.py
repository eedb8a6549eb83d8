"""Fixtures shared by the integration tests: one sandbox per module, faults cleared after each
test. A module that needs other sandbox settings defines its own ``sandbox`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smsgate.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=0.3) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    # Taken at set-up, so that this teardown runs before the sandbox's own.
    used = "sandbox" in request.fixturenames
    running: Sandbox | None = request.getfixturevalue("sandbox") if used else None
    yield
    if running is not None:
        running.clear_faults()
