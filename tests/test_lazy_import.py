"""`import smsgate` loads only what every user needs; the rest arrives with the first name
that needs it, and every public name still resolves (issue 22)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import smsgate
from smsgate import registry

#: Every built-in adapter's module, from the registry's lines (none may load with smsgate).
ADAPTER_MODULES = tuple(
    registry._absolute(line.adapter).partition(":")[0]
    for line in registry._BUILTIN.values() if line.adapter.startswith(".providers.")
)
#: The built-in providers' names.
BUILT_IN = tuple(registry._BUILTIN)

HEAVY = (
    "cattrs",
    "click",
    "rich",
    "importlib.metadata",
    "requests",
    "urllib3",
    "phonenumbers",
    "smsgate.config",
    "smsgate.gateway",
    "smsgate.registry",
    "smsgate.webhooks",
    "smsgate._cli",
    *ADAPTER_MODULES,
)


def test_the_adapter_list_is_the_registrys_and_has_the_four_built_ins() -> None:
    assert {"smsgate.providers.gosms_ge", "smsgate.providers.gosms_ro",
            "smsgate.providers.smsgist", "smsgate.providers.smsoffice_ge"} <= set(ADAPTER_MODULES)
    # Every built-in adapter but the test double lives under smsgate.providers.
    assert {name for name, line in registry._BUILTIN.items()
            if not line.adapter.startswith(".providers.")} == {"memory"}


def _fresh(code: str) -> dict[str, object]:
    """Run ``code`` in a new interpreter; it prints a JSON object as its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_smsgate_loads_no_adapter_cattrs_click_or_requests() -> None:
    seen = _fresh(f"""
        import json, sys
        import smsgate
        heavy = {HEAVY!r}
        print(json.dumps({{"loaded": [m for m in heavy if m in sys.modules]}}))
    """)
    assert seen["loaded"] == []


def test_listing_and_registering_providers_loads_no_adapter() -> None:
    """The registry holds the built-in adapters as import paths, as registry.py says: naming
    them, listing them and registering another loads none of their modules."""
    seen = _fresh("""
        import json, sys
        import smsgate
        names = smsgate.available_providers()
        smsgate.register_provider("acme-lazy", "acme_not_installed:Acme")
        print(json.dumps({
            "names": names,
            "adapters": sorted(m for m in sys.modules if m.startswith("smsgate.providers")),
        }))
    """)
    assert set(BUILT_IN) <= set(seen["names"])  # type: ignore[arg-type]
    assert {"gosms.ge", "gosms.ro", "smsgist", "smsoffice.ge"} <= set(BUILT_IN)
    assert seen["adapters"] == []


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    seen = _fresh("""
        import json, sys
        import smsgate
        missing = [n for n in smsgate.__all__ if getattr(smsgate, n, None) is None]
        listed = set(dir(smsgate))
        print(json.dumps({
            "missing": missing,
            "not_in_dir": sorted(set(smsgate.__all__) - listed),
            "segments_is_function": callable(smsgate.segments)
                and not isinstance(smsgate.segments, type(sys)),
            "webhooks_parse": callable(smsgate.webhooks.parse),
        }))
    """)
    assert seen == {"missing": [], "not_in_dir": [], "segments_is_function": True,
                    "webhooks_parse": True}


def test_using_one_adapter_loads_only_that_adapter() -> None:
    seen = _fresh("""
        import json, sys
        import smsgate
        provider = smsgate.create("gosms.ge", api_key="k" * 32, sender="Brand")
        from smsgate import SmsGist  # a from-import goes through the same lazy lookup
        print(json.dumps({
            "name": provider.name,
            "adapters": sorted(m for m in sys.modules if m.startswith("smsgate.providers.")),
            "cattrs": "cattrs" in sys.modules, "click": "click" in sys.modules,
            "segments_is_function": callable(smsgate.segments)
                and not isinstance(smsgate.segments, type(sys)),
        }))
    """)
    assert seen == {
        "name": "gosms.ge",
        "adapters": ["smsgate.providers._base", "smsgate.providers.gosms_ge",
                     "smsgate.providers.smsgist"],
        "cattrs": False,
        "click": False,
        "segments_is_function": True,
    }


def test_lazy_names_are_the_defining_modules_objects() -> None:
    from smsgate.gateway import Gateway
    from smsgate.providers.gosms_ge import GoSmsGe
    from smsgate.registry import create

    assert smsgate.Gateway is Gateway
    assert smsgate.GoSmsGe is GoSmsGe
    assert smsgate.create is create
    assert smsgate.registry.create is create  # a submodule import used to make this work


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        smsgate.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(smsgate, "testing_not_a_name")


def test_dir_lists_public_names_and_no_helpers() -> None:
    listed = dir(smsgate)
    assert set(smsgate.__all__) <= set(listed)
    assert not {"importlib", "typing", "TYPE_CHECKING", "Final"} & set(listed)
