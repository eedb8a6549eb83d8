"""The shared base of every HTTP provider: declarations in, one interpretation of them.

An adapter is mostly data: its operations' request builders and reply parsers
(``build_<operation>`` / ``parse_<operation>``), where the credential goes, how numbers are
written, its limits, its capabilities and its error table. ``ProviderBase`` (in
``smsgate._provider``) validates input against those declarations before any I/O;
:class:`HttpProvider` runs the operations as plans (``smsgate._effects``): the exchange
through a transport, the reading of error replies, whether a failed request may have sent
a message, and the merging of chunked sends. Adapters never do I/O, sleep, retry or fail
over: the drivers and the Gateway do. Import these names from ``smsgate.providers``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import math
import re
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, TypeVar

import attrs

from .. import _replyjson
from .._effects import NOW, Effect, Perform, Plan, run
from .._merge import merge_results
from .._provider import Limits as Limits  # re-exported: older imports name this module
from .._provider import Outgoing, ProviderBase, _check_timeout
from .._secrets import Secret, get_logger, header_problem
from .._unexpected import carry_key as _carry_key
from .._unexpected import unexpected
from .._urls import check_base_url
from .._wire import DEFAULT_TIMEOUT, AuthParam, HttpRequest, HttpResponse, Transport
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
from ..models import (
    Attempt,
    Balance,
    RateLimit,
    RecipientResult,
    SendResult,
    Status,
    StatusResult,
    _evolve_result,
)
from ..phone import (
    format_phone,
    mask_phone,
)

if TYPE_CHECKING:
    import requests

__all__ = [
    "ApiKeyProvider",
    "AuthSpec",
    "ErrorSpec",
    "HttpProvider",
    "OPERATION_CAPABILITIES",
    "as_money",
    "as_text",
    "first_present",
    "iter_errors",
    "parse_rate_limit",
    "parse_retry_after",
    "read_code",
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


#: The capability each operation of an adapter stands for (``None``: every adapter has it).
OPERATION_CAPABILITIES: Final[Mapping[str, str | None]] = {
    "send": None,
    "status": "status",
    "balance": "balance",
    "send_otp": "otp",
    "verify_otp": "otp",
    "create_sender": "sender_registration",
    "retry": "retry",
}


class HttpProvider(ProviderBase):
    """A provider reached over HTTP: adapters subclass this and declare their wire.

    Subclasses declare :attr:`default_base_url`, :attr:`auth` and :attr:`error_table`, and
    write each operation as a pair of pure functions: ``build_<operation>(...)`` returns the
    :class:`HttpRequest` to make, ``parse_<operation>(reply, body, ...)`` reads a successful
    reply into a result. :meth:`find_error` reads an error out of any reply, whatever its
    HTTP status. The base runs the pairs (:meth:`plan_send`, :meth:`plan_operation`): it
    performs the request through :attr:`transport`, applies the error table, turns a reply
    a parser cannot read into :class:`~smsgate.InvalidResponse`, and stamps every error with
    whether the message may have been sent (from ``request.sends_message``), so an adapter
    never does I/O and never says ``may_have_sent`` itself.

    Every adapter implements ``build_send``/``parse_send``; an adapter that declares a
    capability implements its operations (``"status"``: ``build_status``/``parse_status``,
    ``"balance"``: ``build_balance``/``parse_balance``; see :data:`OPERATION_CAPABILITIES`).

    Args:
        credentials: name -> :class:`Secret`, placed on the wire as :attr:`auth` declares.
        sender: default sender name.
        base_url: overrides :attr:`default_base_url` (a sandbox, a proxy).
        timeout: seconds, or ``(connect, read)``, for the default transport.
        session: a ``requests.Session`` for the default transport.
        transport: a :class:`~smsgate.Transport` to use instead of the default (not with
            ``session``). The provider does not close a transport it was given.
        key: the name its shared state (circuit breaker) is kept under (see
            :attr:`state_key`).
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
    #: What the provider's own documents call its error code (the heading of the error-code
    #: column of the provider's page, e.g. ``ErrorCode``; ``HTTP status`` where the status is
    #: the code).
    error_code_heading: ClassVar[str] = "code"

    def __init__(
        self,
        *,
        credentials: Mapping[str, Secret],
        sender: str | None = None,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        transport: Transport | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(sender=sender, key=key)
        available = set(credentials) | self._credentials_from_factories()
        for spec in self.auth:
            if spec.credential not in available:
                raise ConfigurationError(f"{self.name}: missing credential {spec.credential!r}")
        for name, secret in credentials.items():
            if not isinstance(secret, Secret) or not secret.reveal().strip():
                raise ConfigurationError(f"{self.name}: {name} must be a non-empty string")
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
        if transport is not None and session is not None:
            raise ConfigurationError(
                f"{self.name}: give transport= or session=, not both (a session is the "
                "default transport's)"
            )
        if transport is not None and not isinstance(transport, Transport):
            raise ConfigurationError(
                f"{self.name}: transport must be a smsgate.Transport (perform(request, *, "
                "deadline=None) and close()), not a " + type(transport).__name__
            )
        self._credentials = dict(credentials)
        self.base_url = url.rstrip("/")
        self.timeout = _check_timeout(timeout)
        self._owns_transport = transport is None
        if transport is None:
            # Imported here, not at the top: a provider used with another transport (a
            # test's MockTransport, the async one) never loads requests.
            from .._http import RequestsTransport

            transport = RequestsTransport(
                provider=self.name, base_url=self.base_url, timeout=self.timeout,
                session=session,
            )
        #: What performs this provider's requests (:class:`~smsgate.Transport`).
        self.transport: Transport = transport

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(sender={getattr(self, 'sender', None)!r}, "
            f"base_url={getattr(self, 'base_url', None)!r})"
        )

    def close(self) -> None:
        """Close the default transport (a transport given to the constructor is the
        caller's to close). Safe to call twice."""
        if getattr(self, "_owns_transport", False):
            self.transport.close()

    # -- the plans the drivers run ---------------------------------------------------------
    def plan_send(self, outgoing: Outgoing, *, deadline: float | None = None) -> Plan[SendResult]:
        """Send a validated message over HTTP, as a plan (no I/O of its own).

        A list larger than the provider's per-request limit goes out in chunks, one request
        (:meth:`build_send`, then :meth:`parse_send`) each, merged into one result in input
        order. If a later chunk fails, the result reports its recipients as
        :attr:`Status.UNKNOWN` (the request may have been sent) or :attr:`Status.REJECTED`
        (it was not), the chunks after it as :attr:`Status.REJECTED` (not attempted), and
        ``ok`` is ``False``; an error in the first chunk is raised as is. ``deadline`` is
        the instant (on the driver's clock) every exchange must end by.
        """
        self._check_owned_fields(outgoing.extra)
        outgoing = self.complete_send(outgoing)
        attempts: list[Attempt] = []
        parts: list[SendResult] = []
        chunks = outgoing.chunks(self.limits.bulk_size)
        for index, chunk in enumerate(chunks):
            requested = False
            try:
                request = self.build_send(chunk)
                requested = True
                reply, body = yield from self._exchange(request, attempts, deadline)
                parts.append(self._parsing(request, self.parse_send, reply, body, chunk))
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

    def plan_operation(
        self, operation: str, *args: Any, deadline: float | None = None
    ) -> Plan[Any]:
        """One request of ``operation``: ``build_<operation>(*args)``, perform it, then
        ``parse_<operation>(reply, body, *args)``, as a plan (no I/O of its own).

        A :class:`SendResult` it returns (SMSGist's ``retry``) records the attempt.
        """
        build = getattr(self, f"build_{operation}")
        parse = getattr(self, f"parse_{operation}")
        request: HttpRequest = build(*args)
        attempts: list[Attempt] = []
        reply, body = yield from self._exchange(request, attempts, deadline)
        result = self._parsing(request, parse, reply, body, *args)
        if isinstance(result, SendResult):
            result = attrs.evolve(result, attempts=tuple(attempts))
        return result

    def run_operation(self, operation: str, *args: Any) -> Any:
        """Run :meth:`plan_operation` in this thread (what a provider's own sync methods,
        ``send_otp`` or ``retry``, do once their input is checked)."""
        return run(self.plan_operation(operation, *args))

    def plan_status(
        self, message_id: str, recipient: str | None = None, *, deadline: float | None = None
    ) -> Plan[StatusResult]:
        """The plan of :meth:`status`; refuses bad input at once, before any request."""
        self._require("status", "status lookups")
        if not isinstance(message_id, str) or not message_id.strip():
            raise ValidationError("message_id must be a non-empty string")
        e164 = None
        if recipient is not None:
            (e164,) = self._normalize_recipients(recipient)
        return self.plan_operation("status", message_id, e164, deadline=deadline)

    def plan_balance(self, *, deadline: float | None = None) -> Plan[Balance]:
        """The plan of :meth:`balance`; refuses at once when the provider has none."""
        self._require("balance", "balance lookups")
        return self.plan_operation("balance", deadline=deadline)

    # -- the SmsProvider protocol (sends: ProviderBase.send) ----------------------------
    def status(self, message_id: str, *, recipient: str | None = None) -> StatusResult:
        """Delivery status of a sent message (``recipient`` where the provider needs it)."""
        return run(self.plan_status(message_id, recipient))

    def balance(self) -> Balance:
        """Credit left at the provider."""
        return run(self.plan_balance())

    def _check_owned_fields(self, extra: Mapping[str, Any]) -> None:
        """Refuse ``extra`` fields that would replace a field smsgate writes itself."""
        if type(extra) is dict and not extra:
            return  # the usual send: no raw field to compare (checked twice a send)
        if any(not isinstance(name, str) for name in extra):
            raise ValidationError("extra field names must be strings")
        owned = {field.casefold(): field for field in self.owned_fields}
        clashes = sorted(owned[name.casefold()] for name in extra if name.casefold() in owned)
        if clashes:
            raise ValidationError(
                f"{self.name}: extra may not set {', '.join(clashes)}: smsgate writes "
                "these fields from its own parameters (to, text, sender, reference, the "
                "credentials and the send options); use those instead"
            )

    # -- hooks for adapters ----------------------------------------------------------------
    def complete_send(self, outgoing: Outgoing) -> Outgoing:
        """Fill provider defaults into a validated send (a generated reference or key)."""
        return outgoing

    def build_send(self, outgoing: Outgoing) -> HttpRequest:
        """The request that sends ``outgoing`` (one chunk of at most ``limits.bulk_size``)."""
        raise self._not_written("send")

    def parse_send(self, reply: HttpResponse, body: Any, outgoing: Outgoing) -> SendResult:
        """Read a send's successful reply (:meth:`find_error` found no error in it)."""
        raise self._not_written("send")

    def build_status(self, message_id: str, recipient: str | None) -> HttpRequest:
        """The status request; ``recipient`` is the E.164 number asked about, if any
        (:meth:`wire_number` writes it as the provider does)."""
        raise self._not_written("status")

    def parse_status(
        self, reply: HttpResponse, body: Any, message_id: str, recipient: str | None
    ) -> StatusResult:
        """Read a status reply; ``recipient`` is the E.164 number asked about, if any."""
        raise self._not_written("status")

    def build_balance(self) -> HttpRequest:
        """The balance request."""
        raise self._not_written("balance")

    def parse_balance(self, reply: HttpResponse, body: Any) -> Balance:
        """Read a balance reply."""
        raise self._not_written("balance")

    def find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        """``(code, message)`` when the reply is an error, whatever its HTTP status.

        ``body`` is the reply's JSON (``None`` when it is not JSON). The code is looked up
        in :attr:`error_table`; ``None`` leaves the class to the HTTP status. The default
        reads nothing from the body, so the HTTP status alone decides.
        """
        return None

    # -- helpers for adapters --------------------------------------------------------------
    def new_request(
        self,
        method: Literal["GET", "POST"],
        path: str,
        operation: str,
        **fields: Any,
    ) -> HttpRequest:
        """An :class:`HttpRequest` with this provider's credentials placed as declared.

        ``fields`` are :class:`HttpRequest`'s (``json=``, ``form=``, ``params=``,
        ``headers=``, ``sends_message=``, ``idempotent=``).
        """
        specs, credentials = self.auth, getattr(self, "_credentials", None)
        cached = self.__dict__.get("_auth_params")
        if cached is not None and cached[0] is specs and cached[1] is credentials:
            auth = cached[2]  # the same credentials placed the same way: the same params
        else:
            auth = tuple(
                AuthParam(
                    location=spec.location,
                    name=spec.name,
                    value=self._credential(spec.credential),
                    prefix=spec.prefix,
                )
                for spec in specs
            )
            if type(self)._credential is HttpProvider._credential:
                # Kept only where each value is the stored Secret (a subclass whose
                # _credential makes one per request, a token, is asked every time).
                self.__dict__["_auth_params"] = (specs, credentials, auth)
        return HttpRequest(method=method, path=path, operation=operation, auth=auth, **fields)

    def wire_number(self, number: str) -> str:
        """``number`` (E.164, or national in the home region) as the provider writes it."""
        (e164,) = self._normalize_recipients(number)
        return format_phone(e164, self.phone_format, self.home_region)

    def invalid_reply(self, reply: HttpResponse, what: str) -> InvalidResponse:
        """The error a parser raises for a reply whose success shape it cannot read.

        The base says whether the message may have been sent (from the request), so a
        parser only says what is wrong.
        """
        return InvalidResponse(
            f"{what} (HTTP {reply.status})", provider=self.name, http_status=reply.status
        )

    def json_object(self, reply: HttpResponse, body: Any) -> dict[str, Any]:
        """``body`` as a JSON object, or :meth:`invalid_reply`."""
        if not isinstance(body, dict):
            raise self.invalid_reply(reply, "expected a JSON object")
        return body

    # -- the machinery ---------------------------------------------------------------------
    def _not_written(self, operation: str) -> NotImplementedError:
        """Why a hook stub was reached: which class must implement what, and why."""
        cls = type(self).__name__
        hooks = f"build_{operation} and parse_{operation}"
        capability = OPERATION_CAPABILITIES.get(operation, operation)
        if capability is None:
            why = f"every HttpProvider sends, so {cls} must implement {hooks}"
        elif capability in self.capabilities:
            why = f"{cls} declares the {capability!r} capability, so it must implement {hooks}"
        else:
            why = (f"{cls} does not declare the {capability!r} capability; a provider that "
                   f"does must implement {hooks}")
        return NotImplementedError(why)

    def _credential(self, name: str) -> Secret:
        return self._credentials[name]

    def _credentials_from_factories(self) -> set[str]:
        """Credentials that :meth:`_credential` produces per request instead of storing."""
        return set()

    def _stamp(self, error: ProviderError, request: HttpRequest) -> None:
        """Say, once per request, what an error of ``request`` means for the message.

        A request that sends no message cannot have sent one, whatever went wrong; an error
        raised with no provider (a transport's, a mock handler's) names this one.
        """
        if error.provider is None:
            error.provider = self.name
        if not request.sends_message:
            error.may_have_sent = False

    def _exchange(
        self, request: HttpRequest, attempts: list[Attempt], deadline: float | None
    ) -> Generator[Effect, Any, tuple[HttpResponse, Any]]:
        """Perform ``request``; return ``(reply, parsed JSON or None)`` or raise its error."""
        started: float = yield NOW
        try:
            reply: HttpResponse = yield Perform(self.transport, request, deadline)
        except ProviderError as failure:
            ended: float = yield NOW
            self._stamp(failure, request)
            attempts.append(
                Attempt(
                    provider=self.name,
                    operation=request.operation,
                    elapsed=ended - started,
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
            refusal = self._unreadable(request, reply, f"unreadable reply ({unreadable})")
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
        found = self.find_error(reply, body)
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

        An unreadable reply is an unknown outcome for a request that sends a message, and
        nothing more than a failed lookup for one that does not (the stamp of
        :meth:`_unreadable`).
        """
        failure: str | None = None
        try:
            return parse(reply, *args)
        except InvalidResponse as exc:
            self._settle_unreadable(exc, request)
            raise
        except ProviderError as exc:
            self._stamp(exc, request)
            raise
        except Exception as exc:
            # The request went out: any other exception of a parser (a ValueError, KeyError
            # or TypeError for a reply of an unexpected shape, a RecursionError, even a
            # ValidationError from a helper) means "the reply could not be read", never
            # "nothing happened".
            failure = type(exc).__name__
        raise self._unreadable(request, reply, f"unreadable reply ({failure})")

    def _unreadable(self, request: HttpRequest, reply: HttpResponse, what: str) -> InvalidResponse:
        error = self.invalid_reply(reply, what)
        self._settle_unreadable(error, request)
        return error

    def _settle_unreadable(self, error: InvalidResponse, request: HttpRequest) -> None:
        """Stamp a reply that could not be read: it may have sent exactly when the request
        sends a message; repeating it is safe only where the provider deduplicates it
        (``request.idempotent``) or nothing is sent (the transport's rule for lost replies)."""
        self._stamp(error, request)
        error.may_have_sent = request.sends_message
        error.retryable = request.idempotent or not request.sends_message


class ApiKeyProvider(HttpProvider):
    """A provider authenticated by one API key (GOSMS.GE, GoSMS.ro, SMSOffice.ge).

    Takes the key as its first argument and the keywords of :class:`HttpProvider`.
    """

    def __init__(
        self,
        api_key: str,
        *,
        sender: str | None = None,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        transport: Transport | None = None,
        key: str | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ConfigurationError(f"{self.name}: api_key is required")
        super().__init__(
            credentials={"api_key": Secret(api_key)},
            sender=sender,
            base_url=base_url,
            timeout=timeout,
            session=session,
            transport=transport,
            key=key,
        )


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    parsed = _replyjson.take(content)  # the transport's parse of these very bytes, if any
    if parsed is not _replyjson.MISSING:
        return parsed
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
        return _evolve_result(
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
        # An integer of at most 15 digits passes every check below as it is, and
        # Decimal(int) is Decimal(str(int)), digit for digit (a test compares them).
        return Decimal(plain)
    if isinstance(value, float):
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

