"""Configuration: build a provider or a Gateway from a dict, a TOML file, a URL or the environment.

One provider, as a URL (fit for an environment variable)::

    gosms.ge://API_KEY@?sender=MyBrand
    smsoffice.ge://API_KEY@?sender=MyShop&timeout=10
    gosms.ro://API_KEY@
    smsgist://CLIENT_ID:TOKEN@?sender=MyBrand
    gosms.ge://sandbox-gosms-ge-key@127.0.0.1:8025/api?insecure_http=1&sender=Demo

One provider, or a gateway, as TOML (``${VAR}`` and ``${VAR:-default}`` read the
environment, so secrets stay out of files)::

    [providers.gosms]
    provider = "gosms.ge"
    api_key = "${GOSMS_API_KEY}"
    sender = "MyBrand"

    [providers.office]
    url = "smsoffice.ge://${SMSOFFICE_API_KEY}@?sender=MyBrand"

    [gateway]
    order = ["gosms", "office"]
    routes = { GH = ["gist"] }
    deadline = 15
    retry = { attempts = 3, backoff = 0.2 }
    breaker = { failure_threshold = 5, reset_timeout = 30 }

A file or mapping with a top-level ``provider`` (or ``url``) key describes one provider.

Where the configuration comes from is decided in one place, :func:`resolve`, which both
:func:`from_env` and the ``smsgate`` command call: ``--config FILE``, ``--url URL`` (command
line only), then ``SMSGATE_CONFIG``, ``SMSGATE_URL``, then ``./smsgate.toml``; the first one set
wins. Every error names the source it came from (``SMSGATE_URL: ...``, ``smsgate.toml: ...``)
and never repeats a URL: URLs carry credentials.
"""

from __future__ import annotations

import difflib
import enum
import inspect
import math
import os
import re
import sys
import typing
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs
import cattrs

from ._protocol import SmsProvider
from ._secrets import get_logger
from ._unexpected import without_locals
from ._urls import (
    check_base_url,
    check_hostport,
    check_path,
    check_percent_encoding,
    has_control,
    split_userinfo,
)
from .errors import ConfigurationError, SmsGateError
from .gateway import BreakerPolicy, Gateway, RetryPolicy
from .registry import available_providers, provider_class

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["from_config", "from_env", "from_url", "resolve"]

_log = get_logger("smsgate.config")

_VARIABLE: Final = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
#: Options every provider constructor takes besides its credentials.
_COMMON: Final = frozenset({"sender", "base_url", "timeout", "session"})
#: A registry name as it may start a provider URL (``gosms.ge``, ``smsgist``, a plug-in's).
_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9.+_-]*")
_TRUE: Final = frozenset({"1", "true", "yes"})
_FALSE: Final = frozenset({"0", "false", "no", ""})
#: An option name that may be repeated in an error: lower-case letters and underscores, as
#: every constructor keyword is. Anything else in an option's place (digits, capitals, dashes)
#: could be a misplaced credential, so it is not shown.
_SHOWABLE: Final = re.compile(r"[a-z_]{1,24}")
#: The file read when nothing else is configured, in the current directory.
_LOCAL_FILE: Final = "smsgate.toml"


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    """``" (did you mean 'sender'?)"`` for the choices close to ``word`` (any case), or ``""``."""
    if not isinstance(word, str) or not word:
        return ""
    options = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(options), n=2, cutoff=0.7)
    if not close:
        return ""
    return f" (did you mean {' or '.join(repr(options[c]) for c in close)}?)"


def _check_keys(table: Mapping[str, Any], known: Iterable[str], path: str) -> None:
    """Refuse keys of ``table`` not in ``known``, naming each with its closest known key."""
    allowed = list(known)
    for key in table:
        if key not in allowed:
            raise ConfigurationError(
                f"{path}.{key}: unknown key{_did_you_mean(key, allowed)}; known keys: "
                f"{', '.join(sorted(allowed))}"
            )


def _table_only(accepted: set[str]) -> tuple[str, ...]:
    """Keys a table may hold besides the constructor's keywords."""
    return ("insecure_http",) if "base_url" in accepted else ()


def _provider_class(name: str) -> type[Any]:
    """The registered class, or an error naming the close registry names."""
    known = available_providers()
    if name not in known:
        raise ConfigurationError(
            f"unknown provider {name!r}{_did_you_mean(name, known)}; known providers: "
            f"{', '.join(known)}"
        )
    return provider_class(name)


