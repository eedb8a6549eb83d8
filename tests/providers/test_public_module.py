"""``smsgate.providers`` is the public extension API, and adapters are written with it alone
(issue 16, items 4 and 6): operations are build/parse pairs the base runs as plans, and
``may_have_sent`` is stamped by the base, once per request."""

from __future__ import annotations
import __future__

import ast
import importlib
import inspect
import json
import time
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

import smsgate
import smsgate.providers as public
from smsgate import ConnectError, DeliveryUnknown, InvalidResponse, Status
from smsgate._effects import Now, Perform, run
from smsgate.providers import (
    OPERATION_CAPABILITIES,
    ApiKeyProvider,
    AuthSpec,
    ErrorSpec,
    HttpProvider,
    HttpRequest,
    HttpResponse,
    Limits,
)
from smsgate.registry import provider_class
from smsgate.testing import MockTransport

from ..conftest import CANARY, ToyProvider

PROVIDERS_DIR = Path(public.__file__).parent
ADAPTER_FILES = sorted(p for p in PROVIDERS_DIR.glob("*.py") if not p.name.startswith("_"))
ADAPTERS = ("gosms.ge", "gosms.ro", "smsgist", "smsoffice.ge")
#: The domain modules an adapter may import besides smsgate.providers.
DOMAIN = {"errors", "models", "phone", "segments"}


# -- the public module ------------------------------------------------------------------------
def test_all_is_sorted_complete_and_importable() -> None:
    names = list(public.__all__)
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    defined = {
        name for name, value in vars(public).items()
        if not name.startswith("_")
        and not isinstance(value, (types.ModuleType, __future__._Feature))
    }
    assert defined == set(names), defined ^ set(names)
    for name in names:
        assert getattr(public, name) is not None, name
    fresh = importlib.import_module("smsgate.providers")
    assert {"ApiKeyProvider", "AuthSpec", "ErrorSpec", "HttpProvider", "HttpRequest",
            "HttpResponse", "Limits", "Outgoing", "PhoneFormat"} <= set(fresh.__all__)


def test_adapter_files_are_the_registrys_built_ins() -> None:
    """Every adapter module is a built-in provider's (so the checks below cover each one), and
    the four documented built-ins are among them."""
    from smsgate import registry

    built_in = sorted(line.adapter.partition(":")[0].rpartition(".")[2]
                      for line in registry._BUILTIN.values()
                      if line.adapter.startswith(".providers."))
    assert [p.stem for p in ADAPTER_FILES] == built_in
    assert {"gosms_ge", "gosms_ro", "smsgist", "smsoffice_ge"} <= set(built_in)


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports outside ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                visit(node.orelse)
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            for field in ("body", "orelse", "finalbody", "handlers"):
                visit([n for n in getattr(node, field, []) if isinstance(n, ast.stmt)])

    visit(tree.body)
    return found


