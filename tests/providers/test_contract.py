"""Every built-in adapter passes the contract suite third-party adapters use too.

Each subclass declares its provider's replies as the provider's documents (and the official
SDKs' test fixtures) show them; the suite then reaches every row of the error table through
``MockTransport``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest

from smsgate import GoSmsGe, register_provider, registry
from smsgate.providers import HttpRequest, HttpResponse
from smsgate.testing import ProviderContract, check_provider


class TestGoSmsGeContract(ProviderContract):
    provider = "gosms.ge"
    credentials: ClassVar[Mapping[str, str]] = {"api_key": "contract-canary-key"}
    number = "+995555123456"
    foreign = "+40712345678"

    def ok_reply(self, request: HttpRequest) -> HttpResponse:
        if request.operation == "send":
            return self.json_reply({
                "success": True, "messageId": 31, "from": "Brand", "to": "995555123456",
                "text": "Hi", "balance": 99, "encode": "default", "segment": 1,
            })
        if request.operation == "status":
            return self.json_reply({"success": True, "messageId": 1, "to": "995555123456",
                                    "status": "delivered"})
        return self.json_reply({"success": True, "balance": 99})

    def error_reply(self, code: int | str, request: HttpRequest) -> HttpResponse:
        # The SDKs' fixtures: 401 for code 100, 429 (Retry-After: 120) for 109, else 400.
        status = {100: 401, 109: 429}.get(int(code), 400)
        headers = {"Retry-After": "120"} if status == 429 else None
        return self.json_reply({"errorCode": code, "message": "refused"}, status, headers)

    def error_in_ok_reply(self, request: HttpRequest) -> HttpResponse:
        # "API returns 200 with error body" (the official .NET v6 client).
        return self.json_reply({"errorCode": 102, "message": "INSUFFICIENT_BALANCE"})


class TestSmsOfficeGeContract(ProviderContract):
    provider = "smsoffice.ge"
    credentials: ClassVar[Mapping[str, str]] = {"api_key": "contract-canary-key"}
    number = "+995577123456"
    foreign = "+233245972246"

    def ok_reply(self, request: HttpRequest) -> HttpResponse:
        if request.operation == "send":
            return self.json_reply({"Success": True, "Message": "ok", "Output": None,
                                    "ErrorCode": 0})
        if request.operation == "status":
            return self.json_reply({"Success": True, "Message": "", "ErrorCode": 0,
                                    "Output": {"Status": "Delivered"}})
        return self.text_reply("120")  # "the number of messages left"

    def error_reply(self, code: int | str, request: HttpRequest) -> HttpResponse:
        # Errors come inside HTTP 200 replies ("Response codes").
        return self.json_reply({"Success": False, "Message": "refused", "Output": None,
                                "ErrorCode": code})

    def error_in_ok_reply(self, request: HttpRequest) -> HttpResponse:
        return self.error_reply(20, request)


class TestGoSmsRoContract(ProviderContract):
    provider = "gosms.ro"
    credentials: ClassVar[Mapping[str, str]] = {"api_key": "contract-canary-key"}
    number = "+40712345678"

    def ok_reply(self, request: HttpRequest) -> HttpResponse:
        return self.json_reply({"success": True, "messageId": "0b7f6a1e-5c1d-4f7a",
                                "balanceDeduction": 0.06, "currency": "EUR"})

    def error_reply(self, code: int | str, request: HttpRequest) -> HttpResponse:
        # HTTP 400/401/402 with a string code in an undocumented field.
        status = 402 if code == "LIMIT_ERROR" else 400
        return self.json_reply({"success": False, "error": code, "message": "refused"}, status)

    def error_in_ok_reply(self, request: HttpRequest) -> HttpResponse:
        return self.json_reply({"success": False, "error": "PHONE_BLACKLISTED"})


class TestSmsGistContract(ProviderContract):
    provider = "smsgist"
    credentials: ClassVar[Mapping[str, str]] = {
        "client_id": "contract-canary-id", "token": "contract-canary-token",
    }
    number = "+233245972246"
    foreign = "+995555123456"

    def ok_reply(self, request: HttpRequest) -> HttpResponse:
        if request.operation == "send":
            data: dict[str, Any] = {"message_id": "msg_1", "segments": 1, "total_cost": 0.05,
                                    "recipients": [{"recipient": "233245972246"}]}
        else:
            data = {"message_id": "1", "status": "delivered", "recipients": []}
        return self.json_reply({"status": "success", "message": "ok", "data": data})

    def error_reply(self, code: int | str, request: HttpRequest) -> HttpResponse:
        # Errors are told by the HTTP status only; the table is keyed by it.
        return self.json_reply({"status": "error", "message": "refused"}, int(code))

    def error_in_ok_reply(self, request: HttpRequest) -> HttpResponse:
        return self.json_reply({"status": "error", "message": "Number blocked"})


ADAPTERS = [
    (c.provider, c.credentials, c.number, c.foreign)
    for c in (TestGoSmsGeContract, TestSmsOfficeGeContract, TestGoSmsRoContract,
              TestSmsGistContract)
]


@pytest.mark.parametrize(("name", "credentials", "number", "foreign"), ADAPTERS,
                         ids=[str(a[0]) for a in ADAPTERS])
def test_check_provider_still_passes(name: str, credentials: dict[str, str], number: str,
                                     foreign: str | None) -> None:
    """The public ``check_provider`` runs the same offline rules."""
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