@attrs.frozen
class _GatewayConfig:
    order: tuple[str, ...] = ()
    routes: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    retry: RetryPolicy | None = RetryPolicy()
    breaker: BreakerPolicy | None = BreakerPolicy()
    failover_on_unknown: bool = False
    deadline: float | None = None
    region: str | None = None


# A private converter (never cattrs' global one) that refuses unknown keys.
_CONVERTER: Final = cattrs.Converter(forbid_extra_keys=True)


def _interpolate(value: Any, path: str) -> Any:
    """Replace ``${VAR}`` in every string, recursively; name the path of a missing variable."""
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name, default = match["name"], match["default"]
            found = os.environ.get(name)
            if found is not None:
                return found
            if default is not None:
                return default
            raise ConfigurationError(f"{path}: environment variable {name} is not set")

        return _VARIABLE.sub(lookup, value)
    if isinstance(value, Mapping):
        return {k: _interpolate(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _load(source: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    problem = None
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        problem = "configuration file not found"
    except IsADirectoryError:
        problem = "is a directory, not a TOML file"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
    except UnicodeDecodeError:
        problem = "not valid TOML: the file is not UTF-8 text"
    except tomllib.TOMLDecodeError as exc:
        problem = f"not valid TOML: {exc}"
    raise ConfigurationError(problem)


@without_locals
def from_config(source: Mapping[str, Any] | str | os.PathLike[str]) -> SmsProvider:
    """A provider or a :class:`~smsgate.Gateway` from a mapping or a TOML file.

    Raises:
        ConfigurationError: naming the exact key path that is wrong (after the file's path,
            for a file).
    """
    if isinstance(source, Mapping):
        return _from_config(source)
    return _labelled(str(source), lambda: _from_config(source))


_T = TypeVar("_T")


def _labelled(label: str, build: Callable[[], _T]) -> _T:
    """``build()``, its :class:`ConfigurationError` prefixed with where the setting came from."""
    try:
        return build()
    except ConfigurationError as exc:
        problem = str(exc)
    # Raised outside the except block: nothing chained to it (the original holds no more).
    raise ConfigurationError(f"{label}: {problem}")


def _from_config(source: Mapping[str, Any] | str | os.PathLike[str]) -> SmsProvider:
    data = _interpolate(_load(source), "")
    if "provider" in data or "url" in data:
        return _provider(data, "")
    unknown = sorted(str(key) for key in set(data) - {"providers", "gateway"})
    if unknown:
        hints = "".join(
            _did_you_mean(key, ("provider", "url", "providers", "gateway")) for key in unknown
        )
        raise ConfigurationError(
            f"unknown top-level key(s): {', '.join(unknown)}{hints}; a gateway has "
            "[providers.NAME] tables and a [gateway] table, one provider a top-level "
            "'provider' (or 'url')"
        )
    providers = data.get("providers")
    if not isinstance(providers, Mapping) or not providers:
        raise ConfigurationError(
            "configuration needs a top-level 'provider' (or 'url'), or a [providers] table"
        )
    built = {name: _provider(entry, f"providers.{name}") for name, entry in providers.items()}
    settings = data.get("gateway", {})
    if not isinstance(settings, Mapping):
        raise ConfigurationError("gateway: expected a table")
    # Unknown keys before types: a misspelt key is named with the one meant.
    _check_keys(settings, attrs.fields_dict(_GatewayConfig), "gateway")
    for policy, kind in (("retry", RetryPolicy), ("breaker", BreakerPolicy)):
        if isinstance(settings.get(policy), Mapping):
            _check_keys(settings[policy], attrs.fields_dict(kind), f"gateway.{policy}")
    # A string would be read as a list of one-letter names: say what is expected instead.
    if isinstance(settings.get("order"), str):
        raise ConfigurationError("gateway.order: expected a list of provider names")
    routes = settings.get("routes")
    if isinstance(routes, Mapping):
        for country, names in routes.items():
            if isinstance(names, str):
                raise ConfigurationError(
                    f"gateway.routes.{country}: expected a list of provider names"
                )
    messages: list[str] = []
    try:
        gateway = _CONVERTER.structure(dict(settings), _GatewayConfig)
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, path="gateway")
    except SmsGateError as exc:  # a policy's own check
        messages = [f"gateway: {exc}"]
    if messages:
        raise ConfigurationError("; ".join(messages))
    if not settings and len(built) == 1:
        return next(iter(built.values()))

    def pick(names: tuple[str, ...], path: str) -> list[SmsProvider]:
        for name in names:
            if name not in built:
                raise ConfigurationError(
                    f"{path}: no provider named {name!r}; defined: {', '.join(built)}"
                )
        return [built[name] for name in names]

    order = gateway.order if gateway.order or gateway.routes else tuple(built)
    try:
        return Gateway(
            pick(order, "gateway.order"),
            routes={k: pick(v, f"gateway.routes.{k}") for k, v in gateway.routes.items()},
            retry=gateway.retry,
            breaker=gateway.breaker,
            failover_on_unknown=gateway.failover_on_unknown,
            deadline=gateway.deadline,
            region=gateway.region,
        )
    except ConfigurationError as exc:
        if str(exc).startswith("gateway"):
            raise
        problem = str(exc)
    raise ConfigurationError(f"gateway: {problem}")


def _provider(entry: Any, path: str) -> SmsProvider:
    where = f"{path}: " if path else ""
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where}expected a table")
    entry = dict(entry)
    if "url" in entry:
        url = entry.pop("url")
        if entry:
            raise ConfigurationError(
                f"{where}'url' cannot be combined with {', '.join(sorted(entry))}"
            )
        try:
            return from_url(str(url))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}{exc}") from None
    name = entry.pop("provider", None)
    if not isinstance(name, str):
        raise ConfigurationError(f"{where}'provider' must name a provider")
    key = f"{path}." if path else ""
    # Unknown keys first: a misspelt insecure_http must be named as such, not as plain http.
    _checked_class(name, {k: v for k, v in entry.items() if k != "insecure_http"}, path)
    insecure = _flag(entry.pop("insecure_http", False), f"{key}insecure_http")
    if "base_url" in entry:
        base_url = check_base_url(entry["base_url"], path or name)
        if base_url.lower().startswith("http://") and not insecure:
            raise ConfigurationError(
                f"{key}base_url: plain http needs insecure_http = true (the message and the "
                "credential would cross the network unencrypted)"
            )
    elif insecure:
        raise ConfigurationError(f"{key}insecure_http needs a base_url")
    return _build(name, entry, path)


