"""Every adapter end to end against the sandbox, over real sockets on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

import smsgate
from smsgate import Status
from smsgate.sandbox import Sandbox

NUMBERS = {
    "gosms.ge": ["+995555123456", "+995577123456", "+995599123456"],
    "smsoffice.ge": ["+995555123456", "+995577123456", "+995599123456"],
    "gosms.ro": ["+40712345678", "+40722345678", "+359888123456"],
    "smsgist": ["+233245972246", "+233201234567", "+233551234567"],
}
PROVIDERS = sorted(NUMBERS)
BLOCKED = {
    "gosms.ge": "+995555120000", "smsoffice.ge": "+995555120000",
    "gosms.ro": "+40712340000", "smsgist": "+233245970000",
}


def provider(sandbox: Sandbox, name: str, **options: Any) -> Any:
    return sandbox.provider(name, sender="Demo", timeout=(1.0, 0.5), **options)


@pytest.mark.parametrize("name", PROVIDERS)
def test_send_bulk_and_ledger(sandbox: Sandbox, name: str) -> None:
    sms = provider(sandbox, name)
    before = len(sandbox.messages(name))
    result = sms.send(NUMBERS[name], "Hello from the sandbox")
    assert result.ok
    assert [r.phone for r in result.recipients] == NUMBERS[name]
    ledger = sandbox.messages(name)[before:]
    assert sorted(e.recipient for e in ledger) == sorted(NUMBERS[name])
    assert all(e.text == "Hello from the sandbox" for e in ledger)


@pytest.mark.parametrize("name", ["gosms.ge", "smsoffice.ge", "smsgist"])
def test_status_moves_from_queued_to_delivered(sandbox: Sandbox, name: str) -> None:
    sms = provider(sandbox, name)
    number = NUMBERS[name][0]
    result = sms.send(number, "status please")
    first = sms.status(result.message_id, recipient=number)
    assert first.status in (Status.QUEUED, Status.SENT)
    time.sleep(0.4)
    later = sms.status(result.message_id, recipient=number)
    assert later.status is Status.DELIVERED or later.recipients[0].status is Status.DELIVERED


@pytest.mark.parametrize("name", ["gosms.ge", "smsoffice.ge"])
def test_balance_goes_down_per_segment_and_recipient(sandbox: Sandbox, name: str) -> None:
    sms = provider(sandbox, name)
    before = sms.balance().amount
    sms.send(NUMBERS[name][:2], "x" * 200)  # two segments, two recipients
    assert sms.balance().amount == before - 4


@pytest.mark.parametrize("name", PROVIDERS)
def test_wrong_credentials_are_authentication_errors(sandbox: Sandbox, name: str) -> None:
    creds = {k: "wrong-" + v for k, v in sandbox.credentials(name).items()}
    sms = smsgate.create(name, base_url=sandbox.base_url(name), sender="Demo", **creds)
    with pytest.raises(smsgate.AuthenticationError) as info:
        sms.send(NUMBERS[name][0], "Hi")
    assert info.value.may_have_sent is False


@pytest.mark.parametrize("name", PROVIDERS)
def test_blocked_recipient_is_refused(sandbox: Sandbox, name: str) -> None:
    sms = provider(sandbox, name)
    before = len(sandbox.messages(name))
    if name in ("gosms.ge", "smsoffice.ge", "gosms.ro"):  # one number: the request fails
        with pytest.raises(smsgate.RecipientRejected) as info:
            sms.send(BLOCKED[name], "Hi")
        assert info.value.may_have_sent is False
    else:  # SMSGist lists the refused number in an accepted reply
        result = sms.send(BLOCKED[name], "Hi")
        assert result.recipients[0].status is Status.REJECTED
    assert len(sandbox.messages(name)) == before


@pytest.mark.parametrize("name", PROVIDERS)
def test_insufficient_funds(sandbox: Sandbox, name: str) -> None:
    sms = provider(sandbox, name)
    saved = sandbox.balance(name)
    sandbox.set_balance(name, 0)
    try:
        with pytest.raises(smsgate.InsufficientFunds):
            sms.send(NUMBERS[name][0], "Hi")
    finally:
        sandbox.set_balance(name, saved)


def test_gosms_otp_round_trip(sandbox: Sandbox) -> None:
    sms = provider(sandbox, "gosms.ge")
    challenge = sms.send_otp("+995555123456")
    assert challenge.rate_limit is not None and challenge.rate_limit.limit == 10
    code = sandbox.otp_code("+995555123456")
    assert code is not None
    wrong = "0000" if code != "0000" else "1111"
    assert sms.verify_otp("+995555123456", challenge.hash, wrong).valid is False
    assert sms.verify_otp("+995555123456", challenge.hash, code).valid is True
    with pytest.raises(smsgate.OtpAlreadyUsed):
        sms.verify_otp("+995555123456", challenge.hash, code)


def test_gosms_create_sender(sandbox: Sandbox) -> None:
    sms = provider(sandbox, "gosms.ge")
    assert sms.create_sender("NewBrand") is True
    with pytest.raises(smsgate.SenderRejected):
        sms.create_sender("NewBrand")


def test_smsgist_retry_of_failed_recipients(sandbox: Sandbox) -> None:
    sms = provider(sandbox, "smsgist")
    result = sms.send(["+233245979999", "+233245972246"], "Hi")  # ...9999 fails delivery
    time.sleep(0.4)
    status = sms.status(result.message_id)
    assert [r.status for r in status.recipients] == [Status.FAILED, Status.DELIVERED]
    retried = sms.retry(result.message_id)
    assert retried.message_id not in (None, result.message_id)
    assert [e.recipient for e in sandbox.messages("smsgist")
            if e.message_id == retried.message_id] == ["+233245979999"]


def test_smsgist_idempotency_replay_sends_once(sandbox: Sandbox) -> None:
    sms = provider(sandbox, "smsgist")
    before = len(sandbox.messages("smsgist"))
    first = sms.send("+233245972246", "once", idempotency_key="order-42")
    again = sms.send("+233245972246", "once", idempotency_key="order-42")
    assert first.message_id == again.message_id
    assert len(sandbox.messages("smsgist")) == before + 1


def test_smsgist_idempotent_retry_after_lost_reply(sandbox: Sandbox) -> None:
    sms = provider(sandbox, "smsgist")
    before = len(sandbox.messages("smsgist"))
    sandbox.fault("smsgist", "process_then_reset", times=1)
    with pytest.raises(smsgate.DeliveryUnknown) as info:
        sms.send("+233245972246", "lost reply", idempotency_key="order-43")
    assert info.value.retryable is True
    assert len(sandbox.messages("smsgist")) == before + 1  # it was processed
    result = sms.send("+233245972246", "lost reply", idempotency_key="order-43")
    assert result.ok
    assert len(sandbox.messages("smsgist")) == before + 1  # and not sent twice


FAULTS = ["hang_before_read", "process_then_hang", "process_then_reset", "error",
          "rate_limit", "malformed"]


@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("name", PROVIDERS)
def test_fault_outcome_agrees_with_the_ledger(sandbox: Sandbox, name: str, kind: str) -> None:
    sms = provider(sandbox, name)
    before = len(sandbox.messages(name))
    sandbox.fault(name, kind, times=1, seconds=1.0)
    with pytest.raises(smsgate.ProviderError) as info:
        sms.send(NUMBERS[name][0], f"fault {kind}")
    in_ledger = len(sandbox.messages(name)) > before
    if in_ledger:
        assert info.value.may_have_sent is True, "the ledger has it: never 'nothing sent'"
    expected = {
        "hang_before_read": smsgate.DeliveryUnknown,
        "process_then_hang": smsgate.DeliveryUnknown,
        "process_then_reset": smsgate.DeliveryUnknown,
        "error": smsgate.ProviderUnavailable,
        "rate_limit": smsgate.RateLimited,
        "malformed": smsgate.InvalidResponse,
    }[kind]
    assert isinstance(info.value, expected)
    assert in_ledger == (kind in ("process_then_hang", "process_then_reset"))
    assert sms.send(NUMBERS[name][0], "recovered").ok  # times=1: the provider recovers


@pytest.mark.parametrize("name", PROVIDERS)
def test_refused_connection_is_connect_error(sandbox: Sandbox, name: str) -> None:
    sms = provider(sandbox, name)
    sandbox.fault(name, "refuse")
    with pytest.raises(smsgate.ConnectError) as info:
        sms.send(NUMBERS[name][0], "Hi")
    assert info.value.may_have_sent is False
    sandbox.clear_faults(name)
    assert sms.send(NUMBERS[name][0], "Hi").ok


def test_faults_over_http_and_n_times_then_recover(sandbox: Sandbox) -> None:
    reply = requests.post(f"{sandbox.url}/_sandbox/faults", timeout=5,
                          json={"provider": "gosms.ro", "kind": "error", "status": 500,
                                "times": 2})
    assert reply.status_code == 201
    assert requests.get(f"{sandbox.url}/_sandbox/faults", timeout=5).json()["gosms.ro"]
    sms = provider(sandbox, "gosms.ro")
    for _ in range(2):
        with pytest.raises(smsgate.ProviderUnavailable):
            sms.send("+40712345678", "Hi")
    assert sms.send("+40712345678", "Hi").ok
    bad = requests.post(f"{sandbox.url}/_sandbox/faults", timeout=5,
                        json={"provider": "gosms.ro", "kind": "meteor"})
    assert bad.status_code == 400


def test_inbox_page_and_json_ledger(sandbox: Sandbox) -> None:
    sms = provider(sandbox, "gosms.ge")
    sms.send("+995555123456", "Visible <in> the inbox")
    page = requests.get(sandbox.url + "/", timeout=5)
    assert page.status_code == 200
    assert "text/html" in page.headers["Content-Type"]
    assert "Visible &lt;in&gt; the inbox" in page.text  # escaped
    # Issue 21: no full-page reload; one inline script polls the small JSON endpoint.
    assert "http-equiv=refresh" not in page.text
    assert page.text.count("<script") == 1 and "/_sandbox/inbox?" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # dependency-free
    ledger = requests.get(sandbox.url + "/_sandbox/messages", timeout=5).json()
    assert any(m["text"] == "Visible <in> the inbox" and m["provider"] == "gosms.ge"
               for m in ledger)


def test_clean_shutdown_leaves_no_thread() -> None:
    before = set(threading.enumerate())
    with Sandbox() as sandbox:
        sms = sandbox.provider("gosms.ge", sender="Demo")
        sms.send("+995555123456", "Hi")  # leaves a kept-alive connection open
        sandbox.fault("gosms.ge", "process_then_hang", seconds=60)
        with pytest.raises(smsgate.DeliveryUnknown):
            smsgate.create("gosms.ge", **sandbox.credentials("gosms.ge"), sender="D",
                           base_url=sandbox.base_url("gosms.ge"), timeout=(1, 0.3)).send(
                "+995555123456", "Hi")
        started = time.monotonic()
    assert time.monotonic() - started < 5
    assert set(threading.enumerate()) - before == set()


def test_provider_url_builds_a_working_provider(sandbox: Sandbox) -> None:
    for name in PROVIDERS:
        sms = smsgate.from_url(sandbox.provider_url(name, sender="Demo"))
        assert sms.name == name
        assert sms.send(NUMBERS[name][0], "via URL").ok


def test_sandbox_api_errors() -> None:
    sandbox = Sandbox()
    with pytest.raises(smsgate.ConfigurationError):
        _ = sandbox.url
    with pytest.raises(smsgate.ConfigurationError):
        sandbox.base_url("nope")
    with pytest.raises(smsgate.ConfigurationError):
        sandbox.fault("gosms.ge", "meteor")
