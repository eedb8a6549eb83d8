"""An exception that is not smsgate's, raised while an exchange is in flight, over real sockets.

The promise: it propagates as itself (a ``KeyboardInterrupt`` stays one, a signal handler's
exception reaches its ``except``), and no frame on its traceback, nor on any exception chained
to it during the exchange, holds a revealed credential.
"""

from __future__ import annotations

import signal
import traceback
from collections.abc import Iterator

import pytest

import smsgate

from .servers import hang, serve
from .test_transport_secrets import frame_leaks
from .transport_helpers import CANARIES, NAMES, build, sending

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")


class SoftTimeLimit(Exception):
    """What a task runner raises from its signal handler (Celery's SoftTimeLimitExceeded)."""


@pytest.fixture
def alarm() -> Iterator[list[type[BaseException]]]:
    """Raise the exception type put in the list from a SIGALRM handler 0.3 s from now."""
    kind: list[type[BaseException]] = []

    def handler(*_: object) -> None:
        raise kind[0]()

    previous = signal.signal(signal.SIGALRM, handler)
    yield kind
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", [SoftTimeLimit, KeyboardInterrupt, OverflowError])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("through_gateway", [False, True], ids=["adapter", "gateway"])
def test_a_foreign_exception_mid_exchange_leaves_no_key_in_any_frame(
    alarm: list[type[BaseException]], kind: type[BaseException], name: str,
    through_gateway: bool,
) -> None:
    alarm.append(kind)
    with serve(hang(3)) as (url, received):
        provider = build(name, url, (2.0, 2.0))
        call = sending(name, provider)
        if through_gateway:
            gateway = smsgate.Gateway([provider], retry=None)
            number = {"gosms.ro": "+40722123456", "smsgist": "+233245972246"}.get(
                name, "+995555123456")

            def call() -> object:
                return gateway.send(number, "Hello")

        signal.setitimer(signal.ITIMER_REAL, 0.3)
        try:
            call()
        except kind as exc:
            error: BaseException = exc
        else:
            pytest.fail("the exception did not propagate")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    assert received  # the request was in flight when the exception came
    assert type(error) is kind
    assert error.__traceback__ is not None
    error.__traceback__ = error.__traceback__.tb_next  # this test's own frame (it holds `received`)
    assert frame_leaks(error) == []
    rendered = "".join(
        traceback.TracebackException.from_exception(error, capture_locals=True).format()
    )
    assert not any(secret in rendered for secret in CANARIES)
