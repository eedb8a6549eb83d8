"""MkDocs hook: pages generated from smsgate's own declarations, so they cannot drift.

Every list of providers here is the registry's list of built-in HTTP providers, in its order
(:func:`providers`): a new built-in provider appears in every table, in the navigation and in
the sandbox's port table with nothing to edit here. Its page is ``docs/providers/<name>.md``
(dots written as dashes), and the page's ``# Title`` is the provider's name in every table.

Markers replaced in any page:

- ``<!-- smsgate:feature-matrix -->``: provider x capability, from each adapter's declaration.
- ``<!-- smsgate:provider-comparison -->``: numbers, text, sender, bulk, message id and delivery
  reports per provider, from each adapter's declarations (and its webhook parser).
- ``<!-- smsgate:error-table NAME -->``: provider NAME's error table, from its data; the code
  column is headed by the adapter's ``error_code_heading``.
- ``<!-- smsgate:sandbox-ports -->``: the sandbox's fixed ports, in ``PORT_ORDER``.
- ``<!-- smsgate:sandbox-units -->``: the unit of each emulated provider's balance.
- ``<!-- smsgate:api-reference -->``: a ``::: smsgate.X`` block per name of ``smsgate.__all__``.

``on_config`` adds each provider's page to the "Providers" section of the navigation and
names the providers in ``site_description`` (its ``{providers}``).
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

import phonenumbers

import smsgate
from smsgate import registry, webhooks
from smsgate.providers import HttpProvider, Limits, PhoneFormat, iter_errors
from smsgate.registry import provider_class

DOCS = Path(__file__).resolve().parent.parent / "docs"
_ERROR_TABLE = re.compile(r"<!-- smsgate:error-table (?P<name>[\w.]+) -->")
#: The navigation section the provider pages go in, after the pages it already lists.
NAV_SECTION = "Providers"


@functools.cache
def providers() -> tuple[str, ...]:
    """The built-in HTTP providers, in the registry's order (the sandbox's port order)."""
    return tuple(name for name in registry._BUILTIN
                 if issubclass(provider_class(name), HttpProvider))


def page_path(name: str) -> str:
    """Provider ``name``'s page, relative to ``docs/``."""
    return f"providers/{name.replace('.', '-')}.md"


@functools.cache
def title(name: str) -> str:
    """Provider ``name``'s own spelling: its page's ``# Title``."""
    first = (DOCS / page_path(name)).read_text(encoding="utf-8").splitlines()[0]
    if not first.startswith("# "):
        raise ValueError(f"{page_path(name)} must start with '# <provider title>'")
    return first[2:].strip()


def feature_matrix() -> str:
    names = providers()
    classes = [provider_class(name) for name in names]
    rows = ["| capability | " + " | ".join(f"`{n}`" for n in names) + " |",
            "|---|" + "---|" * len(names)]
    for capability in sorted(smsgate.CAPABILITIES):
        marks = ["yes" if capability in cls.capabilities else "-" for cls in classes]
        rows.append(f"| {capability} | " + " | ".join(marks) + " |")
    return "\n".join(rows)


def error_table(name: str) -> str:
    cls: type[HttpProvider] = provider_class(name)
    rows = [f"| {cls.error_code_heading} | smsgate error | provider's meaning | retryable "
            "| source |", "|---|---|---|---|---|"]
    for code, spec in iter_errors(cls.error_table):
        retry = spec.retryable if spec.retryable is not None else spec.error.default_retryable
        rows.append(f"| `{code}` | `{spec.error.__name__}` | {spec.description} | "
                    f"{'yes' if retry else 'no'} | {spec.source} |")
    return "\n".join(rows)


def _numbers(cls: type[HttpProvider]) -> str:
    """Where the provider sends (``allowed_regions``) and how it writes a number
    (``phone_format``), shown with its home region's country code."""
    home = cls.home_region
    code = str(phonenumbers.country_code_for_region(home)) if home else "<country code>"
    where = ", ".join(sorted(cls.allowed_regions)) + " only" if cls.allowed_regions else "any"
    if cls.phone_format is PhoneFormat.E164:
        wire = f"E.164 (`+{code}…`)"
    elif cls.phone_format is PhoneFormat.DIGITS:
        wire = f"`{code}…`"
    else:
        wire = f"`{code}…`, abroad `00…`"
    return f"{where}; {wire}"


def _text(limits: Limits) -> str:
    """The text limits the adapter checks before any request."""
    parts = [f"{limits.max_chars:,} characters" if limits.max_chars else None,
             f"{limits.max_segments} parts" if limits.max_segments else None]
    return ", ".join(p for p in parts if p) or "no documented limit"


