"""Strict reading of the URLs smsgate is configured with: base URLs, hosts and ports.

A malformed URL must fail when the provider is built, with a :class:`ConfigurationError`
that names the problem, not at the first send (as a connection error that could be mistaken
for the provider being down). Messages name the part that is wrong, never its value: a
misplaced credential could be that value.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Final

from .errors import ConfigurationError

__all__ = [
    "check_base_url",
    "check_hostport",
    "check_path",
    "check_percent_encoding",
    "has_control",
    "split_userinfo",
]

# One DNS label: letters, digits, inner hyphens (underscores too: container and service names
# use them, and the HTTP stack accepts them).
_LABEL: Final = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
# RFC 3986 path characters: unreserved, sub-delims, ':', '@', '/', and percent-escapes.
_PATH: Final = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def has_control(text: str) -> bool:
    """Whether ``text`` holds whitespace or a control character (never valid in a URL)."""
    return any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def check_percent_encoding(text: str, where: str) -> None:
    """Refuse a ``%`` not followed by two hex digits (``%zz``, a trailing ``%4``)."""
    if _BAD_ESCAPE.search(text):
        raise ConfigurationError(
            f"{where} has a '%' that is not a percent-escape (write a literal '%' as %25)"
        )


def _is_ip(text: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    # Errors are raised by the callers, outside any except block: an address parser's error
    # repeats the text it was given, and a chained context would carry it along.
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _check_host(host: str, where: str) -> None:
    if host.startswith("["):
        if not host.endswith("]"):
            raise ConfigurationError(f"{where}: an IPv6 address needs its closing ']'")
        if not _is_ip(host[1:-1], ipaddress.IPv6Address):
            raise ConfigurationError(f"{where}: not a valid IPv6 address in [brackets]")
        return
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ConfigurationError(
            f"{where}: not a valid host name (letters, digits, '-' and '.'; an IPv6 address "
            "goes in [brackets])"
        )
    if all(label.isdigit() for label in labels) and not _is_ip(name, ipaddress.IPv4Address):
        raise ConfigurationError(f"{where}: not a valid IPv4 address")


def check_hostport(hostport: str, where: str) -> None:
    """Validate ``HOST[:PORT]``: a host name, an IPv4 address or a bracketed IPv6 address,
    and a port of 1-65535."""
    if hostport.startswith("["):
        host, bracket, after = hostport.partition("]")
        host += bracket
        if after and not after.startswith(":"):
            raise ConfigurationError(f"{where}: unexpected text after the IPv6 address")
        port = after[1:] if after else None
    elif hostport.count(":") > 1:
        raise ConfigurationError(
            f"{where}: an IPv6 address goes in brackets ([2001:db8::1]:8443)"
        )
    else:
        host, colon, port_text = hostport.partition(":")
        port = port_text if colon else None
    if not host:
        if port is None:
            raise ConfigurationError(f"{where}: no host given")
        raise ConfigurationError(f"{where}: a port needs a host before it")
    _check_host(host, where)
    if port is not None:
        if not port.isascii() or not port.isdigit():
            raise ConfigurationError(f"{where}: the port must be a number")
        if not 1 <= int(port) <= 65535:
            raise ConfigurationError(f"{where}: the port must be between 1 and 65535")


def check_path(path: str, where: str) -> None:
    """A URL path of RFC 3986 characters (anything else percent-encoded)."""
    if not _PATH.fullmatch(path):
        raise ConfigurationError(
            f"{where}: the path has characters a URL cannot hold unencoded (percent-encode them)"
        )
    check_percent_encoding(path, where)


def check_base_url(url: object, provider: str) -> str:
    """``url`` if it is a well-formed ``http(s)://HOST[:PORT][/PATH]``; else a
    :class:`ConfigurationError` naming the problem (not the URL).

    No user name or password (the HTTP layer logs base URLs), no query string or fragment
    (paths are appended to it).
    """
    where = f"{provider}: base_url"
    if not isinstance(url, str):
        raise ConfigurationError(f"{where} must be a string, not {type(url).__name__}")
    if has_control(url):
        raise ConfigurationError(f"{where} holds a space or a control character")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ConfigurationError(f"{where} must be an http(s) URL (https://HOST[:PORT][/PATH])")
    authority, slash, path = rest.partition("/")
    if "?" in authority or "#" in authority or "?" in path or "#" in path:
        raise ConfigurationError(f"{where} cannot have a query string or a fragment")
    if "@" in authority:
        raise ConfigurationError(
            f"{where} cannot carry a user name or password; give credentials as arguments"
        )
    check_hostport(authority, where)
    check_path(slash + path, where)
    return url


def split_userinfo(userinfo: str) -> tuple[str, str | None]:
    """``USER[:PASSWORD]`` percent-decoded as UTF-8 (``None``: no password given)."""
    user, colon, password = userinfo.partition(":")
    try:
        decoded_user = urllib.parse.unquote(user, errors="strict")
        decoded_password = urllib.parse.unquote(password, errors="strict") if colon else None
    except UnicodeDecodeError:
        failed = True
    else:
        failed = False
    if failed:  # raised outside the except block: the decode error holds the credential
        raise ConfigurationError("the credential's percent-escapes are not UTF-8 text")
    return decoded_user, decoded_password
