"""The transport seam (issue 16, item 3): ``smsgate.Transport``, ``transport=`` on every
provider, the requests transport loaded only when used, an explicit deadline honoured,
and ``smsgate.testing.MockTransport`` running a handler in place of the network."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

import smsgate
from smsgate import ConfigurationError, ConnectError, DeliveryUnknown, InvalidResponse
from smsgate._http import RequestsTransport, deadline_scope, exchange_bound
from smsgate._unexpected import UnexpectedError
from smsgate.providers import HttpRequest, HttpResponse
from smsgate.testing import MockTransport

from .servers import hang, serve
from .transport_helpers import KEYS, NAMES, NUMBERS, build, caught

ADAPTERS = ("gosms_ge", "gosms_ro", "smsgist", "smsoffice_ge")


def ok_reply(name: str) -> HttpResponse:
    """A minimal success reply of each adapter's send."""
    body: Any = {
        "gosms.ge": {"success": True, "messageId": 7},
        "gosms.ro": {"success": True, "messageId": "u-1"},
        "smsgist": {"status": "success", "data": {"message_id": "g-1"}},
        "smsoffice.ge": {"Success": True, "ErrorCode": 0, "Message": "ok"},
    }[name]
    return HttpResponse(200, {"Content-Type": "application/json"}, json.dumps(body).encode())


def mocked(name: str, handler: Any) -> tuple[smsgate.SmsProvider, MockTransport]:
    transport = MockTransport(handler)
    provider = build(name, "https://unused.invalid", transport=transport)
    return provider, transport


