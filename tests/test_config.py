from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import responses

import smsgate
from smsgate import ConfigurationError, Gateway, GoSmsGe, SmsGist, SmsOfficeGe

KEY = "cfg-canary-key-1111"


def test_single_provider_from_a_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOSMS_API_KEY", KEY)
    provider = smsgate.from_config({"provider": "gosms.ge", "api_key": "${GOSMS_API_KEY}",
                                    "sender": "MyBrand", "timeout": [3, 20]})
    assert isinstance(provider, GoSmsGe)
    assert provider.sender == "MyBrand"
    assert provider.timeout == (3.0, 20.0)
    assert provider._credentials["api_key"].reveal() == KEY


def test_gateway_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOSMS_API_KEY", KEY)
    monkeypatch.delenv("SMSOFFICE_SENDER", raising=False)
    path = tmp_path / "smsgate.toml"
    path.write_text(textwrap.dedent("""
        [providers.gosms]
        provider = "gosms.ge"
        api_key = "${GOSMS_API_KEY}"
        sender = "MyBrand"

        [providers.office]
        url = "smsoffice.ge://office-key@?sender=${SMSOFFICE_SENDER:-MyShop}"

        [providers.gist]
        provider = "smsgist"
        client_id = "cid"
        token = "tok"

        [gateway]
        order = ["gosms", "office"]
        routes = { GH = ["gist"] }
        deadline = 15
        region = "GE"
        failover_on_unknown = false
        retry = { attempts = 2, backoff = 0.1 }
        breaker = { failure_threshold = 3, reset_timeout = 10 }
    """))
    gateway = smsgate.from_config(path)
    assert isinstance(gateway, Gateway)
    assert [type(p) for p in gateway.providers] == [GoSmsGe, SmsOfficeGe]
    assert [type(p) for p in gateway.routes["GH"]] == [SmsGist]
    assert gateway.providers[1].sender == "MyShop"  # ${VAR:-default}
    assert (gateway.deadline, gateway.region) == (15, "GE")
    assert gateway.retry == smsgate.RetryPolicy(attempts=2, backoff=0.1)


def test_one_named_provider_without_gateway_is_that_provider() -> None:
    provider = smsgate.from_config({"providers": {"m": {"provider": "memory"}}})
    assert provider.name == "memory"


def test_gateway_defaults_to_definition_order() -> None:
    gateway = smsgate.from_config({"providers": {"a": {"provider": "memory"},
                                                 "b": {"provider": "memory"}},
                                   "gateway": {"deadline": 5}})
    assert isinstance(gateway, Gateway) and len(gateway.providers) == 2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "provider"),
        ({"provider": "nope"}, "unknown provider 'nope'"),
        ({"provider": "gosms.ge"}, "api_key"),
        ({"provider": "gosms.ge", "api_key": "k", "apikey": "k"}, "apikey"),
        ({"provider": "gosms.ge", "api_key": "${SMSGATE_TEST_UNSET}"},
         "api_key: environment variable SMSGATE_TEST_UNSET is not set"),
        ({"provider": "gosms.ge", "api_key": "k", "timeout": None}, "timeout"),
        ({"providers": {"a": {"provider": "memory"}}, "gateway": {"order": ["b"]}},
         "gateway.order: no provider named 'b'"),
        ({"providers": {"a": {"provider": "memory"}}, "gateway": {"retyr": {}}}, "retyr"),
        ({"providers": {"a": {"provider": "memory"}},
          "gateway": {"retry": {"attempts": "many"}}}, "gateway.retry.attempts"),
        ({"providers": {"a": {"provider": "memory"}},
          "gateway": {"routes": {"GE": ["zz"]}}}, "gateway.routes.GE"),
        ({"providers": {"a": {"url": "gosms.ge://k@", "sender": "x"}}}, "providers.a"),
        ({"providers": {"a": "gosms.ge"}}, "providers.a: expected a table"),
        ({"providers": {"a": {"provider": "memory"}}, "extra": 1}, "extra"),
    ],
)
def test_errors_name_the_key_path(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        smsgate.from_config(config)
    assert message in str(info.value)


def test_toml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        smsgate.from_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("provider = ")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        smsgate.from_config(bad)


def test_config_errors_never_show_secret_values() -> None:
    with pytest.raises(ConfigurationError) as info:
        smsgate.from_config({"provider": "gosms.ge", "api_key": KEY, "sender": "x" * 30})
    assert KEY not in str(info.value)


# -- URLs -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "cls", "base_url"),
    [
        ("gosms.ge://KEY@", GoSmsGe, "https://api.gosms.ge/api"),
        ("smsoffice.ge://KEY@?sender=MyShop", SmsOfficeGe, "https://smsoffice.ge/api"),
        ("gosms.ro://KEY@", smsgate.GoSmsRo, "https://api.gosms.ro/v1"),
        ("smsgist://CID:TOKEN@", SmsGist, "https://api.smsgist.com"),
        ("gosms.ge://KEY@127.0.0.1:8025/api?insecure_http=1", GoSmsGe,
         "http://127.0.0.1:8025/api"),
        ("gosms.ge://KEY@proxy.example:8443/gosms", GoSmsGe, "https://proxy.example:8443/gosms"),
    ],
)
def test_url_forms(url: str, cls: type, base_url: str) -> None:
    provider = smsgate.from_url(url)
    assert type(provider) is cls
    assert provider.base_url == base_url


