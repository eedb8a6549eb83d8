"""System checks: a missing or unreadable ``SMSGATE`` shows in ``manage.py check``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from ...errors import ConfigurationError


@register()
def check_settings(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Build the target once, so that a wrong setting fails ``check``, not the first send."""
    from .conf import get_target, webhook_secret

    problems: list[CheckMessage] = []
    if getattr(settings, "SMSGATE", None) is None:
        return [Error("settings.SMSGATE is not set",
                      hint='a provider URL such as "gosms.ge://API_KEY@?sender=Brand", the '
                           'path of a TOML file, or a dict ("memory://" in tests)',
                      id="smsgate.E001")]
    try:
        get_target()
    except ConfigurationError as exc:
        problems.append(Error(f"settings.SMSGATE: {exc}", id="smsgate.E002"))
    try:
        webhook_secret("")
    except ConfigurationError as exc:
        problems.append(Warning(str(exc), id="smsgate.W001"))
    return problems