def _sender(limits: Limits) -> str:
    words = ["required" if limits.sender_required else "optional"]
    if limits.max_sender_length:
        words.append(f"≤ {limits.max_sender_length}")
    if limits.sender_pattern:
        words.append(f"of `{limits.sender_pattern}`".replace("|", "\\|"))
    return ", ".join(words)


def _bulk(size: int | None) -> str:
    return "all in one" if size is None else "1 (a list: one request each)" if size == 1 \
        else f"{size:,}"


def _reports(cls: type[HttpProvider]) -> str:
    """How delivery reports arrive: a webhook parser means callbacks, ``status`` polling."""
    ways = ["callback"] if cls.name in webhooks.PROVIDERS else []
    if "status" in cls.capabilities:
        ways.append(f"poll by `{cls.handle_field}`" if cls.handle_field else "poll `status`")
    return " or ".join(ways) or "none"


def provider_comparison() -> str:
    """Provider x (numbers, text, sender, bulk, message id, reports), from the declarations."""
    classes: list[type[HttpProvider]] = [provider_class(name) for name in providers()]
    rows = {
        "numbers": [_numbers(cls) for cls in classes],
        "text limit": [_text(cls.limits) for cls in classes],
        "sender": [_sender(cls.limits) for cls in classes],
        "recipients per request": [_bulk(cls.limits.bulk_size) for cls in classes],
        "message id": [f"your `{cls.handle_field}`" if cls.handle_field else "the provider's"
                       for cls in classes],
        "delivery reports": [_reports(cls) for cls in classes],
    }
    lines = ["| | " + " | ".join(f"[{title(c.name)}]({Path(page_path(c.name)).name})"
                                 for c in classes) + " |",
             "|---|" + "---|" * len(classes)]
    lines += [f"| {row} | " + " | ".join(cells) + " |" for row, cells in rows.items()]
    return "\n".join(lines)


def sandbox_ports() -> str:
    """The fixed ports of ``Sandbox(port=P)``: the inbox, then the providers in PORT_ORDER."""
    from smsgate.sandbox import PORT_ORDER

    rows = ["| port | server |", "|---|---|",
            "| `P` | the inbox page and the `/_sandbox/...` control API |"]
    rows += [f"| `P+{i}` | {title(name)} (`{name}`) |"
             for i, name in enumerate(PORT_ORDER, start=1)]
    return "\n".join(rows)


def sandbox_units() -> str:
    """The unit each emulated provider's balance and costs count."""
    from smsgate.sandbox import UNITS

    rows = ["| provider | unit |", "|---|---|"]
    rows += [f"| {title(name)} | {unit} |" for name, unit in UNITS.items()]
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


_MARKERS = {
    "<!-- smsgate:feature-matrix -->": feature_matrix,
    "<!-- smsgate:provider-comparison -->": provider_comparison,
    "<!-- smsgate:sandbox-ports -->": sandbox_ports,
    "<!-- smsgate:sandbox-units -->": sandbox_units,
}


def render(markdown: str) -> str:
    for marker, table in _MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, table())
    markdown = markdown.replace("<!-- smsgate:api-reference -->", api_reference())
    return _ERROR_TABLE.sub(lambda m: error_table(m["name"]), markdown)


def provider_nav(nav: list[Any]) -> list[Any]:
    """``nav`` with each provider's page added to its "Providers" section, in the registry's
    order, after the pages the section lists already (the feature matrix); a page listed by
    hand is not added twice. The entry is the bare path, so its title is the page's own."""
    for item in nav:
        if isinstance(item, dict) and isinstance(item.get(NAV_SECTION), list):
            section: list[Any] = item[NAV_SECTION]
            listed = {entry if isinstance(entry, str) else next(iter(entry.values()))
                      for entry in section}
            section.extend(page_path(n) for n in providers() if page_path(n) not in listed)
            return nav
    raise ValueError(f"mkdocs.yml's nav has no {NAV_SECTION!r} section for the provider pages")


def provider_titles() -> str:
    """The built-in providers' titles as a phrase: "A, B and C"."""
    titles = [title(name) for name in providers()]
    return ", ".join(titles[:-1]) + " and " + titles[-1] if len(titles) > 1 else "".join(titles)


def on_config(config: Any, **kwargs: Any) -> Any:
    provider_nav(config["nav"])
    if config.get("site_description"):
        config["site_description"] = config["site_description"].replace(
            "{providers}", provider_titles())
    return config


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return render(markdown)