def _checked_class(name: str, options: Mapping[str, Any], path: str) -> type[Any]:
    """The provider class, once every key of ``options`` is one its constructor takes."""
    where = f"{path}." if path else ""
    cls = _labelled(path, lambda: _provider_class(name)) if path else _provider_class(name)
    accepted = set(inspect.signature(cls).parameters)
    for key in options:
        if key not in accepted:
            takes = sorted([*(accepted - {"session"}), *_table_only(accepted)])
            raise ConfigurationError(
                f"{where}{key}: {name} takes no option {key!r}"
                f"{_did_you_mean(key, takes)}; it takes {', '.join(takes)}"
            )
    return cls


def _from_text(cls: type[Any], options: dict[str, Any], where: str) -> None:
    """Read text values (a URL's, an environment variable's) as the constructor's types say:
    an enum member by its value, a set as comma-separated items. Without this, ``"bulk"``
    would become the set of its letters and ``"sent"`` a string where a ``Status`` belongs."""
    try:
        hints = _constructor_hints(cls)
    except Exception:  # a plug-in's annotations that cannot be resolved: take values as given
        return
    for key, value in options.items():
        hint = hints.get(key)
        if not isinstance(value, str) or hint is None:
            continue
        kinds = typing.get_args(hint) or (hint,)
        enum_type = next((k for k in kinds if isinstance(k, type) and issubclass(k, enum.Enum)),
                         None)
        if enum_type is not None:
            values = [str(member.value) for member in enum_type]
            if value.strip().lower() not in values:
                # The value is not repeated: in a URL it sits next to the credential.
                raise ConfigurationError(
                    f"{where}{key}: not one of {', '.join(values)}"
                    f"{_did_you_mean(value.strip(), values)}"
                )
            options[key] = enum_type(value.strip().lower())
        elif any(typing.get_origin(k) is frozenset for k in kinds):
            options[key] = frozenset(item.strip() for item in value.split(",") if item.strip())


