"""MkDocs hook: pages generated from smsgate's own declarations, so they cannot drift.

Markers replaced in any page:

- ``<!-- smsgate:feature-matrix -->``: provider x capability, from each adapter's declaration.
- ``<!-- smsgate:error-table NAME -->``: provider NAME's error table, from its data.
- ``<!-- smsgate:api-reference -->``: a ``::: smsgate.X`` block per name of ``smsgate.__all__``.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import smsgate
from smsgate.providers._base import HttpProvider, iter_errors
from smsgate.registry import provider_class

PROVIDERS = ("gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist")
_ERROR_TABLE = re.compile(r"<!-- smsgate:error-table (?P<name>[\w.]+) -->")
_HEADS = {"gosms.ge": "code", "smsoffice.ge": "ErrorCode", "gosms.ro": "code",
          "smsgist": "HTTP status"}


def feature_matrix() -> str:
    classes = [provider_class(name) for name in PROVIDERS]
    rows = ["| capability | " + " | ".join(f"`{n}`" for n in PROVIDERS) + " |",
            "|---|" + "---|" * len(PROVIDERS)]
    for capability in sorted(smsgate.CAPABILITIES):
        marks = ["yes" if capability in cls.capabilities else "-" for cls in classes]
        rows.append(f"| {capability} | " + " | ".join(marks) + " |")
    return "\n".join(rows)


def error_table(name: str) -> str:
    cls: type[HttpProvider] = provider_class(name)
    rows = [f"| {_HEADS.get(name, 'code')} | smsgate error | provider's meaning | retryable "
            "| source |", "|---|---|---|---|---|"]
    for code, spec in iter_errors(cls.error_table):
        retry = spec.retryable if spec.retryable is not None else spec.error.default_retryable
        rows.append(f"| `{code}` | `{spec.error.__name__}` | {spec.description} | "
                    f"{'yes' if retry else 'no'} | {spec.source} |")
    return "\n".join(rows)


def reference_path(name: str) -> str:
    """Where the reference documents ``smsgate.NAME``.

    A public name that shares its name with a sub-module (the function ``smsgate.segments``
    and the module ``smsgate/segments.py``) is documented by its full path, or the module
    would be rendered in its place.
    """
    if importlib.util.find_spec(f"smsgate.{name}") is None:
        return f"smsgate.{name}"
    obj = getattr(smsgate, name)
    return f"{obj.__module__}.{obj.__qualname__}"


def api_reference() -> str:
    # mkdocstrings renders each heading itself (one TOC entry per name, and an anchor that the
    # docstrings' cross-references resolve to).
    blocks = []
    for name in smsgate.__all__:
        if name.startswith("_"):
            continue
        blocks.append(f"::: {reference_path(name)}\n    options:\n"
                      "      show_root_heading: true\n      show_root_full_path: false\n"
                      "      heading_level: 2\n")
    return "\n".join(blocks)


def render(markdown: str) -> str:
    markdown = markdown.replace("<!-- smsgate:feature-matrix -->", feature_matrix())
    markdown = markdown.replace("<!-- smsgate:api-reference -->", api_reference())
    return _ERROR_TABLE.sub(lambda m: error_table(m["name"]), markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return render(markdown)
