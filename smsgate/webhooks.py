"""Delivery reports: verify and normalise the callbacks of SMSOffice.ge, GoSMS.ro and SMSGist.

>>> from smsgate import webhooks
>>> reports = webhooks.parse("smsoffice.ge", query="reference=r1&status=Delivered"
...                          "&destination=995577123456&timestamp=20130501120202")
>>> reports[0].status, reports[0].recipient
(Status.DELIVERED, '+995577123456')

Every failure (a bad or missing signature when a secret is configured, a stale timestamp, a
malformed body) is a :class:`~smsgate.WebhookError`; nothing else is ever raised.

=============  ======================================  ==========================================
provider       how it calls                             how it is verified
=============  ======================================  ==========================================
smsoffice.ge   GET with query parameters (a form body   unsigned: give it a secret URL
               posted to the URL is read too)           (``?token=SECRET``, compared exactly
                                                        when ``secret=`` is set); answer
                                                        exactly ``OK``
gosms.ro       POST JSON                                ``X-Signature``: hex HMAC-SHA256 of the
                                                        raw body with the webhook secret
smsgist        POST JSON                                ``X-SMSGist-Signature: sha256=<hex>`` of
                                                        ``<X-SMSGist-Timestamp>.<raw body>``;
                                                        older than 5 minutes is refused
=============  ======================================  ==========================================
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from ._secrets import get_logger
from .errors import WebhookError
from .models import DeliveryReport, Status
from .phone import try_normalize

__all__ = [
    "MAX_BODY",
    "MAX_DEPTH",
    "PROVIDERS",
    "REPLAY_WINDOW",
    "SMSOFFICE_TIMESTAMP_FORMAT",
    "SMSOFFICE_TIMEZONE",
    "parse",
    "wsgi_app",
]

_log = get_logger("smsgate.webhooks")

#: SMSGist: "reject if older than 5 minutes".
REPLAY_WINDOW: Final = 300.0
#: Largest callback body the WSGI app reads, in bytes (a delivery report is a few hundred);
#: a longer ``Content-Length`` is answered ``413`` without reading the body.
MAX_BODY: Final = 1 << 20
#: Deepest JSON nesting accepted in a callback (a delivery report is two levels deep); deeper
#: is a ``WebhookError``, never a ``RecursionError``.
MAX_DEPTH: Final = 32

#: How smsgate reads SMSOffice.ge's callback ``timestamp``: 24-hour Georgian time.
#:
#: The document says only "timestamp Delivery date in format yyyyMMddhhmmss" (example
#: ``20130501120202``). Two things are not stated, so smsgate assumes them:
#:
#: - the clock: in .NET notation ``hh`` is a 12-hour clock, but the value has no AM/PM marker,
#:   so a 12-hour reading could not tell 08:00 from 20:00. Reading ``HH`` (24-hour) is the only
#:   reading that can represent an afternoon at all, and it agrees with the example either way.
#: - the zone (:data:`SMSOFFICE_TIMEZONE`).
#:
#: The raw value always stays in ``DeliveryReport.raw["timestamp"]``; a value this format
#: cannot read gives ``timestamp=None``.
SMSOFFICE_TIMESTAMP_FORMAT: Final = "%Y%m%d%H%M%S"
#: The zone smsgate assumes for SMSOffice.ge's callback ``timestamp``, which states none:
#: Georgian time, UTC+4 (no daylight saving since 2005), where SMSOffice.ge operates.
SMSOFFICE_TIMEZONE: Final = dt.timezone(dt.timedelta(hours=4), "GET")
#: The former name of :data:`SMSOFFICE_TIMEZONE`, kept working.
GEORGIA: Final = SMSOFFICE_TIMEZONE

Clock = Callable[[], float]
Query = Mapping[str, str] | str | None


def _headers(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> dict[str, str]:
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    problem = duplicate = None
    found: dict[str, str] = {}
    try:
        for key, value in items:
            name, text = str(key).lower(), str(value)
            if name in found and found[name] != text:
                # Which copy a signature check should read is a guess (a proxy in front
                # may read the other): refused, as duplicated parameters are.
                duplicate = name
                break
            found[name] = text
    except (TypeError, ValueError) as exc:
        problem = str(exc)
    except Exception as exc:  # a value whose own __str__ fails: still "not headers"
        problem = f"a name or value could not be read as text ({type(exc).__name__})"
    if problem is not None:
        raise WebhookError(f"headers must be a mapping of names to values: {problem}")
    if duplicate is not None:
        shown = duplicate if _encodes(duplicate) and len(duplicate) <= 64 else "(a header)"
        raise WebhookError(f"the header {shown} is given twice, with different values")
    if not all(_encodes(k) and _encodes(v) for k, v in found.items()):
        # No HTTP header can carry one (a server decodes them as Latin-1); a signature or
        # timestamp holding one would fail to encode halfway through the check.
        raise WebhookError("a header holds a lone surrogate: it is not valid text")
    return found


def _unique(pairs: Iterable[tuple[str, str]], where: str) -> dict[str, str]:
    """``pairs`` as a dict; a name given twice with different values is refused, and
    ``token`` given twice at all.

    Which of two values counts is a guess a forger could exploit: a checker in front that
    reads the first ``token`` and smsgate the last would disagree about what was verified.
    """
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params and (key == "token" or params[key] != value):
            raise WebhookError(f"{key} is given twice in the {where}")
        params[key] = value
    return params


def _query(query: Query) -> dict[str, str]:
    if query is None:
        return {}
    if isinstance(query, str):
        return _unique(urllib.parse.parse_qsl(query.lstrip("?"), keep_blank_values=True),
                       "query string")
    if isinstance(query, Mapping):
        failed = False
        try:
            return {str(k): str(v) for k, v in query.items()}
        except Exception:  # a value whose own __str__ fails
            failed = True
        if failed:
            raise WebhookError("query must map names to text values")
    raise WebhookError("query must be a mapping or a query string")


def _json(body: bytes) -> Any:
    failure = None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        failure = "the callback body is not JSON"
    except RecursionError:  # "[[[[..." deeper than the parser's stack
        failure = f"the callback body is nested deeper than {MAX_DEPTH} levels"
    if failure is not None:
        raise WebhookError(failure)
    if _deeper_than(data, MAX_DEPTH):
        raise WebhookError(f"the callback body is nested deeper than {MAX_DEPTH} levels")
    return data


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether JSON ``data`` nests deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _timestamp(value: object) -> dt.datetime | None:
    """ISO 8601, Unix seconds or ``YYYY-MM-DD HH:MM:SS`` (UTC); anything else is ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()
                                           and len(value) <= 11):
        try:
            return dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


