"""No tracebacks: garbage request lines, TLS clients, dropped connections and broken bodies, each
over real sockets against ``smsgate sandbox`` running in its own process (its stderr is what
a user sees); after each, the sandbox keeps serving."""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import smsgate
from smsgate.sandbox import Sandbox

from .test_sandbox_ports_balance import _free_block

KEYS = {"gosms.ge": "sandbox-gosms-ge-key", "smsoffice.ge": "sandbox-smsoffice-key"}


class Running:
    def __init__(self, base: int) -> None:
        self.base = base
        self.stderr = ""

    @property
    def control(self) -> str:
        return f"http://127.0.0.1:{self.base}"

    def gosms_url(self) -> str:
        return (f"gosms.ge://{KEYS['gosms.ge']}@127.0.0.1:{self.base + 1}/api"
                "?insecure_http=1&sender=Demo")

    def still_serving(self) -> None:
        assert requests.get(self.control + "/", timeout=5).status_code == 200
        assert smsgate.from_url(self.gosms_url()).send("+995555123456", "still here").ok


@contextlib.contextmanager
def cli_sandbox() -> Iterator[Running]:
    """``smsgate sandbox --port P`` in a child process; stopped with Ctrl-C (SIGINT)."""
    base = _free_block()
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from smsgate.cli import main; main(sys.argv[1:])",
         "sandbox", "--port", str(base), "--delivery-delay", "0.2", "--serve-for", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = Running(base)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", base + 4), timeout=1):
                break
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.1)
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, running.stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a failure, but stop it
            process.kill()
            _, running.stderr = process.communicate()
    assert process.returncode == 0, running.stderr
    assert "Traceback" not in running.stderr, running.stderr


def _raw(port: int, payload: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``payload``, read until the server closes (bounded by ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


GARBAGE = [
    b"GARBAGE\r\n\r\n",
    b"\x00\xff\xfe\x80 not http at all\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    b"POST /api/sendsms HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/sendsms HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    b"POST /_sandbox/faults HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
]


def test_garbage_requests_get_an_answer_and_no_traceback() -> None:
    with cli_sandbox() as running:
        for port in (running.base, running.base + 1, running.base + 2):
            for payload in GARBAGE:
                answer = _raw(port, payload)
                # 400 bad syntax, 413 body too large, 414 line too long, 505 HTTP/9.9.
                assert re.search(rb"\b(400|413|414|505)\b", answer), (payload[:40], answer[:200])
        # The control API: a JSON body that is not an object, a missing provider.
        for body in (b"[1, 2]", b'"text"', b"{not json", b'{"kind": "error"}'):
            reply = requests.post(running.control + "/_sandbox/faults", data=body, timeout=5)
            assert reply.status_code == 400 and reply.json()["error"]
        running.still_serving()


def test_a_tls_client_gets_a_hint_not_a_hang() -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with cli_sandbox() as running:
        for port in (running.base, running.base + 1, running.base + 1):
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=20) as sock, \
                    pytest.raises(ssl.SSLError):
                context.wrap_socket(sock, server_hostname="127.0.0.1")
            assert time.monotonic() - started < 15  # an answer, not the client's timeout
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"https://127.0.0.1:{running.base}/", timeout=20)
        # smsgate itself, pointed at https:// by mistake: an error, promptly, nothing sent.
        https = smsgate.create("gosms.ge", api_key=KEYS["gosms.ge"], sender="Demo",
                               base_url=f"https://127.0.0.1:{running.base + 1}/api",
                               timeout=(5, 5))
        with pytest.raises(smsgate.SmsGateError):
            https.send("+995555123456", "over TLS")
        running.still_serving()
    hints = [line for line in running.stderr.splitlines() if "speaks plain HTTP" in line]
    # One line per port, however many TLS clients came: the inbox's and gosms.ge's.
    assert len(hints) == 2, running.stderr
    assert all("insecure_http=1" in line and "http://" in line for line in hints)
    assert any(line.startswith("sandbox WARNING: gosms.ge:") for line in hints)


def _drop(port: int, request: bytes, *, read: int = 1000) -> None:
    """A client that reads ``read`` bytes of the reply and then resets the connection."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        sock.sendall(request)
        if read:
            sock.recv(read)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_client_dropping_the_connection_mid_reply() -> None:
    with cli_sandbox() as running:
        sms = smsgate.from_url(running.gosms_url())
        for prefix in ("55", "77", "99"):  # a ledger of ~1.5 MB as JSON
            assert sms.send([f"+9955{prefix}{i:06d}" for i in range(1, 1001)], "fill" * 20).ok
        get = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
        for _ in range(3):
            _drop(running.base, get % b"/_sandbox/messages")
            _drop(running.base, get % b"/")
            _drop(running.base, get % b"/_sandbox/inbox", read=0)
        # A provider reply that comes late, to a client that has gone.
        requests.post(running.control + "/_sandbox/faults", timeout=5, json={
            "provider": "gosms.ge", "kind": "latency", "seconds": 0.5, "times": 1})
        body = (b'{"api_key": "%s", "from": "Demo", "to": "995555123456", "text": "gone"}'
                % KEYS["gosms.ge"].encode())
        _drop(running.base + 1, b"POST /api/sendsms HTTP/1.1\r\nContent-Type: application/json"
              b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body), read=0)
        time.sleep(1.0)
        running.still_serving()


def test_an_emulator_bug_is_a_500_and_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from smsgate.sandbox import _providers

    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug in the emulator")

    monkeypatch.setitem(_providers.EMULATORS, "gosms.ro", broken)  # type: ignore[index]
    caplog.set_level(logging.DEBUG, logger="smsgate.sandbox")
    with Sandbox() as sandbox:
        reply = requests.post(sandbox.base_url("gosms.ro") + "/message/send", json={},
                              timeout=5)
        assert reply.status_code == 500 and "sandbox failed" in reply.text
        monkeypatch.undo()
        assert sandbox.provider("gosms.ro").send("+40712345678", "after the bug").ok
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "gosms.ro: the emulator failed on POST /v1/message/send (details with -v)"]
    assert "Traceback" not in capfd.readouterr().err
