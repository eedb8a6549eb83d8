"""Arbitrary input to every provider's send: only ValidationError, and then zero requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smsgate
from smsgate.testing import _NoNetwork

CREDENTIALS = {
    "gosms.ge": {"api_key": "fuzz-key-1"},
    "smsoffice.ge": {"api_key": "fuzz-key-2"},
    "gosms.ro": {"api_key": "fuzz-key-3"},
    "smsgist": {"client_id": "fuzz-id", "token": "fuzz-token"},
    "memory": {},
}

phones = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\+?(00)?[0-9 ()\-.]{0,20}", fullmatch=True),
    st.sampled_from(["+995555123456", "+40712345678", "+233245972246", "0245972246",
                     "555 12 34 56", "+1"]),
)
json_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10))
options = st.fixed_dictionaries({}, optional={
    "sender": st.one_of(st.none(), st.text(max_size=20)),
    "urgent": st.booleans(),
    "flash": st.booleans(),
    "priority": st.booleans(),
    "reference": st.one_of(st.none(), st.text(max_size=30)),
    "idempotency_key": st.one_of(st.none(), st.text(max_size=30)),
    "schedule_at": st.one_of(st.none(), st.datetimes(), st.datetimes(
        timezones=st.just(dt.timezone.utc))),
    "validity": st.one_of(st.none(), st.timedeltas()),
    "extra": st.one_of(st.none(), st.dictionaries(st.text(max_size=8), json_values,
                                                  max_size=3)),
})


@pytest.mark.parametrize("name", sorted(CREDENTIALS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(to=st.one_of(phones, st.lists(phones, max_size=4)),
       text=st.one_of(st.text(max_size=300), st.text(min_size=1000, max_size=1600)),
       opts=options)
def test_send_raises_only_validation_errors_before_any_request(
    name: str, to: Any, text: str, opts: dict[str, Any]
) -> None:
    guard = _NoNetwork()
    kwargs: dict[str, Any] = dict(CREDENTIALS[name])
    if name != "memory":
        session = requests.Session()
        session.mount("https://", guard)
        kwargs["session"] = session
    provider = smsgate.create(name, **kwargs)
    try:
        provider.send(to, text, **opts)
    except smsgate.ValidationError:
        assert guard.attempts == 0
    except AssertionError:
        assert guard.attempts == 1  # validation passed; the guard refused the request
