"""Secrets in every corner of a transport error, over real sockets on 127.0.0.1.

The promises: no frame on the traceback of a raised error (nor of its chained causes) holds a
revealed credential, for every kind of transport failure and all four adapters; a key the
provider echoes in its error text reaches neither ``str``, ``repr`` nor ``args``; credentials
that cannot go in a header are refused before any I/O without being quoted; and the tokens a
``token_factory`` mints are scrubbed while recent, in a registry of bounded size.
"""

from __future__ import annotations

import gc
import json
import socket
import time
import traceback
import types
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import smsgate
from smsgate import ConfigurationError, SmsGateError, SmsGist
from smsgate._secrets import TRANSIENT_LIMIT, Secret, registered_count, scrub

from .servers import closed_port, endless, hang, http_reply, reset, respond, script, serve, trickle
from .transport_helpers import CANARIES, KEYS, NAMES, NUMBERS, build, caught, sending


def _needles(secrets: tuple[str, ...]) -> list[str]:
    out = []
    for secret in secrets:
        out += [secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)]
    return out


def _holders(
    value: Any, needles: list[str], path: str, seen: set[int], depth: int
) -> Iterator[str]:
    """Paths under ``value`` where a revealed secret sits (a :class:`Secret` does not count:
    its repr is redacted; a revealed value is a plain ``str`` or ``bytes``)."""
    if isinstance(value, str):
        if any(n in value for n in needles):
            yield path
        return
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if any(n.encode("utf-8", "replace") in raw for n in needles):
            yield path
        return
    if (
        value is None
        or isinstance(value, (Secret, int, float, complex, bool, type, types.ModuleType,
                              types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                              types.CodeType, types.FrameType, types.TracebackType))
        or depth > 8
        or id(value) in seen
    ):
        return
    seen.add(id(value))
    if isinstance(value, dict):
        for key, item in list(value.items()):
            yield from _holders(key, needles, f"{path}[key]", seen, depth + 1)
            yield from _holders(item, needles, f"{path}[{key!r}]", seen, depth + 1)
        return
    if isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(list(value)):
            yield from _holders(item, needles, f"{path}[{index}]", seen, depth + 1)
        return
    if isinstance(value, BaseException):
        yield from _holders(value.args, needles, f"{path}.args", seen, depth + 1)
    fields = dict(getattr(value, "__dict__", {}) or {})
    for cls in type(value).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if isinstance(slot, str) and hasattr(value, slot):
                fields[slot] = getattr(value, slot)
    for name, item in fields.items():
        yield from _holders(item, needles, f"{path}.{name}", seen, depth + 1)


def frame_leaks(error: BaseException, secrets: tuple[str, ...] = CANARIES) -> list[str]:
    """Where a revealed secret is held by the locals of a frame on the traceback of ``error``
    or of any exception chained to it (causes, contexts, a gateway's per-provider errors)."""
    needles = _needles(secrets)
    found: list[str] = []
    errors: list[BaseException] = [error]
    done: set[int] = set()
    while errors:
        item = errors.pop()
        if id(item) in done:
            continue
        done.add(id(item))
        errors += [e for e in (item.__cause__, item.__context__) if e is not None]
        errors += list(getattr(item, "errors", ()))
        tb = item.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            where = f"{type(item).__name__} / {frame.f_code.co_name}"
            for name, value in frame.f_locals.items():
                found += [f"{where}: {p}" for p in _holders(value, needles, name, set(), 0)]
            tb = tb.tb_next
    return found


