"""Reading ``settings.SMSGATE`` into one provider or gateway, built once and reused.

The target is built on first use and kept (its connection pool is worth keeping); a change of
the settings (``override_settings``, pytest-django's ``settings`` fixture) drops it, so that
tests can point the app at a sandbox or a memory provider.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from ... import config
from ..._protocol import SmsProvider
from ...errors import ConfigurationError

__all__ = ["get_target", "reset_target", "webhook_secret"]

_lock = threading.Lock()
_target: SmsProvider | None = None

#: The settings this app reads.
SETTINGS = ("SMSGATE", "SMSGATE_WEBHOOK_SECRETS", "SMSGATE_WEBHOOK_REPLAY_CACHE")


def _build(source: Any) -> SmsProvider:
    if isinstance(source, str):
        if "://" in source:
            return config.from_url(source)
        return config.from_config(source)
    if isinstance(source, os.PathLike):
        return config.from_config(source)
    if isinstance(source, Mapping):
        return config.from_config(source)
    raise ConfigurationError(
        "settings.SMSGATE must be a provider URL (\"gosms.ge://KEY@\"), the path of a TOML "
        f"file or a dict of the same shape, not {type(source).__name__}"
    )


def get_target() -> SmsProvider:
    """The provider or gateway ``settings.SMSGATE`` describes (built once, then reused).

    Raises:
        ConfigurationError: ``SMSGATE`` is missing or wrong (the message names the part).
    """
    global _target
    with _lock:
        if _target is None:
            source = getattr(settings, "SMSGATE", None)
            if source is None:
                raise ConfigurationError(
                    "settings.SMSGATE is not set: give a provider URL such as "
                    "\"gosms.ge://API_KEY@?sender=Brand\" (\"memory://\" in tests)"
                )
            built = _build(source)
            from .sending import adopt

            adopt(built)
            _target = built
        return _target


def reset_target() -> None:
    """Close and forget the built target; the next send builds it again from settings."""
    global _target
    with _lock:
        target, _target = _target, None
    if target is not None:
        target.close()


def webhook_secret(provider: str) -> str | None:
    """The webhook secret configured for ``provider`` in ``SMSGATE_WEBHOOK_SECRETS``."""
    secrets = getattr(settings, "SMSGATE_WEBHOOK_SECRETS", None) or {}
    if not isinstance(secrets, Mapping):
        raise ConfigurationError("settings.SMSGATE_WEBHOOK_SECRETS must be a dict "
                                 "{provider name: secret}")
    secret = secrets.get(provider)
    return secret if isinstance(secret, str) and secret else None


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting in SETTINGS:
        reset_target()


setting_changed.connect(_on_setting_changed, dispatch_uid="smsgate-settings")
