"""An adapter written only against public names, over a made-up wire, passes the contract
suite; broken variants of it fail exactly the rules they break (the suite can fail).

The made-up provider, "Parrot SMS":

* ``POST /messages`` with JSON ``{"to": [...], "body": ..., "from": ..., "ref": ...}``, the key
  in the ``token`` query parameter (the worst place for leaks: URLs get logged);
  a send answers ``201 {"batch": "b-7", "accepted": [...], "rejected": [{"to", "why"}]}``;
* ``GET /messages/<id>`` answers ``{"state": "delivered"}``; ``GET /wallet``
  ``{"credits": "12.50"}``;
* an error is ``{"fault": {"code": "P-...", "text": ...}}`` in any HTTP status: the key and
  money faults come with 401/402, the others inside HTTP 200.

This module imports only public names of ``smsgate``, ``smsgate.providers`` and
``smsgate.testing`` (a test below reads its own source to make sure).
"""

from __future__ import annotations

import ast
import logging
import unittest
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

import smsgate
import smsgate.providers
import smsgate.testing
from smsgate import (
    AuthenticationError,
    Balance,
    DeliveryUnknown,
    InsufficientFunds,
    RateLimited,
    RecipientRejected,
    RecipientResult,
    SenderRejected,
    SendResult,
    Status,
    StatusResult,
)
from smsgate.providers import (
    ApiKeyProvider,
    AuthSpec,
    ErrorSpec,
    HttpRequest,
    HttpResponse,
    Limits,
    Outgoing,
    PhoneFormat,
)
from smsgate.testing import ProviderContract


class ParrotSms(ApiKeyProvider):
    """The made-up provider, written with public names only."""

    name: ClassVar[str] = "parrot"
    default_base_url: ClassVar[str] = "https://api.parrot.invalid/v3"
    home_region = "GE"
    allowed_regions: ClassVar[frozenset[str] | None] = frozenset({"GE", "AM"})
    phone_format: ClassVar[PhoneFormat] = PhoneFormat.E164
    capabilities = frozenset({"bulk", "status", "balance", "reference"})
    limits: ClassVar[Limits] = Limits(max_chars=600, max_sender_length=11, bulk_size=50)
    auth: ClassVar[tuple[AuthSpec, ...]] = (AuthSpec("query", "token", "api_key"),)
    error_table: ClassVar[dict[int | str, ErrorSpec]] = {
        "P-KEY": ErrorSpec(AuthenticationError, "unknown token"),
        "P-FUNDS": ErrorSpec(InsufficientFunds, "wallet empty"),
        "P-NUMBER": ErrorSpec(RecipientRejected, "no such number"),
        "P-SENDER": ErrorSpec(SenderRejected, "sender not approved"),
        "P-SLOW": ErrorSpec(RateLimited, "slow down", retryable=True),
        # "Accepted by the queue, but the queue lost track": whether it went out is unknown.
        "P-LIMBO": ErrorSpec(DeliveryUnknown, "queue state lost", retryable=False,
                             outcome="unknown"),
    }
    owned_fields = frozenset({"to", "body", "from", "ref", "token"})

    def build_send(self, outgoing: Outgoing) -> HttpRequest:
        body: dict[str, Any] = {"to": list(outgoing.wire_numbers), "body": outgoing.text}
        if outgoing.sender:
            body["from"] = outgoing.sender
        if outgoing.reference:
            body["ref"] = outgoing.reference
        body.update(outgoing.extra)
        return self.new_request("POST", "/messages", "send", json=body, sends_message=True)

    def parse_send(self, reply: HttpResponse, body: Any, outgoing: Outgoing) -> SendResult:
        data = self.json_object(reply, body)
        batch = data["batch"]
        accepted = set(data.get("accepted") or [])
        why = {item["to"]: item["why"] for item in data.get("rejected") or []}
        recipients = []
        for e164, wire in zip(outgoing.recipients, outgoing.wire_numbers, strict=True):
            if wire in accepted:
                recipients.append(RecipientResult(e164, Status.QUEUED, str(batch)))
            elif wire in why:
                recipients.append(RecipientResult(e164, Status.REJECTED, error=str(why[wire])))
            else:
                recipients.append(RecipientResult(e164, Status.UNKNOWN,
                                                  error="not in the reply"))
        return SendResult(provider=self.name, message_id=str(batch), recipients=recipients,
                          raw=data)

    def build_status(self, message_id: str, recipient: str | None) -> HttpRequest:
        return self.new_request("GET", f"/messages/{message_id}", "status")

    def parse_status(self, reply: HttpResponse, body: Any, message_id: str,
                     recipient: str | None) -> StatusResult:
        data = self.json_object(reply, body)
        return StatusResult(self.name, message_id, Status.from_word(data["state"]), raw=data)

    def build_balance(self) -> HttpRequest:
        return self.new_request("GET", "/wallet", "balance")

    def parse_balance(self, reply: HttpResponse, body: Any) -> Balance:
        return Balance(self.name, self.json_object(reply, body)["credits"], "credits")

    def find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        # "Faults come in any HTTP status": read the body before the status.
        fault = body.get("fault") if isinstance(body, dict) else None
        if isinstance(fault, dict) and fault.get("code"):
            return str(fault["code"]), str(fault.get("text") or "")
        return None


#: Which fault comes with which HTTP status on the made-up wire.
FAULT_STATUS = {"P-KEY": 401, "P-FUNDS": 402}


