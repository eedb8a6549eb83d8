"""The API reference documents every public name of the sub-modules users import from:
``smsgate.providers`` (the extension API), ``smsgate.aio`` and ``smsgate.stores``.

Each has one ``::: smsgate.X`` block on ``docs/reference.md`` whose ``members`` list must be
the module's ``__all__``: a name added to a module without its reference entry fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).parents[1] / "docs" / "reference.md"

#: Names a module exports that the page documents elsewhere (under ``smsgate``).
ELSEWHERE = {"smsgate.providers": {"Transport"}}


def _members(page: str, module: str) -> list[str]:
    block = page[page.index(f"::: {module}\n"):]
    listed = block[block.index("members:"):]
    return re.findall(r'"(\w+)"', listed[: listed.index("]") + 1])


@pytest.mark.parametrize("module", ["smsgate.providers", "smsgate.aio", "smsgate.stores"])
def test_the_reference_documents_every_public_name_of(module: str) -> None:
    page = PAGE.read_text()
    members = _members(page, module)
    exported = set(importlib.import_module(module).__all__)
    assert len(members) == len(set(members)), "a name listed twice"
    assert set(members) | ELSEWHERE.get(module, set()) == exported, \
        set(members) ^ (exported - ELSEWHERE.get(module, set()))
    assert f"## `{module}`" in page


def test_the_stores_block_shows_inherited_members() -> None:
    """The Redis claim store's ``afinish``, ``arenew`` and ``asettle`` come from a mixin:
    without ``inherited_members`` the reference would leave them out."""
    page = PAGE.read_text()
    block = page[page.index("::: smsgate.stores\n"):]
    assert "inherited_members: true" in block[: block.index("]")]


def test_the_members_are_read_from_the_right_block() -> None:
    page = '::: a.b\n    options:\n      members: ["X", "Y"]\n\n::: a.c\n      members: ["Z"]\n'
    assert _members(page, "a.b") == ["X", "Y"]
    assert _members(page, "a.c") == ["Z"]
