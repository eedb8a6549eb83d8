"""The sandbox, the demo and the fault matrix take their providers from the registry's lines
and the declarations they name: a line added or removed changes every list at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from smsgate import registry
from smsgate.sandbox import DEFAULT_CREDENTIALS, PORT_ORDER, UNITS
from smsgate.sandbox._providers import EMULATED
from smsgate.sandbox._server import CALLBACK_PROVIDERS

#: A made-up emulated provider: a module of its own ending with its declaration.
ECHO_EMULATOR = '''
import json, time
from decimal import Decimal
from smsgate.sandbox._emulator import CallbackRequest, EmulatedProvider, Reply, SendAttempt
from smsgate.sandbox._state import LedgerEntry

def handle(state, request, creds):
    if request.headers.get("X-Key") != creds["key"]:
        return Reply(401, b'{"error": "key"}', {"Content-Type": "application/json"})
    data = request.json() or {}
    if not state.charge("echo.test", Decimal(1)):
        return Reply(402, b'{"error": "funds"}', {"Content-Type": "application/json"})
    state.record([LedgerEntry("echo.test", "e-1", data["to"], data["text"], None, 1,
                              "GSM-7", Decimal(1), time.time())])
    return Reply(200, json.dumps({"id": "e-1"}).encode(), {"Content-Type": "application/json"})

def describe(request):
    data = request.json() or {}
    return SendAttempt([str(data.get("to", ""))], str(data.get("text", "")), None)

def callback(entry, url, secret, when):
    return CallbackRequest("POST", url, json.dumps({"id": entry.message_id}).encode())

EMULATOR = EmulatedProvider(name="echo.test", handle=handle, describe=describe,
                            path_prefix="/echo", unit="echoes", credentials={"key": "echo-k"},
                            number="+15005550006", callback=callback)
'''


def _run(code: str, tmp_path: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_every_sandbox_list_is_the_registrys() -> None:
    emulated = [name for name, line in registry._BUILTIN.items() if line.emulator]
    assert list(EMULATED) == emulated == list(PORT_ORDER)
    assert set(UNITS) == set(DEFAULT_CREDENTIALS) == set(emulated)
    assert {n for n in emulated if EMULATED[n].callback is not None} == CALLBACK_PROVIDERS
    for name in emulated:  # the adapter's URL declaration carries what its emulator checks
        cls = registry.provider_class(name)
        assert set(EMULATED[name].credentials) <= set(cls.url_credentials.values()), name


def test_a_registry_line_added_or_removed_reaches_the_sandbox_and_the_matrix(
    tmp_path: Path,
) -> None:
    (tmp_path / "echo_emulator.py").write_text(ECHO_EMULATOR, encoding="utf-8")
    seen = _run('''
        import json
        import requests
        from smsgate import registry
        del registry._BUILTIN["gosms.ro"]
        registry._BUILTIN["echo.test"] = registry._Builtin(".testing:MemoryProvider",
                                                           "echo_emulator:EMULATOR")
        from smsgate.sandbox import PORT_ORDER, UNITS, DEFAULT_CREDENTIALS, Sandbox
        from smsgate.sandbox._server import CALLBACK_PROVIDERS
        from smsgate.sandbox.reliability import ADAPTERS
        from smsgate import ConfigurationError
        with Sandbox() as box:
            base = box.base_url("echo.test")
            wrong = requests.post(base + "/send", json={"to": "+15005550006", "text": "hi"},
                                  headers={"X-Key": "nope"}, timeout=5).status_code
            right = requests.post(base + "/send", json={"to": "+15005550006", "text": "hi"},
                                  headers={"X-Key": "echo-k"}, timeout=5).json()
            ledger = [(e.provider, e.text) for e in box.messages()]
            balances = box._balances_json()["echo.test"]["unit"]
            try:
                box.base_url("gosms.ro")
                gone = False
            except ConfigurationError:
                gone = True
        try:
            Sandbox(callbacks={"gosms.ge": "http://127.0.0.1:9/"})
            polled_refused = False
        except ConfigurationError:
            polled_refused = True
        Sandbox(callbacks={"echo.test": "http://127.0.0.1:9/"})
        print(json.dumps({
            "order": list(PORT_ORDER), "unit": UNITS["echo.test"],
            "credentials": DEFAULT_CREDENTIALS["echo.test"],
            "callbacks": sorted(CALLBACK_PROVIDERS), "matrix": sorted(ADAPTERS),
            "base": base.endswith("/echo"), "wrong": wrong, "right": right, "ledger": ledger,
            "balance_unit": balances, "gone": gone, "polled_refused": polled_refused,
        }))
    ''', tmp_path)
    # The lists with gosms.ro's line gone and echo.test's added, from this process's registry
    # (so a built-in provider added later is expected in them too).
    kept = [name for name in EMULATED if name != "gosms.ro"]
    assert kept[:3] == ["gosms.ge", "smsoffice.ge", "smsgist"]
    assert seen == {
        "order": [*kept, "echo.test"],
        "unit": "echoes", "credentials": {"key": "echo-k"},
        "callbacks": sorted({*CALLBACK_PROVIDERS, "echo.test"} - {"gosms.ro"}),
        "matrix": sorted([*kept, "echo.test"]),
        "base": True, "wrong": 401, "right": {"id": "e-1"},
        "ledger": [["echo.test", "hi"]], "balance_unit": "echoes", "gone": True,
        "polled_refused": True,
    }


def test_the_demo_walks_the_registrys_providers(tmp_path: Path) -> None:
    seen = _run('''
        import json
        from click.testing import CliRunner
        from smsgate import registry
        del registry._BUILTIN["smsoffice.ge"]
        from smsgate._cli import cli
        result = CliRunner().invoke(cli, ["demo"])
        help_text = CliRunner().invoke(cli, ["sandbox", "--help"]).output
        print(json.dumps({"code": result.exit_code, "out": result.output,
                          "help": " ".join(help_text.split())}))
    ''', tmp_path)
    assert seen["code"] == 0, seen["out"]
    out = str(seen["out"])
    kept = [name for name in EMULATED if name != "smsoffice.ge"]
    assert {"gosms.ge", "gosms.ro", "smsgist"} <= set(kept)
    assert f"{len(kept)} providers" in out and "smsoffice.ge" not in out
    assert "FAILED" not in out
    for name in kept:
        assert name in out
    # The --port help lists the ports from the registry too: smsgist moves up one.
    help_text = str(seen["help"])
    assert "P+3 smsgist" in help_text and "smsoffice.ge" not in help_text
    for port, name in enumerate(kept, start=1):
        assert f"P+{port} {name}" in help_text



def test_every_provider_that_calls_back_has_a_webhook_parser() -> None:
    """A callback the sandbox sends can be read by smsgate.webhooks.parse, for every
    emulated provider that declares one."""
    from smsgate import webhooks

    assert CALLBACK_PROVIDERS
    assert set(CALLBACK_PROVIDERS) <= set(webhooks.PROVIDERS)
