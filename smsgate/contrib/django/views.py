"""Delivery-report webhooks: one CSRF-exempt view, verified, replay-proof, one signal each.

Mount it with ``path("sms/webhooks/", include("smsgate.contrib.django.urls"))``; the
providers then call ``/sms/webhooks/<provider>/`` (``gosms.ro``, ``smsgist``,
``smsoffice.ge``). Each callback is verified by :func:`smsgate.webhooks.parse` with the
provider's secret from ``SMSGATE_WEBHOOK_SECRETS`` (a signature, or SMSOffice.ge's secret URL
token), then every report it holds is sent as :data:`delivery_report_received`.

Answers: ``200 OK`` (body ``OK``, what SMSOffice.ge requires); ``403`` for a signature or
token problem, for a provider with no secret configured (an unverifiable callback is never
believed) and for a callback already processed (a replay); ``400`` for a malformed one;
``404`` for a provider without callbacks; ``413`` for a body over
:data:`smsgate.webhooks.MAX_BODY`; ``500`` when a signal receiver raises (the provider calls
again, and that call is not taken for a replay).

Replays: a signature stays valid for as long as its timestamp is fresh (five minutes for
SMSGist; for ever where the provider signs no time), so a captured callback could be posted
again. The view remembers a digest of every callback it processed in the Django cache named by
``SMSGATE_WEBHOOK_REPLAY_CACHE`` (``"default"``) for a day, and refuses a second one. Use a
cache shared by all web workers (Redis, Memcached, the database) in production; the local
memory cache protects one process only.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ... import webhooks
from ...errors import WebhookError
from ...webhooks import _Unauthenticated
from .conf import webhook_secret
from .signals import delivery_report_received

__all__ = ["REPLAY_KEEP", "delivery_report"]

_log = logging.getLogger("smsgate.contrib.django")

#: Seconds a processed callback is remembered (and a copy of it refused).
REPLAY_KEEP = 86_400


def _text(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def _digest(provider: str, request: HttpRequest, body: bytes) -> str:
    seen = hashlib.sha256()
    for part in (provider.encode(), request.META.get("QUERY_STRING", "").encode("latin-1"),
                 body):
        seen.update(len(part).to_bytes(8, "big"))
        seen.update(part)
    return f"smsgate:webhook:{seen.hexdigest()}"


@csrf_exempt
@require_http_methods(["GET", "POST"])
def delivery_report(request: HttpRequest, provider: str) -> HttpResponse:
    """Verify one provider callback and send :data:`delivery_report_received` per report."""
    if provider not in webhooks.PROVIDERS:
        return _text(404, "no delivery callbacks for this provider")
    secret = webhook_secret(provider)
    if secret is None:
        _log.warning("%s callback refused: no secret in SMSGATE_WEBHOOK_SECRETS", provider)
        return _text(403, "no webhook secret configured")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > webhooks.MAX_BODY:
        return _text(413, "too large")
    body = request.body
    if len(body) > webhooks.MAX_BODY:
        return _text(413, "too large")
    try:
        reports = webhooks.parse(provider, body=body, headers=dict(request.headers),
                                 query=request.META.get("QUERY_STRING", ""), secret=secret)
    except WebhookError as exc:
        _log.warning("%s callback refused: %s", provider, exc)
        return _text(403 if isinstance(exc, _Unauthenticated) else 400, str(exc))
    cache = caches[getattr(settings, "SMSGATE_WEBHOOK_REPLAY_CACHE", "default")]
    key = _digest(provider, request, body)
    if not cache.add(key, 1, timeout=REPLAY_KEEP):
        _log.warning("%s callback refused: already processed (a replay)", provider)
        return _text(403, "already processed")
    try:
        for report in reports:
            delivery_report_received.send(sender=provider, report=report)
    except Exception:
        cache.delete(key)  # not processed: the provider's next call must be taken
        _log.exception("%s callback: a delivery_report_received receiver failed", provider)
        return _text(500, "handler failed")
    return _text(200, "OK")
