"""Canary secrets through the whole fault matrix: they must appear nowhere.

Credentials: no log line (root, smsgate and urllib3 at DEBUG), exception str/repr, formatted
traceback with chained causes, provider/gateway/config/result repr, or cattrs output.
Phone numbers and message text: no log line at INFO.
"""

from __future__ import annotations

import logging
import traceback

import cattrs
import pytest

import smsgate
from smsgate.sandbox import Sandbox
from smsgate.sandbox._providers import EMULATED
from smsgate.sandbox.reliability import run_matrix

#: A canary for every credential of every emulated provider (the registry's, from each
#: emulator's declaration), so a provider added later is searched for leaks too.
CANARIES = {
    name: {key: f"CANARY-{name.replace('.', '-')}-{key}-5b1f" for key in emulated.credentials}
    for name, emulated in EMULATED.items()
}
assert {"gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist"} <= set(CANARIES)
SECRETS = [value for creds in CANARIES.values() for value in creds.values()]


def everything_about(error: BaseException) -> list[str]:
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    seen, stack = set(), [error]
    while stack:  # every chained cause and context, even suppressed ones
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        texts += [str(item), repr(item)]
        stack += [e for e in (item.__cause__, item.__context__) if e is not None]
        stack += list(getattr(item, "errors", ()))
    return texts


@pytest.fixture
def debug_everywhere(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("smsgate", "urllib3", "urllib3.connectionpool", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_credentials_leak_nowhere_across_the_matrix(
    debug_everywhere: pytest.LogCaptureFixture,
) -> None:
    cells = run_matrix(credentials=CANARIES)
    assert all(c.passed for c in cells)
    texts: list[str] = [debug_everywhere.text]
    for cell in cells:
        if cell.error is not None:
            texts += everything_about(cell.error)
        if cell.result is not None:
            texts += [repr(cell.result), repr(cattrs.unstructure(cell.result)),
                      repr(cell.result.raw)]
        texts.append(repr(cell))
    with Sandbox(credentials=CANARIES) as sandbox:
        providers = [sandbox.provider(name, sender="Leak") for name in CANARIES]
        gateway = smsgate.Gateway(providers)
        texts += [repr(p) for p in providers] + [repr(gateway), repr(vars(providers[0]))]
        texts.append(repr(cattrs.unstructure(providers[0])))
        configured = smsgate.from_config({"providers": {
            name.replace(".", "_"): {"provider": name, **creds}
            for name, creds in CANARIES.items()}})
        texts.append(repr(configured))
    # The canaries really were used: the matrix ran with them and they went on the wire.
    assert "***" in debug_everywhere.text
    leaks = [(secret, text[:200]) for text in texts for secret in SECRETS if secret in text]
    assert not leaks, leaks[:5]


def test_numbers_and_text_stay_out_of_info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    number, text = "+995555987654", "CANARY-TEXT-secret-appointment-details"
    with Sandbox() as sandbox:
        gosms = sandbox.provider("gosms.ge", sender="Leak")
        office = sandbox.provider("smsoffice.ge", sender="Leak")
        sandbox.fault("gosms.ge", "error", status=503)
        gateway = smsgate.Gateway([gosms, office])
        gateway.send([number, "+995555987655"], text)
        sandbox.fault("smsoffice.ge", "process_then_reset", times=1)
        with pytest.raises(smsgate.SmsGateError):
            gateway.send(number, text)
        smsgate.send_many(gateway, [smsgate.Message(number, text)] * 3)
    assert caplog.records, "INFO logging produced nothing: the check would be vacuous"
    assert text not in caplog.text
    assert number not in caplog.text and number[1:] not in caplog.text
