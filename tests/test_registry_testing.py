from __future__ import annotations

import importlib.metadata
from decimal import Decimal

import pytest

import smsgate
from smsgate import ConfigurationError, Status, UnsupportedFeature
from smsgate.testing import MemoryProvider

from .conftest import CANARY, ToyProvider


def test_memory_is_registered_and_created_by_name() -> None:
    assert "memory" in smsgate.available_providers()
    provider = smsgate.create("memory", sender="Brand")
    assert isinstance(provider, MemoryProvider)
    assert provider.sender == "Brand"


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown provider 'nope'.*memory"):
        smsgate.create("nope")


def test_bad_option_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="api_kye"):
        smsgate.create("memory", api_kye="x")


def test_register_provider_at_run_time() -> None:
    smsgate.register_provider("toy", ToyProvider)
    try:
        assert "toy" in smsgate.available_providers()
        toy = smsgate.create("toy", api_key=CANARY)
        assert isinstance(toy, ToyProvider)
    finally:
        from smsgate import registry

        registry._registered.pop("toy")


@pytest.mark.parametrize("name", ["gosms.ge", "memory", "toy-taken"])
def test_register_provider_refuses_to_replace_a_name_unless_asked(name: str) -> None:
    """A built-in name, or one registered earlier, is never taken over silently."""
    from smsgate import registry

    if name == "toy-taken":
        smsgate.register_provider(name, ToyProvider)
    before = smsgate.registry.provider_class(name)
    try:
        with pytest.raises(ConfigurationError, match=rf"'{name}' is already registered.*"
                                                     r"replace=True"):
            smsgate.register_provider(name, ToyProvider)
        assert smsgate.registry.provider_class(name) is before
        smsgate.register_provider(name, ToyProvider, replace=True)
        assert smsgate.registry.provider_class(name) is ToyProvider
    finally:
        registry._registered.pop(name, None)
    if name != "toy-taken":  # the built-in class is back once the replacement is removed
        assert smsgate.registry.provider_class(name) is before


def test_register_provider_refuses_an_entry_point_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smsgate.registry, "_entry_points", lambda: {"acme": object()})
    with pytest.raises(ConfigurationError, match="'acme' is already registered \\(by an "
                                                 "installed package\\)"):
        smsgate.register_provider("acme", ToyProvider)
    smsgate.register_provider("acme", ToyProvider, replace=True)
    try:
        assert smsgate.registry.provider_class("acme") is ToyProvider
    finally:
        smsgate.registry._registered.pop("acme")


def test_entry_point_with_missing_dependency_names_the_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Dist:
        name = "smsgate-acme"

    class FakeEntryPoint:
        name = "acme"
        value = "smsgate_acme_not_installed:Acme"
        dist = Dist()

    monkeypatch.setattr(smsgate.registry, "_entry_points", lambda: {"acme": FakeEntryPoint()})
    assert "acme" in smsgate.available_providers()
    with pytest.raises(ConfigurationError, match="pip install 'smsgate-acme'"):
        smsgate.create("acme")


def test_entry_point_group_is_read() -> None:
    # Our own distribution declares none, but the lookup must work on this Python.
    assert isinstance(importlib.metadata.entry_points(group="smsgate.providers"), object)
    assert smsgate.registry.ENTRY_POINT_GROUP == "smsgate.providers"


def test_memory_provider_records_and_satisfies_the_protocol() -> None:
    sms = MemoryProvider(region="GE", sender="Brand")
    assert isinstance(sms, smsgate.SmsProvider)
    result = sms.send(["555 12 34 56", "+995577123456"], "Hello", urgent=True)
    assert result.ok and result.provider == "memory"
    assert sms.last.to == ("+995555123456", "+995577123456")
    assert sms.last.options == {"urgent": True}
    assert sms.last.sender == "Brand"
    assert sms.status(result.message_id or "").status is Status.DELIVERED
    assert sms.balance().amount == Decimal(998)
    with pytest.raises(smsgate.NotFound):
        sms.status("mem-999")


