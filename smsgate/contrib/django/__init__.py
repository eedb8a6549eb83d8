"""smsgate for Django: settings, ``send_sms``, a test outbox and delivery-report webhooks.

Three lines of settings are enough to send::

    INSTALLED_APPS = [..., "smsgate.contrib.django"]
    SMSGATE = "gosms.ge://API_KEY@?sender=MyBrand"      # or a TOML path, or a dict

and then::

    from smsgate.contrib.django import send_sms
    send_sms("+995555123456", "Your code is 1234")

``SMSGATE`` takes what :mod:`smsgate.config` takes: a provider URL (``NAME://...``), the path
of a TOML file, or a dict in the shape of that file (providers, failover, routes). In tests
set ``SMSGATE = "memory://"``: messages then land in :data:`outbox` instead of going out, as
e-mails land in ``django.core.mail.outbox``.

Delivery reports: include ``smsgate.contrib.django.urls`` and give each provider's webhook
secret in ``SMSGATE_WEBHOOK_SECRETS``; every verified report fires
:data:`delivery_report_received`.
"""

from __future__ import annotations

from .conf import get_target, reset_target
from .sending import outbox, send_sms
from .signals import delivery_report_received

__all__ = [
    "delivery_report_received",
    "get_target",
    "outbox",
    "reset_target",
    "send_sms",
]
