"""The contract every provider adapter passes, as a subclassable pytest class.

:class:`ProviderContract` holds one test method per rule. An adapter's test module subclasses
it, declares the provider and how its wire answers, and pytest collects every rule::

    from smsgate.testing import ProviderContract

    class TestAcmeContract(ProviderContract):
        provider = "acme"
        credentials = {"api_key": "acme-canary-key"}
        number = "+254712345678"
        foreign = "+995555123456"

        def ok_reply(self, request):
            return self.json_reply({"id": "m-1"})

        def error_reply(self, code, request):
            return self.json_reply({"error": code, "message": "refused"}, status=400)

The rules never leave the machine: offline ones run on a transport that records every
request (and must see none), wire ones through :class:`smsgate.testing.MockTransport`, whose
handler answers with the canned replies the subclass declares, and one plays those replies
back from a server on 127.0.0.1 so that the default transport and urllib3's own logging are
checked for leaks too. The module imports nothing from pytest: logs are captured by a handler
of its own (as ``caplog`` does), and a rule that does not apply raises
:class:`unittest.SkipTest`, which pytest reports as a skip, so that
:meth:`ProviderContract.check` and :func:`smsgate.testing.check_provider` run the same rules
without pytest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from ._options import SEND_OPTION_TABLE
from ._protocol import CAPABILITIES, SmsProvider
from ._wire import HttpRequest, HttpResponse
from .errors import (
    ConfigurationError,
    InvalidResponse,
    ProviderError,
    SmsGateError,
    UnsupportedFeature,
    ValidationError,
)

if TYPE_CHECKING:
    import unittest

__all__ = ["ProviderContract"]

#: Loggers the canary rule raises to DEBUG besides the root: smsgate's own and those of the
#: HTTP stack underneath it, so that a record they would drop at their configured level is
#: captured too.
_LOGGERS = ("smsgate", "urllib3", "urllib3.connectionpool", "requests")

#: The shortest fake credential the canary rules accept: a shorter one could turn up in any
#: log line by chance (and smsgate does not scrub values shorter than four characters).
_MIN_CANARY = 8


class _Capture(logging.Handler):
    """Every record logged anywhere while it is attached to the root, fully formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted shows its parts
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(record.exc_info[1]))
        self.lines.append(f"{record.name} {record.levelname} {text}")


