"""Every built-in adapter passes the contract suite third-party adapters use too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from smsgate import GoSmsGe, register_provider, registry
from smsgate.testing import check_provider

ADAPTERS = [
    ("gosms.ge", {"api_key": "contract-canary-key"}, "+995555123456", "+40712345678"),
    ("smsoffice.ge", {"api_key": "contract-canary-key"}, "+995577123456", "+233245972246"),
    ("gosms.ro", {"api_key": "contract-canary-key"}, "+40712345678", None),
    ("smsgist", {"client_id": "contract-canary-id", "token": "contract-canary-token"},
     "+233245972246", "+995555123456"),
]


@pytest.mark.parametrize(("name", "credentials", "number", "foreign"), ADAPTERS,
                         ids=[a[0] for a in ADAPTERS])
def test_contract(name: str, credentials: dict[str, str], number: str,
                  foreign: str | None) -> None:
    check_provider(name, credentials, number=number, foreign=foreign)


@contextlib.contextmanager
def registered(name: str, cls: type) -> Iterator[None]:
    register_provider(name, cls)
    try:
        yield
    finally:
        registry._registered.pop(name)


def test_the_contract_catches_a_leaky_repr() -> None:
    class Leaky(GoSmsGe):
        name = "leaky"

        def __repr__(self) -> str:
            return f"Leaky({self._credentials['api_key'].reveal()})"

    with registered("leaky", Leaky), pytest.raises(AssertionError, match="repr"):
        check_provider("leaky", {"api_key": "k-leak-1234"}, number="+995555123456")


def test_the_contract_catches_io_before_validation() -> None:
    class Eager(GoSmsGe):
        name = "eager"

        def send(self, to, text, **options):  # type: ignore[no-untyped-def]
            self.transport.perform(self.new_request("POST", "/ping", "send"))
            return super().send(to, text, **options)

    with registered("eager", Eager), pytest.raises(AssertionError, match="request was made"):
        check_provider("eager", {"api_key": "k-eager-123"}, number="+995555123456")
