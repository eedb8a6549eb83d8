"""Delivery callbacks from the sandbox, in each provider's own webhook format and signature.

The dispatcher knows no provider: each emulator declares how its callbacks look
(:attr:`~._emulator.EmulatedProvider.callback`), and the dispatcher sends them when due.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Mapping

import requests

from .._secrets import get_logger
from ._emulator import CallbackBuilder
from ._state import LedgerEntry

__all__ = ["Dispatcher"]

_log = get_logger("smsgate.sandbox")


class Dispatcher:
    """Sends one callback per ledger entry once its delivery delay has passed."""

    def __init__(self, urls: Mapping[str, str], builders: Mapping[str, CallbackBuilder | None],
                 secret: str | None, delay: float, stopping: threading.Event) -> None:
        self._urls = dict(urls)
        self._builders = {name: b for name, b in builders.items() if b is not None}
        self._secret = secret
        self._delay = delay
        self._stopping = stopping
        self._queue: list[tuple[float, int, LedgerEntry]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._session = requests.Session()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="smsgate-sandbox-callbacks",
                                        daemon=True)
        self._thread.start()

    def schedule(self, entries: list[LedgerEntry]) -> None:
        with self._wake:
            for entry in entries:
                if entry.provider in self._urls and entry.provider in self._builders:
                    due = entry.goes_out + self._delay
                    heapq.heappush(self._queue, (due, next(self._order), entry))
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._wake.notify()
        self._thread.join(timeout=5)
        self._session.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._wake:
                if not self._queue:
                    self._wake.wait(0.2)
                    continue
                due = self._queue[0][0]
                if due > time.time():
                    self._wake.wait(min(0.2, due - time.time()))
                    continue
                _, _, entry = heapq.heappop(self._queue)
            self._deliver(entry)

    def _deliver(self, entry: LedgerEntry) -> None:
        build = self._builders[entry.provider]
        call = build(entry, self._urls[entry.provider], self._secret,
                     entry.goes_out + self._delay)
        if call is None:  # the provider sends no callback for this message
            return
        try:
            self._session.request(call.method, call.url, data=call.body or None,
                                  headers=dict(call.headers), timeout=5)
            self.sent += 1
        except requests.RequestException as exc:
            _log.debug("sandbox callback to %s failed: %s", entry.provider, type(exc).__name__)
