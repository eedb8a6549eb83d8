"""SMSGist (Ghana): ``https://api.smsgist.com``.

Wire facts (PROVIDERS.md section 4): JSON with ``X-Client-Id`` and ``Authorization: Bearer
<token>``; every reply is ``{"status": "success"|"error", "message", "data"}``; errors are told
by the HTTP status (400, 401, 402, 422, 429, 500) with no machine-readable code.

The bearer token is "client_secret encrypted with app_secret_key using AES-256"; the cipher
mode, IV, padding and encoding are not public, and no SDK source is available to read them.
smsgate therefore does not build the token: pass a ready ``token``, or a ``token_factory``
that returns one (called for every request, so it may mint fresh tokens).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    InsufficientFunds,
    InvalidRequest,
    ProviderUnavailable,
    RateLimited,
    ValidationError,
)
from ..models import (
    RecipientResult,
    RecipientStatus,
    SendResult,
    Status,
    StatusResult,
    _new_result,
)
from ..phone import try_normalize
from . import (
    DEFAULT_TIMEOUT,
    AuthSpec,
    ErrorSpec,
    HttpProvider,
    HttpRequest,
    HttpResponse,
    Limits,
    Outgoing,
    PhoneFormat,
    Secret,
    Transport,
    as_money,
    as_text,
)

if TYPE_CHECKING:
    import requests

__all__ = ["SmsGist"]

#: SMSGist signals errors by HTTP status only; the table is keyed by it.
SMSGIST_ERRORS: Final[Mapping[int | str, ErrorSpec]] = {
    400: ErrorSpec(InvalidRequest, "Bad request: invalid parameters"),
    401: ErrorSpec(AuthenticationError, "Authentication failed: check X-Client-Id and token"),
    402: ErrorSpec(InsufficientFunds, "Insufficient credits"),
    422: ErrorSpec(InvalidRequest, "Validation error"),
    429: ErrorSpec(RateLimited, "Rate limit exceeded"),
    500: ErrorSpec(ProviderUnavailable, "Server error", retryable=True),
}

#: The REST name of the sender field is not shown in SMSGist's REST examples. The only
#: spelling in its document is ``senderId``, in the Node SDK's object API
#: (``client.sms.send({recipients, message, senderId})``) whose other keys are exactly the REST
#: field names; so smsgate sends ``senderId``. ``SmsGist(sender_field=...)`` changes it.
SENDER_FIELD: Final = "senderId"

#: The fields smsgate writes on a send; the sender field is added per instance.
_OWNED: Final = frozenset({"recipients", "message", "route"})

#: ``delivery_status`` words: "PENDING: Message sent to carrier, waiting for delivery
#: confirmation" is smsgate's ``sent`` (DELIVERED and FAILED are the common words).
_DELIVERY_WORDS: Final[Mapping[str, Status]] = {"pending": Status.SENT}


class SmsGist(HttpProvider):
    """SMSGist, registry name ``smsgist``.

    Args:
        client_id: sent as ``X-Client-Id``.
        token: the bearer token, ready-made.
        token_factory: or a callable returning one, called per request.
        sender_field: the JSON field the sender goes in, ``senderId`` by default (the only
            spelling SMSGist's document shows; see the SMSGist page of the docs).

    Every send carries an ``X-Idempotency-Key`` (yours, or a generated UUID) recorded on the
    result: "if a request with the same key was already processed within 24 hours, the
    original response is returned without re-sending", so a send whose outcome is unknown can
    be repeated with the same key safely.
    """

    name: ClassVar[str] = "smsgist"
    default_base_url: ClassVar[str] = "https://api.smsgist.com"
    home_region = "GH"
    allowed_regions: ClassVar[frozenset[str] | None] = frozenset({"GH"})
    phone_format: ClassVar[PhoneFormat] = PhoneFormat.E164
    capabilities = frozenset({"bulk", "status", "retry", "idempotency", "priority"})
    # "max 1,530 characters", "10 segments"; sender "up to 11 alphanumeric characters"
    # (the docs' own example "ACME Corp" has a space). No per-request recipient limit is
    # documented, so a list goes in one request under one idempotency key.
    limits: ClassVar[Limits] = Limits(
        max_chars=1530, max_segments=10, max_sender_length=11,
        sender_pattern=r"[A-Za-z0-9 ]+", bulk_size=None,
    )
    auth: ClassVar[tuple[AuthSpec, ...]] = (
        AuthSpec("header", "X-Client-Id", "client_id"),
        AuthSpec("header", "Authorization", "token", prefix="Bearer "),
    )
    error_table: ClassVar[Mapping[int | str, ErrorSpec]] = SMSGIST_ERRORS
    error_code_heading: ClassVar[str] = "HTTP status"
    url_credentials: ClassVar[Mapping[str, str]] = {"user": "client_id", "password": "token"}

    def __init__(
        self,
        client_id: str,
        token: str | None = None,
        *,
        token_factory: Callable[[], str] | None = None,
        sender: str | None = None,
        sender_field: str = SENDER_FIELD,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        transport: Transport | None = None,
        key: str | None = None,
    ) -> None:
        if not isinstance(client_id, str) or not client_id.strip():
            raise ConfigurationError("smsgist: client_id is required")
        if (
            not isinstance(sender_field, str)
            or not sender_field.strip()
            or sender_field != sender_field.strip()
            or sender_field.casefold() in {f.casefold() for f in _OWNED}
        ):
            raise ConfigurationError(
                f"smsgist: sender_field must be a field name other than "
                f"{', '.join(sorted(_OWNED))}, not {sender_field!r}"
            )
        self.sender_field = sender_field
        self.owned_fields = _OWNED | {sender_field}
        if (token is None) == (token_factory is None):
            raise ConfigurationError(
                "smsgist: give exactly one of token= or token_factory= (the AES-256 token "
                "recipe is not public; see the SMSGist page of the docs)"
            )
        if token_factory is not None and not callable(token_factory):
            raise ConfigurationError("smsgist: token_factory must be callable")
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise ConfigurationError("smsgist: token must be a non-empty string")
        self._token_factory = token_factory
        credentials = {"client_id": Secret(client_id)}
        if token is not None:
            credentials["token"] = Secret(token)
        super().__init__(
            credentials=credentials, sender=sender, base_url=base_url, timeout=timeout,
            session=session, transport=transport, key=key,
        )

    def _credentials_from_factories(self) -> set[str]:
        return {"token"} if self._token_factory is not None else set()

    def _credential(self, name: str) -> Secret:
        if name == "token" and self._token_factory is not None:
            token = self._token_factory()
            if not isinstance(token, str) or not token.strip():
                raise ConfigurationError("smsgist: token_factory returned no token")
            # A fresh token per request: scrubbed while recent, then forgotten (bounded).
            return Secret(token, transient=True)
        return super()._credential(name)

    # -- send ------------------------------------------------------------------------------
    def complete_send(self, outgoing: Outgoing) -> Outgoing:
        if outgoing.idempotency_key is None:
            return attrs.evolve(outgoing, idempotency_key=uuid.uuid4().hex)
        return outgoing

    def build_send(self, outgoing: Outgoing) -> HttpRequest:
        body: dict[str, Any] = {
            "recipients": list(outgoing.wire_numbers),
            "message": outgoing.text,
            "route": "otp" if outgoing.priority else "regular",
        }
        if outgoing.sender:
            body[self.sender_field] = outgoing.sender
        body.update(outgoing.extra)
        return self.new_request(
            "POST", "/api/sms/send", "send", json=body,
            headers={"X-Idempotency-Key": outgoing.idempotency_key or ""},
            sends_message=True, idempotent=True,
        )

    def parse_send(self, reply: HttpResponse, body: Any, outgoing: Outgoing) -> SendResult:
        data = self._data(reply, body)
        message_id = as_text(data.get("message_id"))
        if message_id is None:
            raise self.invalid_reply(reply, "send reply without data.message_id")
        return _send_result(self.name, data, message_id, outgoing.recipients,
                            outgoing.idempotency_key, body)

    # -- status and retry ------------------------------------------------------------------
    def build_status(self, message_id: str, recipient: str | None) -> HttpRequest:
        return self.new_request("GET", f"/api/message/{_path(message_id)}/status", "status")

    def parse_status(
        self, reply: HttpResponse, body: Any, message_id: str, recipient: str | None
    ) -> StatusResult:
        data = self._data(reply, body)
        if data.get("message_id") is not None and as_text(data["message_id"]) is None:
            raise self.invalid_reply(reply, "status reply with a message_id that is not an id")
        recipients = []
        items = data.get("recipients")
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            phone = as_text(item.get("recipient"))
            recipients.append(RecipientStatus(
                phone=try_normalize(phone, "GH") if phone else None,
                status=_recipient_status(item),
                error=as_text(item.get("error_message")),
                time=_when(item.get("delivered_at")),
            ))
        if recipient is not None:
            recipients = [r for r in recipients if r.phone == recipient]
        return StatusResult(
            provider=self.name,
            message_id=as_text(data.get("message_id")) or message_id,
            status=Status.from_word(data.get("status")),
            recipients=recipients,
            raw=body,
        )

    def retry(self, message_id: str) -> SendResult:
        """Re-send to the failed recipients of ``message_id``; returns the new message.

        Only failed recipients are re-sent and charged. The result's ``message_id`` is the new
        id; it lists no recipients (the reply gives only their count, in ``raw``).
        """
        if not isinstance(message_id, str) or not message_id.strip():
            raise ValidationError("message_id must be a non-empty string")
        result: SendResult = self.run_operation("retry", message_id)
        return result

    def build_retry(self, message_id: str) -> HttpRequest:
        return self.new_request("POST", f"/api/message/{_path(message_id)}/retry", "retry",
                                json={}, sends_message=True)

    def parse_retry(self, reply: HttpResponse, body: Any, message_id: str) -> SendResult:
        data = self._data(reply, body)
        new_id = as_text(data.get("message_id"))
        if new_id is None:
            raise self.invalid_reply(reply, "retry reply without data.message_id")
        return _send_result(self.name, data, new_id, (), None, body)

    def _data(self, reply: HttpResponse, body: Any) -> dict[str, Any]:
        """The ``data`` object of an envelope that says ``"status": "success"``.

        A success is stated, not inferred: a 2xx reply whose envelope does not say
        ``success`` is :class:`InvalidResponse` (for a send: it may have been sent).
        """
        envelope = self.json_object(reply, body)
        data = envelope.get("data")
        if envelope.get("status") != "success" or not isinstance(data, dict):
            raise self.invalid_reply(reply, 'reply does not state "status": "success" with data')
        return data

    # -- errors ----------------------------------------------------------------------------
    def find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        message = str(body.get("message") or "") if isinstance(body, dict) else ""
        if reply.status >= 400:
            return reply.status, message
        if isinstance(body, dict) and body.get("status") == "error":
            return None, message or "the provider reported status: error"
        return None


def _recipient_status(item: Mapping[str, Any]) -> Status:
    """One recipient of a status reply: ``send_status`` (sent/failed) and ``delivery_status``
    (DELIVERED / PENDING / FAILED, "PENDING: Message sent to carrier, waiting for delivery
    confirmation"). A failed send wins; a delivery word smsgate does not know falls back to
    the send word (a recipient not yet sent is not "sent")."""
    send_word = item.get("send_status")
    if isinstance(send_word, str) and send_word.strip().lower() == "failed":
        return Status.FAILED
    status = Status.from_word(item.get("delivery_status"), _DELIVERY_WORDS)
    if status is Status.UNKNOWN:
        return Status.from_word(send_word)
    return status


def _send_result(
    provider: str, data: dict[str, Any], message_id: str, recipients: tuple[str, ...],
    idempotency_key: str | None, raw: Any,
) -> SendResult:
    listed: dict[str, dict[str, Any]] = {}
    items = data.get("recipients")
    for item in items if isinstance(items, list) else []:
        phone = try_normalize(item.get("recipient"), "GH") if isinstance(item, dict) else None
        if phone is not None:
            listed[phone] = item
    results = []
    for phone in recipients:
        item = listed.get(phone) if listed else {}
        error = None if item is None else as_text(
            item.get("error") or item.get("error_message")
        )
        if item is None:
            results.append(RecipientResult(phone=phone, status=Status.UNKNOWN,
                                           error="not in the provider's reply"))
        elif error:
            # "If a number is invalid, it will appear in the response with an error."
            results.append(RecipientResult(phone=phone, status=Status.REJECTED, error=error))
        else:
            results.append(RecipientResult(phone=phone, status=Status.QUEUED,
                                           message_id=message_id))
    segments = data.get("segments")
    return _new_result(
        provider=provider,
        message_id=message_id,
        recipients=results,
        segments=segments if isinstance(segments, int) and not isinstance(segments, bool)
        else None,
        cost=as_money(data.get("total_cost")),
        currency="GHS",
        idempotency_key=idempotency_key,
        raw=raw,
    )


def _path(message_id: str) -> str:
    """``message_id`` as one path segment of ``/api/message/{id}/...``.

    Quoted with no safe characters (a ``/``, ``?`` or ``#`` cannot leave the segment), and
    ``.``/``..``, which quoting leaves as they are and a URL resolver would walk, are refused
    before any request, as is an id that cannot be written in UTF-8.
    """
    segment = message_id.strip()
    if segment in ("", ".", ".."):
        raise ValidationError(f"message_id {message_id!r} is not a message id")
    try:
        return urllib.parse.quote(segment, safe="", encoding="utf-8", errors="strict")
    except UnicodeEncodeError:
        raise ValidationError("message_id must be text that UTF-8 can encode") from None


def _when(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
