"""Delivery callbacks from the sandbox, in each provider's own webhook format and signature."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Final

import requests

from .._secrets import get_logger
from ._state import LedgerEntry

__all__ = ["CALLBACK_PROVIDERS", "Dispatcher"]

_log = get_logger("smsgate.sandbox")

#: Providers that call back (GOSMS.GE is polled).
CALLBACK_PROVIDERS: Final = frozenset({"smsoffice.ge", "gosms.ro", "smsgist"})
_OFFICE_WORDS: Final = {"delivered": "Delivered", "failed": "Undelivered", "queued": "Pending"}


class Dispatcher:
    """Sends one callback per ledger entry once its delivery delay has passed."""

    def __init__(self, urls: Mapping[str, str], secret: str | None, delay: float,
                 stopping: threading.Event) -> None:
        self._urls = dict(urls)
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
                # SMSOffice.ge: "If you are willing to receive callbacks, this parameter
                # [reference] is required": no reference, no callback.
                if entry.provider == "smsoffice.ge" and entry.reference is None:
                    continue
                if entry.provider in self._urls:
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
        status = entry.final_status().value
        url = self._urls[entry.provider]
        stamp = time.gmtime(entry.goes_out + self._delay)
        try:
            if entry.provider == "smsoffice.ge":
                params = {
                    "reference": entry.reference or "",
                    "status": _OFFICE_WORDS[status],
                    "reason": "" if status == "delivered" else "Absent subscriber",
                    "destination": entry.recipient.lstrip("+"),
                    # yyyyMMddhhmmss in Georgian time (UTC+4), as smsgate.webhooks reads it.
                    "timestamp": time.strftime(
                        "%Y%m%d%H%M%S", time.gmtime(entry.goes_out + self._delay + 4 * 3600)),
                    "operator": "28202",
                }
                separator = "&" if urllib.parse.urlsplit(url).query else "?"
                self._session.get(url + separator + urllib.parse.urlencode(params), timeout=5)
            elif entry.provider == "gosms.ro":
                body = json.dumps({"id": entry.message_id, "status": status,
                                   "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", stamp),
                                   "network": "22601"}).encode()
                headers = {"Content-Type": "application/json"}
                if self._secret:
                    headers["X-Signature"] = _hex(self._secret, body)
                self._session.post(url, data=body, headers=headers, timeout=5)
            else:
                body = json.dumps({
                    "event": f"message.{status}", "message_id": entry.message_id,
                    "recipient_id": entry.recipient_id, "recipient": entry.recipient,
                    "status": status, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", stamp),
                    "metadata": {},
                }).encode()
                headers = {"Content-Type": "application/json"}
                if self._secret:
                    now = str(int(time.time()))
                    headers["X-SMSGist-Timestamp"] = now
                    headers["X-SMSGist-Signature"] = "sha256=" + _hex(
                        self._secret, now.encode() + b"." + body)
                self._session.post(url, data=body, headers=headers, timeout=5)
            self.sent += 1
        except requests.RequestException as exc:
            _log.debug("sandbox callback to %s failed: %s", entry.provider, type(exc).__name__)


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
