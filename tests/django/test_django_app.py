"""smsgate's Django app in a real Django project: settings, send_sms, outbox, on_commit,
webhooks (signed, tampered, replayed) and the system checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings

from smsgate import DeliveryReport, Status
from smsgate.contrib.django import (
    delivery_report_received,
    get_target,
    outbox,
    reset_target,
    send_sms,
)
from smsgate.errors import ConfigurationError
from smsgate.sandbox import Sandbox

RO_SECRET = "ro-webhook-secret"
GIST_SECRET = "gist-webhook-secret"


@pytest.fixture
def reports() -> Iterator[list[tuple[str, DeliveryReport]]]:
    received: list[tuple[str, DeliveryReport]] = []

    def receiver(sender: str, report: DeliveryReport, **_: Any) -> None:
        received.append((sender, report))

    delivery_report_received.connect(receiver, weak=False)
    yield received
    delivery_report_received.disconnect(receiver)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield
    reset_target()


# -- sending -------------------------------------------------------------------------------------


def test_three_lines_of_settings_send_through_the_sandbox() -> None:
    with Sandbox() as sandbox, override_settings(
        SMSGATE=sandbox.provider_url("gosms.ge", sender="Demo")
    ):
        result = send_sms("+995555123456", "Hello from Django")
        assert result is not None and result.ok
        (entry,) = sandbox.messages("gosms.ge")
        assert entry.text == "Hello from Django"
    assert outbox == []  # a real provider: nothing in the test outbox


def test_a_toml_path_and_a_dict_configure_the_target(tmp_path: Any) -> None:
    config = tmp_path / "smsgate.toml"
    config.write_text('provider = "memory"\nsender = "Toml"\n')
    with override_settings(SMSGATE=str(config)):
        assert get_target().send("+995555123456", "Hi").ok
    with override_settings(SMSGATE={"provider": "memory", "sender": "Dict"}):
        assert get_target().send("+995555123456", "Hi").ok
    assert [m.sender for m in outbox] == ["Toml", "Dict"]


def test_the_outbox_collects_memory_sends() -> None:
    send_sms("+995555123456", "one")
    send_sms(["+995555123457", "+995555123458"], "two", sender="Brand")
    assert [m.text for m in outbox] == ["one", "two"]
    assert outbox[1].to == ("+995555123457", "+995555123458")
    assert outbox[1].sender == "Brand"


def test_the_outbox_is_empty_at_the_start_of_every_test_a() -> None:
    assert outbox == []
    send_sms("+995555123456", "left behind by test a")


def test_the_outbox_is_empty_at_the_start_of_every_test_b() -> None:
    assert outbox == []
    send_sms("+995555123456", "left behind by test b")


def test_a_missing_or_wrong_setting_is_a_clear_error() -> None:
    with override_settings(SMSGATE=None), pytest.raises(ConfigurationError, match="not set"):
        send_sms("+995555123456", "Hi")
    with override_settings(SMSGATE=42), pytest.raises(ConfigurationError, match="provider URL"):
        send_sms("+995555123456", "Hi")
    with override_settings(SMSGATE="nosuch://key@"), pytest.raises(ConfigurationError):
        send_sms("+995555123456", "Hi")


@pytest.mark.django_db(transaction=True)
def test_on_commit_sends_nothing_on_rollback_and_once_on_commit() -> None:
    class Rollback(Exception):
        pass

    def rolled_back() -> None:
        with transaction.atomic():
            assert send_sms("+995555123456", "rolled back", on_commit=True) is None
            raise Rollback

    with pytest.raises(Rollback):
        rolled_back()
    assert outbox == []
    with transaction.atomic():
        send_sms("+995555123456", "committed", on_commit=True)
        assert outbox == []  # not before the commit
    assert [m.text for m in outbox] == ["committed"]


def test_the_system_check_reports_a_bad_setting() -> None:
    call_command("check")  # the project's own settings are fine
    with override_settings(SMSGATE="gosms.ge://"), pytest.raises(Exception, match=r"smsgate\.E002"):
        call_command("check")


# -- webhooks ------------------------------------------------------------------------------------


def _ro(body: bytes, secret: str = RO_SECRET) -> dict[str, str]:
    return {"HTTP_X_SIGNATURE": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


RO_BODY = json.dumps({"id": "m-1", "status": "delivered", "recipient": "40712345678"}).encode()


def test_a_signed_report_fires_one_signal(reports: list[tuple[str, DeliveryReport]]) -> None:
    answer = Client().post("/sms/webhooks/gosms.ro/", RO_BODY, content_type="application/json",
                           **_ro(RO_BODY))
    assert answer.status_code == 200 and answer.content == b"OK"
    assert len(reports) == 1
    sender, report = reports[0]
    assert sender == "gosms.ro" and report.status is Status.DELIVERED
    assert report.message_id == "m-1" and report.recipient == "+40712345678"


def test_a_tampered_report_is_refused_with_no_signal(
    reports: list[tuple[str, DeliveryReport]],
) -> None:
    tampered = RO_BODY.replace(b"delivered", b"failed")
    answer = Client().post("/sms/webhooks/gosms.ro/", tampered,
                           content_type="application/json", **_ro(RO_BODY))
    assert answer.status_code == 403
    unsigned = Client().post("/sms/webhooks/gosms.ro/", RO_BODY, content_type="application/json")
    assert unsigned.status_code == 403
    wrong_key = Client().post("/sms/webhooks/gosms.ro/", RO_BODY,
                              content_type="application/json", **_ro(RO_BODY, "guess"))
    assert wrong_key.status_code == 403
    assert reports == []


def test_a_replayed_report_is_refused_with_no_second_signal(
    reports: list[tuple[str, DeliveryReport]],
) -> None:
    now = str(int(time.time()))
    body = json.dumps({"event": "message.delivered", "message_id": "g-1",
                       "recipient": "233241234567"}).encode()
    digest = hmac.new(GIST_SECRET.encode(), now.encode() + b"." + body,
                      hashlib.sha256).hexdigest()
    headers = {"HTTP_X_SMSGIST_SIGNATURE": f"sha256={digest}", "HTTP_X_SMSGIST_TIMESTAMP": now}
    first = Client().post("/sms/webhooks/smsgist/", body, content_type="application/json",
                          **headers)
    again = Client().post("/sms/webhooks/smsgist/", body, content_type="application/json",
                          **headers)
    assert (first.status_code, again.status_code) == (200, 403)
    assert len(reports) == 1


def test_smsoffice_reports_need_the_secret_url_token(
    reports: list[tuple[str, DeliveryReport]],
) -> None:
    query = "reference=r1&status=Delivered&destination=995577123456&timestamp=20130501120202"
    refused = Client().get(f"/sms/webhooks/smsoffice.ge/?{query}&token=wrong")
    taken = Client().get(f"/sms/webhooks/smsoffice.ge/?{query}&token=office-url-token")
    assert (refused.status_code, taken.status_code) == (403, 200)
    assert taken.content == b"OK"  # what SMSOffice.ge requires
    assert [r.status for _, r in reports] == [Status.DELIVERED]


def test_a_malformed_report_is_400_and_an_unknown_provider_404(
    reports: list[tuple[str, DeliveryReport]],
) -> None:
    bad = b"{not json"
    assert Client().post("/sms/webhooks/gosms.ro/", bad, content_type="application/json",
                         **_ro(bad)).status_code == 400
    assert Client().post("/sms/webhooks/nosuch/", b"{}",
                         content_type="application/json").status_code == 404
    assert reports == []


def test_no_secret_configured_means_no_report_is_believed(
    reports: list[tuple[str, DeliveryReport]],
) -> None:
    with override_settings(SMSGATE_WEBHOOK_SECRETS={}):
        answer = Client().post("/sms/webhooks/gosms.ro/", RO_BODY,
                               content_type="application/json", **_ro(RO_BODY))
    assert answer.status_code == 403 and reports == []


def test_a_failing_receiver_is_500_and_the_retry_is_not_taken_for_a_replay() -> None:
    calls: list[DeliveryReport] = []

    def flaky(sender: str, report: DeliveryReport, **_: Any) -> None:
        calls.append(report)
        if len(calls) == 1:
            raise RuntimeError("database down")

    delivery_report_received.connect(flaky, weak=False)
    try:
        first = Client().post("/sms/webhooks/gosms.ro/", RO_BODY,
                              content_type="application/json", **_ro(RO_BODY))
        retry = Client().post("/sms/webhooks/gosms.ro/", RO_BODY,
                              content_type="application/json", **_ro(RO_BODY))
    finally:
        delivery_report_received.disconnect(flaky)
    assert (first.status_code, retry.status_code) == (500, 200)
    assert len(calls) == 2


def test_csrf_does_not_block_provider_callbacks() -> None:
    client = Client(enforce_csrf_checks=True)
    answer = client.post("/sms/webhooks/gosms.ro/", RO_BODY, content_type="application/json",
                         **_ro(RO_BODY))
    assert answer.status_code == 200


# -- the tasks framework (django.tasks, or its backport on Django 5.2); import hygiene -------


def test_a_django_task_sends_with_a_key_minted_at_enqueue() -> None:
    import datetime as dt

    from smsgate.contrib.django.tasks import enqueue_sms

    enqueue_sms("+995555123456", "from a task", validity=dt.timedelta(minutes=5))
    (message,) = outbox
    assert message.text == "from a task"
    assert message.options["validity"] == dt.timedelta(minutes=5)
    assert message.options["idempotency_key"]  # minted before the task ran


def test_smsgate_and_its_pytest_plugin_never_import_django() -> None:
    import subprocess
    import sys

    code = ("import sys, smsgate, smsgate._pytest_plugin, smsgate.testing; "
            "print('django' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
