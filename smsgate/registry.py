"""Provider registry: names to classes, imported lazily, extensible through entry points.

Third-party packages register a provider in their ``pyproject.toml``::

    [project.entry-points."smsgate.providers"]
    "acme" = "smsgate_acme:AcmeProvider"
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ._unexpected import without_locals
from .errors import ConfigurationError

if TYPE_CHECKING:
    import importlib.metadata

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_providers",
    "create",
    "provider_class",
    "register_provider",
]

ENTRY_POINT_GROUP: Final = "smsgate.providers"

# Built-in providers as import paths, so that `import smsgate` loads none of them (the
# package's own names for them, smsgate.GoSmsGe and the rest, are lazy too): an adapter's
# module is imported the first time its class is asked for (tests/test_lazy_import.py runs
# this in a fresh interpreter).
#
# This is the one list of built-in providers: one line each, naming the adapter class and its
# sandbox emulator (paths relative to the smsgate package). The command line, the
# configuration, the sandbox (its servers, ports, units, callbacks), the demo and the fault
# matrix all derive their lists from it and from the classes' declarations. The sandbox
# gives its providers ports in this order, so a new provider goes after the last emulated one.
class _Builtin(NamedTuple):
    adapter: str
    emulator: str | None = None


_BUILTIN: Final[dict[str, _Builtin]] = {
    "gosms.ge": _Builtin(".providers.gosms_ge:GoSmsGe", ".sandbox._gosms_ge:EMULATOR"),
    "smsoffice.ge": _Builtin(".providers.smsoffice_ge:SmsOfficeGe",
                             ".sandbox._smsoffice_ge:EMULATOR"),
    "gosms.ro": _Builtin(".providers.gosms_ro:GoSmsRo", ".sandbox._gosms_ro:EMULATOR"),
    "smsgist": _Builtin(".providers.smsgist:SmsGist", ".sandbox._smsgist:EMULATOR"),
    "memory": _Builtin(".testing:MemoryProvider"),
}


def _absolute(path: str) -> str:
    """A path of the list above, relative to the smsgate package when it starts with a dot."""
    return __package__ + path if path.startswith(".") else path


def _emulator_paths() -> dict[str, str]:
    """The sandbox emulator of each built-in provider that has one, in the sandbox's order."""
    return {name: _absolute(entry.emulator)
            for name, entry in _BUILTIN.items() if entry.emulator}


_lock = threading.Lock()
_registered: dict[str, str | type[Any]] = {}


def register_provider(name: str, target: str | type[Any], *, replace: bool = False) -> None:
    """Register a provider class (or a ``"module:Class"`` path) under ``name`` at run time.

    A name already taken (built in, by an installed package's entry point, or by an earlier
    call) is refused unless ``replace=True``: a plug-in that silently took ``"gosms.ge"``
    would send every configured message through code nobody chose.

    Raises:
        ConfigurationError: ``name`` is empty or already taken and ``replace`` is false.
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError("a provider name must be a non-empty string")
    with _lock:
        taken = _taken_by(name)
        if taken is not None and not replace:
            raise ConfigurationError(
                f"provider {name!r} is already registered ({taken}); pass replace=True to "
                "replace it"
            )
        _registered[name] = target


def _taken_by(name: str) -> str | None:
    """Who holds ``name`` already (``None``: nobody). Called with the lock held."""
    if name in _registered:
        return "at run time"
    if name in _BUILTIN:
        return "built in"
    if name in _entry_points():
        return "by an installed package"
    return None


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    # importlib.metadata is imported here, not at the top: scanning installed distributions
    # is only needed to list providers or to find one that is not built in.
    import importlib.metadata

    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_providers() -> list[str]:
    """Every registered provider name, sorted: built-in, entry points and run-time ones."""
    with _lock:
        names = set(_BUILTIN) | set(_registered)
    return sorted(names | set(_entry_points()))


def _load(path: str, name: str, hint: str | None = None) -> type[Any]:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or module_name
        install = f"; install it with: pip install {hint!r}" if hint else ""
        raise ConfigurationError(
            f"provider {name!r} needs {missing!r}, which is not installed{install}"
        ) from None
    try:
        return getattr(module, attribute)  # type: ignore[no-any-return]
    except AttributeError:
        raise ConfigurationError(f"provider {name!r}: {path!r} does not exist") from None


def provider_class(name: str) -> type[Any]:
    """The class registered under ``name``.

    Raises:
        ConfigurationError: unknown name (the message lists the known ones), or the
            provider's package or extra is not installed (the message says what to install).
    """
    with _lock:
        target = _registered.get(name)
    if isinstance(target, type):
        return target
    if isinstance(target, str):
        return _load(target, name)
    if name in _BUILTIN:
        return _load(_absolute(_BUILTIN[name].adapter), name)
    entry_point = _entry_points().get(name)
    if entry_point is not None:
        dist = getattr(entry_point, "dist", None)
        hint = getattr(dist, "name", None)
        return _load(entry_point.value, name, hint)
    known = ", ".join(available_providers())
    raise ConfigurationError(f"unknown provider {name!r}; known providers: {known}")


@without_locals
def create(name: str, **options: Any) -> Any:
    """Build the provider registered under ``name`` with its constructor's ``options``.

    >>> create("memory", sender="MyBrand").name
    'memory'
    """
    cls = provider_class(name)
    factory: Callable[..., Any] = cls
    try:
        return factory(**options)
    except TypeError as exc:
        # Only argument names appear in these messages, never their values.
        raise ConfigurationError(f"provider {name!r}: {exc}") from None
