"""Configuration against hostile values, as classes: a credential holding URL delimiters is
never split into a shorter key and a host, no configuration error quotes or keeps (in a frame
local on its traceback) any part of a credential, and no timeout that some wait downstream
cannot take is ever accepted."""

from __future__ import annotations

import re
import traceback
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smsgate
from smsgate import ConfigurationError
from smsgate.config import resolve

from .test_transport_secrets import frame_leaks

KEY = "Z7Q4K9-config-key"

# Pieces of a credential: distinctive (a capital, digits) so that a quoted piece is found.
_PIECE = st.integers(min_value=1000, max_value=99999).map(lambda n: f"Q{n}")
_DELIMITER = st.sampled_from(["@", "/", "?", "#", "@/", "/@", "?@", "@?", "&", "="])


@st.composite
def _credential(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(_PIECE, min_size=2, max_size=4))
    joints = draw(st.lists(_DELIMITER, min_size=len(pieces) - 1, max_size=len(pieces) - 1))
    text = pieces[0] + "".join(j + p for j, p in zip(joints, pieces[1:], strict=True))
    return text + draw(st.sampled_from(["", "@", "/", "?"]))


def _library_frames(error: BaseException) -> BaseException:
    """``error`` with the test's own frames (which hold the credential) cut off its traceback."""
    tb = error.__traceback__
    while tb is not None and "smsgate" not in tb.tb_frame.f_code.co_filename.rsplit("tests", 1)[-1]:
        tb = tb.tb_next
    return error.with_traceback(tb)


def _no_piece_shown(error: BaseException, credential: str) -> None:
    error = _library_frames(error)
    pieces = [p for p in re.split(r"[@/?#&=:]", credential) if len(p) >= 3]
    rendered = "".join(traceback.TracebackException.from_exception(
        error, capture_locals=True).format())
    for piece in pieces:
        assert piece not in str(error)
        assert piece not in rendered
    assert frame_leaks(error, tuple(pieces)) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(credential=_credential(), host=st.sampled_from(["", "127.0.0.1:8025", "corp.example"]),
       query=st.sampled_from(["", "?sender=Brand", "?timeout=5"]))
def test_a_credential_with_delimiters_is_never_split(credential: str, host: str,
                                                     query: str) -> None:
    url = f"gosms.ge://{credential}@{host}{query}"
    try:
        provider = smsgate.from_url(url)
    except ConfigurationError as error:
        _no_piece_shown(error, credential)
        return
    # Built only when the URL held the credential whole, as written before the last '@'.
    assert provider._credentials["api_key"].reveal() == credential  # type: ignore[attr-defined]
    assert provider.base_url == (f"https://{host}" if host else smsgate.GoSmsGe.default_base_url)


@settings(max_examples=100, deadline=None)
@given(client=_PIECE, token=_credential())
def test_a_token_with_delimiters_is_never_split(client: str, token: str) -> None:
    try:
        provider = smsgate.from_url(f"smsgist://{client}:{token}@?sender=Brand")
    except ConfigurationError as error:
        _no_piece_shown(error, token)
        return
    assert provider._credentials["token"].reveal() == token  # type: ignore[attr-defined]
    assert provider.base_url == smsgate.SmsGist.default_base_url


@pytest.mark.parametrize("url", [
    "gosms.ge://hunter2@corp.example/2024@",
    "gosms.ge://hunter2@corp.example/2024@?sender=Brand",
    "smsgist://client:p@ss/word@",
    "gosms.ge://ab@cd?ef@",
    "gosms.ge://k3y@x?sender=Brand&@",
    "gosms.ge://ab@cd/ef@gh@127.0.0.1",
])
@pytest.mark.parametrize("via", ["url", "toml", "env"])
def test_an_at_after_the_host_is_refused_with_the_hint(url: str, via: str,
                                                       tmp_path: Path) -> None:
    build: Callable[[], Any]
    if via == "url":
        build = lambda: smsgate.from_url(url)  # noqa: E731
    elif via == "toml":
        path = tmp_path / "smsgate.toml"
        path.write_text(f'url = "{url}"\n', encoding="utf-8")
        build = lambda: smsgate.from_config(path)  # noqa: E731
    else:
        build = lambda: smsgate.from_env({"SMSGATE_URL": url})  # noqa: E731
    with pytest.raises(ConfigurationError) as caught:
        build()
    assert "%40" in str(caught.value)
    for piece in ("hunter2", "2024", "ss/word", "word", "ef", "k3y", "gh"):
        assert f"'{piece}" not in str(caught.value)
    assert "corp.example" not in str(caught.value)