class _Unauthenticated(WebhookError):
    """A signature, token or timestamp check failed (the WSGI app answers 401)."""


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _verify(expected: str, given: str | None, what: str) -> None:
    """A hex digest: compared in constant time; hex case and surrounding spaces do not count."""
    if not given:
        raise _Unauthenticated(f"missing {what}")
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise _Unauthenticated(f"bad {what}")


def _verify_exactly(expected: str, given: str | None, what: str) -> None:
    """A shared secret: compared in constant time, byte for byte (no case folding, no strip):
    a token is not a digest, and any normalisation would accept values that differ from it."""
    if given is None or given == "":
        raise _Unauthenticated(f"missing {what}")
    if not hmac.compare_digest(expected.encode("utf-8", "surrogatepass"),
                               given.encode("utf-8", "surrogatepass")):
        raise _Unauthenticated(f"bad {what}")


# -- SMSOffice.ge ------------------------------------------------------------------------------
_FORM: Final = "application/x-www-form-urlencoded"


def _form(body: bytes) -> dict[str, str]:
    failed = False
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                       errors="strict")
    except UnicodeDecodeError:
        failed = True
    if failed:
        raise WebhookError("the callback body is not a UTF-8 form")
    return _unique(pairs, "form body")


def _smsoffice(body: bytes, headers: dict[str, str], query: dict[str, str],
               secret: str | None, clock: Clock) -> list[DeliveryReport]:
    # A GET with the parameters in the query string. The parameters may also arrive as a
    # form posted to the (secret) URL: then the token is in the query and the rest in the
    # body, and both are read. A body of another declared type is not a form: ignored.
    params = dict(query)
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if body and content_type in ("", _FORM):
        for key, value in _form(body).items():
            if key in params and (key == "token" or params[key] != value):
                raise WebhookError(f"{key} is given twice, in the query and in the form")
            params[key] = value
    if secret is not None:
        _verify_exactly(secret, params.pop("token", None), "token (the callback URL's secret)")
    else:
        params.pop("token", None)
    reference, word = params.get("reference"), params.get("status")
    if not reference or not word:
        raise WebhookError("an SMSOffice.ge callback needs reference and status")
    when = None
    stamp = params.get("timestamp", "")
    if stamp:
        try:
            when = dt.datetime.strptime(stamp, SMSOFFICE_TIMESTAMP_FORMAT).replace(
                tzinfo=SMSOFFICE_TIMEZONE
            )
        except ValueError:
            when = None  # the raw value stays in raw
    reason = params.get("reason") or None
    return [DeliveryReport(
        provider="smsoffice.ge", message_id=reference,
        recipient=try_normalize(params.get("destination"), "GE"),
        status=Status.from_word(word), timestamp=when, error=reason, raw=params,
    )]


