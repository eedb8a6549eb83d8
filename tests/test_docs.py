"""Generated documentation: tables come from the adapters' data, the API reference from
``smsgate.__all__``, and every page marker is one the generator knows."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

import smsgate
from smsgate.registry import provider_class

ROOT = Path(__file__).parent.parent
spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "tools" / "docs_hooks.py")
assert spec is not None and spec.loader is not None
hooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hooks)

ROW = re.compile(r"^\| `(?P<code>[^`]+)` \| `(?P<error>\w+)` \|", re.MULTILINE)


@pytest.mark.parametrize("name", ["gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist"])
def test_error_tables_render_every_row_of_the_data(name: str) -> None:
    table = hooks.error_table(name)
    rows = {m["code"]: m["error"] for m in ROW.finditer(table)}
    expected = provider_class(name).error_table
    assert rows == {str(code): spec.error.__name__ for code, spec in expected.items()}
    page = (ROOT / "docs" / "providers" / f"{name.replace('.', '-')}.md").read_text()
    assert f"<!-- smsgate:error-table {name} -->" in page


def test_feature_matrix_follows_the_declarations() -> None:
    matrix = hooks.feature_matrix()
    otp = next(line for line in matrix.splitlines() if line.startswith("| otp |"))
    assert otp == "| otp | yes | - | - | - |"
    idempotency = next(line for line in matrix.splitlines()
                       if line.startswith("| idempotency |"))
    assert idempotency == "| idempotency | - | - | - | yes |"
    assert len(matrix.splitlines()) == 2 + len(smsgate.CAPABILITIES)


def test_api_reference_names_every_public_name() -> None:
    reference = hooks.render((ROOT / "docs" / "reference.md").read_text())
    for name in smsgate.__all__:
        if not name.startswith("_"):
            assert f"::: {hooks.reference_path(name)}\n" in reference, name
    # The function, not the module of the same name.
    assert hooks.reference_path("segments") == "smsgate.segments.segments"


def test_docstring_roles_become_links_or_code() -> None:
    """The reference renders no literal ``:class:`` roles: each becomes an autorefs link to an
    object the page documents, or plain code."""
    import re
    import sys

    griffe = pytest.importorskip("griffe", reason="the docs extra builds the API reference")

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import griffe_roles
    finally:
        sys.path.remove(str(ROOT / "tools"))
    package = griffe.load("smsgate", extensions=griffe.load_extensions(
        griffe_roles.SphinxRoles()), resolve_aliases=True)
    texts = [obj.docstring.value for obj in griffe_roles._walk(package) if obj.docstring]
    assert not [t for t in texts if re.search(r":(class|attr|func|meth|data|exc|mod):`", t)]
    links = {m for t in texts for m in re.findall(r"\]\[(smsgate[\w.]*)\]", t)}
    documented = {hooks.reference_path(n) for n in smsgate.__all__}
    assert "smsgate.Gateway" in links and "smsgate.testing.MemoryProvider" in links
    for target in links:  # every link goes to a documented object or one of its members
        assert any(target == d or target.startswith(d + ".") for d in documented) or \
            target.startswith(("smsgate.testing.", "smsgate.sandbox.", "smsgate.webhooks.")), \
            target


def test_every_marker_is_rendered() -> None:
    for page in (ROOT / "docs").rglob("*.md"):
        assert "<!-- smsgate:" not in hooks.render(page.read_text()), page
