from __future__ import annotations

import pickle
from decimal import Decimal

import pytest

import smsgate
from smsgate import (
    Attempt,
    Balance,
    ConnectError,
    DeliveryUnknown,
    Message,
    ProviderError,
    RecipientResult,
    SendResult,
    Status,
    ValidationError,
)


def test_error_tree_shape() -> None:
    tree = {
        smsgate.ConfigurationError: smsgate.SmsGateError,
        smsgate.ValidationError: smsgate.SmsGateError,
        smsgate.InvalidPhoneNumber: smsgate.ValidationError,
        smsgate.InvalidSender: smsgate.ValidationError,
        smsgate.MessageTooLong: smsgate.ValidationError,
        smsgate.UnsupportedFeature: smsgate.ValidationError,
        smsgate.WebhookError: smsgate.SmsGateError,
        smsgate.ProviderError: smsgate.SmsGateError,
        smsgate.OtpExpired: smsgate.OtpError,
        smsgate.OtpAlreadyUsed: smsgate.OtpError,
        smsgate.OtpError: smsgate.ProviderError,
    }
    for child, parent in tree.items():
        assert issubclass(child, parent), child
    for name in ("AuthenticationError", "InsufficientFunds", "RecipientRejected",
                 "SenderRejected", "InvalidRequest", "NotFound", "RateLimited",
                 "ProviderUnavailable", "ConnectError", "DeliveryUnknown", "InvalidResponse",
                 "AllProvidersFailed"):
        assert issubclass(getattr(smsgate, name), ProviderError), name
    assert issubclass(ValidationError, ValueError)
    # The docstring draws the tree.
    assert "└── AllProvidersFailed" in (smsgate.errors.__doc__ or "")


def test_provider_error_carries_the_answers() -> None:
    error = smsgate.RateLimited("slow", provider="gosms.ge", code=109, http_status=429,
                                retry_after=120.0)
    assert (error.provider, error.code, error.http_status) == ("gosms.ge", 109, 429)
    assert error.retryable is True
    assert error.may_have_sent is False
    assert error.retry_after == 120.0
    assert str(error) == "[gosms.ge, code 109, HTTP 429] slow"
    assert "may_have_sent=False" in repr(error)
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is smsgate.RateLimited
    assert (clone.code, clone.retry_after, str(clone)) == (109, 120.0, str(error))


def test_defaults_per_class() -> None:
    assert DeliveryUnknown("x").may_have_sent is True
    assert smsgate.InvalidResponse("x").may_have_sent is True
    assert ConnectError("x").may_have_sent is False
    assert ConnectError("x").retryable is True
    assert smsgate.AuthenticationError("x").retryable is False
    assert smsgate.ProviderUnavailable("x").retryable is True
    assert smsgate.InvalidPhoneNumber("x").may_have_sent is False


def test_all_providers_failed_aggregates_may_have_sent() -> None:
    safe = smsgate.AllProvidersFailed("none", [ConnectError("a"), smsgate.InsufficientFunds("b")])
    assert safe.may_have_sent is False
    risky = smsgate.AllProvidersFailed("none", [ConnectError("a"), DeliveryUnknown("b")])
    assert risky.may_have_sent is True
    assert len(risky.errors) == 2


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("DELIVERED", Status.DELIVERED),
        ("delivered", Status.DELIVERED),
        ("  Pending ", Status.QUEUED),
        ("IN_PROGRESS", Status.QUEUED),
        ("in-progress", Status.QUEUED),
        ("accepted", Status.QUEUED),
        ("Undelivered", Status.FAILED),
        ("FAILED", Status.FAILED),
        ("Expired", Status.EXPIRED),
        ("sent", Status.SENT),
        ("weird", Status.UNKNOWN),
        (None, Status.UNKNOWN),
        (3, Status.UNKNOWN),
    ],
)
def test_status_words(word: object, status: Status) -> None:
    assert Status.from_word(word) is status


def test_status_table_overrides_common_words() -> None:
    assert Status.from_word("Sent", {"sent": Status.DELIVERED}) is Status.DELIVERED


def test_results_hide_raw_and_compare_by_meaning() -> None:
    a = SendResult(provider="p", message_id="1",
                   recipients=[RecipientResult("+995555123456", Status.QUEUED, "1")],
                   cost=0.03, raw={"secret-ish": "payload"})
    b = SendResult(provider="p", message_id="1",
                   recipients=(RecipientResult("+995555123456", Status.QUEUED, "1"),),
                   cost=Decimal("0.03"), raw={"other": 1})
    assert a == b
    assert "payload" not in repr(a)
    assert a.cost == Decimal("0.03")
    assert isinstance(a.recipients, tuple)
    assert a.ok
    assert repr(a) == repr(b)
    with pytest.raises(AttributeError):
        a.message_id = "2"  # type: ignore[misc]


def test_ok_is_false_when_any_recipient_refused() -> None:
    result = SendResult(provider="p", message_id=None, recipients=[
        RecipientResult("+995555123456", Status.QUEUED),
        RecipientResult("+995555123457", Status.REJECTED, error="Blacklisted"),
    ])
    assert not result.ok
    assert [r.phone for r in result.failed] == ["+995555123457"]
    assert not SendResult(provider="p", message_id=None, recipients=[]).ok


def test_balance_and_attempt_reprs_are_short() -> None:
    assert repr(Balance("p", 12, "credits", raw="12")) == (
        "Balance(provider='p', amount=Decimal('12'), unit='credits')"
    )
    assert "elapsed=0.123" in repr(Attempt("p", "send", 0.1234))


def test_message_accepts_only_send_options() -> None:
    message = Message(["+995555123456"], "hi", urgent=True, sender="X")
    assert message.to == ("+995555123456",)
    assert message.options == {"urgent": True, "sender": "X"}
    assert message == Message(("+995555123456",), "hi", sender="X", urgent=True)
    assert message != Message(("+995555123456",), "hi", sender="Y", urgent=True)
    hash(message)
    with pytest.raises(ValidationError, match="urgnet"):
        Message("+995555123456", "hi", urgnet=True)


def test_recipients_of_a_failed_part() -> None:
    unknown = RecipientResult.failed(["+995555123456"], DeliveryUnknown("lost"))
    refused = RecipientResult.failed(["+995555123456"], ConnectError("refused"))
    assert unknown[0].status is Status.UNKNOWN and unknown[0].error == "lost"
    assert refused[0].status is Status.REJECTED
    assert RecipientResult.failed(["+1"], RuntimeError("?"))[0].status is Status.UNKNOWN
    skipped = RecipientResult.not_attempted(["+995555123457"], ConnectError("refused"))
    assert skipped[0].status is Status.REJECTED
    assert skipped[0].error == "not attempted: an earlier part of this send failed (ConnectError)"


def test_results_without_a_cost_share_one_empty_costs_that_copies_and_pickles() -> None:
    import copy
    import pickle

    from smsgate import SendResult

    plain = SendResult(provider="x", message_id="1", recipients=[])
    other = SendResult(provider="y", message_id="2", recipients=[])
    assert plain.costs == {} and plain.costs is other.costs  # no dict per result
    for again in (copy.deepcopy(plain), pickle.loads(pickle.dumps(plain))):
        assert again == plain and again.costs is plain.costs
    with pytest.raises(TypeError):
        plain.costs["GEL"] = 1  # type: ignore[index]  # shared, so never writable
    charged = SendResult(provider="x", message_id="1", recipients=[], cost=2, currency="GEL")
    assert dict(charged.costs) == {"GEL": 2}
