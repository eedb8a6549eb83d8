"""The shared provider base, through a toy adapter and mocked HTTP."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import responses

import smsgate
from smsgate import (
    ConfigurationError,
    InvalidPhoneNumber,
    InvalidSender,
    MessageTooLong,
    Status,
    UnsupportedFeature,
    ValidationError,
)

from .conftest import CANARY, ToyProvider

URL = "https://toy.invalid/api"


@pytest.fixture
def mocked() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"to": "+99555512345", "text": "hi"}, InvalidPhoneNumber),
        ({"to": [], "text": "hi"}, InvalidPhoneNumber),
        ({"to": 995555123456, "text": "hi"}, InvalidPhoneNumber),
        ({"to": ["+995555123456", None], "text": "hi"}, InvalidPhoneNumber),
        ({"to": "+995555123456", "text": ""}, MessageTooLong),
        ({"to": "+995555123456", "text": "   "}, MessageTooLong),
        ({"to": "+995555123456", "text": None}, MessageTooLong),
        ({"to": "+995555123456", "text": "x" * 101}, MessageTooLong),
        ({"to": "+995555123456", "text": "hi", "sender": "TwelveChars1"}, InvalidSender),
        ({"to": "+995555123456", "text": "hi", "sender": "bad sender"}, InvalidSender),
        ({"to": "+995555123456", "text": "hi", "flash": True}, UnsupportedFeature),
        ({"to": "+995555123456", "text": "hi", "reference": "r1"}, UnsupportedFeature),
        ({"to": "+995555123456", "text": "hi", "idempotency_key": "k"}, UnsupportedFeature),
        ({"to": "+995555123456", "text": "hi", "extra": ["x"]}, ValidationError),
    ],
)
def test_bad_input_raises_before_any_request(
    mocked: responses.RequestsMock, toy: ToyProvider, kwargs: dict[str, object],
    error: type[Exception],
) -> None:
    mocked.post(f"{URL}/send", json={"ids": [1]})
    with pytest.raises(error):
        toy.send(**kwargs)  # type: ignore[arg-type]
    assert len(mocked.calls) == 0


def test_national_numbers_use_the_home_region(
    mocked: responses.RequestsMock, toy: ToyProvider
) -> None:
    mocked.post(f"{URL}/send", json={"ids": [7]})
    result = toy.send("555 12 34 56", "hi", urgent=True)
    sent = json.loads(mocked.calls[0].request.body)
    assert sent == {"to": ["995555123456"], "text": "hi", "urgent": True}
    assert f"key={CANARY}" in mocked.calls[0].request.url
    assert result.recipients[0].phone == "+995555123456"
    assert result.message_id == "7"
    assert result.segments == 1 and result.encoding == "GSM-7"
    assert len(result.attempts) == 1 and result.attempts[0].http_status == 200


def test_chunks_are_merged_in_order(mocked: responses.RequestsMock, toy: ToyProvider) -> None:
    mocked.post(f"{URL}/send", json={"ids": [1, 2]})
    mocked.post(f"{URL}/send", json={"ids": [3, 4]})
    mocked.post(f"{URL}/send", json={"ids": [5]})
    numbers = [f"+99555512345{i}" for i in range(5)]
    result = toy.send(numbers, "hi")
    assert len(mocked.calls) == 3
    assert [json.loads(c.request.body)["to"] for c in mocked.calls] == [
        ["995555123450", "995555123451"], ["995555123452", "995555123453"], ["995555123454"]
    ]
    assert [r.phone for r in result.recipients] == numbers
    assert [r.message_id for r in result.recipients] == ["1", "2", "3", "4", "5"]
    assert result.ok
    assert len(result.attempts) == 3


def test_failure_in_a_later_chunk_is_reported_not_lost(
    mocked: responses.RequestsMock, toy: ToyProvider
) -> None:
    mocked.post(f"{URL}/send", json={"ids": [1, 2]})
    mocked.post(f"{URL}/send", status=503, body="down")
    numbers = [f"+99555512345{i}" for i in range(5)]
    result = toy.send(numbers, "hi")
    assert len(mocked.calls) == 2  # the third chunk is not attempted
    assert [r.status for r in result.recipients] == [
        Status.QUEUED, Status.QUEUED, Status.REJECTED, Status.REJECTED, Status.REJECTED
    ]
    assert "503" in (result.recipients[2].error or "")
    assert "not attempted" in (result.recipients[4].error or "")
    assert not result.ok


def test_failure_in_the_first_chunk_is_raised(
    mocked: responses.RequestsMock, toy: ToyProvider
) -> None:
    mocked.post(f"{URL}/send", json={"error": 2, "message": "no money"}, status=200)
    with pytest.raises(smsgate.InsufficientFunds) as info:
        toy.send(["+995555123450", "+995555123451", "+995555123452"], "hi")
    assert info.value.code == 2 and info.value.http_status == 200
    assert str(info.value) == "[toy, code 2, HTTP 200] no money"


@pytest.mark.parametrize(
    ("status", "body", "error", "may_have_sent"),
    [
        (401, "", smsgate.AuthenticationError, False),
        (402, "", smsgate.InsufficientFunds, False),
        (404, "", smsgate.NotFound, False),
        (422, "", smsgate.InvalidRequest, False),
        (429, "", smsgate.RateLimited, False),
        (500, "", smsgate.ProviderUnavailable, False),
        (503, "", smsgate.ProviderUnavailable, False),
        (502, "", smsgate.ProviderUnavailable, True),
        (504, "", smsgate.ProviderUnavailable, True),
        (301, "", smsgate.InvalidResponse, True),
        (418, "", smsgate.ProviderError, False),
        (400, '{"error": 1, "message": "bad key"}', smsgate.AuthenticationError, False),
        (200, '{"error": 99, "message": "new code"}', smsgate.ProviderError, False),
    ],
)
def test_http_status_and_body_mapping(
    mocked: responses.RequestsMock, toy: ToyProvider, status: int, body: str,
    error: type[smsgate.ProviderError], may_have_sent: bool,
) -> None:
    mocked.post(f"{URL}/send", status=status, body=body, headers={"Retry-After": "7"})
    with pytest.raises(error) as info:
        toy.send("+995555123456", "hi")
    assert type(info.value) is error
    assert info.value.may_have_sent is may_have_sent
    assert info.value.http_status == status
    assert info.value.retry_after == 7.0


def test_read_operations_never_claim_a_send(
    mocked: responses.RequestsMock, toy: ToyProvider
) -> None:
    mocked.get(f"{URL}/balance", status=504, body="")
    with pytest.raises(smsgate.ProviderUnavailable) as info:
        toy.balance()
    assert info.value.may_have_sent is False


def test_retry_after_as_http_date(mocked: responses.RequestsMock, toy: ToyProvider) -> None:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=60)
    mocked.post(f"{URL}/send", status=429,
                headers={"retry-after": when.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    with pytest.raises(smsgate.RateLimited) as info:
        toy.send("+995555123456", "hi")
    assert info.value.retry_after is not None and 50 < info.value.retry_after <= 60


def test_status_and_balance(mocked: responses.RequestsMock, toy: ToyProvider) -> None:
    mocked.get(f"{URL}/status", json={"status": "DELIVERED"})
    mocked.get(f"{URL}/balance", body="42\n")
    assert toy.status("9").status is Status.DELIVERED
    assert "id=9" in mocked.calls[0].request.url
    assert toy.balance().amount == 42
    with pytest.raises(ValidationError):
        toy.status("")


def test_unreadable_reply_is_invalid_response(
    mocked: responses.RequestsMock, toy: ToyProvider
) -> None:
    mocked.get(f"{URL}/balance", body="lots")
    with pytest.raises(smsgate.InvalidResponse) as info:
        toy.balance()
    assert info.value.may_have_sent is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": None},
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": (1, None)},
        {"timeout": "5"},
        {"base_url": "toy.invalid"},
        {"base_url": "ftp://toy.invalid"},
        {"session": object()},
    ],
)
def test_bad_settings_are_configuration_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        ToyProvider(CANARY, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "   ", None])
def test_missing_credential_is_a_configuration_error(key: object) -> None:
    with pytest.raises(ConfigurationError):
        ToyProvider(key)  # type: ignore[arg-type]


def test_sender_checked_at_construction() -> None:
    with pytest.raises(InvalidSender):
        ToyProvider(CANARY, sender="much too long a sender")


def test_timeouts_and_context_manager() -> None:
    with ToyProvider(CANARY, timeout=3) as toy:
        assert toy.timeout == 3.0
    assert ToyProvider(CANARY, timeout=(1, 2)).timeout == (1.0, 2.0)
    assert ToyProvider(CANARY).timeout == (5.0, 30.0)


def test_schedule_must_be_aware() -> None:
    class Scheduling(ToyProvider):
        capabilities = ToyProvider.capabilities | {"schedule", "validity"}

    provider = Scheduling(CANARY, sender="Shop")
    with pytest.raises(ValidationError, match="timezone"):
        provider.prepare("+995555123456", "hi", schedule_at=dt.datetime(2030, 1, 1))
    with pytest.raises(ValidationError, match="positive"):
        provider.prepare("+995555123456", "hi", validity=dt.timedelta(0))
    ok = provider.prepare("+995555123456", "hi",
                          schedule_at=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    assert ok.wire_numbers == ("995555123456",)
