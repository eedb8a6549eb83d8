"""The shared base of every provider: declarations in, one interpretation of them.

An adapter is mostly data: its endpoints' request builders and reply parsers, where the
credential goes, how numbers are written, its limits, its capabilities and its error table.
:class:`ProviderBase` validates input against those declarations before any I/O;
:class:`HttpProvider` adds the HTTP exchange, the reading of error replies and the merging of
chunked sends. Adapters never sleep, retry or fail over: that is the Gateway's job.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal, TypeVar

import attrs
import requests

from .._http import DEFAULT_TIMEOUT, AuthParam, HttpRequest, HttpResponse, Transport
from .._merge import merge_results
from .._provider import (
    Limits,
    Outgoing,
    ProviderBase,
    _check_timeout,
    is_blank,
)
from .._secrets import Secret, get_logger, header_problem
from .._unexpected import carry_key as _carry_key
from .._unexpected import detach_error, unexpected, without_locals
from .._urls import check_base_url
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    InsufficientFunds,
    InvalidRequest,
    InvalidResponse,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    ValidationError,
)
from ..models import Attempt, Balance, RateLimit, RecipientResult, SendResult, Status, StatusResult
from ..phone import (
    format_phone,
    mask_phone,
)

__all__ = [
    "ApiKeyProvider",
    "AuthSpec",
    "ErrorSpec",
    "HttpProvider",
    "Limits",
    "Outgoing",
    "ProviderBase",
    "as_money",
    "as_text",
    "detach_error",
    "first_present",
    "is_blank",
    "iter_errors",
    "parse_rate_limit",
    "parse_retry_after",
    "read_code",
    "without_locals",
]

_log = get_logger("smsgate.providers")
_T = TypeVar("_T")



@attrs.frozen
class ErrorSpec:
    """How one provider error code maps onto the smsgate tree.

    Attributes:
        error: the exception class raised.
        description: the provider's own wording.
        retryable: overrides the class default when set.
        source: ``"documented"`` (the provider's docs or official SDK) or ``"third-party"``.
        outcome: what the code says about the message. ``"refused"`` (the default): the
            provider said no, so nothing was sent. ``"unknown"``: the code does not say
            whether the message went out (SMSOffice.ge's -100, "Temporary delay", and nothing
            more), so the error says ``may_have_sent=True`` for a send and names the send's
            handle, to be settled by a status lookup instead of a blind resend.
    """

    error: type[ProviderError]
    description: str
    retryable: bool | None = None
    source: Literal["documented", "third-party"] = "documented"
    outcome: Literal["refused", "unknown"] = "refused"


@attrs.frozen
class AuthSpec:
    """Where a credential goes: a header, the query string, the JSON body, or ``param``
    (the query string of a GET, the form of a POST)."""

    location: Literal["header", "query", "body", "param"]
    name: str
    credential: str
    prefix: str = ""



# Replies whose status alone says what happened, when the body does not say more.
_HTTP_STATUS_ERRORS: Final[Mapping[int, type[ProviderError]]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    402: InsufficientFunds,
    403: AuthenticationError,
    404: NotFound,
    405: InvalidRequest,
    413: InvalidRequest,
    415: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
}
# Answers of a proxy or CDN in front of the provider after the request went on to it: the
# provider itself may have processed the request, so these 5xx answers leave the outcome open.
#   502 bad gateway, 504 gateway timeout: the proxy's reading of the provider's reply failed;
#   520 (Cloudflare) "the origin returned an empty, unknown or unexpected response";
#   524 (Cloudflare) "connected to the origin, but the origin did not reply in time";
#   527 (Cloudflare Railgun) the link to the origin broke, possibly after the request;
#   530 (Cloudflare, with a 1xxx code) covers several causes, not all before the origin;
#   598 (some proxies) network read timeout, after the request was forwarded.
# Left out on purpose, because the proxy says it never reached the provider: 521 (origin
# refused the connection), 522 (connect to the origin timed out), 523 (origin unreachable),
# 525 (TLS handshake with the origin failed), 526 (invalid origin certificate). Where the
# proxy's wording is silent (530), the reading that cannot duplicate is "may have sent".
_GATEWAY_STATUSES: Final = frozenset({502, 504, 520, 524, 527, 530, 598})


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), or ``None``."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - dt.datetime.now(dt.timezone.utc)).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN guard


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``Retry-After``, if any is there."""

    def integer(name: str) -> int | None:
        try:
            return int(headers[name].strip())
        except (KeyError, ValueError):
            return None

    limit, remaining = integer("X-RateLimit-Limit"), integer("X-RateLimit-Remaining")
    retry_after = parse_retry_after(headers)
    if limit is None and remaining is None and retry_after is None:
        return None
    return RateLimit(limit=limit, remaining=remaining, retry_after=retry_after)


class HttpProvider(ProviderBase):
    """A provider reached over HTTP: adapters subclass this and declare their wire.

    Subclasses declare :attr:`default_base_url`, :attr:`auth` and :attr:`error_table`, and
    implement the request builders and reply parsers (``_send_request``/``_parse_send`` and,
    where supported, ``_status_request``/``_parse_status`` and
    ``_balance_request``/``_parse_balance``), plus :meth:`_find_error`, which reads an error
    out of a reply whatever its HTTP status.
    """

    #: The provider's production base URL.
    default_base_url: ClassVar[str]
    #: Where each credential goes.
    auth: ClassVar[tuple[AuthSpec, ...]] = ()
    #: Provider error code -> smsgate error. Tested as data: every documented code is here.
    error_table: ClassVar[Mapping[int | str, ErrorSpec]] = {}
    #: Provider status words (lower case) -> Status, beyond the common vocabulary.
    status_words: ClassVar[Mapping[str, Status]] = {}
    #: The wire fields smsgate writes itself on a send (credentials, recipients, text,
    #: sender, reference and the fields of its own options). ``extra`` may not name one of
    #: them, compared case-insensitively: a raw field must never silently replace what the
    #: caller asked for through smsgate's own parameters, so such a send is refused with a
    #: ``ValidationError`` before any request.
    owned_fields: frozenset[str] = frozenset()
    #: The request field that carries a send's own handle (SMSOffice.ge's ``reference``),
    #: named in errors whose outcome is unknown so that the caller can look the send up.
    handle_field: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        credentials: Mapping[str, Secret],
        sender: str | None = None,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(sender=sender)
        available = set(credentials) | self._credentials_from_factories()
        for spec in self.auth:
            if spec.credential not in available:
                raise ConfigurationError(f"{self.name}: missing credential {spec.credential!r}")
        for key, secret in credentials.items():
            if not isinstance(secret, Secret) or not secret.reveal().strip():
                raise ConfigurationError(f"{self.name}: {key} must be a non-empty string")
        for spec in self.auth:
            stored = credentials.get(spec.credential)
            if spec.location == "header" and stored is not None:
                # Refused now rather than at the first send, where http.client would raise
                # an error quoting the value. The message names the credential, not its value.
                problem = header_problem(spec.prefix + stored.reveal())
                if problem is not None:
                    raise ConfigurationError(
                        f"{self.name}: {spec.credential} cannot be sent in the {spec.name} "
                        f"header: {problem}"
                    )
        url = check_base_url(base_url if base_url is not None else self.default_base_url,
                             self.name)
        if session is not None and not isinstance(session, requests.Session):
            raise ConfigurationError("session must be a requests.Session")
        self._credentials = dict(credentials)
        self.base_url = url.rstrip("/")
        self.timeout = _check_timeout(timeout)
        self._transport = Transport(
            provider=self.name, base_url=self.base_url, timeout=self.timeout, session=session
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(sender={getattr(self, 'sender', None)!r}, "
            f"base_url={getattr(self, 'base_url', None)!r})"
        )

    def close(self) -> None:
        self._transport.close()

    # -- the SmsProvider protocol ----------------------------------------------------------
    def _deliver(self, outgoing: Outgoing) -> SendResult:
        """Send a validated message over HTTP.

        A list larger than the provider's per-request limit goes out in chunks, merged into
        one result in input order. If a later chunk fails, the result reports its recipients
        as :attr:`Status.UNKNOWN` (the request may have been sent) or :attr:`Status.REJECTED`
        (it was not), the chunks after it as :attr:`Status.REJECTED` (not attempted), and
        ``ok`` is ``False``; an error in the first chunk is raised as is.
        """
        self._check_owned_fields(outgoing.extra)
        outgoing = self._complete(outgoing)
        attempts: list[Attempt] = []
        parts: list[SendResult] = []
        chunks = outgoing.chunks(self.limits.bulk_size)
        for index, chunk in enumerate(chunks):
            requested = False
            try:
                request = self._send_request(chunk)
                requested = True
                reply, body = self._exchange(request, attempts)
                parts.append(self._parsing(request, self._parse_send, reply, body, chunk))
            except Exception as exc:
                if index == 0:
                    _carry_key(exc, chunk.idempotency_key)
                    raise
                # A later chunk's failure must not discard the chunks already accepted. Any
                # other exception (an adapter's or a token factory's bug) may have followed a
                # request, unless the request was never built.
                error = exc if isinstance(exc, (ProviderError, ValidationError)) else unexpected(
                    self.name, exc, may_have_sent=requested)
                parts.append(_failed_part(self.name, chunk, error, chunks[index + 1 :]))
                break
        result = _merge(self.name, parts, attempts, outgoing)
        if _log.isEnabledFor(logging.INFO):  # masking numbers is not free: only when logged
            _log.info(
                "%s: send to %d recipient(s) %s: %d accepted, id %s",
                self.name,
                len(outgoing.recipients),
                ", ".join(mask_phone(n) for n in outgoing.recipients[:3])
                + (", ..." if len(outgoing.recipients) > 3 else ""),
                sum(r.accepted for r in result.recipients),
                result.message_id,
            )
        return result

    def status(self, message_id: str, *, recipient: str | None = None) -> StatusResult:
        """Delivery status of a sent message (``recipient`` where the provider needs it)."""
        self._require("status", "status lookups")
        if not isinstance(message_id, str) or not message_id.strip():
            raise ValidationError("message_id must be a non-empty string")
        e164 = wire_recipient = None
        if recipient is not None:
            (e164,) = self._normalize_recipients(recipient)
            wire_recipient = format_phone(e164, self.phone_format, self.home_region)
        request = self._status_request(message_id, wire_recipient)
        reply, body = self._exchange(request, [])
        return self._parsing(request, self._parse_status, reply, body, message_id, e164)

    def balance(self) -> Balance:
        """Credit left at the provider."""
        self._require("balance", "balance lookups")
        request = self._balance_request()
        reply, body = self._exchange(request, [])
        return self._parsing(request, self._parse_balance, reply, body)

    def _check_owned_fields(self, extra: Mapping[str, Any]) -> None:
        """Refuse ``extra`` fields that would replace a field smsgate writes itself."""
        if any(not isinstance(key, str) for key in extra):
            raise ValidationError("extra field names must be strings")
        owned = {field.casefold(): field for field in self.owned_fields}
        clashes = sorted(owned[key.casefold()] for key in extra if key.casefold() in owned)
        if clashes:
            raise ValidationError(
                f"{self.name}: extra may not set {', '.join(clashes)}: smsgate writes "
                "these fields from its own parameters (to, text, sender, reference, the "
                "credentials and the send options); use those instead"
            )

    # -- hooks for adapters ----------------------------------------------------------------
    def _complete(self, outgoing: Outgoing) -> Outgoing:
        """Fill provider defaults into a validated send (a generated reference or key)."""
        return outgoing

    def _send_request(self, outgoing: Outgoing) -> HttpRequest:
        raise NotImplementedError  # pragma: no cover - every adapter implements it

    def _parse_send(self, reply: HttpResponse, body: Any, outgoing: Outgoing) -> SendResult:
        raise NotImplementedError  # pragma: no cover

    def _status_request(self, message_id: str, recipient: str | None) -> HttpRequest:
        raise NotImplementedError  # pragma: no cover - guarded by the "status" capability

    def _parse_status(
        self, reply: HttpResponse, body: Any, message_id: str, recipient: str | None
    ) -> StatusResult:
        """Read a status reply; ``recipient`` is the E.164 number asked about, if any."""
        raise NotImplementedError  # pragma: no cover

    def _balance_request(self) -> HttpRequest:
        raise NotImplementedError  # pragma: no cover - guarded by the "balance" capability

    def _parse_balance(self, reply: HttpResponse, body: Any) -> Balance:
        raise NotImplementedError  # pragma: no cover

    def _find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        """``(code, message)`` when the reply is an error, whatever its HTTP status.

        The default reads nothing from the body; the HTTP status then decides.
        """
        return None

    # -- the machinery ---------------------------------------------------------------------
    def _request(
        self,
        method: Literal["GET", "POST"],
        path: str,
        operation: str,
        **fields: Any,
    ) -> HttpRequest:
        """An :class:`HttpRequest` with this provider's credentials placed as declared."""
        auth = tuple(
            AuthParam(
                location=spec.location,
                name=spec.name,
                value=self._credential(spec.credential),
                prefix=spec.prefix,
            )
            for spec in self.auth
        )
        return HttpRequest(method=method, path=path, operation=operation, auth=auth, **fields)

    def _credential(self, name: str) -> Secret:
        return self._credentials[name]

    def _credentials_from_factories(self) -> set[str]:
        """Credentials that :meth:`_credential` produces per request instead of storing."""
        return set()

    def _exchange(self, request: HttpRequest, attempts: list[Attempt]) -> tuple[HttpResponse, Any]:
        """Perform ``request`` and return ``(reply, parsed JSON or None)``; raise its error."""
        started = time.monotonic()
        try:
            reply = self._transport.perform(request)
        except ProviderError as failure:
            attempts.append(
                Attempt(
                    provider=self.name,
                    operation=request.operation,
                    elapsed=time.monotonic() - started,
                    error=type(failure).__name__,
                )
            )
            raise
        unreadable: str | None = None
        try:
            body = _json_or_none(reply.content)
            refusal = self._error_from(reply, body, request)
        except Exception as exc:
            # The request went out: whatever the reply does to a reader (an error code too
            # long for int(), nesting too deep to walk), the answer is "unreadable", never a
            # raw exception a caller could take for "nothing happened" and resend.
            unreadable = type(exc).__name__
        if unreadable is not None:
            refusal = self._invalid(
                reply, f"unreadable reply ({unreadable})", sends_message=request.sends_message
            )
            refusal.retryable = request.idempotent or not request.sends_message
            body = None
        attempts.append(
            Attempt(
                provider=self.name,
                operation=request.operation,
                elapsed=reply.elapsed,
                http_status=reply.status,
                error=type(refusal).__name__ if refusal else None,
            )
        )
        if refusal is not None:
            # The reply may echo a credential (its text is scrubbed in the error): keep it out
            # of this frame, which stays on the error's traceback.
            del reply, body
            raise refusal
        return reply, body

    def _error_from(
        self, reply: HttpResponse, body: Any, request: HttpRequest
    ) -> ProviderError | None:
        # Read the body before trusting the status: GOSMS.GE and SMSOffice.ge report errors
        # inside HTTP 200 replies.
        found = self._find_error(reply, body)
        if found is None and reply.status < 300:
            return None
        code, message = found if found is not None else (None, _status_message(reply))
        spec = self.error_table.get(code) if code is not None else None
        retryable = spec.retryable if spec is not None else None
        if spec is not None:
            error_type = spec.error
            if not message:
                message = spec.description
            if spec.outcome == "unknown":
                # The provider's code does not say whether the message went out: neither a
                # refusal (which would invite a failover, so a possible duplicate) nor a
                # success. The caller settles it by looking the send up.
                return error_type(
                    _unknown_outcome_message(message, self._handle_of(request)),
                    provider=self.name,
                    code=code,
                    http_status=reply.status,
                    retryable=retryable,
                    may_have_sent=request.sends_message,
                    retry_after=parse_retry_after(reply.headers),
                )
        elif reply.status >= 500:
            error_type = ProviderUnavailable
        elif 300 <= reply.status < 400:
            error_type = InvalidResponse
            message = f"unexpected redirect (HTTP {reply.status}); check base_url"
        elif reply.status in _HTTP_STATUS_ERRORS:
            error_type = _HTTP_STATUS_ERRORS[reply.status]
        else:
            # An explicit refusal smsgate has no entry for: still a refusal, so not sent.
            error_type = ProviderError
        may_have_sent = (
            request.sends_message
            and (reply.status in _GATEWAY_STATUSES or error_type is InvalidResponse)
        )
        return error_type(
            message or "the provider reported an error",
            provider=self.name,
            code=code,
            http_status=reply.status,
            retryable=retryable,
            may_have_sent=may_have_sent,
            retry_after=parse_retry_after(reply.headers),
        )

    def _handle_of(self, request: HttpRequest) -> str | None:
        """The send's own handle (:attr:`handle_field`) as the request carries it."""
        if self.handle_field is None:
            return None
        for fields in (request.form, request.json, request.params):
            if isinstance(fields, Mapping) and fields.get(self.handle_field):
                return str(fields[self.handle_field])
        return None

    def _parsing(
        self,
        request: HttpRequest,
        parse: Callable[..., _T],
        reply: HttpResponse,
        *args: Any,
    ) -> _T:
        """Run an adapter's parser; a reply it cannot read becomes :class:`InvalidResponse`.

        An unreadable reply is an unknown outcome: repeating the request is safe only where
        the provider deduplicates it (``request.idempotent``) or nothing is sent (a lookup), so
        only there is it retryable (the same rule the transport applies to lost replies).
        """
        safe_to_repeat = request.idempotent or not request.sends_message
        failure: str | None = None
        try:
            return parse(reply, *args)
        except InvalidResponse as exc:
            exc.retryable = safe_to_repeat
            raise
        except ProviderError:
            raise
        except Exception as exc:
            # The request went out: any other exception of a parser (a ValueError, KeyError
            # or TypeError for a reply of an unexpected shape, a RecursionError, even a
            # ValidationError from a helper) means "the reply could not be read", never
            # "nothing happened".
            failure = type(exc).__name__
        error = self._invalid(
            reply, f"unreadable reply ({failure})", sends_message=request.sends_message
        )
        error.retryable = safe_to_repeat
        raise error

    def _invalid(self, reply: HttpResponse, what: str, *, sends_message: bool) -> InvalidResponse:
        """An error for a reply whose success shape could not be read."""
        return InvalidResponse(
            f"{what} (HTTP {reply.status})",
            provider=self.name,
            http_status=reply.status,
            may_have_sent=sends_message,
        )

    def _object(self, reply: HttpResponse, body: Any, *, sends_message: bool) -> dict[str, Any]:
        """``body`` as a JSON object, or :class:`InvalidResponse`."""
        if not isinstance(body, dict):
            raise self._invalid(reply, "expected a JSON object", sends_message=sends_message)
        return body


class ApiKeyProvider(HttpProvider):
    """A provider authenticated by one API key (GOSMS.GE, GoSMS.ro, SMSOffice.ge)."""

    def __init__(
        self,
        api_key: str,
        *,
        sender: str | None = None,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ConfigurationError(f"{self.name}: api_key is required")
        super().__init__(
            credentials={"api_key": Secret(api_key)},
            sender=sender,
            base_url=base_url,
            timeout=timeout,
            session=session,
        )


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        # Not JSON, or nested too deep for the decoder: no JSON body to read. The parsers
        # then refuse the reply as unreadable (InvalidResponse, which says whether a message
        # may have been sent).
        return None


def _unknown_outcome_message(message: str, handle: str | None) -> str:
    lookup = f"status({handle!r}, recipient=...)" if handle else "a status lookup"
    return (
        f"{message}: the provider does not say whether the message was sent, so it may "
        f"have been; settle it with {lookup} before sending again"
    )


def _status_message(reply: HttpResponse) -> str:
    reason = {500: "internal server error", 502: "bad gateway", 503: "service unavailable",
              504: "gateway timeout", 520: "unknown error at the origin (CDN)",
              521: "origin is down (CDN)", 522: "connection to the origin timed out (CDN)",
              523: "origin is unreachable (CDN)", 524: "the origin did not reply in time (CDN)",
              525: "TLS handshake with the origin failed (CDN)",
              526: "invalid origin certificate (CDN)"}.get(reply.status, "error")
    return f"HTTP {reply.status} {reason}"


def _failed_part(
    provider: str, chunk: Outgoing, error: ProviderError | ValidationError,
    rest: Sequence[Outgoing],
) -> SendResult:
    recipients = RecipientResult.failed(chunk.recipients, error)
    recipients += RecipientResult.not_attempted(
        [n for later in rest for n in later.recipients], error
    )
    return SendResult(provider=provider, message_id=None, recipients=recipients, raw=None)


def _merge(
    provider: str, parts: Sequence[SendResult], attempts: Sequence[Attempt], outgoing: Outgoing
) -> SendResult:
    if len(parts) == 1:
        return attrs.evolve(
            parts[0],
            attempts=tuple(attempts),
            segments=parts[0].segments if parts[0].segments is not None
            else outgoing.info.segments,
            encoding=parts[0].encoding or outgoing.info.encoding,
            idempotency_key=parts[0].idempotency_key or outgoing.idempotency_key,
        )
    return merge_results(
        parts,
        provider=provider,
        attempts=attempts,
        segments=outgoing.info.segments,
        encoding=outgoing.info.encoding,
        idempotency_key=outgoing.idempotency_key,
    )


def first_present(mapping: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first key present (not ``None``) in ``mapping``."""
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def as_text(value: object) -> str | None:
    """``value`` as a string id (GOSMS.GE ids are ints), or ``None`` when it is not a scalar.

    Only a string or an integer is an id (an integral float is read as its integer): an
    object, a list, a bool or a non-finite number in an id's place is not one, so that a
    reply of an unexpected shape is never taken for an answer.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    if not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text or None


#: The plausible magnitude of an amount: below 10**15 and no finer than 10**-12, with at most
#: 30 significant digits. Anything else is not an amount a provider bills or holds, and
#: taking it could make a later sum of amounts overflow (``Decimal`` signals ``Overflow``
#: beyond its context) after the messages were accepted.
_MONEY_MAX_EXPONENT: Final = 14
_MONEY_MIN_EXPONENT: Final = -12
_MONEY_MAX_DIGITS: Final = 30
_MONEY_MAX_TEXT: Final = 64


def as_money(value: object) -> Decimal | None:
    """A plausible finite amount from a JSON number or a numeric string, else ``None``.

    ``NaN`` and infinities (which JSON parsers accept) are not amounts, and neither is a
    magnitude no provider could mean (``"1E+999999999"``): see ``_MONEY_MAX_EXPONENT``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, int):
        plain = int.__int__(value)
        if not -(10**15) < plain < 10**15:  # compared before str(): no huge conversion
            return None
        text = str(plain)
    elif isinstance(value, float):
        text = repr(float.__float__(value))
    else:
        text = value.strip()
        if len(text) > _MONEY_MAX_TEXT:
            return None
    try:
        amount = Decimal(text)
    except ArithmeticError:
        return None
    if not amount.is_finite():
        return None
    if amount.is_zero():
        return amount
    digits = amount.as_tuple().digits
    if (
        len(digits) > _MONEY_MAX_DIGITS
        or not _MONEY_MIN_EXPONENT <= amount.adjusted() <= _MONEY_MAX_EXPONENT
    ):
        return None
    return amount


#: Significant digits of the longest error code smsgate reads as a number (an int64 has 19).
_CODE_DIGITS: Final = 18
_NUMERIC_CODE: Final = re.compile(r"[-+]?[0-9]+")


def read_code(value: object) -> tuple[bool, int | None]:
    """An error code read from a reply: ``(present, code)``.

    ``present`` says the value is a code at all (an int, or a string of ASCII digits with an
    optional sign); ``code`` is its number, or ``None`` when it has more than 18 significant
    digits. Such a code is still an error code, just not one smsgate knows; it is never given
    to ``int()``, which refuses strings of over 4,300 digits (and takes time on shorter ones).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return True, int.__int__(value)
    if not isinstance(value, str):
        return False, None
    text = value.strip()
    if not text.isascii() or not _NUMERIC_CODE.fullmatch(text):
        return False, None
    sign = "-" if text[0] == "-" else ""
    significant = text.lstrip("+-").lstrip("0") or "0"
    if len(significant) > _CODE_DIGITS:
        return True, None
    return True, int(sign + significant)


def iter_errors(table: Mapping[int | str, ErrorSpec]) -> Iterator[tuple[int | str, ErrorSpec]]:
    """Rows of an error table in a stable order (for docs and tests)."""
    return iter(sorted(table.items(), key=lambda item: (isinstance(item[0], str), str(item[0]))))