@pytest.mark.parametrize("secret", ["plain", "with/slash@and:colon", "sp ace+plus%pct", "ключ"])
def test_url_round_trip_of_credentials(secret: str) -> None:
    from urllib.parse import quote

    gosms = smsgate.from_url(f"gosms.ge://{quote(secret, safe='')}@?sender=Brand")
    assert gosms._credentials["api_key"].reveal() == secret
    gist_url = f"smsgist://{quote(secret, safe='')}:{quote(secret, safe='')}@"
    if any(ord(c) > 0xFF for c in secret):
        # SMSGist's credentials travel in headers, which cannot carry this: refused at build
        # time, without the value (the wire round trip is proven over a real socket in
        # tests/test_transport_credentials.py).
        with pytest.raises(ConfigurationError, match="Latin-1") as info:
            smsgate.from_url(gist_url)
        assert secret not in str(info.value) and secret not in repr(info.value)
        return
    gist = smsgate.from_url(gist_url)
    with responses.RequestsMock() as rsps:
        rsps.post("https://api.smsgist.com/api/sms/send", status=201,
                  json={"status": "success", "message": "", "data": {"message_id": "m"}})
        gist.send("+233245972246", "Hi")
        sent = rsps.calls[0].request.headers
    assert sent["Authorization"] == f"Bearer {secret}"
    assert sent["X-Client-Id"] == secret


def test_url_options() -> None:
    provider = smsgate.from_url("gosms.ge://K@?sender=My+Brand&timeout=4,25&no_sms_number=995322000000")
    assert (provider.sender, provider.timeout) == ("My Brand", (4.0, 25.0))
    assert provider.no_sms_number == "995322000000"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gosms.ge", "NAME://CREDENTIAL@"),
        ("gosms.ge://KEY", "credentials before an '@'"),
        ("gosms.ge://A:B@", "one API key"),
        ("gosms.ge://K@?colour=red", "unknown URL option 'colour'"),
        ("gosms.ge://K@?timeout=soon", "timeout"),
        ("gosms.ge://K@?sender=a&sender=b", "twice"),
        ("gosms.ge://K@/path", "needs a host"),
        ("nope://K@", "unknown provider"),
        ("smsgist://CID@", "token"),
    ],
)
def test_url_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        smsgate.from_url(url)


def test_from_env(tmp_path: Path) -> None:
    assert isinstance(smsgate.from_env({"SMSGATE_URL": "gosms.ge://K@"}), GoSmsGe)
    path = tmp_path / "c.toml"
    path.write_text('provider = "smsoffice.ge"\napi_key = "k"\n')
    assert isinstance(smsgate.from_env({"SMSGATE_CONFIG": str(path)}), SmsOfficeGe)
    with pytest.raises(ConfigurationError, match="SMSGATE_URL"):
        smsgate.from_env({})


def test_switching_provider_is_a_config_change() -> None:
    # The README's example: the same code, another provider, only the URL differs.
    for url in ("gosms.ge://K@?sender=MyShop", "smsoffice.ge://K@?sender=MyShop"):
        provider = smsgate.from_url(url)
        assert isinstance(provider, smsgate.SmsProvider)
        assert provider.sender == "MyShop"
