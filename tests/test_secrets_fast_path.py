"""The scrubbing shortcut never calls a text clean that the full scrub would change.

Issue 22: :func:`scrub` and :func:`scrub_bytes` first ask :func:`_secrets._clean` whether an
ASCII text without ``\\``, ``&`` or ``%`` holds any registered credential in a form the full
scrub knows (a few substring searches), and only scrub in full when it may. The tests generate
texts holding the registered credentials in every form the full scrub finds (as they are, in
any letter case, JSON ``\\u`` and ``\\/`` escapes, HTML references, percent-encoding of all or
some characters in either case, ``+`` for spaces, nested encodings, base64 at every alignment,
cut or altered by one character) among ASCII and non-ASCII noise, and compare the shortcut
with the full scrub: 0 disagreements.
"""

from __future__ import annotations

import base64
import html
import random
import urllib.parse

from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate import _secrets
from smsgate._secrets import Secret, _clean, _scrub_bytes_full, _scrub_full, scrub, scrub_bytes

CREDENTIALS = [
    "CANARY/fast+path=Zq9-0042",  # '/', '+', '=' as base64 keys have
    "fp-short",  # 8 characters: the shortest searched for in every form
    "Fp7x",  # 4-7 characters: only as it is
    "fast path key 7",  # spaces: '+' in a form body
    "ключ-быстрый-путь-9",  # not ASCII
    "\u212aelvin-fast-path",  # KELVIN SIGN: lower case is ASCII "k"
]
_KEEP = [Secret(value) for value in CREDENTIALS]  # registered for the whole process


def _forms(value: str, rng: random.Random) -> list[str]:
    """``value`` as a provider echoing it might write it."""
    data = value.encode()
    pct = urllib.parse.quote(value, safe="")
    some = "".join(c if rng.random() < 0.5 else urllib.parse.quote(c, safe="") for c in value)
    forms = [
        value, value.upper(), value.lower(), value.swapcase(),
        "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in value),
        pct, pct.lower(), some, urllib.parse.quote_plus(value),
        "".join(f"%{b:02x}" for b in data),
        "".join(f"\\u{ord(c):04x}" for c in value),
        value.replace("/", "\\/"),
        html.escape(value), "".join(f"&#{ord(c)};" for c in value),
        "".join(f"&#x{ord(c):x};" for c in value),
        urllib.parse.quote(value.replace("/", "\\/"), safe=""),  # nested: JSON, then percent
        html.escape(urllib.parse.quote(value, safe="")),  # nested: percent, then HTML
    ]
    for pad in range(3):
        encoded = base64.b64encode(b"u" * pad + data)
        forms.append(encoded.decode())
        forms.append(base64.urlsafe_b64encode(b"u" * pad + data).decode().rstrip("="))
        forms.append("Basic " + base64.b64encode(b"client:" + data).decode())
    return forms


def _near(value: str) -> list[str]:
    """``value`` cut or altered by one character: clean or not, the two must agree."""
    return [value[:-1], value[1:], value[:3] + "x" + value[4:], value[:5] + "%" + value[5:]]


NOISE = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    st.text(max_size=20),
    st.sampled_from(['{"success":true,"messageId":1}', '"to":"995555123456"', "\\", "&", "%",
                     "&amp;", "%2F", "\\u0041", "K", "\u0130", "ß", "Σ"]),
)


@st.composite
def texts(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 2**32)))
    parts = draw(st.lists(NOISE, max_size=6))
    for _ in range(draw(st.integers(0, 2))):
        value = draw(st.sampled_from(CREDENTIALS))
        forms = _forms(value, rng) + _near(value)
        parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(forms)))
    return "".join(parts)


@given(text=texts())
@settings(max_examples=3_000)
def test_the_shortcut_never_calls_clean_what_the_full_scrub_changes(text: str) -> None:
    full = _scrub_full(text)
    if _clean(text):
        assert full == text
    assert scrub(text) == full


@given(text=texts(), tail=st.binary(max_size=8))
@settings(max_examples=2_000)
def test_bodies_are_scrubbed_as_by_the_full_scrub(text: str, tail: bytes) -> None:
    for body in (text.encode("utf-8", "surrogatepass"), text.encode("utf-8", "replace") + tail):
        assert scrub_bytes(body) == _scrub_bytes_full(body)


def test_every_form_is_seen_and_a_plain_reply_is_clean() -> None:
    rng = random.Random(22)
    for value in CREDENTIALS:
        # Credentials shorter than 8 characters are looked for only as they are.
        for form in _forms(value, rng) if len(value) >= 8 else [value]:
            text = f'{{"echo":"{form}"}}'
            assert not _clean(text), form
            assert scrub(text) != text, form
    reply = '{"success":true,"messages":[' + ",".join(
        f'{{"messageId":{i},"to":"99555512{i:04d}","success":true}}' for i in range(1000)
    ) + "]}"
    assert _clean(reply)
    assert scrub_bytes(reply.encode()) is not None and _secrets._needles is not None
