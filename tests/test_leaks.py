"""A canary credential must appear in no log line, repr, str or traceback."""

from __future__ import annotations

import logging
import pickle
import traceback

import cattrs
import pytest

import smsgate
from smsgate._secrets import Secret

from .conftest import CANARY, ToyProvider
from .servers import closed_port, hang, reset, respond, serve


def _everything_about(error: BaseException) -> str:
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    seen = error.__cause__ or error.__context__
    while seen is not None:  # chained causes, even suppressed ones
        parts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # root
    for name in ("urllib3", "urllib3.connectionpool", "smsgate", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_canary_never_leaks_from_failures(debug_logs: pytest.LogCaptureFixture) -> None:
    outputs: list[str] = []
    scenarios = [
        (respond(401, b'{"error": 1, "message": "bad key"}'), (2.0, 2.0)),
        (respond(500, b"<html>oops</html>", "text/html"), (2.0, 2.0)),
        (respond(200, b"not json"), (2.0, 2.0)),
        (hang(2), (2.0, 0.2)),
        (reset, (2.0, 2.0)),
    ]
    for handler, timeout in scenarios:
        with serve(handler) as (url, received):
            toy = ToyProvider(CANARY, sender="Shop", base_url=url, timeout=timeout)
            calls = (
                lambda p=toy: p.send("+995555123456", "hi"),
                lambda p=toy: p.balance(),
                lambda p=toy: p.status("42"),
            )
            for call in calls:
                with pytest.raises(smsgate.SmsGateError) as info:
                    call()
                outputs.append(_everything_about(info.value))
        # the key did travel on the wire, in the query string: the test is not vacuous
        assert any(CANARY.encode() in r for r in received)
    refused = ToyProvider(CANARY, sender="Shop", base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(smsgate.ConnectError) as info:
        refused.balance()
    outputs.append(_everything_about(info.value))

    outputs.append(debug_logs.text)
    outputs += [repr(toy), str(toy), repr(refused)]
    joined = "\n".join(outputs)
    assert "GET /balance" in debug_logs.text or "/balance" in debug_logs.text
    assert CANARY not in joined
    assert "***" in debug_logs.text  # urllib3's request line was scrubbed, not dropped


def test_secret_type_is_redacted_everywhere() -> None:
    secret = Secret(CANARY)
    assert CANARY not in repr(secret)
    assert CANARY not in str(secret)
    assert CANARY not in f"{secret}"
    assert CANARY not in repr(cattrs.unstructure(secret))
    assert CANARY not in repr(cattrs.Converter().unstructure({"key": secret}))
    assert secret.reveal() == CANARY
    assert pickle.loads(pickle.dumps(secret)) == secret


def test_provider_repr_and_vars_repr_hide_the_key() -> None:
    toy = ToyProvider(CANARY, sender="Shop")
    assert CANARY not in repr(toy)
    assert CANARY not in repr(vars(toy))


def test_config_error_does_not_echo_bad_credentials() -> None:
    with pytest.raises(smsgate.ConfigurationError) as info:
        ToyProvider(CANARY, sender="Shop", base_url="ftp://nowhere")
    assert CANARY not in _everything_about(info.value)


def test_log_records_with_args_are_scrubbed(debug_logs: pytest.LogCaptureFixture) -> None:
    Secret(CANARY)
    logging.getLogger("urllib3.connectionpool").debug("GET /x?key=%s HTTP/1.1", CANARY)
    logging.getLogger("smsgate").warning("key %s", CANARY)
    assert CANARY not in debug_logs.text
    assert debug_logs.text.count("***") >= 2
