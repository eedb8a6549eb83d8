"""A sample Django project for the integration's tests, configured before collection.

pytest-django finds the settings configured here and sets up the test environment (test
database on SQLite in memory) for the tests that ask for it.
"""

from __future__ import annotations

import pytest

django = pytest.importorskip("django", reason='Django is not installed: pip install -e ".[dev]"')

from django.conf import settings  # noqa: E402

try:  # Django 6's own tasks framework, else its backport (Django 5.2)
    import django.tasks

    _TASKS_BACKEND = "django.tasks.backends.immediate.ImmediateBackend"
except ImportError:
    _TASKS_BACKEND = "django_tasks.backends.immediate.ImmediateBackend"

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["django.contrib.contenttypes", "smsgate.contrib.django"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        ROOT_URLCONF="tests.django.urls",
        USE_TZ=True,
        SMSGATE="memory://",
        SMSGATE_WEBHOOK_SECRETS={"gosms.ro": "ro-webhook-secret",
                                 "smsgist": "gist-webhook-secret",
                                 "smsoffice.ge": "office-url-token"},
        TASKS={"default": {"BACKEND": _TASKS_BACKEND}},
    )
    django.setup()
