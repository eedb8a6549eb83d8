"""A lean fake of the four providers' send endpoints, for benchmarks only.

Run as its own process (``benchmarks/run.py`` starts it): it prints ``PORT <n>`` and answers
every request with the provider's minimal success reply (``--latency SECONDS`` waits that long
before each reply, as a slow provider does; connections are served in parallel). It validates
nothing and shares no cache with the client, so both sides of a comparison pay exactly the
same server cost: smsgate's requests and the hand-written ``requests`` calls get
byte-identical replies.

HTTP/1.1 with keep-alive, one thread per connection, only ``Content-Length`` bodies (what
requests sends). It stops by itself when its standard input closes (the benchmark ended or
died), after 120 s without a connection, or after an hour in all.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

IDLE_LIMIT = 120.0
LIFETIME = 3600.0

_HEAD_END = b"\r\n\r\n"


def reply_for(path: str, body: bytes) -> tuple[int, bytes]:
    """The minimal success reply each adapter accepts, by request path."""
    if path == "/sendsms":  # GOSMS.GE, one number
        return 200, b'{"success":true,"messageId":1,"balance":100,"segment":1}'
    if path == "/sendbulk":  # GOSMS.GE, many: one item per number, as the provider answers
        numbers = json.loads(body)["to"]
        items = [{"messageId": i + 1, "to": n, "success": True} for i, n in enumerate(numbers)]
        payload = {"success": True, "balance": 100, "segment": 1, "totalCount": len(items),
                   "successCount": len(items), "failedCount": 0, "messages": items}
        return 200, json.dumps(payload, separators=(",", ":")).encode()
    if path == "/v2/send/":  # SMSOffice.ge
        return 200, b'{"Success":true,"Message":"Success","Output":0,"ErrorCode":0}'
    if path == "/message/send":  # GoSMS.ro
        return 200, b'{"success":true,"messageId":"m-1","balanceDeduction":"0.03"}'
    if path == "/api/sms/send":  # SMSGist: the message id and each recipient back
        recipients = json.loads(body)["recipients"]
        listed = [{"recipient_id": i + 1, "recipient": r} for i, r in enumerate(recipients)]
        payload = {"status": "success", "message": "queued", "data": {
            "message_id": "m-1", "status": "queued", "recipients_count": len(listed),
            "segments": 1, "recipients": listed}}
        return 201, json.dumps(payload, separators=(",", ":")).encode()
    if path.endswith("/Messages.json"):  # Twilio, for the peer comparison
        return 201, (b'{"sid":"SM00000000000000000000000000000001","account_sid":'
                     b'"AC00000000000000000000000000000001","status":"queued","num_segments":"1"}')
    return 404, b'{"success":false}'


_REASONS = {200: b"OK", 201: b"Created", 404: b"Not Found"}


def _serve_connection(conn: socket.socket, touch: list[float], latency: float) -> None:
    buffer = b""
    with conn:
        conn.settimeout(IDLE_LIMIT)
        while True:
            while _HEAD_END not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(_HEAD_END)
            lines = head.split(b"\r\n")
            path = lines[0].split(b" ")[1].decode().split("?")[0]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffer) < length:
                chunk = conn.recv(max(65536, length - len(buffer)))
                if not chunk:
                    return
                buffer += chunk
            body, buffer = buffer[:length], buffer[length:]
            status, payload = reply_for(path, body)
            if latency:
                time.sleep(latency)
            conn.sendall(
                b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"\r\n%s" % (status, _REASONS[status], len(payload), payload)
            )
            touch[0] = time.monotonic()


def main() -> None:
    latency = float(sys.argv[sys.argv.index("--latency") + 1]) if "--latency" in sys.argv else 0.0
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    listener.settimeout(1.0)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    stop = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    started = time.monotonic()
    last = [started]
    while not stop.is_set():
        now = time.monotonic()
        if now - last[0] > IDLE_LIMIT or now - started > LIFETIME:
            break
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        last[0] = time.monotonic()
        threading.Thread(target=_serve_connection, args=(conn, last, latency), daemon=True).start()
    listener.close()


if __name__ == "__main__":
    main()
