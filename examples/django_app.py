"""smsgate in a Django project, in one file: settings, send_sms and a delivery-report view.

    .venv/bin/pip install -e ".[django]" && .venv/bin/python examples/django_app.py

A real project puts the settings in settings.py and the include() in urls.py; here they are
configured inline, and the local sandbox stands in for GoSMS.ro (no account, no network).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import django
from django.conf import settings
from django.urls import include, path

from smsgate.sandbox import Sandbox

WEBHOOK_SECRET = "example-webhook-secret"

urlpatterns = [path("sms/webhooks/", include("smsgate.contrib.django.urls"))]


def main() -> None:
    logging.basicConfig(format="log: %(name)s: %(message)s")
    with Sandbox() as sandbox:
        settings.configure(
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=__name__,
            INSTALLED_APPS=["smsgate.contrib.django"],
            # The three lines a project needs to send (the app above, the target here):
            SMSGATE=sandbox.provider_url("gosms.ro", sender="Shop"),
            SMSGATE_WEBHOOK_SECRETS={"gosms.ro": WEBHOOK_SECRET},
        )
        django.setup()

        from django.test import Client

        from smsgate import DeliveryReport
        from smsgate.contrib.django import delivery_report_received, send_sms

        result = send_sms("+40712345678", "Your order has shipped")
        assert result is not None
        print(f"sent {result.message_id} via {result.provider}")

        def on_report(sender: str, report: DeliveryReport, **_: object) -> None:
            print(f"delivery report from {sender}: {report.message_id} -> {report.status}")

        delivery_report_received.connect(on_report)
        # What GoSMS.ro would post to https://your.site/sms/webhooks/gosms.ro/ :
        body = json.dumps({"id": result.message_id, "status": "delivered",
                           "recipient": "40712345678"}).encode()
        signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        client = Client()
        answer = client.post("/sms/webhooks/gosms.ro/", body, content_type="application/json",
                             HTTP_X_SIGNATURE=signature)
        print(f"webhook answered {answer.status_code}")
        replay = client.post("/sms/webhooks/gosms.ro/", body, content_type="application/json",
                             HTTP_X_SIGNATURE=signature)
        print(f"the same callback again answered {replay.status_code} (a replay)")


if __name__ == "__main__":
    main()
