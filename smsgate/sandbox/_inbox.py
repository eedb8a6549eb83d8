"""The inbox: the newest messages, refusals and faults, as JSON rows and as a page.

The page is rendered once by the server (so it works without JavaScript) and then kept fresh
by a small inline script that fetches ``/_sandbox/inbox`` every 2 s with the same filter and
rebuilds the table with ``textContent`` only. Every value on the page comes from requests
(numbers, texts, senders, references), so the server escapes each one, the script never builds
HTML from data, and a per-response nonce in the Content-Security-Policy keeps any injected
script from running even if an escape were missed.
"""

from __future__ import annotations

import datetime as dt
import heapq
import html
import json
import urllib.parse
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from ._providers import EMULATORS, UNITS
from ._state import UNDELIVERABLE_REASON, LedgerEntry, Refusal

if TYPE_CHECKING:
    from ._server import Sandbox

__all__ = ["MAX_ROWS", "STATUSES", "Filter", "inbox_json", "inbox_page", "money"]

#: The most rows the inbox shows (the newest first); the ledger JSON has them all.
MAX_ROWS: Final = 200
#: The longest text the inbox shows of one message (the ledger JSON has it whole).
_MAX_TEXT: Final = 300
#: The statuses a row can have, and the filter's choices.
STATUSES: Final = ("queued", "delivered", "failed", "refused", "fault")

#: What a fault that let the message through means for the row (the message is in the ledger).
_FAULT_NOTES: Final[Mapping[str, str]] = {
    "process_then_hang": "fault process_then_hang: sent, but the reply never came",
    "process_then_reset": "fault process_then_reset: sent, then the connection was reset",
    "temporary_delay": "fault temporary_delay: sent, but answered -100 Temporary delay",
    "latency": "fault latency: answered late",
}


class Filter:
    """The inbox's filter, read from a query string: provider, status and (part of a)
    number."""

    def __init__(self, query: Mapping[str, str]) -> None:
        provider = query.get("provider", "")
        status = query.get("status", "")
        self.provider = provider if provider in EMULATORS else ""
        self.status = status if status in STATUSES else ""
        self.number = query.get("number", "").strip()[:40]
        self._digits = "".join(c for c in self.number if c.isdigit())

    @classmethod
    def from_url(cls, url: str) -> Filter:
        return cls(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)))

    def matches(self, provider: str, status: str, recipient: str) -> bool:
        if self.provider and provider != self.provider:
            return False
        if self.status and status != self.status:
            return False
        if self.number:
            if self._digits:
                return self._digits in "".join(c for c in recipient if c.isdigit())
            return self.number.lower() in recipient.lower()
        return True

    def query(self) -> str:
        return urllib.parse.urlencode({k: v for k, v in (
            ("provider", self.provider), ("status", self.status), ("number", self.number))
            if v})


def money(provider: str, amount: Decimal) -> str:
    """``amount`` in the provider's unit: ``2 credits``, ``1 message``, ``EUR 0.06``."""
    unit = UNITS[provider]
    if unit in ("credits", "messages"):
        whole = amount == amount.to_integral_value()
        number = f"{int(amount)}" if whole else f"{amount.normalize()}"
        return f"{number} {unit[:-1] if amount == 1 else unit}"
    return f"{unit} {amount:.2f}"


def _stamp(created: float) -> str:
    """Local time with its offset from UTC: ``2026-05-01 14:03:07 UTC+04:00``."""
    when = dt.datetime.fromtimestamp(created).astimezone()
    offset = when.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{when:%Y-%m-%d %H:%M:%S} UTC{sign}{hours:02d}:{minutes:02d}"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def _entry_row(entry: LedgerEntry, status: str) -> dict[str, Any]:
    reasons = []
    if entry.fault is not None:
        reasons.append(_FAULT_NOTES.get(entry.fault, f"fault {entry.fault}"))
    if status == "failed":
        reasons.append(UNDELIVERABLE_REASON)
    return {
        "time": _stamp(entry.created), "provider": entry.provider,
        "recipient": entry.recipient, "sender": entry.sender or "",
        "text": _short(entry.text), "segments": f"{entry.segments} ({entry.encoding})",
        "cost": money(entry.provider, entry.cost), "status": status,
        "reason": "; ".join(reasons), "message_id": entry.message_id, "greyed": False,
    }


def _refusal_row(refusal: Refusal) -> dict[str, Any]:
    return {
        "time": _stamp(refusal.created), "provider": refusal.provider,
        "recipient": refusal.recipient, "sender": refusal.sender or "",
        "text": _short(refusal.text), "segments": "", "cost": "", "status": refusal.kind,
        "reason": refusal.reason, "message_id": "", "greyed": True,
    }


