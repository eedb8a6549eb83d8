"""``send_many``: many personalised messages, concurrently, one failure never stopping the rest."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import attrs

from ._protocol import SmsProvider
from ._secrets import get_logger
from ._unexpected import unexpected
from .errors import ConfigurationError, SmsGateError
from .models import Message, SendResult

__all__ = ["BulkReport", "send_many"]

Progress = Callable[[int, int], None]

_log = get_logger("smsgate.bulk")


@attrs.frozen
class BulkReport:
    """The outcome of :func:`send_many`, in input order.

    Attributes:
        results: for each message, its :class:`SendResult` or the error it raised. An
            exception that is not an smsgate error (a bug in a custom provider, say) is
            recorded as a :class:`~smsgate.ProviderError` with ``may_have_sent=True`` whose
            ``__cause__`` is the original exception: the report is never lost to it.
    """

    results: tuple[SendResult | SmsGateError, ...]

    @property
    def sent(self) -> int:
        """Messages the provider accepted for every recipient."""
        return sum(isinstance(r, SendResult) and r.ok for r in self.results)

    @property
    def failed(self) -> int:
        """Messages that raised or were refused for some recipient."""
        return len(self.results) - self.sent

    @property
    def errors(self) -> list[tuple[int, SmsGateError]]:
        """``(index, error)`` for every message that raised."""
        return [(i, r) for i, r in enumerate(self.results) if isinstance(r, SmsGateError)]


def _text_progress(done: int, total: int) -> None:
    """A bar redrawn in place on a terminal; one line per tenth elsewhere (logs, CI)."""
    width = 30
    filled = width * done // total if total else width
    bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
    if sys.stderr.isatty():
        sys.stderr.write("\r" + bar + ("\n" if done == total else ""))
    elif done == total or (done * 10 // total) != ((done - 1) * 10 // total):
        sys.stderr.write(bar + "\n")
    sys.stderr.flush()


def check_bulk_settings(concurrency: object, keep_raw: object) -> None:
    """Refuse a ``send_many`` setting (sync or async) before any message is read."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError("concurrency must be a whole number >= 1")
    if not isinstance(keep_raw, bool):
        raise ConfigurationError("keep_raw must be True or False")


def read_batch(messages: Iterable[Message]) -> list[Message]:
    """The batch of a ``send_many`` (sync or async) as a list, every item a Message."""
    batch = list(messages)
    for message in batch:
        if not isinstance(message, Message):
            raise ConfigurationError(f"send_many takes smsgate.Message values, not {message!r}")
    return batch


def send_many(
    provider: SmsProvider,
    messages: Iterable[Message],
    *,
    concurrency: int = 8,
    progress: bool | Progress = False,
    keep_raw: bool = True,
) -> BulkReport:
    """Send each :class:`~smsgate.Message` through ``provider``, ``concurrency`` at a time.

    Args:
        provider: any provider or :class:`~smsgate.Gateway` (they are thread-safe).
        messages: the messages; each may carry its own send options.
        concurrency: sends in flight at once.
        progress: ``True`` draws a bar on stderr; a callable receives ``(done, total)``.
        keep_raw: ``False`` drops each result's ``raw`` (the provider's parsed reply) as soon
            as the send returns, so that a large batch does not keep every reply in memory;
            every other field of the results stays.

    Returns:
        A :class:`BulkReport` with one result or error per message, in input order. Every
        exception a send raises is recorded for its message, never raised: raising would
        discard the results of the messages already accepted, and a caller who then sent the
        batch again would send them twice. One that is not an smsgate error (a bug) becomes a
        ``ProviderError`` saying it may have been sent, with the original as ``__cause__``.
        A ``progress`` callable that raises is logged and not called again.

    How the sends run. With the ``aio`` extra installed and more than one send in flight
    (``concurrency`` and the batch both above 1), a :class:`~smsgate.Gateway` or an
    HTTP provider whose providers all use smsgate's own transport (no ``session=`` or
    ``transport=``, no custom ``send``; a gateway with its default ``sleep``) is sent on
    smsgate's private event loop (a daemon thread, started on first use; its connections
    stay open for the next batch, as a provider's session keeps its own): the same send plans
    (the gateway's breakers, claims and limiter are the same objects), driven by
    :func:`smsgate.aio.send_many` over smsgate's own HTTP/1.1 connections, at a fraction
    of the CPU a thread per send costs. Anything else runs on ``concurrency`` threads.
    Either way ``concurrency`` workers each take the next message as soon as their last
    send returns, so no more than ``concurrency`` sends are pending at any time, however
    long the batch; the report, the errors and their ``may_have_sent`` are the same.

    ``progress`` is called from the thread the sends run on (a worker thread, or the
    event loop's thread), one call at a time, after each message. Interrupting the caller
    (Ctrl-C) on the event-loop path cancels the sends in flight, which settle their claims
    as a cancelled async send does, and raises ``KeyboardInterrupt``.
    """
    check_bulk_settings(concurrency, keep_raw)
    batch = read_batch(messages)
    report: Progress | None = _text_progress if progress is True else (progress or None)
    if min(concurrency, len(batch)) > 1:
        # Sends one at a time gain nothing from a loop: they stay on the provider's own
        # (warm) connection, on one thread.
        from .aio._sync_bulk import loop_sender, send_on_private_loop

        how = loop_sender(provider)
        if how is not None:
            return send_on_private_loop(how, batch, concurrency, report, keep_raw)
    results: list[SendResult | SmsGateError | None] = [None] * len(batch)
    done = 0
    lock = threading.Lock()

    def one(index: int) -> None:
        nonlocal done, report
        message = batch[index]
        try:
            outcome: SendResult | SmsGateError = provider.send(
                message.to, message.text, **message.options
            )
        except SmsGateError as error:
            outcome = error
        except (KeyboardInterrupt, SystemExit):
            raise  # the caller's own interrupt: it stops the batch, as it should
        except BaseException as error:
            # A bug, or a BaseException that is not the caller's interrupt (an
            # asyncio.CancelledError from a provider bridging to async code, a library's
            # timeout): it must not cost the report of the other messages, which the pool
            # goes on sending.
            outcome = unexpected(getattr(provider, "name", "?"), error, may_have_sent=True)
        returned: object = outcome  # as returned, not as annotated
        if not isinstance(returned, (SendResult, SmsGateError)):  # a custom provider's bug
            outcome = unexpected(getattr(provider, "name", "?"), TypeError(
                f"send returned {type(returned).__name__}, not a SendResult"), may_have_sent=True)
        if not keep_raw and isinstance(outcome, SendResult) and outcome.raw is not None:
            outcome = attrs.evolve(outcome, raw=None)
        results[index] = outcome
        with lock:
            done += 1
            if report is not None:
                try:
                    report(done, len(batch))
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException:
                    _log.warning("send_many: the progress callback raised; not calling it again",
                                 exc_info=True)
                    report = None

    # Each worker takes the next index until none is left: a bounded number of threads and
    # no future or queued task per message (a batch of a million costs what eight cost).
    indexes = iter(range(len(batch)))
    take = threading.Lock()

    def work() -> None:
        while True:
            with take:
                index = next(indexes, None)
            if index is None:
                return
            one(index)

    workers = min(concurrency, len(batch))
    with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="smsgate") as pool:
        for future in [pool.submit(work) for _ in range(workers)]:
            future.result()
    return BulkReport(results=tuple(r for r in results if r is not None))
