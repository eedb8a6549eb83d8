"""The sandbox's delivery callbacks, received by smsgate's own WSGI endpoint over real sockets."""

from __future__ import annotations

import threading
import time
import wsgiref.simple_server
from collections.abc import Iterator

import pytest

import smsgate
from smsgate import DeliveryReport, Status, webhooks
from smsgate.sandbox import Sandbox

SECRET = "sandbox-webhook-secret"


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receivers() -> Iterator[tuple[dict[str, str], dict[str, list[DeliveryReport]]]]:
    urls: dict[str, str] = {}
    got: dict[str, list[DeliveryReport]] = {}
    servers = []
    for name in ("smsoffice.ge", "gosms.ro", "smsgist"):
        got[name] = []
        app = webhooks.wsgi_app(name, got[name].append, SECRET)
        server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        token = f"?token={SECRET}" if name == "smsoffice.ge" else ""
        urls[name] = f"http://127.0.0.1:{server.server_port}/hook{token}"
    yield urls, got
    for server in servers:
        server.shutdown()
        server.server_close()


def test_signed_callbacks_reach_the_wsgi_app(
    receivers: tuple[dict[str, str], dict[str, list[DeliveryReport]]],
) -> None:
    urls, got = receivers
    with Sandbox(delivery_delay=0.2, callbacks=urls, webhook_secret=SECRET) as sandbox:
        office = sandbox.provider("smsoffice.ge", sender="Demo")
        sent = office.send(["+995577123456", "+995599129999"], "Hi", reference="cb-1")
        ro = sandbox.provider("gosms.ro").send("+40712345678", "Hi")
        gist = sandbox.provider("smsgist").send("+233245972246", "Hi")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sum(map(len, got.values())) < 4:
            time.sleep(0.05)
    # SMSOffice: one callback per destination, the ...9999 number undelivered.
    office_reports = sorted(got["smsoffice.ge"], key=lambda r: r.recipient or "")
    assert [(r.message_id, r.recipient, r.status) for r in office_reports] == [
        ("cb-1", "+995577123456", Status.DELIVERED),
        ("cb-1", "+995599129999", Status.FAILED),
    ]
    assert sent.message_id == "cb-1"
    assert [(r.message_id, r.status) for r in got["gosms.ro"]] == [
        (ro.message_id, Status.DELIVERED)]
    assert [(r.message_id, r.recipient, r.status) for r in got["smsgist"]] == [
        (gist.message_id, "+233245972246", Status.DELIVERED)]


def test_callbacks_only_for_providers_that_have_them() -> None:
    with pytest.raises(smsgate.ConfigurationError, match=r"gosms\.ge"):
        Sandbox(callbacks={"gosms.ge": "http://127.0.0.1:1/"})