# -- no requests under smsgate/providers ----------------------------------------------------
def test_providers_and_every_adapter_import_without_requests() -> None:
    code = textwrap.dedent(f"""
        import json, sys
        import smsgate.providers
        loaded = {{"providers": "requests" in sys.modules}}
        for name in {ADAPTERS!r}:
            __import__("smsgate.providers." + name)
            loaded[name] = "requests" in sys.modules
        print(json.dumps(loaded))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {"providers": False, **dict.fromkeys(ADAPTERS, False)}


def test_a_provider_with_a_mock_transport_never_loads_requests() -> None:
    code = textwrap.dedent("""
        import json, sys
        from smsgate._mock import MockTransport
        from smsgate.providers.smsgist import SmsGist
        from smsgate.providers import HttpResponse
        body = b'{"status": "success", "data": {"message_id": "g-1"}}'
        provider = SmsGist("client", "token", transport=MockTransport(
            lambda request: HttpResponse(200, {}, body)))
        result = provider.send("+233245972246", "Hi")
        print(json.dumps({"id": result.message_id, "requests": "requests" in sys.modules}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"id": "g-1", "requests": False}


def test_the_sync_driver_sets_a_deadline_without_loading_requests() -> None:
    code = textwrap.dedent("""
        import json, sys
        from smsgate._effects import Call, run
        from smsgate._wire import remaining

        def plan():
            left = yield Call(remaining, deadline=10.0 ** 9)
            return left

        left = run(plan())
        print(json.dumps({"scoped": left is not None, "requests": "requests" in sys.modules}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"scoped": True,
                                                               "requests": False}


# -- the protocol and the constructor ---------------------------------------------------------
def test_transport_is_a_public_runtime_checkable_protocol() -> None:
    assert "Transport" in smsgate.__all__
    assert smsgate.Transport is smsgate.providers.Transport
    assert isinstance(MockTransport(lambda r: HttpResponse(200)), smsgate.Transport)
    t = RequestsTransport(provider="toy", base_url="https://toy.invalid", timeout=1.0)
    assert isinstance(t, smsgate.Transport)
    t.close()
    assert not isinstance(object(), smsgate.Transport)


@pytest.mark.parametrize("name", NAMES)
def test_every_adapter_takes_a_transport_and_uses_it(name: str) -> None:
    provider, transport = mocked(name, lambda request: ok_reply(name))
    result = provider.send(NUMBERS[name], "Hello")
    assert result.ok
    assert len(transport.requests) == 1
    assert transport.requests[0].sends_message is True
    assert provider.transport is transport  # type: ignore[attr-defined]
    provider.close()
    assert not transport.closed  # the caller's transport is the caller's to close


@pytest.mark.parametrize("name", NAMES)
def test_transport_and_session_together_are_refused(name: str) -> None:
    import requests

    error = caught(lambda: build(name, "https://x.invalid", session=requests.Session(),
                                 transport=MockTransport(lambda r: HttpResponse(200))))
    assert isinstance(error, ConfigurationError)
    assert "not both" in str(error)


def test_a_transport_that_is_not_one_is_refused() -> None:
    error = caught(lambda: build("gosms.ge", "https://x.invalid", transport=object()))
    assert isinstance(error, ConfigurationError)
    assert "smsgate.Transport" in str(error)


@pytest.mark.parametrize("name", NAMES)
def test_key_names_the_shared_state(name: str) -> None:
    keyed = build(name, "https://x.invalid", key="primary-account")
    unkeyed = build(name, "https://x.invalid")
    assert keyed.state_key == "primary-account"  # type: ignore[attr-defined]
    assert unkeyed.state_key == f"{name} https://x.invalid"  # type: ignore[attr-defined]
    assert isinstance(caught(lambda: build(name, "https://x.invalid", key=" ")),
                      ConfigurationError)


# -- MockTransport ----------------------------------------------------------------------------
def test_mock_records_requests_with_credentials_redacted() -> None:
    provider, transport = mocked("smsoffice.ge", lambda request: ok_reply("smsoffice.ge"))
    provider.send(NUMBERS["smsoffice.ge"], "Hello")
    (request,) = transport.requests
    assert request.operation == "send" and request.form is not None
    assert request.form["destination"] == "995555123456"
    assert [a.name for a in request.auth] == ["key"]
    assert KEYS["smsoffice.ge"] not in repr(request)
    assert request.auth[0].value.reveal() == KEYS["smsoffice.ge"]
    assert KEYS["smsoffice.ge"] not in repr(transport)
    assert repr(transport) == "MockTransport(handler=test_mock_records_requests_with_" \
        "credentials_redacted.<locals>.<lambda>, requests=1)"


def test_a_refused_connection_in_the_handler_is_not_sent() -> None:
    def refuse(request: HttpRequest) -> HttpResponse:
        raise ConnectError("connection refused")

    provider, _ = mocked("gosms.ge", refuse)
    error = caught(lambda: provider.send(NUMBERS["gosms.ge"], "Hello"))
    assert isinstance(error, ConnectError)
    assert error.may_have_sent is False
    assert error.provider == "gosms.ge"  # stamped by the provider


@pytest.mark.parametrize("name", NAMES)
def test_a_bug_in_the_handler_is_an_honest_may_have_sent(name: str) -> None:
    def broken(request: HttpRequest) -> HttpResponse:
        raise KeyError("the test's own bug")

    provider, _ = mocked(name, broken)
    error = caught(lambda: provider.send(NUMBERS[name], "Hello"))
    assert isinstance(error, UnexpectedError)
    assert error.may_have_sent is True
    assert isinstance(error.__cause__, KeyError)


def test_a_bug_in_the_handler_of_a_lookup_sent_nothing() -> None:
    provider, _ = mocked("gosms.ge", lambda request: 1 / 0)  # type: ignore[arg-type,return-value]
    error = caught(lambda: provider.balance())  # type: ignore[attr-defined]
    assert isinstance(error, UnexpectedError)
    assert error.may_have_sent is False


def test_a_handler_returning_something_else_is_an_error() -> None:
    provider, _ = mocked("gosms.ge", lambda request: {"success": True})  # type: ignore[arg-type,return-value]
    error = caught(lambda: provider.send(NUMBERS["gosms.ge"], "Hello"))
    assert isinstance(error, UnexpectedError) and error.may_have_sent is True


def test_a_lost_reply_of_a_lookup_is_stamped_not_sent() -> None:
    """The handler's DeliveryUnknown says "may have sent" by default; a status lookup sends
    nothing, and the provider stamps that once, from the request."""

    def lost(request: HttpRequest) -> HttpResponse:
        raise DeliveryUnknown("reply lost")

    provider, _ = mocked("smsgist", lost)
    error = caught(lambda: provider.status("m-1"))
    assert isinstance(error, DeliveryUnknown)
    assert error.may_have_sent is False
    send_error = caught(lambda: provider.send(NUMBERS["smsgist"], "Hello"))
    assert isinstance(send_error, DeliveryUnknown) and send_error.may_have_sent is True


def test_mock_replies_are_scrubbed_of_credentials_and_headers_read_in_any_case() -> None:
    echo = KEYS["gosms.ge"]

    def echoing(request: HttpRequest) -> HttpResponse:
        return HttpResponse(429, {"retry-after": "7"},
                            json.dumps({"errorCode": 109, "message": f"key {echo}"}).encode())

    provider, _ = mocked("gosms.ge", echoing)
    error = caught(lambda: provider.send(NUMBERS["gosms.ge"], "Hello"))
    assert isinstance(error, smsgate.RateLimited)
    assert error.retry_after == 7.0
    assert echo not in str(error) and echo not in repr(error)


def test_mock_makes_no_request_once_the_deadline_passed() -> None:
    provider, transport = mocked("gosms.ge", lambda request: ok_reply("gosms.ge"))
    with deadline_scope(time.monotonic() - 1):
        error = caught(lambda: provider.send(NUMBERS["gosms.ge"], "Hello"))
    assert isinstance(error, ConnectError) and error.may_have_sent is False
    assert transport.requests == []
    from smsgate._effects import run

    outgoing = provider.prepare(NUMBERS["gosms.ge"], "Hello")  # type: ignore[attr-defined]
    late = provider.plan_send(outgoing, deadline=time.monotonic() - 1)  # type: ignore[attr-defined]
    with pytest.raises(ConnectError):
        run(late)
    assert transport.requests == []


def test_mock_records_the_deadline_it_was_given() -> None:
    from smsgate._effects import run

    provider, transport = mocked("gosms.ge", lambda request: ok_reply("gosms.ge"))
    outgoing = provider.prepare(NUMBERS["gosms.ge"], "Hello")  # type: ignore[attr-defined]
    at = time.monotonic() + 30
    run(provider.plan_send(outgoing, deadline=at))  # type: ignore[attr-defined]
    (given,) = transport.deadlines
    assert given is not None and abs(given - at) < 1.0


# -- the requests transport and an explicit deadline -----------------------------------------
SEND = HttpRequest(method="POST", path="/send", operation="send", json={"a": 1},
                   sends_message=True)


def test_an_explicit_deadline_bounds_the_exchange() -> None:
    with serve(hang(5.0)) as (url, _):
        t = RequestsTransport(provider="toy", base_url=url, timeout=(5.0, 5.0))
        started = time.monotonic()
        error = caught(lambda: t.perform(SEND, deadline=time.monotonic() + 0.3))
        took = time.monotonic() - started
        t.close()
    assert isinstance(error, DeliveryUnknown), error
    assert error.may_have_sent is True
    assert took < 4.0  # bounded by the deadline, far below the 10 s of the timeouts


def test_the_earlier_of_deadline_and_scope_wins() -> None:
    soon, later = time.monotonic() + 1.0, time.monotonic() + 100.0
    assert exchange_bound((50.0, 50.0), soon) <= 1.0
    with deadline_scope(soon):
        assert exchange_bound((50.0, 50.0), later) <= 1.0
    with deadline_scope(later):
        assert exchange_bound((50.0, 50.0), soon) <= 1.0
        assert 1.0 < exchange_bound((50.0, 50.0)) <= 100.0
    assert exchange_bound((50.0, 50.0)) == 100.0


def test_requests_transport_refuses_a_session_that_is_not_one() -> None:
    error = caught(lambda: RequestsTransport(provider="toy", base_url="https://x.invalid",
                                             timeout=1.0, session=object()))  # type: ignore[arg-type]
    assert isinstance(error, ConfigurationError)


def test_the_reply_headers_of_the_requests_transport_ignore_case() -> None:
    from .servers import respond

    with serve(respond(200, b"{}", headers={"X-RateLimit-Remaining": "3"})) as (url, _):
        t = RequestsTransport(provider="toy", base_url=url, timeout=(2.0, 2.0))
        reply = t.perform(SEND)
        t.close()
    assert reply.headers["x-ratelimit-remaining"] == "3"
    assert reply.headers.get("X-RATELIMIT-REMAINING") == "3"
    assert isinstance(reply, HttpResponse)


def test_an_invalid_response_from_the_mock_is_raised_as_is() -> None:
    def too_large(request: HttpRequest) -> HttpResponse:
        raise InvalidResponse("reply larger than the limit", retryable=False)

    provider, _ = mocked("smsoffice.ge", too_large)
    error = caught(lambda: provider.send(NUMBERS["smsoffice.ge"], "Hello"))
    assert isinstance(error, InvalidResponse) and error.may_have_sent is True
    assert error.provider == "smsoffice.ge"