class ParrotReplies(ProviderContract):
    """The declarations of the made-up wire, shared by the good adapter and the broken ones."""

    credentials: ClassVar[Mapping[str, str]] = {"api_key": "parrot-canary-7c1d"}
    number = "+995555123456"
    foreign = "+233245972246"

    def ok_reply(self, request: HttpRequest) -> HttpResponse:
        if request.operation == "send":
            sent = request.json["to"]
            return self.json_reply({"batch": "b-7", "accepted": sent, "rejected": []}, 201)
        if request.operation == "status":
            return self.json_reply({"state": "delivered"})
        return self.json_reply({"credits": "12.50"})

    def error_reply(self, code: int | str, request: HttpRequest) -> HttpResponse:
        return self.json_reply({"fault": {"code": code, "text": "no"}},
                               FAULT_STATUS.get(str(code), 200))

    def error_in_ok_reply(self, request: HttpRequest) -> HttpResponse:
        return self.error_reply("P-NUMBER", request)


class TestParrotContract(ParrotReplies):
    provider = ParrotSms  # registered under "parrot" by the rule that builds it by name


# -- broken variants: each must fail the rules it breaks, and only those -------------------
class MisreadCodes(ParrotSms):
    """Reads the money fault as the key fault: an error-table row mapped wrong."""

    name: ClassVar[str] = "parrot-misread"

    def find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        found = super().find_error(reply, body)
        if found is not None and found[0] == "P-FUNDS":
            return "P-KEY", found[1]
        return found


class BlindTo200(ParrotSms):
    """Believes the HTTP status: faults inside HTTP 200 go unseen."""

    name: ClassVar[str] = "parrot-blind"

    def find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        return super().find_error(reply, body) if reply.status >= 400 else None


class LogsTheKey(ParrotSms):
    """Logs its request, credentials and all, on a logger of its own at DEBUG."""

    name: ClassVar[str] = "parrot-chatty"

    def build_send(self, outgoing: Outgoing) -> HttpRequest:
        request = super().build_send(outgoing)
        logging.getLogger("parrot.debugging").debug(
            "sending %s with %s", request.path,
            {param.name: param.value.reveal() for param in request.auth},
        )
        return request


class ForgetsItSends(ParrotSms):
    """Does not mark its send request as one that sends a message."""

    name: ClassVar[str] = "parrot-unmarked"

    def build_send(self, outgoing: Outgoing) -> HttpRequest:
        request = super().build_send(outgoing)
        return HttpRequest(method=request.method, path=request.path, operation="send",
                           json=request.json, auth=request.auth)


BROKEN = {
    MisreadCodes: {"test_wire_error_table_on_send", "test_wire_error_table_on_lookup"},
    BlindTo200: {"test_wire_error_inside_http_200", "test_wire_error_table_on_send",
                 "test_wire_error_table_on_lookup"},
    LogsTheKey: {"test_wire_no_credential_in_logs_errors_or_reprs",
                 "test_wire_no_credential_on_a_real_socket"},
    ForgetsItSends: {"test_wire_send_and_lookup_succeed", "test_wire_error_table_on_send"},
}


def outcomes(contract: type[ProviderContract]) -> dict[str, str]:
    """Run every rule of ``contract`` outside pytest: rule -> "passed", "skipped" or the
    assertion's message."""
    results = {}
    for rule in contract.rules():
        try:
            getattr(contract(), rule)()
        except unittest.SkipTest:
            results[rule] = "skipped"
        except AssertionError as failure:
            results[rule] = f"FAILED: {failure}"
        else:
            results[rule] = "passed"
    return results


def test_the_good_adapter_passes_every_rule_when_run_by_hand() -> None:
    results = outcomes(TestParrotContract)
    assert set(results.values()) == {"passed"}, results  # none failed, none was skipped
    assert set(results) == set(ProviderContract.rules()) and len(results) == 13


@pytest.mark.parametrize("variant", list(BROKEN), ids=[v.__name__ for v in BROKEN])
def test_a_broken_adapter_fails_the_rules_it_breaks(variant: type[ParrotSms]) -> None:
    contract = type(f"Test{variant.__name__}", (ParrotReplies,), {"provider": variant})
    results = outcomes(contract)
    failed = {rule for rule, result in results.items() if result.startswith("FAILED")}
    assert failed == BROKEN[variant], results
    assert all(results[rule] == "passed" for rule in set(results) - failed), results


def test_the_misread_row_is_named_in_the_failure() -> None:
    contract = type("TestMisread", (ParrotReplies,), {"provider": MisreadCodes})
    with pytest.raises(AssertionError, match=r"row 'P-FUNDS' \(InsufficientFunds.*"
                                             r"raised AuthenticationError"):
        contract().test_wire_error_table_on_send()


def test_the_leak_is_shown_in_the_failure() -> None:
    contract = type("TestChatty", (ParrotReplies,), {"provider": LogsTheKey})
    with pytest.raises(AssertionError, match="the credential api_key leaked") as info:
        contract().test_wire_no_credential_in_logs_errors_or_reprs()
    assert "parrot.debugging" in str(info.value)


def test_this_module_imports_public_names_only() -> None:
    tree = ast.parse(Path(__file__).read_text())
    public = {
        "smsgate": set(smsgate.__all__),
        "smsgate.providers": set(smsgate.providers.__all__),
        "smsgate.testing": set(smsgate.testing.__all__),
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("smsgate"):
            assert node.module in public, node.module
            for alias in node.names:
                assert alias.name in public[node.module], f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("smsgate"):
                    assert alias.name in public, alias.name
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "smsgate"):
            assert node.attr in public["smsgate"] | {"__all__", "providers", "testing"}, \
                node.attr
