"""The contract every adapter passes. A new provider adds one line to ADAPTERS.

It checks what the SmsProvider protocol promises whatever the wire: declarations are
coherent data, bad input and unsupported options raise before any request, credentials stay
out of reprs, and the registry builds the adapter by name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import responses

import smsgate
from smsgate.providers._base import OPTION_CAPABILITIES, ErrorSpec, HttpProvider

CANARY = "contract-canary-credential"

# registry name, factory, a valid number in its region, a number outside what it reaches
ADAPTERS: list[tuple[str, Callable[..., HttpProvider], dict[str, Any], str, str | None]] = [
    ("gosms.ge", smsgate.GoSmsGe, {"api_key": CANARY}, "+995555123456", "+40712345678"),
    ("smsoffice.ge", smsgate.SmsOfficeGe, {"api_key": CANARY}, "+995577123456",
     "+233245972246"),
    ("gosms.ro", smsgate.GoSmsRo, {"api_key": CANARY}, "+40712345678", None),
    ("smsgist", smsgate.SmsGist, {"client_id": CANARY, "token": CANARY + "-t"},
     "+233245972246", "+995555123456"),
]
IDS = [row[0] for row in ADAPTERS]

OPTION_VALUES: dict[str, Any] = {
    "urgent": True,
    "schedule_at": dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc),
    "validity": dt.timedelta(hours=1),
    "reference": "ref-1",
    "idempotency_key": "key-1",
    "flash": True,
    "priority": True,
}


@pytest.fixture
def no_http() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(("name", "cls", "creds", "good", "foreign"), ADAPTERS, ids=IDS)
def test_declarations_are_coherent(name: str, cls: type[HttpProvider], creds: dict[str, Any],
                                   good: str, foreign: str | None) -> None:
    assert cls.name == name
    assert cls.default_base_url.startswith("https://")
    assert cls.capabilities <= smsgate.CAPABILITIES
    assert cls.error_table, "every adapter documents its errors"
    for code, spec in cls.error_table.items():
        assert isinstance(code, (int, str))
        assert isinstance(spec, ErrorSpec)
        assert issubclass(spec.error, smsgate.ProviderError)
        assert spec.description
    assert {a.credential for a in cls.auth} <= set(creds) | {"token"}


@pytest.mark.parametrize(("name", "cls", "creds", "good", "foreign"), ADAPTERS, ids=IDS)
def test_built_by_name_and_satisfies_the_protocol(
    name: str, cls: type[HttpProvider], creds: dict[str, Any], good: str, foreign: str | None
) -> None:
    provider = smsgate.create(name, **creds, sender="Brand")
    assert type(provider) is cls
    assert isinstance(provider, smsgate.SmsProvider)
    assert name in smsgate.available_providers()
    assert CANARY not in repr(provider)
    with provider:
        pass
    with pytest.raises(smsgate.ConfigurationError):
        smsgate.create(name, **creds, timeout=None)
    with pytest.raises(smsgate.ConfigurationError):
        smsgate.create(name)


@pytest.mark.parametrize(("name", "cls", "creds", "good", "foreign"), ADAPTERS, ids=IDS)
def test_unsupported_options_raise_before_any_request(
    no_http: responses.RequestsMock, name: str, cls: type[HttpProvider],
    creds: dict[str, Any], good: str, foreign: str | None,
) -> None:
    provider = cls(**creds, sender="Brand")
    for option, capability in OPTION_CAPABILITIES.items():
        if capability in provider.capabilities:
            continue
        with pytest.raises(smsgate.UnsupportedFeature):
            provider.send(good, "Hi", **{option: OPTION_VALUES[option]})
    if "status" not in provider.capabilities:
        with pytest.raises(smsgate.UnsupportedFeature):
            provider.status("1", recipient=good)
    if "balance" not in provider.capabilities:
        with pytest.raises(smsgate.UnsupportedFeature):
            provider.balance()


@pytest.mark.parametrize(("name", "cls", "creds", "good", "foreign"), ADAPTERS, ids=IDS)
def test_bad_input_raises_validation_errors_before_any_request(
    no_http: responses.RequestsMock, name: str, cls: type[HttpProvider],
    creds: dict[str, Any], good: str, foreign: str | None,
) -> None:
    provider = cls(**creds, sender="Brand")
    bad_calls: list[Callable[[], object]] = [
        lambda: provider.send("+1", "Hi"),
        lambda: provider.send([], "Hi"),
        lambda: provider.send(good, ""),
        lambda: provider.send(good, "x" * 50_000),
        lambda: provider.send(good, "Hi", sender="S" * 40 if provider.limits.max_sender_length
                              else ""),
        lambda: provider.send(good, "Hi", schedule_at=dt.datetime(2030, 1, 1)),
    ]
    if foreign is not None:
        bad_calls.append(lambda: provider.send(foreign, "Hi"))
    for call in bad_calls:
        with pytest.raises(smsgate.ValidationError):
            call()
