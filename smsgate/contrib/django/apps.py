"""The Django application: ``INSTALLED_APPS = [..., "smsgate.contrib.django"]``."""

from __future__ import annotations

from django.apps import AppConfig


class SmsgateConfig(AppConfig):
    """Registers smsgate's system checks (settings are read on first use, not here)."""

    name = "smsgate.contrib.django"
    label = "smsgate"
    verbose_name = "smsgate"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the checks
