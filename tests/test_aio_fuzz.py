"""The input fuzzing of tests/reliability/test_input_fuzz.py under both drivers: for arbitrary
input, ``Gateway`` and ``AsyncGateway`` raise the same error class (or both reach the wire)
after the same number of requests, and a ``ValidationError`` always comes with zero."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smsgate
from smsgate.aio import AsyncGateway
from smsgate.providers import HttpRequest, HttpResponse
from smsgate.testing import MockTransport

from .reliability.test_input_fuzz import CREDENTIALS, options, phones

#: No retries and no breaker: each send is one try, comparable request for request.
BARE: dict[str, Any] = {"retry": None, "breaker": None}


def _refuse(request: HttpRequest) -> HttpResponse:
    raise smsgate.ConnectError("the fuzz guard refuses every connection")


def _outcome(send: Any) -> tuple[str, bool]:
    """The error class raised (or "sent"), and whether it is a ValidationError."""
    try:
        send()
    except smsgate.SmsGateError as exc:
        return type(exc).__name__, isinstance(exc, smsgate.ValidationError)
    return "sent", False


@pytest.mark.parametrize("name", sorted(CREDENTIALS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(to=st.one_of(phones, st.lists(phones, max_size=4)),
       text=st.one_of(st.text(max_size=300), st.text(min_size=1000, max_size=1600)),
       opts=options)
def test_both_drivers_refuse_alike_before_any_request(
    name: str, to: Any, text: str, opts: dict[str, Any]
) -> None:
    counts, outcomes = [], []
    for driver in ("sync", "async"):
        guard = MockTransport(_refuse)
        kwargs: dict[str, Any] = dict(CREDENTIALS[name])
        if name != "memory":
            kwargs["transport"] = guard
        provider = smsgate.create(name, **kwargs)
        if driver == "sync":
            outcome, refused = _outcome(lambda p=provider: smsgate.Gateway([p], **BARE).send(
                to, text, **opts))
        else:
            async def go(p: Any = provider) -> None:
                async with AsyncGateway([p], **BARE) as gateway:
                    await gateway.send(to, text, **opts)

            outcome, refused = _outcome(lambda: asyncio.run(go()))
        sent = len(provider.outbox) if name == "memory" else len(guard.requests)
        if refused:
            assert sent == 0, (driver, outcome)
        counts.append(sent)
        outcomes.append(outcome)
    assert outcomes[0] == outcomes[1] and counts[0] == counts[1], (outcomes, counts)