def test_memory_provider_scripted_failures() -> None:
    sms = MemoryProvider()
    sms.script(smsgate.ProviderUnavailable, None,
               smsgate.DeliveryUnknown("lost", provider="memory"))
    with pytest.raises(smsgate.ProviderUnavailable):
        sms.send("+995555123456", "a")
    sms.send("+995555123456", "b")
    with pytest.raises(smsgate.DeliveryUnknown) as info:
        sms.send("+995555123456", "c")
    assert info.value.may_have_sent is True
    sms.send("+995555123456", "d")
    assert [m.text for m in sms.outbox] == ["b", "d"]
    assert [c.text for c in sms.calls] == ["a", "b", "c", "d"]


def test_memory_provider_validates_like_a_real_one() -> None:
    sms = MemoryProvider(capabilities=frozenset({"bulk"}))
    with pytest.raises(UnsupportedFeature):
        sms.send("+995555123456", "x", urgent=True)
    with pytest.raises(smsgate.InvalidPhoneNumber):
        sms.send("555 12 34 56", "x")  # no region: national numbers are ambiguous
    with pytest.raises(smsgate.MessageTooLong):
        sms.send("+995555123456", "")
    assert sms.outbox == [] and sms.calls == []


def test_pytest_fixture_is_installed(smsgate_memory: MemoryProvider) -> None:
    smsgate_memory.send("555 12 34 56", "from the fixture")
    assert smsgate_memory.last.text == "from the fixture"


@pytest.mark.parametrize("name", ["gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist"])
def test_memory_provider_like_a_real_one_refuses_what_it_refuses(name: str) -> None:
    """MemoryProvider(like=NAME) refuses before sending exactly what NAME refuses by its
    declarations: numbers it cannot reach, texts over its limit, a missing required sender,
    options it lacks; and reads national numbers in its home region."""
    import smsgate
    from smsgate.registry import create
    from smsgate.testing import MemoryProvider

    real_class = type(create(name, **_credentials(name)))
    memory = MemoryProvider(like=name, sender="Brand")
    assert memory.limits == real_class.limits
    assert memory.home_region == real_class.home_region
    assert memory.allowed_regions == real_class.allowed_regions
    assert memory.capabilities <= real_class.capabilities
    foreign = {"gosms.ge": "+233245972246", "smsoffice.ge": "+40712345678",
               "smsgist": "+995555123456"}.get(name)
    if foreign is not None:
        with pytest.raises(smsgate.InvalidPhoneNumber):
            memory.send(foreign, "Hi")
    long_text = "x" * 40_000  # over every documented maximum (GoSMS.ro: 39,015)
    with pytest.raises(smsgate.MessageTooLong):
        memory.send(_local_number(name), long_text)
    if real_class.limits.sender_required:
        with pytest.raises(smsgate.InvalidSender):
            MemoryProvider(like=name).send(_local_number(name), "Hi")
    for option, capability in (("flash", "flash"), ("priority", "priority")):
        if capability not in real_class.capabilities:
            with pytest.raises(smsgate.UnsupportedFeature):
                memory.send(_local_number(name), "Hi", **{option: True})
    assert memory.outbox == []  # nothing above was "sent"
    assert memory.send(_local_number(name), "Hi").ok


def test_memory_provider_like_an_unknown_name_is_a_configuration_error() -> None:
    import smsgate
    from smsgate.testing import MemoryProvider

    with pytest.raises(smsgate.ConfigurationError):
        MemoryProvider(like="no.such.provider")
    assert smsgate.from_url("memory://@?like=smsgist").home_region == "GH"


def _credentials(name: str) -> dict[str, str]:
    return {"client_id": "c", "token": "t"} if name == "smsgist" else {"api_key": "k"}


def _local_number(name: str) -> str:
    return {"gosms.ge": "555123456", "smsoffice.ge": "577123456", "gosms.ro": "0712345678",
            "smsgist": "0245972246"}[name]