# -- GoSMS.ro ----------------------------------------------------------------------------------
def _gosms_ro(body: bytes, headers: dict[str, str], query: dict[str, str],
              secret: str | None, clock: Clock) -> list[DeliveryReport]:
    if secret is not None:
        _verify(_hmac_hex(secret, body), headers.get("x-signature"), "X-Signature")
    data = _json(body)
    items = data if isinstance(data, list) else [data]
    reports = []
    for item in items:
        if not isinstance(item, dict) or "id" not in item or "status" not in item:
            raise WebhookError("a GoSMS.ro callback needs id and status")
        reports.append(DeliveryReport(
            provider="gosms.ro", message_id=str(item["id"]),
            recipient=try_normalize(item.get("recipient") or item.get("phone"), "RO"),
            status=Status.from_word(item["status"]),
            timestamp=_timestamp(item.get("timestamp")),
            error=str(item["error"]) if item.get("error") else None, raw=item,
        ))
    return reports


# -- SMSGist -----------------------------------------------------------------------------------
_SMS_EVENTS: Final = {
    "message.queued": Status.QUEUED,
    "message.sent": Status.SENT,
    "message.delivered": Status.DELIVERED,
    "message.failed": Status.FAILED,
}


def _smsgist(body: bytes, headers: dict[str, str], query: dict[str, str],
             secret: str | None, clock: Clock) -> list[DeliveryReport]:
    if secret is not None:
        stamp = headers.get("x-smsgist-timestamp", "").strip()
        if not stamp:
            raise _Unauthenticated("missing X-SMSGist-Timestamp")
        try:
            sent_at = float(stamp)
        except ValueError:
            raise _Unauthenticated("X-SMSGist-Timestamp is not Unix seconds") from None
        if not abs(clock() - sent_at) <= REPLAY_WINDOW:  # also refuses NaN
            raise _Unauthenticated("stale X-SMSGist-Timestamp (more than 5 minutes off)")
        signature = headers.get("x-smsgist-signature", "").strip()
        if signature and not signature.lower().startswith("sha256="):
            raise _Unauthenticated("bad X-SMSGist-Signature (expected sha256=<hex>)")
        _verify(_hmac_hex(secret, stamp.encode() + b"." + body), signature[7:] or None,
                "X-SMSGist-Signature")
    data = _json(body)
    if not isinstance(data, dict):
        raise WebhookError("an SMSGist callback is a JSON object")
    event = data.get("event")
    if not isinstance(event, str) or not event.startswith("message."):
        raise WebhookError("an SMSGist callback needs an event")
    if event not in _SMS_EVENTS:
        return []  # e-mail events (opened, clicked, bounced...) carry no SMS report
    if not data.get("message_id"):
        raise WebhookError("an SMSGist callback needs message_id")
    word = data.get("status")
    status = Status.from_word(word) if word else _SMS_EVENTS[event]
    error = data.get("error") or data.get("error_message")
    return [DeliveryReport(
        provider="smsgist", message_id=str(data["message_id"]),
        recipient=try_normalize(data.get("recipient"), "GH"), status=status,
        timestamp=_timestamp(data.get("timestamp")),
        error=str(error) if error else None, raw=data,
    )]


Parser = Callable[[bytes, dict[str, str], dict[str, str], "str | None", Clock],
                  list[DeliveryReport]]

#: Providers whose delivery callbacks smsgate understands.
PROVIDERS: Final[Mapping[str, Parser]] = {
    "smsoffice.ge": _smsoffice,
    "gosms.ro": _gosms_ro,
    "smsgist": _smsgist,
}


