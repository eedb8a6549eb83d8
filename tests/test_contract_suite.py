"""The contract suite itself: it needs no pytest to import or run, every built-in provider has
its subclass, and the adapter the docs teach passes it."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
import textwrap
import unittest
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

import tests.providers
from smsgate import available_providers, register_provider, registry
from smsgate.registry import provider_class
from smsgate.testing import ProviderContract

ROOT = Path(__file__).parent.parent
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)

#: Runs with pytest made unimportable: the contract must import and run without it.
WITHOUT_PYTEST = textwrap.dedent('''
    import sys
    sys.modules["pytest"] = None
    sys.modules["_pytest"] = None

    from smsgate.testing import ProviderContract, check_provider

    check_provider("gosms.ge", {"api_key": "contract-canary-key"}, number="+995555123456",
                   foreign="+40712345678")

    class GoSmsRo(ProviderContract):
        provider = "gosms.ro"
        credentials = {"api_key": "contract-canary-key"}
        number = "+40712345678"

        def ok_reply(self, request):
            return self.json_reply({"success": True, "messageId": "m-1"})

        def error_reply(self, code, request):
            return self.json_reply({"error": code, "message": "no"}, status=400)

    GoSmsRo.check()  # every rule; the lookup rule does not apply and is passed over

    class Broken(GoSmsRo):
        def error_reply(self, code, request):
            return self.json_reply({"success": True, "messageId": "m-1"})

    try:
        Broken.check()
    except AssertionError as failure:
        print("breach found:", str(failure).splitlines()[0])
    print("pytest loaded:", "pytest" in sys.modules and sys.modules["pytest"] is not None)
''')


def test_the_suite_imports_and_runs_without_pytest() -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_PYTEST], capture_output=True,
                          text=True, timeout=120, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "breach found: error table on a send:" in done.stdout, done.stdout
    assert "pytest loaded: False" in done.stdout


def test_every_built_in_provider_has_a_contract_subclass() -> None:
    for module in pkgutil.iter_modules(tests.providers.__path__):
        importlib.import_module(f"tests.providers.{module.name}")
    declared = set()
    pending: list[type[ProviderContract]] = [ProviderContract]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("tests.providers.") and sub.__name__.startswith("Test"):
                declared.add(sub().name)
    built_in = {name for name in available_providers()
                if provider_class(name).__module__.startswith("smsgate.providers.")}
    assert built_in and built_in <= declared, built_in - declared


def outcomes(contract: type[ProviderContract]) -> dict[str, str]:
    results = {}
    for rule in contract.rules():
        try:
            getattr(contract(), rule)()
        except AssertionError as failure:
            results[rule] = f"FAILED: {failure}"
        else:
            results[rule] = "passed"
    return results


def test_the_adapter_the_docs_teach_passes_the_contract() -> None:
    """``docs/adding-a-provider.md``: the declarations, the hooks and the contract subclass,
    run as they are printed."""
    blocks = PYTHON_BLOCK.findall((ROOT / "docs" / "adding-a-provider.md").read_text())
    adapter, contract = blocks[0] + blocks[1], blocks[2]
    namespace: dict[str, Any] = {"__name__": "acme_docs"}
    exec(compile(adapter, "adding-a-provider.md", "exec"), namespace)
    register_provider("acme", namespace["AcmeSms"])
    try:
        exec(compile(contract, "adding-a-provider.md", "exec"), namespace)
        results = outcomes(namespace["TestAcmeContract"])
    finally:
        registry._registered.pop("acme")
    assert set(results.values()) == {"passed"}, results
    assert len(results) == len(ProviderContract.rules())


def test_the_mock_transport_example_of_the_testing_page_runs() -> None:
    page = (ROOT / "docs" / "testing.md").read_text()
    section = page[page.index("## Against a made-up wire: MockTransport"):]
    block = PYTHON_BLOCK.findall(section)[0]
    assert "MockTransport(gosms_ge)" in block
    exec(compile(block, "testing.md", "exec"), {"__name__": "testing_docs"})


def test_the_contract_example_of_the_testing_page_passes() -> None:
    page = (ROOT / "docs" / "testing.md").read_text()
    section = page[page.index("## The contract suite: ProviderContract"):]
    namespace: dict[str, Any] = {"__name__": "testing_docs"}
    exec(compile(PYTHON_BLOCK.findall(section)[0], "testing.md", "exec"), namespace)
    results = outcomes(namespace["TestGoSmsGeContract"])
    assert set(results.values()) == {"passed"}, results


def test_a_rule_that_does_not_apply_is_a_skip() -> None:
    class NoLookups(ProviderContract):
        provider = "gosms.ro"
        credentials: ClassVar[Mapping[str, str]] = {"api_key": "contract-canary-key"}
        number = "+40712345678"

    with pytest.raises(unittest.SkipTest, match="no status or balance lookup"):
        NoLookups().test_wire_error_table_on_lookup()
    with pytest.raises(unittest.SkipTest, match="declares no error_in_ok_reply"):
        NoLookups().test_wire_error_inside_http_200()


def test_wire_rules_without_declared_replies_fail_rather_than_pass() -> None:
    class Undeclared(ProviderContract):
        provider = "gosms.ge"
        credentials: ClassVar[Mapping[str, str]] = {"api_key": "contract-canary-key"}
        number = "+995555123456"

    with pytest.raises(AssertionError, match=r"declares no ok_reply\(\)"):
        Undeclared().test_wire_send_and_lookup_succeed()
    with pytest.raises(AssertionError, match=r"declares no ok_reply\(\)"):
        Undeclared().test_wire_error_table_on_send()

    class HalfDeclared(Undeclared):
        def ok_reply(self, request: Any) -> Any:
            return self.json_reply({"success": True, "messageId": 1})

    with pytest.raises(AssertionError, match=r"declares no error_reply\(\)"):
        HalfDeclared().test_wire_no_credential_in_logs_errors_or_reprs()


def test_a_class_is_built_by_its_name_and_leaves_the_registry_as_it_was() -> None:
    from smsgate import GoSmsGe

    class Unregistered(GoSmsGe):
        name = "unregistered-gosms"

    class Contract(ProviderContract):
        provider = Unregistered
        credentials: ClassVar[Mapping[str, str]] = {"api_key": "contract-canary-key"}
        number = "+995555123456"

    before = available_providers()
    Contract().test_built_by_name()
    Contract().test_bad_settings_are_configuration_errors()
    assert available_providers() == before


def test_a_class_whose_name_belongs_to_another_is_refused() -> None:
    from smsgate import GoSmsGe

    class Impostor(GoSmsGe):
        name = "gosms.ge"

    class Contract(ProviderContract):
        provider = Impostor
        credentials: ClassVar[Mapping[str, str]] = {"api_key": "contract-canary-key"}
        number = "+995555123456"

    with pytest.raises(AssertionError, match=r"'gosms\.ge' is registered as"):
        Contract().test_built_by_name()


def test_short_fake_credentials_are_refused() -> None:
    class Short(ProviderContract):
        provider = "gosms.ge"
        credentials: ClassVar[Mapping[str, str]] = {"api_key": "key"}
        number = "+995555123456"
        foreign = "+40712345678"

    with pytest.raises(AssertionError, match="at least 8 characters"):
        Short().test_declarations_are_coherent()


def test_url_credentials_must_place_the_declared_credentials() -> None:
    from smsgate import GoSmsGe

    class Misplaced(GoSmsGe):
        name = "misplaced-gosms"
        url_credentials: ClassVar[Mapping[str, str]] = {"user": "key"}

    class Contract(ProviderContract):
        provider = Misplaced
        credentials: ClassVar[Mapping[str, str]] = {"api_key": "contract-canary-key"}
        number = "+995555123456"
        foreign = "+40712345678"

    with pytest.raises(AssertionError, match=r"url_credentials places \['key'\]"):
        Contract().test_declarations_are_coherent()


def test_a_provider_of_limited_reach_must_declare_a_foreign_number() -> None:
    class NoForeign(ProviderContract):
        provider = "gosms.ge"
        credentials: ClassVar[Mapping[str, str]] = {"api_key": "contract-canary-key"}
        number = "+995555123456"

    with pytest.raises(AssertionError, match=r"reaches only \['GE'\]: declare foreign"):
        NoForeign().test_declarations_are_coherent()