def _rows(sandbox: Sandbox, wanted: Filter) -> tuple[list[dict[str, Any]], int]:
    """The newest :data:`MAX_ROWS` rows that match, and how many match in all."""
    delay = sandbox.state.delivery_delay

    def candidates() -> Iterator[tuple[float, int, LedgerEntry | Refusal, str]]:
        for index, entry in enumerate(sandbox.state.messages()):
            status = entry.status(delay).value
            if wanted.matches(entry.provider, status, entry.recipient):
                yield entry.created, index, entry, status
        for index, refusal in enumerate(sandbox.state.refusals()):
            if wanted.matches(refusal.provider, refusal.kind, refusal.recipient):
                yield refusal.created, index, refusal, refusal.kind

    matching = list(candidates())
    newest = heapq.nlargest(MAX_ROWS, matching, key=lambda item: (item[0], item[1]))
    rows = [_entry_row(item, status) if isinstance(item, LedgerEntry) else _refusal_row(item)
            for _, _, item, status in newest]
    return rows, len(matching)


def inbox_json(sandbox: Sandbox, wanted: Filter) -> dict[str, Any]:
    """What the page shows, for its polling script (and for anyone else)."""
    rows, matching = _rows(sandbox, wanted)
    refusals = sandbox.state.refusals()
    return {
        "rows": rows,
        "shown": len(rows),
        "matching": matching,
        "accepted": len(sandbox.state.messages()),
        "refused": sum(r.kind == "refused" for r in refusals),
        "faults": sum(r.kind == "fault" for r in refusals),
        "balances": {name: money(name, sandbox.state.balance(name)) for name in EMULATORS},
    }


_COLUMNS: Final = ("time", "provider", "recipient", "sender", "text", "segments", "cost",
                   "status", "reason", "message_id")
_HEADINGS: Final = ("time", "provider", "recipient", "sender", "text", "segments", "cost",
                    "status", "reason", "message id")


def _summary(data: Mapping[str, Any]) -> str:
    shown = (f"showing the newest {data['shown']} of {data['matching']} matching"
             if data["matching"] > data["shown"] else f"showing {data['shown']} matching")
    return (f"{data['accepted']} accepted · {data['refused']} refused · {data['faults']} "
            f"faulted · {shown}")


def _balances(data: Mapping[str, Any]) -> str:
    return " · ".join(f"{name}: {value}" for name, value in data["balances"].items())


def _row_html(row: Mapping[str, Any]) -> str:
    cells = []
    for column in _COLUMNS:
        value = html.escape(str(row[column]))
        if column == "status":
            value = f"<span class='st {value}'>{value}</span>"
        elif column == "message_id":
            value = f"<code>{value}</code>"
        cells.append(f"<td class={column}>{value}</td>")
    grey = " class=grey" if row["greyed"] else ""
    return f"<tr{grey}>{''.join(cells)}</tr>"


def _select(name: str, choices: tuple[str, ...], chosen: str, everything: str) -> str:
    options = [f"<option value=''>{everything}</option>"]
    for choice in choices:
        selected = " selected" if choice == chosen else ""
        value = html.escape(choice)
        options.append(f"<option value='{value}'{selected}>{value}</option>")
    return f"<select name={name}>{''.join(options)}</select>"


