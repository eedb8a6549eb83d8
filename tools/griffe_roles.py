"""Griffe extension: the Sphinx roles in smsgate's docstrings become links in the API reference.

smsgate's docstrings use Sphinx roles (``:class:`ProviderError```, ``:attr:`~X.y```), readable
in ``help()`` and in editors. mkdocstrings renders Markdown, where a role would show up as
literal text; this rewrites each role into an autorefs link to the object's entry on the
reference page (``[`ProviderError`][smsgate.ProviderError]``), or into plain code when the
object has no entry there (a private helper), so that the strict build never meets a
dangling link.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import griffe

import smsgate

sys.path.insert(0, str(Path(__file__).parent))
from docs_hooks import reference_path  # the reference page's own naming

_ROLE = re.compile(r":(?:py:)?(?:class|exc|func|meth|attr|data|mod|obj):`(~?)([^`<>]+)`")

#: Objects with an entry on the reference page besides ``smsgate.__all__`` (see reference.md).
_ALSO_DOCUMENTED = {
    "MemoryProvider": "smsgate.testing.MemoryProvider",
    "SentMessage": "smsgate.testing.SentMessage",
    "Sandbox": "smsgate.sandbox.Sandbox",
    "webhooks.parse": "smsgate.webhooks.parse",
    "webhooks.wsgi_app": "smsgate.webhooks.wsgi_app",
    "testing.MemoryProvider": "smsgate.testing.MemoryProvider",
    "testing.SentMessage": "smsgate.testing.SentMessage",
    "sandbox.Sandbox": "smsgate.sandbox.Sandbox",
}


class SphinxRoles(griffe.Extension):
    """Rewrites roles once the object tree is complete (members can then be looked up)."""

    def __init__(self) -> None:
        super().__init__()
        self._root: griffe.Module | None = None

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader,
                   **kwargs: Any) -> None:
        if pkg.path != "smsgate":
            return
        self._root = pkg
        for obj in _walk(pkg):
            if obj.docstring is not None and ":`" in obj.docstring.value:
                obj.docstring.value = _ROLE.sub(self._link, obj.docstring.value)

    def _link(self, match: re.Match[str]) -> str:
        short, path = match[1] == "~", match[2].strip()
        shown = path.rsplit(".", 1)[-1] if short else path.removeprefix("smsgate.")
        if path.endswith("()"):
            path = path[:-2]
        target = self._target(path.removeprefix("smsgate."))
        return f"[`{shown}`][{target}]" if target else f"`{shown}`"

    def _target(self, path: str) -> str | None:
        """The reference-page identifier for ``path``: the member's entry where it has one,
        else its class's entry, else nothing."""
        head, _, member = path.partition(".")
        if path in _ALSO_DOCUMENTED:
            return _ALSO_DOCUMENTED[path]
        if head in _ALSO_DOCUMENTED:
            owner = _ALSO_DOCUMENTED[head]
        elif head in smsgate.__all__:
            owner = reference_path(head)
        else:
            return None
        if member and self._documented(owner, member):
            return f"{owner}.{member}"
        return owner

    def _documented(self, owner: str, member: str) -> bool:
        # mkdocstrings renders (and anchors) only public members that have a docstring.
        assert self._root is not None
        try:
            obj = self._root.modules_collection[owner]
            found = obj.get_member(member) if "." not in member else None
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return False
        return found is not None and not member.startswith("_") and bool(found.docstring)


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found: list[griffe.Object] = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_walk(member))  # type: ignore[arg-type]
    return found
