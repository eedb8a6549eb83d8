from __future__ import annotations

from typing import Any, ClassVar

import pytest

from smsgate.errors import (
    AuthenticationError,
    InsufficientFunds,
    RateLimited,
    RecipientRejected,
)
from smsgate.models import Balance, RecipientResult, SendResult, Status, StatusResult
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

CANARY = "CANARY-KEY-7f3a9c2e"


class ToyProvider(ApiKeyProvider):
    """A minimal adapter over a made-up wire, to test the base through real declarations.

    Send: POST /send (JSON, key in the query string so that leaks would show);
    errors: {"error": <code>, "message": ...} in any HTTP status.
    """

    name: ClassVar[str] = "toy"
    default_base_url: ClassVar[str] = "https://toy.invalid/api"
    home_region = "GE"
    phone_format: ClassVar[PhoneFormat] = PhoneFormat.DIGITS
    capabilities = frozenset({"bulk", "status", "balance", "urgent"})
    limits: ClassVar[Limits] = Limits(
        max_chars=100, max_sender_length=11, sender_pattern=r"[A-Za-z0-9]+", bulk_size=2
    )
    auth: ClassVar[tuple[AuthSpec, ...]] = (AuthSpec("query", "key", "api_key"),)
    error_table: ClassVar[dict[int | str, ErrorSpec]] = {
        1: ErrorSpec(AuthenticationError, "bad key"),
        2: ErrorSpec(InsufficientFunds, "no money"),
        3: ErrorSpec(RecipientRejected, "bad number"),
        4: ErrorSpec(RateLimited, "slow down"),
    }

    def build_send(self, outgoing: Outgoing) -> HttpRequest:
        return self.new_request(
            "POST",
            "/send",
            "send",
            json={"to": list(outgoing.wire_numbers), "text": outgoing.text,
                  "urgent": outgoing.urgent},
            sends_message=True,
        )

    def parse_send(self, reply: HttpResponse, body: Any, outgoing: Outgoing) -> SendResult:
        data = self.json_object(reply, body)
        ids = data.get("ids") or []
        return SendResult(
            provider=self.name,
            message_id=str(ids[0]) if ids else None,
            recipients=[
                RecipientResult(phone=n, status=Status.QUEUED, message_id=str(i))
                for n, i in zip(outgoing.recipients, ids, strict=False)
            ],
            raw=data,
        )

    def build_status(self, message_id: str, recipient: str | None) -> HttpRequest:
        return self.new_request("GET", "/status", "status", params={"id": message_id})

    def parse_status(
        self, reply: HttpResponse, body: Any, message_id: str, recipient: str | None
    ) -> StatusResult:
        data = self.json_object(reply, body)
        return StatusResult(self.name, message_id, Status.from_word(data.get("status")), raw=data)

    def build_balance(self) -> HttpRequest:
        return self.new_request("GET", "/balance", "balance")

    def parse_balance(self, reply: HttpResponse, body: Any) -> Balance:
        return Balance(self.name, reply.text.strip(), "credits")

    def find_error(self, reply: HttpResponse, body: Any) -> tuple[int | str | None, str] | None:
        if isinstance(body, dict) and body.get("error"):
            return body["error"], str(body.get("message", ""))
        return None


@pytest.fixture
def toy() -> ToyProvider:
    return ToyProvider(CANARY, sender="Shop")


class FakeClock:
    """A clock tests move by hand (seconds; any epoch): ``clock()`` reads, ``advance()`` moves."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