@pytest.mark.parametrize("path", ADAPTER_FILES, ids=[p.stem for p in ADAPTER_FILES])
def test_adapters_import_only_public_names_and_domain_modules(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in _runtime_imports(tree):
        where = f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith(("smsgate", "requests", "urllib3")), where
            continue
        if node.level == 0:
            module = node.module or ""
            assert not module.startswith(("requests", "urllib3")), where
            if module.startswith("smsgate"):
                assert module == "smsgate.providers" or module.split(".")[1] in DOMAIN, where
        elif node.level == 1:  # from . import X: the public module itself
            assert node.module is None, where
            for alias in node.names:
                assert alias.name in public.__all__, (where, alias.name)
        else:  # from ..X import Y: a domain module only
            assert node.level == 2 and node.module in DOMAIN, where
    assert "requests." not in path.read_text().replace("requests.Session", ""), path.name


@pytest.mark.parametrize("path", ADAPTER_FILES, ids=[p.stem for p in ADAPTER_FILES])
def test_no_adapter_hand_writes_an_exchange_or_says_may_have_sent(path: Path) -> None:
    source = path.read_text()
    for banned in ("._exchange", ".transport.perform", "._parsing", "may_have_sent",
                   "_transport"):
        assert banned not in source, (path.name, banned)
    for call in ast.walk(ast.parse(source)):
        if isinstance(call, ast.Call):
            named = {k.arg for k in call.keywords}
            if "sends_message" in named:
                assert ast.unparse(call.func) == "self.new_request", ast.unparse(call)


OWNED_FILES = [
    *ADAPTER_FILES, PROVIDERS_DIR / "_base.py", PROVIDERS_DIR / "__init__.py",
    *(PROVIDERS_DIR.parent / name for name in (
        "_http.py", "_wire.py", "_mock.py", "_provider.py", "errors.py", "_unexpected.py")),
]


@pytest.mark.parametrize("path", OWNED_FILES, ids=[p.name for p in OWNED_FILES])
def test_may_have_sent_is_never_guessed_with_getattr(path: Path) -> None:
    for call in ast.walk(ast.parse(path.read_text())):
        if isinstance(call, ast.Call) and ast.unparse(call.func) == "getattr":
            assert "may_have_sent" not in ast.unparse(call), (path.name, ast.unparse(call))


def test_every_smsgate_error_answers_may_have_sent() -> None:
    assert smsgate.SmsGateError("x").may_have_sent is False
    assert smsgate.ConfigurationError("x").may_have_sent is False
    assert smsgate.WebhookError("x").may_have_sent is False
    assert DeliveryUnknown("x").may_have_sent is True


@pytest.mark.parametrize("name", ADAPTERS)
def test_every_declared_operation_is_a_build_parse_pair(name: str) -> None:
    cls = provider_class(name)
    for operation, capability in OPERATION_CAPABILITIES.items():
        if capability is not None and capability not in cls.capabilities:
            continue
        for hook in (f"build_{operation}", f"parse_{operation}"):
            assert getattr(cls, hook) is not getattr(HttpProvider, hook, None), (name, hook)
            assert not hook.startswith("_")
    assert cls.find_error is not HttpProvider.find_error or name == "gosms.ro"


# -- hook stubs say which class must implement what -------------------------------------------
class Half(ApiKeyProvider):
    """Declares status but writes only its send."""

    name: ClassVar[str] = "half"
    default_base_url: ClassVar[str] = "https://half.invalid"
    capabilities = frozenset({"status"})
    auth: ClassVar[tuple[AuthSpec, ...]] = (AuthSpec("header", "X-Key", "api_key"),)
    error_table: ClassVar[dict[int | str, ErrorSpec]] = {}
    limits: ClassVar[Limits] = Limits()


def test_a_missing_hook_names_the_class_and_the_capability() -> None:
    provider = Half("k" * 16, transport=MockTransport(lambda r: HttpResponse(200)))
    with pytest.raises(NotImplementedError) as status:
        provider.status("m-1")
    assert str(status.value) == (
        "Half declares the 'status' capability, so it must implement build_status and "
        "parse_status"
    )
    with pytest.raises(NotImplementedError, match="every HttpProvider sends, so Half must "
                       "implement build_send and parse_send"):
        provider.send("+995555123456", "Hi")
    with pytest.raises(smsgate.UnsupportedFeature):
        provider.balance()  # not declared: refused before any hook


# -- the plans are sans-IO: a test drives them by hand ----------------------------------------
class Refusing:
    """A transport that fails the test if anything performs it."""

    def perform(self, request: HttpRequest, *, deadline: float | None = None) -> HttpResponse:
        raise AssertionError("the plan performed I/O itself")

    def close(self) -> None:
        pass


def ids_reply(*ids: str) -> HttpResponse:
    return HttpResponse(200, {}, json.dumps({"ids": list(ids)}).encode())


def drive(plan: Any, answers: list[Any]) -> tuple[Any, list[Perform]]:
    """Run ``plan`` by hand: Now -> a fixed clock, each Perform -> the next answer (an
    exception is thrown in)."""
    performed: list[Perform] = []
    value: Any = None
    throw: BaseException | None = None
    while True:
        try:
            effect = plan.throw(throw) if throw is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value, performed
        throw, value = None, None
        if isinstance(effect, Now):
            value = 100.0
        else:
            assert isinstance(effect, Perform), effect
            performed.append(effect)
            answer = answers.pop(0)
            if isinstance(answer, BaseException):
                throw = answer
            else:
                value = answer


FIVE = ["+995555000001", "+995555000002", "+995555000003", "+995555000004", "+995555000005"]


def toy() -> ToyProvider:
    return ToyProvider(CANARY, sender="Shop", transport=Refusing())


def test_plan_send_yields_one_perform_per_chunk_with_the_deadline() -> None:
    provider = toy()
    plan = provider.plan_send(provider.prepare(FIVE, "Hi"), deadline=123.0)
    result, performed = drive(plan, [ids_reply("a", "b"), ids_reply("c", "d"), ids_reply("e")])
    assert [len(p.request.json["to"]) for p in performed] == [2, 2, 1]
    assert {p.deadline for p in performed} == {123.0}
    assert all(p.transport is provider.transport for p in performed)
    assert [r.message_id for r in result.recipients] == ["a", "b", "c", "d", "e"]
    assert len(result.attempts) == 3 and result.ok


@pytest.mark.parametrize(("failure", "status"), [
    (ConnectError("refused"), Status.REJECTED),
    (DeliveryUnknown("lost"), Status.UNKNOWN),
])
def test_a_later_chunk_failure_keeps_what_was_accepted(failure: Exception,
                                                       status: Status) -> None:
    provider = toy()
    plan = provider.plan_send(provider.prepare(FIVE, "Hi"))
    result, performed = drive(plan, [ids_reply("a", "b"), failure])
    assert len(performed) == 2  # the third chunk is never attempted
    assert [r.status for r in result.recipients] == [
        Status.QUEUED, Status.QUEUED, status, status, Status.REJECTED]
    assert not result.ok
    assert result.attempts[-1].error == type(failure).__name__


def test_a_first_chunk_failure_is_raised_as_is() -> None:
    provider = toy()
    plan = provider.plan_send(provider.prepare(FIVE, "Hi"))
    with pytest.raises(DeliveryUnknown) as info:
        drive(plan, [DeliveryUnknown("lost")])
    assert info.value.may_have_sent is True and info.value.provider == "toy"


def test_plan_status_and_plan_balance_are_named_entry_points() -> None:
    provider = toy()
    status, performed = drive(provider.plan_status("m-1", deadline=5.0),
                              [HttpResponse(200, {}, b'{"status": "delivered"}')])
    assert status.status is Status.DELIVERED
    assert performed[0].request.params == {"id": "m-1"} and performed[0].deadline == 5.0
    balance, performed = drive(provider.plan_balance(), [HttpResponse(200, {}, b"42")])
    assert balance.amount == 42 and performed[0].request.operation == "balance"


def test_plan_status_refuses_bad_input_before_any_effect() -> None:
    provider = toy()
    with pytest.raises(smsgate.ValidationError):
        provider.plan_status(" ")
    with pytest.raises(smsgate.InvalidPhoneNumber):
        provider.plan_status("m-1", "not a number")


def test_the_sync_methods_are_the_plans_run_by_the_sync_driver() -> None:
    seen: list[float | None] = []

    def handler(request: HttpRequest) -> HttpResponse:
        return ids_reply("a", "b")

    transport = MockTransport(handler)
    provider = ToyProvider(CANARY, sender="Shop", transport=transport)
    result = provider.send(FIVE[:2], "Hi")
    seen.extend(transport.deadlines)
    assert result.message_id == "a" and seen == [None]
    outgoing = provider.prepare(FIVE[:2], "Hi")
    at = time.monotonic() + 60
    assert run(provider.plan_send(outgoing, deadline=at)).message_id == "a"
    assert transport.deadlines[-1] == pytest.approx(at, abs=1.0)


# -- may_have_sent: stamped by the base from the request, once --------------------------------
@pytest.mark.parametrize(("name", "call", "sent", "retryable"), [
    ("gosms.ge", "send", True, False),
    ("gosms.ge", "status", False, True),
    ("gosms.ge", "balance", False, True),
    ("gosms.ge", "send_otp", True, False),
    ("gosms.ge", "verify_otp", False, True),
    ("gosms.ge", "create_sender", False, True),
    ("smsgist", "send", True, True),  # idempotent: the provider deduplicates by key
    ("smsgist", "retry", True, False),
    ("smsgist", "status", False, True),
    ("smsoffice.ge", "send", True, False),
    ("smsoffice.ge", "status", False, True),
    ("smsoffice.ge", "balance", False, True),
    ("gosms.ro", "send", True, False),
])
def test_an_unreadable_reply_says_may_have_sent_exactly_when_the_request_sends(
    name: str, call: str, sent: bool, retryable: bool
) -> None:
    from ..transport_helpers import NUMBERS, build

    provider = build(name, "https://x.invalid",
                     transport=MockTransport(lambda r: HttpResponse(200, {}, b'"odd"')))
    number = NUMBERS[name]
    calls: dict[str, Any] = {
        "send": lambda: provider.send(number, "Hi"),
        "status": lambda: provider.status("1", recipient=number),
        "balance": lambda: provider.balance(),
        "send_otp": lambda: provider.send_otp(number),  # type: ignore[attr-defined]
        "verify_otp": lambda: provider.verify_otp(number, "h", "1234"),  # type: ignore[attr-defined]
        "create_sender": lambda: provider.create_sender("Brand"),  # type: ignore[attr-defined]
        "retry": lambda: provider.retry("m-1"),  # type: ignore[attr-defined]
    }
    with pytest.raises(InvalidResponse) as info:
        calls[call]()
    assert info.value.may_have_sent is sent
    assert info.value.retryable is retryable
    assert info.value.provider == name


def test_the_base_alone_passes_sends_message() -> None:
    """Parsers raise ``invalid_reply(reply, what)``: the signature has no way to say it."""
    parameters = inspect.signature(HttpProvider.invalid_reply).parameters
    assert list(parameters) == ["self", "reply", "what"]
    assert list(inspect.signature(HttpProvider.json_object).parameters) == [
        "self", "reply", "body"]


def test_the_reference_documents_every_name_of_the_public_module() -> None:
    import re

    page = (Path(__file__).parents[2] / "docs" / "reference.md").read_text()
    block = page[page.index("::: smsgate.providers\n"):]
    members = set(re.findall(r'"(\w+)"', block[: block.index("]") + 1]))
    assert members | {"Transport"} == set(public.__all__), members ^ set(public.__all__)
    assert "::: smsgate.testing" in page and '"MockTransport"' in page
