"""The inbox: refused and faulted requests, units, reasons, time zones, a 200-row window with a
filter, JSON polling instead of a full reload, and nothing from a request rendered as HTML."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import smsgate
from smsgate.sandbox import PORT_ORDER, Sandbox

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC[+-]\d{2}:\d{2}$")
INJECTIONS = {
    "to": '<img src=x onerror="alert(1)">',
    "text": "<script>alert('text')</script>",
    "from": '"><b id=injected>bold</b>',
}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=0.2) as running:
        yield running


def inbox(sandbox: Sandbox, **query: str) -> dict[str, Any]:
    reply = requests.get(f"{sandbox.url}/_sandbox/inbox", params=query, timeout=5)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json"
    data: dict[str, Any] = reply.json()
    return data


def provider(sandbox: Sandbox, name: str) -> Any:
    return sandbox.provider(name, sender="Demo", timeout=(1.0, 0.5))


def test_refused_requests_are_listed_greyed_with_the_providers_reason(sandbox: Sandbox) -> None:
    for name, blocked in [("gosms.ge", "+995555120000"), ("smsoffice.ge", "+995555120000"),
                          ("gosms.ro", "+40712340000")]:
        with pytest.raises(smsgate.RecipientRejected):
            provider(sandbox, name).send(blocked, f"refused by {name}")
    provider(sandbox, "smsgist").send("+233245970000", "refused by smsgist")
    rows = {row["provider"]: row for row in inbox(sandbox, status="refused")["rows"]}
    assert set(rows) == {"gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist"}
    assert all(row["greyed"] and row["cost"] == "" for row in rows.values())
    assert rows["gosms.ge"]["reason"] == "errorCode 105: Blacklisted"
    assert rows["smsoffice.ge"]["reason"] == "ErrorCode 75: All numbers are stoplisted"
    assert rows["gosms.ro"]["reason"].startswith("HTTP 400 PHONE_BLACKLISTED")
    assert rows["smsgist"]["reason"] == "not sent: Number is blocked"
    assert rows["gosms.ro"]["text"] == "refused by gosms.ro"
    assert sandbox.messages() == []  # refusals are not in the ledger
    assert len(sandbox.refusals()) == 4


def test_a_bulk_lists_each_refused_number(sandbox: Sandbox) -> None:
    result = provider(sandbox, "smsoffice.ge").send(
        ["+995555123456", "+995555120000"], "one of two")  # the reply is 0 for the good one
    assert result.ok
    data = inbox(sandbox)
    by_status = {row["status"]: row for row in data["rows"]}
    assert by_status["refused"]["recipient"] == "995555120000"
    assert "stop-listed" in by_status["refused"]["reason"]
    assert by_status["queued"]["recipient"] == "+995555123456"
    assert (data["accepted"], data["refused"], data["faults"]) == (1, 1, 0)


def test_faulted_requests_are_listed_with_the_fault(sandbox: Sandbox) -> None:
    sandbox.fault("gosms.ro", "error", status=502, times=1)
    with pytest.raises(smsgate.ProviderUnavailable):
        provider(sandbox, "gosms.ro").send("+40712345678", "hit by a fault")
    sandbox.fault("gosms.ge", "process_then_reset", times=1)
    with pytest.raises(smsgate.DeliveryUnknown):
        provider(sandbox, "gosms.ge").send("+995555123456", "sent, reply lost")
    sandbox.fault("smsgist", "hang_before_read", times=1, seconds=1.0)
    with pytest.raises(smsgate.DeliveryUnknown):
        provider(sandbox, "smsgist").send("+233245972246", "never read")
    rows = inbox(sandbox)["rows"]
    fault = next(row for row in rows if row["provider"] == "gosms.ro")
    assert fault["status"] == "fault" and fault["greyed"]
    assert fault["reason"] == "fault error: answered an HTML page with HTTP 502, nothing sent"
    assert fault["recipient"] == "40712345678" and fault["text"] == "hit by a fault"
    lost = next(row for row in rows if row["provider"] == "gosms.ge")
    assert lost["status"] in ("queued", "delivered")  # it is in the ledger: it was sent
    assert not lost["greyed"]
    assert "process_then_reset" in lost["reason"]
    unread = next(row for row in rows if row["provider"] == "smsgist")
    assert unread["status"] == "fault" and "not read" in unread["reason"]
    assert sandbox.messages("gosms.ge")[0].fault == "process_then_reset"


def test_units_failure_reason_and_time_zone(sandbox: Sandbox) -> None:
    untouched = inbox(sandbox)["balances"]
    assert list(untouched) == list(PORT_ORDER)  # every emulated provider, the registry's
    provider(sandbox, "gosms.ge").send("+995555129999", "x" * 200)  # 2 parts, fails delivery
    provider(sandbox, "smsoffice.ge").send("+995555123456", "one")
    provider(sandbox, "gosms.ro").send("+40712345678", "one")
    provider(sandbox, "smsgist").send(["+233245972246", "+233201234567"], "x" * 200)
    time.sleep(0.3)
    data = inbox(sandbox)
    costs = {(row["provider"], row["recipient"]): row["cost"] for row in data["rows"]}
    assert costs == {
        ("gosms.ge", "+995555129999"): "2 credits",
        ("smsoffice.ge", "+995555123456"): "1 message",
        ("gosms.ro", "+40712345678"): "EUR 0.03",
        ("smsgist", "+233245972246"): "GHS 0.06",
        ("smsgist", "+233201234567"): "GHS 0.06",
    }
    failed = next(row for row in data["rows"] if row["status"] == "failed")
    assert failed["recipient"] == "+995555129999"
    assert failed["reason"] == "not delivered: the sandbox fails numbers ending in 9999"
    assert all(row["reason"] == "" for row in data["rows"] if row["status"] == "delivered")
    assert all(STAMP.match(row["time"]) for row in data["rows"])
    # The four providers sent to are charged in their units; any other is untouched.
    assert data["balances"] == {**untouched,
                                "gosms.ge": "9998 credits", "smsoffice.ge": "9999 messages",
                                "gosms.ro": "EUR 9999.97", "smsgist": "GHS 9999.88"}
    page = requests.get(sandbox.url, timeout=5).text
    assert "2 credits" in page and "EUR 0.03" in page and "GHS 9999.88" in page
    assert "not delivered: the sandbox fails numbers ending in 9999" in page
    assert re.search(r"\d{2}:\d{2}:\d{2} UTC[+-]\d{2}:\d{2}", page)


def test_at_most_200_rows_newest_first_with_a_filter(sandbox: Sandbox) -> None:
    numbers = [f"+99555{i:07d}" for i in range(1, 451)]
    assert provider(sandbox, "gosms.ge").send(numbers, "many").ok
    provider(sandbox, "gosms.ro").send("+40712345678", "the newest")
    data = inbox(sandbox)
    assert (data["shown"], data["matching"], len(data["rows"])) == (200, 451, 200)
    assert data["rows"][0]["text"] == "the newest"
    page = requests.get(sandbox.url, timeout=5).text
    assert page.count("<tr") == 201  # the heading and 200 rows
    assert "showing the newest 200 of 451 matching" in page
    only = inbox(sandbox, provider="gosms.ro")
    assert [row["recipient"] for row in only["rows"]] == ["+40712345678"]
    by_number = inbox(sandbox, number="995 550 000 123")  # spaces and + do not matter
    assert [row["recipient"] for row in by_number["rows"]] == ["+995550000123"]
    assert inbox(sandbox, status="refused")["rows"] == []
    assert inbox(sandbox, status="queued", provider="gosms.ge")["matching"] == 450
    ignored = inbox(sandbox, provider="twilio", status="lost")  # unknown choices: no filter
    assert ignored["matching"] == 451
    filtered_page = requests.get(sandbox.url, params={"provider": "gosms.ro"}, timeout=5).text
    assert filtered_page.count("<tr") == 2
    assert "<option value='gosms.ro' selected>" in filtered_page


def test_polling_is_small_at_10000_messages(sandbox: Sandbox) -> None:
    sms = provider(sandbox, "gosms.ge")
    for prefix in ("50", "51", "52", "55", "57", "58", "59", "77", "91", "99"):
        numbers = [f"+9955{prefix}{i:06d}" for i in range(1, 1001)]
        assert sms.send(numbers, "bulk " * 20).ok
    assert len(sandbox.messages()) == 10_000
    page = requests.get(sandbox.url, timeout=5)
    poll = requests.get(f"{sandbox.url}/_sandbox/inbox", timeout=5)
    # Before issue 21 the page was ~2 MB and reloaded itself every 2 s.
    assert "http-equiv=refresh" not in page.text
    assert 'setInterval(poll, 2000)' in page.text and "/_sandbox/inbox?" in page.text
    assert len(page.content) < 150_000
    assert len(poll.content) < 120_000
    assert poll.json()["matching"] == 10_000 and poll.json()["shown"] == 200
    assert len(requests.get(f"{sandbox.url}/_sandbox/messages", timeout=5).content) > 1_000_000


def _inject(sandbox: Sandbox) -> None:
    """Refused requests whose number, text and sender are markup."""
    key = sandbox.credentials("gosms.ge")["api_key"]
    reply = requests.post(sandbox.base_url("gosms.ge") + "/sendsms", timeout=5,
                          json={"api_key": key, **INJECTIONS})
    assert reply.json()["errorCode"] == 105  # refused: not a number
    office = sandbox.credentials("smsoffice.ge")["api_key"]
    reply = requests.post(sandbox.base_url("smsoffice.ge") + "/v2/send/", timeout=5, data={
        "key": office, "destination": "995555123456", "sender": "<i>x</i>",
        "content": "</td></tr></table><h1 id=injected>big</h1>"})
    assert reply.json()["ErrorCode"] == 150
    provider(sandbox, "gosms.ro").send("+40712345678", "<u id=injected>accepted</u> & more")


def test_nothing_from_a_request_becomes_markup(sandbox: Sandbox) -> None:
    _inject(sandbox)
    reply = requests.get(sandbox.url, params={"number": '"><script>alert(2)</script>'},
                         timeout=5)
    page = reply.text
    for raw in [*INJECTIONS.values(), "<i>x</i>", "<h1 id=injected>", "<u id=injected>",
                "<script>alert(2)"]:
        assert raw not in page, raw
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" not in page  # filtered out by number
    assert "&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page  # the filter, escaped
    everything = requests.get(sandbox.url, timeout=5).text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in everything
    assert "&lt;script&gt;alert(&#x27;text&#x27;)&lt;/script&gt;" in everything
    assert "&lt;u id=injected&gt;accepted&lt;/u&gt; &amp; more" in everything
    assert everything.count("<script") == 1
    # Defence in depth: only the page's own script (its nonce) may run.
    csp = reply.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce is not None and f'<script nonce="{nonce.group(1)}">' in page
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    # The script builds rows with textContent only.
    script = page.split("<script", 1)[1]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    # The JSON carries the raw values (it is JSON, not HTML).
    rows = inbox(sandbox)["rows"]
    assert INJECTIONS["to"] in [row["recipient"] for row in rows]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless chromium on this machine")
def test_the_polling_script_renders_text_not_markup(sandbox: Sandbox) -> None:
    """A real browser runs the page's script (and one poll) and the DOM holds text only."""
    assert CHROMIUM is not None
    _inject(sandbox)
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         "--dump-dom", sandbox.url + "/?status=refused"],
        capture_output=True, text=True, timeout=120, check=False)
    dom = done.stdout
    assert "</html>" in dom, done.stderr[-2000:]
    assert "id=\"injected\"" not in dom and "<img" not in dom and "<i>" not in dom
    assert "&lt;img src=x onerror=\"alert(1)\"&gt;" in dom
    assert 'class="grey"' in dom and "errorCode 105: Invalid phone number" in dom
    assert re.search(r"updated \d{1,2}:\d{2}:\d{2}.*, every 2 s", dom)  # the script polled