def test_an_encoded_at_in_the_credential_still_works() -> None:
    key = "hunter2@corp.example/2024"
    provider = smsgate.from_url(f"gosms.ge://{urllib.parse.quote(key, safe='')}@?sender=Brand")
    assert provider._credentials["api_key"].reveal() == key  # type: ignore[attr-defined]
    assert provider.base_url == smsgate.GoSmsGe.default_base_url


# -- no credential in the frames of a configuration error ----------------------------------

_LOCALS_CASES: dict[str, Callable[[], Any]] = {
    "from_url bad timeout": lambda: smsgate.from_url(f"gosms.ge://{KEY}@?timeout=abc"),
    "from_url unknown option": lambda: smsgate.from_url(f"gosms.ge://{KEY}@?sendr=Brand"),
    "from_url bad host": lambda: smsgate.from_url(f"gosms.ge://{KEY}@bad_host-/x"),
    "from_env typo": lambda: smsgate.from_env(
        {"SMSGATE_URL": f"smsoffice.ge://{KEY}@?sender=Brand&timout=3"}),
    "from_config bad base_url": lambda: smsgate.from_config(
        {"provider": "gosms.ge", "api_key": KEY, "base_url": "ftp://x"}),
    "from_config gateway": lambda: smsgate.from_config(
        {"providers": {"a": {"provider": "gosms.ge", "api_key": KEY, "timeout": -1}}}),
    "resolve": lambda: resolve(url=f"gosms.ge://{KEY}@?timeout=inf"),
    "GoSmsGe bad timeout": lambda: smsgate.GoSmsGe(KEY, timeout=-1),
    "GoSmsGe bad base_url": lambda: smsgate.GoSmsGe(KEY, base_url="ftp://x"),
    "GoSmsGe bad sender": lambda: smsgate.GoSmsGe(KEY, sender=""),
    "SmsOfficeGe bad session": lambda: smsgate.SmsOfficeGe(KEY, session=object()),  # type: ignore[arg-type]
    "GoSmsRo timeout=0": lambda: smsgate.GoSmsRo(KEY, timeout=0),
    "SmsGist token newline": lambda: smsgate.SmsGist("client", token=KEY + "\n"),
    "SmsGist bad timeout": lambda: smsgate.SmsGist("client", token=KEY, timeout=float("inf")),
}


@pytest.mark.parametrize("case", sorted(_LOCALS_CASES))
def test_no_credential_in_the_frames_of_a_configuration_error(case: str) -> None:
    with pytest.raises(smsgate.SmsGateError) as caught:
        _LOCALS_CASES[case]()
    error = _library_frames(caught.value)
    assert frame_leaks(error, (KEY,)) == []
    rendered = "".join(traceback.TracebackException.from_exception(
        error, capture_locals=True).format())  # a half-built provider's repr must not fail
    assert KEY not in rendered


def test_a_half_built_provider_has_a_repr() -> None:
    provider = object.__new__(smsgate.GoSmsGe)
    assert repr(provider) == "GoSmsGe(sender=None, base_url=None)"


# -- timeouts in configuration -------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "inf", "-inf", "nan", "1,inf", "inf,1", "0", "-1", "1e999", "1e400,1", "1,2,3", "", "1,",
    "100000", "1e-400",
])
def test_url_timeouts_that_no_wait_can_take_are_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="timeout") as caught:
        smsgate.from_url(f"gosms.ge://{KEY}@?timeout={value}")
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("value", ["inf", "nan", "[1, inf]", "[inf, 1]", "1e400", "86401",
                                   "-inf", "[0, 5]"])
def test_toml_timeouts_that_no_wait_can_take_are_refused(value: str, tmp_path: Path) -> None:
    path = tmp_path / "smsgate.toml"
    path.write_text(f'provider = "gosms.ge"\napi_key = "{KEY}"\ntimeout = {value}\n',
                    encoding="utf-8")
    with pytest.raises(ConfigurationError, match="timeout") as caught:
        smsgate.from_config(path)
    assert KEY not in str(caught.value)
    assert frame_leaks(_library_frames(caught.value), (KEY,)) == []


def test_create_keeps_no_credential_in_its_frames() -> None:
    """A constructor refusing its options through ``smsgate.create`` leaves no frame holding the
    key (error trackers record frame locals)."""
    import traceback

    from smsgate.registry import create

    def build() -> None:  # the key exists only inside smsgate's frames, never as a local here
        create("gosms.ge", api_key="Create-" + "Canary-7q7q", timeout=-1)

    with pytest.raises(smsgate.ConfigurationError) as caught:
        build()
    text = "".join(traceback.TracebackException.from_exception(
        caught.value, capture_locals=True).format())
    assert "Create-Canary-7q7q" not in text
