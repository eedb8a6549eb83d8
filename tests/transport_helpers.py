"""The four real adapters pointed at a local server, with canary credentials."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import smsgate
from smsgate import GoSmsGe, GoSmsRo, SmsGist, SmsOfficeGe

KEYS = {
    "gosms.ge": "CANARY-T-gosms-ge-4d1e",
    "smsoffice.ge": "CANARY-T-smsoffice-90ab",
    "gosms.ro": "CANARY-T-gosms-ro-17fe",
    "smsgist": "CANARY-T-gist-client-c0de",
    "smsgist-token": "CANARY-T-gist-token-beef",
}
CANARIES = tuple(KEYS.values())
NUMBERS = {
    "gosms.ge": "+995555123456",
    "smsoffice.ge": "+995555123456",
    "gosms.ro": "+40722123456",
    "smsgist": "+233245972246",
}
NAMES = tuple(NUMBERS)


def build(name: str, url: str, timeout: float | tuple[float, float] = (1.0, 1.0),
          **options: Any) -> smsgate.SmsProvider:
    """The adapter ``name`` against ``url``."""
    common: dict[str, Any] = {"sender": "Brand", "base_url": url, "timeout": timeout, **options}
    if name == "gosms.ge":
        return GoSmsGe(KEYS[name], **common)
    if name == "smsoffice.ge":
        return SmsOfficeGe(KEYS[name], **common)
    if name == "gosms.ro":
        return GoSmsRo(KEYS[name], **common)
    if "token_factory" not in common:
        common.setdefault("token", KEYS["smsgist-token"])
    return SmsGist(KEYS["smsgist"], **common)


def sending(name: str, provider: smsgate.SmsProvider) -> Callable[[], object]:
    """A call that sends one message through ``provider``."""
    return lambda: provider.send(NUMBERS[name], "Hello")


def caught(call: Callable[[], object]) -> BaseException:
    """The exception ``call`` raises (the traceback then starts at this frame)."""
    try:
        call()
    except BaseException as exc:  # the tests inspect whatever came out
        return exc
    raise AssertionError("no exception was raised")