def parse(
    provider_name: str,
    *,
    body: bytes | str = b"",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    query: Query = None,
    secret: str | None = None,
    clock: Clock = time.time,
) -> list[DeliveryReport]:
    """Verify a delivery callback and return its reports.

    Args:
        provider_name: ``"smsoffice.ge"``, ``"gosms.ro"`` or ``"smsgist"``.
        body: the raw request body, exactly as received (signatures cover these bytes).
        headers: the request headers, any mapping; names match case-insensitively.
        query: the query string, raw or as a mapping.
        secret: the webhook secret; when given, an unsigned or wrongly signed callback is
            refused. GOSMS.GE has no callbacks (poll ``status``).
        clock: Unix time now, for SMSGist's 5-minute window.

    Raises:
        WebhookError: a bad or missing signature, a stale timestamp, a malformed callback.
    """
    parser = PROVIDERS.get(provider_name) if isinstance(provider_name, str) else None
    if parser is None:
        raise WebhookError(
            f"no delivery callbacks for {provider_name!r}; known: {', '.join(PROVIDERS)}"
        )
    if isinstance(body, str):
        if not _encodes(body):
            raise WebhookError("body holds a lone surrogate; pass the raw request bytes")
        body = body.encode("utf-8")
    if not isinstance(body, (bytes, bytearray)):
        raise WebhookError("body must be the raw request bytes")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise WebhookError("secret must be a non-empty string")
    if secret is not None and not _encodes(secret):
        raise WebhookError("secret holds a lone surrogate: it cannot key a signature")
    return parser(bytes(body), _headers(headers), _query(query), secret, clock)


def _read_bounded(stream: Any) -> bytes | None:
    """A terminated input read to its end, or ``None`` once it holds more than MAX_BODY."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY:
        chunk = stream.read(min(65536, MAX_BODY + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(bytes(chunk))
        size += len(chunk)
    return None


def wsgi_app(
    provider_name: str,
    handler: Callable[[DeliveryReport], object],
    secret: str | None = None,
    *,
    clock: Clock = time.time,
) -> Callable[[dict[str, Any], Callable[..., Any]], list[bytes]]:
    """A WSGI application that verifies callbacks and calls ``handler(report)`` for each.

    It answers ``200 OK`` with the body ``OK`` (what SMSOffice.ge requires), ``401`` for a
    signature problem, ``400`` for a malformed callback (a ``Content-Length`` that is not a
    plain number of bytes included), ``413`` for a body over :data:`MAX_BODY` bytes (refused
    from its ``Content-Length``, before reading it) and ``500`` when ``handler`` raises (the
    provider will call again). It never reads more than :data:`MAX_BODY` bytes.
    """
    if provider_name not in PROVIDERS:
        raise WebhookError(f"no delivery callbacks for {provider_name!r}")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        def reply(status: str, text: str) -> list[bytes]:
            payload = text.encode()
            start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                    ("Content-Length", str(len(payload)))])
            return [payload]

        chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        if not environ.get("CONTENT_LENGTH") and chunked and not environ.get(
            "wsgi.input_terminated"
        ):
            # A body whose end the server does not mark cannot be read safely: say so,
            # rather than verify an empty body and answer 401 to a valid callback.
            return reply("411 Length Required", "a chunked body needs a server that "
                         "sets wsgi.input_terminated, or a Content-Length")
        if not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            # A chunked request (no Content-Length): the server marks the input as ending
            # where the body ends (PEP 3333's wsgi.input_terminated), so it is read to its
            # end, bounded by the same limit.
            terminated = _read_bounded(environ["wsgi.input"])
            if terminated is None:
                return reply("413 Payload Too Large", "too large")
            body = terminated
        else:
            declared = str(environ.get("CONTENT_LENGTH") or "0").strip()
            # Digits only: int() would take "-1" (and read(-1) reads until the client hangs
            # up), "+5", "1_000" or " 7 ".
            if not (declared.isascii() and declared.isdigit()):
                return reply("400 Bad Request", "bad Content-Length")
            length = int(declared) if len(declared) <= 20 else MAX_BODY + 1
            if length > MAX_BODY:
                return reply("413 Payload Too Large", "too large")
            body = environ["wsgi.input"].read(length) if length else b""
        headers = {key[5:].replace("_", "-"): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        try:
            reports = parse(provider_name, body=body, headers=headers,
                            query=environ.get("QUERY_STRING", ""), secret=secret, clock=clock)
        except WebhookError as exc:
            _log.warning("%s callback refused: %s", provider_name, exc)
            if isinstance(exc, _Unauthenticated):
                return reply("401 Unauthorized", str(exc))
            return reply("400 Bad Request", str(exc))
        for report in reports:
            try:
                handler(report)
            except Exception:
                _log.exception("%s callback handler failed", provider_name)
                return reply("500 Internal Server Error", "handler failed")
        return reply("200 OK", "OK")

    return app