@contextlib.contextmanager
def _debug_logs() -> Iterator[_Capture]:
    """Capture every log record at DEBUG (the root and :data:`_LOGGERS`), as ``caplog`` does,
    restoring the levels afterwards."""
    capture = _Capture()
    loggers = [logging.getLogger()] + [logging.getLogger(name) for name in _LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _not_applicable(reason: str) -> unittest.SkipTest:
    """The exception that skips a rule; pytest reports :class:`unittest.SkipTest` as a skip,
    and :meth:`ProviderContract.check` passes over it, so pytest is never imported here."""
    import unittest

    return unittest.SkipTest(reason)


def _everything_about(error: BaseException) -> str:
    """``str``, ``repr`` and the formatted traceback of an error and of its chained causes."""
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    seen = error.__cause__ or error.__context__
    while seen is not None:
        parts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


class ProviderContract:
    """The rules every provider adapter follows, one test method per rule.

    Subclass it in a test module (the subclass's name must start with ``Test`` for pytest to
    collect it) and declare:

    * :attr:`provider`: the registry name, or the class (which must then be registered under
      its ``name``, through an entry point or :func:`smsgate.register_provider`);
    * :attr:`credentials`: the constructor's credential keywords, with fake values of at least
      eight characters (they are the canaries the leak rules look for);
    * :attr:`number`: an E.164 number the provider reaches; :attr:`foreign`: one it does not
      reach (required when its reach is limited by ``allowed_regions``);
    * for the wire rules, :meth:`ok_reply` and :meth:`error_reply` (and
      :meth:`error_in_ok_reply` if the provider reports errors inside HTTP 2xx replies).

    Offline rules: the declarations are coherent data, the provider is built by name and
    satisfies :class:`smsgate.SmsProvider`, credentials stay out of its ``repr``, bad settings
    raise :class:`smsgate.ConfigurationError`, and bad input and unsupported options (every
    option of the send vocabulary) raise before any request.

    Wire rules, through :class:`smsgate.testing.MockTransport`: a send and a lookup succeed on
    the declared replies and mark their requests (``sends_message``) rightly; every row of the
    error table raises its class with the right ``may_have_sent`` on a send and on a lookup;
    an error inside an HTTP 200 reply is found; and no credential appears in any log record at
    DEBUG (smsgate's, urllib3's or any other), in an error, or in a ``repr``.
    """

    #: The registry name of the provider, or its class.
    provider: ClassVar[str | type[Any]]
    #: Constructor keywords carrying fake credentials (each at least 8 characters).
    credentials: ClassVar[Mapping[str, str]]
    #: A valid E.164 number the provider reaches.
    number: ClassVar[str]
    #: A valid E.164 number it does not reach (required when ``allowed_regions`` is set).
    foreign: ClassVar[str | None] = None
    #: The sender the provider is built with (some providers require one).
    sender: ClassVar[str] = "Brand"
    #: Further constructor keywords the provider needs besides its credentials.
    settings: ClassVar[Mapping[str, Any]] = {}
    #: The message id the lookup rules ask the status of.
    message_id: ClassVar[str] = "1"

    # -- what a subclass declares about the wire ------------------------------------------
    def ok_reply(self, request: HttpRequest) -> HttpResponse:
        """The provider's successful reply to ``request`` (a send, a status or a balance
        request: read ``request.operation``). Every subclass declares it."""
        raise NotImplementedError

    def error_reply(self, code: int | str, request: HttpRequest) -> HttpResponse:
        """The provider's reply carrying error ``code`` (a key of its error table) to
        ``request``, with the HTTP status the provider uses for it. Every subclass declares
        it."""
        raise NotImplementedError

    def error_in_ok_reply(self, request: HttpRequest) -> HttpResponse:
        """An HTTP 2xx reply to ``request`` whose body reports an error.

        Declare it when the provider reports errors inside 2xx replies (most do); without it
        the rule that such an error is found is skipped.
        """
        raise NotImplementedError

    @staticmethod
    def json_reply(
        body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """A reply with ``body`` as JSON: a helper for :meth:`ok_reply` and the others."""
        return HttpResponse(
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
            content=json.dumps(body).encode(),
        )

    @staticmethod
    def text_reply(
        text: str, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """A plain-text reply (a provider that answers a balance with a bare number)."""
        return HttpResponse(
            status=status,
            headers={"Content-Type": "text/plain", **(headers or {})},
            content=text.encode(),
        )

    # -- helpers ---------------------------------------------------------------------------
    @classmethod
    def rules(cls, *, wire: bool = True) -> list[str]:
        """The names of the rules (test methods), offline ones first; ``wire=False``: only
        the offline ones."""
        names = sorted(n for n in dir(cls) if n.startswith("test_"))
        offline = [n for n in names if not n.startswith("test_wire_")]
        return offline + ([n for n in names if n.startswith("test_wire_")] if wire else [])

    @classmethod
    def check(cls, *, wire: bool = True) -> None:
        """Run the rules in order outside pytest; raise the first breach (``AssertionError``).

        A rule that does not apply to the provider (``unittest.SkipTest``) is passed over.
        """
        import unittest

        for name in cls.rules(wire=wire):
            try:
                getattr(cls(), name)()
            except unittest.SkipTest:
                continue

    def require_replies(self) -> None:
        """Fail (not skip) a wire rule when the subclass declares no canned replies: a suite
        that passes over what it cannot check would pass any adapter."""
        for hook in ("ok_reply", "error_reply"):
            if getattr(type(self), hook) is getattr(ProviderContract, hook):
                raise AssertionError(
                    f"{type(self).__name__} declares no {hook}(): the wire rules need the "
                    "provider's replies (see ProviderContract)"
                )

    def provider_class(self) -> type[Any]:
        """The declared provider's class."""
        if isinstance(self.provider, type):
            return self.provider
        from .registry import provider_class

        return provider_class(self.provider)

    @property
    def name(self) -> str:
        """The registry name of the provider."""
        return str(self.provider_class().name)

    def make(self, transport: Any, **overrides: Any) -> Any:
        """The provider built with the declared credentials and settings on ``transport``
        (``None``: its default transport)."""
        options = {
            **self.credentials, "sender": self.sender, **self.settings, **overrides,
        }
        return self.provider_class()(transport=transport, **options)

    def recording(
        self, answer: Callable[[HttpRequest], HttpResponse] | None = None
    ) -> tuple[Any, list[HttpRequest]]:
        """A mock transport answering with ``answer`` (HTTP 500 by default) and the list of the
        requests it was given."""
        from ._mock import MockTransport

        seen: list[HttpRequest] = []

        def handler(request: HttpRequest) -> HttpResponse:
            seen.append(request)
            if answer is None:
                return self.text_reply("no request expected", status=500)
            return answer(request)

        return MockTransport(handler), seen

    def lookup(self, provider: Any) -> Callable[[], object] | None:
        """A call of the provider that only reads (status, else balance), or ``None``."""
        if "status" in provider.capabilities:
            return lambda: provider.status(self.message_id, recipient=self.number)
        if "balance" in provider.capabilities:
            return lambda: provider.balance()
        return None

    # -- offline rules ---------------------------------------------------------------------
    def test_declarations_are_coherent(self) -> None:
        """Capabilities are known names, the base URL is HTTPS, every error-table row maps a
        code onto a :class:`ProviderError` class with a description, ``url_credentials`` (where
        declared) places the provider's own credentials, and the credentials given to the suite
        are distinctive enough for the leak rules to mean something."""
        from .providers import ErrorSpec

        cls = self.provider_class()
        assert isinstance(cls.name, str), "the provider declares no name"
        assert cls.name, "the provider declares an empty name"
        unknown = sorted(cls.capabilities - CAPABILITIES)
        assert not unknown, f"unknown capabilities: {unknown}"
        base_url = getattr(cls, "default_base_url", None)
        assert isinstance(base_url, str), f"default_base_url is {base_url!r}"
        assert base_url.startswith("https://"), f"default_base_url {base_url!r} is not https"
        assert cls.error_table, "every adapter documents its errors (error_table)"
        for code, spec in cls.error_table.items():
            assert isinstance(code, (int, str)), f"error code {code!r} is no int or str"
            assert not isinstance(code, bool), f"error code {code!r} is a bool"
            assert isinstance(spec, ErrorSpec), f"error_table[{code!r}] is not an ErrorSpec"
            assert isinstance(spec.error, type), f"error_table[{code!r}].error is no class"
            assert issubclass(spec.error, ProviderError), (
                f"error_table[{code!r}] raises {spec.error.__name__}, not a ProviderError"
            )
            assert spec.description, f"error_table[{code!r}] has no description"
        assert self.credentials, "declare the constructor's credential keywords"
        if getattr(cls, "allowed_regions", None) is not None:
            assert self.foreign is not None, (
                f"{cls.name} reaches only {sorted(cls.allowed_regions)}: declare foreign, a "
                "number it does not reach, so that the suite checks it is refused"
            )
        # Provider URLs (``name://user:password@``) place credentials by this declaration.
        url_credentials: Mapping[str, str] = getattr(cls, "url_credentials", {})
        unknown_parts = sorted(set(url_credentials) - {"user", "password"})
        assert not unknown_parts, f"url_credentials names URL parts {unknown_parts}"
        strays = sorted(set(url_credentials.values()) - set(self.credentials))
        assert not strays, (
            f"url_credentials places {strays}, which are not the declared credentials "
            f"{sorted(self.credentials)}"
        )
        for key, value in self.credentials.items():
            assert isinstance(value, str), f"credential {key!r} is not a string"
            assert len(value) >= _MIN_CANARY, (
                f"credential {key!r}: use a distinctive fake value of at least {_MIN_CANARY} "
                "characters, so that a leak of it cannot be missed or found by chance"
            )

    def test_built_by_name(self) -> None:
        """The registry builds the provider by its name, and the class's name is that name.

        A provider declared as a class that no registry knows yet is registered under its
        ``name`` for the length of the rule (as an entry point would), so that a test module
        leaves the process's registry as it found it.
        """
        from .registry import create

        cls = self.provider_class()
        with _registered_for_the_rule(cls):
            transport, seen = self.recording()
            provider = create(cls.name, transport=transport, sender=self.sender,
                              **self.credentials, **self.settings)
        try:
            assert type(provider) is cls, f"create({cls.name!r}) built {type(provider)!r}"
            assert provider.name == cls.name
        finally:
            provider.close()
        assert not seen, "building the provider made a request"

    def test_satisfies_the_protocol(self) -> None:
        """The provider is a :class:`smsgate.SmsProvider`, with known capabilities."""
        transport, _ = self.recording()
        with self.make(transport) as provider:
            assert isinstance(provider, SmsProvider), "not an smsgate.SmsProvider"
            assert provider.capabilities <= CAPABILITIES

    def test_credentials_stay_out_of_repr(self) -> None:
        """No credential shows in the provider's ``repr``/``str``, nor in ``repr(vars())``."""
        transport, _ = self.recording()
        with self.make(transport) as provider:
            shown = "\n".join([repr(provider), str(provider), repr(vars(provider))])
        for key, value in self.credentials.items():
            assert value not in shown, f"a credential ({key}) shows in repr()"

    def test_bad_settings_are_configuration_errors(self) -> None:
        """Missing credentials, no timeout and a non-HTTP base URL raise ConfigurationError
        when the provider is built, and the error does not quote a credential."""
        from .registry import create

        broken: list[dict[str, Any]] = [
            {**self.settings},
            {**self.credentials, **self.settings, "timeout": None},
            {**self.credentials, **self.settings, "base_url": "ftp://example.invalid"},
        ]
        for options in broken:
            try:
                with _registered_for_the_rule(self.provider_class()):
                    create(self.name, **options)
            except ConfigurationError as error:
                told = _everything_about(error)
                for key, value in self.credentials.items():
                    assert value not in told, f"a ConfigurationError quotes {key}"
            else:
                raise AssertionError(f"{self.name} accepted bad settings {sorted(options)}")

    def test_unsupported_options_refused_before_any_request(self) -> None:
        """Every send option whose capability the provider lacks (the one send vocabulary),
        and status/balance where it lacks them, raise UnsupportedFeature with no request."""
        transport, seen = self.recording()
        with self.make(transport) as provider:
            for option in SEND_OPTION_TABLE:
                if option.capability is None or option.capability in provider.capabilities:
                    continue
                with _expect(UnsupportedFeature, f"send(..., {option.name}=...)"):
                    provider.send(self.number, "Hi", **{option.name: option.sample})
            if "status" not in provider.capabilities:
                with _expect(UnsupportedFeature, "status()"):
                    provider.status(self.message_id, recipient=self.number)
            if "balance" not in provider.capabilities:
                with _expect(UnsupportedFeature, "balance()"):
                    provider.balance()
        assert not seen, f"a request was made before validation finished: {_said(seen)}"

    def test_bad_input_refused_before_any_request(self) -> None:
        """Bad numbers, empty or huge texts, a past schedule, an overlong sender and a number
        out of reach raise ValidationError with no request."""
        transport, seen = self.recording()
        with self.make(transport) as provider:
            calls: dict[str, Callable[[], object]] = {
                "an invalid number": lambda: provider.send("+1", "Hi"),
                "no recipients": lambda: provider.send([], "Hi"),
                "an empty text": lambda: provider.send(self.number, ""),
                "a 50,000-character text": lambda: provider.send(self.number, "x" * 50_000),
                "a naive schedule_at": lambda: provider.send(
                    self.number, "Hi", schedule_at=dt.datetime(2030, 1, 1)),
            }
            if self.provider_class().limits.max_sender_length is not None:
                calls["a 40-character sender"] = lambda: provider.send(
                    self.number, "Hi", sender="S" * 40)
            if self.foreign is not None:
                calls["a number out of reach"] = lambda: provider.send(self.foreign, "Hi")
            for what, call in calls.items():
                with _expect(ValidationError, what):
                    call()
        assert not seen, f"a request was made before validation finished: {_said(seen)}"

    # -- wire rules ------------------------------------------------------------------------
    def test_wire_send_and_lookup_succeed(self) -> None:
        """On the declared replies a send is accepted for its number and a lookup answers;
        a send's requests say ``sends_message=True`` and a lookup's ``False`` (the HTTP layer
        reads ``may_have_sent`` from that mark)."""
        self.require_replies()
        transport, seen = self.recording(self.ok_reply)
        with self.make(transport) as provider:
            result = provider.send(self.number, "Hi")
            assert result.provider == self.name, result.provider
            assert [r.phone for r in result.recipients] == [self.number], result.recipients
            assert result.ok, f"the declared ok_reply was not accepted: {result.recipients}"
            assert seen, "a send made no request"
            sends = list(seen)
            assert all(r.sends_message for r in sends), (
                f"a send request is not marked sends_message=True: {_said(sends)}"
            )
            seen.clear()
            lookup = self.lookup(provider)
            if lookup is not None:
                lookup()
                assert seen, "a lookup made no request"
                assert not any(r.sends_message for r in seen), (
                    f"a lookup request is marked sends_message=True: {_said(seen)}"
                )

    def test_wire_error_table_on_send(self) -> None:
        """Every row of the error table, answered to a send, raises exactly its class, with its
        code, and ``may_have_sent`` True only for a row whose outcome is unknown."""
        self.require_replies()
        self._error_rows(send=True)

    def test_wire_error_table_on_lookup(self) -> None:
        """Every row of the error table, answered to a lookup, raises exactly its class with
        ``may_have_sent=False``: a lookup sends nothing, whatever the reply says."""
        transport, _ = self.recording()
        with self.make(transport) as provider:
            if self.lookup(provider) is None:
                raise _not_applicable(f"{self.name} has no status or balance lookup")
        self.require_replies()
        self._error_rows(send=False)

    def test_wire_error_inside_http_200(self) -> None:
        """An error reported inside an HTTP 2xx reply is found (``find_error``) and raised as a
        refusal, never taken for a success nor for an unreadable reply."""
        if type(self).error_in_ok_reply is ProviderContract.error_in_ok_reply:
            raise _not_applicable(
                f"{type(self).__name__} declares no error_in_ok_reply: {self.name} is not "
                "said to report errors inside HTTP 2xx replies"
            )
        self.require_replies()
        replies: list[HttpResponse] = []

        def answer(request: HttpRequest) -> HttpResponse:
            replies.append(self.error_in_ok_reply(request))
            return replies[-1]

        transport, _ = self.recording(answer)
        with self.make(transport) as provider:
            error: ProviderError | None = None
            try:
                outcome: object = provider.send(self.number, "Hi")
            except ProviderError as exc:
                error = exc
            assert replies, "the send made no request"
            assert all(200 <= reply.status < 300 for reply in replies), (
                "error_in_ok_reply must return an HTTP 2xx reply"
            )
            if error is None:
                raise AssertionError(f"an error inside HTTP 200 was taken for {outcome!r}")
            assert not isinstance(error, InvalidResponse), (
                f"the error inside HTTP 200 was not found: {error!r}"
            )
            assert error.may_have_sent is False, (
                f"a refusal inside HTTP 200 says may_have_sent=True: {error!r}"
            )
            found = provider.find_error(replies[0], _json_or_none(replies[0].content))
            assert found is not None, "find_error(reply, body) does not find the error"

    def test_wire_no_credential_in_logs_errors_or_reprs(self) -> None:
        """With every logger at DEBUG, sends and lookups that succeed, fail on each error-table
        row, get an unreadable reply or a reply echoing the credentials leave no credential in
        any log record, error (``str``, ``repr``, traceback, causes) or ``repr``."""
        self.require_replies()
        echo = " ".join(self.credentials.values())
        outputs: list[str] = []
        requests_seen: list[HttpRequest] = []
        table = self.provider_class().error_table
        answers: list[Callable[[HttpRequest], HttpResponse]] = [self.ok_reply]
        answers += [self._error_answer(code) for code in table]
        answers += [
            lambda r: self.text_reply(f"denied for {echo}", status=500),
            lambda r: self.text_reply(f"<html>{echo}</html>", status=200),
            lambda r: self.json_reply({"error": echo, "message": echo}, status=400),
        ]
        with _debug_logs() as logs:
            for answer in answers:
                transport, seen = self.recording(answer)
                with self.make(transport) as provider:
                    for call in self._calls(provider):
                        outputs.append(_outcome(call))
                    outputs += [repr(provider), str(provider)]
                requests_seen += seen
        outputs += logs.lines
        assert requests_seen, "no request was made: the rule would prove nothing"
        carried = [key for key, value in self.credentials.items()
                   if any(_carries(r, value) for r in requests_seen)]
        assert carried, "no credential travelled in any request: the rule would prove nothing"
        joined = "\n".join(outputs)
        for key, value in self.credentials.items():
            assert value not in joined, f"the credential {key} leaked: {_context(joined, value)}"

    def test_wire_no_credential_on_a_real_socket(self) -> None:
        """The same over the default transport and a real socket on 127.0.0.1, where urllib3
        logs every request line: replies recorded through the mock (a success, the first
        error-table row, a 500 echoing the credentials) are played back by a local server,
        and no credential shows in any log record, error or ``repr``."""
        self.require_replies()
        echo = " ".join(self.credentials.values())
        code = next(iter(self.provider_class().error_table))
        answers: list[Callable[[HttpRequest], HttpResponse]] = [
            self.ok_reply,
            lambda r: self.error_reply(code, r),
            lambda r: self.text_reply(f"denied for {echo}", status=500),
        ]
        outputs: list[str] = []
        received: list[bytes] = []
        with _debug_logs() as logs:
            for answer in answers:
                recorded: list[HttpResponse] = []

                def recording(request: HttpRequest, answer: Any = answer,
                              recorded: list[HttpResponse] = recorded) -> HttpResponse:
                    recorded.append(answer(request))
                    return recorded[-1]

                transport, _ = self.recording(recording)
                with self.make(transport) as provider:
                    for call in self._calls(provider):
                        _outcome(call)
                with _ReplayServer(recorded) as server, \
                        self.make(None, base_url=server.url, timeout=(2.0, 5.0)) as provider:
                    for call in self._calls(provider):
                        outputs.append(_outcome(call))
                    outputs += [repr(provider), str(provider)]
                received += server.received
        outputs += logs.lines
        assert any(line.startswith("urllib3") for line in logs.lines), (
            "urllib3 logged nothing at DEBUG: the rule would prove nothing"
        )
        assert any(value.encode() in raw or quote(value).encode() in raw
                   for raw in received for value in self.credentials.values()), (
            "no credential reached the server: the rule would prove nothing"
        )
        joined = "\n".join(outputs)
        for key, value in self.credentials.items():
            assert value not in joined, f"the credential {key} leaked: {_context(joined, value)}"

    def _error_answer(self, code: int | str) -> Callable[[HttpRequest], HttpResponse]:
        def answer(request: HttpRequest) -> HttpResponse:
            return self.error_reply(code, request)

        return answer

    def _calls(self, provider: Any) -> list[Callable[[], object]]:
        """The send, then the lookup if the provider has one."""
        calls: list[Callable[[], object]] = [lambda: provider.send(self.number, "Hi")]
        lookup = self.lookup(provider)
        if lookup is not None:
            calls.append(lookup)
        return calls

    # -- shared by the error-table rules ---------------------------------------------------
    def _error_rows(self, *, send: bool) -> None:
        table = self.provider_class().error_table
        breaches: list[str] = []
        for code, spec in table.items():
            transport, seen = self.recording(self._error_answer(code))
            with self.make(transport) as provider:
                call = self._calls(provider)[0 if send else 1]
                expected = send and spec.outcome == "unknown"
                try:
                    outcome: object = call()
                except ProviderError as error:
                    problems = []
                    if type(error) is not spec.error:
                        problems.append(f"raised {type(error).__name__}")
                    if error.code != code:
                        problems.append(f"code {error.code!r}")
                    if error.may_have_sent is not expected:
                        problems.append(f"may_have_sent={error.may_have_sent}")
                    if spec.retryable is not None and error.retryable is not spec.retryable:
                        problems.append(f"retryable={error.retryable}")
                    if error.provider != self.name:
                        problems.append(f"provider={error.provider!r}")
                    if problems:
                        breaches.append(f"row {code!r} ({spec.error.__name__}, "
                                        f"may_have_sent={expected}): {', '.join(problems)}")
                except SmsGateError as error:
                    breaches.append(f"row {code!r}: raised {error!r}")
                else:
                    breaches.append(f"row {code!r}: no error, got {outcome!r}")
            if not seen:
                breaches.append(f"row {code!r}: no request reached the transport")
        operation = "send" if send else "lookup"
        assert not breaches, f"error table on a {operation}:\n  " + "\n  ".join(breaches)


@contextlib.contextmanager
def _expect(error: type[SmsGateError], what: str) -> Iterator[None]:
    """Assert that the block raises ``error``."""
    try:
        yield
    except error:
        return
    except SmsGateError as other:
        raise AssertionError(f"{what}: expected {error.__name__}, got {other!r}") from None
    raise AssertionError(f"{what}: expected {error.__name__}, nothing was raised")


@contextlib.contextmanager
def _registered_for_the_rule(cls: type[Any]) -> Iterator[None]:
    """``cls`` registered under its name while the block runs, unless a registry already
    knows that name, which must then be ``cls``'s."""
    from . import registry

    try:
        known: type[Any] | None = registry.provider_class(cls.name)
    except ConfigurationError:
        known = None
    if known is not None:
        assert known is cls, (
            f"{cls.name!r} is registered as {known!r}, not {cls!r}: register the class "
            "under its name (entry point or smsgate.register_provider)"
        )
        yield
        return
    registry.register_provider(cls.name, cls)
    try:
        yield
    finally:
        with registry._lock:
            registry._registered.pop(cls.name, None)


def _outcome(call: Callable[[], object]) -> str:
    """What a call shows: the ``repr`` of its result, or all of its smsgate error."""
    try:
        return repr(call())
    except SmsGateError as error:
        return _everything_about(error)


class _ReplayServer:
    """An HTTP server on 127.0.0.1 that answers requests with ``replies``, in order (then
    HTTP 500), keeps every raw request, and stops when its ``with`` block ends."""

    def __init__(self, replies: list[HttpResponse]) -> None:
        import http.server  # only this rule serves: importing smsgate.testing loads no server

        self.replies = list(replies)
        self.received: list[bytes] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.received.append(self.requestline.encode() + b"\n"
                                      + bytes(self.headers) + body)
                reply = outer.replies.pop(0) if outer.replies else HttpResponse(
                    500, {}, b"no reply recorded")
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply.content)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line carries the query string: never printed

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> _ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _json_or_none(content: bytes) -> Any:
    """A reply's JSON, or ``None``, as the base hands it to ``find_error``."""
    try:
        return json.loads(content) if content else None
    except (ValueError, RecursionError):
        return None


def _said(requests: list[HttpRequest]) -> str:
    return ", ".join(f"{r.method} {r.path} ({r.operation})" for r in requests)


def _carries(request: HttpRequest, value: str) -> bool:
    """Whether ``request`` takes credential ``value`` to the provider."""
    if any(param.value.reveal() == value for param in request.auth):
        return True
    fields = [request.params, request.form or {}, request.headers,
              request.json if isinstance(request.json, Mapping) else {}]
    return any(value in str(v) for mapping in fields for v in mapping.values())


def _context(text: str, value: str) -> str:
    at = text.index(value)
    return repr(text[max(0, at - 80): at + len(value) + 20])