def inbox_page(sandbox: Sandbox, wanted: Filter, nonce: str) -> str:
    data = inbox_json(sandbox, wanted)
    rows = "".join(_row_html(row) for row in data["rows"])
    empty = f"<tr><td colspan={len(_COLUMNS)} class=empty>Nothing here yet.</td></tr>"
    head = "".join(f"<th>{h}</th>" for h in _HEADINGS)
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8>
<title>smsgate sandbox inbox</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d2330;background:#f7f8fa}}
h1{{font-size:1.3rem;margin:0 0 .3rem}} p{{color:#5b6475;margin:.2rem 0 .4rem}}
p.hint{{font-size:12px}} a{{color:#2f5fb3}}
form{{margin:0 0 .8rem;display:flex;gap:.6rem;align-items:center;flex-wrap:wrap}}
select,input{{font:inherit;padding:.2rem .4rem}}
table{{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 3px #0002}}
th,td{{padding:.4rem .5rem;border-bottom:1px solid #e6e8ee;text-align:left;vertical-align:top}}
th{{background:#eef0f5;font-weight:600;white-space:nowrap}}
td.text{{min-width:12rem;max-width:24rem;white-space:pre-wrap;overflow-wrap:anywhere}}
td.reason{{min-width:12rem;max-width:20rem;overflow-wrap:anywhere;color:#5b6475}}
td.time{{width:6.5rem;font-size:12px;color:#5b6475}}
td.recipient{{min-width:8.5rem;max-width:11rem;overflow-wrap:anywhere}}
td.provider,td.segments,td.cost,td.status{{white-space:nowrap}}
td.message_id{{max-width:8rem}} td.message_id code{{font-size:11px;overflow-wrap:anywhere}}
tr.grey td{{color:#8a93a6;background:#fafbfc}}
.st{{padding:.1rem .45rem;border-radius:.6rem;font-size:12px;color:#1d2330}}
.queued{{background:#fff4cc}} .delivered{{background:#d7f5dd}} .failed{{background:#fbd9d9}}
.refused{{background:#e3e5ea}} .fault{{background:#efe0f7}}
.empty{{text-align:center;color:#8a93a6;padding:2rem}}
</style></head><body>
<h1>smsgate sandbox inbox</h1>
<p>balances: <b id=balances>{html.escape(_balances(data))}</b></p>
<p class=hint>Numbers ending in 0000 are refused, numbers ending in 9999 fail delivery. Greyed
rows sent nothing. Everything as JSON: <a href="/_sandbox/messages">ledger</a>,
<a href="/_sandbox/refusals">refusals</a>, <a href="/_sandbox/balance">balances</a>.</p>
<form id=filter method=get action="/">
{_select("provider", tuple(EMULATORS), wanted.provider, "every provider")}
{_select("status", STATUSES, wanted.status, "every status")}
<input name=number placeholder="number contains…" value="{html.escape(wanted.number)}">
<noscript><button>filter</button></noscript>
<span id=info>{html.escape(_summary(data))} · updates every 2 s</span>
</form>
<table><thead><tr>{head}</tr></thead>
<tbody id=rows>{rows or empty}</tbody></table>
<script nonce="{nonce}">{_SCRIPT}</script>
</body></html>
"""


# Rebuilds the table from /_sandbox/inbox every 2 s. Data only ever reaches the page through
# textContent; class names only from the fixed list of statuses.
_SCRIPT: Final = """
(function () {
  var COLUMNS = @COLUMNS@, STATUSES = @STATUSES@;
  var form = document.getElementById("filter"), rows = document.getElementById("rows");
  var info = document.getElementById("info"), balances = document.getElementById("balances");
  function query() { return new URLSearchParams(new FormData(form)).toString(); }
  function summary(d) {
    var shown = d.matching > d.shown ? "showing the newest " + d.shown + " of " + d.matching +
      " matching" : "showing " + d.shown + " matching";
    return d.accepted + " accepted \\u00b7 " + d.refused + " refused \\u00b7 " + d.faults +
      " faulted \\u00b7 " + shown + " \\u00b7 updated " + new Date().toTimeString().slice(0, 8) +
      ", every 2 s";
  }
  function render(d) {
    var body = [];
    d.rows.forEach(function (row) {
      var tr = document.createElement("tr");
      if (row.greyed) { tr.className = "grey"; }
      COLUMNS.forEach(function (column) {
        var td = document.createElement("td");
        var text = String(row[column] == null ? "" : row[column]);
        td.className = column;
        if (column === "status") {
          var badge = document.createElement("span");
          badge.className = "st" + (STATUSES.indexOf(text) >= 0 ? " " + text : "");
          badge.textContent = text;
          td.appendChild(badge);
        } else if (column === "message_id") {
          var code = document.createElement("code");
          code.textContent = text;
          td.appendChild(code);
        } else {
          td.textContent = text;
        }
        tr.appendChild(td);
      });
      body.push(tr);
    });
    if (!body.length) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = COLUMNS.length; td.className = "empty"; td.textContent = "Nothing here yet.";
      tr.appendChild(td); body.push(tr);
    }
    rows.replaceChildren.apply(rows, body);
    info.textContent = summary(d);
    balances.textContent = Object.keys(d.balances).map(function (name) {
      return name + ": " + d.balances[name];
    }).join(" \\u00b7 ");
  }
  function poll() {
    if (document.hidden) { return; }
    fetch("/_sandbox/inbox?" + query(), {cache: "no-store"})
      .then(function (r) { return r.json(); }).then(render)
      .catch(function () { info.textContent = "the sandbox does not answer; retrying every 2 s"; });
  }
  function changed() { history.replaceState(null, "", "?" + query()); poll(); }
  var typing;
  form.addEventListener("change", changed);
  form.addEventListener("input", function () {
    clearTimeout(typing); typing = setTimeout(changed, 300);
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); changed(); });
  setInterval(poll, 2000);
})();
""".replace("@COLUMNS@", json.dumps(list(_COLUMNS))).replace("@STATUSES@",
                                                             json.dumps(list(STATUSES)))
