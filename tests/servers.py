"""Tiny TCP servers on 127.0.0.1 for transport tests: each binds port 0 and stops by itself."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator

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
