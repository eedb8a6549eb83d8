"""``path("sms/webhooks/", include("smsgate.contrib.django.urls"))``."""

from __future__ import annotations

from django.urls import path

from .views import delivery_report

app_name = "smsgate"
urlpatterns = [
    path("<str:provider>/", delivery_report, name="delivery-report"),
]
