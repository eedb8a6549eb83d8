"""The environment's proxy, CA-bundle and netrc settings still apply, read once per provider.

smsgate's own session resolves them when the provider is created instead of on every request
(issue 22); these tests prove over real sockets on 127.0.0.1 that ``HTTP_PROXY``,
``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` and ``NETRC`` are
honoured as requests honours them, and when a change to them is seen.
"""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from smsgate import ConnectError, GoSmsGe

from .servers import make_certificate, read_request, respond, serve

OK = b'{"success":true,"messageId":7,"balance":10,"segment":1}'
ENVIRONMENT = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE",
               "CURL_CA_BUNDLE", "NETRC")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy, bundle or netrc from the machine running the tests leaks in."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def provider(url: str, **options: object) -> GoSmsGe:
    return GoSmsGe("CANARY-env-key", sender="Brand", base_url=url, timeout=(2.0, 2.0),
                   **options)  # type: ignore[arg-type]


def first_line(request: bytes) -> str:
    return request.split(b"\r\n", 1)[0].decode()


def test_http_proxy_carries_the_request_in_absolute_form(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(respond(200, OK)) as (proxy_url, seen):
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        result = provider("http://sms.example.invalid/api").send("+995555123456", "Hi")
    assert result.ok and result.message_id == "7"
    assert [first_line(r) for r in seen] == ["POST http://sms.example.invalid/api/sendsms HTTP/1.1"]


def test_https_proxy_is_asked_for_a_tunnel(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(respond(403, b"")) as (proxy_url, seen):
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
        with pytest.raises(ConnectError) as caught:
            provider("https://sms.example.invalid/api").send("+995555123456", "Hi")
    assert len(seen) == 1
    assert first_line(seen[0]).startswith("CONNECT sms.example.invalid:443 HTTP/1.")
    assert caught.value.may_have_sent is False  # refused before any byte reached the host


def test_no_proxy_sends_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(respond(200, OK)) as (proxy_url, via_proxy), \
            serve(respond(200, OK)) as (direct_url, direct):
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        assert provider(direct_url + "/api").send("+995555123456", "Hi").ok
    assert via_proxy == []
    assert [first_line(r) for r in direct] == ["POST /api/sendsms HTTP/1.1"]


def test_the_environment_is_read_when_the_provider_is_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The documented rule: a provider (and smsgate's session in it) reads the environment once;
    # a session the caller passes keeps requests' behaviour and reads it on every request.
    with serve(respond(200, OK)) as (proxy_url, via_proxy), \
            serve(respond(200, OK)) as (direct_url, direct):
        before = provider(direct_url + "/api")
        callers = provider(direct_url + "/api", session=requests.Session())
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        after = provider(direct_url + "/api")
        for each in (before, callers, after):
            assert each.send("+995555123456", "Hi").ok
    assert len(direct) == 1  # `before` only
    assert len(via_proxy) == 2  # the caller's session and `after`
    assert all(first_line(r).startswith(f"POST {direct_url}/api/") for r in via_proxy)


def test_netrc_credentials_apply_as_requests_applies_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login proxyuser password proxypass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with serve(respond(200, OK)) as (url, seen):
        assert provider(url + "/api").send("+995555123456", "Hi").ok
        requests.Session().post(url + "/api/sendsms", json={}, timeout=2)
    expected = "Authorization: Basic " + base64.b64encode(b"proxyuser:proxypass").decode()
    ours, theirs = (r.split(b"\r\n\r\n")[0].decode().split("\r\n") for r in seen)
    assert expected in ours
    assert expected in theirs


# -- CA bundles named by the environment -------------------------------------------------------
@pytest.fixture
def tls_url(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A TLS server on 127.0.0.1 answering GOSMS.GE's success reply, and its certificate."""
    cert, key = make_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    answer = respond(200, OK)

    def handler(conn: socket.socket) -> None:
        try:
            tls = context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused the certificate
        try:
            read_request(tls)
            answer(tls)
        finally:
            tls.close()

    with serve(handler, read_first=False) as (url, _):
        yield url.replace("http://", "https://") + "/api", cert


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_named_by_the_environment_is_trusted(
    variable: str, tls_url: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert = tls_url
    monkeypatch.setenv(variable, str(cert))
    assert provider(url).send("+995555123456", "Hi").ok


def test_without_the_bundle_the_certificate_is_refused(tls_url: tuple[str, Path]) -> None:
    url, _ = tls_url
    with pytest.raises(ConnectError) as caught:
        provider(url).send("+995555123456", "Hi")
    assert caught.value.may_have_sent is False
    assert "TLS" in str(caught.value)


def test_requests_ca_bundle_comes_before_curl_ca_bundle(
    tls_url: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The order requests uses: REQUESTS_CA_BUNDLE first, so a bundle without the test
    # certificate there wins over the right one in CURL_CA_BUNDLE, for both.
    url, cert = tls_url
    monkeypatch.setenv("CURL_CA_BUNDLE", str(cert))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    with pytest.raises(ConnectError):
        provider(url).send("+995555123456", "Hi")
    with pytest.raises(requests.exceptions.SSLError):
        requests.Session().post(url + "/sendsms", json={}, timeout=2)