def _build(name: str, options: dict[str, Any], path: str) -> SmsProvider:
    cls = _checked_class(name, options, path)
    _from_text(cls, options, f"{path}." if path else f"{name}: ")
    if isinstance(options.get("timeout"), list):
        options["timeout"] = tuple(options["timeout"])
    problem = None
    try:
        provider: SmsProvider = cls(**options)
    except (SmsGateError, TypeError) as exc:
        problem = str(exc)
    except Exception as exc:  # a plug-in's constructor meeting a value of the wrong type
        problem = f"the provider could not be built ({type(exc).__name__}); check the types"
    if problem is not None:  # raised outside the except block: nothing chained to it
        raise ConfigurationError(f"{path or name}: {problem}")
    return provider


@without_locals
def from_url(url: str) -> SmsProvider:
    """A provider from ``NAME://CREDENTIAL@[HOST[:PORT][/PATH]][?OPTION=VALUE&...]``.

    ``CREDENTIAL`` is the percent-encoded API key (SMSGist: ``CLIENT_ID:TOKEN``). No host means
    the provider's production URL; a host means ``https://HOST[:PORT]/PATH`` (``http`` with
    ``insecure_http=1``). Other options are constructor keywords (``sender=MyBrand``,
    ``timeout=10`` or ``timeout=5,30``).

    Raises:
        ConfigurationError: for every malformed part (host, port, path, percent-escapes, an
            unencoded ``@``, ``/``, ``?`` or ``#`` in the credential), naming the part and
            never showing the credential.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError("a provider URL looks like NAME://CREDENTIAL@[HOST]")
    name, rest = url.split("://", 1)
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            "a provider URL starts with a provider name (gosms.ge://, smsgist://...)"
        )
    cls = _provider_class(name)  # an unknown name fails here, naming the close ones
    if has_control(rest):
        raise ConfigurationError(
            f"{name}: the URL holds a space or a control character; percent-encode it in the "
            "credential (a space is %20) and use '+' or %20 in option values"
        )
    accepted = set(inspect.signature(cls).parameters)
    # Which part of the URL carries which constructor credential is the class's declaration
    # (``url_credentials``, e.g. SMSGist's ``{"user": "client_id", "password": "token"}``):
    # nothing here guesses it from the constructor's parameter names.
    parts = _url_credentials(cls, name)
    credential_names = set(parts.values()) | _not_text(cls, accepted)
    # The authority ends at the first '/', '?' or '#'. A credential with one of those
    # characters unencoded cuts the URL short: say so instead of misreading it.
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    tail = rest[len(authority):]
    if "@" in tail:
        # An '@' after the host: the credential held an unencoded '@', '/', '?' or '#' and
        # the URL was cut in the wrong place ("KEY@corp.example/2024@" would otherwise be
        # read as the key "KEY" and the host corp.example). Never split: refuse, without
        # quoting any part (each could be a piece of the credential). A literal '@' in an
        # option value is written %40.
        raise ConfigurationError(
            f"{name}: the credential holds an unencoded '@', '/', '?' or '#' (an '@' follows "
            "the host); percent-encode it (%2F, %3F, %23, %40)"
        )
    if "@" not in authority:
        if parts:
            raise ConfigurationError(
                f"{name}: the URL needs credentials before an '@' (NAME://CREDENTIAL@HOST)"
            )
        # A provider without credentials (memory://?region=GE): the '@' is optional.
        authority = "@" + authority
    if authority.count("@") > 1:
        raise ConfigurationError(
            f"{name}: the credential holds an unencoded '@'; percent-encode it as %40"
        )
    if "#" in tail:
        raise ConfigurationError(f"{name}: a provider URL has no '#' fragment")
    userinfo, _, hostport = authority.partition("@")
    path, _, query = tail.partition("?")
    check_percent_encoding(userinfo, f"{name}: the credential")
    check_percent_encoding(query, f"{name}: the options")
    user, password = split_userinfo(userinfo)
    if hostport:
        check_hostport(hostport, f"{name}: the host")
    if path:
        check_path(path, f"{name}: the path")

    options: dict[str, Any] = {}
    for key, value in _query_options(query, name):
        if key in options:
            said = repr(key) if _SHOWABLE.fullmatch(key) else "an option"
            raise ConfigurationError(f"{name}: {said} given twice in the provider URL")
        options[key] = value
    for key in options:
        if key in credential_names:
            raise ConfigurationError(f"{name}: the credential goes before the '@', not in ?{key}=")
        if key in ("base_url", "session"):
            raise ConfigurationError(
                f"{name}: {key} is not a URL option; give the host in the URL itself "
                "(NAME://CREDENTIAL@HOST[:PORT]/PATH, with insecure_http=1 for plain http)"
            )
    insecure = _flag(options.pop("insecure_http", "0"), f"{name}: insecure_http")
    if "timeout" in options:
        options["timeout"] = _timeout(options["timeout"])
    if not parts:
        if user:
            raise ConfigurationError(f"{name} takes no credential")
    elif password is not None and "password" not in parts:
        raise ConfigurationError(
            f"{name}: the credential is one "
            f"{'API key' if parts['user'] == 'api_key' else parts['user']} (no ':'; "
            "percent-encode one as %3A)"
        )
    else:
        options[parts["user"]] = user
        if password is not None:
            options[parts["password"]] = password
    if hostport and "base_url" not in accepted:
        raise ConfigurationError(f"{name} takes no host: write {name}://@?OPTION=VALUE")
    if hostport:
        scheme_used = "http" if insecure else "https"
        options["base_url"] = f"{scheme_used}://{hostport}{path}".rstrip("/")
    elif insecure or path:
        raise ConfigurationError(f"{name}: a path or insecure_http needs a host")
    known = sorted(accepted - credential_names - {"session", "base_url"})
    if "base_url" in accepted:
        known.append("insecure_http")
    for key in options:
        if key not in accepted:
            # The name is repeated only when it cannot be a credential put in the wrong place.
            said = repr(key) if _SHOWABLE.fullmatch(key) else "(not shown: not an option name)"
            raise ConfigurationError(
                f"{name}: unknown URL option {said}{_did_you_mean(key, known)}; options: "
                f"{', '.join(sorted(known))}"
            )
    return _build(name, options, "")


#: The URL parts a credential can travel in (``USER:PASSWORD@``).
_URL_PARTS: Final = frozenset({"user", "password"})


def _url_credentials(cls: type[Any], name: str) -> Mapping[str, str]:
    """The class's ``url_credentials`` declaration (none: the URL carries no credential),
    checked: the user part is the first credential, the password part an optional second."""
    parts = getattr(cls, "url_credentials", None) or {}
    if (
        not isinstance(parts, Mapping)
        or not set(parts) <= _URL_PARTS
        or (parts and "user" not in parts)
        or not all(isinstance(v, str) and v for v in parts.values())
    ):
        raise ConfigurationError(
            f"{name}: url_credentials must map 'user' (and optionally 'password') to "
            "constructor keywords"
        )
    return parts


def _constructor_hints(cls: type[Any]) -> dict[str, Any]:
    """The constructor's parameter annotations, resolved one by one.

    ``typing.get_type_hints`` gives up on the whole signature when one annotation names a
    type that is imported only for type checking (an adapter's ``requests.Session``, which
    smsgate does not load at run time); such a parameter is left out and the others are
    still read.
    """
    function = cls.__init__
    try:
        return typing.get_type_hints(function)
    except Exception:  # one unresolvable annotation: resolve the rest one by one
        hints: dict[str, Any] = {}
    namespace = dict(getattr(function, "__globals__", {}))
    for key, annotation in getattr(function, "__annotations__", {}).items():
        if not isinstance(annotation, str):
            hints[key] = annotation
            continue
        resolved = _resolve(annotation, namespace)
        if resolved is not _UNRESOLVED:
            hints[key] = resolved
    return hints


_UNRESOLVED: Final = object()


def _resolve(annotation: str, namespace: dict[str, Any]) -> Any:
    """A string annotation evaluated as ``typing.get_type_hints`` does (the class's own
    source text, never user input), or :data:`_UNRESOLVED`."""
    try:
        return eval(annotation, namespace)  # noqa: S307 - an annotation of smsgate's code
    except Exception:  # names a type imported only for type checking
        return _UNRESOLVED


def _not_text(cls: type[Any], accepted: set[str]) -> set[str]:
    """Constructor keywords that take a callable (a token factory): a URL cannot give one, and
    such a keyword is as secret as a credential, so the URL refuses it in the options."""
    try:
        hints = _constructor_hints(cls)
    except Exception:  # a plug-in's annotations that cannot be resolved
        return set()
    found = set()
    for key in accepted:
        kinds = typing.get_args(hints.get(key)) or (hints.get(key),)
        if any(typing.get_origin(k) is Callable or k is Callable for k in kinds):
            found.add(key)
    return found


def _query_options(query: str, name: str) -> list[tuple[str, str]]:
    failed = False
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        failed = True
    if failed:
        raise ConfigurationError(f"{name}: the options' percent-escapes are not UTF-8 text")
    return pairs


def _flag(value: object, where: str) -> bool:
    """``insecure_http``: a bool, or (from a URL or an environment variable) its text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigurationError(f"{where} must be true or false (1/0, yes/no)")


