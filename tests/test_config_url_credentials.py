"""Provider URLs read credentials from each class's ``url_credentials`` declaration, never by
guessing from the constructor's parameter names."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar

import pytest

import smsgate
from smsgate import ConfigurationError, registry
from smsgate.testing import MemoryProvider

BUILT_IN = ("gosms.ge", "gosms.ro", "smsgist", "smsoffice.ge")


class Declared(MemoryProvider):
    """Two credentials under names no rule could guess: only the declaration can place them."""

    url_credentials: ClassVar[Mapping[str, str]] = {"user": "account", "password": "secret"}

    def __init__(self, account: str, secret: str | None = None, *,
                 sender: str | None = None) -> None:
        super().__init__(sender=sender)
        self.account, self.secret = account, secret


class Undeclared(MemoryProvider):
    """Takes an ``api_key`` but declares no URL credential: a URL cannot give it one."""

    def __init__(self, api_key: str = "", *, sender: str | None = None) -> None:
        super().__init__(sender=sender)
        self.api_key = api_key


class OneKey(MemoryProvider):
    url_credentials: ClassVar[Mapping[str, str]] = {"user": "api_key"}

    def __init__(self, api_key: str, *, factory: Callable[[], str] | None = None,
                 sender: str | None = None) -> None:
        super().__init__(sender=sender)
        self.api_key = api_key


@contextlib.contextmanager
def registered(name: str, cls: type) -> Iterator[None]:
    smsgate.register_provider(name, cls)
    try:
        yield
    finally:
        registry._registered.pop(name)


def test_every_built_in_adapter_declares_its_url_credentials() -> None:
    for name in BUILT_IN:
        parts = registry.provider_class(name).url_credentials
        assert parts and set(parts) <= {"user", "password"}, name
    assert registry.provider_class("memory").url_credentials == {}


def test_the_declaration_places_user_and_password() -> None:
    with registered("declared", Declared):
        provider = smsgate.from_url("declared://acct%3A1:s3cret@?sender=Brand")
        assert isinstance(provider, Declared)
        assert (provider.account, provider.secret) == ("acct:1", "s3cret")
        only_user = smsgate.from_url("declared://acct@")
        assert isinstance(only_user, Declared) and only_user.secret is None
        with pytest.raises(ConfigurationError, match="needs credentials before an '@'"):
            smsgate.from_url("declared://?sender=Brand")
        with pytest.raises(ConfigurationError, match="credential goes before the '@'"):
            smsgate.from_url("declared://acct@?secret=x")


def test_no_declaration_no_url_credential_whatever_the_constructor_takes() -> None:
    with registered("undeclared", Undeclared):
        with pytest.raises(ConfigurationError, match="undeclared takes no credential"):
            smsgate.from_url("undeclared://some-key@")
        assert isinstance(smsgate.from_url("undeclared://"), Undeclared)


def test_one_credential_refuses_a_password_and_a_callable_option() -> None:
    with registered("onekey", OneKey):
        with pytest.raises(ConfigurationError, match="the credential is one API key"):
            smsgate.from_url("onekey://a:b@")
        # A callable cannot come from a URL: refused like a credential, never passed as text.
        with pytest.raises(ConfigurationError, match=r"not in \?factory="):
            smsgate.from_url("onekey://a@?factory=x")
        provider = smsgate.from_url("onekey://a@")
        assert isinstance(provider, OneKey) and provider.api_key == "a"


def test_smsgist_reads_both_credentials_and_refuses_a_token_factory_in_the_url() -> None:
    gist = smsgate.from_url("smsgist://client-1:token-1@?sender=Brand")
    assert gist.name == "smsgist"
    with pytest.raises(ConfigurationError, match=r"not in \?token_factory="):
        smsgate.from_url("smsgist://client-1@?token_factory=x")


def test_a_malformed_declaration_is_a_configuration_error() -> None:
    class Broken(MemoryProvider):
        url_credentials: ClassVar[Mapping[str, str]] = {"host": "api_key"}

    with registered("broken-decl", Broken), pytest.raises(ConfigurationError,
                                                         match="url_credentials must map"):
        smsgate.from_url("broken-decl://k@")
