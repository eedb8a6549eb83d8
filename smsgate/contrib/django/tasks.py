"""A task for Django's tasks framework: ``django.tasks`` (Django 6.0 and later) or its
backport ``django_tasks`` (``pip install django-tasks``, for Django 5.2), whichever is there.

``send_sms_task.enqueue(to, text, idempotency_key=...)`` sends in the task backend's worker.
Its arguments must be JSON: pass ``schedule_at`` as an ISO 8601 string and ``validity`` as
seconds. :func:`enqueue_sms` mints the idempotency key at enqueue time, so that a task run
twice by its backend is sent once by providers that deduplicate by key.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport of the same framework
    from django_tasks import task  # type: ignore[no-redef,unused-ignore]

from .conf import get_target
from .sending import send_sms

__all__ = ["enqueue_sms", "send_sms_task"]


def _decoded(options: dict[str, Any]) -> dict[str, Any]:
    decoded = dict(options)
    if isinstance(decoded.get("schedule_at"), str):
        decoded["schedule_at"] = dt.datetime.fromisoformat(decoded["schedule_at"])
    if isinstance(decoded.get("validity"), (int, float)):
        decoded["validity"] = dt.timedelta(seconds=decoded["validity"])
    return decoded


@task()
def send_sms_task(to: str | list[str], text: str, **options: Any) -> dict[str, Any]:
    """Send, and return what a task result can hold: the provider, id and per-number state."""
    result = send_sms(to, text, **_decoded(options))
    assert result is not None
    return {
        "provider": result.provider,
        "message_id": result.message_id,
        "idempotency_key": result.idempotency_key,
        "recipients": [{"phone": r.phone, "status": r.status.value} for r in result.recipients],
    }


def enqueue_sms(to: str | Sequence[str], text: str, **options: Any) -> Any:
    """Enqueue :data:`send_sms_task` with an idempotency key minted now (unless given)."""
    if "idempotency" in get_target().capabilities:
        options.setdefault("idempotency_key", uuid.uuid4().hex)
    if isinstance(options.get("schedule_at"), dt.datetime):
        options["schedule_at"] = options["schedule_at"].isoformat()
    if isinstance(options.get("validity"), dt.timedelta):
        options["validity"] = options["validity"].total_seconds()
    recipients = to if isinstance(to, str) else list(to)
    return send_sms_task.enqueue(recipients, text, **options)
