"""A delivery-report endpoint with no web framework: smsgate.webhooks.wsgi_app on wsgiref.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/webhook_receiver.py    # the sandbox calls it back
    .venv/bin/python examples/webhook_receiver.py --serve               # listen on 127.0.0.1:8000
"""

from __future__ import annotations

import os
import sys
import threading
import time
import wsgiref.simple_server

import smsgate
from smsgate import webhooks
from smsgate.sandbox import Sandbox

SECRET = os.environ.get("SMSGIST_WEBHOOK_SECRET", "example-secret")


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def save(report: smsgate.DeliveryReport) -> None:
    print(f"{report.provider}: {report.message_id} to {report.recipient} -> {report.status}")


def main() -> None:
    app = webhooks.wsgi_app("smsgist", save, secret=SECRET)
    if "--serve" in sys.argv:
        wsgiref.simple_server.make_server("127.0.0.1", 8000, app).serve_forever()
        return
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hooks/smsgist"
    with Sandbox(delivery_delay=0.3, callbacks={"smsgist": url}, webhook_secret=SECRET) as sb:
        sb.provider("smsgist").send(["0245972246", "0245979999"], "Hello")
        time.sleep(1.5)  # the sandbox reports delivery after its delay
    server.shutdown()


if __name__ == "__main__":
    main()
