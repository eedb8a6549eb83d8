"""The public face of smsgate.stores."""

from __future__ import annotations

import subprocess
import sys
import types

import smsgate
import smsgate.stores


def test_all_is_sorted_and_complete() -> None:
    names = smsgate.stores.__all__
    assert list(names) == sorted(names)
    public = {
        name for name in dir(smsgate.stores)
        if not name.startswith("_")
        and not isinstance(getattr(smsgate.stores, name), types.ModuleType)
        and name != "annotations"
    }
    assert set(names) == public


def test_stores_are_not_yet_part_of_the_top_level_api() -> None:
    assert not set(smsgate.stores.__all__) & set(smsgate.__all__)


def test_importing_the_stores_imports_neither_the_gateway_nor_requests() -> None:
    """The gateway will import the stores: the stores must not import it back."""
    code = ("import sys, smsgate.stores; "
            "print(sorted(m for m in ('smsgate.gateway', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"