def text_of(error: BaseException) -> str:
    parts = [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    for name in ("message", "code"):
        parts.append(repr(getattr(error, name, None)))
    return "\n".join(parts)


def _interim(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 103 Early Hints\r\n\r\n")
    time.sleep(0.3)
    conn.sendall(http_reply(200, b"{}", close=True))
    conn.close()


FAULTS: dict[str, tuple[Callable[..., Any] | None, tuple[float, float], bool]] = {
    # name: (handler or None for "nothing listening", timeout, the server reads first)
    "refused": (None, (1.0, 1.0), True),
    "read timeout": (hang(3), (1.0, 0.3), True),
    "time bound": (trickle(seconds=3), (0.3, 0.3), True),
    "reset": (reset, (1.0, 1.0), True),
    "TLS": (respond(200, b"{}"), (1.0, 1.0), False),
    "oversize": (endless(limit=64 * 1024 * 1024), (1.0, 3.0), True),
    "interim 1xx": (_interim, (1.0, 1.0), True),
    "echoed key": (None, (1.0, 1.0), True),  # replaced below: needs the provider's key
}


def _echo(conn: socket.socket) -> None:
    # Every key of the four canary sets that smsgate knows of by now (an unregistered string is
    # no secret of this process): the adapter under test has registered its own.
    message = "invalid key " + " / ".join(k for k in KEYS.values() if scrub(k) == "***")
    # Each provider's own error shape: GOSMS.GE errorCode 100, SMSOffice.ge ErrorCode 80
    # (both "invalid API key"), GoSMS.ro and SMSGist by HTTP status and text.
    body = json.dumps({"success": False, "Success": False, "status": "error",
                       "errorCode": 100, "ErrorCode": 80,
                       "message": message, "Message": message, "error": message}).encode()
    conn.sendall(http_reply(401, body, close=True))
    conn.close()


def _run_fault(name: str, fault: str, call_kind: str) -> BaseException:
    handler, timeout, read_first = FAULTS[fault]
    if fault == "echoed key":
        handler = _echo
    if handler is None:
        url = f"http://127.0.0.1:{closed_port()}"
        provider = build(name, url, timeout=timeout)
        return caught(_call(name, provider, call_kind))
    with serve(handler, read_first=read_first) as (url, received):
        if fault == "TLS":
            url = url.replace("http://", "https://")
        provider = build(name, url, timeout=timeout)
        error = caught(_call(name, provider, call_kind))
    if fault not in ("TLS",):
        assert received, "the request reached the server: the key was on the wire"
    return error


def _call(name: str, provider: smsgate.SmsProvider, kind: str) -> Callable[[], object]:
    if kind == "send":
        return sending(name, provider)
    if kind == "gateway":
        return sending(name, smsgate.Gateway([provider], retry=None))
    if "balance" in provider.capabilities:
        return lambda: provider.balance()  # type: ignore[attr-defined]
    return lambda: provider.status("m-1", recipient=NUMBERS[name])  # type: ignore[attr-defined]


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("name", NAMES)
def test_no_frame_of_a_raised_error_holds_a_revealed_key(name: str, fault: str) -> None:
    kinds = ("send", "gateway") if name == "gosms.ro" else ("send", "lookup", "gateway")
    for kind in kinds:  # GoSMS.ro has no lookup calls
        error = _run_fault(name, fault, kind)
        assert isinstance(error, SmsGateError), (kind, repr(error))
        leaks = frame_leaks(error)
        assert not leaks, (kind, leaks[:5])
        text = text_of(error)
        assert not [c for c in CANARIES if c in text], (kind, text[:300])


@pytest.mark.parametrize("name", NAMES)
def test_key_echoed_by_the_provider_is_scrubbed_from_str_repr_and_args(name: str) -> None:
    error = _run_fault(name, "echoed key", "send")
    assert isinstance(error, smsgate.ProviderError)
    text = text_of(error)
    assert not [c for c in CANARIES if c in text], text[:300]
    assert "invalid key ***" in str(error)  # the provider's text is kept, the key is not
    assert error.args == (error.message,)


def test_every_provider_error_scrubs_its_message_and_code() -> None:
    Secret("CANARY-direct-3c3c")
    error = smsgate.InvalidRequest(
        "refused key CANARY-direct-3c3c (CANARY%2Ddirect-3c3c)", code="CANARY-direct-3c3c",
        provider="x",
    )
    assert "CANARY-direct-3c3c" not in text_of(error)
    assert error.code == "***"


# --- credentials that cannot go in a header ------------------------------------------------------

@pytest.mark.parametrize(
    "bad", ["ключ-API-key", "key\r\nX-Injected: 1", "key\nmore", "key\x00nul", "key\x7fdel"]
)
def test_header_credentials_that_cannot_be_sent_are_refused_at_build(bad: str) -> None:
    for build_it in (
        lambda: smsgate.GoSmsRo(bad),  # X-Authorization header
        lambda: SmsGist(bad, "token-ok-123"),  # X-Client-Id header
        lambda: SmsGist("client-ok-123", bad),  # Authorization: Bearer ...
    ):
        error = caught(build_it)
        assert isinstance(error, ConfigurationError), repr(error)
        assert "cannot be sent in the" in str(error)
        assert bad not in text_of(error) and bad.strip() not in str(error)


def test_header_credential_with_leading_whitespace_is_refused_at_build() -> None:
    # requests refuses such a header value at send time, with the value in its message.
    error = caught(lambda: smsgate.GoSmsRo(" key-with-space"))
    assert isinstance(error, ConfigurationError)
    assert "starts with whitespace" in str(error)


@pytest.mark.parametrize("bad", ["ключ-token-1", "token\r\nX-Injected: 1"])
def test_minted_token_that_cannot_be_sent_is_refused_before_any_request(bad: str) -> None:
    with serve(respond(200, b"{}")) as (url, received):
        gist = SmsGist(KEYS["smsgist"], token_factory=lambda: bad, base_url=url)
        error = caught(lambda: gist.send(NUMBERS["smsgist"], "Hello"))
        time.sleep(0.1)
    assert isinstance(error, ConfigurationError), repr(error)
    assert "Authorization header cannot be sent" in str(error)
    assert received == []  # nothing went out
    assert bad not in text_of(error)
    assert not frame_leaks(error, (bad,))
    assert error.may_have_sent is False  # on every smsgate error, ConfigurationError too


def test_non_ascii_credentials_round_trip_over_a_real_socket() -> None:
    # Latin-1 in a header is sent as is; any Unicode in a query string or a JSON body is
    # encoded by the URL or JSON rules. (A mocked socket would accept anything.)
    latin = "clé-secrète-1"
    unicode_key = "ключ-секрет-2"
    def outcome(call: Callable[[], object]) -> object:
        try:
            return call()
        except SmsGateError as error:  # a reply the adapter cannot read is fine here
            return error

    with serve(respond(200, b'{"success": true, "data": {"message_id": "m"}}')) as (url, got):
        gist = SmsGist(latin, latin, base_url=url)
        outcome(lambda: gist.send(NUMBERS["smsgist"], "Hello"))
        office = smsgate.SmsOfficeGe(unicode_key, sender="Brand", base_url=url)
        outcome(lambda: office.send(NUMBERS["smsoffice.ge"], "Hello"))
        gosms = smsgate.GoSmsGe(unicode_key, sender="Brand", base_url=url)
        outcome(lambda: gosms.send(NUMBERS["gosms.ge"], "Hello"))
    assert len(got) == 3
    assert f"Authorization: Bearer {latin}".encode("latin-1") in got[0]
    assert f"X-Client-Id: {latin}".encode("latin-1") in got[0]
    assert urllib.parse.quote(unicode_key).encode() in got[1]
    body = got[2].partition(b"\r\n\r\n")[2]
    assert unicode_key in body.decode("unicode_escape") or unicode_key.encode() in body


# --- minted tokens: scrubbed while recent, the registry bounded ----------------------------------

def test_minted_tokens_are_scrubbed_while_recent_and_never_pile_up() -> None:
    minted: list[str] = []

    def factory() -> str:
        minted.append(f"minted-token-{len(minted):06d}-{'q' * 40}")
        return minted[-1]

    sends = 4 * TRANSIENT_LIMIT
    gc.collect()
    before = registered_count()
    received: list[bytes] = []
    ok = http_reply(200, b'{"status": "success", "message": "", "data": {"message_id": "m"}}')
    with serve(script([ok] * (sends + 1), received), read_first=False) as (url, _):
        gist = SmsGist(KEYS["smsgist"], token_factory=factory, base_url=url)
        sizes = []
        for index in range(sends):
            gist.send(NUMBERS["smsgist"], "Hello")
            if index + 1 in (TRANSIENT_LIMIT, 2 * TRANSIENT_LIMIT, sends):
                gc.collect()  # a finished request's Secret may wait in a reference cycle
                sizes.append(registered_count())
    assert len(received) == sends and len(minted) == sends
    assert minted[-1].encode() in received[-1]  # each request carried its own token
    # The work of every scrub (and of each registration) is proportional to this count: it
    # stops growing once TRANSIENT_LIMIT tokens are held, however many sends follow. (It may
    # shrink meanwhile: a token of an earlier test still held elsewhere is let go when freed.)
    assert sizes[0] >= sizes[1] >= sizes[2], sizes
    assert sizes[2] <= before + TRANSIENT_LIMIT, (before, sizes)
    assert scrub(f"echo {minted[-1]}") == "echo ***"  # the latest are still scrubbed
    assert scrub(f"echo {minted[-TRANSIENT_LIMIT]}") == "echo ***"
    assert minted[0] in scrub(f"echo {minted[0]}")  # the oldest were let go


def test_a_recent_minted_token_echoed_in_an_error_is_scrubbed() -> None:
    token = "minted-token-echo-7a7a7a7a"

    def echo(conn: socket.socket) -> None:
        body = b'{"status": "error", "message": "bad token ' + token.encode() + b'"}'
        conn.sendall(http_reply(401, body, close=True))
        conn.close()

    with serve(echo) as (url, _):
        gist = SmsGist(KEYS["smsgist"], token_factory=lambda: token, base_url=url)
        error = caught(lambda: gist.send(NUMBERS["smsgist"], "Hello"))
    assert isinstance(error, smsgate.AuthenticationError)
    assert token not in text_of(error)
    assert "bad token ***" in str(error)