def _timeout(text: str) -> float | tuple[float, float]:
    """``timeout=10`` or ``timeout=5,30``: finite positive seconds (the constructor bounds
    them further). The value is not repeated in the error: it sits in the URL next to the
    credential."""
    values: list[float] = []
    for part in text.split(",", 2):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            values = []
            break
        values.append(value)
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return (values[0], values[1])
    raise ConfigurationError(
        "timeout must be one or two finite positive numbers of seconds ('10' or '5,30')"
    )


@without_locals
def from_env(environ: Mapping[str, str] | None = None) -> SmsProvider:
    """A provider or gateway from ``SMSGATE_CONFIG``, ``SMSGATE_URL`` or ``./smsgate.toml``.

    The same order as the ``smsgate`` command without its flags: see :func:`resolve`.
    ``environ`` replaces ``os.environ`` (for tests); ``./smsgate.toml`` is looked up in the
    current directory.

    Raises:
        ConfigurationError: nothing is configured, or the first source set is wrong (the
            message starts with that source's name).
    """
    return resolve(environ=environ)


@without_locals
def resolve(
    *,
    config: str | os.PathLike[str] | None = None,
    url: str | None = None,
    environ: Mapping[str, str] | None = None,
    command_line: bool = False,
) -> SmsProvider:
    """The provider the first configuration source set describes: the one resolution order.

    1. ``config``: a TOML file (the command line's ``--config FILE``);
    2. ``url``: a provider URL (the command line's ``--url URL``);
    3. ``SMSGATE_CONFIG``: the path of a TOML file;
    4. ``SMSGATE_URL``: a provider URL;
    5. ``./smsgate.toml`` in the current directory.

    The first one set wins and the others are not read: a broken later source cannot break a
    working earlier one, and an earlier one is never silently merged with a later one. At each
    level a file comes before a URL (a file can describe a whole gateway). An empty
    environment variable counts as unset.

    Every :class:`ConfigurationError` starts with its source (``--url: ...``,
    ``--config FILE: ...``, ``SMSGATE_CONFIG (FILE): ...``, ``SMSGATE_URL: ...``,
    ``smsgate.toml: ...``) and never repeats a URL, which carries credentials.

    Args:
        command_line: word the "nothing configured" error for the ``smsgate`` command.
    """
    env = os.environ if environ is None else environ
    sources: list[tuple[str, Callable[[], SmsProvider]]] = []
    if config is not None and str(config):
        sources.append((f"--config {config}", lambda: _from_config(config)))
    if url:
        sources.append(("--url", lambda: from_url(url)))
    if env.get("SMSGATE_CONFIG"):
        path = env["SMSGATE_CONFIG"]
        sources.append((f"SMSGATE_CONFIG ({path})", lambda: _from_config(path)))
    if env.get("SMSGATE_URL"):
        sources.append(("SMSGATE_URL", lambda: from_url(env["SMSGATE_URL"])))
    if Path(_LOCAL_FILE).is_file():
        sources.append((_LOCAL_FILE, lambda: _from_config(_LOCAL_FILE)))
    if not sources:
        flags = "use --config FILE or --url URL, " if command_line else ""
        raise ConfigurationError(
            f"no provider configured: {flags}set SMSGATE_CONFIG (a TOML file) or SMSGATE_URL "
            f"(a provider URL), or write ./{_LOCAL_FILE}"
            + (" (try `smsgate demo` to see one working)" if command_line else "")
        )
    label, build = sources[0]
    _log.debug("configuration from %s", label.split(" ", 1)[0])
    return _labelled(label, build)
