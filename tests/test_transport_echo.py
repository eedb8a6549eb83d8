"""A reply never carries a registered credential, over real sockets on 127.0.0.1.

The promises: whatever form a provider echoes a credential in (as it is, percent-encoded in
either case or in part, JSON-escaped, as HTML references, in another letter case, in base64
alone or inside an ``Authorization: Basic`` value), it reaches neither the error text, nor the
result's ``raw``, nor the locals of any frame on an error's traceback; and a token minted for a
request stays scrubbed while that request runs, however many are minted meanwhile.
"""

from __future__ import annotations

import base64
import html
import json
import pickle
import socket
import threading
import time
import urllib.parse

import attrs
import cattrs
import pytest

import smsgate
from smsgate import SmsGateError, SmsGist, _secrets
from smsgate._secrets import TRANSIENT_LIMIT, Secret, scrub, scrub_bytes

from .servers import http_reply, read_request, respond, serve
from .test_transport_secrets import frame_leaks, text_of
from .transport_helpers import NAMES, NUMBERS, caught

KEY = "CANARY/echo+key=Zq9-0042"  # '/', '+', '=' as base64 keys have
CLIENT = "client-echo-0001"


def _variants(key: str) -> dict[str, str]:
    pct = urllib.parse.quote(key, safe="")
    return {
        "raw": key,
        "percent, upper-case hex": pct,
        "percent, lower-case hex": pct.replace("%2F", "%2f").replace("%2B", "%2b")
        .replace("%3D", "%3d"),
        "percent, only '/' encoded": urllib.parse.quote(key, safe="+="),
        "percent, every character": "".join(f"%{b:02x}" for b in key.encode()),
        "JSON-escaped slashes": key.replace("/", "\\/"),
        "JSON \\u escapes": "".join(f"\\u{ord(c):04x}" for c in key),
        "HTML references": html.escape(key).replace("/", "&#x2F;").replace("+", "&#43;"),
        "upper case": key.upper(),
        "base64": base64.b64encode(key.encode()).decode(),
        "base64, URL-safe, unpadded": base64.urlsafe_b64encode(key.encode()).decode().rstrip("="),
        "Basic client:token": "Basic " + base64.b64encode(f"{CLIENT}:{key}".encode()).decode(),
    }


VARIANTS = _variants(KEY)


def _provider(name: str, url: str) -> smsgate.SmsProvider:
    common = {"sender": "Brand", "base_url": url, "timeout": (1.0, 2.0)}
    if name == "gosms.ge":
        return smsgate.GoSmsGe(KEY, **common)
    if name == "smsoffice.ge":
        return smsgate.SmsOfficeGe(KEY, **common)
    if name == "gosms.ro":
        return smsgate.GoSmsRo(KEY, **common)
    return SmsGist(CLIENT, token=KEY, **common)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", NAMES)
def test_a_key_echoed_in_an_error_reply_reaches_no_text_and_no_frame(
    name: str, variant: str
) -> None:
    echoed = VARIANTS[variant]
    message = f"invalid key {echoed}"
    body = json.dumps({"success": False, "Success": False, "status": "error", "errorCode": 100,
                       "ErrorCode": 80, "message": message, "Message": message,
                       "error": message}).encode()
    with serve(respond(401, body)) as (url, _):
        error = caught(lambda: _provider(name, url).send(NUMBERS[name], "Hello"))
    assert isinstance(error, SmsGateError), error
    text = text_of(error) + repr(pickle.dumps(error))
    assert echoed not in text
    assert KEY not in text
    assert frame_leaks(error, (KEY, echoed)) == []


@pytest.mark.parametrize("name", NAMES)
def test_a_2xx_echo_that_is_not_a_success_leaves_no_key_in_any_frame(name: str) -> None:
    body = json.dumps({"received": {"api_key": KEY, "Authorization": f"Bearer {KEY}"},
                       "note": "echo of your request"}).encode()
    with serve(respond(200, body)) as (url, _):
        error = caught(lambda: _provider(name, url).send(NUMBERS[name], "Hello"))
    assert isinstance(error, SmsGateError), error
    assert error.__traceback__ is not None
    error.__traceback__ = error.__traceback__.tb_next  # this test's own frame
    assert frame_leaks(error, (KEY,)) == []
    assert KEY not in text_of(error)


def test_a_success_that_echoes_the_key_keeps_it_out_of_raw() -> None:
    body = json.dumps({"success": True, "messageId": 7,
                       "request": {"api_key": KEY, "auth": VARIANTS["percent, lower-case hex"]}})
    with serve(respond(200, body.encode())) as (url, _):
        result = _provider("gosms.ge", url).send(NUMBERS["gosms.ge"], "Hi")
    assert result.message_id == "7"
    for shown in (repr(result), repr(result.raw), repr(cattrs.unstructure(result)),
                  repr(attrs.asdict(result)), repr(pickle.dumps(result))):
        assert KEY not in shown
        assert VARIANTS["percent, lower-case hex"] not in shown


def test_a_reply_without_credentials_is_read_byte_for_byte() -> None:
    Secret(KEY)
    body = b'{"ok": "\\u00e9 caf\xc3\xa9 \xff\xfe not utf-8", "pct": "%2F%41", "amp": "&amp;"}'
    assert scrub_bytes(body) == body
    assert scrub("nothing here %41 &#65;") == "nothing here %41 &#65;"


def test_a_token_in_flight_stays_scrubbed_however_many_are_minted_meanwhile() -> None:
    counter = iter(range(10_000))
    slow_started = threading.Event()

    def factory() -> str:
        return f"CANARY-inflight-tok-{next(counter):06d}-zz"

    ok = json.dumps({"status": "success", "data": {"message_id": "m1", "status": "queued"}})

    def handler(conn: socket.socket) -> None:
        data = read_request(conn)
        token = data.split(b"Authorization: Bearer ", 1)[1].split(b"\r\n", 1)[0].decode()
        if b"SLOW" in data:
            slow_started.set()
            time.sleep(1.5)
            body = json.dumps({"status": "error", "message": f"token {token} expired"})
            conn.sendall(http_reply(401, body.encode(), close=True))
        else:
            conn.sendall(http_reply(200, ok.encode(), close=True))
        conn.close()

    box: dict[str, BaseException] = {}
    with serve(handler, read_first=False, lifetime=30) as (url, _):
        gist = SmsGist(CLIENT, token_factory=factory, sender="Brand", base_url=url,
                       timeout=(1.0, 5.0))

        def slow() -> None:
            box["error"] = caught(lambda: gist.send(NUMBERS["smsgist"], "SLOW"))

        thread = threading.Thread(target=slow)
        thread.start()
        assert slow_started.wait(5)
        for _ in range(2 * TRANSIENT_LIMIT):
            gist.send(NUMBERS["smsgist"], "fast")
        thread.join(10)
        gist.send(NUMBERS["smsgist"], "fast")  # one more registration: the bound applies again
    error = box["error"]
    assert isinstance(error, smsgate.AuthenticationError), error
    assert "CANARY-inflight-tok-000000-zz" not in text_of(error)
    assert "*** expired" in str(error)
    # Bounded afterwards: released tokens beyond the limit are forgotten.
    assert len(_secrets._transient) <= TRANSIENT_LIMIT + 1
