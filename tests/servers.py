"""Tiny TCP servers on 127.0.0.1 for transport tests: each binds port 0 and stops by itself."""

from __future__ import annotations

import contextlib
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

Handler = Callable[[socket.socket], None]


def read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request (headers and a Content-Length body)."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def reset(conn: socket.socket) -> None:
    """Close with RST instead of FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@contextlib.contextmanager
def serve(
    handler: Handler, *, lifetime: float = 10.0, read_first: bool = True
) -> Iterator[tuple[str, list[bytes]]]:
    """Serve ``handler`` per connection; yields ``(base_url, received_requests)``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    stop = threading.Event()
    received: list[bytes] = []
    conns: list[socket.socket] = []

    def loop() -> None:
        deadline = threading.Timer(lifetime, stop.set)
        deadline.daemon = True
        deadline.start()
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conns.append(conn)

            def run(c: socket.socket = conn) -> None:
                with contextlib.suppress(OSError):
                    if read_first:
                        received.append(read_request(c))
                    handler(c)

            threading.Thread(target=run, daemon=True).start()
        deadline.cancel()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()


def respond(status: int, body: bytes, content_type: str = "application/json",
            headers: dict[str, str] | None = None) -> Handler:
    """A handler that answers every request with one fixed reply."""

    def handler(conn: socket.socket) -> None:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        conn.sendall(
            f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n".encode()
            + body
        )
        conn.close()

    return handler


def hang(seconds: float = 3.0) -> Handler:
    """Read the request, then say nothing (a read timeout for the client)."""
    event = threading.Event()

    def handler(conn: socket.socket) -> None:
        event.wait(seconds)
        conn.close()

    return handler


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def trickle(*, head: bytes | None = None, interval: float = 0.05, seconds: float = 15.0,
            in_headers: bool = False) -> Handler:
    """Answer one byte at a time, each well within any read timeout, for ``seconds``.

    With ``in_headers`` even the status line trickles; otherwise the headers come at once and
    the body (announced as 100 kB) trickles.
    """
    stop = threading.Event()

    def handler(conn: socket.socket) -> None:
        reply = head if head is not None else (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n"
        )
        started = time.monotonic()
        if not in_headers:
            conn.sendall(reply)
            reply = b" " * 100_000
        for byte in reply:
            if stop.wait(interval) or time.monotonic() - started > seconds:
                break
            conn.sendall(bytes([byte]))
        conn.close()

    return handler


def endless(*, chunk: bytes = b"x" * 65536, headers: bytes = b"", seconds: float = 20.0,
            limit: int | None = None) -> Handler:
    """Answer 200 with a body that goes on (chunked, no length) until the client stops
    reading, ``limit`` bytes were sent, or ``seconds`` passed."""

    def handler(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + headers
                     + b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds and (limit is None or sent < limit):
            piece = chunk if limit is None else chunk[: limit - sent]
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        conn.sendall(b"0\r\n\r\n")
        conn.close()

    return handler


def script(replies: list[bytes | list[bytes]], received: list[bytes], *,
           gap: float = 0.3) -> Handler:
    """Answer the requests the server gets, in order and on whatever connection, with
    ``replies[0]``, ``replies[1]``...; a connection is kept open for further requests.

    A reply may be a list of raw pieces sent ``gap`` seconds apart (an interim ``103`` and then
    the final reply), so that the client reads the first piece before the rest arrives. Use
    with ``serve(..., read_first=False)``; ``received`` gets every request.
    """
    lock = threading.Lock()
    queue = list(replies)

    def handler(conn: socket.socket) -> None:
        while True:
            request = read_request(conn)
            if not request:
                break
            with lock:
                received.append(request)
                reply = queue.pop(0) if queue else http_reply(500, b"{}", close=True)
            pieces = reply if isinstance(reply, list) else [reply]
            for number, piece in enumerate(pieces):
                if number:
                    time.sleep(gap)
                conn.sendall(piece)
        conn.close()

    return handler


def http_reply(status: int, body: bytes, *, reason: str = "X", close: bool = False,
               headers: dict[str, str] | None = None) -> bytes:
    """One raw HTTP/1.1 reply with a Content-Length."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    connection = "Connection: close\r\n" if close else ""
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}{connection}\r\n"
    ).encode() + body


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1, made by openssl: ``(cert, key)``.

    The test that needs it is skipped where openssl is not installed.
    """
    import pytest

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key
