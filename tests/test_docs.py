"""Generated documentation: tables come from the adapters' data, the API reference from
``smsgate.__all__``, and every page marker is one the generator knows."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

import smsgate
from smsgate import registry
from smsgate.registry import provider_class

ROOT = Path(__file__).parent.parent
spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "tools" / "docs_hooks.py")
assert spec is not None and spec.loader is not None
hooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hooks)

ROW = re.compile(r"^\| `(?P<code>[^`]+)` \| `(?P<error>\w+)` \|", re.MULTILINE)


DOCUMENTED = ("gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist")


def _cells(table: str) -> dict[str, list[str]]:
    """A generated Markdown table: first cell of each row -> its other cells."""
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in table.splitlines()
            if set(line) - set("|-")]  # not the separator row
    return {row[0]: row[1:] for row in rows}


def test_the_documented_providers_are_the_registrys_built_ins() -> None:
    """Every list of providers in the docs is the registry's built-in HTTP providers, in its
    (the sandbox's port) order: the four documented ones first."""
    from smsgate.sandbox import PORT_ORDER

    names = hooks.providers()
    assert names[:4] == DOCUMENTED
    assert names == tuple(n for n in registry._BUILTIN if n != "memory")
    assert list(names) == [n for n in PORT_ORDER if n in names]
    assert [hooks.title(n) for n in DOCUMENTED] == ["GOSMS.GE", "SMSOffice.ge", "GoSMS.ro",
                                                     "SMSGist"]
    pages = {p.name for p in (ROOT / "docs" / "providers").glob("*.md")} - {"index.md"}
    assert pages == {hooks.page_path(n).removeprefix("providers/") for n in names}


@pytest.mark.parametrize("name", hooks.providers())
def test_error_tables_render_every_row_of_the_data(name: str) -> None:
    table = hooks.error_table(name)
    rows = {m["code"]: m["error"] for m in ROW.finditer(table)}
    cls = provider_class(name)
    assert rows == {str(code): spec.error.__name__ for code, spec in cls.error_table.items()}
    assert table.startswith(f"| {cls.error_code_heading} | smsgate error |")
    page = (ROOT / "docs" / hooks.page_path(name)).read_text()
    assert f"<!-- smsgate:error-table {name} -->" in page


def test_error_code_headings_are_each_providers_word() -> None:
    assert {n: provider_class(n).error_code_heading for n in DOCUMENTED} == {
        "gosms.ge": "code", "smsoffice.ge": "ErrorCode", "gosms.ro": "code",
        "smsgist": "HTTP status"}


def test_feature_matrix_follows_the_declarations() -> None:
    matrix = hooks.feature_matrix()
    cells = _cells(matrix)
    names = hooks.providers()
    assert cells["capability"] == [f"`{n}`" for n in names]
    for capability in smsgate.CAPABILITIES:
        assert cells[capability] == [
            "yes" if capability in provider_class(n).capabilities else "-" for n in names]
    # What the four documented providers declare, as the pages say.
    assert cells["otp"][:4] == ["yes", "-", "-", "-"]
    assert cells["idempotency"][:4] == ["-", "-", "-", "yes"]
    assert len(matrix.splitlines()) == 2 + len(smsgate.CAPABILITIES)


def test_provider_comparison_follows_the_declarations() -> None:
    cells = _cells(hooks.provider_comparison())
    names = hooks.providers()
    assert cells[""] == [f"[{hooks.title(n)}]({n.replace('.', '-')}.md)" for n in names]
    assert all(len(row) == len(names) for row in cells.values())
    four = {row: values[:4] for row, values in cells.items()}
    assert four["numbers"] == ["GE only; `995…`", "GE only; `995…`", "any; `40…`, abroad `00…`",
                               "GH only; E.164 (`+233…`)"]
    assert four["text limit"] == ["6 parts", "1,000 characters", "39,015 characters",
                                  "1,530 characters, 10 parts"]
    assert four["sender"][0] == "required, ≤ 11" and four["sender"][2] == "optional"
    assert four["recipients per request"] == ["1,000", "1,000", "1 (a list: one request each)",
                                              "all in one"]
    assert four["message id"][1] == "your `reference`"
    assert four["delivery reports"] == ["poll `status`", "callback or poll by `reference`",
                                        "callback", "callback or poll `status`"]
    page = (ROOT / "docs" / "providers" / "index.md").read_text()
    assert "<!-- smsgate:provider-comparison -->" in page and "| | GOSMS.GE |" not in page


def test_the_nav_lists_every_provider_page_in_the_registrys_order() -> None:
    yaml = pytest.importorskip("yaml", reason="the docs extra reads mkdocs.yml")

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    section = next(item for item in nav if isinstance(item, dict) and "Providers" in item)
    assert section["Providers"] == [{"Feature matrix": "providers/index.md"}]
    hooks.provider_nav(nav)
    assert section["Providers"][1:] == [hooks.page_path(n) for n in hooks.providers()]
    hooks.provider_nav(nav)  # a page already listed is not added again
    assert len(section["Providers"]) == 1 + len(hooks.providers())


def test_the_site_description_names_every_built_in_provider() -> None:
    config = {"nav": [{"Providers": []}],
              "site_description": "Send SMS through {providers} behind one interface."}
    hooks.on_config(config)
    assert config["site_description"] == (
        "Send SMS through " + ", ".join(hooks.title(n) for n in hooks.providers()[:-1])
        + f" and {hooks.title(hooks.providers()[-1])} behind one interface.")
    assert config["site_description"].startswith(
        "Send SMS through GOSMS.GE, SMSOffice.ge, GoSMS.ro")
    assert "SMSGist" in config["site_description"]
    assert "{providers}" in (ROOT / "mkdocs.yml").read_text()


def test_the_sandbox_port_table_is_the_port_order() -> None:
    from smsgate.sandbox import PORT_ORDER, UNITS

    page = hooks.render((ROOT / "docs" / "sandbox.md").read_text())
    ports = re.findall(r"^\| `P\+(\d+)` \| .* \(`([\w.]+)`\) \|$", page, re.MULTILINE)
    assert [(int(p), n) for p, n in ports] == list(enumerate(PORT_ORDER, start=1))
    assert [n for _, n in ports][:4] == list(DOCUMENTED)  # the ports a .env may hold
    assert "| `P+1` | GOSMS.GE (`gosms.ge`) |" in page
    units = page.split("| provider | unit |\n|---|---|\n")[1].split("\n\n")[0]
    assert units.splitlines() == [f"| {hooks.title(n)} | {UNITS[n]} |" for n in PORT_ORDER]
    assert "five ports" not in page


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
