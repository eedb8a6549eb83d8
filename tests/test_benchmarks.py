"""The benchmark's baseline makes the same HTTP request as smsgate, and its fake provider
answers what the adapters accept and stops by itself (issue 22: honest benchmarks)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
import responses

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load("run")
fake = _load("fake_provider")
URL = "http://fake.invalid"


def _answer(request: Any) -> tuple[int, dict[str, str], bytes]:
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    status, payload = fake.reply_for(urllib.parse.urlsplit(request.url).path, body)
    return status, {"Content-Type": "application/json"}, payload


def _body(call: Any) -> dict[str, Any]:
    body = call.request.body
    if isinstance(body, bytes):
        body = body.decode()
    if call.request.headers.get("Content-Type", "").startswith("application/json"):
        return json.loads(body)  # type: ignore[no-any-return]
    return dict(urllib.parse.parse_qsl(body))


@pytest.mark.parametrize(
    ("name", "count"),
    [("gosms.ge", 1), ("gosms.ge", 3), ("smsoffice.ge", 1), ("smsoffice.ge", 3),
     ("gosms.ro", 1), ("smsgist", 1), ("smsgist", 3)],  # GoSMS.ro: one number a request
)
def test_raw_baseline_sends_what_smsgate_sends(name: str, count: int) -> None:
    numbers = run.NUMBERS[name](count)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, re.compile(re.escape(URL) + "/.*"), callback=_answer)
        provider = run.provider_for(name, URL)
        assert provider.send(numbers if count > 1 else numbers[0], run.TEXT).ok
        run.raw_send(name, URL, requests.Session(), numbers, run.TEXT)
        ours, theirs = mock.calls
    assert ours.request.url == theirs.request.url
    assert ours.request.method == theirs.request.method
    mine, raw = _body(ours), _body(theirs)
    for random_field in ("reference",):  # a new one on every send, on both sides
        assert (random_field in mine) == (random_field in raw)
        mine.pop(random_field, None)
        raw.pop(random_field, None)
    assert mine == raw
    for header in ("X-Authorization", "X-Client-Id", "Authorization"):
        assert ours.request.headers.get(header) == theirs.request.headers.get(header)


def test_fake_provider_answers_and_stops_when_its_stdin_closes() -> None:
    with run.FakeProvider() as server:
        reply = requests.post(server.url + "/sendbulk", json={"to": ["995555000001", "9"]},
                              timeout=10).json()
        assert [m["to"] for m in reply["messages"]] == ["995555000001", "9"]
        process = server.process
    assert process.returncode is not None  # __exit__ closed stdin and the child is gone


def test_fake_provider_stops_by_itself_if_its_parent_vanishes() -> None:
    child = subprocess.Popen([sys.executable, str(BENCH / "fake_provider.py")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().startswith("PORT ")
    assert child.stdin is not None
    child.stdin.close()  # what the parent's death does to the pipe
    assert child.wait(timeout=30) == 0
    child.stdout.close()
