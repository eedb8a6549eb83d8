"""Nothing in ``docs/``, ``examples/`` or the README imports a private module or name.

What the documentation shows is what users copy: ``smsgate._x``, ``smsgate.providers._x``
and ``from smsgate.x import _y`` may change in any release, so none of them may appear in a
code block of a page or in an example script.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```",
                   re.MULTILINE | re.DOTALL)
#: A dotted smsgate path with a private part (``smsgate._http``, ``smsgate.providers._base``).
PRIVATE_PATH = re.compile(r"\bsmsgate(?:\.[A-Za-z]\w*)*\._\w+")
#: ``from smsgate... import ...`` up to the end of the statement (parentheses included).
FROM_IMPORT = re.compile(r"^\s*from\s+(smsgate[\w.]*)\s+import\s+(\([^)]*\)|[^\n]+)",
                         re.MULTILINE)


def private_imports(code: str) -> list[str]:
    """Every private smsgate module or name ``code`` uses: dotted paths anywhere (imports,
    attribute chains, ``import_module("...")`` strings), and names imported from a public
    module, read with ``ast`` where the code parses and with a pattern where it does not (a
    method shown on its own, a shell line)."""
    found = [m[0] for m in PRIVATE_PATH.finditer(code)]
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        for module, names in FROM_IMPORT.findall(code):
            for name in re.split(r"[\s,()]+", names):
                if name.startswith("_") and not name.startswith("__"):
                    found.append(f"from {module} import {name}")
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("smsgate"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"from {node.module} import {alias.name}")
    return found


def code_of(path: Path) -> str:
    """The code a file shows: all of a script, the fenced code blocks of a page."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return text
    return "\n".join(m["body"] for m in FENCE.finditer(text))


FILES = sorted([*(ROOT / "docs").rglob("*.md"), *(ROOT / "examples").rglob("*.py"),
                ROOT / "README.md"])


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_docs_and_examples_import_public_names_only(path: Path) -> None:
    assert private_imports(code_of(path)) == []


def test_the_pages_and_examples_are_found() -> None:
    names = {str(p.relative_to(ROOT)) for p in FILES}
    assert {"docs/adding-a-provider.md", "docs/testing.md", "examples/send_one.py",
            "README.md"} <= names
    assert "class AcmeSms" in code_of(ROOT / "docs" / "adding-a-provider.md")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("from smsgate.providers._base import ApiKeyProvider\n",
         ["smsgate.providers._base"]),
        ("import smsgate._http as http\n", ["smsgate._http"]),
        ("from smsgate import _secrets\n", ["from smsgate import _secrets"]),
        ("from smsgate.testing import (\n    MockTransport,\n    _NoNetwork,\n)\n",
         ["from smsgate.testing import _NoNetwork"]),
        ("    def build_send(self, o):\n        from smsgate import _wire\n  return 1\n",
         ["from smsgate import _wire"]),
        ("importlib.import_module('smsgate._mock')\n", ["smsgate._mock"]),
        ("x = smsgate.providers._base.ErrorSpec\n", ["smsgate.providers._base"]),
        ("from smsgate.providers import ErrorSpec, HttpProvider\nimport smsgate\n", []),
        ("from smsgate import __version__\n", []),
    ],
)
def test_the_scan_finds_private_imports(code: str, expected: list[str]) -> None:
    assert private_imports(code) == expected


def test_the_scan_reads_fenced_blocks_only(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Prose may name `smsgate._http` when it explains the design.\n\n"
        "```python\nfrom smsgate.providers._base import Limits\n```\n\n"
        "- a list item:\n\n  ```python\n  from smsgate import _wire\n  ```\n",
        encoding="utf-8",
    )
    assert private_imports(code_of(page)) == [
        "smsgate.providers._base", "from smsgate import _wire",
    ]
